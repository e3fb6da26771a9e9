//! Where a download's bytes go: a blocking thread that hashes and writes them, fed through a
//! bounded channel, so receiving from the network, hashing and writing to disk overlap instead
//! of taking turns on the async task (each `tokio::fs` write is a blocking-pool round trip).

use std::io::{Seek, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use tokio::sync::{mpsc, oneshot};

use super::checksum::Hasher;
use crate::error::{Error, ErrorKind, Result, io_at};
use cl_api::types::ChecksumAlgorithm;

/// Chunks in flight between the network and the disk: with reqwest's chunks of up to 16 KiB to
/// a few hundred KiB, a few MiB at most.
const DEPTH: usize = 32;

enum Command {
    Data(Bytes),
    /// The server ignored a Range: start the file over.
    Restart,
}

/// The writing end; [`finish`](Self::finish) it to learn the SHA-1 of everything written.
pub(crate) struct Sink {
    commands: Option<mpsc::Sender<Command>>,
    done: Option<oneshot::Receiver<Result<String>>>,
}

impl Sink {
    /// Starts writing to `file` (positioned after the bytes `hasher` has already seen).
    pub fn start(file: std::fs::File, hasher: Hasher, path: &Path) -> Self {
        let (commands, mut receive) = mpsc::channel::<Command>(DEPTH);
        let (report, done) = oneshot::channel();
        let path: PathBuf = path.to_owned();
        std::thread::spawn(move || {
            let mut out = std::io::BufWriter::with_capacity(256 << 10, file);
            let mut hasher = hasher;
            let result = (|| -> Result<String> {
                while let Some(command) = receive.blocking_recv() {
                    match command {
                        Command::Data(chunk) => {
                            hasher.update(&chunk);
                            out.write_all(&chunk).map_err(io_at("write", &path))?;
                        }
                        Command::Restart => {
                            out.flush().map_err(io_at("write", &path))?;
                            out.get_mut().set_len(0).map_err(io_at("truncate", &path))?;
                            out.get_mut().rewind().map_err(io_at("rewind", &path))?;
                            hasher = Hasher::new(&ChecksumAlgorithm::Sha1)?;
                        }
                    }
                }
                out.flush().map_err(io_at("write", &path))?;
                out.get_ref().sync_all().map_err(io_at("sync", &path))?;
                Ok(hasher.hex())
            })();
            let _ = report.send(result);
        });
        Self { commands: Some(commands), done: Some(done) }
    }

    /// Queues a chunk; waits while the disk is behind. A write that failed shows up here.
    pub async fn write(&mut self, chunk: Bytes) -> Result<()> {
        self.send(Command::Data(chunk)).await
    }

    /// Starts the file over.
    pub async fn restart(&mut self) -> Result<()> {
        self.send(Command::Restart).await
    }

    async fn send(&mut self, command: Command) -> Result<()> {
        let sent = match &self.commands {
            Some(commands) => commands.send(command).await.is_ok(),
            None => false,
        };
        if sent { Ok(()) } else { Err(self.failure().await) }
    }

    /// Waits for every queued byte to be written and synced; returns the SHA-1 of the file.
    pub async fn finish(mut self) -> Result<String> {
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

    async fn outcome(&mut self) -> Result<String> {
        match self.done.take() {
            Some(done) => done.await.unwrap_or_else(|_| Err(Error::new(ErrorKind::Io, "the download's writer failed"))),
            None => Err(Error::new(ErrorKind::Io, "the download's writer already finished")),
        }
    }
}
