//! Publishing a folder as a VCSP feed that any vCenter can subscribe to, with no vCenter
//! involved: `lib.json`, `items.json` and an `item.json` per item, written in place beside the
//! content. Serve the folder with any web server and subscribe to `…/lib.json`.
//!
//! What a folder holds and what it becomes (rules: the VCSP digest §5–§11):
//! * a sub-folder is an item of its files (`vcsp.ovf` when it has an `.ovf`, `vcsp.iso` when it
//!   holds only `.iso` files, `vcsp.other` otherwise); its `item.json` is written inside it;
//! * a loose `.iso` is an item of its own; its `item.json` goes to `<name>.item/`;
//! * a loose `.ova` is unpacked into `<name>.item/` (its members, the manifest included) and
//!   published as an OVF item: subscribers deploy OVF templates, and whether vCenter deploys a
//!   subscribed OVA as one file is unconfirmed, so the members are what is served;
//! * hidden files, other loose files and nested folders are left out (and named in the report).
//!
//! Ids are read back from the existing feed and kept; an item's versions rise only when its
//! files changed (names, sizes or SHA-256, not their times alone), the library's only when an
//! item was added, changed or removed. A run on an unchanged folder changes no byte. Every OVF
//! item passes the preflight and its manifest first (errors refuse the whole run; the manifest is
//! checked against the same read that hashes each file). The SHA-256 of each file
//! is kept in `.clx-publish.json` so unchanged files (same size and modification time) are not
//! read again.
//!
//! ```no_run
//! # async fn demo() -> cl_sdk::Result<()> {
//! use cl_sdk::publish::{PublishOptions, check_feed, publish_folder};
//! let report = publish_folder(std::path::Path::new("/srv/feed"), &PublishOptions::new().name("golden"))?;
//! println!("{} items", report.items.len());
//! // What a subscriber will see, checked as it would read it:
//! let findings = check_feed("/srv/feed", None).await?;
//! assert!(!findings.has_errors());
//! # Ok(()) }
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cl_vcsp::{File, Item, Items, Lib};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, ErrorKind, Result};
use crate::preflight;

pub use crate::feed::check::check_feed;
pub use crate::feed::mirror::{MirrorReport, mirror_feed};
#[cfg(feature = "s3")]
pub use crate::feed::s3::{S3Report, S3Target, upload_feed};

/// The hidden file that remembers each published file's checksum.
pub const STATE_FILE: &str = ".clx-publish.json";
/// Longer names vCenter refuses on an item.
const MAX_NAME: usize = 80;

/// What [`publish_folder`] did.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::publish::{PublishOptions, publish_folder};
/// let report = publish_folder(std::path::Path::new("/srv/feed"), &PublishOptions::new())?;
/// println!("{report:?}");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PublishReport {
    /// The library's name and version in `lib.json`.
    pub library: String,
    /// The library version now.
    pub version: String,
    /// Whether anything was written.
    pub changed: bool,
    /// Every item, in the feed's order.
    pub items: Vec<PublishedItem>,
    /// Items of the previous feed that are gone.
    pub removed: Vec<String>,
    /// What was left out, and why.
    pub skipped: Vec<String>,
}

/// One item of a published feed.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::publish::{PublishOptions, publish_folder};
/// let report = publish_folder(std::path::Path::new("/srv/feed"), &PublishOptions::new())?;
/// for item in &report.items {
///     println!("{} version {}", item.name, item.version);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct PublishedItem {
    /// The item's name.
    pub name: String,
    /// `vcsp.ovf`, `vcsp.iso` or `vcsp.other`.
    pub r#type: String,
    /// Its version now.
    pub version: String,
    /// `new`, `changed` or `unchanged`.
    pub state: &'static str,
    /// Its files' total size.
    pub bytes: u64,
}

#[derive(Default, Serialize, Deserialize)]
struct State {
    /// Relative path → what it was when last read.
    files: BTreeMap<String, Seen>,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
struct Seen {
    size: u64,
    modified_ns: u128,
    sha256: String,
}

/// An item as found in the folder.
struct Found {
    name: String,
    /// The folder its `item.json` goes in, relative to the root.
    dir: String,
    type_: &'static str,
    /// Name in the item → path relative to the root.
    files: Vec<(String, String)>,
}

/// How [`publish_folder`] publishes.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::publish::{PublishOptions, publish_folder};
/// let options = PublishOptions::new().name("golden").rehash(false);
/// publish_folder(std::path::Path::new("/srv/feed"), &options)?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct PublishOptions {
    /// The library's name (the previous feed's, or the folder's, when unset).
    pub name: Option<String>,
    /// Read every file again, even one whose size and modification time are as last seen.
    pub rehash: bool,
}

impl PublishOptions {
    /// The defaults: the name kept or taken from the folder, unchanged files not read.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::publish::{PublishOptions, publish_folder};
    /// let report = publish_folder(std::path::Path::new("/srv/feed"), &PublishOptions::new().name("golden"))?;
    /// println!("{} items", report.items.len());
    /// # Ok(()) }
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// The library's name.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::publish::PublishOptions;
    /// let options = PublishOptions::new().name("golden images");
    /// # let _ = options;
    /// # Ok(()) }
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Read every file again (`clx publish --rehash`).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::publish::PublishOptions;
    /// // Read every file again, even those whose size and time did not change.
    /// let options = PublishOptions::new().rehash(true);
    /// # let _ = options;
    /// # Ok(()) }
    /// ```
    pub fn rehash(mut self, rehash: bool) -> Self {
        self.rehash = rehash;
        self
    }
}

/// Writes (or updates) the VCSP feed of the folder `root`.
///
/// ```no_run
/// # fn demo() -> cl_sdk::Result<()> {
/// use cl_sdk::publish::{PublishOptions, publish_folder};
/// let report = publish_folder(std::path::Path::new("/srv/library"), &PublishOptions::new().name("templates"))?;
/// println!("version {} with {} items", report.version, report.items.len());
/// # Ok(()) }
/// ```
///
/// Blocking (it reads every new or changed file); run it with `spawn_blocking` in async code.
pub fn publish_folder(root: &Path, options: &PublishOptions) -> Result<PublishReport> {
    let name = options.name.as_deref();
    let io =
        |what: &Path, e: std::io::Error| Error::new(ErrorKind::Io, format!("{}: {e}", what.display())).with_source(e);
    if !root.is_dir() {
        return Err(Error::new(ErrorKind::InvalidInput, format!("{} is not a folder", root.display())));
    }
    let old_lib: Option<Lib> = read_json(&root.join("lib.json"))?;
    let old_items: Option<Items> = match &old_lib {
        Some(lib) => read_json(&root.join(&lib.items_href))?,
        None => None,
    };
    let mut state: State = read_json(&root.join(STATE_FILE))?.unwrap_or_default();

    let mut skipped = Vec::new();
    let found = scan(root, &mut skipped).map_err(|e| io(root, e))?;
    check_names(&found)?;
    // One read of each new or changed file: its SHA-256, and the manifest's digest where an OVF
    // item's manifest uses another algorithm.
    let mut seen_now = BTreeMap::new();
    let mut reread = BTreeSet::new();
    let mut extra = BTreeMap::new();
    let mut manifests = BTreeMap::new();
    for item in &found {
        let manifest = manifest_of(root, item).map_err(|e| io(root, e))?;
        for (file_name, rel) in &item.files {
            let path = root.join(rel);
            let known = if options.rehash { None } else { state.files.get(rel) };
            let algorithm = manifest.get(file_name).map(|(a, _)| *a).filter(|a| *a != Algorithm::Sha256);
            let (seen, digest) = look(&path, known, algorithm).map_err(|e| io(&path, e))?;
            if known.is_none_or(|k| *k != seen) || digest.is_some() {
                reread.insert(rel.clone());
            }
            if let Some(digest) = digest {
                extra.insert(rel.clone(), digest);
            }
            seen_now.insert(rel.clone(), seen);
        }
        manifests.insert(item.dir.clone(), manifest);
    }
    for item in found.iter().filter(|i| i.type_ == "vcsp.ovf") {
        let paths: Vec<PathBuf> = item.files.iter().map(|(_, rel)| root.join(rel)).collect();
        // Structure here; the manifest's digests against the one read above.
        let report = preflight::check(&paths, preflight::Options::structure())?;
        if report.has_errors() {
            let first = report.errors().next().map(|f| f.to_string()).unwrap_or_default();
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "item {:?} fails the preflight ({} errors; `clx check` lists them): {first}",
                    item.name,
                    report.errors().count()
                ),
            ));
        }
        verify_manifest(root, item, &manifests[&item.dir], &seen_now, &extra, &reread)?;
    }

    let previous: BTreeMap<String, &Item> = old_items
        .iter()
        .flat_map(|i| &i.items)
        .filter_map(|i| Some((i.self_href.as_deref()?.strip_suffix("/item.json")?.to_owned(), i)))
        .collect();
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let mut items = Vec::new();
    let mut report_items = Vec::new();
    let mut changed_any = false;
    for f in &found {
        let mut files = Vec::new();
        for (file_name, rel) in &f.files {
            files.push((file_name.clone(), rel.clone(), seen_now[rel].clone()));
        }
        let before = previous.get(&cl_vcsp::href(&[&f.dir]));
        let same_files = before.is_some_and(|b| {
            b.files.len() == files.len()
                && b.files.iter().zip(&files).all(|(old, (name, rel, seen))| {
                    old.name == *name
                        && old.size == seen.size
                        && state.files.get(rel).is_some_and(|s| s.sha256 == seen.sha256)
                })
        });
        let (entry, item_state) = match before {
            Some(b) if same_files && b.name == f.name && b.type_ == f.type_ => ((*b).clone(), "unchanged"),
            _ => {
                let content_version = before
                    .and_then(|b| b.content_version.as_deref().or(Some(&b.version)).and_then(cl_vcsp::number))
                    .map_or(2, |v| v + 1);
                let version =
                    before.and_then(|b| cl_vcsp::number(&b.version)).map_or(2, |v| v + 1).max(content_version);
                let etag = content_version.to_string();
                let entry = Item {
                    id: before.map_or_else(|| format!("urn:uuid:{}", uuid::Uuid::new_v4()), |b| b.id.clone()),
                    name: f.name.clone(),
                    type_: f.type_.to_owned(),
                    version: version.to_string(),
                    content_version: Some(content_version.to_string()),
                    created: Some(before.and_then(|b| b.created.clone()).unwrap_or_else(|| now.clone())),
                    description: before.map(|b| b.description.clone()).unwrap_or_default(),
                    files: files
                        .iter()
                        .map(|(name, rel, seen)| File {
                            name: name.clone(),
                            size: seen.size,
                            etag: Some(etag.clone()),
                            generation_num: Some(content_version as i64),
                            hrefs: vec![cl_vcsp::href(&rel.split('/').collect::<Vec<_>>())],
                        })
                        .collect(),
                    properties: serde_json::json!({}),
                    self_href: Some(format!("{}/item.json", cl_vcsp::href(&[&f.dir]))),
                    metadata: before.and_then(|b| b.metadata.clone()),
                };
                changed_any = true;
                (entry, if before.is_some() { "changed" } else { "new" })
            }
        };
        report_items.push(PublishedItem {
            name: entry.name.clone(),
            r#type: entry.type_.clone(),
            version: entry.version.clone(),
            state: item_state,
            bytes: entry.files.iter().map(|f| f.size).sum(),
        });
        items.push((f.dir.clone(), entry));
    }
    let kept: BTreeSet<String> = items.iter().map(|(dir, _)| cl_vcsp::href(&[dir])).collect();
    let removed: Vec<String> =
        previous.iter().filter(|(dir, _)| !kept.contains(*dir)).map(|(_, i)| i.name.clone()).collect();
    changed_any |= !removed.is_empty();

    let library_name = name
        .map(str::to_owned)
        .or_else(|| old_lib.as_ref().map(|l| l.name.clone()))
        .or_else(|| root.canonicalize().ok()?.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "library".to_owned());
    let renamed = old_lib.as_ref().is_some_and(|l| l.name != library_name);
    let lib = match &old_lib {
        Some(old) if !changed_any && !renamed => old.clone(),
        _ => Lib {
            vcsp_version: cl_vcsp::VCSP_VERSION.to_owned(),
            version: old_lib.as_ref().and_then(Lib::version_number).map_or(1, |v| v + 1).to_string(),
            content_version: Some("1".to_owned()),
            id: old_lib.as_ref().map_or_else(|| format!("urn:uuid:{}", uuid::Uuid::new_v4()), |l| l.id.clone()),
            name: library_name.clone(),
            created: Some(old_lib.as_ref().and_then(|l| l.created.clone()).unwrap_or_else(|| now.clone())),
            capabilities: Some(Lib::http_get_capabilities()),
            items_href: "items.json".to_owned(),
        },
    };

    // item.json files first, then the index, then lib.json: lib.json is a subscriber's commit point.
    let mut wrote = false;
    for (dir, entry) in &items {
        wrote |= write_if_changed(&root.join(dir).join("item.json"), entry)?;
    }
    let index = Items { items: items.iter().map(|(_, e)| e.clone()).collect() };
    wrote |= write_if_changed(&root.join(&lib.items_href), &index)?;
    wrote |= write_if_changed(&root.join("lib.json"), &lib)?;
    state.files = seen_now;
    write_if_changed(&root.join(STATE_FILE), &state)?;
    Ok(PublishReport {
        library: lib.name.clone(),
        version: lib.version.clone(),
        changed: wrote,
        items: report_items,
        removed,
        skipped,
    })
}

/// The items the folder holds, sorted by their folder.
fn scan(root: &Path, skipped: &mut Vec<String>) -> std::io::Result<Vec<Found>> {
    let mut found = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(root)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    let names: BTreeSet<String> = entries.iter().map(|e| e.file_name().to_string_lossy().into_owned()).collect();
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type()?;
        if name.starts_with('.') || name == "lib.json" || name == "items.json" {
            continue;
        }
        let lower = name.to_ascii_lowercase();
        if kind.is_dir() {
            // A folder made for a loose .iso or .ova belongs to it.
            if let Some(base) = name.strip_suffix(".item")
                && names.contains(base)
            {
                continue;
            }
            let mut files: Vec<_> = std::fs::read_dir(entry.path())?.collect::<std::io::Result<_>>()?;
            files.sort_by_key(|e| e.file_name());
            let mut item_files = Vec::new();
            for file in files {
                let file_name = file.file_name().to_string_lossy().into_owned();
                if file_name.starts_with('.') || file_name == "item.json" {
                    continue;
                }
                if !file.file_type()?.is_file() {
                    skipped.push(format!("{name}/{file_name}: not a file (items are flat folders)"));
                    continue;
                }
                item_files.push((file_name.clone(), format!("{name}/{file_name}")));
            }
            if item_files.is_empty() {
                skipped.push(format!("{name}/: no files"));
                continue;
            }
            let type_ = folder_type(item_files.iter().map(|(n, _)| n.as_str()));
            found.push(Found { name: name.clone(), dir: name, type_, files: item_files });
        } else if kind.is_file() && lower.ends_with(".iso") {
            let stem = name[..name.len() - 4].to_owned();
            found.push(Found {
                name: stem,
                dir: format!("{name}.item"),
                type_: "vcsp.iso",
                files: vec![(name.clone(), name)],
            });
        } else if kind.is_file() && lower.ends_with(".ova") {
            let dir = format!("{name}.item");
            let members = unpack(&root.join(&name), &root.join(&dir))?;
            let files = members.into_iter().map(|m| (m.clone(), format!("{dir}/{m}"))).collect();
            found.push(Found { name: name[..name.len() - 4].to_owned(), dir, type_: "vcsp.ovf", files });
        } else {
            skipped.push(format!("{name}: loose files other than .iso and .ova are not items"));
        }
    }
    Ok(found)
}

fn folder_type<'a>(mut names: impl Iterator<Item = &'a str> + Clone) -> &'static str {
    let lower = |n: &str| n.to_ascii_lowercase();
    if names.clone().any(|n| lower(n).ends_with(".ovf")) {
        "vcsp.ovf"
    } else if names.all(|n| lower(n).ends_with(".iso")) {
        "vcsp.iso"
    } else {
        "vcsp.other"
    }
}

/// Unpacks an OVA's members into `dir` (again only when the archive is newer than what is
/// there); the names are the archive's, judged by the one name rule.
fn unpack(ova: &Path, dir: &Path) -> std::io::Result<Vec<String>> {
    let members = crate::transfer::ova::members_blocking(ova)
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string()))?;
    let archive_time = std::fs::metadata(ova)?.modified()?;
    std::fs::create_dir_all(dir)?;
    let file = std::fs::File::open(ova)?;
    let mut names = Vec::new();
    for m in members {
        let target = dir.join(&m.name);
        let fresh = std::fs::metadata(&target)
            .is_ok_and(|t| t.len() == m.size && t.modified().is_ok_and(|t| t >= archive_time));
        if !fresh {
            let partial = dir.join(format!(".{}.partial", m.name));
            let mut out = std::fs::File::create(&partial)?;
            let mut left = m.size;
            let mut offset = m.offset;
            let mut buf = vec![0u8; 1 << 20];
            while left > 0 {
                let n = left.min(buf.len() as u64) as usize;
                crate::transfer::ova::read_at(&file, &mut buf[..n], offset)?;
                std::io::Write::write_all(&mut out, &buf[..n])?;
                left -= n as u64;
                offset += n as u64;
            }
            out.sync_all()?;
            std::fs::rename(&partial, &target)?;
        }
        names.push(m.name);
    }
    Ok(names)
}

/// Names must be unique (as vCenter compares them, ignoring case) and short enough.
fn check_names(found: &[Found]) -> Result<()> {
    let mut seen = BTreeMap::new();
    for f in found {
        if let Err(why) = crate::transfer::names::item_name(&f.name) {
            return Err(Error::new(ErrorKind::InvalidInput, format!("item name {:?} {why}", f.name)));
        }
        if f.name.chars().count() > MAX_NAME {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("item name {:?} is longer than the {MAX_NAME} characters vCenter takes", f.name),
            ));
        }
        if let Some(other) = seen.insert(f.name.to_lowercase(), &f.dir) {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "{other:?} and {:?} would both be item {:?}: a subscriber refuses duplicate names",
                    f.dir, f.name
                ),
            ));
        }
    }
    Ok(())
}

/// A manifest's digest algorithms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Algorithm {
    Sha1,
    Sha256,
    Sha512,
}

/// An OVF item's manifest, if it has one: file name → (algorithm, digest).
fn manifest_of(root: &Path, item: &Found) -> std::io::Result<BTreeMap<String, (Algorithm, String)>> {
    let mut entries = BTreeMap::new();
    if item.type_ != "vcsp.ovf" {
        return Ok(entries);
    }
    let Some((_, rel)) = item.files.iter().find(|(name, _)| name.to_ascii_lowercase().ends_with(".mf")) else {
        return Ok(entries);
    };
    let text = String::from_utf8_lossy(&std::fs::read(root.join(rel))?).into_owned();
    for line in text.lines() {
        let Some((left, digest)) = line.split_once(")=") else { continue };
        let Some((algorithm, name)) = left.split_once('(') else { continue };
        let algorithm = match algorithm.trim().to_ascii_uppercase().as_str() {
            "SHA1" => Algorithm::Sha1,
            "SHA256" => Algorithm::Sha256,
            "SHA512" => Algorithm::Sha512,
            _ => continue,
        };
        entries.insert(name.trim().to_owned(), (algorithm, digest.trim().to_ascii_lowercase()));
    }
    Ok(entries)
}

/// An OVF item's manifest must match its files. A digest is taken from this run's one read of
/// the file; a file neither read now nor listed by a manifest read now was verified by the run
/// that published it.
fn verify_manifest(
    root: &Path,
    item: &Found,
    manifest: &BTreeMap<String, (Algorithm, String)>,
    seen: &BTreeMap<String, Seen>,
    extra: &BTreeMap<String, String>,
    reread: &BTreeSet<String>,
) -> Result<()> {
    let Some((_, mf_rel)) = item.files.iter().find(|(name, _)| name.to_ascii_lowercase().ends_with(".mf")) else {
        return Ok(());
    };
    for (name, (algorithm, expected)) in manifest {
        let Some((_, rel)) = item.files.iter().find(|(file, _)| file == name) else { continue };
        let actual = match algorithm {
            Algorithm::Sha256 => seen[rel].sha256.clone(),
            _ => match extra.get(rel) {
                Some(digest) => digest.clone(),
                None if !reread.contains(rel) && !reread.contains(mf_rel) => continue,
                None => look(&root.join(rel), None, Some(*algorithm))
                    .map_err(|e| Error::new(ErrorKind::Io, e.to_string()))?
                    .1
                    .unwrap_or_default(),
            },
        };
        if &actual != expected {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "item {:?}: {name} does not match its manifest; regenerate the manifest or fix the file",
                    item.name
                ),
            ));
        }
    }
    Ok(())
}

/// A file's size, time and SHA-256 (and its digest in `also`), reading it only when the size or
/// time differ from `known` or another digest is wanted.
fn look(path: &Path, known: Option<&Seen>, also: Option<Algorithm>) -> std::io::Result<(Seen, Option<String>)> {
    let meta = std::fs::metadata(path)?;
    let modified_ns = meta.modified()?.duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_nanos());
    if let Some(k) = known
        && k.size == meta.len()
        && k.modified_ns == modified_ns
        && also.is_none()
    {
        return Ok((k.clone(), None));
    }
    let mut sha256 = Sha256::new();
    let (mut sha1, mut sha512) = (None, None);
    match also {
        Some(Algorithm::Sha1) => sha1 = Some(<sha1::Sha1 as Digest>::new()),
        Some(Algorithm::Sha512) => sha512 = Some(sha2::Sha512::new()),
        _ => {}
    }
    let mut file = std::fs::File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = std::io::Read::read(&mut file, &mut buf)?;
        if n == 0 {
            break;
        }
        sha256.update(&buf[..n]);
        if let Some(h) = &mut sha1 {
            h.update(&buf[..n]);
        }
        if let Some(h) = &mut sha512 {
            h.update(&buf[..n]);
        }
    }
    let other = sha1.map(|h| hex::encode(h.finalize())).or_else(|| sha512.map(|h| hex::encode(h.finalize())));
    Ok((Seen { size: meta.len(), modified_ns, sha256: hex::encode(sha256.finalize()) }, other))
}

/// The checksums the last publish of a folder kept (for the S3 upload that follows it).
#[cfg(feature = "s3")]
pub(crate) struct Hashes {
    root: PathBuf,
    state: State,
}

#[cfg(feature = "s3")]
impl Hashes {
    pub(crate) fn load(root: &Path) -> Self {
        let state = std::fs::read(root.join(STATE_FILE)).ok().and_then(|b| serde_json::from_slice(&b).ok());
        Self { root: root.to_owned(), state: state.unwrap_or_default() }
    }

    /// The size and SHA-256 of `relative`: kept when the file is as it was then, else read.
    pub(crate) fn sha256(&self, relative: &str) -> std::io::Result<(u64, String)> {
        let (seen, _) = look(&self.root.join(relative), self.state.files.get(relative), None)?;
        Ok((seen.size, seen.sha256))
    }
}

fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<Option<T>> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
            Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "{} is not a feed file this can update ({e}); move it away to start a new feed",
                    path.display()
                ),
            )
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::new(ErrorKind::Io, format!("{}: {e}", path.display())).with_source(e)),
    }
}

/// Writes `value` as JSON to `path` through a temporary file and a rename, unless the file
/// already holds exactly those bytes. True when it wrote.
pub(crate) fn write_if_changed<T: Serialize>(path: &Path, value: &T) -> Result<bool> {
    let mut bytes = serde_json::to_vec_pretty(value).expect("feed documents serialize");
    bytes.push(b'\n');
    if std::fs::read(path).is_ok_and(|current| current == bytes) {
        return Ok(false);
    }
    let io = |e: std::io::Error| Error::new(ErrorKind::Io, format!("{}: {e}", path.display())).with_source(e);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let temp = path.with_file_name(format!(".{name}.partial"));
    std::fs::write(&temp, &bytes).map_err(io)?;
    std::fs::rename(&temp, path).map_err(io)?;
    Ok(true)
}
