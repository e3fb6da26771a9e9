//! An upload's body read from a local file.
//!
//! Where the page cache holds the bytes (Linux tells with `preadv2(RWF_NOWAIT)`), they are read
//! 64 KiB at a time on the sending task itself, so each piece goes to the socket while it is
//! still in the CPU's cache: a reader thread filling 1 MiB buffers made every byte cross cores,
//! and the kernel's copies cost twice curl's (measured with `perf`). The first read that would
//! wait for the disk hands the rest of the file to a thread of its own that reads ahead of the
//! network, so a slow source never blocks the runtime (tmpfs, which has no `RWF_NOWAIT`, is
//! memory and is read on the task throughout); elsewhere than on Linux that thread does all the
//! reading. Buffers are recycled once sent: a fresh one per read cost a page fault per
//! 4 KiB.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures_util::stream::BoxStream;
use tokio::sync::mpsc;

/// The reader thread's buffers: 8 × 1 MiB ahead of the network.
const DEPTH: usize = 8;
const CHUNK: usize = 1 << 20;
/// Pieces read on the sending task: small enough to stay in the CPU's cache until sent.
#[cfg(target_os = "linux")]
const PIECE: usize = 64 << 10;
/// `statfs`'s `f_type` of tmpfs.
#[cfg(target_os = "linux")]
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// A buffer that goes back to its pool when the HTTP client is done with it.
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
        let _ = self.home.send(std::mem::take(&mut self.buffer));
    }
}

fn ended_early(path: &Path) -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::UnexpectedEof, format!("{} ended before its declared size", path.display()))
}

/// `len` bytes of `path` from `offset`, as a stream of chunks. An I/O error (or a file shorter
/// than `len`) ends the stream with that error; dropping the stream stops any reading.
pub(crate) fn file(path: &Path, offset: u64, len: u64) -> BoxStream<'static, std::io::Result<Bytes>> {
    #[cfg(target_os = "linux")]
    return cached_first(path.to_owned(), offset, len);
    #[cfg(not(target_os = "linux"))]
    return threaded(path.to_owned(), offset, len);
}

/// Reads what the page cache holds on the calling task; from the first piece it does not hold,
/// the rest comes from [`threaded`].
#[cfg(target_os = "linux")]
fn cached_first(path: PathBuf, offset: u64, len: u64) -> BoxStream<'static, std::io::Result<Bytes>> {
    use futures_util::StreamExt;
    use rustix::io::{Errno, ReadWriteFlags};

    enum State {
        Cached {
            path: PathBuf,
            file: std::fs::File,
            flags: ReadWriteFlags,
            at: u64,
            end: u64,
            pool: (std::sync::mpsc::Sender<Vec<u8>>, std::sync::mpsc::Receiver<Vec<u8>>),
        },
        Threaded(BoxStream<'static, std::io::Result<Bytes>>),
        Done,
    }
    let start = match std::fs::File::open(&path) {
        Ok(file) => {
            // tmpfs has no RWF_NOWAIT, and needs none: its pages are memory.
            #[allow(clippy::unnecessary_cast)] // `f_type`'s type differs between targets
            let in_memory = rustix::fs::fstatfs(&file).is_ok_and(|fs| fs.f_type as i64 == TMPFS_MAGIC);
            let flags = if in_memory { ReadWriteFlags::empty() } else { ReadWriteFlags::NOWAIT };
            let (at, end, pool) = (offset, offset.saturating_add(len), std::sync::mpsc::channel());
            State::Cached { path, file, flags, at, end, pool }
        }
        Err(e) => return Box::pin(futures_util::stream::once(async move { Err(e) })),
    };
    Box::pin(futures_util::stream::unfold(start, |state| {
        async move {
            match state {
                State::Done => None,
                State::Threaded(mut rest) => rest.next().await.map(|item| (item, State::Threaded(rest))),
                State::Cached { path, file, flags, at, end, pool } => {
                    if at >= end {
                        return None;
                    }
                    let want = PIECE.min((end - at) as usize);
                    let mut buffer = pool.1.try_recv().unwrap_or_else(|_| vec![0; PIECE]);
                    let read = loop {
                        let piece = &mut [std::io::IoSliceMut::new(&mut buffer[..want])];
                        match rustix::io::preadv2(&file, piece, at, flags) {
                            Err(Errno::INTR) => continue,
                            other => break other,
                        }
                    };
                    match read {
                        Ok(0) => Some((Err(ended_early(&path)), State::Done)),
                        Ok(n) => {
                            let chunk = Bytes::from_owner(Recycled { buffer, home: pool.0.clone() }).slice(..n);
                            let at = at + n as u64;
                            Some((Ok(chunk), State::Cached { path, file, flags, at, end, pool }))
                        }
                        // Not in the page cache (or no RWF_NOWAIT here): a thread reads the rest.
                        Err(_) => {
                            let mut rest = threaded(path, at, end - at);
                            rest.next().await.map(|item| (item, State::Threaded(rest)))
                        }
                    }
                }
            }
        }
    }))
}

/// `len` bytes of `path` from `offset`, read on a thread of its own ahead of the network.
fn threaded(path: PathBuf, offset: u64, len: u64) -> BoxStream<'static, std::io::Result<Bytes>> {
    let (send, receive) = mpsc::channel::<std::io::Result<Bytes>>(DEPTH);
    std::thread::spawn(move || {
        let (home, spare) = std::sync::mpsc::channel::<Vec<u8>>();
        let opened = std::fs::File::open(&path).and_then(|mut f| f.seek(SeekFrom::Start(offset)).map(|_| f));
        let mut file = match opened {
            Ok(file) => file,
            Err(e) => {
                let _ = send.blocking_send(Err(e));
                return;
            }
        };
        let mut left = len;
        while left > 0 {
            // A spare buffer, or a new one while none is back (the channel bounds how many exist).
            // `read_to_end` fills spare capacity without zeroing it first.
            let mut buffer = spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(CHUNK));
            buffer.clear();
            let item = match (&mut file).take(left.min(CHUNK as u64)).read_to_end(&mut buffer) {
                Ok(0) => Err(ended_early(&path)),
                Ok(n) => {
                    left -= n as u64;
                    Ok(Bytes::from_owner(Recycled { buffer, home: home.clone() }))
                }
                Err(e) => Err(e),
            };
            let failed = item.is_err();
            if send.blocking_send(item).is_err() || failed {
                return; // the upload stopped, or this was the error
            }
        }
    });
    Box::pin(futures_util::stream::unfold(receive, |mut receive| async move {
        receive.recv().await.map(|item| (item, receive))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_util::TryStreamExt;

    async fn collect(stream: BoxStream<'static, std::io::Result<Bytes>>) -> std::io::Result<Vec<u8>> {
        stream
            .try_fold(Vec::new(), |mut all, chunk| async move {
                all.extend_from_slice(&chunk);
                Ok(all)
            })
            .await
    }

    fn sample() -> (tempfile::TempDir, PathBuf, Vec<u8>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("source");
        let bytes: Vec<u8> = (0..3 * CHUNK + 4321).map(|i| (i * 7 + i / 65_521) as u8).collect();
        std::fs::write(&path, &bytes).unwrap();
        (dir, path, bytes)
    }

    #[tokio::test]
    async fn both_readers_give_exactly_the_range_asked_for() {
        let (_dir, path, bytes) = sample();
        for (offset, len) in [(0, bytes.len()), (5, 1), (CHUNK - 3, CHUNK + 10), (1000, bytes.len() - 1000), (7, 0)] {
            let expected = &bytes[offset..offset + len];
            assert_eq!(collect(file(&path, offset as u64, len as u64)).await.unwrap(), expected);
            assert_eq!(collect(threaded(path.clone(), offset as u64, len as u64)).await.unwrap(), expected);
        }
    }

    /// Pages dropped from the page cache make `RWF_NOWAIT` fail mid-file (where the file system
    /// honours the advice): the thread takes over at the right offset.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn the_thread_takes_over_where_the_page_cache_ends() {
        let (_dir, path, bytes) = sample();
        let source = std::fs::File::open(&path).unwrap();
        source.sync_all().unwrap();
        let second_half = (bytes.len() / 2) as u64;
        let _ = rustix::fs::fadvise(&source, second_half, None, rustix::fs::Advice::DontNeed);
        assert_eq!(collect(file(&path, 0, bytes.len() as u64)).await.unwrap(), bytes);
    }

    #[tokio::test]
    async fn a_file_shorter_than_declared_is_an_error_not_a_short_body() {
        let (_dir, path, bytes) = sample();
        let len = bytes.len() as u64 + 1;
        for stream in [file(&path, 0, len), threaded(path.clone(), 0, len)] {
            let error = collect(stream).await.unwrap_err();
            assert_eq!(error.kind(), std::io::ErrorKind::UnexpectedEof);
        }
        let missing = path.with_file_name("missing");
        assert!(collect(file(&missing, 0, 1)).await.is_err());
        assert!(collect(threaded(missing, 0, 1)).await.is_err());
    }
}
