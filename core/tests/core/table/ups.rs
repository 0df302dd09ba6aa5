//! Rows of LocalUp, KubeUp and Down (docker events, the kubelet's ExecStartPre, container exits).

use ctrmgr_core::{
    CurrentOwner as O, Effect, Input, KubeAnswer, Owner, Reason, State, StopOptions,
    TransitionMode as M,
};

use super::{
    KUBE_ID, LOCAL_ID, OTHER_ID, Row, both_write, cfg, cfg_name, docker_stop, expect, kube,
    kube_fb, local, mode_write, owner_write, rec_of, row,
};
use crate::cid;

/// Every row of this group.
pub fn rows() -> Vec<Row> {
    let mut rows = local_up_rows();
    rows.extend(kube_up_rows());
    rows.extend(down_rows());
    rows
}

#[rustfmt::skip]
fn local_up_rows() -> Vec<Row> {
    let (up_local, up_other) = (Input::LocalUp(cid(LOCAL_ID)), Input::LocalUp(cid(OTHER_ID)));
    let mut rows = Vec::new();
    for c in [local(), kube(), kube_fb()] {
        rows.push(
            row(format!("init_local_up_records_owner_local_with_id_and_timestamp [{}]", cfg_name(&c)), rec_of(State::Init), &c)
                .step(up_local.clone(), State::Local, vec![owner_write(O::Local, Some(LOCAL_ID))], Reason::LocalUpRecorded)
                .leaves(expect(O::Local, Some(LOCAL_ID), M::None, true, false)),
        );
    }
    rows.extend([
        row("local_local_up_with_the_recorded_id_writes_nothing", rec_of(State::Local), &local())
            .step(up_local.clone(), State::Local, vec![], Reason::LocalUpRecorded)
            .unchanged(),
        row("local_local_up_with_a_new_id_records_the_new_id", rec_of(State::Local), &kube_fb())
            .step(up_other.clone(), State::Local, vec![owner_write(O::Local, Some(OTHER_ID))], Reason::LocalUpRecorded)
            .leaves(expect(O::Local, Some(OTHER_ID), M::None, true, false)),
        row("local_to_kube_local_up_with_a_new_id_records_the_id_and_keeps_the_request", rec_of(State::LocalToKube), &kube())
            .step(up_other.clone(), State::LocalToKube, vec![owner_write(O::Local, Some(OTHER_ID))], Reason::LocalUpIdRecorded)
            .leaves(expect(O::Local, Some(OTHER_ID), M::KubePending, true, false)),
        row("local_to_kube_local_up_with_the_recorded_id_writes_nothing", rec_of(State::LocalToKube), &kube())
            .step(up_local.clone(), State::LocalToKube, vec![], Reason::LocalUpIdRecorded)
            .unchanged(),
    ]);
    for c in [local(), kube()] {
        rows.push(
            row(format!("kube_pending_local_up_records_owner_local_and_moves_to_local_to_kube [{}]", cfg_name(&c)), rec_of(State::KubePending), &c)
                .step(up_local.clone(), State::LocalToKube, vec![owner_write(O::Local, Some(LOCAL_ID))], Reason::LocalUpWhilePending)
                .leaves(expect(O::Local, Some(LOCAL_ID), M::KubePending, true, false)),
        );
    }
    // KUBE_READY, KUBE_RUNNING, KUBE_STOPPED | LocalUp: refuse, stop that container.
    for state in [State::KubeReady, State::KubeRunning, State::KubeStopped] {
        for c in [local(), kube(), kube_fb()] {
            rows.push(
                row(format!("{state}_local_up_is_refused_and_stops_that_local_container [{}]", cfg_name(&c)), rec_of(state), &c)
                    .step(up_other.clone(), state, vec![docker_stop(OTHER_ID, StopOptions::default().grace_secs)], Reason::LocalUpRefusedWhileKube)
                    .unchanged(),
            );
        }
    }
    rows
}

#[rustfmt::skip]
fn kube_up_rows() -> Vec<Row> {
    use KubeAnswer::{Proceed, Wait};
    let (up_kube, up_other) = (Input::KubeUp(cid(KUBE_ID)), Input::KubeUp(cid(OTHER_ID)));
    let mut rows = Vec::new();
    for state in State::ALL {
        for c in [local(), cfg(Owner::Local, true)] {
            rows.push(
                row(format!("kube_up_with_local_owner_is_parked_in_every_state_and_changes_nothing [{state} {}]", cfg_name(&c)), rec_of(state), &c)
                    .step(up_other.clone(), state, vec![Effect::Answer(KubeAnswer::Park)], Reason::KubeUpParkedOwnerLocal)
                    .unchanged(),
            );
        }
    }
    for c in [kube(), kube_fb()] {
        rows.push(
            row(format!("kube_ready_kube_up_with_kube_owner_records_owner_kube_and_proceeds [{}]", cfg_name(&c)), rec_of(State::KubeReady), &c)
                .step(up_kube.clone(), State::KubeRunning, vec![both_write(M::KubeReady, O::Kube, Some(KUBE_ID), M::KubeRunning), Effect::Answer(Proceed)], Reason::KubeUpProceeds)
                .leaves(expect(O::Kube, Some(KUBE_ID), M::KubeRunning, true, true)),
        );
    }
    rows.extend([
        row("init_kube_up_with_kube_owner_sets_kube_pending_and_waits", rec_of(State::Init), &kube())
            .step(up_kube.clone(), State::KubePending, vec![mode_write(M::None, M::KubePending), Effect::Answer(Wait)], Reason::KubeUpRequestsApproval)
            .leaves(expect(O::None, None, M::KubePending, false, true))
            .pending(true),
        row("kube_stopped_kube_up_with_kube_owner_sets_kube_pending_and_waits", rec_of(State::KubeStopped), &kube_fb())
            .step(up_kube.clone(), State::KubePending, vec![mode_write(M::KubeStopped, M::KubePending), Effect::Answer(Wait)], Reason::KubeUpRequestsApproval)
            .leaves(expect(O::None, None, M::KubePending, false, true)),
        row("local_kube_up_with_kube_owner_moves_to_local_to_kube_and_waits", rec_of(State::Local), &kube_fb())
            .step(up_kube.clone(), State::LocalToKube, vec![mode_write(M::None, M::KubePending), Effect::Answer(Wait)], Reason::KubeUpInterruptsLocal)
            .leaves(expect(O::Local, Some(LOCAL_ID), M::KubePending, false, true)),
        row("local_to_kube_kube_up_with_kube_owner_waits_and_changes_nothing", rec_of(State::LocalToKube), &kube())
            .step(up_kube.clone(), State::LocalToKube, vec![Effect::Answer(Wait)], Reason::KubeUpWaits)
            .unchanged(),
        row("kube_pending_kube_up_with_kube_owner_waits_and_changes_nothing", rec_of(State::KubePending), &kube())
            .step(up_kube.clone(), State::KubePending, vec![Effect::Answer(Wait)], Reason::KubeUpWaits)
            .unchanged(),
        row("kube_running_kube_up_from_the_recorded_container_proceeds_and_changes_nothing", rec_of(State::KubeRunning), &kube())
            .step(up_kube.clone(), State::KubeRunning, vec![Effect::Answer(Proceed)], Reason::KubeUpAlreadyRunning)
            .unchanged(),
        row("kube_running_kube_up_from_another_container_while_the_recorded_one_runs_waits", rec_of(State::KubeRunning), &kube())
            .step(up_other.clone(), State::KubeRunning, vec![Effect::Answer(Wait)], Reason::KubeUpWaitsForOldContainer)
            .unchanged(),
        // The caller found the recorded container gone and fed Down(old) first.
        row("kube_running_kube_up_after_the_caller_fed_down_of_the_dead_owner_requests_approval", rec_of(State::KubeRunning), &kube())
            .step(Input::Down(cid(KUBE_ID)), State::KubeStopped, vec![both_write(M::KubeRunning, O::None, None, M::KubeStopped)], Reason::DownKube)
            .step(up_other, State::KubePending, vec![mode_write(M::KubeStopped, M::KubePending), Effect::Answer(Wait)], Reason::KubeUpRequestsApproval)
            .leaves(expect(O::None, None, M::KubePending, true, true)),
    ]);
    rows
}

#[rustfmt::skip]
fn down_rows() -> Vec<Row> {
    let mut rows = Vec::new();
    for c in [local(), kube_fb()] {
        rows.push(
            row(format!("local_down_with_the_recorded_id_records_owner_none [{}]", cfg_name(&c)), rec_of(State::Local), &c)
                .step(Input::Down(cid(LOCAL_ID)), State::Init, vec![owner_write(O::None, None)], Reason::DownLocal)
                .leaves(expect(O::None, None, M::None, true, false)),
        );
    }
    rows.extend([
        row("local_to_kube_down_with_the_recorded_id_records_owner_none_and_stays_pending", rec_of(State::LocalToKube), &kube())
            .step(Input::Down(cid(LOCAL_ID)), State::KubePending, vec![owner_write(O::None, None)], Reason::DownLocalPending)
            .leaves(expect(O::None, None, M::KubePending, true, false)),
        row("kube_running_down_with_the_recorded_id_and_kube_owner_records_kube_stopped", rec_of(State::KubeRunning), &kube_fb())
            .step(Input::Down(cid(KUBE_ID)), State::KubeStopped, vec![both_write(M::KubeRunning, O::None, None, M::KubeStopped)], Reason::DownKube)
            .leaves(expect(O::None, None, M::KubeStopped, true, true)),
        row("kube_running_down_with_the_recorded_id_and_local_owner_returns_to_init", rec_of(State::KubeRunning), &local())
            .step(Input::Down(cid(KUBE_ID)), State::Init, vec![both_write(M::KubeRunning, O::None, None, M::None)], Reason::DownKubeOwnerLocal)
            .leaves(expect(O::None, None, M::None, true, true)),
    ]);
    for state in State::ALL {
        for c in [local(), kube(), kube_fb()] {
            rows.push(
                row(format!("down_with_an_id_that_is_not_the_recorded_one_changes_nothing [{state} {}]", cfg_name(&c)), rec_of(state), &c)
                    .step(Input::Down(cid(OTHER_ID)), state, vec![], Reason::DownNotOwner)
                    .unchanged(),
            );
        }
    }
    rows
}
