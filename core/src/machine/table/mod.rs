//! The rows of DESIGN.md §4, one function per input, on the state the record reads as.
//!
//! Every arm cites its row of the table as `STATE | Input | condition → NEXT: effects`.

mod commands;
mod daemons;
mod observed;

use crate::machine::{
    Effect, Input, OwnerWrite, Reason, StateWrite, Step, StopOptions, Target, apply_writes,
    next_deadline,
};
use crate::types::{
    ContainerId, CurrentOwner, FeatureConfig, FeatureRecord, Owner, State, Timestamp,
    TransitionMode,
};

/// What every row looks at: the record, the config, `now`, and what they imply.
#[derive(Clone, Copy)]
struct Ctx<'a> {
    rec: &'a FeatureRecord,
    cfg: &'a FeatureConfig,
    now: Timestamp,
    /// The state the record reads as.
    state: State,
    /// The configured owner is kube.
    kube: bool,
    /// The mode recorded (the guard of every mode write).
    mode: TransitionMode,
    /// This system reset the unit to start it (start_requested_ts), and has not seen the Start.
    requested: bool,
    /// kube-monit's deadline has passed: a Start from KUBE_READY or KUBE_STOPPED falls back.
    fallback_due: bool,
}

impl Ctx<'_> {
    /// A label add when the owner is kube, else nothing.
    fn label_if_kube(&self) -> Vec<Effect> {
        if self.kube {
            vec![Effect::LabelAdd]
        } else {
            vec![]
        }
    }
}

/// The rows of DESIGN.md §4, on the state the record reads as.
pub(super) fn step_by_table(
    rec: &FeatureRecord,
    cfg: &FeatureConfig,
    input: Input,
    now: Timestamp,
) -> Step {
    let c = Ctx {
        rec,
        cfg,
        now,
        state: rec.state(),
        kube: cfg.set_owner == Owner::Kube,
        mode: rec.transition_mode,
        requested: rec.start_requested_ts.is_some(),
        fallback_due: next_deadline(rec, cfg).is_some_and(|d| now >= d),
    };
    match input {
        Input::Start => commands::start(c),
        Input::Stop(o) => commands::stop(c, o),
        Input::Kill => commands::kill(c),
        Input::LocalUp(id) => observed::local_up(c, id),
        Input::KubeUp(id) => observed::kube_up(c, id),
        Input::Down(id) => observed::down(c, id),
        Input::Approve { unit } => daemons::approve(c, unit),
        Input::FailureTimeout { unit } => daemons::failure_timeout(c, unit),
    }
}

fn step_to(next: State, effects: Vec<Effect>, reason: Reason) -> Step {
    Step {
        next,
        effects,
        reason,
    }
}

/// The container a local Stop/Kill acts on: the recorded id, else the feature's name.
fn local_target(rec: &FeatureRecord) -> Target {
    rec.docker_id
        .clone()
        .map_or(Target::LocalByName, Target::Id)
}

fn write_owner(owner: CurrentOwner, docker_id: Option<ContainerId>, now: Timestamp) -> Effect {
    Effect::Write(StateWrite {
        guard: None,
        owner: Some(OwnerWrite { owner, docker_id }),
        mode: None,
        start_requested: None,
        now,
    })
}

fn write_mode(guard: TransitionMode, mode: TransitionMode, now: Timestamp) -> Effect {
    Effect::Write(StateWrite {
        guard: Some(guard),
        owner: None,
        mode: Some(mode),
        start_requested: None,
        now,
    })
}

/// Sets (`true`, guarded on the mode a daemon decided on) or clears (`false`, unguarded)
/// `start_requested_ts`.
pub(super) fn write_start_requested(
    guard: Option<TransitionMode>,
    requested: bool,
    now: Timestamp,
) -> Effect {
    Effect::Write(StateWrite {
        guard,
        owner: None,
        mode: None,
        start_requested: Some(requested),
        now,
    })
}

fn write_both(
    guard: TransitionMode,
    owner: CurrentOwner,
    docker_id: Option<ContainerId>,
    mode: TransitionMode,
    now: Timestamp,
) -> Effect {
    Effect::Write(StateWrite {
        guard: Some(guard),
        owner: Some(OwnerWrite { owner, docker_id }),
        mode: Some(mode),
        start_requested: None,
        now,
    })
}

/// The state a Start leads to from `rec` (for the `next` of a step whose effect starts the
/// unit).
pub(super) fn after_start(rec: &FeatureRecord, cfg: &FeatureConfig, now: Timestamp) -> State {
    step_by_table(rec, cfg, Input::Start, now).next
}

/// The state a restart (the unit's Stop, then its Start) leads to from `rec`.
pub(super) fn after_restart(rec: &FeatureRecord, cfg: &FeatureConfig, now: Timestamp) -> State {
    let stop = step_by_table(rec, cfg, Input::Stop(StopOptions::default()), now);
    let mut stopped = rec.clone();
    apply_writes(&mut stopped, &stop.effects);
    after_start(&stopped, cfg, now)
}
