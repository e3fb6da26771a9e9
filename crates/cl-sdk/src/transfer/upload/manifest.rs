//! OVF manifests (`.mf`): lines `SHA256(disk-0.vmdk)= 9f86…` (SHA1, SHA256 or SHA512), checked
//! against the local files they list before anything is sent: a manifest that does not match
//! its files would only fail on the server, after the whole upload.

use std::path::{Path, PathBuf};

use cl_api::types::{ChecksumAlgorithm, ChecksumInfo};
use tokio::io::{AsyncReadExt, AsyncSeekExt};

use super::plan::Planned;
use crate::error::{Error, ErrorKind, Result, io_at};
use crate::transfer::checksum;
use crate::transfer::source::LocalSource;

/// The largest manifest read: a line per file, so 1 MiB is thousands of files.
const MAX_MANIFEST: u64 = 1 << 20;

/// One line of a manifest.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Line<'a> {
    pub algorithm: ChecksumAlgorithm,
    pub name: &'a str,
    pub digest: &'a str,
}

/// Parses `ALGORITHM(name)= hex`; `None` for anything else.
pub(crate) fn parse_line(line: &str) -> Option<Line<'_>> {
    let (head, digest) = line.split_once(")=")?;
    let (algorithm, name) = head.split_once('(')?;
    let algorithm = match algorithm.trim().to_ascii_uppercase().as_str() {
        "SHA1" => ChecksumAlgorithm::Sha1,
        "SHA256" => ChecksumAlgorithm::Sha256,
        "SHA512" => ChecksumAlgorithm::Sha512,
        _ => return None,
    };
    let (name, digest) = (name.trim(), digest.trim());
    if name.is_empty() || digest.is_empty() || !digest.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    Some(Line { algorithm, name, digest })
}

/// Takes each manifest's digests as the checksums of the local files it lists, to be declared
/// to the server and checked while the files are sent (one read per file, see
/// [`Claimed`](crate::transfer::source::Claimed)). A file whose checksum is already known is
/// compared instead. Files a manifest lists that are not in this upload may already be in the
/// item; the server checks those.
pub(super) async fn adopt(planned: &mut [Planned]) -> Result<()> {
    let manifests: Vec<(String, PathBuf, u64, u64)> = planned
        .iter()
        .filter(|p| p.name.to_ascii_lowercase().ends_with(".mf"))
        .filter_map(|p| match p.local() {
            Some(LocalSource::Segment { path, offset, len }) => Some((p.name.clone(), path.clone(), *offset, *len)),
            _ => None,
        })
        .collect();
    for (manifest, path, offset, len) in manifests {
        let text = read_small(&path, offset, len).await?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let Some(Line { algorithm, name, digest }) = parse_line(line) else {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("{manifest}: {line:?} is not a manifest line (ALGORITHM(file)= hex)"),
                ));
            };
            let Some(file) = planned.iter_mut().find(|p| p.name == name) else { continue };
            let Some(local) = file.local() else { continue };
            let actual = match (&file.checksum, local) {
                (None, _) => {
                    file.checksum = Some(ChecksumInfo { algorithm: Some(algorithm), checksum: digest.to_owned() });
                    file.claimed = true;
                    continue;
                }
                (Some(ChecksumInfo { algorithm: Some(a), checksum }), _) if *a == algorithm => checksum.clone(),
                // Given in another algorithm: this one file is hashed for the comparison.
                (Some(_), LocalSource::Segment { path, offset, len }) => {
                    checksum::of_file(path, &algorithm, *offset, *len).await?
                }
                // A reader is read once, to send it; the server checks the checksum it was given.
                (Some(_), LocalSource::Reader { .. }) => continue,
            };
            if !actual.eq_ignore_ascii_case(digest) {
                return Err(Error::verification(
                    name,
                    format!("{manifest}: the manifest gives {algorithm} {digest} for {name}, the file has {actual}"),
                ));
            }
        }
    }
    Ok(())
}

/// A small file (a manifest) read whole, bounded.
async fn read_small(path: &Path, offset: u64, len: u64) -> Result<String> {
    if len > MAX_MANIFEST {
        return Err(Error::new(ErrorKind::InvalidInput, format!("{} is too large for a manifest", path.display())));
    }
    let mut file = tokio::fs::File::open(path).await.map_err(io_at("read", path))?;
    file.seek(std::io::SeekFrom::Start(offset)).await.map_err(io_at("read", path))?;
    let mut text = String::new();
    file.take(len).read_to_string(&mut text).await.map_err(io_at("read", path))?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transfer::upload::plan::Bytes;

    fn local(name: &str, path: &Path, checksum: Option<ChecksumInfo>) -> Planned {
        let len = std::fs::metadata(path).unwrap().len();
        let source = LocalSource::Segment { path: path.to_owned(), offset: 0, len };
        Planned {
            name: name.into(),
            size: Some(len),
            bytes: Bytes::Local(source),
            checksum,
            claimed: false,
            hash_later: None,
        }
    }

    /// Files a manifest lists take its digests as claimed checksums (no hashing pass); a file
    /// whose checksum is known is compared; a mismatch names the file before anything is sent.
    #[tokio::test]
    async fn manifest_digests_are_adopted_or_compared() {
        let dir = tempfile::tempdir().unwrap();
        let write = |name: &str, bytes: &[u8]| {
            let path = dir.path().join(name);
            std::fs::write(&path, bytes).unwrap();
            path
        };
        let disk = write("disk.vmdk", b"disk bytes");
        let iso = write("tools.iso", b"iso bytes");
        let sha1_of_iso = checksum::of_file(&iso, &ChecksumAlgorithm::Sha1, 0, 9).await.unwrap();
        let mf = write(
            "a.mf",
            format!("SHA256(disk.vmdk)= {}\nSHA1(tools.iso)= {sha1_of_iso}\n", "ab".repeat(32)).as_bytes(),
        );
        let known = ChecksumInfo { algorithm: Some(ChecksumAlgorithm::Sha1), checksum: sha1_of_iso.clone() };
        let mut planned =
            vec![local("a.mf", &mf, None), local("disk.vmdk", &disk, None), local("tools.iso", &iso, Some(known))];
        adopt(&mut planned).await.unwrap();
        assert!(planned[1].claimed);
        assert_eq!(planned[1].checksum.as_ref().unwrap().checksum, "ab".repeat(32));
        assert!(!planned[2].claimed, "a computed checksum is compared, not replaced");
        assert!(!planned[0].claimed && planned[0].checksum.is_none());

        let wrong = ChecksumInfo { algorithm: Some(ChecksumAlgorithm::Sha1), checksum: "00".repeat(20) };
        let mut planned = vec![local("a.mf", &mf, None), local("tools.iso", &iso, Some(wrong))];
        let error = adopt(&mut planned).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Verification);
        assert_eq!(error.detail(), Some(&crate::Detail::File("tools.iso".into())));
    }

    #[test]
    fn lines_in_each_algorithm_parse() {
        let line = parse_line("SHA256(disk-0.vmdk)= 9f86d081884c7d65").unwrap();
        assert_eq!(
            line,
            Line { algorithm: ChecksumAlgorithm::Sha256, name: "disk-0.vmdk", digest: "9f86d081884c7d65" }
        );
        assert_eq!(parse_line("SHA1(a.ovf)=ab12").unwrap().algorithm, ChecksumAlgorithm::Sha1);
        assert_eq!(
            parse_line("sha512( b c.iso )=  00FF ").unwrap(),
            Line { algorithm: ChecksumAlgorithm::Sha512, name: "b c.iso", digest: "00FF" }
        );
        // A name may hold parentheses.
        assert_eq!(parse_line("SHA1(x(1).vmdk)= 01").unwrap().name, "x(1).vmdk");
    }

    #[test]
    fn what_is_not_a_manifest_line_is_refused() {
        for bad in [
            "",
            "SHA256 disk.vmdk 9f86",
            "MD5(disk.vmdk)= 9f86",   // the service takes no MD5 in manifests
            "SHA256(disk.vmdk)=",     // no digest
            "SHA256()= 9f86",         // no name
            "SHA256(disk.vmdk)= xyz", // not hex
            "SHA256(disk.vmdk= 9f86", // unclosed
            "CRC32(disk.vmdk)= 9f86",
        ] {
            assert_eq!(parse_line(bad), None, "{bad:?}");
        }
    }
}
