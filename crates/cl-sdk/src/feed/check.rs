//! Checking a VCSP feed as a subscriber reads it, at a URL or in a folder: the documents and
//! their fields, every file reachable at its declared size, versions and etags a vCenter can
//! use, and (given a previous copy) ids and versions that moved as they should. Findings come in
//! the same shape as the preflight's (`clx check`). Rules: the VCSP digest §15.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use cl_vcsp::{Item, Items, Lib};

use super::{Origin, Target};
use crate::error::{Error, ErrorKind, Result};
use crate::preflight::{Finding, Location, Report, Severity};

/// The findings so far.
struct Findings(Vec<Finding>);

impl Findings {
    fn add(
        &mut self,
        severity: Severity,
        file: &str,
        at: Option<String>,
        code: &'static str,
        problem: String,
        fix: &str,
    ) {
        self.0.push(Finding {
            severity,
            file: file.to_owned(),
            at: at.map(Location::Field),
            code,
            problem,
            fix: fix.to_owned(),
        });
    }
    fn error(&mut self, file: &str, at: Option<String>, code: &'static str, problem: String, fix: &str) {
        self.add(Severity::Error, file, at, code, problem, fix);
    }
    fn warn(&mut self, file: &str, at: Option<String>, code: &'static str, problem: String, fix: &str) {
        self.add(Severity::Warning, file, at, code, problem, fix);
    }
}

/// Checks the feed whose `lib.json` is at `location` (an http(s) URL, a folder or the file) as a
/// subscriber would read it; with `previous`, a folder holding an earlier copy of the same feed,
/// also that ids stayed and versions moved as they should. `Err` only when `location` itself is
/// unusable; every problem of the feed is a finding.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// let report = cl_sdk::publish::check_feed("https://cdn.example.com/feed/lib.json", None).await?;
/// for finding in &report.findings {
///     println!("{finding}");
/// }
/// # Ok(()) }
/// ```
pub async fn check_feed(location: &str, previous: Option<&Path>) -> Result<Report> {
    let origin = Origin::open(location)?;
    let mut f = Findings(Vec::new());
    if let Origin::Url { lib, .. } = &origin
        && !lib.path().ends_with("/lib.json")
    {
        f.error(
            location,
            None,
            "feed.url",
            "the URL does not end in /lib.json".into(),
            "subscribe to the feed's lib.json URL",
        );
    }
    let lib_target = origin.resolve("lib.json").ok();
    let lib: Lib = match &origin {
        Origin::Url { lib, .. } => origin.document(&Target::Url(lib.clone())).await,
        Origin::Dir(_) => match &lib_target {
            Some(t) => origin.document(t).await,
            None => Err("no lib.json".into()),
        },
    }
    .map_err(|why| {
        Error::new(ErrorKind::InvalidInput, format!("{location}: the feed's lib.json cannot be read: {why}"))
    })?;
    check_lib(&lib, &mut f);
    let items: Items = match origin.resolve(&lib.items_href) {
        Ok(target) => match origin.document(&target).await {
            Ok(items) => items,
            Err(why) => {
                f.error(
                    "items.json",
                    None,
                    "feed.index",
                    format!("the index cannot be read: {why}"),
                    "publish the feed again",
                );
                return Ok(report(f));
            }
        },
        Err(why) => {
            f.error(
                "lib.json",
                Some("itemsHref".into()),
                "feed.index",
                why,
                "point itemsHref at the index, relative to lib.json",
            );
            return Ok(report(f));
        }
    };
    check_items(&origin, &items, &mut f).await;
    if let Some(previous) = previous {
        compare(previous, &lib, &items, &mut f);
    }
    Ok(report(f))
}

fn report(f: Findings) -> Report {
    let mut findings = f.0;
    findings.sort_by_key(|f| f.severity);
    Report { findings, files: 0, disks: Vec::new() }
}

fn check_lib(lib: &Lib, f: &mut Findings) {
    let file = "lib.json";
    if !matches!(lib.vcsp_version.as_str(), "1" | "2") {
        f.error(
            file,
            Some("vcspVersion".into()),
            "feed.vcsp_version",
            format!("vcspVersion is {:?}", lib.vcsp_version),
            "write \"2\"",
        );
    }
    if lib.version_number().is_none_or(|v| v == 0) {
        f.error(
            file,
            Some("version".into()),
            "feed.version",
            format!("version {:?} is not a decimal integer of 1 or more", lib.version),
            "write the library's change counter as a decimal string",
        );
    }
    if !is_urn_uuid(&lib.id) {
        f.error(
            file,
            Some("id".into()),
            "feed.id",
            format!("id {:?} is not urn:uuid:<uuid>", lib.id),
            "give the library a urn:uuid: id and keep it",
        );
    }
    if lib.name.trim().is_empty() {
        f.error(file, Some("name".into()), "feed.name", "the library has no name".into(), "give it a name");
    }
    if lib.capabilities.as_ref() != Some(&Lib::http_get_capabilities()) {
        f.warn(file, Some("capabilities".into()), "feed.capabilities", "capabilities is not {\"transferIn\":[\"httpGet\"],\"transferOut\":[\"httpGet\"]}; vCenter reportedly answers vcsp_library_not_found without it".into(), "write the capabilities every v2 feed writes");
    }
}

async fn check_items(origin: &Origin, items: &Items, f: &mut Findings) {
    let mut ids = BTreeSet::new();
    let mut names: BTreeMap<String, &str> = BTreeMap::new();
    for (n, item) in items.items.iter().enumerate() {
        let at = |field: &str| Some(format!("items[{n}].{field}"));
        let file = "items.json";
        if !ids.insert(item.id.as_str()) {
            f.error(
                file,
                at("id"),
                "feed.item_id",
                format!("item id {:?} appears twice", item.id),
                "give every item its own id",
            );
        }
        if !is_urn_uuid(&item.id) {
            f.warn(
                file,
                at("id"),
                "feed.item_id",
                format!("item id {:?} is not urn:uuid:<uuid>", item.id),
                "use urn:uuid: ids",
            );
        }
        if item.name.trim().is_empty() {
            f.error(file, at("name"), "feed.item_name", "an item has no name".into(), "name it");
        } else if let Some(other) = names.insert(item.name.to_lowercase(), &item.name) {
            f.error(
                file,
                at("name"),
                "feed.item_name",
                format!("{:?} and {other:?} are one name to a subscriber", item.name),
                "rename one: a subscriber's sync fails on duplicate names",
            );
        }
        if item.name.chars().count() > 80 {
            f.warn(
                file,
                at("name"),
                "feed.item_name",
                format!("{:?} is longer than the 80 characters vCenter takes", item.name),
                "shorten it",
            );
        }
        if !matches!(item.type_.as_str(), "vcsp.ovf" | "vcsp.iso" | "vcsp.other") {
            f.error(
                file,
                at("type"),
                "feed.item_type",
                format!("type {:?} is not vcsp.ovf, vcsp.iso or vcsp.other", item.type_),
                "use one of them",
            );
        }
        if cl_vcsp::number(&item.version).is_none_or(|v| v == 0) {
            f.error(
                file,
                at("version"),
                "feed.item_version",
                format!("version {:?} is not a decimal integer of 1 or more", item.version),
                "write the item's change counter as a decimal string",
            );
        }
        if let Some(cv) = &item.content_version
            && cl_vcsp::number(cv).is_none()
        {
            f.error(
                file,
                at("contentVersion"),
                "feed.item_version",
                format!("contentVersion {cv:?} is not a decimal integer"),
                "write it as a decimal string",
            );
        }
        if !item.properties.is_object() {
            f.warn(file, at("properties"), "feed.properties", "properties is not an object".into(), "write {}");
        }
        if item.files.is_empty() {
            f.error(
                file,
                at("files"),
                "feed.files",
                format!("item {:?} has no files", item.name),
                "give it its files or leave it out",
            );
        }
        check_files(origin, item, n, f).await;
        match item.self_href.as_deref().map(|h| origin.resolve(h)) {
            Some(Ok(target)) => match origin.document::<Item>(&target).await {
                Ok(own) => {
                    let same = |a: &Item, b: &Item| {
                        (&a.id, &a.name, &a.type_, &a.version, &a.content_version, &a.files)
                            == (&b.id, &b.name, &b.type_, &b.version, &b.content_version, &b.files)
                    };
                    if !same(&own, item) {
                        f.error(
                            file,
                            at("selfHref"),
                            "feed.item_json",
                            format!("{}'s item.json differs from its index entry", item.name),
                            "write both from one object",
                        );
                    } else if own.description != item.description {
                        f.warn(
                            file,
                            at("selfHref"),
                            "feed.item_json",
                            format!("{}'s item.json has another description", item.name),
                            "write both from one object",
                        );
                    }
                }
                Err(why) => f.error(
                    file,
                    at("selfHref"),
                    "feed.item_json",
                    format!("{}'s item.json: {why}", item.name),
                    "write the item.json its selfHref names",
                ),
            },
            Some(Err(why)) => {
                f.error(file, at("selfHref"), "feed.item_json", why, "point selfHref at the item's item.json")
            }
            None => f.warn(
                file,
                at("selfHref"),
                "feed.item_json",
                format!("{} has no selfHref", item.name),
                "write an item.json per item",
            ),
        }
        let lower: Vec<String> = item.files.iter().map(|f| f.name.to_ascii_lowercase()).collect();
        match item.type_.as_str() {
            "vcsp.ovf" => {
                let ovfs = lower.iter().filter(|n| n.ends_with(".ovf")).count();
                if ovfs != 1 && lower.iter().any(|n| n.ends_with(".ova")) {
                    f.warn(
                        file,
                        at("files"),
                        "feed.ova",
                        format!(
                            "{} is an OVA served as one file: whether vCenter deploys it is unconfirmed",
                            item.name
                        ),
                        "publish its members (clx publish unpacks it)",
                    );
                } else if ovfs != 1 {
                    f.error(
                        file,
                        at("files"),
                        "feed.ovf",
                        format!("{} is vcsp.ovf with {ovfs} .ovf files", item.name),
                        "one descriptor per OVF item",
                    );
                }
            }
            "vcsp.iso" if lower.iter().any(|n| !n.ends_with(".iso")) || lower.len() > 1 => {
                f.warn(
                    file,
                    at("files"),
                    "feed.iso",
                    format!("{} is vcsp.iso with files other than one .iso", item.name),
                    "one ISO per item (Cloud Director needs it)",
                );
            }
            _ => {}
        }
    }
}

async fn check_files(origin: &Origin, item: &Item, n: usize, f: &mut Findings) {
    let mut names = BTreeSet::new();
    let etags: BTreeSet<Option<&str>> = item.files.iter().map(|f| f.etag.as_deref()).collect();
    if etags.len() > 1 {
        f.warn(
            "items.json",
            Some(format!("items[{n}].files")),
            "feed.etag",
            format!("{}'s files have different etags", item.name),
            "give every file of an item the same etag and raise it with any change",
        );
    }
    for (k, file) in item.files.iter().enumerate() {
        let at = |field: &str| Some(format!("items[{n}].files[{k}].{field}"));
        let label = format!("{}/{}", item.name, file.name);
        if !names.insert(file.name.as_str()) {
            f.error(
                &label,
                at("name"),
                "feed.file_name",
                format!("{:?} appears twice in the item", file.name),
                "one entry per file",
            );
        }
        let etag_number = file.etag.as_deref().and_then(cl_vcsp::number);
        match (file.generation_num, etag_number) {
            (None, None) => f.error(&label, at("etag"), "feed.etag", format!("no generationNum, and etag {:?} is not a decimal integer: vCenter's sync fails parsing it (Long.valueOf)", file.etag), "write a decimal etag and a generationNum"),
            (None, Some(_)) => f.warn(&label, at("generationNum"), "feed.generation", "no generationNum".into(), "write generationNum (raised when the bytes change)"),
            _ => {}
        }
        if file.hrefs.len() != 1 {
            f.error(
                &label,
                at("hrefs"),
                "feed.href",
                format!("{} hrefs, not exactly one", file.hrefs.len()),
                "give one href",
            );
            continue;
        }
        let href = &file.hrefs[0];
        if href.bytes().any(|b| b == b' ' || !b.is_ascii_graphic()) {
            f.error(
                &label,
                at("hrefs"),
                "feed.href",
                format!("{href:?} holds unencoded characters"),
                "percent-encode each path segment",
            );
        }
        match origin.resolve(href) {
            Ok(target) => match origin.size(&target).await {
                Ok(size) if size == file.size => {}
                Ok(size) => f.error(
                    &label,
                    at("size"),
                    "feed.size",
                    format!("the feed says {} bytes, the server gives {size}", file.size),
                    "publish the feed again from the files as they are",
                ),
                Err(why) => f.error(&label, at("hrefs"), "feed.reachable", why, "put the file where its href points"),
            },
            Err(why) => {
                f.error(&label, at("hrefs"), "feed.href", why, "use a path relative to lib.json, inside the feed")
            }
        }
    }
}

/// Against an earlier copy of the feed (a folder): ids kept, no version lowered, versions raised
/// where files changed.
fn compare(previous: &Path, lib: &Lib, items: &Items, f: &mut Findings) {
    fn read<T: serde::de::DeserializeOwned>(path: PathBuf) -> Option<T> {
        std::fs::read(path).ok().and_then(|b| serde_json::from_slice(&b).ok())
    }
    let old_lib: Option<Lib> = read(previous.join("lib.json"));
    let old_items: Option<Items> = read(previous.join("items.json"));
    let (Some(old_lib), Some(old_items)) = (old_lib, old_items) else {
        f.warn(
            "lib.json",
            None,
            "feed.previous",
            format!("{} holds no earlier copy of a feed", previous.display()),
            "give the folder of a previous copy",
        );
        return;
    };
    if old_lib.id != lib.id {
        f.error(
            "lib.json",
            Some("id".into()),
            "feed.stable_id",
            format!("the library id changed from {:?}", old_lib.id),
            "keep the library's id: subscribers see a new library",
        );
    }
    let old: BTreeMap<&str, &Item> = old_items.items.iter().map(|i| (i.name.as_str(), i)).collect();
    let mut changed = items.items.len() != old_items.items.len();
    for item in &items.items {
        let Some(before) = old.get(item.name.as_str()) else {
            changed = true;
            continue;
        };
        if before.id != item.id {
            f.error(
                "items.json",
                Some(item.name.clone()),
                "feed.stable_id",
                format!("{}'s id changed from {:?}", item.name, before.id),
                "keep item ids: a subscriber deletes and re-adds the item",
            );
        }
        let (old_v, new_v) = (cl_vcsp::number(&before.version), cl_vcsp::number(&item.version));
        if new_v < old_v {
            f.error(
                "items.json",
                Some(item.name.clone()),
                "feed.version_lowered",
                format!("{}'s version went down from {}", item.name, before.version),
                "never lower a version",
            );
        }
        if before.files != item.files {
            changed = true;
            if new_v <= old_v {
                f.error(
                    "items.json",
                    Some(item.name.clone()),
                    "feed.version_kept",
                    format!("{}'s files changed but its version did not", item.name),
                    "raise the version with every change, or subscribers keep the old files",
                );
            }
        }
    }
    let (old_v, new_v) = (old_lib.version_number(), lib.version_number());
    if new_v < old_v {
        f.error(
            "lib.json",
            Some("version".into()),
            "feed.version_lowered",
            "the library version went down".into(),
            "never lower a version",
        );
    } else if changed && new_v == old_v {
        f.error(
            "lib.json",
            Some("version".into()),
            "feed.version_kept",
            "items changed but the library version did not: subscribers skip the sync".into(),
            "raise the library version with every change",
        );
    }
}

fn is_urn_uuid(id: &str) -> bool {
    id.strip_prefix("urn:uuid:").is_some_and(|u| uuid::Uuid::parse_str(u).is_ok())
}
