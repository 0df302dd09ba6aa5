//! What the reliability checks of issue 15 (points 2, 3 and 4) share: the number of seeds
//! (`CTRMGR_RELIABILITY_CASES`), a seeded random source, the world's processes as `/proc`
//! shows them (to kill -9 one and to read their CPU time), and the `RELIABILITY …` line that
//! `cargo xtask reliability` collects into RELIABILITY.md.

use std::collections::BTreeMap;
use std::time::Duration;

use ctrmgr_core::ports::StateStore as _;
use ctrmgr_core::{CurrentOwner, Owner, TransitionMode};
use ctrmgr_tests::world::{DAEMONS, DEADLINE, World};

/// How many seeds (scenarios, rounds) a check runs: `CTRMGR_RELIABILITY_CASES`, else
/// `default` (CI's bounded part). `cargo xtask reliability` sets a larger number.
pub fn cases(default: u64) -> u64 {
    std::env::var("CTRMGR_RELIABILITY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// splitmix64: a small, seeded, reproducible random source (the seed is printed with every
/// failure).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// The source of `seed`.
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5eed_c0de_dead_beef)
    }

    /// The next 64 random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n` > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    /// A coin.
    pub fn coin(&mut self) -> bool {
        self.below(2) == 0
    }

    /// One of `items`.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        let i = usize::try_from(self.below(items.len() as u64)).unwrap_or(0);
        &items[i]
    }
}

/// A process of one world, as `/proc` shows it.
#[derive(Debug, Clone)]
pub struct Proc {
    /// Its id.
    pub pid: i32,
    /// The program's file name (`container`, `kube-labeler`, …).
    pub program: String,
    /// What it does: the program and its first non-option argument (`container start`).
    pub what: String,
}

/// The binaries of the project a world runs.
const PROGRAMS: [&str; 4] = [
    "container",
    "hostcfgd-watcher",
    "kube-monit",
    "kube-labeler",
];

/// Every running process of the project's binaries that belongs to the world whose tunables
/// file is `marker` (it is on the command line or in `CTRMGR_CONFIG` of every one of them,
/// in a unit, in a pod or run by the test).
pub fn world_processes(marker: &str) -> Vec<Proc> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in dir.filter_map(Result::ok) {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(cmdline) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let argv: Vec<String> = cmdline
            .split(|b| *b == 0)
            .filter(|a| !a.is_empty())
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let Some(program) = argv
            .first()
            .and_then(|a| a.rsplit('/').next())
            .map(str::to_owned)
        else {
            continue;
        };
        if !PROGRAMS.contains(&program.as_str()) {
            continue;
        }
        let mine = argv.iter().any(|a| a == marker)
            || std::fs::read(e.path().join("environ")).is_ok_and(|env| {
                env.split(|b| *b == 0)
                    .any(|v| v == format!("CTRMGR_CONFIG={marker}").as_bytes())
            });
        if !mine {
            continue;
        }
        let mut skip = false;
        let verb = argv.iter().skip(1).find(|a| {
            if skip {
                skip = false;
                return false;
            }
            if matches!(a.as_str(), "--config" | "--db-config" | "--kubeconfig") {
                skip = true;
                return false;
            }
            !a.starts_with('-')
        });
        let what = match verb {
            Some(v) if program != "hostcfgd-watcher" => format!("{program} {v}"),
            _ => program.clone(),
        };
        out.push(Proc { pid, program, what });
    }
    out.sort_by_key(|p| p.pid);
    out
}

/// SIGKILL to one process.
pub fn kill9(pid: i32) {
    if let Some(p) = rustix::process::Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
    }
}

/// CPU time (user + system) a process has used so far, in clock ticks (1/100 s).
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command's closing parenthesis: state is the first, utime the 12th.
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The daemons' main processes and their CPU time so far.
pub fn daemon_cpu(w: &World) -> BTreeMap<&'static str, (u32, u64)> {
    DAEMONS
        .iter()
        .filter_map(|d| {
            let pid = w.systemd.main_pid(d)?;
            Some((*d, (pid, cpu_ticks(pid)?)))
        })
        .collect()
}

/// Asserts that no daemon whose main process lived through the period since `before` used
/// more than a fifth of it in CPU time (a busy loop uses all of it), and returns the largest
/// share seen, in percent.
pub fn assert_no_busy_loop(
    w: &World,
    before: &BTreeMap<&'static str, (u32, u64)>,
    elapsed: Duration,
) -> u64 {
    let after = daemon_cpu(w);
    let wall_ticks = (elapsed.as_secs_f64() * 100.0).max(1.0);
    let mut worst = 0;
    for (d, (pid, t0)) in before {
        let Some((pid1, t1)) = after.get(d) else {
            continue;
        };
        if pid1 != pid {
            continue;
        }
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let share = ((t1.saturating_sub(*t0)) as f64 * 100.0 / wall_ticks) as u64;
        worst = worst.max(share);
        assert!(
            share <= 20,
            "{d} (pid {pid}) used {share}% of a CPU for {elapsed:?}: a busy loop"
        );
    }
    worst
}

/// What the feature should end as: its unit started or stopped, with this configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Desired {
    /// The unit is started.
    pub started: bool,
    /// CONFIG_DB set_owner.
    pub owner: Owner,
    /// CONFIG_DB fallback.
    pub fallback: bool,
}

/// Waits (bounded) until the feature is in the state `d` asks for — STATE_DB, Docker, the
/// node's label and the pending list all agree, and stay so for two samples in a row — and
/// returns `Err` with the evidence when it never gets there.
pub async fn await_desired(w: &World, d: Desired) -> Result<(), String> {
    let label = format!("{}_enabled", w.f());
    let deadline = tokio::time::Instant::now() + DEADLINE;
    let mut good_in_a_row = 0;
    loop {
        let r = w.record().await;
        let local = w.local_running().await;
        let kube = w.kube_running().await;
        let labels = w.labels();
        let pending = w.fixture.db.pending_labels().await.unwrap_or_default();
        let want_kube = d.started && d.owner == Owner::Kube;
        let ok = pending.is_empty()
            && labels.get(&label).map(String::as_str) == want_kube.then_some("true")
            && if !d.started {
                r.current_owner == CurrentOwner::None
                    && r.docker_id.is_none()
                    && !local
                    && kube.is_empty()
            } else if d.owner == Owner::Local {
                r.current_owner == CurrentOwner::Local
                    && r.transition_mode == TransitionMode::None
                    && local
                    && kube.is_empty()
                    && r.docker_id
                        .as_ref()
                        .is_some_and(|id| w.local.id().as_str().starts_with(id.as_str()))
            } else {
                r.current_owner == CurrentOwner::Kube
                    && r.transition_mode == TransitionMode::KubeRunning
                    && !local
                    && kube.len() == 1
                    && r.docker_id
                        .as_ref()
                        .is_some_and(|id| kube[0].id.starts_with(id.as_str()))
            };
        good_in_a_row = if ok { good_in_a_row + 1 } else { 0 };
        if good_in_a_row >= 2 {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(format!(
                "never reached {d:?}: record {r:?}, local running {local}, kube running {kube:?}, labels {labels:?}, pending {pending:?}, unit {}, daemons {:?}",
                w.systemd.state(w.f()).as_str(),
                DAEMONS
                    .iter()
                    .map(|u| (u, w.systemd.state(u).as_str()))
                    .collect::<Vec<_>>()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// The unit is where `d` wants it, starting it again or stopping it again as systemd (or the
/// operator, for a stop cut short) would.
pub async fn recover_unit(w: &World, d: Desired, stop_cut_short: bool) {
    let f = w.f();
    if d.started {
        // Active three times in a row (a main process just killed still reads active until
        // the simulator has seen its exit, then restarts it after RestartSec).
        let mut active = 0;
        for _ in 0..50 {
            match w.systemd.state(f).as_str() {
                "active" => active += 1,
                "activating" | "deactivating" => active = 0,
                _ => {
                    active = 0;
                    let _ = w.systemd.ctl(&["reset-failed", f]).await;
                    let _ = w.systemd.ctl(&["start", f]).await;
                }
            }
            if active >= 3 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    } else if stop_cut_short {
        let _ = w.systemd.ctl(&["reset-failed", f]).await;
        let _ = w.systemd.ctl(&["start", f]).await;
        let _ = w.systemd.ctl(&["stop", f]).await;
    } else if w.systemd.state(f).as_str() != "inactive" {
        let _ = w.systemd.ctl(&["stop", f]).await;
    }
}

/// Prints the `RELIABILITY` line of a check.
pub fn report(name: &str, counts: &[(&str, u64)], extra: &str) {
    let mut line = format!("RELIABILITY {name}");
    for (k, v) in counts {
        line.push_str(&format!(" {k}={v}"));
    }
    if !extra.is_empty() {
        line.push(' ');
        line.push_str(extra);
    }
    println!("{line}");
}
