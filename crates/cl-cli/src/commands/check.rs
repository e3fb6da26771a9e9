//! `clx check`, and the same preflight before `clx upload`: what is wrong with the files,
//! found before a server is touched (see `cl_sdk::preflight` and docs/preflight.md).

use std::path::PathBuf;

use cl_sdk::preflight::{self, Digests, Finding, Options, Report, Severity};

use crate::args::{CheckArgs, UploadArgs};
use crate::output::{Failure, clean, usage};

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

/// Prints findings (or a JSON list of them) and fails with exit 2 when any is an error.
/// Findings are sentences, too long for table columns: each is a block of its own.
pub fn show(report: &Report, json: bool, summary: &str, advice: &str) -> Result<(), Failure> {
    if json {
        println!("{}", serde_json::to_string(&report.findings).expect("findings serialize"));
    } else {
        let blocks: Vec<String> = report.findings.iter().map(block).collect();
        if !blocks.is_empty() {
            println!("{}", blocks.join("\n\n"));
        }
    }
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

/// One finding for people: where and what on the first line, then the problem and the fix.
///
/// ```text
/// error  disk.vmdk, offset 197632  [vmdk.grain_data]
///   the grain at offset 197632 (disk sector 256) does not inflate (…)
///   fix: get the disk again from where it was built; …
/// ```
fn block(f: &Finding) -> String {
    let level = match f.severity {
        Severity::Error => "error",
        Severity::Warning => "warning",
    };
    let at = f.at.as_ref().map(|at| format!(", {at}")).unwrap_or_default();
    format!("{level}  {}{at}  [{}]\n  {}\n  fix: {}", clean(&f.file), f.code, clean(&f.problem), clean(&f.fix))
}
