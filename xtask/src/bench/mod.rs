//! `cargo xtask bench`: the SDK side by side with curl against the same `cl-sim` binary on
//! loopback, in interleaved pairs (SDK, curl, SDK, curl, …), medians of 9. Release builds; files
//! in `CL_BENCH_DIR` (a tmpfs is best) or a temporary folder. Writes `target/bench/results.json`
//! and `target/bench/results.md`, the throughput-by-size curve in `throughput.json` and
//! `throughput.png`; `--docs` copies the table and the plot into `docs/`. Ratios are throughput
//! SDK / curl (above 1: the SDK is faster).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::plot;
use crate::sim::{self, Sim};

mod harness;
mod routes;

use harness::{Pair, Runs, Server, curl, generate, median, number, start_sim, tool};

pub(crate) const PAIRS: usize = 9;

/// The figures every run must produce (what readers of `results.json` rely on).
const REQUIRED: &[&str] = &[
    "download_vs_curl",
    "upload_vs_curl",
    "download_verified_vs_curl",
    "upload_sha256_vs_curl",
    "rss_mib_1g",
    "rss_mib_4g",
    "parallel_4x256_vs_sequential",
    "prepare_to_first_byte_ms",
    "small_files_vs_curl",
    "gen_check_s",
    "copy_vs_curl_pipe",
    "copy_rss_mib",
    "ova_export_vs_download",
    "url_import_vs_curl_pipe",
    "url_import_rss_mib",
    "preflight_10gib_stream_ms",
    "deep_check_vs_qemu_img_convert",
    "deep_check_rss_mib",
    "download_cpu_vs_curl_openssl",
    "upload_cpu_vs_openssl_curl",
    "upload_manifest_vs_curl",
    "upload_manifest_vs_curl_same_checks",
    "publish_vs_sha256sum",
    "publish_rerun_ms",
    "mirror_vs_curl",
];

/// One route's figures alone (`cargo xtask bench --route ova|manifest`), for a focused A/B while
/// working on it: the same release builds, source and pairs as the full run, nothing written.
pub fn route(root: &Path, name: &str) -> Result<()> {
    let (scratch, mib) = prepare(root)?;
    let dir = scratch.path();
    let source = dir.join("source.bin");
    generate(&source, mib)?;
    match name {
        "ova" => println!("ova_export_vs_download = {:.2}", routes::ova_export_vs_download(root, dir, &source)?),
        "manifest" => {
            let sim = start_sim(root, dir, "0ms")?;
            let (plain, same) = routes::upload_manifest_vs_curl(root, dir, &source, &sim.url)?;
            println!("upload_manifest_vs_curl = {plain:.2}, upload_manifest_vs_curl_same_checks = {same:.2}");
        }
        "publish" => {
            let (publish, rerun) = routes::publish_vs_sha256sum(root, dir, &source)?;
            let mirror = routes::mirror_vs_curl(root, dir, &source)?;
            println!(
                "publish_vs_sha256sum = {publish:.2}, publish_rerun_ms = {rerun:.0}, mirror_vs_curl = {mirror:.2}"
            );
        }
        "deep" => {
            let (ratio, rss) = routes::deep_check(root, dir)?;
            println!("deep_check_vs_qemu_img_convert = {ratio:.2}, deep_check_rss_mib = {rss:.1}");
        }
        other => bail!("no route {other:?} to measure alone (ova, manifest, publish, deep)"),
    }
    Ok(())
}

/// What every run starts with: the release builds, a scratch folder in `CL_BENCH_DIR` (removed
/// when dropped), and the size of the main file (`CL_BENCH_MIB`, 1024).
fn prepare(root: &Path) -> Result<(tempfile::TempDir, u64)> {
    release_build(root)?;
    let scratch = tempfile::Builder::new()
        .prefix("cl-bench-")
        .tempdir_in(std::env::var_os("CL_BENCH_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir))?;
    let mib: u64 = std::env::var("CL_BENCH_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(1024);
    Ok((scratch, mib))
}

fn release_build(root: &Path) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    println!("==> release build of cl-sim and the SDK's bench tool");
    let built = Command::new(&cargo)
        .args(["build", "--release", "-p", "cl-sim", "--bin", "cl-sim", "-p", "cl-sdk", "--example", "bench_tool"])
        .args(["-p", "cl-cli", "--bin", "clx"])
        .current_dir(root)
        .status()?;
    if !built.success() {
        bail!("the release build failed");
    }
    Ok(())
}

pub fn bench(root: &Path, docs: bool) -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let (scratch, mib) = prepare(root)?;
    let dir = scratch.path();
    let large_mib: u64 = std::env::var("CL_BENCH_LARGE_MIB").ok().and_then(|v| v.parse().ok()).unwrap_or(4096);
    let mut results: BTreeMap<&str, f64> = BTreeMap::new();

    // No prepare delay for the throughput figures: they measure the transfer engines, and curl's
    // GET is of an endpoint prepared beforehand. The first-byte figure below has its own delay.
    let sim = start_sim(root, dir, "0ms")?;
    let url = sim.url.as_str();
    let source = dir.join("source.bin");
    generate(&source, mib)?;
    let source_text = source.to_string_lossy().into_owned();
    let item = tool(root, &[url, "setup", "one", &source_text], &[])?["item"].clone();
    let server = Server { url, ca: None };

    println!("==> download, {mib} MiB: SDK (verified) and curl (and curl, then openssl dgst -sha1), {PAIRS} pairs");
    let mut runs = Runs::default();
    for _ in 0..PAIRS {
        runs.push(download_pair(root, &server, &item, dir, true)?);
    }
    runs.show("");
    let mut rss = runs.rss_mib.clone();
    // The SDK verifies every download (SHA-1): both figures are the same run.
    results.insert("download_vs_curl", runs.ratio());
    results.insert("download_verified_vs_curl", runs.ratio());
    if let Some(ratio) = runs.scripted_ratio() {
        results.insert("download_verified_vs_curl_then_openssl_sha1", ratio);
    } else {
        println!("    (no openssl: no scripted figures)");
    }

    for (key, checksum) in [("upload_vs_curl", "none"), ("upload_sha256_vs_curl", "sha256")] {
        let also = if checksum == "sha256" { " (and openssl dgst -sha256, then curl -T verified)" } else { "" };
        println!("==> upload, {mib} MiB, checksum {checksum}: SDK and curl -T{also}, {PAIRS} pairs");
        let mut runs = Runs::default();
        for pair in 0..PAIRS {
            runs.push(upload_pair(root, &server, &item, &source_text, checksum, &format!("curl-{key}-{pair}"))?);
        }
        runs.show("");
        rss.extend(&runs.rss_mib);
        results.insert(key, runs.ratio());
        if let Some(ratio) = runs.scripted_ratio() {
            results.insert("upload_sha256_vs_openssl_sha256_then_curl", ratio);
        }
    }
    results.insert("rss_mib_1g", rss.iter().copied().fold(0.0, f64::max));
    results.insert("sim_rss_mib_1g", sim.peak_rss_mib()?);

    println!("==> peak RSS at {large_mib} MiB");
    let large = dir.join("large.bin");
    generate(&large, large_mib)?;
    let large_item = tool(root, &[url, "setup", "large", &large.to_string_lossy()], &[])?["item"].clone();
    std::fs::remove_file(&large)?;
    let out = dir.join("large-out");
    std::fs::create_dir(&out)?;
    let run = tool(root, &[url, "download", &large_item, &out.to_string_lossy()], &[])?;
    let upload_back = out.join("large.bin");
    let run_up = tool(root, &[url, "upload", &large_item, &upload_back.to_string_lossy(), "none"], &[])?;
    results.insert("rss_mib_4g", number(&run, "rss_mib")?.max(number(&run_up, "rss_mib")?));
    // The same simulator process throughout: its peak after 4 GiB each way against after 1 GiB.
    results.insert("sim_rss_mib_4g", sim.peak_rss_mib()?);
    std::fs::remove_dir_all(&out)?;

    drop(sim);

    println!("==> over HTTPS, {mib} MiB: download and upload, SDK (rustls) and curl (OpenSSL), {PAIRS} pairs each");
    let ca = dir.join("ca.pem");
    let ca = ca.to_str().context("a UTF-8 bench folder")?;
    let binary = root.join("target/release/cl-sim");
    let tls = sim::start(&binary, &["--prepare-delay", "0ms", "--ca-out", ca], Some(dir))?;
    let server = Server { url: &tls.url, ca: Some(ca) };
    let item = tool(root, &[&tls.url, "setup", "one", &source_text], &server.env())?["item"].clone();
    let (down, up) = both_ways(root, &server, &item, &source_text, dir, PAIRS, "curl-https")?;
    drop(tls);
    down.show(" download");
    up.show(" upload");
    results.insert("download_https_vs_curl", down.ratio());
    results.insert("upload_https_vs_curl", up.ratio());

    // Concurrency hides the server's preparation and each file's start-up, and, with cores to
    // spare, overlaps hashing and writing. Measured with the simulator's default 100 ms prepare
    // (vCenter takes longer) and with none (only CPU overlap is left: on 2 shared cores with the
    // server on them too, little is).
    let parts: Vec<PathBuf> = (0..4).map(|i| dir.join(format!("part-{i}.bin"))).collect();
    for part in &parts {
        generate(part, 256)?;
    }
    for (delay, key) in
        [("100ms", "parallel_4x256_vs_sequential"), ("0ms", "parallel_4x256_vs_sequential_no_prepare_delay")]
    {
        println!("==> 4 × 256 MiB at concurrency 4 and 1, prepare delay {delay}, {PAIRS} pairs");
        let sim = start_sim(root, dir, delay)?;
        let url = sim.url.as_str();
        let mut setup = vec![url.to_owned(), "setup".into(), "parts".into()];
        setup.extend(parts.iter().map(|p| p.to_string_lossy().into_owned()));
        let setup: Vec<&str> = setup.iter().map(String::as_str).collect();
        let parts_item = tool(root, &setup, &[])?["item"].clone();
        let (mut four, mut one) = (Vec::new(), Vec::new());
        for pair in 0..PAIRS {
            for (concurrency, times) in [("4", &mut four), ("1", &mut one)] {
                let out = dir.join(format!("parts-{pair}-{concurrency}"));
                std::fs::create_dir(&out)?;
                let run = tool(
                    root,
                    &[url, "download", &parts_item, &out.to_string_lossy()],
                    &[("CL_BENCH_CONCURRENCY", concurrency)],
                )?;
                times.push(number(&run, "seconds")?);
                std::fs::remove_dir_all(&out)?;
            }
        }
        results.insert(key, median(four) / median(one));
    }
    for part in &parts {
        std::fs::remove_file(part)?;
    }

    println!("==> copy, {mib} MiB between two simulators: SDK and curl GET | curl -T -, {PAIRS} pairs");
    let (copy_ratio, copy_rss) = routes::copy_vs_curl_pipe(root, dir, &source)?;
    results.insert("copy_vs_curl_pipe", copy_ratio);
    results.insert("copy_rss_mib", copy_rss);
    println!("==> URL import, {mib} MiB: SDK and curl URL | curl -T -, {PAIRS} pairs");
    let (url_ratio, url_rss) = routes::url_import_vs_curl_pipe(root, dir, &source)?;
    results.insert("url_import_vs_curl_pipe", url_ratio);
    results.insert("url_import_rss_mib", url_rss);
    println!("==> OVA export, {mib} MiB: one OVA file against the item into a folder (both SDK), {PAIRS} pairs");
    results.insert("ova_export_vs_download", routes::ova_export_vs_download(root, dir, &source)?);

    println!("==> clx publish of 4 × {mib} MiB against sha256sum, a rerun, and a mirror against curl, {PAIRS} pairs");
    let (publish, rerun) = routes::publish_vs_sha256sum(root, dir, &source)?;
    results.insert("publish_vs_sha256sum", publish);
    results.insert("publish_rerun_ms", rerun);
    results.insert("mirror_vs_curl", routes::mirror_vs_curl(root, dir, &source)?);

    println!("==> CPU per GiB, {mib} MiB: SDK against curl and openssl doing the same work, {PAIRS} pairs");
    let cpu_sim = start_sim(root, dir, "0ms")?;
    let cpu_item = tool(root, &[&cpu_sim.url, "setup", "cpu", &source_text], &[])?["item"].clone();
    let (down_cpu, up_cpu, cpu) = routes::cpu_per_gib(root, dir, &source, &cpu_item, &cpu_sim.url)?;
    results.insert("download_cpu_vs_curl_openssl", down_cpu);
    results.insert("upload_cpu_vs_openssl_curl", up_cpu);
    results.insert("download_cpu_s_per_gib", median(cpu.download_sdk));
    results.insert("download_script_cpu_s_per_gib", median(cpu.download_script));
    results.insert("upload_cpu_s_per_gib", median(cpu.upload_sdk));
    results.insert("upload_script_cpu_s_per_gib", median(cpu.upload_script));
    println!("==> an OVF set with a SHA-256 manifest, {mib} MiB of disk: SDK and curl -T, {PAIRS} pairs");
    let (manifest, manifest_same_checks) = routes::upload_manifest_vs_curl(root, dir, &source, &cpu_sim.url)?;
    results.insert("upload_manifest_vs_curl", manifest);
    results.insert("upload_manifest_vs_curl_same_checks", manifest_same_checks);
    drop(cpu_sim);

    println!("==> preflight of a 10 GiB stream-optimized disk (and qemu-img check of it)");
    let (preflight_ms, against_qemu) = routes::preflight(root, dir)?;
    results.insert("preflight_10gib_stream_ms", preflight_ms);
    if let Some(ratio) = against_qemu {
        results.insert("preflight_vs_qemu_img_check", ratio);
    }

    println!("==> deep preflight of a 10 GiB stream-optimized disk against qemu-img convert -O raw of it");
    let (deep, deep_rss) = routes::deep_check(root, dir)?;
    results.insert("deep_check_vs_qemu_img_convert", deep);
    results.insert("deep_check_rss_mib", deep_rss);

    println!("==> 200 files of 64 KiB: SDK and a curl loop of the same session calls, {PAIRS} pairs");
    // No prepare delay here: the figure is the per-file overhead of the calls themselves.
    let fast = start_sim(root, dir, "0ms")?;
    results.insert("small_files_vs_curl", small_files(root, &fast, dir)?);
    drop(fast);

    println!("==> prepare to first byte, the server taking 300 ms to prepare");
    let slow = start_sim(root, dir, "300ms")?;
    let small = dir.join("small.bin");
    generate(&small, 1)?;
    let small_item = tool(root, &[&slow.url, "setup", "small", &small.to_string_lossy()], &[])?["item"].clone();
    let mut delays = Vec::new();
    for pair in 0..PAIRS {
        let out = dir.join(format!("first-{pair}"));
        std::fs::create_dir(&out)?;
        delays.push(number(&tool(root, &[&slow.url, "first-byte", &small_item, &out.to_string_lossy()], &[])?, "ms")?);
    }
    results.insert("prepare_to_first_byte_ms", median(delays));
    drop(slow);

    println!("==> cargo xtask gen --check, warm (one untimed run, then the median of 3)");
    let mut gen_times = Vec::new();
    for run in 0..4 {
        let started = Instant::now();
        let checked = Command::new(&cargo).args(["xtask", "gen", "--check"]).current_dir(root).status()?;
        if !checked.success() {
            bail!("gen --check failed");
        }
        if run > 0 {
            gen_times.push(started.elapsed().as_secs_f64());
        }
    }
    results.insert("gen_check_s", median(gen_times));

    let hashes = tool(root, &["-", "hash", &source_text], &[])?;
    std::fs::remove_file(&source)?;

    let sim = start_sim(root, dir, "0ms")?;
    let curve = curve(root, &sim, dir, &[1, 16, 256, mib, large_mib])?;
    drop(sim);
    let md = write_results(root, &results, &hashes, &curve)?;
    if docs {
        update_docs(root, &md)?;
    }
    Ok(())
}

/// `pairs` download pairs and upload pairs (no checksum) of `item`, alternating; curl's uploads go
/// to fresh items named after `name`.
fn both_ways(
    root: &Path,
    server: &Server,
    item: &str,
    source: &str,
    dir: &Path,
    pairs: usize,
    name: &str,
) -> Result<(Runs, Runs)> {
    let (mut down, mut up) = (Runs::default(), Runs::default());
    for pair in 0..pairs {
        down.push(download_pair(root, server, item, dir, false)?);
        up.push(upload_pair(root, server, item, source, "none", &format!("{name}-{pair}"))?);
    }
    Ok((down, up))
}

/// Seconds `openssl dgst` takes to hash `file` in `algorithm` (`sha1`, `sha256`), and the hex
/// digest. OpenSSL, not coreutils: it uses the CPU's SHA extensions, as the SDK does.
pub(crate) fn digest(algorithm: &str, file: &Path) -> Result<(f64, String)> {
    let started = Instant::now();
    let output = Command::new("openssl")
        .args(["dgst", &format!("-{algorithm}"), "-r"])
        .arg(file)
        .output()
        .context("running openssl dgst")?;
    if !output.status.success() {
        bail!("openssl dgst -{algorithm} {} failed", file.display());
    }
    let text = String::from_utf8_lossy(&output.stdout);
    let hex = text.split_whitespace().next().unwrap_or_default();
    if hex.len() < 40 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        bail!("openssl dgst -{algorithm} printed no digest: {text:?}");
    }
    Ok((started.elapsed().as_secs_f64(), hex.to_owned()))
}

/// The SDK's `download_item` of `item`, then curl's GET of a download endpoint prepared beforehand
/// (and, when `scripted`, a SHA-1 pass over what curl got).
fn download_pair(root: &Path, server: &Server, item: &str, dir: &Path, scripted: bool) -> Result<Pair> {
    let (url, env) = (server.url, &server.env());
    let out = dir.join("sdk-out");
    std::fs::create_dir(&out)?;
    let run = tool(root, &[url, "download", item, &out.to_string_lossy()], env)?;
    std::fs::remove_dir_all(&out)?;
    let get = tool(root, &[url, "get-endpoint", item], env)?;
    let target = dir.join("curl.bin");
    let curl = curl(&server.curl(&["-o", &target.to_string_lossy(), &get["uri"]]))?;
    // Without openssl there is no scripted figure; the rest still runs.
    let hashing = if scripted { digest("sha1", &target).map(|(seconds, _)| seconds).ok() } else { None };
    std::fs::remove_file(&target)?;
    // Else the session would keep the content it served alive after an upload replaces it.
    tool(root, &[url, "drop-download", &get["session"]], env)?;
    Ok(Pair {
        sdk: number(&run, "seconds")?,
        curl,
        rss_mib: number(&run, "rss_mib")?,
        scripted: hashing.map(|h| curl + h),
    })
}

/// The SDK's `upload_item` of `source` into `item`, then `curl -T` to an upload endpoint of a fresh
/// item `name`, whose session and item are discarded right after.
fn upload_pair(root: &Path, server: &Server, item: &str, source: &str, checksum: &str, name: &str) -> Result<Pair> {
    let (url, env) = (server.url, &server.env());
    let run = tool(root, &[url, "upload", item, source, checksum], env)?;
    let put = tool(root, &[url, "put-endpoint", name, source], env)?;
    let curl_time = curl(&server.curl(&["-T", source, &put["uri"], "-o", "/dev/null"]))?;
    tool(root, &[url, "drop-upload", &put["session"], &put["item"]], env)?;
    let hashed = if checksum == "sha256" { digest("sha256", Path::new(source)).ok() } else { None };
    let scripted = if let Some((hashing, sum)) = hashed {
        let put =
            tool(root, &[url, "put-endpoint", &format!("{name}-checked"), source, &format!("sha256:{sum}")], env)?;
        let sending = curl(&server.curl(&["-T", source, &put["uri"], "-o", "/dev/null"]))?;
        tool(root, &[url, "drop-upload", &put["session"], &put["item"]], env)?;
        Some(hashing + sending)
    } else {
        None
    };
    Ok(Pair { sdk: number(&run, "seconds")?, curl: curl_time, rss_mib: number(&run, "rss_mib")?, scripted })
}

/// Pairs per size in the throughput-by-size curve.
const CURVE_PAIRS: usize = 3;

/// Throughput (MB/s) by file size of SDK and curl, download and upload (no checksum).
fn curve(root: &Path, sim: &Sim, dir: &Path, sizes: &[u64]) -> Result<Vec<plot::Series>> {
    let mut sizes = sizes.to_vec();
    sizes.sort_unstable();
    sizes.dedup();
    let names = ["SDK download", "curl download", "SDK upload", "curl -T upload"];
    let mut series: Vec<plot::Series> = names
        .iter()
        .enumerate()
        .map(|(i, name)| plot::Series { label: (*name).into(), points: Vec::new(), color: i / 2, dashed: i % 2 == 1 })
        .collect();
    let url = sim.url.as_str();
    let server = Server { url, ca: None };
    for &mib in &sizes {
        println!("==> throughput at {mib} MiB, {CURVE_PAIRS} pairs each way");
        let source = dir.join(format!("curve-{mib}.bin"));
        generate(&source, mib)?;
        let source_text = source.to_string_lossy().into_owned();
        let item = tool(root, &[url, "setup", &format!("curve-{mib}"), &source_text], &[])?["item"].clone();
        let (down, up) = both_ways(root, &server, &item, &source_text, dir, CURVE_PAIRS, &format!("curve-curl-{mib}"))?;
        tool(root, &[url, "rm-item", &item], &[])?;
        std::fs::remove_file(&source)?;
        let bytes = (mib << 20) as f64;
        for (line, runs) in series.iter_mut().zip([down.sdk, down.curl, up.sdk, up.curl]) {
            line.points.push((mib as f64, bytes / median(runs) / 1e6));
        }
    }
    Ok(series)
}

/// Puts the last run's table and plot into `docs/benchmarks.md` (between its markers) and
/// `docs/throughput.png`.
fn update_docs(root: &Path, table: &str) -> Result<()> {
    const START: &str = "<!-- last-run:start -->";
    const END: &str = "<!-- last-run:end -->";
    let path = root.join("docs/benchmarks.md");
    let doc = std::fs::read_to_string(&path)?;
    let (Some(start), Some(end)) = (doc.find(START), doc.find(END)) else {
        bail!("docs/benchmarks.md lacks the {START} … {END} markers");
    };
    let updated = format!("{}{START}\n{table}\n{}", &doc[..start], &doc[end..]);
    std::fs::write(&path, updated)?;
    std::fs::copy(root.join("target/bench/throughput.png"), root.join("docs/throughput.png"))?;
    println!("updated docs/benchmarks.md and docs/throughput.png");
    Ok(())
}

/// SDK download of an item of 200 small files against a curl loop making the same session calls
/// (create, list, then per file prepare, poll, GET; delete), a process per call as a script would.
/// Throughput ratio curl time / SDK time.
fn small_files(root: &Path, sim: &Sim, dir: &Path) -> Result<f64> {
    let files: Vec<PathBuf> = (0..200).map(|i| dir.join(format!("small-{i:03}.bin"))).collect();
    for (i, file) in files.iter().enumerate() {
        let chunk: Vec<u8> = (0..64 * 1024).map(|j| (i * 31 + j / 7) as u8).collect();
        std::fs::write(file, chunk)?;
    }
    let mut setup = vec![sim.url.clone(), "setup".into(), "small-files".into()];
    setup.extend(files.iter().map(|p| p.to_string_lossy().into_owned()));
    let setup: Vec<&str> = setup.iter().map(String::as_str).collect();
    let item = tool(root, &setup, &[])?["item"].clone();
    for file in &files {
        std::fs::remove_file(file)?;
    }
    let api = format!("{}/api", sim.url);
    let credentials = format!("{}:{}", sim.vars["CL_SIM_USERNAME"], sim.vars["CL_SIM_PASSWORD"]);
    let token = curl_json(&["-X", "POST", "-u", &credentials, &format!("{api}/session")])?;
    let header = format!("vmware-api-session-id: {}", token.as_str().context("a token")?);
    let call = |args: &[&str]| -> Result<serde_json::Value> {
        let mut all = vec!["-H", header.as_str(), "-H", "content-type: application/json"];
        all.extend_from_slice(args);
        curl_json(&all)
    };
    let (mut sdk, mut theirs) = (Vec::new(), Vec::new());
    for pair in 0..PAIRS {
        let out = dir.join(format!("small-sdk-{pair}"));
        std::fs::create_dir(&out)?;
        sdk.push(number(&tool(root, &[&sim.url, "download", &item, &out.to_string_lossy()], &[])?, "seconds")?);
        std::fs::remove_dir_all(&out)?;

        let out = dir.join(format!("small-curl-{pair}"));
        std::fs::create_dir(&out)?;
        let started = Instant::now();
        let spec = serde_json::json!({ "library_item_id": item }).to_string();
        let session = call(&["-X", "POST", "-d", &spec, &format!("{api}/content/library/item/download-session")])?;
        let session = format!("{api}/content/library/item/download-session/{}", session.as_str().context("an id")?);
        let listed = call(&[&format!("{session}/file")])?;
        for file in listed.as_array().context("a file list")? {
            let name = file["name"].as_str().context("a file name")?;
            let prepare = serde_json::json!({ "file_name": name }).to_string();
            call(&["-X", "POST", "-d", &prepare, &format!("{session}/file?action=prepare")])?;
            let mut polls = 0;
            let uri = loop {
                let info = call(&[&format!("{session}/file?file_name={name}")])?;
                if info["status"] == "PREPARED" {
                    break info["download_endpoint"]["uri"].as_str().context("a download URI")?.to_owned();
                }
                polls += 1;
                if polls > 1000 {
                    bail!("{name} never became PREPARED");
                }
            };
            curl(&["-o", &out.join(name).to_string_lossy(), &uri])?;
        }
        call(&["-X", "DELETE", &session])?;
        theirs.push(started.elapsed().as_secs_f64());
        std::fs::remove_dir_all(&out)?;
    }
    Ok(median(theirs) / median(sdk))
}

/// A curl call's JSON answer (`null` for an empty body).
fn curl_json(args: &[&str]) -> Result<serde_json::Value> {
    let output = Command::new("curl").args(["-sS", "--fail"]).args(args).output().context("running curl")?;
    if !output.status.success() {
        bail!("curl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    if output.stdout.iter().all(u8::is_ascii_whitespace) {
        return Ok(serde_json::Value::Null);
    }
    serde_json::from_slice(&output.stdout).context("curl's answer is not JSON")
}

/// Writes `results.json`, `results.md`, `throughput.json` and `throughput.png` under
/// `target/bench`; returns the Markdown table.
fn write_results(
    root: &Path,
    results: &BTreeMap<&str, f64>,
    hashes: &BTreeMap<String, String>,
    curve: &[plot::Series],
) -> Result<String> {
    if let Some(missing) = REQUIRED.iter().find(|key| !results.contains_key(*key)) {
        bail!("the run produced no {missing}");
    }
    let text = |args: &[&str]| {
        Command::new(args[0]).args(&args[1..]).output().map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find_map(|l| l.strip_prefix("model name"))
                .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        })
        .unwrap_or_default();
    let machine = format!("{} cores, {cpu}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0));
    let curl_version = text(&["curl", "--version"])?.lines().next().unwrap_or_default().to_owned();
    let date = text(&["date", "-u", "+%Y-%m-%dT%H:%M:%SZ"])?;
    let mut json = serde_json::Map::new();
    for (key, value) in results {
        json.insert((*key).to_owned(), serde_json::json!((value * 1000.0).round() / 1000.0));
    }
    for key in ["sha1_gbps", "sha256_gbps"] {
        if let Some(v) = hashes.get(key).and_then(|v| v.parse::<f64>().ok()) {
            json.insert(key.to_owned(), serde_json::json!(v));
        }
    }
    json.insert("machine".into(), machine.clone().into());
    json.insert("date".into(), date.clone().into());
    json.insert("curl_version".into(), curl_version.clone().into());
    let out = root.join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(out.join("results.json"), serde_json::to_string_pretty(&json)?)?;
    let mut md = format!("Machine: {machine}. Date: {date}. {curl_version}.\n\n| figure | value |\n|---|---|\n");
    for (key, value) in &json {
        if let Some(v) = value.as_f64() {
            md.push_str(&format!("| `{key}` | {v} |\n"));
        }
    }
    std::fs::write(out.join("results.md"), &md)?;
    let points: serde_json::Map<String, serde_json::Value> =
        curve.iter().map(|s| (s.label.clone(), serde_json::json!(s.points))).collect();
    std::fs::write(out.join("throughput.json"), serde_json::to_string_pretty(&points)?)?;
    let title = format!("cl-sdk and curl against cl-sim on loopback ({machine})");
    plot::throughput_by_size(&out.join("throughput.png"), &title, curve)?;
    println!("\n{md}\nwrote target/bench/results.json, results.md, throughput.json and throughput.png");
    Ok(md)
}
