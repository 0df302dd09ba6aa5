//! The systemd simulator on its own: unit files with drop-ins, run through the `systemctl-sim`
//! client the way the binaries run `systemctl` (argv, output, exit status).

use std::path::Path;
use std::time::Duration;

use ctrmgr_tests::systemd::{SimOptions, SystemdSim};

/// `systemctl <args>` through the client: (exit code, stdout, stderr).
async fn ctl_async(sim: &SystemdSim, args: &[&str]) -> (i32, String, String) {
    let link = sim.path().to_path_buf();
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    let out = tokio::process::Command::new(link)
        .args(args)
        .output()
        .await
        .expect("systemctl-sim runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn write(root: &Path, rel: &str, text: &str) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
    std::fs::write(p, text).expect("write unit");
}

fn sim(dir: &Path) -> SystemdSim {
    SystemdSim::start(
        dir,
        Path::new(env!("CARGO_BIN_EXE_systemctl-sim")),
        SimOptions {
            root: dir.join("root"),
            programs: Vec::new(),
            env: vec![("LOG".to_owned(), dir.join("log").display().to_string())],
            scale: 0.01,
            external: vec!["database.service".to_owned()],
            default_unit: None,
        },
    )
}

fn log(dir: &Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("log"))
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Requires/After: starting `b` starts `a` first (its ExecStartPre, then its main process);
/// stopping `a` stops `b` first, each through its ExecStop with `$MAINPID`. is-active prints
/// and exits as systemctl does; unknown directives and sonic.target are accepted; a drop-in
/// adds to the unit.
#[tokio::test]
async fn units_start_in_dependency_order_and_stop_their_dependents_first() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    write(
        &root,
        "etc/systemd/system/a.service",
        "[Unit]\nBindsTo=sonic.target\nAfter=sonic.target database.service\nRequires=database.service\n[Service]\nUser=root\nExecStartPre=/bin/sh -c 'echo a-pre >> \"$LOG\"'\nExecStart=/bin/sleep infinity\nExecStop=/bin/sh -c 'echo a-stop $MAINPID >> \"$LOG\"'\nTimeoutStopSec=30\n",
    );
    write(
        &root,
        "etc/systemd/system/b.service",
        "[Unit]\n[Service]\nExecStart=/bin/sleep infinity\nExecStop=-/bin/sh -c 'echo b-stop $WHO >> \"$LOG\"; exit 1'\n",
    );
    write(
        &root,
        "etc/systemd/system/b.service.d/ctrmgr-a.conf",
        "[Unit]\nRequires=a.service\nAfter=a.service\n[Service]\nEnvironment=WHO=dropin\n",
    );
    let sim = sim(dir.path());
    assert_eq!(
        ctl_async(&sim, &["is-active", "b"]).await,
        (3, "inactive\n".to_owned(), String::new())
    );
    let (code, _, err) = ctl_async(&sim, &["start", "b.service"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(ctl_async(&sim, &["is-active", "a"]).await.1, "active\n");
    assert_eq!(ctl_async(&sim, &["is-active", "b"]).await.0, 0);
    assert_eq!(log(dir.path()), ["a-pre"]);

    let (code, _, err) = ctl_async(&sim, &["stop", "a"]).await;
    assert_eq!(code, 0, "{err}");
    let l = log(dir.path());
    assert_eq!(l.len(), 3, "{l:?}");
    assert_eq!(
        l[1], "b-stop dropin",
        "b first, its ExecStop's failure ignored"
    );
    assert!(
        l[2].starts_with("a-stop ") && l[2].len() > "a-stop ".len(),
        "MAINPID given: {l:?}"
    );
    assert_eq!(ctl_async(&sim, &["is-active", "b"]).await.1, "inactive\n");
    // try-restart of an inactive unit does nothing; of an active one, stop then start.
    assert_eq!(ctl_async(&sim, &["try-restart", "a"]).await.0, 0);
    assert_eq!(log(dir.path()).len(), 3);
    assert_eq!(ctl_async(&sim, &["start", "a"]).await.0, 0);
    assert_eq!(ctl_async(&sim, &["try-restart", "a"]).await.0, 0);
    let l = log(dir.path());
    assert_eq!(&l[3..], ["a-pre", &l[4], "a-pre"], "{l:?}");
    assert!(l[4].starts_with("a-stop "));
    // A unit that does not exist.
    let (code, _, err) = ctl_async(&sim, &["start", "nope"]).await;
    assert_eq!(code, 5);
    assert!(err.contains("Unit nope.service not found."), "{err}");
    sim.shutdown().await;
    assert_eq!(sim.state("a").as_str(), "inactive");
}

/// Template units: `t@0.service` is `t@.service` with `%i` (and `%I`, `%p`, `%n`) resolved for
/// the instance, in the Exec lines, the environment and the dependencies (`Requires=d@%i`
/// starts `d@0` from `d@.service`); the template's drop-ins apply, then the instance's; each
/// instance is a unit of its own; a template without an instance name is not a unit.
#[tokio::test]
async fn template_units_are_instantiated_with_their_instance_name() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    write(
        &root,
        "etc/systemd/system/t@.service",
        "[Unit]\nDescription=t %i\nRequires=d@%i.service\nAfter=d@%i.service\n[Service]\nEnvironment=INST=%i\nExecStartPre=/bin/sh -c 'echo t-pre %i %I %p %n $INST $WHO >> \"$LOG\"'\nExecStart=/bin/sleep infinity\nExecStop=/bin/sh -c 'echo t-stop %i >> \"$LOG\"'\n",
    );
    write(
        &root,
        "lib/systemd/system/d@.service",
        "[Service]\nExecStartPre=/bin/sh -c 'echo d-pre %i >> \"$LOG\"'\nExecStart=/bin/sleep infinity\n",
    );
    write(
        &root,
        "etc/systemd/system/t@.service.d/who.conf",
        "[Service]\nEnvironment=WHO=template\n",
    );
    write(
        &root,
        "etc/systemd/system/t@1.service.d/who.conf",
        "[Service]\nEnvironment=WHO=instance\n",
    );
    let sim = sim(dir.path());
    for unit in ["t@0", "t@1"] {
        let (code, _, err) = ctl_async(&sim, &["start", unit]).await;
        assert_eq!(code, 0, "{unit}: {err}");
    }
    assert_eq!(
        log(dir.path()),
        [
            "d-pre 0",
            "t-pre 0 0 t t@0.service 0 template",
            "d-pre 1",
            "t-pre 1 1 t t@1.service 1 instance",
        ]
    );
    assert_eq!(sim.state("d@0").as_str(), "active");
    assert_eq!(sim.state("t@0").as_str(), "active");
    let (code, _, err) = ctl_async(&sim, &["stop", "d@1"]).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        sim.state("t@1").as_str(),
        "inactive",
        "stopped with what it requires"
    );
    assert_eq!(sim.state("t@0").as_str(), "active", "another instance");
    assert_eq!(log(dir.path())[4], "t-stop 1");
    let (code, _, _) = ctl_async(&sim, &["start", "t@"]).await;
    assert_ne!(code, 0, "a template is not started without an instance");
    sim.shutdown().await;
}

/// Restart=always: a main process that ends runs ExecStop and starts again after RestartSec
/// (scaled), until StartLimitBurst starts within StartLimitIntervalSec fail the unit;
/// reset-failed clears it; a failing ExecStartPre fails the start.
#[tokio::test]
async fn restart_always_is_bounded_by_the_start_limit_and_reset_failed_clears_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("root");
    write(
        &root,
        "lib/systemd/system/c.service",
        "[Unit]\nStartLimitIntervalSec=1200\nStartLimitBurst=3\n[Service]\nExecStart=/bin/sh -c 'echo run >> \"$LOG\"; exit 3'\nExecStop=/bin/sh -c 'echo stop >> \"$LOG\"'\nRestart=always\nRestartSec=5\n",
    );
    write(
        &root,
        "etc/systemd/system/d.service",
        "[Service]\nExecStartPre=/bin/false\nExecStart=/bin/sleep infinity\n",
    );
    let sim = sim(dir.path());
    let mut changes = sim.changes();
    assert_eq!(ctl_async(&sim, &["start", "c"]).await.0, 0);
    tokio::time::timeout(Duration::from_secs(30), async {
        while sim.state("c").as_str() != "failed" {
            let _ = changes.changed().await;
        }
    })
    .await
    .expect("c fails after its start limit");
    assert_eq!(
        log(dir.path()),
        ["run", "stop", "run", "stop", "run", "stop"]
    );
    assert_eq!(
        ctl_async(&sim, &["is-failed", "c"]).await,
        (0, "failed\n".to_owned(), String::new())
    );
    assert_eq!(ctl_async(&sim, &["is-active", "c"]).await.0, 3);
    let (code, _, err) = ctl_async(&sim, &["start", "c"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("Start request repeated too quickly"), "{err}");
    assert_eq!(ctl_async(&sim, &["reset-failed", "c"]).await.0, 0);
    assert_eq!(ctl_async(&sim, &["is-active", "c"]).await.1, "inactive\n");

    let (code, _, err) = ctl_async(&sim, &["start", "d"]).await;
    assert_eq!(code, 1);
    assert!(
        err.contains("control process exited with error code"),
        "{err}"
    );
    assert_eq!(sim.state("d").as_str(), "failed");
    assert!(
        sim.calls().contains(&"start d".to_owned()),
        "{:?}",
        sim.calls()
    );
    sim.shutdown().await;
}
