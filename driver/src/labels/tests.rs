//! [`LabelService`] against the recording fakes of its ports ([`crate::testing`]).

use std::collections::BTreeMap;

use ctrmgr_core::DeviceMetadata;
use ctrmgr_core::label::apply as apply_ops;
use ctrmgr_core::ports::{ErrorKind, PortError};

use super::*;
use crate::testing::*;

type Service = LabelService<FakeStore, FakeMaster, FakeUnits>;

fn service(store: FakeStore, master: MasterMode) -> Service {
    LabelService::new(
        store,
        FakeMaster::new(master),
        FakeUnits::default(),
        LabelOptions::default(),
    )
}

fn op(s: &str) -> LabelOp {
    s.parse().expect("valid op")
}

fn ops(list: &[&str]) -> Vec<LabelOp> {
    list.iter().map(|s| op(s)).collect()
}

fn set_master(s: &Service, m: MasterMode) {
    s.labels().set_mode(m);
}

#[tokio::test]
async fn apply_with_nothing_pending_sends_one_patch_and_queues_nothing() {
    let s = service(FakeStore::default(), MasterMode::Up);
    let out = s
        .apply(&ops(&["snmp_enabled=true", "lldp_enabled-"]))
        .await
        .expect("apply");
    assert_eq!(out, Applied::Sent);
    assert_eq!(s.labels().patches().len(), 1);
    assert_eq!(s.labels().node_labels()["snmp_enabled"], "true");
    assert!(s.store().pending().is_empty());
    assert!(s.systemd().calls().is_empty());
}

#[tokio::test]
async fn a_refusing_master_queues_the_operations_in_order_and_stops_kubelet() {
    let s = service(
        FakeStore::default(),
        MasterMode::Fails(ErrorKind::Transient),
    );
    let sent = ops(&["a=1", "b-"]);
    let out = s.apply(&sent).await.expect("apply");
    match out {
        Applied::Queued {
            cause: QueueCause::Failed { kind, .. },
            kubelet_stopped,
        } => {
            assert_eq!(kind, ErrorKind::Transient);
            assert!(kubelet_stopped);
        }
        other => panic!("expected a failed attempt to be queued, got {other:?}"),
    }
    assert_eq!(s.store().pending(), sent);
    assert_eq!(s.systemd().calls(), ["stop kubelet"]);
    assert!(s.labels().node_labels().is_empty());
}

#[tokio::test]
async fn a_permanent_failure_is_queued_too_so_no_operation_is_lost() {
    let s = service(
        FakeStore::default(),
        MasterMode::Fails(ErrorKind::Permanent),
    );
    s.apply(&ops(&["a=1"])).await.expect("apply");
    assert_eq!(s.store().pending(), ops(&["a=1"]));
    assert_eq!(s.systemd().calls(), ["stop kubelet"]);
}

#[tokio::test]
async fn operations_queue_behind_pending_ones_without_contacting_the_master() {
    let s = service(FakeStore::with_pending(&ops(&["a=1"])), MasterMode::Up);
    let out = s.apply(&ops(&["a=2", "b=1"])).await.expect("apply");
    assert_eq!(
        out,
        Applied::Queued {
            cause: QueueCause::BehindPending { pending: 1 },
            kubelet_stopped: false
        }
    );
    assert_eq!(s.store().pending(), ops(&["a=1", "a=2", "b=1"]));
    assert!(s.labels().patches().is_empty());
}

#[tokio::test(start_paused = true)]
async fn a_hanging_master_is_bounded_by_the_label_timeout_and_the_operation_queued() {
    let s = service(FakeStore::default(), MasterMode::Hangs);
    let out = s.apply(&ops(&["a=1"])).await.expect("apply");
    assert!(
        matches!(
            out,
            Applied::Queued {
                cause: QueueCause::Failed {
                    kind: ErrorKind::Transient,
                    ..
                },
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(s.store().pending(), ops(&["a=1"]));
    assert_eq!(s.systemd().calls(), ["stop kubelet"]);
}

#[tokio::test]
async fn drain_sends_one_coalesced_patch_removes_the_list_and_starts_kubelet() {
    let queued = ops(&["a=1", "b=1", "a-", "c=x", "b=2"]);
    let s = service(FakeStore::with_pending(&queued), MasterMode::Up);
    let d = s.drain().await.expect("drain");
    assert_eq!(
        d,
        Drained {
            drained: 5,
            keys: 3,
            removed: true,
            remaining: 0,
            kubelet_started: true
        }
    );
    assert_eq!(s.labels().patches().len(), 1);
    let mut want = BTreeMap::new();
    apply_ops(&mut want, &queued);
    assert_eq!(s.labels().node_labels(), want);
    assert!(s.store().pending().is_empty());
    assert_eq!(s.systemd().calls(), ["start kubelet"]);
}

#[tokio::test]
async fn drain_keeps_operations_appended_while_the_patch_was_in_flight() {
    let s = service(
        FakeStore::with_pending(&ops(&["a=1", "b=1"])),
        MasterMode::Up,
    );
    s.labels().set_during_patch(DuringPatch::Append(
        s.store().shared_pending(),
        ops(&["c=1"]),
    ));
    let d = s.drain().await.expect("drain");
    assert!(d.removed);
    assert_eq!(d.drained, 2);
    assert_eq!(d.remaining, 1);
    assert!(!d.kubelet_started);
    assert_eq!(s.store().pending(), ops(&["c=1"]));
    assert!(s.systemd().calls().is_empty(), "kubelet stays stopped");
}

#[tokio::test]
async fn a_failed_drain_leaves_the_list_unchanged_and_kubelet_stopped() {
    let queued = ops(&["a=1", "b-"]);
    let s = service(
        FakeStore::with_pending(&queued),
        MasterMode::Fails(ErrorKind::Transient),
    );
    let e = s.drain().await.expect_err("master fails");
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert!(e.to_string().contains("drain 2 pending"), "{e}");
    assert_eq!(s.store().pending(), queued);
    assert!(s.systemd().calls().is_empty());
}

#[tokio::test]
async fn draining_an_empty_list_does_nothing() {
    let s = service(FakeStore::default(), MasterMode::Up);
    let d = s.drain().await.expect("drain");
    assert!(d.was_empty());
    assert!(s.labels().patches().is_empty());
    assert!(s.systemd().calls().is_empty());
}

#[tokio::test]
async fn a_drain_whose_list_was_purged_meanwhile_removes_nothing_and_keeps_kubelet_stopped() {
    let s = service(FakeStore::with_pending(&ops(&["a=1"])), MasterMode::Up);
    s.labels()
        .set_during_patch(DuringPatch::Purge(s.store().shared_pending()));
    let d = s.drain().await.expect("drain");
    assert_eq!(d.drained, 1);
    assert!(!d.removed);
    assert!(!d.kubelet_started);
    assert!(s.store().pending().is_empty());
    assert!(s.systemd().calls().is_empty());
}

#[tokio::test]
async fn apply_after_drain_sends_older_operations_first() {
    let s = service(
        FakeStore::with_pending(&ops(&["a=1", "b=1"])),
        MasterMode::Up,
    );
    let out = s.apply_after_drain(&ops(&["a-"])).await.expect("apply");
    assert_eq!(out, Applied::Sent);
    let mut want = BTreeMap::new();
    apply_ops(&mut want, &ops(&["a=1", "b=1", "a-"]));
    assert_eq!(s.labels().node_labels(), want);
    assert!(s.store().pending().is_empty());
    assert_eq!(s.systemd().calls(), ["start kubelet"]);
}

#[tokio::test]
async fn apply_after_drain_with_the_master_down_queues_behind_and_keeps_order() {
    let s = service(
        FakeStore::with_pending(&ops(&["a=1"])),
        MasterMode::Fails(ErrorKind::Transient),
    );
    let out = s.apply_after_drain(&ops(&["a=2"])).await.expect("apply");
    assert!(
        matches!(
            out,
            Applied::Queued {
                cause: QueueCause::Failed { .. },
                ..
            }
        ),
        "{out:?}"
    );
    assert_eq!(s.store().pending(), ops(&["a=1", "a=2"]));
}

#[tokio::test]
async fn an_outage_then_a_drain_gives_the_labels_of_applying_every_operation_in_order() {
    let s = service(FakeStore::default(), MasterMode::Up);
    let history = [
        vec!["snmp_enabled=true"],
        vec!["lldp_enabled=true", "x=1"],
        vec!["snmp_enabled-"],
        vec!["x=2"],
        vec!["lldp_enabled-", "snmp_enabled=true"],
    ];
    s.apply(&ops(&history[0]))
        .await
        .expect("apply before outage");
    set_master(&s, MasterMode::Fails(ErrorKind::Transient));
    for h in &history[1..] {
        s.apply(&ops(h)).await.expect("apply during outage");
    }
    assert_eq!(s.store().pending().len(), 6);
    set_master(&s, MasterMode::Up);
    let d = s.drain().await.expect("drain");
    assert!(d.kubelet_started);
    let mut want = BTreeMap::new();
    for h in &history {
        apply_ops(&mut want, &ops(h));
    }
    assert_eq!(s.labels().node_labels(), want);
    assert_eq!(s.systemd().calls(), ["stop kubelet", "start kubelet"]);
}

#[tokio::test]
async fn a_failing_store_is_an_error_and_nothing_is_sent() {
    let store = FakeStore::default();
    store.fail_pending(ErrorKind::Transient);
    let s = service(store, MasterMode::Up);
    let e = s.apply(&ops(&["a=1"])).await.expect_err("store down");
    assert!(e.to_string().contains("pending-label list"), "{e}");
    assert!(s.labels().patches().is_empty());
}

#[test]
fn build_version_is_read_quoted_or_not() {
    let yml = "build_version: 'master.0-dirty-20240101.000000'\ndebian_version: '12.5'\n";
    assert_eq!(
        parse_build_version(yml).as_deref(),
        Some("master.0-dirty-20240101.000000")
    );
    assert_eq!(
        parse_build_version("x: 1\nbuild_version: \"202405.1\"\n").as_deref(),
        Some("202405.1")
    );
    assert_eq!(
        parse_build_version("build_version: 202405.2 # release\n").as_deref(),
        Some("202405.2")
    );
    assert_eq!(parse_build_version("  build_version: nested\n"), None);
    assert_eq!(parse_build_version("build_version: ''\n"), None);
    assert_eq!(parse_build_version(""), None);
}

#[test]
fn label_values_are_sanitized_into_valid_ones() {
    let v = |s: &str| sanitize_label_value(s).map(|v| v.to_string());
    assert_eq!(
        v("Mellanox-SN2700-D48C8").as_deref(),
        Some("Mellanox-SN2700-D48C8")
    );
    assert_eq!(v("Force10 S6000+x").as_deref(), Some("Force10_S6000_x"));
    assert_eq!(v("-.weird.-").as_deref(), Some("weird"));
    assert_eq!(v("++"), None);
    let long = "a".repeat(62) + "-bcd";
    assert_eq!(v(&long).as_deref(), Some("a".repeat(62).as_str()));
}

#[test]
fn self_description_has_the_four_labels_when_everything_is_known() {
    let meta = DeviceMetadata {
        hostname: Some("sonic".into()),
        platform: Some("x86_64-mlnx_msn2700-r0".into()),
        hwsku: Some("Mellanox SN2700".into()),
        deployment_type: Some("ToRRouter".into()),
    };
    let got = self_description_labels(&meta, "build_version: 'SONiC.202405.1'\n");
    assert_eq!(
        got,
        ops(&[
            "sonic_version=SONiC.202405.1",
            "worker.sonic/platform=x86_64-mlnx_msn2700-r0",
            "hwsku=Mellanox_SN2700",
            "deployment_type=ToRRouter",
        ])
    );
}

#[test]
fn self_description_leaves_out_what_is_unknown() {
    let meta = DeviceMetadata {
        platform: Some("vs".into()),
        ..DeviceMetadata::default()
    };
    assert_eq!(
        self_description_labels(&meta, ""),
        ops(&["worker.sonic/platform=vs"])
    );
}

// ---- the drainer loop, in paused tokio time ---------------------------------------------------

use crate::drainer::{DrainerEvent, DrainerExit, run_drainer};
use tokio::sync::{mpsc, oneshot};

/// Events the test sends, as the stream the drainer reads.
fn event_stream(
    mut rx: mpsc::UnboundedReceiver<DrainerEvent>,
) -> impl futures_util::Stream<Item = DrainerEvent> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

/// Waits (in paused time) until `cond` holds; fails the test after a virtual hour.
async fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(3600);
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn the_drainer_drains_when_the_server_is_connected_and_stops_on_shutdown() {
    let s = service(
        FakeStore::with_pending(&ops(&["a=1", "b=1", "a-"])),
        MasterMode::Up,
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let test = async {
        tx.send(DrainerEvent::Pending(true)).expect("send");
        tx.send(DrainerEvent::Connected(true)).expect("send");
        eventually("the list is drained", || s.store().pending().is_empty()).await;
        eventually("kubelet is started", || {
            s.systemd().calls() == ["start kubelet"]
        })
        .await;
        stop.send(()).expect("drainer listens");
    };
    let (exit, ()) = tokio::join!(
        run_drainer(&s, event_stream(rx), async {
            let _ = stopped.await;
        }),
        test
    );
    assert_eq!(exit, DrainerExit::Shutdown);
    assert_eq!(
        s.labels().node_labels(),
        BTreeMap::from([("b".into(), "1".into())])
    );
    assert_eq!(s.labels().patches().len(), 1);
}

#[tokio::test(start_paused = true)]
async fn the_drainer_retries_with_backoff_until_the_master_answers() {
    let s = service(
        FakeStore::with_pending(&ops(&["a=1"])),
        MasterMode::Fails(ErrorKind::Transient),
    );
    let (tx, rx) = mpsc::unbounded_channel();
    let (stop, stopped) = oneshot::channel::<()>();
    let test = async {
        tx.send(DrainerEvent::Connected(true)).expect("send");
        tx.send(DrainerEvent::Pending(true)).expect("send");
        eventually("three failed attempts", || s.labels().attempts() >= 3).await;
        assert_eq!(
            s.store().pending(),
            ops(&["a=1"]),
            "a failed drain keeps the list"
        );
        set_master(&s, MasterMode::Up);
        eventually("the list is drained", || s.store().pending().is_empty()).await;
        stop.send(()).expect("drainer listens");
    };
    let (exit, ()) = tokio::join!(
        run_drainer(&s, event_stream(rx), async {
            let _ = stopped.await;
        }),
        test
    );
    assert_eq!(exit, DrainerExit::Shutdown);
    assert_eq!(s.labels().node_labels()["a"], "1");
}

#[tokio::test(start_paused = true)]
async fn the_drainer_ends_when_its_events_end() {
    let s = service(FakeStore::default(), MasterMode::Up);
    let (tx, rx) = mpsc::unbounded_channel();
    drop(tx);
    let exit = run_drainer(&s, event_stream(rx), std::future::pending()).await;
    assert_eq!(exit, DrainerExit::EventsEnded);
}
