//! The seed's literal approval flow: the pending container sleeps for ever and hostcfgd relies
//! on the label flap (stop removes it, start adds it) to make kube recreate it.

use ctrmgr_core::State;
use ctrmgr_model::model::Action;
use ctrmgr_model::world::{Phase, World};
use ctrmgr_model::{
    DEFAULT_DEPTH, FeatureWorld, Flow, check_model, minimize_counterexamples, names, seed_scenarios,
};

use crate::print_outcome;

fn sleeping(w: &World) -> bool {
    w.ctr().is_some_and(|c| c.phase == Phase::Sleeping)
}

#[test]
fn seed_flow_sleeps_for_ever_in_kube_ready_when_the_label_flaps() {
    let model = FeatureWorld {
        flow: Flow::Seed,
        scenarios: seed_scenarios(),
    };
    let mut outcome = check_model(model.clone(), DEFAULT_DEPTH);
    minimize_counterexamples(&model, &mut outcome);
    print_outcome("seed flow", &outcome, false);
    assert!(outcome.complete);
    assert!(
        outcome.violated.contains(&names::LIVE_KUBE.to_owned()),
        "the seed flow should fail liveness 5a; violated: {:?}",
        outcome.violated
    );
    let trace = outcome
        .discoveries
        .get(names::LIVE_KUBE)
        .expect("a violated property has a counterexample");

    // Where it ends: approved (KUBE_READY), the label on the node, the pod's container asleep.
    let end = trace.last();
    assert_eq!(end.row.state(), State::KubeReady, "ends in {end}");
    assert!(end.label, "ends with the label off: {end}");
    assert!(sleeping(end), "no sleeping container at the end: {end}");

    // How it got there: while a container slept, the label went off and on again and the
    // DaemonSet controller never acted in between, so the sleeping pod was never deleted.
    let worlds: Vec<&World> = trace.worlds().collect();
    let off = worlds
        .windows(2)
        .position(|w| w[0].label && !w[1].label && sleeping(w[0]))
        .expect("the label is removed while the container sleeps");
    let on = worlds[off + 1..]
        .windows(2)
        .position(|w| !w[0].label && w[1].label)
        .map(|i| off + 1 + i)
        .expect("the label comes back");
    let controller_acted = trace.steps[off..on]
        .iter()
        .any(|(a, _)| *a == Action::ControllerDelete);
    assert!(
        !controller_acted,
        "the controller deleted the pod between the label flaps"
    );
    assert!(
        worlds[off..].iter().all(|w| sleeping(w)),
        "the same container sleeps from the flap to the end"
    );
}
