//! Port traits: the interfaces the driver needs from the outside world, in this crate's types
//! only. Adapters implement them (`ctrmgr-dbclient` for Redis, `ctrmgr-dockerclient` for the
//! container engine, `ctrmgr-kubeclient` for the API server, the driver's systemctl runner);
//! tests implement them with recording fakes.
//!
//! Traits use static dispatch with `impl Future + Send` returns (no `async_trait`).

use std::collections::BTreeMap;
use std::future::Future;

use crate::label::{LabelKey, LabelOp, LabelValue};
use crate::machine::StateWrite;
use crate::types::{
    ContainerId, DeviceMetadata, FeatureConfig, FeatureName, FeatureRecord, ServerConfig,
    ServerStatus, UnitActivity,
};

/// What kind of failure an adapter met; the driver feeds it back into the core's retry policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Worth retrying: connection lost, timeout, 5xx, a lost compare-and-set race.
    Transient,
    /// The thing asked for does not exist (container, node, row).
    NotFound,
    /// The request conflicts with the current state (compare-and-set lost, resource version).
    Conflict,
    /// What was read is malformed.
    InvalidData,
    /// Will not succeed by retrying: unauthorized, bad configuration, a bug.
    Permanent,
}

/// An adapter error with a [`ErrorKind`].
pub trait PortError: std::error::Error + Send + Sync + 'static {
    /// The kind of failure.
    fn kind(&self) -> ErrorKind;
}

/// What one command needs to read about a feature, read in one round trip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureView {
    /// CONFIG_DB `FEATURE|<f>`; `None` when the feature is not configured (unknown feature).
    pub config: Option<FeatureConfig>,
    /// STATE_DB `FEATURE|<f>` (default record when absent), read by the total rule
    /// ([`crate::codec::decode_feature_state`]).
    pub record: FeatureRecord,
    /// The STATE_DB fields read past (values none of the documented spellings), for the
    /// caller to log; the next write repairs them ([`crate::machine::step_decoded`]).
    pub warnings: Vec<crate::codec::DecodeWarning>,
}

/// SONiC's CONFIG_DB and STATE_DB.
pub trait StateStore: Send + Sync {
    /// The adapter's error.
    type Error: PortError;

    /// Reads a feature's configuration and record together (pipelined).
    fn feature(
        &self,
        feature: &FeatureName,
    ) -> impl Future<Output = Result<FeatureView, Self::Error>> + Send;

    /// Every feature configured in CONFIG_DB `FEATURE`.
    fn features(&self) -> impl Future<Output = Result<Vec<FeatureName>, Self::Error>> + Send;

    /// Writes STATE_DB fields in one HSET. With a guard, the write happens only if
    /// `transition_mode` still has the guard's value (compare-and-set); returns whether it was
    /// applied.
    fn write_state(
        &self,
        feature: &FeatureName,
        write: &StateWrite,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// CONFIG_DB `KUBERNETES_MASTER|SERVER`.
    fn server_config(&self) -> impl Future<Output = Result<ServerConfig, Self::Error>> + Send;

    /// STATE_DB `KUBERNETES_MASTER|SERVER`.
    fn server_status(&self) -> impl Future<Output = Result<ServerStatus, Self::Error>> + Send;

    /// Writes STATE_DB `KUBERNETES_MASTER|SERVER` (`connected` and `last_update_ts` together).
    fn set_server_status(
        &self,
        status: &ServerStatus,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// CONFIG_DB `DEVICE_METADATA|localhost`.
    fn device_metadata(&self) -> impl Future<Output = Result<DeviceMetadata, Self::Error>> + Send;

    /// The pending-label list, in order.
    fn pending_labels(&self) -> impl Future<Output = Result<Vec<LabelOp>, Self::Error>> + Send;

    /// Appends operations to the pending-label list atomically (no concurrent append is lost);
    /// returns whether the list was empty before (the caller must then stop kubelet).
    fn append_pending_labels(
        &self,
        ops: &[LabelOp],
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Appends operations behind the pending-label list only if it is not empty, atomically;
    /// returns how many operations were ahead of them (`0`: the list was empty, nothing was
    /// written).
    fn append_pending_labels_behind(
        &self,
        ops: &[LabelOp],
    ) -> impl Future<Output = Result<usize, Self::Error>> + Send;

    /// Removes exactly `drained` from the front of the list atomically; returns `false` (and
    /// changes nothing) when the list no longer starts with it.
    fn remove_pending_prefix(
        &self,
        drained: &[LabelOp],
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;

    /// Deletes the pending-label list (explicit disconnect).
    fn purge_pending_labels(&self) -> impl Future<Output = Result<(), Self::Error>> + Send;
}

/// How a container ended, from `docker wait`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExitStatus {
    /// The exit code.
    pub code: i64,
}

/// The local container engine.
pub trait Containers: Send + Sync {
    /// The adapter's error.
    type Error: PortError;

    /// Starts a container by id or name; "already started" is success. Returns its full id.
    fn start(
        &self,
        id: &ContainerId,
    ) -> impl Future<Output = Result<ContainerId, Self::Error>> + Send;

    /// Stops a container with a grace period; "already stopped" is success.
    fn stop(
        &self,
        id: &ContainerId,
        grace_secs: u32,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Kills a container; "not running" is success.
    fn kill(&self, id: &ContainerId) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// Waits until the container exits and returns its exit code.
    fn wait(
        &self,
        id: &ContainerId,
    ) -> impl Future<Output = Result<ExitStatus, Self::Error>> + Send;

    /// Whether the container exists and runs.
    fn is_running(
        &self,
        id: &ContainerId,
    ) -> impl Future<Output = Result<bool, Self::Error>> + Send;
}

/// A label patch: the final value per key (`None` removes), sent as one merge patch.
pub type LabelPatch = BTreeMap<LabelKey, Option<LabelValue>>;

/// The Kubernetes API server, as far as node labels go.
pub trait Labels: Send + Sync {
    /// The adapter's error.
    type Error: PortError;

    /// Applies the patch to this node's labels in one request.
    fn patch_labels(
        &self,
        patch: &LabelPatch,
    ) -> impl Future<Output = Result<(), Self::Error>> + Send;

    /// This node's labels.
    fn labels(&self) -> impl Future<Output = Result<BTreeMap<String, String>, Self::Error>> + Send;
}

/// systemd, through `systemctl`. Every call is bounded by the adapter; a job that a call
/// started goes on in systemd when the call gives up or its caller crashes.
pub trait Systemd: Send + Sync {
    /// The adapter's error.
    type Error: PortError;

    /// `systemctl start <unit>` (returns once the start job is done).
    fn start(&self, unit: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// `systemctl stop <unit>` (returns once stopped).
    fn stop(&self, unit: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// `systemctl restart <unit>`.
    fn restart(&self, unit: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// `systemctl try-restart <unit>`: one job that restarts the unit only if it is active
    /// when systemd runs it, and does nothing otherwise.
    fn try_restart(&self, unit: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// `systemctl reset-failed <unit>`: clears a failed state and the start rate limit counter.
    fn reset_failed(&self, unit: &str) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// `systemctl is-active <unit>`, parsed by [`UnitActivity::from_is_active`].
    fn activity(
        &self,
        unit: &str,
    ) -> impl Future<Output = Result<UnitActivity, Self::Error>> + Send;
    /// Whether [`Systemd::activity`] is [`UnitActivity::Active`].
    fn is_active(&self, unit: &str) -> impl Future<Output = Result<bool, Self::Error>> + Send {
        let activity = self.activity(unit);
        async move { Ok(activity.await? == UnitActivity::Active) }
    }
}

/// A row a [`Watch`] reports changes of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Watched {
    /// CONFIG_DB `FEATURE|*` (`set_owner`, `fallback_to_local`, `kube_failure_detection`).
    FeatureConfig,
    /// STATE_DB `FEATURE|*` (the record: owner, mode, timestamps).
    FeatureState,
    /// CONFIG_DB `KUBERNETES_MASTER|SERVER` (`ip`, `port`, `insecure`, `disable`).
    ServerConfig,
    /// STATE_DB `KUBERNETES_MASTER|SERVER` (`connected`).
    ServerStatus,
    /// STATE_DB `KUBE_SERVER|PENDING_LABELS`.
    PendingLabels,
}

/// One item of a [`Subscription`]. Changes only say *which* row changed: the row is read
/// afterwards through [`StateStore`] (level-triggered; a stale change costs one needless read).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// A feature's row changed (or was deleted); the feature is its key, as written in the DB
    /// (it may not be a valid [`FeatureName`]: see [`Change::feature`]).
    Feature {
        /// Which table: [`Watched::FeatureConfig`] or [`Watched::FeatureState`].
        table: Watched,
        /// The row's key (`snmp` for `FEATURE|snmp`).
        key: String,
    },
    /// The server's row, or the pending-label list, changed: [`Watched::ServerConfig`],
    /// [`Watched::ServerStatus`] or [`Watched::PendingLabels`].
    Row(Watched),
    /// Resync marker: every watched row that exists has been reported since the subscription
    /// began, or since the connection was lost and re-established (events may have been
    /// missed meanwhile, so a consumer re-reads what it cares about). The first `Synced` comes
    /// after the initial scan of every watched table.
    Synced,
}

impl Change {
    /// The feature a [`Change::Feature`] names, when its key is a valid feature name.
    pub fn feature(&self) -> Option<FeatureName> {
        match self {
            Change::Feature { key, .. } => FeatureName::new(key).ok(),
            _ => None,
        }
    }
}

/// The changes of a [`Watch::subscribe`], in the order they happened per row.
pub trait Subscription: Send {
    /// The adapter's error.
    type Error: PortError;

    /// The next change; `None` when the subscription ended for good (a permanent failure was
    /// reported before). A transient failure (lost connection) is retried by the adapter and
    /// followed by a rescan and [`Change::Synced`]; a row that cannot be read is reported as
    /// an `Err` item and the subscription goes on.
    fn next(&mut self) -> impl Future<Output = Option<Result<Change, Self::Error>>> + Send;
}

/// Change notifications of CONFIG_DB and STATE_DB rows (keyspace notifications on SONiC's
/// Redis). A subscription first reports every existing row of the watched tables, then
/// [`Change::Synced`], then each change as it happens: subscribe, *then* scan, so that no change
/// falls between the two.
pub trait Watch: Send + Sync {
    /// The adapter's error.
    type Error: PortError;
    /// The subscription type.
    type Subscription: Subscription<Error = Self::Error> + 'static;

    /// Subscribes to the rows of `tables`. Nothing is read until the first
    /// [`Subscription::next`].
    fn subscribe(&self, tables: &[Watched]) -> Self::Subscription;

    /// Subscribes to one feature's rows of `tables` (the feature tables; the others are
    /// watched whole): what a process that cares about a single feature needs, so that a
    /// switch with many such processes does not wake each of them for every feature's change.
    /// The changes of other rows may still come (the default watches the whole tables):
    /// callers filter by key.
    fn subscribe_feature(&self, tables: &[Watched], feature: &FeatureName) -> Self::Subscription {
        let _ = feature;
        self.subscribe(tables)
    }
}
