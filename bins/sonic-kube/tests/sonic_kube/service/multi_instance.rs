//! `service install` of a `multi_instance` spec: the template unit, the instance rows, and
//! `remove` undoing them.

use std::os::unix::fs::PermissionsExt as _;

use ctrmgr_dbclient::DbName;

use super::super::Switch;
use super::{tree, write_spec};

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
