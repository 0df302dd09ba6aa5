//! Node labels and the pending list (DESIGN.md §6) with every part real: `LabelService` over
//! `SonicDb` (a real redis-server), `KubeClient` (kube-rs against the fake API server) and
//! `Systemctl` running a recording stand-in for `systemctl`.

use std::collections::BTreeMap;
use std::time::Duration;

use ctrmgr_core::ports::StateStore;
use ctrmgr_core::{DeviceMetadata, LabelOp};
use ctrmgr_dbclient::SonicDb;
use ctrmgr_driver::{
    Applied, LabelOptions, LabelService, QueueCause, Systemctl, self_description_labels,
};
use ctrmgr_kubeclient::{KubeClient, KubeOptions};
use ctrmgr_tests::fakekube::Fault;
use ctrmgr_tests::switch::SwitchFixture;

/// DEVICE_METADATA's hostname; the node name is its lower-case form.
const HOSTNAME: &str = "Sonic-E2E";
const NODE: &str = "sonic-e2e";

struct World {
    fixture: SwitchFixture,
    service: LabelService<SonicDb, KubeClient, Systemctl>,
}

impl World {
    async fn new(label_timeout: Duration) -> Self {
        let fixture = SwitchFixture::start(HOSTNAME, NODE).await;
        let kube = KubeClient::new(
            KubeOptions {
                kubeconfig: fixture.kubeconfig.clone(),
                timeout: label_timeout,
            },
            NODE,
        );
        let service = LabelService::new(
            fixture.db.clone(),
            kube,
            Systemctl::new(fixture.systemctl.path()),
            LabelOptions {
                timeout: label_timeout,
                kubelet_unit: "kubelet".to_owned(),
                locks: None,
            },
        );
        Self { fixture, service }
    }

    fn calls(&self) -> Vec<String> {
        self.fixture.systemctl.calls()
    }

    async fn pending(&self) -> Vec<LabelOp> {
        self.service
            .store()
            .pending_labels()
            .await
            .expect("read pending list")
    }

    fn labels(&self) -> BTreeMap<String, String> {
        self.fixture.fake.node_labels(NODE).expect("node exists")
    }
}

fn ops(list: &[&str]) -> Vec<LabelOp> {
    list.iter().map(|s| s.parse().expect("valid op")).collect()
}

#[tokio::test]
async fn label_changes_reach_the_node_when_the_master_answers() {
    let w = World::new(Duration::from_secs(5)).await;
    let out = w
        .service
        .apply(&ops(&["snmp_enabled=true", "lldp_enabled=true"]))
        .await
        .expect("apply");
    assert_eq!(out, Applied::Sent);
    w.service
        .apply(&ops(&["lldp_enabled-"]))
        .await
        .expect("apply");
    assert_eq!(
        w.labels(),
        BTreeMap::from([("snmp_enabled".to_owned(), "true".to_owned())])
    );
    assert!(w.pending().await.is_empty());
    assert!(w.calls().is_empty());
}

#[tokio::test]
async fn a_5xx_master_queues_the_change_in_redis_and_stops_kubelet() {
    let w = World::new(Duration::from_secs(5)).await;
    w.fixture.fake.set_fault(Fault::ServerError(503));
    let out = w
        .service
        .apply(&ops(&["snmp_enabled=true"]))
        .await
        .expect("apply");
    match out {
        Applied::Queued {
            cause: QueueCause::Failed { message, .. },
            kubelet_stopped,
        } => {
            assert!(message.contains("server error"), "{message}");
            assert!(kubelet_stopped);
        }
        other => panic!("expected queued after a 503, got {other:?}"),
    }
    assert_eq!(w.pending().await, ops(&["snmp_enabled=true"]));
    assert_eq!(w.calls(), ["stop kubelet"]);
    w.fixture.fake.set_fault(Fault::None);
    assert!(!w.labels().contains_key("snmp_enabled"));
}

#[tokio::test]
async fn a_hanging_master_is_bounded_by_the_label_timeout() {
    let w = World::new(Duration::from_millis(500)).await;
    w.fixture.fake.set_fault(Fault::Hang);
    let out = tokio::time::timeout(Duration::from_secs(60), w.service.apply(&ops(&["a=1"])))
        .await
        .expect("the label timeout ends the attempt")
        .expect("apply");
    assert!(matches!(out, Applied::Queued { .. }), "{out:?}");
    assert_eq!(w.pending().await, ops(&["a=1"]));
    assert_eq!(w.calls(), ["stop kubelet"]);
}

#[tokio::test]
async fn operations_appended_while_a_drain_is_in_flight_stay_queued() {
    let w = World::new(Duration::from_secs(10)).await;
    w.service
        .store()
        .append_pending_labels(&ops(&["a=1", "b=1"]))
        .await
        .expect("queue");
    // The master answers slowly, so the drain's patch is in flight while another writer
    // appends; its operation must survive the removal of the drained prefix.
    w.fixture
        .fake
        .set_fault(Fault::Slow(Duration::from_millis(800)));
    let other_writer = async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        w.service
            .store()
            .append_pending_labels(&ops(&["c=1"]))
            .await
            .expect("append meanwhile");
    };
    let (drained, ()) = tokio::join!(w.service.drain(), other_writer);
    let d = drained.expect("drain");
    assert!(d.removed);
    let left = w.pending().await;
    // Whether the append landed before the drain read the list or while the patch was in
    // flight, nothing is lost: c=1 was either drained or is still queued.
    if left.is_empty() {
        assert_eq!(d.drained, 3);
        assert_eq!(w.labels().get("c").map(String::as_str), Some("1"));
    } else {
        assert_eq!(left, ops(&["c=1"]));
        assert_eq!(d.drained, 2);
        assert!(
            !d.kubelet_started,
            "kubelet stays stopped while c=1 is pending"
        );
        assert!(w.calls().is_empty());
    }
    assert_eq!(w.labels().get("a").map(String::as_str), Some("1"));
    assert_eq!(w.labels().get("b").map(String::as_str), Some("1"));
}

#[tokio::test]
async fn a_node_describes_itself_with_its_version_platform_hwsku_and_type() {
    let w = World::new(Duration::from_secs(5)).await;
    let meta = DeviceMetadata {
        hostname: Some("Sonic-E2E".into()),
        platform: Some("x86_64-kvm_x86_64-r0".into()),
        hwsku: Some("Force10-S6000".into()),
        deployment_type: Some("ToRRouter".into()),
    };
    let yml = "build_version: 'SONiC.master.100-abcdef'\nasic_type: vs\n";
    let labels = self_description_labels(&meta, yml);
    let out = w.service.apply(&labels).await.expect("apply");
    assert_eq!(out, Applied::Sent);
    assert_eq!(
        w.labels(),
        BTreeMap::from([
            ("deployment_type".to_owned(), "ToRRouter".to_owned()),
            ("hwsku".to_owned(), "Force10-S6000".to_owned()),
            (
                "worker.sonic/platform".to_owned(),
                "x86_64-kvm_x86_64-r0".to_owned()
            ),
            (
                "sonic_version".to_owned(),
                "SONiC.master.100-abcdef".to_owned()
            ),
        ])
    );
}
