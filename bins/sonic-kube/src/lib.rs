//! # sonic-kube
//!
//! The operator's command of sonic-ctrmgr (DESIGN.md §8). Its words are sonic-utilities' words
//! after `config` and `show` (`sonic-kube config kubernetes server ip 10.3.157.24`,
//! `sonic-kube show feature status snmp`), printed in sonic-utilities' tables and messages, so
//! that a sonic-utilities plugin can forward them one to one; `service`, `reboot` and `migrate`
//! are this project's own (the seed's service install, Proposal 2, and reboot hooks).
//!
//! A tour:
//! - [`cli`]: the clap definitions ([`cli::Cli`]); [`command`] gives the clap `Command` to
//!   generators of completions and man pages.
//! - `config`: every `config` word, each validating its input before it writes anything.
//! - `show`: every `show` word, each a [`table::Table`] or, with `-j/--json`, JSON.
//! - `service`: install, remove and list the services of kube-managed features, rendered
//!   from `packaging/templates/` with minijinja; `remove` restores exactly what was there.
//! - `reboot`: the registered warm/fast reboot hooks, in order, each bounded in time.
//! - `migrate`: upstream's implicit `fallback_to_local` made explicit.
//!
//! Exit codes: 0 success; 1 failure, with one line `sonic-kube: error: …` on stderr (or, where
//! sonic-utilities prints a message on stdout and exits 1, that message: `Can not find feature
//! foo`); 2 usage.
#![deny(missing_docs)]

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use clap::CommandFactory as _;
use ctrmgr_dbclient::{DbConfig, SonicDb};
use ctrmgr_driver::Tunables;
use ctrmgr_kubeclient::KubeClient;

pub mod cli;
mod config;
mod migrate;
mod reboot;
mod service;
mod show;
pub mod table;

pub use service::spec_paths as service_spec_paths;

use cli::{Cli, Command};

/// The clap definition of `sonic-kube`, for completions and man pages.
pub fn command() -> clap::Command {
    Cli::command()
}

/// Runs `sonic-kube` with the process's arguments; the binary's `main`.
pub fn main() -> ExitCode {
    let cli = ctrmgr_bin::parse_args::<Cli>();
    ctrmgr_driver::logging::init("sonic-kube", cli.global.log_to_stderr);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(&anyhow::Error::new(e).context("cannot start the async runtime")),
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(code) => code,
        Err(e) => fail(&e),
    }
}

/// One line `sonic-kube: error: …` on stderr, exit 1, as every ctrmgr binary prints it.
fn fail(e: &anyhow::Error) -> ExitCode {
    ctrmgr_bin::fail("sonic-kube", e)
}

async fn dispatch(cli: Cli) -> Result<ExitCode> {
    let ctx = Ctx::new(&cli)?;
    match cli.command {
        Command::Config(c) => config::run(&ctx, c).await,
        Command::Show(s) => show::run(&ctx, s).await,
        Command::Service(s) => service::run(&ctx, s).await,
        Command::Reboot(r) => reboot::run(r).await,
        Command::Migrate => migrate::run(&ctx).await,
    }
}

/// What every command may need: the global options and the tunables.
pub(crate) struct Ctx {
    db_config: Option<std::path::PathBuf>,
    pub(crate) kubeconfig: std::path::PathBuf,
    pub(crate) tunables: Tunables,
}

impl Ctx {
    fn new(cli: &Cli) -> Result<Self> {
        let tunables = Tunables::load(cli.global.config.as_deref())?;
        Ok(Self {
            db_config: cli.global.db_config.clone(),
            kubeconfig: cli.global.kubeconfig(&tunables),
            tunables,
        })
    }

    /// Connects to CONFIG_DB and STATE_DB (one connection per instance).
    pub(crate) async fn db(&self) -> Result<SonicDb> {
        let cfg = DbConfig::load(self.db_config.as_deref())?;
        SonicDb::connect(&cfg)
            .await
            .context("cannot connect to the SONiC databases")
    }

    /// This node as the Kubernetes side sees it (its name read from `db`).
    pub(crate) async fn node(&self, db: SonicDb) -> Result<ctrmgr_bin::KubeNode> {
        ctrmgr_bin::KubeNode::new(db, self.tunables.clone(), self.kubeconfig.clone()).await
    }

    /// A client of the API server for this node, each request bounded by `timeout`.
    pub(crate) async fn kube(
        &self,
        db: &SonicDb,
        timeout: std::time::Duration,
    ) -> Result<KubeClient> {
        Ok(self.node(db.clone()).await?.client(timeout))
    }

    /// The systemctl runner of the tunables.
    pub(crate) fn systemctl(&self) -> ctrmgr_driver::Systemctl {
        ctrmgr_driver::Systemctl::new(&self.tunables.systemctl)
    }
}
