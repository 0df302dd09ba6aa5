//! `hostcfgd-watcher`: approves the pending kube transitions of SONiC features and joins or
//! leaves the Kubernetes master as CONFIG_DB `KUBERNETES_MASTER|SERVER` asks (DESIGN.md §7).
//!
//! It watches STATE_DB `FEATURE|*` and the server's rows; for each feature whose
//! `transition_mode` is `kube_pending` it asks `systemctl is-active` and feeds `Approve` to the
//! driver, which answers `systemctl stop` then `systemctl start` (one approval at a time per
//! feature, features in parallel up to `approval_parallelism`). Joins and resets run in a task
//! of their own. On start it scans every row and finishes what is pending; SIGTERM or SIGINT
//! ends it cleanly once approvals under way are done. The work is done by `ctrmgr-driver`
//! (`run_hostcfgd`, `JoinEngine`); this binary builds the adapters.
//!
//! Exit codes: 0 after SIGTERM/SIGINT, 1 with one line `hostcfgd-watcher: error: …` on stderr
//! when it cannot start or its watch ends, 2 usage.

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Result, bail};
use ctrmgr_bin::{GlobalArgs, KubeNode, Shutdown};
use ctrmgr_driver::{HostcfgdExit, HostcfgdOptions, run_hostcfgd};

mod cli;

use cli::Cli;

fn main() -> ExitCode {
    let cli = ctrmgr_bin::parse_args::<Cli>();
    ctrmgr_bin::main("hostcfgd-watcher", &cli.global, run(cli.global.clone()))
}

async fn run(global: GlobalArgs) -> Result<u8> {
    let mut shutdown = Shutdown::install()?;
    let node = KubeNode::load(&global).await?;
    let t = &node.tunables;
    let driver = node.feature_driver();
    let join = node.join_engine();
    let exit = run_hostcfgd(
        Arc::new(driver),
        Arc::new(join),
        &node.db,
        HostcfgdOptions::from_tunables(t),
        async move {
            let signal = shutdown.recv().await;
            tracing::info!("{signal}: hostcfgd-watcher stopping");
        },
    )
    .await;
    match exit {
        HostcfgdExit::Shutdown => Ok(0),
        HostcfgdExit::WatchEnded => bail!("the watch of STATE_DB and CONFIG_DB ended"),
    }
}
