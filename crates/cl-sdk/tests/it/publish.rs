//! A folder published as a VCSP feed: ids and versions kept across runs, only changes raise
//! versions, a rerun changes no byte, the preflight and name rules refuse bad items, and a
//! simulator subscribed to the folder (served by a plain web server) syncs it byte for byte.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use cl_sdk::publish::publish_folder;
use cl_sdk::{ErrorKind, Subscription};
use cl_sim::{SimConfig, Simulator};
use cl_vcsp::{Items, Lib};

fn write(path: &Path, bytes: &[u8]) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, bytes).unwrap();
}

/// Every file under `root` (but the state file): relative path → bytes.
fn snapshot(root: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                files.insert(rel, std::fs::read(&path).unwrap());
            }
        }
    }
    files
}

fn feed(root: &Path) -> (Lib, Items) {
    let lib: Lib = serde_json::from_slice(&std::fs::read(root.join("lib.json")).unwrap()).unwrap();
    let items: Items = serde_json::from_slice(&std::fs::read(root.join("items.json")).unwrap()).unwrap();
    (lib, items)
}

fn ova(path: &Path, members: &[(&str, &[u8])]) {
    let mut builder = tar::Builder::new(std::fs::File::create(path).unwrap());
    for (name, bytes) in members {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, *bytes).unwrap();
    }
    builder.finish().unwrap();
}

fn library_of_three(root: &Path) {
    write(&root.join("tools/readme.txt"), b"read me");
    write(&root.join("tools/bin.dat"), &[7u8; 10_000]);
    write(&root.join("ubuntu 24.iso"), &[1u8; 30_000]);
    let ovf = br#"<?xml version="1.0"?><Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:id="f1" ovf:href="notes.txt" ovf:size="5"/></References></Envelope>"#;
    ova(&root.join("app.ova"), &[("app.ovf", ovf), ("notes.txt", b"notes")]);
}

#[test]
fn a_folder_becomes_a_feed_and_only_changes_move_versions() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    library_of_three(root);
    write(&root.join(".hidden"), b"x");
    write(&root.join("loose.txt"), b"x");

    let report = publish_folder(root, &cl_sdk::publish::PublishOptions::new().name("templates")).unwrap();
    assert!(report.changed);
    let (lib, items) = feed(root);
    assert_eq!((lib.name.as_str(), lib.version.as_str(), lib.vcsp_version.as_str()), ("templates", "1", "2"));
    assert!(lib.id.starts_with("urn:uuid:"));
    let by_name: BTreeMap<&str, &cl_vcsp::Item> = items.items.iter().map(|i| (i.name.as_str(), i)).collect();
    assert_eq!(by_name.keys().copied().collect::<Vec<_>>(), ["app", "tools", "ubuntu 24"]);
    assert_eq!(by_name["app"].type_, "vcsp.ovf");
    assert_eq!(by_name["ubuntu 24"].type_, "vcsp.iso");
    assert_eq!(by_name["tools"].type_, "vcsp.other");
    assert_eq!(by_name["ubuntu 24"].files[0].hrefs, ["ubuntu%2024.iso"], "hrefs are encoded");
    for item in &items.items {
        let self_href = item.self_href.as_deref().unwrap();
        let on_disk: cl_vcsp::Item = serde_json::from_slice(
            &std::fs::read(root.join(percent_encoding::percent_decode_str(self_href).decode_utf8().unwrap().as_ref()))
                .unwrap(),
        )
        .unwrap();
        assert_eq!(&on_disk, item, "item.json is its index entry");
        for file in &item.files {
            let href = percent_encoding::percent_decode_str(&file.hrefs[0]).decode_utf8().unwrap().into_owned();
            assert_eq!(std::fs::metadata(root.join(&href)).unwrap().len(), file.size, "{href}");
            assert!(cl_vcsp::number(file.etag.as_deref().unwrap()).is_some());
            assert!(file.generation_num.is_some());
        }
    }
    assert!(report.skipped.iter().any(|s| s.contains("loose.txt")), "{:?}", report.skipped);
    assert_eq!(snapshot(&root.join("app.ova.item")).len(), 3, "members and item.json");

    // A rerun on the unchanged folder changes no byte.
    let before = snapshot(root);
    let again = publish_folder(root, &cl_sdk::publish::PublishOptions::new()).unwrap();
    assert!(!again.changed);
    assert_eq!(snapshot(root), before);

    // A file's time alone is no change; its bytes are, and only for its item.
    let tools_bin = root.join("tools/bin.dat");
    std::fs::File::options()
        .write(true)
        .open(&tools_bin)
        .unwrap()
        .set_modified(std::time::SystemTime::now() + Duration::from_secs(5))
        .unwrap();
    assert!(!publish_folder(root, &cl_sdk::publish::PublishOptions::new()).unwrap().changed);
    // Same size and time, other bytes (a copy that kept the time): only a rehash sees it.
    let time = std::fs::metadata(&tools_bin).unwrap().modified().unwrap();
    write(&tools_bin, &[9u8; 10_000]);
    std::fs::File::options().write(true).open(&tools_bin).unwrap().set_modified(time).unwrap();
    assert!(!publish_folder(root, &cl_sdk::publish::PublishOptions::new()).unwrap().changed);
    assert!(publish_folder(root, &cl_sdk::publish::PublishOptions::new().rehash(true)).unwrap().changed);
    write(&tools_bin, &[8u8; 10_000]);
    let report = publish_folder(root, &cl_sdk::publish::PublishOptions::new()).unwrap();
    assert!(report.changed);
    let (lib2, items2) = feed(root);
    assert_eq!(lib2.id, lib.id);
    assert_eq!(lib2.version, "3", "the rehash and this change");
    for (old, new) in items.items.iter().zip(&items2.items) {
        assert_eq!(old.id, new.id, "ids are kept");
        if old.name == "tools" {
            assert!(cl_vcsp::number(&new.version) > cl_vcsp::number(&old.version));
            assert_ne!(old.files[0].etag, new.files[0].etag);
        } else {
            assert_eq!(old, new, "{} did not change", old.name);
        }
    }

    // A removed item leaves the index; the library version rises once more.
    std::fs::remove_file(root.join("ubuntu 24.iso")).unwrap();
    let report = publish_folder(root, &cl_sdk::publish::PublishOptions::new()).unwrap();
    assert_eq!(report.removed, ["ubuntu 24"]);
    assert_eq!(feed(root).0.version, "4");
}

#[test]
fn bad_items_are_refused_before_anything_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    // Two items that a subscriber would see with one name.
    write(&root.join("Tools/a.txt"), b"a");
    write(&root.join("tools/b.txt"), b"b");
    let e = publish_folder(root, &cl_sdk::publish::PublishOptions::new()).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("duplicate"), "{e}");
    assert!(!root.join("lib.json").exists());
    std::fs::remove_dir_all(root.join("Tools")).unwrap();

    // An OVF item whose descriptor names a file the folder lacks fails the preflight.
    write(
        &root.join("broken/app.ovf"),
        br#"<?xml version="1.0"?><Envelope><References><File ovf:href="missing.vmdk"/></References></Envelope>"#,
    );
    let e = publish_folder(root, &cl_sdk::publish::PublishOptions::new()).unwrap_err();
    assert!(e.to_string().contains("preflight"), "{e}");
    assert!(!root.join("lib.json").exists());

    // A feed file this cannot read is not overwritten.
    std::fs::remove_dir_all(root.join("broken")).unwrap();
    write(&root.join("lib.json"), b"not json");
    assert_eq!(
        publish_folder(root, &cl_sdk::publish::PublishOptions::new()).unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    assert_eq!(std::fs::read(root.join("lib.json")).unwrap(), b"not json");
}

/// Serves a folder as a plain web server would: GET of a file by its (decoded) path.
async fn serve(root: std::path::PathBuf) -> String {
    use axum::extract::Path as UrlPath;
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    let router = axum::Router::new().route(
        "/feed/{*path}",
        axum::routing::get(move |UrlPath(path): UrlPath<String>| {
            let root = root.clone();
            async move {
                if path.split('/').any(|s| s == ".." || s.starts_with('.')) {
                    return StatusCode::NOT_FOUND.into_response();
                }
                match std::fs::read(root.join(&path)) {
                    Ok(bytes) => bytes.into_response(),
                    Err(_) => StatusCode::NOT_FOUND.into_response(),
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/feed/lib.json", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}

#[tokio::test]
async fn a_simulator_subscribes_to_a_published_folder() {
    let dir = tempfile::tempdir().unwrap();
    library_of_three(dir.path());
    publish_folder(dir.path(), &cl_sdk::publish::PublishOptions::new().name("folder")).unwrap();
    let url = serve(dir.path().to_owned()).await;

    let sim = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
    let client = cl_testkit::client(&sim).await;
    let library = client
        .create_subscribed_library(
            "from-folder",
            &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID),
            &Subscription::new(&url),
        )
        .await
        .unwrap();
    let done = client.sync_library(&library).await.unwrap().wait(Duration::from_secs(30), |_| {}).await.unwrap();
    assert_eq!((done.items, done.items_cached), (3, 3));
    let iso = client.find_item(&library, "ubuntu 24").await.unwrap();
    assert_eq!(client.item(&iso).await.unwrap().type_.as_deref(), Some("iso"));
    let dest = tempfile::tempdir().unwrap();
    client.download_item(&iso, dest.path(), Default::default()).await.unwrap();
    assert_eq!(std::fs::read(dest.path().join("ubuntu 24.iso")).unwrap(), vec![1u8; 30_000]);
    let app = client.find_item(&library, "app").await.unwrap();
    let names: Vec<String> = client.item_files(&app).await.unwrap().into_iter().map(|f| f.name).collect();
    assert_eq!(names, ["app.ovf", "notes.txt"], "the OVA arrives as its members");
}

fn codes(report: &cl_sdk::preflight::Report) -> Vec<&'static str> {
    report.findings.iter().map(|f| f.code).collect()
}

fn edit_items(root: &Path, change: impl FnOnce(&mut serde_json::Value)) {
    let path = root.join("items.json");
    let mut items: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    change(&mut items);
    std::fs::write(&path, serde_json::to_vec(&items).unwrap()).unwrap();
}

#[tokio::test]
async fn a_feed_is_checked_as_a_subscriber_reads_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    library_of_three(root);
    publish_folder(root, &cl_sdk::publish::PublishOptions::new().name("lab")).unwrap();
    let clean = cl_sdk::publish::check_feed(root.to_str().unwrap(), None).await.unwrap();
    assert!(clean.findings.is_empty(), "{:?}", clean.findings);
    let url = serve(root.to_owned()).await;
    let over_http = cl_sdk::publish::check_feed(&url, None).await.unwrap();
    assert!(over_http.findings.is_empty(), "{:?}", over_http.findings);
    let e = cl_sdk::publish::check_feed(&url.replace("lib.json", "nope.json"), None).await.unwrap_err();
    assert!(e.to_string().contains("lib.json"), "{e}");
    std::fs::copy(root.join("lib.json"), root.join("library.json")).unwrap();
    let renamed = cl_sdk::publish::check_feed(&url.replace("lib.json", "library.json"), None).await.unwrap();
    assert_eq!(codes(&renamed), ["feed.url"], "a subscription URL must end in /lib.json");
    std::fs::remove_file(root.join("library.json")).unwrap();

    // An earlier copy, then a change published correctly: still clean against it.
    let previous = tempfile::tempdir().unwrap();
    for name in ["lib.json", "items.json"] {
        std::fs::copy(root.join(name), previous.path().join(name)).unwrap();
    }
    write(&root.join("tools/readme.txt"), b"read me, changed");
    publish_folder(root, &cl_sdk::publish::PublishOptions::new()).unwrap();
    let report = cl_sdk::publish::check_feed(root.to_str().unwrap(), Some(previous.path())).await.unwrap();
    assert!(report.findings.is_empty(), "{:?}", report.findings);

    // The traps one-off scripts fall into, each found.
    edit_items(root, |items| {
        let tools = items["items"].as_array_mut().unwrap().iter_mut().find(|i| i["name"] == "tools").unwrap();
        tools["files"][0]["etag"] = "9d38a60e".into();
        tools["files"][0].as_object_mut().unwrap().remove("generationNum");
        tools["files"][1]["size"] = 1.into();
        tools["id"] = "urn:uuid:00000000-0000-0000-0000-000000000001".into();
        let iso = items["items"].as_array_mut().unwrap().iter_mut().find(|i| i["name"] == "ubuntu 24").unwrap();
        iso["files"][0]["hrefs"] = serde_json::json!(["ubuntu 24.iso"]);
        iso["name"] = "TOOLS".into();
    });
    let report = cl_sdk::publish::check_feed(root.to_str().unwrap(), Some(previous.path())).await.unwrap();
    let found = codes(&report);
    for code in ["feed.etag", "feed.size", "feed.href", "feed.item_name", "feed.item_json", "feed.stable_id"] {
        assert!(found.contains(&code), "{code} not in {found:?}");
    }
    assert!(report.has_errors());
    let etag = report
        .findings
        .iter()
        .find(|f| f.code == "feed.etag" && f.severity == cl_sdk::preflight::Severity::Error)
        .unwrap();
    assert!(etag.problem.contains("Long.valueOf"), "{}", etag.problem);

    // Hrefs that climb out or leave the server are refused, never followed.
    edit_items(root, |items| {
        items["items"][0]["files"][0]["hrefs"] = serde_json::json!(["../../etc/passwd"]);
        items["items"][1]["files"][0]["hrefs"] = serde_json::json!(["http://elsewhere.invalid/x"]);
    });
    let report = cl_sdk::publish::check_feed(root.to_str().unwrap(), None).await.unwrap();
    let climbing: Vec<_> = report.findings.iter().filter(|f| f.code == "feed.href").collect();
    assert!(climbing.len() >= 2, "{:?}", report.findings);
}

#[tokio::test]
async fn a_remote_feed_is_mirrored_incrementally_verified_and_resumed() {
    let publisher = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
    let client = cl_testkit::client(&publisher).await;
    let library =
        client.create_local_library("upstream", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let big: Vec<u8> = (0..(3u32 << 20)).map(|i| (i % 249) as u8).collect();
    publisher.seed_item(library.as_str(), "big", &[("big.bin", &big)]).await.unwrap();
    publisher.seed_item(library.as_str(), "small", &[("a b.txt", b"small")]).await.unwrap();
    let url = client.publish_library(&library, Some("pw")).await.unwrap();
    let with_credentials = url.replacen("http://", "http://vcsp:pw@", 1);
    let dest = tempfile::tempdir().unwrap();

    let e = cl_sdk::publish::mirror_feed(&url, dest.path()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Transport, "no credentials: {e}");
    let report = cl_sdk::publish::mirror_feed(&with_credentials, dest.path()).await.unwrap();
    assert_eq!((report.fetched_items.len(), report.files, report.bytes), (2, 2, (3 << 20) + 5));
    let (lib, items) = feed(dest.path());
    assert_eq!(lib.id, format!("urn:uuid:{library}"), "the mirror keeps the feed's ids");
    let check = cl_sdk::publish::check_feed(dest.path().to_str().unwrap(), None).await.unwrap();
    assert!(check.findings.is_empty(), "the mirror is itself a feed: {:?}", check.findings);
    let big_href = items.items.iter().find(|i| i.name == "big").unwrap().files[0].hrefs[0].clone();
    let big_path = dest.path().join(&big_href);
    assert_eq!(std::fs::read(&big_path).unwrap(), big);

    // Unchanged: only lib.json is read.
    let served = publisher.feed_files_served();
    let again = cl_sdk::publish::mirror_feed(&with_credentials, dest.path()).await.unwrap();
    assert_eq!((again.files, again.unchanged_items), (0, 2));
    assert_eq!(publisher.feed_files_served(), served);

    // A new item upstream: only its file is fetched.
    publisher.seed_item(library.as_str(), "new", &[("n.iso", b"new iso")]).await.unwrap();
    let third = cl_sdk::publish::mirror_feed(&with_credentials, dest.path()).await.unwrap();
    assert_eq!((third.fetched_items.as_slice(), third.files), (&["new".to_owned()][..], 1));
    assert_eq!(publisher.feed_files_served(), served + 1);

    // A cut download left half of a file and its marker: the next run fetches only the rest.
    let partial = big_path.with_file_name(".big.bin.partial");
    std::fs::write(&partial, &big[..1 << 20]).unwrap();
    let entry = &items.items.iter().find(|i| i.name == "big").unwrap().files[0];
    let marker = serde_json::json!({"href": big_href, "size": entry.size, "etag": entry.etag, "generation_num": entry.generation_num});
    std::fs::write(big_path.with_file_name(".big.bin.partial.json"), marker.to_string()).unwrap();
    std::fs::remove_file(&big_path).unwrap();
    let resumed = cl_sdk::publish::mirror_feed(&with_credentials, dest.path()).await.unwrap();
    assert_eq!(resumed.bytes, (3 << 20) - (1 << 20), "only the rest was fetched");
    assert_eq!(std::fs::read(&big_path).unwrap(), big);
    assert!(!partial.exists());

    // Only http(s) feeds.
    let e = cl_sdk::publish::mirror_feed("ftp://x/lib.json", dest.path()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[test]
fn an_ovf_items_manifest_is_checked_in_the_one_read() {
    use sha2::Digest;
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    let ovf = br#"<?xml version="1.0"?><Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:id="f1" ovf:href="notes.txt" ovf:size="5"/></References></Envelope>"#;
    write(&root.join("app/app.ovf"), ovf);
    write(&root.join("app/notes.txt"), b"notes");
    let manifest = |notes: &[u8]| {
        format!(
            "SHA1(app.ovf)= {}\nSHA1(notes.txt)= {}\n",
            hex::encode(sha1::Sha1::digest(ovf)),
            hex::encode(sha1::Sha1::digest(notes))
        )
    };
    write(&root.join("app/app.mf"), manifest(b"notes").as_bytes());
    publish_folder(root, &cl_sdk::publish::PublishOptions::new()).unwrap();
    // The file changes and the manifest does not: refused, and the feed stays as it was.
    let before = std::fs::read(root.join("lib.json")).unwrap();
    write(&root.join("app/notes.txt"), b"NOTES");
    let e = publish_folder(root, &cl_sdk::publish::PublishOptions::new()).unwrap_err();
    assert!(e.to_string().contains("notes.txt does not match its manifest"), "{e}");
    assert_eq!(std::fs::read(root.join("lib.json")).unwrap(), before);
    // A SHA-256 manifest is checked against the publish hash itself.
    let sha256 = format!(
        "SHA256(app.ovf)= {}\nSHA256(notes.txt)= {}\n",
        hex::encode(sha2::Sha256::digest(ovf)),
        hex::encode(sha2::Sha256::digest(b"notes"))
    );
    write(&root.join("app/app.mf"), sha256.as_bytes());
    assert!(publish_folder(root, &cl_sdk::publish::PublishOptions::new()).is_err());
    write(&root.join("app/notes.txt"), b"notes");
    assert!(publish_folder(root, &cl_sdk::publish::PublishOptions::new()).unwrap().changed);
}

#[tokio::test]
async fn a_mirror_refuses_references_that_collide_or_climb_out() {
    let dir = tempfile::tempdir().unwrap();
    library_of_three(dir.path());
    publish_folder(dir.path(), &cl_sdk::publish::PublishOptions::new()).unwrap();
    let url = serve(dir.path().to_owned()).await;
    let hrefs = |items: &mut serde_json::Value, to: &str| {
        let first = items["items"][0]["files"][0]["hrefs"][0].as_str().unwrap().to_owned();
        let to = match to {
            "" => first,
            // The first file's path in other case: one file where case is ignored.
            "UPPER" => first.to_uppercase(),
            to => to.to_owned(),
        };
        items["items"][1]["files"][0]["hrefs"] = serde_json::json!([to]);
    };
    for (to, kind) in [
        ("", ErrorKind::Verification),
        ("UPPER", ErrorKind::Verification),
        ("lib.json", ErrorKind::Verification),
        ("Lib.JSON", ErrorKind::Verification),
        ("%2e%2e/x", ErrorKind::UnsafePath),
        (".hidden", ErrorKind::UnsafePath),
    ] {
        edit_items(dir.path(), |items| hrefs(items, to));
        let dest = tempfile::tempdir().unwrap();
        let e = cl_sdk::publish::mirror_feed(&url, dest.path()).await.unwrap_err();
        assert_eq!(e.kind(), kind, "{to:?}: {e}");
        assert!(std::fs::read_dir(dest.path()).unwrap().next().is_none(), "{to:?}: nothing written");
    }
}
