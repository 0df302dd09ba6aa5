//! # ctrmgr-kubeclient
//!
//! The Kubernetes adapter of sonic-ctrmgr, over kube-rs and k8s-openapi (rustls, ring).
//! It does only what a SONiC switch needs from the API server:
//!
//! - [`KubeClient`]: this node's labels ([`KubeClient::node_labels`]) and one JSON merge patch
//!   to change them ([`KubeClient::patch_node_labels`]; `null` removes a label), a probe
//!   ([`KubeClient::server_version`], `GET /version`), and the listings behind `sonic-kube show
//!   nodes | pods` ([`KubeClient::nodes`], [`KubeClient::pods`]). Every call, kubeconfig loading
//!   included, is bounded by [`KubeOptions::timeout`].
//! - [`fetch_admin_conf`] and [`kubeconfig_server_host`]: what a join needs before it has
//!   credentials — `admin.conf` over HTTPS (verified against a CA file or the system's roots
//!   unless insecure) and the check that it is a usable kubeconfig; [`KubeClient::ready`] is
//!   kube-monit's probe (`GET /readyz`).
//! - [`node_name`]: the node name, `DEVICE_METADATA|localhost` `hostname` lower-cased, else the
//!   system hostname.
//! - [`Error`], with [`Error::kube_kind`] ([`KubeErrorKind`]: unreachable, timeout,
//!   unauthorized, not found, server error, …) and, through
//!   [`ctrmgr_core::ports::PortError`], the coarser kind the driver's retry policy uses.
//!
//! [`KubeClient`] implements [`ctrmgr_core::ports::Labels`] in the core's own types, so the
//! driver never sees a kube-rs type:
//!
//! ```no_run
//! # async fn f() -> Result<(), ctrmgr_kubeclient::Error> {
//! use ctrmgr_core::{label::coalesce, LabelOp};
//! use ctrmgr_core::ports::Labels;
//! use ctrmgr_kubeclient::{KubeClient, KubeOptions};
//!
//! let kube = KubeClient::new(KubeOptions::default(), "sonic-1");
//! let ops = [LabelOp::add("snmp_enabled", "true").expect("valid label")];
//! kube.patch_labels(&coalesce(&ops)).await?;
//! # Ok(()) }
//! ```
//!
//! TLS is always verified against the kubeconfig's CA unless the kubeconfig itself says
//! `insecure-skip-tls-verify: true`. The client does no retries of its own: retrying is the
//! caller's policy (the pending-label list, kube-monit's probe).
#![deny(missing_docs)]

mod admin;
mod client;
mod error;
mod node_name;

pub use admin::{fetch_admin_conf, kubeconfig_server_host};
pub use client::{
    DEFAULT_KUBECONFIG, DEFAULT_TIMEOUT, KubeClient, KubeOptions, NodeInfo, PodInfo, PodScope,
    ServerVersion, merge_patch_body,
};
pub use error::{Error, KubeErrorKind, kubeconfig_reason};
pub use node_name::{HOSTNAME_FILE, node_name, node_name_with};
