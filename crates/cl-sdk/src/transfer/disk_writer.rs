//! Where a download's (or an OVA export's) bytes are written: a blocking thread that hashes (where
//! asked) and writes them, fed through a bounded channel, so receiving from the network, hashing
//! and writing to disk overlap instead of taking turns on the async task (each `tokio::fs` write
//! is a blocking-pool round trip, and a copy more).
//!
//! The receiving side copies each network chunk into one of a few recycled buffers and drops
//! the chunk at once. Holding the chunks until written instead made the HTTP client allocate a
//! fresh receive buffer for every read, which the allocator handed back to the kernel and took
//! again: a page fault per 4 KiB received, doubling the kernel time of a download (measured with
//! `perf`). The copy is of bytes still in cache and costs far less.

use std::io::{Seek, Write};

use std::path::{Path, PathBuf};
use std::sync::mpsc as std_mpsc;

use tokio::sync::{mpsc, oneshot};

use super::checksum::Hasher;
use crate::error::{Error, ErrorKind, Result, io_at};
use cl_api::types::ChecksumAlgorithm;

/// Size of one buffer: written and hashed in one go.
const BUFFER: usize = 1 << 20;
/// Full buffers queued for the writer; with the one being filled and the one being written,
/// at most `DEPTH + 2` buffers (2.5 MiB) exist per file.
const DEPTH: usize = 4;

enum Command {
    Data(Vec<u8>),
    /// Cut the file back to this length and go on from there (0: start over, as when the server
    /// ignored a Range; the hash, if any, starts over too).
    Truncate(u64),
    /// Hash what follows with this hasher (an OVA member's bytes, apart from its header).
    Hash(Hasher),
    /// The digest of what was hashed since, if anything was.
    Digest(oneshot::Sender<Option<String>>),
}

/// The writing end; [`finish`](Self::finish) it to learn the SHA-1 of everything written (when it
/// hashes).
pub(crate) struct DiskWriter {
    commands: Option<mpsc::Sender<Command>>,
    /// Buffers the writer is done with.
    spare: std_mpsc::Receiver<Vec<u8>>,
    filling: Vec<u8>,
    done: Option<oneshot::Receiver<Result<Option<String>>>>,
}

impl DiskWriter {
    /// Starts writing to `file` (positioned after the bytes `hasher` has already seen), hashing
    /// what it writes with `hasher` when given.
    pub fn start(file: std::fs::File, hasher: Option<Hasher>, path: &Path) -> Self {
        let (commands, mut receive) = mpsc::channel::<Command>(DEPTH);
        let (give_back, spare) = std_mpsc::channel();
        let (report, done) = oneshot::channel();
        let path: PathBuf = path.to_owned();
        std::thread::spawn(move || {
            let (mut out, mut hasher) = (file, hasher);
            let result = (|| -> Result<Option<String>> {
                while let Some(command) = receive.blocking_recv() {
                    match command {
                        Command::Data(mut buffer) => {
                            if let Some(hasher) = hasher.as_mut() {
                                hasher.update(&buffer);
                            }
                            out.write_all(&buffer).map_err(io_at("write", &path))?;
                            buffer.clear();
                            let _ = give_back.send(buffer);
                        }
                        Command::Truncate(at) => {
                            out.set_len(at).map_err(io_at("truncate", &path))?;
                            out.seek(std::io::SeekFrom::Start(at)).map_err(io_at("seek in", &path))?;
                            if hasher.is_some() {
                                hasher = Some(Hasher::new(&ChecksumAlgorithm::Sha1)?);
                            }
                        }
                        Command::Hash(fresh) => hasher = Some(fresh),
                        Command::Digest(reply) => {
                            let _ = reply.send(hasher.take().map(Hasher::hex));
                        }
                    }
                }
                out.sync_all().map_err(io_at("sync", &path))?;
                Ok(hasher.map(Hasher::hex))
            })();
            let _ = report.send(result);
        });
        Self { commands: Some(commands), spare, filling: Vec::with_capacity(BUFFER), done: Some(done) }
    }

    /// Queues bytes; waits while the disk is behind. A write that failed shows up here.
    pub async fn write(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let n = (BUFFER - self.filling.len()).min(bytes.len());
            self.filling.extend_from_slice(&bytes[..n]);
            bytes = &bytes[n..];
            if self.filling.len() == BUFFER {
                self.hand_over().await?;
            }
        }
        Ok(())
    }

    /// Starts the file over.
    pub async fn restart(&mut self) -> Result<()> {
        self.truncate(0).await
    }

    /// Cuts the file back to `at` bytes (what is queued past it is dropped) and goes on from
    /// there. A hashing writer hashes afresh, so it is only cut back to 0.
    pub async fn truncate(&mut self, at: u64) -> Result<()> {
        if at == 0 {
            // Nothing pending survives a cut to 0: not worth writing first.
            self.filling.clear();
        } else {
            self.hand_over().await?;
        }
        self.send(Command::Truncate(at)).await
    }

    /// Hashes what is written from here on with `hasher` (not what came before).
    pub async fn hash_from_here(&mut self, hasher: Hasher) -> Result<()> {
        self.hand_over().await?;
        self.send(Command::Hash(hasher)).await
    }

    /// The digest of what was written since [`hash_from_here`](Self::hash_from_here).
    pub async fn digest(&mut self) -> Result<Option<String>> {
        self.hand_over().await?;
        let (reply, digest) = oneshot::channel();
        self.send(Command::Digest(reply)).await?;
        match digest.await {
            Ok(digest) => Ok(digest),
            Err(_) => Err(self.failure().await),
        }
    }

    /// Sends the buffer being filled to the writer and takes a spare one (or a new one while
    /// fewer than `DEPTH + 2` exist: the channel's bound holds the rest back).
    async fn hand_over(&mut self) -> Result<()> {
        if self.filling.is_empty() {
            return Ok(());
        }
        let next = self.spare.try_recv().unwrap_or_else(|_| Vec::with_capacity(BUFFER));
        let full = std::mem::replace(&mut self.filling, next);
        self.send(Command::Data(full)).await
    }

    async fn send(&mut self, command: Command) -> Result<()> {
        let sent = match &self.commands {
            Some(commands) => commands.send(command).await.is_ok(),
            None => false,
        };
        if sent { Ok(()) } else { Err(self.failure().await) }
    }

    /// Waits for every queued byte to be written and synced; returns the SHA-1 of the file, when
    /// it hashes.
    pub async fn finish(mut self) -> Result<Option<String>> {
        self.hand_over().await?;
        self.commands = None;
        self.outcome().await
    }

    /// The writer stopped early: its error.
    async fn failure(&mut self) -> Error {
        self.commands = None;
        match self.outcome().await {
            Err(error) => error,
            Ok(_) => Error::new(ErrorKind::Io, "the download's writer stopped"),
        }
    }

    async fn outcome(&mut self) -> Result<Option<String>> {
        match self.done.take() {
            Some(done) => done.await.unwrap_or_else(|_| Err(Error::new(ErrorKind::Io, "the download's writer failed"))),
            None => Err(Error::new(ErrorKind::Io, "the download's writer already finished")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha1(bytes: &[u8]) -> String {
        let mut hasher = Hasher::new(&ChecksumAlgorithm::Sha1).unwrap();
        hasher.update(bytes);
        hasher.hex()
    }

    #[tokio::test]
    async fn chunks_of_any_size_arrive_whole_and_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let data: Vec<u8> = (0..BUFFER * 5 + 12_345).map(|i| (i * 7 + i / 4099) as u8).collect();
        let mut sink = DiskWriter::start(
            std::fs::File::create(&path).unwrap(),
            Some(Hasher::new(&ChecksumAlgorithm::Sha1).unwrap()),
            &path,
        );
        // Chunks smaller than, equal to and larger than a buffer, crossing its edges.
        let mut rest = &data[..];
        for size in [1, BUFFER - 1, BUFFER, 2 * BUFFER + 3, 17].iter().cycle() {
            if rest.is_empty() {
                break;
            }
            let (chunk, tail) = rest.split_at((*size).min(rest.len()));
            sink.write(chunk).await.unwrap();
            rest = tail;
        }
        assert_eq!(sink.finish().await.unwrap(), Some(sha1(&data)));
        assert_eq!(std::fs::read(&path).unwrap(), data);
    }

    #[tokio::test]
    async fn a_restart_drops_everything_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut sink = DiskWriter::start(
            std::fs::File::create(&path).unwrap(),
            Some(Hasher::new(&ChecksumAlgorithm::Sha1).unwrap()),
            &path,
        );
        sink.write(&vec![1u8; BUFFER + 10]).await.unwrap(); // one buffer queued, ten bytes pending
        sink.restart().await.unwrap();
        sink.write(b"fresh").await.unwrap();
        assert_eq!(sink.finish().await.unwrap(), Some(sha1(b"fresh")));
        assert_eq!(std::fs::read(&path).unwrap(), b"fresh");
    }

    /// A member's digest covers what was written after it was asked for, and nothing before.
    #[tokio::test]
    async fn a_digest_covers_what_was_written_since() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut sink = DiskWriter::start(std::fs::File::create(&path).unwrap(), None, &path);
        sink.write(b"header").await.unwrap();
        sink.hash_from_here(Hasher::new(&ChecksumAlgorithm::Sha1).unwrap()).await.unwrap();
        sink.write(&vec![3u8; BUFFER + 7]).await.unwrap();
        assert_eq!(sink.digest().await.unwrap(), Some(sha1(&vec![3u8; BUFFER + 7])));
        sink.write(b"padding").await.unwrap();
        assert_eq!(sink.finish().await.unwrap(), None);
        assert_eq!(std::fs::read(&path).unwrap().len(), 6 + BUFFER + 7 + 7);
    }

    /// A writer without a hash (an OVA's) is cut back anywhere: what was queued past the cut,
    /// written or not, is gone, and writing goes on from there.
    #[tokio::test]
    async fn a_truncate_cuts_back_to_any_length() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out");
        let mut sink = DiskWriter::start(std::fs::File::create(&path).unwrap(), None, &path);
        sink.write(&vec![1u8; 1000]).await.unwrap();
        sink.write(&vec![2u8; BUFFER + 10]).await.unwrap();
        sink.truncate(1000).await.unwrap();
        sink.write(b"tail").await.unwrap();
        assert_eq!(sink.finish().await.unwrap(), None);
        assert_eq!(std::fs::read(&path).unwrap(), [vec![1u8; 1000], b"tail".to_vec()].concat());
    }
}
