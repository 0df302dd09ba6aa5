//! Security checks as tests (issue 15, point 6): no shell anywhere in production code. Every
//! external program is run with `Command` and an argv; a shell (`sh -c`, `bash -c`,
//! `Command::new("sh")`, …) would let a feature name or a label value become a command.
//!
//! Production code is every `src/` of the workspace's crates, without the test-support
//! modules (`testing.rs`, the `tests` crate, `xtask`) and without the `#[cfg(test)]` module at
//! the end of a file.

use std::path::{Path, PathBuf};

/// What would start a shell or hand it a command line.
const SHELL_PATTERNS: [&str; 12] = [
    "Command::new(\"sh\")",
    "Command::new(\"bash\")",
    "Command::new(\"/bin/sh\")",
    "Command::new(\"/bin/bash\")",
    "Command::new(\"/usr/bin/sh\")",
    "Command::new(\"/usr/bin/bash\")",
    "Command::new(\"dash\")",
    "Command::new(\"/usr/bin/env\")",
    "\"sh -c",
    "\"bash -c",
    ".arg(\"-c\")",
    "\"-c\",",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("core is in the workspace")
        .to_path_buf()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The production source files: `src/` of every crate but the test and build helpers.
fn production_sources() -> Vec<PathBuf> {
    let root = workspace();
    let mut crates: Vec<PathBuf> = ["core", "dbclient", "dockerclient", "kubeclient", "driver"]
        .iter()
        .map(|c| root.join(c))
        .collect();
    if let Ok(bins) = std::fs::read_dir(root.join("bins")) {
        crates.extend(bins.flatten().map(|e| e.path()));
    }
    let mut files = Vec::new();
    for c in crates {
        rust_files(&c.join("src"), &mut files);
    }
    files.retain(|f| {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or("");
        name != "testing.rs"
            && name != "tests.rs"
            && !f.components().any(|c| c.as_os_str() == "testing")
    });
    files
}

/// The lines of `src` before its `#[cfg(test)]` module, with their numbers.
fn shell_uses(src: &str) -> Vec<(usize, String)> {
    src.lines()
        .enumerate()
        .take_while(|(_, l)| l.trim() != "#[cfg(test)]")
        .filter(|(_, l)| !l.trim_start().starts_with("//"))
        .filter(|(_, l)| SHELL_PATTERNS.iter().any(|p| l.contains(p)))
        .map(|(n, l)| (n + 1, l.trim().to_owned()))
        .collect()
}

#[test]
fn no_shell_in_production_code() {
    let files = production_sources();
    assert!(
        files.len() > 40,
        "the scan found the sources: {}",
        files.len()
    );
    let mut found = Vec::new();
    for f in &files {
        let src = std::fs::read_to_string(f).expect("readable source");
        for (n, line) in shell_uses(&src) {
            found.push(format!("{}:{n}: {line}", f.display()));
        }
    }
    assert!(
        found.is_empty(),
        "a shell in production code:\n{}",
        found.join("\n")
    );
}

#[test]
fn the_scan_finds_each_way_of_starting_a_shell() {
    for bad in [
        "let c = Command::new(\"sh\").arg(\"-c\").arg(cmd);",
        "std::process::Command::new(\"/bin/bash\")",
        "let argv = [\"/bin/sh\", \"-c\", script];",
        "run(\"sh -c 'docker stop x'\")",
    ] {
        assert_eq!(shell_uses(bad).len(), 1, "{bad}");
    }
    // A test module at the end of a file is not production code; comments are not code.
    assert!(shell_uses("fn f() {}\n#[cfg(test)]\nmod tests { Command::new(\"sh\"); }").is_empty());
    assert!(shell_uses("// never Command::new(\"sh\")").is_empty());
}
