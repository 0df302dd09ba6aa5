//! Joining this switch to a Kubernetes master and leaving it (DESIGN.md §8 join/reset): the
//! engine that hostcfgd-watcher runs when `KUBERNETES_MASTER|SERVER` asks for it, and that
//! `sonic-kube config kubernetes join|reset` runs on an operator's command.
//!
//! **join** ([`JoinEngine::join`]):
//! 1. CONFIG_DB `KUBERNETES_MASTER|SERVER` must have `ip` and not `disable=true`; without
//!    `force`, a switch STATE_DB already calls connected is left alone
//!    ([`Joined::AlreadyConnected`]), and a switch whose kubeconfig already names this master,
//!    which answers, is only marked connected ([`Joined::Adopted`]) — as SONiC's
//!    `kube_commands.py` does with `is_connected(server)`.
//! 2. HTTPS GET of `admin.conf` from the URL template ([`JoinOptions::admin_conf_url`],
//!    `{ip}` and `{port}` replaced), TLS verified against [`JoinOptions::ca_file`] (else the
//!    system's roots) unless `insecure=true`, bounded by [`JoinOptions::fetch_timeout`].
//! 3. It must parse as a kubeconfig naming a server ([`Master::check_kubeconfig`]).
//! 4. `kubeadm reset -f` (a node that was joined before cannot join again; its failure is
//!    logged and the join goes on), then the kubeconfig is written atomically with mode 0600:
//!    a temporary file in the same directory, fsync, rename, fsync of the directory. Its
//!    content is never logged.
//! 5. `kubeadm join --discovery-file <kubeconfig> --node-name <node>` ([`Kubeadm`]).
//! 6. kubelet: started when the pending-label list is empty, stopped otherwise (§6: kubelet
//!    must not act on stale labels).
//! 7. The node's self-description labels (§6) through the [`LabelService`] (queued when the
//!    master does not take them now).
//! 8. STATE_DB `KUBERNETES_MASTER|SERVER` `connected=true` (with `last_update_ts` when it
//!    changes).
//!
//! A failure before step 4 changes nothing. A failure of `kubeadm join` or of kubelet undoes
//! what the join did: the kubeconfig is removed, `kubeadm reset -f` and `systemctl stop
//! kubelet` run, and `connected` is false. No temporary file is ever left behind. Each
//! failure is one [`Error`] whose message names the step and the cause.
//!
//! **reset** ([`JoinEngine::reset`]): `kubeadm reset -f`, `systemctl stop kubelet`, remove the
//! kubeconfig, purge the pending-label list, `connected=false`. Every step is tried even when
//! an earlier one failed (leaving the master is what was asked); the first failure is returned.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ctrmgr_core::ports::{Labels, PortError, StateStore, Systemd};
use ctrmgr_core::{ServerConfig, ServerStatus, Timestamp};

use crate::{Applied, Error, FileError, JoinError, Kubeadm, LabelService, Tunables};

/// How a join reaches the master: fetch its `admin.conf`, check a kubeconfig, probe the API
/// server. `ctrmgr-kubeclient` does it for the binaries; tests may fake it.
pub trait Master: Send + Sync {
    /// The adapter's error.
    type Error: PortError;

    /// `GET url` over HTTPS and returns the body. The server's certificate is verified
    /// against `ca_file` (PEM), or the system's roots when `None`, unless `insecure`. The whole
    /// request is bounded by `timeout`.
    fn fetch_admin_conf(
        &self,
        url: &str,
        ca_file: Option<&Path>,
        insecure: bool,
        timeout: Duration,
    ) -> impl Future<Output = Result<String, Self::Error>> + Send;

    /// Checks that `text` is a kubeconfig whose current context names a cluster with a
    /// server; returns that server's host (`10.0.0.1`, `master.example`, `::1`).
    fn check_kubeconfig(&self, text: &str) -> Result<String, Self::Error>;

    /// Asks the API server named by this switch's kubeconfig whether it is ready
    /// (`/readyz`), bounded by the adapter's timeout. A missing kubeconfig is an error.
    fn probe(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// What a join needs besides its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinOptions {
    /// Where the kubeconfig is written ([`Tunables::kubeconfig`]).
    pub kubeconfig: PathBuf,
    /// The URL template of admin.conf; `{ip}` (and `{port}`) are replaced.
    pub admin_conf_url: String,
    /// The CA bundle that verifies the master's certificate; `None`: the system's roots.
    pub ca_file: Option<PathBuf>,
    /// Bound of the fetch.
    pub fetch_timeout: Duration,
    /// The kubelet unit.
    pub kubelet_unit: String,
    /// SONiC's version file, for the `sonic_version` label.
    pub sonic_version_file: PathBuf,
}

impl JoinOptions {
    /// The options the tunables give.
    pub fn from_tunables(t: &Tunables) -> Self {
        Self {
            kubeconfig: t.kubeconfig.clone(),
            admin_conf_url: t.admin_conf_url.clone(),
            ca_file: t.ca_file.clone(),
            fetch_timeout: t.api_timeout(),
            kubelet_unit: t.kubelet_unit.clone(),
            sonic_version_file: t.sonic_version_file.clone(),
        }
    }
}

/// What [`JoinEngine::join`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Joined {
    /// Fetched admin.conf, wrote the kubeconfig, ran `kubeadm join`.
    Joined {
        /// The API server's host named by the fetched kubeconfig.
        server: String,
        /// Whether the self-description labels reached the master or were queued.
        labels: Applied,
    },
    /// STATE_DB already said connected, and `force` was not given: nothing was done.
    AlreadyConnected,
    /// The kubeconfig already named this master, which answered: marked connected, kubelet
    /// made to agree with the pending list; no kubeadm.
    Adopted {
        /// The API server's host.
        server: String,
    },
}

/// The admin.conf URL for a server: `{ip}` (IPv6 in brackets) and `{port}` replaced.
pub fn admin_conf_url(template: &str, server: &ServerConfig, ip: &str) -> String {
    let host = if ip.contains(':') && !ip.starts_with('[') {
        format!("[{ip}]")
    } else {
        ip.to_owned()
    };
    template
        .replace("{ip}", &host)
        .replace("{port}", &server.port.to_string())
}

/// Whether two hosts are the same, ignoring IPv6 brackets and letter case.
pub fn same_host(a: &str, b: &str) -> bool {
    let strip = |s: &str| {
        s.trim_start_matches('[')
            .trim_end_matches(']')
            .to_ascii_lowercase()
    };
    strip(a) == strip(b)
}

/// Joins this switch to the master and resets it; see the [module documentation](self).
#[derive(Debug)]
pub struct JoinEngine<S, L, D, M> {
    labels: LabelService<S, L, D>,
    master: M,
    kubeadm: Kubeadm,
    node: String,
    options: JoinOptions,
}

impl<S, L, D, M> JoinEngine<S, L, D, M>
where
    S: StateStore,
    L: Labels,
    D: Systemd,
    M: Master,
{
    /// An engine for node `node` (see `ctrmgr_kubeclient::node_name`) over the label service
    /// (state store, API server, systemd), the master and kubeadm.
    pub fn new(
        labels: LabelService<S, L, D>,
        master: M,
        kubeadm: Kubeadm,
        node: impl Into<String>,
        options: JoinOptions,
    ) -> Self {
        Self {
            labels,
            master,
            kubeadm,
            node: node.into(),
            options,
        }
    }

    /// The label service (its state store and systemd).
    pub fn label_service(&self) -> &LabelService<S, L, D> {
        &self.labels
    }

    /// The master port.
    pub fn master(&self) -> &M {
        &self.master
    }

    /// The options.
    pub fn options(&self) -> &JoinOptions {
        &self.options
    }

    fn store(&self) -> &S {
        self.labels.store()
    }

    /// CONFIG_DB `KUBERNETES_MASTER|SERVER`.
    pub async fn server_config(&self) -> Result<ServerConfig, Error> {
        self.store()
            .server_config()
            .await
            .map_err(|e| Error::port("read CONFIG_DB KUBERNETES_MASTER|SERVER", e))
    }

    /// STATE_DB `KUBERNETES_MASTER|SERVER`.
    pub async fn server_status(&self) -> Result<ServerStatus, Error> {
        self.store()
            .server_status()
            .await
            .map_err(|e| Error::port("read STATE_DB KUBERNETES_MASTER|SERVER", e))
    }

    /// The host of the API server this switch's kubeconfig names; `None` when there is no
    /// kubeconfig or it is not usable.
    pub async fn joined_server(&self) -> Option<String> {
        let text = tokio::fs::read_to_string(&self.options.kubeconfig)
            .await
            .ok()?;
        self.master.check_kubeconfig(&text).ok()
    }

    /// Writes STATE_DB `connected` (and `last_update_ts = now`) when it differs from what is
    /// recorded; returns whether it wrote (see [`set_connected`]).
    pub async fn set_connected(&self, connected: bool) -> Result<bool, Error> {
        set_connected(self.store(), connected).await
    }

    /// Joins the master CONFIG_DB names; see the [module documentation](self). With `force`,
    /// joins even when STATE_DB says connected.
    pub async fn join(&self, force: bool) -> Result<Joined, Error> {
        const ACTION: &str = "join the Kubernetes master";
        let server = self.server_config().await?;
        let Some(ip) = server.ip.clone().filter(|ip| !ip.trim().is_empty()) else {
            return Err(Error::Join(JoinError::Refused {
                action: ACTION,
                reason: "CONFIG_DB KUBERNETES_MASTER|SERVER has no ip".to_owned(),
            }));
        };
        if server.disable {
            return Err(Error::Join(JoinError::Refused {
                action: ACTION,
                reason: "CONFIG_DB KUBERNETES_MASTER|SERVER has disable=true".to_owned(),
            }));
        }
        if !force {
            if self.server_status().await?.connected {
                return Ok(Joined::AlreadyConnected);
            }
            if let Some(host) = self.joined_server().await
                && same_host(&host, &ip)
                && self.master.probe().await.is_ok()
            {
                self.kubelet_per_pending().await?;
                self.set_connected(true).await?;
                tracing::info!(server = %host, "already joined to this master, which answers: marked connected");
                return Ok(Joined::Adopted { server: host });
            }
        }

        // Nothing is changed until admin.conf is fetched and checked.
        let url = admin_conf_url(&self.options.admin_conf_url, &server, &ip);
        let text = self
            .master
            .fetch_admin_conf(
                &url,
                self.options.ca_file.as_deref(),
                server.insecure,
                self.options.fetch_timeout,
            )
            .await
            .map_err(|e| Error::port(format!("fetch admin.conf from {url}"), e))?;
        let host = self.master.check_kubeconfig(&text).map_err(|e| {
            Error::Join(JoinError::InvalidAdminConf {
                url: url.clone(),
                source: Box::new(e),
            })
        })?;
        if server.insecure {
            tracing::warn!(%url, "admin.conf fetched without verifying the master's certificate (insecure=true)");
        }

        if let Err(e) = self.kubeadm.reset().await {
            tracing::warn!(error = %ctrmgr_core::retry::error_line(&e), "kubeadm reset before the join failed; joining anyway");
        }
        write_atomically(&self.options.kubeconfig, text.as_bytes(), 0o600).await?;
        if let Err(e) = self.finish_join().await {
            self.undo_join().await;
            return Err(e);
        }
        let labels = self.describe_node().await?;
        self.set_connected(true).await?;
        tracing::info!(server = %host, node = %self.node, "joined the Kubernetes master");
        Ok(Joined::Joined {
            server: host,
            labels,
        })
    }

    /// `kubeadm join`, then kubelet per the pending list.
    async fn finish_join(&self) -> Result<(), Error> {
        self.kubeadm
            .join(&self.options.kubeconfig, &self.node)
            .await?;
        self.kubelet_per_pending().await
    }

    /// Takes back a join that failed after the kubeconfig was written: remove it, `kubeadm
    /// reset -f`, stop kubelet, `connected=false`. Failures here are logged: the join's own
    /// error is the one reported.
    async fn undo_join(&self) {
        remove_file(&self.options.kubeconfig).await.unwrap_or_else(
            |e| tracing::error!(error = %ctrmgr_core::retry::error_line(&e), "undoing a failed join"),
        );
        if let Err(e) = self.kubeadm.reset().await {
            tracing::error!(error = %ctrmgr_core::retry::error_line(&e), "undoing a failed join");
        }
        if let Err(e) = self.kubelet(false).await {
            tracing::error!(error = %ctrmgr_core::retry::error_line(&e), "undoing a failed join");
        }
        if let Err(e) = self.set_connected(false).await {
            tracing::error!(error = %ctrmgr_core::retry::error_line(&e), "undoing a failed join");
        }
    }

    /// The self-description labels, through the pending-list rules.
    async fn describe_node(&self) -> Result<Applied, Error> {
        let meta = self
            .store()
            .device_metadata()
            .await
            .map_err(|e| Error::port("read CONFIG_DB DEVICE_METADATA|localhost", e))?;
        let version = crate::read_sonic_version_file(&self.options.sonic_version_file).await?;
        let ops = crate::self_description_labels(&meta, &version);
        let applied = self.labels.apply(&ops).await?;
        if let Applied::Queued { cause, .. } = &applied {
            tracing::warn!(%cause, "node self-description labels not sent now");
        }
        Ok(applied)
    }

    /// Starts kubelet when no label is pending, stops it otherwise.
    async fn kubelet_per_pending(&self) -> Result<(), Error> {
        let pending = self
            .store()
            .pending_labels()
            .await
            .map_err(|e| Error::port("read the pending-label list", e))?;
        self.kubelet(pending.is_empty()).await
    }

    async fn kubelet(&self, start: bool) -> Result<(), Error> {
        let unit = &self.options.kubelet_unit;
        let systemd = self.labels.systemd();
        let (verb, result) = if start {
            ("start", systemd.start(unit).await)
        } else {
            ("stop", systemd.stop(unit).await)
        };
        result.map_err(|e| Error::port(format!("{verb} {unit}"), e))
    }

    /// Leaves the master; see the [module documentation](self).
    pub async fn reset(&self) -> Result<(), Error> {
        let mut first: Option<Error> = None;
        let mut keep = |r: Result<(), Error>| {
            if let Err(e) = r {
                tracing::error!(error = %ctrmgr_core::retry::error_line(&e), "reset");
                first.get_or_insert(e);
            }
        };
        keep(self.kubeadm.reset().await);
        keep(self.kubelet(false).await);
        keep(remove_file(&self.options.kubeconfig).await);
        keep(
            self.store()
                .purge_pending_labels()
                .await
                .map_err(|e| Error::port("purge the pending-label list", e)),
        );
        keep(self.set_connected(false).await.map(drop));
        match first {
            None => {
                tracing::info!(node = %self.node, "left the Kubernetes master");
                Ok(())
            }
            Some(e) => Err(e),
        }
    }
}

/// Writes STATE_DB `KUBERNETES_MASTER|SERVER` `connected` with `last_update_ts = now` when
/// `connected` differs from what is recorded (or nothing is recorded yet); returns whether it
/// wrote. The change is logged.
pub async fn set_connected<S: StateStore>(store: &S, connected: bool) -> Result<bool, Error> {
    let status = store
        .server_status()
        .await
        .map_err(|e| Error::port("read STATE_DB KUBERNETES_MASTER|SERVER", e))?;
    if status.connected == connected && status.last_update_ts.is_some() {
        return Ok(false);
    }
    store
        .set_server_status(&ServerStatus {
            connected,
            last_update_ts: Some(Timestamp::from_secs(now())),
        })
        .await
        .map_err(|e| Error::port("write STATE_DB KUBERNETES_MASTER|SERVER connected", e))?;
    tracing::info!(
        connected,
        "STATE_DB KUBERNETES_MASTER|SERVER connected={connected}"
    );
    Ok(true)
}

/// Removes `path`; a missing file is success.
async fn remove_file(path: &Path) -> Result<(), Error> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(Error::File(FileError::Write {
            path: path.to_path_buf(),
            source,
        })),
    }
}

/// Replaces `path` with `data` atomically, with `mode`: a new temporary file in the same
/// directory (created exclusively, with `mode` from the start), written, fsynced, renamed over
/// `path`, then the directory fsynced. On any failure the temporary file is removed and `path`
/// is as it was.
pub async fn write_atomically(path: &Path, data: &[u8], mode: u32) -> Result<(), Error> {
    let path = path.to_path_buf();
    let data = data.to_vec();
    let target = path.clone();
    tokio::task::spawn_blocking(move || write_atomically_blocking(&path, &data, mode))
        .await
        .unwrap_or_else(|e| {
            Err(Error::File(FileError::Write {
                path: target,
                source: std::io::Error::other(e.to_string()),
            }))
        })
}

fn write_atomically_blocking(path: &Path, data: &[u8], mode: u32) -> Result<(), Error> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let fail = |source| {
        Error::File(FileError::Write {
            path: path.to_path_buf(),
            source,
        })
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = path
        .file_name()
        .ok_or_else(|| fail(std::io::Error::other("not a file path")))?;
    let tmp = dir.join(format!(
        ".{}.tmp.{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let written = (|| {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&tmp)?;
        file.write_all(data)?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(&dir)?.sync_all()
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&tmp);
        return Err(fail(e));
    }
    Ok(())
}

/// Seconds since the epoch.
fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    #[test]
    fn the_url_template_takes_the_ip_and_port_with_ipv6_in_brackets() {
        let server = ServerConfig {
            port: 6443,
            ..ServerConfig::default()
        };
        assert_eq!(
            admin_conf_url("https://{ip}/admin.conf", &server, "10.0.0.1"),
            "https://10.0.0.1/admin.conf"
        );
        assert_eq!(
            admin_conf_url("https://{ip}:{port}/admin.conf", &server, "fd00::1"),
            "https://[fd00::1]:6443/admin.conf"
        );
        assert!(same_host("[fd00::1]", "FD00::1"));
        assert!(!same_host("10.0.0.1", "10.0.0.2"));
    }

    #[tokio::test]
    async fn an_atomic_write_replaces_the_file_with_mode_0600_and_leaves_no_temp_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("kube_admin.conf");
        std::fs::write(&path, "old").expect("old file");
        write_atomically(&path, b"new", 0o600).await.expect("write");
        assert_eq!(std::fs::read_to_string(&path).expect("read"), "new");
        let mode = std::fs::metadata(&path).expect("stat").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("kube_admin.conf")]);
    }

    #[tokio::test]
    async fn a_failed_atomic_write_leaves_the_old_file_and_no_temp_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        // The target is a directory: the rename fails after the temp file was written.
        let path = dir.path().join("conf");
        std::fs::create_dir(&path).expect("dir");
        std::fs::write(path.join("keep"), "x").expect("file in it");
        let e = write_atomically(&path, b"new", 0o600)
            .await
            .expect_err("cannot replace a non-empty directory");
        assert!(e.to_string().contains("conf"), "{e}");
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("conf")]);
    }
}
