//! Connecting through `database_config.json`: unix socket, TCP, fallback, failures.

use ctrmgr_core::ports::{ErrorKind, StateStore};
use ctrmgr_core::{FeatureConfig, Owner};
use ctrmgr_dbclient::testing::{TestRedis, Transport};
use ctrmgr_dbclient::{DbConfig, DbName, SonicDb};

use crate::support::{Raw, bounded, connect, feature, redis};

#[tokio::test]
async fn connects_through_the_unix_socket() {
    // This server has no TCP listener at all (`--port 0`).
    let r = redis();
    assert_eq!(r.tcp_port(), None);
    let db = connect(&r).await;
    let loc = db.location(DbName::StateDb);
    assert_eq!(
        loc.address.unix_socket.as_deref(),
        Some(r.socket_path().as_path())
    );
    assert_eq!(loc.address.tcp, None);
    db.set_feature_owner(&feature("snmp"), Owner::Kube)
        .await
        .expect("write");
    assert_eq!(
        db.feature_config(&feature("snmp"))
            .await
            .expect("read")
            .map(|c| c.set_owner),
        Some(Owner::Kube)
    );
}

#[tokio::test]
async fn connects_through_tcp() {
    let r = TestRedis::start_with_tcp().expect("redis-server starts");
    let path = r.dir().join("tcp_only.json");
    r.write_db_config(&path, Transport::Tcp).expect("config");
    let cfg = DbConfig::from_file(&path).expect("config parses");
    let loc = cfg.db("CONFIG_DB").expect("CONFIG_DB");
    assert_eq!(loc.address.unix_socket, None, "TCP only");
    assert_eq!(
        loc.address.tcp,
        Some(("127.0.0.1".to_owned(), r.tcp_port().expect("a TCP port")))
    );
    let db = SonicDb::connect(&cfg).await.expect("connects over TCP");
    let snmp = feature("snmp");
    db.set_feature_config(&snmp, &FeatureConfig::new(Owner::Kube, true))
        .await
        .expect("write");
    // The same server, seen through its unix socket, has the row.
    let via_unix = connect(&r).await;
    let mut raw = Raw::new(&r).await;
    assert_eq!(
        raw.hgetall(&via_unix, DbName::ConfigDb, "FEATURE|snmp")
            .await
            .get("set_owner")
            .map(String::as_str),
        Some("kube")
    );
}

#[tokio::test]
async fn falls_back_to_tcp_when_the_unix_socket_does_not_answer() {
    let r = TestRedis::start_with_tcp().expect("redis-server starts");
    let port = r.tcp_port().expect("a TCP port");
    let missing = r.dir().join("no-such.sock");
    let text = format!(
        r#"{{"INSTANCES": {{"redis": {{"unix_socket_path": "{}", "hostname": "127.0.0.1", "port": {port}}}}},
            "DATABASES": {{"CONFIG_DB": {{"id": 4, "separator": "|", "instance": "redis"}},
                          "STATE_DB": {{"id": 6, "separator": "|", "instance": "redis"}}}}}}"#,
        missing.display()
    );
    let cfg = DbConfig::from_json(&text, "test").expect("parses");
    let db = bounded("connecting", SonicDb::connect(&cfg))
        .await
        .expect("connects over TCP");
    assert!(
        db.features().await.expect("a request works").is_empty(),
        "an empty server"
    );
}

#[tokio::test]
async fn connecting_to_a_stopped_server_fails_as_transient_and_names_the_instance() {
    let mut r = redis();
    let cfg = r.db_config().expect("config");
    r.stop();
    let e = bounded("connecting", SonicDb::connect(&cfg))
        .await
        .expect_err("nothing listens");
    assert_eq!(e.kind(), ErrorKind::Transient, "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("redis"), "{msg}");
    assert!(msg.contains("redis.sock"), "{msg}");
}

#[tokio::test]
async fn the_connection_recovers_after_the_server_restarts() {
    let mut r = redis();
    let db = connect(&r).await;
    let snmp = feature("snmp");
    db.set_feature_owner(&snmp, Owner::Kube)
        .await
        .expect("write");
    r.restart().expect("redis-server restarts");
    // The first request after the restart may fail (it finds the connection dropped); the
    // connection then comes back by itself.
    let config = bounded("a request to succeed after the restart", async {
        loop {
            match db.feature_config(&snmp).await {
                Ok(c) => return c,
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Transient, "{e:?}");
                    tokio::task::yield_now().await;
                }
            }
        }
    })
    .await;
    assert_eq!(config, None, "the restarted server is empty");
}

#[tokio::test]
async fn a_config_naming_a_missing_file_is_a_clear_error() {
    let r = redis();
    let missing = r.dir().join("missing.json");
    let e = DbConfig::load(Some(&missing)).expect_err("the file is missing");
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("missing.json"), "{e}");
    let malformed = r.dir().join("malformed.json");
    std::fs::write(&malformed, "{\"INSTANCES\": ").expect("write");
    let e = DbConfig::load(Some(&malformed)).expect_err("the file is malformed");
    assert_eq!(e.kind(), ErrorKind::InvalidData);
    assert!(e.to_string().contains("malformed.json"), "{e}");
}
