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

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::UnixListener;
use tokio::sync::watch;
use tokio::time::Instant;

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

/// A parsed unit: `section.key` → its values in order.
#[derive(Debug, Clone, Default)]
struct UnitDef {
    keys: BTreeMap<String, Vec<String>>,
}

impl UnitDef {
    fn parse_into(&mut self, text: &str) {
        let mut section = String::new();
        let mut pending = String::new();
        for raw in text.lines() {
            let line = raw.trim();
            if let Some(cont) = line.strip_suffix('\\') {
                pending.push_str(cont);
                pending.push(' ');
                continue;
            }
            let full = format!("{pending}{line}");
            pending.clear();
            let line = full.trim();
            if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
                continue;
            }
            if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
                s.clone_into(&mut section);
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let key = format!("{section}.{}", k.trim());
            let v = v.trim();
            let list = self.keys.entry(key).or_default();
            if v.is_empty() {
                list.clear();
            } else {
                list.push(v.to_owned());
            }
        }
    }

    fn all(&self, key: &str) -> Vec<String> {
        self.keys.get(key).cloned().unwrap_or_default()
    }

    /// Space-separated lists (`Requires=a b`), every assignment.
    fn words(&self, key: &str) -> Vec<String> {
        self.all(key)
            .iter()
            .flat_map(|v| v.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
            .collect()
    }

    fn last(&self, key: &str) -> Option<String> {
        self.keys.get(key).and_then(|v| v.last().cloned())
    }

    fn secs(&self, key: &str, default: f64) -> f64 {
        self.last(key)
            .and_then(|v| parse_secs(&v))
            .unwrap_or(default)
    }
}

/// `30`, `30s`, `5min`, `100ms`, `infinity`.
fn parse_secs(v: &str) -> Option<f64> {
    let v = v.trim();
    if v == "infinity" {
        return Some(f64::MAX / 4.0);
    }
    for (suffix, f) in [("ms", 0.001), ("min", 60.0), ("s", 1.0), ("h", 3600.0)] {
        if let Some(n) = v.strip_suffix(suffix) {
            return n.trim().parse::<f64>().ok().map(|n| n * f);
        }
    }
    v.parse().ok()
}

/// Splits an Exec line into its flags (`-` ignore failure) and argv, with `"…"`/`'…'` quoting.
fn split_exec(line: &str) -> (bool, Vec<String>) {
    let mut s = line.trim();
    let mut ignore = false;
    while let Some(c) = s.chars().next() {
        if matches!(c, '-' | '@' | '+' | '!' | ':') {
            ignore |= c == '-';
            s = &s[1..];
        } else {
            break;
        }
    }
    let mut argv = Vec::new();
    let mut cur = String::new();
    let mut quote: Option<char> = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (None, c) if c.is_whitespace() => {
                if any || !cur.is_empty() {
                    argv.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (None, c) => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        argv.push(cur);
    }
    (ignore, argv)
}

/// `snmp` → `snmp.service`.
pub fn unit_name(n: &str) -> String {
    if n.contains('.') {
        n.to_owned()
    } else {
        format!("{n}.service")
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

impl Inner {
    fn unit(&self, name: &str) -> Arc<Unit> {
        let mut units = self.units.lock().expect("units lock");
        units
            .entry(name.to_owned())
            .or_insert_with(|| {
                Arc::new(Unit {
                    name: name.to_owned(),
                    def: Mutex::new(self.load(name)),
                    job: tokio::sync::Mutex::new(()),
                    st: Mutex::new(UnitState {
                        active: Active::Inactive,
                        main: None,
                        generation: 0,
                        stopping: false,
                        starts: VecDeque::new(),
                        exited: None,
                    }),
                })
            })
            .clone()
    }

    /// Reads `<unit>` and its drop-ins; `None` when there is no unit file.
    fn load(&self, name: &str) -> Option<UnitDef> {
        let dirs = [
            "etc/systemd/system",
            "lib/systemd/system",
            "usr/lib/systemd/system",
        ];
        // An instance `p@i.service` without a file of its own is its template `p@.service`;
        // the template's drop-ins apply first, then the instance's.
        let mut candidates = vec![name.to_owned()];
        if let Some((prefix, (_, suffix))) = name
            .split_once('@')
            .and_then(|(p, rest)| Some((p, rest.rsplit_once('.')?)))
        {
            candidates.push(format!("{prefix}@.{suffix}"));
        }
        let mut def = UnitDef::default();
        let mut found = false;
        for cand in &candidates {
            for d in dirs {
                let path = self.opts.root.join(d).join(cand);
                if let Ok(text) = std::fs::read_to_string(&path) {
                    def.parse_into(&expand_specifiers(&text, name));
                    found = true;
                    break;
                }
            }
            if found {
                break;
            }
        }
        if !found {
            let text = self.opts.default_unit.as_ref()?;
            def.parse_into(&expand_specifiers(text, name));
        }
        for cand in candidates.iter().rev() {
            for d in dirs {
                let mut confs: Vec<PathBuf> =
                    std::fs::read_dir(self.opts.root.join(d).join(format!("{cand}.d")))
                        .map(|rd| {
                            rd.filter_map(Result::ok)
                                .map(|e| e.path())
                                .filter(|p| p.extension().is_some_and(|e| e == "conf"))
                                .collect()
                        })
                        .unwrap_or_default();
                confs.sort();
                for c in confs {
                    if let Ok(text) = std::fs::read_to_string(&c) {
                        def.parse_into(&expand_specifiers(&text, name));
                    }
                }
            }
        }
        Some(def)
    }

    /// `lldp@1.service` → `lldp`; `snmp.service` → `snmp`.
    fn prefix(name: &str) -> String {
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        stem.split_once('@').map_or(stem, |(p, _)| p).to_owned()
    }

    fn instance(name: &str) -> String {
        name.split_once('@')
            .and_then(|(_, r)| r.rsplit_once('.'))
            .map(|(i, _)| i.to_owned())
            .unwrap_or_default()
    }

    fn always_there(&self, name: &str) -> bool {
        name.ends_with(".target") || self.opts.external.iter().any(|e| unit_name(e) == name)
    }

    fn set(&self, u: &Unit, a: Active) {
        if let Ok(mut s) = u.st.lock() {
            s.active = a;
        }
        self.changes.send_modify(|n| *n += 1);
    }

    fn scaled(&self, secs: f64) -> Duration {
        Duration::from_secs_f64((secs * self.opts.scale).clamp(0.0, 3600.0))
    }

    async fn call(self: Arc<Self>, args: Vec<String>) -> Reply {
        if let Ok(mut c) = self.calls.lock() {
            c.push(args.join(" "));
        }
        let args: Vec<String> = args.into_iter().filter(|a| !a.starts_with("--")).collect();
        let Some((verb, units)) = args.split_first() else {
            return Reply {
                code: 1,
                stderr: "systemctl: a verb is needed\n".to_owned(),
                ..Reply::default()
            };
        };
        let units: Vec<String> = units.iter().map(|u| unit_name(u)).collect();
        let mut reply = Reply::default();
        match verb.as_str() {
            "daemon-reload" => {
                let all: Vec<Arc<Unit>> = self
                    .units
                    .lock()
                    .map(|u| u.values().cloned().collect())
                    .unwrap_or_default();
                for u in all {
                    let d = self.load(&u.name);
                    if let Ok(mut def) = u.def.lock() {
                        *def = d;
                    }
                }
            }
            "is-active" | "is-failed" => {
                let failed = verb == "is-failed";
                let mut any = false;
                for n in &units {
                    let a = if self.always_there(n) {
                        Active::Active
                    } else {
                        let u = self.unit(n);
                        u.st.lock().map_or(Active::Inactive, |s| s.active)
                    };
                    reply.stdout.push_str(a.as_str());
                    reply.stdout.push('\n');
                    any |= if failed {
                        a == Active::Failed
                    } else {
                        a == Active::Active
                    };
                }
                reply.code = match (any, failed) {
                    (true, _) => 0,
                    (false, true) => 1,
                    (false, false) => 3,
                };
            }
            "reset-failed" => {
                for n in &units {
                    let u = self.unit(n);
                    if let Ok(mut s) = u.st.lock() {
                        if s.active == Active::Failed {
                            s.active = Active::Inactive;
                        }
                        s.starts.clear();
                    }
                }
                self.changes.send_modify(|n| *n += 1);
            }
            "start" | "stop" | "restart" | "try-restart" => {
                for n in units {
                    let r = match verb.as_str() {
                        "start" => self.clone().start(n.clone()).await,
                        "stop" => self.clone().stop(n.clone()).await,
                        "restart" => self.clone().restart(n.clone(), false).await,
                        _ => self.clone().restart(n.clone(), true).await,
                    };
                    if let Err(e) = r {
                        reply.code = e.0;
                        reply.stderr.push_str(&e.1);
                        reply.stderr.push('\n');
                    }
                }
            }
            other => {
                reply.code = 1;
                reply.stderr = format!("systemd simulator: unknown verb {other:?}\n");
            }
        }
        reply
    }

    fn start(self: Arc<Self>, name: String) -> BoxFut<'static, Result<(), (i32, String)>> {
        Box::pin(async move {
            if self.always_there(&name) {
                return Ok(());
            }
            if name.contains("@.") {
                return Err((
                    1,
                    format!(
                        "Failed to start {name}: Unit name {name} is a template without an instance."
                    ),
                ));
            }
            let u = self.unit(&name);
            let Some(def) = u.def.lock().ok().and_then(|d| d.clone()) else {
                return Err((5, format!("Failed to start {name}: Unit {name} not found.")));
            };
            for dep in def.words("Unit.Requires") {
                self.clone().start(unit_name(&dep)).await.map_err(|(c, e)| {
                    (
                        c,
                        format!("A dependency job for {name} failed. See \"journalctl -xe\" for details. ({e})"),
                    )
                })?;
            }
            let _job = u.job.lock().await;
            self.start_locked(&u, &def, false).await
        })
    }

    /// Starts the unit (its job lock held): start limit, ExecStartPre, ExecStart.
    fn start_locked<'a>(
        self: &'a Arc<Self>,
        u: &'a Arc<Unit>,
        def: &'a UnitDef,
        auto: bool,
    ) -> BoxFut<'a, Result<(), (i32, String)>> {
        Box::pin(async move {
            let name = &u.name;
            {
                let Ok(mut s) = u.st.lock() else {
                    return Err((1, "lock".to_owned()));
                };
                if s.active == Active::Active || (s.active == Active::Activating && !auto) {
                    return Ok(());
                }
                let interval = self.scaled(def.secs("Unit.StartLimitIntervalSec", 10.0));
                let burst = def
                    .last("Unit.StartLimitBurst")
                    .and_then(|b| b.parse::<usize>().ok())
                    .unwrap_or(5);
                let now = Instant::now();
                while s.starts.front().is_some_and(|t| now - *t > interval) {
                    s.starts.pop_front();
                }
                if burst > 0 && s.starts.len() >= burst {
                    s.active = Active::Failed;
                    drop(s);
                    self.changes.send_modify(|n| *n += 1);
                    return Err((
                        1,
                        format!("Job for {name} failed: Start request repeated too quickly."),
                    ));
                }
                s.starts.push_back(now);
                s.active = Active::Activating;
                s.stopping = false;
            }
            self.changes.send_modify(|n| *n += 1);
            let env = self.unit_env(def, None);
            for line in def.all("Service.ExecStartPre") {
                let (ignore, argv) = split_exec(&line);
                let code = self.run_to_end(&argv, &env).await;
                if code != 0 && !ignore {
                    self.set(u, Active::Failed);
                    return Err((
                        1,
                        format!(
                            "Job for {name} failed because the control process exited with error code ({}: status {code}).",
                            argv.join(" ")
                        ),
                    ));
                }
            }
            let main = def.last("Service.ExecStart");
            let Some(main) = main else {
                self.set(u, Active::Active);
                return Ok(());
            };
            let (_, argv) = split_exec(&main);
            let Some(mut child) = self.spawn(&argv, &env) else {
                self.set(u, Active::Failed);
                return Err((
                    1,
                    format!("Job for {name} failed: {} cannot run", argv.join(" ")),
                ));
            };
            let (tx, rx) = watch::channel(None);
            let generation = {
                let Ok(mut s) = u.st.lock() else {
                    return Err((1, "lock".to_owned()));
                };
                s.generation += 1;
                s.main = child.id();
                s.exited = Some(rx);
                s.active = Active::Active;
                s.generation
            };
            self.changes.send_modify(|n| *n += 1);
            let me = self.clone();
            let unit = u.clone();
            tokio::spawn(async move {
                let code = child
                    .wait()
                    .await
                    .ok()
                    .and_then(|s| s.code().or_else(|| s.signal().map(|sg| 128 + sg)))
                    .unwrap_or(1);
                let _ = tx.send(Some(code));
                let unexpected = unit
                    .st
                    .lock()
                    .map(|s| s.generation == generation && !s.stopping)
                    .unwrap_or(false);
                if unexpected {
                    me.main_exited(unit, generation, code).await;
                }
            });
            Ok(())
        })
    }

    /// The main process ended by itself: ExecStop, then Restart= decides.
    async fn main_exited(self: Arc<Self>, u: Arc<Unit>, generation: u64, code: i32) {
        let job = u.job.lock().await;
        let Some(def) = u.def.lock().ok().and_then(|d| d.clone()) else {
            return;
        };
        if u.st
            .lock()
            .map(|s| s.generation != generation)
            .unwrap_or(true)
        {
            return; // a stop or a power cut came first
        }
        if let Ok(mut s) = u.st.lock() {
            s.main = None;
            s.active = Active::Deactivating;
        }
        let env = self.unit_env(&def, None);
        for line in def.all("Service.ExecStop") {
            let (_, argv) = split_exec(&line);
            self.run_to_end(&argv, &env).await;
        }
        let restart = def.last("Service.Restart").unwrap_or_default();
        let again = restart == "always" || (restart == "on-failure" && code != 0);
        if !again {
            self.set(
                &u,
                if code == 0 {
                    Active::Inactive
                } else {
                    Active::Failed
                },
            );
            return;
        }
        self.set(&u, Active::Activating);
        let wait = self.scaled(def.secs("Service.RestartSec", 0.1));
        drop(job);
        tokio::time::sleep(wait).await;
        let _job = u.job.lock().await;
        let still =
            u.st.lock()
                .map(|s| s.generation == generation && s.active == Active::Activating)
                .unwrap_or(false);
        if still {
            let _ = self.start_locked(&u, &def, true).await;
        }
    }

    fn stop(self: Arc<Self>, name: String) -> BoxFut<'static, Result<(), (i32, String)>> {
        Box::pin(async move {
            if self.always_there(&name) {
                return Ok(());
            }
            // Units that require this one stop first.
            let dependents: Vec<String> = self
                .units
                .lock()
                .map(|units| {
                    units
                        .values()
                        .filter(|o| {
                            o.def.lock().ok().and_then(|d| d.clone()).is_some_and(|d| {
                                d.words("Unit.Requires")
                                    .iter()
                                    .chain(d.words("Unit.BindsTo").iter())
                                    .any(|r| unit_name(r) == name)
                            })
                        })
                        .map(|o| o.name.clone())
                        .collect()
                })
                .unwrap_or_default();
            for d in dependents {
                let active = self.unit(&d).st.lock().map(|s| s.active).ok();
                if matches!(active, Some(Active::Active | Active::Activating)) {
                    self.clone().stop(d).await?;
                }
            }
            let u = self.unit(&name);
            let _job = u.job.lock().await;
            self.stop_locked(&u).await;
            Ok(())
        })
    }

    async fn stop_locked(self: &Arc<Self>, u: &Arc<Unit>) {
        let (main, exited, was) = {
            let Ok(mut s) = u.st.lock() else { return };
            let was = s.active;
            s.stopping = true;
            s.generation += 1; // a pending auto-restart is cancelled
            (s.main.take(), s.exited.take(), was)
        };
        if matches!(was, Active::Inactive | Active::Failed) {
            return;
        }
        if was == Active::Activating && main.is_none() {
            self.set(u, Active::Inactive);
            return;
        }
        self.set(u, Active::Deactivating);
        let def = u
            .def
            .lock()
            .ok()
            .and_then(|d| d.clone())
            .unwrap_or_default();
        let env = self.unit_env(&def, main);
        for line in def.all("Service.ExecStop") {
            let (_, argv) = split_exec(&line);
            self.run_to_end(&argv, &env).await;
        }
        if let (Some(pid), Some(mut rx)) = (main, exited) {
            let timeout = self.scaled(def.secs("Service.TimeoutStopSec", 90.0));
            if rx.borrow().is_none() {
                signal_group(pid, rustix::process::Signal::TERM);
                let done = tokio::time::timeout(timeout, rx.wait_for(Option::is_some))
                    .await
                    .is_ok();
                if !done {
                    signal_group(pid, rustix::process::Signal::KILL);
                    let _ = rx.wait_for(Option::is_some).await;
                }
            }
        }
        self.set(u, Active::Inactive);
    }

    async fn restart(
        self: Arc<Self>,
        name: String,
        only_active: bool,
    ) -> Result<(), (i32, String)> {
        let u = self.unit(&name);
        if only_active {
            let a = u.st.lock().map(|s| s.active).unwrap_or(Active::Inactive);
            if !matches!(a, Active::Active | Active::Activating) {
                return Ok(());
            }
        }
        let Some(def) = u.def.lock().ok().and_then(|d| d.clone()) else {
            return Err((
                5,
                format!("Failed to restart {name}: Unit {name} not found."),
            ));
        };
        for dep in def.words("Unit.Requires") {
            self.clone().start(unit_name(&dep)).await?;
        }
        let _job = u.job.lock().await;
        self.stop_locked(&u).await;
        self.start_locked(&u, &def, false).await
    }

    fn unit_env(&self, def: &UnitDef, main: Option<u32>) -> Vec<(String, String)> {
        let mut env = self.opts.env.clone();
        for e in def.all("Service.Environment") {
            let (_, words) = split_exec(&e);
            for w in words {
                if let Some((k, v)) = w.split_once('=') {
                    env.push((k.to_owned(), v.to_owned()));
                }
            }
        }
        if let Some(pid) = main {
            env.push(("MAINPID".to_owned(), pid.to_string()));
        }
        env
    }

    fn spawn(&self, argv: &[String], env: &[(String, String)]) -> Option<tokio::process::Child> {
        let (first, rest) = argv.split_first()?;
        let mut cmd = if let Some(m) = self.opts.programs.iter().find(|m| m.unit_path == *first) {
            let mut c = tokio::process::Command::new(&m.program);
            c.args(&m.args);
            c
        } else {
            let below = self.opts.root.join(first.trim_start_matches('/'));
            tokio::process::Command::new(if below.is_file() {
                below
            } else {
                PathBuf::from(first)
            })
        };
        cmd.args(rest)
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .stdin(Stdio::null())
            .process_group(0)
            .kill_on_drop(false);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.journal)
            .ok()?;
        cmd.stdout(log.try_clone().ok()?).stderr(log);
        cmd.spawn().ok()
    }

    async fn run_to_end(&self, argv: &[String], env: &[(String, String)]) -> i32 {
        match self.spawn(argv, env) {
            Some(mut c) => c.wait().await.ok().and_then(|s| s.code()).unwrap_or(1),
            None => 203,
        }
    }
}

/// The unit file `text` of the unit `name` with systemd's specifiers resolved, in one pass:
/// `%i` the instance (as written in the name), `%I` the instance unescaped (`\xNN` a byte,
/// `-` a `/`), `%p` the prefix (`lldp` of `lldp@1.service`), `%n` the full name, `%N` the name
/// without its suffix, `%%` a `%`; any other `%x` stays as it is.
fn expand_specifiers(text: &str, name: &str) -> String {
    let instance = Inner::instance(name);
    let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('i') => out.push_str(&instance),
            Some('I') => out.push_str(&unescape(&instance)),
            Some('p') => out.push_str(&Inner::prefix(name)),
            Some('n') => out.push_str(name),
            Some('N') => out.push_str(stem),
            Some('%') => out.push('%'),
            Some(other) => {
                out.push('%');
                out.push(other);
            }
            None => out.push('%'),
        }
    }
    out
}

/// `systemd-escape --unescape`: `-` is `/`, `\xNN` the byte NN.
fn unescape(s: &str) -> String {
    let mut bytes = Vec::with_capacity(s.len());
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'-' {
            bytes.push(b'/');
            i += 1;
        } else if b[i] == b'\\'
            && b.get(i + 1) == Some(&b'x')
            && let Some(v) = s
                .get(i + 2..i + 4)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            bytes.push(v);
            i += 4;
        } else {
            bytes.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

use std::os::unix::process::ExitStatusExt as _;

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
