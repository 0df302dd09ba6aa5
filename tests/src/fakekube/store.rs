//! The in-memory object store: Nodes, Pods and DaemonSets kept as JSON, with the bookkeeping a
//! real API server does (resourceVersion, uid, creationTimestamp, generation, preconditions).
//!
//! Every object is normalized through its k8s-openapi type on the way in, so what is stored is
//! what a real API server would keep: well-typed fields only, unknown fields dropped.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::Value;

use super::patch::{merge_patch, strategic_merge_patch};

mod api;
mod selectors;
mod validate;

pub(crate) use api::{ApiError, Key, Kind, PatchKind, Writer};
pub(crate) use selectors::Selectors;
use validate::*;

/// All objects, and the counter their resourceVersions come from.
#[derive(Debug, Default)]
pub(crate) struct Store {
    /// The last resourceVersion handed out; also the change generation of the whole store.
    resource_version: u64,
    objects: BTreeMap<Key, Value>,
}

impl Store {
    /// The current resourceVersion of the store (of the last change).
    pub(crate) fn resource_version(&self) -> u64 {
        self.resource_version
    }

    fn bump(&mut self) -> u64 {
        self.resource_version += 1;
        self.resource_version
    }

    /// The objects of `kind` in `namespace` (all namespaces when `None`) that match `selectors`.
    pub(crate) fn list(
        &self,
        kind: Kind,
        namespace: Option<&str>,
        selectors: &Selectors,
    ) -> Vec<Value> {
        self.objects
            .iter()
            .filter(|(key, _)| key.kind == kind)
            .filter(|(key, _)| namespace.is_none_or(|ns| key.namespace == ns))
            .filter(|(_, object)| selectors.matches(object))
            .map(|(_, object)| object.clone())
            .collect()
    }

    /// One object.
    pub(crate) fn get(&self, key: &Key) -> Result<Value, ApiError> {
        self.objects
            .get(key)
            .cloned()
            .ok_or_else(|| ApiError::not_found(key.kind, &key.name))
    }

    /// Creates an object in `namespace` (ignored for cluster-scoped kinds).
    pub(crate) fn create(
        &mut self,
        kind: Kind,
        namespace: &str,
        object: Value,
        writer: Writer,
    ) -> Result<Value, ApiError> {
        let mut object = kind.normalize(object).map_err(|e| {
            ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
        })?;
        let mut meta = take_meta(&mut object);
        if kind.namespaced() {
            match meta.namespace.as_deref() {
                Some(ns) if !ns.is_empty() && ns != namespace => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => meta.namespace = Some(namespace.to_owned()),
            }
        } else {
            meta.namespace = None;
        }
        let name = match (meta.name.as_deref(), meta.generate_name.as_deref()) {
            (Some(name), _) if !name.is_empty() => name.to_owned(),
            (_, Some(prefix)) if !prefix.is_empty() => {
                let suffix = uuid::Uuid::new_v4().simple().to_string();
                format!("{prefix}{}", suffix.get(..5).unwrap_or_default())
            }
            _ => {
                return Err(ApiError::invalid(
                    kind,
                    "",
                    "metadata.name: Required value: name or generateName is required",
                ));
            }
        };
        meta.name = Some(name.clone());
        if writer == Writer::Api {
            validate_labels(kind, &name, meta.labels.as_ref())?;
        }
        let key = Key::new(kind, namespace, &name);
        if self.objects.contains_key(&key) {
            return Err(ApiError::already_exists(kind, &name));
        }
        let resource_version = self.bump();
        meta.uid = Some(uuid::Uuid::new_v4().hyphenated().to_string());
        meta.resource_version = Some(resource_version.to_string());
        meta.creation_timestamp = Some(now());
        meta.deletion_timestamp = None;
        meta.generation = kind.tracks_generation().then_some(1);
        put_meta(&mut object, &meta)?;
        self.objects.insert(key, object.clone());
        Ok(object)
    }

    /// Replaces an object (PUT). A `metadata.resourceVersion` in the body is a precondition.
    pub(crate) fn replace(
        &mut self,
        key: &Key,
        object: Value,
        writer: Writer,
    ) -> Result<Value, ApiError> {
        let object = key.kind.normalize(object).map_err(|e| {
            ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
        })?;
        let existing = self.get(key)?;
        match object.pointer("/metadata/name").and_then(Value::as_str) {
            Some(name) if name == key.name => {}
            Some(name) => {
                return Err(ApiError::bad_request(format!(
                    "the name of the object ({name}) does not match the name on the URL ({})",
                    key.name
                )));
            }
            None => {}
        }
        if key.kind.namespaced() {
            match object
                .pointer("/metadata/namespace")
                .and_then(Value::as_str)
            {
                Some(ns) if !ns.is_empty() && ns != key.namespace => {
                    return Err(ApiError::bad_request(
                        "the namespace of the provided object does not match the namespace sent on the request",
                    ));
                }
                _ => {}
            }
        }
        check_precondition(key, &object, &existing)?;
        self.commit_update(key, existing, object, writer)
    }

    /// Patches an object. A `metadata.resourceVersion` in the patch is a precondition.
    pub(crate) fn patch(
        &mut self,
        key: &Key,
        patch: &Value,
        patch_kind: PatchKind,
        writer: Writer,
    ) -> Result<Value, ApiError> {
        let existing = self.get(key)?;
        if !patch.is_object() {
            return Err(ApiError::bad_request(
                "the body of the request was in an unknown format: a patch must be a JSON object",
            ));
        }
        check_precondition(key, patch, &existing)?;
        let mut patched = existing.clone();
        match patch_kind {
            PatchKind::Merge => merge_patch(&mut patched, patch),
            PatchKind::Strategic => strategic_merge_patch(&mut patched, patch),
        }
        let patched = key
            .kind
            .normalize(patched)
            .map_err(|e| ApiError::invalid(key.kind, &key.name, e))?;
        for field in ["name", "namespace", "uid"] {
            if patched.pointer(&format!("/metadata/{field}"))
                != existing.pointer(&format!("/metadata/{field}"))
            {
                return Err(ApiError::invalid(
                    key.kind,
                    &key.name,
                    format!("metadata.{field}: Invalid value: field is immutable"),
                ));
            }
        }
        self.commit_update(key, existing, patched, writer)
    }

    /// Stores `object` in place of `existing`, with the server-owned fields kept. An update that
    /// changes nothing is a no-op and keeps the resourceVersion, as on a real server.
    fn commit_update(
        &mut self,
        key: &Key,
        existing: Value,
        mut object: Value,
        writer: Writer,
    ) -> Result<Value, ApiError> {
        let mut meta = take_meta(&mut object);
        if writer == Writer::Api {
            validate_labels(key.kind, &key.name, meta.labels.as_ref())?;
        }
        let mut old = existing.clone();
        let old_meta = take_meta(&mut old);
        meta.name = old_meta.name;
        meta.namespace = old_meta.namespace;
        meta.uid = old_meta.uid;
        meta.creation_timestamp = old_meta.creation_timestamp;
        meta.resource_version = old_meta.resource_version;
        meta.generation = old_meta.generation;
        meta.deletion_timestamp = old_meta.deletion_timestamp;
        meta.generate_name = old_meta.generate_name;
        put_meta(&mut object, &meta)?;
        if writer == Writer::Api {
            // `status` is a subresource: writes to the main resource leave it as it was.
            match existing.get("status") {
                Some(status) => set_member(&mut object, "status", status.clone()),
                None => remove_member(&mut object, "status"),
            }
        }
        if object == existing {
            return Ok(existing);
        }
        if key.kind.tracks_generation() && object.get("spec") != existing.get("spec") {
            meta.generation = Some(meta.generation.unwrap_or(0) + 1);
        }
        meta.resource_version = Some(self.bump().to_string());
        put_meta(&mut object, &meta)?;
        self.objects.insert(key.clone(), object.clone());
        Ok(object)
    }

    /// Deletes an object and returns it as it was.
    pub(crate) fn delete(&mut self, key: &Key) -> Result<Value, ApiError> {
        let object = self
            .objects
            .remove(key)
            .ok_or_else(|| ApiError::not_found(key.kind, &key.name))?;
        // A deletion is a change of the store (an etcd revision) that watchers must see.
        self.bump();
        Ok(object)
    }
}

/// A `metadata.resourceVersion` in a body is an optimistic-concurrency precondition.
fn check_precondition(key: &Key, body: &Value, existing: &Value) -> Result<(), ApiError> {
    match body
        .pointer("/metadata/resourceVersion")
        .and_then(Value::as_str)
    {
        Some(wanted) if !wanted.is_empty() => {
            let current = existing
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str);
            if current == Some(wanted) {
                Ok(())
            } else {
                Err(ApiError::conflict(key.kind, &key.name))
            }
        }
        _ => Ok(()),
    }
}

/// Takes `metadata` out of an object, typed (default when absent or malformed; objects here
/// were normalized through their k8s-openapi type, so it is always present).
fn take_meta(object: &mut Value) -> ObjectMeta {
    object
        .as_object_mut()
        .and_then(|members| members.remove("metadata"))
        .and_then(|meta| serde_json::from_value(meta).ok())
        .unwrap_or_default()
}

/// Puts `metadata` back into an object.
fn put_meta(object: &mut Value, meta: &ObjectMeta) -> Result<(), ApiError> {
    let meta = serde_json::to_value(meta).map_err(|e| {
        ApiError::new(
            500,
            "InternalError",
            format!("Internal error occurred: encoding metadata: {e}"),
        )
    })?;
    set_member(object, "metadata", meta);
    Ok(())
}

fn set_member(object: &mut Value, key: &str, value: Value) {
    if let Value::Object(members) = object {
        members.insert(key.to_owned(), value);
    }
}

fn remove_member(object: &mut Value, key: &str) {
    if let Value::Object(members) = object {
        members.remove(key);
    }
}

/// The current time as the API server records it: whole seconds.
pub(crate) fn now() -> Time {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| {
            i64::try_from(since.as_secs()).unwrap_or(i64::MAX)
        });
    Time(Timestamp::from_second(seconds).unwrap_or(Timestamp::UNIX_EPOCH))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn node(name: &str, labels: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels}})
    }

    #[test]
    fn create_assigns_uid_resource_version_and_timestamp() {
        let mut store = Store::default();
        let created = store
            .create(Kind::Node, "", node("n1", json!({"a": "1"})), Writer::Api)
            .expect("a valid node is created");
        assert_eq!(
            created.pointer("/metadata/resourceVersion"),
            Some(&json!("1"))
        );
        assert!(
            created
                .pointer("/metadata/uid")
                .is_some_and(Value::is_string)
        );
        assert!(
            created
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .is_some_and(|t| t.ends_with('Z'))
        );
    }

    #[test]
    fn creating_a_node_twice_is_already_exists() {
        let mut store = Store::default();
        store
            .create(Kind::Node, "", node("n1", json!({})), Writer::Api)
            .expect("first create succeeds");
        let err = store
            .create(Kind::Node, "", node("n1", json!({})), Writer::Api)
            .expect_err("second create fails");
        assert_eq!((err.code, err.reason), (409, "AlreadyExists"));
    }

    #[test]
    fn a_patch_that_changes_nothing_keeps_the_resource_version() {
        let mut store = Store::default();
        store
            .create(Kind::Node, "", node("n1", json!({"a": "1"})), Writer::Api)
            .expect("create");
        let key = Key::new(Kind::Node, "", "n1");
        let same = store
            .patch(
                &key,
                &json!({"metadata": {"labels": {"a": "1"}}}),
                PatchKind::Merge,
                Writer::Api,
            )
            .expect("patch");
        assert_eq!(same.pointer("/metadata/resourceVersion"), Some(&json!("1")));
        let changed = store
            .patch(
                &key,
                &json!({"metadata": {"labels": {"a": "2"}}}),
                PatchKind::Merge,
                Writer::Api,
            )
            .expect("patch");
        assert_eq!(
            changed.pointer("/metadata/resourceVersion"),
            Some(&json!("2"))
        );
    }

    #[test]
    fn a_stale_resource_version_in_a_patch_is_a_conflict() {
        let mut store = Store::default();
        store
            .create(Kind::Node, "", node("n1", json!({})), Writer::Api)
            .expect("create");
        let key = Key::new(Kind::Node, "", "n1");
        let err = store
            .patch(
                &key,
                &json!({"metadata": {"resourceVersion": "99", "labels": {"a": "1"}}}),
                PatchKind::Merge,
                Writer::Api,
            )
            .expect_err("stale precondition");
        assert_eq!((err.code, err.reason), (409, "Conflict"));
    }

    #[test]
    fn invalid_label_keys_and_values_are_rejected_with_422() {
        let mut store = Store::default();
        store
            .create(Kind::Node, "", node("n1", json!({})), Writer::Api)
            .expect("create");
        let key = Key::new(Kind::Node, "", "n1");
        for labels in [
            json!({"bad key": "x"}),
            json!({"-a": "x"}),
            json!({"Upper.Case/a": "x"}),
            json!({"a": "bad value"}),
            json!({"a": "x".repeat(64)}),
        ] {
            let err = store
                .patch(
                    &key,
                    &json!({"metadata": {"labels": labels}}),
                    PatchKind::Merge,
                    Writer::Api,
                )
                .expect_err("invalid label");
            assert_eq!((err.code, err.reason), (422, "Invalid"), "{labels}");
        }
        store
            .patch(
                &key,
                &json!({"metadata": {"labels": {"example.com/a_b.c": "", "snmp_enabled": "true"}}}),
                PatchKind::Merge,
                Writer::Api,
            )
            .expect("valid labels are accepted");
    }

    #[test]
    fn field_selectors_on_unsupported_fields_are_refused() {
        let err = Selectors::parse(Kind::Node, None, Some("spec.nodeName=a"))
            .expect_err("nodes have no spec.nodeName selector");
        assert_eq!(err.code, 400);
    }

    #[test]
    fn daemonset_generation_counts_spec_changes_only() {
        let mut store = Store::default();
        let ds = json!({
            "apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": "snmp"},
            "spec": {"selector": {"matchLabels": {"app": "snmp"}},
                     "template": {"metadata": {"labels": {"app": "snmp"}},
                                  "spec": {"containers": [{"name": "snmp", "image": "snmp:1"}]}}}
        });
        store
            .create(Kind::DaemonSet, "default", ds, Writer::Api)
            .expect("create");
        let key = Key::new(Kind::DaemonSet, "default", "snmp");
        let labelled = store
            .patch(
                &key,
                &json!({"metadata": {"labels": {"x": "y"}}}),
                PatchKind::Merge,
                Writer::Api,
            )
            .expect("label patch");
        assert_eq!(labelled.pointer("/metadata/generation"), Some(&json!(1)));
        let updated = store
            .patch(
                &key,
                &json!({"spec": {"template": {"spec": {"containers": [{"name": "snmp", "image": "snmp:2"}]}}}}),
                PatchKind::Strategic,
                Writer::Api,
            )
            .expect("image patch");
        assert_eq!(updated.pointer("/metadata/generation"), Some(&json!(2)));
    }
}
