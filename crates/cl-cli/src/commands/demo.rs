//! `clx demo`: a generated OVF set up and down again, every byte compared.

use std::path::Path;

use cl_sdk::transfer::{TransferControl, UploadFile};
use cl_sdk::{Client, ErrorKind};
use cl_sdk::{DatastoreId, ItemId, ItemType, LibraryId};
use serde::Serialize;

use super::Ctx;
use super::download::download_options;
use super::upload::{expand, upload_options};
use crate::args::{ChecksumArg, DemoArgs, TransferArgs};
use crate::output::{EXIT_VERIFICATION, Failure, Report, fail, print, summary};
use crate::progress;

/// Writes a small OVF set as exporters do: a descriptor (files with their sizes, disks with
/// their capacities), a SHA-256 manifest, and two hosted sparse VMDKs of `disk_mib` MiB whose
/// grains all hold a pattern, so the preflight (`clx check`) takes the set as it is.
fn generate_ovf_set(dir: &Path, disk_mib: u64) -> std::io::Result<()> {
    use sha2::Digest;
    let mut manifest = String::new();
    let (mut files, mut disks) = (String::new(), String::new());
    for (i, seed) in [(0u8, 17u8), (1, 91)] {
        let name = format!("demo-disk{i}.vmdk");
        let (size, sum) = sparse_vmdk(&dir.join(&name), &name, disk_mib, seed)?;
        manifest.push_str(&format!("SHA256({name})= {sum}\n"));
        files.push_str(&format!("    <File ovf:href=\"{name}\" ovf:id=\"file{i}\" ovf:size=\"{size}\"/>\n"));
        disks.push_str(&format!(
            "    <Disk ovf:diskId=\"disk{i}\" ovf:fileRef=\"file{i}\" ovf:capacity=\"{disk_mib}\" \
             ovf:capacityAllocationUnits=\"byte * 2^20\" \
             ovf:format=\"http://www.vmware.com/interfaces/specifications/vmdk.html#monolithicSparse\"/>\n"
        ));
    }
    let ovf = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\">\n\
         \x20 <References>\n{files}  </References>\n\
         \x20 <DiskSection>\n    <Info>The demo's disks</Info>\n{disks}  </DiskSection>\n</Envelope>\n"
    );
    manifest.push_str(&format!("SHA256(demo.ovf)= {}\n", hex::encode(sha2::Sha256::digest(ovf.as_bytes()))));
    std::fs::write(dir.join("demo.ovf"), ovf)?;
    std::fs::write(dir.join("demo.mf"), manifest)
}

/// A hosted sparse VMDK (VMware's Virtual Disk Format 5.0) of `mib` MiB with every 64 KiB grain
/// allocated and filled with a pattern, written in one pass; its size and SHA-256.
fn sparse_vmdk(path: &Path, name: &str, mib: u64, seed: u8) -> std::io::Result<(u64, String)> {
    use sha2::Digest;
    use std::io::Write;
    const SECTOR: u64 = 512;
    const GRAIN: u64 = 128;
    const GTES: u64 = 512;
    let capacity = mib * 2048;
    let grains = capacity / GRAIN;
    let tables = grains.div_ceil(GTES);
    let gd = 21;
    let gt = gd + (tables * 4).div_ceil(SECTOR);
    let overhead = (gt + tables * 4).next_multiple_of(GRAIN);
    let mut meta = vec![0u8; (overhead * SECTOR) as usize];
    let mut put = |at: u64, bytes: &[u8]| meta[at as usize..at as usize + bytes.len()].copy_from_slice(bytes);
    put(0, b"KDMV");
    put(4, &1u32.to_le_bytes());
    put(8, &1u32.to_le_bytes()); // the newline test bytes are valid
    put(12, &capacity.to_le_bytes());
    put(20, &GRAIN.to_le_bytes());
    put(28, &1u64.to_le_bytes());
    put(36, &20u64.to_le_bytes());
    put(44, &(GTES as u32).to_le_bytes());
    put(56, &gd.to_le_bytes());
    put(64, &overhead.to_le_bytes());
    put(73, b"\n \r\n");
    let descriptor = format!(
        "# Disk DescriptorFile\nversion=1\nCID=c1a0c1a0\nparentCID=ffffffff\ncreateType=\"monolithicSparse\"\n\n\
         # Extent description\nRW {capacity} SPARSE \"{name}\"\n\n# The Disk Data Base\n#DDB\n\n\
         ddb.virtualHWVersion = \"4\"\nddb.adapterType = \"lsilogic\"\n"
    );
    put(SECTOR, descriptor.as_bytes());
    for t in 0..tables {
        put(gd * SECTOR + t * 4, &((gt + t * 4) as u32).to_le_bytes());
    }
    for k in 0..grains {
        put(gt * SECTOR + k * 4, &((overhead + k * GRAIN) as u32).to_le_bytes());
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut hash = sha2::Sha256::new();
    let mut write = |bytes: &[u8]| {
        hash.update(bytes);
        out.write_all(bytes)
    };
    write(&meta)?;
    let mut grain = vec![0u8; (GRAIN * SECTOR) as usize];
    for k in 0..grains {
        let base = k as usize * grain.len();
        for (j, b) in grain.iter_mut().enumerate() {
            let at = base + j;
            *b = (at as u8).wrapping_mul(seed).wrapping_add((at >> 12) as u8);
        }
        write(&grain)?;
    }
    out.flush()?;
    Ok(((overhead + grains * GRAIN) * SECTOR, hex::encode(hash.finalize())))
}

pub async fn run(args: &DemoArgs, ctx: &Ctx<'_>) -> Result<(), Failure> {
    let datastore = crate::resolve::datastore(ctx.client, args.datastore.as_deref()).await?;
    demo(ctx.client, &datastore, args.disk_mib, args.keep, ctx.transfer, ctx.json).await
}

/// The demo, then (unless `keep`) removing the item it made and a library it created.
async fn demo(
    client: &Client,
    datastore: &DatastoreId,
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
    library: &LibraryId,
    disk_mib: u64,
    knobs: &TransferArgs,
    json_out: bool,
    made_item: &mut Option<ItemId>,
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
        .upload_new_item(
            library,
            &item,
            &ItemType::Ovf,
            files,
            upload_options(knobs, ChecksumArg::Sha256).control(control),
        )
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
        item: up.item_id.to_string(),
        uploaded: leg(up.files.len(), up.bytes(), up.elapsed),
        downloaded: leg(down.files.len(), down.bytes(), down.elapsed),
        verified: true,
    };
    print(json_out, &report);
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The demo's set is what exporters write: the preflight finds nothing, digests included.
    #[test]
    fn the_generated_set_passes_the_preflight() {
        let dir = tempfile::tempdir().unwrap();
        super::generate_ovf_set(dir.path(), 3).unwrap();
        let paths = crate::commands::upload::expand(&[dir.path().to_owned()]).unwrap();
        let report = cl_sdk::preflight::check(&paths, cl_sdk::preflight::Options::full()).unwrap();
        assert!(report.findings.is_empty(), "{:#?}", report.findings);
        assert_eq!(report.files, 4);
        // qemu-img, where installed, reads the disks back as the pattern they hold.
        let Ok(out) =
            std::process::Command::new("qemu-img").arg("check").arg(dir.path().join("demo-disk1.vmdk")).output()
        else {
            return;
        };
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stdout));
    }
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
