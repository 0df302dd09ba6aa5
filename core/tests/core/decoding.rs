//! The total STATE_DB decoding (docs/decisions.md, rel-1), property-tested over arbitrary
//! strings for every STATE_DB field: decoding never fails and always gives a state, a warning
//! names exactly the fields whose value is none of the documented spellings, and a Stop or
//! Kill from any decoded record stops what the record says runs and leaves a canonical record
//! with no owner — the repair written by the step's own writes.

use std::collections::BTreeSet;

use ctrmgr_core::codec::{self, Fields, upstream};
use ctrmgr_core::machine::StateWrite;
use ctrmgr_core::{
    CurrentOwner, Effect, FeatureConfig, FeatureName, Input, Owner, State, StopOptions, Target,
    step_decoded,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

use crate::NOW;

/// The fields of STATE_DB `FEATURE|<f>` this project decodes.
const RECORD_FIELDS: [&str; 6] = [
    codec::CURRENT_OWNER,
    codec::CURRENT_OWNER_UPDATE_TS,
    codec::DOCKER_ID,
    codec::TRANSITION_MODE,
    codec::TRANSITION_MODE_UPDATE_TS,
    codec::START_REQUESTED_TS,
];

/// The upstream mirror's fields of the same row.
const MIRROR_FIELDS: [&str; 5] = [
    upstream::CONTAINER_ID,
    upstream::REMOTE_STATE,
    upstream::SYSTEM_STATE,
    upstream::UPDATE_TIME,
    upstream::CONTAINER_VERSION,
];

const KEY: &str = "FEATURE|snmp";

fn config() -> Config {
    Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    }
}

/// What a field may hold: a documented spelling (in some case, with white space), a value
/// that is almost one, or anything at all (Redis-key and shell metacharacters, new lines,
/// any Unicode).
fn value_for(field: &'static str) -> BoxedStrategy<String> {
    let known: Vec<&'static str> = match field {
        codec::CURRENT_OWNER => vec!["local", "kube", "none", "LOCAL", " Kube "],
        codec::TRANSITION_MODE => vec![
            "none",
            "kube_pending",
            "kube_ready",
            "kube_running",
            "KUBE_STOPPED",
            "kube_draining",
            "weird",
        ],
        codec::DOCKER_ID => vec!["0123456789abcdef", "snmp", "a b", "x|y", "*"],
        upstream::CONTAINER_ID => vec!["0123456789ab", "snmp", "", "not an id"],
        _ => vec![
            "17",
            "1700000000.25",
            "yesterday",
            "-1",
            "99999999999999999999999",
        ],
    };
    prop_oneof![
        3 => prop::sample::select(known).prop_map(str::to_owned),
        1 => Just(String::new()),
        2 => "[a-z_|*\n\r $;`]{0,12}",
        2 => any::<String>(),
    ]
    .boxed()
}

/// A STATE_DB `FEATURE|<f>` row: each field absent or holding [`value_for`] it.
fn any_row() -> impl Strategy<Value = Fields> {
    let fields: Vec<&'static str> = RECORD_FIELDS
        .iter()
        .chain(&MIRROR_FIELDS)
        .copied()
        .collect();
    let per_field: Vec<_> = fields
        .into_iter()
        .map(|f| prop::option::of(value_for(f)).prop_map(move |v| (f, v)))
        .collect();
    per_field.prop_map(|pairs| {
        pairs
            .into_iter()
            .filter_map(|(f, v)| v.map(|v| (f.to_owned(), v)))
            .collect()
    })
}

/// Whether `value` alone in `field` is one of its documented spellings: the strict decoder
/// (which stays the definition of the documented spellings) accepts it.
fn documented(field: &str, value: &str) -> bool {
    let one: Fields = [(field.to_owned(), value.to_owned())].into();
    codec::decode_feature_record(KEY, &one).is_ok()
}

fn any_config() -> impl Strategy<Value = FeatureConfig> {
    (any::<bool>(), any::<bool>()).prop_map(|(kube, fallback)| {
        FeatureConfig::new(if kube { Owner::Kube } else { Owner::Local }, fallback)
    })
}

/// One HSET of a write into `row`, as the adapter does it: the guard compared with the mode
/// as read by the total rule (which must hold: nothing else writes here).
fn hset(feature: &FeatureName, row: &mut Fields, w: &StateWrite) {
    if let Some(g) = w.guard {
        let (seen, _) =
            codec::read_transition_mode(row.get(codec::TRANSITION_MODE).map(String::as_str));
        assert_eq!(seen, g, "the guard matches what was read");
    }
    for (k, v) in codec::encode_state_write(feature, w) {
        row.insert(k.to_owned(), v);
    }
}

proptest! {
    #![proptest_config(config())]

    /// Never an error, always a state; a warning exactly for the fields whose value is none
    /// of the documented spellings, naming key, field and value.
    #[test]
    fn state_decoding_is_total_and_warns_exactly_for_unknown_values(row in any_row()) {
        let d = codec::decode_feature_state(KEY, &row);
        let _state: State = d.record.state();
        let warned: BTreeSet<&str> = d.warnings.iter().map(|w| w.field.as_str()).collect();
        prop_assert_eq!(warned.len(), d.warnings.len(), "one warning per field");
        for field in RECORD_FIELDS {
            let unknown = row.get(field).is_some_and(|v| !documented(field, v));
            prop_assert_eq!(warned.contains(field), unknown, "{} = {:?}", field, row.get(field));
        }
        for w in &d.warnings {
            prop_assert_eq!(w.key.as_str(), KEY);
            prop_assert_eq!(Some(&w.value), row.get(&w.field));
            let msg = w.to_string();
            prop_assert!(msg.contains(KEY) && msg.contains(&w.field), "{}", msg);
        }
        // Where every field is documented, the total and the strict decoders agree.
        if d.warnings.is_empty() {
            prop_assert_eq!(codec::decode_feature_record(KEY, &row), Ok(d.record.clone()));
        }
        // The mirror is read totally too.
        let _ = upstream::decode_upstream(&row);
    }

    /// A Stop or Kill from any decoded row stops what the record says runs, and its writes
    /// leave a canonical record (no warning, no anomaly) with no owner.
    #[test]
    fn a_stop_from_any_decoded_row_stops_what_runs_and_leaves_a_canonical_record(
        mut row in any_row(),
        cfg in any_config(),
        kill in any::<bool>(),
    ) {
        let feature = FeatureName::new("snmp").expect("valid");
        let d = codec::decode_feature_state(KEY, &row);
        let input = if kill { Input::Kill } else { Input::Stop(StopOptions::default()) };
        let s = step_decoded(&d, &cfg, input, NOW);
        // What runs according to the record is stopped (a kube container by the bounded wait
        // or by `docker kill`; kubelet removes it once the label is gone).
        let stops = |t: &Target| s.effects.iter().any(|e| match e {
            Effect::DockerStop { target, .. } => target == t,
            Effect::DockerKill { target } => target == t,
            Effect::AwaitExit { id, .. } => *t == Target::Id(id.clone()),
            _ => false,
        });
        let state = d.record.state();
        match state {
            State::Local | State::LocalToKube => {
                let t = d.record.docker_id.clone().map_or(Target::LocalByName, Target::Id);
                prop_assert!(stops(&t), "{:?} from {:?}: {:?}", t, state, s.effects);
            }
            State::KubeRunning => {
                let id = d.record.docker_id.clone().expect("kube running has an id");
                prop_assert!(stops(&Target::Id(id)), "{:?}", s.effects);
                prop_assert!(s.effects.contains(&Effect::LabelRemove));
            }
            State::Init => prop_assert!(stops(&Target::LocalByName), "{:?}", s.effects),
            _ => {}
        }
        for e in &s.effects {
            if let Effect::Write(w) = e {
                hset(&feature, &mut row, w);
            }
        }
        let after = codec::decode_feature_state(KEY, &row);
        prop_assert!(after.warnings.is_empty(), "repaired: {:?} in {:?}", after.warnings, row);
        let (st, anomaly) = after.record.classify();
        prop_assert!(anomaly.is_none(), "{:?}", anomaly);
        prop_assert_eq!(st, s.next);
        prop_assert_eq!(after.record.current_owner, CurrentOwner::None);
        prop_assert_eq!(after.record.docker_id, None);
        // And the mirror agrees: nothing runs.
        if s.effects.iter().any(|e| matches!(e, Effect::Write(w) if w.owner.is_some())) {
            prop_assert!(!upstream::decode_upstream(&row).running());
        }
    }

    /// KUBERNETES_MASTER|SERVER and KUBE_SERVER|PENDING_LABELS (STATE_DB) decode totally too.
    #[test]
    fn server_status_and_pending_labels_decode_totally(
        connected in value_for(codec::SERVER_CONNECTED),
        ts in value_for(codec::SERVER_LAST_UPDATE_TS),
        items in prop::collection::vec(prop_oneof!["[a-z]{1,5}=[a-z]{0,3}", "[a-z]{1,5}-", ".{0,8}"], 0..6),
    ) {
        let key = "KUBERNETES_MASTER|SERVER";
        let row: Fields = [
            (codec::SERVER_CONNECTED.to_owned(), connected.clone()),
            (codec::SERVER_LAST_UPDATE_TS.to_owned(), ts),
        ].into();
        let (status, warnings) = codec::decode_server_status_total(key, &row);
        let strict = codec::decode_server_status(key, &row);
        prop_assert_eq!(warnings.is_empty(), strict.is_ok());
        if let Ok(s) = strict {
            prop_assert_eq!(s, status);
        }
        if codec::parse_bool(key, codec::SERVER_CONNECTED, &connected).is_err() && !connected.trim().is_empty() {
            prop_assert!(!status.connected);
        }
        let list = items.join(",");
        let pkey = "KUBE_SERVER|PENDING_LABELS";
        let (ops, warnings) = codec::decode_pending_labels_total(pkey, Some(&list));
        match codec::decode_pending_labels(pkey, Some(&list)) {
            Ok(strict) => {
                prop_assert_eq!(&strict, &ops);
                prop_assert!(warnings.is_empty());
            }
            Err(_) => prop_assert!(!warnings.is_empty()),
        }
        // What was kept re-encodes to a list that decodes without warnings.
        let again = codec::encode_pending_labels(&ops);
        let (ops2, w2) = codec::decode_pending_labels_total(pkey, Some(&again));
        prop_assert_eq!(ops2, ops);
        prop_assert!(w2.is_empty());
    }
}

/// The rule's table, spelled out: what an unknown value in each field reads as.
#[test]
fn unknown_values_read_as_the_nearest_state() {
    let row = |pairs: &[(&str, &str)]| -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    };
    let state =
        |pairs: &[(&str, &str)]| codec::decode_feature_state(KEY, &row(pairs)).record.state();
    assert_eq!(
        state(&[("current_owner", "local"), ("transition_mode", "weird")]),
        State::Local
    );
    assert_eq!(state(&[("transition_mode", "weird")]), State::Init);
    assert_eq!(
        state(&[
            ("current_owner", "kube"),
            ("docker_id", "abc"),
            ("transition_mode", "weird")
        ]),
        State::KubeRunning
    );
    assert_eq!(state(&[("current_owner", "garbage")]), State::Local);
    assert_eq!(
        state(&[
            ("current_owner", "garbage"),
            ("docker_id", "abc"),
            ("transition_mode", "kube_running")
        ]),
        State::KubeRunning
    );
    assert_eq!(
        state(&[
            ("current_owner", "garbage"),
            ("transition_mode", "kube_pending")
        ]),
        State::LocalToKube
    );
    // The recorded-but-unparseable id: upstream's container_id names the kube container.
    assert_eq!(
        state(&[
            ("current_owner", "kube"),
            ("docker_id", "0123 4567"),
            ("transition_mode", "kube_running"),
            ("container_id", "0123456789ab"),
        ]),
        State::KubeRunning
    );
}
