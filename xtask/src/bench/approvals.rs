//! Many features approved at once (DESIGN.md §10: "64 features approved at once on one
//! switch: all KUBE_RUNNING within 2× the time of one approval").
//!
//! Each feature is `set_owner=kube` in CONFIG_DB, and its kube container (a `container state
//! <f> up kube --id <id>` process of the kube build, as a pod's start script runs it) has
//! asked: every row reads `transition_mode=kube_pending`. Then `hostcfgd-watcher` starts: its
//! start-up scan finds every pending row (as after a reboot or an upgrade of the daemon) and
//! approves them, at most `approval_parallelism` at once (the default, 8). Its `systemctl` is
//! a shell stand-in that plays the unit: `is-active` says `active`, `try-restart <f>` runs the
//! unit's stop and start (`container stop <f>`, then `container start <f>`, the real binary),
//! anything else succeeds. The time runs from the daemon's spawn until the last kube container
//! process has exited 0 (approved, recorded as owner); every row is then checked to read
//! `current_owner=kube` with the container's id. With no master configured, each approval's
//! label is queued (as on a switch whose master is away).

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use ctrmgr_core::codec;

use super::{Bins, DEADLINE, Met, Row, Section, Setup, daemon, output, quiet, stop_daemon};
use crate::cmd;

/// The section's title.
pub(super) const TITLE: &str = "Many features approved at once";
/// Features approved at once (DESIGN.md §10).
const MANY: usize = 64;
/// Runs of one approval (the median is the reference).
const ONE_RUNS: usize = 7;
/// Runs of the batch (the median is judged).
const MANY_RUNS: usize = 3;
/// The batch may take at most this many times one approval.
const RATIO_TARGET: f64 = 2.0;

/// Measures one approval and [`MANY`] at once, and judges the ratio.
pub(super) fn section(bins: &Bins, setup: &Setup) -> Section {
    let mut s = Section::new(TITLE);
    s.notes.push(format!(
        "{MANY} features, each `set_owner=kube`, each with its kube container (a `container \
         state <f> up kube --id <id>` process of the kube build) waiting for approval: every \
         STATE_DB row reads `kube_pending`. Then `hostcfgd-watcher` starts; its start-up scan \
         approves every pending row, at most `approval_parallelism` (8, the default) at once, \
         each approval being `systemctl is-active`, `reset-failed` and `try-restart` of the \
         feature's unit. The `systemctl` stand-in (`/bin/sh`) plays the unit: `try-restart <f>` \
         runs `container stop <f>` then `container start <f>` (the real binary: the Start from \
         KUBE_PENDING approves in place), other verbs succeed. Timed from the daemon's spawn to \
         the exit (0) of the last kube container process; then every row must read \
         `current_owner=kube` with its container's id. With no master configured, each \
         approval's node label is queued. The floor column is the median of {ONE_RUNS} runs of \
         one feature through the same path; ours is the median of {MANY_RUNS} runs of {MANY}. \
         Each approval costs six process starts (three stand-ins, two `container` runs, the \
         kube container's own wake-up), so on a small machine the batch is bounded by CPU: the \
         first column gives the CPU time all the processes of the median batch used from the \
         daemon's spawn on (the kube containers' whole lives included), and that \
         time divided by the cores, the least wall time this machine can take for it."
    ));
    let row = (|| -> Result<Row> {
        let stand_in = write_stand_in(bins, setup)?;
        let tunables = super::daemon_tunables(setup, &stand_in)?;
        let mut one = Vec::with_capacity(ONE_RUNS);
        for run in 0..ONE_RUNS {
            one.push(approve_batch(bins, setup, &tunables, 1, run)?);
        }
        let mut many = Vec::with_capacity(MANY_RUNS);
        for run in 0..MANY_RUNS {
            many.push(approve_batch(bins, setup, &tunables, MANY, run)?);
        }
        let one = median(&mut one.iter().map(|b| b.wall).collect::<Vec<_>>());
        many.sort_unstable_by_key(|b| b.wall);
        let batch = many[many.len() / 2];
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let ratio = batch.wall.as_secs_f64() / one.as_secs_f64().max(f64::EPSILON);
        Ok(Row {
            what: format!(
                "{MANY} features pending → all KUBE_RUNNING (CPU time of all processes: {}, \
                 i.e. {} of wall time on {cores} cores)",
                super::ms(batch.cpu),
                super::ms(batch.cpu / u32::try_from(cores).unwrap_or(1)),
            ),
            floor: format!("{} (one feature)", super::ms(one)),
            ours: super::ms(batch.wall),
            compared: format!("{ratio:.1}×"),
            target: format!("≤ {RATIO_TARGET:.0}× one approval"),
            met: Met::when(ratio <= RATIO_TARGET),
        })
    })();
    match row {
        Ok(row) => s.rows.push(row),
        Err(e) => {
            eprintln!("xtask: bench: approvals: not measured: {e:#}");
            s.failed = true;
            s.rows.push(Row {
                what: format!("{MANY} features pending → all KUBE_RUNNING"),
                floor: "—".to_owned(),
                ours: format!("not measured: {}", super::one_line(&format!("{e:#}"))),
                compared: "—".to_owned(),
                target: format!("≤ {RATIO_TARGET:.0}× one approval"),
                met: Met::NotJudged,
            });
        }
    }
    s
}

fn median(samples: &mut [Duration]) -> Duration {
    // Never empty: the runs are constants above zero.
    samples.sort_unstable();
    samples[samples.len() / 2]
}

/// `'s'` for `/bin/sh`.
fn sh_word(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

/// The `systemctl` stand-in that plays each feature's unit through the real `container`.
fn write_stand_in(bins: &Bins, setup: &Setup) -> Result<PathBuf> {
    let path = setup.work.join("systemctl-units");
    let container = format!(
        "{} --db-config {} --config {}",
        sh_word(&bins.kube.to_string_lossy()),
        sh_word(&setup.db_config.to_string_lossy()),
        // The tunables `daemon_tunables` writes next, naming this stand-in.
        sh_word(&setup.work.join("daemons.json").to_string_lossy()),
    );
    let script = format!(
        "#!/bin/sh\n\
         verb=$1\n\
         unit=${{2%.service}}\n\
         case $verb in\n\
         is-active) echo active ;;\n\
         try-restart|restart) {container} stop \"$unit\" >/dev/null 2>&1 && {container} start \"$unit\" >/dev/null 2>&1 ;;\n\
         *) : ;;\n\
         esac\n"
    );
    fs::write(&path, script).with_context(|| format!("cannot write {}", path.display()))?;
    cmd::run(Command::new("chmod").arg("755").arg(&path))?;
    Ok(path)
}

fn name(i: usize) -> String {
    format!("ctrmgr-bench-a{i}")
}

fn key(f: &str) -> String {
    codec::row_key(codec::FEATURE_TABLE, codec::DEFAULT_SEPARATOR, f)
}

/// A container id for feature `i` of run `run` (no such container exists: nothing in this
/// path asks the engine about a kube container's given id).
fn id(i: usize, run: usize) -> String {
    format!("{:032x}{:032x}", run + 1, i + 1)
}

/// `n` features pending, then hostcfgd-watcher started: the time until all are approved.
fn approve_batch(
    bins: &Bins,
    setup: &Setup,
    tunables: &Path,
    n: usize,
    run: usize,
) -> Result<Batch> {
    eprintln!("xtask: bench: approvals: {n} feature(s), run {}", run + 1);
    seed_rows(setup, n)?;
    // The kube containers ask; with no hostcfgd-watcher running, they wait.
    let mut asking: Vec<Child> = Vec::with_capacity(n);
    let started = start_asking(bins, setup, tunables, run, n, &mut asking);
    let result = started.and_then(|()| time_approvals(bins, setup, tunables, &mut asking));
    for child in &mut asking {
        let _ = child.kill();
        let _ = child.wait();
    }
    let (wall, cpu) = result?;
    check_and_clear_rows(setup, n, run)?;
    Ok(Batch { wall, cpu })
}

/// The CONFIG_DB rows of `n` features owned by kube without fallback, and no STATE_DB rows.
fn seed_rows(setup: &Setup, n: usize) -> Result<()> {
    for i in 0..n {
        let k = key(&name(i));
        setup.query(codec::DEFAULT_STATE_DB_ID, &["DEL", &k])?;
        setup.query(
            codec::DEFAULT_CONFIG_DB_ID,
            &[
                "HSET",
                &k,
                codec::SET_OWNER,
                codec::OWNER_KUBE,
                codec::FALLBACK_TO_LOCAL,
                codec::FALSE,
            ],
        )?;
    }
    Ok(())
}

/// `state <f> up kube` of each of the `n` features started (pushed onto `asking`), and
/// waited for until every row reads kube_pending.
fn start_asking(
    bins: &Bins,
    setup: &Setup,
    tunables: &Path,
    run: usize,
    n: usize,
    asking: &mut Vec<Child>,
) -> Result<()> {
    for i in 0..n {
        let f = name(i);
        let mut c = quiet(&bins.kube);
        c.arg("--db-config")
            .arg(&setup.db_config)
            .arg("--config")
            .arg(tunables)
            .args(["state", &f, "up", "kube", "--id", &id(i, run)])
            .stderr(Stdio::null());
        asking.push(
            c.spawn()
                .with_context(|| format!("cannot start `{}`", cmd::display(&c)))?,
        );
    }
    let deadline = Instant::now() + DEADLINE;
    for i in 0..n {
        let k = key(&name(i));
        loop {
            let mode = setup.query(
                codec::DEFAULT_STATE_DB_ID,
                &["HGET", &k, codec::TRANSITION_MODE],
            )?;
            if mode == codec::MODE_KUBE_PENDING {
                break;
            }
            if Instant::now() > deadline {
                bail!("{k} did not read kube_pending within {DEADLINE:?} (reads {mode:?})");
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    Ok(())
}

/// hostcfgd-watcher started, and the asking containers waited for: the wall time until the
/// last is approved, and the CPU time of the batch's processes.
fn time_approvals(
    bins: &Bins,
    setup: &Setup,
    tunables: &Path,
    asking: &mut [Child],
) -> Result<(Duration, Duration)> {
    // From here on, only the batch's processes are waited for (and so counted).
    let cpu_before = children_cpu()?;
    let t0 = Instant::now();
    let daemon = daemon(setup, &bins.hostcfgd, tunables, &[])?;
    let waited = (|| -> Result<Duration> {
        for (i, child) in asking.iter_mut().enumerate() {
            match cmd::wait_within(child, DEADLINE) {
                Some(status) if status.success() => {}
                Some(status) => bail!("the kube container of {} exited {status}", name(i)),
                None => bail!("{} was not approved within {DEADLINE:?}", name(i)),
            }
        }
        Ok(t0.elapsed())
    })();
    let stopped = stop_daemon(daemon, "hostcfgd-watcher");
    let took = waited?;
    stopped?;
    Ok((took, children_cpu()?.saturating_sub(cpu_before)))
}

/// Each feature's STATE_DB row is checked (kube, with the given id) and its rows deleted.
fn check_and_clear_rows(setup: &Setup, n: usize, run: usize) -> Result<()> {
    let state = codec::DEFAULT_STATE_DB_ID;
    for i in 0..n {
        let k = key(&name(i));
        let mut c = setup.cli(state);
        c.args(["HMGET", &k, codec::CURRENT_OWNER, codec::DOCKER_ID])
            .stdout(Stdio::piped());
        let got = output(&mut c)?;
        let want = format!("{}\n{}", codec::OWNER_KUBE, id(i, run));
        ensure!(
            got == want,
            "{k} reads {got:?} after approval, not {want:?}"
        );
        setup.query(state, &["DEL", &k])?;
        setup.query(codec::DEFAULT_CONFIG_DB_ID, &["DEL", &k])?;
    }
    Ok(())
}

/// One batch: its wall time, and the CPU time of every process that took part.
#[derive(Debug, Clone, Copy)]
struct Batch {
    wall: Duration,
    cpu: Duration,
}

/// User and system CPU time of this process's waited-for descendants (`/proc/self/stat`
/// fields cutime and cstime): the daemon, the stand-ins, every `container` run, transitively,
/// since each parent waits for its children.
fn children_cpu() -> Result<Duration> {
    let stat = fs::read_to_string("/proc/self/stat").context("cannot read /proc/self/stat")?;
    // Fields after the command name (which may hold spaces) start at field 3 (state).
    let rest = stat
        .rsplit_once(") ")
        .map(|(_, rest)| rest)
        .context("/proc/self/stat has no command name")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // cutime and cstime are fields 16 and 17 (1-based) of the whole line: 14 and 15 here.
    let ticks = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .with_context(|| format!("/proc/self/stat field {} is not a number", i + 3))
    };
    let total = ticks(13)? + ticks(14)?;
    let hz = clock_ticks()?;
    Ok(Duration::from_secs_f64(total as f64 / hz as f64))
}

/// `getconf CLK_TCK`.
fn clock_ticks() -> Result<u64> {
    let mut c = Command::new("getconf");
    c.arg("CLK_TCK").stdout(Stdio::piped());
    let out = output(&mut c)?;
    out.trim()
        .parse()
        .with_context(|| format!("getconf CLK_TCK printed {out:?}"))
}
