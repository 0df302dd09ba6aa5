//! The checks of another shape than a row: the failure deadline, `approval_pending`, the
//! decoding rule for non-canonical pairs, and the totality and determinism of `step`.

use ctrmgr_core::{
    CurrentOwner as O, Effect, FeatureConfig, FeatureRecord, Input, Owner, Reason, State,
    StopOptions, Timestamp, TransitionMode as M, UnitActivity as U, apply_writes, approval_pending,
    next_deadline, step,
};

use super::daemons::{NOT_WAITING, not_armed, requested};
use super::{KUBE_ID, OPTS, OTHER_ID, armed, cfg_name, kube, rec_of};
use crate::{EARLIER, NOW, cid};

/// `n` seconds since the epoch.
const fn at(n: u64) -> Timestamp {
    Timestamp::from_secs(n)
}

/// One second before `t`.
const fn just_before(t: Timestamp) -> Timestamp {
    at(t.secs() - 1)
}

// ---- FailureTimeout (kube-monit) and next_deadline --------------------------------------------

#[test]
fn a_marker_left_on_a_row_that_is_no_longer_pending_is_finished_by_an_inactive_or_failed_unit() {
    // An active unit clears it: rows `an_active_unit_clears_a_marker_left_...` in daemons.
    for state in State::ALL {
        let r = requested(rec_of(state), EARLIER);
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
    }
}

#[test]
fn a_start_from_kube_ready_or_kube_stopped_before_the_deadline_does_not_fall_back() {
    let c = armed(10);
    for (state, reason) in [
        (State::KubeReady, Reason::StartAlreadyUnderWay),
        (State::KubeStopped, Reason::StartKubeAfterStopped),
    ] {
        let r = rec_of(state);
        let deadline = next_deadline(&r, &c).expect("armed");
        let s = step(&r, &c, Input::Start, just_before(deadline));
        assert_eq!(s.reason, reason, "{state}");
        assert_eq!(s.next, State::KubeReady, "{state}");
        let s = step(&r, &c, Input::Start, deadline);
        assert_eq!(s.reason, Reason::StartFallsBackAfterDeadline, "{state}");
        assert_eq!(s.next, State::Local, "{state}");
    }
}

#[test]
fn failure_timeout_before_the_deadline_is_not_due_and_at_the_deadline_is() {
    let active = Input::FailureTimeout { unit: U::Active };
    for state in [State::KubeReady, State::KubeStopped] {
        let c = armed(3);
        let r = rec_of(state);
        let deadline = next_deadline(&r, &c).expect("armed in a waiting state");
        assert_eq!(deadline, EARLIER.plus_secs(3 * 60));
        let early = step(&r, &c, active.clone(), just_before(deadline));
        assert_eq!(
            (early.next, early.effects, early.reason),
            (state, vec![], Reason::FailureNotDue)
        );
        let due = step(&r, &c, active.clone(), deadline);
        assert_eq!(due.reason, Reason::FailureRestartsUnit, "{state}");
        assert_eq!(due.next, State::Local);
    }
}

#[test]
fn failure_timeout_without_a_mode_timestamp_is_due_at_once() {
    let c = armed(10);
    let mut r = rec_of(State::KubeReady);
    r.transition_mode_update_ts = None;
    assert_eq!(next_deadline(&r, &c), Some(at(600)));
    let s = step(&r, &c, Input::FailureTimeout { unit: U::Active }, NOW);
    assert_eq!(s.reason, Reason::FailureRestartsUnit);
}

#[test]
fn there_is_no_deadline_unless_armed_and_waiting_for_a_kube_container() {
    // The FailureTimeout rows of daemons step the same records.
    for c in not_armed() {
        for state in [State::KubeReady, State::KubeStopped] {
            assert_eq!(next_deadline(&rec_of(state), &c), None, "{state} {c:?}");
        }
    }
    for state in NOT_WAITING {
        assert_eq!(next_deadline(&rec_of(state), &armed(1)), None, "{state}");
    }
}

#[test]
fn next_deadline_is_the_mode_timestamp_plus_n_minutes_in_kube_ready_and_kube_stopped() {
    for state in [State::KubeReady, State::KubeStopped] {
        for n in [1_u32, 7, 60] {
            let mut r = rec_of(state);
            r.transition_mode_update_ts = Some(NOW);
            // The owner timestamp plays no part.
            r.current_owner_update_ts = Some(at(1));
            assert_eq!(
                next_deadline(&r, &armed(n)),
                Some(NOW.plus_secs(u64::from(n) * 60)),
                "{state} N={n}"
            );
        }
    }
}

#[test]
fn next_deadline_saturates_instead_of_overflowing() {
    let mut r = rec_of(State::KubeReady);
    r.transition_mode_update_ts = Some(at(u64::MAX - 10));
    assert_eq!(next_deadline(&r, &armed(u32::MAX)), Some(Timestamp::MAX));
}

/// The failure deadline counts minutes of `minute_secs` seconds (the tunable
/// `failure_detection_minute_secs`, which tests shorten): kube-monit and the Start that follows
/// its restart measure the same deadline.
#[test]
fn the_failure_deadline_counts_minutes_of_the_configured_length() {
    let r = FeatureRecord {
        transition_mode_update_ts: Some(at(100)),
        ..rec_of(State::KubeReady)
    };
    let c = FeatureConfig {
        minute_secs: 3,
        ..armed(2)
    };
    assert_eq!(next_deadline(&r, &c), Some(at(106)));
    assert_eq!(
        next_deadline(&r, &armed(2)),
        Some(at(220)),
        "60 s minutes by default"
    );
    assert_eq!(
        FeatureConfig::default().minute_secs,
        ctrmgr_core::MINUTE_SECS
    );
}

// ---- approval_pending -------------------------------------------------------------------------

#[test]
fn approval_is_pending_exactly_when_the_record_reads_as_a_pending_state_or_is_marked() {
    for state in State::ALL {
        let want = matches!(state, State::LocalToKube | State::KubePending);
        assert_eq!(approval_pending(&rec_of(state)), want, "{state}");
    }
    for owner in [O::None, O::Local, O::Kube] {
        for mode in M::ALL {
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

/// Every non-canonical pair: (owner, mode, has an id, the state it reads as).
const NON_CANONICAL: [(O, M, bool, State); 16] = [
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

#[test]
fn non_canonical_pairs_read_as_the_nearest_state_with_an_anomaly() {
    for (owner, mode, has_id, read_as) in NON_CANONICAL {
        let r = FeatureRecord {
            current_owner: owner,
            docker_id: has_id.then(|| cid(KUBE_ID)),
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
        for mode in M::ALL {
            let listed = NON_CANONICAL
                .iter()
                .any(|(o, m, _, _)| *o == owner && *m == mode);
            assert!(
                canonical.contains(&(owner, mode)) || listed,
                "{owner} {mode} is neither canonical nor covered"
            );
        }
    }
}

#[test]
fn stopping_a_non_canonical_local_record_with_kube_ready_leaves_a_canonical_init() {
    // `local`/`kube_ready` reads as LOCAL; a Stop must not leave `none`/`kube_ready`, which
    // would read as an approval no Start gave.
    let rec = FeatureRecord {
        current_owner: O::Local,
        docker_id: Some(cid("abc")),
        transition_mode: M::KubeReady,
        ..FeatureRecord::default()
    };
    let cfg = FeatureConfig::new(Owner::Local, false);
    let s = step(&rec, &cfg, Input::Stop(StopOptions::default()), at(50));
    assert_eq!(s.next, State::Init);
    let mut after = rec.clone();
    apply_writes(&mut after, &s.effects);
    assert_eq!(after.classify(), (State::Init, None));
    assert!(s.effects.iter().any(|e| matches!(
        e,
        Effect::Write(w) if w.guard == Some(M::KubeReady)
    )));
}

// ---- totality and determinism -----------------------------------------------------------------

/// Records to step: every canonical state and every one of the 15 pairs, each with no id, the
/// id the inputs name, and another id, with and without timestamps.
fn all_records() -> Vec<FeatureRecord> {
    let mut out = Vec::new();
    for owner in [O::None, O::Local, O::Kube] {
        for mode in M::ALL {
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
                for now in [Timestamp::EPOCH, EARLIER, NOW, Timestamp::MAX] {
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
                let at = format!("{state} {} {input:?}", cfg_name(&c));
                assert!(State::ALL.contains(&s.next), "{at}");
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
