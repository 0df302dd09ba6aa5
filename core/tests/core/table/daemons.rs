//! Rows of Approve (hostcfgd-watcher) and FailureTimeout (kube-monit).

use ctrmgr_core::{
    CurrentOwner as O, Effect, FeatureConfig, FeatureRecord, Input, Owner, Reason, State,
    Timestamp, TransitionMode as M, UnitActivity as U,
};

use super::{
    LOCAL_ID, OPTS, Row, armed, cfg, cfg_name, docker_stop, expect, kube, kube_fb, local,
    mode_write, owner_write, rec_of, requested_write, row, stop_local_by_name,
};
use crate::NOW;

/// Every row of this group.
pub fn rows() -> Vec<Row> {
    let mut rows = approve_rows();
    rows.extend(approve_marker_rows());
    rows.extend(failure_rows());
    rows.extend(failure_not_applicable_rows());
    rows
}

/// `r` with `start_requested_ts` set at `at` (a daemon reset the failed unit to start it).
pub fn requested(mut r: FeatureRecord, at: Timestamp) -> FeatureRecord {
    r.start_requested_ts = Some(at);
    r
}

#[rustfmt::skip]
fn approve_rows() -> Vec<Row> {
    use Effect::{LabelAdd, LabelRemove, SystemctlResetStartLimit as Limit, SystemctlTryRestart as TryRestart};
    let approve = |unit| Input::Approve { unit };
    let mut rows = Vec::new();
    // hostcfgd writes nothing itself: a plan decided before the job could be stale by the
    // time it wrote. The try-restart job is one systemd job: a crash of hostcfgd cannot cut
    // it in two, and an operator's stop that comes first turns it into nothing.
    for (state, c, to) in [
        (State::LocalToKube, kube(), State::KubeReady),
        (State::LocalToKube, local(), State::Local),
        (State::KubePending, kube(), State::KubeReady),
        (State::KubePending, local(), State::Local),
    ] {
        rows.push(
            row(format!("approve_of_an_active_unit_is_one_try_restart_job_and_no_write [{state} {}]", cfg_name(&c)), rec_of(state), &c)
                .step(approve(U::Active), to, vec![Limit, TryRestart], Reason::ApproveRestartsUnit)
                .unchanged(),
        );
    }
    rows.extend([
        // As systemd runs the restart: the Stop fed by ExecStop, then the Start fed by
        // ExecStartPre, which approves in place and adds the label.
        row("approve_restart_runs_as_stop_then_start_approving_in_place", rec_of(State::LocalToKube), &kube())
            .step(Input::Stop(OPTS), State::KubePending, vec![docker_stop(LOCAL_ID, OPTS.grace_secs), owner_write(O::None, None)], Reason::StopLocalKeepsPendingApproval)
            .step(Input::Start, State::KubeReady, vec![stop_local_by_name(), mode_write(M::KubePending, M::KubeReady), LabelAdd], Reason::StartApprovesPending)
            .leaves(expect(O::None, None, M::KubeReady, true, true)),
        // A unit systemd gave up on (StartLimitBurst after a crash-looping kube image) is still
        // wanted: the approval goes ahead, and the marker lets a restarted hostcfgd finish it.
        // hostcfgd crashed after its reset-failed: the unit is inactive now, but the marker
        // says this system reset it, so the restarted hostcfgd finishes the start. The Start
        // clears the marker first, then approves.
        row("approve_of_a_failed_unit_marks_the_row_then_resets_and_starts_it", rec_of(State::KubePending), &kube())
            .step(approve(U::Failed), State::KubeReady, vec![requested_write(Some(M::KubePending), true), Effect::SystemctlResetFailed, Effect::SystemctlStart], Reason::ApproveStartsFailedUnit)
            .leaves(requested(rec_of(State::KubePending), NOW))
            .pending(true)
            .step(approve(U::Inactive), State::KubeReady, vec![Effect::SystemctlResetFailed, Effect::SystemctlStart], Reason::ApproveFinishesRequestedStart)
            .unchanged()
            .step(Input::Start, State::KubeReady, vec![requested_write(None, false), stop_local_by_name(), mode_write(M::KubePending, M::KubeReady), LabelAdd], Reason::StartApprovesPending)
            .leaves(expect(O::None, None, M::KubeReady, false, true))
            .pending(false),
        // hostcfgd decided Approve in KUBE_PENDING; systemd's Restart=always Start approved in
        // place before hostcfgd's job ran. Its plan holds no write that could lose: the
        // restart it carries out brings the feature back up, approved again.
        row("a_stale_approval_after_an_in_place_approval_restarts_an_active_unit_and_ends_approved", rec_of(State::KubePending), &kube())
            .step(approve(U::Active), State::KubeReady, vec![Limit, TryRestart], Reason::ApproveRestartsUnit)
            .unchanged()
            .step(Input::Start, State::KubeReady, vec![stop_local_by_name(), mode_write(M::KubePending, M::KubeReady), LabelAdd], Reason::StartApprovesPending)
            .step(Input::Stop(OPTS), State::Init, vec![LabelRemove, mode_write(M::KubeReady, M::None)], Reason::StopReady)
            .step(Input::Start, State::KubeReady, vec![stop_local_by_name(), mode_write(M::None, M::KubeReady), LabelAdd], Reason::StartKubeApproved)
            .leaves(expect(O::None, None, M::KubeReady, false, true)),
    ]);
    // Issue 8, item 3: an inactive unit is what systemd records after an operator's stop.
    for state in [State::LocalToKube, State::KubePending] {
        for c in [local(), kube(), kube_fb(), armed(1)] {
            rows.push(
                row(format!("approve_never_starts_a_unit_the_operator_stopped [{state} {}]", cfg_name(&c)), rec_of(state), &c)
                    .step(approve(U::Inactive), state, vec![], Reason::ApproveDeferredUnitStopped)
                    .unchanged(),
            );
        }
    }
    for state in [State::Init, State::Local, State::KubeReady, State::KubeRunning, State::KubeStopped] {
        for unit in U::ALL {
            rows.push(
                row(format!("approve_without_a_pending_kube_container_does_nothing [{state} {unit}]"), rec_of(state), &kube())
                    .step(approve(unit), state, vec![], Reason::ApproveNothingPending)
                    .unchanged(),
            );
        }
    }
    rows
}

/// A marker left on a row that is no longer pending: an active (or activating) unit leaves it
/// to its next Start, which clears it (shape-3: clearing it here let a unit in systemd's
/// auto-restart that then hit its start limit be reset with no marker). See
/// `rules::a_marker_left_on_a_row_that_is_no_longer_pending_...`.
#[rustfmt::skip]
fn approve_marker_rows() -> Vec<Row> {
    State::ALL
        .into_iter()
        .filter(|s| !matches!(s, State::LocalToKube | State::KubePending))
        .map(|state| {
            row(format!("an_active_unit_leaves_a_marker_left_on_a_row_no_longer_pending_to_its_start [{state}]"), requested(rec_of(state), crate::EARLIER), &kube())
                .step(Input::Approve { unit: U::Active }, state, vec![], Reason::ApproveRequestDone)
                .pending(true)
        })
        .collect()
}

#[rustfmt::skip]
fn failure_rows() -> Vec<Row> {
    use Effect::{DockerStart, LabelAdd, LabelRemove, SystemctlResetFailed as ResetFailed, SystemctlStart as Start};
    let failure = |unit| Input::FailureTimeout { unit };
    let mut rows = Vec::new();
    for state in [State::KubeReady, State::KubeStopped] {
        // kube-monit writes nothing: a crash after its job leaves nothing half-done.
        rows.push(
            row(format!("failure_timeout_of_an_active_unit_is_a_bare_try_restart [{state}]"), rec_of(state), &armed(5))
                .step(failure(U::Active), State::Local, vec![Effect::SystemctlResetStartLimit, Effect::SystemctlTryRestart], Reason::FailureRestartsUnit)
                .unchanged(),
        );
        // Issue 8, item 3: owner kube, fallback, N > 0; the operator's `systemctl stop` left
        // KUBE_STOPPED with the unit inactive. N minutes later, kube-monit does nothing.
        rows.push(
            row(format!("failure_timeout_never_starts_a_unit_the_operator_stopped [{state}]"), rec_of(state), &armed(1))
                .step(failure(U::Inactive), state, vec![], Reason::FailureUnitStopped)
                .unchanged(),
        );
    }
    rows.extend([
        // KUBE_STOPPED: the restart's Stop keeps the state, and its Start decides the fallback
        // from the deadline.
        row("failure_restart_from_kube_stopped_stops_nothing_and_its_start_falls_back", rec_of(State::KubeStopped), &armed(1))
            .step(Input::Stop(OPTS), State::KubeStopped, vec![], Reason::StopKubeStoppedKeepsLabel)
            .step(Input::Start, State::Local, vec![mode_write(M::KubeStopped, M::None), LabelAdd, DockerStart], Reason::StartFallsBackAfterDeadline)
            .leaves(expect(O::None, None, M::None, false, true)),
        // KUBE_READY: the restart's Stop goes to INIT, and the Start from INIT with fallback
        // runs the local image and adds the label back.
        row("failure_restart_from_kube_ready_goes_to_init_and_its_start_runs_local", rec_of(State::KubeReady), &armed(1))
            .step(Input::Stop(OPTS), State::Init, vec![LabelRemove, mode_write(M::KubeReady, M::None)], Reason::StopReady)
            .step(Input::Start, State::Local, vec![LabelAdd, DockerStart], Reason::StartKubeFallbackLocal),
        // When the operator starts a stopped unit again, that Start falls back at once.
        row("a_start_after_the_operator_stopped_a_failed_kube_falls_back_at_once", rec_of(State::KubeStopped), &armed(1))
            .step(Input::Start, State::Local, vec![mode_write(M::KubeStopped, M::None), LabelAdd, DockerStart], Reason::StartFallsBackAfterDeadline),
        // kube-monit crashed after its reset-failed: the unit is inactive and the row marked;
        // either daemon finishes the start.
        row("failure_timeout_of_a_failed_unit_marks_resets_and_starts_and_a_crash_is_finished_later", rec_of(State::KubeStopped), &armed(1))
            .step(failure(U::Failed), State::Local, vec![requested_write(Some(M::KubeStopped), true), ResetFailed, Start], Reason::FailureStartsFailedUnit)
            .pending(true)
            .step(failure(U::Inactive), State::Local, vec![ResetFailed, Start], Reason::FailureFinishesRequestedStart)
            .step(Input::Approve { unit: U::Inactive }, State::Local, vec![ResetFailed, Start], Reason::ApproveFinishesRequestedStart),
    ]);
    rows
}

/// Configs under which failure detection is not armed.
pub fn not_armed() -> [FeatureConfig; 3] {
    [
        FeatureConfig {
            kube_failure_detection_mins: 5,
            ..cfg(Owner::Local, true)
        },
        FeatureConfig {
            kube_failure_detection_mins: 5,
            ..kube()
        },
        armed(0),
    ]
}

/// States where a container runs or waits for approval: no failure deadline.
pub const NOT_WAITING: [State; 5] = [
    State::Init,
    State::Local,
    State::LocalToKube,
    State::KubePending,
    State::KubeRunning,
];

#[rustfmt::skip]
fn failure_not_applicable_rows() -> Vec<Row> {
    let active = Input::FailureTimeout { unit: U::Active };
    let mut rows = Vec::new();
    for c in not_armed() {
        for state in [State::KubeReady, State::KubeStopped] {
            rows.push(
                row(format!("failure_timeout_does_not_apply_unless_owner_is_kube_with_fallback_and_n_above_zero [{state} {}]", cfg_name(&c)), rec_of(state), &c)
                    .step(active.clone(), state, vec![], Reason::FailureNotApplicable)
                    .unchanged(),
            );
        }
    }
    // Long after any deadline.
    for state in NOT_WAITING {
        rows.push(
            row(format!("failure_timeout_does_not_apply_where_a_container_runs_or_waits_for_approval [{state}]"), rec_of(state), &armed(1))
                .step(active.clone(), state, vec![], Reason::FailureNotApplicable)
                .at(NOW.plus_secs(1_000_000)),
        );
    }
    rows
}
