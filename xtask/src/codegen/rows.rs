//! Every state on its canonical record, fed every input kind in every variant under every
//! configuration: the outcomes the document's rows are made of.

use ctrmgr_core::{
    ContainerId, FeatureConfig, FeatureRecord, Input, Owner, Reason, State, StopOptions, Timestamp,
    UnitActivity, step,
};

use super::*;

/// The `now` of every step, and the `transition_mode_update_ts` of every record.
pub(super) const T0: Timestamp = Timestamp::from_secs(1_700_000_000);
/// The failure-detection minutes used for "N > 0".
pub(super) const N_MINUTES: u32 = 5;

/// The input kinds of DESIGN.md §4, in its order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Start,
    Stop,
    Kill,
    LocalUp,
    KubeUp,
    Down,
    Approve,
    FailureTimeout,
}

impl Kind {
    pub(super) const ALL: [Kind; 8] = [
        Kind::Start,
        Kind::Stop,
        Kind::Kill,
        Kind::LocalUp,
        Kind::KubeUp,
        Kind::Down,
        Kind::Approve,
        Kind::FailureTimeout,
    ];

    pub(super) fn label(self) -> &'static str {
        match self {
            Kind::Start => "Start",
            Kind::Stop => "Stop",
            Kind::Kill => "Kill",
            Kind::LocalUp => "LocalUp(id)",
            Kind::KubeUp => "KubeUp(id)",
            Kind::Down => "Down(id)",
            Kind::Approve => "Approve",
            Kind::FailureTimeout => "FailureTimeout",
        }
    }

    /// The variants this kind takes in a state; `has_id` says whether the state's canonical
    /// record holds ⟨recorded⟩ (without one, an input id can only differ from it).
    pub(super) fn variants(self, has_id: bool) -> &'static [Variant] {
        match self {
            Kind::Start => &[Variant::NotDue, Variant::Due],
            Kind::Stop | Kind::Kill => &[Variant::Only],
            Kind::LocalUp | Kind::KubeUp | Kind::Down if has_id => {
                &[Variant::RecordedId, Variant::OtherId]
            }
            Kind::LocalUp | Kind::KubeUp | Kind::Down => &[Variant::OtherId],
            Kind::Approve => &[
                Variant::Active,
                Variant::Inactive,
                Variant::Failed,
                Variant::RequestedActive,
                Variant::RequestedInactive,
            ],
            Kind::FailureTimeout => &[
                Variant::DueActive,
                Variant::DueInactive,
                Variant::DueFailed,
                Variant::DueRequested,
                Variant::NotDue,
            ],
        }
    }

    /// The input and the `now` to step it at.
    pub(super) fn input(self, variant: Variant) -> (Input, Timestamp) {
        let id = match variant {
            Variant::RecordedId => recorded_id(),
            _ => input_id(),
        };
        let unit = match variant {
            Variant::Active | Variant::RequestedActive | Variant::DueActive => UnitActivity::Active,
            Variant::Failed | Variant::DueFailed => UnitActivity::Failed,
            _ => UnitActivity::Inactive,
        };
        // Due: an hour after the mode changed, past any N used here; not due: at once.
        let now = match variant {
            Variant::Due
            | Variant::DueActive
            | Variant::DueInactive
            | Variant::DueFailed
            | Variant::DueRequested => T0.plus_secs(3600),
            _ => T0,
        };
        match self {
            Kind::Start => (Input::Start, now),
            Kind::Stop => (Input::Stop(StopOptions::default()), T0),
            Kind::Kill => (Input::Kill, T0),
            Kind::LocalUp => (Input::LocalUp(id), T0),
            Kind::KubeUp => (Input::KubeUp(id), T0),
            Kind::Down => (Input::Down(id), T0),
            Kind::Approve => (Input::Approve { unit }, now),
            Kind::FailureTimeout => (Input::FailureTimeout { unit }, now),
        }
    }
}

impl Variant {
    /// Whether the record is fed with `start_requested_ts` set.
    pub(super) fn requested(self) -> bool {
        matches!(
            self,
            Variant::RequestedActive | Variant::RequestedInactive | Variant::DueRequested
        )
    }
}

/// One variant of an input kind: the fourth dimension of a condition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Variant {
    Only,
    RecordedId,
    OtherId,
    Active,
    Inactive,
    Failed,
    RequestedActive,
    RequestedInactive,
    Due,
    NotDue,
    DueActive,
    DueInactive,
    DueFailed,
    DueRequested,
}

impl Variant {
    pub(super) fn text(self) -> &'static str {
        match self {
            Variant::Only => "",
            Variant::RecordedId => "id = docker_id",
            Variant::OtherId => "id ≠ docker_id",
            Variant::Active => "unit active",
            Variant::Inactive => "unit inactive",
            Variant::Failed => "unit failed",
            Variant::RequestedActive => "start requested, unit active",
            Variant::RequestedInactive => "start requested, unit inactive or failed",
            Variant::Due => "deadline passed",
            Variant::NotDue => "deadline not passed",
            Variant::DueActive => "deadline passed, unit active",
            Variant::DueInactive => "deadline passed, unit inactive",
            Variant::DueFailed => "deadline passed, unit failed",
            Variant::DueRequested => "deadline passed, start requested, unit inactive or failed",
        }
    }
}

pub(super) const RECORDED: &str = "recorded";
pub(super) const INPUT: &str = "input";

pub(super) fn recorded_id() -> ContainerId {
    ContainerId::new(RECORDED).expect("\"recorded\" is a valid container id")
}

pub(super) fn input_id() -> ContainerId {
    ContainerId::new(INPUT).expect("\"input\" is a valid container id")
}

pub(super) fn name_id(id: &ContainerId) -> String {
    format!("⟨{id}⟩")
}

/// What a step answered, as shown in a row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Outcome {
    pub(super) to: State,
    pub(super) effects: Vec<String>,
    pub(super) reason: Reason,
}

/// One row of the table.
#[derive(Debug, Clone)]
pub(super) struct Row {
    pub(super) from: State,
    pub(super) kind: Kind,
    pub(super) variants: &'static [Variant],
    pub(super) outcome: Outcome,
    pub(super) points: Vec<Point>,
}

impl Row {
    pub(super) fn condition(&self) -> String {
        describe(&self.points, self.sizes(), &|d, v| self.literal(d, v))
    }

    pub(super) fn sizes(&self) -> [usize; 4] {
        [2, 2, 2, self.variants.len()]
    }

    pub(super) fn literal(&self, dim: usize, value: usize) -> String {
        match (dim, value) {
            (0, 0) => "owner=local".to_owned(),
            (0, _) => "owner=kube".to_owned(),
            (1, 0) => "!fb".to_owned(),
            (1, _) => "fb".to_owned(),
            (2, 0) => "N=0".to_owned(),
            (2, _) => "N>0".to_owned(),
            (_, v) => self
                .variants
                .get(v)
                .map_or_else(String::new, |x| x.text().to_owned()),
        }
    }
}

pub(super) fn config_of(point: Point) -> FeatureConfig {
    FeatureConfig {
        set_owner: if point[0] == 0 {
            Owner::Local
        } else {
            Owner::Kube
        },
        fallback_to_local: point[1] == 1,
        kube_failure_detection_mins: if point[2] == 1 { N_MINUTES } else { 0 },
        state: None,
        ..FeatureConfig::default()
    }
}

pub(super) fn owns_container(state: State) -> bool {
    matches!(
        state,
        State::Local | State::LocalToKube | State::KubeRunning
    )
}

/// The canonical record of a state, as the table uses it.
pub(super) fn record_of(state: State) -> FeatureRecord {
    let mut rec = FeatureRecord::of_state(state, owns_container(state).then(recorded_id));
    rec.current_owner_update_ts = Some(T0);
    rec.transition_mode_update_ts = Some(T0);
    rec
}

/// Every row: each state × input kind, outcomes merged where only the condition differs.
pub(super) fn rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for from in State::ALL {
        let rec = record_of(from);
        for kind in Kind::ALL {
            let variants = kind.variants(owns_container(from));
            let mut group: Vec<Row> = Vec::new();
            for point in space([2, 2, 2, variants.len()]) {
                let variant = variants[point[3]];
                let (input, now) = kind.input(variant);
                let mut rec = rec.clone();
                if variant.requested() {
                    rec.start_requested_ts = Some(T0);
                }
                let s = step(&rec, &config_of(point), input, now);
                let outcome = Outcome {
                    to: s.next,
                    effects: s
                        .effects
                        .iter()
                        .map(|e| render::effect(e, &name_id))
                        .collect(),
                    reason: s.reason,
                };
                match group.iter_mut().find(|r| r.outcome == outcome) {
                    Some(row) => row.points.push(point),
                    None => group.push(Row {
                        from,
                        kind,
                        variants,
                        outcome,
                        points: vec![point],
                    }),
                }
            }
            rows.extend(group);
        }
    }
    rows
}
