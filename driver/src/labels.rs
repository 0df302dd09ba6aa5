//! Node labels with a pending list (DESIGN.md §6): [`LabelService`] and the node's
//! self-description labels.
//!
//! The rules, in the order they apply:
//! 1. While STATE_DB `KUBE_SERVER|PENDING_LABELS` is non-empty, a new operation is appended
//!    behind it, never sent around it: one Lua script checks and appends atomically, so a
//!    drain between a look at the list and an append cannot happen.
//! 2. Otherwise it is sent at once as one merge patch, bounded by `label_timeout_secs`.
//! 3. When that fails (unreachable, timeout, 5xx, or anything else), the operation is appended
//!    to the list and kubelet is stopped, so that kubelet cannot act on stale labels; the
//!    containers it started keep running.
//! 4. Draining coalesces the list to one final value per key, sends one patch, removes exactly
//!    the drained prefix atomically (operations appended meanwhile stay), and starts kubelet
//!    when the list is then empty.
//!
//! Concurrent writers: callers that change the same key (the `<feature>_enabled` label) hold
//! that feature's lock, so only operations on different keys can race, and their order does
//! not change the final labels.
//!
//! kubelet is stopped whenever the list is non-empty: the two changes of the list between
//! empty and non-empty — an append to an empty list after a failed patch, and a drain's
//! removal of the last operations — each happen together with kubelet's stop or start under
//! one lock (`<lock_dir>/_kubelet.lock`, [`crate::LockDir::lock_kubelet`]); an append behind
//! a non-empty list keeps it non-empty and needs no lock. [`LabelService::apply_after_drain`]
//! queues through the same atomic append-behind (never a look at the list, then an append).
//! The only moment kubelet runs beside a non-empty list is inside a drain, between its start of
//! kubelet and its re-read of the list (which then stops it again). `systemctl stop kubelet`
//! is bounded like every systemd call.

use std::time::Duration;

use ctrmgr_core::label::coalesce;
use ctrmgr_core::ports::{ErrorKind, Labels, PortError, StateStore, Systemd};
use ctrmgr_core::retry::error_line;
use ctrmgr_core::{DeviceMetadata, LabelKey, LabelOp, LabelValue};

use crate::lock::FeatureLock;
use crate::{Error, FileError, LockDir, Tunables};

/// Node label keys of the self-description (DESIGN.md §6, with upstream ctrmgrd's keys).
pub const SONIC_VERSION_LABEL: &str = "sonic_version";
/// Node label key of the platform: upstream ctrmgrd's `worker.sonic/platform`, which fleet
/// manifests select on.
pub const PLATFORM_LABEL: &str = "worker.sonic/platform";
/// Node label key of the HWSKU.
pub const HWSKU_LABEL: &str = "hwsku";
/// Node label key of the deployment type (DEVICE_METADATA `type`).
pub const DEPLOYMENT_TYPE_LABEL: &str = "deployment_type";

/// What the [`LabelService`] needs besides its ports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelOptions {
    /// Bound of one label patch (`label_timeout_secs`).
    pub timeout: Duration,
    /// The kubelet unit stopped while labels are pending (`kubelet_unit`).
    pub kubelet_unit: String,
    /// Where the lock that serializes the list's changes between empty and non-empty with
    /// kubelet's stop and start lives (`lock_dir`); `None` only where one process is the only
    /// writer (unit tests).
    pub locks: Option<LockDir>,
}

impl LabelOptions {
    /// The options the tunables give.
    pub fn from_tunables(t: &Tunables) -> Self {
        Self {
            timeout: t.label_timeout(),
            kubelet_unit: t.kubelet_unit.clone(),
            locks: Some(LockDir::new(&t.lock_dir)),
        }
    }
}

impl Default for LabelOptions {
    /// The tunables' defaults, without the kubelet lock.
    fn default() -> Self {
        Self {
            locks: None,
            ..Self::from_tunables(&Tunables::default())
        }
    }
}

/// Why an operation went to the pending list instead of the master.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueCause {
    /// Older operations were pending; this one went behind them.
    BehindPending {
        /// How many operations were pending before it.
        pending: usize,
    },
    /// The synchronous attempt failed.
    Failed {
        /// The kind of failure.
        kind: ErrorKind,
        /// The failure, with its causes, on one line.
        message: String,
    },
}

impl std::fmt::Display for QueueCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            QueueCause::BehindPending { pending } => {
                write!(f, "queued behind {pending} pending label operation(s)")
            }
            QueueCause::Failed { message, .. } => write!(f, "queued: {message}"),
        }
    }
}

/// The outcome of [`LabelService::apply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The master has the change.
    Sent,
    /// The change is in the pending list and will be sent by a drain.
    Queued {
        /// Why.
        cause: QueueCause,
        /// Whether this call stopped kubelet (`false` when it was already stopped for the
        /// older pending operations, or when `systemctl stop` failed — which is logged).
        kubelet_stopped: bool,
    },
}

/// The outcome of [`LabelService::drain`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Drained {
    /// Operations taken from the front of the list and sent.
    pub drained: usize,
    /// Keys in the one patch sent (after coalescing).
    pub keys: usize,
    /// Whether the drained prefix was removed. `false` when the list was purged or rewritten
    /// while the patch was in flight; nothing was removed then.
    pub removed: bool,
    /// Operations left in the list afterwards (appended meanwhile).
    pub remaining: usize,
    /// Whether kubelet was started because the list became empty.
    pub kubelet_started: bool,
}

impl Drained {
    /// Whether the list was empty, so nothing was done.
    pub fn was_empty(&self) -> bool {
        self.drained == 0
    }
}

/// Label operations on this node through the pending list, over the state store, the API
/// server and systemd ports.
#[derive(Debug)]
pub struct LabelService<S, L, D> {
    store: S,
    labels: L,
    systemd: D,
    options: LabelOptions,
}

impl<S: StateStore, L: Labels, D: Systemd> LabelService<S, L, D> {
    /// A service over the given ports.
    pub fn new(store: S, labels: L, systemd: D, options: LabelOptions) -> Self {
        Self {
            store,
            labels,
            systemd,
            options,
        }
    }

    /// The state store.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// The API server port.
    pub fn labels(&self) -> &L {
        &self.labels
    }

    /// The systemd port.
    pub fn systemd(&self) -> &D {
        &self.systemd
    }

    /// The options.
    pub fn options(&self) -> &LabelOptions {
        &self.options
    }

    /// Applies `ops`, in order: behind the pending list when it is non-empty, else at once
    /// (bounded by the label timeout); a failed attempt queues them and stops kubelet.
    /// Errors only when the state store fails (then nothing was queued by this call).
    pub async fn apply(&self, ops: &[LabelOp]) -> Result<Applied, Error> {
        if ops.is_empty() {
            return Ok(Applied::Sent);
        }
        let ahead = self
            .store
            .append_pending_labels_behind(ops)
            .await
            .map_err(|e| Error::port("append to the pending-label list", e))?;
        if ahead > 0 {
            tracing::info!(
                ops = %display_ops(ops),
                pending = ahead,
                "label operations queued behind pending ones"
            );
            return Ok(Applied::Queued {
                cause: QueueCause::BehindPending { pending: ahead },
                kubelet_stopped: false,
            });
        }
        match self.patch(ops).await {
            Ok(()) => {
                tracing::info!(ops = %display_ops(ops), "node labels changed");
                Ok(Applied::Sent)
            }
            Err(e) => {
                let message = e.message();
                let cause = QueueCause::Failed {
                    kind: e.kind(),
                    message: message.clone(),
                };
                // Under the kubelet lock, so that no drain empties the list and starts
                // kubelet between this append and this stop.
                let guard = self.kubelet_lock().await?;
                let was_empty = self.append(ops).await?;
                tracing::warn!(
                    ops = %display_ops(ops),
                    error = %message,
                    "label change failed: queued in the pending list; stopping kubelet"
                );
                // The list was not empty when a drain ran between the look above and this
                // append: kubelet is stopped already, but stopping it again is harmless.
                let _ = was_empty;
                let kubelet_stopped = self.stop_kubelet().await;
                drop(guard);
                Ok(Applied::Queued {
                    cause,
                    kubelet_stopped,
                })
            }
        }
    }

    /// Like [`LabelService::apply`], but when operations are pending, queues `ops` behind them
    /// and drains at once, so that the master receives the older operations first and then
    /// these (the seed's `config kube label add|drop`: "drain first").
    ///
    /// The look at the list and the append are one step ([`LabelService::apply`]'s atomic
    /// append-behind): a drain that empties the list in between cannot make this append start
    /// a list while kubelet runs; on an empty list, `ops` go the way of `apply` (sent, or
    /// queued with kubelet stopped under the kubelet lock).
    pub async fn apply_after_drain(&self, ops: &[LabelOp]) -> Result<Applied, Error> {
        let queued = self.apply(ops).await?;
        let Applied::Queued {
            cause: QueueCause::BehindPending { pending },
            ..
        } = queued
        else {
            return Ok(queued);
        };
        match self.drain().await {
            // The drain read the list after our append, so a non-empty drain sent our ops.
            Ok(d) if d.drained > 0 => Ok(Applied::Sent),
            // Another drain sent them (or the list was purged) between our append and ours.
            Ok(_) => Ok(Applied::Queued {
                cause: QueueCause::BehindPending { pending },
                kubelet_stopped: false,
            }),
            Err(e) => Ok(Applied::Queued {
                cause: QueueCause::Failed {
                    kind: e.kind(),
                    message: error_line(&e),
                },
                kubelet_stopped: false,
            }),
        }
    }

    /// Drains the pending list: coalesce, one patch, atomic removal of exactly the drained
    /// prefix, then kubelet started when the list is empty. An empty list does nothing. Errors
    /// when the list cannot be read or the patch fails (the list is then unchanged).
    pub async fn drain(&self) -> Result<Drained, Error> {
        let pending = self.pending().await?;
        if pending.is_empty() {
            return Ok(Drained::default());
        }
        let patch = coalesce(&pending);
        if let Err(e) = self.patch(&pending).await {
            let action = format!("drain {} pending label operation(s)", pending.len());
            return Err(match e {
                PatchError::Port(e) => Error::port(action, e),
                PatchError::Timeout(after) => Error::Timeout { action, after },
            });
        }
        // The list's change to empty and kubelet's start go together, under the kubelet lock.
        let guard = self.kubelet_lock().await?;
        let removed = self
            .store
            .remove_pending_prefix(&pending)
            .await
            .map_err(|e| Error::port("remove the drained label operations", e))?;
        let mut out = Drained {
            drained: pending.len(),
            keys: patch.len(),
            removed,
            ..Drained::default()
        };
        if !removed {
            tracing::warn!(
                drained = pending.len(),
                "the pending-label list changed while it was drained (purged?): nothing removed"
            );
            return Ok(out);
        }
        out.remaining = self.pending().await?.len();
        if out.remaining == 0 {
            out.kubelet_started = self.start_kubelet_if_nothing_pending().await?;
        }
        drop(guard);
        tracing::info!(
            drained = out.drained,
            keys = out.keys,
            remaining = out.remaining,
            kubelet_started = out.kubelet_started,
            "pending labels drained"
        );
        Ok(out)
    }

    /// Starts kubelet, then re-reads the list: an operation queued between our read and the
    /// start (whose writer stopped kubelet before our start) must not leave kubelet running.
    async fn start_kubelet_if_nothing_pending(&self) -> Result<bool, Error> {
        let unit = &self.options.kubelet_unit;
        if let Err(e) = self.systemd.start(unit).await {
            tracing::warn!(unit, error = %error_line(&e), "cannot start kubelet after draining labels");
            return Ok(false);
        }
        if !self.pending().await?.is_empty() {
            tracing::info!(
                unit,
                "labels were queued while kubelet started: stopping it again"
            );
            self.stop_kubelet().await;
            return Ok(false);
        }
        Ok(true)
    }

    /// One merge patch with the final value of each key of `ops`, bounded by the timeout.
    async fn patch(&self, ops: &[LabelOp]) -> Result<(), PatchError<L::Error>> {
        let patch = coalesce(ops);
        match tokio::time::timeout(self.options.timeout, self.labels.patch_labels(&patch)).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(PatchError::Port(e)),
            Err(_) => Err(PatchError::Timeout(self.options.timeout)),
        }
    }

    async fn pending(&self) -> Result<Vec<LabelOp>, Error> {
        self.store
            .pending_labels()
            .await
            .map_err(|e| Error::port("read the pending-label list", e))
    }

    /// Appends to the list; answers whether it was empty.
    async fn append(&self, ops: &[LabelOp]) -> Result<bool, Error> {
        self.store
            .append_pending_labels(ops)
            .await
            .map_err(|e| Error::port("append to the pending-label list", e))
    }

    /// The kubelet lock, when this service has a lock directory.
    async fn kubelet_lock(&self) -> Result<Option<FeatureLock>, Error> {
        match &self.options.locks {
            Some(locks) => Ok(Some(locks.lock_kubelet().await?)),
            None => Ok(None),
        }
    }

    /// Stops kubelet; a failure is logged, not returned: the operation is safely queued and
    /// the caller's own work must go on.
    async fn stop_kubelet(&self) -> bool {
        let unit = &self.options.kubelet_unit;
        match self.systemd.stop(unit).await {
            Ok(()) => true,
            Err(e) => {
                tracing::error!(unit, error = %error_line(&e), "cannot stop kubelet while labels are pending");
                false
            }
        }
    }
}

/// Why a label patch failed: the adapter's own error (which says what it tried), or our bound.
#[derive(Debug)]
enum PatchError<E> {
    Port(E),
    Timeout(Duration),
}

impl<E: PortError> PatchError<E> {
    fn kind(&self) -> ErrorKind {
        match self {
            PatchError::Port(e) => e.kind(),
            PatchError::Timeout(_) => ErrorKind::Transient,
        }
    }

    fn message(&self) -> String {
        match self {
            PatchError::Port(e) => error_line(e),
            PatchError::Timeout(after) => format!(
                "no answer from the api server within {} ms",
                after.as_millis()
            ),
        }
    }
}

/// Operations as the pending list spells them, for logs.
fn display_ops(ops: &[LabelOp]) -> String {
    ctrmgr_core::codec::encode_pending_labels(ops)
}

/// `build_version` of SONiC's `sonic_version.yml`, read without a YAML parser: the file is a
/// flat map of scalars. Quotes are removed, and a comment after an unquoted value is ignored.
pub fn parse_build_version(sonic_version_yml: &str) -> Option<String> {
    sonic_version_yml.lines().find_map(|line| {
        let rest = line.strip_prefix("build_version:")?.trim();
        let value = if let Some(q) = rest.strip_prefix('\'') {
            q.split('\'').next()
        } else if let Some(q) = rest.strip_prefix('"') {
            q.split('"').next()
        } else {
            rest.split(" #").next().map(str::trim)
        }?;
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// Turns free text into a valid label value: characters outside `[A-Za-z0-9_.-]` become `_`,
/// the ends are trimmed to letters or digits, and the result is cut to 63 characters. `None`
/// when nothing remains.
pub fn sanitize_label_value(text: &str) -> Option<LabelValue> {
    let trim = |s: &str| -> String {
        s.trim_matches(|c: char| !c.is_ascii_alphanumeric())
            .to_owned()
    };
    let mapped: String = text
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut v = trim(&mapped);
    if v.len() > 63 {
        v.truncate(63);
        v = trim(&v);
    }
    if v.is_empty() {
        return None;
    }
    LabelValue::new(&v).ok()
}

/// The labels a node describes itself with after a join: `sonic_version` (from
/// `sonic_version.yml`), `worker.sonic/platform`, `hwsku` and `deployment_type`
/// (DEVICE_METADATA `type`): upstream ctrmgrd's keys.
/// Values are sanitized into valid label values; a label whose source is absent or empty is
/// left out (not removed).
pub fn self_description_labels(meta: &DeviceMetadata, sonic_version_yml: &str) -> Vec<LabelOp> {
    let version = parse_build_version(sonic_version_yml);
    [
        (SONIC_VERSION_LABEL, version.as_deref()),
        (PLATFORM_LABEL, meta.platform.as_deref()),
        (HWSKU_LABEL, meta.hwsku.as_deref()),
        (DEPLOYMENT_TYPE_LABEL, meta.deployment_type.as_deref()),
    ]
    .into_iter()
    .filter_map(|(key, source)| {
        let value = sanitize_label_value(source?)?;
        let key = LabelKey::new(key).ok()?;
        Some(LabelOp::Add(key, value))
    })
    .collect()
}

/// Reads `sonic_version.yml` for [`self_description_labels`]; a missing file reads as empty
/// (the `sonic_version` label is then left out).
pub async fn read_sonic_version_file(path: &std::path::Path) -> Result<String, Error> {
    match tokio::fs::read_to_string(path).await {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(Error::File(FileError::Read {
            path: path.to_path_buf(),
            source,
        })),
    }
}

#[cfg(test)]
mod race_tests;
#[cfg(test)]
mod tests;
