//! [`FeatureDriver`] against the recording fakes of its four ports ([`crate::testing`]).

use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use ctrmgr_core::{CurrentOwner, TransitionMode, UnitActivity};
use tokio::sync::oneshot;

use super::*;
use crate::LabelOptions;
use crate::testing::*;

const LOCAL_ID: &str = "1111111111111111111111111111111111111111111111111111111111111111";
const KUBE_ID: &str = "2222222222222222222222222222222222222222222222222222222222222222";
const NEW_KUBE_ID: &str = "3333333333333333333333333333333333333333333333333333333333333333";
const LABEL: &str = "snmp_enabled";

fn snmp() -> FeatureName {
    FeatureName::new("snmp").expect("valid name")
}

fn id(s: &str) -> ContainerId {
    ContainerId::new(s).expect("valid id")
}

fn record(state: State, docker_id: Option<&str>) -> FeatureRecord {
    FeatureRecord::of_state(state, docker_id.map(id))
}

fn config(owner: Owner, fallback: bool) -> FeatureConfig {
    FeatureConfig::new(owner, fallback)
}

struct World {
    store: FakeStore,
    engine: FakeEngine,
    master: FakeMaster,
    units: FakeUnits,
    driver: FeatureDriver<FakeStore, FakeEngine, FakeMaster, FakeUnits>,
    _dir: tempfile::TempDir,
}

impl World {
    fn new(config: Option<FeatureConfig>, record: FeatureRecord) -> Self {
        Self::with_options(config, record, FeatureOptions::default())
    }

    fn with_options(
        config: Option<FeatureConfig>,
        record: FeatureRecord,
        options: FeatureOptions,
    ) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = FakeStore::new(config, record);
        let engine = FakeEngine::new();
        let master = FakeMaster::new(MasterMode::Up);
        let units = FakeUnits::default();
        let service = LabelService::new(
            store.clone(),
            master.clone(),
            units.clone(),
            LabelOptions {
                timeout: Duration::from_secs(5),
                kubelet_unit: "kubelet".to_owned(),
                locks: Some(LockDir::new(dir.path())),
            },
        );
        let driver = FeatureDriver::new(service, engine.clone(), LockDir::new(dir.path()), options);
        Self {
            store,
            engine,
            master,
            units,
            driver,
            _dir: dir,
        }
    }

    fn lock_path(&self) -> PathBuf {
        self.driver.locks().path(&snmp())
    }

    async fn run(&self, input: Input) -> Outcome {
        self.driver.run(&snmp(), input).await.expect("run succeeds")
    }

    fn label(&self) -> Option<String> {
        self.master.node_labels().get(LABEL).cloned()
    }

    fn state(&self) -> State {
        self.store.record().state()
    }
}

fn stop() -> Input {
    Input::Stop(StopOptions {
        grace_secs: 7,
        kube_exit_wait_secs: 30,
    })
}

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
    assert!(matches!(e, Error::UnknownFeature { .. }), "{e:?}");
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

// ---- compare-and-set --------------------------------------------------------------------

#[tokio::test]
async fn a_lost_compare_and_set_rereads_and_steps_again() {
    // Start in KUBE_STOPPED wants kube_stopped → kube_ready; meanwhile a new kube container
    // asked for approval (kube_pending). The retry approves it instead.
    let w = World::new(
        Some(config(Owner::Kube, false)),
        record(State::KubeStopped, None),
    );
    lock(&w.store.0.racers).push(record(State::KubePending, None));

    let out = w.run(Input::Start).await;

    assert_eq!(out.attempts, 2);
    assert_eq!(out.from, State::KubePending);
    assert_eq!(out.reason, Reason::StartApprovesPending);
    assert_eq!(w.store.record().transition_mode, TransitionMode::KubeReady);
    assert_eq!(w.store.writes().len(), 1, "only the winning write");
}

#[tokio::test]
async fn a_compare_and_set_lost_every_time_gives_up_with_an_error_naming_the_feature() {
    let w = World::new(
        Some(config(Owner::Kube, false)),
        record(State::KubeStopped, None),
    );
    *lock(&w.store.0.always_race) = true;

    let e = w
        .driver
        .run(&snmp(), Input::Start)
        .await
        .expect_err("contended");

    match &e {
        Error::Contended { attempts, .. } => assert_eq!(*attempts, CAS_RETRIES + 1),
        other => panic!("unexpected error {other:?}"),
    }
    assert!(e.to_string().contains("snmp"), "{e}");
    assert!(w.store.writes().is_empty());
}

// ---- KubeUp, LocalUp, Down ----------------------------------------------------------------

#[tokio::test]
async fn kube_up_from_kube_ready_claims_the_feature_and_proceeds() {
    let w = World::new(
        Some(config(Owner::Kube, false)),
        record(State::KubeReady, None),
    );
    let out = w.run(Input::KubeUp(id(KUBE_ID))).await;
    assert_eq!(out.answer, Some(KubeAnswer::Proceed));
    let rec = w.store.record();
    assert_eq!(rec.current_owner, CurrentOwner::Kube);
    assert_eq!(rec.docker_id, Some(id(KUBE_ID)));
    assert_eq!(rec.transition_mode, TransitionMode::KubeRunning);
}

#[tokio::test]
async fn kube_up_after_a_dead_owner_records_it_down_first_then_requests_approval() {
    let w = World::new(
        Some(config(Owner::Kube, false)),
        record(State::KubeRunning, Some(KUBE_ID)),
    );
    w.engine.add(KUBE_ID, "k8s_old", false);

    let out = w.run(Input::KubeUp(id(NEW_KUBE_ID))).await;

    assert_eq!(w.engine.calls(), [format!("is_running {KUBE_ID}")]);
    let modes: Vec<_> = w.store.writes().iter().map(|w| w.mode).collect();
    assert_eq!(
        modes,
        [
            Some(TransitionMode::KubeStopped),
            Some(TransitionMode::KubePending)
        ]
    );
    assert_eq!(out.answer, Some(KubeAnswer::Wait));
    assert_eq!(out.reason, Reason::KubeUpRequestsApproval);
    let rec = w.store.record();
    assert_eq!(rec.current_owner, CurrentOwner::None);
    assert_eq!(rec.docker_id, None);
    assert_eq!(rec.transition_mode, TransitionMode::KubePending);
}

#[tokio::test]
async fn kube_up_while_the_old_owner_still_runs_waits_and_writes_nothing() {
    let w = World::new(
        Some(config(Owner::Kube, false)),
        record(State::KubeRunning, Some(KUBE_ID)),
    );
    w.engine.add(KUBE_ID, "k8s_old", true);
    let out = w.run(Input::KubeUp(id(NEW_KUBE_ID))).await;
    assert_eq!(out.answer, Some(KubeAnswer::Wait));
    assert!(w.store.writes().is_empty());
}

#[tokio::test]
async fn kube_up_that_cannot_inspect_the_old_owner_takes_it_as_running_and_waits() {
    // Issue 8, item 7: inside a container there is usually no engine socket; `state up kube`
    // must then wait for the recorded owner to say it exited, not fail.
    let w = World::new(
        Some(config(Owner::Kube, false)),
        record(State::KubeRunning, Some(KUBE_ID)),
    );
    *lock(&w.engine.0.fail) = Some(ErrorKind::Transient);
    let out = w.run(Input::KubeUp(id(NEW_KUBE_ID))).await;
    assert_eq!(out.answer, Some(KubeAnswer::Wait));
    assert_eq!(out.reason, Reason::KubeUpWaitsForOldContainer);
    assert!(w.store.writes().is_empty());
}

#[tokio::test]
async fn kube_up_with_owner_local_parks_the_container() {
    let w = World::new(
        Some(config(Owner::Local, false)),
        record(State::KubeReady, None),
    );
    let out = w.run(Input::KubeUp(id(KUBE_ID))).await;
    assert_eq!(out.answer, Some(KubeAnswer::Park));
    assert!(w.store.writes().is_empty());
}

#[tokio::test]
async fn local_up_while_kube_owns_the_feature_stops_that_local_container() {
    let w = World::new(
        Some(config(Owner::Kube, false)),
        record(State::KubeRunning, Some(KUBE_ID)),
    );
    w.engine.add(LOCAL_ID, "snmp", true);
    let out = w.run(Input::LocalUp(id(LOCAL_ID))).await;
    assert_eq!(out.reason, Reason::LocalUpRefusedWhileKube);
    assert!(!w.engine.running(LOCAL_ID));
    assert_eq!(w.store.record().docker_id, Some(id(KUBE_ID)));
}

#[tokio::test]
async fn record_exit_of_the_owner_records_down_and_of_another_id_changes_nothing() {
    let w = World::new(
        Some(config(Owner::Local, false)),
        record(State::Local, Some(LOCAL_ID)),
    );
    let other = w
        .driver
        .record_exit(&snmp(), &id(KUBE_ID))
        .await
        .expect("record exit");
    assert_eq!(other, None);
    assert_eq!(w.state(), State::Local);

    let owner = w
        .driver
        .record_exit(&snmp(), &id(LOCAL_ID))
        .await
        .expect("record exit")
        .expect("it was the owner");
    assert_eq!(owner.reason, Reason::DownLocal);
    assert_eq!(w.state(), State::Init);
}

/// crash-2: `docker wait` returned for a stop, then a start ran the same local container
/// again (same id) before `container wait` could record the exit: nothing is recorded, the
/// record keeps naming the running container.
#[tokio::test]
async fn record_exit_of_a_container_that_runs_again_changes_nothing() {
    let w = World::new(
        Some(config(Owner::Local, false)),
        record(State::Local, Some(LOCAL_ID)),
    );
    w.engine.add(LOCAL_ID, "snmp", true);
    let out = w
        .driver
        .record_exit(&snmp(), &id(LOCAL_ID))
        .await
        .expect("record exit");
    assert_eq!(out, None);
    assert_eq!(w.state(), State::Local);
    assert_eq!(w.store.record().docker_id, Some(id(LOCAL_ID)));
    assert!(w.engine.running(LOCAL_ID));
}

// ---- Approve: systemctl without the lock ----------------------------------------------------

#[tokio::test]
async fn approve_of_an_active_unit_resets_its_start_limit_and_try_restarts_it_without_the_lock_and_writes_nothing()
 {
    let before = record(State::LocalToKube, Some(LOCAL_ID));
    let w = World::new(Some(config(Owner::Kube, false)), before.clone());
    *lock(&w.units.0.lock_probe) = Some(w.lock_path());

    let out = w
        .run(Input::Approve {
            unit: UnitActivity::Active,
        })
        .await;

    assert_eq!(w.units.calls(), ["reset-failed snmp", "try-restart snmp"]);
    assert_eq!(*lock(&w.units.0.lock_free), [true, true]);
    // The unit's own `container stop` and `container start` (not run by this stand-in for
    // systemd) do the writes: the Start from KUBE_PENDING sets kube_ready.
    assert!(w.store.writes().is_empty(), "{:?}", w.store.writes());
    assert_eq!(w.store.record(), before);
    assert_eq!(out.reason, Reason::ApproveRestartsUnit);
    assert_eq!(out.to, State::KubeReady);
}

#[tokio::test]
async fn a_unit_that_failed_since_the_look_keeps_its_failed_state_and_is_not_restarted() {
    // hostcfgd saw the unit active; by the time its plan runs, systemd refused a start and the
    // unit failed. The start limit is left alone (a reset-failed would make it inactive, and a
    // new look could not tell that from an operator's stop), and try-restart does nothing to a
    // failed unit, so the next look sees it failed and still wanted.
    let before = record(State::KubePending, None);
    let w = World::new(Some(config(Owner::Kube, false)), before);
    *lock(&w.units.0.activity) = Some(UnitActivity::Failed);

    w.run(Input::Approve {
        unit: UnitActivity::Active,
    })
    .await;

    assert_eq!(w.units.calls(), ["try-restart snmp"]);
}

#[tokio::test]
async fn approve_of_a_failed_unit_marks_the_row_before_it_resets_and_starts_the_unit() {
    let before = record(State::KubePending, None);
    let w = World::new(Some(config(Owner::Kube, false)), before);

    let out = w
        .run(Input::Approve {
            unit: UnitActivity::Failed,
        })
        .await;

    assert_eq!(w.units.calls(), ["reset-failed snmp", "start snmp"]);
    let writes = w.store.writes();
    assert_eq!(writes.len(), 1, "{writes:?}");
    assert_eq!(writes[0].start_requested, Some(true));
    assert_eq!(writes[0].guard, Some(TransitionMode::KubePending));
    assert!(w.store.record().start_requested_ts.is_some());
    assert_eq!(out.reason, Reason::ApproveStartsFailedUnit);
}

#[tokio::test]
async fn approve_of_an_inactive_unit_starts_nothing() {
    let before = record(State::KubePending, None);
    let w = World::new(Some(config(Owner::Kube, false)), before.clone());

    let out = w
        .run(Input::Approve {
            unit: UnitActivity::Inactive,
        })
        .await;

    assert!(w.units.calls().is_empty(), "{:?}", w.units.calls());
    assert_eq!(w.store.record(), before);
    assert_eq!(out.reason, Reason::ApproveDeferredUnitStopped);
}

// ---- a build without Kubernetes ------------------------------------------------------------

#[tokio::test]
async fn without_kube_support_owner_kube_is_read_as_local_and_labels_are_left_alone() {
    let w = World::with_options(
        Some(config(Owner::Kube, false)),
        FeatureRecord::default(),
        FeatureOptions {
            kube: false,
            ..FeatureOptions::default()
        },
    );
    w.engine.add(LOCAL_ID, "snmp", false);

    let out = w.run(Input::Start).await;
    assert_eq!(out.reason, Reason::StartLocal);
    assert!(w.engine.running(LOCAL_ID));

    // KUBE_PENDING with owner local removes the label: a no-op here.
    let w = World::with_options(
        Some(config(Owner::Kube, false)),
        record(State::KubePending, None),
        FeatureOptions {
            kube: false,
            ..FeatureOptions::default()
        },
    );
    let out = w.run(stop()).await;
    assert_eq!(out.reason, Reason::StopPendingOwnerLocal);
    assert_eq!(w.master.attempts(), 0);
    assert!(w.store.pending().is_empty());
    assert_eq!(w.state(), State::Init);
}

#[tokio::test]
async fn a_store_failure_is_reported_with_the_feature() {
    let w = World::new(Some(config(Owner::Local, false)), FeatureRecord::default());
    *lock(&w.store.0.fail) = Some(ErrorKind::Transient);
    let e = w
        .driver
        .run(&snmp(), Input::Start)
        .await
        .expect_err("store down");
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert!(e.to_string().contains("read feature snmp"), "{e}");
}

// ---- the kube container's approval loop (crate::approval) ----------------------------------

mod approval_loop {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use ctrmgr_core::ports::{Change, Subscription, Watch, Watched};
    use tokio::sync::broadcast;

    use super::*;
    use crate::approval::{KubeUpEnd, StopRequests, kube_up};

    /// A recording fake of the Watch port: every subscription starts with `Synced`, then gets
    /// the changes the test announces; the tables asked for are recorded.
    #[derive(Clone)]
    struct FakeWatch {
        tx: broadcast::Sender<Change>,
        subscribed: Arc<Mutex<Vec<Vec<Watched>>>>,
    }

    impl FakeWatch {
        fn new() -> Self {
            Self {
                tx: broadcast::channel(64).0,
                subscribed: Arc::default(),
            }
        }
        /// Announces a change of `snmp`'s row in `table`.
        fn changed(&self, table: Watched) {
            let _ = self.tx.send(Change::Feature {
                table,
                key: "snmp".to_owned(),
            });
        }
        fn subscriptions(&self) -> Vec<Vec<Watched>> {
            lock(&self.subscribed).clone()
        }
    }

    struct FakeSub {
        first: bool,
        rx: broadcast::Receiver<Change>,
    }

    impl Subscription for FakeSub {
        type Error = FakeError;
        async fn next(&mut self) -> Option<Result<Change, FakeError>> {
            if std::mem::take(&mut self.first) {
                return Some(Ok(Change::Synced));
            }
            self.rx.recv().await.ok().map(Ok)
        }
    }

    impl Watch for FakeWatch {
        type Error = FakeError;
        type Subscription = FakeSub;
        fn subscribe(&self, tables: &[Watched]) -> FakeSub {
            lock(&self.subscribed).push(tables.to_vec());
            FakeSub {
                first: true,
                rx: self.tx.subscribe(),
            }
        }
    }

    /// Stop requests the test fires; counts `listen` calls.
    #[derive(Default)]
    struct FakeStops {
        listens: AtomicUsize,
        fire: Option<oneshot::Receiver<u8>>,
    }

    impl StopRequests for FakeStops {
        fn listen(&mut self) -> Result<(), Error> {
            self.listens.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        fn listening(&self) -> bool {
            self.listens.load(Ordering::Relaxed) > 0
        }
        async fn stopped(&mut self) -> u8 {
            match self.fire.as_mut() {
                Some(rx) => rx.await.unwrap_or(0),
                None => std::future::pending().await,
            }
        }
    }

    fn set_config(w: &World, owner: Owner) {
        *lock(&w.store.0.config) = Some(config(owner, false));
    }

    fn set_state(w: &World, state: State) {
        *lock(&w.store.0.record) = record(state, None);
    }

    #[tokio::test]
    async fn a_waiting_container_proceeds_when_the_row_says_kube_ready_and_claims_the_feature() {
        let w = World::new(Some(config(Owner::Kube, false)), record(State::Init, None));
        let watch = FakeWatch::new();
        let mut stops = FakeStops::default();
        let kube = id(KUBE_ID);
        let task = async { kube_up(&w.driver, &watch, &snmp(), &kube, None, &mut stops).await };
        let approve = async {
            // The container asked (KUBE_PENDING) and subscribed; a Start approves in place.
            while watch.subscriptions().is_empty() {
                tokio::task::yield_now().await;
            }
            assert_eq!(w.state(), State::KubePending);
            set_state(&w, State::KubeReady);
            watch.changed(Watched::FeatureState);
        };
        let (end, ()) = tokio::join!(task, approve);
        assert_eq!(end.expect("no error"), KubeUpEnd::Proceed);
        assert_eq!(w.state(), State::KubeRunning);
        assert_eq!(w.store.record().docker_id, Some(kube));
        assert_eq!(
            watch.subscriptions(),
            vec![vec![Watched::FeatureState, Watched::FeatureConfig]]
        );
        assert!(!stops.listening(), "no handler before a Park");
    }

    #[tokio::test]
    async fn a_parked_container_asks_again_when_set_owner_turns_kube_and_a_stop_ends_it_with_0() {
        let w = World::new(
            Some(config(Owner::Local, false)),
            record(State::KubeReady, None),
        );
        let watch = FakeWatch::new();
        let (fire, rx) = oneshot::channel();
        let mut stops = FakeStops {
            fire: Some(rx),
            ..FakeStops::default()
        };
        let kube = id(KUBE_ID);
        let task = async { kube_up(&w.driver, &watch, &snmp(), &kube, None, &mut stops).await };
        let drive = async {
            while watch.subscriptions().is_empty() {
                tokio::task::yield_now().await;
            }
            // Parked on CONFIG_DB only; other rows' changes do nothing.
            assert_eq!(watch.subscriptions(), vec![vec![Watched::FeatureConfig]]);
            watch.changed(Watched::FeatureConfig);
            tokio::task::yield_now().await;
            assert_eq!(w.state(), State::KubeReady, "still parked: owner is local");
            let _ = fire.send(143);
        };
        let (end, ()) = tokio::join!(task, drive);
        assert_eq!(
            end.expect("no error"),
            KubeUpEnd::Parked,
            "a parked stop is an outcome of its own"
        );
        assert_eq!(stops.listens.load(Ordering::Relaxed), 1);

        // Owner kube in KUBE_READY: the parked container proceeds at once.
        let w = World::new(
            Some(config(Owner::Local, false)),
            record(State::KubeReady, None),
        );
        let watch = FakeWatch::new();
        let mut stops = FakeStops::default();
        let task = async { kube_up(&w.driver, &watch, &snmp(), &kube, None, &mut stops).await };
        let drive = async {
            while watch.subscriptions().is_empty() {
                tokio::task::yield_now().await;
            }
            set_config(&w, Owner::Kube);
            watch.changed(Watched::FeatureConfig);
        };
        let (end, ()) = tokio::join!(task, drive);
        assert_eq!(end.expect("no error"), KubeUpEnd::Proceed);
        assert_eq!(w.state(), State::KubeRunning);
    }

    #[tokio::test]
    async fn a_wait_gives_up_after_its_bound_with_a_clear_error() {
        let w = World::new(Some(config(Owner::Kube, false)), record(State::Init, None));
        let watch = FakeWatch::new();
        let mut stops = FakeStops::default();
        let e = kube_up(
            &w.driver,
            &watch,
            &snmp(),
            &id(KUBE_ID),
            Some(Duration::from_millis(50)),
            &mut stops,
        )
        .await
        .expect_err("not approved");
        assert!(e.to_string().contains("was not approved within 0 s"), "{e}");
        assert_eq!(
            w.state(),
            State::KubePending,
            "the request stays for an approval"
        );
    }
}
