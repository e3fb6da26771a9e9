//! The SDK against a hostile or broken server of our own (see `hostile/mod.rs`): secrets stay on
//! the API's origin, no wrong or unbounded bytes are written, nothing is left behind, no panic,
//! and each failure is a typed error that says what was wrong. docs/security.md lists the cases.

use crate::hostile_server;

use std::path::Path;
use std::time::Duration;

use cl_sdk::transfer::{DownloadOptions, DownloadReport, Overwrite};
use cl_sdk::{Client, Dialect, ErrorKind, RetryPolicy};
use hostile_server::{Endpoint, FilePlan, Plan, Server, recorder, vcenter};

fn quick() -> RetryPolicy {
    RetryPolicy::default().max_attempts(3).backoff(Duration::from_millis(5), Duration::from_millis(10))
}

async fn connect(server: &Server) -> cl_sdk::Result<Client> {
    Client::builder(&server.url).credentials("user", "pass").dialect(Dialect::Api).retry(quick()).connect().await
}

/// Downloads the hostile item into `dest`, bounded in time so a hang fails the test.
async fn download(server: &Server, dest: &Path) -> cl_sdk::Result<DownloadReport> {
    download_with(server, dest, DownloadOptions::default()).await
}

async fn download_with(server: &Server, dest: &Path, options: DownloadOptions) -> cl_sdk::Result<DownloadReport> {
    let client = connect(server).await?;
    let item = cl_sdk::ItemId::new("item-1");
    let work = client.download_item(&item, dest, options);
    tokio::time::timeout(Duration::from_secs(60), work).await.expect("the download ends by itself")
}

/// The names in a folder, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    names.sort();
    names
}

fn plan(files: Vec<FilePlan>) -> Plan {
    Plan { files, ..Plan::default() }
}

// ---------------------------------------------------------------------------------------------
// 1. Token confinement

#[tokio::test]
async fn a_transfer_endpoint_on_another_host_or_port_gets_no_token() {
    let other_host = recorder(b"abc").await;
    let other_port = vcenter(plan(vec![FilePlan::new("x.bin", b"abc")])).await;
    for uri in [format!("{}/x", other_host.url), format!("{}/data/0", other_port.url)] {
        let file = FilePlan { endpoint: Endpoint::Uri(uri.clone()), ..FilePlan::new("x.bin", b"abc") };
        let server = vcenter(plan(vec![file])).await;
        let dest = tempfile::tempdir().unwrap();
        download(&server, dest.path()).await.unwrap();
        assert_eq!(std::fs::read(dest.path().join("x.bin")).unwrap(), b"abc");
        assert!(server.seen().iter().any(|s| s.has_token()), "the API origin does get the token");
    }
    let seen = [other_host.seen(), other_port.seen()].concat();
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert!(seen.iter().all(|s| !s.has_token() && !s.has_credentials()), "{seen:?}");
}

#[tokio::test]
async fn redirects_off_the_origin_are_refused_before_anything_is_sent() {
    let other = recorder(b"abc").await;
    // A transfer endpoint that redirects to another host.
    let file =
        FilePlan { endpoint: Endpoint::RedirectTo(format!("{}/steal", other.url)), ..FilePlan::new("x", b"abc") };
    let server = vcenter(plan(vec![file])).await;
    let dest = tempfile::tempdir().unwrap();
    let error = download(&server, dest.path()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RedirectRefused, "{error}");
    assert!(error.to_string().contains("127.0.0.2"), "names the host: {error}");
    assert!(listing(dest.path()).is_empty(), "{:?}", listing(dest.path()));

    // An API call answered with a redirect to another host.
    let server = vcenter(Plan { api_redirect: Some(format!("{}/api/steal", other.url)), ..Plan::default() }).await;
    let error = download(&server, dest.path()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::RedirectRefused, "{error}");
    assert!(other.seen().is_empty(), "the other host saw nothing: {:?}", other.seen());
}

#[tokio::test]
async fn endpoints_that_are_not_http_fail_at_once() {
    for uri in ["file:///etc/passwd", "ds:///vmfs/volumes/ds1/x", "ftp://127.0.0.2/x", "not a uri", "https://"] {
        let file = FilePlan { endpoint: Endpoint::Uri(uri.into()), ..FilePlan::new("x.bin", b"abc") };
        let server = vcenter(plan(vec![file])).await;
        let dest = tempfile::tempdir().unwrap();
        let error = download(&server, dest.path()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Decode, "{uri}: {error}");
        assert!(!error.to_string().contains("reachable"), "{error}");
        assert_eq!(server.count("file_name=x.bin"), 1, "{uri}: not retried");
        assert!(listing(dest.path()).is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// 2, 3. Names: no file takes another's bytes, no user file is touched

#[tokio::test]
async fn names_like_temporary_files_get_their_own_bytes() {
    let files = vec![FilePlan::new("x.bin", b"the real x"), FilePlan::new(".x.bin.cl-partial", b"the other one")];
    let server = vcenter(plan(files)).await;
    let dest = tempfile::tempdir().unwrap();
    // A user's own file named like an old partial survives.
    std::fs::write(dest.path().join(".disk.vmdk.cl-partial"), b"mine").unwrap();
    download(&server, dest.path()).await.unwrap();
    assert_eq!(std::fs::read(dest.path().join("x.bin")).unwrap(), b"the real x");
    assert_eq!(std::fs::read(dest.path().join(".x.bin.cl-partial")).unwrap(), b"the other one");
    assert_eq!(std::fs::read(dest.path().join(".disk.vmdk.cl-partial")).unwrap(), b"mine");
    assert_eq!(listing(dest.path()).len(), 3, "{:?}", listing(dest.path()));
}

#[tokio::test]
async fn duplicate_case_colliding_and_staging_names_are_refused_before_a_byte() {
    for names in [["x.bin", "x.bin"], ["Disk.vmdk", "disk.VMDK"], ["a.bin", ".cl-download-0000"]] {
        let files = names.iter().map(|n| FilePlan::new(n, b"bytes")).collect();
        let server = vcenter(plan(files)).await;
        let dest = tempfile::tempdir().unwrap();
        let error = download(&server, dest.path()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::UnsafePath, "{names:?}: {error}");
        assert!(listing(dest.path()).is_empty(), "{:?}", listing(dest.path()));
        assert_eq!(server.count("/data/"), 0, "nothing was fetched");
    }
}

#[tokio::test]
async fn an_existing_file_is_never_replaced_without_overwrite() {
    let server = vcenter(plan(vec![FilePlan::new("x.bin", b"new")])).await;
    let dest = tempfile::tempdir().unwrap();
    std::fs::write(dest.path().join("x.bin"), b"old").unwrap();
    let error = download(&server, dest.path()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    assert_eq!(std::fs::read(dest.path().join("x.bin")).unwrap(), b"old");
    download_with(&server, dest.path(), DownloadOptions::default().overwrite(Overwrite::Always)).await.unwrap();
    assert_eq!(std::fs::read(dest.path().join("x.bin")).unwrap(), b"new");
}

// ---------------------------------------------------------------------------------------------
// 4. No panic on a token a header cannot carry

#[tokio::test]
async fn a_login_token_a_header_cannot_carry_is_a_typed_error() {
    for token in ["tok\r\nX-Injected: 1", "caf\u{e9}", "", "a\u{0}b"] {
        let server = vcenter(Plan { token: token.into(), ..Plan::default() }).await;
        let error = connect(&server).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Decode, "{token:?}: {error}");
        assert_eq!(server.count("download-session"), 0);
    }
}

// ---------------------------------------------------------------------------------------------
// 5, 6. Bounded reads

#[tokio::test]
async fn api_bodies_are_capped_while_they_stream() {
    let server = vcenter(Plan { huge_list: Some(8 << 20), ..plan(vec![FilePlan::new("x", b"x")]) }).await;
    let client = Client::builder(&server.url)
        .credentials("user", "pass")
        .dialect(Dialect::Api)
        .retry(quick())
        .max_response_bytes(1 << 20)
        .connect()
        .await
        .unwrap();
    let dest = tempfile::tempdir().unwrap();
    let error = client
        .download_item(&cl_sdk::ItemId::new("item-1"), dest.path(), DownloadOptions::default())
        .await
        .unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode, "{error}");
    assert!(error.to_string().contains("max_response_bytes"), "{error}");
    assert_eq!(server.count("GET /api/content/library/item/download-session/ds-1/file"), 1, "not retried");
}

#[tokio::test]
async fn an_endless_error_body_is_read_only_so_far() {
    let file = FilePlan { endpoint: Endpoint::EndlessError, ..FilePlan::new("x.bin", b"abc") };
    let server = vcenter(plan(vec![file])).await;
    let dest = tempfile::tempdir().unwrap();
    let error = download(&server, dest.path()).await.unwrap_err();
    assert_eq!(error.status(), Some(500), "{error}");
    assert!(listing(dest.path()).is_empty());
}

#[tokio::test]
async fn a_download_stops_at_its_declared_size() {
    let big = vec![7u8; 3 << 20];
    let file = FilePlan { declared: 1 << 20, ..FilePlan::new("x.bin", &big) };
    // The item is identified (a content version), so resume state would be kept if it were
    // an interruption: bytes past the declared size are wrong, and nothing of them is kept.
    let server = vcenter(Plan { content_version: Some("7".into()), ..plan(vec![file]) }).await;
    let dest = tempfile::tempdir().unwrap();
    let error = download(&server, dest.path()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Verification, "{error}");
    assert!(error.to_string().contains("1048576"), "names the declared size: {error}");
    assert!(listing(dest.path()).is_empty(), "no resume state for wrong bytes: {:?}", listing(dest.path()));

    let file = FilePlan { declared: -5, ..FilePlan::new("x.bin", b"abc") };
    let server = vcenter(plan(vec![file])).await;
    let error = download(&server, dest.path()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode, "{error}");
    assert!(error.to_string().contains("-5"), "{error}");
    assert!(!error.to_string().contains("18446744073709551611"), "{error}");
}

// ---------------------------------------------------------------------------------------------
// 9. No silent waits

#[tokio::test]
async fn a_state_that_never_ends_is_shown_and_bounded() {
    let server =
        vcenter(Plan { stuck_status: Some("WARMING_UP".into()), ..plan(vec![FilePlan::new("x", b"x")]) }).await;
    let dest = tempfile::tempdir().unwrap();
    let control = cl_sdk::transfer::TransferControl::new();
    let progress = control.progress();
    let options = DownloadOptions::default().prepare_timeout(Duration::from_millis(400)).control(control);
    let error = download_with(&server, dest.path(), options).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::WaitTimedOut, "{error}");
    assert!(error.to_string().contains("WARMING_UP"), "says what the server reports: {error}");
    assert_eq!(progress.borrow().files[0].server_status.as_deref(), Some("WARMING_UP"));
}

// ---------------------------------------------------------------------------------------------
// 8. Nothing left behind

#[tokio::test]
async fn a_failing_file_takes_its_siblings_partials_with_it() {
    let mut files: Vec<FilePlan> = (0..4).map(|i| FilePlan::new(&format!("ok-{i}.bin"), &vec![i; 2 << 20])).collect();
    files.push(FilePlan { declared: 10, ..FilePlan::new("bad.bin", &[1u8; 100]) });
    let server = vcenter(plan(files)).await;
    let dest = tempfile::tempdir().unwrap();
    let error = download_with(&server, dest.path(), DownloadOptions::default().concurrency(5)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Verification, "{error}");
    for name in listing(dest.path()) {
        assert!(name.starts_with("ok-"), "only verified files under final names: {name}");
        let index: u8 = name[3..4].parse().unwrap();
        assert_eq!(std::fs::read(dest.path().join(&name)).unwrap(), vec![index; 2 << 20]);
    }
}

/// Run in a child process of its own (so the figure is not another test's): a 1 GiB API body and
/// two endless error bodies at once, then the peak RSS on stdout.
#[tokio::test]
async fn huge_bodies_in_a_fresh_process() {
    if std::env::var_os("CL_HOSTILE_CHILD").is_none() {
        return;
    }
    let server = vcenter(Plan { huge_list: Some(1 << 30), ..plan(vec![FilePlan::new("x", b"x")]) }).await;
    let dest = tempfile::tempdir().unwrap();
    assert_eq!(download(&server, dest.path()).await.unwrap_err().kind(), ErrorKind::Decode);
    let endless = |name: &str| FilePlan { endpoint: Endpoint::EndlessError, ..FilePlan::new(name, b"abc") };
    let server = vcenter(plan(vec![endless("a.bin"), endless("b.bin")])).await;
    let error = download_with(&server, dest.path(), DownloadOptions::default().concurrency(2)).await.unwrap_err();
    assert_eq!(error.status(), Some(500));
    println!("\nPEAK_RSS_MIB={:.1}", cl_testkit::peak_rss_mib(None).expect("VmHWM in /proc/self/status"));
}

#[test]
fn memory_stays_bounded_whatever_the_server_sends() {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "hostile::huge_bodies_in_a_fresh_process", "--nocapture", "--test-threads=1"])
        .env("CL_HOSTILE_CHILD", "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    let peak: f64 = stdout.lines().find_map(|l| l.strip_prefix("PEAK_RSS_MIB=")).unwrap().parse().unwrap();
    // A 1 GiB body read whole would need over 1024 MiB; the caps keep the process near its base.
    assert!(peak < 200.0, "peak RSS {peak} MiB");
}

/// A name longer than the file system allows is refused before a byte is written, with the
/// limit in the message (and the name shortened there).
#[tokio::test]
async fn a_name_longer_than_the_file_system_allows_is_refused_first() {
    let long = "n".repeat(300) + ".vmdk";
    let server = vcenter(plan(vec![FilePlan::new("ok.bin", b"fine"), FilePlan::new(&long, b"data")])).await;
    let dest = tempfile::tempdir().unwrap();
    let error = download(&server, dest.path()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    let text = error.to_string();
    assert!(text.contains("305 bytes") && text.contains("at most 255"), "{text}");
    assert!(!text.contains(&long), "the name is shortened: {text}");
    assert!(listing(dest.path()).is_empty(), "{:?}", listing(dest.path()));
}

/// A server that acknowledges an update and does not apply it is found out by reading back.
#[tokio::test]
async fn an_update_the_server_acknowledges_but_does_not_apply_is_an_error() {
    let server = vcenter(plan(Vec::new())).await;
    let client = connect(&server).await.unwrap();
    let error =
        client.update_item(&cl_sdk::ItemId::new("item"), &cl_sdk::Changes::new().name("new")).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Verification, "{error}");
    assert!(error.to_string().contains("does not show it"), "{error}");
    assert_eq!(server.count("PATCH /api/content/library/item/item"), 1);
}

#[tokio::test]
async fn ids_a_url_would_resolve_as_dot_segments_are_refused_from_either_side() {
    // `item/..` is `item` to a URL parser, percent-encoded or not: another resource.
    let server = vcenter(Plan { listed: vec!["a-1".into(), "..".into()], ..plan(Vec::new()) }).await;
    let client = connect(&server).await.unwrap();
    for error in
        [client.library_ids().await.unwrap_err(), client.item_ids(&cl_sdk::LibraryId::new("lib")).await.unwrap_err()]
    {
        assert_eq!(error.kind(), ErrorKind::Decode, "{error}");
        assert!(error.to_string().contains("\"..\""), "{error}");
    }
    let error = "..".parse::<cl_sdk::ItemId>().unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    // Made unchecked, such an id is still stopped before it is sent, whatever the call.
    let before = server.seen().len();
    for id in ["..", ".", ""] {
        let error = client.item(&cl_sdk::ItemId::new(id)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{id:?}: {error}");
        let error = client.delete_item(&cl_sdk::ItemId::new(id)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::InvalidInput, "{id:?}: {error}");
    }
    assert_eq!(
        server.seen().len(),
        before,
        "nothing was sent: {:?}",
        server.seen().iter().map(|s| &s.line).collect::<Vec<_>>()
    );

    // A session id that is one: the download fails typed, nothing is written.
    let server = vcenter(Plan { session_id: Some(".".into()), ..plan(vec![FilePlan::new("x.bin", b"abc")]) }).await;
    let dest = tempfile::tempdir().unwrap();
    let error = download(&server, dest.path()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Decode, "{error}");
    assert!(listing(dest.path()).is_empty(), "{:?}", listing(dest.path()));
    assert!(!server.seen().iter().any(|s| s.line.contains("download-session/")), "no call went to a dot segment");
}
