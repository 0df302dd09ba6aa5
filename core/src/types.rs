//! The domain types: feature names, container ids, owners, modes, states, configuration and
//! the per-feature record kept in STATE_DB.
//!
//! Every type that has a DB spelling gets `as_str()` and `FromStr` here; the strings themselves
//! live in [`crate::codec`] as constants.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::codec;

mod record;
mod state;

pub use record::{
    Anomaly, DeviceMetadata, FeatureConfig, FeatureRecord, MINUTE_SECS, ServerConfig, ServerStatus,
};
pub use state::{CurrentOwner, Owner, State, TransitionMode, UnitActivity};

/// A point in time: whole seconds since the Unix epoch. The core never reads a clock: callers
/// pass `now`. A newtype, so that milliseconds or minutes cannot be passed where seconds since
/// the epoch are meant; it is spelled in the DBs (and displayed) as its decimal seconds.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Timestamp(u64);

impl Timestamp {
    /// The epoch (a record with no timestamp counts from it).
    pub const EPOCH: Timestamp = Timestamp(0);
    /// The last representable second (deadlines saturate at it).
    pub const MAX: Timestamp = Timestamp(u64::MAX);

    /// `secs` seconds since the epoch.
    pub const fn from_secs(secs: u64) -> Self {
        Timestamp(secs)
    }

    /// Seconds since the epoch.
    pub const fn secs(self) -> u64 {
        self.0
    }

    /// `secs` seconds later, saturating at [`Timestamp::MAX`].
    pub const fn plus_secs(self, secs: u64) -> Self {
        Timestamp(self.0.saturating_add(secs))
    }

    /// `minutes` minutes of `minute_secs` seconds later, saturating at [`Timestamp::MAX`].
    pub const fn plus_minutes(self, minutes: u64, minute_secs: u64) -> Self {
        self.plus_secs(minutes.saturating_mul(minute_secs))
    }

    /// Whole seconds from `earlier` to `self`; 0 when `earlier` is not earlier.
    pub const fn secs_since(self, earlier: Timestamp) -> u64 {
        self.0.saturating_sub(earlier.0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl FromStr for Timestamp {
    type Err = std::num::ParseIntError;

    /// Decimal seconds since the epoch.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(Timestamp)
    }
}

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
