//! What the simulated systemd does: load units, run start and stop jobs with their
//! dependencies, watch main processes, restart them.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use std::os::unix::process::ExitStatusExt as _;

use super::*;

impl Inner {
    pub(super) fn unit(&self, name: &str) -> Arc<Unit> {
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
    pub(super) fn load(&self, name: &str) -> Option<UnitDef> {
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
    pub(super) fn prefix(name: &str) -> String {
        let stem = name.rsplit_once('.').map_or(name, |(s, _)| s);
        stem.split_once('@').map_or(stem, |(p, _)| p).to_owned()
    }

    pub(super) fn instance(name: &str) -> String {
        name.split_once('@')
            .and_then(|(_, r)| r.rsplit_once('.'))
            .map(|(i, _)| i.to_owned())
            .unwrap_or_default()
    }

    pub(super) fn always_there(&self, name: &str) -> bool {
        name.ends_with(".target") || self.opts.external.iter().any(|e| unit_name(e) == name)
    }

    pub(super) fn set(&self, u: &Unit, a: Active) {
        if let Ok(mut s) = u.st.lock() {
            s.active = a;
        }
        self.changes.send_modify(|n| *n += 1);
    }

    pub(super) fn scaled(&self, secs: f64) -> Duration {
        Duration::from_secs_f64((secs * self.opts.scale).clamp(0.0, 3600.0))
    }

    /// One `systemctl` command line: its verb run on its units.
    pub(super) async fn call(self: Arc<Self>, args: Vec<String>) -> Reply {
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
            "daemon-reload" => self.reload(),
            "is-active" | "is-failed" => self.is_active(&units, verb == "is-failed", &mut reply),
            "reset-failed" => self.reset_failed(&units),
            "start" | "stop" | "restart" | "try-restart" => {
                self.run_jobs(verb, units, &mut reply).await;
            }
            other => {
                reply.code = 1;
                reply.stderr = format!("systemd simulator: unknown verb {other:?}\n");
            }
        }
        reply
    }

    /// `daemon-reload`: every unit loaded is read again.
    fn reload(&self) {
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

    /// `is-active` (or `is-failed` when `failed`): each unit's state, exit 0 when any is.
    fn is_active(&self, units: &[String], failed: bool, reply: &mut Reply) {
        let mut any = false;
        for n in units {
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

    /// `reset-failed`: a failed unit becomes inactive, and its start limit is cleared.
    fn reset_failed(&self, units: &[String]) {
        for n in units {
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

    /// `start`, `stop`, `restart` or `try-restart` of each unit in turn.
    async fn run_jobs(self: &Arc<Self>, verb: &str, units: Vec<String>, reply: &mut Reply) {
        for n in units {
            let r = match verb {
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

    pub(super) fn start(
        self: Arc<Self>,
        name: String,
    ) -> BoxFut<'static, Result<(), (i32, String)>> {
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
    pub(super) fn start_locked<'a>(
        self: &'a Arc<Self>,
        u: &'a Arc<Unit>,
        def: &'a UnitDef,
        auto: bool,
    ) -> BoxFut<'a, Result<(), (i32, String)>> {
        Box::pin(async move {
            let name = &u.name;
            if !self.admit_start(u, def, auto)? {
                return Ok(());
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
            let Some(child) = self.spawn(&argv, &env) else {
                self.set(u, Active::Failed);
                return Err((
                    1,
                    format!("Job for {name} failed: {} cannot run", argv.join(" ")),
                ));
            };
            self.watch_main(u, child)
        })
    }

    /// The start limit (StartLimitIntervalSec=, StartLimitBurst=): `Ok(false)` when the unit
    /// is active already (or activating, unless this is `Restart=`'s own start), an error when
    /// the limit is hit (the unit fails); else the start is counted and the unit activating.
    fn admit_start(&self, u: &Unit, def: &UnitDef, auto: bool) -> Result<bool, (i32, String)> {
        let name = &u.name;
        let Ok(mut s) = u.st.lock() else {
            return Err((1, "lock".to_owned()));
        };
        if s.active == Active::Active || (s.active == Active::Activating && !auto) {
            return Ok(false);
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
        Ok(true)
    }

    /// The unit is active with `child` as its main process; when it ends by itself (not
    /// stopped, not replaced), [`Inner::main_exited`] runs.
    fn watch_main(
        self: &Arc<Self>,
        u: &Arc<Unit>,
        mut child: tokio::process::Child,
    ) -> Result<(), (i32, String)> {
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
    }

    /// The main process ended by itself: ExecStop, then Restart= decides.
    pub(super) async fn main_exited(self: Arc<Self>, u: Arc<Unit>, generation: u64, code: i32) {
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

    pub(super) fn stop(
        self: Arc<Self>,
        name: String,
    ) -> BoxFut<'static, Result<(), (i32, String)>> {
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

    pub(super) async fn stop_locked(self: &Arc<Self>, u: &Arc<Unit>) {
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

    pub(super) async fn restart(
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

    pub(super) fn unit_env(&self, def: &UnitDef, main: Option<u32>) -> Vec<(String, String)> {
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

    pub(super) fn spawn(
        &self,
        argv: &[String],
        env: &[(String, String)],
    ) -> Option<tokio::process::Child> {
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

    pub(super) async fn run_to_end(&self, argv: &[String], env: &[(String, String)]) -> i32 {
        match self.spawn(argv, env) {
            Some(mut c) => c.wait().await.ok().and_then(|s| s.code()).unwrap_or(1),
            None => 203,
        }
    }
}
