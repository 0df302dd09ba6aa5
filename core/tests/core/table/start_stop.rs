//! Rows of Start, Stop and Kill (the systemd unit's ExecStartPre, ExecStop and a kill).

use ctrmgr_core::{
    CurrentOwner as O, Effect, FeatureConfig, FeatureRecord, Input, Owner, Reason, State,
    StopOptions, Target, TransitionMode as M, step,
};

use super::{
    KUBE_ID, LOCAL_ID, OPTS, Row, await_exit, both_write, cfg_name, docker_kill, docker_stop,
    docker_stop_by_name, expect, kube, kube_fb, local, mode_write, owner_write, rec, rec_of, row,
    stop_local_by_name,
};
use crate::{EARLIER, NOW, cid};

/// Every row of this group.
pub fn rows() -> Vec<Row> {
    let mut rows = start_rows();
    rows.extend(stop_rows());
    rows.extend(kill_rows());
    rows
}

/// The driver feeds LocalUp with the id docker start returned: that records the owner.
fn then_local_up(r: Row, after: FeatureRecord) -> Row {
    r.step(
        Input::LocalUp(cid(LOCAL_ID)),
        State::Local,
        vec![owner_write(O::Local, Some(LOCAL_ID))],
        Reason::LocalUpRecorded,
    )
    .leaves(after)
}

#[rustfmt::skip]
fn start_rows() -> Vec<Row> {
    use Effect::{DockerStart, LabelAdd, LabelRemove};
    let (start, local_up) = (Input::Start, Input::LocalUp(cid(LOCAL_ID)));
    let owner_local = expect(O::Local, Some(LOCAL_ID), M::None, true, false);
    let owner_local_mode = expect(O::Local, Some(LOCAL_ID), M::None, true, true);
    let ready = expect(O::None, None, M::KubeReady, false, true);
    let cleared = expect(O::None, None, M::None, false, true);
    let mut rows = vec![
        then_local_up(
            row("init_start_with_local_owner_starts_local_and_records_owner_local_with_its_id", rec_of(State::Init), &local())
                .step(start.clone(), State::Local, vec![LabelRemove, DockerStart], Reason::StartLocal)
                .unchanged(),
            owner_local.clone(),
        ),
        then_local_up(
            row("init_start_with_kube_owner_and_fallback_adds_label_and_starts_local", rec_of(State::Init), &kube_fb())
                .step(start.clone(), State::Local, vec![LabelAdd, DockerStart], Reason::StartKubeFallbackLocal)
                .unchanged(),
            owner_local,
        ),
        row("init_start_with_kube_owner_without_fallback_sets_kube_ready_and_adds_label", rec_of(State::Init), &kube())
            .step(start.clone(), State::KubeReady, vec![stop_local_by_name(), mode_write(M::None, M::KubeReady), LabelAdd], Reason::StartKubeApproved)
            .leaves(ready.clone()),
        // docker start on the running container returns the same id: LocalUp writes nothing.
        row("local_start_with_local_owner_is_idempotent_and_removes_the_label", rec_of(State::Local), &local())
            .step(start.clone(), State::Local, vec![LabelRemove, DockerStart], Reason::StartLocalAgain)
            .unchanged()
            .step(local_up, State::Local, vec![], Reason::LocalUpRecorded)
            .unchanged(),
        row("local_start_with_kube_owner_is_idempotent_and_ensures_the_label", rec_of(State::Local), &kube_fb())
            .step(start.clone(), State::Local, vec![LabelAdd, DockerStart], Reason::StartLocalAgain)
            .unchanged(),
        row("kube_pending_start_with_kube_owner_sets_kube_ready_and_adds_label_approving_in_place", rec_of(State::KubePending), &kube())
            .step(start.clone(), State::KubeReady, vec![stop_local_by_name(), mode_write(M::KubePending, M::KubeReady), LabelAdd], Reason::StartApprovesPending)
            .leaves(ready.clone()),
        then_local_up(
            row("kube_pending_start_with_local_owner_removes_label_clears_mode_and_starts_local", rec_of(State::KubePending), &local())
                .step(start.clone(), State::Local, vec![LabelRemove, mode_write(M::KubePending, M::None), DockerStart], Reason::StartLocalDropsPending)
                .leaves(cleared.clone()),
            owner_local_mode.clone(),
        ),
        row("kube_stopped_start_with_kube_owner_sets_kube_ready_and_adds_label", rec_of(State::KubeStopped), &kube())
            .step(start.clone(), State::KubeReady, vec![stop_local_by_name(), mode_write(M::KubeStopped, M::KubeReady), LabelAdd], Reason::StartKubeAfterStopped)
            .leaves(ready),
        then_local_up(
            row("kube_stopped_start_with_local_owner_clears_mode_and_starts_local", rec_of(State::KubeStopped), &local())
                .step(start.clone(), State::Local, vec![LabelRemove, mode_write(M::KubeStopped, M::None), DockerStart], Reason::StartLocalAfterStopped)
                .leaves(cleared),
            owner_local_mode,
        ),
    ];
    // KUBE_READY, KUBE_RUNNING, LOCAL_TO_KUBE | Start: same state; the label added when owner
    // is kube, removed when it is local (invariant 8).
    for (state, kube_cfg) in [
        (State::KubeReady, kube()),
        (State::KubeRunning, kube()),
        (State::LocalToKube, kube_fb()),
    ] {
        for (c, label, what) in [(kube_cfg, LabelAdd, "ensures"), (local(), LabelRemove, "removes")] {
            rows.push(
                row(format!("{state}_start_with_owner_{}_only_{what}_the_label", c.set_owner), rec_of(state), &c)
                    .step(start.clone(), state, vec![label], Reason::StartAlreadyUnderWay)
                    .unchanged(),
            );
        }
    }
    rows
}

#[rustfmt::skip]
fn stop_rows() -> Vec<Row> {
    use Effect::LabelRemove;
    let stop = Input::Stop(OPTS);
    let grace = OPTS.grace_secs;
    let none = expect(O::None, None, M::None, true, false);
    let mut rows = Vec::new();
    // Issue 8, item 8: a `container start` cancelled between its docker start and its record
    // leaves the local container running in INIT; the Stop that follows stops it by name
    // (idempotent: a stopped or missing container is stopped already). With owner local it
    // also removes the label (invariant 8).
    for c in [local(), kube(), kube_fb()] {
        let mut effects = vec![docker_stop_by_name(grace)];
        if c.set_owner == Owner::Local {
            effects.insert(0, LabelRemove);
        }
        rows.push(
            row(format!("init_stop_stops_the_local_container_by_name [{}]", cfg_name(&c)), rec_of(State::Init), &c)
                .step(stop.clone(), State::Init, effects, Reason::StopNothingRuns)
                .unchanged(),
        );
    }
    for c in [local(), kube_fb()] {
        rows.push(
            row(format!("local_stop_stops_the_container_and_records_owner_none [{}]", cfg_name(&c)), rec_of(State::Local), &c)
                .step(stop.clone(), State::Init, vec![LabelRemove, docker_stop(LOCAL_ID, grace), owner_write(O::None, None)], Reason::StopLocal)
                .leaves(none.clone()),
        );
    }
    rows.extend([
        row("local_stop_without_a_recorded_id_stops_the_container_by_its_name", rec(State::Local, None), &local())
            .step(stop.clone(), State::Init, vec![LabelRemove, docker_stop_by_name(grace), owner_write(O::None, None)], Reason::StopLocal)
            .leaves(none),
        row("local_to_kube_stop_with_kube_owner_stops_local_keeps_label_and_stays_pending", rec_of(State::LocalToKube), &kube())
            .step(stop.clone(), State::KubePending, vec![docker_stop(LOCAL_ID, grace), owner_write(O::None, None)], Reason::StopLocalKeepsPendingApproval)
            .leaves(expect(O::None, None, M::KubePending, true, false)),
        row("local_to_kube_stop_with_local_owner_removes_label_stops_local_and_clears_mode", rec_of(State::LocalToKube), &local())
            .step(stop.clone(), State::Init, vec![LabelRemove, docker_stop(LOCAL_ID, grace), both_write(M::KubePending, O::None, None, M::None)], Reason::StopLocalToKubeOwnerLocal)
            .leaves(expect(O::None, None, M::None, true, true)),
        row("kube_pending_stop_with_kube_owner_does_nothing_and_keeps_the_label", rec_of(State::KubePending), &kube())
            .step(stop.clone(), State::KubePending, vec![], Reason::StopPendingKeepsApproval)
            .unchanged(),
        row("kube_pending_stop_with_local_owner_removes_label_and_clears_mode", rec_of(State::KubePending), &local())
            .step(stop.clone(), State::Init, vec![LabelRemove, mode_write(M::KubePending, M::None)], Reason::StopPendingOwnerLocal)
            .leaves(expect(O::None, None, M::None, false, true)),
        row("kube_running_stop_with_kube_owner_removes_label_awaits_exit_and_records_kube_stopped", rec_of(State::KubeRunning), &kube())
            .step(stop.clone(), State::KubeStopped, vec![LabelRemove, await_exit(KUBE_ID), both_write(M::KubeRunning, O::None, None, M::KubeStopped)], Reason::StopKubeRunning)
            .leaves(expect(O::None, None, M::KubeStopped, true, true)),
        row("kube_running_stop_with_local_owner_removes_label_awaits_exit_and_returns_to_init", rec_of(State::KubeRunning), &local())
            .step(stop.clone(), State::Init, vec![LabelRemove, await_exit(KUBE_ID), both_write(M::KubeRunning, O::None, None, M::None)], Reason::StopKubeRunning)
            .leaves(expect(O::None, None, M::None, true, true)),
        row("kube_stopped_stop_with_kube_owner_does_nothing_and_keeps_the_label", rec_of(State::KubeStopped), &kube())
            .step(stop.clone(), State::KubeStopped, vec![], Reason::StopKubeStoppedKeepsLabel)
            .unchanged(),
        row("kube_stopped_stop_with_local_owner_removes_label_and_clears_mode", rec_of(State::KubeStopped), &local())
            .step(stop.clone(), State::Init, vec![LabelRemove, mode_write(M::KubeStopped, M::None)], Reason::StopKubeStoppedOwnerLocal)
            .leaves(expect(O::None, None, M::None, false, true)),
        // kube with kube_pending and an id reads as KUBE_RUNNING: a Stop stops that container
        // and guards its write with the mode actually recorded.
        row("a_non_canonical_record_is_stepped_as_the_state_it_reads_as_with_its_real_mode_as_guard", non_canonical_running(), &kube())
            .step(stop.clone(), State::KubeStopped, vec![LabelRemove, await_exit(KUBE_ID), both_write(M::KubePending, O::None, None, M::KubeStopped)], Reason::StopKubeRunning)
            .leaves(expect(O::None, None, M::KubeStopped, true, true)),
    ]);
    for c in [local(), kube(), kube_fb()] {
        rows.push(
            row(format!("kube_ready_stop_removes_label_and_clears_mode [{}]", cfg_name(&c)), rec_of(State::KubeReady), &c)
                .step(stop.clone(), State::Init, vec![LabelRemove, mode_write(M::KubeReady, M::None)], Reason::StopReady)
                .leaves(expect(O::None, None, M::None, false, true)),
        );
    }
    rows
}

/// Owner kube with mode kube_pending and an id: not canonical, reads as KUBE_RUNNING.
fn non_canonical_running() -> FeatureRecord {
    FeatureRecord {
        current_owner: O::Kube,
        current_owner_update_ts: Some(EARLIER),
        docker_id: Some(cid(KUBE_ID)),
        transition_mode: M::KubePending,
        transition_mode_update_ts: Some(EARLIER),
        start_requested_ts: None,
    }
}

/// Kill: as Stop, with docker kill, Down recorded at once.
#[rustfmt::skip]
fn kill_rows() -> Vec<Row> {
    use Effect::LabelRemove;
    let none = expect(O::None, None, M::None, true, false);
    let by_name = Effect::DockerKill {
        target: Target::LocalByName,
    };
    vec![
        row("local_kill_with_local_owner_kills_the_container_and_records_owner_none", rec_of(State::Local), &local())
            .step(Input::Kill, State::Init, vec![docker_kill(LOCAL_ID), owner_write(O::None, None)], Reason::KillLocal)
            .leaves(none.clone()),
        row("local_kill_with_kube_owner_removes_label_kills_the_container_and_records_owner_none", rec_of(State::Local), &kube_fb())
            .step(Input::Kill, State::Init, vec![LabelRemove, docker_kill(LOCAL_ID), owner_write(O::None, None)], Reason::KillLocal)
            .leaves(none),
        row("local_kill_without_a_recorded_id_kills_the_container_by_its_name", rec(State::Local, None), &local())
            .step(Input::Kill, State::Init, vec![by_name, owner_write(O::None, None)], Reason::KillLocal),
        row("local_to_kube_kill_with_kube_owner_kills_local_keeps_label_and_stays_pending", rec_of(State::LocalToKube), &kube())
            .step(Input::Kill, State::KubePending, vec![docker_kill(LOCAL_ID), owner_write(O::None, None)], Reason::KillLocalKeepsPendingApproval)
            .leaves(expect(O::None, None, M::KubePending, true, false)),
        row("local_to_kube_kill_with_local_owner_removes_label_kills_local_and_clears_mode", rec_of(State::LocalToKube), &local())
            .step(Input::Kill, State::Init, vec![LabelRemove, docker_kill(LOCAL_ID), both_write(M::KubePending, O::None, None, M::None)], Reason::KillLocalToKubeOwnerLocal)
            .leaves(expect(O::None, None, M::None, true, true)),
        row("kube_running_kill_with_kube_owner_removes_label_kills_and_records_kube_stopped_at_once", rec_of(State::KubeRunning), &kube())
            .step(Input::Kill, State::KubeStopped, vec![LabelRemove, docker_kill(KUBE_ID), both_write(M::KubeRunning, O::None, None, M::KubeStopped)], Reason::KillKubeRunning)
            .leaves(expect(O::None, None, M::KubeStopped, true, true)),
        row("kube_running_kill_with_local_owner_removes_label_kills_and_returns_to_init", rec_of(State::KubeRunning), &local())
            .step(Input::Kill, State::Init, vec![LabelRemove, docker_kill(KUBE_ID), both_write(M::KubeRunning, O::None, None, M::None)], Reason::KillKubeRunning)
            .leaves(expect(O::None, None, M::None, true, true)),
    ]
}

#[test]
fn kill_where_no_container_runs_acts_exactly_as_stop_with_default_options() {
    let configs: [FeatureConfig; 3] = [local(), kube(), kube_fb()];
    for state in [
        State::Init,
        State::KubePending,
        State::KubeReady,
        State::KubeStopped,
    ] {
        for c in &configs {
            let r = rec_of(state);
            let stop = step(&r, c, Input::Stop(StopOptions::default()), NOW);
            let kill = step(&r, c, Input::Kill, NOW);
            let at = format!("{state} {}", cfg_name(c));
            assert_eq!(kill.reason, Reason::KillAsStop, "{at}");
            assert_eq!(kill.next, stop.next, "{at}");
            assert_eq!(kill.effects, stop.effects, "{at}");
            // Nothing is recorded as running: at most the local container by its name, in
            // case a cancelled start left it running (INIT).
            assert!(
                kill.effects.iter().all(|e| !matches!(
                    e,
                    Effect::AwaitExit { .. }
                        | Effect::DockerStop {
                            target: Target::Id(_),
                            ..
                        }
                )),
                "{at}: nothing recorded runs, so nothing recorded is stopped"
            );
        }
    }
}
