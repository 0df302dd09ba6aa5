//! What `service install` refuses (invalid specs and names, links on the way, links planted
//! at its temporary files), writing nothing.

use std::os::unix::fs::PermissionsExt as _;

use super::super::Switch;
use super::{telemetry_spec, tree, write_spec};

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
