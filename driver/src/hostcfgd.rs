//! hostcfgd-watcher's loop (DESIGN.md §7): approvals of pending transitions, and joining or
//! leaving the master as CONFIG_DB `KUBERNETES_MASTER|SERVER` asks.
//!
//! - **Approvals.** Every change of a STATE_DB `FEATURE|<f>` row (and every row after the
//!   first scan or a resync) is looked at: when the record waits for approval
//!   ([`approval_pending`]), `systemctl is-active <f>` is asked and `Approve` is fed to the
//!   [`FeatureDriver`], whose effects are `systemctl stop` then `systemctl start` (the Start
//!   approves in place), or nothing while the service is inactive (the next Start approves).
//!   One approval at a time per feature (a change that comes meanwhile is looked at again
//!   afterwards), features in parallel up to [`HostcfgdOptions::parallelism`]; a failed
//!   approval is retried with exponential backoff. The daemon has no memory of its own: what
//!   is recorded decides, so a restart finishes whatever is pending.
//! - **Join / reset** ([`JoinEngine`]), in a task of its own so that an approval never waits
//!   for a join: `disable=true` while joined or connected → reset; `ip` set, not disabled,
//!   not connected → join; connected to another host than `ip` → reset, then join. A failure
//!   is retried with backoff (1 s doubling up to [`HostcfgdOptions::join_retry_max`]); a change
//!   of the server's rows tries again at once.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ctrmgr_core::machine::approval_pending;
use ctrmgr_core::ports::{
    Change, Containers, Labels, StateStore, Subscription, Systemd, Watch, Watched,
};
use ctrmgr_core::retry::{self, Backoff};
use ctrmgr_core::{FeatureName, Input};
use tokio::sync::Notify;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::{Error, FeatureDriver, FeatureError, JoinEngine, Joined, Master, Outcome, Tunables};
use ctrmgr_core::retry::error_line;

/// Retrying a failed join or reset: 1 s doubling, up to [`HostcfgdOptions::join_retry_max`].
const JOIN_RETRY: Backoff = Backoff::new(1_000, 1_000);

/// What hostcfgd-watcher's loop needs besides its ports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HostcfgdOptions {
    /// Features approved at the same time ([`Tunables::approval_parallelism`]).
    pub parallelism: usize,
    /// Longest wait between join attempts ([`Tunables::join_retry_max_secs`]).
    pub join_retry_max: Duration,
}

impl HostcfgdOptions {
    /// The options the tunables give.
    pub fn from_tunables(t: &Tunables) -> Self {
        Self {
            parallelism: t.approval_parallelism.max(1),
            join_retry_max: t.join_retry_max(),
        }
    }
}

/// Why [`run_hostcfgd`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostcfgdExit {
    /// The shutdown future completed (approvals under way were finished first).
    Shutdown,
    /// The subscription ended (a permanent watch failure, logged).
    WatchEnded,
}

/// How many times one look feeds Approve again after the unit's state changed under it.
pub const RELOOKS: u32 = 3;

/// Looks at one feature and, when it waits for approval (or a start this system began is
/// unfinished: [`approval_pending`]), asks systemd about the unit just before and feeds
/// `Approve { unit }`. Then it looks again: while the row still needs approval and the unit's
/// state differs from the one just fed (systemd failed the unit under a try-restart that did
/// nothing, for example), it feeds Approve again with the fresh state, at most [`RELOOKS`]
/// times. `Ok(None)` when nothing was pending (or the feature is not configured).
pub async fn approve<S, C, L, D>(
    driver: &FeatureDriver<S, C, L, D>,
    feature: &FeatureName,
) -> Result<Option<Outcome>, Error>
where
    S: StateStore,
    C: Containers,
    L: Labels,
    D: Systemd,
{
    let mut last = None;
    let mut fed = None;
    for _ in 0..=RELOOKS {
        let known = match driver.read(feature).await {
            Ok(k) => k,
            Err(Error::Feature(FeatureError::Unknown { .. })) => return Ok(last),
            Err(e) => return Err(e),
        };
        if !approval_pending(&known.record) {
            return Ok(last);
        }
        let unit = driver
            .label_service()
            .systemd()
            .activity(feature.as_str())
            .await
            .map_err(|e| {
                Error::port(
                    format!("ask systemd about the unit of feature {feature}"),
                    e,
                )
            })?;
        if fed == Some(unit) {
            return Ok(last);
        }
        let outcome = driver.run(feature, Input::Approve { unit }).await?;
        tracing::info!(
            feature = %feature,
            from = %outcome.from,
            to = %outcome.to,
            unit = ?unit,
            reason = outcome.reason.text(),
            "approval"
        );
        fed = Some(unit);
        last = Some(outcome);
    }
    Ok(last)
}

/// Runs hostcfgd-watcher until `shutdown`; see the [module documentation](self).
pub async fn run_hostcfgd<S, C, L, D, L2, M, W>(
    driver: Arc<FeatureDriver<S, C, L, D>>,
    join: Arc<JoinEngine<S, L2, D, M>>,
    watch: &W,
    options: HostcfgdOptions,
    shutdown: impl Future<Output = ()>,
) -> HostcfgdExit
where
    S: StateStore + 'static,
    C: Containers + 'static,
    L: Labels + 'static,
    D: Systemd + 'static,
    L2: Labels + 'static,
    M: Master + 'static,
    W: Watch,
{
    let mut shutdown = std::pin::pin!(shutdown);
    let mut sub = watch.subscribe(&[
        Watched::FeatureState,
        Watched::ServerConfig,
        Watched::ServerStatus,
    ]);
    let nudge = Arc::new(Notify::new());
    let joiner = tokio::spawn(join_loop(join, Arc::clone(&nudge), options.join_retry_max));
    let mut approvals = Approvals::new(options.parallelism);
    tracing::info!(
        parallelism = options.parallelism,
        "hostcfgd-watcher running"
    );
    let exit = loop {
        approvals.pump(&driver);
        let retry_at = approvals.next_retry();
        let retry_due = async move {
            match retry_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            () = &mut shutdown => break HostcfgdExit::Shutdown,
            Some(done) = approvals.tasks.join_next(), if !approvals.tasks.is_empty() => {
                approvals.finished(done);
            }
            change = sub.next() => match change {
                None => break HostcfgdExit::WatchEnded,
                Some(Err(e)) => tracing::warn!(error = %error_line(&e), "watching STATE_DB/CONFIG_DB"),
                Some(Ok(Change::Feature { key, .. })) => match FeatureName::new(&key) {
                    Ok(f) => approvals.consider(f),
                    Err(_) => tracing::debug!(key, "not a feature this project manages"),
                },
                Some(Ok(Change::Row(_))) => nudge.notify_one(),
                Some(Ok(Change::Synced)) => nudge.notify_one(),
            },
            () = retry_due => approvals.retry_due(),
        }
    };
    joiner.abort();
    // Approvals under way are finished: a stop without its start would leave a service down
    // until the restarted daemon approves again.
    while let Some(done) = approvals.tasks.join_next().await {
        approvals.finished(done);
    }
    exit
}

type ApprovalResult = (FeatureName, Result<Option<Outcome>, Error>);

/// The approval scheduler: one task per feature at most, `parallelism` tasks at most.
struct Approvals {
    parallelism: usize,
    tasks: JoinSet<ApprovalResult>,
    running: HashSet<FeatureName>,
    /// Changed while its approval ran: look again when it ends.
    again: HashSet<FeatureName>,
    /// Waiting for a free slot, in order.
    queue: VecDeque<FeatureName>,
    /// Failed approvals: when to try again, and how many failures in a row.
    retries: BTreeMap<FeatureName, (Instant, u32)>,
    failures: BTreeMap<FeatureName, u32>,
}

impl Approvals {
    fn new(parallelism: usize) -> Self {
        Self {
            parallelism: parallelism.max(1),
            tasks: JoinSet::new(),
            running: HashSet::new(),
            again: HashSet::new(),
            queue: VecDeque::new(),
            retries: BTreeMap::new(),
            failures: BTreeMap::new(),
        }
    }

    fn consider(&mut self, f: FeatureName) {
        if self.running.contains(&f) {
            self.again.insert(f);
        } else if !self.queue.contains(&f) {
            self.retries.remove(&f);
            self.queue.push_back(f);
        }
    }

    fn pump<S, C, L, D>(&mut self, driver: &Arc<FeatureDriver<S, C, L, D>>)
    where
        S: StateStore + 'static,
        C: Containers + 'static,
        L: Labels + 'static,
        D: Systemd + 'static,
    {
        while self.running.len() < self.parallelism {
            let Some(f) = self.queue.pop_front() else {
                return;
            };
            self.running.insert(f.clone());
            let driver = Arc::clone(driver);
            self.tasks.spawn(async move {
                let result = approve(&driver, &f).await;
                (f, result)
            });
        }
    }

    fn finished(&mut self, done: Result<ApprovalResult, tokio::task::JoinError>) {
        let (f, result) = match done {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "an approval task failed");
                return;
            }
        };
        self.running.remove(&f);
        match result {
            Ok(_) => {
                self.failures.remove(&f);
            }
            Err(e) => {
                let n = self.failures.entry(f.clone()).or_insert(0);
                let wait = retry::MASTER.delay(*n);
                *n = n.saturating_add(1);
                tracing::error!(feature = %f, error = %error_line(&e), retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX), "approval failed; will retry");
                self.retries.insert(f.clone(), (Instant::now() + wait, *n));
            }
        }
        if self.again.remove(&f) {
            self.consider(f);
        }
    }

    fn next_retry(&self) -> Option<Instant> {
        self.retries.values().map(|(at, _)| *at).min()
    }

    fn retry_due(&mut self) {
        let now = Instant::now();
        let due: Vec<FeatureName> = self
            .retries
            .iter()
            .filter(|(_, (at, _))| *at <= now)
            .map(|(f, _)| f.clone())
            .collect();
        for f in due {
            self.retries.remove(&f);
            self.consider(f);
        }
    }
}

/// The join task: converge on what the server's rows ask, at each nudge, retrying failures.
async fn join_loop<S, L, D, M>(join: Arc<JoinEngine<S, L, D, M>>, nudge: Arc<Notify>, max: Duration)
where
    S: StateStore,
    L: Labels,
    D: Systemd,
    M: Master,
{
    let mut failures: u32 = 0;
    let mut retry_at: Option<Instant> = None;
    // The ip this process joined (or found joined); before the first join, the host the
    // kubeconfig names stands in for it.
    let mut joined: Option<String> = None;
    loop {
        let retry = async move {
            match retry_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            () = nudge.notified() => failures = 0,
            () = retry => {}
        }
        match converge(&join, &mut joined).await {
            Ok(()) => {
                failures = 0;
                retry_at = None;
            }
            Err(e) => {
                let wait = JOIN_RETRY
                    .with_max(u64::try_from(max.as_millis()).unwrap_or(u64::MAX))
                    .delay(failures);
                failures = failures.saturating_add(1);
                tracing::error!(error = %error_line(&e), retry_in_secs = wait.as_secs(), "join/reset failed; will retry");
                retry_at = Some(Instant::now() + wait);
            }
        }
    }
}

/// One look at the server's rows, and the join or reset they ask for. `joined` is the ip this
/// process last joined (the kubeconfig's host may be another name of the same master).
async fn converge<S, L, D, M>(
    join: &JoinEngine<S, L, D, M>,
    joined: &mut Option<String>,
) -> Result<(), Error>
where
    S: StateStore,
    L: Labels,
    D: Systemd,
    M: Master,
{
    let cfg = join.server_config().await?;
    let status = join.server_status().await?;
    if cfg.disable {
        if status.connected || join.joined_server().await.is_some() {
            tracing::info!("KUBERNETES_MASTER|SERVER disable=true: leaving the master");
            *joined = None;
            join.reset().await?;
        }
        return Ok(());
    }
    let Some(ip) = cfg.ip.as_deref().map(str::trim).filter(|ip| !ip.is_empty()) else {
        return Ok(());
    };
    if status.connected {
        let current = match joined.clone() {
            Some(ip) => Some(ip),
            None => join.joined_server().await,
        };
        if let Some(host) = current
            && !crate::join::same_host(&host, ip)
        {
            tracing::info!(from = %host, to = %ip, "KUBERNETES_MASTER|SERVER ip changed while connected: reset, then join");
            *joined = None;
            join.reset().await?;
            log_joined(join.join(false).await?);
        }
        *joined = Some(ip.to_owned());
        return Ok(());
    }
    log_joined(join.join(false).await?);
    *joined = Some(ip.to_owned());
    Ok(())
}

fn log_joined(j: Joined) {
    match j {
        Joined::Joined { server, .. } => tracing::info!(%server, "joined"),
        Joined::Adopted { server } => tracing::info!(%server, "already joined: connected"),
        Joined::AlreadyConnected => {}
    }
}
