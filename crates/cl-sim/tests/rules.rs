//! Every rule of the simulated service, driven through the generated client in both dialects.

mod common;

use std::time::{Duration, Instant};

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

// ---------------------------------------------------------------------------------------------
// Download sessions

#[tokio::test]
async fn download_round_trip_with_prepare_states_and_ranges() {
    for dialect in BOTH {
        let sim = sim_with(|c| c.service.prepare_delay = Duration::from_millis(1000)).await;
        let cl = Cl::login(&sim, dialect).await;
        let lib = cl.library("lib").await;
        let content: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
        let item = cl.item_with(&lib, "item", &[("disk.vmdk", &content), ("app.ovf", b"<Envelope/>")]).await;

        let session = cl.download_create(&item, None).await.unwrap();
        let state = cl.download_get(&session).await.unwrap();
        assert_eq!(state.state, Some(DownloadSessionState::Active));
        assert_eq!(state.library_item_content_version.as_deref(), Some("2"));
        assert_eq!(cl.download_list(Some(&item)).await.unwrap(), std::slice::from_ref(&session));
        let files = cl.dl_files(&session).await.unwrap();
        assert_eq!(files.len(), 2);
        assert!(files.iter().all(|f| f.status == PrepareStatus::Unprepared && f.download_endpoint.is_none()));

        assert_error(cl.prepare(&session, "nope", None).await, "INVALID_ARGUMENT");
        assert_error(cl.dl_file(&session, "nope").await, "INVALID_ARGUMENT");
        let f = assert_error(cl.prepare(&session, "disk.vmdk", Some(EndpointType::Direct)).await, "UNAUTHORIZED");
        assert_eq!(f.status, 403);

        // UNPREPARED → PREPARE_REQUESTED → PREPARING → PREPARED.
        let mut seen = vec![cl.prepare(&session, "disk.vmdk", None).await.unwrap().status];
        let started = Instant::now();
        while seen.last() != Some(&PrepareStatus::Prepared) && started.elapsed() < Duration::from_secs(5) {
            let status = cl.dl_file(&session, "disk.vmdk").await.unwrap().status;
            if seen.last() != Some(&status) {
                seen.push(status);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The states come in order (the exact timing of each is unit-tested in the service; on a
        // busy machine a poll may miss the PREPARING window).
        let order = [PrepareStatus::PrepareRequested, PrepareStatus::Preparing, PrepareStatus::Prepared];
        assert_eq!(seen.first(), Some(&PrepareStatus::PrepareRequested), "{seen:?}");
        assert_eq!(seen.last(), Some(&PrepareStatus::Prepared), "{seen:?}");
        let ranks: Vec<usize> =
            seen.iter().map(|s| order.iter().position(|o| o == s).expect("a prepare state")).collect();
        assert!(ranks.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
        let file = cl.dl_file(&session, "disk.vmdk").await.unwrap();
        assert!(file.checksum_info.is_none(), "checksum_info comes after the download");
        let uri = file.download_endpoint.unwrap().uri;

        let response = cl.http.get(&uri).send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-length"], content.len().to_string().as_str());
        assert_eq!(response.headers()["accept-ranges"], "bytes");
        assert_eq!(response.bytes().await.unwrap(), content);
        let file = cl.dl_file(&session, "disk.vmdk").await.unwrap();
        assert_eq!(file.checksum_info.unwrap().checksum, sha1(&content));
        assert_eq!(file.size, Some(content.len() as i64));

        let partial = cl.http.get(&uri).header("range", "bytes=1000-").send().await.unwrap();
        assert_eq!(partial.status(), 206);
        assert_eq!(
            partial.headers()["content-range"],
            format!("bytes 1000-{}/{}", content.len() - 1, content.len()).as_str()
        );
        assert_eq!(partial.bytes().await.unwrap(), &content[1000..]);
        let past = cl.http.get(&uri).header("range", "bytes=999999999-").send().await.unwrap();
        assert_eq!(past.status(), 416);

        // An unprepared file cannot be fetched.
        cl.download_keep_alive(&session, Some(50)).await.unwrap();
        assert_eq!(cl.download_get(&session).await.unwrap().client_progress, Some(50));

        // Cancel invalidates the transfer URIs.
        cl.download_cancel(&session).await.unwrap();
        assert_eq!(cl.download_get(&session).await.unwrap().state, Some(DownloadSessionState::Canceled));
        assert_eq!(cl.http.get(&uri).send().await.unwrap().status(), 404);
        assert_error(cl.download_keep_alive(&session, None).await, "NOT_ALLOWED_IN_CURRENT_STATE");
        assert_error(cl.download_cancel(&session).await, "NOT_ALLOWED_IN_CURRENT_STATE");
        cl.download_delete(&session).await.unwrap();
        assert_error(cl.download_get(&session).await, "NOT_FOUND");
    }
}

#[tokio::test]
async fn download_fail_and_snapshot_isolation() {
    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        let lib = cl.library("lib").await;
        let item = cl.item_with(&lib, "item", &[("a.txt", b"version one")]).await;
        let session = cl.download_create(&item, Some("dl-token")).await.unwrap();
        assert_eq!(cl.download_create(&item, Some("dl-token")).await.unwrap(), session, "client_token is idempotent");
        let uri = cl.prepared_uri(&session, "a.txt").await;

        // An update completing meanwhile does not change what this session downloads.
        let update = cl.update_create(&item, None).await.unwrap();
        cl.push(&update, "a.txt", b"version two").await;
        cl.update_complete(&update).await.unwrap();
        assert_eq!(cl.http.get(&uri).send().await.unwrap().bytes().await.unwrap(), &b"version one"[..]);

        cl.download_fail(&session, "disk full").await.unwrap();
        let state = cl.download_get(&session).await.unwrap();
        assert_eq!(state.state, Some(DownloadSessionState::Error));
        assert_eq!(state.error_message.unwrap().default_message, "disk full");
        assert_error(cl.download_fail(&session, "again").await, "NOT_ALLOWED_IN_CURRENT_STATE");
        assert_error(cl.download_create("no-such-item", None).await, "NOT_FOUND");
    }
}

#[tokio::test]
async fn unprepared_files_and_unknown_uris_are_refused() {
    let sim = sim().await;
    let cl = Cl::login(&sim, Dialect::Api).await;
    let lib = cl.library("lib").await;
    let item = cl.item_with(&lib, "item", &[("a.txt", b"x"), ("b.txt", b"y")]).await;
    let session = cl.download_create(&item, None).await.unwrap();
    let uri = cl.prepared_uri(&session, "a.txt").await;
    assert_eq!(
        cl.http
            .get(uri.replace("/a.txt", "/b.txt").replace("/cls/data/", "/cls/data/x"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    assert_eq!(cl.http.get(format!("{}/cls/data/nothing/a.txt", sim.url())).send().await.unwrap().status(), 404);
}

// ---------------------------------------------------------------------------------------------
// Faults

#[tokio::test]
async fn injected_unavailability_and_latency() {
    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        sim.faults().fail_next(2);
        for _ in 0..2 {
            let f = assert_error(cl.library_find("x").await, "SERVICE_UNAVAILABLE");
            assert_eq!(f.status, 503);
        }
        cl.library_find("x").await.unwrap();

        sim.faults().set_latency(Duration::from_millis(150));
        let started = Instant::now();
        cl.library_find("x").await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(150));
        sim.faults().set_latency(Duration::ZERO);
    }
}

#[tokio::test]
async fn injected_download_faults() {
    let sim = sim().await;
    let cl = Cl::login(&sim, Dialect::Api).await;
    let lib = cl.library("lib").await;
    let content: Vec<u8> = (0..300_000u32).map(|i| (i * 7 % 256) as u8).collect();
    let item = cl.item_with(&lib, "item", &[("f.bin", &content)]).await;
    let session = cl.download_create(&item, None).await.unwrap();
    let uri = cl.prepared_uri(&session, "f.bin").await;

    // A dropped connection: the body ends early with an error, never silently short.
    sim.faults().drop_next_transfer_after(100_000);
    let failed = match cl.http.get(&uri).send().await {
        Err(_) => true, // cut before the headers went out
        Ok(response) => response.bytes().await.is_err(),
    };
    assert!(failed, "a cut connection must surface as an error, never as a short body");
    // Resuming with Range from the cut works.
    let rest = cl.http.get(&uri).header("range", "bytes=100000-").send().await.unwrap().bytes().await.unwrap();
    assert_eq!(rest, &content[100_000..]);

    // A corrupt byte.
    sim.faults().corrupt_next_download_at(12_345);
    let body = cl.http.get(&uri).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(body.len(), content.len());
    assert_ne!(sha256(&body), sha256(&content));
    assert_eq!(body[12_345], content[12_345] ^ 0xff);
    // Only that download.
    assert_eq!(cl.http.get(&uri).send().await.unwrap().bytes().await.unwrap(), content);

    // A stall.
    sim.faults().stall_next_transfer(1000, Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(cl.http.get(&uri).send().await.unwrap().bytes().await.unwrap(), content);
    assert!(started.elapsed() >= Duration::from_millis(300));
}

#[tokio::test]
async fn injected_upload_drop_marks_the_file_and_a_retry_succeeds() {
    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        let lib = cl.library("lib").await;
        let item = cl.item(&lib, "item").await;
        let session = cl.update_create(&item, None).await.unwrap();
        let content = vec![7u8; 500_000];
        let uri = cl.file_add(&session, push_spec("big.bin", &content)).await.unwrap().upload_endpoint.unwrap().uri;
        sim.faults().drop_next_transfer_after(64 * 1024);
        let result = cl.http.put(&uri).body(content.clone()).send().await;
        assert!(result.is_err() || !result.unwrap().status().is_success(), "a cut upload must not look successful");
        let file = cl.file_get(&session, "big.bin").await.unwrap();
        assert_eq!(file.status, TransferStatus::Error);
        assert!(file.error_message.unwrap().default_message.contains("cut"));
        // Sending the file again restarts it.
        assert_eq!(cl.http.put(&uri).body(content.clone()).send().await.unwrap().status(), 200);
        assert_eq!(cl.file_get(&session, "big.bin").await.unwrap().status, TransferStatus::Ready);
        cl.update_complete(&session).await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// TLS and PULL

#[tokio::test]
async fn https_with_a_generated_certificate_and_its_thumbprint_in_endpoints() {
    let sim = cl_sim::Simulator::start(cl_sim::SimConfig::default()).await.unwrap();
    assert!(sim.url().starts_with("https://"));
    // Without the CA the certificate is refused.
    let plain = reqwest::Client::new();
    assert!(plain.get(format!("{}/api/session", sim.url())).send().await.is_err());

    let cl = Cl::login(&sim, Dialect::Api).await;
    let lib = cl.library("lib").await;
    let item = cl.item(&lib, "item").await;
    let session = cl.update_create(&item, None).await.unwrap();
    let added = cl.file_add(&session, push_spec("a", b"a")).await.unwrap();
    let endpoint = added.upload_endpoint.unwrap();
    assert!(endpoint.uri.starts_with("https://"));
    assert_eq!(endpoint.ssl_certificate_thumbprint, sim.thumbprint_sha1());
    let thumbprint: cl_tls::Thumbprint = endpoint.ssl_certificate_thumbprint.unwrap().parse().unwrap();
    let der = cl_tls::pem_certificates(sim.certificate_pem().unwrap()).unwrap().remove(0);
    assert!(thumbprint.matches(&der));
}

#[tokio::test]
async fn pull_fetches_from_a_source_honouring_its_thumbprint() {
    // The source is another simulator's download endpoint, over HTTPS.
    let source = cl_sim::Simulator::start(cl_sim::SimConfig::default()).await.unwrap();
    let src = Cl::login(&source, Dialect::Api).await;
    let lib = src.library("src").await;
    let content = b"pulled content".repeat(5000);
    let item = src.item_with(&lib, "item", &[("disk.vmdk", &content)]).await;
    let dl = src.download_create(&item, None).await.unwrap();
    let uri = src.prepared_uri(&dl, "disk.vmdk").await;

    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        let lib = cl.library("lib").await;
        let item = cl.item(&lib, "item").await;
        let session = cl.update_create(&item, None).await.unwrap();
        let pem = source.certificate_pem().unwrap().to_owned();
        let other = cl_sim::Simulator::start(cl_sim::SimConfig::default()).await.unwrap();
        for (name, thumbprint, certificate, expect) in [
            ("good.vmdk", Some(source.thumbprint_sha256().unwrap()), None, TransferStatus::Ready),
            ("bad.vmdk", Some("00".repeat(20)), None, TransferStatus::Error),
            // vSphere 9's PEM pin wins over the thumbprint.
            ("pem.vmdk", Some("00".repeat(20)), Some(pem.clone()), TransferStatus::Ready),
            ("wrong-pem.vmdk", None, Some(other.certificate_pem().unwrap().to_owned()), TransferStatus::Error),
        ] {
            let spec = UpdateFileAddSpec {
                name: name.into(),
                source_type: SourceType::Pull,
                source_endpoint: Some(TransferEndpoint {
                    uri: uri.clone(),
                    ssl_certificate_thumbprint: thumbprint,
                    ssl_certificate: certificate,
                }),
                size: Some(content.len() as i64),
                checksum_info: Some(ChecksumInfo {
                    algorithm: Some(ChecksumAlgorithm::Sha256),
                    checksum: sha256(&content),
                }),
            };
            let added = cl.file_add(&session, spec).await.unwrap();
            assert!(added.upload_endpoint.is_none());
            let mut status = added.status;
            for _ in 0..300 {
                status = cl.file_get(&session, name).await.unwrap().status;
                if matches!(status, TransferStatus::Ready | TransferStatus::Error) {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            assert_eq!(status, expect, "{name}");
        }
        cl.file_remove(&session, "bad.vmdk").await.unwrap();
        cl.file_remove(&session, "wrong-pem.vmdk").await.unwrap();
        cl.update_complete(&session).await.unwrap();
        assert_eq!(cl.item_file(&item, "good.vmdk").await.unwrap().size, Some(content.len() as i64));

        // file: and ds: sources need a privilege the simulated user lacks.
        let session = cl.update_create(&item, None).await.unwrap();
        let spec = UpdateFileAddSpec {
            name: "x".into(),
            source_type: SourceType::Pull,
            source_endpoint: Some(TransferEndpoint {
                uri: "ds:///vmfs/volumes/1/x".into(),
                ssl_certificate_thumbprint: None,
                ssl_certificate: None,
            }),
            size: None,
            checksum_info: None,
        };
        let f = assert_error(cl.file_add(&session, spec).await, "UNAUTHORIZED");
        assert_eq!(f.status, 403);
    }
}

#[tokio::test]
async fn unknown_operations_get_a_dialect_error() {
    for dialect in BOTH {
        let sim = sim().await;
        let cl = Cl::login(&sim, dialect).await;
        let path = match dialect {
            Dialect::Api => "/api/content/library/item/download-session/x?action=explode",
            Dialect::Rest => "/rest/com/vmware/content/library/item/download-session/id:x?~action=explode",
        };
        let response = cl
            .http
            .post(format!("{}{path}", sim.url()))
            .header(cl_api::SESSION_HEADER, cl.hooks.session_id().unwrap())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 404);
        let body: serde_json::Value = response.json().await.unwrap();
        match dialect {
            Dialect::Api => assert_eq!(body["error_type"], "OPERATION_NOT_FOUND"),
            Dialect::Rest => assert_eq!(body["type"], "com.vmware.vapi.std.errors.operation_not_found"),
        }
    }
}
