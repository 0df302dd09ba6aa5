//! The daemons' rules of wave 1 (`Flow::Wave1`), checked in the scenarios issue 8 added to the
//! model: the properties that issue 8 asked for fail, so the model would have found items 3
//! and 4. This project's flow keeps them in the same scenarios (`our_flow.rs`).

use ctrmgr_core::Owner;
use ctrmgr_model::{
    Budget, Cfg, DEFAULT_DEPTH, FeatureWorld, Flow, Kube, Scenario, check_model, names,
};

use crate::print_outcome;

fn kube_fb_n() -> Cfg {
    Cfg {
        owner: Owner::Kube,
        fb: true,
        n: true,
    }
}

#[test]
fn wave1_restarts_a_unit_the_operator_stopped() {
    // Issue 8, item 3: owner kube, fallback, N > 0; a lone operator stop.
    let model = FeatureWorld {
        flow: Flow::Wave1,
        scenarios: vec![Scenario {
            cfg: kube_fb_n(),
            kube: Kube::Deploys,
            stale_label: false,
            budget: Budget {
                stops: 1,
                deadlines: 2,
                ..Budget::default()
            },
            burst: 0,
        }],
    };
    let outcome = check_model(model, DEFAULT_DEPTH);
    print_outcome("wave 1, lone stop", &outcome, false);
    assert!(
        outcome.violated.iter().any(|v| v == names::INV6),
        "wave 1's daemons should start a unit the operator stopped: {:?}",
        outcome.violated
    );
}

#[test]
fn wave1_leaves_the_feature_down_after_a_daemon_crash_or_a_start_limit() {
    // Issue 8, item 4: daemon crashes at every step, and a crash-looping kube image on a unit
    // with a start rate limit.
    let model = FeatureWorld {
        flow: Flow::Wave1,
        scenarios: vec![
            Scenario {
                cfg: kube_fb_n(),
                kube: Kube::Deploys,
                stale_label: false,
                budget: Budget {
                    faults: 1,
                    deadlines: 2,
                    ..Budget::default()
                },
                burst: 0,
            },
            Scenario {
                cfg: kube_fb_n(),
                kube: Kube::Deploys,
                stale_label: false,
                budget: Budget {
                    crash_loop: 3,
                    deadlines: 2,
                    ..Budget::default()
                },
                burst: ctrmgr_model::CRASH_LOOP_BURST,
            },
        ],
    };
    let outcome = check_model(model, DEFAULT_DEPTH);
    print_outcome("wave 1, crashes and start limit", &outcome, false);
    assert!(
        outcome.violated.iter().any(|v| v == names::END_KUBE),
        "wave 1 should end down after a fault: {:?}",
        outcome.violated
    );
}
