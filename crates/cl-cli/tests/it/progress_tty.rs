//! The progress display on a real pseudo-terminal (`script` from util-linux gives `clx` one): a
//! large upload shows its hashing with a bar of its own, Ctrl-C typed on the terminal reaches the
//! hashing, the bar then says canceled (not 100 %), the notice stays on screen, and nothing is
//! created on the server.

use crate::common;

use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{sim_with, wait_until};

#[tokio::test(flavor = "multi_thread")]
async fn hashing_shows_and_ctrl_c_cancels_it() {
    if Command::new("script").arg("--version").output().is_err() {
        assert!(std::env::var_os("CI").is_none(), "CI needs util-linux's script for the terminal test");
        eprintln!("skipped: no `script` here");
        return;
    }
    let (sim, client) = sim_with(&[("a.bin", vec![1u8; 10])]).await;
    let dir = tempfile::tempdir().unwrap();
    // A sparse gigabyte: seconds of hashing, no disk.
    let big = dir.path().join("big.iso");
    std::fs::File::create(&big).unwrap().set_len(1 << 30).unwrap();

    let clx = format!(
        "{} --url {} upload --library lib --item fresh --create {}",
        env!("CARGO_BIN_EXE_clx"),
        sim.url(),
        big.display()
    );
    let mut child = Command::new("script")
        .args(["-qfec", &clx, "/dev/null"])
        .env("CLX_USERNAME", sim.username())
        .env("CLX_PASSWORD", sim.password())
        .env("COLUMNS", "120")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let screen = Arc::new(Mutex::new(Vec::new()));
    let mut out = child.stdout.take().unwrap();
    let sink = screen.clone();
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = out.read(&mut buf) {
            if n == 0 {
                break;
            }
            sink.lock().unwrap().extend_from_slice(&buf[..n]);
        }
    });
    let text = || String::from_utf8_lossy(&screen.lock().unwrap()).into_owned();
    wait_until("the hashing bar is drawn", || text().contains("hashing"));
    // Ctrl-C as typed on the terminal: the line discipline sends SIGINT to clx.
    child.stdin.as_mut().unwrap().write_all(b"\x03").unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(Instant::now() < deadline, "clx stops after Ctrl-C: {}", text());
        std::thread::sleep(Duration::from_millis(20));
    };
    std::thread::sleep(Duration::from_millis(100));
    let screen = text();
    assert_eq!(status.code(), Some(130), "{screen}");
    eprintln!("{screen:?}");
    let bar_canceled = screen.split(['\r', '\n']).any(|line| line.contains("big.iso") && line.contains("canceled"));
    assert!(bar_canceled, "the file's bar says canceled: {screen}");
    assert!(screen.contains("canceling and cleaning up"), "the notice stays: {screen}");
    assert!(!screen.contains("1.00 GiB/1.00 GiB"), "a canceled bar does not jump to 100 %: {screen}");
    let library = client.find_library("lib").await.unwrap();
    assert!(client.find_item(&library, "fresh").await.is_err(), "nothing created");
    assert!(client.sessions::<cl_sdk::Update>(None).await.unwrap().is_empty());
}
