//! What an upload or a download did, as clx reports it (a summary line, or JSON).

use std::path::PathBuf;

use cl_sdk::transfer::{DownloadReport, UploadReport};
use cl_sdk::types::ChecksumInfo;
use serde::Serialize;

use crate::output::{Report, clean, summary};

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

impl TransferReport {
    /// What an upload did.
    pub fn uploaded(report: &UploadReport) -> Self {
        let files = report
            .files
            .iter()
            .map(|f| FileRow {
                name: f.name.clone(),
                path: None,
                size: f.size,
                checksum: f.checksum.clone().map(info),
                resumed_from: 0,
                started_over: false,
            })
            .collect();
        TransferReport {
            item: report.item_id.to_string(),
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
        }
    }

    /// What a download of `item_id` did.
    pub fn downloaded(item_id: &str, report: &DownloadReport) -> Self {
        let files = report
            .files
            .iter()
            .map(|f| FileRow {
                name: f.name.clone(),
                path: Some(f.path.clone()),
                size: f.size,
                checksum: f.verified_checksum.clone().map(info),
                resumed_from: f.resumed_from,
                started_over: f.started_over,
            })
            .collect();
        TransferReport {
            item: item_id.to_owned(),
            files,
            bytes: report.bytes(),
            seconds: report.elapsed.as_secs_f64(),
            signed: None,
            verb: "downloaded",
        }
    }

    /// Where the files were written (downloads).
    pub fn paths(&self) -> impl Iterator<Item = &PathBuf> {
        self.files.iter().filter_map(|f| f.path.as_ref())
    }
}

/// A verified checksum in the server's JSON shape (`{algorithm, checksum}`), as clx prints it.
fn info(sum: cl_sdk::transfer::Checksum) -> ChecksumInfo {
    ChecksumInfo { algorithm: Some(sum.algorithm), checksum: sum.hex }
}
