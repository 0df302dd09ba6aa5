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

#[tokio::test]
async fn a_refusing_server_fails_fast_with_a_connection_error_and_recovers() {
    let fake = start().await;
    let client = client_for(&fake).await;
    // A first request leaves a pooled keep-alive connection, which the fault must cut too.
    bounded("version", client.apiserver_version())
        .await
        .expect("server up");

    fake.set_fault(Fault::Refuse);
    let on_pooled = bounded("version", client.apiserver_version())
        .await
        .expect_err("refused on the pooled connection");
    let fresh_client = client_for(&fake).await;
    let on_fresh = bounded("version", fresh_client.apiserver_version())
        .await
        .expect_err("refused on a new connection");

    assert_eq!(api_code(&on_pooled), None, "{on_pooled}");
    assert_eq!(api_code(&on_fresh), None, "{on_fresh}");
    fake.set_fault(Fault::None);
    let info = bounded("version", client.apiserver_version())
        .await
        .expect("server back");
    assert_eq!(info.git_version, "v1.33.0");
}

#[tokio::test]
async fn a_hanging_server_trips_the_connect_timeout_of_a_new_connection() {
    let fake = start().await;
    fake.set_fault(Fault::Hang);
    let mut config = config_for(&fake).await;
    config.connect_timeout = Some(CLIENT_TIMEOUT);
    let client = client(config);

    let error = bounded("version", client.apiserver_version())
        .await
        .expect_err("the client gives up");

    assert_eq!(api_code(&error), None, "{error}");
    assert!(is_timeout(&error), "a timeout error, got {error:?}");
}

#[tokio::test]
async fn a_hanging_server_trips_the_read_timeout_on_a_pooled_connection() {
    let fake = start().await;
    let mut config = config_for(&fake).await;
    config.read_timeout = Some(CLIENT_TIMEOUT);
    let client = client(config);
    bounded("version", client.apiserver_version())
        .await
        .expect("server up");

    fake.set_fault(Fault::Hang);
    let error = bounded("version", client.apiserver_version())
        .await
        .expect_err("the client gives up");

    assert_eq!(api_code(&error), None, "{error}");
    assert!(is_timeout(&error), "a timeout error, got {error:?}");
    assert_eq!(
        fake.requests().len(),
        2,
        "the hung request reached the server"
    );
}

#[tokio::test]
async fn a_server_error_fault_is_an_api_error_with_that_code() {
    let fake = start().await;
    // kube-rs retries 429/503/504 by default (up to 15 times, backing off to minutes);
    // switched off, the first answer is the result.
    let mut config = config_for(&fake).await;
    config.default_retry = false;
    let nodes: Api<Node> = Api::all(client(config));
    fake.add_node("switch1", BTreeMap::new());

    fake.set_fault(Fault::ServerError(503));
    let error = bounded("get", nodes.get("switch1")).await.expect_err("503");
    assert_eq!(api_code(&error), Some(503));
    assert_eq!(api_reason(&error), Some("ServiceUnavailable"));

    fake.set_fault(Fault::ServerError(500));
    let error = bounded("get", nodes.get("switch1")).await.expect_err("500");
    assert_eq!(api_code(&error), Some(500));

    fake.set_fault(Fault::None);
    bounded("get", nodes.get("switch1"))
        .await
        .expect("server healthy again");
}

#[tokio::test]
async fn a_slow_server_still_answers_correctly() {
    let fake = start().await;
    let nodes: Api<Node> = Api::all(client_for(&fake).await);
    fake.add_node("switch1", labels(&[("a", "1")]));

    fake.set_fault(Fault::Slow(Duration::from_millis(200)));
    let node = bounded("get", nodes.get("switch1"))
        .await
        .expect("slow get");

    assert_eq!(node.metadata.labels, Some(labels(&[("a", "1")])));
}

#[tokio::test]
async fn a_request_without_the_token_or_with_a_wrong_one_gets_401() {
    let fake = start().await;
    fake.add_node("switch1", BTreeMap::new());
    let anonymous = client(config_from(kubeconfig_with_user(&fake, "  user: {}\n")).await);
    let impostor = client(
        config_from(kubeconfig_with_user(
            &fake,
            "  user:\n    token: not-the-token\n",
        ))
        .await,
    );

    for (who, client) in [("anonymous", &anonymous), ("impostor", &impostor)] {
        let nodes: Api<Node> = Api::all(client.clone());
        let error = bounded("list", nodes.list(&ListParams::default()))
            .await
            .expect_err("unauthorized");
        assert_eq!(api_code(&error), Some(401), "{who}");
        assert_eq!(api_reason(&error), Some("Unauthorized"), "{who}");
    }
    // As on a kubeadm cluster, anonymous clients may read the version; a wrong token may not.
    bounded("version", anonymous.apiserver_version())
        .await
        .expect("public version");
    let error = bounded("version", impostor.apiserver_version())
        .await
        .expect_err("bad credentials are refused everywhere");
    assert_eq!(api_code(&error), Some(401));
}

#[tokio::test]
async fn a_client_trusting_another_ca_fails_the_tls_handshake() {
    let fake = start().await;
    let other = start().await;
    let yaml = other.kubeconfig_yaml().replace(&other.url(), &fake.url());
    let kubeconfig = Kubeconfig::from_yaml(&yaml).expect("kubeconfig parses");
    let client = client(config_from(kubeconfig).await);

    let error = bounded("version", client.apiserver_version())
        .await
        .expect_err("certificate not trusted");

    assert_eq!(api_code(&error), None, "{error}");
    assert!(
        fake.requests().is_empty(),
        "nothing got past TLS: {:?}",
        fake.requests()
    );
}

#[tokio::test]
async fn pods_are_listed_by_node_field_selector_across_and_within_namespaces() {
    let fake = start().await;
    let client = client_for(&fake).await;
    for (namespace, name, node) in [
        ("default", "snmp-a1b2c", "switch1"),
        ("kube-system", "kube-proxy-x9y8z", "switch1"),
        ("default", "snmp-d3e4f", "switch2"),
    ] {
        let pod = RunningPod::single(namespace, name, node, "main", "busybox:1")
            .with_container_id("main", &format!("{name}-id"));
        fake.create_pod(&pod.to_pod()).expect("pod created");
    }
    let on_switch1 = ListParams::default().fields("spec.nodeName=switch1");

    let all: Api<Pod> = Api::all(client.clone());
    let listed = bounded("list all", all.list(&on_switch1))
        .await
        .expect("list all");
    let mut names: Vec<String> = listed
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["kube-proxy-x9y8z", "snmp-a1b2c"]);

    let default: Api<Pod> = Api::namespaced(client, "default");
    let listed = bounded("list default", default.list(&on_switch1))
        .await
        .expect("list namespaced");
    assert_eq!(listed.items.len(), 1);
    let pod = &listed.items[0];
    let status = pod.status.as_ref().expect("pod status");
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let container = &status.container_statuses.as_ref().expect("statuses")[0];
    assert_eq!(
        container.container_id.as_deref(),
        Some("docker://snmp-a1b2c-id")
    );

    assert!(fake.delete_pod("default", "snmp-a1b2c"));
    let listed = bounded("list default", default.list(&on_switch1))
        .await
        .expect("list after delete");
    assert!(listed.items.is_empty());
}

#[tokio::test]
async fn an_unsupported_field_selector_is_a_400() {
    let fake = start().await;
    let pods: Api<Pod> = Api::all(client_for(&fake).await);

    let error = bounded(
        "list",
        pods.list(&ListParams::default().fields("spec.schedulerName=x")),
    )
    .await
    .expect_err("unsupported field");

    assert_eq!(api_code(&error), Some(400));
}

#[tokio::test]
async fn daemonsets_are_created_updated_listed_and_deleted_through_the_api() {
    let fake = start().await;
    let client = client_for(&fake).await;
    let sonic: Api<DaemonSet> = Api::namespaced(client.clone(), "sonic");
    let selector = labels(&[("snmp_enabled", "true")]);

    let created = bounded(
        "create",
        sonic.create(
            &PostParams::default(),
            &daemonset_manifest("sonic", "snmp", "snmp:1", selector.clone()),
        ),
    )
    .await
    .expect("created");
    assert_eq!(created.metadata.generation, Some(1));

    // `kubectl set image` style: a strategic merge patch of one container.
    let set_image = json!({"spec": {"template": {"spec": {"containers": [{"name": "snmp", "image": "snmp:2"}]}}}});
    bounded(
        "patch",
        sonic.patch(
            "snmp",
            &PatchParams::default(),
            &Patch::Strategic(&set_image),
        ),
    )
    .await
    .expect("image patched");
    let stored = fake.daemonset("sonic", "snmp").expect("stored");
    assert_eq!(image_of(&stored), Some("snmp:2"));
    assert_eq!(stored.metadata.generation, Some(2));
    assert_eq!(node_selector_of(&stored), Some(&selector));

    // A PUT of the whole object.
    let mut whole = bounded("get", sonic.get("snmp")).await.expect("get");
    set_image_of(&mut whole, "snmp:3");
    bounded(
        "replace",
        sonic.replace("snmp", &PostParams::default(), &whole),
    )
    .await
    .expect("replaced");
    assert_eq!(
        image_of(&fake.daemonset("sonic", "snmp").expect("stored")),
        Some("snmp:3")
    );

    // The handle's manifest update is visible to clients.
    fake.set_daemonset_image("sonic", "snmp", "snmp:4")
        .expect("handle update");
    let read = bounded("get", sonic.get("snmp")).await.expect("get");
    assert_eq!(image_of(&read), Some("snmp:4"));
    assert_eq!(read.metadata.generation, Some(4));

    let all: Api<DaemonSet> = Api::all(client.clone());
    let listed = bounded("list", all.list(&ListParams::default()))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    let elsewhere: Api<DaemonSet> = Api::namespaced(client, "default");
    let listed = bounded("list", elsewhere.list(&ListParams::default()))
        .await
        .expect("list");
    assert!(listed.items.is_empty());

    bounded("delete", sonic.delete("snmp", &DeleteParams::default()))
        .await
        .expect("deleted");
    assert!(fake.daemonsets().is_empty());
    let error = bounded("get", sonic.get("snmp")).await.expect_err("gone");
    assert_eq!(api_code(&error), Some(404));
}

fn image_of(daemonset: &DaemonSet) -> Option<&str> {
    daemonset
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .first()?
        .image
        .as_deref()
}

fn node_selector_of(daemonset: &DaemonSet) -> Option<&BTreeMap<String, String>> {
    daemonset
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .node_selector
        .as_ref()
}

fn set_image_of(daemonset: &mut DaemonSet, image: &str) {
    let containers = &mut daemonset
        .spec
        .as_mut()
        .expect("spec")
        .template
        .spec
        .as_mut()
        .expect("pod spec")
        .containers;
    containers[0].image = Some(image.to_owned());
}

#[tokio::test]
async fn admin_conf_is_a_kubeconfig_for_this_server_that_works() {
    let fake = start().await;
    fake.add_node("switch1", labels(&[("a", "1")]));
    // A joining node has no credentials yet: it fetches admin.conf anonymously, over TLS
    // verified against the master's CA.
    let anonymous = client(config_from(kubeconfig_with_user(&fake, "  user: {}\n")).await);

    let text = bounded("admin.conf", anonymous.request_text(get("/admin.conf")))
        .await
        .expect("admin.conf served");

    let kubeconfig = Kubeconfig::from_yaml(&text).expect("admin.conf is a kubeconfig");
    let cluster = kubeconfig.clusters[0]
        .cluster
        .as_ref()
        .expect("cluster entry");
    assert_eq!(cluster.server.as_deref(), Some(fake.url().as_str()));
    let ca = base64::engine::general_purpose::STANDARD
        .decode(
            cluster
                .certificate_authority_data
                .as_deref()
                .expect("CA data"),
        )
        .expect("CA data is base64");
    assert_eq!(String::from_utf8(ca).expect("PEM"), fake.ca_pem());
    let joined: Api<Node> = Api::all(client(config_from(kubeconfig).await));
    let node = bounded("get", joined.get("switch1"))
        .await
        .expect("the admin.conf credentials work");
    assert_eq!(node.metadata.labels, Some(labels(&[("a", "1")])));
}

#[tokio::test]
async fn subscribers_are_told_of_changes_through_the_api_and_the_handle() {
    let fake = start().await;
    let nodes: Api<Node> = Api::all(client_for(&fake).await);
    let mut changes = fake.subscribe();
    fake.add_node("switch1", BTreeMap::new());
    bounded("first change", changes.changed())
        .await
        .expect("notified");
    let after_add = *changes.borrow_and_update();

    let patch = json!({"metadata": {"labels": {"snmp_enabled": "true"}}});
    bounded(
        "patch",
        nodes.patch("switch1", &PatchParams::default(), &Patch::Merge(&patch)),
    )
    .await
    .expect("patched");
    bounded("second change", changes.changed())
        .await
        .expect("notified");
    let after_patch = *changes.borrow_and_update();

    assert!(after_patch > after_add);
    assert_eq!(after_patch, fake.generation());
    assert!(fake.remove_node("switch1"));
    bounded("third change", changes.changed())
        .await
        .expect("notified of the deletion");
}
