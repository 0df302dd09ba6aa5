//! `container wait <f>`: the feature's container, followed across a kube handover.

use std::pin::pin;
use std::time::Duration;

use anyhow::{Result, anyhow, bail};
use ctrmgr_core::codec;
use ctrmgr_core::ports::{Containers, ErrorKind, ExitStatus};
use ctrmgr_core::{ContainerId, FeatureName, Owner};
use ctrmgr_dbclient::{DbName, WatchEvent};
use futures_util::StreamExt;

use super::*;

/// `container wait`: the recorded owner's id (waiting for one to be recorded: up to
/// `local_wait_timeout_secs` when set_owner is local, for ever otherwise), `docker wait` on
/// it, then Down(id) when it still owns the feature. Exits with the container's exit code, or 0
/// when `container stop|kill` stopped it.
pub(super) async fn wait(env: &Env, feature: &FeatureName) -> Result<u8> {
    let known = env.read(feature).await?;
    let id = match known.record.docker_id {
        Some(id) => id,
        None => {
            let bound =
                (known.config.set_owner == Owner::Local).then(|| env.tunables.local_wait_timeout());
            await_docker_id(env, feature, bound).await?
        }
    };
    tracing::info!(%feature, container = %id, "waiting for the container to exit");
    let driver = env.driver();
    let status = match driver.containers().wait(&id).await {
        Ok(status) => status,
        // The recorded container no longer exists (removed, or the engine restarted without
        // it): it has exited, with a code nobody can tell any more (issue 8, item 8).
        Err(e) if e.kind() == ErrorKind::NotFound => {
            tracing::warn!(%feature, container = %id, "the recorded container no longer exists: recording it as exited");
            ExitStatus {
                code: GONE_EXIT_CODE,
            }
        }
        Err(e) => {
            return Err(anyhow::Error::new(e).context(format!(
                "cannot wait for container {id} of feature {feature}"
            )));
        }
    };
    match driver.record_exit(feature, &id).await? {
        Some(_) => {
            tracing::info!(%feature, container = %id, code = status.code, "the container exited");
            Ok(exit_code(status.code))
        }
        None => {
            tracing::info!(%feature, container = %id, code = status.code, "the container was stopped through container stop or kill");
            Ok(0)
        }
    }
}

/// The exit status of `container wait` when the recorded container no longer exists (its own
/// exit code is lost): 255, as for any code outside 0..=255.
pub(super) const GONE_EXIT_CODE: i64 = 255;

/// Blocks on STATE_DB keyspace events until the feature's row records a `docker_id`.
pub(super) async fn await_docker_id(
    env: &Env,
    feature: &FeatureName,
    bound: Option<Duration>,
) -> Result<ContainerId> {
    let separator = &env.db.location(DbName::StateDb).separator;
    let full_key = codec::row_key(codec::FEATURE_TABLE, separator, feature.as_str());
    let watch = async {
        let mut events = pin!(env.db.watch(DbName::StateDb, codec::FEATURE_TABLE));
        while let Some(event) = events.next().await {
            match event {
                Ok(WatchEvent::Row(row)) if row.key == feature.as_str() => {
                    let fields = row.fields.unwrap_or_default();
                    // STATE_DB is read by the total rule (rel-1).
                    let decoded = codec::decode_feature_state(&full_key, &fields);
                    for w in &decoded.warnings {
                        tracing::warn!(%feature, "STATE_DB {w}");
                    }
                    if let Some(id) = decoded.record.docker_id {
                        return Ok(id);
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(%feature, error = %ctrmgr_core::retry::error_line(&e), "watching STATE_DB");
                }
            }
        }
        bail!("cannot wait for feature {feature}: the STATE_DB watch ended")
    };
    match bound {
        None => watch.await,
        Some(bound) => tokio::time::timeout(bound, watch).await.map_err(|_| {
            anyhow!(
                "cannot wait for feature {feature}: no container was recorded in STATE_DB {} within {} s",
                row(feature),
                bound.as_secs()
            )
        })?,
    }
}
