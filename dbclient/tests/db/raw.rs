//! The raw-row methods the operator CLI uses: rows read and written verbatim, exact
//! replacement, and the conditional write.

use ctrmgr_dbclient::DbName;

use crate::support::{Raw, connect, fields, redis};

#[tokio::test]
async fn rows_are_read_and_replaced_verbatim() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    assert!(
        db.row(DbName::ConfigDb, "FEATURE", "snmp")
            .await
            .expect("read")
            .is_empty()
    );
    raw.hset(
        &db,
        DbName::ConfigDb,
        "FEATURE|snmp",
        &[("state", "enabled"), ("x", "Y")],
    )
    .await;
    raw.hset(
        &db,
        DbName::ConfigDb,
        "FEATURE|lldp",
        &[("state", "disabled")],
    )
    .await;
    raw.hset(
        &db,
        DbName::StateDb,
        "FEATURE|bgp",
        &[("current_owner", "local")],
    )
    .await;
    // Another table whose name starts the same is not part of FEATURE.
    raw.hset(&db, DbName::ConfigDb, "FEATURES|x", &[("a", "b")])
        .await;
    let rows = db.rows(DbName::ConfigDb, "FEATURE").await.expect("rows");
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["lldp", "snmp"]);
    assert_eq!(rows["snmp"], fields(&[("state", "enabled"), ("x", "Y")]));

    db.set_fields(
        DbName::ConfigDb,
        "FEATURE",
        "snmp",
        &[("set_owner", "kube".to_owned())],
    )
    .await
    .expect("hset");
    assert_eq!(
        raw.hgetall(&db, DbName::ConfigDb, "FEATURE|snmp").await,
        fields(&[("state", "enabled"), ("x", "Y"), ("set_owner", "kube")])
    );
    let exact = fields(&[("only", "this")]);
    db.replace_row(DbName::ConfigDb, "FEATURE", "snmp", Some(&exact))
        .await
        .expect("replace");
    assert_eq!(
        raw.hgetall(&db, DbName::ConfigDb, "FEATURE|snmp").await,
        exact
    );
    db.replace_row(DbName::ConfigDb, "FEATURE", "snmp", None)
        .await
        .expect("delete");
    assert!(
        raw.hgetall(&db, DbName::ConfigDb, "FEATURE|snmp")
            .await
            .is_empty()
    );
    assert_eq!(
        raw.hgetall(&db, DbName::StateDb, "FEATURE|bgp").await,
        fields(&[("current_owner", "local")]),
        "STATE_DB untouched"
    );
}

#[tokio::test]
async fn a_conditional_write_happens_only_when_every_field_is_as_expected() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    let set = [("fallback_to_local", "true".to_owned())];
    let expect = [
        ("set_owner", Some("kube")),
        ("fallback_to_local", None),
        ("no_fallback_to_local", None),
    ];
    raw.hset(&db, DbName::ConfigDb, "FEATURE|a", &[("set_owner", "kube")])
        .await;
    raw.hset(
        &db,
        DbName::ConfigDb,
        "FEATURE|b",
        &[("set_owner", "kube"), ("no_fallback_to_local", "true")],
    )
    .await;
    raw.hset(
        &db,
        DbName::ConfigDb,
        "FEATURE|c",
        &[("set_owner", "local")],
    )
    .await;
    for (key, want) in [("a", true), ("b", false), ("c", false), ("d", false)] {
        let wrote = db
            .set_fields_if(DbName::ConfigDb, "FEATURE", key, &expect, &set)
            .await
            .expect("conditional write");
        assert_eq!(wrote, want, "{key}");
    }
    assert_eq!(
        raw.hgetall(&db, DbName::ConfigDb, "FEATURE|a").await,
        fields(&[("set_owner", "kube"), ("fallback_to_local", "true")])
    );
    assert_eq!(
        raw.hgetall(&db, DbName::ConfigDb, "FEATURE|b").await,
        fields(&[("set_owner", "kube"), ("no_fallback_to_local", "true")])
    );
    assert!(
        raw.hgetall(&db, DbName::ConfigDb, "FEATURE|d")
            .await
            .is_empty(),
        "no row created"
    );
    // Once written, the field is present: a second write does nothing.
    let again = db
        .set_fields_if(DbName::ConfigDb, "FEATURE", "a", &expect, &set)
        .await
        .expect("conditional write");
    assert!(!again);
    // An exact value (here an empty one) can be expected too.
    raw.hset(
        &db,
        DbName::ConfigDb,
        "FEATURE|e",
        &[("set_owner", "kube"), ("fallback_to_local", "")],
    )
    .await;
    let wrote = db
        .set_fields_if(
            DbName::ConfigDb,
            "FEATURE",
            "e",
            &[("set_owner", Some("kube")), ("fallback_to_local", Some(""))],
            &set,
        )
        .await
        .expect("conditional write");
    assert!(wrote);
}
