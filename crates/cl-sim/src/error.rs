//! Standard errors, and how each dialect puts them on the wire.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use cl_api::types::{ErrorType, LocalizableMessage, RestError, StdError};

use crate::dialect::Dialect;

/// A standard vAPI error raised by the simulated service.
#[derive(Debug, Clone)]
pub struct SimError {
    pub kind: ErrorType,
    pub message: String,
    /// The `/api` status where the operation documents one other than the default map's.
    pub api_status: Option<StatusCode>,
}

pub type SimResult<T> = Result<T, SimError>;

impl SimError {
    pub fn new(kind: ErrorType, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), api_status: None }
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorType::NotFound, message)
    }
    pub fn invalid_argument(message: impl Into<String>) -> Self {
        Self::new(ErrorType::InvalidArgument, message)
    }
    pub fn not_allowed(message: impl Into<String>) -> Self {
        Self::new(ErrorType::NotAllowedInCurrentState, message)
    }
    pub fn unauthenticated() -> Self {
        Self::new(ErrorType::Unauthenticated, "Authentication required: log in and send vmware-api-session-id.")
    }

    /// The status vAPI's REST mapping gives this error (operations may override it on `/api`).
    fn default_status(&self) -> StatusCode {
        use ErrorType::*;
        match self.kind {
            NotFound | OperationNotFound => StatusCode::NOT_FOUND,
            ConcurrentChange => StatusCode::CONFLICT,
            Unauthenticated => StatusCode::UNAUTHORIZED,
            Unauthorized => StatusCode::FORBIDDEN,
            ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            TimedOut => StatusCode::GATEWAY_TIMEOUT,
            InternalServerError | Error => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        }
    }

    pub(crate) fn std_error(&self) -> StdError {
        let message = LocalizableMessage {
            id: format!("com.vmware.vdcs.cls-main.{}", self.kind.as_str().to_lowercase()),
            default_message: self.message.clone(),
            args: Vec::new(),
            params: None,
            localized: None,
        };
        StdError {
            // vCenter's /rest errors carry `error_type` inside `value` too (7.0+).
            error_type: Some(self.kind.clone()),
            messages: vec![message],
            data: None,
        }
    }

    /// The error's canonical vAPI name, e.g. `com.vmware.vapi.std.errors.not_found`.
    pub(crate) fn vapi_name(&self) -> String {
        format!("com.vmware.vapi.std.errors.{}", self.kind.as_str().to_lowercase())
    }

    pub fn into_response(self, dialect: Dialect) -> Response {
        let body = self.std_error();
        match dialect {
            Dialect::Api => {
                (self.api_status.unwrap_or_else(|| self.default_status()), axum::Json(body)).into_response()
            }
            Dialect::Rest => {
                let envelope = RestError { type_: self.vapi_name(), value: body };
                (self.default_status(), axum::Json(envelope)).into_response()
            }
        }
    }
}
