//! The two REST dialects: a request is resolved to an operation of the table and its inputs by
//! one lookup over the table's routes, run by its handler, and the result encoded the way the
//! request's dialect does it.
//!
//! * `/api`: bare JSON bodies; success with the status the spec gives the operation (201 for
//!   creates and file add, 204 for void operations, 200 else); errors as
//!   `{error_type, messages, data}`.
//! * `/rest`: request wrappers (`create_spec`, `file_spec`, `update_spec`, `spec`) whose fields
//!   are the inputs; every success is 200 with `{"value": …}` or an empty body; errors as
//!   `{type, value}`.

use std::sync::Arc;

use axum::body::Bytes;
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use cl_api::operation::{Body, OPERATIONS, Operation, Route, Segment};
use cl_api::types::ErrorType;
use serde_json::{Map, Value};

use crate::error::{SimError, SimResult};
use crate::handler::{Input, Outcome, Reply, perform};
use crate::service::Service;

pub use cl_api::Dialect;

/// One REST request, its path already split into percent-decoded segments.
pub struct Request<'a> {
    pub dialect: Dialect,
    pub method: &'a Method,
    pub segments: Vec<String>,
    /// The query's pairs in order; a name may repeat.
    pub query: Vec<(String, String)>,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

/// Handles one REST request end to end.
pub async fn handle(service: &Arc<Service>, req: Request<'_>) -> Response {
    let dialect = req.dialect;
    let Some((op, route)) = resolve(&req) else {
        let error = SimError::new(
            ErrorType::OperationNotFound,
            format!("No operation {} /{}.", req.method, req.segments.join("/")),
        );
        return error.into_response(dialect);
    };
    let input = match inputs(route, &req) {
        Ok(input) => input,
        Err(error) => return error.into_response(dialect),
    };
    match perform(service, op.id, input, req.headers).await {
        Outcome::Done(Ok(reply)) => encode(dialect, route, reply),
        Outcome::Done(Err(error)) => error.into_response(dialect),
        Outcome::Proxy(code) => proxy_reply(code),
        Outcome::Cut => crate::transfer::cut(),
    }
}

/// The operation whose route fits the request. Where several fit (`…/item/{id}` and
/// `…/item/download-session`, a list and the `?file_name` get beside it), the one with more
/// literal segments wins, then the one with a selector.
fn resolve(req: &Request<'_>) -> Option<(&'static Operation, &'static Route)> {
    let action_key = if req.dialect == Dialect::Api { "action" } else { "~action" };
    let action = req.query.iter().find(|(k, _)| k == action_key).map(|(_, v)| v.as_str());
    OPERATIONS
        .iter()
        .filter_map(|op| op.route(req.dialect).map(|route| (op, route)))
        .filter(|(_, route)| {
            route.method == req.method
                && route.action == action
                && route.selector.is_none_or(|s| req.query.iter().any(|(k, _)| k == s))
                && fits(route.segments, &req.segments)
        })
        .max_by_key(|(_, route)| {
            let literals = route.segments.iter().filter(|s| matches!(s, Segment::Literal(_))).count();
            (literals, route.selector.is_some())
        })
}

fn fits(template: &[Segment], segments: &[String]) -> bool {
    template.len() == segments.len()
        && template.iter().zip(segments).all(|(t, s)| match t {
            Segment::Literal(text) => text == s,
            Segment::Param(_) => !s.is_empty(),
            Segment::IdParam(_) => s.strip_prefix("id:").is_some_and(|id| !id.is_empty()),
        })
}

/// The request's inputs by vAPI name: path parameters, then query parameters, then the body
/// (one named input on `/api` where the spec says so, else its fields).
fn inputs(route: &Route, req: &Request<'_>) -> SimResult<Input> {
    let mut input = Map::new();
    for (template, segment) in route.segments.iter().zip(&req.segments) {
        match template {
            Segment::Literal(_) => {}
            Segment::Param(name) => _ = input.insert((*name).to_owned(), Value::String(segment.clone())),
            Segment::IdParam(name) => {
                let id = segment.strip_prefix("id:").unwrap_or(segment);
                input.insert((*name).to_owned(), Value::String(id.to_owned()));
            }
        }
    }
    for q in route.query {
        let mut values = req.query.iter().filter(|(k, _)| k == q.name).map(|(_, v)| Value::String(v.clone()));
        let value = if q.list { Some(Value::Array(values.collect())) } else { values.next_back() };
        if let Some(value) = value.filter(|v| v.as_array().is_none_or(|a| !a.is_empty())) {
            set_dotted(&mut input, q.input, value);
        }
    }
    match route.body {
        Body::None => {}
        Body::Input(name) => _ = input.insert(name.to_owned(), body(&req.body)?),
        Body::Fields => match body(&req.body)? {
            Value::Object(fields) => {
                for (name, value) in fields {
                    input.entry(name).or_insert(value);
                }
            }
            _ => return Err(SimError::invalid_argument("The request body must be a JSON object.")),
        },
    }
    Ok(Input(input))
}

/// Puts `value` at a dotted input name (`filter.names` is `names` inside `filter`).
fn set_dotted(input: &mut Map<String, Value>, name: &str, value: Value) {
    match name.split_once('.') {
        None => _ = input.insert(name.to_owned(), value),
        Some((head, tail)) => {
            let inner = input.entry(head).or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(inner) = inner {
                set_dotted(inner, tail, value);
            }
        }
    }
}

/// Decodes a JSON body; an empty body reads as `{}` (optional bodies such as keep-alive's).
fn body(bytes: &Bytes) -> SimResult<Value> {
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) { b"{}" } else { bytes };
    serde_json::from_slice(bytes)
        .map_err(|e| SimError::invalid_argument(format!("The request body is not valid: {e}.")))
}

pub(crate) fn proxy_reply(code: u16) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_GATEWAY);
    (status, format!("Injected: HTTP {code} from a proxy")).into_response()
}

fn encode(dialect: Dialect, route: &Route, reply: Reply) -> Response {
    let status = StatusCode::from_u16(route.status).unwrap_or(StatusCode::OK);
    match (dialect, reply) {
        (Dialect::Api, Reply::Value(v)) => (status, axum::Json(v)).into_response(),
        (Dialect::Api, Reply::Void) => status.into_response(),
        (Dialect::Rest, Reply::Value(v)) => {
            (StatusCode::OK, axum::Json(serde_json::json!({ "value": v }))).into_response()
        }
        (Dialect::Rest, Reply::Void) => StatusCode::OK.into_response(),
        (_, Reply::Later(_)) => unreachable!("perform awaits later replies"),
    }
}

#[cfg(test)]
mod tests {
    use cl_api::operation::OperationId;

    use super::*;

    fn resolved(dialect: Dialect, method: Method, path: &str, query: &[(&str, &str)]) -> Option<OperationId> {
        let headers = HeaderMap::new();
        let req = Request {
            dialect,
            method: &method,
            segments: path.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect(),
            query: query.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect(),
            headers: &headers,
            body: Bytes::new(),
        };
        resolve(&req).map(|(op, _)| op.id)
    }

    #[test]
    fn literal_segments_and_selectors_win_over_parameters() {
        use OperationId::*;
        let api = |m, p, q| resolved(Dialect::Api, m, p, q);
        assert_eq!(api(Method::GET, "/api/content/library/item/download-session", &[]), Some(DownloadSessionList));
        assert_eq!(api(Method::GET, "/api/content/library/item/x1", &[]), Some(ItemGet));
        assert_eq!(api(Method::GET, "/api/content/library/item", &[("library_id", "l")]), Some(ItemList));
        assert_eq!(api(Method::GET, "/api/content/library/item/i/file", &[("name", "a")]), Some(ItemFileGet));
        assert_eq!(api(Method::GET, "/api/content/library/item/i/file", &[]), Some(ItemFileList));
        assert_eq!(api(Method::POST, "/api/content/library/item", &[("action", "find")]), Some(ItemFind));
        assert_eq!(api(Method::POST, "/api/content/library/item", &[("action", "nope")]), None);
        assert_eq!(api(Method::PUT, "/api/content/library/item", &[]), None);
        let rest = |m, p, q| resolved(Dialect::Rest, m, p, q);
        assert_eq!(rest(Method::GET, "/rest/com/vmware/content/library/item/id:x", &[]), Some(ItemGet));
        assert_eq!(rest(Method::GET, "/rest/com/vmware/content/library/item/x", &[]), None);
        assert_eq!(rest(Method::GET, "/rest/com/vmware/content/library/item/id:", &[]), None);
        assert_eq!(rest(Method::POST, "/rest/com/vmware/cis/session", &[("~action", "get")]), Some(SessionGet));
    }

    #[test]
    fn inputs_come_from_path_query_and_body() {
        let headers = HeaderMap::new();
        let op = OperationId::DatastoreList.operation();
        let req = Request {
            dialect: Dialect::Api,
            method: &Method::GET,
            segments: vec!["api".into(), "vcenter".into(), "datastore".into()],
            query: vec![("names".into(), "ds1".into())],
            headers: &headers,
            body: Bytes::new(),
        };
        assert_eq!(inputs(&op.api, &req).unwrap().0["filter"]["names"], serde_json::json!(["ds1"]));

        let op = OperationId::UpdateSessionFileAdd.operation();
        let rest = op.rest.as_ref().unwrap();
        let req = Request {
            dialect: Dialect::Rest,
            method: &Method::POST,
            segments: "rest/com/vmware/content/library/item/updatesession/file/id:s1"
                .split('/')
                .map(str::to_owned)
                .collect(),
            query: vec![("~action".into(), "add".into())],
            headers: &headers,
            body: Bytes::from_static(br#"{"file_spec": {"name": "a"}, "update_session_id": "other"}"#),
        };
        let input = inputs(rest, &req).unwrap().0;
        assert_eq!(input["update_session_id"], "s1", "the path wins over a body field of the same name");
        assert_eq!(input["file_spec"]["name"], "a");
        let req = Request { body: Bytes::from_static(b"[1]"), ..req };
        assert!(inputs(rest, &req).is_err());
    }
}
