//! The figures of the routes beyond plain downloads and uploads:
//!
//! * `copy_vs_curl_pipe`: one large file's item copied between two simulators by the SDK, against
//!   what a script would run between the same two: `curl GET | curl -T -` from a prepared
//!   download endpoint into a fresh upload endpoint; and the copying process's peak RSS.
//! * `url_import_vs_curl_pipe`: a new item from an http URL (a prepared download endpoint of
//!   another simulator) fetched and streamed by the SDK, against `curl URL | curl -T -`; and the
//!   importing process's peak RSS.
//! * `preflight_10gib_stream_ms`: `cl_sdk::preflight` over a generated 10 GiB stream-optimized
//!   disk, and `preflight_vs_qemu_img_check` against qemu-img's own check of it.
//! * `ova_export_vs_download`: an OVF item (a descriptor and the large file as its disk) written
//!   as one OVA file, against downloading the same item into a folder (both the SDK, both
//!   verified).

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use super::PAIRS;
use super::harness::{Pair, Runs, median, number, start_sim, tool};

/// The ratio (throughput SDK / curl pipe) and the SDK's peak RSS in MiB.
pub fn copy_vs_curl_pipe(root: &Path, dir: &Path, source: &Path) -> Result<(f64, f64)> {
    let from = start_sim(root, dir, "0ms")?;
    let to = start_sim(root, dir, "0ms")?;
    let item = tool(root, &[&from.url, "setup", "copy-source", &source.to_string_lossy()], &[])?["item"].clone();
    let mut runs = Runs::default();
    for pair in 0..PAIRS {
        let sdk = tool(root, &[&from.url, "copy", &item, &to.url], &[])?;
        let get = tool(root, &[&from.url, "get-endpoint", &item], &[])?;
        let curl = curl_pipe(root, &get["uri"], &to.url, source, &format!("pipe-{pair}"))?;
        tool(root, &[&from.url, "drop-download", &get["session"]], &[])?;
        runs.push(Pair { sdk: number(&sdk, "seconds")?, curl, rss_mib: number(&sdk, "rss_mib")?, scripted: None });
    }
    runs.show(" (copy)");
    Ok((runs.ratio(), runs.rss_mib.iter().copied().fold(0.0, f64::max)))
}

/// Throughput of `export_ova_to` over `download_item` of the same OVF item.
pub fn ova_export_vs_download(root: &Path, dir: &Path, source: &Path) -> Result<f64> {
    let sim = start_sim(root, dir, "0ms")?;
    let set = dir.join("ovf-set");
    std::fs::create_dir_all(&set)?;
    let descriptor = set.join("app.ovf");
    std::fs::write(
        &descriptor,
        "<?xml version=\"1.0\"?><Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" \
         xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\"><References><File ovf:href=\"disk.vmdk\" \
         ovf:id=\"file1\"/></References></Envelope>\n",
    )?;
    let disk = set.join("disk.vmdk");
    std::fs::hard_link(source, &disk).or_else(|_| std::fs::copy(source, &disk).map(|_| ()))?;
    let files = [descriptor.to_string_lossy().into_owned(), disk.to_string_lossy().into_owned()];
    let item = tool(root, &[&sim.url, "setup", "app", &files[0], &files[1]], &[])?["item"].clone();
    std::fs::remove_dir_all(&set)?;
    let (mut ova, mut folder) = (Vec::new(), Vec::new());
    for pair in 0..PAIRS {
        let path = dir.join(format!("app-{pair}.ova"));
        ova.push(number(&tool(root, &[&sim.url, "ova", &item, &path.to_string_lossy()], &[])?, "seconds")?);
        std::fs::remove_file(&path)?;
        let out = dir.join(format!("app-{pair}"));
        std::fs::create_dir(&out)?;
        folder.push(number(&tool(root, &[&sim.url, "download", &item, &out.to_string_lossy()], &[])?, "seconds")?);
        std::fs::remove_dir_all(&out)?;
    }
    super::harness::spread("SDK OVA", &ova);
    super::harness::spread("SDK folder", &folder);
    Ok(median(folder) / median(ova))
}

/// Throughput of the SDK's URL import over `curl URL | curl -T -`, and the SDK's peak RSS.
pub fn url_import_vs_curl_pipe(root: &Path, dir: &Path, source: &Path) -> Result<(f64, f64)> {
    let from = start_sim(root, dir, "0ms")?;
    let to = start_sim(root, dir, "0ms")?;
    let item = tool(root, &[&from.url, "setup", "url-source", &source.to_string_lossy()], &[])?["item"].clone();
    let get = tool(root, &[&from.url, "get-endpoint", &item], &[])?;
    let mut runs = Runs::default();
    for pair in 0..PAIRS {
        let sdk = tool(root, &[&to.url, "import", &get["uri"]], &[])?;
        let curl = curl_pipe(root, &get["uri"], &to.url, source, &format!("url-pipe-{pair}"))?;
        runs.push(Pair { sdk: number(&sdk, "seconds")?, curl, rss_mib: number(&sdk, "rss_mib")?, scripted: None });
    }
    tool(root, &[&from.url, "drop-download", &get["session"]], &[])?;
    runs.show(" (URL import)");
    Ok((runs.ratio(), runs.rss_mib.iter().copied().fold(0.0, f64::max)))
}

/// Seconds `curl URI | curl -T -` takes into a fresh upload endpoint (named `name`) of the
/// simulator at `to`, sized as `source`; the endpoint's session and item are dropped after.
fn curl_pipe(root: &Path, uri: &str, to: &str, source: &Path, name: &str) -> Result<f64> {
    let size = std::fs::metadata(source)?.len();
    let put = tool(root, &[to, "put-endpoint", name, &source.to_string_lossy()], &[])?;
    let started = Instant::now();
    // The declared length spares curl's chunked encoding, which the upload endpoint refuses.
    let script = format!("curl -sS --fail '{uri}' | curl -sS --fail -T - -H 'Content-Length: {size}' '{}'", put["uri"]);
    let status = Command::new("bash").args(["-o", "pipefail", "-c", &script]).status().context("running curl")?;
    if !status.success() {
        bail!("curl GET | curl -T - failed");
    }
    let seconds = started.elapsed().as_secs_f64();
    tool(root, &[to, "drop-upload", &put["session"], &put["item"]], &[])?;
    Ok(seconds)
}

/// `preflight_10gib_stream_ms`: the preflight of a 10 GiB stream-optimized disk (163 840 grains,
/// every one allocated), warm cache, median of 5; and the same against `qemu-img check` of it
/// (`preflight_vs_qemu_img_check`, times qemu-img / preflight), when qemu-img is installed.
pub fn preflight(root: &Path, dir: &Path) -> Result<(f64, Option<f64>)> {
    let disk = dir.join("preflight.vmdk");
    stream_disk(&disk, 10 << 30)?;
    let path = disk.to_string_lossy().into_owned();
    let mut ours = Vec::new();
    for run in 0..6 {
        let out = tool(root, &["-", "preflight", &path], &[])?;
        if out.get("findings").map(String::as_str) != Some("0") {
            bail!("the generated disk has findings: {out:?}");
        }
        if run > 0 {
            ours.push(number(&out, "seconds")? * 1000.0);
        }
    }
    let ms = median(ours);
    let qemu = Command::new("qemu-img").arg("--version").output().is_ok_and(|o| o.status.success());
    let ratio = if qemu {
        let mut times = Vec::new();
        for _ in 0..6 {
            let started = Instant::now();
            let status = Command::new("qemu-img").args(["check", "-q"]).arg(&disk).status()?;
            if !status.success() {
                bail!("qemu-img check refused the generated disk");
            }
            times.push(started.elapsed().as_secs_f64() * 1000.0);
        }
        Some(median(times) / ms)
    } else {
        None
    };
    std::fs::remove_file(&disk)?;
    println!("    preflight of a 10 GiB stream-optimized disk: {ms:.1} ms");
    Ok((ms, ratio))
}

/// Writes a stream-optimized VMDK of `capacity` bytes with every 64 KiB grain allocated (each the
/// same small deflated pattern): header, descriptor, grains with a grain table after each 512,
/// the grain directory, footer and end-of-stream marker, as VMware's format describes them.
fn stream_disk(path: &Path, capacity: u64) -> Result<()> {
    use std::io::Write;
    const SECTOR: u64 = 512;
    const GRAIN: u64 = 128;
    let sectors = capacity / SECTOR;
    let grains = sectors / GRAIN;
    let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    deflate.write_all(&vec![0x5a; (GRAIN * SECTOR) as usize])?;
    let data = deflate.finish()?;
    let overhead = 128u64;
    let header = |gd: u64| {
        let mut h = vec![0u8; SECTOR as usize];
        h[..4].copy_from_slice(b"KDMV");
        h[4..8].copy_from_slice(&3u32.to_le_bytes());
        h[8..12].copy_from_slice(&0x3_0001u32.to_le_bytes());
        h[12..20].copy_from_slice(&sectors.to_le_bytes());
        h[20..28].copy_from_slice(&GRAIN.to_le_bytes());
        h[28..36].copy_from_slice(&1u64.to_le_bytes());
        h[36..44].copy_from_slice(&1u64.to_le_bytes());
        h[44..48].copy_from_slice(&512u32.to_le_bytes());
        h[56..64].copy_from_slice(&gd.to_le_bytes());
        h[64..72].copy_from_slice(&overhead.to_le_bytes());
        h[73..77].copy_from_slice(b"\n \r\n");
        h[77..79].copy_from_slice(&1u16.to_le_bytes());
        h
    };
    let marker = |value: u64, size: u32, kind: u32| {
        let mut m = vec![0u8; SECTOR as usize];
        m[..8].copy_from_slice(&value.to_le_bytes());
        m[8..12].copy_from_slice(&size.to_le_bytes());
        m[12..16].copy_from_slice(&kind.to_le_bytes());
        m
    };
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    out.write_all(&header(u64::MAX))?;
    let descriptor = format!(
        "# Disk DescriptorFile\nversion=1\nCID=12345678\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\
         # Extent description\nRW {sectors} SPARSE \"preflight.vmdk\"\n# The Disk Data Base\n#DDB\n\
         ddb.adapterType = \"lsilogic\"\n"
    );
    let mut sector = vec![0u8; SECTOR as usize];
    sector[..descriptor.len()].copy_from_slice(descriptor.as_bytes());
    out.write_all(&sector)?;
    out.write_all(&vec![0u8; ((overhead - 2) * SECTOR) as usize])?;
    let mut at = overhead;
    let mut record = (12 + data.len() as u64).div_ceil(SECTOR) * SECTOR;
    let mut grain_bytes = vec![0u8; record as usize];
    grain_bytes[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
    grain_bytes[12..12 + data.len()].copy_from_slice(&data);
    record /= SECTOR;
    let mut directory = Vec::new();
    let mut table = Vec::new();
    for grain in 0..grains {
        grain_bytes[..8].copy_from_slice(&(grain * GRAIN).to_le_bytes());
        out.write_all(&grain_bytes)?;
        table.extend((at as u32).to_le_bytes());
        at += record;
        if table.len() == 2048 || grain + 1 == grains {
            table.resize(2048, 0);
            out.write_all(&marker(4, 0, 1))?;
            out.write_all(&table)?;
            directory.extend(((at + 1) as u32).to_le_bytes());
            at += 5;
            table.clear();
        }
    }
    let gd_sectors = (directory.len() as u64).div_ceil(SECTOR);
    directory.resize((gd_sectors * SECTOR) as usize, 0);
    out.write_all(&marker(gd_sectors, 0, 2))?;
    out.write_all(&directory)?;
    let gd = at + 1;
    out.write_all(&marker(1, 0, 3))?;
    out.write_all(&header(gd))?;
    out.write_all(&marker(0, 0, 0))?;
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The generated disk is one qemu-img reads back as the pattern it holds.
    #[test]
    fn the_generated_disk_reads_back_with_qemu_img() {
        if Command::new("qemu-img").arg("--version").output().is_err() {
            eprintln!("skipped: no qemu-img");
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let disk = dir.path().join("d.vmdk");
        super::stream_disk(&disk, 40 << 20).unwrap();
        assert!(Command::new("qemu-img").args(["check", "-q"]).arg(&disk).status().unwrap().success());
        let raw = dir.path().join("d.raw");
        let converted = Command::new("qemu-img").args(["convert", "-O", "raw"]).arg(&disk).arg(&raw).status();
        assert!(converted.unwrap().success());
        let bytes = std::fs::read(&raw).unwrap();
        assert_eq!(bytes.len(), 40 << 20);
        assert!(bytes.iter().all(|&b| b == 0x5a));
    }

    use std::process::Command;
}
