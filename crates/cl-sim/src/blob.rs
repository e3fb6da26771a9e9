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
pub struct BlobWriter {
    send: mpsc::Sender<Bytes>,
    done: oneshot::Receiver<std::io::Result<Blob>>,
    /// Tells the thread the content is complete; a writer dropped without it leaves no file.
    finish: oneshot::Sender<()>,
    size: u64,
}

/// Chunks queued between the receiving task and the writer thread.
const QUEUE: usize = 8;

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
        Ok(Self { send, done, finish, size: 0 })
    }

    pub async fn write(&mut self, chunk: Bytes) -> std::io::Result<()> {
        let len = chunk.len() as u64;
        if self.send.send(chunk).await.is_err() {
            // The thread stopped: it failed, and says why.
            return Err(match (&mut self.done).await {
                Ok(Err(e)) => e,
                _ => std::io::Error::other("the blob writer stopped"),
            });
        }
        self.size += len;
        Ok(())
    }

    pub fn written(&self) -> u64 {
        self.size
    }

    pub async fn finish(self) -> std::io::Result<Blob> {
        let Self { send, done, finish, .. } = self;
        let _ = finish.send(());
        drop(send); // the thread drains the queue, then sees the finish signal
        done.await.unwrap_or_else(|_| Err(std::io::Error::other("the blob writer thread died")))
    }
}

/// The writer thread: hashes and writes every chunk, then, if the content was finished (not
/// abandoned), returns the blob.
fn store(
    file: std::fs::File,
    path: &Path,
    extra: Option<(ChecksumAlgorithm, Box<dyn sha2::digest::DynDigest + Send>)>,
    mut receive: mpsc::Receiver<Bytes>,
    mut finished: oneshot::Receiver<()>,
) -> std::io::Result<Blob> {
    let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
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
        let result = (|| {
            while let Some(chunk) = receive.blocking_recv() {
                if extra.is_some() {
                    let _ = to_extra.send(chunk.clone());
                }
                sha1.update(&chunk);
                file.write_all(&chunk)?;
                size += chunk.len() as u64;
            }
            file.flush()
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
