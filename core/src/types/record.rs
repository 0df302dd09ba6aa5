//! A feature's configuration (CONFIG_DB) and record (STATE_DB), and the master's rows.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::{ContainerId, CurrentOwner, Owner, State, Timestamp, TransitionMode};
use crate::codec;

/// A feature's configuration from CONFIG_DB `FEATURE|<f>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FeatureConfig {
    /// `set_owner`: who should run the feature (default local).
    pub set_owner: Owner,
    /// `fallback_to_local`: run the local image while kube has not deployed (default false).
    pub fallback_to_local: bool,
    /// `kube_failure_detection`: minutes without a running kube container before falling back;
    /// 0 means never (default 0).
    pub kube_failure_detection_mins: u32,
    /// SONiC's `state` field (`enabled`, `disabled`, `always_enabled`, …), kept verbatim; this
    /// project only reads it.
    pub state: Option<String>,
    /// The length in seconds of one minute of `kube_failure_detection` ([`MINUTE_SECS`] on a
    /// switch). Not a CONFIG_DB field: the codec leaves it at [`MINUTE_SECS`], and the driver
    /// sets it from the tunable `failure_detection_minute_secs`, so that tests can scale the
    /// failure deadline that kube-monit and the Start both measure.
    #[serde(default = "minute_secs")]
    pub minute_secs: u32,
}

/// Seconds in a minute of `kube_failure_detection` unless the tunables shorten it.
pub const MINUTE_SECS: u32 = 60;

fn minute_secs() -> u32 {
    MINUTE_SECS
}

impl Default for FeatureConfig {
    fn default() -> Self {
        Self {
            set_owner: Owner::Local,
            fallback_to_local: false,
            kube_failure_detection_mins: 0,
            state: None,
            minute_secs: MINUTE_SECS,
        }
    }
}

impl FeatureConfig {
    /// A configuration with the given owner and fallback, failure detection off.
    pub fn new(set_owner: Owner, fallback_to_local: bool) -> Self {
        Self {
            set_owner,
            fallback_to_local,
            ..Self::default()
        }
    }

    /// Whether kube-monit's failure detection applies: owner kube, fallback on, N > 0.
    pub fn failure_detection_armed(&self) -> bool {
        self.set_owner == Owner::Kube
            && self.fallback_to_local
            && self.kube_failure_detection_mins > 0
    }
}

/// A feature's state record from STATE_DB `FEATURE|<f>`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct FeatureRecord {
    /// `current_owner` (absent = none).
    pub current_owner: CurrentOwner,
    /// `current_owner_update_ts`.
    pub current_owner_update_ts: Option<Timestamp>,
    /// `docker_id` (absent or empty = none).
    pub docker_id: Option<ContainerId>,
    /// `transition_mode` (absent = none).
    pub transition_mode: TransitionMode,
    /// `transition_mode_update_ts`.
    pub transition_mode_update_ts: Option<Timestamp>,
    /// `start_requested_ts`: set (to the time) by hostcfgd-watcher or kube-monit just before
    /// they `systemctl reset-failed` a failed unit in order to start it, and cleared by the
    /// Start that follows. A unit that is inactive while it is set was reset by this system,
    /// not stopped by the operator: a daemon that crashed between its reset and its start
    /// finishes the start after its restart.
    pub start_requested_ts: Option<Timestamp>,
}

/// A (`current_owner`, `transition_mode`) pair that is none of the seven states, and the state
/// it was read as. The caller logs it as a warning naming the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Anomaly {
    /// The recorded owner.
    pub current_owner: CurrentOwner,
    /// The recorded mode.
    pub transition_mode: TransitionMode,
    /// Whether a docker id was recorded.
    pub has_docker_id: bool,
    /// The state the record was read as.
    pub read_as: State,
}

impl fmt::Display for Anomaly {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "non-canonical state current_owner={} transition_mode={} docker_id {}: read as {}",
            self.current_owner,
            self.transition_mode,
            if self.has_docker_id { "set" } else { "empty" },
            self.read_as
        )
    }
}

impl FeatureRecord {
    /// The canonical record of a state, with an optional container id and timestamps unset.
    pub fn of_state(state: State, docker_id: Option<ContainerId>) -> Self {
        let (current_owner, transition_mode) = state.pair();
        Self {
            current_owner,
            current_owner_update_ts: None,
            docker_id: if current_owner == CurrentOwner::None {
                None
            } else {
                docker_id
            },
            transition_mode,
            transition_mode_update_ts: None,
            start_requested_ts: None,
        }
    }

    /// The state this record is in, by the documented total rule:
    ///
    /// - the seven canonical pairs map to their state;
    /// - `kube` with a mode other than `kube_running` → KUBE_RUNNING when `docker_id` is set,
    ///   else KUBE_STOPPED;
    /// - `local` with `kube_ready`, `kube_running` or `kube_stopped` → LOCAL (the local
    ///   container is what the record says runs);
    /// - `none` with `kube_running` → KUBE_STOPPED (no container claims the feature);
    /// - `kube`/`kube_running` without `docker_id` → KUBE_STOPPED (no container to act on or
    ///   wait for), and `none` with a `docker_id` → the state of its pair (the id is stale):
    ///   both non-canonical, so that the next write clears them.
    pub fn state(&self) -> State {
        self.classify().0
    }

    /// Like [`FeatureRecord::state`], and also the anomaly when the pair is not canonical.
    pub fn classify(&self) -> (State, Option<Anomaly>) {
        use CurrentOwner as O;
        use TransitionMode as M;
        let pair = match (self.current_owner, self.transition_mode) {
            (O::None, M::None) => Some(State::Init),
            (O::Local, M::None) => Some(State::Local),
            (O::Local, M::KubePending) => Some(State::LocalToKube),
            (O::None, M::KubePending) => Some(State::KubePending),
            (O::None, M::KubeReady) => Some(State::KubeReady),
            (O::Kube, M::KubeRunning) => Some(State::KubeRunning),
            (O::None, M::KubeStopped) => Some(State::KubeStopped),
            _ => None,
        };
        // Invariant 3: a kube owner has a container id, and no owner has none. (A local owner
        // without an id is canonical: its container is named after the feature.)
        let id_fits = match self.current_owner {
            O::None => self.docker_id.is_none(),
            O::Kube => self.docker_id.is_some(),
            O::Local => true,
        };
        if let (Some(s), true) = (pair, id_fits) {
            return (s, None);
        }
        let read_as = match (self.current_owner, self.transition_mode) {
            (O::Kube, _) if self.docker_id.is_some() => State::KubeRunning,
            (O::Kube, _) => State::KubeStopped,
            (O::Local, _) => State::Local,
            // A stray id with no owner: the state of the mode (nothing claims the feature).
            (O::None, _) => pair.unwrap_or(State::KubeStopped),
        };
        (
            read_as,
            Some(Anomaly {
                current_owner: self.current_owner,
                transition_mode: self.transition_mode,
                has_docker_id: self.docker_id.is_some(),
                read_as,
            }),
        )
    }
}

/// The Kubernetes master's configuration from CONFIG_DB `KUBERNETES_MASTER|SERVER`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerConfig {
    /// `ip`: an IPv4 or IPv6 address or a DNS name; `None` when unset.
    pub ip: Option<String>,
    /// `port` (default 6443).
    pub port: u16,
    /// `insecure`: skip TLS verification when fetching admin.conf (default false).
    pub insecure: bool,
    /// `disable`: stay disconnected (default false).
    pub disable: bool,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            ip: None,
            port: codec::DEFAULT_SERVER_PORT,
            insecure: false,
            disable: false,
        }
    }
}

/// The connection status from STATE_DB `KUBERNETES_MASTER|SERVER`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ServerStatus {
    /// `connected`.
    pub connected: bool,
    /// `last_update_ts`: when `connected` last changed.
    pub last_update_ts: Option<Timestamp>,
}

/// `DEVICE_METADATA|localhost` in CONFIG_DB: what the node says about itself.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DeviceMetadata {
    /// `hostname`.
    pub hostname: Option<String>,
    /// `platform`.
    pub platform: Option<String>,
    /// `hwsku`.
    pub hwsku: Option<String>,
    /// `type` (the deployment type, e.g. `ToRRouter`).
    pub deployment_type: Option<String>,
}

impl DeviceMetadata {
    /// The Kubernetes node name: the hostname lower-cased, when set and not empty.
    pub fn node_name(&self) -> Option<String> {
        self.hostname
            .as_deref()
            .map(str::trim)
            .filter(|h| !h.is_empty())
            .map(str::to_ascii_lowercase)
    }
}
