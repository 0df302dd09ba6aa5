//! End-to-end tests of sonic-ctrmgr, one binary with a module per area (DESIGN.md §9).
//!
//! - `fakekube`: the fake Kubernetes API server itself, driven by the real kube-rs client.

mod fakekube;
mod labels;
