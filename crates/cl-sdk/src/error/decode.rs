//! Errors from what the other side said: a server's error body in either dialect (`/api` sends
//! `{error_type, messages, data}`, `/rest` sends `{"type": "com.vmware.vapi.std.errors.<name>",
//! "value": {…}}`; anything else falls back to the status), a transfer endpoint's bare answer,
//! a generated call's failure, and reqwest's transport failures (unreachable, reset, TLS).

use cl_api::types::{ErrorType, RestError, StdError};
use serde_json::Value;

use super::{Error, ErrorKind, chain};

impl Error {
    /// Decodes a server error from its status and body, whichever dialect sent it. Lenient on
    /// purpose: a `/rest` envelope without messages (as some servers send) still names its type.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::{Error, ErrorKind};
    /// let body = br#"{"error_type":"NOT_FOUND","messages":[]}"#;
    /// assert_eq!(Error::from_response(404, body).kind(), ErrorKind::NotFound);
    /// # Ok(()) }
    /// ```
    pub fn from_response(status: u16, body: &[u8]) -> Self {
        match serde_json::from_slice::<Value>(body) {
            Ok(json) if Self::is_std(&json) => Self::from_json(status, &json),
            _ => {
                let excerpt = excerpt(body);
                let message = if excerpt.is_empty() {
                    format!("HTTP {status} with an empty body")
                } else {
                    format!("HTTP {status}: {excerpt}")
                };
                Self { status: Some(status), ..Self::new(ErrorKind::from_status(status), message) }
            }
        }
    }

    fn is_std(json: &Value) -> bool {
        json["error_type"].is_string() || json["type"].as_str().is_some_and(|t| t.starts_with(REST_ERROR_PREFIX))
    }

    /// `/api`: `{error_type, messages}`; `/rest`: `{type, value: {messages, error_type?}}`.
    fn from_json(status: u16, json: &Value) -> Self {
        let (error_type, std) = match json["type"].as_str().and_then(|t| t.strip_prefix(REST_ERROR_PREFIX)) {
            Some(name) => {
                // Older vCenters leave `error_type` out of the envelope's value.
                let named = json["value"]["error_type"].as_str().map(str::to_owned);
                (named.unwrap_or_else(|| name.to_uppercase()), &json["value"])
            }
            None => (json["error_type"].as_str().unwrap_or_default().to_owned(), json),
        };
        let messages: Vec<String> = std["messages"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|m| {
                let text = m["default_message"].as_str().filter(|t| !t.is_empty()).or_else(|| m["id"].as_str());
                text.map(str::to_owned)
            })
            .collect();
        let messages =
            if messages.is_empty() { vec![format!("{error_type} (the server sent no message)")] } else { messages };
        let kind = ErrorKind::from_error_type(&ErrorType::from(error_type.as_str()));
        Self { status: Some(status), error_type: Some(error_type), messages, ..Self::new(kind, "") }
    }
}

const REST_ERROR_PREFIX: &str = "com.vmware.vapi.std.errors.";

/// The start of a server's text for a message: at most 200 characters, trimmed.
pub(crate) fn excerpt(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(4096)]);
    text.trim().chars().take(200).collect()
}

/// How much of a transfer endpoint's error body is read: enough for any message.
const ERROR_BODY_CAP: usize = 64 << 10;

/// The error a transfer endpoint answered with, from its status and at most 64 KiB of its body.
pub(crate) async fn from_transfer_response(mut response: reqwest::Response) -> Error {
    let status = response.status().as_u16();
    let retry_after = retry_after(response.headers());
    let mut body = Vec::new();
    while body.len() < ERROR_BODY_CAP {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk[..chunk.len().min(ERROR_BODY_CAP - body.len())]),
            _ => break,
        }
    }
    let mut error = Error::from_response(status, &body);
    error.set_retry_after(retry_after);
    error
}

/// `Retry-After` in seconds (the form servers send with 503 and 429); an HTTP date is not
/// read, and the retry policy's own backoff applies.
pub(crate) fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<std::time::Duration> {
    let value = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    value.trim().parse::<u64>().ok().map(std::time::Duration::from_secs)
}

/// The texts of the rustls errors in a failure's source chain.
pub(crate) fn tls_refusals(error: &reqwest::Error) -> impl Iterator<Item = String> + '_ {
    chain(Some(error)).filter_map(|e| e.downcast_ref::<rustls::Error>()).map(ToString::to_string)
}

/// What actually went wrong at the bottom of a failure's source chain ("Connection refused (os
/// error 111)", "failed to lookup address information", "connection reset by peer"), which
/// reqwest's own message leaves out.
fn root_cause(error: &reqwest::Error) -> Option<String> {
    let last = chain(Some(error)).last()?;
    let text = last.to_string();
    (!text.is_empty() && !std::ptr::addr_eq(last, error as &dyn std::error::Error)).then_some(text)
}

/// A transport-level failure of reqwest: unreachable, reset, timed out, TLS. TLS failures are
/// recognized by the rustls error in the source chain.
pub(crate) fn transport(error: reqwest::Error) -> Error {
    let host = error.url().and_then(|u| Some(format!("{}:{}", u.host_str()?, u.port_or_known_default()?)));
    let to = host.map(|h| format!(" to {h}")).unwrap_or_default();
    // A TLS client meeting a plain-http server sees a record that is not TLS.
    let not_tls = chain(Some(&error))
        .any(|e| matches!(e.downcast_ref::<rustls::Error>(), Some(rustls::Error::InvalidMessage(_))));
    if not_tls {
        let message =
            format!("the connection{to} failed: the server does not speak TLS there (try http:// instead of https://)");
        return Error::new(ErrorKind::Transport, message).with_source(error);
    }
    let tls = chain(Some(&error)).any(|e| e.is::<rustls::Error>());
    let refused = chain(Some(&error)).find_map(|e| e.downcast_ref::<crate::origin::RedirectRefused>());
    if let Some(message) = refused.map(ToString::to_string) {
        return Error::new(ErrorKind::RedirectRefused, message).with_source(error);
    }
    if chain(Some(&error)).any(|e| e.is::<cl_api::BodyLimitExceeded>()) {
        let message = "the server's response was larger than the client accepts (ClientBuilder::max_response_bytes)";
        return Error::new(ErrorKind::Decode, message).with_source(error);
    }
    let timed_out = chain(Some(&error)).any(|e| {
        e.downcast_ref::<reqwest::Error>().is_some_and(reqwest::Error::is_timeout)
            || e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
    });
    let kind = if tls {
        ErrorKind::Tls
    } else if timed_out {
        ErrorKind::TimedOut
    } else if error.is_decode() {
        ErrorKind::Decode
    } else {
        ErrorKind::Transport
    };
    let message = match (kind, root_cause(&error)) {
        (ErrorKind::Tls, _) => format!("the server's TLS certificate{} is not trusted", to.replace(" to ", " at ")),
        // A plain-http client meeting a TLS server gets bytes that are not HTTP.
        (_, Some(c)) if c.contains("invalid HTTP") => {
            format!("the connection{to} failed: the server does not answer in plain HTTP there (try https://)")
        }
        (_, Some(c)) => format!("the request{to} failed: {c}"),
        (_, None) => format!("the request{to} did not complete"),
    };
    Error::new(kind, message).with_source(error)
}

/// Turns a generated call's error into an [`Error`]; an undocumented status has its body read.
pub(crate) async fn from_generated<E: 'static>(error: progenitor_client::Error<E>, status: Option<u16>) -> Error {
    use progenitor_client::Error as G;
    match error {
        G::ErrorResponse(response) => {
            let status = response.status().as_u16();
            let any: &dyn std::any::Any = &*response;
            let json = if let Some(e) = any.downcast_ref::<StdError>() {
                serde_json::to_value(e).ok()
            } else {
                any.downcast_ref::<RestError>().and_then(|e| serde_json::to_value(e).ok())
            };
            match json {
                Some(json) if Error::is_std(&json) => Error::from_json(status, &json),
                _ => Error { status: Some(status), ..Error::new(ErrorKind::from_status(status), "error response") },
            }
        }
        G::UnexpectedResponse(response) => {
            let status = response.status().as_u16();
            match response.bytes().await {
                Ok(body) => Error::from_response(status, &body),
                Err(e) => Error {
                    status: Some(status),
                    ..Error::new(ErrorKind::from_status(status), "unreadable error body")
                }
                .with_source(e),
            }
        }
        G::CommunicationError(e) => transport(e),
        // A documented error status with a body that is not the documented JSON.
        G::InvalidResponsePayload(body, _) if status.is_some_and(|s| s >= 400) => {
            Error::from_response(status.unwrap_or_default(), &body)
        }
        G::InvalidResponsePayload(body, e) => {
            let excerpt = excerpt(&body);
            Error::new(ErrorKind::Decode, format!("the response was not the documented shape ({e}): {excerpt}"))
        }
        G::ResponseBodyError(e) => transport(e),
        G::InvalidRequest(text) => Error::new(ErrorKind::InvalidInput, text),
        G::InvalidUpgrade(e) => transport(e),
        G::Custom(text) => Error::new(ErrorKind::Decode, text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_errors_decode_by_body() {
        let body = br#"{"error_type":"NOT_ALLOWED_IN_CURRENT_STATE","messages":[{"id":"x","default_message":"Session is DONE.","args":[]},{"id":"y","default_message":"cause","args":[]}]}"#;
        let e = Error::from_response(400, body);
        assert_eq!(e.kind(), ErrorKind::NotAllowedInCurrentState);
        assert_eq!(e.messages(), ["Session is DONE.", "cause"]);
        assert_eq!(e.error_type(), Some("NOT_ALLOWED_IN_CURRENT_STATE"));
        assert_eq!(e.to_string(), "Session is DONE.");
        assert_eq!(e.report(), "Session is DONE. (NOT_ALLOWED_IN_CURRENT_STATE, HTTP 400); caused by: cause");
        // The body wins over the status: ResourceBusy arrives as a 500 on /api.
        let e = Error::from_response(500, br#"{"error_type":"RESOURCE_BUSY","messages":[]}"#);
        assert_eq!(e.kind(), ErrorKind::ResourceBusy);
    }

    #[test]
    fn rest_errors_decode_with_and_without_error_type() {
        let old = br#"{"type":"com.vmware.vapi.std.errors.not_found","value":{"messages":[{"id":"a","default_message":"No item.","args":[]}]}}"#;
        let e = Error::from_response(404, old);
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert_eq!(e.error_type(), Some("NOT_FOUND"));
        let new = br#"{"type":"com.vmware.vapi.std.errors.resource_busy","value":{"error_type":"RESOURCE_BUSY","messages":[]}}"#;
        assert_eq!(Error::from_response(400, new).kind(), ErrorKind::ResourceBusy);
        // vcsim's `"value": {}` lacks the required messages: still decoded by its type.
        let sloppy = br#"{"type":"com.vmware.vapi.std.errors.already_exists","value":{}}"#;
        let e = Error::from_response(400, sloppy);
        assert_eq!(e.kind(), ErrorKind::AlreadyExists);
        assert_eq!(e.message(), "ALREADY_EXISTS (the server sent no message)");
    }

    #[test]
    fn unknown_and_missing_bodies() {
        let e = Error::from_response(400, br#"{"error_type":"FLUX_CAPACITOR","messages":[]}"#);
        assert_eq!(e.kind(), ErrorKind::UnknownStd);
        assert_eq!(e.error_type(), Some("FLUX_CAPACITOR"));
        let e = Error::from_response(401, b"");
        assert_eq!(e.kind(), ErrorKind::Unauthenticated);
        assert_eq!(e.message(), "HTTP 401 with an empty body");
        let e = Error::from_response(502, b"<html>Bad Gateway</html>");
        assert_eq!(e.kind(), ErrorKind::Http);
        assert!(e.is_retryable());
        assert!(Error::from_response(404, b"404 page not found").kind() == ErrorKind::NotFound);
    }

    #[test]
    fn retryable_classification() {
        let retry = |body: &[u8], status| Error::from_response(status, body).is_retryable();
        assert!(retry(br#"{"error_type":"SERVICE_UNAVAILABLE","messages":[]}"#, 503));
        assert!(retry(br#"{"error_type":"TIMED_OUT","messages":[]}"#, 504));
        assert!(!retry(br#"{"error_type":"NOT_FOUND","messages":[]}"#, 404));
        assert!(!retry(br#"{"error_type":"INVALID_ARGUMENT","messages":[]}"#, 400));
        assert!(!retry(b"", 400));
        assert!(retry(b"", 429));
    }
}
