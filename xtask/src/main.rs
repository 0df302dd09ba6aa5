//! # xtask
//!
//! The project's automation, in Rust (matklad's cargo-xtask): the same commands run on a
//! laptop, in `.ci/run` and in the README. `.cargo/config.toml` makes `cargo xtask …` an alias
//! for `cargo run --package xtask -- …`.
//!
//! A tour:
//! - [`mod@bench`]: the performance targets of DESIGN.md §10, each measured against a floor in the
//!   same run, written to `BENCHMARKS.md`.
//! - [`codegen`]: `docs/state-machine.md`, generated from `ctrmgr_core::step` itself (every
//!   state × input × configuration), and its staleness check.
//! - [`dist`]: the Debian packages (`debian/`, dpkg-buildpackage, lintian) in `target/dist/`, the
//!   package layout in `target/dist/root/`, with shell completions and man pages generated from
//!   the binaries' clap definitions.
//! - [`demo`]: the seed's end-to-end scenarios walked through the core with a tiny in-process
//!   world, printed as tables.
//! - [`prereq`]: what the tests need on the machine (redis-server, a Docker Engine), installed
//!   or started when we may, or a clear message saying what to install.
//! - [`reliability`]: the bounded reliability checks run large, written to `RELIABILITY.md`;
//!   [`fuzz`]: its cargo-fuzz targets, run for a bounded time each.
//! - [`cmd`]: running child processes from argv (never through a shell), echoing each one.
//! - [`render`]: the plain-text spelling of the core's effects, shared by codegen and demo.

mod bench;
mod cmd;
mod codegen;
mod demo;
mod dist;
mod fuzz;
mod prereq;
mod reliability;
mod render;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context as _, Result};

const HELP: &str = "\
usage: cargo xtask <command>

commands:
  ci                run everything CI runs: fmt --check, clippy -D warnings, codegen --check,
                    rustdoc -D warnings, the dependency rules (a pure core; no kube in
                    `container --no-default-features`), then `test` with the costly
                    #[ignore]d tests included
  test              make sure redis-server (and a Docker Engine, when wanted) are there, then
                    run the workspace's tests (cargo nextest, else cargo test) and doctests
  demo              run the switch in a box for real (Redis, the fake master, the kubelet
                    simulator on Docker, the real binaries) and print a live transcript of
                    the seed's story; installs redis-server docker.io busybox-static and
                    starts a Docker Engine when root and missing
  demo --model      walk the seed's scenarios through the core in-process (no installs)
  bench             measure DESIGN.md §10's targets (dist binaries, a redis-server, a Docker
                    Engine — started when root —, the fake API server), each against a floor
                    measured in the same run; write BENCHMARKS.md and print it
  bench --only <section>...
                    run only these sections (daemons, approvals) and print them; no
                    BENCHMARKS.md
  reliability       run the reliability checks (hostile input, …) with many seeded inputs;
                    write RELIABILITY.md with tried / survived / lost / violations / panics
  codegen [--check] write docs/state-machine.md from ctrmgr_core::step; with --check, fail
                    when the file on disk is stale
  dist [--no-build] build the Debian packages sonic-ctrmgr and sonic-ctrmgr-local
                    (dpkg-buildpackage -b -us -uc; cargo profile dist, or CTRMGR_CARGO_PROFILE)
                    into target/dist/ and check them with lintian; then lay out the package
                    in target/dist/root/: binaries, packaging/ files, shell completions (bash,
                    zsh, fish) and man pages generated from the clap definitions; with
                    --no-build, only the layout, from binaries already built
  completions <dir> write the shell completions and man pages of every binary below <dir>
                    (debian/rules calls it)
  help              print this help
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &[String]) -> Result<ExitCode> {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    match args.as_slice() {
        ["codegen"] => codegen::write(&project_root()).map(|()| ExitCode::SUCCESS),
        ["codegen", "--check"] => codegen::check(&project_root()),
        ["test"] => test(false).map(|()| ExitCode::SUCCESS),
        ["ci"] => ci(),
        ["bench"] => bench::run(&project_root()).map(|()| ExitCode::SUCCESS),
        ["bench", "--only", names @ ..] if !names.is_empty() => {
            bench::run_only(&project_root(), names).map(|()| ExitCode::SUCCESS)
        }
        ["reliability"] => reliability::run(&project_root()).map(|()| ExitCode::SUCCESS),
        ["dist"] => dist::run(&project_root(), true).map(|()| ExitCode::SUCCESS),
        ["dist", "--no-build"] => dist::run(&project_root(), false).map(|()| ExitCode::SUCCESS),
        ["completions", dir] => dist::completions(Path::new(dir)).map(|()| ExitCode::SUCCESS),
        ["demo"] => live_demo(),
        ["demo", "--model"] => {
            let mut out = std::io::stdout().lock();
            demo::run(&mut out).context("cannot print the demo")?;
            out.flush().context("cannot print the demo")?;
            Ok(ExitCode::SUCCESS)
        }
        [] | ["help" | "-h" | "--help"] => {
            print!("{HELP}");
            Ok(ExitCode::SUCCESS)
        }
        _ => {
            eprintln!("xtask: unknown command or arguments: {}\n", args.join(" "));
            eprint!("{HELP}");
            Ok(ExitCode::from(2))
        }
    }
}

/// The workspace root: xtask lives one level below it.
fn project_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .parent()
        .map_or_else(|| manifest_dir.to_path_buf(), Path::to_path_buf)
}

/// `cargo xtask test`: prerequisites, then every test of the workspace, then the doctests.
/// `--no-fail-fast`: one run reports every failing test, not just the first. `run_ignored`
/// (set by `ci`) also runs the tests marked `#[ignore]` for their cost — the extended model
/// check, about two minutes.
fn test(run_ignored: bool) -> Result<()> {
    let root = project_root();
    let prereqs = prereq::ensure()?;
    let nextest = cmd::succeeds(cmd::cargo(&root).args(["nextest", "--version"]));
    let mut tests = cmd::cargo(&root);
    if nextest {
        tests.args(["nextest", "run", "--workspace", "--no-fail-fast"]);
        if run_ignored {
            tests.args(["--run-ignored", "all"]);
        }
    } else {
        eprintln!("xtask: cargo-nextest is not installed; running `cargo test` instead");
        tests.args(["test", "--workspace", "--no-fail-fast"]);
        if run_ignored {
            tests.args(["--", "--include-ignored"]);
        }
    }
    prereqs.apply(&mut tests);
    cmd::run(&mut tests)?;
    let mut doctests = cmd::cargo(&root);
    doctests.args(["test", "--workspace", "--doc"]);
    prereqs.apply(&mut doctests);
    cmd::run(&mut doctests)?;
    // `prereqs` stops the Docker Engine it started (if any) when it goes out of scope here.
    drop(prereqs);
    Ok(())
}

/// `cargo xtask demo`: prerequisites (Docker required), the workspace's binaries, then the
/// `demo` example of ctrmgr-tests (the switch in a box, see `tests/examples/demo.rs`), which
/// tears everything it made down, also on Ctrl-C.
fn live_demo() -> Result<ExitCode> {
    let root = project_root();
    let prereqs = prereq::ensure_with(true)?;
    cmd::run(cmd::cargo(&root).args(["build", "--workspace", "--bins"]))?;
    let mut demo = cmd::cargo(&root);
    demo.args(["run", "--quiet", "-p", "ctrmgr-tests", "--example", "demo"]);
    prereqs.apply(&mut demo);
    let status = demo.status().context("cannot run the demo")?;
    // `prereqs` stops the Docker Engine it started (if any) when it goes out of scope here.
    drop(prereqs);
    Ok(if status.success() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Packages that do I/O or run an async runtime: the pure core must depend on none of them, and
/// `container` built without its `kube` feature must link no Kubernetes client.
const IMPURE: &[&str] = &[
    "tokio",
    "redis",
    "kube",
    "kube-client",
    "k8s-openapi",
    "bollard",
    "hyper",
];

/// The names of the packages `cargo tree` lists for `args` (normal and build dependencies).
fn dependency_names(root: &Path, args: &[&str]) -> Result<Vec<String>> {
    let out = cmd::output(
        cmd::cargo(root)
            .args([
                "tree",
                "--edges",
                "normal,build",
                "--prefix",
                "none",
                "--format",
                "{p}",
            ])
            .args(args),
    )?;
    Ok(out
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(str::to_owned)
        .collect())
}

/// Checks the one-way dependency rules of DESIGN.md §2 with `cargo tree`.
fn dependency_direction(root: &Path) -> Result<()> {
    eprintln!("$ cargo tree -p ctrmgr-core; cargo tree -p container-cmd --no-default-features");
    let core = dependency_names(root, &["-p", "ctrmgr-core"])?;
    let bad: Vec<_> = core
        .iter()
        .filter(|n| IMPURE.contains(&n.as_str()))
        .collect();
    if !bad.is_empty() {
        anyhow::bail!("ctrmgr-core must stay pure, but depends on {bad:?}");
    }
    let container = dependency_names(root, &["-p", "container-cmd", "--no-default-features"])?;
    let kube: Vec<_> = container
        .iter()
        .filter(|n| n.starts_with("kube") || n.starts_with("k8s"))
        .collect();
    if !kube.is_empty() {
        anyhow::bail!("container without the kube feature must not link {kube:?}");
    }
    eprintln!(
        "xtask: ctrmgr-core depends on none of {IMPURE:?}; container --no-default-features links no kube"
    );
    Ok(())
}

/// `cargo xtask ci`: every check CI runs, failing at the first one that fails.
fn ci() -> Result<ExitCode> {
    let root = project_root();
    cmd::run(cmd::cargo(&root).args(["fmt", "--all", "--", "--check"]))?;
    cmd::run(cmd::cargo(&root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--",
        "-D",
        "warnings",
    ]))?;
    eprintln!("$ cargo xtask codegen --check");
    let code = codegen::check(&root)?;
    if code != ExitCode::SUCCESS {
        return Ok(code);
    }
    cmd::run(
        cmd::cargo(&root)
            .args(["doc", "--workspace", "--no-deps"])
            .env("RUSTDOCFLAGS", "-Dwarnings"),
    )?;
    dependency_direction(&root)?;
    test(true)?;
    Ok(ExitCode::SUCCESS)
}
