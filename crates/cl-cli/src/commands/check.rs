//! `clx check`, and the same preflight before `clx upload`: what is wrong with the files,
//! found before a server is touched (see `cl_sdk::preflight` and docs/preflight.md).

use std::path::PathBuf;

use cl_sdk::preflight::{self, Digests, Finding, Options, Report, Severity};
use serde::Serialize;

use crate::args::{CheckArgs, UploadArgs};
use crate::output::{Failure, Row, RowPrinter, clean, usage};

/// `clx check PATH…`: the findings as a table (or a JSON list); exit 2 when any is an error.
pub async fn run(args: &CheckArgs, json: bool) -> Result<(), Failure> {
    let paths = super::upload::expand(&args.paths)?;
    let mut options = if args.structure_only { Options::structure() } else { Options::full() };
    if args.skip_digests {
        options = options.digests(Digests::Skip);
    }
    let report = preflight::check_async(paths, options).await?;
    disks(&report, json);
    show(&report, json, &summary(&report), "fix them before uploading")
}

/// One line per disk on stderr: its layout, size, grains read and the tool that wrote it.
fn disks(report: &Report, json: bool) {
    if json {
        return;
    }
    for disk in &report.disks {
        eprintln!("clx: {}", clean(&disk.to_string()));
    }
}

/// Prints findings as a table (or a JSON list) and fails with exit 2 when any is an error.
pub fn show(report: &Report, json: bool, summary: &str, advice: &str) -> Result<(), Failure> {
    let mut printer = RowPrinter::new(json);
    for finding in &report.findings {
        printer.push(FindingRow(finding.clone()));
    }
    printer.finish();
    if report.has_errors() {
        return Err(usage(format!("{summary}; {advice}")));
    }
    if !json {
        eprintln!("clx: {summary}");
    }
    Ok(())
}

/// "N errors, M warnings", or that there were none.
pub fn counts(report: &Report) -> String {
    if report.findings.is_empty() {
        return "no problems found".to_owned();
    }
    format!("{}, {}", count(report, Severity::Error, "error"), count(report, Severity::Warning, "warning"))
}

/// Before `clx upload` connects: the local files' structure (the upload verifies manifest digests
/// as it hashes). Warnings are shown and the upload goes on; errors stop it.
pub async fn before_upload(args: &UploadArgs, json: bool) -> Result<(), Failure> {
    if args.no_preflight || args.pull.is_some() {
        return Ok(());
    }
    let local: Vec<PathBuf> = args.paths.iter().filter(|p| !super::upload::is_url(p)).cloned().collect();
    if local.is_empty() {
        return Ok(());
    }
    let options = if args.deep_check { Options::structure().grains(true) } else { Options::structure() };
    let report = preflight::check_async(super::upload::expand(&local)?, options).await?;
    for finding in &report.findings {
        if json {
            eprintln!("{}", serde_json::json!({ "finding": finding }));
        } else {
            eprintln!("clx: {}", clean(&finding.to_string()));
        }
    }
    if report.has_errors() {
        return Err(usage(format!(
            "the preflight found {}; nothing was sent. Fix the files (clx check shows the findings), or pass \
             --no-preflight to upload anyway",
            count(&report, Severity::Error, "error")
        )));
    }
    Ok(())
}

fn count(report: &Report, severity: Severity, word: &str) -> String {
    let n = report.findings.iter().filter(|f| f.severity == severity).count();
    format!("{n} {word}{}", if n == 1 { "" } else { "s" })
}

fn summary(report: &Report) -> String {
    let files = format!("{} file{}", report.files, if report.files == 1 { "" } else { "s" });
    if report.findings.is_empty() {
        return format!("{files} checked: no problems found");
    }
    format!(
        "{}, {} in {files} checked",
        count(report, Severity::Error, "error"),
        count(report, Severity::Warning, "warning")
    )
}

/// One finding as a row; under `--json` the finding itself.
#[derive(Serialize)]
#[serde(transparent)]
struct FindingRow(Finding);

impl Row for FindingRow {
    const HEADER: &'static [&'static str] = &["LEVEL", "FILE", "WHERE", "PROBLEM", "FIX"];
    fn cells(&self) -> Vec<String> {
        let f = &self.0;
        let level = match f.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let at = f.at.as_ref().map_or_else(|| "-".to_owned(), ToString::to_string);
        vec![
            level.to_owned(),
            clean(&f.file).into_owned(),
            at,
            format!("{} [{}]", clean(&f.problem), f.code),
            clean(&f.fix).into_owned(),
        ]
    }
}
