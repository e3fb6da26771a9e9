//! The one place transfer HTTP requests are made, for vCenter's transfer URIs and for the
//! http(s) sources this client fetches alike: "GET from offset N (up to M)" with `Range`, the
//! answer's `Content-Range`, length and encoding checked against what the file was declared to
//! be, and "PUT this body of length N". The two kinds of endpoint differ only in who they are
//! ([`Party`]: trust, credentials, how errors name them), never in how a request is built or an
//! answer believed.

use bytes::Bytes;
use cl_api::types::TransferEndpoint;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::header::{
    ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, ETAG, HeaderMap, IF_RANGE,
    LAST_MODIFIED, RANGE,
};
use reqwest::{StatusCode, Url};

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result, excerpt, from_transfer_response, transport};
use crate::origin;

/// A file's bytes as they stream: chunks, or the error that ended them.
pub(crate) type ByteStream = BoxStream<'static, Result<Bytes>>;

/// Bytes opened at some offset of a file.
pub(crate) struct Opened {
    /// Where the bytes start in the file: the offset asked for, or 0 when the source could not
    /// start there (a server that ignored `Range`).
    pub start: u64,
    pub bytes: ByteStream,
}

/// Who answers a transfer request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Party {
    /// vCenter (or the host it names) in a transfer session: the session token goes along when
    /// the URI is on the API's origin.
    Server,
    /// An http(s) URL outside vCenter that this client fetches: its own trust, only the URL's
    /// own credentials, errors marked as the source's.
    Source,
}

/// What goes with each request.
enum Credential {
    None,
    /// vCenter's API session token.
    Token(String),
    /// A source's `user:password@`.
    Basic(String, Option<String>),
}

/// A transfer URI of one file, ready for requests.
pub(crate) struct Endpoint {
    /// The file's name, for messages.
    name: String,
    url: Url,
    /// For messages: the URI without credentials.
    shown: String,
    /// The client's own transfer client, one pinned to the endpoint's certificate, or a
    /// source's client with the source's trust.
    http: reqwest::Client,
    credential: Credential,
    party: Party,
    /// The file's version when first looked at (`ETag`, else `Last-Modified`): ranged requests
    /// carry it as `If-Range`, so a file that changed since answers whole and is refused.
    validator: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("name", &self.name).field("url", &self.shown).finish()
    }
}

impl Endpoint {
    /// Checks the URI the server gave for `name` (http or https only), picks the HTTP client its
    /// pin (or the client's trust) calls for, and decides whether the session token may go along.
    pub fn new(client: &Client, endpoint: &TransferEndpoint, name: &str) -> Result<Self> {
        let url = origin::endpoint_url(endpoint, name)?;
        let http = client.transfer_http(endpoint)?;
        let credential = client.token_for(&url).map_or(Credential::None, Credential::Token);
        let shown = origin::redact(url.as_str());
        Ok(Self { name: name.to_owned(), url, shown, http, credential, party: Party::Server, validator: None })
    }

    /// A source's URL (http or https, credentials taken out of it and sent as basic auth only
    /// to it), fetched with `http`.
    pub fn source(http: reqwest::Client, url: &str) -> Result<Self> {
        let shown = origin::redact(url);
        let mut url =
            Url::parse(url).map_err(|e| Error::new(ErrorKind::InvalidInput, format!("{shown:?} is not a URL: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none_or(str::is_empty) {
            return Err(Error::new(ErrorKind::InvalidInput, format!("{shown} is not an http or https URL")));
        }
        let decode = |s: &str| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned();
        let credential = if url.username().is_empty() {
            Credential::None
        } else {
            Credential::Basic(decode(url.username()), url.password().map(decode))
        };
        let _ = url.set_username("");
        let _ = url.set_password(None);
        let name = super::url_source::file_name(&url);
        Ok(Self { name, url, shown, http, credential, party: Party::Source, validator: None })
    }

    /// The file `name` beside this one (an OVF's disk), with this endpoint's client and
    /// credentials: `name` is put in as one path segment, so it cannot climb out of the folder.
    pub fn sibling(&self, name: &str) -> Result<Self> {
        let mut url = self.url.clone();
        url.path_segments_mut()
            .map_err(|()| Error::new(ErrorKind::InvalidInput, format!("{} has no folder", self.shown)))?
            .pop()
            .push(name);
        let credential = match &self.credential {
            Credential::Basic(user, password) => Credential::Basic(user.clone(), password.clone()),
            _ => Credential::None,
        };
        let shown = origin::redact(url.as_str());
        Ok(Self {
            name: name.to_owned(),
            url,
            shown,
            http: self.http.clone(),
            credential,
            party: self.party,
            validator: None,
        })
    }

    /// The URI, for logs (credentials in it redacted).
    pub fn shown(&self) -> String {
        self.shown.clone()
    }

    /// The URL as requested (no credentials in it).
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// Every request: its credential, and only the identity encoding accepted (a compressed
    /// answer would be stored compressed).
    fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let request = self.http.request(method, self.url.clone()).header(ACCEPT_ENCODING, "identity");
        match &self.credential {
            Credential::None => request,
            Credential::Token(token) => request.header(cl_api::SESSION_HEADER, token),
            Credential::Basic(user, password) => request.basic_auth(user, password.as_ref()),
        }
    }

    /// A source's first look (HEAD, or a one-byte GET where HEAD is refused): its size, and its
    /// version, which later requests are checked against (kept here).
    pub async fn look(&mut self) -> Result<u64> {
        let head = self.request(reqwest::Method::HEAD).send().await.map_err(|e| self.unreachable(e))?;
        let response = if matches!(head.status(), StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED) {
            let get = self.request(reqwest::Method::GET).header(RANGE, "bytes=0-0");
            get.send().await.map_err(|e| self.unreachable(e))?
        } else {
            head
        };
        if !response.status().is_success() {
            return Err(self.refused(response).await);
        }
        self.check_encoding(response.headers())?;
        let headers = response.headers();
        let size = match response.status() {
            StatusCode::PARTIAL_CONTENT => ContentRange::of(headers).and_then(|r| r.total),
            _ => content_length(headers),
        };
        let size = size.ok_or_else(|| {
            Error::new(
                ErrorKind::InvalidInput,
                format!("{} gives no size (Content-Length); the item needs it before the first byte", self.shown),
            )
        })?;
        self.validator = validator(headers);
        Ok(size)
    }

    /// GETs the file's bytes `from..end` (`end`: its declared `size` when not given). What the
    /// answer says is checked against what the file was declared to be, never believed on its
    /// own word:
    /// * a `206` must start exactly at `from`, and its total must be the declared size (else the
    ///   file changed, and its bytes are never spliced onto the old);
    /// * a `200` to a ranged request means `Range` was ignored: the bytes start at 0, or (a
    ///   source whose version still matches) are skipped up to `from`; its length must be the
    ///   declared size;
    /// * an encoding that was not asked for is refused;
    /// * not a byte past the declared end is passed on, and more fails the file;
    /// * a body that breaks off or ends early ends the stream with a
    ///   [`Transport`](ErrorKind::Transport) error, worth resuming; so does a stall (the clients'
    ///   read timeout).
    pub async fn get(&self, from: u64, end: Option<u64>, size: Option<u64>) -> Result<Opened> {
        let end = end.or(size);
        let whole = from == 0 && end == size;
        let mut request = self.request(reqwest::Method::GET);
        if !whole {
            let last = match end {
                Some(end) if Some(end) != size => end.saturating_sub(1).to_string(),
                _ => String::new(),
            };
            request = request.header(RANGE, format!("bytes={from}-{last}"));
            if let Some(validator) = &self.validator {
                request = request.header(IF_RANGE, validator);
            }
        }
        let response = request.send().await.map_err(|e| self.unreachable(e))?;
        let status = response.status();
        if !status.is_success() {
            return Err(self.refused(response).await);
        }
        let headers = response.headers();
        self.check_encoding(headers)?;
        let length = content_length(headers);
        // Where the bytes passed on start in the file, how many of the body's first bytes come
        // before that, and where the body's bytes end.
        let (start, skip, answer_end) = if status == StatusCode::PARTIAL_CONTENT {
            let range =
                ContentRange::of(headers).filter(|r| r.first == from && r.last >= r.first).ok_or_else(|| {
                    let shown = headers.get(CONTENT_RANGE).map(|v| excerpt(v.as_bytes())).unwrap_or_default();
                    Error::new(
                        ErrorKind::Decode,
                        format!(
                            "{}: asked to resume from byte {from}, {} answered with Content-Range {shown:?}; \
                         refusing to splice",
                            self.name,
                            self.who()
                        ),
                    )
                    .marked(self.party)
                })?;
            if let (Some(size), Some(total)) = (size, range.total)
                && total != size
            {
                return Err(self.changed(format!("its Content-Range gives a total of {total} bytes, not {size}")));
            }
            let carried = range.last + 1 - range.first;
            if let Some(length) = length.filter(|l| *l != carried) {
                return Err(Error::new(
                    ErrorKind::Decode,
                    format!(
                        "{}: {} answered a range of {carried} bytes with a Content-Length of {length}",
                        self.name,
                        self.who()
                    ),
                )
                .marked(self.party));
            }
            (from, 0, Some(range.last + 1))
        } else {
            if let (Some(size), Some(length)) = (size, length)
                && length != size
            {
                return Err(self.changed(format!("it answers with {length} bytes, not {size}")));
            }
            match (&self.validator, validator(headers)) {
                // The same version: what comes before `from` is skipped.
                (Some(was), Some(now)) if *was == now => {}
                (Some(_), _) => {
                    return Err(self.changed("its ETag or Last-Modified changed".into()));
                }
                // A source that cannot say it is the same file is not resumed from its start.
                (None, _) if self.party == Party::Source && from > 0 => {
                    return Err(self.changed("it ignored Range and gives no ETag or Last-Modified to tell".into()));
                }
                (None, _) => {}
            }
            if from > 0 {
                tracing::info!(uri = %self.shown, "Range was ignored; reading the file from its start");
            }
            // A file known to be the same (or a source, refused above otherwise) is skipped up to
            // `from`; vCenter's file without a validator starts over from byte 0.
            let start = if self.validator.is_some() || self.party == Party::Source { from } else { 0 };
            (start, start, length.or(size))
        };
        let bytes = Body {
            name: self.name.clone(),
            who: self.who(),
            party: self.party,
            skip,
            position: start,
            end,
            answer_end,
        };
        Ok(Opened { start, bytes: bytes.stream(response) })
    }

    /// PUTs `len` bytes with an explicit `Content-Length`. The endpoint answers a refusal with a
    /// bare status; its body is read bounded and decoded once. A body that failed on the way (its
    /// source broke or its bytes did not match) fails the request with that failure.
    pub async fn put(&self, body: ByteStream, len: u64) -> Result<()> {
        let response = self
            .request(reqwest::Method::PUT)
            .header(CONTENT_LENGTH, len)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .map_err(|e| failed_body(&e).unwrap_or_else(|| transport(e)))?;
        if response.status().is_success() { Ok(()) } else { Err(from_transfer_response(response).await) }
    }

    /// Who answers, for messages.
    fn who(&self) -> String {
        match self.party {
            Party::Server => "the server".to_owned(),
            Party::Source => format!("the source {}", self.shown),
        }
    }

    fn unreachable(&self, error: reqwest::Error) -> Error {
        let error = transport(error);
        match self.party {
            Party::Server => error,
            Party::Source => error.with_detail(format!("fetching {}", self.shown)).by_source(),
        }
    }

    /// The error an answer that is not a success stands for. A source's keeps its status (a
    /// `503` or `429` is as transient from a source as from vCenter) and says what to do.
    async fn refused(&self, response: reqwest::Response) -> Error {
        let status = response.status();
        let inner = from_transfer_response(response).await;
        if self.party == Party::Server {
            return inner;
        }
        let hint = match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => "; give its credentials in the URL (user:password@)",
            StatusCode::NOT_FOUND => "; there is no file there",
            StatusCode::SERVICE_UNAVAILABLE | StatusCode::TOO_MANY_REQUESTS => "; it is busy or unavailable for now",
            _ => "",
        };
        let kind = match status {
            StatusCode::UNAUTHORIZED => ErrorKind::Unauthenticated,
            StatusCode::FORBIDDEN => ErrorKind::Unauthorized,
            StatusCode::NOT_FOUND => ErrorKind::NotFound,
            StatusCode::SERVICE_UNAVAILABLE => ErrorKind::ServiceUnavailable,
            _ => ErrorKind::Http,
        };
        let mut error = Error::new(kind, format!("the source {} answered HTTP {}{hint}", self.shown, status.as_u16()))
            .with_status(status.as_u16())
            .by_source();
        error.set_retry_after(inner.retry_after());
        error.with_source(inner)
    }

    /// A compressed (or otherwise encoded) answer is refused: only `identity` was accepted, and
    /// its bytes are not the file's.
    fn check_encoding(&self, headers: &HeaderMap) -> Result<()> {
        match headers.get(CONTENT_ENCODING).map(|v| v.to_str().unwrap_or("?").trim()) {
            None => Ok(()),
            Some(encoding) if encoding.eq_ignore_ascii_case("identity") || encoding.is_empty() => Ok(()),
            Some(encoding) => Err(Error::new(
                ErrorKind::Decode,
                format!(
                    "{}: {} sent it with Content-Encoding {:?}, which was not asked for; its bytes are not the file's",
                    self.name,
                    self.who(),
                    excerpt(encoding.as_bytes())
                ),
            )
            .marked(self.party)),
        }
    }

    /// The file is not the one declared (or first looked at): never spliced.
    fn changed(&self, why: String) -> Error {
        let message = match self.party {
            Party::Source => format!(
                "{} changed since the transfer began ({why}); refusing to splice its new bytes onto the old",
                self.shown
            ),
            Party::Server => format!("{}: the server's answer contradicts the file's declared size: {why}", self.name),
        };
        Error::verification(&self.name, message).marked(self.party)
    }
}

impl Error {
    /// Marks a source's error as the source's.
    fn marked(self, party: Party) -> Self {
        if party == Party::Source { self.by_source() } else { self }
    }
}

/// One answer's body: the bytes from `skip` on (a `200` to a ranged request), up to `end`,
/// checked against the end the answer itself declared.
struct Body {
    name: String,
    who: String,
    party: Party,
    /// Bytes at the body's start that come before the offset asked for.
    skip: u64,
    /// Where in the file the next byte passed on is.
    position: u64,
    /// Where the bytes wanted end (the file's declared size, or the end of a range).
    end: Option<u64>,
    /// Where the answer's bytes end, when it says (Content-Range, Content-Length).
    answer_end: Option<u64>,
}

impl Body {
    fn stream(self, response: reqwest::Response) -> ByteStream {
        let state = (Some(response.bytes_stream().boxed()), self);
        futures_util::stream::unfold(state, |(body, mut s)| async move {
            let mut body = body?;
            loop {
                // An answer wider than the bytes wanted is not read further.
                if let (Some(end), Some(answer_end)) = (s.end, s.answer_end)
                    && s.position >= end
                    && answer_end > end
                {
                    return None;
                }
                let mut chunk = match body.next().await {
                    Some(Ok(chunk)) => chunk,
                    Some(Err(e)) => {
                        let what = match s.party {
                            Party::Server => "the download broke off".to_owned(),
                            Party::Source => format!("{} broke off", s.who),
                        };
                        let error = Error::new(ErrorKind::Transport, what).with_source(e).marked(s.party);
                        return Some((Err(error), (None, s)));
                    }
                    None => {
                        let end = s.end.filter(|end| s.position < *end)?;
                        let message = format!("{}: {} ended the answer at byte {} of {end}", s.name, s.who, s.position);
                        return Some((Err(Error::new(ErrorKind::Transport, message).marked(s.party)), (None, s)));
                    }
                };
                let dropped = s.skip.min(chunk.len() as u64);
                s.skip -= dropped;
                let _ = chunk.split_to(dropped as usize);
                if let Some(end) = s.end {
                    let wanted = end.saturating_sub(s.position);
                    if chunk.len() as u64 > wanted {
                        if s.answer_end.is_none_or(|e| e <= end) {
                            // The answer goes on past the end it was declared to have.
                            let message = match s.party {
                                Party::Server => {
                                    format!("{}: the server sent more than the {end} bytes it declared", s.name)
                                }
                                Party::Source => {
                                    format!("{}: {} sent more than the {end} bytes it declared", s.name, s.who)
                                }
                            };
                            return Some((Err(Error::verification(&s.name, message).marked(s.party)), (None, s)));
                        }
                        chunk.truncate(wanted as usize);
                    }
                }
                s.position += chunk.len() as u64;
                if !chunk.is_empty() {
                    return Some((Ok(chunk), (Some(body), s)));
                }
            }
        })
        .boxed()
    }
}

/// A body that ended with our own error (a source that broke off, or whose bytes did not match
/// what it declared) fails the request with that error, not as the destination's refusal.
fn failed_body(error: &reqwest::Error) -> Option<Error> {
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        if let Some(ours) = e.downcast_ref::<Error>() {
            return Some(ours.relay());
        }
        cause = e.source();
    }
    None
}

/// `Content-Range: bytes FIRST-LAST/TOTAL` (TOTAL may be `*`).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ContentRange {
    pub first: u64,
    pub last: u64,
    pub total: Option<u64>,
}

impl ContentRange {
    pub fn parse(value: &str) -> Option<Self> {
        let (range, total) = value.trim().strip_prefix("bytes ")?.split_once('/')?;
        let (first, last) = range.split_once('-')?;
        let number = |s: &str| s.trim().parse::<u64>().ok();
        let total = match total.trim() {
            "*" => None,
            t => Some(number(t)?),
        };
        let (first, last) = (number(first)?, number(last)?);
        (first <= last && total.is_none_or(|t| last < t)).then_some(Self { first, last, total })
    }

    fn of(headers: &HeaderMap) -> Option<Self> {
        Self::parse(headers.get(CONTENT_RANGE)?.to_str().ok()?)
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers.get(CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// `ETag`, else `Last-Modified`.
fn validator(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(ETAG).or_else(|| headers.get(LAST_MODIFIED))?;
    value.to_str().ok().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_ranges() {
        let r = |first, last, total| Some(ContentRange { first, last, total });
        assert_eq!(ContentRange::parse("bytes 100-199/200"), r(100, 199, Some(200)));
        assert_eq!(ContentRange::parse("bytes 0-0/1"), r(0, 0, Some(1)));
        assert_eq!(ContentRange::parse("bytes 5-9/*"), r(5, 9, None));
        for bad in ["bytes */200", "items 1-2/3", "", "bytes 9-5/10", "bytes 0-10/10", "bytes 1-2", "bytes a-b/c"] {
            assert_eq!(ContentRange::parse(bad), None, "{bad}");
        }
    }
}
