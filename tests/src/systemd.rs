//! The systemd simulator (issue 14 point 2): runs the unit files that `sonic-kube service
//! install` rendered into a temporary root, as systemd would, and answers the `systemctl`
//! calls of `container`, the daemons and `sonic-kube` (their configurable `systemctl`
//! program is the client binary `systemctl-sim`, reached through a symbolic link
//! `<dir>/systemctl` next to the supervisor's socket `<dir>/systemd.sock`).
//!
//! What it runs, per unit (`<root>/{etc,lib,usr/lib}/systemd/system/<unit>` and the drop-ins
//! `<unit>.d/*.conf`, later files winning, an empty assignment resetting a list; an instance
//! `<p>@<i>.service` without a file of its own is the template `<p>@.service`, with the
//! template's drop-ins and then the instance's; the specifiers `%i`, `%I`, `%p`, `%n`, `%N`
//! and `%%` are resolved for the unit in every line, dependencies included; a template
//! without an instance does not start):
//! - `start`: the units of `Requires=` first (`After=` ordering), then every
//!   `ExecStartPre=` (a failure fails the start, unless the line starts with `-`), then
//!   `ExecStart=` as the main process (`active` while it runs); `StartLimitBurst=` starts
//!   within `StartLimitIntervalSec=` at most, else `failed` ("Start request repeated too
//!   quickly").
//! - `stop`: the units that require it first, then `ExecStop=` (with `$MAINPID`), then
//!   SIGTERM to the main process's group, SIGKILL after `TimeoutStopSec=` (scaled).
//! - the main process ending by itself: `ExecStop=`, then `Restart=always` (or `on-failure`
//!   after a failure) starts it again after `RestartSec=` (scaled; `activating` meanwhile),
//!   otherwise `inactive` (exit 0) or `failed`.
//! - `restart`, `try-restart` (only when active), `is-active` (prints `active`, `inactive`,
//!   `failed`, `activating` or `deactivating`; exits 0 only when active, else 3),
//!   `is-failed`, `reset-failed`, `daemon-reload`. Jobs of one unit run one at a time.
//!
//! Directives it does not know (`User=`, `BindsTo=`, `WantedBy=` …) are accepted and
//! ignored; units it cannot find but names as always there ([`SimOptions::external`],
//! every `*.target`) count as active. Time is scaled by [`SimOptions::scale`], so a
//! `RestartSec=30` is 0.3 s at 0.01. What the units print goes to `<dir>/journal.log`.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio::time::Instant;

mod jobs;
mod unitfile;

pub use unitfile::unit_name;
use unitfile::*;

/// The socket's file name, next to the `systemctl` link.
pub const SOCKET: &str = "systemd.sock";

/// What a `systemctl` call sends: its arguments.
#[derive(Debug, Serialize, Deserialize)]
pub struct Request {
    /// argv\[1..\].
    pub args: Vec<String>,
}

/// What it answers.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Reply {
    /// The exit status.
    pub code: i32,
    /// Printed on stdout.
    pub stdout: String,
    /// Printed on stderr.
    pub stderr: String,
}

/// A program the units name, run as another one (`/usr/bin/hostcfgd-watcher` → the workspace's
/// binary with `--config …` inserted after argv\[0\]).
#[derive(Debug, Clone)]
pub struct ProgramMap {
    /// The path in the unit file.
    pub unit_path: String,
    /// What runs.
    pub program: PathBuf,
    /// Arguments inserted before the unit's own.
    pub args: Vec<String>,
}

/// How the simulator runs the units.
#[derive(Debug, Clone)]
pub struct SimOptions {
    /// The root the unit files were installed into; an `Exec` path found below it runs from
    /// there.
    pub root: PathBuf,
    /// Programs to run instead of the units' paths.
    pub programs: Vec<ProgramMap>,
    /// Environment of every unit process (`SONIC_DB_CONFIG`, `DOCKER_HOST`, …).
    pub env: Vec<(String, String)>,
    /// Factor on every unit's times (`RestartSec`, `StartLimitIntervalSec`,
    /// `TimeoutStopSec`).
    pub scale: f64,
    /// Units that are not simulated and count as active (`database.service`).
    pub external: Vec<String>,
    /// The text of every unit that has no file (`%p` in it is the unit's name without its
    /// suffix); `None`: such a unit is not found, as in systemd.
    pub default_unit: Option<String>,
}

/// A unit's state, as `is-active` prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Active {
    /// Running.
    Active,
    /// Stopped.
    Inactive,
    /// Failed.
    Failed,
    /// Starting, or waiting to restart.
    Activating,
    /// Stopping.
    Deactivating,
}

impl Active {
    /// The state `is-active` prints as `s` (`inactive` for anything else).
    pub fn parse(s: &str) -> Self {
        match s {
            "active" => Self::Active,
            "failed" => Self::Failed,
            "activating" => Self::Activating,
            "deactivating" => Self::Deactivating,
            _ => Self::Inactive,
        }
    }

    /// What `is-active` prints.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
            Self::Failed => "failed",
            Self::Activating => "activating",
            Self::Deactivating => "deactivating",
        }
    }
}

#[derive(Debug)]
struct UnitState {
    active: Active,
    /// The main process's id and the generation it belongs to.
    main: Option<u32>,
    generation: u64,
    stopping: bool,
    starts: VecDeque<Instant>,
    exited: Option<watch::Receiver<Option<i32>>>,
}

#[derive(Debug)]
struct Unit {
    name: String,
    def: Mutex<Option<UnitDef>>,
    job: tokio::sync::Mutex<()>,
    st: Mutex<UnitState>,
}

#[derive(Debug)]
struct Inner {
    opts: SimOptions,
    journal: PathBuf,
    units: Mutex<HashMap<String, Arc<Unit>>>,
    calls: Mutex<Vec<String>>,
    changes: watch::Sender<u64>,
}

/// The systemd simulator; see the [module documentation](self). Dropping it kills every unit
/// process it started.
#[derive(Debug)]
pub struct SystemdSim {
    inner: Arc<Inner>,
    link: PathBuf,
    server: tokio::task::JoinHandle<()>,
}

type BoxFut<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

impl SystemdSim {
    /// Listens on `<dir>/systemd.sock` and links `<dir>/systemctl` to the client binary
    /// `client` (`systemctl-sim`).
    ///
    /// # Panics
    /// When the socket or the link cannot be made.
    pub fn start(dir: &Path, client: &Path, opts: SimOptions) -> Self {
        let sock = dir.join(SOCKET);
        let _ = std::fs::remove_file(&sock);
        let listener = UnixListener::bind(&sock).expect("bind the systemd simulator's socket");
        let link = dir.join("systemctl");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(client, &link).expect("link systemctl to systemctl-sim");
        let (changes, _) = watch::channel(0);
        let inner = Arc::new(Inner {
            opts,
            journal: dir.join("journal.log"),
            units: Mutex::new(HashMap::new()),
            calls: Mutex::new(Vec::new()),
            changes,
        });
        let i = inner.clone();
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let i = i.clone();
                tokio::spawn(async move {
                    let (r, mut w) = stream.into_split();
                    let mut line = String::new();
                    if BufReader::new(r).read_line(&mut line).await.is_err() {
                        return;
                    }
                    let reply = match serde_json::from_str::<Request>(&line) {
                        Ok(req) => i.call(req.args).await,
                        Err(e) => Reply {
                            code: 1,
                            stderr: format!("systemd simulator: bad request: {e}\n"),
                            ..Reply::default()
                        },
                    };
                    let mut text = serde_json::to_string(&reply).unwrap_or_default();
                    text.push('\n');
                    let _ = w.write_all(text.as_bytes()).await;
                });
            }
        });
        Self {
            inner,
            link,
            server,
        }
    }

    /// The `systemctl` program to configure.
    pub fn path(&self) -> &Path {
        &self.link
    }

    /// Runs `systemctl <args>` in the test process.
    pub async fn ctl(&self, args: &[&str]) -> Reply {
        self.inner
            .clone()
            .call(args.iter().map(|s| (*s).to_owned()).collect())
            .await
    }

    /// Runs `systemctl <verb> <unit>` for every unit at once, as separate callers (separate
    /// processes) would; answers in the units' order.
    pub async fn ctl_concurrently(&self, verb: &str, units: &[String]) -> Vec<Reply> {
        let calls: Vec<_> = units
            .iter()
            .map(|u| {
                let inner = self.inner.clone();
                let args = vec![verb.to_owned(), u.clone()];
                tokio::spawn(async move { inner.call(args).await })
            })
            .collect();
        let mut out = Vec::with_capacity(calls.len());
        for c in calls {
            out.push(c.await.unwrap_or_else(|e| Reply {
                code: 1,
                stderr: format!("systemd simulator: the call panicked: {e}"),
                ..Reply::default()
            }));
        }
        out
    }

    /// Runs `systemctl <args>`, expecting exit 0.
    ///
    /// # Panics
    /// When it fails.
    pub async fn ok(&self, args: &[&str]) {
        let r = self.ctl(args).await;
        assert_eq!(r.code, 0, "systemctl {args:?}: {}{}", r.stdout, r.stderr);
    }

    /// A unit's state.
    pub fn state(&self, unit: &str) -> Active {
        let name = unit_name(unit);
        self.inner.units.lock().map_or(Active::Inactive, |u| {
            u.get(&name).map_or(Active::Inactive, |u| {
                u.st.lock().map_or(Active::Inactive, |s| s.active)
            })
        })
    }

    /// The process id of a unit's main process while it has one (what `systemctl show -p
    /// MainPID` answers), for tests that crash it.
    pub fn main_pid(&self, unit: &str) -> Option<u32> {
        let name = unit_name(unit);
        let units = self.inner.units.lock().ok()?;
        let u = units.get(&name)?;
        u.st.lock().ok()?.main
    }

    /// A function reading a unit's state, for tasks that outlive a borrow of the simulator.
    pub fn state_reader(&self) -> impl Fn(&str) -> Active + Send + 'static {
        let inner = self.inner.clone();
        move |unit| {
            let name = unit_name(unit);
            inner.units.lock().map_or(Active::Inactive, |u| {
                u.get(&name).map_or(Active::Inactive, |u| {
                    u.st.lock().map_or(Active::Inactive, |s| s.active)
                })
            })
        }
    }

    /// The calls so far, oldest first (`"try-restart snmp"`), from processes and the test.
    pub fn calls(&self) -> Vec<String> {
        self.inner
            .calls
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    /// Forgets the calls so far.
    pub fn clear_calls(&self) {
        if let Ok(mut c) = self.inner.calls.lock() {
            c.clear();
        }
    }

    /// Sets a unit's state as if systemd had got there, running nothing (a unit the test
    /// claims is running without a main process).
    pub fn force_state(&self, unit: &str, state: Active) {
        let u = self.inner.unit(&unit_name(unit));
        if let Ok(mut s) = u.st.lock() {
            s.active = state;
        }
        self.inner.changes.send_modify(|n| *n += 1);
    }

    /// Changes each time a unit changes state.
    pub fn changes(&self) -> watch::Receiver<u64> {
        self.inner.changes.subscribe()
    }

    /// What the units printed.
    pub fn journal(&self) -> String {
        std::fs::read_to_string(&self.inner.journal).unwrap_or_default()
    }

    /// Stops every unit (dependents first), as a shutdown does.
    pub async fn shutdown(&self) {
        let names: Vec<String> = self
            .inner
            .units
            .lock()
            .map(|u| u.keys().cloned().collect())
            .unwrap_or_default();
        for n in names {
            let _ = self.inner.clone().stop(n).await;
        }
    }

    /// Kills every unit's processes at once and forgets their state (a power cut).
    pub fn power_off(&self) {
        let units: Vec<Arc<Unit>> = self
            .inner
            .units
            .lock()
            .map(|u| u.values().cloned().collect())
            .unwrap_or_default();
        for u in units {
            if let Ok(mut s) = u.st.lock() {
                s.generation += 1;
                if let Some(pid) = s.main.take() {
                    signal_group(pid, rustix::process::Signal::KILL);
                }
                s.active = Active::Inactive;
                s.starts.clear();
            }
        }
        self.inner.changes.send_modify(|n| *n += 1);
    }
}

impl Drop for SystemdSim {
    fn drop(&mut self) {
        self.server.abort();
        self.power_off();
    }
}

fn signal_group(pid: u32, sig: rustix::process::Signal) {
    if let Some(p) = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
    {
        let _ = rustix::process::kill_process_group(p, sig);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_drop_ins_and_exec_lines() {
        let mut d = UnitDef::default();
        d.parse_into(
            "[Unit]\nRequires=a.service\nAfter=a.service\nBindsTo=sonic.target\n[Service]\nExecStartPre=/x start\nExecStart=-/bin/sh -c \"echo hi there\"\nRestart=always\nRestartSec=30\nUser=root\n",
        );
        d.parse_into("[Unit]\nRequires=b.service\n[Service]\nExecStartPre=\nExecStartPre=/y\n");
        assert_eq!(d.words("Unit.Requires"), ["a.service", "b.service"]);
        assert_eq!(d.all("Service.ExecStartPre"), ["/y"]);
        assert_eq!(d.secs("Service.RestartSec", 0.0), 30.0);
        let (ignore, argv) = split_exec(&d.last("Service.ExecStart").unwrap_or_default());
        assert!(ignore);
        assert_eq!(argv, ["/bin/sh", "-c", "echo hi there"]);
        assert_eq!(parse_secs("5min"), Some(300.0));
        assert_eq!(parse_secs("100ms"), Some(0.1));
        assert_eq!(unit_name("snmp"), "snmp.service");
        assert_eq!(Inner::instance("lldp@1.service"), "1");
        assert_eq!(
            expand_specifiers(
                "Requires=database@%i.service\nExecStart=/x %i %I %p %n %N 100%%i %z",
                "lldp@a\\x2db-c.service"
            ),
            "Requires=database@a\\x2db-c.service\nExecStart=/x a\\x2db-c a-b/c lldp lldp@a\\x2db-c.service lldp@a\\x2db-c 100%i %z"
        );
    }
}
