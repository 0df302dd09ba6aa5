//! `cargo xtask reliability`: the bounded reliability checks of issue 15, run with many more
//! inputs than CI gives them, collected into `RELIABILITY.md` at the repository root.
//!
//! Each check is an ordinary test (so a small, seeded part of it runs in `cargo xtask test`)
//! that reads its size from `CTRMGR_RELIABILITY_CASES` and prints one line
//! `RELIABILITY <name> tried=N survived=N lost=N violations=N panics=N …`; this command runs
//! those tests with a large size and turns the lines into one table row each. The checks in
//! the e2e world (crash injection, component faults, races: [`WORLD_SUITES`]) run whole
//! scenarios per seed, so they get their own, smaller sizes (docs/decisions.md, rel-2,
//! crash-3, crash-4).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context as _, Result, bail};

use crate::cmd;

/// How many inputs each check tries in the full run (CI's default is 2000).
const CASES: u64 = 100_000;

/// The test suites that print `RELIABILITY` lines: package, test binary, name filter, and
/// what each check does, by the name it prints.
const SUITES: &[(&str, &str, &str)] = &[
    ("ctrmgr-core", "core", "hostile::"),
    ("ctrmgr-hostile", "hostile", "hostile_"),
];

/// The checks in the e2e world and the join's disk faults (issue 15, points 2-4): package,
/// test binary, name filter, and the size of the full run (seeds, rounds, or seconds of
/// flapping; each is a whole scenario with real processes, Docker and Redis).
const WORLD_SUITES: &[(&str, &str, &str, u64)] = &[
    ("ctrmgr-tests", "e2e", "crash::crash_injection", 200),
    ("ctrmgr-tests", "e2e", "faults::redis_restarted", 10),
    ("ctrmgr-tests", "e2e", "faults::dockerd_restarted", 10),
    ("ctrmgr-tests", "e2e", "faults::a_flapping_master", 120),
    ("hostcfgd-watcher", "hostcfgd", "join::a_join_onto", 1),
    ("ctrmgr-tests", "e2e", "races::concurrent_start", 30),
    ("ctrmgr-tests", "e2e", "races::an_approval", 10),
    ("ctrmgr-tests", "e2e", "races::two_drains", 200),
    ("ctrmgr-tests", "e2e", "races::many_features", 5),
];

/// What each check feeds in, by the name its test prints.
const WHAT: &[(&str, &str)] = &[
    (
        "hostile-names-and-labels",
        "hostile strings as feature names, container ids, label keys, values and operations",
    ),
    (
        "hostile-state-db-rows",
        "hostile STATE_DB rows: FEATURE records, KUBE_SERVER status, PENDING_LABELS",
    ),
    (
        "hostile-config-db-rows",
        "hostile CONFIG_DB rows: FEATURE config, KUBERNETES_MASTER, DEVICE_METADATA",
    ),
    (
        "hostile-database-config",
        "hostile database_config.json: SONiC's with one value made hostile, hostile documents, corrupted text",
    ),
    (
        "hostile-tunables",
        "hostile ctrmgr.json: the real keys with hostile values, unknown keys, corrupted text",
    ),
    (
        "hostile-kubeconfig",
        "hostile kubeconfigs / admin.conf: structure, servers, secrets where the parser fails (never repeated)",
    ),
    (
        "hostile-service-specs",
        "hostile service install specs: names, units, paths, shell lines; every path install would write checked",
    ),
    (
        "hostile-labels",
        "hostile KUBE_LABELS|SET rows and label add/drop arguments",
    ),
    (
        "hostile-mountinfo",
        "hostile /proc/self/mountinfo (container self-identification)",
    ),
    (
        "hostile-cgroup",
        "hostile /proc/self/cgroup (container self-identification)",
    ),
    (
        "hostile-argv-container",
        "hostile argv of `container` (clap)",
    ),
    (
        "hostile-argv-kube-labeler",
        "hostile argv of `kube-labeler` (clap)",
    ),
    (
        "hostile-argv-hostcfgd-watcher",
        "hostile argv of `hostcfgd-watcher` (clap)",
    ),
    (
        "hostile-argv-kube-monit",
        "hostile argv of `kube-monit` (clap)",
    ),
    (
        "hostile-argv-sonic-kube",
        "hostile argv of `sonic-kube` (clap)",
    ),
    (
        "fuzz-database_config",
        "cargo-fuzz (coverage-guided): database_config.json",
    ),
    ("fuzz-tunables", "cargo-fuzz (coverage-guided): ctrmgr.json"),
    (
        "fuzz-kubeconfig",
        "cargo-fuzz (coverage-guided): kubeconfig / admin.conf",
    ),
    (
        "fuzz-service_spec",
        "cargo-fuzz (coverage-guided): service install specs",
    ),
    (
        "fuzz-labels",
        "cargo-fuzz (coverage-guided): KUBE_LABELS|SET rows, label arguments",
    ),
    (
        "fuzz-selfid",
        "cargo-fuzz (coverage-guided): mountinfo and cgroup",
    ),
    (
        "fuzz-argv",
        "cargo-fuzz (coverage-guided): every binary's argv",
    ),
    (
        "crash-injection",
        "seeded scenarios (owner switches, starts, stops, labels, master down/up) with kill -9 of a random daemon or `container` at a random moment, restarted as systemd would",
    ),
    (
        "fault-redis-restart",
        "redis-server shut down mid-handover and started again from its dump; daemons' CPU bounded meanwhile",
    ),
    (
        "fault-dockerd-restart",
        "the test's own dockerd stopped (SIGTERM) or killed (SIGKILL, `killed` in the line) mid-handover and started again; daemons' CPU bounded meanwhile",
    ),
    (
        "fault-master-flapping",
        "the master refusing, hanging, answering 500/503 in turn every 2 s (tried = faults; seconds in the line) with label ops and restarts",
    ),
    (
        "fault-kubeconfig-disk",
        "the kubeconfig's disk full, then read-only (a 64 KiB tmpfs) during a join",
    ),
    (
        "race-start-stop-kill",
        "rounds of 4-8 concurrent `container start`/`stop`/`kill` of one feature",
    ),
    (
        "race-approval-vs-owner-change",
        "hostcfgd-watcher's approval racing `sonic-kube config feature owner`",
    ),
    (
        "race-two-drains",
        "rounds of two `kube-labeler drain` at once over adds and drops of the same keys",
    ),
    (
        "race-many-features",
        "five features' units started and stopped at once",
    ),
];

/// One parsed `RELIABILITY` line.
struct Row {
    name: String,
    counts: BTreeMap<String, String>,
}

/// Parses the `RELIABILITY …` lines of a test run's output.
fn parse(out: &str) -> Vec<Row> {
    out.lines()
        .filter_map(|l| {
            l.find("RELIABILITY ")
                .map(|i| &l[i + "RELIABILITY ".len()..])
        })
        .filter_map(|rest| {
            let mut words = rest.split_whitespace();
            let name = words.next()?.to_owned();
            let counts = words
                .filter_map(|w| w.split_once('='))
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            Some(Row { name, counts })
        })
        .collect()
}

/// Runs every check with [`CASES`] inputs, writes `RELIABILITY.md` and prints it. Fails
/// (after writing) when a check fails or reports a panic, a violation or a lost operation.
pub fn run(root: &Path) -> Result<()> {
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    // The world's checks run the workspace's binaries.
    cmd::run(cmd::cargo(root).args(["build", "--workspace", "--bins"]))?;
    let suites = SUITES
        .iter()
        .map(|(p, b, f)| (*p, *b, *f, CASES))
        .chain(WORLD_SUITES.iter().copied());
    for (package, binary, filter, cases) in suites {
        let mut test = cmd::cargo(root);
        test.args(["test", "--package", package, "--test", binary, "--", filter])
            .args(["--nocapture", "--test-threads=1"])
            .env("CTRMGR_RELIABILITY_CASES", cases.to_string())
            .env("CTRMGR_REQUIRE_DOCKER", "1");
        eprintln!("$ {}", cmd::display(&test));
        let out = test
            .output()
            .with_context(|| format!("cannot run `{}`", cmd::display(&test)))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            failed.push(format!(
                "{package} {binary} {filter}: {}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        rows.extend(parse(&stdout));
    }
    match crate::fuzz::run(root)? {
        Ok(lines) => rows.extend(parse(&lines)),
        Err(why) => rows.push(Row {
            name: format!("fuzz: {why}"),
            counts: BTreeMap::new(),
        }),
    }
    for row in &rows {
        for bad in ["lost", "violations", "panics"] {
            if row.counts.get(bad).is_some_and(|v| v != "0") {
                failed.push(format!("{}: {bad}={}", row.name, row.counts[bad]));
            }
        }
    }
    let report = render(&rows, started.elapsed().as_secs());
    let path = root.join("RELIABILITY.md");
    std::fs::write(&path, &report).with_context(|| format!("cannot write {}", path.display()))?;
    print!("{report}");
    if rows.is_empty() {
        bail!("no check printed a RELIABILITY line");
    }
    if !failed.is_empty() {
        bail!("reliability checks failed:\n{}", failed.join("\n"));
    }
    Ok(())
}

/// The markdown report.
fn render(rows: &[Row], seconds: u64) -> String {
    let mut s = String::new();
    s.push_str("# Reliability\n\n");
    s.push_str(
        "Written by `cargo xtask reliability` (issue 15). Each row is a check run with \
         many seeded inputs; CI runs the same tests with 2000 inputs each (the checks in the \
         e2e world with a few seeds). \
         \"Survived\" counts inputs after which the code under test neither panicked nor \
         broke the check's rule (no panic, every rejection one line, no injectable name \
         accepted; in the e2e world: every feature reached the state asked for, no label \
         operation lost, no invariant of DESIGN.md §4 broken).\n\n",
    );
    let _ = writeln!(s, "Generated on {} in {seconds} s.\n", host());
    s.push_str(
        "| check | what | injected / tried | survived | operations lost | invariant violations | inputs rejected | panics |\n",
    );
    s.push_str("|---|---|---|---|---|---|---|---|\n");
    for row in rows {
        let what = WHAT
            .iter()
            .find(|(n, _)| *n == row.name)
            .map_or("", |(_, w)| w);
        let get = |k: &str| row.counts.get(k).map_or("-", String::as_str);
        let tried = match row.counts.get("injected") {
            Some(i) => format!("{i} / {}", get("tried")),
            None => get("tried").to_owned(),
        };
        let _ = writeln!(
            s,
            "| {} | {what} | {} | {} | {} | {} | {} | {} |",
            row.name,
            tried,
            get("survived"),
            get("lost"),
            get("violations"),
            get("rejected"),
            get("panics"),
        );
    }
    s
}

/// The machine's name, for the report's header.
fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "this machine".to_owned())
}
