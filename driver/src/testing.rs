//! Recording fakes of the core's ports, for the driver's unit tests and for other packages'
//! (behind the cargo feature `testing`): a state store ([`FakeStore`]: one feature's rows,
//! the pending-label list, scripted racing writers and failures), a container engine
//! ([`FakeEngine`]: containers by id and name, every call recorded with the state of the
//! feature's locks, a gate to hold a stop), an API server ([`FakeMaster`]: node labels, up,
//! failing or hanging, a writer during the patch, a kubelet that stops the kube container when
//! its label goes) and systemd ([`FakeUnits`]: every `verb unit`, a settable `is-active`).
//! One set, so that a change of a port's contract is made once.
//!
//! These are test support: their helpers panic on a poisoned mutex and an invalid id.

use std::collections::BTreeMap;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use ctrmgr_core::label::apply as apply_ops;
use ctrmgr_core::machine::StateWrite;
use ctrmgr_core::ports::{
    Containers, ErrorKind, ExitStatus, FeatureView, LabelPatch, Labels, PortError, StateStore,
    Systemd,
};
use ctrmgr_core::{
    ContainerId, DeviceMetadata, FeatureConfig, FeatureName, FeatureRecord, LabelOp, ServerConfig,
    ServerStatus, TransitionMode, UnitActivity,
};
use tokio::sync::{oneshot, watch};

use crate::LockDir;

/// The pending-label list, shared so that a fake master can change it "meanwhile".
pub type SharedList = Arc<Mutex<Vec<LabelOp>>>;

/// The error every fake returns when told to fail, of the kind it was told.
#[derive(Debug, thiserror::Error)]
#[error("fake failure ({0:?})")]
pub struct FakeError(pub ErrorKind);

impl PortError for FakeError {
    fn kind(&self) -> ErrorKind {
        self.0
    }
}

/// Locks a test mutex (a poisoned one is a failed test already).
pub fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().expect("test mutex not poisoned")
}

/// `Err` of the kind set in `flag`, if any.
pub fn fail_if(flag: &Mutex<Option<ErrorKind>>) -> Result<(), FakeError> {
    match *lock(flag) {
        Some(kind) => Err(FakeError(kind)),
        None => Ok(()),
    }
}

/// Whether another open file description could lock `path` now (the driver's lock is free).
/// A lock file nobody created yet is free.
pub fn lockable(path: &Path) -> bool {
    match OpenOptions::new().read(true).write(true).open(path) {
        Ok(f) => f.try_lock().is_ok(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

// ---- state store ------------------------------------------------------------------------

/// One feature's CONFIG_DB and STATE_DB rows and the pending-label list. A racing writer can
/// be scripted: before each guarded write it replaces the record with the next of `racers`.
#[derive(Debug, Clone, Default)]
pub struct FakeStore(pub Arc<FakeStoreInner>);

/// What a [`FakeStore`] holds.
#[derive(Debug, Default)]
pub struct FakeStoreInner {
    /// CONFIG_DB `FEATURE|<f>`; `None` when the feature has no row.
    pub config: Mutex<Option<FeatureConfig>>,
    /// STATE_DB `FEATURE|<f>`.
    pub record: Mutex<FeatureRecord>,
    /// Every write applied, in order.
    pub writes: Mutex<Vec<StateWrite>>,
    /// STATE_DB `KUBE_SERVER|PENDING_LABELS`, shared so that a fake master can change it
    /// while a patch is in flight.
    pub pending: SharedList,
    /// Makes every operation on the pending list fail.
    pub fail_pending: Mutex<Option<ErrorKind>>,
    /// Records a racing writer puts in place, one before each guarded write.
    pub racers: Mutex<Vec<FeatureRecord>>,
    /// Races every guarded write, for ever.
    pub always_race: Mutex<bool>,
    /// Records a racing writer puts in place just after a read, one per read.
    pub read_racers: Mutex<Vec<FeatureRecord>>,
    /// Makes every read and write of the feature's rows fail.
    pub fail: Mutex<Option<ErrorKind>>,
    /// CONFIG_DB KUBERNETES_MASTER|SERVER has no `ip` (the node never joined a master).
    pub no_master: Mutex<bool>,
}

impl FakeStore {
    /// A store with the feature's CONFIG_DB row (if any) and STATE_DB record.
    pub fn new(config: Option<FeatureConfig>, record: FeatureRecord) -> Self {
        let s = Self::default();
        *lock(&s.0.config) = config;
        *lock(&s.0.record) = record;
        s
    }
    /// The record now.
    pub fn record(&self) -> FeatureRecord {
        lock(&self.0.record).clone()
    }
    /// The writes applied so far.
    pub fn writes(&self) -> Vec<StateWrite> {
        lock(&self.0.writes).clone()
    }
    /// The pending-label list now.
    pub fn pending(&self) -> Vec<LabelOp> {
        lock(&self.0.pending).clone()
    }
    /// A store whose pending list holds `ops` (and no feature rows).
    pub fn with_pending(ops: &[LabelOp]) -> Self {
        let s = Self::default();
        lock(&s.0.pending).extend_from_slice(ops);
        s
    }
    /// The pending list itself, for a [`DuringPatch`].
    pub fn shared_pending(&self) -> SharedList {
        Arc::clone(&self.0.pending)
    }
    /// Makes every later operation on the pending list fail with `kind`.
    pub fn fail_pending(&self, kind: ErrorKind) {
        *lock(&self.0.fail_pending) = Some(kind);
    }
}

/// What a port method the code under test must not call answers.
pub fn unused<T>() -> Result<T, FakeError> {
    Err(FakeError(ErrorKind::Permanent))
}

impl StateStore for FakeStore {
    type Error = FakeError;
    async fn feature(&self, _: &FeatureName) -> Result<FeatureView, FakeError> {
        fail_if(&self.0.fail)?;
        let view = FeatureView {
            config: lock(&self.0.config).clone(),
            record: self.record(),
            warnings: Vec::new(),
        };
        let mut racers = lock(&self.0.read_racers);
        if !racers.is_empty() {
            *lock(&self.0.record) = racers.remove(0);
        }
        Ok(view)
    }
    async fn features(&self) -> Result<Vec<FeatureName>, FakeError> {
        unused()
    }
    async fn write_state(&self, _: &FeatureName, w: &StateWrite) -> Result<bool, FakeError> {
        fail_if(&self.0.fail)?;
        let mut rec = lock(&self.0.record);
        if w.guard.is_some() {
            if *lock(&self.0.always_race) {
                let next = match rec.transition_mode {
                    TransitionMode::KubePending => TransitionMode::KubeStopped,
                    _ => TransitionMode::KubePending,
                };
                rec.transition_mode = next;
            } else if let Some(racer) = lock(&self.0.racers).pop() {
                *rec = racer;
            }
        }
        if let Some(guard) = w.guard
            && guard != rec.transition_mode
        {
            return Ok(false);
        }
        w.apply(&mut rec);
        lock(&self.0.writes).push(w.clone());
        Ok(true)
    }
    async fn server_config(&self) -> Result<ServerConfig, FakeError> {
        let ip = (!*lock(&self.0.no_master)).then(|| "10.3.1.1".to_owned());
        Ok(ServerConfig {
            ip,
            ..ServerConfig::default()
        })
    }
    async fn server_status(&self) -> Result<ServerStatus, FakeError> {
        unused()
    }
    async fn set_server_status(&self, _: &ServerStatus) -> Result<(), FakeError> {
        unused()
    }
    async fn device_metadata(&self) -> Result<DeviceMetadata, FakeError> {
        unused()
    }
    async fn pending_labels(&self) -> Result<Vec<LabelOp>, FakeError> {
        fail_if(&self.0.fail_pending)?;
        Ok(self.pending())
    }
    async fn append_pending_labels(&self, ops: &[LabelOp]) -> Result<bool, FakeError> {
        fail_if(&self.0.fail_pending)?;
        let mut list = lock(&self.0.pending);
        let was_empty = list.is_empty();
        list.extend_from_slice(ops);
        Ok(was_empty)
    }
    async fn append_pending_labels_behind(&self, ops: &[LabelOp]) -> Result<usize, FakeError> {
        fail_if(&self.0.fail_pending)?;
        let mut list = lock(&self.0.pending);
        let ahead = list.len();
        if ahead > 0 {
            list.extend_from_slice(ops);
        }
        Ok(ahead)
    }
    async fn remove_pending_prefix(&self, drained: &[LabelOp]) -> Result<bool, FakeError> {
        fail_if(&self.0.fail_pending)?;
        let mut list = lock(&self.0.pending);
        match ctrmgr_core::label::remove_prefix(&list, drained) {
            Some(rest) => {
                *list = rest;
                Ok(true)
            }
            None => Ok(false),
        }
    }
    async fn purge_pending_labels(&self) -> Result<(), FakeError> {
        fail_if(&self.0.fail_pending)?;
        lock(&self.0.pending).clear();
        Ok(())
    }
}

// ---- container engine -------------------------------------------------------------------

/// Containers by id, with names; every call recorded. A change of any container's running
/// state is announced on a watch channel, so that `wait` returns when it stops.
#[derive(Debug, Clone)]
pub struct FakeEngine(pub Arc<FakeEngineInner>);

/// What a [`FakeEngine`] holds.
#[derive(Debug)]
pub struct FakeEngineInner {
    /// id → (name, running).
    pub containers: Mutex<BTreeMap<String, (String, bool)>>,
    /// Every call, as `verb <id> …`.
    pub calls: Mutex<Vec<String>>,
    /// Makes every call fail.
    pub fail: Mutex<Option<ErrorKind>>,
    /// Bumped at every change of a container's running state.
    pub changed: watch::Sender<u64>,
    /// The lock file whose state `wait` records in `lock_free_during_wait`.
    pub lock_probe: Mutex<Option<PathBuf>>,
    /// Whether the probed lock was free, at each `wait`.
    pub lock_free_during_wait: Mutex<Vec<bool>>,
    /// The feature lock and the stopping lock, whose state each call records in
    /// `locks_during_calls`.
    pub call_probe: Mutex<Option<(PathBuf, PathBuf)>>,
    /// What the probed locks were during each call.
    pub locks_during_calls: Mutex<Vec<LocksSeen>>,
    /// When set, the next `stop` or `kill` says it began and then waits for the go-ahead, as
    /// a container running its pre-stop would keep `docker stop` waiting.
    pub stop_gate: Mutex<Option<(oneshot::Sender<()>, oneshot::Receiver<()>)>>,
}

/// Which of the feature's two locks were free while the engine carried out one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocksSeen {
    /// The call, as recorded in `calls` (`stop <id> <grace>`).
    pub call: String,
    /// The feature lock was free.
    pub feature_lock_free: bool,
    /// The stopping lock was free.
    pub stopping_lock_free: bool,
}

impl Default for FakeEngine {
    fn default() -> Self {
        Self::new()
    }
}

impl FakeEngine {
    /// An engine with no containers.
    pub fn new() -> Self {
        Self(Arc::new(FakeEngineInner {
            containers: Mutex::default(),
            calls: Mutex::default(),
            fail: Mutex::default(),
            changed: watch::Sender::new(0),
            lock_probe: Mutex::default(),
            lock_free_during_wait: Mutex::default(),
            call_probe: Mutex::default(),
            locks_during_calls: Mutex::default(),
            stop_gate: Mutex::default(),
        }))
    }
    /// Records the state of both locks of `feature` during every later call.
    pub fn probe_locks(&self, locks: &LockDir, feature: &FeatureName) {
        *lock(&self.0.call_probe) = Some((locks.path(feature), locks.stopping_path(feature)));
    }
    /// What [`FakeEngine::probe_locks`] saw so far.
    pub fn locks_during_calls(&self) -> Vec<LocksSeen> {
        lock(&self.0.locks_during_calls).clone()
    }
    /// Makes the next `stop` or `kill` wait for `go` after it says it began on `began`.
    pub fn gate_stop(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (began_tx, began) = oneshot::channel();
        let (go, go_rx) = oneshot::channel();
        *lock(&self.0.stop_gate) = Some((began_tx, go_rx));
        (began, go)
    }
    /// Passes the gate set by [`FakeEngine::gate_stop`], if any.
    pub async fn pass_gate(&self) {
        let gate = lock(&self.0.stop_gate).take();
        if let Some((began, go)) = gate {
            let _ = began.send(());
            let _ = go.await;
        }
    }
    /// Adds a container.
    pub fn add(&self, id: &str, name: &str, running: bool) {
        lock(&self.0.containers).insert(id.to_owned(), (name.to_owned(), running));
    }
    /// Whether container `id` runs.
    pub fn running(&self, id: &str) -> bool {
        lock(&self.0.containers).get(id).is_some_and(|c| c.1)
    }
    /// The calls so far.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.0.calls).clone()
    }
    /// Starts or stops container `id` (from outside: a crash, a kubelet).
    pub fn set_running(&self, id: &str, running: bool) {
        if let Some(c) = lock(&self.0.containers).get_mut(id) {
            c.1 = running;
        }
        self.0.changed.send_modify(|n| *n += 1);
    }
    /// The id of a container named or identified by `key`.
    pub fn resolve(&self, key: &str) -> Option<String> {
        let cs = lock(&self.0.containers);
        if cs.contains_key(key) {
            return Some(key.to_owned());
        }
        cs.iter()
            .find(|(_, (n, _))| n == key)
            .map(|(id, _)| id.clone())
    }
    /// Records a call (and the probed locks), failing when told to.
    pub fn call(&self, what: String) -> Result<(), FakeError> {
        if let Some((feature, stopping)) = lock(&self.0.call_probe).clone() {
            lock(&self.0.locks_during_calls).push(LocksSeen {
                call: what.clone(),
                feature_lock_free: lockable(&feature),
                stopping_lock_free: lockable(&stopping),
            });
        }
        lock(&self.0.calls).push(what);
        fail_if(&self.0.fail)
    }
}

/// The engine's "no such container".
pub fn not_found() -> FakeError {
    FakeError(ErrorKind::NotFound)
}

impl Containers for FakeEngine {
    type Error = FakeError;
    async fn start(&self, id: &ContainerId) -> Result<ContainerId, FakeError> {
        self.call(format!("start {id}"))?;
        let full = self.resolve(id.as_str()).ok_or_else(not_found)?;
        self.set_running(&full, true);
        Ok(ContainerId::new(&full).expect("valid id"))
    }
    async fn stop(&self, id: &ContainerId, grace: u32) -> Result<(), FakeError> {
        self.call(format!("stop {id} {grace}"))?;
        self.pass_gate().await;
        let full = self.resolve(id.as_str()).ok_or_else(not_found)?;
        self.set_running(&full, false);
        Ok(())
    }
    async fn kill(&self, id: &ContainerId) -> Result<(), FakeError> {
        self.call(format!("kill {id}"))?;
        self.pass_gate().await;
        let full = self.resolve(id.as_str()).ok_or_else(not_found)?;
        self.set_running(&full, false);
        Ok(())
    }
    async fn wait(&self, id: &ContainerId) -> Result<ExitStatus, FakeError> {
        self.call(format!("wait {id}"))?;
        if let Some(path) = lock(&self.0.lock_probe).clone() {
            lock(&self.0.lock_free_during_wait).push(lockable(&path));
        }
        let full = self.resolve(id.as_str()).ok_or_else(not_found)?;
        let mut rx = self.0.changed.subscribe();
        while self.running(&full) {
            if rx.changed().await.is_err() {
                return unused();
            }
        }
        Ok(ExitStatus { code: 0 })
    }
    async fn is_running(&self, id: &ContainerId) -> Result<bool, FakeError> {
        self.call(format!("is_running {id}"))?;
        Ok(self
            .resolve(id.as_str())
            .is_some_and(|full| self.running(&full)))
    }
}

// ---- API server, with a kubelet ---------------------------------------------------------

/// How the fake API server answers a patch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MasterMode {
    /// Applies it.
    Up,
    /// Fails with this kind.
    Fails(ErrorKind),
    /// Never answers.
    Hangs,
}

/// What another writer does to the pending list while a patch is in flight.
#[derive(Debug)]
pub enum DuringPatch {
    /// Appends these operations.
    Append(SharedList, Vec<LabelOp>),
    /// Empties it.
    Purge(SharedList),
}

/// Node labels, the patches applied and every attempt; can fail or hang. Its kubelet stops
/// the kube container when the feature's label is removed, if told to.
#[derive(Debug, Clone)]
pub struct FakeMaster(pub Arc<FakeMasterInner>);

/// The state of a [`FakeMaster`].
#[derive(Debug)]
pub struct FakeMasterInner {
    /// How the next patch is answered.
    pub mode: Mutex<MasterMode>,
    /// The node's labels.
    pub labels: Mutex<BTreeMap<String, String>>,
    /// The patches applied.
    pub patches: Mutex<Vec<LabelPatch>>,
    /// Every patch request, answered or not.
    pub attempts: Mutex<u32>,
    /// Done to the pending list while the next patch is in flight.
    pub during_patch: Mutex<Option<DuringPatch>>,
    /// (engine, label key, kube container id): kubelet stops the container when the key goes.
    pub kubelet: Mutex<Option<(FakeEngine, String, String)>>,
}

impl FakeMaster {
    /// A master answering as `mode` says, with no labels.
    pub fn new(mode: MasterMode) -> Self {
        Self(Arc::new(FakeMasterInner {
            mode: Mutex::new(mode),
            labels: Mutex::default(),
            patches: Mutex::default(),
            attempts: Mutex::default(),
            during_patch: Mutex::default(),
            kubelet: Mutex::default(),
        }))
    }
    /// Changes how later patches are answered.
    pub fn set_mode(&self, mode: MasterMode) {
        *lock(&self.0.mode) = mode;
    }
    /// Sets what happens to the pending list during the next patch.
    pub fn set_during_patch(&self, during: DuringPatch) {
        *lock(&self.0.during_patch) = Some(during);
    }
    /// The node's labels now.
    pub fn node_labels(&self) -> BTreeMap<String, String> {
        lock(&self.0.labels).clone()
    }
    /// The patches applied.
    pub fn patches(&self) -> Vec<LabelPatch> {
        lock(&self.0.patches).clone()
    }
    /// Patch requests so far, answered or not.
    pub fn attempts(&self) -> u32 {
        *lock(&self.0.attempts)
    }
}

impl Labels for FakeMaster {
    type Error = FakeError;
    async fn patch_labels(&self, patch: &LabelPatch) -> Result<(), FakeError> {
        *lock(&self.0.attempts) += 1;
        match lock(&self.0.during_patch).take() {
            Some(DuringPatch::Append(list, ops)) => lock(&list).extend(ops),
            Some(DuringPatch::Purge(list)) => lock(&list).clear(),
            None => {}
        }
        let mode = *lock(&self.0.mode);
        match mode {
            MasterMode::Hangs => std::future::pending().await,
            MasterMode::Fails(kind) => Err(FakeError(kind)),
            MasterMode::Up => {
                let ops: Vec<LabelOp> = patch
                    .iter()
                    .map(|(k, v)| match v {
                        Some(v) => LabelOp::Add(k.clone(), v.clone()),
                        None => LabelOp::Remove(k.clone()),
                    })
                    .collect();
                apply_ops(&mut lock(&self.0.labels), &ops);
                lock(&self.0.patches).push(patch.clone());
                let kubelet = lock(&self.0.kubelet).clone();
                if let Some((engine, key, id)) = kubelet
                    && !self.node_labels().contains_key(&key)
                {
                    engine.set_running(&id, false);
                }
                Ok(())
            }
        }
    }
    async fn labels(&self) -> Result<BTreeMap<String, String>, FakeError> {
        Ok(self.node_labels())
    }
}

// ---- systemd ----------------------------------------------------------------------------

/// Records `verb unit`, and whether the feature lock was free during each call.
#[derive(Debug, Clone, Default)]
pub struct FakeUnits(pub Arc<FakeUnitsInner>);

/// What a [`FakeUnits`] holds.
#[derive(Debug, Default)]
pub struct FakeUnitsInner {
    /// Every call, as `verb unit`.
    pub calls: Mutex<Vec<String>>,
    /// The lock file whose state each call records in `lock_free`.
    pub lock_probe: Mutex<Option<PathBuf>>,
    /// Whether the probed lock was free, at each call.
    pub lock_free: Mutex<Vec<bool>>,
    /// What is-active says; active when unset.
    pub activity: Mutex<Option<UnitActivity>>,
}

impl FakeUnits {
    /// The calls so far.
    pub fn calls(&self) -> Vec<String> {
        lock(&self.0.calls).clone()
    }
    /// Records `verb unit` (and the probed lock).
    pub fn record(&self, verb: &str, unit: &str) {
        lock(&self.0.calls).push(format!("{verb} {unit}"));
        if let Some(path) = lock(&self.0.lock_probe).clone() {
            lock(&self.0.lock_free).push(lockable(&path));
        }
    }
}

impl Systemd for FakeUnits {
    type Error = FakeError;
    async fn start(&self, unit: &str) -> Result<(), FakeError> {
        self.record("start", unit);
        Ok(())
    }
    async fn stop(&self, unit: &str) -> Result<(), FakeError> {
        self.record("stop", unit);
        Ok(())
    }
    async fn restart(&self, unit: &str) -> Result<(), FakeError> {
        self.record("restart", unit);
        Ok(())
    }
    async fn try_restart(&self, unit: &str) -> Result<(), FakeError> {
        self.record("try-restart", unit);
        Ok(())
    }
    async fn reset_failed(&self, unit: &str) -> Result<(), FakeError> {
        self.record("reset-failed", unit);
        Ok(())
    }
    async fn activity(&self, _: &str) -> Result<ctrmgr_core::UnitActivity, FakeError> {
        Ok(lock(&self.0.activity).unwrap_or(UnitActivity::Active))
    }
}

// ---- the world of one test ----------------------------------------------------------------
