//! [`Systemctl`]: the systemd port, by running `systemctl <verb> <unit>` (argv, no shell).

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;

use ctrmgr_core::ports::Systemd;

use crate::Error;

/// Runs `<program> <verb> <unit>`. The program is `systemctl` on a switch; tests and the
/// systemd simulator point it elsewhere ([`crate::Tunables::systemctl`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Systemctl {
    program: PathBuf,
}

impl Default for Systemctl {
    fn default() -> Self {
        Self::new("systemctl")
    }
}

impl Systemctl {
    /// A runner of `program`.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
        }
    }

    /// The program run.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Runs `<program> <verb> <unit>` and returns whether it exited 0.
    async fn run(&self, verb: &'static str, unit: &str) -> Result<bool, Error> {
        let out = tokio::process::Command::new(&self.program)
            .arg(verb)
            .arg(unit)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output()
            .await
            .map_err(|source| Error::SystemctlSpawn {
                program: self.program.clone(),
                verb,
                unit: unit.to_owned(),
                source,
            })?;
        if out.status.success() {
            return Ok(true);
        }
        if verb == "is-active" {
            // is-active answers "not active" with a non-zero status (3 inactive, 4 unknown).
            return Ok(false);
        }
        Err(Error::SystemctlFailed {
            program: self.program.clone(),
            verb,
            unit: unit.to_owned(),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        })
    }

    async fn act(&self, verb: &'static str, unit: &str) -> Result<(), Error> {
        tracing::debug!(program = %self.program.display(), verb, unit, "systemctl");
        self.run(verb, unit).await.map(drop)
    }
}

impl Systemd for Systemctl {
    type Error = Error;

    fn start(&self, unit: &str) -> impl Future<Output = Result<(), Error>> + Send {
        self.act("start", unit)
    }

    fn stop(&self, unit: &str) -> impl Future<Output = Result<(), Error>> + Send {
        self.act("stop", unit)
    }

    fn restart(&self, unit: &str) -> impl Future<Output = Result<(), Error>> + Send {
        self.act("restart", unit)
    }

    fn is_active(&self, unit: &str) -> impl Future<Output = Result<bool, Error>> + Send {
        self.run("is-active", unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in systemctl: appends its argv to `calls`, fails `start` of unit `broken`, and
    /// says a unit is active only when it is `kubelet`.
    fn recording_systemctl(dir: &Path) -> (PathBuf, PathBuf) {
        let calls = dir.join("calls");
        let script = dir.join("systemctl");
        let body = format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\n\
             if [ \"$1\" = start ] && [ \"$2\" = broken ]; then echo 'unit broken failed' >&2; exit 5; fi\n\
             if [ \"$1\" = is-active ]; then [ \"$2\" = kubelet ] && exit 0; exit 3; fi\n\
             exit 0\n",
            calls.display()
        );
        std::fs::write(&script, body).expect("write script");
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))
            .expect("chmod script");
        (script, calls)
    }

    #[tokio::test]
    async fn verbs_run_the_program_with_verb_and_unit_as_arguments() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (script, calls) = recording_systemctl(dir.path());
        let s = Systemctl::new(&script);
        s.stop("kubelet").await.expect("stop");
        s.start("kubelet").await.expect("start");
        s.restart("snmp").await.expect("restart");
        assert!(s.is_active("kubelet").await.expect("is-active"));
        assert!(!s.is_active("snmp").await.expect("is-active"));
        let recorded = std::fs::read_to_string(&calls).expect("calls");
        assert_eq!(
            recorded,
            "stop kubelet\nstart kubelet\nrestart snmp\nis-active kubelet\nis-active snmp\n"
        );
    }

    #[tokio::test]
    async fn a_failing_verb_is_an_error_with_status_and_stderr() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (script, _) = recording_systemctl(dir.path());
        let e = Systemctl::new(&script)
            .start("broken")
            .await
            .expect_err("start broken fails");
        let msg = e.to_string();
        assert!(msg.contains("start broken"), "{msg}");
        assert!(msg.contains("unit broken failed"), "{msg}");
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let e = Systemctl::new("/nonexistent/systemctl")
            .stop("kubelet")
            .await
            .expect_err("no such program");
        assert!(matches!(e, Error::SystemctlSpawn { .. }), "{e}");
    }
}
