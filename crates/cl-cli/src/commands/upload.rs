//! `clx upload`: local files, an OVF folder or an OVA into an item, or a file the server pulls.

use std::path::{Path, PathBuf};

use cl_sdk::transfer::{SourceTrust, TransferControl, UploadFile, UploadOptions};
use cl_sdk::types::{ChecksumAlgorithm, WarningType};
use cl_sdk::{Client, ItemType};

use super::Ctx;
use crate::args::{ChecksumArg, TransferArgs, UploadArgs};
use crate::output::{Failure, clean, print, usage};
use crate::progress;
use crate::report::TransferReport;

pub async fn run(args: &UploadArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    let warnings = warnings(&args.ignore_warning)?;
    let options = upload_options(ctx.transfer, args.checksum).replace(args.replace).ignore_warnings(warnings);
    let sources = match &args.pull {
        Some(url) => Sources::Pull(pull_file(
            url,
            args.source_thumbprint.as_deref(),
            args.source_cert.as_deref(),
            args.source_checksum.as_deref(),
        )?),
        None => Sources::Paths(&args.paths, source_trust(args)?),
    };
    let report = upload(ctx.client, sources, &args.library, &args.item, args.create, options, ctx.json).await?;
    print(ctx.json, &report);
    Ok(())
}

/// The trust of URLs clx fetches, from `--source-*`.
fn source_trust(args: &UploadArgs) -> Result<SourceTrust, Failure> {
    let mut trust = SourceTrust::default().danger_accept_invalid_certificates(args.source_insecure);
    if let Some(path) = &args.source_ca_cert {
        let pem =
            std::fs::read_to_string(path).map_err(|e| usage(format!("--source-ca-cert {}: {e}", path.display())))?;
        trust = trust.add_ca_pem(&pem);
    }
    if let Some(thumbprint) = &args.source_thumbprint {
        trust = trust.pin_thumbprint(thumbprint);
    }
    Ok(trust)
}

pub fn is_url(path: &Path) -> bool {
    path.to_str().is_some_and(|p| p.starts_with("https://") || p.starts_with("http://"))
}

/// The files to upload: URLs as sources clx fetches, local paths expanded (see [`expand`]).
fn gather(paths: &[PathBuf], trust: &SourceTrust) -> Result<Vec<UploadFile>, Failure> {
    let local: Vec<PathBuf> = paths.iter().filter(|p| !is_url(p)).cloned().collect();
    let mut files: Vec<UploadFile> = expand(&local)?.into_iter().map(UploadFile::path).collect();
    for url in paths.iter().filter(|p| is_url(p)).filter_map(|p| p.to_str()) {
        files.push(UploadFile::url(url, trust.clone()));
    }
    Ok(files)
}

/// Expands folders into their files, checking every local input before anything is created
/// on the server: each path must exist, and a folder may hold only files (an OVF folder).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut files = Vec::new();
    for path in paths {
        let meta = std::fs::metadata(path).map_err(|e| usage(format!("{}: {e}", path.display())))?;
        if !meta.is_dir() {
            files.push(path.clone());
            continue;
        }
        let mut inside = Vec::new();
        for entry in std::fs::read_dir(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))? {
            let entry = entry.map_err(|e| usage(format!("cannot read {}: {e}", path.display())))?.path();
            if entry.is_dir() {
                return Err(usage(format!(
                    "{} is a folder inside {}; clx uploads the files of a folder, not its subfolders",
                    entry.display(),
                    path.display()
                )));
            }
            inside.push(entry);
        }
        if inside.is_empty() {
            return Err(usage(format!("{} holds no files", path.display())));
        }
        inside.sort();
        files.extend(inside);
    }
    Ok(files)
}

/// The item type an upload creates: `ovf` for OVF sets and OVAs, `iso` for ISOs, `file` else.
fn item_type(paths: &[PathBuf]) -> ItemType {
    let lower = |p: &PathBuf| p.to_string_lossy().to_ascii_lowercase();
    if paths.iter().any(|p| lower(p).ends_with(".ovf") || lower(p).ends_with(".ova") || (!is_url(p) && p.is_dir())) {
        ItemType::Ovf
    } else if paths.iter().all(|p| lower(p).ends_with(".iso")) {
        ItemType::Iso
    } else {
        ItemType::File
    }
}

/// What an upload sends: local paths, or one file the server pulls.
pub enum Sources<'a> {
    /// Local paths and http(s) URLs clx fetches (trusted as said).
    Paths(&'a [PathBuf], SourceTrust),
    Pull(UploadFile),
}

/// A file the server pulls from `url`, named after the URL's last segment.
pub fn pull_file(
    url: &str,
    thumbprint: Option<&str>,
    cert: Option<&Path>,
    checksum: Option<&str>,
) -> Result<UploadFile, Failure> {
    let parsed = reqwest::Url::parse(url).map_err(|e| usage(format!("--pull {url:?} is not a URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(usage(format!("--pull takes an http or https URL, not {}:", parsed.scheme())));
    }
    let segment = parsed.path_segments().and_then(|mut s| s.next_back()).unwrap_or_default();
    let name = percent_encoding::percent_decode_str(segment).decode_utf8_lossy().into_owned();
    if name.is_empty() {
        return Err(usage(format!("--pull {url:?} names no file: its path must end in the file's name")));
    }
    let pem = match cert {
        Some(path) => {
            Some(std::fs::read_to_string(path).map_err(|e| usage(format!("--source-cert {}: {e}", path.display())))?)
        }
        None => None,
    };
    let file = UploadFile::pull(&name, url, thumbprint, pem.as_deref());
    match checksum {
        Some(spec) => {
            let (algorithm, hex) = spec
                .split_once(':')
                .ok_or_else(|| usage(format!("--source-checksum {spec:?}: give ALGORITHM:HEX, e.g. sha256:ab12…")))?;
            let algorithm = match algorithm.to_ascii_lowercase().as_str() {
                "md5" => ChecksumAlgorithm::Md5,
                "sha1" => ChecksumAlgorithm::Sha1,
                "sha256" => ChecksumAlgorithm::Sha256,
                "sha512" => ChecksumAlgorithm::Sha512,
                other => return Err(usage(format!("--source-checksum: {other:?} is not md5, sha1, sha256 or sha512"))),
            };
            if hex.is_empty() || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
                return Err(usage(format!("--source-checksum: {hex:?} is not hexadecimal")));
            }
            Ok(file.with_checksum(algorithm, hex))
        }
        None => Ok(file),
    }
}

/// The preview warnings to accept, from `--ignore-warning` (any case, `-` or `_`).
pub fn warnings(names: &[String]) -> Result<Vec<WarningType>, Failure> {
    names
        .iter()
        .map(|name| {
            let canonical = name.to_ascii_uppercase().replace('-', "_");
            match WarningType::from(canonical.as_str()) {
                WarningType::Unknown(_) => Err(usage(format!(
                    "--ignore-warning {name:?}: give self-signed-certificate, expired-certificate, \
                     not-yet-valid-certificate or untrusted-certificate"
                ))),
                known => Ok(known),
            }
        })
        .collect()
}

/// The item type for a pulled file, by its name.
fn pulled_type(files: &[UploadFile]) -> ItemType {
    let name = files.first().map(|f| f.name().to_ascii_lowercase()).unwrap_or_default();
    if name.ends_with(".iso") {
        ItemType::Iso
    } else if name.ends_with(".ova") || name.ends_with(".ovf") {
        ItemType::Ovf
    } else {
        ItemType::File
    }
}

pub async fn upload(
    client: &Client,
    sources: Sources<'_>,
    library: &str,
    item: &str,
    create: bool,
    options: UploadOptions,
    json_out: bool,
) -> Result<TransferReport, Failure> {
    let (files, paths): (Vec<UploadFile>, &[PathBuf]) = match sources {
        Sources::Paths(paths, trust) => (gather(paths, &trust)?, paths),
        Sources::Pull(file) => (vec![file], &[]),
    };
    let library_id = crate::resolve::library(client, library).await?;
    let existing = crate::resolve::item_in(client, &library_id, item).await?;
    if existing.is_none() && !create {
        return Err(usage(format!(
            "library {:?} has no item {:?}; pass --create to create it",
            clean(library),
            clean(item)
        )));
    }
    let control = TransferControl::new();
    crate::signals::watch(&control);
    let bars = progress::show(&control, json_out);
    let options = options.control(control);
    let result = match existing {
        Some(id) => client.upload_item(&id, files, options).await,
        None => {
            let kind = if paths.is_empty() { pulled_type(&files) } else { item_type(paths) };
            client.upload_new_item(&library_id, item, &kind, files, options).await
        }
    };
    bars.finish().await;
    Ok(TransferReport::uploaded(&result?))
}

/// Upload options as the flags set them.
pub fn upload_options(knobs: &TransferArgs, checksum: ChecksumArg) -> UploadOptions {
    let algorithm = match checksum {
        ChecksumArg::None => None,
        ChecksumArg::Md5 => Some(ChecksumAlgorithm::Md5),
        ChecksumArg::Sha1 => Some(ChecksumAlgorithm::Sha1),
        ChecksumArg::Sha256 => Some(ChecksumAlgorithm::Sha256),
        ChecksumArg::Sha512 => Some(ChecksumAlgorithm::Sha512),
    };
    let options =
        UploadOptions::default().checksum(algorithm).concurrency(knobs.concurrency.into()).retries(knobs.retries);
    match knobs.deadline {
        Some(deadline) => options.deadline(deadline),
        None => options,
    }
}
