//! The one place transfer HTTP requests are made: a URI the server handed out, checked against
//! the API's origin and the trust settings, with "GET from offset N" and "PUT this body of
//! length N". Downloads, uploads and every route built on them go through it.

use bytes::Bytes;
use cl_api::types::TransferEndpoint;
use futures_util::StreamExt;
use futures_util::stream::BoxStream;
use reqwest::Url;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, CONTENT_TYPE, RANGE};

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

/// A transfer URI of one file, ready for requests.
pub(crate) struct Endpoint {
    /// The file's name, for messages.
    name: String,
    url: Url,
    /// The client's own transfer client, or one pinned to the endpoint's certificate.
    http: reqwest::Client,
    /// The API session token, only when the endpoint is on the API's own origin.
    token: Option<String>,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint").field("name", &self.name).field("url", &origin::redact(self.url.as_str())).finish()
    }
}

impl Endpoint {
    /// Checks the URI the server gave for `name` (http or https only), picks the HTTP client its
    /// pin (or the client's trust) calls for, and decides whether the session token may go along.
    pub fn new(client: &Client, endpoint: &TransferEndpoint, name: &str) -> Result<Self> {
        let url = origin::endpoint_url(endpoint, name)?;
        let http = client.transfer_http(endpoint)?;
        let token = client.token_for(&url);
        Ok(Self { name: name.to_owned(), url, http, token })
    }

    /// The URI, for logs (credentials in it redacted).
    pub fn shown(&self) -> String {
        origin::redact(self.url.as_str())
    }

    fn request(&self, method: reqwest::Method) -> reqwest::RequestBuilder {
        let request = self.http.request(method, self.url.clone());
        match &self.token {
            Some(token) => request.header(cl_api::SESSION_HEADER, token),
            None => request,
        }
    }

    /// GETs the file from byte `from`. A `206` must start exactly there (anything else is refused,
    /// never spliced); a `200` to a ranged request means the server ignored `Range` and the bytes
    /// start at 0. Not a byte past `size` (when declared) is passed on, and a body that breaks
    /// off ends the stream with a [`Transport`](ErrorKind::Transport) error, worth resuming.
    /// Stalls end it the same way (the transfer clients' read timeout).
    pub async fn get(&self, from: u64, size: Option<u64>) -> Result<Opened> {
        let mut request = self.request(reqwest::Method::GET);
        if from > 0 {
            request = request.header(RANGE, format!("bytes={from}-"));
        }
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        let start = if status == reqwest::StatusCode::PARTIAL_CONTENT {
            let range = response.headers().get(CONTENT_RANGE).and_then(|v| v.to_str().ok()).unwrap_or("");
            if content_range_start(range) != Some(from) {
                return Err(Error::new(
                    ErrorKind::Decode,
                    format!(
                        "{}: asked to resume from byte {from}, the server answered with Content-Range {:?}; \
                         refusing to splice",
                        self.name,
                        excerpt(range.as_bytes())
                    ),
                ));
            }
            from
        } else if status.is_success() {
            if from > 0 {
                tracing::info!(uri = %self.shown(), "server ignored Range; restarting the file");
            }
            0
        } else {
            return Err(from_transfer_response(response).await);
        };
        let name = self.name.clone();
        let mut position = start;
        let bytes = response.bytes_stream().map(move |chunk| {
            let chunk = chunk.map_err(|e| Error::new(ErrorKind::Transport, "the download broke off").with_source(e))?;
            position += chunk.len() as u64;
            match size {
                Some(size) if position > size => Err(Error::verification(
                    &name,
                    format!("{name}: the server sent more than the {size} bytes it declared"),
                )),
                _ => Ok(chunk),
            }
        });
        Ok(Opened { start, bytes: bytes.boxed() })
    }

    /// PUTs `len` bytes with an explicit `Content-Length`. The endpoint answers a refusal with a
    /// bare status; its body is read bounded and decoded once.
    pub async fn put(&self, body: ByteStream, len: u64) -> Result<()> {
        let response = self
            .request(reqwest::Method::PUT)
            .header(CONTENT_LENGTH, len)
            .header(CONTENT_TYPE, "application/octet-stream")
            .body(reqwest::Body::wrap_stream(body))
            .send()
            .await
            .map_err(|e| refused_body(&e).unwrap_or_else(|| transport(e)))?;
        if response.status().is_success() { Ok(()) } else { Err(from_transfer_response(response).await) }
    }
}

/// A body that ended with a verification error (a source whose bytes did not match what it
/// declared) fails the request with that error, not as a broken connection worth repeating.
fn refused_body(error: &reqwest::Error) -> Option<Error> {
    let mut cause = std::error::Error::source(error);
    while let Some(e) = cause {
        if let Some(ours) = e.downcast_ref::<Error>()
            && ours.kind() == ErrorKind::Verification
        {
            let refused = Error::new(ErrorKind::Verification, ours.message());
            return Some(match ours.detail() {
                Some(detail) => refused.with(detail.clone()),
                None => refused,
            });
        }
        cause = e.source();
    }
    None
}

/// The first byte of a `Content-Range: bytes START-END/TOTAL` header.
fn content_range_start(value: &str) -> Option<u64> {
    value.strip_prefix("bytes ")?.split('-').next()?.trim().parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_starts() {
        assert_eq!(content_range_start("bytes 100-199/200"), Some(100));
        assert_eq!(content_range_start("bytes 0-0/1"), Some(0));
        assert_eq!(content_range_start("bytes */200"), None);
        assert_eq!(content_range_start("items 1-2/3"), None);
        assert_eq!(content_range_start(""), None);
    }
}
