//! Server memory during a large transfer: runs the `cl-sim` binary, uploads and downloads a
//! generated file (2 GiB by default, `CL_SIM_BENCH_MIB` to change) through it, and compares the
//! server's peak resident memory after a 1 MiB warm-up with its peak after the large round trip.
//! Streaming means the two stay close whatever the file size.
//!
//! `cargo bench -p cl-sim --bench memory`

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Instant;

use bytes::Bytes;
use cl_api::types::*;
use futures_util::StreamExt;
use sha1::Digest;

const CHUNK: usize = 1 << 20;

fn chunk(i: u64) -> Bytes {
    // Deterministic, not all-equal content, cheap to regenerate.
    let mut buf = vec![0u8; CHUNK];
    for (j, b) in buf.iter_mut().enumerate() {
        *b = (i as usize).wrapping_mul(31).wrapping_add(j / 7) as u8;
    }
    Bytes::from(buf)
}

async fn round_trip(client: &cl_api::Client, http: &reqwest::Client, lib: &str, name: &str, mib: u64) -> f64 {
    let mut sha = sha1::Sha1::new();
    for i in 0..mib {
        sha.update(chunk(i));
    }
    let digest = hex::encode(sha.finalize());
    let item = client
        .item_create(None, &ItemModel { library_id: Some(lib.into()), name: Some(name.into()), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let session = client
        .update_session_create(None, &UpdateSessionModel { library_item_id: Some(item.clone()), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    let spec = UpdateFileAddSpec {
        name: "big.bin".into(),
        source_type: SourceType::Push,
        source_endpoint: None,
        size: Some((mib * CHUNK as u64) as i64),
        checksum_info: Some(ChecksumInfo { algorithm: Some(ChecksumAlgorithm::Sha1), checksum: digest.clone() }),
    };
    let uri = client.update_session_file_add(&session, &spec).await.unwrap().into_inner().upload_endpoint.unwrap().uri;
    let started = Instant::now();
    let body =
        reqwest::Body::wrap_stream(futures_util::stream::iter((0..mib).map(|i| Ok::<_, std::io::Error>(chunk(i)))));
    let response = http.put(&uri).header("content-length", mib * CHUNK as u64).body(body).send().await.unwrap();
    assert!(response.status().is_success(), "upload: {}", response.status());
    let up = started.elapsed();
    client.update_session_complete(&session).await.unwrap();

    let dl = client
        .download_session_create(None, &DownloadSessionModel { library_item_id: Some(item), ..Default::default() })
        .await
        .unwrap()
        .into_inner();
    client
        .download_session_file_prepare(
            &dl,
            &DownloadFilePrepareSpec { file_name: "big.bin".into(), endpoint_type: None },
        )
        .await
        .unwrap();
    let uri = loop {
        let file = client.download_session_file_get(&dl, "big.bin").await.unwrap().into_inner();
        if let Some(endpoint) = file.download_endpoint {
            break endpoint.uri;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    };
    let started = Instant::now();
    let mut stream = http.get(&uri).send().await.unwrap().bytes_stream();
    let mut sha = sha1::Sha1::new();
    let mut total = 0u64;
    while let Some(part) = stream.next().await {
        let part = part.unwrap();
        total += part.len() as u64;
        sha.update(&part);
    }
    let down = started.elapsed();
    assert_eq!(total, mib * CHUNK as u64);
    assert_eq!(hex::encode(sha.finalize()), digest, "the download is byte-identical");
    let rate = |d: std::time::Duration| mib as f64 / d.as_secs_f64();
    println!("{mib} MiB: upload {:.0} MiB/s, download {:.0} MiB/s", rate(up), rate(down));
    up.as_secs_f64() + down.as_secs_f64()
}

#[tokio::main]
async fn main() {
    let mib: u64 = std::env::var("CL_SIM_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(2048);
    let mut child = Command::new(env!("CARGO_BIN_EXE_cl-sim"))
        .args(["--http", "--listen", "127.0.0.1:0", "--prepare-delay", "0ms"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("cl-sim starts");
    let pid = child.id();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = lines.find_map(|l| l.ok()?.strip_prefix("CL_SIM_URL=").map(str::to_owned)).expect("the URL line");

    cl_tls::install_crypto_provider();
    let http = reqwest::Client::new();
    let hooks = cl_api::Hooks::default();
    let client = cl_api::Client::new_with_client(&url, http.clone(), hooks.clone());
    hooks.set_login(Some(("administrator@vsphere.local", "cl-sim-password")));
    let token = client.session_create().await.unwrap().into_inner();
    hooks.set_login(None);
    hooks.set_session_id(Some(&token)).expect("the simulator issues header-safe tokens");
    let backing = StorageBacking {
        type_: Some(StorageBackingType::Datastore),
        datastore_id: Some("ds".into()),
        storage_uri: None,
    };
    let lib = client
        .local_library_create(
            None,
            &LibraryModel { name: Some("bench".into()), storage_backings: vec![backing], ..Default::default() },
        )
        .await
        .unwrap()
        .into_inner();

    round_trip(&client, &http, &lib, "warm-up", 1).await;
    let baseline = cl_testkit::peak_rss_mib(Some(pid)).expect("VmHWM of the simulator");
    round_trip(&client, &http, &lib, "large", mib).await;
    let peak = cl_testkit::peak_rss_mib(Some(pid)).expect("VmHWM of the simulator");
    println!(
        "server peak RSS: {baseline:.1} MiB after 1 MiB, {peak:.1} MiB after {mib} MiB up and down (ratio {:.2})",
        peak / baseline
    );
    let _ = child.kill();
    let _ = child.wait();
    assert!(peak < baseline + 64.0, "server memory grew with the file size: {baseline:.1} → {peak:.1} MiB");
}
