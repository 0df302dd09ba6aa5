//! [`Systemctl`]: the systemd port, by running `systemctl <verb> <unit>` (argv, no shell), each
//! call bounded.
//!
//! A bound that expires kills the `systemctl` process (not the job it asked for: systemd runs
//! that job to its end whatever happens to its client) and is an [`Error::Timeout`]. Jobs
//! (`start`, `stop`, `restart`, `try-restart`) are bounded by [`Systemctl::JOB_BOUND`] by
//! default, which covers a stop and a start at systemd's default 90 s each; queries
//! (`is-active`, `reset-failed`) by [`Systemctl::QUERY_BOUND`].

use std::future::Future;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use ctrmgr_core::UnitActivity;
use ctrmgr_core::ports::Systemd;

use crate::{Error, ProgramError};

/// Runs `<program> <verb> <unit>`. The program is `systemctl` on a switch; tests and the
/// systemd simulator point it elsewhere ([`crate::Tunables::systemctl`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Systemctl {
    program: PathBuf,
    job_bound: Duration,
    query_bound: Duration,
}

impl Default for Systemctl {
    fn default() -> Self {
        Self::new("systemctl")
    }
}

impl Systemctl {
    /// Default bound of a call that waits for a job (`start`, `stop`, `restart`,
    /// `try-restart`): 200 s, above systemd's default `TimeoutStopSec` plus `TimeoutStartSec`
    /// (90 s each) of a restart.
    pub const JOB_BOUND: Duration = Duration::from_secs(200);
    /// Default bound of a query (`is-active`, `reset-failed`): 10 s.
    pub const QUERY_BOUND: Duration = Duration::from_secs(10);

    /// A runner of `program` with the default bounds.
    pub fn new(program: impl Into<PathBuf>) -> Self {
        Self {
            program: program.into(),
            job_bound: Self::JOB_BOUND,
            query_bound: Self::QUERY_BOUND,
        }
    }

    /// The same runner with other bounds for jobs and for queries.
    pub fn with_bounds(mut self, job: Duration, query: Duration) -> Self {
        self.job_bound = job;
        self.query_bound = query;
        self
    }

    /// The program run.
    pub fn program(&self) -> &Path {
        &self.program
    }

    /// Runs `<program> <verb> <unit>` within `bound`; returns what it did.
    async fn run(
        &self,
        verb: &'static str,
        unit: &str,
        bound: Duration,
    ) -> Result<std::process::Output, Error> {
        tracing::debug!(program = %self.program.display(), verb, unit, "systemctl");
        let child = tokio::process::Command::new(&self.program)
            .arg(verb)
            .arg(unit)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .output();
        let out = match tokio::time::timeout(bound, child).await {
            Ok(out) => out.map_err(|source| ProgramError::Spawn {
                program: self.program.clone(),
                args: format!("{verb} {unit}"),
                source,
            })?,
            Err(_) => {
                return Err(Error::Timeout {
                    action: format!("{} {verb} {unit}", self.program.display()),
                    after: bound,
                });
            }
        };
        Ok(out)
    }

    /// A job verb: an error unless `systemctl` exits 0.
    async fn act(&self, verb: &'static str, unit: &str, bound: Duration) -> Result<(), Error> {
        let out = self.run(verb, unit, bound).await?;
        if out.status.success() {
            return Ok(());
        }
        Err(Error::Program(ProgramError::Failed {
            program: self.program.clone(),
            args: format!("{verb} {unit}"),
            status: out.status.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }))
    }

    async fn query_activity(&self, unit: &str) -> Result<UnitActivity, Error> {
        // is-active answers "not active" with a non-zero status (3 inactive, 4 unknown); what
        // it prints is the answer.
        let out = self.run("is-active", unit, self.query_bound).await?;
        Ok(UnitActivity::from_is_active(&String::from_utf8_lossy(
            &out.stdout,
        )))
    }
}

impl Systemd for Systemctl {
    type Error = Error;

    fn start(&self, unit: &str) -> impl Future<Output = Result<(), Error>> + Send {
        self.act("start", unit, self.job_bound)
    }

    fn stop(&self, unit: &str) -> impl Future<Output = Result<(), Error>> + Send {
        self.act("stop", unit, self.job_bound)
    }

    fn restart(&self, unit: &str) -> impl Future<Output = Result<(), Error>> + Send {
        self.act("restart", unit, self.job_bound)
    }

    fn try_restart(&self, unit: &str) -> impl Future<Output = Result<(), Error>> + Send {
        self.act("try-restart", unit, self.job_bound)
    }

    fn reset_failed(&self, unit: &str) -> impl Future<Output = Result<(), Error>> + Send {
        self.act("reset-failed", unit, self.query_bound)
    }

    fn activity(&self, unit: &str) -> impl Future<Output = Result<UnitActivity, Error>> + Send {
        self.query_activity(unit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// A stand-in systemctl: appends its argv to `calls`, fails `start` of unit `broken`,
    /// hangs on `stop` of unit `hang`, and answers is-active as systemctl does: `active` (exit
    /// 0) for `kubelet`, `failed` (exit 3) for `crashy`, `activating` for `booting`,
    /// `inactive` (exit 3) otherwise.
    fn recording_systemctl(dir: &Path) -> (PathBuf, PathBuf) {
        let calls = dir.join("calls");
        let script = dir.join("systemctl");
        let body = format!(
            "#!/bin/sh\necho \"$@\" >> '{}'\n\
             if [ \"$1\" = start ] && [ \"$2\" = broken ]; then echo 'unit broken failed' >&2; exit 5; fi\n\
             if [ \"$1\" = stop ] && [ \"$2\" = hang ]; then exec sleep 60; fi\n\
             if [ \"$1\" = is-active ]; then case \"$2\" in\n\
               kubelet) echo active; exit 0;;\n\
               crashy) echo failed; exit 3;;\n\
               booting) echo activating; exit 3;;\n\
               *) echo inactive; exit 3;;\n\
             esac; fi\n\
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
        s.try_restart("snmp").await.expect("try-restart");
        s.reset_failed("snmp").await.expect("reset-failed");
        assert!(s.is_active("kubelet").await.expect("is-active"));
        assert!(!s.is_active("snmp").await.expect("is-active"));
        let recorded = std::fs::read_to_string(&calls).expect("calls");
        assert_eq!(
            recorded,
            "stop kubelet\nstart kubelet\nrestart snmp\ntry-restart snmp\nreset-failed snmp\n\
             is-active kubelet\nis-active snmp\n"
        );
    }

    #[tokio::test]
    async fn activity_is_what_is_active_prints_whatever_its_exit_status() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (script, _) = recording_systemctl(dir.path());
        let s = Systemctl::new(&script);
        for (unit, want) in [
            ("kubelet", UnitActivity::Active),
            ("booting", UnitActivity::Active),
            ("crashy", UnitActivity::Failed),
            ("snmp", UnitActivity::Inactive),
        ] {
            assert_eq!(s.activity(unit).await.expect("is-active"), want, "{unit}");
        }
    }

    #[tokio::test]
    async fn a_call_that_does_not_return_within_its_bound_is_a_timeout() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (script, _) = recording_systemctl(dir.path());
        let s = Systemctl::new(&script)
            .with_bounds(Duration::from_millis(300), Duration::from_millis(300));
        let e = s.stop("hang").await.expect_err("stop hangs");
        assert!(matches!(e, Error::Timeout { .. }), "{e}");
        assert!(e.to_string().contains("stop hang"), "{e}");
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
        assert!(
            matches!(e, Error::Program(ProgramError::Spawn { .. })),
            "{e}"
        );
    }
}
