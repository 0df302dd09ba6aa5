//! The report (sections, rows, verdicts) and its statistics and formatting.

use super::*;

/// Whether a target was met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Met {
    Yes,
    No,
    /// No target applies, or nothing was measured.
    NotJudged,
}

impl Met {
    pub(super) fn when(ok: bool) -> Self {
        if ok { Met::Yes } else { Met::No }
    }

    pub(super) fn as_str(self) -> &'static str {
        match self {
            Met::Yes => "yes",
            Met::No => "**no**",
            Met::NotJudged => "—",
        }
    }
}

/// One line of a section's table.
#[derive(Debug)]
pub(super) struct Row {
    pub(super) what: String,
    pub(super) floor: String,
    pub(super) ours: String,
    pub(super) compared: String,
    pub(super) target: String,
    pub(super) met: Met,
}

/// One target (or group of targets) with its table.
#[derive(Debug)]
pub(super) struct Section {
    pub(super) title: String,
    /// Paragraphs before the table: what the floor is, how the figures were taken.
    pub(super) notes: Vec<String>,
    pub(super) rows: Vec<Row>,
    /// Whether something could not be measured because of an error.
    pub(super) failed: bool,
}

impl Section {
    pub(super) fn new(title: &str) -> Self {
        Self {
            title: title.to_owned(),
            notes: Vec::new(),
            rows: Vec::new(),
            failed: false,
        }
    }

    /// A section whose measurement failed: one row saying why.
    pub(super) fn failed(title: &str, e: &anyhow::Error) -> Self {
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
pub(super) struct Machine {
    pub(super) date: String,
    pub(super) cpus: usize,
    pub(super) cpu_model: String,
    pub(super) kernel: String,
    pub(super) rustc: String,
    pub(super) commit: String,
}

/// Every section, rendered as Markdown.
#[derive(Debug)]
pub(super) struct Report {
    pub(super) machine: Machine,
    pub(super) sections: Vec<Section>,
}

impl Report {
    pub(super) fn new(machine: Machine) -> Self {
        Self {
            machine,
            sections: Vec::new(),
        }
    }

    pub(super) fn push(&mut self, section: Section) {
        self.sections.push(section);
    }

    pub(super) fn failed(&self) -> bool {
        self.sections.iter().any(|s| s.failed)
    }

    pub(super) fn render(&self, took: Duration) -> String {
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
pub(super) fn cell(s: &str) -> String {
    one_line(s).replace('|', "\\|")
}

/// The text on one line.
pub(super) fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Date, CPUs, kernel, compiler, commit.
pub(super) fn machine(root: &Path) -> Machine {
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
pub(super) struct Stats {
    pub(super) runs: usize,
    pub(super) median: Duration,
    pub(super) p99: Duration,
}

impl Stats {
    /// Median (the mean of the middle two for an even count) and p99 (nearest rank).
    pub(super) fn of(samples: &[Duration]) -> Result<Self> {
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

    pub(super) fn show(&self) -> String {
        format!("{} (p99 {})", ms(self.median), ms(self.p99))
    }
}

/// Milliseconds, with precision that suits the size.
pub(super) fn ms(d: Duration) -> String {
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
pub(super) fn signed_ms(ours: Duration, floor: Duration) -> String {
    if ours >= floor {
        format!("+{}", ms(ours - floor))
    } else {
        format!("−{}", ms(floor - ours))
    }
}

/// A signed difference given in seconds, shown in milliseconds.
pub(super) fn signed_secs(secs: f64) -> String {
    let shown = ms(Duration::from_secs_f64(secs.abs()));
    if secs >= 0.0 {
        format!("+{shown}")
    } else {
        format!("−{shown}")
    }
}

/// The median of `ours[i] − floor[i]` in seconds: each pair ran back to back, so the
/// difference cancels whatever the engine's speed did between pairs.
pub(super) fn paired_difference(ours: &[Duration], floor: &[Duration]) -> Result<f64> {
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
pub(super) fn mib(bytes: u64) -> String {
    #[allow(clippy::cast_precision_loss)] // sizes far below 2^52
    let v = bytes as f64 / (1024.0 * 1024.0);
    format!("{v:.2} MiB")
}

/// ours / floor.
pub(super) fn ratio(ours: Duration, floor: Duration) -> f64 {
    let f = floor.as_secs_f64();
    if f > 0.0 {
        ours.as_secs_f64() / f
    } else {
        f64::INFINITY
    }
}
