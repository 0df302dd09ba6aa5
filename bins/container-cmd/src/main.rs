//! `container`: what SONiC's systemd units, reboot scripts and containers call instead of
//! `docker start|stop|kill|wait|inspect|exec` (DESIGN.md §5). A feature runs either from its
//! local image or from an image deployed by Kubernetes; `container` works the same either way,
//! acting on the container STATE_DB records as the feature's owner, and tells the switch's side
//! of the state machine what happened (`container state <f> up|down`).
//!
//! The work is done by `ctrmgr-driver`; this binary parses arguments, builds the adapters
//! (Redis, the Docker Engine, the API server, systemctl), calls the driver and maps outcomes to
//! exit codes: 0 success, 1 failure with one line `container: error: …` on stderr, 2 usage;
//! `wait` and `exec` exit with the container's or the command's own code. The outcomes of
//! `state … up` after which the caller must not run the feature each have their own status
//! (3 parked then stopped, 4 refused, 5 not approved in time, 128 + N stopped by signal N
//! while waiting; see the operator guide): a start script runs the feature only on 0.
//!
//! Invoked under the name `container_startup.py` (the path kube images of today call from their
//! start script, where a DaemonSet mounts this binary), it is upstream's startup script:
//! `-f <feature> -o local|kube -v <version>` runs `container state <feature> up local|kube` and
//! records `container_version` (see `dropin`). A name without a CONFIG_DB `FEATURE` row is the
//! local container of that name, as upstream's `container` has it.
//!
//! Built without the default cargo feature `kube`, it links no Kubernetes client: `set_owner=kube`
//! is read as `local` (with a warning) and no node label is touched.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use ctrmgr_core::{ContainerId, FeatureName};

mod commands;
mod dropin;
mod engine;
#[cfg(feature = "kube")]
mod kube;
mod selfid;

/// Start, stop, kill, wait for, inspect and exec SONiC feature containers, whether the local
/// image or Kubernetes runs them.
#[derive(Debug, Parser)]
#[command(name = "container", version)]
pub struct Cli {
    /// SONiC's database_config.json [default: $SONIC_DB_CONFIG, else /var/run/redis/sonic-db/database_config.json].
    #[arg(long, global = true, value_name = "PATH")]
    db_config: Option<PathBuf>,
    /// Tunables file [default: /etc/sonic/ctrmgr.json when it exists].
    #[arg(long, global = true, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Kubeconfig used to reach the API server [default: the tunables' kubeconfig, /etc/sonic/kube_admin.conf].
    #[arg(long, global = true, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// Log to stderr instead of syslog.
    #[arg(long, global = true)]
    log_to_stderr: bool,
    #[command(subcommand)]
    command: Command,
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

fn main() -> ExitCode {
    // Answering as upstream's `container_startup.py` (see `dropin`).
    let argv0 = std::env::args_os()
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (cli, startup) = if dropin::invoked_as_startup(&argv0) {
        let (cli, version) = dropin::StartupCli::parse().into_cli();
        (cli, Some(version))
    } else {
        (Cli::parse(), None)
    };
    ctrmgr_driver::logging::init("container", cli.log_to_stderr);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    let result = runtime.block_on(async {
        let code = commands::run(cli).await?;
        if let (0, Some(startup)) = (code, &startup) {
            startup.record().await?;
        }
        Ok::<_, anyhow::Error>(code)
    });
    // Do not wait for blocking tasks still in flight (a stdin read of `exec -i`).
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => match e.downcast_ref::<commands::DoNotRun>() {
            // One line, and the documented status of that outcome.
            Some(refusal) => {
                let code = refusal.code;
                fail(&e);
                ExitCode::from(code)
            }
            None => fail(&e),
        },
    }
}

/// Prints the error and its causes as one line and returns exit code 1.
fn fail(e: &anyhow::Error) -> ExitCode {
    let line = format!("{e:#}");
    let line: String = line
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    eprintln!("container: error: {line}");
    ExitCode::FAILURE
}
