//! Where a file's bytes come from. A source opens the bytes at an offset (or at 0, when it cannot
//! start elsewhere) and says whether it can be opened again after a failure; its name, size and
//! any checksum already known travel beside it in the job that holds it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cl_api::types::{ChecksumAlgorithm, ChecksumInfo};
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::OnceCell;

use super::checksum::Hasher;
use super::endpoint::{ByteStream, Endpoint, Opened};
use crate::error::{Error, ErrorKind, Result};
use crate::retry::{FileRetries, Repeat};
use crate::session::DownloadSession;

/// One file's bytes, wherever they are.
pub(crate) trait Source: Send + Sync {
    /// The bytes from `offset` on (see [`Opened::start`] for where they really start). A source
    /// that resumes breaks inside its stream draws those repeats from `retries`, the file's one
    /// count, which the runner's repeats share.
    fn open<'a>(&'a self, offset: u64, retries: &FileRetries) -> BoxFuture<'a, Result<Opened>>;
    /// Whether the bytes can be opened again after a failed attempt.
    fn reopens(&self) -> bool {
        true
    }
}

type BoxReader = Box<dyn AsyncRead + Send + Unpin>;

/// Bytes on this machine: a file or a segment of one (an OVA member), or a reader.
pub(crate) enum LocalSource {
    /// `len` bytes of `path` from `offset`.
    Segment { path: PathBuf, offset: u64, len: u64 },
    /// `size` bytes of a reader; single use, so never opened twice.
    Reader { size: u64, reader: Mutex<Option<BoxReader>> },
}

impl LocalSource {
    pub fn reader(size: u64, reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        Self::Reader { size, reader: Mutex::new(Some(Box::new(reader))) }
    }

    /// How many bytes it holds.
    pub fn len(&self) -> u64 {
        match self {
            Self::Segment { len, .. } => *len,
            Self::Reader { size, .. } => *size,
        }
    }
}

impl Source for LocalSource {
    fn open<'a>(&'a self, from: u64, _: &FileRetries) -> BoxFuture<'a, Result<Opened>> {
        let opened = match self {
            Self::Segment { path, offset, len } => {
                let from = from.min(*len);
                let bytes = super::read_ahead::file(path, offset + from, len - from).map_err(Error::from);
                Ok(Opened { start: from, bytes: bytes.boxed() })
            }
            Self::Reader { size, reader } => {
                let reader = reader.lock().unwrap_or_else(|e| e.into_inner()).take();
                match reader {
                    Some(reader) => {
                        let bytes = tokio_util::io::ReaderStream::with_capacity(reader.take(*size), 256 * 1024);
                        Ok(Opened { start: 0, bytes: bytes.map_err(Error::from).boxed() })
                    }
                    None => Err(Error::new(ErrorKind::InvalidInput, "a reader can be uploaded only once")),
                }
            }
        };
        std::future::ready(opened).boxed()
    }

    fn reopens(&self) -> bool {
        matches!(self, Self::Segment { .. })
    }
}

/// A file of a download session, fetched from its download endpoint with `Range` from wherever
/// the sink stands.
pub(crate) struct EndpointSource {
    pub endpoint: Endpoint,
    /// The size the server declared: not a byte past it is taken.
    pub size: Option<u64>,
}

impl Source for EndpointSource {
    fn open<'a>(&'a self, offset: u64, _: &FileRetries) -> BoxFuture<'a, Result<Opened>> {
        self.endpoint.get(offset, None, self.size).boxed()
    }
}

/// A file of an item on a server (this one or another vCenter), prepared in that server's
/// download session when first opened, then streamed from its download endpoint: a break
/// resumes with `Range` inside the same stream (so whatever it feeds goes on), and the bytes
/// are checked against the item's checksum as they pass, the last chunk held back until they
/// match, so a consumer never receives a whole file that is wrong.
pub(crate) struct ItemFileSource {
    pub session: DownloadSession,
    pub name: String,
    pub size: u64,
    pub checksum: Option<ChecksumInfo>,
    pub prepare_timeout: Duration,
    pub prepared: OnceCell<Arc<Endpoint>>,
}

impl ItemFileSource {
    /// Has the server prepare the file now (once), ahead of its first open.
    pub async fn prepare(&self) -> Result<()> {
        self.endpoint().await.map(|_| ())
    }

    /// The file's download endpoint, prepared once.
    async fn endpoint(&self) -> Result<Arc<Endpoint>> {
        let endpoint = self
            .prepared
            .get_or_try_init(|| async {
                self.session.prepare(&self.name).await?;
                let prepared = self.session.wait_prepared(&self.name, self.prepare_timeout).await?;
                let endpoint = prepared.download_endpoint.ok_or_else(|| {
                    Error::new(ErrorKind::Decode, format!("{} is PREPARED without a download endpoint", self.name))
                })?;
                Ok::<_, Error>(Arc::new(Endpoint::new(self.session.client(), &endpoint, &self.name)?))
            })
            .await?;
        Ok(endpoint.clone())
    }
}

impl Source for ItemFileSource {
    fn open<'a>(&'a self, offset: u64, retries: &FileRetries) -> BoxFuture<'a, Result<Opened>> {
        let retries = retries.clone();
        Box::pin(async move {
            let endpoint = self.endpoint().await?;
            let first = endpoint.get(offset, None, Some(self.size)).await?;
            let size = self.size;
            let shown = endpoint.shown();
            let reopen: Reopen = Arc::new(move |at| {
                let endpoint = endpoint.clone();
                Box::pin(async move { endpoint.get(at, None, Some(size)).await })
            });
            let bytes = resuming(reopen, shown, first, (offset, size), retries);
            let bytes = match &self.checksum {
                // A digest covers the whole file; a stream that starts later is checked by the sink.
                Some(sum) if offset == 0 => verified(bytes, sum, &self.name, "the source")?,
                _ => bytes,
            };
            Ok(Opened { start: offset, bytes })
        })
    }
}

/// A source whose checksum was claimed (by an OVF manifest) rather than computed from its bytes:
/// the checksum is declared to the server as is, and the bytes are checked as they are sent, so
/// the file is read once; a mismatch fails the file before its last chunk leaves.
pub(crate) struct Claimed<'a> {
    pub inner: &'a dyn Source,
    pub sum: &'a ChecksumInfo,
    pub name: &'a str,
}

impl Source for Claimed<'_> {
    fn open<'a>(&'a self, offset: u64, retries: &FileRetries) -> BoxFuture<'a, Result<Opened>> {
        let retries = retries.clone();
        async move {
            let opened = self.inner.open(offset, &retries).await?;
            if opened.start != 0 {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("{}: a checked file must be sent from its start", self.name),
                ));
            }
            let bytes = verified(opened.bytes, self.sum, self.name, "the manifest")?;
            Ok(Opened { start: 0, bytes })
        }
        .boxed()
    }

    fn reopens(&self) -> bool {
        self.inner.reopens()
    }
}

/// Opens a source's bytes again at an offset (after a break).
pub(crate) type Reopen = Arc<dyn Fn(u64) -> BoxFuture<'static, Result<Opened>> + Send + Sync>;

/// The bytes from `position` to `end`, starting with `first`: a stream that breaks off, or ends
/// before `end`, is opened again with `reopen` where it stopped, drawing on the file's one
/// `retries` count; bytes a server resends from an earlier offset (it ignored `Range`) are
/// skipped, never passed on twice. `shown` names the source in logs.
pub(crate) fn resuming(
    reopen: Reopen,
    shown: String,
    first: Opened,
    (position, end): (u64, u64),
    retries: FileRetries,
) -> ByteStream {
    struct State {
        reopen: Reopen,
        shown: String,
        inner: ByteStream,
        position: u64,
        skip: u64,
        end: u64,
        moved: bool,
        retries: FileRetries,
    }
    let skip = position.saturating_sub(first.start);
    let state = State { reopen, shown, inner: first.bytes, position, skip, end, moved: false, retries };
    futures_util::stream::unfold(Some(state), |state| async move {
        let mut s = state?;
        loop {
            let error = match s.inner.next().await {
                Some(Ok(mut chunk)) => {
                    let dropped = s.skip.min(chunk.len() as u64);
                    s.skip -= dropped;
                    let chunk = chunk.split_off(dropped as usize);
                    if chunk.is_empty() {
                        continue;
                    }
                    s.position += chunk.len() as u64;
                    s.moved = true;
                    return Some((Ok(chunk), Some(s)));
                }
                None if s.position >= s.end => return None,
                None => {
                    Error::new(ErrorKind::Transport, format!("{} ended at byte {} of {}", s.shown, s.position, s.end))
                }
                Some(Err(error)) => error,
            };
            if s.moved {
                s.retries.progressed();
                s.moved = false;
            }
            let mut error = error;
            loop {
                let Some(pause) = s.retries.next_pause(&error, Repeat::Safe) else { return Some((Err(error), None)) };
                tracing::warn!(source = s.shown, position = s.position, %error, "source broke off; resuming");
                tokio::time::sleep(pause).await;
                match (s.reopen)(s.position).await {
                    Ok(opened) => {
                        s.skip = s.position - opened.start;
                        s.inner = opened.bytes;
                        break;
                    }
                    Err(e) => error = e,
                }
            }
        }
    })
    .boxed()
}

/// `bytes`, hashed as they pass; the last chunk is held back until the whole digest matches
/// `sum`, and replaced by a verification error when it does not. `claim` names who gave the sum.
pub(crate) fn verified(bytes: ByteStream, sum: &ChecksumInfo, name: &str, claim: &'static str) -> Result<ByteStream> {
    let algorithm = sum.algorithm.clone().unwrap_or(ChecksumAlgorithm::Sha1);
    let hasher = Hasher::new(&algorithm)?;
    let (expected, name) = (sum.checksum.trim().to_owned(), name.to_owned());
    let state = (bytes.fuse(), Some(hasher), None::<bytes::Bytes>);
    Ok(futures_util::stream::unfold(Some(state), move |state| {
        let (expected, name, algorithm) = (expected.clone(), name.clone(), algorithm.clone());
        async move {
            let (mut bytes, mut hasher, mut held) = state?;
            loop {
                match bytes.next().await {
                    Some(Ok(chunk)) => {
                        if let Some(h) = hasher.as_mut() {
                            h.update(&chunk);
                        }
                        if let Some(previous) = held.replace(chunk) {
                            return Some((Ok(previous), Some((bytes, hasher, held))));
                        }
                    }
                    Some(Err(error)) => return Some((Err(error), None)),
                    None => {
                        let actual = hasher.take()?.hex();
                        if !actual.eq_ignore_ascii_case(&expected) {
                            let message = format!(
                                "{name}: {algorithm} checksum mismatch: {claim} says {expected}, its bytes give {actual}"
                            );
                            return Some((Err(Error::verification(&name, message)), None));
                        }
                        // Done: the state is dropped, so the inner stream is never polled again.
                        return held.take().map(|last| (Ok(last), None));
                    }
                }
            }
        }
    })
    .boxed())
}
