//! # ctrmgr-dbclient
//!
//! SONiC's CONFIG_DB and STATE_DB for sonic-ctrmgr (DESIGN.md §3), over the `redis` crate.
//!
//! A tour:
//! - [`DbConfig`] reads SONiC's `database_config.json` (explicit path, else `SONIC_DB_CONFIG`,
//!   else `/var/run/redis/sonic-db/database_config.json`, else a built-in default used only
//!   when no file exists) and resolves a DB by name with [`DbConfig::db`] to a [`DbLocation`]:
//!   instance address, DB id and separator. Nothing here hard-codes a DB id.
//! - [`SonicDb::connect`] opens the connections; [`SonicDb`] implements the core's
//!   [`StateStore`](ctrmgr_core::ports::StateStore) port and adds what the CLI and tests need
//!   (`set_feature_config`, `set_server_config`, `delete_feature`, `set_device_metadata`, …).
//!   Every value is decoded and encoded by `ctrmgr_core::codec`; every DB string comes from
//!   its constants.
//! - [`SonicDb::watch`] streams a table's rows: the current rows, [`WatchEvent::Synced`], then
//!   each changed row re-read whole, across reconnections.
//! - [`SonicDb`] also implements the core's [`Watch`](ctrmgr_core::ports::Watch) port
//!   ([`DbSubscription`]): several tables merged into one stream of changed rows with one
//!   resync marker, for the daemons and the driver's loops.
//! - [`Error`] is the one error type; [`Error::kind`] classifies it for the driver.
//! - `testing` (cargo feature `testing`, off in production builds): `testing::TestRedis` runs a
//!   real `redis-server` for tests, here and in other packages.
//!
//! ## Connections
//!
//! One process holds **one multiplexed connection per Redis instance** (a
//! [`redis::aio::ConnectionManager`], which reconnects by itself). On SONiC, CONFIG_DB and
//! STATE_DB share the instance `redis`, so they share that connection: every request is a
//! pipeline that begins with `SELECT <id>`. A pipeline is written to the socket as one unit, so
//! no other task's command can come between the `SELECT` and the commands it is for. What one
//! operation reads is read in one round trip (a feature's config and record are one pipeline:
//! `SELECT 4, HGETALL, SELECT 6, HGETALL`); writes that belong together are one `HSET` or one
//! `MULTI`. The unix socket is preferred; TCP is tried when the socket does not answer.
//!
//! ## Atomic read-modify-write
//!
//! `WATCH` is per-connection state and cannot be used on a shared connection, so
//! read-modify-writes are Lua scripts, which Redis runs atomically:
//! - appending to the pending-label list concatenates on the server (no append is lost, each
//!   writer's order is kept);
//! - removing a drained prefix and a guarded `transition_mode` write are compare-and-set: the
//!   core codec decodes what was read and decides, then a script applies the write only if the
//!   raw value is still exactly what was decoded; otherwise the decision is made again on the
//!   new value. Two racing writers can never both win a guarded write.
//!
//! ## Watching
//!
//! Each watch opens its own RESP2 pub/sub connection (pub/sub cannot share the multiplexed
//! connection) and subscribes to `__keyspace@<id>__:<TABLE><sep>*` before scanning, so nothing
//! falls between scan and subscription. Rows are re-read through the shared connection. If the
//! server has keyspace notifications off, the watch turns on the classes it needs (`Kghx`) or
//! fails with [`Error::Notifications`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), ctrmgr_dbclient::Error> {
//! use ctrmgr_core::ports::StateStore;
//! use ctrmgr_core::FeatureName;
//! use ctrmgr_dbclient::{DbConfig, SonicDb};
//!
//! let db = SonicDb::connect(&DbConfig::load(None)?).await?;
//! let snmp = FeatureName::new("snmp").expect("valid name");
//! let view = db.feature(&snmp).await?; // CONFIG_DB and STATE_DB rows, one round trip
//! println!("{:?} is in state {}", view.config, view.record.state());
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod config;
mod db;
mod error;
mod rows;
mod scripts;
mod subscription;
#[cfg(feature = "testing")]
pub mod testing;
mod watch;

pub use config::{
    DB_CONFIG_ENV, DEFAULT_DB_CONFIG_PATH, DEFAULT_HOST, DEFAULT_INSTANCE, DEFAULT_PORT, DbConfig,
    DbLocation, InstanceAddress,
};
pub use ctrmgr_core::codec::Fields;
pub use db::{DbName, SonicDb};
pub use error::{Error, Result};
pub use subscription::DbSubscription;
pub use watch::{RowEvent, WatchEvent};
