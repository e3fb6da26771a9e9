//! OVF manifests (`.mf`): lines `SHA256(disk-0.vmdk)= 9f86…` (SHA1, SHA256 or SHA512), checked
//! against the local files they list before anything is sent: a manifest that does not match
//! its files would only fail on the server, after the whole upload.

use std::path::Path;

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

/// Checks every manifest among `planned` against the local files it lists. Files it lists that
/// are not in this upload may already be in the item; the server checks those.
pub(super) async fn check(planned: &[Planned]) -> Result<()> {
    for manifest in planned.iter().filter(|p| p.name.to_ascii_lowercase().ends_with(".mf")) {
        let Some(LocalSource::Segment { path, offset, len }) = manifest.local() else { continue };
        let text = read_small(path, *offset, *len).await?;
        for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
            let Some(Line { algorithm, name, digest }) = parse_line(line) else {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("{}: {line:?} is not a manifest line (ALGORITHM(file)= hex)", manifest.name),
                ));
            };
            let Some(file) = planned.iter().find(|p| p.name == name) else { continue };
            let Some(LocalSource::Segment { path, offset, len }) = file.local() else { continue };
            // The pre-pass may have computed this very digest already.
            let actual = match &file.checksum {
                Some(ChecksumInfo { algorithm: Some(a), checksum }) if *a == algorithm => checksum.clone(),
                _ => checksum::of_file(path, &algorithm, *offset, *len).await?,
            };
            if !actual.eq_ignore_ascii_case(digest) {
                return Err(Error::verification(
                    name,
                    format!(
                        "{}: the manifest gives {algorithm} {digest} for {name}, the file has {actual}",
                        manifest.name
                    ),
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
