//! The client: connection settings, login, dialect detection, and the one place every API call
//! goes through ([`Client::run`]) for error decoding and transparent re-login.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cl_api::types::TransferEndpoint;
use cl_api::{Hooks, ResponseValue};
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result, from_generated, transport};

/// The wire dialect of the vCenter API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// `/api/...`: vCenter 7.0 U2 and later.
    Api,
    /// `/rest/com/vmware/...`: the legacy dialect, also served by older vCenters and govmomi's vcsim.
    Rest,
}

impl std::fmt::Display for Dialect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Api => "/api",
            Self::Rest => "/rest",
        })
    }
}

/// How to trust the server's TLS certificate.
#[derive(Clone, Default)]
struct Trust {
    ca_pems: Vec<String>,
    pins: Vec<String>,
    insecure: bool,
}

/// Settings for a [`Client`]; [`ClientBuilder::connect`] logs in.
///
/// ```no_run
/// # async fn demo() -> cl_sdk::Result<()> {
/// let client = cl_sdk::Client::builder("https://vcenter.example.com")
///     .credentials("administrator@vsphere.local", "secret")
///     .connect()
///     .await?;
/// println!("logged in over {}", client.dialect());
/// # Ok(()) }
/// ```
#[must_use]
pub struct ClientBuilder {
    url: String,
    username: Option<String>,
    password: Option<SecretString>,
    session_id: Option<SecretString>,
    dialect: Option<Dialect>,
    trust: Trust,
    connect_timeout: Duration,
    request_timeout: Duration,
    transfer_read_timeout: Duration,
    user_agent: String,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("session_id", &self.session_id.as_ref().map(|_| "<redacted>"))
            .field("dialect", &self.dialect)
            .field("insecure", &self.trust.insecure)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    fn new(url: &str) -> Self {
        Self {
            url: url.trim_end_matches('/').to_owned(),
            username: None,
            password: None,
            session_id: None,
            dialect: None,
            trust: Trust::default(),
            connect_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(120),
            transfer_read_timeout: Duration::from_secs(300),
            user_agent: concat!("cl-sdk/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// Log in with these credentials (and log in again when the API session expires).
    pub fn credentials(mut self, username: &str, password: &str) -> Self {
        self.username = Some(username.to_owned());
        self.password = Some(SecretString::from(password.to_owned()));
        self
    }

    /// Use an existing API session instead of logging in.
    pub fn session_id(mut self, session_id: &str) -> Self {
        self.session_id = Some(SecretString::from(session_id.to_owned()));
        self
    }

    /// Use this dialect instead of detecting it at connect.
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = Some(dialect);
        self
    }

    /// Also trust the CA certificates in this PEM text (system roots stay trusted).
    pub fn add_ca_pem(mut self, pem: &str) -> Self {
        self.trust.ca_pems.push(pem.to_owned());
        self
    }

    /// Trust the server if and only if its certificate has this SHA-1 or SHA-256 thumbprint
    /// (`AA:BB:…` or plain hex, any case). May be given more than once.
    pub fn pin_thumbprint(mut self, thumbprint: &str) -> Self {
        self.trust.pins.push(thumbprint.to_owned());
        self
    }

    /// **Insecure**: accept any certificate for the API, as `govc -k` does. Only for test
    /// servers; thumbprints that vCenter gives for transfer endpoints are still honoured.
    pub fn danger_accept_invalid_certificates(mut self, accept: bool) -> Self {
        self.trust.insecure = accept;
        self
    }

    /// Time allowed to establish a connection (default 30 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Total time allowed for one API call (default 120 s). Transfers have no total limit.
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Longest silence tolerated while a transfer is moving bytes (default 300 s).
    pub fn transfer_read_timeout(mut self, timeout: Duration) -> Self {
        self.transfer_read_timeout = timeout;
        self
    }

    /// The User-Agent header (default `cl-sdk/<version>`).
    pub fn user_agent(mut self, user_agent: &str) -> Self {
        self.user_agent = user_agent.to_owned();
        self
    }

    fn http(&self, trust: &Trust) -> Result<reqwest::ClientBuilder> {
        cl_tls::install_crypto_provider();
        let mut builder =
            reqwest::Client::builder().connect_timeout(self.connect_timeout).user_agent(self.user_agent.clone());
        if !trust.pins.is_empty() {
            let pins = trust
                .pins
                .iter()
                .map(|p| p.parse().map(cl_tls::Pin::Thumbprint))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?;
            builder = builder.tls_backend_preconfigured(cl_tls::PinnedVerifier::client_config(pins));
        } else if trust.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        } else {
            for pem in &trust.ca_pems {
                let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| {
                    Error::new(ErrorKind::InvalidInput, "the CA PEM holds no certificate").with_source(e)
                })?;
                if certs.is_empty() {
                    return Err(Error::new(ErrorKind::InvalidInput, "the CA PEM holds no certificate"));
                }
                for cert in certs {
                    builder = builder.add_root_certificate(cert);
                }
            }
        }
        Ok(builder)
    }

    /// Builds the client, logs in (or checks the given session) and settles the dialect.
    pub async fn connect(self) -> Result<Client> {
        if !(self.url.starts_with("https://") || self.url.starts_with("http://")) {
            return Err(Error::new(ErrorKind::InvalidInput, format!("{:?} is not an http(s) URL", self.url)));
        }
        let api_http = self.http(&self.trust)?.timeout(self.request_timeout).build().map_err(transport)?;
        let transfer_http =
            self.http(&self.trust)?.read_timeout(self.transfer_read_timeout).build().map_err(transport)?;
        let hooks = Hooks::default();
        let credentials = match (&self.username, &self.password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            _ => None,
        };
        if credentials.is_none() && self.session_id.is_none() {
            return Err(Error::new(ErrorKind::InvalidInput, "give credentials or a session id"));
        }
        let inner = Inner {
            api: cl_api::Client::new_with_client(&self.url, api_http, hooks.clone()),
            hooks,
            url: self.url.clone(),
            dialect: Mutex::new(self.dialect.unwrap_or(Dialect::Api)),
            credentials,
            transfer_http,
            transfer_read_timeout: self.transfer_read_timeout,
            connect_timeout: self.connect_timeout,
            user_agent: self.user_agent.clone(),
            pinned: Mutex::new(HashMap::new()),
            relogin: tokio::sync::Mutex::new(()),
        };
        let client = Client { inner: Arc::new(inner) };
        match (&self.session_id, self.dialect) {
            (Some(id), dialect) => {
                client.inner.hooks.set_session_id(Some(id.expose_secret()));
                let candidates = dialect.map_or(vec![Dialect::Api, Dialect::Rest], |d| vec![d]);
                client.settle(&candidates, |c| async move { c.session_user().await.map(|_| ()) }).await?;
            }
            (None, dialect) => {
                let candidates = dialect.map_or(vec![Dialect::Api, Dialect::Rest], |d| vec![d]);
                client.settle(&candidates, |c| async move { c.login().await }).await?;
            }
        }
        Ok(client)
    }
}

struct Inner {
    api: cl_api::Client,
    hooks: Hooks,
    url: String,
    dialect: Mutex<Dialect>,
    credentials: Option<(String, SecretString)>,
    transfer_http: reqwest::Client,
    transfer_read_timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
    /// Transfer clients pinned to an endpoint's thumbprint or certificate, by that pin.
    pinned: Mutex<HashMap<String, reqwest::Client>>,
    relogin: tokio::sync::Mutex<()>,
}

/// A connection to a vCenter (or a simulator) with a logged-in API session. Cheap to clone;
/// clones share the session.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client").field("url", &self.inner.url).field("dialect", &self.dialect()).finish_non_exhaustive()
    }
}

impl Client {
    /// Starts configuring a client for the vCenter at `url` (e.g. `https://vcenter.example.com`).
    pub fn builder(url: &str) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    /// The dialect in use.
    pub fn dialect(&self) -> Dialect {
        *self.inner.dialect.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The base URL.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The raw generated bindings, for operations this SDK does not wrap.
    pub fn raw(&self) -> &cl_api::Client {
        &self.inner.api
    }

    /// Tries each dialect in turn until `probe` succeeds; a dialect the server does not serve
    /// answers 404 (or OperationNotFound), anything else is a real failure.
    async fn settle<F, Fut>(&self, candidates: &[Dialect], probe: F) -> Result<()>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let mut last = None;
        for dialect in candidates {
            *self.inner.dialect.lock().unwrap_or_else(|e| e.into_inner()) = *dialect;
            match probe(self.clone()).await {
                Ok(()) => {
                    tracing::debug!(%dialect, "dialect settled");
                    return Ok(());
                }
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::OperationNotFound) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::new(ErrorKind::InvalidInput, "no dialect to try")))
    }

    /// Logs in with the configured credentials and starts using the new session.
    pub async fn login(&self) -> Result<()> {
        let (user, password) = self.inner.credentials.as_ref().ok_or_else(|| {
            Error::new(ErrorKind::Unauthenticated, "the session expired and no credentials were given")
        })?;
        let hooks = &self.inner.hooks;
        hooks.set_login(Some((user, password.expose_secret())));
        let token = match self.dialect() {
            Dialect::Api => api(self.inner.api.session_create()).await,
            Dialect::Rest => api(self.inner.api.rest_session_create()).await.map(|v| v.value),
        };
        hooks.set_login(None);
        let token = token.map_err(|e| e.in_operation("login"))?;
        hooks.set_session_id(Some(&token));
        Ok(())
    }

    /// Logs out, ending the API session.
    pub async fn logout(&self) -> Result<()> {
        let result = self
            .run("logout", move || {
                Box::pin(async move {
                    let c = self.raw();
                    match self.dialect() {
                        Dialect::Api => void(c.session_delete()).await,
                        Dialect::Rest => void(c.rest_session_delete()).await,
                    }
                })
            })
            .await;
        self.inner.hooks.set_session_id(None);
        result
    }

    /// The user the API session belongs to (also refreshes the session's idle clock).
    pub async fn session_user(&self) -> Result<String> {
        self.run("session_get", move || {
            Box::pin(async move {
                let c = self.raw();
                match self.dialect() {
                    Dialect::Api => api(c.session_get()).await.map(|s| s.user),
                    Dialect::Rest => api(c.rest_session_get()).await.map(|s| s.value.user),
                }
            })
        })
        .await
    }

    /// Runs one API call: decodes its error, names the operation, and on an expired API session
    /// logs in again and repeats the call once. Repeating is safe for every generated operation:
    /// a 401 means the server did not act, and their bodies are in memory.
    ///
    /// Calls are boxed `Send` futures so every SDK future stays `Send` (spawnable) however deeply
    /// it nests them; rustc cannot prove that through generic closure futures.
    pub(crate) async fn run<'a, T>(&self, operation: &str, call: impl Fn() -> BoxFuture<'a, Result<T>>) -> Result<T> {
        let before = self.inner.hooks.session_id();
        match call().await {
            Err(e) if e.kind() == &ErrorKind::Unauthenticated && self.inner.credentials.is_some() => {
                {
                    let _one_at_a_time = self.inner.relogin.lock().await;
                    // Another task may have logged in again already.
                    if self.inner.hooks.session_id() == before {
                        tracing::info!(operation, "API session expired; logging in again");
                        self.login().await?;
                    }
                }
                call().await.map_err(|e| e.in_operation(operation))
            }
            result => result.map_err(|e| e.in_operation(operation)),
        }
    }

    /// The session token, for transfer requests that carry it.
    pub(crate) fn session_token(&self) -> Option<String> {
        self.inner.hooks.session_id()
    }

    /// The HTTP client for a transfer endpoint: pinned to the endpoint's certificate or
    /// thumbprint when it names one (and nothing else is checked, as vCenter specifies), the
    /// client's own trust otherwise.
    pub(crate) fn transfer_http(&self, endpoint: &TransferEndpoint) -> Result<reqwest::Client> {
        let https = endpoint.uri.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://"));
        let pin = match (&endpoint.ssl_certificate, &endpoint.ssl_certificate_thumbprint) {
            (Some(pem), _) if https => cl_tls::pem_certificates(pem)
                .map(|certs| certs.into_iter().map(cl_tls::Pin::Certificate).collect::<Vec<_>>())
                .map(|pins| (pem.clone(), pins)),
            (None, Some(thumbprint)) if https => {
                thumbprint.parse().map(|t| (thumbprint.clone(), vec![cl_tls::Pin::Thumbprint(t)]))
            }
            _ => return Ok(self.inner.transfer_http.clone()),
        };
        let (key, pins) = pin.map_err(|e| {
            Error::new(ErrorKind::Decode, format!("the transfer endpoint's certificate pin is unusable: {e}"))
        })?;
        let mut cache = self.inner.pinned.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = cache.get(&key) {
            return Ok(client.clone());
        }
        let client = reqwest::Client::builder()
            .connect_timeout(self.inner.connect_timeout)
            .read_timeout(self.inner.transfer_read_timeout)
            .user_agent(self.inner.user_agent.clone())
            .tls_backend_preconfigured(cl_tls::PinnedVerifier::client_config(pins))
            .build()
            .map_err(transport)?;
        cache.insert(key, client.clone());
        Ok(client)
    }
}

/// Runs a generated call and returns its value. A 2xx status the spec does not list for the
/// operation (some builds answer 200 where 201 is documented) is still a success.
pub(crate) async fn api<T: DeserializeOwned, E: 'static>(
    call: impl Future<Output = std::result::Result<ResponseValue<T>, progenitor_client::Error<E>>>,
) -> Result<T> {
    match cl_api::with_status(call).await {
        (Ok(value), _) => Ok(value.into_inner()),
        (Err(progenitor_client::Error::UnexpectedResponse(response)), _) if response.status().is_success() => {
            let body = response.bytes().await.map_err(transport)?;
            let body: &[u8] = if body.iter().all(u8::is_ascii_whitespace) { b"null" } else { &body };
            serde_json::from_slice(body)
                .map_err(|e| Error::new(ErrorKind::Decode, format!("the response was not the documented shape: {e}")))
        }
        (Err(error), status) => Err(from_generated(error, status).await),
    }
}

/// [`api`] for a result some servers leave out: an empty 2xx body is `None`.
pub(crate) async fn api_or_empty<T: DeserializeOwned, E: 'static>(
    call: impl Future<Output = std::result::Result<ResponseValue<T>, progenitor_client::Error<E>>>,
) -> Result<Option<T>> {
    match cl_api::with_status(call).await {
        (Ok(value), _) => Ok(Some(value.into_inner())),
        (Err(progenitor_client::Error::InvalidResponsePayload(body, _)), Some(status))
            if status < 300 && body.iter().all(u8::is_ascii_whitespace) =>
        {
            Ok(None)
        }
        (Err(progenitor_client::Error::UnexpectedResponse(response)), _) if response.status().is_success() => {
            let body = response.bytes().await.map_err(transport)?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(None);
            }
            serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| Error::new(ErrorKind::Decode, format!("the response was not the documented shape: {e}")))
        }
        (Err(error), status) => Err(from_generated(error, status).await),
    }
}

/// [`api`] for operations without a result: any 2xx with any body is a success.
pub(crate) async fn void<E: 'static>(
    call: impl Future<Output = std::result::Result<ResponseValue<()>, progenitor_client::Error<E>>>,
) -> Result<()> {
    match cl_api::with_status(call).await {
        (Ok(_), _) => Ok(()),
        (Err(progenitor_client::Error::UnexpectedResponse(response)), _) if response.status().is_success() => Ok(()),
        (Err(error), status) => Err(from_generated(error, status).await),
    }
}
