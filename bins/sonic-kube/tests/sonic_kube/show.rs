//! `show …`: snapshots of every table (tabulate's "simple" layout, sonic-utilities' headers and
//! messages) and of its `--json`.

use std::collections::BTreeMap;

use ctrmgr_dbclient::DbName;
use ctrmgr_tests::fakekube::Fault;
use ctrmgr_tests::fakekube::RunningPod;

use super::Switch;

const KM: &str = "KUBERNETES_MASTER";

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

#[tokio::test]
async fn server_config_and_status_tables() {
    let sw = Switch::new().await;
    // Upstream's messages when the rows are absent (exit 0).
    let out = sw.run(&["show", "kubernetes", "server", "config"]).await;
    assert_eq!(out.ok(), "Kubernetes server is not configured\n");
    let out = sw.run(&["show", "kubernetes", "server", "status"]).await;
    assert_eq!(out.ok(), "Kubernetes server has no status info\n");
    assert_eq!(
        json(
            sw.run(&["show", "kubernetes", "server", "config", "-j"])
                .await
                .ok()
        ),
        json("{}")
    );

    // Only ip set: the others show their defaults (DESIGN.md §3: insecure defaults to false).
    sw.set(DbName::ConfigDb, KM, "SERVER", &[("ip", "10.3.157.24")])
        .await;
    let out = sw.run(&["show", "kubernetes", "server", "config"]).await;
    assert_eq!(
        out.ok(),
        "ip           port    insecure    disable\n\
         -----------  ------  ----------  ---------\n\
         10.3.157.24  6443    false       false\n"
    );
    sw.run(&["config", "kubernetes", "server", "port", "7777"])
        .await
        .ok();
    sw.run(&["config", "kubernetes", "server", "insecure", "on"])
        .await
        .ok();
    let out = sw.run(&["show", "kubernetes", "server", "config"]).await;
    assert_eq!(
        out.ok(),
        "ip           port    insecure    disable\n\
         -----------  ------  ----------  ---------\n\
         10.3.157.24  7777    true        false\n"
    );
    let out = sw
        .run(&["show", "--json", "kubernetes", "server", "config"])
        .await;
    assert_eq!(
        json(out.ok()),
        serde_json::json!({"ip": "10.3.157.24", "port": "7777", "insecure": "true", "disable": "false"})
    );

    // 2020-11-13 00:49:05 UTC, upstream's test value.
    sw.set(
        DbName::StateDb,
        KM,
        "SERVER",
        &[("connected", "false"), ("last_update_ts", "1605228545")],
    )
    .await;
    let out = sw.run(&["show", "kubernetes", "server", "status"]).await;
    assert_eq!(
        out.ok(),
        "ip           port    connected    update-time\n\
         -----------  ------  -----------  -------------------\n\
         10.3.157.24  7777    false        2020-11-13 00:49:05\n"
    );
    let out = sw
        .run(&["show", "kubernetes", "server", "status", "-j"])
        .await;
    assert_eq!(
        json(out.ok()),
        serde_json::json!({"ip": "10.3.157.24", "port": "7777", "connected": "false", "update-time": "2020-11-13 00:49:05"})
    );
}

async fn features(sw: &Switch) {
    for (name, cfg) in [
        (
            "snmp",
            &[
                ("state", "enabled"),
                ("auto_restart", "enabled"),
                ("set_owner", "kube"),
                ("fallback_to_local", "false"),
            ][..],
        ),
        (
            "bgp",
            &[
                ("state", "enabled"),
                ("auto_restart", "enabled"),
                ("set_owner", "local"),
            ],
        ),
        (
            "database",
            &[
                ("state", "always_enabled"),
                ("auto_restart", "always_enabled"),
            ],
        ),
        (
            "lldp",
            &[
                ("state", "enabled"),
                ("auto_restart", "enabled"),
                ("set_owner", "kube"),
                ("no_fallback_to_local", "true"),
            ],
        ),
    ] {
        sw.set(DbName::ConfigDb, "FEATURE", name, cfg).await;
    }
    sw.set(
        DbName::StateDb,
        "FEATURE",
        "snmp",
        &[
            ("current_owner", "kube"),
            ("current_owner_update_ts", "1605228545"),
            ("docker_id", "aaaabbbbcccc0123456789"),
            ("transition_mode", "kube_running"),
            ("transition_mode_update_ts", "1605228545"),
        ],
    )
    .await;
    sw.set(
        DbName::StateDb,
        "FEATURE",
        "bgp",
        &[("current_owner", "local"), ("docker_id", "bgp")],
    )
    .await;
}

#[tokio::test]
async fn feature_config_and_status_tables() {
    let sw = Switch::new().await;
    features(&sw).await;
    let out = sw.run(&["show", "feature", "config"]).await;
    assert_eq!(
        out.ok(),
        "Feature    State           AutoRestart     Owner    fallback\n\
         ---------  --------------  --------------  -------  ----------\n\
         bgp        enabled         enabled         local\n\
         database   always_enabled  always_enabled  local\n\
         lldp       enabled         enabled         kube     false\n\
         snmp       enabled         enabled         kube     false\n"
    );
    let out = sw.run(&["show", "feature", "config", "bgp"]).await;
    assert_eq!(
        out.ok(),
        "Feature    State    AutoRestart    Owner\n\
         ---------  -------  -------------  -------\n\
         bgp        enabled  enabled        local\n"
    );
    let out = sw.run(&["show", "feature", "config", "lldp", "-j"]).await;
    assert_eq!(
        json(out.ok()),
        serde_json::json!({"lldp": {"state": "enabled", "auto_restart": "enabled", "set_owner": "kube", "fallback": "false"}})
    );

    let out = sw.run(&["show", "feature", "status"]).await;
    assert_eq!(
        out.ok(),
        "Feature    State           AutoRestart     UpdateTime           ContainerId    SetOwner    CurrentOwner    TransitionMode\n\
         ---------  --------------  --------------  -------------------  -------------  ----------  --------------  ----------------\n\
         bgp        enabled         enabled                              bgp            local       local\n\
         database   always_enabled  always_enabled\n\
         lldp       enabled         enabled                                             kube\n\
         snmp       enabled         enabled         2020-11-13 00:49:05  aaaabbbbcccc   kube        kube            kube_running\n"
    );
    let out = sw
        .run(&["show", "feature", "status", "snmp", "--json"])
        .await;
    assert_eq!(
        json(out.ok()),
        serde_json::json!({"snmp": {
            "state": "enabled", "auto_restart": "enabled", "update_time": "2020-11-13 00:49:05",
            "container_id": "aaaabbbbcccc", "set_owner": "kube", "current_owner": "kube",
            "transition_mode": "kube_running"
        }})
    );

    // Upstream's message on stdout and exit 1, for both tables.
    for what in ["config", "status"] {
        let out = sw.run(&["show", "feature", what, "foo"]).await;
        assert_eq!(out.code, Some(1), "{what}");
        assert_eq!(out.stdout, "Can not find feature foo\n", "{what}");
    }
}

#[tokio::test]
async fn labels_nodes_and_pods_ask_the_master() {
    let sw = Switch::new().await;
    sw.run(&[
        "config",
        "kubernetes",
        "label",
        "add",
        "teamd_enabled",
        "false",
    ])
    .await
    .ok();
    sw.run(&[
        "config",
        "kubernetes",
        "label",
        "add",
        "hwsku",
        "Force10-S6000",
    ])
    .await
    .ok();
    let out = sw.run(&["show", "kubernetes", "labels"]).await;
    assert_eq!(
        out.ok(),
        "name           value\n\
         -------------  -------------\n\
         hwsku          Force10-S6000\n\
         teamd_enabled  false\n"
    );
    assert_eq!(
        json(sw.run(&["show", "kubernetes", "labels", "-j"]).await.ok()),
        serde_json::json!({"hwsku": "Force10-S6000", "teamd_enabled": "false"})
    );

    sw.fixture.fake.add_node(
        "master-1",
        BTreeMap::from([(
            "node-role.kubernetes.io/control-plane".to_owned(),
            String::new(),
        )]),
    );
    let out = sw.run(&["show", "kubernetes", "nodes"]).await;
    assert_eq!(
        out.ok(),
        "name      status    roles          version    internal-ip\n\
         --------  --------  -------------  ---------  -------------\n\
         master-1  Ready     control-plane  v1.33.0    127.0.0.1\n\
         sonic-1   Ready     <none>         v1.33.0    127.0.0.1\n"
    );
    let nodes = json(sw.run(&["show", "kubernetes", "nodes", "-j"]).await.ok());
    assert_eq!(
        nodes,
        serde_json::json!([
            {"name": "master-1", "ready": true, "roles": ["control-plane"],
             "kubelet_version": "v1.33.0", "internal_ip": "127.0.0.1",
             "labels": {"node-role.kubernetes.io/control-plane": ""}},
            {"name": "sonic-1", "ready": true, "roles": [],
             "kubelet_version": "v1.33.0", "internal_ip": "127.0.0.1",
             "labels": {"hwsku": "Force10-S6000", "teamd_enabled": "false"}},
        ])
    );
    // snmp-x runs (its container has an id), lldp-y is still pending.
    let running = RunningPod::single("sonic", "snmp-x", "sonic-1", "main", "snmp:v2")
        .with_container_id("main", "0123456789ab");
    let pending = RunningPod::single("sonic", "lldp-y", "master-1", "main", "lldp:v1");
    for pod in [running, pending] {
        sw.fixture
            .fake
            .create_pod(&pod.to_pod())
            .expect("pod created");
    }
    let out = sw.run(&["show", "kubernetes", "pods"]).await;
    assert_eq!(
        out.ok(),
        "namespace    name    ready    status    restarts    node\n\
         -----------  ------  -------  --------  ----------  --------\n\
         sonic        lldp-y  0/1      Pending   0           master-1\n\
         sonic        snmp-x  1/1      Running   0           sonic-1\n"
    );
    let mut pods = json(sw.run(&["show", "kubernetes", "pods", "--json"]).await.ok());
    // The start time is the fake's clock: an RFC 3339 UTC time, taken out before comparing.
    for pod in pods.as_array_mut().expect("an array") {
        let start = pod
            .as_object_mut()
            .and_then(|p| p.remove("start_time"))
            .expect("start_time");
        let start = start.as_str().expect("a string");
        assert!(start.len() == 20 && start.ends_with('Z'), "{start}");
    }
    assert_eq!(
        pods,
        serde_json::json!([
            {"namespace": "sonic", "name": "lldp-y", "node": "master-1", "phase": "Pending",
             "ready_containers": 0, "containers": 1, "restarts": 0, "images": ["lldp:v1"]},
            {"namespace": "sonic", "name": "snmp-x", "node": "sonic-1", "phase": "Running",
             "ready_containers": 1, "containers": 1, "restarts": 0, "images": ["snmp:v2"]},
        ])
    );
}

/// The master refusing or hanging: `labels`, `nodes` and `pods` each print one line and exit
/// 1, the hanging master within the bound of api_timeout_secs.
#[tokio::test]
async fn the_master_down_or_hanging_is_one_line_and_exit_1() {
    let sw = Switch::new().await;
    // The master down: one line, exit 1, for each command that needs it.
    sw.fixture.fake.set_fault(Fault::Refuse);
    for what in ["labels", "nodes", "pods"] {
        let out = sw.run(&["show", "kubernetes", what]).await;
        out.error("the Kubernetes master cannot be reached");
        assert_eq!(out.stdout, "", "{what}");
    }
    // The master hangs: each request is bounded by api_timeout_secs (2 s here).
    sw.fixture.fake.set_fault(Fault::Hang);
    for what in ["nodes", "pods"] {
        let started = std::time::Instant::now();
        let out = sw.run(&["show", "kubernetes", what]).await;
        out.error("the Kubernetes master cannot be reached");
        assert_eq!(out.stdout, "", "{what}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(20),
            "{what} bounded by api_timeout_secs: {:?}",
            started.elapsed()
        );
    }
}

#[tokio::test]
async fn status_is_the_whole_picture() {
    let sw = Switch::new().await;
    features(&sw).await;
    sw.set(DbName::ConfigDb, KM, "SERVER", &[("ip", "10.3.157.24")])
        .await;
    sw.set(
        DbName::StateDb,
        KM,
        "SERVER",
        &[("connected", "true"), ("last_update_ts", "1605228545")],
    )
    .await;
    // lldp: a kube container waits for approval; fallback and failure detection on snmp.
    sw.set(
        DbName::StateDb,
        "FEATURE",
        "lldp",
        &[
            ("current_owner", "none"),
            ("transition_mode", "kube_pending"),
            ("transition_mode_update_ts", "1605228600"),
        ],
    )
    .await;
    sw.set(
        DbName::ConfigDb,
        "FEATURE",
        "radv",
        &[
            ("state", "enabled"),
            ("set_owner", "kube"),
            ("fallback_to_local", "true"),
            ("kube_failure_detection", "10"),
        ],
    )
    .await;
    sw.set(
        DbName::StateDb,
        "FEATURE",
        "radv",
        &[
            ("current_owner", "none"),
            ("transition_mode", "kube_ready"),
            ("transition_mode_update_ts", "1605228545"),
        ],
    )
    .await;
    sw.set(
        DbName::StateDb,
        "KUBE_SERVER",
        "PENDING_LABELS",
        &[("labels@", "a=1,b-")],
    )
    .await;
    let out = sw.run(&["show", "kubernetes", "status"]).await;
    assert_eq!(
        out.ok(),
        "ip           port    insecure    disable    connected    update-time          kubelet    pending-labels\n\
         -----------  ------  ----------  ---------  -----------  -------------------  ---------  ----------------\n\
         10.3.157.24  6443    false       false      true         2020-11-13 00:49:05  running    2\n\
         \n\
         Pending label operations (oldest first): a=1 b-\n\
         \n\
         Feature    SetOwner    Fallback    State         CurrentOwner    Container     WaitingForApprovalSince    FailureDeadline\n\
         ---------  ----------  ----------  ------------  --------------  ------------  -------------------------  -------------------\n\
         bgp        local       false       LOCAL         local           bgp\n\
         database   local       false       INIT          none\n\
         lldp       kube        false       KUBE_PENDING  none                          2020-11-13 00:50:00\n\
         radv       kube        true        KUBE_READY    none                                                     2020-11-13 00:59:05\n\
         snmp       kube        false       KUBE_RUNNING  kube            aaaabbbbcccc\n"
    );
    assert!(
        sw.systemctl_calls()
            .contains(&"is-active kubelet".to_owned())
    );
    let v = json(sw.run(&["show", "kubernetes", "status", "-j"]).await.ok());
    assert_eq!(v["kubelet"], "running");
    assert_eq!(v["pending_labels"], serde_json::json!(["a=1", "b-"]));
    assert_eq!(v["status"]["connected"], "true");
    assert_eq!(
        v["features"]["lldp"]["waiting_for_approval_since"],
        1_605_228_600
    );
    assert_eq!(
        v["features"]["radv"]["failure_deadline"],
        1_605_228_545 + 600
    );
    assert_eq!(v["features"]["snmp"]["state"], "KUBE_RUNNING");
}

#[tokio::test]
async fn status_says_kubelet_stopped_or_unknown() {
    let sw = Switch::new().await;
    for (state, want) in [
        ("inactive", "stopped"),
        ("failed", "stopped"),
        ("activating", "running"),
    ] {
        sw.set_unit_state("kubelet", state);
        let v = json(sw.run(&["show", "kubernetes", "status", "-j"]).await.ok());
        assert_eq!(v["kubelet"], want, "{state}");
    }
    // systemd cannot be asked: the rest is still shown, kubelet unknown, with a warning.
    sw.write_tunables(serde_json::json!({ "systemctl": "/nonexistent/systemctl" }));
    let text = sw
        .run(&["show", "kubernetes", "status"])
        .await
        .ok()
        .to_owned();
    let row: Vec<&str> = text
        .lines()
        .nth(2)
        .expect("server row")
        .split_whitespace()
        .collect();
    assert_eq!(row.get(row.len() - 2), Some(&"unknown"), "{text}");
    assert!(
        text.contains("warning: cannot ask systemd about kubelet"),
        "{text}"
    );
}
