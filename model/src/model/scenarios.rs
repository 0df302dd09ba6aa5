//! The initial situations the model checks.

use ctrmgr_core::Owner;

use crate::world::{Budget, Cfg, Kube};

use super::Scenario;

/// A budget with the given counts and two deadlines.
const fn budget(change: u8, faults: u8, updates: u8, removals: u8, stops: u8) -> Budget {
    Budget {
        change,
        faults,
        updates,
        removals,
        deadlines: 2,
        stops,
        crash_loop: 0,
    }
}

/// The environment's perturbations, in pairs: each default scenario allows two kinds of
/// event (each at most once), because allowing all of them at once multiplies the state space
/// beyond a quick check. The pairs cover every combination of two, except a manifest update
/// with a manifest removal (both only take kube away), and the operator's lone stop with an
/// owner change or a manifest update (a stop ends what the operator does).
pub const FAMILIES: [(&str, Budget); 7] = [
    ("owner change + manifest update", budget(1, 0, 1, 0, 0)),
    ("owner change + fault", budget(1, 1, 0, 0, 0)),
    ("fault + manifest update", budget(0, 1, 1, 0, 0)),
    ("owner change + manifest removal", budget(1, 0, 0, 1, 0)),
    ("fault + manifest removal", budget(0, 1, 0, 1, 0)),
    ("operator stop + fault", budget(0, 1, 0, 0, 1)),
    ("operator stop + manifest removal", budget(0, 0, 0, 1, 1)),
];

/// `StartLimitBurst` of the crash-loop scenarios: two starts, then the unit fails until a
/// `reset-failed` (the model's interval never passes, so this is stricter than systemd's).
pub const CRASH_LOOP_BURST: u8 = 2;

/// The scenarios checked by default. For every owner and fallback/failure-detection
/// combination (N > 0 only matters with fallback): with kube deploying, each of the
/// [`FAMILIES`], with and without a label left on the node from before a reboot; with kube
/// never deploying, an owner change and a fault, and a lone operator stop and a fault. With
/// owner kube, also a crash-looping kube image (three crashes) on a unit with a start rate
/// limit ([`CRASH_LOOP_BURST`]), alone and with one fault. kube-monit's deadline may pass twice while kube deploys, and
/// any number of times once no manifest exists.
pub fn default_scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    for owner in [Owner::Local, Owner::Kube] {
        for (fb, n) in [(false, false), (true, false), (true, true)] {
            let cfg = Cfg { owner, fb, n };
            for stale_label in [false, true] {
                for (_, budget) in FAMILIES {
                    out.push(Scenario {
                        cfg,
                        kube: Kube::Deploys,
                        stale_label,
                        budget,
                        burst: 0,
                    });
                }
            }
            for budget in [budget(1, 1, 0, 0, 0), budget(0, 1, 0, 0, 1)] {
                out.push(Scenario {
                    cfg,
                    kube: Kube::Never,
                    stale_label: false,
                    budget: Budget {
                        deadlines: 1,
                        ..budget
                    },
                    burst: 0,
                });
            }
            if owner == Owner::Kube {
                // Alone, and with one fault: a daemon crashing while the unit is failed, or
                // between its reset and its start (the `start_requested_ts` marker), is where
                // the start limit and the daemons' restart-safety meet.
                for faults in [0, 1] {
                    out.push(Scenario {
                        cfg,
                        kube: Kube::Deploys,
                        stale_label: false,
                        budget: Budget {
                            crash_loop: 3,
                            ..budget(0, faults, 0, 0, 0)
                        },
                        burst: CRASH_LOOP_BURST,
                    });
                }
            }
        }
    }
    out
}

/// The seed's own scenarios ("kube managing feature with fallback enabled" and "with fallback
/// disabled"): owner kube, kube deploying, no stale label, no owner change, no faults, and one
/// manifest update (kube replaces the running pod, so a new container asks for approval).
pub fn seed_scenarios() -> Vec<Scenario> {
    [true, false]
        .into_iter()
        .map(|fb| Scenario {
            cfg: Cfg {
                owner: Owner::Kube,
                fb,
                n: false,
            },
            kube: Kube::Deploys,
            stale_label: false,
            budget: Budget {
                updates: 1,
                ..Budget::default()
            },
            burst: 0,
        })
        .collect()
}

/// The extended scenarios: every owner and fallback/failure-detection combination, kube
/// deploying or not, with and without a stale label, each allowing everything at once (an
/// owner change, a fault, a manifest update, a manifest removal, two deadlines). Several
/// times the default check's work (minutes, not seconds).
pub fn extended_scenarios() -> Vec<Scenario> {
    let mut out = Vec::new();
    for owner in [Owner::Local, Owner::Kube] {
        for (fb, n) in [(false, false), (true, false), (true, true)] {
            for kube in [Kube::Deploys, Kube::Never] {
                for stale_label in [false, true] {
                    out.push(Scenario {
                        cfg: Cfg { owner, fb, n },
                        kube,
                        stale_label,
                        budget: budget(1, 1, 1, 1, 0),
                        burst: 0,
                    });
                }
            }
        }
    }
    out
}
