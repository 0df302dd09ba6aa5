//! `kube-labeler`: this switch's Kubernetes node labels, with the pending list of DESIGN.md §6.
//!
//! `add` and `drop` change a label (queued in STATE_DB `KUBE_SERVER|PENDING_LABELS`, with
//! kubelet stopped, while the master cannot be reached), `drain` sends the pending list,
//! `show` prints the node's labels and the list, and `run` is the daemon that drains the list
//! whenever STATE_DB says the master is connected, and applies upstream's label table STATE_DB
//! `KUBE_LABELS|SET` (sonic-utilities' `config kubernetes label add|drop`) through the same
//! pending-list rules. The work is done by `ctrmgr-driver`; this
//! binary parses arguments, builds the adapters and maps outcomes to exit codes.
//!
//! Exit codes: 0 success (a queued operation is a success: it will be sent), 1 failure with one
//! line `kube-labeler: error: …` on stderr, 2 usage.

use std::collections::BTreeMap;
use std::process::ExitCode;

use anyhow::{Context, Result};
use ctrmgr_bin::KubeNode;
use ctrmgr_core::LabelOp;
use ctrmgr_core::codec;
use ctrmgr_core::ports::{Labels, StateStore};
use ctrmgr_dbclient::{DbName, SonicDb, WatchEvent};
use ctrmgr_driver::{Applied, DrainerEvent, DrainerExit, LabelService, Systemctl};
use ctrmgr_kubeclient::KubeClient;
use futures_util::{Stream, StreamExt};
use serde::Serialize;

mod cli;
mod set_table;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = ctrmgr_bin::parse_args::<Cli>();
    let global = cli.global.clone();
    ctrmgr_bin::main("kube-labeler", &global, async move {
        dispatch(cli).await.map(|()| 0)
    })
}

type Service = LabelService<SonicDb, KubeClient, Systemctl>;

/// A command with its label input validated.
enum Action {
    Change(LabelOp),
    Drain,
    Show { json: bool },
    Run,
}

async fn dispatch(cli: Cli) -> Result<()> {
    // Validate label input before touching anything, so that invalid input writes nothing.
    let action = match &cli.command {
        Command::Add { key, value } => Action::Change(LabelOp::add(key, value)?),
        Command::Drop { key } => Action::Change(LabelOp::remove(key)?),
        Command::Drain => Action::Drain,
        Command::Show { json } => Action::Show { json: *json },
        Command::Run => Action::Run,
    };
    let service = connect(&cli).await?;
    match action {
        Action::Change(op) => change(&service, op).await,
        Action::Drain => drain(&service).await,
        Action::Show { json } => show(&service, json).await,
        Action::Run => run(&service).await,
    }
}

/// Builds the adapters: tunables, Redis, the node name, the API client, systemctl.
async fn connect(cli: &Cli) -> Result<Service> {
    Ok(KubeNode::load(&cli.global).await?.label_service())
}

async fn change(service: &Service, op: LabelOp) -> Result<()> {
    match service.apply_after_drain(std::slice::from_ref(&op)).await? {
        Applied::Sent => println!("{op}: applied to node {}", service.labels().node()),
        Applied::Queued { cause, .. } => println!("{op}: {cause}"),
    }
    Ok(())
}

async fn drain(service: &Service) -> Result<()> {
    let d = service.drain().await?;
    if d.was_empty() {
        println!("nothing pending");
    } else {
        println!(
            "drained {} label operation(s) ({} key(s)); {} pending; kubelet {}",
            d.drained,
            d.keys,
            d.remaining,
            if d.kubelet_started {
                "started"
            } else {
                "not started"
            }
        );
    }
    Ok(())
}

/// What `show --json` prints.
#[derive(Debug, Serialize)]
struct ShowOutput {
    node: String,
    /// `None` when the master could not be asked; see `labels_error`.
    labels: Option<BTreeMap<String, String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    labels_error: Option<String>,
    pending: Vec<String>,
}

async fn show(service: &Service, json: bool) -> Result<()> {
    // The pending list is what matters most while the master is down, so it is shown even
    // when the labels cannot be read.
    let pending = service
        .store()
        .pending_labels()
        .await
        .context("cannot read the pending-label list")?;
    let (labels, labels_error) = match service.labels().labels().await {
        Ok(l) => (Some(l), None),
        Err(e) => (None, Some(ctrmgr_core::retry::error_line(&e))),
    };
    let out = ShowOutput {
        node: service.labels().node().to_owned(),
        labels,
        labels_error,
        pending: pending.iter().map(LabelOp::to_string).collect(),
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&out)?);
        return Ok(());
    }
    println!("Node: {}", out.node);
    match (&out.labels, &out.labels_error) {
        (Some(labels), _) => {
            println!("Labels:");
            if labels.is_empty() {
                println!("  (none)");
            }
            for (k, v) in labels {
                println!("  {k}={v}");
            }
        }
        (None, Some(e)) => println!("Labels: unavailable: {e}"),
        (None, None) => println!("Labels: unavailable"),
    }
    println!("Pending:");
    if out.pending.is_empty() {
        println!("  (none)");
    }
    for op in &out.pending {
        println!("  {op}");
    }
    Ok(())
}

/// The daemon: STATE_DB `KUBERNETES_MASTER|SERVER` and `KUBE_SERVER|PENDING_LABELS` watched
/// through keyspace notifications and fed to the driver's drainer, and upstream's
/// `KUBE_LABELS|SET` followed ([`set_table`]); SIGTERM or SIGINT ends it.
async fn run(service: &Service) -> Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot handle SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot handle SIGINT")?;
    let db = service.store();
    let server = db
        .watch(DbName::StateDb, codec::KUBERNETES_MASTER_TABLE)
        .filter_map(|ev| std::future::ready(server_event(ev)));
    let pending = db
        .watch(DbName::StateDb, codec::KUBE_SERVER_TABLE)
        .filter_map(|ev| std::future::ready(pending_event(ev)));
    let events = futures_util::stream::select(end_on_none(server), end_on_none(pending))
        .take_while(|ev| std::future::ready(ev.is_some()))
        .filter_map(std::future::ready);
    tracing::info!(node = service.labels().node(), "kube-labeler running");
    let shutdown = async {
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
    };
    // Upstream's label table, STATE_DB KUBE_LABELS|SET, through the same service.
    let drainer = ctrmgr_driver::run_drainer(service, events, shutdown);
    let set_table = set_table::follow(service);
    tokio::select! {
        exit = drainer => match exit {
            DrainerExit::Shutdown => {
                tracing::info!("kube-labeler stopping");
                Ok(())
            }
            DrainerExit::EventsEnded => anyhow::bail!("the STATE_DB watch ended"),
        },
        ended = set_table => ended,
    }
}

/// Ends the merged stream when either watch ends: `Some(ev)` per event, then one `None`.
fn end_on_none<S: Stream<Item = DrainerEvent>>(s: S) -> impl Stream<Item = Option<DrainerEvent>> {
    s.map(Some)
        .chain(futures_util::stream::once(async { None }))
}

fn server_event(ev: ctrmgr_dbclient::Result<WatchEvent>) -> Option<DrainerEvent> {
    match ev {
        Ok(WatchEvent::Row(row)) if row.key == codec::SERVER_KEY => {
            let connected = match &row.fields {
                None => false,
                Some(fields) => {
                    let key = codec::row_key(
                        codec::KUBERNETES_MASTER_TABLE,
                        codec::DEFAULT_SEPARATOR,
                        codec::SERVER_KEY,
                    );
                    match codec::decode_server_status(&key, fields) {
                        Ok(s) => s.connected,
                        Err(e) => {
                            tracing::warn!(error = %e, "STATE_DB server status unreadable: taken as not connected");
                            false
                        }
                    }
                }
            };
            Some(DrainerEvent::Connected(connected))
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "STATE_DB watch");
            None
        }
    }
}

fn pending_event(ev: ctrmgr_dbclient::Result<WatchEvent>) -> Option<DrainerEvent> {
    match ev {
        Ok(WatchEvent::Row(row)) if row.key == codec::PENDING_LABELS_KEY => {
            let non_empty = row
                .fields
                .as_ref()
                .and_then(|f| f.get(codec::PENDING_LABELS_FIELD))
                .is_some_and(|v| !v.trim().is_empty());
            Some(DrainerEvent::Pending(non_empty))
        }
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "STATE_DB watch");
            None
        }
    }
}
