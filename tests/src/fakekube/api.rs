//! The REST surface: routing, authentication, and the JSON a real API server answers with
//! (objects, `*List`s, `Status` failures, `version.Info`).

use serde_json::{Value, json};

use super::Shared;
use super::store::{ApiError, Key, Kind, PatchKind, Selectors, Writer};

/// The largest request body accepted, like the API server's 3 MiB limit.
pub(crate) const MAX_BODY_BYTES: usize = 3 * 1024 * 1024;

/// What the server is asked, once the body has been read.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    /// HTTP method, upper case.
    pub(crate) method: &'a str,
    /// Path, without the query.
    pub(crate) path: &'a str,
    /// Raw query string.
    pub(crate) query: Option<&'a str>,
    /// `Content-Type` without parameters, lower case.
    pub(crate) content_type: Option<&'a str>,
    /// The `Authorization` header.
    pub(crate) authorization: Option<&'a str>,
    /// The body.
    pub(crate) body: &'a [u8],
}

/// An HTTP answer.
#[derive(Debug)]
pub(crate) struct Reply {
    /// HTTP status code.
    pub(crate) status: u16,
    /// `Content-Type`.
    pub(crate) content_type: &'static str,
    /// Body.
    pub(crate) body: Vec<u8>,
}

impl Reply {
    /// A JSON answer.
    pub(crate) fn json(status: u16, value: &Value) -> Self {
        Self {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(value).unwrap_or_default(),
        }
    }

    fn text(status: u16, content_type: &'static str, text: impl Into<String>) -> Self {
        Self {
            status,
            content_type,
            body: text.into().into_bytes(),
        }
    }

    /// A `Status` failure.
    pub(crate) fn failure(error: &ApiError) -> Self {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": error.message,
            "reason": error.reason,
            "code": error.code,
        });
        if let Some((name, group, kind)) = &error.details {
            let mut details = json!({"name": name, "kind": kind});
            if !group.is_empty() {
                details["group"] = json!(group);
            }
            status["details"] = details;
        }
        Self::json(error.code, &status)
    }
}

/// The `version.Info` of the Kubernetes release the fake claims to be.
fn version_info() -> Value {
    json!({
        "major": "1",
        "minor": "33",
        "emulationMajor": "1",
        "emulationMinor": "33",
        "minCompatibilityMajor": "1",
        "minCompatibilityMinor": "32",
        "gitVersion": "v1.33.0",
        "gitCommit": "60a317eadfcb839692a68eab88b2096f4d708f4f",
        "gitTreeState": "clean",
        "buildDate": "2025-04-23T13:07:59Z",
        "goVersion": "go1.24.2",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

/// Paths anyone may read without credentials, as the `system:public-info-viewer` role allows
/// on a kubeadm cluster.
fn is_public(path: &str) -> bool {
    matches!(path, "/version" | "/readyz" | "/livez" | "/healthz")
}

/// Answers one request (faults have been applied by the caller).
pub(crate) fn handle(shared: &Shared, request: &Request<'_>) -> Reply {
    // `admin.conf` is what a node without credentials fetches to get them (the seed's join),
    // so it is served to anyone, over the verified TLS connection.
    if request.path == "/admin.conf" {
        return match request.method {
            "GET" => Reply::text(200, "application/yaml", shared.kubeconfig.clone()),
            _ => method_not_allowed(),
        };
    }
    match request.authorization {
        Some(header) if bearer(header) == Some(shared.token.as_str()) => {}
        None if is_public(request.path) => {}
        _ => return Reply::failure(&ApiError::new(401, "Unauthorized", "Unauthorized")),
    }
    match route(shared, request) {
        Ok(reply) => reply,
        Err(error) => Reply::failure(&error),
    }
}

/// The token of an `Authorization: Bearer <token>` header.
fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

fn method_not_allowed() -> Reply {
    Reply::failure(&ApiError::new(
        405,
        "MethodNotAllowed",
        "the server does not allow this method on the requested resource",
    ))
}

fn not_found_path() -> ApiError {
    ApiError::new(
        404,
        "NotFound",
        "the server could not find the requested resource",
    )
}

fn route(shared: &Shared, request: &Request<'_>) -> Result<Reply, ApiError> {
    let segments: Vec<&str> = request
        .path
        .trim_start_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    match segments.as_slice() {
        ["version"] => get_only(request, || Reply::json(200, &version_info())),
        ["readyz" | "livez" | "healthz"] => get_only(request, || {
            Reply::text(200, "text/plain; charset=utf-8", "ok")
        }),
        ["api", "v1", rest @ ..] => resource(shared, request, &[Kind::Node, Kind::Pod], rest),
        ["apis", "apps", "v1", rest @ ..] => resource(shared, request, &[Kind::DaemonSet], rest),
        _ => Err(not_found_path()),
    }
}

fn get_only(request: &Request<'_>, reply: impl FnOnce() -> Reply) -> Result<Reply, ApiError> {
    if request.method == "GET" {
        Ok(reply())
    } else {
        Ok(method_not_allowed())
    }
}

/// Dispatches `<group prefix>/<rest>` for the kinds of one API group.
fn resource(
    shared: &Shared,
    request: &Request<'_>,
    kinds: &[Kind],
    rest: &[&str],
) -> Result<Reply, ApiError> {
    let kind_of = |plural: &str| kinds.iter().copied().find(|k| k.plural() == plural);
    match rest {
        // All namespaces (namespaced kinds) or the collection (cluster-scoped kinds).
        [plural] => {
            let kind = kind_of(plural).ok_or_else(not_found_path)?;
            match (request.method, kind.namespaced()) {
                ("GET", _) => list(shared, request, kind, None),
                ("POST", false) => create(shared, request, kind, ""),
                _ => Ok(method_not_allowed()),
            }
        }
        [plural, name] => match kind_of(plural) {
            Some(kind) if !kind.namespaced() => object(shared, request, &Key::new(kind, "", name)),
            _ => Err(not_found_path()),
        },
        ["namespaces", namespace, plural] => match kind_of(plural) {
            Some(kind) if kind.namespaced() => match request.method {
                "GET" => list(shared, request, kind, Some(namespace)),
                "POST" => create(shared, request, kind, namespace),
                _ => Ok(method_not_allowed()),
            },
            _ => Err(not_found_path()),
        },
        ["namespaces", namespace, plural, name] => match kind_of(plural) {
            Some(kind) if kind.namespaced() => {
                object(shared, request, &Key::new(kind, namespace, name))
            }
            _ => Err(not_found_path()),
        },
        _ => Err(not_found_path()),
    }
}

/// The value of a query parameter, percent-decoded.
fn query_param(request: &Request<'_>, name: &str) -> Option<String> {
    let query = request.query?;
    form_urlencoded::parse(query.as_bytes())
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
}

fn list(
    shared: &Shared,
    request: &Request<'_>,
    kind: Kind,
    namespace: Option<&str>,
) -> Result<Reply, ApiError> {
    if query_param(request, "watch").is_some_and(|w| w == "true" || w == "1") {
        return Err(ApiError::bad_request(
            "watch is not supported by the fake API server",
        ));
    }
    let selectors = Selectors::parse(
        kind,
        query_param(request, "labelSelector").as_deref(),
        query_param(request, "fieldSelector").as_deref(),
    )?;
    let (items, resource_version) = shared.read(|store| {
        (
            store.list(kind, namespace, &selectors),
            store.resource_version(),
        )
    });
    // Items of a list carry no `kind`/`apiVersion` of their own, as from a real server.
    let items: Vec<Value> = items
        .into_iter()
        .map(|mut item| {
            if let Value::Object(members) = &mut item {
                members.remove("kind");
                members.remove("apiVersion");
            }
            item
        })
        .collect();
    Ok(Reply::json(
        200,
        &json!({
            "kind": format!("{}List", kind.name()),
            "apiVersion": kind.api_version(),
            "metadata": {"resourceVersion": resource_version.to_string()},
            "items": items,
        }),
    ))
}

/// The body as JSON, for a method that takes a whole object.
fn json_body(request: &Request<'_>) -> Result<Value, ApiError> {
    match request.content_type {
        Some("application/json") | None => {}
        Some(other) => {
            return Err(ApiError::new(
                415,
                "UnsupportedMediaType",
                format!(
                    "the body of the request was in an unknown format - accepted media types include: application/json; got {other}"
                ),
            ));
        }
    }
    serde_json::from_slice(request.body).map_err(|e| {
        ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
    })
}

fn create(
    shared: &Shared,
    request: &Request<'_>,
    kind: Kind,
    namespace: &str,
) -> Result<Reply, ApiError> {
    let body = json_body(request)?;
    let created = shared.write(|store| store.create(kind, namespace, body, Writer::Api))?;
    Ok(Reply::json(201, &created))
}

/// GET, PUT, PATCH or DELETE of one object.
fn object(shared: &Shared, request: &Request<'_>, key: &Key) -> Result<Reply, ApiError> {
    match request.method {
        "GET" => shared
            .read(|store| store.get(key))
            .map(|o| Reply::json(200, &o)),
        "PUT" => {
            let body = json_body(request)?;
            shared
                .write(|store| store.replace(key, body, Writer::Api))
                .map(|o| Reply::json(200, &o))
        }
        "PATCH" => {
            let patch_kind = match request.content_type {
                Some("application/merge-patch+json") => PatchKind::Merge,
                Some("application/strategic-merge-patch+json") => PatchKind::Strategic,
                other => {
                    return Err(ApiError::new(
                        415,
                        "UnsupportedMediaType",
                        format!(
                            "the body of the request was in an unknown format - accepted media types include: application/merge-patch+json, application/strategic-merge-patch+json (the fake API server supports no other patch type); got {}",
                            other.unwrap_or("no content type")
                        ),
                    ));
                }
            };
            let patch: Value = serde_json::from_slice(request.body).map_err(|e| {
                ApiError::bad_request(format!("the body of the request could not be decoded: {e}"))
            })?;
            shared
                .write(|store| store.patch(key, &patch, patch_kind, Writer::Api))
                .map(|o| Reply::json(200, &o))
        }
        "DELETE" => shared
            .write(|store| store.delete(key))
            .map(|o| Reply::json(200, &o)),
        _ => Ok(method_not_allowed()),
    }
}
