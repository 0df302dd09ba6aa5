//! This node's labels on the API server, connected on first use: most runs of `container`
//! change no label, so they neither read `DEVICE_METADATA` for the node name nor load the
//! kubeconfig.

use std::collections::BTreeMap;

use ctrmgr_core::ports::{LabelPatch, Labels, StateStore};
use ctrmgr_dbclient::SonicDb;
use ctrmgr_driver::Error;
use ctrmgr_kubeclient::{KubeClient, KubeOptions};
use tokio::sync::OnceCell;

/// The [`Labels`] port over a [`KubeClient`] made when first needed.
#[derive(Debug)]
pub struct NodeLabels {
    db: SonicDb,
    options: KubeOptions,
    client: OnceCell<KubeClient>,
}

impl NodeLabels {
    /// Labels of the node named by `DEVICE_METADATA|localhost` in `db` (else the system
    /// hostname), reached with `options`.
    pub fn new(db: SonicDb, options: KubeOptions) -> Self {
        Self {
            db,
            options,
            client: OnceCell::new(),
        }
    }

    async fn client(&self) -> Result<&KubeClient, Error> {
        self.client
            .get_or_try_init(|| async {
                let meta = self
                    .db
                    .device_metadata()
                    .await
                    .map_err(|e| Error::port("read DEVICE_METADATA for the node name", e))?;
                let node = ctrmgr_kubeclient::node_name(&meta)
                    .map_err(|e| Error::port("find this node's name", e))?;
                Ok(KubeClient::new(self.options.clone(), node))
            })
            .await
    }
}

impl Labels for NodeLabels {
    type Error = Error;

    async fn patch_labels(&self, patch: &LabelPatch) -> Result<(), Error> {
        let client = self.client().await?;
        client
            .patch_labels(patch)
            .await
            .map_err(|e| Error::port(format!("label node {}", client.node()), e))
    }

    async fn labels(&self) -> Result<BTreeMap<String, String>, Error> {
        let client = self.client().await?;
        client
            .labels()
            .await
            .map_err(|e| Error::port(format!("read the labels of node {}", client.node()), e))
    }
}
