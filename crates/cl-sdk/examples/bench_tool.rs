//! The SDK's side of `cargo xtask bench`: one measured action per run, against a simulator (or a
//! vCenter) at `URL`, printing `key=value` lines; `CL_BENCH_CA` names a PEM CA to trust for HTTPS.
//! Not meant for people; `cargo xtask bench` drives it.
//!
//! ```text
//! bench_tool URL setup NAME FILE…           # an item NAME holding the files; prints item=ID
//! bench_tool URL download ITEM DIR          # download_item into DIR; prints seconds= rss_mib=
//! bench_tool URL upload ITEM FILE none|sha256   # upload_item; prints seconds= rss_mib=
//! bench_tool URL upload-set FILE…          # upload_new_item of an OVF set (then deleted); prints seconds= rss_mib=
//! bench_tool URL ova ITEM PATH             # export_ova to PATH; prints seconds= rss_mib=
//! bench_tool URL import SOURCE_URL          # a new item from SOURCE_URL (fetched by the SDK), timed,
//!                                           # then removed; prints seconds= rss_mib=
//! bench_tool URL copy ITEM TO_URL           # copy_item into TO_URL's `bench` library, timed, then
//!                                           # the copy removed; prints seconds= rss_mib=
//! bench_tool URL get-endpoint ITEM          # a prepared download URI for curl; prints uri= session=
//! bench_tool URL drop-download SESSION      # deletes that download session
//! bench_tool URL put-endpoint NAME FILE [sha256:HEX]  # a fresh item's upload URI for curl; prints uri= session= item=
//! bench_tool URL drop-upload SESSION ITEM    # cancels and deletes that session and item
//! bench_tool URL rm-item ITEM                # deletes an item
//! bench_tool URL first-byte ITEM DIR        # prepared-to-first-request delay; prints ms=
//! bench_tool - hash FILE                    # SHA-1 and SHA-256 speed; prints sha1_gbps= sha256_gbps=
//! bench_tool - deep-check FILE              # the full preflight of FILE; prints seconds= errors= grains= rss_mib=
//! ```

use std::path::Path;
use std::time::{Duration, Instant};

use cl_sdk::transfer::{
    CopyOptions, DownloadOptions, OvaOptions, OvaTarget, Overwrite, SourceTrust, UploadFile, UploadOptions,
};
use cl_sdk::types::{ChecksumAlgorithm, ChecksumInfo, SourceType, UpdateFileAddSpec};
use cl_sdk::{Client, DatastoreId, ItemId, LibraryId, Result, SessionId};

async fn connect(url: &str) -> Result<Client> {
    let user = std::env::var("CL_SIM_USERNAME").unwrap_or_else(|_| "administrator@vsphere.local".into());
    let password = std::env::var("CL_SIM_PASSWORD").unwrap_or_else(|_| "cl-sim-password".into());
    let mut builder = Client::builder(url).credentials(&user, &password);
    // An HTTPS simulator's CA (written by `cl-sim --ca-out`): TLS stays verified.
    if let Ok(ca) = std::env::var("CL_BENCH_CA") {
        builder = builder.add_ca_pem(&std::fs::read_to_string(&ca).expect("the CA file"));
    }
    builder.connect().await
}

async fn library(client: &Client) -> Result<LibraryId> {
    match client.find_library("bench").await {
        Ok(id) => Ok(id),
        Err(_) => client.create_local_library("bench", &DatastoreId::new("datastore-sim")).await,
    }
}

fn hash_speed(path: &Path) {
    use sha1::Digest;
    let bytes = std::fs::read(path).expect("the file to hash");
    let gbps = |seconds: f64| bytes.len() as f64 / seconds / 1e9;
    let started = Instant::now();
    std::hint::black_box(sha1::Sha1::digest(&bytes));
    let sha1 = gbps(started.elapsed().as_secs_f64());
    let started = Instant::now();
    std::hint::black_box(sha2::Sha256::digest(&bytes));
    println!("sha1_gbps={sha1:.3}\nsha256_gbps={:.3}", gbps(started.elapsed().as_secs_f64()));
}

#[tokio::main]
async fn main() -> Result<()> {
    // RUST_LOG=cl_sdk=debug shows where a run spends its time.
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    if let ["-", "hash", file] = args.as_slice() {
        hash_speed(Path::new(file));
        return Ok(());
    }
    if let ["-", "preflight", file] = args.as_slice() {
        let started = Instant::now();
        let report = cl_sdk::preflight::check(&[file.into()], cl_sdk::preflight::Options::structure())?;
        println!("seconds={:.6}\nfindings={}", started.elapsed().as_secs_f64(), report.findings.len());
        return Ok(());
    }
    if let ["-", "deep-check", file] = args.as_slice() {
        let started = Instant::now();
        let report = cl_sdk::preflight::check(&[file.into()], cl_sdk::preflight::Options::full())?;
        println!(
            "seconds={:.4}\nerrors={}\ngrains={}\nrss_mib={:.1}",
            started.elapsed().as_secs_f64(),
            report.errors().count(),
            report.disks.first().and_then(|d| d.grains_checked).unwrap_or(0),
            cl_testkit::peak_rss_mib(None).unwrap_or(f64::NAN)
        );
        return Ok(());
    }
    let Some((url, command)) = args.split_first() else {
        eprintln!("usage: bench_tool URL COMMAND …");
        std::process::exit(2);
    };
    let client = connect(url).await?;
    match command {
        ["setup", name, files @ ..] => {
            let library = library(&client).await?;
            let options = UploadOptions::default().checksum(None);
            let files = files.iter().map(UploadFile::path).collect();
            let report = client.upload_new_item(&library, name, &cl_sdk::ItemType::File, files, options).await?;
            println!("item={}", report.item_id);
        }
        ["download", item, dir] => {
            let concurrency = std::env::var("CL_BENCH_CONCURRENCY").ok().and_then(|v| v.parse().ok()).unwrap_or(4);
            let started = Instant::now();
            let options = DownloadOptions::default().resume(false).concurrency(concurrency);
            client.download_item(&ItemId::new(*item), Path::new(dir), options).await?;
            println!(
                "seconds={:.4}\nrss_mib={:.1}",
                started.elapsed().as_secs_f64(),
                cl_testkit::peak_rss_mib(None).unwrap_or(f64::NAN)
            );
        }
        ["upload", item, file, checksum] => {
            let algorithm = (*checksum == "sha256").then_some(ChecksumAlgorithm::Sha256);
            let started = Instant::now();
            let options = UploadOptions::default().checksum(algorithm);
            client.upload_item(&ItemId::new(*item), vec![UploadFile::path(file)], options).await?;
            println!(
                "seconds={:.4}\nrss_mib={:.1}",
                started.elapsed().as_secs_f64(),
                cl_testkit::peak_rss_mib(None).unwrap_or(f64::NAN)
            );
        }
        ["upload-set", files @ ..] => {
            let library = library(&client).await?;
            let name = format!("set-{}", std::process::id());
            let files = files.iter().map(UploadFile::path).collect();
            let started = Instant::now();
            let report = client
                .upload_new_item(&library, &name, &cl_sdk::ItemType::Ovf, files, UploadOptions::default())
                .await?;
            let seconds = started.elapsed().as_secs_f64();
            client.delete_item(&report.item_id).await?;
            println!("seconds={seconds:.4}\nrss_mib={:.1}", cl_testkit::peak_rss_mib(None).unwrap_or(f64::NAN));
        }
        ["ova", item, path] => {
            let started = Instant::now();
            let options = OvaOptions::default().overwrite(Overwrite::Always);
            client.export_ova(&ItemId::new(*item), OvaTarget::path(path), options).await?;
            println!(
                "seconds={:.4}\nrss_mib={:.1}",
                started.elapsed().as_secs_f64(),
                cl_testkit::peak_rss_mib(None).unwrap_or(f64::NAN)
            );
        }
        ["import", source] => {
            let library = library(&client).await?;
            let name = format!("import-{}", std::process::id());
            let file = UploadFile::url(source, SourceTrust::default());
            let started = Instant::now();
            let report = client
                .upload_new_item(&library, &name, &cl_sdk::ItemType::File, vec![file], UploadOptions::default())
                .await?;
            let seconds = started.elapsed().as_secs_f64();
            client.delete_item(&report.item_id).await?;
            println!("seconds={seconds:.4}\nrss_mib={:.1}", cl_testkit::peak_rss_mib(None).unwrap_or(f64::NAN));
        }
        ["copy", item, to_url] => {
            let to = connect(to_url).await?;
            let library = library(&to).await?;
            let started = Instant::now();
            let copied =
                client.copy_item(&ItemId::new(*item), &to, &library, CopyOptions::default().create(true)).await?;
            let seconds = started.elapsed().as_secs_f64();
            to.delete_item(&copied.item_id).await?;
            println!("seconds={seconds:.4}\nrss_mib={:.1}", cl_testkit::peak_rss_mib(None).unwrap_or(f64::NAN));
        }
        ["get-endpoint", item] => {
            let session = client.create_session::<cl_sdk::Download>(&ItemId::new(*item)).await?;
            let name = session.files().await?.into_iter().next().map(|f| f.name).unwrap_or_default();
            session.prepare(&name).await?;
            let file = session.wait_prepared(&name, Duration::from_secs(600)).await?;
            println!("uri={}", file.download_endpoint.map(|e| e.uri).unwrap_or_default());
            println!("session={}", session.id());
        }
        ["put-endpoint", name, file, checksum @ ..] => {
            let library = library(&client).await?;
            let item = client.create_item(&library, name, &cl_sdk::ItemType::File).await?;
            let session = client.create_session::<cl_sdk::Update>(&item).await?;
            let size = std::fs::metadata(file).map(|m| m.len() as i64).ok();
            let spec = UpdateFileAddSpec {
                name: "data.bin".into(),
                source_type: SourceType::Push,
                source_endpoint: None,
                size,
                // `sha256:HEX`: the server verifies what curl sends.
                checksum_info: checksum
                    .first()
                    .and_then(|c| c.strip_prefix("sha256:"))
                    .map(|sum| ChecksumInfo { algorithm: Some(ChecksumAlgorithm::Sha256), checksum: sum.to_owned() }),
            };
            let added = session.add_file(&spec).await?;
            println!("uri={}", added.upload_endpoint.map(|e| e.uri).unwrap_or_default());
            println!("session={}\nitem={item}", session.id());
        }
        ["rm-item", item] => client.delete_item(&ItemId::new(*item)).await?,
        // The session holds the content it serves: an item's replaced content stays until it goes.
        ["drop-download", session] => client.session::<cl_sdk::Download>(SessionId::new(*session)).delete().await?,
        ["drop-upload", session, item] => {
            // What curl sent is discarded at once, so runs do not pile up content in the server.
            let session = client.session::<cl_sdk::Update>(SessionId::new(*session));
            session.cancel().await?;
            session.delete().await?;
            client.delete_item(&ItemId::new(*item)).await?;
        }
        ["first-byte", item, dir] => {
            // The SDK polls until PREPARED; the delay is how long after that it starts fetching,
            // taken as the wait beyond the simulator's prepare delay.
            let delay: f64 = std::env::var("CL_BENCH_PREPARE_MS").ok().and_then(|v| v.parse().ok()).unwrap_or(300.0);
            let control = cl_sdk::transfer::TransferControl::new();
            let mut progress = control.progress();
            let options = DownloadOptions::default().resume(false).control(control);
            let download = tokio::spawn({
                let (client, item, dir) = (client.clone(), ItemId::new(*item), dir.to_string());
                async move { client.download_item(&item, Path::new(&dir), options).await }
            });
            let mut preparing = None;
            let mut first = None;
            while progress.changed().await.is_ok() {
                let p = progress.borrow().clone();
                let Some(f) = p.files.first() else { continue };
                if preparing.is_none() && f.state == cl_sdk::transfer::FileState::Preparing {
                    preparing = Some(Instant::now());
                }
                if first.is_none() && f.state == cl_sdk::transfer::FileState::Transferring {
                    first = Some(Instant::now());
                }
            }
            download.await.expect("the download task")?;
            let waited = match (preparing, first) {
                (Some(a), Some(b)) => b.duration_since(a).as_secs_f64() * 1000.0,
                _ => f64::NAN,
            };
            println!("ms={:.1}", (waited - delay).max(0.0));
        }
        _ => {
            eprintln!("unknown command {command:?}");
            std::process::exit(2);
        }
    }
    Ok(())
}
