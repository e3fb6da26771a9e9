//! The figures of the routes beyond plain downloads and uploads:
//!
//! * `copy_vs_curl_pipe`: one large file's item copied between two simulators by the SDK, against
//!   what a script would run between the same two: `curl GET | curl -T -` from a prepared
//!   download endpoint into a fresh upload endpoint; and the copying process's peak RSS.
//! * `url_import_vs_curl_pipe`: a new item from an http URL (a prepared download endpoint of
//!   another simulator) fetched and streamed by the SDK, against `curl URL | curl -T -`; and the
//!   importing process's peak RSS.
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
