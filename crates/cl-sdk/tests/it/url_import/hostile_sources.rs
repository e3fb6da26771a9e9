//! Sources that contradict themselves, stay busy, name files out of their folder, redirect away, or outlast a deadline; and the retry count every repeat of a file shares.

use super::*;

/// A transfer is done only when the bytes received are exactly one version of the source, as
/// its own answers prove: a first look that understates the size, a body that goes on past it, a
/// resume of another total, an encoding nobody asked for; each is refused, nothing is left.
#[tokio::test]
async fn a_source_whose_answers_contradict_its_size_lands_nowhere() {
    let bed = bed().await;
    let iso = content(900_000, 7);
    bed.put("x.iso", &iso);
    let url = format!("{}/x.iso", bed.base);
    type Case = (&'static str, fn(&mut Faults), ErrorKind);
    let cases: [Case; 4] = [
        ("half", |f| f.head_size = Some(450_000), ErrorKind::Verification),
        ("endless", |f| f.endless = true, ErrorKind::Verification),
        (
            "other-total",
            |f| {
                f.cut_after = Some(300_000);
                f.total = Some(1_800_000);
            },
            ErrorKind::Verification,
        ),
        ("gzip", |f| f.gzip = true, ErrorKind::Decode),
    ];
    for (item, fault, kind) in cases {
        *bed.files.faults.lock().unwrap() = Faults::default();
        fault(&mut bed.files.faults.lock().unwrap());
        bed.files.seen.lock().unwrap().clear();
        let result = bed.import(item, &url).await;
        let error = result.expect_err(item);
        assert_eq!(error.kind(), kind, "{item}: {error}");
        assert!(error.to_string().contains("x.iso"), "{item}: names the source: {error}");
        assert!(bed.client.find_items(&bed.library, item).await.unwrap().is_empty(), "{item}: the item was removed");
        assert!(bed.client.sessions::<cl_sdk::Update>(None).await.unwrap().is_empty(), "{item}");
    }
    // The honest control passes.
    *bed.files.faults.lock().unwrap() = Faults::default();
    let report = bed.import("honest", &url).await.unwrap();
    assert_eq!(bed.item(&report.item_id).await["x.iso"], iso);
}

/// A source's 503 is as transient as vCenter's: waited out with backoff (Retry-After honoured),
/// resumed where it stopped; when it does not pass, the error names the source, not vCenter.
#[tokio::test]
async fn a_busy_source_is_waited_out_and_blamed_when_it_stays_busy() {
    let bed = bed().await;
    let iso = content(600_000, 8);
    bed.put("busy.iso", &iso);
    let url = format!("{}/busy.iso", bed.base);
    {
        let mut faults = bed.files.faults.lock().unwrap();
        faults.cut_after = Some(150_000);
        faults.unavailable = 0;
    }
    // The first GET is cut; the resumes meet two 503s first.
    let files = bed.files.clone();
    let busy = tokio::spawn(async move {
        for _ in 0..200 {
            if files.seen.lock().unwrap().len() >= 2 {
                files.faults.lock().unwrap().unavailable = 2;
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    let report = bed.import("busy", &url).await.unwrap();
    busy.await.unwrap();
    assert_eq!(bed.item(&report.item_id).await["busy.iso"], iso);

    bed.files.faults.lock().unwrap().unavailable = 1_000;
    let error = bed.import("down", &url).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ServiceUnavailable, "{error}");
    let text = error.to_string();
    assert!(text.contains("the source") && text.contains("503"), "{text}");
    assert!(!text.contains("the server rejected"), "vCenter is not blamed: {text}");
    assert!(bed.client.find_items(&bed.library, "down").await.unwrap().is_empty());
}

/// Names from an archive or a descriptor become item names only by the one rule: `..` as a
/// member, `%2e%2e` or another host as a reference are refused before anything is fetched.
#[tokio::test]
async fn member_and_reference_names_cannot_climb_out() {
    let bed = bed().await;
    let mut builder = tar::Builder::new(Vec::new());
    for name in ["app.ovf", ".."] {
        let mut header = tar::Header::new_ustar();
        header.set_size(3);
        header.set_mode(0o644);
        // Written raw: tar-rs would refuse to set `..` as a path.
        header.as_ustar_mut().unwrap().name[..name.len()].copy_from_slice(name.as_bytes());
        header.set_cksum();
        builder.append(&header, &b"abc"[..]).unwrap();
    }
    bed.put("dots.ova", &builder.into_inner().unwrap());
    let error = bed.import("dots", &format!("{}/dots.ova", bed.base)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    assert!(error.to_string().contains("not a plain file name"), "{error}");

    bed.put("up/secret.vmdk", b"not yours");
    for href in ["%2e%2e/secret.vmdk", "%2e%2e", "http://127.0.0.1:9/x.vmdk", "..%2fsecret.vmdk"] {
        let ovf = format!(
            r#"<?xml version="1.0"?><Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:href="ok.vmdk"/><File ovf:href="{href}"/></References></Envelope>"#
        );
        bed.put("up/set/web.ovf", ovf.as_bytes());
        bed.put("up/set/ok.vmdk", b"fine");
        bed.files.seen.lock().unwrap().clear();
        let error = bed.import("web", &format!("{}/up/set/web.ovf", bed.base)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{href}: {error}");
        assert!(error.to_string().contains("not a file beside it"), "{href}: {error}");
        let paths: Vec<String> = bed.files.seen.lock().unwrap().iter().map(|(_, p, _, _)| p.clone()).collect();
        assert!(paths.iter().all(|p| p == "/up/set/web.ovf"), "{href}: nothing else was fetched: {paths:?}");
    }
    // A name with a space, percent-encoded as an href should be, is fetched as itself (and keeps
    // the href as its name in the item, which is what the descriptor's reference names).
    let ovf = br#"<?xml version="1.0"?><Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:href="disk%201.vmdk"/></References></Envelope>"#;
    bed.put("sp/web.ovf", ovf);
    bed.put("sp/disk 1.vmdk", b"spaced");
    let report = bed.import("spaced", &format!("{}/sp/web.ovf", bed.base)).await.unwrap();
    assert_eq!(bed.item(&report.item_id).await["disk%201.vmdk"], b"spaced");
}

/// A descriptor's references are looked at over one client, a few at a time: not a connection
/// per file.
#[tokio::test]
async fn many_references_share_one_client() {
    let bed = bed().await;
    let refs: String = (0..60).map(|i| format!(r#"<File ovf:href="d{i}.bin"/>"#)).collect();
    let ovf = format!(
        r#"<?xml version="1.0"?><Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References>{refs}</References></Envelope>"#
    );
    bed.put("many/x.ovf", ovf.as_bytes());
    for i in 0..60 {
        bed.put(&format!("many/d{i}.bin"), format!("file {i}").as_bytes());
    }
    let report = bed.import("many", &format!("{}/many/x.ovf", bed.base)).await.unwrap();
    assert_eq!(report.files.len(), 61);
    let connections = bed.files.peers.lock().unwrap().len();
    assert!(connections <= 16, "{connections} connections for 61 files");
}

/// An item that does not list an imported file after DONE fails the import.
#[tokio::test]
async fn an_import_the_item_does_not_list_after_done_fails() {
    let bed = bed().await;
    bed.put("gone.iso", &content(50_000, 9));
    bed.sim.faults().hide_item_files(Some("gone.iso"));
    let error = bed.import("gone", &format!("{}/gone.iso", bed.base)).await.unwrap_err();
    bed.sim.faults().clear();
    assert_eq!(error.kind(), ErrorKind::Verification, "{error}");
    assert!(error.to_string().contains("does not list it"), "{error}");
    assert!(bed.client.find_items(&bed.library, "gone").await.unwrap().is_empty());
}

/// One deadline for the whole job: a slow look at the source and a slow send each fit in it, but
/// not together, and the import stops at the deadline (it used to give each phase a deadline of
/// its own), cleaning up.
#[tokio::test]
async fn the_deadline_covers_planning_and_sending_together() {
    let bed = bed().await;
    bed.put("slow.iso", &content(10_000, 11));
    bed.files.faults.lock().unwrap().head_delay = Some(Duration::from_millis(1200));
    bed.sim.faults().set_latency(Duration::from_millis(150));
    // A client that waits out the slow look (the bed's gives up on a silent answer at 500 ms).
    let client = Client::builder(bed.sim.url())
        .credentials(bed.sim.username(), bed.sim.password())
        .stall_timeout(Duration::from_secs(10))
        .connect()
        .await
        .unwrap();
    let deadline = Duration::from_secs(2);
    let started = std::time::Instant::now();
    let file = UploadFile::url(&format!("{}/slow.iso", bed.base), SourceTrust::default());
    let options = UploadOptions::default().deadline(deadline);
    let error =
        client.upload_new_item(&bed.library, "slow", &cl_sdk::ItemType::File, vec![file], options).await.unwrap_err();
    let took = started.elapsed();
    bed.sim.faults().clear();
    assert_eq!(error.kind(), ErrorKind::WaitTimedOut, "{error}");
    // The deadline, and the cleanup after it (a few calls at 150 ms each).
    assert!(took < deadline + Duration::from_millis(1500), "took {took:?}");
    assert!(bed.client.find_items(&bed.library, "slow").await.unwrap().is_empty(), "cleaned up");
}

/// `retries(n)` is the file's one count: a source that makes no progress, whatever way it
/// breaks, is fetched at most n + 1 times in all (resumes inside the stream and re-sends of the
/// whole file together, which used to multiply).
#[tokio::test]
async fn retries_bound_every_repeat_of_a_file_together() {
    let bed = bed().await;
    bed.put("stuck.iso", &content(900_000, 12));
    let url = format!("{}/stuck.iso", bed.base);
    type Break = (&'static str, fn(&mut Faults));
    let breaks: [Break; 3] = [
        ("unavailable", |f| f.unavailable = 1_000),
        ("cut at byte 0", |f| {
            f.cut_after = Some(0);
            f.always_cut = true;
        }),
        // Bytes, a break inside the stream (which the source resumes itself), then nothing but
        // 503s: the resumes and the re-sends used to have a count each, and multiplied.
        ("cut, then busy", |f| {
            f.cut_after = Some(300_000);
            f.busy_after_first = true;
        }),
    ];
    for retries in [0u32, 1, 2] {
        for (how, fault) in breaks {
            *bed.files.faults.lock().unwrap() = Faults::default();
            fault(&mut bed.files.faults.lock().unwrap());
            bed.files.seen.lock().unwrap().clear();
            let file = UploadFile::url(&url, SourceTrust::default());
            let options = UploadOptions::default().retries(retries);
            let item = format!("stuck-{retries}-{}", how.len());
            assert!(
                bed.client
                    .upload_new_item(&bed.library, &item, &cl_sdk::ItemType::File, vec![file], options)
                    .await
                    .is_err()
            );
            let gets = bed.files.seen.lock().unwrap().iter().filter(|(m, _, _, _)| m == "GET").count();
            assert_eq!(gets, retries as usize + 1, "{how}, retries({retries})");
        }
    }
}

/// A redirect from an https source never goes to plain http (pinned or not), and never off the
/// origin of a source pinned by thumbprint; within the origin it is followed.
#[tokio::test]
async fn redirects_never_leave_https_or_a_pinned_origin() {
    let bed = bed().await;
    let iso = content(20_000, 13);
    bed.put("x.iso", &iso);
    let plain = format!("{}/x.iso", bed.base);
    let served = iso.clone();
    let router = axum::Router::new()
        .route("/down.iso", axum::routing::any(move || async move { axum::response::Redirect::to(&plain) }))
        .route("/moved.iso", axum::routing::any(|| async { axum::response::Redirect::to("/x.iso") }))
        .route("/x.iso", axum::routing::any(move || async move { served.clone() }));
    let https = cl_sim::HttpsServer::start(router).await.unwrap();
    let pinned = || SourceTrust::default().pin_thumbprint(&https.thumbprint_sha1);
    let trusted = || SourceTrust::default().add_ca_pem(&https.ca_pem);
    for (item, trust) in [("pinned", pinned()), ("trusted", trusted())] {
        bed.files.seen.lock().unwrap().clear();
        let file = UploadFile::url(&format!("{}/down.iso", https.url), trust);
        let error = bed
            .client
            .upload_new_item(&bed.library, item, &cl_sdk::ItemType::File, vec![file], UploadOptions::default())
            .await;
        let error = error.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::RedirectRefused, "{item}: {error}");
        assert!(bed.files.seen.lock().unwrap().is_empty(), "{item}: nothing reached the plain-http server");
        assert!(bed.client.find_items(&bed.library, item).await.unwrap().is_empty());
    }
    let file = UploadFile::url(&format!("{}/moved.iso", https.url), pinned());
    let report = bed
        .client
        .upload_new_item(&bed.library, "moved", &cl_sdk::ItemType::File, vec![file], UploadOptions::default())
        .await;
    assert_eq!(bed.item(&report.unwrap().item_id).await["moved.iso"], iso);
}
