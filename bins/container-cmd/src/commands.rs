//! The commands: each builds what it needs (nothing it does not: `container id` talks to
//! Redis only) and calls the driver.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use ctrmgr_core::codec;
use ctrmgr_core::ports::StateStore;
use ctrmgr_core::{ContainerId, FeatureName, Input, Owner, Reason, State, StopOptions};
use ctrmgr_dbclient::SonicDb;
use ctrmgr_dockerclient::{DockerClient, ExecSpec};
use ctrmgr_driver::{
    FeatureDriver, FeatureOptions, KnownFeature, LabelOptions, LabelService, LockDir, Systemctl,
    Tunables, read_feature_with,
};
use tokio::io::AsyncRead;

use crate::{Cli, Command, StateChange, UpMode};
use ctrmgr_bin::Engine;

/// Whether this build has Kubernetes support.
mod state;
mod wait;

use state::{kube_up, own_id};
use wait::wait;

const KUBE: bool = cfg!(feature = "kube");

#[cfg(feature = "kube")]
type NodeLabels = crate::kube::NodeLabels;
#[cfg(not(feature = "kube"))]
type NodeLabels = ctrmgr_driver::NoKube;

type Driver = FeatureDriver<SonicDb, Engine, NodeLabels, Systemctl>;

/// What every command starts from: the tunables and the databases.
struct Env {
    /// What the command does, for messages: `start feature snmp`.
    what: String,
    tunables: Tunables,
    db: SonicDb,
    #[cfg_attr(not(feature = "kube"), allow(dead_code))]
    kubeconfig: Option<std::path::PathBuf>,
}

impl Env {
    async fn load(cli: &Cli, what: String) -> Result<Self> {
        let ctrmgr_bin::Env { tunables, db } = ctrmgr_bin::Env::load(&cli.global)
            .await
            .with_context(|| format!("cannot {what}"))?;
        Ok(Self {
            what,
            tunables,
            db,
            kubeconfig: cli.global.kubeconfig.clone(),
        })
    }

    /// The driver; it connects to the engine and the API server only when an effect needs
    /// them.
    fn driver(&self) -> Driver {
        let t = &self.tunables;
        let service = LabelService::new(
            self.db.clone(),
            self.node_labels(),
            Systemctl::new(&t.systemctl),
            LabelOptions::from_tunables(t),
        );
        let mut options = FeatureOptions::from_tunables(t, KUBE);
        if let Some(kubeconfig) = &self.kubeconfig {
            options.kubeconfig_present = kubeconfig.exists();
        }
        FeatureDriver::new(service, Engine::new(), LockDir::new(&t.lock_dir), options)
            .with_unconfigured_as_local()
    }

    /// A client of the engine `DOCKER_HOST` names (no request is made yet).
    fn docker(&self) -> Result<DockerClient> {
        Engine::new()
            .client()
            .cloned()
            .with_context(|| format!("cannot {}", self.what))
    }

    #[cfg(feature = "kube")]
    fn node_labels(&self) -> NodeLabels {
        let options = ctrmgr_kubeclient::KubeOptions {
            kubeconfig: self
                .kubeconfig
                .clone()
                .unwrap_or_else(|| self.tunables.kubeconfig.clone()),
            timeout: self.tunables.label_timeout(),
        };
        crate::kube::NodeLabels::new(self.db.clone(), options)
    }

    #[cfg(not(feature = "kube"))]
    fn node_labels(&self) -> NodeLabels {
        ctrmgr_driver::NoKube
    }

    async fn read(&self, feature: &FeatureName) -> Result<KnownFeature> {
        Ok(read_feature_with(&self.db, feature, KUBE, true).await?)
    }
}

/// An exit status for a container's or a command's exit code (0 stays 0; codes outside
/// 1..=255 become 255).
fn exit_code(code: i64) -> u8 {
    u8::try_from(code).unwrap_or(255)
}

/// `FEATURE|<f>`, for messages.
fn row(feature: &FeatureName) -> String {
    codec::row_key(
        codec::FEATURE_TABLE,
        codec::DEFAULT_SEPARATOR,
        feature.as_str(),
    )
}

/// Runs the command; returns the exit status.
pub async fn run(cli: Cli) -> Result<u8> {
    let (verb, feature) = match &cli.command {
        Command::Start { feature } => ("start", Some(feature)),
        Command::Stop { feature, .. } => ("stop", Some(feature)),
        Command::Kill { feature } => ("kill", Some(feature)),
        Command::Wait { feature } => ("wait for", Some(feature)),
        Command::Id { feature } => ("find the container of", Some(feature)),
        Command::Inspect { feature } => ("inspect", Some(feature)),
        Command::Exec { feature, .. } => ("exec in", Some(feature)),
        Command::State { feature, .. } => ("change the state of", Some(feature)),
        Command::KillAll => ("kill all features", None),
    };
    let what = match feature {
        Some(f) => format!("{verb} feature {f}"),
        None => verb.to_owned(),
    };
    let env = Env::load(&cli, what).await?;
    match cli.command {
        Command::Start { feature } => transition(&env, &feature, Input::Start).await,
        Command::Stop { timeout, feature } => {
            let t = &env.tunables;
            let options = StopOptions {
                grace_secs: timeout.unwrap_or(t.stop_grace_secs),
                kube_exit_wait_secs: t.kube_exit_wait_secs,
            };
            stop_or_kill(&env, &feature, Input::Stop(options)).await
        }
        Command::Kill { feature } => stop_or_kill(&env, &feature, Input::Kill).await,
        Command::Wait { feature } => wait(&env, &feature).await,
        Command::Id { feature } => id(&env, &feature).await,
        Command::Inspect { feature } => inspect(&env, &feature).await,
        Command::Exec {
            feature,
            interactive,
            tty,
            cmd,
        } => exec(&env, &feature, interactive, tty, cmd).await,
        Command::State { feature, change } => match change {
            StateChange::Up {
                mode: UpMode::Local,
                id,
                ..
            } => {
                let id = own_id(&env, &feature, id, false).await?;
                transition(&env, &feature, Input::LocalUp(id)).await
            }
            StateChange::Up {
                mode: UpMode::Kube,
                id,
                timeout,
            } => {
                let id = own_id(&env, &feature, id, true).await?;
                kube_up(&env, &feature, id, timeout.map(Duration::from_secs)).await
            }
            StateChange::Down { id } => {
                let id = own_id(&env, &feature, id, false).await?;
                transition(&env, &feature, Input::Down(id)).await
            }
        },
        Command::KillAll => kill_all(&env).await,
    }
}

/// Feeds one input and reports nothing more than the driver logs.
async fn transition(env: &Env, feature: &FeatureName, input: Input) -> Result<u8> {
    let local_up = matches!(input, Input::LocalUp(_));
    let out = env.driver().run(feature, input).await?;
    if local_up && out.reason == Reason::LocalUpRefusedWhileKube {
        return Err(DoNotRun {
            code: EXIT_REFUSED,
            message: format!(
                "feature {feature}: this local container must not run the feature: {}",
                out.reason.text()
            ),
        }
        .into());
    }
    Ok(0)
}

/// Stop or Kill; for a name without a CONFIG_DB row and nothing recorded, the container of
/// that name (see [`crate::dropin`]).
async fn stop_or_kill(env: &Env, feature: &FeatureName, input: Input) -> Result<u8> {
    let driver = env.driver();
    let outcome = driver.run(feature, input.clone()).await?;
    crate::dropin::act_by_name_if_unrecorded(
        &env.db,
        driver.containers(),
        feature,
        &input,
        &outcome,
    )
    .await?;
    Ok(0)
}

/// Exit status of `container state <f> up kube` that was parked (`set_owner` is local) and
/// then ended by SIGTERM or SIGINT: the feature must not run.
pub const EXIT_PARKED: u8 = 3;
/// Exit status of `container state <f> up local` that was refused (kube owns the feature or is
/// about to): the local container is being stopped, the feature must not run in it.
pub const EXIT_REFUSED: u8 = 4;
/// Exit status of `container state <f> up kube --timeout SECS` that was not approved in time:
/// the feature must not run.
pub const EXIT_NOT_APPROVED: u8 = 5;

/// An outcome after which the caller must not run the feature: exits with `code` and one line
/// on stderr (DESIGN §5; the codes are documented in the operator guide).
#[derive(Debug)]
pub struct DoNotRun {
    /// The exit status.
    pub code: u8,
    /// What happened, for the one line on stderr.
    pub message: String,
}

impl std::fmt::Display for DoNotRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DoNotRun {}

/// The container `inspect`, `exec` and `id` act on: the recorded owner, else — when the local
/// image may run the feature — the local container by its name, the feature's.
fn target(known: &KnownFeature, feature: &FeatureName) -> Result<ContainerId> {
    if let Some(id) = &known.record.docker_id {
        return Ok(id.clone());
    }
    if known.config.set_owner == Owner::Local || known.config.fallback_to_local {
        return Ok(feature.local_container());
    }
    bail!(
        "feature {feature} has no container: STATE_DB {} records no docker_id and set_owner is kube",
        row(feature)
    )
}

async fn id(env: &Env, feature: &FeatureName) -> Result<u8> {
    let known = env.read(feature).await?;
    // Upstream prints the feature's name for a local owner (its container's name).
    if known.record.current_owner == ctrmgr_core::CurrentOwner::Local {
        println!("{feature}");
        return Ok(0);
    }
    let id = match &known.record.docker_id {
        Some(id) => id.clone(),
        None => {
            let name = target(&known, feature)?;
            env.docker()?
                .full_id(&name)
                .await
                .with_context(|| format!("cannot find the container of feature {feature}"))?
        }
    };
    println!("{id}");
    Ok(0)
}

async fn inspect(env: &Env, feature: &FeatureName) -> Result<u8> {
    let known = env.read(feature).await?;
    let target = target(&known, feature)?;
    let json = env
        .docker()?
        .inspect_json(&target)
        .await
        .with_context(|| format!("cannot inspect feature {feature}"))?;
    print!("{json}");
    Ok(0)
}

async fn exec(
    env: &Env,
    feature: &FeatureName,
    interactive: bool,
    tty: bool,
    cmd: Vec<String>,
) -> Result<u8> {
    let known = env.read(feature).await?;
    let target = target(&known, feature)?;
    let mut spec = ExecSpec::new(&[]);
    spec.cmd = cmd;
    spec.tty = tty;
    let mut stdin = tokio::io::stdin();
    let mut stdout = tokio::io::stdout();
    let mut stderr = tokio::io::stderr();
    let input: Option<&mut (dyn AsyncRead + Unpin + Send)> =
        if interactive { Some(&mut stdin) } else { None };
    let status = env
        .docker()?
        .exec(&target, &spec, input, &mut stdout, &mut stderr)
        .await
        .with_context(|| format!("cannot exec in feature {feature}"))?;
    Ok(exit_code(status.code))
}

/// `container kill-all`: Kill for every feature whose record says a container runs.
async fn kill_all(env: &Env) -> Result<u8> {
    let features = env
        .db
        .features()
        .await
        .context("cannot kill all features: cannot list CONFIG_DB FEATURE")?;
    let driver = env.driver();
    let kill = |feature: FeatureName| {
        let driver = &driver;
        async move {
            let result = async {
                let known = driver.read(&feature).await?;
                let state = known.state();
                if !matches!(
                    state,
                    State::Local | State::LocalToKube | State::KubeRunning
                ) {
                    return Ok::<_, ctrmgr_driver::Error>(None);
                }
                let id = known.record.docker_id.clone();
                driver.run(&feature, Input::Kill).await?;
                Ok(Some(id))
            }
            .await;
            (feature, result)
        }
    };
    let results = futures_util::future::join_all(features.into_iter().map(kill)).await;
    let mut failures = Vec::new();
    for (feature, result) in results {
        match result {
            Ok(Some(Some(id))) => println!("{feature}: killed container {}", id.short()),
            Ok(Some(None)) => println!("{feature}: killed container {feature}"),
            Ok(None) => println!("{feature}: no container runs"),
            Err(e) => {
                let e = ctrmgr_core::retry::error_line(&e);
                println!("{feature}: failed: {e}");
                failures.push(format!("{feature}: {e}"));
            }
        }
    }
    if failures.is_empty() {
        Ok(0)
    } else {
        bail!(
            "kill-all failed for {} feature(s): {}",
            failures.len(),
            failures.join("; ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_keep_the_container_code_and_never_turn_a_failure_into_success() {
        assert_eq!(exit_code(0), 0);
        assert_eq!(exit_code(3), 3);
        assert_eq!(exit_code(255), 255);
        assert_eq!(exit_code(256), 255);
        assert_eq!(exit_code(-1), 255);
    }

    #[test]
    fn the_cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn state_takes_the_feature_before_its_subcommand() {
        use clap::Parser;
        let cli = Cli::try_parse_from(["container", "state", "snmp", "up", "kube", "--id", "abc"])
            .expect("valid");
        match cli.command {
            Command::State {
                feature,
                change: StateChange::Up { mode, id, timeout },
            } => {
                assert_eq!(feature.as_str(), "snmp");
                assert_eq!(mode, UpMode::Kube);
                assert_eq!(id.map(String::from).as_deref(), Some("abc"));
                assert_eq!(timeout, None);
            }
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn exec_needs_a_command_after_the_double_dash() {
        use clap::Parser;
        let cli = Cli::try_parse_from(["container", "exec", "snmp", "-i", "--", "ls", "-l"])
            .expect("valid");
        match cli.command {
            Command::Exec {
                interactive,
                tty,
                cmd,
                ..
            } => {
                assert!(interactive);
                assert!(!tty);
                assert_eq!(cmd, ["ls", "-l"]);
            }
            other => panic!("parsed as {other:?}"),
        }
        assert!(Cli::try_parse_from(["container", "exec", "snmp"]).is_err());
    }

    #[test]
    fn an_invalid_feature_name_is_a_usage_error() {
        use clap::Parser;
        let e = Cli::try_parse_from(["container", "start", "Bad/Name"]).expect_err("invalid");
        assert_eq!(e.exit_code(), 2);
    }
}
