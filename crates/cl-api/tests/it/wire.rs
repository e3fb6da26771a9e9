//! The harness of the wire tests: a local server that records each request and answers with a
//! canned response.

#![allow(dead_code)]

pub use std::fmt::Debug;
pub use std::future::Future;
pub use std::sync::{Arc, Mutex};

pub use axum::body::Bytes;
pub use axum::extract::{Request, State};
pub use axum::http::{HeaderMap, StatusCode, header};
pub use axum::response::{IntoResponse, Response};
pub use cl_api::types::{self as t};
pub use cl_api::{Client, Error, Hooks, ResponseValue};
pub use serde_json::{Value, json};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub line: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

#[derive(Clone)]
pub struct Canned {
    pub status: u16,
    pub content_type: &'static str,
    pub body: String,
}

#[derive(Clone, Default)]
pub struct Shared {
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub reply: Arc<Mutex<Option<Canned>>>,
}

pub struct Wire {
    pub shared: Shared,
    pub client: Client,
    pub hooks: Hooks,
}

pub async fn record(State(shared): State<Shared>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let line = format!("{} {}", parts.method, parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    shared.seen.lock().unwrap().push(Seen { line, headers: parts.headers, body });
    let canned = shared.reply.lock().unwrap().take().expect("a reply was set for this request");
    let status = StatusCode::from_u16(canned.status).unwrap();
    (status, [(header::CONTENT_TYPE, canned.content_type)], canned.body).into_response()
}

impl Wire {
    pub async fn start() -> Self {
        let shared = Shared::default();
        let app = axum::Router::new().fallback(record).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        let hooks = Hooks::default();
        hooks.set_session_id(Some("session-token-1")).unwrap();
        let client = Client::new(&base, hooks.clone()).unwrap();
        Wire { shared, client, hooks }
    }

    /// Sets the reply, runs the call, checks the request line and JSON body, returns the result.
    pub async fn call<T, E, F>(
        &self,
        reply: (u16, &str),
        call: F,
        line: &str,
        body: Option<Value>,
    ) -> Result<T, Error<E>>
    where
        F: Future<Output = Result<ResponseValue<T>, Error<E>>>,
    {
        let (status, text) = reply;
        let content_type = if text.is_empty() { "text/plain" } else { "application/json" };
        *self.shared.reply.lock().unwrap() = Some(Canned { status, content_type, body: text.to_owned() });
        let result = call.await.map(ResponseValue::into_inner);
        let seen = self.shared.seen.lock().unwrap().pop().expect("the call reached the server");
        assert_eq!(seen.line, line);
        let sent: Option<Value> =
            (!seen.body.is_empty()).then(|| serde_json::from_slice(&seen.body).expect("a JSON body"));
        assert_eq!(sent, body, "body of {line}");
        assert!(seen.headers.get("api-version").is_none(), "{line}: progenitor's api-version header must go");
        if line.contains("/session")
            && !line.contains("-session")
            && line.starts_with("POST")
            && !line.contains("~action")
        {
            assert!(seen.headers.get(header::AUTHORIZATION).is_some(), "{line}: login sends basic credentials");
            assert!(seen.headers.get(cl_api::SESSION_HEADER).is_none(), "{line}: login sends no session");
        } else {
            assert_eq!(seen.headers[cl_api::SESSION_HEADER], "session-token-1", "{line}");
            assert!(seen.headers.get(header::AUTHORIZATION).is_none(), "{line}: credentials only on login");
        }
        result
    }

    /// A call that must succeed.
    pub async fn ok<T: Debug, E: Debug, F>(&self, reply: (u16, &str), call: F, line: &str, body: Option<Value>) -> T
    where
        F: Future<Output = Result<ResponseValue<T>, Error<E>>>,
    {
        self.call(reply, call, line, body).await.unwrap_or_else(|e| panic!("{line}: {e:?}"))
    }
}

pub const API: &str = "/api/content/library/item";
pub const REST: &str = "/rest/com/vmware/content/library/item";

pub fn file_info() -> String {
    json!({"name": "a.ovf", "bytes_transferred": 0, "status": "PREPARED", "size": 3,
           "download_endpoint": {"uri": "https://h/cls/data/x/a.ovf", "ssl_certificate_thumbprint": "AA:BB"}})
    .to_string()
}

pub fn update_file_info() -> String {
    json!({"name": "a.ovf", "source_type": "PUSH", "bytes_transferred": 0, "status": "WAITING_FOR_TRANSFER",
           "upload_endpoint": {"uri": "https://h/cls/data/y/a.ovf"}})
    .to_string()
}

pub fn wrap(inner: &str) -> String {
    format!("{{\"value\":{inner}}}")
}
