//! What the tests need on the machine (DESIGN.md §9): a `redis-server` binary, and a Docker
//! Engine answering on its socket when Docker is wanted (`CTRMGR_REQUIRE_DOCKER=1`, or the
//! Debian `docker.io` package is installed).
//!
//! As root, missing packages are installed with apt-get and a Docker Engine is started for the
//! test run (`--bridge=none --iptables=false …`, its own data and exec roots under
//! `/var/lib/ctrmgr-ci`, logging to a file there) and stopped afterwards. Otherwise the task
//! says exactly what to install or start and fails.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

use crate::cmd;

/// The Debian packages the tests use.
/// The Debian packages the tests use: Redis, Docker, the static busybox of the test image,
/// `systemd-analyze` (units are verified with it) and `shellcheck` (rendered scripts are).
const PACKAGES: [&str; 5] = [
    "redis-server",
    "docker.io",
    "busybox-static",
    "systemd",
    "shellcheck",
];
/// The static busybox the local test image is made of (Debian `busybox-static`).
const BUSYBOX: &str = "/bin/busybox";
/// Where the Docker Engine started here listens (the Docker CLI's and bollard's default).
const DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// The data and exec roots and the log of the Docker Engine started here.
const CI_DIR: &str = "/var/lib/ctrmgr-ci";
/// How long the Docker Engine may take to answer.
const DOCKER_START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long one `docker version` may take.
const DOCKER_PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// What [`ensure`] set up: the environment the tests run with, and a Docker Engine it started
/// (stopped on drop).
#[derive(Debug)]
pub struct Prereqs {
    docker_host: Option<String>,
    require_docker: bool,
    dockerd: Option<Dockerd>,
}

impl Prereqs {
    /// Gives a test command the environment the prerequisites need.
    pub fn apply(&self, cmd: &mut Command) {
        if let Some(host) = &self.docker_host {
            cmd.env("DOCKER_HOST", host);
        }
        if self.require_docker {
            cmd.env("CTRMGR_REQUIRE_DOCKER", "1");
        }
    }
}

/// Makes sure the prerequisites are there; see the module documentation.
pub fn ensure() -> Result<Prereqs> {
    ensure_with(std::env::var("CTRMGR_REQUIRE_DOCKER").is_ok_and(|v| v == "1"))
}

/// [`ensure`], with Docker required when `require_docker` (the demo) whatever the
/// environment says; then the static busybox the test image is made of is required too.
pub fn ensure_with(require_docker: bool) -> Result<Prereqs> {
    let root_user = is_root();
    let busybox_missing = require_docker && !Path::new(BUSYBOX).is_file();
    let tools_missing = ["redis-server", "systemd-analyze", "shellcheck"]
        .iter()
        .any(|tool| cmd::on_path(tool).is_none());
    if tools_missing || busybox_missing {
        if !root_user {
            bail!(
                "redis-server, systemd-analyze or shellcheck is not on PATH, or {BUSYBOX} is \
                 missing: install them with \
                 `sudo apt-get install -y {}` (or run the task as root, which installs them)",
                PACKAGES.join(" ")
            );
        }
        apt_install()?;
        if cmd::on_path("redis-server").is_none() {
            bail!("redis-server is still not on PATH after installing {PACKAGES:?}");
        }
    }

    let wanted = require_docker || docker_io_installed();
    let mut prereqs = Prereqs {
        docker_host: None,
        require_docker,
        dockerd: None,
    };
    if !wanted {
        eprintln!(
            "xtask: docker.io is not installed and CTRMGR_REQUIRE_DOCKER is not 1: \
             tests that need Docker will be skipped"
        );
        return Ok(prereqs);
    }
    if docker_answers(None) {
        eprintln!("xtask: a Docker Engine answers");
        return Ok(prereqs);
    }
    if !root_user {
        let advice = "start one with `sudo dockerd --bridge=none --iptables=false` (or run \
                      `cargo xtask test` as root, which starts one)";
        if require_docker {
            bail!(
                "CTRMGR_REQUIRE_DOCKER=1 but no Docker Engine answers `docker version`: {advice}"
            );
        }
        eprintln!(
            "xtask: no Docker Engine answers `docker version`: tests that need Docker will be \
             skipped; {advice}"
        );
        return Ok(prereqs);
    }
    if cmd::on_path("dockerd").is_none() || cmd::on_path("docker").is_none() {
        apt_install()?;
    }
    let dockerd = Dockerd::start(Path::new(CI_DIR))?;
    prereqs.docker_host = Some(format!("unix://{DOCKER_SOCKET}"));
    prereqs.dockerd = Some(dockerd);
    Ok(prereqs)
}

/// Whether this process runs as root (effective uid 0), read from `/proc/self/status`.
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1))
            == Some("0")
    })
}

/// Whether dpkg says the Debian `docker.io` package is installed.
fn docker_io_installed() -> bool {
    Command::new("dpkg-query")
        .args(["--show", "--showformat=${Status}", "docker.io"])
        .stderr(Stdio::null())
        .output()
        .is_ok_and(|o| o.status.success() && o.stdout.ends_with(b" installed"))
}

/// `apt-get update`, then `apt-get install -y` the packages the tests use.
fn apt_install() -> Result<()> {
    cmd::run(Command::new("apt-get").arg("update"))?;
    cmd::run(
        Command::new("apt-get")
            .args(["install", "-y"])
            .args(PACKAGES)
            .env("DEBIAN_FRONTEND", "noninteractive"),
    )
}

/// Whether `docker version` answers (with `DOCKER_HOST` set to `host` when given).
fn docker_answers(host: Option<&str>) -> bool {
    let mut probe = Command::new("docker");
    probe.args(["version", "--format", "{{.Server.Version}}"]);
    if let Some(host) = host {
        probe.env("DOCKER_HOST", host);
    }
    cmd::succeeds_within(&mut probe, DOCKER_PROBE_TIMEOUT)
}

/// A Docker Engine started for the test run; stopped (SIGTERM, then SIGKILL) on drop.
#[derive(Debug)]
struct Dockerd {
    child: Child,
    log: PathBuf,
}

impl Dockerd {
    fn start(dir: &Path) -> Result<Self> {
        let data_root = dir.join("docker");
        let exec_root = dir.join("exec");
        let log = dir.join("dockerd.log");
        for d in [&data_root, &exec_root] {
            std::fs::create_dir_all(d).with_context(|| format!("cannot create {}", d.display()))?;
        }
        let log_file =
            File::create(&log).with_context(|| format!("cannot create {}", log.display()))?;
        let log_err = log_file
            .try_clone()
            .with_context(|| format!("cannot open {}", log.display()))?;
        let mut cmd = Command::new("dockerd");
        cmd.args([
            "--bridge=none",
            "--iptables=false",
            "--ip-forward=false",
            "--ip-masq=false",
        ])
        .arg("--data-root")
        .arg(&data_root)
        .arg("--exec-root")
        .arg(&exec_root)
        .arg("--pidfile")
        .arg(dir.join("dockerd.pid"))
        .arg("--host")
        .arg(format!("unix://{DOCKER_SOCKET}"))
        .stdin(Stdio::null())
        .stdout(log_file)
        .stderr(log_err);
        eprintln!("$ {} > {} 2>&1 &", cmd::display(&cmd), log.display());
        let child = cmd.spawn().context("cannot start dockerd")?;
        let mut dockerd = Dockerd { child, log };
        dockerd.wait_until_it_answers()?;
        eprintln!("xtask: dockerd answers (log: {})", dockerd.log.display());
        Ok(dockerd)
    }

    /// Polls `docker version` until it answers, the daemon exits, or the deadline passes:
    /// there is no event to wait on for "the daemon is ready".
    fn wait_until_it_answers(&mut self) -> Result<()> {
        let host = format!("unix://{DOCKER_SOCKET}");
        let deadline = Instant::now() + DOCKER_START_TIMEOUT;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                bail!(
                    "dockerd exited ({status}) before answering; see {}",
                    self.log.display()
                );
            }
            if docker_answers(Some(&host)) {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!(
                    "dockerd did not answer `docker version` within {} s; see {}",
                    DOCKER_START_TIMEOUT.as_secs(),
                    self.log.display()
                );
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        // SIGTERM lets dockerd stop its containers and containerd and unmount its layers.
        let pid = self.child.id().to_string();
        let _ = Command::new("kill").args(["-TERM", &pid]).status();
        if cmd::wait_within(&mut self.child, Duration::from_secs(30)).is_none() {
            eprintln!("xtask: dockerd did not stop within 30 s after SIGTERM: killed it");
        } else {
            eprintln!("xtask: stopped the dockerd started for the tests");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_root_agrees_with_id() {
        let out = Command::new("id")
            .arg("-u")
            .output()
            .expect("id is installed wherever the tests run");
        let uid = String::from_utf8_lossy(&out.stdout).trim().to_owned();
        assert_eq!(is_root(), uid == "0", "id -u says {uid}");
    }
}
