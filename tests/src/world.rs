//! The switch in a box (issue 14): one switch's Redis, the fake master with its node, the real
//! `container` binary on the real Docker Engine, the kubelet simulator running the node's
//! DaemonSet pods (with the real `container state <f> up kube` inside), and the invariant
//! checker watching all of it. Every end-to-end scenario builds one, and so does the
//! `demo` example (`cargo xtask demo`); names are unique per test, so scenarios run in
//! parallel, and dropping it removes every container it created.
//!
//! Its helpers panic with the evidence when something does not happen in time
//! ([`DEADLINE`]): it is a test harness.

use std::collections::BTreeMap;
use std::process::{Output, Stdio};
use std::time::Duration;

use crate::fakekube::daemonset_manifest;
use crate::invariant::InvariantChecker;
use crate::kubelet::{KubeletOptions, KubeletSim, PodContainer, pod_containers};
use crate::switch::SwitchFixture;
use crate::systemd::SystemdSim;
use ctrmgr_core::{
    ContainerId, CurrentOwner, FeatureConfig, FeatureName, FeatureRecord, Owner, TransitionMode,
};
use ctrmgr_dockerclient::ContainerSpec;
use ctrmgr_dockerclient::testing::{TRAP_TERM, TestContainer, TestDocker};

mod units;

pub use units::{docker_cli, workspace_binary};
use units::{install_units, kubelet_state_file, mirror_kubelet};

/// A bound for waiting on conditions; never reached when things work.
pub const DEADLINE: Duration = Duration::from_secs(60);
/// The namespace the fleet's DaemonSets live in.
pub const NAMESPACE: &str = "sonic";

/// One switch in a box; see the [module documentation](self).
#[allow(missing_debug_implementations)]
pub struct World {
    /// Redis, the fake master, the switch's directory and tunables.
    pub fixture: SwitchFixture,
    /// The Docker Engine.
    pub docker: TestDocker,
    /// The feature.
    pub feature: FeatureName,
    /// The node (the switch's hostname).
    pub node: String,
    /// The kubelet simulator (taken by [`World::finish`]).
    pub kubelet: Option<KubeletSim>,
    /// The invariant checker (taken by [`World::finish`]).
    pub checker: Option<InvariantChecker>,
    /// The feature's local container (named after the feature), created, not started.
    pub local: TestContainer,
    /// The systemd simulator: `kubelet.service`, the feature's unit as `sonic-kube service
    /// install` rendered it, and the daemons' units from `packaging/systemd/`.
    pub systemd: SystemdSim,
    /// The root the units were installed into.
    pub root: std::path::PathBuf,
    container_bin: std::path::PathBuf,
    mirror: tokio::task::JoinHandle<()>,
}

/// Time in the units (RestartSec, StartLimitIntervalSec, TimeoutStopSec) runs this much faster.
pub const UNIT_TIME_SCALE: f64 = 0.01;

/// The daemons whose units (`packaging/systemd/<name>.service`) the world runs.
pub const DAEMONS: [&str; 3] = ["hostcfgd-watcher", "kube-monit", "kube-labeler"];

impl Drop for World {
    /// Nothing the units and daemons printed in the whole run (the simulator's journal) may
    /// hold the master's bearer token (issue 15, point 6). Checked when the world goes away,
    /// unless the test already failed.
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let journal = self.systemd.journal();
        if let Some(line) = secret_line(&journal, self.fixture.fake.token()) {
            panic!("the master's bearer token reached the logs: {line}");
        }
    }
}

/// The first line of `log` that holds `secret`.
fn secret_line<'a>(log: &'a str, secret: &str) -> Option<&'a str> {
    log.lines()
        .find(|l| !secret.is_empty() && l.contains(secret))
}

impl World {
    /// A switch with feature `<unique>` configured with `owner`/`fallback`, its local
    /// container created, a DaemonSet selecting `<f>_enabled=true` with image `<f>:v1`, the
    /// kubelet simulator and the invariant checker running.
    ///
    /// # Panics
    /// When a part cannot be started (no Docker Engine, no redis-server, …).
    pub async fn new(owner: Owner, fallback: bool) -> Self {
        let feature = FeatureName::new(&TestDocker::unique_name("e")).expect("a feature name");
        let node = format!("node-{}", feature.as_str()).to_lowercase();
        Self::with_names(feature, node, owner, fallback, Duration::from_millis(300)).await
    }

    /// [`World::new`] with a chosen feature and node name and kubelet reaction delay (the
    /// demo's `snmp` on `sonic`).
    ///
    /// # Panics
    /// When a part cannot be started, or the local container's name is taken.
    pub async fn with_names(
        feature: FeatureName,
        node: String,
        owner: Owner,
        fallback: bool,
        reaction_delay: Duration,
    ) -> Self {
        let docker = TestDocker::ensure()
            .await
            .expect("a docker engine (CTRMGR_REQUIRE_DOCKER=1)")
            .expect("the end-to-end scenarios need a Docker Engine");
        Self::on_engine(docker, feature, node, owner, fallback, reaction_delay).await
    }

    /// [`World::with_names`] on a given engine (a test's own, which it restarts).
    ///
    /// # Panics
    /// When a part cannot be started, or the local container's name is taken.
    pub async fn on_engine(
        docker: TestDocker,
        feature: FeatureName,
        node: String,
        owner: Owner,
        fallback: bool,
        reaction_delay: Duration,
    ) -> Self {
        let image = docker.test_image().await.expect("the busybox test image");
        let fixture = start_fixture(&node, &feature, owner, fallback).await;
        let mut spec = ContainerSpec::new(image, &TRAP_TERM);
        spec.name = Some(feature.as_str().to_owned());
        let local = docker
            .container_with(spec)
            .await
            .expect("create the local container");
        insert_daemonset(&fixture, &feature);
        let container_bin = workspace_binary("container");
        let (systemd, root) = install_units(
            &fixture,
            &docker,
            &container_bin,
            &feature,
            owner,
            fallback,
            image,
        )
        .await;
        let kubelet = start_kubelet(
            &fixture,
            &docker,
            &node,
            &container_bin,
            image,
            reaction_delay,
        )
        .await;
        let mirror = mirror_kubelet(&systemd, kubelet_state_file(&fixture), kubelet.notifier());
        systemd.ok(&["start", "kubelet"]).await;
        let checker = InvariantChecker::start(
            fixture.db.clone(),
            docker.client().clone(),
            fixture.fake.labels_reader(),
            feature.clone(),
            feature.as_str().to_owned(),
            node.clone(),
        );
        Self {
            fixture,
            docker,
            feature,
            node,
            kubelet: Some(kubelet),
            checker: Some(checker),
            local,
            systemd,
            root,
            container_bin,
            mirror,
        }
    }

    /// Runs `systemctl <verb> <feature>` through the simulator; expects exit 0.
    ///
    /// # Panics
    /// When it fails.
    pub async fn unit(&self, verb: &str) {
        self.systemd.ok(&[verb, self.f()]).await;
    }

    /// Runs `sonic-kube service install` of `spec` (a JSON spec) into the world's root and
    /// `systemctl daemon-reload` (which sonic-kube runs); expects exit 0.
    ///
    /// # Panics
    /// When it fails.
    pub async fn install_service(&self, spec: &serde_json::Value) {
        let name = spec["name"].as_str().unwrap_or("spec");
        let path = self.fixture.dir.path().join(format!("{name}.spec.json"));
        std::fs::write(&path, spec.to_string()).expect("write the service spec");
        let out = run_ok(
            self,
            "sonic-kube",
            &[
                "service",
                "install",
                "--root",
                &self.root.display().to_string(),
                &path.display().to_string(),
            ],
        )
        .await;
        assert!(out.status.success());
    }

    /// Adds a DaemonSet `<name>` selecting `<name>_enabled=true` with image `<name>:v1`.
    ///
    /// # Panics
    /// When the fake refuses it.
    pub fn add_daemonset(&self, name: &str) {
        self.fixture
            .fake
            .insert_daemonset(&daemonset_manifest(
                NAMESPACE,
                name,
                &format!("{name}:v1"),
                BTreeMap::from([(format!("{name}_enabled"), "true".to_owned())]),
            ))
            .expect("create the DaemonSet");
    }

    /// Starts the daemons' units (hostcfgd-watcher, kube-monit, kube-labeler).
    ///
    /// # Panics
    /// When one does not start.
    pub async fn start_daemons(&self) {
        for d in DAEMONS {
            self.systemd.ok(&["start", d]).await;
        }
    }

    /// Waits (bounded) until `unit` is in `state` (`active`, `failed`, …).
    pub async fn await_unit(&self, unit: &str, state: &str) {
        let mut changes = self.systemd.changes();
        let deadline = tokio::time::Instant::now() + DEADLINE;
        while self.systemd.state(unit).as_str() != state {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            assert!(
                !left.is_zero(),
                "{unit} never {state}: {}; calls {:?}; journal:\n{}",
                self.systemd.state(unit).as_str(),
                self.systemd.calls(),
                self.systemd.journal()
            );
            let _ = tokio::time::timeout(left, changes.changed()).await;
        }
    }

    /// The feature's name.
    pub fn f(&self) -> &str {
        self.feature.as_str()
    }

    /// Runs `container <args>` to completion; expects exit 0.
    ///
    /// # Panics
    /// When it fails.
    pub async fn container(&self, args: &[&str]) -> Output {
        program_ok(self, &self.container_bin, "container", args).await
    }

    /// Starts `container <args>` in the background (killed when dropped), its output piped.
    ///
    /// # Panics
    /// When it cannot be started.
    pub fn spawn_container(&self, args: &[&str]) -> tokio::process::Child {
        let mut c = self.fixture.command(&self.container_bin);
        c.args(args)
            .env("DOCKER_HOST", self.docker.host())
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        c.spawn().expect("container starts")
    }

    /// Writes CONFIG_DB `FEATURE|<f>` (set_owner, fallback).
    pub async fn set_owner(&self, owner: Owner, fallback: bool) {
        self.fixture
            .db
            .set_feature_config(&self.feature, &FeatureConfig::new(owner, fallback))
            .await
            .expect("write CONFIG_DB FEATURE");
    }

    /// STATE_DB `FEATURE|<f>`.
    pub async fn record(&self) -> FeatureRecord {
        self.fixture
            .db
            .feature_record(&self.feature)
            .await
            .expect("read STATE_DB FEATURE")
    }

    /// The node's labels.
    pub fn labels(&self) -> BTreeMap<String, String> {
        self.fixture
            .fake
            .node_labels(&self.node)
            .unwrap_or_default()
    }

    /// Whether the node has `<f>_enabled=true`.
    pub fn label_set(&self) -> bool {
        self.labels()
            .get(&format!("{}_enabled", self.f()))
            .map(String::as_str)
            == Some("true")
    }

    /// Whether the local container runs.
    pub async fn local_running(&self) -> bool {
        self.docker
            .client()
            .is_running(&self.local.name_as_id())
            .await
            .expect("inspect the local container")
    }

    /// The pod's containers on this node.
    pub async fn pods(&self) -> Vec<PodContainer> {
        pod_containers(self.docker.host(), &self.node)
            .await
            .expect("docker ps")
    }

    /// The running feature containers of the pod.
    pub async fn kube_running(&self) -> Vec<PodContainer> {
        self.pods()
            .await
            .into_iter()
            .filter(|c| c.role == "feature" && c.is_running())
            .collect()
    }

    /// Waits (bounded) until the record satisfies `pred`.
    pub async fn await_record(
        &self,
        what: &str,
        pred: impl Fn(&FeatureRecord) -> bool,
    ) -> FeatureRecord {
        self.await_record_of(&self.feature, what, pred).await
    }

    /// [`World::await_record`] for another feature of the switch (one installed with
    /// `service install`).
    pub async fn await_record_of(
        &self,
        feature: &FeatureName,
        what: &str,
        pred: impl Fn(&FeatureRecord) -> bool,
    ) -> FeatureRecord {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let r = self
                .fixture
                .db
                .feature_record(feature)
                .await
                .expect("read STATE_DB FEATURE");
            if pred(&r) {
                return r;
            }
            if let Some(c) = &self.checker {
                c.assert_clean();
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never reached {what}; record {r:?}; pods {:?}; kubelet {:?}",
                self.pods().await,
                self.kubelet.as_ref().map(KubeletSim::events)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits (bounded) until the running kube feature containers number `n`.
    pub async fn await_kube_running(&self, n: usize) -> Vec<PodContainer> {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let k = self.kube_running().await;
            if k.len() == n {
                return k;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never {n} kube containers running; now {k:?}; kubelet {:?}",
                self.kubelet.as_ref().map(KubeletSim::events)
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Stops the checker (failing on any violation) and removes the pods.
    pub async fn finish(mut self) {
        if let Some(c) = self.checker.take() {
            c.finish();
        }
        self.systemd.shutdown().await;
        self.mirror.abort();
        if let Some(k) = self.kubelet.take() {
            k.shutdown().await;
        }
    }
}

/// Whether the record names `id` (a full id) as its container.
pub fn names(r: &FeatureRecord, id: &str) -> bool {
    r.docker_id
        .as_ref()
        .is_some_and(|d| id.starts_with(d.as_str()))
}

/// Whether the record says KUBE_RUNNING.
pub fn kube_running(r: &FeatureRecord) -> bool {
    r.current_owner == CurrentOwner::Kube && r.transition_mode == TransitionMode::KubeRunning
}

/// `s` as a container id.
///
/// # Panics
/// When it is not one.
pub fn id(s: &str) -> ContainerId {
    ContainerId::new(s).expect("a container id")
}

/// Runs a workspace binary (`kube-labeler`) with the switch's arguments; expects exit 0.
pub async fn run_ok(w: &World, bin: &str, args: &[&str]) -> Output {
    program_ok(w, &workspace_binary(bin), bin, args).await
}

/// Runs `program <args>` with the switch's arguments, the engine and `RUST_LOG=info`, output
/// piped; expects exit 0 (`name` in the message).
async fn program_ok(w: &World, program: &std::path::Path, name: &str, args: &[&str]) -> Output {
    let mut c = w.fixture.command(program);
    c.args(args)
        .env("DOCKER_HOST", w.docker.host())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let out = tokio::time::timeout(DEADLINE, c.output())
        .await
        .expect("finishes")
        .expect("runs");
    assert_eq!(
        out.status.code(),
        Some(0),
        "{name} {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The switch fixture of [`World::on_engine`]: short tunables, and the feature's CONFIG_DB row.
async fn start_fixture(
    node: &str,
    feature: &FeatureName,
    owner: Owner,
    fallback: bool,
) -> SwitchFixture {
    let fixture = SwitchFixture::start(node, node).await;
    fixture.write_tunables(serde_json::json!({
        "label_timeout_secs": 2,
        "stop_grace_secs": 3,
        "kube_exit_wait_secs": 10,
        "local_wait_timeout_secs": 5,
        "lock_dir": fixture.dir.path().join("locks"),
        "api_timeout_secs": 2,
        "probe_interval_secs": 1,
        "failure_detection_minute_secs": 1,
    }));
    fixture
        .db
        .set_feature_config(feature, &FeatureConfig::new(owner, fallback))
        .await
        .expect("write CONFIG_DB FEATURE");
    fixture
}

/// The feature's DaemonSet, selecting nodes labelled `<feature>_enabled=true`.
fn insert_daemonset(fixture: &SwitchFixture, feature: &FeatureName) {
    let f = feature.as_str();
    fixture
        .fake
        .insert_daemonset(&daemonset_manifest(
            NAMESPACE,
            f,
            &format!("{f}:v1"),
            BTreeMap::from([(format!("{f}_enabled"), "true".to_owned())]),
        ))
        .expect("create the DaemonSet");
}

/// The kubelet simulator of [`World::on_engine`]: its pods run `container` with the
/// fixture's directories and the engine's socket bound in.
async fn start_kubelet(
    fixture: &SwitchFixture,
    docker: &TestDocker,
    node: &str,
    container_bin: &std::path::Path,
    image: &str,
    reaction_delay: Duration,
) -> KubeletSim {
    let socket = docker.host().trim_start_matches("unix://").to_owned();
    let dir = |p: &std::path::Path| p.display().to_string();
    KubeletSim::start(
        KubeletOptions {
            node: node.to_owned(),
            kubeconfig: fixture.kubeconfig.clone(),
            container_bin: container_bin.to_owned(),
            container_args: fixture.cli_args(),
            binds: vec![
                format!("{0}:{0}", dir(fixture.redis.dir())),
                format!("{0}:{0}", dir(fixture.dir.path())),
                format!("{socket}:{socket}"),
            ],
            docker_host: docker.host().to_owned(),
            env: vec![
                format!("DOCKER_HOST={}", docker.host()),
                "RUST_LOG=info".to_owned(),
            ],
            image: image.to_owned(),
            grace_secs: 3,
            reaction_delay,
            restart_backoff: Duration::from_millis(500),
            unit_state_file: Some(kubelet_state_file(fixture)),
        },
        fixture.fake.subscribe(),
    )
    .await
    .expect("kubelet simulator starts")
}

#[cfg(test)]
mod tests {
    use super::secret_line;

    #[test]
    fn a_log_line_holding_the_token_is_found() {
        let log = "kube-labeler[7]: label queued\nhostcfgd[8]: Authorization: Bearer fake-1234\n";
        assert_eq!(
            secret_line(log, "fake-1234"),
            Some("hostcfgd[8]: Authorization: Bearer fake-1234")
        );
        assert_eq!(secret_line(log, "fake-9999"), None);
        assert_eq!(secret_line(log, ""), None);
    }
}
