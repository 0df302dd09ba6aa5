//! Per-feature advisory locks (DESIGN.md §5, "Concurrency").
//!
//! Every command that changes a feature holds an exclusive `flock` on
//! `<lock_dir>/<feature>.lock` while it reads, decides and writes — never while it waits for
//! something outside (a container to exit, an approval). Locks are advisory and belong to the
//! open file: they vanish with the process that held them, so a crashed command never leaves a
//! feature locked.
//!
//! A second lock, `<lock_dir>/<feature>.stopping.lock`, is held by a Start, Stop or Kill for its
//! whole run. A Stop or Kill releases the feature lock while `docker stop|kill` runs (the
//! container's own pre-stop, `container state <f> down` from its SIGTERM trap, takes the
//! feature lock) and while a kube Stop waits, bounded, for its container to exit; the stopping
//! lock stays held meanwhile. `container wait` passes through it ([`LockDir::await_stopping`])
//! before it decides whether the exit it saw was a stop by `container stop|kill` (the record no
//! longer names the container once the Stop or Kill has written) or a crash (it still does);
//! and no other Start, Stop or Kill runs inside a stop, so the stop's final write is never
//! decided on a record that a Start changed meanwhile. Lock order: the stopping lock is taken
//! before the feature lock and never while holding it, so no cycle can form.
//!
//! A third lock, `<lock_dir>/_kubelet.lock` (no feature name starts with `_`), serializes the
//! pending-label list's changes with kubelet's stop and start ([`crate::LabelService`]), so
//! that kubelet is stopped whenever the list is non-empty.
//!
//! `flock` blocks, so each acquisition runs in a blocking task of the runtime, and every wait is
//! bounded ([`LockDir::DEFAULT_BOUND`], [`LockDir::with_bound`]): a holder that hangs makes the
//! waiter fail with [`Error::Timeout`] naming the lock file, instead of hanging with it.

use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use ctrmgr_core::FeatureName;

use crate::Error;

/// The directory of the lock files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LockDir {
    dir: PathBuf,
    bound: Duration,
}

impl LockDir {
    /// How long a lock is waited for by default: longer than any holder keeps it when all is
    /// well (a Stop's grace period and its bounded wait for a kube container, a label patch),
    /// short enough that a hung holder does not hang its waiters for good.
    pub const DEFAULT_BOUND: Duration = Duration::from_secs(180);

    /// Locks kept in `dir` (created on first use), waited for at most
    /// [`LockDir::DEFAULT_BOUND`].
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            bound: Self::DEFAULT_BOUND,
        }
    }

    /// The same directory with another bound on every wait.
    pub fn with_bound(mut self, bound: Duration) -> Self {
        self.bound = bound;
        self
    }

    /// The bound on every wait.
    pub fn bound(&self) -> Duration {
        self.bound
    }

    /// `<lock_dir>/_kubelet.lock`.
    pub fn kubelet_path(&self) -> PathBuf {
        self.dir.join("_kubelet.lock")
    }

    /// Takes the lock that serializes the pending-label list with kubelet's stop and start.
    pub async fn lock_kubelet(&self) -> Result<FeatureLock, Error> {
        FeatureLock::acquire(self.kubelet_path(), self.bound).await
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `<lock_dir>/<feature>.lock`.
    pub fn path(&self, feature: &FeatureName) -> PathBuf {
        self.dir.join(format!("{feature}.lock"))
    }

    /// `<lock_dir>/<feature>.stopping.lock`.
    pub fn stopping_path(&self, feature: &FeatureName) -> PathBuf {
        self.dir.join(format!("{feature}.stopping.lock"))
    }

    /// Takes the feature's exclusive lock, waiting for its holder to release it.
    pub async fn lock(&self, feature: &FeatureName) -> Result<FeatureLock, Error> {
        FeatureLock::acquire(self.path(feature), self.bound).await
    }

    /// Takes the feature's stopping lock (held by a Start, Stop or Kill for its whole run).
    pub async fn lock_stopping(&self, feature: &FeatureName) -> Result<FeatureLock, Error> {
        FeatureLock::acquire(self.stopping_path(feature), self.bound).await
    }

    /// Waits until no Start, Stop or Kill of the feature is under way: takes the stopping lock
    /// and releases it at once.
    pub async fn await_stopping(&self, feature: &FeatureName) -> Result<(), Error> {
        let lock = self.lock_stopping(feature).await?;
        drop(lock);
        Ok(())
    }
}

/// Mode of a new lock file (before the umask): the owner and the group (the lock directory's,
/// `docker` under the packaged tmpfiles.d entry) may open it.
pub const LOCK_FILE_MODE: u32 = 0o660;

/// Opens a lock file for `flock`, which needs no write access: an existing file is opened
/// read-only, so that a non-root caller in the lock directory's group can lock a file root
/// created with mode 0640 or 0644; a missing one is created (with its directory) with
/// [`LOCK_FILE_MODE`].
fn open_lock_file(path: &Path) -> io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    match OpenOptions::new().read(true).open(path) {
        Ok(f) => return Ok(f),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(LOCK_FILE_MODE)
        .open(path)
}

/// An exclusive `flock` on one lock file; released when dropped (or by
/// [`FeatureLock::release`]).
#[derive(Debug)]
pub struct FeatureLock {
    file: Arc<File>,
    path: PathBuf,
    held: bool,
    bound: Duration,
}

impl FeatureLock {
    /// Opens (creating it and its directory when missing) and locks `path`, waiting at most
    /// `bound`.
    async fn acquire(path: PathBuf, bound: Duration) -> Result<Self, Error> {
        let p = path.clone();
        let file = blocking(&path, bound, move || {
            let file = open_lock_file(&p)?;
            file.lock()?;
            Ok(Arc::new(file))
        })
        .await?;
        tracing::trace!(path = %path.display(), "locked");
        Ok(Self {
            file,
            path,
            held: true,
            bound,
        })
    }

    /// The lock file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether the lock is held now.
    pub fn is_held(&self) -> bool {
        self.held
    }

    /// Releases the lock, keeping the file open so that [`FeatureLock::reacquire`] can take
    /// it again.
    pub fn release(&mut self) -> Result<(), Error> {
        if self.held {
            self.file.unlock().map_err(|source| Error::Lock {
                path: self.path.clone(),
                source,
            })?;
            self.held = false;
            tracing::trace!(path = %self.path.display(), "unlocked");
        }
        Ok(())
    }

    /// Takes the lock again after [`FeatureLock::release`], waiting for its holder.
    pub async fn reacquire(&mut self) -> Result<(), Error> {
        if self.held {
            return Ok(());
        }
        let file = Arc::clone(&self.file);
        blocking(&self.path, self.bound, move || file.lock()).await?;
        self.held = true;
        tracing::trace!(path = %self.path.display(), "locked again");
        Ok(())
    }
}

/// Runs a blocking file operation on the runtime's blocking pool, waiting at most `bound`. If
/// the caller stops waiting (the bound, or a dropped future), the task still finishes and drops
/// what it made: a lock taken then is released with its file.
async fn blocking<T: Send + 'static>(
    path: &Path,
    bound: Duration,
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> Result<T, Error> {
    let lock_error = |source| Error::Lock {
        path: path.to_path_buf(),
        source,
    };
    match tokio::time::timeout(bound, tokio::task::spawn_blocking(f)).await {
        Ok(Ok(result)) => result.map_err(lock_error),
        Ok(Err(join)) => Err(lock_error(io::Error::other(join.to_string()))),
        Err(_) => Err(Error::Timeout {
            action: format!("lock {} (held by another process)", path.display()),
            after: bound,
        }),
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn feature() -> FeatureName {
        FeatureName::new("snmp").expect("valid name")
    }

    /// Whether another open file description could lock `path` now.
    fn lockable(path: &Path) -> bool {
        let f = OpenOptions::new()
            .read(true)
            .write(true)
            .open(path)
            .expect("open lock file");
        f.try_lock().is_ok()
    }

    #[tokio::test]
    async fn a_held_lock_excludes_others_until_released_and_can_be_taken_again() {
        let dir = tempfile::tempdir().expect("temp dir");
        let locks = LockDir::new(dir.path().join("run/ctrmgr"));
        let path = locks.path(&feature());
        let mut lock = locks.lock(&feature()).await.expect("first lock");
        assert!(lock.is_held());
        assert!(!lockable(&path), "the lock is exclusive");

        lock.release().expect("release");
        assert!(!lock.is_held());
        assert!(lockable(&path), "released");

        lock.reacquire().await.expect("reacquire");
        assert!(!lockable(&path), "held again");
        drop(lock);
        assert!(lockable(&path), "dropping releases");
    }

    #[tokio::test]
    async fn a_waiting_locker_gets_the_lock_when_the_holder_releases_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let locks = LockDir::new(dir.path());
        let mut first = locks.lock(&feature()).await.expect("first lock");
        let other = locks.clone();
        let second = tokio::spawn(async move { other.lock(&feature()).await });
        first.release().expect("release");
        let second = tokio::time::timeout(Duration::from_secs(10), second)
            .await
            .expect("second locker gets the lock once released")
            .expect("task")
            .expect("lock");
        assert!(second.is_held());
        assert!(!lockable(&locks.path(&feature())));
    }

    #[tokio::test]
    async fn locks_of_different_features_are_independent() {
        let dir = tempfile::tempdir().expect("temp dir");
        let locks = LockDir::new(dir.path());
        let _snmp = locks.lock(&feature()).await.expect("snmp");
        let lldp = FeatureName::new("lldp").expect("valid");
        let held = tokio::time::timeout(Duration::from_secs(10), locks.lock(&lldp))
            .await
            .expect("not blocked by another feature's lock")
            .expect("lldp");
        assert!(held.is_held());
        // The stopping lock is a separate file too.
        tokio::time::timeout(Duration::from_secs(10), locks.await_stopping(&feature()))
            .await
            .expect("no stop under way")
            .expect("stopping lock");
    }

    #[tokio::test]
    async fn a_lock_held_too_long_is_a_timeout_naming_the_lock_file() {
        // Issue 8, item 6: every lock wait has a bound.
        let dir = tempfile::tempdir().expect("temp dir");
        let locks = LockDir::new(dir.path()).with_bound(Duration::from_millis(200));
        let _held = locks.lock(&feature()).await.expect("first lock");
        let e = locks
            .lock(&feature())
            .await
            .expect_err("the second waiter gives up");
        assert!(matches!(e, Error::Timeout { .. }), "{e}");
        assert!(e.to_string().contains("snmp.lock"), "{e}");
        let _kubelet = locks.lock_kubelet().await.expect("another lock file");
        assert!(
            locks.lock_kubelet().await.is_err(),
            "the kubelet lock is bounded too"
        );
    }

    #[tokio::test]
    async fn an_unusable_lock_dir_is_an_error_naming_the_path() {
        let dir = tempfile::tempdir().expect("temp dir");
        let file = dir.path().join("not-a-dir");
        std::fs::write(&file, "").expect("write file");
        let e = LockDir::new(&file)
            .lock(&feature())
            .await
            .expect_err("a file is no directory");
        assert!(e.to_string().contains("not-a-dir"), "{e}");
    }
}
