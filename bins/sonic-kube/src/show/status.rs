//! `show kubernetes status`: the node's whole picture on one screen.

use std::process::ExitCode;

use anyhow::{Context as _, Result};
use ctrmgr_core::codec::{self, Fields};
use ctrmgr_core::ports::{StateStore as _, Systemd as _};
use ctrmgr_core::{FeatureConfig, FeatureRecord, LabelOp};
use ctrmgr_dbclient::{DbName, SonicDb};
use serde_json::{Value, json};

use super::*;
use crate::Ctx;
use crate::table::{Table, natural_cmp};

/// One feature in `show kubernetes status`.
struct FeatureLine {
    name: String,
    cfg: Result<FeatureConfig, String>,
    rec: Result<FeatureRecord, String>,
}

pub(super) async fn status(ctx: &Ctx, json: bool) -> Result<ExitCode> {
    let db = ctx.db().await?;
    let (cfg, st) = server_rows(&db).await?;
    let kubelet_unit = &ctx.tunables.kubelet_unit;
    // The rest of the picture is worth showing even when systemd cannot be asked.
    let kubelet_running = ctx.systemctl().is_active(kubelet_unit).await;
    let pending: Vec<String> = db
        .pending_labels()
        .await
        .context("cannot read the pending-label list")?
        .iter()
        .map(LabelOp::to_string)
        .collect();
    let features = feature_lines(ctx, &db).await?;
    let server = server_config_cells(&cfg);
    let status = server_status_cells(&cfg, &st);
    let kubelet = match &kubelet_running {
        Ok(true) => "running",
        Ok(false) => "stopped",
        Err(_) => "unknown",
    };
    if json {
        let feats: serde_json::Map<String, Value> = features
            .iter()
            .map(|f| (f.name.clone(), feature_json(f)))
            .collect();
        print_json(&json!({
            "server": cells_json(&server),
            "status": {
                "connected": status[2].1,
                "update-time": status[3].1,
            },
            "kubelet": kubelet,
            "pending_labels": pending,
            "features": feats,
        }))?;
        return Ok(ExitCode::SUCCESS);
    }
    print_node_line(&server, &status, kubelet, &pending);
    let mut problems = Vec::new();
    if let Err(e) = &kubelet_running {
        problems.push(format!("cannot ask systemd about {kubelet_unit}: {e}"));
    }
    print_features(&features, problems);
    Ok(ExitCode::SUCCESS)
}

/// Every configured feature, in natural order, with its rows decoded (or why they are not).
async fn feature_lines(ctx: &Ctx, db: &SonicDb) -> Result<Vec<FeatureLine>> {
    let configs = db.rows(DbName::ConfigDb, codec::FEATURE_TABLE).await?;
    let states = db.rows(DbName::StateDb, codec::FEATURE_TABLE).await?;
    let mut names: Vec<&String> = configs.keys().collect();
    names.sort_by(|a, b| natural_cmp(a, b));
    let empty = Fields::new();
    let minute_secs = u32::try_from(ctx.tunables.failure_detection_minute_secs).unwrap_or(60);
    Ok(names
        .into_iter()
        .map(|n| {
            let ckey = codec::row_key(codec::FEATURE_TABLE, codec::DEFAULT_SEPARATOR, n);
            let c = configs.get(n).unwrap_or(&empty);
            let s = states.get(n).unwrap_or(&empty);
            FeatureLine {
                name: n.clone(),
                cfg: codec::decode_feature_config(&ckey, c)
                    .map(|mut cfg| {
                        // One minute of kube_failure_detection as the daemons measure it.
                        cfg.minute_secs = minute_secs;
                        cfg
                    })
                    .map_err(|e| e.to_string()),
                rec: codec::decode_feature_record(&ckey, s).map_err(|e| e.to_string()),
            }
        })
        .collect())
}

/// The node's line: server configuration and connection, kubelet, pending label operations.
fn print_node_line(
    server: &[(&'static str, String); 4],
    status: &[(&'static str, String); 4],
    kubelet: &str,
    pending: &[String],
) {
    let mut t = Table::new([
        "ip",
        "port",
        "insecure",
        "disable",
        "connected",
        "update-time",
        "kubelet",
        "pending-labels",
    ]);
    t.row([
        server[0].1.clone(),
        server[1].1.clone(),
        server[2].1.clone(),
        server[3].1.clone(),
        status[2].1.clone(),
        status[3].1.clone(),
        kubelet.to_owned(),
        pending.len().to_string(),
    ]);
    print!("{}", t.render());
    if !pending.is_empty() {
        println!(
            "\nPending label operations (oldest first): {}",
            pending.join(" ")
        );
    }
    println!();
}

/// The per-feature table, then a warning line for each problem (a row that does not decode).
fn print_features(features: &[FeatureLine], mut problems: Vec<String>) {
    let mut t = Table::new([
        "Feature",
        "SetOwner",
        "Fallback",
        "State",
        "CurrentOwner",
        "Container",
        "WaitingForApprovalSince",
        "FailureDeadline",
    ]);
    for f in features {
        t.row(feature_cells(f));
        for e in [f.cfg.as_ref().err(), f.rec.as_ref().err()]
            .into_iter()
            .flatten()
        {
            problems.push(e.clone());
        }
    }
    print!("{}", t.render());
    for p in problems {
        println!("warning: {p}");
    }
}

/// The derived per-feature facts of `show kubernetes status`, from the core's functions.
struct Derived {
    set_owner: String,
    fallback: String,
    state: String,
    current_owner: String,
    container: String,
    waiting_since: Option<Timestamp>,
    deadline: Option<Timestamp>,
}

fn derive(f: &FeatureLine) -> Derived {
    let rec = f.rec.as_ref().ok();
    let cfg = f.cfg.as_ref().ok();
    let waiting_since = rec
        .filter(|r| ctrmgr_core::approval_pending(r))
        .and_then(|r| r.transition_mode_update_ts);
    let deadline = match (rec, cfg) {
        (Some(r), Some(c)) => ctrmgr_core::next_deadline(r, c),
        _ => None,
    };
    Derived {
        set_owner: cfg.map_or_else(|| "invalid".to_owned(), |c| c.set_owner.to_string()),
        fallback: cfg.map_or_else(
            || "invalid".to_owned(),
            |c| codec::bool_str(c.fallback_to_local).to_owned(),
        ),
        state: rec.map_or_else(|| "invalid".to_owned(), |r| r.state().to_string()),
        current_owner: rec.map_or_else(|| "invalid".to_owned(), |r| r.current_owner.to_string()),
        container: rec
            .and_then(|r| r.docker_id.as_ref())
            .map(|d| ContainerId::short(d).to_owned())
            .unwrap_or_default(),
        waiting_since,
        deadline,
    }
}

fn feature_cells(f: &FeatureLine) -> Vec<String> {
    let d = derive(f);
    vec![
        f.name.clone(),
        d.set_owner,
        d.fallback,
        d.state,
        d.current_owner,
        d.container,
        d.waiting_since.map(format_ts).unwrap_or_default(),
        d.deadline.map(format_ts).unwrap_or_default(),
    ]
}

fn feature_json(f: &FeatureLine) -> Value {
    let d = derive(f);
    let mut v = json!({
        "set_owner": d.set_owner,
        "fallback": d.fallback,
        "state": d.state,
        "current_owner": d.current_owner,
        "container": d.container,
        "waiting_for_approval_since": d.waiting_since,
        "failure_deadline": d.deadline,
    });
    let errors: Vec<&String> = [f.cfg.as_ref().err(), f.rec.as_ref().err()]
        .into_iter()
        .flatten()
        .collect();
    if !errors.is_empty() {
        v["errors"] = json!(errors);
    }
    v
}
