//! The operation table: every operation of the spec, once, with each wire form that carries it
//! (`/api`, `/rest`, vAPI JSON-RPC), its parameters and whether it is safe to repeat.
//!
//! The types are written here; the data ([`OperationId`], [`OPERATIONS`]) is generated from the
//! spec by `cl-codegen` (snapshot in `generated/operations.rs`). The simulator routes every
//! request by it, the SDK takes its operation names and repeat-safety from it, and the
//! conformance tests walk it. Parameters are named as vAPI names its inputs (`library_item_id`,
//! `create_spec`), the one vocabulary all three wire forms share.
//!
//! ```
//! use cl_api::operation::{OperationId, Repeat};
//!
//! let op = OperationId::DownloadSessionKeepAlive.operation();
//! assert_eq!(op.name, "download_session_keep_alive");
//! assert_eq!(op.repeat, Repeat::Safe);
//! assert_eq!(op.api.to_string(), "POST /api/content/library/item/download-session/{download_session_id}?action=keep-alive");
//! assert_eq!((op.vapi.service, op.vapi.name), ("com.vmware.content.library.item.download_session", "keep_alive"));
//! ```

use std::fmt;

pub use http::Method;

use crate::Dialect;

include!(concat!(env!("OUT_DIR"), "/operations.rs"));

/// One operation and the forms each wire carries it in.
#[derive(Debug)]
pub struct Operation {
    /// Which operation this is.
    pub id: OperationId,
    /// The `/api` operationId (the `/rest` one is `rest_` + this).
    pub name: &'static str,
    /// Its vAPI service and operation name, which JSON-RPC calls it by.
    pub vapi: Vapi,
    /// Whether a request whose reply was lost may be sent again.
    pub repeat: Repeat,
    /// How a caller proves who it is.
    pub auth: Auth,
    /// The vAPI type of its result, as JSON-RPC encodes it.
    pub output: Shape,
    /// The `/api` form.
    pub api: Route,
    /// The `/rest` form, where the service has one.
    pub rest: Option<Route>,
}

impl Operation {
    /// The form `dialect` carries this operation in.
    pub fn route(&self, dialect: Dialect) -> Option<&Route> {
        match dialect {
            Dialect::Api => Some(&self.api),
            Dialect::Rest => self.rest.as_ref(),
        }
    }
}

impl OperationId {
    /// This operation's row of the table.
    pub fn operation(self) -> &'static Operation {
        &OPERATIONS[self as usize]
    }

    /// The operation an `/api` operationId names.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|id| id.name() == name)
    }

    /// The operation JSON-RPC calls `service`/`name`.
    pub fn from_vapi(service: &str, name: &str) -> Option<Self> {
        OPERATIONS.iter().find(|op| op.vapi.service == service && op.vapi.name == name).map(|op| op.id)
    }
}

impl fmt::Display for OperationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A vAPI service operation, e.g. `com.vmware.content.library.item.download_session` / `create`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Vapi {
    /// The service id.
    pub service: &'static str,
    /// The operation id within the service.
    pub name: &'static str,
}

/// Whether an operation may be sent again when its reply was lost.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repeat {
    /// A second attempt does no more than the first (reads, keep-alives, creates that carry a
    /// client token).
    Safe,
    /// A second attempt could fail or act twice where the first succeeded (deletes, cancels,
    /// completes).
    Unsafe,
    /// Safe, unless the request carries a `version` to check against: the first attempt moved
    /// the version on, so a second would be refused.
    UnlessVersioned,
}

/// How a caller authenticates an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Auth {
    /// HTTP basic credentials (the login).
    Basic,
    /// The API session token.
    Session,
}

/// One wire form of an operation.
#[derive(Debug)]
pub struct Route {
    /// The HTTP method.
    pub method: Method,
    /// The path, segment by segment.
    pub segments: &'static [Segment],
    /// The verb in `?action=` (`/api`) or `?~action=` (`/rest`).
    pub action: Option<&'static str>,
    /// A query parameter whose presence tells this operation apart from another on the same
    /// path (`?file_name`: get one file rather than list them).
    pub selector: Option<&'static str>,
    /// The query parameters.
    pub query: &'static [Query],
    /// What the request body carries.
    pub body: Body,
    /// The status of a success.
    pub status: u16,
}

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ", self.method)?;
        for segment in self.segments {
            match segment {
                Segment::Literal(text) => write!(f, "/{text}")?,
                Segment::Param(name) => write!(f, "/{{{name}}}")?,
                Segment::IdParam(name) => write!(f, "/id:{{{name}}}")?,
            }
        }
        let rest = self.segments.first() == Some(&Segment::Literal("rest"));
        match (self.action, self.selector) {
            (Some(action), _) => write!(f, "?{}action={action}", if rest { "~" } else { "" }),
            (None, Some(selector)) => write!(f, "?{selector}"),
            (None, None) => Ok(()),
        }
    }
}

/// One path segment of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Segment {
    /// Literal text.
    Literal(&'static str),
    /// The whole segment is the named input (`/api`'s `{id}`).
    Param(&'static str),
    /// The segment is `id:` and the named input (`/rest`'s `id:{id}`).
    IdParam(&'static str),
}

/// A query parameter of a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Query {
    /// Its name on the wire.
    pub name: &'static str,
    /// The input it fills, dotted where nested (`filter.names`).
    pub input: &'static str,
    /// Whether the input is a list (the parameter may repeat).
    pub list: bool,
    /// Whether the operation needs it.
    pub required: bool,
}

/// What a request body carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body.
    None,
    /// A JSON object whose fields are inputs (every `/rest` body; `/api`'s keep-alive, fail, …).
    Fields,
    /// The whole body is the one named input (`/api`'s `create_spec`, `update_spec`, …).
    Input(&'static str),
}

/// A value's type as far as vAPI's tagged JSON-RPC encoding depends on it (ids, URIs and enums
/// are strings on that wire). Generated from the spec with the structures in [`structures`].
///
/// ```
/// use cl_api::operation::{OperationId, Shape};
///
/// let Shape::Struct(model) = OperationId::ItemGet.operation().output else { panic!("a structure") };
/// assert_eq!(model.name, "com.vmware.content.library.item_model");
/// let name = model.fields.iter().find(|f| f.name == "name").unwrap();
/// assert!(matches!(name.shape, Shape::Opt(Shape::Str)));
/// ```
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    /// No value, or any value (a schema without a type).
    Void,
    /// A string.
    Str,
    /// A 64-bit integer.
    Int,
    /// A double.
    Double,
    /// A boolean.
    Bool,
    /// A date and time (RFC 3339, milliseconds, `Z` on vCenter's wire).
    DateTime,
    /// A string that is a secret (`{"SECRET": …}`).
    Secret,
    /// An optional value (`{"OPTIONAL": …}`).
    Opt(&'static Shape),
    /// A list.
    List(&'static Shape),
    /// A map with string keys (a list of `map-entry` structures).
    Map(&'static Shape),
    /// A structure (`{"STRUCTURE": {name: fields}}`).
    Struct(&'static Structure),
}

/// A vAPI structure: its canonical name and fields.
pub struct Structure {
    /// The canonical name, e.g. `com.vmware.content.library_model`.
    pub name: &'static str,
    /// Every field, with its shape (optional ones as [`Shape::Opt`]).
    pub fields: &'static [Field],
}

/// Names the structure only: structures nest in cycles (messages and their parameters).
impl fmt::Debug for Structure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Structure({})", self.name)
    }
}

/// One field of a [`Structure`].
#[derive(Debug)]
pub struct Field {
    /// Its name.
    pub name: &'static str,
    /// Its type.
    pub shape: Shape,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_sit_at_their_ids() {
        for id in OperationId::ALL {
            assert_eq!(id.operation().id, id);
            assert_eq!(OperationId::from_name(id.name()), Some(id));
            let op = id.operation();
            assert_eq!(OperationId::from_vapi(op.vapi.service, op.vapi.name), Some(id), "{id}");
        }
    }

    #[test]
    fn routes_show_as_the_spec_keys_them() {
        let op = OperationId::UpdateSessionFileRemove.operation();
        assert_eq!(
            op.rest.as_ref().unwrap().to_string(),
            "POST /rest/com/vmware/content/library/item/updatesession/file/id:{update_session_id}?~action=remove"
        );
        let get = OperationId::DownloadSessionFileGet.operation();
        assert_eq!(
            get.api.to_string(),
            "GET /api/content/library/item/download-session/{download_session_id}/file?file_name"
        );
        assert_eq!(OperationId::SessionCreate.operation().auth, Auth::Basic);
        assert_eq!(OperationId::ItemUpdate.operation().repeat, Repeat::UnlessVersioned);
        assert_eq!(OperationId::ItemCreate.operation().api.body, Body::Input("create_spec"));
        assert_eq!(OperationId::ItemCreate.operation().rest.as_ref().unwrap().body, Body::Fields);
    }
}
