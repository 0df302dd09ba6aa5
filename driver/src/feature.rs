//! [`FeatureDriver`]: one input for one feature, from reading its rows to the last effect.
//!
//! The core decides; this module carries the decision out, following the driver contract of
//! [`ctrmgr_core::machine`]:
//!
//! 1. Take the feature's lock ([`crate::lock`]); a Start, Stop or Kill takes the stopping
//!    lock first and holds it for its whole run.
//! 2. Read CONFIG_DB and STATE_DB `FEATURE|<f>` together ([`read_feature`]): an unknown
//!    feature is an error naming it; a non-canonical record is logged as a warning.
//! 3. `step(record, config, input, now)`, and log the transition as one line with the fields
//!    `feature`, `from`, `to`, `input` and `reason`.
//! 4. Execute the effects in order:
//!    - `DockerStart` starts the container named after the feature and feeds
//!      `LocalUp(id)` with the id it answers (a second logged step);
//!    - `DockerStop`/`DockerKill` act on the target (a container that no longer exists is
//!      stopped already), without the feature lock: a container's own pre-stop
//!      (`container state <f> down` from its SIGTERM trap) takes that lock, and would
//!      otherwise block until the grace period ends and be SIGKILLed without recording its
//!      exit;
//!    - `AwaitExit` waits, bounded and without the feature lock, for the kube container to
//!      exit, then `docker stop`s it if it still runs — at once, without waiting, when the
//!      label removal of the same step had to be queued (kubelet is stopped then and will not
//!      stop it);
//!    - `LabelAdd`/`LabelRemove` go through [`LabelService`] as `<feature>_enabled=true`;
//!    - `Write` is one HSET; a guarded write that lost its compare-and-set re-reads and
//!      re-steps, at most [`CAS_RETRIES`] times, then fails with [`FeatureError::Contended`];
//!    - `SystemctlResetStartLimit` (`is-active`, then `reset-failed` only if active),
//!      `SystemctlResetFailed`, `SystemctlTryRestart` and `SystemctlStart` go through the
//!      systemd port (`reset-failed`, `try-restart`, `start`, each bounded) with the feature's
//!      unit, without the feature lock (the unit's scripts call `container`, which takes it);
//!    - `Answer` is returned to the caller in the [`Outcome`].
//!
//! A build without Kubernetes support ([`FeatureOptions::kube`] false) reads `set_owner=kube`
//! as `local`, with a warning, and skips label effects.
//!
//! Effects run in the order the core gives. A failed effect ends the run with an error: the
//! effects before it have happened, those after it have not. The core's order: a write of the
//! owner comes after the container effect it records (`docker stop`, then `owner none`; `docker
//! start`, then the LocalUp that records the id), so a failed docker call records nothing; a
//! write of the mode may come first (KUBE_PENDING | Start with owner kube first stops a local
//! container left running by name, then writes `kube_ready`, then adds the label — a label
//! change that fails is queued, never an error); the `start_requested_ts`
//! marker is written before the `reset-failed` and `start` it announces, and a Start clears it
//! before anything else.

use ctrmgr_core::codec;
use ctrmgr_core::machine::CAS_RETRIES;
use ctrmgr_core::ports::{Containers, LabelPatch, Labels, StateStore, Systemd};
use ctrmgr_core::{
    ContainerId, DecodedRecord, Effect, FeatureConfig, FeatureName, FeatureRecord, Input,
    KubeAnswer, Owner, Reason, State, Step, StopOptions, Timestamp, step_decoded,
};

use crate::lock::{FeatureLock, LockDir};
use crate::{Error, FeatureError, LabelService, Tunables, WallClock};

/// How the driver carries out effects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeatureOptions {
    /// Grace of `docker stop` and the bound of the wait for a kube container to exit, used
    /// where the core does not carry them in the input.
    pub stop: StopOptions,
    /// Whether this build has Kubernetes support. Without it, `set_owner=kube` is read as
    /// `local` (with a warning) and label effects are skipped.
    pub kube: bool,
    /// The length of a minute of `kube_failure_detection`, set into every configuration read
    /// ([`ctrmgr_core::FeatureConfig::minute_secs`]; tunable `failure_detection_minute_secs`).
    pub minute_secs: u32,
    /// Whether the kubeconfig exists. A label removal on a switch with neither a kubeconfig
    /// nor a master in CONFIG_DB (`KUBERNETES_MASTER|SERVER` `ip`) is skipped: such a node has
    /// no label, and queueing the removal would only stop kubelet (every Start and Stop with
    /// owner local removes the label: invariant 8).
    pub kubeconfig_present: bool,
    /// The wall clock of the timestamps written and of the deadlines judged
    /// ([`WallClock::system`]; tests step one).
    pub clock: WallClock,
}

impl FeatureOptions {
    /// The options the tunables give, for a build with or without Kubernetes support.
    pub fn from_tunables(t: &Tunables, kube: bool) -> Self {
        Self {
            stop: t.stop_options(),
            kube,
            minute_secs: u32::try_from(t.failure_detection_minute_secs).unwrap_or(u32::MAX),
            kubeconfig_present: t.kubeconfig.exists(),
            clock: WallClock::system(),
        }
    }
}

impl Default for FeatureOptions {
    fn default() -> Self {
        Self {
            stop: StopOptions::default(),
            kube: true,
            minute_secs: ctrmgr_core::MINUTE_SECS,
            kubeconfig_present: true,
            clock: WallClock::system(),
        }
    }
}

/// A feature that CONFIG_DB knows: its configuration, as this build reads it, and its record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFeature {
    /// CONFIG_DB `FEATURE|<f>` (`set_owner=kube` read as `local` in a build without
    /// Kubernetes support).
    pub config: FeatureConfig,
    /// STATE_DB `FEATURE|<f>`.
    pub record: FeatureRecord,
    /// The STATE_DB fields read past by the total decoding (already logged); the next write
    /// repairs them ([`ctrmgr_core::step_decoded`]).
    pub read_past: Vec<ctrmgr_core::DecodeWarning>,
}

impl KnownFeature {
    /// The state the record is in.
    pub fn state(&self) -> State {
        self.record.state()
    }
}

/// Reads a feature's configuration and record in one round trip. An unknown feature is
/// [`FeatureError::Unknown`]; a non-canonical record is logged as a warning naming the key;
/// without Kubernetes support (`kube` false) `set_owner=kube` is read as `local`, with a
/// warning.
pub async fn read_feature<S: StateStore>(
    store: &S,
    feature: &FeatureName,
    kube: bool,
) -> Result<KnownFeature, Error> {
    read_feature_with(store, feature, kube, false).await
}

/// [`read_feature`], and with `unconfigured_as_local` a name without a CONFIG_DB row is not an
/// error but a local feature with the default configuration, whose container is the one of
/// that name (upstream `container`'s behaviour for `lldp0`, `bgp1`, … on multi-ASIC
/// switches), logged at info level.
pub async fn read_feature_with<S: StateStore>(
    store: &S,
    feature: &FeatureName,
    kube: bool,
    unconfigured_as_local: bool,
) -> Result<KnownFeature, Error> {
    let key = codec::row_key(
        codec::FEATURE_TABLE,
        codec::DEFAULT_SEPARATOR,
        feature.as_str(),
    );
    let view = store
        .feature(feature)
        .await
        .map_err(|e| Error::port(format!("read feature {feature}"), e))?;
    let mut config = match view.config {
        Some(c) => c,
        None if unconfigured_as_local => {
            tracing::info!(%feature, "CONFIG_DB {key} has no row: acting on the local container named {feature}");
            FeatureConfig::default()
        }
        None => {
            return Err(Error::Feature(FeatureError::Unknown {
                feature: feature.to_string(),
                key,
            }));
        }
    };
    for w in &view.warnings {
        tracing::warn!(%feature, "STATE_DB {w}: the next write repairs it");
    }
    if let (_, Some(anomaly)) = view.record.classify() {
        tracing::warn!(%feature, key = %key, "STATE_DB {key}: {anomaly}");
    }
    if !kube && config.set_owner == Owner::Kube {
        tracing::warn!(
            %feature,
            "set_owner is kube but this build has no Kubernetes support: treated as local"
        );
        config.set_owner = Owner::Local;
    }
    Ok(KnownFeature {
        config,
        record: view.record,
        read_past: view.warnings,
    })
}

/// What one [`FeatureDriver::run`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The feature.
    pub feature: FeatureName,
    /// The record as read by the last attempt, before any effect.
    pub before: FeatureRecord,
    /// The state it was in.
    pub from: State,
    /// The state it is in now, as the core decided.
    pub to: State,
    /// Why: the row of DESIGN.md §4 that applied to the input.
    pub reason: Reason,
    /// The answer to a kube container (`KubeUp`), if any.
    pub answer: Option<KubeAnswer>,
    /// The id of the local container a `DockerStart` started, if any.
    pub started: Option<ContainerId>,
    /// Whether a label operation had to be queued in the pending list.
    pub labels_queued: bool,
    /// The record once the effects' writes were applied (what STATE_DB holds, unless
    /// another writer changed it since).
    pub record: FeatureRecord,
    /// How many times the rows were read and the input stepped (1 unless a compare-and-set
    /// was lost).
    pub attempts: u32,
}

/// What one execution of effects ended with.
enum Flow {
    /// Every effect was carried out.
    Done,
    /// A guarded write found `transition_mode` changed: read again and step again.
    CasLost,
}

/// What the effects of one attempt produced so far.
#[derive(Debug, Default)]
struct Progress {
    to: Option<State>,
    answer: Option<KubeAnswer>,
    started: Option<ContainerId>,
    labels_queued: bool,
    /// Fields read past that no write has repaired yet: the `LocalUp` a `DockerStart` feeds
    /// repairs them with its write (rel-1).
    read_past: Vec<ctrmgr_core::DecodeWarning>,
}

/// What [`FeatureDriver::execute`] carries a step's effects out with: the feature's lock,
/// name, configuration and record (updated by each write), the step's time, and what the
/// operation has done so far.
struct Exec<'a> {
    lock: &'a mut FeatureLock,
    feature: &'a FeatureName,
    config: &'a FeatureConfig,
    record: &'a mut FeatureRecord,
    now: Timestamp,
    progress: &'a mut Progress,
}

/// Runs inputs for features: reads, steps, executes, logs. Generic over the four ports; the
/// state store, the API server and systemd come inside the [`LabelService`] that carries out
/// label effects.
#[derive(Debug)]
pub struct FeatureDriver<S, C, L, D> {
    labels: LabelService<S, L, D>,
    containers: C,
    locks: LockDir,
    options: FeatureOptions,
    unconfigured_as_local: bool,
}

impl<S, C, L, D> FeatureDriver<S, C, L, D>
where
    S: StateStore,
    C: Containers,
    L: Labels,
    D: Systemd,
{
    /// A driver over the given ports, locking in `locks`.
    pub fn new(
        labels: LabelService<S, L, D>,
        containers: C,
        locks: LockDir,
        options: FeatureOptions,
    ) -> Self {
        Self {
            labels,
            containers,
            locks,
            options,
            unconfigured_as_local: false,
        }
    }

    /// Reads a name without a CONFIG_DB `FEATURE` row as a local feature acting on the
    /// container of that name (see [`read_feature_with`]), as `container` does.
    pub fn with_unconfigured_as_local(mut self) -> Self {
        self.unconfigured_as_local = true;
        self
    }

    /// The state store.
    pub fn store(&self) -> &S {
        self.labels.store()
    }

    /// The container engine.
    pub fn containers(&self) -> &C {
        &self.containers
    }

    /// The label service.
    pub fn label_service(&self) -> &LabelService<S, L, D> {
        &self.labels
    }

    /// The lock directory.
    pub fn locks(&self) -> &LockDir {
        &self.locks
    }

    /// The options.
    pub fn options(&self) -> &FeatureOptions {
        &self.options
    }

    /// Reads a feature (see [`read_feature`]).
    pub async fn read(&self, feature: &FeatureName) -> Result<KnownFeature, Error> {
        let mut known = read_feature_with(
            self.store(),
            feature,
            self.options.kube,
            self.unconfigured_as_local,
        )
        .await?;
        known.config.minute_secs = self.options.minute_secs;
        Ok(known)
    }

    /// Runs `input` for `feature` under its lock: read, step, execute the effects, re-read and
    /// re-step after a lost compare-and-set. For `KubeUp(id)`, a recorded kube owner other
    /// than `id` that no longer runs is first recorded down (`Down(old)`), as the core expects
    /// of its caller.
    pub async fn run(&self, feature: &FeatureName, input: Input) -> Result<Outcome, Error> {
        // A Stop or Kill runs `docker stop|kill` (and a kube Stop its bounded wait) without
        // the feature lock; it announces itself first with the stopping lock, so that
        // `container wait` can tell this stop from a crash, and so that no other Start, Stop
        // or Kill runs inside it: a Start that restarted the container while the feature lock
        // was free would be recorded and then overwritten by this Stop's final write. The
        // stopping lock is always taken before the feature lock, never while holding it.
        let stopping = if matches!(input, Input::Start | Input::Stop(_) | Input::Kill) {
            Some(self.locks.lock_stopping(feature).await?)
        } else {
            None
        };
        let mut lock = self.locks.lock(feature).await?;
        let result = self.run_locked(&mut lock, feature, input).await;
        drop(lock);
        drop(stopping);
        result
    }

    /// Records that container `id` of `feature` exited, as `container wait` does after
    /// `docker wait` returned: waits until no Start, Stop or Kill of the feature is under way
    /// (so that a stop by `container stop|kill` is told from a crash), then feeds `Down(id)`
    /// under the lock. Returns the outcome when `id` was the recorded owner, `None` when it was
    /// not (it was stopped or killed through `container`, or replaced): nothing changed then.
    pub async fn record_exit(
        &self,
        feature: &FeatureName,
        id: &ContainerId,
    ) -> Result<Option<Outcome>, Error> {
        self.locks.await_stopping(feature).await?;
        let mut lock = self.locks.lock(feature).await?;
        // The local container keeps its id across restarts: when the exit `docker wait` saw
        // was a `container stop|kill` followed by a `container start` (both done by the time
        // the stopping lock was free), the container runs again under the recorded id, and
        // recording it down would leave it running unrecorded (docs/decisions.md, crash-2).
        // Under the feature lock no Start can restart it between this check and the write.
        if self.containers.is_running(id).await.unwrap_or(false) {
            tracing::info!(%feature, container = %id, "the container runs again: its earlier exit is not recorded");
            return Ok(None);
        }
        let outcome = self
            .run_locked(&mut lock, feature, Input::Down(id.clone()))
            .await;
        drop(lock);
        let outcome = outcome?;
        Ok((outcome.before.docker_id.as_ref() == Some(id)).then_some(outcome))
    }

    async fn run_locked(
        &self,
        lock: &mut FeatureLock,
        feature: &FeatureName,
        input: Input,
    ) -> Result<Outcome, Error> {
        let mut attempts = 0u32;
        loop {
            attempts += 1;
            match self.attempt(lock, feature, &input, attempts).await? {
                Some(outcome) => return Ok(outcome),
                None => self.cas_lost(feature, attempts)?,
            }
        }
    }

    /// One read, step and execution of `input` (after recording a dead kube owner down, for
    /// a KubeUp); `None` when a compare-and-set write lost to another writer.
    async fn attempt(
        &self,
        lock: &mut FeatureLock,
        feature: &FeatureName,
        input: &Input,
        attempts: u32,
    ) -> Result<Option<Outcome>, Error> {
        let known = self.read(feature).await?;
        let config = known.config;
        let before = known.record;
        let mut record = before.clone();
        // Fields read past are rewritten by this attempt's first write (rel-1).
        let mut read_past = known.read_past;
        let now = self.options.clock.now();
        let mut progress = Progress::default();
        let dead = match input {
            Input::KubeUp(id) => self.dead_kube_owner(feature, &record, id).await?,
            _ => None,
        };
        let mut cx = Exec {
            lock,
            feature,
            config: &config,
            record: &mut record,
            now,
            progress: &mut progress,
        };
        if let Some(old) = dead {
            let down = step_decoded(
                &DecodedRecord {
                    record: cx.record.clone(),
                    warnings: std::mem::take(&mut read_past),
                },
                &config,
                Input::Down(old),
                now,
            );
            self.log_step(feature, cx.record, "Down", &down);
            if let Flow::CasLost = self.execute(&mut cx, down).await? {
                return Ok(None);
            }
        }
        let s = step_decoded(
            &DecodedRecord {
                record: cx.record.clone(),
                warnings: read_past.clone(),
            },
            &config,
            input.clone(),
            now,
        );
        if !s.effects.iter().any(|e| matches!(e, Effect::Write(_))) {
            cx.progress.read_past = read_past;
        }
        self.log_step(feature, cx.record, input.name(), &s);
        let from = before.state();
        let reason = s.reason;
        cx.progress.to = Some(s.next);
        if let Flow::CasLost = self.execute(&mut cx, s).await? {
            return Ok(None);
        }
        Ok(Some(Outcome {
            feature: feature.clone(),
            from,
            to: progress.to.unwrap_or(from),
            reason,
            answer: progress.answer,
            started: progress.started,
            labels_queued: progress.labels_queued,
            before,
            record,
            attempts,
        }))
    }

    /// After a lost compare-and-set: go round again, or give up after [`CAS_RETRIES`] retries.
    fn cas_lost(&self, feature: &FeatureName, attempts: u32) -> Result<(), Error> {
        if attempts > CAS_RETRIES {
            return Err(Error::Feature(FeatureError::Contended {
                feature: feature.to_string(),
                attempts,
            }));
        }
        tracing::info!(%feature, attempts, "transition_mode changed under this command: reading and deciding again");
        Ok(())
    }

    /// For `KubeUp(id)`: the recorded kube owner when it is another container that no longer
    /// runs.
    async fn dead_kube_owner(
        &self,
        feature: &FeatureName,
        record: &FeatureRecord,
        id: &ContainerId,
    ) -> Result<Option<ContainerId>, Error> {
        let Some(old) = record.docker_id.as_ref() else {
            return Ok(None);
        };
        if record.state() != State::KubeRunning || old == id {
            return Ok(None);
        }
        // A container asking from inside usually has no engine socket: when the old owner
        // cannot be inspected, it is taken as still running, and this container waits for its
        // exit to be recorded (its pre-stop's `state down`, or `container wait`).
        let running = match self.containers.is_running(old).await {
            Ok(running) => running,
            Err(e) => {
                tracing::info!(%feature, old = %old, error = %ctrmgr_core::retry::error_line(&e), "cannot check whether the recorded kube container still runs: taking it as running");
                true
            }
        };
        if running {
            Ok(None)
        } else {
            tracing::info!(%feature, old = %old, new = %id, "the recorded kube container no longer runs: recording it down first");
            Ok(Some(old.clone()))
        }
    }

    fn log_step(&self, feature: &FeatureName, record: &FeatureRecord, input: &str, s: &Step) {
        tracing::info!(
            feature = %feature,
            from = %record.state(),
            to = %s.next,
            input,
            reason = s.reason.text(),
            "transition"
        );
    }
}

/// The label port of a build without Kubernetes support: every call fails with
/// [`Error::NoKubeSupport`]. A [`FeatureDriver`] with [`FeatureOptions::kube`] false never
/// calls it.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKube;

impl Labels for NoKube {
    type Error = Error;

    async fn patch_labels(&self, _patch: &LabelPatch) -> Result<(), Error> {
        Err(Error::NoKubeSupport)
    }

    async fn labels(&self) -> Result<std::collections::BTreeMap<String, String>, Error> {
        Err(Error::NoKubeSupport)
    }
}

mod effects;
#[cfg(test)]
mod tests;
