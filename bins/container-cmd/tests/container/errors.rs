//! Failures: exit 1 and one line on stderr saying what failed, for which feature, and why;
//! nothing half-written (the STATE_DB row is unchanged). Usage errors exit 2.

use ctrmgr_core::Owner;

use super::*;

#[tokio::test]
async fn starting_a_feature_whose_local_container_is_missing_fails_and_writes_nothing() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;

    let out = sw.run_quiet(&["start", sw.f()]).await;

    assert_fails_with(&out, &["cannot start feature", sw.f(), "not found"]);
    assert!(sw.raw_row(&f).await.is_empty(), "STATE_DB row unchanged");
}

/// A name without a CONFIG_DB `FEATURE` row is the local container of that name, as upstream
/// `container` has it (`lldp0` on multi-ASIC switches): when no such container exists, the
/// commands that need it fail naming it, stop and kill have nothing to do, and nothing is
/// written.
#[tokio::test]
async fn a_name_without_a_feature_row_whose_container_does_not_exist_fails_and_writes_nothing() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    for cmd in ["start", "wait", "id", "inspect"] {
        let out = sw.run_quiet(&[cmd, sw.f()]).await;
        assert_fails_with(&out, &[sw.f()]);
    }
    for cmd in ["stop", "kill"] {
        let out = sw.run_quiet(&[cmd, sw.f()]).await;
        assert_eq!(
            out.status.code(),
            Some(0),
            "{cmd}: {:?}",
            stderr_lines(&out)
        );
    }
    assert!(sw.raw_row(&f).await.is_empty());
}

#[tokio::test]
async fn a_malformed_informational_field_does_not_stop_container_stop() {
    // Issue 8, item 8: a timestamp that is not a number, or an unknown current_owner, made
    // wave 1's `container stop` fail, so the feature could not be stopped. A Stop acts on
    // what decodes: the recorded container is stopped and the row is written canonical.
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let local = sw.local_container(&f, true).await;
    sw.raw_set(
        &f,
        &[
            ("current_owner", "bogus"),
            ("current_owner_update_ts", "yesterday"),
            ("docker_id", local.as_str()),
        ],
    )
    .await;

    sw.ok(&["stop", sw.f()]).await;

    assert!(
        !sw.running(&local).await,
        "the recorded container was stopped"
    );
    let rec = sw.record(&f).await;
    assert_eq!(rec.state(), State::Init);
    assert_eq!(rec.current_owner, ctrmgr_core::CurrentOwner::None);
    assert_eq!(rec.docker_id, None);
}

#[tokio::test]
async fn a_malformed_configuration_fails_naming_the_field_and_value() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let mut conn = sw.raw_conn().await;
    redis::cmd("SELECT")
        .arg(sw.fixture.db.location(DbName::ConfigDb).id)
        .query_async::<()>(&mut conn)
        .await
        .expect("SELECT CONFIG_DB");
    redis::cmd("HSET")
        .arg(codec::row_key(codec::FEATURE_TABLE, "|", sw.f()))
        .arg("set_owner")
        .arg("kub")
        .query_async::<()>(&mut conn)
        .await
        .expect("HSET");

    let out = sw.run_quiet(&["start", sw.f()]).await;
    assert_fails_with(&out, &[sw.f(), "set_owner", "\"kub\""]);
    assert!(sw.raw_row(&f).await.is_empty());
}

#[tokio::test]
async fn with_docker_down_start_and_stop_fail_clearly_and_write_nothing() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let dead = format!("unix://{}", dead_socket(sw.fixture.dir.path()).display());

    let mut start = sw.command(&["start", sw.f()]);
    start.env("DOCKER_HOST", &dead).env("RUST_LOG", "off");
    let out = run_bounded(start).await;
    assert_fails_with(&out, &["cannot start feature", sw.f(), "docker engine"]);
    assert!(sw.raw_row(&f).await.is_empty());

    let local = sw.local_container(&f, true).await;
    sw.set_record(&f, State::Local, Some(&local)).await;
    let before = sw.raw_row(&f).await;
    let mut stop = sw.command(&["stop", sw.f()]);
    stop.env("DOCKER_HOST", &dead).env("RUST_LOG", "off");
    let out = run_bounded(stop).await;
    assert_fails_with(&out, &["cannot stop feature", sw.f(), "docker engine"]);
    assert_eq!(sw.raw_row(&f).await, before, "STATE_DB row unchanged");
    assert!(sw.running(&local).await);
}

#[tokio::test]
async fn with_redis_down_commands_fail_clearly() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    let db_config = sw.fixture.dir.path().join("dead_database_config.json");
    std::fs::write(
        &db_config,
        serde_json::json!({
            "INSTANCES": { "redis": { "unix_socket_path": dead_socket(sw.fixture.dir.path()) } },
            "DATABASES": {
                "CONFIG_DB": { "id": 4, "separator": "|", "instance": "redis" },
                "STATE_DB": { "id": 6, "separator": "|", "instance": "redis" }
            },
            "VERSION": "1.0"
        })
        .to_string(),
    )
    .expect("write database config");
    for cmd in ["start", "stop", "id", "wait"] {
        let mut c = tokio::process::Command::new(BIN);
        c.arg("--db-config")
            .arg(&db_config)
            .args([
                "--config",
                &sw.fixture.tunables_path().display().to_string(),
            ])
            .args([cmd, sw.f()])
            .env("DOCKER_HOST", sw.docker.host())
            .env("RUST_LOG", "off")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        let out = run_bounded(c).await;
        assert_fails_with(
            &out,
            &[sw.f(), "cannot connect to the SONiC databases", "redis"],
        );
        // The one line names each cause once (issue 9): no "refused …: refused".
        let err = String::from_utf8_lossy(&out.stderr);
        let mut seen = std::collections::BTreeSet::new();
        assert!(
            err.trim().split(": ").all(|part| seen.insert(part)),
            "a cause is repeated: {err}"
        );
    }
    assert!(sw.raw_row(&f).await.is_empty());
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &[][..],
        &["start"][..],
        &["start", "Not/A/Feature"][..],
        &["frobnicate", "snmp"][..],
        &["exec", "snmp"][..],
        &["state", "snmp", "up", "sideways"][..],
        &["stop", "-t", "soon", "snmp"][..],
    ] {
        let out = std::process::Command::new(BIN)
            .args(args)
            .output()
            .expect("container runs");
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn help_exits_0_and_lists_every_command() {
    let out = std::process::Command::new(BIN)
        .arg("--help")
        .output()
        .expect("container runs");
    assert_eq!(out.status.code(), Some(0));
    let help = String::from_utf8_lossy(&out.stdout);
    for cmd in [
        "start", "stop", "kill", "wait", "id", "inspect", "exec", "state", "kill-all",
    ] {
        assert!(help.contains(&format!("  {cmd} ")), "{cmd} missing: {help}");
    }
}

/// Every key in every database of the switch's Redis, with its hash fields, sorted.
async fn all_keys(sw: &Switch) -> Vec<(i64, String, Vec<(String, String)>)> {
    let mut conn = sw.raw_conn().await;
    let mut all = Vec::new();
    for db in 0..16_i64 {
        redis::cmd("SELECT")
            .arg(db)
            .query_async::<()>(&mut conn)
            .await
            .expect("SELECT");
        let mut keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut conn)
            .await
            .expect("KEYS");
        keys.sort();
        for key in keys {
            let mut fields: Vec<(String, String)> = redis::cmd("HGETALL")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .unwrap_or_default();
            fields.sort();
            all.push((db, key, fields));
        }
    }
    all
}

/// Hostile input (issue 15, point 5): names that try path traversal, Redis-key syntax (`|`,
/// `*`, a new line) or shell metacharacters are refused by every command with one error line
/// and a non-zero exit, and nothing in Redis changes.
#[tokio::test]
async fn hostile_feature_names_are_refused_with_one_line_and_nothing_written() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let before = all_keys(&sw).await;
    let hostile = [
        "../x".to_owned(),
        format!("../{}", sw.f()),
        format!("{}|x", sw.f()),
        "*".to_owned(),
        format!("{}*", sw.f()),
        format!("{}\nFEATURE|x", sw.f()),
        format!("{};touch /tmp/pwned", sw.f()),
        "$(id)".to_owned(),
        "`id`".to_owned(),
        "-rf".to_owned(),
        String::new(),
    ];
    for name in &hostile {
        for cmd in ["start", "stop", "kill", "wait", "id"] {
            let out = sw.run_quiet(&[cmd, name]).await;
            let lines = stderr_lines(&out);
            assert!(
                matches!(out.status.code(), Some(1 | 2)),
                "{cmd} {name:?}: exit {:?}, {lines:?}",
                out.status.code()
            );
            assert!(!lines.is_empty(), "{cmd} {name:?}: an error line");
            assert!(
                lines[0].starts_with("container: error") || lines[0].starts_with("error:"),
                "{cmd} {name:?}: {lines:?}"
            );
            if out.status.code() == Some(1) {
                assert_eq!(lines.len(), 1, "{cmd} {name:?}: one line: {lines:?}");
            }
        }
    }
    assert_eq!(all_keys(&sw).await, before, "nothing written to Redis");
}
