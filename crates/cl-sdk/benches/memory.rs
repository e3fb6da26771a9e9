//! Memory of whole SDK transfers: uploads and downloads a generated file (2 GiB by default,
//! `CL_SDK_BENCH_MIB` to change) through `upload_new_item` / `download_item` against the
//! in-process simulator, and compares the process's peak resident memory after a 1 MiB warm-up
//! with its peak after the large round trip. Client and server both stream, so the two stay close.
//!
//! `cargo bench -p cl-sdk --bench memory`

use std::io::Write;
use std::time::Instant;

use cl_sdk::Client;
use cl_sdk::transfer::{DownloadOptions, UploadFile, UploadOptions};

fn generate(path: &std::path::Path, mib: u64) {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let mut chunk = vec![0u8; 1 << 20];
    for i in 0..mib {
        for (j, b) in chunk.iter_mut().enumerate() {
            *b = (i as usize).wrapping_mul(31).wrapping_add(j / 7) as u8;
        }
        file.write_all(&chunk).unwrap();
    }
    file.flush().unwrap();
}

async fn round_trip(client: &Client, library: &str, dir: &std::path::Path, name: &str, mib: u64) {
    let src = dir.join(format!("{name}.bin"));
    generate(&src, mib);
    let started = Instant::now();
    let up = client
        .upload_new_item(library, name, "file", vec![UploadFile::path(&src)], UploadOptions::default())
        .await
        .unwrap();
    let up_secs = started.elapsed().as_secs_f64();
    let dest = dir.join(format!("{name}-out"));
    std::fs::create_dir(&dest).unwrap();
    let started = Instant::now();
    let down = client.download_item(&up.item_id, &dest, DownloadOptions::default()).await.unwrap();
    let down_secs = started.elapsed().as_secs_f64();
    assert_eq!(down.bytes(), mib << 20);
    assert!(down.files[0].verified_checksum.is_some(), "verified against the server's checksum");
    println!(
        "{mib} MiB: upload (with SHA-256 beforehand) {:.0} MiB/s, download (verified) {:.0} MiB/s",
        mib as f64 / up_secs,
        mib as f64 / down_secs
    );
    std::fs::remove_file(&src).unwrap();
    std::fs::remove_dir_all(&dest).unwrap();
}

#[tokio::main]
async fn main() {
    let mib: u64 = std::env::var("CL_SDK_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(2048);
    let mut config = cl_sim::SimConfig::default().plain_http();
    config.service.prepare_delay = std::time::Duration::ZERO;
    let sim = cl_sim::Simulator::start(config).await.unwrap();
    let client = Client::builder(sim.url()).credentials(sim.username(), sim.password()).connect().await.unwrap();
    let library = client.create_local_library("bench", cl_sim::DATASTORE_ID).await.unwrap();
    let dir = tempfile::tempdir().unwrap();

    round_trip(&client, &library, dir.path(), "warm-up", 1).await;
    let baseline = cl_testkit::peak_rss_mib(None).expect("VmHWM in /proc/self/status");
    round_trip(&client, &library, dir.path(), "large", mib).await;
    let peak = cl_testkit::peak_rss_mib(None).expect("VmHWM in /proc/self/status");
    println!(
        "process peak RSS (SDK client and simulator): {baseline:.1} MiB after 1 MiB, {peak:.1} MiB after {mib} MiB up and down (ratio {:.2})",
        peak / baseline
    );
    assert!(peak < baseline + 64.0, "memory grew with the file size: {baseline:.1} → {peak:.1} MiB");
}
