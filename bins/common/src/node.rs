//! [`KubeNode`]: this switch as the Kubernetes side sees it, and the ports and drivers built
//! over it, wired the same way by every binary with Kubernetes support.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context as _, Result};
use ctrmgr_core::ports::StateStore as _;
use ctrmgr_dbclient::SonicDb;
use ctrmgr_driver::{
    FeatureDriver, FeatureOptions, JoinEngine, JoinOptions, Kubeadm, LabelOptions, LabelService,
    LockDir, Systemctl, Tunables,
};
use ctrmgr_kubeclient::{KubeClient, KubeOptions};

use crate::{Engine, Env, GlobalArgs, KubeMaster};

/// The label service with the real adapters.
pub type KubeLabels = LabelService<SonicDb, KubeClient, Systemctl>;

/// The feature driver with the real adapters.
pub type KubeFeatureDriver = FeatureDriver<SonicDb, Engine, KubeClient, Systemctl>;

/// The join/reset engine with the real adapters.
pub type KubeJoinEngine = JoinEngine<SonicDb, KubeClient, Systemctl, KubeMaster>;

/// The node's name (from CONFIG_DB `DEVICE_METADATA|localhost`), its kubeconfig, the
/// databases and the tunables: what the label service, the feature driver, the master probe
/// and the join engine are made of.
#[derive(Debug, Clone)]
pub struct KubeNode {
    /// CONFIG_DB and STATE_DB.
    pub db: SonicDb,
    /// `/etc/sonic/ctrmgr.json` or `--config`.
    pub tunables: Tunables,
    /// The node's name in the cluster.
    pub node: String,
    /// The kubeconfig every client reads.
    pub kubeconfig: PathBuf,
}

impl KubeNode {
    /// Loads the tunables, connects to the databases and reads the node's name, as every
    /// daemon starts.
    pub async fn load(global: &GlobalArgs) -> Result<Self> {
        let Env { tunables, db } = Env::load(global).await?;
        let kubeconfig = global.kubeconfig(&tunables);
        Self::new(db, tunables, kubeconfig).await
    }

    /// Reads the node's name from `DEVICE_METADATA|localhost` (or the system hostname).
    pub async fn new(db: SonicDb, tunables: Tunables, kubeconfig: PathBuf) -> Result<Self> {
        let meta = db
            .device_metadata()
            .await
            .context("cannot read CONFIG_DB DEVICE_METADATA|localhost")?;
        let node = ctrmgr_kubeclient::node_name(&meta)?;
        Ok(Self {
            db,
            tunables,
            node,
            kubeconfig,
        })
    }

    /// A client of the API server for this node, each request bounded by `timeout`.
    pub fn client(&self, timeout: Duration) -> KubeClient {
        KubeClient::new(
            KubeOptions {
                kubeconfig: self.kubeconfig.clone(),
                timeout,
            },
            self.node.clone(),
        )
    }

    /// The systemctl runner of the tunables.
    pub fn systemctl(&self) -> Systemctl {
        Systemctl::new(&self.tunables.systemctl)
    }

    /// The label service: label patches bounded by `label_timeout_secs`.
    pub fn label_service(&self) -> KubeLabels {
        LabelService::new(
            self.db.clone(),
            self.client(self.tunables.label_timeout()),
            self.systemctl(),
            LabelOptions::from_tunables(&self.tunables),
        )
    }

    /// The feature driver of a build with Kubernetes support.
    pub fn feature_driver(&self) -> KubeFeatureDriver {
        FeatureDriver::new(
            self.label_service(),
            Engine::new(),
            LockDir::new(&self.tunables.lock_dir),
            FeatureOptions::from_tunables(&self.tunables, true),
        )
    }

    /// The master: admin.conf fetches and `/readyz` probes bounded by `api_timeout_secs`.
    pub fn master(&self) -> KubeMaster {
        KubeMaster::new(
            KubeOptions {
                kubeconfig: self.kubeconfig.clone(),
                timeout: self.tunables.api_timeout(),
            },
            self.node.clone(),
        )
    }

    /// The join/reset engine, as hostcfgd-watcher and `sonic-kube config kubernetes join`
    /// both run it.
    pub fn join_engine(&self) -> KubeJoinEngine {
        let t = &self.tunables;
        JoinEngine::new(
            self.label_service(),
            self.master(),
            Kubeadm::new(&t.kubeadm, t.kubeadm_timeout()),
            self.node.clone(),
            JoinOptions {
                kubeconfig: self.kubeconfig.clone(),
                ..JoinOptions::from_tunables(t)
            },
        )
    }
}
