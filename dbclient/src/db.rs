//! [`SonicDb`]: one connection per Redis instance, typed rows, atomic updates.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use ctrmgr_core::codec::{self, Fields};
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, FromRedisValue, Pipeline, Script, ScriptInvocation, Value};

use crate::config::{DbConfig, DbLocation};
use crate::error::{Error, Result};
use crate::scripts;

mod rows;
mod store;

/// How many times a compare-and-set is retried when the raw value changed under it while the
/// decoded value still allowed the write. Each retry means another writer made progress.
const CAS_ATTEMPTS: u32 = 64;

/// Each connection attempt gives up after this long.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// A request that gets no answer for this long fails (transient) instead of hanging.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(30);
/// Reconnection attempts per failure, with exponential backoff from 50 ms.
const RECONNECT_RETRIES: usize = 3;
const RECONNECT_MIN_DELAY: Duration = Duration::from_millis(50);
const RECONNECT_MAX_DELAY: Duration = Duration::from_secs(1);

/// The two SONiC databases this project uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DbName {
    /// CONFIG_DB: what the operator configured.
    ConfigDb,
    /// STATE_DB: what is.
    StateDb,
}

impl DbName {
    /// The DB's name in `database_config.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            DbName::ConfigDb => codec::CONFIG_DB,
            DbName::StateDb => codec::STATE_DB,
        }
    }
}

impl fmt::Display for DbName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One DB on one instance: where it is and the connection to its instance.
#[derive(Clone)]
pub(crate) struct Db {
    pub(crate) name: &'static str,
    pub(crate) location: DbLocation,
    /// The client for the address that answered, used to open pub/sub connections.
    pub(crate) client: redis::Client,
    /// The instance's shared multiplexed connection (reconnects by itself).
    pub(crate) conn: ConnectionManager,
}

impl fmt::Debug for Db {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Db")
            .field("name", &self.name)
            .field("location", &self.location)
            .finish_non_exhaustive()
    }
}

impl Db {
    /// `<table><sep><key>`.
    pub(crate) fn key(&self, table: &str, key: &str) -> String {
        codec::row_key(table, &self.location.separator, key)
    }

    /// A pipeline that first selects this DB. Every request starts this way because the
    /// connection is shared with the instance's other DBs.
    pub(crate) fn pipe(&self) -> Pipeline {
        let mut p = redis::pipe();
        p.cmd("SELECT").arg(self.location.id).ignore();
        p
    }

    /// Same as [`Db::pipe`] but wrapped in MULTI/EXEC.
    pub(crate) fn atomic(&self) -> Pipeline {
        let mut p = redis::pipe();
        p.atomic().cmd("SELECT").arg(self.location.id).ignore();
        p
    }

    /// Sends a pipeline built by [`Db::pipe`] and converts the replies of the commands that
    /// were not ignored.
    pub(crate) async fn query<T: FromRedisValue>(&self, p: &Pipeline, action: &str) -> Result<T> {
        let mut conn = self.conn.clone();
        p.query_async(&mut conn)
            .await
            .map_err(|e| Error::redis(self.name, action, e))
    }

    pub(crate) async fn hgetall(&self, key: &str) -> Result<Fields> {
        let mut p = self.pipe();
        p.hgetall(key);
        let (fields,): (Fields,) = self.query(&p, &format!("read {key}")).await?;
        Ok(fields)
    }

    async fn hget(&self, key: &str, field: &str) -> Result<Option<String>> {
        let mut p = self.pipe();
        p.hget(key, field);
        let (v,): (Option<String>,) = self.query(&p, &format!("read {key} {field}")).await?;
        Ok(v)
    }

    pub(crate) async fn hset(&self, key: &str, pairs: &[(&str, String)]) -> Result<()> {
        if pairs.is_empty() {
            return Ok(());
        }
        let mut p = self.pipe();
        p.hset_multiple(key, pairs).ignore();
        self.query::<()>(&p, &format!("write {key}")).await
    }

    /// Runs a script after selecting this DB; loads it first if the server does not know it
    /// (after a restart, or the first time).
    pub(crate) async fn eval<T: FromRedisValue>(
        &self,
        script: &Script,
        inv: &ScriptInvocation<'_>,
        action: &str,
    ) -> Result<T> {
        let mut p = self.pipe();
        p.invoke_script(inv);
        let mut conn = self.conn.clone();
        match p.query_async::<(T,)>(&mut conn).await {
            Ok((v,)) => Ok(v),
            Err(e) if e.kind() == redis::ErrorKind::Server(redis::ServerErrorKind::NoScript) => {
                let mut p = self.pipe();
                p.load_script(script).ignore().invoke_script(inv);
                let (v,): (T,) = self.query(&p, action).await?;
                Ok(v)
            }
            Err(e) => Err(Error::redis(self.name, action, e)),
        }
    }

    /// Compare-and-set through [`scripts::GUARDED_UPDATE`]: if `field` of `key` still holds
    /// exactly `expected` (`None` = absent), deletes `delete` and sets `set`.
    async fn guarded_update(
        &self,
        key: &str,
        field: &str,
        expected: Option<&str>,
        delete: &[&str],
        set: &[(&str, String)],
    ) -> Result<Guarded> {
        let mut inv = scripts::GUARDED_UPDATE.key(key);
        inv.arg(field)
            .arg(if expected.is_some() { "1" } else { "0" })
            .arg(expected.unwrap_or(""))
            .arg(delete.len())
            .arg(delete);
        for (f, v) in set {
            inv.arg(*f).arg(v);
        }
        let action = format!("compare-and-set {key} {field}");
        let reply: Vec<Value> = self.eval(&scripts::GUARDED_UPDATE, &inv, &action).await?;
        let unexpected = || Error::UnexpectedReply {
            db: self.name.to_owned(),
            action: action.clone(),
            detail: format!("{reply:?}"),
        };
        let applied: i64 = reply
            .first()
            .and_then(|v| i64::from_redis_value_ref(v).ok())
            .ok_or_else(unexpected)?;
        match (applied, reply.get(1)) {
            (1, _) => Ok(Guarded::Applied),
            (0, None) => Ok(Guarded::Mismatch(None)),
            (0, Some(v)) => String::from_redis_value_ref(v)
                .map(|s| Guarded::Mismatch(Some(s)))
                .map_err(|_| unexpected()),
            _ => Err(unexpected()),
        }
    }

    /// Every key of `table` (without the table prefix), by SCAN.
    pub(crate) async fn table_keys(&self, table: &str) -> Result<BTreeSet<String>> {
        let prefix = self.key(table, "");
        let pattern = format!("{}*", glob_escape(&prefix));
        let action = format!("scan {prefix}*");
        let mut keys = BTreeSet::new();
        let mut cursor: u64 = 0;
        loop {
            let mut p = self.pipe();
            p.cmd("SCAN")
                .arg(cursor)
                .arg("MATCH")
                .arg(&pattern)
                .arg("COUNT")
                .arg(1000);
            let ((next, batch),): ((u64, Vec<String>),) = self.query(&p, &action).await?;
            keys.extend(
                batch
                    .into_iter()
                    .filter_map(|k| k.strip_prefix(&prefix).map(str::to_owned)),
            );
            if next == 0 {
                return Ok(keys);
            }
            cursor = next;
        }
    }
}

/// What a compare-and-set found.
enum Guarded {
    Applied,
    /// Not applied; the guarded field's raw value (`None` = absent).
    Mismatch(Option<String>),
}

/// Escapes Redis glob characters so that a literal prefix matches only itself.
pub(crate) fn glob_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '*' | '?' | '[' | ']' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// CONFIG_DB and STATE_DB of one SONiC switch.
///
/// Cloning is cheap: clones share the connections.
#[derive(Debug, Clone)]
pub struct SonicDb {
    config: Db,
    state: Db,
}

impl SonicDb {
    /// Connects to the instances holding CONFIG_DB and STATE_DB (one connection when they
    /// share an instance, as they do on SONiC). For each instance the unix socket is tried
    /// first, then TCP.
    pub async fn connect(cfg: &DbConfig) -> Result<Self> {
        let config_loc = cfg.db(codec::CONFIG_DB)?;
        let state_loc = cfg.db(codec::STATE_DB)?;
        let (client, conn) = open(&config_loc).await?;
        let config = Db {
            name: codec::CONFIG_DB,
            location: config_loc.clone(),
            client,
            conn,
        };
        let state = if state_loc.instance == config_loc.instance
            && state_loc.address == config_loc.address
        {
            Db {
                name: codec::STATE_DB,
                location: state_loc,
                client: config.client.clone(),
                conn: config.conn.clone(),
            }
        } else {
            let (client, conn) = open(&state_loc).await?;
            Db {
                name: codec::STATE_DB,
                location: state_loc,
                client,
                conn,
            }
        };
        Ok(Self { config, state })
    }

    /// Where a DB lives (instance, id, separator).
    pub fn location(&self, db: DbName) -> &DbLocation {
        &self.db(db).location
    }

    pub(crate) fn db(&self, db: DbName) -> &Db {
        match db {
            DbName::ConfigDb => &self.config,
            DbName::StateDb => &self.state,
        }
    }

    fn same_instance(&self) -> bool {
        self.config.location.instance == self.state.location.instance
            && self.config.location.address == self.state.location.address
    }
}

/// Connects to one instance: its unix socket first, then TCP.
async fn open(loc: &DbLocation) -> Result<(redis::Client, ConnectionManager)> {
    let mut addrs = Vec::with_capacity(2);
    if let Some(path) = &loc.address.unix_socket {
        addrs.push(ConnectionAddr::Unix(path.clone()));
    }
    if let Some((host, port)) = &loc.address.tcp {
        addrs.push(ConnectionAddr::Tcp(host.clone(), *port));
    }
    let mut last = None;
    for addr in addrs {
        let shown = addr.to_string();
        let attempt = async {
            let client = redis::Client::open(addr)?;
            let conn = ConnectionManager::new_with_config(client.clone(), manager_config()).await?;
            Ok::<_, redis::RedisError>((client, conn))
        };
        match attempt.await {
            Ok(ok) => {
                tracing::debug!(db = %loc.name, instance = %loc.instance, address = %shown, "connected");
                return Ok(ok);
            }
            Err(e) => {
                tracing::debug!(db = %loc.name, address = %shown, error = %e, "connection attempt failed");
                last = Some(e);
            }
        }
    }
    let source = last.unwrap_or_else(|| {
        redis::RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "no address configured",
        ))
    });
    Err(Error::Connect {
        db: loc.name.clone(),
        instance: loc.instance.clone(),
        address: loc.address.to_string(),
        source,
    })
}

fn manager_config() -> ConnectionManagerConfig {
    ConnectionManagerConfig::new()
        .set_connection_timeout(Some(CONNECT_TIMEOUT))
        .set_response_timeout(Some(RESPONSE_TIMEOUT))
        .set_number_of_retries(RECONNECT_RETRIES)
        .set_min_delay(RECONNECT_MIN_DELAY)
        .set_max_delay(RECONNECT_MAX_DELAY)
}
