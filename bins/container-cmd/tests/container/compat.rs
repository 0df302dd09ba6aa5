//! `container` as a drop-in for the SONiC that ships today (issue 12): upstream's STATE_DB
//! fields read back by readers written here from the semantics of sonic-utilities'
//! `show feature status` and monit's `container_checker`; `no_fallback_to_local`; names
//! without a `FEATURE` row (`lldp0`); the real binary run as a non-root user in the `docker`
//! and `redis` groups with the lock directory the packaged tmpfiles.d entry creates
//! (`container_startup.py` and the sample DaemonSet: startup.rs).

use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::PermissionsExt;

use ctrmgr_core::codec::upstream;
use ctrmgr_core::{CurrentOwner, TransitionMode};

use super::*;

// ---- readers written from upstream's semantics ----------------------------------------------

/// A plain connection with `db` selected.
async fn conn(sw: &Switch, db: DbName) -> redis::aio::MultiplexedConnection {
    let client = sw.fixture.redis.client().expect("redis client");
    let mut conn = client
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    redis::cmd("SELECT")
        .arg(sw.fixture.db.location(db).id)
        .query_async::<()>(&mut conn)
        .await
        .expect("SELECT");
    conn
}

/// Every `FEATURE|*` row of `db`, by name.
async fn feature_table(sw: &Switch, db: DbName) -> BTreeMap<String, Fields> {
    let mut c = conn(sw, db).await;
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg("FEATURE|*")
        .query_async(&mut c)
        .await
        .expect("KEYS");
    let mut out = BTreeMap::new();
    for key in keys {
        let fields: Fields = redis::cmd("HGETALL")
            .arg(&key)
            .query_async(&mut c)
            .await
            .expect("HGETALL");
        out.insert(key["FEATURE|".len()..].to_owned(), fields);
    }
    out
}

/// monit's `container_checker`, from its semantics: the features expected to run are the
/// CONFIG_DB `FEATURE` rows whose `state` is neither `disabled` nor `always_disabled`; a
/// feature runs when its STATE_DB `FEATURE` row has a non-empty `container_id`. Returns the
/// expected features that do not run (the checker alerts on them).
async fn container_checker(sw: &Switch) -> BTreeSet<String> {
    let expected: BTreeSet<String> = feature_table(sw, DbName::ConfigDb)
        .await
        .into_iter()
        .filter(|(_, f)| {
            !matches!(
                f.get("state").map(String::as_str),
                Some("disabled" | "always_disabled")
            )
        })
        .map(|(n, _)| n)
        .collect();
    let running: BTreeSet<String> = feature_table(sw, DbName::StateDb)
        .await
        .into_iter()
        .filter(|(_, f)| f.get("container_id").is_some_and(|v| !v.is_empty()))
        .map(|(n, _)| n)
        .collect();
    expected.difference(&running).cloned().collect()
}

/// `show feature status`, from its semantics: for every CONFIG_DB feature, its STATE_DB row
/// updated with its CONFIG_DB row, shown in the columns below (`""` when absent).
async fn show_feature_status(sw: &Switch) -> BTreeMap<String, BTreeMap<&'static str, String>> {
    const COLUMNS: [(&str, &str); 9] = [
        ("State", "state"),
        ("AutoRestart", "auto_restart"),
        ("SystemState", "system_state"),
        ("UpdateTime", "update_time"),
        ("ContainerId", "container_id"),
        ("Version", "container_version"),
        ("SetOwner", "set_owner"),
        ("CurrentOwner", "current_owner"),
        ("RemoteState", "remote_state"),
    ];
    let state = feature_table(sw, DbName::StateDb).await;
    let mut out = BTreeMap::new();
    for (name, cfg) in feature_table(sw, DbName::ConfigDb).await {
        let mut data = state.get(&name).cloned().unwrap_or_default();
        data.extend(cfg);
        let row = COLUMNS
            .iter()
            .map(|(h, f)| (*h, data.get(*f).cloned().unwrap_or_default()))
            .collect();
        out.insert(name, row);
    }
    out
}

/// Sets raw CONFIG_DB `FEATURE|<f>` fields (as `config feature …` of sonic-utilities does).
async fn config_set(sw: &Switch, feature: &str, pairs: &[(&str, &str)]) {
    let mut c = conn(sw, DbName::ConfigDb).await;
    redis::cmd("HSET")
        .arg(format!("FEATURE|{feature}"))
        .arg(pairs)
        .query_async::<()>(&mut c)
        .await
        .expect("HSET");
}

fn is_update_time(s: &str) -> bool {
    upstream::parse_update_time(s).is_some()
}

// ---- tests -----------------------------------------------------------------------------

#[tokio::test]
async fn show_feature_status_and_container_checker_see_the_features_that_run() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    // a: local, started through `container start`.
    let a = sw.feature.clone();
    config_set(
        &sw,
        a.as_str(),
        &[("state", "enabled"), ("set_owner", "local")],
    )
    .await;
    let local = sw.local_container(&a, false).await;
    sw.ok(&["start", a.as_str()]).await;
    // b: kube, approved, then claimed by a kube container.
    let b = unique_feature();
    config_set(
        &sw,
        b.as_str(),
        &[("state", "enabled"), ("set_owner", "kube")],
    )
    .await;
    sw.set_record(&b, State::KubeReady, None).await;
    let kube = sw.kube_container(true).await;
    sw.ok(&["state", b.as_str(), "up", "kube", "--id", kube.as_str()])
        .await;
    // c: enabled, never started; d: disabled.
    let c = unique_feature();
    config_set(&sw, c.as_str(), &[("state", "enabled")]).await;
    let d = unique_feature();
    config_set(&sw, d.as_str(), &[("state", "disabled")]).await;

    assert_eq!(
        container_checker(&sw).await,
        BTreeSet::from([c.to_string()]),
        "only c is expected and not running"
    );
    let status = show_feature_status(&sw).await;
    let ra = &status[a.as_str()];
    assert_eq!(ra["SystemState"], "up");
    assert_eq!(
        ra["ContainerId"],
        a.as_str(),
        "upstream records a local container by name"
    );
    assert_eq!(ra["CurrentOwner"], "local");
    assert_eq!(ra["RemoteState"], "none");
    assert!(is_update_time(&ra["UpdateTime"]), "{:?}", ra["UpdateTime"]);
    let rb = &status[b.as_str()];
    assert_eq!(rb["SystemState"], "up");
    assert_eq!(rb["ContainerId"], kube.short());
    assert_eq!(rb["CurrentOwner"], "kube");
    assert_eq!(rb["RemoteState"], "running");
    assert_eq!(rb["SetOwner"], "kube");
    assert!(is_update_time(&rb["UpdateTime"]));
    assert_eq!(status[c.as_str()]["SystemState"], "");

    // Stopping a: it no longer runs for either reader, and the two field sets agree.
    sw.ok(&["stop", a.as_str()]).await;
    assert!(!sw.running(&local).await);
    assert_eq!(
        container_checker(&sw).await,
        BTreeSet::from([a.to_string(), c.to_string()])
    );
    let status = show_feature_status(&sw).await;
    assert_eq!(status[a.as_str()]["SystemState"], "down");
    assert_eq!(status[a.as_str()]["ContainerId"], "");
    let row = sw.raw_row(&a).await;
    assert_eq!(row["current_owner"], "none");
    assert_eq!(row["docker_id"], "");
    assert_eq!(
        upstream::parse_update_time(&row["update_time"]),
        row["current_owner_update_ts"].parse().ok(),
        "update_time is the seed's timestamp, formatted as upstream writes it"
    );
}

/// Upstream's `no_fallback_to_local` is honoured when `fallback_to_local` is absent:
/// `false` lets the local image run until kube deploys, `true` does not; with neither field the
/// seed's default (no fallback) applies, and `fallback_to_local` wins over it.
#[tokio::test]
async fn no_fallback_to_local_is_read_when_fallback_to_local_is_absent() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    for (pairs, runs_local) in [
        (vec![("no_fallback_to_local", "false")], true),
        (vec![("no_fallback_to_local", "true")], false),
        (vec![], false),
        (
            vec![
                ("no_fallback_to_local", "true"),
                ("fallback_to_local", "true"),
            ],
            true,
        ),
    ] {
        let f = unique_feature();
        let mut all = vec![("set_owner", "kube"), ("state", "enabled")];
        all.extend(pairs.iter().copied());
        config_set(&sw, f.as_str(), &all).await;
        let local = sw.local_container(&f, false).await;
        sw.ok(&["start", f.as_str()]).await;
        let rec = sw.record(&f).await;
        assert_eq!(sw.running(&local).await, runs_local, "{pairs:?}");
        if runs_local {
            assert_eq!(rec.current_owner, CurrentOwner::Local, "{pairs:?}");
        } else {
            assert_eq!(rec.transition_mode, TransitionMode::KubeReady, "{pairs:?}");
            assert_eq!(sw.raw_row(&f).await["remote_state"], "ready");
        }
        assert!(sw.labelled(&f), "kube owner: label added ({pairs:?})");
        sw.ok(&["stop", f.as_str()]).await;
    }
}

/// fast-reboot's `container kill lldp0` on a multi-ASIC switch: no CONFIG_DB row. Started
/// through `container start`, the container is recorded as upstream records it and killed.
#[tokio::test]
async fn a_name_without_a_row_is_started_recorded_and_killed_as_the_container_of_that_name() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    let c = sw.local_container(&f, false).await;
    let out = sw.ok(&["start", sw.f()]).await;
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no row"),
        "an info line says so"
    );
    assert!(sw.running(&c).await);
    let row = sw.raw_row(&f).await;
    assert_eq!(row["current_owner"], "local");
    assert_eq!(row["container_id"], sw.f());
    assert_eq!(row["system_state"], "up");
    let out = sw.ok(&["id", sw.f()]).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", sw.f())
    );

    sw.ok(&["kill", sw.f()]).await;
    assert!(!sw.running(&c).await, "killed");
    let row = sw.raw_row(&f).await;
    assert_eq!(row["container_id"], "");
    assert_eq!(row["system_state"], "down");
}

/// The same with nothing recorded (the container was started some other way): `container
/// kill <name>` kills the container of that name, `container stop <name>` stops it.
#[tokio::test]
async fn kill_of_a_name_without_a_row_and_nothing_recorded_kills_the_container_named_so() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    let c = sw.local_container(&f, true).await;
    sw.ok(&["kill", sw.f()]).await;
    assert!(!sw.running(&c).await, "killed by name");
    assert!(sw.raw_row(&f).await.is_empty(), "nothing recorded");

    sw.docker.client().start(&c).await.expect("start again");
    sw.docker.await_ready(&c, DEADLINE).await.expect("ready");
    sw.ok(&["stop", "-t", "1", sw.f()]).await;
    assert!(!sw.running(&c).await, "stopped by name");
}

const NON_ROOT_USER: &str = "ctrmgr-admin";

/// Creates the non-root test user in the `docker` and `redis` groups, unless it exists.
fn ensure_non_root_user() {
    let exists = std::process::Command::new("id")
        .arg("-u")
        .arg(NON_ROOT_USER)
        .output()
        .expect("id runs")
        .status
        .success();
    if exists {
        return;
    }
    for g in ["docker", "redis"] {
        let st = std::process::Command::new("groupadd")
            .args(["-f", "--system", g])
            .status()
            .expect("groupadd runs");
        assert!(st.success(), "groupadd {g}");
    }
    let st = std::process::Command::new("useradd")
        .args([
            "--system",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "-G",
            "docker,redis",
            NON_ROOT_USER,
        ])
        .status()
        .expect("useradd runs");
    assert!(st.success(), "useradd {NON_ROOT_USER}");
}

fn chown_group(path: &Path, group: &str, mode: u32) {
    let st = std::process::Command::new("chgrp")
        .arg(group)
        .arg(path)
        .status()
        .expect("chgrp runs");
    assert!(st.success(), "chgrp {group} {}", path.display());
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// Several units (telemetry, pmon, lldp) run their scripts as `admin`, a non-root user in the
/// `docker` and `redis` groups. The real binary, run as such a user through `runuser`, stops
/// and starts a feature whose lock files root created before, in the lock directory the
/// packaged tmpfiles.d entry creates (mode 2770, group docker).
#[tokio::test]
async fn the_real_binary_works_as_a_non_root_user_in_the_docker_and_redis_groups() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    ensure_non_root_user();
    // The lock directory, as systemd-tmpfiles creates it from packaging/tmpfiles.d.
    let root = sw.fixture.dir.path().join("root");
    std::fs::create_dir_all(root.join("etc")).expect("mkdir root/etc");
    for f in ["group", "passwd"] {
        std::fs::copy(Path::new("/etc").join(f), root.join("etc").join(f)).expect("copy");
    }
    let conf = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../packaging/tmpfiles.d/ctrmgr.conf");
    let st = std::process::Command::new("systemd-tmpfiles")
        .arg("--create")
        .arg(format!("--root={}", root.display()))
        .arg(&conf)
        .status()
        .expect("systemd-tmpfiles runs");
    assert!(st.success(), "systemd-tmpfiles --create");
    let lock_dir = root.join("run/ctrmgr");
    let mode = std::fs::metadata(&lock_dir)
        .expect("lock dir")
        .permissions()
        .mode();
    assert_eq!(mode & 0o7777, 0o2770);
    sw.fixture.write_tunables(serde_json::json!({
        "stop_grace_secs": 2,
        "lock_dir": lock_dir,
    }));
    // What SONiC gives the groups: the Redis socket to `redis`, the switch's files readable.
    chown_group(sw.fixture.redis.dir(), "redis", 0o750);
    let socket = std::fs::read_dir(sw.fixture.redis.dir())
        .expect("redis dir")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "sock"))
        .expect("the redis socket");
    chown_group(&socket, "redis", 0o770);
    std::fs::set_permissions(
        sw.fixture.dir.path(),
        std::fs::Permissions::from_mode(0o755),
    )
    .expect("chmod fixture dir");
    std::fs::set_permissions(root.join("run"), std::fs::Permissions::from_mode(0o755))
        .expect("chmod run");
    std::fs::set_permissions(&root, std::fs::Permissions::from_mode(0o755)).expect("chmod root");

    let f = sw.feature.clone();
    config_set(
        &sw,
        f.as_str(),
        &[("state", "enabled"), ("set_owner", "local")],
    )
    .await;
    let c = sw.local_container(&f, false).await;
    // root first: the lock files are root's (mode 0640 under the umask, group docker).
    sw.ok(&["start", sw.f()]).await;
    let lock = lock_dir.join(format!("{f}.lock"));
    let meta = std::fs::metadata(&lock).expect("lock file");
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&meta),
        0,
        "root's lock file"
    );

    let as_user = |args: &[&str]| {
        let mut cmd = tokio::process::Command::new("runuser");
        cmd.args(["-u", NON_ROOT_USER, "--", BIN])
            .args(sw.fixture.cli_args())
            .args(args)
            .env("DOCKER_HOST", sw.docker.host())
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        run_bounded(cmd)
    };
    let out = as_user(&["stop", sw.f()]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
    assert!(!sw.running(&c).await);
    assert_eq!(sw.record(&f).await.state(), State::Init);
    let out = as_user(&["start", sw.f()]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
    assert!(sw.running(&c).await);
    assert_eq!(sw.record(&f).await.current_owner, CurrentOwner::Local);
    let out = as_user(&["id", sw.f()]).await;
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{f}\n"));
    sw.ok(&["stop", sw.f()]).await;

    // A kube feature: the kubeconfig is root's alone (mode 0600, as a join writes it), so the
    // label change cannot be sent by this user; it is queued in the pending list, for
    // `kube-labeler run` (root) to drain, and the start succeeds.
    std::fs::set_permissions(
        &sw.fixture.kubeconfig,
        std::fs::Permissions::from_mode(0o600),
    )
    .expect("chmod kubeconfig");
    let k = unique_feature();
    config_set(
        &sw,
        k.as_str(),
        &[("state", "enabled"), ("set_owner", "kube")],
    )
    .await;
    let out = as_user(&["start", k.as_str()]).await;
    assert_eq!(out.status.code(), Some(0), "{:?}", stderr_lines(&out));
    assert_eq!(sw.record(&k).await.state(), State::KubeReady);
    let pending = ctrmgr_core::ports::StateStore::pending_labels(&sw.fixture.db)
        .await
        .expect("pending list");
    // Ahead of it, the removals of the local feature's label that its Stop and Start made
    // (with owner local every Stop and Start removes the label: decisions s), queued too.
    let pending: Vec<String> = pending.iter().map(ToString::to_string).collect();
    let (last, ahead) = pending
        .split_last()
        .expect("the kube feature's label is queued");
    assert_eq!(last, &format!("{}=true", k.enable_label_key()));
    assert!(
        ahead
            .iter()
            .all(|op| *op == format!("{}-", f.enable_label_key())),
        "{pending:?}"
    );
    assert!(!sw.labelled(&k), "not sent by the non-root user");
}
