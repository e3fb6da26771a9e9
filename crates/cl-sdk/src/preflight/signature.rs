//! A signed OVF package's `.cert`: the manifest's signature and the certificate that made it.
//!
//! DSP0243 §5.2: the certificate file holds the signed digest of the manifest and the X.509
//! certificate, in PEM. ovftool writes the first line as `SHA256(x.mf)= HEX` (the RSA PKCS #1
//! v1.5 signature over the manifest's bytes, in hex), then the certificate and any chain. vCenter
//! verifies it only after the upload and shows an invalid or untrusted signature as a warning on
//! the item; here it is checked before anything is sent.

use ring::signature::{self as rsa, UnparsedPublicKey};
use x509_parser::prelude::*;

use super::ovf::short;
use super::{Entry, ReadAt, Sink};

/// How the OVF tool chain signs, with openssl alone.
pub(super) const FIX_SIGN: &str = "sign the manifest again with the key of the certificate you ship: \
     openssl dgst -sha256 -sign KEY.pem -out x.sig x.mf && \
     { printf 'SHA256(x.mf)= %s\\n' \"$(od -An -v -tx1 x.sig | tr -d ' \\n')\"; cat CERT.pem; } > x.cert";

/// Checks a certificate file against the set's manifests.
pub(super) fn check(bytes: &[u8], manifests: &[&Entry], out: &mut Sink) {
    let text = String::from_utf8_lossy(bytes);
    let Some((n, line)) = text.lines().enumerate().find(|(_, l)| !l.trim().is_empty()) else {
        out.error("ovf.cert_form", None, "an empty certificate file", FIX_SIGN);
        return;
    };
    let at = Some(super::Location::Line(n + 1));
    let Some((algorithm, signed, hex)) = signature_line(line.trim()) else {
        out.error(
            "ovf.cert_form",
            at,
            format!("{:?} is not a signature line (SHA256(x.mf)= hex)", short(line.trim())),
            FIX_SIGN,
        );
        return;
    };
    let verify: &'static dyn rsa::VerificationAlgorithm = match algorithm.to_ascii_uppercase().as_str() {
        "SHA256" => &rsa::RSA_PKCS1_2048_8192_SHA256,
        "SHA512" => &rsa::RSA_PKCS1_2048_8192_SHA512,
        "SHA1" => {
            out.warning(
                "ovf.cert_sha1",
                at.clone(),
                "the manifest is signed over SHA-1, which vCenter 8 and ovftool 4.4+ report as weak",
                FIX_SIGN,
            );
            &rsa::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY
        }
        other => {
            out.error(
                "ovf.cert_form",
                at,
                format!("signature algorithm {:?}; a certificate file names SHA1, SHA256 or SHA512", short(other)),
                FIX_SIGN,
            );
            return;
        }
    };
    let Some(signature) = hex::decode(hex).ok().filter(|s| !s.is_empty()) else {
        out.error("ovf.cert_form", at, "the signature is not hexadecimal", FIX_SIGN);
        return;
    };
    let Some(manifest) = manifests.iter().find(|m| m.name == signed) else {
        if !manifests.is_empty() {
            out.error(
                "ovf.cert_manifest",
                at,
                format!("signs {:?}, which is not the package's manifest", short(signed)),
                FIX_SIGN,
            );
        }
        return;
    };
    let pems: Vec<_> = Pem::iter_from_buffer(bytes).take(16).collect();
    let Some(Ok(pem)) = pems.first() else {
        out.error("ovf.cert_form", None, "no PEM certificate after the signature line", FIX_SIGN);
        return;
    };
    let cert = match pem.parse_x509() {
        Ok(cert) => cert,
        Err(e) => {
            out.error("ovf.cert_form", None, format!("the certificate does not parse: {e}"), FIX_SIGN);
            return;
        }
    };
    let subject = short(&cert.subject().to_string());
    let key = cert.public_key();
    if key.algorithm.algorithm != x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION {
        out.warning(
            "ovf.cert_key",
            None,
            format!(
                "the certificate of {subject:?} has a key of type {}, not RSA: the signature is not checked here",
                key.algorithm.algorithm
            ),
            "ovftool signs with RSA keys; vCenter verifies those",
        );
        return;
    }
    if let Ok(x509_parser::public_key::PublicKey::RSA(rsa_key)) = key.parsed()
        && rsa_key.key_size() < 2048
    {
        out.error(
            "ovf.signature",
            None,
            format!(
                "the certificate of {subject:?} has a {}-bit RSA key; vCenter requires 2048 bits or more",
                rsa_key.key_size()
            ),
            "make a key of 2048 bits or more, a certificate for it, and sign the manifest again",
        );
        return;
    }
    let Some(manifest_bytes) = read_all(&manifest.data) else {
        return;
    };
    if UnparsedPublicKey::new(verify, &key.subject_public_key.data).verify(&manifest_bytes, &signature).is_err() {
        out.error(
            "ovf.signature",
            at,
            format!(
                "the signature over {:?} does not verify with the certificate of {subject:?}: the manifest changed \
                 after it was signed, or another key signed it; vCenter shows the item's signature as invalid",
                short(signed)
            ),
            FIX_SIGN,
        );
        return;
    }
    let validity = cert.validity();
    let expiry = validity.not_after.to_string();
    if !validity.is_valid() {
        let when = if validity.not_before.timestamp() > now() {
            format!("valid only from {}", validity.not_before)
        } else {
            format!("expired {expiry}")
        };
        out.warning(
            "ovf.cert_expired",
            None,
            format!(
                "the signature verifies, but the certificate of {subject:?} is {when}: vCenter shows it as not valid"
            ),
            "sign with a current certificate",
        );
    }
    if cert.subject() == cert.issuer() && cert.verify_signature(None).is_ok() {
        out.warning(
            "ovf.cert_self_signed",
            None,
            format!(
                "the signature verifies, but the certificate of {subject:?} (valid to {expiry}) is self-signed: vCenter \
                 shows the signature as not trusted unless that certificate is in its trust store"
            ),
            "sign with a certificate from a CA vCenter trusts, or add this one to vCenter's trusted certificates",
        );
    }
}

/// `SHA256(x.mf)= HEX` → the algorithm, the signed file's name and the hex.
fn signature_line(line: &str) -> Option<(&str, &str, &str)> {
    let (head, hex) = line.split_once(")=")?;
    let (algorithm, name) = head.split_once('(')?;
    let (algorithm, name, hex) = (algorithm.trim(), name.trim(), hex.trim());
    (!algorithm.is_empty() && !name.is_empty() && !hex.is_empty()).then_some((algorithm, name, hex))
}

fn read_all(data: &(impl ReadAt + ?Sized)) -> Option<Vec<u8>> {
    let mut bytes = vec![0u8; usize::try_from(data.size()).ok().filter(|&n| n <= 1 << 20)?];
    data.read_at(&mut bytes, 0).ok()?;
    Some(bytes)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}
