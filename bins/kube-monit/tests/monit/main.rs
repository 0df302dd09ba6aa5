//! kube-monit with real parts: a redis-server per test, the HTTPS fake API server (probed with
//! the real kube-rs client), the real Docker Engine, and a `systemctl` simulator whose unit
//! commands run the real `container`.
//!
//! Modules:
//! - `probe`: STATE_DB `connected` follows the master, written only when it changes; kubelet
//!   safety;
//! - `check`: `kube-monit check` exit codes for a local or kube owner, running or not;
//! - `fallback`: failure fallback after N (scaled) minutes, across a restart of kube-monit.

use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

use ctrmgr_core::ServerStatus;
use ctrmgr_core::ports::StateStore;
use ctrmgr_tests::sim::{SystemdSim, UnitCommands};
use ctrmgr_tests::switch::SwitchFixture;

mod check;
mod fallback;
mod probe;
mod units;

const BIN: &str = env!("CARGO_BIN_EXE_kube-monit");
const HOSTNAME: &str = "Sonic-Monit";
const NODE: &str = "sonic-monit";
/// A bound for waiting on conditions; never reached when things work.
const DEADLINE: Duration = Duration::from_secs(60);

/// A switch for kube-monit: Redis, the fake API with this node and a kubeconfig for it, the
/// systemctl simulator, tunables.
struct Monitored {
    fixture: SwitchFixture,
    systemctl: SystemdSim,
}

impl Monitored {
    async fn new(commands: &UnitCommands, extra: serde_json::Value) -> Self {
        let fixture = SwitchFixture::start(HOSTNAME, NODE).await;
        let systemctl = SystemdSim::create(fixture.dir.path(), commands);
        let s = Self { fixture, systemctl };
        s.write_tunables(extra);
        s
    }

    fn write_tunables(&self, extra: serde_json::Value) {
        let mut t = serde_json::json!({
            "systemctl": self.systemctl.path(),
            "kubeconfig": self.fixture.kubeconfig,
            "label_timeout_secs": 2,
            "api_timeout_secs": 1,
            "probe_interval_secs": 1,
            "stop_grace_secs": 2,
            "kube_exit_wait_secs": 1,
            "lock_dir": self.fixture.dir.path().join("locks"),
        });
        if let (Some(t), serde_json::Value::Object(extra)) = (t.as_object_mut(), extra) {
            t.extend(extra);
        }
        std::fs::write(self.fixture.tunables_path(), t.to_string()).expect("write tunables");
    }

    async fn status(&self) -> ServerStatus {
        self.fixture
            .db
            .server_status()
            .await
            .expect("read STATE_DB KUBERNETES_MASTER|SERVER")
    }

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

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = self.fixture.command(BIN);
        c.args(args).env("RUST_LOG", "info");
        c
    }
}

/// A kube-monit process, killed when dropped.
struct Daemon {
    child: tokio::process::Child,
    log: PathBuf,
}

impl Daemon {
    fn spawn(sw: &Monitored, env: &[(&str, &str)]) -> Self {
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let log = sw.fixture.dir.path().join(format!("kube-monit.{n}.log"));
        let file = std::fs::File::create(&log).expect("log file");
        let mut c = sw.command(&["run"]);
        c.stdout(std::process::Stdio::null()).stderr(file);
        for (k, v) in env {
            c.env(k, v);
        }
        Self {
            child: c.spawn().expect("kube-monit starts"),
            log,
        }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn signal(&self, sig: &str) {
        let pid = self.child.id().expect("running");
        let ok = std::process::Command::new("kill")
            .args([sig, &pid.to_string()])
            .status()
            .expect("kill runs")
            .success();
        assert!(ok, "kill {sig} {pid}");
    }

    /// SIGTERM; the exit code and the log.
    async fn terminate(mut self) -> (Option<i32>, String) {
        self.signal("-TERM");
        let status = tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .expect("wait");
        (status.code(), self.log())
    }

    /// SIGKILL, as a crash.
    async fn kill9(mut self) {
        self.signal("-KILL");
        let _ = tokio::time::timeout(DEADLINE, self.child.wait()).await;
    }
}

async fn output(mut c: tokio::process::Command) -> Output {
    tokio::time::timeout(DEADLINE, c.output())
        .await
        .expect("finishes")
        .expect("runs")
}
