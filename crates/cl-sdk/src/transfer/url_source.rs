//! Files this client fetches itself from an http(s) URL (not from vCenter) and streams into an
//! item: a plain file, the members of an OVA, or an OVF descriptor and the files it references.
//!
//! The source has its own trust (system roots, CAs, thumbprints) and its own credentials (the
//! URL's `user:password@`, sent as basic auth, never shown); no vCenter credential or session
//! token goes to it. Bytes are read with `Range` requests: a break resumes where it stopped, an
//! OVA's members are found by reading their 512-byte headers and each member is fetched as a
//! range of its own. The source's `ETag` (or `Last-Modified`) from the first look is sent as
//! `If-Range`, so a source that changed since is detected and refused, never spliced; a source
//! that ignores `Range` is read from its start again with the bytes before the offset skipped.

use std::sync::Arc;

use cl_api::types::ChecksumInfo;
use futures_util::future::BoxFuture;
use futures_util::{FutureExt, StreamExt, TryStreamExt};
use reqwest::Url;

use super::endpoint::{ByteStream, Endpoint, Opened};
use super::source::{Reopen, Source, resuming, verified};
use crate::client::{Client, Trust};
use crate::error::{Error, ErrorKind, Result};
use crate::retry::FileRetries;

/// How to trust an http(s) source this client fetches from: the system's roots by default.
///
/// ```
/// let trust = cl_sdk::transfer::SourceTrust::default().add_ca_pem("-----BEGIN CERTIFICATE-----…");
/// ```
#[derive(Clone, Default)]
pub struct SourceTrust {
    trust: Trust,
}

impl std::fmt::Debug for SourceTrust {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceTrust")
            .field("ca_pems", &self.trust.ca_pems.len())
            .field("pins", &self.trust.pins)
            .field("insecure", &self.trust.insecure)
            .finish()
    }
}

impl SourceTrust {
    /// Also trust the CA certificates in this PEM text.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{SourceTrust, UploadFile, UploadOptions};
    /// let ca = std::fs::read_to_string("images-ca.pem").unwrap_or_default();
    /// let file = UploadFile::url("https://images.internal/photon.ova", SourceTrust::default().add_ca_pem(&ca));
    /// client.upload_item(&item, vec![file], UploadOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub fn add_ca_pem(mut self, pem: &str) -> Self {
        self.trust.ca_pems.push(pem.to_owned());
        self
    }
    /// Trust the source if and only if its certificate has this SHA-1 or SHA-256 thumbprint.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::SourceTrust;
    /// let trust = SourceTrust::default().pin_thumbprint("AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD");
    /// # let _ = trust;
    /// # Ok(()) }
    /// ```
    pub fn pin_thumbprint(mut self, thumbprint: &str) -> Self {
        self.trust.pins.push(thumbprint.to_owned());
        self
    }
    /// **Insecure**: accept any certificate from the source (test servers only).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::SourceTrust;
    /// let trust = SourceTrust::default().danger_accept_invalid_certificates(true);
    /// # let _ = trust;
    /// # Ok(()) }
    /// ```
    pub fn danger_accept_invalid_certificates(mut self, accept: bool) -> Self {
        self.trust.insecure = accept;
        self
    }
}

/// The largest header, manifest or descriptor read whole from a source.
const MAX_SMALL: u64 = 16 << 20;
/// The most members an OVA, or references a descriptor, may have.
const MAX_MEMBERS: usize = 10_000;
/// How many of a descriptor's references are looked at (HEAD) at once.
const LOOKS_AT_ONCE: usize = 8;

/// A URL as this client reads it: its endpoint (the one request builder, with the source's
/// client, credentials and version), and its size.
pub(crate) struct Remote {
    endpoint: Endpoint,
    /// For messages: the URL without its password.
    pub shown: String,
    pub size: u64,
}

impl Remote {
    /// Looks at `url` (HEAD, or a one-byte GET where HEAD is refused): its size and version.
    pub async fn probe(client: &Client, url: &str, trust: &SourceTrust) -> Result<Arc<Self>> {
        let endpoint = Endpoint::source(client.source_http(&trust.trust)?, url)?;
        Self::look(endpoint).await
    }

    async fn look(mut endpoint: Endpoint) -> Result<Arc<Self>> {
        let size = endpoint.look().await?;
        Ok(Arc::new(Self { shown: endpoint.shown(), endpoint, size }))
    }

    /// The files an OVF descriptor here references, beside it: every href checked (one plain
    /// name, percent-decoded) before the first is fetched, then looked at a few at a time over
    /// this source's one HTTP client. Returns each with its name in the item: the href as the
    /// descriptor writes it, which is what the service matches the descriptor's references to.
    pub async fn siblings(&self, hrefs: &[String]) -> Result<Vec<(String, Arc<Self>)>> {
        if hrefs.len() > MAX_MEMBERS {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{}: the descriptor references {} files, more than {MAX_MEMBERS}", self.shown, hrefs.len()),
            ));
        }
        let mut endpoints = Vec::with_capacity(hrefs.len());
        for href in hrefs {
            let refused = |why: String| Error::new(ErrorKind::InvalidInput, format!("{}: {why}", self.shown));
            let name = super::names::href_name(href).map_err(refused)?;
            super::names::item_name(href).map_err(|why| refused(format!("the reference {href:?}: {why}")))?;
            endpoints.push((href.clone(), self.endpoint.sibling(&name)?));
        }
        futures_util::stream::iter(endpoints)
            .map(|(name, endpoint)| async move { Self::look(endpoint).await.map(|remote| (name, remote)) })
            .buffered(LOOKS_AT_ONCE)
            .try_collect()
            .await
    }

    /// The file's name: the URL's last path segment, decoded.
    pub fn file_name(&self) -> String {
        file_name(self.endpoint.url())
    }

    /// Bytes `from..end` of the file (see [`Endpoint::get`]: the answer is checked against the
    /// size and version first looked at).
    pub async fn get(&self, from: u64, end: u64) -> Result<Opened> {
        self.endpoint.get(from, Some(end), Some(self.size)).await
    }

    /// `len` bytes at `offset`, whole in memory (a tar header, a manifest, a descriptor).
    pub async fn read(&self, offset: u64, len: u64) -> Result<Vec<u8>> {
        if len > MAX_SMALL || offset.checked_add(len).is_none_or(|end| end > self.size) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{}: {len} bytes at {offset} lie beyond its {} bytes (truncated?)", self.shown, self.size),
            ));
        }
        let mut bytes = Vec::with_capacity(len as usize);
        let mut stream = self.get(offset, offset + len).await?.bytes;
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk?);
        }
        Ok(bytes)
    }
}

/// A URL's last path segment, decoded: the name of the file it serves.
pub(crate) fn file_name(url: &Url) -> String {
    let last = url.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default();
    percent_encoding::percent_decode_str(last).decode_utf8_lossy().into_owned()
}

/// A range of a remote file (the whole file, or an OVA member), as an upload's source.
pub(crate) struct UrlSegment {
    pub remote: Arc<Remote>,
    pub name: String,
    pub offset: u64,
    pub len: u64,
    /// A checksum the source declared (an OVA's manifest): checked as the bytes pass.
    pub checksum: Option<ChecksumInfo>,
}

impl Source for UrlSegment {
    fn open<'a>(&'a self, from: u64, retries: &FileRetries) -> BoxFuture<'a, Result<Opened>> {
        let retries = retries.clone();
        async move {
            let end = self.offset + self.len;
            let first = self.remote.get(self.offset + from, end).await?;
            let (remote, offset) = (self.remote.clone(), self.offset);
            let reopen: Reopen = Arc::new(move |at| {
                let remote = remote.clone();
                Box::pin(async move {
                    let opened = remote.get(offset + at, end).await?;
                    Ok(Opened { start: opened.start - offset, bytes: opened.bytes })
                })
            });
            let first = Opened { start: first.start - self.offset, bytes: first.bytes };
            let shown = self.remote.shown.clone();
            let bytes: ByteStream = resuming(reopen, shown, first, (from, self.len), retries);
            let bytes = match &self.checksum {
                Some(sum) if from == 0 => verified(bytes, sum, &self.name, "the source")?,
                _ => bytes,
            };
            Ok(Opened { start: from, bytes })
        }
        .boxed()
    }
}

/// One regular file inside a remote OVA.
pub(crate) struct Member {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// The members of the OVA at `remote`, found by reading each 512-byte header with a range
/// request (the one tar walk: pax and GNU records followed); every member must lie within the
/// file and be named by the one rule.
pub(crate) async fn ova_members(remote: &Remote) -> Result<Vec<Member>> {
    let bad =
        |what: String| Error::new(ErrorKind::InvalidInput, format!("{} is not a readable OVA: {what}", remote.shown));
    let broken = |b: super::ova::Broken| bad(b.to_string());
    let mut members = Vec::new();
    let mut walk = super::ova::Walk::new(remote.size);
    loop {
        let at = walk.next().map_err(broken)?;
        let block = remote.read(at, 512).await?;
        let entry = match walk.header(&block).map_err(broken)? {
            super::ova::Step::End => break,
            super::ova::Step::Extension { data, size } => {
                let extension = remote.read(data, size).await?;
                walk.extension(&extension).map_err(broken)?;
                continue;
            }
            super::ova::Step::Entry(entry) => entry,
        };
        if let Some(what) = super::ova::unsupported(entry.kind) {
            let name = super::names::shown(&entry.name);
            return Err(bad(format!("member {name} is {what}, which vCenter does not read as a file")));
        }
        if entry.kind.is_file() {
            let name = super::names::member_name(&entry.name).map_err(bad)?;
            members.push(Member { name, offset: entry.data, size: entry.size });
            if members.len() > MAX_MEMBERS {
                return Err(bad(format!("more than {MAX_MEMBERS} members")));
            }
        }
    }
    if members.is_empty() {
        return Err(bad("it holds no files".into()));
    }
    Ok(members)
}
