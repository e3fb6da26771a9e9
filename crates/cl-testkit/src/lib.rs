//! Test helpers shared by the workspace's crates; a dev-dependency only.

pub mod vcsim;

/// The workspace's root folder.
pub fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The peak resident memory of a process (`None`: this one), MiB, from Linux's
/// `/proc/<pid>/status` (`VmHWM`); `None` where that is not available.
pub fn peak_rss_mib(pid: Option<u32>) -> Option<f64> {
    let process = pid.map_or_else(|| "self".to_owned(), |p| p.to_string());
    let status = std::fs::read_to_string(format!("/proc/{process}/status")).ok()?;
    let kib: f64 =
        status.lines().find_map(|l| l.strip_prefix("VmHWM:"))?.trim().trim_end_matches("kB").trim().parse().ok()?;
    Some(kib / 1024.0)
}
