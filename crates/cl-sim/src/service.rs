//! The simulated service: libraries, items, API sessions and transfer sessions, with the rules the
//! reference gives them. Dialect-agnostic: `dialect.rs` decodes requests into these calls and
//! encodes their results; `transfer.rs` moves the bytes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use cl_api::types::*;

use crate::blob::Blob;
use crate::error::{SimError, SimResult};
use crate::faults::Faults;

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
}

impl std::fmt::Debug for ServiceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceConfig")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("prepare_delay", &self.prepare_delay)
            .field("session_timeout", &self.session_timeout)
            .field("api_session_timeout", &self.api_session_timeout)
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
    files: BTreeMap<String, Arc<Blob>>,
}

struct DownloadSession {
    user: String,
    item_id: String,
    content_version: String,
    state: DownloadSessionState,
    error: Option<String>,
    progress: i64,
    expires: Instant,
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
    user: String,
    item_id: String,
    content_version: String,
    state: UpdateSessionState,
    error: Option<String>,
    progress: i64,
    expires: Instant,
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
            ssl_certificate_thumbprint: self.thumbprint.clone(),
            ssl_certificate: None,
        }
    }

    // ------------------------------------------------------------------ API sessions

    /// Checks basic credentials and opens an API session.
    pub fn login(&self, user: &str, password: &str) -> SimResult<String> {
        if user != self.config.username || password != self.config.password {
            return Err(SimError::new(ErrorType::Unauthenticated, "Invalid user name or password."));
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        let now = Utc::now();
        let session = ApiSession { user: user.to_owned(), created: now, last: Instant::now(), last_wall: now };
        self.state().api_sessions.insert(token.clone(), session);
        Ok(token)
    }

    /// The user of a live API session, refreshing its idle clock.
    pub fn authenticate(&self, token: Option<&str>) -> SimResult<String> {
        let mut state = self.state();
        let session = token.and_then(|t| state.api_sessions.get_mut(t)).ok_or_else(SimError::unauthenticated)?;
        session.last = Instant::now();
        session.last_wall = Utc::now();
        Ok(session.user.clone())
    }

    pub fn session_info(&self, token: &str) -> SimResult<SessionInfo> {
        let state = self.state();
        let s = state.api_sessions.get(token).ok_or_else(SimError::unauthenticated)?;
        Ok(SessionInfo { user: s.user.clone(), created_time: s.created, last_accessed_time: s.last_wall })
    }

    pub fn logout(&self, token: &str) -> SimResult<()> {
        self.state().api_sessions.remove(token).map(|_| ()).ok_or_else(SimError::unauthenticated)
    }

    /// Ends every API session now, as if they had idled out.
    pub fn expire_api_sessions(&self) {
        self.state().api_sessions.clear();
    }

    /// Makes a download or update session expire now; true if it existed.
    pub fn expire_transfer_session(&self, id: &str) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let past = Instant::now() - Duration::from_millis(1);
        let found = if let Some(s) = state.downloads.get_mut(id) {
            s.expires = past;
            true
        } else if let Some(s) = state.updates.get_mut(id) {
            s.expires = past;
            true
        } else {
            false
        };
        state.sweep(&self.config);
        found
    }

    // ------------------------------------------------------------------ libraries and items

    pub fn library_create(&self, spec: LibraryModel, client_token: Option<String>) -> SimResult<String> {
        let mut state = self.state();
        if let Some(id) = state.remembered("library", &client_token) {
            return Ok(id);
        }
        let name = spec.name.clone().filter(|n| !n.trim().is_empty());
        let name = name.ok_or_else(|| SimError::invalid_argument("A library needs a name."))?;
        if matches!(spec.type_, Some(ref t) if *t != LibraryType::Local) {
            return Err(SimError::invalid_argument("A local library must have type LOCAL."));
        }
        if spec.storage_backings.len() != 1 {
            return Err(SimError::invalid_argument("A local library needs exactly one storage backing."));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let now = Utc::now();
        let model = LibraryModel {
            id: Some(id.clone()),
            name: Some(name),
            type_: Some(LibraryType::Local),
            creation_time: Some(now),
            last_modified_time: Some(now),
            version: Some("1".into()),
            server_guid: Some("00000000-0000-0000-0000-00000000c15a".into()),
            ..spec
        };
        state.libraries.insert(id.clone(), model);
        state.remember("library", client_token, &id);
        Ok(id)
    }

    pub fn library_get(&self, id: &str, local_only: bool) -> SimResult<LibraryModel> {
        let state = self.state();
        let library = state.libraries.get(id).filter(|l| !local_only || l.type_ == Some(LibraryType::Local));
        library.cloned().ok_or_else(|| SimError::not_found(format!("Library {id} does not exist.")))
    }

    pub fn library_list(&self) -> Vec<String> {
        self.state().libraries.keys().cloned().collect()
    }

    pub fn library_find(&self, spec: &LibraryFindSpec) -> Vec<String> {
        let state = self.state();
        let matches = |l: &LibraryModel| {
            spec.name.as_ref().is_none_or(|n| l.name.as_ref().is_some_and(|m| m.eq_ignore_ascii_case(n)))
                && spec.type_.as_ref().is_none_or(|t| l.type_.as_ref() == Some(t))
        };
        state.libraries.iter().filter(|(_, l)| matches(l)).map(|(id, _)| id.clone()).collect()
    }

    pub fn library_delete(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        state.libraries.remove(id).ok_or_else(|| SimError::not_found(format!("Library {id} does not exist.")))?;
        state.items.retain(|_, item| item.model.library_id.as_deref() != Some(id));
        Ok(())
    }

    pub fn item_create(&self, spec: ItemModel, client_token: Option<String>) -> SimResult<String> {
        let mut state = self.state();
        if let Some(id) = state.remembered("item", &client_token) {
            return Ok(id);
        }
        let library_id =
            spec.library_id.clone().ok_or_else(|| SimError::invalid_argument("An item needs a library_id."))?;
        if !state.libraries.contains_key(&library_id) {
            return Err(SimError::not_found(format!("Library {library_id} does not exist.")));
        }
        let name = spec.name.clone().filter(|n| !n.trim().is_empty());
        let name = name.ok_or_else(|| SimError::invalid_argument("An item needs a name."))?;
        let taken = state
            .items
            .values()
            .any(|i| i.model.library_id.as_deref() == Some(&library_id) && i.model.name.as_deref() == Some(&name));
        if taken {
            return Err(SimError::new(
                ErrorType::AlreadyExists,
                format!("An item named {name:?} already exists in library {library_id}."),
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let now = Utc::now();
        let model = ItemModel {
            id: Some(id.clone()),
            name: Some(name),
            creation_time: Some(now),
            last_modified_time: Some(now),
            cached: Some(true),
            metadata_version: Some("1".into()),
            version: Some("1".into()),
            ..spec
        };
        state.items.insert(id.clone(), Item { model, content_version: 1, files: BTreeMap::new() });
        state.remember("item", client_token, &id);
        Ok(id)
    }

    pub fn item_get(&self, id: &str) -> SimResult<ItemModel> {
        let state = self.state();
        let item = state.item(id)?;
        Ok(ItemModel {
            size: Some(item.files.values().map(|b| b.size as i64).sum()),
            content_version: Some(item.content_version.to_string()),
            ..item.model.clone()
        })
    }

    pub fn item_list(&self, library_id: &str) -> SimResult<Vec<String>> {
        let state = self.state();
        if !state.libraries.contains_key(library_id) {
            return Err(SimError::not_found(format!("Library {library_id} does not exist.")));
        }
        Ok(state
            .items
            .iter()
            .filter(|(_, i)| i.model.library_id.as_deref() == Some(library_id))
            .map(|(id, _)| id.clone())
            .collect())
    }

    pub fn item_find(&self, spec: &ItemFindSpec) -> SimResult<Vec<String>> {
        let state = self.state();
        if let Some(library) = &spec.library_id
            && !state.libraries.contains_key(library)
        {
            return Err(SimError::not_found(format!("Library {library} does not exist.")));
        }
        let matches = |i: &ItemModel| {
            spec.name.as_ref().is_none_or(|n| i.name.as_ref().is_some_and(|m| m.eq_ignore_ascii_case(n)))
                && spec.library_id.as_ref().is_none_or(|l| i.library_id.as_ref() == Some(l))
                && spec.type_.as_ref().is_none_or(|t| i.type_.as_ref() == Some(t))
                && spec.source_id.as_ref().is_none_or(|s| i.source_id.as_ref() == Some(s))
                && spec.cached.is_none_or(|c| c)
        };
        Ok(state.items.iter().filter(|(_, i)| matches(&i.model)).map(|(id, _)| id.clone()).collect())
    }

    pub fn item_delete(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        state
            .items
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| SimError::not_found(format!("Library item {id} does not exist.")))
    }

    pub fn item_files(&self, id: &str) -> SimResult<Vec<ItemFileInfo>> {
        let state = self.state();
        let item = state.item(id)?;
        Ok(item.files.iter().map(|(name, blob)| item_file(name, blob, item.content_version)).collect())
    }

    pub fn item_file(&self, id: &str, name: &str) -> SimResult<ItemFileInfo> {
        let state = self.state();
        let item = state.item(id)?;
        let blob =
            item.files.get(name).ok_or_else(|| SimError::not_found(format!("Item {id} has no file {name:?}.")))?;
        Ok(item_file(name, blob, item.content_version))
    }

    // ------------------------------------------------------------------ download sessions

    pub fn download_create(
        &self,
        user: &str,
        spec: DownloadSessionModel,
        client_token: Option<String>,
    ) -> SimResult<String> {
        let mut state = self.state();
        if let Some(id) = state.remembered("download", &client_token) {
            return Ok(id);
        }
        let item_id = spec.library_item_id.ok_or_else(|| SimError::invalid_argument("library_item_id is required."))?;
        let item = state.item(&item_id)?;
        let files = item
            .files
            .iter()
            .map(|(name, blob)| DownloadFile {
                name: name.clone(),
                blob: blob.clone(),
                prepare: Prepare::Unprepared,
                downloaded: false,
                token: None,
            })
            .collect();
        let session = DownloadSession {
            user: user.to_owned(),
            content_version: item.content_version.to_string(),
            item_id,
            state: DownloadSessionState::Active,
            error: None,
            progress: 0,
            expires: Instant::now() + self.config.session_timeout,
            files,
        };
        let id = uuid::Uuid::new_v4().to_string();
        state.downloads.insert(id.clone(), session);
        state.remember("download", client_token, &id);
        Ok(id)
    }

    pub fn download_list(&self, user: &str, item: Option<&str>) -> SimResult<Vec<String>> {
        let state = self.state();
        if let Some(item) = item {
            state.item(item)?;
        }
        let ids = state.downloads.iter().filter(|(_, s)| s.user == user && item.is_none_or(|i| s.item_id == i));
        Ok(ids.map(|(id, _)| id.clone()).collect())
    }

    pub fn download_get(&self, id: &str) -> SimResult<DownloadSessionModel> {
        let state = self.state();
        let s = state.download(id)?;
        Ok(DownloadSessionModel {
            id: None,
            library_item_id: Some(s.item_id.clone()),
            library_item_content_version: Some(s.content_version.clone()),
            error_message: s.error.as_deref().map(message),
            client_progress: Some(s.progress),
            state: Some(s.state.clone()),
            expiration_time: Some(wall(s.expires)),
        })
    }

    pub fn download_keep_alive(&self, id: &str, progress: Option<i64>) -> SimResult<()> {
        let mut state = self.state();
        let s = state.download_mut(id)?;
        if s.state != DownloadSessionState::Active {
            return Err(SimError::not_allowed(format!("Download session {id} is {}, not ACTIVE.", s.state)));
        }
        if let Some(p) = progress {
            if !(0..=100).contains(&p) {
                return Err(SimError::invalid_argument(format!("progress {p} is outside 0..100.")));
            }
            s.progress = p;
        }
        s.expires = Instant::now() + self.config.session_timeout;
        Ok(())
    }

    pub fn download_cancel(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        let s = state.download_mut(id)?;
        if s.state != DownloadSessionState::Active {
            return Err(SimError::not_allowed(format!("Download session {id} is {}, not ACTIVE.", s.state)));
        }
        s.state = DownloadSessionState::Canceled;
        state.forget_transfers(id);
        Ok(())
    }

    pub fn download_fail(&self, id: &str, reason: String) -> SimResult<()> {
        let mut state = self.state();
        let s = state.download_mut(id)?;
        if s.state != DownloadSessionState::Active {
            return Err(SimError::not_allowed(format!("Download session {id} is {}, not ACTIVE.", s.state)));
        }
        s.state = DownloadSessionState::Error;
        s.error = Some(reason);
        state.forget_transfers(id);
        Ok(())
    }

    pub fn download_delete(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        state
            .downloads
            .remove(id)
            .ok_or_else(|| SimError::not_found(format!("Download session {id} does not exist.")))?;
        state.forget_transfers(id);
        Ok(())
    }

    pub fn download_files(&self, id: &str) -> SimResult<Vec<DownloadFileInfo>> {
        let state = self.state();
        let s = state.download(id)?;
        Ok(s.files.iter().map(|f| self.download_file_info(f)).collect())
    }

    pub fn download_file(&self, id: &str, name: &str) -> SimResult<DownloadFileInfo> {
        let state = self.state();
        let s = state.download(id)?;
        let file = s.files.iter().find(|f| f.name == name);
        let file =
            file.ok_or_else(|| SimError::invalid_argument(format!("Download session {id} has no file {name:?}.")))?;
        Ok(self.download_file_info(file))
    }

    pub fn download_prepare(&self, id: &str, spec: DownloadFilePrepareSpec) -> SimResult<DownloadFileInfo> {
        if spec.endpoint_type == Some(EndpointType::Direct) {
            return Err(SimError::new(
                ErrorType::Unauthorized,
                "A DIRECT endpoint needs the ContentLibrary.ReadStorage privilege, which this user lacks.",
            ));
        }
        let mut state = self.state();
        let s = state.download_mut(id)?;
        if s.state != DownloadSessionState::Active {
            return Err(SimError::not_allowed(format!("Download session {id} is {}, not ACTIVE.", s.state)));
        }
        let name = &spec.file_name;
        let file = s.files.iter_mut().find(|f| &f.name == name);
        let file =
            file.ok_or_else(|| SimError::invalid_argument(format!("Download session {id} has no file {name:?}.")))?;
        if matches!(file.prepare, Prepare::Unprepared | Prepare::Failed(_)) {
            file.prepare = if file.blob.path.exists() {
                Prepare::Requested(Instant::now())
            } else {
                Prepare::Failed(format!("The content of {name:?} is no longer on the storage backing."))
            };
        }
        if file.token.is_none() {
            let token = uuid::Uuid::new_v4().simple().to_string();
            file.token = Some(token.clone());
            state.transfers.insert(token, Target::Download { session: id.to_owned(), name: name.clone() });
        }
        let file = state.download(id)?.files.iter().find(|f| &f.name == name).expect("just found");
        Ok(self.download_file_info(file))
    }

    fn prepare_status(&self, prepare: &Prepare) -> PrepareStatus {
        match prepare {
            Prepare::Unprepared => PrepareStatus::Unprepared,
            Prepare::Failed(_) => PrepareStatus::Error,
            Prepare::Requested(at) => prepare_progress(at.elapsed(), self.config.prepare_delay),
        }
    }

    fn download_file_info(&self, f: &DownloadFile) -> DownloadFileInfo {
        let status = self.prepare_status(&f.prepare);
        let prepared = status == PrepareStatus::Prepared;
        DownloadFileInfo {
            name: f.name.clone(),
            // Size is guaranteed once the client has the file; the simulator knows it from the start.
            size: Some(f.blob.size as i64),
            bytes_transferred: if prepared { f.blob.size as i64 } else { 0 },
            download_endpoint: prepared.then(|| self.endpoint(f.token.as_deref().unwrap_or_default(), &f.name)),
            checksum_info: f
                .downloaded
                .then(|| ChecksumInfo { algorithm: Some(ChecksumAlgorithm::Sha1), checksum: f.blob.sha1.clone() }),
            error_message: match &f.prepare {
                Prepare::Failed(reason) => Some(message(reason)),
                _ => None,
            },
            status,
        }
    }

    /// Starts a download through a transfer URI: the session must be ACTIVE and the file PREPARED.
    pub fn begin_download(&self, token: &str) -> SimResult<(String, String, Arc<Blob>)> {
        let state = self.state();
        let Some(Target::Download { session, name }) = state.transfers.get(token).cloned() else {
            return Err(SimError::not_found("No such transfer."));
        };
        let s = state.download(&session)?;
        if s.state != DownloadSessionState::Active {
            return Err(SimError::not_allowed(format!("Download session {session} is {}.", s.state)));
        }
        let file = s.files.iter().find(|f| f.name == name).ok_or_else(|| SimError::not_found("No such file."))?;
        if self.prepare_status(&file.prepare) != PrepareStatus::Prepared {
            return Err(SimError::not_allowed(format!("File {name:?} is not PREPARED.")));
        }
        Ok((session, name, file.blob.clone()))
    }

    /// A download sent its last byte: the file's checksum is now reported, the session lives on.
    pub fn finish_download(&self, session: &str, name: &str) {
        let mut state = self.state();
        if let Ok(s) = state.download_mut(session) {
            s.expires = Instant::now() + self.config.session_timeout;
            if let Some(f) = s.files.iter_mut().find(|f| f.name == name) {
                f.downloaded = true;
            }
        }
    }

    /// Bytes are flowing for a download session: it is not idle.
    pub fn touch_download(&self, session: &str) {
        if let Ok(s) = self.state().download_mut(session) {
            s.expires = Instant::now() + self.config.session_timeout;
        }
    }

    // ------------------------------------------------------------------ update sessions

    pub fn update_create(
        &self,
        user: &str,
        spec: UpdateSessionModel,
        client_token: Option<String>,
    ) -> SimResult<String> {
        let mut state = self.state();
        if let Some(id) = state.remembered("update", &client_token) {
            return Ok(id);
        }
        let item_id = spec.library_item_id.ok_or_else(|| SimError::invalid_argument("library_item_id is required."))?;
        let item = state.item(&item_id)?;
        let (version, ovf_item) = (item.content_version.to_string(), item.model.type_.as_deref() == Some("ovf"));
        let busy = state.updates.values().any(|s| s.item_id == item_id && s.state == UpdateSessionState::Active);
        if busy {
            let mut error = SimError::new(
                ErrorType::ResourceBusy,
                format!("Library item {item_id} already has an ACTIVE update session."),
            );
            // Documented for this operation: ResourceBusy is a 500 on /api (a 400 on /rest).
            error.api_status = Some(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
            return Err(error);
        }
        let session = UpdateSession {
            user: user.to_owned(),
            item_id,
            content_version: version,
            state: UpdateSessionState::Active,
            error: None,
            progress: 0,
            expires: Instant::now() + self.config.session_timeout,
            warning_behavior: spec.warning_behavior,
            files: Vec::new(),
            removals: BTreeSet::new(),
            completing: false,
            ovf_item,
        };
        // Update-session ids contain a colon on vCenter; clients must cope.
        let id = format!("{}:{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        state.updates.insert(id.clone(), session);
        state.remember("update", client_token, &id);
        Ok(id)
    }

    pub fn update_list(&self, user: &str, item: Option<&str>) -> SimResult<Vec<String>> {
        let state = self.state();
        if let Some(item) = item {
            state.item(item)?;
        }
        let ids = state.updates.iter().filter(|(_, s)| s.user == user && item.is_none_or(|i| s.item_id == i));
        Ok(ids.map(|(id, _)| id.clone()).collect())
    }

    pub fn update_get(&self, id: &str) -> SimResult<UpdateSessionModel> {
        let state = self.state();
        let s = state.update(id)?;
        Ok(UpdateSessionModel {
            id: None,
            library_item_id: Some(s.item_id.clone()),
            library_item_content_version: Some(s.content_version.clone()),
            error_message: s.error.as_deref().map(message),
            client_progress: Some(s.progress),
            state: Some(s.state.clone()),
            expiration_time: Some(wall(s.expires)),
            preview_info: (s.state == UpdateSessionState::Active).then(|| preview(s)),
            warning_behavior: s.warning_behavior.clone(),
        })
    }

    fn active_update<'a>(state: &'a mut State, id: &str) -> SimResult<&'a mut UpdateSession> {
        let s = state.update_mut(id)?;
        if s.state != UpdateSessionState::Active {
            return Err(SimError::not_allowed(format!("Update session {id} is {}, not ACTIVE.", s.state)));
        }
        Ok(s)
    }

    pub fn update_patch(&self, id: &str, spec: UpdateSessionModel) -> SimResult<()> {
        let mut state = self.state();
        Self::active_update(&mut state, id)?.warning_behavior = spec.warning_behavior;
        Ok(())
    }

    pub fn update_keep_alive(&self, id: &str, progress: Option<i64>) -> SimResult<()> {
        let mut state = self.state();
        let s = Self::active_update(&mut state, id)?;
        if let Some(p) = progress {
            if !(0..=100).contains(&p) {
                return Err(SimError::invalid_argument(format!("client_progress {p} is outside 0..100.")));
            }
            s.progress = p;
        }
        s.expires = Instant::now() + self.config.session_timeout;
        Ok(())
    }

    pub fn update_cancel(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        let s = Self::active_update(&mut state, id)?;
        s.state = UpdateSessionState::Canceled;
        s.files.clear(); // received content is discarded
        state.forget_transfers(id);
        Ok(())
    }

    pub fn update_fail(&self, id: &str, reason: String) -> SimResult<()> {
        let mut state = self.state();
        let s = Self::active_update(&mut state, id)?;
        s.state = UpdateSessionState::Error;
        s.error = Some(reason);
        s.files.clear();
        state.forget_transfers(id);
        Ok(())
    }

    pub fn update_delete(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        let s = state.update(id)?;
        if s.state == UpdateSessionState::Active {
            return Err(SimError::not_allowed(format!(
                "Update session {id} is ACTIVE: cancel, fail or complete it before deleting it."
            )));
        }
        state.updates.remove(id);
        state.forget_transfers(id);
        Ok(())
    }

    pub fn update_complete(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        let s = Self::active_update(&mut state, id)?;
        if s.completing {
            return Err(SimError::not_allowed(format!("Update session {id} is already completing.")));
        }
        if let Some(f) = s.files.iter().find(|f| f.source_type == SourceType::Push && f.status != TransferStatus::Ready)
        {
            return Err(SimError::not_allowed(format!(
                "File {:?} was not received intact (status {}); the session cannot complete.",
                f.name, f.status
            )));
        }
        if let Some(f) = s.files.iter().find(|f| f.status == TransferStatus::Error) {
            return Err(SimError::not_allowed(format!(
                "File {:?} failed: {}.",
                f.name,
                f.error.as_deref().unwrap_or("error")
            )));
        }
        let preview = preview(s);
        if let Some(w) = preview.warnings.iter().find(|w| !w.ignored) {
            let reason = format!("Preview warning {} was not ignored: {}", w.type_, w.message.default_message);
            s.state = UpdateSessionState::Error;
            s.error = Some(reason.clone());
            s.files.clear();
            state.forget_transfers(id);
            return Err(SimError::not_allowed(reason));
        }
        s.completing = true;
        // PULL files still arriving: complete returns now and the session finishes when they are in.
        if s.files.iter().all(|f| f.status == TransferStatus::Ready) {
            state.commit(id);
        }
        Ok(())
    }

    pub fn update_files(&self, id: &str) -> SimResult<Vec<UpdateFileInfo>> {
        let state = self.state();
        let s = state.update(id)?;
        Ok(s.files.iter().map(|f| self.update_file_info(s, f)).collect())
    }

    pub fn update_file(&self, id: &str, name: &str) -> SimResult<UpdateFileInfo> {
        let state = self.state();
        let s = state.update(id)?;
        let file = s.files.iter().find(|f| f.name == name);
        let file =
            file.ok_or_else(|| SimError::invalid_argument(format!("Update session {id} has no file {name:?}.")))?;
        Ok(self.update_file_info(s, file))
    }

    /// Adds (or replaces) a file. Returns the file and, for PULL, the job the caller must run.
    pub fn update_file_add(&self, id: &str, spec: UpdateFileAddSpec) -> SimResult<(UpdateFileInfo, Option<PullJob>)> {
        let mut state = self.state();
        let s = Self::active_update(&mut state, id)?;
        let name = spec.name.clone();
        if name.is_empty() || name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
            return Err(SimError::invalid_argument(format!("{name:?} is not a valid file name.")));
        }
        if is_metadata(&name) && s.files.iter().any(|f| is_descriptor(&f.name) && f.name != name) {
            return Err(SimError::not_allowed(format!(
                "{name:?} must be added before the OVF descriptor: manifest and certificate files come first."
            )));
        }
        if let Some(size) = spec.size
            && size < 0
        {
            return Err(SimError::invalid_argument(format!("size {size} is negative.")));
        }
        let endpoint = match spec.source_type {
            SourceType::Push => None,
            SourceType::Pull => {
                let endpoint = spec
                    .source_endpoint
                    .clone()
                    .ok_or_else(|| SimError::invalid_argument("A PULL file needs a source_endpoint."))?;
                let scheme = endpoint.uri.split(':').next().unwrap_or_default().to_ascii_lowercase();
                match scheme.as_str() {
                    "http" | "https" => Some(endpoint),
                    "file" | "ds" => {
                        return Err(SimError::new(
                            ErrorType::Unauthorized,
                            "Pulling from file: or ds: URIs needs the ContentLibrary.ReadStorage privilege.",
                        ));
                    }
                    _ => return Err(SimError::invalid_argument(format!("Unsupported source URI {:?}.", endpoint.uri))),
                }
            }
            _ => return Err(SimError::invalid_argument(format!("source_type {} cannot be added.", spec.source_type))),
        };
        let generation = s.files.iter().find(|f| f.name == name).map_or(0, |f| f.generation + 1);
        s.files.retain(|f| f.name != name);
        s.removals.remove(&name);
        let token = (spec.source_type == SourceType::Push).then(|| uuid::Uuid::new_v4().simple().to_string());
        let algorithm = spec.checksum_info.as_ref().map(|c| c.algorithm.clone().unwrap_or(ChecksumAlgorithm::Sha1));
        s.files.push(UpdateFile {
            name: name.clone(),
            source_type: spec.source_type.clone(),
            source_endpoint: endpoint.clone(),
            size: spec.size,
            checksum: spec.checksum_info,
            token: token.clone(),
            status: TransferStatus::WaitingForTransfer,
            bytes: 0,
            blob: None,
            error: None,
            generation,
        });
        s.expires = Instant::now() + self.config.session_timeout;
        let info = self.update_file_info(s, s.files.last().expect("just pushed"));
        if let Some(token) = token {
            state
                .transfers
                .retain(|_, t| !matches!(t, Target::Upload { session, name: n } if session == id && *n == name));
            state.transfers.insert(token, Target::Upload { session: id.to_owned(), name: name.clone() });
        }
        let job = endpoint.map(|endpoint| PullJob { session: id.to_owned(), name, generation, endpoint, algorithm });
        Ok((info, job))
    }

    pub fn update_file_remove(&self, id: &str, name: &str) -> SimResult<()> {
        let mut state = self.state();
        let item_has = {
            let s = state.update(id)?;
            state.item(&s.item_id)?.files.contains_key(name)
        };
        let s = Self::active_update(&mut state, id)?;
        let in_session = s.files.iter().any(|f| f.name == name);
        if !in_session && !item_has {
            return Err(SimError::invalid_argument(format!("Neither the session nor the item has a file {name:?}.")));
        }
        s.files.retain(|f| f.name != name);
        if item_has {
            s.removals.insert(name.to_owned());
        }
        state.transfers.retain(|_, t| !matches!(t, Target::Upload { session, name: n } if session == id && n == name));
        Ok(())
    }

    pub fn update_validate(&self, id: &str) -> SimResult<ValidationResult> {
        let mut state = self.state();
        let item_files: BTreeSet<String> = {
            let s = state.update(id)?;
            state.item(&s.item_id)?.files.keys().cloned().collect()
        };
        let s = Self::active_update(&mut state, id)?;
        let mut missing: BTreeSet<String> = s
            .files
            .iter()
            .filter(|f| matches!(f.status, TransferStatus::WaitingForTransfer | TransferStatus::Transferring))
            .map(|f| f.name.clone())
            .collect();
        // Files the OVF descriptor references must be in the session or already in the item.
        for f in s.files.iter().filter(|f| is_descriptor(&f.name)) {
            if let Some(blob) = &f.blob {
                let text = std::fs::read_to_string(&blob.path).unwrap_or_default();
                for href in ovf_references(&text) {
                    let present = s.files.iter().any(|g| g.name == href)
                        || (item_files.contains(&href) && !s.removals.contains(&href));
                    if !present {
                        missing.insert(href);
                    }
                }
            }
        }
        let invalid: Vec<ValidationError> = s
            .files
            .iter()
            .filter(|f| f.status == TransferStatus::Error)
            .map(|f| ValidationError {
                name: f.name.clone(),
                error_message: message(f.error.as_deref().unwrap_or("transfer failed")),
            })
            .collect();
        Ok(ValidationResult {
            has_errors: !missing.is_empty() || !invalid.is_empty(),
            missing_files: missing.into_iter().collect(),
            invalid_files: invalid,
        })
    }

    fn update_file_info(&self, s: &UpdateSession, f: &UpdateFile) -> UpdateFileInfo {
        let ready = f.status == TransferStatus::Ready;
        UpdateFileInfo {
            name: f.name.clone(),
            source_type: f.source_type.clone(),
            size: if ready { f.blob.as_ref().map(|b| b.size as i64) } else { f.size },
            checksum_info: f.checksum.clone(),
            source_endpoint: f.source_endpoint.clone(),
            upload_endpoint: f.token.as_ref().map(|t| self.endpoint(t, &f.name)),
            bytes_transferred: f.bytes as i64,
            status: f.status.clone(),
            error_message: f.error.as_deref().map(message),
            keep_in_storage: Some(s.keeps(&f.name)),
        }
    }

    /// Starts an upload through a transfer URI (PUSH files only, session ACTIVE).
    pub fn begin_upload(&self, token: &str) -> SimResult<UploadTicket> {
        let mut state = self.state();
        let Some(Target::Upload { session, name }) = state.transfers.get(token).cloned() else {
            return Err(SimError::not_found("No such transfer."));
        };
        let timeout = self.config.session_timeout;
        let s = Self::active_update(&mut state, &session)?;
        let file = s.files.iter_mut().find(|f| f.name == name).ok_or_else(|| SimError::not_found("No such file."))?;
        if s.completing {
            return Err(SimError::not_allowed("The session is completing."));
        }
        file.status = TransferStatus::Transferring;
        file.bytes = 0;
        file.error = None;
        file.blob = None;
        let ticket = UploadTicket {
            session: session.clone(),
            name,
            generation: file.generation,
            algorithm: file.checksum.as_ref().map(|c| c.algorithm.clone().unwrap_or(ChecksumAlgorithm::Sha1)),
        };
        s.expires = Instant::now() + timeout;
        Ok(ticket)
    }

    /// Records upload (or pull) progress; keeps the session from idling out.
    pub fn transfer_progress(&self, session: &str, name: &str, generation: u64, bytes: u64) {
        let timeout = self.config.session_timeout;
        let mut state = self.state();
        if let Ok(s) = state.update_mut(session) {
            s.expires = Instant::now() + timeout;
            if let Some(f) = s.files.iter_mut().find(|f| f.name == name && f.generation == generation) {
                f.bytes = bytes;
            }
        }
    }

    /// Ends an upload or pull: checks the declared size and checksum and marks the file READY or
    /// ERROR. Content for a file that was replaced or a session that ended is dropped.
    pub fn finish_transfer(
        &self,
        session: &str,
        name: &str,
        generation: u64,
        outcome: Result<Blob, String>,
    ) -> SimResult<()> {
        let mut state = self.state();
        let s = state.update_mut(session)?;
        let Some(file) = s.files.iter_mut().find(|f| f.name == name && f.generation == generation) else {
            return Err(SimError::not_allowed(format!("File {name:?} was replaced or removed during the transfer.")));
        };
        let verdict = outcome.and_then(|blob| {
            if let Some(size) = file.size
                && size as u64 != blob.size
            {
                return Err(format!("received {} bytes but the declared size is {size}", blob.size));
            }
            if let Some(sum) = &file.checksum {
                let algorithm = sum.algorithm.clone().unwrap_or(ChecksumAlgorithm::Sha1);
                let actual = blob.checksum(&algorithm).unwrap_or_default();
                if !actual.eq_ignore_ascii_case(sum.checksum.trim()) {
                    return Err(format!("{algorithm} checksum mismatch: declared {}, received {actual}", sum.checksum));
                }
            }
            Ok(blob)
        });
        let result = match verdict {
            Ok(blob) => {
                file.bytes = blob.size;
                file.status = TransferStatus::Ready;
                file.blob = Some(Arc::new(blob));
                Ok(())
            }
            Err(reason) => {
                file.status = TransferStatus::Error;
                file.error = Some(format!("{name}: {reason}"));
                Err(SimError::invalid_argument(format!("{name}: {reason}")))
            }
        };
        let pending = s.completing && s.state == UpdateSessionState::Active;
        if pending {
            if s.files.iter().any(|f| f.status == TransferStatus::Error) {
                s.state = UpdateSessionState::Error;
                s.error = s.files.iter().find_map(|f| f.error.clone());
                s.files.clear();
            } else if s.files.iter().all(|f| f.status == TransferStatus::Ready) {
                state.commit(session);
            }
        }
        result
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

    /// Makes a completing session's files the item's content: one new content version.
    fn commit(&mut self, id: &str) {
        let Some(s) = self.updates.get_mut(id) else { return };
        let Some(item) = self.items.get_mut(&s.item_id) else {
            s.state = UpdateSessionState::Error;
            s.error = Some("The library item was deleted during the update.".into());
            return;
        };
        for name in &s.removals {
            item.files.remove(name);
        }
        let keep: Vec<bool> = s.files.iter().map(|f| s.keeps(&f.name)).collect();
        for (f, keep) in s.files.drain(..).zip(keep) {
            if let (true, Some(blob)) = (keep, f.blob) {
                item.files.insert(f.name, blob);
            }
        }
        item.content_version += 1;
        item.model.last_modified_time = Some(Utc::now());
        s.state = UpdateSessionState::Done;
        s.completing = false;
        self.forget_transfers(id);
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

/// Where a requested prepare stands after `elapsed`: PREPARE_REQUESTED for the first half of the
/// delay, PREPARING for the second, then PREPARED.
fn prepare_progress(elapsed: Duration, delay: Duration) -> PrepareStatus {
    if elapsed >= delay {
        PrepareStatus::Prepared
    } else if elapsed >= delay / 2 {
        PrepareStatus::Preparing
    } else {
        PrepareStatus::PrepareRequested
    }
}

fn item_file(name: &str, blob: &Blob, version: u64) -> ItemFileInfo {
    ItemFileInfo {
        name: name.to_owned(),
        size: Some(blob.size as i64),
        checksum_info: Some(ChecksumInfo { algorithm: Some(ChecksumAlgorithm::Sha1), checksum: blob.sha1.clone() }),
        cached: true,
        version: version.to_string(),
    }
}

/// The session's preview: AVAILABLE once an OVF descriptor arrived; a `.cert` file means signed
/// content, which the simulator reports as self-signed.
fn preview(s: &UpdateSession) -> PreviewInfo {
    let descriptor = s.files.iter().find(|f| is_descriptor(&f.name));
    let state = match descriptor {
        None => PreviewState::Unavailable,
        Some(f) if f.status == TransferStatus::Ready => PreviewState::Available,
        Some(_) => PreviewState::Preparing,
    };
    let cert = s.files.iter().find(|f| f.name.to_ascii_lowercase().ends_with(".cert"));
    let available = state == PreviewState::Available;
    let (certificate_info, warnings) = match (available, cert) {
        (true, Some(cert)) => {
            let pem = cert.blob.as_ref().and_then(|b| std::fs::read_to_string(&b.path).ok()).unwrap_or_default();
            let ignored = s.warning_behavior.iter().any(|w| w.type_ == WarningType::SelfSignedCertificate && w.ignored);
            (
                Some(CertificateInfo {
                    issuer: "CN=cl-sim signer".into(),
                    subject: "CN=cl-sim signer".into(),
                    self_signed: true,
                    x509: pem,
                }),
                vec![PreviewWarningInfo {
                    type_: WarningType::SelfSignedCertificate,
                    message: message("The content is signed with a self-signed certificate."),
                    ignored,
                }],
            )
        }
        _ => (None, Vec::new()),
    };
    PreviewInfo { state, certificate_info, warnings, cert_chain: Vec::new() }
}

/// The `ovf:href` file references of an OVF descriptor.
fn ovf_references(descriptor: &str) -> Vec<String> {
    descriptor
        .split("href=\"")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|href| !href.is_empty() && !href.contains("://"))
        .map(str::to_owned)
        .collect()
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
    fn ovf_references_are_found() {
        let ovf = r#"<References><File ovf:href="disk-0.vmdk" ovf:id="f1"/><File ovf:href="nvram.bin"/></References>"#;
        assert_eq!(ovf_references(ovf), ["disk-0.vmdk", "nvram.bin"]);
    }

    #[test]
    fn prepare_moves_through_its_states_over_the_delay() {
        let delay = Duration::from_millis(1000);
        let at = |ms| prepare_progress(Duration::from_millis(ms), delay);
        assert_eq!(at(0), PrepareStatus::PrepareRequested);
        assert_eq!(at(499), PrepareStatus::PrepareRequested);
        assert_eq!(at(500), PrepareStatus::Preparing);
        assert_eq!(at(999), PrepareStatus::Preparing);
        assert_eq!(at(1000), PrepareStatus::Prepared);
        assert_eq!(prepare_progress(Duration::ZERO, Duration::ZERO), PrepareStatus::Prepared);
    }

    #[test]
    fn segments_are_encoded() {
        assert_eq!(url_segment("a b/c.ovf"), "a%20b%2Fc.ovf");
    }
}
