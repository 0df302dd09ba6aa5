//! The API server probe and kubelet safety.

use std::time::Duration;

use ctrmgr_core::ports::{Change, StateStore, Subscription, Watch, Watched};
use ctrmgr_core::{LabelOp, ServerConfig};
use ctrmgr_tests::fakekube::Fault;
use ctrmgr_tests::sim::UnitCommands;

use super::{Daemon, Monitored};

/// How many times STATE_DB `KUBERNETES_MASTER|SERVER` is written during `window`.
async fn writes_during(sw: &Monitored, window: Duration) -> usize {
    let mut sub = sw.fixture.db.subscribe(&[Watched::ServerStatus]);
    loop {
        match sub.next().await {
            Some(Ok(Change::Synced)) => break,
            Some(_) => {}
            None => panic!("the watch ended"),
        }
    }
    let mut n = 0;
    let end = tokio::time::Instant::now() + window;
    while let Ok(Some(ev)) = tokio::time::timeout_at(end, sub.next()).await {
        if let Ok(Change::Row(Watched::ServerStatus)) = ev {
            n += 1;
        }
    }
    n
}

#[tokio::test]
async fn connected_follows_the_master_and_is_written_only_when_it_changes() {
    let sw = Monitored::new(&UnitCommands::default(), serde_json::json!({})).await;
    sw.fixture
        .db
        .set_server_config(&ServerConfig {
            ip: Some("127.0.0.1".to_owned()),
            ..ServerConfig::default()
        })
        .await
        .expect("server config");
    let daemon = Daemon::spawn(&sw, &[]);

    let up = sw.await_connected(true).await;
    // Three probes (1 s apart) find it still connected: nothing is written.
    assert_eq!(writes_during(&sw, Duration::from_millis(3_200)).await, 0);
    assert_eq!(sw.status().await, up);
    let probes = sw
        .fixture
        .fake
        .requests()
        .iter()
        .filter(|r| r.path == "/readyz")
        .count();
    assert!(probes >= 3, "{probes} probes");

    sw.fixture.fake.set_fault(Fault::Refuse);
    let down = sw.await_connected(false).await;
    assert!(down.last_update_ts >= up.last_update_ts);
    assert_eq!(writes_during(&sw, Duration::from_millis(2_200)).await, 0);

    sw.fixture.fake.set_fault(Fault::None);
    sw.await_connected(true).await;

    // disable=true: not connected, whatever the master says.
    sw.fixture
        .db
        .set_server_config(&ServerConfig {
            ip: Some("127.0.0.1".to_owned()),
            disable: true,
            ..ServerConfig::default()
        })
        .await
        .expect("server config");
    sw.await_connected(false).await;

    let (code, log) = daemon.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("connected=false"), "{log}");
    assert!(log.contains("SIGTERM: kube-monit stopping"), "{log}");
}

#[tokio::test]
async fn kubelet_is_started_when_connected_with_no_label_pending_and_left_alone_otherwise() {
    let sw = Monitored::new(&UnitCommands::default(), serde_json::json!({})).await;
    sw.fixture
        .db
        .set_server_config(&ServerConfig {
            ip: Some("127.0.0.1".to_owned()),
            ..ServerConfig::default()
        })
        .await
        .expect("server config");
    // A label is pending: kubelet was stopped for it, and must stay stopped.
    sw.fixture
        .db
        .append_pending_labels(&[LabelOp::add("snmp_enabled", "true").expect("label")])
        .await
        .expect("append");
    sw.systemctl.set_state("kubelet", "inactive");
    let daemon = Daemon::spawn(&sw, &[]);
    sw.await_connected(true).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        sw.systemctl.state("kubelet"),
        "inactive",
        "{:?}",
        sw.systemctl.calls()
    );
    assert!(!sw.systemctl.calls().contains(&"start kubelet".to_owned()));

    // The list is drained by someone who crashed before `systemctl start kubelet`.
    sw.fixture.db.purge_pending_labels().await.expect("purge");
    let deadline = tokio::time::Instant::now() + super::DEADLINE;
    while sw.systemctl.state("kubelet") != "active" {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{:?}",
            sw.systemctl.calls()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (code, log) = daemon.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("does not run: starting it"), "{log}");
}
