//! Properties, checked with proptest.
//!
//! - [`db`]: every decoder of the DB codec and every parser of names, ids and labels is
//!   total over arbitrary input (never panics, and an error names the key, field and value),
//!   and valid values survive encode → decode unchanged (a STATE_DB write included).
//! - [`world`]: the in-process simulator (`ctrmgr_model::sim`) drives `step` the way the
//!   driver, systemd, kubelet, hostcfgd and kube-monit would, through random event sequences
//!   from every starting state and configuration, and checks the invariants of DESIGN.md §4
//!   after every event.
//! - [`healing`]: from every decodable record, Stop then Start heal it; the daemons' functions
//!   agree with `step`.

mod db;
mod healing;
mod world;

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};

use ctrmgr_core::codec::{self, Fields};
use ctrmgr_core::label::{self, LabelKey, LabelOp, LabelValue};
use ctrmgr_core::{
    ContainerId, CurrentOwner, Effect, FeatureConfig, FeatureName, FeatureRecord, Input, Owner,
    OwnerWrite, Reason, ServerConfig, ServerStatus, State, StateWrite, StopOptions, Timestamp,
    TransitionMode, UnitActivity, approval_pending, next_deadline, step,
};
use ctrmgr_model::sim::{DownTiming, KubePhase, Options, Sim};
use proptest::prelude::*;
use proptest::test_runner::Config;

use crate::EARLIER;

/// proptest settings: `cases` per property, no regression files written into the source tree.
fn config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    }
}

// ---- generators shared by the properties ------------------------------------------------------

/// Every field name the codec knows, so that random maps hit the real decoders' branches.
const KNOWN_FIELDS: &[&str] = &[
    codec::SET_OWNER,
    codec::FALLBACK_TO_LOCAL,
    codec::KUBE_FAILURE_DETECTION,
    codec::FEATURE_STATE,
    codec::CURRENT_OWNER,
    codec::CURRENT_OWNER_UPDATE_TS,
    codec::DOCKER_ID,
    codec::TRANSITION_MODE,
    codec::TRANSITION_MODE_UPDATE_TS,
    codec::START_REQUESTED_TS,
    codec::SERVER_IP,
    codec::SERVER_PORT,
    codec::SERVER_INSECURE,
    codec::SERVER_DISABLE,
    codec::SERVER_CONNECTED,
    codec::SERVER_LAST_UPDATE_TS,
    codec::HOSTNAME,
    codec::PLATFORM,
    codec::HWSKU,
    codec::DEVICE_TYPE,
    codec::PENDING_LABELS_FIELD,
];

/// Every value spelling the codec knows.
const KNOWN_VALUES: &[&str] = &[
    codec::OWNER_LOCAL,
    codec::OWNER_KUBE,
    codec::OWNER_NONE,
    codec::MODE_KUBE_PENDING,
    codec::MODE_KUBE_READY,
    codec::MODE_KUBE_RUNNING,
    codec::MODE_KUBE_STOPPED,
    codec::TRUE,
    codec::FALSE,
    "0",
    "1",
    "65535",
    "65536",
    "1700000000.25",
    "0123456789ab",
    "snmp",
    "-1",
    "10.0.0.1",
    "fd00::1",
    "[fd00::1]",
    "1.2.3",
    "master.example",
    "a=b,c-",
];

/// A known spelling with a random mix of upper and lower case and maybe white space around it.
fn mangled_known_value() -> impl Strategy<Value = String> {
    (
        prop::sample::select(KNOWN_VALUES),
        any::<u64>(),
        any::<bool>(),
    )
        .prop_map(|(v, bits, pad)| {
            let cased: String = v
                .chars()
                .enumerate()
                .map(|(i, c)| {
                    if bits >> (i % 64) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            if pad { format!(" {cased}\t") } else { cased }
        })
}

/// Any string, weighted towards the shapes the decoders look at.
fn any_value() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => mangled_known_value(),
        2 => "[a-zA-Z0-9_.:=,|\\[\\] -]{0,16}",
        2 => ".{0,24}",
        1 => any::<String>(),
    ]
}

fn any_fields() -> impl Strategy<Value = Fields> {
    let name = prop_oneof![
        4 => prop::sample::select(KNOWN_FIELDS).prop_map(str::to_owned),
        1 => ".{0,10}",
    ];
    prop::collection::hash_map(name, any_value(), 0..8)
}

fn to_fields(pairs: Vec<(&'static str, String)>) -> Fields {
    pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect()
}

/// A decode error must name the row, a field the decoder reads, and the value it refused.
fn assert_names_key_field_value(e: &codec::DecodeError, key: &str, fields: &Fields) {
    assert_eq!(e.key, key);
    assert!(KNOWN_FIELDS.contains(&e.field.as_str()), "{e}");
    let msg = e.to_string();
    assert!(msg.contains(key), "{msg}");
    assert!(msg.contains(&e.field), "{msg}");
    let raw = fields.get(&e.field).map(|v| v.trim().to_owned());
    assert_eq!(raw.as_deref(), Some(e.value.as_str()), "{msg}");
}

/// What a field holds once white space is trimmed; `None` when absent or empty.
fn trimmed<'a>(fields: &'a Fields, name: &str) -> Option<&'a str> {
    fields.get(name).map(|v| v.trim()).filter(|v| !v.is_empty())
}

fn valid_id() -> impl Strategy<Value = ContainerId> {
    prop_oneof!["[0-9a-f]{64}", "[A-Za-z0-9][A-Za-z0-9_.-]{0,39}"]
        .prop_map(|s| ContainerId::new(&s).expect("generated ids are valid"))
}

fn label_name() -> &'static str {
    "[A-Za-z0-9]([A-Za-z0-9_.-]{0,20}[A-Za-z0-9])?"
}

fn valid_key() -> impl Strategy<Value = LabelKey> {
    let prefix = prop_oneof![
        Just(String::new()),
        "[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?(\\.[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?){0,2}/",
    ];
    (prefix, label_name())
        .prop_map(|(p, n)| LabelKey::new(&format!("{p}{n}")).expect("generated keys are valid"))
}

fn valid_value() -> impl Strategy<Value = LabelValue> {
    prop_oneof![Just(String::new()), label_name().prop_map(|s| s)]
        .prop_map(|v| LabelValue::new(&v).expect("generated values are valid"))
}

fn valid_op() -> impl Strategy<Value = LabelOp> {
    prop_oneof![
        (valid_key(), valid_value()).prop_map(|(k, v)| LabelOp::Add(k, v)),
        valid_key().prop_map(LabelOp::Remove),
    ]
}

fn valid_host() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<u32>().prop_map(|a| Ipv4Addr::from(a).to_string()),
        any::<u128>().prop_map(|a| Ipv6Addr::from(a).to_string()),
        any::<u128>().prop_map(|a| format!("[{}]", Ipv6Addr::from(a))),
        "[a-z]([a-z0-9-]{0,10}[a-z0-9])?(\\.[a-z]([a-z0-9-]{0,10}[a-z0-9])?){0,3}",
    ]
}

fn any_owner() -> impl Strategy<Value = Owner> {
    prop_oneof![Just(Owner::Local), Just(Owner::Kube)]
}

fn any_current_owner() -> impl Strategy<Value = CurrentOwner> {
    prop_oneof![
        Just(CurrentOwner::None),
        Just(CurrentOwner::Local),
        Just(CurrentOwner::Kube)
    ]
}

/// Any second since the epoch.
fn any_ts() -> impl Strategy<Value = Timestamp> {
    any::<u64>().prop_map(Timestamp::from_secs)
}

fn any_mode() -> impl Strategy<Value = TransitionMode> {
    prop::sample::select(TransitionMode::ALL.to_vec())
}

fn any_state() -> impl Strategy<Value = State> {
    prop::sample::select(State::ALL.to_vec())
}

fn any_config() -> impl Strategy<Value = FeatureConfig> {
    (
        any_owner(),
        any::<bool>(),
        prop::sample::select(vec![0u32, 1, 5]),
    )
        .prop_map(
            |(set_owner, fallback_to_local, kube_failure_detection_mins)| FeatureConfig {
                set_owner,
                fallback_to_local,
                kube_failure_detection_mins,
                state: None,
                ..FeatureConfig::default()
            },
        )
}
