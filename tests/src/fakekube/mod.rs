//! A fake Kubernetes API server that behaves like the real one for what sonic-ctrmgr uses
//! (DESIGN.md §6, §8 join/show, §9 "Kubernetes"), reached by the real kube-rs client through a
//! real kubeconfig.
//!
//! - HTTPS only, HTTP/1.1: a CA generated per server (rcgen), a server certificate for
//!   `127.0.0.1`, `localhost` and `::1` signed by it, served with rustls (ring). Clients verify
//!   it against [`FakeKube::ca_pem`], which the kubeconfig carries as
//!   `certificate-authority-data`.
//! - Bearer-token authentication: a request with a wrong token, or with none, gets 401, except
//!   `/version`, `/readyz`, `/livez` and `/healthz`, which a kubeadm cluster lets anonymous
//!   clients read, and `/admin.conf`, which is how a node without credentials gets them.
//! - REST: Nodes (`/api/v1/nodes[/{name}]`), Pods (`/api/v1/pods`,
//!   `/api/v1/namespaces/{ns}/pods[/{name}]`) and DaemonSets (`/apis/apps/v1/daemonsets`,
//!   `/apis/apps/v1/namespaces/{ns}/daemonsets[/{name}]`): GET, LIST (with `labelSelector` and
//!   `fieldSelector`, e.g. `spec.nodeName=<node>`), POST, PUT, PATCH
//!   (`application/merge-patch+json` per RFC 7386, `application/strategic-merge-patch+json`
//!   approximated; anything else is 415) and DELETE. Objects get `uid`, `creationTimestamp` and
//!   an incrementing `resourceVersion` (a `resourceVersion` in a body is a precondition: 409 on
//!   mismatch); label keys and values are validated (422); `status` is a subresource, so writes
//!   through the API leave it alone. Failures are `Status` objects, which kube-rs turns into
//!   `kube::Error::Api`. `watch` is not supported (400).
//! - `GET /version` (v1.33.0), `/readyz`, `/livez`, `/healthz` (`ok`), `/admin.conf` (the
//!   kubeconfig of [`FakeKube::kubeconfig_yaml`]).
//! - Faults ([`Fault`]), set at run time with [`FakeKube::set_fault`], apply to new connections
//!   and new requests: refuse, hang, answer 5xx, answer late.
//! - The test handle plays the kubelet and the controllers: it seeds nodes, DaemonSets and pods
//!   (with `status`), reads what clients did ([`FakeKube::requests`]), and tells simulators about
//!   every change ([`FakeKube::subscribe`]).
//!
//! ```no_run
//! # async fn demo() -> Result<(), ctrmgr_tests::fakekube::FakeKubeError> {
//! use std::collections::BTreeMap;
//! use ctrmgr_tests::fakekube::{FakeKube, Fault};
//! let fake = FakeKube::start().await?;
//! fake.add_node("switch1", BTreeMap::new());
//! fake.write_kubeconfig(std::path::Path::new("/tmp/kubeconfig"))?;
//! // … production code labels the node through the kubeconfig …
//! assert_eq!(fake.patch_count("switch1"), 0);
//! fake.set_fault(Fault::ServerError(503));
//! # Ok(()) }
//! ```

mod api;
mod objects;
mod patch;
mod seed;
mod server;
mod store;
mod tls;

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::unix::fs::OpenOptionsExt as _;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use ctrmgr_core::ports::{ErrorKind, PortError};
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_rustls::TlsAcceptor;

pub use objects::{DOCKER_ID_PREFIX, RunningPod, daemonset_manifest};
use store::{ApiError, Store};

/// What the server does with new connections and requests; see [`FakeKube::set_fault`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fault {
    /// Behave.
    #[default]
    None,
    /// The server is down: new connections are reset at once, open connections are dropped,
    /// and a request arriving on one gets no answer but a closed connection.
    Refuse,
    /// The server is wedged: new connections are accepted and never answered (not even the
    /// TLS handshake), requests on open connections are never answered.
    Hang,
    /// Every request is answered with this HTTP status and a `Status` body (503
    /// `ServiceUnavailable`, 500 `InternalError`, 429 `TooManyRequests`, 504 `Timeout`, …).
    ServerError(u16),
    /// Every request is answered normally, after this delay.
    Slow(Duration),
}

/// A request as the server received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// HTTP method, upper case (`GET`, `PATCH`, …).
    pub method: String,
    /// Path, without the query (`/api/v1/nodes/switch1`).
    pub path: String,
    /// Raw query string, if any (`fieldSelector=spec.nodeName%3Dswitch1`).
    pub query: Option<String>,
    /// `Content-Type` without parameters, lower case (`application/merge-patch+json`).
    pub content_type: Option<String>,
    /// The body, as text (lossy for non-UTF-8 bytes).
    pub body: String,
}

impl RecordedRequest {
    /// The body parsed as JSON, if it is JSON.
    pub fn json(&self) -> Option<Value> {
        serde_json::from_str(&self.body).ok()
    }
}

/// What failed in the fake API server or its handle.
#[derive(Debug, thiserror::Error)]
pub enum FakeKubeError {
    /// Generating the CA or the server certificate failed.
    #[error("cannot generate the fake API server's certificates")]
    Certificate(#[source] rcgen::Error),
    /// Building the TLS configuration failed.
    #[error("cannot configure TLS for the fake API server")]
    Tls(#[source] rustls::Error),
    /// Binding the listening socket failed.
    #[error("cannot bind the fake API server to 127.0.0.1")]
    Bind(#[source] std::io::Error),
    /// Writing a kubeconfig file failed.
    #[error("cannot write kubeconfig {path}")]
    WriteKubeconfig {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// An object could not be converted to or from JSON.
    #[error("cannot convert a Kubernetes object to or from JSON")]
    Json(#[source] serde_json::Error),
    /// The server refused an object given to the handle, as it would refuse it over the API.
    #[error("fake API server refused the request ({code} {reason}): {message}")]
    Rejected {
        /// HTTP status code the API would have answered (404, 409, 422, …).
        code: u16,
        /// The `Status` reason (`NotFound`, `AlreadyExists`, `Invalid`, …).
        reason: String,
        /// The `Status` message.
        message: String,
    },
}

impl FakeKubeError {
    /// The kind of failure.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Self::Certificate(_) | Self::Tls(_) | Self::Json(_) => ErrorKind::Permanent,
            Self::Bind(_) | Self::WriteKubeconfig { .. } => ErrorKind::Transient,
            Self::Rejected { code: 404, .. } => ErrorKind::NotFound,
            Self::Rejected { code: 409, .. } => ErrorKind::Conflict,
            Self::Rejected {
                code: 400 | 422, ..
            } => ErrorKind::InvalidData,
            Self::Rejected { .. } => ErrorKind::Permanent,
        }
    }
}

impl PortError for FakeKubeError {
    fn kind(&self) -> ErrorKind {
        FakeKubeError::kind(self)
    }
}

impl From<ApiError> for FakeKubeError {
    fn from(error: ApiError) -> Self {
        Self::Rejected {
            code: error.code,
            reason: error.reason.to_owned(),
            message: error.message,
        }
    }
}

/// State shared by the handle and the server tasks.
#[derive(Debug)]
pub(crate) struct Shared {
    store: Mutex<Store>,
    requests: Mutex<Vec<RecordedRequest>>,
    fault_sender: watch::Sender<Fault>,
    changes: watch::Sender<u64>,
    token: String,
    kubeconfig: String,
}

/// Locks a mutex; a panic of another holder leaves consistent data here (every critical
/// section is a single store operation), so poisoning is ignored.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    /// Reads the store.
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Store) -> T) -> T {
        f(&lock(&self.store))
    }

    /// Changes the store, and tells subscribers when something changed. The notification is
    /// sent under the lock, so subscribers see generations in order.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut Store) -> T) -> T {
        let mut store = lock(&self.store);
        let before = store.resource_version();
        let out = f(&mut store);
        let after = store.resource_version();
        if after != before {
            self.changes.send_replace(after);
        }
        out
    }

    /// The fault in force.
    pub(crate) fn fault(&self) -> Fault {
        *self.fault_sender.borrow()
    }

    /// Keeps a request for [`FakeKube::requests`].
    pub(crate) fn record(&self, request: RecordedRequest) {
        lock(&self.requests).push(request);
    }
}

/// A running fake API server and the handle to drive it. The server runs on its own tokio
/// tasks and stops when this is dropped.
#[derive(Debug)]
pub struct FakeKube {
    shared: Arc<Shared>,
    addr: SocketAddr,
    ca_pem: String,
    server: JoinHandle<()>,
}

impl Drop for FakeKube {
    fn drop(&mut self) {
        // Aborting the accept loop drops its listener and its set of connection tasks.
        self.server.abort();
    }
}

/// Names in the generated kubeconfig.
const CLUSTER_NAME: &str = "fake-kubernetes";
const USER_NAME: &str = "fake-admin";
const CONTEXT_NAME: &str = "fake-admin@fake-kubernetes";

impl FakeKube {
    /// Generates a CA and certificates, binds `127.0.0.1` on a free port, and starts serving
    /// on tasks of the current tokio runtime.
    pub async fn start() -> Result<Self, FakeKubeError> {
        let pki = tls::Pki::generate()?;
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .map_err(FakeKubeError::Bind)?;
        let addr = listener.local_addr().map_err(FakeKubeError::Bind)?;
        let token = format!("fake-{}", uuid::Uuid::new_v4().simple());
        let kubeconfig = kubeconfig_yaml(&url_of(addr), &pki.ca_pem, &token);
        let shared = Arc::new(Shared {
            store: Mutex::new(Store::default()),
            requests: Mutex::new(Vec::new()),
            fault_sender: watch::Sender::new(Fault::None),
            changes: watch::Sender::new(0),
            token,
            kubeconfig,
        });
        let acceptor = TlsAcceptor::from(pki.server_config);
        let server = tokio::spawn(server::serve(listener, acceptor, Arc::clone(&shared)));
        Ok(Self {
            shared,
            addr,
            ca_pem: pki.ca_pem,
            server,
        })
    }

    /// The server's URL, `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        url_of(self.addr)
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL of the kubeconfig a joining node fetches, `https://127.0.0.1:PORT/admin.conf`.
    pub fn admin_conf_url(&self) -> String {
        format!("{}/admin.conf", self.url())
    }

    /// The CA certificate (PEM) that signed the server certificate.
    pub fn ca_pem(&self) -> String {
        self.ca_pem.clone()
    }

    /// The bearer token the server accepts.
    pub fn token(&self) -> &str {
        &self.shared.token
    }

    /// A kubeconfig for this server: cluster with `certificate-authority-data`, user with the
    /// token, one context, `current-context` set. Also served at `/admin.conf`.
    pub fn kubeconfig_yaml(&self) -> String {
        self.shared.kubeconfig.clone()
    }

    /// Writes [`Self::kubeconfig_yaml`] to `path`, mode 0600 (it holds a credential).
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), FakeKubeError> {
        let write = || -> std::io::Result<()> {
            let mut file = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(path)?;
            file.write_all(self.shared.kubeconfig.as_bytes())?;
            file.sync_all()
        };
        write().map_err(|source| FakeKubeError::WriteKubeconfig {
            path: path.to_owned(),
            source,
        })
    }

    // ---- faults and observation ----

    /// Sets the fault; it applies to connections and requests that arrive from now on
    /// ([`Fault::Refuse`] also drops open connections).
    pub fn set_fault(&self, fault: Fault) {
        self.shared.fault_sender.send_replace(fault);
    }

    /// The fault in force.
    pub fn fault(&self) -> Fault {
        self.shared.fault()
    }

    /// Every request received so far (also those answered with a fault, except under
    /// [`Fault::Refuse`], which no request reaches), oldest first.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.requests).clone()
    }

    /// Forgets the recorded requests.
    pub fn clear_requests(&self) {
        lock(&self.shared.requests).clear();
    }

    /// How many PATCH requests for the node `node` were received.
    pub fn patch_count(&self, node: &str) -> usize {
        let path = format!("/api/v1/nodes/{node}");
        lock(&self.shared.requests)
            .iter()
            .filter(|r| r.method == "PATCH" && r.path == path)
            .count()
    }

    /// A receiver of the store's change generation: the value is the resourceVersion of the
    /// last change, and it changes on every create, update or delete of any object, through
    /// the API or the handle. Simulators `changed().await` on it instead of polling.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.shared.changes.subscribe()
    }

    /// The current change generation (see [`Self::subscribe`]).
    pub fn generation(&self) -> u64 {
        self.shared.read(Store::resource_version)
    }
}

fn url_of(addr: SocketAddr) -> String {
    format!("https://{addr}")
}

/// The kubeconfig YAML for a server at `url` trusting `ca_pem`, authenticating with `token`.
/// The values are base64, a URL and a generated token: plain YAML scalars needing no quoting.
fn kubeconfig_yaml(url: &str, ca_pem: &str, token: &str) -> String {
    let ca_data = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: {CLUSTER_NAME}
  cluster:
    server: {url}
    certificate-authority-data: {ca_data}
contexts:
- name: {CONTEXT_NAME}
  context:
    cluster: {CLUSTER_NAME}
    user: {USER_NAME}
current-context: {CONTEXT_NAME}
preferences: {{}}
users:
- name: {USER_NAME}
  user:
    token: {token}
"
    )
}
