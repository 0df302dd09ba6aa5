//! `hostcfgd-watcher`'s command line (clap derive, the shared global options and ctrmgr-core's name types,
//! nothing else), kept apart from `main.rs` so that `cargo xtask dist` can generate
//! completions and man pages from it.

use clap::Parser;
use ctrmgr_bin::GlobalArgs;

/// Approves pending kube transitions of SONiC features and joins or leaves the Kubernetes
/// master; runs until SIGTERM.
#[derive(Debug, Parser)]
#[command(name = "hostcfgd-watcher", version)]
pub struct Cli {
    /// The options every binary takes.
    #[command(flatten)]
    pub global: GlobalArgs,
}
