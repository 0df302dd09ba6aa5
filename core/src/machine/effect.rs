//! What goes into a step ([`Input`]) and what comes out of it ([`Effect`]).

use serde::Serialize;

use crate::types::{
    ContainerId, CurrentOwner, FeatureRecord, Timestamp, TransitionMode, UnitActivity,
};

/// Options of a Stop (`container stop -t SECS`, and the bounded wait for a kube container).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub struct StopOptions {
    /// Seconds between SIGTERM and SIGKILL when the container is stopped with `docker stop`.
    pub grace_secs: u32,
    /// Seconds to wait for kubelet to stop a kube container after the label is removed.
    pub kube_exit_wait_secs: u32,
}

impl Default for StopOptions {
    fn default() -> Self {
        Self {
            grace_secs: 10,
            kube_exit_wait_secs: 30,
        }
    }
}

/// What happened, or what was asked: the inputs of DESIGN.md §4.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Input {
    /// `container start` (systemd ExecStartPre / ExecStart).
    Start,
    /// `container stop` (systemd ExecStop).
    Stop(StopOptions),
    /// `container kill` (reboot scripts): like Stop, with `docker kill`, Down recorded at once.
    Kill,
    /// The local container with this id is up (after `docker start`, or `container state up
    /// local` from inside it).
    LocalUp(ContainerId),
    /// A kube-deployed container with this id is up (`container state up kube`). The caller
    /// has already fed [`Input::Down`] for a recorded owner that no longer runs.
    KubeUp(ContainerId),
    /// The container with this id went down (`container state down`, or `wait`/`kill` seeing
    /// it exit). Ignored unless it is the recorded `docker_id`.
    Down(ContainerId),
    /// hostcfgd-watcher saw a row for which [`approval_pending`](super::approval_pending) holds (`transition_mode =
    /// kube_pending`, or `start_requested_ts` set), and asked systemd about the feature's unit
    /// just before.
    Approve {
        /// What `systemctl is-active <feature>` said.
        unit: UnitActivity,
    },
    /// kube-monit's failure deadline ([`next_deadline`](super::next_deadline)) passed; it asked systemd about the
    /// feature's unit just before.
    FailureTimeout {
        /// What `systemctl is-active <feature>` said.
        unit: UnitActivity,
    },
}

impl Input {
    /// A short name for logs and docs (`Start`, `KubeUp`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Input::Start => "Start",
            Input::Stop(_) => "Stop",
            Input::Kill => "Kill",
            Input::LocalUp(_) => "LocalUp",
            Input::KubeUp(_) => "KubeUp",
            Input::Down(_) => "Down",
            Input::Approve { .. } => "Approve",
            Input::FailureTimeout { .. } => "FailureTimeout",
        }
    }
}

/// Which container an effect acts on.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Target {
    /// The container with this id.
    Id(ContainerId),
    /// The feature's local container by its name (the feature's name), used when no id is
    /// recorded.
    LocalByName,
}

/// The answer to a kube container's `container state up kube`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
pub enum KubeAnswer {
    /// Approved: run the feature.
    Proceed,
    /// Wait for approval (block on STATE_DB events, then ask again).
    Wait,
    /// Do not proceed: `set_owner` is local. Block (never run the feature) until stopped,
    /// but keep watching CONFIG_DB and ask again if `set_owner` turns back to kube: a container
    /// that parked for ever would hold the DaemonSet's slot on this node, so no other container
    /// would ever ask, and the feature would never reach KUBE_RUNNING (a liveness failure the
    /// property tests found in the literal seed behaviour).
    Park,
}

/// New owner fields for one HSET: `current_owner`, `docker_id`, `current_owner_update_ts`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct OwnerWrite {
    /// The new `current_owner`.
    pub owner: CurrentOwner,
    /// The new `docker_id` (`None` writes `""`).
    pub docker_id: Option<ContainerId>,
}

/// Fields of STATE_DB `FEATURE|<f>` to write in one HSET, with the timestamps of what changes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct StateWrite {
    /// Compare-and-set guard: write only if `transition_mode` still has this value.
    pub guard: Option<TransitionMode>,
    /// New owner and id, and `current_owner_update_ts = now`.
    pub owner: Option<OwnerWrite>,
    /// New mode, and `transition_mode_update_ts = now`.
    pub mode: Option<TransitionMode>,
    /// `Some(true)`: set `start_requested_ts = now` (a daemon is about to reset a failed unit
    /// to start it); `Some(false)`: clear it (a Start ran); `None`: leave it.
    pub start_requested: Option<bool>,
    /// The time to record.
    pub now: Timestamp,
}

impl StateWrite {
    /// Applies the write to a record, as the DB would.
    pub fn apply(&self, rec: &mut FeatureRecord) {
        if let Some(o) = &self.owner {
            rec.current_owner = o.owner;
            rec.docker_id = o.docker_id.clone();
            rec.current_owner_update_ts = Some(self.now);
        }
        if let Some(m) = self.mode {
            rec.transition_mode = m;
            rec.transition_mode_update_ts = Some(self.now);
        }
        if let Some(requested) = self.start_requested {
            rec.start_requested_ts = requested.then_some(self.now);
        }
    }
}

/// An imperative for the driver. Effects are data; the driver carries them out in order.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub enum Effect {
    /// Add the node label `<feature>_enabled=true` (queued when the master is unreachable).
    LabelAdd,
    /// Remove the node label `<feature>_enabled` (queued when the master is unreachable).
    LabelRemove,
    /// `docker start <feature>` (the local image); on success feed [`Input::LocalUp`].
    DockerStart,
    /// `docker stop` with a grace period.
    DockerStop {
        /// Which container.
        target: Target,
        /// Seconds before SIGKILL.
        grace_secs: u32,
    },
    /// `docker kill`.
    DockerKill {
        /// Which container.
        target: Target,
    },
    /// Wait up to `timeout_secs` for the kube container to exit after its label was removed;
    /// if it still runs then, or the label removal had to be queued (kubelet is stopped and will
    /// not stop it), `docker stop` it with `grace_secs`.
    AwaitExit {
        /// The kube container.
        id: ContainerId,
        /// Bound of the wait.
        timeout_secs: u32,
        /// Grace of the fallback `docker stop`.
        grace_secs: u32,
    },
    /// Write STATE_DB fields in one HSET (compare-and-set when guarded).
    Write(StateWrite),
    /// `systemctl reset-failed <feature>`, only for a unit that is failed or that this system
    /// reset already ([`FeatureRecord::start_requested_ts`]): clears the failed state and
    /// systemd's start rate limit counter, so that the start that follows is not refused.
    /// Carried out only while STATE_DB still holds the marker, read afresh: when a Start has
    /// cleared it since the step, that Start did what the plan asked for, and the rest of the
    /// plan is dropped (a reset without its marker could be read as an operator's stop after
    /// a crash; docs/decisions.md shape-3).
    SystemctlResetFailed,
    /// If the unit is still active (`systemctl is-active`), `systemctl reset-failed
    /// <feature>` to clear its start rate limit counter, so that the try-restart that follows
    /// is not refused by `StartLimitBurst`; a unit that is not active is left alone (a failed
    /// one stays failed, so that a new look still sees it wanted).
    SystemctlResetStartLimit,
    /// `systemctl try-restart <feature>`: one systemd job that restarts the unit (ExecStop,
    /// then ExecStartPre: `container stop`, then `container start`) only if it is active when
    /// systemd runs the job; an operator's stop that came first wins.
    SystemctlTryRestart,
    /// `systemctl start <feature>`, only ever for a unit that is wanted (failed, or reset by
    /// this system: see [`FeatureRecord::start_requested_ts`]).
    SystemctlStart,
    /// Answer the kube container that asked.
    Answer(KubeAnswer),
}
