//! Cold reboots, kube-only features installed as services (single and multi-instance), and
//! features that require one another.

use super::*;

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
    let r = w.await_record_of(&gf, "kube_running", kube_running).await;
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
    let r = w.await_record_of(&gf, "kube_running", kube_running).await;
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
    w.await_record_of(&gf, &format!("{g} kube_running"), kube_running)
        .await;
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
