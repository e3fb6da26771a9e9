//! Wire tests of the generated client: pointed at a local server that records each request and
//! answers with a canned response, every operation of both dialects must send exactly the
//! documented method, path, query and body, and decode the documented success and error bodies.

use std::fmt::Debug;
use std::future::Future;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cl_api::types::{self as t};
use cl_api::{Client, Error, Hooks, ResponseValue};
use serde_json::{Value, json};

/// One request as the server saw it.
#[derive(Debug, Clone)]
struct Seen {
    line: String,
    headers: HeaderMap,
    body: Bytes,
}

#[derive(Clone)]
struct Canned {
    status: u16,
    content_type: &'static str,
    body: String,
}

#[derive(Clone, Default)]
struct Shared {
    seen: Arc<Mutex<Vec<Seen>>>,
    reply: Arc<Mutex<Option<Canned>>>,
}

struct Wire {
    shared: Shared,
    client: Client,
    hooks: Hooks,
}

async fn record(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let line = format!("{} {}", parts.method, parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    shared.seen.lock().unwrap().push(Seen { line, headers: parts.headers, body });
    let canned = shared.reply.lock().unwrap().take().expect("a reply was set for this request");
    let status = StatusCode::from_u16(canned.status).unwrap();
    (status, [(header::CONTENT_TYPE, canned.content_type)], canned.body).into_response()
}

impl Wire {
    async fn start() -> Self {
        let shared = Shared::default();
        let app = axum::Router::new().fallback(record).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let hooks = Hooks::default();
        hooks.set_session_id(Some("session-token-1")).unwrap();
        let client = Client::new(&base, hooks.clone()).unwrap();
        Wire { shared, client, hooks }
    }

    /// Sets the reply, runs the call, checks the request line and JSON body, returns the result.
    async fn call<T, E, F>(&self, reply: (u16, &str), call: F, line: &str, body: Option<Value>) -> Result<T, Error<E>>
    where
        F: Future<Output = Result<ResponseValue<T>, Error<E>>>,
    {
        let (status, text) = reply;
        let content_type = if text.is_empty() { "text/plain" } else { "application/json" };
        *self.shared.reply.lock().unwrap() = Some(Canned { status, content_type, body: text.to_owned() });
        let result = call.await.map(ResponseValue::into_inner);
        let seen = self.shared.seen.lock().unwrap().pop().expect("the call reached the server");
        assert_eq!(seen.line, line);
        let sent: Option<Value> =
            (!seen.body.is_empty()).then(|| serde_json::from_slice(&seen.body).expect("a JSON body"));
        assert_eq!(sent, body, "body of {line}");
        assert!(seen.headers.get("api-version").is_none(), "{line}: progenitor's api-version header must go");
        if line.contains("/session")
            && !line.contains("-session")
            && line.starts_with("POST")
            && !line.contains("~action")
        {
            assert!(seen.headers.get(header::AUTHORIZATION).is_some(), "{line}: login sends basic credentials");
            assert!(seen.headers.get(cl_api::SESSION_HEADER).is_none(), "{line}: login sends no session");
        } else {
            assert_eq!(seen.headers[cl_api::SESSION_HEADER], "session-token-1", "{line}");
            assert!(seen.headers.get(header::AUTHORIZATION).is_none(), "{line}: credentials only on login");
        }
        result
    }

    /// A call that must succeed.
    async fn ok<T: Debug, E: Debug, F>(&self, reply: (u16, &str), call: F, line: &str, body: Option<Value>) -> T
    where
        F: Future<Output = Result<ResponseValue<T>, Error<E>>>,
    {
        self.call(reply, call, line, body).await.unwrap_or_else(|e| panic!("{line}: {e:?}"))
    }
}

const API: &str = "/api/content/library/item";
const REST: &str = "/rest/com/vmware/content/library/item";

fn file_info() -> String {
    json!({"name": "a.ovf", "bytes_transferred": 0, "status": "PREPARED", "size": 3,
           "download_endpoint": {"uri": "https://h/cls/data/x/a.ovf", "ssl_certificate_thumbprint": "AA:BB"}})
    .to_string()
}

fn update_file_info() -> String {
    json!({"name": "a.ovf", "source_type": "PUSH", "bytes_transferred": 0, "status": "WAITING_FOR_TRANSFER",
           "upload_endpoint": {"uri": "https://h/cls/data/y/a.ovf"}})
    .to_string()
}

fn wrap(inner: &str) -> String {
    format!("{{\"value\":{inner}}}")
}

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

#[tokio::test]
async fn sessions_in_both_dialects() {
    let w = Wire::start().await;
    let c = &w.client;
    w.hooks.set_login(Some(("administrator@vsphere.local", "pa:ss")));
    let token = w.ok((201, "\"tok-api\""), c.session_create(), "POST /api/session", None).await;
    assert_eq!(token, "tok-api");
    let token = w
        .ok((200, "{\"value\":\"tok-rest\"}"), c.rest_session_create(), "POST /rest/com/vmware/cis/session", None)
        .await;
    assert_eq!(token.value, "tok-rest");
    w.hooks.set_login(None);
    let info = json!({"user": "administrator@vsphere.local", "created_time": "2026-11-23T10:00:00Z", "last_accessed_time": "2026-11-23T10:05:00Z"});
    let got = w.ok((200, &info.to_string()), c.session_get(), "GET /api/session", None).await;
    assert_eq!(got.user, "administrator@vsphere.local");
    w.ok((200, &wrap(&info.to_string())), c.rest_session_get(), "POST /rest/com/vmware/cis/session?~action=get", None)
        .await;
    w.ok((204, ""), c.session_delete(), "DELETE /api/session", None).await;
    w.ok((200, ""), c.rest_session_delete(), "DELETE /rest/com/vmware/cis/session", None).await;
}

#[tokio::test]
async fn login_sends_the_basic_credentials() {
    let w = Wire::start().await;
    w.hooks.set_login(Some(("user", "pass")));
    *w.shared.reply.lock().unwrap() =
        Some(Canned { status: 201, content_type: "application/json", body: "\"t\"".into() });
    w.client.session_create().await.unwrap();
    let seen = w.shared.seen.lock().unwrap().pop().unwrap();
    assert_eq!(seen.headers[header::AUTHORIZATION], "Basic dXNlcjpwYXNz");
}

#[tokio::test]
async fn libraries_and_items_in_both_dialects() {
    let w = Wire::start().await;
    let c = &w.client;
    let library = t::LibraryModel {
        name: Some("lib".into()),
        type_: Some(t::LibraryType::Local),
        storage_backings: vec![t::StorageBacking {
            type_: Some(t::StorageBackingType::Datastore),
            datastore_id: Some("datastore-1".into()),
            storage_uri: None,
        }],
        ..Default::default()
    };
    let library_json = json!({"name": "lib", "type": "LOCAL", "storage_backings": [{"type": "DATASTORE", "datastore_id": "datastore-1"}]});
    w.ok(
        (201, "\"lib-1\""),
        c.local_library_create(None, &library),
        "POST /api/content/local-library",
        Some(library_json.clone()),
    )
    .await;
    w.ok(
        (200, "{\"value\":\"lib-1\"}"),
        c.rest_local_library_create(&t::RestLibraryCreate { client_token: None, create_spec: library.clone() }),
        "POST /rest/com/vmware/content/local-library",
        Some(json!({"create_spec": library_json})),
    )
    .await;
    w.ok((200, "[]"), c.local_library_list(), "GET /api/content/local-library", None).await;
    w.ok((200, "{\"value\":[]}"), c.rest_local_library_list(), "GET /rest/com/vmware/content/local-library", None)
        .await;
    w.ok((200, "{\"name\":\"lib\"}"), c.local_library_get("lib-1"), "GET /api/content/local-library/lib-1", None).await;
    w.ok(
        (200, &wrap("{\"name\":\"lib\"}")),
        c.rest_local_library_get("lib-1"),
        "GET /rest/com/vmware/content/local-library/id:lib-1",
        None,
    )
    .await;
    w.ok((204, ""), c.local_library_delete("lib-1"), "DELETE /api/content/local-library/lib-1", None).await;
    w.ok(
        (200, ""),
        c.rest_local_library_delete("lib-1"),
        "DELETE /rest/com/vmware/content/local-library/id:lib-1",
        None,
    )
    .await;
    w.ok((200, "[\"lib-1\"]"), c.library_list(), "GET /api/content/library", None).await;
    w.ok((200, "{\"value\":[\"lib-1\"]}"), c.rest_library_list(), "GET /rest/com/vmware/content/library", None).await;
    w.ok((200, "{\"type\":\"SUBSCRIBED\"}"), c.library_get("lib-1"), "GET /api/content/library/lib-1", None).await;
    w.ok((200, &wrap("{}")), c.rest_library_get("lib-1"), "GET /rest/com/vmware/content/library/id:lib-1", None).await;
    let find = t::LibraryFindSpec { name: Some("lib".into()), type_: None };
    w.ok(
        (200, "[\"lib-1\"]"),
        c.library_find(&find),
        "POST /api/content/library?action=find",
        Some(json!({"name": "lib"})),
    )
    .await;
    w.ok(
        (200, "{\"value\":[\"lib-1\"]}"),
        c.rest_library_find(&t::RestLibraryFind { spec: find.clone() }),
        "POST /rest/com/vmware/content/library?~action=find",
        Some(json!({"spec": {"name": "lib"}})),
    )
    .await;

    let item = t::ItemModel {
        library_id: Some("lib-1".into()),
        name: Some("photon".into()),
        type_: Some("ovf".into()),
        ..Default::default()
    };
    let item_json = json!({"library_id": "lib-1", "name": "photon", "type": "ovf"});
    w.ok(
        (201, "\"item-1\""),
        c.item_create(Some("tok-3"), &item),
        "POST /api/content/library/item?client_token=tok-3",
        Some(item_json.clone()),
    )
    .await;
    w.ok(
        (200, "{\"value\":\"item-1\"}"),
        c.rest_item_create(&t::RestItemCreate { client_token: Some("tok-3".into()), create_spec: item.clone() }),
        "POST /rest/com/vmware/content/library/item",
        Some(json!({"client_token": "tok-3", "create_spec": item_json})),
    )
    .await;
    w.ok((200, "[\"item-1\"]"), c.item_list("lib-1"), "GET /api/content/library/item?library_id=lib-1", None).await;
    w.ok(
        (200, "{\"value\":[\"item-1\"]}"),
        c.rest_item_list("lib-1"),
        "GET /rest/com/vmware/content/library/item?library_id=lib-1",
        None,
    )
    .await;
    let got = w
        .ok(
            (200, "{\"name\":\"photon\",\"content_version\":\"3\",\"size\":10}"),
            c.item_get("item-1"),
            "GET /api/content/library/item/item-1",
            None,
        )
        .await;
    assert_eq!(got.content_version.as_deref(), Some("3"));
    w.ok(
        (200, &wrap("{\"name\":\"photon\"}")),
        c.rest_item_get("item-1"),
        "GET /rest/com/vmware/content/library/item/id:item-1",
        None,
    )
    .await;
    w.ok((204, ""), c.item_delete("item-1"), "DELETE /api/content/library/item/item-1", None).await;
    w.ok((200, ""), c.rest_item_delete("item-1"), "DELETE /rest/com/vmware/content/library/item/id:item-1", None).await;
    let find = t::ItemFindSpec { name: Some("photon".into()), library_id: Some("lib-1".into()), ..Default::default() };
    w.ok(
        (200, "[\"item-1\"]"),
        c.item_find(&find),
        "POST /api/content/library/item?action=find",
        Some(json!({"name": "photon", "library_id": "lib-1"})),
    )
    .await;
    w.ok(
        (200, "{\"value\":[\"item-1\"]}"),
        c.rest_item_find(&t::RestItemFind { spec: find.clone() }),
        "POST /rest/com/vmware/content/library/item?~action=find",
        Some(json!({"spec": {"name": "photon", "library_id": "lib-1"}})),
    )
    .await;
    let file = json!({"name": "a.ovf", "size": 3, "cached": true, "version": "1", "checksum_info": {"algorithm": "SHA1", "checksum": "aa"}});
    let files = w
        .ok((200, &format!("[{file}]")), c.item_file_list("item-1"), "GET /api/content/library/item/item-1/file", None)
        .await;
    assert_eq!(files[0].checksum_info.as_ref().unwrap().algorithm, Some(t::ChecksumAlgorithm::Sha1));
    w.ok(
        (200, &wrap(&format!("[{file}]"))),
        c.rest_item_file_list("item-1"),
        "GET /rest/com/vmware/content/library/item/file?library_item_id=item-1",
        None,
    )
    .await;
    w.ok(
        (200, &file.to_string()),
        c.item_file_get("item-1", "a.ovf"),
        "GET /api/content/library/item/item-1/file?name=a.ovf",
        None,
    )
    .await;
    w.ok(
        (200, &wrap(&file.to_string())),
        c.rest_item_file_get("item-1", &t::ItemFileNameSpec { name: "a.ovf".into() }),
        "POST /rest/com/vmware/content/library/item/file/id:item-1?~action=get",
        Some(json!({"name": "a.ovf"})),
    )
    .await;
}

#[tokio::test]
async fn documented_errors_decode_in_each_dialect() {
    let w = Wire::start().await;
    let c = &w.client;
    let api_error = json!({"error_type": "NOT_FOUND", "messages": [{"id": "com.vmware.vapi.std.errors.not_found",
        "default_message": "Session ds-9 not found.", "args": ["ds-9"], "params": {"id": {"s": "ds-9"}}}]});
    let error = w
        .call(
            (404, &api_error.to_string()),
            c.download_session_get("ds-9"),
            &format!("GET {API}/download-session/ds-9"),
            None,
        )
        .await
        .unwrap_err();
    let Error::ErrorResponse(body) = error else { panic!("{error:?}") };
    assert_eq!(body.status(), 404);
    assert_eq!(body.error_type, Some(t::ErrorType::NotFound));
    assert_eq!(body.messages[0].default_message, "Session ds-9 not found.");
    assert!(matches!(body.messages[0].params, Some(t::LocalizationParams::Map(_))));

    // ResourceBusy arrives as 500 on /api for a second update session on an item.
    let busy = json!({"error_type": "RESOURCE_BUSY", "messages": []});
    let model = t::UpdateSessionModel { library_item_id: Some("item-1".into()), ..Default::default() };
    let error = w
        .call(
            (500, &busy.to_string()),
            c.update_session_create(None, &model),
            &format!("POST {API}/update-session"),
            Some(json!({"library_item_id": "item-1"})),
        )
        .await
        .unwrap_err();
    assert!(matches!(&error, Error::ErrorResponse(b) if b.error_type == Some(t::ErrorType::ResourceBusy)), "{error:?}");

    let rest_error = json!({"type": "com.vmware.vapi.std.errors.not_allowed_in_current_state", "value": {"messages": [
        {"id": "x", "default_message": "complete can not be invoked in the ERROR state", "args": [],
         "params": [{"key": "state", "value": {"s": "ERROR"}}]}]}});
    let error = w
        .call(
            (400, &rest_error.to_string()),
            c.rest_update_session_complete("a:b"),
            &format!("POST {REST}/update-session/id:a:b?~action=complete"),
            None,
        )
        .await
        .unwrap_err();
    let Error::ErrorResponse(body) = error else { panic!("{error:?}") };
    assert_eq!(body.type_, "com.vmware.vapi.std.errors.not_allowed_in_current_state");
    assert!(body.value.error_type.is_none(), "older vCenters leave error_type out of /rest errors");
    assert!(matches!(body.value.messages[0].params, Some(t::LocalizationParams::List(_))));

    // An undocumented status (a proxy's 502) is not mistaken for a documented error.
    let error = w
        .call((502, ""), c.download_session_get("ds-1"), &format!("GET {API}/download-session/ds-1"), None)
        .await
        .unwrap_err();
    assert!(matches!(error, Error::UnexpectedResponse(ref r) if r.status() == 502), "{error:?}");
}

#[tokio::test]
async fn rest_success_bodies_decode_whatever_their_content_type() {
    // Some servers (govmomi's vcsim among them) label JSON as text/plain.
    let w = Wire::start().await;
    *w.shared.reply.lock().unwrap() =
        Some(Canned { status: 200, content_type: "text/plain; charset=utf-8", body: "{\"value\":\"ds-1\"}".into() });
    let create = t::RestDownloadSessionCreate { client_token: None, create_spec: Default::default() };
    let id = w.client.rest_download_session_create(&create).await.unwrap().into_inner();
    assert_eq!(id.value, "ds-1");
}
