//! End-to-end tests of sonic-ctrmgr, one binary with a module per area (DESIGN.md §9).
//!
//! - `fakekube`: the fake Kubernetes API server itself, driven by the real kube-rs client.
//! - `labels`: node labels and the pending list.
//! - `scenarios`: the switch in a box (`ctrmgr_tests::world`) (issue 14): the seed's scenarios with the real
//!   `container` binary, the kubelet simulator on the real Docker Engine, and the invariant
//!   checker.

mod fakekube;
mod labels;
mod scenarios;
mod systemd;
