//! A kubelet simulator (DESIGN.md §9, issue 14 item 1): it follows the fake API server's Nodes
//! and DaemonSets with the real kube-rs client and runs, on the real Docker Engine, the pod of
//! every DaemonSet whose `nodeSelector` matches its node's labels, as kubelet's Docker runtime
//! does:
//!
//! - a sandbox ("pause") container `k8s_POD_<pod>_<ns>_<uid>_0` on the host network (SONiC's
//!   DaemonSets use `hostNetwork`), and the feature container
//!   `k8s_<container>_<pod>_<ns>_<uid>_<attempt>` joined to its network namespace
//!   (`--network container:<sandbox>`);
//! - the feature container's entrypoint runs the real `container state <f> up kube` (the
//!   binary bind-mounted at [`BIN_INSIDE`] with the host's libraries) and only when it returns
//!   the workload; it traps SIGTERM to run `container state <f> down`;
//! - labels no longer matching, or the DaemonSet gone: the pod is stopped (SIGTERM, the grace
//!   period, SIGKILL) and removed; the DaemonSet's image changed: the old pod is stopped and a
//!   new one started (rolling, one node); a feature container that exits while the labels still
//!   match is replaced after a backoff (restartPolicy Always), the backoff doubling up to a cap;
//! - while "kubelet" is stopped ([`KubeletSim::set_running`], or the `systemctl` simulator's
//!   state file saying it is not `active`) it does nothing: running containers keep running;
//! - reactions are asynchronous: every pass waits [`KubeletOptions::reaction_delay`] after the
//!   change that woke it, so tests can make it slow.
//!
//! It wakes on the fake's change generation ([`crate::fakekube::FakeKube::subscribe`]), on a
//! feature container's exit (a `docker wait` per container) and on [`KubeletSim::set_running`];
//! it does not poll. Each pass reads the node and the DaemonSets through the API (an
//! unreachable master leaves every pod as it is), and Docker through the `docker` CLI
//! (`docker ps`, `create`, `start`, `stop`, `rm`; argv only). The image the DaemonSet names is
//! recorded as a container label; the containers themselves run the local busybox test image
//! with the entrypoint above. Dropping the handle stops the loop and removes every container it
//! created.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

mod pods;

pub use pods::pod_containers;
use pods::{docker, remove_all, start_feature, start_pod, stop_pod};

/// Where the feature container finds the `container` binary.
pub const BIN_INSIDE: &str = "/ctrmgr/container";

/// Docker label: the node whose kubelet created the container.
pub const NODE_LABEL: &str = "ctrmgr-kubelet.node";
/// Docker label: `<namespace>/<daemonset>`.
pub const DS_LABEL: &str = "ctrmgr-kubelet.daemonset";
/// Docker label: the image the DaemonSet named.
pub const IMAGE_LABEL: &str = "ctrmgr-kubelet.image";
/// Docker label: `sandbox` or `feature`.
pub const ROLE_LABEL: &str = "ctrmgr-kubelet.role";
/// Docker label: the feature the pod's container runs (its container name).
pub const FEATURE_LABEL: &str = "io.kubernetes.container.name";
/// The label every test container carries (as `ctrmgr_dockerclient::testing::TEST_LABEL`).
const TEST_LABEL: &str = "ctrmgr-test";

/// The entrypoint of a feature container: `sh -c ENTRYPOINT sh <feature> <container args…>`.
/// `container state <f> up kube` runs in the background so that a SIGTERM arriving while it
/// waits for approval is handled at once; the workload starts only once it succeeded.
const ENTRYPOINT: &str = r#"F=$1; shift
up=
trap 'kill $up 2>/dev/null; /ctrmgr/container "$@" state "$F" down; exit 0' TERM
/ctrmgr/container "$@" state "$F" up kube & up=$!
wait $up || exit 1
up=
touch /tmp/ready
sleep 1000000 & wait
"#;

/// How the simulator runs pods.
#[derive(Debug, Clone)]
pub struct KubeletOptions {
    /// The node this kubelet is.
    pub node: String,
    /// The kubeconfig it reaches the API server with.
    pub kubeconfig: PathBuf,
    /// The `container` binary on the host (bind-mounted at [`BIN_INSIDE`]).
    pub container_bin: PathBuf,
    /// Arguments of `container` before its verb (`--db-config … --config … --log-to-stderr`).
    pub container_args: Vec<String>,
    /// Extra bind mounts (`host:inside[:ro]`): the Redis socket's directory, the switch's dir.
    pub binds: Vec<String>,
    /// Extra environment entries (`NAME=value`), e.g. `DOCKER_HOST`.
    pub env: Vec<String>,
    /// The address of the node's Docker Engine (`unix:///…`), which the simulator's `docker`
    /// commands use.
    pub docker_host: String,
    /// The image the containers are made from (the local busybox test image).
    pub image: String,
    /// `terminationGracePeriodSeconds`: SIGTERM, then SIGKILL after this many seconds.
    pub grace_secs: u32,
    /// How long each pass waits after the change that woke it.
    pub reaction_delay: Duration,
    /// The first restart backoff; it doubles with every restart of the pod's container, capped
    /// at eight times it, and starts again with a new pod.
    pub restart_backoff: Duration,
    /// A file holding the kubelet unit's state (the `systemctl` simulator's); any content but
    /// `active` means kubelet is stopped. `None`: only [`KubeletSim::set_running`] counts.
    pub unit_state_file: Option<PathBuf>,
}

/// One container of a pod as Docker lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PodContainer {
    /// Container id.
    pub id: String,
    /// Container name (`k8s_snmp_…`).
    pub name: String,
    /// Docker's state word (`running`, `exited`, …).
    pub state: String,
    /// `<namespace>/<daemonset>`.
    pub daemonset: String,
    /// The DaemonSet's image.
    pub image: String,
    /// `sandbox` or `feature`.
    pub role: String,
    /// The container name in the pod (the feature).
    pub feature: String,
}

impl PodContainer {
    /// Whether it runs.
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }
}

/// A line of what the simulator did, for transcripts and failure messages.
pub type Event = String;

struct Shared {
    opts: KubeletOptions,
    running: watch::Sender<bool>,
    wake: Notify,
    events: Mutex<Vec<Event>>,
}

impl Shared {
    fn log(&self, line: String) {
        tracing::info!(target: "kubelet-sim", "{line}");
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(line);
    }
}

/// The simulator; see the [module documentation](self).
pub struct KubeletSim {
    shared: Arc<Shared>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for KubeletSim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeletSim")
            .field("node", &self.shared.opts.node)
            .finish_non_exhaustive()
    }
}

/// What failed starting the simulator.
#[derive(Debug, thiserror::Error)]
pub enum KubeletError {
    /// The kubeconfig could not be read or used.
    #[error("kubelet simulator: kubeconfig {path}: {reason}")]
    Kubeconfig {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
}

async fn client(path: &Path) -> Result<kube::Client, KubeletError> {
    let bad = |reason: String| KubeletError::Kubeconfig {
        path: path.to_owned(),
        reason,
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let kubeconfig = Kubeconfig::read_from(path).map_err(|e| bad(e.to_string()))?;
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| bad(e.to_string()))?;
    config.default_retry = false;
    config.read_timeout = Some(Duration::from_secs(3));
    config.connect_timeout = Some(Duration::from_secs(3));
    kube::Client::try_from(config).map_err(|e| bad(e.to_string()))
}

/// Whether `selector` ⊆ `labels`.
fn matches(selector: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// A DaemonSet's pod as this node should run it.
#[derive(Debug, Clone)]
struct Wanted {
    /// `<ns>/<name>`.
    key: String,
    namespace: String,
    name: String,
    container: String,
    image: String,
}

impl KubeletSim {
    /// Starts the simulator's loop (kubelet running).
    ///
    /// # Errors
    /// When the kubeconfig cannot be used.
    pub async fn start(
        opts: KubeletOptions,
        changes: watch::Receiver<u64>,
    ) -> Result<Self, KubeletError> {
        let client = client(&opts.kubeconfig).await?;
        let (running, _) = watch::channel(true);
        let shared = Arc::new(Shared {
            opts,
            running,
            wake: Notify::new(),
            events: Mutex::new(Vec::new()),
        });
        let task = tokio::spawn(run(shared.clone(), client, changes));
        Ok(Self { shared, task })
    }

    /// Starts (`true`) or stops (`false`) "kubelet": stopped, it changes nothing.
    pub fn set_running(&self, running: bool) {
        self.shared.running.send_replace(running);
        self.shared.wake.notify_one();
    }

    /// Wakes the loop, as a change would (after the systemctl simulator changed kubelet's
    /// state file, for instance).
    pub fn poke(&self) {
        self.shared.wake.notify_one();
    }

    /// What [`Self::poke`] notifies, for a task that wakes the simulator (the world's mirror
    /// of `kubelet.service`).
    pub fn notifier(&self) -> impl Fn() + Send + 'static {
        let shared = self.shared.clone();
        move || shared.wake.notify_one()
    }

    /// What it did so far, oldest first.
    pub fn events(&self) -> Vec<Event> {
        self.shared
            .events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Stops the loop and removes every container of its node (SIGKILL).
    pub async fn shutdown(self) {
        self.task.abort();
        remove_all(&self.shared.opts.docker_host, &self.shared.opts.node).await;
    }
}

impl Drop for KubeletSim {
    fn drop(&mut self) {
        self.task.abort();
        // Best effort, synchronous: a test that panicked still leaves nothing behind.
        let filter = format!("label={NODE_LABEL}={}", self.shared.opts.node);
        let host = &self.shared.opts.docker_host;
        if let Ok(out) = std::process::Command::new("docker")
            .args(["ps", "-aq", "--filter", &filter])
            .env("DOCKER_HOST", host)
            .output()
        {
            let ids: Vec<String> = String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .map(str::to_owned)
                .collect();
            if !ids.is_empty() {
                let _ = std::process::Command::new("docker")
                    .args(["rm", "-f"])
                    .env("DOCKER_HOST", host)
                    .args(&ids)
                    .output();
            }
        }
    }
}

/// Wakes the loop once `delay` has passed.
fn wake_after(shared: &Arc<Shared>, delay: Duration) {
    let shared = shared.clone();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        shared.wake.notify_one();
    });
}

/// The loop: wait for a change, wait the reaction delay, reconcile.
async fn run(shared: Arc<Shared>, client: kube::Client, mut changes: watch::Receiver<u64>) {
    let mut backoff: HashMap<String, (Duration, Instant)> = HashMap::new();
    loop {
        reconcile(&shared, &client, &mut backoff).await;
        tokio::select! {
            r = changes.changed() => if r.is_err() { return },
            () = shared.wake.notified() => {}
        }
        tokio::time::sleep(shared.opts.reaction_delay).await;
    }
}

fn kubelet_active(shared: &Shared) -> bool {
    if !*shared.running.borrow() {
        return false;
    }
    match &shared.opts.unit_state_file {
        Some(path) => std::fs::read_to_string(path)
            .map(|s| s.trim() == "active")
            .unwrap_or(true),
        None => true,
    }
}

/// One pass: the pods the node's labels select are made to run, and the others are stopped.
async fn reconcile(
    shared: &Arc<Shared>,
    client: &kube::Client,
    backoff: &mut HashMap<String, (Duration, Instant)>,
) {
    if !kubelet_active(shared) {
        return;
    }
    let opts = &shared.opts;
    let Some(wanted) = wanted_pods(&opts.node, client).await else {
        return; // master unreachable: leave every pod as it is
    };
    let Ok(actual) = pod_containers(&opts.docker_host, &opts.node).await else {
        // The engine is away (dockerd restarting): look again after the backoff, as kubelet's
        // pod lifecycle event generator relists.
        wake_after(shared, opts.restart_backoff);
        return;
    };
    stop_unwanted(shared, &wanted, &actual).await;
    // Start what must run.
    for w in &wanted {
        let current: Vec<&PodContainer> = actual
            .iter()
            .filter(|c| c.daemonset == w.key && c.image == w.image)
            .collect();
        let feature = current.iter().find(|c| c.role == "feature");
        match feature {
            Some(c) if c.is_running() => {}
            Some(c) => restart_exited(shared, w, c, &current, backoff).await,
            None => {
                backoff.remove(&w.key);
                remove_pod(shared, &current).await;
                shared.log(format!(
                    "{}: labels match, starting pod ({})",
                    w.key, w.image
                ));
                if let Err(e) = start_pod(shared, w).await {
                    shared.log(format!("{}: start failed: {e}", w.key));
                    // Tried again after the backoff, as kubelet requeues a failed pod sync.
                    wake_after(shared, opts.restart_backoff);
                }
            }
        }
    }
}

/// The pods of the DaemonSets whose node selector the node's labels match; `None` when the
/// master cannot be asked.
async fn wanted_pods(node: &str, client: &kube::Client) -> Option<Vec<Wanted>> {
    let nodes: Api<Node> = Api::all(client.clone());
    let node = nodes.get(node).await.ok()?;
    let labels = node.metadata.labels.unwrap_or_default();
    let daemonsets: Api<DaemonSet> = Api::all(client.clone());
    let list = daemonsets.list(&ListParams::default()).await.ok()?;
    let wanted = list
        .items
        .into_iter()
        .filter_map(|ds| {
            let namespace = ds.metadata.namespace.clone().unwrap_or_default();
            let name = ds.metadata.name.clone()?;
            let pod = ds.spec?.template.spec?;
            let selector = pod.node_selector.unwrap_or_default();
            let c = pod.containers.into_iter().next()?;
            matches(&selector, &labels).then(|| Wanted {
                key: format!("{namespace}/{name}"),
                namespace,
                name,
                container: c.name,
                image: c.image.unwrap_or_default(),
            })
        })
        .collect();
    Some(wanted)
}

/// Stops what must not run: no longer wanted, or another image.
async fn stop_unwanted(shared: &Arc<Shared>, wanted: &[Wanted], actual: &[PodContainer]) {
    let mut stopped = Vec::new();
    for c in actual {
        let keep = wanted
            .iter()
            .any(|w| w.key == c.daemonset && w.image == c.image);
        if keep || stopped.contains(&c.daemonset) {
            continue;
        }
        stopped.push(c.daemonset.clone());
        let reason = if wanted.iter().any(|w| w.key == c.daemonset) {
            "image changed"
        } else {
            "labels no longer match"
        };
        stop_pod(shared, actual, &c.daemonset, reason).await;
    }
}

/// The feature container `c` of `w` exited while wanted: restartPolicy Always, after a
/// backoff (in its sandbox, or in a new pod when the sandbox died too).
async fn restart_exited(
    shared: &Arc<Shared>,
    w: &Wanted,
    c: &PodContainer,
    current: &[&PodContainer],
    backoff: &mut HashMap<String, (Duration, Instant)>,
) {
    let opts = &shared.opts;
    let now = Instant::now();
    let (delay, not_before) = *backoff
        .entry(w.key.clone())
        .or_insert((opts.restart_backoff, now + opts.restart_backoff));
    if now < not_before {
        wake_after(shared, not_before - now);
        return;
    }
    let attempt: u32 = c
        .name
        .rsplit('_')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let _ = docker(&opts.docker_host, &["rm", "-f", &c.id]).await;
    let sandbox = current.iter().find(|c| c.role == "sandbox");
    shared.log(format!(
        "{}: container {} exited, restarting (attempt {})",
        w.key,
        c.name,
        attempt + 1
    ));
    match sandbox {
        Some(sb) if sb.is_running() => {
            if let Err(e) = start_feature(shared, w, &sb.id, attempt + 1).await {
                shared.log(format!("{}: restart failed: {e}", w.key));
                // Tried again after the backoff, as kubelet requeues a failed pod sync.
                wake_after(shared, opts.restart_backoff);
            }
        }
        _ => {
            // The sandbox died too (a reboot): a new pod, as kubelet does.
            remove_pod(shared, current).await;
            shared.log(format!("{}: sandbox gone, new pod", w.key));
            if let Err(e) = start_pod(shared, w).await {
                shared.log(format!("{}: start failed: {e}", w.key));
                // Tried again after the backoff, as kubelet requeues a failed pod sync.
                wake_after(shared, opts.restart_backoff);
            }
        }
    }
    let next = (delay * 2).min(opts.restart_backoff * 8);
    backoff.insert(w.key.clone(), (next, Instant::now() + next));
}

/// `docker rm -f` of every container of a pod.
async fn remove_pod(shared: &Shared, containers: &[&PodContainer]) {
    for c in containers {
        let _ = docker(&shared.opts.docker_host, &["rm", "-f", &c.id]).await;
    }
}
