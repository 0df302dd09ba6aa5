//! `cargo xtask bench`: the performance targets of DESIGN.md §10, measured on this machine,
//! written to `BENCHMARKS.md` and printed.
//!
//! The machine is noisy (a couple of shared cores), so no time stands alone: every one is set
//! against a *floor* — the least any program doing the same work could take — measured in the
//! same run, interleaved with ours (alternating which goes first), after a few warm-up runs.
//! Times are wall clock from spawn to exit for processes; medians and p99 are over all runs.
//!
//! What runs, in order:
//! 1. **Sizes**: `container` built with `--profile dist` with and without its `kube` feature,
//!    and `kube-labeler`, each in a cargo invocation of its own (so that no other package's
//!    features leak into its dependencies).
//! 2. **Redis**: `container id` and `container state <f> up local` against a redis-server
//!    started here (unix socket, SONiC's `database_config.json`), against `redis-cli` making
//!    the same number of round trips. The round trips are counted, not assumed: one run of
//!    each command under `strace` counts its writes on the Redis socket.
//! 3. **Docker**: `container start|stop` of a busybox container (an image imported from the
//!    host's static busybox) against `curl` sending the very Engine API requests our command
//!    sent — again read from one run under `strace`.
//! 4. **`container wait`**: resident memory once it blocks, and its wake-ups while blocked;
//!    with the idle wake-ups of the `kube-labeler run` daemon.
//! 5. **Daemons**: hostcfgd-watcher's reaction to `transition_mode=kube_pending` (the HSET,
//!    on a connection of our own, to its first `systemctl` call, which a stand-in reports
//!    through a FIFO) over ≥ 1,000 transitions, and the idle wake-ups of hostcfgd-watcher and
//!    `kube-monit run`.
//! 6. **Drain**: `tests/examples/bench_drain.rs` (release build) drains 10,000 pending label
//!    operations through the real `LabelService`, Redis and kube-rs against the fake API server.
//! 7. **Handover downtime**: `tests/examples/bench_handover.rs` (release build) in the switch
//!    in a box: local → kube and kube → local, from one owner's exit to the other running.
//! 8. What cannot be measured yet, and why.
//!
//! A part that cannot run (no Docker Engine, a build failure) is reported as not measured
//! with the reason, the rest still runs, and the task fails at the end. A target that is
//! measured and missed is reported as missed; the task still succeeds.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::fs;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use ctrmgr_core::codec;

use crate::{cmd, prereq};

mod approvals;

/// The feature every benchmark acts on; its local container has this name.
const FEATURE: &str = "ctrmgr-bench";
/// The image of the benchmark's container.
const IMAGE: &str = "ctrmgr-bench/busybox:latest";
/// What the container runs: until SIGTERM, on which it exits 0 at once (so that a stop takes
/// the engine's time, not a grace period).
const CONTAINER_CMD: [&str; 3] = ["/bin/sh", "-c", "trap 'exit 0' TERM; sleep 1000000 & wait"];
/// The host's static busybox (Debian `busybox-static`), the whole root file system.
const BUSYBOX: &str = "/bin/busybox";
/// The Engine socket when `DOCKER_HOST` does not name one.
const DEFAULT_DOCKER_SOCKET: &str = "/var/run/docker.sock";
/// A container id recorded in STATE_DB by the Redis benchmarks (no such container exists;
/// those commands never ask the engine).
const RECORDED_ID: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// Discarded runs before each measurement (page cache, redis-server's first replies).
const WARMUP: usize = 5;
/// Runs of each Redis benchmark, unless its time budget ends them first.
const REDIS_RUNS: usize = 300;
/// Runs of each start/stop benchmark, unless its time budget ends them first.
const DOCKER_RUNS: usize = 100;
/// Fewest runs a budget may cut a benchmark to.
const MIN_RUNS: usize = 20;
/// Time budget of one Redis benchmark (ours and its floor together).
const REDIS_BUDGET: Duration = Duration::from_secs(30);
/// Time budget of one start/stop benchmark.
const DOCKER_BUDGET: Duration = Duration::from_secs(90);
/// `container wait` processes measured per build.
const WAIT_RUNS: usize = 3;
/// How long a blocked process is watched for wake-ups.
const IDLE_WINDOW: Duration = Duration::from_secs(5);
/// Iterations of the drain example per case.
const DRAIN_RUNS: usize = 50;
/// Bound on waiting for a process to block or exit; never reached when things work.
const DEADLINE: Duration = Duration::from_secs(30);
/// The size target of `container --no-default-features` (DESIGN.md §10).
const SIZE_TARGET_BYTES: u64 = 4 * 1024 * 1024;
/// The RSS target of a `container wait` process.
const RSS_TARGET_BYTES: u64 = 3 * 1024 * 1024;
/// `container id` / `state up local`: at most this many times redis-cli's time.
const REDIS_RATIO_TARGET: f64 = 1.5;
/// `container start|stop`: at most this much slower than the raw Engine API calls.
const DOCKER_DIFF_TARGET: Duration = Duration::from_millis(10);
/// hostcfgd-watcher's reaction (HSET of kube_pending → first systemctl call): p99 at most.
const REACTION_TARGET: Duration = Duration::from_millis(5);
/// Transitions measured for the reaction.
const REACTION_RUNS: usize = 1_000;
/// Draining 10,000 pending label operations: at most this long.
const DRAIN_TARGET: Duration = Duration::from_millis(100);

const SIZES_TITLE: &str = "Binary sizes";
const REDIS_TITLE: &str = "`container id` and `container state … up local` vs redis-cli";
const START_STOP_TITLE: &str = "`container start|stop` vs the raw Engine API calls";
const WAIT_TITLE: &str = "`container wait` resident memory";
const IDLE_TITLE: &str = "Idle wake-ups";
const DRAIN_TITLE: &str = "Pending-label drain";
const DAEMONS_TITLE: &str = "Daemons: hostcfgd-watcher's reaction, idle wake-ups";
const HANDOVER_TITLE: &str = "Handover downtime (end-to-end world)";
/// Handover cycles (local → kube → local) measured.
const HANDOVER_RUNS: usize = 10;
/// The handover downtime target (DESIGN.md §10).
const HANDOVER_TARGET: Duration = Duration::from_millis(100);

/// Runs every benchmark, writes `BENCHMARKS.md` in `root` and prints it. Fails (after writing)
/// when a part could not be measured.
pub fn run(root: &Path) -> Result<()> {
    let started = Instant::now();
    let work = WorkDir::create()?;
    let mut report = Report::new(machine(root));

    let bins = build(root, work.path());
    report.push(match &bins {
        Ok(bins) => sizes(bins),
        Err(e) => Section::failed(SIZES_TITLE, e),
    });
    let ready = bins
        .as_ref()
        .map_err(|_| anyhow::anyhow!("the dist binaries did not build (see Binary sizes)"))
        .and_then(|bins| Ok((bins, Setup::start(work.path())?)));
    match ready {
        Ok((bins, setup)) => {
            report.push(
                redis_section(bins, &setup).unwrap_or_else(|e| Section::failed(REDIS_TITLE, &e)),
            );
            for section in docker_sections(bins, &setup) {
                report.push(section);
            }
            report.push(daemons_section(bins, &setup));
            report.push(approvals::section(bins, &setup));
        }
        Err(e) => {
            for title in [
                REDIS_TITLE,
                START_STOP_TITLE,
                WAIT_TITLE,
                IDLE_TITLE,
                DAEMONS_TITLE,
                approvals::TITLE,
            ] {
                report.push(Section::failed(title, &e));
            }
        }
    }
    report.push(drain_section(root).unwrap_or_else(|e| Section::failed(DRAIN_TITLE, &e)));
    report.push(handover_section(root).unwrap_or_else(|e| Section::failed(HANDOVER_TITLE, &e)));
    let rest = not_measured(root);
    if !rest.rows.is_empty() {
        report.push(rest);
    }

    let text = report.render(started.elapsed());
    let path = root.join("BENCHMARKS.md");
    fs::write(&path, &text).with_context(|| format!("failed to write {}", path.display()))?;
    print!("{text}");
    eprintln!("xtask: bench: wrote {}", path.display());
    if report.failed() {
        bail!("some benchmarks could not run; see the report");
    }
    Ok(())
}

/// The sections `--only` can pick: they need the dist binaries and a redis-server, no Docker.
pub const ONLY: &[&str] = &["daemons", "approvals"];

/// Runs only the named sections (of [`ONLY`]) and prints them; BENCHMARKS.md is left alone.
/// For working on one measurement without the whole run.
pub fn run_only(root: &Path, names: &[&str]) -> Result<()> {
    for name in names {
        ensure!(
            ONLY.contains(name),
            "bench --only {name}: unknown section (known: {})",
            ONLY.join(", ")
        );
    }
    let started = Instant::now();
    let work = WorkDir::create()?;
    let bins = build(root, work.path())?;
    let setup = Setup::start(work.path())?;
    let mut report = Report::new(machine(root));
    for name in names {
        report.push(match *name {
            "daemons" => daemons_section(&bins, &setup),
            _ => approvals::section(&bins, &setup),
        });
    }
    print!("{}", report.render(started.elapsed()));
    if report.failed() {
        bail!("some benchmarks could not run; see the report");
    }
    Ok(())
}

// ---- the report ---------------------------------------------------------------------------

/// Whether a target was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Met {
    Yes,
    No,
    /// No target applies, or nothing was measured.
    NotJudged,
}

impl Met {
    fn when(ok: bool) -> Self {
        if ok { Met::Yes } else { Met::No }
    }

    fn as_str(self) -> &'static str {
        match self {
            Met::Yes => "yes",
            Met::No => "**no**",
            Met::NotJudged => "—",
        }
    }
}

/// One line of a section's table.
#[derive(Debug)]
struct Row {
    what: String,
    floor: String,
    ours: String,
    compared: String,
    target: String,
    met: Met,
}

/// One target (or group of targets) with its table.
#[derive(Debug)]
struct Section {
    title: String,
    /// Paragraphs before the table: what the floor is, how the figures were taken.
    notes: Vec<String>,
    rows: Vec<Row>,
    /// Whether something could not be measured because of an error.
    failed: bool,
}

impl Section {
    fn new(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            notes: Vec::new(),
            rows: Vec::new(),
            failed: false,
        }
    }

    /// A section whose measurement failed: one row saying why.
    fn failed(title: &str, e: &anyhow::Error) -> Self {
        eprintln!("xtask: bench: {title}: not measured: {e:#}");
        let mut s = Self::new(title);
        s.failed = true;
        s.rows.push(Row {
            what: "(all)".to_owned(),
            floor: "—".to_owned(),
            ours: format!("not measured: {}", one_line(&format!("{e:#}"))),
            compared: "—".to_owned(),
            target: "—".to_owned(),
            met: Met::NotJudged,
        });
        s
    }
}

/// The machine and the code measured.
#[derive(Debug)]
struct Machine {
    date: String,
    cpus: usize,
    cpu_model: String,
    kernel: String,
    rustc: String,
    commit: String,
}

/// Every section, rendered as Markdown.
#[derive(Debug)]
struct Report {
    machine: Machine,
    sections: Vec<Section>,
}

impl Report {
    fn new(machine: Machine) -> Self {
        Self {
            machine,
            sections: Vec::new(),
        }
    }

    fn push(&mut self, section: Section) {
        self.sections.push(section);
    }

    fn failed(&self) -> bool {
        self.sections.iter().any(|s| s.failed)
    }

    fn render(&self, took: Duration) -> String {
        let m = &self.machine;
        let mut out = String::new();
        let _ = writeln!(out, "# Benchmarks\n");
        let _ = writeln!(
            out,
            "Written by `cargo xtask bench` (DESIGN.md §10); do not edit by hand, run it again.\n"
        );
        let _ = writeln!(out, "- Date: {}", m.date);
        let _ = writeln!(
            out,
            "- Machine: {} CPU(s), {}; Linux {}",
            m.cpus, m.cpu_model, m.kernel
        );
        let _ = writeln!(out, "- Code: {}; {}", m.commit, m.rustc);
        let _ = writeln!(out, "- The whole run took {:.0} s.\n", took.as_secs_f64());
        let _ = writeln!(
            out,
            "The machine is noisy, so every time is set against a floor measured in the same run, \
             interleaved with ours (alternating which runs first) after {WARMUP} warm-up runs. \
             Times are wall clock from spawn to exit for processes. *met?* is judged on the \
             medians; p99 is shown beside them. Binaries are built with `--profile dist` \
             (release, opt-level \"s\", fat LTO, one codegen unit, panic=abort, stripped).\n"
        );
        for s in &self.sections {
            let _ = writeln!(out, "## {}\n", s.title);
            for n in &s.notes {
                let _ = writeln!(out, "{n}\n");
            }
            let _ = writeln!(
                out,
                "| what | floor | ours | ratio / difference | target | met? |"
            );
            let _ = writeln!(out, "|---|---|---|---|---|---|");
            for r in &s.rows {
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {} |",
                    cell(&r.what),
                    cell(&r.floor),
                    cell(&r.ours),
                    cell(&r.compared),
                    cell(&r.target),
                    r.met.as_str()
                );
            }
            out.push('\n');
        }
        let _ = writeln!(out, "## How to reproduce\n");
        let _ = writeln!(
            out,
            "Run `cargo xtask bench` in the workspace root. It needs `redis-server`, `redis-cli`, \
             `curl`, `tar` and `strace` on PATH, the Docker CLI, and a Docker Engine — as root it \
             starts one (`--bridge=none --iptables=false`) when none answers, like `cargo xtask \
             test`. It builds the dist binaries (several minutes the first time), starts its own \
             redis-server on a unix socket in a temp dir, imports `{IMAGE}` from `{BUSYBOX}`, \
             creates a container named `{FEATURE}` (removed at the end), runs \
             `cargo run --release -p ctrmgr-tests --example bench_drain`, and rewrites this file."
        );
        out
    }
}

/// A table cell: no line breaks, no unescaped `|`.
fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

/// The text on one line.
fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Date, CPUs, kernel, compiler, commit.
fn machine(root: &Path) -> Machine {
    let text = |cmd: &mut Command| {
        cmd.stderr(Stdio::null())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let date = text(Command::new("date").args(["-u", "+%Y-%m-%d %H:%M UTC"]))
        .unwrap_or_else(|| "unknown".to_owned());
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let cpu_model = fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, m)| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let kernel = fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|k| k.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned());
    let rustc = text(Command::new("rustc").arg("--version")).unwrap_or_default();
    let head = text(
        Command::new("git")
            .current_dir(root)
            .args(["rev-parse", "--short", "HEAD"]),
    );
    let dirty = text(
        Command::new("git")
            .current_dir(root)
            .args(["status", "--porcelain"]),
    )
    .is_some_and(|s| !s.is_empty());
    let commit = match head {
        Some(h) if dirty => format!("commit {h} with uncommitted changes"),
        Some(h) => format!("commit {h}"),
        None => "not a git checkout".to_owned(),
    };
    Machine {
        date,
        cpus,
        cpu_model,
        kernel,
        rustc,
        commit,
    }
}

// ---- statistics and formatting ------------------------------------------------------------

/// Median and p99 of some samples.
#[derive(Debug, Clone, Copy)]
struct Stats {
    runs: usize,
    median: Duration,
    p99: Duration,
}

impl Stats {
    /// Median (the mean of the middle two for an even count) and p99 (nearest rank).
    fn of(samples: &[Duration]) -> Result<Self> {
        ensure!(!samples.is_empty(), "no samples");
        let mut s = samples.to_vec();
        s.sort_unstable();
        let n = s.len();
        let median = if n % 2 == 1 {
            s[n / 2]
        } else {
            (s[n / 2 - 1] + s[n / 2]) / 2
        };
        // Nearest rank: the smallest sample with at least 99 % of the samples at or below it.
        let rank = (n * 99).div_ceil(100).max(1);
        Ok(Self {
            runs: n,
            median,
            p99: s[rank - 1],
        })
    }

    fn show(&self) -> String {
        format!("{} (p99 {})", ms(self.median), ms(self.p99))
    }
}

/// Milliseconds, with precision that suits the size.
fn ms(d: Duration) -> String {
    let v = d.as_secs_f64() * 1e3;
    if v < 10.0 {
        format!("{v:.2} ms")
    } else if v < 100.0 {
        format!("{v:.1} ms")
    } else {
        format!("{v:.0} ms")
    }
}

/// A signed difference in milliseconds.
fn signed_ms(ours: Duration, floor: Duration) -> String {
    if ours >= floor {
        format!("+{}", ms(ours - floor))
    } else {
        format!("−{}", ms(floor - ours))
    }
}

/// A signed difference given in seconds, shown in milliseconds.
fn signed_secs(secs: f64) -> String {
    let shown = ms(Duration::from_secs_f64(secs.abs()));
    if secs >= 0.0 {
        format!("+{shown}")
    } else {
        format!("−{shown}")
    }
}

/// The median of `ours[i] − floor[i]` in seconds: each pair ran back to back, so the
/// difference cancels whatever the engine's speed did between pairs.
fn paired_difference(ours: &[Duration], floor: &[Duration]) -> Result<f64> {
    ensure!(
        !ours.is_empty() && ours.len() == floor.len(),
        "unpaired samples ({} and {})",
        ours.len(),
        floor.len()
    );
    let mut d: Vec<f64> = ours
        .iter()
        .zip(floor)
        .map(|(o, f)| o.as_secs_f64() - f.as_secs_f64())
        .collect();
    d.sort_unstable_by(f64::total_cmp);
    let n = d.len();
    Ok(if n % 2 == 1 {
        d[n / 2]
    } else {
        f64::midpoint(d[n / 2 - 1], d[n / 2])
    })
}

/// Bytes as MiB.
fn mib(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // sizes far below 2^52
    let v = bytes as f64 / (1024.0 * 1024.0);
    format!("{v:.2} MiB")
}

/// ours / floor.
fn ratio(ours: Duration, floor: Duration) -> f64 {
    let f = floor.as_secs_f64();
    if f > 0.0 {
        ours.as_secs_f64() / f
    } else {
        f64::INFINITY
    }
}

// ---- processes ----------------------------------------------------------------------------

/// A temp dir of this run, removed on drop.
#[derive(Debug)]
struct WorkDir(PathBuf);

impl WorkDir {
    fn create() -> Result<Self> {
        let dir = std::env::temp_dir().join(format!("ctrmgr-bench-{}", std::process::id()));
        if dir.exists() {
            fs::remove_dir_all(&dir)
                .with_context(|| format!("failed to remove the stale {}", dir.display()))?;
        }
        fs::create_dir_all(&dir).with_context(|| format!("failed to create {}", dir.display()))?;
        Ok(Self(dir))
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for WorkDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs a prepared command once (stdout discarded, stderr kept for the error) and answers how
/// long it took from spawn to exit; fails when it exits unsuccessfully.
fn timed(cmd: &mut Command) -> Result<Duration> {
    let start = Instant::now();
    let out = cmd
        .output()
        .with_context(|| format!("failed to run `{}`", cmd::display(cmd)))?;
    let took = start.elapsed();
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            cmd::display(cmd),
            out.status,
            one_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    Ok(took)
}

/// A command with no input whose output is discarded (stderr is captured by [`timed`]).
fn quiet(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut c = Command::new(program);
    c.stdin(Stdio::null()).stdout(Stdio::null());
    c
}

/// Runs a command and answers its standard output; fails naming it when it fails.
fn output(cmd: &mut Command) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("failed to run `{}`", cmd::display(cmd)))?;
    if !out.status.success() {
        bail!(
            "`{}` failed ({}): {}",
            cmd::display(cmd),
            out.status,
            one_line(&String::from_utf8_lossy(&out.stderr))
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Runs `ours` and `floor` alternately (after warm-up), `runs` times or until `budget` is
/// spent (never fewer than [`MIN_RUNS`]), and answers their samples.
fn interleave<T>(
    what: &str,
    runs: usize,
    budget: Duration,
    ours: &mut dyn FnMut() -> Result<T>,
    floor: &mut dyn FnMut() -> Result<T>,
) -> Result<(Vec<T>, Vec<T>)> {
    eprintln!("xtask: bench: {what}: up to {runs} runs of ours and of the floor");
    for _ in 0..WARMUP {
        ours().with_context(|| format!("{what}: warm-up"))?;
        floor().with_context(|| format!("{what}: warm-up of the floor"))?;
    }
    let start = Instant::now();
    let mut o = Vec::with_capacity(runs);
    let mut f = Vec::with_capacity(runs);
    for i in 0..runs {
        if i >= MIN_RUNS && start.elapsed() > budget {
            break;
        }
        if i % 2 == 0 {
            o.push(ours().with_context(|| format!("{what}: run {i}"))?);
            f.push(floor().with_context(|| format!("{what}: run {i} of the floor"))?);
        } else {
            f.push(floor().with_context(|| format!("{what}: run {i} of the floor"))?);
            o.push(ours().with_context(|| format!("{what}: run {i}"))?);
        }
    }
    Ok((o, f))
}

/// What a command wrote on connections to one unix socket, from one run under `strace`: the
/// first line of each write (one write per request or pipelined batch of requests).
fn traced_writes(cmd: &Command, socket: &Path, work: &Path) -> Result<Vec<String>> {
    if cmd::on_path("strace").is_none() {
        bail!("strace is not on PATH (apt-get install strace): round trips cannot be counted");
    }
    let log = work.join("strace.log");
    let mut traced = Command::new("strace");
    traced
        .args(["-f", "-qq", "-s", "256", "-e"])
        .arg("trace=connect,close,write,writev,sendto,sendmsg")
        .arg("-o")
        .arg(&log)
        .arg("--")
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    if let Some(dir) = cmd.get_current_dir() {
        traced.current_dir(dir);
    }
    for (k, v) in cmd.get_envs() {
        match v {
            Some(v) => traced.env(k, v),
            None => traced.env_remove(k),
        };
    }
    output(&mut traced)?;
    let text =
        fs::read_to_string(&log).with_context(|| format!("failed to read {}", log.display()))?;
    Ok(socket_writes(&text, &socket.to_string_lossy()))
}

/// Parses `strace -f` output: follows the file descriptors connected to `socket` (until
/// closed) and answers the start of every write on them, up to its first `\r\n`.
fn socket_writes(strace: &str, socket: &str) -> Vec<String> {
    let needle = format!("sun_path=\"{socket}\"");
    let mut fds: BTreeSet<String> = BTreeSet::new();
    let mut writes = Vec::new();
    for line in strace.lines() {
        // "<pid>  <syscall>(<fd>, …"
        let call = line
            .trim_start_matches(|c: char| c.is_ascii_digit())
            .trim_start();
        let Some((name, rest)) = call.split_once('(') else {
            continue;
        };
        let fd: String = rest.chars().take_while(char::is_ascii_digit).collect();
        if fd.is_empty() {
            continue;
        }
        match name {
            "connect" if rest.contains(&needle) && !rest.contains("= -1") => {
                fds.insert(fd);
            }
            "close" => {
                fds.remove(&fd);
            }
            "write" | "writev" | "sendto" | "sendmsg" if fds.contains(&fd) => {
                let payload = rest.split_once('"').map_or("", |(_, p)| p);
                let first = payload
                    .split("\\r\\n")
                    .next()
                    .unwrap_or(payload)
                    .split('"')
                    .next()
                    .unwrap_or_default();
                writes.push(first.to_owned());
            }
            _ => {}
        }
    }
    writes
}

/// How many shared libraries `ldd` lists for a program (on PATH or a path), as text.
fn shared_libraries(program: impl AsRef<std::ffi::OsStr>) -> String {
    let program = program.as_ref();
    let path = cmd::on_path(program).unwrap_or_else(|| PathBuf::from(program));
    let mut ldd = Command::new("ldd");
    ldd.arg(&path).stderr(Stdio::null());
    match output(&mut ldd) {
        Ok(text) => text
            .lines()
            .filter(|l| !l.contains("linux-vdso"))
            .count()
            .to_string(),
        Err(_) => "an unknown number of".to_owned(),
    }
}

/// The binaries measured.
#[derive(Debug)]
struct Bins {
    /// `container`, default features (kube).
    kube: PathBuf,
    /// `container --no-default-features`.
    nokube: PathBuf,
    labeler: PathBuf,
    hostcfgd: PathBuf,
    monit: PathBuf,
}

impl Bins {
    /// The two builds of `container`, with their names in the report.
    fn containers(&self) -> [(&'static str, &Path); 2] {
        [("kube build", &self.kube), ("no-kube build", &self.nokube)]
    }
}

/// Builds the dist binaries, each in a cargo invocation of its own, and copies them into
/// `work` (both builds of `container` have the same name in the target dir).
fn build(root: &Path, work: &Path) -> Result<Bins> {
    let target = target_dir(root)?.join("dist");
    let builds: [(&str, &[&str], &str, &str); 5] = [
        (
            "container-cmd",
            &["--no-default-features"],
            "container",
            "container-nokube",
        ),
        ("container-cmd", &[], "container", "container-kube"),
        ("kube-labeler", &[], "kube-labeler", "kube-labeler"),
        (
            "hostcfgd-watcher",
            &[],
            "hostcfgd-watcher",
            "hostcfgd-watcher",
        ),
        ("kube-monit", &[], "kube-monit", "kube-monit"),
    ];
    for (package, flags, bin, copy) in builds {
        cmd::run(
            cmd::cargo(root)
                .args(["build", "--profile", "dist", "--package", package])
                .args(flags),
        )?;
        let from = target.join(bin);
        let to = work.join(copy);
        fs::copy(&from, &to)
            .with_context(|| format!("failed to copy {} to {}", from.display(), to.display()))?;
    }
    Ok(Bins {
        kube: work.join("container-kube"),
        nokube: work.join("container-nokube"),
        labeler: work.join("kube-labeler"),
        hostcfgd: work.join("hostcfgd-watcher"),
        monit: work.join("kube-monit"),
    })
}

/// Cargo's target dir for this workspace (`cargo metadata`, which honours
/// `CARGO_TARGET_DIR` and `build.target-dir`).
fn target_dir(root: &Path) -> Result<PathBuf> {
    let meta = output(cmd::cargo(root).args(["metadata", "--format-version", "1", "--no-deps"]))?;
    let key = "\"target_directory\":\"";
    let start = meta
        .find(key)
        .map(|i| i + key.len())
        .context("cargo metadata names no target_directory")?;
    let end = meta[start..]
        .find('"')
        .context("cargo metadata's target_directory is not a string")?;
    Ok(PathBuf::from(
        meta[start..start + end].replace("\\\\", "\\"),
    ))
}

// ---- 1. sizes -----------------------------------------------------------------------------

fn sizes(bins: &Bins) -> Section {
    let mut s = Section::new(SIZES_TITLE);
    s.notes.push(
        "Stripped sizes of the dist builds. `container` built without its `kube` feature must \
         link no Kubernetes client (DESIGN.md §2); the target applies to that build."
            .to_owned(),
    );
    let rows: [(&str, &Path, Option<u64>); 5] = [
        (
            "`container --no-default-features` (no kube)",
            &bins.nokube,
            Some(SIZE_TARGET_BYTES),
        ),
        ("`container` (default features: kube)", &bins.kube, None),
        ("`kube-labeler`", &bins.labeler, None),
        ("`hostcfgd-watcher`", &bins.hostcfgd, None),
        ("`kube-monit`", &bins.monit, None),
    ];
    for (what, path, target) in rows {
        let row = match fs::metadata(path) {
            Ok(m) => Row {
                what: what.to_owned(),
                floor: "—".to_owned(),
                ours: mib(m.len()),
                compared: target.map_or_else(
                    || "—".to_owned(),
                    |t| format!("{:.0} % of the target", percent(m.len(), t)),
                ),
                target: target.map_or_else(|| "—".to_owned(), |t| format!("≤ {}", mib(t))),
                met: target.map_or(Met::NotJudged, |t| Met::when(m.len() <= t)),
            },
            Err(e) => {
                s.failed = true;
                Row {
                    what: what.to_owned(),
                    floor: "—".to_owned(),
                    ours: format!("not measured: cannot read {}: {e}", path.display()),
                    compared: "—".to_owned(),
                    target: "—".to_owned(),
                    met: Met::NotJudged,
                }
            }
        };
        s.rows.push(row);
    }
    s
}

/// `part` as a percentage of `whole`.
fn percent(part: u64, whole: u64) -> f64 {
    #[allow(clippy::cast_precision_loss)] // sizes far below 2^52
    let v = part as f64 * 100.0 / whole as f64;
    v
}

// ---- Redis and the shared setup -----------------------------------------------------------

/// A redis-server on a unix socket in the work dir, with SONiC's `database_config.json`, and
/// the tunables file the commands run with. The server is killed on drop.
#[derive(Debug)]
struct Setup {
    child: Child,
    socket: PathBuf,
    db_config: PathBuf,
    tunables: PathBuf,
    work: PathBuf,
}

impl Setup {
    fn start(work: &Path) -> Result<Self> {
        for program in ["redis-server", "redis-cli"] {
            if cmd::on_path(program).is_none() {
                bail!("{program} is not on PATH: apt-get install redis-server");
            }
        }
        let socket = work.join("redis.sock");
        let mut server = Command::new("redis-server");
        server
            .args(["--port", "0", "--unixsocket"])
            .arg(&socket)
            .args(["--unixsocketperm", "700", "--dir"])
            .arg(work)
            .args(["--save", "", "--appendonly", "no"])
            .args(["--notify-keyspace-events", "AKE", "--daemonize", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        eprintln!("$ {} &", cmd::display(&server));
        let mut child = server.spawn().context("failed to start redis-server")?;
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            bail!("redis-server's stdout was not captured");
        };
        // The server says when it accepts connections; the reader keeps draining its log so
        // that the pipe never fills.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut told = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if !told
                    && line
                        .to_ascii_lowercase()
                        .contains("ready to accept connections")
                {
                    told = true;
                    let _ = tx.send(());
                }
            }
        });
        if rx.recv_timeout(DEADLINE).is_err() {
            let _ = child.kill();
            let _ = child.wait();
            bail!("redis-server did not accept connections within {DEADLINE:?}");
        }
        let db_config = work.join("database_config.json");
        let tunables = work.join("ctrmgr.json");
        let setup = Self {
            child,
            socket,
            db_config,
            tunables,
            work: work.to_owned(),
        };
        fs::write(&setup.db_config, db_config_json(&setup.socket))
            .with_context(|| format!("failed to write {}", setup.db_config.display()))?;
        fs::write(&setup.tunables, setup.tunables_json())
            .with_context(|| format!("failed to write {}", setup.tunables.display()))?;
        Ok(setup)
    }

    /// The tunables: locks in the work dir, `true` as systemctl; the rest default.
    fn tunables_json(&self) -> String {
        format!(
            "{{\"lock_dir\": {}, \"systemctl\": \"true\"}}\n",
            json_string(&self.work.join("locks").to_string_lossy())
        )
    }

    /// `redis-cli` on this server's DB `db`.
    fn cli(&self, db: u32) -> Command {
        let mut c = quiet("redis-cli");
        c.arg("-s").arg(&self.socket).args(["-n", &db.to_string()]);
        c
    }

    /// Runs one redis-cli command and answers its output.
    fn query(&self, db: u32, args: &[&str]) -> Result<String> {
        let mut c = self.cli(db);
        c.args(args).stdout(Stdio::piped());
        output(&mut c)
    }

    /// One of our binaries with this setup's DB config and tunables.
    fn ours(&self, bin: &Path, args: &[&str]) -> Command {
        let mut c = quiet(bin);
        c.arg("--db-config")
            .arg(&self.db_config)
            .arg("--config")
            .arg(&self.tunables)
            .args(args);
        c
    }

    /// CONFIG_DB `FEATURE|ctrmgr-bench`: owned by the local image, no fallback; STATE_DB
    /// empty for it (INIT).
    fn seed_feature(&self) -> Result<()> {
        let key = feature_key();
        self.query(
            codec::DEFAULT_CONFIG_DB_ID,
            &[
                "HSET",
                &key,
                codec::SET_OWNER,
                codec::OWNER_LOCAL,
                codec::FALLBACK_TO_LOCAL,
                codec::FALSE,
            ],
        )?;
        self.clear_record()
    }

    /// Deletes STATE_DB `FEATURE|ctrmgr-bench` (INIT).
    fn clear_record(&self) -> Result<()> {
        self.query(codec::DEFAULT_STATE_DB_ID, &["DEL", &feature_key()])
            .map(drop)
    }

    /// Records [`RECORDED_ID`] as the local owner in STATE_DB (state LOCAL).
    fn record_owner(&self) -> Result<()> {
        self.query(
            codec::DEFAULT_STATE_DB_ID,
            &[
                "HSET",
                &feature_key(),
                codec::CURRENT_OWNER,
                codec::OWNER_LOCAL,
                codec::DOCKER_ID,
                RECORDED_ID,
            ],
        )
        .map(drop)
    }

    /// STATE_DB `FEATURE|ctrmgr-bench` `field`.
    fn record_field(&self, field: &str) -> Result<String> {
        self.query(codec::DEFAULT_STATE_DB_ID, &["HGET", &feature_key(), field])
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// SONiC's `database_config.json` for a redis-server on `socket`: CONFIG_DB and STATE_DB
/// under their default ids.
fn db_config_json(socket: &Path) -> String {
    let db = |id: u32| {
        format!(
            "{{\"id\": {id}, \"separator\": {}, \"instance\": \"redis\"}}",
            json_string(codec::DEFAULT_SEPARATOR)
        )
    };
    format!(
        "{{\n  \"INSTANCES\": {{\"redis\": {{\"unix_socket_path\": {}}}}},\n  \
         \"DATABASES\": {{\n    {}: {},\n    {}: {}\n  }},\n  \"VERSION\": \"1.0\"\n}}\n",
        json_string(&socket.to_string_lossy()),
        json_string(codec::CONFIG_DB),
        db(codec::DEFAULT_CONFIG_DB_ID),
        json_string(codec::STATE_DB),
        db(codec::DEFAULT_STATE_DB_ID),
    )
}

/// `FEATURE|ctrmgr-bench`.
fn feature_key() -> String {
    codec::row_key(codec::FEATURE_TABLE, codec::DEFAULT_SEPARATOR, FEATURE)
}

/// A JSON string literal.
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// ---- 2. Redis round trips -----------------------------------------------------------------

/// One Redis-only command benchmarked against redis-cli.
struct RedisCase {
    what: &'static str,
    args: Vec<&'static str>,
    /// Whether STATE_DB's record is deleted before each run (so that the command writes).
    fresh_record: bool,
}

fn redis_section(bins: &Bins, setup: &Setup) -> Result<Section> {
    let mut s = Section::new(REDIS_TITLE);
    s.notes.push(format!(
        "Against a redis-server on a unix socket. The floor is `redis-cli -s <sock> -n {} -r \
         <k> HGETALL {}`: a process that spawns, connects and makes the same number of round \
         trips as our command did (SELECT plus k HGETALLs). Our round trips were counted from \
         one run under strace (writes on the Redis socket; a pipelined batch is one). `id` \
         reads a recorded `docker_id` (no engine call); `state up local` runs once from INIT \
         (it writes the owner: the record is deleted, untimed, before each run) and once with \
         the same id already recorded (it reads and decides, nothing to write). Start-up is \
         part of both: `ldd` lists {} libraries for redis-cli and {} for our `container`, \
         so ours can come in under the floor.",
        codec::DEFAULT_CONFIG_DB_ID,
        feature_key(),
        shared_libraries("redis-cli"),
        shared_libraries(&bins.kube),
    ));
    setup.seed_feature()?;
    let cases = [
        RedisCase {
            what: "`container id`",
            args: vec!["id", FEATURE],
            fresh_record: false,
        },
        RedisCase {
            what: "`container state up local` from INIT (writes)",
            args: vec!["state", FEATURE, "up", "local", "--id", RECORDED_ID],
            fresh_record: true,
        },
        RedisCase {
            what: "`container state up local`, already recorded",
            args: vec!["state", FEATURE, "up", "local", "--id", RECORDED_ID],
            fresh_record: false,
        },
    ];
    for case in &cases {
        for (build, bin) in bins.containers() {
            let what = format!("{} ({build})", case.what);
            let row = redis_row(setup, bin, case, &what);
            match row {
                Ok(row) => s.rows.push(row),
                Err(e) => {
                    eprintln!("xtask: bench: {what}: not measured: {e:#}");
                    s.failed = true;
                    s.rows.push(Row {
                        what,
                        floor: "—".to_owned(),
                        ours: format!("not measured: {}", one_line(&format!("{e:#}"))),
                        compared: "—".to_owned(),
                        target: format!("≤ {REDIS_RATIO_TARGET}× floor"),
                        met: Met::NotJudged,
                    });
                }
            }
        }
    }
    Ok(s)
}

fn redis_row(setup: &Setup, bin: &Path, case: &RedisCase, what: &str) -> Result<Row> {
    let mut ours_cmd = setup.ours(bin, &case.args);

    // One traced run counts the round trips, and shows the command does what it should.
    if case.fresh_record {
        setup.clear_record()?;
    } else {
        setup.record_owner()?;
    }
    let writes = traced_writes(&ours_cmd, &setup.socket, &setup.work)?;
    let trips = writes.len();
    ensure!(trips >= 1, "{what} made no request to Redis under strace");
    let id = setup.record_field(codec::DOCKER_ID)?;
    ensure!(
        id == RECORDED_ID,
        "after {what}, STATE_DB {} docker_id is {id:?}, not the recorded id",
        feature_key()
    );

    let hgetalls = trips.saturating_sub(1).max(1);
    let key = feature_key();
    let mut floor_cmd = setup.cli(codec::DEFAULT_CONFIG_DB_ID);
    floor_cmd.args(["-r", &hgetalls.to_string(), "HGETALL", &key]);

    let (ours, floor) = interleave(
        what,
        REDIS_RUNS,
        REDIS_BUDGET,
        &mut || {
            if case.fresh_record {
                setup.clear_record()?;
            }
            timed(&mut ours_cmd)
        },
        &mut || timed(&mut floor_cmd),
    )?;
    let (o, f) = (Stats::of(&ours)?, Stats::of(&floor)?);
    let r = ratio(o.median, f.median);
    Ok(Row {
        what: format!("{what}: {trips} round trip(s), {} runs", o.runs),
        floor: f.show(),
        ours: o.show(),
        compared: format!("{r:.2}× ({})", signed_ms(o.median, f.median)),
        target: format!("≤ {REDIS_RATIO_TARGET}× floor"),
        met: Met::when(r <= REDIS_RATIO_TARGET),
    })
}

// ---- 3 and 4. Docker: start/stop, wait ----------------------------------------------------

/// The Docker Engine the benchmarks use, and the environment our commands need to reach it.
struct Engine {
    prereqs: prereq::Prereqs,
    socket: PathBuf,
}

impl Engine {
    /// Makes sure an engine answers (starting one when root, as `cargo xtask test` does).
    fn ensure() -> Result<Self> {
        for program in ["docker", "curl", "tar"] {
            if cmd::on_path(program).is_none() {
                bail!("{program} is not on PATH");
            }
        }
        let prereqs = prereq::ensure()?;
        let mut probe = Command::new("true");
        prereqs.apply(&mut probe);
        let host = probe
            .get_envs()
            .find(|(k, _)| *k == "DOCKER_HOST")
            .and_then(|(_, v)| v.map(|v| v.to_string_lossy().into_owned()))
            .or_else(|| std::env::var("DOCKER_HOST").ok());
        let socket = match host {
            None => PathBuf::from(DEFAULT_DOCKER_SOCKET),
            Some(h) => match h.strip_prefix("unix://") {
                Some(path) => PathBuf::from(path),
                None => bail!("DOCKER_HOST={h} is not a unix socket; the curl floor needs one"),
            },
        };
        let engine = Self { prereqs, socket };
        let mut version = engine.docker(&["version", "--format", "{{.Server.Version}}"]);
        if !cmd::succeeds_within(&mut version, DEADLINE) {
            bail!(
                "no Docker Engine answers `docker version` on {} (as root, `cargo xtask bench` \
                 starts one)",
                engine.socket.display()
            );
        }
        Ok(engine)
    }

    /// The Docker CLI with the engine's environment.
    fn docker(&self, args: &[&str]) -> Command {
        let mut c = quiet("docker");
        c.args(args);
        self.prereqs.apply(&mut c);
        c
    }

    /// Imports the busybox image and creates the feature's stopped container.
    fn create_container(&self, work: &Path) -> Result<()> {
        let rootfs = work.join("rootfs");
        let bin = rootfs.join("bin");
        fs::create_dir_all(&bin).with_context(|| format!("failed to create {}", bin.display()))?;
        fs::create_dir_all(rootfs.join("tmp"))
            .with_context(|| format!("failed to create {}/tmp", rootfs.display()))?;
        fs::copy(BUSYBOX, bin.join("busybox")).with_context(|| {
            format!("failed to copy {BUSYBOX} (apt-get install busybox-static)")
        })?;
        for applet in ["sh", "sleep"] {
            std::os::unix::fs::symlink("busybox", bin.join(applet))
                .with_context(|| format!("failed to link {applet} in {}", bin.display()))?;
        }
        let tar = work.join("rootfs.tar");
        cmd::run(
            Command::new("tar")
                .arg("-C")
                .arg(&rootfs)
                .arg("-cf")
                .arg(&tar)
                .arg("."),
        )?;
        cmd::run(self.docker(&["import"]).arg(&tar).arg(IMAGE))?;
        self.remove_container();
        cmd::run(
            self.docker(&["create", "--name", FEATURE, "--network", "none", IMAGE])
                .args(CONTAINER_CMD),
        )
    }

    /// Removes the feature's container, if any.
    fn remove_container(&self) {
        let _ = self
            .docker(&["rm", "-f", FEATURE])
            .stderr(Stdio::null())
            .status();
    }

    /// Whether the feature's container runs.
    fn running(&self) -> Result<bool> {
        let mut c = self.docker(&["inspect", "--format", "{{.State.Running}}", FEATURE]);
        c.stdout(Stdio::piped());
        Ok(output(&mut c)? == "true")
    }

    /// The feature's container's full id.
    fn container_id(&self) -> Result<String> {
        let mut c = self.docker(&["inspect", "--format", "{{.Id}}", FEATURE]);
        c.stdout(Stdio::piped());
        output(&mut c)
    }

    /// One of our binaries with the setup's files and the engine's environment.
    fn ours(&self, setup: &Setup, bin: &Path, args: &[&str]) -> Command {
        let mut c = setup.ours(bin, args);
        self.prereqs.apply(&mut c);
        c
    }

    /// `curl` sending `requests` (method, path) over the engine's socket, in one process
    /// (one connection, as our command uses).
    fn curl(&self, requests: &[(String, String)]) -> Command {
        let mut c = quiet("curl");
        for (i, (method, path)) in requests.iter().enumerate() {
            if i > 0 {
                c.arg("--next");
            }
            c.args(["-sS", "--fail", "-o", "/dev/null", "--unix-socket"])
                .arg(&self.socket)
                .args(["-X", method])
                .arg(format!("http://localhost{path}"));
        }
        c
    }
}

/// The Engine API requests (method, path) in some writes.
fn http_requests(writes: &[String]) -> Vec<(String, String)> {
    const METHODS: [&str; 5] = ["GET", "POST", "DELETE", "PUT", "HEAD"];
    writes
        .iter()
        .filter_map(|w| {
            let mut words = w.split(' ');
            let method = words.next()?;
            let path = words.next()?;
            let version = words.next()?;
            (METHODS.contains(&method) && version.starts_with("HTTP/"))
                .then(|| (method.to_owned(), path.to_owned()))
        })
        .collect()
}

/// Start/stop, then `container wait` and idle wake-ups: the sections that need the engine.
fn docker_sections(bins: &Bins, setup: &Setup) -> Vec<Section> {
    let titles = [START_STOP_TITLE, WAIT_TITLE, IDLE_TITLE];
    let engine = match Engine::ensure() {
        Ok(e) => e,
        Err(e) => {
            let mut out: Vec<Section> = titles.iter().map(|t| Section::failed(t, &e)).collect();
            // kube-labeler needs no engine.
            out[2] = idle_section(bins, setup, &[]);
            return out;
        }
    };
    let prepared = setup
        .seed_feature()
        .and_then(|()| engine.create_container(&setup.work));
    let out = match prepared {
        Err(e) => {
            let mut out: Vec<Section> = titles.iter().map(|t| Section::failed(t, &e)).collect();
            out[2] = idle_section(bins, setup, &[]);
            out
        }
        Ok(()) => {
            let start_stop = start_stop_section(bins, setup, &engine)
                .unwrap_or_else(|e| Section::failed(titles[0], &e));
            let (wait, idle_rows) = wait_section(bins, setup, &engine);
            vec![start_stop, wait, idle_section(bins, setup, &idle_rows)]
        }
    };
    engine.remove_container();
    let _ = engine
        .docker(&["rmi", IMAGE])
        .stderr(Stdio::null())
        .status();
    // `engine` drops here: a Docker Engine started for the benchmarks is stopped.
    out
}

fn start_stop_section(bins: &Bins, setup: &Setup, engine: &Engine) -> Result<Section> {
    let mut s = Section::new(START_STOP_TITLE);
    let kube = &bins.kube;
    let start = |bin: &Path| engine.ours(setup, bin, &["start", FEATURE]);
    let stop = |bin: &Path| engine.ours(setup, bin, &["stop", FEATURE]);

    // Two untraced cycles, then one traced: its requests are the floor's.
    for _ in 0..2 {
        output(&mut start(kube))?;
        output(&mut stop(kube))?;
    }
    let start_requests = http_requests(&traced_writes(&start(kube), &engine.socket, &setup.work)?);
    ensure!(
        engine.running()?,
        "`container start {FEATURE}` left the container stopped"
    );
    let id = engine.container_id()?;
    let recorded = setup.record_field(codec::DOCKER_ID)?;
    ensure!(
        recorded == id,
        "after `container start`, STATE_DB docker_id is {recorded:?}, not the container's {id}"
    );
    let stop_requests = http_requests(&traced_writes(&stop(kube), &engine.socket, &setup.work)?);
    ensure!(
        !engine.running()?,
        "`container stop {FEATURE}` left the container running"
    );
    ensure!(
        !start_requests.is_empty() && !stop_requests.is_empty(),
        "no Engine API request seen under strace (start: {start_requests:?}, stop: {stop_requests:?})"
    );
    let show = |reqs: &[(String, String)]| {
        reqs.iter()
            .map(|(m, p)| format!("`{m} {p}`"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    s.notes.push(format!(
        "A busybox container (`{IMAGE}`, imported from `{BUSYBOX}`; it exits 0 on SIGTERM) \
         started and stopped by `container start|stop {FEATURE}` (set_owner=local; Redis as \
         above). The floor is one `curl --unix-socket {}` process sending the same Engine API \
         requests our command sent, read from one run under strace — start: {}; stop: {}. `ldd` lists {} \
         libraries for curl and {} for our `container`; start-up is part of both. Our \
         times include everything else the command does: reading both rows, the feature lock, \
         the state write. The engine's own time varies far more from one run to the next than \
         the few milliseconds we add, so the difference is the median of the differences \
         within each back-to-back pair (ours, floor), which cancels that drift; the medians' \
         ratio is shown beside it.",
        engine.socket.display(),
        show(&start_requests),
        show(&stop_requests),
        shared_libraries("curl"),
        shared_libraries(kube),
    ));

    let mut floor_start = engine.curl(&start_requests);
    let mut floor_stop = engine.curl(&stop_requests);
    for (build, bin) in bins.containers() {
        let mut ours_start = start(bin);
        let mut ours_stop = stop(bin);
        let (ours, floor) = interleave(
            &format!("container start|stop ({build})"),
            DOCKER_RUNS,
            DOCKER_BUDGET,
            &mut || Ok((timed(&mut ours_start)?, timed(&mut ours_stop)?)),
            &mut || Ok((timed(&mut floor_start)?, timed(&mut floor_stop)?)),
        )?;
        for (verb, pick) in [("start", 0_usize), ("stop", 1_usize)] {
            let get = |v: &[(Duration, Duration)]| -> Vec<Duration> {
                v.iter()
                    .map(|p| if pick == 0 { p.0 } else { p.1 })
                    .collect()
            };
            let (ours, floor) = (get(&ours), get(&floor));
            let (o, f) = (Stats::of(&ours)?, Stats::of(&floor)?);
            let diff = paired_difference(&ours, &floor)?;
            s.rows.push(Row {
                what: format!("`container {verb}` ({build}), {} runs", o.runs),
                floor: f.show(),
                ours: o.show(),
                compared: format!(
                    "{} paired ({:.2}× medians)",
                    signed_secs(diff),
                    ratio(o.median, f.median)
                ),
                target: format!("≤ floor + {}", ms(DOCKER_DIFF_TARGET)),
                met: Met::when(diff <= DOCKER_DIFF_TARGET.as_secs_f64()),
            });
        }
    }
    Ok(s)
}

/// What `/proc/<pid>/status` says about memory, in bytes.
#[derive(Debug, Clone, Copy)]
struct Memory {
    rss: u64,
    hwm: u64,
    /// The part of `rss` that is the process's own (heap, stacks, written data).
    anon: u64,
    /// The part of `rss` mapped from files (the binary's and libraries' pages).
    file: u64,
    /// The proportional share: pages shared with other processes count a fraction each.
    pss: u64,
}

/// VmRSS (with its anonymous and file parts) and VmHWM of a process, from
/// `/proc/<pid>/status`, and its Pss from `/proc/<pid>/smaps_rollup`.
fn memory(pid: u32) -> Result<Memory> {
    let read = |name: &str| -> Result<(String, String)> {
        let path = format!("/proc/{pid}/{name}");
        let text = fs::read_to_string(&path).with_context(|| format!("failed to read {path}"))?;
        Ok((path, text))
    };
    let status = read("status")?;
    let rollup = read("smaps_rollup")?;
    let kib = |(path, text): &(String, String), field: &str| -> Result<u64> {
        let line = text
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .with_context(|| format!("{path} has no {field}"))?;
        let n = line.trim().trim_end_matches("kB").trim();
        let n: u64 = n
            .parse()
            .with_context(|| format!("{path}: {field} {n:?} is not a number"))?;
        Ok(n * 1024)
    };
    Ok(Memory {
        rss: kib(&status, "VmRSS:")?,
        hwm: kib(&status, "VmHWM:")?,
        anon: kib(&status, "RssAnon:")?,
        file: kib(&status, "RssFile:")?,
        pss: kib(&rollup, "Pss:")?,
    })
}

/// Context switches of every thread of a process so far: each is a wake-up.
fn wakeups(pid: u32) -> Result<u64> {
    let dir = format!("/proc/{pid}/task");
    let mut total = 0;
    for task in fs::read_dir(&dir).with_context(|| format!("failed to read {dir}"))? {
        let status = task
            .with_context(|| format!("failed to read {dir}"))?
            .path()
            .join("status");
        // A thread that ended meanwhile has nothing more to count.
        let Ok(text) = fs::read_to_string(&status) else {
            continue;
        };
        for field in ["voluntary_ctxt_switches:", "nonvoluntary_ctxt_switches:"] {
            if let Some(v) = text.lines().find_map(|l| l.strip_prefix(field)) {
                total += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    Ok(total)
}

/// Waits until `child` is blocked: asleep, with resident memory unchanged over half a second.
/// Polls, because no event says "this other process is now blocked"; this is tooling.
fn wait_until_blocked(child: &mut Child, what: &str) -> Result<()> {
    let pid = child.id();
    let deadline = Instant::now() + DEADLINE;
    let mut last = None;
    let mut steady = 0;
    while steady < 5 {
        if let Ok(Some(status)) = child.try_wait() {
            bail!("{what} exited ({status}) instead of blocking");
        }
        ensure!(
            Instant::now() < deadline,
            "{what} did not block within {DEADLINE:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
        let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let asleep = status
            .lines()
            .find_map(|l| l.strip_prefix("State:"))
            .is_some_and(|s| s.trim_start().starts_with('S'));
        let rss = memory(pid).ok().map(|m| m.rss);
        if asleep && rss.is_some() && rss == last {
            steady += 1;
        } else {
            steady = 0;
        }
        last = rss;
    }
    Ok(())
}

/// Wake-ups per second of a blocked process over [`IDLE_WINDOW`].
fn idle_rate(pid: u32) -> Result<f64> {
    let before = wakeups(pid)?;
    std::thread::sleep(IDLE_WINDOW);
    let after = wakeups(pid)?;
    #[allow(clippy::cast_precision_loss)] // small counts
    Ok(after.saturating_sub(before) as f64 / IDLE_WINDOW.as_secs_f64())
}

/// Sends SIGTERM to a child we started.
fn terminate(child: &Child) {
    let _ = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status();
}

/// One idle-wake-up measurement, for the idle section.
#[derive(Debug)]
struct IdleRow {
    what: String,
    rate: f64,
}

/// `container wait` memory per build (and its wake-ups while blocked).
fn wait_section(bins: &Bins, setup: &Setup, engine: &Engine) -> (Section, Vec<IdleRow>) {
    let mut s = Section::new(WAIT_TITLE);
    s.notes.push(format!(
        "`container wait {FEATURE}` on the running container, read from `/proc/<pid>/status` \
         once it blocks (asleep, resident size steady for 0.5 s), {WAIT_RUNS} waiters alive at \
         once (a switch has one per feature, all mapping the same binary): VmRSS (the median and the largest; split into \
         anonymous memory — the process's own — and pages mapped from the binary and \
         libraries, which every process mapping them shares), VmHWM (peak over its \
         life) and Pss (the proportional share, shared pages divided among their users; \
         `smaps_rollup`). *met?* is judged on VmRSS. Then `container stop` \
         ends the container and every waiter must exit 0. The floor is `sleep`, a process that \
         does nothing (its VmRSS)."
    ));
    let mut idle = Vec::new();
    let floor = sleep_rss();
    let floor_text = match &floor {
        Ok(m) => format!("{} (`sleep`)", mib(m.rss)),
        Err(e) => format!("not measured: {}", one_line(&format!("{e:#}"))),
    };
    for (build, bin) in bins.containers() {
        match wait_runs(bin, bins, setup, engine) {
            Ok((mut mems, rate)) => {
                mems.sort_unstable_by_key(|m| m.rss);
                let median = mems[mems.len() / 2];
                let max_rss = mems.iter().map(|m| m.rss).max().unwrap_or(median.rss);
                let max_hwm = mems.iter().map(|m| m.hwm).max().unwrap_or(median.hwm);
                let median_rss = median.rss;
                s.rows.push(Row {
                    what: format!("`container wait` ({build})"),
                    floor: floor_text.clone(),
                    ours: format!(
                        "VmRSS {} (anon {} + file {}; max {}), VmHWM max {}, Pss {}",
                        mib(median.rss),
                        mib(median.anon),
                        mib(median.file),
                        mib(max_rss),
                        mib(max_hwm),
                        mib(median.pss)
                    ),
                    compared: match &floor {
                        Ok(f) => format!("{:.1}× `sleep`", percent(median_rss, f.rss) / 100.0),
                        Err(_) => "—".to_owned(),
                    },
                    target: format!("≤ {} resident", mib(RSS_TARGET_BYTES)),
                    met: Met::when(median_rss <= RSS_TARGET_BYTES),
                });
                idle.push(IdleRow {
                    what: format!("`container wait` ({build}), blocked"),
                    rate,
                });
            }
            Err(e) => {
                eprintln!("xtask: bench: container wait ({build}): not measured: {e:#}");
                s.failed = true;
                s.rows.push(Row {
                    what: format!("`container wait` ({build})"),
                    floor: floor_text.clone(),
                    ours: format!("not measured: {}", one_line(&format!("{e:#}"))),
                    compared: "—".to_owned(),
                    target: format!("≤ {} resident", mib(RSS_TARGET_BYTES)),
                    met: Met::NotJudged,
                });
            }
        }
    }
    (s, idle)
}

/// [`WAIT_RUNS`] waiters of one build, alive at once on the running container (as a switch
/// has one per feature, sharing the binary's pages): their memory, and the wake-up rate of
/// the first. `container stop` then answers them all, and each must exit 0.
fn wait_runs(
    bin: &Path,
    bins: &Bins,
    setup: &Setup,
    engine: &Engine,
) -> Result<(Vec<Memory>, f64)> {
    eprintln!(
        "xtask: bench: container wait ({}): {WAIT_RUNS} processes",
        bin.display()
    );
    output(&mut engine.ours(setup, &bins.kube, &["start", FEATURE]))?;
    let mut children = Vec::with_capacity(WAIT_RUNS);
    let mut spawned = Ok(());
    for _ in 0..WAIT_RUNS {
        let mut waiter = engine.ours(setup, bin, &["wait", FEATURE]);
        waiter.stderr(Stdio::null());
        match waiter.spawn() {
            Ok(child) => children.push(child),
            Err(e) => {
                spawned = Err(anyhow::Error::new(e)
                    .context(format!("failed to start `{}`", cmd::display(&waiter))));
                break;
            }
        }
    }
    let measured = spawned.and_then(|()| {
        for child in &mut children {
            wait_until_blocked(child, "container wait")?;
        }
        let mems = children
            .iter()
            .map(|c| memory(c.id()))
            .collect::<Result<Vec<_>>>()?;
        let rate = match children.first() {
            Some(c) => idle_rate(c.id())?,
            None => 0.0,
        };
        Ok((mems, rate))
    });
    // Whatever happened, the container is stopped and every waiter ends.
    let stopped = output(&mut engine.ours(setup, &bins.kube, &["stop", FEATURE]));
    let mut exits = Vec::with_capacity(children.len());
    for child in &mut children {
        exits.push(cmd::wait_within(child, DEADLINE));
    }
    let measured = measured?;
    stopped?;
    for exit in exits {
        match exit {
            Some(status) if status.success() => {}
            Some(status) => bail!("`container wait` exited {status} after `container stop`, not 0"),
            None => bail!("`container wait` did not exit within {DEADLINE:?} of `container stop`"),
        }
    }
    Ok(measured)
}

/// Resident memory of `sleep` once it blocks.
fn sleep_rss() -> Result<Memory> {
    let mut child = quiet("sleep")
        .arg("1000")
        .spawn()
        .context("failed to start sleep")?;
    let m = wait_until_blocked(&mut child, "sleep").and_then(|()| memory(child.id()));
    let _ = child.kill();
    let _ = child.wait();
    m
}

/// Idle wake-ups: `kube-labeler run` with nothing to do, and the `container wait` figures.
fn idle_section(bins: &Bins, setup: &Setup, waits: &[IdleRow]) -> Section {
    let mut s = Section::new(IDLE_TITLE);
    s.notes.push(format!(
        "Context switches (voluntary and not, every thread, from `/proc/<pid>/task/*/status`) \
         of a blocked process over {} s; each is a wake-up. `kube-labeler run` idles with the \
         master not connected and nothing pending, watching STATE_DB. The target is the daemons' \
         (DESIGN.md §10: 0 wake-ups per second between deadlines); `container wait` is shown \
         beside them.",
        IDLE_WINDOW.as_secs()
    ));
    let row = |what: String, rate: f64| Row {
        what,
        floor: "0/s".to_owned(),
        ours: format!("{rate:.1}/s"),
        compared: "—".to_owned(),
        target: "0/s".to_owned(),
        met: Met::when(rate == 0.0),
    };
    match labeler_idle(bins, setup) {
        Ok(rate) => s
            .rows
            .push(row("`kube-labeler run`, idle".to_owned(), rate)),
        Err(e) => {
            eprintln!("xtask: bench: kube-labeler run: not measured: {e:#}");
            s.failed = true;
            s.rows.push(Row {
                what: "`kube-labeler run`, idle".to_owned(),
                floor: "0/s".to_owned(),
                ours: format!("not measured: {}", one_line(&format!("{e:#}"))),
                compared: "—".to_owned(),
                target: "0/s".to_owned(),
                met: Met::NotJudged,
            });
        }
    }
    for w in waits {
        s.rows.push(Row {
            target: "— (not a daemon)".to_owned(),
            met: Met::NotJudged,
            ..row(w.what.clone(), w.rate)
        });
    }
    s
}

/// Wake-ups per second of an idle `kube-labeler run`.
fn labeler_idle(bins: &Bins, setup: &Setup) -> Result<f64> {
    eprintln!("xtask: bench: kube-labeler run: idle for {IDLE_WINDOW:?}");
    let mut daemon = setup.ours(
        &bins.labeler,
        &["--kubeconfig", "/nonexistent/kubeconfig", "run"],
    );
    daemon.stderr(Stdio::null());
    let mut child = daemon
        .spawn()
        .with_context(|| format!("failed to start `{}`", cmd::display(&daemon)))?;
    let rate =
        wait_until_blocked(&mut child, "kube-labeler run").and_then(|()| idle_rate(child.id()));
    terminate(&child);
    let exit = cmd::wait_within(&mut child, DEADLINE);
    let rate = rate?;
    match exit {
        Some(status) if status.success() => Ok(rate),
        Some(status) => bail!("`kube-labeler run` exited {status} on SIGTERM, not 0"),
        None => bail!("`kube-labeler run` did not stop within {DEADLINE:?} of SIGTERM"),
    }
}

// ---- 5. daemons ---------------------------------------------------------------------------

/// hostcfgd-watcher's reaction and both daemons' idle wake-ups.
fn daemons_section(bins: &Bins, setup: &Setup) -> Section {
    let mut s = Section::new(DAEMONS_TITLE);
    s.notes.push(format!(
        "**Reaction**: `hostcfgd-watcher` runs against this run's redis-server with a \
         `systemctl` stand-in (`/bin/sh`: it writes its arguments into a FIFO, then says \
         `inactive`, so the approval stops there). Each of {REACTION_RUNS} transitions is one \
         `HSET FEATURE|{FEATURE} current_owner none transition_mode kube_pending` sent on an open \
         connection of ours; the time runs from just before the write to the moment the \
         stand-in's line arrives in the FIFO — keyspace notification, the daemon's read of the \
         row, its decision, the fork/exec of `systemctl is-active` and the stand-in's start \
         included. Then `transition_mode none` resets the row (no systemctl call), and the next \
         transition waits 10 ms. The floor is the same HSET and FIFO path with nothing between: \
         a `redis-cli` subscriber would be slower, so the floor shown is the shell stand-in \
         alone (`/bin/sh` writing into the FIFO, spawned by us). **Idle**: as above, over {} s, \
         with nothing pending and no Kubernetes master configured (`probe_interval_secs` 60, so \
         no probe falls in the window).",
        IDLE_WINDOW.as_secs()
    ));
    match reaction(bins, setup) {
        Ok((ours, floor)) => s.rows.push(Row {
            what: format!(
                "hostcfgd-watcher: HSET kube_pending → first systemctl call ({} transitions)",
                ours.runs
            ),
            floor: floor.show(),
            ours: ours.show(),
            compared: signed_ms(ours.p99, floor.p99),
            target: format!("≤ {} p99", ms(REACTION_TARGET)),
            met: Met::when(ours.p99 <= REACTION_TARGET),
        }),
        Err(e) => {
            eprintln!("xtask: bench: hostcfgd-watcher reaction: not measured: {e:#}");
            s.failed = true;
            s.rows.push(Row {
                what: "hostcfgd-watcher: HSET kube_pending → first systemctl call".to_owned(),
                floor: "—".to_owned(),
                ours: format!("not measured: {}", one_line(&format!("{e:#}"))),
                compared: "—".to_owned(),
                target: format!("≤ {} p99", ms(REACTION_TARGET)),
                met: Met::NotJudged,
            });
        }
    }
    let daemons: [(&str, &Path, &[&str]); 2] = [
        ("`hostcfgd-watcher`, idle", &bins.hostcfgd, &[]),
        ("`kube-monit run`, idle", &bins.monit, &["run"]),
    ];
    for (what, bin, args) in daemons {
        let row = match daemon_idle(setup, bin, args) {
            Ok(rate) => Row {
                what: what.to_owned(),
                floor: "0/s".to_owned(),
                ours: format!("{rate:.1}/s"),
                compared: "—".to_owned(),
                target: "0/s".to_owned(),
                met: Met::when(rate == 0.0),
            },
            Err(e) => {
                eprintln!("xtask: bench: {what}: not measured: {e:#}");
                s.failed = true;
                Row {
                    what: what.to_owned(),
                    floor: "0/s".to_owned(),
                    ours: format!("not measured: {}", one_line(&format!("{e:#}"))),
                    compared: "—".to_owned(),
                    target: "0/s".to_owned(),
                    met: Met::NotJudged,
                }
            }
        };
        s.rows.push(row);
    }
    s
}

/// The daemons' tunables: the setup's, a `systemctl` stand-in, no probe within the window.
fn daemon_tunables(setup: &Setup, systemctl: &Path) -> Result<PathBuf> {
    let path = setup.work.join("daemons.json");
    fs::write(
        &path,
        format!(
            "{{\"lock_dir\": {}, \"systemctl\": {}, \"probe_interval_secs\": 60, \"kubeconfig\": \"/nonexistent/kubeconfig\"}}\n",
            json_string(&setup.work.join("locks").to_string_lossy()),
            json_string(&systemctl.to_string_lossy()),
        ),
    )
    .with_context(|| format!("failed to write {}", path.display()))?;
    Ok(path)
}

/// A daemon run with the setup's DB config and `tunables`, its stderr discarded.
fn daemon(setup: &Setup, bin: &Path, tunables: &Path, args: &[&str]) -> Result<Child> {
    let mut c = quiet(bin);
    c.arg("--db-config")
        .arg(&setup.db_config)
        .arg("--config")
        .arg(tunables)
        .args(args)
        .stderr(Stdio::null());
    c.spawn()
        .with_context(|| format!("failed to start `{}`", cmd::display(&c)))
}

/// Stops a daemon with SIGTERM and checks it exits 0.
fn stop_daemon(mut child: Child, what: &str) -> Result<()> {
    terminate(&child);
    match cmd::wait_within(&mut child, DEADLINE) {
        Some(status) if status.success() => Ok(()),
        Some(status) => bail!("{what} exited {status} on SIGTERM, not 0"),
        None => {
            let _ = child.kill();
            let _ = child.wait();
            bail!("{what} did not stop within {DEADLINE:?} of SIGTERM")
        }
    }
}

/// Wake-ups per second of an idle daemon.
fn daemon_idle(setup: &Setup, bin: &Path, args: &[&str]) -> Result<f64> {
    eprintln!("xtask: bench: {} idle for {IDLE_WINDOW:?}", bin.display());
    let tunables = daemon_tunables(setup, Path::new("true"))?;
    setup.seed_feature()?;
    let mut child = daemon(setup, bin, &tunables, args)?;
    let rate = wait_until_blocked(&mut child, "the daemon").and_then(|()| idle_rate(child.id()));
    let stopped = stop_daemon(child, &bin.display().to_string());
    let rate = rate?;
    stopped?;
    Ok(rate)
}

/// A RESP command.
fn resp(args: &[&str]) -> Vec<u8> {
    let mut out = format!("*{}\r\n", args.len()).into_bytes();
    for a in args {
        out.extend_from_slice(format!("${}\r\n{a}\r\n", a.len()).as_bytes());
    }
    out
}

/// Sends one RESP command on `conn` and reads its one-line answer (`+OK`, `:1`, …).
fn redis_call(
    conn: &mut std::os::unix::net::UnixStream,
    reader: &mut BufReader<std::os::unix::net::UnixStream>,
    args: &[&str],
) -> Result<()> {
    use std::io::Write as _;
    conn.write_all(&resp(args))
        .context("failed to write to redis-server")?;
    let mut line = String::new();
    reader
        .read_line(&mut line)
        .context("failed to read redis-server's answer")?;
    ensure!(!line.starts_with('-'), "redis-server: {}", line.trim());
    Ok(())
}

/// hostcfgd-watcher's reaction, and the floor.
fn reaction(bins: &Bins, setup: &Setup) -> Result<(Stats, Stats)> {
    eprintln!("xtask: bench: hostcfgd-watcher reaction, {REACTION_RUNS} transitions");
    let fifo = setup.work.join("systemctl.fifo");
    let _ = fs::remove_file(&fifo);
    let status = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .context("failed to run mkfifo")?;
    ensure!(status.success(), "mkfifo {} failed", fifo.display());
    let stand_in = setup.work.join("systemctl-fifo");
    fs::write(
        &stand_in,
        format!(
            "#!/bin/sh\necho \"$*\" > {}\necho inactive\nexit 3\n",
            json_string(&fifo.to_string_lossy())
        ),
    )
    .context("failed to write the systemctl stand-in")?;
    let status = Command::new("chmod")
        .arg("755")
        .arg(&stand_in)
        .status()
        .context("failed to run chmod")?;
    ensure!(status.success(), "chmod failed");

    // Read and write: the open does not wait for a writer, and the FIFO never sees EOF.
    let reader = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&fifo)
        .with_context(|| format!("failed to open {}", fifo.display()))?;
    let (tx, rx) = mpsc::channel::<(Instant, String)>();
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            if tx.send((Instant::now(), line)).is_err() {
                break;
            }
        }
    });

    setup.seed_feature()?;
    let mut conn = std::os::unix::net::UnixStream::connect(&setup.socket)
        .with_context(|| format!("failed to connect to {}", setup.socket.display()))?;
    let mut answers = BufReader::new(conn.try_clone().context("failed to clone the socket")?);
    let state_db = codec::DEFAULT_STATE_DB_ID.to_string();
    redis_call(&mut conn, &mut answers, &["SELECT", &state_db])?;
    let key = feature_key();

    // The floor: the stand-in itself, spawned here, from spawn to its line in the FIFO.
    let mut floor = Vec::new();
    for i in 0..(REACTION_RUNS / 4 + WARMUP) {
        let t0 = Instant::now();
        let mut c = quiet(&stand_in);
        c.args(["is-active", FEATURE]);
        let mut child = c.spawn().context("failed to run the stand-in")?;
        let (t1, _) = rx
            .recv_timeout(DEADLINE)
            .context("the stand-in wrote nothing")?;
        let _ = child.wait();
        if i >= WARMUP {
            floor.push(t1 - t0);
        }
    }

    let tunables = daemon_tunables(setup, &stand_in)?;
    let child = daemon(setup, &bins.hostcfgd, &tunables, &[])?;
    let measured = (|| -> Result<Vec<Duration>> {
        // Ready once its first scan is done: a pending row set before it started is answered.
        redis_call(
            &mut conn,
            &mut answers,
            &[
                "HSET",
                &key,
                codec::TRANSITION_MODE,
                codec::MODE_KUBE_PENDING,
            ],
        )?;
        rx.recv_timeout(DEADLINE)
            .context("hostcfgd-watcher made no systemctl call for a pending row at start")?;
        let mut samples = Vec::with_capacity(REACTION_RUNS);
        for i in 0..(REACTION_RUNS + WARMUP) {
            redis_call(
                &mut conn,
                &mut answers,
                &["HSET", &key, codec::TRANSITION_MODE, codec::MODE_NONE],
            )?;
            std::thread::sleep(Duration::from_millis(10));
            while rx.try_recv().is_ok() {}
            let t0 = Instant::now();
            redis_call(
                &mut conn,
                &mut answers,
                &[
                    "HSET",
                    &key,
                    codec::CURRENT_OWNER,
                    codec::OWNER_NONE,
                    codec::TRANSITION_MODE,
                    codec::MODE_KUBE_PENDING,
                ],
            )?;
            let (t1, line) = rx
                .recv_timeout(DEADLINE)
                .with_context(|| format!("no systemctl call after transition {i}"))?;
            ensure!(
                line == format!("is-active {FEATURE}"),
                "the first systemctl call was {line:?}"
            );
            if i >= WARMUP {
                samples.push(t1 - t0);
            }
        }
        Ok(samples)
    })();
    let stopped = stop_daemon(child, "hostcfgd-watcher");
    let samples = measured?;
    stopped?;
    setup.clear_record()?;
    Ok((Stats::of(&samples)?, Stats::of(&floor)?))
}

// ---- 6. drain -----------------------------------------------------------------------------

fn drain_section(root: &Path) -> Result<Section> {
    let mut s = Section::new(DRAIN_TITLE);
    s.notes.push(format!(
        "`tests/examples/bench_drain.rs`, release build: 10,000 operations appended to STATE_DB \
         `KUBE_SERVER|PENDING_LABELS` (untimed), then one `LabelService::drain` (timed): read \
         the list, coalesce, one merge patch through kube-rs over HTTPS to the fake API server \
         (in the same process), remove the drained prefix atomically, start kubelet (`true`), \
         re-read the list; each run checks the list is empty and the node has exactly the \
         coalesced labels. The floor is the irreducible part: one merge patch with the same \
         keys through the same client. {DRAIN_RUNS} runs per case."
    ));
    let mut run = cmd::cargo(root);
    run.args([
        "run",
        "--release",
        "--package",
        "ctrmgr-tests",
        "--example",
        "bench_drain",
        "--",
        "--iterations",
        &DRAIN_RUNS.to_string(),
    ]);
    eprintln!("$ {}", cmd::display(&run));
    let out = run
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("failed to run `{}`", cmd::display(&run)))?;
    ensure!(
        out.status.success(),
        "`{}` failed: {}",
        cmd::display(&run),
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let mut cases = 0;
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("BENCH drain ") else {
            continue;
        };
        let field = |name: &str| -> Result<&str> {
            rest.split(' ')
                .find_map(|w| w.strip_prefix(name).and_then(|w| w.strip_prefix('=')))
                .with_context(|| format!("bench_drain's line has no {name}: {line}"))
        };
        let micros = |name: &str| -> Result<Vec<Duration>> {
            field(name)?
                .split(',')
                .map(|v| {
                    v.parse::<u64>()
                        .map(Duration::from_micros)
                        .with_context(|| format!("bench_drain's {name} has {v:?}"))
                })
                .collect()
        };
        let (o, f) = (
            Stats::of(&micros("ours_us")?)?,
            Stats::of(&micros("floor_us")?)?,
        );
        s.rows.push(Row {
            what: format!(
                "drain {} operations on {} keys ({} runs)",
                field("ops")?,
                field("keys")?,
                o.runs
            ),
            floor: f.show(),
            ours: o.show(),
            compared: format!(
                "{} ({:.2}×)",
                signed_ms(o.median, f.median),
                ratio(o.median, f.median)
            ),
            target: format!("≤ {}", ms(DRAIN_TARGET)),
            met: Met::when(o.median <= DRAIN_TARGET),
        });
        cases += 1;
    }
    ensure!(cases > 0, "bench_drain printed no BENCH line");
    Ok(s)
}

// ---- 7. not measured ----------------------------------------------------------------------
// ---- 5b. handover downtime ---------------------------------------------------------------

fn handover_section(root: &Path) -> Result<Section> {
    let mut s = Section::new(HANDOVER_TITLE);
    s.notes.push(format!(
        "`tests/examples/bench_handover.rs`, release builds of it and of `container`: the \
         switch in a box (redis-server, fake API server, the kubelet simulator's pod parked in \
         the real `container state up kube` on the Docker Engine). local → kube: from the local \
         container's exit (Docker's `FinishedAt`) to STATE_DB saying KUBE_RUNNING (read every \
         millisecond), the approval being the unit's `container stop` then `container start` \
         (what hostcfgd-watcher's `systemctl try-restart` runs), so two process starts are \
         inside the figure. kube → local: from the pod container's exit (Docker's wait \
         returning) to the local container's `StartedAt`, through `container stop` (which \
         waits for the pod to go) and `container start`. The engine's own stop time is outside \
         both figures. No floor. {HANDOVER_RUNS} cycles."
    ));
    let mut build = cmd::cargo(root);
    build.args([
        "build",
        "--release",
        "-p",
        "container-cmd",
        "-p",
        "kube-labeler",
    ]);
    cmd::run(&mut build)?;
    let mut run = cmd::cargo(root);
    run.args([
        "run",
        "--release",
        "--package",
        "ctrmgr-tests",
        "--example",
        "bench_handover",
        "--",
        "--iterations",
        &HANDOVER_RUNS.to_string(),
    ]);
    run.env("CTRMGR_REQUIRE_DOCKER", "1");
    eprintln!("$ {}", cmd::display(&run));
    let out = run
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .with_context(|| format!("failed to run `{}`", cmd::display(&run)))?;
    ensure!(
        out.status.success(),
        "`{}` failed: {}",
        cmd::display(&run),
        out.status
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.strip_prefix("BENCH handover "))
        .context("bench_handover printed no BENCH line")?;
    let micros = |name: &str| -> Result<Vec<Duration>> {
        line.split(' ')
            .find_map(|w| w.strip_prefix(name).and_then(|w| w.strip_prefix('=')))
            .with_context(|| format!("bench_handover's line has no {name}: {line}"))?
            .split(',')
            .map(|v| {
                v.parse::<u64>()
                    .map(Duration::from_micros)
                    .with_context(|| format!("bench_handover's {name} has {v:?}"))
            })
            .collect()
    };
    for (name, what) in [
        (
            "l2k_us",
            "local → kube: local exit → kube container proceeding",
        ),
        (
            "k2l_us",
            "kube → local: kube exit → local container running",
        ),
    ] {
        let o = Stats::of(&micros(name)?)?;
        s.rows.push(Row {
            what: format!("{what} ({} runs)", o.runs),
            floor: "—".to_owned(),
            ours: o.show(),
            compared: "—".to_owned(),
            target: format!("≤ {}", ms(HANDOVER_TARGET)),
            met: Met::when(o.median <= HANDOVER_TARGET),
        });
    }
    Ok(s)
}

// ---- 6. not measured ----------------------------------------------------------------------

fn not_measured(root: &Path) -> Section {
    let mut s = Section::new("Not measured yet");
    s.notes.push(
        "Targets of DESIGN.md §10 whose programs do not exist yet. No figure is given for them."
            .to_owned(),
    );
    // The daemons' rows are measured in their own section once their binaries exist.
    let exists = |bin: &str| root.join("bins").join(bin).join("Cargo.toml").exists();
    let reason = |bin: &str| format!("not measured: {bin} not built yet");
    let rows = [
        (
            "hostcfgd-watcher reacts to kube_pending (HSET → first systemctl call)",
            "hostcfgd-watcher",
            "≤ 5 ms p99",
        ),
        ("hostcfgd-watcher idle wake-ups", "hostcfgd-watcher", "0/s"),
        (
            "kube-monit idle wake-ups between deadlines",
            "kube-monit",
            "0/s",
        ),
    ];
    for (what, bin, target) in rows {
        if exists(bin) {
            continue;
        }
        s.rows.push(Row {
            what: what.to_owned(),
            floor: "—".to_owned(),
            ours: reason(bin),
            compared: "—".to_owned(),
            target: target.to_owned(),
            met: Met::NotJudged,
        });
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_take_the_middle_and_the_nearest_rank_p99() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let s = Stats::of(&samples).expect("samples");
        assert_eq!(s.runs, 100);
        assert_eq!(s.median, Duration::from_micros(50_500));
        assert_eq!(s.p99, Duration::from_millis(99));
        let odd = Stats::of(&[3, 1, 2].map(Duration::from_millis)).expect("samples");
        assert_eq!(odd.median, Duration::from_millis(2));
        assert_eq!(odd.p99, Duration::from_millis(3));
        assert!(
            Stats::of(&[]).is_err(),
            "no samples is an error, not a zero"
        );
    }

    #[test]
    fn the_paired_difference_cancels_drift_between_pairs() {
        // The floor drifts between 100 ms and 300 ms; ours is 2 ms slower than the floor of
        // its pair, except for one outlier. The paired difference is 2 ms all the same.
        let floor: Vec<Duration> = [100, 300, 120, 280, 200]
            .map(Duration::from_millis)
            .to_vec();
        let ours: Vec<Duration> = [102, 302, 122, 282, 260]
            .map(Duration::from_millis)
            .to_vec();
        let d = paired_difference(&ours, &floor).expect("paired samples");
        assert!((d - 0.002).abs() < 1e-9, "{d}");
        assert!(paired_difference(&ours, &floor[1..]).is_err());
        assert_eq!(signed_secs(-0.0015), "−1.50 ms");
        assert_eq!(signed_secs(0.0123), "+12.3 ms");
    }

    #[test]
    fn socket_writes_follow_only_the_named_socket_until_closed() {
        let strace = r#"101  connect(3, {sa_family=AF_UNIX, sun_path="/dev/log"}, 11) = 0
101  write(3, "<14>hello", 9) = 9
101  connect(9, {sa_family=AF_UNIX, sun_path="/run/redis.sock"}, 26) = 0
101  writev(9, [{iov_base="*2\r\n$6\r\nSELECT\r\n", iov_len=16}], 1) = 16
102  sendto(9, "*2\r\n$7\r\nHGETALL\r\n"..., 32, 0, NULL, 0 <unfinished ...>
102  <... sendto resumed>) = 32
101  close(9) = 0
101  write(9, "not the socket any more", 23) = 23
101  connect(10, {sa_family=AF_UNIX, sun_path="/run/redis.sock"}, 26) = -1 ENOENT (No such file or directory)
101  write(10, "refused", 7) = 7
"#;
        assert_eq!(socket_writes(strace, "/run/redis.sock"), ["*2", "*2"]);
    }

    #[test]
    fn http_requests_are_read_from_request_lines_only() {
        let writes = [
            "POST /v1.41/containers/x/start HTTP/1.1".to_owned(),
            "{\"body\": 1}".to_owned(),
            "GET /v1.41/containers/x/json HTTP/1.1".to_owned(),
        ];
        assert_eq!(
            http_requests(&writes),
            [
                ("POST".to_owned(), "/v1.41/containers/x/start".to_owned()),
                ("GET".to_owned(), "/v1.41/containers/x/json".to_owned()),
            ]
        );
    }

    #[test]
    fn json_strings_escape_quotes_backslashes_and_controls() {
        assert_eq!(json_string(r#"a"b\c"#), r#""a\"b\\c""#);
        assert_eq!(json_string("x\ny"), r#""x\u000ay""#);
    }

    #[test]
    fn the_db_config_puts_both_databases_on_the_socket() {
        let text = db_config_json(Path::new("/tmp/x/redis.sock"));
        assert!(
            text.contains(r#""unix_socket_path": "/tmp/x/redis.sock""#),
            "{text}"
        );
        assert!(
            text.contains(r#""CONFIG_DB": {"id": 4, "separator": "|", "instance": "redis"}"#),
            "{text}"
        );
        assert!(
            text.contains(r#""STATE_DB": {"id": 6, "separator": "|", "instance": "redis"}"#),
            "{text}"
        );
    }
}
