//! The upstream mirror (issue 12): random input sequences are driven through `step` the way
//! the driver carries effects out, every write is applied to a simulated STATE_DB row exactly
//! as the adapter sends it (`codec::encode_state_write`, one HSET), and after every transition
//! the row must carry both field sets, consistent with each other: read with the seed's decoder
//! it is the record the core expects, and read as upstream's tools read it (`remote_state`,
//! `container_id`, `system_state`, `update_time`) it says the same thing.

use std::collections::VecDeque;

use ctrmgr_core::codec::upstream::{self, SYSTEM_UP};
use ctrmgr_core::codec::{self, Fields};
use ctrmgr_core::{
    ContainerId, CurrentOwner, Effect, FeatureConfig, FeatureName, FeatureRecord, Input, Owner,
    State, StopOptions, Timestamp, TransitionMode, step,
};
use proptest::prelude::*;
use proptest::test_runner::Config;

use crate::EARLIER;

#[derive(Debug, Clone)]
enum Ev {
    Start,
    Stop,
    Kill,
    LocalUp(u8),
    KubeUp(u8),
    Down(u8),
    /// The operator changes the configuration.
    Configure(bool, bool),
}

fn id(n: u8) -> ContainerId {
    ContainerId::new(&format!("{n:02x}c0ffee0123456789abcdef")).expect("valid id")
}

fn ev() -> impl Strategy<Value = Ev> {
    prop_oneof![
        Just(Ev::Start),
        Just(Ev::Stop),
        Just(Ev::Kill),
        (0u8..4).prop_map(Ev::LocalUp),
        (0u8..4).prop_map(Ev::KubeUp),
        (0u8..4).prop_map(Ev::Down),
        (any::<bool>(), any::<bool>()).prop_map(|(k, f)| Ev::Configure(k, f)),
    ]
}

/// Applies one HSET to the simulated row.
fn hset(row: &mut Fields, pairs: Vec<(&'static str, String)>) {
    for (k, v) in pairs {
        row.insert(k.to_owned(), v);
    }
}

/// Runs one input as the driver does: effects in order, a `DockerStart` feeding `LocalUp`
/// with a fresh id, every write one HSET of the seed's fields and their mirror.
fn run(
    feature: &FeatureName,
    row: &mut Fields,
    cfg: &FeatureConfig,
    input: Input,
    now: Timestamp,
    next_local: &mut u8,
) {
    let key = "FEATURE|f";
    let rec = codec::decode_feature_record(key, row).expect("the row stays decodable");
    let mut effects: VecDeque<Effect> = step(&rec, cfg, input, now).effects.into();
    while let Some(e) = effects.pop_front() {
        match e {
            Effect::DockerStart => {
                *next_local = next_local.wrapping_add(1);
                let rec = codec::decode_feature_record(key, row).expect("decodable");
                let up = step(&rec, cfg, Input::LocalUp(id(100 + *next_local % 50)), now);
                for e in up.effects.into_iter().rev() {
                    effects.push_front(e);
                }
            }
            Effect::Write(w) => {
                let rec = codec::decode_feature_record(key, row).expect("decodable");
                if w.guard.is_some_and(|g| g != rec.transition_mode) {
                    continue;
                }
                hset(row, codec::encode_state_write(feature, &w));
                for (k, v) in upstream::mirror_defaults(&w) {
                    row.entry(k.to_owned()).or_insert_with(|| v.to_owned());
                }
            }
            _ => {}
        }
    }
}

/// The consistency of the two field sets of one row.
fn check(feature: &FeatureName, row: &Fields) -> Result<(), TestCaseError> {
    let rec = codec::decode_feature_record("FEATURE|f", row).expect("decodable");
    let up = upstream::decode_upstream(row);
    // remote_state is the table's image of transition_mode; a row whose mode was never written
    // says `none`, as absent means, once an owner was written.
    match up.mode {
        Some(m) => prop_assert_eq!(m, rec.transition_mode, "row {:?}", row),
        None => prop_assert!(
            !row.contains_key(codec::TRANSITION_MODE) && !row.contains_key(upstream::REMOTE_STATE)
        ),
    }
    if row.contains_key(codec::CURRENT_OWNER) {
        prop_assert!(
            up.mode.is_some(),
            "remote_state set after an owner write: {:?}",
            row
        );
    }
    // container_id: non-empty exactly while an owner runs; the name for local, the short id for
    // kube.
    let want = match rec.current_owner {
        CurrentOwner::None => String::new(),
        CurrentOwner::Local => feature.as_str().to_owned(),
        CurrentOwner::Kube => rec
            .docker_id
            .as_ref()
            .map(|d| d.short().to_owned())
            .unwrap_or_default(),
    };
    if row.contains_key(codec::CURRENT_OWNER) {
        prop_assert_eq!(&up.container_id, &want, "row {:?}", row);
    }
    prop_assert_eq!(up.running(), rec.current_owner != CurrentOwner::None);
    // system_state: up while an owner runs or kube is approved or running; never up with
    // nothing started.
    let state = rec.state();
    if rec.current_owner != CurrentOwner::None || state == State::KubeReady {
        prop_assert_eq!(up.system_state.as_str(), SYSTEM_UP, "row {:?}", row);
    }
    if matches!(state, State::Init | State::KubeStopped) {
        prop_assert_ne!(up.system_state.as_str(), SYSTEM_UP, "row {:?}", row);
    }
    // update_time is the latest of the seed's timestamps.
    let latest = rec
        .current_owner_update_ts
        .max(rec.transition_mode_update_ts);
    prop_assert_eq!(up.update_time, latest);
    Ok(())
}

proptest! {
    #![proptest_config(Config { cases: 400, failure_persistence: None, ..Config::default() })]

    #[test]
    fn state_db_carries_both_field_sets_consistently_after_every_transition(
        start in proptest::sample::select(State::ALL.to_vec()),
        kube in any::<bool>(),
        fallback in any::<bool>(),
        events in proptest::collection::vec(ev(), 1..40),
    ) {
        let feature = FeatureName::new("lldp").expect("valid");
        let mut rec = FeatureRecord::of_state(start, Some(id(1)));
        rec.current_owner_update_ts = Some(EARLIER);
        rec.transition_mode_update_ts = Some(EARLIER);
        let mut row: Fields = codec::encode_feature_record(&rec)
            .into_iter()
            .chain(upstream::mirror_record(&feature, &rec))
            .map(|(k, v)| (k.to_owned(), v))
            .collect();
        check(&feature, &row)?;
        let owner = |k: bool| if k { Owner::Kube } else { Owner::Local };
        let mut cfg = FeatureConfig::new(owner(kube), fallback);
        let mut next_local = 0u8;
        for (i, e) in events.into_iter().enumerate() {
            let now = EARLIER.plus_secs(1 + i as u64);
            let input = match e {
                Ev::Start => Input::Start,
                Ev::Stop => Input::Stop(StopOptions::default()),
                Ev::Kill => Input::Kill,
                Ev::LocalUp(n) => Input::LocalUp(id(n)),
                Ev::KubeUp(n) => Input::KubeUp(id(n)),
                Ev::Down(n) => Input::Down(id(n)),
                Ev::Configure(k, f) => {
                    cfg = FeatureConfig::new(owner(k), f);
                    continue;
                }
            };
            run(&feature, &mut row, &cfg, input, now, &mut next_local);
            check(&feature, &row)?;
        }
    }
}

#[test]
fn every_mode_is_mirrored_as_upstream_spells_remote_state() {
    let spelled: Vec<&str> = TransitionMode::ALL
        .into_iter()
        .map(upstream::remote_state)
        .collect();
    assert_eq!(spelled, ["none", "pending", "ready", "running", "stopped"]);
}

fn opt_value() -> impl Strategy<Value = Option<&'static str>> {
    proptest::option::of(proptest::sample::select(vec![
        "true", "false", "True", "FALSE", "",
    ]))
}

proptest! {
    #![proptest_config(Config { cases: 500, failure_persistence: None, ..Config::default() })]

    /// `sonic-kube migrate`'s rule and the config decoding agree: after the rule, every
    /// `set_owner=kube` row without `fallback_to_local` reads as upstream's ctrmgrd reads it
    /// (absent `no_fallback_to_local` = fallback allowed), a row that has the seed's field keeps
    /// it, and a second run changes nothing.
    #[test]
    fn migrate_then_decode_reads_kube_rows_as_upstream_and_twice_changes_nothing(
        owner in proptest::sample::select(vec!["kube", "KUBE", "local", ""]),
        fallback in opt_value(),
        no_fallback in opt_value(),
    ) {
        let mut row = Fields::new();
        row.insert(codec::SET_OWNER.to_owned(), owner.to_owned());
        if let Some(v) = fallback {
            row.insert(codec::FALLBACK_TO_LOCAL.to_owned(), v.to_owned());
        }
        if let Some(v) = no_fallback {
            row.insert(upstream::NO_FALLBACK_TO_LOCAL.to_owned(), v.to_owned());
        }
        let before = codec::decode_fallback("FEATURE|f", &row).expect("valid values");
        let mut migrated = row.clone();
        if let Some((k, v)) = upstream::migrate_write(&row) {
            prop_assert!(owner.eq_ignore_ascii_case("kube"));
            migrated.insert(k.to_owned(), v.to_owned());
        } else {
            prop_assert_eq!(&migrated, &row);
        }
        prop_assert_eq!(upstream::migrate_write(&migrated), None, "idempotent");
        let after = codec::decode_fallback("FEATURE|f", &migrated).expect("valid values");
        let has_seed_field = fallback.is_some_and(|v| !v.is_empty());
        if has_seed_field || !owner.eq_ignore_ascii_case("kube") {
            prop_assert_eq!(after, before, "rows the rule does not touch read the same");
        } else {
            let upstream_reading = match no_fallback.filter(|v| !v.is_empty()) {
                None => true,
                Some(v) => !v.eq_ignore_ascii_case("true"),
            };
            prop_assert_eq!(after, upstream_reading);
        }
    }
}
