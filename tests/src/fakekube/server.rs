//! The network side: TCP accept loop, TLS, HTTP/1.1, and fault injection.

use std::sync::Arc;
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

use super::api::{self, MAX_BODY_BYTES, Reply};
use super::store::ApiError;
use super::{Fault, RecordedRequest, Shared};

/// Accepts connections until the task running it is aborted; connection tasks live in a
/// [`JoinSet`] owned by this future, so aborting it ends every connection too.
pub(crate) async fn serve(listener: TcpListener, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((tcp, _peer)) => match shared.fault() {
                    Fault::Refuse => reset(tcp),
                    Fault::Hang => {
                        // Accepted by the kernel, never answered, not even the TLS handshake:
                        // what a stopped (SIGSTOP, wedged) API server looks like to a client.
                        connections.spawn(async move {
                            let _held = tcp;
                            std::future::pending::<()>().await;
                        });
                    }
                    Fault::None | Fault::ServerError(_) | Fault::Slow(_) => {
                        connections.spawn(connection(tcp, acceptor.clone(), Arc::clone(&shared)));
                    }
                },
                Err(error) => {
                    tracing::debug!(%error, "fake API server: accept failed");
                    // Accept errors (EMFILE, ECONNABORTED) are transient; a short pause keeps
                    // a persistent one from spinning this loop.
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
            Some(_finished) = connections.join_next(), if !connections.is_empty() => {}
        }
    }
}

/// Closes a fresh connection with a TCP reset, so the client fails at once.
fn reset(tcp: TcpStream) {
    if let Err(error) = tcp.set_zero_linger() {
        tracing::debug!(%error, "fake API server: cannot set SO_LINGER; closing instead");
    }
    drop(tcp);
}

/// Serves one connection: TLS handshake, then HTTP/1.1 with keep-alive. The connection is
/// dropped as soon as the fault becomes [`Fault::Refuse`], so pooled client connections see the
/// server go away too.
async fn connection(tcp: TcpStream, acceptor: TlsAcceptor, shared: Arc<Shared>) {
    let mut faults = shared.fault_sender.subscribe();
    let serve = async {
        let tls = match acceptor.accept(tcp).await {
            Ok(tls) => tls,
            Err(error) => {
                tracing::debug!(%error, "fake API server: TLS handshake failed");
                return;
            }
        };
        let service = service_fn(|request| {
            let shared = Arc::clone(&shared);
            async move { respond(&shared, request).await }
        });
        if let Err(error) = http1::Builder::new()
            .serve_connection(TokioIo::new(tls), service)
            .await
        {
            tracing::debug!(%error, "fake API server: connection ended with an error");
        }
    };
    tokio::select! {
        () = serve => {}
        _ = faults.wait_for(|fault| *fault == Fault::Refuse) => {
            tracing::debug!("fake API server: dropping a connection (fault: refuse)");
        }
    }
}

/// The error that makes hyper drop a connection without answering.
#[derive(Debug)]
struct Refused;

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection refused by fault injection")
    }
}

impl std::error::Error for Refused {}

/// Reads, records and answers one request, applying the fault in force when it arrived.
async fn respond(
    shared: &Shared,
    request: hyper::Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Refused> {
    let fault = shared.fault();
    if fault == Fault::Refuse {
        return Err(Refused);
    }
    let (parts, body) = request.into_parts();
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) => {
            return Ok(into_response(Reply::failure(&ApiError::new(
                413,
                "RequestEntityTooLarge",
                format!("Request entity too large or unreadable: {error}"),
            ))));
        }
    };
    let header = |name| {
        parts
            .headers
            .get(name)
            .and_then(|value: &HeaderValue| value.to_str().ok())
    };
    let content_type = header(CONTENT_TYPE).map(|value| {
        value
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase()
    });
    let method = parts.method.as_str().to_owned();
    let path = parts.uri.path().to_owned();
    let query = parts.uri.query().map(str::to_owned);
    shared.record(RecordedRequest {
        method: method.clone(),
        path: path.clone(),
        query: query.clone(),
        content_type: content_type.clone(),
        body: String::from_utf8_lossy(&body).into_owned(),
    });

    match fault {
        Fault::Hang => std::future::pending::<()>().await,
        Fault::ServerError(code) => return Ok(into_response(Reply::failure(&server_error(code)))),
        Fault::Slow(delay) => tokio::time::sleep(delay).await,
        Fault::None | Fault::Refuse => {}
    }

    let reply = api::handle(
        shared,
        &api::Request {
            method: &method,
            path: &path,
            query: query.as_deref(),
            content_type: content_type.as_deref(),
            authorization: header(AUTHORIZATION),
            body: &body,
        },
    );
    Ok(into_response(reply))
}

/// The `Status` a real API server (or the load balancer in front of it) sends with `code`.
fn server_error(code: u16) -> ApiError {
    match code {
        429 => ApiError::new(
            429,
            "TooManyRequests",
            "the server has received too many requests and has asked us to try again later",
        ),
        503 => ApiError::new(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
        ),
        504 => ApiError::new(
            504,
            "Timeout",
            "the server was unable to return a response in the time allotted, but may still be processing the request",
        ),
        500..=599 => ApiError::new(
            code,
            "InternalError",
            "Internal error occurred: fault injected by the test",
        ),
        _ => ApiError::new(
            code,
            "BadRequest",
            "the server rejected our request: fault injected by the test",
        ),
    }
}

fn into_response(reply: Reply) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() =
        StatusCode::from_u16(reply.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(reply.content_type));
    response
}
