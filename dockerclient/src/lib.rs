//! # ctrmgr-dockerclient
//!
//! The local container engine of sonic-ctrmgr: the Docker Engine API over `bollard`, in this
//! project's types. The driver sees it only through the core's
//! [`Containers`](ctrmgr_core::ports::Containers) port; the `container` command also uses its
//! `inspect` and `exec`, and the test tooling its `create`, `list` and `import_image`.
//!
//! A tour:
//! - [`DockerClient`]: [`connect`](DockerClient::connect) reads `DOCKER_HOST` (`unix://…` or
//!   `tcp://…`, default [`DEFAULT_HOST`]) and pins the API version to the engine's (1.41 for
//!   Docker 20.10), so every request goes to `/v1.41/…` as with the `docker` CLI.
//!   Operations take a [`ContainerId`](ctrmgr_core::ContainerId), which may be a full id, a
//!   prefix or a name. Outcomes the caller asked for are successes: starting a running
//!   container, stopping a stopped one, killing one that does not run. `wait` returns the exit
//!   code as an [`ExitStatus`](ctrmgr_core::ports::ExitStatus), never as an error.
//!   [`inspect_json`](DockerClient::inspect_json) prints exactly what `docker inspect` prints
//!   (the engine's document, read raw: bollard's model would drop fields), and
//!   [`exec`](DockerClient::exec) streams a command's output like `docker exec`.
//! - [`Error`]: says what failed on which container, with the engine's answer as its source,
//!   and [`Error::kind`]: `NotFound` (no such container), `Conflict`, `Transient` (the engine
//!   did not answer), `InvalidData`, `Permanent`.
//! - [`ContainerSpec`], [`ExecSpec`], [`ContainerSummary`], [`NetworkMode`], [`ApiVersion`]:
//!   the inputs and outputs of the non-port operations, so that no bollard type leaks out.
//! - `testing` (cargo feature `testing`): a real Docker Engine for tests, started on demand,
//!   a busybox image built without a registry, and self-removing test containers.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ctrmgr_dockerclient::Error> {
//! use ctrmgr_core::ContainerId;
//! use ctrmgr_dockerclient::DockerClient;
//!
//! let docker = DockerClient::connect().await?;
//! let snmp = ContainerId::new("snmp").expect("a valid name");
//! let id = docker.start(&snmp).await?; // the full id
//! let status = docker.wait(&id).await?; // when it exits
//! println!("snmp exited with {}", status.code);
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod client;
mod error;
mod port;
mod raw;
mod spec;
#[cfg(feature = "testing")]
pub mod testing;

pub use client::{
    ApiVersion, ContainerSpec, ContainerSummary, DEFAULT_HOST, DEFAULT_REQUEST_TIMEOUT,
    DOCKER_HOST_ENV, DockerClient, EngineVersion, ExecSpec, NetworkMode,
};
pub use error::Error;
