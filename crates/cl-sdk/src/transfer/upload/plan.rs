//! Planning an upload before the server is touched: files checked and expanded (an OVA into its
//! members), named and ordered as the service wants them, checksums taken as given or from a
//! manifest, or marked to be computed in the upload's hashing lane.

use std::path::PathBuf;

use cl_api::types::{ChecksumAlgorithm, ChecksumInfo, TransferEndpoint};

use super::{UploadFile, UploadOptions};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::transfer::ova;
use crate::transfer::source::{LocalSource, Source};
use crate::transfer::url_source::{Remote, SourceTrust, UrlSegment, ova_members};

/// Where an upload's file comes from, as given.
pub(super) enum Given {
    Path(PathBuf),
    Reader(LocalSource),
    Pull(TransferEndpoint),
    Url(String, SourceTrust),
}

/// Where a planned file's bytes come from.
pub(crate) enum Bytes {
    /// This client sends them from this machine (PUSH).
    Local(LocalSource),
    /// This client streams them from elsewhere (PUSH): another item, another server.
    Remote(Box<dyn Source>),
    /// The server fetches them itself (PULL).
    Pull(TransferEndpoint),
}

/// A file ready to add: its final name, size and checksum known.
pub(crate) struct Planned {
    pub name: String,
    pub bytes: Bytes,
    pub size: Option<u64>,
    pub checksum: Option<ChecksumInfo>,
    /// The checksum is a manifest's word, not computed from these bytes: checked as they are sent.
    pub claimed: bool,
    /// The checksum to compute (in the upload's hashing lane) before this file is added.
    pub hash_later: Option<ChecksumAlgorithm>,
}

impl Planned {
    pub fn local(&self) -> Option<&LocalSource> {
        match &self.bytes {
            Bytes::Local(local) => Some(local),
            _ => None,
        }
    }

    /// The source of the bytes this client sends (none for PULL).
    pub fn source(&self) -> Option<&dyn Source> {
        match &self.bytes {
            Bytes::Local(local) => Some(local),
            Bytes::Remote(remote) => Some(remote.as_ref()),
            Bytes::Pull(_) => None,
        }
    }

    fn push(name: String, local: LocalSource, checksum: Option<ChecksumInfo>) -> Self {
        Self { name, size: Some(local.len()), bytes: Bytes::Local(local), checksum, claimed: false, hash_later: None }
    }
}

fn is_metadata(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".mf") || lower.ends_with(".cert")
}

fn is_descriptor(name: &str) -> bool {
    name.to_ascii_lowercase().ends_with(".ovf")
}

/// Checks the files, expands OVAs, orders them for the service and settles where each checksum
/// comes from.
pub(super) async fn plan(client: &Client, files: Vec<UploadFile>, options: &UploadOptions) -> Result<Vec<Planned>> {
    if files.is_empty() {
        return Err(Error::new(ErrorKind::InvalidInput, "no files to upload"));
    }
    let mut planned = Vec::new();
    for file in files {
        match file.given {
            Given::Path(path) if file.name.to_ascii_lowercase().ends_with(".ova") => {
                for member in ova::members(&path).await? {
                    let local = LocalSource::Segment { path: path.clone(), offset: member.offset, len: member.size };
                    planned.push(Planned::push(member.name, local, None));
                }
            }
            Given::Path(path) => {
                let meta = tokio::fs::metadata(&path).await.map_err(|e| {
                    Error::new(ErrorKind::Io, format!("cannot read {}: {e}", path.display())).with_source(e)
                })?;
                if !meta.is_file() {
                    return Err(Error::new(ErrorKind::InvalidInput, format!("{} is not a file", path.display())));
                }
                let local = LocalSource::Segment { path, offset: 0, len: meta.len() };
                planned.push(Planned::push(file.name, local, file.checksum));
            }
            Given::Reader(local) => planned.push(Planned::push(file.name, local, file.checksum)),
            Given::Url(url, trust) => planned.extend(url_files(client, &url, &trust).await?),
            Given::Pull(endpoint) => planned.push(Planned {
                name: file.name,
                bytes: Bytes::Pull(endpoint),
                size: None,
                checksum: file.checksum,
                claimed: false,
                hash_later: None,
            }),
        }
    }
    check_names(&planned)?;
    in_service_order(&mut planned);
    // Files a manifest gives a digest for take it as their checksum: no pass of their own.
    super::manifest::adopt(&mut planned).await?;
    // The other local files are hashed in the upload's lane, one after another in this order,
    // while earlier ones are sent.
    if let Some(algorithm) = &options.checksum {
        for p in planned.iter_mut() {
            if p.checksum.is_none() && matches!(p.local(), Some(LocalSource::Segment { .. })) {
                p.hash_later = Some(algorithm.clone());
            }
        }
    }
    Ok(planned)
}

impl Planned {
    /// A manifest, certificate or descriptor: added before the other files, in service order.
    pub fn in_order(&self) -> bool {
        is_metadata(&self.name) || is_descriptor(&self.name)
    }
}

/// Manifests and certificates, then descriptors, then the rest (stable within each group): the
/// service wants OVF metadata before the descriptor.
pub(crate) fn in_service_order(planned: &mut [Planned]) {
    planned.sort_by_key(|p| {
        if is_metadata(&p.name) {
            0
        } else if is_descriptor(&p.name) {
            1
        } else {
            2
        }
    });
}

/// Every name usable in an item (the one rule of `names::item_name`), and given once.
pub(crate) fn check_names(planned: &[Planned]) -> Result<()> {
    for (i, p) in planned.iter().enumerate() {
        if let Err(why) = crate::transfer::names::item_name(&p.name) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{} is not a usable file name in an item: {why}", crate::transfer::names::shown(&p.name)),
            ));
        }
        if planned[..i].iter().any(|q| q.name == p.name) {
            return Err(Error::new(ErrorKind::InvalidInput, format!("{:?} is given twice", p.name)));
        }
    }
    Ok(())
}

/// The files behind an http(s) URL: the file itself; an OVA's members, with the checksums its
/// manifest gives; or an OVF descriptor and the files its `References` name, beside it.
async fn url_files(client: &Client, url: &str, trust: &SourceTrust) -> Result<Vec<Planned>> {
    let remote = Remote::probe(client, url, trust).await?;
    let name = remote.file_name();
    let planned = |remote: &std::sync::Arc<Remote>, name: String, offset, len, checksum: Option<ChecksumInfo>| {
        let source = UrlSegment { remote: remote.clone(), name: name.clone(), offset, len, checksum: checksum.clone() };
        // A URL source checks its own checksum as it streams (`UrlSegment`).
        Planned {
            name,
            bytes: Bytes::Remote(Box::new(source)),
            size: Some(len),
            checksum,
            claimed: false,
            hash_later: None,
        }
    };
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".ova") {
        let members = ova_members(&remote).await?;
        let mut sums = std::collections::HashMap::new();
        for m in members.iter().filter(|m| m.name.to_ascii_lowercase().ends_with(".mf")) {
            let text = remote.read(m.offset, m.size.min(1 << 20)).await?;
            for line in String::from_utf8_lossy(&text).lines() {
                if let Some(l) = super::manifest::parse_line(line.trim()) {
                    let sum = ChecksumInfo { algorithm: Some(l.algorithm), checksum: l.digest.to_owned() };
                    sums.insert(l.name.to_owned(), sum);
                }
            }
        }
        let files = members.into_iter().map(|m| {
            let sum = sums.get(&m.name).cloned();
            planned(&remote, m.name, m.offset, m.size, sum)
        });
        return Ok(files.collect());
    }
    let mut files = vec![planned(&remote, name, 0, remote.size, None)];
    if lower.ends_with(".ovf") {
        let descriptor = remote.read(0, remote.size).await?;
        let hrefs = crate::transfer::ova_export::references(&descriptor).map_err(|why| {
            Error::new(ErrorKind::InvalidInput, format!("{}: the descriptor does not parse: {why}", remote.shown))
        })?;
        for (name, beside) in remote.siblings(&hrefs).await? {
            files.push(planned(&beside, name, 0, beside.size, None));
        }
    }
    Ok(files)
}
