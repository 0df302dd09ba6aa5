//! [`Kubeadm`]: `kubeadm join` and `kubeadm reset -f` as argv (no shell), each bounded in time.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use crate::{Error, ProgramError};

/// Runs the kubeadm program ([`crate::Tunables::kubeadm`]; tests point it at a recorder), each
/// call killed when it outlives [`crate::Tunables::kubeadm_timeout_secs`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kubeadm {
    program: PathBuf,
    timeout: Duration,
}

impl Kubeadm {
    /// A runner of `program` with calls bounded by `timeout`.
    pub fn new(program: impl Into<PathBuf>, timeout: Duration) -> Self {
        Self {
            program: program.into(),
            timeout,
        }
    }

    /// The program run.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// `kubeadm join --discovery-file <kubeconfig> --node-name <node>`.
    pub async fn join(&self, discovery_file: &Path, node: &str) -> Result<(), Error> {
        self.run(&[
            "join".as_ref(),
            "--discovery-file".as_ref(),
            discovery_file.as_os_str(),
            "--node-name".as_ref(),
            node.as_ref(),
        ])
        .await
    }

    /// `kubeadm reset -f`.
    pub async fn reset(&self) -> Result<(), Error> {
        self.run(&["reset".as_ref(), "-f".as_ref()]).await
    }

    async fn run(&self, args: &[&std::ffi::OsStr]) -> Result<(), Error> {
        let shown = args
            .iter()
            .map(|a| a.to_string_lossy())
            .collect::<Vec<_>>()
            .join(" ");
        tracing::info!(program = %self.program.display(), args = %shown, "kubeadm");
        let child = tokio::process::Command::new(&self.program)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|source| {
                Error::Program(ProgramError::Spawn {
                    program: self.program.clone(),
                    args: shown.clone(),
                    source,
                })
            })?;
        let out = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(Ok(out)) => out,
            Ok(Err(source)) => {
                return Err(Error::Program(ProgramError::Spawn {
                    program: self.program.clone(),
                    args: shown,
                    source,
                }));
            }
            // Dropping the child kills it (kill_on_drop).
            Err(_) => {
                return Err(Error::Program(ProgramError::Timeout {
                    program: self.program.clone(),
                    args: shown,
                    after: self.timeout,
                }));
            }
        };
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        let last = stderr
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("")
            .to_owned();
        Err(Error::Program(ProgramError::Failed {
            program: self.program.clone(),
            args: shown,
            status: out.status.to_string(),
            stderr: last,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn script(dir: &Path, body: &str) -> PathBuf {
        let path = dir.join("kubeadm");
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).expect("write script");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        path
    }

    #[tokio::test]
    async fn join_and_reset_pass_their_arguments_as_argv() {
        let dir = tempfile::tempdir().expect("temp dir");
        let calls = dir.path().join("calls");
        let program = script(
            dir.path(),
            &format!(
                "printf '%s|' \"$@\" >> '{}'; echo >> '{}'",
                calls.display(),
                calls.display()
            ),
        );
        let k = Kubeadm::new(&program, Duration::from_secs(5));
        k.join(Path::new("/etc/sonic/kube admin.conf"), "sonic-1")
            .await
            .expect("join");
        k.reset().await.expect("reset");
        assert_eq!(
            std::fs::read_to_string(&calls).expect("calls"),
            "join|--discovery-file|/etc/sonic/kube admin.conf|--node-name|sonic-1|\nreset|-f|\n"
        );
    }

    #[tokio::test]
    async fn a_failure_names_the_command_status_and_last_stderr_line() {
        let dir = tempfile::tempdir().expect("temp dir");
        let program = script(
            dir.path(),
            "echo 'preflight' >&2; echo 'node exists' >&2; exit 3",
        );
        let e = Kubeadm::new(&program, Duration::from_secs(5))
            .reset()
            .await
            .expect_err("fails");
        let msg = e.to_string();
        assert!(msg.contains("reset -f failed"), "{msg}");
        assert!(msg.contains("node exists"), "{msg}");
        assert!(!msg.contains("preflight"), "{msg}");
    }

    #[tokio::test]
    async fn a_hung_kubeadm_is_killed_at_its_bound() {
        let dir = tempfile::tempdir().expect("temp dir");
        let program = script(dir.path(), "exec sleep 30");
        let e = Kubeadm::new(&program, Duration::from_millis(200))
            .reset()
            .await
            .expect_err("times out");
        assert!(
            matches!(e, Error::Program(ProgramError::Timeout { .. })),
            "{e}"
        );
    }
}
