//! Uploads and downloads as commands: local files gathered, progress shown, Ctrl-C canceling.

use std::path::{Path, PathBuf};

use cl_sdk::transfer::{DownloadOptions, Overwrite, TransferControl, UploadFile, UploadOptions};
use cl_sdk::types::{ChecksumAlgorithm, ChecksumInfo};
use cl_sdk::{Client, ErrorKind};
use serde::Serialize;

use crate::args::{ChecksumArg, TransferArgs};
use crate::output::{EXIT_SERVER, Failure, Report, fail, summary};
use crate::progress;

/// What an upload or a download did.
#[derive(Serialize)]
pub struct TransferReport {
    item: String,
    files: Vec<FileRow>,
    bytes: u64,
    seconds: f64,
    #[serde(skip)]
    verb: &'static str,
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
        lines.push(summary(self.verb, self.files.len(), self.bytes, std::time::Duration::from_secs_f64(self.seconds)));
        lines.join("\n")
    }
}

/// Expands folders into their files.
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>, Failure> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.is_file())
                .collect();
            inside.sort();
            files.extend(inside);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

pub async fn upload(
    client: &Client,
    paths: &[PathBuf],
    library: &str,
    item: &str,
    create: bool,
    options: UploadOptions,
    json_out: bool,
) -> Result<TransferReport, Failure> {
    let files: Vec<UploadFile> = expand(paths)?.into_iter().map(UploadFile::path).collect();
    let library_id = client.find_library(library).await?;
    let item_type = if paths.iter().any(|p| {
        let name = p.to_string_lossy().to_ascii_lowercase();
        name.ends_with(".ovf") || name.ends_with(".ova") || p.is_dir()
    }) {
        "ovf"
    } else if paths.iter().all(|p| p.to_string_lossy().to_ascii_lowercase().ends_with(".iso")) {
        "iso"
    } else {
        "file"
    };
    let control = TransferControl::new();
    crate::signals::watch(&control);
    let bars = progress::show(&control, json_out);
    let options = options.control(control);
    let result = match client.find_item(&library_id, item).await {
        Ok(id) => client.upload_item(&id, files, options).await,
        Err(e) if e.kind() == ErrorKind::NotFound && create => {
            client.upload_new_item(&library_id, item, item_type, files, options).await
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            bars.finish().await;
            return Err(Failure { message: format!("{e}. Pass --create to create the item."), code: EXIT_SERVER });
        }
        Err(e) => Err(e),
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
        verb: "uploaded",
    })
}

/// Downloads an item into `to` (created when missing).
pub async fn download(
    client: &Client,
    item_id: &str,
    to: &Path,
    overwrite: bool,
    resume: bool,
    knobs: &TransferArgs,
    json_out: bool,
) -> Result<TransferReport, Failure> {
    std::fs::create_dir_all(to).map_err(|e| fail(format!("cannot create {}: {e}", to.display())))?;
    let control = TransferControl::new();
    crate::signals::watch(&control);
    let bars = progress::show(&control, json_out);
    let mut options = download_options(knobs).resume(resume).control(control);
    if overwrite {
        options = options.overwrite(Overwrite::Always);
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
        verb: "downloaded",
    })
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
