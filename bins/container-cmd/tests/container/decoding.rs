//! rel-1: STATE_DB is decoded by the total rule. A row that holds a value this project does
//! not know (`transition_mode=weird`, `current_owner=garbage`, a `docker_id` that is no id)
//! no longer makes `container start|stop|id|wait` exit 1: the value is read as the nearest,
//! a warning names key, field and value, a Stop stops what runs, and the next write repairs
//! the row.

use ctrmgr_core::{CurrentOwner, Owner, State};

use super::*;

/// The row is canonical: every field decodes without a warning, and owner and mode are one
/// of the seven states.
fn assert_canonical(row: &Fields, key: &str) -> FeatureRecord {
    let d = codec::decode_feature_state(key, row);
    assert!(
        d.warnings.is_empty(),
        "repaired: {:?} in {row:?}",
        d.warnings
    );
    assert!(d.record.classify().1.is_none(), "{row:?}");
    d.record
}

fn warned(out: &Output, field: &str, value: &str) -> bool {
    stderr_lines(out)
        .iter()
        .any(|l| l.contains("WARN") && l.contains(field) && l.contains(&format!("{value:?}")))
}

#[tokio::test]
async fn an_unknown_transition_mode_is_read_as_none_stopped_and_repaired() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    let key = format!("FEATURE|{f}");
    sw.configure(&f, Owner::Local, false).await;
    let local = sw.local_container(&f, true).await;
    sw.raw_set(
        &f,
        &[
            ("current_owner", "local"),
            ("docker_id", local.as_str()),
            ("transition_mode", "weird"),
        ],
    )
    .await;

    // `id` reads the recorded container (no write).
    let out = sw.ok(&["id", sw.f()]).await;
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("{}\n", sw.f())
    );

    let out = sw.ok(&["stop", sw.f()]).await;
    assert!(
        warned(&out, "transition_mode", "weird"),
        "{:?}",
        stderr_lines(&out)
    );
    assert!(
        !sw.running(&local).await,
        "the running container was stopped"
    );
    let row = sw.raw_row(&f).await;
    let rec = assert_canonical(&row, &key);
    assert_eq!(rec.state(), State::Init);
    assert_eq!(row.get("transition_mode").map(String::as_str), Some("none"));
    assert_eq!(row.get("current_owner").map(String::as_str), Some("none"));

    // And the feature starts again.
    sw.raw_set(&f, &[("transition_mode", "weird")]).await;
    let out = sw.ok(&["start", sw.f()]).await;
    assert!(warned(&out, "transition_mode", "weird"));
    assert!(sw.running(&local).await, "started");
    let row = sw.raw_row(&f).await;
    let rec = assert_canonical(&row, &key);
    assert_eq!(rec.state(), State::Local);
    assert_eq!(rec.docker_id.as_ref(), Some(&local));

    // `wait` waits on it despite an unknown mode, and a Stop ends it with 0.
    sw.raw_set(&f, &[("transition_mode", "kube_draining")])
        .await;
    let mut wait = sw.spawn(&["wait", sw.f()]);
    wait.await_line("waiting for the container to exit").await;
    sw.ok(&["stop", sw.f()]).await;
    let status = wait.finish().await;
    assert_eq!(status.code(), Some(0), "{:?}", wait.stderr());
    assert!(!sw.running(&local).await);
    assert_eq!(
        assert_canonical(&sw.raw_row(&f).await, &key).state(),
        State::Init
    );
}

#[tokio::test]
async fn an_unknown_owner_and_an_unparseable_id_still_let_stop_stop_the_local_container() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    let key = format!("FEATURE|{f}");
    sw.configure(&f, Owner::Local, false).await;
    let local = sw.local_container(&f, true).await;
    sw.raw_set(
        &f,
        &[
            ("current_owner", "garbage"),
            ("docker_id", "not an id|*\n"),
            ("transition_mode", "none"),
            ("current_owner_update_ts", "yesterday"),
        ],
    )
    .await;

    let out = sw.ok(&["stop", sw.f()]).await;
    assert!(
        warned(&out, "current_owner", "garbage"),
        "{:?}",
        stderr_lines(&out)
    );
    assert!(warned(&out, "docker_id", "not an id|*\n"));
    assert!(
        !sw.running(&local).await,
        "the feature's container was stopped by its name"
    );
    let row = sw.raw_row(&f).await;
    let rec = assert_canonical(&row, &key);
    assert_eq!(rec.current_owner, CurrentOwner::None);
    assert_eq!(row.get("docker_id").map(String::as_str), Some(""));

    sw.raw_set(&f, &[("current_owner", "garbage")]).await;
    sw.ok(&["start", sw.f()]).await;
    assert!(sw.running(&local).await);
    let rec = assert_canonical(&sw.raw_row(&f).await, &key);
    assert_eq!(rec.state(), State::Local);
    sw.ok(&["stop", sw.f()]).await;
}

#[tokio::test]
async fn an_invalid_configuration_value_stays_a_clear_error_naming_key_field_and_value() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.fixture
        .db
        .set_feature_config(&f, &FeatureConfig::default())
        .await
        .expect("configure");
    let mut conn = sw
        .fixture
        .redis
        .client()
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connect");
    redis::cmd("SELECT")
        .arg(sw.fixture.db.location(DbName::ConfigDb).id)
        .query_async::<()>(&mut conn)
        .await
        .expect("SELECT");
    redis::cmd("HSET")
        .arg(format!("FEATURE|{f}"))
        .arg("set_owner")
        .arg("weird")
        .query_async::<()>(&mut conn)
        .await
        .expect("HSET");
    for cmd in ["start", "stop"] {
        let out = sw.run_quiet(&[cmd, sw.f()]).await;
        assert_fails_with(&out, &[&format!("FEATURE|{f}"), "set_owner", "\"weird\""]);
    }
    assert!(sw.raw_row(&f).await.is_empty(), "nothing written");
}
