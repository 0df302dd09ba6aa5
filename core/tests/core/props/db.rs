//! The DB codec: total decoders, and valid values that survive encode → decode.

use super::*;

proptest! {
    #![proptest_config(config(256))]

    #[test]
    fn scalar_decoders_never_panic_and_read_only_documented_spellings(v in any_value()) {
        let key = "FEATURE|snmp";
        let t = v.trim();
        match codec::parse_bool(key, "fallback_to_local", &v) {
            Ok(b) => prop_assert!(t.eq_ignore_ascii_case(codec::bool_str(b))),
            Err(e) => {
                prop_assert!(!t.eq_ignore_ascii_case("true") && !t.eq_ignore_ascii_case("false"));
                prop_assert_eq!(e.value, v.clone());
            }
        }
        match codec::parse_set_owner(key, Some(&v)) {
            Ok(Owner::Kube) => prop_assert!(t.eq_ignore_ascii_case("kube")),
            Ok(Owner::Local) => prop_assert!(t.is_empty() || t.eq_ignore_ascii_case("local")),
            Err(e) => prop_assert!(e.to_string().contains(key)),
        }
        match codec::parse_current_owner(key, Some(&v)) {
            Ok(o) if t.is_empty() => prop_assert_eq!(o, CurrentOwner::None),
            Ok(o) => prop_assert!(t.eq_ignore_ascii_case(o.as_str())),
            Err(e) => prop_assert_eq!(e.field, codec::CURRENT_OWNER),
        }
        match codec::parse_transition_mode(key, Some(&v)) {
            Ok(m) if t.is_empty() => prop_assert_eq!(m, TransitionMode::None),
            Ok(m) => prop_assert!(t.eq_ignore_ascii_case(m.as_str())),
            Err(e) => prop_assert_eq!(e.field, codec::TRANSITION_MODE),
        }
        let _ = codec::is_valid_host(&v);
    }

    #[test]
    fn feature_config_decoding_is_total_and_never_misreads(fields in any_fields()) {
        let key = "FEATURE|snmp";
        match codec::decode_feature_config(key, &fields) {
            Ok(c) => {
                let owner_kube = trimmed(&fields, codec::SET_OWNER)
                    .is_some_and(|v| v.eq_ignore_ascii_case("kube"));
                prop_assert_eq!(c.set_owner == Owner::Kube, owner_kube);
                let fb = trimmed(&fields, codec::FALLBACK_TO_LOCAL)
                    .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                prop_assert_eq!(c.fallback_to_local, fb);
                // What was read encodes back to the same configuration.
                let mut again = to_fields(codec::encode_feature_config(&c));
                if let Some(s) = &c.state {
                    again.insert(codec::FEATURE_STATE.to_owned(), s.clone());
                }
                prop_assert_eq!(codec::decode_feature_config(key, &again), Ok(c));
            }
            Err(e) => assert_names_key_field_value(&e, key, &fields),
        }
    }

    #[test]
    fn feature_record_decoding_is_total_and_stable_under_re_encoding(fields in any_fields()) {
        let key = "FEATURE|snmp";
        match codec::decode_feature_record(key, &fields) {
            Ok(r) => {
                let again = to_fields(codec::encode_feature_record(&r));
                prop_assert_eq!(codec::decode_feature_record(key, &again), Ok(r.clone()));
                // And the state read from it is total too.
                let _ = r.classify();
            }
            Err(e) => assert_names_key_field_value(&e, key, &fields),
        }
    }

    #[test]
    fn server_rows_and_device_metadata_decoding_is_total(fields in any_fields()) {
        let key = "KUBERNETES_MASTER|SERVER";
        match codec::decode_server_config(key, &fields) {
            Ok(c) => {
                let again = to_fields(codec::encode_server_config(&c));
                prop_assert_eq!(codec::decode_server_config(key, &again), Ok(c));
            }
            Err(e) => assert_names_key_field_value(&e, key, &fields),
        }
        match codec::decode_server_status(key, &fields) {
            Ok(s) => {
                let again = to_fields(codec::encode_server_status(&s));
                prop_assert_eq!(codec::decode_server_status(key, &again), Ok(s));
            }
            Err(e) => assert_names_key_field_value(&e, key, &fields),
        }
        let m = codec::decode_device_metadata(&fields);
        if let Some(n) = m.node_name() {
            prop_assert!(!n.is_empty());
            prop_assert_eq!(n.to_ascii_lowercase(), n.clone());
        }
    }

    #[test]
    fn pending_label_lists_decode_totally(v in prop_oneof![
        any_value(),
        prop::collection::vec(any_value(), 0..5).prop_map(|items| items.join(",")),
    ]) {
        let key = "KUBE_SERVER|PENDING_LABELS";
        match codec::decode_pending_labels(key, Some(&v)) {
            Ok(ops) => {
                let again = codec::encode_pending_labels(&ops);
                prop_assert_eq!(codec::decode_pending_labels(key, Some(&again)), Ok(ops));
            }
            Err(e) => {
                prop_assert_eq!(e.field, codec::PENDING_LABELS_FIELD);
                prop_assert!(v.trim().split(',').any(|item| item == e.value));
            }
        }
    }

    #[test]
    fn names_ids_and_label_parsers_never_panic_and_accept_only_their_alphabet(v in any_value()) {
        if let Ok(f) = FeatureName::new(&v) {
            prop_assert!(!v.is_empty() && v.len() <= 32);
            prop_assert!(v.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-'));
            prop_assert_eq!(f.to_string().parse::<FeatureName>(), Ok(f.clone()));
            prop_assert!(f.enable_label_key().ends_with(codec::ENABLED_LABEL_SUFFIX));
            // The feature's node label key is always a valid Kubernetes label key.
            prop_assert!(LabelKey::new(&f.enable_label_key()).is_ok());
        }
        if let Ok(id) = ContainerId::new(&v) {
            prop_assert!(!v.is_empty() && v.len() <= 128);
            prop_assert!(v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-'));
            prop_assert!(v.starts_with(id.short()));
        }
        if let Ok(k) = LabelKey::new(&v) {
            prop_assert!(!v.contains('=') && !v.contains(','));
            prop_assert_eq!(k.to_string().parse::<LabelKey>(), Ok(k.clone()));
        }
        if let Ok(val) = LabelValue::new(&v) {
            prop_assert!(v.len() <= 63 && !v.contains(',') && !v.contains('='));
            prop_assert_eq!(val.to_string().parse::<LabelValue>(), Ok(val.clone()));
        }
        if let Ok(op) = v.parse::<LabelOp>() {
            prop_assert_eq!(op.to_string().parse::<LabelOp>(), Ok(op.clone()));
        }
    }

    #[test]
    fn feature_records_round_trip_through_the_db_fields(
        current_owner in any_current_owner(),
        docker_id in prop::option::of(valid_id()),
        transition_mode in any_mode(),
        current_owner_update_ts in prop::option::of(any_ts()),
        transition_mode_update_ts in prop::option::of(any_ts()),
    ) {
        let r = FeatureRecord {
            current_owner,
            current_owner_update_ts,
            docker_id,
            transition_mode,
            transition_mode_update_ts,
            start_requested_ts: transition_mode_update_ts,
        };
        let fields = to_fields(codec::encode_feature_record(&r));
        prop_assert_eq!(codec::decode_feature_record("FEATURE|x", &fields), Ok(r));
    }

    /// The fields of one STATE_DB write (`codec::encode_state_write`, what the adapter HSETs)
    /// over the fields of a record decode as the record with the write applied.
    #[test]
    fn state_writes_encode_to_fields_that_decode_as_the_write_applied(
        current_owner in any_current_owner(),
        docker_id in prop::option::of(valid_id()),
        transition_mode in any_mode(),
        ts in prop::option::of(any_ts()),
        owner in prop::option::of((any_current_owner(), prop::option::of(valid_id()))),
        mode in prop::option::of(any_mode()),
        start_requested in prop::option::of(any::<bool>()),
        now in any_ts(),
    ) {
        let r = FeatureRecord {
            current_owner,
            current_owner_update_ts: ts,
            docker_id,
            transition_mode,
            transition_mode_update_ts: ts,
            start_requested_ts: ts,
        };
        let w = StateWrite {
            guard: None,
            owner: owner.map(|(owner, docker_id)| OwnerWrite { owner, docker_id }),
            mode,
            start_requested,
            now,
        };
        let feature = FeatureName::new("snmp").expect("a valid name");
        let mut fields = to_fields(codec::encode_feature_record(&r));
        fields.extend(to_fields(codec::encode_state_write(&feature, &w)));
        let mut want = r.clone();
        w.apply(&mut want);
        prop_assert_eq!(codec::decode_feature_record("FEATURE|snmp", &fields), Ok(want));
    }

    #[test]
    fn feature_configs_round_trip_through_the_db_fields(
        set_owner in any_owner(),
        fallback_to_local in any::<bool>(),
        kube_failure_detection_mins in any::<u32>(),
    ) {
        let c = FeatureConfig { set_owner, fallback_to_local, kube_failure_detection_mins, state: None, ..FeatureConfig::default() };
        let fields = to_fields(codec::encode_feature_config(&c));
        prop_assert_eq!(codec::decode_feature_config("FEATURE|x", &fields), Ok(c));
    }

    #[test]
    fn server_config_and_status_round_trip_through_the_db_fields(
        ip in prop::option::of(valid_host()),
        port in 1u16..,
        insecure in any::<bool>(),
        disable in any::<bool>(),
        connected in any::<bool>(),
        last_update_ts in prop::option::of(any_ts()),
    ) {
        let c = ServerConfig { ip, port, insecure, disable };
        let fields = to_fields(codec::encode_server_config(&c));
        prop_assert_eq!(codec::decode_server_config("K", &fields), Ok(c));
        let s = ServerStatus { connected, last_update_ts };
        let fields = to_fields(codec::encode_server_status(&s));
        prop_assert_eq!(codec::decode_server_status("K", &fields), Ok(s));
    }

    #[test]
    fn pending_label_lists_round_trip_and_drain_exactly_their_prefix(
        ops in prop::collection::vec(valid_op(), 0..10),
        later in prop::collection::vec(valid_op(), 0..4),
    ) {
        let encoded = codec::encode_pending_labels(&ops);
        prop_assert_eq!(codec::decode_pending_labels("K", Some(&encoded)), Ok(ops.clone()));
        for op in &ops {
            prop_assert_eq!(op.to_string().parse::<LabelOp>(), Ok(op.clone()));
        }
        // One coalesced patch has the same effect as applying the operations one by one.
        let mut one_by_one = BTreeMap::new();
        for op in &ops {
            label::apply(&mut one_by_one, std::slice::from_ref(op));
        }
        let mut patched = BTreeMap::new();
        label::apply(&mut patched, &ops);
        prop_assert_eq!(patched, one_by_one);
        // Draining removes exactly what was read; what was appended meanwhile stays.
        let current: Vec<LabelOp> = ops.iter().chain(&later).cloned().collect();
        prop_assert_eq!(label::remove_prefix(&current, &ops), Some(later.clone()));
    }
}
