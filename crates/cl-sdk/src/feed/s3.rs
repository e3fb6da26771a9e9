//! A published folder's feed written to S3-compatible object storage, through `object_store`
//! (no hand-written signing): content first, then every `item.json`, the index, and `lib.json`
//! last (a subscriber's commit point). Only what changed is uploaded: each object carries its
//! SHA-256 as metadata (`x-amz-meta-sha256`), and an object of the same size and checksum is
//! left alone. Large files go up in parts, streamed from disk.

use std::path::Path;

use cl_vcsp::{Items, Lib};
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path as Key;
use object_store::{Attribute, Attributes, GetOptions, ObjectStore, PutMultipartOptions, PutOptions, WriteMultipart};
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};

/// Files larger than this go up in parts of this size.
const PART: usize = 16 << 20;
/// The metadata key of an object's SHA-256.
const SHA256: &str = "sha256";

/// Where and how to write: `s3://BUCKET/PREFIX`, with the endpoint, region and credentials from
/// the standard AWS variables (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_REGION` or
/// `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` for S3-compatible servers, `AWS_ALLOW_HTTP=true` for
/// a plain-http one) unless set here.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::publish::{S3Target, upload_feed};
/// let target = S3Target::new("s3://images/feed");
/// upload_feed(std::path::Path::new("/srv/feed"), &target).await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct S3Target {
    /// `s3://BUCKET/PREFIX`.
    pub url: String,
    /// The endpoint of an S3-compatible server (`http://127.0.0.1:9000`).
    pub endpoint: Option<String>,
    /// The region.
    pub region: Option<String>,
    /// The access key and secret.
    pub credentials: Option<(String, String)>,
}

impl std::fmt::Debug for S3Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Target")
            .field("url", &self.url)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("credentials", &self.credentials.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl S3Target {
    /// `s3://BUCKET/PREFIX` with everything else from the environment.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::publish::{S3Target, upload_feed};
    /// let target = S3Target::new("s3://images/feed");
    /// # let _ = target;
    /// # Ok(()) }
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), ..Default::default() }
    }

    fn store(&self) -> Result<(AmazonS3, String)> {
        let bad = |why: &str| Error::new(ErrorKind::InvalidInput, format!("{:?} {why}", self.url));
        let rest = self.url.strip_prefix("s3://").ok_or_else(|| bad("is not an s3://BUCKET/PREFIX URL"))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(bad("names no bucket"));
        }
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL") {
            builder = builder.with_endpoint(endpoint);
        }
        if std::env::var("AWS_REGION").is_ok_and(|r| !r.is_empty()) {
            builder = builder.with_region(std::env::var("AWS_REGION").unwrap_or_default());
        }
        if let Some(endpoint) = &self.endpoint {
            builder = builder.with_endpoint(endpoint).with_allow_http(endpoint.starts_with("http://"));
        }
        if let Some(region) = &self.region {
            builder = builder.with_region(region);
        }
        if let Some((key, secret)) = &self.credentials {
            builder = builder.with_access_key_id(key).with_secret_access_key(secret);
        }
        let store = builder.build().map_err(|e| Error::new(ErrorKind::InvalidInput, format!("S3 settings: {e}")))?;
        Ok((store, prefix.trim_matches('/').to_owned()))
    }
}

/// What [`upload_feed`] did.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::publish::{S3Target, upload_feed};
/// let report = upload_feed(std::path::Path::new("/srv/feed"), &S3Target::new("s3://images/feed")).await?;
/// println!("{report:?}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct S3Report {
    /// Objects written, and their bytes.
    pub uploaded: usize,
    /// Bytes written.
    pub bytes: u64,
    /// Objects already holding the same bytes.
    pub unchanged: usize,
}

/// Writes the feed in `dir` (as [`publish_folder`](crate::publish::publish_folder) wrote it) and
/// every file it references to `target`.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::publish::{S3Target, upload_feed};
/// let report = upload_feed(std::path::Path::new("/srv/feed"), &S3Target::new("s3://images/feed")).await?;
/// println!("{report:?}");
/// # Ok(()) }
/// ```
pub async fn upload_feed(dir: &Path, target: &S3Target) -> Result<S3Report> {
    cl_tls::install_crypto_provider();
    let (store, prefix) = target.store()?;
    let read = |name: &str| -> Result<Vec<u8>> {
        let path = dir.join(name);
        std::fs::read(&path)
            .map_err(|e| Error::new(ErrorKind::Io, format!("{}: {e}; publish the folder first", path.display())))
    };
    let lib_bytes = read("lib.json")?;
    let lib: Lib = serde_json::from_slice(&lib_bytes)
        .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("lib.json: {e}")))?;
    let items: Items = serde_json::from_slice(&read(&lib.items_href)?)
        .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("{}: {e}", lib.items_href)))?;

    // Content, then item.json files, then the index, then lib.json.
    let mut order: Vec<String> = Vec::new();
    for item in &items.items {
        order.extend(item.files.iter().filter_map(|f| f.hrefs.first().cloned()));
    }
    order.extend(items.items.iter().filter_map(|i| i.self_href.clone()));
    order.push(lib.items_href.clone());
    order.push("lib.json".to_owned());
    let mut report = S3Report::default();
    let hashes = crate::publish::Hashes::load(dir);
    for href in order {
        let relative = decoded(&href)?;
        let path = dir.join(&relative);
        let key = Key::from(if prefix.is_empty() { relative.clone() } else { format!("{prefix}/{relative}") });
        // The publish just hashed the content: its kept checksums spare a second read.
        let (size, sha256) = hashes
            .sha256(&relative)
            .map_err(|e| Error::new(ErrorKind::Io, format!("{}: {e}", path.display())).with_source(e))?;
        let head = GetOptions { head: true, ..Default::default() };
        if let Ok(existing) = store.get_opts(&key, head).await
            && existing.meta.size == size
            && existing.attributes.get(&Attribute::Metadata(SHA256.into())).is_some_and(|v| v.as_ref() == sha256)
        {
            report.unchanged += 1;
            continue;
        }
        put(&store, &key, &path, size, &sha256).await?;
        report.uploaded += 1;
        report.bytes += size;
    }
    Ok(report)
}

/// An href as the relative path it is in the folder.
fn decoded(href: &str) -> Result<String> {
    let segments = super::href_segments(href)
        .map_err(|why| Error::new(ErrorKind::UnsafePath, format!("the feed's href {href:?} {why}")))?;
    Ok(segments.join("/"))
}

async fn put(store: &AmazonS3, key: &Key, path: &Path, size: u64, sha256: &str) -> Result<()> {
    let failed = |e: object_store::Error| Error::new(ErrorKind::Transport, format!("writing {key}: {e}"));
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("{}: {e}", path.display())).with_source(e);
    let mut attributes = Attributes::new();
    attributes.insert(Attribute::Metadata(SHA256.into()), sha256.to_owned().into());
    if path.extension().is_some_and(|e| e == "json") {
        attributes.insert(Attribute::ContentType, "application/json".into());
    }
    if size <= PART as u64 {
        let bytes = tokio::fs::read(path).await.map_err(io)?;
        let options = PutOptions { attributes, ..Default::default() };
        store.put_opts(key, bytes.into(), options).await.map_err(failed)?;
        return Ok(());
    }
    let options = PutMultipartOptions { attributes, ..Default::default() };
    let upload = store.put_multipart_opts(key, options).await.map_err(failed)?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, PART);
    let mut file = tokio::fs::File::open(path).await.map_err(io)?;
    let mut buf = vec![0u8; PART];
    loop {
        // Bounded memory: at most a few parts in flight.
        writer.wait_for_capacity(2).await.map_err(failed)?;
        let n = tokio::io::AsyncReadExt::read(&mut file, &mut buf).await.map_err(io)?;
        if n == 0 {
            break;
        }
        writer.write(&buf[..n]);
    }
    writer.finish().await.map_err(failed)?;
    Ok(())
}
