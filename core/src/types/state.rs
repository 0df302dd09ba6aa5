//! Owners, transition modes, the seven states, and a systemd unit's activity.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::codec;

/// Who should run a feature (`set_owner` in CONFIG_DB) or who runs it now (`current_owner`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Owner {
    /// The local image, started with `docker start`.
    Local,
    /// The image deployed by the Kubernetes master.
    Kube,
}

impl Owner {
    /// The DB spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Owner::Local => codec::OWNER_LOCAL,
            Owner::Kube => codec::OWNER_KUBE,
        }
    }
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `current_owner` in STATE_DB: who runs the feature now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CurrentOwner {
    /// Nothing runs (also an absent or empty field).
    #[default]
    None,
    /// The local container runs.
    Local,
    /// A kube-deployed container runs and has claimed the feature.
    Kube,
}

impl CurrentOwner {
    /// The DB spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            CurrentOwner::None => codec::OWNER_NONE,
            CurrentOwner::Local => codec::OWNER_LOCAL,
            CurrentOwner::Kube => codec::OWNER_KUBE,
        }
    }
}

impl fmt::Display for CurrentOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `transition_mode` in STATE_DB.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionMode {
    /// No initiative from kube (also an absent or empty field).
    #[default]
    None,
    /// A kube container waits for approval.
    KubePending,
    /// The switch approved; kube may deploy.
    KubeReady,
    /// A kube container runs and owns the feature.
    KubeRunning,
    /// The kube container exited.
    KubeStopped,
}

impl TransitionMode {
    /// Every mode, in table order.
    pub const ALL: [TransitionMode; 5] = [
        TransitionMode::None,
        TransitionMode::KubePending,
        TransitionMode::KubeReady,
        TransitionMode::KubeRunning,
        TransitionMode::KubeStopped,
    ];

    /// The DB spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            TransitionMode::None => codec::MODE_NONE,
            TransitionMode::KubePending => codec::MODE_KUBE_PENDING,
            TransitionMode::KubeReady => codec::MODE_KUBE_READY,
            TransitionMode::KubeRunning => codec::MODE_KUBE_RUNNING,
            TransitionMode::KubeStopped => codec::MODE_KUBE_STOPPED,
        }
    }
}

impl fmt::Display for TransitionMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The seven states of DESIGN.md §4, each a (`current_owner`, `transition_mode`) pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum State {
    /// 0: nothing runs (none, none).
    Init,
    /// 1: the local image runs (local, none).
    Local,
    /// 2: local runs, a kube container waits for approval (local, kube_pending).
    LocalToKube,
    /// 3: a kube container waits for approval (none, kube_pending).
    KubePending,
    /// 4: approved, waiting for kube to deploy (none, kube_ready).
    KubeReady,
    /// 5: the kube image runs (kube, kube_running).
    KubeRunning,
    /// 6: the kube container exited (none, kube_stopped).
    KubeStopped,
}

impl State {
    /// Every state, in table order.
    pub const ALL: [State; 7] = [
        State::Init,
        State::Local,
        State::LocalToKube,
        State::KubePending,
        State::KubeReady,
        State::KubeRunning,
        State::KubeStopped,
    ];

    /// The canonical (`current_owner`, `transition_mode`) pair of this state.
    pub fn pair(self) -> (CurrentOwner, TransitionMode) {
        match self {
            State::Init => (CurrentOwner::None, TransitionMode::None),
            State::Local => (CurrentOwner::Local, TransitionMode::None),
            State::LocalToKube => (CurrentOwner::Local, TransitionMode::KubePending),
            State::KubePending => (CurrentOwner::None, TransitionMode::KubePending),
            State::KubeReady => (CurrentOwner::None, TransitionMode::KubeReady),
            State::KubeRunning => (CurrentOwner::Kube, TransitionMode::KubeRunning),
            State::KubeStopped => (CurrentOwner::None, TransitionMode::KubeStopped),
        }
    }

    /// The upper-case name used in DESIGN.md, logs and docs (`KUBE_READY`).
    pub fn as_str(self) -> &'static str {
        match self {
            State::Init => "INIT",
            State::Local => "LOCAL",
            State::LocalToKube => "LOCAL_TO_KUBE",
            State::KubePending => "KUBE_PENDING",
            State::KubeReady => "KUBE_READY",
            State::KubeRunning => "KUBE_RUNNING",
            State::KubeStopped => "KUBE_STOPPED",
        }
    }

    /// Stable states: nothing is expected to happen without an outside input.
    pub fn is_stable(self) -> bool {
        matches!(self, State::Init | State::Local | State::KubeRunning)
    }
}

impl fmt::Display for State {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What systemd says of a feature's unit (`systemctl is-active <unit>`): the record of what the
/// operator wants. After an operator's `systemctl stop` the unit is inactive; a unit systemd
/// gave up on (a failed start, the start rate limit) is failed and still wanted; a unit that
/// runs, starts, restarts or reloads is active.
///
/// The daemons never start an inactive unit (unless STATE_DB's `start_requested_ts` says that
/// this system itself reset it, see [`FeatureRecord::start_requested_ts`](super::FeatureRecord::start_requested_ts)), and act on an
/// active one with one systemd job that checks again when it runs (`systemctl try-restart`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum UnitActivity {
    /// `active`, `activating` (also Restart='s auto-restart wait), `deactivating`, `reloading`,
    /// `refreshing`: the unit runs or is about to.
    Active,
    /// `inactive`, and anything else (unknown unit, an unknown word, empty output): not wanted.
    Inactive,
    /// `failed`: systemd gave up on a unit that was wanted.
    Failed,
}

impl UnitActivity {
    /// Every activity, in table order.
    pub const ALL: [UnitActivity; 3] = [
        UnitActivity::Active,
        UnitActivity::Inactive,
        UnitActivity::Failed,
    ];

    /// Parses what `systemctl is-active <unit>` prints (its first line; its exit status is
    /// not needed). Total: anything that is not a known word of a running or failed unit is
    /// [`UnitActivity::Inactive`], so that a unit is never started on a guess.
    pub fn from_is_active(stdout: &str) -> Self {
        match stdout.lines().next().map(str::trim).unwrap_or("") {
            "active" | "activating" | "deactivating" | "reloading" | "refreshing" => {
                UnitActivity::Active
            }
            "failed" => UnitActivity::Failed,
            _ => UnitActivity::Inactive,
        }
    }

    /// A short name for logs and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            UnitActivity::Active => "active",
            UnitActivity::Inactive => "inactive",
            UnitActivity::Failed => "failed",
        }
    }
}

impl fmt::Display for UnitActivity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
