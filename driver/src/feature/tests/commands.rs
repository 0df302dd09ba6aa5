//! Start, Stop and Kill carried out: the engine calls, the label, the record written.

use super::*;

// ---- Start ------------------------------------------------------------------------------

#[tokio::test]
async fn start_from_init_with_owner_local_starts_the_local_container_and_records_its_id() {
    let w = World::new(Some(config(Owner::Local, false)), FeatureRecord::default());
    w.engine.add(LOCAL_ID, "snmp", false);

    let out = w.run(Input::Start).await;

    assert_eq!(w.engine.calls(), ["start snmp"]);
    assert!(w.engine.running(LOCAL_ID));
    let rec = w.store.record();
    assert_eq!(rec.current_owner, CurrentOwner::Local);
    assert_eq!(rec.docker_id, Some(id(LOCAL_ID)));
    assert!(rec.current_owner_update_ts.is_some());
    assert_eq!((out.from, out.to), (State::Init, State::Local));
    assert_eq!(out.reason, Reason::StartLocal);
    assert_eq!(out.started, Some(id(LOCAL_ID)));
    assert_eq!(out.record, rec);
    // Invariant 8 (issue 8, item 5): with owner local, a Start removes the feature's label.
    assert_eq!(w.master.attempts(), 1, "owner local removes the label");
    assert!(!w.master.node_labels().contains_key(LABEL));
}

#[tokio::test]
async fn owner_local_touches_no_label_on_a_switch_that_has_no_master_configured() {
    // No kubeconfig and no KUBERNETES_MASTER|SERVER ip: the node never joined, so it has no
    // label to remove, and removing one would only queue it and stop kubelet.
    let w = World::with_options(
        Some(config(Owner::Local, false)),
        FeatureRecord::default(),
        FeatureOptions {
            kubeconfig_present: false,
            ..FeatureOptions::default()
        },
    );
    w.engine.add(LOCAL_ID, "snmp", false);
    *lock(&w.store.0.no_master) = true;

    w.run(Input::Start).await;
    w.run(Input::Stop(StopOptions::default())).await;

    assert_eq!(w.master.attempts(), 0);
    assert!(w.store.pending().is_empty());
    assert!(w.units.calls().is_empty(), "kubelet untouched");
}

#[tokio::test]
async fn start_with_owner_kube_and_fallback_adds_the_label_then_runs_the_local_image() {
    let w = World::new(Some(config(Owner::Kube, true)), FeatureRecord::default());
    w.engine.add(LOCAL_ID, "snmp", false);

    let out = w.run(Input::Start).await;

    assert_eq!(w.label().as_deref(), Some("true"));
    assert!(w.engine.running(LOCAL_ID));
    assert_eq!(w.state(), State::Local);
    assert_eq!(out.reason, Reason::StartKubeFallbackLocal);
}

#[tokio::test]
async fn start_with_owner_kube_without_fallback_approves_and_labels_without_starting_anything() {
    let w = World::new(Some(config(Owner::Kube, false)), FeatureRecord::default());
    w.engine.add(LOCAL_ID, "snmp", false);

    let out = w.run(Input::Start).await;

    // Only the stop of a local container nobody recorded (crash-1); nothing is started.
    assert_eq!(w.engine.calls(), ["stop snmp 10"]);
    assert!(!w.engine.running(LOCAL_ID));
    assert_eq!(w.label().as_deref(), Some("true"));
    let rec = w.store.record();
    assert_eq!(rec.transition_mode, TransitionMode::KubeReady);
    assert!(rec.transition_mode_update_ts.is_some());
    assert_eq!(out.to, State::KubeReady);
}

#[tokio::test]
async fn a_start_that_docker_refuses_leaves_the_record_unwritten() {
    let w = World::new(Some(config(Owner::Local, false)), FeatureRecord::default());
    // No container named snmp exists.
    let e = w
        .driver
        .run(&snmp(), Input::Start)
        .await
        .expect_err("no local container");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("snmp"), "{e}");
    assert!(w.store.writes().is_empty());
    assert_eq!(w.store.record(), FeatureRecord::default());
}

#[tokio::test]
async fn an_unknown_feature_is_an_error_naming_it_and_nothing_is_done() {
    let w = World::new(None, FeatureRecord::default());
    let e = w
        .driver
        .run(&snmp(), Input::Start)
        .await
        .expect_err("unknown");
    assert!(
        matches!(e, Error::Feature(FeatureError::Unknown { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains("snmp"), "{e}");
    assert!(e.to_string().contains("FEATURE|snmp"), "{e}");
    assert!(w.engine.calls().is_empty());
    assert!(w.store.writes().is_empty());
}

// ---- Stop and Kill ----------------------------------------------------------------------

#[tokio::test]
async fn stop_of_a_local_container_stops_it_by_recorded_id_and_records_no_owner() {
    let w = World::new(
        Some(config(Owner::Local, false)),
        record(State::Local, Some(LOCAL_ID)),
    );
    w.engine.add(LOCAL_ID, "snmp", true);

    let out = w.run(stop()).await;

    assert_eq!(w.engine.calls(), [format!("stop {LOCAL_ID} 7")]);
    assert!(!w.engine.running(LOCAL_ID));
    let rec = w.store.record();
    assert_eq!(rec.current_owner, CurrentOwner::None);
    assert_eq!(rec.docker_id, None);
    assert_eq!(out.to, State::Init);
}

#[tokio::test]
async fn stop_of_a_container_that_no_longer_exists_still_records_it_stopped() {
    let w = World::new(
        Some(config(Owner::Local, false)),
        record(State::Local, Some(LOCAL_ID)),
    );
    let out = w.run(stop()).await;
    assert_eq!(out.to, State::Init);
    assert_eq!(w.state(), State::Init);
}

#[tokio::test]
async fn kube_stop_waits_without_the_lock_for_kubelet_and_does_not_docker_stop() {
    let w = World::new(
        Some(config(Owner::Kube, false)),
        record(State::KubeRunning, Some(KUBE_ID)),
    );
    w.engine.add(KUBE_ID, "k8s_snmp", true);
    lock(&w.master.0.labels).insert(LABEL.to_owned(), "true".to_owned());
    *lock(&w.master.0.kubelet) = Some((w.engine.clone(), LABEL.to_owned(), KUBE_ID.to_owned()));
    *lock(&w.engine.0.lock_probe) = Some(w.lock_path());

    let out = w.run(stop()).await;

    assert_eq!(w.label(), None, "label removed");
    assert_eq!(
        w.engine.calls(),
        [format!("wait {KUBE_ID}")],
        "no docker stop"
    );
    assert_eq!(
        *lock(&w.engine.0.lock_free_during_wait),
        [true],
        "the feature lock is released during the bounded wait"
    );
    let rec = w.store.record();
    assert_eq!(rec.current_owner, CurrentOwner::None);
    assert_eq!(rec.transition_mode, TransitionMode::KubeStopped);
    assert_eq!(out.to, State::KubeStopped);
    assert!(lockable(&w.lock_path()), "released at the end");
}

#[tokio::test(start_paused = true)]
async fn kube_stop_docker_stops_the_container_when_kubelet_does_not_within_the_bound() {
    let w = World::new(
        Some(config(Owner::Local, false)),
        record(State::KubeRunning, Some(KUBE_ID)),
    );
    w.engine.add(KUBE_ID, "k8s_snmp", true);

    let out = w.run(stop()).await;

    assert_eq!(
        w.engine.calls(),
        [format!("wait {KUBE_ID}"), format!("stop {KUBE_ID} 7")]
    );
    assert!(!w.engine.running(KUBE_ID));
    assert_eq!(out.to, State::Init, "owner local: back to INIT");
    assert_eq!(w.state(), State::Init);
}

#[tokio::test]
async fn kube_stop_with_the_master_down_queues_the_removal_stops_kubelet_and_the_container_at_once()
{
    let w = World::new(
        Some(config(Owner::Kube, false)),
        record(State::KubeRunning, Some(KUBE_ID)),
    );
    w.engine.add(KUBE_ID, "k8s_snmp", true);
    w.master.set_mode(MasterMode::Fails(ErrorKind::Transient));

    let out = w.run(stop()).await;

    assert!(out.labels_queued);
    assert_eq!(
        w.store.pending(),
        [LabelOp::remove(LABEL).expect("valid")],
        "removal queued"
    );
    assert_eq!(w.units.calls(), ["stop kubelet"]);
    assert_eq!(
        w.engine.calls(),
        [format!("stop {KUBE_ID} 7")],
        "no wait: kubelet is stopped"
    );
    assert_eq!(w.state(), State::KubeStopped);
}

#[tokio::test]
async fn kill_of_a_local_container_kills_it_and_records_the_exit_at_once() {
    let w = World::new(
        Some(config(Owner::Local, false)),
        record(State::Local, Some(LOCAL_ID)),
    );
    w.engine.add(LOCAL_ID, "snmp", true);

    let out = w.run(Input::Kill).await;

    assert_eq!(w.engine.calls(), [format!("kill {LOCAL_ID}")]);
    assert_eq!(w.state(), State::Init);
    assert_eq!(out.reason, Reason::KillLocal);
}
