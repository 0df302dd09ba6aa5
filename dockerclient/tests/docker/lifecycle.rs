//! start, stop, kill, wait, is_running, rename, through the client and through the port.

use std::time::Duration;

use ctrmgr_core::ports::{Containers, ErrorKind, ExitStatus};
use ctrmgr_dockerclient::testing::{SLEEP_FOREVER, TRAP_TERM};

use crate::{READY_WITHIN, cid, engine};

/// SIGKILL's exit code as the engine reports it (128 + 9).
const KILLED: i64 = 137;

#[tokio::test]
async fn start_of_a_running_container_succeeds_and_returns_the_full_id() {
    let Some(docker) = engine().await else { return };
    let c = docker
        .container("start", &TRAP_TERM)
        .await
        .expect("a container");
    let client = docker.client();

    let first = client.start(&c.name_as_id()).await.expect("first start");
    assert_eq!(&first, c.id(), "start by name returns the full id");
    assert!(client.is_running(c.id()).await.expect("state"));

    let again = client
        .start(&c.name_as_id())
        .await
        .expect("start of a running container");
    assert_eq!(&again, c.id());
    assert!(client.is_running(c.id()).await.expect("state"));
}

#[tokio::test]
async fn stop_of_a_stopped_container_succeeds() {
    let Some(docker) = engine().await else { return };
    let c = docker
        .container("stop", &TRAP_TERM)
        .await
        .expect("a container");
    let client = docker.client();

    client
        .stop(c.id(), 10)
        .await
        .expect("stop of a never started container");
    client.start(c.id()).await.expect("start");
    docker
        .await_ready(c.id(), READY_WITHIN)
        .await
        .expect("ready");
    client.stop(c.id(), 10).await.expect("stop");
    assert!(!client.is_running(c.id()).await.expect("state"));
    client
        .stop(c.id(), 10)
        .await
        .expect("stop of a stopped container");
    assert_eq!(
        client.wait(c.id()).await.expect("wait"),
        ExitStatus { code: 0 }
    );
}

#[tokio::test]
async fn kill_of_a_stopped_container_succeeds() {
    let Some(docker) = engine().await else { return };
    let c = docker
        .container("kill", &SLEEP_FOREVER)
        .await
        .expect("a container");
    let client = docker.client();

    client
        .kill(c.id())
        .await
        .expect("kill of a never started container");
    client.start(c.id()).await.expect("start");
    client.kill(c.id()).await.expect("kill");
    assert_eq!(client.wait(c.id()).await.expect("wait").code, KILLED);
    client
        .kill(c.id())
        .await
        .expect("kill of a stopped container");
    assert!(!client.is_running(c.id()).await.expect("state"));
}

#[tokio::test]
async fn wait_returns_the_real_exit_code() {
    let Some(docker) = engine().await else { return };
    let c = docker
        .container("exit3", &["/bin/sh", "-c", "exit 3"])
        .await
        .expect("a container");
    let client = docker.client();
    client.start(c.id()).await.expect("start");
    assert_eq!(
        client.wait(c.id()).await.expect("wait"),
        ExitStatus { code: 3 }
    );
    // Waiting again on the exited container gives the same answer.
    assert_eq!(
        client.wait(&c.name_as_id()).await.expect("wait"),
        ExitStatus { code: 3 }
    );
}

#[tokio::test]
async fn wait_returns_zero_when_a_container_that_traps_term_is_stopped() {
    let Some(docker) = engine().await else { return };
    let c = docker
        .container("trap", &TRAP_TERM)
        .await
        .expect("a container");
    let client = docker.client();
    client.start(c.id()).await.expect("start");
    docker
        .await_ready(c.id(), READY_WITHIN)
        .await
        .expect("ready");

    // The wait is in flight before the stop: it returns when the container exits.
    let (waited, stopped) = tokio::join!(client.wait(c.id()), async {
        tokio::task::yield_now().await;
        client.stop(c.id(), 30).await
    });
    stopped.expect("stop");
    assert_eq!(waited.expect("wait"), ExitStatus { code: 0 });
}

#[tokio::test]
async fn stop_kills_a_container_that_ignores_term_after_the_grace_period() {
    let Some(docker) = engine().await else { return };
    let c = docker
        .container("ignore", &SLEEP_FOREVER)
        .await
        .expect("a container");
    let client = docker.client();
    client.start(c.id()).await.expect("start");
    client.stop(c.id(), 1).await.expect("stop");
    assert_eq!(client.wait(c.id()).await.expect("wait").code, KILLED);
}

#[tokio::test]
async fn is_running_follows_the_container_through_its_life() {
    let Some(docker) = engine().await else { return };
    let c = docker
        .container("life", &TRAP_TERM)
        .await
        .expect("a container");
    let client = docker.client();
    assert!(!client.is_running(c.id()).await.expect("created"));
    client.start(c.id()).await.expect("start");
    assert!(client.is_running(c.id()).await.expect("started"));
    client.kill(c.id()).await.expect("kill");
    assert!(!client.is_running(c.id()).await.expect("killed"));
    client.remove(c.id(), false).await.expect("remove");
    assert!(!client.is_running(c.id()).await.expect("removed"));
}

#[tokio::test]
async fn a_renamed_container_is_still_driven_by_its_id() {
    let Some(docker) = engine().await else { return };
    let c = docker
        .container("rename", &TRAP_TERM)
        .await
        .expect("a container");
    let client = docker.client();
    let new_name = format!("{}-renamed", c.name());
    client.rename(c.id(), &new_name).await.expect("rename");

    assert_eq!(&client.start(c.id()).await.expect("start by id"), c.id());
    let doc = client.inspect(c.id()).await.expect("inspect by id");
    assert_eq!(doc["Name"], format!("/{new_name}"));
    assert!(
        client
            .is_running(&cid(&new_name))
            .await
            .expect("by new name")
    );

    let old = client
        .start(&c.name_as_id())
        .await
        .expect_err("the old name is gone");
    assert_eq!(old.kind(), ErrorKind::NotFound, "{old:#}");

    docker
        .await_ready(c.id(), READY_WITHIN)
        .await
        .expect("ready");
    client.stop(c.id(), 10).await.expect("stop by id");
    assert_eq!(client.wait(&cid(&new_name)).await.expect("wait").code, 0);
}

/// Drives a container through the port only, as the driver does.
async fn run_through_the_port<C: Containers>(
    port: &C,
    name: &ctrmgr_core::ContainerId,
) -> Result<(ExitStatus, ExitStatus), C::Error> {
    let id = port.start(name).await?;
    assert!(port.is_running(&id).await?);
    port.kill(&id).await?;
    let killed = port.wait(&id).await?;
    port.start(&id).await?;
    port.stop(&id, 1).await?;
    let stopped = port.wait(&id).await?;
    assert!(!port.is_running(&id).await?);
    Ok((killed, stopped))
}

#[tokio::test]
async fn the_containers_port_starts_kills_stops_and_waits() {
    let Some(docker) = engine().await else { return };
    let c = docker
        .container("port", &SLEEP_FOREVER)
        .await
        .expect("a container");
    let (killed, stopped) = run_through_the_port(docker.client(), &c.name_as_id())
        .await
        .expect("the port drives the container");
    assert_eq!(killed.code, KILLED);
    assert_eq!(stopped.code, KILLED, "sleep as PID 1 ignores SIGTERM");
}

#[tokio::test]
async fn a_dropped_test_container_is_removed() {
    let Some(docker) = engine().await else { return };
    let c = docker
        .container("drop", &TRAP_TERM)
        .await
        .expect("a container");
    let id = c.id().clone();
    docker.client().start(&id).await.expect("start");
    drop(c);
    let err = docker.client().inspect(&id).await.expect_err("removed");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:#}");
}

#[tokio::test]
async fn wait_outlasts_the_request_timeout() {
    let Some(docker) = engine().await else { return };
    let c = docker
        .container("slow-exit", &["/bin/sh", "-c", "sleep 3; exit 4"])
        .await
        .expect("a container");
    let client = docker
        .client()
        .clone()
        .with_request_timeout(Duration::from_secs(1));
    client.start(c.id()).await.expect("start");
    assert_eq!(client.wait(c.id()).await.expect("wait").code, 4);
}

#[tokio::test]
async fn stop_is_given_its_grace_period_on_top_of_the_request_timeout() {
    let Some(docker) = engine().await else { return };
    let c = docker
        .container("slow-stop", &SLEEP_FOREVER)
        .await
        .expect("a container");
    let client = docker
        .client()
        .clone()
        .with_request_timeout(Duration::from_secs(1));
    client.start(c.id()).await.expect("start");
    // The engine answers after the 3 s grace period, later than the 1 s request timeout.
    client.stop(c.id(), 3).await.expect("stop");
    assert_eq!(client.wait(c.id()).await.expect("wait").code, KILLED);
}
