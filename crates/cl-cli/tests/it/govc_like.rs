//! `clx` as a govc user expects it: libraries and items by name, id or path, ambiguity listed,
//! lifecycle commands, `--replace`, `--only`, `--to -`, tables with headers, completions, local
//! inputs checked before the server is touched, and a demo that tidies up.

use crate::common;

use std::process::Output;

use common::{clx, sim_with};
use serde_json::Value;

fn ok(output: Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout).unwrap()
}

fn json(output: Output) -> Value {
    serde_json::from_str(&ok(output)).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn names_ids_and_paths_address_the_same_item() {
    let (sim, client) = sim_with(&[("a.bin", vec![1u8; 3000])]).await;
    let library = client.find_library("lib").await.unwrap();
    let item = client.find_item(&library, "item").await.unwrap();
    for spec in ["lib/item", "/lib/item", &format!("{library}/item"), &format!("lib/{item}"), item.as_str()] {
        let info = json(clx(&sim).args(["--json", "item", "info", spec]).output().unwrap());
        assert_eq!(info["id"], item.as_str(), "{spec}");
    }
    let listed = json(clx(&sim).args(["--json", "item", "ls", library.as_str()]).output().unwrap());
    assert_eq!(listed[0]["id"], item.as_str());

    // Two libraries of one name: the error lists both with their ids, and the id works.
    let twin = client.create_local_library("lib", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let ambiguous = clx(&sim).args(["item", "ls", "lib"]).output().unwrap();
    assert_eq!(ambiguous.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&ambiguous.stderr);
    assert!(stderr.contains(library.as_str()) && stderr.contains(twin.as_str()), "{stderr}");
    ok(clx(&sim).args(["item", "ls", twin.as_str()]).output().unwrap());

    let missing = clx(&sim).args(["item", "info", "lib-nope/item"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("clx library ls"));
}

#[tokio::test(flavor = "multi_thread")]
async fn tables_have_headers_and_human_sizes() {
    let (sim, _client) = sim_with(&[("a.bin", vec![1u8; 3 << 20])]).await;
    let libraries = ok(clx(&sim).args(["library", "ls"]).output().unwrap());
    assert!(libraries.lines().next().unwrap().starts_with("NAME"), "{libraries}");
    let items = ok(clx(&sim).args(["item", "ls", "lib"]).output().unwrap());
    assert!(items.starts_with("NAME") && items.contains("3.0 MiB"), "{items}");
    let info = ok(clx(&sim).args(["item", "info", "lib/item"]).output().unwrap());
    assert!(info.contains("FILE") && info.contains("a.bin") && info.contains("SHA1:"), "{info}");
    let sessions = ok(clx(&sim).args(["session", "ls"]).output().unwrap());
    assert!(sessions.is_empty(), "{sessions}");
}

#[tokio::test(flavor = "multi_thread")]
async fn lifecycle_replace_only_and_stdout() {
    let (sim, client) = sim_with(&[("old.bin", vec![9u8; 100]), ("keep.txt", b"k".to_vec())]).await;
    let dir = tempfile::tempdir().unwrap();
    let new = dir.path().join("new.bin");
    std::fs::write(&new, vec![7u8; 5000]).unwrap();

    // --replace: the item holds exactly the uploaded files afterwards.
    ok(clx(&sim).args(["upload", "--library", "lib", "--item", "item", "--replace"]).arg(&new).output().unwrap());
    let info = json(clx(&sim).args(["--json", "item", "info", "lib/item"]).output().unwrap());
    let names: Vec<&str> = info["files"].as_array().unwrap().iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["new.bin"]);
    // Without it, files add up.
    let other = dir.path().join("other.txt");
    std::fs::write(&other, b"other").unwrap();
    ok(clx(&sim).args(["upload", "--library", "lib", "--item", "item"]).arg(&other).output().unwrap());

    // --only and --to -: one verified file on stdout, nothing else there.
    let out = clx(&sim).args(["download", "lib/item", "--only", "new.bin", "--to", "-"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(out.stdout, vec![7u8; 5000]);
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    let onto_file = clx(&sim).args(["download", "lib/item", "--to"]).arg(&file).output().unwrap();
    assert_eq!(onto_file.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&onto_file.stderr);
    assert!(stderr.contains("is a file, not a folder") && !stderr.contains("os error"), "{stderr}");
    let two = clx(&sim).args(["download", "lib/item", "--to", "-"]).output().unwrap();
    assert_eq!(two.status.code(), Some(2), "two files cannot go to stdout");
    let dest = dir.path().join("only");
    ok(clx(&sim).args(["download", "lib/item", "--only", "other.txt", "--to"]).arg(&dest).output().unwrap());
    assert_eq!(std::fs::read_dir(&dest).unwrap().count(), 1);

    // rm: the item, then the library (which needs --force while it holds items).
    let library = client.find_library("lib").await.unwrap();
    let second = client.create_item(&library, "second", &cl_sdk::ItemType::File).await.unwrap();
    let refused = clx(&sim).args(["library", "rm", "lib"]).output().unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    ok(clx(&sim).args(["item", "rm", "lib/item"]).output().unwrap());
    assert_eq!(client.item_ids(&library).await.unwrap(), [second]);
    ok(clx(&sim).args(["library", "rm", "lib", "--force"]).output().unwrap());
    assert!(client.library_ids().await.unwrap().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn local_inputs_are_checked_before_the_server_is_touched() {
    let (sim, client) = sim_with(&[("a.bin", vec![1u8; 10])]).await;
    let library = client.find_library("lib").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let missing = clx(&sim)
        .args(["upload", "--library", "lib", "--item", "fresh", "--create"])
        .arg(dir.path().join("nope.iso"))
        .output()
        .unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("nope.iso"));
    let folder = dir.path().join("ovf");
    std::fs::create_dir_all(folder.join("nested")).unwrap();
    std::fs::write(folder.join("a.ovf"), b"<Envelope/>").unwrap();
    let nested =
        clx(&sim).args(["upload", "--library", "lib", "--item", "fresh", "--create"]).arg(&folder).output().unwrap();
    assert_eq!(nested.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nested.stderr).contains("nested"));
    assert_eq!(client.item_ids(&library).await.unwrap().len(), 1, "no item was created");
}

#[tokio::test(flavor = "multi_thread")]
async fn demo_tidies_up_unless_kept() {
    let (sim, client) = sim_with(&[("a.bin", vec![1u8; 10])]).await;
    ok(clx(&sim).args(["demo", "--disk-mib", "1"]).output().unwrap());
    assert!(client.find_library("clx-demo").await.is_err(), "the demo library is gone");
    ok(clx(&sim).args(["demo", "--disk-mib", "1", "--keep"]).output().unwrap());
    let demo = client.find_library("clx-demo").await.unwrap();
    assert_eq!(client.item_ids(&demo).await.unwrap().len(), 1);
}

#[test]
fn completions_for_every_shell() {
    for shell in ["bash", "zsh", "fish", "powershell"] {
        let output =
            std::process::Command::new(env!("CARGO_BIN_EXE_clx")).args(["completions", shell]).output().unwrap();
        let script = ok(output);
        assert!(script.contains("clx") && script.contains("download"), "{shell}");
    }
    let help = std::process::Command::new(env!("CARGO_BIN_EXE_clx")).arg("--help").output().unwrap();
    assert!(ok(help).contains("CLX_LOG"));
}

#[tokio::test(flavor = "multi_thread")]
async fn pull_from_a_url_with_its_checksum() {
    use sha2::Digest;
    let (sim, client) = sim_with(&[("a.bin", vec![1u8; 10])]).await;
    let bytes = vec![42u8; 70_000];
    let sum = hex::encode(sha2::Sha256::digest(&bytes));
    let served = bytes.clone();
    let app = axum::Router::new().route("/files/disk.iso", axum::routing::get(move || async move { served }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let source = format!("http://{}/files/disk.iso", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let bad = clx(&sim)
        .args(["upload", "--library", "lib", "--item", "pulled", "--create", "--pull", &source])
        .args(["--source-checksum", &format!("sha256:{}", "0".repeat(64))])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(4), "{}", String::from_utf8_lossy(&bad.stderr));
    let library = client.find_library("lib").await.unwrap();
    assert!(client.find_item(&library, "pulled").await.is_err(), "the failed pull left no item");

    let good = clx(&sim)
        .args(["--json", "upload", "--library", "lib", "--item", "pulled", "--create", "--pull", &source])
        .args(["--source-checksum", &format!("SHA256:{sum}")])
        .output()
        .unwrap();
    let report: Value = serde_json::from_str(&ok(good)).unwrap();
    assert_eq!(report["files"][0]["name"], "disk.iso");
    let out = clx(&sim).args(["download", "lib/pulled", "--to", "-"]).output().unwrap();
    assert_eq!(out.stdout, bytes);

    let usage =
        clx(&sim).args(["upload", "--library", "lib", "--item", "x", "--pull", "ftp://h/x.iso"]).output().unwrap();
    assert_eq!(usage.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn signed_content_needs_its_warnings_accepted() {
    let (sim, _client) = sim_with(&[("a.bin", vec![1u8; 10])]).await;
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("app");
    std::fs::create_dir(&set).unwrap();
    // A signed set: the certificate signs the manifest (the preflight refuses one without).
    use sha2::Digest;
    let ovf = br#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:href="disk.img"/></References></Envelope>"#;
    std::fs::write(set.join("app.ovf"), ovf).unwrap();
    std::fs::write(set.join("disk.img"), vec![3u8; 4096]).unwrap();
    let sum = |b: &[u8]| hex::encode(sha2::Sha256::digest(b));
    let manifest = format!("SHA256(app.ovf)= {}\nSHA256(disk.img)= {}\n", sum(ovf), sum(&[3u8; 4096]));
    std::fs::write(set.join("app.mf"), manifest).unwrap();
    std::fs::write(set.join("app.cert"), b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n").unwrap();
    // The certificate is a placeholder the simulator never parses (it reports every signed
    // package as self-signed); the preflight, which does parse it, would refuse it.
    let upload = |extra: &[&str]| {
        clx(&sim)
            .args(["upload", "--library", "lib", "--item", "signed", "--create", "--no-preflight"])
            .args(extra)
            .arg(&set)
            .output()
            .unwrap()
    };
    let refused = upload(&[]);
    assert_eq!(refused.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(stderr.contains("SELF_SIGNED_CERTIFICATE") && stderr.contains("--ignore-warning"), "{stderr}");
    let accepted = ok(upload(&["--ignore-warning", "self-signed-certificate"]));
    assert!(accepted.contains("signed content") && accepted.contains("SELF_SIGNED_CERTIFICATE"), "{accepted}");
    let bad = upload(&["--ignore-warning", "sketchy"]);
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_manifest_that_does_not_match_its_files_fails_and_leaves_nothing() {
    use sha2::Digest;
    let (sim, client) = sim_with(&[("a.bin", vec![1u8; 10])]).await;
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("app");
    std::fs::create_dir(&set).unwrap();
    let ovf = br#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:href="disk.img"/></References></Envelope>"#;
    std::fs::write(set.join("app.ovf"), ovf).unwrap();
    std::fs::write(set.join("disk.img"), vec![3u8; 4096]).unwrap();
    let wrong = hex::encode(sha2::Sha256::digest(b"something else"));
    let ovf_sum = hex::encode(sha2::Sha256::digest(ovf));
    std::fs::write(set.join("app.mf"), format!("SHA256(app.ovf)= {ovf_sum}\nSHA256(disk.img)= {wrong}\n")).unwrap();
    // The manifest's digests are declared as they are and checked as the files are sent (one
    // read per file): the mismatch fails the upload before the disk's last chunk leaves.
    let output =
        clx(&sim).args(["upload", "--library", "lib", "--item", "app", "--create"]).arg(&set).output().unwrap();
    assert_eq!(output.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("disk.img") && stderr.contains(&wrong), "{stderr}");
    let library = client.find_library("lib").await.unwrap();
    assert!(client.find_item(&library, "app").await.is_err(), "the created item was removed");
    assert!(client.sessions::<cl_sdk::Update>(None).await.unwrap().is_empty(), "its session was ended and deleted");
}

#[tokio::test(flavor = "multi_thread")]
async fn datastores_by_name_or_id() {
    let (sim, client) = sim_with(&[("a.bin", vec![1u8; 10])]).await;
    let table = ok(clx(&sim).args(["datastore", "ls"]).output().unwrap());
    assert!(
        table.starts_with("NAME") && table.contains(cl_sim::DATASTORE_NAME) && table.contains("4.0 TiB"),
        "{table}"
    );
    let listed = json(clx(&sim).args(["--json", "datastore", "ls"]).output().unwrap());
    assert_eq!(listed[0]["datastore"], cl_sim::DATASTORE_ID);

    for (name, datastore) in [("by-name", cl_sim::DATASTORE_NAME), ("by-id", cl_sim::DATASTORE_ID)] {
        ok(clx(&sim).args(["library", "create", name, "--datastore", datastore]).output().unwrap());
        let id = client.find_library(name).await.unwrap();
        let backing = &client.library(&id).await.unwrap().storage_backings[0];
        assert_eq!(backing.datastore_id.as_deref(), Some(cl_sim::DATASTORE_ID));
    }
    // The only datastore is taken when none is named.
    ok(clx(&sim).args(["library", "create", "implied"]).output().unwrap());
    let unknown = clx(&sim).args(["library", "create", "x", "--datastore", "nope"]).output().unwrap();
    assert_eq!(unknown.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&unknown.stderr).contains(cl_sim::DATASTORE_NAME), "lists the datastores");
}

#[tokio::test(flavor = "multi_thread")]
async fn transfer_knobs_reach_the_transfer() {
    let (sim, client) = sim_with(&[("a.bin", vec![1u8; 1 << 20])]).await;
    let dir = tempfile::tempdir().unwrap();
    // The transfer stalls; the deadline ends it, cleanly.
    sim.faults().stall_next_transfer(1000, std::time::Duration::from_secs(20));
    let late = clx(&sim)
        .args(["--deadline", "700ms", "--concurrency", "2", "--retries", "1", "download", "lib/item", "--to"])
        .arg(dir.path().join("late"))
        .output()
        .unwrap();
    assert_eq!(late.status.code(), Some(3), "{}", String::from_utf8_lossy(&late.stderr));
    assert!(String::from_utf8_lossy(&late.stderr).contains("deadline of 700ms"));
    assert!(client.sessions::<cl_sdk::Download>(None).await.unwrap().is_empty());
    // A stall longer than --stall-timeout is resumed.
    sim.faults().stall_next_transfer(1000, std::time::Duration::from_secs(20));
    let resumed = clx(&sim)
        .args(["--stall-timeout", "300ms", "--json", "download", "lib/item", "--to"])
        .arg(dir.path().join("resumed"))
        .output()
        .unwrap();
    let report = json(resumed);
    assert_eq!(report["bytes"], 1 << 20);
    let bad = clx(&sim).args(["--prepare-timeout", "soon", "login"]).output().unwrap();
    assert_eq!(bad.status.code(), Some(2));
}
