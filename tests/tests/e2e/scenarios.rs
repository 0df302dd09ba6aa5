//! The seed's scenarios as real processes (issue 14 item 4): the feature's unit rendered by
//! `sonic-kube service install` run by the systemd simulator (its commands the real
//! `container` binary), the real daemons as units, the kubelet simulator running pods on the
//! real Docker Engine (each running the real `container state <f> up kube`), a real
//! redis-server and the fake master, with the invariant checker sampling all of it. Each asserts STATE_DB, Docker and the node's labels along the
//! way and at the end.

use ctrmgr_core::ports::StateStore as _;
use ctrmgr_core::{CurrentOwner, FeatureRecord, Owner, State, TransitionMode};
use ctrmgr_tests::fakekube::Fault;
use ctrmgr_tests::invariant::InvariantChecker;

use ctrmgr_tests::world::{World, kube_running, names, run_ok};

/// Default: set_owner=local. `container start` runs the local image; no label, no pod;
/// `container stop` ends in INIT.
#[tokio::test]
async fn default_local_feature_runs_the_local_image_and_never_kube() {
    let w = World::new(Owner::Local, false).await;
    w.unit("start").await;
    let r = w
        .await_record("local", |r| r.current_owner == CurrentOwner::Local)
        .await;
    assert!(
        names(&r, w.local.id().as_str()),
        "record names the local container: {r:?}"
    );
    assert!(w.local_running().await);
    assert!(
        !w.label_set(),
        "no label for a local feature: {:?}",
        w.labels()
    );
    assert!(w.pods().await.is_empty(), "no pod: {:?}", w.pods().await);

    w.unit("stop").await;
    let r = w.record().await;
    assert_eq!(r.current_owner, CurrentOwner::None, "{r:?}");
    assert!(r.docker_id.is_none());
    assert!(!w.local_running().await);
    assert_eq!(w.systemd.state(w.f()).as_str(), "inactive");
    w.finish().await;
}

/// Kube without fallback: `container start` only labels the node; the kubelet deploys the
/// pod, whose `container state up kube` claims the feature (KUBE_RUNNING, the pod's
/// container recorded, not its sandbox); the local image never runs. `container stop` removes
/// the label, the kubelet stops the pod (SIGTERM → `container state down`), and the feature
/// ends in KUBE_STOPPED with no owner (set_owner=kube: the next start approves the next
/// deployment).
#[tokio::test]
async fn kube_without_fallback_is_deployed_by_the_kubelet_and_withdrawn_on_stop() {
    let w = World::new(Owner::Kube, false).await;
    w.unit("start").await;
    assert!(w.label_set(), "start labels the node: {:?}", w.labels());
    let r = w.await_record("kube_running", kube_running).await;
    let pods = w.await_kube_running(1).await;
    assert!(
        names(&r, &pods[0].id),
        "record {r:?} names the pod's container {pods:?}"
    );
    assert!(
        pods[0].name.starts_with(&format!("k8s_{}_", w.f())),
        "{pods:?}"
    );
    assert!(!w.local_running().await, "the local image never runs");

    w.unit("stop").await;
    assert!(!w.label_set(), "stop removes the label: {:?}", w.labels());
    let r = w
        .await_record("kube_stopped", |r| {
            r.current_owner == CurrentOwner::None
                && r.transition_mode == TransitionMode::KubeStopped
        })
        .await;
    assert!(r.docker_id.is_none(), "{r:?}");
    w.await_kube_running(0).await;
    assert!(!w.local_running().await);
    w.finish().await;
}

/// kube → local: from KUBE_RUNNING, set_owner=local and the unit's restart (`container stop`,
/// `container start`): the label goes, the pod stops, the local image runs, never both.
#[tokio::test]
async fn kube_to_local_hands_over_without_two_owners() {
    let w = World::new(Owner::Kube, false).await;
    w.unit("start").await;
    w.await_record("kube_running", kube_running).await;
    w.await_kube_running(1).await;

    w.set_owner(Owner::Local, false).await;
    w.unit("restart").await;
    let r = w
        .await_record("local", |r| r.current_owner == CurrentOwner::Local)
        .await;
    assert!(names(&r, w.local.id().as_str()), "{r:?}");
    assert!(w.local_running().await);
    assert!(!w.label_set(), "{:?}", w.labels());
    w.await_kube_running(0).await;
    w.finish().await;
}

/// Warm reboot prepare: `container kill-all` kills the running owner (here the pod's
/// container) and records it down at once.
#[tokio::test]
async fn warm_reboot_prepare_kills_the_running_kube_owner() {
    let w = World::new(Owner::Kube, false).await;
    w.container(&["start", w.f()]).await;
    w.await_record("kube_running", kube_running).await;
    let pods = w.await_kube_running(1).await;
    // kubelet is stopped before the reboot, as the reboot script does.
    if let Some(k) = &w.kubelet {
        k.set_running(false);
    }
    w.container(&["kill-all"]).await;
    let r = w.record().await;
    assert_ne!(
        r.current_owner,
        CurrentOwner::Kube,
        "recorded down at once: {r:?}"
    );
    assert!(
        !w.docker
            .client()
            .is_running(&ctrmgr_tests::world::id(&pods[0].id))
            .await
            .expect("inspect"),
        "the pod's container was killed"
    );
    assert!(!w.local_running().await);
    w.finish().await;
}

/// The checker itself: a record claiming the local container that does not run is reported
/// once the state is stable (invariant 3), and a claimed kube container running beside the
/// local one is reported at once (invariant 2), each with its evidence.
#[tokio::test]
async fn the_invariant_checker_reports_a_lying_record_and_two_owners() {
    let w = World::new(Owner::Kube, false).await;
    let checker = w.checker.as_ref().expect("the world's checker");
    // Invariant 3: the record says local runs; it does not.
    w.fixture
        .db
        .set_feature_record(
            &w.feature,
            &FeatureRecord::of_state(State::Local, Some(w.local.id().clone())),
        )
        .await
        .expect("write STATE_DB");
    let deadline = tokio::time::Instant::now() + InvariantChecker::SETTLE * 4;
    while checker.violations().is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "invariant 3 never reported"
        );
        tokio::time::sleep(InvariantChecker::PERIOD).await;
    }
    let v = checker.violations();
    assert!(v[0].contains("invariant 3"), "{v:?}");
    assert!(
        v[0].contains("current_owner=local ⇔ the local container runs"),
        "{v:?}"
    );

    // Invariant 2: the labelled pod runs, the record says it claimed the feature, and the
    // local container is started beside it.
    w.container(&["start", w.f()]).await;
    let pods = w.await_kube_running(1).await;
    w.docker
        .client()
        .start(w.local.id())
        .await
        .expect("start the local container");
    w.fixture
        .db
        .set_feature_record(
            &w.feature,
            &FeatureRecord::of_state(
                State::KubeRunning,
                Some(ctrmgr_tests::world::id(&pods[0].id)),
            ),
        )
        .await
        .expect("write STATE_DB");
    let deadline = tokio::time::Instant::now() + InvariantChecker::SETTLE * 4;
    while !checker
        .violations()
        .iter()
        .any(|v| v.contains("invariant 2"))
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "invariant 2 never reported"
        );
        tokio::time::sleep(InvariantChecker::PERIOD).await;
    }
    let v = checker.violations();
    let two = v.iter().find(|v| v.contains("invariant 2")).expect("found");
    assert!(two.contains("local_running: true"), "evidence: {two}");
    let mut w = w;
    let checker = w.checker.take().expect("checker");
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| checker.finish()));
    assert!(panicked.is_err(), "finish fails on violations");
    w.docker
        .client()
        .kill(w.local.id())
        .await
        .expect("kill the local container");
    w.finish().await;
}

/// Master unreachable: the feature runs from kube; the master goes away; the operator moves
/// it to local. The stop's label removal is queued (STATE_DB pending list) and kubelet is
/// stopped, so the simulator changes nothing meanwhile; the local image runs. The master
/// comes back: `kube-labeler drain` sends the queued removal and starts kubelet, which then
/// withdraws the pod. Never two owners on the way.
#[tokio::test]
async fn master_unreachable_queues_the_label_stops_kubelet_and_drains_when_back() {
    let w = World::new(Owner::Kube, false).await;
    w.unit("start").await;
    w.await_record("kube_running", kube_running).await;
    w.await_kube_running(1).await;

    w.fixture.fake.set_fault(Fault::Refuse);
    w.set_owner(Owner::Local, false).await;
    w.unit("restart").await;
    let r = w
        .await_record("local", |r| r.current_owner == CurrentOwner::Local)
        .await;
    assert!(names(&r, w.local.id().as_str()), "{r:?}");
    assert!(w.local_running().await);
    let pending = w.fixture.db.pending_labels().await.expect("pending list");
    assert!(
        pending
            .iter()
            .any(|op| op.to_string() == format!("{}_enabled-", w.f())),
        "the label removal is queued: {pending:?}"
    );
    assert!(
        w.systemd.calls().iter().any(|c| c == "stop kubelet"),
        "kubelet stopped: {:?}",
        w.systemd.calls()
    );
    assert!(
        w.label_set(),
        "the node still has the label while the master is away"
    );
    // kubelet stopped: the simulator leaves the pod's containers alone (the stop ended the
    // feature container; nothing restarts it).
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert!(w.kube_running().await.is_empty(), "{:?}", w.pods().await);

    w.fixture.fake.set_fault(Fault::None);
    run_ok(&w, "kube-labeler", &["drain"]).await;
    assert!(
        w.fixture
            .db
            .pending_labels()
            .await
            .expect("pending")
            .is_empty(),
        "drained"
    );
    assert!(!w.label_set(), "{:?}", w.labels());
    assert!(
        w.systemd.calls().iter().any(|c| c == "start kubelet"),
        "{:?}",
        w.systemd.calls()
    );
    assert_eq!(w.systemd.state("kubelet").as_str(), "active");
    let deadline = tokio::time::Instant::now() + ctrmgr_tests::world::DEADLINE;
    while !w.pods().await.is_empty() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            w.pods().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let r = w.record().await;
    assert_eq!(r.current_owner, CurrentOwner::Local, "{r:?}");
    assert!(w.local_running().await);
    w.unit("stop").await;
    assert!(!w.local_running().await);
    w.finish().await;
}

/// Manifest update: the DaemonSet's image goes v1 → v2. The kubelet stops the v1 pod (its
/// container records itself down) and starts v2, which is approved (hostcfgd-watcher's
/// `systemctl try-restart`, or the unit's own restart after its main process `container wait`
/// ended with v1) and claims the feature. Never two owners; the label stays.
#[tokio::test]
async fn manifest_update_replaces_the_pod_and_the_new_image_claims_after_approval() {
    let w = World::new(Owner::Kube, false).await;
    w.start_daemons().await;
    w.unit("start").await;
    w.await_record("kube_running", kube_running).await;
    let v1 = w.await_kube_running(1).await;
    assert_eq!(v1[0].image, format!("{}:v1", w.f()));

    w.fixture
        .fake
        .set_daemonset_image(
            ctrmgr_tests::world::NAMESPACE,
            w.f(),
            &format!("{}:v2", w.f()),
        )
        .expect("update the DaemonSet");
    let deadline = tokio::time::Instant::now() + ctrmgr_tests::world::DEADLINE;
    let (r, v2) = loop {
        let r = w.record().await;
        let k = w.kube_running().await;
        if kube_running(&r) && k.len() == 1 && k[0].image.ends_with(":v2") {
            break (r, k);
        }
        if let Some(c) = &w.checker {
            c.assert_clean();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "v2 never claimed: {r:?} {k:?}; calls {:?}",
            w.systemd.calls()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(names(&r, &v2[0].id), "v2 claimed: {r:?} {v2:?}");
    assert!(
        w.pods().await.iter().all(|c| c.image.ends_with(":v2")),
        "the v1 pod is gone: {:?}",
        w.pods().await
    );
    assert!(!w.local_running().await);
    assert!(w.label_set());
    w.finish().await;
}

/// restartPolicy Always: a feature container that dies while the labels match is replaced
/// (a new attempt) after the backoff; `container wait` (the unit's main process) returns its
/// exit code and records it down; the replacement asks for approval, as any new deployment
/// does.
#[tokio::test]
async fn kubelet_restarts_a_dead_pod_container_which_then_asks_for_approval() {
    let w = World::new(Owner::Kube, false).await;
    w.container(&["start", w.f()]).await;
    w.await_record("kube_running", kube_running).await;
    let first = w.await_kube_running(1).await;
    // The unit's main process, as systemd runs it: `container wait` records the exit.
    let wait = w.spawn_container(&["wait", w.f()]);
    w.docker
        .client()
        .kill(&ctrmgr_tests::world::id(&first[0].id))
        .await
        .expect("kill the pod's container");
    let waited = tokio::time::timeout(ctrmgr_tests::world::DEADLINE, wait.wait_with_output())
        .await
        .expect("container wait returns")
        .expect("container wait runs");
    assert_eq!(
        waited.status.code(),
        Some(137),
        "the killed container's code"
    );
    let deadline = tokio::time::Instant::now() + ctrmgr_tests::world::DEADLINE;
    let second = loop {
        let k = w.kube_running().await;
        if let Some(c) = k.iter().find(|c| c.id != first[0].id) {
            break c.clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never restarted: {:?}",
            w.pods().await
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    assert!(second.name.ends_with("_1"), "attempt 1: {second:?}");
    let r = w
        .await_record("kube_pending", |r| {
            r.transition_mode == TransitionMode::KubePending
        })
        .await;
    assert_eq!(r.current_owner, CurrentOwner::None, "{r:?}");
    w.finish().await;
}

/// Kube with fallback, on the units and the daemons: `systemctl start <f>` (the unit
/// `sonic-kube service install` rendered, under the systemd simulator) labels the node and runs
/// the local image at once; the kubelet deploys the pod, whose container waits for approval
/// (LOCAL_TO_KUBE) while the local image keeps running; the real hostcfgd-watcher approves it
/// (`systemctl try-restart <f>`): the local image stops and the pod's container claims the
/// feature. Never two owners.
#[tokio::test]
async fn kube_with_fallback_runs_local_first_then_hands_over_on_approval() {
    let w = World::new(Owner::Kube, true).await;
    w.unit("start").await;
    assert!(w.label_set(), "{:?}", w.labels());
    let r = w
        .await_record("local (kube pending)", |r| {
            r.current_owner == CurrentOwner::Local
        })
        .await;
    assert!(names(&r, w.local.id().as_str()), "{r:?}");
    w.await_kube_running(1).await;
    assert!(
        w.local_running().await || w.record().await.current_owner == CurrentOwner::Kube,
        "local keeps running while kube waits"
    );

    w.start_daemons().await;
    let r = w.await_record("kube_running", kube_running).await;
    let pods = w.await_kube_running(1).await;
    assert!(names(&r, &pods[0].id), "{r:?} {pods:?}");
    assert!(!w.local_running().await, "the local image stopped");
    assert!(w.label_set());
    assert!(
        w.systemd
            .calls()
            .iter()
            .any(|c| c == &format!("try-restart {}", w.f())),
        "hostcfgd-watcher approved through systemctl: {:?}",
        w.systemd.calls()
    );
    assert_eq!(w.systemd.state(w.f()).as_str(), "active");
    w.finish().await;
}

/// Failure fallback by the real kube-monit: kube with fallback and `kube_failure_detection=1`
/// (a minute is 1 s here, tunable `failure_detection_minute_secs`). The feature runs from kube
/// after hostcfgd-watcher's approval; then Kubernetes withdraws it (the DaemonSet is
/// deleted): the pod stops and records itself down, nothing runs the feature, and after the
/// scaled minute kube-monit restarts the unit, whose start falls back to the local image.
#[tokio::test]
async fn failure_fallback_runs_the_local_image_after_n_scaled_minutes() {
    let w = World::new(Owner::Kube, true).await;
    let mut cfg = ctrmgr_core::FeatureConfig::new(Owner::Kube, true);
    cfg.kube_failure_detection_mins = 1;
    w.fixture
        .db
        .set_feature_config(&w.feature, &cfg)
        .await
        .expect("write CONFIG_DB FEATURE");
    w.start_daemons().await;
    w.unit("start").await;
    w.await_record("kube_running", kube_running).await;
    w.await_kube_running(1).await;

    assert!(
        w.fixture
            .fake
            .delete_daemonset(ctrmgr_tests::world::NAMESPACE, w.f()),
        "the DaemonSet existed"
    );
    w.await_kube_running(0).await;
    let r = w
        .await_record("local after the failure fallback", |r| {
            r.current_owner == CurrentOwner::Local
        })
        .await;
    assert!(names(&r, w.local.id().as_str()), "{r:?}");
    assert!(w.local_running().await);
    assert!(w.kube_running().await.is_empty(), "{:?}", w.pods().await);
    // kube-monit logs "failure fallback" after the fallback it did, which the record may show
    // first on a busy machine: its line is awaited (bounded).
    let deadline = tokio::time::Instant::now() + ctrmgr_tests::world::DEADLINE;
    loop {
        let journal = w.systemd.journal();
        if journal.contains("failure fallback") {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "kube-monit fell back: {journal}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    w.finish().await;
}

/// local → kube: the feature runs locally; the operator sets set_owner=kube with fallback and
/// restarts the unit: the local image runs again at once, the label goes on, the pod comes
/// and waits; the approval hands over to it.
#[tokio::test]
async fn local_to_kube_hands_over_on_approval() {
    let w = World::new(Owner::Local, false).await;
    w.unit("start").await;
    w.await_record("local", |r| r.current_owner == CurrentOwner::Local)
        .await;
    assert!(w.pods().await.is_empty());

    w.set_owner(Owner::Kube, true).await;
    w.unit("restart").await;
    assert!(w.label_set(), "{:?}", w.labels());
    w.await_record("local_to_kube", |r| {
        r.current_owner == CurrentOwner::Local && r.transition_mode == TransitionMode::KubePending
    })
    .await;
    assert!(w.local_running().await);

    // hostcfgd-watcher approves the waiting pod (`systemctl try-restart`).
    w.start_daemons().await;
    let r = w.await_record("kube_running", kube_running).await;
    let pods = w.await_kube_running(1).await;
    assert!(names(&r, &pods[0].id), "{r:?} {pods:?}");
    assert!(!w.local_running().await);
    w.finish().await;
}

/// Cold reboot of a kube feature, on the units and the daemons: the feature's unit and
/// hostcfgd-watcher run; power is cut (every unit process and pod container killed at once,
/// kubelet down), Redis comes back empty and CONFIG_DB is loaded again (as from
/// config_db.json), then the units start again in order: kubelet, the daemons, the feature.
/// The node kept its label, so the pod comes back and ends up claiming the feature: directly
/// without fallback, after the local image and hostcfgd-watcher's approval with it.
async fn cold_reboot(fallback: bool) {
    let mut w = World::new(Owner::Kube, fallback).await;
    w.start_daemons().await;
    w.unit("start").await;
    w.await_record("kube_running", kube_running).await;
    let before = w.await_kube_running(1).await;

    // Power off.
    w.systemd.power_off();
    if let Some(k) = &w.kubelet {
        k.set_running(false);
    }
    for c in w.pods().await {
        let _ = w
            .docker
            .client()
            .kill(&ctrmgr_tests::world::id(&c.id))
            .await;
    }
    let _ = w.docker.client().kill(w.local.id()).await;
    w.fixture.redis.restart().expect("redis-server restarts");
    // Boot: CONFIG_DB from config_db.json, DEVICE_METADATA, then the units.
    let db = w.fixture.db.clone();
    let deadline = tokio::time::Instant::now() + ctrmgr_tests::world::DEADLINE;
    while db
        .set_device_metadata(&ctrmgr_core::DeviceMetadata {
            hostname: Some(w.node.clone()),
            ..ctrmgr_core::DeviceMetadata::default()
        })
        .await
        .is_err()
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "Redis never came back"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    w.set_owner(Owner::Kube, fallback).await;
    assert_eq!(
        w.record().await.current_owner,
        CurrentOwner::None,
        "STATE_DB flushed"
    );
    assert_eq!(w.systemd.state(w.f()).as_str(), "inactive");
    if let Some(k) = &w.kubelet {
        k.set_running(true);
    }
    w.systemd.ok(&["start", "kubelet"]).await;
    w.start_daemons().await;
    w.unit("start").await;
    let r = w.await_record("kube_running", kube_running).await;
    let after = w.await_kube_running(1).await;
    assert!(names(&r, &after[0].id), "{r:?} {after:?}");
    assert_ne!(
        after[0].id, before[0].id,
        "a new container after the reboot"
    );
    assert!(!w.local_running().await);
    assert!(w.label_set());
    assert_eq!(w.systemd.state(w.f()).as_str(), "active");
    w.finish().await;
}

#[tokio::test]
async fn cold_reboot_of_a_kube_feature_without_fallback() {
    cold_reboot(false).await;
}

#[tokio::test]
async fn cold_reboot_of_a_kube_feature_with_fallback() {
    cold_reboot(true).await;
}

/// A kube-only feature (no local image) installed with `sonic-kube service install`: its unit
/// starts (`systemctl start`), the node is labelled, the kubelet deploys the pod and its
/// container claims the feature; `systemctl stop` withdraws it.
#[tokio::test]
async fn a_kube_only_feature_installed_with_service_install_runs_from_kube() {
    let w = World::new(Owner::Local, false).await;
    let g = format!("{}-k", w.f());
    w.install_service(&serde_json::json!({ "name": g, "set_owner": "kube" }))
        .await;
    w.add_daemonset(&g);
    w.systemd.ok(&["start", &g]).await;
    let gf = ctrmgr_core::FeatureName::new(&g).expect("name");
    assert_eq!(
        w.labels().get(&format!("{g}_enabled")).map(String::as_str),
        Some("true"),
        "{:?}",
        w.labels()
    );
    let deadline = tokio::time::Instant::now() + ctrmgr_tests::world::DEADLINE;
    let r = loop {
        let r = w.fixture.db.feature_record(&gf).await.expect("STATE_DB");
        if kube_running(&r) {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never kube_running: {r:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let pods = w.pods().await;
    let pod = pods
        .iter()
        .find(|c| c.role == "feature" && c.name.starts_with(&format!("k8s_{g}_")))
        .expect("the pod's container");
    assert!(names(&r, &pod.id), "{r:?} {pods:?}");
    assert_eq!(w.systemd.state(&g).as_str(), "active");

    w.systemd.ok(&["stop", &g]).await;
    assert!(
        !w.labels().contains_key(&format!("{g}_enabled")),
        "{:?}",
        w.labels()
    );
    let r = w.fixture.db.feature_record(&gf).await.expect("STATE_DB");
    assert_ne!(r.current_owner, CurrentOwner::Kube, "{r:?}");
    assert_eq!(w.systemd.state(&g).as_str(), "inactive");
    w.finish().await;
}

/// A multi-instance kube-only feature (`multi_instance`, `instances: ["0"]`, decisions pkg-6):
/// `service install` renders `<g>@.service`; starting `<g>@0` through the simulated systemctl
/// runs `<g>.sh start 0`, so `container start <g>0` labels the node `<g>0_enabled` and the
/// DaemonSet `<g>0` deploys the instance's pod, which claims STATE_DB `FEATURE|<g>0`; the
/// host's unit `<g>.service` is not involved. Stopping `<g>@0` removes the label.
#[tokio::test]
async fn a_multi_instance_kube_only_feature_runs_its_instance_from_kube() {
    let w = World::new(Owner::Local, false).await;
    let g = format!("{}-m", w.f());
    let g0 = format!("{g}0");
    w.install_service(&serde_json::json!({
        "name": g,
        "set_owner": "kube",
        "multi_instance": true,
        "instances": ["0"],
    }))
    .await;
    w.add_daemonset(&g0);
    let unit = format!("{g}@0");
    w.systemd.ok(&["start", &unit]).await;
    assert_eq!(
        w.labels().get(&format!("{g0}_enabled")).map(String::as_str),
        Some("true"),
        "{:?}",
        w.labels()
    );
    let gf = ctrmgr_core::FeatureName::new(&g0).expect("name");
    let deadline = tokio::time::Instant::now() + ctrmgr_tests::world::DEADLINE;
    let r = loop {
        let r = w.fixture.db.feature_record(&gf).await.expect("STATE_DB");
        if kube_running(&r) {
            break r;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "never kube_running: {r:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    };
    let pods = w.pods().await;
    let pod = pods
        .iter()
        .find(|c| c.role == "feature" && c.name.starts_with(&format!("k8s_{g0}_")))
        .expect("the instance's pod container");
    assert!(names(&r, &pod.id), "{r:?} {pods:?}");
    assert_eq!(w.systemd.state(&unit).as_str(), "active");
    assert_eq!(w.systemd.state(&g).as_str(), "inactive", "the host's unit");

    w.systemd.ok(&["stop", &unit]).await;
    assert!(
        !w.labels().contains_key(&format!("{g0}_enabled")),
        "{:?}",
        w.labels()
    );
    assert_eq!(w.systemd.state(&unit).as_str(), "inactive");
    w.finish().await;
}

/// Two features, the second requiring the first, both installed with `sonic-kube service
/// install` (`requires`): starting the dependent's unit starts the required unit first (the
/// local feature runs, then the kube one is deployed); stopping the required unit stops the
/// dependent first.
#[tokio::test]
async fn a_feature_requiring_another_starts_after_it_and_stops_before_it() {
    let w = World::new(Owner::Local, false).await;
    let g = format!("{}-d", w.f());
    w.install_service(&serde_json::json!({
        "name": g,
        "set_owner": "kube",
        "requires": [w.f()],
    }))
    .await;
    w.add_daemonset(&g);
    w.systemd.ok(&["start", &g]).await;
    assert_eq!(
        w.systemd.state(w.f()).as_str(),
        "active",
        "required unit started"
    );
    let r = w
        .await_record("local", |r| r.current_owner == CurrentOwner::Local)
        .await;
    assert!(names(&r, w.local.id().as_str()), "{r:?}");
    assert!(w.local_running().await);
    let gf = ctrmgr_core::FeatureName::new(&g).expect("name");
    let deadline = tokio::time::Instant::now() + ctrmgr_tests::world::DEADLINE;
    while !kube_running(&w.fixture.db.feature_record(&gf).await.expect("STATE_DB")) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{g} never kube_running"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let calls = w.systemd.calls();
    assert_eq!(
        calls.first().map(String::as_str),
        Some("daemon-reload"),
        "{calls:?}"
    );

    w.unit("stop").await;
    assert_eq!(
        w.systemd.state(&g).as_str(),
        "inactive",
        "dependent stopped first"
    );
    assert_eq!(w.systemd.state(w.f()).as_str(), "inactive");
    assert!(!w.local_running().await);
    assert!(
        !w.labels().contains_key(&format!("{g}_enabled")),
        "{:?}",
        w.labels()
    );
    w.finish().await;
}
