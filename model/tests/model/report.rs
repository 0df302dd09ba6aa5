//! The public report used by `cargo xtask codegen`.

use ctrmgr_model::{check_seed_flow, names};

#[test]
fn seed_flow_report_says_liveness_fails_and_is_deterministic() {
    let first = check_seed_flow();
    let second = check_seed_flow();
    eprintln!(
        "seed flow report: {} states ({} unique) explored to depth {}",
        first.states, first.unique_states, first.depth
    );
    assert_eq!(first, second, "two runs of the same check differ");
    assert!(
        first.unique_states > 100,
        "the seed scenarios explore nothing"
    );
    let live = first
        .properties
        .iter()
        .find(|(name, _)| name == names::LIVE_KUBE)
        .expect("liveness 5a is reported");
    assert!(!live.1, "liveness 5a reported as holding in the seed flow");
    let inv2 = first
        .properties
        .iter()
        .find(|(name, _)| name == names::INV2)
        .expect("invariant 2 is reported");
    assert!(
        inv2.1,
        "the seed flow does not break invariant 2 in its own scenarios"
    );
}
