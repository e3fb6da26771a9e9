//! vAPI JSON-RPC 2.0, the protocol the official vSphere Automation SDKs speak by default: every
//! call is `POST /api` with `{"jsonrpc":"2.0","method":"invoke","id":…,"params":{"serviceId",
//! "operationId","input","ctx"}}`.
//!
//! A call names its operation by vAPI service and operation, which the operation table maps to
//! the same [`OperationId`] the REST dialects route to; its input structure is the handler's
//! inputs as they are, and it runs through [`perform`]; the result comes back
//! as `{"result":{"output":…}}` or `{"result":{"error":…}}` in vAPI's tagged form. The security
//! context (user and password to log in, the session id after) becomes the headers `/api` uses.
//! Transfers stay plain HTTP on the URIs the sessions hand out, as on vCenter. Malformed requests
//! get JSON-RPC's own error replies; every reply is HTTP 200, as the SDKs expect.

mod types;

pub(crate) use types::*;

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use cl_api::operation::OperationId;
use cl_api::types::ErrorType;
use serde_json::{Map, Value, json};

use crate::dialect;
use crate::error::SimError;
use crate::handler::{Input, Outcome, Reply, perform};
use crate::service::Service;

const PARSE_ERROR: i64 = -32700;
const INVALID_REQUEST: i64 = -32600;
const METHOD_NOT_FOUND: i64 = -32601;
const INVALID_PARAMS: i64 = -32602;

/// Handles one `POST /api` JSON-RPC request.
pub(crate) async fn handle(service: &Arc<Service>, body: &[u8]) -> Response {
    let request: Value = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(e) => return protocol_error(Value::Null, PARSE_ERROR, format!("Parse error: {e}.")),
    };
    let Value::Object(mut request) = request else {
        return protocol_error(Value::Null, INVALID_REQUEST, "Invalid request: not a JSON object.");
    };
    let id = match request.remove("id") {
        Some(id @ (Value::String(_) | Value::Number(_))) => id,
        _ => {
            return protocol_error(Value::Null, INVALID_REQUEST, "Invalid request: a string or number id is required.");
        }
    };
    if request.get("jsonrpc") != Some(&json!("2.0")) {
        return protocol_error(id, INVALID_REQUEST, "Invalid request: jsonrpc must be \"2.0\".");
    }
    match request.get("method").and_then(Value::as_str) {
        Some("invoke") => {}
        Some(other) => return protocol_error(id, METHOD_NOT_FOUND, format!("Method not found: {other:?}.")),
        None => return protocol_error(id, INVALID_REQUEST, "Invalid request: method must be a string."),
    }
    let call = match Invoke::parse(request.remove("params")) {
        Ok(call) => call,
        Err(why) => return protocol_error(id, INVALID_PARAMS, format!("Invalid params: {why}.")),
    };
    let result = match invoke(service, call).await {
        Invoked::Result(result) => result,
        Invoked::Wire(response) => return response,
    };
    axum::Json(json!({ "jsonrpc": "2.0", "id": id, "result": result })).into_response()
}

/// The parameters of an `invoke`.
struct Invoke {
    service: String,
    operation: String,
    input: Map<String, Value>,
    headers: HeaderMap,
}

impl Invoke {
    fn parse(params: Option<Value>) -> Result<Self, String> {
        let Some(Value::Object(mut params)) = params else { return Err("params must be an object".into()) };
        let mut text = |key: &str| match params.remove(key) {
            Some(Value::String(s)) => Ok(s),
            _ => Err(format!("{key} must be a string")),
        };
        let (service, operation) = (text("serviceId")?, text("operationId")?);
        let input = match untag(params.remove("input").unwrap_or(Value::Null))? {
            Value::Object(input) => input,
            Value::Null => Map::new(),
            _ => return Err("input must be the operation-input structure".into()),
        };
        let headers = security_headers(params.get("ctx").and_then(|ctx| ctx.get("securityCtx")));
        Ok(Self { service, operation, input, headers })
    }
}

/// The `/api` headers equivalent to a security context: basic credentials for the user/password
/// scheme (only the login accepts them), the session header for the session scheme.
fn security_headers(context: Option<&Value>) -> HeaderMap {
    use base64::Engine as _;
    let mut headers = HeaderMap::new();
    let Some(context) = context else { return headers };
    let field = |name: &str| context.get(name).and_then(Value::as_str);
    let value = match field("schemeId") {
        Some("com.vmware.vapi.std.security.user_pass") => {
            let (user, password) = (field("userName").unwrap_or_default(), field("password").unwrap_or_default());
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            Some((header::AUTHORIZATION, format!("Basic {encoded}")))
        }
        Some("com.vmware.vapi.std.security.session_id") => {
            field("sessionId").map(|id| (header::HeaderName::from_static(cl_api::SESSION_HEADER), id.to_owned()))
        }
        _ => None,
    };
    // A value no header can carry authenticates nobody: the service answers unauthenticated.
    if let Some((name, value)) = value
        && let Ok(value) = HeaderValue::from_str(&value)
    {
        headers.insert(name, value);
    }
    headers
}

enum Invoked {
    /// The `result` member: `{"output": …}` or `{"error": …}`.
    Result(Value),
    /// An injected fault answered on the HTTP level instead.
    Wire(Response),
}

async fn invoke(service: &Arc<Service>, call: Invoke) -> Invoked {
    let Some(op) = OperationId::from_vapi(&call.service, &call.operation) else {
        let error = SimError::new(
            ErrorType::OperationNotFound,
            format!("The simulator has no operation {:?} in service {:?}.", call.operation, call.service),
        );
        return Invoked::Result(json!({ "error": tagged_error(&error) }));
    };
    let output = match perform(service, op, Input(call.input), &call.headers).await {
        Outcome::Done(Ok(Reply::Void | Reply::Later(_))) => Value::Null,
        Outcome::Done(Ok(Reply::Value(value))) => match tag(&value, op.operation().output) {
            Ok(output) => output,
            Err(mismatch) => {
                tracing::error!(operation = op.name(), "output encoding: {}", mismatch.0);
                let error = SimError::new(ErrorType::InternalServerError, "The simulator built an invalid result.");
                return Invoked::Result(json!({ "error": tagged_error(&error) }));
            }
        },
        Outcome::Done(Err(error)) => return Invoked::Result(json!({ "error": tagged_error(&error) })),
        Outcome::Proxy(code) => return Invoked::Wire(dialect::proxy_reply(code)),
        Outcome::Cut => return Invoked::Wire(crate::transfer::cut()),
    };
    Invoked::Result(json!({ "output": output }))
}

/// A standard error as `{"ERROR": {"com.vmware.vapi.std.errors.<kind>": {fields}}}`.
fn tagged_error(error: &SimError) -> Value {
    let plain = serde_json::to_value(error.std_error()).expect("std errors serialize");
    let fields = plain.as_object().map(|fields| tag_fields(&cl_api::operation::structures::STD_ERROR, fields));
    let mut fields = fields.and_then(Result::ok).expect("std errors match their declared type");
    if matches!(error.kind, ErrorType::Unauthenticated | ErrorType::Unauthorized) {
        fields["challenge"] = json!({ "OPTIONAL": null });
    }
    json!({ "ERROR": { error.vapi_name(): fields } })
}

fn protocol_error(id: Value, code: i64, message: impl Into<String>) -> Response {
    let error = json!({ "code": code, "message": message.into() });
    axum::Json(json!({ "jsonrpc": "2.0", "id": id, "error": error })).into_response()
}
