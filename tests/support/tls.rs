//! A certificate authority made in the test, and server certificates it signs.

use std::path::PathBuf;
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tempfile::TempDir;

pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    pub cert_pem: String,
    dir: TempDir,
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "langsmith-proxy test CA");
        let key = KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("ca cert");
        Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// The CA certificate as a PEM file, for `upstream_ca_file`.
    pub fn pem_file(&self) -> PathBuf {
        let path = self.dir.path().join("ca.pem");
        std::fs::write(&path, &self.cert_pem).expect("write ca");
        path
    }

    /// A rustls server config for `localhost` and 127.0.0.1, offering h2 and http/1.1.
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        self.server_config_valid(1975, 4096)
    }

    /// As [`Self::server_config`], with a certificate valid from the start of `from_year` to
    /// the start of `to_year`.
    pub fn server_config_valid(&self, from_year: i32, to_year: i32) -> Arc<rustls::ServerConfig> {
        let mut params = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).expect("params");
        params.not_before = rcgen::date_time_ymd(from_year, 1, 1);
        params.not_after = rcgen::date_time_ymd(to_year, 1, 1);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        serving(cert.der().to_vec(), &key)
    }
}

/// A server certificate that is itself a CA (CA:TRUE), self-signed for `localhost`, as
/// `openssl req -x509` makes by default: its config and its PEM (to trust it).
pub fn ca_as_server_certificate() -> (Arc<rustls::ServerConfig>, String) {
    let mut params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let key = KeyPair::generate().expect("key");
    let cert = params.self_signed(&key).expect("cert");
    (serving(cert.der().to_vec(), &key), cert.pem())
}

/// A rustls server config serving `cert`, offering h2 and http/1.1.
fn serving(cert: Vec<u8>, key: &KeyPair) -> Arc<rustls::ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![CertificateDer::from(cert)],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der())),
        )
        .expect("server config");
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Arc::new(config)
}
