//! Download an item's files to a folder: concurrent, resumable, verified, renamed into place.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cl_api::types::{ChecksumAlgorithm, DownloadFileInfo};
use futures_util::FutureExt;

use super::endpoint::Endpoint;
use super::names::{check_distinct, check_length, safe_file_name};
use super::runner::{FileHandle, copy, each_file};
use super::sink::StagedFile;
use super::source::EndpointSource;
use super::staging::{Sidecar, Staging, exists};
use super::{Checksum, Common, FileProgress, FileState, Overwrite, declared_size};
use crate::client::Client;
use crate::error::{Detail, Error, ErrorKind, Result};
use crate::id::ItemId;
use crate::session::{Download, DownloadSession};

/// Options of [`Client::download_item`].
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::{DownloadOptions, Overwrite};
/// let options = DownloadOptions::default().overwrite(Overwrite::Always).concurrency(2);
/// client.download_item(&item, "/var/tmp/photon", options).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    files: Option<Vec<String>>,
    overwrite: Overwrite,
    resume: bool,
    prepare_timeout: Duration,
    common: Common,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        Self {
            files: None,
            overwrite: Overwrite::Never,
            resume: true,
            prepare_timeout: Duration::from_secs(3600),
            common: Common::default(),
        }
    }
}

super::common_setters!(DownloadOptions);

impl DownloadOptions {
    /// Only these files of the item (all when not given); an unknown name is an error.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::DownloadOptions;
    /// let options = DownloadOptions::default().only(["photon.ovf", "photon.mf"]);
    /// client.download_item(&item, "/var/tmp/photon", options).await?;
    /// # Ok(()) }
    /// ```
    pub fn only(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.files = Some(names.into_iter().map(Into::into).collect());
        self
    }
    /// What to do with existing files (default: refuse).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{DownloadOptions, Overwrite};
    /// client.download_item(&item, "/var/tmp/photon", DownloadOptions::default().overwrite(Overwrite::Always)).await?;
    /// # Ok(()) }
    /// ```
    pub fn overwrite(mut self, overwrite: Overwrite) -> Self {
        self.overwrite = overwrite;
        self
    }
    /// Whether an interrupted download's bytes are kept for the next download of the same item
    /// into the same folder, which resumes them if the item did not change (default: yes). With
    /// `false` every run starts over and leaves nothing behind.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::DownloadOptions;
    /// // Start over every time, and leave nothing behind on failure.
    /// client.download_item(&item, "/var/tmp/photon", DownloadOptions::default().resume(false)).await?;
    /// # Ok(()) }
    /// ```
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }
    /// How long the server may take to prepare a file (default 1 h).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// use cl_sdk::transfer::DownloadOptions;
    /// let options = DownloadOptions::default().prepare_timeout(Duration::from_secs(7200));
    /// client.download_item(&item, "/var/tmp/photon", options).await?;
    /// # Ok(()) }
    /// ```
    pub fn prepare_timeout(mut self, timeout: Duration) -> Self {
        self.prepare_timeout = timeout;
        self
    }
}

/// One downloaded file.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::DownloadOptions;
/// let report = client.download_item(&item, "/var/tmp/photon", DownloadOptions::default()).await?;
/// for file in &report.files {
///     println!("{} at {}: {} bytes, {} retries", file.name, file.path.display(), file.size, file.retries);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DownloadedFile {
    /// The file's name in the item.
    pub name: String,
    /// Where it was written.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// The server's checksum it matched, when the server gave one.
    pub verified_checksum: Option<Checksum>,
    /// How many times the fetch was resumed or restarted.
    pub retries: u32,
    /// Bytes reused from an earlier, interrupted download of the same item (verified again).
    pub resumed_from: u64,
    /// An earlier download's bytes were dropped because the item changed since.
    pub started_over: bool,
}

/// What a download did.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::DownloadOptions;
/// let report = client.download_item(&item, "/var/tmp/photon", DownloadOptions::default()).await?;
/// println!("{} files, {} bytes in {:?}", report.files.len(), report.bytes(), report.elapsed);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DownloadReport {
    /// The files, in the item's order.
    pub files: Vec<DownloadedFile>,
    /// Wall time.
    pub elapsed: Duration,
}

impl DownloadReport {
    /// Bytes written.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::DownloadOptions;
    /// let report = client.download_item(&item, "/var/tmp/photon", DownloadOptions::default()).await?;
    /// println!("{} bytes in {:?}", report.bytes(), report.elapsed);
    /// # Ok(()) }
    /// ```
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

impl Client {
    /// Downloads an item's files into `dest_dir` (which must exist).
    ///
    /// Files are prepared and fetched concurrently, streamed to hidden partial files, verified
    /// against the server's size and checksum, and renamed into place; a broken fetch resumes
    /// with `Range` from the last byte written (or restarts when the server ignores ranges). The
    /// download session is deleted at the end, on success or not. On failure no file is left
    /// under a final name that was not verified.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{DownloadOptions, Overwrite};
    /// let options = DownloadOptions::default().overwrite(Overwrite::Always);
    /// let report = client.download_item(&item, "/var/tmp/photon", options).await?;
    /// for file in &report.files {
    ///     println!("{} {} bytes, verified against {:?}", file.name, file.size, file.verified_checksum);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn download_item(
        &self,
        item: &ItemId,
        dest_dir: impl AsRef<Path>,
        options: DownloadOptions,
    ) -> Result<DownloadReport> {
        let started = Instant::now();
        let dest = dest_dir.as_ref();
        let meta = tokio::fs::metadata(dest).await.map_err(|e| {
            Error::new(ErrorKind::Io, format!("destination folder {}: {e}", dest.display())).with_source(e)
        })?;
        if !meta.is_dir() {
            return Err(Error::new(ErrorKind::InvalidInput, format!("{} is not a folder", dest.display())));
        }
        let mut options = options;
        options.common = options.common.begin();
        options.common.control.check()?;
        let session = self.create_session::<Download>(item).await?;
        let staging = match Staging::open(dest, item.as_str(), options.resume).await {
            Ok(staging) => staging,
            Err(e) => {
                delete_session(&session).await;
                return Err(e);
            }
        };
        let job = DownloadJob { client: self, item, dest, session, staging, options: &options };
        let result = options.common.run(job.files()).await;
        // Partials stay only to be resumed (and the error says so); the session goes whatever
        // happened.
        let kept = job.staging.close(result.is_ok()).await;
        delete_session(&job.session).await;
        let files = result.map_err(|e| match kept {
            Some((folder, bytes)) if e.detail().is_none() => e.with(Detail::Resumable { folder, bytes }),
            _ => e,
        })?;
        Ok(DownloadReport { files, elapsed: started.elapsed() })
    }
}

/// Deletes a download session; a failure to delete is worth a warning only.
async fn delete_session(session: &DownloadSession) {
    if let Err(e) = session.delete().await {
        tracing::warn!(session = %session.id(), error = %e, "could not delete the download session");
    }
}

/// An item's files from its download session into a folder: each file's download endpoint is
/// the source, a staged file the sink.
struct DownloadJob<'a> {
    client: &'a Client,
    item: &'a ItemId,
    dest: &'a Path,
    session: DownloadSession,
    staging: Staging,
    options: &'a DownloadOptions,
}

/// What identifies the item's content, for resuming: its version and the files' checksums.
struct Identity {
    version: Option<String>,
    checksums: HashMap<String, String>,
}

impl DownloadJob<'_> {
    async fn files(&self) -> Result<Vec<DownloadedFile>> {
        let mut files = self.session.files().await?;
        // A server that reports neither version nor checksums gets no resume (see
        // `Staging::begin`), not a failed download.
        let version = self.session.info().await.ok().and_then(|info| info.library_item_content_version);
        let checksums = match self.client.item_files(self.item).await {
            Ok(files) => files.into_iter().filter_map(|f| Some((f.name, f.checksum_info?.checksum))).collect(),
            Err(_) => Default::default(),
        };
        let identity = Identity { version, checksums };
        if let Some(only) = &self.options.files {
            if let Some(missing) = only.iter().find(|n| !files.iter().any(|f| &f.name == *n)) {
                return Err(Error::new(ErrorKind::InvalidInput, format!("the item has no file {missing:?}")));
            }
            files.retain(|f| only.contains(&f.name));
        }
        // Every name and size is checked, and every target decided, before a byte is written.
        check_distinct(files.iter().map(|f| f.name.as_str()))?;
        let mut targets = Vec::new();
        for file in &files {
            let path = safe_file_name(self.dest, &file.name)?;
            check_length(self.dest, &file.name)?;
            declared_size(file.size, &file.name)?;
            if self.options.overwrite == Overwrite::Never && tokio::fs::symlink_metadata(&path).await.is_ok() {
                return Err(exists(&path));
            }
            targets.push(path);
        }
        let common = &self.options.common;
        let handles = common.start(
            files.iter().map(|f| FileProgress::waiting(&f.name, f.size.and_then(|s| u64::try_from(s).ok()))).collect(),
        );
        let _keep_alive = common.keep_alive(&self.session);
        let identity = &identity;
        let mut jobs = Vec::new();
        for ((file, path), handle) in files.into_iter().zip(targets).zip(handles) {
            jobs.push(self.file(file, path, handle, identity).boxed());
        }
        each_file(common, jobs).await
    }

    /// Prepares one file, copies it from its endpoint into a staged file, verifies and commits it.
    async fn file(
        &self,
        file: DownloadFileInfo,
        target: PathBuf,
        handle: FileHandle,
        identity: &Identity,
    ) -> Result<DownloadedFile> {
        handle.state(FileState::Preparing);
        self.session.prepare(&file.name).await?;
        let show =
            |status: &cl_api::types::PrepareStatus| handle.update(|p| p.server_status = Some(status.to_string()));
        let prepared = self.session.wait_prepared_observed(&file.name, self.options.prepare_timeout, &show).await?;
        let endpoint = prepared.download_endpoint.clone().ok_or_else(|| {
            Error::new(ErrorKind::Decode, format!("{} is PREPARED without a download endpoint", file.name))
        })?;
        let size = declared_size(prepared.size.or(file.size), &file.name)?;
        let source = EndpointSource { endpoint: Endpoint::new(self.client, &endpoint, &file.name)?, size };
        let sidecar = Sidecar {
            item_id: self.item.to_string(),
            file_name: file.name.clone(),
            size,
            content_version: identity.version.clone(),
            checksum: identity.checksums.get(&file.name).cloned(),
        };
        // One retry count for every attempt at this file, the fetch from byte 0 included.
        let retries = self.options.common.retries(self.client);
        let mut attempt = self.fetch(&source, &sidecar, size, &handle, &retries).await;
        // Bytes resumed from an earlier run that end up failing their checksum may be what is
        // wrong: the file is fetched once more, from its first byte.
        if let Err((e, resumed)) = &attempt
            && *resumed > 0
            && e.kind() == ErrorKind::Verification
        {
            tracing::warn!(file = file.name, error = %e, "resumed bytes failed verification; fetching the file again");
            attempt = self.fetch(&source, &sidecar, size, &handle, &retries).await;
        }
        let Fetched { staged, verified, retries, resumed_from, started_over } = attempt.map_err(|(e, _)| e)?;
        staged.commit(&target, self.options.overwrite == Overwrite::Always).await?;
        // Nothing of this file is left to resume.
        self.staging.discard(&file.name).await;
        handle.state(FileState::Done);
        Ok(DownloadedFile {
            name: file.name,
            path: target,
            size: staged.size,
            verified_checksum: verified.map(|(algorithm, hex)| Checksum::new(algorithm, hex)),
            retries,
            resumed_from,
            started_over,
        })
    }
}

/// A file fetched into its staging partial and verified.
struct Fetched {
    staged: super::sink::Staged,
    verified: Option<(ChecksumAlgorithm, String)>,
    retries: u32,
    resumed_from: u64,
    started_over: bool,
}

impl DownloadJob<'_> {
    /// Fetches one file into its staging partial (resuming what an earlier run kept) and
    /// verifies it. Bytes that prove wrong (too many, a refused `Content-Range`, a failed
    /// checksum) are discarded, never kept for a resume; interruptions keep them. The error
    /// comes with how many bytes were resumed.
    async fn fetch(
        &self,
        source: &EndpointSource,
        sidecar: &Sidecar,
        size: Option<u64>,
        handle: &FileHandle,
        retries: &crate::retry::FileRetries,
    ) -> std::result::Result<Fetched, (Error, u64)> {
        let name = &sidecar.file_name;
        let partial = self.staging.begin(sidecar).await.map_err(|e| (e, 0))?;
        let (resumed_from, started_over) = (partial.kept, partial.started_over);
        handle.update(|p| {
            p.state = FileState::Transferring;
            p.size = size;
            p.done = resumed_from;
        });
        let result = async {
            let mut sink = StagedFile::open(partial, handle.clone()).await;
            let copied = copy(source, &mut sink, size, retries).await;
            let finished = sink.finish().await;
            let retries = copied.map_err(|e| e.in_operation("download"))?;
            let staged = finished.map_err(|e| e.in_operation("download"))?;
            // checksum_info is set only after the download completes: read it now.
            let info = self.session.file(name).await?;
            let verified = staged.verify(name, size, info.checksum_info).await?;
            Ok::<_, Error>(Fetched { staged, verified, retries, resumed_from, started_over })
        }
        .await;
        match result {
            Ok(fetched) => Ok(fetched),
            Err(e) => {
                if matches!(e.kind(), ErrorKind::Verification | ErrorKind::Decode) {
                    self.staging.discard(name).await;
                }
                Err((e, resumed_from))
            }
        }
    }
}
