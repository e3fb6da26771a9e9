//! A server's word is not proof: what it reports after a transfer is checked against what was sent, and a manifest's digests while sending.

use super::*;

/// A server's READY is not proof: a file it reports READY with fewer bytes than were sent (its
/// PUT answered 200, or cut) is sent again; a server that keeps doing so fails the upload and the
/// item keeps its previous content.
#[tokio::test]
async fn a_short_file_reported_ready_is_sent_again_or_fails_the_upload() {
    use cl_sim::ShortUpload;
    let sim = sim_with(|_| {}).await;
    let (_, library) = connect(&sim, Dialect::Api).await;
    let retry =
        cl_sdk::RetryPolicy::default().max_attempts(3).backoff(Duration::from_millis(5), Duration::from_millis(20));
    let client =
        Client::builder(sim.url()).credentials(sim.username(), sim.password()).retry(retry).connect().await.unwrap();
    let src = tempfile::tempdir().unwrap();
    let path = write(src.path(), "disk.img", &content(300_000, 1));
    let item = client.upload_new_item(
        &library,
        "item",
        &cl_sdk::ItemType::File,
        vec![UploadFile::path(&path)],
        UploadOptions::default(),
    );
    let item = item.await.unwrap().item_id;
    let new = content(300_000, 2);
    std::fs::write(&path, &new).unwrap();

    for how in [ShortUpload::Answered, ShortUpload::Cut] {
        sim.faults().accept_short_uploads(how, 100_000, 1);
        let report = client.upload_item(&item, vec![UploadFile::path(&path)], UploadOptions::default()).await;
        assert_eq!(report.unwrap().files[0].size, 300_000, "{how:?}");
        let dest = tempfile::tempdir().unwrap();
        client.download_item(&item, dest.path(), DownloadOptions::default()).await.unwrap();
        assert_eq!(std::fs::read(dest.path().join("disk.img")).unwrap(), new, "{how:?}: sent again, whole");
    }

    // Every attempt short: the upload fails, naming the file, and the item is as it was.
    std::fs::write(&path, content(300_000, 3)).unwrap();
    sim.faults().accept_short_uploads(ShortUpload::Answered, 100_000, 10);
    let error = client.upload_item(&item, vec![UploadFile::path(&path)], UploadOptions::default()).await;
    sim.faults().clear();
    let error = error.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Verification, "{error}");
    assert_eq!(error.detail(), Some(&cl_sdk::Detail::File("disk.img".into())), "{error}");
    assert!(error.to_string().contains("100000"), "says what the server holds: {error}");
    let dest = tempfile::tempdir().unwrap();
    client.download_item(&item, dest.path(), DownloadOptions::default()).await.unwrap();
    assert_eq!(std::fs::read(dest.path().join("disk.img")).unwrap(), new, "the item kept its previous content");
    assert_no_sessions(&client, &item).await;
}

/// Resume state is kept only for interruptions, the error says where, and a resumed file whose
/// checksum then fails is fetched once more from its first byte.
#[tokio::test]
async fn an_interrupted_download_says_what_it_kept_and_bad_kept_bytes_are_fetched_again() {
    let sim = sim_with(|_| {}).await;
    let (client, library) = connect(&sim, Dialect::Api).await;
    let bytes = content(2 << 20, 9);
    let file = UploadFile::reader("disk.img", bytes.len() as u64, std::io::Cursor::new(bytes.clone()));
    let item =
        client.upload_new_item(&library, "item", &cl_sdk::ItemType::File, vec![file], UploadOptions::default()).await;
    let item = item.unwrap().item_id;
    let dest = tempfile::tempdir().unwrap();

    sim.faults().drop_next_transfer_after(1 << 20);
    let error = client.download_item(&item, dest.path(), DownloadOptions::default().retries(0)).await.unwrap_err();
    let Some(cl_sdk::Detail::Resumable { folder, bytes: kept }) = error.detail().cloned() else {
        panic!("an interruption keeps resume state and says so: {error:?}")
    };
    assert!(kept > 0 && folder.starts_with(dest.path()), "{kept} in {}", folder.display());

    // The kept bytes go bad on disk: the resumed file fails its checksum, is fetched again whole.
    let partial = std::fs::read_dir(&folder)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|x| x == "partial"))
        .unwrap();
    let mut spoiled = std::fs::read(&partial).unwrap();
    spoiled[10] ^= 0xff;
    std::fs::write(&partial, spoiled).unwrap();
    let report = client.download_item(&item, dest.path(), DownloadOptions::default()).await.unwrap();
    assert_eq!(report.files[0].resumed_from, 0, "fetched from byte 0 the second time");
    assert_eq!(std::fs::read(dest.path().join("disk.img")).unwrap(), bytes);
    assert_eq!(names_in(dest.path()), ["disk.img"], "nothing left to resume");
}

/// A server's DONE is not proof either: an item that reports a file at another size than was
/// sent fails the upload, naming the file (a created item is removed again).
#[tokio::test]
async fn an_item_that_reports_other_sizes_after_complete_fails_the_upload() {
    let sim = sim_with(|_| {}).await;
    let (client, library) = connect(&sim, Dialect::Api).await;
    sim.faults().understate_item_sizes(1);
    let file = UploadFile::reader("disk.img", 5000, std::io::Cursor::new(content(5000, 4)));
    let error =
        client.upload_new_item(&library, "short", &cl_sdk::ItemType::File, vec![file], UploadOptions::default()).await;
    let error = error.unwrap_err();
    sim.faults().clear();
    assert_eq!(error.kind(), ErrorKind::Verification, "{error}");
    assert_eq!(error.detail(), Some(&cl_sdk::Detail::File("disk.img".into())));
    assert!(error.to_string().contains("4999") && error.to_string().contains("5000"), "{error}");
    assert!(client.find_items(&library, "short").await.unwrap().is_empty(), "the created item was removed");

    // A file the item does not list at all after DONE is as wrong as one at another size.
    sim.faults().hide_item_files(Some("disk-1.img"));
    let files = vec![
        UploadFile::reader("disk-0.img", 10, std::io::Cursor::new(content(10, 5))),
        UploadFile::reader("disk-1.img", 20, std::io::Cursor::new(content(20, 6))),
    ];
    let error = client
        .upload_new_item(&library, "lost", &cl_sdk::ItemType::File, files, UploadOptions::default())
        .await
        .unwrap_err();
    sim.faults().clear();
    assert_eq!(error.kind(), ErrorKind::Verification, "{error}");
    assert_eq!(error.detail(), Some(&cl_sdk::Detail::File("disk-1.img".into())));
    assert!(error.to_string().contains("does not list it"), "{error}");
    assert!(client.find_items(&library, "lost").await.unwrap().is_empty(), "the created item was removed");
}

/// A manifest's digests are declared as they are and checked while the files are sent: one read
/// per file (a single-use reader proves it), the declared checksum the manifest's; a file that
/// does not match fails before its last chunk leaves, names itself, and leaves the item as it
/// was (a created item removed).
#[tokio::test]
async fn manifest_digests_are_declared_and_checked_in_one_pass() {
    for dialect in BOTH {
        let sim = sim_with(|_| {}).await;
        let (client, library) = connect(&sim, dialect).await;
        let src = tempfile::tempdir().unwrap();
        let disk = content(400_000, 3);
        let ovf = br#"<Envelope><References><File ovf:href="disk-0.vmdk"/></References></Envelope>"#.to_vec();
        let manifest = |disk_sum: &str| {
            format!("SHA256(app.ovf)= {}\nSHA256(disk-0.vmdk)= {disk_sum}\n", hex_sha256(&ovf)).into_bytes()
        };
        let mf = write(src.path(), "app.mf", &manifest(&hex_sha256(&disk)));
        let files = vec![
            UploadFile::path(&mf),
            UploadFile::path(write(src.path(), "app.ovf", &ovf)),
            // Readable once: a hashing pass before the send would leave nothing to send.
            UploadFile::reader("disk-0.vmdk", disk.len() as u64, std::io::Cursor::new(disk.clone())),
        ];
        let report = client
            .upload_new_item(&library, "app", &cl_sdk::ItemType::Ovf, files, UploadOptions::default())
            .await
            .unwrap();
        let sent = report.files.iter().find(|f| f.name == "disk-0.vmdk").unwrap();
        assert_eq!(sent.checksum.as_ref().map(|c| c.hex.clone()), Some(hex_sha256(&disk)), "the manifest's");
        let dest = tempfile::tempdir().unwrap();
        client.download_item(&report.item_id, dest.path(), DownloadOptions::default()).await.unwrap();
        assert_eq!(std::fs::read(dest.path().join("disk-0.vmdk")).unwrap(), disk);

        let wrong = "0".repeat(64);
        let mf = write(src.path(), "app.mf", &manifest(&wrong));
        let disk_path = write(src.path(), "disk-0.vmdk", &disk);
        let files =
            vec![UploadFile::path(&mf), UploadFile::path(src.path().join("app.ovf")), UploadFile::path(&disk_path)];
        let error = client
            .upload_new_item(&library, "bad", &cl_sdk::ItemType::Ovf, files, UploadOptions::default())
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Verification, "{error}");
        assert_eq!(error.detail(), Some(&cl_sdk::Detail::File("disk-0.vmdk".into())), "{error}");
        assert!(error.to_string().contains("the manifest says") && error.to_string().contains(&wrong), "{error}");
        assert!(client.find_items(&library, "bad").await.unwrap().is_empty(), "the created item was removed");
        assert!(client.sessions::<cl_sdk::Update>(None).await.unwrap().is_empty());
    }
}

/// Files without a known checksum are hashed one after another beside the sending: while the
/// first file's upload is held up, the second is already being hashed (even one file at a time).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_the_next_file_overlaps_sending_this_one() {
    let sim = sim_with(|_| {}).await;
    let (client, library) = connect(&sim, Dialect::Api).await;
    let src = tempfile::tempdir().unwrap();
    let first = write(src.path(), "a.bin", &content(200_000, 1));
    let second = write(src.path(), "b.bin", &content(32 << 20, 2));
    sim.faults().target_transfers(Some("a.bin"));
    sim.faults().stall_next_transfer(100_000, Duration::from_secs(3));
    let control = TransferControl::new();
    let mut progress = control.progress();
    let watcher = tokio::spawn(async move {
        let mut overlapped = false;
        while progress.changed().await.is_ok() {
            let files = progress.borrow().files.clone();
            if let [a, b] = files.as_slice() {
                overlapped |= a.state == FileState::Transferring && b.state == FileState::Hashing;
            }
        }
        overlapped
    });
    let options = UploadOptions::default().concurrency(1).control(control);
    let files = vec![UploadFile::path(&first), UploadFile::path(&second)];
    let report = client.upload_new_item(&library, "two", &cl_sdk::ItemType::File, files, options).await.unwrap();
    assert!(report.files.iter().all(|f| f.checksum.is_some()), "both declared with their SHA-256");
    assert!(watcher.await.unwrap(), "b.bin was hashed while a.bin was being sent");
}
