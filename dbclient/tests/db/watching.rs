//! Watching a table: current rows first, then changes; across a server restart.

use ctrmgr_core::codec;
use ctrmgr_core::ports::ErrorKind;
use ctrmgr_dbclient::{DbName, WatchEvent};
use futures_util::StreamExt;

use crate::support::{
    Raw, bounded, connect, events_until, fields, is_deletion, is_row_with, redis,
};

#[tokio::test]
async fn a_watcher_sees_current_rows_then_creates_updates_and_deletes() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    raw.hset(
        &db,
        DbName::StateDb,
        "FEATURE|snmp",
        &[("current_owner", "local")],
    )
    .await;
    let mut watch = Box::pin(db.watch(DbName::StateDb, codec::FEATURE_TABLE));

    let first = events_until(&mut watch, "the initial scan", |ev| {
        *ev == WatchEvent::Synced
    })
    .await;
    assert_eq!(
        first,
        vec![
            WatchEvent::Row(ctrmgr_dbclient::RowEvent {
                key: "snmp".to_owned(),
                fields: Some(fields(&[("current_owner", "local")])),
            }),
            WatchEvent::Synced,
        ]
    );

    // The same table in the other DB, and another table in this DB, are not watched.
    raw.hset(
        &db,
        DbName::ConfigDb,
        "FEATURE|lldp",
        &[("set_owner", "kube")],
    )
    .await;
    raw.hset(&db, DbName::StateDb, "FEATURES|lldp", &[("x", "y")])
        .await;
    raw.hset(
        &db,
        DbName::StateDb,
        "FEATURE|lldp",
        &[("current_owner", "kube")],
    )
    .await;
    let seen = events_until(&mut watch, "the created row", |ev| {
        is_row_with(ev, "lldp", "current_owner", "kube")
    })
    .await;
    assert_eq!(seen.len(), 1, "only the watched row: {seen:?}");
    if let WatchEvent::Row(row) = &seen[0] {
        assert_eq!(
            row.fields,
            Some(fields(&[("current_owner", "kube")])),
            "the whole row, not the other DB's fields"
        );
    }

    raw.hset(
        &db,
        DbName::StateDb,
        "FEATURE|snmp",
        &[("transition_mode", "kube_pending")],
    )
    .await;
    let seen = events_until(&mut watch, "the updated row", |ev| {
        is_row_with(ev, "snmp", "transition_mode", "kube_pending")
    })
    .await;
    let WatchEvent::Row(row) = &seen[seen.len() - 1] else {
        panic!("a row event");
    };
    assert_eq!(
        row.fields,
        Some(fields(&[
            ("current_owner", "local"),
            ("transition_mode", "kube_pending")
        ])),
        "the row is re-read whole"
    );

    raw.del(&db, DbName::StateDb, "FEATURE|snmp").await;
    events_until(&mut watch, "the deletion", |ev| is_deletion(ev, "snmp")).await;
}

#[tokio::test]
async fn a_watcher_resumes_and_rescans_after_the_server_restarts() {
    let mut r = redis();
    let db = connect(&r).await;
    {
        let mut raw = Raw::new(&r).await;
        raw.hset(
            &db,
            DbName::StateDb,
            "FEATURE|snmp",
            &[("current_owner", "local")],
        )
        .await;
        raw.hset(
            &db,
            DbName::StateDb,
            "FEATURE|lldp",
            &[("current_owner", "kube")],
        )
        .await;
    }
    let mut watch = Box::pin(db.watch(DbName::StateDb, codec::FEATURE_TABLE));
    let first = events_until(&mut watch, "the initial scan", |ev| {
        *ev == WatchEvent::Synced
    })
    .await;
    assert_eq!(first.len(), 3, "two rows and Synced: {first:?}");

    // The restarted server is empty; a row is written before the watcher is back.
    r.restart().expect("redis-server restarts");
    let mut raw = Raw::new(&r).await;
    raw.hset(
        &db,
        DbName::StateDb,
        "FEATURE|pmon",
        &[("current_owner", "local")],
    )
    .await;

    // Rows gone meanwhile can only be learnt from a rescan (no notification survives the
    // server); the row written meanwhile comes from the rescan or from a notification,
    // depending on who was first.
    let (mut synced, mut snmp_gone, mut lldp_gone, mut pmon) = (false, false, false, false);
    events_until(&mut watch, "the rescan", |ev| {
        synced |= *ev == WatchEvent::Synced;
        snmp_gone |= is_deletion(ev, "snmp");
        lldp_gone |= is_deletion(ev, "lldp");
        pmon |= is_row_with(ev, "pmon", "current_owner", "local");
        synced && snmp_gone && lldp_gone && pmon
    })
    .await;

    // And it is subscribed again.
    raw.hset(
        &db,
        DbName::StateDb,
        "FEATURE|bgp",
        &[("current_owner", "local")],
    )
    .await;
    events_until(&mut watch, "a change after the restart", |ev| {
        is_row_with(ev, "bgp", "current_owner", "local")
    })
    .await;
}

#[tokio::test]
async fn a_watcher_turns_keyspace_notifications_on_when_they_are_off() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    raw.command(
        redis::cmd("CONFIG")
            .arg("SET")
            .arg("notify-keyspace-events")
            .arg(""),
    )
    .await;
    let mut watch = Box::pin(db.watch(DbName::ConfigDb, codec::FEATURE_TABLE));
    events_until(&mut watch, "the initial scan", |ev| {
        *ev == WatchEvent::Synced
    })
    .await;
    raw.hset(
        &db,
        DbName::ConfigDb,
        "FEATURE|snmp",
        &[("set_owner", "kube")],
    )
    .await;
    events_until(&mut watch, "the created row", |ev| {
        is_row_with(ev, "snmp", "set_owner", "kube")
    })
    .await;
    let setting: Vec<String> = redis::from_redis_value(
        raw.command(
            redis::cmd("CONFIG")
                .arg("GET")
                .arg("notify-keyspace-events"),
        )
        .await,
    )
    .expect("CONFIG GET reply");
    assert!(
        setting.get(1).is_some_and(|s| s.contains('K')),
        "{setting:?}"
    );
}

#[tokio::test]
async fn a_row_that_is_not_a_hash_is_reported_and_the_watch_goes_on() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    let mut watch = Box::pin(db.watch(DbName::StateDb, codec::FEATURE_TABLE));
    events_until(&mut watch, "the initial scan", |ev| {
        *ev == WatchEvent::Synced
    })
    .await;

    raw.set_string(&db, DbName::StateDb, "FEATURE|bad", "not a hash")
        .await;
    let err = bounded("the error item", watch.next())
        .await
        .expect("the stream goes on")
        .expect_err("a string is not a row");
    assert_eq!(err.kind(), ErrorKind::InvalidData, "{err:?}");
    assert!(err.to_string().contains("FEATURE|bad"), "{err}");

    raw.hset(
        &db,
        DbName::StateDb,
        "FEATURE|snmp",
        &[("current_owner", "local")],
    )
    .await;
    events_until(&mut watch, "the next row", |ev| {
        is_row_with(ev, "snmp", "current_owner", "local")
    })
    .await;
}

/// The core's `Watch` port: several tables merged, one resync marker after every first scan,
/// then each change naming its table and row; rows of the same table that are not watched
/// (another key of `KUBERNETES_MASTER`) are left out.
#[tokio::test]
async fn a_subscription_merges_tables_and_marks_the_end_of_the_first_scan_once() {
    use ctrmgr_core::ports::{Change, Subscription, Watch, Watched};
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    raw.hset(
        &db,
        DbName::StateDb,
        "FEATURE|snmp",
        &[("transition_mode", "kube_pending")],
    )
    .await;
    raw.hset(
        &db,
        DbName::ConfigDb,
        "KUBERNETES_MASTER|SERVER",
        &[("ip", "10.0.0.1")],
    )
    .await;
    let mut sub = db.subscribe(&[
        Watched::FeatureState,
        Watched::ServerConfig,
        Watched::PendingLabels,
        Watched::FeatureState,
    ]);
    let mut first = Vec::new();
    loop {
        let c = bounded("the first scan", sub.next())
            .await
            .expect("the subscription goes on")
            .expect("no error");
        if c == Change::Synced {
            break;
        }
        first.push(c);
    }
    first.sort_by_key(|c| format!("{c:?}"));
    assert_eq!(
        first,
        vec![
            Change::Feature {
                table: Watched::FeatureState,
                key: "snmp".to_owned()
            },
            Change::Row(Watched::ServerConfig),
        ]
    );
    raw.hset(
        &db,
        DbName::ConfigDb,
        "KUBERNETES_MASTER|OTHER",
        &[("ip", "x")],
    )
    .await;
    raw.hset(
        &db,
        DbName::StateDb,
        "KUBE_SERVER|PENDING_LABELS",
        &[("labels@", "a=b")],
    )
    .await;
    let c = bounded("the pending list", sub.next())
        .await
        .expect("goes on")
        .expect("no error");
    assert_eq!(
        c,
        Change::Row(Watched::PendingLabels),
        "KUBERNETES_MASTER|OTHER is not watched"
    );
    raw.hset(
        &db,
        DbName::StateDb,
        "FEATURE|lldp",
        &[("current_owner", "local")],
    )
    .await;
    let c = bounded("the new feature row", sub.next())
        .await
        .expect("goes on")
        .expect("no error");
    assert_eq!(c.feature().map(|f| f.to_string()).as_deref(), Some("lldp"));
}

#[tokio::test]
async fn a_row_watch_sees_its_row_only_even_when_it_does_not_exist_yet() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    raw.hset(
        &db,
        DbName::StateDb,
        "FEATURE|lldp",
        &[("current_owner", "local")],
    )
    .await;
    // `snmp1` shares a prefix with `snmp`: a prefix pattern would let it in.
    let mut watch = Box::pin(db.watch_row(DbName::StateDb, codec::FEATURE_TABLE, "snmp"));
    let first = events_until(&mut watch, "the initial scan", |ev| {
        *ev == WatchEvent::Synced
    })
    .await;
    assert_eq!(
        first,
        vec![
            WatchEvent::Row(ctrmgr_dbclient::RowEvent {
                key: "snmp".to_owned(),
                fields: None,
            }),
            WatchEvent::Synced,
        ],
        "the one row, read though absent; lldp not scanned"
    );
    for key in ["FEATURE|lldp", "FEATURE|snmp1", "FEATURE|snmp"] {
        raw.hset(&db, DbName::StateDb, key, &[("current_owner", "kube")])
            .await;
    }
    let seen = events_until(&mut watch, "the watched row's change", |ev| {
        is_row_with(ev, "snmp", "current_owner", "kube")
    })
    .await;
    assert_eq!(seen.len(), 1, "no other row's change: {seen:?}");
}
