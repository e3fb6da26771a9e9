//! Whole transfers against the simulator, in both dialects: round trips of every shape, and each
//! failure mode injected, ending either byte-identical or in a clean error with nothing half-made.

use std::path::{Path, PathBuf};
use std::time::Duration;

use cl_sdk::transfer::{DownloadOptions, FileState, Overwrite, TransferControl, UploadFile, UploadOptions};
use cl_sdk::types::{ChecksumAlgorithm, WarningType};
use cl_sdk::{Client, Dialect, ErrorKind};
use cl_sim::{SimConfig, Simulator};

mod trust;

const BOTH: [Dialect; 2] = [Dialect::Api, Dialect::Rest];

async fn sim_with(adjust: impl FnOnce(&mut SimConfig)) -> Simulator {
    let mut config = SimConfig::default().plain_http();
    config.service.prepare_delay = Duration::from_millis(20);
    adjust(&mut config);
    Simulator::start(config).await.unwrap()
}

async fn connect(sim: &Simulator, dialect: Dialect) -> (Client, cl_sdk::LibraryId) {
    let client = Client::builder(sim.url())
        .credentials(sim.username(), sim.password())
        .dialect(dialect)
        .connect()
        .await
        .unwrap();
    let library = client.create_local_library("lib", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    (client, library)
}

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    names.sort();
    names
}

/// Asserts no sessions of the item are left on the server.
async fn assert_no_sessions(client: &Client, item: &cl_sdk::ItemId) {
    assert!(client.sessions::<cl_sdk::Update>(Some(item)).await.unwrap().is_empty(), "update sessions left behind");
    assert!(client.sessions::<cl_sdk::Download>(Some(item)).await.unwrap().is_empty(), "download sessions left behind");
}

#[tokio::test]
async fn single_empty_and_concurrent_files_round_trip() {
    for dialect in BOTH {
        let sim = sim_with(|_| {}).await;
        let (client, library) = connect(&sim, dialect).await;
        let src = tempfile::tempdir().unwrap();
        let mut files = vec![UploadFile::path(write(src.path(), "empty.bin", b""))];
        for i in 0..6u8 {
            files.push(UploadFile::path(write(
                src.path(),
                &format!("part-{i}.bin"),
                &content(100_000 + i as usize * 7919, i),
            )));
        }
        let control = TransferControl::new();
        let report = client
            .upload_new_item(
                &library,
                "bundle",
                &cl_sdk::ItemType::File,
                files,
                UploadOptions::default().concurrency(3).control(control.clone()),
            )
            .await
            .unwrap();
        assert_eq!(report.files.len(), 7);
        assert!(
            report.files.iter().all(|f| f.checksum.as_ref().is_some_and(|s| s.algorithm == ChecksumAlgorithm::Sha256))
        );
        let progress = control.progress().borrow().clone();
        assert!(progress.files.iter().all(|f| f.state == FileState::Done), "{progress:?}");
        assert_eq!(Some(progress.done()), progress.total());
        let item = report.item_id;
        assert_eq!(client.item(&item).await.unwrap().content_version.as_deref(), Some("2"));

        let dest = tempfile::tempdir().unwrap();
        let control = TransferControl::new();
        let report = client
            .download_item(&item, dest.path(), DownloadOptions::default().concurrency(3).control(control.clone()))
            .await
            .unwrap();
        assert_eq!(report.files.len(), 7);
        assert!(
            report
                .files
                .iter()
                .all(|f| f.verified_checksum.as_ref().is_some_and(|s| s.algorithm == ChecksumAlgorithm::Sha1))
        );
        assert_eq!(names_in(dest.path()), names_in(src.path()), "no partial files remain");
        for name in names_in(src.path()) {
            assert_eq!(
                std::fs::read(dest.path().join(&name)).unwrap(),
                std::fs::read(src.path().join(&name)).unwrap(),
                "{name}"
            );
        }
        assert_eq!(Some(control.progress().borrow().done()), control.progress().borrow().total());
        assert_no_sessions(&client, &item).await;

        // Only some files; an unknown name is refused before anything is written.
        let some = tempfile::tempdir().unwrap();
        client.download_item(&item, some.path(), DownloadOptions::default().only(["part-2.bin"])).await.unwrap();
        assert_eq!(names_in(some.path()), ["part-2.bin"]);
        let e = client.download_item(&item, some.path(), DownloadOptions::default().only(["nope"])).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        // Existing files are refused unless overwriting was chosen.
        let e = client
            .download_item(&item, some.path(), DownloadOptions::default().only(["part-2.bin"]))
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        std::fs::write(some.path().join("part-2.bin"), b"stale").unwrap();
        client
            .download_item(
                &item,
                some.path(),
                DownloadOptions::default().only(["part-2.bin"]).overwrite(Overwrite::Always),
            )
            .await
            .unwrap();
        assert_eq!(std::fs::read(some.path().join("part-2.bin")).unwrap(), content(100_000 + 2 * 7919, 2));
        assert_no_sessions(&client, &item).await;
    }
}

fn ovf_set(dir: &Path) -> Vec<(String, Vec<u8>)> {
    let disk = content(300_000, 9);
    let ovf = br#"<Envelope><References><File ovf:href="disk-0.vmdk"/></References></Envelope>"#.to_vec();
    let mf = format!("SHA256(app.ovf)= {}\n", hex_sha256(&ovf)).into_bytes();
    let files = vec![("app.ovf".to_owned(), ovf), ("disk-0.vmdk".to_owned(), disk), ("app.mf".to_owned(), mf)];
    for (name, bytes) in &files {
        write(dir, name, bytes);
    }
    files
}

fn hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[tokio::test]
async fn ovf_sets_and_ova_archives() {
    for dialect in BOTH {
        let sim = sim_with(|_| {}).await;
        let (client, library) = connect(&sim, dialect).await;
        let src = tempfile::tempdir().unwrap();
        let set = ovf_set(src.path());
        // Given in the "wrong" order: the SDK adds the manifest before the descriptor.
        let files = set.iter().map(|(name, _)| UploadFile::path(src.path().join(name))).collect();
        let report = client
            .upload_new_item(&library, "app", &cl_sdk::ItemType::Ovf, files, UploadOptions::default())
            .await
            .unwrap();
        assert_eq!(report.files[0].name, "app.mf");
        let listed: Vec<String> =
            client.item_files(&report.item_id).await.unwrap().into_iter().map(|f| f.name).collect();
        assert_eq!(listed, ["app.ovf", "disk-0.vmdk"], "the manifest is consumed at complete");

        // The same set as an OVA, streamed apart member by member.
        let ova = src.path().join("app.ova");
        let mut builder = tar::Builder::new(std::fs::File::create(&ova).unwrap());
        for (name, bytes) in [&set[0], &set[2], &set[1]] {
            let mut header = tar::Header::new_ustar();
            header.set_size(bytes.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, bytes.as_slice()).unwrap();
        }
        builder.into_inner().unwrap();
        let report = client
            .upload_new_item(
                &library,
                "app-ova",
                &cl_sdk::ItemType::Ovf,
                vec![UploadFile::path(&ova)],
                UploadOptions::default(),
            )
            .await
            .unwrap();
        let dest = tempfile::tempdir().unwrap();
        client.download_item(&report.item_id, dest.path(), DownloadOptions::default()).await.unwrap();
        assert_eq!(names_in(dest.path()), ["app.ovf", "disk-0.vmdk"]);
        assert_eq!(std::fs::read(dest.path().join("disk-0.vmdk")).unwrap(), set[1].1);
        assert_no_sessions(&client, &report.item_id).await;
    }
}

#[tokio::test]
async fn signed_content_needs_its_warnings_ignored() {
    for dialect in BOTH {
        let sim = sim_with(|_| {}).await;
        let (client, library) = connect(&sim, dialect).await;
        let src = tempfile::tempdir().unwrap();
        let set = ovf_set(src.path());
        write(src.path(), "app.cert", b"-----BEGIN CERTIFICATE-----\n");
        let files = || -> Vec<UploadFile> {
            set.iter()
                .map(|(n, _)| UploadFile::path(src.path().join(n)))
                .chain([UploadFile::path(src.path().join("app.cert"))])
                .collect()
        };
        let error = client
            .upload_new_item(&library, "signed", &cl_sdk::ItemType::Ovf, files(), UploadOptions::default())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Verification, "{error}");
        assert!(error.message().contains("SELF_SIGNED_CERTIFICATE"), "{error}");
        assert_eq!(
            client.find_item(&library, "signed").await.unwrap_err().kind(),
            ErrorKind::NotFound,
            "the new item is removed again"
        );

        let options = UploadOptions::default().ignore_warnings([WarningType::SelfSignedCertificate]);
        let report =
            client.upload_new_item(&library, "signed", &cl_sdk::ItemType::Ovf, files(), options).await.unwrap();
        let preview = report.preview.expect("the preview is reported");
        assert!(preview.certificate_info.unwrap().self_signed);
    }
}

#[tokio::test]
async fn a_failed_upload_leaves_the_item_as_it_was() {
    for dialect in BOTH {
        let sim = sim_with(|_| {}).await;
        let (client, library) = connect(&sim, dialect).await;
        let src = tempfile::tempdir().unwrap();
        let first = write(src.path(), "data.bin", b"version one");
        let item = client
            .upload_new_item(
                &library,
                "item",
                &cl_sdk::ItemType::File,
                vec![UploadFile::path(&first)],
                UploadOptions::default(),
            )
            .await
            .unwrap()
            .item_id;

        // A declared checksum that does not match: the server refuses, the session is failed and deleted.
        let second = write(src.path(), "data.bin", b"version two");
        let wrong = UploadFile::path(&second).with_checksum(ChecksumAlgorithm::Sha256, &"0".repeat(64));
        let error = client.upload_item(&item, vec![wrong], UploadOptions::default()).await.unwrap_err();
        assert!(matches!(error.kind(), ErrorKind::Verification | ErrorKind::InvalidArgument), "{error}");
        assert_no_sessions(&client, &item).await;
        assert_eq!(client.item(&item).await.unwrap().content_version.as_deref(), Some("2"));
        let dest = tempfile::tempdir().unwrap();
        client.download_item(&item, dest.path(), DownloadOptions::default()).await.unwrap();
        assert_eq!(std::fs::read(dest.path().join("data.bin")).unwrap(), b"version one");

        // Bad input is refused before a session exists.
        let e = client
            .upload_item(&item, vec![UploadFile::path(src.path().join("missing"))], UploadOptions::default())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Io);
        assert!(e.message().contains("missing"), "{e}");
        let twice = vec![UploadFile::path(&second), UploadFile::path(&second)];
        assert_eq!(
            client.upload_item(&item, twice, UploadOptions::default()).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_eq!(
            client.upload_item(&item, Vec::new(), UploadOptions::default()).await.unwrap_err().kind(),
            ErrorKind::InvalidInput
        );
        assert_no_sessions(&client, &item).await;
    }
}

#[tokio::test]
async fn a_dropped_upload_is_sent_again_and_a_dropped_download_resumes() {
    for dialect in BOTH {
        let sim = sim_with(|_| {}).await;
        let (client, library) = connect(&sim, dialect).await;
        let src = tempfile::tempdir().unwrap();
        let bytes = content(2_000_000, 3);
        let path = write(src.path(), "big.bin", &bytes);
        sim.faults().drop_next_transfer_after(300_000);
        let report = client
            .upload_new_item(
                &library,
                "big",
                &cl_sdk::ItemType::File,
                vec![UploadFile::path(&path)],
                UploadOptions::default(),
            )
            .await
            .unwrap();

        let dest = tempfile::tempdir().unwrap();
        sim.faults().drop_next_transfer_after(700_000);
        let downloaded = client.download_item(&report.item_id, dest.path(), DownloadOptions::default()).await.unwrap();
        assert!(downloaded.files[0].retries >= 1, "the download resumed");
        assert_eq!(std::fs::read(dest.path().join("big.bin")).unwrap(), bytes);
        assert_no_sessions(&client, &report.item_id).await;
    }
}

#[tokio::test]
async fn a_corrupt_download_leaves_no_file() {
    for dialect in BOTH {
        let sim = sim_with(|_| {}).await;
        let (client, library) = connect(&sim, dialect).await;
        let src = tempfile::tempdir().unwrap();
        let path = write(src.path(), "disk.vmdk", &content(500_000, 1));
        let item = client
            .upload_new_item(
                &library,
                "i",
                &cl_sdk::ItemType::File,
                vec![UploadFile::path(&path)],
                UploadOptions::default(),
            )
            .await
            .unwrap()
            .item_id;
        let dest = tempfile::tempdir().unwrap();
        sim.faults().corrupt_next_download_at(123_456);
        let error = client.download_item(&item, dest.path(), DownloadOptions::default()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Verification, "{error}");
        assert!(error.message().contains("checksum mismatch"), "{error}");
        assert!(names_in(dest.path()).is_empty(), "neither the final nor the partial file remains");
        assert_no_sessions(&client, &item).await;
    }
}

#[tokio::test]
async fn cancel_stops_cleanly() {
    for dialect in BOTH {
        let sim = sim_with(|_| {}).await;
        let (client, library) = connect(&sim, dialect).await;
        let src = tempfile::tempdir().unwrap();
        let first = write(src.path(), "a.bin", b"kept");
        let item = client
            .upload_new_item(
                &library,
                "i",
                &cl_sdk::ItemType::File,
                vec![UploadFile::path(&first)],
                UploadOptions::default(),
            )
            .await
            .unwrap()
            .item_id;

        let path = write(src.path(), "b.bin", &content(1_000_000, 2));
        sim.faults().stall_next_transfer(100_000, Duration::from_secs(30));
        let control = TransferControl::new();
        let canceler = control.clone();
        let mut progress = control.progress();
        tokio::spawn(async move {
            while progress.changed().await.is_ok() {
                if progress.borrow().done() > 0 {
                    canceler.cancel();
                    return;
                }
            }
        });
        let error = client
            .upload_item(&item, vec![UploadFile::path(&path)], UploadOptions::default().control(control))
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Canceled);
        assert_no_sessions(&client, &item).await;
        let files: Vec<String> = client.item_files(&item).await.unwrap().into_iter().map(|f| f.name).collect();
        assert_eq!(files, ["a.bin"], "the item keeps its content");

        // A download canceled midway leaves nothing either.
        let dest = tempfile::tempdir().unwrap();
        let control = TransferControl::new();
        control.cancel();
        let error =
            client.download_item(&item, dest.path(), DownloadOptions::default().control(control)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Canceled);
        assert!(names_in(dest.path()).is_empty());
    }
}

#[tokio::test]
async fn keep_alive_carries_a_transfer_past_both_idle_timeouts() {
    for dialect in BOTH {
        let sim = sim_with(|c| {
            // Margins for a busy machine: keep-alives every 0.5 s against 2.5 s timeouts.
            c.service.session_timeout = Duration::from_millis(2500);
            c.service.api_session_timeout = Duration::from_millis(2500);
        })
        .await;
        let (client, library) = connect(&sim, dialect).await;
        let src = tempfile::tempdir().unwrap();
        let path = write(src.path(), "slow.bin", &content(400_000, 5));
        // The transfer stalls for longer than either timeout; the keep-alive task bridges it.
        sim.faults().stall_next_transfer(50_000, Duration::from_millis(5000));
        let options = UploadOptions::default().keep_alive_every(Duration::from_millis(500));
        let report = client
            .upload_new_item(&library, "slow", &cl_sdk::ItemType::File, vec![UploadFile::path(&path)], options)
            .await
            .unwrap();
        assert_eq!(report.bytes(), 400_000);
        sim.faults().stall_next_transfer(50_000, Duration::from_millis(5000));
        let dest = tempfile::tempdir().unwrap();
        let options = DownloadOptions::default().keep_alive_every(Duration::from_millis(500));
        client.download_item(&report.item_id, dest.path(), options).await.unwrap();
        assert_eq!(std::fs::read(dest.path().join("slow.bin")).unwrap(), content(400_000, 5));
    }
}

#[tokio::test]
async fn readers_upload_with_a_known_size() {
    let sim = sim_with(|_| {}).await;
    let (client, library) = connect(&sim, Dialect::Api).await;
    let bytes = content(123_457, 4);
    let file = UploadFile::reader("stream.bin", bytes.len() as u64, std::io::Cursor::new(bytes.clone()));
    let report = client
        .upload_new_item(&library, "s", &cl_sdk::ItemType::File, vec![file], UploadOptions::default())
        .await
        .unwrap();
    let dest = tempfile::tempdir().unwrap();
    client.download_item(&report.item_id, dest.path(), DownloadOptions::default()).await.unwrap();
    assert_eq!(std::fs::read(dest.path().join("stream.bin")).unwrap(), bytes);
}

// ---------------------------------------------------------------------------------------------
// Hostile server file names: a minimal fake server whose only item file is `../escape`.

#[tokio::test]
async fn server_file_names_never_escape_the_destination() {
    use axum::routing::{get, post};
    for hostile in ["../escape", "/etc/passwd", "..\\evil", "C:boot.ini", "a/../../b", "nul\u{0}"] {
        let deleted = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = deleted.clone();
        let files = serde_json::json!([{"name": hostile, "bytes_transferred": 0, "status": "UNPREPARED"}]);
        let app = axum::Router::new()
            .route("/api/session", post(|| async { (axum::http::StatusCode::CREATED, axum::Json("tok")) }))
            .route(
                "/api/content/library/item/download-session",
                post(|| async { (axum::http::StatusCode::CREATED, axum::Json("ds-1")) }),
            )
            .route(
                "/api/content/library/item/download-session/ds-1/file",
                get(move || async move { axum::Json(files) }),
            )
            .route(
                "/api/content/library/item/download-session/ds-1",
                axum::routing::delete(move || async move {
                    flag.store(true, std::sync::atomic::Ordering::SeqCst);
                    axum::http::StatusCode::NO_CONTENT
                }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

        let client = Client::builder(&url).credentials("u", "p").dialect(Dialect::Api).connect().await.unwrap();
        let outer = tempfile::tempdir().unwrap();
        let dest = outer.path().join("dest");
        std::fs::create_dir(&dest).unwrap();
        let error =
            client.download_item(&cl_sdk::ItemId::new("item"), &dest, DownloadOptions::default()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnsafePath, "{hostile:?}: {error}");
        assert!(
            names_in(&dest).is_empty() && names_in(outer.path()) == ["dest"],
            "{hostile:?}: nothing written anywhere"
        );
        assert!(deleted.load(std::sync::atomic::Ordering::SeqCst), "{hostile:?}: the session is still deleted");
    }
}

#[tokio::test]
async fn transfers_go_over_http1_where_the_server_offers_http2() {
    // Over HTTPS the simulator offers HTTP/2 (ALPN); API calls may take it, transfers must not.
    // Endpoints without a thumbprint: the transfers use the client's own trust, not a pin.
    let mut config = SimConfig::default();
    config.service.prepare_delay = Duration::from_millis(20);
    config.service.endpoint_thumbprints = false;
    let sim = Simulator::start(config).await.unwrap();
    let ca = sim.ca_pem().unwrap().to_owned();
    let client =
        Client::builder(sim.url()).credentials(sim.username(), sim.password()).add_ca_pem(&ca).connect().await.unwrap();
    let library = client.create_local_library("lib", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let src = tempfile::tempdir().unwrap();
    let bytes = content(300_000, 7);
    let file = write(src.path(), "a.bin", &bytes);
    let options = UploadOptions::default();
    let item = client
        .upload_new_item(&library, "item", &cl_sdk::ItemType::File, vec![UploadFile::path(&file)], options)
        .await
        .unwrap();
    let out = tempfile::tempdir().unwrap();
    client.download_item(&item.item_id, out.path(), DownloadOptions::default()).await.unwrap();
    assert_eq!(std::fs::read(out.path().join("a.bin")).unwrap(), bytes);
    assert_eq!(sim.http2_transfers(), 0, "a transfer went over HTTP/2");

    // The control: a client that takes HTTP/2 is counted.
    let session = client.create_session::<cl_sdk::Download>(&item.item_id).await.unwrap();
    session.prepare("a.bin").await.unwrap();
    let prepared = session.wait_prepared("a.bin", Duration::from_secs(10)).await.unwrap();
    let uri = prepared.download_endpoint.unwrap().uri;
    let h2 = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca.as_bytes()).unwrap())
        .build()
        .unwrap();
    let response = h2.get(&uri).send().await.unwrap();
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.bytes().await.unwrap().len(), bytes.len());
    assert_eq!(sim.http2_transfers(), 1);
}
