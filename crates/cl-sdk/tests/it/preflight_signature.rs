//! Signed OVF packages: keys, certificates and signatures made with openssl as the OVF tool
//! chain makes them (an RSA PKCS #1 v1.5 signature over the manifest, `SHA256(x.mf)= HEX` and
//! the certificate in PEM), then broken: the manifest changed after signing, another key's
//! signature, an expired certificate. The command the finding advises is the one that signs.

use std::path::{Path, PathBuf};
use std::process::Command;

use cl_sdk::preflight::{self, Finding, Options, Report, Severity};

use super::preflight::tool;

fn openssl(dir: &Path, args: &[&str]) {
    let output = Command::new("openssl").args(args).current_dir(dir).output().unwrap();
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

fn bash(dir: &Path, line: &str) {
    let output = Command::new("bash").args(["-c", line]).current_dir(dir).output().unwrap();
    assert!(output.status.success(), "{line}: {}", String::from_utf8_lossy(&output.stderr));
}

/// A CA, and a signer's key with a certificate from it valid from `start` to `end`
/// (`YYYYMMDDHHMMSSZ`), through `openssl ca`.
fn issued(dir: &Path, name: &str, start: &str, end: &str) {
    if !dir.join("ca.pem").exists() {
        let config = "[ca]\ndefault_ca = own\n[own]\ndatabase = index.txt\nnew_certs_dir = .\nserial = serial\n\
                      default_md = sha256\npolicy = any\n[any]\ncommonName = supplied\n";
        std::fs::write(dir.join("ca.cnf"), config).unwrap();
        std::fs::write(dir.join("index.txt"), "").unwrap();
        std::fs::write(dir.join("serial"), "1000\n").unwrap();
        self_signed(dir, "ca", "Test CA", "30");
    }
    let key = format!("{name}-key.pem");
    let csr = format!("{name}.csr");
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            &key,
            "-out",
            &csr,
            "-subj",
            &format!("/CN={name}"),
        ],
    );
    openssl(
        dir,
        &[
            "ca",
            "-batch",
            "-config",
            "ca.cnf",
            "-cert",
            "ca.pem",
            "-keyfile",
            "ca-key.pem",
            "-in",
            &csr,
            "-out",
            &format!("{name}.pem"),
            "-startdate",
            start,
            "-enddate",
            end,
            "-notext",
        ],
    );
}

/// A self-signed certificate `{name}.pem` for `/CN={subject}`, valid `days`, and its key
/// `{name}-key.pem`: the CA, or a signer no CA vouches for.
fn self_signed(dir: &Path, name: &str, subject: &str, days: &str) {
    let (key, cert, subject) = (format!("{name}-key.pem"), format!("{name}.pem"), format!("/CN={subject}"));
    openssl(
        dir,
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", &key, "-out", &cert, "-days", days, "-subj",
            &subject,
        ],
    );
}

/// Signs `app.mf` with `key` and writes `app.cert` with `cert`: the command the finding advises.
fn sign(dir: &Path, key: &str, cert: &str) {
    let fix = the_fix();
    let command = fix.split_once("ship: ").unwrap().1;
    let command = command.replace("KEY.pem", key).replace("CERT.pem", cert).replace("x.", "app.");
    bash(dir, &command);
}

/// The advice every signature finding gives (read off a finding, so the test runs what users read).
fn the_fix() -> String {
    let dir = tempfile::tempdir().unwrap();
    let (ovf, mf) = package(dir.path());
    let cert = dir.path().join("app.cert");
    std::fs::write(&cert, "not a signature").unwrap();
    let report = check(&[ovf, mf, cert]);
    report.findings.iter().find(|f| f.code == "ovf.cert_form").expect("a form finding").fix.clone()
}

/// An OVF with nothing to deploy and its manifest.
fn package(dir: &Path) -> (PathBuf, PathBuf) {
    let ovf = dir.join("app.ovf");
    std::fs::write(
        &ovf,
        "<?xml version=\"1.0\"?><Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\"><References/></Envelope>\n",
    )
    .unwrap();
    let mf = dir.join("app.mf");
    let sum = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(std::fs::read(&ovf).unwrap()))
    };
    std::fs::write(&mf, format!("SHA256(app.ovf)= {sum}\n")).unwrap();
    (ovf, mf)
}

fn check(paths: &[PathBuf]) -> Report {
    preflight::check(paths, Options::full()).unwrap()
}

/// The findings about the signature, as (severity, code).
fn signature_findings(report: &Report) -> Vec<(Severity, &'static str)> {
    report
        .findings
        .iter()
        .filter(|f| f.code.starts_with("ovf.cert") || f.code == "ovf.signature")
        .map(|f| (f.severity, f.code))
        .collect()
}

fn the<'a>(report: &'a Report, code: &str) -> &'a Finding {
    report.findings.iter().find(|f| f.code == code).unwrap_or_else(|| panic!("no {code}: {:#?}", report.findings))
}

#[test]
fn signatures_made_with_openssl_and_broken_three_ways() {
    if tool("openssl", "openssl").is_none() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ovf, mf) = package(d);
    let cert = d.join("app.cert");
    let files = vec![ovf.clone(), mf.clone(), cert.clone()];
    // Signed with a certificate a CA issued, valid now: nothing to say.
    issued(d, "signer", "20250101000000Z", "20350101000000Z");
    sign(d, "signer-key.pem", "signer.pem");
    let report = check(&files);
    assert_eq!(signature_findings(&report), [], "{:#?}", report.findings);

    // 1. The manifest changed after it was signed.
    let signed = std::fs::read(&mf).unwrap();
    std::fs::write(&mf, [signed.as_slice(), b"SHA256(extra.txt)= 00\n"].concat()).unwrap();
    let report = check(&files);
    assert_eq!(signature_findings(&report), [(Severity::Error, "ovf.signature")]);
    assert!(the(&report, "ovf.signature").problem.contains("CN=signer"), "{:#?}", report.findings);
    std::fs::write(&mf, &signed).unwrap();

    // 2. Signed with another key than the certificate's.
    self_signed(d, "other", "other", "365");
    sign(d, "other-key.pem", "signer.pem");
    let report = check(&files);
    assert_eq!(signature_findings(&report), [(Severity::Error, "ovf.signature")]);

    // 3. A certificate that expired: the signature holds, the warning names subject and expiry.
    issued(d, "old", "20200101000000Z", "20210101000000Z");
    sign(d, "old-key.pem", "old.pem");
    let report = check(&files);
    assert_eq!(signature_findings(&report), [(Severity::Warning, "ovf.cert_expired")]);
    let finding = the(&report, "ovf.cert_expired");
    assert!(finding.problem.contains("CN=old") && finding.problem.contains("2021"), "{finding}");

    // Self-signed: verifies, and is called untrusted, with its subject and expiry.
    sign(d, "other-key.pem", "other.pem");
    let report = check(&files);
    assert_eq!(signature_findings(&report), [(Severity::Warning, "ovf.cert_self_signed")]);
    assert!(the(&report, "ovf.cert_self_signed").problem.contains("CN=other"));

    // SHA-512 as ovftool --shaAlgorithm=SHA512 signs.
    let line = "openssl dgst -sha512 -sign signer-key.pem -out app.sig app.mf && \
                { printf 'SHA512(app.mf)= %s\\n' \"$(od -An -v -tx1 app.sig | tr -d ' \\n')\"; cat signer.pem; } > app.cert";
    bash(d, line);
    assert_eq!(signature_findings(&check(&files)), []);

    // The same signed package as an OVA: the member is named.
    sign(d, "other-key.pem", "signer.pem");
    let ova = d.join("app.ova");
    let mut builder = tar::Builder::new(std::fs::File::create(&ova).unwrap());
    for f in &files {
        builder.append_path_with_name(f, f.file_name().unwrap()).unwrap();
    }
    builder.into_inner().unwrap();
    let report = check(&[ova]);
    assert_eq!(the(&report, "ovf.signature").file, "app.ova:app.cert");
}

#[test]
fn certificate_files_that_are_not_what_they_say() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let (ovf, mf) = package(d);
    let cert = d.join("app.cert");
    let files = vec![ovf, mf, cert.clone()];
    let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    for (text, code) in [
        ("", "ovf.cert_form"),
        ("SHA256(app.mf)= zz\n", "ovf.cert_form"),
        ("SHA2-256(app.mf)= 00ff\n", "ovf.cert_form"),
        ("SHA256(other.mf)= 00ff\n", "ovf.cert_manifest"),
        ("SHA256(app.mf)= 00ff\n", "ovf.cert_form"),
        (&format!("SHA256(app.mf)= 00ff\n{pem}"), "ovf.cert_form"),
    ] {
        std::fs::write(&cert, text).unwrap();
        let report = check(&files);
        let found = signature_findings(&report);
        assert_eq!(found, [(Severity::Error, code)], "{text:?}: {:#?}", report.findings);
    }
}
