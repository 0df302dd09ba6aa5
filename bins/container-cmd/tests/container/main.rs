//! The `container` binary as a process, with every part real: a redis-server per test
//! (`TestRedis`), the Docker Engine (`TestDocker`, busybox containers; a "kube" container is
//! one the test creates, as kubelet would), the fake API server (`FakeKube`, reached with the
//! real kube-rs client) and a recording stand-in for `systemctl`.
//!
//! Tests that need Docker fail, not skip, when `CTRMGR_REQUIRE_DOCKER=1`.
//!
//! Modules:
//! - `transitions`: every Start/Stop/Kill row of DESIGN.md §4 from the CLI;
//! - `wait`: `container wait` in local and kube mode;
//! - `state`: `container state <f> up|down` (proceed, approval, park, a dead owner);
//! - `pod`: a kube container in a real pod shape (sandbox, shared network and IPC): its own id,
//!   every command acts on it, the engine check refuses a sandbox;
//! - `redis_away`: `state up kube` while Redis restarts during its wait (retries, `--timeout`);
//! - `inspect_exec`: `inspect`, `exec` and `id` act on the recorded id;
//! - `errors`: failures exit 1 with one line and write nothing;
//! - `kill_all`: `container kill-all`;
//! - `compat`: the drop-in for upstream SONiC (upstream fields, readers, `no_fallback_to_local`,
//!   names without a row, a non-root user, `container_startup.py`).

use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ctrmgr_core::codec::{self, Fields};
use ctrmgr_core::{ContainerId, FeatureConfig, FeatureName, FeatureRecord, Owner, State};
use ctrmgr_dbclient::DbName;
use ctrmgr_dbclient::testing::TestRedis;
use ctrmgr_dockerclient::testing::{TRAP_TERM, TestContainer, TestDocker};
use ctrmgr_dockerclient::{ContainerSpec, ExecSpec};
use ctrmgr_tests::switch::SwitchFixture;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::watch;

mod compat;
mod decoding;
mod errors;
mod inspect_exec;
mod kill_all;
mod packaging;
mod pod;
mod redis_away;
mod startup;
mod state;
mod transitions;
mod wait;

const BIN: &str = env!("CARGO_BIN_EXE_container");
/// Where [`Switch::spec_running_the_binary`] mounts the binary inside a container.
const BIN_INSIDE: &str = "/ctrmgr/container";
/// DEVICE_METADATA's hostname; the node name is its lower-case form.
const HOSTNAME: &str = "Sonic-Ctr";
const NODE: &str = "sonic-ctr";
/// A bound for waiting on conditions; never reached when things work.
const DEADLINE: Duration = Duration::from_secs(90);
/// The bounded wait of a kube Stop for kubelet, in the tunables (no kubelet runs here).
const KUBE_EXIT_WAIT_SECS: u32 = 1;
/// `local_wait_timeout_secs` in the tunables.
const LOCAL_WAIT_SECS: u64 = 2;

/// A container command that runs until SIGTERM (exit 0) or SIGUSR1 (exit 3), and creates
/// `/tmp/ready` once both are handled.
const SIGNALLED: [&str; 3] = [
    "/bin/sh",
    "-c",
    "trap 'exit 0' TERM; trap 'exit 3' USR1; touch /tmp/ready; sleep 1000 & wait",
];

/// One switch: Redis, the master with this node, tunables, a recording systemctl, Docker.
struct Switch {
    fixture: SwitchFixture,
    docker: TestDocker,
    /// The feature most tests use; unique, because the engine is shared by concurrent tests
    /// and its local container is named after it.
    feature: FeatureName,
    containers: Mutex<Vec<TestContainer>>,
}

/// Who a STATE_DB `docker_id` should name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Owns {
    Nobody,
    Local,
    Kube,
}

impl Switch {
    /// The switch, or `None` when the test is skipped for lack of a Docker Engine (never with
    /// `CTRMGR_REQUIRE_DOCKER=1`: then it fails).
    async fn new() -> Option<Self> {
        let docker = TestDocker::ensure()
            .await
            .expect("a docker engine (CTRMGR_REQUIRE_DOCKER=1)")?;
        docker.test_image().await.expect("the busybox test image");
        let fixture = SwitchFixture::start(HOSTNAME, NODE).await;
        fixture.write_tunables(serde_json::json!({
            "label_timeout_secs": 2,
            "stop_grace_secs": 2,
            "kube_exit_wait_secs": KUBE_EXIT_WAIT_SECS,
            "local_wait_timeout_secs": LOCAL_WAIT_SECS,
            "lock_dir": fixture.dir.path().join("locks"),
        }));
        Some(Self {
            fixture,
            docker,
            feature: unique_feature(),
            containers: Mutex::new(Vec::new()),
        })
    }

    fn f(&self) -> &str {
        self.feature.as_str()
    }

    // ---- running the binary ------------------------------------------------------------

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = self.fixture.command(BIN);
        c.args(args)
            .env("DOCKER_HOST", self.docker.host())
            .env("RUST_LOG", "info");
        c
    }

    /// Runs `container <args>` to completion (bounded by [`DEADLINE`]).
    async fn run(&self, args: &[&str]) -> Output {
        run_bounded(self.command(args)).await
    }

    /// Runs `container <args>` and expects exit 0.
    async fn ok(&self, args: &[&str]) -> Output {
        let out = self.run(args).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "container {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// Runs `container <args>` with logging off, so that stderr holds only what the command
    /// itself says.
    async fn run_quiet(&self, args: &[&str]) -> Output {
        let mut c = tokio::process::Command::new(BIN);
        c.args(self.fixture.config_args())
            .args(args)
            .env("DOCKER_HOST", self.docker.host())
            .env("RUST_LOG", "off")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        run_bounded(c).await
    }

    /// Starts `container <args>` in the background, its stderr lines collected.
    fn spawn(&self, args: &[&str]) -> Running {
        Running::spawn(self.command(args))
    }

    // ---- the databases -----------------------------------------------------------------

    async fn configure(&self, feature: &FeatureName, owner: Owner, fallback: bool) {
        self.fixture
            .db
            .set_feature_config(feature, &FeatureConfig::new(owner, fallback))
            .await
            .expect("write CONFIG_DB FEATURE");
    }

    async fn set_record(&self, feature: &FeatureName, state: State, id: Option<&ContainerId>) {
        self.fixture
            .db
            .set_feature_record(feature, &FeatureRecord::of_state(state, id.cloned()))
            .await
            .expect("write STATE_DB FEATURE");
    }

    async fn record(&self, feature: &FeatureName) -> FeatureRecord {
        self.fixture
            .db
            .feature_record(feature)
            .await
            .expect("read STATE_DB FEATURE")
    }

    /// The raw STATE_DB `FEATURE|<f>` hash.
    async fn raw_row(&self, feature: &FeatureName) -> Fields {
        let mut conn = self.raw_conn().await;
        let key = codec::row_key(codec::FEATURE_TABLE, "|", feature.as_str());
        redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut conn)
            .await
            .expect("HGETALL")
    }

    /// Sets raw fields of STATE_DB `FEATURE|<f>`.
    async fn raw_set(&self, feature: &FeatureName, pairs: &[(&str, &str)]) {
        let mut conn = self.raw_conn().await;
        let key = codec::row_key(codec::FEATURE_TABLE, "|", feature.as_str());
        redis::cmd("HSET")
            .arg(&key)
            .arg(pairs)
            .query_async::<()>(&mut conn)
            .await
            .expect("HSET");
    }

    /// A plain connection with STATE_DB selected.
    async fn raw_conn(&self) -> redis::aio::MultiplexedConnection {
        let client = self.fixture.redis.client().expect("redis client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        redis::cmd("SELECT")
            .arg(self.fixture.db.location(DbName::StateDb).id)
            .query_async::<()>(&mut conn)
            .await
            .expect("SELECT");
        conn
    }

    /// Waits (bounded) until the feature's record satisfies `cond`.
    async fn await_record(
        &self,
        feature: &FeatureName,
        what: &str,
        cond: impl Fn(&FeatureRecord) -> bool,
    ) -> FeatureRecord {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let rec = self.record(feature).await;
            if cond(&rec) {
                return rec;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "STATE_DB never showed {what}; last {rec:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    // ---- the node ----------------------------------------------------------------------

    fn label_key(feature: &FeatureName) -> String {
        feature.enable_label_key()
    }

    /// Whether the node carries `<f>_enabled=true`.
    fn labelled(&self, feature: &FeatureName) -> bool {
        self.fixture
            .fake
            .node_labels(NODE)
            .expect("the node exists")
            .get(&Self::label_key(feature))
            .is_some_and(|v| v == codec::ENABLED_LABEL_VALUE)
    }

    /// Sets or removes `<f>_enabled=true` on the node directly.
    fn set_label(&self, feature: &FeatureName, on: bool) {
        let mut labels = self
            .fixture
            .fake
            .node_labels(NODE)
            .expect("the node exists");
        if on {
            labels.insert(
                Self::label_key(feature),
                codec::ENABLED_LABEL_VALUE.to_owned(),
            );
        } else {
            labels.remove(&Self::label_key(feature));
        }
        self.fixture.fake.add_node(NODE, labels);
    }

    fn systemctl_calls(&self) -> Vec<String> {
        self.fixture.systemctl.calls()
    }

    // ---- containers --------------------------------------------------------------------

    /// Creates a container running `cmd`, named `name` (a unique name when `None`), kept until
    /// the switch is dropped; started and ready when `start`.
    async fn container(&self, name: Option<&str>, cmd: &[&str], start: bool) -> ContainerId {
        let image = self.docker.test_image().await.expect("test image");
        let mut spec = ContainerSpec::new(image, cmd);
        spec.name = name.map(str::to_owned);
        let c = self
            .docker
            .container_with(spec)
            .await
            .expect("create container");
        let id = c.id().clone();
        self.containers.lock().expect("not poisoned").push(c);
        if start {
            self.docker.client().start(&id).await.expect("start");
            self.docker
                .await_ready(&id, Duration::from_secs(30))
                .await
                .expect("container ready");
        }
        id
    }

    /// A container spec whose command may run the real `container` binary at [`BIN_INSIDE`],
    /// as a feature's own scripts do: the binary and the host's libraries (glibc) bind-mounted
    /// read-only, the Redis socket's directory and the switch's directory (tunables, lock
    /// dir) at their host paths, so that `container` inside takes the same locks on the same
    /// files.
    async fn spec_running_the_binary(&self, cmd: &[&str]) -> ContainerSpec {
        let image = self.docker.test_image().await.expect("test image");
        let mut spec = ContainerSpec::new(image, cmd);
        let host = |p: &Path| p.display().to_string();
        spec.binds = vec![
            format!("{BIN}:{BIN_INSIDE}:ro"),
            format!("{0}:{0}", host(self.fixture.redis.dir())),
            format!("{0}:{0}", host(self.fixture.dir.path())),
        ];
        for lib in ["/lib", "/lib64", "/usr/lib"] {
            if Path::new(lib).exists() {
                spec.binds.push(format!("{lib}:{lib}:ro"));
            }
        }
        spec
    }

    /// The argv of `container <args>` run inside a container made from
    /// [`Switch::spec_running_the_binary`].
    fn argv_inside(&self, args: &[&str]) -> Vec<String> {
        let mut argv = vec![BIN_INSIDE.to_owned()];
        argv.extend(self.fixture.cli_args());
        argv.extend(args.iter().map(|a| (*a).to_owned()));
        argv
    }

    /// The feature's local container (named after it), running [`SIGNALLED`].
    async fn local_container(&self, feature: &FeatureName, start: bool) -> ContainerId {
        self.container(Some(feature.as_str()), &SIGNALLED, start)
            .await
    }

    /// A "kube" container (as kubelet would run it), running [`SIGNALLED`].
    async fn kube_container(&self, start: bool) -> ContainerId {
        self.container(None, &SIGNALLED, start).await
    }

    /// A container that no test feature owns, running `TRAP_TERM`.
    async fn unrelated_container(&self) -> ContainerId {
        self.container(None, &TRAP_TERM, true).await
    }

    /// `State.Running` and `State.ExitCode` of a container.
    async fn docker_state(&self, id: &ContainerId) -> (bool, i64) {
        let doc = self.docker.client().inspect(id).await.expect("inspect");
        let state = &doc["State"];
        (
            state["Running"].as_bool().expect("State.Running"),
            state["ExitCode"].as_i64().expect("State.ExitCode"),
        )
    }

    async fn running(&self, id: &ContainerId) -> bool {
        self.docker_state(id).await.0
    }

    /// Sends a signal to PID 1 of a container (via `docker exec … kill`).
    async fn signal(&self, id: &ContainerId, sig: &str) {
        let spec = ExecSpec::new(&["/bin/kill", sig, "1"]);
        let (mut out, mut err) = (tokio::io::sink(), tokio::io::sink());
        let status = self
            .docker
            .client()
            .exec(id, &spec, None, &mut out, &mut err)
            .await
            .expect("exec kill");
        // 137: the container's init exited at once and took the `kill` process with it.
        assert!(
            matches!(status.code, 0 | 137),
            "kill {sig} 1 in {id}: exit {}",
            status.code
        );
    }
}

/// A feature name no concurrent test uses (it names a container on the shared engine).
fn unique_feature() -> FeatureName {
    FeatureName::new(&TestDocker::unique_name("f")).expect("a valid feature name")
}

async fn run_bounded(mut c: tokio::process::Command) -> Output {
    tokio::time::timeout(DEADLINE, c.output())
        .await
        .expect("container finishes")
        .expect("container runs")
}

/// The lines a command wrote on stderr, each trimmed.
fn stderr_lines(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stderr)
        .lines()
        .map(|l| l.trim().to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// Asserts a failure: exit 1 and exactly one line, `container: error: …`, containing every
/// one of `needles`.
fn assert_fails_with(out: &Output, needles: &[&str]) {
    assert_exits_with(out, 1, needles);
}

/// Exit status `code` with one line on stderr that names each of `needles`.
fn assert_exits_with(out: &Output, code: i32, needles: &[&str]) {
    let lines = stderr_lines(out);
    assert_eq!(out.status.code(), Some(code), "stderr: {lines:?}");
    assert_eq!(lines.len(), 1, "one line on stderr: {lines:?}");
    assert!(lines[0].starts_with("container: error: "), "{}", lines[0]);
    for n in needles {
        assert!(lines[0].contains(n), "{:?} lacks {n:?}", lines[0]);
    }
}

/// A `container` process running in the background.
struct Running {
    child: tokio::process::Child,
    lines: Arc<Mutex<Vec<String>>>,
    seen: watch::Receiver<usize>,
    reader: Option<tokio::task::JoinHandle<()>>,
}

impl Running {
    fn spawn(mut c: tokio::process::Command) -> Self {
        c.stderr(Stdio::piped()).stdout(Stdio::null());
        let mut child = c.spawn().expect("container runs");
        let stderr = child.stderr.take().expect("stderr piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, seen) = watch::channel(0usize);
        let sink = Arc::clone(&lines);
        let reader = tokio::spawn(async move {
            let mut reader = BufReader::new(stderr).lines();
            while let Ok(Some(line)) = reader.next_line().await {
                let n = {
                    let mut l = sink.lock().expect("not poisoned");
                    l.push(line);
                    l.len()
                };
                let _ = tx.send(n);
            }
        });
        Self {
            child,
            lines,
            seen,
            reader: Some(reader),
        }
    }

    fn pid(&self) -> u32 {
        self.child.id().expect("still running")
    }

    fn stderr(&self) -> Vec<String> {
        self.lines.lock().expect("not poisoned").clone()
    }

    /// Waits (bounded) until a stderr line contains `needle`.
    async fn await_line(&mut self, needle: &str) {
        let lines = Arc::clone(&self.lines);
        let found = tokio::time::timeout(
            DEADLINE,
            self.seen.wait_for(|_| {
                lines
                    .lock()
                    .expect("not poisoned")
                    .iter()
                    .any(|l| l.contains(needle))
            }),
        )
        .await
        .is_ok_and(|r| r.is_ok());
        assert!(found, "never logged {needle:?}: {:?}", self.stderr());
    }

    /// Whether it still runs.
    fn is_running(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Waits (bounded) for it to exit.
    async fn finish(&mut self) -> ExitStatus {
        let status = tokio::time::timeout(DEADLINE, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("container never exited: {:?}", self.stderr()))
            .expect("wait");
        // The pipe is closed now: let the reader take the last lines.
        if let Some(reader) = self.reader.take() {
            let _ = tokio::time::timeout(DEADLINE, reader).await;
        }
        status
    }

    /// Sends SIGTERM (with `kill`, argv only).
    fn terminate(&self) {
        let status = std::process::Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status()
            .expect("run kill");
        assert!(status.success());
    }
}

/// The path of a unix socket nothing listens on.
fn dead_socket(dir: &Path) -> PathBuf {
    dir.join("nothing-listens-here.sock")
}
