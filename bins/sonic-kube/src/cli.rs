//! The command line: `sonic-kube <words>` spells the words that follow `config` and `show` in
//! sonic-utilities (`config kubernetes server ip …`, `show feature status …`), so that a
//! sonic-utilities plugin can forward them one to one; `service`, `reboot` and `migrate` are
//! this project's own. Unambiguous prefixes of the words are accepted at every depth
//! (`show feature stat`, `config kube server ip …`), as sonic-utilities' groups accept them
//! (clicommon.AliasedGroup), so that such a spelling forwarded by a plugin works too.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ctrmgr_bin::GlobalArgs;

/// The operator's command for Kubernetes-managed SONiC features: the master's configuration,
/// node labels, feature owners, the node's Kubernetes status, service install of kube-managed
/// features and reboot hooks.
#[derive(Debug, Parser)]
#[command(name = "sonic-kube", version, infer_subcommands = true)]
pub struct Cli {
    /// The options every ctrmgr binary takes (`--db-config`, `--config`, `--kubeconfig`,
    /// `--log-to-stderr`), before or after the words.
    #[command(flatten)]
    pub global: GlobalArgs,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The top-level words.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Change the configuration (sonic-utilities' `config …`).
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Show configuration and status (sonic-utilities' `show …`).
    Show(ShowArgs),
    /// Install, remove and list the services of kube-managed features.
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Reboot support: run the hooks features registered.
    #[command(subcommand)]
    Reboot(RebootCommand),
    /// Make upstream's implicit defaults explicit in CONFIG_DB: `fallback_to_local=true` on
    /// every FEATURE row with set_owner=kube and no fallback field.
    Migrate,
}

/// `config …`.
#[derive(Debug, Subcommand)]
pub enum ConfigCommand {
    /// The Kubernetes master and this node's membership (`config kubernetes …`).
    #[command(subcommand)]
    Kubernetes(ConfigKubernetes),
    /// A feature's owner, fallback and failure detection (`config feature …`).
    #[command(subcommand)]
    Feature(ConfigFeature),
}

/// `config kubernetes …`.
#[derive(Debug, Subcommand)]
pub enum ConfigKubernetes {
    /// The master's address and access (CONFIG_DB KUBERNETES_MASTER|SERVER).
    #[command(subcommand)]
    Server(ConfigServer),
    /// This node's labels, through the pending list.
    #[command(subcommand)]
    Label(ConfigLabel),
    /// Join the master CONFIG_DB names (refused without `ip`, when disabled, or when
    /// already connected unless forced).
    Join {
        /// Join even when STATE_DB says connected.
        #[arg(short, long)]
        force: bool,
    },
    /// Leave the master: kubeadm reset, kubelet stopped, kubeconfig removed, pending labels purged.
    Reset,
}

/// `config kubernetes server …`: one HSET of one field each.
#[derive(Debug, Subcommand)]
pub enum ConfigServer {
    /// The master's address: an IPv4 or IPv6 address or a DNS name.
    Ip {
        /// The address.
        #[arg(value_name = "ADDR")]
        addr: String,
    },
    /// The API server's port, 1-65535.
    Port {
        /// The port.
        #[arg(value_name = "PORT")]
        port: String,
    },
    /// Fetch admin.conf without verifying the master's certificate (on) or verified (off).
    Insecure {
        /// on or off.
        option: OnOff,
    },
    /// Stay disconnected from the master (on) or not (off).
    Disable {
        /// on or off.
        option: OnOff,
    },
}

/// `config kubernetes label …`.
#[derive(Debug, Subcommand)]
pub enum ConfigLabel {
    /// Set the label KEY=VALUE on this node (pending operations are sent first).
    Add {
        /// Label key: an optional DNS-subdomain prefix and '/', then a name of at most 63 characters.
        key: String,
        /// Label value: empty, or at most 63 characters of [A-Za-z0-9_.-] starting and ending alphanumeric.
        value: String,
    },
    /// Remove the label KEY from this node (pending operations are sent first).
    Drop {
        /// Label key.
        key: String,
    },
}

/// `config feature …`.
#[derive(Debug, Subcommand)]
pub enum ConfigFeature {
    /// Set the feature's owner (set_owner), then stop and start its service.
    Owner {
        /// The feature.
        #[arg(value_name = "FEATURE")]
        feature: String,
        /// local or kube.
        #[arg(value_name = "OWNER")]
        owner: OwnerArg,
    },
    /// Let the local image run while Kubernetes has not deployed the feature (on) or not (off).
    Fallback {
        /// The feature.
        #[arg(value_name = "FEATURE")]
        feature: String,
        /// on or off.
        option: OnOff,
    },
    /// Minutes without a running kube container before falling back to local; 0 = never.
    FailureDetection {
        /// The feature.
        #[arg(value_name = "FEATURE")]
        feature: String,
        /// Minutes, an integer >= 0.
        #[arg(value_name = "MINUTES")]
        minutes: String,
    },
}

/// `on` or `off`, as sonic-utilities spells switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnOff {
    /// Switched on.
    On,
    /// Switched off.
    Off,
}

impl OnOff {
    /// Whether it is `on`.
    pub fn is_on(self) -> bool {
        self == OnOff::On
    }
}

/// A feature owner on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OwnerArg {
    /// The local image.
    Local,
    /// The image Kubernetes deploys.
    Kube,
}

/// `show …`, with `-j/--json` anywhere after `show`.
#[derive(Debug, Args)]
pub struct ShowArgs {
    /// Print JSON instead of a table.
    #[arg(short = 'j', long, global = true)]
    pub json: bool,
    /// What to show.
    #[command(subcommand)]
    pub what: ShowCommand,
}

/// `show …`.
#[derive(Debug, Subcommand)]
pub enum ShowCommand {
    /// The master and this node (`show kubernetes …`).
    #[command(subcommand)]
    Kubernetes(ShowKubernetes),
    /// Features (`show feature …`).
    #[command(subcommand)]
    Feature(ShowFeature),
}

/// `show kubernetes …`.
#[derive(Debug, Subcommand)]
pub enum ShowKubernetes {
    /// The master's configuration or connection status.
    #[command(subcommand)]
    Server(ShowServer),
    /// This node's labels, as the master has them.
    Labels,
    /// The cluster's nodes (asks the master).
    Nodes,
    /// The cluster's pods (asks the master).
    Pods,
    /// This node's whole picture: server, connection, kubelet, pending labels, features.
    Status,
}

/// `show kubernetes server …`.
#[derive(Debug, Subcommand)]
pub enum ShowServer {
    /// CONFIG_DB KUBERNETES_MASTER|SERVER.
    Config,
    /// STATE_DB KUBERNETES_MASTER|SERVER.
    Status,
}

/// `show feature …`.
#[derive(Debug, Subcommand)]
pub enum ShowFeature {
    /// Each feature's configuration (CONFIG_DB FEATURE).
    Config {
        /// Only this feature.
        #[arg(value_name = "FEATURE")]
        feature: Option<String>,
    },
    /// Each feature's configuration and state (CONFIG_DB and STATE_DB FEATURE).
    Status {
        /// Only this feature.
        #[arg(value_name = "FEATURE")]
        feature: Option<String>,
    },
}

/// Where `service` and `reboot` find the file tree: `/` on a switch.
#[derive(Debug, Clone, Args)]
pub struct RootArg {
    /// The root of the file tree to install into and read from.
    #[arg(long, value_name = "DIR", default_value = "/")]
    pub root: PathBuf,
}

/// `service …`.
#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Install a feature's unit, script, drop-ins, reboot hooks and FEATURE row from a JSON spec.
    Install {
        /// The spec (JSON).
        #[arg(value_name = "SPEC_JSON")]
        spec: PathBuf,
        /// Where to install.
        #[command(flatten)]
        root: RootArg,
    },
    /// Remove what `install` installed, restoring exactly what was there before.
    Remove {
        /// The feature.
        #[arg(value_name = "FEATURE")]
        feature: String,
        /// Where it was installed.
        #[command(flatten)]
        root: RootArg,
    },
    /// List the installed services.
    List {
        /// Where they were installed.
        #[command(flatten)]
        root: RootArg,
        /// Print JSON instead of a table.
        #[arg(short = 'j', long)]
        json: bool,
    },
}

/// `reboot …`.
#[derive(Debug, Subcommand)]
pub enum RebootCommand {
    /// Run the registered warm or fast reboot hooks, in order, each bounded in time.
    Prepare {
        /// Which reboot.
        kind: RebootKind,
        /// Seconds each hook may run before it is killed.
        #[arg(long, value_name = "SECS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
        timeout: u64,
        /// Where the hooks are installed.
        #[command(flatten)]
        root: RootArg,
    },
}

/// A kind of reboot that has hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RebootKind {
    /// warm-reboot.
    Warm,
    /// fast-reboot.
    Fast,
}

impl RebootKind {
    /// The spelling used in paths and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            RebootKind::Warm => "warm",
            RebootKind::Fast => "fast",
        }
    }
}
