//! `container`'s command line (clap derive, ctrmgr-core's name types and ctrmgr-bin's global options, nothing
//! else), kept
//! apart from `main.rs` so that `cargo xtask dist` can generate completions and man pages from
//! it.

use clap::{Parser, Subcommand, ValueEnum};
use ctrmgr_bin::GlobalArgs;
use ctrmgr_core::{ContainerId, FeatureName};

/// Start, stop, kill, wait for, inspect and exec SONiC feature containers, whether the local
/// image or Kubernetes runs them.
#[derive(Debug, Parser)]
#[command(name = "container", version)]
pub struct Cli {
    /// The options every binary takes (ctrmgr-bin): `--db-config`, `--config`,
    /// `--kubeconfig`, `--log-to-stderr`.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The commands of DESIGN.md §5.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a feature: its local container, or let Kubernetes deploy it (set_owner=kube).
    Start {
        /// Feature name (CONFIG_DB FEATURE key).
        feature: FeatureName,
    },
    /// Stop a feature's owning container (and withdraw it from Kubernetes).
    Stop {
        /// Seconds between SIGTERM and SIGKILL [default: the tunables' stop_grace_secs, 10].
        #[arg(short = 't', long, value_name = "SECS")]
        timeout: Option<u32>,
        /// Feature name.
        feature: FeatureName,
    },
    /// Kill a feature's owning container (SIGKILL) and record its exit at once.
    Kill {
        /// Feature name.
        feature: FeatureName,
    },
    /// Wait until a feature's owning container exits; exit with its exit code.
    Wait {
        /// Feature name.
        feature: FeatureName,
    },
    /// Print the id of a feature's owning container.
    Id {
        /// Feature name.
        feature: FeatureName,
    },
    /// Print `docker inspect` JSON of a feature's owning container.
    Inspect {
        /// Feature name.
        feature: FeatureName,
    },
    /// Run a command in a feature's owning container; exit with its exit code.
    Exec {
        /// Feature name.
        feature: FeatureName,
        /// Keep standard input open and send it to the command.
        #[arg(short = 'i', long)]
        interactive: bool,
        /// Give the command a terminal.
        #[arg(short = 't', long)]
        tty: bool,
        /// The command and its arguments, after `--`.
        #[arg(last = true, required = true, value_name = "CMD")]
        cmd: Vec<String>,
    },
    /// Report a container of a feature up or down (called from inside the container).
    State {
        /// Feature name.
        feature: FeatureName,
        #[command(subcommand)]
        change: StateChange,
    },
    /// Kill every feature's running owning container (reboot scripts).
    KillAll,
}

/// `container state <feature> up|down`.
#[derive(Debug, Subcommand)]
pub enum StateChange {
    /// The container is up: a local container is recorded as owner; a kube container proceeds
    /// once approved, waits for approval, or is parked while set_owner is local (and asks
    /// again when it turns kube; SIGTERM ends a parked container with exit 0).
    Up {
        /// Which image this container runs: local or kube.
        mode: UpMode,
        /// The container's id [default: found in /proc/self/mountinfo or /proc/self/cgroup].
        #[arg(long, value_name = "ID")]
        id: Option<ContainerId>,
        /// Give up waiting for approval after SECS seconds (exit 1) [default: wait for ever].
        #[arg(long, value_name = "SECS")]
        timeout: Option<u64>,
    },
    /// The container is going down: it no longer owns the feature.
    Down {
        /// The container's id [default: found in /proc/self/mountinfo or /proc/self/cgroup].
        #[arg(long, value_name = "ID")]
        id: Option<ContainerId>,
    },
}

/// Which image a container runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UpMode {
    /// The feature's local image (docker start).
    Local,
    /// An image deployed by Kubernetes.
    Kube,
}
