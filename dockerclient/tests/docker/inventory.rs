//! create, inspect, list, import.

use std::collections::BTreeMap;

use ctrmgr_dockerclient::testing::{TEST_IMAGE, TEST_LABEL, TRAP_TERM, TestDocker};
use ctrmgr_dockerclient::{ContainerSpec, NetworkMode};

use crate::engine;

#[tokio::test]
async fn inspect_returns_the_engine_document() {
    let Some(docker) = engine().await else { return };
    let c = docker
        .container("inspect", &TRAP_TERM)
        .await
        .expect("a container");
    let client = docker.client();
    client.start(c.id()).await.expect("start");

    let doc = client.inspect(&c.name_as_id()).await.expect("inspect");
    assert_eq!(doc["Id"], c.id().as_str());
    assert_eq!(doc["Name"], format!("/{}", c.name()));
    assert_eq!(doc["Config"]["Image"], TEST_IMAGE);
    assert_eq!(doc["Config"]["Labels"][TEST_LABEL], "1");
    assert_eq!(doc["State"]["Running"], true);
    assert_eq!(doc["HostConfig"]["NetworkMode"], "none");
    assert_eq!(doc["HostConfig"]["AutoRemove"], false);

    // The engine's document unchanged: `null`s are kept (a typed model drops them).
    let fields = doc.as_object().expect("an object");
    assert!(fields.contains_key("ExecIDs"), "{doc}");
    assert!(fields["ExecIDs"].is_null(), "no exec ran yet: {doc}");

    // As `docker inspect` prints it: an array, the engine's key order (Id first), 4 spaces.
    let text = client.inspect_json(c.id()).await.expect("inspect as text");
    assert!(text.starts_with("[\n    {\n        \"Id\": \""), "{text}");
    assert!(text.ends_with("]\n"), "{text}");
    let parsed: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    assert_eq!(parsed, serde_json::Value::Array(vec![doc]));
}

#[tokio::test]
async fn created_containers_carry_their_spec() {
    let Some(docker) = engine().await else { return };
    let image = docker.test_image().await.expect("the test image");
    let spec = ContainerSpec {
        image: image.to_owned(),
        name: Some(TestDocker::unique_name("spec")),
        cmd: vec!["/bin/sleep".to_owned(), "5".to_owned()],
        env: vec!["FEATURE=snmp".to_owned()],
        labels: BTreeMap::from([("role".to_owned(), "kube".to_owned())]),
        network: NetworkMode::Host,
        binds: vec!["/tmp:/host-tmp:ro".to_owned()],
        network_of: None,
        ipc_mode: Some("shareable".to_owned()),
        cgroupns_private: true,
    };
    let c = docker.container_with(spec).await.expect("a container");
    let doc = docker.client().inspect(c.id()).await.expect("inspect");
    assert_eq!(doc["Config"]["Cmd"], serde_json::json!(["/bin/sleep", "5"]));
    let env = doc["Config"]["Env"].as_array().expect("an env list");
    assert!(env.contains(&serde_json::json!("FEATURE=snmp")), "{env:?}");
    assert_eq!(doc["Config"]["Labels"]["role"], "kube");
    assert_eq!(doc["Config"]["Labels"][TEST_LABEL], "1");
    assert_eq!(doc["HostConfig"]["NetworkMode"], "host");
    assert_eq!(
        doc["HostConfig"]["Binds"],
        serde_json::json!(["/tmp:/host-tmp:ro"])
    );
    assert_eq!(doc["HostConfig"]["IpcMode"], "shareable");
    assert_eq!(doc["HostConfig"]["CgroupnsMode"], "private");
    assert_eq!(doc["State"]["Status"], "created");
}

#[tokio::test]
async fn list_finds_exactly_the_containers_with_a_label() {
    let Some(docker) = engine().await else { return };
    let group = TestDocker::unique_name("group");
    let image = docker.test_image().await.expect("the test image");
    let labelled = |prefix: &str| {
        let mut spec = ContainerSpec::new(image, &TRAP_TERM);
        spec.name = Some(TestDocker::unique_name(prefix));
        spec.labels
            .insert("ctrmgr-test-group".to_owned(), group.clone());
        spec
    };
    let a = docker.container_with(labelled("la")).await.expect("a");
    let b = docker.container_with(labelled("lb")).await.expect("b");
    let _other = docker.container("lother", &TRAP_TERM).await.expect("other");
    docker.client().start(a.id()).await.expect("start a");

    let filter = format!("ctrmgr-test-group={group}");
    let mut found = docker.client().list(&[&filter]).await.expect("list");
    found.sort_by(|x, y| x.name.cmp(&y.name));
    let mut expected = vec![(a.id(), a.name(), true), (b.id(), b.name(), false)];
    expected.sort_by(|x, y| x.1.cmp(y.1));
    let got: Vec<_> = found
        .iter()
        .map(|s| (&s.id, s.name.as_deref().unwrap_or_default(), s.is_running()))
        .collect();
    assert_eq!(got, expected);
    assert!(found.iter().all(|s| s.image == TEST_IMAGE));
    assert!(
        found
            .iter()
            .all(|s| s.labels.get(TEST_LABEL).map(String::as_str) == Some("1"))
    );
}

#[tokio::test]
async fn an_imported_rootfs_becomes_a_runnable_image() {
    let Some(docker) = engine().await else { return };
    let reference = format!("ctrmgr-test/imported:{}", TestDocker::unique_name("tag"));
    let rootfs = ctrmgr_dockerclient::testing::busybox_rootfs().expect("the rootfs");
    let client = docker.client();
    let id = client
        .import_image(rootfs, &reference, &["ENV GREETING=imported"])
        .await
        .expect("import");
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(client.image_id(&reference).await.expect("lookup"), Some(id));

    let mut spec = ContainerSpec::new(reference.as_str(), &["/bin/sh", "-c", "exit ${#GREETING}"]);
    spec.name = Some(TestDocker::unique_name("imported"));
    let c = docker.container_with(spec).await.expect("a container");
    client.start(c.id()).await.expect("start");
    assert_eq!(
        client.wait(c.id()).await.expect("wait").code,
        "imported".len() as i64,
        "the image's ENV change is applied"
    );

    drop(c);
    client
        .remove_image(&reference, false)
        .await
        .expect("remove the image");
    assert_eq!(client.image_id(&reference).await.expect("lookup"), None);
}
