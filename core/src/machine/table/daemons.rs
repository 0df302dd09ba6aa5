//! Approve (hostcfgd-watcher) and FailureTimeout (kube-monit): what the daemons feed.

use crate::machine::table::{Ctx, after_restart, after_start, step_to, write_start_requested};
use crate::machine::{Effect as E, Reason as R, Step};
use crate::types::{State as S, UnitActivity};

/// The rows of Approve.
pub(super) fn approve(c: Ctx, unit: UnitActivity) -> Step {
    let Ctx {
        rec,
        cfg,
        now,
        state,
        mode,
        requested,
        ..
    } = c;
    match c.state {
        // LOCAL_TO_KUBE, KUBE_PENDING | Approve | — → by the unit's activity: a deviation from
        // DESIGN §4, see docs/decisions.md b, k and shape-1 (the unit's state is the record).
        S::LocalToKube | S::KubePending => match (unit, requested) {
            (UnitActivity::Active, _) => step_to(
                after_restart(rec, cfg, now),
                vec![E::SystemctlResetStartLimit, E::SystemctlTryRestart],
                R::ApproveRestartsUnit,
            ),
            (UnitActivity::Failed, false) => step_to(
                after_start(rec, cfg, now),
                vec![
                    write_start_requested(Some(mode), true, now),
                    E::SystemctlResetFailed,
                    E::SystemctlStart,
                ],
                R::ApproveStartsFailedUnit,
            ),
            (_, true) => step_to(
                after_start(rec, cfg, now),
                vec![E::SystemctlResetFailed, E::SystemctlStart],
                R::ApproveFinishesRequestedStart,
            ),
            (UnitActivity::Inactive, false) => {
                step_to(state, vec![], R::ApproveDeferredUnitStopped)
            }
        },
        // any | Approve | start_requested_ts set: finish the start this system began
        s if requested => match unit {
            UnitActivity::Active => step_to(
                s,
                vec![write_start_requested(None, false, now)],
                R::ApproveRequestDone,
            ),
            UnitActivity::Inactive | UnitActivity::Failed => step_to(
                after_start(rec, cfg, now),
                vec![E::SystemctlResetFailed, E::SystemctlStart],
                R::ApproveFinishesRequestedStart,
            ),
        },

        s => step_to(s, vec![], R::ApproveNothingPending),
    }
}

/// The rows of FailureTimeout.
pub(super) fn failure_timeout(c: Ctx, unit: UnitActivity) -> Step {
    let Ctx {
        rec,
        cfg,
        now,
        mode,
        requested,
        fallback_due,
        ..
    } = c;
    match c.state {
        // KUBE_READY, KUBE_STOPPED | FailureTimeout | owner=kube, fb, N>0, deadline passed:
        // a bare restart of a wanted unit; its Start falls back (StartFallsBackAfterDeadline).
        s @ (S::KubeReady | S::KubeStopped) if cfg.failure_detection_armed() => {
            if !fallback_due {
                return step_to(s, vec![], R::FailureNotDue);
            }
            match (unit, requested) {
                (UnitActivity::Active, _) => step_to(
                    after_restart(rec, cfg, now),
                    vec![E::SystemctlResetStartLimit, E::SystemctlTryRestart],
                    R::FailureRestartsUnit,
                ),
                (UnitActivity::Failed, false) => step_to(
                    after_start(rec, cfg, now),
                    vec![
                        write_start_requested(Some(mode), true, now),
                        E::SystemctlResetFailed,
                        E::SystemctlStart,
                    ],
                    R::FailureStartsFailedUnit,
                ),
                (_, true) => step_to(
                    after_start(rec, cfg, now),
                    vec![E::SystemctlResetFailed, E::SystemctlStart],
                    R::FailureFinishesRequestedStart,
                ),
                (UnitActivity::Inactive, false) => step_to(s, vec![], R::FailureUnitStopped),
            }
        }

        s => step_to(s, vec![], R::FailureNotApplicable),
    }
}
