//! `kube-monit`'s command line (clap derive, the shared global options and ctrmgr-core's name types,
//! nothing else), kept apart from `main.rs` so that `cargo xtask dist` can generate
//! completions and man pages from it.

use clap::{Parser, Subcommand};
use ctrmgr_bin::GlobalArgs;
use ctrmgr_core::FeatureName;

/// Failure fallback of kube-managed features, the API server probe and kubelet safety; and
/// `check` for monit.
#[derive(Debug, Parser)]
#[command(name = "kube-monit", version)]
pub struct Cli {
    /// The options every binary takes.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run as a daemon until SIGTERM.
    Run,
    /// Exit 0 when the container STATE_DB names as the feature's owner runs, 1 otherwise.
    Check {
        /// Feature name (CONFIG_DB FEATURE key).
        feature: FeatureName,
    },
}
