//! Start, Stop and Kill: the systemd unit's ExecStartPre, its ExecStop, and a kill.

use crate::machine::table::{Ctx, local_target, step_to, write_both, write_mode, write_owner};
use crate::machine::{Effect as E, Input, Reason as R, Step, StopOptions, Target, step};
use crate::types::{ContainerId, CurrentOwner, State as S, TransitionMode as M};

/// The rows of Start.
pub(super) fn start(c: Ctx) -> Step {
    let Ctx { now, mode, .. } = c;
    match c.state {
        S::Init => start_from_init(c),
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
        S::KubeReady | S::KubeStopped if c.fallback_due => step_to(
            S::Local,
            vec![write_mode(mode, M::None, now), E::LabelAdd, E::DockerStart],
            R::StartFallsBackAfterDeadline,
        ),
        S::KubePending => start_from_pending(c),
        S::KubeStopped => start_from_stopped(c),
        // KUBE_READY, KUBE_RUNNING, LOCAL_TO_KUBE | Start | — → same: idempotent
        s @ (S::KubeReady | S::KubeRunning | S::LocalToKube) => {
            step_to(s, c.label_if_kube(), R::StartAlreadyUnderWay)
        }
    }
}

/// The rows of Start from INIT.
fn start_from_init(c: Ctx) -> Step {
    if !c.kube {
        // INIT | Start | owner=local → LOCAL: docker start local; record owner local + id
        step_to(S::Local, vec![E::DockerStart], R::StartLocal)
    } else if c.cfg.fallback_to_local {
        // INIT | Start | owner=kube, fb → LOCAL: label add; docker start local; record
        step_to(
            S::Local,
            vec![E::LabelAdd, E::DockerStart],
            R::StartKubeFallbackLocal,
        )
    } else {
        // INIT | Start | owner=kube, !fb → KUBE_READY: mode kube_ready; label add
        //   (first docker stop the local container by name: a `container start` killed between
        //   its docker start and its record left it running unrecorded, and a failed unit is
        //   started again without its ExecStop; the kube container about to be approved must
        //   not run beside it; a no-op otherwise; docs/decisions.md crash-1)
        to_kube_ready(c, R::StartKubeApproved)
    }
}

/// The rows of Start from KUBE_PENDING.
fn start_from_pending(c: Ctx) -> Step {
    if c.kube {
        // KUBE_PENDING | Start | owner=kube → KUBE_READY: mode kube_ready; label add
        //   (first docker stop the local container by name, as INIT | Start; crash-1)
        to_kube_ready(c, R::StartApprovesPending)
    } else {
        // KUBE_PENDING | Start | owner=local → LOCAL: label remove; mode none; docker start
        step_to(
            S::Local,
            vec![
                E::LabelRemove,
                write_mode(c.mode, M::None, c.now),
                E::DockerStart,
            ],
            R::StartLocalDropsPending,
        )
    }
}

/// The rows of Start from KUBE_STOPPED, its deadline not passed (see [`start`]).
fn start_from_stopped(c: Ctx) -> Step {
    if c.kube {
        // KUBE_STOPPED | Start | owner=kube → KUBE_READY: mode kube_ready; label add
        //   (first docker stop the local container by name, as INIT | Start; crash-1)
        to_kube_ready(c, R::StartKubeAfterStopped)
    } else {
        // KUBE_STOPPED | Start | owner=local → LOCAL: mode none; docker start local
        step_to(
            S::Local,
            vec![write_mode(c.mode, M::None, c.now), E::DockerStart],
            R::StartLocalAfterStopped,
        )
    }
}

/// → KUBE_READY: docker stop the local container by name (crash-1); mode kube_ready; label add.
fn to_kube_ready(c: Ctx, reason: R) -> Step {
    step_to(
        S::KubeReady,
        vec![
            stop_local_by_name(),
            write_mode(c.mode, M::KubeReady, c.now),
            E::LabelAdd,
        ],
        reason,
    )
}

/// The rows of Stop.
pub(super) fn stop(c: Ctx, o: StopOptions) -> Step {
    let Ctx {
        now, mode, kube, ..
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
        S::Local => halt_local(c, Halt::Stop(o)),
        // LOCAL_TO_KUBE | Stop | owner=kube → KUBE_PENDING: docker stop local; label kept
        S::LocalToKube if kube => halt_local_keeping_approval(c, Halt::Stop(o)),
        // LOCAL_TO_KUBE | Stop | owner=local → INIT: label remove; docker stop; mode none
        S::LocalToKube => halt_local_dropping_approval(c, Halt::Stop(o)),
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
        S::KubeRunning => halt_kube_running(c, Halt::Stop(o)),
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

/// The rows of Kill: as Stop, with docker kill, Down recorded at once.
pub(super) fn kill(c: Ctx) -> Step {
    let Ctx {
        rec,
        cfg,
        now,
        kube,
        ..
    } = c;
    match c.state {
        // any running | Kill | — → as Stop (LOCAL)
        S::Local => halt_local(c, Halt::Kill),
        // any running | Kill | — → as Stop (LOCAL_TO_KUBE, owner=kube)
        S::LocalToKube if kube => halt_local_keeping_approval(c, Halt::Kill),
        // any running | Kill | — → as Stop (LOCAL_TO_KUBE, owner=local)
        S::LocalToKube => halt_local_dropping_approval(c, Halt::Kill),
        // any running | Kill | — → as Stop (KUBE_RUNNING), docker kill, Down at once
        S::KubeRunning => halt_kube_running(c, Halt::Kill),
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

/// How a Stop or a Kill ends the container that runs: the rows of Kill are those of Stop with
/// docker kill, and Down recorded at once.
#[derive(Clone, Copy)]
enum Halt {
    Stop(StopOptions),
    Kill,
}

impl Halt {
    /// Ends the local container (the recorded id, else by name).
    fn local(self, c: Ctx) -> E {
        let target = local_target(c.rec);
        match self {
            Halt::Stop(o) => E::DockerStop {
                target,
                grace_secs: o.grace_secs,
            },
            Halt::Kill => E::DockerKill { target },
        }
    }

    /// Ends the kube container `id`: a Stop waits (bounded) for kubelet to stop it after the
    /// label removal, else docker stops it; a Kill kills it.
    fn kube(self, id: ContainerId) -> E {
        match self {
            Halt::Stop(o) => E::AwaitExit {
                id,
                timeout_secs: o.kube_exit_wait_secs,
                grace_secs: o.grace_secs,
            },
            Halt::Kill => E::DockerKill {
                target: Target::Id(id),
            },
        }
    }

    fn reason(self, stop: R, kill: R) -> R {
        match self {
            Halt::Stop(_) => stop,
            Halt::Kill => kill,
        }
    }
}

/// LOCAL | Stop, Kill → INIT: label remove if owner=kube (and, by invariant 8, when it is
/// local); end the local container; owner none.
fn halt_local(c: Ctx, how: Halt) -> Step {
    let mut effects = if c.kube { vec![E::LabelRemove] } else { vec![] };
    effects.push(how.local(c));
    effects.push(write_owner(CurrentOwner::None, None, c.now));
    step_to(S::Init, effects, how.reason(R::StopLocal, R::KillLocal))
}

/// LOCAL_TO_KUBE | Stop, Kill | owner=kube → KUBE_PENDING: end the local container; the label
/// and the pending approval are kept.
fn halt_local_keeping_approval(c: Ctx, how: Halt) -> Step {
    step_to(
        S::KubePending,
        vec![how.local(c), write_owner(CurrentOwner::None, None, c.now)],
        how.reason(
            R::StopLocalKeepsPendingApproval,
            R::KillLocalKeepsPendingApproval,
        ),
    )
}

/// LOCAL_TO_KUBE | Stop, Kill | owner=local → INIT: label remove; end the local container;
/// owner none, mode none.
fn halt_local_dropping_approval(c: Ctx, how: Halt) -> Step {
    step_to(
        S::Init,
        vec![
            E::LabelRemove,
            how.local(c),
            write_both(c.mode, CurrentOwner::None, None, M::None, c.now),
        ],
        how.reason(R::StopLocalToKubeOwnerLocal, R::KillLocalToKubeOwnerLocal),
    )
}

/// KUBE_RUNNING | Stop, Kill → KUBE_STOPPED (INIT if owner=local): label remove; end the kube
/// container; record Down.
fn halt_kube_running(c: Ctx, how: Halt) -> Step {
    let (next, to_mode) = if c.kube {
        (S::KubeStopped, M::KubeStopped)
    } else {
        (S::Init, M::None)
    };
    let mut effects = vec![E::LabelRemove];
    if let Some(id) = c.rec.docker_id.clone() {
        effects.push(how.kube(id));
    }
    effects.push(write_both(c.mode, CurrentOwner::None, None, to_mode, c.now));
    step_to(
        next,
        effects,
        how.reason(R::StopKubeRunning, R::KillKubeRunning),
    )
}

/// `docker stop` of the local container by name, before a Start hands the feature over to
/// kube: a `container start` killed between its docker start and its record leaves that
/// container running unrecorded (docs/decisions.md, crash-1); a no-op when it does not run.
fn stop_local_by_name() -> E {
    E::DockerStop {
        target: Target::LocalByName,
        grace_secs: StopOptions::default().grace_secs,
    }
}
