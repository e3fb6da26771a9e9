//! `clx demo`: a generated OVF set up and down again, every byte compared.

use std::path::Path;

use cl_sdk::transfer::{TransferControl, UploadFile};
use cl_sdk::{Client, ErrorKind};
use serde::Serialize;

use super::Ctx;
use super::download::download_options;
use super::upload::{expand, upload_options};
use crate::args::{ChecksumArg, DemoArgs, TransferArgs};
use crate::output::{EXIT_VERIFICATION, Failure, Report, fail, print, summary};
use crate::progress;

/// Writes a small OVF set: descriptor, manifest and two disks of `disk_mib` MiB.
fn generate_ovf_set(dir: &Path, disk_mib: u64) -> std::io::Result<()> {
    use sha2::Digest;
    let mut manifest = String::new();
    let mut refs = String::new();
    for (i, seed) in [(0u8, 17u8), (1, 91)] {
        let name = format!("demo-disk{i}.vmdk");
        let mut bytes = vec![0u8; (disk_mib * 1024 * 1024) as usize];
        for (j, b) in bytes.iter_mut().enumerate() {
            *b = (j as u8).wrapping_mul(seed).wrapping_add((j >> 12) as u8);
        }
        std::fs::write(dir.join(&name), &bytes)?;
        manifest.push_str(&format!("SHA256({name})= {}\n", hex::encode(sha2::Sha256::digest(&bytes))));
        refs.push_str(&format!("    <File ovf:href=\"{name}\" ovf:id=\"file{i}\"/>\n"));
    }
    let ovf = format!("<?xml version=\"1.0\"?>\n<Envelope>\n  <References>\n{refs}  </References>\n</Envelope>\n");
    manifest.push_str(&format!("SHA256(demo.ovf)= {}\n", hex::encode(sha2::Sha256::digest(ovf.as_bytes()))));
    std::fs::write(dir.join("demo.ovf"), ovf)?;
    std::fs::write(dir.join("demo.mf"), manifest)
}

pub async fn run(args: &DemoArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    let datastore = crate::resolve::datastore(ctx.client, args.datastore.as_deref()).await?;
    demo(ctx.client, &datastore, args.disk_mib, args.keep, ctx.transfer, ctx.json).await
}

/// The demo, then (unless `keep`) removing the item it made and a library it created.
async fn demo(
    client: &Client,
    datastore: &str,
    disk_mib: u64,
    keep: bool,
    knobs: &TransferArgs,
    json_out: bool,
) -> Result<(), Failure> {
    let (library, created) = match client.find_library("clx-demo").await {
        Ok(id) => (id, false),
        Err(e) if e.kind() == ErrorKind::NotFound => (client.create_local_library("clx-demo", datastore).await?, true),
        Err(e) => return Err(e.into()),
    };
    let mut made_item = None;
    let result = round_trip(client, &library, disk_mib, knobs, json_out, &mut made_item).await;
    if !keep {
        if let Some(item) = made_item
            && let Err(e) = client.delete_item(&item).await
        {
            eprintln!("clx: could not remove the demo item {item}: {e}");
        }
        if created && let Err(e) = client.delete_local_library(&library).await {
            eprintln!("clx: could not remove the demo library: {e}");
        }
    }
    result
}

async fn round_trip(
    client: &Client,
    library: &str,
    disk_mib: u64,
    knobs: &TransferArgs,
    json_out: bool,
    made_item: &mut Option<String>,
) -> Result<(), Failure> {
    let work = tempfile::tempdir().map_err(|e| fail(format!("cannot make a work folder: {e}")))?;
    let (src, dest) = (work.path().join("upload"), work.path().join("download"));
    std::fs::create_dir_all(&src).and_then(|_| std::fs::create_dir_all(&dest)).map_err(|e| fail(e.to_string()))?;
    generate_ovf_set(&src, disk_mib).map_err(|e| fail(format!("cannot generate the demo files: {e}")))?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_millis();
    let item = format!("demo-{stamp}");
    let files: Vec<UploadFile> = expand(std::slice::from_ref(&src))?.into_iter().map(UploadFile::path).collect();
    let control = TransferControl::new();
    crate::signals::watch(&control);
    let bars = progress::show(&control, json_out);
    let up = client
        .upload_new_item(library, &item, "ovf", files, upload_options(knobs, ChecksumArg::Sha256).control(control))
        .await;
    bars.finish().await;
    let up = up?;
    *made_item = Some(up.item_id.clone());

    let control = TransferControl::new();
    crate::signals::watch(&control);
    let bars = progress::show(&control, json_out);
    let down = client.download_item(&up.item_id, &dest, download_options(knobs).control(control)).await;
    bars.finish().await;
    let down = down?;

    // Every byte: each downloaded file equals its source (the manifest stays behind in the item's
    // session, as OVF manifests do).
    for f in &down.files {
        let original = std::fs::read(src.join(&f.name)).map_err(|e| fail(e.to_string()))?;
        let copy = std::fs::read(&f.path).map_err(|e| fail(e.to_string()))?;
        if original != copy {
            return Err(Failure {
                kind: "Verification".into(),
                message: format!("{} differs after the round trip", f.name),
                code: EXIT_VERIFICATION,
            });
        }
    }
    let leg =
        |files: usize, bytes: u64, elapsed: std::time::Duration| Leg { files, bytes, seconds: elapsed.as_secs_f64() };
    let report = DemoReport {
        item: up.item_id.clone(),
        uploaded: leg(up.files.len(), up.bytes(), up.elapsed),
        downloaded: leg(down.files.len(), down.bytes(), down.elapsed),
        verified: true,
    };
    print(json_out, &report);
    Ok(())
}

#[derive(Serialize)]
struct Leg {
    files: usize,
    bytes: u64,
    seconds: f64,
}

#[derive(Serialize)]
struct DemoReport {
    item: String,
    uploaded: Leg,
    downloaded: Leg,
    verified: bool,
}

impl Report for DemoReport {
    fn text(&self) -> String {
        let line = |what, l: &Leg| summary(what, l.files, l.bytes, std::time::Duration::from_secs_f64(l.seconds));
        format!(
            "{}\n{}\nverified: every downloaded byte matches the upload",
            line("uploaded", &self.uploaded),
            line("downloaded", &self.downloaded)
        )
    }
}
