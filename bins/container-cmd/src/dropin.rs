//! What makes `container` a drop-in for upstream's Python `container` and
//! `container_startup.py` (issue 12; docs/decisions.md, "Upstream compatibility"):
//!
//! - a name without a CONFIG_DB `FEATURE` row (`lldp0`, `bgp1` on multi-ASIC switches, which
//!   fast-reboot kills through `container kill`) is a local feature acting on the container of
//!   that name; when nothing is recorded for it, `stop` and `kill` act on that container by
//!   name, as upstream does;
//! - `container_startup.py -f <f> -o <owner> -v <version>`, which the kube images of today run
//!   from their start script, answers as `container state <f> up <owner>` and records
//!   `container_version` once the container owns the feature.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Parser;
use ctrmgr_core::ports::{Containers, ErrorKind, PortError};
use ctrmgr_core::{FeatureName, Input, State};
use ctrmgr_dbclient::{DbConfig, SonicDb};
use ctrmgr_driver::Outcome;

use crate::{Cli, Command, StateChange, UpMode, selfid};
use ctrmgr_bin::GlobalArgs;

/// The names the binary answers to as upstream's startup script (argv\[0\]'s file name).
pub const STARTUP_NAMES: [&str; 2] = ["container_startup.py", "container_startup"];

/// Whether the binary was invoked under one of [`STARTUP_NAMES`].
pub fn invoked_as_startup(argv0: &str) -> bool {
    let name = std::path::Path::new(argv0)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(argv0);
    STARTUP_NAMES.contains(&name)
}

/// `container_startup.py -f <feature> -o local|kube -v <version>`: upstream's startup script,
/// called by a feature container's start script before it runs the feature.
#[derive(Debug, Parser)]
// No `version` flag of clap's: `-v/--version` is upstream's image version.
#[command(name = "container_startup.py")]
pub struct StartupCli {
    /// Feature name.
    #[arg(short = 'f', long = "feature")]
    feature: FeatureName,
    /// Which image this container runs: local or kube.
    #[arg(short = 'o', long = "owner")]
    owner: UpMode,
    /// The container's image version (its IMAGE_VERSION), recorded as STATE_DB
    /// `container_version`.
    #[arg(short = 'v', long = "version")]
    image_version: String,
    /// SONiC's database_config.json [default: $SONIC_DB_CONFIG, else /var/run/redis/sonic-db/database_config.json].
    #[arg(long, value_name = "PATH")]
    db_config: Option<PathBuf>,
    /// Tunables file [default: /etc/sonic/ctrmgr.json when it exists].
    #[arg(long, value_name = "PATH")]
    config: Option<PathBuf>,
    /// Kubeconfig used to reach the API server.
    #[arg(long, value_name = "PATH")]
    kubeconfig: Option<PathBuf>,
    /// Log to stderr instead of syslog.
    #[arg(long)]
    log_to_stderr: bool,
}

/// What a startup call records after the state change succeeded.
#[derive(Debug, Clone)]
pub struct StartupVersion {
    feature: FeatureName,
    version: String,
    db_config: Option<PathBuf>,
}

impl StartupCli {
    /// The equivalent `container state <f> up <owner>` and the version to record.
    pub fn into_cli(self) -> (Cli, StartupVersion) {
        let version = StartupVersion {
            feature: self.feature.clone(),
            version: self.image_version,
            db_config: self.db_config.clone(),
        };
        let cli = Cli {
            global: GlobalArgs {
                db_config: self.db_config,
                config: self.config,
                kubeconfig: self.kubeconfig,
                log_to_stderr: self.log_to_stderr,
            },
            command: Command::State {
                feature: self.feature,
                change: StateChange::Up {
                    mode: self.owner,
                    id: None,
                    timeout: None,
                },
            },
        };
        (cli, version)
    }
}

impl StartupVersion {
    /// Records `container_version` when this container now owns the feature (a parked
    /// container stopped by SIGTERM does not).
    pub async fn record(&self) -> Result<()> {
        let f = &self.feature;
        let what = || format!("cannot record the container version of feature {f}");
        let db_config = DbConfig::load(self.db_config.as_deref()).with_context(what)?;
        let db = SonicDb::connect(&db_config).await.with_context(what)?;
        let rec = db.feature_record(f).await.with_context(what)?;
        let Some((own, _)) = selfid::detect() else {
            return Ok(());
        };
        if rec.docker_id.as_ref() != Some(&own) {
            tracing::info!(feature = %f, container = %own, "not the owner: container_version not recorded");
            return Ok(());
        }
        db.set_container_version(f, &self.version)
            .await
            .with_context(what)
    }
}

/// After a Stop or Kill of a name without a CONFIG_DB row that had nothing recorded (INIT):
/// the container of that name is stopped or killed directly, as upstream `container` does
/// (fast-reboot's `container kill lldp0` on a multi-ASIC switch). A container that does not
/// exist is already stopped.
pub async fn act_by_name_if_unrecorded<C: Containers>(
    db: &SonicDb,
    containers: &C,
    feature: &FeatureName,
    input: &Input,
    outcome: &Outcome,
) -> Result<()> {
    if outcome.from != State::Init {
        return Ok(());
    }
    let (verb, grace) = match input {
        Input::Kill => ("kill", None),
        Input::Stop(o) => ("stop", Some(o.grace_secs)),
        _ => return Ok(()),
    };
    let configured = db
        .feature_config(feature)
        .await
        .with_context(|| format!("cannot {verb} feature {feature}"))?
        .is_some();
    if configured {
        return Ok(());
    }
    let name = feature.local_container();
    tracing::info!(%feature, "no CONFIG_DB FEATURE row and nothing recorded: {verb} the container named {feature}");
    let result = match grace {
        None => containers.kill(&name).await,
        Some(g) => containers.stop(&name, g).await,
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => {
            tracing::info!(%feature, "no container named {feature}: nothing to {verb}");
            Ok(())
        }
        Err(e) => {
            Err(anyhow::Error::new(e).context(format!("cannot {verb} the container {feature}")))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_answers_as_container_startup_py_under_that_name_only() {
        assert!(invoked_as_startup(
            "/usr/share/sonic/scripts/container_startup.py"
        ));
        assert!(invoked_as_startup("container_startup"));
        assert!(!invoked_as_startup("/usr/bin/container"));
        assert!(!invoked_as_startup("container_startup.pyc"));
    }

    #[test]
    fn the_startup_cli_is_well_formed() {
        use clap::CommandFactory;
        StartupCli::command().debug_assert();
    }

    #[test]
    fn startup_arguments_map_onto_state_up() {
        let s = StartupCli::try_parse_from([
            "container_startup.py",
            "-f",
            "lldp",
            "-o",
            "kube",
            "--version",
            "20201230.11",
        ])
        .expect("upstream's arguments parse");
        let (cli, v) = s.into_cli();
        assert_eq!(v.version, "20201230.11");
        match cli.command {
            Command::State {
                feature,
                change: StateChange::Up { mode, id, timeout },
            } => {
                assert_eq!(feature.as_str(), "lldp");
                assert_eq!(mode, UpMode::Kube);
                assert!(id.is_none() && timeout.is_none());
            }
            other => panic!("mapped to {other:?}"),
        }
        for bad in [
            vec!["container_startup.py", "-f", "lldp", "-o", "kube"],
            vec![
                "container_startup.py",
                "-f",
                "lldp",
                "-o",
                "remote",
                "-v",
                "1",
            ],
        ] {
            let e = StartupCli::try_parse_from(bad).expect_err("refused");
            assert_eq!(e.exit_code(), 2, "usage errors exit 2, as argparse's do");
        }
    }
}
