//! Start, Stop and Kill: the systemd unit's ExecStartPre, its ExecStop, and a kill.

use crate::machine::table::{Ctx, local_target, step_to, write_both, write_mode, write_owner};
use crate::machine::{Effect as E, Input, Reason as R, Step, StopOptions, Target, step};
use crate::types::{CurrentOwner, State as S, TransitionMode as M};

/// The rows of Start.
pub(super) fn start(c: Ctx) -> Step {
    let Ctx {
        cfg,
        now,
        mode,
        kube,
        fallback_due,
        ..
    } = c;
    match c.state {
        // INIT | Start | owner=local → LOCAL: docker start local; record owner local + id
        S::Init if !kube => step_to(S::Local, vec![E::DockerStart], R::StartLocal),
        // INIT | Start | owner=kube, fb → LOCAL: label add; docker start local; record
        S::Init if cfg.fallback_to_local => step_to(
            S::Local,
            vec![E::LabelAdd, E::DockerStart],
            R::StartKubeFallbackLocal,
        ),
        // INIT | Start | owner=kube, !fb → KUBE_READY: mode kube_ready; label add
        S::Init => step_to(
            S::KubeReady,
            vec![write_mode(mode, M::KubeReady, now), E::LabelAdd],
            R::StartKubeApproved,
        ),
        // LOCAL | Start | — → LOCAL: idempotent (ensure label when owner=kube)
        S::Local => {
            let mut effects = c.label_if_kube();
            effects.push(E::DockerStart);
            step_to(S::Local, effects, R::StartLocalAgain)
        }
        // KUBE_READY, KUBE_STOPPED | Start | owner=kube, fb, N>0, deadline passed → LOCAL:
        // mode none; label add (kept: kube may still deploy and ask); docker start local.
        // kube-monit's fallback is a bare restart of the unit, and this Start decides it, so
        // that a kube-monit crash cannot leave the feature down with no deadline.
        S::KubeReady | S::KubeStopped if fallback_due => step_to(
            S::Local,
            vec![write_mode(mode, M::None, now), E::LabelAdd, E::DockerStart],
            R::StartFallsBackAfterDeadline,
        ),
        // KUBE_PENDING | Start | owner=kube → KUBE_READY: mode kube_ready; label add
        S::KubePending if kube => step_to(
            S::KubeReady,
            vec![write_mode(mode, M::KubeReady, now), E::LabelAdd],
            R::StartApprovesPending,
        ),
        // KUBE_PENDING | Start | owner=local → LOCAL: label remove; mode none; docker start
        S::KubePending => step_to(
            S::Local,
            vec![
                E::LabelRemove,
                write_mode(mode, M::None, now),
                E::DockerStart,
            ],
            R::StartLocalDropsPending,
        ),
        // KUBE_STOPPED | Start | owner=kube → KUBE_READY: mode kube_ready; label add
        S::KubeStopped if kube => step_to(
            S::KubeReady,
            vec![write_mode(mode, M::KubeReady, now), E::LabelAdd],
            R::StartKubeAfterStopped,
        ),
        // KUBE_STOPPED | Start | owner=local → LOCAL: mode none; docker start local
        S::KubeStopped => step_to(
            S::Local,
            vec![write_mode(mode, M::None, now), E::DockerStart],
            R::StartLocalAfterStopped,
        ),
        // KUBE_READY, KUBE_RUNNING, LOCAL_TO_KUBE | Start | — → same: idempotent
        s @ (S::KubeReady | S::KubeRunning | S::LocalToKube) => {
            step_to(s, c.label_if_kube(), R::StartAlreadyUnderWay)
        }
    }
}

/// The rows of Stop.
pub(super) fn stop(c: Ctx, o: StopOptions) -> Step {
    let Ctx {
        rec,
        now,
        mode,
        kube,
        ..
    } = c;
    match c.state {
        // INIT | Stop | — → INIT: docker stop the local container by name (a `container
        // start` cancelled between its docker start and its record leaves it running
        // unrecorded; stopping a stopped or missing container is a no-op)
        S::Init => step_to(
            S::Init,
            vec![E::DockerStop {
                target: Target::LocalByName,
                grace_secs: o.grace_secs,
            }],
            R::StopNothingRuns,
        ),
        // LOCAL | Stop | — → INIT: label remove if owner=kube; docker stop id; owner none
        S::Local => stop_local(c, o),
        // LOCAL_TO_KUBE | Stop | owner=kube → KUBE_PENDING: docker stop local; label kept
        S::LocalToKube if kube => step_to(
            S::KubePending,
            vec![
                E::DockerStop {
                    target: local_target(rec),
                    grace_secs: o.grace_secs,
                },
                write_owner(CurrentOwner::None, None, now),
            ],
            R::StopLocalKeepsPendingApproval,
        ),
        // LOCAL_TO_KUBE | Stop | owner=local → INIT: label remove; docker stop; mode none
        S::LocalToKube => step_to(
            S::Init,
            vec![
                E::LabelRemove,
                E::DockerStop {
                    target: local_target(rec),
                    grace_secs: o.grace_secs,
                },
                write_both(mode, CurrentOwner::None, None, M::None, now),
            ],
            R::StopLocalToKubeOwnerLocal,
        ),
        // KUBE_PENDING | Stop | owner=kube → KUBE_PENDING: nothing (label kept)
        S::KubePending if kube => step_to(S::KubePending, vec![], R::StopPendingKeepsApproval),
        // KUBE_PENDING | Stop | owner=local → INIT: label remove; mode none
        S::KubePending => step_to(
            S::Init,
            vec![E::LabelRemove, write_mode(mode, M::None, now)],
            R::StopPendingOwnerLocal,
        ),
        // KUBE_READY | Stop | — → INIT: label remove; mode none
        S::KubeReady => step_to(
            S::Init,
            vec![E::LabelRemove, write_mode(mode, M::None, now)],
            R::StopReady,
        ),
        // KUBE_RUNNING | Stop | — → KUBE_STOPPED (INIT if owner=local): label remove;
        // bounded wait, else docker stop; record Down
        S::KubeRunning => stop_kube_running(c, o),
        // KUBE_STOPPED | Stop | owner=kube → KUBE_STOPPED: nothing (label kept)
        S::KubeStopped if kube => step_to(S::KubeStopped, vec![], R::StopKubeStoppedKeepsLabel),
        // KUBE_STOPPED | Stop | owner=local → INIT: label remove; mode none
        S::KubeStopped => step_to(
            S::Init,
            vec![E::LabelRemove, write_mode(mode, M::None, now)],
            R::StopKubeStoppedOwnerLocal,
        ),
    }
}

/// LOCAL | Stop: the label removed when the owner is kube (and by invariant 8 when it is
/// local), the local container stopped, owner none recorded.
fn stop_local(c: Ctx, o: StopOptions) -> Step {
    let Ctx { rec, now, kube, .. } = c;
    let mut effects = if kube { vec![E::LabelRemove] } else { vec![] };
    effects.push(E::DockerStop {
        target: local_target(rec),
        grace_secs: o.grace_secs,
    });
    effects.push(write_owner(CurrentOwner::None, None, now));
    step_to(S::Init, effects, R::StopLocal)
}

/// KUBE_RUNNING | Stop: the label removed, a bounded wait for the kube container to exit (else
/// docker stop), Down recorded.
fn stop_kube_running(c: Ctx, o: StopOptions) -> Step {
    let Ctx {
        rec,
        now,
        mode,
        kube,
        ..
    } = c;
    let (next, to_mode) = if kube {
        (S::KubeStopped, M::KubeStopped)
    } else {
        (S::Init, M::None)
    };
    let mut effects = vec![E::LabelRemove];
    if let Some(id) = rec.docker_id.clone() {
        effects.push(E::AwaitExit {
            id,
            timeout_secs: o.kube_exit_wait_secs,
            grace_secs: o.grace_secs,
        });
    }
    effects.push(write_both(mode, CurrentOwner::None, None, to_mode, now));
    step_to(next, effects, R::StopKubeRunning)
}

/// The rows of Kill: as Stop, with docker kill, Down recorded at once.
pub(super) fn kill(c: Ctx) -> Step {
    let Ctx {
        rec,
        cfg,
        now,
        mode,
        kube,
        ..
    } = c;
    match c.state {
        // any running | Kill | — → as Stop (LOCAL)
        S::Local => {
            let mut effects = if kube { vec![E::LabelRemove] } else { vec![] };
            effects.push(E::DockerKill {
                target: local_target(rec),
            });
            effects.push(write_owner(CurrentOwner::None, None, now));
            step_to(S::Init, effects, R::KillLocal)
        }
        // any running | Kill | — → as Stop (LOCAL_TO_KUBE, owner=kube)
        S::LocalToKube if kube => step_to(
            S::KubePending,
            vec![
                E::DockerKill {
                    target: local_target(rec),
                },
                write_owner(CurrentOwner::None, None, now),
            ],
            R::KillLocalKeepsPendingApproval,
        ),
        // any running | Kill | — → as Stop (LOCAL_TO_KUBE, owner=local)
        S::LocalToKube => step_to(
            S::Init,
            vec![
                E::LabelRemove,
                E::DockerKill {
                    target: local_target(rec),
                },
                write_both(mode, CurrentOwner::None, None, M::None, now),
            ],
            R::KillLocalToKubeOwnerLocal,
        ),
        // any running | Kill | — → as Stop (KUBE_RUNNING), docker kill, Down at once
        S::KubeRunning => {
            let (next, to_mode) = if kube {
                (S::KubeStopped, M::KubeStopped)
            } else {
                (S::Init, M::None)
            };
            let mut effects = vec![E::LabelRemove];
            if let Some(id) = rec.docker_id.clone() {
                effects.push(E::DockerKill {
                    target: Target::Id(id),
                });
            }
            effects.push(write_both(mode, CurrentOwner::None, None, to_mode, now));
            step_to(next, effects, R::KillKubeRunning)
        }
        // INIT, KUBE_PENDING, KUBE_READY, KUBE_STOPPED | Kill | — → as Stop: nothing runs
        S::Init | S::KubePending | S::KubeReady | S::KubeStopped => {
            let s = step(rec, cfg, Input::Stop(StopOptions::default()), now);
            Step {
                reason: R::KillAsStop,
                ..s
            }
        }
    }
}
