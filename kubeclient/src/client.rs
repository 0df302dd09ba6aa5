//! [`KubeClient`]: this node's view of the API server, every request bounded in time.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ctrmgr_core::ports::{LabelPatch, Labels};
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use serde::Serialize;

use crate::error::kubeconfig_reason;
use crate::{Error, KubeErrorKind};

/// The kubeconfig a joined SONiC switch uses (written by `sonic-kube config join`).
pub const DEFAULT_KUBECONFIG: &str = "/etc/sonic/kube_admin.conf";

/// The default bound of one API request.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// How to reach the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeOptions {
    /// The kubeconfig file (server URL, CA, credentials). TLS is verified unless the
    /// kubeconfig itself says `insecure-skip-tls-verify: true`.
    pub kubeconfig: PathBuf,
    /// The bound of each operation, kubeconfig loading and connecting included.
    pub timeout: Duration,
}

impl Default for KubeOptions {
    fn default() -> Self {
        Self {
            kubeconfig: PathBuf::from(DEFAULT_KUBECONFIG),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// What `/version` says about the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerVersion {
    /// `gitVersion`, e.g. `v1.33.1`.
    pub git_version: String,
    /// `platform`, e.g. `linux/amd64`.
    pub platform: String,
}

/// One node, as `show nodes` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NodeInfo {
    /// The node's name.
    pub name: String,
    /// The `Ready` condition: `Some(true)` ready, `Some(false)` not ready, `None` unknown.
    pub ready: Option<bool>,
    /// Roles from `node-role.kubernetes.io/<role>` labels.
    pub roles: Vec<String>,
    /// The kubelet's version, when reported.
    pub kubelet_version: Option<String>,
    /// The first `InternalIP` address, when reported.
    pub internal_ip: Option<String>,
    /// The node's labels.
    pub labels: BTreeMap<String, String>,
}

/// One pod, as `show pods` lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PodInfo {
    /// The pod's namespace.
    pub namespace: String,
    /// The pod's name.
    pub name: String,
    /// The node it is bound to, if any.
    pub node: Option<String>,
    /// `status.phase` (`Pending`, `Running`, …), when reported.
    pub phase: Option<String>,
    /// Containers reporting ready.
    pub ready_containers: usize,
    /// Containers reported.
    pub containers: usize,
    /// Restarts summed over the containers.
    pub restarts: u64,
    /// Images of the containers, in order.
    pub images: Vec<String>,
    /// When the pod started (RFC 3339), when reported.
    pub start_time: Option<String>,
}

/// Which pods to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PodScope {
    /// Pods bound to this node.
    ThisNode,
    /// Pods of every node.
    AllNodes,
}

/// The API server as this node sees it: label reads and patches on this node, a probe, and
/// node and pod listings.
///
/// The kubeconfig is read on first use, not at construction, so that a label operation on a
/// switch that has not joined yet fails like any other unreachable master (and is queued by
/// the driver). The client is kept while requests succeed and rebuilt — re-reading the
/// kubeconfig, which a join may have replaced — after any failure.
pub struct KubeClient {
    options: KubeOptions,
    node: String,
    client: Mutex<Option<kube::Client>>,
}

impl std::fmt::Debug for KubeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let connected = self
            .client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some();
        f.debug_struct("KubeClient")
            .field("options", &self.options)
            .field("node", &self.node)
            .field("client_built", &connected)
            .finish()
    }
}

impl KubeClient {
    /// A client for node `node` (see [`crate::node_name`]).
    pub fn new(options: KubeOptions, node: impl Into<String>) -> Self {
        Self {
            options,
            node: node.into(),
            client: Mutex::new(None),
        }
    }

    /// This node's name.
    pub fn node(&self) -> &str {
        &self.node
    }

    /// The options in use.
    pub fn options(&self) -> &KubeOptions {
        &self.options
    }

    /// Probes the server with `GET /version`.
    pub async fn server_version(&self) -> Result<ServerVersion, Error> {
        let info = self
            .call("query the api server version", |c| async move {
                c.apiserver_version().await
            })
            .await?;
        Ok(ServerVersion {
            git_version: info.git_version,
            platform: info.platform,
        })
    }

    /// kube-monit's probe: `GET /readyz`, which must answer 2xx (a kubeadm cluster lets
    /// anyone read it). Bounded like every call.
    pub async fn ready(&self) -> Result<(), Error> {
        self.call("probe the api server (/readyz)", |c| async move {
            let request = http::Request::get("/readyz")
                .body(Vec::new())
                .map_err(|e| kube::Error::Service(Box::new(e)))?;
            c.request_text(request).await
        })
        .await?;
        Ok(())
    }

    /// This node's labels.
    pub async fn node_labels(&self) -> Result<BTreeMap<String, String>, Error> {
        let node = self.node.clone();
        let n = self
            .call(format!("read node {}", self.node), |c| async move {
                Api::<Node>::all(c).get(&node).await
            })
            .await?;
        Ok(n.metadata.labels.unwrap_or_default())
    }

    /// Applies `patch` to this node's labels as one JSON merge patch (`null` removes).
    pub async fn patch_node_labels(&self, patch: &LabelPatch) -> Result<(), Error> {
        let body = merge_patch_body(patch);
        let node = self.node.clone();
        self.call(
            format!("patch labels of node {}", self.node),
            |c| async move {
                Api::<Node>::all(c)
                    .patch(&node, &PatchParams::default(), &Patch::Merge(&body))
                    .await
            },
        )
        .await?;
        Ok(())
    }

    /// Every node of the cluster, sorted by name.
    pub async fn nodes(&self) -> Result<Vec<NodeInfo>, Error> {
        let list = self
            .call("list nodes", |c| async move {
                Api::<Node>::all(c).list(&ListParams::default()).await
            })
            .await?;
        let mut out: Vec<NodeInfo> = list.items.into_iter().map(node_info).collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// Pods, sorted by namespace and name.
    pub async fn pods(&self, scope: PodScope) -> Result<Vec<PodInfo>, Error> {
        let (action, params) = match scope {
            PodScope::ThisNode => (
                format!("list pods on node {}", self.node),
                ListParams::default().fields(&format!("spec.nodeName={}", self.node)),
            ),
            PodScope::AllNodes => ("list pods".to_owned(), ListParams::default()),
        };
        let list = self
            .call(
                action,
                |c| async move { Api::<Pod>::all(c).list(&params).await },
            )
            .await?;
        let mut out: Vec<PodInfo> = list
            .items
            .into_iter()
            .map(pod_info)
            // A server that ignores the field selector must not make us show other nodes' pods.
            .filter(|p| scope == PodScope::AllNodes || p.node.as_deref() == Some(&self.node))
            .collect();
        out.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        Ok(out)
    }

    /// Runs one request with a client, the whole of it (client construction included) bounded
    /// by the timeout. On failure the cached client is dropped so the next call starts afresh.
    async fn call<T, F, Fut>(&self, action: impl Into<String>, f: F) -> Result<T, Error>
    where
        F: FnOnce(kube::Client) -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let action = action.into();
        let after = self.options.timeout;
        let attempt = async {
            let client = self.client().await?;
            f(client).await.map_err(|source| Error::Api {
                kind: KubeErrorKind::of(&source),
                action: action.clone(),
                source,
            })
        };
        let result = match tokio::time::timeout(after, attempt).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                action: action.clone(),
                after,
            }),
        };
        if let Err(e) = &result {
            tracing::debug!(action, error = %e, "api request failed; the client will be rebuilt");
            *self.client.lock().unwrap_or_else(PoisonError::into_inner) = None;
        }
        result
    }

    /// The cached client, or a new one from the kubeconfig.
    async fn client(&self) -> Result<kube::Client, Error> {
        if let Some(c) = self
            .client
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
        {
            return Ok(c.clone());
        }
        let client = self.build().await?;
        *self.client.lock().unwrap_or_else(PoisonError::into_inner) = Some(client.clone());
        Ok(client)
    }

    async fn build(&self) -> Result<kube::Client, Error> {
        // kube-rs builds its TLS configuration with rustls' process-wide provider. Install
        // ring explicitly: when another crate in the process enables a second provider,
        // rustls cannot choose one by itself. An error only means one is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let path = &self.options.kubeconfig;
        let kubeconfig = Kubeconfig::read_from(path).map_err(|e| Error::Kubeconfig {
            path: path.clone(),
            reason: kubeconfig_reason(&e),
        })?;
        let mut config =
            kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
                .await
                .map_err(|e| Error::Kubeconfig {
                    path: path.clone(),
                    reason: kubeconfig_reason(&e),
                })?;
        // Retries belong to our callers (the pending-label list, the probe loop), not to a
        // client that would silently stretch a bounded call.
        config.default_retry = false;
        // The client's own connect/read timeouts stay at their (longer) defaults: the one
        // bound of a call is ours, so that a slow server is always reported as a timeout.
        kube::Client::try_from(config).map_err(|source| Error::Client {
            path: path.clone(),
            source,
        })
    }
}

/// The body of the merge patch for a label patch: `{"metadata":{"labels":{k: v | null}}}`.
pub fn merge_patch_body(patch: &LabelPatch) -> serde_json::Value {
    let labels: serde_json::Map<String, serde_json::Value> = patch
        .iter()
        .map(|(k, v)| {
            let v = match v {
                Some(v) => serde_json::Value::String(v.as_str().to_owned()),
                None => serde_json::Value::Null,
            };
            (k.as_str().to_owned(), v)
        })
        .collect();
    serde_json::json!({ "metadata": { "labels": labels } })
}

fn node_info(n: Node) -> NodeInfo {
    let labels = n.metadata.labels.unwrap_or_default();
    let roles = labels
        .keys()
        .filter_map(|k| k.strip_prefix("node-role.kubernetes.io/"))
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    let status = n.status.unwrap_or_default();
    let ready = status
        .conditions
        .unwrap_or_default()
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .and_then(|c| match c.status.as_str() {
            "True" => Some(true),
            "False" => Some(false),
            _ => None,
        });
    let kubelet_version = status
        .node_info
        .map(|i| i.kubelet_version)
        .filter(|v| !v.is_empty());
    let internal_ip = status
        .addresses
        .unwrap_or_default()
        .into_iter()
        .find(|a| a.type_ == "InternalIP")
        .map(|a| a.address);
    NodeInfo {
        name: n.metadata.name.unwrap_or_default(),
        ready,
        roles,
        kubelet_version,
        internal_ip,
        labels,
    }
}

fn pod_info(p: Pod) -> PodInfo {
    let status = p.status.unwrap_or_default();
    let statuses = status.container_statuses.unwrap_or_default();
    PodInfo {
        namespace: p.metadata.namespace.unwrap_or_default(),
        name: p.metadata.name.unwrap_or_default(),
        node: p.spec.and_then(|s| s.node_name),
        phase: status.phase,
        ready_containers: statuses.iter().filter(|c| c.ready).count(),
        containers: statuses.len(),
        restarts: statuses
            .iter()
            .map(|c| u64::try_from(c.restart_count).unwrap_or(0))
            .sum(),
        images: statuses.into_iter().map(|c| c.image).collect(),
        start_time: status.start_time.map(|t| t.0.to_string()),
    }
}

impl Labels for KubeClient {
    type Error = Error;

    fn patch_labels(&self, patch: &LabelPatch) -> impl Future<Output = Result<(), Error>> + Send {
        self.patch_node_labels(patch)
    }

    fn labels(&self) -> impl Future<Output = Result<BTreeMap<String, String>, Error>> + Send {
        self.node_labels()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctrmgr_core::{LabelKey, LabelValue};

    #[test]
    fn merge_patch_sets_values_and_removes_with_null() {
        let mut patch = LabelPatch::new();
        patch.insert(
            LabelKey::new("snmp_enabled").expect("key"),
            Some(LabelValue::new("true").expect("value")),
        );
        patch.insert(LabelKey::new("lldp_enabled").expect("key"), None);
        assert_eq!(
            merge_patch_body(&patch),
            serde_json::json!({"metadata": {"labels": {"snmp_enabled": "true", "lldp_enabled": null}}})
        );
    }
}
