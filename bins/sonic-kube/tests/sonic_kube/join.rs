//! `config kubernetes join [-f] | reset` through the daemons' join/reset engine, against the
//! fake API server's `/admin.conf` over real TLS, with a recording `kubeadm` and `systemctl`.

use std::os::unix::fs::PermissionsExt as _;
use std::path::PathBuf;

use ctrmgr_core::ports::StateStore as _;
use ctrmgr_core::{LabelOp, ServerConfig};
use ctrmgr_tests::fakekube::Fault;
use ctrmgr_tests::sim::RecordingKubeadm;

use super::{NODE, Out, Switch};

/// A switch whose tunables point a join at the fake master: a recording kubeadm, the
/// kubeconfig in `<dir>/etc/`, admin.conf at the fake API's port.
pub(super) struct Joinable {
    pub(super) sw: Switch,
    kubeadm: RecordingKubeadm,
    pub(super) kubeconfig: PathBuf,
}

impl Joinable {
    pub(super) async fn new() -> Self {
        let sw = Switch::new().await;
        let kubeadm = RecordingKubeadm::create(sw.fixture.dir.path());
        let etc = sw.fixture.dir.path().join("etc");
        std::fs::create_dir(&etc).expect("etc dir");
        let kubeconfig = etc.join("kube_admin.conf");
        std::fs::write(
            sw.fixture.dir.path().join("sonic_version.yml"),
            "build_version: 'master.1-abc'\n",
        )
        .expect("version file");
        let j = Self {
            sw,
            kubeadm,
            kubeconfig,
        };
        j.tunables(serde_json::json!({}));
        j
    }

    fn tunables(&self, extra: serde_json::Value) {
        let port = self.sw.fixture.fake.addr().port();
        let mut t = serde_json::json!({
            "kubeadm": self.kubeadm.path(),
            "kubeconfig": self.kubeconfig,
            "admin_conf_url": format!("https://{{ip}}:{port}/admin.conf"),
            "kubeadm_timeout_secs": 10,
            "sonic_version_file": self.sw.fixture.dir.path().join("sonic_version.yml"),
        });
        if let (Some(t), serde_json::Value::Object(extra)) = (t.as_object_mut(), extra) {
            t.extend(extra);
        }
        self.sw.write_tunables(t);
    }

    pub(super) async fn server(&self, ip: Option<&str>, insecure: bool, disable: bool) {
        self.sw
            .fixture
            .db
            .set_server_config(&ServerConfig {
                ip: ip.map(str::to_owned),
                insecure,
                disable,
                ..ServerConfig::default()
            })
            .await
            .expect("write KUBERNETES_MASTER|SERVER");
    }

    async fn connected(&self) -> bool {
        self.sw
            .fixture
            .db
            .server_status()
            .await
            .expect("status")
            .connected
    }

    /// The files in the kubeconfig's directory: the kubeconfig, and never a temporary file.
    pub(super) fn etc_files(&self) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(self.kubeconfig.parent().expect("etc"))
            .expect("list etc")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    async fn run(&self, args: &[&str]) -> Out {
        self.sw.run(args).await
    }

    fn discovery(&self) -> String {
        format!(
            "join --discovery-file {} --node-name {NODE}",
            self.kubeconfig.display()
        )
    }
}

/// A failed join: one line, exit 1, no kubeconfig, no temp file, not connected, no
/// `kubeadm join`.
async fn assert_failed_cleanly(j: &Joinable, out: &Out, what: &str) {
    out.error(what);
    assert!(j.etc_files().is_empty(), "{:?}", j.etc_files());
    assert!(!j.connected().await);
    assert!(
        !j.kubeadm.calls().iter().any(|c| c.starts_with("join")),
        "{:?}",
        j.kubeadm.calls()
    );
}

#[tokio::test]
async fn join_with_insecure_on_writes_the_kubeconfig_runs_kubeadm_and_says_connected() {
    let j = Joinable::new().await;
    j.server(Some("127.0.0.1"), true, false).await;
    let out = j.run(&["config", "kubernetes", "join"]).await;
    assert!(
        out.ok()
            .contains("joined the Kubernetes master 127.0.0.1; node labels applied"),
        "{}",
        out.stdout
    );
    let written = std::fs::read_to_string(&j.kubeconfig).expect("kubeconfig");
    assert_eq!(written, j.sw.fixture.fake.kubeconfig_yaml());
    let mode = std::fs::metadata(&j.kubeconfig)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(j.etc_files(), ["kube_admin.conf"], "no temp file");
    assert_eq!(j.kubeadm.calls(), ["reset -f".to_owned(), j.discovery()]);
    assert!(j.sw.systemctl_calls().contains(&"start kubelet".to_owned()));
    assert!(j.connected().await);
    let labels = j.sw.fixture.fake.node_labels(NODE).expect("node");
    assert_eq!(
        labels.get("sonic_version").map(String::as_str),
        Some("master.1-abc")
    );

    // Connected: refused without -f (one line, exit 1, nothing run), joined again with -f.
    j.run(&["config", "kubernetes", "join"])
        .await
        .error("already connected");
    assert_eq!(j.kubeadm.calls().len(), 2);
    j.run(&["config", "kubernetes", "join", "-f"]).await.ok();
    assert_eq!(j.kubeadm.calls().len(), 4);
    assert_eq!(j.etc_files(), ["kube_admin.conf"]);
}

#[tokio::test]
async fn join_verifies_the_master_with_the_ca_file() {
    let j = Joinable::new().await;
    let ca = j.sw.fixture.dir.path().join("master-ca.pem");
    std::fs::write(&ca, j.sw.fixture.fake.ca_pem()).expect("write CA");
    j.tunables(serde_json::json!({ "ca_file": ca }));
    j.server(Some("127.0.0.1"), false, false).await;
    let out = j.run(&["config", "kubernetes", "join"]).await;
    assert!(out.ok().contains("joined"), "{}", out.stdout);
    assert!(j.connected().await);
    assert_eq!(j.etc_files(), ["kube_admin.conf"]);
}

#[tokio::test]
async fn join_fails_cleanly_when_tls_verification_fails_or_the_master_is_down() {
    // insecure off and no CA file: the fake master's certificate is not trusted.
    let j = Joinable::new().await;
    j.server(Some("127.0.0.1"), false, false).await;
    let out = j.run(&["config", "kubernetes", "join"]).await;
    assert_failed_cleanly(&j, &out, "admin.conf").await;

    // The master down.
    j.server(Some("127.0.0.1"), true, false).await;
    j.sw.fixture.fake.set_fault(Fault::Refuse);
    let out = j.run(&["config", "kubernetes", "join"]).await;
    assert_failed_cleanly(&j, &out, "admin.conf").await;
}

#[tokio::test]
async fn join_refuses_without_ip_or_when_disabled() {
    let j = Joinable::new().await;
    let out = j.run(&["config", "kubernetes", "join"]).await;
    assert_failed_cleanly(&j, &out, "has no ip").await;
    j.server(Some("127.0.0.1"), true, true).await;
    let out = j.run(&["config", "kubernetes", "join", "-f"]).await;
    assert_failed_cleanly(&j, &out, "disable=true").await;
    assert!(j.kubeadm.calls().is_empty());
}

#[tokio::test]
async fn reset_leaves_the_master() {
    let j = Joinable::new().await;
    j.server(Some("127.0.0.1"), true, false).await;
    j.run(&["config", "kubernetes", "join"]).await.ok();
    j.sw.fixture
        .db
        .append_pending_labels(&[LabelOp::add("a", "1").expect("op")])
        .await
        .expect("queue");
    let out = j.run(&["config", "kubernetes", "reset"]).await;
    assert!(
        out.ok().contains("left the Kubernetes master"),
        "{}",
        out.stdout
    );
    assert!(j.etc_files().is_empty(), "kubeconfig removed");
    assert_eq!(
        j.kubeadm.calls().last().map(String::as_str),
        Some("reset -f")
    );
    assert!(j.sw.systemctl_calls().contains(&"stop kubelet".to_owned()));
    assert!(
        j.sw.fixture
            .db
            .pending_labels()
            .await
            .expect("pending")
            .is_empty()
    );
    assert!(!j.connected().await);
}
