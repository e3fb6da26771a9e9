//! Every operation the SDK uses, once: its id, whether it is safe to repeat, and how each dialect
//! sends it (`/rest` wraps request bodies and answers `{"value": …}`, lists may be `null`).

use cl_api::Dialect;
use cl_api::types::*;

use super::{Op, api, api_or_empty, void};
use crate::retry::Repeat::{Safe, Unsafe};
use crate::session::{Download, Update};

/// Builds an [`Op`]: `[owned, …]` are cloned into each attempt; `$api` and `$rest` are the two
/// dialects' sends, with the generated client bound to `$c`.
macro_rules! op {
    ($id:literal, $repeat:expr, [$($own:ident),*] |$c:ident| api: $api:expr, rest: $rest:expr $(,)?) => {
        Op::new($id, $repeat, move |$c, dialect| {
            $(let $own = $own.clone();)*
            Box::pin(async move {
                match dialect {
                    Dialect::Api => $api,
                    Dialect::Rest => $rest,
                }
            })
        })
    };
    ($id:literal, $repeat:expr, |$c:ident| api: $api:expr, rest: $rest:expr $(,)?) => {
        op!($id, $repeat, [] |$c| api: $api, rest: $rest)
    };
}

// --- the API session

/// Logging in twice only leaves an extra session to idle out. Errors name it `login`.
pub(crate) fn session_create<'a>() -> Op<'a, String> {
    op!("login", Safe, |c|
        api: api(c.session_create()).await,
        rest: api(c.rest_session_create()).await.map(|v| v.value))
}

pub(crate) fn session_get<'a>() -> Op<'a, SessionInfo> {
    op!("session_get", Safe, |c|
        api: api(c.session_get()).await,
        rest: api(c.rest_session_get()).await.map(|v| v.value))
}

pub(crate) fn session_delete<'a>() -> Op<'a, ()> {
    op!("session_delete", Unsafe, |c|
        api: void(c.session_delete()).await,
        rest: void(c.rest_session_delete()).await)
}

// --- libraries and items

pub(crate) fn library_find<'a>(spec: LibraryFindSpec) -> Op<'a, Vec<String>> {
    op!("library_find", Safe, [spec] |c|
        api: api(c.library_find(&spec)).await,
        rest: api(c.rest_library_find(&RestLibraryFind { spec })).await.map(|v| v.value.unwrap_or_default()))
}

pub(crate) fn library_get(id: &str) -> Op<'_, LibraryModel> {
    op!("library_get", Safe, |c|
        api: api(c.library_get(id)).await,
        rest: api(c.rest_library_get(id)).await.map(|v| v.value))
}

pub(crate) fn library_list<'a>() -> Op<'a, Vec<String>> {
    op!("library_list", Safe, |c|
        api: api(c.library_list()).await,
        rest: api(c.rest_library_list()).await.map(|v| v.value.unwrap_or_default()))
}

/// The client token makes the create idempotent.
pub(crate) fn local_library_create<'a>(spec: LibraryModel, token: String) -> Op<'a, String> {
    op!("local_library_create", Safe, [spec, token] |c|
        api: api(c.local_library_create(Some(&token), &spec)).await,
        rest: api(c.rest_local_library_create(&RestLibraryCreate { client_token: Some(token), create_spec: spec }))
            .await
            .map(|v| v.value))
}

pub(crate) fn local_library_delete(id: &str) -> Op<'_, ()> {
    op!("local_library_delete", Unsafe, |c|
        api: void(c.local_library_delete(id)).await,
        rest: void(c.rest_local_library_delete(id)).await)
}

pub(crate) fn item_find<'a>(spec: ItemFindSpec) -> Op<'a, Vec<String>> {
    op!("item_find", Safe, [spec] |c|
        api: api(c.item_find(&spec)).await,
        rest: api(c.rest_item_find(&RestItemFind { spec })).await.map(|v| v.value.unwrap_or_default()))
}

pub(crate) fn item_get(id: &str) -> Op<'_, ItemModel> {
    op!("item_get", Safe, |c|
        api: api(c.item_get(id)).await,
        rest: api(c.rest_item_get(id)).await.map(|v| v.value))
}

pub(crate) fn item_list(library_id: &str) -> Op<'_, Vec<String>> {
    op!("item_list", Safe, |c|
        api: api(c.item_list(library_id)).await,
        rest: api(c.rest_item_list(library_id)).await.map(|v| v.value.unwrap_or_default()))
}

/// The client token makes the create idempotent.
pub(crate) fn item_create<'a>(spec: ItemModel, token: String) -> Op<'a, String> {
    op!("item_create", Safe, [spec, token] |c|
        api: api(c.item_create(Some(&token), &spec)).await,
        rest: api(c.rest_item_create(&RestItemCreate { client_token: Some(token), create_spec: spec }))
            .await
            .map(|v| v.value))
}

pub(crate) fn item_delete(id: &str) -> Op<'_, ()> {
    op!("item_delete", Unsafe, |c|
        api: void(c.item_delete(id)).await,
        rest: void(c.rest_item_delete(id)).await)
}

/// Setting the same name and description twice changes nothing more, so a lost reply may be
/// retried; an update bound to a version may not (the first attempt moved the version on).
fn update_repeat(version: &Option<String>) -> crate::retry::Repeat {
    if version.is_some() { Unsafe } else { Safe }
}

pub(crate) fn item_update(id: &str, spec: ItemModel) -> Op<'_, ()> {
    op!("item_update", update_repeat(&spec.version), [spec] |c|
        api: void(c.item_update(id, &spec)).await,
        rest: void(c.rest_item_update(id, &RestItemUpdate { update_spec: spec })).await)
}

pub(crate) fn library_update(id: &str, spec: LibraryModel) -> Op<'_, ()> {
    op!("library_update", update_repeat(&spec.version), [spec] |c|
        api: void(c.library_update(id, &spec)).await,
        rest: void(c.rest_library_update(id, &RestLibraryUpdate { update_spec: spec })).await)
}

pub(crate) fn item_file_list(id: &str) -> Op<'_, Vec<ItemFileInfo>> {
    op!("item_file_list", Safe, |c|
        api: api(c.item_file_list(id)).await,
        rest: api(c.rest_item_file_list(id)).await.map(|v| v.value.unwrap_or_default()))
}

pub(crate) fn datastore_list(name: Option<&str>) -> Op<'_, Vec<DatastoreSummary>> {
    op!("datastore_list", Safe, |c|
        api: api(c.datastore_list(name)).await,
        rest: api(c.rest_datastore_list(name)).await.map(|v| v.value.unwrap_or_default()))
}

// --- the operations both session kinds have

/// What each session kind sends for the lifecycle both kinds share. Sealed: implemented for
/// this crate's two kinds only.
pub trait SessionWire: Send + Sync + Sized + 'static {
    /// The session's model.
    type Info: Send;
    /// One file's state in the session.
    type File: Send;
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
    type Info = DownloadSessionModel;
    type File = DownloadFileInfo;
    const NAME: &'static str = "download session";

    fn create<'a>(item_id: &str, token: &str) -> Op<'a, String> {
        let spec = DownloadSessionModel { library_item_id: Some(item_id.to_owned()), ..Default::default() };
        let token = token.to_owned();
        op!("download_session_create", Safe, [spec, token] |c|
            api: api(c.download_session_create(Some(&token), &spec)).await,
            rest: api(c.rest_download_session_create(&RestDownloadSessionCreate { client_token: Some(token), create_spec: spec }))
                .await
                .map(|v| v.value))
    }

    fn list(item_id: Option<&str>) -> Op<'_, Vec<String>> {
        op!("download_session_list", Safe, |c|
            api: api(c.download_session_list(item_id)).await,
            rest: api(c.rest_download_session_list(item_id)).await.map(|v| v.value.unwrap_or_default()))
    }

    fn get(id: &str) -> Op<'_, DownloadSessionModel> {
        op!("download_session_get", Safe, |c|
            api: api(c.download_session_get(id)).await,
            rest: api(c.rest_download_session_get(id)).await.map(|v| v.value))
    }

    fn keep_alive(id: &str, progress: Option<i64>) -> Op<'_, ()> {
        let body = DownloadSessionKeepAliveSpec { progress };
        op!("download_session_keep_alive", Safe, [body] |c|
            api: void(c.download_session_keep_alive(id, &body)).await,
            rest: void(c.rest_download_session_keep_alive(id, &body)).await)
    }

    fn cancel(id: &str) -> Op<'_, ()> {
        op!("download_session_cancel", Unsafe, |c|
            api: void(c.download_session_cancel(id)).await,
            rest: void(c.rest_download_session_cancel(id)).await)
    }

    fn fail<'a>(id: &'a str, message: &str) -> Op<'a, ()> {
        let body = FailSpec { client_error_message: message.to_owned() };
        op!("download_session_fail", Unsafe, [body] |c|
            api: void(c.download_session_fail(id, &body)).await,
            rest: void(c.rest_download_session_fail(id, &body)).await)
    }

    fn delete(id: &str) -> Op<'_, ()> {
        op!("download_session_delete", Unsafe, |c|
            api: void(c.download_session_delete(id)).await,
            rest: void(c.rest_download_session_delete(id)).await)
    }

    fn files(id: &str) -> Op<'_, Vec<DownloadFileInfo>> {
        op!("download_session_file_list", Safe, |c|
            api: api(c.download_session_file_list(id)).await,
            rest: api(c.rest_download_session_file_list(id)).await.map(|v| v.value.unwrap_or_default()))
    }

    fn file<'a>(id: &'a str, name: &'a str) -> Op<'a, DownloadFileInfo> {
        op!("download_session_file_get", Safe, |c|
            api: api(c.download_session_file_get(id, name)).await,
            rest: api(c.rest_download_session_file_get(id, &FileNameSpec { file_name: name.to_owned() }))
                .await
                .map(|v| v.value))
    }
}

impl SessionWire for Update {
    type Info = UpdateSessionModel;
    type File = UpdateFileInfo;
    const NAME: &'static str = "update session";

    fn create<'a>(item_id: &str, token: &str) -> Op<'a, String> {
        let spec = UpdateSessionModel { library_item_id: Some(item_id.to_owned()), ..Default::default() };
        let token = token.to_owned();
        op!("update_session_create", Safe, [spec, token] |c|
            api: api(c.update_session_create(Some(&token), &spec)).await,
            rest: api(c.rest_update_session_create(&RestUpdateSessionCreate { client_token: Some(token), create_spec: spec }))
                .await
                .map(|v| v.value))
    }

    fn list(item_id: Option<&str>) -> Op<'_, Vec<String>> {
        op!("update_session_list", Safe, |c|
            api: api(c.update_session_list(item_id)).await,
            rest: api(c.rest_update_session_list(item_id)).await.map(|v| v.value.unwrap_or_default()))
    }

    fn get(id: &str) -> Op<'_, UpdateSessionModel> {
        op!("update_session_get", Safe, |c|
            api: api(c.update_session_get(id)).await,
            rest: api(c.rest_update_session_get(id)).await.map(|v| v.value))
    }

    fn keep_alive(id: &str, progress: Option<i64>) -> Op<'_, ()> {
        let body = UpdateSessionKeepAliveSpec { client_progress: progress };
        op!("update_session_keep_alive", Safe, [body] |c|
            api: void(c.update_session_keep_alive(id, &body)).await,
            rest: void(c.rest_update_session_keep_alive(id, &body)).await)
    }

    fn cancel(id: &str) -> Op<'_, ()> {
        op!("update_session_cancel", Unsafe, |c|
            api: void(c.update_session_cancel(id)).await,
            rest: void(c.rest_update_session_cancel(id)).await)
    }

    fn fail<'a>(id: &'a str, message: &str) -> Op<'a, ()> {
        let body = FailSpec { client_error_message: message.to_owned() };
        op!("update_session_fail", Unsafe, [body] |c|
            api: void(c.update_session_fail(id, &body)).await,
            rest: void(c.rest_update_session_fail(id, &body)).await)
    }

    fn delete(id: &str) -> Op<'_, ()> {
        op!("update_session_delete", Unsafe, |c|
            api: void(c.update_session_delete(id)).await,
            rest: void(c.rest_update_session_delete(id)).await)
    }

    fn files(id: &str) -> Op<'_, Vec<UpdateFileInfo>> {
        op!("update_session_file_list", Safe, |c|
            api: api(c.update_session_file_list(id)).await,
            rest: api(c.rest_update_session_file_list(id)).await.map(|v| v.value.unwrap_or_default()))
    }

    fn file<'a>(id: &'a str, name: &'a str) -> Op<'a, UpdateFileInfo> {
        op!("update_session_file_get", Safe, |c|
            api: api(c.update_session_file_get(id, name)).await,
            rest: api(c.rest_update_session_file_get(id, &FileNameSpec { file_name: name.to_owned() }))
                .await
                .map(|v| v.value))
    }
}

// --- what only one kind has

/// Preparing a file twice is harmless: the server keeps one preparation.
pub(crate) fn download_session_file_prepare<'a>(id: &'a str, name: &str) -> Op<'a, DownloadFileInfo> {
    let body = DownloadFilePrepareSpec { file_name: name.to_owned(), endpoint_type: Some(EndpointType::Https) };
    op!("download_session_file_prepare", Safe, [body] |c|
        api: api(c.download_session_file_prepare(id, &body)).await,
        rest: api(c.rest_download_session_file_prepare(id, &body)).await.map(|v| v.value))
}

/// Setting the same warning behavior twice leaves the same session.
pub(crate) fn update_session_update(id: &str, spec: UpdateSessionModel) -> Op<'_, ()> {
    op!("update_session_update", Safe, [spec] |c|
        api: void(c.update_session_update(id, &spec)).await,
        rest: void(c.rest_update_session_update(id, &RestUpdateSessionUpdate { update_spec: spec })).await)
}

pub(crate) fn update_session_complete(id: &str) -> Op<'_, ()> {
    op!("update_session_complete", Unsafe, |c|
        api: void(c.update_session_complete(id)).await,
        rest: void(c.rest_update_session_complete(id)).await)
}

/// Adding a file again replaces the first add with the same spec; no bytes move before the PUT.
pub(crate) fn update_session_file_add(id: &str, spec: UpdateFileAddSpec) -> Op<'_, UpdateFileInfo> {
    op!("update_session_file_add", Safe, [spec] |c|
        api: api(c.update_session_file_add(id, &spec)).await,
        rest: api(c.rest_update_session_file_add(id, &RestFileAddSpec { file_spec: spec })).await.map(|v| v.value))
}

pub(crate) fn update_session_file_remove<'a>(id: &'a str, name: &'a str) -> Op<'a, ()> {
    op!("update_session_file_remove", Unsafe, |c|
        api: void(c.update_session_file_remove(id, name)).await,
        rest: void(c.rest_update_session_file_remove(id, &FileNameSpec { file_name: name.to_owned() })).await)
}

/// `None` when the server answers without a result (govmomi's vcsim does).
pub(crate) fn update_session_file_validate(id: &str) -> Op<'_, Option<ValidationResult>> {
    op!("update_session_file_validate", Safe, |c|
        api: api_or_empty(c.update_session_file_validate(id)).await,
        rest: api_or_empty(c.rest_update_session_file_validate(id)).await.map(|v| v.map(|v| v.value)))
}
