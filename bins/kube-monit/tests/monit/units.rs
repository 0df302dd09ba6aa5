//! The daemons' systemd units in `packaging/systemd/`: `Restart=always`, after the database,
//! part of `sonic.target`,
//! the right program, and accepted by `systemd-analyze verify` without a warning.

use std::path::{Path, PathBuf};

fn packaging() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/systemd")
}

fn key_values(text: &str, key: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix(&format!("{key}=")))
        .map(str::to_owned)
        .collect()
}

#[test]
fn the_daemons_units_restart_always_after_the_database_and_verify_cleanly() {
    let dir = tempfile::tempdir().expect("temp dir");
    // A stand-in for SONiC's database.service, which the units require.
    std::fs::write(
        dir.path().join("database.service"),
        "[Unit]\nDescription=SONiC databases (stand-in)\n[Service]\nExecStart=/bin/true\n",
    )
    .expect("write database.service");
    // And for sonic.target, which they are part of (decisions pkg-4).
    std::fs::write(
        dir.path().join("sonic.target"),
        "[Unit]\nDescription=SONiC (stand-in)\n",
    )
    .expect("write sonic.target");
    let built = Path::new(super::BIN)
        .parent()
        .expect("target dir")
        .to_path_buf();
    let mut verify = Vec::new();
    for (unit, program, args) in [
        ("hostcfgd-watcher.service", "hostcfgd-watcher", ""),
        ("kube-monit.service", "kube-monit", " run"),
    ] {
        let text = std::fs::read_to_string(packaging().join(unit)).expect("read the unit");
        assert_eq!(key_values(&text, "Restart"), vec!["always"], "{unit}");
        assert_eq!(
            key_values(&text, "After"),
            vec!["database.service", "sonic.target"],
            "{unit}"
        );
        assert_eq!(key_values(&text, "BindsTo"), vec!["sonic.target"], "{unit}");
        assert_eq!(
            key_values(&text, "WantedBy"),
            vec!["sonic.target"],
            "{unit}"
        );
        assert_eq!(
            key_values(&text, "Requires"),
            vec!["database.service"],
            "{unit}"
        );
        let exec = format!("/usr/bin/{program}{args}");
        assert_eq!(key_values(&text, "ExecStart"), vec![exec.clone()], "{unit}");
        // systemd-analyze checks that the program exists: point it at the one just built.
        let local = text.replace(
            &format!("/usr/bin/{program}"),
            &built.join(program).display().to_string(),
        );
        let path = dir.path().join(unit);
        std::fs::write(&path, local).expect("write the unit");
        verify.push(path);
    }
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg("--man=no")
        .args(&verify)
        .env("SYSTEMD_UNIT_PATH", format!("{}:", dir.path().display()))
        .output()
        .expect("systemd-analyze runs (apt-get install systemd)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "warnings: {stderr}");
}
