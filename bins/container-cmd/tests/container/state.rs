//! `container state <f> up kube|local` and `container state <f> down`: proceed from
//! kube_ready, wait for an approval, park while set_owner=local and ask again when it turns
//! kube, record a dead owner down before a new container asks.

use ctrmgr_core::ports::StateStore as _;
use ctrmgr_core::{CurrentOwner, StateWrite, Timestamp, TransitionMode};

use super::*;

/// Logged by `park` once its SIGTERM handler is installed (the driver's earlier step line also
/// says "parked", but a SIGTERM sent then would still meet the default action).
const PARKED: &str = "waiting for set_owner to turn kube, or for SIGTERM";
const WAITING: &str = "waiting for approval";

#[tokio::test]
async fn up_kube_from_kube_ready_claims_the_feature_and_proceeds() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    sw.set_record(&f, State::KubeReady, None).await;
    let kube = sw.kube_container(true).await;

    sw.ok(&["state", sw.f(), "up", "kube", "--id", kube.as_str()])
        .await;

    let rec = sw.record(&f).await;
    assert_eq!(rec.current_owner, CurrentOwner::Kube);
    assert_eq!(rec.docker_id.as_ref(), Some(&kube));
    assert_eq!(rec.transition_mode, TransitionMode::KubeRunning);
    assert!(rec.current_owner_update_ts.is_some());
    assert!(rec.transition_mode_update_ts.is_some());
}

#[tokio::test]
async fn up_kube_waits_for_approval_then_proceeds_when_another_task_sets_kube_ready() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    let kube = sw.kube_container(true).await;

    let mut up = sw.spawn(&["state", sw.f(), "up", "kube", "--id", kube.as_str()]);
    sw.await_record(&f, "kube_pending", |r| {
        r.transition_mode == TransitionMode::KubePending
    })
    .await;
    up.await_line(WAITING).await;
    assert!(up.is_running(), "waits for approval: {:?}", up.stderr());

    // hostcfgd's approval: kube_ready, compare-and-set on kube_pending.
    let approved = sw
        .fixture
        .db
        .write_state(
            &f,
            &StateWrite {
                guard: Some(TransitionMode::KubePending),
                owner: None,
                mode: Some(TransitionMode::KubeReady),
                start_requested: None,
                now: Timestamp::from_secs(1),
            },
        )
        .await
        .expect("write kube_ready");
    assert!(approved);

    let status = up.finish().await;
    assert_eq!(status.code(), Some(0), "{:?}", up.stderr());
    let rec = sw.record(&f).await;
    assert_eq!(rec.state(), State::KubeRunning);
    assert_eq!(rec.docker_id.as_ref(), Some(&kube));
}

#[tokio::test]
async fn up_kube_waits_then_proceeds_when_container_start_approves_it_in_place() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    let kube = sw.kube_container(true).await;

    let mut up = sw.spawn(&["state", sw.f(), "up", "kube", "--id", kube.as_str()]);
    up.await_line(WAITING).await;
    sw.ok(&["start", sw.f()]).await;

    let status = up.finish().await;
    assert_eq!(status.code(), Some(0), "{:?}", up.stderr());
    assert_eq!(sw.record(&f).await.state(), State::KubeRunning);
    assert!(sw.labelled(&f), "start added the label");
}

#[tokio::test]
async fn up_kube_with_owner_local_parks_until_sigterm_whatever_happens_meanwhile() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    sw.set_record(&f, State::KubeReady, None).await;
    let kube = sw.kube_container(true).await;

    let mut up = sw.spawn(&["state", sw.f(), "up", "kube", "--id", kube.as_str()]);
    up.await_line(PARKED).await;

    // Rows change, none of them an approval that may apply: the parked container stays put.
    sw.raw_set(&f, &[("transition_mode", "kube_ready")]).await;
    sw.configure(&f, Owner::Local, true).await;
    sw.ok(&["start", sw.f()]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(up.is_running(), "still parked: {:?}", up.stderr());
    let rec = sw.record(&f).await;
    assert_ne!(
        rec.docker_id.as_ref(),
        Some(&kube),
        "never claimed: {rec:?}"
    );
    assert_ne!(rec.current_owner, CurrentOwner::Kube);

    up.terminate();
    let status = up.finish().await;
    assert_eq!(status.code(), Some(3), "parked: {:?}", up.stderr());
}

/// Liveness (`KubeAnswer::Park`): a parked container keeps watching CONFIG_DB and asks again
/// when set_owner turns kube; a parked container for ever would hold the DaemonSet's slot on
/// the node and the feature would never run from kube.
#[tokio::test]
async fn a_parked_kube_container_asks_again_when_set_owner_turns_kube_and_proceeds_once_approved() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let kube = sw.kube_container(true).await;

    let mut up = sw.spawn(&["state", sw.f(), "up", "kube", "--id", kube.as_str()]);
    up.await_line(PARKED).await;
    assert!(sw.raw_row(&f).await.is_empty(), "parking writes nothing");

    sw.fixture
        .db
        .set_feature_owner(&f, Owner::Kube)
        .await
        .expect("set_owner kube");
    // Asked again from INIT: it requests an approval and waits.
    sw.await_record(&f, "kube_pending", |r| {
        r.transition_mode == TransitionMode::KubePending
    })
    .await;
    up.await_line(WAITING).await;
    // systemd's start of the feature approves it in place.
    sw.ok(&["start", sw.f()]).await;

    let status = up.finish().await;
    assert_eq!(status.code(), Some(0), "{:?}", up.stderr());
    let rec = sw.record(&f).await;
    assert_eq!(rec.state(), State::KubeRunning, "{rec:?}");
    assert_eq!(rec.current_owner, CurrentOwner::Kube);
    assert_eq!(rec.docker_id.as_ref(), Some(&kube), "it owns the feature");
    let log = up.stderr().join("\n");
    assert!(
        !log.contains('\u{1b}'),
        "no ANSI colour codes when stderr is not a terminal: {log:?}"
    );
}

#[tokio::test]
async fn a_parked_kube_container_proceeds_at_once_when_set_owner_turns_kube_in_kube_ready() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    sw.set_record(&f, State::KubeReady, None).await;
    let kube = sw.kube_container(true).await;

    let mut up = sw.spawn(&["state", sw.f(), "up", "kube", "--id", kube.as_str()]);
    up.await_line(PARKED).await;
    sw.fixture
        .db
        .set_feature_owner(&f, Owner::Kube)
        .await
        .expect("set_owner kube");

    let status = up.finish().await;
    assert_eq!(status.code(), Some(0), "{:?}", up.stderr());
    let rec = sw.record(&f).await;
    assert_eq!(rec.state(), State::KubeRunning, "{rec:?}");
    assert_eq!(rec.docker_id.as_ref(), Some(&kube));
}

/// After a Park the SIGTERM handler stays installed; a SIGTERM while the container then
/// waits for approval must not look like an approval (exit 0 lets its script run the
/// feature): it exits 143, as the signal's default action would.
#[tokio::test]
async fn sigterm_while_waiting_after_a_park_is_no_approval() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let kube = sw.kube_container(true).await;

    let mut up = sw.spawn(&["state", sw.f(), "up", "kube", "--id", kube.as_str()]);
    up.await_line(PARKED).await;
    sw.fixture
        .db
        .set_feature_owner(&f, Owner::Kube)
        .await
        .expect("set_owner kube");
    up.await_line(WAITING).await;
    up.terminate();

    let status = up.finish().await;
    assert_eq!(status.code(), Some(143), "{:?}", up.stderr());
    let rec = sw.record(&f).await;
    assert_eq!(rec.state(), State::KubePending, "never claimed: {rec:?}");
}

#[tokio::test]
async fn a_waiting_kube_container_parks_when_set_owner_turns_local() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    let kube = sw.kube_container(true).await;

    let mut up = sw.spawn(&["state", sw.f(), "up", "kube", "--id", kube.as_str()]);
    up.await_line(WAITING).await;
    sw.fixture
        .db
        .set_feature_owner(&f, Owner::Local)
        .await
        .expect("set_owner local");
    up.await_line(PARKED).await;
    assert!(up.is_running());
    assert_eq!(sw.record(&f).await.state(), State::KubePending);

    // Issue 8, item 7: parked, then terminated: a status of its own, never 0 (a start script
    // that runs the feature on 0 must not run it).
    up.terminate();
    assert_eq!(up.finish().await.code(), Some(3));
}

#[tokio::test]
async fn a_sigkilled_owner_is_recorded_down_before_the_new_kube_container_asks() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    let old = sw.kube_container(true).await;
    sw.set_record(&f, State::KubeReady, None).await;
    sw.ok(&["state", sw.f(), "up", "kube", "--id", old.as_str()])
        .await;
    assert_eq!(sw.record(&f).await.state(), State::KubeRunning);
    // SIGKILL: the old container cannot say it went down.
    sw.docker.client().kill(&old).await.expect("docker kill");
    let new = sw.kube_container(true).await;

    let mut up = sw.spawn(&["state", sw.f(), "up", "kube", "--id", new.as_str()]);
    up.await_line(WAITING).await;

    let rec = sw.record(&f).await;
    assert_eq!(rec.current_owner, CurrentOwner::None, "Down(old) recorded");
    assert_eq!(rec.docker_id, None);
    assert_eq!(
        rec.transition_mode,
        TransitionMode::KubePending,
        "the new one requests approval"
    );
    assert!(up.is_running());
    let log = up.stderr().join("\n");
    assert!(log.contains("Down"), "{log}");
}

#[tokio::test]
async fn up_kube_gives_up_after_its_timeout_with_a_clear_message() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    let kube = sw.kube_container(true).await;

    let out = sw
        .run_quiet(&[
            "state",
            sw.f(),
            "up",
            "kube",
            "--id",
            kube.as_str(),
            "--timeout",
            "1",
        ])
        .await;

    // Issue 8, item 7: a status of its own (5), documented in the operator guide.
    assert_exits_with(&out, 5, &[sw.f(), kube.as_str(), "not approved within 1 s"]);
    assert_eq!(sw.record(&f).await.state(), State::KubePending);
}

#[tokio::test]
async fn a_refused_up_local_exits_with_its_own_status_so_the_script_does_not_run_the_feature() {
    // Issue 8, item 7: wave 1 exited 0 when `state up local` was refused (kube owns the
    // feature or is about to), so a start script ran the feature beside the kube container.
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    sw.set_record(&f, State::KubeReady, None).await;
    let stray = "0123456789ab0123456789ab0123456789ab0123456789ab0123456789abcdef";

    let out = sw
        .run_quiet(&["state", sw.f(), "up", "local", "--id", stray])
        .await;

    assert_exits_with(&out, 4, &[sw.f(), "must not run the feature"]);
    assert_eq!(sw.record(&f).await.state(), State::KubeReady);
}

#[tokio::test]
async fn up_local_records_the_local_container_and_down_of_another_id_changes_nothing() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let local = sw.local_container(&f, true).await;

    sw.ok(&["state", sw.f(), "up", "local", "--id", local.as_str()])
        .await;
    let rec = sw.record(&f).await;
    assert_eq!(rec.state(), State::Local);
    assert_eq!(rec.docker_id.as_ref(), Some(&local));

    let other = sw.kube_container(false).await;
    sw.ok(&["state", sw.f(), "down", "--id", other.as_str()])
        .await;
    assert_eq!(sw.record(&f).await, rec, "not the owner: nothing changes");

    sw.ok(&["state", sw.f(), "down", "--id", local.as_str()])
        .await;
    let rec = sw.record(&f).await;
    assert_eq!(rec.state(), State::Init);
    assert_eq!(rec.docker_id, None);
}

#[tokio::test]
async fn up_local_while_kube_owns_the_feature_stops_that_local_container() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    let kube = sw.kube_container(true).await;
    sw.fixture
        .db
        .set_feature_record(
            &f,
            &FeatureRecord {
                current_owner: CurrentOwner::Kube,
                docker_id: Some(kube.clone()),
                transition_mode: TransitionMode::KubeRunning,
                ..FeatureRecord::default()
            },
        )
        .await
        .expect("record");
    let local = sw.local_container(&f, true).await;

    let out = sw
        .run(&["state", sw.f(), "up", "local", "--id", local.as_str()])
        .await;
    assert_eq!(
        out.status.code(),
        Some(4),
        "refused: the feature must not run"
    );

    assert!(!sw.running(&local).await, "never two owners");
    assert!(sw.running(&kube).await);
    assert_eq!(sw.record(&f).await.docker_id.as_ref(), Some(&kube));
}

/// Self-detection for real: `container state <f> up local` without `--id`, run inside a
/// container (the binary and the host's libraries bind-mounted read-only, the Redis socket and
/// the tunables' directory at their host paths), records that container's own id.
#[tokio::test]
async fn up_local_from_inside_a_container_finds_its_own_id() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let argv = sw.argv_inside(&["state", sw.f(), "up", "local"]);
    let cmd: Vec<&str> = argv.iter().map(String::as_str).collect();
    let mut spec = sw.spec_running_the_binary(&cmd).await;
    spec.name = Some(sw.f().to_owned());
    spec.env = vec!["RUST_LOG=warn".to_owned()];
    let c = sw.docker.container_with(spec).await.expect("create");
    let id = c.id().clone();
    sw.docker.client().start(&id).await.expect("start");
    let status = tokio::time::timeout(DEADLINE, sw.docker.client().wait(&id))
        .await
        .expect("the command ends")
        .expect("docker wait");
    assert_eq!(
        status.code, 0,
        "container state up local inside the container"
    );

    let rec = sw.record(&f).await;
    assert_eq!(rec.current_owner, CurrentOwner::Local);
    assert_eq!(rec.docker_id.as_ref(), Some(&id), "its own full id");
    drop(c);
}
