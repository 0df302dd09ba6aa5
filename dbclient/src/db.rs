//! [`SonicDb`]: one connection per Redis instance, typed rows, atomic updates.

use std::collections::BTreeSet;
use std::fmt;
use std::time::Duration;

use ctrmgr_core::codec::{self, Fields};
use ctrmgr_core::label::{self, LabelOp};
use ctrmgr_core::ports::{FeatureView, StateStore};
use ctrmgr_core::{
    DeviceMetadata, FeatureConfig, FeatureName, FeatureRecord, Owner, ServerConfig, ServerStatus,
    StateWrite,
};
use futures_util::Stream;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{ConnectionAddr, FromRedisValue, Pipeline, Script, ScriptInvocation, Value};

use crate::config::{DbConfig, DbLocation};
use crate::error::{Error, Result};
use crate::scripts;
use crate::watch::{self, WatchEvent};

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

    // ---- FEATURE ------------------------------------------------------------------------

    /// CONFIG_DB `FEATURE|<f>`; `None` when the feature is not configured.
    pub async fn feature_config(&self, feature: &FeatureName) -> Result<Option<FeatureConfig>> {
        let key = self.config.key(codec::FEATURE_TABLE, feature.as_str());
        let fields = self.config.hgetall(&key).await?;
        decode_config(&key, &fields)
    }

    /// STATE_DB `FEATURE|<f>` by the total rule (values it does not know are read as the
    /// nearest and logged as warnings); the default record (INIT) when absent.
    pub async fn feature_record(&self, feature: &FeatureName) -> Result<FeatureRecord> {
        let key = self.state.key(codec::FEATURE_TABLE, feature.as_str());
        let fields = self.state.hgetall(&key).await?;
        let decoded = codec::decode_feature_state(&key, &fields);
        for w in &decoded.warnings {
            tracing::warn!(db = codec::STATE_DB, "{w}");
        }
        Ok(decoded.record)
    }

    /// Writes the fields of CONFIG_DB `FEATURE|<f>` this project owns (`set_owner`,
    /// `fallback_to_local`, `kube_failure_detection`) in one HSET, and SONiC's `state` too
    /// when it is `Some` (to install a feature); `None` leaves `state` as it is.
    pub async fn set_feature_config(
        &self,
        feature: &FeatureName,
        cfg: &FeatureConfig,
    ) -> Result<()> {
        let key = self.config.key(codec::FEATURE_TABLE, feature.as_str());
        let mut pairs = codec::encode_feature_config(cfg);
        if let Some(state) = &cfg.state {
            pairs.push((codec::FEATURE_STATE, state.clone()));
        }
        self.config.hset(&key, &pairs).await
    }

    /// Sets CONFIG_DB `FEATURE|<f>` `set_owner` alone.
    pub async fn set_feature_owner(&self, feature: &FeatureName, owner: Owner) -> Result<()> {
        let key = self.config.key(codec::FEATURE_TABLE, feature.as_str());
        self.config
            .hset(&key, &[(codec::SET_OWNER, owner.as_str().to_owned())])
            .await
    }

    /// Sets CONFIG_DB `FEATURE|<f>` `fallback_to_local` alone.
    pub async fn set_feature_fallback(&self, feature: &FeatureName, fallback: bool) -> Result<()> {
        let key = self.config.key(codec::FEATURE_TABLE, feature.as_str());
        self.config
            .hset(
                &key,
                &[(
                    codec::FALLBACK_TO_LOCAL,
                    codec::bool_str(fallback).to_owned(),
                )],
            )
            .await
    }

    /// Sets CONFIG_DB `FEATURE|<f>` `kube_failure_detection` (minutes; 0 = never) alone.
    pub async fn set_feature_failure_detection(
        &self,
        feature: &FeatureName,
        minutes: u32,
    ) -> Result<()> {
        let key = self.config.key(codec::FEATURE_TABLE, feature.as_str());
        self.config
            .hset(
                &key,
                &[(codec::KUBE_FAILURE_DETECTION, minutes.to_string())],
            )
            .await
    }

    /// Sets STATE_DB `FEATURE|<f>` `container_version` (upstream's field: the running
    /// container's `IMAGE_VERSION`, reported by `container_startup.py -v`).
    pub async fn set_container_version(&self, feature: &FeatureName, version: &str) -> Result<()> {
        let key = self.state.key(codec::FEATURE_TABLE, feature.as_str());
        self.state
            .hset(
                &key,
                &[(codec::upstream::CONTAINER_VERSION, version.to_owned())],
            )
            .await
    }

    /// Replaces STATE_DB `FEATURE|<f>` with `rec`, atomically (fields `rec` leaves unset are
    /// removed). For setting up a state; the driver writes through [`StateStore::write_state`].
    pub async fn set_feature_record(
        &self,
        feature: &FeatureName,
        rec: &FeatureRecord,
    ) -> Result<()> {
        let key = self.state.key(codec::FEATURE_TABLE, feature.as_str());
        let mut pairs = codec::encode_feature_record(rec);
        pairs.extend(codec::upstream::mirror_record(feature, rec));
        let mut p = self.state.atomic();
        p.del(&key).ignore().hset_multiple(&key, &pairs).ignore();
        self.state.query::<()>(&p, &format!("write {key}")).await
    }

    /// Deletes a feature's rows: CONFIG_DB `FEATURE|<f>` and STATE_DB `FEATURE|<f>`, in one
    /// MULTI when both DBs share an instance.
    pub async fn delete_feature(&self, feature: &FeatureName) -> Result<()> {
        let ckey = self.config.key(codec::FEATURE_TABLE, feature.as_str());
        let skey = self.state.key(codec::FEATURE_TABLE, feature.as_str());
        let action = format!("delete {ckey}");
        if self.same_instance() {
            let mut p = self.config.atomic();
            p.del(&ckey)
                .ignore()
                .cmd("SELECT")
                .arg(self.state.location.id)
                .ignore()
                .del(&skey)
                .ignore();
            self.config.query::<()>(&p, &action).await
        } else {
            let mut c = self.config.pipe();
            c.del(&ckey).ignore();
            let mut s = self.state.pipe();
            s.del(&skey).ignore();
            futures_util::try_join!(
                self.config.query::<()>(&c, &action),
                self.state.query::<()>(&s, &action)
            )
            .map(|_| ())
        }
    }

    /// Reads CONFIG_DB and STATE_DB `FEATURE|<f>` in one round trip (per instance).
    async fn feature_rows(
        &self,
        feature: &FeatureName,
    ) -> Result<(String, Fields, String, Fields)> {
        let ckey = self.config.key(codec::FEATURE_TABLE, feature.as_str());
        let skey = self.state.key(codec::FEATURE_TABLE, feature.as_str());
        if self.same_instance() {
            let mut p = self.config.pipe();
            p.hgetall(&ckey)
                .cmd("SELECT")
                .arg(self.state.location.id)
                .ignore()
                .hgetall(&skey);
            let (c, s): (Fields, Fields) = self.config.query(&p, &format!("read {ckey}")).await?;
            Ok((ckey, c, skey, s))
        } else {
            let (c, s) =
                futures_util::try_join!(self.config.hgetall(&ckey), self.state.hgetall(&skey))?;
            Ok((ckey, c, skey, s))
        }
    }

    // ---- KUBERNETES_MASTER|SERVER ---------------------------------------------------------

    /// Writes CONFIG_DB `KUBERNETES_MASTER|SERVER` in one MULTI (an unset `ip` is removed).
    pub async fn set_server_config(&self, cfg: &ServerConfig) -> Result<()> {
        let key = self
            .config
            .key(codec::KUBERNETES_MASTER_TABLE, codec::SERVER_KEY);
        let mut p = self.config.atomic();
        if cfg.ip.is_none() {
            p.hdel(&key, codec::SERVER_IP).ignore();
        }
        p.hset_multiple(&key, &codec::encode_server_config(cfg))
            .ignore();
        self.config.query::<()>(&p, &format!("write {key}")).await
    }

    // ---- DEVICE_METADATA ------------------------------------------------------------------

    /// Writes the fields of CONFIG_DB `DEVICE_METADATA|localhost` this project reads, in one
    /// MULTI: `Some` sets a field, `None` removes it; other fields are left alone.
    pub async fn set_device_metadata(&self, md: &DeviceMetadata) -> Result<()> {
        let key = self
            .config
            .key(codec::DEVICE_METADATA_TABLE, codec::LOCALHOST_KEY);
        let fields = [
            (codec::HOSTNAME, &md.hostname),
            (codec::PLATFORM, &md.platform),
            (codec::HWSKU, &md.hwsku),
            (codec::DEVICE_TYPE, &md.deployment_type),
        ];
        let set: Vec<(&str, String)> = fields
            .iter()
            .filter_map(|(f, v)| v.as_ref().map(|v| (*f, v.clone())))
            .collect();
        let del: Vec<&str> = fields
            .iter()
            .filter(|(_, v)| v.is_none())
            .map(|(f, _)| *f)
            .collect();
        let mut p = self.config.atomic();
        if !del.is_empty() {
            p.hdel(&key, &del).ignore();
        }
        if !set.is_empty() {
            p.hset_multiple(&key, &set).ignore();
        }
        self.config.query::<()>(&p, &format!("write {key}")).await
    }

    // ---- KUBE_SERVER|PENDING_LABELS -------------------------------------------------------

    /// Runs [`scripts::LIST_APPEND`]: how many items the list held before (`0`: empty).
    async fn append_pending(&self, ops: &[LabelOp], behind: bool) -> Result<i64> {
        let key = self.pending_key();
        if ops.is_empty() {
            let pending = self.pending_labels().await?;
            return Ok(i64::try_from(pending.len()).unwrap_or(i64::MAX));
        }
        let mut inv = scripts::LIST_APPEND.key(&key);
        inv.arg(codec::PENDING_LABELS_FIELD)
            .arg(codec::encode_pending_labels(ops))
            .arg(codec::LIST_SEPARATOR)
            .arg(if behind { "behind" } else { "always" });
        self.state
            .eval(&scripts::LIST_APPEND, &inv, &format!("append to {key}"))
            .await
    }

    fn pending_key(&self) -> String {
        self.state
            .key(codec::KUBE_SERVER_TABLE, codec::PENDING_LABELS_KEY)
    }

    // ---- watching -------------------------------------------------------------------------

    /// Watches a table: first every current row, then [`WatchEvent::Synced`], then each row
    /// that changes, re-read whole (`fields: None` when it was deleted).
    ///
    /// Keyspace notifications are turned on if the server has them off (an error if it
    /// refuses). After a lost connection the stream reconnects with backoff, resubscribes,
    /// rescans (reporting rows deleted meanwhile as deletions) and sends `Synced` again, so a
    /// consumer always ends up with the final state of every row. Transient failures are
    /// logged and retried, never ended; the stream ends after an `Err` only when the error is
    /// not transient (notifications cannot be enabled). A row that cannot be read (not a
    /// hash) is reported as an `Err` item and the stream goes on.
    ///
    /// Each watch has its own pub/sub connection (RESP2 pub/sub cannot share the multiplexed
    /// connection); rows are read through the shared one.
    pub fn watch(
        &self,
        db: DbName,
        table: &str,
    ) -> impl Stream<Item = Result<WatchEvent>> + Send + 'static {
        watch::watch(self.db(db).clone(), table.to_owned(), None)
    }

    /// [`SonicDb::watch`] narrowed to one row of `table` (`row` is its key after the table
    /// and separator): the subscription names that key alone, so other rows' changes never
    /// reach this process. The first scan reads the row whether it exists or not (a missing
    /// row comes as `fields: None`).
    pub fn watch_row(
        &self,
        db: DbName,
        table: &str,
        row: &str,
    ) -> impl Stream<Item = Result<WatchEvent>> + Send + 'static {
        watch::watch(self.db(db).clone(), table.to_owned(), Some(row.to_owned()))
    }
}

fn decode_config(key: &str, fields: &Fields) -> Result<Option<FeatureConfig>> {
    if fields.is_empty() {
        return Ok(None);
    }
    codec::decode_feature_config(key, fields)
        .map(Some)
        .map_err(|e| Error::decode(codec::CONFIG_DB, e))
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

impl StateStore for SonicDb {
    type Error = Error;

    async fn feature(&self, feature: &FeatureName) -> Result<FeatureView> {
        let (ckey, cfields, skey, sfields) = self.feature_rows(feature).await?;
        // STATE_DB is this project's: a value it does not know is read as the nearest one
        // (docs/decisions.md, rel-1), returned for the caller to log, repaired by the next
        // write.
        let decoded = codec::decode_feature_state(&skey, &sfields);
        Ok(FeatureView {
            config: decode_config(&ckey, &cfields)?,
            record: decoded.record,
            warnings: decoded.warnings,
        })
    }

    async fn features(&self) -> Result<Vec<FeatureName>> {
        let keys = self.config.table_keys(codec::FEATURE_TABLE).await?;
        Ok(keys
            .into_iter()
            .filter_map(|k| match FeatureName::new(&k) {
                Ok(f) => Some(f),
                Err(e) => {
                    tracing::warn!(db = codec::CONFIG_DB, table = codec::FEATURE_TABLE, key = %k, error = %e, "ignoring a feature whose name this project cannot manage");
                    None
                }
            })
            .collect())
    }

    async fn write_state(&self, feature: &FeatureName, write: &StateWrite) -> Result<bool> {
        let key = self.state.key(codec::FEATURE_TABLE, feature.as_str());
        // The seed's fields and, in the same HSET, upstream's mirror of them.
        let pairs = codec::encode_state_write(feature, write);
        let Some(guard) = write.guard else {
            let mut p = self.state.pipe();
            p.hset_multiple(&key, &pairs).ignore();
            for (field, value) in codec::upstream::mirror_defaults(write) {
                p.hset_nx(&key, field, value).ignore();
            }
            self.state.query::<()>(&p, &format!("write {key}")).await?;
            return Ok(true);
        };
        // First assume the mode is spelled as this project writes it; if the row holds another
        // spelling of the same mode (absent, empty, upper case), retry against exactly that.
        let mut expected = Some(guard.as_str().to_owned());
        for _ in 0..CAS_ATTEMPTS {
            let outcome = self
                .state
                .guarded_update(
                    &key,
                    codec::TRANSITION_MODE,
                    expected.as_deref(),
                    &[],
                    &pairs,
                )
                .await?;
            let Guarded::Mismatch(raw) = outcome else {
                return Ok(true);
            };
            // Read as the reader read it: an unknown spelling is `none` (rel-1).
            let (seen, _) = codec::read_transition_mode(raw.as_deref());
            if seen != guard {
                return Ok(false);
            }
            expected = raw;
        }
        Err(Error::Contended {
            db: codec::STATE_DB.to_owned(),
            key,
            attempts: CAS_ATTEMPTS,
        })
    }

    async fn server_config(&self) -> Result<ServerConfig> {
        let key = self
            .config
            .key(codec::KUBERNETES_MASTER_TABLE, codec::SERVER_KEY);
        let fields = self.config.hgetall(&key).await?;
        codec::decode_server_config(&key, &fields).map_err(|e| Error::decode(codec::CONFIG_DB, e))
    }

    async fn server_status(&self) -> Result<ServerStatus> {
        let key = self
            .state
            .key(codec::KUBERNETES_MASTER_TABLE, codec::SERVER_KEY);
        let fields = self.state.hgetall(&key).await?;
        // STATE_DB is this project's: read past what it does not know (rel-1).
        let (status, warnings) = codec::decode_server_status_total(&key, &fields);
        for w in warnings {
            tracing::warn!(db = codec::STATE_DB, "{w}");
        }
        Ok(status)
    }

    async fn set_server_status(&self, status: &ServerStatus) -> Result<()> {
        let key = self
            .state
            .key(codec::KUBERNETES_MASTER_TABLE, codec::SERVER_KEY);
        let mut pairs = codec::encode_server_status(status);
        if status.connected {
            // Upstream's state row names the server joined (`show kubernetes server status`).
            let ckey = self
                .config
                .key(codec::KUBERNETES_MASTER_TABLE, codec::SERVER_KEY);
            let cfg = self.config.hgetall(&ckey).await?;
            match codec::decode_server_config(&ckey, &cfg) {
                Ok(c) => {
                    if let Some(ip) = c.ip {
                        pairs.push((codec::SERVER_IP, ip));
                    }
                    pairs.push((codec::SERVER_PORT, c.port.to_string()));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "server status written without ip and port");
                }
            }
        }
        self.state.hset(&key, &pairs).await
    }

    async fn device_metadata(&self) -> Result<DeviceMetadata> {
        let key = self
            .config
            .key(codec::DEVICE_METADATA_TABLE, codec::LOCALHOST_KEY);
        let fields = self.config.hgetall(&key).await?;
        Ok(codec::decode_device_metadata(&fields))
    }

    async fn pending_labels(&self) -> Result<Vec<LabelOp>> {
        let key = self.pending_key();
        let raw = self.state.hget(&key, codec::PENDING_LABELS_FIELD).await?;
        // STATE_DB is this project's: a malformed item is left out (rel-1); the drain's
        // rewrite of the list drops it.
        let (ops, warnings) = codec::decode_pending_labels_total(&key, raw.as_deref());
        for w in warnings {
            tracing::warn!(db = codec::STATE_DB, "{w}");
        }
        Ok(ops)
    }

    async fn append_pending_labels(&self, ops: &[LabelOp]) -> Result<bool> {
        Ok(self.append_pending(ops, false).await? == 0)
    }

    async fn append_pending_labels_behind(&self, ops: &[LabelOp]) -> Result<usize> {
        Ok(usize::try_from(self.append_pending(ops, true).await?).unwrap_or(0))
    }

    async fn remove_pending_prefix(&self, drained: &[LabelOp]) -> Result<bool> {
        if drained.is_empty() {
            return Ok(true);
        }
        let key = self.pending_key();
        let mut raw = self.state.hget(&key, codec::PENDING_LABELS_FIELD).await?;
        for _ in 0..CAS_ATTEMPTS {
            let (current, _) = codec::decode_pending_labels_total(&key, raw.as_deref());
            let Some(rest) = label::remove_prefix(&current, drained) else {
                return Ok(false);
            };
            let outcome = if rest.is_empty() {
                self.state
                    .guarded_update(
                        &key,
                        codec::PENDING_LABELS_FIELD,
                        raw.as_deref(),
                        &[codec::PENDING_LABELS_FIELD],
                        &[],
                    )
                    .await?
            } else {
                self.state
                    .guarded_update(
                        &key,
                        codec::PENDING_LABELS_FIELD,
                        raw.as_deref(),
                        &[],
                        &[(
                            codec::PENDING_LABELS_FIELD,
                            codec::encode_pending_labels(&rest),
                        )],
                    )
                    .await?
            };
            match outcome {
                Guarded::Applied => return Ok(true),
                // Someone appended meanwhile: decide again on what is there now.
                Guarded::Mismatch(now) => raw = now,
            }
        }
        Err(Error::Contended {
            db: codec::STATE_DB.to_owned(),
            key,
            attempts: CAS_ATTEMPTS,
        })
    }

    async fn purge_pending_labels(&self) -> Result<()> {
        let key = self.pending_key();
        let mut p = self.state.pipe();
        p.hdel(&key, codec::PENDING_LABELS_FIELD).ignore();
        self.state.query::<()>(&p, &format!("purge {key}")).await
    }
}
