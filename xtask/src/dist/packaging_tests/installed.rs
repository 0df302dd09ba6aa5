//! Checks of what the installed packages put into the root: the generated completions and man
//! pages, and the unit that runs `sonic-kube migrate` once per installed image.

use std::path::Path;

use ctrmgr_dbclient::testing::TestRedis;

use super::{Root, ok, redis_cli};
use crate::dist::generated_files;

/// The migrate unit, as installed.
pub(super) const MIGRATE_UNIT: &str = "/lib/systemd/system/sonic-ctrmgr-migrate.service";
/// The marker the unit leaves after a successful migrate.
const MARKER: &str = "var/lib/sonic-ctrmgr/migrated";

/// Every completion and man page (gzipped) `cargo xtask completions` generates is in `root` when
/// `binary` is `None` (sonic-ctrmgr); with `Some(b)` (sonic-ctrmgr-local ships only `container`)
/// exactly those of `b` are, and no other's.
pub(super) fn assert_generated_files(root: &Path, binary: Option<&str>) {
    let of = |f: &Path, b: &str| {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let name = name.strip_prefix('_').unwrap_or(name);
        name == b || name.starts_with(&format!("{b}.")) || name.starts_with(&format!("{b}-"))
    };
    let files = generated_files();
    assert!(files.len() > 50, "{files:?}");
    for f in &files {
        // dh_compress gzips the man pages.
        let gz = root.join(format!("{}.gz", f.display()));
        let present = root.join(f).is_file() || gz.is_file();
        match binary {
            None => assert!(present, "the package lacks /{}", f.display()),
            Some(b) if of(f, b) => assert!(present, "the package lacks /{}", f.display()),
            Some(b) => assert!(!present, "/{} is not {b}'s", f.display()),
        }
    }
}

/// The unit's `Key=` values, in order.
fn values<'a>(unit: &'a str, key: &str) -> Vec<&'a str> {
    unit.lines()
        .filter_map(|l| l.strip_prefix(key)?.strip_prefix('='))
        .collect()
}

/// The migrate unit is installed, enabled under sonic.target, ordered after the database and
/// before the daemons, and skipped once its marker exists; a first boot (its ExecStart then
/// ExecStartPost run in the root, as systemd would after creating its StateDirectory) migrates
/// an unmigrated kube row and leaves the marker.
pub(super) fn first_boot_migrate(root: &Root, redis: &TestRedis, config_db: u32) {
    let text = std::fs::read_to_string(root.path().join(&MIGRATE_UNIT[1..])).expect("migrate unit");
    for (key, want) in [
        ("Type", "oneshot"),
        ("RemainAfterExit", "yes"),
        ("Requires", "database.service"),
        ("ConditionPathExists", "!/var/lib/sonic-ctrmgr/migrated"),
        ("StateDirectory", "sonic-ctrmgr"),
        ("WantedBy", "sonic.target"),
    ] {
        assert_eq!(values(&text, key), [want], "{key}= of {MIGRATE_UNIT}");
    }
    let after = values(&text, "After").join(" ");
    let before = values(&text, "Before").join(" ");
    for u in ["database.service", "config-setup.service"] {
        assert!(after.split(' ').any(|w| w == u), "After= lacks {u}");
    }
    for u in [
        "sonic.target",
        "hostcfgd-watcher.service",
        "kube-monit.service",
    ] {
        assert!(before.split(' ').any(|w| w == u), "Before= lacks {u}");
    }
    let wants = root
        .path()
        .join("etc/systemd/system/sonic.target.wants/sonic-ctrmgr-migrate.service");
    assert!(
        wants.is_symlink(),
        "enabled by the package: {}",
        wants.display()
    );

    // A first boot of the image: a row as upstream left it, no marker yet.
    redis_cli(
        redis,
        config_db,
        &[
            "HSET",
            "FEATURE|pmon",
            "set_owner",
            "kube",
            "state",
            "enabled",
        ],
    );
    let marker = root.path().join(MARKER);
    assert!(!marker.exists(), "no marker before the first boot");
    std::fs::create_dir_all(marker.parent().expect("state dir")).expect("StateDirectory");
    let start = values(&text, "ExecStart");
    let post = values(&text, "ExecStartPost");
    assert_eq!((start.len(), post.len()), (1, 1), "{text}");
    let argv: Vec<&str> = start[0].split_whitespace().collect();
    let out = ok(&mut root.run(&argv));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("FEATURE|pmon: fallback_to_local=true"),
        "{said}"
    );
    assert!(said.contains("migrated 1 FEATURE row(s)"), "{said}");
    assert_eq!(
        redis_cli(
            redis,
            config_db,
            &["HGET", "FEATURE|pmon", "fallback_to_local"]
        ),
        "true"
    );
    let argv: Vec<&str> = post[0].split_whitespace().collect();
    ok(&mut root.run(&argv));
    assert!(marker.is_file(), "the marker after a successful migrate");
}
