//! A real `redis-server` per test, with its own SONiC-style `database_config.json`.
//!
//! Used by this crate's tests and by other packages' tests (it is an ordinary public module so
//! that their dev-dependency on `ctrmgr-dbclient` is enough):
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! use ctrmgr_dbclient::testing::TestRedis;
//! let redis = TestRedis::start()?;          // redis-server on a unix socket in a temp dir
//! let db = redis.connect().await?;          // a SonicDb through redis.db_config_path()
//! // … run the code under test with `--db-config redis.db_config_path()` …
//! # Ok(()) }
//! // dropped: the server is killed and the temp dir removed
//! ```
//!
//! The server runs with `--port 0` (no TCP) unless started with
//! [`TestRedis::start_with_tcp`], `--save ""`, `--appendonly no` and
//! `--notify-keyspace-events AKE`, as SONiC's does. [`TestRedis::stop`] and
//! [`TestRedis::restart`] kill and restart it on the same socket path (and TCP port), empty.
//! `redis-server` is looked up on `PATH`; when it is missing, starting fails with a message
//! that says how to install it.

use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use ctrmgr_core::codec;
use serde_json::json;

use crate::config::DbConfig;
use crate::db::SonicDb;
use crate::error::Result;

/// The program started.
pub const REDIS_SERVER: &str = "redis-server";
/// How long a server may take to say it accepts connections.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// The instance name written into the test `database_config.json`.
const INSTANCE: &str = "redis";

/// Which addresses a `database_config.json` written by [`TestRedis::write_db_config`] lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// Only `unix_socket_path`.
    Unix,
    /// Only `hostname` and `port` (needs [`TestRedis::start_with_tcp`]).
    Tcp,
    /// Both, as SONiC's file does.
    Both,
}

/// A `redis-server` child process, killed on drop.
#[derive(Debug)]
pub struct TestRedis {
    dir: tempfile::TempDir,
    tcp_port: Option<u16>,
    child: Option<Child>,
}

impl TestRedis {
    /// Starts a server listening on a unix socket only, and writes `database_config.json`
    /// (CONFIG_DB and STATE_DB on it, SONiC ids and separator).
    pub fn start() -> io::Result<Self> {
        Self::start_inner(false)
    }

    /// Starts a server listening on a unix socket and on a free TCP port of 127.0.0.1; the
    /// default `database_config.json` lists both.
    pub fn start_with_tcp() -> io::Result<Self> {
        Self::start_inner(true)
    }

    fn start_inner(tcp: bool) -> io::Result<Self> {
        let dir = tempfile::Builder::new().prefix("ctrmgr-redis-").tempdir()?;
        let tcp_port = if tcp { Some(free_tcp_port()?) } else { None };
        let mut me = Self {
            dir,
            tcp_port,
            child: None,
        };
        let transport = if tcp {
            Transport::Both
        } else {
            Transport::Unix
        };
        me.write_db_config(&me.db_config_path(), transport)?;
        me.spawn()?;
        Ok(me)
    }

    /// The server's unix socket.
    pub fn socket_path(&self) -> PathBuf {
        self.dir.path().join("redis.sock")
    }

    /// The server's TCP port, when started with [`TestRedis::start_with_tcp`].
    pub fn tcp_port(&self) -> Option<u16> {
        self.tcp_port
    }

    /// The temp dir holding the socket, the config and the server's files.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The `database_config.json` written at start.
    pub fn db_config_path(&self) -> PathBuf {
        self.dir.path().join("database_config.json")
    }

    /// The parsed `database_config.json`.
    pub fn db_config(&self) -> Result<DbConfig> {
        DbConfig::from_file(&self.db_config_path())
    }

    /// Connects a [`SonicDb`] through `database_config.json`.
    pub async fn connect(&self) -> Result<SonicDb> {
        SonicDb::connect(&self.db_config()?).await
    }

    /// A plain redis client on the unix socket, for tests that write raw values.
    pub fn client(&self) -> redis::RedisResult<redis::Client> {
        redis::Client::open(redis::ConnectionAddr::Unix(self.socket_path()))
    }

    /// Writes a SONiC-style `database_config.json` at `path` listing the addresses of
    /// `transport`: instance `redis`, CONFIG_DB and STATE_DB under SONiC's default ids, `|`.
    pub fn write_db_config(&self, path: &Path, transport: Transport) -> io::Result<()> {
        let mut instance = serde_json::Map::new();
        if matches!(transport, Transport::Unix | Transport::Both) {
            instance.insert(
                "unix_socket_path".to_owned(),
                json!(self.socket_path().to_string_lossy()),
            );
        }
        if matches!(transport, Transport::Tcp | Transport::Both) {
            let port = self.tcp_port.ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "this redis-server has no TCP port: use TestRedis::start_with_tcp",
                )
            })?;
            instance.insert("hostname".to_owned(), json!("127.0.0.1"));
            instance.insert("port".to_owned(), json!(port));
        }
        let db = |id: u32| json!({ "id": id, "separator": codec::DEFAULT_SEPARATOR, "instance": INSTANCE });
        let doc = json!({
            "INSTANCES": { INSTANCE: instance },
            "DATABASES": {
                codec::CONFIG_DB: db(codec::DEFAULT_CONFIG_DB_ID),
                codec::STATE_DB: db(codec::DEFAULT_STATE_DB_ID),
            },
            "VERSION": "1.0"
        });
        let text = serde_json::to_string_pretty(&doc).map_err(io::Error::other)?;
        std::fs::write(path, text)
    }

    /// Kills the server (SIGKILL) and waits for it; the socket path stays reserved.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // The child may already have exited; either way it is gone afterwards.
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs and starts a new, empty one on the same socket (and port).
    pub fn restart(&mut self) -> io::Result<()> {
        self.stop();
        self.spawn()
    }

    /// Starts the server and waits until it accepts connections.
    fn spawn(&mut self) -> io::Result<()> {
        let mut child = self.command().spawn().map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                io::Error::new(
                    e.kind(),
                    "redis-server not found on PATH: apt-get install redis-server",
                )
            } else {
                io::Error::new(e.kind(), format!("cannot start redis-server: {e}"))
            }
        })?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(io::Error::other("redis-server's stdout was not captured"));
        };
        match watch_ready(stdout).recv_timeout(READY_TIMEOUT) {
            Ok(Ok(())) => {
                self.child = Some(child);
                Ok(())
            }
            Ok(Err(log)) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::other(format!(
                    "redis-server exited before accepting connections:\n{log}"
                )))
            }
            Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "redis-server did not accept connections within {}s",
                        READY_TIMEOUT.as_secs()
                    ),
                ))
            }
        }
    }

    /// The `redis-server` command: no persistence, keyspace events on, its log on stdout.
    fn command(&self) -> Command {
        let mut cmd = Command::new(REDIS_SERVER);
        cmd.arg("--port")
            .arg(self.tcp_port.unwrap_or(0).to_string())
            .arg("--unixsocket")
            .arg(self.socket_path())
            .arg("--unixsocketperm")
            .arg("700")
            .arg("--dir")
            .arg(self.dir.path())
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg("no")
            .arg("--notify-keyspace-events")
            .arg("AKE")
            .arg("--daemonize")
            .arg("no")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        if self.tcp_port.is_some() {
            cmd.arg("--bind").arg("127.0.0.1");
        }
        cmd
    }
}

/// The server says when every listener is up: `Ok` then, or `Err` with its log if it ends
/// first. The reader keeps draining its log after that so that the pipe never fills.
fn watch_ready(stdout: ChildStdout) -> mpsc::Receiver<Result<(), String>> {
    let (tx, rx) = mpsc::channel::<Result<(), String>>();
    std::thread::spawn(move || {
        let mut log = Vec::new();
        let mut ready = false;
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if !ready {
                if line
                    .to_ascii_lowercase()
                    .contains("ready to accept connections")
                {
                    ready = true;
                    let _ = tx.send(Ok(()));
                } else {
                    log.push(line);
                }
            }
        }
        if !ready {
            let _ = tx.send(Err(log.join("\n")));
        }
    });
    rx
}

impl Drop for TestRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A TCP port of 127.0.0.1 that was free a moment ago.
fn free_tcp_port() -> io::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
    Ok(listener.local_addr()?.port())
}
