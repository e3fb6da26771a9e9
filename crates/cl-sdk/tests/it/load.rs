//! Load: 50 upload-and-download round trips at once from one client against the simulator on
//! loopback, bounded in count and time. Every byte comes back identical and no session is left
//! on the server. The process's peak RSS (client and simulator together) is printed.

use std::time::{Duration, Instant};

use cl_sdk::transfer::{DownloadOptions, UploadFile, UploadOptions};
use cl_sdk::{Client, RetryPolicy};
use cl_sim::{SimConfig, Simulator};

const ROUND_TRIPS: usize = 50;
const SIZE: usize = 256 << 10;

fn content(seed: usize) -> Vec<u8> {
    (0..SIZE).map(|i| (i as u8).wrapping_mul(seed as u8 | 1).wrapping_add(seed as u8)).collect()
}

async fn round_trip(client: &Client, library: &cl_sdk::LibraryId, n: usize) -> Result<(), String> {
    let bytes = content(n);
    let file = UploadFile::reader("data.bin", SIZE as u64, std::io::Cursor::new(bytes.clone()));
    let name = format!("item-{n}");
    let report = client
        .upload_new_item(library, &name, &cl_sdk::ItemType::File, vec![file], UploadOptions::default())
        .await
        .map_err(|e| format!("upload {n}: {e}"))?;
    let dest = tempfile::tempdir().map_err(|e| e.to_string())?;
    client
        .download_item(&report.item_id, dest.path(), DownloadOptions::default())
        .await
        .map_err(|e| format!("download {n}: {e}"))?;
    let back = std::fs::read(dest.path().join("data.bin")).map_err(|e| e.to_string())?;
    if back != bytes { Err(format!("round trip {n}: bytes differ")) } else { Ok(()) }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_round_trips_at_once() {
    let mut config = SimConfig::default().plain_http();
    config.service.prepare_delay = Duration::from_millis(20);
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::builder(sim.url())
        .credentials(sim.username(), sim.password())
        .retry(RetryPolicy::default().backoff(Duration::from_millis(10), Duration::from_millis(200)))
        .connect()
        .await
        .unwrap();
    let library = client.create_local_library("load", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();

    let started = Instant::now();
    let all = futures_util::future::join_all((0..ROUND_TRIPS).map(|n| round_trip(&client, &library, n)));
    let results = tokio::time::timeout(Duration::from_secs(180), all).await.expect("the load finishes in time");
    let failures: Vec<&String> = results.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "{failures:#?}");
    assert!(client.sessions::<cl_sdk::Download>(None).await.unwrap().is_empty());
    assert!(client.sessions::<cl_sdk::Update>(None).await.unwrap().is_empty());
    assert_eq!(client.item_ids(&library).await.unwrap().len(), ROUND_TRIPS);
    println!(
        "load: {ROUND_TRIPS} round trips of {} KiB at once in {:.2} s; peak RSS {:.1} MiB (client and simulator)",
        SIZE >> 10,
        started.elapsed().as_secs_f64(),
        cl_testkit::peak_rss_mib(None).unwrap_or(f64::NAN)
    );
}
