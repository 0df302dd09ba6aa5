//! The packages as an image builder gets them: built by `dpkg-buildpackage` (cargo profile
//! `dev`, the one the tests already built), checked by lintian, installed into a fresh Debian
//! root (`debootstrap --variant=minbase bookworm`, cached in `target/pkg-test/`), where the
//! installed binaries answer from their installed paths and `container id` reads a real Redis;
//! the installed daemon units and the units `sonic-kube service install` renders pass
//! `systemd-analyze verify --root`, the rendered scripts and the maintainer scripts pass
//! shellcheck. Needs root, the packaging tools and (the first time) the network: without them
//! the test says why and skips, unless `CTRMGR_REQUIRE_PACKAGING=1` (set by `.ci/run`), which
//! makes it fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ctrmgr_dbclient::testing::{TestRedis, Transport};

use super::{PACKAGES, build_debs, lintian};

mod installed;

/// PATH inside the root: SONiC's, with /usr/local first.
const ROOT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `None` when everything the test needs is there; else what is missing.
fn missing_prerequisite() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root (chroot, mount and dpkg need it)".to_owned());
    }
    let tools = [
        "dpkg-buildpackage",
        "dh",
        "lintian",
        "debootstrap",
        "redis-server",
        "redis-cli",
        "systemd-analyze",
        "shellcheck",
        "chroot",
        "mount",
    ];
    let missing: Vec<&str> = tools
        .into_iter()
        .filter(|t| {
            !std::env::var_os("PATH")
                .is_some_and(|p| std::env::split_paths(&p).any(|d| d.join(t).is_file()))
        })
        .collect();
    (!missing.is_empty()).then(|| {
        format!(
            "{} not on PATH (apt-get install debhelper dpkg-dev lintian debootstrap redis-server \
             systemd shellcheck)",
            missing.join(", ")
        )
    })
}

fn required() -> bool {
    std::env::var("CTRMGR_REQUIRE_PACKAGING").is_ok_and(|v| v == "1")
}

/// Runs `cmd`, panicking with its output unless it succeeds.
fn ok(cmd: &mut Command) -> Output {
    let shown = crate::cmd::display(cmd);
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    assert!(
        out.status.success(),
        "{shown}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The first Debian mirror of the machine's apt sources (deb822 `URIs:` or one-line `deb`).
fn mirror() -> String {
    let mut files = vec![PathBuf::from("/etc/apt/sources.list")];
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut more: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        more.sort();
        files.extend(more);
    }
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        for line in text.lines().map(str::trim) {
            let uri = if let Some(rest) = line.strip_prefix("URIs:") {
                rest.split_whitespace().next()
            } else if let Some(rest) = line.strip_prefix("deb ") {
                rest.split_whitespace().find(|w| w.contains("://"))
            } else {
                None
            };
            if let Some(uri) = uri.filter(|u| !u.contains("security")) {
                return uri.to_owned();
            }
        }
    }
    "http://deb.debian.org/debian".to_owned()
}

/// The cached minimal bookworm root, made by debootstrap the first time.
fn base_root(project: &Path) -> PathBuf {
    let base = project.join("target/pkg-test/bookworm-minbase");
    if !base.is_dir() {
        let partial = project.join("target/pkg-test/bookworm-minbase.partial");
        if partial.exists() {
            std::fs::remove_dir_all(&partial).expect("remove a partial debootstrap root");
        }
        ok(Command::new("debootstrap")
            .args(["--variant=minbase", "bookworm"])
            .arg(&partial)
            .arg(mirror()));
        std::fs::rename(&partial, &base).expect("keep the debootstrap root");
    }
    base
}

/// A copy of the base root with bind mounts; unmounts them and removes the copy when dropped.
struct Root {
    dir: tempfile::TempDir,
    mounts: Vec<PathBuf>,
}

impl Root {
    fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Bind-mounts `host` (a directory) at the same path inside the root.
    fn bind(&mut self, host: &Path) {
        let inside = self
            .path()
            .join(host.strip_prefix("/").expect("absolute path"));
        std::fs::create_dir_all(&inside).expect("mount point");
        ok(Command::new("mount").arg("--bind").arg(host).arg(&inside));
        self.mounts.push(inside);
    }

    /// `chroot <root> argv…` with SONiC's PATH.
    fn run(&self, argv: &[&str]) -> Command {
        let mut c = Command::new("chroot");
        c.arg(self.path()).args(argv).env("PATH", ROOT_PATH);
        c
    }

    fn write(&self, rel: &str, text: &str) {
        let p = self.path().join(rel);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write into the root");
    }
}

impl Drop for Root {
    fn drop(&mut self) {
        for m in self.mounts.iter().rev() {
            // Best effort: a lazy unmount cannot leave the temp dir's removal deleting through
            // the mount.
            let _ = Command::new("umount").arg("-l").arg(m).status();
        }
    }
}

fn redis_cli(redis: &TestRedis, db: u32, args: &[&str]) -> String {
    let out = ok(Command::new("redis-cli")
        .arg("-s")
        .arg(redis.socket_path())
        .args(["-n", &db.to_string()])
        .args(args));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[test]
fn the_packages_build_lint_clean_install_into_a_fresh_debian_and_their_units_and_scripts_verify() {
    if let Some(why) = missing_prerequisite() {
        assert!(
            !required(),
            "CTRMGR_REQUIRE_PACKAGING=1 but the packaging test cannot run: {why}"
        );
        eprintln!("skipped: the packaging test cannot run: {why}");
        return;
    }
    let project = crate::project_root();
    let work = project.join("target/pkg-test");
    std::fs::create_dir_all(&work).expect("target/pkg-test");

    // Built and linted as `cargo xtask dist` does, from the dev profile.
    let debs = build_debs(&project, "dev", &work.join("debs")).expect("dpkg-buildpackage");
    let report = lintian(&debs).expect("lintian finds no error");
    assert!(!report.contains("E: "), "{report}");

    let base = base_root(&project);
    let mut root = Root {
        dir: tempfile::tempdir_in(&work).expect("root dir"),
        mounts: Vec::new(),
    };
    ok(Command::new("cp")
        .arg("-a")
        .arg(base.join("."))
        .arg(root.path()));
    for d in &debs {
        std::fs::copy(
            d,
            root.path().join("tmp").join(d.file_name().expect("name")),
        )
        .expect("copy the .deb into the root");
    }
    let deb_in_root = |i: usize| {
        format!(
            "/tmp/{}",
            debs[i].file_name().expect("name").to_string_lossy()
        )
    };

    // A switch whose CONFIG_DB answers: the test's Redis, its socket bound into the root and
    // named by the root's /var/run/redis/sonic-db/database_config.json (SONiC's path; /var/run
    // is a link to /run), and a `sonic-db-cli` that answers `CONFIG_DB PING` from it.
    let redis = TestRedis::start_with_tcp().expect("redis-server");
    let port = redis.tcp_port().expect("TCP port");
    let db_config = redis.dir().join("database_config.json");
    redis
        .write_db_config(&db_config, Transport::Unix)
        .expect("database_config.json");
    root.bind(redis.dir());
    let db_config_text = std::fs::read_to_string(&db_config).expect("database_config.json");
    root.write("run/redis/sonic-db/database_config.json", &db_config_text);
    let sonic_db_cli = |port: u16| {
        root.write("usr/local/bin/sonic-db-cli", &sonic_db_cli_stub(port));
        ok(Command::new("chmod")
            .arg("755")
            .arg(root.path().join("usr/local/bin/sonic-db-cli")));
    };
    sonic_db_cli(port);
    let (config_db, state_db) = (
        ctrmgr_core::codec::DEFAULT_CONFIG_DB_ID,
        ctrmgr_core::codec::DEFAULT_STATE_DB_ID,
    );
    // Rows as upstream's ctrmgrd left them: set_owner kube, no fallback field (the implicit
    // fallback that `sonic-kube migrate` makes explicit, decisions p).
    for f in ["telemetry", "gnmi"] {
        redis_cli(
            &redis,
            config_db,
            &[
                "HSET",
                &format!("FEATURE|{f}"),
                "set_owner",
                "kube",
                "state",
                "enabled",
            ],
        );
    }
    let fallback = |f: &str| {
        redis_cli(
            &redis,
            config_db,
            &["HGET", &format!("FEATURE|{f}"), "fallback_to_local"],
        )
    };

    // What the Python sonic_ctrmgrd wheel left (pip, not dpkg): its `container` script and
    // ctrmgrd.py in /usr/local/bin. No Debian relation can see them (decisions pkg-8).
    root.write(
        "usr/local/bin/container",
        "#!/usr/bin/python3\n# the wheel's script\n",
    );
    root.write("usr/local/bin/ctrmgrd.py", "#!/usr/bin/python3\n");

    // sonic-ctrmgr: installs over the wheel's `container` and warns about the wheel; its
    // postinst migrates CONFIG_DB since it answers.
    let out = ok(&mut root.run(&["dpkg", "-i", &deb_in_root(0)]));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("migrated 2 FEATURE row(s)"),
        "dpkg -i: {said}"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("warning: the Python sonic_ctrmgrd wheel is installed too"),
        "dpkg -i: {out:?}"
    );
    let out = ok(&mut root.run(&["readlink", "-f", "/usr/local/bin/container"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "/usr/bin/container\n",
        "the package's link replaced the wheel's script"
    );
    std::fs::remove_file(root.path().join("usr/local/bin/ctrmgrd.py")).expect("rm ctrmgrd.py");
    assert_eq!(fallback("telemetry"), "true", "migrated by the postinst");
    assert_eq!(fallback("gnmi"), "true", "migrated by the postinst");

    // The postinst never fails the install (run as dpkg runs it, `configure`): not when
    // `sonic-kube migrate` fails, not when CONFIG_DB does not answer, not without
    // sonic-db-cli (an image build). In none of these is the (again unmigrated) row touched;
    // once CONFIG_DB answers again, it is.
    redis_cli(
        &redis,
        config_db,
        &["HDEL", "FEATURE|gnmi", "fallback_to_local"],
    );
    let postinst = || {
        let out = ok(root
            .run(&[
                "/var/lib/dpkg/info/sonic-ctrmgr.postinst",
                "configure",
                "0.1.0",
            ])
            .env("DPKG_MAINTSCRIPT_PACKAGE", PACKAGES[0])
            .env("DPKG_MAINTSCRIPT_NAME", "postinst"));
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    root.write(
        "run/redis/sonic-db/database_config.json",
        &db_config_text.replace(
            &redis.socket_path().display().to_string(),
            "/run/redis/no-such.sock",
        ),
    );
    let out = postinst();
    assert!(out.contains("'sonic-kube migrate' failed"), "{out}");
    root.write("run/redis/sonic-db/database_config.json", &db_config_text);
    sonic_db_cli(1);
    let out = postinst();
    assert!(!out.contains("migrate"), "migrate not run: {out}");
    std::fs::remove_file(root.path().join("usr/local/bin/sonic-db-cli")).expect("rm sonic-db-cli");
    let out = postinst();
    assert!(!out.contains("migrate"), "migrate not run: {out}");
    assert_eq!(
        fallback("gnmi"),
        "",
        "untouched while migrate could not run"
    );
    sonic_db_cli(port);
    let out = postinst();
    assert!(out.contains("migrated 1 FEATURE row(s)"), "{out}");
    assert_eq!(fallback("gnmi"), "true");

    // An image build has no CONFIG_DB: the unit the package enables migrates on the image's
    // first boot, once. The completions and man pages are installed.
    installed::first_boot_migrate(&root, &redis, config_db);
    installed::assert_generated_files(root.path(), None);

    // Its binaries answer from the installed paths.
    let out = ok(&mut root.run(&["/usr/local/bin/container", "--version"]));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("container {}\n", env!("CARGO_PKG_VERSION"))
    );
    let out = ok(&mut root.run(&["/usr/bin/sonic-kube", "--help"]));
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(
        help.contains("service") && help.contains("migrate"),
        "{help}"
    );
    let out = ok(&mut root.run(&["dpkg-query", "-W", "-f=${Conffiles}", PACKAGES[0]]));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("/etc/sonic/ctrmgr.json"),
        "ctrmgr.json is a conffile"
    );

    // `container id` against the test's Redis, through its socket bound into the root.
    redis_cli(
        &redis,
        config_db,
        &["HSET", "FEATURE|lldp", "set_owner", "local"],
    );
    redis_cli(
        &redis,
        state_db,
        &[
            "HSET",
            "FEATURE|lldp",
            "current_owner",
            "local",
            "container_id",
            "lldp",
        ],
    );
    let db_arg = db_config.to_str().expect("UTF-8 path");
    let out = ok(&mut root.run(&[
        "/usr/local/bin/container",
        "--db-config",
        db_arg,
        "id",
        "lldp",
    ]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "lldp\n");

    // `sonic-kube service install` renders units and scripts into the root. systemd is not
    // PID 1 here: a `systemctl` that records its arguments stands in for it.
    root.write(
        "usr/local/sbin/systemctl",
        "#!/bin/sh\necho \"$*\" >> /tmp/systemctl.log\n",
    );
    ok(Command::new("chmod")
        .arg("755")
        .arg(root.path().join("usr/local/sbin/systemctl")));
    let specs = [
        serde_json_spec("lldp", r#""set_owner": "kube", "fallback": false"#),
        serde_json_spec(
            "snmp",
            r#""set_owner": "kube", "fallback": true, "local_image": "docker-snmp:latest",
               "docker_create_args": "--net=host", "warm_reboot": ["/usr/bin/sync"],
               "user": "admin", "stop_timeout": 60,
               "required_by": ["lldp"]"#,
        ),
        serde_json_spec(
            "bgp",
            r#""set_owner": "kube", "fallback": true, "local_image": "docker-fpm-frr:latest",
               "docker_create_args": "--net=host", "multi_instance": true,
               "instances": ["0", "1"]"#,
        ),
    ];
    let mut written = Vec::new();
    for (name, spec) in &specs {
        let rel = format!("tmp/{name}.json");
        root.write(&rel, spec);
        let out = ok(&mut root.run(&[
            "/usr/bin/sonic-kube",
            "--db-config",
            db_arg,
            "service",
            "install",
            &format!("/{rel}"),
        ]));
        written.extend(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter_map(|l| l.strip_prefix("wrote /"))
                .filter(|p| !p.starts_with("CONFIG_DB") && !p.contains(": "))
                .map(str::to_owned),
        );
        assert_eq!(
            redis_cli(
                &redis,
                config_db,
                &["HGET", &format!("FEATURE|{name}"), "set_owner"]
            ),
            "kube"
        );
    }
    let log = std::fs::read_to_string(root.path().join("tmp/systemctl.log")).unwrap_or_default();
    assert!(log.contains("daemon-reload"), "systemctl calls: {log}");

    // systemd-analyze verify, in the root: the package's daemon units and the rendered ones,
    // with their ExecStart binaries and scripts as installed. systemd's own units come from
    // the machine's systemd package; SONiC's database.service and sonic.target are stubs.
    ok(Command::new("cp")
        .arg("-rn")
        .arg("/lib/systemd/system/.")
        .arg(root.path().join("lib/systemd/system")));
    root.write(
        "etc/systemd/system/database.service",
        "[Unit]\nDescription=stub of SONiC's database.service\n[Service]\nType=oneshot\nExecStart=/bin/true\n",
    );
    root.write(
        "etc/systemd/system/sonic.target",
        "[Unit]\nDescription=stub of SONiC's sonic.target\n",
    );
    let mut units: Vec<String> = ["hostcfgd-watcher", "kube-monit", "kube-labeler"]
        .iter()
        .map(|u| format!("/lib/systemd/system/{u}.service"))
        .collect();
    // A template is verified as an instance of it (`bgp@0.service`), as systemd loads it.
    units.extend(
        written
            .iter()
            .filter(|p| p.ends_with(".service"))
            .map(|p| format!("/{}", p.replace("@.service", "@0.service"))),
    );
    assert!(
        units.iter().any(|u| u.ends_with("/bgp@0.service")),
        "rendered units: {written:?}"
    );
    assert!(units.len() >= 7, "rendered units: {written:?}");
    // The daemons are part of sonic.target, as upstream's ctrmgrd.service (decisions pkg-4).
    for unit in &units[..3] {
        let text = std::fs::read_to_string(root.path().join(&unit[1..])).expect("installed unit");
        for line in [
            "BindsTo=sonic.target",
            "After=sonic.target",
            "WantedBy=sonic.target",
            "Restart=always",
        ] {
            assert!(text.lines().any(|l| l == line), "{unit} lacks {line}");
        }
    }
    units.push(installed::MIGRATE_UNIT.to_owned());
    ok(Command::new("systemd-analyze")
        .arg("verify")
        .arg(format!("--root={}", root.path().display()))
        .args(&units));

    // shellcheck: every rendered script, the installed `system`, the maintainer scripts.
    let mut scripts: Vec<PathBuf> = written
        .iter()
        .map(|p| root.path().join(p))
        .filter(|p| std::fs::read(p).is_ok_and(|b| b.starts_with(b"#!")))
        .collect();
    assert!(scripts.len() >= 3, "rendered scripts: {written:?}");
    scripts.push(root.path().join("usr/bin/system"));
    scripts.push(project.join("debian/sonic-ctrmgr.postinst"));
    scripts.push(project.join("debian/sonic-ctrmgr.prerm"));
    scripts.push(project.join("debian/sonic-ctrmgr-local.postinst"));
    ok(Command::new("shellcheck").args(&scripts));

    // sonic-ctrmgr-local replaces sonic-ctrmgr (Conflicts + Replaces): `container` stays,
    // without Kubernetes support, and the kube tools go.
    ok(&mut root.run(&["dpkg", "-i", &deb_in_root(1)]));
    let out = ok(&mut root.run(&[
        "/usr/local/bin/container",
        "--db-config",
        db_arg,
        "id",
        "lldp",
    ]));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "lldp\n");
    assert!(!root.path().join("usr/bin/sonic-kube").exists());
    installed::assert_generated_files(root.path(), Some("container"));
    let out = ok(&mut root.run(&["dpkg-query", "-W", "-f=${db:Status-Status}", PACKAGES[0]]));
    assert_ne!(String::from_utf8_lossy(&out.stdout), "installed");
    drop(root);
}

/// A stand-in for SONiC's `sonic-db-cli` (a Python tool not in the root) that knows
/// `CONFIG_DB PING` only: it asks the Redis on 127.0.0.1:`port` with bash's /dev/tcp and
/// succeeds when it answers PONG, as sonic-db-cli does when CONFIG_DB answers.
fn sonic_db_cli_stub(port: u16) -> String {
    format!(
        r#"#!/bin/bash
# Stand-in for SONiC's sonic-db-cli in the install test: `CONFIG_DB PING` only.
if [ "$*" != "CONFIG_DB PING" ]; then
    echo "sonic-db-cli (test stand-in): only CONFIG_DB PING" >&2
    exit 2
fi
exec 3<>"/dev/tcp/127.0.0.1/{port}" || exit 1
printf 'PING\r\n' >&3
IFS= read -r -t 5 reply <&3 || exit 1
[ "${{reply%$'\r'}}" = "+PONG" ] || exit 1
echo PONG
"#
    )
}

/// A `service install` spec for `name` with the extra JSON fields `extra`.
fn serde_json_spec(name: &str, extra: &str) -> (String, String) {
    let spec = format!(
        r#"{{"name": "{name}", "description": "{name} container", "requires": ["database"],
            "pre_start": ["/usr/bin/logger {name} starting"], {extra}}}"#
    );
    (name.to_owned(), spec)
}
