//! TLS trust for Content Library transfers.
//!
//! vCenter hands out transfer endpoints with an `ssl_certificate_thumbprint` (SHA-1 of the DER
//! certificate on 7.x/8.x, SHA-256 on newer releases) or, from 9.0, the PEM `ssl_certificate`
//! itself; when one is given the peer is trusted if and only if it matches. [`PinnedVerifier`]
//! implements exactly that rule for rustls, still checking that the peer owns the certificate
//! (handshake signatures are verified), and [`Thumbprint`] parses the notations people paste:
//! `AA:BB:…`, `aabb…`, any case.
//!
//! ```
//! use cl_tls::Thumbprint;
//! let t: Thumbprint = "69:d9:a1:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01".parse().unwrap();
//! assert_eq!(t.to_string(), "69:D9:A1:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:00:01");
//! assert!("not hex".parse::<Thumbprint>().is_err());
//! ```

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use sha1::Digest as _;

/// Makes ring rustls's process-wide crypto provider unless one is installed already. Every TLS
/// client and server of this workspace uses ring, and reqwest needs a process default before it
/// builds a client; calling this more than once is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A certificate fingerprint: SHA-1 (20 bytes) or SHA-256 (32 bytes) of the DER certificate.
#[derive(Clone, PartialEq, Eq, Hash)]
pub enum Thumbprint {
    /// SHA-1, what vCenter 7.x/8.x sends.
    Sha1([u8; 20]),
    /// SHA-256, what newer releases send.
    Sha256([u8; 32]),
}

/// Why a thumbprint or certificate could not be read.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TlsError {
    /// The text is not hex, or not the length of a SHA-1 or SHA-256 digest.
    #[error("{0:?} is not a SHA-1 or SHA-256 thumbprint (40 or 64 hex digits, colons allowed)")]
    BadThumbprint(String),
    /// The PEM text holds no certificate.
    #[error("no PEM certificate found")]
    NoCertificate,
}

impl Thumbprint {
    /// The SHA-1 thumbprint of a DER certificate.
    pub fn sha1(der: &[u8]) -> Self {
        Self::Sha1(sha1::Sha1::digest(der).into())
    }

    /// The SHA-256 thumbprint of a DER certificate.
    pub fn sha256(der: &[u8]) -> Self {
        Self::Sha256(sha2::Sha256::digest(der).into())
    }

    /// Whether `der` is the certificate this thumbprint was taken of.
    pub fn matches(&self, der: &[u8]) -> bool {
        match self {
            Self::Sha1(_) => *self == Self::sha1(der),
            Self::Sha256(_) => *self == Self::sha256(der),
        }
    }

    fn bytes(&self) -> &[u8] {
        match self {
            Self::Sha1(b) => b,
            Self::Sha256(b) => b,
        }
    }
}

impl FromStr for Thumbprint {
    type Err = TlsError;

    fn from_str(text: &str) -> Result<Self, TlsError> {
        let digits: String = text.chars().filter(|c| !matches!(c, ':' | ' ' | '-')).collect();
        let bad = || TlsError::BadThumbprint(text.to_owned());
        let bytes = hex::decode(&digits).map_err(|_| bad())?;
        match bytes.len() {
            20 => Ok(Self::Sha1(bytes.try_into().map_err(|_| bad())?)),
            32 => Ok(Self::Sha256(bytes.try_into().map_err(|_| bad())?)),
            _ => Err(bad()),
        }
    }
}

/// Upper-case, colon-separated hex: the notation vCenter and govc print.
impl fmt::Display for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = hex::encode_upper(self.bytes());
        for (i, pair) in hex.as_bytes().chunks(2).enumerate() {
            if i > 0 {
                f.write_str(":")?;
            }
            f.write_str(std::str::from_utf8(pair).expect("hex is ASCII"))?;
        }
        Ok(())
    }
}

impl fmt::Debug for Thumbprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Thumbprint({self})")
    }
}

/// What a pinned connection trusts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pin {
    /// A certificate whose thumbprint matches.
    Thumbprint(Thumbprint),
    /// Exactly this certificate (DER).
    Certificate(CertificateDer<'static>),
}

impl Pin {
    fn matches(&self, der: &[u8]) -> bool {
        match self {
            Self::Thumbprint(t) => t.matches(der),
            Self::Certificate(c) => c.as_ref() == der,
        }
    }
}

/// Reads every certificate of a PEM text.
pub fn pem_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_slice_iter(pem.as_bytes()).filter_map(Result::ok).collect();
    if certs.is_empty() {
        return Err(TlsError::NoCertificate);
    }
    Ok(certs)
}

/// Trusts a server if and only if its certificate matches one of the pins; no chain, name or
/// expiry checks, as vCenter specifies for thumbprint-pinned endpoints. The handshake signature
/// is still verified, so the peer must hold the pinned certificate's private key.
#[derive(Debug)]
pub struct PinnedVerifier {
    pins: Vec<Pin>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl PinnedVerifier {
    /// A verifier for these pins, using the process's rustls crypto provider (ring).
    pub fn new(pins: Vec<Pin>) -> Self {
        let provider = CryptoProvider::get_default()
            .cloned()
            .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
        Self { pins, algorithms: provider.signature_verification_algorithms }
    }

    /// A rustls client configuration that trusts only these pins.
    pub fn client_config(pins: Vec<Pin>) -> rustls::ClientConfig {
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("ring supports the default protocol versions")
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Self::new(pins)))
            .with_no_client_auth()
    }
}

impl ServerCertVerifier for PinnedVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.pins.iter().any(|pin| pin.matches(end_entity)) {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(format!(
                "server certificate (SHA-1 {}) does not match the pinned thumbprint or certificate",
                Thumbprint::sha1(end_entity)
            )))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprints_parse_in_every_notation() {
        let der = b"not really a certificate";
        let sha1 = Thumbprint::sha1(der);
        let text = sha1.to_string();
        assert_eq!(text.len(), 59);
        for variant in [text.clone(), text.to_lowercase(), text.replace(':', ""), text.replace(':', " ")] {
            let parsed: Thumbprint = variant.parse().unwrap();
            assert!(parsed.matches(der), "{variant}");
        }
        let sha256: Thumbprint = Thumbprint::sha256(der).to_string().to_lowercase().parse().unwrap();
        assert!(matches!(sha256, Thumbprint::Sha256(_)) && sha256.matches(der));
        assert!(!sha256.matches(b"another certificate"));
    }

    #[test]
    fn bad_thumbprints_are_refused_with_the_text() {
        for bad in ["", "zz", "AA:BB", &"ab".repeat(21)] {
            assert_eq!(bad.parse::<Thumbprint>(), Err(TlsError::BadThumbprint(bad.to_owned())), "{bad}");
        }
    }

    #[test]
    fn pem_without_certificates_is_an_error() {
        assert_eq!(pem_certificates("hello"), Err(TlsError::NoCertificate));
    }
}
