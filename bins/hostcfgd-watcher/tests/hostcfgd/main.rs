//! hostcfgd-watcher with real parts: a redis-server per test, the HTTPS fake API server (its
//! `/admin.conf`, reached with the real kube-rs client), a `systemctl` simulator whose unit
//! commands run the real `container` on the real Docker Engine, and a recording `kubeadm`.
//!
//! Modules:
//! - `join`: the join/reset engine of `ctrmgr-driver` against the fake API (insecure, CA file,
//!   TLS verification failing, kubeadm failing, reset);
//! - `daemon`: the binary joining, resetting and re-joining as `KUBERNETES_MASTER|SERVER`
//!   changes;
//! - `approvals`: approvals that really stop and start containers (Docker).

use std::path::{Path, PathBuf};
use std::time::Duration;

use ctrmgr_core::ports::StateStore;
use ctrmgr_core::{DeviceMetadata, ServerConfig, ServerStatus};
use ctrmgr_tests::sim::{RecordingKubeadm, SystemdSim, UnitCommands};
use ctrmgr_tests::switch::SwitchFixture;

mod approvals;
mod daemon;
mod join;

const BIN: &str = env!("CARGO_BIN_EXE_hostcfgd-watcher");
const HOSTNAME: &str = "Sonic-Join";
const NODE: &str = "sonic-join";
/// A bound for waiting on conditions; never reached when things work.
const DEADLINE: Duration = Duration::from_secs(60);

/// A switch that can join the fake master: Redis, the fake API, the simulators, tunables.
struct Joinable {
    fixture: SwitchFixture,
    systemctl: SystemdSim,
    kubeadm: RecordingKubeadm,
    /// Where a join writes the kubeconfig (`<dir>/etc/kube_admin.conf`).
    kubeconfig: PathBuf,
}

impl Joinable {
    async fn new(commands: &UnitCommands) -> Self {
        let fixture = SwitchFixture::start(HOSTNAME, NODE).await;
        fixture
            .db
            .set_device_metadata(&DeviceMetadata {
                hostname: Some(HOSTNAME.to_owned()),
                platform: Some("x86_64-kvm_x86_64-r0".to_owned()),
                hwsku: Some("Force10-S6000".to_owned()),
                deployment_type: Some("ToRRouter".to_owned()),
            })
            .await
            .expect("write DEVICE_METADATA");
        let systemctl = SystemdSim::create(fixture.dir.path(), commands);
        let kubeadm = RecordingKubeadm::create(fixture.dir.path());
        let etc = fixture.dir.path().join("etc");
        std::fs::create_dir(&etc).expect("etc dir");
        let kubeconfig = etc.join("kube_admin.conf");
        let s = Self {
            fixture,
            systemctl,
            kubeadm,
            kubeconfig,
        };
        s.write_tunables(serde_json::json!({}));
        s
    }

    /// The tunables: the simulators, the kubeconfig a join writes, admin.conf at the fake
    /// API's port, short bounds; then `extra`.
    fn write_tunables(&self, extra: serde_json::Value) {
        let port = self.fixture.fake.addr().port();
        let mut t = serde_json::json!({
            "systemctl": self.systemctl.path(),
            "kubeadm": self.kubeadm.path(),
            "kubeconfig": self.kubeconfig,
            "admin_conf_url": format!("https://{{ip}}:{port}/admin.conf"),
            "label_timeout_secs": 2,
            "api_timeout_secs": 2,
            "kubeadm_timeout_secs": 10,
            "probe_interval_secs": 1,
            "join_retry_max_secs": 1,
            "lock_dir": self.fixture.dir.path().join("locks"),
            "sonic_version_file": self.fixture.dir.path().join("sonic_version.yml"),
        });
        if let (Some(t), serde_json::Value::Object(extra)) = (t.as_object_mut(), extra) {
            t.extend(extra);
        }
        std::fs::write(self.fixture.tunables_path(), t.to_string()).expect("write tunables");
    }

    fn ca_file(&self) -> PathBuf {
        let path = self.fixture.dir.path().join("master-ca.pem");
        std::fs::write(&path, self.fixture.fake.ca_pem()).expect("write CA");
        path
    }

    async fn set_server(&self, ip: Option<&str>, insecure: bool, disable: bool) {
        self.fixture
            .db
            .set_server_config(&ServerConfig {
                ip: ip.map(str::to_owned),
                insecure,
                disable,
                ..ServerConfig::default()
            })
            .await
            .expect("write KUBERNETES_MASTER|SERVER");
    }

    async fn status(&self) -> ServerStatus {
        self.fixture
            .db
            .server_status()
            .await
            .expect("read STATE_DB KUBERNETES_MASTER|SERVER")
    }

    /// Waits (bounded) until STATE_DB says `connected`.
    async fn await_connected(&self, connected: bool) -> ServerStatus {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let s = self.status().await;
            if s.connected == connected && s.last_update_ts.is_some() {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "STATE_DB never said connected={connected}; last {s:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// The names of the files in the kubeconfig's directory.
    fn etc_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(etc_dir(&self.kubeconfig))
            .expect("list etc")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    fn node_labels(&self) -> std::collections::BTreeMap<String, String> {
        self.fixture
            .fake
            .node_labels(NODE)
            .expect("the node exists")
    }
}

fn etc_dir(kubeconfig: &Path) -> &Path {
    kubeconfig.parent().expect("the kubeconfig has a directory")
}

/// Kills a child process when dropped; collects its stderr.
struct Daemon {
    child: tokio::process::Child,
}

impl Daemon {
    /// SIGKILL, as a crash; waits for the process to be gone.
    async fn kill9(mut self) {
        let pid = self.child.id().expect("running");
        let ok = std::process::Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok);
        let _ = tokio::time::timeout(DEADLINE, self.child.wait()).await;
    }
}

impl Daemon {
    fn spawn(sw: &Joinable, extra_env: &[(&str, &str)]) -> Self {
        let mut c = sw.fixture.command(BIN);
        c.env("RUST_LOG", "info")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        for (k, v) in extra_env {
            c.env(k, v);
        }
        Self {
            child: c.spawn().expect("hostcfgd-watcher starts"),
        }
    }

    /// SIGTERM, then the exit status and what it logged.
    async fn terminate(mut self) -> (Option<i32>, String) {
        use tokio::io::AsyncReadExt as _;
        let pid = self.child.id().expect("running");
        let status = std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
        let mut err = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = tokio::time::timeout(DEADLINE, stderr.read_to_string(&mut err)).await;
        }
        let status = tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .expect("wait");
        (status.code(), err)
    }
}
