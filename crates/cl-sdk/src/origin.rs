//! Where secrets may go: the API's own origin (scheme, host and port) and nowhere else.
//!
//! The session token and the login credentials are sent only to the origin the client was built
//! for: never to a transfer endpoint on another host or port, never over plain http when the API
//! is https, and never along a redirect that leaves the origin (such redirects are refused, since
//! HTTP clients carry custom headers across them).

use std::fmt;

use cl_api::types::TransferEndpoint;
use reqwest::Url;

use crate::error::{Error, ErrorKind, Result};

/// Parses the API's base URL: http or https, no credentials, query or fragment in it. The error
/// never repeats the URL's user information.
pub(crate) fn parse_base(url: &str) -> Result<Url> {
    let shown = redact(url);
    let parsed = Url::parse(url.trim())
        .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("{shown:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(Error::new(ErrorKind::InvalidInput, format!("{shown:?} is not an http(s) URL with a host")));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            format!("{shown:?} holds credentials; give them to ClientBuilder::credentials instead"),
        ));
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        return Err(Error::new(ErrorKind::InvalidInput, format!("{shown:?}: give the server's base URL only")));
    }
    Ok(parsed)
}

/// `url` with its user information (anything between `://` and `@`) replaced, for messages.
///
/// ```
/// assert_eq!(cl_sdk::redact_url("https://root:s3cret@vc.example/"), "https://<redacted>@vc.example/");
/// ```
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(start), Some(at)) if at > start + 3 && !url[start + 3..at].contains('/') => {
            format!("{}://<redacted>@{}", &url[..start], &url[at + 1..])
        }
        _ => url.to_owned(),
    }
}

/// Scheme, host and port equal (ports compared with the scheme's default filled in).
pub(crate) fn same_origin(a: &Url, b: &Url) -> bool {
    a.scheme() == b.scheme() && a.host() == b.host() && a.port_or_known_default() == b.port_or_known_default()
}

/// The URL of a transfer endpoint: only http and https can be transferred by a client. (`file:`
/// and `ds:` are valid only as PULL sources, which the server itself reads.)
pub(crate) fn endpoint_url(endpoint: &TransferEndpoint, file: &str) -> Result<Url> {
    let url = Url::parse(endpoint.uri.trim()).map_err(|e| {
        Error::new(ErrorKind::Decode, format!("the server's transfer URI for {file:?} is not a URL: {e}"))
    })?;
    match url.scheme() {
        "http" | "https" if url.host_str().is_some_and(|h| !h.is_empty()) => Ok(url),
        scheme => Err(Error::new(
            ErrorKind::Decode,
            format!(
                "the server offers {file:?} at a {scheme}: URI, which a client cannot transfer \
                 (only http and https; file: and ds: are sources the server itself reads)"
            ),
        )),
    }
}

/// A redirect that was not followed because it left the origin of the request.
#[derive(Debug)]
pub(crate) struct RedirectRefused {
    from: String,
    to: String,
}

impl fmt::Display for RedirectRefused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "refused a redirect from {} to {}: it leaves the server's origin", self.from, self.to)
    }
}

impl std::error::Error for RedirectRefused {}

/// Follows redirects within the origin of the first request (at most 10), refuses the rest.
pub(crate) fn redirect_policy() -> reqwest::redirect::Policy {
    policy(same_origin)
}

/// The redirects a source outside vCenter may take (at most 10): within its origin, or to
/// another https origin unless `pinned`; never from https to http.
pub(crate) fn source_redirect_policy(pinned: bool) -> reqwest::redirect::Policy {
    policy(move |first, next| {
        let downgrade = first.scheme() == "https" && next.scheme() != "https";
        !downgrade && (!pinned || same_origin(first, next))
    })
}

/// Follows at most 10 redirects that `allowed(first request, next)` lets through; refuses the
/// rest as [`RedirectRefused`] before anything is sent to the new place.
fn policy(allowed: impl Fn(&Url, &Url) -> bool + Send + Sync + 'static) -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(move |attempt| {
        let Some(first) = attempt.previous().first() else { return attempt.stop() };
        if !allowed(first, attempt.url()) {
            let refused = RedirectRefused { from: origin_of(first), to: origin_of(attempt.url()) };
            attempt.error(refused)
        } else if attempt.previous().len() > 10 {
            attempt.error("more than 10 redirects")
        } else {
            attempt.follow()
        }
    })
}

fn origin_of(url: &Url) -> String {
    url.origin().ascii_serialization()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> Url {
        Url::parse(s).unwrap()
    }

    #[test]
    fn origins() {
        assert!(same_origin(&url("https://vc.example:443/api"), &url("https://VC.example/cls/data/x")));
        assert!(!same_origin(&url("https://vc.example"), &url("http://vc.example")));
        assert!(!same_origin(&url("https://vc.example"), &url("https://vc.example:8443")));
        assert!(!same_origin(&url("https://vc.example"), &url("https://evil.example")));
        assert!(!same_origin(&url("https://127.0.0.1:9"), &url("https://127.0.0.2:9")));
    }

    #[test]
    fn base_urls() {
        assert_eq!(parse_base("https://vc.example").unwrap().as_str(), "https://vc.example/");
        for bad in ["ftp://vc", "vc.example", "https://", "file:///etc/passwd", "https://vc?x=1"] {
            assert_eq!(parse_base(bad).unwrap_err().kind(), ErrorKind::InvalidInput, "{bad}");
        }
        let error = parse_base("https://root:hunter2@vc.example").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let error = parse_base("ht!tp://root:hunter2@vc").unwrap_err();
        assert!(!error.to_string().contains("hunter2"), "{error}");
    }

    #[test]
    fn endpoint_schemes() {
        let at =
            |uri: &str| TransferEndpoint { uri: uri.into(), ssl_certificate: None, ssl_certificate_thumbprint: None };
        assert!(endpoint_url(&at("https://esx.example/x"), "f").is_ok());
        assert!(endpoint_url(&at("http://esx.example/x"), "f").is_ok());
        for bad in ["file:///etc/passwd", "ds:///vmfs/volumes/x", "ftp://h/x", "gopher://h", "nonsense", "https://"] {
            let error = endpoint_url(&at(bad), "f").unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Decode, "{bad}");
            assert!(!error.is_retryable());
        }
    }

    #[test]
    fn redaction() {
        assert_eq!(redact("https://u:p@h/x"), "https://<redacted>@h/x");
        assert_eq!(redact("https://h/a@b"), "https://h/a@b");
        assert_eq!(redact("h"), "h");
    }
}
