//! Mirroring a remote feed into a folder that is itself a feed, for sites that cannot reach the
//! original: the same ids, versions, etags and hrefs, so subscribers that switch to the mirror
//! re-download nothing. Incremental: an unchanged library `version` costs one GET of
//! `lib.json`; otherwise only items whose `version` changed (or whose files are missing) are
//! fetched. Files are streamed to hidden partial files, checked against the feed's size (and an
//! item's manifest, where it has one), and renamed into place; a cut resumes with `Range` when
//! the feed still describes the same file. `lib.json` is written last: it is the mirror's
//! commit point.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use cl_vcsp::{File, Item, Items, Lib};
use futures_util::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use super::{Origin, Target};
use crate::error::{Error, ErrorKind, Result};

/// Files fetched at once.
const CONCURRENCY: usize = 4;

/// What [`mirror_feed`] did.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// let report = cl_sdk::publish::mirror_feed("https://cdn.example.com/lib.json", std::path::Path::new("/srv/mirror")).await?;
/// println!("{report:?}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct MirrorReport {
    /// The library version now mirrored.
    pub version: String,
    /// Items whose files were fetched.
    pub fetched_items: Vec<String>,
    /// Files fetched, and their bytes.
    pub files: usize,
    /// Bytes fetched (a resumed file counts what was fetched this time).
    pub bytes: u64,
    /// Items left as they were.
    pub unchanged_items: usize,
    /// Items the remote feed no longer has (their files are left in place).
    pub removed_items: Vec<String>,
}

/// What a partial file is a part of, so it is resumed only while the feed still describes the
/// same file.
#[derive(Serialize, Deserialize, PartialEq)]
struct PartOf {
    href: String,
    size: u64,
    etag: Option<String>,
    generation_num: Option<i64>,
}

/// Mirrors the feed whose `lib.json` is at `url` into `dest` (created if missing).
///
/// ```no_run
/// # async fn demo() -> cl_sdk::Result<()> {
/// let report = cl_sdk::publish::mirror_feed("https://wp-content.vmware.com/v2/latest/lib.json", "/srv/mirror".as_ref()).await?;
/// println!("{} files, {} bytes", report.files, report.bytes);
/// # Ok(()) }
/// ```
pub async fn mirror_feed(url: &str, dest: &Path) -> Result<MirrorReport> {
    if !url.starts_with("http://") && !url.starts_with("https://") {
        return Err(Error::new(ErrorKind::InvalidInput, format!("{url:?} is not an http(s) URL of a feed's lib.json")));
    }
    let origin = Origin::open(url)?;
    let Origin::Url { lib: lib_url, .. } = &origin else { unreachable!("an http(s) URL") };
    let unreadable = |what: &str, why: String| Error::new(ErrorKind::Transport, format!("the feed's {what}: {why}"));
    let lib: Lib = origin.document(&Target::Url(lib_url.clone())).await.map_err(|why| unreadable("lib.json", why))?;
    std::fs::create_dir_all(dest).map_err(|e| io(dest, e))?;
    let local_lib: Option<Lib> = read(&dest.join("lib.json"));
    let local_items: Option<Items> = read(&dest.join("items.json"));
    // An unchanged feed whose files are all here (a look at their sizes) needs nothing more.
    if let (Some(local), Some(items)) = (&local_lib, &local_items)
        && local.id == lib.id
        && local.version == lib.version
        && items.items.iter().flat_map(|i| &i.files).all(|f| {
            f.hrefs
                .first()
                .and_then(|h| local_path(dest, h).ok())
                .is_some_and(|p| std::fs::metadata(p).is_ok_and(|m| m.len() == f.size))
        })
    {
        return Ok(MirrorReport { version: lib.version, unchanged_items: items.items.len(), ..Default::default() });
    }
    let items_target = origin.resolve(&lib.items_href).map_err(|why| unreadable("itemsHref", why))?;
    let items: Items = origin.document(&items_target).await.map_err(|why| unreadable("index", why))?;

    // Every document and file the mirror writes has a path of its own: two references that land
    // on one path (or on lib.json) would overwrite each other, and so would two that differ only
    // in case on the file systems that ignore it (as downloads refuse them too).
    let folded = |path: PathBuf| path.to_string_lossy().to_lowercase();
    let mut claimed =
        std::collections::BTreeSet::from([folded(dest.join("lib.json")), folded(local_path(dest, &lib.items_href)?)]);
    let all_hrefs =
        items.items.iter().flat_map(|i| i.self_href.iter().chain(i.files.iter().flat_map(|f| f.hrefs.first())));
    for href in all_hrefs {
        if !claimed.insert(folded(local_path(dest, href)?)) {
            return Err(Error::new(
                ErrorKind::Verification,
                format!(
                    "the feed names {href:?} twice, or over one of its own documents (case aside); nothing was mirrored"
                ),
            ));
        }
    }
    let local: BTreeMap<&str, &Item> = local_items.iter().flat_map(|i| &i.items).map(|i| (i.id.as_str(), i)).collect();
    let mut report = MirrorReport { version: lib.version.clone(), ..Default::default() };
    let mut jobs = Vec::new();
    for item in &items.items {
        let mut paths = Vec::new();
        for file in &item.files {
            let href = file.hrefs.first().ok_or_else(|| {
                Error::new(ErrorKind::Verification, format!("item {:?}: file {:?} has no href", item.name, file.name))
            })?;
            paths.push((file, local_path(dest, href)?));
        }
        let fresh = local.get(item.id.as_str()).is_some_and(|l| l.version == item.version && l.files == item.files)
            && paths.iter().all(|(f, p)| std::fs::metadata(p).is_ok_and(|m| m.len() == f.size));
        if fresh {
            report.unchanged_items += 1;
            continue;
        }
        report.fetched_items.push(item.name.clone());
        for (file, path) in paths {
            let href = &file.hrefs[0];
            let target = origin
                .resolve(href)
                .map_err(|why| Error::new(ErrorKind::Verification, format!("item {:?}: {why}", item.name)))?;
            let Target::Url(url) = target else { unreachable!("a URL feed") };
            jobs.push((file.clone(), url, path));
        }
    }
    let fetched: Vec<u64> = futures_util::stream::iter(jobs.into_iter().map(|(file, url, path)| {
        let origin = &origin;
        async move { fetch(origin, &file, url, &path).await }
    }))
    .buffer_unordered(CONCURRENCY)
    .try_collect()
    .await?;
    report.files = fetched.len();
    report.bytes = fetched.iter().sum();
    for item in items.items.iter().filter(|i| report.fetched_items.contains(&i.name)) {
        verify_manifest(dest, item)?;
    }
    report.removed_items =
        local.values().filter(|l| !items.items.iter().any(|i| i.id == l.id)).map(|l| l.name.clone()).collect();

    // item.json files, the index, then lib.json: the mirror's commit point.
    for item in &items.items {
        if let Some(self_href) = &item.self_href {
            write(&local_path(dest, self_href)?, item)?;
        }
    }
    write(&local_path(dest, &lib.items_href)?, &items)?;
    write(&dest.join("lib.json"), &lib)?;
    Ok(report)
}

/// Where an href lands in the mirror: relative to the root, every segment decoded and plain.
fn local_path(dest: &Path, href: &str) -> Result<PathBuf> {
    let segments = super::href_segments(href).map_err(|why| {
        Error::new(ErrorKind::UnsafePath, format!("the feed's href {href:?} {why}; it is not mirrored"))
    })?;
    Ok(segments.iter().fold(dest.to_owned(), |path, s| path.join(s)))
}

/// Fetches one file into `path` through a hidden partial beside it; returns the bytes fetched.
async fn fetch(origin: &Origin, file: &File, url: reqwest::Url, path: &Path) -> Result<u64> {
    let dir = path.parent().expect("a path under the mirror");
    tokio::fs::create_dir_all(dir).await.map_err(|e| io(dir, e))?;
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let partial = dir.join(format!(".{name}.partial"));
    let marker = dir.join(format!(".{name}.partial.json"));
    let part_of = PartOf {
        href: file.hrefs[0].clone(),
        size: file.size,
        etag: file.etag.clone(),
        generation_num: file.generation_num,
    };
    // Resume only a partial of this very file, as the feed describes it now.
    let mut have = match (read::<PartOf>(&marker), tokio::fs::metadata(&partial).await) {
        (Some(p), Ok(meta)) if p == part_of && meta.len() <= file.size => meta.len(),
        _ => 0,
    };
    if have == 0 {
        let _ = tokio::fs::remove_file(&partial).await;
        let json = serde_json::to_vec(&part_of).expect("serializes");
        tokio::fs::write(&marker, json).await.map_err(|e| io(&marker, e))?;
    }
    let mut request = origin.request(&url, false).expect("a URL feed");
    if have > 0 {
        request = request.header(reqwest::header::RANGE, format!("bytes={have}-"));
    }
    let transport = |e: reqwest::Error| Error::new(ErrorKind::Transport, format!("{url}: {e}")).with_source(e);
    let response = request.send().await.map_err(transport)?;
    let status = response.status();
    let resumed =
        have > 0 && status == reqwest::StatusCode::PARTIAL_CONTENT && content_range_start(&response) == Some(have);
    if !resumed {
        if !status.is_success() || status == reqwest::StatusCode::PARTIAL_CONTENT {
            return Err(Error::new(ErrorKind::Http, format!("{url} answered HTTP {}", status.as_u16())));
        }
        have = 0;
    }
    let file_out = tokio::fs::OpenOptions::new()
        .create(true)
        .write(true)
        .append(resumed)
        .truncate(!resumed)
        .open(&partial)
        .await
        .map_err(|e| io(&partial, e))?;
    // Network chunks are small; each write to a tokio file is a trip to the blocking pool.
    let mut out = tokio::io::BufWriter::with_capacity(1 << 20, file_out);
    let mut fetched = 0u64;
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(transport)?;
        if have + fetched + chunk.len() as u64 > file.size {
            return Err(Error::new(
                ErrorKind::Verification,
                format!("{url} sends more than the feed's {} bytes", file.size),
            )
            .with(crate::Detail::File(file.name.clone())));
        }
        tokio::io::AsyncWriteExt::write_all(&mut out, &chunk).await.map_err(|e| io(&partial, e))?;
        fetched += chunk.len() as u64;
    }
    tokio::io::AsyncWriteExt::flush(&mut out).await.map_err(|e| io(&partial, e))?;
    out.into_inner().sync_all().await.map_err(|e| io(&partial, e))?;
    if have + fetched != file.size {
        // Kept, with its marker: the next run resumes it.
        return Err(Error::new(
            ErrorKind::Transport,
            format!(
                "{url} ended after {} of the feed's {} bytes; run the mirror again to resume",
                have + fetched,
                file.size
            ),
        ));
    }
    tokio::fs::rename(&partial, path).await.map_err(|e| io(path, e))?;
    let _ = tokio::fs::remove_file(&marker).await;
    Ok(fetched)
}

fn content_range_start(response: &reqwest::Response) -> Option<u64> {
    let value = response.headers().get(reqwest::header::CONTENT_RANGE)?.to_str().ok()?;
    value.strip_prefix("bytes ")?.split('-').next()?.parse().ok()
}

/// An item's manifest (`.mf`), where it has one, must match the files it lists.
fn verify_manifest(dest: &Path, item: &Item) -> Result<()> {
    let Some(mf) = item.files.iter().find(|f| f.name.to_ascii_lowercase().ends_with(".mf")) else { return Ok(()) };
    let mf_path = local_path(dest, &mf.hrefs[0])?;
    let text = std::fs::read_to_string(&mf_path).map_err(|e| io(&mf_path, e))?;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let Some((left, digest)) = line.split_once(")=") else { continue };
        let Some((algorithm, name)) = left.split_once('(') else { continue };
        let Some(file) = item.files.iter().find(|f| f.name == name.trim()) else { continue };
        let path = local_path(dest, &file.hrefs[0])?;
        let bytes = std::fs::read(&path).map_err(|e| io(&path, e))?;
        let actual = match algorithm.trim().to_ascii_uppercase().as_str() {
            "SHA1" => hex::encode(<sha1::Sha1 as sha2::Digest>::digest(&bytes)),
            "SHA256" => hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes)),
            "SHA512" => hex::encode(<sha2::Sha512 as sha2::Digest>::digest(&bytes)),
            _ => continue,
        };
        if !actual.eq_ignore_ascii_case(digest.trim()) {
            let _ = std::fs::remove_file(&path);
            return Err(Error::new(
                ErrorKind::Verification,
                format!(
                    "item {:?}: {} does not match its manifest; it was removed, run the mirror again",
                    item.name, file.name
                ),
            )
            .with(crate::Detail::File(file.name.clone())));
        }
    }
    Ok(())
}

fn read<T: serde::de::DeserializeOwned>(path: &Path) -> Option<T> {
    std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok())
}

fn write<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    crate::publish::write_if_changed(path, value).map(|_| ())
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("{}: {e}", path.display())).with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hrefs_land_inside_the_mirror_or_nowhere() {
        let dest = Path::new("/m");
        assert_eq!(local_path(dest, "a%20b/c.vmdk").unwrap(), Path::new("/m/a b/c.vmdk"));
        for bad in [
            "../x",
            "a/../../x",
            "%2e%2e/x",
            "a/%2e%2e",
            "/etc/passwd",
            "http://h/x",
            "a/.hidden",
            "a//b",
            "a%2fb",
            "x?y",
        ] {
            let e = local_path(dest, bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::UnsafePath, "{bad}");
        }
    }
}
