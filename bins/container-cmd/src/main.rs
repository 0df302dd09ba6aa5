//! `container`: what SONiC's systemd units, reboot scripts and containers call instead of
//! `docker start|stop|kill|wait|inspect|exec` (DESIGN.md §5). A feature runs either from its
//! local image or from an image deployed by Kubernetes; `container` works the same either way,
//! acting on the container STATE_DB records as the feature's owner, and tells the switch's side
//! of the state machine what happened (`container state <f> up|down`).
//!
//! The work is done by `ctrmgr-driver`; this binary parses arguments, builds the adapters
//! (Redis, the Docker Engine, the API server, systemctl), calls the driver and maps outcomes to
//! exit codes: 0 success, 1 failure with one line `container: error: …` on stderr, 2 usage;
//! `wait` and `exec` exit with the container's or the command's own code. The outcomes of
//! `state … up` after which the caller must not run the feature each have their own status
//! (3 parked then stopped, 4 refused, 5 not approved in time, 128 + N stopped by signal N
//! while waiting; see the operator guide): a start script runs the feature only on 0.
//!
//! Invoked under the name `container_startup.py` (the path kube images of today call from their
//! start script, where a DaemonSet mounts this binary), it is upstream's startup script:
//! `-f <feature> -o local|kube -v <version>` runs `container state <feature> up local|kube` and
//! records `container_version` (see `dropin`). A name without a CONFIG_DB `FEATURE` row is the
//! local container of that name, as upstream's `container` has it.
//!
//! Built without the default cargo feature `kube`, it links no Kubernetes client: `set_owner=kube`
//! is read as `local` (with a warning) and no node label is touched.

use std::process::ExitCode;

mod cli;
mod commands;
mod dropin;
#[cfg(feature = "kube")]
mod kube;
mod selfid;

pub use cli::{Cli, Command, StateChange, UpMode};

fn main() -> ExitCode {
    // Answering as upstream's `container_startup.py` (see `dropin`).
    let argv0 = std::env::args_os()
        .next()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let (cli, startup) = if dropin::invoked_as_startup(&argv0) {
        let (cli, version) = ctrmgr_bin::parse_args::<dropin::StartupCli>().into_cli();
        (cli, Some(version))
    } else {
        (ctrmgr_bin::parse_args::<Cli>(), None)
    };
    let log_to_stderr = cli.global.log_to_stderr;
    let mut refusal = None;
    let status = ctrmgr_bin::main_with("container", log_to_stderr, async {
        let outcome = async {
            let code = commands::run(cli).await?;
            if let (0, Some(startup)) = (code, &startup) {
                startup.record().await?;
            }
            Ok::<_, anyhow::Error>(code)
        }
        .await;
        // An outcome after which the caller must not run the feature: one line, as every
        // error, but its own documented status.
        if let Err(e) = &outcome {
            refusal = e.downcast_ref::<commands::DoNotRun>().map(|r| r.code);
        }
        outcome
    });
    match refusal {
        Some(code) => ExitCode::from(code),
        None => status,
    }
}
