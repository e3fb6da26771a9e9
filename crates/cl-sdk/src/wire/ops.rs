//! How each operation the SDK uses is sent in each dialect: which generated method, and how
//! `/rest` wraps request bodies and answers (`{"value": …}`, lists that may be `null`). Which
//! operation it is, its name and whether it is safe to repeat come from the operation table
//! (`cl_api::operation`), which is generated from the spec.

use cl_api::types::*;

use super::{Op, api, api_or_empty, op, void};
use crate::session::{Download, Update};

// --- the API session

pub(crate) fn session_create<'a>() -> Op<'a, String> {
    op!(SessionCreate, |c|
        api: api(c.session_create()).await,
        rest: api(c.rest_session_create()).await.map(|v| v.value))
}

pub(crate) fn session_get<'a>() -> Op<'a, SessionInfo> {
    op!(SessionGet, |c|
        api: api(c.session_get()).await,
        rest: api(c.rest_session_get()).await.map(|v| v.value))
}

pub(crate) fn session_delete<'a>() -> Op<'a, ()> {
    op!(SessionDelete, |c|
        api: void(c.session_delete()).await,
        rest: void(c.rest_session_delete()).await)
}

// --- libraries and items

pub(crate) fn library_find<'a>(spec: LibraryFindSpec) -> Op<'a, Vec<String>> {
    op!(LibraryFind, [spec] |c|
        api: api(c.library_find(&spec)).await,
        rest: api(c.rest_library_find(&RestLibraryFind { spec })).await.map(|v| v.value.unwrap_or_default()))
}

pub(crate) fn library_get(id: &str) -> Op<'_, LibraryModel> {
    op!(LibraryGet, |c|
        api: api(c.library_get(id)).await,
        rest: api(c.rest_library_get(id)).await.map(|v| v.value))
}

pub(crate) fn library_list<'a>() -> Op<'a, Vec<String>> {
    op!(LibraryList, |c|
        api: api(c.library_list()).await,
        rest: api(c.rest_library_list()).await.map(|v| v.value.unwrap_or_default()))
}

pub(crate) fn local_library_create<'a>(spec: LibraryModel, token: String) -> Op<'a, String> {
    op!(LocalLibraryCreate, [spec, token] |c|
        api: api(c.local_library_create(Some(&token), &spec)).await,
        rest: api(c.rest_local_library_create(&RestLibraryCreate { client_token: Some(token), create_spec: spec }))
            .await
            .map(|v| v.value))
}

pub(crate) fn local_library_delete(id: &str) -> Op<'_, ()> {
    op!(LocalLibraryDelete, |c|
        api: void(c.local_library_delete(id)).await,
        rest: void(c.rest_local_library_delete(id)).await)
}

pub(crate) fn item_find<'a>(spec: ItemFindSpec) -> Op<'a, Vec<String>> {
    op!(ItemFind, [spec] |c|
        api: api(c.item_find(&spec)).await,
        rest: api(c.rest_item_find(&RestItemFind { spec })).await.map(|v| v.value.unwrap_or_default()))
}

pub(crate) fn item_get(id: &str) -> Op<'_, ItemModel> {
    op!(ItemGet, |c|
        api: api(c.item_get(id)).await,
        rest: api(c.rest_item_get(id)).await.map(|v| v.value))
}

pub(crate) fn item_list(library_id: &str) -> Op<'_, Vec<String>> {
    op!(ItemList, |c|
        api: api(c.item_list(library_id)).await,
        rest: api(c.rest_item_list(library_id)).await.map(|v| v.value.unwrap_or_default()))
}

pub(crate) fn item_create<'a>(spec: ItemModel, token: String) -> Op<'a, String> {
    op!(ItemCreate, [spec, token] |c|
        api: api(c.item_create(Some(&token), &spec)).await,
        rest: api(c.rest_item_create(&RestItemCreate { client_token: Some(token), create_spec: spec }))
            .await
            .map(|v| v.value))
}

pub(crate) fn item_delete(id: &str) -> Op<'_, ()> {
    op!(ItemDelete, |c|
        api: void(c.item_delete(id)).await,
        rest: void(c.rest_item_delete(id)).await)
}

pub(crate) fn item_update(id: &str, spec: ItemModel) -> Op<'_, ()> {
    let versioned = spec.version.is_some();
    op!(ItemUpdate, [spec] |c|
        api: void(c.item_update(id, &spec)).await,
        rest: void(c.rest_item_update(id, &RestItemUpdate { update_spec: spec })).await)
    .versioned(versioned)
}

pub(crate) fn library_update(id: &str, spec: LibraryModel) -> Op<'_, ()> {
    let versioned = spec.version.is_some();
    op!(LibraryUpdate, [spec] |c|
        api: void(c.library_update(id, &spec)).await,
        rest: void(c.rest_library_update(id, &RestLibraryUpdate { update_spec: spec })).await)
    .versioned(versioned)
}

pub(crate) fn item_file_list(id: &str) -> Op<'_, Vec<ItemFileInfo>> {
    op!(ItemFileList, |c|
        api: api(c.item_file_list(id)).await,
        rest: api(c.rest_item_file_list(id)).await.map(|v| v.value.unwrap_or_default()))
}

pub(crate) fn datastore_list<'a>(names: Option<Vec<String>>) -> Op<'a, Vec<DatastoreSummary>> {
    op!(DatastoreList, [names] |c|
        api: api(c.datastore_list(names.as_ref())).await,
        rest: api(c.rest_datastore_list(names.as_ref())).await.map(|v| v.value.unwrap_or_default()))
}

// --- the operations both session kinds have

/// What each session kind sends for the lifecycle both kinds share.
pub(crate) trait SessionWire: crate::SessionKind {
    /// What the kind is called in messages.
    const NAME: &'static str;
    /// Creates a session; the client token makes the create idempotent.
    fn create<'a>(item_id: &str, token: &str) -> Op<'a, String>;
    fn list(item_id: Option<&str>) -> Op<'_, Vec<String>>;
    fn get(id: &str) -> Op<'_, Self::Info>;
    fn keep_alive(id: &str, progress: Option<i64>) -> Op<'_, ()>;
    fn cancel(id: &str) -> Op<'_, ()>;
    fn fail<'a>(id: &'a str, message: &str) -> Op<'a, ()>;
    fn delete(id: &str) -> Op<'_, ()>;
    fn files(id: &str) -> Op<'_, Vec<Self::File>>;
    fn file<'a>(id: &'a str, name: &'a str) -> Op<'a, Self::File>;
}

impl SessionWire for Download {
    const NAME: &'static str = "download session";

    fn create<'a>(item_id: &str, token: &str) -> Op<'a, String> {
        let spec = DownloadSessionModel { library_item_id: Some(item_id.to_owned()), ..Default::default() };
        let token = token.to_owned();
        op!(DownloadSessionCreate, [spec, token] |c|
            api: api(c.download_session_create(Some(&token), &spec)).await,
            rest: api(c.rest_download_session_create(&RestDownloadSessionCreate { client_token: Some(token), create_spec: spec }))
                .await
                .map(|v| v.value))
    }

    fn list(item_id: Option<&str>) -> Op<'_, Vec<String>> {
        op!(DownloadSessionList, |c|
            api: api(c.download_session_list(item_id)).await,
            rest: api(c.rest_download_session_list(item_id)).await.map(|v| v.value.unwrap_or_default()))
    }

    fn get(id: &str) -> Op<'_, DownloadSessionModel> {
        op!(DownloadSessionGet, |c|
            api: api(c.download_session_get(id)).await,
            rest: api(c.rest_download_session_get(id)).await.map(|v| v.value))
    }

    fn keep_alive(id: &str, progress: Option<i64>) -> Op<'_, ()> {
        let body = DownloadSessionKeepAliveSpec { progress };
        op!(DownloadSessionKeepAlive, [body] |c|
            api: void(c.download_session_keep_alive(id, &body)).await,
            rest: void(c.rest_download_session_keep_alive(id, &body)).await)
    }

    fn cancel(id: &str) -> Op<'_, ()> {
        op!(DownloadSessionCancel, |c|
            api: void(c.download_session_cancel(id)).await,
            rest: void(c.rest_download_session_cancel(id)).await)
    }

    fn fail<'a>(id: &'a str, message: &str) -> Op<'a, ()> {
        let body = FailSpec { client_error_message: message.to_owned() };
        op!(DownloadSessionFail, [body] |c|
            api: void(c.download_session_fail(id, &body)).await,
            rest: void(c.rest_download_session_fail(id, &body)).await)
    }

    fn delete(id: &str) -> Op<'_, ()> {
        op!(DownloadSessionDelete, |c|
            api: void(c.download_session_delete(id)).await,
            rest: void(c.rest_download_session_delete(id)).await)
    }

    fn files(id: &str) -> Op<'_, Vec<DownloadFileInfo>> {
        op!(DownloadSessionFileList, |c|
            api: api(c.download_session_file_list(id)).await,
            rest: api(c.rest_download_session_file_list(id)).await.map(|v| v.value.unwrap_or_default()))
    }

    fn file<'a>(id: &'a str, name: &'a str) -> Op<'a, DownloadFileInfo> {
        op!(DownloadSessionFileGet, |c|
            api: api(c.download_session_file_get(id, name)).await,
            rest: api(c.rest_download_session_file_get(id, &FileNameSpec { file_name: name.to_owned() }))
                .await
                .map(|v| v.value))
    }
}

impl SessionWire for Update {
    const NAME: &'static str = "update session";

    fn create<'a>(item_id: &str, token: &str) -> Op<'a, String> {
        let spec = UpdateSessionModel { library_item_id: Some(item_id.to_owned()), ..Default::default() };
        let token = token.to_owned();
        op!(UpdateSessionCreate, [spec, token] |c|
            api: api(c.update_session_create(Some(&token), &spec)).await,
            rest: api(c.rest_update_session_create(&RestUpdateSessionCreate { client_token: Some(token), create_spec: spec }))
                .await
                .map(|v| v.value))
    }

    fn list(item_id: Option<&str>) -> Op<'_, Vec<String>> {
        op!(UpdateSessionList, |c|
            api: api(c.update_session_list(item_id)).await,
            rest: api(c.rest_update_session_list(item_id)).await.map(|v| v.value.unwrap_or_default()))
    }

    fn get(id: &str) -> Op<'_, UpdateSessionModel> {
        op!(UpdateSessionGet, |c|
            api: api(c.update_session_get(id)).await,
            rest: api(c.rest_update_session_get(id)).await.map(|v| v.value))
    }

    fn keep_alive(id: &str, progress: Option<i64>) -> Op<'_, ()> {
        let body = UpdateSessionKeepAliveSpec { client_progress: progress };
        op!(UpdateSessionKeepAlive, [body] |c|
            api: void(c.update_session_keep_alive(id, &body)).await,
            rest: void(c.rest_update_session_keep_alive(id, &body)).await)
    }

    fn cancel(id: &str) -> Op<'_, ()> {
        op!(UpdateSessionCancel, |c|
            api: void(c.update_session_cancel(id)).await,
            rest: void(c.rest_update_session_cancel(id)).await)
    }

    fn fail<'a>(id: &'a str, message: &str) -> Op<'a, ()> {
        let body = FailSpec { client_error_message: message.to_owned() };
        op!(UpdateSessionFail, [body] |c|
            api: void(c.update_session_fail(id, &body)).await,
            rest: void(c.rest_update_session_fail(id, &body)).await)
    }

    fn delete(id: &str) -> Op<'_, ()> {
        op!(UpdateSessionDelete, |c|
            api: void(c.update_session_delete(id)).await,
            rest: void(c.rest_update_session_delete(id)).await)
    }

    fn files(id: &str) -> Op<'_, Vec<UpdateFileInfo>> {
        op!(UpdateSessionFileList, |c|
            api: api(c.update_session_file_list(id)).await,
            rest: api(c.rest_update_session_file_list(id)).await.map(|v| v.value.unwrap_or_default()))
    }

    fn file<'a>(id: &'a str, name: &'a str) -> Op<'a, UpdateFileInfo> {
        op!(UpdateSessionFileGet, |c|
            api: api(c.update_session_file_get(id, name)).await,
            rest: api(c.rest_update_session_file_get(id, &FileNameSpec { file_name: name.to_owned() }))
                .await
                .map(|v| v.value))
    }
}

// --- what only one kind has

pub(crate) fn download_session_file_prepare<'a>(id: &'a str, name: &str) -> Op<'a, DownloadFileInfo> {
    let body = DownloadFilePrepareSpec { file_name: name.to_owned(), endpoint_type: Some(EndpointType::Https) };
    op!(DownloadSessionFilePrepare, [body] |c|
        api: api(c.download_session_file_prepare(id, &body)).await,
        rest: api(c.rest_download_session_file_prepare(id, &body)).await.map(|v| v.value))
}

pub(crate) fn update_session_update(id: &str, spec: UpdateSessionModel) -> Op<'_, ()> {
    op!(UpdateSessionUpdate, [spec] |c|
        api: void(c.update_session_update(id, &spec)).await,
        rest: void(c.rest_update_session_update(id, &RestUpdateSessionUpdate { update_spec: spec })).await)
}

pub(crate) fn update_session_complete(id: &str) -> Op<'_, ()> {
    op!(UpdateSessionComplete, |c|
        api: void(c.update_session_complete(id)).await,
        rest: void(c.rest_update_session_complete(id)).await)
}

pub(crate) fn update_session_file_add(id: &str, spec: UpdateFileAddSpec) -> Op<'_, UpdateFileInfo> {
    op!(UpdateSessionFileAdd, [spec] |c|
        api: api(c.update_session_file_add(id, &spec)).await,
        rest: api(c.rest_update_session_file_add(id, &RestFileAddSpec { file_spec: spec })).await.map(|v| v.value))
}

pub(crate) fn update_session_file_remove<'a>(id: &'a str, name: &'a str) -> Op<'a, ()> {
    op!(UpdateSessionFileRemove, |c|
        api: void(c.update_session_file_remove(id, name)).await,
        rest: void(c.rest_update_session_file_remove(id, &FileNameSpec { file_name: name.to_owned() })).await)
}

/// `None` when the server answers without a result (govmomi's vcsim does).
pub(crate) fn update_session_file_validate(id: &str) -> Op<'_, Option<ValidationResult>> {
    op!(UpdateSessionFileValidate, |c|
        api: api_or_empty(c.update_session_file_validate(id)).await,
        rest: api_or_empty(c.rest_update_session_file_validate(id)).await.map(|v| v.map(|v| v.value)))
}
