//! Builders of realistic objects: the DaemonSet a fleet operator would apply, the Node a kubelet
//! registers, and the Pod a kubelet reports once its containers run.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{DaemonSet, DaemonSetSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerState, ContainerStateRunning, ContainerStateWaiting, ContainerStatus, Node,
    NodeAddress, NodeCondition, NodeStatus, NodeSystemInfo, Pod, PodCondition, PodSpec, PodStatus,
    PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta, OwnerReference};

use super::store::now;

/// The kubelet version the fake's nodes report.
pub(crate) const KUBELET_VERSION: &str = "v1.33.0";

/// The prefix kubelet gives Docker container ids in `containerStatuses[].containerID`.
pub const DOCKER_ID_PREFIX: &str = "docker://";

/// An `apps/v1` DaemonSet as a fleet operator would apply it: one container named `name`
/// running `image`, on the nodes whose labels match `node_selector`, with host networking like
/// SONiC's features. Pods are selected by the label `app=<name>`.
pub fn daemonset_manifest(
    namespace: &str,
    name: &str,
    image: &str,
    node_selector: BTreeMap<String, String>,
) -> DaemonSet {
    let app = BTreeMap::from([("app".to_owned(), name.to_owned())]);
    DaemonSet {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(app.clone()),
            ..ObjectMeta::default()
        },
        spec: Some(DaemonSetSpec {
            selector: LabelSelector {
                match_labels: Some(app.clone()),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(app),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    node_selector: Some(node_selector),
                    host_network: Some(true),
                    containers: vec![Container {
                        name: name.to_owned(),
                        image: Some(image.to_owned()),
                        ..Container::default()
                    }],
                    ..PodSpec::default()
                }),
            },
            ..DaemonSetSpec::default()
        }),
        status: None,
    }
}

/// A Node as a kubelet registers it: the labels given, Ready, with addresses and node info.
pub(crate) fn node_manifest(name: &str, labels: BTreeMap<String, String>) -> Node {
    let now = now();
    Node {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            labels: Some(labels),
            ..ObjectMeta::default()
        },
        spec: None,
        status: Some(NodeStatus {
            addresses: Some(vec![
                NodeAddress {
                    type_: "InternalIP".to_owned(),
                    address: "127.0.0.1".to_owned(),
                },
                NodeAddress {
                    type_: "Hostname".to_owned(),
                    address: name.to_owned(),
                },
            ]),
            conditions: Some(vec![NodeCondition {
                type_: "Ready".to_owned(),
                status: "True".to_owned(),
                reason: Some("KubeletReady".to_owned()),
                message: Some("kubelet is posting ready status".to_owned()),
                last_heartbeat_time: Some(now.clone()),
                last_transition_time: Some(now),
            }]),
            node_info: Some(NodeSystemInfo {
                architecture: "amd64".to_owned(),
                container_runtime_version: "docker://20.10.24".to_owned(),
                kernel_version: "6.1.0-29-2-amd64".to_owned(),
                kubelet_version: KUBELET_VERSION.to_owned(),
                operating_system: "linux".to_owned(),
                os_image: "SONiC.master.0-fake".to_owned(),
                ..NodeSystemInfo::default()
            }),
            ..NodeStatus::default()
        }),
    }
}

/// A Pod as a kubelet reports it: scheduled on a node, each container that has a container id
/// running (`containerID` `docker://<id>`), the others waiting in `ContainerCreating`.
#[derive(Debug, Clone, PartialEq)]
pub struct RunningPod {
    /// Namespace.
    pub namespace: String,
    /// Pod name.
    pub name: String,
    /// The node it runs on (`spec.nodeName`).
    pub node_name: String,
    /// Pod labels.
    pub labels: BTreeMap<String, String>,
    /// The controller owning it (a DaemonSet), if any.
    pub owner: Option<OwnerReference>,
    /// The pod spec (containers, host network, …); `nodeName` is set from [`Self::node_name`].
    pub spec: PodSpec,
    /// Container name → Docker container id (without the `docker://` prefix), for the
    /// containers that run.
    pub container_ids: BTreeMap<String, String>,
}

impl RunningPod {
    /// A pod with one container named `container` running `image`, not owned by anything.
    pub fn single(
        namespace: &str,
        name: &str,
        node_name: &str,
        container: &str,
        image: &str,
    ) -> Self {
        Self {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            node_name: node_name.to_owned(),
            labels: BTreeMap::new(),
            owner: None,
            spec: PodSpec {
                containers: vec![Container {
                    name: container.to_owned(),
                    image: Some(image.to_owned()),
                    ..Container::default()
                }],
                ..PodSpec::default()
            },
            container_ids: BTreeMap::new(),
        }
    }

    /// The pod a DaemonSet controller makes for `node_name` from `daemonset`'s template: named
    /// `<daemonset>-<5 random characters>`, labelled like the template, owned by the DaemonSet.
    pub fn for_daemonset(daemonset: &DaemonSet, node_name: &str) -> Self {
        let ds_name = daemonset.metadata.name.clone().unwrap_or_default();
        let template = daemonset.spec.as_ref().map(|spec| &spec.template);
        let suffix = uuid::Uuid::new_v4().simple().to_string();
        Self {
            namespace: daemonset
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| "default".to_owned()),
            name: format!("{ds_name}-{}", suffix.get(..5).unwrap_or_default()),
            node_name: node_name.to_owned(),
            labels: template
                .and_then(|t| t.metadata.as_ref())
                .and_then(|m| m.labels.clone())
                .unwrap_or_default(),
            owner: Some(OwnerReference {
                api_version: "apps/v1".to_owned(),
                kind: "DaemonSet".to_owned(),
                name: ds_name,
                uid: daemonset.metadata.uid.clone().unwrap_or_default(),
                controller: Some(true),
                block_owner_deletion: Some(true),
            }),
            spec: template.and_then(|t| t.spec.clone()).unwrap_or_default(),
            container_ids: BTreeMap::new(),
        }
    }

    /// Records that `container` runs as the Docker container `id`.
    pub fn with_container_id(mut self, container: &str, id: &str) -> Self {
        self.container_ids
            .insert(container.to_owned(), id.to_owned());
        self
    }

    /// The Pod object, with the status a kubelet would report now.
    pub fn to_pod(&self) -> Pod {
        let now = now();
        let statuses: Vec<ContainerStatus> = self
            .spec
            .containers
            .iter()
            .map(|container| {
                let image = container.image.clone().unwrap_or_default();
                match self.container_ids.get(&container.name) {
                    Some(id) => ContainerStatus {
                        name: container.name.clone(),
                        image: image.clone(),
                        image_id: image,
                        container_id: Some(format!("{DOCKER_ID_PREFIX}{id}")),
                        ready: true,
                        started: Some(true),
                        restart_count: 0,
                        state: Some(ContainerState {
                            running: Some(ContainerStateRunning {
                                started_at: Some(now.clone()),
                            }),
                            ..ContainerState::default()
                        }),
                        ..ContainerStatus::default()
                    },
                    None => ContainerStatus {
                        name: container.name.clone(),
                        image,
                        ready: false,
                        started: Some(false),
                        state: Some(ContainerState {
                            waiting: Some(ContainerStateWaiting {
                                reason: Some("ContainerCreating".to_owned()),
                                message: None,
                            }),
                            ..ContainerState::default()
                        }),
                        ..ContainerStatus::default()
                    },
                }
            })
            .collect();
        let all_running = statuses.iter().all(|s| s.ready);
        let condition = |type_: &str, ok: bool| PodCondition {
            type_: type_.to_owned(),
            status: if ok { "True" } else { "False" }.to_owned(),
            last_transition_time: Some(now.clone()),
            ..PodCondition::default()
        };
        let mut spec = self.spec.clone();
        spec.node_name = Some(self.node_name.clone());
        Pod {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(self.labels.clone()),
                owner_references: self.owner.clone().map(|owner| vec![owner]),
                ..ObjectMeta::default()
            },
            spec: Some(spec),
            status: Some(PodStatus {
                phase: Some(if all_running { "Running" } else { "Pending" }.to_owned()),
                host_ip: Some("127.0.0.1".to_owned()),
                pod_ip: Some("127.0.0.1".to_owned()),
                start_time: Some(now.clone()),
                conditions: Some(vec![
                    condition("PodScheduled", true),
                    condition("Initialized", true),
                    condition("ContainersReady", all_running),
                    condition("Ready", all_running),
                ]),
                container_statuses: Some(statuses),
                ..PodStatus::default()
            }),
        }
    }
}
