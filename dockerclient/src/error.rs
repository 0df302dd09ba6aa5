//! The crate's error: what failed, on which container or image, and what kind of failure it
//! was, so that the driver can feed the kind back into the core's retry policy.

use ctrmgr_core::ports::{ErrorKind, PortError};

/// A failed call to the Docker Engine.
///
/// Every message names the operation and its target (`cannot start container snmp: not found`);
/// the engine's own answer is the [`std::error::Error::source`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The engine could not be reached when connecting (no socket, refused, bad address).
    #[error("cannot connect to the docker engine at {host}")]
    Connect {
        /// The engine address (`unix:///var/run/docker.sock`, `tcp://…`).
        host: String,
        /// What the client library reported.
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine answered with an API version this client cannot read.
    #[error("cannot use the docker engine at {host}: it reports API version {reported:?}")]
    ApiVersion {
        /// The engine address.
        host: String,
        /// What the engine reported.
        reported: String,
    },
    /// The container (or image) does not exist.
    #[error("cannot {op} {target}: not found")]
    NotFound {
        /// The operation (`start`, `wait for`, …).
        op: &'static str,
        /// What it was applied to (`container snmp`).
        target: String,
        /// The engine's answer.
        #[source]
        source: bollard::errors::Error,
    },
    /// The request conflicts with the container's current state (a name in use, a stopped
    /// container asked to run an exec, …).
    #[error("cannot {op} {target}: conflicts with its current state")]
    Conflict {
        /// The operation.
        op: &'static str,
        /// What it was applied to.
        target: String,
        /// The engine's answer.
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine did not answer: connection refused or lost, a timeout, a gateway error.
    /// Worth retrying.
    #[error("cannot {op} {target}: the docker engine did not answer")]
    Unavailable {
        /// The operation.
        op: &'static str,
        /// What it was applied to.
        target: String,
        /// What the client library reported.
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine answered with data this client cannot read.
    #[error("cannot {op} {target}: the docker engine sent malformed data")]
    Malformed {
        /// The operation.
        op: &'static str,
        /// What it was applied to.
        target: String,
        /// What the client library reported.
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine refused the request for a reason retrying will not fix (a bad command, an
    /// unknown image, an internal engine error).
    #[error("cannot {op} {target}")]
    Refused {
        /// The operation.
        op: &'static str,
        /// What it was applied to.
        target: String,
        /// The engine's answer.
        #[source]
        source: bollard::errors::Error,
    },
    /// The engine's answer was well-formed but lacked something it always carries.
    #[error("cannot {op} {target}: {detail}")]
    Unexpected {
        /// The operation.
        op: &'static str,
        /// What it was applied to.
        target: String,
        /// What was missing or wrong.
        detail: String,
    },
    /// Copying an exec's input or output to the caller's streams failed.
    #[error("cannot {op} {target}: copying its input or output failed")]
    Io {
        /// The operation.
        op: &'static str,
        /// What it was applied to.
        target: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Classifies a failure of the client library for `op` on `target`.
    pub(crate) fn engine(
        op: &'static str,
        target: impl Into<String>,
        source: bollard::errors::Error,
    ) -> Self {
        use bollard::errors::Error as B;
        let target = target.into();
        match &source {
            B::DockerResponseServerError { status_code, .. } => match *status_code {
                404 => Error::NotFound { op, target, source },
                409 => Error::Conflict { op, target, source },
                // The engine (or a proxy in front of it) is overloaded or restarting.
                502..=504 => Error::Unavailable { op, target, source },
                // 500 is the engine's answer for runtime failures ("OCI runtime create
                // failed"), which retrying does not fix; 400 and the rest are our bugs.
                _ => Error::Refused { op, target, source },
            },
            B::RequestTimeoutError
            | B::HyperResponseError { .. }
            | B::HyperLegacyError { .. }
            | B::IOError { .. }
            | B::SocketNotFoundError(_) => Error::Unavailable { op, target, source },
            B::JsonDataError { .. }
            | B::JsonSerdeError { .. }
            | B::StrParseError { .. }
            | B::APIVersionParseError {} => Error::Malformed { op, target, source },
            _ => Error::Refused { op, target, source },
        }
    }

    /// The failure's kind: [`ErrorKind::NotFound`] for a missing container,
    /// [`ErrorKind::Conflict`] for a state conflict, [`ErrorKind::Transient`] when the engine
    /// did not answer, [`ErrorKind::InvalidData`] for malformed answers, else
    /// [`ErrorKind::Permanent`].
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Connect { source, .. } => match source {
                bollard::errors::Error::UnsupportedURISchemeError { .. }
                | bollard::errors::Error::URLParseError { .. }
                | bollard::errors::Error::InvalidURIError { .. } => ErrorKind::Permanent,
                _ => ErrorKind::Transient,
            },
            Error::ApiVersion { .. } => ErrorKind::Permanent,
            Error::NotFound { .. } => ErrorKind::NotFound,
            Error::Conflict { .. } => ErrorKind::Conflict,
            Error::Unavailable { .. } => ErrorKind::Transient,
            Error::Malformed { .. } | Error::Unexpected { .. } => ErrorKind::InvalidData,
            Error::Refused { .. } | Error::Io { .. } => ErrorKind::Permanent,
        }
    }

    /// The engine's own message when it answered with an error status (`No such container:
    /// snmp`), for callers that show it verbatim.
    pub fn engine_message(&self) -> Option<&str> {
        match self {
            Error::NotFound { source, .. }
            | Error::Conflict { source, .. }
            | Error::Unavailable { source, .. }
            | Error::Refused { source, .. } => match source {
                bollard::errors::Error::DockerResponseServerError { message, .. } => Some(message),
                _ => None,
            },
            _ => None,
        }
    }
}

impl PortError for Error {
    fn kind(&self) -> ErrorKind {
        Error::kind(self)
    }
}
