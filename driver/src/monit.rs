//! kube-monit's loop (DESIGN.md §7): failure detection, the API server probe and kubelet
//! safety, driven by STATE_DB/CONFIG_DB changes and deadlines — never by a fixed poll.
//!
//! - **Failure detection.** For each feature whose failure detection is armed (`set_owner=kube`,
//!   `fallback_to_local=true`, `kube_failure_detection=N>0`) and that waits in KUBE_READY or
//!   KUBE_STOPPED, the deadline is `transition_mode_update_ts + N minutes` ([`deadline`]; the
//!   minute is [`MonitOptions::minute_secs`] long). The timestamp is STATE_DB's, so a restart
//!   of kube-monit does not restart the clock. When it passes, the feature's row is read again
//!   and, if still due, [`Input::FailureTimeout`] is fed to the [`FeatureDriver`] (the core
//!   answers: mode none and `systemctl restart`), with a warning naming the feature and how
//!   long kube did not run it.
//! - **Probe.** Every [`MonitOptions::probe_interval`], and at once when CONFIG_DB
//!   `KUBERNETES_MASTER|SERVER` changes, the API server is asked (`/readyz` through
//!   [`Master::probe`]); STATE_DB `connected` and `last_update_ts` are written only when
//!   `connected` changes. Without `ip`, or with `disable=true`, the switch is not connected.
//! - **Kubelet safety.** When STATE_DB says connected and the pending-label list is empty,
//!   kubelet must run: checked after every probe and whenever `connected` or the pending list
//!   changes; `systemctl start <kubelet>` when `systemctl is-active` says it does not. This
//!   closes the gap where a crash between a drain and its `systemctl start kubelet` left kubelet
//!   stopped.
//!
//! The loop sleeps until the earliest of: a change, the next probe, the earliest failure
//! deadline, shutdown.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ctrmgr_core::machine::next_deadline;
use ctrmgr_core::ports::{
    Change, Containers, Labels, StateStore, Subscription, Systemd, Watch, Watched,
};
use ctrmgr_core::{FeatureConfig, FeatureName, FeatureRecord, Input, Timestamp};
use tokio::time::Instant;

use crate::{Error, FeatureDriver, FeatureError, Master, Tunables};
use ctrmgr_core::retry::error_line;

/// Seconds before a failure fallback that failed (Redis or systemctl error) is tried again.
pub const FAILURE_RETRY_SECS: u64 = 10;

/// What kube-monit's loop needs besides its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonitOptions {
    /// Time between two probes ([`Tunables::probe_interval_secs`]).
    pub probe_interval: Duration,
    /// The length of one minute of `kube_failure_detection`
    /// ([`Tunables::failure_detection_minute_secs`]).
    pub minute_secs: u64,
    /// The kubelet unit.
    pub kubelet_unit: String,
}

impl MonitOptions {
    /// The options the tunables give.
    pub fn from_tunables(t: &Tunables) -> Self {
        Self {
            probe_interval: t.probe_interval(),
            minute_secs: t.failure_detection_minute_secs,
            kubelet_unit: t.kubelet_unit.clone(),
        }
    }
}

/// When kube-monit must feed FailureTimeout for this feature: the core's [`next_deadline`]
/// with minutes of `minute_secs` seconds. `None` when failure detection is not armed or the
/// feature is not waiting for kube.
pub fn deadline(rec: &FeatureRecord, cfg: &FeatureConfig, minute_secs: u64) -> Option<Timestamp> {
    let cfg = FeatureConfig {
        minute_secs: u32::try_from(minute_secs).unwrap_or(u32::MAX),
        ..cfg.clone()
    };
    next_deadline(rec, &cfg)
}

/// Why [`run_monit`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MonitExit {
    /// The shutdown future completed.
    Shutdown,
    /// The subscription ended (a permanent watch failure, logged).
    WatchEnded,
}

/// kube-monit's loop; see the [module documentation](self). Returns on shutdown or when the
/// watch ends; every other failure is logged and retried at the next event or deadline.
pub async fn run_monit<S, C, L, D, M, W>(
    driver: &FeatureDriver<S, C, L, D>,
    master: &M,
    watch: &W,
    options: &MonitOptions,
    shutdown: impl Future<Output = ()>,
) -> MonitExit
where
    S: StateStore,
    C: Containers,
    L: Labels,
    D: Systemd,
    M: Master,
    W: Watch,
{
    let mut shutdown = std::pin::pin!(shutdown);
    let mut sub = watch.subscribe(&[
        Watched::FeatureConfig,
        Watched::FeatureState,
        Watched::ServerConfig,
        Watched::ServerStatus,
        Watched::PendingLabels,
    ]);
    let monit = Monit {
        driver,
        master,
        options,
    };
    let mut deadlines = Deadlines::default();
    // The first probe comes once the first scan is done.
    let mut next_probe: Option<Instant> = None;
    tracing::info!(
        probe_interval_secs = options.probe_interval.as_secs(),
        minute_secs = options.minute_secs,
        "kube-monit running"
    );
    loop {
        let failure_due = sleep_until(deadlines.at.values().min().copied().map(instant_of));
        tokio::select! {
            biased;
            () = &mut shutdown => return MonitExit::Shutdown,
            change = sub.next() => match change {
                None => return MonitExit::WatchEnded,
                Some(Err(e)) => tracing::warn!(error = %error_line(&e), "watching CONFIG_DB/STATE_DB"),
                Some(Ok(change)) => monit.on_change(&mut deadlines, &mut next_probe, change).await,
            },
            () = sleep_until(next_probe) => {
                monit.probe().await;
                monit.kubelet_safety().await;
                next_probe = Some(Instant::now() + options.probe_interval);
            }
            () = failure_due => monit.fire_due(&mut deadlines).await,
        }
    }
}

/// Sleeps until `at`, or for ever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// The armed deadlines, and what each feature looked like when its deadline last fired: a
/// deadline fires at most once per (record, configuration), so a fallback that changed nothing
/// (the unit is stopped: the operator's stop wins) does not spin on a passed deadline; it is
/// armed again when the row or the configuration changes.
#[derive(Debug, Default)]
struct Deadlines {
    at: BTreeMap<FeatureName, Timestamp>,
    fired: BTreeMap<FeatureName, (FeatureRecord, FeatureConfig)>,
}

struct Monit<'a, S, C, L, D, M> {
    driver: &'a FeatureDriver<S, C, L, D>,
    master: &'a M,
    options: &'a MonitOptions,
}

impl<S, C, L, D, M> Monit<'_, S, C, L, D, M>
where
    S: StateStore,
    C: Containers,
    L: Labels,
    D: Systemd,
    M: Master,
{
    /// What a change of the watched rows calls for: a feature's deadline refreshed, a probe
    /// of the master brought forward, or kubelet's safety rule checked.
    async fn on_change(
        &self,
        deadlines: &mut Deadlines,
        next_probe: &mut Option<Instant>,
        change: Change,
    ) {
        match change {
            Change::Feature { key, .. } => match FeatureName::new(&key) {
                Ok(f) => self.refresh(deadlines, &f).await,
                Err(_) => tracing::debug!(key, "not a feature this project manages"),
            },
            Change::Row(Watched::ServerConfig) => *next_probe = Some(Instant::now()),
            Change::Row(_) => self.kubelet_safety().await,
            Change::Synced => {
                self.rescan(deadlines).await;
                if next_probe.is_none() {
                    *next_probe = Some(Instant::now());
                }
                self.kubelet_safety().await;
            }
        }
    }

    /// Falls back every feature whose deadline has passed.
    async fn fire_due(&self, deadlines: &mut Deadlines) {
        let now = epoch_now();
        let due: Vec<FeatureName> = deadlines
            .at
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(f, _)| f.clone())
            .collect();
        for f in due {
            deadlines.at.remove(&f);
            self.fall_back(deadlines, &f).await;
        }
    }

    /// Reads a feature and sets or clears its deadline.
    async fn refresh(&self, deadlines: &mut Deadlines, f: &FeatureName) {
        match self.driver.read(f).await {
            Ok(known) => match deadline(&known.record, &known.config, self.options.minute_secs) {
                Some(_)
                    if deadlines
                        .fired
                        .get(f)
                        .is_some_and(|(r, c)| *r == known.record && *c == known.config) =>
                {
                    deadlines.at.remove(f);
                }
                Some(at) => {
                    deadlines.fired.remove(f);
                    if deadlines.at.insert(f.clone(), at) != Some(at) {
                        tracing::info!(feature = %f, state = %known.state(), in_secs = at.secs_since(epoch_now()), "failure detection armed: falling back to local if kube does not run it in time");
                    }
                }
                None => {
                    deadlines.fired.remove(f);
                    if deadlines.at.remove(f).is_some() {
                        tracing::info!(feature = %f, state = %known.state(), "failure detection disarmed");
                    }
                }
            },
            Err(Error::Feature(FeatureError::Unknown { .. })) => {
                deadlines.at.remove(f);
                deadlines.fired.remove(f);
            }
            Err(e) => {
                tracing::warn!(feature = %f, error = %error_line(&e), "cannot read the feature; its deadline is kept");
            }
        }
    }

    /// Re-reads every feature after the first scan or a resync.
    async fn rescan(&self, deadlines: &mut Deadlines) {
        let features = match self.driver.store().features().await {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(error = %error_line(&e), "cannot list the features");
                return;
            }
        };
        deadlines.at.retain(|f, _| features.contains(f));
        deadlines.fired.retain(|f, _| features.contains(f));
        for f in &features {
            self.refresh(deadlines, f).await;
        }
    }

    /// The deadline passed: feed FailureTimeout, with an alert; then decide again from what is
    /// recorded (a fallback that changed nothing is not fired again for the same record).
    async fn fall_back(&self, deadlines: &mut Deadlines, f: &FeatureName) {
        let known = match self.driver.read(f).await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(feature = %f, error = %error_line(&e), "cannot read the feature at its failure deadline");
                return;
            }
        };
        let Some(at) = deadline(&known.record, &known.config, self.options.minute_secs) else {
            return;
        };
        let now = epoch_now();
        if now < at {
            deadlines.at.insert(f.clone(), at);
            return;
        }
        deadlines
            .fired
            .insert(f.clone(), (known.record.clone(), known.config.clone()));
        let since = known
            .record
            .transition_mode_update_ts
            .unwrap_or(Timestamp::EPOCH);
        tracing::warn!(
            feature = %f,
            state = %known.state(),
            kube_failure_detection = known.config.kube_failure_detection_mins,
            not_running_secs = now.secs_since(since),
            "ALERT: kube has not run feature {f} for {} s (kube_failure_detection={} min): falling back to the local image",
            now.secs_since(since),
            known.config.kube_failure_detection_mins,
        );
        if let Err(e) = self.fail_over(f).await {
            tracing::error!(feature = %f, error = %error_line(&e), retry_in_secs = FAILURE_RETRY_SECS, "failure fallback failed; will retry");
            deadlines.fired.remove(f);
            deadlines
                .at
                .insert(f.clone(), epoch_now().plus_secs(FAILURE_RETRY_SECS));
            return;
        }
        self.refresh(deadlines, f).await;
    }

    /// Feeds `FailureTimeout { unit }` with the unit's state asked just before; then, while the
    /// deadline is still passed and the unit's state differs from the one fed, feeds it again
    /// (at most three times: the re-look of the approval contract).
    async fn fail_over(&self, f: &FeatureName) -> Result<(), Error> {
        let systemd = self.driver.label_service().systemd();
        let mut fed = None;
        for _ in 0..=3 {
            let known = self.driver.read(f).await?;
            let due = deadline(&known.record, &known.config, self.options.minute_secs)
                .is_some_and(|at| at <= epoch_now());
            if !due {
                return Ok(());
            }
            let unit = systemd.activity(f.as_str()).await.map_err(|e| {
                Error::port(format!("ask systemd about the unit of feature {f}"), e)
            })?;
            if fed == Some(unit) {
                return Ok(());
            }
            let outcome = self.driver.run(f, Input::FailureTimeout { unit }).await?;
            tracing::info!(feature = %f, from = %outcome.from, to = %outcome.to, unit = ?unit, reason = outcome.reason.text(), "failure fallback");
            fed = Some(unit);
        }
        Ok(())
    }

    /// Probes the API server and records `connected` when it changed.
    async fn probe(&self) {
        let store = self.driver.store();
        let connected = match store.server_config().await {
            Err(e) => {
                tracing::warn!(error = %error_line(&e), "cannot read CONFIG_DB KUBERNETES_MASTER|SERVER; probe skipped");
                return;
            }
            Ok(cfg) if cfg.disable || cfg.ip.as_deref().is_none_or(|ip| ip.trim().is_empty()) => {
                false
            }
            Ok(_) => match self.master.probe().await {
                Ok(()) => true,
                Err(e) => {
                    tracing::debug!(error = %error_line(&e), "probe failed");
                    false
                }
            },
        };
        match crate::join::set_connected(store, connected).await {
            Ok(true) if !connected => {
                tracing::warn!("the Kubernetes API server does not answer: connected=false");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %error_line(&e), "cannot record the probe's result"),
        }
    }

    /// When connected with no pending label, kubelet must run.
    async fn kubelet_safety(&self) {
        let store = self.driver.store();
        let systemd = self.driver.label_service().systemd();
        let unit = &self.options.kubelet_unit;
        match store.server_status().await {
            Ok(s) if s.connected => {}
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %error_line(&e), "cannot read STATE_DB KUBERNETES_MASTER|SERVER");
                return;
            }
        }
        // is-active before the pending list: a label failure appends first, then stops kubelet,
        // so an empty list read after an inactive kubelet was not left by such a failure.
        match systemd.is_active(unit).await {
            Ok(true) => return,
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(error = %error_line(&e), "cannot ask whether {unit} runs");
                return;
            }
        }
        match store.pending_labels().await {
            Ok(p) if p.is_empty() => {}
            Ok(_) => return,
            Err(e) => {
                tracing::warn!(error = %error_line(&e), "cannot read the pending-label list");
                return;
            }
        }
        tracing::warn!("connected, no label pending, but {unit} does not run: starting it");
        if let Err(e) = systemd.start(unit).await {
            tracing::error!(error = %error_line(&e), "cannot start {unit}");
        }
    }
}

/// Seconds since the epoch.
fn epoch_now() -> Timestamp {
    Timestamp::from_secs(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    )
}

/// The monotonic instant of an epoch second (now when it is past).
fn instant_of(at: Timestamp) -> Instant {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let target = Duration::from_secs(at.secs());
    Instant::now() + target.saturating_sub(now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctrmgr_core::{CurrentOwner, Owner, TransitionMode};

    fn armed(n: u32) -> FeatureConfig {
        FeatureConfig {
            kube_failure_detection_mins: n,
            ..FeatureConfig::new(Owner::Kube, true)
        }
    }

    fn waiting(mode: TransitionMode, ts: u64) -> FeatureRecord {
        FeatureRecord {
            current_owner: CurrentOwner::None,
            transition_mode: mode,
            transition_mode_update_ts: Some(Timestamp::from_secs(ts)),
            ..FeatureRecord::default()
        }
    }

    #[test]
    fn the_deadline_counts_scaled_minutes_from_the_recorded_timestamp() {
        let rec = waiting(TransitionMode::KubeReady, 1_000);
        assert_eq!(
            deadline(&rec, &armed(3), 60),
            Some(Timestamp::from_secs(1_180))
        );
        assert_eq!(
            deadline(&rec, &armed(3), 1),
            Some(Timestamp::from_secs(1_003))
        );
        let stopped = waiting(TransitionMode::KubeStopped, 1_000);
        assert_eq!(
            deadline(&stopped, &armed(2), 60),
            Some(Timestamp::from_secs(1_120))
        );
    }

    #[test]
    fn no_deadline_when_detection_is_off_or_nothing_waits_for_kube() {
        let rec = waiting(TransitionMode::KubeReady, 1_000);
        assert_eq!(deadline(&rec, &armed(0), 60), None, "N=0 never falls back");
        let no_fb = FeatureConfig {
            kube_failure_detection_mins: 3,
            ..FeatureConfig::new(Owner::Kube, false)
        };
        assert_eq!(deadline(&rec, &no_fb, 60), None);
        let pending = waiting(TransitionMode::KubePending, 1_000);
        assert_eq!(
            deadline(&pending, &armed(3), 60),
            None,
            "a container waits for approval"
        );
    }
}
