//! The driver's error type, [`Error`], composed of one type per concern: the tunables file
//! ([`ConfigError`]), the programs the driver runs ([`ProgramError`]), files it reads and
//! writes ([`FileError`]), a feature's operation ([`FeatureError`]) and a join ([`JoinError`]);
//! and the port, lock and process errors every operation can meet.

use std::path::PathBuf;
use std::time::Duration;

use ctrmgr_core::ports::{ErrorKind, PortError};

/// A boxed adapter error (its kind is kept beside it in [`Error::Port`]).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of the driver.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tunables file (`/etc/sonic/ctrmgr.json`).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// A program the driver runs (`systemctl`, `kubeadm`).
    #[error(transparent)]
    Program(#[from] ProgramError),
    /// A file the driver reads or writes.
    #[error(transparent)]
    File(#[from] FileError),
    /// An operation on one feature.
    #[error(transparent)]
    Feature(#[from] FeatureError),
    /// A join or reset of the Kubernetes master.
    #[error(transparent)]
    Join(#[from] JoinError),
    /// A port (Redis, the API server, systemd) failed while doing `action`.
    #[error("cannot {action}")]
    Port {
        /// What the driver was doing (`read the pending-label list`).
        action: String,
        /// The adapter's kind of failure.
        kind: ErrorKind,
        /// The adapter's error.
        #[source]
        source: BoxError,
    },
    /// A port call did not complete within its bound.
    #[error("cannot {action}: no answer within {} ms", after.as_millis())]
    Timeout {
        /// What the driver was doing.
        action: String,
        /// The bound.
        after: Duration,
    },
    /// A per-feature lock file could not be opened or locked.
    #[error("cannot lock {}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// Kubernetes was asked for in a build without Kubernetes support.
    #[error("this build has no Kubernetes support")]
    NoKubeSupport,
    /// A signal handler could not be installed.
    #[error("cannot handle {name}")]
    Signal {
        /// `SIGTERM`, `SIGINT`.
        name: &'static str,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A watch of the databases ended for good.
    #[error("{what} ended")]
    WatchEnded {
        /// Which watch.
        what: String,
    },
}

/// The tunables file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read.
    #[error("cannot read configuration file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON of the documented shape.
    #[error("invalid configuration file {}: at key {key}", path.display())]
    Syntax {
        /// The file.
        path: PathBuf,
        /// Where in the document (`label_timeout_secs`, or `.` for the top level).
        key: String,
        /// The parser's message.
        #[source]
        source: serde_json::Error,
    },
    /// A tunable has a value outside its range.
    #[error("invalid configuration file {}: key {key} must be {expected}", path.display())]
    Value {
        /// The file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// What is accepted.
        expected: &'static str,
    },
}

/// A program the driver runs (`systemctl <verb> <unit>`, `kubeadm …`) could not be run, failed
/// or did not finish.
#[derive(Debug, thiserror::Error)]
pub enum ProgramError {
    /// The program could not be started.
    #[error("cannot run {} {args}", program.display())]
    Spawn {
        /// The program.
        program: PathBuf,
        /// Its arguments, joined by spaces.
        args: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The program ran and reported a failure.
    #[error("{} {args} failed ({status}): {stderr}", program.display())]
    Failed {
        /// The program.
        program: PathBuf,
        /// Its arguments, joined by spaces.
        args: String,
        /// The exit status, as displayed (`exit status: 5`).
        status: String,
        /// What it wrote on stderr, trimmed (may be empty).
        stderr: String,
    },
    /// The program did not finish within its bound, and was killed.
    #[error("{} {args} did not finish within {} s: killed", program.display(), after.as_secs())]
    Timeout {
        /// The program.
        program: PathBuf,
        /// Its arguments, joined by spaces.
        args: String,
        /// The bound.
        after: Duration,
    },
}

/// A file the driver reads or writes.
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    /// The file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file could not be written (or replaced) atomically.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// An operation on one feature could not be carried out.
#[derive(Debug, thiserror::Error)]
pub enum FeatureError {
    /// The feature has no CONFIG_DB `FEATURE` row.
    #[error("unknown feature {feature}: CONFIG_DB has no row {key}")]
    Unknown {
        /// The feature asked for.
        feature: String,
        /// The row looked for (`FEATURE|snmp`).
        key: String,
    },
    /// A compare-and-set write of the feature's STATE_DB row kept losing to other writers.
    #[error(
        "gave up on feature {feature} after {attempts} attempts: its STATE_DB transition_mode kept changing under this command"
    )]
    Contended {
        /// The feature.
        feature: String,
        /// How many times it was read, decided and written.
        attempts: u32,
    },
    /// The feature's node label could not be formed.
    #[error("cannot form the node label of feature {feature}")]
    Label {
        /// The feature.
        feature: String,
        /// Why the label was refused.
        #[source]
        source: ctrmgr_core::LabelParseError,
    },
    /// The state machine gave a kube container's question no answer (a bug of the caller's
    /// input).
    #[error("feature {feature}: the state machine gave no answer to a kube container ({reason})")]
    NoAnswer {
        /// The feature.
        feature: String,
        /// The reason of the step.
        reason: String,
    },
    /// A kube container was not approved within its bound.
    #[error("feature {feature}: container {container} was not approved within {secs} s")]
    NotApproved {
        /// The feature.
        feature: String,
        /// The container that waited.
        container: String,
        /// The bound.
        secs: u64,
    },
}

/// A join or reset of the Kubernetes master could not be done.
#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    /// It cannot be done with this configuration (no server address, disabled).
    #[error("cannot {action}: {reason}")]
    Refused {
        /// `join the Kubernetes master`, …
        action: &'static str,
        /// Why, naming the row and field.
        reason: String,
    },
    /// What the master served as admin.conf is not a usable kubeconfig.
    #[error("the admin.conf fetched from {url} is not a usable kubeconfig")]
    InvalidAdminConf {
        /// Where it came from.
        url: String,
        /// Why (the parser's message).
        #[source]
        source: BoxError,
    },
}

impl Error {
    /// Wraps an adapter error with what the driver was doing.
    pub fn port<E: PortError>(action: impl Into<String>, source: E) -> Self {
        Error::Port {
            action: action.into(),
            kind: source.kind(),
            source: Box::new(source),
        }
    }
}

impl PortError for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) | Error::File(_) => ErrorKind::Permanent,
            Error::Program(e) => e.kind(),
            Error::Feature(e) => e.kind(),
            Error::Join(JoinError::Refused { .. }) => ErrorKind::Permanent,
            Error::Join(JoinError::InvalidAdminConf { .. }) => ErrorKind::InvalidData,
            Error::Port { kind, .. } => *kind,
            Error::Timeout { .. } => ErrorKind::Transient,
            Error::Lock { .. }
            | Error::NoKubeSupport
            | Error::Signal { .. }
            | Error::WatchEnded { .. } => ErrorKind::Permanent,
        }
    }
}

impl ProgramError {
    /// A program that is not there cannot be retried into existence; one that failed or
    /// hung may do better next time.
    fn kind(&self) -> ErrorKind {
        match self {
            ProgramError::Spawn { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                    ErrorKind::Permanent
                }
                _ => ErrorKind::Transient,
            },
            ProgramError::Failed { .. } | ProgramError::Timeout { .. } => ErrorKind::Transient,
        }
    }
}

impl FeatureError {
    fn kind(&self) -> ErrorKind {
        match self {
            FeatureError::Unknown { .. } => ErrorKind::NotFound,
            FeatureError::Contended { .. } => ErrorKind::Conflict,
            FeatureError::Label { .. } => ErrorKind::InvalidData,
            FeatureError::NoAnswer { .. } => ErrorKind::Permanent,
            FeatureError::NotApproved { .. } => ErrorKind::Transient,
        }
    }
}
