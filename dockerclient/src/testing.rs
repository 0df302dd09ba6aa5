//! A real Docker Engine for tests (cargo feature `testing`), used by this crate's tests and by
//! the end-to-end tests.
//!
//! - [`TestDocker::ensure`] finds an engine: the one `DOCKER_HOST` names (only that one when
//!   it is set), else the default socket, else the engine these helpers started earlier in
//!   the test directory; when none answers and the process runs as root, it starts `dockerd`
//!   there (no bridge, no iptables, its own data and exec roots) and waits, bounded, until it
//!   answers. A file lock makes concurrent test processes start one engine between them, and
//!   the engine stays up for the next test process; [`stop_started_engine`] stops it.
//! - **The only skip.** When no engine can be had, `ensure` returns `Ok(None)` after printing
//!   `skipped: no Docker Engine (set CTRMGR_REQUIRE_DOCKER=1 to require)`, and the test
//!   returns early. With `CTRMGR_REQUIRE_DOCKER=1` (CI sets it) it returns an error instead,
//!   which fails the test with the reason. No other condition skips a test.
//! - [`TestDocker::test_image`] builds `ctrmgr-test/busybox:latest` once, without a registry:
//!   a root file system made in-process from the host's static busybox (Debian
//!   `busybox-static`) and its applet links, imported like `docker import`.
//! - [`OwnEngine`] is an engine of one test's own, in a directory of its own, which the test
//!   stops (SIGTERM or SIGKILL, [`EngineStop`]) and starts again mid-scenario; its
//!   [`OwnEngine::docker`] is a [`TestDocker`] like any other.
//! - [`TestDocker::container`] creates a container from that image with a unique name, the
//!   [`TEST_LABEL`] label and no network; the returned [`TestContainer`] removes it on drop.
//!
//! ```no_run
//! use ctrmgr_dockerclient::testing::{TestDocker, TRAP_TERM};
//!
//! # async fn a_test() {
//! let Some(docker) = TestDocker::ensure().await.expect("a docker engine") else {
//!     return; // skipped, and said so
//! };
//! let c = docker.container("demo", &TRAP_TERM).await.expect("a test container");
//! docker.client().start(c.id()).await.expect("started");
//! # }
//! ```

use std::collections::BTreeSet;
use std::fmt;
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use ctrmgr_core::types::ContainerId;
use tokio::sync::OnceCell;

use crate::client::{ApiVersion, ContainerSpec, DockerClient, ExecSpec};
use crate::error::Error;

mod engine;

pub use engine::{EngineStop, OwnEngine, stop_started_engine};
use engine::{find_engine, lock_file};

/// Set to `1` to make a test fail, not skip, when no engine can be had. Any value other than
/// empty or `0` counts as set.
pub const REQUIRE_ENV: &str = "CTRMGR_REQUIRE_DOCKER";

/// Where a started engine keeps its socket, data, state, pid file and log; default
/// `$TMPDIR/ctrmgr-test-docker`.
pub const DIR_ENV: &str = "CTRMGR_TEST_DOCKER_DIR";

/// The message a test prints when it skips.
pub const SKIP_MESSAGE: &str = "skipped: no Docker Engine (set CTRMGR_REQUIRE_DOCKER=1 to require)";

/// The test image, built by [`TestDocker::test_image`].
pub const TEST_IMAGE: &str = "ctrmgr-test/busybox:latest";

/// The static busybox the test image is made of (Debian `busybox-static`).
pub const BUSYBOX: &str = "/bin/busybox";

/// The label every test container carries (value `1`), to find leftovers.
pub const TEST_LABEL: &str = "ctrmgr-test";

/// The file [`TRAP_TERM`] creates once its SIGTERM handler is in place.
pub const READY_FILE: &str = "/tmp/ready";

/// A command that runs until SIGTERM and then exits 0: a well-behaved service. It creates
/// [`READY_FILE`] once it handles SIGTERM (see [`TestDocker::await_ready`]): before that, a
/// SIGTERM to it, as PID 1, is ignored.
pub const TRAP_TERM: [&str; 3] = [
    "/bin/sh",
    "-c",
    "trap 'exit 0' TERM; touch /tmp/ready; sleep 1000 & wait",
];

/// A command that runs until killed and ignores SIGTERM (as PID 1 without a handler does).
pub const SLEEP_FOREVER: [&str; 2] = ["/bin/sleep", "1000"];

/// The applets linked to busybox in the test image's `/bin`.
pub const APPLETS: &[&str] = &[
    "sh", "ash", "cat", "echo", "printf", "true", "false", "sleep", "kill", "ls", "ps", "env",
    "id", "test", "[", "touch", "rm", "mkdir", "grep", "sed", "head", "tail", "wc", "date",
    "hostname", "sync", "tr", "cut", "stat", "readlink", "timeout", "mv", "cp", "ln", "chmod",
];

/// How long a started engine may take to answer.
const START_DEADLINE: Duration = Duration::from_secs(60);

/// How long one probe of an engine may take.
const PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Marks an image built by this version of [`busybox_rootfs`]; a different marker rebuilds.
const IMAGE_MARKER: &str = "CTRMGR_TEST_ROOTFS=1";

/// Why a test cannot have its engine or image.
///
/// Its `Debug` output is its message and causes, so that `expect` and a test returning
/// `Result` print a readable reason.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum TestDockerError {
    /// No engine answers and none could be started, while [`REQUIRE_ENV`] is set.
    #[error("no docker engine, and {REQUIRE_ENV} is set: {reason}")]
    Unavailable {
        /// What was tried and how it failed.
        reason: String,
    },
    /// The engine failed a request.
    #[error("the test docker engine failed")]
    Engine(#[from] Error),
    /// A container did not create [`READY_FILE`] in time.
    #[error("container {container} did not become ready within {within:?} (exit code {code})")]
    NotReady {
        /// The container.
        container: String,
        /// How long it was given.
        within: Duration,
        /// The exit code of the check.
        code: i64,
    },
    /// The lock that makes concurrent test processes share work could not be taken.
    #[error("cannot lock {}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The test image's root file system could not be made.
    #[error("cannot build the root file system of {TEST_IMAGE} from {BUSYBOX}")]
    Rootfs(#[source] io::Error),
}

impl fmt::Debug for TestDockerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&ctrmgr_core::retry::error_line(self))
    }
}

/// Whether [`REQUIRE_ENV`] is set.
pub fn docker_required() -> bool {
    std::env::var(REQUIRE_ENV).is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The directory of an engine started by these helpers.
pub fn engine_dir() -> PathBuf {
    std::env::var_os(DIR_ENV)
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("ctrmgr-test-docker"))
}

/// The address of the engine these helpers start.
pub fn started_engine_host() -> String {
    format!("unix://{}", engine_dir().join("docker.sock").display())
}

/// The engine found for this process: its address, or why there is none.
static ENGINE: OnceCell<Result<String, String>> = OnceCell::const_new();

/// The engines (by address) known to hold the test image.
static IMAGE_ON: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());

/// A Docker Engine for a test.
#[derive(Debug, Clone)]
pub struct TestDocker {
    client: DockerClient,
}

impl TestDocker {
    /// The engine for this test: `Ok(Some(_))` when one answers (found or started once per
    /// process); `Ok(None)` after printing [`SKIP_MESSAGE`] when there is none and
    /// [`REQUIRE_ENV`] is unset; an error when there is none and it is set.
    pub async fn ensure() -> Result<Option<TestDocker>, TestDockerError> {
        match ENGINE.get_or_init(find_engine).await {
            Ok(host) => Ok(Some(TestDocker {
                client: DockerClient::connect_to(host).await?,
            })),
            Err(reason) if docker_required() => Err(TestDockerError::Unavailable {
                reason: reason.clone(),
            }),
            Err(reason) => {
                println!("{SKIP_MESSAGE}: {reason}");
                Ok(None)
            }
        }
    }

    /// A client of the engine.
    pub fn client(&self) -> &DockerClient {
        &self.client
    }

    /// The engine's address, for `DOCKER_HOST` of processes under test.
    pub fn host(&self) -> &str {
        self.client.host()
    }

    /// The test image's reference, [`TEST_IMAGE`], building it once when the engine lacks it.
    pub async fn test_image(&self) -> Result<&'static str, TestDockerError> {
        let known = || {
            IMAGE_ON
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .contains(self.host())
        };
        if known() {
            return Ok(TEST_IMAGE);
        }
        if self.current_test_image().await?.is_none() {
            // Concurrent test processes build it once between them.
            let lock_path = engine_dir().join("image.lock");
            let _lock =
                lock_file(lock_path.clone())
                    .await
                    .map_err(|source| TestDockerError::Lock {
                        path: lock_path,
                        source,
                    })?;
            if self.current_test_image().await?.is_none() {
                let rootfs = busybox_rootfs().map_err(TestDockerError::Rootfs)?;
                let changes = [
                    "ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin".to_owned(),
                    format!("ENV {IMAGE_MARKER}"),
                ];
                let changes: Vec<&str> = changes.iter().map(String::as_str).collect();
                self.client
                    .import_image(rootfs, TEST_IMAGE, &changes)
                    .await?;
            }
        }
        IMAGE_ON
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(self.host().to_owned());
        Ok(TEST_IMAGE)
    }

    /// The id of the engine's [`TEST_IMAGE`] when it was built by this version of the
    /// helpers.
    async fn current_test_image(&self) -> Result<Option<String>, TestDockerError> {
        match self.client.bollard().inspect_image(TEST_IMAGE).await {
            Ok(image) => {
                let env = image.config.and_then(|c| c.env).unwrap_or_default();
                Ok(env
                    .iter()
                    .any(|e| e == IMAGE_MARKER)
                    .then(|| image.id.unwrap_or_default()))
            }
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(Error::engine("inspect", format!("image {TEST_IMAGE}"), e).into()),
        }
    }

    /// Waits, inside the container and for at most `within`, until [`READY_FILE`] exists,
    /// as [`TRAP_TERM`] creates it once it handles SIGTERM.
    pub async fn await_ready(
        &self,
        id: &ContainerId,
        within: Duration,
    ) -> Result<(), TestDockerError> {
        let secs = within.as_secs().max(1).to_string();
        let check = ExecSpec::new(&[
            "/bin/timeout",
            &secs,
            "/bin/sh",
            "-c",
            "until [ -e \"$1\" ]; do sleep 0.05; done",
            "sh",
            READY_FILE,
        ]);
        let (mut out, mut err) = (tokio::io::sink(), tokio::io::sink());
        let status = self
            .client
            .exec(id, &check, None, &mut out, &mut err)
            .await?;
        if status.code == 0 {
            Ok(())
        } else {
            Err(TestDockerError::NotReady {
                container: id.to_string(),
                within,
                code: status.code,
            })
        }
    }

    /// A fresh container name, `ctrmgr-test-<prefix>-<random>`; `prefix` should be short
    /// and of `[a-z0-9_.-]`.
    pub fn unique_name(prefix: &str) -> String {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let mut h = std::hash::RandomState::new().build_hasher();
        h.write_u32(std::process::id());
        h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
        format!(
            "ctrmgr-test-{prefix}-{:012x}",
            h.finish() & 0xffff_ffff_ffff
        )
    }

    /// Creates (does not start) a container of the test image running `cmd`, with no network,
    /// a unique name and the [`TEST_LABEL`] label.
    pub async fn container(
        &self,
        prefix: &str,
        cmd: &[&str],
    ) -> Result<TestContainer, TestDockerError> {
        let image = self.test_image().await?;
        let mut spec = ContainerSpec::new(image, cmd);
        spec.name = Some(Self::unique_name(prefix));
        self.container_with(spec).await
    }

    /// Creates (does not start) a container from `spec`, adding the [`TEST_LABEL`] label and,
    /// when it has none, a unique name.
    pub async fn container_with(
        &self,
        mut spec: ContainerSpec,
    ) -> Result<TestContainer, TestDockerError> {
        let name = spec
            .name
            .get_or_insert_with(|| Self::unique_name("c"))
            .clone();
        spec.labels.insert(TEST_LABEL.to_owned(), "1".to_owned());
        let id = self.client.create(&spec).await?;
        Ok(TestContainer {
            id,
            name,
            host: self.client.host().to_owned(),
            api_version: self.client.api_version(),
        })
    }
}

/// A test container, removed (forcibly) when dropped.
#[derive(Debug)]
pub struct TestContainer {
    id: ContainerId,
    name: String,
    host: String,
    api_version: ApiVersion,
}

impl TestContainer {
    /// Its full id.
    pub fn id(&self) -> &ContainerId {
        &self.id
    }

    /// The name it was created with.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The name it was created with, as a [`ContainerId`] (operations accept names).
    pub fn name_as_id(&self) -> ContainerId {
        // Names made by `unique_name` are valid ids; a caller's own name was accepted by
        // the engine, whose name rule is the same.
        ContainerId::new(&self.name).unwrap_or_else(|_| self.id.clone())
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        // Drop cannot await, and the test's runtime may be single-threaded and busy: remove
        // the container from a thread with its own small runtime and its own connection.
        let (id, host, api) = (self.id.clone(), self.host.clone(), self.api_version);
        let removal = std::thread::spawn(move || -> Result<(), String> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            rt.block_on(async {
                let client = DockerClient::connect_pinned(&host, api)
                    .map_err(|e| ctrmgr_core::retry::error_line(&e))?;
                match client.remove(&id, true).await {
                    Ok(()) | Err(Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(ctrmgr_core::retry::error_line(&e)),
                }
            })
        });
        match removal.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("cannot remove test container {}: {e}", self.name),
            Err(_) => eprintln!(
                "cannot remove test container {}: the remover panicked",
                self.name
            ),
        }
    }
}

/// The test image's root file system as a tar archive: `/bin/busybox` (copied from
/// [`BUSYBOX`]), a link to it for each of [`APPLETS`], `/tmp`, and an `/etc/passwd` and
/// `/etc/group` naming root.
pub fn busybox_rootfs() -> io::Result<Vec<u8>> {
    let busybox = std::fs::read(BUSYBOX)?;
    let mut tar = tar::Builder::new(Vec::new());

    let mut dir = |path: &str, mode: u32| -> io::Result<()> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        tar.append_data(&mut h, path, io::empty())
    };
    dir("bin/", 0o755)?;
    dir("etc/", 0o755)?;
    dir("tmp/", 0o1777)?;
    dir("root/", 0o700)?;

    let file = |tar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        tar.append_data(&mut h, path, data)
    };
    file(&mut tar, "bin/busybox", 0o755, &busybox)?;
    file(
        &mut tar,
        "etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\n",
    )?;
    file(&mut tar, "etc/group", 0o644, b"root:x:0:\n")?;

    for applet in APPLETS {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        tar.append_link(&mut h, format!("bin/{applet}"), "busybox")?;
    }
    tar.into_inner()
}
