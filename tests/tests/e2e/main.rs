//! End-to-end tests of sonic-ctrmgr, one binary with a module per area (DESIGN.md §9).
//!
//! - `fakekube`: the fake Kubernetes API server itself, driven by the real kube-rs client.
//! - `labels`: node labels and the pending list.
//! - `scenarios`: the switch in a box (`ctrmgr_tests::world`) (issue 14): the seed's scenarios with the real
//!   `container` binary, the kubelet simulator on the real Docker Engine, and the invariant
//!   checker.
//! - `chaos`, `crash`, `faults`, `races`: the reliability checks of issue 15 (points 2, 3, 4)
//!   in that world; each prints a `RELIABILITY` line for `cargo xtask reliability`.

mod chaos;
mod crash;
mod fakekube;
mod faults;
mod labels;
mod races;
mod scenarios;
mod systemd;
