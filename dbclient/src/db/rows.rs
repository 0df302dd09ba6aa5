//! The rows an operator and the CLI read and write: FEATURE, KUBERNETES_MASTER|SERVER,
//! DEVICE_METADATA, the pending-label list, and the watches of them.

use ctrmgr_core::codec::{self, Fields};
use ctrmgr_core::label::LabelOp;
use ctrmgr_core::ports::StateStore;
use ctrmgr_core::{DeviceMetadata, FeatureConfig, FeatureName, FeatureRecord, Owner, ServerConfig};
use futures_util::Stream;

use crate::error::{Error, Result};
use crate::scripts;
use crate::watch::{self, WatchEvent};

use super::*;

impl SonicDb {
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
    pub(super) async fn feature_rows(
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
    pub(super) async fn append_pending(&self, ops: &[LabelOp], behind: bool) -> Result<i64> {
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

    pub(super) fn pending_key(&self) -> String {
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

pub(super) fn decode_config(key: &str, fields: &Fields) -> Result<Option<FeatureConfig>> {
    if fields.is_empty() {
        return Ok(None);
    }
    codec::decode_feature_config(key, fields)
        .map(Some)
        .map_err(|e| Error::decode(codec::CONFIG_DB, e))
}
