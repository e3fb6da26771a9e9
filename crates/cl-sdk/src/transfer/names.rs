//! Server-supplied file names must never write outside the destination folder.

use std::path::{Path, PathBuf};

use crate::error::{Error, ErrorKind, Result};

/// Checks a server-supplied file name and returns where it goes under `dir`. Refused: empty
/// names, `.` and `..`, path separators (`/`, `\`), absolute paths and drive letters (`C:`),
/// NUL and other control characters.
///
/// ```
/// use std::path::Path;
/// let dir = Path::new("/downloads");
/// assert_eq!(cl_sdk::transfer::safe_file_name(dir, "disk-0.vmdk").unwrap(), dir.join("disk-0.vmdk"));
/// assert!(cl_sdk::transfer::safe_file_name(dir, "../../etc/passwd").is_err());
/// ```
pub fn safe_file_name(dir: &Path, name: &str) -> Result<PathBuf> {
    let refuse =
        |why: &str| Err(Error::new(ErrorKind::UnsafePath, format!("refusing server file name {name:?}: {why}")));
    if name.is_empty() || name == "." || name == ".." {
        return refuse("not a file name");
    }
    if name.contains(['/', '\\']) {
        return refuse("it contains a path separator");
    }
    if name.chars().any(char::is_control) {
        return refuse("it contains a control character");
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return refuse("it starts with a drive letter");
    }
    let path = dir.join(name);
    // Belt and braces: the result must be a direct child of `dir`.
    if path.parent() != Some(dir) || path.file_name().and_then(|n| n.to_str()) != Some(name) {
        return refuse("it does not stay inside the destination folder");
    }
    Ok(path)
}

/// What the staging folders of downloads are called: `.cl-download-<random>`. No item file may
/// start so, and no user file is ever written under such a name.
pub(crate) const STAGING_PREFIX: &str = ".cl-download-";

/// Refuses a file list that could make two files land on one name: exact duplicates, names equal
/// but for case (one file on case-insensitive file systems), or names of the SDK's own staging.
pub(crate) fn check_distinct<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut seen = std::collections::HashMap::<String, &str>::new();
    for name in names {
        if name.starts_with(STAGING_PREFIX) {
            return Err(Error::new(
                ErrorKind::UnsafePath,
                format!("refusing server file name {name:?}: it is named like this SDK's staging folders"),
            ));
        }
        if let Some(first) = seen.insert(name.to_lowercase(), name) {
            let how = if first == name { "twice" } else { "twice, but for case" };
            return Err(Error::new(
                ErrorKind::UnsafePath,
                format!("the item lists {name:?} {how} ({first:?}); refusing to let two files share one name"),
            ));
        }
    }
    Ok(())
}

/// A private folder inside the destination where a download's files are written until each is
/// complete and verified: created exclusively under a random name, so nothing in it can be a
/// user's file or another download's, and removed with whatever it still holds at the end.
pub(crate) struct Staging {
    dir: PathBuf,
}

impl Staging {
    pub async fn create(dest: &Path) -> Result<Self> {
        let dir = dest.join(format!("{STAGING_PREFIX}{}", uuid::Uuid::new_v4().simple()));
        tokio::fs::create_dir(&dir).await.map_err(|e| {
            Error::new(ErrorKind::Io, format!("cannot create the staging folder {}: {e}", dir.display())).with_source(e)
        })?;
        Ok(Self { dir })
    }

    /// Where file number `index` is written while it downloads.
    pub fn partial(&self, index: usize) -> PathBuf {
        self.dir.join(format!("{index}.partial"))
    }

    /// Removes the folder and anything left in it.
    pub async fn remove(self) {
        if let Err(e) = tokio::fs::remove_dir_all(&self.dir).await {
            tracing::warn!(dir = %self.dir.display(), error = %e, "could not remove the staging folder");
        }
    }
}

/// Moves a verified file into place. Without `replace`, an existing file is never touched, even
/// one that appeared during the download: the move is a hard link, which fails when the name
/// is taken (with a checked rename where the file system has no hard links).
pub(crate) async fn finalize(partial: &Path, path: &Path, replace: bool) -> Result<()> {
    let io = |e: std::io::Error, what: &str| {
        Error::new(ErrorKind::Io, format!("{what} {}: {e}", path.display())).with_source(e)
    };
    if replace {
        return tokio::fs::rename(partial, path).await.map_err(|e| io(e, "cannot move the download to"));
    }
    match tokio::fs::hard_link(partial, path).await {
        Ok(()) => tokio::fs::remove_file(partial).await.map_err(|e| io(e, "cannot tidy up after")),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Err(exists(path)),
        Err(_) if tokio::fs::try_exists(path).await.unwrap_or(true) => Err(exists(path)),
        Err(_) => tokio::fs::rename(partial, path).await.map_err(|e| io(e, "cannot move the download to")),
    }
}

/// The error for a destination file that exists and may not be replaced.
pub(crate) fn exists(path: &Path) -> Error {
    Error::new(ErrorKind::InvalidInput, format!("{} exists; choose Overwrite::Always to replace it", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colliding_names_are_refused() {
        assert!(check_distinct(["a.ovf", "disk-0.vmdk", "A.mf"]).is_ok());
        for names in [
            &["x.bin", "x.bin"][..],
            &["Disk.vmdk", "disk.VMDK"],
            &["a", ".cl-download-0123"],
            &["\u{130}.bin", "i\u{307}.bin"],
        ] {
            let error = check_distinct(names.iter().copied()).unwrap_err();
            assert_eq!(error.kind(), ErrorKind::UnsafePath, "{names:?}");
        }
    }

    #[test]
    fn hostile_names_are_refused() {
        let dir = Path::new("/dest");
        for bad in [
            "",
            ".",
            "..",
            "../x",
            "a/../../b",
            "/etc/passwd",
            "a\\b",
            "..\\..\\win.ini",
            "C:evil",
            "c:\\x",
            "nul\0byte",
            "bell\x07",
            "line\nbreak",
        ] {
            let e = safe_file_name(dir, bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::UnsafePath, "{bad:?}");
        }
        for good in ["disk.vmdk", ".hidden", "a..b", "名前.iso", "with space.ovf"] {
            assert_eq!(safe_file_name(dir, good).unwrap(), dir.join(good));
        }
    }

    #[tokio::test]
    async fn staging_is_private_and_finalize_never_clobbers() {
        let dest = tempfile::tempdir().unwrap();
        let staging = Staging::create(dest.path()).await.unwrap();
        let (a, b) = (staging.partial(0), staging.partial(1));
        assert_ne!(a, b);
        assert!(a.starts_with(dest.path()) && a.parent() != Some(dest.path()));
        std::fs::write(&a, b"new").unwrap();
        std::fs::write(&b, b"left over").unwrap();

        let taken = dest.path().join("taken.bin");
        std::fs::write(&taken, b"the user's").unwrap();
        assert_eq!(finalize(&a, &taken, false).await.unwrap_err().kind(), ErrorKind::InvalidInput);
        assert_eq!(std::fs::read(&taken).unwrap(), b"the user's");
        finalize(&a, &dest.path().join("free.bin"), false).await.unwrap();
        assert_eq!(std::fs::read(dest.path().join("free.bin")).unwrap(), b"new");

        staging.remove().await;
        let left: Vec<_> = std::fs::read_dir(dest.path()).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(left.len(), 2, "only the user's file and the finished one: {left:?}");
    }
}
