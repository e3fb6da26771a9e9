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

/// The hidden name a download is written under until it is complete and verified.
pub(crate) fn partial_name(path: &Path) -> PathBuf {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
    path.with_file_name(format!(".{name}.cl-partial"))
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[test]
    fn partial_files_are_hidden_siblings() {
        assert_eq!(partial_name(Path::new("/d/disk.vmdk")), Path::new("/d/.disk.vmdk.cl-partial"));
    }
}
