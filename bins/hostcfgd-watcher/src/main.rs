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

use anyhow::{Context as _, Result, bail};
use clap::Parser as _;
use ctrmgr_bin::{Engine, Env, GlobalArgs, KubeMaster, Shutdown};
use ctrmgr_core::ports::StateStore;
use ctrmgr_driver::{
    FeatureDriver, FeatureOptions, HostcfgdExit, HostcfgdOptions, JoinEngine, JoinOptions, Kubeadm,
    LabelOptions, LabelService, LockDir, Systemctl, run_hostcfgd,
};
use ctrmgr_kubeclient::{KubeClient, KubeOptions};

mod cli;

use cli::Cli;

fn main() -> ExitCode {
    let cli = Cli::parse();
    ctrmgr_bin::main("hostcfgd-watcher", &cli.global, run(cli.global.clone()))
}

async fn run(global: GlobalArgs) -> Result<u8> {
    let mut shutdown = Shutdown::install()?;
    let env = Env::load(&global).await?;
    let t = &env.tunables;
    let meta = env
        .db
        .device_metadata()
        .await
        .context("cannot read CONFIG_DB DEVICE_METADATA|localhost")?;
    let node = ctrmgr_kubeclient::node_name(&meta)?;
    let kubeconfig = global.kubeconfig(t);
    let labels = || {
        KubeClient::new(
            KubeOptions {
                kubeconfig: kubeconfig.clone(),
                timeout: t.label_timeout(),
            },
            node.clone(),
        )
    };
    let systemctl = Systemctl::new(&t.systemctl);
    let driver = FeatureDriver::new(
        LabelService::new(
            env.db.clone(),
            labels(),
            systemctl.clone(),
            LabelOptions::from_tunables(t),
        ),
        Engine::new(),
        LockDir::new(&t.lock_dir),
        FeatureOptions::from_tunables(t, true),
    );
    let master = KubeMaster::new(
        KubeOptions {
            kubeconfig: kubeconfig.clone(),
            timeout: t.api_timeout(),
        },
        node.clone(),
    );
    let join = JoinEngine::new(
        LabelService::new(
            env.db.clone(),
            labels(),
            systemctl,
            LabelOptions::from_tunables(t),
        ),
        master,
        Kubeadm::new(&t.kubeadm, t.kubeadm_timeout()),
        node.clone(),
        JoinOptions {
            kubeconfig: kubeconfig.clone(),
            ..JoinOptions::from_tunables(t)
        },
    );
    let exit = run_hostcfgd(
        Arc::new(driver),
        Arc::new(join),
        &env.db,
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
