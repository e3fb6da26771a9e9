//! Imports from an http(s) URL through the client: a Range-capable file server of our own on
//! 127.0.0.1 with faults (a cut connection, Range ignored, content changed between requests, a
//! stall, 404 and 401, a truncated archive) in front of the simulator. Nothing touches local
//! disk, breaks resume with Range, a changed source is refused rather than spliced, and no
//! vCenter credential ever reaches the source.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use cl_sdk::ItemType;
use cl_sdk::transfer::{DownloadOptions, SourceTrust, UploadFile, UploadOptions};
use cl_sdk::{Client, ErrorKind};
use cl_sim::{SimConfig, Simulator};
use sha2::Digest;

mod hostile_sources;

#[derive(Default)]
struct Faults {
    /// Cut the next body after this many bytes.
    cut_after: Option<u64>,
    ignore_range: bool,
    /// From the Nth request on (counting from 1), serve these bytes for the path: it changed.
    change_at: Option<(usize, String, Vec<u8>)>,
    /// Pause the next body this long after this many bytes.
    stall: Option<(u64, Duration)>,
    /// Basic credentials every request must carry.
    auth: Option<String>,
    /// HEAD states this size instead of the file's.
    head_size: Option<u64>,
    /// Whole GETs go on past the file's end, with no Content-Length.
    endless: bool,
    /// 206 answers give this total in their Content-Range (the source changed under us).
    total: Option<u64>,
    /// Answers are labelled gzip although nobody asked for it.
    gzip: bool,
    /// The next this many GETs are answered 503 (with `Retry-After: 0`).
    unavailable: u32,
    /// Every request for this path is redirected to this URL.
    redirect: Option<(String, String)>,
    /// HEAD requests wait this long before they answer.
    head_delay: Option<Duration>,
    /// Every GET is cut (or stalled) as `cut_after` (or `stall`) says, not only the next.
    always_cut: bool,
    /// After the first GET, every GET is answered 503.
    busy_after_first: bool,
}

#[derive(Default)]
struct Files {
    files: Mutex<HashMap<String, Vec<u8>>>,
    faults: Mutex<Faults>,
    seen: Mutex<Vec<Seen>>,
    /// The client addresses (one per connection) requests came from.
    peers: Mutex<std::collections::HashSet<std::net::SocketAddr>>,
}

/// A request's method, path, Range and whether it carried vCenter's session header.
type Seen = (String, String, Option<String>, bool);

fn etag(bytes: &[u8]) -> String {
    format!("\"{}\"", hex::encode(&sha2::Sha256::digest(bytes)[..8]))
}

async fn serve(
    State(files): State<Arc<Files>>,
    axum::extract::ConnectInfo(peer): axum::extract::ConnectInfo<std::net::SocketAddr>,
    request: Request,
) -> Response {
    files.peers.lock().unwrap().insert(peer);
    let (method, path, headers) =
        (request.method().to_string(), request.uri().path().to_owned(), request.headers().clone());
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok()).map(str::to_owned);
    files.seen.lock().unwrap().push((
        method.clone(),
        path.clone(),
        range.clone(),
        headers.contains_key("vmware-api-session-id"),
    ));
    let head_delay = files.faults.lock().unwrap().head_delay.filter(|_| method == "HEAD");
    if let Some(delay) = head_delay {
        tokio::time::sleep(delay).await;
    }
    let mut faults = files.faults.lock().unwrap();
    if let Some(auth) = &faults.auth
        && headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) != Some(auth.as_str())
    {
        return (StatusCode::UNAUTHORIZED, "who are you?").into_response();
    }
    if let Some((from, to)) = &faults.redirect
        && *from == path
    {
        return Response::builder().status(StatusCode::FOUND).header(header::LOCATION, to).body(Body::empty()).unwrap();
    }
    if method == "GET" && faults.unavailable > 0 {
        faults.unavailable -= 1;
        return Response::builder()
            .status(StatusCode::SERVICE_UNAVAILABLE)
            .header(header::RETRY_AFTER, "0")
            .body(Body::from("busy"))
            .unwrap();
    }
    if method == "GET" && faults.busy_after_first {
        faults.busy_after_first = false;
        faults.unavailable = 1_000;
    }
    let name = percent_encoding::percent_decode_str(path.trim_start_matches('/')).decode_utf8_lossy().into_owned();
    let requests = files.seen.lock().unwrap().len();
    if faults.change_at.as_ref().is_some_and(|(n, _, _)| requests >= *n)
        && let Some((_, changed, bytes)) = faults.change_at.take()
    {
        files.files.lock().unwrap().insert(changed, bytes);
    }
    let Some(bytes) = files.files.lock().unwrap().get(&name).cloned() else {
        return (StatusCode::NOT_FOUND, "no such file").into_response();
    };
    let tag = etag(&bytes);
    let if_range_ok = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()).is_none_or(|v| v == tag);
    let wanted = range.as_deref().filter(|_| !faults.ignore_range && if_range_ok).and_then(parse_range);
    let (status, start, end) = match wanted {
        Some((a, b)) => {
            (StatusCode::PARTIAL_CONTENT, a, b.map_or(bytes.len() as u64, |b| b + 1).min(bytes.len() as u64))
        }
        None => (StatusCode::OK, 0, bytes.len() as u64),
    };
    let endless = faults.endless && status == StatusCode::OK && method == "GET";
    let mut response =
        Response::builder().status(status).header(header::ETAG, &tag).header(header::ACCEPT_RANGES, "bytes");
    if faults.gzip {
        response = response.header(header::CONTENT_ENCODING, "gzip");
    }
    match faults.head_size {
        Some(size) if method == "HEAD" => response = response.header(header::CONTENT_LENGTH, size),
        _ if endless => {}
        _ => response = response.header(header::CONTENT_LENGTH, end - start),
    }
    if status == StatusCode::PARTIAL_CONTENT {
        let total = faults.total.unwrap_or(bytes.len() as u64);
        response = response.header(header::CONTENT_RANGE, format!("bytes {start}-{}/{total}", end - 1));
    }
    if method == "HEAD" {
        return response.body(Body::empty()).unwrap();
    }
    let cut = if faults.always_cut { faults.cut_after } else { faults.cut_after.take() };
    let stall = if faults.always_cut { faults.stall } else { faults.stall.take() };
    let mut body = bytes[start as usize..end as usize].to_vec();
    if endless {
        body.extend(std::iter::repeat_n(0x5a, 200_000));
    }
    let chunks: Vec<Vec<u8>> = body.chunks(16 << 10).map(<[u8]>::to_vec).collect();
    let stream = futures_util::stream::unfold((chunks.into_iter(), 0u64), move |(mut chunks, sent)| async move {
        let chunk = chunks.next()?;
        if let Some((at, pause)) = stall
            && sent <= at
            && sent + chunk.len() as u64 > at
        {
            tokio::time::sleep(pause).await;
        }
        if cut.is_some_and(|at| sent + chunk.len() as u64 > at) {
            return Some((Err(std::io::Error::other("cut")), (chunks, u64::MAX / 2)));
        }
        Some((Ok(bytes::Bytes::from(chunk.clone())), (chunks, sent + chunk.len() as u64)))
    });
    response.body(Body::from_stream(stream)).unwrap()
}

fn parse_range(value: &str) -> Option<(u64, Option<u64>)> {
    let (a, b) = value.strip_prefix("bytes=")?.split_once('-')?;
    Some((a.parse().ok()?, if b.is_empty() { None } else { Some(b.parse().ok()?) }))
}

struct Bed {
    files: Arc<Files>,
    base: String,
    sim: Simulator,
    client: Client,
    library: cl_sdk::LibraryId,
}

async fn bed() -> Bed {
    let files = Arc::new(Files::default());
    let app = axum::Router::new().fallback(serve).with_state(files.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = app.into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    let mut config = SimConfig::default().plain_http();
    config.service.prepare_delay = Duration::from_millis(10);
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::builder(sim.url())
        .credentials(sim.username(), sim.password())
        .retry(cl_sdk::RetryPolicy::default().backoff(Duration::from_millis(5), Duration::from_millis(50)))
        .stall_timeout(Duration::from_millis(500))
        .connect()
        .await
        .unwrap();
    let library = client.create_local_library("lib", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    Bed { files, base, sim, client, library }
}

impl Bed {
    fn put(&self, name: &str, bytes: &[u8]) {
        self.files.files.lock().unwrap().insert(name.to_owned(), bytes.to_vec());
    }

    async fn import(&self, item: &str, url: &str) -> cl_sdk::Result<cl_sdk::transfer::UploadReport> {
        let file = UploadFile::url(url, SourceTrust::default());
        let kind = if url.ends_with(".ova") || url.ends_with(".ovf") { ItemType::Ovf } else { ItemType::File };
        self.client.upload_new_item(&self.library, item, &kind, vec![file], UploadOptions::default()).await
    }

    /// The item's files, downloaded: name → bytes.
    async fn item(&self, id: &cl_sdk::ItemId) -> HashMap<String, Vec<u8>> {
        let dest = tempfile::tempdir().unwrap();
        let report = self.client.download_item(id, dest.path(), DownloadOptions::default()).await.unwrap();
        report.files.iter().map(|f| (f.name.clone(), std::fs::read(&f.path).unwrap())).collect()
    }

    fn ranges(&self) -> Vec<String> {
        self.files.seen.lock().unwrap().iter().filter_map(|(_, _, r, _)| r.clone()).collect()
    }
}

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(13).wrapping_add(seed).wrapping_add((i >> 13) as u8)).collect()
}

#[tokio::test]
async fn a_file_streams_from_a_url_into_an_item_and_breaks_resume_with_range() {
    let bed = bed().await;
    let iso = content(900_000, 1);
    bed.put("images/photon.iso", &iso);
    let report = bed.import("plain", &format!("{}/images/photon.iso", bed.base)).await.unwrap();
    assert_eq!(report.files[0].name, "photon.iso");
    assert_eq!(bed.item(&report.item_id).await["photon.iso"], iso);

    // A cut connection resumes where it stopped.
    bed.files.faults.lock().unwrap().cut_after = Some(300_000);
    let report = bed.import("cut", &format!("{}/images/photon.iso", bed.base)).await.unwrap();
    assert_eq!(bed.item(&report.item_id).await["photon.iso"], iso);
    assert!(bed.ranges().iter().any(|r| r.starts_with("bytes=") && !r.starts_with("bytes=0-")), "{:?}", bed.ranges());

    // A source that ignores Range is read from its start again, the bytes before skipped.
    {
        let mut faults = bed.files.faults.lock().unwrap();
        faults.cut_after = Some(300_000);
        faults.ignore_range = true;
    }
    let report = bed.import("no-range", &format!("{}/images/photon.iso", bed.base)).await.unwrap();
    assert_eq!(bed.item(&report.item_id).await["photon.iso"], iso);
    bed.files.faults.lock().unwrap().ignore_range = false;

    // A stall longer than the stall timeout resumes too.
    bed.files.faults.lock().unwrap().stall = Some((200_000, Duration::from_secs(3)));
    let report = bed.import("stalled", &format!("{}/images/photon.iso", bed.base)).await.unwrap();
    assert_eq!(bed.item(&report.item_id).await["photon.iso"], iso);

    // No request to the source carried vCenter's session token.
    assert!(bed.files.seen.lock().unwrap().iter().all(|(_, _, _, token)| !token));
}

#[tokio::test]
async fn a_source_that_changed_is_refused_not_spliced() {
    let bed = bed().await;
    bed.put("disk.img", &content(600_000, 2));
    // Requests: 1 the first look, 2 the GET (cut), 3 the resuming GET, which meets the new file:
    // it carries If-Range, gets the whole new file, and the import stops.
    {
        let mut faults = bed.files.faults.lock().unwrap();
        faults.cut_after = Some(200_000);
        faults.change_at = Some((3, "disk.img".into(), content(600_000, 3)));
    }
    let error = bed.import("changed", &format!("{}/disk.img", bed.base)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Verification, "{error}");
    assert!(error.to_string().contains("changed"), "{error}");
    assert!(bed.client.find_items(&bed.library, "changed").await.unwrap().is_empty(), "the created item was removed");
    assert!(bed.client.sessions::<cl_sdk::Update>(None).await.unwrap().is_empty());
}

#[tokio::test]
async fn missing_and_protected_sources_say_so_and_credentials_stay_hidden() {
    let bed = bed().await;
    let error = bed.import("missing", &format!("{}/nothing.iso", bed.base)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::NotFound, "{error}");
    assert!(error.to_string().contains("/nothing.iso"), "names the URL: {error}");

    bed.put("secret.iso", b"classified");
    let basic = format!("Basic {}", base64_of("alice:s3cret-pw"));
    bed.files.faults.lock().unwrap().auth = Some(basic);
    let error = bed.import("anon", &format!("{}/secret.iso", bed.base)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthenticated, "{error}");
    let with = bed.base.replacen("http://", "http://alice:s3cret-pw@", 1) + "/secret.iso";
    let report = bed.import("with-credentials", &with).await.unwrap();
    assert_eq!(bed.item(&report.item_id).await["secret.iso"], b"classified");
    let wrong = bed.base.replacen("http://", "http://alice:wrong-pw@", 1) + "/secret.iso";
    let error = bed.import("wrong", &wrong).await.unwrap_err();
    let shown = format!("{error} {error:?} {}", error.report());
    assert!(!shown.contains("wrong-pw"), "the password never shows: {shown}");
    assert!(!bed.files.seen.lock().unwrap().iter().any(|(_, _, _, token)| *token));
}

fn base64_of(text: &str) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = text.as_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, b)| n | (*b as u32) << (16 - 8 * i));
        for i in 0..4 {
            out.push(if i <= chunk.len() { ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char } else { '=' });
        }
    }
    out
}

/// An OVA: the descriptor, a SHA-256 manifest, then the disk.
fn ova(disk: &[u8]) -> Vec<u8> {
    let ovf = br#"<?xml version="1.0"?><Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:href="app-disk1.vmdk" ovf:id="f1"/></References></Envelope>"#;
    let sum = |b: &[u8]| hex::encode(sha2::Sha256::digest(b));
    let manifest = format!("SHA256(app.ovf)= {}\nSHA256(app-disk1.vmdk)= {}\n", sum(ovf), sum(disk));
    let mut builder = tar::Builder::new(Vec::new());
    for (name, bytes) in [("app.ovf", &ovf[..]), ("app.mf", manifest.as_bytes()), ("app-disk1.vmdk", disk)] {
        let mut header = tar::Header::new_ustar();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        builder.append_data(&mut header, name, bytes).unwrap();
    }
    builder.into_inner().unwrap()
}

#[tokio::test]
async fn an_ova_url_is_split_into_members_with_its_manifest_declared() {
    let bed = bed().await;
    let disk = content(700_000, 4);
    let archive = ova(&disk);
    bed.put("app.ova", &archive);
    bed.files.faults.lock().unwrap().cut_after = Some(1_000_000);
    let report = bed.import("app", &format!("{}/app.ova", bed.base)).await.unwrap();
    let names: Vec<&str> = report.files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["app.mf", "app.ovf", "app-disk1.vmdk"], "the manifest before the descriptor");
    assert!(report.files.iter().filter(|f| f.name != "app.mf").all(|f| f.checksum.is_some()), "manifest sums declared");
    let files = bed.item(&report.item_id).await;
    assert_eq!(files["app-disk1.vmdk"], disk);

    // A truncated archive is found before anything is sent.
    bed.put("cut.ova", &archive[..archive.len() - 300_000]);
    let error = bed.import("cut", &format!("{}/cut.ova", bed.base)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    assert!(error.to_string().contains("truncated"), "{error}");
    assert!(bed.client.find_items(&bed.library, "cut").await.unwrap().is_empty());

    // A member that is a link is refused by name, not skipped (the OVA would land without it).
    let mut linked = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_ustar();
    header.set_size(0);
    header.set_cksum();
    linked.append_data(&mut header, "app.ovf", &b""[..]).unwrap();
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::Symlink);
    header.set_size(0);
    header.set_cksum();
    linked.append_link(&mut header, "app-disk1.vmdk", "/etc/passwd").unwrap();
    bed.put("linked.ova", &linked.into_inner().unwrap());
    let error = bed.import("linked", &format!("{}/linked.ova", bed.base)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput, "{error}");
    assert!(error.to_string().contains("app-disk1.vmdk") && error.to_string().contains("a link"), "{error}");
    assert!(bed.client.find_items(&bed.library, "linked").await.unwrap().is_empty());

    // An OVF descriptor brings the files it references, from beside it.
    let ovf = br#"<?xml version="1.0"?><Envelope xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1"><References><File ovf:href="web-1.vmdk"/></References></Envelope>"#;
    bed.put("set/web.ovf", ovf);
    bed.put("set/web-1.vmdk", &disk);
    let report = bed.import("web", &format!("{}/set/web.ovf", bed.base)).await.unwrap();
    let files = bed.item(&report.item_id).await;
    assert_eq!(files["web-1.vmdk"], disk);
    assert_eq!(files["web.ovf"], ovf);
}

#[tokio::test]
async fn an_ova_whose_manifest_does_not_match_lands_nowhere() {
    let bed = bed().await;
    let disk = content(500_000, 5);
    let mut archive = ova(&disk);
    // Flip a byte of the disk member (the last one): its manifest digest no longer matches.
    let at = archive.len() - 1024 - 512 - 10_000;
    archive[at] ^= 0xff;
    bed.put("bad.ova", &archive);
    let error = bed.import("bad", &format!("{}/bad.ova", bed.base)).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Verification, "{error}");
    assert_eq!(error.detail(), Some(&cl_sdk::Detail::File("app-disk1.vmdk".into())), "{error}");
    assert!(bed.client.find_items(&bed.library, "bad").await.unwrap().is_empty(), "the created item was removed");
    assert!(bed.client.sessions::<cl_sdk::Update>(None).await.unwrap().is_empty());
}

/// An https source is verified with its own trust: a CA given for it, else refused.
#[tokio::test]
async fn an_https_source_is_trusted_only_as_told() {
    let bed = bed().await;
    let source = Simulator::start(SimConfig::default()).await.unwrap();
    let from = cl_testkit::client(&source).await;
    let library = from.create_local_library("src", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let bytes = content(400_000, 6);
    let file = UploadFile::reader("disk.img", bytes.len() as u64, std::io::Cursor::new(bytes.clone()));
    let item = from
        .upload_new_item(&library, "disk", &cl_sdk::ItemType::File, vec![file], UploadOptions::default())
        .await
        .unwrap();
    let session = from.create_session::<cl_sdk::Download>(&item.item_id).await.unwrap();
    session.prepare("disk.img").await.unwrap();
    let prepared = session.wait_prepared("disk.img", Duration::from_secs(10)).await.unwrap();
    let uri = prepared.download_endpoint.unwrap().uri;
    assert!(uri.starts_with("https://"), "{uri}");

    let untrusted = UploadFile::url(&uri, SourceTrust::default());
    let options = UploadOptions::default;
    let error = bed
        .client
        .upload_new_item(&bed.library, "untrusted", &cl_sdk::ItemType::File, vec![untrusted], options())
        .await;
    assert_eq!(error.unwrap_err().kind(), ErrorKind::Tls);
    let trusted = UploadFile::url(&uri, SourceTrust::default().add_ca_pem(source.ca_pem().unwrap()));
    let report = bed
        .client
        .upload_new_item(&bed.library, "trusted", &cl_sdk::ItemType::File, vec![trusted], options())
        .await
        .unwrap();
    assert_eq!(bed.item(&report.item_id).await["disk.img"], bytes);
    session.delete().await.unwrap();
}
