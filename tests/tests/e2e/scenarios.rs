//! The seed's scenarios as real processes (issue 14 item 4): the real `container` binary, the
//! kubelet simulator running pods on the real Docker Engine (each running the real
//! `container state <f> up kube`), a real redis-server and the fake master, with the invariant
//! checker sampling all of it. Each asserts STATE_DB, Docker and the node's labels along the
//! way and at the end.

use ctrmgr_core::{CurrentOwner, Owner, TransitionMode};

use super::world::{World, kube_running, names};

/// Default: set_owner=local. `container start` runs the local image; no label, no pod;
/// `container stop` ends in INIT.
#[tokio::test]
async fn default_local_feature_runs_the_local_image_and_never_kube() {
    let w = World::new(Owner::Local, false).await;
    w.container(&["start", w.f()]).await;
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

    w.container(&["stop", w.f()]).await;
    let r = w.record().await;
    assert_eq!(r.current_owner, CurrentOwner::None, "{r:?}");
    assert!(r.docker_id.is_none());
    assert!(!w.local_running().await);
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
    w.container(&["start", w.f()]).await;
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

    w.container(&["stop", w.f()]).await;
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
    w.container(&["start", w.f()]).await;
    w.await_record("kube_running", kube_running).await;
    w.await_kube_running(1).await;

    w.set_owner(Owner::Local, false).await;
    w.container(&["stop", w.f()]).await;
    w.container(&["start", w.f()]).await;
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
            .is_running(&super::world::id(&pods[0].id))
            .await
            .expect("inspect"),
        "the pod's container was killed"
    );
    assert!(!w.local_running().await);
    w.finish().await;
}
