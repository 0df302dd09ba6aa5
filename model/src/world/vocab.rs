//! The world's vocabulary, translated to and from `ctrmgr-core`'s types: container ids, the
//! STATE_DB row, the configuration, inputs, write targets and effects.

use std::fmt;

use ctrmgr_core::{
    ContainerId, CurrentOwner, Effect, FeatureConfig, FeatureRecord, Input, KubeAnswer, Owner,
    State, StopOptions, Target, Timestamp, TransitionMode, UnitActivity,
};

use super::NOW;

/// A container in the model: the feature's local container, or a kube-deployed container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Id {
    /// The local container (one container, restarted with `docker start`, so one id).
    Local,
    /// A kube-deployed container; every container kubelet starts gets a new number.
    Kube(u8),
}

impl Id {
    /// The id as `ctrmgr-core` sees it.
    pub(crate) fn to_core(self) -> ContainerId {
        let text = match self {
            Id::Local => "local".to_owned(),
            Id::Kube(n) => format!("kube{n}"),
        };
        // The model's own constant spellings are valid container ids.
        ContainerId::new(&text).expect("model container ids are valid")
    }

    /// The model's id for an id that `step` echoed back; `None` for an id the model never made.
    pub(crate) fn from_core(id: &ContainerId) -> Option<Id> {
        match id.as_str() {
            "local" => Some(Id::Local),
            s => s
                .strip_prefix("kube")
                .and_then(|n| n.parse().ok())
                .map(Id::Kube),
        }
    }
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Local => f.write_str("local"),
            Id::Kube(n) => write!(f, "kube{n}"),
        }
    }
}

/// The STATE_DB `FEATURE|<f>` row, without timestamps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Row {
    /// `current_owner`.
    pub owner: CurrentOwner,
    /// `docker_id`.
    pub id: Option<Id>,
    /// `transition_mode`.
    pub mode: TransitionMode,
    /// kube-monit's deadline for this mode has passed (time passed since the mode was last
    /// written); cleared by every write of the mode.
    pub due: bool,
    /// `start_requested_ts` is set: a daemon reset the failed unit to start it.
    pub requested: bool,
}

impl Row {
    /// The record `step` reads.
    pub(crate) fn to_record(self) -> FeatureRecord {
        FeatureRecord {
            current_owner: self.owner,
            current_owner_update_ts: None,
            docker_id: self.id.map(Id::to_core),
            transition_mode: self.mode,
            transition_mode_update_ts: Some(if self.due { Timestamp::EPOCH } else { NOW }),
            start_requested_ts: self.requested.then_some(NOW),
        }
    }

    /// The state of DESIGN.md §4 this row is read as (core's total rule; the canonical pairs
    /// are looked up without building a record, as this is asked for every state).
    pub fn state(self) -> State {
        let id_fits = match self.owner {
            CurrentOwner::None => self.id.is_none(),
            CurrentOwner::Kube => self.id.is_some(),
            CurrentOwner::Local => true,
        };
        State::ALL
            .into_iter()
            .find(|s| id_fits && s.pair() == (self.owner, self.mode))
            .unwrap_or_else(|| self.to_record().state())
    }
}

/// CONFIG_DB `FEATURE|<f>`: owner, fallback, and whether failure detection is on (`N > 0`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Cfg {
    /// `set_owner`.
    pub owner: Owner,
    /// `fallback_to_local`.
    pub fb: bool,
    /// `kube_failure_detection > 0` (the model uses one minute).
    pub n: bool,
}

impl Cfg {
    /// The configuration `step` reads.
    pub(crate) fn to_core(self) -> FeatureConfig {
        FeatureConfig {
            set_owner: self.owner,
            fallback_to_local: self.fb,
            kube_failure_detection_mins: u32::from(self.n),
            state: None,
            ..FeatureConfig::default()
        }
    }
}

/// An input of DESIGN.md §4, with model ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum In {
    /// `container start`.
    Start,
    /// `container stop`.
    Stop,
    /// The local container is up.
    LocalUp(Id),
    /// A kube container asks to run.
    KubeUp(Id),
    /// A container went down.
    Down(Id),
    /// hostcfgd approves; what `systemctl is-active` said when it looked.
    Approve(UnitActivity),
    /// kube-monit's deadline passed; what `systemctl is-active` said when it looked.
    FailureTimeout(UnitActivity),
}

impl In {
    /// The input as `ctrmgr-core` sees it.
    pub(crate) fn to_core(self) -> Input {
        match self {
            In::Start => Input::Start,
            In::Stop => Input::Stop(StopOptions::default()),
            In::LocalUp(id) => Input::LocalUp(id.to_core()),
            In::KubeUp(id) => Input::KubeUp(id.to_core()),
            In::Down(id) => Input::Down(id.to_core()),
            In::Approve(unit) => Input::Approve { unit },
            In::FailureTimeout(unit) => Input::FailureTimeout { unit },
        }
    }
}

/// The target of a `docker stop`/`docker kill`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Tgt {
    /// A container by id.
    Id(Id),
    /// The local container by its name.
    LocalByName,
}

/// A STATE_DB write: compare-and-set guard, owner fields, mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Wr {
    /// Write only if `transition_mode` still has this value.
    pub guard: Option<TransitionMode>,
    /// New `current_owner` and `docker_id`.
    pub owner: Option<(CurrentOwner, Option<Id>)>,
    /// New `transition_mode`.
    pub mode: Option<TransitionMode>,
    /// Set (`true`) or clear (`false`) `start_requested_ts`.
    pub start_requested: Option<bool>,
}

/// An effect of `step`, with model ids. Mirrors [`Effect`] one to one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Eff {
    /// Add the node label.
    LabelAdd,
    /// Remove the node label.
    LabelRemove,
    /// `docker start` the local container; then feed LocalUp.
    DockerStart,
    /// `docker stop` (graceful: the container's pre-stop records Down).
    DockerStop(Tgt),
    /// `docker kill` (no pre-stop).
    DockerKill(Tgt),
    /// Wait for a kube container to exit (bounded; then `docker stop`).
    AwaitExit(Id),
    /// Write the row.
    Write(Wr),
    /// `systemctl stop` (the operator's; `step` never asks for it).
    SystemctlStop,
    /// `systemctl start`.
    SystemctlStart,
    /// `systemctl reset-failed`.
    SystemctlResetFailed,
    /// `systemctl reset-failed` if the unit is still active (is-active, then reset-failed;
    /// one action: the model takes the microseconds between them as atomic).
    SystemctlResetStartLimit,
    /// `systemctl try-restart`.
    SystemctlTryRestart,
    /// `systemctl restart` (wave 1's kube-monit only; `step` never asks for it).
    SystemctlRestart,
    /// Answer the asking kube container.
    Answer(KubeAnswer),
    /// An effect naming a container the model never made (a model error; flagged).
    Unknown,
}

impl Eff {
    /// Translates one of `step`'s effects.
    pub(crate) fn from_core(e: &Effect) -> Eff {
        let tgt = |t: &Target| match t {
            Target::LocalByName => Some(Tgt::LocalByName),
            Target::Id(id) => Id::from_core(id).map(Tgt::Id),
        };
        match e {
            Effect::LabelAdd => Eff::LabelAdd,
            Effect::LabelRemove => Eff::LabelRemove,
            Effect::DockerStart => Eff::DockerStart,
            Effect::DockerStop { target, .. } => tgt(target).map_or(Eff::Unknown, Eff::DockerStop),
            Effect::DockerKill { target } => tgt(target).map_or(Eff::Unknown, Eff::DockerKill),
            Effect::AwaitExit { id, .. } => Id::from_core(id).map_or(Eff::Unknown, Eff::AwaitExit),
            Effect::Write(w) => {
                let owner = match &w.owner {
                    None => Some(None),
                    Some(o) => match &o.docker_id {
                        None => Some(Some((o.owner, None))),
                        Some(id) => Id::from_core(id).map(|id| Some((o.owner, Some(id)))),
                    },
                };
                match owner {
                    Some(owner) => Eff::Write(Wr {
                        guard: w.guard,
                        owner,
                        mode: w.mode,
                        start_requested: w.start_requested,
                    }),
                    None => Eff::Unknown,
                }
            }
            Effect::SystemctlResetFailed => Eff::SystemctlResetFailed,
            Effect::SystemctlResetStartLimit => Eff::SystemctlResetStartLimit,
            Effect::SystemctlTryRestart => Eff::SystemctlTryRestart,
            Effect::SystemctlStart => Eff::SystemctlStart,
            Effect::Answer(a) => Eff::Answer(*a),
        }
    }
}
