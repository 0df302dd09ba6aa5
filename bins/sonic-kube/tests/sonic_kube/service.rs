//! `service install | remove | list` into a temporary root: the files, their modes, the
//! FEATURE row, `systemctl daemon-reload`, idempotence, and `remove` restoring the tree and
//! the row exactly.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use ctrmgr_dbclient::DbName;

use super::Switch;

mod multi_instance;
mod refused;

/// Every entry below `root`: relative path → (mode, content; `None` for a directory; the
/// target for a symbolic link, which is not followed).
pub(super) fn tree(root: &Path) -> BTreeMap<String, (u32, Option<Vec<u8>>)> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, (u32, Option<Vec<u8>>)>) {
        for e in std::fs::read_dir(dir).expect("read dir") {
            let p = e.expect("entry").path();
            let m = std::fs::symlink_metadata(&p).expect("stat");
            let rel = p
                .strip_prefix(root)
                .expect("below root")
                .display()
                .to_string();
            let mode = m.permissions().mode() & 0o7777;
            if m.file_type().is_symlink() {
                let target = std::fs::read_link(&p).expect("readlink");
                out.insert(rel, (0, Some(target.display().to_string().into_bytes())));
            } else if m.is_dir() {
                out.insert(rel, (mode, None));
                walk(root, &p, out);
            } else {
                out.insert(rel, (mode, Some(std::fs::read(&p).expect("read"))));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

pub(super) fn write_spec(dir: &Path, spec: &serde_json::Value) -> PathBuf {
    let p = dir.join("spec.json");
    std::fs::write(&p, spec.to_string()).expect("write spec");
    p
}

pub(super) fn telemetry_spec() -> serde_json::Value {
    serde_json::json!({
        "name": "telemetry",
        "description": "Telemetry container",
        "requires": ["database", "config-setup"],
        "required_by": ["snmp"],
        "pre_start": ["/usr/bin/logger telemetry starting"],
        "post_stop": ["/usr/bin/logger telemetry stopped"],
        "warm_reboot": ["/usr/bin/telemetry-save", "sync"],
        "set_owner": "kube",
        "fallback": false
    })
}

#[tokio::test]
async fn install_writes_unit_script_dropins_hooks_and_row_and_remove_restores_exactly() {
    let sw = Switch::new().await;
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    // What the switch had before: an old script of the same name and an unrelated unit.
    std::fs::create_dir_all(r.join("usr/local/bin")).expect("mkdir");
    std::fs::create_dir_all(r.join("etc/systemd/system")).expect("mkdir");
    std::fs::write(
        r.join("usr/local/bin/telemetry.sh"),
        b"#!/bin/sh\necho old\n",
    )
    .expect("old");
    std::fs::set_permissions(
        r.join("usr/local/bin/telemetry.sh"),
        std::fs::Permissions::from_mode(0o700),
    )
    .expect("chmod");
    std::fs::write(r.join("etc/systemd/system/swss.service"), b"[Unit]\n").expect("unit");
    let tree_before = tree(r);
    let db_before = sw.snapshot().await;

    let specs = tempfile::tempdir().expect("spec dir");
    let spec = write_spec(specs.path(), &telemetry_spec());
    let root_s = r.display().to_string();
    let spec_s = spec.display().to_string();
    let out = sw
        .run(&["service", "install", &spec_s, "--root", &root_s])
        .await;
    assert_eq!(
        out.ok(),
        "wrote /etc/systemd/system/telemetry.service\n\
         wrote /usr/local/bin/telemetry.sh\n\
         wrote /etc/systemd/system/snmp.service.d/ctrmgr-telemetry.conf\n\
         wrote /etc/sonic/ctrmgr/reboot.d/warm/telemetry.sh\n\
         wrote CONFIG_DB FEATURE|telemetry: set_owner=kube fallback_to_local=false\n\
         telemetry: installed; systemd reloaded\n"
    );
    assert_eq!(sw.systemctl_calls(), ["daemon-reload"]);

    let unit =
        std::fs::read_to_string(r.join("etc/systemd/system/telemetry.service")).expect("unit");
    assert!(
        unit.contains("\nDescription=Telemetry container\n"),
        "{unit}"
    );
    assert!(unit.contains("\nRequires=database.service\nAfter=database.service\nRequires=config-setup.service\nAfter=config-setup.service\n"), "{unit}");
    assert!(
        unit.contains("\nExecStartPre=/usr/local/bin/telemetry.sh start\n"),
        "{unit}"
    );
    // SONiC's shape (decisions pkg-5): part of sonic.target, root unless the spec says, no
    // Restart= (featured's auto_restart drop-in decides), systemd's stop timeout by default.
    for line in [
        "BindsTo=sonic.target",
        "After=sonic.target",
        "User=root",
        "WantedBy=sonic.target",
    ] {
        assert!(unit.lines().any(|l| l == line), "{line}: {unit}");
    }
    assert!(
        !unit
            .lines()
            .any(|l| l.starts_with("Restart=") || l.starts_with("TimeoutStopSec=")),
        "{unit}"
    );
    let script = std::fs::read_to_string(r.join("usr/local/bin/telemetry.sh")).expect("script");
    assert!(
        script.contains("readonly FEATURE=\"telemetry\""),
        "{script}"
    );
    assert!(
        script.contains("    /usr/bin/logger telemetry starting || return 1\n"),
        "{script}"
    );
    assert!(
        script.contains("    /usr/bin/logger telemetry stopped\n"),
        "{script}"
    );
    assert!(
        !script.contains(" create "),
        "kube-only: no local container: {script}"
    );
    let bash = std::process::Command::new("bash")
        .arg("-n")
        .arg(r.join("usr/local/bin/telemetry.sh"))
        .status()
        .expect("bash -n");
    assert!(bash.success());
    let dropin =
        std::fs::read_to_string(r.join("etc/systemd/system/snmp.service.d/ctrmgr-telemetry.conf"))
            .expect("drop-in");
    assert!(
        dropin.ends_with("[Unit]\nRequires=telemetry.service\nAfter=telemetry.service\n"),
        "{dropin}"
    );
    let hook = std::fs::read_to_string(r.join("etc/sonic/ctrmgr/reboot.d/warm/telemetry.sh"))
        .expect("hook");
    assert!(hook.starts_with("#!/usr/bin/env bash\n"), "{hook}");
    assert!(
        hook.ends_with("set -e\n/usr/bin/telemetry-save\nsync\n"),
        "{hook}"
    );
    assert!(
        !r.join("etc/sonic/ctrmgr/reboot.d/fast").exists(),
        "no fast hook lines, no fast hook"
    );
    let mode = |rel: &str| {
        std::fs::metadata(r.join(rel))
            .expect("stat")
            .permissions()
            .mode()
            & 0o7777
    };
    assert_eq!(mode("etc/systemd/system/telemetry.service"), 0o644);
    assert_eq!(mode("usr/local/bin/telemetry.sh"), 0o755);
    assert_eq!(
        mode("etc/systemd/system/snmp.service.d/ctrmgr-telemetry.conf"),
        0o644
    );
    assert_eq!(mode("etc/sonic/ctrmgr/reboot.d/warm/telemetry.sh"), 0o755);
    let row = sw.row(DbName::ConfigDb, "FEATURE", "telemetry").await;
    let want: BTreeMap<&str, &str> = [
        ("state", "enabled"),
        ("auto_restart", "enabled"),
        ("set_owner", "kube"),
        ("fallback_to_local", "false"),
        ("no_fallback_to_local", "true"),
    ]
    .into();
    let got: BTreeMap<&str, &str> = row.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    assert_eq!(got, want);

    // The same spec again: nothing changes, and it says so.
    let tree_installed = tree(r);
    let out = sw
        .run(&["service", "install", &spec_s, "--root", &root_s])
        .await;
    assert_eq!(
        out.ok(),
        "telemetry: already installed as specified; nothing changed\n"
    );
    assert_eq!(tree(r), tree_installed);
    assert_eq!(
        sw.systemctl_calls(),
        ["daemon-reload"],
        "no reload when nothing changed"
    );

    let out = sw.run(&["service", "list", "--root", &root_s]).await;
    assert_eq!(
        out.ok(),
        "Feature    SetOwner    Fallback    LocalImage    Requires               RequiredBy    RebootHooks\n\
         ---------  ----------  ----------  ------------  ---------------------  ------------  -------------\n\
         telemetry  kube        false                     database,config-setup  snmp          warm\n"
    );

    let out = sw.run(&["service", "list", "--root", &root_s, "-j"]).await;
    let listed: serde_json::Value = serde_json::from_str(out.ok()).expect("JSON");
    assert_eq!(listed[0]["name"], "telemetry");
    assert_eq!(listed[0]["required_by"], serde_json::json!(["snmp"]));
    assert_eq!(
        listed[0]["warm_reboot"],
        serde_json::json!(["/usr/bin/telemetry-save", "sync"])
    );

    // remove: the tree and the row as they were, byte for byte.
    let out = sw
        .run(&["service", "remove", "telemetry", "--root", &root_s])
        .await;
    assert!(
        out.ok().contains("telemetry: removed; systemd reloaded"),
        "{}",
        out.stdout
    );
    assert_eq!(tree(r), tree_before);
    assert_eq!(sw.snapshot().await, db_before);
    assert_eq!(
        sw.systemctl_calls(),
        ["daemon-reload", "stop telemetry", "daemon-reload"]
    );
    let out = sw
        .run(&["service", "remove", "telemetry", "--root", &root_s])
        .await;
    out.error("telemetry was not installed by `sonic-kube service install`");
}

#[tokio::test]
async fn an_existing_feature_row_is_kept_and_restored_and_a_changed_spec_updates_the_install() {
    let sw = Switch::new().await;
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    sw.set(
        DbName::ConfigDb,
        "FEATURE",
        "snmp",
        &[
            ("state", "disabled"),
            ("auto_restart", "enabled"),
            ("set_owner", "local"),
            ("high_mem_alert", "disabled"),
        ],
    )
    .await;
    let tree_before = tree(r);
    let db_before = sw.snapshot().await;
    let specs = tempfile::tempdir().expect("spec dir");
    let mut spec = serde_json::json!({
        "name": "snmp",
        "local_image": "docker-snmp:latest",
        "docker_create_args": "--net=host",
        "set_owner": "kube",
        "fallback": true,
        "required_by": ["lldp"],
        "user": "admin",
        "stop_timeout": 60
    });
    let root_s = r.display().to_string();
    let spec_s = write_spec(specs.path(), &spec).display().to_string();
    sw.run(&["service", "install", &spec_s, "--root", &root_s])
        .await
        .ok();
    let row = sw.row(DbName::ConfigDb, "FEATURE", "snmp").await;
    assert_eq!(
        row.get("state").map(String::as_str),
        Some("disabled"),
        "state kept"
    );
    assert_eq!(
        row.get("high_mem_alert").map(String::as_str),
        Some("disabled")
    );
    assert_eq!(row.get("set_owner").map(String::as_str), Some("kube"));
    assert_eq!(
        row.get("fallback_to_local").map(String::as_str),
        Some("true")
    );
    let unit = std::fs::read_to_string(r.join("etc/systemd/system/snmp.service")).expect("unit");
    assert!(unit.lines().any(|l| l == "User=admin"), "{unit}");
    assert!(unit.lines().any(|l| l == "TimeoutStopSec=60"), "{unit}");
    let script = std::fs::read_to_string(r.join("usr/local/bin/snmp.sh")).expect("script");
    assert!(
        script.contains("create --name \"$DOCKERNAME\" --net=host \"docker-snmp:latest\""),
        "{script}"
    );
    assert!(
        r.join("etc/systemd/system/lldp.service.d/ctrmgr-snmp.conf")
            .exists()
    );

    // A changed spec: lldp no longer depends on it, pmon does.
    spec["required_by"] = serde_json::json!(["pmon"]);
    write_spec(specs.path(), &spec);
    let out = sw
        .run(&["service", "install", &spec_s, "--root", &root_s])
        .await;
    let text = out.ok();
    assert!(
        text.contains("wrote /etc/systemd/system/pmon.service.d/ctrmgr-snmp.conf"),
        "{text}"
    );
    assert!(
        text.contains("restored /etc/systemd/system/lldp.service.d/ctrmgr-snmp.conf"),
        "{text}"
    );
    assert!(
        !r.join("etc/systemd/system/lldp.service.d/ctrmgr-snmp.conf")
            .exists()
    );

    sw.run(&["service", "remove", "snmp", "--root", &root_s])
        .await
        .ok();
    assert_eq!(
        tree(r),
        tree_before,
        "even directories created by install are gone"
    );
    assert_eq!(sw.snapshot().await, db_before);
}

/// `fast_reboot` lines: the fast hook (and no warm one), "fast" in `service list`, the hook
/// run by `reboot prepare fast`, and `remove` taking it away again.
#[tokio::test]
async fn fast_reboot_lines_become_the_fast_hook_listed_run_and_removed() {
    let sw = Switch::new().await;
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    let tree_before = tree(r);
    let db_before = sw.snapshot().await;
    let ran = r.join("ran");
    let specs = tempfile::tempdir().expect("spec dir");
    let spec = write_spec(
        specs.path(),
        &serde_json::json!({
            "name": "radv",
            "requires": ["database"],
            "fast_reboot": [format!("echo radv-fast >> {}", ran.display()), "sync"],
        }),
    );
    let (root_s, spec_s) = (r.display().to_string(), spec.display().to_string());
    let out = sw
        .run(&["service", "install", &spec_s, "--root", &root_s])
        .await;
    assert_eq!(
        out.ok(),
        "wrote /etc/systemd/system/radv.service\n\
         wrote /usr/local/bin/radv.sh\n\
         wrote /etc/sonic/ctrmgr/reboot.d/fast/radv.sh\n\
         wrote CONFIG_DB FEATURE|radv: set_owner=kube fallback_to_local=false\n\
         radv: installed; systemd reloaded\n"
    );
    let hook_rel = "etc/sonic/ctrmgr/reboot.d/fast/radv.sh";
    let hook = std::fs::read_to_string(r.join(hook_rel)).expect("fast hook");
    assert!(hook.starts_with("#!/usr/bin/env bash\n"), "{hook}");
    assert!(
        hook.ends_with(&format!(
            "set -e\necho radv-fast >> {}\nsync\n",
            ran.display()
        )),
        "{hook}"
    );
    let mode = std::fs::metadata(r.join(hook_rel)).expect("stat");
    assert_eq!(mode.permissions().mode() & 0o7777, 0o755);
    assert!(
        !r.join("etc/sonic/ctrmgr/reboot.d/warm").exists(),
        "no warm hook lines, no warm hook"
    );

    let out = sw.run(&["service", "list", "--root", &root_s]).await;
    assert_eq!(
        out.ok(),
        "Feature    SetOwner    Fallback    LocalImage    Requires    RequiredBy    RebootHooks\n\
         ---------  ----------  ----------  ------------  ----------  ------------  -------------\n\
         radv       kube        false                     database                  fast\n"
    );
    let out = sw.run(&["service", "list", "--root", &root_s, "-j"]).await;
    let listed: serde_json::Value = serde_json::from_str(out.ok()).expect("JSON");
    assert_eq!(
        listed[0]["fast_reboot"],
        serde_json::json!([format!("echo radv-fast >> {}", ran.display()), "sync"])
    );
    assert_eq!(listed[0]["warm_reboot"], serde_json::json!([]));

    // The hook is what `reboot prepare fast` runs; warm has none.
    let out = sw
        .run(&["reboot", "prepare", "fast", "--root", &root_s])
        .await;
    assert!(out.ok().contains("\nradv  "), "{}", out.stdout);
    assert_eq!(
        std::fs::read_to_string(&ran).expect("the hook ran"),
        "radv-fast\n"
    );
    std::fs::remove_file(&ran).expect("rm");

    let out = sw
        .run(&["service", "remove", "radv", "--root", &root_s])
        .await;
    assert_eq!(
        out.ok(),
        "restored /etc/sonic/ctrmgr/reboot.d/fast/radv.sh\n\
         restored /etc/systemd/system/radv.service\n\
         restored /usr/local/bin/radv.sh\n\
         restored CONFIG_DB FEATURE|radv (deleted: there was none)\n\
         radv: removed; systemd reloaded\n"
    );
    assert_eq!(tree(r), tree_before);
    assert_eq!(sw.snapshot().await, db_before);
}
