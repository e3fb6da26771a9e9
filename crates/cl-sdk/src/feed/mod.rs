//! VCSP feeds read from a URL or a folder: the one reader ([`Origin`]) the checker and the
//! mirror share. Credentials come only from the URL and go only to its origin; redirects stay
//! on it; documents are read up to 16 MiB; hrefs that leave the feed are refused, never followed.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, ErrorKind, Result};

pub(crate) mod check;
pub(crate) mod mirror;
#[cfg(feature = "s3")]
pub(crate) mod s3;

/// The largest `lib.json`, `items.json` or `item.json` read.
const DOCUMENT_LIMIT: usize = 16 << 20;

/// Where a feed is.
pub(crate) enum Origin {
    Dir(PathBuf),
    Url { lib: reqwest::Url, client: reqwest::Client },
}

impl Origin {
    pub(crate) fn open(location: &str) -> Result<Self> {
        if location.starts_with("http://") || location.starts_with("https://") {
            let lib = reqwest::Url::parse(location)
                .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("{location:?} is not a URL: {e}")))?;
            let origin = lib.origin();
            cl_tls::install_crypto_provider();
            let client = reqwest::Client::builder()
                .connect_timeout(Duration::from_secs(10))
                .read_timeout(Duration::from_secs(30))
                // Credentials in the URL go to its origin only.
                .redirect(reqwest::redirect::Policy::custom(move |a| {
                    if a.url().origin() == origin && a.previous().len() < 5 { a.follow() } else { a.stop() }
                }))
                .build()
                .map_err(|e| Error::new(ErrorKind::InvalidInput, e.to_string()))?;
            Ok(Self::Url { lib, client })
        } else {
            let path = PathBuf::from(location);
            let root = if path.is_dir() { path } else { path.parent().map(Path::to_owned).unwrap_or_default() };
            Ok(Self::Dir(root))
        }
    }

    pub(crate) fn request(&self, url: &reqwest::Url, head: bool) -> Option<reqwest::RequestBuilder> {
        let Self::Url { lib, client } = self else { return None };
        let mut request = if head { client.head(url.clone()) } else { client.get(url.clone()) };
        if !lib.username().is_empty() && url.origin() == lib.origin() {
            let password =
                lib.password().map(|p| percent_encoding::percent_decode_str(p).decode_utf8_lossy().into_owned());
            let user = percent_encoding::percent_decode_str(lib.username()).decode_utf8_lossy().into_owned();
            request = request.basic_auth(user, password);
        }
        Some(request)
    }

    /// Where `href` (relative to `lib.json`) points, shown as a subscriber would fetch it.
    pub(crate) fn resolve(&self, href: &str) -> std::result::Result<Target, String> {
        match self {
            Self::Url { lib, .. } => {
                let url = lib.join(href).map_err(|e| format!("{href:?} does not resolve: {e}"))?;
                if url.origin() != lib.origin() {
                    return Err(format!("{href:?} leaves the feed's server"));
                }
                Ok(Target::Url(url))
            }
            Self::Dir(root) => {
                let segments = href_segments(href).map_err(|why| format!("{href:?} {why}"))?;
                let path = segments.iter().fold(root.clone(), |path, s| path.join(s));
                Ok(Target::Path(path))
            }
        }
    }

    pub(crate) async fn document<T: serde::de::DeserializeOwned>(
        &self,
        target: &Target,
    ) -> std::result::Result<T, String> {
        let bytes = match target {
            Target::Path(path) => {
                let len = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?.len();
                if len > DOCUMENT_LIMIT as u64 {
                    return Err(format!("{} is larger than 16 MiB", path.display()));
                }
                std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?
            }
            Target::Url(url) => {
                let response =
                    self.request(url, false).expect("a URL feed").send().await.map_err(|e| format!("{url}: {e}"))?;
                if !response.status().is_success() {
                    return Err(format!("{url} answered HTTP {}", response.status().as_u16()));
                }
                let mut body = Vec::new();
                let mut response = response;
                while let Some(chunk) = response.chunk().await.map_err(|e| format!("{url}: {e}"))? {
                    if body.len() + chunk.len() > DOCUMENT_LIMIT {
                        return Err(format!("{url} is larger than 16 MiB"));
                    }
                    body.extend_from_slice(&chunk);
                }
                body
            }
        };
        serde_json::from_slice(&bytes).map_err(|e| format!("not a VCSP document: {e}"))
    }

    /// The size a subscriber would get for `target`.
    pub(crate) async fn size(&self, target: &Target) -> std::result::Result<u64, String> {
        match target {
            Target::Path(path) => match std::fs::metadata(path) {
                Ok(meta) if meta.is_file() => Ok(meta.len()),
                Ok(_) => Err(format!("{} is not a file", path.display())),
                Err(e) => Err(format!("{}: {e}", path.display())),
            },
            Target::Url(url) => {
                let response =
                    self.request(url, true).expect("a URL feed").send().await.map_err(|e| format!("{url}: {e}"))?;
                if !response.status().is_success() {
                    return Err(format!("{url} answered HTTP {}", response.status().as_u16()));
                }
                response
                    .headers()
                    .get(reqwest::header::CONTENT_LENGTH)
                    .and_then(|v| v.to_str().ok()?.parse().ok())
                    .ok_or_else(|| format!("{url} gives no Content-Length"))
            }
        }
    }
}

/// The one rule for where a feed's href lands on disk (a folder being checked, a mirror, the
/// keys of an upload): a path relative to `lib.json` whose segments, percent-decoded, are each a
/// plain name and not hidden (partial files are hidden, and web servers refuse dot-files).
pub(crate) fn href_segments(href: &str) -> std::result::Result<Vec<String>, &'static str> {
    if href.starts_with('/') || href.contains("://") || href.contains(['?', '#']) {
        return Err("is not a path relative to lib.json");
    }
    href.split('/')
        .map(|segment| {
            let segment =
                percent_encoding::percent_decode_str(segment).decode_utf8().map_err(|_| "is not UTF-8 once decoded")?;
            if crate::transfer::names::plain(&segment).is_err() || segment.starts_with('.') {
                return Err("climbs out of the feed or has a segment that is not a plain name");
            }
            Ok(segment.into_owned())
        })
        .collect()
}

pub(crate) enum Target {
    Path(PathBuf),
    Url(reqwest::Url),
}
