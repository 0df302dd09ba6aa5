//! `show kubernetes …` and `show feature …`: sonic-utilities' tables, headers and messages
//! (show/kube.py, show/feature.py), and JSON with `-j/--json`.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::Result;
use ctrmgr_core::codec::upstream::format_update_time as format_ts;
use ctrmgr_core::codec::{self, Fields};
use ctrmgr_core::{ContainerId, Timestamp};
use ctrmgr_dbclient::{DbName, SonicDb};
use ctrmgr_kubeclient::PodScope;
use serde_json::{Value, json};

use crate::Ctx;
use crate::cli::{ShowArgs, ShowCommand, ShowFeature, ShowKubernetes, ShowServer};
use crate::table::{Table, natural_cmp};

mod status;

pub(crate) async fn run(ctx: &Ctx, args: ShowArgs) -> Result<ExitCode> {
    let json = args.json;
    match args.what {
        ShowCommand::Kubernetes(k) => match k {
            ShowKubernetes::Server(ShowServer::Config) => server_config(ctx, json).await,
            ShowKubernetes::Server(ShowServer::Status) => server_status(ctx, json).await,
            ShowKubernetes::Labels => labels(ctx, json).await,
            ShowKubernetes::Nodes => nodes(ctx, json).await,
            ShowKubernetes::Pods => pods(ctx, json).await,
            ShowKubernetes::Status => status::status(ctx, json).await,
        },
        ShowCommand::Feature(ShowFeature::Config { feature }) => {
            feature_table(ctx, feature.as_deref(), json, Kind::Config).await
        }
        ShowCommand::Feature(ShowFeature::Status { feature }) => {
            feature_table(ctx, feature.as_deref(), json, Kind::Status).await
        }
    }
}

fn print_json(v: &Value) -> Result<()> {
    println!("{}", serde_json::to_string_pretty(v)?);
    Ok(())
}

fn get<'a>(row: &'a Fields, field: &str, default: &'a str) -> &'a str {
    row.get(field).map_or(default, String::as_str)
}

async fn server_rows(db: &SonicDb) -> Result<(Fields, Fields)> {
    let cfg = db
        .row(
            DbName::ConfigDb,
            codec::KUBERNETES_MASTER_TABLE,
            codec::SERVER_KEY,
        )
        .await?;
    let st = db
        .row(
            DbName::StateDb,
            codec::KUBERNETES_MASTER_TABLE,
            codec::SERVER_KEY,
        )
        .await?;
    Ok((cfg, st))
}

/// The columns of `show kubernetes server config`, with the defaults of DESIGN.md §3.
fn server_config_cells(cfg: &Fields) -> [(&'static str, String); 4] {
    let port = codec::DEFAULT_SERVER_PORT.to_string();
    [
        ("ip", get(cfg, codec::SERVER_IP, "").to_owned()),
        ("port", get(cfg, codec::SERVER_PORT, &port).to_owned()),
        (
            "insecure",
            get(cfg, codec::SERVER_INSECURE, codec::FALSE).to_owned(),
        ),
        (
            "disable",
            get(cfg, codec::SERVER_DISABLE, codec::FALSE).to_owned(),
        ),
    ]
}

/// STATE_DB `update_time` (upstream's field) when present, else `last_update_ts` formatted.
fn update_time(st: &Fields) -> String {
    if let Some(t) = st.get("update_time").filter(|t| !t.is_empty()) {
        return t.clone();
    }
    st.get(codec::SERVER_LAST_UPDATE_TS)
        .and_then(|t| {
            t.split('.')
                .next()
                .and_then(|w| w.trim().parse::<Timestamp>().ok())
        })
        .map(format_ts)
        .unwrap_or_default()
}

/// The columns of `show kubernetes server status`: the address from the status row (as
/// upstream's ctrmgrd writes it) or else from the configuration.
fn server_status_cells(cfg: &Fields, st: &Fields) -> [(&'static str, String); 4] {
    let port = codec::DEFAULT_SERVER_PORT.to_string();
    let ip = st
        .get(codec::SERVER_IP)
        .or_else(|| cfg.get(codec::SERVER_IP))
        .cloned()
        .unwrap_or_default();
    let port = st
        .get(codec::SERVER_PORT)
        .or_else(|| cfg.get(codec::SERVER_PORT))
        .cloned()
        .unwrap_or(port);
    [
        ("ip", ip),
        ("port", port),
        ("connected", get(st, codec::SERVER_CONNECTED, "").to_owned()),
        ("update-time", update_time(st)),
    ]
}

fn one_row_table<const N: usize>(cells: &[(&'static str, String); N]) -> Table {
    let mut t = Table::new(cells.iter().map(|(h, _)| *h));
    t.row(cells.iter().map(|(_, v)| v.clone()));
    t
}

fn cells_json<const N: usize>(cells: &[(&'static str, String); N]) -> Value {
    Value::Object(
        cells
            .iter()
            .map(|(h, v)| ((*h).to_owned(), Value::String(v.clone())))
            .collect(),
    )
}

async fn server_config(ctx: &Ctx, json: bool) -> Result<ExitCode> {
    let db = ctx.db().await?;
    let (cfg, _) = server_rows(&db).await?;
    if cfg.is_empty() {
        if json {
            print_json(&json!({}))?;
        } else {
            println!("Kubernetes server is not configured");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cells = server_config_cells(&cfg);
    if json {
        print_json(&cells_json(&cells))?;
    } else {
        print!("{}", one_row_table(&cells).render());
    }
    Ok(ExitCode::SUCCESS)
}

async fn server_status(ctx: &Ctx, json: bool) -> Result<ExitCode> {
    let db = ctx.db().await?;
    let (cfg, st) = server_rows(&db).await?;
    if st.is_empty() {
        if json {
            print_json(&json!({}))?;
        } else {
            println!("Kubernetes server has no status info");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let cells = server_status_cells(&cfg, &st);
    if json {
        print_json(&cells_json(&cells))?;
    } else {
        print!("{}", one_row_table(&cells).render());
    }
    Ok(ExitCode::SUCCESS)
}

/// The one line a command that needs the master prints when it cannot be reached.
fn unreachable(e: ctrmgr_kubeclient::Error) -> anyhow::Error {
    anyhow::Error::new(e).context("the Kubernetes master cannot be reached")
}

async fn labels(ctx: &Ctx, json: bool) -> Result<ExitCode> {
    let db = ctx.db().await?;
    let kube = ctx.kube(&db, ctx.tunables.api_timeout()).await?;
    let labels = kube.node_labels().await.map_err(unreachable)?;
    if json {
        print_json(&serde_json::to_value(&labels)?)?;
    } else {
        let mut t = Table::new(["name", "value"]);
        for (k, v) in &labels {
            t.row([k.as_str(), v.as_str()]);
        }
        print!("{}", t.render());
    }
    Ok(ExitCode::SUCCESS)
}

async fn nodes(ctx: &Ctx, json: bool) -> Result<ExitCode> {
    let db = ctx.db().await?;
    let kube = ctx.kube(&db, ctx.tunables.api_timeout()).await?;
    let nodes = kube.nodes().await.map_err(unreachable)?;
    if json {
        print_json(&serde_json::to_value(&nodes)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(["name", "status", "roles", "version", "internal-ip"]);
    for n in &nodes {
        let status = match n.ready {
            Some(true) => "Ready",
            Some(false) => "NotReady",
            None => "Unknown",
        };
        let roles = if n.roles.is_empty() {
            "<none>".to_owned()
        } else {
            n.roles.join(",")
        };
        t.row([
            n.name.clone(),
            status.to_owned(),
            roles,
            n.kubelet_version.clone().unwrap_or_default(),
            n.internal_ip.clone().unwrap_or_default(),
        ]);
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}

async fn pods(ctx: &Ctx, json: bool) -> Result<ExitCode> {
    let db = ctx.db().await?;
    let kube = ctx.kube(&db, ctx.tunables.api_timeout()).await?;
    let pods = kube.pods(PodScope::AllNodes).await.map_err(unreachable)?;
    if json {
        print_json(&serde_json::to_value(&pods)?)?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(["namespace", "name", "ready", "status", "restarts", "node"]);
    for p in &pods {
        t.row([
            p.namespace.clone(),
            p.name.clone(),
            format!("{}/{}", p.ready_containers, p.containers),
            p.phase.clone().unwrap_or_default(),
            p.restarts.to_string(),
            p.node.clone().unwrap_or_default(),
        ]);
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}

/// Which of sonic-utilities' feature tables.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Config,
    Status,
}

/// `show feature config`'s columns: (header, field, default), upstream's, then this project's.
const CONFIG_COLUMNS: &[(&str, &str, &str)] = &[
    ("State", "state", ""),
    ("AutoRestart", "auto_restart", ""),
    ("Owner", "set_owner", "local"),
    ("fallback", "fallback", ""),
    ("FailureDetection", "kube_failure_detection", ""),
];

/// `show feature status`'s columns: upstream's, then this project's.
const STATUS_COLUMNS: &[(&str, &str, &str)] = &[
    ("State", "state", ""),
    ("AutoRestart", "auto_restart", ""),
    ("SystemState", "system_state", ""),
    ("UpdateTime", "update_time", ""),
    ("ContainerId", "container_id", ""),
    ("Version", "container_version", ""),
    ("SetOwner", "set_owner", ""),
    ("CurrentOwner", "current_owner", ""),
    ("RemoteState", "remote_state", ""),
    ("TransitionMode", "transition_mode", ""),
];

/// The data of one feature row, as sonic-utilities builds it: for `config`, the CONFIG_DB row
/// with `fallback` derived when either fallback field is there (`codec::decode_fallback`:
/// `fallback_to_local`, else the negation of upstream's `no_fallback_to_local`); for `status`, the STATE_DB row with the CONFIG_DB row over it, and
/// this project's `docker_id` and `current_owner_update_ts` read where upstream's
/// `container_id` and `update_time` are absent.
fn feature_data(kind: Kind, key: &str, cfg: &Fields, st: Option<&Fields>) -> Fields {
    match kind {
        Kind::Config => {
            let mut d = cfg.clone();
            let present = |f: &str| cfg.get(f).is_some_and(|v| !v.trim().is_empty());
            if present(codec::FALLBACK_TO_LOCAL) || present(codec::upstream::NO_FALLBACK_TO_LOCAL) {
                // The codec's rule; a value that is not a boolean is shown as it is.
                let v = match codec::decode_fallback(key, cfg) {
                    Ok(b) => codec::bool_str(b).to_owned(),
                    Err(e) => e.value,
                };
                d.insert("fallback".to_owned(), v);
            }
            d
        }
        Kind::Status => {
            let mut d = st.cloned().unwrap_or_default();
            if !d.contains_key("container_id")
                && let Some(id) = d.get(codec::DOCKER_ID).filter(|v| !v.is_empty())
            {
                let short = id.get(..12).unwrap_or(id).to_owned();
                d.insert("container_id".to_owned(), short);
            }
            if !d.contains_key("update_time")
                && let Some(ts) = d.get(codec::CURRENT_OWNER_UPDATE_TS).and_then(|t| {
                    t.split('.')
                        .next()
                        .and_then(|w| w.parse::<Timestamp>().ok())
                })
            {
                d.insert("update_time".to_owned(), format_ts(ts));
            }
            d.extend(cfg.iter().map(|(k, v)| (k.clone(), v.clone())));
            d
        }
    }
}

async fn feature_table(
    ctx: &Ctx,
    feature: Option<&str>,
    json: bool,
    kind: Kind,
) -> Result<ExitCode> {
    let db = ctx.db().await?;
    let configs = db.rows(DbName::ConfigDb, codec::FEATURE_TABLE).await?;
    let states = if kind == Kind::Status {
        db.rows(DbName::StateDb, codec::FEATURE_TABLE).await?
    } else {
        BTreeMap::new()
    };
    let mut names: Vec<&String> = match feature {
        Some(f) => match configs.get_key_value(f) {
            Some((k, _)) => vec![k],
            None => {
                // sonic-utilities prints this on stdout and exits 1.
                println!("Can not find feature {f}");
                return Ok(ExitCode::FAILURE);
            }
        },
        None => configs.keys().collect(),
    };
    names.sort_by(|a, b| natural_cmp(a, b));
    let data: Vec<(&String, Fields)> = names
        .into_iter()
        .map(|n| {
            let cfg = configs.get(n).cloned().unwrap_or_default();
            (
                n,
                feature_data(
                    kind,
                    &codec::row_key(codec::FEATURE_TABLE, codec::DEFAULT_SEPARATOR, n),
                    &cfg,
                    states.get(n),
                ),
            )
        })
        .collect();
    let columns = match kind {
        Kind::Config => CONFIG_COLUMNS,
        Kind::Status => STATUS_COLUMNS,
    };
    // A column is shown when at least one feature has its field (show/feature.py's make_header).
    let shown: Vec<&(&str, &str, &str)> = columns
        .iter()
        .filter(|(_, f, _)| data.iter().any(|(_, d)| d.contains_key(*f)))
        .collect();
    if json {
        let out: serde_json::Map<String, Value> = data
            .iter()
            .map(|(n, d)| {
                let obj: serde_json::Map<String, Value> = shown
                    .iter()
                    .map(|(_, f, def)| ((*f).to_owned(), Value::String(get(d, f, def).to_owned())))
                    .collect();
                ((*n).clone(), Value::Object(obj))
            })
            .collect();
        print_json(&Value::Object(out))?;
        return Ok(ExitCode::SUCCESS);
    }
    let mut t = Table::new(std::iter::once("Feature").chain(shown.iter().map(|(h, _, _)| *h)));
    for (n, d) in &data {
        t.row(
            std::iter::once((*n).clone())
                .chain(shown.iter().map(|(_, f, def)| get(d, f, def).to_owned())),
        );
    }
    print!("{}", t.render());
    Ok(ExitCode::SUCCESS)
}
