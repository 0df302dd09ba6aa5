//! The core's [`Watch`] port over keyspace notifications: several tables merged into one
//! stream of [`Change`]s with one resync marker.

use std::pin::Pin;

use ctrmgr_core::FeatureName;
use ctrmgr_core::codec;
use ctrmgr_core::ports::{Change, Subscription, Watch, Watched};
use futures_util::{Stream, StreamExt};

use crate::db::{DbName, SonicDb};
use crate::error::Result;
use crate::watch::WatchEvent;

type Changes = Pin<Box<dyn Stream<Item = Result<Change>> + Send>>;

/// A subscription of [`SonicDb`] to the rows of some tables (see [`Watch`]). Each table is
/// watched by [`SonicDb::watch`]; the first [`Change::Synced`] comes once every table has been
/// scanned, and each later one after a table was rescanned following a lost connection.
pub struct DbSubscription {
    changes: Changes,
}

impl std::fmt::Debug for DbSubscription {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbSubscription").finish_non_exhaustive()
    }
}

/// Where a watched table lives and which of its rows matter.
fn location(table: Watched) -> (DbName, &'static str, Option<&'static str>) {
    match table {
        Watched::FeatureConfig => (DbName::ConfigDb, codec::FEATURE_TABLE, None),
        Watched::FeatureState => (DbName::StateDb, codec::FEATURE_TABLE, None),
        Watched::ServerConfig => (
            DbName::ConfigDb,
            codec::KUBERNETES_MASTER_TABLE,
            Some(codec::SERVER_KEY),
        ),
        Watched::ServerStatus => (
            DbName::StateDb,
            codec::KUBERNETES_MASTER_TABLE,
            Some(codec::SERVER_KEY),
        ),
        Watched::PendingLabels => (
            DbName::StateDb,
            codec::KUBE_SERVER_TABLE,
            Some(codec::PENDING_LABELS_KEY),
        ),
    }
}

/// What one table's watch event becomes: a change, a resync marker, or nothing (a row of the
/// table that is not watched).
enum Item {
    Change(Change),
    Synced,
    Skip,
}

fn item(table: Watched, only: Option<&str>, ev: WatchEvent) -> Item {
    match ev {
        WatchEvent::Synced => Item::Synced,
        WatchEvent::Row(row) => match only {
            Some(key) if row.key != key => Item::Skip,
            Some(_) => Item::Change(Change::Row(table)),
            None => Item::Change(Change::Feature {
                table,
                key: row.key,
            }),
        },
    }
}

impl SonicDb {
    /// Subscribes to the rows of `tables` (see [`Watch::subscribe`]); a table named twice is
    /// watched once.
    pub fn subscribe_tables(&self, tables: &[Watched]) -> DbSubscription {
        self.subscribe_rows(tables, None)
    }

    /// [`SonicDb::subscribe_tables`], the feature tables narrowed to `feature`'s row when one
    /// is given (see [`Watch::subscribe_feature`]).
    fn subscribe_rows(&self, tables: &[Watched], feature: Option<&str>) -> DbSubscription {
        let mut tables = tables.to_vec();
        tables.sort();
        tables.dedup();
        let count = tables.len();
        let streams = tables.into_iter().map(|table| {
            let (db, name, only) = location(table);
            match (only, feature) {
                (None, Some(row)) => self.watch_row(db, name, row).boxed(),
                _ => self.watch(db, name).boxed(),
            }
            .map(move |ev| ev.map(|ev| item(table, only, ev)))
            .boxed()
        });
        // The first resync marker waits for every table's first scan; later ones pass.
        let mut pending_first = count;
        let changes = futures_util::stream::select_all(streams)
            .filter_map(move |ev| {
                let out = match ev {
                    Err(e) => Some(Err(e)),
                    Ok(Item::Skip) => None,
                    Ok(Item::Change(c)) => Some(Ok(c)),
                    Ok(Item::Synced) => {
                        if pending_first > 0 {
                            pending_first -= 1;
                            (pending_first == 0).then_some(Ok(Change::Synced))
                        } else {
                            Some(Ok(Change::Synced))
                        }
                    }
                };
                std::future::ready(out)
            })
            .boxed();
        DbSubscription { changes }
    }
}

impl Subscription for DbSubscription {
    type Error = crate::Error;

    async fn next(&mut self) -> Option<Result<Change>> {
        self.changes.next().await
    }
}

impl Watch for SonicDb {
    type Error = crate::Error;
    type Subscription = DbSubscription;

    fn subscribe(&self, tables: &[Watched]) -> DbSubscription {
        self.subscribe_tables(tables)
    }

    fn subscribe_feature(&self, tables: &[Watched], feature: &FeatureName) -> DbSubscription {
        self.subscribe_rows(tables, Some(feature.as_str()))
    }
}
