//! `clx` facing hostile text and signals: server text cannot drive the terminal, SIGTERM cleans
//! up like Ctrl-C and exits 143, and a URL's password never shows in an error.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use cl_sim::{SimConfig, Simulator};

fn clx(sim: &Simulator) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clx"));
    for var in ["CLX_URL", "GOVC_URL", "GOVC_USERNAME", "GOVC_PASSWORD", "GOVC_INSECURE"] {
        command.env_remove(var);
    }
    command
        .args(["--url", sim.url()])
        .env("CLX_USERNAME", sim.username())
        .env("CLX_PASSWORD", sim.password())
        .stdin(Stdio::null());
    command
}

/// A plain-HTTP simulator with library `lib` holding item `item` of the given files. Added
/// through the session's calls directly: the SDK's upload refuses names like these.
async fn sim_with(files: &[(&str, Vec<u8>)]) -> (Simulator, cl_sdk::Client) {
    use cl_sdk::types::{SourceType, UpdateFileAddSpec};
    let sim = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
    let client =
        cl_sdk::Client::builder(sim.url()).credentials(sim.username(), sim.password()).connect().await.unwrap();
    let library = client.create_local_library("lib", cl_sim::DATASTORE_ID).await.unwrap();
    let item = client.create_item(&library, "item", "file").await.unwrap();
    let session = client.create_update_session(&item).await.unwrap();
    for (name, bytes) in files {
        let spec = UpdateFileAddSpec {
            name: (*name).to_owned(),
            source_type: SourceType::Push,
            source_endpoint: None,
            size: Some(bytes.len() as i64),
            checksum_info: None,
        };
        let uri = session.add_file(&spec).await.unwrap().upload_endpoint.unwrap().uri;
        let put = reqwest::Client::new().put(uri).body(bytes.clone()).send().await.unwrap();
        assert!(put.status().is_success());
    }
    session.complete().await.unwrap();
    session.wait_done(Duration::from_secs(30)).await.unwrap();
    session.delete().await.unwrap();
    (sim, client)
}

#[tokio::test(flavor = "multi_thread")]
async fn server_text_is_escaped_on_the_terminal_and_exact_in_json() {
    let evil = "evil\u{1b}]0;pwned\u{7}\u{1b}[2J\ndone: all files verified\u{202e}.bin";
    let (sim, _client) = sim_with(&[(evil, b"x".to_vec())]).await;

    let text = clx(&sim).args(["item", "info", "lib/item"]).output().unwrap();
    assert!(text.status.success(), "{}", String::from_utf8_lossy(&text.stderr));
    let stdout = String::from_utf8(text.stdout).unwrap();
    assert!(!stdout.contains('\u{1b}') && !stdout.contains('\u{7}') && !stdout.contains('\u{202e}'), "{stdout:?}");
    assert!(!stdout.lines().any(|l| l.starts_with("done:")), "no forged line: {stdout:?}");
    assert!(stdout.contains("evil\\u{1b}]0;pwned\\u{7}"), "shown escaped: {stdout:?}");

    let json = clx(&sim).args(["--json", "item", "info", "lib/item"]).output().unwrap();
    let value: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert_eq!(value["files"][0]["name"], evil, "--json keeps the exact string");

    // Errors that quote server text are escaped too.
    let missing = clx(&sim).args(["item", "info", "lib/\u{1b}[31mnope"]).output().unwrap();
    assert!(!missing.status.success());
    assert!(!String::from_utf8_lossy(&missing.stderr).contains('\u{1b}'));
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_cancels_cleans_up_and_exits_143() {
    let (sim, client) = sim_with(&[("big.bin", vec![5u8; 4 << 20])]).await;
    // The download stalls after its first 256 KiB, long enough to be interrupted mid-way.
    sim.faults().stall_next_transfer(256 << 10, Duration::from_secs(30));
    let dest = tempfile::tempdir().unwrap();
    let mut child = clx(&sim)
        .args(["download", "lib/item", "--to"])
        .arg(dest.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait (bounded) until the download writes into its staging folder.
    let started = Instant::now();
    let staged = || std::fs::read_dir(dest.path()).unwrap().next().is_some();
    while !staged() && started.elapsed() < Duration::from_secs(20) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(staged(), "the download started");
    std::thread::sleep(Duration::from_millis(300));
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "clx exits after SIGTERM");
        std::thread::sleep(Duration::from_millis(20));
    };
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("canceling"), "{stderr}");
    let left: Vec<_> = std::fs::read_dir(dest.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(left.is_empty(), "nothing left behind: {left:?}");
    assert!(client.download_sessions(None).await.unwrap().is_empty(), "the session was deleted");
}

#[test]
fn a_url_that_does_not_parse_never_shows_its_password() {
    for url in ["https://root:hunter2@exa mple.com", "https://root:hunter2@[::1"] {
        let output = Command::new(env!("CARGO_BIN_EXE_clx"))
            .args(["--url", url, "login"])
            .env("CLX_PASSWORD", "x")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!stderr.contains("hunter2"), "{stderr}");
        assert!(stderr.contains("<redacted>"), "{stderr}");
    }
}
