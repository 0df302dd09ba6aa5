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

mod master;
mod reboot_and_services;
