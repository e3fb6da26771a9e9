//! `clx copy`: an item, or every item of a library, to another vCenter or within one, streamed
//! from the source's download endpoints into the destination's upload endpoints.

use cl_sdk::Client;
use cl_sdk::transfer::{CopyOptions, CopyOutcome, CopyReport, TransferControl};
use serde::Serialize;

use super::Ctx;
use crate::args::CopyArgs;
use crate::connect::{Server, connect_to};
use crate::output::{Failure, Report, clean, print, summary, usage};
use crate::{progress, resolve};

pub async fn run(args: &CopyArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    let dest_client = destination(args, ctx).await?;
    let to = dest_client.as_ref().unwrap_or(ctx.client);
    let warnings = super::upload::warnings(&args.ignore_warning)?;
    let knobs = ctx.transfer;
    let mut options = CopyOptions::default()
        .create(args.create)
        .replace(args.replace)
        .ignore_warnings(warnings)
        .concurrency(knobs.concurrency.into())
        .retries(knobs.retries)
        .prepare_timeout(knobs.prepare_timeout);
    if let Some(deadline) = knobs.deadline {
        options = options.deadline(deadline);
    }
    let (dest_library, dest_name) = match args.dest.trim_matches('/').split_once('/') {
        Some((library, name)) if !name.is_empty() && !name.contains('/') => (library, Some(name)),
        Some(_) => return Err(usage(format!("{:?}: give LIBRARY/ITEM or LIBRARY", clean(&args.dest)))),
        None => (args.dest.trim_matches('/'), None),
    };
    let dest_library = resolve::library(to, dest_library).await?;
    let control = TransferControl::new();
    crate::signals::watch(&control);
    let options = options.control(control.clone());
    let rows = match source(ctx.client, &args.source).await? {
        Source::Item(item) => {
            let bars = progress::show(&control, ctx.json);
            let options = match dest_name {
                Some(name) => options.name(name),
                None => options,
            };
            let copied = ctx.client.copy_item(&item, to, &dest_library, options).await;
            bars.finish().await;
            vec![CopyRow::from(copied?)]
        }
        Source::Library(library) => {
            if dest_name.is_some() {
                return Err(usage("a library copies into a LIBRARY (its items keep their names), not LIBRARY/ITEM"));
            }
            let copies = ctx.client.copy_library(&library, to, &dest_library, options).await?;
            copies.into_iter().map(|c| CopyRow::from_result(c.source_item.to_string(), c.name, c.result)).collect()
        }
    };
    print(ctx.json, &rows);
    let failed: Vec<&CopyRow> = rows.iter().filter(|r| r.outcome == "failed").collect();
    match failed.first() {
        None => Ok(()),
        Some(first) => Err(Failure {
            kind: first.error_kind.clone().unwrap_or_default(),
            message: format!("{} of {} items failed to copy", failed.len(), rows.len()),
            code: first.exit_code,
        }),
    }
}

/// The destination's client, when it is another vCenter than the source's.
async fn destination(args: &CopyArgs, ctx: &Ctx<'_>) -> Result<Option<Client>, Failure> {
    let Some(url) = &args.to_url else {
        // A user name from the environment (set for copies to another vCenter) says nothing
        // about this copy; one typed on the command line without a destination is a mistake.
        let typed_username = args.to_username.is_some()
            && std::env::var("CLX_TO_USERNAME").ok().as_deref() != args.to_username.as_deref();
        if typed_username || args.to_ca_cert.is_some() || args.to_thumbprint.is_some() || args.to_insecure {
            return Err(usage("--to-username, --to-ca-cert, --to-thumbprint and --to-insecure need --to-url"));
        }
        return Ok(None);
    };
    let server = Server {
        url: url.clone(),
        username: args.to_username.clone(),
        password_vars: &["CLX_TO_PASSWORD"],
        insecure: args.to_insecure,
        ca_cert: args.to_ca_cert.as_deref(),
        thumbprint: args.to_thumbprint.as_deref(),
        flags: "--to-",
    };
    Ok(Some(connect_to(&server, ctx.cli).await?))
}

enum Source {
    Item(cl_sdk::ItemId),
    Library(cl_sdk::LibraryId),
}

/// `LIBRARY/ITEM` or an item id is one item; a library's name or id is all of its items.
async fn source(client: &Client, spec: &str) -> Result<Source, Failure> {
    if spec.trim_matches('/').contains('/') {
        return Ok(Source::Item(resolve::item(client, spec).await?.0));
    }
    match resolve::library(client, spec).await {
        Ok(library) => Ok(Source::Library(library)),
        Err(not_a_library) => match resolve::item(client, spec).await {
            Ok((item, _)) => Ok(Source::Item(item)),
            Err(_) => Err(not_a_library),
        },
    }
}

/// One item of a copy.
#[derive(Serialize)]
struct CopyRow {
    source_item: String,
    name: String,
    /// `copied`, `up to date` or `failed`.
    outcome: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    item: Option<String>,
    files: usize,
    bytes: u64,
    seconds: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    #[serde(skip)]
    error_kind: Option<String>,
    #[serde(skip)]
    exit_code: u8,
}

impl From<CopyReport> for CopyRow {
    fn from(report: CopyReport) -> Self {
        let outcome = match report.outcome {
            CopyOutcome::UpToDate => "up to date",
            _ => "copied",
        };
        CopyRow {
            files: report.files.len(),
            bytes: report.bytes(),
            seconds: report.elapsed.as_secs_f64(),
            outcome,
            item: Some(report.item_id.to_string()),
            source_item: report.source_item.to_string(),
            name: report.name,
            error: None,
            error_kind: None,
            exit_code: 0,
        }
    }
}

impl CopyRow {
    fn from_result(source_item: String, name: String, result: cl_sdk::Result<CopyReport>) -> Self {
        match result {
            Ok(report) => Self::from(report),
            Err(e) => {
                let failure = Failure::from(e);
                CopyRow {
                    source_item,
                    name,
                    outcome: "failed",
                    item: None,
                    files: 0,
                    bytes: 0,
                    seconds: 0.0,
                    error: Some(failure.message),
                    error_kind: Some(failure.kind),
                    exit_code: failure.code,
                }
            }
        }
    }
}

impl Report for Vec<CopyRow> {
    fn text(&self) -> String {
        let lines: Vec<String> = self
            .iter()
            .map(|row| {
                let name = clean(&row.name);
                match row.outcome {
                    "failed" => format!("failed {name}: {}", clean(row.error.as_deref().unwrap_or(""))),
                    "up to date" => format!("{name}: up to date, nothing sent"),
                    _ => summary(
                        &format!("copied {name}:"),
                        row.files,
                        row.bytes,
                        std::time::Duration::from_secs_f64(row.seconds),
                    ),
                }
            })
            .collect();
        lines.join("\n")
    }
}
