//! Round trips of every row of DESIGN.md §3, and malformed values.

use ctrmgr_core::ports::{ErrorKind, StateStore};
use ctrmgr_core::{
    ContainerId, CurrentOwner, DeviceMetadata, FeatureConfig, FeatureRecord, LabelOp, Owner,
    OwnerWrite, ServerConfig, ServerStatus, State, StateWrite, Timestamp, TransitionMode,
};
use ctrmgr_dbclient::DbName;

use crate::support::{Raw, connect, feature, fields, redis};

#[tokio::test]
async fn feature_config_round_trips_through_config_db() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    let snmp = feature("snmp");
    assert_eq!(db.feature_config(&snmp).await.expect("read"), None);

    let cfg = FeatureConfig {
        set_owner: Owner::Kube,
        fallback_to_local: true,
        kube_failure_detection_mins: 5,
        state: Some("enabled".to_owned()),
        ..FeatureConfig::default()
    };
    db.set_feature_config(&snmp, &cfg).await.expect("write");
    assert_eq!(db.feature_config(&snmp).await.expect("read"), Some(cfg));
    assert_eq!(
        raw.hgetall(&db, DbName::ConfigDb, "FEATURE|snmp").await,
        fields(&[
            ("set_owner", "kube"),
            ("fallback_to_local", "true"),
            ("kube_failure_detection", "5"),
            ("state", "enabled"),
        ])
    );
    assert!(
        raw.hgetall(&db, DbName::StateDb, "FEATURE|snmp")
            .await
            .is_empty(),
        "a config write touches CONFIG_DB only"
    );

    db.set_feature_owner(&snmp, Owner::Local)
        .await
        .expect("owner");
    db.set_feature_fallback(&snmp, false)
        .await
        .expect("fallback");
    db.set_feature_failure_detection(&snmp, 0)
        .await
        .expect("failure detection");
    assert_eq!(
        db.feature_config(&snmp).await.expect("read"),
        Some(FeatureConfig {
            state: Some("enabled".to_owned()),
            ..FeatureConfig::default()
        })
    );
}

#[tokio::test]
async fn feature_record_round_trips_through_state_db() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    let lldp = feature("lldp");
    assert_eq!(
        db.feature_record(&lldp).await.expect("read"),
        FeatureRecord::default(),
        "an absent record reads as INIT"
    );

    let rec = FeatureRecord {
        current_owner: CurrentOwner::Kube,
        current_owner_update_ts: Some(Timestamp::from_secs(1_700_000_001)),
        docker_id: Some(ContainerId::new("0123456789ab").expect("id")),
        transition_mode: TransitionMode::KubeRunning,
        transition_mode_update_ts: Some(Timestamp::from_secs(1_700_000_002)),
        start_requested_ts: None,
    };
    db.set_feature_record(&lldp, &rec).await.expect("write");
    assert_eq!(db.feature_record(&lldp).await.expect("read"), rec);
    assert_eq!(
        raw.hgetall(&db, DbName::StateDb, "FEATURE|lldp").await,
        fields(&[
            ("current_owner", "kube"),
            ("current_owner_update_ts", "1700000001"),
            ("docker_id", "0123456789ab"),
            ("transition_mode", "kube_running"),
            ("transition_mode_update_ts", "1700000002"),
            // Upstream's mirror, written with them.
            ("container_id", "0123456789ab"),
            ("remote_state", "running"),
            ("system_state", "up"),
            ("update_time", "2023-11-14 22:13:22"),
        ])
    );

    // Replacing the record drops the fields the new one leaves unset.
    db.set_feature_record(&lldp, &FeatureRecord::of_state(State::KubeStopped, None))
        .await
        .expect("write");
    let row = raw.hgetall(&db, DbName::StateDb, "FEATURE|lldp").await;
    assert_eq!(
        row.get("transition_mode").map(String::as_str),
        Some("kube_stopped")
    );
    assert!(!row.contains_key("current_owner_update_ts"), "{row:?}");
}

#[tokio::test]
async fn feature_view_reads_config_and_record_together() {
    let r = redis();
    let db = connect(&r).await;
    let snmp = feature("snmp");
    let view = db.feature(&snmp).await.expect("read");
    assert_eq!(view.config, None, "an unconfigured feature has no config");
    assert_eq!(view.record, FeatureRecord::default());

    let cfg = FeatureConfig::new(Owner::Kube, true);
    let rec = FeatureRecord::of_state(State::Local, ContainerId::new("snmp").ok());
    db.set_feature_config(&snmp, &cfg).await.expect("config");
    db.set_feature_record(&snmp, &rec).await.expect("record");
    let view = db.feature(&snmp).await.expect("read");
    assert_eq!(view.config, Some(cfg));
    assert_eq!(view.record, rec);
}

#[tokio::test]
async fn write_state_puts_owner_id_and_timestamps_in_one_row_update() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    let snmp = feature("snmp");

    let owner = StateWrite {
        guard: None,
        owner: Some(OwnerWrite {
            owner: CurrentOwner::Local,
            docker_id: ContainerId::new("abc123").ok(),
        }),
        mode: None,
        start_requested: None,
        now: Timestamp::from_secs(100),
    };
    assert!(db.write_state(&snmp, &owner).await.expect("write"));
    assert_eq!(
        raw.hgetall(&db, DbName::StateDb, "FEATURE|snmp").await,
        fields(&[
            ("current_owner", "local"),
            ("docker_id", "abc123"),
            ("current_owner_update_ts", "100"),
            // Upstream's mirror in the same update: a local container is recorded by its
            // name; a row that never had a mode says remote_state none.
            ("container_id", "snmp"),
            ("system_state", "up"),
            ("update_time", "1970-01-01 00:01:40"),
            ("remote_state", "none"),
        ])
    );

    let mode = StateWrite {
        guard: Some(TransitionMode::None),
        owner: Some(OwnerWrite {
            owner: CurrentOwner::None,
            docker_id: None,
        }),
        mode: Some(TransitionMode::KubePending),
        start_requested: None,
        now: Timestamp::from_secs(200),
    };
    assert!(db.write_state(&snmp, &mode).await.expect("guarded write"));
    assert_eq!(
        raw.hgetall(&db, DbName::StateDb, "FEATURE|snmp").await,
        fields(&[
            ("current_owner", "none"),
            ("docker_id", ""),
            ("current_owner_update_ts", "200"),
            ("transition_mode", "kube_pending"),
            ("transition_mode_update_ts", "200"),
            ("container_id", ""),
            ("system_state", "down"),
            ("update_time", "1970-01-01 00:03:20"),
            ("remote_state", "pending"),
        ])
    );
    assert_eq!(
        db.feature_record(&snmp).await.expect("read").state(),
        State::KubePending
    );
}

#[tokio::test]
async fn write_state_sets_and_clears_the_start_requested_marker_guarded_on_the_mode() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    let snmp = feature("snmp");
    let marker = |guard, requested, now| StateWrite {
        guard,
        owner: None,
        mode: None,
        start_requested: Some(requested),
        now,
    };
    // The guard is the mode the daemon decided on: a changed mode refuses the marker.
    assert!(
        !db.write_state(
            &snmp,
            &marker(
                Some(TransitionMode::KubePending),
                true,
                Timestamp::from_secs(300)
            )
        )
        .await
        .expect("guarded write")
    );
    assert!(
        db.write_state(
            &snmp,
            &marker(Some(TransitionMode::None), true, Timestamp::from_secs(300))
        )
        .await
        .expect("guarded write")
    );
    assert_eq!(
        raw.hgetall(&db, DbName::StateDb, "FEATURE|snmp").await,
        fields(&[("start_requested_ts", "300")])
    );
    assert_eq!(
        db.feature_record(&snmp)
            .await
            .expect("read")
            .start_requested_ts,
        Some(Timestamp::from_secs(300))
    );
    assert!(
        db.write_state(&snmp, &marker(None, false, Timestamp::from_secs(400)))
            .await
            .expect("write")
    );
    assert_eq!(
        db.feature_record(&snmp)
            .await
            .expect("read")
            .start_requested_ts,
        None
    );
}

#[tokio::test]
async fn server_config_and_status_round_trip() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    assert_eq!(
        db.server_config().await.expect("read"),
        ServerConfig::default()
    );
    assert_eq!(
        db.server_status().await.expect("read"),
        ServerStatus::default()
    );

    let cfg = ServerConfig {
        ip: Some("10.3.157.24".to_owned()),
        port: 443,
        insecure: true,
        disable: false,
    };
    db.set_server_config(&cfg).await.expect("write");
    assert_eq!(db.server_config().await.expect("read"), cfg);
    assert_eq!(
        raw.hgetall(&db, DbName::ConfigDb, "KUBERNETES_MASTER|SERVER")
            .await,
        fields(&[
            ("ip", "10.3.157.24"),
            ("port", "443"),
            ("insecure", "true"),
            ("disable", "false"),
        ])
    );
    // Unsetting the ip removes the field in the same transaction.
    let cleared = ServerConfig {
        ip: None,
        ..cfg.clone()
    };
    db.set_server_config(&cleared).await.expect("write");
    assert_eq!(db.server_config().await.expect("read"), cleared);

    let status = ServerStatus {
        connected: true,
        last_update_ts: Some(Timestamp::from_secs(1_700_000_123)),
    };
    db.set_server_status(&status).await.expect("write");
    assert_eq!(db.server_status().await.expect("read"), status);
    assert_eq!(
        raw.hgetall(&db, DbName::StateDb, "KUBERNETES_MASTER|SERVER")
            .await,
        fields(&[
            ("connected", "true"),
            ("last_update_ts", "1700000123"),
            // Upstream's fields: update_time, and the configured server (no ip is set now).
            ("update_time", "2023-11-14 22:15:23"),
            ("port", "443"),
        ])
    );
    db.set_server_config(&cfg).await.expect("write");
    db.set_server_status(&status).await.expect("write");
    let row = raw
        .hgetall(&db, DbName::StateDb, "KUBERNETES_MASTER|SERVER")
        .await;
    assert_eq!(row.get("ip").map(String::as_str), Some("10.3.157.24"));
}

#[tokio::test]
async fn device_metadata_round_trips_and_leaves_other_fields_alone() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    raw.hset(
        &db,
        DbName::ConfigDb,
        "DEVICE_METADATA|localhost",
        &[("mac", "52:54:00:12:34:56"), ("hwsku", "old")],
    )
    .await;
    let md = DeviceMetadata {
        hostname: Some("SONiC-Leaf-01".to_owned()),
        platform: Some("x86_64-kvm_x86_64-r0".to_owned()),
        hwsku: None,
        deployment_type: Some("ToRRouter".to_owned()),
    };
    db.set_device_metadata(&md).await.expect("write");
    let read = db.device_metadata().await.expect("read");
    assert_eq!(read, md);
    assert_eq!(read.node_name().as_deref(), Some("sonic-leaf-01"));
    let row = raw
        .hgetall(&db, DbName::ConfigDb, "DEVICE_METADATA|localhost")
        .await;
    assert_eq!(
        row.get("mac").map(String::as_str),
        Some("52:54:00:12:34:56")
    );
    assert!(
        !row.contains_key("hwsku"),
        "None removes the field: {row:?}"
    );
}

#[tokio::test]
async fn append_tells_whether_the_list_was_empty_and_append_behind_never_starts_a_list() {
    // Issue 8, item 6: one atomic script checks and appends.
    let r = redis();
    let db = connect(&r).await;
    let a = LabelOp::add("a", "1").expect("op");
    let b = LabelOp::remove("b").expect("op");
    assert_eq!(
        db.append_pending_labels_behind(std::slice::from_ref(&a))
            .await
            .expect("append behind"),
        0,
        "an empty list is not appended to"
    );
    assert!(db.pending_labels().await.expect("read").is_empty());
    assert!(
        db.append_pending_labels(std::slice::from_ref(&a))
            .await
            .expect("append"),
        "the list was empty"
    );
    assert!(
        !db.append_pending_labels(std::slice::from_ref(&b))
            .await
            .expect("append"),
        "the list was not empty"
    );
    assert_eq!(
        db.append_pending_labels_behind(&[a.clone(), b.clone()])
            .await
            .expect("append behind"),
        2,
        "two operations were ahead"
    );
    assert_eq!(
        db.pending_labels().await.expect("read"),
        vec![a.clone(), b.clone(), a, b]
    );
}

#[tokio::test]
async fn pending_labels_round_trip_in_order() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    assert!(db.pending_labels().await.expect("read").is_empty());

    let first = [
        LabelOp::add("snmp_enabled", "true").expect("op"),
        LabelOp::remove("lldp_enabled").expect("op"),
    ];
    let second = [LabelOp::add("snmp_enabled", "false").expect("op")];
    db.append_pending_labels(&first).await.expect("append");
    db.append_pending_labels(&second).await.expect("append");
    let all: Vec<LabelOp> = first.iter().chain(&second).cloned().collect();
    assert_eq!(db.pending_labels().await.expect("read"), all);
    assert_eq!(
        raw.hgetall(&db, DbName::StateDb, "KUBE_SERVER|PENDING_LABELS")
            .await,
        fields(&[(
            "labels@",
            "snmp_enabled=true,lldp_enabled-,snmp_enabled=false"
        )])
    );

    assert!(db.remove_pending_prefix(&first).await.expect("drain"));
    assert_eq!(db.pending_labels().await.expect("read"), second.to_vec());
    assert!(db.remove_pending_prefix(&second).await.expect("drain"));
    assert!(db.pending_labels().await.expect("read").is_empty());
    assert!(
        raw.hgetall(&db, DbName::StateDb, "KUBE_SERVER|PENDING_LABELS")
            .await
            .is_empty(),
        "a fully drained list leaves no row behind"
    );

    db.append_pending_labels(&first).await.expect("append");
    db.purge_pending_labels().await.expect("purge");
    assert!(db.pending_labels().await.expect("read").is_empty());
}

#[tokio::test]
async fn features_lists_the_configured_features_only() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    for name in ["snmp", "lldp", "dhcp_relay"] {
        db.set_feature_config(&feature(name), &FeatureConfig::default())
            .await
            .expect("write");
    }
    // A row only in STATE_DB, a row of another table and a name this project cannot manage.
    db.set_feature_record(&feature("pmon"), &FeatureRecord::default())
        .await
        .expect("write");
    raw.hset(&db, DbName::ConfigDb, "FEATURES|x", &[("a", "b")])
        .await;
    raw.hset(
        &db,
        DbName::ConfigDb,
        "FEATURE|Bad Name",
        &[("state", "enabled")],
    )
    .await;
    let names: Vec<String> = db
        .features()
        .await
        .expect("list")
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(names, ["dhcp_relay", "lldp", "snmp"]);
}

#[tokio::test]
async fn delete_feature_removes_both_rows() {
    let r = redis();
    let db = connect(&r).await;
    let snmp = feature("snmp");
    let lldp = feature("lldp");
    for f in [&snmp, &lldp] {
        db.set_feature_config(f, &FeatureConfig::default())
            .await
            .expect("config");
        db.set_feature_record(f, &FeatureRecord::of_state(State::Local, None))
            .await
            .expect("record");
    }
    db.delete_feature(&snmp).await.expect("delete");
    let view = db.feature(&snmp).await.expect("read");
    assert_eq!(view.config, None);
    assert_eq!(view.record, FeatureRecord::default());
    let other = db.feature(&lldp).await.expect("read");
    assert!(other.config.is_some(), "other features stay");
    assert_eq!(other.record.state(), State::Local);
}

#[tokio::test]
async fn malformed_values_are_reported_with_key_field_and_value() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    let snmp = feature("snmp");

    raw.hset(
        &db,
        DbName::ConfigDb,
        "FEATURE|snmp",
        &[("set_owner", "kub")],
    )
    .await;
    let e = db.feature(&snmp).await.expect_err("kub is not an owner");
    assert_eq!(e.kind(), ErrorKind::InvalidData);
    let d = e.decode_error().expect("a decode error");
    assert_eq!(
        (d.key.as_str(), d.field.as_str(), d.value.as_str()),
        ("FEATURE|snmp", "set_owner", "kub")
    );
    assert!(e.to_string().contains("CONFIG_DB"), "{e}");

    raw.hset(
        &db,
        DbName::ConfigDb,
        "FEATURE|snmp",
        &[("set_owner", "kube")],
    )
    .await;
    raw.hset(
        &db,
        DbName::StateDb,
        "FEATURE|snmp",
        &[("transition_mode", "kube_redy")],
    )
    .await;
    // STATE_DB is this project's: an unknown value is read as the nearest (rel-1).
    let rec = db.feature_record(&snmp).await.expect("read past");
    assert_eq!(rec.transition_mode, TransitionMode::None);
    let view = db.feature(&snmp).await.expect("read past");
    let w = view.warnings.first().expect("a warning");
    assert_eq!(
        (w.key.as_str(), w.field.as_str(), w.value.as_str()),
        ("FEATURE|snmp", "transition_mode", "kube_redy")
    );

    raw.hset(
        &db,
        DbName::ConfigDb,
        "KUBERNETES_MASTER|SERVER",
        &[("port", "70000")],
    )
    .await;
    let e = db.server_config().await.expect_err("bad port");
    let d = e.decode_error().expect("a decode error");
    assert_eq!(
        (d.key.as_str(), d.field.as_str(), d.value.as_str()),
        ("KUBERNETES_MASTER|SERVER", "port", "70000")
    );

    raw.hset(
        &db,
        DbName::StateDb,
        "KUBERNETES_MASTER|SERVER",
        &[("connected", "yes")],
    )
    .await;
    let status = db.server_status().await.expect("read past");
    assert!(!status.connected, "an unknown boolean is not connected");

    raw.hset(
        &db,
        DbName::StateDb,
        "KUBE_SERVER|PENDING_LABELS",
        &[("labels@", "a=1,=x")],
    )
    .await;
    let ops = db.pending_labels().await.expect("read past");
    assert_eq!(
        ops,
        vec!["a=1".parse::<ctrmgr_core::LabelOp>().expect("valid")]
    );
}

#[tokio::test]
async fn a_row_that_is_not_a_hash_is_invalid_data() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    raw.set_string(&db, DbName::StateDb, "FEATURE|snmp", "oops")
        .await;
    let e = db
        .feature_record(&feature("snmp"))
        .await
        .expect_err("a string is not a row");
    assert_eq!(e.kind(), ErrorKind::InvalidData, "{e:?}");
}
