//! Which of the feature's two locks is held while the engine works.

use super::*;

// ---- which lock is held during docker calls ------------------------------------------------

/// The one docker call the engine saw, with the locks as they were during it.
fn seen(call: String, feature_lock_free: bool, stopping_lock_free: bool) -> Vec<LocksSeen> {
    vec![LocksSeen {
        call,
        feature_lock_free,
        stopping_lock_free,
    }]
}

#[tokio::test]
async fn stop_runs_docker_stop_without_the_feature_lock_but_holding_the_stopping_lock() {
    let w = World::new(
        Some(config(Owner::Local, false)),
        record(State::Local, Some(LOCAL_ID)),
    );
    w.engine.add(LOCAL_ID, "snmp", true);
    w.engine.probe_locks(w.driver.locks(), &snmp());

    let out = w.run(stop()).await;

    assert_eq!(
        w.engine.locks_during_calls(),
        seen(format!("stop {LOCAL_ID} 7"), true, false)
    );
    assert_eq!(out.to, State::Init);
    assert_eq!(w.state(), State::Init);
    assert!(lockable(&w.lock_path()), "released at the end");
}

#[tokio::test]
async fn kill_runs_docker_kill_without_the_feature_lock_but_holding_the_stopping_lock() {
    let w = World::new(
        Some(config(Owner::Local, false)),
        record(State::Local, Some(LOCAL_ID)),
    );
    w.engine.add(LOCAL_ID, "snmp", true);
    w.engine.probe_locks(w.driver.locks(), &snmp());

    w.run(Input::Kill).await;

    assert_eq!(
        w.engine.locks_during_calls(),
        seen(format!("kill {LOCAL_ID}"), true, false),
        "container wait must see the kill under way, not a crash"
    );
    assert_eq!(w.state(), State::Init);
}

#[tokio::test]
async fn kube_stop_that_must_docker_stop_at_once_does_so_without_the_feature_lock() {
    let w = World::new(
        Some(config(Owner::Kube, false)),
        record(State::KubeRunning, Some(KUBE_ID)),
    );
    w.engine.add(KUBE_ID, "k8s_snmp", true);
    w.master.set_mode(MasterMode::Fails(ErrorKind::Transient));
    w.engine.probe_locks(w.driver.locks(), &snmp());

    w.run(stop()).await;

    assert_eq!(
        w.engine.locks_during_calls(),
        seen(format!("stop {KUBE_ID} 7"), true, false)
    );
    assert_eq!(w.state(), State::KubeStopped);
}

#[tokio::test]
async fn start_holds_the_stopping_lock_so_that_it_never_runs_inside_a_stop() {
    let w = World::new(Some(config(Owner::Local, false)), FeatureRecord::default());
    w.engine.add(LOCAL_ID, "snmp", false);
    w.engine.probe_locks(w.driver.locks(), &snmp());

    w.run(Input::Start).await;

    assert_eq!(
        w.engine.locks_during_calls(),
        seen("start snmp".to_owned(), false, false)
    );
}

#[tokio::test]
async fn a_refused_local_container_is_stopped_without_the_feature_lock() {
    let w = World::new(
        Some(config(Owner::Kube, false)),
        record(State::KubeRunning, Some(KUBE_ID)),
    );
    w.engine.add(LOCAL_ID, "snmp", true);
    w.engine.probe_locks(w.driver.locks(), &snmp());

    w.run(Input::LocalUp(id(LOCAL_ID))).await;

    let calls = w.engine.locks_during_calls();
    assert_eq!(calls.len(), 1, "{calls:?}");
    assert!(calls[0].call.starts_with(&format!("stop {LOCAL_ID}")));
    assert!(
        calls[0].feature_lock_free,
        "its pre-stop can say it went down"
    );
}

/// The pre-stop of a local container (`container state <f> down` from its SIGTERM trap) runs
/// while `container stop` waits in `docker stop`, and needs the feature lock: it gets it, and
/// its Down is recorded, instead of blocking until the grace period ends.
#[tokio::test]
async fn a_containers_pre_stop_records_its_down_while_stop_waits_in_docker_stop() {
    let w = World::new(
        Some(config(Owner::Local, false)),
        record(State::Local, Some(LOCAL_ID)),
    );
    w.engine.add(LOCAL_ID, "snmp", true);
    let (began, go) = w.engine.gate_stop();

    let pre_stop = async {
        began.await.expect("docker stop began");
        let down = tokio::time::timeout(
            Duration::from_secs(30),
            w.driver.run(&snmp(), Input::Down(id(LOCAL_ID))),
        )
        .await
        .expect("the pre-stop is not blocked by the stop's lock")
        .expect("down succeeds");
        go.send(()).expect("docker stop still waits");
        down
    };
    let (out, down) = tokio::join!(w.run(stop()), pre_stop);

    assert_eq!(down.reason, Reason::DownLocal, "the pre-stop recorded Down");
    assert_eq!(down.to, State::Init);
    assert_eq!(out.to, State::Init);
    let rec = w.store.record();
    assert_eq!(rec.current_owner, CurrentOwner::None);
    assert_eq!(rec.docker_id, None);
}
