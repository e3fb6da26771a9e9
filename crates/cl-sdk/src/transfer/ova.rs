//! OVA archives (tar) are uploaded member by member, read in place: an index pass finds each
//! member's offset and size, and each member is then streamed from the archive itself.

use std::path::Path;

use crate::error::{Error, ErrorKind, Result};

/// One regular file inside an OVA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Member {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// Why an archive entry cannot be part of an OVA (`None`: a file, or a folder or global header
/// that is skipped). Skipping it instead would upload the OVA without that member.
pub(crate) fn unsupported(kind: tar::EntryType) -> Option<&'static str> {
    if kind.is_file() || kind.is_dir() || kind.is_pax_global_extensions() {
        None
    } else if kind.is_gnu_sparse() {
        Some("a GNU sparse member (made by tar -S)")
    } else if kind.is_symlink() || kind.is_hard_link() {
        Some("a link")
    } else {
        Some("not a plain file")
    }
}

/// The largest long-name or pax extension entry taken: the tar reader holds them in memory, and
/// a name or a few attributes are far smaller.
pub(crate) const MAX_EXTENSION: u64 = 1 << 20;

/// Walks the archive's headers (one 512-byte read each, skipping the data) and refuses an
/// extension entry (GNU long name, pax) larger than [`MAX_EXTENSION`] before a tar reader would
/// read it whole: a crafted archive could otherwise make it allocate gigabytes.
pub(crate) fn check_extension_sizes(file: &std::fs::File) -> std::result::Result<(), String> {
    use std::os::unix::fs::FileExt;
    let len = file.metadata().map_err(|e| e.to_string())?.len();
    let mut offset = 0u64;
    let mut block = [0u8; 512];
    while offset + 512 <= len {
        file.read_exact_at(&mut block, offset).map_err(|e| e.to_string())?;
        let Some(step) = header_at(&block, offset)? else { break };
        let kind = step.kind;
        let extension = kind.is_gnu_longname()
            || kind.is_gnu_longlink()
            || kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions();
        if extension && step.size > MAX_EXTENSION {
            return Err(format!(
                "an extension header of {} bytes at byte {offset} (at most {MAX_EXTENSION})",
                step.size
            ));
        }
        offset = step.next;
    }
    Ok(())
}

/// One tar header, as a walk over an archive's headers sees it.
pub(crate) struct HeaderStep {
    pub kind: tar::EntryType,
    /// The entry's data: its size, and where it starts.
    pub size: u64,
    pub data: u64,
    /// Where the next header is.
    pub next: u64,
}

/// The header in `block`, read at `offset`; `None` for the end-of-archive zero block.
pub(crate) fn header_at(block: &[u8], offset: u64) -> std::result::Result<Option<HeaderStep>, String> {
    if block.iter().all(|b| *b == 0) {
        return Ok(None);
    }
    let header = tar::Header::from_byte_slice(block);
    let size = header.entry_size().map_err(|e| format!("the header at byte {offset}: {e}"))?;
    let data = offset + 512;
    let next = size.div_ceil(512).checked_mul(512).and_then(|padded| data.checked_add(padded));
    let next = next.ok_or_else(|| format!("the header at byte {offset} declares an impossible size"))?;
    Ok(Some(HeaderStep { kind: header.entry_type(), size, data, next }))
}

/// The regular files of the archive at `path`, in archive order.
pub(crate) async fn members(path: &Path) -> Result<Vec<Member>> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || -> Result<Vec<Member>> {
        let bad = |e: std::io::Error| {
            Error::new(ErrorKind::InvalidInput, format!("{} is not a readable OVA (tar) archive: {e}", path.display()))
        };
        let file = std::fs::File::open(&path)?;
        check_extension_sizes(&file).map_err(|why| bad(std::io::Error::other(why)))?;
        let mut archive = tar::Archive::new(file);
        let mut members = Vec::new();
        for entry in archive.entries().map_err(bad)? {
            let entry = entry.map_err(bad)?;
            let kind = entry.header().entry_type();
            if let Some(what) = unsupported(kind) {
                let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("OVA member {name:?} is {what}, which vCenter does not read as a file; pack the OVA again without it"),
                ));
            }
            if !kind.is_file() {
                continue;
            }
            let name = entry.path().map_err(bad)?.to_string_lossy().trim_start_matches("./").to_owned();
            if name.is_empty() || name.contains('/') {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("OVA member {name:?} is not a plain file name"),
                ));
            }
            members.push(Member { name, offset: entry.raw_file_position(), size: entry.size() });
        }
        if members.is_empty() {
            return Err(Error::new(ErrorKind::InvalidInput, format!("{} holds no files", path.display())));
        }
        Ok(members)
    })
    .await
    .map_err(|e| Error::new(ErrorKind::Io, format!("OVA index task failed: {e}")))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    #[tokio::test]
    async fn members_are_found_with_their_offsets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ova");
        let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
        for (name, content) in
            [("a.ovf", &b"<Envelope/>"[..]), ("a.mf", b"SHA256(a.ovf)= x"), ("disk.vmdk", &[7u8; 5000][..])]
        {
            let mut header = tar::Header::new_gnu();
            header.set_size(content.len() as u64);
            header.set_mode(0o644);
            header.set_cksum();
            builder.append_data(&mut header, name, content).unwrap();
        }
        builder.finish().unwrap();
        drop(builder);
        let found = members(&path).await.unwrap();
        assert_eq!(found.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["a.ovf", "a.mf", "disk.vmdk"]);
        let bytes = std::fs::read(&path).unwrap();
        let disk = &found[2];
        assert_eq!(&bytes[disk.offset as usize..(disk.offset + disk.size) as usize], &[7u8; 5000][..]);
        assert_eq!(members(&dir.path().join("missing.ova")).await.unwrap_err().kind(), ErrorKind::Io);
    }

    /// An extension header too large to be a name is refused before the tar reader reads it whole.
    #[tokio::test]
    async fn a_huge_extension_header_is_refused_unread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.ova");
        let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
        let mut header = tar::Header::new_ustar();
        header.set_entry_type(tar::EntryType::XHeader);
        header.set_size(MAX_EXTENSION + 1);
        header.set_cksum();
        builder.append_data(&mut header, "pax", std::io::repeat(b'x').take(MAX_EXTENSION + 1)).unwrap();
        builder.finish().unwrap();
        drop(builder);
        let error = members(&path).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput);
        assert!(error.to_string().contains("extension header of 1048577 bytes"), "{error}");
    }

    /// A link or a sparse member would otherwise be skipped, and the OVA uploaded without it.
    #[tokio::test]
    async fn members_that_are_not_plain_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        for (kind, what) in [(tar::EntryType::Symlink, "a link"), (tar::EntryType::GNUSparse, "sparse")] {
            let path = dir.path().join("a.ova");
            let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
            let mut header = tar::Header::new_gnu();
            header.set_size(0);
            header.set_cksum();
            builder.append_data(&mut header, "a.ovf", &b""[..]).unwrap();
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(kind);
            header.set_size(0);
            header.as_gnu_mut().unwrap().set_real_size(0);
            header.set_cksum();
            builder.append_data(&mut header, "disk.vmdk", &b""[..]).unwrap();
            builder.finish().unwrap();
            drop(builder);
            let error = members(&path).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidInput);
            assert!(error.to_string().contains("disk.vmdk") && error.to_string().contains(what), "{error}");
        }
    }
}
