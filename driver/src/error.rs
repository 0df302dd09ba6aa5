//! The driver's error type.

use std::path::PathBuf;
use std::time::Duration;

use ctrmgr_core::ports::{ErrorKind, PortError};

/// A boxed adapter error (its kind is kept beside it in [`Error::Port`]).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An error of the driver: configuration, the systemctl runner, or a port call that failed
/// while the driver carried out an operation.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The tunables file exists but could not be read.
    #[error("cannot read configuration file {}", path.display())]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The tunables file is not valid JSON of the documented shape.
    #[error("invalid configuration file {}: at key {key}", path.display())]
    ConfigSyntax {
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
    ConfigValue {
        /// The file.
        path: PathBuf,
        /// The key.
        key: &'static str,
        /// What is accepted.
        expected: &'static str,
    },
    /// A file the driver reads could not be read.
    #[error("cannot read {}", path.display())]
    ReadFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The systemctl program could not be run.
    #[error("cannot run {} {verb} {unit}", program.display())]
    SystemctlSpawn {
        /// The program.
        program: PathBuf,
        /// The verb (`start`, `stop`, …).
        verb: &'static str,
        /// The unit.
        unit: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// systemctl ran and reported a failure.
    #[error("{} {verb} {unit} failed ({status}): {stderr}", program.display())]
    SystemctlFailed {
        /// The program.
        program: PathBuf,
        /// The verb.
        verb: &'static str,
        /// The unit.
        unit: String,
        /// The exit status, as displayed (`exit status: 5`).
        status: String,
        /// What it wrote on stderr, trimmed (may be empty).
        stderr: String,
    },
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
    /// The feature has no CONFIG_DB `FEATURE` row.
    #[error("unknown feature {feature}: CONFIG_DB has no row {key}")]
    UnknownFeature {
        /// The feature asked for.
        feature: String,
        /// The row looked for (`FEATURE|snmp`).
        key: String,
    },
    /// A compare-and-set write of a feature's STATE_DB row kept losing to other writers.
    #[error(
        "gave up on feature {feature} after {attempts} attempts: its STATE_DB transition_mode kept changing under this command"
    )]
    Contended {
        /// The feature.
        feature: String,
        /// How many times it was read, decided and written.
        attempts: u32,
    },
    /// A feature's node label could not be formed.
    #[error("cannot form the node label of feature {feature}")]
    FeatureLabel {
        /// The feature.
        feature: String,
        /// Why the label was refused.
        #[source]
        source: ctrmgr_core::LabelParseError,
    },
    /// Kubernetes was asked for in a build without Kubernetes support.
    #[error("this build has no Kubernetes support")]
    NoKubeSupport,
    /// A program (kubeadm) could not be started.
    #[error("cannot run {} {args}", program.display())]
    ProgramSpawn {
        /// The program.
        program: PathBuf,
        /// Its arguments, joined by spaces.
        args: String,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A program (kubeadm) ran and failed.
    #[error("{} {args} failed ({status}): {stderr}", program.display())]
    ProgramFailed {
        /// The program.
        program: PathBuf,
        /// Its arguments, joined by spaces.
        args: String,
        /// The exit status, as displayed.
        status: String,
        /// The last line it wrote on stderr (may be empty).
        stderr: String,
    },
    /// A program (kubeadm) did not finish within its bound, and was killed.
    #[error("{} {args} did not finish within {} s: killed", program.display(), after.as_secs())]
    ProgramTimeout {
        /// The program.
        program: PathBuf,
        /// Its arguments, joined by spaces.
        args: String,
        /// The bound.
        after: Duration,
    },
    /// A join or reset cannot be done with this configuration (no server address, disabled).
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
    /// A file could not be written (or replaced) atomically.
    #[error("cannot write {}", path.display())]
    WriteFile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
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
            Error::ConfigRead { .. }
            | Error::ConfigSyntax { .. }
            | Error::ConfigValue { .. }
            | Error::ReadFile { .. } => ErrorKind::Permanent,
            Error::SystemctlSpawn { source, .. } => {
                if source.kind() == std::io::ErrorKind::NotFound {
                    ErrorKind::Permanent
                } else {
                    ErrorKind::Transient
                }
            }
            Error::SystemctlFailed { .. } | Error::Timeout { .. } => ErrorKind::Transient,
            Error::Lock { .. } | Error::NoKubeSupport => ErrorKind::Permanent,
            Error::ProgramSpawn { .. } | Error::Refused { .. } | Error::WriteFile { .. } => {
                ErrorKind::Permanent
            }
            Error::ProgramFailed { .. } | Error::ProgramTimeout { .. } => ErrorKind::Transient,
            Error::InvalidAdminConf { .. } => ErrorKind::InvalidData,
            Error::NoAnswer { .. } | Error::WatchEnded { .. } | Error::Signal { .. } => {
                ErrorKind::Permanent
            }
            Error::NotApproved { .. } => ErrorKind::Transient,
            Error::FeatureLabel { .. } => ErrorKind::InvalidData,
            Error::UnknownFeature { .. } => ErrorKind::NotFound,
            Error::Contended { .. } => ErrorKind::Conflict,
            Error::Port { kind, .. } => *kind,
        }
    }
}
