//! Sending an upload's files into its update session: each file added with its size and
//! checksum, then copied from its local source into the session's upload endpoint on the one
//! runner, and waited on until the server has it whole.

use cl_api::types::{ChecksumInfo, PreviewInfo, SourceType, TransferEndpoint, TransferStatus, UpdateFileAddSpec};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};

use super::commit::session_file;
use super::plan::{Bytes, Planned};
use super::{UploadOptions, UploadedFile};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::retry::Waiter;
use crate::session::UpdateSession;
use crate::transfer::checksum;
use crate::transfer::endpoint::{Endpoint, Opened};
use crate::transfer::runner::{FileHandle, copy, each_file};
use crate::transfer::sink::Sink;
use crate::transfer::source::{Claimed, LocalSource, Source};
use crate::transfer::{FileProgress, FileState};

/// Files into an item through one update session.
pub(super) struct UploadJob<'a> {
    pub client: &'a Client,
    pub session: UpdateSession,
    pub options: &'a UploadOptions,
}

impl UploadJob<'_> {
    /// Adds and sends every file, removes `removals`, then validates and completes the session.
    pub async fn run(
        &self,
        planned: Vec<Planned>,
        removals: &[String],
    ) -> Result<(Vec<UploadedFile>, Option<PreviewInfo>)> {
        let common = &self.options.common;
        let handles = common.start(planned.iter().map(|p| FileProgress::waiting(&p.name, p.size)).collect());
        let _keep_alive = common.keep_alive(&self.session);

        let (lane, mut sums) = HashLane::new(&planned, &handles, &common.control);
        let work = async {
            // Adds go one by one, in order: the service wants OVF metadata before the descriptor
            // (the lane hashes those first; they are small). A file still to be hashed otherwise
            // is added by its own job once hashed: order does not matter for it.
            let mut ready = Vec::new();
            for p in &planned {
                let sum = sums.remove(&p.name);
                ready.push(match sum {
                    Some(sum) if !p.in_order() => Err(sum),
                    sum => {
                        let checksum = match sum {
                            Some(sum) => Some(hashed(sum).await?),
                            None => p.checksum.clone(),
                        };
                        Ok((self.add(p, checksum.clone()).await?, checksum))
                    }
                });
            }
            let mut jobs = Vec::new();
            for ((p, ready), handle) in planned.iter().zip(ready).zip(handles) {
                jobs.push(
                    async move {
                        let (endpoint, checksum) = match ready {
                            Ok(added) => added,
                            Err(sum) => {
                                let checksum = Some(hashed(sum).await?);
                                (self.add(p, checksum.clone()).await?, checksum)
                            }
                        };
                        let size = self.send(p, endpoint, &handle).await?;
                        handle.state(FileState::Done);
                        Ok((size, checksum))
                    }
                    .boxed(),
                );
            }
            each_file(common, jobs).await
        };
        let sent = lane.alongside(work).await?;
        let preview = self.commit(removals).await?;
        let files = planned
            .into_iter()
            .zip(sent)
            .map(|(p, (size, checksum))| UploadedFile {
                name: p.name,
                size,
                checksum: checksum.map(super::super::Checksum::from_info),
            })
            .collect();
        Ok((files, preview))
    }

    /// Adds one file to the session with its checksum; returns its upload endpoint (none for PULL).
    async fn add(&self, p: &Planned, checksum: Option<ChecksumInfo>) -> Result<Option<TransferEndpoint>> {
        let (source_type, source_endpoint) = match &p.bytes {
            Bytes::Pull(endpoint) => (SourceType::Pull, Some(endpoint.clone())),
            _ => (SourceType::Push, None),
        };
        let spec = UpdateFileAddSpec {
            name: p.name.clone(),
            source_type,
            source_endpoint,
            size: p.size.map(|s| s as i64),
            checksum_info: checksum,
        };
        Ok(self.session.add_file(&spec).await?.upload_endpoint)
    }

    /// Streams one PUSH file (repeated where its source allows) or lets the server pull it, then
    /// waits until the server has it; returns the size the server received. A file the server
    /// reports with another size than was sent is sent again (a server's READY is not proof).
    async fn send(&self, p: &Planned, endpoint: Option<TransferEndpoint>, handle: &FileHandle) -> Result<u64> {
        handle.state(FileState::Transferring);
        let (Some(endpoint), Some(source)) = (endpoint, p.source()) else {
            return self.arrival(p, handle).await?.map_err(|short| Error::verification(&p.name, short));
        };
        let endpoint = Endpoint::new(self.client, &endpoint, &p.name)?;
        let size = p.size.unwrap_or(0);
        let mut sink = UploadTarget { endpoint, size, handle: handle.clone(), job: self, name: &p.name };
        let claimed;
        let source = match (&p.checksum, p.claimed) {
            (Some(sum), true) => {
                claimed = Claimed { inner: source, sum, name: &p.name };
                &claimed as &dyn Source
            }
            _ => source,
        };
        // One count for every repeat of this file: the runner's, the source's resumes, and the
        // re-sends of a file the server reports at another size than was sent.
        let retries = self.options.common.retries(self.client);
        loop {
            if let Err(error) = copy(source, &mut sink, p.size, &retries).await {
                return Err(self.explain_refusal(&p.name, error).await.in_operation("upload"));
            }
            let short = match self.arrival(p, handle).await? {
                Ok(size) => return Ok(size),
                Err(short) => short,
            };
            match retries.again() {
                Some(pause) if source.reopens() => {
                    tracing::warn!(file = p.name, "{short}; sending the file again");
                    tokio::time::sleep(pause).await;
                }
                _ => return Err(Error::verification(&p.name, short).in_operation("upload")),
            }
        }
    }

    /// Waits for the server to finish receiving (or pulling) and checking a file; returns the
    /// size it holds, or (inner `Err`) how its report contradicts what was sent.
    async fn arrival(&self, p: &Planned, handle: &FileHandle) -> Result<std::result::Result<u64, String>> {
        let name = &p.name;
        let pull = matches!(p.bytes, Bytes::Pull(_));
        let mut waiter = Waiter::new(format!("{name} to arrive"), self.options.settle_timeout);
        let file = loop {
            let file = session_file(&self.session, name).await?;
            if pull {
                handle.done(file.bytes_transferred.max(0) as u64);
            }
            match file.status {
                TransferStatus::Ready => break file,
                TransferStatus::Error => {
                    let why = file.error_message.map(|m| m.default_message).unwrap_or_else(|| "no reason given".into());
                    return Err(Error::verification(name, format!("the server rejected {name}: {why}")));
                }
                // Servers that never advance the status (vcsim) still have the bytes.
                TransferStatus::WaitingForTransfer if !pull => break file,
                status => {
                    handle.update(|f| f.server_status = Some(status.to_string()));
                    waiter.pause(status).await?
                }
            }
        };
        if let Some(sent) = p.size
            && let Some(why) = contradicts(&file, sent)
        {
            return Ok(Err(format!("the server reports {name} {} {why}, {sent} were sent", file.status)));
        }
        Ok(Ok(file.size.map(|s| s as u64).or(p.size).unwrap_or(0)))
    }

    /// A transfer endpoint answers with a bare status; the session's file says why (a size or
    /// checksum mismatch), so that is what the caller gets.
    async fn explain_refusal(&self, name: &str, error: Error) -> Error {
        // The source failed, not the server: its file is in ERROR only because its bytes stopped.
        if error.is_from_source() {
            return error;
        }
        match session_file(&self.session, name).await {
            Ok(file) if file.status == TransferStatus::Error => {
                let why = file.error_message.map(|m| m.default_message).unwrap_or_else(|| error.message().to_owned());
                Error::verification(name, format!("the server rejected {name}: {why}")).with_source(error)
            }
            _ => error,
        }
    }
}

/// Hashes the files whose checksum is computed (none given, no manifest), one at a time in
/// upload order, alongside the adds and the sending: file N+1 is hashed while file N is sent.
/// Each file is added once its own sum is there.
struct HashLane<'a> {
    work: BoxFuture<'a, ()>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

type Sum = tokio::sync::oneshot::Receiver<Result<ChecksumInfo>>;

impl<'a> HashLane<'a> {
    fn new(
        planned: &'a [Planned],
        handles: &[FileHandle],
        control: &crate::transfer::TransferControl,
    ) -> (Self, std::collections::HashMap<String, Sum>) {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut receivers = std::collections::HashMap::new();
        let mut queue = Vec::new();
        for (p, handle) in planned.iter().zip(handles) {
            let (Some(algorithm), Some(LocalSource::Segment { path, offset, len })) = (&p.hash_later, p.local()) else {
                continue;
            };
            let (tx, rx) = tokio::sync::oneshot::channel();
            receivers.insert(p.name.clone(), rx);
            queue.push((algorithm, path, *offset, *len, handle.clone(), tx));
        }
        let (flag, control) = (stop.clone(), control.clone());
        let work = async move {
            for (algorithm, path, offset, len, handle, tx) in queue {
                let (watcher, flag, control) = (handle.clone(), flag.clone(), control.clone());
                let watch = move |done| {
                    watcher.update(|f| {
                        f.state = FileState::Hashing;
                        f.done = done;
                    });
                    !control.is_canceled() && !flag.load(std::sync::atomic::Ordering::Relaxed)
                };
                let sum = checksum::of_file_watched(path, algorithm, offset, len, watch).await;
                handle.update(|f| {
                    f.state = FileState::Waiting;
                    f.done = 0;
                });
                let failed = sum.is_err();
                let sum = sum.map(|checksum| ChecksumInfo { algorithm: Some(algorithm.clone()), checksum });
                if tx.send(sum).is_err() || failed {
                    return;
                }
            }
        }
        .boxed();
        (Self { work, stop }, receivers)
    }

    /// Runs `sending` with the hashing beside it; the hashing stops when the sending ends.
    async fn alongside<T>(self, sending: impl std::future::Future<Output = T>) -> T {
        let Self { work, stop } = self;
        let _stop = StopOnDrop(stop);
        let mut work = work.fuse();
        let mut sending = std::pin::pin!(sending.fuse());
        loop {
            futures_util::select! {
                () = work => {}
                done = sending => return done,
            }
        }
    }
}

/// A file's sum from the lane; a closed lane means an earlier file's hashing failed, and that
/// file says why.
async fn hashed(sum: Sum) -> Result<ChecksumInfo> {
    sum.await.map_err(|_| Error::new(ErrorKind::Canceled, "hashing stopped after another file failed"))?
}

/// Tells a hashing pass in a blocking thread to stop reading.
struct StopOnDrop(std::sync::Arc<std::sync::atomic::AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, std::sync::atomic::Ordering::Relaxed);
    }
}

/// The upload's sink: a file's upload endpoint in the update session. vCenter's upload
/// endpoints are not assumed to honour ranges, so it keeps nothing between attempts and a
/// repeat is the whole file.
struct UploadTarget<'a> {
    endpoint: Endpoint,
    size: u64,
    handle: FileHandle,
    job: &'a UploadJob<'a>,
    name: &'a str,
}

impl Sink for UploadTarget<'_> {
    fn offset(&self) -> u64 {
        0
    }

    fn take(&mut self, opened: Opened) -> BoxFuture<'_, Result<()>> {
        let handle = self.handle.clone();
        handle.done(opened.start);
        let mut sent = opened.start;
        let body = opened
            .bytes
            .inspect(move |chunk| {
                if let Ok(chunk) = chunk {
                    sent += chunk.len() as u64;
                    handle.done(sent);
                }
            })
            .boxed();
        let len = self.size - opened.start.min(self.size);
        Box::pin(self.endpoint.put(body, len))
    }

    fn arrived(&mut self) -> BoxFuture<'_, bool> {
        let (session, name, size) = (&self.job.session, self.name, self.size);
        Box::pin(async move {
            let file = session_file(session, name).await;
            file.is_ok_and(|f| f.status == TransferStatus::Ready && contradicts(&f, size).is_none())
        })
    }
}

/// How a file's report contradicts the `sent` bytes, if it does: its size, or the bytes it says
/// it received (servers that report neither are taken at their status).
fn contradicts(file: &cl_api::types::UpdateFileInfo, sent: u64) -> Option<String> {
    match file.size {
        Some(size) if size != sent as i64 => return Some(format!("with {size} bytes")),
        _ => {}
    }
    let received = file.bytes_transferred;
    (file.status == TransferStatus::Ready && received > 0 && received != sent as i64)
        .then(|| format!("having received {received} bytes"))
}
