//! The plain types [`crate::DockerClient`] takes and gives: API versions, container and exec
//! specifications, summaries.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use ctrmgr_core::types::ContainerId;

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

/// What [`crate::DockerClient::create`] creates. Auto-remove is always off: the owner of a
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
    /// The IPC mode (`--ipc`): `shareable` for a pod's sandbox, `container:<id>` for a pod's
    /// container, which kubelet's Docker runtime joins to its sandbox's; the engine's default
    /// when `None`.
    pub ipc_mode: Option<String>,
    /// A private cgroup namespace (`--cgroupns private`), as Docker gives every container on
    /// cgroup v2: `/proc/self/cgroup` then names no container id.
    pub cgroupns_private: bool,
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

/// One container as [`crate::DockerClient::list`] reports it.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_versions_parse_and_order() {
        assert_eq!("1.41".parse::<ApiVersion>(), Ok(ApiVersion::V1_41));
        assert!("1".parse::<ApiVersion>().is_err());
        assert!("x.41".parse::<ApiVersion>().is_err());
        assert!(ApiVersion::V1_41 < "1.53".parse().expect("a version"));
        assert!(ApiVersion::newest_supported() >= ApiVersion::V1_41);
        assert_eq!(ApiVersion::V1_41.to_string(), "1.41");
    }
}
