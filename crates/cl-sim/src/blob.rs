//! File content on disk, shared by reference: an item's files, a download session's snapshot and
//! an update session's staged files all hold `Arc<Blob>`s, and the file is deleted when the last
//! holder lets go. Content is streamed through [`BlobWriter`] and never held whole in memory.

use std::path::{Path, PathBuf};

use cl_api::types::ChecksumAlgorithm;
use sha1::Digest as _;
use tokio::io::{AsyncWriteExt, BufWriter};

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
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Streams content into a new blob file while hashing it.
pub struct BlobWriter {
    path: PathBuf,
    file: BufWriter<tokio::fs::File>,
    size: u64,
    sha1: sha1::Sha1,
    extra: Option<(ChecksumAlgorithm, Box<dyn sha2::digest::DynDigest + Send>)>,
}

impl BlobWriter {
    /// A writer into a fresh file under `dir`, also hashing with `algorithm` when it is not SHA-1.
    pub async fn create(dir: &Path, algorithm: Option<&ChecksumAlgorithm>) -> std::io::Result<Self> {
        let path = dir.join(uuid::Uuid::new_v4().to_string());
        let file = BufWriter::with_capacity(256 * 1024, tokio::fs::File::create(&path).await?);
        let extra: Option<(ChecksumAlgorithm, Box<dyn sha2::digest::DynDigest + Send>)> = match algorithm {
            Some(a @ ChecksumAlgorithm::Md5) => Some((a.clone(), Box::new(md5::Md5::new()))),
            Some(a @ ChecksumAlgorithm::Sha256) => Some((a.clone(), Box::new(sha2::Sha256::new()))),
            Some(a @ ChecksumAlgorithm::Sha512) => Some((a.clone(), Box::new(sha2::Sha512::new()))),
            _ => None,
        };
        Ok(Self { path, file, size: 0, sha1: sha1::Sha1::new(), extra })
    }

    pub async fn write(&mut self, chunk: &[u8]) -> std::io::Result<()> {
        self.sha1.update(chunk);
        if let Some((_, digest)) = &mut self.extra {
            digest.update(chunk);
        }
        self.size += chunk.len() as u64;
        self.file.write_all(chunk).await
    }

    pub fn written(&self) -> u64 {
        self.size
    }

    pub async fn finish(mut self) -> std::io::Result<Blob> {
        self.file.flush().await?;
        let declared = self.extra.take().map(|(a, mut d)| {
            let sum = hex::encode(d.finalize_reset());
            (a, sum)
        });
        let path = std::mem::take(&mut self.path);
        Ok(Blob { path, size: self.size, sha1: hex::encode(self.sha1.clone().finalize()), declared })
    }
}

impl Drop for BlobWriter {
    fn drop(&mut self) {
        // An unfinished writer (the upload broke off) leaves nothing behind.
        if !self.path.as_os_str().is_empty() {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}
