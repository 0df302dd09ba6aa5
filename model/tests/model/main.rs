//! Model checks of one feature's world (DESIGN.md §4, §9 "Core"): this project's approval flow
//! keeps every property, and the seed's literal flow loses liveness when the label flaps
//! faster than the asynchronous DaemonSet controller acts.
//!
//! The checks print their numbers and any counterexample with `eprintln!`, so that they show
//! whether or not the test harness captures output.

mod our_flow;
mod report;
mod seed_flow;
mod wave1;

use ctrmgr_model::Outcome;

/// Prints the summary line and every counterexample (and, with `examples`, every example).
fn print_outcome(label: &str, outcome: &Outcome, examples: bool) {
    eprintln!("{label}: {}", outcome.summary());
    for (name, trace) in &outcome.discoveries {
        let violated = outcome.violated.contains(name);
        if violated || examples {
            let kind = if violated {
                "COUNTEREXAMPLE"
            } else {
                "example"
            };
            eprintln!(
                "{label}: {kind} for \"{name}\" ({} steps):\n{trace}",
                trace.steps.len()
            );
        }
    }
}
