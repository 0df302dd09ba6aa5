//! The fake Kubernetes API server, driven by the real kube-rs client through real kubeconfigs.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine as _;
use ctrmgr_tests::fakekube::{FakeKube, Fault, RunningPod, daemonset_manifest};
use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};
use serde_json::json;

/// Bounds a test that would otherwise hang forever; never an expectation of how fast things are.
const BOUND: Duration = Duration::from_secs(30);

/// A short client-side timeout, for the tests of a hung server.
const CLIENT_TIMEOUT: Duration = Duration::from_millis(500);

async fn start() -> FakeKube {
    FakeKube::start().await.expect("fake API server starts")
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// The client configuration from the kubeconfig file the fake writes, read back as production
/// code reads `/etc/sonic/kube_admin.conf`.
async fn config_for(fake: &FakeKube) -> Config {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("kube_admin.conf");
    fake.write_kubeconfig(&path).expect("kubeconfig written");
    let kubeconfig = Kubeconfig::read_from(&path).expect("kubeconfig file parses");
    config_from(kubeconfig).await
}

async fn config_from(kubeconfig: Kubeconfig) -> Config {
    Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .expect("kubeconfig makes a client configuration")
}

fn client(config: Config) -> Client {
    Client::try_from(config).expect("client builds")
}

async fn client_for(fake: &FakeKube) -> Client {
    client(config_for(fake).await)
}

/// The kubeconfig YAML of `fake` with its user's token line rewritten by `edit`.
fn kubeconfig_with_user(fake: &FakeKube, user: &str) -> Kubeconfig {
    let yaml = fake.kubeconfig_yaml();
    let token_line = format!("  user:\n    token: {}\n", fake.token());
    assert!(yaml.contains(&token_line), "kubeconfig has the token line");
    Kubeconfig::from_yaml(&yaml.replace(&token_line, user)).expect("edited kubeconfig parses")
}

/// The HTTP status of an API error, `None` for any other error (connection, TLS, timeout).
fn api_code(error: &kube::Error) -> Option<u16> {
    match error {
        kube::Error::Api(status) => Some(status.code),
        _ => None,
    }
}

fn api_reason(error: &kube::Error) -> Option<&str> {
    match error {
        kube::Error::Api(status) => Some(status.reason.as_str()),
        _ => None,
    }
}

/// Whether a client-side timeout caused the error: an `io::Error` of kind `TimedOut` somewhere
/// in its source chain.
fn is_timeout(error: &kube::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = cause {
        if current
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
        {
            return true;
        }
        cause = current.source();
    }
    false
}

fn get(path: &str) -> http::Request<Vec<u8>> {
    http::Request::get(path)
        .body(Vec::new())
        .expect("a GET request builds")
}

async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, future)
        .await
        .unwrap_or_else(|_| panic!("{what} did not finish within {BOUND:?}"))
}

#[tokio::test]
async fn apiserver_version_is_served_over_tls_verified_against_the_generated_ca() {
    let fake = start().await;
    let client = client_for(&fake).await;

    let info = bounded("version", client.apiserver_version())
        .await
        .expect("version");

    assert_eq!(info.git_version, "v1.33.0");
    assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "33"));
    let recorded = fake.requests();
    assert_eq!(recorded.len(), 1);
    assert_eq!(
        (recorded[0].method.as_str(), recorded[0].path.as_str()),
        ("GET", "/version")
    );
}

#[tokio::test]
async fn readyz_and_livez_answer_ok() {
    let fake = start().await;
    let client = client_for(&fake).await;

    for path in ["/readyz", "/livez"] {
        let text = bounded(path, client.request_text(get(path)))
            .await
            .expect("health endpoint answers");
        assert_eq!(text, "ok", "{path}");
    }
}

#[tokio::test]
async fn node_labels_follow_merge_patches_that_add_change_and_remove_with_null() {
    let fake = start().await;
    let nodes: Api<Node> = Api::all(client_for(&fake).await);
    let node: Node = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "switch1", "labels": {"kubernetes.io/hostname": "switch1"}}
    }))
    .expect("node manifest");
    let created = bounded("create", nodes.create(&PostParams::default(), &node))
        .await
        .expect("node created");
    assert!(created.metadata.uid.is_some());
    assert!(created.metadata.creation_timestamp.is_some());

    let params = PatchParams::default();
    let add = json!({"metadata": {"labels": {"snmp_enabled": "true", "lldp_enabled": "true"}}});
    bounded("add", nodes.patch("switch1", &params, &Patch::Merge(&add)))
        .await
        .expect("labels added");
    let change = json!({"metadata": {"labels": {"snmp_enabled": "false", "lldp_enabled": null}}});
    let patched = bounded(
        "change",
        nodes.patch("switch1", &params, &Patch::Merge(&change)),
    )
    .await
    .expect("labels changed and removed");

    let expected = labels(&[
        ("kubernetes.io/hostname", "switch1"),
        ("snmp_enabled", "false"),
    ]);
    assert_eq!(patched.metadata.labels.as_ref(), Some(&expected));
    let read_back = bounded("get", nodes.get("switch1")).await.expect("get");
    assert_eq!(read_back.metadata.labels.as_ref(), Some(&expected));
    assert_eq!(fake.node_labels("switch1"), Some(expected));
    assert_eq!(fake.patch_count("switch1"), 2);
    let patch = fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .expect("a patch was recorded");
    assert_eq!(
        patch.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(patch.json(), Some(add));
}

#[tokio::test]
async fn every_change_gets_a_higher_resource_version_and_lists_carry_the_latest() {
    let fake = start().await;
    let nodes: Api<Node> = Api::all(client_for(&fake).await);
    let first = fake.add_node("switch1", labels(&[("a", "1")]));
    let patched = bounded(
        "patch",
        nodes.patch(
            "switch1",
            &PatchParams::default(),
            &Patch::Merge(json!({"metadata": {"labels": {"a": "2"}}})),
        ),
    )
    .await
    .expect("patch");

    let version = |node: &Node| {
        node.metadata
            .resource_version
            .as_deref()
            .and_then(|v| v.parse::<u64>().ok())
            .expect("numeric resourceVersion")
    };
    assert!(version(&patched) > version(&first));
    let list = bounded("list", nodes.list(&ListParams::default()))
        .await
        .expect("list");
    assert_eq!(
        list.metadata.resource_version,
        Some(version(&patched).to_string())
    );
    assert_eq!(list.items.len(), 1);
}

#[tokio::test]
async fn a_stale_resource_version_on_replace_is_a_409_conflict() {
    let fake = start().await;
    let nodes: Api<Node> = Api::all(client_for(&fake).await);
    let mut stale = fake.add_node("switch1", BTreeMap::new());
    fake.add_node("switch1", labels(&[("changed", "meanwhile")]));

    stale.metadata.labels = Some(labels(&[("mine", "x")]));
    let error = bounded(
        "replace",
        nodes.replace("switch1", &PostParams::default(), &stale),
    )
    .await
    .expect_err("stale write refused");

    assert_eq!(api_code(&error), Some(409));
    assert_eq!(
        fake.node_labels("switch1"),
        Some(labels(&[("changed", "meanwhile")]))
    );
}

#[tokio::test]
async fn an_invalid_label_is_a_422_and_changes_nothing() {
    let fake = start().await;
    let nodes: Api<Node> = Api::all(client_for(&fake).await);
    fake.add_node("switch1", labels(&[("a", "1")]));

    let bad = json!({"metadata": {"labels": {"a": "2", "bad key": "x"}}});
    let error = bounded(
        "patch",
        nodes.patch("switch1", &PatchParams::default(), &Patch::Merge(&bad)),
    )
    .await
    .expect_err("invalid label refused");

    assert_eq!(api_code(&error), Some(422));
    assert_eq!(api_reason(&error), Some("Invalid"));
    assert_eq!(fake.node_labels("switch1"), Some(labels(&[("a", "1")])));
}

#[tokio::test]
async fn a_missing_node_is_an_api_error_404_not_found() {
    let fake = start().await;
    let nodes: Api<Node> = Api::all(client_for(&fake).await);

    let error = bounded("get", nodes.get("no-such-node"))
        .await
        .expect_err("missing node");
    assert_eq!(api_code(&error), Some(404));
    assert_eq!(api_reason(&error), Some("NotFound"));

    let patch = json!({"metadata": {"labels": {"a": "1"}}});
    let error = bounded(
        "patch",
        nodes.patch(
            "no-such-node",
            &PatchParams::default(),
            &Patch::Merge(&patch),
        ),
    )
    .await
    .expect_err("patching a missing node");
    assert_eq!(api_code(&error), Some(404));
}

#[tokio::test]
async fn an_unknown_path_is_a_404_status() {
    let fake = start().await;
    let client = client_for(&fake).await;

    let error = bounded(
        "get",
        client.request_text(get("/apis/example.com/v1/widgets")),
    )
    .await
    .expect_err("unknown path");

    assert_eq!(api_code(&error), Some(404));
    assert_eq!(api_reason(&error), Some("NotFound"));
}

#[tokio::test]
async fn server_side_apply_is_refused_with_415() {
    let fake = start().await;
    let nodes: Api<Node> = Api::all(client_for(&fake).await);
    fake.add_node("switch1", BTreeMap::new());

    let apply = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "switch1", "labels": {"a": "1"}}});
    let error = bounded(
        "apply",
        nodes.patch(
            "switch1",
            &PatchParams::apply("ctrmgr-test"),
            &Patch::Apply(&apply),
        ),
    )
    .await
    .expect_err("apply refused");

    assert_eq!(api_code(&error), Some(415));
    assert_eq!(fake.node_labels("switch1"), Some(BTreeMap::new()));
}

mod faults;
mod workloads;
