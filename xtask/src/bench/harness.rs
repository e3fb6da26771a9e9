//! What every figure of the bench is measured with: the simulator and the SDK's bench tool as
//! processes, curl, medians and spreads, and the side-by-side runs of one figure.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use anyhow::{Context, Result, bail};

use crate::sim::{self, Sim};

/// The simulator, its store beside the benchmark's files: on a tmpfs both sides are measured
/// without the machine's disk (whose write-back made uploads vary by 3×).
pub fn start_sim(root: &Path, dir: &Path, prepare_delay: &str) -> Result<Sim> {
    sim::start(&root.join("target/release/cl-sim"), &["--http", "--prepare-delay", prepare_delay], Some(dir))
}

/// Runs the SDK's bench tool; its `key=value` lines.
pub fn tool(root: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<BTreeMap<String, String>> {
    let output = Command::new(root.join("target/release/examples/bench_tool"))
        .args(args)
        .envs(env.iter().copied())
        .output()
        .context("running bench_tool")?;
    if !output.status.success() {
        bail!("bench_tool {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
    let text = String::from_utf8_lossy(&output.stdout);
    Ok(text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_owned(), v.to_owned())).collect())
}

pub fn number(values: &BTreeMap<String, String>, key: &str) -> Result<f64> {
    values.get(key).and_then(|v| v.parse().ok()).with_context(|| format!("bench_tool gave no {key}"))
}

/// Seconds a curl command takes.
pub fn curl(args: &[&str]) -> Result<f64> {
    let started = Instant::now();
    let status = Command::new("curl").args(["-sS", "--fail"]).args(args).status().context("running curl")?;
    if !status.success() {
        bail!("curl {args:?} failed");
    }
    Ok(started.elapsed().as_secs_f64())
}

pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(|a, b| a.total_cmp(b));
    values[values.len() / 2]
}

/// Prints the spread of one side's times (the log shows how noisy the machine was).
pub fn spread(label: &str, values: &[f64]) {
    let (low, high) = values.iter().fold((f64::MAX, 0f64), |(l, h), v| (l.min(*v), h.max(*v)));
    println!("    {label}: median {:.3} s, {low:.3} to {high:.3} s", median(values.to_vec()));
}

pub fn generate(path: &Path, mib: u64) -> Result<()> {
    let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut chunk = vec![0u8; 1 << 20];
    for i in 0..mib {
        for (j, b) in chunk.iter_mut().enumerate() {
            *b = (i as usize).wrapping_mul(131).wrapping_add(j / 3) as u8;
        }
        file.write_all(&chunk)?;
    }
    file.flush()?;
    Ok(())
}

/// Seconds of one SDK run and one curl run side by side, and the SDK process's peak RSS.
pub struct Pair {
    pub sdk: f64,
    pub curl: f64,
    pub rss_mib: f64,
    /// What a script that checks as the SDK does takes: curl, then SHA-1 of what it got; or
    /// SHA-256 of the file, then `curl -T` to an endpoint that verifies it.
    pub scripted: Option<f64>,
}

/// The pairs of one figure, side by side.
#[derive(Default)]
pub struct Runs {
    pub sdk: Vec<f64>,
    pub curl: Vec<f64>,
    pub scripted: Vec<f64>,
    pub rss_mib: Vec<f64>,
}

impl Runs {
    pub fn push(&mut self, pair: Pair) {
        self.sdk.push(pair.sdk);
        self.curl.push(pair.curl);
        self.scripted.extend(pair.scripted);
        self.rss_mib.push(pair.rss_mib);
    }

    /// Prints each side's spread (the log shows how noisy the machine was).
    pub fn show(&self, what: &str) {
        spread(&format!("SDK{what}"), &self.sdk);
        spread(&format!("curl{what}"), &self.curl);
    }

    /// Throughput SDK / curl: curl's median time over the SDK's.
    pub fn ratio(&self) -> f64 {
        median(self.curl.clone()) / median(self.sdk.clone())
    }

    /// The same against the scripted runs, when there were any.
    pub fn scripted_ratio(&self) -> Option<f64> {
        (!self.scripted.is_empty()).then(|| median(self.scripted.clone()) / median(self.sdk.clone()))
    }
}

/// A simulator as both clients reach it: its URL and, over HTTPS, the CA both trust.
pub struct Server<'a> {
    pub url: &'a str,
    pub ca: Option<&'a str>,
}

impl Server<'_> {
    pub fn env(&self) -> Vec<(&str, &str)> {
        self.ca.map(|ca| ("CL_BENCH_CA", ca)).into_iter().collect()
    }

    /// curl's arguments, trusting the CA over HTTPS (where curl negotiates HTTP/2 with its
    /// defaults, as a user running it gets; the SDK's transfers use HTTP/1.1).
    pub fn curl<'b>(&'b self, args: &[&'b str]) -> Vec<&'b str> {
        let mut all: Vec<&str> = self.ca.map(|ca| vec!["--cacert", ca]).unwrap_or_default();
        all.extend_from_slice(args);
        all
    }
}
