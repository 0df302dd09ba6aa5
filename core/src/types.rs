//! The domain types: feature names, container ids, owners, modes, states, configuration and
//! the per-feature record kept in STATE_DB.
//!
//! Every type that has a DB spelling gets `as_str()` and `FromStr` here; the strings themselves
//! live in [`crate::codec`] as constants.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::codec;

/// Seconds since the Unix epoch. The core never reads a clock: callers pass `now`.
pub type Timestamp = u64;

/// Why a name or id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    /// A feature name that does not match `[a-z0-9][a-z0-9_-]{0,31}`.
    #[error(
        "invalid feature name {0:?}: expected 1-32 characters of [a-z0-9_-], starting with a letter or digit"
    )]
    Feature(String),
    /// A container id or name that is empty or has characters Docker never uses.
    #[error(
        "invalid container id {0:?}: expected 1-128 characters of [A-Za-z0-9_.-], starting with a letter or digit"
    )]
    Container(String),
}

/// A SONiC feature name (`snmp`, `lldp`, `dhcp_relay`, …), validated so that it is safe to use
/// as a Redis key part, a file name, a systemd unit name and a label key prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct FeatureName(String);

impl FeatureName {
    /// Validates `name` against `[a-z0-9][a-z0-9_-]{0,31}`.
    pub fn new(name: &str) -> Result<Self, NameError> {
        let bytes = name.as_bytes();
        let ok = !bytes.is_empty()
            && bytes.len() <= 32
            && (bytes[0].is_ascii_lowercase() || bytes[0].is_ascii_digit())
            && bytes
                .iter()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'_' || *b == b'-');
        if ok {
            Ok(Self(name.to_owned()))
        } else {
            Err(NameError::Feature(name.to_owned()))
        }
    }

    /// The name as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The node label that lets Kubernetes deploy this feature: `<feature>_enabled`.
    pub fn enable_label_key(&self) -> String {
        format!("{}{}", self.0, codec::ENABLED_LABEL_SUFFIX)
    }

    /// The feature's local container, which is named after the feature (a feature name is
    /// always a valid container name).
    pub fn local_container(&self) -> ContainerId {
        ContainerId(self.0.clone())
    }
}

impl FromStr for FeatureName {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for FeatureName {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<FeatureName> for String {
    fn from(f: FeatureName) -> String {
        f.0
    }
}

impl fmt::Display for FeatureName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Docker container id (usually 64 hex digits) or, for a local container, its name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ContainerId(String);

impl ContainerId {
    /// Validates `id`: 1-128 characters of `[A-Za-z0-9_.-]`, starting with a letter or digit
    /// as Docker's own names and ids do, so that `.` and `..` (a path in the Docker API's
    /// URLs) are never an id (docs/decisions.md, rel-3).
    pub fn new(id: &str) -> Result<Self, NameError> {
        let ok = id.len() <= 128
            && id.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-');
        if ok {
            Ok(Self(id.to_owned()))
        } else {
            Err(NameError::Container(id.to_owned()))
        }
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 12 characters, as `docker ps` shows them.
    pub fn short(&self) -> &str {
        self.0.get(..12).unwrap_or(&self.0)
    }
}

impl FromStr for ContainerId {
    type Err = NameError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for ContainerId {
    type Error = NameError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<ContainerId> for String {
    fn from(c: ContainerId) -> String {
        c.0
    }
}

impl fmt::Display for ContainerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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
/// this system itself reset it, see [`FeatureRecord::start_requested_ts`]), and act on an
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn feature_names_follow_the_documented_pattern() {
        for ok in [
            "snmp",
            "dhcp_relay",
            "mgmt-framework",
            "0x",
            "a",
            &"a".repeat(32),
        ] {
            assert!(FeatureName::new(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "Snmp",
            "-x",
            "_x",
            "a b",
            "a/b",
            "a|b",
            "a.b",
            &"a".repeat(33),
        ] {
            assert!(FeatureName::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_feature_local_container_is_named_after_it_and_is_a_valid_id() {
        let f = FeatureName::new("dhcp_relay-2").expect("valid name");
        let c = f.local_container();
        assert_eq!(c.as_str(), "dhcp_relay-2");
        assert_eq!(ContainerId::new(c.as_str()), Ok(c));
    }

    #[test]
    fn every_canonical_pair_reads_as_its_state_without_anomaly() {
        for s in State::ALL {
            let r = FeatureRecord::of_state(s, ContainerId::new("abc").ok());
            assert_eq!(r.classify(), (s, None));
        }
    }

    #[test]
    fn kube_owner_with_a_wrong_mode_reads_as_running_only_with_an_id() {
        let mut r = FeatureRecord {
            current_owner: CurrentOwner::Kube,
            transition_mode: TransitionMode::KubeReady,
            ..FeatureRecord::default()
        };
        assert_eq!(r.state(), State::KubeStopped);
        r.docker_id = ContainerId::new("abc").ok();
        let (s, a) = r.classify();
        assert_eq!(s, State::KubeRunning);
        assert!(a.is_some());
    }
}
