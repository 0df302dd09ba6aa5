//! The engine the tests share (found, or started once in [`engine_dir`]), and [`OwnEngine`],
//! an engine of one test's own that the test stops and starts again.

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{
    DockerClient, PROBE_TIMEOUT, START_DEADLINE, TestDocker, TestDockerError, engine_dir,
    started_engine_host,
};
use crate::client::{DEFAULT_HOST, DOCKER_HOST_ENV};

/// Finds or starts an engine: its address, or why there is none.
pub(super) async fn find_engine() -> Result<String, String> {
    if let Some(host) = std::env::var(DOCKER_HOST_ENV)
        .ok()
        .filter(|h| !h.trim().is_empty())
    {
        return probe(&host)
            .await
            .map(|()| host.clone())
            .map_err(|e| format!("{DOCKER_HOST_ENV}={host} does not answer: {e}"));
    }
    let mut tried = Vec::new();
    let started = started_engine_host();
    for host in [DEFAULT_HOST, started.as_str()] {
        match probe(host).await {
            Ok(()) => return Ok(host.to_owned()),
            Err(e) => tried.push(format!("{host}: {e}")),
        }
    }
    if !is_root() {
        tried.push("not root, so dockerd cannot be started".to_owned());
        return Err(tried.join("; "));
    }
    match start_engine().await {
        Ok(host) => Ok(host),
        Err(e) => {
            tried.push(e);
            Err(tried.join("; "))
        }
    }
}

/// Whether the engine at `host` answers, within [`PROBE_TIMEOUT`].
async fn probe(host: &str) -> Result<(), String> {
    let attempt = async {
        let client = DockerClient::connect_to(host).await?;
        client.ping().await
    };
    match tokio::time::timeout(PROBE_TIMEOUT, attempt).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ctrmgr_core::retry::error_line(&e)),
        Err(_) => Err(format!("no answer within {PROBE_TIMEOUT:?}")),
    }
}

/// Takes an exclusive lock on `path` (created, with its directory, when missing), without
/// blocking the runtime; the lock is held until the returned file is dropped.
pub(super) async fn lock_file(path: PathBuf) -> io::Result<File> {
    tokio::task::spawn_blocking(move || {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let f = File::create(&path)?;
        f.lock()?;
        Ok(f)
    })
    .await
    .map_err(io::Error::other)?
}

fn is_root() -> bool {
    std::fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// The `dockerd` to run: Debian's, else the first on `PATH`.
fn dockerd_program() -> &'static str {
    if Path::new("/usr/sbin/dockerd").exists() {
        "/usr/sbin/dockerd"
    } else {
        "dockerd"
    }
}

/// Starts `dockerd` in [`engine_dir`] unless another process did, and waits until it
/// answers. Returns its address.
async fn start_engine() -> Result<String, String> {
    let dir = engine_dir();
    let host = started_engine_host();
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let lock_path = dir.join("start.lock");
    // Held until this function returns: concurrent test processes start one engine.
    let _lock = lock_file(lock_path.clone())
        .await
        .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;

    // Another process may have started it while this one waited for the lock.
    if probe(&host).await.is_ok() {
        return Ok(host);
    }
    let mut child = spawn_dockerd(&dir, &host, &[])?;
    await_answer(&mut child, &dir, &host).await?;
    tracing::info!(%host, pid = child.id(), "started a docker engine for tests");
    Ok(host)
}

/// The log file at `path`, opened for appending, twice (stdout and stderr of a program).
fn open_log(path: &Path) -> Result<(File, File), String> {
    let cannot = |e: io::Error| format!("cannot open {}: {e}", path.display());
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(cannot)?;
    let log_err = log.try_clone().map_err(cannot)?;
    Ok((log, log_err))
}

/// Runs `dockerd` with its socket at `host` and its data root, exec root, pid file and log
/// (`dockerd.log`, appended to) in `dir`: no bridge, no iptables, as CI's engine; `extra`
/// arguments after those.
fn spawn_dockerd(dir: &Path, host: &str, extra: &[String]) -> Result<Child, String> {
    let (log, log_err) = open_log(&dir.join("dockerd.log"))?;
    let path_arg = |name: &str| dir.join(name).display().to_string();
    Command::new(dockerd_program())
        .args([
            "--bridge=none",
            "--iptables=false",
            "--ip-forward=false",
            "--ip-masq=false",
        ])
        .arg("--data-root")
        .arg(path_arg("data"))
        .arg("--exec-root")
        .arg(path_arg("exec"))
        .arg("--pidfile")
        .arg(path_arg("docker.pid"))
        .arg("--host")
        .arg(host)
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        // Its own process group: a test runner that kills the test's group on a timeout
        // leaves the engine to the other tests.
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", dockerd_program()))
}

/// Waits until the engine `child` started at `host` answers; an error when it exits first
/// or does not answer within [`START_DEADLINE`], naming its log in `dir`.
async fn await_answer(child: &mut Child, dir: &Path, host: &str) -> Result<(), String> {
    let log_path = dir.join("dockerd.log");
    // A bounded wait for a condition, in test support: ask until it answers, it exits, or the
    // deadline passes.
    let deadline = tokio::time::Instant::now() + START_DEADLINE;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(format!(
                "dockerd exited ({status}) before answering; see {}",
                log_path.display()
            ));
        }
        if probe(host).await.is_ok() {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "dockerd (pid {}) did not answer at {host} within {START_DEADLINE:?}; see {}",
                child.id(),
                log_path.display()
            ));
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops the engine these helpers started in [`engine_dir`], if it runs (SIGTERM through
/// `kill`). Returns whether there was one to stop. Test runners call it when done.
pub fn stop_started_engine() -> io::Result<bool> {
    match running_pid(&engine_dir().join("docker.pid"))? {
        Some(pid) => signal(pid, "-TERM"),
        None => Ok(false),
    }
}

/// The pid in the pid file `path` when that process still runs.
fn running_pid(path: &Path) -> io::Result<Option<u32>> {
    let pid = match std::fs::read_to_string(path) {
        Ok(s) => s.trim().to_owned(),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} holds {pid:?}, not a pid", path.display()),
        ));
    };
    Ok(Path::new("/proc")
        .join(pid.to_string())
        .exists()
        .then_some(pid))
}

/// `kill <sig> <pid>`; whether it succeeded.
fn signal(pid: u32, sig: &str) -> io::Result<bool> {
    let status = Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()?;
    Ok(status.success())
}

/// How [`OwnEngine::stop`] makes the engine go away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineStop {
    /// SIGTERM, as `systemctl stop docker` sends: dockerd stops its containers (SIGTERM, then
    /// SIGKILL after their stop timeout) and exits.
    Term,
    /// SIGKILL, a crash: dockerd dies at once, its containers run on under containerd; when
    /// it comes back it stops them (no live restore).
    Kill,
}

/// How long a stopping engine may take before it is killed.
const STOP_DEADLINE: Duration = Duration::from_secs(30);

/// containerd's configuration: the CRI plugin (Kubernetes' own runtime interface) is not
/// wanted by dockerd.
const CONTAINERD_TOML: &str = "version = 2\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n";

/// A Docker Engine of one test's own, in a directory of its own, which the test stops and
/// starts again as `systemctl restart docker` or a crash would (issue 15, point 3).
///
/// As on a SONiC switch (`containerd.io` beside `docker-ce`), containerd runs as a service
/// of its own and dockerd uses it (`--containerd`): a dockerd that dies leaves containerd
/// and the containers running. Its data root (and so the test image) survives a restart and
/// the next run, as a switch's does; containers left by an earlier run are removed when it
/// starts. Dropping it stops dockerd, then containerd (SIGTERM, then SIGKILL after 30 s
/// each).
#[derive(Debug)]
pub struct OwnEngine {
    dir: PathBuf,
    host: String,
    dockerd: Option<Child>,
    containerd: Option<Child>,
    /// One test at a time per directory.
    _lock: File,
}

impl OwnEngine {
    /// Starts containerd and `dockerd` in `dir` (a short path: the sockets live there) once
    /// the ones left there by an earlier run are gone, waits until dockerd answers, and
    /// removes every container an earlier run left.
    ///
    /// # Errors
    /// When `dir` cannot be used, a program cannot be run, or dockerd does not answer in time.
    pub async fn start(dir: &Path) -> Result<Self, String> {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let lock_path = dir.join("own.lock");
        let lock = lock_file(lock_path.clone())
            .await
            .map_err(|e| format!("cannot lock {}: {e}", lock_path.display()))?;
        for pid_file in ["docker.pid", "containerd.pid"] {
            if let Ok(Some(pid)) = running_pid(&dir.join(pid_file)) {
                let _ = signal(pid, "-KILL");
                await_gone(pid, STOP_DEADLINE).await?;
            }
        }
        let config = dir.join("containerd.toml");
        std::fs::write(&config, CONTAINERD_TOML)
            .map_err(|e| format!("cannot write {}: {e}", config.display()))?;
        let mut engine = Self {
            dir: dir.to_owned(),
            host: format!("unix://{}", dir.join("docker.sock").display()),
            dockerd: None,
            containerd: None,
            _lock: lock,
        };
        engine.start_again().await?;
        let docker = engine.docker().await.map_err(|e| e.to_string())?;
        let left = docker
            .client()
            .list(&[])
            .await
            .map_err(|e| ctrmgr_core::retry::error_line(&e))?;
        for c in left {
            let _ = docker.client().remove(&c.id, true).await;
        }
        Ok(engine)
    }

    /// The engine's address (`unix://<dir>/docker.sock`), for `DOCKER_HOST`.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// A [`TestDocker`] on this engine.
    ///
    /// # Errors
    /// When the engine does not answer.
    pub async fn docker(&self) -> Result<TestDocker, TestDockerError> {
        Ok(TestDocker {
            client: DockerClient::connect_to(&self.host).await?,
        })
    }

    /// Makes dockerd go away (`how`) and waits until it has exited (bounded: after 30 s it
    /// is killed). containerd keeps running.
    ///
    /// # Errors
    /// When it cannot be signalled, or does not exit even when killed.
    pub async fn stop(&mut self, how: EngineStop) -> Result<(), String> {
        let Some(child) = self.dockerd.take() else {
            return Ok(());
        };
        let sig = match how {
            EngineStop::Term => "-TERM",
            EngineStop::Kill => "-KILL",
        };
        stop_child(child, sig, "dockerd").await
    }

    /// Starts dockerd (again, with the same data root), and containerd first when it does not
    /// run, and waits until dockerd answers.
    ///
    /// # Errors
    /// When a program cannot be run or dockerd does not answer in time.
    pub async fn start_again(&mut self) -> Result<(), String> {
        let sock = self.dir.join("containerd.sock");
        if !runs(&mut self.containerd) {
            let child = spawn_containerd(&self.dir, &sock)?;
            let pid_file = self.dir.join("containerd.pid");
            std::fs::write(&pid_file, child.id().to_string())
                .map_err(|e| format!("cannot write {}: {e}", pid_file.display()))?;
            self.containerd = Some(child);
        }
        if runs(&mut self.dockerd) {
            return Ok(());
        }
        let extra = [format!("--containerd={}", sock.display())];
        let mut child = spawn_dockerd(&self.dir, &self.host, &extra)?;
        let answered = await_answer(&mut child, &self.dir, &self.host).await;
        self.dockerd = Some(child);
        answered
    }
}

impl Drop for OwnEngine {
    fn drop(&mut self) {
        for child in [self.dockerd.take(), self.containerd.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = signal(child.id(), "-TERM");
            // Synchronous and bounded: dockerd stops its containers, then exits.
            let deadline = std::time::Instant::now() + STOP_DEADLINE;
            while matches!(child.try_wait(), Ok(None)) && std::time::Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Whether the child in `slot` still runs.
fn runs(slot: &mut Option<Child>) -> bool {
    slot.as_mut()
        .is_some_and(|c| matches!(c.try_wait(), Ok(None)))
}

/// Runs containerd with its socket at `sock` and its root, state, configuration and log
/// (`containerd.log`, appended to) in `dir`.
fn spawn_containerd(dir: &Path, sock: &Path) -> Result<Child, String> {
    let (log, log_err) = open_log(&dir.join("containerd.log"))?;
    Command::new("containerd")
        .arg("--config")
        .arg(dir.join("containerd.toml"))
        .arg("--address")
        .arg(sock)
        .arg("--root")
        .arg(dir.join("containerd-root"))
        .arg("--state")
        .arg(dir.join("containerd-state"))
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .spawn()
        .map_err(|e| format!("cannot run containerd: {e}"))
}

/// Sends `sig` to `child` and waits until it exits (reaped); SIGKILL after 30 s.
async fn stop_child(mut child: Child, sig: &str, what: &str) -> Result<(), String> {
    signal(child.id(), sig).map_err(|e| format!("kill {sig} {what}: {e}"))?;
    if await_exit(&mut child, STOP_DEADLINE).await {
        return Ok(());
    }
    let _ = child.kill();
    if await_exit(&mut child, STOP_DEADLINE).await {
        Ok(())
    } else {
        Err(format!("{what} (pid {}) does not exit", child.id()))
    }
}

/// Whether `child` exits within `within` (reaped).
async fn await_exit(child: &mut Child, within: Duration) -> bool {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if !matches!(child.try_wait(), Ok(None)) {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until process `pid` (not a child of this one) is gone, reaped by whoever is its
/// parent now; an error after `within`.
async fn await_gone(pid: u32, within: Duration) -> Result<(), String> {
    let proc = Path::new("/proc").join(pid.to_string());
    let deadline = tokio::time::Instant::now() + within;
    while proc.exists() {
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "process {pid} of an earlier engine does not go away"
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
