//! The simulator's rules through the generated client in both dialects, part two: download
//! sessions, injected faults, HTTPS and PULL, unknown operations.

use crate::common;

use std::time::{Duration, Instant};

use cl_api::types::*;
use common::*;

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
