//! `clx` facing hostile text and signals: server text cannot drive the terminal, SIGTERM cleans
//! up like Ctrl-C and exits 143, and a URL's password never shows in an error.

use crate::common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{clx, kept, sim_with, wait_for_exit, wait_until};

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
    // The download stalls after its first 2 MiB, long enough to be interrupted mid-way.
    sim.faults().stall_next_transfer(2 << 20, Duration::from_secs(30));
    let dest = tempfile::tempdir().unwrap();
    let mut child = clx(&sim)
        .args(["download", "lib/item", "--to"])
        .arg(dest.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until("the download wrote bytes", || kept(dest.path()) >= 512 << 10);
    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();

    let status = wait_for_exit(&mut child);
    let stderr = std::io::read_to_string(child.stderr.take().unwrap()).unwrap();
    assert_eq!(status.code(), Some(143), "{stderr}");
    assert!(stderr.contains("canceling"), "{stderr}");
    // Its bytes are kept for a resume, and it says so instead of claiming to clean up.
    assert!(!stderr.contains("cleaning up"), "{stderr}");
    assert!(stderr.contains("run the same command again to resume"), "{stderr}");
    assert!(client.sessions::<cl_sdk::Download>(None).await.unwrap().is_empty(), "the session was deleted");
    // Only the hidden staging folder stays, for the next run to resume; no final name.
    let left: Vec<String> =
        std::fs::read_dir(dest.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into()).collect();
    assert!(left.len() == 1 && left[0].starts_with(".cl-download-"), "{left:?}");
    let again = clx(&sim).args(["download", "lib/item", "--to"]).arg(dest.path()).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(std::fs::read(dest.path().join("big.bin")).unwrap(), vec![5u8; 4 << 20]);
    assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 1, "the staging folder is gone");
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
