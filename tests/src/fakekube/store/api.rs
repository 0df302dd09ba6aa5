//! What the store names and answers with: kinds, keys, API errors, patch kinds, writers.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{Node, Pod};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The kinds of object the fake serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    /// `v1` Node, cluster-scoped.
    Node,
    /// `v1` Pod, namespaced.
    Pod,
    /// `apps/v1` DaemonSet, namespaced.
    DaemonSet,
}

impl Kind {
    /// The `kind` field.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Node => "Node",
            Self::Pod => "Pod",
            Self::DaemonSet => "DaemonSet",
        }
    }

    /// The resource name in URLs and in Status details.
    pub(crate) fn plural(self) -> &'static str {
        match self {
            Self::Node => "nodes",
            Self::Pod => "pods",
            Self::DaemonSet => "daemonsets",
        }
    }

    /// The group of the resource as it appears in Status details (empty for the core group).
    pub(crate) fn group(self) -> &'static str {
        match self {
            Self::Node | Self::Pod => "",
            Self::DaemonSet => "apps",
        }
    }

    /// The `apiVersion` field.
    pub(crate) fn api_version(self) -> &'static str {
        match self {
            Self::Node | Self::Pod => "v1",
            Self::DaemonSet => "apps/v1",
        }
    }

    /// Whether objects live in a namespace.
    pub(crate) fn namespaced(self) -> bool {
        !matches!(self, Self::Node)
    }

    /// Whether `metadata.generation` tracks changes of `spec` (as for workload controllers).
    pub(super) fn tracks_generation(self) -> bool {
        matches!(self, Self::DaemonSet)
    }

    /// Round-trips an object through its typed form, the way the API server decodes a body.
    pub(super) fn normalize(self, object: Value) -> Result<Value, String> {
        match self {
            Self::Node => round_trip::<Node>(object),
            Self::Pod => round_trip::<Pod>(object),
            Self::DaemonSet => round_trip::<DaemonSet>(object),
        }
    }

    /// The field selectors the API server supports for this kind (a small, real subset).
    pub(super) fn supports_field(self, field: &str) -> bool {
        matches!(
            (self, field),
            (_, "metadata.name")
                | (Self::Pod | Self::DaemonSet, "metadata.namespace")
                | (
                    Self::Pod,
                    "spec.nodeName" | "status.phase" | "spec.restartPolicy"
                )
                | (Self::Node, "spec.unschedulable")
        )
    }
}

/// Decodes into `K` and encodes again.
pub(super) fn round_trip<K: Serialize + DeserializeOwned>(object: Value) -> Result<Value, String> {
    let typed: K = serde_json::from_value(object).map_err(|e| e.to_string())?;
    serde_json::to_value(&typed).map_err(|e| e.to_string())
}

/// Where an object lives: its kind, namespace (empty for cluster-scoped kinds) and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Key {
    /// The kind.
    pub(crate) kind: Kind,
    /// The namespace, empty for cluster-scoped kinds.
    pub(crate) namespace: String,
    /// The name.
    pub(crate) name: String,
}

impl Key {
    /// The key of an object of `kind` named `name` in `namespace` (ignored when cluster-scoped).
    pub(crate) fn new(kind: Kind, namespace: &str, name: &str) -> Self {
        Self {
            kind,
            namespace: if kind.namespaced() {
                namespace.to_owned()
            } else {
                String::new()
            },
            name: name.to_owned(),
        }
    }
}

/// A failure the API server reports as a `Status` object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// HTTP status code.
    pub(crate) code: u16,
    /// The machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, …).
    pub(crate) reason: &'static str,
    /// The human-readable message.
    pub(crate) message: String,
    /// The object concerned, for `details`: (name, group, kind plural).
    pub(crate) details: Option<(String, &'static str, &'static str)>,
}

impl ApiError {
    /// An error about no object in particular.
    pub(crate) fn new(code: u16, reason: &'static str, message: impl Into<String>) -> Self {
        Self {
            code,
            reason,
            message: message.into(),
            details: None,
        }
    }

    pub(super) fn about(mut self, kind: Kind, name: &str) -> Self {
        self.details = Some((name.to_owned(), kind.group(), kind.plural()));
        self
    }

    /// 404 for a missing object, worded like the API server.
    pub(crate) fn not_found(kind: Kind, name: &str) -> Self {
        Self::new(
            404,
            "NotFound",
            format!("{} \"{name}\" not found", qualified(kind)),
        )
        .about(kind, name)
    }

    pub(super) fn already_exists(kind: Kind, name: &str) -> Self {
        Self::new(
            409,
            "AlreadyExists",
            format!("{} \"{name}\" already exists", qualified(kind)),
        )
        .about(kind, name)
    }

    pub(super) fn conflict(kind: Kind, name: &str) -> Self {
        Self::new(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {} \"{name}\": the object has been modified; \
                 please apply your changes to the latest version and try again",
                qualified(kind)
            ),
        )
        .about(kind, name)
    }

    pub(super) fn invalid(kind: Kind, name: &str, why: impl std::fmt::Display) -> Self {
        Self::new(
            422,
            "Invalid",
            format!("{} \"{name}\" is invalid: {why}", kind.name()),
        )
        .about(kind, name)
    }

    /// 400 for a body or parameter the server cannot use.
    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message)
    }
}

/// `pods` or `daemonsets.apps`, as the API server names resources in messages.
pub(super) fn qualified(kind: Kind) -> String {
    if kind.group().is_empty() {
        kind.plural().to_owned()
    } else {
        format!("{}.{}", kind.plural(), kind.group())
    }
}

/// How a PATCH body is to be applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
}

/// Who writes: a client of the REST API, checked like by a real server, or the test handle,
/// which plays the kubelet and the controllers and is trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Writer {
    /// A client of the REST API: labels are validated, and `status` changes are ignored because
    /// `status` is a subresource of Nodes, Pods and DaemonSets.
    Api,
    /// The test handle: `status` is written as given and labels are not validated.
    Handle,
}
