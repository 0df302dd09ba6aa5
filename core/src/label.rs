//! Node labels: validated keys and values, label operations, and the pure functions behind the
//! pending-label list of STATE_DB `KUBE_SERVER|PENDING_LABELS` (DESIGN.md §6).
//!
//! A label operation that cannot reach the master is appended to the list; while the list is
//! non-empty every new operation goes behind it. Draining coalesces the list to one final value
//! per key ([`coalesce`]), sends one merge patch, and removes exactly the drained prefix
//! ([`remove_prefix`]) so that operations appended meanwhile stay.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Why a label key, value or operation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LabelParseError {
    /// The key breaks Kubernetes' rules.
    #[error(
        "invalid label key {0:?}: expected an optional DNS-subdomain prefix (at most 253 characters) and '/', then a name of at most 63 characters of [A-Za-z0-9_.-] that starts and ends with a letter or digit"
    )]
    Key(String),
    /// The value breaks Kubernetes' rules.
    #[error(
        "invalid label value {0:?}: expected empty or at most 63 characters of [A-Za-z0-9_.-] that start and end with a letter or digit"
    )]
    Value(String),
    /// A pending-list item that is neither `key=value` nor `key-`.
    #[error("invalid label operation {0:?}: expected key=value or key-")]
    Op(String),
}

/// The name part of a key, or a value: `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, ≤ 63.
fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'-' | b'_' | b'.'))
}

/// A DNS subdomain (RFC 1123): lower-case labels joined by dots, ≤ 253 in all.
fn is_dns_subdomain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|l| {
            let b = l.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
                && (b[b.len() - 1].is_ascii_lowercase() || b[b.len() - 1].is_ascii_digit())
                && b.iter()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        })
}

/// A Kubernetes label key (`[prefix/]name`), validated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LabelKey(String);

impl LabelKey {
    /// Validates `key` against Kubernetes' rules.
    pub fn new(key: &str) -> Result<Self, LabelParseError> {
        let ok = match key.split_once('/') {
            Some((prefix, name)) => is_dns_subdomain(prefix) && is_label_name(name),
            None => is_label_name(key),
        };
        if ok {
            Ok(Self(key.to_owned()))
        } else {
            Err(LabelParseError::Key(key.to_owned()))
        }
    }

    /// The key as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for LabelKey {
    type Err = LabelParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for LabelKey {
    type Error = LabelParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<LabelKey> for String {
    fn from(k: LabelKey) -> String {
        k.0
    }
}

impl fmt::Display for LabelKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A Kubernetes label value (possibly empty), validated.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct LabelValue(String);

impl LabelValue {
    /// Validates `value` against Kubernetes' rules.
    pub fn new(value: &str) -> Result<Self, LabelParseError> {
        if value.is_empty() || is_label_name(value) {
            Ok(Self(value.to_owned()))
        } else {
            Err(LabelParseError::Value(value.to_owned()))
        }
    }

    /// The value as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for LabelValue {
    type Err = LabelParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::new(s)
    }
}

impl TryFrom<String> for LabelValue {
    type Error = LabelParseError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(&s)
    }
}

impl From<LabelValue> for String {
    fn from(v: LabelValue) -> String {
        v.0
    }
}

impl fmt::Display for LabelValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One label change on this node.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LabelOp {
    /// Set `key=value` (written `key=value` in the pending list).
    Add(LabelKey, LabelValue),
    /// Remove `key` (written `key-` in the pending list, as `kubectl label` does).
    Remove(LabelKey),
}

impl LabelOp {
    /// Validates and builds an add.
    pub fn add(key: &str, value: &str) -> Result<Self, LabelParseError> {
        Ok(LabelOp::Add(LabelKey::new(key)?, LabelValue::new(value)?))
    }

    /// Validates and builds a removal.
    pub fn remove(key: &str) -> Result<Self, LabelParseError> {
        Ok(LabelOp::Remove(LabelKey::new(key)?))
    }

    /// The key this operation changes.
    pub fn key(&self) -> &LabelKey {
        match self {
            LabelOp::Add(k, _) | LabelOp::Remove(k) => k,
        }
    }
}

impl fmt::Display for LabelOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LabelOp::Add(k, v) => write!(f, "{k}={v}"),
            LabelOp::Remove(k) => write!(f, "{k}-"),
        }
    }
}

impl FromStr for LabelOp {
    type Err = LabelParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let op = if let Some((k, v)) = s.split_once('=') {
            LabelOp::add(k, v)
        } else if let Some(k) = s.strip_suffix('-') {
            LabelOp::remove(k)
        } else {
            return Err(LabelParseError::Op(s.to_owned()));
        };
        op.map_err(|_| LabelParseError::Op(s.to_owned()))
    }
}

/// The final value of every key the operations touch, applying them in order: `Some(v)` sets,
/// `None` removes. This is what one merge patch sends (`null` for `None`).
pub fn coalesce(ops: &[LabelOp]) -> BTreeMap<LabelKey, Option<LabelValue>> {
    let mut out = BTreeMap::new();
    for op in ops {
        match op {
            LabelOp::Add(k, v) => out.insert(k.clone(), Some(v.clone())),
            LabelOp::Remove(k) => out.insert(k.clone(), None),
        };
    }
    out
}

/// Applies operations to a label set, as the API server does with their merge patch.
pub fn apply(labels: &mut BTreeMap<String, String>, ops: &[LabelOp]) {
    for (k, v) in coalesce(ops) {
        match v {
            Some(v) => labels.insert(k.0, v.0),
            None => labels.remove(&k.0),
        };
    }
}

/// What remains of the pending list `current` once `drained` (a list read earlier and sent) is
/// taken off its front. `None` when `current` no longer starts with `drained` — the list was
/// purged or rewritten meanwhile — so the caller must not remove anything.
pub fn remove_prefix(current: &[LabelOp], drained: &[LabelOp]) -> Option<Vec<LabelOp>> {
    current.strip_prefix(drained).map(<[LabelOp]>::to_vec)
}

/// Whether a new operation may be sent straight to the master: only when nothing is pending,
/// so that no operation ever overtakes an older one.
pub fn may_send_directly(pending: &[LabelOp]) -> bool {
    pending.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(s: &str) -> LabelOp {
        s.parse().expect("valid op")
    }

    #[test]
    fn keys_and_values_follow_kubernetes_rules() {
        for k in [
            "snmp_enabled",
            "a",
            "sonic.net/hwsku",
            "A-b.c_d",
            &"k".repeat(63),
        ] {
            assert!(LabelKey::new(k).is_ok(), "{k}");
        }
        for k in [
            "",
            "-a",
            "a-",
            "a b",
            "a=b",
            "a,b",
            "Bad_Prefix/x",
            "/x",
            "p/",
            &"k".repeat(64),
        ] {
            assert!(LabelKey::new(k).is_err(), "{k}");
        }
        for v in ["", "true", "SONiC.2024-x"] {
            assert!(LabelValue::new(v).is_ok(), "{v}");
        }
        for v in ["a,b", "a=b", "-x", "x y", &"v".repeat(64)] {
            assert!(LabelValue::new(v).is_err(), "{v}");
        }
    }

    #[test]
    fn ops_round_trip_through_their_list_spelling() {
        for s in ["snmp_enabled=true", "snmp_enabled-", "k="] {
            assert_eq!(op(s).to_string(), s);
        }
        assert!("k".parse::<LabelOp>().is_err());
    }

    #[test]
    fn coalesce_keeps_the_last_operation_per_key() {
        let ops = [op("a=1"), op("b=2"), op("a-"), op("b=3")];
        let c = coalesce(&ops);
        assert_eq!(c.len(), 2);
        assert_eq!(c[&LabelKey::new("a").expect("key")], None);
        assert_eq!(
            c[&LabelKey::new("b").expect("key")],
            Some(LabelValue::new("3").expect("value"))
        );
    }

    #[test]
    fn remove_prefix_keeps_what_was_appended_meanwhile() {
        let drained = [op("a=1"), op("b-")];
        let current = [op("a=1"), op("b-"), op("c=1")];
        assert_eq!(remove_prefix(&current, &drained), Some(vec![op("c=1")]));
        assert_eq!(remove_prefix(&[op("c=1")], &drained), None);
    }
}
