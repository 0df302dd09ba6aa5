//! SONiC's `database_config.json`: which Redis instance holds which DB, under which id and with
//! which key separator.
//!
//! The file looks like this (extra fields are ignored):
//!
//! ```json
//! {
//!   "INSTANCES": {
//!     "redis": { "hostname": "127.0.0.1", "port": 6379, "unix_socket_path": "/var/run/redis/redis.sock" }
//!   },
//!   "DATABASES": {
//!     "CONFIG_DB": { "id": 4, "separator": "|", "instance": "redis" },
//!     "STATE_DB":  { "id": 6, "separator": "|", "instance": "redis" }
//!   },
//!   "VERSION": "1.0"
//! }
//! ```
//!
//! [`DbConfig::load`] looks for it in this order: an explicit path (`--db-config`), the
//! `SONIC_DB_CONFIG` environment variable, [`DEFAULT_DB_CONFIG_PATH`]. Only when none is given
//! and the default file does not exist does it fall back to [`DbConfig::builtin`] (redis on
//! 127.0.0.1:6379, CONFIG_DB 4, STATE_DB 6, separator `|`). A file that is named but missing,
//! unreadable or malformed is an error, never a silent fallback.
//!
//! Entries are resolved lazily by [`DbConfig::db`]: a malformed entry for a DB this project
//! does not use does not stop it from working.

use std::ffi::OsStr;
use std::fmt;
use std::path::{Path, PathBuf};

use ctrmgr_core::codec;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// Where SONiC keeps `database_config.json`.
pub const DEFAULT_DB_CONFIG_PATH: &str = "/var/run/redis/sonic-db/database_config.json";
/// The environment variable that names another `database_config.json`.
pub const DB_CONFIG_ENV: &str = "SONIC_DB_CONFIG";
/// The built-in instance's name, host and port (used only when no file exists).
pub const DEFAULT_INSTANCE: &str = "redis";
/// Host of the built-in instance.
pub const DEFAULT_HOST: &str = "127.0.0.1";
/// Port of the built-in instance.
pub const DEFAULT_PORT: u16 = 6379;

const INSTANCES: &str = "INSTANCES";
const DATABASES: &str = "DATABASES";
const HOSTNAME: &str = "hostname";
const PORT: &str = "port";
const UNIX_SOCKET_PATH: &str = "unix_socket_path";
const ID: &str = "id";
const SEPARATOR: &str = "separator";
const INSTANCE: &str = "instance";

/// How to reach one Redis instance: its unix socket (preferred) and/or TCP address.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InstanceAddress {
    /// `unix_socket_path`, when configured.
    pub unix_socket: Option<PathBuf>,
    /// `hostname` and `port`, when configured.
    pub tcp: Option<(String, u16)>,
}

impl fmt::Display for InstanceAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.unix_socket, &self.tcp) {
            (Some(p), Some((h, port))) => write!(f, "unix:{} or tcp:{h}:{port}", p.display()),
            (Some(p), None) => write!(f, "unix:{}", p.display()),
            (None, Some((h, port))) => write!(f, "tcp:{h}:{port}"),
            (None, None) => f.write_str("no address"),
        }
    }
}

/// Where one named DB lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbLocation {
    /// The DB's name (`CONFIG_DB`).
    pub name: String,
    /// The instance's name in `INSTANCES` (`redis`).
    pub instance: String,
    /// How to reach the instance.
    pub address: InstanceAddress,
    /// The Redis DB number (`SELECT <id>`).
    pub id: u32,
    /// The separator between a table and a key (`|`).
    pub separator: String,
}

/// The parsed `database_config.json` (or the built-in default).
#[derive(Debug, Clone)]
pub struct DbConfig {
    origin: String,
    path: Option<PathBuf>,
    instances: Map<String, Value>,
    databases: Map<String, Value>,
}

impl DbConfig {
    /// Loads the configuration: `explicit` if given, else the file named by `SONIC_DB_CONFIG`,
    /// else [`DEFAULT_DB_CONFIG_PATH`] if it exists, else [`DbConfig::builtin`].
    pub fn load(explicit: Option<&Path>) -> Result<Self> {
        let env = std::env::var_os(DB_CONFIG_ENV);
        Self::load_with(explicit, env.as_deref(), Path::new(DEFAULT_DB_CONFIG_PATH))
    }

    /// [`DbConfig::load`] with the environment variable's value and the default path passed
    /// in (for tests and for tools with their own defaults). An empty `env` counts as unset.
    pub fn load_with(
        explicit: Option<&Path>,
        env: Option<&OsStr>,
        default_path: &Path,
    ) -> Result<Self> {
        if let Some(path) = explicit {
            return Self::from_file(path);
        }
        if let Some(path) = env.filter(|v| !v.is_empty()) {
            return Self::from_file(Path::new(path));
        }
        match std::fs::metadata(default_path) {
            Ok(_) => Self::from_file(default_path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Self::builtin()),
            Err(source) => Err(Error::ConfigRead {
                path: default_path.to_owned(),
                source,
            }),
        }
    }

    /// Reads and parses one file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::ConfigRead {
            path: path.to_owned(),
            source,
        })?;
        let mut cfg = Self::from_json(&text, &path.display().to_string())?;
        cfg.path = Some(path.to_owned());
        Ok(cfg)
    }

    /// Parses the text of a `database_config.json`; `origin` names it in error messages.
    pub fn from_json(text: &str, origin: &str) -> Result<Self> {
        let root: Value = serde_json::from_str(text).map_err(|source| Error::ConfigSyntax {
            origin: origin.to_owned(),
            source,
        })?;
        let invalid = |detail: String| Error::ConfigInvalid {
            origin: origin.to_owned(),
            detail,
        };
        let Value::Object(mut root) = root else {
            return Err(invalid(
                "expected a JSON object at the top level".to_owned(),
            ));
        };
        let mut section = |name: &str| match root.remove(name) {
            Some(Value::Object(m)) => Ok(m),
            Some(other) => Err(invalid(format!(
                "{name}: expected an object, found {}",
                json_kind(&other)
            ))),
            None => Err(invalid(format!("{name} is missing"))),
        };
        let instances = section(INSTANCES)?;
        let databases = section(DATABASES)?;
        Ok(Self {
            origin: origin.to_owned(),
            path: None,
            instances,
            databases,
        })
    }

    /// The built-in default, used only when no file exists: instance `redis` on
    /// 127.0.0.1:6379 holding CONFIG_DB and STATE_DB under their default ids, separator `|`.
    pub fn builtin() -> Self {
        let mut instances = Map::new();
        let mut redis = Map::new();
        redis.insert(HOSTNAME.to_owned(), Value::from(DEFAULT_HOST));
        redis.insert(PORT.to_owned(), Value::from(DEFAULT_PORT));
        instances.insert(DEFAULT_INSTANCE.to_owned(), Value::Object(redis));
        let mut databases = Map::new();
        for (name, id) in [
            (codec::CONFIG_DB, codec::DEFAULT_CONFIG_DB_ID),
            (codec::STATE_DB, codec::DEFAULT_STATE_DB_ID),
        ] {
            let mut db = Map::new();
            db.insert(ID.to_owned(), Value::from(id));
            db.insert(SEPARATOR.to_owned(), Value::from(codec::DEFAULT_SEPARATOR));
            db.insert(INSTANCE.to_owned(), Value::from(DEFAULT_INSTANCE));
            databases.insert(name.to_owned(), Value::Object(db));
        }
        Self {
            origin: "the built-in default".to_owned(),
            path: None,
            instances,
            databases,
        }
    }

    /// The file this configuration came from; `None` for the built-in default or parsed text.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Where the configuration came from, for messages (a path or "the built-in default").
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Resolves a DB by name (`CONFIG_DB`) to its instance address, id and separator.
    pub fn db(&self, name: &str) -> Result<DbLocation> {
        let invalid = |detail: String| Error::ConfigInvalid {
            origin: self.origin.clone(),
            detail,
        };
        let entry = self
            .databases
            .get(name)
            .ok_or_else(|| Error::UnknownDb {
                name: name.to_owned(),
                origin: self.origin.clone(),
            })?
            .as_object()
            .ok_or_else(|| invalid(format!("{DATABASES}.{name}: expected an object")))?;
        let id = entry
            .get(ID)
            .and_then(as_u64)
            .and_then(|v| u32::try_from(v).ok())
            .ok_or_else(|| {
                invalid(format!(
                    "{DATABASES}.{name}.{ID}: expected a DB number, found {}",
                    shown(entry.get(ID))
                ))
            })?;
        let separator = entry
            .get(SEPARATOR)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                invalid(format!(
                    "{DATABASES}.{name}.{SEPARATOR}: expected a non-empty string, found {}",
                    shown(entry.get(SEPARATOR))
                ))
            })?
            .to_owned();
        let instance = entry
            .get(INSTANCE)
            .and_then(Value::as_str)
            .ok_or_else(|| {
                invalid(format!(
                    "{DATABASES}.{name}.{INSTANCE}: expected an instance name, found {}",
                    shown(entry.get(INSTANCE))
                ))
            })?
            .to_owned();
        let address = self.instance(&instance, name)?;
        Ok(DbLocation {
            name: name.to_owned(),
            instance,
            address,
            id,
            separator,
        })
    }

    fn instance(&self, instance: &str, db: &str) -> Result<InstanceAddress> {
        let invalid = |detail: String| Error::ConfigInvalid {
            origin: self.origin.clone(),
            detail,
        };
        let entry = self
            .instances
            .get(instance)
            .ok_or_else(|| {
                invalid(format!(
                    "{DATABASES}.{db}.{INSTANCE} names {instance:?}, which is not in {INSTANCES}"
                ))
            })?
            .as_object()
            .ok_or_else(|| invalid(format!("{INSTANCES}.{instance}: expected an object")))?;
        let unix_socket = match entry.get(UNIX_SOCKET_PATH) {
            None => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(PathBuf::from(s)),
            Some(other) => {
                return Err(invalid(format!(
                    "{INSTANCES}.{instance}.{UNIX_SOCKET_PATH}: expected a path, found {other}"
                )));
            }
        };
        let host = match entry.get(HOSTNAME) {
            None => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                return Err(invalid(format!(
                    "{INSTANCES}.{instance}.{HOSTNAME}: expected a host name, found {other}"
                )));
            }
        };
        let port = match entry.get(PORT) {
            None => None,
            Some(v) => Some(
                as_u64(v)
                    .and_then(|p| u16::try_from(p).ok())
                    .filter(|p| *p > 0)
                    .ok_or_else(|| {
                        invalid(format!(
                            "{INSTANCES}.{instance}.{PORT}: expected a port 1-65535, found {v}"
                        ))
                    })?,
            ),
        };
        let tcp = match (host, port) {
            (Some(h), Some(p)) => Some((h, p)),
            (None, None) => None,
            (Some(_), None) => {
                return Err(invalid(format!(
                    "{INSTANCES}.{instance}: {HOSTNAME} is set but {PORT} is missing"
                )));
            }
            (None, Some(_)) => {
                return Err(invalid(format!(
                    "{INSTANCES}.{instance}: {PORT} is set but {HOSTNAME} is missing"
                )));
            }
        };
        if unix_socket.is_none() && tcp.is_none() {
            return Err(invalid(format!(
                "{INSTANCES}.{instance}: neither {UNIX_SOCKET_PATH} nor {HOSTNAME} and {PORT} are set"
            )));
        }
        Ok(InstanceAddress { unix_socket, tcp })
    }
}

/// A non-negative integer, written as a JSON number or as a string of digits (some SONiC
/// tools write ports as strings).
fn as_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn shown(v: Option<&Value>) -> String {
    v.map_or_else(|| "nothing".to_owned(), Value::to_string)
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ctrmgr_core::ports::ErrorKind;

    const SONIC: &str = r#"{
        "INSTANCES": {
            "redis": { "hostname": "127.0.0.1", "port": 6379, "unix_socket_path": "/var/run/redis/redis.sock" },
            "redis_chassis": { "hostname": "redis_chassis.server", "port": "6380" }
        },
        "DATABASES": {
            "APPL_DB": { "id": 0, "separator": ":", "instance": "redis" },
            "CONFIG_DB": { "id": 4, "separator": "|", "instance": "redis" },
            "STATE_DB": { "id": 6, "separator": "|", "instance": "redis" },
            "CHASSIS_APP_DB": { "id": 12, "separator": "|", "instance": "redis_chassis" },
            "BROKEN_DB": { "id": "x", "separator": "|", "instance": "redis" }
        },
        "VERSION": "1.0"
    }"#;

    #[test]
    fn dbs_resolve_by_name_to_instance_id_and_separator() {
        let cfg = DbConfig::from_json(SONIC, "test").expect("parses");
        let state = cfg.db("STATE_DB").expect("STATE_DB");
        assert_eq!(state.id, 6);
        assert_eq!(state.separator, "|");
        assert_eq!(state.instance, "redis");
        assert_eq!(
            state.address.unix_socket.as_deref(),
            Some(Path::new("/var/run/redis/redis.sock"))
        );
        let appl = cfg.db("APPL_DB").expect("APPL_DB");
        assert_eq!((appl.id, appl.separator.as_str()), (0, ":"));
        let chassis = cfg.db("CHASSIS_APP_DB").expect("CHASSIS_APP_DB");
        assert_eq!(
            chassis.address.tcp,
            Some(("redis_chassis.server".to_owned(), 6380))
        );
        assert_eq!(chassis.address.unix_socket, None);
    }

    #[test]
    fn an_unknown_db_is_reported_by_name() {
        let cfg = DbConfig::from_json(SONIC, "test").expect("parses");
        let e = cfg.db("NO_SUCH_DB").expect_err("not defined");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.to_string().contains("NO_SUCH_DB"), "{e}");
    }

    #[test]
    fn a_malformed_entry_fails_only_when_used_and_names_the_field() {
        let cfg = DbConfig::from_json(SONIC, "test").expect("other entries are fine");
        let e = cfg.db("BROKEN_DB").expect_err("id is not a number");
        assert_eq!(e.kind(), ErrorKind::InvalidData);
        let msg = e.to_string();
        assert!(msg.contains("DATABASES.BROKEN_DB.id"), "{msg}");
        assert!(msg.contains("\"x\""), "{msg}");
    }

    #[test]
    fn malformed_files_are_errors_that_say_what_is_wrong() {
        for (text, needle) in [
            ("{", "malformed"),
            ("[]", "top level"),
            (r#"{"INSTANCES": {}}"#, "DATABASES is missing"),
            (
                r#"{"INSTANCES": [], "DATABASES": {}}"#,
                "INSTANCES: expected an object",
            ),
        ] {
            let e = DbConfig::from_json(text, "/x/database_config.json").expect_err(text);
            assert_eq!(e.kind(), ErrorKind::InvalidData, "{text}");
            let msg = e.to_string();
            assert!(msg.contains(needle), "{text}: {msg}");
            assert!(msg.contains("/x/database_config.json"), "{text}: {msg}");
        }
        let e = DbConfig::from_json(
            r#"{"INSTANCES": {"r": {"port": 1}}, "DATABASES": {"STATE_DB": {"id": 6, "separator": "|", "instance": "r"}}}"#,
            "t",
        )
        .expect("parses")
        .db("STATE_DB")
        .expect_err("no hostname");
        assert!(e.to_string().contains("hostname is missing"), "{e}");
        let e = DbConfig::from_json(
            r#"{"INSTANCES": {}, "DATABASES": {"STATE_DB": {"id": 6, "separator": "|", "instance": "r"}}}"#,
            "t",
        )
        .expect("parses")
        .db("STATE_DB")
        .expect_err("no such instance");
        assert!(e.to_string().contains("\"r\""), "{e}");
    }

    #[test]
    fn builtin_default_is_redis_on_localhost_with_the_sonic_ids() {
        let cfg = DbConfig::builtin();
        let config = cfg.db(codec::CONFIG_DB).expect("CONFIG_DB");
        let state = cfg.db(codec::STATE_DB).expect("STATE_DB");
        assert_eq!(config.id, codec::DEFAULT_CONFIG_DB_ID);
        assert_eq!(state.id, codec::DEFAULT_STATE_DB_ID);
        assert_eq!(state.separator, codec::DEFAULT_SEPARATOR);
        assert_eq!(
            state.address,
            InstanceAddress {
                unix_socket: None,
                tcp: Some((DEFAULT_HOST.to_owned(), DEFAULT_PORT)),
            }
        );
    }

    #[test]
    fn explicit_path_wins_over_the_environment_and_the_default() {
        let dir = tempfile::tempdir().expect("tempdir");
        let explicit = dir.path().join("explicit.json");
        let env = dir.path().join("env.json");
        std::fs::write(&explicit, SONIC).expect("write");
        std::fs::write(&env, SONIC.replace("\"id\": 6", "\"id\": 7")).expect("write");
        let missing_default = dir.path().join("absent.json");

        let cfg = DbConfig::load_with(Some(&explicit), Some(env.as_os_str()), &missing_default)
            .expect("explicit");
        assert_eq!(cfg.path(), Some(explicit.as_path()));
        assert_eq!(cfg.db("STATE_DB").expect("db").id, 6);

        let cfg = DbConfig::load_with(None, Some(env.as_os_str()), &missing_default).expect("env");
        assert_eq!(cfg.path(), Some(env.as_path()));
        assert_eq!(cfg.db("STATE_DB").expect("db").id, 7);

        let cfg = DbConfig::load_with(None, Some(OsStr::new("")), &explicit).expect("default");
        assert_eq!(cfg.path(), Some(explicit.as_path()));
    }

    #[test]
    fn builtin_is_used_only_when_no_file_exists() {
        let dir = tempfile::tempdir().expect("tempdir");
        let absent = dir.path().join("absent.json");
        let cfg = DbConfig::load_with(None, None, &absent).expect("built-in");
        assert_eq!(cfg.path(), None);
        assert_eq!(
            cfg.db("STATE_DB").expect("db").id,
            codec::DEFAULT_STATE_DB_ID
        );

        // A file that is named but missing is an error, not the built-in default.
        let e = DbConfig::load_with(Some(&absent), None, &absent).expect_err("named, missing");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(e.to_string().contains("absent.json"), "{e}");
        let e = DbConfig::load_with(None, Some(absent.as_os_str()), &absent)
            .expect_err("named by the environment, missing");
        assert_eq!(e.kind(), ErrorKind::NotFound);

        // A default file that exists but is malformed is an error too.
        let bad = dir.path().join("bad.json");
        std::fs::write(&bad, "{ not json").expect("write");
        let e = DbConfig::load_with(None, None, &bad).expect_err("malformed default");
        assert_eq!(e.kind(), ErrorKind::InvalidData);
    }
}
