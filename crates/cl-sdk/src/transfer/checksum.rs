//! Checksums in the service's four algorithms, computed while bytes stream.

use cl_api::types::ChecksumAlgorithm;
use sha1::Digest;

use crate::error::{Error, ErrorKind, Result, io_at};

/// A running checksum in one algorithm.
pub(crate) enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Hasher {
    pub fn new(algorithm: &ChecksumAlgorithm) -> Result<Self> {
        Ok(match algorithm {
            ChecksumAlgorithm::Md5 => Self::Md5(md5::Md5::new()),
            ChecksumAlgorithm::Sha1 => Self::Sha1(sha1::Sha1::new()),
            ChecksumAlgorithm::Sha256 => Self::Sha256(sha2::Sha256::new()),
            ChecksumAlgorithm::Sha512 => Self::Sha512(sha2::Sha512::new()),
            other => {
                return Err(Error::new(
                    ErrorKind::Verification,
                    format!("checksum algorithm {other} is not supported"),
                ));
            }
        })
    }

    pub fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Md5(h) => h.update(bytes),
            Self::Sha1(h) => h.update(bytes),
            Self::Sha256(h) => h.update(bytes),
            Self::Sha512(h) => h.update(bytes),
        }
    }

    pub fn hex(self) -> String {
        match self {
            Self::Md5(h) => hex::encode(h.finalize()),
            Self::Sha1(h) => hex::encode(h.finalize()),
            Self::Sha256(h) => hex::encode(h.finalize()),
            Self::Sha512(h) => hex::encode(h.finalize()),
        }
    }
}

/// The checksum of a local file in `algorithm`, read through a bounded buffer off the runtime.
pub(crate) async fn of_file(
    path: &std::path::Path,
    algorithm: &ChecksumAlgorithm,
    offset: u64,
    len: u64,
) -> Result<String> {
    of_file_watched(path, algorithm, offset, len, |_| true).await
}

/// [`of_file`], telling `watch` the bytes hashed so far after each buffer; it returns false to
/// stop (the transfer was canceled).
pub(crate) async fn of_file_watched(
    path: &std::path::Path,
    algorithm: &ChecksumAlgorithm,
    offset: u64,
    len: u64,
    watch: impl Fn(u64) -> bool + Send + 'static,
) -> Result<String> {
    let mut hasher = Hasher::new(algorithm)?;
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || -> Result<String> {
        use std::io::{Read, Seek, SeekFrom};
        let mut file = std::fs::File::open(&path).map_err(io_at("read", &path))?;
        file.seek(SeekFrom::Start(offset)).map_err(io_at("read", &path))?;
        let mut reader = file.take(len);
        let mut buf = vec![0u8; 1 << 20];
        let mut done = 0u64;
        loop {
            let n = reader.read(&mut buf).map_err(io_at("read", &path))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            done += n as u64;
            if !watch(done) {
                return Err(Error::new(ErrorKind::Canceled, "the transfer was canceled"));
            }
        }
        Ok(hasher.hex())
    })
    .await
    .map_err(|e| Error::new(ErrorKind::Io, format!("checksum task failed: {e}")))?
}
