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
pub fn safe_file_name(dir: impl AsRef<Path>, name: &str) -> Result<PathBuf> {
    let dir = dir.as_ref();
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

/// The longest file name, in bytes, the file system holding `dir` allows.
fn name_max(dir: &Path) -> u64 {
    #[cfg(target_os = "linux")]
    if let Ok(fs) = rustix::fs::statvfs(dir) {
        return fs.f_namemax;
    }
    let _ = dir;
    255
}

/// Refuses, before a byte is written, a server file name longer than the destination's file
/// system allows.
pub(crate) fn check_length(dir: &Path, name: &str) -> Result<()> {
    let max = name_max(dir);
    if name.len() as u64 <= max {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::InvalidInput,
        format!(
            "the item's file {} has a name of {} bytes; the file system of {} allows at most {max}: \
             download the item's other files (only), or into another file system",
            shown(name),
            name.len(),
            dir.display()
        ),
    ))
}

/// A name as messages show it: whole up to 60 characters, else its start and end around `…`.
pub(crate) fn shown(name: &str) -> String {
    let count = name.chars().count();
    if count <= 60 {
        return format!("{name:?}");
    }
    let head: String = name.chars().take(40).collect();
    let tail: String = name.chars().skip(count - 15).collect();
    format!("{:?}", format!("{head}…{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_names_are_refused_with_the_limit_and_shown_short() {
        let dir = tempfile::tempdir().unwrap();
        check_length(dir.path(), &"a".repeat(200)).unwrap();
        let long = "x".repeat(300) + ".vmdk";
        let error = check_length(dir.path(), &long).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        let text = error.to_string();
        assert!(text.contains("305 bytes") && text.contains("at most 255"), "{text}");
        assert!(text.len() < 300, "the name is shortened: {text}");
        assert_eq!(shown("disk.vmdk"), "\"disk.vmdk\"");
    }

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
}
