//! Compare-and-set, what the driver observes (KubeUp, LocalUp, Down), Approve, and a build
//! without Kubernetes.

use super::*;

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
        Error::Feature(FeatureError::Contended { attempts, .. }) => {
            assert_eq!(*attempts, CAS_RETRIES + 1)
        }
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
async fn a_plan_whose_marker_a_start_cleared_meanwhile_resets_and_starts_nothing() {
    // hostcfgd-watcher read a marked row with the unit inactive (this system reset it and
    // did not finish); before its reset-failed, the unit's own Start cleared the marker.
    // shape-3: the reset is carried out only while the row is still marked.
    let mut marked = record(State::KubePending, None);
    marked.start_requested_ts = Some(ctrmgr_core::Timestamp::from_secs(1_000));
    let w = World::new(Some(config(Owner::Kube, false)), marked);
    lock(&w.store.0.read_racers).push(record(State::KubeReady, None));

    let out = w
        .run(Input::Approve {
            unit: UnitActivity::Inactive,
        })
        .await;

    assert_eq!(out.reason, Reason::ApproveFinishesRequestedStart);
    assert!(w.units.calls().is_empty(), "{:?}", w.units.calls());
    assert!(w.store.writes().is_empty(), "{:?}", w.store.writes());
    assert_eq!(w.store.record(), record(State::KubeReady, None));
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
