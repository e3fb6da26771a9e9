//! The two wire dialects: requests are routed to one dialect-neutral [`Op`], executed against the
//! service, and the result is encoded the way the request's dialect does it.
//!
//! * `/api`: bare JSON bodies; 201 for creates and file add, 204 for void operations, 200 else;
//!   errors as `{error_type, messages, data}`.
//! * `/rest`: request wrappers (`create_spec`, `file_spec`, `update_spec`, `spec`); every success is
//!   200 with `{"value": …}` or an empty body; errors as `{type, value}`.
//!
//! The third wire form, vAPI JSON-RPC (`crate::jsonrpc`), decodes its calls into the same [`Op`]s
//! with `/api`-shaped bodies and runs them through [`perform`].

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cl_api::types::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::error::{SimError, SimResult};
use crate::faults::CallFault;
use crate::service::Service;

pub use cl_api::Dialect;

/// Every operation, whichever dialect asked for it. `None` file names come from the /rest body.
#[derive(Debug)]
pub(crate) enum Op {
    Login,
    SessionInfo,
    Logout,
    LocalLibraryCreate,
    LocalLibraryList,
    LocalLibraryGet(String),
    LocalLibraryDelete(String),
    LibraryList,
    /// Only datastores with one of these names, when given.
    DatastoreList(Option<Vec<String>>),
    LibraryGet(String),
    LibraryUpdate(String),
    LibraryFind,
    ItemCreate,
    ItemList,
    ItemFind,
    ItemGet(String),
    ItemUpdate(String),
    ItemDelete(String),
    ItemFileList(Option<String>),
    ItemFileGet(String, Option<String>),
    DownloadCreate,
    DownloadList,
    DownloadGet(String),
    DownloadDelete(String),
    DownloadKeepAlive(String),
    DownloadCancel(String),
    DownloadFail(String),
    DownloadFileList(Option<String>),
    DownloadFileGet(String, Option<String>),
    DownloadFilePrepare(String),
    UpdateCreate,
    UpdateList,
    UpdateGet(String),
    UpdatePatch(String),
    UpdateDelete(String),
    UpdateComplete(String),
    UpdateKeepAlive(String),
    UpdateCancel(String),
    UpdateFail(String),
    UpdateFileAdd(String),
    UpdateFileList(Option<String>),
    UpdateFileGet(String, Option<String>),
    UpdateFileRemove(String, Option<String>),
    UpdateFileValidate(String),
}

impl Op {
    /// The `/api` operationId, which names the operation for fault injection.
    fn id(&self) -> &'static str {
        match self {
            Op::Login => "session_create",
            Op::SessionInfo => "session_get",
            Op::Logout => "session_delete",
            Op::LocalLibraryCreate => "local_library_create",
            Op::LocalLibraryList => "local_library_list",
            Op::LocalLibraryGet(_) => "local_library_get",
            Op::LocalLibraryDelete(_) => "local_library_delete",
            Op::LibraryList => "library_list",
            Op::DatastoreList(_) => "datastore_list",
            Op::LibraryGet(_) => "library_get",
            Op::LibraryUpdate(_) => "library_update",
            Op::LibraryFind => "library_find",
            Op::ItemCreate => "item_create",
            Op::ItemList => "item_list",
            Op::ItemFind => "item_find",
            Op::ItemGet(_) => "item_get",
            Op::ItemUpdate(_) => "item_update",
            Op::ItemDelete(_) => "item_delete",
            Op::ItemFileList(_) => "item_file_list",
            Op::ItemFileGet(..) => "item_file_get",
            Op::DownloadCreate => "download_session_create",
            Op::DownloadList => "download_session_list",
            Op::DownloadGet(_) => "download_session_get",
            Op::DownloadDelete(_) => "download_session_delete",
            Op::DownloadKeepAlive(_) => "download_session_keep_alive",
            Op::DownloadCancel(_) => "download_session_cancel",
            Op::DownloadFail(_) => "download_session_fail",
            Op::DownloadFileList(_) => "download_session_file_list",
            Op::DownloadFileGet(..) => "download_session_file_get",
            Op::DownloadFilePrepare(_) => "download_session_file_prepare",
            Op::UpdateCreate => "update_session_create",
            Op::UpdateList => "update_session_list",
            Op::UpdateGet(_) => "update_session_get",
            Op::UpdatePatch(_) => "update_session_update",
            Op::UpdateDelete(_) => "update_session_delete",
            Op::UpdateComplete(_) => "update_session_complete",
            Op::UpdateKeepAlive(_) => "update_session_keep_alive",
            Op::UpdateCancel(_) => "update_session_cancel",
            Op::UpdateFail(_) => "update_session_fail",
            Op::UpdateFileAdd(_) => "update_session_file_add",
            Op::UpdateFileList(_) => "update_session_file_list",
            Op::UpdateFileGet(..) => "update_session_file_get",
            Op::UpdateFileRemove(..) => "update_session_file_remove",
            Op::UpdateFileValidate(_) => "update_session_file_validate",
        }
    }
}

/// A successful result before the dialect encodes it.
pub(crate) enum Reply {
    Created(Value),
    Ok(Value),
    Void,
}

fn json<T: Serialize>(value: T) -> Value {
    serde_json::to_value(value).expect("generated types serialize")
}

/// Routes one API request. `segments` are the percent-decoded path segments after the prefix.
fn route(dialect: Dialect, method: &Method, segments: &[String], query: &HashMap<String, String>) -> Option<Op> {
    let s: Vec<&str> = segments.iter().map(String::as_str).collect();
    let action = query.get(if dialect == Dialect::Api { "action" } else { "~action" }).map(String::as_str);
    let q = |k: &str| query.get(k).cloned();
    // /rest writes ids as `id:<id>` segments.
    let id = |seg: &str| match dialect {
        Dialect::Api => Some(seg.to_owned()),
        Dialect::Rest => seg.strip_prefix("id:").map(str::to_owned),
    };
    use Method as M;
    let m = method.clone();
    let op = match (dialect, s.as_slice()) {
        (Dialect::Api, ["session"]) => match m {
            M::POST => Op::Login,
            M::GET => Op::SessionInfo,
            M::DELETE => Op::Logout,
            _ => return None,
        },
        (Dialect::Rest, ["cis", "session"]) => match (m, action) {
            (M::POST, None) => Op::Login,
            (M::POST, Some("get")) | (M::GET, None) => Op::SessionInfo,
            (M::DELETE, None) => Op::Logout,
            _ => return None,
        },
        (_, ["content", "local-library"]) => match m {
            M::POST => Op::LocalLibraryCreate,
            M::GET => Op::LocalLibraryList,
            _ => return None,
        },
        (_, ["content", "local-library", lib]) => match m {
            M::GET => Op::LocalLibraryGet(id(lib)?),
            M::DELETE => Op::LocalLibraryDelete(id(lib)?),
            _ => return None,
        },
        (_, ["vcenter", "datastore"]) if m == M::GET => {
            Op::DatastoreList(q(if dialect == Dialect::Api { "names" } else { "filter.names" }).map(|n| vec![n]))
        }
        (_, ["content", "library"]) => match (m, action) {
            (M::GET, None) => Op::LibraryList,
            (M::POST, Some("find")) => Op::LibraryFind,
            _ => return None,
        },
        (_, ["content", "library", "item"]) => match (m, action) {
            (M::POST, None) => Op::ItemCreate,
            (M::POST, Some("find")) => Op::ItemFind,
            (M::GET, None) => Op::ItemList,
            _ => return None,
        },
        (_, ["content", "library", "item", "download-session"]) => match m {
            M::POST => Op::DownloadCreate,
            M::GET => Op::DownloadList,
            _ => return None,
        },
        (_, ["content", "library", "item", "update-session"]) => match m {
            M::POST => Op::UpdateCreate,
            M::GET => Op::UpdateList,
            _ => return None,
        },
        (_, ["content", "library", "item", "download-session", sid]) => {
            let sid = id(sid)?;
            match (m, action) {
                (M::GET, None) => Op::DownloadGet(sid),
                (M::DELETE, None) => Op::DownloadDelete(sid),
                (M::POST, Some("keep-alive")) => Op::DownloadKeepAlive(sid),
                (M::POST, Some("cancel")) => Op::DownloadCancel(sid),
                (M::POST, Some("fail")) => Op::DownloadFail(sid),
                _ => return None,
            }
        }
        (_, ["content", "library", "item", "update-session", sid]) => {
            let sid = id(sid)?;
            match (m, action) {
                (M::GET, None) => Op::UpdateGet(sid),
                (M::PATCH, None) => Op::UpdatePatch(sid),
                (M::DELETE, None) => Op::UpdateDelete(sid),
                (M::POST, Some("complete")) => Op::UpdateComplete(sid),
                (M::POST, Some("keep-alive")) => Op::UpdateKeepAlive(sid),
                (M::POST, Some("cancel")) => Op::UpdateCancel(sid),
                (M::POST, Some("fail")) => Op::UpdateFail(sid),
                _ => return None,
            }
        }
        (Dialect::Api, ["content", "library", "item", "download-session", sid, "file"]) => match (m, action) {
            (M::GET, None) => match q("file_name") {
                Some(name) => Op::DownloadFileGet(sid.to_string(), Some(name)),
                None => Op::DownloadFileList(Some(sid.to_string())),
            },
            (M::POST, Some("prepare")) => Op::DownloadFilePrepare(sid.to_string()),
            _ => return None,
        },
        (Dialect::Api, ["content", "library", "item", "update-session", sid, "file"]) => match (m, action) {
            (M::GET, None) => Op::UpdateFileList(Some(sid.to_string())),
            (M::POST, None) => Op::UpdateFileAdd(sid.to_string()),
            (M::POST, Some("validate")) => Op::UpdateFileValidate(sid.to_string()),
            _ => return None,
        },
        (Dialect::Api, ["content", "library", "item", "update-session", sid, "file", name]) => match m {
            M::GET => Op::UpdateFileGet(sid.to_string(), Some(name.to_string())),
            M::DELETE => Op::UpdateFileRemove(sid.to_string(), Some(name.to_string())),
            _ => return None,
        },
        (Dialect::Rest, ["content", "library", "item", "downloadsession", "file"]) if m == M::GET => {
            Op::DownloadFileList(q("download_session_id"))
        }
        (Dialect::Rest, ["content", "library", "item", "downloadsession", "file", sid]) => {
            let sid = id(sid)?;
            match (m, action) {
                (M::POST, Some("get")) => Op::DownloadFileGet(sid, None),
                (M::POST, Some("prepare")) => Op::DownloadFilePrepare(sid),
                _ => return None,
            }
        }
        (Dialect::Rest, ["content", "library", "item", "updatesession", "file"]) if m == M::GET => {
            Op::UpdateFileList(q("update_session_id"))
        }
        (Dialect::Rest, ["content", "library", "item", "updatesession", "file", sid]) => {
            let sid = id(sid)?;
            match (m, action) {
                (M::POST, Some("add")) => Op::UpdateFileAdd(sid),
                (M::POST, Some("get")) => Op::UpdateFileGet(sid, None),
                (M::POST, Some("remove")) => Op::UpdateFileRemove(sid, None),
                (M::POST, Some("validate")) => Op::UpdateFileValidate(sid),
                _ => return None,
            }
        }
        (Dialect::Rest, ["content", "library", "item", "file"]) if m == M::GET => {
            Op::ItemFileList(q("library_item_id"))
        }
        (Dialect::Rest, ["content", "library", "item", "file", item]) if action == Some("get") && m == M::POST => {
            Op::ItemFileGet(id(item)?, None)
        }
        (_, ["content", "library", "item", item]) => {
            let item = id(item)?;
            match (m, action) {
                (M::GET, None) => Op::ItemGet(item),
                (M::PATCH, None) => Op::ItemUpdate(item),
                (M::DELETE, None) => Op::ItemDelete(item),
                _ => return None,
            }
        }
        (Dialect::Api, ["content", "library", "item", item, "file"]) if m == M::GET => match q("name") {
            Some(name) => Op::ItemFileGet(item.to_string(), Some(name)),
            None => Op::ItemFileList(Some(item.to_string())),
        },
        (_, ["content", "library", lib]) if action.is_none() => match m {
            M::GET => Op::LibraryGet(id(lib)?),
            M::PATCH => Op::LibraryUpdate(id(lib)?),
            _ => return None,
        },
        _ => return None,
    };
    Some(op)
}

/// Decodes a JSON body; an empty body reads as `{}` (optional bodies such as keep-alive's).
fn body<T: DeserializeOwned>(bytes: &Bytes) -> SimResult<T> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    serde_json::from_slice(bytes)
        .map_err(|e| SimError::invalid_argument(format!("The request body is not valid: {e}.")))
}

#[derive(serde::Deserialize)]
struct Wrapped<T> {
    #[serde(default)]
    client_token: Option<String>,
    create_spec: T,
}

#[derive(serde::Deserialize)]
struct Named {
    name: String,
}

fn required(value: Option<String>, what: &str) -> SimResult<String> {
    value.ok_or_else(|| SimError::invalid_argument(format!("The {what} parameter is required.")))
}

pub struct Request<'a> {
    pub dialect: Dialect,
    pub method: &'a Method,
    pub segments: Vec<String>,
    pub query: HashMap<String, String>,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

/// Handles one API request end to end. PULL jobs the request created are returned for the caller
/// to start.
pub fn handle(service: &Arc<Service>, req: Request<'_>) -> Response {
    let dialect = req.dialect;
    let Some(op) = route(dialect, req.method, &req.segments, &req.query) else {
        let error = SimError::new(
            ErrorType::OperationNotFound,
            format!("No operation {} /{}.", req.method, req.segments.join("/")),
        );
        return error.into_response(dialect);
    };
    match perform(service, &req, op) {
        Outcome::Done(Ok(reply)) => encode(dialect, reply),
        Outcome::Done(Err(error)) => error.into_response(dialect),
        Outcome::Proxy(code) => proxy_reply(code),
        Outcome::Cut => crate::transfer::cut(),
    }
}

/// What became of an operation once the injected faults had their say.
pub(crate) enum Outcome {
    Done(SimResult<Reply>),
    /// An injected answer from a proxy in front of the service: a bare status and a text body.
    Proxy(u16),
    /// An injected connection drop, before the service acted or after (a lost reply).
    Cut,
}

/// Runs one operation, applying the call faults injected for it. Every wire form goes through here.
pub(crate) fn perform(service: &Arc<Service>, req: &Request<'_>, op: Op) -> Outcome {
    match service.faults.take_call(op.id()) {
        Some(CallFault::Status(503)) => {
            Outcome::Done(Err(SimError::new(ErrorType::ServiceUnavailable, "Injected: service unavailable.")))
        }
        Some(CallFault::Status(code)) => Outcome::Proxy(code),
        Some(CallFault::Reset) => Outcome::Cut,
        Some(CallFault::LoseReply) => {
            let _ = execute(service, req, op);
            Outcome::Cut
        }
        None => Outcome::Done(execute(service, req, op)),
    }
}

pub(crate) fn proxy_reply(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
    (status, format!("Injected: HTTP {code} from a proxy")).into_response()
}

fn encode(dialect: Dialect, reply: Reply) -> Response {
    match (dialect, reply) {
        (Dialect::Api, Reply::Created(v)) => (StatusCode::CREATED, axum::Json(v)).into_response(),
        (Dialect::Api, Reply::Ok(v)) => (StatusCode::OK, axum::Json(v)).into_response(),
        (Dialect::Api, Reply::Void) => StatusCode::NO_CONTENT.into_response(),
        (Dialect::Rest, Reply::Created(v) | Reply::Ok(v)) => {
            (StatusCode::OK, axum::Json(serde_json::json!({ "value": v }))).into_response()
        }
        (Dialect::Rest, Reply::Void) => StatusCode::OK.into_response(),
    }
}

fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers.get(cl_api::SESSION_HEADER).and_then(|v| v.to_str().ok())
}

fn basic_credentials(headers: &HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}

fn execute(svc: &Arc<Service>, req: &Request<'_>, op: Op) -> SimResult<Reply> {
    let rest = req.dialect == Dialect::Rest;
    let b = &req.body;
    if let Op::Login = op {
        let (user, password) = basic_credentials(req.headers)
            .ok_or_else(|| SimError::new(ErrorType::Unauthenticated, "Log in with HTTP basic credentials."))?;
        return Ok(Reply::Created(json(svc.login(&user, &password)?)));
    }
    let user = svc.authenticate(session_token(req.headers))?;
    let token = session_token(req.headers).unwrap_or_default();
    // Creates: /api takes the model (client_token in the query), /rest wraps it.
    fn create<T: DeserializeOwned>(
        rest: bool,
        b: &Bytes,
        query: &HashMap<String, String>,
    ) -> SimResult<(T, Option<String>)> {
        if rest {
            let w: Wrapped<T> = body(b)?;
            Ok((w.create_spec, w.client_token))
        } else {
            Ok((body(b)?, query.get("client_token").cloned()))
        }
    }
    // Names of /rest file get/remove come from the body.
    let file_name = |name: Option<String>| -> SimResult<String> {
        match name {
            Some(n) => Ok(n),
            None => Ok(body::<FileNameSpec>(b)?.file_name),
        }
    };
    let reply = match op {
        Op::Login => unreachable!("handled above"),
        Op::SessionInfo => Reply::Ok(json(svc.session_info(token)?)),
        Op::Logout => {
            svc.logout(token)?;
            Reply::Void
        }
        Op::LocalLibraryCreate => {
            let (spec, client_token) = create::<LibraryModel>(rest, b, &req.query)?;
            Reply::Created(json(svc.library_create(spec, client_token)?))
        }
        Op::LocalLibraryList => {
            let ids: Vec<String> =
                svc.library_list().into_iter().filter(|id| svc.library_get(id, true).is_ok()).collect();
            Reply::Ok(json(ids))
        }
        Op::LocalLibraryGet(id) => Reply::Ok(json(svc.library_get(&id, true)?)),
        Op::LocalLibraryDelete(id) => {
            svc.library_get(&id, true)?;
            svc.library_delete(&id)?;
            Reply::Void
        }
        Op::LibraryList => Reply::Ok(json(svc.library_list())),
        Op::DatastoreList(names) => Reply::Ok(json(svc.datastore_list(names.as_deref()))),
        Op::LibraryGet(id) => Reply::Ok(json(svc.library_get(&id, false)?)),
        Op::LibraryUpdate(id) => {
            let spec = if rest { body::<RestLibraryUpdate>(b)?.update_spec } else { body(b)? };
            svc.library_update(&id, spec)?;
            Reply::Void
        }
        Op::LibraryFind => {
            let spec: LibraryFindSpec = if rest { body::<RestLibraryFind>(b)?.spec } else { body(b)? };
            Reply::Ok(json(svc.library_find(&spec)))
        }
        Op::ItemCreate => {
            let (spec, client_token) = create::<ItemModel>(rest, b, &req.query)?;
            Reply::Created(json(svc.item_create(spec, client_token)?))
        }
        Op::ItemList => Reply::Ok(json(svc.item_list(&required(req.query.get("library_id").cloned(), "library_id")?)?)),
        Op::ItemFind => {
            let spec: ItemFindSpec = if rest { body::<RestItemFind>(b)?.spec } else { body(b)? };
            Reply::Ok(json(svc.item_find(&spec)?))
        }
        Op::ItemGet(id) => Reply::Ok(json(svc.item_get(&id)?)),
        Op::ItemUpdate(id) => {
            let spec = if rest { body::<RestItemUpdate>(b)?.update_spec } else { body(b)? };
            svc.item_update(&id, spec)?;
            Reply::Void
        }
        Op::ItemDelete(id) => {
            svc.item_delete(&id)?;
            Reply::Void
        }
        Op::ItemFileList(id) => Reply::Ok(json(svc.item_files(&required(id, "library_item_id")?)?)),
        Op::ItemFileGet(id, name) => {
            let name = match name {
                Some(n) => n,
                None => body::<Named>(b)?.name,
            };
            Reply::Ok(json(svc.item_file(&id, &name)?))
        }
        Op::DownloadCreate => {
            let (spec, client_token) = create::<DownloadSessionModel>(rest, b, &req.query)?;
            Reply::Created(json(svc.download_create(&user, spec, client_token)?))
        }
        Op::DownloadList => {
            Reply::Ok(json(svc.download_list(&user, req.query.get("library_item_id").map(String::as_str))?))
        }
        Op::DownloadGet(id) => Reply::Ok(json(svc.download_get(&id)?)),
        Op::DownloadDelete(id) => {
            svc.download_delete(&id)?;
            Reply::Void
        }
        Op::DownloadKeepAlive(id) => {
            svc.download_keep_alive(&id, body::<DownloadSessionKeepAliveSpec>(b)?.progress)?;
            Reply::Void
        }
        Op::DownloadCancel(id) => {
            svc.download_cancel(&id)?;
            Reply::Void
        }
        Op::DownloadFail(id) => {
            svc.download_fail(&id, body::<FailSpec>(b)?.client_error_message)?;
            Reply::Void
        }
        Op::DownloadFileList(id) => Reply::Ok(json(svc.download_files(&required(id, "download_session_id")?)?)),
        Op::DownloadFileGet(id, name) => Reply::Ok(json(svc.download_file(&id, &file_name(name)?)?)),
        Op::DownloadFilePrepare(id) => Reply::Ok(json(svc.download_prepare(&id, body(b)?)?)),
        Op::UpdateCreate => {
            let (spec, client_token) = create::<UpdateSessionModel>(rest, b, &req.query)?;
            Reply::Created(json(svc.update_create(&user, spec, client_token)?))
        }
        Op::UpdateList => {
            Reply::Ok(json(svc.update_list(&user, req.query.get("library_item_id").map(String::as_str))?))
        }
        Op::UpdateGet(id) => Reply::Ok(json(svc.update_get(&id)?)),
        Op::UpdatePatch(id) => {
            let spec = if rest { body::<RestUpdateSessionUpdate>(b)?.update_spec } else { body(b)? };
            svc.update_patch(&id, spec)?;
            Reply::Void
        }
        Op::UpdateDelete(id) => {
            svc.update_delete(&id)?;
            Reply::Void
        }
        Op::UpdateComplete(id) => {
            svc.update_complete(&id)?;
            Reply::Void
        }
        Op::UpdateKeepAlive(id) => {
            svc.update_keep_alive(&id, body::<UpdateSessionKeepAliveSpec>(b)?.client_progress)?;
            Reply::Void
        }
        Op::UpdateCancel(id) => {
            svc.update_cancel(&id)?;
            Reply::Void
        }
        Op::UpdateFail(id) => {
            svc.update_fail(&id, body::<FailSpec>(b)?.client_error_message)?;
            Reply::Void
        }
        Op::UpdateFileAdd(id) => {
            let spec = if rest { body::<RestFileAddSpec>(b)?.file_spec } else { body(b)? };
            Reply::Created(json(svc.update_file_add(&id, spec)?))
        }
        Op::UpdateFileList(id) => Reply::Ok(json(svc.update_files(&required(id, "update_session_id")?)?)),
        Op::UpdateFileGet(id, name) => Reply::Ok(json(svc.update_file(&id, &file_name(name)?)?)),
        Op::UpdateFileRemove(id, name) => {
            svc.update_file_remove(&id, &file_name(name)?)?;
            Reply::Void
        }
        Op::UpdateFileValidate(id) => Reply::Ok(json(svc.update_validate(&id)?)),
    };
    Ok(reply)
}
