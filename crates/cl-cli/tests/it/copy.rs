//! `clx copy` between two simulators: an item over https (the destination's own CA) and a
//! library, `--json` rows, an up-to-date rerun, and a copy killed with SIGKILL mid-transfer that
//! leaves the destination item as it was and is finished by the same command run again.

use crate::common;

use std::process::Stdio;
use std::time::Duration;

use cl_sim::{SimConfig, Simulator};
use common::{clx, wait_for_exit, wait_until};

async fn sim(https: bool) -> Simulator {
    let mut config = SimConfig::default();
    if !https {
        config = config.plain_http();
    }
    config.service.prepare_delay = Duration::from_millis(10);
    Simulator::start(config).await.unwrap()
}

async fn client(sim: &Simulator) -> cl_sdk::Client {
    cl_testkit::client(sim).await
}

/// A library `lib` on `sim` holding item `disk` of `size` bytes.
async fn source(sim: &Simulator, size: usize) -> (cl_sdk::Client, cl_sdk::ItemId, Vec<u8>) {
    let client = client(sim).await;
    let library = client.create_local_library("lib", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let bytes: Vec<u8> = (0..size).map(|i| (i * 7 + i / 1000) as u8).collect();
    let file = cl_sdk::transfer::UploadFile::reader("disk.img", size as u64, std::io::Cursor::new(bytes.clone()));
    let options = cl_sdk::transfer::UploadOptions::default();
    let item =
        client.upload_new_item(&library, "disk", &cl_sdk::ItemType::File, vec![file], options).await.unwrap().item_id;
    (client, item, bytes)
}

/// `clx copy` from `from` to `to` (its CA in a file), with `args` after the command.
fn copy(from: &Simulator, to: &Simulator, ca: &std::path::Path, args: &[&str]) -> std::process::Command {
    let mut command = clx(from);
    command.args(["copy"]).args(args).args(["--to-url", to.url(), "--to-ca-cert"]).arg(ca);
    command.env("CLX_TO_USERNAME", to.username()).env("CLX_TO_PASSWORD", to.password());
    command
}

async fn bytes_of(client: &cl_sdk::Client, library: &cl_sdk::LibraryId, name: &str) -> Vec<u8> {
    let item = client.find_item(library, name).await.unwrap();
    let dest = tempfile::tempdir().unwrap();
    let report = client.download_item(&item, dest.path(), cl_sdk::transfer::DownloadOptions::default()).await.unwrap();
    std::fs::read(&report.files[0].path).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copies_an_item_and_a_library_and_reports_up_to_date() {
    let (a, b) = (sim(false).await, sim(true).await);
    let (_from, _, bytes) = source(&a, 300_000).await;
    let to = client(&b).await;
    let library = to.create_local_library("dest", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = ca_dir.path().join("ca.pem");
    std::fs::write(&ca, b.ca_pem().unwrap()).unwrap();

    let out = copy(&a, &b, &ca, &["lib/disk", "dest"]).output().unwrap();
    assert!(!out.status.success(), "no --create: refused");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("pass --create to create it"), "{stderr}");
    let out = copy(&a, &b, &ca, &["lib/disk", "dest", "--create"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout} {}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("copied disk:"), "{stdout}");
    assert_eq!(bytes_of(&to, &library, "disk").await, bytes);

    let out = copy(&a, &b, &ca, &["--json", "lib", "dest"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows[0]["name"], "disk");
    assert_eq!(rows[0]["outcome"], "up to date", "{rows}");
    assert_eq!(rows[0]["bytes"], 0);

    // Into another name, then the same without trusting the destination's CA: refused.
    let out = copy(&a, &b, &ca, &["lib/disk", "dest/disk-copy", "--create"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(bytes_of(&to, &library, "disk-copy").await, bytes);
    let mut untrusted = clx(&a);
    untrusted.args(["copy", "lib/disk", "dest", "--to-url", b.url()]);
    untrusted.env("CLX_TO_USERNAME", b.username()).env("CLX_TO_PASSWORD", b.password());
    let out = untrusted.output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("certificate"), "{}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_copy_killed_midway_leaves_the_destination_as_it_was_and_the_rerun_finishes_it() {
    let (a, b) = (sim(false).await, sim(true).await);
    let size = 4 << 20;
    let (_from, _, bytes) = source(&a, size).await;
    let to = client(&b).await;
    let library = to.create_local_library("dest", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let ca_dir = tempfile::tempdir().unwrap();
    let ca = ca_dir.path().join("ca.pem");
    std::fs::write(&ca, b.ca_pem().unwrap()).unwrap();
    // The destination already holds an older copy; the kill must leave it as it was.
    let old = cl_sdk::transfer::UploadFile::reader("disk.img", 3, std::io::Cursor::new(b"old".to_vec()));
    let options = cl_sdk::transfer::UploadOptions::default();
    to.upload_new_item(&library, "disk", &cl_sdk::ItemType::File, vec![old], options).await.unwrap();

    a.faults().stall_next_transfer(2 << 20, Duration::from_secs(20));
    let mut child =
        copy(&a, &b, &ca, &["lib/disk", "dest"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let before = a.bytes_served();
    wait_until("the copy is mid-transfer", || a.bytes_served() >= before + (512 << 10));
    std::process::Command::new("kill").args(["-KILL", &child.id().to_string()]).status().unwrap();
    wait_for_exit(&mut child);
    a.faults().clear();
    assert_eq!(bytes_of(&to, &library, "disk").await, b"old", "the destination item is as it was");

    let out = copy(&a, &b, &ca, &["lib/disk", "dest"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(bytes_of(&to, &library, "disk").await, bytes);
    assert!(to.sessions::<cl_sdk::Update>(None).await.unwrap().is_empty(), "the killed run's session was ended");
}

/// Settings for another vCenter exported in the environment (as for cross-vCenter copies) do not
/// block a copy within one; the same settings typed as flags without `--to-url` are a mistake.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn destination_settings_from_the_environment_do_not_block_a_copy_within_one_vcenter() {
    let a = sim(false).await;
    let (from, _, bytes) = source(&a, 5_000).await;
    let library = from.find_library("lib").await.unwrap();
    let mut command = clx(&a);
    command.args(["copy", "lib/disk", "lib/disk-copy", "--create"]);
    command.env("CLX_TO_USERNAME", "someone@elsewhere").env("CLX_TO_PASSWORD", "elsewhere").env_remove("CLX_TO_URL");
    let out = command.output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(bytes_of(&from, &library, "disk-copy").await, bytes);

    let mut command = clx(&a);
    command.args(["copy", "lib/disk", "lib/disk-again", "--create", "--to-username", "typed"]).env_remove("CLX_TO_URL");
    let out = command.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("need --to-url"));
}
