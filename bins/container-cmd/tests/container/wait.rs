//! `container wait`: returns when the owning container exits, with its exit code, or 0 when
//! `container stop` stopped it; local and kube mode; kube mode waits for a `docker_id` that is
//! recorded later.

use ctrmgr_core::{CurrentOwner, Owner, State, TransitionMode};

use super::*;

/// The line `wait` logs once it has the id and calls `docker wait`.
const WAITING: &str = "waiting for the container to exit";

#[tokio::test]
async fn wait_exits_with_the_code_of_a_local_container_that_exits_by_itself() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let local = sw.local_container(&f, false).await;
    sw.ok(&["start", sw.f()]).await;
    sw.docker
        .await_ready(&local, DEADLINE)
        .await
        .expect("container ready");

    let mut wait = sw.spawn(&["wait", sw.f()]);
    wait.await_line(WAITING).await;
    sw.signal(&local, "-USR1").await;

    let status = wait.finish().await;
    assert_eq!(status.code(), Some(3), "{:?}", wait.stderr());
    assert_eq!(sw.docker_state(&local).await, (false, 3));
    let rec = sw.record(&f).await;
    assert_eq!(rec.state(), State::Init, "wait recorded the exit: {rec:?}");
    assert_eq!(rec.docker_id, None);
    assert!(rec.current_owner_update_ts.is_some());
}

#[tokio::test]
async fn wait_exits_zero_when_container_stop_stops_the_local_container() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let local = sw.local_container(&f, false).await;
    sw.ok(&["start", sw.f()]).await;
    sw.docker
        .await_ready(&local, DEADLINE)
        .await
        .expect("container ready");

    let mut wait = sw.spawn(&["wait", sw.f()]);
    wait.await_line(WAITING).await;
    sw.ok(&["stop", sw.f()]).await;

    let status = wait.finish().await;
    assert_eq!(status.code(), Some(0), "{:?}", wait.stderr());
    assert!(!sw.running(&local).await);
    assert_eq!(sw.record(&f).await.state(), State::Init);
}

#[tokio::test]
async fn wait_exits_zero_when_container_kill_kills_the_local_container() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let local = sw.local_container(&f, false).await;
    sw.ok(&["start", sw.f()]).await;

    let mut wait = sw.spawn(&["wait", sw.f()]);
    wait.await_line(WAITING).await;
    sw.ok(&["kill", sw.f()]).await;

    let status = wait.finish().await;
    assert_eq!(status.code(), Some(0), "{:?}", wait.stderr());
    assert_eq!(sw.docker_state(&local).await, (false, 137));
    assert_eq!(sw.record(&f).await.state(), State::Init);
}

#[tokio::test]
async fn wait_in_kube_mode_waits_for_an_id_recorded_later_and_exits_with_its_code() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    sw.ok(&["start", sw.f()]).await;
    assert_eq!(sw.record(&f).await.state(), State::KubeReady);

    // No container is recorded yet: kube mode waits for ever.
    let mut wait = sw.spawn(&["wait", sw.f()]);
    let kube = sw.kube_container(true).await;
    assert!(
        wait.is_running(),
        "still waiting for an id: {:?}",
        wait.stderr()
    );
    sw.ok(&["state", sw.f(), "up", "kube", "--id", kube.as_str()])
        .await;
    wait.await_line(WAITING).await;
    sw.signal(&kube, "-USR1").await;

    let status = wait.finish().await;
    assert_eq!(status.code(), Some(3), "{:?}", wait.stderr());
    let rec = sw.record(&f).await;
    assert_eq!(rec.current_owner, CurrentOwner::None);
    assert_eq!(rec.docker_id, None);
    assert_eq!(rec.transition_mode, TransitionMode::KubeStopped);
}

#[tokio::test]
async fn wait_in_kube_mode_exits_zero_when_container_stop_stops_the_kube_container() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Kube, false).await;
    let kube = sw.kube_container(true).await;
    sw.set_record(&f, State::KubeReady, None).await;
    sw.ok(&["state", sw.f(), "up", "kube", "--id", kube.as_str()])
        .await;
    assert_eq!(sw.record(&f).await.state(), State::KubeRunning);

    let mut wait = sw.spawn(&["wait", sw.f()]);
    wait.await_line(WAITING).await;
    sw.ok(&["stop", sw.f()]).await;

    let status = wait.finish().await;
    assert_eq!(status.code(), Some(0), "{:?}", wait.stderr());
    assert!(!sw.running(&kube).await);
    let rec = sw.record(&f).await;
    assert_eq!(rec.state(), State::KubeStopped);
    assert!(!sw.labelled(&f));
}

#[tokio::test]
async fn wait_in_local_mode_gives_up_when_no_container_is_recorded_in_time() {
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let out = sw.run_quiet(&["wait", sw.f()]).await;
    assert_fails_with(&out, &[sw.f(), &format!("within {LOCAL_WAIT_SECS} s")]);
    assert!(sw.raw_row(&f).await.is_empty(), "nothing written");
}

#[tokio::test]
async fn wait_on_a_recorded_container_that_no_longer_exists_records_it_as_exited() {
    // Issue 8, item 8: wave 1's `container wait` failed ("no such container") and left the
    // record naming a container that is gone.
    let Some(sw) = Switch::new().await else {
        return;
    };
    let f = sw.feature.clone();
    sw.configure(&f, Owner::Local, false).await;
    let gone = ContainerId::new("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
        .expect("valid id");
    sw.set_record(&f, State::Local, Some(&gone)).await;

    let out = sw.run(&["wait", sw.f()]).await;

    assert_eq!(
        out.status.code(),
        Some(255),
        "its own code is lost: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let rec = sw.record(&f).await;
    assert_eq!(rec.state(), State::Init);
    assert_eq!(rec.docker_id, None);
}
