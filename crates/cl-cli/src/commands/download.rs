//! `clx download`: an item's files into a folder, or one file to stdout.

use std::path::Path;

use cl_sdk::transfer::{DownloadOptions, Overwrite, TransferControl};
use cl_sdk::{Client, ItemId};

use super::Ctx;
use crate::args::{DownloadArgs, TransferArgs};
use crate::output::{Failure, Report, fail, print, usage};
use crate::progress;
use crate::report::TransferReport;
use crate::signals::Aftermath;

pub async fn run(args: &DownloadArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    let (id, _) = crate::resolve::item(ctx.client, &args.target).await?;
    if let Some(ova) = &args.ova {
        return super::ova::export(ctx, &id, ova, args.overwrite).await;
    }
    let to = args.to.as_deref().ok_or_else(|| usage("give --to DIR (or - for stdout), or --ova PATH"))?;
    let request = DownloadRequest { only: &args.only, overwrite: args.overwrite, resume: !args.no_resume };
    if to.as_os_str() == "-" {
        download_to_stdout(ctx.client, &id, &request, ctx.transfer).await
    } else {
        let report = download(ctx.client, &id, to, &request, ctx.transfer, ctx.json).await?;
        print(ctx.json, &report);
        Ok(())
    }
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
    item_id: &ItemId,
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
    let aftermath = if request.resume { Aftermath::KeepForResume } else { Aftermath::CleanUp };
    crate::signals::watch_keeping(&control, aftermath);
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
    Ok(TransferReport::downloaded(item_id.as_str(), &report?))
}

/// Downloads one file of an item and writes it to stdout, progress on stderr. The bytes are
/// verified in a private folder first, so stdout never receives a byte that was not.
pub async fn download_to_stdout(
    client: &Client,
    item_id: &ItemId,
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
    let path = report.paths().next().cloned().ok_or_else(|| fail("nothing was downloaded"))?;
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
