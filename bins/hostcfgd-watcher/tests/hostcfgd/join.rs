//! The join/reset engine (`ctrmgr_driver::JoinEngine`) against the fake API server's
//! `/admin.conf` over real TLS, with real Redis and the simulators.

use std::os::unix::fs::PermissionsExt as _;

use ctrmgr_bin::KubeMaster;
use ctrmgr_core::LabelOp;
use ctrmgr_core::ports::StateStore;
use ctrmgr_dbclient::SonicDb;
use ctrmgr_driver::{
    Error, JoinEngine, JoinOptions, Joined, Kubeadm, LabelOptions, LabelService, Systemctl,
    Tunables,
};
use ctrmgr_kubeclient::{KubeClient, KubeOptions};
use ctrmgr_tests::sim::UnitCommands;

use super::{Joinable, NODE};

type Engine = JoinEngine<SonicDb, KubeClient, Systemctl, KubeMaster>;

fn engine(sw: &Joinable) -> Engine {
    let t = Tunables::load(Some(&sw.fixture.tunables_path())).expect("tunables");
    let options = KubeOptions {
        kubeconfig: t.kubeconfig.clone(),
        timeout: t.label_timeout(),
    };
    JoinEngine::new(
        LabelService::new(
            sw.fixture.db.clone(),
            KubeClient::new(options.clone(), NODE),
            Systemctl::new(&t.systemctl),
            LabelOptions::from_tunables(&t),
        ),
        KubeMaster::new(options, NODE),
        Kubeadm::new(&t.kubeadm, t.kubeadm_timeout()),
        NODE,
        JoinOptions::from_tunables(&t),
    )
}

/// The one line an error and its causes make.
fn line(e: &Error) -> String {
    let mut out = e.to_string();
    let mut cur = std::error::Error::source(e);
    while let Some(c) = cur {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cur = c.source();
    }
    out
}

fn discovery(sw: &Joinable) -> String {
    format!(
        "join --discovery-file {} --node-name {NODE}",
        sw.kubeconfig.display()
    )
}

#[tokio::test]
async fn an_insecure_join_writes_admin_conf_0600_runs_kubeadm_starts_kubelet_labels_the_node_and_says_connected()
 {
    let sw = Joinable::new(&UnitCommands::default()).await;
    std::fs::write(
        sw.fixture.dir.path().join("sonic_version.yml"),
        "build_version: 'master.123-abc'\n",
    )
    .expect("version file");
    sw.set_server(Some("127.0.0.1"), true, false).await;

    let joined = engine(&sw).join(false).await.expect("joins");

    assert!(
        matches!(&joined, Joined::Joined { server, .. } if server == "127.0.0.1"),
        "{joined:?}"
    );
    let written = std::fs::read_to_string(&sw.kubeconfig).expect("kubeconfig written");
    assert_eq!(written, sw.fixture.fake.kubeconfig_yaml());
    let mode = std::fs::metadata(&sw.kubeconfig)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    assert_eq!(sw.etc_files(), vec!["kube_admin.conf"], "no temp file");
    assert_eq!(
        sw.kubeadm.calls(),
        vec!["reset -f".to_owned(), discovery(&sw)]
    );
    assert_eq!(sw.systemctl.calls(), vec!["start kubelet"]);
    assert_eq!(sw.systemctl.state("kubelet"), "active");
    let labels = sw.node_labels();
    assert_eq!(
        labels
            .get(ctrmgr_driver::labels::PLATFORM_LABEL)
            .map(String::as_str),
        Some("x86_64-kvm_x86_64-r0")
    );
    assert_eq!(
        labels.get("hwsku").map(String::as_str),
        Some("Force10-S6000")
    );
    assert_eq!(
        labels.get("deployment_type").map(String::as_str),
        Some("ToRRouter")
    );
    assert_eq!(
        labels.get("sonic_version").map(String::as_str),
        Some("master.123-abc")
    );
    let status = sw.status().await;
    assert!(
        status.connected && status.last_update_ts.is_some(),
        "{status:?}"
    );

    // Joined already: without force nothing is done again.
    let again = engine(&sw).join(false).await.expect("no-op");
    assert_eq!(again, Joined::AlreadyConnected);
    assert_eq!(sw.kubeadm.calls().len(), 2);
}

#[tokio::test]
async fn a_secure_join_verifies_the_master_with_the_ca_file() {
    let sw = Joinable::new(&UnitCommands::default()).await;
    let ca = sw.ca_file();
    sw.write_tunables(serde_json::json!({ "ca_file": ca }));
    sw.set_server(Some("127.0.0.1"), false, false).await;

    let joined = engine(&sw).join(false).await.expect("joins");

    assert!(matches!(joined, Joined::Joined { .. }), "{joined:?}");
    assert_eq!(
        std::fs::read_to_string(&sw.kubeconfig).expect("written"),
        sw.fixture.fake.kubeconfig_yaml()
    );
    assert!(sw.status().await.connected);
}

#[tokio::test]
async fn a_failed_tls_verification_is_one_clear_error_and_writes_nothing() {
    let sw = Joinable::new(&UnitCommands::default()).await;
    // Verified against the system's roots, which do not know the fake master's CA.
    sw.set_server(Some("127.0.0.1"), false, false).await;

    let e = engine(&sw).join(false).await.expect_err("TLS fails");

    let msg = line(&e);
    assert!(
        msg.contains("fetch admin.conf from https://127.0.0.1:"),
        "{msg}"
    );
    assert!(msg.to_lowercase().contains("certificate"), "{msg}");
    assert!(!sw.kubeconfig.exists(), "no kubeconfig");
    assert!(
        sw.etc_files().is_empty(),
        "no temp file: {:?}",
        sw.etc_files()
    );
    assert!(sw.kubeadm.calls().is_empty(), "kubeadm not run");
    assert!(sw.systemctl.calls().is_empty(), "kubelet untouched");
    assert_eq!(
        sw.status().await,
        ctrmgr_core::ServerStatus::default(),
        "STATE_DB untouched"
    );
    assert!(
        !sw.node_labels()
            .contains_key(ctrmgr_driver::labels::PLATFORM_LABEL)
    );
}

#[tokio::test]
async fn a_wrong_ca_file_fails_the_same_way() {
    let sw = Joinable::new(&UnitCommands::default()).await;
    let other = ctrmgr_tests::fakekube::FakeKube::start()
        .await
        .expect("another master");
    let ca = sw.fixture.dir.path().join("other-ca.pem");
    std::fs::write(&ca, other.ca_pem()).expect("write CA");
    sw.write_tunables(serde_json::json!({ "ca_file": ca }));
    sw.set_server(Some("127.0.0.1"), false, false).await;

    let e = engine(&sw)
        .join(false)
        .await
        .expect_err("not this master's CA");

    assert!(
        line(&e).to_lowercase().contains("certificate"),
        "{}",
        line(&e)
    );
    assert!(sw.etc_files().is_empty());
    assert!(sw.kubeadm.calls().is_empty());
}

#[tokio::test]
async fn a_failing_kubeadm_join_is_undone_with_nothing_left_behind() {
    let sw = Joinable::new(&UnitCommands::default()).await;
    sw.set_server(Some("127.0.0.1"), true, false).await;
    sw.kubeadm.set_failing(true);

    let e = engine(&sw).join(false).await.expect_err("kubeadm fails");

    let msg = line(&e);
    assert!(msg.contains("join --discovery-file"), "{msg}");
    assert!(msg.contains("simulated failure"), "{msg}");
    assert!(
        sw.etc_files().is_empty(),
        "kubeconfig removed: {:?}",
        sw.etc_files()
    );
    assert_eq!(
        sw.kubeadm.calls(),
        vec!["reset -f".to_owned(), discovery(&sw), "reset -f".to_owned()]
    );
    assert_eq!(sw.systemctl.calls(), vec!["stop kubelet"]);
    let status = sw.status().await;
    assert!(!status.connected, "{status:?}");
}

#[tokio::test]
async fn without_ip_or_with_disable_a_join_is_refused_and_changes_nothing() {
    let sw = Joinable::new(&UnitCommands::default()).await;
    let e = engine(&sw).join(true).await.expect_err("no ip");
    assert!(
        line(&e).contains("KUBERNETES_MASTER|SERVER has no ip"),
        "{}",
        line(&e)
    );
    sw.set_server(Some("127.0.0.1"), true, true).await;
    let e = engine(&sw).join(true).await.expect_err("disabled");
    assert!(line(&e).contains("disable=true"), "{}", line(&e));
    assert!(sw.kubeadm.calls().is_empty());
    assert!(sw.etc_files().is_empty());
}

#[tokio::test]
async fn reset_leaves_the_master_stops_kubelet_removes_the_kubeconfig_and_purges_pending_labels() {
    let sw = Joinable::new(&UnitCommands::default()).await;
    sw.set_server(Some("127.0.0.1"), true, false).await;
    let e = engine(&sw);
    e.join(false).await.expect("joins");
    sw.fixture
        .db
        .append_pending_labels(&[LabelOp::add("snmp_enabled", "true").expect("label")])
        .await
        .expect("append");

    e.reset().await.expect("resets");

    assert!(sw.etc_files().is_empty(), "kubeconfig removed");
    assert_eq!(
        sw.kubeadm.calls().last().map(String::as_str),
        Some("reset -f")
    );
    assert_eq!(
        sw.systemctl.calls().last().map(String::as_str),
        Some("stop kubelet")
    );
    assert_eq!(sw.systemctl.state("kubelet"), "inactive");
    assert!(
        sw.fixture
            .db
            .pending_labels()
            .await
            .expect("read")
            .is_empty(),
        "pending list purged"
    );
    let status = sw.status().await;
    assert!(
        !status.connected && status.last_update_ts.is_some(),
        "{status:?}"
    );
}

#[tokio::test]
async fn a_switch_already_joined_to_this_master_is_adopted_without_kubeadm() {
    let sw = Joinable::new(&UnitCommands::default()).await;
    sw.set_server(Some("127.0.0.1"), true, false).await;
    sw.fixture
        .fake
        .write_kubeconfig(&sw.kubeconfig)
        .expect("a kubeconfig from an earlier join");

    let joined = engine(&sw).join(false).await.expect("adopted");

    assert_eq!(
        joined,
        Joined::Adopted {
            server: "127.0.0.1".to_owned()
        }
    );
    assert!(sw.kubeadm.calls().is_empty());
    assert_eq!(sw.systemctl.calls(), vec!["start kubelet"]);
    assert!(sw.status().await.connected);
}

/// A small tmpfs mounted over a directory for one test (this needs root, as the test run
/// has); unmounted when dropped.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &std::path::Path) -> Self {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=64k,mode=0755", "tmpfs"])
            .arg(dir)
            .status()
            .expect("mount runs");
        assert!(
            status.success(),
            "mounting a 64 KiB tmpfs on {} failed: the disk-fault test needs root and mount(8)",
            dir.display()
        );
        Self(dir.to_path_buf())
    }

    fn remount(&self, opts: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{opts}")])
            .arg(&self.0)
            .status()
            .expect("mount runs");
        assert!(status.success(), "remount {opts} of {}", self.0.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Issue 15 point 3: the disk holding the kubeconfig full, then read-only, during a join.
/// Each time the join fails with one line naming the file and the cause, the old kubeconfig
/// stays as it was, no temporary file is left, kubeadm and kubelet are not touched and
/// STATE_DB does not say connected; once the disk is writable again the join succeeds.
#[tokio::test]
async fn a_join_onto_a_full_or_read_only_disk_fails_clearly_and_keeps_the_old_kubeconfig() {
    let sw = Joinable::new(&UnitCommands::default()).await;
    let etc = sw.kubeconfig.parent().expect("a directory").to_path_buf();
    let fs = Tmpfs::mount(&etc);
    let old = "apiVersion: v1\nkind: Config\n# the kubeconfig of the last join\n";
    std::fs::write(&sw.kubeconfig, old).expect("the old kubeconfig");
    sw.set_server(Some("127.0.0.1"), true, false).await;
    let mut tried = 0;
    let mut survived = 0;

    // Full: a filler takes every block left.
    let filler = etc.join("filler");
    {
        use std::io::Write as _;
        let mut f = std::fs::File::create(&filler).expect("filler");
        let block = vec![0u8; 4096];
        while f.write_all(&block).is_ok() {}
        let _ = f.sync_all();
    }
    for (fault, cause) in [
        ("full", "no space left on device"),
        ("read-only", "read-only file system"),
    ] {
        if fault == "read-only" {
            std::fs::remove_file(&filler).expect("remove the filler");
            fs.remount("ro");
        }
        tried += 1;
        let e = engine(&sw).join(false).await.expect_err("the write fails");
        let msg = line(&e);
        assert!(!msg.contains('\n'), "one line: {msg}");
        assert!(
            msg.contains(&sw.kubeconfig.display().to_string()),
            "{fault}: names the file: {msg}"
        );
        assert!(
            msg.to_lowercase().contains(cause),
            "{fault}: says why: {msg}"
        );
        assert_eq!(
            std::fs::read_to_string(&sw.kubeconfig).expect("the old kubeconfig"),
            old,
            "{fault}: the old kubeconfig is intact"
        );
        let files = sw.etc_files();
        assert!(
            files
                .iter()
                .all(|f| f == "kube_admin.conf" || f == "filler"),
            "{fault}: no temp file: {files:?}"
        );
        assert!(
            !sw.kubeadm.calls().iter().any(|c| c.starts_with("join")),
            "{fault}: kubeadm join not run: {:?}",
            sw.kubeadm.calls()
        );
        assert!(!sw.status().await.connected, "{fault}: not connected");
        survived += 1;
    }

    // Writable again: the join goes through.
    fs.remount("rw");
    let joined = engine(&sw).join(false).await.expect("joins");
    assert!(matches!(joined, Joined::Joined { .. }), "{joined:?}");
    assert_eq!(
        std::fs::read_to_string(&sw.kubeconfig).expect("written"),
        sw.fixture.fake.kubeconfig_yaml()
    );
    println!(
        "RELIABILITY fault-kubeconfig-disk tried={tried} survived={survived} lost=0 violations=0 panics=0"
    );
}
