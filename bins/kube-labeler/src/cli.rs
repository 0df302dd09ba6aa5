//! `kube-labeler`'s command line (clap derive and the shared global options, nothing else),
//! kept apart from `main.rs` so that `cargo xtask dist` can generate completions and man pages
//! from it.

use clap::{Parser, Subcommand};
use ctrmgr_bin::GlobalArgs;

/// This switch's Kubernetes node labels, and the pending list of label changes not yet sent
/// to the master.
#[derive(Debug, Parser)]
#[command(name = "kube-labeler", version)]
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
    /// Set the label KEY=VALUE on this node (queued while the master is unreachable).
    Add {
        /// Label key: an optional DNS-subdomain prefix and '/', then a name of at most 63 characters.
        key: String,
        /// Label value: empty, or at most 63 characters of [A-Za-z0-9_.-] starting and ending alphanumeric.
        value: String,
    },
    /// Remove the label KEY from this node (queued while the master is unreachable).
    Drop {
        /// Label key.
        key: String,
    },
    /// Send the pending label changes to the master now, then start kubelet.
    Drain,
    /// Show this node's labels and the pending list.
    Show {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Run as a daemon: drain the pending list whenever the master is connected.
    Run,
}
