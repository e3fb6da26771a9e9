//! Wire tests of the generated client: pointed at a local server that records each request and
//! answers with a canned response, every operation of the `/api` dialect must send exactly the documented
//! method, path, query and body, and decode the documented success and error bodies.

use crate::wire;

#[allow(unused_imports)]
use wire::*;

#[tokio::test]
async fn api_download_session_operations() {
    let w = Wire::start().await;
    let c = &w.client;
    let model = t::DownloadSessionModel { library_item_id: Some("item-1".into()), ..Default::default() };
    let id = w
        .ok(
            (201, "\"ds-1\""),
            c.download_session_create(Some("tok-9"), &model),
            &format!("POST {API}/download-session?client_token=tok-9"),
            Some(json!({"library_item_id": "item-1"})),
        )
        .await;
    assert_eq!(id, "ds-1");
    w.ok(
        (201, "\"ds-1\""),
        c.download_session_create(None, &model),
        &format!("POST {API}/download-session"),
        Some(json!({"library_item_id": "item-1"})),
    )
    .await;
    let ids = w
        .ok(
            (200, "[\"ds-1\",\"ds-2\"]"),
            c.download_session_list(Some("item-1")),
            &format!("GET {API}/download-session?library_item_id=item-1"),
            None,
        )
        .await;
    assert_eq!(ids, ["ds-1", "ds-2"]);
    w.ok((200, "[]"), c.download_session_list(None), &format!("GET {API}/download-session"), None).await;
    let session = json!({"library_item_id": "item-1", "library_item_content_version": "2", "client_progress": 0,
                         "state": "ACTIVE", "expiration_time": "2026-11-23T10:00:00Z"});
    let got = w
        .ok(
            (200, &session.to_string()),
            c.download_session_get("ds-1"),
            &format!("GET {API}/download-session/ds-1"),
            None,
        )
        .await;
    assert_eq!(got.state, Some(t::DownloadSessionState::Active));
    w.ok((204, ""), c.download_session_delete("ds-1"), &format!("DELETE {API}/download-session/ds-1"), None).await;
    w.ok(
        (204, ""),
        c.download_session_keep_alive("ds-1", &t::DownloadSessionKeepAliveSpec { progress: Some(40) }),
        &format!("POST {API}/download-session/ds-1?action=keep-alive"),
        Some(json!({"progress": 40})),
    )
    .await;
    w.ok(
        (204, ""),
        c.download_session_keep_alive("ds-1", &Default::default()),
        &format!("POST {API}/download-session/ds-1?action=keep-alive"),
        Some(json!({})),
    )
    .await;
    w.ok(
        (204, ""),
        c.download_session_cancel("ds-1"),
        &format!("POST {API}/download-session/ds-1?action=cancel"),
        None,
    )
    .await;
    let fail = t::FailSpec { client_error_message: "disk full".into() };
    w.ok(
        (204, ""),
        c.download_session_fail("ds-1", &fail),
        &format!("POST {API}/download-session/ds-1?action=fail"),
        Some(json!({"client_error_message": "disk full"})),
    )
    .await;

    // Files.
    let files = w
        .ok(
            (200, &format!("[{}]", file_info())),
            c.download_session_file_list("ds-1"),
            &format!("GET {API}/download-session/ds-1/file"),
            None,
        )
        .await;
    assert_eq!(files[0].status, t::PrepareStatus::Prepared);
    let prepare = t::DownloadFilePrepareSpec { file_name: "a.ovf".into(), endpoint_type: Some(t::EndpointType::Https) };
    w.ok(
        (200, &file_info()),
        c.download_session_file_prepare("ds-1", &prepare),
        &format!("POST {API}/download-session/ds-1/file?action=prepare"),
        Some(json!({"file_name": "a.ovf", "endpoint_type": "HTTPS"})),
    )
    .await;
    // The get shares its path with the list; the query tells them apart, and odd names stay intact.
    let got = w
        .ok(
            (200, &file_info()),
            c.download_session_file_get("ds-1", "disk 1&x=y+z.vmdk"),
            &format!("GET {API}/download-session/ds-1/file?file_name=disk+1%26x%3Dy%2Bz.vmdk"),
            None,
        )
        .await;
    assert_eq!(got.download_endpoint.unwrap().ssl_certificate_thumbprint.as_deref(), Some("AA:BB"));
}

#[tokio::test]
async fn api_update_session_operations() {
    let w = Wire::start().await;
    let c = &w.client;
    // Update-session ids contain a colon; it must reach the server intact.
    let sid = "4f1a:9c7e";
    let model = t::UpdateSessionModel { library_item_id: Some("item-1".into()), ..Default::default() };
    w.ok(
        (201, "\"4f1a:9c7e\""),
        c.update_session_create(Some("tok-1"), &model),
        &format!("POST {API}/update-session?client_token=tok-1"),
        Some(json!({"library_item_id": "item-1"})),
    )
    .await;
    w.ok(
        (200, "[]"),
        c.update_session_list(Some("item-1")),
        &format!("GET {API}/update-session?library_item_id=item-1"),
        None,
    )
    .await;
    let session = json!({"library_item_id": "item-1", "state": "ACTIVE", "client_progress": 10,
                         "preview_info": {"state": "AVAILABLE", "warnings": [{"type": "SELF_SIGNED_CERTIFICATE", "ignored": false,
                         "message": {"id": "m", "default_message": "self-signed", "args": []}}]}});
    let got = w
        .ok((200, &session.to_string()), c.update_session_get(sid), &format!("GET {API}/update-session/{sid}"), None)
        .await;
    assert_eq!(got.preview_info.unwrap().warnings[0].type_, t::WarningType::SelfSignedCertificate);
    let patch = t::UpdateSessionModel {
        warning_behavior: vec![t::WarningBehavior { type_: t::WarningType::SelfSignedCertificate, ignored: true }],
        ..Default::default()
    };
    w.ok(
        (204, ""),
        c.update_session_update(sid, &patch),
        &format!("PATCH {API}/update-session/{sid}"),
        Some(json!({"warning_behavior": [{"type": "SELF_SIGNED_CERTIFICATE", "ignored": true}]})),
    )
    .await;
    w.ok((204, ""), c.update_session_delete(sid), &format!("DELETE {API}/update-session/{sid}"), None).await;
    w.ok((204, ""), c.update_session_complete(sid), &format!("POST {API}/update-session/{sid}?action=complete"), None)
        .await;
    w.ok(
        (204, ""),
        c.update_session_keep_alive(sid, &t::UpdateSessionKeepAliveSpec { client_progress: Some(55) }),
        &format!("POST {API}/update-session/{sid}?action=keep-alive"),
        Some(json!({"client_progress": 55})),
    )
    .await;
    w.ok((204, ""), c.update_session_cancel(sid), &format!("POST {API}/update-session/{sid}?action=cancel"), None)
        .await;
    w.ok(
        (204, ""),
        c.update_session_fail(sid, &t::FailSpec { client_error_message: "bad".into() }),
        &format!("POST {API}/update-session/{sid}?action=fail"),
        Some(json!({"client_error_message": "bad"})),
    )
    .await;

    // Files.
    let add = t::UpdateFileAddSpec {
        name: "a.ovf".into(),
        source_type: t::SourceType::Push,
        size: Some(3),
        checksum_info: Some(t::ChecksumInfo { algorithm: Some(t::ChecksumAlgorithm::Sha256), checksum: "ab".into() }),
        source_endpoint: None,
    };
    let added = w
        .ok((201, &update_file_info()), c.update_session_file_add(sid, &add), &format!("POST {API}/update-session/{sid}/file"),
            Some(json!({"name": "a.ovf", "source_type": "PUSH", "size": 3, "checksum_info": {"algorithm": "SHA256", "checksum": "ab"}})))
        .await;
    assert_eq!(added.upload_endpoint.unwrap().uri, "https://h/cls/data/y/a.ovf");
    w.ok(
        (200, &format!("[{}]", update_file_info())),
        c.update_session_file_list(sid),
        &format!("GET {API}/update-session/{sid}/file"),
        None,
    )
    .await;
    // A file name with a space and a slash stays one path segment.
    w.ok(
        (200, &update_file_info()),
        c.update_session_file_get(sid, "my disk/1.vmdk"),
        &format!("GET {API}/update-session/{sid}/file/my%20disk%2F1.vmdk"),
        None,
    )
    .await;
    w.ok(
        (204, ""),
        c.update_session_file_remove(sid, "a.ovf"),
        &format!("DELETE {API}/update-session/{sid}/file/a.ovf"),
        None,
    )
    .await;
    let result = json!({"has_errors": true, "missing_files": ["a.vmdk"],
                        "invalid_files": [{"name": "a.mf", "error_message": {"id": "e", "default_message": "bad manifest", "args": []}}]});
    let v = w
        .ok(
            (200, &result.to_string()),
            c.update_session_file_validate(sid),
            &format!("POST {API}/update-session/{sid}/file?action=validate"),
            None,
        )
        .await;
    assert!(v.has_errors);
    assert_eq!(v.missing_files, ["a.vmdk"]);
}
