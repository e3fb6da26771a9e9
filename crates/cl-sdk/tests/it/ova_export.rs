//! An OVF template item exported as one OVA: the descriptor first, a manifest from the server's
//! checksums second, the disks in the descriptor's order; verified while it streams, re-fetched
//! when a member's bytes are wrong, never left half-written under its name; and it re-imports.

use std::time::Duration;

use cl_sdk::transfer::{DownloadOptions, OvaOptions, OvaTarget, UploadFile, UploadOptions};
use cl_sdk::{Client, ErrorKind};
use cl_sim::{CallFault, SimConfig, Simulator};
use sha1::Digest;

const DESCRIPTOR: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References>
    <File ovf:href="web-disk2.vmdk" ovf:id="file2"/>
    <File ovf:href="web-disk1.vmdk" ovf:id="file1"/>
  </References>
  <DiskSection><Disk ovf:diskId="d1" ovf:fileRef="file1"/><Disk ovf:diskId="d2" ovf:fileRef="file2"/></DiskSection>
</Envelope>
"#;

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(37).wrapping_add(seed).wrapping_add((i >> 10) as u8)).collect()
}

async fn bed() -> (Simulator, Client, cl_sdk::LibraryId, cl_sdk::ItemId, Vec<(&'static str, Vec<u8>)>) {
    let mut config = SimConfig::default().plain_http();
    config.service.prepare_delay = Duration::from_millis(10);
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::builder(sim.url())
        .credentials(sim.username(), sim.password())
        .retry(cl_sdk::RetryPolicy::default().backoff(Duration::from_millis(5), Duration::from_millis(50)))
        .connect()
        .await
        .unwrap();
    let library = client.create_local_library("lib", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let files = vec![
        ("web.ovf", DESCRIPTOR.as_bytes().to_vec()),
        ("web-disk1.vmdk", content(700_123, 1)),
        ("web-disk2.vmdk", content(1000, 2)),
        ("notes.txt", b"extra".to_vec()),
    ];
    let upload = files
        .iter()
        .map(|(name, bytes)| UploadFile::reader(*name, bytes.len() as u64, std::io::Cursor::new(bytes.clone())))
        .collect();
    let item = client
        .upload_new_item(&library, "web", &cl_sdk::ItemType::Ovf, upload, UploadOptions::default())
        .await
        .unwrap()
        .item_id;
    (sim, client, library, item, files)
}

/// The members of an OVA: (name, bytes), in archive order.
fn members(ova: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut archive = tar::Archive::new(ova);
    archive
        .entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let mut bytes = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut bytes).unwrap();
            (e.path().unwrap().to_string_lossy().into_owned(), bytes)
        })
        .collect()
}

#[tokio::test]
async fn an_item_becomes_one_ova_in_ovf_order_with_a_manifest_and_re_imports() {
    let (_sim, client, library, item, files) = bed().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.ova");
    let report = client.export_ova(&item, OvaTarget::path(&path), OvaOptions::default()).await.unwrap();
    let ova = std::fs::read(&path).unwrap();
    assert_eq!(report.bytes, ova.len() as u64);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "no partial left beside it");

    let got = members(&ova);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["web.ovf", "web.mf", "web-disk2.vmdk", "web-disk1.vmdk", "notes.txt"]);
    for (name, bytes) in &files {
        assert_eq!(&got.iter().find(|(n, _)| n == name).unwrap().1, bytes, "{name}");
    }
    let manifest = String::from_utf8(got[1].1.clone()).unwrap();
    for (name, bytes) in &files {
        let line = format!("SHA1({name})= {}", hex::encode(sha1::Sha1::digest(bytes)));
        assert!(manifest.lines().any(|l| l == line), "{line} in\n{manifest}");
    }

    // The same bytes into any writer.
    let mut streamed = Vec::new();
    client.export_ova(&item, OvaTarget::writer(&mut streamed), OvaOptions::default()).await.unwrap();
    assert_eq!(members(&streamed), got);

    // It re-imports: the same files (the manifest is consumed by the service).
    let again = client
        .upload_new_item(
            &library,
            "web-again",
            &cl_sdk::ItemType::Ovf,
            vec![UploadFile::path(&path)],
            UploadOptions::default(),
        )
        .await
        .unwrap();
    let dest = tempfile::tempdir().unwrap();
    client.download_item(&again.item_id, dest.path(), DownloadOptions::default()).await.unwrap();
    for (name, bytes) in &files {
        assert_eq!(&std::fs::read(dest.path().join(name)).unwrap(), bytes, "{name}");
    }
    assert!(client.sessions::<cl_sdk::Download>(None).await.unwrap().is_empty(), "sessions deleted");
}

#[tokio::test]
async fn wrong_bytes_are_fetched_again_and_breaks_resume() {
    let (sim, client, _library, item, files) = bed().await;
    let dir = tempfile::tempdir().unwrap();
    // A flipped byte in the big disk: fetched again.
    sim.faults().target_transfers(Some("web-disk1.vmdk"));
    sim.faults().corrupt_next_download_at(500_000);
    let path = dir.path().join("a.ova");
    client.export_ova(&item, OvaTarget::path(&path), OvaOptions::default()).await.unwrap();
    let disk = members(&std::fs::read(&path).unwrap()).into_iter().find(|(n, _)| n == "web-disk1.vmdk").unwrap();
    assert_eq!(disk.1, files[1].1);

    assert!(client.sessions::<cl_sdk::Download>(None).await.unwrap().is_empty());
    // A cut connection resumes with Range inside the member, even into a stream.
    sim.faults().drop_next_transfer_after(300_000);
    let mut streamed = Vec::new();
    client.export_ova(&item, OvaTarget::writer(&mut streamed), OvaOptions::default()).await.unwrap();
    let disk = members(&streamed).into_iter().find(|(n, _)| n == "web-disk1.vmdk").unwrap();
    assert_eq!(disk.1, files[1].1);

    // Wrong bytes into a stream cannot be taken back: an error that says the output is incomplete.
    sim.faults().corrupt_next_download_at(500_000);
    let mut streamed = Vec::new();
    let error = client.export_ova(&item, OvaTarget::writer(&mut streamed), OvaOptions::default()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Verification, "{error}");
    assert!(error.to_string().contains("incomplete"), "{error}");
}

#[tokio::test]
async fn a_failed_export_leaves_nothing_and_only_ovf_templates_export() {
    let (sim, client, library, item, _files) = bed().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("web.ova");
    sim.faults().fail_calls("download_session_file_prepare", 50, CallFault::Status(400));
    let error = client.export_ova(&item, OvaTarget::path(&path), OvaOptions::default()).await.unwrap_err();
    sim.faults().clear();
    assert!(error.status() == Some(400) || error.kind() == ErrorKind::Http, "{error}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing at the path, no partial");
    assert!(client.sessions::<cl_sdk::Download>(None).await.unwrap().is_empty());

    // An existing file is refused unless overwriting.
    std::fs::write(&path, b"mine").unwrap();
    let exists = client.export_ova(&item, OvaTarget::path(&path), OvaOptions::default()).await.unwrap_err();
    assert!(matches!(exists.detail(), Some(cl_sdk::Detail::TargetExists(_))), "{exists}");
    assert_eq!(std::fs::read(&path).unwrap(), b"mine");
    client
        .export_ova(&item, OvaTarget::path(&path), OvaOptions::default().overwrite(cl_sdk::transfer::Overwrite::Always))
        .await
        .unwrap();

    let iso = UploadFile::reader("x.iso", 3, std::io::Cursor::new(b"iso".to_vec()));
    let iso = client
        .upload_new_item(&library, "iso", &cl_sdk::ItemType::Iso, vec![iso], UploadOptions::default())
        .await
        .unwrap();
    let refused =
        client.export_ova(&iso.item_id, OvaTarget::path(dir.path().join("x.ova")), OvaOptions::default()).await;
    let refused = refused.unwrap_err();
    assert_eq!(refused.kind(), ErrorKind::InvalidInput, "{refused}");
    assert!(refused.to_string().contains("not an OVF template"), "{refused}");
}

/// Over https (the simulator's own CA), with several disks fetched ahead of the writer.
#[tokio::test]
async fn an_ova_from_an_https_server() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let client = cl_testkit::client(&sim).await;
    let library = client.create_local_library("lib", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let disks: Vec<(String, Vec<u8>)> =
        (0..4).map(|i| (format!("d{i}.vmdk"), content(300_000 + i * 7, i as u8))).collect();
    let ovf = "<Envelope xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\"><References>\
               <File ovf:href=\"d3.vmdk\"/><File ovf:href=\"d0.vmdk\"/></References></Envelope>";
    let mut files = vec![UploadFile::reader("t.ovf", ovf.len() as u64, std::io::Cursor::new(ovf.as_bytes().to_vec()))];
    files.extend(
        disks.iter().map(|(n, b)| UploadFile::reader(n.as_str(), b.len() as u64, std::io::Cursor::new(b.clone()))),
    );
    let item = client
        .upload_new_item(&library, "t", &cl_sdk::ItemType::Ovf, files, UploadOptions::default())
        .await
        .unwrap()
        .item_id;
    let mut out = Vec::new();
    client.export_ova(&item, OvaTarget::writer(&mut out), OvaOptions::default().concurrency(2)).await.unwrap();
    let got = members(&out);
    let names: Vec<&str> = got.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(&names[..4], ["t.ovf", "t.mf", "d3.vmdk", "d0.vmdk"]);
    for (name, bytes) in &disks {
        assert_eq!(&got.iter().find(|(n, _)| n == name).unwrap().1, bytes, "{name}");
    }
}

/// The export's partial is the download's staging: a link planted where a partial could be is
/// never written through, and what lands under the name is a plain file.
#[cfg(unix)]
#[tokio::test]
async fn a_planted_link_beside_the_target_is_never_written_through() {
    let (_sim, client, _library, item, _files) = bed().await;
    let dir = tempfile::tempdir().unwrap();
    let victim = dir.path().join("victim.txt");
    std::fs::write(&victim, b"keep me").unwrap();
    // Where earlier versions put the partial.
    std::os::unix::fs::symlink(&victim, dir.path().join(".web.ova.cl-partial")).unwrap();
    let path = dir.path().join("web.ova");
    client.export_ova(&item, OvaTarget::path(&path), OvaOptions::default()).await.unwrap();
    assert!(std::fs::read(&victim).unwrap() == b"keep me", "the victim was written through the link");
    assert!(std::fs::symlink_metadata(&path).unwrap().file_type().is_file(), "the OVA is a plain file");
    assert_eq!(members(&std::fs::read(&path).unwrap())[0].0, "web.ovf");
}
