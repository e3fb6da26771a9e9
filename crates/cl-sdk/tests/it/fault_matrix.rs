//! The fault matrix: downloads, uploads and copies against the simulator under every fault family users
//! meet (broken connections at many offsets, 5xx bursts at each phase, expired sessions, corrupted
//! bytes, stalls, a restarted server, Range misbehaviour, a competing uploader). Every case ends
//! byte-identical, or with a typed error and then: no file under a final name, nothing left in
//! the destination, the item's previous content intact, and no session left on the server.
//!
//! Cases are a fixed list; the two "random" offsets come from a fixed seed, so a run is
//! reproducible. The test prints `fault matrix: N cases, P passed` and fails unless P = N.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use cl_sdk::transfer::{CopyOptions, DownloadOptions, TransferControl, UploadFile, UploadOptions};
use cl_sdk::{Client, ErrorKind, RetryPolicy};
use cl_sim::{CallFault, RangeFault, SimConfig, Simulator};

/// Not a multiple of any buffer size, so boundaries fall inside it.
const SIZE: u64 = (1 << 20) + 123;
const SEED: u64 = 0x5eed_c0de;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Download,
    Upload,
    /// The item streamed into a new item of a second simulator; faults at the source.
    Copy,
    /// The same, with the faults at the destination.
    CopyDest,
    /// An OVF item (a descriptor and the file) written as one OVA file; faults on the file.
    Ova,
    /// The file imported into a second simulator from a URL (a prepared download endpoint of
    /// the first, which gives no ETag or Last-Modified); faults at the source.
    Url,
}

#[derive(Clone, Debug)]
enum Fault {
    /// Cut the transfer's connection after this many bytes.
    Drop(u64),
    /// Call faults on an operation.
    Calls(&'static str, u32, CallFault),
    /// Flip one byte of the download.
    Corrupt(u64),
    /// No byte for longer than the stall timeout.
    Stall,
    /// Mid-transfer: the API session expires.
    ExpireApi,
    /// Mid-transfer: the transfer session expires (keep-alive too late).
    ExpireSession,
    /// Mid-transfer: the server restarts and forgets every session.
    Restart,
    /// A broken connection, then this answer to the resuming Range request.
    Range(RangeFault),
    /// Upload with a checksum the bytes do not have.
    WrongChecksum,
    /// Another client uploads into the same item at the same time.
    Competitor,
    /// The destination's file system fills up (a 512 KiB tmpfs for a 1 MiB file).
    DiskFull,
    /// The caller cancels mid-transfer.
    Cancel,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Expect {
    Done,
    Failed,
    Either,
}

struct Case {
    kind: Kind,
    fault: Fault,
    expect: Expect,
}

fn cases() -> Vec<Case> {
    let mut rng = SEED;
    let mut random = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng % SIZE
    };
    let offsets = [0, 1, 1000, 64 << 10, 256 << 10, (256 << 10) + 1, SIZE / 2, SIZE - 1, random(), random()];
    let mut cases = Vec::new();
    let case = |kind, fault, expect| Case { kind, fault, expect };
    for at in offsets {
        cases.push(case(Kind::Download, Fault::Drop(at), Expect::Done));
    }
    for (op, n) in [
        ("download_session_create", 1),
        ("download_session_create", 5),
        ("download_session_file_list", 3),
        ("download_session_file_prepare", 5),
        ("download_session_file_get", 1),
        ("download_session_file_get", 5),
    ] {
        cases.push(case(Kind::Download, Fault::Calls(op, n, CallFault::Status(503)), Expect::Done));
    }
    for status in [502, 504] {
        cases.push(case(
            Kind::Download,
            Fault::Calls("download_session_file_get", 2, CallFault::Status(status)),
            Expect::Done,
        ));
    }
    cases.push(case(Kind::Download, Fault::Calls("download_session_file_get", 2, CallFault::Reset), Expect::Done));
    cases.push(case(Kind::Download, Fault::Calls("download_session_create", 1, CallFault::LoseReply), Expect::Done));
    cases.push(case(Kind::Download, Fault::Corrupt(SIZE / 3), Expect::Failed));
    cases.push(case(Kind::Download, Fault::Stall, Expect::Done));
    cases.push(case(Kind::Download, Fault::ExpireApi, Expect::Done));
    cases.push(case(Kind::Download, Fault::ExpireSession, Expect::Failed));
    cases.push(case(Kind::Download, Fault::Restart, Expect::Failed));
    cases.push(case(Kind::Download, Fault::Range(RangeFault::Ignore), Expect::Done));
    cases.push(case(Kind::Download, Fault::Range(RangeFault::WrongStart), Expect::Failed));
    cases.push(case(Kind::Download, Fault::DiskFull, Expect::Failed));
    for (status, n) in [(503, 5), (400, 3)] {
        let refused = Fault::Calls("download_session_keep_alive", n, CallFault::Status(status));
        cases.push(case(Kind::Download, refused, Expect::Done));
        let refused = Fault::Calls("update_session_keep_alive", n, CallFault::Status(status));
        cases.push(case(Kind::Upload, refused, Expect::Done));
    }

    for at in [0, 1000, 256 << 10, SIZE / 10, SIZE / 2, SIZE * 99 / 100] {
        cases.push(case(Kind::Upload, Fault::Drop(at), Expect::Done));
    }
    for op in [
        "update_session_create",
        "update_session_file_add",
        "update_session_file_list",
        "update_session_file_validate",
        "update_session_complete",
        "update_session_get",
    ] {
        for n in [1, 5] {
            cases.push(case(Kind::Upload, Fault::Calls(op, n, CallFault::Status(503)), Expect::Done));
        }
    }
    cases.push(case(Kind::Upload, Fault::Calls("update_session_file_list", 2, CallFault::Reset), Expect::Done));
    cases.push(case(Kind::Upload, Fault::Calls("update_session_complete", 1, CallFault::Reset), Expect::Failed));
    cases.push(case(Kind::Upload, Fault::Calls("update_session_complete", 1, CallFault::LoseReply), Expect::Done));
    cases.push(case(Kind::Upload, Fault::Calls("update_session_create", 1, CallFault::LoseReply), Expect::Done));
    cases.push(case(Kind::Upload, Fault::WrongChecksum, Expect::Failed));
    cases.push(case(Kind::Upload, Fault::Stall, Expect::Done));
    cases.push(case(Kind::Upload, Fault::ExpireApi, Expect::Done));
    cases.push(case(Kind::Upload, Fault::ExpireSession, Expect::Failed));
    cases.push(case(Kind::Upload, Fault::Restart, Expect::Failed));
    cases.push(case(Kind::Upload, Fault::Competitor, Expect::Either));

    // Copies: a broken source resumes with Range into the same PUT; wrong source bytes never
    // land; the destination's refusals, resets and lost answers are handled as uploads handle them.
    for at in [0, 64 << 10, SIZE / 2, SIZE - 1] {
        cases.push(case(Kind::Copy, Fault::Drop(at), Expect::Done));
    }
    cases.push(case(Kind::Copy, Fault::Corrupt(SIZE / 3), Expect::Failed));
    cases.push(case(Kind::Copy, Fault::Range(RangeFault::Ignore), Expect::Done));
    cases.push(case(
        Kind::Copy,
        Fault::Calls("download_session_file_prepare", 3, CallFault::Status(503)),
        Expect::Done,
    ));
    cases.push(case(Kind::Copy, Fault::Cancel, Expect::Failed));
    cases.push(case(Kind::CopyDest, Fault::Calls("update_session_file_add", 3, CallFault::Status(503)), Expect::Done));
    cases.push(case(Kind::CopyDest, Fault::Drop(SIZE / 2), Expect::Done));
    cases.push(case(Kind::CopyDest, Fault::Calls("update_session_complete", 1, CallFault::LoseReply), Expect::Done));

    // OVA export (each member on the runner): breaks resume inside the member, wrong bytes are
    // fetched again, a stall resumes, an expired API session is logged in to again, a cancel
    // leaves nothing at the path.
    for at in [0, 1000, SIZE / 2, SIZE - 1] {
        cases.push(case(Kind::Ova, Fault::Drop(at), Expect::Done));
    }
    cases.push(case(Kind::Ova, Fault::Corrupt(SIZE / 3), Expect::Done));
    cases.push(case(Kind::Ova, Fault::Stall, Expect::Done));
    cases.push(case(Kind::Ova, Fault::ExpireApi, Expect::Done));
    cases.push(case(Kind::Ova, Fault::Range(RangeFault::WrongStart), Expect::Failed));
    cases.push(case(Kind::Ova, Fault::Range(RangeFault::Ignore), Expect::Done));
    cases.push(case(Kind::Ova, Fault::Calls("download_session_file_prepare", 3, CallFault::Status(503)), Expect::Done));
    cases.push(case(Kind::Ova, Fault::Cancel, Expect::Failed));
    // URL import from a source without a validator: a break is not resumed but sent again
    // whole (never spliced); a corrupted byte lands nowhere without a declared checksum, so the
    // case checks the bytes; a cancel leaves nothing.
    for at in [0, SIZE / 2] {
        cases.push(case(Kind::Url, Fault::Drop(at), Expect::Done));
    }
    cases.push(case(Kind::Url, Fault::Stall, Expect::Done));
    cases.push(case(Kind::Url, Fault::Cancel, Expect::Failed));
    cases
}

fn content(seed: u8) -> Vec<u8> {
    (0..SIZE).map(|i| (i as u8).wrapping_mul(seed).wrapping_add((i >> 12) as u8)).collect()
}

fn quick() -> RetryPolicy {
    RetryPolicy::default().max_attempts(8).backoff(Duration::from_millis(5), Duration::from_millis(40))
}

struct Bed {
    sim: Arc<Simulator>,
    client: Client,
    item: cl_sdk::ItemId,
    old: Vec<u8>,
    work: tempfile::TempDir,
}

/// A simulator and a client of it.
async fn server() -> (Arc<Simulator>, Client) {
    let mut config = SimConfig::default().plain_http();
    config.service.prepare_delay = Duration::from_millis(20);
    let sim = Arc::new(Simulator::start(config).await.unwrap());
    let client = Client::builder(sim.url())
        .credentials(sim.username(), sim.password())
        .retry(quick())
        .stall_timeout(Duration::from_millis(400))
        .connect()
        .await
        .unwrap();
    (sim, client)
}

async fn bed() -> Bed {
    let (sim, client) = server().await;
    let library = client.create_local_library("lib", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let old = content(7);
    let file = UploadFile::reader("data.bin", SIZE, std::io::Cursor::new(old.clone()));
    let item = client
        .upload_new_item(&library, "item", &cl_sdk::ItemType::File, vec![file], UploadOptions::default())
        .await
        .unwrap();
    Bed { sim, client, item: item.item_id, old, work: tempfile::tempdir().unwrap() }
}

/// Arms the fault on `sim`; events "mid-transfer" run while a stall holds the transfer half-way.
fn arm(bed: &Bed, sim: &Simulator, fault: &Fault) {
    let faults = sim.faults();
    let mid_way = |event: fn(&Simulator, &Client)| {
        faults.stall_next_transfer(SIZE / 2, Duration::from_millis(1500));
        let (sim, client) = (bed.sim.clone(), bed.client.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(400)).await;
            event(&sim, &client);
        });
    };
    match fault {
        Fault::Drop(at) => faults.drop_next_transfer_after(*at),
        Fault::Corrupt(at) => faults.corrupt_next_download_at(*at),
        Fault::Stall => faults.stall_next_transfer(SIZE / 3, Duration::from_secs(3)),
        Fault::ExpireApi => mid_way(|sim, _| sim.expire_api_sessions()),
        Fault::ExpireSession => mid_way(|sim, _| sim.expire_transfer_sessions()),
        Fault::Restart => mid_way(|sim, _| sim.restart()),
        Fault::Range(range) => {
            faults.drop_next_transfer_after(SIZE / 2);
            faults.fail_next_range(*range);
        }
        // Keep-alives every 50 ms meet the refusals while a stall holds the transfer.
        Fault::Calls(op, n, fault) if op.ends_with("keep_alive") => {
            faults.fail_calls(op, *n, *fault);
            faults.stall_next_transfer(SIZE / 2, Duration::from_millis(300));
        }
        Fault::Calls(op, n, fault) => faults.fail_calls(op, *n, *fault),
        Fault::WrongChecksum | Fault::Competitor | Fault::DiskFull | Fault::Cancel => {}
    }
}

/// Runs one case; `Err` says which promise broke.
async fn run(case: &Case) -> Result<(), String> {
    let bed = bed().await;
    let outcome = match case.kind {
        Kind::Download => {
            arm(&bed, &bed.sim, &case.fault);
            download(&bed, matches!(case.fault, Fault::DiskFull)).await
        }
        Kind::Upload => {
            arm(&bed, &bed.sim, &case.fault);
            upload(&bed, &case.fault).await
        }
        Kind::Copy | Kind::CopyDest => copy(&bed, case).await,
        Kind::Ova => ova(&bed, case).await,
        Kind::Url => url(&bed, case).await,
    };
    bed.sim.faults().clear();
    match (case.expect, &outcome) {
        (_, Err(e)) if !e.starts_with("ok-error: ") => return outcome,
        (Expect::Done, Err(e)) => return Err(format!("expected success, got {e}")),
        (Expect::Failed, Ok(())) => return Err("expected a typed error, got success".into()),
        _ => {}
    }
    // No session left on the server (an expired or forgotten one is gone too).
    let downloads = bed.client.sessions::<cl_sdk::Download>(None).await.map_err(|e| e.to_string())?;
    let updates = bed.client.sessions::<cl_sdk::Update>(None).await.map_err(|e| e.to_string())?;
    if !downloads.is_empty() || !updates.is_empty() {
        return Err(format!("sessions left: {downloads:?} {updates:?}"));
    }
    outcome
}

async fn download(bed: &Bed, disk_full: bool) -> Result<(), String> {
    let dest = bed.work.path().join("dest");
    std::fs::create_dir(&dest).unwrap();
    let _small = if disk_full { Some(Tmpfs::mount(&dest, "512k")?) } else { None };
    let options = DownloadOptions::default().resume(false).keep_alive_every(Duration::from_millis(50));
    let work = bed.client.download_item(&bed.item, &dest, options);
    let result = tokio::time::timeout(Duration::from_secs(60), work).await.map_err(|_| "hung".to_string())?;
    let left = names(&dest);
    match result {
        Ok(_) => {
            if left != ["data.bin"] {
                return Err(format!("left in the destination: {left:?}"));
            }
            if std::fs::read(dest.join("data.bin")).unwrap() != bed.old {
                return Err("downloaded bytes differ".into());
            }
            Ok(())
        }
        Err(e) if left.is_empty() => Err(typed(e)),
        Err(e) => Err(format!("{e}; and left in the destination: {left:?}")),
    }
}

async fn upload(bed: &Bed, fault: &Fault) -> Result<(), String> {
    let new = content(11);
    let path = bed.work.path().join("data.bin");
    std::fs::write(&path, &new).unwrap();
    let file = || match fault {
        Fault::WrongChecksum => {
            UploadFile::path(&path).with_checksum(cl_sdk::types::ChecksumAlgorithm::Sha256, &"0".repeat(64))
        }
        _ => UploadFile::path(&path),
    };
    let options = || UploadOptions::default().keep_alive_every(Duration::from_millis(50));
    let send = |file| bed.client.upload_item(&bed.item, vec![file], options());
    let (result, expected) = if matches!(fault, Fault::Competitor) {
        let third = content(13);
        let other = bed.work.path().join("other.bin");
        std::fs::write(&other, &third).unwrap();
        let rival =
            bed.client.upload_item(&bed.item, vec![UploadFile::named("data.bin", &other)], UploadOptions::default());
        let (a, b) = tokio::join!(send(file()), rival);
        match (a, b) {
            (Ok(_), Err(e)) | (Err(e), Ok(_)) if e.kind() == ErrorKind::ResourceBusy => (Ok(()), None),
            (Ok(_), Ok(_)) => (Ok(()), None),
            (a, b) => return Err(format!("competing uploads ended {:?} and {:?}", a.err(), b.err())),
        }
    } else {
        let work = send(file());
        let result = tokio::time::timeout(Duration::from_secs(60), work).await.map_err(|_| "hung".to_string())?;
        (result.map(|_| ()), Some(new.clone()))
    };
    // What the item holds now: the new bytes after success, the previous ones after failure.
    let now = fetch(bed).await?;
    match (result, expected) {
        (Ok(()), Some(new)) if now != new => Err("the item does not hold the uploaded bytes".into()),
        (Ok(()), None) if now != new && now != content(13) => Err("the item holds neither upload".into()),
        (Ok(()), _) => Ok(()),
        (Err(e), _) if now == bed.old => Err(typed(e)),
        (Err(e), _) => Err(format!("{e}; and the item's previous content was changed")),
    }
}

/// Copies the item into a new item of a second simulator under the case's fault: after success
/// the new item holds the item's bytes; after failure there is no new item and no session left
/// at either end.
async fn copy(bed: &Bed, case: &Case) -> Result<(), String> {
    let (to_sim, to) = server().await;
    let library = to.create_local_library("copies", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    arm(bed, if case.kind == Kind::Copy { &bed.sim } else { &to_sim }, &case.fault);
    let control = TransferControl::new();
    if matches!(case.fault, Fault::Cancel) {
        cancel_midway(&bed.sim, &control);
    }
    let options = CopyOptions::default().create(true).keep_alive_every(Duration::from_millis(50)).control(control);
    let work = bed.client.copy_item(&bed.item, &to, &library, options);
    let result = tokio::time::timeout(Duration::from_secs(60), work).await.map_err(|_| "hung".to_string())?;
    to_sim.faults().clear();
    far_end(&to, &library, result.map(|r| r.item_id), &bed.old).await
}

/// What a route into a second simulator left there: after success (`item`), an item holding
/// `expected`; after failure, no item; either way no update session.
async fn far_end(
    to: &Client,
    library: &cl_sdk::LibraryId,
    item: cl_sdk::Result<cl_sdk::ItemId>,
    expected: &[u8],
) -> Result<(), String> {
    let left = to.item_ids(library).await.map_err(|e| e.to_string())?;
    let sessions = to.sessions::<cl_sdk::Update>(None).await.map_err(|e| e.to_string())?;
    if !sessions.is_empty() {
        return Err(format!("update sessions left at the destination: {sessions:?}"));
    }
    match item {
        Ok(item) => {
            let dest = tempfile::tempdir().unwrap();
            to.download_item(&item, dest.path(), DownloadOptions::default()).await.map_err(|e| e.to_string())?;
            if std::fs::read(dest.path().join("data.bin")).unwrap() != expected {
                return Err("the bytes at the destination differ from the source's".into());
            }
            Ok(())
        }
        Err(e) if left.is_empty() => Err(typed(e)),
        Err(e) => Err(format!("{e}; and the destination kept items {left:?}")),
    }
}

/// Cancels `control` while a stall holds the next transfer of `sim` half-way.
fn cancel_midway(sim: &Simulator, control: &TransferControl) {
    sim.faults().stall_next_transfer(SIZE / 2, Duration::from_secs(2));
    let control = control.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        control.cancel();
    });
}

/// Writes an OVF item holding the file as one OVA under the case's fault (aimed at the file):
/// after success the archive's member is byte-identical; after failure nothing is at the path
/// or beside it.
async fn ova(bed: &Bed, case: &Case) -> Result<(), String> {
    let library = bed.client.find_library("lib").await.map_err(|e| e.to_string())?;
    let ovf = br#"<Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:href="data.bin"/></References></Envelope>"#;
    let files = vec![
        UploadFile::reader("app.ovf", ovf.len() as u64, std::io::Cursor::new(ovf.to_vec())),
        UploadFile::reader("data.bin", SIZE, std::io::Cursor::new(bed.old.clone())),
    ];
    let item =
        bed.client.upload_new_item(&library, "app", &cl_sdk::ItemType::Ovf, files, UploadOptions::default()).await;
    let item = item.map_err(|e| e.to_string())?.item_id;
    bed.sim.faults().target_transfers(Some("data.bin"));
    arm(bed, &bed.sim, &case.fault);
    let control = TransferControl::new();
    if matches!(case.fault, Fault::Cancel) {
        cancel_midway(&bed.sim, &control);
    }
    let dir = bed.work.path().join("ova");
    std::fs::create_dir(&dir).unwrap();
    let path = dir.join("app.ova");
    let options = cl_sdk::transfer::OvaOptions::default().keep_alive_every(Duration::from_millis(50)).control(control);
    let work = bed.client.export_ova(&item, cl_sdk::transfer::OvaTarget::path(&path), options);
    let result = tokio::time::timeout(Duration::from_secs(60), work).await.map_err(|_| "hung".to_string())?;
    match result {
        Ok(_) => {
            let mut archive = tar::Archive::new(std::fs::File::open(&path).unwrap());
            for entry in archive.entries().unwrap() {
                let mut entry = entry.unwrap();
                if entry.path().unwrap().to_string_lossy() == "data.bin" {
                    let mut bytes = Vec::new();
                    std::io::Read::read_to_end(&mut entry, &mut bytes).unwrap();
                    return if bytes == bed.old { Ok(()) } else { Err("the OVA's member differs".into()) };
                }
            }
            Err("the OVA has no data.bin".into())
        }
        Err(e) if names(&dir).is_empty() => Err(typed(e)),
        Err(e) => Err(format!("{e}; and left beside the path: {:?}", names(&dir))),
    }
}

/// Imports the file into a second simulator from a prepared download endpoint of the first,
/// under the case's fault at that source: after success the new item holds the bytes; after
/// failure there is no new item and no session at either end.
async fn url(bed: &Bed, case: &Case) -> Result<(), String> {
    let (_to_sim, to) = server().await;
    let library = to.create_local_library("imports", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let source = bed.client.create_session::<cl_sdk::Download>(&bed.item).await.map_err(|e| e.to_string())?;
    source.prepare("data.bin").await.map_err(|e| e.to_string())?;
    let prepared = source.wait_prepared("data.bin", Duration::from_secs(10)).await.map_err(|e| e.to_string())?;
    let uri = prepared.download_endpoint.map(|e| e.uri).unwrap_or_default();
    arm(bed, &bed.sim, &case.fault);
    let control = TransferControl::new();
    if matches!(case.fault, Fault::Cancel) {
        cancel_midway(&bed.sim, &control);
    }
    let options = UploadOptions::default().keep_alive_every(Duration::from_millis(50)).control(control);
    let file = UploadFile::url(&uri, cl_sdk::transfer::SourceTrust::default());
    let work = to.upload_new_item(&library, "imported", &cl_sdk::ItemType::File, vec![file], options);
    let result = tokio::time::timeout(Duration::from_secs(60), work).await.map_err(|_| "hung".to_string())?;
    source.delete().await.map_err(|e| e.to_string())?;
    far_end(&to, &library, result.map(|r| r.item_id), &bed.old).await
}

/// The item's content, downloaded without faults.
async fn fetch(bed: &Bed) -> Result<Vec<u8>, String> {
    let dest = tempfile::tempdir().unwrap();
    bed.client.download_item(&bed.item, dest.path(), DownloadOptions::default()).await.map_err(|e| e.to_string())?;
    Ok(std::fs::read(dest.path().join("data.bin")).unwrap())
}

/// A failure that kept every promise: reported as the typed error it was.
fn typed(e: cl_sdk::Error) -> String {
    format!("ok-error: {:?}: {e}", e.kind())
}

/// A size-limited file system mounted over a folder for the case's duration (needs root, as CI
/// and this project's machines have; elsewhere the case reports that it could not run).
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Self, String> {
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .stderr(std::process::Stdio::null())
            .status();
        match status {
            Ok(s) if s.success() => Ok(Self(dir.to_owned())),
            _ => Err("cannot mount a small tmpfs here (needs root)".into()),
        }
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fault_matrix() {
    let cases = cases();
    let mut failures = Vec::new();
    for case in &cases {
        let outcome = run(case).await;
        let line = match &outcome {
            Ok(()) => "done".to_owned(),
            Err(e) if e.starts_with("ok-error: ") => e.clone(),
            Err(e) => format!("BROKEN: {e}"),
        };
        println!("{:?} {:?}: {line}", case.kind, case.fault);
        if matches!(&outcome, Err(e) if !e.starts_with("ok-error: ")) {
            failures.push(format!("{:?} {:?}: {line}", case.kind, case.fault));
        }
    }
    // Written to the stream itself, not through the test harness's capture: CI's log shows it.
    let summary = format!("fault matrix: {} cases, {} passed\n", cases.len(), cases.len() - failures.len());
    let _ = std::io::Write::write_all(&mut std::io::stderr(), summary.as_bytes());
    assert!(cases.len() >= 40);
    assert!(failures.is_empty(), "{failures:#?}");
}
