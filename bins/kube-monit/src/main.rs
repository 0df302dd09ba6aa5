//! `kube-monit`: the switch's watch over Kubernetes (DESIGN.md §7).
//!
//! - `kube-monit run`: the daemon — failure fallback of kube-managed features (owner kube,
//!   fallback on, `kube_failure_detection=N>0`: after N minutes in KUBE_READY or KUBE_STOPPED,
//!   counted from STATE_DB's `transition_mode_update_ts`, FailureTimeout; logged as a warning
//!   naming the feature), the API server probe (every `probe_interval_secs` and on a change of
//!   CONFIG_DB `KUBERNETES_MASTER|SERVER`; STATE_DB `connected` written only when it changes),
//!   and kubelet safety (connected with no pending label: kubelet must run). It sleeps until
//!   the next deadline or DB change; SIGTERM or SIGINT ends it cleanly.
//! - `kube-monit check <feature>`: for monit's `check program`: exit 0 when the container
//!   STATE_DB names as the feature's owner runs in Docker, 1 otherwise, with one line saying
//!   why on stdout — the same whether the local image or Kubernetes runs the feature.
//!
//! The work is done by `ctrmgr-driver` (`run_monit`); this binary builds the adapters.
//! Exit codes: 0 success (`check`: the owner runs), 1 failure (`check`: it does not; else one
//! line `kube-monit: error: …` on stderr), 2 usage.

use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use ctrmgr_bin::{Engine, Env, GlobalArgs, KubeNode, Shutdown};
use ctrmgr_core::ports::Containers;
use ctrmgr_core::{CurrentOwner, FeatureName};
use ctrmgr_driver::{MonitExit, MonitOptions, read_feature, run_monit};

mod cli;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = ctrmgr_bin::parse_args::<Cli>();
    let global = cli.global.clone();
    ctrmgr_bin::main("kube-monit", &cli.global, async move {
        match cli.command {
            Command::Run => run(global).await,
            Command::Check { feature } => check(global, feature).await,
        }
    })
}

async fn run(global: GlobalArgs) -> Result<u8> {
    let mut shutdown = Shutdown::install()?;
    let node = KubeNode::load(&global).await?;
    let t = &node.tunables;
    let driver = node.feature_driver();
    let master = node.master();
    let exit = run_monit(
        &driver,
        &master,
        &node.db,
        &MonitOptions::from_tunables(t),
        async move {
            let signal = shutdown.recv().await;
            tracing::info!("{signal}: kube-monit stopping");
        },
    )
    .await;
    match exit {
        MonitExit::Shutdown => Ok(0),
        MonitExit::WatchEnded => bail!("the watch of STATE_DB and CONFIG_DB ended"),
    }
}

/// `kube-monit check <feature>`: one line on stdout, exit 0 when the recorded owner runs.
async fn check(global: GlobalArgs, feature: FeatureName) -> Result<u8> {
    let env = Env::load(&global).await?;
    let known = read_feature(&env.db, &feature, true)
        .await
        .with_context(|| format!("cannot check feature {feature}"))?;
    let rec = &known.record;
    let owner = rec.current_owner;
    let Some(id) = rec
        .docker_id
        .as_ref()
        .filter(|_| owner != CurrentOwner::None)
    else {
        println!(
            "{feature}: not running: STATE_DB records no owning container (current_owner={}, transition_mode={})",
            owner.as_str(),
            rec.transition_mode.as_str()
        );
        return Ok(1);
    };
    let running = Engine::new()
        .is_running(id)
        .await
        .with_context(|| format!("cannot check feature {feature}: ask Docker about {id}"))?;
    let short: String = id.as_str().chars().take(12).collect();
    if running {
        println!("{feature}: running: {} container {short}", owner.as_str());
        Ok(0)
    } else {
        println!(
            "{feature}: not running: the {} container {short} recorded in STATE_DB does not run",
            owner.as_str()
        );
        Ok(1)
    }
}
