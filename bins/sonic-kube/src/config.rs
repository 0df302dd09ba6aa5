//! `config kubernetes …` and `config feature …`. Every command checks its input (and that the
//! feature exists) before it writes, and writes with one HSET.

use std::process::ExitCode;

use anyhow::{Context as _, Result, bail};
use ctrmgr_bin::KubeJoinEngine;
use ctrmgr_core::codec;
use ctrmgr_core::ports::{StateStore as _, Systemd as _};
use ctrmgr_core::{FeatureName, LabelOp, UnitActivity};
use ctrmgr_dbclient::{DbName, SonicDb};
use ctrmgr_driver::{Applied, Joined};

use crate::Ctx;
use crate::cli::{
    ConfigCommand, ConfigFeature, ConfigKubernetes, ConfigLabel, ConfigServer, OwnerArg,
};

pub(crate) async fn run(ctx: &Ctx, cmd: ConfigCommand) -> Result<ExitCode> {
    match cmd {
        ConfigCommand::Kubernetes(ConfigKubernetes::Server(s)) => server(ctx, s).await,
        ConfigCommand::Kubernetes(ConfigKubernetes::Label(l)) => label(ctx, l).await,
        ConfigCommand::Kubernetes(ConfigKubernetes::Join { force }) => join(ctx, force).await,
        ConfigCommand::Kubernetes(ConfigKubernetes::Reset) => reset(ctx).await,
        ConfigCommand::Feature(f) => feature(ctx, f).await,
    }
}

async fn server(ctx: &Ctx, cmd: ConfigServer) -> Result<ExitCode> {
    let (field, value) = match cmd {
        ConfigServer::Ip { addr } => {
            if !codec::is_valid_host(&addr) {
                bail!(
                    "invalid server address {addr:?}: expected an IPv4 or IPv6 address or a DNS name"
                );
            }
            (codec::SERVER_IP, addr)
        }
        ConfigServer::Port { port } => match port.trim().parse::<u16>() {
            Ok(p) if p > 0 => (codec::SERVER_PORT, p.to_string()),
            _ => bail!("Invalid port value {port}: expected an integer 1-65535"),
        },
        ConfigServer::Insecure { option } => (
            codec::SERVER_INSECURE,
            codec::bool_str(option.is_on()).to_owned(),
        ),
        ConfigServer::Disable { option } => (
            codec::SERVER_DISABLE,
            codec::bool_str(option.is_on()).to_owned(),
        ),
    };
    let db = ctx.db().await?;
    db.set_fields(
        DbName::ConfigDb,
        codec::KUBERNETES_MASTER_TABLE,
        codec::SERVER_KEY,
        &[(field, value)],
    )
    .await?;
    Ok(ExitCode::SUCCESS)
}

async fn label(ctx: &Ctx, cmd: ConfigLabel) -> Result<ExitCode> {
    // Validate before connecting: invalid input queues nothing.
    let op = match &cmd {
        ConfigLabel::Add { key, value } => LabelOp::add(key, value)?,
        ConfigLabel::Drop { key } => LabelOp::remove(key)?,
    };
    let service = ctx.node(ctx.db().await?).await?.label_service();
    // The seed: drain what is pending first, then this operation, through the one service.
    match service.apply_after_drain(std::slice::from_ref(&op)).await? {
        Applied::Sent => println!("{op}: applied to node {}", service.labels().node()),
        Applied::Queued { cause, .. } => println!("{op}: {cause}"),
    }
    // Nothing pending: kubelet must run (a drain that emptied the list started it; a direct
    // send after an earlier failure that stopped it must start it too). `start` of a running
    // unit does nothing.
    let pending = service
        .store()
        .pending_labels()
        .await
        .context("cannot read the pending-label list")?;
    if pending.is_empty() {
        let unit = &ctx.tunables.kubelet_unit;
        service
            .systemd()
            .start(unit)
            .await
            .with_context(|| format!("nothing is pending but {unit} cannot be started"))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The feature named `name`, which must have a CONFIG_DB `FEATURE` row.
pub(crate) async fn known_feature(db: &SonicDb, name: &str) -> Result<FeatureName> {
    let f = FeatureName::new(name)?;
    let row = db
        .row(DbName::ConfigDb, codec::FEATURE_TABLE, f.as_str())
        .await?;
    if row.is_empty() {
        // sonic-utilities' config/feature.py wording.
        bail!("Unable to retrieve {name} from FEATURE table");
    }
    Ok(f)
}

async fn feature(ctx: &Ctx, cmd: ConfigFeature) -> Result<ExitCode> {
    match cmd {
        ConfigFeature::Owner { feature, owner } => return set_owner(ctx, &feature, owner).await,
        ConfigFeature::Fallback { feature, option } => {
            FeatureName::new(&feature)?;
            let db = ctx.db().await?;
            let f = known_feature(&db, &feature).await?;
            let on = option.is_on();
            // Both spellings in one HSET, so that this project and upstream's readers agree.
            db.set_fields(
                DbName::ConfigDb,
                codec::FEATURE_TABLE,
                f.as_str(),
                &[
                    (codec::FALLBACK_TO_LOCAL, codec::bool_str(on).to_owned()),
                    (
                        codec::upstream::NO_FALLBACK_TO_LOCAL,
                        codec::bool_str(!on).to_owned(),
                    ),
                ],
            )
            .await?;
        }
        ConfigFeature::FailureDetection { feature, minutes } => {
            FeatureName::new(&feature)?;
            let Ok(m) = minutes.trim().parse::<u32>() else {
                bail!("invalid minutes {minutes:?}: expected an integer >= 0 (0 = never)");
            };
            let db = ctx.db().await?;
            let f = known_feature(&db, &feature).await?;
            db.set_fields(
                DbName::ConfigDb,
                codec::FEATURE_TABLE,
                f.as_str(),
                &[(codec::KUBE_FAILURE_DETECTION, m.to_string())],
            )
            .await?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `config feature owner`: `set_owner` written, and a running (or failed) service restarted so
/// that its Start decides from the new owner.
async fn set_owner(ctx: &Ctx, feature: &str, owner: OwnerArg) -> Result<ExitCode> {
    FeatureName::new(feature)?;
    let db = ctx.db().await?;
    let f = known_feature(&db, feature).await?;
    let owner = match owner {
        OwnerArg::Local => ctrmgr_core::Owner::Local,
        OwnerArg::Kube => ctrmgr_core::Owner::Kube,
    };
    db.set_fields(
        DbName::ConfigDb,
        codec::FEATURE_TABLE,
        f.as_str(),
        &[(codec::SET_OWNER, owner.as_str().to_owned())],
    )
    .await?;
    // The seed's switching scenarios: `systemctl stop`, then `systemctl start`; the
    // Start decides from the new owner. systemd's unit state is the record of what the
    // operator wants (decisions.md k): a service that is not running (stopped by the
    // operator, or a disabled feature) is left stopped, and the new owner applies at its
    // next start; a failed one is still wanted, and its failure is cleared first so
    // that the start is not refused by the start limit.
    let systemctl = ctx.systemctl();
    let activity = systemctl.activity(f.as_str()).await.with_context(|| {
        format!("set_owner={owner} is written but systemd cannot be asked about {f}")
    })?;
    if activity == UnitActivity::Inactive {
        println!(
            "{f}: set_owner={owner}; the service is not running, so it is left stopped (the new owner applies when it starts)"
        );
        return Ok(ExitCode::SUCCESS);
    }
    systemctl.stop(f.as_str()).await.with_context(|| {
        format!("set_owner={owner} is written but the service {f} did not stop")
    })?;
    if activity == UnitActivity::Failed {
        systemctl.reset_failed(f.as_str()).await.with_context(|| {
            format!(
                "set_owner={owner} is written and {f} stopped, but its failure cannot be cleared"
            )
        })?;
    }
    systemctl.start(f.as_str()).await.with_context(|| {
        format!("set_owner={owner} is written and {f} stopped, but it did not start")
    })?;
    println!("{f}: set_owner={owner}; service stopped and started");
    Ok(ExitCode::SUCCESS)
}

// ---- join / reset: the daemons' engine (ctrmgr_driver::JoinEngine) -------------------------

/// The join/reset engine with the real adapters, as hostcfgd-watcher builds it.
async fn engine(ctx: &Ctx) -> Result<KubeJoinEngine> {
    Ok(ctx.node(ctx.db().await?).await?.join_engine())
}

async fn join(ctx: &Ctx, force: bool) -> Result<ExitCode> {
    let engine = engine(ctx).await?;
    // Refusals (no ip, disable=true) are the engine's errors: one line, exit 1.
    match engine.join(force).await? {
        Joined::Joined { server, labels } => {
            let labels = match labels {
                Applied::Sent => "node labels applied".to_owned(),
                Applied::Queued { cause, .. } => format!("node labels {cause}"),
            };
            println!("joined the Kubernetes master {server}; {labels}");
        }
        Joined::Adopted { server } => println!(
            "already joined to the Kubernetes master {server}, which answers: marked connected"
        ),
        Joined::AlreadyConnected => bail!(
            "the Kubernetes master is already connected (STATE_DB KUBERNETES_MASTER|SERVER connected=true): reset, or join with -f"
        ),
    }
    Ok(ExitCode::SUCCESS)
}

async fn reset(ctx: &Ctx) -> Result<ExitCode> {
    engine(ctx).await?.reset().await?;
    println!(
        "left the Kubernetes master: kubeadm reset, kubelet stopped, kubeconfig removed, pending labels purged"
    );
    Ok(ExitCode::SUCCESS)
}
