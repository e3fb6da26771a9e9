//! VCSP, the protocol a subscribed library reads: `lib.json`, the `items.json` index, an
//! `item.json` per item and the files, over plain HTTP(S) GETs. Both sides live here: serving a
//! published library at `/cls/vcsp/lib/<library id>/…` as vCenter does, and reading any feed
//! (another simulator's, a folder behind any web server) for a subscribed library.
//!
//! Facts: the project's VCSP digest (§4–§6 the files, §8 the versions, §12 serving); subscription
//! digest §3 (probe statuses), §7 (what the simulator does).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode, header};
use axum::response::{IntoResponse, Response};
use cl_api::types::{LocalizableMessage, ProbeResult, ProbeStatus, SubscriptionInfo};
use futures_util::StreamExt;

use crate::blob::{Blob, BlobWriter};
use crate::service::{Service, url_segment};

/// The largest `lib.json` or `items.json` a subscriber reads.
const INDEX_LIMIT: usize = 16 << 20;

pub use cl_vcsp::{File as FeedFile, Item as FeedItem, Items, Lib, item_type};

// ------------------------------------------------------------------ serving

/// Serves `GET /cls/vcsp/lib/<library id>/<rest>` of a published library.
pub async fn serve(service: Arc<Service>, tail: &str, request: Request<Body>) -> Response {
    let not_found = || (StatusCode::NOT_FOUND, "not found").into_response();
    let Some((library, rest)) = tail.split_once('/') else { return not_found() };
    let published = match service.published(library) {
        Some(published) => published,
        None => return not_found(),
    };
    if let Some(password) = &published.password
        && !basic_auth_is(request.headers(), "vcsp", password)
    {
        return (StatusCode::UNAUTHORIZED, [(header::WWW_AUTHENTICATE, "Basic realm=\"vcsp\"")], "").into_response();
    }
    let json =
        |value: &dyn erased::Json| ([(header::CONTENT_TYPE, "application/json")], value.to_json()).into_response();
    let segments: Vec<String> =
        rest.split('/').map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()).collect();
    match segments.as_slice() {
        [file] if file == "lib.json" => json(&published.lib),
        [file] if file == "items.json" => json(&published.items),
        [item, file] if file == "item.json" => {
            let href = format!("{}/item.json", url_segment(item));
            match published.items.items.iter().find(|i| i.self_href.as_deref() == Some(href.as_str())) {
                Some(found) => json(found),
                None => not_found(),
            }
        }
        [item, file] => match service.published_file(library, item, file) {
            Some(blob) => {
                service.feed_files_served.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                serve_blob(blob, request).await
            }
            None => not_found(),
        },
        _ => not_found(),
    }
}

/// What a published library shows its subscribers now.
pub struct Published {
    pub lib: Lib,
    pub items: Items,
    /// The password BASIC subscribers must send (user `vcsp`), when it is set.
    pub password: Option<String>,
}

mod erased {
    pub trait Json {
        fn to_json(&self) -> String;
    }
    impl<T: serde::Serialize> Json for T {
        fn to_json(&self) -> String {
            serde_json::to_string(self).expect("feed files serialize")
        }
    }
}

async fn serve_blob(blob: Arc<Blob>, request: Request<Body>) -> Response {
    use tower::ServiceExt as _;
    let serve = tower_http::services::ServeFile::new(&blob.path);
    match serve.oneshot(request).await {
        Ok(response) => {
            let (parts, body) = response.into_parts();
            // The blob stays on disk until the body is sent.
            let body = Body::from_stream(Body::new(body).into_data_stream().map(move |chunk| {
                let _keep = &blob;
                chunk
            }));
            Response::from_parts(parts, body)
        }
        Err(error) => (StatusCode::INTERNAL_SERVER_ERROR, error.to_string()).into_response(),
    }
}

fn basic_auth_is(headers: &HeaderMap, user: &str, password: &str) -> bool {
    crate::service::basic_credentials(headers).is_some_and(|(u, p)| u == user && p == password)
}

// ------------------------------------------------------------------ reading

/// Why a feed could not be read, as a probe reports it.
#[derive(Debug, Clone)]
pub struct FeedError {
    pub status: ProbeStatus,
    pub message: String,
}

impl FeedError {
    fn new(status: ProbeStatus, message: impl Into<String>) -> Self {
        Self { status, message: message.into() }
    }
}

/// A subscription's feed: its `lib.json` URL and how to reach it.
#[derive(Clone)]
pub struct Feed {
    url: reqwest::Url,
    client: reqwest::Client,
    credentials: Option<(String, String)>,
}

impl Feed {
    /// The feed a subscription names, trusting its publisher as vCenter does: the pinned
    /// thumbprint or certificate when one is given, else the platform's trust.
    pub fn new(info: &SubscriptionInfo) -> Result<Self, FeedError> {
        let text = info.subscription_url.as_deref().unwrap_or_default();
        let url = reqwest::Url::parse(text)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && u.host().is_some())
            .ok_or_else(|| FeedError::new(ProbeStatus::InvalidUrl, format!("{text:?} is not an http(s) URL.")))?;
        let mut pins = Vec::new();
        if let Some(pem) = &info.ssl_certificate {
            let certs = cl_tls::pem_certificates(pem)
                .map_err(|e| FeedError::new(ProbeStatus::CertificateError, format!("ssl_certificate: {e}")))?;
            pins.extend(certs.into_iter().map(cl_tls::Pin::Certificate));
        } else if let Some(thumbprint) = &info.ssl_thumbprint {
            let thumbprint = thumbprint
                .parse()
                .map_err(|e| FeedError::new(ProbeStatus::CertificateError, format!("ssl_thumbprint: {e}")))?;
            pins.push(cl_tls::Pin::Thumbprint(thumbprint));
        }
        let mut builder = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .read_timeout(Duration::from_secs(30))
            // A redirect may not take the feed's credentials to another origin (or to http).
            .redirect(reqwest::redirect::Policy::custom(|attempt| {
                let same = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
                if same && attempt.previous().len() < 5 { attempt.follow() } else { attempt.stop() }
            }));
        if !pins.is_empty() {
            builder = builder.tls_backend_preconfigured(cl_tls::PinnedVerifier::client_config(pins));
        }
        let client = builder.build().map_err(|e| FeedError::new(ProbeStatus::UnknownError, e.to_string()))?;
        let credentials = match info.authentication_method {
            Some(cl_api::types::AuthenticationMethod::Basic) => {
                Some((info.user_name.clone().unwrap_or_default(), info.password.clone().unwrap_or_default()))
            }
            _ => None,
        };
        Ok(Self { url, client, credentials })
    }

    /// Reads `lib.json`.
    pub async fn lib(&self) -> Result<Lib, FeedError> {
        let url = self.url.clone();
        self.json(url).await
    }

    /// Reads the index `lib` names.
    pub async fn items(&self, lib: &Lib) -> Result<Items, FeedError> {
        let url = self.resolve(&lib.items_href)?;
        self.json(url).await
    }

    /// A reference of the feed (`itemsHref`, a file href) as a URL: relative to `lib.json`, and
    /// never off the feed's origin (a feed cannot send its subscriber's credentials elsewhere).
    pub fn resolve(&self, href: &str) -> Result<reqwest::Url, FeedError> {
        let url = self.url.join(href).map_err(|_| {
            FeedError::new(ProbeStatus::UnknownError, format!("The feed reference {href:?} is not a URL."))
        })?;
        if url.origin() != self.url.origin() {
            return Err(FeedError::new(
                ProbeStatus::UnknownError,
                format!("The feed reference {href:?} leaves the feed."),
            ));
        }
        Ok(url)
    }

    async fn get(&self, url: reqwest::Url) -> Result<reqwest::Response, FeedError> {
        let mut request = self.client.get(url.clone());
        if let Some((user, password)) = &self.credentials {
            request = request.basic_auth(user, Some(password));
        }
        let response = request.send().await.map_err(|e| classify(&url, &e))?;
        match response.status() {
            s if s.is_success() => Ok(response),
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(FeedError::new(
                ProbeStatus::InvalidCredentials,
                format!("{url} refused the credentials (HTTP {}).", response.status().as_u16()),
            )),
            StatusCode::NOT_FOUND => {
                Err(FeedError::new(ProbeStatus::ResourceNotFound, format!("{url} does not exist (HTTP 404).")))
            }
            s => Err(FeedError::new(ProbeStatus::UnknownError, format!("{url} answered HTTP {}.", s.as_u16()))),
        }
    }

    async fn json<T: serde::de::DeserializeOwned>(&self, url: reqwest::Url) -> Result<T, FeedError> {
        let response = self.get(url.clone()).await?;
        let mut body = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| classify(&url, &e))?;
            if body.len() + chunk.len() > INDEX_LIMIT {
                return Err(FeedError::new(ProbeStatus::UnknownError, format!("{url} is larger than 16 MiB.")));
            }
            body.extend_from_slice(&chunk);
        }
        serde_json::from_slice(&body)
            .map_err(|e| FeedError::new(ProbeStatus::UnknownError, format!("{url} is not a VCSP document: {e}.")))
    }

    /// Fetches one file into a new blob; it must be exactly `file.size` bytes.
    pub async fn fetch(&self, file: &FeedFile, store: &std::path::Path) -> Result<Blob, FeedError> {
        let href = file.hrefs.first().ok_or_else(|| {
            FeedError::new(ProbeStatus::UnknownError, format!("The feed gives no href for {:?}.", file.name))
        })?;
        let url = self.resolve(href)?;
        let response = self.get(url.clone()).await?;
        let broken = |what: String| FeedError::new(ProbeStatus::UnknownError, what);
        let mut writer = BlobWriter::create(store, None).await.map_err(|e| broken(e.to_string()))?;
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| classify(&url, &e))?;
            if writer.written() + chunk.len() as u64 > file.size {
                return Err(broken(format!("{url} sends more than the feed's size of {} bytes.", file.size)));
            }
            writer.write(&chunk).await.map_err(|e| broken(e.to_string()))?;
        }
        if writer.written() != file.size {
            return Err(broken(format!("{url} ended after {} of the feed's {} bytes.", writer.written(), file.size)));
        }
        writer.finish().await.map_err(|e| broken(e.to_string()))
    }
}

fn classify(url: &reqwest::Url, error: &reqwest::Error) -> FeedError {
    let chain = {
        let mut text = error.to_string();
        let mut source = std::error::Error::source(error);
        while let Some(s) = source {
            text.push_str(": ");
            text.push_str(&s.to_string());
            source = s.source();
        }
        text
    };
    let lower = chain.to_ascii_lowercase();
    let status = if error.is_timeout() {
        ProbeStatus::TimedOut
    } else if lower.contains("certificate") || lower.contains("tls") || lower.contains("handshake") {
        ProbeStatus::CertificateError
    } else if lower.contains("dns") || lower.contains("failed to lookup") || lower.contains("name or service") {
        ProbeStatus::HostNotFound
    } else {
        ProbeStatus::UnknownError
    };
    FeedError::new(status, format!("Connection to VCSP server {url} failed: {chain}."))
}

/// Probes a subscription as vCenter does: the result's status says what failed, and an https
/// feed's certificate thumbprint comes back whether or not it is trusted.
pub async fn probe(info: &SubscriptionInfo) -> ProbeResult {
    let outcome = match Feed::new(info) {
        Ok(feed) => feed.lib().await.map(|_| ()),
        Err(error) => Err(error),
    };
    let url = info.subscription_url.as_deref().and_then(|u| reqwest::Url::parse(u).ok());
    let ssl_thumbprint = match &url {
        Some(url) if url.scheme() == "https" => peer_thumbprint(url).await,
        _ => None,
    };
    let (status, error_messages) = match outcome {
        Ok(()) => (ProbeStatus::Success, Vec::new()),
        Err(error) => (error.status, vec![message(&error.message)]),
    };
    ProbeResult { status, ssl_thumbprint, ssl_certificate: None, error_messages }
}

fn message(text: &str) -> LocalizableMessage {
    LocalizableMessage {
        id: "com.vmware.vdcs.cls-main.connection_to_vcsp_server_failed".into(),
        default_message: text.to_owned(),
        args: Vec::new(),
        params: None,
        localized: None,
    }
}

/// The SHA-1 thumbprint of the certificate an https server presents, trusted or not: only the
/// handshake is made, nothing is sent over it.
async fn peer_thumbprint(url: &reqwest::Url) -> Option<String> {
    use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
    use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

    #[derive(Debug)]
    struct Record(std::sync::Mutex<Option<Vec<u8>>>, Arc<rustls::crypto::CryptoProvider>);
    impl ServerCertVerifier for Record {
        fn verify_server_cert(
            &self,
            end_entity: &CertificateDer<'_>,
            _: &[CertificateDer<'_>],
            _: &ServerName<'_>,
            _: &[u8],
            _: UnixTime,
        ) -> Result<ServerCertVerified, rustls::Error> {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(end_entity.to_vec());
            // Stop here: the certificate is all this connection is for.
            Err(rustls::Error::General("recorded".into()))
        }
        fn verify_tls12_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Err(rustls::Error::General("not used".into()))
        }
        fn verify_tls13_signature(
            &self,
            _: &[u8],
            _: &CertificateDer<'_>,
            _: &rustls::DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            Err(rustls::Error::General("not used".into()))
        }
        fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
            self.1.signature_verification_algorithms.supported_schemes()
        }
    }

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let record = Arc::new(Record(std::sync::Mutex::new(None), provider.clone()));
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .dangerous()
        .with_custom_certificate_verifier(record.clone())
        .with_no_client_auth();
    let host = url.host_str()?.trim_start_matches('[').trim_end_matches(']').to_owned();
    let port = url.port_or_known_default()?;
    let name = ServerName::try_from(host.clone()).ok()?;
    let tcp = tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect((host.as_str(), port)))
        .await
        .ok()?
        .ok()?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let _ = tokio::time::timeout(Duration::from_secs(10), connector.connect(name, tcp)).await;
    let der = record.0.lock().unwrap_or_else(|e| e.into_inner()).take()?;
    Some(cl_tls::Thumbprint::sha1(&der).to_string())
}
