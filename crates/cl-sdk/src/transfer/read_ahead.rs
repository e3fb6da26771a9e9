//! A local file read on a thread of its own, ahead of the network: an upload's body no longer
//! waits on a blocking-pool round trip (`tokio::fs`) for every buffer it sends. The buffers are
//! recycled once sent: a fresh one per read cost a page fault per 4 KiB read.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use tokio::sync::mpsc;

/// Buffers read ahead: 8 × 1 MiB.
const DEPTH: usize = 8;
const CHUNK: usize = 1 << 20;

/// A buffer that goes back to the reader when the HTTP client is done with it.
struct Recycled {
    buffer: Vec<u8>,
    home: std::sync::mpsc::Sender<Vec<u8>>,
}

impl AsRef<[u8]> for Recycled {
    fn as_ref(&self) -> &[u8] {
        &self.buffer
    }
}

impl Drop for Recycled {
    fn drop(&mut self) {
        let mut buffer = std::mem::take(&mut self.buffer);
        buffer.clear();
        let _ = self.home.send(buffer);
    }
}

/// `len` bytes of `path` from `offset`, as a stream of chunks. An I/O error ends the stream with
/// that error; dropping the stream stops the reader.
pub(crate) fn file(path: &Path, offset: u64, len: u64) -> BoxStream<'static, std::io::Result<Bytes>> {
    let (send, receive) = mpsc::channel::<std::io::Result<Bytes>>(DEPTH);
    let path = path.to_owned();
    std::thread::spawn(move || {
        let (home, spare) = std::sync::mpsc::channel();
        let opened = std::fs::File::open(&path).and_then(|mut f| f.seek(SeekFrom::Start(offset)).map(|_| f));
        let mut file = match opened {
            Ok(file) => file.take(len),
            Err(e) => {
                let _ = send.blocking_send(Err(e));
                return;
            }
        };
        loop {
            // A spare buffer, or a new one while none is back (the channel bounds how many exist).
            // `read_to_end` fills spare capacity without zeroing it first.
            let mut buffer = spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK));
            match (&mut file).take(CHUNK as u64).read_to_end(&mut buffer) {
                Ok(0) => return,
                Ok(_) => {
                    let chunk = Bytes::from_owner(Recycled { buffer, home: home.clone() });
                    if send.blocking_send(Ok(chunk)).is_err() {
                        return; // the upload stopped
                    }
                }
                Err(e) => {
                    let _ = send.blocking_send(Err(e));
                    return;
                }
            }
        }
    });
    Box::pin(futures_util::stream::unfold(receive, |mut receive| async move {
        receive.recv().await.map(|item| (item, receive))
    }))
}
