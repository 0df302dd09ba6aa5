//! Atomic read-modify-writes under contention: the pending-label list and guarded writes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use ctrmgr_core::ports::StateStore;
use ctrmgr_core::{
    ContainerId, CurrentOwner, FeatureRecord, LabelOp, OwnerWrite, State, StateWrite, Timestamp,
    TransitionMode,
};
use ctrmgr_dbclient::DbName;
use tokio::sync::{Barrier, Notify};

use crate::support::{Raw, bounded, connect, feature, redis};

const WRITERS: usize = 50;
const OPS_PER_WRITER: usize = 8;

fn writer_op(writer: usize, seq: usize) -> LabelOp {
    LabelOp::add(&format!("w{writer}"), &seq.to_string()).expect("valid op")
}

/// Each writer's values, in list order.
fn per_writer(ops: &[LabelOp]) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for op in ops {
        match op {
            LabelOp::Add(k, v) => out
                .entry(k.as_str().to_owned())
                .or_default()
                .push(v.as_str().to_owned()),
            LabelOp::Remove(k) => panic!("unexpected removal of {k}"),
        }
    }
    out
}

fn expected_per_writer() -> BTreeMap<String, Vec<String>> {
    (0..WRITERS)
        .map(|w| {
            (
                format!("w{w}"),
                (0..OPS_PER_WRITER).map(|s| s.to_string()).collect(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn append_from_fifty_writers_loses_nothing_and_keeps_each_writers_order() {
    let r = redis();
    // Half of the writers share one connection (tasks of one process), the others have their
    // own (separate processes).
    let shared = connect(&r).await;
    let barrier = Arc::new(Barrier::new(WRITERS));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let db = if w % 2 == 0 {
            shared.clone()
        } else {
            connect(&r).await
        };
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            barrier.wait().await;
            for s in 0..OPS_PER_WRITER {
                db.append_pending_labels(&[writer_op(w, s)])
                    .await
                    .expect("append");
            }
        }));
    }
    for t in tasks {
        bounded("the appenders", t).await.expect("appender task");
    }
    let list = shared.pending_labels().await.expect("read");
    assert_eq!(list.len(), WRITERS * OPS_PER_WRITER, "nothing is lost");
    assert_eq!(per_writer(&list), expected_per_writer());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn draining_removes_exactly_the_drained_prefix_while_writers_append() {
    let r = redis();
    let drainer = connect(&r).await;
    let writers = connect(&r).await;
    // Writers say when they appended and when they are done, so that the drainer waits for
    // work instead of spinning.
    let appended = Arc::new(Notify::new());
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let (db, appended, done) = (writers.clone(), appended.clone(), done.clone());
        tasks.push(tokio::spawn(async move {
            for s in 0..OPS_PER_WRITER {
                db.append_pending_labels(&[writer_op(w, s)])
                    .await
                    .expect("append");
                if s + 1 == OPS_PER_WRITER {
                    done.fetch_add(1, Ordering::SeqCst);
                }
                appended.notify_one();
            }
        }));
    }
    // Drain as kube-labeler does, concurrently with the writers: read, "send", remove prefix.
    let mut drained: Vec<LabelOp> = Vec::new();
    bounded("draining everything", async {
        loop {
            // Read `done` before the list: a writer's last append comes before it counts
            // itself done, so an empty list read after every writer was done is final.
            let all_done = done.load(Ordering::SeqCst) == WRITERS;
            let list = drainer.pending_labels().await.expect("read");
            if list.is_empty() {
                if all_done {
                    break;
                }
                appended.notified().await;
                continue;
            }
            assert!(
                drainer
                    .remove_pending_prefix(&list)
                    .await
                    .expect("remove prefix"),
                "only the drainer removes, so the list still starts with what it read"
            );
            drained.extend(list);
        }
    })
    .await;
    for t in tasks {
        bounded("the appenders", t).await.expect("appender task");
    }
    assert_eq!(drained.len(), WRITERS * OPS_PER_WRITER, "nothing is lost");
    assert_eq!(per_writer(&drained), expected_per_writer());
}

#[tokio::test]
async fn remove_prefix_changes_nothing_when_the_list_no_longer_starts_with_it() {
    let r = redis();
    let db = connect(&r).await;
    let a = LabelOp::add("a", "1").expect("op");
    let b = LabelOp::remove("b").expect("op");
    db.append_pending_labels(&[a.clone(), b.clone()])
        .await
        .expect("append");
    let stale = [b.clone()];
    assert!(!db.remove_pending_prefix(&stale).await.expect("remove"));
    assert_eq!(db.pending_labels().await.expect("read"), vec![a.clone(), b]);

    db.purge_pending_labels().await.expect("purge");
    assert!(!db.remove_pending_prefix(&[a]).await.expect("remove"));
    assert!(db.pending_labels().await.expect("read").is_empty());
}

fn claim(id: usize, now: u64) -> StateWrite {
    StateWrite {
        guard: Some(TransitionMode::KubeReady),
        owner: Some(OwnerWrite {
            owner: CurrentOwner::Kube,
            docker_id: ContainerId::new(&format!("container{id}")).ok(),
        }),
        mode: Some(TransitionMode::KubeRunning),
        start_requested: None,
        now: Timestamp::from_secs(now),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn compare_and_set_under_contention_has_exactly_one_winner() {
    const RACERS: usize = 16;
    const ROUNDS: u64 = 10;
    let r = redis();
    let setup = connect(&r).await;
    let snmp = feature("snmp");
    let mut racers = Vec::new();
    for i in 0..RACERS {
        racers.push(if i % 2 == 0 {
            setup.clone()
        } else {
            connect(&r).await
        });
    }
    for round in 0..ROUNDS {
        setup
            .set_feature_record(&snmp, &FeatureRecord::of_state(State::KubeReady, None))
            .await
            .expect("reset to KUBE_READY");
        let barrier = Arc::new(Barrier::new(RACERS));
        let mut tasks = Vec::new();
        for (i, db) in racers.iter().enumerate() {
            let (db, barrier, snmp) = (db.clone(), barrier.clone(), snmp.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let won = db
                    .write_state(&snmp, &claim(i, round))
                    .await
                    .expect("guarded write");
                (i, won)
            }));
        }
        let mut winners = Vec::new();
        for t in tasks {
            let (i, won) = bounded("the racers", t).await.expect("racer task");
            if won {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        let rec = setup.feature_record(&snmp).await.expect("read");
        assert_eq!(rec.state(), State::KubeRunning);
        assert_eq!(
            rec.docker_id.as_ref().map(ContainerId::as_str),
            Some(format!("container{}", winners[0]).as_str()),
            "round {round}: the winner's write is the one recorded"
        );
    }
}

#[tokio::test]
async fn guarded_write_accepts_every_spelling_of_the_guarded_mode_and_refuses_others() {
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    let snmp = feature("snmp");
    let to_pending = |guard| StateWrite {
        guard: Some(guard),
        owner: None,
        mode: Some(TransitionMode::KubePending),
        start_requested: None,
        now: Timestamp::from_secs(7),
    };

    // An absent mode is `none`.
    assert!(
        db.write_state(&snmp, &to_pending(TransitionMode::None))
            .await
            .expect("write")
    );
    // The guard no longer holds: nothing is written.
    assert!(
        !db.write_state(&snmp, &to_pending(TransitionMode::None))
            .await
            .expect("write")
    );
    raw.hset(
        &db,
        DbName::StateDb,
        "FEATURE|snmp",
        &[
            ("transition_mode", "KUBE_READY"),
            ("transition_mode_update_ts", "1"),
        ],
    )
    .await;
    assert!(
        !db.write_state(&snmp, &to_pending(TransitionMode::KubeStopped))
            .await
            .expect("write")
    );
    let row = raw.hgetall(&db, DbName::StateDb, "FEATURE|snmp").await;
    assert_eq!(
        row.get("transition_mode_update_ts").map(String::as_str),
        Some("1"),
        "a refused write changes nothing"
    );
    // Another spelling of the guarded mode matches.
    assert!(
        db.write_state(&snmp, &to_pending(TransitionMode::KubeReady))
            .await
            .expect("write")
    );
    let rec = db.feature_record(&snmp).await.expect("read");
    assert_eq!(rec.transition_mode, TransitionMode::KubePending);
    assert_eq!(rec.transition_mode_update_ts, Some(Timestamp::from_secs(7)));
}

#[tokio::test]
async fn guarded_write_on_an_unknown_mode_compares_it_as_read_and_repairs_it() {
    // rel-1: an unknown `transition_mode` reads as `none`; a write guarded on `none` applies
    // over it (and so repairs it), a write guarded on anything else does not.
    let r = redis();
    let db = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    raw.hset(
        &db,
        DbName::StateDb,
        "FEATURE|snmp",
        &[("transition_mode", "pending?")],
    )
    .await;
    let write = |guard| StateWrite {
        guard: Some(guard),
        owner: None,
        mode: Some(TransitionMode::KubeReady),
        start_requested: None,
        now: Timestamp::from_secs(1),
    };
    assert!(
        !db.write_state(&feature("snmp"), &write(TransitionMode::KubePending))
            .await
            .expect("compared")
    );
    let row = raw.hgetall(&db, DbName::StateDb, "FEATURE|snmp").await;
    assert_eq!(
        row.get("transition_mode").map(String::as_str),
        Some("pending?")
    );
    assert!(
        db.write_state(&feature("snmp"), &write(TransitionMode::None))
            .await
            .expect("applied")
    );
    let row = raw.hgetall(&db, DbName::StateDb, "FEATURE|snmp").await;
    assert_eq!(
        row.get("transition_mode").map(String::as_str),
        Some("kube_ready")
    );
}
