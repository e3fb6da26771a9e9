//! Wire tests of the generated client: pointed at a local server that records each request and
//! answers with a canned response, every operation of both dialects outside the transfer sessions (login, libraries, items) and every error body must send exactly the documented
//! method, path, query and body, and decode the documented success and error bodies.

use crate::wire;

#[allow(unused_imports)]
use wire::*;

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
    // govc's library.update sends exactly these bodies: only the fields that change.
    let item_spec = t::ItemModel { name: Some("photon-5".into()), version: Some("7".into()), ..Default::default() };
    w.ok(
        (204, ""),
        c.item_update("item-1", &item_spec),
        "PATCH /api/content/library/item/item-1",
        Some(json!({"name": "photon-5", "version": "7"})),
    )
    .await;
    w.ok(
        (200, ""),
        c.rest_item_update("item-1", &t::RestItemUpdate { update_spec: item_spec.clone() }),
        "PATCH /rest/com/vmware/content/library/item/id:item-1",
        Some(json!({"update_spec": {"name": "photon-5", "version": "7"}})),
    )
    .await;
    let library_spec = t::LibraryModel { description: Some("golden images".into()), ..Default::default() };
    w.ok(
        (204, ""),
        c.library_update("lib-1", &library_spec),
        "PATCH /api/content/library/lib-1",
        Some(json!({"description": "golden images"})),
    )
    .await;
    w.ok(
        (200, ""),
        c.rest_library_update("lib-1", &t::RestLibraryUpdate { update_spec: library_spec.clone() }),
        "PATCH /rest/com/vmware/content/library/id:lib-1",
        Some(json!({"update_spec": {"description": "golden images"}})),
    )
    .await;
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

#[tokio::test]
async fn the_datastore_listing_in_both_dialects() {
    let w = Wire::start().await;
    let c = &w.client;
    let summary = r#"{"datastore":"datastore-11","name":"ds 1","type":"VMFS","free_space":1024,"capacity":4096}"#;
    let names = vec!["ds 1".to_owned(), "ds 2".to_owned()];
    let found: Vec<t::DatastoreSummary> = w
        .ok(
            (200, &format!("[{summary}]")),
            c.datastore_list(Some(&names)),
            "GET /api/vcenter/datastore?names=ds+1&names=ds+2",
            None,
        )
        .await;
    assert_eq!((found[0].datastore.as_str(), found[0].name.as_str()), ("datastore-11", "ds 1"));
    assert_eq!(found[0].type_, t::DatastoreType::Vmfs);
    w.ok((200, "[]"), c.datastore_list(None), "GET /api/vcenter/datastore", None).await;
    let rest = w
        .ok(
            (200, &format!("{{\"value\":[{summary}]}}")),
            c.rest_datastore_list(Some(&names[..1].to_vec())),
            "GET /rest/vcenter/datastore?filter.names=ds+1",
            None,
        )
        .await;
    assert_eq!(rest.value.unwrap()[0].capacity, Some(4096));
    // A newer type is not a failed listing; vcsim's `null` list is an empty one.
    let newer = w
        .ok(
            (200, r#"[{"datastore":"d","name":"n","type":"PMEM"}]"#),
            c.datastore_list(None),
            "GET /api/vcenter/datastore",
            None,
        )
        .await;
    assert_eq!(newer[0].type_, t::DatastoreType::Unknown("PMEM".into()));
    let none = w.ok((200, "{\"value\":null}"), c.rest_datastore_list(None), "GET /rest/vcenter/datastore", None).await;
    assert!(none.value.is_none());
}
