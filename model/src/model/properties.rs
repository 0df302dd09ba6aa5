//! The properties of DESIGN.md §4, as stateright properties of the world.

use ctrmgr_core::{CurrentOwner, Owner, State, approval_pending, next_deadline};
use stateright::Property;

use crate::world::{Id, Kube, Unit, World};

use super::FeatureWorld;

/// The kube container with the recorded id runs and has claimed the feature, in KUBE_RUNNING.
fn kube_runs(w: &World) -> bool {
    w.row.state() == State::KubeRunning
        && w.claimed().is_some_and(|k| w.row.id == Some(Id::Kube(k)))
}

/// The local container runs and is recorded, in LOCAL.
fn local_runs(w: &World) -> bool {
    w.row.state() == State::Local && w.row.id == Some(Id::Local) && w.local.running
}

/// Invariant 3 for a stable state: the record says what runs.
fn record_is_truth(w: &World) -> bool {
    let local_ok = (w.row.owner == CurrentOwner::Local) == w.local.running
        && (w.row.owner != CurrentOwner::Local || w.row.id == Some(Id::Local));
    let kube_ok = (w.row.owner == CurrentOwner::Kube) == w.claimed().is_some()
        && (w.row.owner != CurrentOwner::Kube || w.row.id == w.claimed().map(Id::Kube));
    let id_ok = w.row.id.is_some() == (w.row.owner != CurrentOwner::None);
    local_ok && kube_ok && id_ok
}

/// Liveness 5a no longer applies on this path (a monotone fact): a fault happened, the
/// operator stopped the unit for good, kube does not deploy, or the owner is local for good.
fn kube_liveness_excluded(w: &World) -> bool {
    w.faulted
        || w.operator.lone_stop
        || w.kube == Kube::Never
        || !w.manifest
        || (w.cfg.owner == Owner::Local && w.budget.change == 0)
}

/// Liveness 5b does not apply on this path: a fault happened, the operator stopped the unit
/// for good, kube deploys, or fallback with failure detection is not configured.
fn fallback_liveness_excluded(w: &World) -> bool {
    w.faulted || w.operator.lone_stop || w.kube == Kube::Deploys || !w.cfg.fb || !w.cfg.n
}

/// Property names, as reported.
pub mod names {
    /// Invariant 1.
    pub const INV1: &str = "inv1: a kube container claims only from kube_ready, set only by a kube Start or an approval after a stop";
    /// Invariant 2.
    pub const INV2: &str = "inv2: never two owners running";
    /// Invariant 3.
    pub const INV3: &str = "inv3: the record is the truth in settled stable states";
    /// Invariant 4.
    pub const INV4: &str =
        "inv4: owner local, stop then start ends in LOCAL with no kube container claimed";
    /// Liveness 5a, as stateright's `eventually`.
    pub const LIVE_KUBE: &str =
        "liveness 5a: owner kube, kube deploying, no faults: eventually KUBE_RUNNING";
    /// Liveness 5b, as stateright's `eventually`.
    pub const LIVE_LOCAL: &str =
        "liveness 5b: fb, N>0, kube never deploying, no faults: eventually LOCAL";
    /// Liveness 5a and 7 over end states.
    pub const END_KUBE: &str = "liveness 5a+7 (end states): owner kube, manifest present, after the last fault (crashes of daemons at any step, master down, crash-looping kube with a start limit): rests in KUBE_RUNNING unless the operator stopped the unit";
    /// Liveness 5b and 7 over end states.
    pub const END_FALLBACK: &str = "liveness 5b+7 (end states): owner kube, fb, N>0, no manifest, after the last fault: rests in LOCAL unless the operator stopped the unit";
    /// Owner local over end states.
    pub const END_LOCAL: &str = "liveness (end states): owner local, after the last fault: rests in LOCAL unless the operator stopped the unit";
    /// Invariant 6.
    pub const INV6: &str =
        "inv6: after an operator's stop, no unit start until an operator's start";
    /// Invariant 8 over end states.
    pub const END_LABEL_LOCAL: &str =
        "inv8 (end states): owner local: the node label is off (or its removal queued)";
    /// The model's own soundness.
    pub const SOUND: &str = "model: container ids suffice, every effect is understood, every asking container is answered";
    /// Reachability checks.
    pub const SOMETIMES_RUNNING: &str = "sometimes: KUBE_RUNNING";
    /// Reachability checks.
    pub const SOMETIMES_LOCAL_TO_KUBE: &str = "sometimes: LOCAL_TO_KUBE";
    /// Reachability checks.
    pub const SOMETIMES_QUEUED: &str = "sometimes: a label operation queued, kubelet stopped";
    /// Reachability checks.
    pub const SOMETIMES_APPROVAL: &str = "sometimes: hostcfgd approving";
    /// Reachability checks.
    pub const SOMETIMES_FALLBACK: &str = "sometimes: kube-monit falling back";
    /// Reachability checks.
    pub const SOMETIMES_HELD_PENDING: &str =
        "sometimes: the operator stopped the unit while a kube container waits for approval";
    /// Reachability checks.
    pub const SOMETIMES_HELD_DUE: &str =
        "sometimes: the operator stopped the unit and kube-monit's deadline passed";
    /// Reachability checks.
    pub const SOMETIMES_START_LIMIT: &str =
        "sometimes: systemd refused a start (StartLimitBurst) and the unit failed";
    /// Reachability checks.
    pub const SOMETIMES_MARKED_INACTIVE: &str = "sometimes: a daemon reset the unit and has not started it yet (start_requested_ts, unit inactive)";
}

/// Every property the model checks.
pub(super) fn all() -> Vec<Property<FeatureWorld>> {
    use names::*;
    vec![
        Property::always(INV1, |_: &FeatureWorld, w: &World| w.ghost.inv1),
        Property::always(INV2, |_: &FeatureWorld, w: &World| {
            !(w.local.running && w.claimed().is_some())
        }),
        Property::always(INV3, |m: &FeatureWorld, w: &World| {
            !w.row.state().is_stable() || record_is_truth(w) || !m.is_settled(w)
        }),
        Property::always(INV4, |_: &FeatureWorld, w: &World| w.ghost.inv4),
        Property::eventually(LIVE_KUBE, |_: &FeatureWorld, w: &World| {
            kube_runs(w) || kube_liveness_excluded(w)
        }),
        Property::eventually(LIVE_LOCAL, |_: &FeatureWorld, w: &World| {
            local_runs(w) || fallback_liveness_excluded(w)
        }),
        Property::always(INV6, |_: &FeatureWorld, w: &World| w.ghost.inv6),
        // Terminal states come after Retire, which ends every fault budget: these are
        // judged after the last fault, on faulted runs as on fault-free ones.
        Property::always(END_KUBE, |m: &FeatureWorld, w: &World| {
            let applies = !w.operator.held_down
                && w.kube == Kube::Deploys
                && w.manifest
                && w.cfg.owner == Owner::Kube;
            !applies || kube_runs(w) || !m.is_terminal(w)
        }),
        Property::always(END_FALLBACK, |m: &FeatureWorld, w: &World| {
            let applies = !w.operator.held_down
                && w.cfg.owner == Owner::Kube
                && w.cfg.fb
                && w.cfg.n
                && !w.manifest;
            !applies || local_runs(w) || !m.is_terminal(w)
        }),
        Property::always(END_LOCAL, |m: &FeatureWorld, w: &World| {
            let applies = !w.operator.held_down && w.cfg.owner == Owner::Local;
            !applies || local_runs(w) || !m.is_terminal(w)
        }),
        Property::always(END_LABEL_LOCAL, |m: &FeatureWorld, w: &World| {
            let applies = w.operator.booted && w.cfg.owner == Owner::Local;
            !applies
                || match w.pending {
                    Some(v) => !v,
                    None => !w.label,
                }
                || !m.is_terminal(w)
        }),
        Property::always(SOUND, |_: &FeatureWorld, w: &World| w.ghost.sound),
        Property::sometimes(SOMETIMES_RUNNING, |_: &FeatureWorld, w: &World| {
            kube_runs(w)
        }),
        Property::sometimes(SOMETIMES_LOCAL_TO_KUBE, |_: &FeatureWorld, w: &World| {
            w.row.state() == State::LocalToKube
        }),
        Property::sometimes(SOMETIMES_QUEUED, |_: &FeatureWorld, w: &World| {
            w.pending.is_some()
        }),
        Property::sometimes(SOMETIMES_APPROVAL, |_: &FeatureWorld, w: &World| {
            w.hostcfgd.plan.is_some()
        }),
        Property::sometimes(SOMETIMES_FALLBACK, |_: &FeatureWorld, w: &World| {
            w.monit.is_some()
        }),
        Property::sometimes(SOMETIMES_HELD_PENDING, |_: &FeatureWorld, w: &World| {
            w.operator.held_down && approval_pending(&w.row.to_record())
        }),
        Property::sometimes(SOMETIMES_HELD_DUE, |_: &FeatureWorld, w: &World| {
            w.operator.held_down
                && w.row.due
                && next_deadline(&w.row.to_record(), &w.cfg.to_core()).is_some()
        }),
        Property::sometimes(SOMETIMES_START_LIMIT, |_: &FeatureWorld, w: &World| {
            w.unit == Unit::Failed
        }),
        Property::sometimes(SOMETIMES_MARKED_INACTIVE, |_: &FeatureWorld, w: &World| {
            w.row.requested && w.unit == Unit::Inactive
        }),
    ]
}
