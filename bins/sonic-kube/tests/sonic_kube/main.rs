//! The `sonic-kube` binary as a process, against a real redis-server, the fake API server over
//! HTTPS and a recording stand-in for `systemctl` (ctrmgr-tests' `SwitchFixture`).

mod config;
mod join;
mod migrate;
mod prefixes;
mod reboot;
mod security;
mod service;
mod show;

use std::collections::BTreeMap;
use std::time::Duration;

use ctrmgr_dbclient::{DbName, Fields};
use ctrmgr_tests::switch::SwitchFixture;

const BIN: &str = env!("CARGO_BIN_EXE_sonic-kube");
/// DEVICE_METADATA's hostname; the node name is its lower-case form.
const HOSTNAME: &str = "Sonic-1";
const NODE: &str = "sonic-1";
/// A bound for one run of the binary; never reached when things work.
const DEADLINE: Duration = Duration::from_secs(60);

/// What one run printed and how it ended.
#[derive(Debug)]
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    #[track_caller]
    fn ok(&self) -> &str {
        assert_eq!(self.code, Some(0), "exit code; stderr: {}", self.stderr);
        &self.stdout
    }

    /// Exit 1 with exactly one line `sonic-kube: error: …` on stderr containing `what`.
    #[track_caller]
    fn error(&self, what: &str) {
        assert_eq!(
            self.code,
            Some(1),
            "exit code; stdout: {} stderr: {}",
            self.stdout,
            self.stderr
        );
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| l.starts_with("sonic-kube: error: "))
            .collect();
        assert_eq!(lines.len(), 1, "one error line: {}", self.stderr);
        assert!(lines[0].contains(what), "{:?} lacks {what:?}", lines[0]);
    }
}

/// One switch: Redis, the master, a kubeconfig, tunables and a recording systemctl.
struct Switch {
    fixture: SwitchFixture,
}

impl Switch {
    async fn new() -> Self {
        let fixture = SwitchFixture::start(HOSTNAME, NODE).await;
        let sw = Self { fixture };
        sw.write_tunables(serde_json::json!({}));
        sw
    }

    /// Writes the tunables: short bounds, the answering systemctl (below), then `extra`.
    fn write_tunables(&self, extra: serde_json::Value) {
        let mut t = serde_json::json!({
            "label_timeout_secs": 2,
            "api_timeout_secs": 2,
            "systemctl": self.answering_systemctl(),
        });
        if let (Some(t), serde_json::Value::Object(extra)) = (t.as_object_mut(), extra) {
            t.extend(extra);
        }
        self.fixture.write_tunables(t);
    }

    /// A `systemctl` that records its calls where the fixture's stand-in does (so
    /// `systemctl_calls` lists them) and answers `is-active <unit>` as systemd does: the state
    /// set with [`Switch::set_unit_state`] (default `active`), exit 0 only when active.
    fn answering_systemctl(&self) -> std::path::PathBuf {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = self.fixture.dir.path();
        let script = dir.join("systemctl-answering");
        let calls = dir.join("systemctl.calls");
        let states = dir.join("units");
        std::fs::create_dir_all(&states).expect("units dir");
        let body = format!(
            "#!/bin/sh\necho \"$*\" >> '{calls}'\n\
             if [ \"$1\" = is-active ]; then\n\
             \x20 state=active; [ -f '{states}'/\"$2\" ] && state=$(cat '{states}'/\"$2\")\n\
             \x20 echo \"$state\"; [ \"$state\" = active ] && exit 0; exit 3\n\
             fi\nexit 0\n",
            calls = calls.display(),
            states = states.display(),
        );
        std::fs::write(&script, body).expect("write systemctl");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("chmod systemctl");
        script
    }

    /// What `systemctl is-active <unit>` answers from now on (`inactive`, `failed`, …).
    fn set_unit_state(&self, unit: &str, state: &str) {
        std::fs::write(self.fixture.dir.path().join("units").join(unit), state)
            .expect("write unit state");
    }

    /// Runs `sonic-kube <args>` to completion (bounded by [`DEADLINE`]).
    async fn run(&self, args: &[&str]) -> Out {
        // Logs go to stderr (not syslog), filtered off: the error line is what the tests read
        // there.
        self.run_logging(args, "off").await
    }

    /// Runs `sonic-kube <args>` to completion (bounded by [`DEADLINE`]) with its logs on
    /// stderr at `RUST_LOG=<log>`.
    async fn run_logging(&self, args: &[&str], log: &str) -> Out {
        let mut c = tokio::process::Command::new(BIN);
        c.args(self.fixture.config_args())
            .arg("--log-to-stderr")
            .args(args)
            .env("RUST_LOG", log)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true);
        let out = tokio::time::timeout(DEADLINE, c.output())
            .await
            .expect("sonic-kube finishes")
            .expect("sonic-kube runs");
        Out {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    fn systemctl_calls(&self) -> Vec<String> {
        self.fixture.systemctl.calls()
    }

    async fn set(&self, db: DbName, table: &str, key: &str, pairs: &[(&str, &str)]) {
        let pairs: Vec<(&str, String)> = pairs.iter().map(|(f, v)| (*f, (*v).to_owned())).collect();
        self.fixture
            .db
            .set_fields(db, table, key, &pairs)
            .await
            .expect("write a row");
    }

    async fn row(&self, db: DbName, table: &str, key: &str) -> Fields {
        self.fixture
            .db
            .row(db, table, key)
            .await
            .expect("read a row")
    }

    /// Every key of CONFIG_DB and STATE_DB with its whole value (hashes as sorted maps), to
    /// show that a refused command wrote nothing.
    async fn snapshot(&self) -> BTreeMap<String, BTreeMap<String, String>> {
        let client = self.fixture.redis.client().expect("redis client");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("connect");
        let mut out = BTreeMap::new();
        for db in [DbName::ConfigDb, DbName::StateDb] {
            let id = self.fixture.db.location(db).id;
            redis::cmd("SELECT")
                .arg(id)
                .query_async::<()>(&mut conn)
                .await
                .expect("select");
            let keys: Vec<String> = redis::cmd("KEYS")
                .arg("*")
                .query_async(&mut conn)
                .await
                .expect("keys");
            for k in keys {
                let h: BTreeMap<String, String> = redis::cmd("HGETALL")
                    .arg(&k)
                    .query_async(&mut conn)
                    .await
                    .expect("hgetall");
                out.insert(format!("{db}:{k}"), h);
            }
        }
        out
    }
}
