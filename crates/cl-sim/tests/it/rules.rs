//! Every rule of the simulated service, driven through the generated client in both dialects.

use crate::common;

use std::time::Duration;

use cl_api::types::*;
use common::*;

// ---------------------------------------------------------------------------------------------
// Auth

#[tokio::test]
async fn login_logout_and_unauthenticated_calls() {
    for dialect in BOTH {
        let sim = sim().await;
        let anonymous = Cl::anonymous(&sim, dialect);
        let f = assert_error(anonymous.login_with(sim.username(), "wrong").await, "UNAUTHENTICATED");
        assert_eq!(f.status, 401, "{dialect:?}");
        // Every call but the login needs the session header, with a proper error body.
        let f = assert_error(anonymous.update_list(None).await, "UNAUTHENTICATED");
        assert_eq!(f.status, 401);

        let cl = Cl::login(&sim, dialect).await;
        assert_eq!(cl.session_user().await.unwrap(), sim.username());
        cl.logout().await.unwrap();
        assert_error(cl.session_user().await, "UNAUTHENTICATED");
    }
}

#[tokio::test]
async fn api_sessions_expire_when_idle_and_on_demand() {
    for dialect in BOTH {
        let sim = sim_with(|c| c.service.api_session_timeout = Duration::from_millis(2000)).await;
        let cl = Cl::login(&sim, dialect).await;
        cl.library_find("x").await.unwrap();
        tokio::time::sleep(Duration::from_millis(2500)).await;
        assert_error(cl.library_find("x").await, "UNAUTHENTICATED");

        let cl = Cl::login(&sim, dialect).await;
        sim.expire_api_sessions();
        assert_error(cl.library_find("x").await, "UNAUTHENTICATED");
    }
}

// ---------------------------------------------------------------------------------------------
// Libraries and items

#[tokio::test]
async fn libraries_and_items() {
    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        let no_backing = LibraryModel { name: Some("lib".into()), ..Default::default() };
        assert_error(cl.library_create(no_backing).await, "INVALID_ARGUMENT");
        let lib = cl.library("lib").await;
        assert_eq!(cl.library_find("LIB").await.unwrap(), std::slice::from_ref(&lib));
        assert_eq!(cl.library_get(&lib).await.unwrap().type_, Some(LibraryType::Local));

        let item = cl.item(&lib, "photon").await;
        let f = assert_error(cl.item_create(&lib, "photon", None).await, "ALREADY_EXISTS");
        assert_eq!(f.status, 400);
        assert_error(cl.item_create("no-such-library", "x", None).await, "NOT_FOUND");
        assert_eq!(cl.item_find(&lib, "photon").await.unwrap(), std::slice::from_ref(&item));
        assert_eq!(cl.item_list(&lib).await.unwrap(), std::slice::from_ref(&item));
        let model = cl.item_get(&item).await.unwrap();
        assert_eq!(model.content_version.as_deref(), Some("1"));
        assert_eq!(model.size, Some(0));
        assert!(cl.item_files(&item).await.unwrap().is_empty());

        // A client token makes the create idempotent.
        let a = cl.item_create(&lib, "tokened", Some("t-1")).await.unwrap();
        assert_eq!(cl.item_create(&lib, "tokened", Some("t-1")).await.unwrap(), a);

        cl.library_delete(&lib).await.unwrap();
        assert_error(cl.item_get(&item).await, "NOT_FOUND");
        assert_error(cl.library_get(&lib).await, "NOT_FOUND");
    }
}

#[tokio::test]
async fn updates_change_only_what_they_set() {
    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        let lib = cl.library("lib").await;
        let item = cl.item(&lib, "photon").await;
        cl.item(&lib, "ubuntu").await;
        let before = cl.item_get(&item).await.unwrap();

        let describe = ItemModel { description: Some("golden".into()), ..Default::default() };
        cl.item_update(&item, describe).await.unwrap();
        let after = cl.item_get(&item).await.unwrap();
        assert_eq!((after.name.as_deref(), after.description.as_deref()), (Some("photon"), Some("golden")));
        assert_ne!(after.version, before.version, "{dialect}: a change moves the version on");
        assert_ne!(after.metadata_version, before.metadata_version);
        assert_eq!(after.content_version, before.content_version, "the content did not change");

        let rename = |name: &str, version: Option<&str>| ItemModel {
            name: Some(name.into()),
            version: version.map(Into::into),
            ..Default::default()
        };
        // A stale version is refused, the current one applies.
        let stale = cl.item_update(&item, rename("photon-5", before.version.as_deref())).await;
        assert_eq!(assert_error(stale, "CONCURRENT_CHANGE").status, 409);
        cl.item_update(&item, rename("photon-5", after.version.as_deref())).await.unwrap();
        let renamed = cl.item_get(&item).await.unwrap();
        assert_eq!((renamed.name.as_deref(), renamed.description.as_deref()), (Some("photon-5"), Some("golden")));
        assert_eq!(cl.item_find(&lib, "photon-5").await.unwrap(), std::slice::from_ref(&item));

        assert_error(cl.item_update(&item, rename("ubuntu", None)).await, "ALREADY_EXISTS");
        assert_error(cl.item_update(&item, rename(" ", None)).await, "INVALID_ARGUMENT");
        assert_error(cl.item_update("no-such-item", rename("x", None)).await, "NOT_FOUND");
        let moved = ItemModel { library_id: Some("elsewhere".into()), ..Default::default() };
        assert_error(cl.item_update(&item, moved).await, "INVALID_ARGUMENT");
        // Renaming an item to its own name is no conflict.
        cl.item_update(&item, rename("photon-5", None)).await.unwrap();

        let library = cl.library_get(&lib).await.unwrap();
        let change = LibraryModel {
            name: Some("images".into()),
            description: Some("signed only".into()),
            version: library.version.clone(),
            ..Default::default()
        };
        cl.library_update(&lib, change.clone()).await.unwrap();
        let changed = cl.library_get(&lib).await.unwrap();
        assert_eq!((changed.name.as_deref(), changed.description.as_deref()), (Some("images"), Some("signed only")));
        assert_eq!(changed.storage_backings, library.storage_backings);
        assert_error(cl.library_update(&lib, change).await, "CONCURRENT_CHANGE");
        let retype = LibraryModel { type_: Some(LibraryType::Subscribed), ..Default::default() };
        assert_error(cl.library_update(&lib, retype).await, "INVALID_ARGUMENT");
        let blank = LibraryModel { name: Some(String::new()), ..Default::default() };
        assert_error(cl.library_update(&lib, blank).await, "INVALID_ARGUMENT");
        assert_error(cl.library_update("no-such-library", LibraryModel::default()).await, "NOT_FOUND");
        assert_eq!(cl.library_find("images").await.unwrap(), std::slice::from_ref(&lib));
    }
}

// ---------------------------------------------------------------------------------------------
// Update sessions

#[tokio::test]
async fn upload_round_trip_makes_content_visible_only_at_complete() {
    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        let lib = cl.library("lib").await;
        let item = cl.item(&lib, "item").await;
        let session = cl.update_create(&item, None).await.unwrap();
        let state = cl.update_get(&session).await.unwrap();
        assert_eq!(state.state, Some(UpdateSessionState::Active));
        assert_eq!(state.library_item_content_version.as_deref(), Some("1"));
        assert!(state.expiration_time.unwrap() > chrono::Utc::now());
        assert_eq!(cl.update_list(Some(&item)).await.unwrap(), std::slice::from_ref(&session));

        let content = b"hello, content library\n".repeat(1000);
        let added = cl.file_add(&session, push_spec("data.bin", &content)).await.unwrap();
        assert_eq!(added.status, TransferStatus::WaitingForTransfer);
        assert_eq!(added.keep_in_storage, Some(true));
        let file = cl.push(&session, "data.bin", &content).await;
        assert_eq!(file.status, TransferStatus::Ready);
        assert_eq!(file.bytes_transferred, content.len() as i64);
        assert_eq!(file.size, Some(content.len() as i64));

        // Not visible before complete.
        assert!(cl.item_files(&item).await.unwrap().is_empty());
        let v = cl.validate(&session).await.unwrap();
        assert!(!v.has_errors && v.missing_files.is_empty() && v.invalid_files.is_empty(), "{v:?}");

        cl.update_complete(&session).await.unwrap();
        assert_eq!(cl.update_get(&session).await.unwrap().state, Some(UpdateSessionState::Done));
        let files = cl.item_files(&item).await.unwrap();
        assert_eq!(files.len(), 1);
        assert_eq!(files[0].size, Some(content.len() as i64));
        assert_eq!(files[0].checksum_info.as_ref().unwrap().checksum, sha1(&content));
        assert_eq!(cl.item_file(&item, "data.bin").await.unwrap().name, "data.bin");
        let model = cl.item_get(&item).await.unwrap();
        assert_eq!(model.content_version.as_deref(), Some("2"), "each completed update bumps the content version");
        assert_eq!(model.size, Some(content.len() as i64));

        // Actions on a finished session are refused; delete is fine now.
        for result in [
            cl.update_complete(&session).await,
            cl.update_cancel(&session).await,
            cl.update_keep_alive(&session, None).await,
        ] {
            let f = assert_error(result, "NOT_ALLOWED_IN_CURRENT_STATE");
            assert_eq!(f.status, 400);
        }
        assert_error(cl.file_add(&session, push_spec("late", b"x")).await, "NOT_ALLOWED_IN_CURRENT_STATE");
        cl.update_delete(&session).await.unwrap();
        assert_error(cl.update_get(&session).await, "NOT_FOUND");
    }
}

#[tokio::test]
async fn one_active_update_session_per_item() {
    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        let lib = cl.library("lib").await;
        let item = cl.item(&lib, "item").await;
        let first = cl.update_create(&item, None).await.unwrap();
        let f = assert_error(cl.update_create(&item, None).await, "RESOURCE_BUSY");
        // Documented: 500 on /api, 400 on /rest.
        assert_eq!(f.status, if dialect == Dialect::Api { 500 } else { 400 });
        // The client token returns the first session instead of failing.
        let tokened = {
            cl.update_cancel(&first).await.unwrap();
            cl.update_create(&item, Some("tok")).await.unwrap()
        };
        assert_eq!(cl.update_create(&item, Some("tok")).await.unwrap(), tokened);
        assert_error(cl.update_create("no-such-item", None).await, "NOT_FOUND");
    }
}

#[tokio::test]
async fn complete_requires_every_push_file_intact() {
    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        let lib = cl.library("lib").await;
        let item = cl.item(&lib, "item").await;
        let session = cl.update_create(&item, None).await.unwrap();
        cl.file_add(&session, push_spec("never-sent.bin", b"abc")).await.unwrap();
        let v = cl.validate(&session).await.unwrap();
        assert!(v.has_errors);
        assert_eq!(v.missing_files, ["never-sent.bin"]);
        assert_error(cl.update_complete(&session).await, "NOT_ALLOWED_IN_CURRENT_STATE");
        // Deleting an ACTIVE session is refused.
        assert_error(cl.update_delete(&session).await, "NOT_ALLOWED_IN_CURRENT_STATE");
        cl.update_cancel(&session).await.unwrap();
        assert_eq!(cl.update_get(&session).await.unwrap().state, Some(UpdateSessionState::Canceled));
        cl.update_delete(&session).await.unwrap();
    }
}

#[tokio::test]
async fn declared_size_and_checksum_are_verified_on_arrival() {
    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        let lib = cl.library("lib").await;
        let item = cl.item(&lib, "item").await;
        let session = cl.update_create(&item, None).await.unwrap();
        for algorithm in
            [ChecksumAlgorithm::Md5, ChecksumAlgorithm::Sha1, ChecksumAlgorithm::Sha256, ChecksumAlgorithm::Sha512]
        {
            let name = format!("{algorithm}.bin");
            let mut spec = push_spec(&name, b"payload");
            spec.checksum_info = Some(ChecksumInfo { algorithm: Some(algorithm.clone()), checksum: "00".repeat(16) });
            let uri = cl.file_add(&session, spec).await.unwrap().upload_endpoint.unwrap().uri;
            let response = cl.http.put(&uri).body("payload").send().await.unwrap();
            assert_eq!(response.status(), 400, "{algorithm}: a checksum mismatch is refused");
            let file = cl.file_get(&session, &name).await.unwrap();
            assert_eq!(file.status, TransferStatus::Error);
            assert!(file.error_message.unwrap().default_message.contains("checksum mismatch"));
        }
        let mut spec = push_spec("short.bin", b"payload");
        spec.size = Some(100);
        spec.checksum_info = None;
        let uri = cl.file_add(&session, spec).await.unwrap().upload_endpoint.unwrap().uri;
        cl.http.put(&uri).body("payload").send().await.unwrap();
        assert_eq!(cl.file_get(&session, "short.bin").await.unwrap().status, TransferStatus::Error);
        let v = cl.validate(&session).await.unwrap();
        assert_eq!(v.invalid_files.len(), 5);
        assert_error(cl.update_complete(&session).await, "NOT_ALLOWED_IN_CURRENT_STATE");

        // Correct checksums in every algorithm pass; POST works like PUT.
        let session2 = {
            cl.update_cancel(&session).await.unwrap();
            cl.update_create(&item, None).await.unwrap()
        };
        let content = b"checked content";
        for (algorithm, sum) in [
            (ChecksumAlgorithm::Md5, hex_md5(content)),
            (ChecksumAlgorithm::Sha1, sha1(content)),
            (ChecksumAlgorithm::Sha512, hex_sha512(content)),
        ] {
            let name = format!("ok-{algorithm}");
            let mut spec = push_spec(&name, content);
            spec.checksum_info = Some(ChecksumInfo { algorithm: Some(algorithm), checksum: sum.to_uppercase() });
            let uri = cl.file_add(&session2, spec).await.unwrap().upload_endpoint.unwrap().uri;
            assert_eq!(cl.http.post(&uri).body(content.to_vec()).send().await.unwrap().status(), 200);
        }
        cl.update_complete(&session2).await.unwrap();
        assert_eq!(cl.item_files(&item).await.unwrap().len(), 3);
    }
}

fn hex_md5(content: &[u8]) -> String {
    use md5::Digest;
    hex::encode(md5::Md5::digest(content))
}

fn hex_sha512(content: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha512::digest(content))
}

#[tokio::test]
async fn cancel_and_fail_discard_received_content() {
    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        let lib = cl.library("lib").await;
        let item = cl.item_with(&lib, "item", &[("keep.txt", b"v1")]).await;

        let session = cl.update_create(&item, None).await.unwrap();
        cl.push(&session, "new.txt", b"v2").await;
        cl.update_cancel(&session).await.unwrap();
        assert_eq!(cl.item_files(&item).await.unwrap().len(), 1, "cancel leaves the item as it was");

        let session = cl.update_create(&item, None).await.unwrap();
        cl.push(&session, "new.txt", b"v2").await;
        cl.update_fail(&session, "the client gave up").await.unwrap();
        let state = cl.update_get(&session).await.unwrap();
        assert_eq!(state.state, Some(UpdateSessionState::Error));
        assert_eq!(state.error_message.unwrap().default_message, "the client gave up");
        assert_eq!(cl.item_files(&item).await.unwrap().len(), 1);
        assert_eq!(cl.item_get(&item).await.unwrap().content_version.as_deref(), Some("2"));
    }
}

#[tokio::test]
async fn keep_alive_records_progress_and_sessions_expire_without_it() {
    for dialect in BOTH {
        // Generous margins: the machines are shared and a debug test run is busy. Three gaps of
        // 1.5 s outlast the 4 s timeout together, never alone.
        let sim = sim_with(|c| c.service.session_timeout = Duration::from_millis(4000)).await;
        let cl = Cl::login(&sim, dialect).await;
        let lib = cl.library("lib").await;
        let item = cl.item(&lib, "item").await;
        let session = cl.update_create(&item, None).await.unwrap();
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            cl.update_keep_alive(&session, Some(42)).await.unwrap();
        }
        assert_eq!(cl.update_get(&session).await.unwrap().client_progress, Some(42));
        assert_error(cl.update_keep_alive(&session, Some(101)).await, "INVALID_ARGUMENT");
        tokio::time::sleep(Duration::from_millis(4500)).await;
        assert_error(cl.update_get(&session).await, "NOT_FOUND");

        // Expire on demand (a test hook), update and download sessions alike; a download
        // session's transfer URIs die with it.
        let session = cl.update_create(&item, None).await.unwrap();
        assert!(sim.expire_transfer_session(&session));
        assert_error(cl.update_get(&session).await, "NOT_FOUND");
        let with_file = cl.item_with(&lib, "with-file", &[("a.txt", b"a")]).await;
        let download = cl.download_create(&with_file, None).await.unwrap();
        let uri = cl.prepared_uri(&download, "a.txt").await;
        assert!(sim.expire_transfer_session(&download));
        assert_error(cl.download_get(&download).await, "NOT_FOUND");
        assert_eq!(cl.http.get(&uri).send().await.unwrap().status(), 404);
    }
}

#[tokio::test]
async fn ovf_metadata_rules() {
    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        let lib = cl.library("lib").await;
        let item = cl.item(&lib, "appliance").await;
        let session = cl.update_create(&item, None).await.unwrap();
        let ovf = br#"<Envelope><References><File ovf:href="disk.vmdk"/><File ovf:href="nvram.bin"/></References></Envelope>"#;
        cl.push(&session, "app.mf", b"SHA256(app.ovf)= 00").await;
        let preview = cl.update_get(&session).await.unwrap().preview_info.unwrap();
        assert_eq!(preview.state, PreviewState::Unavailable);
        cl.push(&session, "app.ovf", ovf).await;
        // Manifest and certificate files must come before the descriptor.
        assert_error(cl.file_add(&session, push_spec("app.cert", b"cert")).await, "NOT_ALLOWED_IN_CURRENT_STATE");
        assert_eq!(cl.file_get(&session, "app.mf").await.unwrap().keep_in_storage, Some(false));
        assert_eq!(cl.update_get(&session).await.unwrap().preview_info.unwrap().state, PreviewState::Available);

        cl.push(&session, "disk.vmdk", b"disk").await;
        let v = cl.validate(&session).await.unwrap();
        assert_eq!(v.missing_files, ["nvram.bin"], "validate reads the descriptor's references");
        cl.push(&session, "nvram.bin", b"nv").await;
        assert!(!cl.validate(&session).await.unwrap().has_errors);
        // Removing a session file takes it out again.
        cl.file_remove(&session, "nvram.bin").await.unwrap();
        assert_error(cl.file_get(&session, "nvram.bin").await, "INVALID_ARGUMENT");
        assert_error(cl.file_remove(&session, "nothing-here").await, "INVALID_ARGUMENT");
        cl.push(&session, "nvram.bin", b"nv").await;
        cl.update_complete(&session).await.unwrap();
        let names: Vec<String> = cl.item_files(&item).await.unwrap().into_iter().map(|f| f.name).collect();
        assert_eq!(names, ["app.ovf", "disk.vmdk", "nvram.bin"], "the manifest leaves the item at complete");

        // A removal of an item file takes effect at complete.
        let session = cl.update_create(&item, None).await.unwrap();
        cl.file_remove(&session, "nvram.bin").await.unwrap();
        assert_eq!(cl.item_files(&item).await.unwrap().len(), 3);
        cl.update_complete(&session).await.unwrap();
        assert_eq!(cl.item_files(&item).await.unwrap().len(), 2);
    }
}

#[tokio::test]
async fn signed_content_warnings_must_be_ignored_to_complete() {
    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        let lib = cl.library("lib").await;
        let item = cl.item(&lib, "signed").await;
        for ignore in [false, true] {
            let session = cl.update_create(&item, None).await.unwrap();
            cl.push(&session, "app.cert", b"-----BEGIN CERTIFICATE-----").await;
            cl.push(&session, "app.ovf", b"<Envelope/>").await;
            let preview = cl.update_get(&session).await.unwrap().preview_info.unwrap();
            assert_eq!(preview.state, PreviewState::Available);
            assert!(preview.certificate_info.unwrap().self_signed);
            assert_eq!(preview.warnings[0].type_, WarningType::SelfSignedCertificate);
            assert!(!preview.warnings[0].ignored);
            if ignore {
                cl.update_patch(
                    &session,
                    vec![WarningBehavior { type_: WarningType::SelfSignedCertificate, ignored: true }],
                )
                .await
                .unwrap();
                assert!(cl.update_get(&session).await.unwrap().preview_info.unwrap().warnings[0].ignored);
                cl.update_complete(&session).await.unwrap();
                assert_eq!(cl.update_get(&session).await.unwrap().state, Some(UpdateSessionState::Done));
            } else {
                assert_error(cl.update_complete(&session).await, "NOT_ALLOWED_IN_CURRENT_STATE");
                let state = cl.update_get(&session).await.unwrap();
                assert_eq!(state.state, Some(UpdateSessionState::Error));
                assert!(state.error_message.unwrap().default_message.contains("SELF_SIGNED_CERTIFICATE"));
            }
        }
    }
}

#[tokio::test]
async fn add_replaces_a_file_of_the_same_name() {
    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        let lib = cl.library("lib").await;
        let item = cl.item(&lib, "item").await;
        let session = cl.update_create(&item, None).await.unwrap();
        let old = cl.file_add(&session, push_spec("a.txt", b"old")).await.unwrap().upload_endpoint.unwrap().uri;
        cl.push(&session, "a.txt", b"new").await;
        assert_eq!(cl.file_list(&session).await.unwrap().len(), 1);
        // The replaced file's endpoint is gone.
        assert_eq!(cl.http.put(&old).body("old").send().await.unwrap().status(), 404);
        cl.update_complete(&session).await.unwrap();
        assert_eq!(cl.item_file(&item, "a.txt").await.unwrap().checksum_info.unwrap().checksum, sha1(b"new"));
    }
}

/// What each update-session operation may do in each state, in both dialects: files and
/// settings change only while ACTIVE and not completing; keep-alive, cancel and fail only while
/// ACTIVE (completing included); complete once; delete only once it ended. Anything else is
/// NOT_ALLOWED_IN_CURRENT_STATE and changes nothing.
#[tokio::test]
async fn every_update_operation_in_every_session_state() {
    // A PULL source that accepts and never answers keeps a completed session completing.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let silent_url = format!("http://{}/never.bin", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = silent.accept().await {
            held.push(socket);
        }
    });
    let ops = ["add", "remove", "validate", "patch", "complete", "keep-alive", "cancel", "fail", "delete"];
    // (state, the operations allowed in it)
    let table: [(&str, &[&str]); 5] = [
        ("ACTIVE", &["add", "remove", "validate", "patch", "complete", "keep-alive", "cancel", "fail"]),
        ("completing", &["keep-alive", "cancel", "fail"]),
        ("DONE", &["delete"]),
        ("ERROR", &["delete"]),
        ("CANCELED", &["delete"]),
    ];
    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        let lib = cl.library("lib").await;
        for (state, allowed) in table {
            for op in ops {
                let item = cl.item_with(&lib, &format!("{state}-{op}"), &[("old.txt", b"v1")]).await;
                let session = cl.update_create(&item, None).await.unwrap();
                cl.push(&session, "kept.txt", b"k").await;
                match state {
                    "ACTIVE" => {}
                    "completing" => {
                        let pull = UpdateFileAddSpec {
                            name: "pulled.bin".into(),
                            source_type: SourceType::Pull,
                            source_endpoint: Some(TransferEndpoint {
                                uri: silent_url.clone(),
                                ssl_certificate_thumbprint: None,
                                ssl_certificate: None,
                            }),
                            size: None,
                            checksum_info: None,
                        };
                        cl.file_add(&session, pull).await.unwrap();
                        cl.update_complete(&session).await.unwrap();
                    }
                    "DONE" => {
                        cl.update_complete(&session).await.unwrap();
                        let mut waited = 0;
                        while cl.update_get(&session).await.unwrap().state != Some(UpdateSessionState::Done) {
                            assert!(waited < 200, "the session completes");
                            waited += 1;
                            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
                        }
                    }
                    "ERROR" => cl.update_fail(&session, "gave up").await.unwrap(),
                    _ => cl.update_cancel(&session).await.unwrap(),
                }
                let before = cl.item_files(&item).await.unwrap().len();
                let result = match op {
                    "add" => cl.file_add(&session, push_spec("late.txt", b"late")).await.map(|_| ()),
                    "remove" => cl.file_remove(&session, "old.txt").await,
                    "validate" => cl.validate(&session).await.map(|_| ()),
                    "patch" => cl.update_patch(&session, Vec::new()).await,
                    "complete" => cl.update_complete(&session).await,
                    "keep-alive" => cl.update_keep_alive(&session, Some(50)).await,
                    "cancel" => cl.update_cancel(&session).await,
                    "fail" => cl.update_fail(&session, "stop").await,
                    _ => cl.update_delete(&session).await,
                };
                let what = format!("{dialect:?}: {op} on a {state} session");
                if allowed.contains(&op) {
                    result.unwrap_or_else(|e| panic!("{what}: refused: {e:?}"));
                } else {
                    let error = result.expect_err(&what);
                    assert_eq!(error.error_type, "NOT_ALLOWED_IN_CURRENT_STATE", "{what}: {error:?}");
                    assert_eq!(error.status, 400, "{what}");
                    if state == "completing" {
                        let names: Vec<String> =
                            cl.file_list(&session).await.unwrap().into_iter().map(|f| f.name).collect();
                        assert!(!names.contains(&"late.txt".to_owned()), "{what}: a file slipped in: {names:?}");
                    }
                }
                if state != "DONE" && !(state == "ACTIVE" && op == "complete") {
                    assert_eq!(cl.item_files(&item).await.unwrap().len(), before, "{what}: the item changed");
                }
            }
        }
    }
}
