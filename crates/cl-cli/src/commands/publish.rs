//! `clx publish DIR`: a folder as a VCSP feed (see `cl_sdk::publish`), written in place; and
//! `clx publish --check URL|DIR`: a feed checked as a subscriber reads it.

use cl_sdk::publish::{PublishReport, PublishedItem};
use serde::Serialize;

use crate::args::PublishArgs;
use crate::output::{Failure, Report, Row, clean, fail, human, print};

pub async fn run(args: &PublishArgs, json: bool) -> Result<(), Failure> {
    if let Some(location) = &args.check {
        let report = cl_sdk::publish::check_feed(location, args.previous.as_deref()).await?;
        let summary = format!("feed {}: {}", clean(&cl_sdk::redact_url(location)), super::check::counts(&report));
        return super::check::show(&report, json, &summary, "subscribers would fail or miss changes");
    }
    let dir = args.dir.clone().expect("clap requires DIR without --check");
    if let Some(url) = &args.mirror {
        let report = cl_sdk::publish::mirror_feed(url, &dir).await?;
        print(json, &Mirrored(report));
        return Ok(());
    }
    let mut options = cl_sdk::publish::PublishOptions::new().rehash(args.rehash);
    if let Some(name) = &args.name {
        options = options.name(name);
    }
    let report = tokio::task::spawn_blocking(move || cl_sdk::publish::publish_folder(&dir, &options))
        .await
        .map_err(|e| fail(format!("the publish task failed: {e}")))??;
    let uploaded = match &args.to {
        Some(to) => Some(upload(&args.dir.clone().expect("DIR"), to).await?),
        None => None,
    };
    print(json, &Published { report, uploaded });
    Ok(())
}

#[cfg(feature = "s3")]
async fn upload(dir: &std::path::Path, to: &str) -> Result<Uploaded, Failure> {
    let report = cl_sdk::publish::upload_feed(dir, &cl_sdk::publish::S3Target::new(to)).await?;
    Ok(Uploaded { to: to.to_owned(), report })
}

#[cfg(not(feature = "s3"))]
async fn upload(_: &std::path::Path, _: &str) -> Result<Uploaded, Failure> {
    Err(crate::output::usage("this clx was built without the s3 feature; --to needs it"))
}

/// What `--to` wrote.
#[derive(Serialize)]
struct Uploaded {
    to: String,
    #[cfg(feature = "s3")]
    #[serde(flatten)]
    report: cl_sdk::publish::S3Report,
}

impl Uploaded {
    fn text(&self) -> String {
        #[cfg(feature = "s3")]
        return format!(
            "\n{}: {} objects written ({}), {} unchanged",
            clean(&self.to),
            self.report.uploaded,
            human(self.report.bytes),
            self.report.unchanged
        );
        #[cfg(not(feature = "s3"))]
        String::new()
    }
}

#[derive(Serialize)]
struct Published {
    #[serde(flatten)]
    report: PublishReport,
    #[serde(skip_serializing_if = "Option::is_none")]
    uploaded: Option<Uploaded>,
}

#[derive(Serialize)]
#[serde(transparent)]
struct ItemRow(PublishedItem);

impl Row for ItemRow {
    const HEADER: &'static [&'static str] = &["ITEM", "TYPE", "VERSION", "SIZE", "STATE"];
    fn cells(&self) -> Vec<String> {
        let i = &self.0;
        vec![
            clean(&i.name).into_owned(),
            i.r#type.clone(),
            clean(&i.version).into_owned(),
            human(i.bytes),
            i.state.into(),
        ]
    }
}

impl Report for Published {
    fn text(&self) -> String {
        let r = &self.report;
        let rows: Vec<ItemRow> = r.items.iter().cloned().map(ItemRow).collect();
        let mut out = rows.text();
        for name in &r.removed {
            out.push_str(&format!("\nremoved: {}", clean(name)));
        }
        for why in &r.skipped {
            out.push_str(&format!("\nleft out: {}", clean(why)));
        }
        let what = if r.changed { "written" } else { "unchanged" };
        out.push_str(&format!(
            "\nfeed {what}: library {:?} at version {}; serve the folder and subscribe to …/lib.json",
            clean(&r.library),
            clean(&r.version)
        ));
        if let Some(uploaded) = &self.uploaded {
            out.push_str(&uploaded.text());
        }
        out.trim_start_matches('\n').to_owned()
    }
}

#[derive(Serialize)]
#[serde(transparent)]
struct Mirrored(cl_sdk::publish::MirrorReport);

impl Report for Mirrored {
    fn text(&self) -> String {
        let r = &self.0;
        let mut out = format!(
            "mirrored version {}: {} items fetched ({} files, {}), {} unchanged",
            clean(&r.version),
            r.fetched_items.len(),
            r.files,
            human(r.bytes),
            r.unchanged_items
        );
        for name in &r.removed_items {
            out.push_str(&format!("\nno longer in the feed: {}", clean(name)));
        }
        out
    }
}
