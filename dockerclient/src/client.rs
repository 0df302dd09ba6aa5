//! [`DockerClient`]: the Docker Engine API, in this project's types.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use bollard::Docker;
use bollard::container::LogOutput;
use bollard::exec::{CreateExecOptions, StartExecOptions, StartExecResults};
use bollard::models::{ContainerCreateBody, HostConfig};
use bollard::query_parameters::{
    CreateContainerOptions, CreateImageOptions, InspectContainerOptions, KillContainerOptions,
    ListContainersOptions, RemoveContainerOptions, RemoveImageOptions, RenameContainerOptions,
    StartContainerOptions, StopContainerOptions, WaitContainerOptions,
};
use ctrmgr_core::ports::ExitStatus;
use ctrmgr_core::types::ContainerId;
use futures_util::StreamExt;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};

use crate::error::Error;

/// The environment variable naming the engine, as the `docker` CLI reads it.
pub const DOCKER_HOST_ENV: &str = "DOCKER_HOST";

/// The engine address used when `DOCKER_HOST` is unset or empty.
pub const DEFAULT_HOST: &str = "unix:///var/run/docker.sock";

/// How long one request may take to be answered (the response headers), unless a call says
/// otherwise: `stop` adds its grace period; `wait` and an exec's output are not bounded.
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(120);

/// A Docker Engine API version (`1.41`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ApiVersion {
    /// The major number (1).
    pub major: u16,
    /// The minor number (41).
    pub minor: u16,
}

impl ApiVersion {
    /// API 1.41, the version of Docker 20.10 (Debian 12's `docker.io`, SONiC's engine).
    pub const V1_41: ApiVersion = ApiVersion {
        major: 1,
        minor: 41,
    };

    /// The newest version the client library models; a newer engine is spoken to at this one.
    pub fn newest_supported() -> ApiVersion {
        let v = bollard::API_DEFAULT_VERSION;
        ApiVersion {
            major: u16::try_from(v.major_version).unwrap_or(u16::MAX),
            minor: u16::try_from(v.minor_version).unwrap_or(u16::MAX),
        }
    }
}

impl fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

impl FromStr for ApiVersion {
    type Err = std::num::ParseIntError;

    /// Parses `MAJOR.MINOR`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (major, minor) = s.split_once('.').unwrap_or((s, ""));
        Ok(ApiVersion {
            major: major.parse()?,
            minor: minor.parse()?,
        })
    }
}

/// The network a created container joins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NetworkMode {
    /// No network but loopback (`--network none`).
    #[default]
    None,
    /// The host's network namespace (`--network host`), as SONiC features run.
    Host,
}

impl NetworkMode {
    /// The engine's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NetworkMode::None => "none",
            NetworkMode::Host => "host",
        }
    }
}

/// What [`DockerClient::create`] creates. Auto-remove is always off: the owner of a
/// container removes it, so that its exit code can still be read.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContainerSpec {
    /// The image reference (`ctrmgr-test/busybox:latest`).
    pub image: String,
    /// The container's name; the engine makes one up when `None`.
    pub name: Option<String>,
    /// The command (argv); the image's default when empty.
    pub cmd: Vec<String>,
    /// Environment entries, `NAME=value`.
    pub env: Vec<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// The network.
    pub network: NetworkMode,
    /// Bind mounts, `host-path:container-path[:ro]`.
    pub binds: Vec<String>,
    /// Join the network namespace of this container instead of `network`
    /// (`--network container:<id>`), as every container of a Kubernetes pod joins its pause
    /// (sandbox) container's.
    pub network_of: Option<ContainerId>,
}

impl ContainerSpec {
    /// A spec for `image` running `cmd`, no name, no network.
    pub fn new(image: impl Into<String>, cmd: &[&str]) -> Self {
        ContainerSpec {
            image: image.into(),
            cmd: cmd.iter().map(|s| (*s).to_owned()).collect(),
            ..ContainerSpec::default()
        }
    }
}

/// A command to run in a running container.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecSpec {
    /// The command (argv).
    pub cmd: Vec<String>,
    /// Allocate a terminal: stdout and stderr then arrive merged, on stdout.
    pub tty: bool,
    /// Extra environment entries, `NAME=value`.
    pub env: Vec<String>,
    /// The user to run as; the container's when `None`.
    pub user: Option<String>,
    /// The working directory; the container's when `None`.
    pub working_dir: Option<String>,
}

impl ExecSpec {
    /// An exec of `cmd` without a terminal.
    pub fn new(cmd: &[&str]) -> Self {
        ExecSpec {
            cmd: cmd.iter().map(|s| (*s).to_owned()).collect(),
            ..ExecSpec::default()
        }
    }
}

/// One container as [`DockerClient::list`] reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerSummary {
    /// The full id.
    pub id: ContainerId,
    /// The name, without the engine's leading `/`.
    pub name: Option<String>,
    /// The image reference it was created from.
    pub image: String,
    /// Its labels.
    pub labels: BTreeMap<String, String>,
    /// The engine's state word (`created`, `running`, `exited`, …).
    pub state: String,
}

impl ContainerSummary {
    /// Whether the container runs.
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }
}

/// The engine's version, as `docker version` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineVersion {
    /// The engine's release (`20.10.24+dfsg1`).
    pub version: String,
    /// The newest API version it speaks.
    pub api_version: ApiVersion,
}

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

    /// Runs a command in a running container, like `docker exec`: copies `stdin` (when
    /// given) to the command until it ends, writes the command's stdout and stderr to the
    /// given writers as they arrive (with a terminal, everything goes to `stdout`), and
    /// returns the command's exit code once its output has ended.
    ///
    /// The command's end, not the end of `stdin`, ends the exec: a `stdin` still waiting for
    /// input is dropped then. (A `tokio::io::stdin()` read in flight keeps a blocking thread
    /// until it returns; a command-line tool exits the process after the exec.) The terminal
    /// size of a `tty` exec is the engine's default.
    pub async fn exec(
        &self,
        id: &ContainerId,
        spec: &ExecSpec,
        stdin: Option<&mut (dyn AsyncRead + Unpin + Send)>,
        stdout: &mut (dyn AsyncWrite + Unpin + Send),
        stderr: &mut (dyn AsyncWrite + Unpin + Send),
    ) -> Result<ExitStatus, Error> {
        const OP: &str = "exec in";
        let options = CreateExecOptions {
            attach_stdin: Some(stdin.is_some()),
            attach_stdout: Some(true),
            attach_stderr: Some(true),
            tty: Some(spec.tty),
            env: (!spec.env.is_empty()).then(|| spec.env.clone()),
            cmd: Some(spec.cmd.clone()),
            user: spec.user.clone(),
            working_dir: spec.working_dir.clone(),
            ..CreateExecOptions::default()
        };
        let exec_id = self
            .docker
            .create_exec(id.as_str(), options)
            .await
            .map_err(|e| Error::engine(OP, container(id), e))?
            .id;
        let start = StartExecOptions {
            detach: false,
            tty: spec.tty,
            output_capacity: None,
        };
        let started = self
            .docker
            .start_exec(&exec_id, Some(start))
            .await
            .map_err(|e| Error::engine(OP, container(id), e))?;
        let StartExecResults::Attached { mut output, input } = started else {
            return Err(Error::Unexpected {
                op: OP,
                target: container(id),
                detail: "the engine started the exec detached".to_owned(),
            });
        };
        let io_error = |source| Error::Io {
            op: OP,
            target: container(id),
            source,
        };

        let feed = async move {
            let mut input = input;
            if let Some(stdin) = stdin {
                tokio::io::copy(stdin, &mut input).await?;
                // Half-close: the command reads end-of-file.
                input.shutdown().await?;
            }
            Ok::<(), std::io::Error>(())
        };
        tokio::pin!(feed);
        let mut feeding = true;
        loop {
            tokio::select! {
                chunk = output.next() => match chunk {
                    None => break,
                    Some(Ok(LogOutput::StdErr { message })) => {
                        stderr.write_all(&message).await.map_err(io_error)?;
                        stderr.flush().await.map_err(io_error)?;
                    }
                    Some(Ok(LogOutput::StdOut { message } | LogOutput::Console { message })) => {
                        stdout.write_all(&message).await.map_err(io_error)?;
                        stdout.flush().await.map_err(io_error)?;
                    }
                    Some(Ok(LogOutput::StdIn { .. })) => {}
                    Some(Err(e)) => return Err(Error::engine(OP, container(id), e)),
                },
                fed = &mut feed, if feeding => {
                    feeding = false;
                    // The command may exit before reading all its input; its output and exit
                    // code still tell what happened.
                    if let Err(e) = fed {
                        tracing::debug!(container = %id, error = %e, "exec: stdin copy ended early");
                    }
                }
            }
        }

        let inspected = self
            .docker
            .inspect_exec(&exec_id)
            .await
            .map_err(|e| Error::engine(OP, container(id), e))?;
        match inspected.exit_code {
            Some(code) => Ok(ExitStatus { code }),
            None => Err(Error::Unexpected {
                op: OP,
                target: container(id),
                detail: "the engine reported no exit code after the output ended".to_owned(),
            }),
        }
    }

    /// Renames a container.
    pub async fn rename(&self, id: &ContainerId, new_name: &str) -> Result<(), Error> {
        let options = RenameContainerOptions {
            name: new_name.to_owned(),
        };
        self.docker
            .rename_container(id.as_str(), options)
            .await
            .map_err(|e| Error::engine("rename", container(id), e))
    }

    /// Creates a container (not started) and returns its full id.
    pub async fn create(&self, spec: &ContainerSpec) -> Result<ContainerId, Error> {
        let target = || format!("container {}", spec.name.as_deref().unwrap_or("(unnamed)"));
        let options = CreateContainerOptions {
            name: spec.name.clone(),
            ..CreateContainerOptions::default()
        };
        let body = ContainerCreateBody {
            image: Some(spec.image.clone()),
            cmd: (!spec.cmd.is_empty()).then(|| spec.cmd.clone()),
            env: (!spec.env.is_empty()).then(|| spec.env.clone()),
            labels: Some(
                spec.labels
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect::<HashMap<_, _>>(),
            ),
            host_config: Some(HostConfig {
                network_mode: Some(match &spec.network_of {
                    Some(sandbox) => format!("container:{sandbox}"),
                    None => spec.network.as_str().to_owned(),
                }),
                auto_remove: Some(false),
                binds: (!spec.binds.is_empty()).then(|| spec.binds.clone()),
                ..HostConfig::default()
            }),
            ..ContainerCreateBody::default()
        };
        let created = self
            .docker
            .create_container(Some(options), body)
            .await
            .map_err(|e| Error::engine("create", target(), e))?;
        for warning in &created.warnings {
            tracing::warn!(container = %target(), %warning, "the engine warned while creating");
        }
        ContainerId::new(&created.id).map_err(|e| Error::Unexpected {
            op: "create",
            target: target(),
            detail: e.to_string(),
        })
    }

    /// Removes a container; `force` kills it first when it runs.
    pub async fn remove(&self, id: &ContainerId, force: bool) -> Result<(), Error> {
        let options = RemoveContainerOptions {
            force,
            ..RemoveContainerOptions::default()
        };
        self.docker
            .remove_container(id.as_str(), Some(options))
            .await
            .map_err(|e| Error::engine("remove", container(id), e))
    }

    /// Every container, running or not, that carries all the given labels; each filter is
    /// `key` (the label is set) or `key=value`.
    pub async fn list(&self, label_filters: &[&str]) -> Result<Vec<ContainerSummary>, Error> {
        let mut filters = HashMap::new();
        if !label_filters.is_empty() {
            filters.insert(
                "label".to_owned(),
                label_filters.iter().map(|f| (*f).to_owned()).collect(),
            );
        }
        let options = ListContainersOptions {
            all: true,
            filters: Some(filters),
            ..ListContainersOptions::default()
        };
        let target = || format!("containers with labels {label_filters:?}");
        let found = self
            .docker
            .list_containers(Some(options))
            .await
            .map_err(|e| Error::engine("list", target(), e))?;
        found
            .into_iter()
            .map(|c| {
                let id = ContainerId::new(c.id.as_deref().unwrap_or_default()).map_err(|e| {
                    Error::Unexpected {
                        op: "list",
                        target: target(),
                        detail: e.to_string(),
                    }
                })?;
                let name = c
                    .names
                    .unwrap_or_default()
                    .into_iter()
                    .next()
                    .map(|n| n.trim_start_matches('/').to_owned());
                Ok(ContainerSummary {
                    id,
                    name,
                    image: c.image.unwrap_or_default(),
                    labels: c.labels.unwrap_or_default().into_iter().collect(),
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                })
            })
            .collect()
    }

    /// Creates an image from a root file system tarball (`docker import`), tagged
    /// `reference` (`repo[:tag]`, tag `latest` when absent), applying `changes` (Dockerfile
    /// instructions among `CMD`, `ENTRYPOINT`, `ENV`, `EXPOSE`, `USER`, `VOLUME`, `WORKDIR`, as
    /// `docker import --change`); no registry is involved. Returns the image id (`sha256:…`).
    pub async fn import_image(
        &self,
        rootfs_tar: Vec<u8>,
        reference: &str,
        changes: &[&str],
    ) -> Result<String, Error> {
        let target = || format!("image {reference}");
        let (repo, tag) = split_reference(reference);
        let options = CreateImageOptions {
            from_src: Some("-".to_owned()),
            repo: Some(repo.to_owned()),
            tag: Some(tag.to_owned()),
            changes: changes.iter().map(|c| (*c).to_owned()).collect(),
            ..CreateImageOptions::default()
        };
        let mut progress = self.docker.create_image(
            Some(options),
            Some(bollard::body_full(rootfs_tar.into())),
            None,
        );
        while let Some(step) = progress.next().await {
            step.map_err(|e| Error::engine("import", target(), e))?;
        }
        self.image_id(reference)
            .await?
            .ok_or_else(|| Error::Unexpected {
                op: "import",
                target: target(),
                detail: "the image is missing after the import".to_owned(),
            })
    }

    /// Removes a local image by reference or id; `force` also removes it when containers
    /// use it or it has several tags.
    pub async fn remove_image(&self, reference: &str, force: bool) -> Result<(), Error> {
        let options = RemoveImageOptions {
            force,
            ..RemoveImageOptions::default()
        };
        self.docker
            .remove_image(reference, Some(options), None)
            .await
            .map(drop)
            .map_err(|e| Error::engine("remove", format!("image {reference}"), e))
    }

    /// The id of a local image, or `None` when there is no such image.
    pub async fn image_id(&self, reference: &str) -> Result<Option<String>, Error> {
        match self.docker.inspect_image(reference).await {
            Ok(image) => Ok(Some(image.id.unwrap_or_default())),
            Err(bollard::errors::Error::DockerResponseServerError {
                status_code: 404, ..
            }) => Ok(None),
            Err(e) => Err(Error::engine("inspect", format!("image {reference}"), e)),
        }
    }
}

/// Splits `repo[:tag]` into repository and tag; a `:` before the last `/` is a registry port.
fn split_reference(reference: &str) -> (&str, &str) {
    let name_start = reference.rfind('/').map_or(0, |i| i + 1);
    match reference[name_start..].rfind(':') {
        Some(i) => (
            &reference[..name_start + i],
            &reference[name_start + i + 1..],
        ),
        None => (reference, "latest"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_split_into_repository_and_tag() {
        assert_eq!(
            split_reference("ctrmgr-test/busybox:1"),
            ("ctrmgr-test/busybox", "1")
        );
        assert_eq!(split_reference("busybox"), ("busybox", "latest"));
        assert_eq!(
            split_reference("registry:5000/snmp"),
            ("registry:5000/snmp", "latest")
        );
        assert_eq!(
            split_reference("registry:5000/snmp:v2"),
            ("registry:5000/snmp", "v2")
        );
    }

    #[test]
    fn api_versions_parse_and_order() {
        assert_eq!("1.41".parse::<ApiVersion>(), Ok(ApiVersion::V1_41));
        assert!("1".parse::<ApiVersion>().is_err());
        assert!("x.41".parse::<ApiVersion>().is_err());
        assert!(ApiVersion::V1_41 < "1.53".parse().expect("a version"));
        assert!(ApiVersion::newest_supported() >= ApiVersion::V1_41);
        assert_eq!(ApiVersion::V1_41.to_string(), "1.41");
    }

    #[test]
    fn only_64_lower_hex_digits_are_a_full_id() {
        assert!(is_full_id(&"a1".repeat(32)));
        assert!(!is_full_id(&"A1".repeat(32)));
        assert!(!is_full_id("snmp"));
        assert!(!is_full_id(&"a".repeat(63)));
    }
}
