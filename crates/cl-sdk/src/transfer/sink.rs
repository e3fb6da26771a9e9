//! Where a file's bytes go. A sink verifies what it can while the bytes stream, stages them,
//! and is committed or discarded by its route. The download's sink is here: a partial file in
//! the destination's staging folder, hashed as it is written, checked against the server's size
//! and checksum, and only then renamed into place. (The upload's sink, an update session's
//! upload endpoint, lives with the upload.)

use std::path::{Path, PathBuf};

use cl_api::types::{ChecksumAlgorithm, ChecksumInfo};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use super::checksum;
use super::disk_writer::DiskWriter;
use super::endpoint::Opened;
use super::runner::FileHandle;
use super::staging::Partial;
use crate::error::{Error, Result};

/// Where one file's bytes go: it verifies what it can as they stream and stages them until the
/// route commits (or discards) them.
pub(crate) trait Sink: Send {
    /// The bytes it holds and keeps: where the next attempt starts.
    fn offset(&self) -> u64;
    /// Takes one attempt's bytes; they start at `opened.start`, at or before [`offset`](Self::offset)
    /// (a source that could not resume starts over, and the sink drops what it held).
    fn take(&mut self, opened: Opened) -> BoxFuture<'_, Result<()>>;
    /// Asked after a failed attempt, before the next: whether the whole file arrived after all
    /// (the answer was lost, not the bytes).
    fn arrived(&mut self) -> BoxFuture<'_, bool> {
        Box::pin(std::future::ready(false))
    }
    /// Whether another attempt can be taken at all (a stream that already passed part of the
    /// file on cannot take it again).
    fn repeatable(&self) -> bool {
        true
    }
    /// Drops everything it holds, so the next attempt starts at byte 0 (bytes that failed their
    /// checksum are fetched again once); `false` when it cannot.
    fn restart(&mut self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(std::future::ready(Ok(false)))
    }
}

/// A staged local file being written.
pub(crate) struct StagedFile {
    writer: DiskWriter,
    path: PathBuf,
    written: u64,
    handle: FileHandle,
}

/// What a finished staged file holds.
pub(crate) struct Staged {
    pub path: PathBuf,
    pub size: u64,
    pub sha1: String,
}

impl StagedFile {
    /// Continues `partial` after the bytes it kept.
    pub async fn open(partial: Partial, handle: FileHandle) -> Self {
        let writer = DiskWriter::start(partial.file.into_std().await, Some(partial.hasher), &partial.path);
        Self { writer, path: partial.path, written: partial.kept, handle }
    }

    /// Waits for every byte to be written and synced.
    pub async fn finish(self) -> Result<Staged> {
        Ok(Staged { size: self.written, sha1: self.writer.finish().await?.unwrap_or_default(), path: self.path })
    }
}

impl Sink for StagedFile {
    fn offset(&self) -> u64 {
        self.written
    }

    fn take(&mut self, opened: Opened) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if opened.start < self.written {
                // The source could not resume: start the file over.
                self.writer.restart().await?;
                self.written = 0;
                self.handle.done(0);
            }
            let mut bytes = opened.bytes;
            while let Some(chunk) = bytes.next().await {
                let chunk = chunk?;
                self.written += chunk.len() as u64;
                self.writer.write(&chunk).await?;
                self.handle.done(self.written);
            }
            Ok(())
        })
    }
}

impl Staged {
    /// Checks the size, then the checksum the server reports (SHA-1 from the write's own pass;
    /// another algorithm costs a read of the file). Returns the checksum matched.
    pub async fn verify(
        &self,
        name: &str,
        expected_size: Option<u64>,
        server: Option<ChecksumInfo>,
    ) -> Result<Option<(ChecksumAlgorithm, String)>> {
        if let Some(expected) = expected_size
            && expected != self.size
        {
            return Err(Error::verification(
                name,
                format!("{name}: received {} bytes, the server said {expected}", self.size),
            ));
        }
        let Some(sum) = server else { return Ok(None) };
        let algorithm = sum.algorithm.unwrap_or(ChecksumAlgorithm::Sha1);
        let actual = if algorithm == ChecksumAlgorithm::Sha1 {
            self.sha1.clone()
        } else {
            checksum::of_file(&self.path, &algorithm, 0, self.size).await?
        };
        if !actual.eq_ignore_ascii_case(sum.checksum.trim()) {
            return Err(Error::verification(
                name,
                format!(
                    "{name}: {algorithm} checksum mismatch: the server says {}, the bytes give {actual}",
                    sum.checksum
                ),
            ));
        }
        Ok(Some((algorithm, actual)))
    }

    /// Renames the verified file into place (see [`super::staging::finalize`]).
    pub async fn commit(&self, target: &Path, replace: bool) -> Result<()> {
        super::staging::finalize(&self.path, target, replace).await
    }
}
