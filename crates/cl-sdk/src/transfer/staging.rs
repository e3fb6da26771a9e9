//! Where a download's files are written until each is complete and verified, and how they are
//! kept for the next run when the download is interrupted.
//!
//! Each item has one staging folder in the destination, `.cl-download-<hash of the item id>`.
//! Each file has a partial (`<hash of its name>.partial`) and a sidecar (`….json`) saying what
//! the bytes are: item, file name, declared size, the item's content version and the server's
//! checksum when known. A later run into the same destination resumes a file only when its
//! sidecar still describes the item as it is now, after hashing the kept bytes again; otherwise
//! it starts over and says so. The folder goes away once the download succeeds (or fails without
//! resume).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::Digest;
use tokio::io::AsyncSeekExt;

use super::checksum::Hasher;
use super::names::STAGING_PREFIX;
use crate::error::{Detail, Error, ErrorKind, Result, io_at};
use cl_api::types::ChecksumAlgorithm;

/// What a partial file holds, written beside it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Sidecar {
    pub item_id: String,
    pub file_name: String,
    pub size: Option<u64>,
    pub content_version: Option<String>,
    pub checksum: Option<String>,
}

/// A partial file ready to be appended to.
pub(crate) struct Partial {
    pub file: tokio::fs::File,
    /// Where it is.
    pub path: PathBuf,
    /// Bytes kept from an earlier run (already hashed).
    pub kept: u64,
    /// SHA-1 of the kept bytes, to be continued.
    pub hasher: Hasher,
    /// An earlier run's bytes were dropped because the item changed since.
    pub started_over: bool,
}

pub(crate) struct Staging {
    dir: PathBuf,
    resume: bool,
}

fn short_hash(text: &str) -> String {
    hex::encode(&sha2::Sha256::digest(text.as_bytes())[..12])
}

impl Staging {
    /// The staging folder of `item_id` in `dest`: the one an interrupted run left when resuming,
    /// a fresh one otherwise. A folder of that name that is not a plain folder is refused.
    pub async fn open(dest: &Path, item_id: &str, resume: bool) -> Result<Self> {
        let dir = dest.join(format!("{STAGING_PREFIX}{}", short_hash(item_id)));
        if !resume {
            remove_all(&dir).await;
        }
        match tokio::fs::create_dir(&dir).await {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let meta = tokio::fs::symlink_metadata(&dir).await.map_err(io_at("inspect", &dir))?;
                if !meta.is_dir() {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        format!("{} exists and is not a staging folder; remove it", dir.display()),
                    ));
                }
            }
            Err(e) => return Err(io_at("create the staging folder", &dir)(e)),
        }
        Ok(Self { dir, resume })
    }

    pub fn partial(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{}.partial", short_hash(name)))
    }

    fn sidecar(&self, name: &str) -> PathBuf {
        self.dir.join(format!("{}.json", short_hash(name)))
    }

    /// Opens the partial file of `meta.file_name` for appending: with an earlier run's bytes when
    /// its sidecar matches `meta` (hashed again; cut to the declared size), empty otherwise.
    pub async fn begin(&self, meta: &Sidecar) -> Result<Partial> {
        let (partial, sidecar) = (self.partial(&meta.file_name), self.sidecar(&meta.file_name));
        let earlier: Option<Sidecar> =
            tokio::fs::read(&sidecar).await.ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
        let kept_len = tokio::fs::metadata(&partial).await.map(|m| m.len()).unwrap_or(0);
        // Bytes are only worth keeping when the item's content can be told apart from a later one.
        let identified = meta.content_version.is_some() || meta.checksum.is_some();
        let matches = self.resume && identified && earlier.as_ref() == Some(meta);
        let started_over = earlier.is_some() && !matches && kept_len > 0;
        if started_over {
            tracing::warn!(file = meta.file_name, "the item changed since the interrupted download; starting over");
        }
        let keep = if matches { meta.size.map_or(kept_len, |size| kept_len.min(size)) } else { 0 };
        let mut options = tokio::fs::OpenOptions::new();
        options.read(true).write(true).create(true).truncate(false);
        // A partial is never a link: what it points to is not ours to write.
        #[cfg(unix)]
        options.custom_flags(libc::O_NOFOLLOW);
        let mut file = options.open(&partial).await.map_err(io_at("create", &partial))?;
        file.set_len(keep).await.map_err(io_at("truncate", &partial))?;
        let hasher = prefix_sha1(&partial, keep).await?;
        file.seek(std::io::SeekFrom::Start(keep)).await.map_err(io_at("seek in", &partial))?;
        let json = serde_json::to_vec(meta).map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?;
        tokio::fs::write(&sidecar, json).await.map_err(io_at("write", &sidecar))?;
        if keep > 0 {
            tracing::info!(file = meta.file_name, bytes = keep, "resuming from an interrupted download");
        }
        Ok(Partial { file, path: partial, kept: keep, hasher, started_over })
    }

    /// Forgets one file's bytes (they failed verification: resuming them would fail again).
    pub async fn discard(&self, name: &str) {
        let _ = tokio::fs::remove_file(self.partial(name)).await;
        let _ = tokio::fs::remove_file(self.sidecar(name)).await;
    }

    /// Ends the download: the folder goes on success, and on failure unless it holds bytes a
    /// later run can resume; then it returns the folder and the bytes it keeps.
    pub async fn close(self, succeeded: bool) -> Option<(PathBuf, u64)> {
        let kept = if succeeded || !self.resume { 0 } else { self.resumable_bytes().await };
        if kept == 0 {
            remove_all(&self.dir).await;
            return None;
        }
        Some((self.dir, kept))
    }

    /// The bytes partials hold of an identified item version.
    async fn resumable_bytes(&self) -> u64 {
        let mut total = 0;
        let Ok(mut entries) = tokio::fs::read_dir(&self.dir).await else { return 0 };
        while let Ok(Some(entry)) = entries.next_entry().await {
            let path = entry.path();
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let sidecar: Option<Sidecar> =
                tokio::fs::read(&path).await.ok().and_then(|bytes| serde_json::from_slice(&bytes).ok());
            let identified = sidecar.is_some_and(|s| s.content_version.is_some() || s.checksum.is_some());
            let kept = tokio::fs::metadata(path.with_extension("partial")).await.map_or(0, |m| m.len());
            if identified {
                total += kept;
            }
        }
        total
    }
}

async fn remove_all(dir: &Path) {
    match tokio::fs::remove_dir_all(dir).await {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => tracing::warn!(dir = %dir.display(), error = %e, "could not remove the staging folder"),
    }
}

/// SHA-1 of the first `len` bytes of `path`, as a hasher to continue.
async fn prefix_sha1(path: &Path, len: u64) -> Result<Hasher> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || -> Result<Hasher> {
        use std::io::Read;
        let mut hasher = Hasher::new(&ChecksumAlgorithm::Sha1)?;
        let mut reader = std::fs::File::open(&path).map_err(io_at("read", &path))?.take(len);
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = reader.read(&mut buf).map_err(io_at("read", &path))?;
            if n == 0 {
                return Ok(hasher);
            }
            hasher.update(&buf[..n]);
        }
    })
    .await
    .map_err(|e| Error::new(ErrorKind::Io, format!("hashing the kept bytes failed: {e}")))?
}

/// A new, empty hidden file beside `target` to write it in, under a name no one else has: made
/// with `O_EXCL` (and `O_NOFOLLOW`), so a file or link planted there is never written through.
/// [`finalize`] moves it into place.
pub(crate) async fn exclusive_partial(target: &Path) -> Result<(tokio::fs::File, PathBuf)> {
    let (dir, name) = match (target.parent(), target.file_name()) {
        (Some(dir), Some(name)) => (if dir.as_os_str().is_empty() { Path::new(".") } else { dir }, name),
        _ => return Err(Error::new(ErrorKind::InvalidInput, format!("{} names no file", target.display()))),
    };
    let name = name.to_string_lossy();
    // Short enough to fit beside any name the file system allows.
    let stem = super::names::cut_at_char(&name, 180);
    let partial = dir.join(format!(".{stem}.cl-partial-{:016x}", fastrand::u64(..)));
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).read(true).create_new(true);
    #[cfg(unix)]
    options.custom_flags(libc::O_NOFOLLOW);
    let file = options.open(&partial).await.map_err(io_at("create", &partial))?;
    Ok((file, partial))
}

/// Moves a verified file into place. Without `replace`, an existing file is never touched, even
/// one that appeared during the download: the move is a hard link, which fails when the name
/// is taken (with a checked rename where the file system has no hard links).
pub(crate) async fn finalize(partial: &Path, path: &Path, replace: bool) -> Result<()> {
    if replace {
        return tokio::fs::rename(partial, path).await.map_err(io_at("move the download to", path));
    }
    match tokio::fs::hard_link(partial, path).await {
        Ok(()) => tokio::fs::remove_file(partial).await.map_err(io_at("tidy up after", path)),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(exists(path)),
        Err(_) if tokio::fs::try_exists(path).await.unwrap_or(true) => Err(exists(path)),
        Err(_) => tokio::fs::rename(partial, path).await.map_err(io_at("move the download to", path)),
    }
}

/// The error for a destination file that exists and may not be replaced.
pub(crate) fn exists(path: &Path) -> Error {
    Error::new(ErrorKind::InvalidInput, format!("{} exists; choose Overwrite::Always to replace it", path.display()))
        .with(Detail::TargetExists(path.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(version: &str) -> Sidecar {
        Sidecar {
            item_id: "item".into(),
            file_name: "a.bin".into(),
            size: Some(10),
            content_version: Some(version.into()),
            checksum: None,
        }
    }

    #[tokio::test]
    async fn kept_bytes_are_resumed_only_while_the_item_is_unchanged() {
        use tokio::io::AsyncWriteExt;
        let dest = tempfile::tempdir().unwrap();
        let staging = Staging::open(dest.path(), "item", true).await.unwrap();
        let mut first = staging.begin(&meta("1")).await.unwrap();
        assert_eq!((first.kept, first.started_over), (0, false));
        first.file.write_all(b"hello").await.unwrap();
        first.file.flush().await.unwrap();
        staging.close(false).await; // interrupted: kept

        let staging = Staging::open(dest.path(), "item", true).await.unwrap();
        let again = staging.begin(&meta("1")).await.unwrap();
        assert_eq!(again.kept, 5);
        let mut fresh = Hasher::new(&ChecksumAlgorithm::Sha1).unwrap();
        fresh.update(b"hello");
        assert_eq!(again.hasher.hex(), fresh.hex(), "the kept bytes are hashed again");

        let changed = staging.begin(&meta("2")).await.unwrap();
        assert_eq!((changed.kept, changed.started_over), (0, true));
        staging.close(true).await;
        assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 0, "gone after success");

        // Without resume nothing is kept, before or after.
        let staging = Staging::open(dest.path(), "item", false).await.unwrap();
        staging.begin(&meta("1")).await.unwrap().file.write_all(b"x").await.unwrap();
        staging.close(false).await;
        assert_eq!(std::fs::read_dir(dest.path()).unwrap().count(), 0);
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn a_partial_that_is_a_link_is_not_followed() {
        let dest = tempfile::tempdir().unwrap();
        let victim = dest.path().join("victim.txt");
        std::fs::write(&victim, b"precious").unwrap();
        let staging = Staging::open(dest.path(), "item", true).await.unwrap();
        std::os::unix::fs::symlink(&victim, staging.partial("a.bin")).unwrap();
        assert!(staging.begin(&meta("1")).await.is_err());
        assert_eq!(std::fs::read(&victim).unwrap(), b"precious");
    }

    #[tokio::test]
    async fn an_exclusive_partial_is_new_every_time() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("x.ova");
        let (_, first) = exclusive_partial(&target).await.unwrap();
        let (_, second) = exclusive_partial(&target).await.unwrap();
        assert_ne!(first, second);
        assert_eq!(first.parent(), Some(dir.path()));
        let long = dir.path().join("é".repeat(127));
        let (_, partial) = exclusive_partial(&long).await.unwrap();
        assert!(partial.file_name().unwrap().len() <= 255);
    }

    #[tokio::test]
    async fn finalize_never_clobbers_without_replace() {
        let dest = tempfile::tempdir().unwrap();
        let (a, taken) = (dest.path().join("a.partial"), dest.path().join("taken.bin"));
        std::fs::write(&a, b"new").unwrap();
        std::fs::write(&taken, b"the user's").unwrap();
        let refused = finalize(&a, &taken, false).await.unwrap_err();
        assert_eq!(refused.kind(), ErrorKind::InvalidInput);
        assert_eq!(refused.detail(), Some(&Detail::TargetExists(taken.clone())), "typed, for callers to react to");
        assert_eq!(std::fs::read(&taken).unwrap(), b"the user's");
        finalize(&a, &dest.path().join("free.bin"), false).await.unwrap();
        assert_eq!(std::fs::read(dest.path().join("free.bin")).unwrap(), b"new");
        assert!(!a.exists());
    }
}
