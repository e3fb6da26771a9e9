//! Starts govmomi's vcsim (built from Debian's packages and `vcsim/main.go` by `cargo xtask
//! vcsim`) over
//! HTTPS with a certificate from a CA made here: vcsim's own certificate is RSA-1024 and rightly
//! refused by rustls. Shared by the SDK's and the CLI's interoperability tests.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

pub struct Vcsim {
    child: Child,
    /// `https://127.0.0.1:PORT`
    pub url: String,
    /// The datastore id a library can be created on.
    pub datastore: String,
    /// PEM of the CA that signed vcsim's certificate.
    pub ca_pem: String,
    pub ca_path: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for Vcsim {
    fn drop(&mut self) {
        // SIGTERM lets vcsim remove its temporary model directories.
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

/// The vcsim binary: `CL_VCSIM`, or `target/vcsim-deb` as `cargo xtask ci` builds it. `None` (with
/// the reason printed) when it is not there; in CI a missing vcsim is a failure.
pub fn binary() -> Option<PathBuf> {
    let default = crate::workspace().join("target/vcsim-deb");
    let path = std::env::var_os("CL_VCSIM").map(PathBuf::from).unwrap_or(default);
    if path.is_file() {
        return Some(path);
    }
    assert!(std::env::var_os("CI").is_none(), "CI needs vcsim at {} (cargo xtask ci builds it)", path.display());
    eprintln!("skipped: no vcsim at {}; build it with `cargo xtask vcsim`", path.display());
    None
}

pub fn start(binary: &Path) -> Vcsim {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca = rcgen::CertificateParams::new(Vec::new()).unwrap();
    ca.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name.push(rcgen::DnType::CommonName, "interop test CA");
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = rcgen::Issuer::new(ca, ca_key);
    let key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let leaf_cert = leaf.signed_by(&key, &issuer).unwrap();
    let (cert_path, key_path, ca_path) =
        (dir.path().join("leaf.pem"), dir.path().join("leaf.key"), dir.path().join("ca.pem"));
    std::fs::write(&cert_path, leaf_cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    std::fs::write(&ca_path, ca_cert.pem()).unwrap();

    // A free port: bind, read it, release it for vcsim.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let mut child = Command::new(binary)
        .args(["-l", &format!("127.0.0.1:{port}"), "-tlscert"])
        .arg(&cert_path)
        .arg("-tlskey")
        .arg(&key_path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("vcsim starts");
    let mut datastore = None;
    let mut seen_url = false;
    let lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines {
        let line = line.unwrap();
        seen_url |= line.starts_with("GOVC_URL=");
        if let Some(ds) = line.strip_prefix("DATASTORE=") {
            datastore = Some(ds.to_owned());
            break;
        }
    }
    assert!(seen_url, "vcsim printed its URL");
    Vcsim {
        child,
        url: format!("https://127.0.0.1:{port}"),
        datastore: datastore.expect("vcsim printed a datastore"),
        ca_pem: ca_cert.pem(),
        ca_path,
        _dir: dir,
    }
}
