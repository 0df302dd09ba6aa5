//! The fake API server's PKI: a certificate authority generated per server and a server
//! certificate for the loopback names, signed by it (what `kubeadm init` makes for a real master).

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose,
};
use rustls::ServerConfig;
use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};

use super::FakeKubeError;

/// The names the server certificate is valid for: every way a test may spell the loopback host.
const SERVER_NAMES: [&str; 3] = ["127.0.0.1", "localhost", "::1"];

/// A freshly generated CA and the TLS configuration of a server whose certificate it signed.
pub(crate) struct Pki {
    /// The CA certificate in PEM, what clients trust (`certificate-authority-data`).
    pub(crate) ca_pem: String,
    /// The rustls configuration serving the server certificate (HTTP/1.1 only, like kube-rs).
    pub(crate) server_config: Arc<ServerConfig>,
}

impl Pki {
    /// Generates a CA and a server certificate, and builds the rustls server configuration.
    ///
    /// The crypto provider is given explicitly (ring), so nothing depends on a process-wide
    /// default provider being installed.
    pub(crate) fn generate() -> Result<Self, FakeKubeError> {
        let mut ca_params = CertificateParams::default();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        ca_params.distinguished_name = distinguished_name("fake-kubernetes-ca");
        let ca_key = KeyPair::generate().map_err(FakeKubeError::Certificate)?;
        let ca =
            CertifiedIssuer::self_signed(ca_params, ca_key).map_err(FakeKubeError::Certificate)?;

        let names: Vec<String> = SERVER_NAMES.iter().map(|n| (*n).to_owned()).collect();
        let mut server_params =
            CertificateParams::new(names).map_err(FakeKubeError::Certificate)?;
        server_params.distinguished_name = distinguished_name("kube-apiserver");
        server_params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        server_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        let server_key = KeyPair::generate().map_err(FakeKubeError::Certificate)?;
        let server_cert = server_params
            .signed_by(&server_key, &ca)
            .map_err(FakeKubeError::Certificate)?;

        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(server_key.serialize_der()));
        let mut server_config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(FakeKubeError::Tls)?
            .with_no_client_auth()
            .with_single_cert(vec![server_cert.der().clone(), ca.der().clone()], key)
            .map_err(FakeKubeError::Tls)?;
        // kube-rs speaks HTTP/1.1 only; advertising exactly that is what a client offering
        // ALPN would negotiate with a real API server too.
        server_config.alpn_protocols = vec![b"http/1.1".to_vec()];

        Ok(Self {
            ca_pem: ca.pem(),
            server_config: Arc::new(server_config),
        })
    }
}

/// A distinguished name with just a common name.
fn distinguished_name(common_name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn
}
