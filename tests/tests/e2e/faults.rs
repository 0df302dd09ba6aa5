//! Component faults (issue 15 point 3) in the switch in a box:
//!
//! - redis-server killed in the middle of a handover and started again with its data (as
//!   SONiC's redis comes back from its dump): the daemons' keyspace watches reconnect and
//!   rescan, the handover completes, nothing spins while Redis is away;
//! - the master refusing, hanging and answering 5xx in turn, every two seconds, for a bounded
//!   time, while the operator adds and drops labels and restarts the feature: the labels
//!   converge once it is back, kubelet ends running, the feature runs from kube, and no daemon
//!   spends more than a fifth of a CPU meanwhile (a retry loop without backoff would spend all
//!   of it).
//!
//! - dockerd stopped (SIGTERM, as `systemctl restart docker` does) or killed (SIGKILL, a
//!   crash) in the middle of a handover and started again with its data root, on an engine of
//!   the test's own (the other tests keep theirs): every container dies with it; the kubelet
//!   simulator relists and starts a new pod, the feature's unit is started again as systemd
//!   would (its `Requires=docker.service`), the handover completes on the new containers,
//!   and nothing spins while the engine is away.
//!
//! The kubeconfig's disk full or read-only during a join is in hostcfgd-watcher's tests
//! (`join::a_join_onto_a_full_or_read_only_disk_*`).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ctrmgr_core::{FeatureName, Owner};
use ctrmgr_dockerclient::testing::{EngineStop, OwnEngine, TestDocker};
use ctrmgr_tests::fakekube::Fault;
use ctrmgr_tests::world::{DAEMONS, World, workspace_binary};

use crate::chaos::{
    Desired, Rng, assert_no_busy_loop, await_desired, cases, daemon_cpu, recover_unit, report,
};

/// `redis-cli -s <socket> SHUTDOWN SAVE`: redis-server writes its dump (which the restarted
/// server loads) and exits.
async fn redis_shutdown(w: &World) {
    let out = tokio::process::Command::new("redis-cli")
        .arg("-s")
        .arg(w.fixture.redis.socket_path())
        .args(["SHUTDOWN", "SAVE"])
        .output()
        .await
        .expect("redis-cli runs (package redis-tools)");
    assert!(
        out.stderr.is_empty(),
        "SHUTDOWN SAVE: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts the daemons and the feature's unit (owner local) and waits until it runs locally.
async fn start_local(w: &World) -> Desired {
    w.start_daemons().await;
    w.unit("start").await;
    let d = Desired {
        started: true,
        owner: Owner::Local,
        fallback: false,
    };
    await_desired(w, d).await.unwrap_or_else(|e| panic!("{e}"));
    d
}

/// The handover after `d`, alternating: local → kube with fallback (the pod waits for
/// hostcfgd-watcher's approval), kube → local.
fn next_handover(d: Desired) -> Desired {
    let to_kube = d.owner == Owner::Local;
    Desired {
        started: true,
        owner: if to_kube { Owner::Kube } else { Owner::Local },
        fallback: to_kube,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_restarted_mid_handover_the_watches_resync_and_no_transition_is_lost() {
    let rounds = cases(1).min(20);
    let mut w = World::new(Owner::Local, false).await;
    let mut d = start_local(&w).await;
    let mut survived = 0;
    let mut daemon_restarts = 0;
    let mut worst_cpu = 0;
    for round in 0..rounds {
        let mut rng = Rng::new(round);
        d = next_handover(d);
        w.set_owner(d.owner, d.fallback).await;
        let pids = daemon_cpu(&w);
        let args = ["restart", w.f()];
        let restart = w.systemd.ctl(&args);
        let outage = async {
            tokio::time::sleep(Duration::from_millis(rng.below(800))).await;
            let before = daemon_cpu(&w);
            redis_shutdown(&w).await;
            let t0 = Instant::now();
            tokio::time::sleep(Duration::from_millis(1000 + rng.below(2000))).await;
            assert_no_busy_loop(&w, &before, t0.elapsed())
        };
        let (_, worst) = tokio::join!(restart, outage);
        worst_cpu = worst_cpu.max(worst);
        w.fixture
            .redis
            .restart()
            .expect("redis-server starts again from its dump");
        recover_unit(&w, d, false).await;
        await_desired(&w, d)
            .await
            .unwrap_or_else(|e| panic!("round {round}: {e}\njournal:\n{}", w.systemd.journal()));
        for u in DAEMONS {
            w.await_unit(u, "active").await;
        }
        let now = daemon_cpu(&w);
        daemon_restarts += pids
            .iter()
            .filter(|(k, (pid, _))| now.get(*k).is_none_or(|(p, _)| p != pid))
            .count() as u64;
        survived += 1;
    }
    let violations = w.checker.as_ref().map_or(0, |c| c.violations().len()) as u64;
    report(
        "fault-redis-restart",
        &[
            ("tried", rounds),
            ("survived", survived),
            ("lost", 0),
            ("violations", violations),
            ("panics", 0),
        ],
        &format!("daemon_restarts={daemon_restarts} max_daemon_cpu_pct={worst_cpu}"),
    );
    w.finish().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flapping_master_converges_labels_kubelet_runs_and_nothing_spins() {
    // Seconds of flapping: 12 in CI, `CTRMGR_RELIABILITY_CASES` (at most 300) in the full run.
    let secs = cases(12).min(300);
    let w = World::new(Owner::Kube, false).await;
    w.start_daemons().await;
    w.unit("start").await;
    let d = Desired {
        started: true,
        owner: Owner::Kube,
        fallback: false,
    };
    await_desired(&w, d).await.unwrap_or_else(|e| panic!("{e}"));
    let before = daemon_cpu(&w);
    let t0 = Instant::now();
    let faults = [
        Fault::Refuse,
        Fault::None,
        Fault::Hang,
        Fault::None,
        Fault::ServerError(503),
        Fault::ServerError(500),
        Fault::None,
    ];
    let mut rng = Rng::new(secs);
    let mut labels: BTreeMap<String, Option<String>> = BTreeMap::new();
    let mut injected = 0;
    let mut label_ops = 0;
    let mut i = 0;
    while t0.elapsed() < Duration::from_secs(secs) {
        let f = faults[i % faults.len()];
        i += 1;
        if f != Fault::None {
            injected += 1;
        }
        w.fixture.fake.set_fault(f);
        // The operator meanwhile: a label added or dropped, now and then a restart.
        let key = format!("flap-k{}", rng.below(3));
        let mut cmd = w.fixture.command(workspace_binary("kube-labeler"));
        label_ops += 1;
        if rng.coin() {
            let v = format!("v{i}");
            cmd.args(["add", &key, &v]);
            labels.insert(key, Some(v));
        } else {
            cmd.args(["drop", &key]);
            labels.insert(key, None);
        }
        let out = cmd
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .output()
            .await
            .expect("kube-labeler runs");
        assert!(
            out.status.success(),
            "kube-labeler with the master {f:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        if rng.below(3) == 0 {
            let _ = w.systemd.ctl(&["restart", w.f()]).await;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    let worst = assert_no_busy_loop(&w, &before, t0.elapsed());
    w.fixture.fake.set_fault(Fault::None);
    recover_unit(&w, d, false).await;
    await_desired(&w, d)
        .await
        .unwrap_or_else(|e| panic!("after the flapping: {e}\njournal:\n{}", w.systemd.journal()));
    w.await_unit("kubelet", "active").await;
    let node = w.labels();
    let lost: Vec<_> = labels
        .iter()
        .filter(|(k, v)| node.get(*k) != v.as_ref())
        .collect();
    let violations = w.checker.as_ref().map_or(0, |c| c.violations().len()) as u64;
    report(
        "fault-master-flapping",
        &[
            ("tried", injected),
            ("survived", if lost.is_empty() { injected } else { 0 }),
            ("lost", lost.len() as u64),
            ("violations", violations),
            ("panics", 0),
        ],
        &format!("seconds={secs} label_ops={label_ops} max_daemon_cpu_pct={worst}"),
    );
    assert!(lost.is_empty(), "labels lost: {lost:?}; node {node:?}");
    w.finish().await;
}

/// Where the dockerd-restart check keeps its own engine (socket, data root, log): a short path,
/// since the socket lives in it; the data root, and so the test image, is kept for the next run.
fn own_engine_dir() -> std::path::PathBuf {
    std::env::temp_dir().join("ctrmgr-dockerd-restart")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dockerd_restarted_mid_handover_the_feature_comes_back_and_no_transition_is_lost() {
    let rounds = cases(2).min(20);
    let mut engine = OwnEngine::start(&own_engine_dir())
        .await
        .unwrap_or_else(|e| panic!("the test's own dockerd: {e}"));
    let docker = engine
        .docker()
        .await
        .expect("the test's own engine answers");
    let feature = FeatureName::new(&TestDocker::unique_name("d")).expect("a feature name");
    let node = format!("node-{}", feature.as_str()).to_lowercase();
    let w = World::on_engine(
        docker,
        feature,
        node,
        Owner::Local,
        false,
        Duration::from_millis(300),
    )
    .await;
    let mut d = start_local(&w).await;
    let (mut survived, mut killed, mut worst_cpu) = (0, 0, 0);
    for round in 0..rounds {
        let mut rng = Rng::new(1000 + round);
        d = next_handover(d);
        let how = if round % 2 == 0 {
            EngineStop::Term
        } else {
            killed += 1;
            EngineStop::Kill
        };
        w.set_owner(d.owner, d.fallback).await;
        let args = ["restart", w.f()];
        let restart = w.systemd.ctl(&args);
        let outage = async {
            tokio::time::sleep(Duration::from_millis(rng.below(800))).await;
            let before = daemon_cpu(&w);
            let t0 = Instant::now();
            engine
                .stop(how)
                .await
                .unwrap_or_else(|e| panic!("round {round}: stopping dockerd: {e}"));
            tokio::time::sleep(Duration::from_millis(500 + rng.below(1500))).await;
            let worst = assert_no_busy_loop(&w, &before, t0.elapsed());
            engine
                .start_again()
                .await
                .unwrap_or_else(|e| panic!("round {round}: starting dockerd again: {e}"));
            worst
        };
        let (_, worst) = tokio::join!(restart, outage);
        worst_cpu = worst_cpu.max(worst);
        // systemd restarts what `Requires=docker.service` when docker.service comes back;
        // the simulator has no docker.service, so the check does it.
        recover_unit(&w, d, false).await;
        await_desired(&w, d).await.unwrap_or_else(|e| {
            let kubelet = w.kubelet.as_ref().map(|k| k.events()).unwrap_or_default();
            panic!(
                "round {round} ({how:?}): {e}\nkubelet:\n{}\njournal:\n{}",
                kubelet.join("\n"),
                w.systemd.journal()
            )
        });
        for u in DAEMONS {
            w.await_unit(u, "active").await;
        }
        survived += 1;
    }
    let violations = w.checker.as_ref().map_or(0, |c| c.violations().len()) as u64;
    report(
        "fault-dockerd-restart",
        &[
            ("tried", rounds),
            ("survived", survived),
            ("lost", 0),
            ("violations", violations),
            ("panics", 0),
        ],
        &format!("killed={killed} max_daemon_cpu_pct={worst_cpu}"),
    );
    w.finish().await;
    drop(engine);
}
