//! The cargo-fuzz part of `cargo xtask reliability` (issue 15, point 5; docs/decisions.md
//! hostile-6): builds `fuzz/` with the nightly toolchain and cargo-fuzz (installed when
//! missing), runs each target for a bounded time, and reports its executions and crashes as
//! `RELIABILITY fuzz-<target> …` lines, which `reliability` turns into rows of RELIABILITY.md.
//! Each target calls the same property function of ctrmgr-hostile as the stable seeded test of
//! its parser. CI never builds `fuzz/` (nightly, and minutes of build); it runs the stable
//! tests.
//!
//! `CTRMGR_FUZZ_SECS` sets the time per target (default 25); `CTRMGR_FUZZ_SECS=0` skips
//! fuzzing.

use std::path::Path;
use std::process::Command;

use anyhow::{Context as _, Result};

use crate::cmd;

/// The targets of `fuzz/Cargo.toml`.
pub const TARGETS: &[&str] = &[
    "database_config",
    "tunables",
    "kubeconfig",
    "service_spec",
    "labels",
    "selfid",
    "argv",
];

/// How `ctrmgr_hostile::Verdict::assert_clean` starts its panic message (ctrmgr-hostile's
/// `RULE_BROKEN`; xtask does not link that crate).
const RULE_BROKEN: &str = "hostile-input rule broken";

/// `rustup run nightly <program>`, without the environment of the stable cargo that runs
/// xtask (which would otherwise pick the toolchain).
fn nightly(root: &Path, program: &str) -> Command {
    let mut c = Command::new("rustup");
    c.args(["run", "nightly", program])
        .current_dir(root)
        .env_remove("CARGO")
        .env_remove("RUSTUP_TOOLCHAIN")
        .env_remove("RUSTC")
        .env_remove("RUSTDOC");
    c
}

/// Whether `c` runs and exits 0 (its output discarded).
fn works(mut c: Command) -> bool {
    c.output().is_ok_and(|o| o.status.success())
}

/// Runs every target for the configured time; returns the `RELIABILITY` lines, or why
/// fuzzing was not run (no nightly toolchain, cargo-fuzz cannot be installed). A crash is
/// reported in its line (panics=1 or violations=1), with the reproducer's path printed.
pub fn run(root: &Path) -> Result<Result<String, String>> {
    let secs: u64 = std::env::var("CTRMGR_FUZZ_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(25);
    if secs == 0 {
        return Ok(Err("skipped (CTRMGR_FUZZ_SECS=0)".to_owned()));
    }
    let mut probe = nightly(root, "rustc");
    probe.arg("--version");
    if !works(probe) {
        return Ok(Err(
            "not run: no nightly toolchain (`rustup toolchain install nightly`)".to_owned(),
        ));
    }
    let mut probe = nightly(root, "cargo");
    probe.args(["fuzz", "--version"]);
    if !works(probe) {
        let mut install = nightly(root, "cargo");
        install.args(["install", "cargo-fuzz", "--locked"]);
        eprintln!("$ {}", cmd::display(&install));
        let ok = install.status().is_ok_and(|s| s.success());
        if !ok {
            return Ok(Err("not run: `cargo install cargo-fuzz` failed".to_owned()));
        }
    }
    // Rust needs no AddressSanitizer (`unsafe` is forbidden in the workspace): coverage
    // guidance only, which builds and runs several times faster.
    let mut build = nightly(root, "cargo");
    build.args(["fuzz", "build", "--sanitizer", "none"]);
    eprintln!("$ {}", cmd::display(&build));
    let status = build
        .status()
        .with_context(|| format!("cannot run `{}`", cmd::display(&build)))?;
    if !status.success() {
        anyhow::bail!("`{}` failed: {status}", cmd::display(&build));
    }
    let mut lines = String::new();
    for target in TARGETS {
        let corpus = root.join("fuzz/corpus").join(target);
        std::fs::create_dir_all(&corpus)
            .with_context(|| format!("cannot create {}", corpus.display()))?;
        let mut fuzz = nightly(root, "cargo");
        fuzz.args(["fuzz", "run", "--sanitizer", "none", target])
            .arg(&corpus)
            .arg(root.join("fuzz/seeds").join(target))
            .arg("--")
            .arg(format!("-max_total_time={secs}"))
            .args(["-print_final_stats=1", "-timeout=10", "-rss_limit_mb=2048"]);
        eprintln!("$ {}", cmd::display(&fuzz));
        let out = fuzz
            .output()
            .with_context(|| format!("cannot run `{}`", cmd::display(&fuzz)))?;
        let text = format!(
            "{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let execs = stat(&text, "stat::number_of_executed_units").unwrap_or(0);
        let crashed = !out.status.success();
        let (violations, panics) = match (crashed, text.contains(RULE_BROKEN)) {
            (false, _) => (0, 0),
            (true, true) => (1, 0),
            (true, false) => (0, 1),
        };
        if crashed {
            let tail: Vec<&str> = text.lines().rev().take(30).collect();
            eprintln!(
                "fuzz target {target} crashed:\n{}",
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let corpus_size = std::fs::read_dir(&corpus).map_or(0, Iterator::count);
        lines.push_str(&format!(
            "RELIABILITY fuzz-{target} tried={execs} survived={} lost=0 violations={violations} panics={panics} corpus={corpus_size} seconds={secs}\n",
            execs.saturating_sub(u64::from(crashed)),
        ));
    }
    Ok(Ok(lines))
}

/// The value of libFuzzer's final `stat::<name>: N` line.
fn stat(text: &str, name: &str) -> Option<u64> {
    text.lines()
        .rev()
        .filter_map(|l| l.trim().strip_prefix(name))
        .find_map(|rest| rest.trim_start_matches(':').trim().parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_final_stats_are_read() {
        let text = "#2\tINITED\nDone 1234 runs in 2 second(s)\nstat::number_of_executed_units: 1234\nstat::average_exec_per_sec:     617\n";
        assert_eq!(stat(text, "stat::number_of_executed_units"), Some(1234));
        assert_eq!(stat(text, "stat::peak_rss_mb"), None);
    }

    #[test]
    fn every_target_is_in_the_fuzz_manifest() {
        let manifest = include_str!("../../fuzz/Cargo.toml");
        for t in TARGETS {
            assert!(manifest.contains(&format!("name = \"{t}\"")), "{t}");
        }
    }
}
