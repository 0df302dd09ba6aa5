//! Helpers shared by the tests: a server, a client, raw access and bounded waits.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use ctrmgr_core::FeatureName;
use ctrmgr_dbclient::testing::TestRedis;
use ctrmgr_dbclient::{DbName, Fields, SonicDb, WatchEvent};
use futures_util::{Stream, StreamExt};
use redis::aio::MultiplexedConnection;

/// The bound of every wait in these tests; a wait that runs out fails the test.
pub const WAIT: Duration = Duration::from_secs(20);

pub fn redis() -> TestRedis {
    TestRedis::start().expect("redis-server starts (apt-get install redis-server)")
}

pub async fn connect(r: &TestRedis) -> SonicDb {
    r.connect()
        .await
        .expect("connects through database_config.json")
}

pub fn feature(name: &str) -> FeatureName {
    FeatureName::new(name).expect("valid feature name")
}

/// A plain connection, for writing malformed values and checking raw rows.
pub struct Raw {
    conn: MultiplexedConnection,
}

impl Raw {
    pub async fn new(r: &TestRedis) -> Self {
        let client = r.client().expect("client");
        let conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("raw connection");
        Self { conn }
    }

    pub async fn hset(&mut self, db: &SonicDb, which: DbName, key: &str, pairs: &[(&str, &str)]) {
        redis::pipe()
            .cmd("SELECT")
            .arg(db.location(which).id)
            .ignore()
            .hset_multiple(key, pairs)
            .ignore()
            .query_async::<()>(&mut self.conn)
            .await
            .expect("raw HSET");
    }

    pub async fn set_string(&mut self, db: &SonicDb, which: DbName, key: &str, value: &str) {
        redis::pipe()
            .cmd("SELECT")
            .arg(db.location(which).id)
            .ignore()
            .set(key, value)
            .ignore()
            .query_async::<()>(&mut self.conn)
            .await
            .expect("raw SET");
    }

    pub async fn del(&mut self, db: &SonicDb, which: DbName, key: &str) {
        redis::pipe()
            .cmd("SELECT")
            .arg(db.location(which).id)
            .ignore()
            .del(key)
            .ignore()
            .query_async::<()>(&mut self.conn)
            .await
            .expect("raw DEL");
    }

    pub async fn hgetall(&mut self, db: &SonicDb, which: DbName, key: &str) -> Fields {
        let (f,): (HashMap<String, String>,) = redis::pipe()
            .cmd("SELECT")
            .arg(db.location(which).id)
            .ignore()
            .hgetall(key)
            .query_async(&mut self.conn)
            .await
            .expect("raw HGETALL");
        f
    }

    pub async fn command(&mut self, cmd: &redis::Cmd) -> redis::Value {
        cmd.query_async(&mut self.conn).await.expect("raw command")
    }
}

pub fn fields(pairs: &[(&str, &str)]) -> Fields {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Awaits `fut`, failing the test if it takes longer than [`WAIT`].
pub async fn bounded<T>(what: &str, fut: impl Future<Output = T>) -> T {
    match tokio::time::timeout(WAIT, fut).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}"),
    }
}

/// Reads events until one satisfies `done`; returns every event read, the last one included.
pub async fn events_until<S>(
    stream: &mut S,
    what: &str,
    mut done: impl FnMut(&WatchEvent) -> bool,
) -> Vec<WatchEvent>
where
    S: Stream<Item = ctrmgr_dbclient::Result<WatchEvent>> + Unpin,
{
    bounded(what, async {
        let mut seen = Vec::new();
        loop {
            let ev = stream
                .next()
                .await
                .expect("the watch stream does not end")
                .expect("no error from the watch");
            let stop = done(&ev);
            seen.push(ev);
            if stop {
                return seen;
            }
        }
    })
    .await
}

/// Whether `ev` is the row `key` with `field` = `value`.
pub fn is_row_with(ev: &WatchEvent, key: &str, field: &str, value: &str) -> bool {
    matches!(ev, WatchEvent::Row(r) if r.key == key
        && r.fields.as_ref().and_then(|f| f.get(field)).map(String::as_str) == Some(value))
}

/// Whether `ev` is the deletion of row `key`.
pub fn is_deletion(ev: &WatchEvent, key: &str) -> bool {
    matches!(ev, WatchEvent::Row(r) if r.key == key && r.fields.is_none())
}
