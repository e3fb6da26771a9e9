//! Sending an upload's files into its update session: each file added with its size and
//! checksum, then copied from its local source into the session's upload endpoint on the one
//! runner, and waited on until the server has it whole.

use cl_api::types::{PreviewInfo, SourceType, TransferEndpoint, TransferStatus, UpdateFileAddSpec};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt};

use super::commit::session_file;
use super::plan::{Bytes, Planned};
use super::{UploadOptions, UploadedFile};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::retry::Waiter;
use crate::session::UpdateSession;
use crate::transfer::endpoint::{Endpoint, Opened};
use crate::transfer::runner::{FileHandle, copy, each_file};
use crate::transfer::sink::Sink;
use crate::transfer::source::{Claimed, Source};
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

        // Adds go one by one, in order: the service wants OVF metadata before the descriptor.
        let mut endpoints = Vec::new();
        for p in &planned {
            endpoints.push(self.add(p).await?);
        }
        let mut jobs = Vec::new();
        for ((p, endpoint), handle) in planned.iter().zip(endpoints).zip(handles) {
            jobs.push(
                async move {
                    let size = self.send(p, endpoint, &handle).await?;
                    handle.state(FileState::Done);
                    Ok(size)
                }
                .boxed(),
            );
        }
        let sizes = each_file(common, jobs).await?;
        let preview = self.commit(removals).await?;
        let files = planned
            .into_iter()
            .zip(sizes)
            .map(|(p, size)| UploadedFile { name: p.name, size, checksum: p.checksum })
            .collect();
        Ok((files, preview))
    }

    /// Adds one file to the session; returns its upload endpoint (none for PULL).
    async fn add(&self, p: &Planned) -> Result<Option<TransferEndpoint>> {
        let (source_type, source_endpoint) = match &p.bytes {
            Bytes::Pull(endpoint) => (SourceType::Pull, Some(endpoint.clone())),
            _ => (SourceType::Push, None),
        };
        let spec = UpdateFileAddSpec {
            name: p.name.clone(),
            source_type,
            source_endpoint,
            size: p.size.map(|s| s as i64),
            checksum_info: p.checksum.clone(),
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
        let mut resends = 0;
        loop {
            if let Err(error) = copy(source, &mut sink, p.size, self.options.common.retries(self.client)).await {
                return Err(self.explain_refusal(&p.name, error).await.in_operation("upload"));
            }
            let short = match self.arrival(p, handle).await? {
                Ok(size) => return Ok(size),
                Err(short) => short,
            };
            resends += 1;
            if !source.reopens() || resends >= self.client.retry_policy().attempts() {
                return Err(Error::verification(&p.name, short).in_operation("upload"));
            }
            tracing::warn!(file = p.name, resends, "{short}; sending the file again");
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
        match session_file(&self.session, name).await {
            Ok(file) if file.status == TransferStatus::Error => {
                let why = file.error_message.map(|m| m.default_message).unwrap_or_else(|| error.message().to_owned());
                Error::verification(name, format!("the server rejected {name}: {why}")).with_source(error)
            }
            _ => error,
        }
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
