//! The pending list and kubelet on a real `redis-server`, with drains and
//! [`LabelService::apply_after_drain`] interleaved: kubelet is never left running while the list
//! is non-empty, and no operation is lost (issue 8, item 6).

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use ctrmgr_core::label::apply as apply_ops;
use ctrmgr_core::ports::{ErrorKind, FeatureView, StateStore};
use ctrmgr_core::{FeatureName, ServerConfig, ServerStatus, StateWrite};
use ctrmgr_dbclient::SonicDb;
use ctrmgr_dbclient::testing::TestRedis;

use super::*;
use crate::testing::*;

/// A future run once, just before the next append to the pending list.
type Hook = Pin<Box<dyn Future<Output = ()> + Send>>;

/// [`SonicDb`] with a hook that lets another writer act between a caller's earlier look at the
/// list and its append.
struct Interleaved {
    db: SonicDb,
    before_append: Mutex<Option<Hook>>,
}

impl Interleaved {
    async fn run_hook(&self) {
        let hook = lock(&self.before_append).take();
        if let Some(hook) = hook {
            hook.await;
        }
    }
}

type DbError = <SonicDb as StateStore>::Error;

impl StateStore for Interleaved {
    type Error = DbError;
    async fn feature(&self, f: &FeatureName) -> Result<FeatureView, DbError> {
        self.db.feature(f).await
    }
    async fn features(&self) -> Result<Vec<FeatureName>, DbError> {
        self.db.features().await
    }
    async fn write_state(&self, f: &FeatureName, w: &StateWrite) -> Result<bool, DbError> {
        self.db.write_state(f, w).await
    }
    async fn server_config(&self) -> Result<ServerConfig, DbError> {
        self.db.server_config().await
    }
    async fn server_status(&self) -> Result<ServerStatus, DbError> {
        self.db.server_status().await
    }
    async fn set_server_status(&self, s: &ServerStatus) -> Result<(), DbError> {
        self.db.set_server_status(s).await
    }
    async fn device_metadata(&self) -> Result<DeviceMetadata, DbError> {
        self.db.device_metadata().await
    }
    async fn pending_labels(&self) -> Result<Vec<LabelOp>, DbError> {
        self.db.pending_labels().await
    }
    async fn append_pending_labels(&self, ops: &[LabelOp]) -> Result<bool, DbError> {
        self.run_hook().await;
        self.db.append_pending_labels(ops).await
    }
    async fn append_pending_labels_behind(&self, ops: &[LabelOp]) -> Result<usize, DbError> {
        self.run_hook().await;
        self.db.append_pending_labels_behind(ops).await
    }
    async fn remove_pending_prefix(&self, drained: &[LabelOp]) -> Result<bool, DbError> {
        self.db.remove_pending_prefix(drained).await
    }
    async fn purge_pending_labels(&self) -> Result<(), DbError> {
        self.db.purge_pending_labels().await
    }
}

fn op(s: &str) -> LabelOp {
    s.parse().expect("valid op")
}

/// One node: a real Redis, a lock directory, one master and one kubelet shared by every
/// service built on it.
struct Node {
    redis: TestRedis,
    locks: tempfile::TempDir,
    master: FakeMaster,
    units: FakeUnits,
}

impl Node {
    fn new() -> Self {
        Self {
            redis: TestRedis::start().expect("redis-server starts (apt-get install redis-server)"),
            locks: tempfile::tempdir().expect("temp dir"),
            master: FakeMaster::new(MasterMode::Up),
            units: FakeUnits::default(),
        }
    }

    fn options(&self) -> LabelOptions {
        LabelOptions {
            locks: Some(LockDir::new(self.locks.path())),
            ..LabelOptions::default()
        }
    }

    async fn service<S: StateStore>(
        &self,
        wrap: impl FnOnce(SonicDb) -> S,
    ) -> LabelService<S, FakeMaster, FakeUnits> {
        let db = self.redis.connect().await.expect("connect");
        LabelService::new(
            wrap(db),
            self.master.clone(),
            self.units.clone(),
            self.options(),
        )
    }

    /// Whether kubelet runs: it does until the first stop, then as the last start or stop says.
    fn kubelet_running(&self) -> bool {
        let unit = self.options().kubelet_unit;
        self.units
            .calls()
            .iter()
            .rev()
            .find_map(|c| match c.split_once(' ') {
                Some(("start", u)) if u == unit => Some(true),
                Some(("stop", u)) if u == unit => Some(false),
                _ => None,
            })
            .unwrap_or(true)
    }

    /// The invariant, looked at under the kubelet lock (so not inside a drain's start).
    async fn check_invariant(&self, db: &SonicDb, when: &str) {
        let _guard = LockDir::new(self.locks.path())
            .lock_kubelet()
            .await
            .expect("kubelet lock");
        let pending = db.pending_labels().await.expect("read the list");
        assert!(
            pending.is_empty() || !self.kubelet_running(),
            "{when}: kubelet runs while {} label operation(s) are pending: {pending:?}",
            pending.len()
        );
    }
}

#[tokio::test]
async fn a_drain_between_the_look_and_the_append_of_apply_after_drain_leaves_kubelet_stopped() {
    let node = Node::new();
    let db = node.redis.connect().await.expect("connect");
    // An outage queued `a=1` and stopped kubelet.
    node.master
        .set_mode(MasterMode::Fails(ErrorKind::Transient));
    let a = node.service(|db| db).await;
    a.apply(&[op("a=1")]).await.expect("apply");
    assert!(!node.kubelet_running());
    // `label add b=1` looks at the list (non-empty); the drainer then sends it, empties it and
    // starts kubelet; the master goes away again before `b=1` is appended and drained.
    let drainer = Arc::new(node.service(|db| db).await);
    let master = node.master.clone();
    node.master.set_mode(MasterMode::Up);
    let hook: Hook = Box::pin(async move {
        let d = drainer.drain().await.expect("the drainer drains");
        assert!(d.kubelet_started, "{d:?}");
        master.set_mode(MasterMode::Fails(ErrorKind::Transient));
    });
    let labeler = node
        .service(|db| Interleaved {
            db,
            before_append: Mutex::new(Some(hook)),
        })
        .await;
    let out = labeler
        .apply_after_drain(&[op("b=1")])
        .await
        .expect("apply_after_drain");
    assert!(matches!(out, Applied::Queued { .. }), "{out:?}");
    assert_eq!(db.pending_labels().await.expect("read"), [op("b=1")]);
    node.check_invariant(&db, "after the interleaved apply_after_drain")
        .await;
    // Nothing is lost: once the master is back, a drain gives every operation, in order.
    node.master.set_mode(MasterMode::Up);
    let d = a.drain().await.expect("drain");
    assert!(d.kubelet_started);
    assert_eq!(
        node.master.node_labels(),
        BTreeMap::from([("a".into(), "1".into()), ("b".into(), "1".into())])
    );
    assert!(node.kubelet_running());
}

/// Appends `k{n}={i}` for i in 0..rounds through `apply_after_drain`.
async fn label_writer<S: StateStore>(
    s: &LabelService<S, FakeMaster, FakeUnits>,
    n: usize,
    rounds: usize,
) {
    for i in 0..rounds {
        s.apply_after_drain(&[op(&format!("k{n}={i}"))])
            .await
            .expect("apply_after_drain");
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn racing_drains_and_apply_after_drain_never_leave_kubelet_running_and_lose_nothing() {
    const ROUNDS: usize = 40;
    let node = Arc::new(Node::new());
    let db = node.redis.connect().await.expect("connect");
    let writers = [node.service(|db| db).await, node.service(|db| db).await];
    let drainer = node.service(|db| db).await;
    let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop = || done.load(std::sync::atomic::Ordering::SeqCst);
    let writing = async {
        tokio::join!(
            label_writer(&writers[0], 0, ROUNDS),
            label_writer(&writers[1], 1, ROUNDS)
        );
        done.store(true, std::sync::atomic::Ordering::SeqCst);
    };
    let draining = async {
        while !stop() {
            let _ = drainer.drain().await;
            tokio::task::yield_now().await;
        }
    };
    let flipping = async {
        let mut up = false;
        while !stop() {
            node.master.set_mode(if up {
                MasterMode::Up
            } else {
                MasterMode::Fails(ErrorKind::Transient)
            });
            up = !up;
            tokio::time::sleep(std::time::Duration::from_millis(3)).await;
        }
    };
    let checking = async {
        let mut checks = 0;
        while !stop() {
            node.check_invariant(&db, "while racing").await;
            checks += 1;
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
        }
        checks
    };
    let ((), (), (), checks) = tokio::join!(writing, draining, flipping, checking);
    assert!(checks > 0);
    node.check_invariant(&db, "after the race").await;
    node.master.set_mode(MasterMode::Up);
    drainer.drain().await.expect("final drain");
    assert!(db.pending_labels().await.expect("read").is_empty());
    assert!(node.kubelet_running());
    let last = (ROUNDS - 1).to_string();
    let mut want = BTreeMap::new();
    apply_ops(
        &mut want,
        &[op(&format!("k0={last}")), op(&format!("k1={last}"))],
    );
    assert_eq!(node.master.node_labels(), want, "no operation is lost");
}
