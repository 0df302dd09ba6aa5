//! The DESIGN.md §4 transition table, row by row.
//!
//! Each test steps one (state, input, condition), asserts the next state, the exact effects in
//! order and the reason, then applies the step's writes as the DB would and asserts the whole
//! record: owner, id, mode, and which timestamps were rewritten (`NOW`) or kept (`EARLIER`).
//! Rows whose effects feed an input back (docker start → LocalUp, systemctl → Stop/Start) also
//! step that follow-up, so that the table's "record owner local + id" is checked end to end.

use ctrmgr_core::{
    CurrentOwner, Effect, FeatureConfig, FeatureRecord, Input, KubeAnswer, Owner, OwnerWrite,
    Reason, State, StateWrite, Step, StopOptions, Target, Timestamp, TransitionMode,
    UnitActivity as U, apply_writes, approval_pending, next_deadline, step,
};

use crate::{EARLIER, NOW, cid};

use CurrentOwner as O;
use TransitionMode as M;

/// Stop options that differ from the defaults, so that a test sees they are passed through.
const OPTS: StopOptions = StopOptions {
    grace_secs: 7,
    kube_exit_wait_secs: 13,
};

/// The id of the local container in these tests.
const LOCAL_ID: &str = "local0123";
/// The id of the kube container that owns the feature in these tests.
const KUBE_ID: &str = "kube4567";
/// The id of another container.
const OTHER_ID: &str = "other89ab";

fn cfg(owner: Owner, fallback: bool) -> FeatureConfig {
    FeatureConfig::new(owner, fallback)
}

fn local() -> FeatureConfig {
    cfg(Owner::Local, false)
}

fn kube() -> FeatureConfig {
    cfg(Owner::Kube, false)
}

fn kube_fb() -> FeatureConfig {
    cfg(Owner::Kube, true)
}

/// Failure detection armed: owner kube, fallback, N minutes.
fn armed(n: u32) -> FeatureConfig {
    FeatureConfig {
        kube_failure_detection_mins: n,
        ..kube_fb()
    }
}

/// The canonical record of `state`, with `id` when the state has an owner, and both
/// timestamps at `EARLIER`.
fn rec(state: State, id: Option<&str>) -> FeatureRecord {
    let mut r = FeatureRecord::of_state(state, id.map(cid));
    r.current_owner_update_ts = Some(EARLIER);
    r.transition_mode_update_ts = Some(EARLIER);
    r
}

/// A record of `state` with the id the table tests use for its owner.
fn rec_of(state: State) -> FeatureRecord {
    match state.pair().0 {
        O::Local => rec(state, Some(LOCAL_ID)),
        O::Kube => rec(state, Some(KUBE_ID)),
        O::None => rec(state, None),
    }
}

fn owner_write(owner: CurrentOwner, id: Option<&str>) -> Effect {
    Effect::Write(StateWrite {
        guard: None,
        owner: Some(OwnerWrite {
            owner,
            docker_id: id.map(cid),
        }),
        mode: None,
        start_requested: None,
        now: NOW,
    })
}

fn mode_write(guard: TransitionMode, mode: TransitionMode) -> Effect {
    Effect::Write(StateWrite {
        guard: Some(guard),
        owner: None,
        mode: Some(mode),
        start_requested: None,
        now: NOW,
    })
}

fn both_write(
    guard: TransitionMode,
    owner: CurrentOwner,
    id: Option<&str>,
    mode: TransitionMode,
) -> Effect {
    Effect::Write(StateWrite {
        guard: Some(guard),
        owner: Some(OwnerWrite {
            owner,
            docker_id: id.map(cid),
        }),
        mode: Some(mode),
        start_requested: None,
        now: NOW,
    })
}

fn docker_stop(id: &str, grace_secs: u32) -> Effect {
    Effect::DockerStop {
        target: Target::Id(cid(id)),
        grace_secs,
    }
}

/// A Start from INIT handing over to kube first stops a local container nobody recorded
/// (docs/decisions.md, crash-1).
fn stop_local_by_name() -> Effect {
    Effect::DockerStop {
        target: Target::LocalByName,
        grace_secs: StopOptions::default().grace_secs,
    }
}

fn docker_kill(id: &str) -> Effect {
    Effect::DockerKill {
        target: Target::Id(cid(id)),
    }
}

/// Steps `input` from `r` at `NOW`, asserts the whole [`Step`], and returns `r` with the
/// step's writes applied.
fn check(
    r: &FeatureRecord,
    c: &FeatureConfig,
    input: Input,
    next: State,
    effects: Vec<Effect>,
    reason: Reason,
) -> FeatureRecord {
    let s = step(r, c, input.clone(), NOW);
    assert_eq!(
        s,
        Step {
            next,
            effects,
            reason
        },
        "step({}, owner={}, fb={}, {input:?})",
        r.state(),
        c.set_owner,
        c.fallback_to_local
    );
    let mut after = r.clone();
    apply_writes(&mut after, &s.effects);
    after
}

/// What a record must hold after a step: the fields, and whether each timestamp was rewritten.
fn expect(
    owner: CurrentOwner,
    id: Option<&str>,
    mode: TransitionMode,
    owner_written: bool,
    mode_written: bool,
) -> FeatureRecord {
    let ts = |written: bool| Some(if written { NOW } else { EARLIER });
    FeatureRecord {
        current_owner: owner,
        current_owner_update_ts: ts(owner_written),
        docker_id: id.map(cid),
        transition_mode: mode,
        transition_mode_update_ts: ts(mode_written),
        start_requested_ts: None,
    }
}

/// The record is unchanged: no field and no timestamp was written.
fn unchanged(r: &FeatureRecord) -> FeatureRecord {
    r.clone()
}

// ---- Start ------------------------------------------------------------------------------------

#[test]
fn init_start_with_local_owner_starts_local_and_records_owner_local_with_its_id() {
    let r = rec_of(State::Init);
    let after = check(
        &r,
        &local(),
        Input::Start,
        State::Local,
        vec![Effect::LabelRemove, Effect::DockerStart],
        Reason::StartLocal,
    );
    assert_eq!(after, unchanged(&r));
    // The driver feeds LocalUp with the id docker start returned: that records the owner.
    let after = check(
        &after,
        &local(),
        Input::LocalUp(cid(LOCAL_ID)),
        State::Local,
        vec![owner_write(O::Local, Some(LOCAL_ID))],
        Reason::LocalUpRecorded,
    );
    assert_eq!(
        after,
        expect(O::Local, Some(LOCAL_ID), M::None, true, false)
    );
    assert_eq!(after.state(), State::Local);
}

#[test]
fn init_start_with_kube_owner_and_fallback_adds_label_and_starts_local() {
    let r = rec_of(State::Init);
    let after = check(
        &r,
        &kube_fb(),
        Input::Start,
        State::Local,
        vec![Effect::LabelAdd, Effect::DockerStart],
        Reason::StartKubeFallbackLocal,
    );
    assert_eq!(after, unchanged(&r));
    let after = check(
        &after,
        &kube_fb(),
        Input::LocalUp(cid(LOCAL_ID)),
        State::Local,
        vec![owner_write(O::Local, Some(LOCAL_ID))],
        Reason::LocalUpRecorded,
    );
    assert_eq!(
        after,
        expect(O::Local, Some(LOCAL_ID), M::None, true, false)
    );
}

#[test]
fn init_start_with_kube_owner_without_fallback_sets_kube_ready_and_adds_label() {
    let r = rec_of(State::Init);
    let after = check(
        &r,
        &kube(),
        Input::Start,
        State::KubeReady,
        vec![
            stop_local_by_name(),
            mode_write(M::None, M::KubeReady),
            Effect::LabelAdd,
        ],
        Reason::StartKubeApproved,
    );
    assert_eq!(after, expect(O::None, None, M::KubeReady, false, true));
    assert_eq!(after.state(), State::KubeReady);
}

#[test]
fn local_start_with_local_owner_is_idempotent_and_removes_the_label() {
    let r = rec_of(State::Local);
    let after = check(
        &r,
        &local(),
        Input::Start,
        State::Local,
        vec![Effect::LabelRemove, Effect::DockerStart],
        Reason::StartLocalAgain,
    );
    assert_eq!(after, unchanged(&r));
    // docker start on the running container returns the same id: LocalUp writes nothing.
    let after = check(
        &after,
        &local(),
        Input::LocalUp(cid(LOCAL_ID)),
        State::Local,
        vec![],
        Reason::LocalUpRecorded,
    );
    assert_eq!(after, unchanged(&r));
}

#[test]
fn local_start_with_kube_owner_is_idempotent_and_ensures_the_label() {
    let r = rec_of(State::Local);
    let after = check(
        &r,
        &kube_fb(),
        Input::Start,
        State::Local,
        vec![Effect::LabelAdd, Effect::DockerStart],
        Reason::StartLocalAgain,
    );
    assert_eq!(after, unchanged(&r));
}

#[test]
fn kube_pending_start_with_kube_owner_sets_kube_ready_and_adds_label_approving_in_place() {
    let r = rec_of(State::KubePending);
    let after = check(
        &r,
        &kube(),
        Input::Start,
        State::KubeReady,
        vec![
            stop_local_by_name(),
            mode_write(M::KubePending, M::KubeReady),
            Effect::LabelAdd,
        ],
        Reason::StartApprovesPending,
    );
    assert_eq!(after, expect(O::None, None, M::KubeReady, false, true));
}

#[test]
fn kube_pending_start_with_local_owner_removes_label_clears_mode_and_starts_local() {
    let r = rec_of(State::KubePending);
    let after = check(
        &r,
        &local(),
        Input::Start,
        State::Local,
        vec![
            Effect::LabelRemove,
            mode_write(M::KubePending, M::None),
            Effect::DockerStart,
        ],
        Reason::StartLocalDropsPending,
    );
    assert_eq!(after, expect(O::None, None, M::None, false, true));
    let after = check(
        &after,
        &local(),
        Input::LocalUp(cid(LOCAL_ID)),
        State::Local,
        vec![owner_write(O::Local, Some(LOCAL_ID))],
        Reason::LocalUpRecorded,
    );
    assert_eq!(after, expect(O::Local, Some(LOCAL_ID), M::None, true, true));
}

#[test]
fn kube_stopped_start_with_kube_owner_sets_kube_ready_and_adds_label() {
    let r = rec_of(State::KubeStopped);
    let after = check(
        &r,
        &kube(),
        Input::Start,
        State::KubeReady,
        vec![
            stop_local_by_name(),
            mode_write(M::KubeStopped, M::KubeReady),
            Effect::LabelAdd,
        ],
        Reason::StartKubeAfterStopped,
    );
    assert_eq!(after, expect(O::None, None, M::KubeReady, false, true));
}

#[test]
fn kube_stopped_start_with_local_owner_clears_mode_and_starts_local() {
    let r = rec_of(State::KubeStopped);
    let after = check(
        &r,
        &local(),
        Input::Start,
        State::Local,
        vec![
            Effect::LabelRemove,
            mode_write(M::KubeStopped, M::None),
            Effect::DockerStart,
        ],
        Reason::StartLocalAfterStopped,
    );
    assert_eq!(after, expect(O::None, None, M::None, false, true));
    let after = check(
        &after,
        &local(),
        Input::LocalUp(cid(LOCAL_ID)),
        State::Local,
        vec![owner_write(O::Local, Some(LOCAL_ID))],
        Reason::LocalUpRecorded,
    );
    assert_eq!(after, expect(O::Local, Some(LOCAL_ID), M::None, true, true));
}

/// KUBE_READY, KUBE_RUNNING, LOCAL_TO_KUBE | Start: same state; the label added when owner is
/// kube, removed when it is local (invariant 8).
fn start_is_idempotent(state: State, c: &FeatureConfig) {
    let r = rec_of(state);
    let label = if c.set_owner == Owner::Kube {
        vec![Effect::LabelAdd]
    } else {
        vec![Effect::LabelRemove]
    };
    let after = check(
        &r,
        c,
        Input::Start,
        state,
        label,
        Reason::StartAlreadyUnderWay,
    );
    assert_eq!(after, unchanged(&r));
}

#[test]
fn kube_ready_start_with_kube_owner_only_ensures_the_label() {
    start_is_idempotent(State::KubeReady, &kube());
}

#[test]
fn kube_ready_start_with_local_owner_only_removes_the_label() {
    start_is_idempotent(State::KubeReady, &local());
}

#[test]
fn kube_running_start_with_kube_owner_only_ensures_the_label() {
    start_is_idempotent(State::KubeRunning, &kube());
}

#[test]
fn kube_running_start_with_local_owner_only_removes_the_label() {
    start_is_idempotent(State::KubeRunning, &local());
}

#[test]
fn local_to_kube_start_with_kube_owner_only_ensures_the_label() {
    start_is_idempotent(State::LocalToKube, &kube_fb());
}

#[test]
fn local_to_kube_start_with_local_owner_only_removes_the_label() {
    start_is_idempotent(State::LocalToKube, &local());
}

// ---- Stop -------------------------------------------------------------------------------------

#[test]
fn init_stop_stops_the_local_container_by_name_in_case_a_cancelled_start_left_it_running() {
    // Issue 8, item 8: a `container start` cancelled between its docker start and its record
    // leaves the local container running in INIT; the Stop that follows stops it by name
    // (idempotent: a stopped or missing container is stopped already). With owner local it
    // also removes the label (invariant 8).
    for c in [local(), kube(), kube_fb()] {
        let r = rec_of(State::Init);
        let mut effects = vec![Effect::DockerStop {
            target: Target::LocalByName,
            grace_secs: OPTS.grace_secs,
        }];
        if c.set_owner == Owner::Local {
            effects.insert(0, Effect::LabelRemove);
        }
        let after = check(
            &r,
            &c,
            Input::Stop(OPTS),
            State::Init,
            effects,
            Reason::StopNothingRuns,
        );
        assert_eq!(after, unchanged(&r));
    }
}

#[test]
fn local_stop_with_local_owner_stops_the_container_and_records_owner_none() {
    let r = rec_of(State::Local);
    let after = check(
        &r,
        &local(),
        Input::Stop(OPTS),
        State::Init,
        vec![
            Effect::LabelRemove,
            docker_stop(LOCAL_ID, OPTS.grace_secs),
            owner_write(O::None, None),
        ],
        Reason::StopLocal,
    );
    assert_eq!(after, expect(O::None, None, M::None, true, false));
    assert_eq!(after.state(), State::Init);
}

#[test]
fn local_stop_with_kube_owner_removes_label_stops_the_container_and_records_owner_none() {
    let r = rec_of(State::Local);
    let after = check(
        &r,
        &kube_fb(),
        Input::Stop(OPTS),
        State::Init,
        vec![
            Effect::LabelRemove,
            docker_stop(LOCAL_ID, OPTS.grace_secs),
            owner_write(O::None, None),
        ],
        Reason::StopLocal,
    );
    assert_eq!(after, expect(O::None, None, M::None, true, false));
}

#[test]
fn local_stop_without_a_recorded_id_stops_the_container_by_its_name() {
    let r = rec(State::Local, None);
    let after = check(
        &r,
        &local(),
        Input::Stop(OPTS),
        State::Init,
        vec![
            Effect::LabelRemove,
            Effect::DockerStop {
                target: Target::LocalByName,
                grace_secs: OPTS.grace_secs,
            },
            owner_write(O::None, None),
        ],
        Reason::StopLocal,
    );
    assert_eq!(after, expect(O::None, None, M::None, true, false));
}

#[test]
fn local_to_kube_stop_with_kube_owner_stops_local_keeps_label_and_stays_pending() {
    let r = rec_of(State::LocalToKube);
    let after = check(
        &r,
        &kube(),
        Input::Stop(OPTS),
        State::KubePending,
        vec![
            docker_stop(LOCAL_ID, OPTS.grace_secs),
            owner_write(O::None, None),
        ],
        Reason::StopLocalKeepsPendingApproval,
    );
    assert_eq!(after, expect(O::None, None, M::KubePending, true, false));
    assert_eq!(after.state(), State::KubePending);
}

#[test]
fn local_to_kube_stop_with_local_owner_removes_label_stops_local_and_clears_mode() {
    let r = rec_of(State::LocalToKube);
    let after = check(
        &r,
        &local(),
        Input::Stop(OPTS),
        State::Init,
        vec![
            Effect::LabelRemove,
            docker_stop(LOCAL_ID, OPTS.grace_secs),
            both_write(M::KubePending, O::None, None, M::None),
        ],
        Reason::StopLocalToKubeOwnerLocal,
    );
    assert_eq!(after, expect(O::None, None, M::None, true, true));
}

#[test]
fn kube_pending_stop_with_kube_owner_does_nothing_and_keeps_the_label() {
    let r = rec_of(State::KubePending);
    let after = check(
        &r,
        &kube(),
        Input::Stop(OPTS),
        State::KubePending,
        vec![],
        Reason::StopPendingKeepsApproval,
    );
    assert_eq!(after, unchanged(&r));
}

#[test]
fn kube_pending_stop_with_local_owner_removes_label_and_clears_mode() {
    let r = rec_of(State::KubePending);
    let after = check(
        &r,
        &local(),
        Input::Stop(OPTS),
        State::Init,
        vec![Effect::LabelRemove, mode_write(M::KubePending, M::None)],
        Reason::StopPendingOwnerLocal,
    );
    assert_eq!(after, expect(O::None, None, M::None, false, true));
}

#[test]
fn kube_ready_stop_removes_label_and_clears_mode_whatever_the_owner() {
    for c in [local(), kube(), kube_fb()] {
        let r = rec_of(State::KubeReady);
        let after = check(
            &r,
            &c,
            Input::Stop(OPTS),
            State::Init,
            vec![Effect::LabelRemove, mode_write(M::KubeReady, M::None)],
            Reason::StopReady,
        );
        assert_eq!(after, expect(O::None, None, M::None, false, true));
    }
}

#[test]
fn kube_running_stop_with_kube_owner_removes_label_awaits_exit_and_records_kube_stopped() {
    let r = rec_of(State::KubeRunning);
    let after = check(
        &r,
        &kube(),
        Input::Stop(OPTS),
        State::KubeStopped,
        vec![
            Effect::LabelRemove,
            Effect::AwaitExit {
                id: cid(KUBE_ID),
                timeout_secs: OPTS.kube_exit_wait_secs,
                grace_secs: OPTS.grace_secs,
            },
            both_write(M::KubeRunning, O::None, None, M::KubeStopped),
        ],
        Reason::StopKubeRunning,
    );
    assert_eq!(after, expect(O::None, None, M::KubeStopped, true, true));
    assert_eq!(after.state(), State::KubeStopped);
}

#[test]
fn kube_running_stop_with_local_owner_removes_label_awaits_exit_and_returns_to_init() {
    let r = rec_of(State::KubeRunning);
    let after = check(
        &r,
        &local(),
        Input::Stop(OPTS),
        State::Init,
        vec![
            Effect::LabelRemove,
            Effect::AwaitExit {
                id: cid(KUBE_ID),
                timeout_secs: OPTS.kube_exit_wait_secs,
                grace_secs: OPTS.grace_secs,
            },
            both_write(M::KubeRunning, O::None, None, M::None),
        ],
        Reason::StopKubeRunning,
    );
    assert_eq!(after, expect(O::None, None, M::None, true, true));
    assert_eq!(after.state(), State::Init);
}

#[test]
fn kube_stopped_stop_with_kube_owner_does_nothing_and_keeps_the_label() {
    let r = rec_of(State::KubeStopped);
    let after = check(
        &r,
        &kube(),
        Input::Stop(OPTS),
        State::KubeStopped,
        vec![],
        Reason::StopKubeStoppedKeepsLabel,
    );
    assert_eq!(after, unchanged(&r));
}

#[test]
fn kube_stopped_stop_with_local_owner_removes_label_and_clears_mode() {
    let r = rec_of(State::KubeStopped);
    let after = check(
        &r,
        &local(),
        Input::Stop(OPTS),
        State::Init,
        vec![Effect::LabelRemove, mode_write(M::KubeStopped, M::None)],
        Reason::StopKubeStoppedOwnerLocal,
    );
    assert_eq!(after, expect(O::None, None, M::None, false, true));
}

// ---- Kill: as Stop, with docker kill, Down recorded at once -----------------------------------

#[test]
fn local_kill_with_local_owner_kills_the_container_and_records_owner_none() {
    let r = rec_of(State::Local);
    let after = check(
        &r,
        &local(),
        Input::Kill,
        State::Init,
        vec![docker_kill(LOCAL_ID), owner_write(O::None, None)],
        Reason::KillLocal,
    );
    assert_eq!(after, expect(O::None, None, M::None, true, false));
}

#[test]
fn local_kill_with_kube_owner_removes_label_kills_the_container_and_records_owner_none() {
    let r = rec_of(State::Local);
    let after = check(
        &r,
        &kube_fb(),
        Input::Kill,
        State::Init,
        vec![
            Effect::LabelRemove,
            docker_kill(LOCAL_ID),
            owner_write(O::None, None),
        ],
        Reason::KillLocal,
    );
    assert_eq!(after, expect(O::None, None, M::None, true, false));
}

#[test]
fn local_kill_without_a_recorded_id_kills_the_container_by_its_name() {
    let r = rec(State::Local, None);
    check(
        &r,
        &local(),
        Input::Kill,
        State::Init,
        vec![
            Effect::DockerKill {
                target: Target::LocalByName,
            },
            owner_write(O::None, None),
        ],
        Reason::KillLocal,
    );
}

#[test]
fn local_to_kube_kill_with_kube_owner_kills_local_keeps_label_and_stays_pending() {
    let r = rec_of(State::LocalToKube);
    let after = check(
        &r,
        &kube(),
        Input::Kill,
        State::KubePending,
        vec![docker_kill(LOCAL_ID), owner_write(O::None, None)],
        Reason::KillLocalKeepsPendingApproval,
    );
    assert_eq!(after, expect(O::None, None, M::KubePending, true, false));
}

#[test]
fn local_to_kube_kill_with_local_owner_removes_label_kills_local_and_clears_mode() {
    let r = rec_of(State::LocalToKube);
    let after = check(
        &r,
        &local(),
        Input::Kill,
        State::Init,
        vec![
            Effect::LabelRemove,
            docker_kill(LOCAL_ID),
            both_write(M::KubePending, O::None, None, M::None),
        ],
        Reason::KillLocalToKubeOwnerLocal,
    );
    assert_eq!(after, expect(O::None, None, M::None, true, true));
}

#[test]
fn kube_running_kill_with_kube_owner_removes_label_kills_and_records_kube_stopped_at_once() {
    let r = rec_of(State::KubeRunning);
    let after = check(
        &r,
        &kube(),
        Input::Kill,
        State::KubeStopped,
        vec![
            Effect::LabelRemove,
            docker_kill(KUBE_ID),
            both_write(M::KubeRunning, O::None, None, M::KubeStopped),
        ],
        Reason::KillKubeRunning,
    );
    assert_eq!(after, expect(O::None, None, M::KubeStopped, true, true));
}

#[test]
fn kube_running_kill_with_local_owner_removes_label_kills_and_returns_to_init() {
    let r = rec_of(State::KubeRunning);
    let after = check(
        &r,
        &local(),
        Input::Kill,
        State::Init,
        vec![
            Effect::LabelRemove,
            docker_kill(KUBE_ID),
            both_write(M::KubeRunning, O::None, None, M::None),
        ],
        Reason::KillKubeRunning,
    );
    assert_eq!(after, expect(O::None, None, M::None, true, true));
}

#[test]
fn kill_where_no_container_runs_acts_exactly_as_stop_with_default_options() {
    for state in [
        State::Init,
        State::KubePending,
        State::KubeReady,
        State::KubeStopped,
    ] {
        for c in [local(), kube(), kube_fb()] {
            let r = rec_of(state);
            let stop = step(&r, &c, Input::Stop(StopOptions::default()), NOW);
            let kill = step(&r, &c, Input::Kill, NOW);
            assert_eq!(
                kill.reason,
                Reason::KillAsStop,
                "{state} owner={}",
                c.set_owner
            );
            assert_eq!(kill.next, stop.next, "{state} owner={}", c.set_owner);
            assert_eq!(kill.effects, stop.effects, "{state} owner={}", c.set_owner);
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
                "{state}: nothing recorded runs, so nothing recorded is stopped"
            );
        }
    }
}

// ---- LocalUp ----------------------------------------------------------------------------------

#[test]
fn init_local_up_records_owner_local_with_id_and_timestamp() {
    for c in [local(), kube(), kube_fb()] {
        let r = rec_of(State::Init);
        let after = check(
            &r,
            &c,
            Input::LocalUp(cid(LOCAL_ID)),
            State::Local,
            vec![owner_write(O::Local, Some(LOCAL_ID))],
            Reason::LocalUpRecorded,
        );
        assert_eq!(
            after,
            expect(O::Local, Some(LOCAL_ID), M::None, true, false)
        );
    }
}

#[test]
fn local_local_up_with_the_recorded_id_writes_nothing() {
    let r = rec_of(State::Local);
    let after = check(
        &r,
        &local(),
        Input::LocalUp(cid(LOCAL_ID)),
        State::Local,
        vec![],
        Reason::LocalUpRecorded,
    );
    assert_eq!(after, unchanged(&r));
}

#[test]
fn local_local_up_with_a_new_id_records_the_new_id() {
    let r = rec_of(State::Local);
    let after = check(
        &r,
        &kube_fb(),
        Input::LocalUp(cid(OTHER_ID)),
        State::Local,
        vec![owner_write(O::Local, Some(OTHER_ID))],
        Reason::LocalUpRecorded,
    );
    assert_eq!(
        after,
        expect(O::Local, Some(OTHER_ID), M::None, true, false)
    );
}

#[test]
fn local_to_kube_local_up_with_a_new_id_records_the_id_and_keeps_the_request() {
    let r = rec_of(State::LocalToKube);
    let after = check(
        &r,
        &kube(),
        Input::LocalUp(cid(OTHER_ID)),
        State::LocalToKube,
        vec![owner_write(O::Local, Some(OTHER_ID))],
        Reason::LocalUpIdRecorded,
    );
    assert_eq!(
        after,
        expect(O::Local, Some(OTHER_ID), M::KubePending, true, false)
    );
}

#[test]
fn local_to_kube_local_up_with_the_recorded_id_writes_nothing() {
    let r = rec_of(State::LocalToKube);
    let after = check(
        &r,
        &kube(),
        Input::LocalUp(cid(LOCAL_ID)),
        State::LocalToKube,
        vec![],
        Reason::LocalUpIdRecorded,
    );
    assert_eq!(after, unchanged(&r));
}

#[test]
fn kube_pending_local_up_records_owner_local_and_moves_to_local_to_kube() {
    for c in [local(), kube()] {
        let r = rec_of(State::KubePending);
        let after = check(
            &r,
            &c,
            Input::LocalUp(cid(LOCAL_ID)),
            State::LocalToKube,
            vec![owner_write(O::Local, Some(LOCAL_ID))],
            Reason::LocalUpWhilePending,
        );
        assert_eq!(
            after,
            expect(O::Local, Some(LOCAL_ID), M::KubePending, true, false)
        );
    }
}

/// KUBE_READY, KUBE_RUNNING, KUBE_STOPPED | LocalUp: refuse, stop that container.
fn local_up_is_refused(state: State) {
    for c in [local(), kube(), kube_fb()] {
        let r = rec_of(state);
        let after = check(
            &r,
            &c,
            Input::LocalUp(cid(OTHER_ID)),
            state,
            vec![docker_stop(OTHER_ID, StopOptions::default().grace_secs)],
            Reason::LocalUpRefusedWhileKube,
        );
        assert_eq!(after, unchanged(&r));
    }
}

#[test]
fn kube_ready_local_up_is_refused_and_stops_that_local_container() {
    local_up_is_refused(State::KubeReady);
}

#[test]
fn kube_running_local_up_is_refused_and_stops_that_local_container() {
    local_up_is_refused(State::KubeRunning);
}

#[test]
fn kube_stopped_local_up_is_refused_and_stops_that_local_container() {
    local_up_is_refused(State::KubeStopped);
}

// ---- KubeUp -----------------------------------------------------------------------------------

#[test]
fn kube_up_with_local_owner_is_parked_in_every_state_and_changes_nothing() {
    for state in State::ALL {
        for c in [local(), cfg(Owner::Local, true)] {
            let r = rec_of(state);
            let after = check(
                &r,
                &c,
                Input::KubeUp(cid(OTHER_ID)),
                state,
                vec![Effect::Answer(KubeAnswer::Park)],
                Reason::KubeUpParkedOwnerLocal,
            );
            assert_eq!(after, unchanged(&r), "{state}");
        }
    }
}

#[test]
fn kube_ready_kube_up_with_kube_owner_records_owner_kube_and_proceeds() {
    for c in [kube(), kube_fb()] {
        let r = rec_of(State::KubeReady);
        let after = check(
            &r,
            &c,
            Input::KubeUp(cid(KUBE_ID)),
            State::KubeRunning,
            vec![
                both_write(M::KubeReady, O::Kube, Some(KUBE_ID), M::KubeRunning),
                Effect::Answer(KubeAnswer::Proceed),
            ],
            Reason::KubeUpProceeds,
        );
        assert_eq!(
            after,
            expect(O::Kube, Some(KUBE_ID), M::KubeRunning, true, true)
        );
        assert_eq!(after.state(), State::KubeRunning);
    }
}

#[test]
fn init_kube_up_with_kube_owner_sets_kube_pending_and_waits() {
    let r = rec_of(State::Init);
    let after = check(
        &r,
        &kube(),
        Input::KubeUp(cid(KUBE_ID)),
        State::KubePending,
        vec![
            mode_write(M::None, M::KubePending),
            Effect::Answer(KubeAnswer::Wait),
        ],
        Reason::KubeUpRequestsApproval,
    );
    assert_eq!(after, expect(O::None, None, M::KubePending, false, true));
    assert!(approval_pending(&after));
}

#[test]
fn kube_stopped_kube_up_with_kube_owner_sets_kube_pending_and_waits() {
    let r = rec_of(State::KubeStopped);
    let after = check(
        &r,
        &kube_fb(),
        Input::KubeUp(cid(KUBE_ID)),
        State::KubePending,
        vec![
            mode_write(M::KubeStopped, M::KubePending),
            Effect::Answer(KubeAnswer::Wait),
        ],
        Reason::KubeUpRequestsApproval,
    );
    assert_eq!(after, expect(O::None, None, M::KubePending, false, true));
}

#[test]
fn local_kube_up_with_kube_owner_moves_to_local_to_kube_and_waits() {
    let r = rec_of(State::Local);
    let after = check(
        &r,
        &kube_fb(),
        Input::KubeUp(cid(KUBE_ID)),
        State::LocalToKube,
        vec![
            mode_write(M::None, M::KubePending),
            Effect::Answer(KubeAnswer::Wait),
        ],
        Reason::KubeUpInterruptsLocal,
    );
    assert_eq!(
        after,
        expect(O::Local, Some(LOCAL_ID), M::KubePending, false, true)
    );
    assert_eq!(after.state(), State::LocalToKube);
}

#[test]
fn local_to_kube_kube_up_with_kube_owner_waits_and_changes_nothing() {
    let r = rec_of(State::LocalToKube);
    let after = check(
        &r,
        &kube(),
        Input::KubeUp(cid(KUBE_ID)),
        State::LocalToKube,
        vec![Effect::Answer(KubeAnswer::Wait)],
        Reason::KubeUpWaits,
    );
    assert_eq!(after, unchanged(&r));
}

#[test]
fn kube_pending_kube_up_with_kube_owner_waits_and_changes_nothing() {
    let r = rec_of(State::KubePending);
    let after = check(
        &r,
        &kube(),
        Input::KubeUp(cid(KUBE_ID)),
        State::KubePending,
        vec![Effect::Answer(KubeAnswer::Wait)],
        Reason::KubeUpWaits,
    );
    assert_eq!(after, unchanged(&r));
}

#[test]
fn kube_running_kube_up_from_the_recorded_container_proceeds_and_changes_nothing() {
    let r = rec_of(State::KubeRunning);
    let after = check(
        &r,
        &kube(),
        Input::KubeUp(cid(KUBE_ID)),
        State::KubeRunning,
        vec![Effect::Answer(KubeAnswer::Proceed)],
        Reason::KubeUpAlreadyRunning,
    );
    assert_eq!(after, unchanged(&r));
}

#[test]
fn kube_running_kube_up_from_another_container_while_the_recorded_one_runs_waits() {
    let r = rec_of(State::KubeRunning);
    let after = check(
        &r,
        &kube(),
        Input::KubeUp(cid(OTHER_ID)),
        State::KubeRunning,
        vec![Effect::Answer(KubeAnswer::Wait)],
        Reason::KubeUpWaitsForOldContainer,
    );
    assert_eq!(after, unchanged(&r));
}

#[test]
fn kube_running_kube_up_after_the_caller_fed_down_of_the_dead_owner_requests_approval() {
    // The caller found the recorded container gone and fed Down(old) first.
    let r = rec_of(State::KubeRunning);
    let after_down = check(
        &r,
        &kube(),
        Input::Down(cid(KUBE_ID)),
        State::KubeStopped,
        vec![both_write(M::KubeRunning, O::None, None, M::KubeStopped)],
        Reason::DownKube,
    );
    let after = check(
        &after_down,
        &kube(),
        Input::KubeUp(cid(OTHER_ID)),
        State::KubePending,
        vec![
            mode_write(M::KubeStopped, M::KubePending),
            Effect::Answer(KubeAnswer::Wait),
        ],
        Reason::KubeUpRequestsApproval,
    );
    assert_eq!(after, expect(O::None, None, M::KubePending, true, true));
}

// ---- Down -------------------------------------------------------------------------------------

#[test]
fn local_down_with_the_recorded_id_records_owner_none() {
    for c in [local(), kube_fb()] {
        let r = rec_of(State::Local);
        let after = check(
            &r,
            &c,
            Input::Down(cid(LOCAL_ID)),
            State::Init,
            vec![owner_write(O::None, None)],
            Reason::DownLocal,
        );
        assert_eq!(after, expect(O::None, None, M::None, true, false));
    }
}

#[test]
fn local_to_kube_down_with_the_recorded_id_records_owner_none_and_stays_pending() {
    let r = rec_of(State::LocalToKube);
    let after = check(
        &r,
        &kube(),
        Input::Down(cid(LOCAL_ID)),
        State::KubePending,
        vec![owner_write(O::None, None)],
        Reason::DownLocalPending,
    );
    assert_eq!(after, expect(O::None, None, M::KubePending, true, false));
}

#[test]
fn kube_running_down_with_the_recorded_id_and_kube_owner_records_kube_stopped() {
    let r = rec_of(State::KubeRunning);
    let after = check(
        &r,
        &kube_fb(),
        Input::Down(cid(KUBE_ID)),
        State::KubeStopped,
        vec![both_write(M::KubeRunning, O::None, None, M::KubeStopped)],
        Reason::DownKube,
    );
    assert_eq!(after, expect(O::None, None, M::KubeStopped, true, true));
}

#[test]
fn kube_running_down_with_the_recorded_id_and_local_owner_returns_to_init() {
    let r = rec_of(State::KubeRunning);
    let after = check(
        &r,
        &local(),
        Input::Down(cid(KUBE_ID)),
        State::Init,
        vec![both_write(M::KubeRunning, O::None, None, M::None)],
        Reason::DownKubeOwnerLocal,
    );
    assert_eq!(after, expect(O::None, None, M::None, true, true));
}

#[test]
fn down_with_an_id_that_is_not_the_recorded_one_changes_nothing_in_any_state() {
    for state in State::ALL {
        for c in [local(), kube(), kube_fb()] {
            let r = rec_of(state);
            let after = check(
                &r,
                &c,
                Input::Down(cid(OTHER_ID)),
                state,
                vec![],
                Reason::DownNotOwner,
            );
            assert_eq!(after, unchanged(&r), "{state}");
        }
    }
}

// ---- Approve (hostcfgd) -----------------------------------------------------------------------

/// A write of `start_requested_ts` (set, guarded on `guard`; or cleared, unguarded).
fn requested_write(guard: Option<TransitionMode>, requested: bool) -> Effect {
    Effect::Write(StateWrite {
        guard,
        owner: None,
        mode: None,
        start_requested: Some(requested),
        now: NOW,
    })
}

/// `r` with `start_requested_ts` set (a daemon reset the failed unit to start it).
fn requested(mut r: FeatureRecord) -> FeatureRecord {
    r.start_requested_ts = Some(EARLIER);
    r
}

#[test]
fn approve_of_an_active_unit_is_one_try_restart_job_and_no_write() {
    // hostcfgd writes nothing itself: a plan decided before the job could be stale by the
    // time it wrote. The try-restart job is one systemd job: a crash of hostcfgd cannot cut
    // it in two, and an operator's stop that comes first turns it into nothing.
    for (state, c, to) in [
        (State::LocalToKube, kube(), State::KubeReady),
        (State::LocalToKube, local(), State::Local),
        (State::KubePending, kube(), State::KubeReady),
        (State::KubePending, local(), State::Local),
    ] {
        let r = rec_of(state);
        let after = check(
            &r,
            &c,
            Input::Approve { unit: U::Active },
            to,
            vec![
                Effect::SystemctlResetStartLimit,
                Effect::SystemctlTryRestart,
            ],
            Reason::ApproveRestartsUnit,
        );
        assert_eq!(after, unchanged(&r), "{state}");
    }
    // As systemd runs the restart: the Stop fed by ExecStop, then the Start fed by
    // ExecStartPre, which approves in place and adds the label.
    let r = rec_of(State::LocalToKube);
    let stopped = check(
        &r,
        &kube(),
        Input::Stop(OPTS),
        State::KubePending,
        vec![
            docker_stop(LOCAL_ID, OPTS.grace_secs),
            owner_write(O::None, None),
        ],
        Reason::StopLocalKeepsPendingApproval,
    );
    let started = check(
        &stopped,
        &kube(),
        Input::Start,
        State::KubeReady,
        vec![
            stop_local_by_name(),
            mode_write(M::KubePending, M::KubeReady),
            Effect::LabelAdd,
        ],
        Reason::StartApprovesPending,
    );
    assert_eq!(started, expect(O::None, None, M::KubeReady, true, true));
}

#[test]
fn approve_never_starts_a_unit_the_operator_stopped() {
    // Issue 8, item 3: an inactive unit is what systemd records after an operator's stop.
    for state in [State::LocalToKube, State::KubePending] {
        for c in [local(), kube(), kube_fb(), armed(1)] {
            let r = rec_of(state);
            let after = check(
                &r,
                &c,
                Input::Approve { unit: U::Inactive },
                state,
                vec![],
                Reason::ApproveDeferredUnitStopped,
            );
            assert_eq!(after, unchanged(&r), "{state}");
        }
    }
}

#[test]
fn approve_of_a_failed_unit_marks_the_row_then_resets_and_starts_it() {
    // A unit systemd gave up on (StartLimitBurst after a crash-looping kube image) is still
    // wanted: the approval goes ahead, and the marker lets a restarted hostcfgd finish it.
    let r = rec_of(State::KubePending);
    let after = check(
        &r,
        &kube(),
        Input::Approve { unit: U::Failed },
        State::KubeReady,
        vec![
            requested_write(Some(M::KubePending), true),
            Effect::SystemctlResetFailed,
            Effect::SystemctlStart,
        ],
        Reason::ApproveStartsFailedUnit,
    );
    assert_eq!(after.start_requested_ts, Some(NOW));
    assert!(approval_pending(&after));
    // hostcfgd crashed after its reset-failed: the unit is inactive now, but the marker says
    // this system reset it, so the restarted hostcfgd finishes the start.
    check(
        &after,
        &kube(),
        Input::Approve { unit: U::Inactive },
        State::KubeReady,
        vec![Effect::SystemctlResetFailed, Effect::SystemctlStart],
        Reason::ApproveFinishesRequestedStart,
    );
    // The Start clears the marker first, then approves.
    let started = step(&after, &kube(), Input::Start, NOW);
    assert_eq!(
        started.effects,
        vec![
            requested_write(None, false),
            stop_local_by_name(),
            mode_write(M::KubePending, M::KubeReady),
            Effect::LabelAdd
        ]
    );
    let mut done = after.clone();
    apply_writes(&mut done, &started.effects);
    assert_eq!(done.start_requested_ts, None);
    assert!(!approval_pending(&done));
}

#[test]
fn a_marker_left_on_a_row_that_is_no_longer_pending_is_finished_or_cleared() {
    for state in State::ALL {
        let r = requested(rec_of(state));
        assert!(approval_pending(&r), "{state}");
        if matches!(state, State::LocalToKube | State::KubePending) {
            continue;
        }
        for unit in [U::Inactive, U::Failed] {
            let s = step(&r, &kube(), Input::Approve { unit }, NOW);
            assert_eq!(
                s.effects,
                vec![Effect::SystemctlResetFailed, Effect::SystemctlStart],
                "{state} {unit}"
            );
            assert_eq!(s.reason, Reason::ApproveFinishesRequestedStart);
        }
        let after = check(
            &r,
            &kube(),
            Input::Approve { unit: U::Active },
            state,
            vec![requested_write(None, false)],
            Reason::ApproveRequestDone,
        );
        assert!(!approval_pending(&after), "{state}");
    }
}

#[test]
fn a_stale_approval_after_an_in_place_approval_restarts_an_active_unit_and_ends_approved() {
    // hostcfgd decided Approve in KUBE_PENDING; systemd's Restart=always Start approved in place
    // before hostcfgd's job ran. Its plan holds no write that could lose: the restart it
    // carries out brings the feature back up, approved again.
    let r = rec_of(State::KubePending);
    let plan = step(&r, &kube(), Input::Approve { unit: U::Active }, NOW);
    assert_eq!(
        plan.effects,
        vec![
            Effect::SystemctlResetStartLimit,
            Effect::SystemctlTryRestart
        ]
    );
    let approved = check(
        &r,
        &kube(),
        Input::Start,
        State::KubeReady,
        vec![
            stop_local_by_name(),
            mode_write(M::KubePending, M::KubeReady),
            Effect::LabelAdd,
        ],
        Reason::StartApprovesPending,
    );
    let stopped = check(
        &approved,
        &kube(),
        Input::Stop(OPTS),
        State::Init,
        vec![Effect::LabelRemove, mode_write(M::KubeReady, M::None)],
        Reason::StopReady,
    );
    let started = check(
        &stopped,
        &kube(),
        Input::Start,
        State::KubeReady,
        vec![
            stop_local_by_name(),
            mode_write(M::None, M::KubeReady),
            Effect::LabelAdd,
        ],
        Reason::StartKubeApproved,
    );
    assert_eq!(started, expect(O::None, None, M::KubeReady, false, true));
}

#[test]
fn approve_without_a_pending_kube_container_does_nothing() {
    for state in [
        State::Init,
        State::Local,
        State::KubeReady,
        State::KubeRunning,
        State::KubeStopped,
    ] {
        for unit in U::ALL {
            let r = rec_of(state);
            let after = check(
                &r,
                &kube(),
                Input::Approve { unit },
                state,
                vec![],
                Reason::ApproveNothingPending,
            );
            assert_eq!(after, unchanged(&r), "{state}");
        }
    }
}

// ---- FailureTimeout (kube-monit) and next_deadline --------------------------------------------

/// A record of `state` whose mode changed at `EARLIER`.
fn waiting_since_earlier(state: State) -> FeatureRecord {
    rec_of(state)
}

#[test]
fn failure_timeout_of_an_active_unit_is_a_bare_try_restart_whose_start_falls_back() {
    for state in [State::KubeReady, State::KubeStopped] {
        let c = armed(5);
        let r = waiting_since_earlier(state);
        let after = check(
            &r,
            &c,
            Input::FailureTimeout { unit: U::Active },
            State::Local,
            vec![
                Effect::SystemctlResetStartLimit,
                Effect::SystemctlTryRestart,
            ],
            Reason::FailureRestartsUnit,
        );
        // kube-monit writes nothing: a crash after its job leaves nothing half-done.
        assert_eq!(after, unchanged(&r), "{state}");
    }
    // KUBE_STOPPED: the restart's Stop keeps the state, and its Start decides the fallback
    // from the deadline.
    let c = armed(1);
    let r = waiting_since_earlier(State::KubeStopped);
    let stopped = check(
        &r,
        &c,
        Input::Stop(OPTS),
        State::KubeStopped,
        vec![],
        Reason::StopKubeStoppedKeepsLabel,
    );
    let started = check(
        &stopped,
        &c,
        Input::Start,
        State::Local,
        vec![
            mode_write(M::KubeStopped, M::None),
            Effect::LabelAdd,
            Effect::DockerStart,
        ],
        Reason::StartFallsBackAfterDeadline,
    );
    assert_eq!(started, expect(O::None, None, M::None, false, true)); // KUBE_READY: the restart's Stop goes to INIT, and the Start from INIT with fallback runs
    // the local image and adds the label back.
    let r = waiting_since_earlier(State::KubeReady);
    let stopped = check(
        &r,
        &c,
        Input::Stop(OPTS),
        State::Init,
        vec![Effect::LabelRemove, mode_write(M::KubeReady, M::None)],
        Reason::StopReady,
    );
    check(
        &stopped,
        &c,
        Input::Start,
        State::Local,
        vec![Effect::LabelAdd, Effect::DockerStart],
        Reason::StartKubeFallbackLocal,
    );
}

#[test]
fn failure_timeout_never_starts_a_unit_the_operator_stopped() {
    // Issue 8, item 3: owner kube, fallback, N > 0; the operator's `systemctl stop` left
    // KUBE_STOPPED with the unit inactive. N minutes later, kube-monit does nothing.
    for state in [State::KubeReady, State::KubeStopped] {
        let r = waiting_since_earlier(state);
        let after = check(
            &r,
            &armed(1),
            Input::FailureTimeout { unit: U::Inactive },
            state,
            vec![],
            Reason::FailureUnitStopped,
        );
        assert_eq!(after, unchanged(&r), "{state}");
    }
    // When the operator starts it again, that Start falls back at once.
    check(
        &rec_of(State::KubeStopped),
        &armed(1),
        Input::Start,
        State::Local,
        vec![
            mode_write(M::KubeStopped, M::None),
            Effect::LabelAdd,
            Effect::DockerStart,
        ],
        Reason::StartFallsBackAfterDeadline,
    );
}

#[test]
fn failure_timeout_of_a_failed_unit_marks_resets_and_starts_and_a_crash_is_finished_later() {
    let c = armed(1);
    let r = waiting_since_earlier(State::KubeStopped);
    let marked = check(
        &r,
        &c,
        Input::FailureTimeout { unit: U::Failed },
        State::Local,
        vec![
            requested_write(Some(M::KubeStopped), true),
            Effect::SystemctlResetFailed,
            Effect::SystemctlStart,
        ],
        Reason::FailureStartsFailedUnit,
    );
    // kube-monit crashed after its reset-failed: the unit is inactive and the row marked;
    // either daemon finishes the start.
    assert!(approval_pending(&marked));
    for input in [
        Input::FailureTimeout { unit: U::Inactive },
        Input::Approve { unit: U::Inactive },
    ] {
        let s = step(&marked, &c, input, NOW);
        assert_eq!(
            s.effects,
            vec![Effect::SystemctlResetFailed, Effect::SystemctlStart]
        );
        assert_eq!(s.next, State::Local);
    }
}

#[test]
fn a_start_from_kube_ready_or_kube_stopped_before_the_deadline_does_not_fall_back() {
    let c = armed(10);
    for (state, reason) in [
        (State::KubeReady, Reason::StartAlreadyUnderWay),
        (State::KubeStopped, Reason::StartKubeAfterStopped),
    ] {
        let r = waiting_since_earlier(state);
        let deadline = next_deadline(&r, &c).expect("armed");
        let s = step(&r, &c, Input::Start, deadline - 1);
        assert_eq!(s.reason, reason, "{state}");
        assert_eq!(s.next, State::KubeReady, "{state}");
        let s = step(&r, &c, Input::Start, deadline);
        assert_eq!(s.reason, Reason::StartFallsBackAfterDeadline, "{state}");
        assert_eq!(s.next, State::Local, "{state}");
    }
}

#[test]
fn failure_timeout_before_the_deadline_is_not_due_and_at_the_deadline_is() {
    for state in [State::KubeReady, State::KubeStopped] {
        let c = armed(3);
        let r = waiting_since_earlier(state);
        let deadline = next_deadline(&r, &c).expect("armed in a waiting state");
        assert_eq!(deadline, EARLIER + 3 * 60);
        let early = step(
            &r,
            &c,
            Input::FailureTimeout { unit: U::Active },
            deadline - 1,
        );
        assert_eq!(
            early,
            Step {
                next: state,
                effects: vec![],
                reason: Reason::FailureNotDue
            }
        );
        let due = step(&r, &c, Input::FailureTimeout { unit: U::Active }, deadline);
        assert_eq!(due.reason, Reason::FailureRestartsUnit, "{state}");
        assert_eq!(due.next, State::Local);
    }
}

#[test]
fn failure_timeout_without_a_mode_timestamp_is_due_at_once() {
    let c = armed(10);
    let mut r = rec_of(State::KubeReady);
    r.transition_mode_update_ts = None;
    assert_eq!(next_deadline(&r, &c), Some(600));
    let s = step(&r, &c, Input::FailureTimeout { unit: U::Active }, NOW);
    assert_eq!(s.reason, Reason::FailureRestartsUnit);
}

#[test]
fn failure_timeout_does_not_apply_unless_owner_is_kube_with_fallback_and_n_above_zero() {
    let not_armed = [
        FeatureConfig {
            kube_failure_detection_mins: 5,
            ..cfg(Owner::Local, true)
        },
        FeatureConfig {
            kube_failure_detection_mins: 5,
            ..kube()
        },
        armed(0),
    ];
    for c in not_armed {
        for state in [State::KubeReady, State::KubeStopped] {
            let r = waiting_since_earlier(state);
            assert_eq!(next_deadline(&r, &c), None, "{state} {c:?}");
            let after = check(
                &r,
                &c,
                Input::FailureTimeout { unit: U::Active },
                state,
                vec![],
                Reason::FailureNotApplicable,
            );
            assert_eq!(after, unchanged(&r));
        }
    }
}

#[test]
fn failure_timeout_does_not_apply_where_a_container_runs_or_waits_for_approval() {
    let c = armed(1);
    for state in [
        State::Init,
        State::Local,
        State::LocalToKube,
        State::KubePending,
        State::KubeRunning,
    ] {
        let r = rec_of(state);
        assert_eq!(next_deadline(&r, &c), None, "{state}");
        // Long after any deadline.
        let s = step(
            &r,
            &c,
            Input::FailureTimeout { unit: U::Active },
            NOW + 1_000_000,
        );
        assert_eq!(
            s,
            Step {
                next: state,
                effects: vec![],
                reason: Reason::FailureNotApplicable
            }
        );
    }
}

#[test]
fn next_deadline_is_the_mode_timestamp_plus_n_minutes_in_kube_ready_and_kube_stopped() {
    for state in [State::KubeReady, State::KubeStopped] {
        for n in [1_u32, 7, 60] {
            let mut r = rec_of(state);
            r.transition_mode_update_ts = Some(NOW);
            // The owner timestamp plays no part.
            r.current_owner_update_ts = Some(1);
            assert_eq!(
                next_deadline(&r, &armed(n)),
                Some(NOW + u64::from(n) * 60),
                "{state} N={n}"
            );
        }
    }
}

#[test]
fn next_deadline_saturates_instead_of_overflowing() {
    let mut r = rec_of(State::KubeReady);
    r.transition_mode_update_ts = Some(Timestamp::MAX - 10);
    assert_eq!(next_deadline(&r, &armed(u32::MAX)), Some(Timestamp::MAX));
}

// ---- approval_pending -------------------------------------------------------------------------

#[test]
fn approval_is_pending_exactly_when_the_record_reads_as_a_pending_state_or_is_marked() {
    for state in State::ALL {
        let want = matches!(state, State::LocalToKube | State::KubePending);
        assert_eq!(approval_pending(&rec_of(state)), want, "{state}");
    }
    for owner in [O::None, O::Local, O::Kube] {
        for mode in TransitionMode::ALL {
            for id in [None, Some(cid(KUBE_ID))] {
                let r = FeatureRecord {
                    current_owner: owner,
                    transition_mode: mode,
                    docker_id: id,
                    ..FeatureRecord::default()
                };
                // The same total rule as step (issue 8, item 2: kube/kube_pending without an
                // id reads as KUBE_STOPPED, where step approves nothing).
                assert_eq!(
                    approval_pending(&r),
                    matches!(r.state(), State::LocalToKube | State::KubePending),
                    "{owner} {mode}"
                );
            }
        }
    }
}

// ---- the decoding rule for non-canonical pairs ------------------------------------------------

#[test]
fn canonical_pairs_read_as_their_state_and_an_id_that_contradicts_the_owner_is_an_anomaly() {
    for state in State::ALL {
        let (owner, mode) = state.pair();
        for id in [None, Some(cid(KUBE_ID))] {
            let r = FeatureRecord {
                current_owner: owner,
                docker_id: id.clone(),
                transition_mode: mode,
                ..FeatureRecord::default()
            };
            // Invariant 3: an owner none with an id, or a kube owner without one, is not a
            // state: read as the nearest, and the next write makes the record canonical.
            let fits = match owner {
                O::None => id.is_none(),
                O::Kube => id.is_some(),
                O::Local => true,
            };
            let (read_as, anomaly) = r.classify();
            assert_eq!(anomaly.is_none(), fits, "{state} id={id:?}");
            let want = if state == State::KubeRunning && !fits {
                State::KubeStopped
            } else {
                state
            };
            assert_eq!(read_as, want, "{state} id={id:?}");
        }
    }
}

#[test]
fn non_canonical_pairs_read_as_the_nearest_state_with_an_anomaly() {
    let id = Some(cid(KUBE_ID));
    let cases = [
        // kube with a mode other than kube_running: running with an id, else stopped.
        (O::Kube, M::None, true, State::KubeRunning),
        (O::Kube, M::KubePending, true, State::KubeRunning),
        (O::Kube, M::KubeReady, true, State::KubeRunning),
        (O::Kube, M::KubeStopped, true, State::KubeRunning),
        (O::Kube, M::None, false, State::KubeStopped),
        (O::Kube, M::KubePending, false, State::KubeStopped),
        (O::Kube, M::KubeReady, false, State::KubeStopped),
        (O::Kube, M::KubeStopped, false, State::KubeStopped),
        // local with a kube mode other than kube_pending: the local container runs.
        (O::Local, M::KubeReady, true, State::Local),
        (O::Local, M::KubeRunning, true, State::Local),
        (O::Local, M::KubeStopped, true, State::Local),
        (O::Local, M::KubeReady, false, State::Local),
        (O::Local, M::KubeRunning, false, State::Local),
        (O::Local, M::KubeStopped, false, State::Local),
        // none with kube_running: nothing claims the feature.
        (O::None, M::KubeRunning, false, State::KubeStopped),
        (O::None, M::KubeRunning, true, State::KubeStopped),
    ];
    for (owner, mode, has_id, read_as) in cases {
        let r = FeatureRecord {
            current_owner: owner,
            docker_id: if has_id { id.clone() } else { None },
            transition_mode: mode,
            ..FeatureRecord::default()
        };
        let (state, anomaly) = r.classify();
        assert_eq!(state, read_as, "{owner} {mode} id={has_id}");
        assert_eq!(r.state(), read_as);
        let anomaly = anomaly.expect("a non-canonical pair is reported");
        assert_eq!(anomaly.current_owner, owner);
        assert_eq!(anomaly.transition_mode, mode);
        assert_eq!(anomaly.has_docker_id, has_id);
        assert_eq!(anomaly.read_as, read_as);
        let text = anomaly.to_string();
        assert!(text.contains(owner.as_str()), "{text}");
        assert!(text.contains(mode.as_str()), "{text}");
        assert!(text.contains(read_as.as_str()), "{text}");
    }
    // Every one of the 15 pairs is either canonical or in the list above.
    let canonical: Vec<_> = State::ALL.iter().map(|s| s.pair()).collect();
    for owner in [O::None, O::Local, O::Kube] {
        for mode in TransitionMode::ALL {
            let listed = cases.iter().any(|(o, m, _, _)| *o == owner && *m == mode);
            assert!(
                canonical.contains(&(owner, mode)) || listed,
                "{owner} {mode} is neither canonical nor covered"
            );
        }
    }
}

#[test]
fn a_non_canonical_record_is_stepped_as_the_state_it_reads_as_with_its_real_mode_as_guard() {
    // kube with kube_pending and an id reads as KUBE_RUNNING: a Stop stops that container and
    // guards its write with the mode actually recorded.
    let r = FeatureRecord {
        current_owner: O::Kube,
        current_owner_update_ts: Some(EARLIER),
        docker_id: Some(cid(KUBE_ID)),
        transition_mode: M::KubePending,
        transition_mode_update_ts: Some(EARLIER),
        start_requested_ts: None,
    };
    let after = check(
        &r,
        &kube(),
        Input::Stop(OPTS),
        State::KubeStopped,
        vec![
            Effect::LabelRemove,
            Effect::AwaitExit {
                id: cid(KUBE_ID),
                timeout_secs: OPTS.kube_exit_wait_secs,
                grace_secs: OPTS.grace_secs,
            },
            both_write(M::KubePending, O::None, None, M::KubeStopped),
        ],
        Reason::StopKubeRunning,
    );
    assert_eq!(after, expect(O::None, None, M::KubeStopped, true, true));
}

// ---- totality and determinism -----------------------------------------------------------------

/// Records to step: every canonical state and every one of the 15 pairs, each with no id, the
/// id the inputs name, and another id, with and without timestamps.
fn all_records() -> Vec<FeatureRecord> {
    let mut out = Vec::new();
    for owner in [O::None, O::Local, O::Kube] {
        for mode in TransitionMode::ALL {
            for id in [None, Some(cid(KUBE_ID)), Some(cid(OTHER_ID))] {
                for ts in [None, Some(EARLIER)] {
                    out.push(FeatureRecord {
                        current_owner: owner,
                        current_owner_update_ts: ts,
                        docker_id: id.clone(),
                        transition_mode: mode,
                        transition_mode_update_ts: ts,
                        start_requested_ts: ts,
                    });
                }
            }
        }
    }
    out
}

/// Every kind of input, with the ids a record may or may not hold.
fn all_inputs() -> Vec<Input> {
    let mut out = vec![
        Input::Start,
        Input::Stop(StopOptions::default()),
        Input::Stop(OPTS),
        Input::Kill,
    ];
    for unit in U::ALL {
        out.push(Input::Approve { unit });
        out.push(Input::FailureTimeout { unit });
    }
    for id in [KUBE_ID, OTHER_ID] {
        out.push(Input::LocalUp(cid(id)));
        out.push(Input::KubeUp(cid(id)));
        out.push(Input::Down(cid(id)));
    }
    out
}

fn all_configs() -> Vec<FeatureConfig> {
    let mut out = Vec::new();
    for owner in [Owner::Local, Owner::Kube] {
        for fallback in [false, true] {
            for n in [0, 1, u32::MAX] {
                out.push(FeatureConfig {
                    set_owner: owner,
                    fallback_to_local: fallback,
                    kube_failure_detection_mins: n,
                    state: None,
                    ..FeatureConfig::default()
                });
            }
        }
    }
    out
}

#[test]
fn every_state_answers_every_input_under_every_config_without_panicking() {
    let mut answered = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for r in all_records() {
        for c in all_configs() {
            for input in all_inputs() {
                for now in [0, EARLIER, NOW, Timestamp::MAX] {
                    let s = step(&r, &c, input.clone(), now);
                    assert!(!s.reason.text().is_empty());
                    // A KubeUp always gets exactly one answer; no other input gets one.
                    let answers = s
                        .effects
                        .iter()
                        .filter(|e| matches!(e, Effect::Answer(_)))
                        .count();
                    let want = usize::from(matches!(input, Input::KubeUp(_)));
                    assert_eq!(answers, want, "{r:?} {c:?} {input:?}");
                    // Every write is stamped with `now`.
                    for e in &s.effects {
                        if let Effect::Write(w) = e {
                            assert_eq!(w.now, now);
                        }
                    }
                    kinds.insert(input.name());
                    answered += 1;
                }
            }
        }
    }
    assert_eq!(kinds.len(), 8, "every input kind was stepped: {kinds:?}");
    assert_eq!(answered, 90 * 12 * 16 * 4);
}

#[test]
fn every_canonical_state_answers_every_input_kind_under_every_config() {
    for state in State::ALL {
        for c in all_configs() {
            for input in all_inputs() {
                let s = step(&rec_of(state), &c, input.clone(), NOW);
                assert!(State::ALL.contains(&s.next), "{state} {input:?}");
            }
        }
    }
}

#[test]
fn step_is_deterministic_for_the_same_arguments() {
    for r in all_records() {
        for c in all_configs() {
            for input in all_inputs() {
                let a = step(&r, &c, input.clone(), NOW);
                let b = step(&r.clone(), &c.clone(), input.clone(), NOW);
                assert_eq!(a, b, "{r:?} {c:?} {input:?}");
            }
        }
    }
}

#[test]
fn stopping_a_non_canonical_local_record_with_kube_ready_leaves_a_canonical_init() {
    // `local`/`kube_ready` reads as LOCAL; a Stop must not leave `none`/`kube_ready`, which
    // would read as an approval no Start gave.
    let rec = FeatureRecord {
        current_owner: CurrentOwner::Local,
        docker_id: Some(cid("abc")),
        transition_mode: TransitionMode::KubeReady,
        ..FeatureRecord::default()
    };
    let cfg = FeatureConfig::new(Owner::Local, false);
    let s = step(&rec, &cfg, Input::Stop(StopOptions::default()), 50);
    assert_eq!(s.next, State::Init);
    let mut after = rec.clone();
    apply_writes(&mut after, &s.effects);
    assert_eq!(after.classify(), (State::Init, None));
    assert!(s.effects.iter().any(|e| matches!(
        e,
        Effect::Write(w) if w.guard == Some(TransitionMode::KubeReady)
    )));
}

/// The failure deadline counts minutes of `minute_secs` seconds (the tunable
/// `failure_detection_minute_secs`, which tests shorten): kube-monit and the Start that follows
/// its restart measure the same deadline.
#[test]
fn the_failure_deadline_counts_minutes_of_the_configured_length() {
    let r = FeatureRecord {
        transition_mode_update_ts: Some(100),
        ..rec_of(State::KubeReady)
    };
    let c = FeatureConfig {
        minute_secs: 3,
        ..armed(2)
    };
    assert_eq!(next_deadline(&r, &c), Some(106));
    assert_eq!(
        next_deadline(&r, &armed(2)),
        Some(220),
        "60 s minutes by default"
    );
    assert_eq!(
        FeatureConfig::default().minute_secs,
        ctrmgr_core::MINUTE_SECS
    );
}
