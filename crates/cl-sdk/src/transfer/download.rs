//! Download an item's files to a folder: concurrent, resumable, verified, renamed into place.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use cl_api::types::{ChecksumAlgorithm, DownloadFileInfo};
use futures_util::{StreamExt, TryStreamExt};

use super::checksum;
use super::names::{check_distinct, safe_file_name};
use super::sink::Sink;
use super::staging::{Partial, Sidecar, Staging, exists, finalize};
use super::{Common, FileProgress, FileState, keep_alive, transfer_retries};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result, transport};
use crate::origin;
use crate::retry::Repeat;
use crate::session::DownloadSession;

/// What to do when a file already exists in the destination folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Refuse before anything is downloaded (the default).
    #[default]
    Never,
    /// Replace it (atomically, once the new file is verified).
    Always,
}

/// Options of [`Client::download_item`].
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
    pub fn only(mut self, names: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.files = Some(names.into_iter().map(Into::into).collect());
        self
    }
    /// What to do with existing files (default: refuse).
    pub fn overwrite(mut self, overwrite: Overwrite) -> Self {
        self.overwrite = overwrite;
        self
    }
    /// Whether an interrupted download's bytes are kept for the next download of the same item
    /// into the same folder, which resumes them if the item did not change (default: yes). With
    /// `false` every run starts over and leaves nothing behind.
    pub fn resume(mut self, resume: bool) -> Self {
        self.resume = resume;
        self
    }
    /// How long the server may take to prepare a file (default 1 h).
    pub fn prepare_timeout(mut self, timeout: Duration) -> Self {
        self.prepare_timeout = timeout;
        self
    }
}

/// One downloaded file.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DownloadedFile {
    /// The file's name in the item.
    pub name: String,
    /// Where it was written.
    pub path: PathBuf,
    /// Its size.
    pub size: u64,
    /// The server's checksum it matched (algorithm, hex), when the server gave one.
    pub verified_checksum: Option<(ChecksumAlgorithm, String)>,
    /// How many times the fetch was resumed or restarted.
    pub retries: u32,
    /// Bytes reused from an earlier, interrupted download of the same item (verified again).
    pub resumed_from: u64,
    /// An earlier download's bytes were dropped because the item changed since.
    pub started_over: bool,
}

/// What a download did.
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
    pub async fn download_item(
        &self,
        item_id: &str,
        dest_dir: &Path,
        options: DownloadOptions,
    ) -> Result<DownloadReport> {
        let started = Instant::now();
        let meta = tokio::fs::metadata(dest_dir).await.map_err(|e| {
            Error::new(ErrorKind::Io, format!("destination folder {}: {e}", dest_dir.display())).with_source(e)
        })?;
        if !meta.is_dir() {
            return Err(Error::new(ErrorKind::InvalidInput, format!("{} is not a folder", dest_dir.display())));
        }
        options.common.control.check()?;
        let session = self.create_download_session(item_id).await?;
        let staging = match Staging::open(dest_dir, item_id, options.resume).await {
            Ok(staging) => staging,
            Err(e) => {
                self.delete_download_session(&session).await;
                return Err(e);
            }
        };
        let result = tokio::select! {
            result = self.download_in(&session, item_id, dest_dir, &staging, &options) => result,
            error = options.common.stopped() => Err(error),
        };
        // Partials stay only to be resumed; the session goes whatever happened.
        staging.close(result.is_ok()).await;
        self.delete_download_session(&session).await;
        Ok(DownloadReport { files: result?, elapsed: started.elapsed() })
    }

    /// Deletes a download session; a failure to delete is worth a warning only.
    async fn delete_download_session(&self, session: &DownloadSession) {
        if let Err(e) = session.delete().await {
            tracing::warn!(session = session.id(), error = %e, "could not delete the download session");
        }
    }

    async fn download_in(
        &self,
        session: &DownloadSession,
        item_id: &str,
        dest: &Path,
        staging: &Staging,
        options: &DownloadOptions,
    ) -> Result<Vec<DownloadedFile>> {
        let mut files = session.files().await?;
        // What identifies the item's content, for resuming: its version and checksums. A server
        // that reports neither gets no resume (see `Staging::begin`), not a failed download.
        let version = session.info().await.ok().and_then(|info| info.library_item_content_version);
        let checksums: std::collections::HashMap<String, String> = match self.item_files(item_id).await {
            Ok(files) => files.into_iter().filter_map(|f| Some((f.name, f.checksum_info?.checksum))).collect(),
            Err(_) => Default::default(),
        };
        let identity = |name: &str, size: Option<u64>| Sidecar {
            item_id: item_id.to_owned(),
            file_name: name.to_owned(),
            size,
            content_version: version.clone(),
            checksum: checksums.get(name).cloned(),
        };
        if let Some(only) = &options.files {
            if let Some(missing) = only.iter().find(|n| !files.iter().any(|f| &f.name == *n)) {
                return Err(Error::new(ErrorKind::InvalidInput, format!("the item has no file {missing:?}")));
            }
            files.retain(|f| only.contains(&f.name));
        }
        // Every name and size is checked, and every target decided, before a byte is written.
        check_distinct(files.iter().map(|f| f.name.as_str()))?;
        let mut targets = Vec::new();
        for file in &files {
            let path = safe_file_name(dest, &file.name)?;
            declared_size(file.size, &file.name)?;
            if options.overwrite == Overwrite::Never && tokio::fs::symlink_metadata(&path).await.is_ok() {
                return Err(exists(&path));
            }
            targets.push(path);
        }
        let control = &options.common.control;
        control.start(
            files.iter().map(|f| FileProgress::waiting(&f.name, f.size.and_then(|s| u64::try_from(s).ok()))).collect(),
        );

        let keep_alive = keep_alive(session, control, options.common.keep_alive_every);
        let identity = &identity;
        let jobs = files.into_iter().zip(targets).enumerate().map(|(index, (file, path))| async move {
            let result = self.download_file(session, index, file, &path, staging, identity, options).await;
            if result.is_err() {
                options.common.control.update(index, |p| p.state = FileState::Failed);
            }
            result.map(|done| (index, done))
        });
        let mut done: Vec<(usize, DownloadedFile)> =
            futures_util::stream::iter(jobs).buffer_unordered(options.common.concurrency).try_collect().await?;
        drop(keep_alive);
        done.sort_by_key(|(index, _)| *index);
        Ok(done.into_iter().map(|(_, f)| f).collect())
    }

    #[allow(clippy::too_many_arguments)]
    async fn download_file(
        &self,
        session: &DownloadSession,
        index: usize,
        file: DownloadFileInfo,
        path: &Path,
        staging: &Staging,
        identity: &(dyn Fn(&str, Option<u64>) -> Sidecar + Sync),
        options: &DownloadOptions,
    ) -> Result<DownloadedFile> {
        let control = &options.common.control;
        control.update(index, |p| p.state = FileState::Preparing);
        session.prepare(&file.name).await?;
        let show = |status: &cl_api::types::PrepareStatus| {
            control.update(index, |p| p.server_status = Some(status.to_string()));
        };
        let prepared = session.wait_prepared_observed(&file.name, options.prepare_timeout, &show).await?;
        let endpoint = prepared.download_endpoint.clone().ok_or_else(|| {
            Error::new(ErrorKind::Decode, format!("{} is PREPARED without a download endpoint", file.name))
        })?;
        let url = origin::endpoint_url(&endpoint, &file.name)?;
        let expected_size = declared_size(prepared.size.or(file.size), &file.name)?;
        let partial = staging.begin(&identity(&file.name, expected_size)).await?;
        let (resumed_from, started_over) = (partial.kept, partial.started_over);
        control.update(index, |p| {
            p.state = FileState::Transferring;
            p.size = expected_size;
            p.done = resumed_from;
        });

        let partial_path = partial.path.clone();
        let fetched = self.fetch(&endpoint, &url, &file.name, partial, expected_size, index, options).await;
        let (size, sha1, retries) = fetched.map_err(|e| e.in_operation("download"))?;
        let verified = self.verify_download(session, &file.name, &partial_path, size, expected_size, sha1).await;
        let verified = match verified {
            Ok(verified) => verified,
            Err(e) => {
                // These bytes are wrong: resuming them would fail the same way.
                staging.discard(&file.name).await;
                return Err(e);
            }
        };
        finalize(&partial_path, path, options.overwrite == Overwrite::Always).await?;
        control.update(index, |p| p.state = FileState::Done);
        Ok(DownloadedFile {
            name: file.name,
            path: path.to_owned(),
            size,
            verified_checksum: verified,
            retries,
            resumed_from,
            started_over,
        })
    }

    /// Streams the endpoint into `partial` after the bytes kept there, resuming with Range after
    /// a broken connection or a retryable refusal. Returns (size, SHA-1, retries).
    #[allow(clippy::too_many_arguments)]
    async fn fetch(
        &self,
        endpoint: &cl_api::types::TransferEndpoint,
        url: &reqwest::Url,
        name: &str,
        kept: Partial,
        expected_size: Option<u64>,
        index: usize,
        options: &DownloadOptions,
    ) -> Result<(u64, String, u32)> {
        let http = self.transfer_http(endpoint)?;
        let mut out = Sink::start(kept.file.into_std().await, kept.hasher, &kept.path);
        let mut written = kept.kept;
        let mut retries = transfer_retries(self, options.common.retries);
        let mut resumed = 0u32;
        loop {
            // All of it was kept from an earlier run: nothing to fetch (verification follows).
            if written > 0 && expected_size == Some(written) {
                break;
            }
            let before = written;
            let mut request = http.get(url.clone());
            if let Some(token) = self.token_for(url) {
                request = request.header(cl_api::SESSION_HEADER, token);
            }
            if written > 0 {
                request = request.header(reqwest::header::RANGE, format!("bytes={written}-"));
            }
            let attempt: Result<()> = async {
                let response = request.send().await.map_err(transport)?;
                let status = response.status();
                if status == reqwest::StatusCode::PARTIAL_CONTENT {
                    let range = response.headers().get(reqwest::header::CONTENT_RANGE);
                    let range = range.and_then(|v| v.to_str().ok()).unwrap_or("");
                    if content_range_start(range) != Some(written) {
                        return Err(Error::new(
                            ErrorKind::Decode,
                            format!(
                                "{name}: asked to resume from byte {written}, the server answered with \
                                 Content-Range {:?}; refusing to splice",
                                crate::error::excerpt(range.as_bytes())
                            ),
                        ));
                    }
                } else if status.is_success() {
                    if written > 0 {
                        // The server ignored Range: start over.
                        tracing::info!(uri = %endpoint.uri, "server ignored Range; restarting the file");
                        out.restart().await?;
                        written = 0;
                        options.common.control.update(index, |p| p.done = 0);
                    }
                } else {
                    return Err(crate::error::from_transfer_response(response).await);
                }
                let mut body = response.bytes_stream();
                while let Some(chunk) = body.next().await {
                    // Any failure mid-body is a broken transfer, worth resuming.
                    let chunk =
                        chunk.map_err(|e| Error::new(ErrorKind::Transport, "the download broke off").with_source(e))?;
                    // Not a byte past the declared size reaches the disk.
                    if let Some(expected) = expected_size
                        && written + chunk.len() as u64 > expected
                    {
                        return Err(Error::new(
                            ErrorKind::Verification,
                            format!("{name}: the server sent more than the {expected} bytes it declared"),
                        ));
                    }
                    written += chunk.len() as u64;
                    out.write(&chunk).await?;
                    options.common.control.update(index, |p| p.done = written);
                }
                Ok(())
            }
            .await;
            let error = match attempt {
                Ok(()) => break,
                Err(error) => error,
            };
            if written > before {
                retries.progressed();
            } else {
                retries.restart_clock();
            }
            let Some(pause) = retries.next_pause(&error, Repeat::Safe) else { return Err(error) };
            resumed += 1;
            tracing::warn!(uri = %endpoint.uri, written, resumed, %error, "download broke off; resuming");
            tokio::time::sleep(pause).await;
        }
        Ok((written, out.finish().await?, resumed))
    }

    /// Checks size, then the checksum the server reports once the download is complete.
    async fn verify_download(
        &self,
        session: &DownloadSession,
        name: &str,
        partial: &Path,
        size: u64,
        expected_size: Option<u64>,
        sha1: String,
    ) -> Result<Option<(ChecksumAlgorithm, String)>> {
        if let Some(expected) = expected_size
            && expected != size
        {
            return Err(Error::new(
                ErrorKind::Verification,
                format!("{name}: received {size} bytes, the server said {expected}"),
            ));
        }
        // checksum_info is set only after the download completes: read it again now.
        let info = session.file(name).await?;
        let Some(sum) = info.checksum_info else { return Ok(None) };
        let algorithm = sum.algorithm.unwrap_or(ChecksumAlgorithm::Sha1);
        let actual = if algorithm == ChecksumAlgorithm::Sha1 {
            sha1
        } else {
            checksum::of_file(partial, &algorithm, 0, size).await?
        };
        if !actual.eq_ignore_ascii_case(sum.checksum.trim()) {
            return Err(Error::new(
                ErrorKind::Verification,
                format!(
                    "{name}: {algorithm} checksum mismatch: the server says {}, the bytes give {actual}",
                    sum.checksum
                ),
            ));
        }
        Ok(Some((algorithm, actual)))
    }
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(value: &str) -> Option<u64> {
    value.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

/// A size the server declared, which must not be negative.
fn declared_size(size: Option<i64>, name: &str) -> Result<Option<u64>> {
    size.map(|s| {
        u64::try_from(s)
            .map_err(|_| Error::new(ErrorKind::Decode, format!("the server declares a size of {s} bytes for {name}")))
    })
    .transpose()
}
