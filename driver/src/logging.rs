//! Logging for every binary (DESIGN.md §7): `tracing` to syslog with the binary's name as
//! identity, or to stderr with `--log-to-stderr` or when no syslog daemon listens on
//! `/dev/log`. The level comes from `RUST_LOG` (default `info`, without kube-rs's own
//! per-request error lines). Lines on stderr carry ANSI colours only when stderr is a terminal
//! and `NO_COLOR` is unset or empty ([`stderr_ansi`]): a journal, a pipe or a file gets plain
//! text.
//!
//! Syslog goes through `syslog-tracing` (libc's `syslog()`), set up as SONiC's other Rust
//! tools set it up (sonic-buildimage `src/sonic-ctrmgrd-rs`): `LOG_PID`, facility `daemon`,
//! `ident[pid]: msg`, severity from the event's level (ERROR `err`, WARN `warning`, INFO
//! `notice`, DEBUG `info`, TRACE `debug`).

use std::ffi::{CString, OsStr};
use std::io::IsTerminal;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};

use syslog_tracing::{Facility, Options, Syslog};
use tracing_subscriber::EnvFilter;

/// The local syslog socket.
pub const SYSLOG_SOCKET: &str = "/dev/log";

/// Where log lines go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard error.
    Stderr,
    /// The syslog datagram socket at this path.
    Syslog(PathBuf),
}

/// Sets up the global `tracing` subscriber for binary `identity`. With `to_stderr`, or when
/// `/dev/log` cannot be used, lines go to stderr. Calling it twice keeps the first setup.
/// Returns where lines go.
pub fn init(identity: &str, to_stderr: bool) -> LogTarget {
    init_with(identity, to_stderr, Path::new(SYSLOG_SOCKET))
}

/// [`init`] with the syslog socket to probe given (libc's `syslog()` itself always sends to
/// `/dev/log`).
pub fn init_with(identity: &str, to_stderr: bool, socket: &Path) -> LogTarget {
    // kube-rs logs each failed request at ERROR by itself; our own lines carry the cause
    // already, so without RUST_LOG its lines are left out.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,kube_client=off"));
    let syslog = if to_stderr {
        None
    } else {
        syslog_writer(identity, socket)
    };
    match syslog {
        Some(w) => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(w)
                .with_ansi(false)
                .without_time()
                .with_level(false)
                .with_target(false)
                .try_init();
            LogTarget::Syslog(socket.to_path_buf())
        }
        None => {
            let no_color = std::env::var_os("NO_COLOR");
            let ansi = stderr_ansi(std::io::stderr().is_terminal(), no_color.as_deref());
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter)
                .with_writer(std::io::stderr)
                .with_ansi(ansi)
                .with_target(false)
                .try_init();
            LogTarget::Stderr
        }
    }
}

/// Whether lines on stderr get ANSI colour codes: only on a terminal, and not when `NO_COLOR`
/// (its value given as `no_color`) is set to a non-empty value (<https://no-color.org>).
pub fn stderr_ansi(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

/// The syslog writer for `identity`, when a syslog daemon listens at `socket`; `None` when
/// none does (or `identity` holds a NUL byte, or a writer was already made in this process).
pub fn syslog_writer(identity: &str, socket: &Path) -> Option<Syslog> {
    // Probe with a connect: it fails when nothing listens at the path.
    let probe = UnixDatagram::unbound().ok()?;
    probe.connect(socket).ok()?;
    let identity = CString::new(identity).ok()?;
    Syslog::new(identity, Options::LOG_PID, Facility::Daemon)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_go_only_to_a_terminal_and_never_against_no_color() {
        let set = Some(OsStr::new("1"));
        assert!(stderr_ansi(true, None), "a terminal");
        assert!(!stderr_ansi(false, None), "a pipe, a file or the journal");
        assert!(!stderr_ansi(true, set), "NO_COLOR=1");
        assert!(
            stderr_ansi(true, Some(OsStr::new(""))),
            "an empty NO_COLOR is unset"
        );
        assert!(!stderr_ansi(false, set));
    }

    #[test]
    fn syslog_is_used_only_when_a_daemon_listens_and_the_identity_is_a_c_string() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log");
        assert!(syslog_writer("x", &path).is_none(), "nothing listens");
        let _server = UnixDatagram::bind(&path).expect("bind fake /dev/log");
        assert!(
            syslog_writer("kube\0labeler", &path).is_none(),
            "a NUL in the identity"
        );
        let writer = syslog_writer("kube-labeler", &path);
        assert!(writer.is_some(), "a daemon listens");
        assert!(
            syslog_writer("kube-labeler", &path).is_none(),
            "libc has one syslog identity per process, taken until the writer is dropped"
        );
    }
}
