//! Upstream's label table, STATE_DB `KUBE_LABELS|SET` (written by sonic-utilities'
//! `config kubernetes label add|drop` and by upstream's `container_startup.py`, read by
//! `show kubernetes labels`), honoured as upstream ctrmgrd honours it, through the same
//! [`LabelService`] and pending list as every other label change:
//!
//! - each field `name`=`value` of the row is set on the node as label `name`=`value` (a
//!   `drop` writes the value `false`, which is set as such, as upstream's `kube_write_labels`
//!   does); a field removed from the row removes nothing;
//! - the whole row is sent on every change of the row (upstream: "don't optimize, as API
//!   server could differ with DB's contents") and again whenever STATE_DB says the master is
//!   connected again;
//! - `<f>_enabled` for a feature CONFIG_DB configures is owned by the feature state machine
//!   (`container`): such a field is ignored with a warning, never allowed to undo a decision;
//!   a field that is not a valid Kubernetes label is ignored with a warning naming it.

use std::pin::pin;

use anyhow::{Result, bail};
use ctrmgr_core::codec::{self, Fields, upstream};
use ctrmgr_core::ports::{Labels, StateStore, Systemd};
use ctrmgr_core::{FeatureName, LabelOp};
use ctrmgr_dbclient::{DbName, SonicDb, WatchEvent};
use ctrmgr_driver::{Applied, LabelService};
use futures_util::StreamExt;

/// The label operations a `KUBE_LABELS|SET` row asks for, in field order, and the fields
/// skipped with the reason. `managed(key)` says whether a key belongs to the state machine.
pub fn set_row_ops(
    fields: &Fields,
    managed: impl Fn(&str) -> bool,
) -> (Vec<LabelOp>, Vec<(String, String)>) {
    let mut names: Vec<&String> = fields.keys().collect();
    names.sort();
    let mut ops = Vec::with_capacity(names.len());
    let mut skipped = Vec::new();
    for name in names {
        let value = &fields[name];
        if managed(name) {
            skipped.push((
                name.clone(),
                "owned by the feature state machine (container start|stop)".to_owned(),
            ));
            continue;
        }
        match LabelOp::add(name, value) {
            Ok(op) => ops.push(op),
            Err(e) => skipped.push((name.clone(), e.to_string())),
        }
    }
    (ops, skipped)
}

/// Whether `key` is `<f>_enabled` for a feature in `features`.
fn is_feature_enable_label(key: &str, features: &[FeatureName]) -> bool {
    features.iter().any(|f| f.enable_label_key() == key)
}

/// Follows `KUBE_LABELS|SET` and the server's `connected` until a watch ends (an error).
pub async fn follow<L: Labels, D: Systemd>(service: &LabelService<SonicDb, L, D>) -> Result<()> {
    let db = service.store();
    let mut set_rows = pin!(db.watch(DbName::StateDb, upstream::KUBE_LABELS_TABLE));
    let mut server = pin!(db.watch(DbName::StateDb, codec::KUBERNETES_MASTER_TABLE));
    let mut row: Option<Fields> = None;
    let mut connected = false;
    loop {
        tokio::select! {
            ev = set_rows.next() => match ev {
                None => bail!("the STATE_DB watch of {} ended", upstream::KUBE_LABELS_TABLE),
                Some(Ok(WatchEvent::Row(r))) if r.key == upstream::KUBE_LABELS_SET_KEY => {
                    row = r.fields;
                    apply(service, row.as_ref()).await;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => tracing::warn!(error = %e, "STATE_DB watch of KUBE_LABELS"),
            },
            ev = server.next() => match ev {
                None => bail!("the STATE_DB watch of {} ended", codec::KUBERNETES_MASTER_TABLE),
                Some(Ok(WatchEvent::Row(r))) if r.key == codec::SERVER_KEY => {
                    let now = r.fields.as_ref().is_some_and(|f| {
                        let key = codec::row_key(
                            codec::KUBERNETES_MASTER_TABLE,
                            codec::DEFAULT_SEPARATOR,
                            codec::SERVER_KEY,
                        );
                        codec::decode_server_status(&key, f).is_ok_and(|s| s.connected)
                    });
                    if now && !connected {
                        apply(service, row.as_ref()).await;
                    }
                    connected = now;
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => tracing::warn!(error = %e, "STATE_DB watch of KUBERNETES_MASTER"),
            },
        }
    }
}

/// Sends the row's labels through the label service (at once, or queued behind the pending
/// list, or queued with kubelet stopped when the master cannot take them). Failures are
/// logged: the next change of the row, or the next connection, sends it again.
async fn apply<L: Labels, D: Systemd>(service: &LabelService<SonicDb, L, D>, row: Option<&Fields>) {
    let Some(fields) = row.filter(|f| !f.is_empty()) else {
        return;
    };
    let features = match service.store().features().await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(error = %e, "KUBE_LABELS|SET not applied: cannot list CONFIG_DB FEATURE");
            return;
        }
    };
    let (ops, skipped) = set_row_ops(fields, |k| is_feature_enable_label(k, &features));
    for (name, why) in skipped {
        tracing::warn!(label = %name, "STATE_DB KUBE_LABELS|SET field {name} ignored: {why}");
    }
    if ops.is_empty() {
        return;
    }
    match service.apply(&ops).await {
        Ok(Applied::Sent) => {
            tracing::info!(labels = ops.len(), "KUBE_LABELS|SET applied to the node")
        }
        Ok(Applied::Queued { cause, .. }) => {
            tracing::warn!(
                labels = ops.len(),
                "KUBE_LABELS|SET not applied now: {cause}"
            );
        }
        Err(e) => {
            tracing::warn!(error = %ctrmgr_core::retry::error_line(&e), "KUBE_LABELS|SET not applied")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_field_is_set_with_its_value_false_included_and_managed_or_invalid_ones_are_skipped() {
        let row = fields(&[
            ("lldp_local", "20201230.11"),
            ("zone", "false"),
            ("snmp_enabled", "false"),
            ("bad key!", "x"),
            ("worker.sonic/platform", "x86_64-kvm_x86_64-r0"),
        ]);
        let (ops, skipped) = set_row_ops(&row, |k| k == "snmp_enabled");
        let got: Vec<String> = ops.iter().map(LabelOp::to_string).collect();
        assert_eq!(
            got,
            [
                "lldp_local=20201230.11",
                "worker.sonic/platform=x86_64-kvm_x86_64-r0",
                "zone=false"
            ]
        );
        let names: Vec<&str> = skipped.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["bad key!", "snmp_enabled"]);
    }

    #[test]
    fn only_enable_labels_of_configured_features_are_managed() {
        let features = [FeatureName::new("snmp").expect("valid")];
        assert!(is_feature_enable_label("snmp_enabled", &features));
        assert!(!is_feature_enable_label("lldp_enabled", &features));
        assert!(!is_feature_enable_label("snmp_local", &features));
    }
}
