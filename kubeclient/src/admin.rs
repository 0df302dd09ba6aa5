//! What a join needs from the master before it has credentials: `admin.conf` over HTTPS
//! ([`fetch_admin_conf`]) and a check that it is a usable kubeconfig
//! ([`kubeconfig_server_host`]).

use std::path::Path;
use std::time::Duration;

use kube::config::Kubeconfig;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject as _;

use crate::error::kubeconfig_reason;
use crate::{Error, KubeErrorKind};

/// `GET url` over HTTPS and returns the body (SONiC's join: `https://<ip>/admin.conf`). The
/// server's certificate is verified against the PEM bundle `ca_file`, or the system's roots
/// when `None`, unless `insecure` (SONiC's `insecure=true`). The whole request is bounded by
/// `timeout`. A non-2xx answer is an [`Error::Api`] with its status.
pub async fn fetch_admin_conf(
    url: &str,
    ca_file: Option<&Path>,
    insecure: bool,
    timeout: Duration,
) -> Result<String, Error> {
    let action = format!("fetch {url}");
    let uri: http::Uri = url
        .parse()
        .map_err(|e: http::uri::InvalidUri| Error::BadUrl {
            url: url.to_owned(),
            reason: e.to_string(),
        })?;
    if uri.scheme_str() != Some("https") || uri.host().is_none() {
        return Err(Error::BadUrl {
            url: url.to_owned(),
            reason: "not an https:// URL with a host".to_owned(),
        });
    }
    let path = uri
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let base: http::Uri = {
        let authority = uri.authority().map_or("", |a| a.as_str());
        format!("https://{authority}")
            .parse()
            .map_err(|e: http::uri::InvalidUri| Error::BadUrl {
                url: url.to_owned(),
                reason: e.to_string(),
            })?
    };
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut config = kube::Config::new(base);
    config.default_retry = false;
    config.accept_invalid_certs = insecure;
    if let (Some(ca), false) = (ca_file, insecure) {
        config.root_cert = Some(read_ca(ca)?);
    }
    let attempt = async {
        let client = kube::Client::try_from(config).map_err(|source| Error::Api {
            action: action.clone(),
            kind: KubeErrorKind::Config,
            source,
        })?;
        let request = http::Request::get(path)
            .body(Vec::new())
            .map_err(|e| Error::BadUrl {
                url: url.to_owned(),
                reason: e.to_string(),
            })?;
        client
            .request_text(request)
            .await
            .map_err(|source| Error::Api {
                action: action.clone(),
                kind: KubeErrorKind::of(&source),
                source,
            })
    };
    match tokio::time::timeout(timeout, attempt).await {
        Ok(r) => r,
        Err(_) => Err(Error::Timeout {
            action,
            after: timeout,
        }),
    }
}

/// The certificates of a PEM bundle, as DER.
fn read_ca(path: &Path) -> Result<Vec<Vec<u8>>, Error> {
    let bad = |reason: String| Error::CaFile {
        path: path.to_path_buf(),
        reason,
    };
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| bad(e.to_string()))?
        .map(|c| c.map(|c| c.as_ref().to_vec()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(e.to_string()))?;
    if certs.is_empty() {
        return Err(bad("no PEM certificate in it".to_owned()));
    }
    Ok(certs)
}

/// Checks that `text` is a kubeconfig whose current context (or, without one, its only
/// cluster) names a cluster with an `https://` server, and returns that server's host
/// (without IPv6 brackets).
pub fn kubeconfig_server_host(text: &str) -> Result<String, Error> {
    let bad = |reason: String| Error::InvalidKubeconfig { reason };
    let config = Kubeconfig::from_yaml(text).map_err(|e| bad(kubeconfig_reason(&e)))?;
    let cluster_name = match &config.current_context {
        Some(ctx) => {
            let context = config
                .contexts
                .iter()
                .find(|c| &c.name == ctx)
                .and_then(|c| c.context.as_ref())
                .ok_or_else(|| bad(format!("current-context {ctx:?} is not among its contexts")))?;
            Some(context.cluster.clone())
        }
        None => None,
    };
    let cluster = match cluster_name {
        Some(name) => config
            .clusters
            .iter()
            .find(|c| c.name == name)
            .ok_or_else(|| bad(format!("cluster {name:?} is not among its clusters")))?,
        None => match config.clusters.as_slice() {
            [only] => only,
            [] => return Err(bad("it has no cluster".to_owned())),
            _ => {
                return Err(bad(
                    "it has several clusters and no current-context".to_owned()
                ));
            }
        },
    };
    let server = cluster
        .cluster
        .as_ref()
        .and_then(|c| c.server.as_deref())
        .ok_or_else(|| bad(format!("cluster {:?} has no server", cluster.name)))?;
    let uri: http::Uri = server
        .parse()
        .map_err(|e: http::uri::InvalidUri| bad(format!("server {server:?}: {e}")))?;
    match (uri.scheme_str(), uri.host()) {
        (Some("https"), Some(host)) => Ok(host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned()),
        _ => Err(bad(format!("server {server:?} is not an https:// URL"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: https://10.0.0.1:6443\ncontexts:\n- name: x\n  context:\n    cluster: c\n    user: u\ncurrent-context: x\nusers:\n- name: u\n  user:\n    token: t\n";

    #[test]
    fn a_kubeconfig_gives_its_current_clusters_host() {
        assert_eq!(kubeconfig_server_host(CONFIG).expect("valid"), "10.0.0.1");
        let v6 = CONFIG.replace("10.0.0.1", "[fd00::1]");
        assert_eq!(kubeconfig_server_host(&v6).expect("valid"), "fd00::1");
    }

    #[test]
    fn a_kubeconfig_error_never_quotes_the_file() {
        // kube-rs's YAML error quotes the lines around line 10: the token (issue 15, point 6).
        let text = CONFIG.replace("    token: t\n", "    token:\n      - S3CRET-token\n");
        let e = kubeconfig_server_host(&text).expect_err("a token is a string");
        let msg = ctrmgr_core::retry::error_line(&e);
        assert!(!msg.contains("S3CRET"), "{msg}");
        assert!(!e.to_string().contains('\n'), "{e}");
        assert!(msg.contains("line 17 column 7"), "{msg}");
    }

    #[test]
    fn what_is_not_a_usable_kubeconfig_is_refused_with_the_reason() {
        for (text, want) in [
            ("<html>login</html>", ""),
            ("apiVersion: v1\nkind: Config\n", "no cluster"),
            (
                &CONFIG.replace("current-context: x", "current-context: y") as &str,
                "\"y\"",
            ),
            (&CONFIG.replace("https://", "http://") as &str, "https://"),
        ] {
            let e = kubeconfig_server_host(text).expect_err(text);
            assert!(e.to_string().contains(want), "{e}");
            assert_eq!(e.kube_kind(), KubeErrorKind::Config);
        }
    }
}
