//! LocalUp, KubeUp and Down: what docker events and a kube container's ExecStartPre observe.

use crate::machine::table::{Ctx, step_to, write_both, write_mode, write_owner};
use crate::machine::{Effect as E, KubeAnswer, Reason as R, Step, StopOptions, Target};
use crate::types::{ContainerId, CurrentOwner, State as S, TransitionMode as M};

/// The rows of LocalUp.
pub(super) fn local_up(c: Ctx, id: ContainerId) -> Step {
    let Ctx {
        rec, now, state, ..
    } = c;
    match c.state {
        // INIT, LOCAL | LocalUp(id) | current_owner ≠ kube → LOCAL: record owner local + id
        S::Init | S::Local => {
            let effects = if state == S::Local && rec.docker_id.as_ref() == Some(&id) {
                vec![]
            } else {
                vec![write_owner(CurrentOwner::Local, Some(id), now)]
            };
            step_to(S::Local, effects, R::LocalUpRecorded)
        }
        // LOCAL_TO_KUBE | LocalUp(id) | — → LOCAL_TO_KUBE: record id
        S::LocalToKube => {
            let effects = if rec.docker_id.as_ref() == Some(&id) {
                vec![]
            } else {
                vec![write_owner(CurrentOwner::Local, Some(id), now)]
            };
            step_to(S::LocalToKube, effects, R::LocalUpIdRecorded)
        }
        // KUBE_PENDING | LocalUp(id) | — → LOCAL_TO_KUBE: record owner local + id
        S::KubePending => step_to(
            S::LocalToKube,
            vec![write_owner(CurrentOwner::Local, Some(id), now)],
            R::LocalUpWhilePending,
        ),
        // KUBE_READY, KUBE_RUNNING, KUBE_STOPPED | LocalUp(id) | — → same: refuse
        s @ (S::KubeReady | S::KubeRunning | S::KubeStopped) => step_to(
            s,
            vec![E::DockerStop {
                target: Target::Id(id),
                grace_secs: StopOptions::default().grace_secs,
            }],
            R::LocalUpRefusedWhileKube,
        ),
    }
}

/// The rows of KubeUp.
pub(super) fn kube_up(c: Ctx, id: ContainerId) -> Step {
    let Ctx {
        rec,
        now,
        mode,
        kube,
        ..
    } = c;
    match c.state {
        // any | KubeUp(id) | owner=local → same: parked
        s if !kube => step_to(
            s,
            vec![E::Answer(KubeAnswer::Park)],
            R::KubeUpParkedOwnerLocal,
        ),
        // KUBE_READY | KubeUp(id) | owner=kube → KUBE_RUNNING: record owner kube + id; proceed
        S::KubeReady => step_to(
            S::KubeRunning,
            vec![
                write_both(mode, CurrentOwner::Kube, Some(id), M::KubeRunning, now),
                E::Answer(KubeAnswer::Proceed),
            ],
            R::KubeUpProceeds,
        ),
        // INIT, KUBE_STOPPED | KubeUp(id) | owner=kube → KUBE_PENDING: mode kube_pending; wait
        S::Init | S::KubeStopped => step_to(
            S::KubePending,
            vec![
                write_mode(mode, M::KubePending, now),
                E::Answer(KubeAnswer::Wait),
            ],
            R::KubeUpRequestsApproval,
        ),
        // LOCAL | KubeUp(id) | owner=kube → LOCAL_TO_KUBE: mode kube_pending; wait
        S::Local => step_to(
            S::LocalToKube,
            vec![
                write_mode(mode, M::KubePending, now),
                E::Answer(KubeAnswer::Wait),
            ],
            R::KubeUpInterruptsLocal,
        ),
        // LOCAL_TO_KUBE, KUBE_PENDING | KubeUp(id) | owner=kube → same: wait
        s @ (S::LocalToKube | S::KubePending) => {
            step_to(s, vec![E::Answer(KubeAnswer::Wait)], R::KubeUpWaits)
        }
        // KUBE_RUNNING | KubeUp(id) | the recorded container asks again → proceed
        S::KubeRunning if rec.docker_id.as_ref() == Some(&id) => step_to(
            S::KubeRunning,
            vec![E::Answer(KubeAnswer::Proceed)],
            R::KubeUpAlreadyRunning,
        ),
        // KUBE_RUNNING | KubeUp(id) | the recorded container still runs (the caller checked) → wait
        S::KubeRunning => step_to(
            S::KubeRunning,
            vec![E::Answer(KubeAnswer::Wait)],
            R::KubeUpWaitsForOldContainer,
        ),
    }
}

/// The rows of Down.
pub(super) fn down(c: Ctx, id: ContainerId) -> Step {
    let Ctx {
        rec,
        now,
        mode,
        kube,
        ..
    } = c;
    match c.state {
        // any | Down(id) | id ≠ docker_id → same: nothing
        s if rec.docker_id.as_ref() != Some(&id) => step_to(s, vec![], R::DownNotOwner),
        // LOCAL | Down(id) | id = docker_id → INIT: record owner none
        S::Local => step_to(
            S::Init,
            vec![write_owner(CurrentOwner::None, None, now)],
            R::DownLocal,
        ),
        // LOCAL_TO_KUBE | Down(id) | id = docker_id → KUBE_PENDING: record owner none
        S::LocalToKube => step_to(
            S::KubePending,
            vec![write_owner(CurrentOwner::None, None, now)],
            R::DownLocalPending,
        ),
        // KUBE_RUNNING | Down(id) | id = docker_id → KUBE_STOPPED: owner none, mode kube_stopped
        S::KubeRunning if kube => step_to(
            S::KubeStopped,
            vec![write_both(
                mode,
                CurrentOwner::None,
                None,
                M::KubeStopped,
                now,
            )],
            R::DownKube,
        ),
        // KUBE_RUNNING | Down(id) | id = docker_id, owner=local → INIT: owner none, mode none
        S::KubeRunning => step_to(
            S::Init,
            vec![write_both(mode, CurrentOwner::None, None, M::None, now)],
            R::DownKubeOwnerLocal,
        ),

        s => step_to(s, vec![], R::DownNotOwner),
    }
}
