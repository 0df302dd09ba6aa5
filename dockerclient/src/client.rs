//! [`DockerClient`]: the Docker Engine API, in this project's types.

use std::fmt;
use std::time::Duration;

use bollard::Docker;
use bollard::query_parameters::{
    InspectContainerOptions, KillContainerOptions, StartContainerOptions, StopContainerOptions,
    WaitContainerOptions,
};
use ctrmgr_core::ports::ExitStatus;
use ctrmgr_core::types::ContainerId;
use futures_util::StreamExt;

use crate::error::Error;

/// The environment variable naming the engine, as the `docker` CLI reads it.
pub const DOCKER_HOST_ENV: &str = "DOCKER_HOST";

/// The engine address used when `DOCKER_HOST` is unset or empty.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// How long one request may take to be answered (the response headers), unless a call says
/// otherwise: `stop` adds its grace period; `wait` and an exec's output are not bounded.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

mod exec;
mod manage;

pub use crate::spec::{
    ApiVersion, ContainerSpec, ContainerSummary, EngineVersion, ExecSpec, NetworkMode,
};

/// A client of one Docker Engine, speaking one pinned API version.
///
/// Every operation takes a container id or name. Cloning is cheap and shares the connection
/// settings.
#[derive(Clone)]
pub struct DockerClient {
    docker: Docker,
    host: String,
    api_version: ApiVersion,
    request_timeout: Duration,
}

impl fmt::Debug for DockerClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DockerClient")
            .field("host", &self.host)
            .field("api_version", &self.api_version)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

fn container(id: &ContainerId) -> String {
    format!("container {id}")
}

/// A full container id: 64 lower-case hex digits.
fn is_full_id(id: &str) -> bool {
    id.len() == 64
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

impl DockerClient {
    /// Connects to the engine named by `DOCKER_HOST` (`unix://…` or `tcp://…`), or to
    /// [`DEFAULT_HOST`], and negotiates the API version (one `/version` request).
    pub async fn connect() -> Result<Self, Error> {
        Self::connect_to(&Self::host_from_env()).await
    }

    /// The engine address `DOCKER_HOST` names, or [`DEFAULT_HOST`].
    pub fn host_from_env() -> String {
        std::env::var(DOCKER_HOST_ENV)
            .ok()
            .filter(|h| !h.trim().is_empty())
            .unwrap_or_else(|| DEFAULT_HOST.to_owned())
    }

    /// Connects to the engine at `host` and negotiates the API version: the engine's newest,
    /// or [`ApiVersion::newest_supported`] when the engine is newer than this client.
    pub async fn connect_to(host: &str) -> Result<Self, Error> {
        let probe = Self::pinned_docker(host, None, DEFAULT_REQUEST_TIMEOUT)?;
        let version = probe.version().await.map_err(|source| Error::Connect {
            host: host.to_owned(),
            source,
        })?;
        let reported = version.api_version.unwrap_or_default();
        let engine_api: ApiVersion = reported.parse().map_err(|_| Error::ApiVersion {
            host: host.to_owned(),
            reported: reported.clone(),
        })?;
        let api_version = engine_api.min(ApiVersion::newest_supported());
        tracing::debug!(%host, engine = ?version.version, %api_version, "connected to the docker engine");
        Self::connect_pinned(host, api_version)
    }

    /// Connects to the engine at `host` speaking `api_version`, without asking the engine
    /// anything (no round trip): every request goes to `/v<api_version>/…`, so an engine
    /// older than that version refuses each request.
    pub fn connect_pinned(host: &str, api_version: ApiVersion) -> Result<Self, Error> {
        let docker = Self::pinned_docker(host, Some(api_version), DEFAULT_REQUEST_TIMEOUT)?;
        Ok(DockerClient {
            docker,
            host: host.to_owned(),
            api_version,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        })
    }

    /// Builds the library's client. bollard 0.21 sends unversioned paths (the engine then
    /// serves its own newest version); a request modifier puts `/v<version>` in front, as the
    /// `docker` CLI does, so that the engine speaks the version this client was built for.
    fn pinned_docker(
        host: &str,
        api_version: Option<ApiVersion>,
        timeout: Duration,
    ) -> Result<Docker, Error> {
        let client_version = api_version.map(|v| bollard::ClientVersion {
            major_version: usize::from(v.major),
            minor_version: usize::from(v.minor),
        });
        let version = client_version
            .as_ref()
            .unwrap_or(bollard::API_DEFAULT_VERSION);
        let connect_error = |source| Error::Connect {
            host: host.to_owned(),
            source,
        };
        let docker = if host.starts_with("unix://") {
            Docker::connect_with_unix(host, timeout.as_secs(), version).map_err(connect_error)?
        } else if host.starts_with("tcp://") || host.starts_with("http://") {
            Docker::connect_with_http(host, timeout.as_secs(), version).map_err(connect_error)?
        } else {
            return Err(connect_error(
                bollard::errors::Error::UnsupportedURISchemeError {
                    uri: host.to_owned(),
                },
            ));
        };
        let Some(v) = api_version else {
            return Ok(docker);
        };
        let prefix = format!("/v{v}");
        Ok(docker.with_request_modifier(move |mut req| {
            let uri = req.uri();
            let path_and_query = uri.path_and_query().map_or("/", |pq| pq.as_str());
            if path_and_query.starts_with("/v1.") {
                return req;
            }
            let rewritten = format!(
                "{}://{}{}{}",
                uri.scheme_str().unwrap_or("http"),
                uri.authority().map_or("", |a| a.as_str()),
                prefix,
                path_and_query
            );
            match rewritten.parse() {
                Ok(versioned) => *req.uri_mut() = versioned,
                Err(e) => tracing::warn!(uri = %rewritten, error = %e, "cannot add the API version to a request"),
            }
            req
        }))
    }

    /// A copy whose requests may take `timeout` to be answered.
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.docker = self.docker.with_timeout(timeout);
        self.request_timeout = timeout;
        self
    }

    /// The client library's handle, for this crate's test support.
    #[cfg(feature = "testing")]
    pub(crate) fn bollard(&self) -> &Docker {
        &self.docker
    }

    /// The engine address.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The API version this client speaks.
    pub fn api_version(&self) -> ApiVersion {
        self.api_version
    }

    /// Whether the engine answers `/_ping`.
    pub async fn ping(&self) -> Result<(), Error> {
        self.docker
            .ping()
            .await
            .map(drop)
            .map_err(|e| Error::engine("ping", format!("engine {}", self.host), e))
    }

    /// The engine's release and newest API version.
    pub async fn engine_version(&self) -> Result<EngineVersion, Error> {
        let target = || format!("engine {}", self.host);
        let v = self
            .docker
            .version()
            .await
            .map_err(|e| Error::engine("query the version of", target(), e))?;
        let reported = v.api_version.unwrap_or_default();
        let api_version = reported.parse().map_err(|_| Error::ApiVersion {
            host: self.host.clone(),
            reported: reported.clone(),
        })?;
        Ok(EngineVersion {
            version: v.version.unwrap_or_default(),
            api_version,
        })
    }

    /// Starts a container; starting a running one is success (the engine's 304). Returns its
    /// full id.
    pub async fn start(&self, id: &ContainerId) -> Result<ContainerId, Error> {
        self.docker
            .start_container(id.as_str(), None::<StartContainerOptions>)
            .await
            .map_err(|e| Error::engine("start", container(id), e))?;
        tracing::debug!(container = %id, "started");
        if is_full_id(id.as_str()) {
            Ok(id.clone())
        } else {
            self.full_id(id).await
        }
    }

    /// Stops a container: SIGTERM (or its stop signal), then SIGKILL after `grace_secs`.
    /// Stopping a stopped one is success (the engine's 304). Returns once it has stopped.
    pub async fn stop(&self, id: &ContainerId, grace_secs: u32) -> Result<(), Error> {
        let options = StopContainerOptions {
            t: Some(i32::try_from(grace_secs).unwrap_or(i32::MAX)),
            signal: None,
        };
        // The engine answers only once the container has stopped, so the request may take
        // the whole grace period on top of the usual answer time.
        let docker = self
            .docker
            .clone()
            .with_timeout(self.request_timeout + Duration::from_secs(u64::from(grace_secs)));
        docker
            .stop_container(id.as_str(), Some(options))
            .await
            .map_err(|e| Error::engine("stop", container(id), e))?;
        tracing::debug!(container = %id, grace_secs, "stopped");
        Ok(())
    }

    /// Kills a container with SIGKILL; killing one that does not run is success.
    pub async fn kill(&self, id: &ContainerId) -> Result<(), Error> {
        match self
            .docker
            .kill_container(id.as_str(), None::<KillContainerOptions>)
            .await
        {
            Ok(()) => {
                tracing::debug!(container = %id, "killed");
                Ok(())
            }
            // The engine's 409 "Container … is not running": already the outcome asked for.
            // Other conflicts (a container being restarted) stay errors.
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 409,
                message,
            }) if message.contains("is not running") => {
                tracing::debug!(container = %id, "kill: not running");
                Ok(())
            }
            Err(e) => Err(Error::engine("kill", container(id), e)),
        }
    }

    /// Waits until the container is not running and returns its exit code, like `docker
    /// wait`: a non-zero code is an [`ExitStatus`], not an error. A container that never ran
    /// returns at once.
    pub async fn wait(&self, id: &ContainerId) -> Result<ExitStatus, Error> {
        let mut answers = self
            .docker
            .wait_container(id.as_str(), None::<WaitContainerOptions>);
        match answers.next().await {
            Some(Ok(answer)) => Ok(ExitStatus {
                code: answer.status_code,
            }),
            // bollard reports a non-zero exit as an error; for us it is the answer.
            Some(Err(bollard::errors::Error::DockerContainerWaitError { code, error })) => {
                if !error.is_empty() {
                    tracing::debug!(container = %id, code, %error, "wait: the engine reported an error with the exit code");
                }
                Ok(ExitStatus { code })
            }
            Some(Err(e)) => Err(Error::engine("wait for", container(id), e)),
            None => Err(Error::Unexpected {
                op: "wait for",
                target: container(id),
                detail: "the engine closed the answer without an exit code".to_owned(),
            }),
        }
    }

    async fn inspect_model(
        &self,
        id: &ContainerId,
    ) -> Result<bollard::models::ContainerInspectResponse, Error> {
        self.docker
            .inspect_container(id.as_str(), None::<InspectContainerOptions>)
            .await
            .map_err(|e| Error::engine("inspect", container(id), e))
    }

    /// The engine's inspect document of a container, exactly as the engine sent it (the
    /// bytes of one element of `docker inspect`'s array).
    pub async fn inspect_raw(&self, id: &ContainerId) -> Result<Vec<u8>, Error> {
        // The id's characters ([A-Za-z0-9_.-]) need no escaping in a path.
        let path = format!("/v{}/containers/{id}/json", self.api_version);
        crate::raw::get(&self.host, &path, self.request_timeout)
            .await
            .map(|body| body.to_vec())
            .map_err(|e| Error::engine("inspect", container(id), e))
    }

    /// The engine's inspect document of a container as JSON, every field the engine sent
    /// included (`null`s too).
    pub async fn inspect(&self, id: &ContainerId) -> Result<serde_json::Value, Error> {
        let raw = self.inspect_raw(id).await?;
        serde_json::from_slice(&raw).map_err(|e| Error::Malformed {
            op: "inspect",
            target: container(id),
            source: e.into(),
        })
    }

    /// What `docker inspect <container>` prints: a JSON array of the engine's document, in
    /// the engine's key order, indented by four spaces, with a final newline.
    pub async fn inspect_json(&self, id: &ContainerId) -> Result<String, Error> {
        let raw = self.inspect_raw(id).await?;
        let mut array = Vec::with_capacity(raw.len() + 2);
        array.push(b'[');
        array.extend_from_slice(&raw);
        array.push(b']');
        let mut out = Vec::with_capacity(raw.len() * 2);
        let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
        let mut reader = serde_json::Deserializer::from_slice(&array);
        let mut writer = serde_json::Serializer::with_formatter(&mut out, formatter);
        serde_transcode::transcode(&mut reader, &mut writer).map_err(|e| Error::Malformed {
            op: "inspect",
            target: container(id),
            source: e.into(),
        })?;
        out.push(b'\n');
        String::from_utf8(out).map_err(|e| Error::Unexpected {
            op: "inspect",
            target: container(id),
            detail: e.to_string(),
        })
    }

    /// The full id of a container named by id, id prefix or name.
    pub async fn full_id(&self, id: &ContainerId) -> Result<ContainerId, Error> {
        let model = self.inspect_model(id).await?;
        let full = model.id.unwrap_or_default();
        ContainerId::new(&full).map_err(|e| Error::Unexpected {
            op: "inspect",
            target: container(id),
            detail: e.to_string(),
        })
    }

    /// Whether the container exists and runs; a missing container is `false`.
    pub async fn is_running(&self, id: &ContainerId) -> Result<bool, Error> {
        match self.inspect_model(id).await {
            Ok(model) => Ok(model.state.and_then(|s| s.running).unwrap_or(false)),
            Err(Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_64_lower_hex_digits_are_a_full_id() {
        assert!(is_full_id(&"a1".repeat(32)));
        assert!(!is_full_id(&"A1".repeat(32)));
        assert!(!is_full_id("snmp"));
        assert!(!is_full_id(&"a".repeat(63)));
    }
}
