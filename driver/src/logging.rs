//! Logging for every binary (DESIGN.md §7): `tracing` to syslog with the binary's name as
//! identity, or to stderr with `--log-to-stderr` or when `/dev/log` is absent. The level comes
//! from `RUST_LOG` (default `info`, without kube-rs's own per-request error lines). Lines on
//! stderr carry ANSI colours only when stderr is a terminal and `NO_COLOR` is unset or empty
//! ([`stderr_ansi`]): a journal, a pipe or a file gets plain text.
//!
//! The syslog writer is a small RFC 3164 datagram sender on `/dev/log`: `<PRI>ident[pid]: msg`,
//! facility daemon, severity from the event's level. It leaves the timestamp to the local
//! syslog daemon (journald and rsyslog stamp messages on receipt), and sends each message with
//! `send_to`, so a restarted syslog daemon needs no reconnect.

use std::ffi::OsStr;
use std::io::{IsTerminal, Write};
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tracing::{Level, Metadata};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

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

/// [`init`] with the syslog socket given.
pub fn init_with(identity: &str, to_stderr: bool, socket: &Path) -> LogTarget {
    // kube-rs logs each failed request at ERROR by itself; our own lines carry the cause
    // already, so without RUST_LOG its lines are left out.
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,kube_client=off"));
    let syslog = if to_stderr {
        None
    } else {
        SyslogWriter::new(identity, socket)
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

#[derive(Debug)]
struct Sink {
    socket: UnixDatagram,
    path: PathBuf,
    /// `ident[pid]: `, prepared once.
    tag: String,
}

/// A [`MakeWriter`] that sends each event as one syslog datagram.
#[derive(Debug, Clone)]
pub struct SyslogWriter {
    sink: Arc<Sink>,
}

impl SyslogWriter {
    /// A writer to the syslog socket at `socket` with identity `identity`; `None` when the
    /// socket does not accept a datagram (no syslog daemon).
    pub fn new(identity: &str, socket: &Path) -> Option<Self> {
        let sock = UnixDatagram::unbound().ok()?;
        // Probe with a connect: it fails when nothing listens at the path.
        let probe = UnixDatagram::unbound().ok()?;
        probe.connect(socket).ok()?;
        Some(Self {
            sink: Arc::new(Sink {
                socket: sock,
                path: socket.to_path_buf(),
                tag: format!("{identity}[{}]: ", std::process::id()),
            }),
        })
    }
}

/// Syslog severity of a level (RFC 5424 numbers).
fn severity(level: &Level) -> u8 {
    match *level {
        Level::ERROR => 3,
        Level::WARN => 4,
        Level::INFO => 6,
        Level::DEBUG | Level::TRACE => 7,
    }
}

/// Facility `daemon`.
const FACILITY_DAEMON: u8 = 3;

/// One message being formatted; sent when dropped.
#[derive(Debug)]
pub struct SyslogLine {
    sink: Arc<Sink>,
    severity: u8,
    buf: Vec<u8>,
}

impl Write for SyslogLine {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        Ok(data.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for SyslogLine {
    fn drop(&mut self) {
        let msg = String::from_utf8_lossy(&self.buf);
        let msg = msg.trim_end();
        if msg.is_empty() {
            return;
        }
        let pri = FACILITY_DAEMON * 8 + self.severity;
        let datagram = format!("<{pri}>{}{msg}", self.sink.tag);
        if self
            .sink
            .socket
            .send_to(datagram.as_bytes(), &self.sink.path)
            .is_err()
        {
            // The syslog daemon is gone: the message must not be lost silently.
            let _ = writeln!(std::io::stderr(), "{}{msg}", self.sink.tag);
        }
    }
}

impl<'a> MakeWriter<'a> for SyslogWriter {
    type Writer = SyslogLine;

    fn make_writer(&'a self) -> SyslogLine {
        SyslogLine {
            sink: Arc::clone(&self.sink),
            severity: severity(&Level::INFO),
            buf: Vec::new(),
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> SyslogLine {
        SyslogLine {
            sink: Arc::clone(&self.sink),
            severity: severity(meta.level()),
            buf: Vec::new(),
        }
    }
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
    fn a_missing_syslog_socket_means_no_syslog_writer() {
        let dir = tempfile::tempdir().expect("temp dir");
        assert!(SyslogWriter::new("x", &dir.path().join("log")).is_none());
    }

    #[test]
    fn each_event_is_one_datagram_with_priority_identity_and_pid() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("log");
        let server = UnixDatagram::bind(&path).expect("bind fake /dev/log");
        let w = SyslogWriter::new("kube-labeler", &path).expect("socket listens");
        let subscriber = tracing_subscriber::fmt()
            .with_writer(w)
            .with_ansi(false)
            .without_time()
            .with_level(false)
            .with_target(false)
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(feature = "snmp", "label queued");
        });
        let mut buf = [0u8; 2048];
        let n = server.recv(&mut buf).expect("a datagram");
        let got = String::from_utf8_lossy(&buf[..n]).into_owned();
        let want_prefix = format!("<28>kube-labeler[{}]: ", std::process::id());
        assert!(got.starts_with(&want_prefix), "{got}");
        assert!(got.ends_with("label queued feature=\"snmp\""), "{got}");
    }
}
