//! Pods, DaemonSets, admin.conf and change subscriptions.

use super::*;

#[tokio::test]
async fn pods_are_listed_by_node_field_selector_across_and_within_namespaces() {
    let fake = start().await;
    let client = client_for(&fake).await;
    for (namespace, name, node) in [
        ("default", "snmp-a1b2c", "switch1"),
        ("kube-system", "kube-proxy-x9y8z", "switch1"),
        ("default", "snmp-d3e4f", "switch2"),
    ] {
        let pod = RunningPod::single(namespace, name, node, "main", "busybox:1")
            .with_container_id("main", &format!("{name}-id"));
        fake.create_pod(&pod.to_pod()).expect("pod created");
    }
    let on_switch1 = ListParams::default().fields("spec.nodeName=switch1");

    let all: Api<Pod> = Api::all(client.clone());
    let listed = bounded("list all", all.list(&on_switch1))
        .await
        .expect("list all");
    let mut names: Vec<String> = listed
        .items
        .iter()
        .filter_map(|p| p.metadata.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["kube-proxy-x9y8z", "snmp-a1b2c"]);

    let default: Api<Pod> = Api::namespaced(client, "default");
    let listed = bounded("list default", default.list(&on_switch1))
        .await
        .expect("list namespaced");
    assert_eq!(listed.items.len(), 1);
    let pod = &listed.items[0];
    let status = pod.status.as_ref().expect("pod status");
    assert_eq!(status.phase.as_deref(), Some("Running"));
    let container = &status.container_statuses.as_ref().expect("statuses")[0];
    assert_eq!(
        container.container_id.as_deref(),
        Some("docker://snmp-a1b2c-id")
    );

    assert!(fake.delete_pod("default", "snmp-a1b2c"));
    let listed = bounded("list default", default.list(&on_switch1))
        .await
        .expect("list after delete");
    assert!(listed.items.is_empty());
}

#[tokio::test]
async fn an_unsupported_field_selector_is_a_400() {
    let fake = start().await;
    let pods: Api<Pod> = Api::all(client_for(&fake).await);

    let error = bounded(
        "list",
        pods.list(&ListParams::default().fields("spec.schedulerName=x")),
    )
    .await
    .expect_err("unsupported field");

    assert_eq!(api_code(&error), Some(400));
}

#[tokio::test]
async fn daemonsets_are_created_updated_listed_and_deleted_through_the_api() {
    let fake = start().await;
    let client = client_for(&fake).await;
    let sonic: Api<DaemonSet> = Api::namespaced(client.clone(), "sonic");
    let selector = labels(&[("snmp_enabled", "true")]);

    let created = bounded(
        "create",
        sonic.create(
            &PostParams::default(),
            &daemonset_manifest("sonic", "snmp", "snmp:1", selector.clone()),
        ),
    )
    .await
    .expect("created");
    assert_eq!(created.metadata.generation, Some(1));

    // `kubectl set image` style: a strategic merge patch of one container.
    let set_image = json!({"spec": {"template": {"spec": {"containers": [{"name": "snmp", "image": "snmp:2"}]}}}});
    bounded(
        "patch",
        sonic.patch(
            "snmp",
            &PatchParams::default(),
            &Patch::Strategic(&set_image),
        ),
    )
    .await
    .expect("image patched");
    let stored = fake.daemonset("sonic", "snmp").expect("stored");
    assert_eq!(image_of(&stored), Some("snmp:2"));
    assert_eq!(stored.metadata.generation, Some(2));
    assert_eq!(node_selector_of(&stored), Some(&selector));

    // A PUT of the whole object.
    let mut whole = bounded("get", sonic.get("snmp")).await.expect("get");
    set_image_of(&mut whole, "snmp:3");
    bounded(
        "replace",
        sonic.replace("snmp", &PostParams::default(), &whole),
    )
    .await
    .expect("replaced");
    assert_eq!(
        image_of(&fake.daemonset("sonic", "snmp").expect("stored")),
        Some("snmp:3")
    );

    // The handle's manifest update is visible to clients.
    fake.set_daemonset_image("sonic", "snmp", "snmp:4")
        .expect("handle update");
    let read = bounded("get", sonic.get("snmp")).await.expect("get");
    assert_eq!(image_of(&read), Some("snmp:4"));
    assert_eq!(read.metadata.generation, Some(4));

    let all: Api<DaemonSet> = Api::all(client.clone());
    let listed = bounded("list", all.list(&ListParams::default()))
        .await
        .expect("list");
    assert_eq!(listed.items.len(), 1);
    let elsewhere: Api<DaemonSet> = Api::namespaced(client, "default");
    let listed = bounded("list", elsewhere.list(&ListParams::default()))
        .await
        .expect("list");
    assert!(listed.items.is_empty());

    bounded("delete", sonic.delete("snmp", &DeleteParams::default()))
        .await
        .expect("deleted");
    assert!(fake.daemonsets().is_empty());
    let error = bounded("get", sonic.get("snmp")).await.expect_err("gone");
    assert_eq!(api_code(&error), Some(404));
}

fn image_of(daemonset: &DaemonSet) -> Option<&str> {
    daemonset
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .containers
        .first()?
        .image
        .as_deref()
}

fn node_selector_of(daemonset: &DaemonSet) -> Option<&BTreeMap<String, String>> {
    daemonset
        .spec
        .as_ref()?
        .template
        .spec
        .as_ref()?
        .node_selector
        .as_ref()
}

fn set_image_of(daemonset: &mut DaemonSet, image: &str) {
    let containers = &mut daemonset
        .spec
        .as_mut()
        .expect("spec")
        .template
        .spec
        .as_mut()
        .expect("pod spec")
        .containers;
    containers[0].image = Some(image.to_owned());
}

#[tokio::test]
async fn admin_conf_is_a_kubeconfig_for_this_server_that_works() {
    let fake = start().await;
    fake.add_node("switch1", labels(&[("a", "1")]));
    // A joining node has no credentials yet: it fetches admin.conf anonymously, over TLS
    // verified against the master's CA.
    let anonymous = client(config_from(kubeconfig_with_user(&fake, "  user: {}\n")).await);

    let text = bounded("admin.conf", anonymous.request_text(get("/admin.conf")))
        .await
        .expect("admin.conf served");

    let kubeconfig = Kubeconfig::from_yaml(&text).expect("admin.conf is a kubeconfig");
    let cluster = kubeconfig.clusters[0]
        .cluster
        .as_ref()
        .expect("cluster entry");
    assert_eq!(cluster.server.as_deref(), Some(fake.url().as_str()));
    let ca = base64::engine::general_purpose::STANDARD
        .decode(
            cluster
                .certificate_authority_data
                .as_deref()
                .expect("CA data"),
        )
        .expect("CA data is base64");
    assert_eq!(String::from_utf8(ca).expect("PEM"), fake.ca_pem());
    let joined: Api<Node> = Api::all(client(config_from(kubeconfig).await));
    let node = bounded("get", joined.get("switch1"))
        .await
        .expect("the admin.conf credentials work");
    assert_eq!(node.metadata.labels, Some(labels(&[("a", "1")])));
}

#[tokio::test]
async fn subscribers_are_told_of_changes_through_the_api_and_the_handle() {
    let fake = start().await;
    let nodes: Api<Node> = Api::all(client_for(&fake).await);
    let mut changes = fake.subscribe();
    fake.add_node("switch1", BTreeMap::new());
    bounded("first change", changes.changed())
        .await
        .expect("notified");
    let after_add = *changes.borrow_and_update();

    let patch = json!({"metadata": {"labels": {"snmp_enabled": "true"}}});
    bounded(
        "patch",
        nodes.patch("switch1", &PatchParams::default(), &Patch::Merge(&patch)),
    )
    .await
    .expect("patched");
    bounded("second change", changes.changed())
        .await
        .expect("notified");
    let after_patch = *changes.borrow_and_update();

    assert!(after_patch > after_add);
    assert_eq!(after_patch, fake.generation());
    assert!(fake.remove_node("switch1"));
    bounded("third change", changes.changed())
        .await
        .expect("notified of the deletion");
}
