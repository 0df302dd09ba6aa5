//! # ctrmgr-hostile
//!
//! Hostile input for every parser of sonic-ctrmgr that reads outside data (issue 15, point 5):
//! one *property* per parser, a seeded generator of hostile inputs, and the tally the stable
//! tests print for `cargo xtask reliability`.
//!
//! Each function of [`checks`] takes one input (bytes, as a fuzzer gives them), runs the
//! production parser on it and returns a [`Verdict`]: whether the input was rejected, and the
//! rules it broke. The rules are the same for every parser: no panic, a rejection is one
//! clear line (no line break, it names what was read), and nothing accepted carries a path,
//! Redis-key or shell injection. Two drivers call the same functions, so the same property is
//! checked both ways:
//!
//! - the stable, seeded tests of this package (`tests/hostile/`): [`Gen`] builds inputs that
//!   know each format (JSON documents with the real keys, kubeconfigs, mountinfo lines, argv
//!   with the real subcommands) and salts them with injection fragments; a few thousand per
//!   parser in `cargo xtask test`, many more in `cargo xtask reliability`;
//! - the cargo-fuzz targets of `fuzz/` (nightly, coverage-guided, run by
//!   `cargo xtask reliability` for a bounded time each), which panic on a violated rule.
//!
//! The binaries' own sources that are not in a library (the clap definitions, `container`'s
//! self-identification, kube-labeler's `KUBE_LABELS|SET` decoder) are included with `#[path]`,
//! as `cargo xtask dist` includes the clap definitions.

pub mod checks;
pub mod cli;
mod generate;

pub use generate::Gen;

/// How [`Verdict::assert_clean`]'s panic message starts: a fuzz run that ends with it found a
/// broken rule (counted as a violation), any other panic is the parser's own.
pub const RULE_BROKEN: &str = "hostile-input rule broken";

/// What one input did to a parser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Verdict {
    /// The parser refused the input (with an error).
    pub rejected: bool,
    /// The rules the parser broke on this input; empty when it behaved.
    pub violations: Vec<String>,
}

impl Verdict {
    /// Records a broken rule.
    pub fn violation(&mut self, what: impl Into<String>) {
        self.violations.push(what.into());
    }

    /// Adds another verdict's rejection and violations to this one.
    pub fn merge(&mut self, other: Verdict) {
        self.rejected |= other.rejected;
        self.violations.extend(other.violations);
    }

    /// Panics when a rule was broken: what a fuzz target does with a verdict.
    pub fn assert_clean(&self, input: &dyn std::fmt::Debug) {
        assert!(
            self.violations.is_empty(),
            "{RULE_BROKEN}: {input:?}: {:?}",
            self.violations
        );
    }
}

/// A rejection must be one line that names what was read: no line break, no other control
/// character (a terminal escape from the input must not reach an operator's screen raw), not
/// empty, and holding `names` when given.
pub fn check_message(v: &mut Verdict, what: &str, msg: &str, names: Option<&str>) {
    if msg.trim().is_empty() {
        v.violation(format!("{what}: an empty message"));
    }
    if let Some(c) = msg.chars().find(|c| c.is_control()) {
        v.violation(format!("{what} holds the control character {c:?}: {msg:?}"));
    }
    if let Some(n) = names
        && !msg.contains(n)
    {
        v.violation(format!("{what} does not name {n:?}: {msg:?}"));
    }
}

/// What an accepted name must never hold: a `.` or `..` path segment, Redis-key, glob and
/// shell syntax, white space and control characters.
pub fn injectable(s: &str) -> bool {
    s.split('/').any(|seg| seg == ".." || seg == ".")
        || s.chars().any(|c| {
            c.is_control()
                || c.is_whitespace()
                || matches!(
                    c,
                    '|' | '*' | '?' | '[' | ';' | '&' | '$' | '`' | '\'' | '"' | '\\' | '<' | '>'
                )
        })
}

/// How many inputs a stable check tries: `default` in CI; scaled by
/// `CTRMGR_RELIABILITY_CASES` / 2000 when that is set (2000 is the core's checks' default, so
/// `cargo xtask reliability`'s 100,000 runs each check 50 times its CI size).
pub fn cases(default: u64) -> u64 {
    std::env::var("CTRMGR_RELIABILITY_CASES")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
        .map_or(default, |n| (n.saturating_mul(default) / 2000).max(1))
}

/// The counts of one stable check, printed as the `RELIABILITY …` line `cargo xtask
/// reliability` parses.
#[derive(Debug, Default)]
pub struct Tally {
    tried: u64,
    failed: u64,
    rejected: u64,
    panics: u64,
    violations: Vec<String>,
}

impl Tally {
    /// Runs `check` on one input, counting a panic instead of unwinding through the test.
    pub fn one(&mut self, input: &dyn std::fmt::Debug, check: impl FnOnce() -> Verdict) {
        self.tried += 1;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(check)) {
            Ok(v) => {
                self.rejected += u64::from(v.rejected);
                if !v.violations.is_empty() {
                    self.failed += 1;
                }
                for x in v.violations {
                    self.violations.push(format!("{input:?}: {x}"));
                }
            }
            Err(_) => {
                self.panics += 1;
                self.failed += 1;
                self.violations.push(format!("{input:?}: panicked"));
            }
        }
    }

    /// Prints the `RELIABILITY` line, then fails on any panic or violation, naming the seed.
    pub fn finish(self, name: &str, seed: u64) {
        let survived = self.tried - self.failed;
        println!(
            "RELIABILITY {name} tried={} survived={survived} lost=0 violations={} panics={} rejected={} seed={seed}",
            self.tried,
            self.violations.len() - usize::try_from(self.panics).unwrap_or(0),
            self.panics,
            self.rejected,
        );
        assert!(
            self.violations.is_empty(),
            "{name}: {} violations with seed {seed}, the first: {:#?}",
            self.violations.len(),
            &self.violations[..self.violations.len().min(5)]
        );
        assert!(
            self.rejected > 0 && self.rejected < self.tried,
            "{name}: the inputs must be both accepted and rejected to test anything ({} of {} rejected)",
            self.rejected,
            self.tried
        );
    }
}
