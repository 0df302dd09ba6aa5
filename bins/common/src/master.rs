//! [`KubeMaster`]: the join engine's [`Master`] port over `ctrmgr-kubeclient`.

use std::path::Path;
use std::time::Duration;

use ctrmgr_driver::Master;
use ctrmgr_kubeclient::{Error, KubeClient, KubeOptions};

/// Fetches admin.conf and checks kubeconfigs with `ctrmgr-kubeclient`; probes the API server
/// (`/readyz`) with the kubeconfig of [`KubeOptions`], re-read after every failure (a join may
/// have replaced it).
#[derive(Debug)]
pub struct KubeMaster {
    client: KubeClient,
}

impl KubeMaster {
    /// A master reached with `options` (the probe's kubeconfig and bound), for node `node`.
    pub fn new(options: KubeOptions, node: impl Into<String>) -> Self {
        Self {
            client: KubeClient::new(options, node),
        }
    }
}

impl Master for KubeMaster {
    type Error = Error;

    async fn fetch_admin_conf(
        &self,
        url: &str,
        ca_file: Option<&Path>,
        insecure: bool,
        timeout: Duration,
    ) -> Result<String, Error> {
        ctrmgr_kubeclient::fetch_admin_conf(url, ca_file, insecure, timeout).await
    }

    fn check_kubeconfig(&self, text: &str) -> Result<String, Error> {
        ctrmgr_kubeclient::kubeconfig_server_host(text)
    }

    async fn probe(&self) -> Result<(), Error> {
        self.client.ready().await
    }
}
