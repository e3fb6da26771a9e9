//! Copies between two simulators (one over http, one over https with its own CA) and within one:
//! items and whole libraries, byte-identical at the far end, nothing sent when up to date, and a
//! run interrupted mid-copy finished by the same copy run again. (Faults are in the fault matrix.)

use std::time::Duration;

use cl_sdk::transfer::{CopyOptions, CopyOutcome, DownloadOptions, UploadFile, UploadOptions};
use cl_sdk::{Client, ErrorKind};
use cl_sim::{CallFault, SimConfig, Simulator};

async fn server(https: bool) -> (Simulator, Client, cl_sdk::LibraryId) {
    let mut config = SimConfig::default();
    if !https {
        config = config.plain_http();
    }
    config.service.prepare_delay = Duration::from_millis(20);
    let sim = Simulator::start(config).await.unwrap();
    let client = cl_testkit::client(&sim).await;
    let library =
        client.create_local_library("templates", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    (sim, client, library)
}

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(29).wrapping_add(seed).wrapping_add((i >> 11) as u8)).collect()
}

/// An OVF item: a descriptor and two disks.
async fn ovf_item(client: &Client, library: &cl_sdk::LibraryId, name: &str, seed: u8) -> cl_sdk::ItemId {
    let ovf = format!(
        "<?xml version=\"1.0\"?><Envelope><References><File ovf:href=\"{name}-0.vmdk\"/><File ovf:href=\"{name}-1.vmdk\"/>\
         </References></Envelope>"
    );
    let files = vec![
        UploadFile::reader(format!("{name}.ovf"), ovf.len() as u64, std::io::Cursor::new(ovf.into_bytes())),
        UploadFile::reader(format!("{name}-0.vmdk"), 700_001, std::io::Cursor::new(content(700_001, seed))),
        UploadFile::reader(format!("{name}-1.vmdk"), 3, std::io::Cursor::new(content(3, seed + 1))),
    ];
    client
        .upload_new_item(library, name, &cl_sdk::ItemType::Ovf, files, UploadOptions::default())
        .await
        .unwrap()
        .item_id
}

/// Every file of an item, downloaded: (name, bytes), sorted.
async fn files_of(client: &Client, item: &cl_sdk::ItemId) -> Vec<(String, Vec<u8>)> {
    let dest = tempfile::tempdir().unwrap();
    let report = client.download_item(item, dest.path(), DownloadOptions::default()).await.unwrap();
    let mut files: Vec<(String, Vec<u8>)> =
        report.files.iter().map(|f| (f.name.clone(), std::fs::read(&f.path).unwrap())).collect();
    files.sort();
    files
}

#[tokio::test]
async fn an_item_copies_between_servers_and_a_rerun_sends_nothing() {
    let (_a, from, from_library) = server(false).await;
    let (b, to, to_library) = server(true).await;
    let item = ovf_item(&from, &from_library, "photon", 5).await;

    let missing = from.copy_item(&item, &to, &to_library, CopyOptions::default()).await.unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound, "no --create, no item: {missing}");
    assert_eq!(missing.detail(), Some(&cl_sdk::Detail::MissingItem("photon".into())));

    let report = from.copy_item(&item, &to, &to_library, CopyOptions::default().create(true)).await.unwrap();
    assert_eq!(report.outcome, CopyOutcome::Copied);
    assert_eq!(report.name, "photon");
    assert_eq!(report.files.len(), 3);
    assert_eq!(report.files[0].name, "photon.ovf", "the descriptor goes first");
    assert!(report.files.iter().all(|f| f.checksum.is_some()), "the source's checksums were declared");
    assert_eq!(files_of(&to, &report.item_id).await, files_of(&from, &item).await);
    assert!(to.sessions::<cl_sdk::Update>(None).await.unwrap().is_empty());
    assert!(from.sessions::<cl_sdk::Download>(None).await.unwrap().is_empty());

    // Up to date: no update session is even asked for, and the content version stays.
    let version = to.item(&report.item_id).await.unwrap().content_version;
    b.faults().fail_calls("update_session_create", 1, CallFault::Status(400));
    let again = from.copy_item(&item, &to, &to_library, CopyOptions::default()).await.unwrap();
    assert_eq!(again.outcome, CopyOutcome::UpToDate);
    assert_eq!((again.item_id.as_str(), again.bytes()), (report.item_id.as_str(), 0));
    assert!(b.faults().call_faults_hit().is_empty(), "an up-to-date copy created an update session");
    assert_eq!(to.item(&report.item_id).await.unwrap().content_version, version);
    b.faults().clear();
}

#[tokio::test]
async fn a_changed_source_is_copied_again_and_replace_makes_the_file_sets_equal() {
    let (_a, from, from_library) = server(true).await;
    let (_b, to, to_library) = server(false).await;
    let item = ovf_item(&from, &from_library, "app", 1).await;
    let copied = from.copy_item(&item, &to, &to_library, CopyOptions::default().create(true)).await.unwrap();

    // The destination gains a file of its own; the source's disk changes.
    let extra = UploadFile::reader("notes.txt", 2, std::io::Cursor::new(b"hi".to_vec()));
    to.upload_item(&copied.item_id, vec![extra], UploadOptions::default()).await.unwrap();
    let disk = UploadFile::reader("app-1.vmdk", 4, std::io::Cursor::new(b"new!".to_vec()));
    from.upload_item(&item, vec![disk], UploadOptions::default()).await.unwrap();

    let again = from.copy_item(&item, &to, &to_library, CopyOptions::default()).await.unwrap();
    assert_eq!(again.outcome, CopyOutcome::Copied);
    let names: Vec<String> = files_of(&to, &copied.item_id).await.into_iter().map(|(n, _)| n).collect();
    assert!(names.contains(&"notes.txt".to_owned()), "kept without replace: {names:?}");
    let replaced = from.copy_item(&item, &to, &to_library, CopyOptions::default().replace(true)).await.unwrap();
    assert_eq!(replaced.outcome, CopyOutcome::Copied, "the file sets differed");
    assert_eq!(files_of(&to, &copied.item_id).await, files_of(&from, &item).await);
    let last = from.copy_item(&item, &to, &to_library, CopyOptions::default().replace(true)).await.unwrap();
    assert_eq!(last.outcome, CopyOutcome::UpToDate);
}

#[tokio::test]
async fn a_library_copies_item_by_item_and_a_rerun_moves_only_what_changed() {
    let (_a, from, from_library) = server(false).await;
    let (_b, to, to_library) = server(true).await;
    let first = ovf_item(&from, &from_library, "one", 1).await;
    ovf_item(&from, &from_library, "two", 2).await;
    ovf_item(&from, &from_library, "three", 3).await;
    let options = || CopyOptions::default().create(true).items_at_once(2);

    let copies = from.copy_library(&from_library, &to, &to_library, options()).await.unwrap();
    assert_eq!(copies.len(), 3);
    assert!(copies.iter().all(|c| matches!(&c.result, Ok(r) if r.outcome == CopyOutcome::Copied)), "{copies:?}");
    assert_eq!(to.item_ids(&to_library).await.unwrap().len(), 3);

    let disk = UploadFile::reader("one-1.vmdk", 5, std::io::Cursor::new(b"other".to_vec()));
    from.upload_item(&first, vec![disk], UploadOptions::default()).await.unwrap();
    let rerun = from.copy_library(&from_library, &to, &to_library, options()).await.unwrap();
    let outcomes: Vec<(String, CopyOutcome)> =
        rerun.iter().map(|c| (c.name.clone(), c.result.as_ref().unwrap().outcome)).collect();
    assert_eq!(outcomes.iter().filter(|(_, o)| *o == CopyOutcome::Copied).count(), 1, "{outcomes:?}");
    assert!(outcomes.contains(&("one".to_owned(), CopyOutcome::Copied)), "{outcomes:?}");
}

#[tokio::test]
async fn a_copy_within_one_server_and_onto_itself() {
    let (_a, client, library) = server(false).await;
    let item = ovf_item(&client, &library, "base", 9).await;
    let other = client.create_local_library("other", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let copy = client.copy_item(&item, &client, &other, CopyOptions::default().create(true)).await.unwrap();
    assert_eq!(files_of(&client, &copy.item_id).await, files_of(&client, &item).await);
    let renamed = client.copy_item(&item, &client, &library, CopyOptions::default().name("base-2").create(true)).await;
    assert_eq!(renamed.unwrap().name, "base-2");
    let itself = client.copy_item(&item, &client, &library, CopyOptions::default()).await.unwrap_err();
    assert_eq!(itself.kind(), ErrorKind::InvalidInput, "{itself}");
}

#[tokio::test]
async fn a_session_an_interrupted_copy_left_active_is_ended_by_the_rerun() {
    let (a, from, from_library) = server(false).await;
    let (_b, to, to_library) = server(false).await;
    let item = ovf_item(&from, &from_library, "big", 4).await;
    // The first run dies mid-transfer (dropped like a killed process): its update session stays ACTIVE.
    a.faults().stall_next_transfer(1, Duration::from_secs(30));
    let first = from.copy_item(&item, &to, &to_library, CopyOptions::default().create(true));
    assert!(tokio::time::timeout(Duration::from_millis(1500), first).await.is_err(), "the stall holds it");
    a.faults().clear();
    let left = to.sessions::<cl_sdk::Update>(None).await.unwrap();
    assert_eq!(left.len(), 1, "the interrupted run left its session");
    let busy = to.item_ids(&to_library).await.unwrap();

    let report = from.copy_item(&item, &to, &to_library, CopyOptions::default().create(true)).await.unwrap();
    assert_eq!(report.outcome, CopyOutcome::Copied);
    assert_eq!(vec![report.item_id.clone()], busy, "into the item the first run made");
    assert_eq!(files_of(&to, &report.item_id).await, files_of(&from, &item).await);
    assert!(to.sessions::<cl_sdk::Update>(None).await.unwrap().is_empty(), "the stale session was ended");
}

/// A file the destination drops from the item after DONE fails the copy, naming it; the item the
/// copy created is removed again.
#[tokio::test]
async fn a_file_the_destination_loses_after_done_fails_the_copy() {
    let (_a, from, from_library) = server(false).await;
    let (b, to, to_library) = server(false).await;
    let item = ovf_item(&from, &from_library, "lost", 9).await;
    b.faults().hide_item_files(Some("lost-1.vmdk"));
    let error = from.copy_item(&item, &to, &to_library, CopyOptions::default().create(true)).await.unwrap_err();
    b.faults().clear();
    assert_eq!(error.kind(), ErrorKind::Verification, "{error}");
    assert_eq!(error.detail(), Some(&cl_sdk::Detail::File("lost-1.vmdk".into())), "{error}");
    assert!(to.find_items(&to_library, "lost").await.unwrap().is_empty(), "the created item was removed");
}
