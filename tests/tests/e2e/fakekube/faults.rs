//! Faults on demand, authentication and TLS: what a client sees when the master misbehaves.

use super::*;

#[tokio::test]
async fn a_refusing_server_fails_fast_with_a_connection_error_and_recovers() {
    let fake = start().await;
    let client = client_for(&fake).await;
    // A first request leaves a pooled keep-alive connection, which the fault must cut too.
    bounded("version", client.apiserver_version())
        .await
        .expect("server up");

    fake.set_fault(Fault::Refuse);
    let on_pooled = bounded("version", client.apiserver_version())
        .await
        .expect_err("refused on the pooled connection");
    let fresh_client = client_for(&fake).await;
    let on_fresh = bounded("version", fresh_client.apiserver_version())
        .await
        .expect_err("refused on a new connection");

    assert_eq!(api_code(&on_pooled), None, "{on_pooled}");
    assert_eq!(api_code(&on_fresh), None, "{on_fresh}");
    fake.set_fault(Fault::None);
    let info = bounded("version", client.apiserver_version())
        .await
        .expect("server back");
    assert_eq!(info.git_version, "v1.33.0");
}

#[tokio::test]
async fn a_hanging_server_trips_the_connect_timeout_of_a_new_connection() {
    let fake = start().await;
    fake.set_fault(Fault::Hang);
    let mut config = config_for(&fake).await;
    config.connect_timeout = Some(CLIENT_TIMEOUT);
    let client = client(config);

    let error = bounded("version", client.apiserver_version())
        .await
        .expect_err("the client gives up");

    assert_eq!(api_code(&error), None, "{error}");
    assert!(is_timeout(&error), "a timeout error, got {error:?}");
}

#[tokio::test]
async fn a_hanging_server_trips_the_read_timeout_on_a_pooled_connection() {
    let fake = start().await;
    let mut config = config_for(&fake).await;
    config.read_timeout = Some(CLIENT_TIMEOUT);
    let client = client(config);
    bounded("version", client.apiserver_version())
        .await
        .expect("server up");

    fake.set_fault(Fault::Hang);
    let error = bounded("version", client.apiserver_version())
        .await
        .expect_err("the client gives up");

    assert_eq!(api_code(&error), None, "{error}");
    assert!(is_timeout(&error), "a timeout error, got {error:?}");
    assert_eq!(
        fake.requests().len(),
        2,
        "the hung request reached the server"
    );
}

#[tokio::test]
async fn a_server_error_fault_is_an_api_error_with_that_code() {
    let fake = start().await;
    // kube-rs retries 429/503/504 by default (up to 15 times, backing off to minutes);
    // switched off, the first answer is the result.
    let mut config = config_for(&fake).await;
    config.default_retry = false;
    let nodes: Api<Node> = Api::all(client(config));
    fake.add_node("switch1", BTreeMap::new());

    fake.set_fault(Fault::ServerError(503));
    let error = bounded("get", nodes.get("switch1")).await.expect_err("503");
    assert_eq!(api_code(&error), Some(503));
    assert_eq!(api_reason(&error), Some("ServiceUnavailable"));

    fake.set_fault(Fault::ServerError(500));
    let error = bounded("get", nodes.get("switch1")).await.expect_err("500");
    assert_eq!(api_code(&error), Some(500));

    fake.set_fault(Fault::None);
    bounded("get", nodes.get("switch1"))
        .await
        .expect("server healthy again");
}

#[tokio::test]
async fn a_slow_server_still_answers_correctly() {
    let fake = start().await;
    let nodes: Api<Node> = Api::all(client_for(&fake).await);
    fake.add_node("switch1", labels(&[("a", "1")]));

    fake.set_fault(Fault::Slow(Duration::from_millis(200)));
    let node = bounded("get", nodes.get("switch1"))
        .await
        .expect("slow get");

    assert_eq!(node.metadata.labels, Some(labels(&[("a", "1")])));
}

#[tokio::test]
async fn a_request_without_the_token_or_with_a_wrong_one_gets_401() {
    let fake = start().await;
    fake.add_node("switch1", BTreeMap::new());
    let anonymous = client(config_from(kubeconfig_with_user(&fake, "  user: {}\n")).await);
    let impostor = client(
        config_from(kubeconfig_with_user(
            &fake,
            "  user:\n    token: not-the-token\n",
        ))
        .await,
    );

    for (who, client) in [("anonymous", &anonymous), ("impostor", &impostor)] {
        let nodes: Api<Node> = Api::all(client.clone());
        let error = bounded("list", nodes.list(&ListParams::default()))
            .await
            .expect_err("unauthorized");
        assert_eq!(api_code(&error), Some(401), "{who}");
        assert_eq!(api_reason(&error), Some("Unauthorized"), "{who}");
    }
    // As on a kubeadm cluster, anonymous clients may read the version; a wrong token may not.
    bounded("version", anonymous.apiserver_version())
        .await
        .expect("public version");
    let error = bounded("version", impostor.apiserver_version())
        .await
        .expect_err("bad credentials are refused everywhere");
    assert_eq!(api_code(&error), Some(401));
}

#[tokio::test]
async fn a_client_trusting_another_ca_fails_the_tls_handshake() {
    let fake = start().await;
    let other = start().await;
    let yaml = other.kubeconfig_yaml().replace(&other.url(), &fake.url());
    let kubeconfig = Kubeconfig::from_yaml(&yaml).expect("kubeconfig parses");
    let client = client(config_from(kubeconfig).await);

    let error = bounded("version", client.apiserver_version())
        .await
        .expect_err("certificate not trusted");

    assert_eq!(api_code(&error), None, "{error}");
    assert!(
        fake.requests().is_empty(),
        "nothing got past TLS: {:?}",
        fake.requests()
    );
}
