//! The kube container's approval loop ([`crate::approval`]).

use std::sync::atomic::{AtomicUsize, Ordering};

use ctrmgr_core::ports::{Change, Subscription, Watch, Watched};
use tokio::sync::broadcast;

use super::*;
use crate::approval::{KubeUpEnd, StopRequests, kube_up};

/// A recording fake of the Watch port: every subscription starts with `Synced`, then gets
/// the changes the test announces; the tables asked for are recorded.
#[derive(Clone)]
struct FakeWatch {
    tx: broadcast::Sender<Change>,
    subscribed: Arc<Mutex<Vec<Vec<Watched>>>>,
}

impl FakeWatch {
    fn new() -> Self {
        Self {
            tx: broadcast::channel(64).0,
            subscribed: Arc::default(),
        }
    }
    /// Announces a change of `snmp`'s row in `table`.
    fn changed(&self, table: Watched) {
        let _ = self.tx.send(Change::Feature {
            table,
            key: "snmp".to_owned(),
        });
    }
    fn subscriptions(&self) -> Vec<Vec<Watched>> {
        lock(&self.subscribed).clone()
    }
}

struct FakeSub {
    first: bool,
    rx: broadcast::Receiver<Change>,
}

impl Subscription for FakeSub {
    type Error = FakeError;
    async fn next(&mut self) -> Option<Result<Change, FakeError>> {
        if std::mem::take(&mut self.first) {
            return Some(Ok(Change::Synced));
        }
        self.rx.recv().await.ok().map(Ok)
    }
}

impl Watch for FakeWatch {
    type Error = FakeError;
    type Subscription = FakeSub;
    fn subscribe(&self, tables: &[Watched]) -> FakeSub {
        lock(&self.subscribed).push(tables.to_vec());
        FakeSub {
            first: true,
            rx: self.tx.subscribe(),
        }
    }
}

/// Stop requests the test fires; counts `listen` calls.
#[derive(Default)]
struct FakeStops {
    listens: AtomicUsize,
    fire: Option<oneshot::Receiver<u8>>,
}

impl StopRequests for FakeStops {
    fn listen(&mut self) -> Result<(), Error> {
        self.listens.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn listening(&self) -> bool {
        self.listens.load(Ordering::Relaxed) > 0
    }
    async fn stopped(&mut self) -> u8 {
        match self.fire.as_mut() {
            Some(rx) => rx.await.unwrap_or(0),
            None => std::future::pending().await,
        }
    }
}

fn set_config(w: &World, owner: Owner) {
    *lock(&w.store.0.config) = Some(config(owner, false));
}

fn set_state(w: &World, state: State) {
    *lock(&w.store.0.record) = record(state, None);
}

#[tokio::test]
async fn a_waiting_container_proceeds_when_the_row_says_kube_ready_and_claims_the_feature() {
    let w = World::new(Some(config(Owner::Kube, false)), record(State::Init, None));
    let watch = FakeWatch::new();
    let mut stops = FakeStops::default();
    let kube = id(KUBE_ID);
    let task = async { kube_up(&w.driver, &watch, &snmp(), &kube, None, &mut stops).await };
    let approve = async {
        // The container asked (KUBE_PENDING) and subscribed; a Start approves in place.
        while watch.subscriptions().is_empty() {
            tokio::task::yield_now().await;
        }
        assert_eq!(w.state(), State::KubePending);
        set_state(&w, State::KubeReady);
        watch.changed(Watched::FeatureState);
    };
    let (end, ()) = tokio::join!(task, approve);
    assert_eq!(end.expect("no error"), KubeUpEnd::Proceed);
    assert_eq!(w.state(), State::KubeRunning);
    assert_eq!(w.store.record().docker_id, Some(kube));
    assert_eq!(
        watch.subscriptions(),
        vec![vec![Watched::FeatureState, Watched::FeatureConfig]]
    );
    assert!(!stops.listening(), "no handler before a Park");
}

#[tokio::test]
async fn a_parked_container_asks_again_when_set_owner_turns_kube_and_a_stop_ends_it_with_0() {
    let w = World::new(
        Some(config(Owner::Local, false)),
        record(State::KubeReady, None),
    );
    let watch = FakeWatch::new();
    let (fire, rx) = oneshot::channel();
    let mut stops = FakeStops {
        fire: Some(rx),
        ..FakeStops::default()
    };
    let kube = id(KUBE_ID);
    let task = async { kube_up(&w.driver, &watch, &snmp(), &kube, None, &mut stops).await };
    let drive = async {
        while watch.subscriptions().is_empty() {
            tokio::task::yield_now().await;
        }
        // Parked on CONFIG_DB only; other rows' changes do nothing.
        assert_eq!(watch.subscriptions(), vec![vec![Watched::FeatureConfig]]);
        watch.changed(Watched::FeatureConfig);
        tokio::task::yield_now().await;
        assert_eq!(w.state(), State::KubeReady, "still parked: owner is local");
        let _ = fire.send(143);
    };
    let (end, ()) = tokio::join!(task, drive);
    assert_eq!(
        end.expect("no error"),
        KubeUpEnd::Parked,
        "a parked stop is an outcome of its own"
    );
    assert_eq!(stops.listens.load(Ordering::Relaxed), 1);

    // Owner kube in KUBE_READY: the parked container proceeds at once.
    let w = World::new(
        Some(config(Owner::Local, false)),
        record(State::KubeReady, None),
    );
    let watch = FakeWatch::new();
    let mut stops = FakeStops::default();
    let task = async { kube_up(&w.driver, &watch, &snmp(), &kube, None, &mut stops).await };
    let drive = async {
        while watch.subscriptions().is_empty() {
            tokio::task::yield_now().await;
        }
        set_config(&w, Owner::Kube);
        watch.changed(Watched::FeatureConfig);
    };
    let (end, ()) = tokio::join!(task, drive);
    assert_eq!(end.expect("no error"), KubeUpEnd::Proceed);
    assert_eq!(w.state(), State::KubeRunning);
}

#[tokio::test]
async fn a_wait_gives_up_after_its_bound_with_a_clear_error() {
    let w = World::new(Some(config(Owner::Kube, false)), record(State::Init, None));
    let watch = FakeWatch::new();
    let mut stops = FakeStops::default();
    let e = kube_up(
        &w.driver,
        &watch,
        &snmp(),
        &id(KUBE_ID),
        Some(Duration::from_millis(50)),
        &mut stops,
    )
    .await
    .expect_err("not approved");
    assert!(e.to_string().contains("was not approved within 0 s"), "{e}");
    assert_eq!(
        w.state(),
        State::KubePending,
        "the request stays for an approval"
    );
}
