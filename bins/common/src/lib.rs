//! # ctrmgr-bin
//!
//! What every sonic-ctrmgr binary (`container`, `kube-labeler`, `hostcfgd-watcher`,
//! `kube-monit`, `sonic-kube`) does the same way:
//!
//! - [`GlobalArgs`]: the global options, flattened into each binary's clap parser
//!   (`#[command(flatten)]`): `--db-config`, `--config`, `--kubeconfig`, `--log-to-stderr`.
//! - [`main`]: logging (syslog with the binary's name, or stderr), a current-thread tokio
//!   runtime, the command, and the exit status: the command's own, or 1 with one line
//!   `<binary>: error: <what failed>: <why>` on stderr ([`error_line`]).
//! - [`Env::load`]: the tunables and the databases, which nearly every command needs.
//! - [`Shutdown`]: SIGTERM and SIGINT for daemons.
//! - [`Engine`]: the Docker Engine of `DOCKER_HOST`, connected on first use, API version
//!   pinned.
//! - with the cargo feature `kube`, [`KubeMaster`]: the join engine's
//!   [`Master`](ctrmgr_driver::Master) port over `ctrmgr-kubeclient`.
//!
//! ```no_run
//! use clap::Parser;
//! #[derive(Debug, Parser)]
//! struct Cli {
//!     #[command(flatten)]
//!     global: ctrmgr_bin::GlobalArgs,
//! }
//! fn main() -> std::process::ExitCode {
//!     let cli = Cli::parse();
//!     let global = cli.global.clone();
//!     ctrmgr_bin::main("demo", &cli.global, async move {
//!         let env = ctrmgr_bin::Env::load(&global).await?;
//!         let _ = env.tunables.probe_interval();
//!         Ok(0)
//!     })
//! }
//! ```
#![deny(missing_docs)]

use std::future::Future;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context as _, Result};
use ctrmgr_dbclient::{DbConfig, SonicDb};
use ctrmgr_driver::Tunables;
use tokio::signal::unix::{Signal, SignalKind, signal};

mod engine;
#[cfg(feature = "kube")]
mod master;
#[cfg(feature = "kube")]
mod node;

pub use engine::Engine;
#[cfg(feature = "kube")]
pub use master::KubeMaster;
#[cfg(feature = "kube")]
pub use node::{KubeFeatureDriver, KubeJoinEngine, KubeLabels, KubeNode};

/// The options every binary takes, before or after its subcommand.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct GlobalArgs {
    /// SONiC's database_config.json [default: $SONIC_DB_CONFIG, else /var/run/redis/sonic-db/database_config.json].
    #[arg(long, global = true, value_name = "PATH")]
    pub db_config: Option<PathBuf>,
    /// Tunables file [default: /etc/sonic/ctrmgr.json when it exists].
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,
    /// Kubeconfig used to reach the API server [default: the tunables' kubeconfig, /etc/sonic/kube_admin.conf].
    #[arg(long, global = true, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Log to stderr instead of syslog.
    #[arg(long, global = true)]
    pub log_to_stderr: bool,
}

impl GlobalArgs {
    /// The kubeconfig: `--kubeconfig`, else the tunables' one.
    pub fn kubeconfig(&self, tunables: &Tunables) -> PathBuf {
        self.kubeconfig
            .clone()
            .unwrap_or_else(|| tunables.kubeconfig.clone())
    }
}

/// Parses the process's arguments as `C`, the way every binary starts: help and version are
/// clap's own (exit 0); a usage error prints [`usage_error`] on stderr and exits 2.
pub fn parse_args<C: clap::Parser>() -> C {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    C::try_parse_from(&args).unwrap_or_else(|e| {
        if !e.use_stderr() {
            e.exit();
        }
        eprint!("{}", usage_error::<C, _>(&e, &args));
        std::process::exit(e.exit_code())
    })
}

/// A clap usage error of `args` (program name first) as the binaries print it: clap's text
/// (`error: …`, the usage, the hint) for the arguments with their control characters escaped
/// (`\n`, `\u{1b}`), so that a hostile argument can add neither a line nor a terminal escape
/// to the error (issue 15).
pub fn usage_error<C: clap::Parser, S: AsRef<std::ffi::OsStr>>(
    e: &clap::Error,
    args: &[S],
) -> String {
    let escape = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_control() && c != '\n' {
                    c.escape_default().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect()
    };
    let clean: Vec<String> = args
        .iter()
        .map(|a| escape(&a.as_ref().to_string_lossy()).replace('\n', "\\n"))
        .collect();
    match C::try_parse_from(&clean) {
        Err(shown) if shown.use_stderr() => escape(&shown.render().to_string()),
        // Escaped, the arguments parse: show the error of the arguments as given.
        _ => escape(&e.render().to_string()),
    }
}

/// Runs a binary: sets up logging for `identity`, builds a current-thread runtime, runs
/// `command`, and turns its result into the exit status: `Ok(code)` exits with `code`; an
/// error prints one line `<identity>: error: …` on stderr and exits 1. Blocking tasks still in
/// flight at the end (a stdin read) are not waited for.
pub fn main<F>(identity: &str, global: &GlobalArgs, command: F) -> ExitCode
where
    F: Future<Output = Result<u8>>,
{
    main_with(identity, global.log_to_stderr, command)
}

/// [`main`] for a binary whose global options are its own fields (`container`, whose parser
/// also answers as upstream's `container_startup.py`): the same logging, runtime and error
/// line, with `--log-to-stderr` given directly.
pub fn main_with<F>(identity: &str, log_to_stderr: bool, command: F) -> ExitCode
where
    F: Future<Output = Result<u8>>,
{
    ctrmgr_driver::logging::init(identity, log_to_stderr);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            return fail(
                identity,
                &anyhow::Error::new(e).context("cannot start the async runtime"),
            );
        }
    };
    let result = runtime.block_on(command);
    runtime.shutdown_background();
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => fail(identity, &e),
    }
}

/// Prints `<identity>: error: <error_line>` on stderr and returns exit status 1.
pub fn fail(identity: &str, e: &anyhow::Error) -> ExitCode {
    eprintln!("{identity}: error: {}", error_line(e));
    ExitCode::FAILURE
}

/// An error and its causes on one line (`a: b: c`), a cause the line already holds left out
/// and line breaks folded ([`ctrmgr_core::retry::error_line`]).
pub fn error_line(e: &anyhow::Error) -> String {
    ctrmgr_core::retry::error_line(e.as_ref())
}

/// What nearly every command starts from: the tunables and the databases.
#[derive(Debug, Clone)]
pub struct Env {
    /// `/etc/sonic/ctrmgr.json` or `--config`.
    pub tunables: Tunables,
    /// CONFIG_DB and STATE_DB (one connection).
    pub db: SonicDb,
}

impl Env {
    /// Loads the tunables (`--config`) and connects to the databases (`--db-config`).
    pub async fn load(global: &GlobalArgs) -> Result<Self> {
        let tunables = Tunables::load(global.config.as_deref())?;
        let db_config = DbConfig::load(global.db_config.as_deref())?;
        let db = SonicDb::connect(&db_config)
            .await
            .context("cannot connect to the SONiC databases")?;
        Ok(Self { tunables, db })
    }
}

/// SIGTERM and SIGINT, for a daemon's clean shutdown.
#[derive(Debug)]
pub struct Shutdown {
    term: Signal,
    int: Signal,
}

impl Shutdown {
    /// Installs the handlers (from then on the signals no longer end the process by
    /// themselves).
    pub fn install() -> Result<Self> {
        Ok(Self {
            term: signal(SignalKind::terminate()).context("cannot handle SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot handle SIGINT")?,
        })
    }

    /// Waits for SIGTERM or SIGINT; answers the signal's name.
    pub async fn recv(&mut self) -> &'static str {
        tokio::select! {
            _ = self.term.recv() => "SIGTERM",
            _ = self.int.recv() => "SIGINT",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_error_and_its_causes_print_as_one_line() {
        let e = anyhow::anyhow!("no such row\nin FEATURE").context("cannot start feature snmp");
        assert_eq!(
            error_line(&e),
            "cannot start feature snmp: no such row in FEATURE"
        );
    }

    #[test]
    fn global_options_flatten_and_go_before_or_after_the_subcommand() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            global: GlobalArgs,
            #[command(subcommand)]
            command: Sub,
        }
        #[derive(Debug, clap::Subcommand)]
        enum Sub {
            Run,
        }
        let cli = Cli::try_parse_from(["x", "--config", "/c.json", "run", "--log-to-stderr"])
            .expect("parses");
        assert_eq!(cli.global.config, Some(PathBuf::from("/c.json")));
        assert!(cli.global.log_to_stderr);
        assert!(matches!(cli.command, Sub::Run));
    }
}
