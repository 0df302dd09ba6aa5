//! One raw GET to the engine, for answers that must reach the caller unchanged.
//!
//! bollard parses every answer into its own model (of API 1.53), which drops the fields a
//! 1.41 engine still sends and the ones that are `null`; `container inspect` must print what
//! `docker inspect` prints. Failures are reported as the client library's errors, so that
//! they are classified like every other call.

use std::time::Duration;

use bollard::errors::Error as BollardError;
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};

/// GETs `path_and_query` (already carrying the `/v<version>` prefix) from the engine at
/// `host`, within `timeout`, and returns the body of a 2xx answer.
pub(crate) async fn get(
    host: &str,
    path_and_query: &str,
    timeout: Duration,
) -> Result<Bytes, BollardError> {
    tokio::time::timeout(timeout, get_untimed(host, path_and_query))
        .await
        .unwrap_or(Err(BollardError::RequestTimeoutError))
}

async fn get_untimed(host: &str, path_and_query: &str) -> Result<Bytes, BollardError> {
    if let Some(path) = host.strip_prefix("unix://") {
        let stream = tokio::net::UnixStream::connect(path).await?;
        request(stream, path_and_query).await
    } else if let Some(addr) = host
        .strip_prefix("tcp://")
        .or_else(|| host.strip_prefix("http://"))
    {
        let stream = tokio::net::TcpStream::connect(addr.trim_end_matches('/')).await?;
        request(stream, path_and_query).await
    } else {
        Err(BollardError::UnsupportedURISchemeError {
            uri: host.to_owned(),
        })
    }
}

async fn request<S>(stream: S, path_and_query: &str) -> Result<Bytes, BollardError>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    // The connection task ends when `sender` is dropped.
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "docker engine connection ended with an error");
        }
    });
    let request = hyper::Request::get(path_and_query)
        .header(hyper::header::HOST, "docker")
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    if status.is_success() {
        return Ok(body);
    }
    // The engine's errors are `{"message": "…"}`; keep anything else verbatim.
    let message = serde_json::from_slice::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v.get("message").and_then(|m| m.as_str()).map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(&body).into_owned());
    Err(BollardError::DockerResponseServerError {
        status_code: status.as_u16(),
        message,
    })
}
