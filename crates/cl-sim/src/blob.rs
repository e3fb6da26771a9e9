//! File content on disk, shared by reference: an item's files, a download session's snapshot and
//! an update session's staged files all hold `Arc<Blob>`s, and the file is deleted when the last
//! holder lets go. Content is streamed through [`BlobWriter`] and never held whole in memory.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use cl_api::types::ChecksumAlgorithm;
use sha1::Digest as _;
use tokio::sync::{mpsc, oneshot};

/// Immutable content of one file.
#[derive(Debug)]
pub struct Blob {
    pub path: PathBuf,
    pub size: u64,
    /// SHA-1 as lower-case hex: what the service reports in `checksum_info` (SHA1 is the default algorithm).
    pub sha1: String,
    /// The checksum in the algorithm the uploader declared, when that was not SHA-1.
    pub declared: Option<(ChecksumAlgorithm, String)>,
}

impl Blob {
    /// The checksum of this content in `algorithm`, when it was computed.
    pub fn checksum(&self, algorithm: &ChecksumAlgorithm) -> Option<&str> {
        match (algorithm, &self.declared) {
            (ChecksumAlgorithm::Sha1, _) => Some(&self.sha1),
            (a, Some((b, sum))) if a == b => Some(sum),
            _ => None,
        }
    }
}

impl Drop for Blob {
    fn drop(&mut self) {
        // Freeing a large file's pages takes a while (about 0.1 s per GiB on tmpfs), and the
        // last holder often lets go under the service's lock (a commit replacing content).
        if self.size >= 64 << 20 {
            let path = std::mem::take(&mut self.path);
            std::thread::spawn(move || std::fs::remove_file(path));
        } else {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Streams content into a new blob file while hashing it. Hashing and writing run on a thread of
/// their own, fed through a short queue, so receiving the next bytes overlaps with both (and no
/// write is a round trip through tokio's blocking pool).
///
/// Received chunks are copied into a few recycled buffers and dropped at once: queuing hyper's
/// own chunks kept its receive buffers alive, so it allocated a fresh one for every read and the
/// kernel zero-filled each page of it (a page fault per 4 KiB received).
pub struct BlobWriter {
    send: mpsc::Sender<Bytes>,
    done: oneshot::Receiver<std::io::Result<Blob>>,
    /// Tells the thread the content is complete; a writer dropped without it leaves no file.
    finish: oneshot::Sender<()>,
    filling: Vec<u8>,
    spare: std::sync::mpsc::Receiver<Vec<u8>>,
    give_back: std::sync::mpsc::Sender<Vec<u8>>,
    size: u64,
}

/// Buffers queued between the receiving task and the writer thread (and again between it and a
/// second digest's thread).
const QUEUE: usize = 4;
/// Size of one buffer.
const BUFFER: usize = 1 << 20;

/// A buffer that goes back to its writer's spares when the last `Bytes` of it is dropped.
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

impl BlobWriter {
    /// A writer into a fresh file under `dir`, also hashing with `algorithm` when it is not SHA-1.
    pub async fn create(dir: &Path, algorithm: Option<&ChecksumAlgorithm>) -> std::io::Result<Self> {
        let path = dir.join(uuid::Uuid::new_v4().to_string());
        let file = std::fs::File::create_new(&path)?;
        let extra: Option<(ChecksumAlgorithm, Box<dyn sha2::digest::DynDigest + Send>)> = match algorithm {
            Some(a @ ChecksumAlgorithm::Md5) => Some((a.clone(), Box::new(md5::Md5::new()))),
            Some(a @ ChecksumAlgorithm::Sha256) => Some((a.clone(), Box::new(sha2::Sha256::new()))),
            Some(a @ ChecksumAlgorithm::Sha512) => Some((a.clone(), Box::new(sha2::Sha512::new()))),
            _ => None,
        };
        let (send, receive) = mpsc::channel(QUEUE);
        let (finish, finished) = oneshot::channel();
        let (report, done) = oneshot::channel();
        std::thread::spawn(move || {
            let result = store(file, &path, extra, receive, finished);
            if result.is_err() {
                let _ = std::fs::remove_file(&path);
            }
            let _ = report.send(result);
        });
        let (give_back, spare) = std::sync::mpsc::channel();
        Ok(Self { send, done, finish, filling: Vec::with_capacity(BUFFER), spare, give_back, size: 0 })
    }

    pub async fn write(&mut self, mut bytes: &[u8]) -> std::io::Result<()> {
        while !bytes.is_empty() {
            let n = (BUFFER - self.filling.len()).min(bytes.len());
            self.filling.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            self.size += n as u64;
            if self.filling.len() == BUFFER {
                self.hand_over().await?;
            }
        }
        Ok(())
    }

    /// Queues the buffer being filled and takes a spare one (a new one while none is back yet:
    /// the queue's bound limits how many exist).
    async fn hand_over(&mut self) -> std::io::Result<()> {
        if self.filling.is_empty() {
            return Ok(());
        }
        let next = self.spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(BUFFER));
        let buffer = std::mem::replace(&mut self.filling, next);
        let chunk = Bytes::from_owner(Recycled { buffer, home: self.give_back.clone() });
        if self.send.send(chunk).await.is_err() {
            // The thread stopped: it failed, and says why.
            return Err(match (&mut self.done).await {
                Ok(Err(e)) => e,
                _ => std::io::Error::other("the blob writer stopped"),
            });
        }
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.size
    }

    pub async fn finish(mut self) -> std::io::Result<Blob> {
        self.hand_over().await?;
        let Self { send, done, finish, .. } = self;
        let _ = finish.send(());
        drop(send); // the thread drains the queue, then sees the finish signal
        done.await.unwrap_or_else(|_| Err(std::io::Error::other("the blob writer thread died")))
    }
}

/// The writer thread: hashes and writes every chunk, then, if the content was finished (not
/// abandoned), returns the blob.
fn store(
    mut file: std::fs::File,
    path: &Path,
    extra: Option<(ChecksumAlgorithm, Box<dyn sha2::digest::DynDigest + Send>)>,
    mut receive: mpsc::Receiver<Bytes>,
    mut finished: oneshot::Receiver<()>,
) -> std::io::Result<Blob> {
    let mut sha1 = sha1::Sha1::new();
    let mut size = 0u64;
    // A declared checksum in another algorithm is computed on a second thread, beside SHA-1.
    let (declared, result) = std::thread::scope(|scope| {
        let (to_extra, extra_chunks) = std::sync::mpsc::sync_channel::<Bytes>(QUEUE);
        let extra = extra.map(|(algorithm, mut digest)| {
            scope.spawn(move || {
                for chunk in extra_chunks {
                    digest.update(&chunk);
                }
                (algorithm, hex::encode(digest.finalize_reset()))
            })
        });
        let result = (|| -> std::io::Result<()> {
            while let Some(chunk) = receive.blocking_recv() {
                if extra.is_some() {
                    let _ = to_extra.send(chunk.clone());
                }
                sha1.update(&chunk);
                file.write_all(&chunk)?;
                size += chunk.len() as u64;
            }
            Ok(())
        })();
        drop(to_extra);
        (extra.map(|handle| handle.join().expect("a digest does not panic")), result)
    });
    result?;
    if finished.try_recv().is_err() {
        return Err(std::io::Error::other("the content was abandoned"));
    }
    Ok(Blob { path: path.to_owned(), size, sha1: hex::encode(sha1.finalize()), declared })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn content_arrives_whole_and_hashed_in_both_algorithms() {
        let dir = tempfile::tempdir().unwrap();
        let data: Vec<u8> = (0..BUFFER * 3 + 777).map(|i| (i * 13 + i / 1021) as u8).collect();
        let mut writer = BlobWriter::create(dir.path(), Some(&ChecksumAlgorithm::Sha256)).await.unwrap();
        // Chunks smaller than, equal to and larger than a buffer, crossing its edges.
        let mut rest = &data[..];
        for size in [5, BUFFER, BUFFER - 3, 2 * BUFFER + 1].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at((*size).min(rest.len()));
            writer.write(chunk).await.unwrap();
            rest = tail;
        }
        assert_eq!(writer.written(), data.len() as u64);
        let blob = writer.finish().await.unwrap();
        assert_eq!(std::fs::read(&blob.path).unwrap(), data);
        assert_eq!((blob.size, blob.sha1.clone()), (data.len() as u64, hex::encode(sha1::Sha1::digest(&data))));
        let sha256 = hex::encode(sha2::Sha256::digest(&data));
        assert_eq!(blob.checksum(&ChecksumAlgorithm::Sha256), Some(sha256.as_str()));
    }

    #[tokio::test]
    async fn an_abandoned_writer_leaves_no_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = BlobWriter::create(dir.path(), None).await.unwrap();
        writer.write(&vec![1; BUFFER + 1]).await.unwrap();
        drop(writer);
        for _ in 0..100 {
            if std::fs::read_dir(dir.path()).unwrap().count() == 0 {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        panic!("the abandoned content is still on disk");
    }
}
