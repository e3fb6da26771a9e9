//! `clx download TARGET --ova PATH|-`: an OVF template item as one OVA file, or on stdout.

use std::path::Path;

use cl_sdk::ItemId;
use cl_sdk::transfer::{OvaOptions, OvaReport, OvaTarget, Overwrite, TransferControl};
use serde::Serialize;

use super::Ctx;
use crate::output::{Failure, Report, clean, print, summary};
use crate::progress;

pub async fn export(ctx: &Ctx<'_>, item: &ItemId, path: &Path, overwrite: bool) -> Result<(), Failure> {
    let knobs = ctx.transfer;
    let control = TransferControl::new();
    crate::signals::watch(&control);
    let mut options = OvaOptions::default()
        .overwrite(if overwrite { Overwrite::Always } else { Overwrite::Never })
        .concurrency(knobs.concurrency.into())
        .retries(knobs.retries)
        .prepare_timeout(knobs.prepare_timeout)
        .control(control.clone());
    if let Some(deadline) = knobs.deadline {
        options = options.deadline(deadline);
    }
    let to_stdout = path.as_os_str() == "-";
    // On stdout the archive is the output: progress and the summary go to stderr.
    let bars = progress::show(&control, ctx.json || to_stdout);
    let target = if to_stdout { OvaTarget::writer(tokio::io::stdout()) } else { OvaTarget::path(path) };
    let report = ctx.client.export_ova(item, target, options).await;
    bars.finish().await;
    let report = OvaRow::new(item.as_str(), report?);
    if to_stdout {
        eprintln!("{}", report.text());
    } else {
        print(ctx.json, &report);
    }
    Ok(())
}

/// What an OVA export did.
#[derive(Serialize)]
struct OvaRow {
    item: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    path: Option<String>,
    members: Vec<Member>,
    bytes: u64,
    seconds: f64,
}

#[derive(Serialize)]
struct Member {
    name: String,
    size: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum: Option<String>,
}

impl OvaRow {
    fn new(item: &str, report: OvaReport) -> Self {
        let members = report
            .members
            .into_iter()
            .map(|m| Member { checksum: m.checksum.map(|sum| sum.to_string()), name: m.name, size: m.size })
            .collect();
        OvaRow {
            item: item.to_owned(),
            path: report.path.map(|p| p.display().to_string()),
            members,
            bytes: report.bytes,
            seconds: report.elapsed.as_secs_f64(),
        }
    }
}

impl Report for OvaRow {
    fn text(&self) -> String {
        let into = self.path.as_deref().map_or_else(|| "to stdout".to_owned(), |p| format!("into {}", clean(p)));
        let line =
            summary("exported", self.members.len(), self.bytes, std::time::Duration::from_secs_f64(self.seconds));
        format!("{line} as one OVA {into}, every member verified")
    }
}
