//! Upload files into an item through an update session: checksummed, streamed, all or nothing.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cl_api::types::*;
use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

use super::checksum;
use super::{Common, FileProgress, FileState, TransferControl, keep_alive, ova, transfer_retries};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result, io_at, transport};
use crate::retry::{Repeat, Waiter};
use crate::session::UpdateSession;

type BoxReader = Box<dyn AsyncRead + Send + Unpin>;

enum Source {
    /// A file, or a segment of one (an OVA member).
    Path { path: PathBuf, offset: u64, len: Option<u64> },
    /// Any reader of a known size; single use, so it is not retried.
    Reader { size: u64, reader: Mutex<Option<BoxReader>> },
    /// The server fetches it.
    Pull(TransferEndpoint),
}

/// One file to upload: from a path, a reader, or a URL the server pulls from.
///
/// ```
/// use cl_sdk::transfer::UploadFile;
/// use cl_sdk::types::ChecksumAlgorithm;
/// let iso = UploadFile::path("/images/photon.iso");
/// let ovf = UploadFile::named("app.ovf", "/build/out/appliance.ovf");
/// let declared = UploadFile::path("/images/disk.vmdk").with_checksum(ChecksumAlgorithm::Sha256, "ab12…");
/// let from_memory = UploadFile::reader("notes.txt", 5, std::io::Cursor::new(b"hello".to_vec()));
/// ```
pub struct UploadFile {
    name: String,
    source: Source,
    checksum: Option<ChecksumInfo>,
}

impl std::fmt::Debug for UploadFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            Source::Path { path, .. } => path.display().to_string(),
            Source::Reader { size, .. } => format!("reader of {size} bytes"),
            Source::Pull(endpoint) => endpoint.uri.clone(),
        };
        f.debug_struct("UploadFile").field("name", &self.name).field("source", &source).finish()
    }
}

impl UploadFile {
    /// The file at `path`, under its own file name. An `.ova` is uploaded member by member.
    pub fn path(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_owned();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Self { name, source: Source::Path { path, offset: 0, len: None }, checksum: None }
    }

    /// The file at `path`, under another name in the item.
    pub fn named(name: &str, path: impl AsRef<Path>) -> Self {
        Self { name: name.to_owned(), ..Self::path(path) }
    }

    /// `size` bytes read from `reader`. Without a declared checksum, only the size is checked.
    pub fn reader(name: &str, size: u64, reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        Self {
            name: name.to_owned(),
            source: Source::Reader { size, reader: Mutex::new(Some(Box::new(reader))) },
            checksum: None,
        }
    }

    /// A file the server fetches itself from `uri` (http or https). Pin the source's certificate
    /// with a thumbprint (vCenter 7/8: SHA-1) or its PEM (vSphere 9+).
    pub fn pull(name: &str, uri: &str, thumbprint: Option<&str>, certificate_pem: Option<&str>) -> Self {
        let endpoint = TransferEndpoint {
            uri: uri.to_owned(),
            ssl_certificate_thumbprint: thumbprint.map(str::to_owned),
            ssl_certificate: certificate_pem.map(str::to_owned),
        };
        Self { name: name.to_owned(), source: Source::Pull(endpoint), checksum: None }
    }

    /// Declares the file's checksum instead of having it computed; the server checks it.
    pub fn with_checksum(mut self, algorithm: ChecksumAlgorithm, hex: &str) -> Self {
        self.checksum = Some(ChecksumInfo { algorithm: Some(algorithm), checksum: hex.to_owned() });
        self
    }

    /// The name the file gets in the item.
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Options of [`Client::upload_item`].
#[derive(Debug, Clone)]
pub struct UploadOptions {
    checksum: Option<ChecksumAlgorithm>,
    ignore_warnings: Vec<WarningType>,
    replace: bool,
    settle_timeout: Duration,
    common: Common,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            checksum: Some(ChecksumAlgorithm::Sha256),
            ignore_warnings: Vec::new(),
            replace: false,
            settle_timeout: Duration::from_secs(3600),
            common: Common::default(),
        }
    }
}

super::common_setters!(UploadOptions);

impl UploadOptions {
    /// The algorithm of the checksums computed before upload (default SHA-256); `None` sends
    /// sizes only.
    pub fn checksum(mut self, algorithm: Option<ChecksumAlgorithm>) -> Self {
        self.checksum = algorithm;
        self
    }
    /// Preview warnings of signed content to accept (all others fail the upload before complete).
    pub fn ignore_warnings(mut self, warnings: impl IntoIterator<Item = WarningType>) -> Self {
        self.ignore_warnings = warnings.into_iter().collect();
        self
    }
    /// Make the item's file set exactly the uploaded files: files the item holds that are not
    /// among them are removed in the same update session (default: kept).
    pub fn replace(mut self, replace: bool) -> Self {
        self.replace = replace;
        self
    }
    /// How long the server may take to verify, preview and commit (default 1 h).
    pub fn settle_timeout(mut self, timeout: Duration) -> Self {
        self.settle_timeout = timeout;
        self
    }
}

/// One uploaded file.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UploadedFile {
    /// The file's name in the item.
    pub name: String,
    /// Its size as the server received it.
    pub size: u64,
    /// The checksum sent with it, which the server verified, if any.
    pub checksum: Option<ChecksumInfo>,
}

/// What an upload did.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UploadReport {
    /// The item uploaded into.
    pub item_id: String,
    /// Each file as added, in the order they were added.
    pub files: Vec<UploadedFile>,
    /// The preview of signed content, when the server gave one.
    pub preview: Option<PreviewInfo>,
    /// Wall time.
    pub elapsed: Duration,
}

impl UploadReport {
    /// Bytes sent (PULL files count their size as the server reports it).
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// A file ready to add: its final name, size and checksum known.
struct Planned {
    name: String,
    source: Source,
    size: Option<u64>,
    checksum: Option<ChecksumInfo>,
}

fn is_metadata(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".mf") || lower.ends_with(".cert")
}

fn is_descriptor(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".ovf")
}

impl Client {
    /// Uploads `files` into an existing item in one update session.
    ///
    /// Checksums are computed before the session opens (or taken as declared), files are added
    /// with their size and checksum (OVF manifests and certificates before the descriptor, as
    /// the service requires), streamed concurrently, validated, and the session is completed
    /// and waited on. Signed content's preview warnings fail the upload unless ignored in the
    /// options. On any failure or cancel the session is failed (or canceled) and deleted, so the
    /// item keeps its previous content.
    pub async fn upload_item(
        &self,
        item_id: &str,
        files: Vec<UploadFile>,
        options: UploadOptions,
    ) -> Result<UploadReport> {
        let started = Instant::now();
        options.common.control.check()?;
        let planned = tokio::select! {
            planned = plan(files, &options) => planned?,
            error = options.common.stopped() => return Err(error),
        };
        self.upload_planned(item_id, planned, options, started).await
    }

    /// Uploads files already checked, ordered and checksummed by [`plan`].
    async fn upload_planned(
        &self,
        item_id: &str,
        planned: Vec<Planned>,
        options: UploadOptions,
        started: Instant,
    ) -> Result<UploadReport> {
        let removals: Vec<String> = if options.replace {
            let kept: Vec<&str> = planned.iter().map(|p| p.name.as_str()).collect();
            let files = self.item_files(item_id).await?;
            files.into_iter().map(|f| f.name).filter(|name| !kept.contains(&name.as_str())).collect()
        } else {
            Vec::new()
        };
        let session = self.create_update_session(item_id).await?;
        let result = tokio::select! {
            result = self.upload_in(&session, planned, &removals, &options) => result,
            error = options.common.stopped() => Err(error),
        };
        match result {
            Ok((files, preview)) => {
                if let Err(e) = session.delete().await {
                    tracing::warn!(session = session.id(), error = %e, "could not delete the finished update session");
                }
                Ok(UploadReport { item_id: item_id.to_owned(), files, preview, elapsed: started.elapsed() })
            }
            Err(error) => {
                abandon(&session, &error).await;
                Err(error)
            }
        }
    }

    /// Creates an item and uploads `files` into it; when the upload fails the new item is
    /// deleted again, so nothing half-made is left in the library.
    pub async fn upload_new_item(
        &self,
        library_id: &str,
        name: &str,
        item_type: &str,
        files: Vec<UploadFile>,
        options: UploadOptions,
    ) -> Result<UploadReport> {
        // Local files are checked (and hashed) before anything exists on the server.
        let started = Instant::now();
        options.common.control.check()?;
        let planned = tokio::select! {
            planned = plan(files, &options) => planned?,
            error = options.common.stopped() => return Err(error),
        };
        let item = self.create_item(library_id, name, item_type).await?;
        let result = self.upload_planned(&item, planned, options, started).await;
        if result.is_err()
            && let Err(e) = self.delete_item(&item).await
        {
            tracing::warn!(item, error = %e, "could not delete the item created for a failed upload");
        }
        result
    }

    async fn upload_in(
        &self,
        session: &UpdateSession,
        planned: Vec<Planned>,
        removals: &[String],
        options: &UploadOptions,
    ) -> Result<(Vec<UploadedFile>, Option<PreviewInfo>)> {
        let control = &options.common.control;
        control.start(planned.iter().map(|p| FileProgress::waiting(&p.name, p.size)).collect());
        let _keep_alive = keep_alive(session, control, options.common.keep_alive_every);

        // Adds go one by one, in order: the service wants OVF metadata before the descriptor.
        let mut endpoints = Vec::new();
        for p in &planned {
            let spec = UpdateFileAddSpec {
                name: p.name.clone(),
                source_type: if matches!(p.source, Source::Pull(_)) { SourceType::Pull } else { SourceType::Push },
                source_endpoint: match &p.source {
                    Source::Pull(endpoint) => Some(endpoint.clone()),
                    _ => None,
                },
                size: p.size.map(|s| s as i64),
                checksum_info: p.checksum.clone(),
            };
            endpoints.push(session.add_file(&spec).await?.upload_endpoint);
        }

        // Boxed jobs in a plain loop: closure-built futures would not stay provably `Send`.
        let mut jobs: Vec<BoxFuture<'_, Result<u64>>> = Vec::new();
        for (index, (p, endpoint)) in planned.iter().zip(endpoints).enumerate() {
            jobs.push(Box::pin(async move {
                let result = self.upload_file(session, index, p, endpoint, options).await;
                control.update(index, |f| f.state = if result.is_ok() { FileState::Done } else { FileState::Failed });
                result
            }));
        }
        let sizes: Vec<u64> =
            futures_util::stream::iter(jobs).buffered(options.common.concurrency).try_collect().await?;

        for name in removals {
            session.remove_file(name).await?;
        }
        let validation = session.validate().await?.unwrap_or_else(|| {
            tracing::warn!(
                session = session.id(),
                "the server gave no validation result; relying on its transfer checks"
            );
            ValidationResult { has_errors: false, missing_files: Vec::new(), invalid_files: Vec::new() }
        });
        if validation.has_errors {
            let mut problems: Vec<String> =
                validation.missing_files.iter().map(|m| format!("{m} is missing")).collect();
            problems.extend(
                validation.invalid_files.iter().map(|f| format!("{}: {}", f.name, f.error_message.default_message)),
            );
            return Err(Error::new(
                ErrorKind::Verification,
                format!("the server found problems: {}", problems.join("; ")),
            ));
        }
        let preview = self.settle_preview(session, options).await?;
        if let Err(error) = session.complete().await {
            // The answer may have been lost after the server completed: its state says which.
            let unknown = crate::retry::classify(&error) == crate::retry::Class::Unknown;
            let done =
                unknown && matches!(session.info().await, Ok(info) if info.state == Some(UpdateSessionState::Done));
            if !done {
                return Err(error);
            }
            tracing::info!(session = session.id(), "complete's answer was lost, but the session is DONE");
        }
        session.wait_done(options.settle_timeout).await?;
        let files = planned
            .into_iter()
            .zip(sizes)
            .map(|(p, size)| UploadedFile { name: p.name, size, checksum: p.checksum })
            .collect();
        Ok((files, preview))
    }

    /// Streams one PUSH file (retrying where the source allows) or waits for a PULL; returns
    /// the size the server received.
    async fn upload_file(
        &self,
        session: &UpdateSession,
        index: usize,
        p: &Planned,
        endpoint: Option<TransferEndpoint>,
        options: &UploadOptions,
    ) -> Result<u64> {
        let control = &options.common.control;
        control.update(index, |f| f.state = FileState::Transferring);
        if let Some(endpoint) = endpoint {
            let url = crate::origin::endpoint_url(&endpoint, &p.name)?;
            let http = self.transfer_http(&endpoint)?;
            let mut retries = transfer_retries(self, options.common.retries);
            loop {
                let error = match self.put(&http, &url, p, index, control).await {
                    Ok(()) => break,
                    Err(error) => error,
                };
                // A reader is single use; a file can be read again from its start.
                retries.restart_clock();
                let pause = match p.source {
                    Source::Path { .. } => retries.next_pause(&error, Repeat::Safe),
                    _ => None,
                };
                let Some(pause) = pause else {
                    return Err(self.explain_refusal(session, &p.name, error).await.in_operation("upload"));
                };
                tokio::time::sleep(pause).await;
                // The server may have all of it after all (only the answer was lost); then there
                // is nothing to send again. vCenter's upload endpoints are not assumed to honour
                // Range, so a re-send is the whole file.
                if session_file(session, &p.name).await.is_ok_and(|f| f.status == TransferStatus::Ready) {
                    tracing::info!(file = p.name, "the server has the whole file after all");
                    break;
                }
                let attempt = retries.failures();
                tracing::warn!(file = p.name, attempt, %error, "upload broke off; sending the file again");
                control.update(index, |f| f.done = 0);
            }
        }
        // Wait for the server to finish receiving (or pulling) and checking the file.
        let name = &p.name;
        let mut waiter = Waiter::new(format!("{name} to arrive"), options.settle_timeout);
        let file = loop {
            let file = session_file(session, name).await?;
            if matches!(p.source, Source::Pull(_)) {
                let done = file.bytes_transferred.max(0) as u64;
                control.update(index, |f| f.done = done);
            }
            match file.status {
                TransferStatus::Ready => break file,
                TransferStatus::Error => {
                    let why = file.error_message.map(|m| m.default_message).unwrap_or_else(|| "no reason given".into());
                    return Err(Error::new(ErrorKind::Verification, format!("the server rejected {name}: {why}")));
                }
                // Servers that never advance the status (vcsim) still have the bytes.
                TransferStatus::WaitingForTransfer if !matches!(p.source, Source::Pull(_)) => break file,
                status => {
                    control.update(index, |f| f.server_status = Some(status.to_string()));
                    waiter.pause(status).await?
                }
            }
        };
        Ok(file.size.map(|s| s as u64).or(p.size).unwrap_or(0))
    }

    /// A transfer endpoint answers with a bare status; the session's file says why (a size or
    /// checksum mismatch), so that is what the caller gets.
    async fn explain_refusal(&self, session: &UpdateSession, name: &str, error: Error) -> Error {
        match session_file(session, name).await {
            Ok(file) if file.status == TransferStatus::Error => {
                let why = file.error_message.map(|m| m.default_message).unwrap_or_else(|| error.message().to_owned());
                Error::new(ErrorKind::Verification, format!("the server rejected {name}: {why}")).with_source(error)
            }
            _ => error,
        }
    }

    /// One PUT of a file's bytes, streamed with progress and an explicit Content-Length.
    async fn put(
        &self,
        http: &reqwest::Client,
        url: &reqwest::Url,
        p: &Planned,
        index: usize,
        control: &TransferControl,
    ) -> Result<()> {
        type Chunks = futures_util::stream::BoxStream<'static, std::io::Result<bytes::Bytes>>;
        let (chunks, size): (Chunks, u64) = match &p.source {
            Source::Path { path, offset, len } => {
                let size = p.size.or(*len).unwrap_or(0);
                (super::read_ahead::file(path, *offset, size), size)
            }
            Source::Reader { size, reader } => {
                let reader = reader.lock().unwrap_or_else(|e| e.into_inner()).take();
                let reader =
                    reader.ok_or_else(|| Error::new(ErrorKind::InvalidInput, "a reader can be uploaded only once"))?;
                (Box::pin(tokio_util::io::ReaderStream::with_capacity(reader.take(*size), 256 * 1024)), *size)
            }
            Source::Pull(_) => return Err(Error::new(ErrorKind::InvalidInput, "a PULL file has no upload endpoint")),
        };
        let control = control.clone();
        let mut sent = 0u64;
        let stream = chunks.inspect(move |chunk| {
            if let Ok(chunk) = chunk {
                sent += chunk.len() as u64;
                control.update(index, |f| f.done = sent);
            }
        });
        let mut request = http
            .put(url.clone())
            .header(reqwest::header::CONTENT_LENGTH, size)
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(stream));
        if let Some(token) = self.token_for(url) {
            request = request.header(cl_api::SESSION_HEADER, token);
        }
        let response = request.send().await.map_err(transport)?;
        if !response.status().is_success() {
            return Err(crate::error::from_transfer_response(response).await);
        }
        Ok(())
    }

    /// Waits for the preview of signed content, ignores the warnings the caller accepted and
    /// refuses the rest. Servers without previews (or content without a signature) pass.
    async fn settle_preview(&self, session: &UpdateSession, options: &UploadOptions) -> Result<Option<PreviewInfo>> {
        let mut waiter = Waiter::new("the content preview", options.settle_timeout);
        let preview = loop {
            match session.info().await?.preview_info {
                Some(p) if p.state == PreviewState::Preparing => waiter.pause(&p.state).await?,
                other => break other,
            }
        };
        let Some(preview) = preview else { return Ok(None) };
        let refused: Vec<&PreviewWarningInfo> =
            preview.warnings.iter().filter(|w| !w.ignored && !options.ignore_warnings.contains(&w.type_)).collect();
        if !refused.is_empty() {
            let list: Vec<String> =
                refused.iter().map(|w| format!("{} ({})", w.type_, w.message.default_message)).collect();
            return Err(Error::new(
                ErrorKind::Verification,
                format!("the signed content raised warnings not chosen to be ignored: {}", list.join("; ")),
            ));
        }
        let behavior: Vec<WarningBehavior> =
            preview.warnings.iter().map(|w| WarningBehavior { type_: w.type_.clone(), ignored: true }).collect();
        if !behavior.is_empty() {
            session.set_warning_behavior(behavior).await?;
        }
        Ok(Some(preview))
    }
}

/// One file of the session, read from the file list: one call on every server, and it avoids the
/// single-file get that some servers answer wrongly (govmomi's vcsim returns the session).
async fn session_file(session: &UpdateSession, name: &str) -> Result<UpdateFileInfo> {
    let files = session.files().await?;
    files
        .into_iter()
        .find(|f| f.name == name)
        .ok_or_else(|| Error::new(ErrorKind::NotFound, format!("the update session no longer lists {name}")))
}

/// Ends a session whose upload failed: canceled when the caller canceled, failed with the reason
/// otherwise, then deleted. The item keeps its previous content.
async fn abandon(session: &UpdateSession, error: &Error) {
    let ended = if error.kind() == ErrorKind::Canceled {
        session.cancel().await
    } else {
        let message: String = format!("cl-sdk: {error}").chars().take(1000).collect();
        session.fail(&message).await
    };
    if let Err(e) = ended
        && e.kind() != ErrorKind::NotAllowedInCurrentState
    {
        tracing::warn!(session = session.id(), error = %e, "could not end the failed update session");
    }
    if let Err(e) = session.delete().await {
        tracing::warn!(session = session.id(), error = %e, "could not delete the failed update session");
    }
}

/// Checks the files, expands OVAs, orders them for the service and computes checksums.
async fn plan(files: Vec<UploadFile>, options: &UploadOptions) -> Result<Vec<Planned>> {
    if files.is_empty() {
        return Err(Error::new(ErrorKind::InvalidInput, "no files to upload"));
    }
    let mut planned = Vec::new();
    for file in files {
        match file.source {
            Source::Path { path, .. } if file.name.to_ascii_lowercase().ends_with(".ova") => {
                for member in ova::members(&path).await? {
                    planned.push(Planned {
                        name: member.name,
                        source: Source::Path { path: path.clone(), offset: member.offset, len: Some(member.size) },
                        size: Some(member.size),
                        checksum: None,
                    });
                }
            }
            Source::Path { path, offset, len } => {
                let meta = tokio::fs::metadata(&path).await.map_err(|e| {
                    Error::new(ErrorKind::Io, format!("cannot read {}: {e}", path.display())).with_source(e)
                })?;
                if !meta.is_file() {
                    return Err(Error::new(ErrorKind::InvalidInput, format!("{} is not a file", path.display())));
                }
                let size = len.unwrap_or(meta.len());
                planned.push(Planned {
                    name: file.name,
                    source: Source::Path { path, offset, len: Some(size) },
                    size: Some(size),
                    checksum: file.checksum,
                });
            }
            Source::Reader { size, reader } => {
                planned.push(Planned {
                    name: file.name,
                    source: Source::Reader { size, reader },
                    size: Some(size),
                    checksum: file.checksum,
                });
            }
            Source::Pull(endpoint) => planned.push(Planned {
                name: file.name,
                source: Source::Pull(endpoint),
                size: None,
                checksum: file.checksum,
            }),
        }
    }
    for (i, p) in planned.iter().enumerate() {
        if p.name.is_empty() || p.name.contains(['/', '\\']) || p.name.chars().any(char::is_control) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{:?} is not a usable file name in an item", p.name),
            ));
        }
        if planned[..i].iter().any(|q| q.name == p.name) {
            return Err(Error::new(ErrorKind::InvalidInput, format!("{:?} is given twice", p.name)));
        }
    }
    // Manifests and certificates, then descriptors, then the rest (stable within each group).
    planned.sort_by_key(|p| {
        if is_metadata(&p.name) {
            0
        } else if is_descriptor(&p.name) {
            1
        } else {
            2
        }
    });

    if let Some(algorithm) = &options.checksum {
        // Hashing a large OVA takes minutes: it shows as its own state, and cancel reaches it.
        let control = &options.common.control;
        control.start(planned.iter().map(|p| FileProgress::waiting(&p.name, p.size)).collect());
        let mut jobs: Vec<BoxFuture<'_, Result<(usize, String)>>> = Vec::new();
        for (index, p) in planned.iter().enumerate() {
            if let (None, Source::Path { path, offset, len }) = (&p.checksum, &p.source) {
                let (path, offset, len) = (path.clone(), *offset, len.unwrap_or(0));
                let watcher = control.clone();
                let watch = move |done| {
                    watcher.update(index, |f| {
                        f.state = FileState::Hashing;
                        f.done = done;
                    });
                    !watcher.is_canceled()
                };
                jobs.push(Box::pin(async move {
                    let sum = checksum::of_file_watched(&path, algorithm, offset, len, watch).await?;
                    control.update(index, |f| {
                        f.state = FileState::Waiting;
                        f.done = 0;
                    });
                    Ok((index, sum))
                }));
            }
        }
        let sums: Vec<(usize, String)> =
            futures_util::stream::iter(jobs).buffer_unordered(options.common.concurrency).try_collect().await?;
        for (index, sum) in sums {
            planned[index].checksum = Some(ChecksumInfo { algorithm: Some(algorithm.clone()), checksum: sum });
        }
    }
    check_manifests(&planned).await?;
    Ok(planned)
}

/// Checks every OVF manifest among the files against the local files it lists, before anything
/// is sent: a manifest that does not match its files would only fail on the server, after the
/// whole upload. Lines read `SHA256(disk-0.vmdk)= 9f86…` (SHA1, SHA256 or SHA512).
async fn check_manifests(planned: &[Planned]) -> Result<()> {
    for manifest in planned.iter().filter(|p| p.name.to_ascii_lowercase().ends_with(".mf")) {
        let Source::Path { path, offset, len } = &manifest.source else { continue };
        let text = read_small(path, *offset, len.unwrap_or(0)).await?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let Some((algorithm, name, digest)) = manifest_line(line) else {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("{}: {line:?} is not a manifest line (ALGORITHM(file)= hex)", manifest.name),
                ));
            };
            // Files not in this upload may already be in the item; the server checks those.
            let Some(file) = planned.iter().find(|p| p.name == name) else { continue };
            let Source::Path { path, offset, len } = &file.source else { continue };
            // The pre-pass may have computed this very digest already.
            let actual = match &file.checksum {
                Some(ChecksumInfo { algorithm: Some(a), checksum }) if *a == algorithm => checksum.clone(),
                _ => checksum::of_file(path, &algorithm, *offset, len.unwrap_or(0)).await?,
            };
            if !actual.eq_ignore_ascii_case(digest) {
                return Err(Error::new(
                    ErrorKind::Verification,
                    format!(
                        "{}: the manifest gives {algorithm} {digest} for {name}, the file has {actual}",
                        manifest.name
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// `SHA256(name)= hex` → (algorithm, name, hex).
fn manifest_line(line: &str) -> Option<(ChecksumAlgorithm, &str, &str)> {
    let (head, digest) = line.split_once(")=")?;
    let (algorithm, name) = head.split_once('(')?;
    let algorithm = match algorithm.trim().to_ascii_uppercase().as_str() {
        "SHA1" => ChecksumAlgorithm::Sha1,
        "SHA256" => ChecksumAlgorithm::Sha256,
        "SHA512" => ChecksumAlgorithm::Sha512,
        _ => return None,
    };
    Some((algorithm, name.trim(), digest.trim()))
}

/// A small file (a manifest) read whole: at most 1 MiB.
async fn read_small(path: &Path, offset: u64, len: u64) -> Result<String> {
    if len > 1 << 20 {
        return Err(Error::new(ErrorKind::InvalidInput, format!("{} is too large for a manifest", path.display())));
    }
    let mut file = tokio::fs::File::open(path).await.map_err(io_at("read", path))?;
    file.seek(std::io::SeekFrom::Start(offset)).await.map_err(io_at("read", path))?;
    let mut text = String::new();
    file.take(len).read_to_string(&mut text).await.map_err(io_at("read", path))?;
    Ok(text)
}
