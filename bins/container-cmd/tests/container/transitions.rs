//! Every Start, Stop and Kill row of DESIGN.md §4, from the CLI: the test sets up the state's
//! STATE_DB record, the containers it implies and the node label, runs `container
//! start|stop|kill`, and checks the record (`current_owner`, `docker_id`, `transition_mode`,
//! both timestamps), the containers' real state in Docker and the label on the fake API server.

use ctrmgr_core::ports::StateStore as _;
use ctrmgr_core::{CurrentOwner, Owner, State, TransitionMode};
use ctrmgr_tests::fakekube::Fault;

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Start,
    Stop,
    Kill,
}

/// One row: the setup, the command, and what must hold afterwards.
#[derive(Debug, Clone, Copy)]
struct Case {
    owner: Owner,
    fallback: bool,
    state: State,
    label: bool,
    cmd: Cmd,
    to: State,
    owns: Owns,
    local_running: bool,
    kube_running: bool,
    label_after: bool,
}

/// The containers a state implies: the local one runs in LOCAL and LOCAL_TO_KUBE; a kube one
/// waits for approval in LOCAL_TO_KUBE and KUBE_PENDING, and runs in KUBE_RUNNING.
fn local_runs(s: State) -> bool {
    matches!(s, State::Local | State::LocalToKube)
}

fn kube_runs(s: State) -> bool {
    matches!(
        s,
        State::LocalToKube | State::KubePending | State::KubeRunning
    )
}

async fn run_case(case: Case) {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, case.owner, case.fallback).await;
    let local = sw.local_container(&f, local_runs(case.state)).await;
    let kube = if kube_runs(case.state) {
        Some(sw.kube_container(true).await)
    } else {
        None
    };
    let recorded = match case.state {
        State::Local | State::LocalToKube => Some(&local),
        State::KubeRunning => kube.as_ref(),
        _ => None,
    };
    sw.set_record(&f, case.state, recorded).await;
    sw.set_label(&f, case.label);
    let before = sw.record(&f).await;

    let args: Vec<&str> = match case.cmd {
        Cmd::Start => vec!["start", sw.f()],
        Cmd::Stop => vec!["stop", sw.f()],
        Cmd::Kill => vec!["kill", sw.f()],
    };
    sw.ok(&args).await;

    let rec = sw.record(&f).await;
    assert_eq!(rec.state(), case.to, "{case:?}: {rec:?}");
    let (owner, mode) = case.to.pair();
    assert_eq!((rec.current_owner, rec.transition_mode), (owner, mode));
    let expected_id = match case.owns {
        Owns::Nobody => None,
        Owns::Local => Some(&local),
        Owns::Kube => kube.as_ref(),
    };
    assert_eq!(rec.docker_id.as_ref(), expected_id, "{case:?}");
    assert_eq!(
        rec.current_owner_update_ts.is_some(),
        rec.current_owner != before.current_owner,
        "current_owner_update_ts is written exactly when the owner changes: {rec:?}"
    );
    assert_eq!(
        rec.transition_mode_update_ts.is_some(),
        rec.transition_mode != before.transition_mode,
        "transition_mode_update_ts is written exactly when the mode changes: {rec:?}"
    );

    // A container that went down was stopped (SIGTERM: exit 0) or killed (SIGKILL: 137).
    let down_code = if case.cmd == Cmd::Kill { 137 } else { 0 };
    let (local_running, local_code) = sw.docker_state(&local).await;
    assert_eq!(
        local_running, case.local_running,
        "local container: {case:?}"
    );
    if local_runs(case.state) && !local_running {
        assert_eq!(local_code, down_code, "local container's exit code");
    }
    match &kube {
        Some(k) => {
            let (running, code) = sw.docker_state(k).await;
            assert_eq!(running, case.kube_running, "kube container: {case:?}");
            if !running {
                assert_eq!(code, down_code, "kube container's exit code");
            }
        }
        None => assert!(!case.kube_running, "{case:?} expects a kube container"),
    }
    assert_eq!(sw.labelled(&f), case.label_after, "node label: {case:?}");
}

macro_rules! row {
    ($(#[$doc:meta])* $name:ident: $owner:ident fb=$fb:expr, $state:ident label=$label:expr,
     $cmd:ident => $to:ident owns=$owns:ident local=$lr:expr, kube=$kr:expr, label=$la:expr) => {
        $(#[$doc])*
        #[tokio::test]
        async fn $name() {
            run_case(Case {
                owner: Owner::$owner,
                fallback: $fb,
                state: State::$state,
                label: $label,
                cmd: Cmd::$cmd,
                to: State::$to,
                owns: Owns::$owns,
                local_running: $lr,
                kube_running: $kr,
                label_after: $la,
            })
            .await;
        }
    };
}

// ---- Start ----------------------------------------------------------------------------------

row!(start_from_init_with_owner_local_runs_the_local_image_and_records_it:
     Local fb=false, Init label=false,
     Start => Local owns=Local local=true, kube=false, label=false);
row!(start_from_init_with_owner_kube_and_fallback_labels_and_runs_the_local_image:
     Kube fb=true, Init label=false,
     Start => Local owns=Local local=true, kube=false, label=true);
row!(start_from_init_with_owner_kube_without_fallback_approves_and_labels_only:
     Kube fb=false, Init label=false,
     Start => KubeReady owns=Nobody local=false, kube=false, label=true);
row!(start_in_local_with_owner_local_is_idempotent:
     Local fb=false, Local label=false,
     Start => Local owns=Local local=true, kube=false, label=false);
row!(start_in_local_with_owner_kube_is_idempotent_and_ensures_the_label:
     Kube fb=true, Local label=false,
     Start => Local owns=Local local=true, kube=false, label=true);
row!(start_in_kube_pending_with_owner_kube_approves_the_waiting_container_in_place:
     Kube fb=false, KubePending label=true,
     Start => KubeReady owns=Nobody local=false, kube=true, label=true);
row!(start_in_kube_pending_with_owner_local_drops_the_request_and_runs_the_local_image:
     Local fb=false, KubePending label=true,
     Start => Local owns=Local local=true, kube=true, label=false);
row!(start_in_kube_stopped_with_owner_kube_approves_the_next_deployment:
     Kube fb=false, KubeStopped label=true,
     Start => KubeReady owns=Nobody local=false, kube=false, label=true);
row!(start_in_kube_stopped_with_owner_local_clears_the_mode_and_runs_the_local_image:
     Local fb=false, KubeStopped label=false,
     Start => Local owns=Local local=true, kube=false, label=false);
row!(start_in_kube_ready_is_idempotent_and_restores_a_missing_label:
     Kube fb=false, KubeReady label=false,
     Start => KubeReady owns=Nobody local=false, kube=false, label=true);
row!(start_in_kube_running_is_idempotent:
     Kube fb=false, KubeRunning label=true,
     Start => KubeRunning owns=Kube local=false, kube=true, label=true);
row!(start_in_local_to_kube_is_idempotent:
     Kube fb=true, LocalToKube label=true,
     Start => LocalToKube owns=Local local=true, kube=true, label=true);

// ---- Stop -----------------------------------------------------------------------------------

row!(stop_in_init_does_nothing:
     Local fb=false, Init label=false,
     Stop => Init owns=Nobody local=false, kube=false, label=false);
row!(stop_in_local_with_owner_local_stops_the_container_by_id:
     Local fb=false, Local label=false,
     Stop => Init owns=Nobody local=false, kube=false, label=false);
row!(stop_in_local_with_owner_kube_removes_the_label_and_stops_the_container:
     Kube fb=true, Local label=true,
     Stop => Init owns=Nobody local=false, kube=false, label=false);
row!(stop_in_local_to_kube_with_owner_kube_stops_local_and_keeps_the_label:
     Kube fb=true, LocalToKube label=true,
     Stop => KubePending owns=Nobody local=false, kube=true, label=true);
row!(stop_in_local_to_kube_with_owner_local_removes_the_label_and_clears_the_mode:
     Local fb=false, LocalToKube label=true,
     Stop => Init owns=Nobody local=false, kube=true, label=false);
row!(stop_in_kube_pending_with_owner_kube_keeps_the_approval_under_way:
     Kube fb=false, KubePending label=true,
     Stop => KubePending owns=Nobody local=false, kube=true, label=true);
row!(stop_in_kube_pending_with_owner_local_removes_the_label_and_the_request:
     Local fb=false, KubePending label=true,
     Stop => Init owns=Nobody local=false, kube=true, label=false);
row!(stop_in_kube_ready_removes_the_label_and_clears_the_mode:
     Kube fb=false, KubeReady label=true,
     Stop => Init owns=Nobody local=false, kube=false, label=false);
row!(
    /// No kubelet runs here, so the bounded wait ends and the container is docker-stopped.
    stop_in_kube_running_removes_the_label_and_stops_the_kube_container:
     Kube fb=false, KubeRunning label=true,
     Stop => KubeStopped owns=Nobody local=false, kube=false, label=false);
row!(stop_in_kube_running_with_owner_local_ends_in_init:
     Local fb=false, KubeRunning label=true,
     Stop => Init owns=Nobody local=false, kube=false, label=false);
row!(stop_in_kube_stopped_with_owner_kube_keeps_the_label_for_the_replacement:
     Kube fb=false, KubeStopped label=true,
     Stop => KubeStopped owns=Nobody local=false, kube=false, label=true);
row!(stop_in_kube_stopped_with_owner_local_removes_the_label_and_clears_the_mode:
     Local fb=false, KubeStopped label=true,
     Stop => Init owns=Nobody local=false, kube=false, label=false);

// ---- Kill -----------------------------------------------------------------------------------

row!(kill_in_local_kills_the_container_and_records_the_exit_at_once:
     Local fb=false, Local label=false,
     Kill => Init owns=Nobody local=false, kube=false, label=false);
row!(kill_in_local_with_owner_kube_removes_the_label_and_kills:
     Kube fb=true, Local label=true,
     Kill => Init owns=Nobody local=false, kube=false, label=false);
row!(kill_in_local_to_kube_with_owner_kube_kills_local_and_keeps_the_label:
     Kube fb=true, LocalToKube label=true,
     Kill => KubePending owns=Nobody local=false, kube=true, label=true);
row!(kill_in_local_to_kube_with_owner_local_removes_the_label_and_kills_local:
     Local fb=false, LocalToKube label=true,
     Kill => Init owns=Nobody local=false, kube=true, label=false);
row!(kill_in_kube_running_removes_the_label_kills_and_records_kube_stopped:
     Kube fb=false, KubeRunning label=true,
     Kill => KubeStopped owns=Nobody local=false, kube=false, label=false);
row!(kill_in_kube_running_with_owner_local_ends_in_init:
     Local fb=false, KubeRunning label=true,
     Kill => Init owns=Nobody local=false, kube=false, label=false);
row!(kill_in_kube_ready_acts_as_stop:
     Kube fb=false, KubeReady label=true,
     Kill => Init owns=Nobody local=false, kube=false, label=false);
row!(kill_in_init_does_nothing:
     Local fb=false, Init label=false,
     Kill => Init owns=Nobody local=false, kube=false, label=false);

// ---- the master unreachable ---------------------------------------------------------------

/// DESIGN.md §4/§6: a kube Stop whose label removal cannot reach the master queues it, stops
/// kubelet, and docker-stops the container at once (kubelet will not).
#[tokio::test]
async fn stop_in_kube_running_with_the_master_down_queues_the_label_and_stops_at_once() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    let kube = sw.kube_container(true).await;
    sw.set_record(&f, State::KubeRunning, Some(&kube)).await;
    sw.set_label(&f, true);
    sw.fixture.fake.set_fault(Fault::Refuse);

    let out = sw.ok(&["stop", sw.f()]).await;

    let pending = sw
        .fixture
        .db
        .pending_labels()
        .await
        .expect("read the pending list");
    let pending: Vec<String> = pending.iter().map(ToString::to_string).collect();
    assert_eq!(pending, [format!("{}-", f.enable_label_key())]);
    assert_eq!(sw.systemctl_calls(), ["stop kubelet"]);
    assert!(!sw.running(&kube).await);
    let rec = sw.record(&f).await;
    assert_eq!(rec.current_owner, CurrentOwner::None);
    assert_eq!(rec.transition_mode, TransitionMode::KubeStopped);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("kubelet will not stop the kube container"),
        "stopped at once, without the bounded wait: {log}"
    );
    sw.fixture.fake.set_fault(Fault::None);
    assert!(
        sw.labelled(&f),
        "the master still has the label until a drain"
    );
}

/// A local container's own pre-stop, `container state <f> down` from its SIGTERM trap, takes
/// the feature lock while `container stop` waits in `docker stop`: it must get it, record its
/// Down and let the container exit by itself, not block until the grace period ends and be
/// SIGKILLed (137). The container runs the real binary against the same Redis and locks.
#[tokio::test]
async fn stop_lets_the_containers_own_pre_stop_record_its_down_and_exit_cleanly() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let pre_stop = sw.argv_inside(&["state", sw.f(), "down"]);
    assert!(
        pre_stop
            .iter()
            .all(|a| !a.contains(|c: char| c.is_whitespace() || c == '\'')),
        "{pre_stop:?} fits in a single-quoted trap"
    );
    // Exit 0 only when the pre-stop succeeded, 5 when it failed.
    let script = format!(
        "trap '{} && exit 0; exit 5' TERM; touch {}; sleep 1000 & wait",
        pre_stop.join(" "),
        ctrmgr_dockerclient::testing::READY_FILE
    );
    let mut spec = sw
        .spec_running_the_binary(&["/bin/sh", "-c", &script])
        .await;
    spec.name = Some(sw.f().to_owned());
    spec.env = vec!["RUST_LOG=warn".to_owned()];
    let c = sw.docker.container_with(spec).await.expect("create");
    let id = c.id().clone();
    sw.containers.lock().expect("not poisoned").push(c);
    sw.docker.client().start(&id).await.expect("start");
    sw.docker
        .await_ready(&id, DEADLINE)
        .await
        .expect("its SIGTERM trap is in place");
    sw.set_record(&f, State::Local, Some(&id)).await;

    let out = sw.ok(&["stop", "-t", "20", sw.f()]).await;

    let (running, code) = sw.docker_state(&id).await;
    assert!(!running);
    assert_eq!(
        code,
        0,
        "the container exited by itself after its pre-stop recorded Down (137: SIGKILLed; 5: the pre-stop failed); stop said {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec = sw.record(&f).await;
    assert_eq!(rec.current_owner, CurrentOwner::None, "{rec:?}");
    assert_eq!(rec.docker_id, None);
    assert_eq!(rec.state(), State::Init);
}

#[tokio::test]
async fn stop_in_init_stops_a_local_container_a_cancelled_start_left_running() {
    // Issue 8, item 8: `container start` cancelled between its docker start and its record
    // leaves the local container running with nothing recorded; the Stop that follows stops
    // it by name (and again is a no-op).
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let local = sw.local_container(&f, true).await;
    assert_eq!(sw.record(&f).await.state(), State::Init);

    sw.ok(&["stop", sw.f()]).await;
    assert!(!sw.running(&local).await, "stopped by its name");
    sw.ok(&["stop", sw.f()]).await;
    assert_eq!(sw.record(&f).await.state(), State::Init);
}
