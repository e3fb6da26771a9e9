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

/// The largest long-name or pax extension entry read: a name or a few attributes are far
/// smaller, and a crafted archive could otherwise make a reader hold gigabytes.
pub(crate) const MAX_EXTENSION: u64 = 1 << 20;

/// One entry of an archive, as the walk over its headers sees it: pax `path` and `size`
/// records and GNU long names already applied.
#[derive(Debug)]
pub(crate) struct Entry {
    pub kind: tar::EntryType,
    /// The name as the archive gives it (not yet checked: see [`names::member_name`]).
    pub name: String,
    /// Where its (last) header is, its data and its size.
    pub header: u64,
    pub data: u64,
    pub size: u64,
}

/// Why a walk stopped before the end block.
#[derive(Debug)]
pub(crate) enum Broken {
    /// An entry whose data runs past the archive's end: it was cut short.
    Truncated { entry: Entry, len: u64 },
    /// Anything else, at a byte offset.
    Other { at: u64, why: String },
}

impl std::fmt::Display for Broken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Truncated { entry, len } => write!(
                f,
                "the entry at byte {} declares {} bytes, past the archive's end at {len} (truncated?)",
                entry.header, entry.size
            ),
            Self::Other { why, .. } => f.write_str(why),
        }
    }
}

/// What the header just read is.
pub(crate) enum Step {
    /// The end-of-archive block.
    End,
    /// An extension entry (pax, GNU long name) whose `size` bytes at `data` the caller reads and
    /// hands to [`Walk::extension`].
    Extension { data: u64, size: u64 },
    /// A member.
    Entry(Entry),
}

/// The one walk over a tar archive's headers, for every reader of OVAs (local files, URLs, the
/// preflight): the caller reads the 512-byte block at [`next`](Self::next) (and an extension's
/// data) however it reads, the walk says what it is and where the next one is. Every size is
/// checked against the archive's length before anything is read.
pub(crate) struct Walk {
    len: u64,
    at: u64,
    /// The extension read last, and what it says of the entry that follows.
    pending: Option<tar::EntryType>,
    path: Option<String>,
    size: Option<u64>,
}

impl Walk {
    /// A walk over an archive of `len` bytes.
    pub fn new(len: u64) -> Self {
        Self { len, at: 0, pending: None, path: None, size: None }
    }

    /// Where the next header is, or why there is none (the archive ends inside it).
    pub fn next(&self) -> std::result::Result<u64, Broken> {
        match self.at.checked_add(512) {
            Some(end) if end <= self.len => Ok(self.at),
            _ => Err(Broken::Other {
                at: self.at,
                why: format!("it ends at byte {} inside the archive's headers (truncated?)", self.len),
            }),
        }
    }

    /// The header `block`, read at [`next`](Self::next).
    pub fn header(&mut self, block: &[u8]) -> std::result::Result<Step, Broken> {
        let offset = self.at;
        let other = |why: String| Broken::Other { at: offset, why };
        if block.iter().all(|b| *b == 0) {
            return Ok(Step::End);
        }
        let header = tar::Header::from_byte_slice(block);
        let kind = header.entry_type();
        let extension = kind.is_pax_local_extensions()
            || kind.is_pax_global_extensions()
            || kind.is_gnu_longname()
            || kind.is_gnu_longlink();
        // A pax size record stands for the header's size field (how members over 8 GiB are
        // written); an extension's own size is its header's.
        let size = match self.size.take().filter(|_| !extension) {
            Some(size) => size,
            None => header.entry_size().map_err(|e| other(format!("the header at byte {offset}: {e}")))?,
        };
        let data = offset + 512;
        let next = size.div_ceil(512).checked_mul(512).and_then(|padded| data.checked_add(padded));
        let next = next.ok_or_else(|| other(format!("the header at byte {offset} declares an impossible size")))?;
        if extension && size > MAX_EXTENSION {
            return Err(other(format!(
                "an extension header of {size} bytes at byte {offset} (at most {MAX_EXTENSION})"
            )));
        }
        let name = match self.path.take().filter(|_| !extension) {
            Some(path) => path,
            None => String::from_utf8_lossy(&header.path_bytes()).into_owned(),
        };
        let entry = Entry { kind, name, header: offset, data, size };
        if data + size > self.len {
            return Err(Broken::Truncated { entry, len: self.len });
        }
        self.at = next;
        if extension {
            self.pending = Some(kind);
            return Ok(Step::Extension { data, size });
        }
        self.pending = None;
        Ok(Step::Entry(entry))
    }

    /// The data of the extension entry [`header`](Self::header) announced.
    pub fn extension(&mut self, data: &[u8]) -> std::result::Result<(), Broken> {
        let at = self.at;
        self.read_extension(data).map_err(|why| Broken::Other { at, why })
    }

    fn read_extension(&mut self, data: &[u8]) -> std::result::Result<(), String> {
        match self.pending.take() {
            Some(kind) if kind.is_gnu_longname() => {
                let name = data.split(|b| *b == 0).next().unwrap_or_default();
                self.path = Some(String::from_utf8_lossy(name).into_owned());
            }
            Some(kind) if kind.is_pax_local_extensions() => {
                for record in tar::PaxExtensions::new(data) {
                    let record = record.map_err(|e| format!("a pax record does not parse: {e}"))?;
                    match record.key() {
                        Ok("path") => self.path = Some(String::from_utf8_lossy(record.value_bytes()).into_owned()),
                        Ok("size") => {
                            let size = record.value().ok().and_then(|v| v.trim().parse().ok());
                            self.size = Some(size.ok_or("a pax size record is not a number")?);
                        }
                        _ => {}
                    }
                }
            }
            // Global records and long link names say nothing of the next member's name or size.
            _ => {}
        }
        Ok(())
    }
}

/// `buf.len()` bytes of `file` at `offset`, without moving a shared cursor where the platform
/// can; elsewhere through a cloned handle's seek.
pub(crate) fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Read, Seek};
        let mut file = file.try_clone()?;
        file.seek(std::io::SeekFrom::Start(offset))?;
        file.read_exact(buf)
    }
}

/// The entries of an archive, as far as its walk got.
pub(crate) struct Entries {
    /// Every entry (any kind: the caller decides what it takes), in order.
    pub entries: Vec<Entry>,
    /// Where the end block is; none when the archive ends without one.
    pub end_block: Option<u64>,
    /// Why the walk stopped early, if it did.
    pub broken: Option<Broken>,
}

/// Every entry of the archive `file`, read with positioned reads.
pub(crate) fn entries(file: &std::fs::File) -> std::io::Result<Entries> {
    let len = file.metadata()?.len();
    let mut walk = Walk::new(len);
    let mut found = Entries { entries: Vec::new(), end_block: None, broken: None };
    let mut block = [0u8; 512];
    loop {
        let at = match walk.next() {
            Ok(at) => at,
            // Data up to the end and no end block: what was found stands; the caller may say so.
            Err(_) if walk.at == len => return Ok(found),
            Err(broken) => {
                found.broken = Some(broken);
                return Ok(found);
            }
        };
        read_at(file, &mut block, at)?;
        let step = match walk.header(&block) {
            Ok(step) => step,
            Err(broken) => {
                found.broken = Some(broken);
                return Ok(found);
            }
        };
        match step {
            Step::End => {
                found.end_block = Some(at);
                return Ok(found);
            }
            Step::Extension { data, size } => {
                let mut bytes = vec![0u8; size as usize];
                read_at(file, &mut bytes, data)?;
                if let Err(broken) = walk.extension(&bytes) {
                    found.broken = Some(broken);
                    return Ok(found);
                }
            }
            Step::Entry(entry) => found.entries.push(entry),
        }
    }
}

/// The regular files of the archive at `path`, in archive order, each named by the one rule.
pub(crate) async fn members(path: &Path) -> Result<Vec<Member>> {
    let path = path.to_owned();
    tokio::task::spawn_blocking(move || members_blocking(&path))
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("OVA index task failed: {e}")))?
}

/// [`members`], on the calling thread.
pub(crate) fn members_blocking(path: &Path) -> Result<Vec<Member>> {
    let bad = |why: String| {
        Error::new(ErrorKind::InvalidInput, format!("{} is not a readable OVA (tar) archive: {why}", path.display()))
    };
    let file = std::fs::File::open(path)?;
    let found = entries(&file)?;
    if let Some(broken) = found.broken {
        return Err(bad(broken.to_string()));
    }
    let mut members = Vec::new();
    for entry in found.entries {
        if let Some(what) = unsupported(entry.kind) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "OVA member {} is {what}, which vCenter does not read as a file; pack the OVA again without it",
                    super::names::shown(&entry.name)
                ),
            ));
        }
        if !entry.kind.is_file() {
            continue;
        }
        let name = super::names::member_name(&entry.name).map_err(|why| Error::new(ErrorKind::InvalidInput, why))?;
        members.push(Member { name, offset: entry.data, size: entry.size });
    }
    if members.is_empty() {
        return Err(Error::new(ErrorKind::InvalidInput, format!("{} holds no files", path.display())));
    }
    Ok(members)
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

    /// A member whose size only its pax record gives (the header's field says 0) is read at that
    /// size by the upload's reader, its bytes where they are.
    #[tokio::test]
    async fn the_local_reader_takes_a_pax_size() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big.ova");
        let mut builder = tar::Builder::new(Vec::new());
        builder.append_pax_extensions([("size", &b"5000"[..])]).unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_size(0);
        header.set_path("disk.vmdk").unwrap();
        header.set_cksum();
        builder.append(&header, &[][..]).unwrap();
        // The headers alone: the member's bytes follow, then the end blocks.
        let mut bytes = builder.get_ref().clone();
        let data_at = bytes.len();
        bytes.extend(std::iter::repeat_n(7u8, 5000));
        bytes.resize(bytes.len().next_multiple_of(512) + 1024, 0);
        std::fs::write(&path, &bytes).unwrap();
        let found = members(&path).await.unwrap();
        assert_eq!(found, [Member { name: "disk.vmdk".into(), offset: data_at as u64, size: 5000 }]);
    }

    /// How tar writes a member over 8 GiB in pax format: a `size` record, and a header size
    /// field that cannot hold it. The walk takes the record; a long `path` record too.
    #[test]
    fn pax_size_and_path_records_are_honoured() {
        let mut bytes = Vec::new();
        let mut builder = tar::Builder::new(&mut bytes);
        let long = "d".repeat(120) + ".vmdk";
        builder.append_pax_extensions([("size", &b"9000000000"[..]), ("path", long.as_bytes())]).unwrap();
        let mut header = tar::Header::new_ustar();
        header.set_size(0);
        header.set_path("short.vmdk").unwrap();
        header.set_cksum();
        builder.append(&header, &[][..]).unwrap();
        drop(builder);
        // The member's header, before the end blocks the builder wrote when dropped.
        let header_at = bytes.len() as u64 - 512 - 1024;
        let mut walk = Walk::new(header_at + 512 + 9_000_000_000 + 1024);
        let mut entries = Vec::new();
        loop {
            let at = walk.next().unwrap() as usize;
            match walk.header(&bytes[at..at + 512]).unwrap() {
                Step::Extension { data, size } => {
                    walk.extension(&bytes[data as usize..(data + size) as usize]).unwrap()
                }
                Step::Entry(entry) => {
                    entries.push(entry);
                    break;
                }
                Step::End => break,
            }
        }
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].name, long);
        assert_eq!(entries[0].size, 9_000_000_000);
        assert_eq!(entries[0].data, header_at + 512);
        assert_eq!(walk.next().unwrap(), header_at + 512 + 9_000_000_000_u64.next_multiple_of(512));
        // The same archive cut short: the member's size lies past the end.
        let mut walk = Walk::new(header_at + 512 + 1000);
        let at = walk.next().unwrap() as usize;
        let Step::Extension { data, size } = walk.header(&bytes[at..at + 512]).unwrap() else { panic!() };
        walk.extension(&bytes[data as usize..(data + size) as usize]).unwrap();
        let error = walk.header(&bytes[header_at as usize..header_at as usize + 512]).map(|_| ()).unwrap_err();
        assert!(matches!(error, Broken::Truncated { .. }), "{error}");
        assert!(error.to_string().contains("past the archive's end"), "{error}");
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
