//! [`StateStore`] for [`SonicDb`]: what the driver reads and writes through the port.

use ctrmgr_core::codec::{self};
use ctrmgr_core::label::{self, LabelOp};
use ctrmgr_core::ports::{FeatureView, StateStore};
use ctrmgr_core::{DeviceMetadata, FeatureName, ServerConfig, ServerStatus, StateWrite};

use crate::error::{Error, Result};

use super::rows::decode_config;
use super::*;

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
