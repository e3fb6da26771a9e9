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
        |why: &str| Err(Error::new(ErrorKind::UnsafePath, format!("refusing server file name {}: {why}", shown(name))));
    if let Err(why) = plain(name) {
        return refuse(why);
    }
    let path = dir.join(name);
    // Belt and braces: the result must be a direct child of `dir`.
    if path.parent() != Some(dir) || path.file_name().and_then(|n| n.to_str()) != Some(name) {
        return refuse("it does not stay inside the destination folder");
    }
    Ok(path)
}

/// The longest name, in bytes, a file of an item may have here: what common file systems allow
/// for one name, so every file can be downloaded again under its own name.
pub(crate) const MAX_NAME_BYTES: usize = 255;

/// The one rule for a file's name, wherever it comes from (an item's file list, an OVA member,
/// an OVF reference, a name given for an upload): one plain name in one folder. `Err` says why
/// not. Refused: empty names, `.` and `..`, path separators (`/`, `\`), drive letters (`C:`),
/// NUL and other control characters; on Windows also device names, streams (`:`), reserved
/// characters and trailing dots or spaces (see `windows_fault`). (How long a name may be depends on where it goes: see
/// [`item_name`] and [`check_length`].)
pub(crate) fn plain(name: &str) -> std::result::Result<(), &'static str> {
    if name.is_empty() || name == "." || name == ".." {
        return Err("not a file name");
    }
    if name.contains(['/', '\\']) {
        return Err("it contains a path separator");
    }
    if name.chars().any(char::is_control) {
        return Err("it contains a control character");
    }
    let bytes = name.as_bytes();
    if bytes.len() >= 2 && bytes[1] == b':' && bytes[0].is_ascii_alphabetic() {
        return Err("it starts with a drive letter");
    }
    if cfg!(windows) { windows_fault(name).map_or(Ok(()), Err) } else { Ok(()) }
}

/// What makes a name that is plain elsewhere unsafe on Windows: a device name (`CON`,
/// `nul.txt`, `COM1`: the bytes would go to the device), a `:` (`a.vmdk:x` writes a stream
/// inside `a.vmdk`), a trailing dot or space (dropped, so two names become one file), and the
/// characters Windows reserves. Checked where the files land on Windows only, so other systems
/// keep names vCenter allows; written for every target so it is tested everywhere.
fn windows_fault(name: &str) -> Option<&'static str> {
    if name.contains(['<', '>', ':', '"', '|', '?', '*']) {
        return Some("it contains a character Windows reserves (< > : \" | ? *)");
    }
    if name.ends_with(['.', ' ']) {
        return Some("it ends with a dot or a space, which Windows drops");
    }
    let stem = name.split('.').next().unwrap_or_default().trim_end_matches(' ');
    let device = ["CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$"].iter().any(|d| stem.eq_ignore_ascii_case(d))
        || ["COM", "LPT"].iter().any(|prefix| {
            stem.len() == 4
                && stem[..3].eq_ignore_ascii_case(prefix)
                && matches!(stem.chars().nth(3), Some('0'..='9' | '¹' | '²' | '³'))
        });
    device.then_some("it names a Windows device")
}

/// A name for a file this client puts into an item: [`plain`], and at most [`MAX_NAME_BYTES`].
pub(crate) fn item_name(name: &str) -> std::result::Result<(), &'static str> {
    plain(name)?;
    if name.len() > MAX_NAME_BYTES {
        return Err("it is longer than 255 bytes, more than file systems allow for one name");
    }
    Ok(())
}

/// An archive member's name as the file's name: a leading `./` dropped, then [`plain`].
pub(crate) fn member_name(raw: &str) -> std::result::Result<String, String> {
    let name = raw.strip_prefix("./").unwrap_or(raw);
    item_name(name)
        .map(|()| name.to_owned())
        .map_err(|why| format!("member {} is not a plain file name: {why}", shown(raw)))
}

/// An OVF `References/File@href` as the name of a file beside the descriptor. An href is a URI
/// reference, so it is percent-decoded first (`%2e%2e` is `..`); a query, a fragment or a
/// scheme (another host) is refused, and so is anything but one [`plain`] name.
pub(crate) fn href_name(href: &str) -> std::result::Result<String, String> {
    let refuse =
        |why: &str| Err(format!("the descriptor references {}, which is not a file beside it: {why}", shown(href)));
    if href.contains(['?', '#']) {
        return refuse("it has a query or fragment");
    }
    if href.split('/').next().is_some_and(|first| first.contains(':')) {
        return refuse("it names a scheme or another host");
    }
    let Ok(decoded) = percent_encoding::percent_decode_str(href).decode_utf8() else {
        return refuse("it is not UTF-8 once decoded");
    };
    match item_name(&decoded) {
        Ok(()) => Ok(decoded.into_owned()),
        Err(why) => refuse(why),
    }
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

/// The longest start of `name` that fits in `bytes` bytes, cut at a character (a tar header's
/// field, a file name beside another).
pub(crate) fn cut_at_char(name: &str, bytes: usize) -> &str {
    let mut end = name.len().min(bytes);
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    &name[..end]
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
    fn names_are_cut_at_a_character() {
        assert_eq!(cut_at_char("abc", 10), "abc");
        assert_eq!(cut_at_char("abc", 2), "ab");
        assert_eq!(cut_at_char("éé", 3), "é", "two bytes each: the second would be cut in half");
        assert_eq!(cut_at_char("😀x", 3), "");
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
    fn member_names_and_hrefs_follow_the_one_rule() {
        assert_eq!(member_name("./disk.vmdk").unwrap(), "disk.vmdk");
        for bad in ["..", "./..", ".", "", "a/b", "../x", "x\\y", "C:x", "n\0", &"a".repeat(256)] {
            assert!(member_name(bad).is_err(), "{bad:?}");
        }
        assert!(member_name(&"é".repeat(127)).is_ok(), "254 bytes of UTF-8");
        assert_eq!(href_name("disk%201.vmdk").unwrap(), "disk 1.vmdk");
        assert_eq!(href_name("disk-1.vmdk").unwrap(), "disk-1.vmdk");
        for bad in [
            "%2e%2e",
            "%2E%2E",
            "..",
            "%2e%2e%2fetc%2fpasswd",
            "sub/disk.vmdk",
            "a%5cb",
            "http://evil.example/x.vmdk",
            "file:///etc/passwd",
            "C:disk.vmdk",
            "x.vmdk?y=1",
            "x.vmdk#f",
            "%00",
            "%ff%fe",
            "",
        ] {
            let error = href_name(bad).unwrap_err();
            assert!(error.contains("not a file beside it"), "{bad:?}: {error}");
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

    #[test]
    fn names_windows_would_turn_into_devices_or_streams_are_known() {
        for bad in [
            "CON",
            "con.vmdk",
            "Nul.txt",
            "aux",
            "prn.ovf",
            "COM1",
            "com9.iso",
            "LPT1.txt",
            "conin$",
            "a.vmdk:evil",
            "what?.iso",
            "a*b",
            "pipe|x",
            "quote\"x",
            "<x>",
            "trailing.",
            "trailing ",
            "nul .txt",
        ] {
            assert!(windows_fault(bad).is_some(), "{bad:?}");
        }
        for fine in ["disk.vmdk", "console.ovf", "com10.iso", "nuller", "lpt.txt", "a..b", "名前.iso", "x.con"] {
            assert_eq!(windows_fault(fine), None, "{fine:?}");
        }
        // Elsewhere these stay plain names: vCenter allows them and the file systems take them.
        assert_eq!(plain("a.vmdk:x").is_ok(), !cfg!(windows));
    }
}
