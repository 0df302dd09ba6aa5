//! The one error type of this crate, with its [`ErrorKind`].

use std::path::PathBuf;

use ctrmgr_core::DecodeError;
use ctrmgr_core::ports::{ErrorKind, PortError};

/// A `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong talking to SONiC's databases.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// `database_config.json` could not be read (missing, unreadable).
    #[error("cannot read database config {}", path.display())]
    ConfigRead {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `database_config.json` is not JSON.
    #[error("malformed database config {origin}")]
    ConfigSyntax {
        /// The file.
        origin: String,
        /// The JSON error (with line and column).
        #[source]
        source: serde_json::Error,
    },
    /// `database_config.json` is JSON but not what SONiC writes.
    #[error("invalid database config {origin}: {detail}")]
    ConfigInvalid {
        /// The file, or "the built-in default".
        origin: String,
        /// Which entry and what is wrong with it.
        detail: String,
    },
    /// A DB name that `database_config.json` does not define.
    #[error("database {name} is not defined in {origin}")]
    UnknownDb {
        /// The DB asked for.
        name: String,
        /// The file, or "the built-in default".
        origin: String,
    },
    /// No address of a Redis instance accepted a connection.
    #[error("cannot connect to redis instance {instance} ({address}) for {db}")]
    Connect {
        /// The DB the connection was for.
        db: String,
        /// The instance's name.
        instance: String,
        /// The addresses tried.
        address: String,
        /// The last failure.
        #[source]
        source: redis::RedisError,
    },
    /// A request failed (connection lost, timeout, server error).
    #[error("cannot {action} in {db}")]
    Redis {
        /// What was being done (`read FEATURE|snmp`).
        action: String,
        /// The DB.
        db: String,
        /// The client's error.
        #[source]
        source: redis::RedisError,
    },
    /// A row holds a value that is not one of its documented spellings.
    #[error("malformed row in {db}")]
    Decode {
        /// The DB.
        db: String,
        /// The key, field and value, from the core codec.
        #[source]
        source: DecodeError,
    },
    /// A reply had an unexpected shape (a script's answer, a notification config).
    #[error("unexpected reply from {db} while trying to {action}: {detail}")]
    UnexpectedReply {
        /// The DB.
        db: String,
        /// What was being done.
        action: String,
        /// What came back.
        detail: String,
    },
    /// Keyspace notifications are off and could not be turned on.
    #[error("keyspace notifications are not available in {db}: {detail}")]
    Notifications {
        /// The DB being watched.
        db: String,
        /// What was found and what failed.
        detail: String,
        /// The server's answer.
        #[source]
        source: redis::RedisError,
    },
    /// A compare-and-set kept meeting concurrent changes.
    #[error("gave up on {key} in {db} after {attempts} attempts: other writers kept changing it")]
    Contended {
        /// The DB.
        db: String,
        /// The row.
        key: String,
        /// How many attempts were made.
        attempts: u32,
    },
}

impl Error {
    /// The malformed value behind a [`Error::Decode`], with its key, field and value.
    pub fn decode_error(&self) -> Option<&DecodeError> {
        match self {
            Error::Decode { source, .. } => Some(source),
            _ => None,
        }
    }

    pub(crate) fn redis(db: &str, action: impl Into<String>, source: redis::RedisError) -> Self {
        Error::Redis {
            action: action.into(),
            db: db.to_owned(),
            source,
        }
    }

    pub(crate) fn decode(db: &str, source: DecodeError) -> Self {
        Error::Decode {
            db: db.to_owned(),
            source,
        }
    }
}

/// How a Redis client error is classified.
pub(crate) fn redis_kind(e: &redis::RedisError) -> ErrorKind {
    use redis::{ErrorKind as K, ServerErrorKind as S};
    if e.is_io_error() || e.is_timeout() || e.is_connection_dropped() || e.is_connection_refusal() {
        return ErrorKind::Transient;
    }
    // A server error inside a pipeline is reported per command; look at each.
    let wrong_type = e.code() == Some("WRONGTYPE")
        || e.clone()
            .into_server_errors()
            .is_some_and(|errs| errs.iter().any(|(_, se)| se.code() == "WRONGTYPE"));
    if wrong_type {
        return ErrorKind::InvalidData;
    }
    match e.kind() {
        K::Server(S::BusyLoading | S::TryAgain | S::MasterDown) => ErrorKind::Transient,
        K::Parse | K::UnexpectedReturnType => ErrorKind::InvalidData,
        _ => ErrorKind::Permanent,
    }
}

impl PortError for Error {
    fn kind(&self) -> ErrorKind {
        match self {
            Error::ConfigRead { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                ErrorKind::NotFound
            }
            Error::ConfigRead { .. } => ErrorKind::Permanent,
            Error::ConfigSyntax { .. } | Error::ConfigInvalid { .. } => ErrorKind::InvalidData,
            Error::UnknownDb { .. } => ErrorKind::NotFound,
            Error::Connect { source, .. } => redis_kind(source),
            Error::Redis { source, .. } => redis_kind(source),
            Error::Decode { .. } | Error::UnexpectedReply { .. } => ErrorKind::InvalidData,
            Error::Notifications { .. } => ErrorKind::Permanent,
            Error::Contended { .. } => ErrorKind::Transient,
        }
    }
}

impl Error {
    /// The kind of failure (also available through [`PortError::kind`]).
    pub fn kind(&self) -> ErrorKind {
        PortError::kind(self)
    }
}
