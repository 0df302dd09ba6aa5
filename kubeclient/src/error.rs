//! The crate's error type and the classification of kube-rs errors into kinds.

use std::path::PathBuf;
use std::time::Duration;

use ctrmgr_core::ports::{ErrorKind, PortError};

/// What went wrong talking to the API server, finer than [`ErrorKind`]: what an operator's
/// message and the `show` commands distinguish.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KubeErrorKind {
    /// The server could not be reached: connection refused or reset, DNS, TLS handshake.
    Unreachable,
    /// The request did not complete within its time bound.
    Timeout,
    /// The server refused our credentials (401, 403) or the credentials could not be obtained.
    Unauthorized,
    /// The object (usually this node) does not exist (404).
    NotFound,
    /// The server failed (5xx) or throttled us (429).
    ServerError,
    /// The request conflicts with the object's current state (409).
    Conflict,
    /// The server rejected the request as invalid (another 4xx).
    Rejected,
    /// The kubeconfig is missing or unusable, or the node name cannot be found.
    Config,
    /// The server's answer could not be understood.
    InvalidResponse,
}

impl KubeErrorKind {
    /// A short lower-case description, used in messages.
    pub fn as_str(self) -> &'static str {
        match self {
            KubeErrorKind::Unreachable => "api server unreachable",
            KubeErrorKind::Timeout => "timed out",
            KubeErrorKind::Unauthorized => "unauthorized",
            KubeErrorKind::NotFound => "not found",
            KubeErrorKind::ServerError => "server error",
            KubeErrorKind::Conflict => "conflict",
            KubeErrorKind::Rejected => "rejected",
            KubeErrorKind::Config => "bad configuration",
            KubeErrorKind::InvalidResponse => "invalid response",
        }
    }

    /// The port-level kind the driver feeds back into the core's retry policy.
    pub fn port_kind(self) -> ErrorKind {
        match self {
            KubeErrorKind::Unreachable | KubeErrorKind::Timeout | KubeErrorKind::ServerError => {
                ErrorKind::Transient
            }
            KubeErrorKind::NotFound => ErrorKind::NotFound,
            KubeErrorKind::Conflict => ErrorKind::Conflict,
            KubeErrorKind::InvalidResponse => ErrorKind::InvalidData,
            KubeErrorKind::Unauthorized | KubeErrorKind::Rejected | KubeErrorKind::Config => {
                ErrorKind::Permanent
            }
        }
    }

    /// Classifies a kube-rs error.
    pub fn of(err: &kube::Error) -> Self {
        match err {
            kube::Error::Api(status) => match status.code {
                401 | 403 => KubeErrorKind::Unauthorized,
                404 => KubeErrorKind::NotFound,
                409 => KubeErrorKind::Conflict,
                429 | 500..=599 => KubeErrorKind::ServerError,
                _ => KubeErrorKind::Rejected,
            },
            kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => {
                if timed_out(err) {
                    KubeErrorKind::Timeout
                } else {
                    KubeErrorKind::Unreachable
                }
            }
            kube::Error::Auth(_) => KubeErrorKind::Unauthorized,
            kube::Error::SerdeError(_)
            | kube::Error::FromUtf8(_)
            | kube::Error::LinesCodecMaxLineLengthExceeded => KubeErrorKind::InvalidResponse,
            _ => KubeErrorKind::Config,
        }
    }
}

/// Whether a transport error was the client's own timeout (an `io::Error` of kind `TimedOut`
/// somewhere in the chain).
fn timed_out(err: &kube::Error) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<std::io::Error>()
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return true;
        }
        cur = e.source();
    }
    false
}

impl std::fmt::Display for KubeErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The kubeconfig could not be read or parsed.
    #[error("cannot load kubeconfig {}: {reason}", path.display())]
    Kubeconfig {
        /// The kubeconfig's path.
        path: PathBuf,
        /// Why, without the excerpt of the file kube-rs's parser adds ([`kubeconfig_reason`]):
        /// a kubeconfig holds credentials.
        reason: String,
    },
    /// A client could not be built from the kubeconfig (TLS material, proxy, …).
    #[error("cannot build an api client from kubeconfig {}", path.display())]
    Client {
        /// The kubeconfig's path.
        path: PathBuf,
        /// Why.
        #[source]
        source: kube::Error,
    },
    /// A request failed.
    #[error("cannot {action}: {kind}")]
    Api {
        /// What was being done (`patch labels of node sonic-1`).
        action: String,
        /// The classified failure.
        kind: KubeErrorKind,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// A request did not complete in time.
    #[error("cannot {action}: no answer within {} ms", after.as_millis())]
    Timeout {
        /// What was being done.
        action: String,
        /// The bound that passed.
        after: Duration,
    },
    /// The system hostname could not be read.
    #[error("cannot read the system hostname from {}", path.display())]
    Hostname {
        /// The file read (`/proc/sys/kernel/hostname`).
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A URL cannot be used (not https, no host, malformed).
    #[error("cannot use URL {url}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// Why.
        reason: String,
    },
    /// A CA bundle cannot be read or holds no certificate.
    #[error("cannot use CA file {}: {reason}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// A text is not a usable kubeconfig.
    #[error("not a usable kubeconfig: {reason}")]
    InvalidKubeconfig {
        /// Why.
        reason: String,
    },
    /// Neither DEVICE_METADATA nor the system gives a usable node name.
    #[error("cannot find a node name: DEVICE_METADATA|localhost has no hostname and {} is empty", path.display())]
    NoNodeName {
        /// The hostname file read.
        path: PathBuf,
    },
}

impl Error {
    /// The detailed kind of failure.
    pub fn kube_kind(&self) -> KubeErrorKind {
        match self {
            Error::Api { kind, .. } => *kind,
            Error::Timeout { .. } => KubeErrorKind::Timeout,
            Error::Kubeconfig { .. }
            | Error::Client { .. }
            | Error::Hostname { .. }
            | Error::BadUrl { .. }
            | Error::CaFile { .. }
            | Error::InvalidKubeconfig { .. }
            | Error::NoNodeName { .. } => KubeErrorKind::Config,
        }
    }
}

impl PortError for Error {
    fn kind(&self) -> ErrorKind {
        self.kube_kind().port_kind()
    }
}

/// Why kube-rs could not load a kubeconfig, on one line and without any of the file's text.
///
/// kube-rs's YAML errors quote the lines around the error (`--> <input>:10:7`, then the lines
/// themselves): in a kubeconfig those hold the bearer token and the client key, which must
/// never reach a log or an error line (issue 15, point 6). Only the first line of each error
/// of the chain is kept (`failed to parse kubeconfig YAML: error: line 10 column 7: expected
/// string scalar`).
pub fn kubeconfig_reason(e: &kube::config::KubeconfigError) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let text = err.to_string();
        let first = text.lines().next().unwrap_or("").trim().to_owned();
        if !first.is_empty() && !parts.iter().any(|p| p.contains(&first)) {
            parts.push(first);
        }
        cur = err.source();
    }
    parts.join(": ")
}
