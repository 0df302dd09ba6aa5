//! `service install | remove | list` into a temporary root: the files, their modes, the
//! FEATURE row, `systemctl daemon-reload`, idempotence, and `remove` restoring the tree and
//! the row exactly.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use ctrmgr_dbclient::DbName;

use super::Switch;

/// Every entry below `root`: relative path → (mode, content; `None` for a directory; the
/// target for a symbolic link, which is not followed).
fn tree(root: &Path) -> BTreeMap<String, (u32, Option<Vec<u8>>)> {
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

fn write_spec(dir: &Path, spec: &serde_json::Value) -> PathBuf {
    let p = dir.join("spec.json");
    std::fs::write(&p, spec.to_string()).expect("write spec");
    p
}

fn telemetry_spec() -> serde_json::Value {
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

/// `multi_instance` (decisions pkg-6): `<name>.service` and the template `<name>@.service`
/// whose Exec lines pass `%i` to the script, as sonic-buildimage's per_namespace templates; a
/// required unit with a template of its own is required per instance; the script acts on
/// `<name><instance>`; the FEATURE row gets `has_per_asic_scope=True` and each listed instance
/// a row of its own, which `remove` deletes again after stopping the instances.
#[tokio::test]
async fn a_multi_instance_spec_renders_a_template_unit_and_instance_rows_and_remove_undoes_them() {
    let sw = Switch::new().await;
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    std::fs::create_dir_all(r.join("lib/systemd/system")).expect("mkdir");
    std::fs::write(r.join("lib/systemd/system/database@.service"), b"[Unit]\n").expect("unit");
    sw.set(
        DbName::ConfigDb,
        "FEATURE",
        "dhcpmon1",
        &[("set_owner", "local")],
    )
    .await;
    let tree_before = tree(r);
    let db_before = sw.snapshot().await;
    let specs = tempfile::tempdir().expect("spec dir");
    let spec = serde_json::json!({
        "name": "dhcpmon",
        "requires": ["database", "config-setup"],
        "local_image": "docker-dhcpmon:latest",
        "set_owner": "kube",
        "fallback": true,
        "multi_instance": true,
        "instances": ["0", "1"]
    });
    let root_s = r.display().to_string();
    let spec_s = write_spec(specs.path(), &spec).display().to_string();
    let out = sw
        .run(&["service", "install", &spec_s, "--root", &root_s])
        .await;
    assert_eq!(
        out.ok(),
        "wrote /etc/systemd/system/dhcpmon.service\n\
         wrote /etc/systemd/system/dhcpmon@.service\n\
         wrote /usr/local/bin/dhcpmon.sh\n\
         wrote CONFIG_DB FEATURE|dhcpmon: set_owner=kube fallback_to_local=true\n\
         wrote CONFIG_DB FEATURE|dhcpmon0: set_owner=kube fallback_to_local=true\n\
         wrote CONFIG_DB FEATURE|dhcpmon1: set_owner=kube fallback_to_local=true\n\
         dhcpmon: installed; systemd reloaded\n"
    );
    let template =
        std::fs::read_to_string(r.join("etc/systemd/system/dhcpmon@.service")).expect("unit");
    for line in [
        "Description=dhcpmon container %i",
        "Requires=database@%i.service",
        "After=database@%i.service",
        "Requires=config-setup.service",
        "ExecStartPre=/usr/local/bin/dhcpmon.sh start %i",
        "ExecStart=/usr/local/bin/dhcpmon.sh wait %i",
        "ExecStop=/usr/local/bin/dhcpmon.sh stop %i",
        "BindsTo=sonic.target",
    ] {
        assert!(template.lines().any(|l| l == line), "{line}: {template}");
    }
    let host = std::fs::read_to_string(r.join("etc/systemd/system/dhcpmon.service")).expect("unit");
    assert!(!host.contains("%i"), "{host}");
    assert!(
        host.lines()
            .any(|l| l == "ExecStart=/usr/local/bin/dhcpmon.sh wait"),
        "{host}"
    );
    let script = std::fs::read_to_string(r.join("usr/local/bin/dhcpmon.sh")).expect("script");
    for part in [
        "DEV=\"${2:-}\"",
        "readonly DOCKERNAME=\"$FEATURE$DEV\"",
        "--env \"NAMESPACE_ID=$DEV\"",
        "start \"$DOCKERNAME\"",
        "wait \"$DOCKERNAME\"",
    ] {
        assert!(script.contains(part), "{part}: {script}");
    }
    // The script's instance argument decides the container; a bad one is refused.
    let fake = tempfile::tempdir().expect("fake container");
    let log = fake.path().join("calls");
    let container = fake.path().join("container");
    std::fs::write(
        &container,
        format!("#!/bin/sh\necho \"$*\" >> {}\n", log.display()),
    )
    .expect("fake");
    std::fs::set_permissions(&container, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    for (args, code) in [
        (&["kill", "1"][..], 0),
        (&["kill"][..], 0),
        (&["kill", "../x"][..], 2),
    ] {
        let st = std::process::Command::new(r.join("usr/local/bin/dhcpmon.sh"))
            .args(args)
            .env("CTRMGR_CONTAINER", &container)
            .output()
            .expect("run the script");
        assert_eq!(st.status.code(), Some(code), "{args:?} {st:?}");
    }
    assert_eq!(
        std::fs::read_to_string(&log).expect("calls"),
        "kill dhcpmon1\nkill dhcpmon\n"
    );

    let row = sw.row(DbName::ConfigDb, "FEATURE", "dhcpmon").await;
    assert_eq!(
        row.get("has_per_asic_scope").map(String::as_str),
        Some("True")
    );
    for inst in ["dhcpmon0", "dhcpmon1"] {
        let row = sw.row(DbName::ConfigDb, "FEATURE", inst).await;
        assert_eq!(row.get("set_owner").map(String::as_str), Some("kube"));
        assert_eq!(
            row.get("fallback_to_local").map(String::as_str),
            Some("true")
        );
        assert!(
            !row.contains_key("state"),
            "featured would start {inst}.service: {row:?}"
        );
    }
    let out = sw
        .run(&["service", "install", &spec_s, "--root", &root_s])
        .await;
    assert_eq!(
        out.ok(),
        "dhcpmon: already installed as specified; nothing changed\n"
    );

    let out = sw
        .run(&["service", "remove", "dhcpmon", "--root", &root_s])
        .await;
    out.ok();
    assert_eq!(tree(r), tree_before);
    assert_eq!(sw.snapshot().await, db_before, "dhcpmon1's own row is back");
    assert_eq!(
        sw.systemctl_calls(),
        [
            "daemon-reload",
            "stop dhcpmon",
            "stop dhcpmon@0",
            "stop dhcpmon@1",
            "daemon-reload"
        ]
    );
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

#[tokio::test]
async fn invalid_specs_and_names_are_refused_and_nothing_is_written() {
    let sw = Switch::new().await;
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    let outside = tempfile::tempdir().expect("outside");
    // A symbolic link inside the root pointing outside it.
    std::fs::create_dir_all(r.join("etc/systemd")).expect("mkdir");
    std::os::unix::fs::symlink(outside.path(), r.join("etc/systemd/system")).expect("symlink");
    let tree_before = tree(r);
    let db_before = sw.snapshot().await;
    let specs = tempfile::tempdir().expect("spec dir");
    let root_s = r.display().to_string();
    let base = serde_json::json!({"name": "telemetry"});
    let with = |k: &str, v: serde_json::Value| {
        let mut s = base.clone();
        s[k] = v;
        s
    };
    for (spec, what) in [
        (
            with("name", "../../etc/passwd".into()),
            "invalid feature name",
        ),
        (with("name", "Telemetry".into()), "invalid feature name"),
        (with("name", "tele metry".into()), "invalid feature name"),
        (
            with("required_by", serde_json::json!(["../x"])),
            "required_by",
        ),
        (with("requires", serde_json::json!(["a/b"])), "requires"),
        (
            with("requires", serde_json::json!(["telemetry"])),
            "is the feature itself",
        ),
        (
            with("description", "x\nExecStartPre=/bin/evil".into()),
            "control character",
        ),
        (
            with("pre_start", serde_json::json!(["true\nrm -rf /"])),
            "control character",
        ),
        (
            with("local_image", "img;reboot".into()),
            "is not an image reference",
        ),
        (with("set_owner", "kubernetes".into()), "set_owner"),
        (
            with("set_owner", "local".into()),
            "set_owner local needs a local_image",
        ),
        (
            with("fallback", true.into()),
            "fallback needs a local_image",
        ),
        (with("unknown_key", 1.into()), "unknown field"),
        (
            with("user", "root\nExecStart=/x".into()),
            "is not a user name",
        ),
        (with("user", "Admin".into()), "is not a user name"),
        (with("stop_timeout", 0.into()), "stop_timeout 0"),
        (
            with("instances", serde_json::json!(["0"])),
            "instances without multi_instance",
        ),
        (with("multi_instance", "yes".into()), "expected a boolean"),
    ] {
        let p = write_spec(specs.path(), &spec).display().to_string();
        sw.run(&["service", "install", &p, "--root", &root_s])
            .await
            .error(what);
    }
    let multi = with("multi_instance", true.into());
    let with_instances = |v: serde_json::Value| {
        let mut s = multi.clone();
        s["instances"] = v;
        s
    };
    for (spec, what) in [
        (
            with_instances(serde_json::json!(["0", "../1"])),
            "is not an instance name",
        ),
        (
            with_instances(serde_json::json!(["A"])),
            "is not an instance name",
        ),
        (
            with_instances(serde_json::json!(["123456789"])),
            "is not an instance name",
        ),
        (with_instances(serde_json::json!(["0", "0"])), "0 twice"),
        (
            {
                let mut s = with_instances(serde_json::json!(["0"]));
                s["name"] = "a2345678901234567890123456789012".into();
                s
            },
            "the container name",
        ),
        (base.clone(), "symbolic link"),
    ] {
        let p = write_spec(specs.path(), &spec).display().to_string();
        sw.run(&["service", "install", &p, "--root", &root_s])
            .await
            .error(what);
    }
    for name in ["../x", "Snmp", "a b"] {
        sw.run(&["service", "remove", name, "--root", &root_s])
            .await
            .error("invalid feature name");
    }
    assert_eq!(tree(r), tree_before);
    assert!(
        std::fs::read_dir(outside.path())
            .expect("outside")
            .next()
            .is_none()
    );
    assert_eq!(sw.snapshot().await, db_before);
    assert!(sw.systemctl_calls().is_empty());
}

/// Issue 15, point 6: a symbolic link planted where install writes its temporary files, inside
/// the root and pointing out of it, is never written through: the file outside keeps its
/// content and mode, the installed files are regular files, and no temporary file is left.
#[tokio::test]
async fn install_never_writes_through_a_link_planted_at_its_temporary_file() {
    let sw = Switch::new().await;
    let root = tempfile::tempdir().expect("root");
    let r = root.path();
    let outside = tempfile::tempdir().expect("outside");
    let victim = outside.path().join("victim");
    std::fs::write(&victim, b"precious\n").expect("victim");
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o600)).expect("chmod");
    for (dir, tmp) in [
        ("etc/systemd/system", ".telemetry.service.sonic-kube.tmp"),
        ("usr/local/bin", ".telemetry.sh.sonic-kube.tmp"),
        ("var/lib/ctrmgr/services", ".telemetry.json.sonic-kube.tmp"),
    ] {
        std::fs::create_dir_all(r.join(dir)).expect("mkdir");
        std::os::unix::fs::symlink(&victim, r.join(dir).join(tmp)).expect("plant a link");
    }
    let specs = tempfile::tempdir().expect("spec dir");
    let spec = write_spec(specs.path(), &telemetry_spec());
    let out = sw
        .run(&[
            "service",
            "install",
            &spec.display().to_string(),
            "--root",
            &r.display().to_string(),
        ])
        .await;
    out.ok();
    assert_eq!(std::fs::read(&victim).expect("victim"), b"precious\n");
    let mode = std::fs::metadata(&victim)
        .expect("stat")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the victim's mode");
    for (rel, (_, content)) in tree(r) {
        assert!(!rel.contains(".sonic-kube.tmp"), "left behind: {rel}");
        if rel.ends_with("telemetry.service") || rel.ends_with("telemetry.sh") {
            let m = std::fs::symlink_metadata(r.join(&rel)).expect("stat");
            assert!(m.file_type().is_file(), "{rel} is a regular file");
            assert_ne!(content.as_deref(), Some(&b"precious\n"[..]), "{rel}");
        }
    }
}
