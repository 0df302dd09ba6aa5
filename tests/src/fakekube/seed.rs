//! The test handle's seeding and reading of objects: nodes (as a kubelet registers them),
//! DaemonSets and pods (as their controllers and kubelet write them), each through the same
//! store the API serves.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::objects::{self, daemonset_manifest};
use super::store::{self, Key, Kind, Writer};
use super::{FakeKube, FakeKubeError};

impl FakeKube {
    // ---- nodes ----

    /// Registers the node `name` with exactly `labels` (Ready, with addresses and node info,
    /// as a kubelet would), or, when it exists, replaces its labels. Labels are stored as
    /// given, without the API's validation.
    pub fn add_node(&self, name: &str, labels: BTreeMap<String, String>) -> Node {
        let key = Key::new(Kind::Node, "", name);
        let stored = self.shared.write(|store| match store.get(&key) {
            Ok(mut existing) => {
                if let Some(meta) = existing.get_mut("metadata").and_then(Value::as_object_mut) {
                    meta.insert("labels".to_owned(), labels_value(&labels));
                }
                Ok(store.replace(&key, existing, Writer::Handle)?)
            }
            Err(_) => {
                let node = to_json(&objects::node_manifest(name, labels.clone()))?;
                Ok::<_, FakeKubeError>(store.create(Kind::Node, "", node, Writer::Handle)?)
            }
        });
        match stored.and_then(from_json) {
            Ok(node) => node,
            Err(error) => {
                // Only an empty name gets here; the node the test asked for is returned so
                // that the test's own assertions report the mistake.
                tracing::warn!(%error, name, "fake API server: add_node stored nothing");
                objects::node_manifest(name, labels)
            }
        }
    }

    /// The labels of node `name` (empty when it has none), `None` when there is no such node.
    pub fn node_labels(&self, name: &str) -> Option<BTreeMap<String, String>> {
        let node: Node = self.get(&Key::new(Kind::Node, "", name))?;
        Some(node.metadata.labels.unwrap_or_default())
    }

    /// A reader of node labels that lives apart from this handle (for samplers on their own
    /// tasks): `reader(name)` is [`Self::node_labels`]`(name)`; it keeps reading the store after
    /// the server stopped.
    pub fn labels_reader(
        &self,
    ) -> impl Fn(&str) -> Option<BTreeMap<String, String>> + Send + Sync + 'static {
        let shared = self.shared.clone();
        move |name: &str| {
            let object = shared
                .read(|store| store.get(&Key::new(Kind::Node, "", name)))
                .ok()?;
            let node: Node = serde_json::from_value(object).ok()?;
            Some(node.metadata.labels.unwrap_or_default())
        }
    }

    /// Every node, by name.
    pub fn nodes(&self) -> Vec<Node> {
        self.list(Kind::Node)
    }

    /// Deletes node `name`; whether it existed.
    pub fn remove_node(&self, name: &str) -> bool {
        self.delete(&Key::new(Kind::Node, "", name))
    }

    // ---- daemonsets ----

    /// Creates the DaemonSet of [`daemonset_manifest`] (one container named `name` running
    /// `image` on the nodes matching `node_selector`).
    pub fn create_daemonset(
        &self,
        namespace: &str,
        name: &str,
        image: &str,
        node_selector: BTreeMap<String, String>,
    ) -> Result<DaemonSet, FakeKubeError> {
        self.insert_daemonset(&daemonset_manifest(namespace, name, image, node_selector))
    }

    /// Creates any DaemonSet, in its `metadata.namespace` (`default` when unset).
    pub fn insert_daemonset(&self, daemonset: &DaemonSet) -> Result<DaemonSet, FakeKubeError> {
        let namespace = namespace_of(daemonset.metadata.namespace.as_deref());
        let object = to_json(daemonset)?;
        let created = self
            .shared
            .write(|store| store.create(Kind::DaemonSet, namespace, object, Writer::Handle))?;
        from_json(created)
    }

    /// Sets the image of every container of the DaemonSet's pod template (what a fleet
    /// operator's manifest update does); bumps `metadata.generation` when it changed.
    pub fn set_daemonset_image(
        &self,
        namespace: &str,
        name: &str,
        image: &str,
    ) -> Result<DaemonSet, FakeKubeError> {
        let key = Key::new(Kind::DaemonSet, namespace, name);
        let updated = self.shared.write(|store| {
            let mut daemonset: DaemonSet = from_json(store.get(&key)?)?;
            if let Some(pod) = daemonset
                .spec
                .as_mut()
                .and_then(|spec| spec.template.spec.as_mut())
            {
                for container in &mut pod.containers {
                    container.image = Some(image.to_owned());
                }
            }
            Ok::<_, FakeKubeError>(store.replace(&key, to_json(&daemonset)?, Writer::Handle)?)
        })?;
        from_json(updated)
    }

    /// The DaemonSet `namespace/name`, if any.
    pub fn daemonset(&self, namespace: &str, name: &str) -> Option<DaemonSet> {
        self.get(&Key::new(Kind::DaemonSet, namespace, name))
    }

    /// Every DaemonSet, by namespace and name.
    pub fn daemonsets(&self) -> Vec<DaemonSet> {
        self.list(Kind::DaemonSet)
    }

    /// Deletes the DaemonSet `namespace/name`; whether it existed. Its pods stay (the kubelet
    /// simulator plays the garbage collector).
    pub fn delete_daemonset(&self, namespace: &str, name: &str) -> bool {
        self.delete(&Key::new(Kind::DaemonSet, namespace, name))
    }

    // ---- pods ----

    /// Creates a pod as given, `status` included (the kubelet's report), in its
    /// `metadata.namespace` (`default` when unset). See [`RunningPod`](super::RunningPod) for realistic pods.
    pub fn create_pod(&self, pod: &Pod) -> Result<Pod, FakeKubeError> {
        let namespace = namespace_of(pod.metadata.namespace.as_deref());
        let object = to_json(pod)?;
        let created = self
            .shared
            .write(|store| store.create(Kind::Pod, namespace, object, Writer::Handle))?;
        from_json(created)
    }

    /// Replaces an existing pod, `status` included (a kubelet's status update). A
    /// `metadata.resourceVersion` in `pod` must match the stored one.
    pub fn update_pod(&self, pod: &Pod) -> Result<Pod, FakeKubeError> {
        let namespace = namespace_of(pod.metadata.namespace.as_deref());
        let name = pod.metadata.name.clone().unwrap_or_default();
        let key = Key::new(Kind::Pod, namespace, &name);
        let object = to_json(pod)?;
        let updated = self
            .shared
            .write(|store| store.replace(&key, object, Writer::Handle))?;
        from_json(updated)
    }

    /// The pod `namespace/name`, if any.
    pub fn pod(&self, namespace: &str, name: &str) -> Option<Pod> {
        self.get(&Key::new(Kind::Pod, namespace, name))
    }

    /// Deletes the pod `namespace/name`; whether it existed.
    pub fn delete_pod(&self, namespace: &str, name: &str) -> bool {
        self.delete(&Key::new(Kind::Pod, namespace, name))
    }

    /// Every pod, by namespace and name.
    pub fn pods(&self) -> Vec<Pod> {
        self.list(Kind::Pod)
    }

    // ---- helpers ----

    fn get<K: DeserializeOwned>(&self, key: &Key) -> Option<K> {
        let object = self.shared.read(|store| store.get(key)).ok()?;
        serde_json::from_value(object).ok()
    }

    fn list<K: DeserializeOwned>(&self, kind: Kind) -> Vec<K> {
        self.shared
            .read(|store| store.list(kind, None, &store::Selectors::default()))
            .into_iter()
            .filter_map(|object| serde_json::from_value(object).ok())
            .collect()
    }

    fn delete(&self, key: &Key) -> bool {
        self.shared.write(|store| store.delete(key)).is_ok()
    }
}

fn namespace_of(namespace: Option<&str>) -> &str {
    match namespace {
        Some(ns) if !ns.is_empty() => ns,
        _ => "default",
    }
}

fn labels_value(labels: &BTreeMap<String, String>) -> Value {
    Value::Object(
        labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect(),
    )
}

fn to_json<K: Serialize>(object: &K) -> Result<Value, FakeKubeError> {
    serde_json::to_value(object).map_err(FakeKubeError::Json)
}

fn from_json<K: DeserializeOwned>(object: Value) -> Result<K, FakeKubeError> {
    serde_json::from_value(object).map_err(FakeKubeError::Json)
}
