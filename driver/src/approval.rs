//! The kube container's side of an approval (DESIGN.md §4, decisions a and c): what
//! `container state <f> up kube` does after asking once — wait for the approval, or park while
//! `set_owner` is local — driven by the core's [`Watch`] port, so that it runs the same over
//! Redis and over recording fakes.
//!
//! [`kube_up`]: feed `KubeUp(id)`; then until the answer is Proceed:
//! - **Wait**: block on changes of the feature's STATE_DB and CONFIG_DB rows (after the first
//!   scan of both, so an approval given before the subscription is seen at once), asking again
//!   at each; a bound (`timeout`) applies between questions, never to a question under way, so
//!   a claim is never half-made.
//! - **Park**: the container must not run the feature; it blocks on changes of the CONFIG_DB
//!   row and asks again once `set_owner` is kube (a container parked for ever would hold the
//!   DaemonSet's slot: [`ctrmgr_core::KubeAnswer::Park`]). Failures to read or ask are logged
//!   and it stays parked.
//! - A stop request ([`StopRequests`]) ends it: while parked as [`KubeUpEnd::Parked`], while
//!   waiting with the signal's status. Requests are listened to from the first Park on (before
//!   that, the signals' default action applies).
//! - While waiting, a question that fails (a Redis blip, or Redis restarted empty) is asked
//!   again with the core's backoff instead of ending the wait; `timeout` bounds these retries
//!   too.

use std::future::Future;
use std::time::Duration;

use ctrmgr_core::ports::{
    Change, Containers, Labels, PortError, StateStore, Subscription, Systemd, Watch, Watched,
};
use ctrmgr_core::{ContainerId, FeatureName, Input, KubeAnswer, Owner};

use crate::{Error, FeatureDriver, FeatureError};
use ctrmgr_core::retry::error_line;

/// Stop requests (SIGTERM, SIGINT) of the process running [`kube_up`].
pub trait StopRequests: Send {
    /// Starts listening (installs the handlers); called at the first Park. From then on the
    /// requests no longer end the process by themselves.
    fn listen(&mut self) -> Result<(), Error>;

    /// Whether [`StopRequests::listen`] was called.
    fn listening(&self) -> bool;

    /// Resolves with the exit status a request asks for (128 + the signal's number). Only
    /// awaited while listening.
    fn stopped(&mut self) -> impl Future<Output = u8> + Send;
}

/// How [`kube_up`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KubeUpEnd {
    /// Approved: the container runs the feature (exit 0).
    Proceed,
    /// A stop request ended a wait for approval, with this exit status (128 + the signal).
    Stopped(u8),
    /// A stop request ended it while parked: the feature must not run (issue 8, item 7: not
    /// exit 0, which a start script takes for "run the feature").
    Parked,
}

/// Runs `container state <f> up kube` for container `id`; see the
/// [module documentation](self).
pub async fn kube_up<S, C, L, D, W, R>(
    driver: &FeatureDriver<S, C, L, D>,
    watch: &W,
    feature: &FeatureName,
    id: &ContainerId,
    timeout: Option<Duration>,
    stops: &mut R,
) -> Result<KubeUpEnd, Error>
where
    S: StateStore,
    C: Containers,
    L: Labels,
    D: Systemd,
    W: Watch,
    R: StopRequests,
{
    let mut answer = ask(driver, feature, id).await?;
    loop {
        answer = match answer {
            KubeAnswer::Proceed => return Ok(KubeUpEnd::Proceed),
            KubeAnswer::Wait => {
                tracing::info!(%feature, container = %id, "waiting for approval");
                match await_approval(driver, watch, feature, id, timeout, stops).await? {
                    Waited::Asked(KubeAnswer::Proceed) => {
                        tracing::info!(%feature, container = %id, "approved: proceeding");
                        return Ok(KubeUpEnd::Proceed);
                    }
                    Waited::Asked(other) => other,
                    Waited::Stopped(code) => return Ok(KubeUpEnd::Stopped(code)),
                }
            }
            KubeAnswer::Park => {
                if !stops.listening() {
                    stops.listen()?;
                }
                match park(driver, watch, feature, id, stops).await? {
                    Some(a) => a,
                    None => return Ok(KubeUpEnd::Parked),
                }
            }
        };
    }
}

/// Feeds `KubeUp(id)` and returns the answer.
async fn ask<S, C, L, D>(
    driver: &FeatureDriver<S, C, L, D>,
    feature: &FeatureName,
    id: &ContainerId,
) -> Result<KubeAnswer, Error>
where
    S: StateStore,
    C: Containers,
    L: Labels,
    D: Systemd,
{
    let outcome = driver.run(feature, Input::KubeUp(id.clone())).await?;
    outcome.answer.ok_or_else(|| {
        Error::Feature(FeatureError::NoAnswer {
            feature: feature.to_string(),
            reason: outcome.reason.text().to_owned(),
        })
    })
}

/// Waits for a stop request when listening; for ever otherwise.
async fn stopped<R: StopRequests>(stops: &mut R) -> u8 {
    if stops.listening() {
        stops.stopped().await
    } else {
        std::future::pending().await
    }
}

/// How a wait for approval ended.
enum Waited {
    /// The answer to a question asked after a change: Proceed or Park.
    Asked(KubeAnswer),
    /// A stop request: exit with this status.
    Stopped(u8),
}

/// Which changes call for another look at a feature: the first scan of its rows and every
/// rescan after a reconnection, then any change of its own rows once the first scan is done.
#[derive(Debug, Default)]
struct Relook {
    synced: bool,
}

impl Relook {
    /// Whether `change` calls for another look; a watch error is logged (the watch
    /// resubscribes and rescans by itself) and does not.
    fn after<E: PortError>(
        &mut self,
        change: Result<Change, E>,
        feature: &FeatureName,
        watching: &str,
    ) -> bool {
        match change {
            Ok(Change::Synced) => {
                self.synced = true;
                true
            }
            Ok(Change::Feature { key, .. }) => self.synced && key == feature.as_str(),
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(%feature, error = %error_line(&e), "watching {watching}");
                false
            }
        }
    }
}

async fn await_approval<S, C, L, D, W, R>(
    driver: &FeatureDriver<S, C, L, D>,
    watch: &W,
    feature: &FeatureName,
    id: &ContainerId,
    timeout: Option<Duration>,
    stops: &mut R,
) -> Result<Waited, Error>
where
    S: StateStore,
    C: Containers,
    L: Labels,
    D: Systemd,
    W: Watch,
    R: StopRequests,
{
    let deadline = timeout.map(|t| tokio::time::Instant::now() + t);
    let mut sub =
        watch.subscribe_feature(&[Watched::FeatureState, Watched::FeatureConfig], feature);
    let mut relook = Relook::default();
    loop {
        let next = async {
            match deadline {
                None => Ok(sub.next().await),
                Some(at) => tokio::time::timeout_at(at, sub.next()).await,
            }
        };
        let next = tokio::select! {
            code = stopped(stops) => {
                tracing::info!(%feature, container = %id, "stopped while waiting for approval");
                return Ok(Waited::Stopped(code));
            }
            next = next => next.map_err(|_| not_approved(feature, id, timeout))?,
        };
        let Some(change) = next else { break };
        if !relook.after(change, feature, "the FEATURE tables") {
            continue;
        }
        let answer = match ask_with_backoff(driver, feature, id, deadline, timeout, stops).await? {
            Waited::Asked(a) => a,
            stopped @ Waited::Stopped(_) => return Ok(stopped),
        };
        match answer {
            KubeAnswer::Wait => continue,
            other => return Ok(Waited::Asked(other)),
        }
    }
    Err(Error::WatchEnded {
        what: format!("feature {feature}: the watch of the FEATURE tables"),
    })
}

/// A failed question (a Redis blip) is no reason to give up the wait: it is asked again with
/// the core's backoff (issue 8, item 7) until it is answered, a stop request comes, or the
/// `--timeout` bound (`deadline`) passes — the bound covers the retries too, never a question
/// under way. The watch resubscribes and rescans by itself meanwhile.
async fn ask_with_backoff<S, C, L, D, R>(
    driver: &FeatureDriver<S, C, L, D>,
    feature: &FeatureName,
    id: &ContainerId,
    deadline: Option<tokio::time::Instant>,
    timeout: Option<Duration>,
    stops: &mut R,
) -> Result<Waited, Error>
where
    S: StateStore,
    C: Containers,
    L: Labels,
    D: Systemd,
    R: StopRequests,
{
    let mut attempt = 0u32;
    loop {
        let e = match ask(driver, feature, id).await {
            Ok(a) => return Ok(Waited::Asked(a)),
            Err(e) => e,
        };
        let pause = ctrmgr_core::retry::MASTER.delay(attempt);
        attempt = attempt.saturating_add(1);
        tracing::warn!(%feature, container = %id, error = %error_line(&e), retry_ms = pause.as_millis(), "cannot ask while waiting for approval: asking again");
        let bound = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            code = stopped(stops) => return Ok(Waited::Stopped(code)),
            () = bound => return Err(not_approved(feature, id, timeout)),
            () = tokio::time::sleep(pause) => {}
        }
    }
}

/// The `--timeout` bound passed without an approval.
fn not_approved(feature: &FeatureName, id: &ContainerId, timeout: Option<Duration>) -> Error {
    Error::Feature(FeatureError::NotApproved {
        feature: feature.to_string(),
        container: id.to_string(),
        secs: timeout.map_or(0, |t| t.as_secs()),
    })
}

/// Parked until `set_owner` turns kube and the question asked again answers Wait or Proceed
/// (`Some`), or a stop request (`None`).
async fn park<S, C, L, D, W, R>(
    driver: &FeatureDriver<S, C, L, D>,
    watch: &W,
    feature: &FeatureName,
    id: &ContainerId,
    stops: &mut R,
) -> Result<Option<KubeAnswer>, Error>
where
    S: StateStore,
    C: Containers,
    L: Labels,
    D: Systemd,
    W: Watch,
    R: StopRequests,
{
    tracing::warn!(%feature, container = %id, "parked: set_owner is local, so this kube container will not run the feature; waiting for set_owner to turn kube, or for SIGTERM");
    let mut sub = watch.subscribe_feature(&[Watched::FeatureConfig], feature);
    let mut relook = Relook::default();
    loop {
        let next = tokio::select! {
            _ = stops.stopped() => {
                tracing::info!(%feature, container = %id, "parked container stopped");
                return Ok(None);
            }
            next = sub.next() => next,
        };
        let Some(change) = next else {
            return Err(Error::WatchEnded {
                what: format!("feature {feature}: the watch of CONFIG_DB FEATURE, while parked,"),
            });
        };
        if !relook.after(change, feature, "CONFIG_DB FEATURE") {
            continue;
        }
        match driver.read(feature).await {
            Ok(known) if known.config.set_owner == Owner::Kube => {}
            Ok(_) => continue,
            Err(e) => {
                tracing::warn!(%feature, error = %error_line(&e), "parked: cannot read the feature");
                continue;
            }
        }
        tracing::info!(%feature, container = %id, "set_owner turned kube: asking again");
        match ask(driver, feature, id).await {
            Ok(KubeAnswer::Park) => {}
            Ok(other) => return Ok(Some(other)),
            Err(e) => {
                tracing::warn!(%feature, container = %id, error = %error_line(&e), "parked: cannot ask again");
            }
        }
    }
}
