//! Where a file's bytes come from. A source opens the bytes at an offset (or at 0, when it cannot
//! start elsewhere) and says whether it can be opened again after a failure; its name, size and
//! any checksum already known travel beside it in the job that holds it.

use std::path::PathBuf;
use std::sync::Mutex;

use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use tokio::io::{AsyncRead, AsyncReadExt};

use super::endpoint::{Endpoint, Opened};
use crate::error::{Error, ErrorKind, Result};

/// One file's bytes, wherever they are.
pub(crate) trait Source: Send + Sync {
    /// The bytes from `offset` on (see [`Opened::start`] for where they really start).
    fn open(&self, offset: u64) -> BoxFuture<'_, Result<Opened>>;
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
    fn open(&self, from: u64) -> BoxFuture<'_, Result<Opened>> {
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
    fn open(&self, offset: u64) -> BoxFuture<'_, Result<Opened>> {
        self.endpoint.get(offset, self.size).boxed()
    }
}
