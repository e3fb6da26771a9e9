//! What the `clx` process tests share: the binary pointed at a simulator, a simulator holding an
//! item, and a bounded wait for a child to exit.

#![allow(dead_code)]

use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use cl_sim::{SimConfig, Simulator};

pub fn clx(sim: &Simulator) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clx"));
    for var in ["CLX_URL", "GOVC_URL", "GOVC_USERNAME", "GOVC_PASSWORD", "GOVC_INSECURE"] {
        command.env_remove(var);
    }
    command
        .args(["--url", sim.url()])
        .env("CLX_USERNAME", sim.username())
        .env("CLX_PASSWORD", sim.password())
        .stdin(Stdio::null());
    command
}

/// A plain-HTTP simulator with library `lib` holding item `item` of the given files, seeded
/// into the simulator directly: the SDK's upload refuses names like these.
pub async fn sim_with(files: &[(&str, Vec<u8>)]) -> (Simulator, cl_sdk::Client) {
    let sim = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
    let client =
        cl_sdk::Client::builder(sim.url()).credentials(sim.username(), sim.password()).connect().await.unwrap();
    let library = client.create_local_library("lib", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let files: Vec<(&str, &[u8])> = files.iter().map(|(name, bytes)| (*name, bytes.as_slice())).collect();
    sim.seed_item(library.as_str(), "item", &files).await.unwrap();
    (sim, client)
}

/// Waits at most 30 s for `child` to exit.
pub fn wait_for_exit(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        assert!(Instant::now() < deadline, "clx exits");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits at most 20 s until `ready()`.
pub fn wait_until(what: &str, ready: impl Fn() -> bool) {
    let started = Instant::now();
    while !ready() {
        assert!(started.elapsed() < Duration::from_secs(20), "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// The size of the partial file in `dest`'s staging folder, if there is one.
pub fn kept(dest: &std::path::Path) -> u64 {
    let Some(Ok(staging)) = std::fs::read_dir(dest).unwrap().next() else { return 0 };
    let Ok(entries) = std::fs::read_dir(staging.path()) else { return 0 };
    entries
        .filter_map(Result::ok)
        .filter(|e| e.path().extension().is_some_and(|x| x == "partial"))
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum()
}
