//! Approvals that really stop and start containers: hostcfgd-watcher feeds Approve, the
//! `systemctl` simulator's `try-restart` of the feature's unit runs `container stop` and
//! `container start` (the real binary) against the real Docker Engine, and a kube container's
//! `container state <f> up kube`, waiting for approval, proceeds.

use std::process::Stdio;
use std::time::Duration;

use ctrmgr_core::{ContainerId, FeatureConfig, FeatureName, FeatureRecord, Owner, State};
use ctrmgr_dockerclient::ContainerSpec;
use ctrmgr_dockerclient::testing::{TRAP_TERM, TestContainer, TestDocker};
use ctrmgr_tests::sim::{UnitCommands, workspace_binary};

use super::{DEADLINE, Daemon, Joinable, NODE};

/// A switch with Docker: the simulator's units run the real `container`.
struct DockerSwitch {
    sw: Joinable,
    docker: TestDocker,
    container: std::path::PathBuf,
    f: FeatureName,
    keep: Vec<TestContainer>,
}

impl DockerSwitch {
    async fn new(restart_pause_secs: Option<f64>) -> Option<Self> {
        let docker = TestDocker::ensure()
            .await
            .expect("a docker engine (CTRMGR_REQUIRE_DOCKER=1)")?;
        docker.test_image().await.expect("the busybox test image");
        let container = workspace_binary("container");
        // The simulator needs the switch's paths, which exist once the switch does: build it,
        // then write the simulator again with the unit commands.
        let sw = Joinable::new(&UnitCommands::default()).await;
        let commands = UnitCommands {
            container: Some(container.clone()),
            args: sw.fixture.cli_args(),
            env: vec![
                ("DOCKER_HOST".to_owned(), docker.host().to_owned()),
                ("RUST_LOG".to_owned(), "info".to_owned()),
            ],
            restart_pause_secs,
        };
        let sw = Joinable {
            systemctl: ctrmgr_tests::sim::SystemdSim::create(sw.fixture.dir.path(), &commands),
            ..sw
        };
        sw.write_tunables(serde_json::json!({
            "stop_grace_secs": 2,
            "kube_exit_wait_secs": 1,
        }));
        // Labels go to the fake master through its kubeconfig, where a join would write it.
        sw.fixture
            .fake
            .write_kubeconfig(&sw.kubeconfig)
            .expect("kubeconfig");
        let f = FeatureName::new(&TestDocker::unique_name("a")).expect("feature name");
        Some(Self {
            sw,
            docker,
            container,
            f,
            keep: Vec::new(),
        })
    }

    async fn configure(&self, owner: Owner) {
        self.sw
            .fixture
            .db
            .set_feature_config(&self.f, &FeatureConfig::new(owner, false))
            .await
            .expect("CONFIG_DB FEATURE");
    }

    /// A container running until SIGTERM, named `name` (unique when `None`), started.
    async fn running_container(&mut self, name: Option<&str>) -> ContainerId {
        let image = self.docker.test_image().await.expect("image");
        let mut spec = ContainerSpec::new(image, &TRAP_TERM);
        spec.name = name.map(str::to_owned);
        let c = self.docker.container_with(spec).await.expect("create");
        let id = c.id().clone();
        self.keep.push(c);
        self.docker.client().start(&id).await.expect("start");
        id
    }

    fn container_cmd(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = tokio::process::Command::new(&self.container);
        c.args(self.sw.fixture.cli_args())
            .args(args)
            .env("DOCKER_HOST", self.docker.host())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        c
    }

    async fn container_ok(&self, args: &[&str]) {
        let out = tokio::time::timeout(DEADLINE, self.container_cmd(args).output())
            .await
            .expect("finishes")
            .expect("runs");
        assert!(
            out.status.success(),
            "container {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// `container state <f> up kube --id <id>` in the background: a kube container asking.
    fn ask(&self, id: &ContainerId) -> tokio::process::Child {
        let mut c =
            self.container_cmd(&["state", self.f.as_str(), "up", "kube", "--id", id.as_str()]);
        c.stdout(Stdio::null()).stderr(Stdio::null());
        c.spawn().expect("container state up kube")
    }

    async fn record(&self) -> FeatureRecord {
        self.sw
            .fixture
            .db
            .feature_record(&self.f)
            .await
            .expect("STATE_DB")
    }

    async fn await_state(&self, want: State) -> FeatureRecord {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let r = self.record().await;
            if r.state() == want {
                return r;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never {want}; last {r:?}; calls {:?}; units: {}",
                self.sw.systemctl.calls(),
                self.sw.systemctl.unit_log()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    async fn running(&self, id: &ContainerId) -> bool {
        self.docker.client().is_running(id).await.expect("inspect")
    }

    /// The local container running as LOCAL, its unit active.
    async fn local_running(&mut self) -> ContainerId {
        self.configure(Owner::Local).await;
        let name = self.f.as_str().to_owned();
        let id = self.running_container(Some(&name)).await;
        self.docker
            .client()
            .stop(&id, 1)
            .await
            .expect("stopped until started");
        self.container_ok(&["start", self.f.as_str()]).await;
        self.sw.systemctl.set_state(self.f.as_str(), "active");
        assert_eq!(self.record().await.state(), State::Local);
        id
    }

    fn labelled(&self) -> bool {
        self.sw
            .fixture
            .fake
            .node_labels(NODE)
            .expect("node")
            .contains_key(&self.f.enable_label_key())
    }
}

async fn exits_zero(mut child: tokio::process::Child, what: &str) {
    let status = tokio::time::timeout(DEADLINE, child.wait())
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish"))
        .expect("wait");
    assert_eq!(status.code(), Some(0), "{what}");
}

#[tokio::test]
async fn local_to_kube_the_waiting_kube_container_is_approved_and_the_local_one_stopped() {
    let Some(mut d) = DockerSwitch::new(None).await else {
        return;
    };
    let local = d.local_running().await;
    d.configure(Owner::Kube).await;
    let kube = d.running_container(None).await;
    let asking = d.ask(&kube);
    d.await_state(State::LocalToKube).await;

    let daemon = Daemon::spawn(&d.sw, &[]);
    exits_zero(asking, "the kube container's `state up kube`").await;
    let rec = d.await_state(State::KubeRunning).await;
    assert_eq!(rec.docker_id.as_ref(), Some(&kube));
    assert!(!d.running(&local).await, "the local container was stopped");
    assert!(d.running(&kube).await);
    assert!(d.labelled(), "the label stays for the kube container");
    let calls = d.sw.systemctl.calls();
    assert!(
        calls.contains(&format!("try-restart {}", d.f)),
        "one try-restart job: {calls:?}"
    );
    let (code, log) = daemon.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("approval"), "{log}");
}

#[tokio::test]
async fn manifest_update_a_new_kube_container_is_approved_after_the_old_one_exited() {
    let Some(mut d) = DockerSwitch::new(None).await else {
        return;
    };
    d.configure(Owner::Kube).await;
    let old = d.running_container(None).await;
    d.sw.fixture
        .db
        .set_feature_record(
            &d.f,
            &FeatureRecord::of_state(State::KubeRunning, Some(old.clone())),
        )
        .await
        .expect("record");
    d.sw.systemctl.set_state(d.f.as_str(), "active");
    let daemon = Daemon::spawn(&d.sw, &[]);

    // The old container exits (the DaemonSet replaces it) and says so at its pre-stop.
    d.docker.client().stop(&old, 1).await.expect("stop");
    d.container_ok(&["state", d.f.as_str(), "down", "--id", old.as_str()])
        .await;
    d.await_state(State::KubeStopped).await;

    let new = d.running_container(None).await;
    let asking = d.ask(&new);
    exits_zero(asking, "the new container's `state up kube`").await;
    let rec = d.await_state(State::KubeRunning).await;
    assert_eq!(rec.docker_id.as_ref(), Some(&new));
    let (code, log) = daemon.terminate().await;
    assert_eq!(code, Some(0), "{log}");
}

#[tokio::test]
async fn set_owner_turned_local_during_an_approval_ends_in_local() {
    let Some(mut d) = DockerSwitch::new(Some(2.0)).await else {
        return;
    };
    let local = d.local_running().await;
    d.configure(Owner::Kube).await;
    let kube = d.running_container(None).await;
    let mut asking = d.ask(&kube);
    d.await_state(State::LocalToKube).await;

    let daemon = Daemon::spawn(&d.sw, &[]);
    // The approval's stop has run (the local container stopped): turn the owner back to local
    // before its start.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while d.running(&local).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the approval never stopped the local container"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    d.configure(Owner::Local).await;

    let rec = d.await_state(State::Local).await;
    assert_eq!(rec.docker_id.as_ref(), Some(&local));
    assert!(d.running(&local).await, "the local image runs again");
    // The kube container never runs the feature: it is parked (still blocked).
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        asking.try_wait().expect("try_wait").is_none(),
        "parked, not proceeding"
    );
    assert!(!d.labelled(), "the label is removed with owner local");
    let _ = asking.kill().await;
    let (code, log) = daemon.terminate().await;
    assert_eq!(code, Some(0), "{log}");
}

#[tokio::test]
async fn a_hostcfgd_killed_between_the_stop_and_the_start_of_an_approval_is_finished_after_its_restart()
 {
    let Some(mut d) = DockerSwitch::new(Some(2.0)).await else {
        return;
    };
    let local = d.local_running().await;
    d.configure(Owner::Kube).await;
    let kube = d.running_container(None).await;
    let asking = d.ask(&kube);
    d.await_state(State::LocalToKube).await;

    let daemon = Daemon::spawn(&d.sw, &[]);
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while d.running(&local).await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the approval never stopped the local container"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Between the unit's stop and its start.
    daemon.kill9().await;
    let restarted = Daemon::spawn(&d.sw, &[]);

    exits_zero(asking, "the kube container's `state up kube`").await;
    let rec = d.await_state(State::KubeRunning).await;
    assert_eq!(rec.docker_id.as_ref(), Some(&kube));
    assert!(!d.running(&local).await);
    // The unit's start finished (the simulator records it once `container start` returned).
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while d.sw.systemctl.state(d.f.as_str()) != "active" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the unit never became active again"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, log) = restarted.terminate().await;
    assert_eq!(code, Some(0), "{log}");
}
