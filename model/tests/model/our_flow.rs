//! This project's flow, driving the real `ctrmgr_core::step`.

use ctrmgr_model::{
    DEFAULT_DEPTH, FeatureWorld, Flow, Outcome, check_model, minimize_counterexamples, names,
    seed_scenarios,
};

use crate::print_outcome;

/// Fewer unique states than this means the model no longer explores the world (a broken
/// action, a scenario that cannot boot); the default scenarios have about 3.0 million.
const STATE_FLOOR: usize = 200_000;

/// Checks, and when something fails, replaces the counterexamples by shortest ones.
fn check_shortened(model: FeatureWorld) -> Outcome {
    let mut outcome = check_model(model.clone(), DEFAULT_DEPTH);
    if !outcome.violated.is_empty() {
        minimize_counterexamples(&model, &mut outcome);
    }
    outcome
}

#[test]
fn our_flow_keeps_every_property_in_the_default_scenarios() {
    let outcome = check_shortened(FeatureWorld::new(Flow::Ours));
    print_outcome("our flow", &outcome, false);
    assert!(
        outcome.report.unique_states > STATE_FLOOR,
        "only {} unique states: the model explores almost nothing",
        outcome.report.unique_states
    );
    assert!(
        outcome.complete,
        "the depth bound {} cut the exploration off",
        outcome.bound
    );
    assert!(
        outcome.unexampled.is_empty(),
        "no example found for {:?}: part of the world is unreachable",
        outcome.unexampled
    );
    assert!(
        outcome.violated.is_empty(),
        "properties violated (counterexamples above): {:#?}",
        outcome.violated
    );
}

#[test]
fn our_flow_reaches_kube_running_in_the_seed_scenarios() {
    // The same scenarios in which the seed's flow gets stuck (see seed_flow.rs).
    let outcome = check_shortened(FeatureWorld {
        flow: Flow::Ours,
        scenarios: seed_scenarios(),
    });
    print_outcome("our flow, seed scenarios", &outcome, false);
    assert!(outcome.complete);
    assert!(
        !outcome
            .unexampled
            .contains(&names::SOMETIMES_RUNNING.to_owned()),
        "KUBE_RUNNING is never reached"
    );
    assert!(
        outcome.violated.is_empty(),
        "properties violated (counterexamples above): {:#?}",
        outcome.violated
    );
}

#[test]
#[ignore = "about two minutes: every environment event at once; `cargo xtask ci` runs it (--run-ignored all)"]
fn our_flow_keeps_every_property_in_the_extended_scenarios() {
    let outcome = check_shortened(FeatureWorld {
        flow: Flow::Ours,
        scenarios: ctrmgr_model::extended_scenarios(),
    });
    print_outcome("our flow, extended", &outcome, false);
    assert!(outcome.report.unique_states > STATE_FLOOR);
    assert!(outcome.complete);
    assert!(
        outcome.violated.is_empty(),
        "properties violated (counterexamples above): {:#?}",
        outcome.violated
    );
}
