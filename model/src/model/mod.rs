//! The stateright [`Model`]: the world's actions, how the driver executes `step`'s effects, and
//! the properties of DESIGN.md §4.
//!
//! - [`action`](Action): every action of the world and [`FeatureWorld::apply`].
//! - `process`: how a `container` command or a daemon decides (the real `step`) and carries a
//!   plan; `exec`: how each effect is carried out by Docker, systemd and the node.
//! - `scenarios`: the initial situations; `properties`: the properties of DESIGN.md §4.

mod action;
mod exec;
mod process;
mod properties;
mod scenarios;

pub use action::Action;
pub use properties::names;
pub use scenarios::{
    CRASH_LOOP_BURST, FAMILIES, default_scenarios, extended_scenarios, seed_scenarios,
};

use stateright::{Model, Property};

use crate::world::{Budget, Cfg, Ghost, Hostcfgd, Kube, Local, Operator, Row, Unit, World};

/// Which approval flow the model runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Flow {
    /// This project's flow: [`ctrmgr_core::step`] as it is. A waiting kube container blocks
    /// until the mode changes and asks again; a parked one asks again once `set_owner` is
    /// kube; Stop keeps the label during an approval; hostcfgd approves with `systemctl stop`
    /// and `systemctl start` only (the Start approves in place).
    Ours,
    /// The seed's literal flow: the real `step`, except that Stop with owner kube in
    /// LOCAL_TO_KUBE, KUBE_PENDING and KUBE_STOPPED also removes the label (the seed's
    /// `container stop` removes the label in kube mode), and a kube container told to wait
    /// sleeps for ever, relying on the DaemonSet controller to delete and recreate it (and a
    /// parked one blocks for ever).
    Seed,
    /// The daemons' rules of wave 1, before issue 8 (for the tests that show the model finds
    /// what that issue found): hostcfgd's Approve is `systemctl stop` then `systemctl start`
    /// whenever a local container runs or the unit is active (whatever the operator did), and
    /// kube-monit's FailureTimeout writes `transition_mode=none` and runs `systemctl restart`.
    Wave1,
}

/// One initial situation: configuration, whether kube deploys, whether a label is left on
/// the node from an earlier boot, and what the environment may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Scenario {
    /// The initial configuration.
    pub cfg: Cfg,
    /// Whether a DaemonSet deploys the feature.
    pub kube: Kube,
    /// The node label is already on the node at boot (left from before a reboot).
    pub stale_label: bool,
    /// What the environment may do.
    pub budget: Budget,
    /// The unit's `StartLimitBurst` (0: no limit).
    pub burst: u8,
}

impl Scenario {
    /// The world at boot.
    pub fn world(&self) -> World {
        World {
            kube: self.kube,
            cfg: self.cfg,
            row: Row::default(),
            local: Local::default(),
            master_up: true,
            label: self.stale_label,
            pending: None,
            manifest: self.kube == Kube::Deploys,
            pod: None,
            unit: Unit::Inactive,
            operator: Operator {
                booted: false,
                proc: None,
                to_local: false,
                held_down: false,
                lone_stop: false,
            },
            hostcfgd: Hostcfgd::default(),
            monit: None,
            budget: Budget {
                removals: if self.kube == Kube::Deploys {
                    self.budget.removals
                } else {
                    0
                },
                ..self.budget
            },
            faulted: false,
            lock: None,
            burst: self.burst,
            starts: 0,
            ghost: Ghost::default(),
        }
    }
}

/// The world of one feature, as a stateright model. Its initial states are the
/// [`Scenario`]s; its transitions drive the real [`ctrmgr_core::step`].
#[derive(Clone, Debug)]
pub struct FeatureWorld {
    /// Which approval flow.
    pub flow: Flow,
    /// The initial situations.
    pub scenarios: Vec<Scenario>,
}

impl FeatureWorld {
    /// The model with the default scenarios (see [`default_scenarios`]).
    pub fn new(flow: Flow) -> Self {
        FeatureWorld {
            flow,
            scenarios: default_scenarios(),
        }
    }

    /// Whether no action at all is possible: the world has come to rest.
    pub fn is_terminal(&self, w: &World) -> bool {
        Action::ALL
            .iter()
            .chain(std::iter::once(&Action::Retire))
            .all(|a| self.apply(w, *a).is_none())
    }

    /// Whether only environment actions are possible: the software and Kubernetes have
    /// nothing left to do.
    pub fn is_settled(&self, w: &World) -> bool {
        Action::ALL
            .iter()
            .filter(|a| !a.is_environment())
            .all(|a| self.apply(w, *a).is_none())
    }
}

impl Model for FeatureWorld {
    type State = World;
    type Action = Action;

    fn init_states(&self) -> Vec<World> {
        self.scenarios.iter().map(Scenario::world).collect()
    }

    fn actions(&self, _state: &World, actions: &mut Vec<Action>) {
        actions.extend(Action::ALL);
        actions.push(Action::Retire);
    }

    fn next_state(&self, last: &World, action: Action) -> Option<World> {
        self.apply(last, action)
    }

    fn format_step(&self, last: &World, action: Action) -> Option<String> {
        self.apply(last, action).map(|w| w.to_string())
    }

    fn properties(&self) -> Vec<Property<Self>> {
        properties::all()
    }
}
