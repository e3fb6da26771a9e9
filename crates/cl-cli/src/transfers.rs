//! Uploads and downloads as commands: local files gathered, progress shown, Ctrl-C canceling.

use std::path::{Path, PathBuf};

use cl_sdk::Client;
use cl_sdk::transfer::{DownloadOptions, Overwrite, TransferControl, UploadFile, UploadOptions};
use cl_sdk::types::{ChecksumAlgorithm, ChecksumInfo, WarningType};
use serde::Serialize;

use crate::args::{ChecksumArg, TransferArgs};
use crate::output::{Failure, Report, clean, fail, summary, usage};
use crate::progress;

/// What an upload or a download did.
#[derive(Serialize)]
pub struct TransferReport {
    item: String,
    files: Vec<FileRow>,
    bytes: u64,
    seconds: f64,
    /// Signed content's certificate and the preview warnings accepted, for uploads.
    #[serde(skip_serializing_if = "Option::is_none")]
    signed: Option<Signed>,
    #[serde(skip)]
    verb: &'static str,
}

#[derive(Serialize)]
struct Signed {
    subject: String,
    issuer: String,
    self_signed: bool,
    warnings_accepted: Vec<String>,
}

#[derive(Serialize)]
struct FileRow {
    name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<PathBuf>,
    size: u64,
    checksum: Option<ChecksumInfo>,
    /// Bytes reused from an interrupted download.
    #[serde(skip_serializing_if = "is_zero")]
    resumed_from: u64,
    /// An interrupted download's bytes were dropped: the item changed since.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    started_over: bool,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Report for TransferReport {
    fn text(&self) -> String {
        let mut lines = Vec::new();
        for f in &self.files {
            let name = crate::output::clean(&f.name);
            if f.resumed_from > 0 {
                lines.push(format!("resumed {name} from byte {} of an interrupted download", f.resumed_from));
            }
            if f.started_over {
                lines.push(format!("{name} changed on the server since the interrupted download; started over"));
            }
        }
        if let Some(signed) = &self.signed {
            let how = if signed.self_signed { "self-signed" } else { "issued by" };
            let by = if signed.self_signed { String::new() } else { format!(" {}", clean(&signed.issuer)) };
            lines.push(format!("signed content: {} ({how}{by})", clean(&signed.subject)));
            if !signed.warnings_accepted.is_empty() {
                lines.push(format!("accepted warnings: {}", signed.warnings_accepted.join(", ")));
            }
        }
        lines.push(summary(self.verb, self.files.len(), self.bytes, std::time::Duration::from_secs_f64(self.seconds)));
        lines.join("\n")
    }
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
fn item_type(paths: &[PathBuf]) -> &'static str {
    let lower = |p: &PathBuf| p.to_string_lossy().to_ascii_lowercase();
    if paths.iter().any(|p| lower(p).ends_with(".ovf") || lower(p).ends_with(".ova") || p.is_dir()) {
        "ovf"
    } else if paths.iter().all(|p| lower(p).ends_with(".iso")) {
        "iso"
    } else {
        "file"
    }
}

/// What an upload sends: local paths, or one file the server pulls.
pub enum Sources<'a> {
    Paths(&'a [PathBuf]),
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
fn pulled_type(files: &[UploadFile]) -> &'static str {
    let name = files.first().map(|f| f.name().to_ascii_lowercase()).unwrap_or_default();
    if name.ends_with(".iso") {
        "iso"
    } else if name.ends_with(".ova") || name.ends_with(".ovf") {
        "ovf"
    } else {
        "file"
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
        Sources::Paths(paths) => (expand(paths)?.into_iter().map(UploadFile::path).collect(), paths),
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
            client.upload_new_item(&library_id, item, kind, files, options).await
        }
    };
    bars.finish().await;
    let report = result?;
    let files = report
        .files
        .iter()
        .map(|f| FileRow {
            name: f.name.clone(),
            path: None,
            size: f.size,
            checksum: f.checksum.clone(),
            resumed_from: 0,
            started_over: false,
        })
        .collect();
    Ok(TransferReport {
        item: report.item_id.clone(),
        files,
        bytes: report.bytes(),
        seconds: report.elapsed.as_secs_f64(),
        signed: report.preview.as_ref().and_then(|p| {
            let cert = p.certificate_info.as_ref()?;
            Some(Signed {
                subject: cert.subject.clone(),
                issuer: cert.issuer.clone(),
                self_signed: cert.self_signed,
                warnings_accepted: p.warnings.iter().map(|w| w.type_.to_string()).collect(),
            })
        }),
        verb: "uploaded",
    })
}

/// What a download asks for.
pub struct DownloadRequest<'a> {
    pub only: &'a [String],
    pub overwrite: bool,
    pub resume: bool,
}

/// Downloads an item into `to` (created when missing).
pub async fn download(
    client: &Client,
    item_id: &str,
    to: &Path,
    request: &DownloadRequest<'_>,
    knobs: &TransferArgs,
    json_out: bool,
) -> Result<TransferReport, Failure> {
    if to.exists() && !to.is_dir() {
        return Err(usage(format!("--to {} is a file, not a folder; give a folder (or - for stdout)", to.display())));
    }
    std::fs::create_dir_all(to).map_err(|e| usage(format!("cannot create the folder {}: {e}", to.display())))?;
    let control = TransferControl::new();
    crate::signals::watch(&control);
    let bars = progress::show(&control, json_out);
    let mut options = download_options(knobs).resume(request.resume).control(control);
    if request.overwrite {
        options = options.overwrite(Overwrite::Always);
    }
    if !request.only.is_empty() {
        options = options.only(request.only.iter().cloned());
    }
    let report = client.download_item(item_id, to, options).await;
    bars.finish().await;
    let report = report?;
    let files = report
        .files
        .iter()
        .map(|f| FileRow {
            name: f.name.clone(),
            path: Some(f.path.clone()),
            size: f.size,
            checksum: f
                .verified_checksum
                .clone()
                .map(|(algorithm, checksum)| ChecksumInfo { algorithm: Some(algorithm), checksum }),
            resumed_from: f.resumed_from,
            started_over: f.started_over,
        })
        .collect();
    Ok(TransferReport {
        item: item_id.to_owned(),
        files,
        bytes: report.bytes(),
        seconds: report.elapsed.as_secs_f64(),
        signed: None,
        verb: "downloaded",
    })
}

/// Downloads one file of an item and writes it to stdout, progress on stderr. The bytes are
/// verified in a private folder first, so stdout never receives a byte that was not.
pub async fn download_to_stdout(
    client: &Client,
    item_id: &str,
    request: &DownloadRequest<'_>,
    knobs: &TransferArgs,
) -> Result<(), Failure> {
    let name = match request.only {
        [one] => one.clone(),
        [] => {
            let files = client.item_files(item_id).await?;
            match files.as_slice() {
                [one] => one.name.clone(),
                _ => {
                    return Err(usage(format!(
                        "the item holds {} files; pick one with --only NAME to write it to stdout",
                        files.len()
                    )));
                }
            }
        }
        _ => return Err(usage("--to - writes one file: give --only once")),
    };
    let work = tempfile::tempdir().map_err(|e| fail(format!("cannot make a work folder: {e}")))?;
    let one = [name];
    let request = DownloadRequest { only: &one, overwrite: true, resume: false };
    let report = download(client, item_id, work.path(), &request, knobs, false).await?;
    let path = report.files.first().and_then(|f| f.path.clone()).ok_or_else(|| fail("nothing was downloaded"))?;
    let mut file = std::fs::File::open(&path).map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
    std::io::copy(&mut file, &mut std::io::stdout().lock())
        .map_err(|e| fail(format!("cannot write to stdout: {e}")))?;
    eprintln!("{}", report.text());
    Ok(())
}

/// Download options as the flags set them.
pub fn download_options(knobs: &TransferArgs) -> DownloadOptions {
    let options = DownloadOptions::default()
        .concurrency(knobs.concurrency.into())
        .retries(knobs.retries)
        .prepare_timeout(knobs.prepare_timeout);
    match knobs.deadline {
        Some(deadline) => options.deadline(deadline),
        None => options,
    }
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
