//! Running child processes from argv — never through a shell — and echoing each command before
//! it runs, so that a CI log reads like a script.

use std::ffi::OsStr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail};

/// `cargo`, the same one that runs xtask (`$CARGO`), in the workspace root.
pub fn cargo(root: &Path) -> Command {
    let program = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(program);
    cmd.current_dir(root);
    cmd
}

/// The command as a reader would type it: environment changes, then the program and its
/// arguments.
pub fn display(cmd: &Command) -> String {
    let mut words: Vec<String> = cmd
        .get_envs()
        .filter_map(|(k, v)| Some(format!("{}={}", k.to_string_lossy(), v?.to_string_lossy())))
        .collect();
    let program = Path::new(cmd.get_program())
        .file_name()
        .unwrap_or_else(|| cmd.get_program());
    words.push(program.to_string_lossy().into_owned());
    words.extend(cmd.get_args().map(|a| a.to_string_lossy().into_owned()));
    words.join(" ")
}

/// Runs the command with inherited stdio; fails naming it when it cannot start or exits
/// unsuccessfully.
pub fn run(cmd: &mut Command) -> Result<()> {
    let shown = display(cmd);
    eprintln!("$ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot run `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed: {status}");
    }
    Ok(())
}

/// Runs the command and returns its standard output; fails naming it (with its standard
/// error) when it cannot start or exits unsuccessfully.
pub fn output(cmd: &mut Command) -> Result<String> {
    let shown = display(cmd);
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run `{shown}`"))?;
    if !out.status.success() {
        bail!(
            "`{shown}` failed: {}: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether the command runs and exits 0, with its output discarded.
pub fn succeeds(cmd: &mut Command) -> bool {
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Like [`succeeds`], but gives up (and kills the child) after `timeout`: a Docker CLI talking
/// to a socket whose daemon hangs must not hang the whole task.
pub fn succeeds_within(cmd: &mut Command, timeout: Duration) -> bool {
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    match child {
        Ok(mut child) => wait_within(&mut child, timeout).is_some_and(|s| s.success()),
        Err(_) => false,
    }
}

/// Waits for `child` up to `timeout`; on timeout kills it and answers `None`. Polls, because
/// std offers no way to wait for a child with a deadline; this is tooling, not production code.
pub fn wait_within(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Ok(None) | Err(_) => {
                let _ = child.kill();
                let _ = child.wait();
                return None;
            }
        }
    }
}

/// The first executable file called `name` on `$PATH`.
pub fn on_path(name: impl AsRef<OsStr>) -> Option<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt as _;
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(name.as_ref()))
        .find(|candidate| {
            std::fs::metadata(candidate)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_shows_environment_then_program_and_arguments() {
        let mut cmd = Command::new("/usr/bin/cargo");
        cmd.args(["doc", "--no-deps"])
            .env("RUSTDOCFLAGS", "-Dwarnings");
        assert_eq!(display(&cmd), "RUSTDOCFLAGS=-Dwarnings cargo doc --no-deps");
    }

    #[test]
    fn a_hanging_command_is_killed_at_its_deadline() {
        // `sleep 30` exits 0 if it is left to finish: only a kill at the deadline makes this
        // answer false.
        let ok = succeeds_within(Command::new("sleep").arg("30"), Duration::from_millis(200));
        assert!(
            !ok,
            "a command killed at its deadline does not count as success"
        );
    }

    #[test]
    fn on_path_finds_sh_and_not_a_made_up_name() {
        assert!(on_path("sh").is_some(), "sh is on every PATH this runs on");
        assert!(on_path("no-such-program-ctrmgr-xtask").is_none());
    }
}
