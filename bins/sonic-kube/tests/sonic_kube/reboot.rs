//! `reboot prepare warm|fast`: the registered hooks run in order, each bounded in time; a
//! failing and a hanging hook are reported, the others still run, the exit code is 1.

use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;

use super::Switch;

fn hook(dir: &Path, name: &str, body: &str) {
    std::fs::create_dir_all(dir).expect("hooks dir");
    let p = dir.join(format!("{name}.sh"));
    std::fs::write(&p, format!("#!/bin/sh\n{body}\n")).expect("write hook");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod hook");
}

#[tokio::test]
async fn hooks_run_in_order_and_a_failing_and_a_hanging_one_are_reported() {
    let sw = Switch::new().await;
    let root = tempfile::tempdir().expect("root");
    let dir = root.path().join("etc/sonic/ctrmgr/reboot.d/warm");
    let log = root.path().join("ran");
    let pidfile = root.path().join("sleeper.pid");
    let log_s = log.display().to_string();
    hook(&dir, "a-first", &format!("echo a-first >> '{log_s}'"));
    hook(
        &dir,
        "b-fails",
        &format!("echo b-fails >> '{log_s}'; exit 3"),
    );
    // Hangs in a child of its own: killing the group must end the child too.
    hook(
        &dir,
        "c-hangs",
        &format!(
            "echo c-hangs >> '{log_s}'; sleep 300 & echo $! > '{}'; wait",
            pidfile.display()
        ),
    );
    hook(&dir, "d-last", &format!("echo d-last >> '{log_s}'"));
    // Another kind's hooks do not run.
    hook(
        &root.path().join("etc/sonic/ctrmgr/reboot.d/fast"),
        "x",
        &format!("echo fast >> '{log_s}'"),
    );

    let root_s = root.path().display().to_string();
    let out = sw
        .run(&[
            "reboot",
            "prepare",
            "warm",
            "--timeout",
            "1",
            "--root",
            &root_s,
        ])
        .await;
    out.error("2 of 4 warm reboot hook(s) failed");
    let ran = std::fs::read_to_string(&log).expect("hooks ran");
    assert_eq!(ran, "a-first\nb-fails\nc-hangs\nd-last\n");
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["Hook", "Result", "Seconds"]
    );
    assert!(lines[1].starts_with("-------"), "{}", out.stdout);
    let rows: Vec<(&str, String)> = lines[2..]
        .iter()
        .map(|l| {
            let (name, rest) = l.split_once("  ").expect("columns");
            let result = rest
                .trim()
                .rsplit_once("  ")
                .expect("seconds")
                .0
                .trim()
                .to_owned();
            (name.trim(), result)
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("a-first", "ok".to_owned()),
            ("b-fails", "failed (exit status: 3)".to_owned()),
            ("c-hangs", "timed out after 1s: killed".to_owned()),
            ("d-last", "ok".to_owned()),
        ]
    );
    let pid = std::fs::read_to_string(&pidfile).expect("pid of the sleeper");
    let proc_dir = Path::new("/proc").join(pid.trim());
    // Killed with its group (a zombie until reaped by init counts as ended).
    let alive = std::fs::read_to_string(proc_dir.join("stat"))
        .is_ok_and(|s| s.split_whitespace().nth(2).is_none_or(|st| st != "Z"));
    assert!(!alive, "the hanging hook's child still runs");

    // All fine: exit 0.
    let out = sw
        .run(&["reboot", "prepare", "fast", "--root", &root_s])
        .await;
    let text = out.ok();
    let row: Vec<&str> = text
        .lines()
        .nth(2)
        .expect("one row")
        .split_whitespace()
        .collect();
    assert_eq!(row[..2], ["x", "ok"], "{text}");
    // Nothing registered: said so, exit 0.
    let empty = tempfile::tempdir().expect("root");
    let out = sw
        .run(&[
            "reboot",
            "prepare",
            "warm",
            "--root",
            &empty.path().display().to_string(),
        ])
        .await;
    assert_eq!(out.ok(), "no warm reboot hooks registered\n");
}
