//! A local file read on a thread of its own, ahead of the network: an upload's body no longer
//! waits on a blocking-pool round trip (`tokio::fs`) for every buffer it sends.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use tokio::sync::mpsc;

/// Buffers read ahead: 8 × 1 MiB.
const DEPTH: usize = 8;
const CHUNK: usize = 1 << 20;

/// `len` bytes of `path` from `offset`, as a stream of chunks. An I/O error ends the stream with
/// that error; dropping the stream stops the reader.
pub(crate) fn file(path: &Path, offset: u64, len: u64) -> BoxStream<'static, std::io::Result<Bytes>> {
    let (send, receive) = mpsc::channel::<std::io::Result<Bytes>>(DEPTH);
    let path = path.to_owned();
    std::thread::spawn(move || {
        let opened = std::fs::File::open(&path).and_then(|mut f| f.seek(SeekFrom::Start(offset)).map(|_| f));
        let mut file = match opened {
            Ok(file) => file.take(len),
            Err(e) => {
                let _ = send.blocking_send(Err(e));
                return;
            }
        };
        loop {
            // `read_to_end` fills spare capacity without zeroing it first.
            let mut buf = Vec::with_capacity(CHUNK);
            match (&mut file).take(CHUNK as u64).read_to_end(&mut buf) {
                Ok(0) => return,
                Ok(_) => {
                    if send.blocking_send(Ok(Bytes::from(buf))).is_err() {
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
