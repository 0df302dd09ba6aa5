//! kube-monit's loop (DESIGN.md §7): failure detection, the API server probe and kubelet
//! safety, driven by STATE_DB/CONFIG_DB changes and deadlines — never by a fixed poll.
//!
//! - **Failure detection.** For each feature whose failure detection is armed (`set_owner=kube`,
//!   `fallback_to_local=true`, `kube_failure_detection=N>0`) and that waits in KUBE_READY or
//!   KUBE_STOPPED, the deadline is `transition_mode_update_ts + N minutes` ([`deadline`]; the
//!   minute is [`MonitOptions::minute_secs`] long). The timestamp is STATE_DB's, so a restart
//!   of kube-monit does not restart the clock. The wall-clock deadline is converted once, when
//!   it is read, into a monotonic instant that fires it (`deadlines`: a wall-clock step after
//!   that neither fires it early nor delays it; a restart reads it again by the wall clock;
//!   the core still requires the wall-clock deadline passed, so a clock stepped back re-arms
//!   it by the wall clock). When it fires, the feature's row is read again
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

use std::future::Future;
use std::time::Duration;

use ctrmgr_core::machine::next_deadline;
use ctrmgr_core::ports::{
    Change, Containers, Labels, StateStore, Subscription, Systemd, Watch, Watched,
};
use ctrmgr_core::{FeatureConfig, FeatureName, FeatureRecord, Input, Reason, Timestamp};
use tokio::time::Instant;

use crate::{Error, FeatureDriver, FeatureError, Master, Tunables};
use ctrmgr_core::retry::error_line;

mod deadlines;

use deadlines::{Armed, Deadlines};

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
        let failure_due = sleep_until(deadlines.next());
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

/// How a fallback went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FailOver {
    /// Fed (or no longer due by the rows).
    Done,
    /// The core found the wall-clock deadline not passed (the clock was stepped back).
    WallClockBehind,
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

    /// Falls back every feature whose deadline has passed, by the monotonic clock.
    async fn fire_due(&self, deadlines: &mut Deadlines) {
        for (f, armed) in deadlines.take_due(Instant::now()) {
            self.fall_back(deadlines, &f, armed).await;
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
                Some(wall) => {
                    deadlines.fired.remove(f);
                    if let Some(left) = deadlines.arm(f, wall, &self.driver.options().clock) {
                        tracing::info!(feature = %f, state = %known.state(), in_secs = left, "failure detection armed: falling back to local if kube does not run it in time");
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

    /// The deadline `armed` passed: feed FailureTimeout, with an alert; then decide again from
    /// what is recorded (a fallback that changed nothing is not fired again for the same
    /// record). A deadline that changed since it was armed is armed again instead.
    async fn fall_back(&self, deadlines: &mut Deadlines, f: &FeatureName, armed: Armed) {
        let known = match self.driver.read(f).await {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(feature = %f, error = %error_line(&e), "cannot read the feature at its failure deadline");
                return;
            }
        };
        let Some(wall) = deadline(&known.record, &known.config, self.options.minute_secs) else {
            return;
        };
        if wall != armed.wall {
            deadlines.arm(f, wall, &self.driver.options().clock);
            return;
        }
        deadlines
            .fired
            .insert(f.clone(), (known.record.clone(), known.config.clone()));
        let since = known
            .record
            .transition_mode_update_ts
            .unwrap_or(Timestamp::EPOCH);
        let waited = self.driver.options().clock.now().secs_since(since);
        tracing::warn!(
            feature = %f,
            state = %known.state(),
            kube_failure_detection = known.config.kube_failure_detection_mins,
            not_running_secs = waited,
            "ALERT: kube has not run feature {f} for {waited} s (kube_failure_detection={} min): falling back to the local image",
            known.config.kube_failure_detection_mins,
        );
        match self.fail_over(f, wall).await {
            Ok(FailOver::Done) => self.refresh(deadlines, f).await,
            Ok(FailOver::WallClockBehind) => {
                // The wall clock was stepped back since arming: the core (and the unit's Start
                // after it) still go by STATE_DB's wall-clock deadline, so wait for that.
                deadlines.fired.remove(f);
                deadlines.at.remove(f);
                let left = deadlines.arm(f, wall, &self.driver.options().clock);
                tracing::warn!(feature = %f, in_secs = left, "the wall clock is behind the failure deadline kube-monit armed (stepped back?): armed again by the wall clock");
            }
            Err(e) => {
                tracing::error!(feature = %f, error = %error_line(&e), retry_in_secs = FAILURE_RETRY_SECS, "failure fallback failed; will retry");
                deadlines.fired.remove(f);
                deadlines.retry(f, wall, Duration::from_secs(FAILURE_RETRY_SECS));
            }
        }
    }

    /// Feeds `FailureTimeout { unit }` with the unit's state asked just before; then, while the
    /// rows still give the deadline `wall` that fired and the unit's state differs from the one
    /// fed, feeds it again (at most three times: the re-look of the approval contract).
    /// `WallClockBehind` when the core found the wall-clock deadline not passed yet.
    async fn fail_over(&self, f: &FeatureName, wall: Timestamp) -> Result<FailOver, Error> {
        let systemd = self.driver.label_service().systemd();
        let mut fed = None;
        for _ in 0..=3 {
            let known = self.driver.read(f).await?;
            let due =
                deadline(&known.record, &known.config, self.options.minute_secs) == Some(wall);
            if !due {
                return Ok(FailOver::Done);
            }
            let unit = systemd.activity(f.as_str()).await.map_err(|e| {
                Error::port(format!("ask systemd about the unit of feature {f}"), e)
            })?;
            if fed == Some(unit) {
                return Ok(FailOver::Done);
            }
            let outcome = self.driver.run(f, Input::FailureTimeout { unit }).await?;
            tracing::info!(feature = %f, from = %outcome.from, to = %outcome.to, unit = ?unit, reason = outcome.reason.text(), "failure fallback");
            if outcome.reason == Reason::FailureNotDue {
                return Ok(FailOver::WallClockBehind);
            }
            fed = Some(unit);
        }
        Ok(FailOver::Done)
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

#[cfg(test)]
mod tests;
