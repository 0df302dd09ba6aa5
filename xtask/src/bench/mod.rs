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
//!    `kube-monit run`; and 64 features approved at once against one ([`approvals`]).
//! 6. **Drain**: `tests/examples/bench_drain.rs` (release build) drains 10,000 pending label
//!    operations through the real `LabelService`, Redis and kube-rs against the fake API server.
//! 7. **Handover downtime**: `tests/examples/bench_handover.rs` (release build) in the switch
//!    in a box: local → kube and kube → local, from one owner's exit to the other running.
//! 8. What cannot be measured yet, and why.
//!
//! Each part lives in a module of its own, named after it; [`report`] renders the file.
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
mod daemons;
mod docker;
mod drain;
mod handover;
mod process;
mod redis;
mod report;
mod setup;
mod sizes;
mod unmeasured;
mod wait;

use daemons::*;
use docker::*;
use drain::*;
use handover::*;
use process::*;
use redis::*;
use report::*;
use setup::*;
use sizes::*;
use unmeasured::*;
use wait::*;

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
    fs::write(&path, &text).with_context(|| format!("cannot write {}", path.display()))?;
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
