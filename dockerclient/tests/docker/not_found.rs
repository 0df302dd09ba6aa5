//! Every operation on a container that does not exist: NotFound, naming the container.

use ctrmgr_core::ports::ErrorKind;
use ctrmgr_dockerclient::testing::TestDocker;
use ctrmgr_dockerclient::{Error, ExecSpec};

use crate::{cid, engine};

fn assert_not_found(what: &str, name: &str, result: Result<impl std::fmt::Debug, Error>) {
    let err = result.expect_err(what);
    assert_eq!(err.kind(), ErrorKind::NotFound, "{what}: {err:#}");
    assert!(err.to_string().contains(name), "{what}: {err}");
}

#[tokio::test]
async fn every_operation_on_a_missing_container_is_not_found_and_names_it() {
    let Some(docker) = engine().await else { return };
    let name = TestDocker::unique_name("missing");
    let id = cid(&name);
    let client = docker.client();

    assert_not_found("start", &name, client.start(&id).await);
    assert_not_found("stop", &name, client.stop(&id, 1).await);
    assert_not_found("kill", &name, client.kill(&id).await);
    assert_not_found("wait", &name, client.wait(&id).await);
    assert_not_found("inspect", &name, client.inspect(&id).await);
    assert_not_found("inspect_json", &name, client.inspect_json(&id).await);
    assert_not_found("rename", &name, client.rename(&id, "other").await);
    assert_not_found("remove", &name, client.remove(&id, true).await);
    let (mut out, mut err) = (Vec::new(), Vec::new());
    assert_not_found(
        "exec",
        &name,
        client
            .exec(
                &id,
                &ExecSpec::new(&["/bin/true"]),
                None,
                &mut out,
                &mut err,
            )
            .await,
    );
    assert!(
        !client
            .is_running(&id)
            .await
            .expect("a missing container does not run"),
        "is_running"
    );
}

#[tokio::test]
async fn creating_from_a_missing_image_is_not_found() {
    let Some(docker) = engine().await else { return };
    let mut spec =
        ctrmgr_dockerclient::ContainerSpec::new("ctrmgr-test/no-such-image:1", &["/bin/true"]);
    spec.name = Some(TestDocker::unique_name("noimage"));
    let err = docker
        .client()
        .create(&spec)
        .await
        .expect_err("no such image");
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err:#}");
}
