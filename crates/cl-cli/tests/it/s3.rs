//! `clx publish DIR --to s3://…` against moto's S3 server: the feed and its files land in the
//! bucket (a large file in parts), a rerun writes nothing, a change writes only what changed,
//! and a simulator subscribed to the bucket's lib.json syncs the content byte for byte.

use std::process::{Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

fn publish(dir: &std::path::Path, endpoint: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_clx"))
        .env_remove("CLX_URL")
        .env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ALLOW_HTTP", "true")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .args(["--json", "publish", "--name", "lab", "--to", "s3://feeds/lab"])
        .arg(dir)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn json(output: &Output) -> Value {
    assert!(output.status.success(), "clx failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_folder_published_to_s3_is_subscribable() {
    let Some(binary) = cl_testkit::moto::binary() else { return };
    let moto = cl_testkit::moto::start(&binary);
    moto.create_bucket("feeds");
    let dir = tempfile::tempdir().unwrap();
    let big: Vec<u8> = (0..(20u32 << 20)).map(|i| (i % 241) as u8).collect();
    std::fs::create_dir(dir.path().join("images")).unwrap();
    std::fs::write(dir.path().join("images/big.bin"), &big).unwrap();
    std::fs::write(dir.path().join("images/small name.txt"), b"small").unwrap();
    std::fs::write(dir.path().join("disc.iso"), b"iso bytes").unwrap();

    let endpoint = moto.endpoint.clone();
    let dir_path = dir.path().to_owned();
    let first = tokio::task::spawn_blocking(move || json(&publish(&dir_path, &endpoint))).await.unwrap();
    // 3 files, 2 item.json, items.json, lib.json.
    assert_eq!(first["uploaded"]["uploaded"], 7, "{first}");
    let endpoint = moto.endpoint.clone();
    let dir_path = dir.path().to_owned();
    let again = tokio::task::spawn_blocking(move || json(&publish(&dir_path, &endpoint))).await.unwrap();
    assert_eq!((again["uploaded"]["uploaded"].as_u64(), again["uploaded"]["unchanged"].as_u64()), (Some(0), Some(7)));
    std::fs::write(dir.path().join("disc.iso"), b"other iso bytes").unwrap();
    let endpoint = moto.endpoint.clone();
    let dir_path = dir.path().to_owned();
    let changed = tokio::task::spawn_blocking(move || json(&publish(&dir_path, &endpoint))).await.unwrap();
    assert_eq!(changed["uploaded"]["uploaded"], 4, "the file, its item.json, the index and lib.json: {changed}");

    // Served straight from the bucket (made public, as an operator would), a simulator subscribes.
    for key in [
        "lib.json",
        "items.json",
        "images/item.json",
        "images/big.bin",
        "images/small%20name.txt",
        "disc.iso",
        "disc.iso.item/item.json",
    ] {
        moto.make_public(&format!("/feeds/lab/{key}"));
    }
    let sim = cl_sim::Simulator::start(cl_sim::SimConfig::default().plain_http()).await.unwrap();
    let client = cl_testkit::client(&sim).await;
    let url = format!("{}/feeds/lab/lib.json", moto.endpoint);
    let library = client
        .create_subscribed_library(
            "from-s3",
            &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID),
            &cl_sdk::Subscription::new(&url),
        )
        .await
        .unwrap();
    let done = client.sync_library(&library).await.unwrap().wait(Duration::from_secs(60), |_| {}).await.unwrap();
    assert_eq!((done.items, done.items_cached), (2, 2));
    let images = client.find_item(&library, "images").await.unwrap();
    let dest = tempfile::tempdir().unwrap();
    client.download_item(&images, dest.path(), Default::default()).await.unwrap();
    assert_eq!(std::fs::read(dest.path().join("big.bin")).unwrap(), big);
}
