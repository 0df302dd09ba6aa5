//! The state of the modelled world, and its translation to and from `ctrmgr-core`'s types.
//!
//! The world is kept small and hashable: container ids are a tiny enum instead of strings, the
//! STATE_DB row keeps only the fields `step` decides on (timestamps are abstracted away: every
//! step is fed the same `now`, and kube-monit's deadline is an action of its own), and effects
//! are mirrored by a model-local enum. Every decision, though, is taken by the real
//! [`ctrmgr_core::step`] on a [`ctrmgr_core::FeatureRecord`] and a [`ctrmgr_core::FeatureConfig`] built from the world.

use std::fmt;

use ctrmgr_core::{KubeAnswer, Owner, State, Timestamp, TransitionMode, UnitActivity};

mod vocab;

pub use vocab::{Cfg, Eff, Id, In, Row, Tgt, Wr};

/// The `now` passed to every step. Timestamps are not part of the model's state: a row's
/// `transition_mode_update_ts` is `NOW` (kube-monit's deadline, one minute later, has not
/// passed) until the [`crate::Action::DeadlinePassed`] action says time passed ([`Row::due`]),
/// and then the epoch (the deadline is long past).
pub(crate) const NOW: Timestamp = Timestamp::from_secs(1_000_000);

/// How many kube container ids the model recycles. An id is reused only when nothing in the
/// world refers to it any more, so a reused id is indistinguishable from a fresh one.
pub(crate) const KUBE_IDS: u8 = 4;

/// Who runs a multi-step plan of effects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Who {
    /// The unit's control process: `container start` (ExecStartPre) or `container stop`
    /// (ExecStop).
    Unit,
    /// The operator (`systemctl start` at boot; `systemctl stop` + `start` after a change).
    Operator,
    /// hostcfgd-watcher carrying out an approval.
    Hostcfgd,
    /// kube-monit carrying out a fallback.
    Monit,
    /// `container state up kube`, run by the kube container at post-start.
    Ctr,
    /// A one-shot `container` command (`state up local`, `state down`, `wait` recording
    /// Down); it holds the feature lock only within one action.
    Cmd,
}

impl Who {
    /// Whether this plan runs as a `container` command, holding the feature lock from its
    /// decision until it finishes or waits (DESIGN.md §5). Daemons and the operator do not take
    /// it: their writes are compare-and-set, and their `systemctl` calls run `container`
    /// commands that do.
    pub(crate) fn locks(self) -> bool {
        matches!(self, Who::Unit | Who::Ctr | Who::Cmd)
    }
}

/// A driver running effects in order: the input being worked on, its remaining effects, and
/// the inputs to feed afterwards (the LocalUp that follows a successful `docker start`, the
/// KubeUp that follows the Down of a dead owner).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Proc {
    /// The input whose effects run now (re-stepped when a guarded write loses).
    pub input: In,
    /// Remaining effects, next first.
    pub effects: Vec<Eff>,
    /// Inputs to feed once the effects are done, next first.
    pub then: Vec<In>,
    /// Blocked until the unit's job (started by this plan's systemctl call) is done.
    pub await_unit: bool,
    /// This plan's `systemctl stop` has completed (an approval follows a stop).
    pub stopped_unit: bool,
    /// The answer given to the asking kube container.
    pub answer: Option<KubeAnswer>,
    /// The state the current input was decided in.
    pub decided_in: State,
    /// The configured owner when the current input was decided.
    pub decided_owner: Owner,
    /// The mode `step` said the record has after the current input (a waiting container waits
    /// for it to change).
    pub next_mode: TransitionMode,
}

impl Proc {
    /// A plan of bare effects with no input (the operator's systemctl calls).
    pub(crate) fn of_effects(effects: Vec<Eff>) -> Proc {
        Proc {
            input: In::Start,
            effects,
            then: Vec::new(),
            await_unit: false,
            stopped_unit: false,
            answer: None,
            decided_in: State::Init,
            decided_owner: Owner::Local,
            next_mode: TransitionMode::None,
        }
    }

    /// Whether nothing remains.
    pub(crate) fn is_done(&self) -> bool {
        self.effects.is_empty() && self.then.is_empty() && !self.await_unit
    }
}

/// The local container.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Local {
    /// Whether it runs.
    pub running: bool,
    /// Whether, since it started, it ran `container state up local` itself.
    pub announced: bool,
}

/// What a kube container is doing.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Phase {
    /// Started by kubelet; post-start has not asked yet.
    Started,
    /// Running `container state up kube`.
    Asking(Proc),
    /// Told to wait: blocks until the mode differs from this one (or owner turns local), then
    /// asks again.
    Waiting(TransitionMode),
    /// The seed's pending container: sleeps for ever.
    Sleeping,
    /// Parked (`set_owner` was local): does not run the feature; in our flow it keeps
    /// watching and asks again once `set_owner` is kube, in the seed's it blocks for ever.
    Parked,
    /// Proceeded: runs the feature.
    Claimed,
}

/// A running kube container.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct KubeCtr {
    /// Its number (`Id::Kube`).
    pub id: u8,
    /// What it does.
    pub phase: Phase,
}

/// The DaemonSet's pod on this node.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Pod {
    /// Marked for deletion by the controller; kubelet stops it when it runs.
    pub deleting: bool,
    /// Its running container, if any (kubelet starts a new one when it is gone).
    pub ctr: Option<KubeCtr>,
}

/// The unit's `container wait` main process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Main {
    /// Waiting for a `docker_id` to be recorded.
    AwaitId,
    /// `docker wait` on this container.
    Watch(Id),
}

/// What systemd does once a unit's stop is done.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AfterStop {
    /// Nothing: `systemctl stop`.
    Inactive,
    /// Restart=always after the main process exited by itself: start after RestartSec.
    AutoRestart,
    /// `systemctl restart`: the same job starts the unit again.
    Start,
}

/// The feature's systemd unit.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Unit {
    /// Inactive.
    Inactive,
    /// ExecStartPre (`container start`) runs.
    Starting(Proc),
    /// Active; the main process runs.
    Active(Main),
    /// ExecStop (`container stop`) runs.
    Stopping {
        /// `container stop`.
        proc: Proc,
        /// What follows the stop.
        then: AfterStop,
    },
    /// Waiting RestartSec before starting again.
    AutoRestart,
    /// systemd gave up on the unit: a start beyond `StartLimitBurst` since the last
    /// `reset-failed`. Still wanted; `systemctl stop` leaves it failed.
    Failed,
}

impl Unit {
    /// No job runs: a systemctl call may act now.
    pub(crate) fn settled(&self) -> bool {
        matches!(
            self,
            Unit::Inactive | Unit::Active(_) | Unit::AutoRestart | Unit::Failed
        )
    }

    /// What `systemctl is-active` says: active, activating (also Restart='s timer) and
    /// deactivating read as [`UnitActivity::Active`].
    pub(crate) fn activity(&self) -> UnitActivity {
        match self {
            Unit::Inactive => UnitActivity::Inactive,
            Unit::Failed => UnitActivity::Failed,
            Unit::Starting(_) | Unit::Active(_) | Unit::Stopping { .. } | Unit::AutoRestart => {
                UnitActivity::Active
            }
        }
    }
}

/// Whether kube deploys the feature at all (a DaemonSet selecting the label exists).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kube {
    /// A DaemonSet exists (its manifest may be updated, or removed once).
    Deploys,
    /// No DaemonSet for this feature: kube never deploys.
    Never,
}

/// How many more times the environment may do each thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Budget {
    /// Operator changes `set_owner` (then runs `systemctl stop` + `start`).
    pub change: u8,
    /// Faults: a container crashes, hostcfgd or kube-monit crashes, the master goes down.
    pub faults: u8,
    /// Manifest updates (kube replaces the pod).
    pub updates: u8,
    /// The manifest is removed.
    pub removals: u8,
    /// kube-monit's deadline passes (not retired: time always passes).
    pub deadlines: u8,
    /// The operator runs a lone `systemctl stop` (no start after it).
    pub stops: u8,
    /// Crashes of a crash-looping kube image (faults, in addition to `faults`).
    pub crash_loop: u8,
}

impl Budget {
    /// Whether any retirable budget is left.
    pub(crate) fn retirable(&self) -> bool {
        self.change + self.faults + self.updates + self.removals + self.stops + self.crash_loop > 0
    }
}

/// The operator.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Operator {
    /// The boot-time `systemctl start` was issued.
    pub booted: bool,
    /// Its systemctl calls in flight.
    pub proc: Option<Proc>,
    /// The calls in flight follow a change to `set_owner=local` (invariant 4 is checked when
    /// they are done).
    pub to_local: bool,
    /// The operator stopped the unit (a `systemctl stop` that took effect: the unit was
    /// neither failed — systemd's stop leaves a failed unit failed — nor reset by a daemon
    /// that marked `start_requested_ts`) and has not started it since. Invariant 6: no unit
    /// start happens meanwhile.
    pub held_down: bool,
    /// The operator issued a lone `systemctl stop` on this path (monotone).
    pub lone_stop: bool,
}

/// hostcfgd-watcher.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Hostcfgd {
    /// A keyspace notification for the row is waiting to be handled, and the row read then
    /// says `kube_pending` (a notification whose re-read shows another mode needs nothing).
    /// Set again on a restart: it rescans.
    pub notified: bool,
    /// The approval in flight.
    pub plan: Option<Proc>,
}

/// Observations the properties need that the world does not keep by itself. Each flag only
/// ever goes from `true` to `false`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ghost {
    /// Invariant 1 held at every claim and every write of `kube_ready`.
    pub inv1: bool,
    /// Invariant 4 held each time the operator's stop + start with owner local finished.
    pub inv4: bool,
    /// The model itself held up: ids sufficed, every effect was understood, every asking
    /// container got an answer.
    pub sound: bool,
    /// Invariant 6 held: no start of the unit while the operator held it down.
    pub inv6: bool,
}

impl Default for Ghost {
    fn default() -> Self {
        Ghost {
            inv1: true,
            inv4: true,
            sound: true,
            inv6: true,
        }
    }
}

/// The whole world of one feature.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct World {
    /// Whether kube deploys (fixed for a run).
    pub kube: Kube,
    /// CONFIG_DB.
    pub cfg: Cfg,
    /// STATE_DB.
    pub row: Row,
    /// The local container.
    pub local: Local,
    /// The master answers.
    pub master_up: bool,
    /// The label on the node, as the API server has it.
    pub label: bool,
    /// The pending-label list, coalesced to its final value (one key). Non-empty means kubelet
    /// is stopped.
    pub pending: Option<bool>,
    /// The DaemonSet's manifest exists.
    pub manifest: bool,
    /// The DaemonSet's pod on this node.
    pub pod: Option<Pod>,
    /// systemd's unit.
    pub unit: Unit,
    /// The operator.
    pub operator: Operator,
    /// hostcfgd-watcher.
    pub hostcfgd: Hostcfgd,
    /// kube-monit's fallback in flight.
    pub monit: Option<Proc>,
    /// What the environment may still do.
    pub budget: Budget,
    /// A fault happened on this path.
    pub faulted: bool,
    /// Who holds the feature lock (`flock` on `<lock_dir>/<feature>.lock`).
    pub lock: Option<Who>,
    /// systemd's `StartLimitBurst` for the unit (0: no limit). The interval never passes in
    /// the model: every start counts until a `reset-failed`.
    pub burst: u8,
    /// Unit starts since the last `reset-failed`.
    pub starts: u8,
    /// Observations for the properties.
    pub ghost: Ghost,
}

impl World {
    /// Whether kubelet runs (it is stopped while label operations are pending).
    pub fn kubelet_running(&self) -> bool {
        self.pending.is_none()
    }

    /// The running kube container, if any.
    pub fn ctr(&self) -> Option<&KubeCtr> {
        self.pod.as_ref().and_then(|p| p.ctr.as_ref())
    }

    /// Whether this container runs.
    pub fn running(&self, id: Id) -> bool {
        match id {
            Id::Local => self.local.running,
            Id::Kube(n) => self.ctr().is_some_and(|c| c.id == n),
        }
    }

    /// The kube container that proceeded and runs the feature, if any.
    pub fn claimed(&self) -> Option<u8> {
        self.ctr()
            .filter(|c| c.phase == Phase::Claimed)
            .map(|c| c.id)
    }
}

fn fmt_proc(f: &mut fmt::Formatter<'_>, p: &Proc) -> fmt::Result {
    write!(f, "{:?}", p.input)?;
    if !p.effects.is_empty() {
        write!(f, " {:?}", p.effects)?;
    }
    if !p.then.is_empty() {
        write!(f, " then {:?}", p.then)?;
    }
    if p.await_unit {
        f.write_str(" awaiting unit")?;
    }
    Ok(())
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let onoff = |b: bool| if b { "on" } else { "off" };
        write!(
            f,
            "{} (owner={} id={} mode={}) | local={} | label={}",
            self.row.state(),
            self.row.owner,
            self.row.id.map_or("-".to_owned(), |i| i.to_string()),
            self.row.mode,
            if self.local.running { "up" } else { "down" },
            onoff(self.label),
        )?;
        if let Some(p) = self.pending {
            write!(f, " pending={} kubelet=stopped", onoff(p))?;
        }
        if !self.master_up {
            f.write_str(" master=down")?;
        }
        match &self.pod {
            None => f.write_str(" | no pod")?,
            Some(p) => {
                f.write_str(" | pod")?;
                if p.deleting {
                    f.write_str("(deleting)")?;
                }
                match &p.ctr {
                    None => f.write_str(" no container")?,
                    Some(c) => match &c.phase {
                        Phase::Asking(pr) => {
                            write!(f, " kube{} asking ", c.id)?;
                            fmt_proc(f, pr)?;
                        }
                        other => write!(f, " kube{} {:?}", c.id, other)?,
                    },
                }
            }
        }
        f.write_str(" | unit=")?;
        match &self.unit {
            Unit::Starting(p) => {
                f.write_str("starting ")?;
                fmt_proc(f, p)?;
            }
            Unit::Stopping { proc, then } => {
                write!(f, "stopping(then {then:?}) ")?;
                fmt_proc(f, proc)?;
            }
            other => write!(f, "{other:?}")?,
        }
        if self.burst > 0 {
            write!(f, " starts={}/{}", self.starts, self.burst)?;
        }
        if self.operator.held_down {
            f.write_str(" | held down by the operator")?;
        }
        if let Some(p) = &self.operator.proc {
            f.write_str(" | operator ")?;
            fmt_proc(f, p)?;
        }
        if let Some(p) = &self.hostcfgd.plan {
            f.write_str(" | hostcfgd ")?;
            fmt_proc(f, p)?;
        }
        if let Some(p) = &self.monit {
            f.write_str(" | monit ")?;
            fmt_proc(f, p)?;
        }
        write!(
            f,
            " | cfg owner={} fb={} N>0={}",
            self.cfg.owner, self.cfg.fb, self.cfg.n
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctrmgr_core::{ContainerId, CurrentOwner};

    #[test]
    fn row_state_agrees_with_cores_rule_for_every_row() {
        let owners = [CurrentOwner::None, CurrentOwner::Local, CurrentOwner::Kube];
        let ids = [None, Some(Id::Local), Some(Id::Kube(1))];
        for owner in owners {
            for mode in TransitionMode::ALL {
                for id in ids {
                    let row = Row {
                        owner,
                        id,
                        mode,
                        ..Row::default()
                    };
                    assert_eq!(row.state(), row.to_record().state(), "{row:?}");
                }
            }
        }
    }

    #[test]
    fn container_ids_round_trip_through_cores_type() {
        for id in [Id::Local, Id::Kube(1), Id::Kube(KUBE_IDS)] {
            assert_eq!(Id::from_core(&id.to_core()), Some(id));
        }
        let foreign = ContainerId::new("0123456789ab").expect("a valid id");
        assert_eq!(Id::from_core(&foreign), None);
    }
}
