//! The client: connection settings, login and the session state every call shares. Calls
//! themselves go through the wire layer's one call path.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cl_api::types::TransferEndpoint;
use cl_api::{Dialect, Hooks};
use secrecy::{ExposeSecret, SecretString};

use crate::error::{Error, ErrorKind, Result, transport};
use crate::origin;
use crate::retry::RetryPolicy;
use crate::wire::ops;

/// How to trust a server's TLS certificate: the system's roots, plus CAs given; or only the
/// thumbprints given; or (tests only) anything.
#[derive(Clone, Default)]
pub(crate) struct Trust {
    pub(crate) ca_pems: Vec<String>,
    pub(crate) pins: Vec<String>,
    pub(crate) insecure: bool,
}

impl Trust {
    /// `builder` trusting what this says.
    pub(crate) fn apply(&self, mut builder: reqwest::ClientBuilder) -> Result<reqwest::ClientBuilder> {
        cl_tls::install_crypto_provider();
        if !self.pins.is_empty() {
            let pins = self
                .pins
                .iter()
                .map(|p| p.parse().map(cl_tls::Pin::Thumbprint))
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?;
            builder = builder.tls_backend_preconfigured(cl_tls::PinnedVerifier::client_config(pins));
        } else if self.insecure {
            builder = builder.tls_danger_accept_invalid_certs(true);
        } else {
            for pem in &self.ca_pems {
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
    stall_timeout: Duration,
    user_agent: String,
    retry: RetryPolicy,
    max_response_bytes: usize,
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
            stall_timeout: Duration::from_secs(60),
            max_response_bytes: cl_api::Hooks::DEFAULT_BODY_LIMIT,
            user_agent: concat!("cl-sdk/", env!("CARGO_PKG_VERSION")).to_owned(),
            retry: RetryPolicy::default(),
        }
    }

    /// How failed calls are retried (default [`RetryPolicy::default`]): API calls that are safe
    /// to repeat, and the transfer loops' resumes and re-sends.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// use cl_sdk::RetryPolicy;
    /// let patient = RetryPolicy::default().max_attempts(8).budget(Duration::from_secs(600));
    /// let client = cl_sdk::Client::builder("https://vcenter.example.com").retry(patient).connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Log in with these credentials (and log in again when the API session expires).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// let client = cl_sdk::Client::builder("https://vcenter.example.com")
    ///     .credentials("administrator@vsphere.local", "secret")
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn credentials(mut self, username: &str, password: &str) -> Self {
        self.username = Some(username.to_owned());
        self.password = Some(SecretString::from(password.to_owned()));
        self
    }

    /// Use an existing API session instead of logging in.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// let token = std::env::var("VMWARE_API_SESSION_ID").unwrap_or_default();
    /// let client = cl_sdk::Client::builder("https://vcenter.example.com").session_id(&token).connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn session_id(mut self, session_id: &str) -> Self {
        self.session_id = Some(SecretString::from(session_id.to_owned()));
        self
    }

    /// Use this dialect instead of detecting it at connect.
    ///
    /// ```no_run
    /// # async fn demo() -> cl_sdk::Result<()> {
    /// use cl_sdk::Dialect;
    /// let client = cl_sdk::Client::builder("https://vcenter-67.example.com").dialect(Dialect::Rest).connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = Some(dialect);
        self
    }

    /// Also trust the CA certificates in this PEM text (system roots stay trusted).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// let ca = std::fs::read_to_string("vcenter-ca.pem").unwrap_or_default();
    /// let client = cl_sdk::Client::builder("https://vcenter.example.com").add_ca_pem(&ca).connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn add_ca_pem(mut self, pem: &str) -> Self {
        self.trust.ca_pems.push(pem.to_owned());
        self
    }

    /// Trust the server if and only if its certificate has this SHA-1 or SHA-256 thumbprint
    /// (`AA:BB:…` or plain hex, any case). May be given more than once.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// let thumbprint = "AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD";
    /// let client = cl_sdk::Client::builder("https://vcenter.example.com").pin_thumbprint(thumbprint).connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn pin_thumbprint(mut self, thumbprint: &str) -> Self {
        self.trust.pins.push(thumbprint.to_owned());
        self
    }

    /// **Insecure**: accept any certificate for the API, as `govc -k` does. Only for test
    /// servers; thumbprints that vCenter gives for transfer endpoints are still honoured.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// // A throwaway test server only: nothing about its identity is checked.
    /// let client = cl_sdk::Client::builder("https://127.0.0.1:8443").danger_accept_invalid_certificates(true).connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn danger_accept_invalid_certificates(mut self, accept: bool) -> Self {
        self.trust.insecure = accept;
        self
    }

    /// Time allowed to establish a connection (default 30 s).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// let client = cl_sdk::Client::builder("https://vcenter.example.com").connect_timeout(Duration::from_secs(5)).connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Total time allowed for one API call (default 120 s). Transfers have no total limit.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// let client = cl_sdk::Client::builder("https://vcenter.example.com").request_timeout(Duration::from_secs(30)).connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// Longest silence tolerated while a transfer is moving bytes (default 60 s); a stalled
    /// download is then resumed, a stalled upload sent again, under the retry policy.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// let client = cl_sdk::Client::builder("https://vcenter.example.com").stall_timeout(Duration::from_secs(120)).connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn stall_timeout(mut self, timeout: Duration) -> Self {
        self.stall_timeout = timeout;
        self
    }

    /// The largest API response body accepted (default 16 MiB); a larger one fails with
    /// [`ErrorKind::Decode`] once that much has arrived, so no server can make the client buffer
    /// without bound. Transfers are bounded by the sizes the server declares instead.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// let client = cl_sdk::Client::builder("https://vcenter.example.com").max_response_bytes(64 << 20).connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn max_response_bytes(mut self, bytes: usize) -> Self {
        self.max_response_bytes = bytes;
        self
    }

    /// The User-Agent header (default `cl-sdk/<version>`).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// let client = cl_sdk::Client::builder("https://vcenter.example.com").user_agent("nightly-sync/2.1").connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn user_agent(mut self, user_agent: &str) -> Self {
        self.user_agent = user_agent.to_owned();
        self
    }

    fn http(&self, trust: &Trust) -> Result<reqwest::ClientBuilder> {
        let builder = reqwest::Client::builder()
            .connect_timeout(self.connect_timeout)
            .user_agent(self.user_agent.clone())
            .redirect(origin::redirect_policy());
        trust.apply(builder)
    }

    /// Builds the client, logs in (or checks the given session) and settles the dialect.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// let client = cl_sdk::Client::builder("https://vcenter.example.com")
    ///     .credentials("administrator@vsphere.local", "secret")
    ///     .connect()
    ///     .await?;
    /// println!("logged in as {}", client.session_user().await?);
    /// # Ok(()) }
    /// ```
    pub async fn connect(self) -> Result<Client> {
        let origin = origin::parse_base(&self.url)?;
        let url = origin.as_str().trim_end_matches('/').to_owned();
        let api_http = self.http(&self.trust)?.timeout(self.request_timeout).build().map_err(transport)?;
        // Transfers go over HTTP/1.1, a connection per file: with HTTP/2 all of a client's files
        // would share one TCP connection and one flow-control window, which over a long round
        // trip caps them together (the official samples' clients speak HTTP/1.1 only).
        let transfer_http =
            self.http(&self.trust)?.read_timeout(self.stall_timeout).http1_only().build().map_err(transport)?;
        let hooks = Hooks::default();
        hooks.set_body_limit(self.max_response_bytes);
        let credentials = match (&self.username, &self.password) {
            (Some(u), Some(p)) => Some((u.clone(), p.clone())),
            _ => None,
        };
        if credentials.is_none() && self.session_id.is_none() {
            return Err(Error::new(ErrorKind::InvalidInput, "give credentials or a session id"));
        }
        let inner = Inner {
            api: cl_api::Client::new_with_client(&url, api_http, hooks.clone()),
            url,
            origin,
            dialect: Mutex::new(self.dialect.unwrap_or(crate::wire::DIALECTS[0])),
            credentials,
            retry: self.retry.clone(),
            transfer_http,
            stall_timeout: self.stall_timeout,
            connect_timeout: self.connect_timeout,
            user_agent: self.user_agent.clone(),
            pinned: Mutex::new(HashMap::new()),
            relogin: tokio::sync::Mutex::new(Relogins::default()),
        };
        let client = Client { inner: Arc::new(inner) };
        let settled = match &self.session_id {
            Some(id) => {
                hooks.set_session_id(Some(id.expose_secret())).map_err(|_| {
                    Error::new(ErrorKind::InvalidInput, "the session id holds characters a header cannot carry")
                })?;
                client.settle_dialect(self.dialect, |c| async move { c.session_user().await.map(|_| ()) }).await
            }
            None => client.settle_dialect(self.dialect, |c| async move { c.login().await }).await,
        };
        let settled = match settled {
            // Say which certificate was refused, so the user can decide to pin it.
            Err(e) if e.kind() == ErrorKind::Tls && self.trust.pins.is_empty() => {
                match probe_thumbprint(&client.inner.url, self.connect_timeout).await {
                    Some(thumbprint) => Err(e.with_detail(format!(
                        "the server's certificate has the SHA-1 thumbprint {thumbprint}; if you trust it, pin it"
                    ))),
                    None => Err(e),
                }
            }
            other => other,
        };
        match settled {
            // A PEM holding the server's own self-signed certificate is the usual mistake.
            Err(e) if e.kind() == ErrorKind::Tls && !self.trust.ca_pems.is_empty() => Err(Error::new(
                ErrorKind::Tls,
                "the server's TLS certificate is not signed by the given CA certificates; if the PEM holds \
                 the server's own self-signed certificate rather than its CA's, pin its thumbprint instead",
            )
            .with_source(e)),
            other => other.map(|()| client),
        }
    }
}

/// The SHA-1 thumbprint of the certificate a server presents, read by a handshake that trusts
/// nothing (so no request, and no credential, is ever sent).
async fn probe_thumbprint(url: &str, connect_timeout: Duration) -> Option<String> {
    let zero = cl_tls::Pin::Thumbprint("00".repeat(20).parse().ok()?);
    let probe = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .timeout(connect_timeout)
        .tls_backend_preconfigured(cl_tls::PinnedVerifier::client_config(vec![zero]))
        .build()
        .ok()?;
    let error = probe.get(url).send().await.err()?;
    crate::error::tls_refusals(&error).find_map(|text| {
        let start = text.find("SHA-1 ")? + "SHA-1 ".len();
        let thumbprint: String = text[start..].chars().take_while(|c| c.is_ascii_hexdigit() || *c == ':').collect();
        (thumbprint.len() == 59).then_some(thumbprint)
    })
}

struct Inner {
    api: cl_api::Client,
    url: String,
    /// Where the session token and credentials may go, and nowhere else.
    origin: reqwest::Url,
    dialect: Mutex<Dialect>,
    credentials: Option<(String, SecretString)>,
    retry: RetryPolicy,
    transfer_http: reqwest::Client,
    stall_timeout: Duration,
    connect_timeout: Duration,
    user_agent: String,
    /// Transfer clients pinned to an endpoint's thumbprint or certificate, by that pin.
    pinned: Mutex<HashMap<String, reqwest::Client>>,
    relogin: tokio::sync::Mutex<Relogins>,
}

/// A connection to a vCenter (or a simulator) with a logged-in API session. Cheap to clone;
/// clones share the session.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// let client = cl_sdk::Client::builder("https://vcenter.example.com")
///     .credentials("administrator@vsphere.local", "secret")
///     .connect()
///     .await?;
/// // Clones share the login: hand one to each task.
/// let other = client.clone();
/// tokio::spawn(async move { other.library_ids().await });
/// # Ok(()) }
/// ```
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
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// let client = cl_sdk::Client::builder("https://vcenter.example.com")
    ///     .credentials("administrator@vsphere.local", "secret")
    ///     .connect()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn builder(url: &str) -> ClientBuilder {
        ClientBuilder::new(url)
    }

    /// The dialect in use.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// println!("talking {}", client.dialect());
    /// # Ok(()) }
    /// ```
    pub fn dialect(&self) -> Dialect {
        *self.inner.dialect.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The base URL.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// println!("connected to {}", client.url());
    /// # Ok(()) }
    /// ```
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The raw generated bindings, for operations this SDK does not wrap.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// // The generated binding of any operation, with this client's session.
    /// let libraries = client.raw().library_list().await;
    /// println!("{}", libraries.is_ok());
    /// # Ok(()) }
    /// ```
    pub fn raw(&self) -> &cl_api::Client {
        &self.inner.api
    }

    /// Logs out, ending the API session.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// client.logout().await?;
    /// # Ok(()) }
    /// ```
    pub async fn logout(&self) -> Result<()> {
        let result = self.call(ops::session_delete()).await;
        let _ = self.inner.api.hooks().set_session_id(None);
        result
    }

    /// The user the API session belongs to (also refreshes the session's idle clock).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// println!("{}", client.session_user().await?);
    /// # Ok(()) }
    /// ```
    pub async fn session_user(&self) -> Result<String> {
        self.call(ops::session_get()).await.map(|s| s.user)
    }

    /// The retry policy of every call and transfer.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// println!("{} attempts at most", client.retry_policy().attempts());
    /// # Ok(()) }
    /// ```
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    pub(crate) fn set_dialect(&self, dialect: Dialect) {
        *self.inner.dialect.lock().unwrap_or_else(|e| e.into_inner()) = dialect;
    }

    pub(crate) fn credentials(&self) -> Option<(&str, &str)> {
        self.inner.credentials.as_ref().map(|(u, p)| (u.as_str(), p.expose_secret()))
    }

    pub(crate) fn has_credentials(&self) -> bool {
        self.inner.credentials.is_some()
    }

    pub(crate) async fn relogin_lock(&self) -> tokio::sync::MutexGuard<'_, Relogins> {
        self.inner.relogin.lock().await
    }

    /// The session token.
    pub(crate) fn session_token(&self) -> Option<String> {
        self.inner.api.hooks().session_id()
    }

    /// The session token for a transfer request to `url`: only when it is the API's own origin.
    pub(crate) fn token_for(&self, url: &reqwest::Url) -> Option<String> {
        if origin::same_origin(&self.inner.origin, url) {
            self.session_token()
        } else {
            tracing::debug!(host = url.host_str(), "transfer endpoint on another origin: no session token sent");
            None
        }
    }

    /// The HTTP client for a source outside vCenter (an http(s) URL this client fetches): its own
    /// trust, the client's timeouts, HTTP/1.1 as every transfer. Redirects are followed (reqwest
    /// drops credentials when one leaves the host) but never from https to http, and never off
    /// the origin of a source pinned by thumbprint (the pin vouches for that origin alone).
    pub(crate) fn source_http(&self, trust: &Trust) -> Result<reqwest::Client> {
        let builder = reqwest::Client::builder()
            .connect_timeout(self.inner.connect_timeout)
            .read_timeout(self.inner.stall_timeout)
            .user_agent(self.inner.user_agent.clone())
            .redirect(origin::source_redirect_policy(!trust.pins.is_empty()))
            .http1_only();
        trust.apply(builder)?.build().map_err(transport)
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
            .read_timeout(self.inner.stall_timeout)
            .user_agent(self.inner.user_agent.clone())
            .redirect(origin::redirect_policy())
            .tls_backend_preconfigured(cl_tls::PinnedVerifier::client_config(pins))
            .http1_only()
            .build()
            .map_err(transport)?;
        cache.insert(key, client.clone());
        Ok(client)
    }
}

/// The re-logins of a client's recent past: a server whose sessions stop working after every
/// call would otherwise be logged in to again for every call, without end.
#[derive(Debug, Default)]
pub(crate) struct Relogins {
    recent: std::collections::VecDeque<std::time::Instant>,
}

impl Relogins {
    /// At most this many re-logins …
    const BUDGET: usize = 5;
    /// … within this long.
    const WINDOW: Duration = Duration::from_secs(60);

    /// Counts one more re-login, or refuses it when the budget is spent.
    pub(crate) fn admit(&mut self) -> Result<()> {
        let now = std::time::Instant::now();
        while self.recent.front().is_some_and(|t| now.duration_since(*t) > Self::WINDOW) {
            self.recent.pop_front();
        }
        if self.recent.len() >= Self::BUDGET {
            return Err(Error::new(
                ErrorKind::Unauthenticated,
                format!(
                    "the server ended the API session {} times within {} s although every login succeeded; \
                     not logging in again (its sessions do not last: check the server)",
                    self.recent.len(),
                    Self::WINDOW.as_secs()
                ),
            )
            .with(crate::error::Detail::SessionsEnd));
        }
        self.recent.push_back(now);
        Ok(())
    }
}
