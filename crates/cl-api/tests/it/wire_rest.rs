//! Wire tests of the generated client: pointed at a local server that records each request and
//! answers with a canned response, every operation of the legacy `/rest` dialect must send exactly the documented
//! method, path, query and body, and decode the documented success and error bodies.

use crate::wire;

#[allow(unused_imports)]
use wire::*;

#[tokio::test]
async fn rest_download_session_operations() {
    let w = Wire::start().await;
    let c = &w.client;
    let create = t::RestDownloadSessionCreate {
        client_token: Some("tok-2".into()),
        create_spec: t::DownloadSessionModel { library_item_id: Some("item-1".into()), ..Default::default() },
    };
    let id = w
        .ok(
            (200, "{\"value\":\"ds-1\"}"),
            c.rest_download_session_create(&create),
            &format!("POST {REST}/download-session"),
            Some(json!({"client_token": "tok-2", "create_spec": {"library_item_id": "item-1"}})),
        )
        .await;
    assert_eq!(id.value, "ds-1");
    w.ok(
        (200, "{\"value\":[]}"),
        c.rest_download_session_list(Some("item-1")),
        &format!("GET {REST}/download-session?library_item_id=item-1"),
        None,
    )
    .await;
    w.ok(
        (200, &wrap("{\"state\":\"CANCELED\"}")),
        c.rest_download_session_get("ds-1"),
        &format!("GET {REST}/download-session/id:ds-1"),
        None,
    )
    .await;
    // Void actions answer 200 with an empty body.
    w.ok((200, ""), c.rest_download_session_delete("ds-1"), &format!("DELETE {REST}/download-session/id:ds-1"), None)
        .await;
    w.ok(
        (200, ""),
        c.rest_download_session_keep_alive("ds-1", &t::DownloadSessionKeepAliveSpec { progress: Some(5) }),
        &format!("POST {REST}/download-session/id:ds-1?~action=keep-alive"),
        Some(json!({"progress": 5})),
    )
    .await;
    w.ok(
        (200, ""),
        c.rest_download_session_cancel("ds-1"),
        &format!("POST {REST}/download-session/id:ds-1?~action=cancel"),
        None,
    )
    .await;
    w.ok(
        (200, ""),
        c.rest_download_session_fail("ds-1", &t::FailSpec { client_error_message: "x".into() }),
        &format!("POST {REST}/download-session/id:ds-1?~action=fail"),
        Some(json!({"client_error_message": "x"})),
    )
    .await;
    let files = w
        .ok(
            (200, &wrap(&format!("[{}]", file_info()))),
            c.rest_download_session_file_list("ds-1"),
            &format!("GET {REST}/downloadsession/file?download_session_id=ds-1"),
            None,
        )
        .await;
    assert_eq!(files.value.map(|v| v.len()), Some(1));
    w.ok(
        (200, &wrap(&file_info())),
        c.rest_download_session_file_get("ds-1", &t::FileNameSpec { file_name: "a.ovf".into() }),
        &format!("POST {REST}/downloadsession/file/id:ds-1?~action=get"),
        Some(json!({"file_name": "a.ovf"})),
    )
    .await;
    let prepare = t::DownloadFilePrepareSpec { file_name: "a.ovf".into(), endpoint_type: None };
    w.ok(
        (200, &wrap(&file_info())),
        c.rest_download_session_file_prepare("ds-1", &prepare),
        &format!("POST {REST}/downloadsession/file/id:ds-1?~action=prepare"),
        Some(json!({"file_name": "a.ovf"})),
    )
    .await;
}

#[tokio::test]
async fn rest_update_session_operations() {
    let w = Wire::start().await;
    let c = &w.client;
    let sid = "4f1a:9c7e";
    let create = t::RestUpdateSessionCreate {
        client_token: None,
        create_spec: t::UpdateSessionModel { library_item_id: Some("item-1".into()), ..Default::default() },
    };
    w.ok(
        (200, "{\"value\":\"4f1a:9c7e\"}"),
        c.rest_update_session_create(&create),
        &format!("POST {REST}/update-session"),
        Some(json!({"create_spec": {"library_item_id": "item-1"}})),
    )
    .await;
    w.ok(
        (200, "{\"value\":[\"4f1a:9c7e\"]}"),
        c.rest_update_session_list(None),
        &format!("GET {REST}/update-session"),
        None,
    )
    .await;
    w.ok(
        (200, &wrap("{\"state\":\"DONE\"}")),
        c.rest_update_session_get(sid),
        &format!("GET {REST}/update-session/id:{sid}"),
        None,
    )
    .await;
    let update = t::RestUpdateSessionUpdate {
        update_spec: t::UpdateSessionModel {
            warning_behavior: vec![t::WarningBehavior { type_: t::WarningType::ExpiredCertificate, ignored: true }],
            ..Default::default()
        },
    };
    w.ok(
        (200, ""),
        c.rest_update_session_update(sid, &update),
        &format!("PATCH {REST}/update-session/id:{sid}"),
        Some(json!({"update_spec": {"warning_behavior": [{"type": "EXPIRED_CERTIFICATE", "ignored": true}]}})),
    )
    .await;
    w.ok((200, ""), c.rest_update_session_delete(sid), &format!("DELETE {REST}/update-session/id:{sid}"), None).await;
    w.ok(
        (200, ""),
        c.rest_update_session_complete(sid),
        &format!("POST {REST}/update-session/id:{sid}?~action=complete"),
        None,
    )
    .await;
    w.ok(
        (200, ""),
        c.rest_update_session_keep_alive(sid, &Default::default()),
        &format!("POST {REST}/update-session/id:{sid}?~action=keep-alive"),
        Some(json!({})),
    )
    .await;
    w.ok(
        (200, ""),
        c.rest_update_session_cancel(sid),
        &format!("POST {REST}/update-session/id:{sid}?~action=cancel"),
        None,
    )
    .await;
    w.ok(
        (200, ""),
        c.rest_update_session_fail(sid, &t::FailSpec { client_error_message: "y".into() }),
        &format!("POST {REST}/update-session/id:{sid}?~action=fail"),
        Some(json!({"client_error_message": "y"})),
    )
    .await;

    let add = t::RestFileAddSpec {
        file_spec: t::UpdateFileAddSpec {
            name: "disk.vmdk".into(),
            source_type: t::SourceType::Pull,
            source_endpoint: Some(t::TransferEndpoint {
                uri: "https://src/disk.vmdk".into(),
                ssl_certificate_thumbprint: Some("AB:CD".into()),
                ssl_certificate: None,
            }),
            size: None,
            checksum_info: None,
        },
    };
    w.ok((200, &wrap(&update_file_info())), c.rest_update_session_file_add(sid, &add), &format!("POST {REST}/updatesession/file/id:{sid}?~action=add"),
         Some(json!({"file_spec": {"name": "disk.vmdk", "source_type": "PULL", "source_endpoint": {"uri": "https://src/disk.vmdk", "ssl_certificate_thumbprint": "AB:CD"}}}))).await;
    w.ok(
        (200, &wrap(&format!("[{}]", update_file_info()))),
        c.rest_update_session_file_list(sid),
        &format!("GET {REST}/updatesession/file?update_session_id=4f1a%3A9c7e"),
        None,
    )
    .await;
    let name = t::FileNameSpec { file_name: "a.ovf".into() };
    w.ok(
        (200, &wrap(&update_file_info())),
        c.rest_update_session_file_get(sid, &name),
        &format!("POST {REST}/updatesession/file/id:{sid}?~action=get"),
        Some(json!({"file_name": "a.ovf"})),
    )
    .await;
    w.ok(
        (200, ""),
        c.rest_update_session_file_remove(sid, &name),
        &format!("POST {REST}/updatesession/file/id:{sid}?~action=remove"),
        Some(json!({"file_name": "a.ovf"})),
    )
    .await;
    let result = json!({"value": {"has_errors": false, "missing_files": [], "invalid_files": []}});
    w.ok(
        (200, &result.to_string()),
        c.rest_update_session_file_validate(sid),
        &format!("POST {REST}/updatesession/file/id:{sid}?~action=validate"),
        None,
    )
    .await;
}
