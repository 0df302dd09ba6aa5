//! Scenarios around the master and the kubelet: an unreachable master, a manifest update, a
//! pod container restarted, fallback, failure fallback.

use super::*;

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
