//! Connecting: addresses, API version negotiation and pinning.

use ctrmgr_core::ports::ErrorKind;
use ctrmgr_dockerclient::{ApiVersion, DockerClient};

use crate::engine;

#[tokio::test]
async fn connect_pins_the_api_version_the_engine_speaks() {
    let Some(docker) = engine().await else { return };
    let client = docker.client();
    let engine_version = client.engine_version().await.expect("the engine's version");
    assert_eq!(
        client.api_version(),
        engine_version
            .api_version
            .min(ApiVersion::newest_supported()),
        "engine {engine_version:?}"
    );
    client.ping().await.expect("a pinned client is answered");
}

#[tokio::test]
async fn a_client_pinned_to_an_api_newer_than_the_engine_is_refused() {
    let Some(docker) = engine().await else { return };
    let too_new = ApiVersion {
        major: 1,
        minor: 999,
    };
    let client = DockerClient::connect_pinned(docker.host(), too_new).expect("a client");
    let err = client
        .list(&[])
        .await
        .expect_err("the engine refuses API 1.999");
    assert_eq!(err.kind(), ErrorKind::Permanent, "{err:#}");
    let message = err.engine_message().unwrap_or_default();
    assert!(message.contains("1.999"), "{message}");
}

#[tokio::test]
async fn connecting_to_a_missing_socket_is_transient_and_names_the_address() {
    let err = DockerClient::connect_to("unix:///nonexistent/ctrmgr/docker.sock")
        .await
        .expect_err("no engine there");
    assert_eq!(err.kind(), ErrorKind::Transient);
    assert!(
        err.to_string()
            .contains("unix:///nonexistent/ctrmgr/docker.sock"),
        "{err}"
    );
}

#[tokio::test]
async fn an_address_of_an_unknown_scheme_is_permanent() {
    let err = DockerClient::connect_to("ftp://engine.example")
        .await
        .expect_err("no such transport");
    assert_eq!(err.kind(), ErrorKind::Permanent);
    assert!(err.to_string().contains("ftp://engine.example"), "{err}");
}
