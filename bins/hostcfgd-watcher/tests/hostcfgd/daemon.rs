//! The hostcfgd-watcher binary joining and leaving the master as CONFIG_DB asks.

use ctrmgr_tests::sim::UnitCommands;

use super::{Daemon, Joinable};

#[tokio::test]
async fn the_daemon_joins_when_ip_is_set_resets_when_disable_turns_true_and_joins_again_when_it_turns_false()
 {
    let sw = Joinable::new(&UnitCommands::default()).await;
    let daemon = Daemon::spawn(&sw, &[]);

    // Nothing configured: nothing happens; then the ip comes.
    sw.set_server(Some("127.0.0.1"), true, false).await;
    let joined = sw.await_connected(true).await;
    assert_eq!(
        std::fs::read_to_string(&sw.kubeconfig).expect("kubeconfig"),
        sw.fixture.fake.kubeconfig_yaml()
    );
    assert_eq!(sw.kubeadm.calls().len(), 2, "{:?}", sw.kubeadm.calls());

    sw.set_server(Some("127.0.0.1"), true, true).await;
    let reset = sw.await_connected(false).await;
    assert!(reset.last_update_ts >= joined.last_update_ts);
    assert!(!sw.kubeconfig.exists(), "the reset removed the kubeconfig");
    assert_eq!(
        sw.kubeadm.calls().last().map(String::as_str),
        Some("reset -f")
    );
    assert_eq!(sw.systemctl.state("kubelet"), "inactive");

    sw.set_server(Some("127.0.0.1"), true, false).await;
    sw.await_connected(true).await;
    assert!(sw.kubeconfig.exists());
    assert_eq!(sw.systemctl.state("kubelet"), "active");

    let (code, log) = daemon.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("joined"), "{log}");
    assert!(log.contains("leaving the master"), "{log}");
    assert!(log.contains("SIGTERM: hostcfgd-watcher stopping"), "{log}");
    assert!(
        !log.contains(sw.fixture.fake.token()),
        "no credential in the log"
    );
}

#[tokio::test]
async fn a_failed_join_is_retried_with_backoff_until_the_master_lets_it() {
    let sw = Joinable::new(&UnitCommands::default()).await;
    sw.kubeadm.set_failing(true);
    sw.set_server(Some("127.0.0.1"), true, false).await;
    let daemon = Daemon::spawn(&sw, &[]);
    // At least two failed attempts (join_retry_max_secs is 1 here).
    let deadline = tokio::time::Instant::now() + super::DEADLINE;
    while sw
        .kubeadm
        .calls()
        .iter()
        .filter(|c| c.starts_with("join"))
        .count()
        < 2
    {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no retry: {:?}",
            sw.kubeadm.calls()
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(!sw.status().await.connected);
    assert!(
        sw.etc_files().is_empty(),
        "nothing half-written: {:?}",
        sw.etc_files()
    );
    sw.kubeadm.set_failing(false);
    sw.await_connected(true).await;
    let (code, log) = daemon.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("join/reset failed; will retry"), "{log}");
}

#[tokio::test]
async fn a_changed_ip_while_connected_resets_then_joins_the_new_master() {
    let sw = Joinable::new(&UnitCommands::default()).await;
    sw.set_server(Some("127.0.0.1"), true, false).await;
    let daemon = Daemon::spawn(&sw, &[]);
    sw.await_connected(true).await;
    let before = sw.kubeadm.calls().len();
    // `localhost` is another name of the same fake master, so the new join succeeds.
    sw.set_server(Some("localhost"), true, false).await;
    let deadline = tokio::time::Instant::now() + super::DEADLINE;
    loop {
        let calls = sw.kubeadm.calls();
        if calls.len() >= before + 3 && sw.status().await.connected {
            assert_eq!(calls[before], "reset -f", "{calls:?}");
            assert!(calls[before + 2].starts_with("join "), "{calls:?}");
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no re-join: {calls:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    // The master's admin.conf names 127.0.0.1, not `localhost`: joined once, and left alone.
    let settled = sw.kubeadm.calls();
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    assert_eq!(sw.kubeadm.calls(), settled, "no re-join loop");
    let (code, log) = daemon.terminate().await;
    assert_eq!(code, Some(0), "{log}");
    assert!(log.contains("ip changed while connected"), "{log}");
}
