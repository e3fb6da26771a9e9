//! `cl-sim`: a faithful simulator of the vCenter Content Library item transfer service.
//!
//! Both REST dialects (`/api` and legacy `/rest`) and vAPI JSON-RPC (`POST /api`, what the
//! official SDKs speak by default), all transfer operations plus the login, library and item
//! operations a transfer needs, with the reference's state rules, checksum and size checks,
//! `Range` downloads, session expiry and fault injection. It is the SDK's test bed, the
//! benchmark target and the CLI's embedded default server.
//!
//! ```no_run
//! # async fn demo() -> std::io::Result<()> {
//! let sim = cl_sim::Simulator::start(cl_sim::SimConfig::default()).await?;
//! println!("serving {} as {}", sim.url(), sim.username());
//! sim.faults().fail_next(2); // the next two requests get 503
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;
use tokio::sync::watch;

mod blob;
mod dialect;
mod error;
mod faults;
mod handler;
mod jsonrpc;
mod pull;
pub mod serve;
mod service;
mod tls;
mod transfer;
mod vcsp;

pub use faults::{CallFault, Faults, RangeFault, ShortUpload};
pub use service::ServiceConfig;
pub use tls::HttpsServer;

use crate::dialect::Dialect;
use crate::service::Service;

/// The datastore id a local library can be created on (the simulator accepts any id).
pub const DATASTORE_ID: &str = "datastore-sim";

/// The name the simulator's one datastore is listed under.
pub const DATASTORE_NAME: &str = "sim-datastore";

/// How to run the simulator.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Where to listen; port 0 picks a free one.
    pub listen: SocketAddr,
    /// Serve HTTPS with a generated certificate (the default) or plain HTTP.
    pub tls: bool,
    /// Credentials, prepare delay and session lifetimes.
    pub service: ServiceConfig,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            tls: true,
            service: ServiceConfig {
                username: "administrator@vsphere.local".into(),
                password: "cl-sim-password".into(),
                prepare_delay: Duration::from_millis(100),
                session_timeout: Duration::from_secs(300),
                api_session_timeout: Duration::from_secs(1800),
                endpoint_thumbprints: true,
            },
        }
    }
}

impl SimConfig {
    /// Plain HTTP instead of HTTPS.
    pub fn plain_http(mut self) -> Self {
        self.tls = false;
        self
    }
}

/// A running simulator; dropping it stops the server.
pub struct Simulator {
    url: String,
    certificates: Option<tls::Certificates>,
    service: Arc<Service>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
    _store: tempfile::TempDir,
}

impl Simulator {
    /// Starts serving in the background of the current tokio runtime.
    pub async fn start(config: SimConfig) -> std::io::Result<Self> {
        cl_tls::install_crypto_provider();
        let listener = TcpListener::bind(config.listen).await?;
        let addr = listener.local_addr()?;
        let host = match addr.ip() {
            ip if ip.is_unspecified() => "127.0.0.1".to_owned(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
            ip => ip.to_string(),
        };
        let certificates =
            if config.tls { Some(tls::Certificates::generate().map_err(std::io::Error::other)?) } else { None };
        let scheme = if config.tls { "https" } else { "http" };
        let url = format!("{scheme}://{host}:{}", addr.port());
        let store = tempfile::Builder::new().prefix("cl-sim-").tempdir()?;
        let thumbprint = certificates.as_ref().map(|c| cl_tls::Thumbprint::sha1(&c.leaf_der).to_string());
        let service = Arc::new(Service::new(
            config.service,
            Arc::new(Faults::default()),
            store.path().to_owned(),
            url.clone(),
            thumbprint,
        ));
        let (stop, stopped) = watch::channel(false);
        let acceptor = certificates.as_ref().map(|c| tokio_rustls::TlsAcceptor::from(c.server_config()));
        let task = tokio::spawn(serve(listener, acceptor, service.clone(), stopped));
        Ok(Self { url, certificates, service, stop, task, _store: store })
    }

    /// The base URL clients use, e.g. `https://127.0.0.1:40123`.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The user name the simulator accepts.
    pub fn username(&self) -> &str {
        &self.service.config.username
    }

    /// The password the simulator accepts.
    pub fn password(&self) -> &str {
        &self.service.config.password
    }

    /// SHA-1 thumbprint of the server certificate (`AA:BB:…`), when serving HTTPS.
    pub fn thumbprint_sha1(&self) -> Option<String> {
        self.certificates.as_ref().map(|c| cl_tls::Thumbprint::sha1(&c.leaf_der).to_string())
    }

    /// SHA-256 thumbprint of the server certificate, when serving HTTPS.
    pub fn thumbprint_sha256(&self) -> Option<String> {
        self.certificates.as_ref().map(|c| cl_tls::Thumbprint::sha256(&c.leaf_der).to_string())
    }

    /// PEM of the CA that signed the server certificate, when serving HTTPS.
    pub fn ca_pem(&self) -> Option<&str> {
        self.certificates.as_ref().map(|c| c.ca_pem.as_str())
    }

    /// PEM of the server certificate itself, when serving HTTPS.
    pub fn certificate_pem(&self) -> Option<&str> {
        self.certificates.as_ref().map(|c| c.leaf_pem.as_str())
    }

    /// The faults to inject into the next requests.
    pub fn faults(&self) -> &Faults {
        &self.service.faults
    }

    /// Adds `count` empty items named `{prefix}{n}` to `library` at once (a fixture for listings
    /// at scale; the API would take a call each).
    pub fn add_items(&self, library: &str, prefix: &str, count: usize) -> Result<(), String> {
        for n in 0..count {
            let spec = cl_api::types::ItemModel {
                library_id: Some(library.to_owned()),
                name: Some(format!("{prefix}{n}")),
                type_: Some("file".into()),
                ..Default::default()
            };
            self.service.item_create(spec, None).map_err(|e| e.message)?;
        }
        Ok(())
    }

    /// Adds item `name` holding `files` to `library` at once, without sessions, and returns its
    /// id: a fixture for tests (the names are not checked, so a test can seed a name no upload
    /// would create, to see what a client does with it).
    pub async fn seed_item(&self, library: &str, name: &str, files: &[(&str, &[u8])]) -> Result<String, String> {
        let spec = cl_api::types::ItemModel {
            library_id: Some(library.to_owned()),
            name: Some(name.to_owned()),
            type_: Some("file".into()),
            ..Default::default()
        };
        let id = self.service.item_create(spec, None).map_err(|e| e.message)?;
        let mut blobs = Vec::new();
        for (file, bytes) in files {
            let mut writer = blob::BlobWriter::create(&self.service.store, None).await.map_err(|e| e.to_string())?;
            writer.write(bytes).await.map_err(|e| e.to_string())?;
            blobs.push(((*file).to_owned(), Arc::new(writer.finish().await.map_err(|e| e.to_string())?)));
        }
        self.service.item_seed(&id, blobs).map_err(|e| e.message)?;
        Ok(id)
    }

    /// Ends every API session now, as if it had idled out.
    pub fn expire_api_sessions(&self) {
        self.service.expire_api_sessions();
    }

    /// How many HTTP requests reached the service so far (API calls and transfers).
    pub fn requests_served(&self) -> u64 {
        self.service.requests.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many files published libraries' feeds have served (their JSON documents not counted).
    pub fn feed_files_served(&self) -> u64 {
        self.service.feed_files_served.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// The operations called so far over any wire form (whether they succeeded or not), for
    /// tests that show which operations a client reaches.
    pub fn operations_called(&self) -> std::collections::BTreeSet<cl_api::operation::OperationId> {
        self.service.operations_called()
    }

    /// Makes every download and update session expire now, as if keep-alives had stopped.
    pub fn expire_transfer_sessions(&self) {
        self.service.expire_transfer_sessions();
    }

    /// Loses all state a restart loses: API sessions, download and update sessions and their
    /// transfer URIs. Libraries and items (stored content) survive.
    pub fn restart(&self) {
        self.service.restart();
    }

    /// How many bytes downloads have sent so far (all transfer URIs).
    pub fn bytes_served(&self) -> u64 {
        self.service.bytes_served.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// How many transfer requests (uploads and downloads) came over HTTP/2.
    pub fn http2_transfers(&self) -> u64 {
        self.service.http2_transfers.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Makes a download or update session expire now; false if there is no such session.
    pub fn expire_transfer_session(&self, id: &str) -> bool {
        self.service.expire_transfer_session(id)
    }

    /// Stops serving and waits for the accept loop to end.
    pub async fn shutdown(mut self) {
        let _ = self.stop.send(true);
        let _ = (&mut self.task).await;
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

async fn serve(
    listener: TcpListener,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    service: Arc<Service>,
    mut stopped: watch::Receiver<bool>,
) {
    loop {
        let (tcp, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    continue;
                }
            },
            _ = stopped.changed() => return,
        };
        let service = service.clone();
        let acceptor = acceptor.clone();
        let mut stopped = stopped.clone();
        tokio::spawn(async move {
            let hyper_service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                let service = service.clone();
                async move {
                    let response = dispatch(service, request.map(Body::new)).await;
                    // An injected drop: fail the connection instead of answering.
                    if response.extensions().get::<transfer::CutConnection>().is_some() {
                        return Err(std::io::Error::new(
                            std::io::ErrorKind::ConnectionReset,
                            "injected connection drop",
                        ));
                    }
                    Ok::<_, std::io::Error>(response)
                }
            });
            let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            // HTTP/2 flow control with hyper's default windows held curl -T over HTTPS (which
            // negotiates h2) to a tenth of its HTTP/1.1 speed here; 8 MiB per stream matches it.
            builder.http2().initial_stream_window_size(8 << 20).initial_connection_window_size(16 << 20);
            let result = match acceptor {
                Some(acceptor) => match acceptor.accept(tcp).await {
                    Ok(tls) => {
                        let conn = builder.serve_connection(TokioIo::new(tls), hyper_service);
                        tokio::select! { r = conn => r, _ = stopped.changed() => Ok(()) }
                    }
                    Err(error) => {
                        tracing::debug!(%error, "TLS handshake failed");
                        return;
                    }
                },
                None => {
                    let conn = builder.serve_connection(TokioIo::new(tcp), hyper_service);
                    tokio::select! { r = conn => r, _ = stopped.changed() => Ok(()) }
                }
            };
            if let Err(error) = result {
                tracing::debug!(%error, "connection ended");
            }
        });
    }
}

/// The largest API request body the simulator reads.
const API_BODY_LIMIT: usize = 4 << 20;

fn too_large() -> Response {
    (StatusCode::PAYLOAD_TOO_LARGE, "API request bodies are limited to 4 MiB").into_response()
}

/// Routes one request: transfer URIs, then JSON-RPC (`POST /api`), then the two REST dialects.
async fn dispatch(service: Arc<Service>, request: Request<Body>) -> Response {
    service.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let latency = service.faults.latency();
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let path = request.uri().path().to_owned();
    let dialect = if path.starts_with("/rest/") { Dialect::Rest } else { Dialect::Api };
    if service.faults.take_unavailable() {
        let error =
            error::SimError::new(cl_api::types::ErrorType::ServiceUnavailable, "Injected: service unavailable.");
        return error.into_response(dialect);
    }
    if let Some(rest) = path.strip_prefix("/cls/data/") {
        let token = rest.split('/').next().unwrap_or_default().to_owned();
        return transfer::handle(service, &token, request).await;
    }
    if let Some(rest) = path.strip_prefix("/cls/vcsp/lib/") {
        let rest = rest.to_owned();
        return vcsp::serve(service, &rest, request).await;
    }
    if path == "/api" && request.method() == axum::http::Method::POST {
        return match axum::body::to_bytes(request.into_body(), API_BODY_LIMIT).await {
            Ok(body) => jsonrpc::handle(&service, &body).await,
            Err(_) => too_large(),
        };
    }
    if !path.starts_with("/api/") && !path.starts_with("/rest/") {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    }
    let segments: Vec<String> = path
        .split('/')
        .skip(1)
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect();
    let query: Vec<(String, String)> =
        form_urlencoded::parse(request.uri().query().unwrap_or_default().as_bytes()).into_owned().collect();
    let method = request.method().clone();
    let (parts, body) = request.into_parts();
    let body = match axum::body::to_bytes(body, API_BODY_LIMIT).await {
        Ok(body) => body,
        Err(_) => return too_large(),
    };
    let request = dialect::Request { dialect, method: &method, segments, query, headers: &parts.headers, body };
    dialect::handle(&service, request).await
}
