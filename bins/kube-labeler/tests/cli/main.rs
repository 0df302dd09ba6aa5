//! The `kube-labeler` binary as a process, against a real redis-server (`TestRedis`) and the
//! fake API server (`FakeKube`), with a recording stand-in for `systemctl`.

use std::collections::BTreeMap;
use std::process::{Output, Stdio};
use std::time::Duration;

use ctrmgr_core::ports::StateStore;
use ctrmgr_core::{LabelOp, ServerStatus, Timestamp};
use ctrmgr_tests::fakekube::Fault;
use ctrmgr_tests::switch::SwitchFixture;

const BIN: &str = env!("CARGO_BIN_EXE_kube-labeler");
/// DEVICE_METADATA's hostname; the node name is its lower-case form.
const HOSTNAME: &str = "Sonic-1";
const NODE: &str = "sonic-1";
/// A bound for waiting on conditions; never reached when things work.
const DEADLINE: Duration = Duration::from_secs(60);

/// One switch: Redis, the master, a kubeconfig, tunables and a recording systemctl.
struct Switch {
    fixture: SwitchFixture,
}

impl Switch {
    async fn new() -> Self {
        Self::with_label_timeout(2).await
    }

    async fn with_label_timeout(secs: u64) -> Self {
        let fixture = SwitchFixture::start(HOSTNAME, NODE).await;
        fixture.write_tunables(serde_json::json!({ "label_timeout_secs": secs }));
        Self { fixture }
    }

    fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut c = self.fixture.command(BIN);
        c.args(args);
        c
    }

    /// Runs `kube-labeler <args>` to completion (bounded by [`DEADLINE`]).
    async fn run(&self, args: &[&str]) -> Output {
        tokio::time::timeout(DEADLINE, self.command(args).output())
            .await
            .expect("kube-labeler finishes")
            .expect("kube-labeler runs")
    }

    fn systemctl_calls(&self) -> Vec<String> {
        self.fixture.systemctl.calls()
    }

    async fn pending(&self) -> Vec<String> {
        self.fixture
            .db
            .pending_labels()
            .await
            .expect("read pending list")
            .iter()
            .map(LabelOp::to_string)
            .collect()
    }

    fn labels(&self) -> BTreeMap<String, String> {
        self.fixture.fake.node_labels(NODE).expect("node exists")
    }

    async fn set_connected(&self, connected: bool) {
        self.fixture
            .db
            .set_server_status(&ServerStatus {
                connected,
                last_update_ts: Some(Timestamp::from_secs(1_700_000_000)),
            })
            .await
            .expect("write server status");
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn ops(list: &[&str]) -> Vec<LabelOp> {
    list.iter().map(|s| s.parse().expect("valid op")).collect()
}

/// The labels that applying `history` in order to `start` gives.
fn applied(start: &[(&str, &str)], history: &[&str]) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = start
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    for op in ops(history) {
        ctrmgr_core::label::apply(&mut labels, std::slice::from_ref(&op));
    }
    labels
}

async fn eventually<F, Fut>(what: &str, mut cond: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let end = tokio::time::Instant::now() + DEADLINE;
    while !cond().await {
        assert!(tokio::time::Instant::now() < end, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn add_and_drop_change_the_label_on_the_node() {
    let sw = Switch::new().await;
    let out = sw.run(&["add", "snmp_enabled", "true"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        sw.labels().get("snmp_enabled").map(String::as_str),
        Some("true")
    );
    let out = sw.run(&["drop", "snmp_enabled"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(!sw.labels().contains_key("snmp_enabled"));
    assert!(sw.pending().await.is_empty());
    assert!(sw.systemctl_calls().is_empty(), "kubelet untouched");
}

#[tokio::test]
async fn a_refusing_master_queues_the_operation_and_stops_kubelet() {
    let sw = Switch::new().await;
    sw.fixture.fake.set_fault(Fault::Refuse);
    let out = sw.run(&["add", "snmp_enabled", "true"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("queued"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(sw.pending().await, ["snmp_enabled=true"]);
    assert_eq!(sw.systemctl_calls(), ["stop kubelet"]);
    sw.fixture.fake.set_fault(Fault::None);
    assert!(!sw.labels().contains_key("snmp_enabled"));
}

#[tokio::test]
async fn a_hanging_master_is_bounded_by_the_label_timeout() {
    let sw = Switch::with_label_timeout(1).await;
    sw.fixture.fake.set_fault(Fault::Hang);
    // `run` fails the test if the process does not finish within DEADLINE (60 s), far above
    // the 1 s label timeout.
    let out = sw.run(&["drop", "lldp_enabled"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(sw.pending().await, ["lldp_enabled-"]);
    assert_eq!(sw.systemctl_calls(), ["stop kubelet"]);
}

#[tokio::test]
async fn operations_during_an_outage_queue_behind_older_ones_and_run_drains_them_in_order() {
    let sw = Switch::new().await;
    sw.fixture.fake.add_node(
        NODE,
        [
            ("keep".to_owned(), "1".to_owned()),
            ("old".to_owned(), "x".to_owned()),
        ]
        .into(),
    );
    sw.set_connected(false).await;
    sw.fixture.fake.set_fault(Fault::Refuse);
    let history = [
        "snmp_enabled=true",
        "old-",
        "lldp_enabled=true",
        "snmp_enabled-",
        "snmp_enabled=false",
        "lldp_enabled-",
    ];
    for op in history {
        let args: Vec<&str> = match op.split_once('=') {
            Some((k, v)) => vec!["add", k, v],
            None => vec!["drop", op.trim_end_matches('-')],
        };
        let out = sw.run(&args).await;
        assert!(out.status.success(), "{op}: {}", text(&out.stderr));
    }
    assert_eq!(sw.pending().await, history, "queued in order");
    assert_eq!(
        sw.systemctl_calls(),
        ["stop kubelet"],
        "stopped once, by the first failure"
    );

    let mut daemon = sw
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon starts");
    // The master comes back and kube-monit says so.
    sw.fixture.fake.set_fault(Fault::None);
    sw.set_connected(true).await;
    eventually("the daemon drains the list", || async {
        sw.pending().await.is_empty()
    })
    .await;
    eventually("kubelet is started", || async {
        sw.systemctl_calls().iter().any(|c| c == "start kubelet")
    })
    .await;
    assert_eq!(
        sw.labels(),
        applied(&[("keep", "1"), ("old", "x")], &history)
    );
    assert_eq!(
        sw.fixture.fake.patch_count(NODE),
        1,
        "one patch for the whole list"
    );
    assert_eq!(sw.systemctl_calls(), ["stop kubelet", "start kubelet"]);

    // Operations added while the daemon runs and the master is up are applied at once.
    let out = sw.run(&["add", "x", "1"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(sw.labels().get("x").map(String::as_str), Some("1"));

    let pid = daemon.id().expect("daemon pid").to_string();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let status = tokio::time::timeout(DEADLINE, daemon.wait())
        .await
        .expect("daemon exits on SIGTERM")
        .expect("daemon status");
    assert_eq!(status.code(), Some(0), "clean exit on SIGTERM");
}

#[tokio::test]
async fn the_daemon_drains_a_list_queued_before_it_started_once_connected() {
    let sw = Switch::new().await;
    sw.fixture
        .db
        .append_pending_labels(&ops(&["a=1", "b=2", "a-"]))
        .await
        .expect("queue");
    sw.set_connected(true).await;
    let mut daemon = sw
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon starts");
    eventually("the daemon drains the list", || async {
        sw.pending().await.is_empty()
    })
    .await;
    assert_eq!(sw.labels(), applied(&[], &["a=1", "b=2", "a-"]));
    daemon.start_kill().expect("kill daemon");
    let _ = daemon.wait().await;
}

#[tokio::test]
async fn ten_thousand_queued_operations_are_drained_in_one_patch() {
    let sw = Switch::new().await;
    let history: Vec<String> = (0..10_000)
        .map(|i| {
            let key = format!("k{}", i % 700);
            if i % 7 == 3 {
                format!("{key}-")
            } else {
                format!("{key}=v{i}")
            }
        })
        .collect();
    let history_refs: Vec<&str> = history.iter().map(String::as_str).collect();
    sw.fixture
        .db
        .append_pending_labels(&ops(&history_refs))
        .await
        .expect("queue 10,000 operations");
    assert_eq!(sw.pending().await.len(), 10_000);
    let out = sw.run(&["drain"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(
        text(&out.stdout).contains("drained 10000"),
        "{}",
        text(&out.stdout)
    );
    assert_eq!(sw.fixture.fake.patch_count(NODE), 1);
    assert_eq!(sw.labels(), applied(&[], &history_refs));
    assert!(sw.pending().await.is_empty());
    assert_eq!(sw.systemctl_calls(), ["start kubelet"]);
}

#[tokio::test]
async fn invalid_label_input_is_rejected_with_nothing_written() {
    let sw = Switch::new().await;
    for (args, what) in [
        (vec!["add", "--", "-bad", "true"], "invalid label key"),
        (vec!["add", "snmp_enabled", "a,b"], "invalid label value"),
        (vec!["add", "Bad_Prefix/x", "1"], "invalid label key"),
        (vec!["drop", "a=b"], "invalid label key"),
        (vec!["add", &"k".repeat(64), "1"], "invalid label key"),
        // Path, Redis-key and shell injection (issue 15, point 5).
        (vec!["add", "../x", "1"], "invalid label key"),
        (vec!["add", "a/../../b", "1"], "invalid label key"),
        (vec!["drop", "a|b"], "invalid label key"),
        (vec!["drop", "PENDING_LABELS*"], "invalid label key"),
        (vec!["add", "k\nFEATURE|x", "1"], "invalid label key"),
        (vec!["add", "k", "$(id)"], "invalid label value"),
        (vec!["add", "k", "`id`"], "invalid label value"),
        (vec!["drop", "\u{1b}[2J"], "invalid label key"),
    ] {
        let out = sw.run(&args).await;
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        let err = text(&out.stderr);
        assert!(
            err.starts_with(&format!("kube-labeler: error: {what}")),
            "{args:?}: {err}"
        );
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(!err.contains('\u{1b}'), "no raw escape: {err:?}");
    }
    assert!(sw.pending().await.is_empty());
    assert_eq!(sw.fixture.fake.patch_count(NODE), 0);
    assert!(sw.systemctl_calls().is_empty());
}

#[tokio::test]
async fn show_prints_labels_and_the_pending_list_even_when_the_master_is_down() {
    let sw = Switch::new().await;
    sw.fixture
        .fake
        .add_node(NODE, [("a".to_owned(), "1".to_owned())].into());
    let out = sw.run(&["show", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["node"], NODE);
    assert_eq!(v["labels"], serde_json::json!({"a": "1"}));
    assert_eq!(v["pending"], serde_json::json!([]));

    sw.fixture.fake.set_fault(Fault::Refuse);
    let out = sw.run(&["add", "b", "2"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let out = sw.run(&["show", "--json"]).await;
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(v["labels"], serde_json::Value::Null);
    assert!(
        v["labels_error"]
            .as_str()
            .is_some_and(|e| e.contains("unreachable")),
        "{v}"
    );
    assert_eq!(v["pending"], serde_json::json!(["b=2"]));

    let out = sw.run(&["show"]).await;
    let shown = text(&out.stdout);
    assert!(shown.contains("Pending:\n  b=2"), "{shown}");
}

#[tokio::test]
async fn help_lists_the_commands_and_usage_errors_exit_2() {
    let out = tokio::process::Command::new(BIN)
        .arg("--help")
        .output()
        .await
        .expect("runs");
    assert_eq!(out.status.code(), Some(0));
    let help = text(&out.stdout);
    for cmd in [
        "add",
        "drop",
        "drain",
        "show",
        "run",
        "--db-config",
        "--kubeconfig",
    ] {
        assert!(help.contains(cmd), "{cmd} in {help}");
    }
    let out = tokio::process::Command::new(BIN)
        .arg("frobnicate")
        .output()
        .await
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
    let out = tokio::process::Command::new(BIN)
        .args(["add", "only-key"])
        .output()
        .await
        .expect("runs");
    assert_eq!(out.status.code(), Some(2));
}

#[tokio::test]
async fn an_unreachable_database_is_one_clear_line_and_exit_1() {
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = dir.path().join("database_config.json");
    std::fs::write(
        &cfg,
        serde_json::json!({
            "INSTANCES": {"redis": {"unix_socket_path": dir.path().join("nothing.sock")}},
            "DATABASES": {
                "CONFIG_DB": {"id": 4, "separator": "|", "instance": "redis"},
                "STATE_DB": {"id": 6, "separator": "|", "instance": "redis"}
            }
        })
        .to_string(),
    )
    .expect("write db config");
    let out = tokio::process::Command::new(BIN)
        .args(["--db-config"])
        .arg(&cfg)
        .args(["--log-to-stderr", "drain"])
        .output()
        .await
        .expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.lines()
            .any(|l| l.starts_with("kube-labeler: error: cannot connect to the SONiC databases")),
        "{err}"
    );
    assert!(
        err.lines()
            .last()
            .is_some_and(|l| l.starts_with("kube-labeler: error: ")),
        "{err}"
    );
}

/// `HSET`/`HDEL` on STATE_DB `KUBE_LABELS|SET`, as sonic-utilities' `config kubernetes label
/// add|drop` and upstream's `container_startup.py` write it.
async fn kube_labels_set(sw: &Switch, cmd: &str, args: &[&str]) {
    let client = sw.fixture.redis.client().expect("redis client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    redis::cmd("SELECT")
        .arg(sw.fixture.db.location(ctrmgr_dbclient::DbName::StateDb).id)
        .query_async::<()>(&mut conn)
        .await
        .expect("SELECT");
    redis::cmd(cmd)
        .arg("KUBE_LABELS|SET")
        .arg(args)
        .query_async::<()>(&mut conn)
        .await
        .expect("write KUBE_LABELS|SET");
}

/// Upstream's label table reaches the node through the daemon: what was in the row before it
/// started, each later change (a drop writes `false`, set as such, as upstream does), through
/// the pending list while the master refuses; `<f>_enabled` of a configured feature stays
/// the state machine's.
#[tokio::test]
async fn kube_labels_set_changes_reach_the_node_through_the_same_pending_list() {
    let sw = Switch::new().await;
    let snmp = ctrmgr_core::FeatureName::new("snmp").expect("valid");
    sw.fixture
        .db
        .set_feature_config(&snmp, &ctrmgr_core::FeatureConfig::default())
        .await
        .expect("CONFIG_DB FEATURE|snmp");
    kube_labels_set(&sw, "HSET", &["zone", "east", "snmp_enabled", "true"]).await;
    sw.set_connected(true).await;
    let mut daemon = sw
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("daemon starts");
    eventually("the row present at start reaches the node", || async {
        sw.labels().get("zone").map(String::as_str) == Some("east")
    })
    .await;
    kube_labels_set(&sw, "HSET", &["lldp_local", "20201230.11", "zone", "false"]).await;
    eventually("a change reaches the node", || async {
        let l = sw.labels();
        l.get("zone").map(String::as_str) == Some("false")
            && l.get("lldp_local").map(String::as_str) == Some("20201230.11")
    })
    .await;
    assert!(
        !sw.labels().contains_key("snmp_enabled"),
        "snmp_enabled belongs to the state machine"
    );

    // The master refuses: the change is queued and kubelet stopped; once the master is back
    // and kube-monit says connected, the daemon drains it.
    sw.fixture.fake.set_fault(Fault::Refuse);
    sw.set_connected(false).await;
    kube_labels_set(&sw, "HSET", &["rack", "r7"]).await;
    eventually("the change is queued", || async {
        sw.pending().await.iter().any(|op| op == "rack=r7")
    })
    .await;
    assert!(sw.systemctl_calls().iter().any(|c| c == "stop kubelet"));
    sw.fixture.fake.set_fault(Fault::None);
    sw.set_connected(true).await;
    eventually("the queued change reaches the node", || async {
        sw.labels().get("rack").map(String::as_str) == Some("r7") && sw.pending().await.is_empty()
    })
    .await;
    // A field removed from the row removes nothing (upstream never removes).
    kube_labels_set(&sw, "HDEL", &["zone"]).await;
    kube_labels_set(&sw, "HSET", &["after", "1"]).await;
    eventually("the next change is applied", || async {
        sw.labels().get("after").map(String::as_str) == Some("1")
    })
    .await;
    assert_eq!(sw.labels().get("zone").map(String::as_str), Some("false"));
    daemon.start_kill().expect("kill daemon");
    let _ = daemon.wait().await;
}
