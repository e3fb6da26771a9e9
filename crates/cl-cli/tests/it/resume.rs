//! Downloads resume across runs: a `clx download` killed with SIGKILL halfway keeps its bytes in
//! the destination's staging folder, and the next run fetches only the rest, verifies the whole
//! file and leaves nothing behind. `--no-resume` starts over.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use common::{clx, kept, sim_with, wait_for_exit, wait_until};

const SIZE: usize = 24 << 20;

fn content() -> Vec<u8> {
    (0..SIZE).map(|i| (i as u8).wrapping_mul(13).wrapping_add((i >> 16) as u8)).collect()
}

/// Starts `clx download` and kills it with SIGKILL once at least `at` bytes are on disk; the
/// simulator stalls the transfer at `stall` so the kill lands mid-file. Returns the bytes kept.
async fn killed_halfway(sim: &cl_sim::Simulator, dest: &std::path::Path, stall: u64, at: u64) -> u64 {
    sim.faults().stall_next_transfer(stall, Duration::from_secs(30));
    let mut child = clx(sim)
        .args(["download", "lib/item", "--to"])
        .arg(dest)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("the partial holds enough bytes", || kept(dest) >= at);
    std::process::Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap();
    let status = wait_for_exit(&mut child);
    assert_eq!(std::os::unix::process::ExitStatusExt::signal(&status), Some(9));
    kept(dest)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_download_resumes_where_it_stopped() {
    let bytes = content();
    let (sim, client) = sim_with(&[("disk.vmdk", bytes.clone())]).await;
    let dest = tempfile::tempdir().unwrap();

    let kept = killed_halfway(&sim, dest.path(), 12 << 20, 8 << 20).await;
    assert!(kept >= 8 << 20 && kept < SIZE as u64, "{kept} bytes kept");
    assert!(!dest.path().join("disk.vmdk").exists(), "no final name before verification");

    let served_before = sim.bytes_served();
    let again = clx(&sim).args(["--json", "download", "lib/item", "--to"]).arg(dest.path()).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    let served = sim.bytes_served() - served_before;
    assert_eq!(served, SIZE as u64 - kept, "the second run fetched only the rest");
    assert_eq!(std::fs::read(dest.path().join("disk.vmdk")).unwrap(), bytes, "identical bytes");
    let report: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(report["files"][0]["resumed_from"], kept);
    let left: Vec<_> = std::fs::read_dir(dest.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(left, ["disk.vmdk"], "no staging folder, partial or sidecar left");
    // The session of the killed run idles out on the server; the resumed run deleted its own.
    assert!(client.sessions::<cl_sdk::Download>(None).await.unwrap().len() <= 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_resume_starts_over_and_a_changed_item_is_not_spliced() {
    let bytes = content();
    let (sim, client) = sim_with(&[("disk.vmdk", bytes.clone())]).await;
    let dest = tempfile::tempdir().unwrap();

    killed_halfway(&sim, dest.path(), 12 << 20, 4 << 20).await;
    let served_before = sim.bytes_served();
    let again = clx(&sim).args(["download", "lib/item", "--no-resume", "--to"]).arg(dest.path()).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(sim.bytes_served() - served_before, SIZE as u64, "started over");
    assert_eq!(std::fs::read(dest.path().join("disk.vmdk")).unwrap(), bytes);

    // Interrupted again, then the item changes on the server: the kept bytes are dropped.
    std::fs::remove_file(dest.path().join("disk.vmdk")).unwrap();
    killed_halfway(&sim, dest.path(), 12 << 20, 4 << 20).await;
    let changed: Vec<u8> = bytes.iter().map(|b| b ^ 0xff).collect();
    let library = client.find_library("lib").await.unwrap();
    let item = client.find_item(&library, "item").await.unwrap();
    let file = cl_sdk::transfer::UploadFile::reader("disk.vmdk", SIZE as u64, std::io::Cursor::new(changed.clone()));
    client.upload_item(&item, vec![file], Default::default()).await.unwrap();
    let again = clx(&sim).args(["download", "lib/item", "--to"]).arg(dest.path()).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert!(String::from_utf8_lossy(&again.stdout).contains("started over"), "says so");
    assert_eq!(std::fs::read(dest.path().join("disk.vmdk")).unwrap(), changed, "never spliced");
}

/// A download that breaks off for good keeps its bytes, and its last line says what was kept,
/// where, and how to go on; nothing claims it was cleaned up.
#[tokio::test(flavor = "multi_thread")]
async fn a_broken_download_says_what_it_kept_and_how_to_go_on() {
    let (sim, _client) = sim_with(&[("big.bin", content())]).await;
    let dest = tempfile::tempdir().unwrap();
    sim.faults().drop_next_transfer_after(4 << 20);
    let out = clx(&sim).args(["--retries", "0", "download", "lib/item", "--to"]).arg(dest.path()).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    let last = stderr.lines().last().unwrap_or_default();
    assert!(last.contains("Kept") && last.contains(".cl-download-"), "{stderr}");
    assert!(last.contains("run the same command again to resume") && last.contains("--no-resume"), "{stderr}");
    assert!(!stderr.contains("cleaning up"), "{stderr}");
    assert!(kept(dest.path()) > 0);
    let again = clx(&sim).args(["download", "lib/item", "--to"]).arg(dest.path()).output().unwrap();
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(std::fs::read(dest.path().join("big.bin")).unwrap(), content());
}
