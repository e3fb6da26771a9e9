//! Which neutral operation each vAPI service operation is, how its input becomes the `/api`-shaped
//! body and query the service reads, and the type of its output.

use std::collections::HashMap;

use cl_api::types::ErrorType;
use serde_json::{Map, Value, json};

use super::types::*;
use crate::dialect::Op;
use crate::error::{SimError, SimResult};

/// One decoded call: the operation plus what `/api` would have carried in its body and query.
pub(crate) struct Call {
    pub op: Op,
    pub body: Value,
    pub query: HashMap<String, String>,
    pub output: Ty,
}

const IDS: Ty = Ty::List(&Ty::Str);
const ITEM_FILES: Ty = Ty::List(&Ty::Struct(&ITEM_FILE_INFO));
const DOWNLOAD_FILES: Ty = Ty::List(&Ty::Struct(&DOWNLOAD_FILE_INFO));
const UPDATE_FILES: Ty = Ty::List(&Ty::Struct(&UPDATE_FILE_INFO));
const DATASTORES: Ty = Ty::List(&Ty::Struct(&DATASTORE_SUMMARY));

/// The operation input (already untagged) as a bag of named fields.
struct Input {
    fields: Map<String, Value>,
}

impl Input {
    fn take(&mut self, name: &str) -> Value {
        self.fields.remove(name).unwrap_or(Value::Null)
    }

    fn opt_str(&mut self, name: &str) -> SimResult<Option<String>> {
        match self.take(name) {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Err(SimError::invalid_argument(format!("{name} must be a string, not {other}."))),
        }
    }

    fn str(&mut self, name: &str) -> SimResult<String> {
        self.opt_str(name)?.ok_or_else(|| SimError::invalid_argument(format!("The {name} parameter is required.")))
    }

    fn structure(&mut self, name: &str) -> SimResult<Value> {
        match self.take(name) {
            v @ Value::Object(_) => Ok(v),
            Value::Null => Err(SimError::invalid_argument(format!("The {name} parameter is required."))),
            other => Err(SimError::invalid_argument(format!("{name} must be a structure, not {other}."))),
        }
    }
}

/// Decodes `service.operation(input)`; an unknown pair is `operation_not_found`, a missing or
/// mistyped parameter `invalid_argument`, as vAPI's own input validation answers them.
pub(crate) fn decode(service: &str, operation: &str, input: Map<String, Value>) -> SimResult<Call> {
    let mut i = Input { fields: input };
    let mut query = HashMap::new();
    let mut body = Value::Null;
    let (op, output) = match (service, operation) {
        ("com.vmware.cis.session", "create") => (Op::Login, Ty::Secret),
        ("com.vmware.cis.session", "get") => (Op::SessionInfo, Ty::Struct(&SESSION_INFO)),
        ("com.vmware.cis.session", "delete") => (Op::Logout, Ty::Void),

        ("com.vmware.vcenter.datastore", "list") => {
            let names = match i.take("filter") {
                Value::Null => Value::Null,
                Value::Object(mut filter) => filter.remove("names").unwrap_or(Value::Null),
                _ => return Err(SimError::invalid_argument("filter must be a filter_spec structure.")),
            };
            let names = match names {
                Value::Null => None,
                Value::Array(names) => Some(names.into_iter().filter_map(|n| n.as_str().map(str::to_owned)).collect()),
                _ => return Err(SimError::invalid_argument("filter.names must be a set of names.")),
            };
            (Op::DatastoreList(names), DATASTORES)
        }

        ("com.vmware.content.library", "get") => (Op::LibraryGet(i.str("library_id")?), Ty::Struct(&LIBRARY_MODEL)),
        ("com.vmware.content.library", "list") => (Op::LibraryList, IDS),
        ("com.vmware.content.library", "update") => {
            let id = i.str("library_id")?;
            body = i.structure("update_spec")?;
            (Op::LibraryUpdate(id), Ty::Void)
        }
        ("com.vmware.content.library", "find") => {
            body = i.structure("spec")?;
            (Op::LibraryFind, IDS)
        }
        ("com.vmware.content.local_library", "create") => {
            body = create(&mut i, &mut query)?;
            (Op::LocalLibraryCreate, Ty::Str)
        }
        ("com.vmware.content.local_library", "get") => {
            (Op::LocalLibraryGet(i.str("library_id")?), Ty::Struct(&LIBRARY_MODEL))
        }
        ("com.vmware.content.local_library", "list") => (Op::LocalLibraryList, IDS),
        ("com.vmware.content.local_library", "delete") => (Op::LocalLibraryDelete(i.str("library_id")?), Ty::Void),

        ("com.vmware.content.library.item", "create") => {
            body = create(&mut i, &mut query)?;
            (Op::ItemCreate, Ty::Str)
        }
        ("com.vmware.content.library.item", "get") => (Op::ItemGet(i.str("library_item_id")?), Ty::Struct(&ITEM_MODEL)),
        ("com.vmware.content.library.item", "list") => {
            query.insert("library_id".to_owned(), i.str("library_id")?);
            (Op::ItemList, IDS)
        }
        ("com.vmware.content.library.item", "find") => {
            body = i.structure("spec")?;
            (Op::ItemFind, IDS)
        }
        ("com.vmware.content.library.item", "delete") => (Op::ItemDelete(i.str("library_item_id")?), Ty::Void),
        ("com.vmware.content.library.item", "update") => {
            let id = i.str("library_item_id")?;
            body = i.structure("update_spec")?;
            (Op::ItemUpdate(id), Ty::Void)
        }
        ("com.vmware.content.library.item.file", "get") => {
            let item = i.str("library_item_id")?;
            (Op::ItemFileGet(item, Some(i.str("name")?)), Ty::Struct(&ITEM_FILE_INFO))
        }
        ("com.vmware.content.library.item.file", "list") => {
            (Op::ItemFileList(Some(i.str("library_item_id")?)), ITEM_FILES)
        }

        ("com.vmware.content.library.item.download_session", operation) => {
            let sid = |i: &mut Input| i.str("download_session_id");
            match operation {
                "create" => {
                    body = create(&mut i, &mut query)?;
                    (Op::DownloadCreate, Ty::Str)
                }
                "get" => (Op::DownloadGet(sid(&mut i)?), Ty::Struct(&DOWNLOAD_SESSION_MODEL)),
                "list" => {
                    item_filter(&mut i, &mut query)?;
                    (Op::DownloadList, IDS)
                }
                "keep_alive" => {
                    let id = sid(&mut i)?;
                    body = json!({ "progress": i.take("progress") });
                    (Op::DownloadKeepAlive(id), Ty::Void)
                }
                "cancel" => (Op::DownloadCancel(sid(&mut i)?), Ty::Void),
                "delete" => (Op::DownloadDelete(sid(&mut i)?), Ty::Void),
                "fail" => {
                    let id = sid(&mut i)?;
                    body = json!({ "client_error_message": i.str("client_error_message")? });
                    (Op::DownloadFail(id), Ty::Void)
                }
                _ => return Err(not_found(service, operation)),
            }
        }
        ("com.vmware.content.library.item.downloadsession.file", operation) => {
            let id = i.str("download_session_id")?;
            match operation {
                "list" => (Op::DownloadFileList(Some(id)), DOWNLOAD_FILES),
                "get" => (Op::DownloadFileGet(id, Some(i.str("file_name")?)), Ty::Struct(&DOWNLOAD_FILE_INFO)),
                "prepare" => {
                    body = json!({ "file_name": i.str("file_name")?, "endpoint_type": i.take("endpoint_type") });
                    (Op::DownloadFilePrepare(id), Ty::Struct(&DOWNLOAD_FILE_INFO))
                }
                _ => return Err(not_found(service, operation)),
            }
        }

        ("com.vmware.content.library.item.update_session", operation) => {
            let sid = |i: &mut Input| i.str("update_session_id");
            match operation {
                "create" => {
                    body = create(&mut i, &mut query)?;
                    (Op::UpdateCreate, Ty::Str)
                }
                "get" => (Op::UpdateGet(sid(&mut i)?), Ty::Struct(&UPDATE_SESSION_MODEL)),
                "list" => {
                    item_filter(&mut i, &mut query)?;
                    (Op::UpdateList, IDS)
                }
                "update" => {
                    let id = sid(&mut i)?;
                    body = i.structure("update_spec")?;
                    (Op::UpdatePatch(id), Ty::Void)
                }
                "keep_alive" => {
                    let id = sid(&mut i)?;
                    body = json!({ "client_progress": i.take("client_progress") });
                    (Op::UpdateKeepAlive(id), Ty::Void)
                }
                "complete" => (Op::UpdateComplete(sid(&mut i)?), Ty::Void),
                "cancel" => (Op::UpdateCancel(sid(&mut i)?), Ty::Void),
                "delete" => (Op::UpdateDelete(sid(&mut i)?), Ty::Void),
                "fail" => {
                    let id = sid(&mut i)?;
                    body = json!({ "client_error_message": i.str("client_error_message")? });
                    (Op::UpdateFail(id), Ty::Void)
                }
                _ => return Err(not_found(service, operation)),
            }
        }
        ("com.vmware.content.library.item.updatesession.file", operation) => {
            let id = i.str("update_session_id")?;
            match operation {
                "add" => {
                    body = i.structure("file_spec")?;
                    (Op::UpdateFileAdd(id), Ty::Struct(&UPDATE_FILE_INFO))
                }
                "list" => (Op::UpdateFileList(Some(id)), UPDATE_FILES),
                "get" => (Op::UpdateFileGet(id, Some(i.str("file_name")?)), Ty::Struct(&UPDATE_FILE_INFO)),
                "remove" => (Op::UpdateFileRemove(id, Some(i.str("file_name")?)), Ty::Void),
                "validate" => (Op::UpdateFileValidate(id), Ty::Struct(&VALIDATION_RESULT)),
                _ => return Err(not_found(service, operation)),
            }
        }
        _ => return Err(not_found(service, operation)),
    };
    Ok(Call { op, body, query, output })
}

/// Creates take the model as the body and the idempotency token in the query, as on `/api`.
fn create(i: &mut Input, query: &mut HashMap<String, String>) -> SimResult<Value> {
    if let Some(token) = i.opt_str("client_token")? {
        query.insert("client_token".to_owned(), token);
    }
    i.structure("create_spec")
}

/// Session lists take an optional item filter, in the query as on `/api`.
fn item_filter(i: &mut Input, query: &mut HashMap<String, String>) -> SimResult<()> {
    if let Some(item) = i.opt_str("library_item_id")? {
        query.insert("library_item_id".to_owned(), item);
    }
    Ok(())
}

fn not_found(service: &str, operation: &str) -> SimError {
    SimError::new(
        ErrorType::OperationNotFound,
        format!("The simulator has no operation {operation:?} in service {service:?}."),
    )
}
