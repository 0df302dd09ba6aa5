//! [`Engine`]: the Docker Engine, connected on first use: `container state <f> up|down` runs inside
//! containers that usually have no engine socket, and needs the engine only in the rare case
//! where it must stop a container.

use std::sync::OnceLock;

use ctrmgr_core::ContainerId;
use ctrmgr_core::ports::{Containers, ExitStatus};
use ctrmgr_dockerclient::{ApiVersion, DockerClient, Error};

/// The [`Containers`] port over a [`DockerClient`] for `DOCKER_HOST` made when first needed.
/// The API version is pinned (no version round trip): 1.41, Docker 20.10's, which newer
/// engines also speak.
#[derive(Debug, Default)]
pub struct Engine {
    client: OnceLock<DockerClient>,
}

impl Engine {
    /// An engine not yet connected.
    pub fn new() -> Self {
        Self::default()
    }

    /// The client, made on the first call.
    pub fn client(&self) -> Result<&DockerClient, Error> {
        if let Some(c) = self.client.get() {
            return Ok(c);
        }
        let c = DockerClient::connect_pinned(&DockerClient::host_from_env(), ApiVersion::V1_41)?;
        Ok(self.client.get_or_init(|| c))
    }
}

impl Containers for Engine {
    type Error = Error;

    async fn start(&self, id: &ContainerId) -> Result<ContainerId, Error> {
        self.client()?.start(id).await
    }

    async fn stop(&self, id: &ContainerId, grace_secs: u32) -> Result<(), Error> {
        self.client()?.stop(id, grace_secs).await
    }

    async fn kill(&self, id: &ContainerId) -> Result<(), Error> {
        self.client()?.kill(id).await
    }

    async fn wait(&self, id: &ContainerId) -> Result<ExitStatus, Error> {
        self.client()?.wait(id).await
    }

    async fn is_running(&self, id: &ContainerId) -> Result<bool, Error> {
        self.client()?.is_running(id).await
    }
}
