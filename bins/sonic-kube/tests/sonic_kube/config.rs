//! `config kubernetes …` and `config feature …`: the DB effect of every command, and for every
//! invalid input one error line, exit 1 and nothing written.

use ctrmgr_core::LabelOp;
use ctrmgr_core::ports::StateStore as _;
use ctrmgr_dbclient::DbName;
use ctrmgr_tests::fakekube::Fault;

use super::{NODE, Switch};

const KM: &str = "KUBERNETES_MASTER";

#[tokio::test]
async fn server_commands_write_one_field_each() {
    let sw = Switch::new().await;
    for (args, field, value) in [
        (&["ip", "10.3.157.24"][..], "ip", "10.3.157.24"),
        (&["ip", "fd00::1"], "ip", "fd00::1"),
        (&["ip", "master.example.com"], "ip", "master.example.com"),
        (&["port", "7777"], "port", "7777"),
        (&["port", "1"], "port", "1"),
        (&["port", "65535"], "port", "65535"),
        (&["insecure", "on"], "insecure", "true"),
        (&["insecure", "off"], "insecure", "false"),
        (&["disable", "on"], "disable", "true"),
        (&["disable", "off"], "disable", "false"),
    ] {
        let before = sw.row(DbName::ConfigDb, KM, "SERVER").await;
        let mut full = vec!["config", "kubernetes", "server"];
        full.extend_from_slice(args);
        let out = sw.run(&full).await;
        // sonic-utilities' config commands print nothing on success.
        assert_eq!(out.ok(), "", "{args:?}");
        let mut want = before.clone();
        want.insert(field.to_owned(), value.to_owned());
        assert_eq!(
            sw.row(DbName::ConfigDb, KM, "SERVER").await,
            want,
            "{args:?}"
        );
    }
}

#[tokio::test]
async fn invalid_server_input_is_refused_and_nothing_is_written() {
    let sw = Switch::new().await;
    sw.set(DbName::ConfigDb, KM, "SERVER", &[("ip", "10.0.0.1")])
        .await;
    let before = sw.snapshot().await;
    for (args, what) in [
        (
            &["ip", "300.1.1.1"][..],
            "invalid server address \"300.1.1.1\"",
        ),
        (&["ip", "a b"], "invalid server address"),
        (&["ip", "10.0.0.2;reboot"], "invalid server address"),
        (&["ip", "$(reboot)"], "invalid server address"),
        (&["ip", ""], "invalid server address"),
        (&["port", "0"], "Invalid port value 0"),
        (&["port", "65536"], "Invalid port value 65536"),
        (&["port", "abc"], "Invalid port value abc"),
        (&["port", "--", "-1"], "Invalid port value -1"),
    ] {
        let mut full = vec!["config", "kubernetes", "server"];
        full.extend_from_slice(args);
        sw.run(&full).await.error(what);
    }
    // An on/off that is neither: a usage error (exit 2), nothing written.
    let out = sw
        .run(&["config", "kubernetes", "server", "insecure", "yes"])
        .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(sw.snapshot().await, before);
}

async fn with_feature(sw: &Switch, name: &str, fields: &[(&str, &str)]) {
    sw.set(DbName::ConfigDb, "FEATURE", name, fields).await;
}

#[tokio::test]
async fn feature_owner_writes_set_owner_then_stops_and_starts_the_service() {
    let sw = Switch::new().await;
    with_feature(&sw, "snmp", &[("state", "enabled"), ("set_owner", "local")]).await;
    let out = sw
        .run(&["config", "feature", "owner", "snmp", "kube"])
        .await;
    assert!(out.ok().contains("snmp: set_owner=kube"), "{}", out.stdout);
    let row = sw.row(DbName::ConfigDb, "FEATURE", "snmp").await;
    assert_eq!(row.get("set_owner").map(String::as_str), Some("kube"));
    assert_eq!(row.get("state").map(String::as_str), Some("enabled"));
    assert_eq!(
        sw.systemctl_calls(),
        ["is-active snmp", "stop snmp", "start snmp"]
    );

    sw.run(&["config", "feature", "owner", "snmp", "local"])
        .await
        .ok();
    let row = sw.row(DbName::ConfigDb, "FEATURE", "snmp").await;
    assert_eq!(row.get("set_owner").map(String::as_str), Some("local"));
    assert_eq!(
        sw.systemctl_calls(),
        [
            "is-active snmp",
            "stop snmp",
            "start snmp",
            "is-active snmp",
            "stop snmp",
            "start snmp"
        ]
    );
}

#[tokio::test]
async fn feature_owner_of_a_stopped_service_writes_set_owner_and_leaves_it_stopped() {
    let sw = Switch::new().await;
    with_feature(&sw, "snmp", &[("state", "enabled"), ("set_owner", "local")]).await;
    sw.set_unit_state("snmp", "inactive");
    let out = sw
        .run(&["config", "feature", "owner", "snmp", "kube"])
        .await;
    assert!(out.ok().contains("left stopped"), "{}", out.stdout);
    let row = sw.row(DbName::ConfigDb, "FEATURE", "snmp").await;
    assert_eq!(row.get("set_owner").map(String::as_str), Some("kube"));
    assert_eq!(sw.systemctl_calls(), ["is-active snmp"]);
}

#[tokio::test]
async fn feature_owner_of_a_failed_service_clears_the_failure_and_starts_it() {
    let sw = Switch::new().await;
    with_feature(&sw, "snmp", &[("state", "enabled"), ("set_owner", "local")]).await;
    // systemd gave up on it: still wanted (DESIGN invariant 6).
    sw.set_unit_state("snmp", "failed");
    sw.run(&["config", "feature", "owner", "snmp", "kube"])
        .await
        .ok();
    assert_eq!(
        sw.systemctl_calls(),
        [
            "is-active snmp",
            "stop snmp",
            "reset-failed snmp",
            "start snmp"
        ]
    );
}

#[tokio::test]
async fn feature_fallback_and_failure_detection_write_their_fields() {
    let sw = Switch::new().await;
    with_feature(&sw, "snmp", &[("state", "enabled")]).await;
    // Silent on success, as sonic-utilities' config commands.
    assert_eq!(
        sw.run(&["config", "feature", "fallback", "snmp", "on"])
            .await
            .ok(),
        ""
    );
    let row = sw.row(DbName::ConfigDb, "FEATURE", "snmp").await;
    assert_eq!(
        row.get("fallback_to_local").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        row.get("no_fallback_to_local").map(String::as_str),
        Some("false")
    );
    // Silent on success, as sonic-utilities' config commands.
    assert_eq!(
        sw.run(&["config", "feature", "fallback", "snmp", "off"])
            .await
            .ok(),
        ""
    );
    let row = sw.row(DbName::ConfigDb, "FEATURE", "snmp").await;
    assert_eq!(
        row.get("fallback_to_local").map(String::as_str),
        Some("false")
    );
    assert_eq!(
        row.get("no_fallback_to_local").map(String::as_str),
        Some("true")
    );
    assert_eq!(
        sw.run(&["config", "feature", "failure-detection", "snmp", "5"])
            .await
            .ok(),
        ""
    );
    let row = sw.row(DbName::ConfigDb, "FEATURE", "snmp").await;
    assert_eq!(
        row.get("kube_failure_detection").map(String::as_str),
        Some("5")
    );
    assert_eq!(
        sw.run(&["config", "feature", "failure-detection", "snmp", "0"])
            .await
            .ok(),
        ""
    );
    let row = sw.row(DbName::ConfigDb, "FEATURE", "snmp").await;
    assert_eq!(
        row.get("kube_failure_detection").map(String::as_str),
        Some("0")
    );
    assert!(
        sw.systemctl_calls().is_empty(),
        "only owner restarts the service"
    );
}

#[tokio::test]
async fn unknown_features_invalid_names_and_values_are_refused_and_nothing_is_written() {
    let sw = Switch::new().await;
    with_feature(&sw, "snmp", &[("state", "enabled")]).await;
    let before = sw.snapshot().await;
    for (args, what) in [
        (
            &["owner", "foo", "kube"][..],
            "Unable to retrieve foo from FEATURE table",
        ),
        (
            &["fallback", "foo", "on"],
            "Unable to retrieve foo from FEATURE table",
        ),
        (
            &["failure-detection", "foo", "3"],
            "Unable to retrieve foo from FEATURE table",
        ),
        (
            &["owner", "snmp|x", "kube"],
            "invalid feature name \"snmp|x\"",
        ),
        (&["owner", "../etc/passwd", "kube"], "invalid feature name"),
        (&["owner", "Snmp", "kube"], "invalid feature name"),
        (&["owner", "snmp;reboot", "kube"], "invalid feature name"),
        (&["fallback", "snmp x", "on"], "invalid feature name"),
        (
            &["failure-detection", "snmp", "-1"],
            "invalid minutes \"-1\"",
        ),
        (&["failure-detection", "snmp", "five"], "invalid minutes"),
        (
            &["failure-detection", "snmp", "4294967296"],
            "invalid minutes",
        ),
    ] {
        let mut full = vec!["config", "feature"];
        // `-1` must reach the command as a value, not an option.
        if args.last().is_some_and(|a| a.starts_with('-')) {
            full.extend_from_slice(&args[..args.len() - 1]);
            full.push("--");
            full.push(args[args.len() - 1]);
        } else {
            full.extend_from_slice(args);
        }
        sw.run(&full).await.error(what);
    }
    let out = sw
        .run(&["config", "feature", "owner", "snmp", "kubernetes"])
        .await;
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(sw.snapshot().await, before);
    assert!(sw.systemctl_calls().is_empty());
}

#[tokio::test]
async fn label_add_and_drop_go_to_the_node() {
    let sw = Switch::new().await;
    let out = sw
        .run(&[
            "config",
            "kubernetes",
            "label",
            "add",
            "hwsku",
            "Force10-S6000",
        ])
        .await;
    assert!(
        out.ok()
            .contains("hwsku=Force10-S6000: applied to node sonic-1"),
        "{}",
        out.stdout
    );
    let labels = sw.fixture.fake.node_labels(NODE).expect("node");
    assert_eq!(
        labels.get("hwsku").map(String::as_str),
        Some("Force10-S6000")
    );
    assert_eq!(
        sw.run(&["config", "kubernetes", "label", "drop", "hwsku"])
            .await
            .ok(),
        "hwsku-: applied to node sonic-1\n"
    );
    assert!(
        !sw.fixture
            .fake
            .node_labels(NODE)
            .expect("node")
            .contains_key("hwsku")
    );
    // Nothing pending: kubelet is made sure to run.
    assert_eq!(sw.systemctl_calls(), ["start kubelet", "start kubelet"]);
}

#[tokio::test]
async fn an_invalid_label_is_refused_and_nothing_is_queued() {
    let sw = Switch::new().await;
    let before = sw.snapshot().await;
    for args in [
        &["add", "bad key", "x"][..],
        &["add", "ok", "bad value!"],
        &["add", "a,b", "x"],
        &["drop", "-"],
        &["add", "k", &"v".repeat(64)],
    ] {
        let mut full = vec!["config", "kubernetes", "label"];
        if args.len() == 2 && args[1].starts_with('-') {
            full.extend_from_slice(&[args[0], "--", args[1]]);
        } else {
            full.extend_from_slice(args);
        }
        let out = sw.run(&full).await;
        out.error("label");
    }
    assert_eq!(sw.snapshot().await, before);
    assert!(sw.systemctl_calls().is_empty());
    assert_eq!(sw.fixture.fake.patch_count(NODE), 0);
}

#[tokio::test]
async fn labels_queued_while_the_master_is_down_are_drained_first_then_kubelet_runs() {
    let sw = Switch::new().await;
    sw.fixture.fake.set_fault(Fault::Refuse);
    let out = sw
        .run(&["config", "kubernetes", "label", "add", "a", "1"])
        .await;
    assert!(out.ok().contains("a=1: queued"), "{}", out.stdout);
    assert_eq!(sw.systemctl_calls(), ["stop kubelet"]);
    let pending: Vec<String> = sw
        .fixture
        .db
        .pending_labels()
        .await
        .expect("pending")
        .iter()
        .map(LabelOp::to_string)
        .collect();
    assert_eq!(pending, ["a=1"]);

    sw.fixture.fake.set_fault(Fault::None);
    let out = sw
        .run(&["config", "kubernetes", "label", "add", "b", "2"])
        .await;
    assert!(out.ok().contains("b=2: applied"), "{}", out.stdout);
    let labels = sw.fixture.fake.node_labels(NODE).expect("node");
    assert_eq!(labels.get("a").map(String::as_str), Some("1"));
    assert_eq!(labels.get("b").map(String::as_str), Some("2"));
    assert!(
        sw.fixture
            .db
            .pending_labels()
            .await
            .expect("pending")
            .is_empty()
    );
    let calls = sw.systemctl_calls();
    assert_eq!(calls.first().map(String::as_str), Some("stop kubelet"));
    assert_eq!(calls.last().map(String::as_str), Some("start kubelet"));
}
