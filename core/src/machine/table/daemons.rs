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
        requested,
        ..
    } = c;
    match c.state {
        // LOCAL_TO_KUBE, KUBE_PENDING | Approve | — → by the unit's activity: a deviation from
        // DESIGN §4, see docs/decisions.md b, k and shape-1 (the unit's state is the record).
        S::LocalToKube | S::KubePending => by_unit(
            c,
            unit,
            ByUnit {
                restarts: R::ApproveRestartsUnit,
                starts_failed: R::ApproveStartsFailedUnit,
                finishes: R::ApproveFinishesRequestedStart,
                stopped: R::ApproveDeferredUnitStopped,
            },
        ),
        // any | Approve | start_requested_ts set: finish the start this system began
        s if requested => match unit {
            UnitActivity::Active => step_to(s, vec![], R::ApproveRequestDone),
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
    match c.state {
        // KUBE_READY, KUBE_STOPPED | FailureTimeout | owner=kube, fb, N>0, deadline passed:
        // a bare restart of a wanted unit; its Start falls back (StartFallsBackAfterDeadline).
        s @ (S::KubeReady | S::KubeStopped) if c.cfg.failure_detection_armed() => {
            if !c.fallback_due {
                return step_to(s, vec![], R::FailureNotDue);
            }
            by_unit(
                c,
                unit,
                ByUnit {
                    restarts: R::FailureRestartsUnit,
                    starts_failed: R::FailureStartsFailedUnit,
                    finishes: R::FailureFinishesRequestedStart,
                    stopped: R::FailureUnitStopped,
                },
            )
        }

        s => step_to(s, vec![], R::FailureNotApplicable),
    }
}

/// The reasons of a daemon's rows that go by the unit's activity.
struct ByUnit {
    restarts: R,
    starts_failed: R,
    finishes: R,
    stopped: R,
}

/// What a daemon does with a unit it wants running, by the unit's activity (docs/decisions.md
/// shape-1): an active unit gets its start limit reset and one try-restart job; a failed one is
/// marked (`start_requested_ts`), reset and started; one this system reset (marked) has its
/// start finished; an inactive one was stopped by the operator and is left alone.
fn by_unit(c: Ctx, unit: UnitActivity, r: ByUnit) -> Step {
    let Ctx {
        rec,
        cfg,
        now,
        state,
        mode,
        requested,
        ..
    } = c;
    match (unit, requested) {
        (UnitActivity::Active, _) => step_to(
            after_restart(rec, cfg, now),
            vec![E::SystemctlResetStartLimit, E::SystemctlTryRestart],
            r.restarts,
        ),
        (UnitActivity::Failed, false) => step_to(
            after_start(rec, cfg, now),
            vec![
                write_start_requested(Some(mode), true, now),
                E::SystemctlResetFailed,
                E::SystemctlStart,
            ],
            r.starts_failed,
        ),
        (_, true) => step_to(
            after_start(rec, cfg, now),
            vec![E::SystemctlResetFailed, E::SystemctlStart],
            r.finishes,
        ),
        (UnitActivity::Inactive, false) => step_to(state, vec![], r.stopped),
    }
}
