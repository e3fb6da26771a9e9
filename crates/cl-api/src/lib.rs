//! Raw bindings to the vSphere Content Library item transfer service, both wire dialects.
//!
//! Everything but this file is generated at build time from `openapi/cl-transfer.yaml` by
//! progenitor (through `cl-codegen`); `generated/cl_api.rs` is a reviewed snapshot of the same
//! code. Methods are named after the spec's operationIds: `download_session_create` is the `/api`
//! operation, `rest_download_session_create` its legacy `/rest` twin.
//!
//! This file adds what a generator cannot know: the [`Hooks`] every call runs through (session
//! header, login credentials, tracing) and a [`Client::new`] without a total request timeout.
//! Most users want the `cl-sdk` crate instead, which builds on these bindings.
//!
//! ```no_run
//! # async fn demo() -> Result<(), Box<dyn std::error::Error>> {
//! let hooks = cl_api::Hooks::default();
//! let client = cl_api::Client::new("https://vcenter.example.com", hooks.clone())?;
//! hooks.set_login(Some(("administrator@vsphere.local", "secret")));
//! let token = client.session_create().await?.into_inner();
//! hooks.set_login(None);
//! hooks.set_session_id(Some(&token))?;
//! let ids = client.download_session_list(None).await?.into_inner();
//! println!("{} download sessions", ids.len());
//! # Ok(()) }
//! ```

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, HeaderValue};
use tracing::Instrument;

include!(concat!(env!("OUT_DIR"), "/cl_api.rs"));

pub mod operation;

/// The header that carries the API session token on every call but the login.
pub const SESSION_HEADER: &str = "vmware-api-session-id";

/// The two wire dialects of the service, one definition for the bindings, the SDK, the simulator
/// and the tests. Operations of the `/rest` dialect carry the `rest_` prefix in this crate.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// `/api/...`: vCenter 7.0 U2 and later.
    Api,
    /// `/rest/com/vmware/...`: the legacy dialect, also served by older vCenters and govmomi's vcsim.
    Rest,
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Api => "/api",
            Self::Rest => "/rest",
        })
    }
}

tokio::task_local! {
    static STATUS: std::cell::Cell<Option<u16>>;
}

/// Runs a generated call and also returns the HTTP status of its response, if one arrived.
///
/// progenitor reports an error status whose body is not the documented JSON (an empty 401, a
/// proxy's HTML page) as `InvalidResponsePayload`, which carries no status; this recovers it.
pub async fn with_status<F: std::future::Future>(call: F) -> (F::Output, Option<u16>) {
    STATUS
        .scope(std::cell::Cell::new(None), async move {
            let output = call.await;
            (output, STATUS.with(|s| s.get()))
        })
        .await
}

/// A session token that a header cannot carry: empty, or holding anything but visible ASCII.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InvalidToken;

impl fmt::Display for InvalidToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("the session token is empty or holds characters other than visible ASCII")
    }
}

impl std::error::Error for InvalidToken {}

/// The login operations, the only ones that send basic credentials.
const LOGIN_OPERATIONS: [&str; 2] = ["session_create", "rest_session_create"];

/// Per-client state the generated methods hand to their hooks: the session token and, while
/// logging in, the basic credentials. Clones share the state, so a caller can keep one to swap
/// the token (after a re-login, say) while the client is in use.
///
/// Secrets are stored as sensitive header values and never printed: `Debug` shows only whether
/// they are set.
#[derive(Clone)]
pub struct Hooks {
    auth: Arc<RwLock<Auth>>,
    body_limit: Arc<AtomicUsize>,
}

impl Default for Hooks {
    fn default() -> Self {
        Self { auth: Arc::default(), body_limit: Arc::new(AtomicUsize::new(Self::DEFAULT_BODY_LIMIT)) }
    }
}

/// The error a response body fails with once it grows past [`Hooks::set_body_limit`].
pub use http_body_util::LengthLimitError as BodyLimitExceeded;

#[derive(Default)]
struct Auth {
    session: Option<HeaderValue>,
    login: Option<HeaderValue>,
}

impl Hooks {
    /// The default cap on a response body: API answers are small; 16 MiB holds thousands of
    /// files' worth of listings.
    pub const DEFAULT_BODY_LIMIT: usize = 16 << 20;

    /// Caps every response body read through these hooks at `bytes`: reading more fails with
    /// [`BodyLimitExceeded`] in the error's source chain, so a broken or hostile server cannot
    /// make the client buffer without bound.
    pub fn set_body_limit(&self, bytes: usize) {
        self.body_limit.store(bytes, Ordering::Relaxed);
    }

    /// The current cap on response bodies.
    pub fn body_limit(&self) -> usize {
        self.body_limit.load(Ordering::Relaxed)
    }

    /// Sets (or clears) the API session token sent in `vmware-api-session-id`. A token a header
    /// cannot carry (control characters, non-ASCII: only a broken or hostile server issues one)
    /// is refused and the previous token is kept.
    pub fn set_session_id(&self, token: Option<&str>) -> Result<(), InvalidToken> {
        let value = match token {
            // `from_str` alone would let bytes past ASCII through as opaque header bytes.
            Some(t) if t.is_empty() || !t.bytes().all(|b| b.is_ascii_graphic()) => return Err(InvalidToken),
            Some(t) => Some(sensitive(HeaderValue::from_str(t).map_err(|_| InvalidToken)?)),
            None => None,
        };
        self.write().session = value;
        Ok(())
    }

    /// The current session token, if any (transfers to opaque endpoint URIs need it too).
    pub fn session_id(&self) -> Option<String> {
        let auth = self.auth.read().unwrap_or_else(|e| e.into_inner());
        auth.session.as_ref().and_then(|v| v.to_str().ok()).map(str::to_owned)
    }

    /// Sets (or clears) the basic credentials the login operations send. Other operations never
    /// send them; clear them once logged in.
    pub fn set_login(&self, credentials: Option<(&str, &str)>) {
        use base64::Engine as _;
        let value = credentials.map(|(user, password)| {
            let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            let header = format!("Basic {encoded}");
            sensitive(HeaderValue::from_str(&header).expect("base64 is header-safe"))
        });
        self.write().login = value;
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Auth> {
        self.auth.write().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let auth = self.auth.read().unwrap_or_else(|e| e.into_inner());
        let state = |v: &Option<HeaderValue>| if v.is_some() { "<set>" } else { "<unset>" };
        f.debug_struct("Hooks").field("session", &state(&auth.session)).field("login", &state(&auth.login)).finish()
    }
}

/// The table's route of an operation, by its generated operationId.
fn route_of(operation_id: &str) -> Option<&'static operation::Route> {
    let (name, dialect) = match operation_id.strip_prefix("rest_") {
        Some(name) => (name, Dialect::Rest),
        None => (operation_id, Dialect::Api),
    };
    operation::OperationId::from_name(name)?.operation().route(dialect)
}

/// Whether the URL's path ends in the route, segment for segment. An empty, `.` or `..`
/// parameter (percent-encoded too) is dropped or resolved away by the URL parser, and the route's
/// literal segments no longer line up; whatever path the base URL has is left alone.
fn on_route(url: &reqwest::Url, route: &operation::Route) -> bool {
    let path: Vec<&str> = url.path_segments().into_iter().flatten().filter(|s| !s.is_empty()).collect();
    let Some(tail) = path.len().checked_sub(route.segments.len()).map(|start| &path[start..]) else {
        return false;
    };
    tail.iter().zip(route.segments).all(|(got, want)| match want {
        operation::Segment::Literal(text) => got == text,
        operation::Segment::IdParam(_) => got.starts_with("id:"),
        operation::Segment::Param(_) => true,
    })
}

fn sensitive(mut value: HeaderValue) -> HeaderValue {
    value.set_sensitive(true);
    value
}

impl ClientHooks<Hooks> for Client {
    async fn pre<E>(&self, request: &mut reqwest::Request, info: &OperationInfo) -> Result<(), Error<E>> {
        if let Some(route) = route_of(info.operation_id)
            && !on_route(request.url(), route)
        {
            // An empty path parameter, or `.` or `..` (percent-encoded too), was resolved away by the URL
            // parser: sent, the call would reach another resource.
            return Err(Error::InvalidRequest(format!(
                "{}: a path parameter is empty, `.` or `..`, which would address another resource",
                info.operation_id
            )));
        }
        let headers = request.headers_mut();
        // progenitor sends the spec's version on every call; vCenter has no use for it.
        headers.remove("api-version");
        let auth = self.inner.auth.read().unwrap_or_else(|e| e.into_inner());
        if LOGIN_OPERATIONS.contains(&info.operation_id) {
            if let Some(login) = &auth.login {
                headers.insert(AUTHORIZATION, login.clone());
            }
        } else if let Some(session) = &auth.session {
            headers.insert(SESSION_HEADER, session.clone());
        }
        Ok(())
    }

    async fn exec(&self, request: reqwest::Request, info: &OperationInfo) -> reqwest::Result<reqwest::Response> {
        let span = tracing::debug_span!(
            "cl_api",
            operation = info.operation_id,
            method = %request.method(),
            path = request.url().path(),
        );
        // Instrumented, not entered: a span entered across an await would also cover whatever
        // else the thread runs meanwhile.
        async {
            let started = Instant::now();
            let result = self.client.execute(request).await.map(|r| limit_body(r, self.inner.body_limit()));
            let elapsed_ms = started.elapsed().as_millis() as u64;
            match &result {
                Ok(response) => {
                    let _ = STATUS.try_with(|s| s.set(Some(response.status().as_u16())));
                    tracing::debug!(status = response.status().as_u16(), elapsed_ms, "response")
                }
                Err(error) => tracing::debug!(%error, elapsed_ms, "transport error"),
            }
            result
        }
        .instrument(span)
        .await
    }
}

/// The response with its body capped at `limit` bytes while it streams.
fn limit_body(response: reqwest::Response, limit: usize) -> reqwest::Response {
    let response: http::Response<reqwest::Body> = response.into();
    let (parts, body) = response.into_parts();
    let limited = reqwest::Body::wrap(http_body_util::Limited::new(body, limit));
    reqwest::Response::from(http::Response::from_parts(parts, limited))
}

impl Client {
    /// How long establishing a connection may take before the call fails.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

    /// A client for `baseurl` (scheme, host and port, e.g. `https://vcenter.example.com`) with a
    /// connect timeout but no total request timeout: transfers can legitimately run for hours.
    ///
    /// Use [`Client::new_with_client`] to bring a `reqwest::Client` with your own TLS settings.
    pub fn new(baseurl: &str, hooks: Hooks) -> reqwest::Result<Self> {
        cl_tls::install_crypto_provider();
        let http = reqwest::Client::builder().connect_timeout(Self::CONNECT_TIMEOUT).build()?;
        Ok(Self::new_with_client(baseurl, http, hooks))
    }

    /// The hooks this client runs every call through.
    pub fn hooks(&self) -> &Hooks {
        &self.inner
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_off_their_route_are_told_apart() {
        let route = route_of("item_get").unwrap();
        let rest = route_of("rest_item_get").unwrap();
        let url = |text: &str| reqwest::Url::parse(text).unwrap();
        for base in ["https://vc", "https://vc/", "https://proxy/vc1"] {
            assert!(on_route(&url(&format!("{base}/api/content/library/item/a-1")), route), "{base}");
            assert!(on_route(&url(&format!("{base}/rest/com/vmware/content/library/item/id:a-1")), rest), "{base}");
            for resolved in ["..", ".", "%2e%2E", ""] {
                let text = format!("{base}/api/content/library/item/{resolved}");
                assert!(!on_route(&url(&text), route), "{text}");
            }
        }
        assert!(!on_route(&url("https://vc/api/content/library/item/x/y"), route_of("item_list").unwrap()));
    }

    #[test]
    fn snapshots_match_the_generated_code() {
        same(include_str!(concat!(env!("OUT_DIR"), "/cl_api.rs")), include_str!("../generated/cl_api.rs"));
        same(include_str!(concat!(env!("OUT_DIR"), "/operations.rs")), include_str!("../generated/operations.rs"));
    }

    fn same(built: &str, snapshot: &str) {
        if let Some((n, (b, s))) = built.lines().zip(snapshot.lines()).enumerate().find(|(_, (b, s))| b != s) {
            panic!(
                "a snapshot in generated/ is stale (spec or generator changed without `cargo xtask gen`);\n\
                 first difference at line {}:\n  built:    {b}\n  snapshot: {s}",
                n + 1
            );
        }
        assert_eq!(
            built.lines().count(),
            snapshot.lines().count(),
            "a snapshot in generated/ is stale: run `cargo xtask gen`"
        );
    }

    #[test]
    fn debug_never_shows_secrets() {
        let hooks = Hooks::default();
        hooks.set_session_id(Some("tok-123")).unwrap();
        hooks.set_login(Some(("user", "hunter2")));
        let shown = format!("{hooks:?}");
        assert!(!shown.contains("tok-123") && !shown.contains("hunter2") && !shown.contains("aHVudGVy"), "{shown}");
        assert_eq!(hooks.session_id().as_deref(), Some("tok-123"));
    }

    #[test]
    fn unsafe_tokens_are_refused_not_panicked_on() {
        let hooks = Hooks::default();
        hooks.set_session_id(Some("good")).unwrap();
        for bad in ["a\nb", "tok\r\nX-Evil: 1", "\u{0}", "caf\u{e9}", "\u{7f}", "", "a b", "\t"] {
            assert!(hooks.set_session_id(Some(bad)).is_err(), "{bad:?} accepted");
        }
        assert_eq!(hooks.session_id().as_deref(), Some("good"));
    }
}
