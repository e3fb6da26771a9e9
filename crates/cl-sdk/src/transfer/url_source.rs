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
use futures_util::{FutureExt, StreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, ETAG, IF_RANGE, LAST_MODIFIED, RANGE};
use reqwest::{StatusCode, Url};

use super::endpoint::{ByteStream, Opened};
use super::source::{Reopen, Source, resuming, verified};
use crate::client::{Client, Trust};
use crate::error::{Error, ErrorKind, Result, excerpt, from_transfer_response, transport};
use crate::retry::RetryPolicy;

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
    pub fn add_ca_pem(mut self, pem: &str) -> Self {
        self.trust.ca_pems.push(pem.to_owned());
        self
    }
    /// Trust the source if and only if its certificate has this SHA-1 or SHA-256 thumbprint.
    pub fn pin_thumbprint(mut self, thumbprint: &str) -> Self {
        self.trust.pins.push(thumbprint.to_owned());
        self
    }
    /// **Insecure**: accept any certificate from the source (test servers only).
    pub fn danger_accept_invalid_certificates(mut self, accept: bool) -> Self {
        self.trust.insecure = accept;
        self
    }
}

/// The largest header, manifest or descriptor read whole from a source.
const MAX_SMALL: u64 = 16 << 20;
/// The most members an OVA may have.
const MAX_MEMBERS: usize = 10_000;

/// A URL as this client reads it: its HTTP client, credentials, size and validator.
pub(crate) struct Remote {
    http: reqwest::Client,
    /// Without user information.
    url: Url,
    auth: Option<(String, Option<String>)>,
    /// For messages: the URL without its password.
    pub shown: String,
    pub size: u64,
    /// `ETag`, else `Last-Modified`, from the first look.
    validator: Option<String>,
}

impl Remote {
    /// Looks at `url` (HEAD, or a one-byte GET where HEAD is refused): its size and validator.
    pub async fn probe(client: &Client, url: &str, trust: &SourceTrust) -> Result<Arc<Self>> {
        let shown = crate::origin::redact(url);
        let mut parsed =
            Url::parse(url).map_err(|e| Error::new(ErrorKind::InvalidInput, format!("{shown:?} is not a URL: {e}")))?;
        if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
            return Err(Error::new(ErrorKind::InvalidInput, format!("{shown} is not an http or https URL")));
        }
        let auth = (!parsed.username().is_empty())
            .then(|| (percent_encoding_decode(parsed.username()), parsed.password().map(percent_encoding_decode)));
        let _ = parsed.set_username("");
        let _ = parsed.set_password(None);
        let http = client.source_http(&trust.trust)?;
        let mut remote = Self { http, url: parsed, auth, shown, size: 0, validator: None };
        let head = remote.request(reqwest::Method::HEAD).send().await.map_err(|e| remote.unreachable(e))?;
        let response = if matches!(head.status(), StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED) {
            let get = remote.request(reqwest::Method::GET).header(RANGE, "bytes=0-0");
            get.send().await.map_err(|e| remote.unreachable(e))?
        } else {
            head
        };
        if !response.status().is_success() {
            return Err(remote.refused(response).await);
        }
        let header = |name| response.headers().get(name).and_then(|v| v.to_str().ok());
        let size = match response.status() {
            StatusCode::PARTIAL_CONTENT => header(CONTENT_RANGE).and_then(|r| r.rsplit('/').next()?.parse().ok()),
            _ => header(CONTENT_LENGTH).and_then(|l| l.parse().ok()),
        };
        remote.size = size.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("{} gives no size (Content-Length); the item needs it before the first byte", remote.shown),
            )
        })?;
        remote.validator = header(ETAG).or_else(|| header(LAST_MODIFIED)).map(str::to_owned);
        Ok(Arc::new(remote))
    }

    /// Another file beside this one (an OVF's disk): `name` must be a plain file name.
    pub async fn sibling(&self, client: &Client, name: &str, trust: &SourceTrust) -> Result<Arc<Self>> {
        super::names::safe_file_name(std::path::Path::new("."), name).map_err(|_| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("the descriptor references {name:?}, which is not a file beside it"),
            )
        })?;
        let mut url = self.url.join(name).map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?;
        if let Some((user, password)) = &self.auth {
            let _ = url.set_username(user);
            let _ = url.set_password(password.as_deref());
        }
        Self::probe(client, url.as_str(), trust).await
    }

    /// The file's name: the URL's last path segment, decoded.
    pub fn file_name(&self) -> String {
        file_name(&self.url)
    }

    fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let request = self.http.request(method, self.url.clone());
        match &self.auth {
            Some((user, password)) => request.basic_auth(user, password.as_ref()),
            None => request,
        }
    }

    fn unreachable(&self, error: reqwest::Error) -> Error {
        transport(error).with_detail(format!("fetching {}", self.shown))
    }

    async fn refused(&self, response: reqwest::Response) -> Error {
        let status = response.status();
        let hint = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "; give its credentials in the URL (user:password@)",
            StatusCode::NOT_FOUND => "; there is no file there",
            _ => "",
        };
        let kind = match status {
            StatusCode::UNAUTHORIZED => ErrorKind::Unauthenticated,
            StatusCode::FORBIDDEN => ErrorKind::Unauthorized,
            StatusCode::NOT_FOUND => ErrorKind::NotFound,
            _ => ErrorKind::Http,
        };
        let inner = from_transfer_response(response).await;
        Error::new(kind, format!("the source {} answered HTTP {}{hint}", self.shown, status.as_u16()))
            .with_source(inner)
    }

    /// Bytes `from..end` of the file: a `206` must start exactly at `from`; a `200` means the
    /// server ignored `Range`, and is taken (from its start, skipping) only while the file is
    /// the one first looked at.
    pub async fn get(&self, from: u64, end: u64) -> Result<Opened> {
        let mut request = self.request(reqwest::Method::GET);
        let whole = from == 0 && end == self.size;
        if !whole {
            request = request.header(RANGE, format!("bytes={from}-{}", end.saturating_sub(1)));
            if let Some(validator) = &self.validator {
                request = request.header(IF_RANGE, validator);
            }
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        let start = if status == StatusCode::PARTIAL_CONTENT {
            let range = response.headers().get(CONTENT_RANGE).and_then(|v| v.to_str().ok()).unwrap_or("");
            let first = range.strip_prefix("bytes ").and_then(|r| r.split('-').next()?.trim().parse::<u64>().ok());
            if first != Some(from) {
                return Err(Error::new(
                    ErrorKind::Decode,
                    format!(
                        "{}: asked for byte {from} on, the source answered with Content-Range {:?}; refusing to splice",
                        self.shown,
                        excerpt(range.as_bytes())
                    ),
                ));
            }
            from
        } else if status.is_success() {
            let now = response.headers().get(ETAG).or_else(|| response.headers().get(LAST_MODIFIED));
            let now = now.and_then(|v| v.to_str().ok());
            // Read whole, it must still be the file first looked at (its size was declared);
            // from an offset, it must be known to be.
            let changed = match (whole, now) {
                (true, Some(now)) => self.validator.as_deref().is_some_and(|v| v != now),
                (true, None) => false,
                (false, now) => self.validator.is_none() || now != self.validator.as_deref(),
            };
            if changed {
                return Err(Error::new(
                    ErrorKind::Verification,
                    format!(
                        "{} changed since the transfer began (or cannot say it did not: no ETag or \
                         Last-Modified); refusing to splice its new bytes onto the old",
                        self.shown
                    ),
                ));
            }
            if !whole {
                tracing::info!(source = self.shown, "the source ignored Range; reading it from its start");
            }
            0
        } else {
            return Err(self.refused(response).await);
        };
        // Bytes before `from` (a server that ignored Range) are skipped; at `end` the stream stops
        // without reading on.
        let shown = self.shown.clone();
        let state = (response.bytes_stream(), from - start, end - from);
        let bytes = futures_util::stream::unfold(state, move |(mut body, mut skip, mut left)| {
            let shown = shown.clone();
            async move {
                while left > 0 {
                    let mut chunk = match body.next().await? {
                        Ok(chunk) => chunk,
                        Err(e) => {
                            let broke = Error::new(ErrorKind::Transport, format!("the source {shown} broke off"));
                            return Some((Err(broke.with_source(e)), (body, skip, 0)));
                        }
                    };
                    let dropped = skip.min(chunk.len() as u64);
                    skip -= dropped;
                    let _ = chunk.split_to(dropped as usize);
                    chunk.truncate(left.min(chunk.len() as u64) as usize);
                    if !chunk.is_empty() {
                        left -= chunk.len() as u64;
                        return Some((Ok(chunk), (body, skip, left)));
                    }
                }
                None
            }
        });
        Ok(Opened { start: from, bytes: bytes.boxed() })
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
        if bytes.len() as u64 != len {
            return Err(Error::new(
                ErrorKind::Transport,
                format!("{}: {} of {len} bytes at {offset} arrived", self.shown, bytes.len()),
            ));
        }
        Ok(bytes)
    }
}

fn percent_encoding_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned()
}

/// A URL's last path segment, decoded: the name of the file it serves.
pub(crate) fn file_name(url: &Url) -> String {
    percent_encoding_decode(url.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default())
}

/// A range of a remote file (the whole file, or an OVA member), as an upload's source.
pub(crate) struct UrlSegment {
    pub remote: Arc<Remote>,
    pub name: String,
    pub offset: u64,
    pub len: u64,
    /// A checksum the source declared (an OVA's manifest): checked as the bytes pass.
    pub checksum: Option<ChecksumInfo>,
    pub retries: RetryPolicy,
}

impl Source for UrlSegment {
    fn open(&self, from: u64) -> BoxFuture<'_, Result<Opened>> {
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
            let bytes: ByteStream = resuming(reopen, shown, first, (from, self.len), self.retries.start());
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
/// request (pax and GNU long names followed); every member must lie within the file.
pub(crate) async fn ova_members(remote: &Remote) -> Result<Vec<Member>> {
    let bad =
        |what: String| Error::new(ErrorKind::InvalidInput, format!("{} is not a readable OVA: {what}", remote.shown));
    let mut members = Vec::new();
    let mut offset = 0u64;
    let mut long_name: Option<String> = None;
    loop {
        if offset + 512 > remote.size {
            return Err(bad(format!("it ends at byte {} inside the archive (truncated?)", remote.size)));
        }
        let block = remote.read(offset, 512).await?;
        let Some(super::ova::HeaderStep { kind, size, data, next }) =
            super::ova::header_at(&block, offset).map_err(bad)?
        else {
            break;
        };
        if data + size > remote.size {
            return Err(bad(format!("a member at byte {offset} runs past the end ({} bytes): truncated", remote.size)));
        }
        if kind.is_pax_local_extensions() || kind.is_gnu_longname() {
            let extension = remote.read(data, size).await?;
            long_name = if kind.is_gnu_longname() {
                Some(String::from_utf8_lossy(extension.split(|b| *b == 0).next().unwrap_or_default()).into_owned())
            } else {
                tar::PaxExtensions::new(&extension)
                    .filter_map(Result::ok)
                    .find(|e| e.key() == Ok("path"))
                    .and_then(|e| e.value().ok().map(str::to_owned))
            };
        } else {
            let name = long_name.take().unwrap_or_else(|| {
                String::from_utf8_lossy(&tar::Header::from_byte_slice(&block).path_bytes()).into_owned()
            });
            if let Some(what) = super::ova::unsupported(kind) {
                return Err(bad(format!("member {name:?} is {what}, which vCenter does not read as a file")));
            }
            if kind.is_file() {
                let name = name.trim_start_matches("./").to_owned();
                if name.is_empty() || name.contains('/') {
                    return Err(bad(format!("member {name:?} is not a plain file name")));
                }
                members.push(Member { name, offset: data, size });
                if members.len() > MAX_MEMBERS {
                    return Err(bad(format!("more than {MAX_MEMBERS} members")));
                }
            }
        }
        offset = next;
    }
    if members.is_empty() {
        return Err(bad("it holds no files".into()));
    }
    Ok(members)
}
