//! Unit tests of the codec.

use super::*;
use crate::types::{ContainerId, FeatureConfig, FeatureRecord};

fn f(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn feature_config_defaults_when_fields_are_absent_or_empty() {
    let c = decode_feature_config("FEATURE|snmp", &f(&[("set_owner", "")])).expect("decodes");
    assert_eq!(c, FeatureConfig::default());
}

#[test]
fn booleans_are_read_in_any_case_and_nothing_else_is_a_boolean() {
    for (v, want) in [
        ("true", true),
        ("TRUE", true),
        ("False", false),
        (" false ", false),
    ] {
        assert_eq!(parse_bool("k", "f", v), Ok(want));
    }
    for v in ["1", "yes", "on", "tru", "falsey"] {
        let e = parse_bool("FEATURE|snmp", "fallback_to_local", v).expect_err(v);
        assert_eq!(e.field, "fallback_to_local");
        assert!(e.to_string().contains("FEATURE|snmp"));
    }
}

#[test]
fn unknown_set_owner_is_an_error_naming_key_field_and_value() {
    let e = decode_feature_config("FEATURE|snmp", &f(&[("set_owner", "kub")]))
        .expect_err("kub is not an owner");
    assert_eq!(
        e.to_string(),
        "FEATURE|snmp: field set_owner has unexpected value \"kub\" (expected local or kube)"
    );
}

#[test]
fn feature_record_round_trips() {
    let rec = FeatureRecord {
        current_owner: CurrentOwner::Kube,
        current_owner_update_ts: Some(Timestamp::from_secs(17)),
        docker_id: ContainerId::new("0123abcd").ok(),
        transition_mode: TransitionMode::KubeRunning,
        transition_mode_update_ts: Some(Timestamp::from_secs(18)),
        start_requested_ts: Some(Timestamp::from_secs(19)),
    };
    let fields: Fields = encode_feature_record(&rec)
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    assert_eq!(decode_feature_record("FEATURE|x", &fields), Ok(rec));
}

#[test]
fn fallback_is_fallback_to_local_else_not_no_fallback_to_local_else_false() {
    let k = "FEATURE|lldp";
    for (pairs, want) in [
        (vec![], false),
        (vec![("set_owner", "kube")], false),
        (vec![("no_fallback_to_local", "false")], true),
        (vec![("no_fallback_to_local", "True")], false),
        (
            vec![
                ("fallback_to_local", "true"),
                ("no_fallback_to_local", "true"),
            ],
            true,
        ),
        (
            vec![
                ("fallback_to_local", "false"),
                ("no_fallback_to_local", "false"),
            ],
            false,
        ),
        (
            vec![("fallback_to_local", ""), ("no_fallback_to_local", "false")],
            true,
        ),
    ] {
        let c = decode_feature_config(k, &f(&pairs)).expect("decodes");
        assert_eq!(c.fallback_to_local, want, "{pairs:?}");
    }
    let e = decode_feature_config(k, &f(&[("no_fallback_to_local", "yes")]))
        .expect_err("not a boolean");
    assert_eq!(e.field, "no_fallback_to_local");
}

#[test]
fn state_decoding_is_total_and_names_what_it_read_past() {
    let d = decode_feature_state(
        "FEATURE|snmp",
        &f(&[
            ("current_owner", "garbage"),
            ("docker_id", "0123abcd"),
            ("transition_mode", "kube_running"),
            ("transition_mode_update_ts", "yesterday"),
            ("current_owner_update_ts", "17"),
        ]),
    );
    assert_eq!(d.record.current_owner, CurrentOwner::Kube);
    assert_eq!(d.record.transition_mode_update_ts, None);
    assert_eq!(
        d.record.current_owner_update_ts,
        Some(Timestamp::from_secs(17))
    );
    let named: Vec<_> = d.warnings.iter().map(|w| w.field.as_str()).collect();
    assert_eq!(named, ["current_owner", "transition_mode_update_ts"]);
    assert_eq!(
        d.warnings[0].to_string(),
        "FEATURE|snmp: field current_owner has unknown value \"garbage\": read as kube"
    );
    assert!(
        decode_feature_record(
            "FEATURE|snmp",
            &f(&[("transition_mode_update_ts", "yesterday")])
        )
        .is_err(),
        "the strict decoder still refuses"
    );
    // An unknown mode is none: the owner says what runs.
    let d = decode_feature_state(
        "K",
        &f(&[("current_owner", "local"), ("transition_mode", "weird")]),
    );
    assert_eq!(d.record.state(), crate::types::State::Local);
    assert_eq!(d.warnings[0].read_as, "none");
    // An unknown owner without a kube id is local: a Stop stops the local container.
    let d = decode_feature_state("K", &f(&[("current_owner", "x"), ("docker_id", "snmp")]));
    assert_eq!(d.record.current_owner, CurrentOwner::Local);
    let d = decode_feature_state("K", &f(&[("current_owner", "x")]));
    assert_eq!(d.record.current_owner, CurrentOwner::Local);
    // A docker_id that is no id falls back to upstream's container_id, else absent.
    let d = decode_feature_state(
        "K",
        &f(&[
            ("current_owner", "kube"),
            ("transition_mode", "kube_running"),
            ("docker_id", "not an id|*"),
            ("container_id", "0123456789ab"),
        ]),
    );
    assert_eq!(d.record.docker_id, ContainerId::new("0123456789ab").ok());
    assert_eq!(d.record.state(), crate::types::State::KubeRunning);
    let d = decode_feature_state("K", &f(&[("docker_id", "a b")]));
    assert_eq!(d.record.docker_id, None);
    assert!(d.read_past(DOCKER_ID));
    // Documented spellings in any case are no warning.
    let d = decode_feature_state(
        "K",
        &f(&[
            ("current_owner", " LOCAL "),
            ("transition_mode", "Kube_Pending"),
        ]),
    );
    assert!(!d.needs_repair(), "{:?}", d.warnings);
}

#[test]
fn server_config_checks_port_and_ip() {
    let ok = decode_server_config(
        "KUBERNETES_MASTER|SERVER",
        &f(&[("ip", "10.3.1.1"), ("port", "443"), ("insecure", "True")]),
    )
    .expect("decodes");
    assert_eq!(ok.port, 443);
    assert!(ok.insecure);
    for (field_name, v) in [
        ("port", "0"),
        ("port", "70000"),
        ("ip", "300.1.1.1"),
        ("ip", "a b"),
    ] {
        assert!(
            decode_server_config("K", &f(&[(field_name, v)])).is_err(),
            "{field_name}={v}"
        );
    }
    for host in ["fd00::1", "[fd00::1]", "master.example.com", "k8s-1"] {
        assert!(is_valid_host(host), "{host}");
    }
}

#[test]
fn pending_labels_decode_in_order() {
    let ops =
        decode_pending_labels("KUBE_SERVER|PENDING_LABELS", Some("a=1,b-,a=2")).expect("decodes");
    assert_eq!(encode_pending_labels(&ops), "a=1,b-,a=2");
    assert!(decode_pending_labels("K", Some("a=1,=x")).is_err());
    assert_eq!(decode_pending_labels("K", Some("")), Ok(vec![]));
}
