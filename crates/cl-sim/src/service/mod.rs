//! The simulated service: libraries, items, API sessions and transfer sessions, with the rules the
//! reference gives them, and the handler of each operation beside the code it calls. Wire-agnostic:
//! `dialect.rs` and `jsonrpc` decode requests into operations and inputs and encode the results;
//! `transfer.rs` moves the bytes.
//!
//! This module holds the state and what every part shares; each job has its own file: `auth`
//! (API sessions), `library` (libraries and items), `download` and `update` (the two session
//! kinds), `commit` (complete, preview and OVF rules).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cl_api::types::*;

use crate::blob::Blob;
use crate::error::{SimError, SimResult};
use crate::faults::Faults;
use crate::handler::{Call, Handler, Reply};
use cl_api::operation::OperationId;

mod auth;
pub(crate) use auth::basic_credentials;
mod commit;
mod download;
mod library;
mod subscription;
mod update;

/// Every module's handlers (`crate::handler` finds an operation's among them).
pub(crate) static HANDLERS: [&[crate::handler::Handler]; 5] =
    [auth::HANDLERS, library::HANDLERS, download::HANDLERS, update::HANDLERS, subscription::HANDLERS];

/// Settings of the simulated service.
#[derive(Clone)]
pub struct ServiceConfig {
    pub username: String,
    pub password: String,
    /// How long a file takes from prepare to PREPARED (half of it PREPARE_REQUESTED, half PREPARING).
    pub prepare_delay: Duration,
    /// Idle lifetime of download and update sessions (vCenter's default is 5 minutes).
    pub session_timeout: Duration,
    /// Idle lifetime of API sessions.
    pub api_session_timeout: Duration,
    /// Whether HTTPS transfer endpoints carry the certificate's thumbprint (as vCenter's may);
    /// without it clients trust the transfer host as they trust the API.
    pub endpoint_thumbprints: bool,
}

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("prepare_delay", &self.prepare_delay)
            .field("session_timeout", &self.session_timeout)
            .field("api_session_timeout", &self.api_session_timeout)
            .field("endpoint_thumbprints", &self.endpoint_thumbprints)
            .finish()
    }
}

pub struct Service {
    pub config: ServiceConfig,
    pub faults: Arc<Faults>,
    /// Where blobs live.
    pub store: PathBuf,
    /// `https://host:port` as clients reach the simulator, for transfer URIs.
    pub base_url: String,
    /// SHA-1 thumbprint of the simulator's certificate, given in transfer endpoints (HTTPS only).
    pub thumbprint: Option<String>,
    /// Requests received, for tests that must show a request never arrived.
    pub requests: std::sync::atomic::AtomicU64,
    /// Bytes sent by downloads, for tests that must show a resume fetched only the rest.
    pub bytes_served: Arc<std::sync::atomic::AtomicU64>,
    /// Transfer requests that came over HTTP/2.
    pub http2_transfers: std::sync::atomic::AtomicU64,
    /// The operations called so far, whichever wire form called them.
    operations_called: Mutex<BTreeSet<OperationId>>,
    /// Files published libraries' feeds served (not their JSON), for tests that count what a
    /// subscriber fetched.
    pub feed_files_served: std::sync::atomic::AtomicU64,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    api_sessions: HashMap<String, ApiSession>,
    libraries: BTreeMap<String, LibraryModel>,
    items: BTreeMap<String, Item>,
    downloads: BTreeMap<String, DownloadSession>,
    updates: BTreeMap<String, UpdateSession>,
    /// (kind, client_token) → the id the first create with that token returned.
    client_tokens: HashMap<(&'static str, String), String>,
    /// Transfer URI token → what it reaches.
    transfers: HashMap<String, Target>,
    /// Subscribed libraries' subscriptions, by library id.
    subscriptions: HashMap<String, subscription::Subscription>,
    /// Published libraries' passwords (the model never shows them), by library id.
    publish_passwords: HashMap<String, String>,
    /// Published libraries' feed versions, raised by every change a subscriber must see.
    feed_versions: HashMap<String, u64>,
}

struct ApiSession {
    user: String,
    created: DateTime<Utc>,
    last: Instant,
    last_wall: DateTime<Utc>,
}

struct Item {
    model: ItemModel,
    content_version: u64,
    /// The content on disk (of a subscribed item, what is cached so far).
    files: BTreeMap<String, Arc<Blob>>,
    /// Where a subscribed item comes from.
    source: Option<subscription::ItemSource>,
}

/// What both session kinds share: owner, item, idle clock, progress and failure reason. Each
/// kind reaches it through `Deref`, so `s.expires` reads the same on either.
struct SessionCore {
    user: String,
    item_id: String,
    content_version: String,
    error: Option<String>,
    progress: i64,
    expires: Instant,
}

impl SessionCore {
    fn new(user: &str, item_id: String, content_version: String, timeout: Duration) -> Self {
        let expires = Instant::now() + timeout;
        Self { user: user.to_owned(), item_id, content_version, error: None, progress: 0, expires }
    }

    /// The session is in use: its idle clock starts again.
    fn touch(&mut self, timeout: Duration) {
        self.expires = Instant::now() + timeout;
    }

    /// A keep-alive: progress (0–100, named `field` in errors) is recorded and the clock restarts.
    fn keep_alive(&mut self, progress: Option<i64>, field: &str, timeout: Duration) -> SimResult<()> {
        if let Some(p) = progress {
            if !(0..=100).contains(&p) {
                return Err(SimError::invalid_argument(format!("{field} {p} is outside 0..100.")));
            }
            self.progress = p;
        }
        self.touch(timeout);
        Ok(())
    }
}

impl State {
    /// The ids of `user`'s sessions in `sessions`, all or those of one item (which must exist).
    fn owned_by<S: std::ops::Deref<Target = SessionCore>>(
        &self,
        sessions: &BTreeMap<String, S>,
        user: &str,
        item: Option<&str>,
    ) -> SimResult<Vec<String>> {
        if let Some(item) = item {
            self.item(item)?;
        }
        let mine = sessions.iter().filter(|(_, s)| s.user == user && item.is_none_or(|i| s.item_id == i));
        Ok(mine.map(|(id, _)| id.clone()).collect())
    }
}

macro_rules! session_core {
    ($kind:ty) => {
        impl std::ops::Deref for $kind {
            type Target = SessionCore;
            fn deref(&self) -> &SessionCore {
                &self.core
            }
        }
        impl std::ops::DerefMut for $kind {
            fn deref_mut(&mut self) -> &mut SessionCore {
                &mut self.core
            }
        }
    };
}
session_core!(DownloadSession);
session_core!(UpdateSession);

struct DownloadSession {
    core: SessionCore,
    state: DownloadSessionState,
    files: Vec<DownloadFile>,
}

struct DownloadFile {
    name: String,
    blob: Arc<Blob>,
    prepare: Prepare,
    downloaded: bool,
    token: Option<String>,
}

enum Prepare {
    Unprepared,
    Requested(Instant),
    Failed(String),
}

struct UpdateSession {
    core: SessionCore,
    state: UpdateSessionState,
    warning_behavior: Vec<WarningBehavior>,
    files: Vec<UpdateFile>,
    removals: BTreeSet<String>,
    /// Complete was called while PULL files were still arriving; commit when they are in.
    completing: bool,
    /// The item is an OVF template, whose manifest and certificate leave it at complete.
    ovf_item: bool,
}

impl UpdateSession {
    /// OVF manifests and certificates are consumed at complete, not kept as item files.
    fn keeps(&self, name: &str) -> bool {
        !(is_metadata(name) && (self.ovf_item || self.files.iter().any(|f| is_descriptor(&f.name))))
    }
}

struct UpdateFile {
    name: String,
    source_type: SourceType,
    source_endpoint: Option<TransferEndpoint>,
    size: Option<i64>,
    checksum: Option<ChecksumInfo>,
    token: Option<String>,
    status: TransferStatus,
    bytes: u64,
    blob: Option<Arc<Blob>>,
    error: Option<String>,
    /// Bumped when the file is replaced, so a transfer to the old one cannot land on the new one.
    generation: u64,
}

#[derive(Clone)]
enum Target {
    Upload { session: String, name: String },
    Download { session: String, name: String },
}

/// An upload that may start: where it goes and what it must match.
pub struct UploadTicket {
    pub session: String,
    pub name: String,
    pub generation: u64,
    pub algorithm: Option<ChecksumAlgorithm>,
}

/// A PULL the server must run.
pub struct PullJob {
    pub session: String,
    pub name: String,
    pub generation: u64,
    pub endpoint: TransferEndpoint,
    pub algorithm: Option<ChecksumAlgorithm>,
}

const METADATA_SUFFIXES: [&str; 2] = [".mf", ".cert"];

fn is_metadata(name: &str) -> bool {
    METADATA_SUFFIXES.iter().any(|s| name.to_ascii_lowercase().ends_with(s))
}

fn is_descriptor(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".ovf")
}

fn wall(deadline: Instant) -> DateTime<Utc> {
    let left = deadline.saturating_duration_since(Instant::now());
    Utc::now() + chrono::Duration::from_std(left).unwrap_or_default()
}

fn message(text: &str) -> LocalizableMessage {
    LocalizableMessage {
        id: "com.vmware.vdcs.cls-main.message".into(),
        default_message: text.to_owned(),
        args: Vec::new(),
        params: None,
        localized: None,
    }
}

impl Service {
    /// Notes that `op` was called (for tests that show what a client reaches).
    pub(crate) fn record_call(&self, op: OperationId) {
        self.operations_called.lock().unwrap_or_else(|e| e.into_inner()).insert(op);
    }

    /// The operations called so far.
    pub fn operations_called(&self) -> BTreeSet<OperationId> {
        self.operations_called.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn new(
        config: ServiceConfig,
        faults: Arc<Faults>,
        store: PathBuf,
        base_url: String,
        thumbprint: Option<String>,
    ) -> Self {
        Self {
            config,
            faults,
            store,
            base_url,
            thumbprint,
            requests: Default::default(),
            operations_called: Default::default(),
            feed_files_served: Default::default(),
            bytes_served: Default::default(),
            http2_transfers: Default::default(),
            state: Mutex::new(State::default()),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.sweep(&self.config);
        state
    }

    fn endpoint(&self, token: &str, name: &str) -> TransferEndpoint {
        let encoded = url_segment(name);
        TransferEndpoint {
            uri: format!("{}/cls/data/{token}/{encoded}", self.base_url),
            ssl_certificate_thumbprint: self.thumbprint.clone().filter(|_| self.config.endpoint_thumbprints),
            ssl_certificate: None,
        }
    }
}

impl State {
    /// The id a create with this client token returned before (creates are idempotent by token).
    fn remembered(&self, kind: &'static str, token: &Option<String>) -> Option<String> {
        token.as_ref().and_then(|t| self.client_tokens.get(&(kind, t.clone()))).cloned()
    }

    fn remember(&mut self, kind: &'static str, token: Option<String>, id: &str) {
        if let Some(t) = token {
            self.client_tokens.insert((kind, t), id.to_owned());
        }
    }

    fn item(&self, id: &str) -> SimResult<&Item> {
        self.items.get(id).ok_or_else(|| SimError::not_found(format!("Library item {id} does not exist.")))
    }

    fn item_mut(&mut self, id: &str) -> SimResult<&mut Item> {
        self.items.get_mut(id).ok_or_else(|| SimError::not_found(format!("Library item {id} does not exist.")))
    }

    fn download(&self, id: &str) -> SimResult<&DownloadSession> {
        self.downloads.get(id).ok_or_else(|| SimError::not_found(format!("Download session {id} does not exist.")))
    }

    fn download_mut(&mut self, id: &str) -> SimResult<&mut DownloadSession> {
        self.downloads.get_mut(id).ok_or_else(|| SimError::not_found(format!("Download session {id} does not exist.")))
    }

    fn update(&self, id: &str) -> SimResult<&UpdateSession> {
        self.updates.get(id).ok_or_else(|| SimError::not_found(format!("Update session {id} does not exist.")))
    }

    fn update_mut(&mut self, id: &str) -> SimResult<&mut UpdateSession> {
        self.updates.get_mut(id).ok_or_else(|| SimError::not_found(format!("Update session {id} does not exist.")))
    }

    fn forget_transfers(&mut self, session_id: &str) {
        self.transfers.retain(|_, t| match t {
            Target::Upload { session, .. } | Target::Download { session, .. } => session != session_id,
        });
    }

    /// Drops sessions that idled past their expiration: their transfer URIs stop working and an
    /// update session's received content is discarded.
    fn sweep(&mut self, config: &ServiceConfig) {
        let now = Instant::now();
        self.api_sessions.retain(|_, s| now.duration_since(s.last) < config.api_session_timeout);
        let expired: Vec<String> = self
            .downloads
            .iter()
            .filter(|(_, s)| s.expires <= now)
            .map(|(id, _)| id.clone())
            .chain(self.updates.iter().filter(|(_, s)| s.expires <= now).map(|(id, _)| id.clone()))
            .collect();
        for id in expired {
            self.downloads.remove(&id);
            self.updates.remove(&id);
            self.forget_transfers(&id);
        }
    }
}

/// Percent-encodes a file name as one URL path segment.
pub fn url_segment(name: &str) -> String {
    const SEGMENT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    percent_encoding::utf8_percent_encode(name, SEGMENT).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_encoded() {
        assert_eq!(url_segment("a b/c.ovf"), "a%20b%2Fc.ovf");
    }
}
