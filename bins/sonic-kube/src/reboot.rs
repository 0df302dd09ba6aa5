//! `reboot prepare warm|fast`: the hooks features registered (`service install` writes them to
//! `/etc/sonic/ctrmgr/reboot.d/<kind>/<feature>.sh`), run one after the other in the order of
//! their names, each bounded in time: a hook still running at its timeout is killed with its
//! whole process group. Every hook runs, whatever the others did; the result of each is one
//! row of a table, and the exit code is 1 when any failed.

use std::os::fd::AsFd as _;
use std::path::{Path, PathBuf};
use std::process::{ExitCode, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result};

use crate::cli::{RebootCommand, RebootKind};
use crate::table::Table;

/// Where the hooks of a kind of reboot live, below the root.
pub(crate) fn hooks_dir(root: &Path, kind: RebootKind) -> PathBuf {
    root.join("etc/sonic/ctrmgr/reboot.d").join(kind.as_str())
}

pub(crate) async fn run(cmd: RebootCommand) -> Result<ExitCode> {
    let RebootCommand::Prepare {
        kind,
        timeout,
        root,
    } = cmd;
    let dir = hooks_dir(&root.root, kind);
    let mut hooks: Vec<PathBuf> = match std::fs::read_dir(&dir) {
        Ok(entries) => entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "sh") && p.is_file())
            .collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", dir.display())),
    };
    if hooks.is_empty() {
        println!("no {} reboot hooks registered", kind.as_str());
        return Ok(ExitCode::SUCCESS);
    }
    hooks.sort();
    let limit = Duration::from_secs(timeout);
    let mut table = Table::new(["Hook", "Result", "Seconds"]);
    let mut failed = 0usize;
    for hook in &hooks {
        let name = hook
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let started = Instant::now();
        let result = run_hook(hook, limit).await;
        let secs = format!("{:.1}", started.elapsed().as_secs_f64());
        let text = match result {
            Ok(HookResult::Ok) => "ok".to_owned(),
            Ok(HookResult::Failed(status)) => {
                failed += 1;
                format!("failed ({status})")
            }
            Ok(HookResult::TimedOut) => {
                failed += 1;
                format!("timed out after {timeout}s: killed")
            }
            Err(e) => {
                failed += 1;
                format!("cannot run: {e:#}")
            }
        };
        tracing::info!(hook = %hook.display(), result = %text, "reboot hook");
        table.row([name, text, secs]);
    }
    print!("{}", table.render());
    if failed > 0 {
        eprintln!(
            "sonic-kube: error: {failed} of {} {} reboot hook(s) failed",
            hooks.len(),
            kind.as_str()
        );
        return Ok(ExitCode::FAILURE);
    }
    Ok(ExitCode::SUCCESS)
}

enum HookResult {
    Ok,
    Failed(std::process::ExitStatus),
    TimedOut,
}

/// Runs one hook in a process group of its own, its output going to our stderr (the table is
/// on stdout), killed with the whole group after `limit`.
async fn run_hook(hook: &Path, limit: Duration) -> Result<HookResult> {
    let out = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .context("cannot duplicate stderr")?;
    let err = out.try_clone().context("cannot duplicate stderr")?;
    let mut child = tokio::process::Command::new(hook)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot start {}", hook.display()))?;
    match tokio::time::timeout(limit, child.wait()).await {
        Ok(status) => {
            let status = status.with_context(|| format!("cannot wait for {}", hook.display()))?;
            Ok(if status.success() {
                HookResult::Ok
            } else {
                HookResult::Failed(status)
            })
        }
        Err(_) => {
            // The group's leader is the hook; its children are in the group too.
            if let Some(pgid) = child
                .id()
                .and_then(|p| i32::try_from(p).ok())
                .and_then(rustix::process::Pid::from_raw)
            {
                let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
            }
            let _ = child.kill().await;
            Ok(HookResult::TimedOut)
        }
    }
}
