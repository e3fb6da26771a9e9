//! moto's server mode, an S3 endpoint on loopback for the publish-to-S3 tests: installed into
//! the official SDK's virtual environment by `cargo xtask ci` (pinned in
//! `tests/python/requirements-s3.txt`), or wherever `CL_MOTO` points.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running moto server; killed when dropped.
pub struct Moto {
    child: Child,
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    port: u16,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `moto_server` program, if there is one; CI must have it.
pub fn binary() -> Option<PathBuf> {
    let default = crate::workspace().join("target/official-sdk/venv/bin/moto_server");
    let path = std::env::var_os("CL_MOTO").map(PathBuf::from).unwrap_or(default);
    if path.is_file() {
        return Some(path);
    }
    assert!(std::env::var_os("CI").is_none(), "CI needs moto at {} (cargo xtask ci installs it)", path.display());
    eprintln!("skipped: no moto at {}; `cargo xtask ci` installs it", path.display());
    None
}

/// Starts moto on a free loopback port and waits (at most 30 s) until it answers.
pub fn start(binary: &std::path::Path) -> Moto {
    let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(binary)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("moto_server starts");
    let moto = Moto { child, endpoint: format!("http://127.0.0.1:{port}"), port };
    let started = Instant::now();
    while moto.request("GET", "/").is_none() {
        assert!(started.elapsed() < Duration::from_secs(30), "moto did not answer within 30 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    moto
}

impl Moto {
    /// Creates a bucket (moto takes unsigned requests).
    pub fn create_bucket(&self, name: &str) {
        let status = self.request("PUT", &format!("/{name}")).expect("moto answers");
        assert!(status.starts_with("HTTP/1.1 200"), "creating bucket {name}: {status}");
    }

    /// Lets anyone read an object (`path` is `/BUCKET/KEY`, the key as on the wire), as an
    /// operator does for a feed served straight from a bucket; objects are private by default.
    pub fn make_public(&self, path: &str) {
        // As the owner (moto reads the access key, "test", and does not check signatures).
        let owner = "Authorization: AWS4-HMAC-SHA256 Credential=test/20261204/us-east-1/s3/aws4_request, \
                     SignedHeaders=host, Signature=0\r\n";
        let status = self
            .request_with("PUT", &format!("{path}?acl"), &format!("x-amz-acl: public-read\r\n{owner}"))
            .expect("moto answers");
        assert!(status.starts_with("HTTP/1.1 200"), "making {path} public: {status}");
    }

    fn request(&self, method: &str, path: &str) -> Option<String> {
        self.request_with(method, path, "")
    }

    /// One plain HTTP/1.1 request; the status line, if it answered.
    fn request_with(&self, method: &str, path: &str, headers: &str) -> Option<String> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{headers}Content-Length: 0\r\nConnection: close\r\n\r\n",
            self.port
        );
        stream.write_all(request.as_bytes()).ok()?;
        let mut response = String::new();
        stream.take(1 << 16).read_to_string(&mut response).ok()?;
        response.lines().next().map(str::to_owned)
    }
}
