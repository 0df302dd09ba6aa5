//! Races (issue 15 point 4), each with real processes racing in the switch in a box, the
//! invariant checker sampling throughout:
//!
//! - several `container start`/`stop`/`kill` of one feature at once from separate processes
//!   (the feature lock serializes them): every one exits 0, never two owners, and the feature
//!   then answers the unit's restart with the state its configuration asks for;
//! - hostcfgd-watcher's approval racing the operator's `sonic-kube config feature <f> owner`:
//!   the last owner written wins, never two owners;
//! - two `kube-labeler drain` at once over a pending list of adds and drops of the same keys:
//!   the list ends empty and the node's labels are those of the operations in order (an
//!   operation lost, or a prefix sent twice after a later operation, would show);
//! - several features started and stopped at once.
//!
//! Rounds: `CTRMGR_RELIABILITY_CASES` (1 or 2 in CI).

use std::collections::BTreeMap;
use std::time::Duration;

use ctrmgr_core::ports::StateStore as _;
use ctrmgr_core::{CurrentOwner, FeatureName, LabelOp, Owner};
use ctrmgr_tests::fakekube::Fault;
use ctrmgr_tests::world::{DEADLINE, World, kube_running, run_ok};

use crate::chaos::{Desired, Rng, await_desired, cases, recover_unit, report};

/// Each phase of a round stands for its own stretch of time: SONiC's feature units allow 3
/// starts in 1200 s (`StartLimitBurst=3`, 12 s in the simulator's time), which a round's
/// restarts and approvals would otherwise use up within seconds.
async fn fresh_start_window(w: &World) {
    let _ = w.systemd.ctl(&["reset-failed", w.f()]).await;
}

fn violations(w: &World) -> u64 {
    w.checker.as_ref().map_or(0, |c| c.violations().len()) as u64
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_start_stop_kill_of_one_feature_are_serialized_never_two_owners() {
    let rounds = cases(2).min(40);
    let w = World::new(Owner::Kube, false).await;
    w.start_daemons().await;
    let configs = [
        (Owner::Kube, false),
        (Owner::Local, false),
        (Owner::Kube, true),
    ];
    let mut commands = 0;
    let mut survived = 0;
    for round in 0..rounds {
        let mut rng = Rng::new(1000 + round);
        let (owner, fallback) = configs[usize::try_from(round).unwrap_or(0) % configs.len()];
        fresh_start_window(&w).await;
        w.set_owner(owner, fallback).await;
        let n = 4 + rng.below(5);
        let ops: Vec<&str> = (0..n)
            .map(|_| *rng.pick(&["start", "start", "stop", "kill"]))
            .collect();
        let children: Vec<_> = ops
            .iter()
            .map(|op| (*op, w.spawn_container(&[op, w.f()])))
            .collect();
        let mut logs = String::new();
        for (op, child) in children {
            let out = tokio::time::timeout(DEADLINE, child.wait_with_output())
                .await
                .expect("a racing container command ends")
                .expect("it runs");
            commands += 1;
            logs.push_str(&format!(
                "--- container {op}:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
            assert_eq!(
                out.status.code(),
                Some(0),
                "round {round}: container {op} racing {ops:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // The unit's restart then settles the feature as its configuration asks.
        let d = Desired {
            started: true,
            owner,
            fallback,
        };
        w.unit("restart").await;
        recover_unit(&w, d, false).await;
        await_desired(&w, d).await.unwrap_or_else(|e| {
            panic!(
                "round {round} after {ops:?}: {e}\n{logs}\njournal:\n{}",
                w.systemd.journal()
            )
        });
        survived += 1;
    }
    w.unit("stop").await;
    report(
        "race-start-stop-kill",
        &[
            ("tried", rounds),
            ("survived", survived),
            ("lost", 0),
            ("violations", violations(&w)),
            ("panics", 0),
        ],
        &format!("commands={commands}"),
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_approval_racing_the_operators_owner_change_ends_as_the_last_owner_written() {
    let rounds = cases(2).min(20);
    let w = World::new(Owner::Local, false).await;
    w.start_daemons().await;
    w.unit("start").await;
    let mut survived = 0;
    for round in 0..rounds {
        let mut rng = Rng::new(2000 + round);
        // Towards kube with fallback: the pod comes and asks, hostcfgd-watcher approves
        // (stop, start) while the operator sets the owner back to local at a random moment.
        fresh_start_window(&w).await;
        w.set_owner(Owner::Kube, true).await;
        w.unit("restart").await;
        tokio::time::sleep(Duration::from_millis(rng.below(2500))).await;
        run_ok(
            &w,
            "sonic-kube",
            &["config", "feature", "owner", w.f(), "local"],
        )
        .await;
        let d = Desired {
            started: true,
            owner: Owner::Local,
            fallback: true,
        };
        recover_unit(&w, d, false).await;
        await_desired(&w, d)
            .await
            .unwrap_or_else(|e| panic!("round {round} (to local): {e}"));
        // And the other way: the operator sets kube while the local image runs.
        fresh_start_window(&w).await;
        let w2 = &w;
        let args = ["config", "feature", "owner", w2.f(), "kube"];
        let (_, ()) = tokio::join!(run_ok(w2, "sonic-kube", &args), async {
            tokio::time::sleep(Duration::from_millis(rng.below(500))).await;
            let _ = w2.systemd.ctl(&["try-restart", w2.f()]).await;
        });
        let d = Desired {
            started: true,
            owner: Owner::Kube,
            fallback: true,
        };
        recover_unit(&w, d, false).await;
        await_desired(&w, d)
            .await
            .unwrap_or_else(|e| panic!("round {round} (to kube): {e}"));
        fresh_start_window(&w).await;
        w.set_owner(Owner::Local, false).await;
        w.unit("restart").await;
        survived += 1;
    }
    report(
        "race-approval-vs-owner-change",
        &[
            ("tried", rounds),
            ("survived", survived),
            ("lost", 0),
            ("violations", violations(&w)),
            ("panics", 0),
        ],
        "",
    );
    w.unit("stop").await;
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_drains_at_once_lose_nothing_and_apply_nothing_twice() {
    let rounds = cases(3).min(200);
    let mut w = World::new(Owner::Local, false).await;
    let mut expected: BTreeMap<String, String> = BTreeMap::new();
    let mut queued = 0;
    for round in 0..rounds {
        let mut rng = Rng::new(3000 + round);
        let n = 3 + rng.below(20);
        let ops: Vec<LabelOp> = (0..n)
            .map(|i| {
                let key = format!("race-k{}", rng.below(4));
                if rng.below(3) == 0 {
                    format!("{key}-")
                } else {
                    format!("{key}=r{round}-{i}")
                }
                .parse()
                .expect("a label operation")
            })
            .collect();
        for op in &ops {
            let s = op.to_string();
            match s.strip_suffix('-') {
                Some(k) if !s.contains('=') => {
                    expected.remove(k);
                }
                _ => {
                    if let Some((k, v)) = s.split_once('=') {
                        expected.insert(k.to_owned(), v.to_owned());
                    }
                }
            }
        }
        queued += ops.len() as u64;
        w.fixture
            .db
            .append_pending_labels(&ops)
            .await
            .expect("queue the operations");
        // A slow master widens the window in which both drains have read the list.
        w.fixture.fake.set_fault(if rng.coin() {
            Fault::Slow(Duration::from_millis(rng.below(300)))
        } else {
            Fault::None
        });
        let (a, b) = tokio::join!(
            run_ok(&w, "kube-labeler", &["drain"]),
            run_ok(&w, "kube-labeler", &["drain"])
        );
        assert!(a.status.success() && b.status.success());
        w.fixture.fake.set_fault(Fault::None);
        let pending = w.fixture.db.pending_labels().await.expect("pending list");
        let node: BTreeMap<String, String> = w
            .labels()
            .into_iter()
            .filter(|(k, _)| k.starts_with("race-k"))
            .collect();
        // A lost or doubled operation fails here, so the line below says lost=0.
        if node != expected || !pending.is_empty() {
            panic!(
                "round {round}: after {ops:?} the node has {node:?}, expected {expected:?}; pending {pending:?}"
            );
        }
    }
    report(
        "race-two-drains",
        &[
            ("tried", rounds),
            ("survived", rounds),
            ("lost", 0),
            ("violations", violations(&w)),
            ("panics", 0),
        ],
        &format!("operations={queued}"),
    );
    // No feature changes here: the rounds can end before the checker's first sample.
    drop(w.checker.take());
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_features_started_and_stopped_at_once() {
    let rounds = cases(1).min(10);
    let w = World::new(Owner::Local, false).await;
    let k = 4;
    let names: Vec<String> = (0..k).map(|i| format!("{}-m{i}", w.f())).collect();
    for g in &names {
        w.install_service(&serde_json::json!({ "name": g, "set_owner": "kube" }))
            .await;
        w.add_daemonset(g);
    }
    let features: Vec<FeatureName> = names
        .iter()
        .map(|g| FeatureName::new(g).expect("a feature name"))
        .collect();
    let mut all: Vec<String> = names.clone();
    all.push(w.f().to_owned());
    let mut survived = 0;
    for round in 0..rounds {
        // Start all at once (the local feature too), each round in its own start-limit
        // window (see `fresh_start_window`).
        for g in &all {
            let _ = w.systemd.ctl(&["reset-failed", g]).await;
        }
        for r in w.systemd.ctl_concurrently("start", &all).await {
            assert_eq!(r.code, 0, "round {round}: start: {}", r.stderr);
        }
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let mut ok = w.local_running().await;
            for f in &features {
                ok &= kube_running(&w.fixture.db.feature_record(f).await.expect("STATE_DB"));
            }
            if ok {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "round {round}: not every feature runs; pods {:?}",
                w.pods().await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        // Stop all at once.
        for r in w.systemd.ctl_concurrently("stop", &all).await {
            assert_eq!(r.code, 0, "round {round}: stop: {}", r.stderr);
        }
        for f in &features {
            let r = w.fixture.db.feature_record(f).await.expect("STATE_DB");
            assert_ne!(
                r.current_owner,
                CurrentOwner::Kube,
                "round {round}: {f}: {r:?}"
            );
        }
        let labels = w.labels();
        assert!(
            names
                .iter()
                .all(|g| !labels.contains_key(&format!("{g}_enabled"))),
            "round {round}: every label removed: {labels:?}"
        );
        assert!(!w.local_running().await);
        survived += 1;
    }
    report(
        "race-many-features",
        &[
            ("tried", rounds),
            ("survived", survived),
            ("lost", 0),
            ("violations", violations(&w)),
            ("panics", 0),
        ],
        &format!("features={}", k + 1),
    );
    w.finish().await;
}
