//! [`DockerClient`] as the core's [`Containers`] port.

use ctrmgr_core::ports::{Containers, ExitStatus};
use ctrmgr_core::types::ContainerId;

use crate::client::DockerClient;
use crate::error::Error;

impl Containers for DockerClient {
    type Error = Error;

    async fn start(&self, id: &ContainerId) -> Result<ContainerId, Error> {
        DockerClient::start(self, id).await
    }

    async fn stop(&self, id: &ContainerId, grace_secs: u32) -> Result<(), Error> {
        DockerClient::stop(self, id, grace_secs).await
    }

    async fn kill(&self, id: &ContainerId) -> Result<(), Error> {
        DockerClient::kill(self, id).await
    }

    async fn wait(&self, id: &ContainerId) -> Result<ExitStatus, Error> {
        DockerClient::wait(self, id).await
    }

    async fn is_running(&self, id: &ContainerId) -> Result<bool, Error> {
        DockerClient::is_running(self, id).await
    }
}
