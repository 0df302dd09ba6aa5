//! `KubeClient` against the fake API server of `ctrmgr-tests`, through a real kubeconfig and the
//! real kube-rs client over verified TLS.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use ctrmgr_core::LabelOp;
use ctrmgr_core::label::coalesce;
use ctrmgr_core::ports::LabelPatch;
use ctrmgr_core::ports::{ErrorKind, Labels, PortError};
use ctrmgr_kubeclient::{Error, KubeClient, KubeErrorKind, KubeOptions, PodScope};
use ctrmgr_tests::fakekube::{FakeKube, Fault, RunningPod};

const NODE: &str = "sonic-1";

/// A fake server with node `sonic-1`, its kubeconfig in a temp dir.
struct Setup {
    fake: FakeKube,
    dir: tempfile::TempDir,
}

impl Setup {
    async fn new(labels: &[(&str, &str)]) -> Self {
        let fake = FakeKube::start().await.expect("fake API server starts");
        fake.add_node(NODE, map(labels));
        let dir = tempfile::tempdir().expect("temp dir");
        fake.write_kubeconfig(&dir.path().join("kubeconfig"))
            .expect("kubeconfig written");
        Self { fake, dir }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    fn client(&self) -> KubeClient {
        self.client_for(NODE, Duration::from_secs(5))
    }

    fn client_for(&self, node: &str, timeout: Duration) -> KubeClient {
        KubeClient::new(
            KubeOptions {
                kubeconfig: self.kubeconfig(),
                timeout,
            },
            node,
        )
    }
}

fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn patch(ops: &[&str]) -> LabelPatch {
    let ops: Vec<LabelOp> = ops.iter().map(|s| s.parse().expect("valid op")).collect();
    coalesce(&ops)
}

#[tokio::test]
async fn a_patch_sets_and_removes_labels_on_the_node_in_one_merge_patch() {
    let s = Setup::new(&[("keep", "1"), ("lldp_enabled", "true")]).await;
    let kube = s.client();
    kube.patch_labels(&patch(&["snmp_enabled=true", "lldp_enabled-"]))
        .await
        .expect("patch succeeds");
    assert_eq!(
        s.fake.node_labels(NODE).expect("node exists"),
        map(&[("keep", "1"), ("snmp_enabled", "true")])
    );
    assert_eq!(s.fake.patch_count(NODE), 1);
    let req = s
        .fake
        .requests()
        .into_iter()
        .find(|r| r.method == "PATCH")
        .expect("a patch request");
    assert_eq!(
        req.content_type.as_deref(),
        Some("application/merge-patch+json")
    );
    assert_eq!(
        req.json().expect("json body"),
        serde_json::json!({"metadata": {"labels": {"snmp_enabled": "true", "lldp_enabled": null}}})
    );
}

#[tokio::test]
async fn node_labels_are_read_from_the_node() {
    let s = Setup::new(&[("a", "1"), ("sonic.net/hwsku", "x")]).await;
    let labels = s.client().labels().await.expect("read labels");
    assert_eq!(labels, map(&[("a", "1"), ("sonic.net/hwsku", "x")]));
}

#[tokio::test]
async fn the_server_version_is_probed() {
    let s = Setup::new(&[]).await;
    let v = s.client().server_version().await.expect("probe");
    assert!(v.git_version.starts_with("v1."), "{v:?}");
}

#[tokio::test]
async fn a_refusing_server_is_unreachable_and_a_transient_failure() {
    let s = Setup::new(&[]).await;
    s.fake.set_fault(Fault::Refuse);
    let e = s
        .client()
        .patch_labels(&patch(&["a=1"]))
        .await
        .expect_err("server down");
    assert_eq!(e.kube_kind(), KubeErrorKind::Unreachable, "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Transient);
    assert!(
        e.to_string().contains("patch labels of node sonic-1"),
        "{e}"
    );
    assert_eq!(s.fake.node_labels(NODE).expect("node"), map(&[]));
}

#[tokio::test]
async fn a_hanging_server_is_bounded_by_the_timeout() {
    let s = Setup::new(&[]).await;
    s.fake.set_fault(Fault::Hang);
    let kube = s.client_for(NODE, Duration::from_millis(500));
    // The test's own bound is far above the client's: if the client's bound did not take
    // effect, this would fail instead of hanging the suite.
    let e = tokio::time::timeout(Duration::from_secs(60), kube.patch_labels(&patch(&["a=1"])))
        .await
        .expect("the client's timeout ends the call")
        .expect_err("server hangs");
    assert_eq!(e.kube_kind(), KubeErrorKind::Timeout, "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Transient);
}

#[tokio::test]
async fn a_5xx_answer_is_a_server_error() {
    let s = Setup::new(&[]).await;
    s.fake.set_fault(Fault::ServerError(503));
    let e = s
        .client()
        .patch_labels(&patch(&["a=1"]))
        .await
        .expect_err("503");
    assert_eq!(e.kube_kind(), KubeErrorKind::ServerError, "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Transient);
    // No silent retries by the client: exactly one request reached the server.
    assert_eq!(s.fake.patch_count(NODE), 1);
}

#[tokio::test]
async fn a_wrong_token_is_unauthorized() {
    let s = Setup::new(&[]).await;
    let text = std::fs::read_to_string(s.kubeconfig()).expect("read kubeconfig");
    assert!(
        text.contains(s.fake.token()),
        "kubeconfig carries the token"
    );
    std::fs::write(
        s.kubeconfig(),
        text.replace(s.fake.token(), "not-the-token"),
    )
    .expect("rewrite kubeconfig");
    let e = s.client().labels().await.expect_err("bad token");
    assert_eq!(e.kube_kind(), KubeErrorKind::Unauthorized, "{e:?}");
    assert_eq!(e.kind(), ErrorKind::Permanent);
}

#[tokio::test]
async fn an_unknown_node_is_not_found() {
    let s = Setup::new(&[]).await;
    let e = s
        .client_for("no-such-node", Duration::from_secs(5))
        .labels()
        .await
        .expect_err("no node");
    assert_eq!(e.kube_kind(), KubeErrorKind::NotFound, "{e:?}");
    assert_eq!(e.kind(), ErrorKind::NotFound);
}

#[tokio::test]
async fn a_missing_kubeconfig_is_a_configuration_error_naming_the_file() {
    let kube = KubeClient::new(
        KubeOptions {
            kubeconfig: PathBuf::from("/nonexistent/kube_admin.conf"),
            timeout: Duration::from_secs(5),
        },
        NODE,
    );
    let e = kube.labels().await.expect_err("no kubeconfig");
    assert!(matches!(e, Error::Kubeconfig { .. }), "{e:?}");
    assert_eq!(e.kube_kind(), KubeErrorKind::Config);
    assert!(
        e.to_string().contains("/nonexistent/kube_admin.conf"),
        "{e}"
    );
}

#[tokio::test]
async fn tls_is_verified_against_the_kubeconfig_ca() {
    let s = Setup::new(&[]).await;
    let other = FakeKube::start().await.expect("second fake server");
    // Trust the other server's CA: our server's certificate must then be refused.
    let ours = s.fake.kubeconfig_yaml();
    let theirs = other.kubeconfig_yaml();
    let ca_line = |yaml: &str| {
        yaml.lines()
            .find(|l| l.trim_start().starts_with("certificate-authority-data:"))
            .expect("kubeconfig has certificate-authority-data")
            .to_owned()
    };
    let swapped = ours.replace(&ca_line(&ours), &ca_line(&theirs));
    assert_ne!(swapped, ours);
    std::fs::write(s.kubeconfig(), swapped).expect("rewrite kubeconfig");
    let e = s
        .client()
        .patch_labels(&patch(&["a=1"]))
        .await
        .expect_err("untrusted certificate");
    assert_eq!(e.kube_kind(), KubeErrorKind::Unreachable, "{e:?}");
    assert_eq!(s.fake.node_labels(NODE).expect("node"), map(&[]));
    assert_eq!(s.fake.patch_count(NODE), 0, "no request got through");
}

#[tokio::test]
async fn the_client_works_again_once_the_server_is_back() {
    let s = Setup::new(&[]).await;
    let kube = s.client();
    kube.labels().await.expect("works at first");
    s.fake.set_fault(Fault::Refuse);
    kube.patch_labels(&patch(&["a=1"]))
        .await
        .expect_err("server down");
    s.fake.set_fault(Fault::None);
    kube.patch_labels(&patch(&["a=2"]))
        .await
        .expect("server back");
    assert_eq!(s.fake.node_labels(NODE).expect("node"), map(&[("a", "2")]));
}

#[tokio::test]
async fn a_kubeconfig_replaced_after_a_failure_is_read_again() {
    let s = Setup::new(&[]).await;
    let kube = s.client();
    std::fs::write(s.kubeconfig(), "not: [a kubeconfig").expect("break kubeconfig");
    kube.labels().await.expect_err("broken kubeconfig");
    s.fake
        .write_kubeconfig(&s.kubeconfig())
        .expect("kubeconfig restored, as a join would");
    kube.patch_labels(&patch(&["joined=yes"]))
        .await
        .expect("the new kubeconfig is used");
    assert_eq!(
        s.fake.node_labels(NODE).expect("node"),
        map(&[("joined", "yes")])
    );
}

#[tokio::test]
async fn nodes_are_listed_with_readiness_and_labels() {
    let s = Setup::new(&[("a", "1")]).await;
    s.fake.add_node(
        "other",
        map(&[("node-role.kubernetes.io/control-plane", "")]),
    );
    let nodes = s.client().nodes().await.expect("list nodes");
    let names: Vec<&str> = nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(names, ["other", NODE]);
    assert_eq!(nodes[0].roles, ["control-plane"]);
    assert_eq!(nodes[1].labels, map(&[("a", "1")]));
    assert_eq!(nodes[1].ready, Some(true));
}

#[tokio::test]
async fn pods_of_this_node_are_listed_without_those_of_other_nodes() {
    let s = Setup::new(&[]).await;
    s.fake.add_node("other", map(&[]));
    for (name, node) in [("snmp-x", NODE), ("lldp-y", NODE), ("snmp-z", "other")] {
        s.fake
            .create_pod(&RunningPod::single("sonic", name, node, "main", "snmp:v2").to_pod())
            .expect("pod created");
    }
    let kube = s.client();
    let mine = kube.pods(PodScope::ThisNode).await.expect("list pods");
    let names: Vec<&str> = mine.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["lldp-y", "snmp-x"]);
    assert!(mine.iter().all(|p| p.node.as_deref() == Some(NODE)));
    let all = kube.pods(PodScope::AllNodes).await.expect("list pods");
    assert_eq!(all.len(), 3);
}
