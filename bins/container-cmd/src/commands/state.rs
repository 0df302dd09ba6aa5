//! `container state <f> up|down`: who the calling container is, and a kube container's wait
//! for approval.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, anyhow};
use ctrmgr_core::{ContainerId, FeatureName};
use ctrmgr_driver::{KubeUpEnd, StopRequests};
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::selfid;

use super::*;

/// The calling container's id: `--id`, else found in /proc ([`selfid`]). An id found only in
/// mountinfo is checked with the engine when a socket is at hand: a pod's sandbox
/// (`io.kubernetes.docker.type=podsandbox`, as kubelet's Docker runtime labels it) is refused.
/// Without that check, a kube container (`kube`: `up kube`, always in a pod) refuses an id
/// that is also the one its network files come from: in a pod sharing the sandbox's IPC
/// namespace, that is the sandbox. A refusal is one line asking for `--id`; nothing is written.
pub(super) async fn own_id(
    env: &Env,
    feature: &FeatureName,
    given: Option<ContainerId>,
    kube: bool,
) -> Result<ContainerId> {
    if let Some(id) = given {
        return Ok(id);
    }
    let (id, source) = selfid::detect().ok_or_else(|| {
        anyhow!(
            "cannot change the state of feature {feature}: no --id given and no docker container id of its own in {} or {} (in a pod on cgroup v2, pass --id)",
            selfid::CGROUP,
            selfid::MOUNTINFO
        )
    })?;
    if source == selfid::Source::Cgroup {
        return Ok(id);
    }
    let refuse = |why: &str| {
        anyhow!(
            "cannot change the state of feature {feature}: the container id found in {} ({id}) {why}: pass --id",
            selfid::MOUNTINFO
        )
    };
    let sandbox = if engine_at_hand() {
        is_sandbox(env, feature, &id).await?
    } else {
        None
    };
    if sandbox == Some(true) {
        return Err(refuse(
            "is a pod's sandbox (io.kubernetes.docker.type=podsandbox), not this container",
        ));
    }
    if kube && source == selfid::Source::NetworkOwner && sandbox.is_none() {
        return Err(refuse(
            "is also the one /etc/hostname comes from: in a pod sharing its sandbox's IPC namespace that is the sandbox",
        ));
    }
    Ok(id)
}

/// Whether the engine says `id` is a pod's sandbox; `None` when it cannot tell (logged).
async fn is_sandbox(env: &Env, feature: &FeatureName, id: &ContainerId) -> Result<Option<bool>> {
    match env.docker()?.inspect(id).await {
        Ok(doc) => Ok(Some(
            doc.pointer("/Config/Labels/io.kubernetes.docker.type")
                .and_then(|v| v.as_str())
                == Some("podsandbox"),
        )),
        Err(e) => {
            tracing::debug!(%feature, container = %id, error = %ctrmgr_core::retry::error_line(&e), "cannot check the id found in mountinfo with the engine");
            Ok(None)
        }
    }
}

/// Whether an engine socket is at hand: `DOCKER_HOST` set, or Docker's socket mounted in.
pub(super) fn engine_at_hand() -> bool {
    std::env::var_os("DOCKER_HOST").is_some() || Path::new("/var/run/docker.sock").exists()
}

/// `container state <f> up kube`: the driver's [`ctrmgr_driver::kube_up`] — ask, then wait for
/// an approval or, parked, for `set_owner` to turn kube, over the STATE_DB/CONFIG_DB watch.
/// Exits 0 on Proceed, [`EXIT_PARKED`] on SIGTERM or SIGINT while parked, 128 + the signal's
/// number when one ends a wait that followed a Park, [`EXIT_NOT_APPROVED`] when `--timeout`
/// ran out.
pub(super) async fn kube_up(
    env: &Env,
    feature: &FeatureName,
    id: ContainerId,
    timeout: Option<Duration>,
) -> Result<u8> {
    let driver = env.driver();
    let mut stops = Stops::default();
    match ctrmgr_driver::kube_up(&driver, &env.db, feature, &id, timeout, &mut stops).await {
        Ok(KubeUpEnd::Proceed) => Ok(0),
        Ok(KubeUpEnd::Stopped(code)) => Ok(code),
        Ok(KubeUpEnd::Parked) => Ok(EXIT_PARKED),
        Err(e @ ctrmgr_driver::Error::Feature(ctrmgr_driver::FeatureError::NotApproved { .. })) => {
            Err(DoNotRun {
                code: EXIT_NOT_APPROVED,
                message: e.to_string(),
            }
            .into())
        }
        Err(e) => Err(e.into()),
    }
}

/// SIGTERM and SIGINT, listened to from the first Park on (installed then and kept: once a
/// handler is installed, the signal's default action no longer applies, so every later wait
/// listens too).
#[derive(Default)]
pub(super) struct Stops {
    signals: Option<(Signal, Signal)>,
}

impl StopRequests for Stops {
    fn listen(&mut self) -> std::result::Result<(), ctrmgr_driver::Error> {
        let install = |kind, name| {
            signal(kind).map_err(|source| ctrmgr_driver::Error::Signal { name, source })
        };
        self.signals = Some((
            install(SignalKind::terminate(), "SIGTERM")?,
            install(SignalKind::interrupt(), "SIGINT")?,
        ));
        Ok(())
    }

    fn listening(&self) -> bool {
        self.signals.is_some()
    }

    /// The exit status the signal's default action would give (128 + its number).
    async fn stopped(&mut self) -> u8 {
        match &mut self.signals {
            Some((term, int)) => tokio::select! {
                _ = term.recv() => 128 + 15,
                _ = int.recv() => 128 + 2,
            },
            None => std::future::pending().await,
        }
    }
}
