//! The simulator's certificates: a throw-away CA and a leaf for `localhost`/`127.0.0.1` signed by
//! it, so clients can trust the simulator by CA, by thumbprint, or not at all.

use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// A CA and the server certificate it signed.
pub struct Certificates {
    /// The CA certificate (PEM): what a client adds to its trust roots.
    pub ca_pem: String,
    /// The server's certificate (DER): what a thumbprint is taken of.
    pub leaf_der: CertificateDer<'static>,
    /// The server's certificate (PEM).
    pub leaf_pem: String,
    key_der: Vec<u8>,
}

impl Certificates {
    /// Generates a new CA and a leaf valid for `localhost`, `127.0.0.1` and `::1`.
    pub fn generate() -> Result<Self, rcgen::Error> {
        let ca_key = KeyPair::generate()?;
        let mut ca = CertificateParams::new(Vec::new())?;
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name.push(DnType::CommonName, "cl-sim test CA");
        let ca_cert = ca.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca, ca_key);

        let key = KeyPair::generate()?;
        let mut leaf = CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned(), "::1".to_owned()])?;
        leaf.distinguished_name.push(DnType::CommonName, "cl-sim");
        let leaf_cert = leaf.signed_by(&key, &issuer)?;
        Ok(Self {
            ca_pem: ca_cert.pem(),
            leaf_pem: leaf_cert.pem(),
            leaf_der: leaf_cert.der().clone(),
            key_der: key.serialize_der(),
        })
    }

    /// A rustls server configuration serving the leaf (HTTP/1.1 and HTTP/2).
    pub fn server_config(&self) -> Arc<rustls::ServerConfig> {
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.key_der.clone()));
        let mut config =
            rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
                .with_safe_default_protocol_versions()
                .expect("ring supports the default protocol versions")
                .with_no_client_auth()
                .with_single_cert(vec![self.leaf_der.clone()], key)
                .expect("a freshly generated key matches its certificate");
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Arc::new(config)
    }
}

/// Any router served over HTTPS on 127.0.0.1 with a fresh CA: for tests of clients against
/// servers other than the simulator (a hostile source, a redirector). Stops when dropped.
pub struct HttpsServer {
    /// `https://127.0.0.1:PORT`.
    pub url: String,
    /// The CA that signed the server's certificate (PEM).
    pub ca_pem: String,
    /// The SHA-1 thumbprint of the server's certificate.
    pub thumbprint_sha1: String,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for HttpsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpsServer {
    /// Serves `router` until dropped.
    pub async fn start(router: axum::Router) -> std::io::Result<Self> {
        cl_tls::install_crypto_provider();
        let certificates = Certificates::generate().map_err(std::io::Error::other)?;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("https://127.0.0.1:{}", listener.local_addr()?.port());
        let acceptor = tokio_rustls::TlsAcceptor::from(certificates.server_config());
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let (acceptor, router) = (acceptor.clone(), router.clone());
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else { return };
                    let service = hyper_util::service::TowerToHyperService::new(router);
                    let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
                    let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(tls), service).await;
                });
            }
        });
        let thumbprint_sha1 = cl_tls::Thumbprint::sha1(&certificates.leaf_der).to_string();
        Ok(Self { url, ca_pem: certificates.ca_pem.clone(), thumbprint_sha1, task })
    }
}
