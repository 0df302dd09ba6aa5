//! Hostile input (issue 15, point 5), fuzz-style on stable Rust: a seeded generator feeds
//! thousands of random and structured strings — Redis-key characters (`|`, `*`), path
//! traversal (`../`), shell metacharacters, new lines, NUL, any Unicode, over-long values,
//! near-miss spellings of the documented values — to every decoder of `ctrmgr-core`: the
//! STATE_DB and CONFIG_DB row decoders, the pending-labels list, feature names, container
//! ids and label keys, values and operations. Each check asserts no panic, that every
//! rejection and every warning is one line, and that an accepted name carries none of the
//! characters an injection needs.
//!
//! The number of inputs is `CTRMGR_RELIABILITY_CASES` (default 2000, a fraction of a second);
//! `cargo xtask reliability` runs them with many more and collects the `RELIABILITY …` line
//! each check prints into RELIABILITY.md (docs/decisions.md, rel-2).

use std::panic::{AssertUnwindSafe, catch_unwind};

use ctrmgr_core::codec::{self, Fields};
use ctrmgr_core::{ContainerId, FeatureName, LabelKey, LabelOp, LabelValue};

/// How many inputs each check tries.
fn cases() -> u64 {
    std::env::var("CTRMGR_RELIABILITY_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

/// A small seeded generator (xorshift64*): the same seed gives the same inputs, so a failure
/// names the seed that reproduces it.
struct Gen(u64);

impl Gen {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        // n is small; the modulo bias does not matter here.
        usize::try_from(self.next() % u64::try_from(n).unwrap_or(1)).unwrap_or(0)
    }

    /// A hostile string: pieces drawn from injection fragments, documented spellings and
    /// random characters.
    fn string(&mut self) -> String {
        const PIECES: &[&str] = &[
            "",
            "snmp",
            "local",
            "kube",
            "none",
            "kube_pending",
            "kube_ready",
            "kube_running",
            "true",
            "false",
            "enabled",
            "disabled",
            "always_enabled",
            "0",
            "-1",
            "6443",
            "99999999999999999999",
            "1700000000",
            "10.0.0.1",
            "::1",
            "a=b",
            "k-",
            "x/y",
            "../",
            "..",
            "/",
            "|",
            "*",
            "?",
            "[",
            "\n",
            "\r",
            "\0",
            "\t",
            " ",
            ";",
            "&&",
            "$(",
            "`",
            "'",
            "\"",
            "\\",
            ",",
            "=",
            "@",
            "é",
            "\u{202e}",
            "\u{feff}",
            "𝕏",
            "-",
            "_",
            ".",
            "FEATURE|snmp",
            "labels@",
            "KEYS *",
        ];
        let mut s = String::new();
        for _ in 0..self.below(6) {
            match self.below(4) {
                0 => {
                    let c = char::from_u32(u32::try_from(self.next() % 0x11_0000).unwrap_or(0))
                        .unwrap_or('\u{fffd}');
                    s.push(c);
                }
                1 if self.below(50) == 0 => s.push_str(&"a".repeat(self.below(400))),
                _ => s.push_str(PIECES[self.below(PIECES.len())]),
            }
        }
        s
    }

    /// A row: documented field names (and random ones) with hostile values.
    fn fields(&mut self, names: &[&str]) -> Fields {
        let mut f = Fields::new();
        for name in names {
            if self.below(4) != 0 {
                f.insert((*name).to_owned(), self.string());
            }
        }
        if self.below(4) == 0 {
            f.insert(self.string(), self.string());
        }
        f
    }
}

/// What an accepted name must never hold: a `.` or `..` path segment, Redis-key, glob and
/// shell syntax, white space and control characters. (`..` inside a segment, as in the
/// label key `a..b`, is valid Kubernetes syntax and no path traversal.)
fn injectable(s: &str) -> bool {
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

/// Counts of one check, printed as the line `cargo xtask reliability` parses.
#[derive(Default)]
struct Tally {
    tried: u64,
    failed: u64,
    rejected: u64,
    panics: u64,
    violations: Vec<String>,
}

impl Tally {
    /// Runs `f` on one input, counting a panic instead of unwinding through the test.
    fn one(&mut self, input: &str, f: impl FnOnce(&mut Vec<String>) -> bool) {
        self.tried += 1;
        let mut found = Vec::new();
        let panicked = match catch_unwind(AssertUnwindSafe(|| f(&mut found))) {
            Ok(rejected) => {
                self.rejected += u64::from(rejected);
                false
            }
            Err(_) => {
                self.panics += 1;
                true
            }
        };
        if panicked || !found.is_empty() {
            self.failed += 1;
        }
        for v in found {
            self.violations.push(format!("{input:?}: {v}"));
        }
    }

    /// Prints the line and fails on any panic or violation.
    fn finish(self, name: &str, seed: u64) {
        let survived = self.tried - self.failed;
        println!(
            "RELIABILITY {name} tried={} survived={survived} lost=0 violations={} panics={} rejected={} seed={seed}",
            self.tried,
            self.violations.len(),
            self.panics,
            self.rejected,
        );
        assert_eq!(self.panics, 0, "{name}: panics with seed {seed}");
        assert!(
            self.violations.is_empty(),
            "{name}: violations with seed {seed}: {:?}",
            &self.violations[..self.violations.len().min(5)]
        );
    }
}

/// A rejection or warning message must be one line.
fn one_line(what: &str, msg: &str, found: &mut Vec<String>) {
    if msg.contains('\n') || msg.contains('\r') {
        found.push(format!("{what} is not one line: {msg:?}"));
    }
}

#[test]
fn hostile_names_and_labels() {
    let seed = 0x5eed_0001;
    let mut g = Gen(seed);
    let mut t = Tally::default();
    for _ in 0..cases() {
        let s = g.string();
        t.one(&s, |found| {
            let mut rejected = false;
            match FeatureName::new(&s) {
                Ok(n) if injectable(n.as_str()) || n.as_str().contains('/') => {
                    found.push("feature name accepted".into());
                }
                Ok(_) => {}
                Err(e) => {
                    rejected = true;
                    one_line("feature name error", &e.to_string(), found);
                }
            }
            match ContainerId::new(&s) {
                Ok(c)
                    if injectable(&c.as_str().replace("..", "::"))
                        || c.as_str().contains('/')
                        || c.as_str().starts_with('.') =>
                {
                    found.push("container id accepted".into());
                }
                Ok(_) => {}
                Err(e) => one_line("container id error", &e.to_string(), found),
            }
            match LabelKey::new(&s) {
                Ok(k) if injectable(k.as_str()) => found.push("label key accepted".into()),
                Ok(_) => {}
                Err(e) => one_line("label key error", &e.to_string(), found),
            }
            match LabelValue::new(&s) {
                Ok(v) if injectable(v.as_str()) || v.as_str().contains('/') => {
                    found.push("label value accepted".into());
                }
                Ok(_) => {}
                Err(e) => one_line("label value error", &e.to_string(), found),
            }
            match s.parse::<LabelOp>() {
                Ok(op) if injectable(op.key().as_str()) => {
                    found.push("label op accepted".into());
                }
                Ok(_) => {}
                Err(e) => one_line("label op error", &e.to_string(), found),
            }
            rejected
        });
    }
    t.finish("hostile-names-and-labels", seed);
}

#[test]
fn hostile_state_db_rows() {
    let seed = 0x5eed_0002;
    let mut g = Gen(seed);
    let mut t = Tally::default();
    let state_fields = [
        codec::CURRENT_OWNER,
        codec::CURRENT_OWNER_UPDATE_TS,
        codec::DOCKER_ID,
        codec::TRANSITION_MODE,
        codec::TRANSITION_MODE_UPDATE_TS,
        codec::START_REQUESTED_TS,
    ];
    let status_fields = [codec::SERVER_CONNECTED, codec::SERVER_LAST_UPDATE_TS];
    for _ in 0..cases() {
        let rec = g.fields(&state_fields);
        let status = g.fields(&status_fields);
        let labels = g.string();
        t.one(&format!("{rec:?} {status:?} {labels:?}"), |found| {
            // STATE_DB is decoded totally: never an error, every warning one line.
            let d = codec::decode_feature_state("FEATURE|snmp", &rec);
            for w in &d.warnings {
                one_line("feature warning", &w.to_string(), found);
            }
            let (_, ws) = codec::decode_server_status_total("KUBE_SERVER|SERVER", &status);
            for w in &ws {
                one_line("server status warning", &w.to_string(), found);
            }
            let (_, ws) = codec::decode_pending_labels_total("PENDING_LABELS", Some(&labels));
            for w in &ws {
                one_line("pending labels warning", &w.to_string(), found);
            }
            match codec::decode_pending_labels("PENDING_LABELS", Some(&labels)) {
                Ok(ops) => {
                    if ops.iter().any(|op| injectable(op.key().as_str())) {
                        found.push("pending label accepted".into());
                    }
                    false
                }
                Err(e) => {
                    one_line("pending labels error", &e.to_string(), found);
                    true
                }
            }
        });
    }
    t.finish("hostile-state-db-rows", seed);
}

#[test]
fn hostile_config_db_rows() {
    let seed = 0x5eed_0003;
    let mut g = Gen(seed);
    let mut t = Tally::default();
    let feature_fields = [
        codec::SET_OWNER,
        codec::FALLBACK_TO_LOCAL,
        codec::KUBE_FAILURE_DETECTION,
        codec::FEATURE_STATE,
    ];
    let server_fields = [
        codec::SERVER_IP,
        codec::SERVER_PORT,
        codec::SERVER_INSECURE,
        codec::SERVER_DISABLE,
    ];
    let meta_fields = [
        codec::HOSTNAME,
        codec::PLATFORM,
        codec::HWSKU,
        codec::DEVICE_TYPE,
    ];
    for _ in 0..cases() {
        let feature = g.fields(&feature_fields);
        let server = g.fields(&server_fields);
        let meta = g.fields(&meta_fields);
        t.one(&format!("{feature:?} {server:?}"), |found| {
            let mut rejected = false;
            if let Err(e) = codec::decode_feature_config("FEATURE|snmp", &feature) {
                rejected = true;
                one_line("feature config error", &e.to_string(), found);
            }
            if let Err(e) = codec::decode_fallback("FEATURE|snmp", &feature) {
                one_line("fallback error", &e.to_string(), found);
            }
            match codec::decode_server_config("KUBERNETES_MASTER|SERVER", &server) {
                Ok(cfg) => {
                    let host = format!("{cfg:?}");
                    if host.contains('\n') {
                        found.push("server config accepted a new line".into());
                    }
                }
                Err(e) => {
                    rejected = true;
                    one_line("server config error", &e.to_string(), found);
                }
            }
            let _ = codec::decode_device_metadata(&meta);
            rejected
        });
    }
    t.finish("hostile-config-db-rows", seed);
}
