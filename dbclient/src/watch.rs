//! Watching a table through keyspace notifications, level-triggered.
//!
//! The watcher subscribes to `__keyspace@<id>__:<TABLE><sep>*` on a pub/sub connection of its
//! own, *then* scans the table (so that no change can fall between the scan and the
//! subscription), and after that re-reads each row a notification names. Notifications only
//! say that something happened to a key; the row read afterwards is the truth. When the
//! pub/sub connection is lost, the watcher reconnects with exponential backoff, resubscribes
//! and rescans, reporting rows that disappeared meanwhile as deletions.

use std::collections::{BTreeSet, VecDeque};

use ctrmgr_core::codec::Fields;
use ctrmgr_core::ports::ErrorKind;
use ctrmgr_core::retry::{self, error_line};
use futures_util::{FutureExt, Stream, StreamExt};
use redis::aio::PubSubStream;

use crate::db::{Db, glob_escape};
use crate::error::{Error, Result, redis_kind};

/// One change of a watched table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowEvent {
    /// The row's key without the table and separator (`snmp` for `FEATURE|snmp`).
    pub key: String,
    /// The whole row as it is now; `None` when it was deleted.
    pub fields: Option<Fields>,
}

/// What a watch delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// A row as it is now (or its deletion).
    Row(RowEvent),
    /// Every row present has been delivered (after the first scan, and again after each
    /// rescan that follows a reconnection).
    Synced,
}

/// At most this many notifications that are already waiting are read together (their rows
/// are then fetched in one round trip).
const MAX_BATCH: usize = 256;

pub(crate) fn watch(
    db: Db,
    table: String,
    row: Option<String>,
) -> impl Stream<Item = Result<WatchEvent>> + Send {
    let watcher = Watcher {
        prefix: db.key(&table, ""),
        row,
        channel_prefix: format!("__keyspace@{}__:", db.location.id),
        db,
        messages: None,
        queue: VecDeque::new(),
        known: BTreeSet::new(),
        failures: 0,
        finished: false,
    };
    futures_util::stream::unfold(
        watcher,
        |mut w| async move { w.next().await.map(|ev| (ev, w)) },
    )
}

struct Watcher {
    db: Db,
    /// `<TABLE><sep>`.
    prefix: String,
    /// Only this row of the table (its key after the prefix); `None`: every row.
    row: Option<String>,
    /// `__keyspace@<id>__:`.
    channel_prefix: String,
    /// The subscription; `None` until (re)subscribed.
    messages: Option<PubSubStream>,
    /// Events ready to hand out.
    queue: VecDeque<Result<WatchEvent>>,
    /// Keys reported present, so that a rescan can report the ones that vanished.
    known: BTreeSet<String>,
    /// Consecutive failed (re)subscriptions, for the backoff.
    failures: u32,
    /// A permanent error was reported; nothing more will come.
    finished: bool,
}

impl Watcher {
    async fn next(&mut self) -> Option<Result<WatchEvent>> {
        loop {
            if let Some(ev) = self.queue.pop_front() {
                return Some(ev);
            }
            if self.finished {
                return None;
            }
            let Some(messages) = self.messages.as_mut() else {
                self.backoff().await;
                match self.resync().await {
                    Ok(()) => self.failures = 0,
                    Err(e) if e.kind() == ErrorKind::Transient => {
                        self.failures = self.failures.saturating_add(1);
                        tracing::warn!(db = self.db.name, table = %self.prefix, error = %error_line(&e), "watch: cannot subscribe and scan; retrying");
                    }
                    Err(e) => {
                        self.finished = true;
                        return Some(Err(e));
                    }
                }
                continue;
            };
            let Some(first) = messages.next().await else {
                tracing::warn!(db = self.db.name, table = %self.prefix, "watch: connection lost; resubscribing");
                self.messages = None;
                continue;
            };
            // Take whatever else is already waiting, so that a burst costs one round trip.
            let mut batch = vec![first];
            let mut lost = false;
            while batch.len() < MAX_BATCH {
                match messages.next().now_or_never() {
                    Some(Some(msg)) => batch.push(msg),
                    Some(None) => {
                        lost = true;
                        break;
                    }
                    None => break,
                }
            }
            let mut keys = Vec::with_capacity(batch.len());
            for msg in &batch {
                self.push_key(&mut keys, msg);
            }
            if let Err(e) = self.read_rows(&keys).await {
                // The rows will be re-read by the rescan that follows the reconnection.
                tracing::warn!(db = self.db.name, table = %self.prefix, error = %error_line(&e), "watch: cannot read changed rows; resubscribing");
                lost = true;
            }
            if lost {
                self.messages = None;
            }
        }
    }

    /// Sleeps before a reconnection attempt: not at all the first time, then as
    /// [`retry::WATCH`] says (100 ms doubling to 5 s).
    async fn backoff(&self) {
        if let Some(retry) = self.failures.checked_sub(1) {
            tokio::time::sleep(retry::WATCH.delay(retry)).await;
        }
    }

    /// Adds the row key a notification names (once).
    fn push_key(&self, keys: &mut Vec<String>, msg: &redis::Msg) {
        let key = msg
            .get_channel_name()
            .strip_prefix(&self.channel_prefix)
            .and_then(|k| k.strip_prefix(&self.prefix));
        if let Some(key) = key
            && !keys.iter().any(|k| k == key)
        {
            keys.push(key.to_owned());
        }
    }

    /// Makes sure notifications are on, subscribes, scans, and queues every row and the
    /// deletions of rows that vanished, then `Synced`.
    async fn resync(&mut self) -> Result<()> {
        self.messages = None;
        ensure_keyspace_events(&self.db).await?;
        let pattern = match &self.row {
            None => format!("{}{}*", self.channel_prefix, glob_escape(&self.prefix)),
            Some(row) => format!(
                "{}{}{}",
                self.channel_prefix,
                glob_escape(&self.prefix),
                glob_escape(row)
            ),
        };
        let subscribe = async {
            let mut pubsub = self.db.client.get_async_pubsub().await?;
            pubsub.psubscribe(&pattern).await?;
            Ok::<_, redis::RedisError>(pubsub.into_on_message())
        };
        let messages = subscribe
            .await
            .map_err(|e| Error::redis(self.db.name, format!("subscribe to {pattern}"), e))?;
        let present = match &self.row {
            None => self.db.table_keys(self.prefix_table()).await?,
            // The one row is read whether it exists or not: a missing one reads as deleted.
            Some(row) => BTreeSet::from([row.clone()]),
        };
        let vanished: Vec<String> = self.known.difference(&present).cloned().collect();
        let keys: Vec<String> = present.into_iter().chain(vanished).collect();
        self.read_rows(&keys).await?;
        self.queue.push_back(Ok(WatchEvent::Synced));
        self.messages = Some(messages);
        Ok(())
    }

    fn prefix_table(&self) -> &str {
        self.prefix
            .strip_suffix(self.db.location.separator.as_str())
            .unwrap_or(&self.prefix)
    }

    /// Reads rows in one round trip and queues an event for each. A row that cannot be read
    /// (not a hash) is queued as an error; a failure of the request itself is returned and
    /// nothing is queued.
    async fn read_rows(&mut self, keys: &[String]) -> Result<()> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut p = self.db.pipe();
        p.ignore_errors();
        for k in keys {
            p.hgetall(format!("{}{k}", self.prefix));
        }
        let rows: Vec<redis::RedisResult<Fields>> =
            self.db.query(&p, &format!("read {}*", self.prefix)).await?;
        for (key, row) in keys.iter().zip(rows) {
            match row {
                Ok(fields) if fields.is_empty() => {
                    self.known.remove(key);
                    self.queue.push_back(Ok(WatchEvent::Row(RowEvent {
                        key: key.clone(),
                        fields: None,
                    })));
                }
                Ok(fields) => {
                    self.known.insert(key.clone());
                    self.queue.push_back(Ok(WatchEvent::Row(RowEvent {
                        key: key.clone(),
                        fields: Some(fields),
                    })));
                }
                Err(e) if redis_kind(&e) == ErrorKind::Transient => {
                    return Err(Error::redis(
                        self.db.name,
                        format!("read {}{key}", self.prefix),
                        e,
                    ));
                }
                Err(e) => self.queue.push_back(Err(Error::redis(
                    self.db.name,
                    format!("read {}{key}", self.prefix),
                    e,
                ))),
            }
        }
        Ok(())
    }
}

/// The notification classes a watch needs: keyspace (`K`), generic (`g`: del, rename), hash
/// (`h`) and expired (`x`); `A` stands for all but keyspace/keyevent.
fn missing_event_classes(current: &str) -> String {
    let mut missing = String::new();
    if !current.contains('K') {
        missing.push('K');
    }
    if !current.contains('A') {
        for c in ['g', 'h', 'x'] {
            if !current.contains(c) {
                missing.push(c);
            }
        }
    }
    missing
}

/// Turns keyspace notifications on when the server has them off (SONiC's redis has them on;
/// a plain redis-server does not).
async fn ensure_keyspace_events(db: &Db) -> Result<()> {
    const PARAM: &str = "notify-keyspace-events";
    let mut conn = db.conn.clone();
    let current: Vec<String> = redis::cmd("CONFIG")
        .arg("GET")
        .arg(PARAM)
        .query_async(&mut conn)
        .await
        .map_err(|e| {
            if redis_kind(&e) == ErrorKind::Transient {
                Error::redis(db.name, format!("read {PARAM}"), e)
            } else {
                Error::Notifications {
                    db: db.name.to_owned(),
                    detail: format!("CONFIG GET {PARAM} failed"),
                    source: e,
                }
            }
        })?;
    let current = current.get(1).cloned().unwrap_or_default();
    let missing = missing_event_classes(&current);
    if missing.is_empty() {
        return Ok(());
    }
    let wanted = format!("{current}{missing}");
    tracing::info!(db = db.name, from = %current, to = %wanted, "enabling keyspace notifications");
    redis::cmd("CONFIG")
        .arg("SET")
        .arg(PARAM)
        .arg(&wanted)
        .query_async::<()>(&mut conn)
        .await
        .map_err(|e| {
            if redis_kind(&e) == ErrorKind::Transient {
                Error::redis(db.name, format!("set {PARAM}"), e)
            } else {
                Error::Notifications {
                    db: db.name.to_owned(),
                    detail: format!(
                        "{PARAM} is {current:?} and CONFIG SET {PARAM} {wanted} failed"
                    ),
                    source: e,
                }
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_event_classes_adds_only_what_a_watch_needs() {
        assert_eq!(missing_event_classes("AKE"), "");
        assert_eq!(missing_event_classes(""), "Kghx");
        assert_eq!(missing_event_classes("E$"), "Kghx");
        assert_eq!(missing_event_classes("Kh"), "gx");
        assert_eq!(missing_event_classes("gxhK"), "");
    }
}
