//! Test helpers shared by the workspace's crates; a dev-dependency only.

pub mod moto;
pub mod vcsim;

/// A client of `sim`, logged in with its credentials and trusting its CA when it serves HTTPS:
/// the set-up every test that is not about trust needs.
pub async fn client(sim: &cl_sim::Simulator) -> cl_sdk::Client {
    let mut builder = cl_sdk::Client::builder(sim.url()).credentials(sim.username(), sim.password());
    if let Some(ca) = sim.ca_pem() {
        builder = builder.add_ca_pem(ca);
    }
    builder.connect().await.expect("the simulator takes its own credentials")
}

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
