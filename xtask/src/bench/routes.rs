//! The figures of the routes beyond plain downloads and uploads:
//!
//! * `copy_vs_curl_pipe`: one large file's item copied between two simulators by the SDK, against
//!   what a script would run between the same two: `curl GET | curl -T -` from a prepared
//!   download endpoint into a fresh upload endpoint; and the copying process's peak RSS.
//! * `url_import_vs_curl_pipe`: a new item from an http URL (a prepared download endpoint of
//!   another simulator) fetched and streamed by the SDK, against `curl URL | curl -T -`; and the
//!   importing process's peak RSS.
//! * `download_cpu_vs_curl_openssl`, `upload_cpu_vs_openssl_curl`: CPU seconds per GiB of the
//!   SDK process against the script doing the same work (curl and `openssl dgst`).
//! * `upload_manifest_vs_curl`: an OVF set whose manifest gives the disk's SHA-256, uploaded in
//!   one pass, against `curl -T` of the disk.
//! * `preflight_10gib_stream_ms`: `cl_sdk::preflight` over a generated 10 GiB stream-optimized
//!   disk, and `preflight_vs_qemu_img_check` against qemu-img's own check of it.
//! * `deep_check_vs_qemu_img_convert`, `deep_check_rss_mib`: the deep preflight (every grain
//!   inflated) of a 10 GiB stream-optimized disk of mixed content against `qemu-img convert -O
//!   raw` of it to a tmpfs file, which inflates every grain too; and the checking process's peak
//!   RSS.
//! * `ova_export_vs_download`: an OVF item (a descriptor and the large file as its disk) written
//!   as one OVA file, against downloading the same item into a folder (both the SDK, both
//!   verified).
//! * `publish_vs_sha256sum`, `publish_rerun_ms`, `mirror_vs_curl`: `clx publish` of a folder of
//!   four items (hard links of the large file) against `sha256sum` over them, a rerun on the
//!   unchanged folder, and `clx publish --mirror` of it from Python's `http.server` against curl
//!   fetching the same files four at a time.

use std::path::{Path, PathBuf};
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

/// Throughput of `export_ova` to a path over `download_item` of the same OVF item.
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

/// `deep_check_vs_qemu_img_convert` (qemu-img's time over ours: above 1, the check is faster)
/// and `deep_check_rss_mib`: the deep preflight of a 10 GiB stream-optimized disk whose grains
/// are of every kind a system disk holds (noise, text, machine code, mostly zeros), against
/// `qemu-img convert -O raw` of it into a tmpfs file, warm cache, medians of interleaved pairs.
pub fn deep_check(root: &Path, dir: &Path) -> Result<(f64, f64)> {
    let disk = dir.join("deep.vmdk");
    let gib: u64 = std::env::var("CL_BENCH_DEEP_GIB").ok().and_then(|v| v.parse().ok()).unwrap_or(10);
    stream_disk_of(&disk, gib << 30, &mixed_grains()?)?;
    println!(
        "    disk: {gib} GiB of capacity, {:.2} GiB of file",
        std::fs::metadata(&disk)?.len() as f64 / (1u64 << 30) as f64
    );
    let tmpfs = Path::new("/dev/shm");
    let raw = if tmpfs.is_dir() { tmpfs.join("cl-bench-deep.raw") } else { dir.join("deep.raw") };
    let path = disk.to_string_lossy().into_owned();
    let (mut ours, mut theirs, mut rss) = (Vec::new(), Vec::new(), Vec::new());
    for pair in 0..4 {
        let out = tool(root, &["-", "deep-check", &path], &[])?;
        if out.get("errors").map(String::as_str) != Some("0") {
            bail!("the generated disk has errors: {out:?}");
        }
        let qemu = timed(Command::new("qemu-img").args(["convert", "-O", "raw"]).arg(&disk).arg(&raw))?;
        std::fs::remove_file(&raw)?;
        // The first pair warms the cache.
        if pair > 0 {
            ours.push(number(&out, "seconds")?);
            rss.push(number(&out, "rss_mib")?);
            theirs.push(qemu);
        }
    }
    std::fs::remove_file(&disk)?;
    super::harness::spread("deep check, s", &ours);
    super::harness::spread("qemu-img convert, s", &theirs);
    let ratio = median(theirs) / median(ours);
    let rss = rss.into_iter().fold(0.0, f64::max);
    println!("    deep check {ratio:.2}x qemu-img convert's speed, peak RSS {rss:.1} MiB");
    Ok((ratio, rss))
}

/// 64 KiB grains of the kinds a system disk holds, each deflated at zlib's default level as
/// qemu-img and VMware's writers deflate: noise (stored), text, machine-code-like bytes, and
/// mostly zeros with a little data.
fn mixed_grains() -> Result<Vec<Vec<u8>>> {
    use std::io::Write;
    let mut state = 0x853c_49e6_748f_ea9bu64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    let words = ["disk", "grain", "the", "library", "vcenter", "of", "a", "content", "item", "stream", "and", "to"];
    let mut grains = Vec::new();
    for kind in 0..32 {
        let grain: Vec<u8> = match kind % 4 {
            0 => (0..65536).map(|_| next() as u8).collect(),
            1 => {
                let mut text = Vec::new();
                while text.len() < 65536 {
                    text.extend_from_slice(words[(next() % words.len() as u64) as usize].as_bytes());
                    text.push(if next() % 9 == 0 { b'\n' } else { b' ' });
                }
                text.truncate(65536);
                text
            }
            2 => (0..65536u32).map(|i| if next() % 3 == 0 { next() as u8 } else { (i % 64) as u8 }).collect(),
            _ => (0..65536).map(|_| if next() % 16 == 0 { next() as u8 } else { 0 }).collect(),
        };
        let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        deflate.write_all(&grain)?;
        grains.push(deflate.finish()?);
    }
    Ok(grains)
}

/// A stream-optimized disk whose grains are all one small deflated pattern.
fn stream_disk(path: &Path, capacity: u64) -> Result<()> {
    use std::io::Write;
    let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    deflate.write_all(&vec![0x5a; 65536])?;
    stream_disk_of(path, capacity, &[deflate.finish()?])
}

/// Writes a stream-optimized VMDK of `capacity` bytes with every 64 KiB grain allocated (the
/// deflated `payloads` in turn): header, descriptor, grains with a grain table after each 512,
/// the grain directory, footer and end-of-stream marker, as VMware's format describes them.
fn stream_disk_of(path: &Path, capacity: u64, payloads: &[Vec<u8>]) -> Result<()> {
    use std::io::Write;
    const SECTOR: u64 = 512;
    const GRAIN: u64 = 128;
    let sectors = capacity / SECTOR;
    let grains = sectors / GRAIN;
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
    let records: Vec<Vec<u8>> = payloads
        .iter()
        .map(|data| {
            let mut record = vec![0u8; (12 + data.len() as u64).div_ceil(SECTOR) as usize * SECTOR as usize];
            record[8..12].copy_from_slice(&(data.len() as u32).to_le_bytes());
            record[12..12 + data.len()].copy_from_slice(data);
            record
        })
        .collect();
    let mut directory = Vec::new();
    let mut table = Vec::new();
    for grain in 0..grains {
        let mut record = records[(grain % records.len() as u64) as usize].clone();
        record[..8].copy_from_slice(&(grain * GRAIN).to_le_bytes());
        out.write_all(&record)?;
        table.extend((at as u32).to_le_bytes());
        at += record.len() as u64 / SECTOR;
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
        // The deep check's disk of mixed grains is one qemu-img reads as well.
        let mixed = dir.path().join("m.vmdk");
        super::stream_disk_of(&mixed, 8 << 20, &super::mixed_grains().unwrap()).unwrap();
        assert!(Command::new("qemu-img").args(["check", "-q"]).arg(&mixed).status().unwrap().success());
        let converted = Command::new("qemu-img").args(["convert", "-O", "raw"]).arg(&mixed).arg(&raw).status();
        assert!(converted.unwrap().success());
        assert_eq!(std::fs::metadata(&raw).unwrap().len(), 8 << 20);
    }

    use std::process::Command;
}

/// CPU seconds (user + system) of this process's waited-for children so far, from
/// `/proc/self/stat` (clock ticks of 1/100 s, Linux's USER_HZ): what an SDK run or a script
/// run added is the difference around it.
fn children_cpu() -> Result<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat")?;
    // Fields after the command name, which ends with the last ')': cutime and cstime are the
    // 16th and 17th fields of the line, the 14th and 15th after it.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).context("a /proc/self/stat line")?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok()).context("a CPU time field");
    Ok((ticks(13)? + ticks(14)?) / 100.0)
}

/// CPU seconds `work` adds in child processes.
fn cpu_of<T>(work: impl FnOnce() -> Result<T>) -> Result<(f64, T)> {
    let before = children_cpu()?;
    let value = work()?;
    Ok((children_cpu()? - before, value))
}

/// Runs a shell pipeline (curl and openssl, as a script would); fails on any stage's failure.
fn script(line: &str) -> Result<()> {
    let status = Command::new("bash").args(["-o", "pipefail", "-c", line]).status()?;
    if !status.success() {
        bail!("{line:?} failed");
    }
    Ok(())
}

/// CPU per GiB moved, SDK over the script doing the same work, side by side, medians of the
/// pairs: `download_cpu_vs_curl_openssl` (a verified download against `curl | openssl dgst
/// -sha1`) and `upload_cpu_vs_openssl_curl` (a SHA-256 upload against `openssl dgst -sha256`,
/// then `curl -T` to an endpoint that verifies that digest). Below 1: the SDK spends less.
pub fn cpu_per_gib(root: &Path, dir: &Path, source: &Path, item: &str, url: &str) -> Result<(f64, f64, CpuFigures)> {
    let gib = std::fs::metadata(source)?.len() as f64 / f64::from(1u32 << 30);
    let source_text = source.to_string_lossy().into_owned();
    let (mut down, mut up) = (Vec::new(), Vec::new());
    let mut figures = CpuFigures::default();
    for pair in 0..PAIRS {
        let out = dir.join("cpu-out");
        std::fs::create_dir(&out)?;
        let (sdk, _) = cpu_of(|| tool(root, &[url, "download", item, &out.to_string_lossy()], &[]))?;
        std::fs::remove_dir_all(&out)?;
        let get = tool(root, &[url, "get-endpoint", item], &[])?;
        let (scripted, ()) =
            cpu_of(|| script(&format!("curl -sS --fail '{}' | openssl dgst -sha1 >/dev/null", get["uri"])))?;
        tool(root, &[url, "drop-download", &get["session"]], &[])?;
        down.push(sdk / scripted);
        figures.download_sdk.push(sdk / gib);
        figures.download_script.push(scripted / gib);

        let (sdk, _) = cpu_of(|| tool(root, &[url, "upload", item, &source_text, "sha256"], &[]))?;
        let (hashing, (_, sum)) = cpu_of(|| super::digest("sha256", source))?;
        let put =
            tool(root, &[url, "put-endpoint", &format!("cpu-{pair}"), &source_text, &format!("sha256:{sum}")], &[])?;
        let (sending, ()) =
            cpu_of(|| script(&format!("curl -sS --fail -T '{source_text}' '{}' -o /dev/null", put["uri"])))?;
        tool(root, &[url, "drop-upload", &put["session"], &put["item"]], &[])?;
        up.push(sdk / (hashing + sending));
        figures.upload_sdk.push(sdk / gib);
        figures.upload_script.push((hashing + sending) / gib);
    }
    println!(
        "    CPU per GiB: download SDK {:.2} s, curl | openssl {:.2} s; upload SDK {:.2} s, openssl then curl {:.2} s",
        median(figures.download_sdk.clone()),
        median(figures.download_script.clone()),
        median(figures.upload_sdk.clone()),
        median(figures.upload_script.clone())
    );
    Ok((median(down), median(up), figures))
}

/// The CPU seconds per GiB behind the two CPU ratios, for the docs.
#[derive(Default)]
pub struct CpuFigures {
    pub download_sdk: Vec<f64>,
    pub download_script: Vec<f64>,
    pub upload_sdk: Vec<f64>,
    pub upload_script: Vec<f64>,
}

/// `upload_manifest_vs_curl`: an OVF set (a descriptor, a SHA-256 manifest and the large file as
/// its disk) uploaded by the SDK, which declares the manifest's digests and checks them while
/// sending, against `curl -T` of the same disk (throughput, SDK / curl); and
/// `upload_manifest_vs_curl_same_checks`, against `curl -T` to an endpoint that verifies the
/// same SHA-256 (the server's check costs curl what it costs the SDK). Interleaved in one loop.
pub fn upload_manifest_vs_curl(root: &Path, dir: &Path, source: &Path, url: &str) -> Result<(f64, f64)> {
    let set = dir.join("manifest-set");
    std::fs::create_dir_all(&set)?;
    let disk = set.join("disk-1.vmdk");
    std::fs::hard_link(source, &disk).or_else(|_| std::fs::copy(source, &disk).map(|_| ()))?;
    let ovf = br#"<?xml version="1.0"?><Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:href="disk-1.vmdk" ovf:id="f1"/></References></Envelope>"#;
    std::fs::write(set.join("app.ovf"), ovf)?;
    let sum = |path: &Path| super::digest("sha256", path).map(|(_, hex)| hex);
    let disk_sum = sum(&disk)?;
    let manifest = format!("SHA256(app.ovf)= {}\nSHA256(disk-1.vmdk)= {disk_sum}\n", sum(&set.join("app.ovf"))?);
    std::fs::write(set.join("app.mf"), manifest)?;
    let files: Vec<String> =
        ["app.mf", "app.ovf", "disk-1.vmdk"].iter().map(|f| set.join(f).to_string_lossy().into_owned()).collect();
    let mut args = vec![url, "upload-set"];
    args.extend(files.iter().map(String::as_str));
    let (mut runs, mut checked) = (Runs::default(), Runs::default());
    let declared = format!("sha256:{disk_sum}");
    let curl = |name: String, checksum: Option<&str>| -> Result<f64> {
        let mut put_args = vec![url, "put-endpoint", &name, &files[2]];
        put_args.extend(checksum);
        let put = tool(root, &put_args, &[])?;
        let started = Instant::now();
        script(&format!("curl -sS --fail -T '{}' '{}' -o /dev/null", files[2], put["uri"]))?;
        let seconds = started.elapsed().as_secs_f64();
        tool(root, &[url, "drop-upload", &put["session"], &put["item"]], &[])?;
        Ok(seconds)
    };
    for pair in 0..PAIRS {
        let sdk = tool(root, &args, &[])?;
        let (sdk, rss_mib) = (number(&sdk, "seconds")?, number(&sdk, "rss_mib")?);
        let plain = curl(format!("set-curl-{pair}"), None)?;
        let same = curl(format!("set-curl-checked-{pair}"), Some(&declared))?;
        runs.push(Pair { sdk, curl: plain, rss_mib, scripted: None });
        checked.push(Pair { sdk, curl: same, rss_mib, scripted: None });
    }
    runs.show(" (OVF set with a manifest)");
    checked.show(" (OVF set with a manifest, curl to an endpoint verifying the same SHA-256)");
    std::fs::remove_dir_all(&set)?;
    Ok((runs.ratio(), checked.ratio()))
}

/// `clx publish` on a fresh 4-file folder (hard links of the source) against `sha256sum` over
/// the same files: sha256sum's time over ours (the hash is publishing's one read of each file).
/// Also a rerun on the unchanged folder, in milliseconds (no file content is read).
pub fn publish_vs_sha256sum(root: &Path, dir: &Path, source: &Path) -> Result<(f64, f64)> {
    let folder = feed_folder(dir, source)?;
    let files: Vec<PathBuf> = (0..4).map(|i| folder.join(format!("item-{i}/disk.bin"))).collect();
    let (mut ours, mut theirs, mut reruns) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..PAIRS {
        forget_feed(&folder)?;
        ours.push(timed(Command::new(clx(root)).args(["publish", "--name", "bench"]).arg(&folder))?);
        theirs.push(timed(Command::new("sha256sum").args(&files))?);
        reruns.push(timed(Command::new(clx(root)).arg("publish").arg(&folder))?);
    }
    super::harness::spread("clx publish", &ours);
    super::harness::spread("sha256sum", &theirs);
    super::harness::spread("clx publish, unchanged", &reruns);
    Ok((median(theirs) / median(ours), median(reruns) * 1000.0))
}

/// `clx publish --mirror` of that folder served by Python's `http.server` on loopback, against
/// curl fetching the same files four at a time: curl's time over ours.
pub fn mirror_vs_curl(root: &Path, dir: &Path, source: &Path) -> Result<f64> {
    let folder = feed_folder(dir, source)?;
    forget_feed(&folder)?;
    run_quiet(Command::new(clx(root)).args(["publish", "--name", "bench"]).arg(&folder))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
    let mut server = Command::new("python3")
        .args(["-m", "http.server", "--bind", "127.0.0.1", &port.to_string(), "-d"])
        .arg(&folder)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .context("python3 -m http.server")?;
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if started.elapsed().as_secs() > 20 {
            let _ = server.kill();
            bail!("http.server did not start");
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let result = (|| -> Result<f64> {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for pair in 0..PAIRS {
            let out = dir.join(format!("mirror-{pair}"));
            ours.push(timed(
                Command::new(clx(root)).args(["publish", "--mirror", &format!("{base}/lib.json")]).arg(&out),
            )?);
            std::fs::remove_dir_all(&out)?;
            let out = dir.join(format!("curl-{pair}"));
            let mut curl = Command::new("curl");
            curl.args(["-sS", "--fail", "--parallel", "--parallel-max", "4", "--create-dirs"]);
            for i in 0..4 {
                curl.arg("-o").arg(out.join(format!("item-{i}/disk.bin"))).arg(format!("{base}/item-{i}/disk.bin"));
            }
            theirs.push(timed(&mut curl)?);
            std::fs::remove_dir_all(&out)?;
        }
        super::harness::spread("clx publish --mirror", &ours);
        super::harness::spread("curl --parallel", &theirs);
        Ok(median(theirs) / median(ours))
    })();
    let _ = server.kill();
    let _ = server.wait();
    result
}

/// A folder of four items, each a hard link of the source (no extra disk).
fn feed_folder(dir: &Path, source: &Path) -> Result<PathBuf> {
    let folder = dir.join("feed");
    for i in 0..4 {
        let item = folder.join(format!("item-{i}"));
        std::fs::create_dir_all(&item)?;
        let disk = item.join("disk.bin");
        if !disk.exists() {
            std::fs::hard_link(source, &disk).or_else(|_| std::fs::copy(source, &disk).map(|_| ()))?;
        }
    }
    Ok(folder)
}

/// Removes a folder's feed and publishing state, so the next publish reads every file.
fn forget_feed(folder: &Path) -> Result<()> {
    for name in ["lib.json", "items.json", ".clx-publish.json"] {
        let _ = std::fs::remove_file(folder.join(name));
    }
    for i in 0..4 {
        let _ = std::fs::remove_file(folder.join(format!("item-{i}/item.json")));
    }
    Ok(())
}

fn clx(root: &Path) -> PathBuf {
    root.join("target/release/clx")
}

fn timed(command: &mut Command) -> Result<f64> {
    let started = Instant::now();
    run_quiet(command)?;
    Ok(started.elapsed().as_secs_f64())
}

fn run_quiet(command: &mut Command) -> Result<()> {
    let output = command.output().with_context(|| format!("running {command:?}"))?;
    if !output.status.success() {
        bail!("{command:?} failed: {}", String::from_utf8_lossy(&output.stderr));
    }
    Ok(())
}
