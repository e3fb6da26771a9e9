//! A hostile (or just broken) vCenter of our own: the `/api` dialect of a download, with every
//! answer open to misbehaviour, on 127.0.0.1; and a recorder on 127.0.0.2 standing in for
//! "another host", which records every request's headers so tests can prove no secret reached it.

#![allow(dead_code)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub const TOKEN_HEADER: &str = "vmware-api-session-id";

/// How the server answers.
#[derive(Clone)]
pub struct Plan {
    /// The session token the login hands out.
    pub token: String,
    pub files: Vec<FilePlan>,
    /// Every API call but the login is answered with a 307 to this URL.
    pub api_redirect: Option<String>,
    /// The file list is answered with this many bytes of whitespace.
    pub huge_list: Option<usize>,
    /// Files never get PREPARED: the server keeps reporting this status.
    pub stuck_status: Option<String>,
    /// The item's content version the download session reports (none: the session get fails).
    pub content_version: Option<String>,
    /// What the library and item listings answer, and the id a new download session gets.
    pub listed: Vec<String>,
    pub session_id: Option<String>,
}

impl Default for Plan {
    fn default() -> Self {
        Self {
            token: "good-token".into(),
            files: Vec::new(),
            api_redirect: None,
            huge_list: None,
            stuck_status: None,
            content_version: None,
            listed: Vec::new(),
            session_id: None,
        }
    }
}

#[derive(Clone)]
pub struct FilePlan {
    pub name: String,
    pub declared: i64,
    pub body: Vec<u8>,
    pub endpoint: Endpoint,
}

impl FilePlan {
    pub fn new(name: &str, body: &[u8]) -> Self {
        Self { name: name.into(), declared: body.len() as i64, body: body.to_vec(), endpoint: Endpoint::Here }
    }
}

/// Where the prepared file's download endpoint points, and what it does.
#[derive(Clone)]
pub enum Endpoint {
    /// This server's `/data/N`, serving the body.
    Here,
    /// This URI, verbatim.
    Uri(String),
    /// This server's `/data/N`, answering with a 302 to this URL.
    RedirectTo(String),
    /// This server's `/data/N`, answering 500 with an endless body.
    EndlessError,
}

/// One request as a server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub line: String,
    pub headers: HeaderMap,
}

impl Seen {
    pub fn has_token(&self) -> bool {
        self.headers.contains_key(TOKEN_HEADER)
    }
    pub fn has_credentials(&self) -> bool {
        self.headers.contains_key(header::AUTHORIZATION)
    }
}

#[derive(Clone)]
struct Shared {
    plan: Plan,
    base: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

pub struct Server {
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl Server {
    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// How many requests' first line contains `part`.
    pub fn count(&self, part: &str) -> usize {
        self.seen().iter().filter(|s| s.line.contains(part)).count()
    }
}

async fn bind(ip: [u8; 4]) -> (tokio::net::TcpListener, String) {
    let listener = tokio::net::TcpListener::bind((std::net::Ipv4Addr::from(ip), 0)).await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    (listener, url)
}

/// The hostile vCenter, on 127.0.0.1.
pub async fn vcenter(plan: Plan) -> Server {
    let (listener, url) = bind([127, 0, 0, 1]).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let shared = Shared { plan, base: url.clone(), seen: seen.clone() };
    let app = axum::Router::new().fallback(answer).with_state(shared);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { url, seen }
}

/// Another host (127.0.0.2): records and answers 200 with `body`.
pub async fn recorder(body: &'static [u8]) -> Server {
    let (listener, url) = bind([127, 0, 0, 2]).await;
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |request: Request| {
        let record = record.clone();
        async move {
            let line = format!("{} {}", request.method(), request.uri());
            record.lock().unwrap().push(Seen { line, headers: request.headers().clone() });
            body
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { url, seen }
}

fn json_reply(status: StatusCode, value: serde_json::Value) -> Response {
    (status, axum::Json(value)).into_response()
}

async fn answer(State(shared): State<Shared>, request: Request) -> Response {
    let line = format!("{} {}", request.method(), request.uri());
    shared.seen.lock().unwrap().push(Seen { line: line.clone(), headers: request.headers().clone() });
    let plan = &shared.plan;
    let path = request.uri().path().to_owned();
    let query =
        axum::extract::Query::<HashMap<String, String>>::try_from_uri(request.uri()).map(|q| q.0).unwrap_or_default();
    if path == "/api/session" && request.method() == "POST" {
        return json_reply(StatusCode::CREATED, json!(plan.token));
    }
    if let Some(index) = path.strip_prefix("/data/") {
        let Some(file) = index.parse::<usize>().ok().and_then(|i| plan.files.get(i)) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        return match &file.endpoint {
            Endpoint::RedirectTo(to) => (StatusCode::FOUND, [(header::LOCATION, to.clone())]).into_response(),
            Endpoint::EndlessError => {
                let chunks = futures_util::stream::repeat_with(|| Ok::<_, std::io::Error>(vec![b' '; 64 << 10]));
                (StatusCode::INTERNAL_SERVER_ERROR, Body::from_stream(chunks)).into_response()
            }
            _ => file.body.clone().into_response(),
        };
    }
    if let Some(to) = &plan.api_redirect {
        return (StatusCode::TEMPORARY_REDIRECT, [(header::LOCATION, to.clone())]).into_response();
    }
    let info = |i: usize, f: &FilePlan, prepared: bool| {
        let uri = match &f.endpoint {
            Endpoint::Uri(uri) => uri.clone(),
            _ => format!("{}/data/{i}", shared.base),
        };
        let mut v = json!({"name": f.name, "size": f.declared, "bytes_transferred": 0,
            "status": if prepared { "PREPARED" } else { "UNPREPARED" }});
        if prepared {
            v["download_endpoint"] = json!({ "uri": uri });
        }
        v
    };
    let find = |name: &str| plan.files.iter().position(|f| f.name == name);
    let sessions = "/api/content/library/item/download-session";
    match (request.method().as_str(), path.as_str()) {
        ("POST", p) if p == sessions => {
            json_reply(StatusCode::CREATED, json!(plan.session_id.clone().unwrap_or_else(|| "ds-1".into())))
        }
        ("GET", "/api/content/library" | "/api/content/library/item") => json_reply(StatusCode::OK, json!(plan.listed)),
        ("DELETE", p) if p == format!("{sessions}/ds-1") => StatusCode::NO_CONTENT.into_response(),
        ("GET", p) if p == format!("{sessions}/ds-1") && plan.content_version.is_some() => json_reply(
            StatusCode::OK,
            json!({"library_item_id": "item", "library_item_content_version": plan.content_version, "state": "ACTIVE",
                   "client_progress": 0, "expiration_time": "2099-01-01T00:00:00Z"}),
        ),
        ("POST", p) if p == format!("{sessions}/ds-1") => StatusCode::NO_CONTENT.into_response(),
        ("GET", p) if p == format!("{sessions}/ds-1/file") => match query.get("file_name") {
            Some(name) => match find(name) {
                Some(i) if plan.stuck_status.is_some() => {
                    let mut stuck = info(i, &plan.files[i], false);
                    stuck["status"] = json!(plan.stuck_status);
                    json_reply(StatusCode::OK, stuck)
                }
                Some(i) => json_reply(StatusCode::OK, info(i, &plan.files[i], true)),
                None => StatusCode::NOT_FOUND.into_response(),
            },
            None => match plan.huge_list {
                // Streamed, so the server itself stays small however large the body.
                Some(n) => {
                    let chunk = || Ok::<_, std::io::Error>(vec![b' '; 64 << 10]);
                    let chunks = futures_util::stream::iter((0..n.div_ceil(64 << 10)).map(move |_| chunk()));
                    (StatusCode::OK, [(header::CONTENT_TYPE, "application/json")], Body::from_stream(chunks))
                        .into_response()
                }
                None => {
                    let all: Vec<_> = plan.files.iter().enumerate().map(|(i, f)| info(i, f, false)).collect();
                    json_reply(StatusCode::OK, json!(all))
                }
            },
        },
        ("POST", p) if p == format!("{sessions}/ds-1/file") => {
            let body = axum::body::to_bytes(request.into_body(), 1 << 20).await.unwrap_or_default();
            let spec: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            match spec["file_name"].as_str().and_then(find) {
                Some(i) => json_reply(StatusCode::OK, info(i, &plan.files[i], false)),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
        // An item whose updates are acknowledged and never applied.
        ("PATCH", "/api/content/library/item/item") => StatusCode::NO_CONTENT.into_response(),
        ("GET", "/api/content/library/item/item") => {
            json_reply(StatusCode::OK, json!({"id": "item", "name": "old", "version": "1"}))
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}
