//! One switch as the binaries' integration tests and the end-to-end scenarios build it: a real
//! redis-server with DEVICE_METADATA's hostname written, the fake API server with the switch's
//! node and a kubeconfig for it, a recording stand-in for `systemctl`, and a tunables file
//! (`ctrmgr.json`) pointing at both.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! use ctrmgr_tests::switch::SwitchFixture;
//! let switch = SwitchFixture::start("Sonic-1", "sonic-1").await;
//! switch.write_tunables(serde_json::json!({ "label_timeout_secs": 2 }));
//! // kube-labeler --db-config … --config … --log-to-stderr add snmp_enabled true
//! let out = switch
//!     .command("kube-labeler")
//!     .args(["add", "snmp_enabled", "true"])
//!     .output()
//!     .await?;
//! assert!(out.status.success());
//! assert_eq!(switch.fake.node_labels("sonic-1").unwrap_or_default().len(), 1);
//! assert!(switch.systemctl.calls().is_empty(), "the master answered: kubelet untouched");
//! # Ok(()) }
//! ```
//!
//! Everything here panics, with a message saying what failed, when the machine cannot give a
//! test its parts: a test cannot go on without them.

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use ctrmgr_core::DeviceMetadata;
use ctrmgr_dbclient::SonicDb;
use ctrmgr_dbclient::testing::TestRedis;
use serde_json::{Value, json};
use tempfile::TempDir;

use crate::fakekube::FakeKube;

/// The name of the tunables file in [`SwitchFixture::dir`].
pub const TUNABLES_FILE: &str = "ctrmgr.json";

/// A stand-in for `systemctl` that appends each call's arguments, as one line, to a file next
/// to it, and exits 0; the code under test runs it as it would run the real one.
#[derive(Debug, Clone)]
pub struct RecordingSystemctl {
    script: PathBuf,
    calls: PathBuf,
}

impl RecordingSystemctl {
    /// Writes the executable script `<dir>/systemctl`, which records its calls in
    /// `<dir>/systemctl.calls`.
    ///
    /// # Panics
    /// When the script cannot be written or made executable.
    pub fn create(dir: &Path) -> Self {
        let script = dir.join("systemctl");
        let calls = dir.join("systemctl.calls");
        std::fs::write(
            &script,
            format!("#!/bin/sh\necho \"$*\" >> {}\nexit 0\n", sh_quote(&calls)),
        )
        .expect("write the systemctl stand-in");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("make the systemctl stand-in executable");
        Self { script, calls }
    }

    /// The script, to configure as the `systemctl` the code runs.
    pub fn path(&self) -> &Path {
        &self.script
    }

    /// The calls so far, oldest first, each its arguments joined by spaces (`"stop kubelet"`);
    /// empty before the first call.
    pub fn calls(&self) -> Vec<String> {
        std::fs::read_to_string(&self.calls)
            .map(|t| t.lines().map(str::to_owned).collect())
            .unwrap_or_default()
    }
}

/// `path` as one single-quoted shell word.
fn sh_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', r"'\''"))
}

/// The parts of one switch; see the [module documentation](self).
#[derive(Debug)]
pub struct SwitchFixture {
    /// The switch's redis-server (killed on drop).
    pub redis: TestRedis,
    /// A client of it, with `DEVICE_METADATA|localhost` holding the hostname.
    pub db: SonicDb,
    /// The Kubernetes master, with the switch's node (no labels) added.
    pub fake: FakeKube,
    /// The switch's own directory: kubeconfig, systemctl stand-in, tunables (removed on drop).
    pub dir: TempDir,
    /// `<dir>/kubeconfig`, for the fake API server.
    pub kubeconfig: PathBuf,
    /// The `systemctl` stand-in in `dir`.
    pub systemctl: RecordingSystemctl,
}

impl SwitchFixture {
    /// Starts a redis-server with DEVICE_METADATA's hostname set to `hostname` and the fake API
    /// server with node `node`, writes the kubeconfig and the systemctl stand-in into a new
    /// temporary directory. The tunables file is not written: see [`Self::write_tunables`].
    ///
    /// # Panics
    /// When a part cannot be started or written.
    pub async fn start(hostname: &str, node: &str) -> Self {
        let redis = TestRedis::start().expect("redis-server starts");
        let db = redis.connect().await.expect("connect to redis");
        db.set_device_metadata(&DeviceMetadata {
            hostname: Some(hostname.into()),
            ..DeviceMetadata::default()
        })
        .await
        .expect("write DEVICE_METADATA");
        let fake = FakeKube::start().await.expect("fake API server starts");
        fake.add_node(node, BTreeMap::new());
        let dir = tempfile::tempdir().expect("temp dir");
        let kubeconfig = dir.path().join("kubeconfig");
        fake.write_kubeconfig(&kubeconfig)
            .expect("write kubeconfig");
        let systemctl = RecordingSystemctl::create(dir.path());
        Self {
            redis,
            db,
            fake,
            dir,
            kubeconfig,
            systemctl,
        }
    }

    /// Where [`Self::write_tunables`] writes: `<dir>/ctrmgr.json`.
    pub fn tunables_path(&self) -> PathBuf {
        self.dir.path().join(TUNABLES_FILE)
    }

    /// Writes the tunables file: `systemctl` (the stand-in) and `kubeconfig`, then every entry
    /// of `extra` (a JSON object; its entries win), and returns its path
    /// ([`Self::tunables_path`]).
    ///
    /// # Panics
    /// When `extra` is not a JSON object or the file cannot be written.
    pub fn write_tunables(&self, extra: Value) -> PathBuf {
        let Value::Object(extra) = extra else {
            panic!("the extra tunables must be a JSON object, not {extra}");
        };
        let mut tunables = serde_json::Map::new();
        tunables.insert("systemctl".to_owned(), json!(self.systemctl.path()));
        tunables.insert("kubeconfig".to_owned(), json!(self.kubeconfig));
        tunables.extend(extra);
        let path = self.tunables_path();
        std::fs::write(&path, Value::Object(tunables).to_string()).expect("write tunables");
        path
    }

    /// The arguments every ctrmgr binary takes to reach this switch:
    /// `--db-config <redis's database_config.json> --config <tunables file>`.
    pub fn config_args(&self) -> Vec<String> {
        vec![
            "--db-config".to_owned(),
            self.redis.db_config_path().display().to_string(),
            "--config".to_owned(),
            self.tunables_path().display().to_string(),
        ]
    }

    /// [`Self::config_args`] and `--log-to-stderr`, so that a test can read the binary's log.
    pub fn cli_args(&self) -> Vec<String> {
        let mut args = self.config_args();
        args.push("--log-to-stderr".to_owned());
        args
    }

    /// A command running `program` (a ctrmgr binary) with [`Self::cli_args`], no standard
    /// input, and killed if dropped before it exits; the caller adds the subcommand and its
    /// arguments.
    pub fn command(&self, program: impl AsRef<OsStr>) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(program);
        command
            .args(self.cli_args())
            .stdin(Stdio::null())
            .kill_on_drop(true);
        command
    }
}
