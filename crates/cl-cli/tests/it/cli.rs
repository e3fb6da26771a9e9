//! `clx` end to end: the built binary against the embedded simulator and against a simulator
//! started here (so state persists across invocations), checking output, `--json` shapes and
//! exit codes.

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use cl_sim::{SimConfig, Simulator};
use serde_json::Value;

fn clx() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clx"));
    for var in
        ["CLX_URL", "CLX_USERNAME", "CLX_PASSWORD", "GOVC_URL", "GOVC_USERNAME", "GOVC_PASSWORD", "GOVC_INSECURE"]
    {
        command.env_remove(var);
    }
    command
}

fn run(command: &mut Command) -> Output {
    command.stdin(Stdio::null()).output().expect("clx runs")
}

fn json(output: &Output) -> Value {
    assert!(output.status.success(), "clx failed: {}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&output.stdout)))
}

/// `clx` pointed at `sim` over HTTPS, trusting it by its CA file.
fn against(sim: &Simulator, ca: &Path) -> Command {
    let mut command = clx();
    command
        .args(["--url", sim.url(), "--ca-cert"])
        .arg(ca)
        .env("CLX_USERNAME", sim.username())
        .env("CLX_PASSWORD", sim.password());
    command
}

#[test]
fn demo_and_login_on_the_embedded_simulator() {
    let output = run(clx().args(["demo", "--disk-mib", "1", "--json"]));
    let value = json(&output);
    assert_eq!(value["verified"], true);
    assert_eq!(value["uploaded"]["files"], 4);
    assert_eq!(value["downloaded"]["files"], 3, "the manifest is consumed by the service");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr.matches("built-in simulator").count(), 1, "says so in one line: {stderr}");

    // Only the demo uses the built-in simulator on its own: other commands need a server.
    let login = run(clx().arg("login"));
    assert_eq!(login.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&login.stderr);
    for named in ["--url", "CLX_URL", "GOVC_URL", "clx sim"] {
        assert!(stderr.contains(named), "names {named}: {stderr}");
    }
    let json_error = run(clx().args(["--json", "library", "ls"]));
    let error: Value = serde_json::from_slice(&json_error.stderr).unwrap();
    assert_eq!(error["error"]["kind"], "usage");
    assert_eq!(error["error"]["exit_code"], 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn libraries_items_upload_download_and_sessions() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.ca_pem().unwrap()).unwrap();

    let created = json(&run(against(&sim, &ca).args([
        "--json",
        "library",
        "create",
        "images",
        "--datastore",
        cl_sim::DATASTORE_ID,
    ])));
    assert_eq!(created["name"], "images");
    let libraries = json(&run(against(&sim, &ca).args(["--json", "library", "ls"])));
    assert_eq!(libraries[0]["name"], "images");
    assert_eq!(libraries[0]["type"], "LOCAL");

    let src = dir.path().join("src");
    std::fs::create_dir(&src).unwrap();
    std::fs::write(src.join("a.iso"), vec![1u8; 300_000]).unwrap();
    std::fs::write(src.join("readme.txt"), b"hello").unwrap();
    // Without --create a missing item is an error that says what to do.
    let missing = run(against(&sim, &ca).args(["upload", "--library", "images", "--item", "photon"]).arg(&src));
    assert_eq!(missing.status.code(), Some(2), "a user's mistake");
    assert!(String::from_utf8_lossy(&missing.stderr).contains("--create"));
    let uploaded = json(&run(against(&sim, &ca)
        .args(["--json", "upload", "--library", "images", "--item", "photon", "--create", "--checksum", "sha512"])
        .arg(&src)));
    assert_eq!(uploaded["files"].as_array().unwrap().len(), 2);
    assert_eq!(uploaded["bytes"], 300_005);
    assert_eq!(uploaded["files"][0]["checksum"]["algorithm"], "SHA512");

    let items = json(&run(against(&sim, &ca).args(["--json", "item", "ls", "images"])));
    assert_eq!(items[0]["name"], "photon");
    assert_eq!(items[0]["size"], 300_005);
    let info = json(&run(against(&sim, &ca).args(["--json", "item", "info", "images/photon"])));
    assert_eq!(info["files"].as_array().unwrap().len(), 2);
    assert_eq!(info["content_version"], "2");
    for not_an_id in ["..", "."] {
        let refused = against(&sim, &ca).args(["item", "info", not_an_id]).output().unwrap();
        let stderr = String::from_utf8_lossy(&refused.stderr);
        assert_eq!(refused.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains("is not an id") && stderr.contains("LIBRARY/ITEM"), "{stderr}");
    }

    let dest = dir.path().join("out");
    let downloaded = json(&run(against(&sim, &ca).args(["--json", "download", "images/photon", "--to"]).arg(&dest)));
    assert_eq!(downloaded["bytes"], 300_005);
    assert_eq!(std::fs::read(dest.join("a.iso")).unwrap(), vec![1u8; 300_000]);
    assert_eq!(downloaded["files"][0]["checksum"]["algorithm"], "SHA1");
    // A second download into the same folder is refused, with a clean exit code.
    let again = run(against(&sim, &ca).args(["download", "images/photon", "--to"]).arg(&dest));
    assert_eq!(again.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&again.stderr).contains("pass --overwrite"), "CLI words");
    assert!(
        run(against(&sim, &ca).args(["download", "images/photon", "--overwrite", "--to"]).arg(&dest)).status.success()
    );

    // Sessions: none left by the transfers; one made by hand is listed, canceled and removed.
    assert_eq!(json(&run(against(&sim, &ca).args(["--json", "session", "ls"]))), serde_json::json!([]));
    let client = cl_testkit::client(&sim).await;
    let item = client.find_item(&client.find_library("images").await.unwrap(), "photon").await.unwrap();
    let session = client.create_session::<cl_sdk::Update>(&item).await.unwrap();
    let listed = json(&run(against(&sim, &ca).args(["--json", "session", "ls"])));
    assert_eq!(listed[0]["kind"], "update");
    assert_eq!(listed[0]["state"], "ACTIVE");
    let canceled = json(&run(against(&sim, &ca).args(["--json", "session", "cancel", session.id().as_str()])));
    assert_eq!(canceled["done"], "canceled");
    json(&run(against(&sim, &ca).args(["--json", "session", "rm", session.id().as_str()])));
    assert_eq!(json(&run(against(&sim, &ca).args(["--json", "session", "ls"]))), serde_json::json!([]));
    let none = run(against(&sim, &ca).args(["session", "rm", "no-such-session"]));
    assert_eq!(none.status.code(), Some(2), "a session id that does not exist is the user's mistake");
}

#[tokio::test(flavor = "multi_thread")]
async fn trust_and_credentials_errors_read_like_sentences() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.ca_pem().unwrap()).unwrap();

    let bad = run(against(&sim, &ca).env("CLX_PASSWORD", "wrong-password").arg("login"));
    assert_eq!(bad.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("Check the user name and password"), "{stderr}");
    assert!(!stderr.contains("wrong-password"), "the password is never echoed");

    // An untrusted certificate: refused, with what to do next.
    let untrusted = run(clx().args(["--url", sim.url(), "login"]).env("CLX_USERNAME", "u").env("CLX_PASSWORD", "p"));
    assert_eq!(untrusted.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&untrusted.stderr).contains("--thumbprint"));

    // govc's variables work too, with the thumbprint.
    let govc = run(clx()
        .args(["login", "--thumbprint", &sim.thumbprint_sha1().unwrap()])
        .env("GOVC_URL", sim.url())
        .env("GOVC_USERNAME", sim.username())
        .env("GOVC_PASSWORD", sim.password()));
    assert!(govc.status.success(), "{}", String::from_utf8_lossy(&govc.stderr));
    // And credentials inside the URL.
    let url =
        sim.url().replace("https://", &format!("https://{}:{}@", "administrator%40vsphere.local", sim.password()));
    let inline = run(clx().args(["login", "--insecure", "--url", &url, "--dialect", "rest"]));
    assert!(inline.status.success(), "{}", String::from_utf8_lossy(&inline.stderr));
    assert!(String::from_utf8_lossy(&inline.stdout).contains("/rest"));

    // Usage errors are clap's exit code 2.
    assert_eq!(run(clx().args(["upload"])).status.code(), Some(2));
    assert_eq!(run(clx().args(["download", "no-slash", "--to", "/tmp/x"])).status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn interrupt_cancels_and_cleans_up() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, sim.ca_pem().unwrap()).unwrap();
    json(&run(against(&sim, &ca).args(["--json", "library", "create", "lib", "--datastore", cl_sim::DATASTORE_ID])));
    let file = dir.path().join("big.bin");
    std::fs::write(&file, vec![3u8; 2_000_000]).unwrap();

    // The upload stalls in the simulator; SIGINT arrives meanwhile.
    sim.faults().stall_next_transfer(100_000, Duration::from_secs(60));
    let child = against(&sim, &ca)
        .args(["upload", "--library", "lib", "--item", "new-item", "--create"])
        .arg(&file)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = cl_testkit::client(&sim).await;
    let library = client.find_library("lib").await.unwrap();
    // Wait until the upload is under way (its session exists).
    let mut started = false;
    for _ in 0..200 {
        if !client.sessions::<cl_sdk::Update>(None).await.unwrap().is_empty() {
            started = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(started, "the upload started");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = tokio::task::spawn_blocking(move || child.wait_with_output()).await.unwrap().unwrap();
    assert_eq!(output.status.code(), Some(130), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(String::from_utf8_lossy(&output.stderr).contains("canceling"));
    assert!(client.sessions::<cl_sdk::Update>(None).await.unwrap().is_empty(), "the session was canceled and deleted");
    assert_eq!(
        client.find_item(&library, "new-item").await.unwrap_err().kind(),
        cl_sdk::ErrorKind::NotFound,
        "no half-made item"
    );
}

#[test]
fn sim_serves_until_interrupted() {
    use std::io::{BufRead, BufReader};
    let mut child =
        clx().args(["sim", "--listen", "127.0.0.1:0"]).stdout(Stdio::piped()).stderr(Stdio::null()).spawn().unwrap();
    // The same lines as the `cl-sim` binary prints, the URL last.
    let mut lines: Vec<String> = Vec::new();
    for line in BufReader::new(child.stdout.take().unwrap()).lines().take(10) {
        let line = line.unwrap();
        let last = line.starts_with("CL_SIM_URL=");
        lines.push(line);
        if last {
            break;
        }
    }
    let line = |key: &str| lines.iter().find_map(|l| l.strip_prefix(key)).unwrap_or_default().to_owned();
    let (url, thumbprint) = (line("CL_SIM_URL="), line("CL_SIM_THUMBPRINT_SHA1="));
    assert!(url.starts_with("https://127.0.0.1:"), "{lines:?}");
    assert!(thumbprint.len() > 40, "{lines:?}");
    assert_eq!(line("CL_SIM_DATASTORE="), cl_sim::DATASTORE_ID);
    let (url, thumbprint) = (url.as_str(), thumbprint.as_str());
    let login = run(clx()
        .args(["login", "--url", url, "--thumbprint", thumbprint])
        .env("CLX_USERNAME", "administrator@vsphere.local")
        .env("CLX_PASSWORD", "cl-sim-password"));
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));
    Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(child.wait().unwrap().success());
}

/// Log lines carry no colour codes when stderr is not a terminal (here a pipe), and a bare
/// number is a duration in seconds.
#[test]
fn logs_to_a_pipe_are_plain_and_bare_durations_are_seconds() {
    let output = run(clx()
        .args(["--url", "http://127.0.0.1:9", "--retries", "1", "--stall-timeout", "5", "login"])
        .env("CLX_USERNAME", "u")
        .env("CLX_PASSWORD", "p")
        .env("CLX_LOG", "debug"));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("DEBUG") || stderr.contains("WARN"), "log lines were written: {stderr}");
    assert!(!stderr.contains('\u{1b}'), "no escape codes on a pipe: {stderr}");
    assert_ne!(output.status.code(), Some(2), "`--stall-timeout 5` is accepted: {stderr}");
}

/// `--help` groups the global options under headings apart from the command's own.
#[test]
fn help_groups_connection_transfer_and_output_options() {
    let output = run(clx().args(["download", "--help"]));
    let help = String::from_utf8_lossy(&output.stdout);
    let at = |heading: &str| help.find(heading).unwrap_or_else(|| panic!("no {heading} in {help}"));
    let (options, connection, output_, transfer) = (at("Options:"), at("Connection:"), at("Output:"), at("Transfer:"));
    let section = |from: usize| {
        &help[from..[options, connection, output_, transfer, help.len()]
            .into_iter()
            .filter(|&x| x > from)
            .min()
            .unwrap()]
    };
    assert!(section(options).contains("--ova") && !section(options).contains("--url"), "{help}");
    assert!(section(connection).contains("--url") && section(connection).contains("--thumbprint"), "{help}");
    assert!(section(output_).contains("--json"), "{help}");
    assert!(section(transfer).contains("--stall-timeout") && section(transfer).contains("--concurrency"), "{help}");
}

/// Listings at scale: 10 000 items are listed with a few detail calls at once, rows printed as
/// they come (a JSON array element by element); a listing of a million ids is refused at once,
/// saying how to narrow it; `--limit` narrows.
#[tokio::test(flavor = "multi_thread")]
async fn large_listings_stream_are_limited_and_a_million_is_refused() {
    let sim = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
    let client = cl_sdk::Client::builder(sim.url()).credentials(sim.username(), sim.password()).connect().await;
    let library =
        client.unwrap().create_local_library("big", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    sim.add_items(library.as_str(), "item-", 10_000).unwrap();
    let clx_at = || {
        let mut command = clx();
        command.args(["--url", sim.url()]).env("CLX_USERNAME", sim.username()).env("CLX_PASSWORD", sim.password());
        command
    };
    let started = std::time::Instant::now();
    let listed = json(&run(clx_at().args(["--json", "item", "ls", "big"])));
    eprintln!("10 000 items listed in {:.2} s", started.elapsed().as_secs_f64());
    assert_eq!(listed.as_array().unwrap().len(), 10_000);
    assert!(started.elapsed() < Duration::from_secs(60), "bounded: {:?}", started.elapsed());
    let table = run(clx_at().args(["item", "ls", "big", "--limit", "5"]));
    let text = String::from_utf8_lossy(&table.stdout);
    assert_eq!(text.lines().count(), 6, "a header and five rows: {text}");
    assert!(text.starts_with("NAME"), "{text}");

    sim.faults().phantom_items(1_000_000);
    let started = std::time::Instant::now();
    let refused = run(clx_at().args(["item", "ls", "big"]));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert_eq!(refused.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("1010000") && stderr.contains("--limit"), "{stderr}");
    assert!(started.elapsed() < Duration::from_secs(60), "{:?}", started.elapsed());
    let first = json(&run(clx_at().args(["--json", "item", "ls", "big", "--limit", "3"])));
    assert_eq!(first.as_array().unwrap().len(), 3);
}

/// `clx library info` says where a library stores, how many items it holds and their size;
/// `clx item info` shows an item's description; `--json` carries both.
#[tokio::test(flavor = "multi_thread")]
async fn library_info_and_item_descriptions() {
    let sim = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
    let client =
        cl_sdk::Client::builder(sim.url()).credentials(sim.username(), sim.password()).connect().await.unwrap();
    let library = client.create_local_library("info", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let spec = cl_sdk::types::ItemModel {
        library_id: Some(library.to_string()),
        name: Some("described".into()),
        type_: Some("file".into()),
        description: Some("the golden image\u{1b}[2J".into()),
        ..Default::default()
    };
    let item = cl_sdk::ItemId::new(client.raw().item_create(None, &spec).await.unwrap().into_inner());
    let file = cl_sdk::transfer::UploadFile::reader("a.bin", 3000, std::io::Cursor::new(vec![1u8; 3000]));
    client.upload_item(&item, vec![file], cl_sdk::transfer::UploadOptions::default()).await.unwrap();
    let other = client.create_item(&library, "plain", &cl_sdk::ItemType::File).await.unwrap();
    let file = cl_sdk::transfer::UploadFile::reader("b.bin", 1000, std::io::Cursor::new(vec![2u8; 1000]));
    client.upload_item(&other, vec![file], cl_sdk::transfer::UploadOptions::default()).await.unwrap();
    let clx_at = || {
        let mut command = clx();
        command.args(["--url", sim.url()]).env("CLX_USERNAME", sim.username()).env("CLX_PASSWORD", sim.password());
        command
    };

    let info = json(&run(clx_at().args(["--json", "library", "info", "info"])));
    assert_eq!(info["id"], library.as_str());
    assert_eq!(info["items"], 2);
    assert_eq!(info["size"], 4000);
    assert_eq!(info["datastore_id"], cl_sim::DATASTORE_ID);
    assert_eq!(info["datastore"], cl_sim::DATASTORE_NAME);
    assert!(info["created"].is_string() && info["version"].is_string(), "{info}");
    let text = run(clx_at().args(["library", "info", "info"]));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("2 items, 3.9 KiB") && text.contains(cl_sim::DATASTORE_NAME), "{text}");

    let described = json(&run(clx_at().args(["--json", "item", "info", "info/described"])));
    assert_eq!(described["description"], "the golden image\u{1b}[2J", "exact under --json");
    let text = run(clx_at().args(["item", "info", "info/described"]));
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("the golden image\\u{1b}[2J"), "escaped on the terminal: {text}");
    let plain = json(&run(clx_at().args(["--json", "item", "info", "info/plain"])));
    assert!(plain.get("description").is_none(), "{plain}");
}

/// `clx item update` and `clx library update` change names and descriptions (and nothing else),
/// need at least one of the two, and say what was updated.
#[tokio::test(flavor = "multi_thread")]
async fn items_and_libraries_are_renamed_and_described() {
    let sim = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
    let client =
        cl_sdk::Client::builder(sim.url()).credentials(sim.username(), sim.password()).connect().await.unwrap();
    let library = client.create_local_library("images", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let item = client.create_item(&library, "photon", &cl_sdk::ItemType::File).await.unwrap();
    let file = cl_sdk::transfer::UploadFile::reader("a.bin", 3000, std::io::Cursor::new(vec![1u8; 3000]));
    client.upload_item(&item, vec![file], cl_sdk::transfer::UploadOptions::default()).await.unwrap();
    client.create_item(&library, "ubuntu", &cl_sdk::ItemType::File).await.unwrap();
    let clx_at = || {
        let mut command = clx();
        command.args(["--url", sim.url()]).env("CLX_USERNAME", sim.username()).env("CLX_PASSWORD", sim.password());
        command
    };

    let done = json(&run(clx_at().args(["--json", "item", "update", "images/photon", "--name", "photon-5"])));
    assert_eq!(
        (&done["id"], &done["name"], &done["done"]),
        (&item.to_string().into(), &"photon-5".into(), &"updated".into())
    );
    let out = run(clx_at().args(["item", "update", "images/photon-5", "--description", "golden"]));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("updated item photon-5"), "{out:?}");
    let info = json(&run(clx_at().args(["--json", "item", "info", "images/photon-5"])));
    assert_eq!((&info["description"], &info["size"]), (&"golden".into(), &3000.into()), "the content stays");

    // A name another item has is the server's refusal (exit 3); no change at all, or a blank
    // name, a usage error (exit 2).
    let taken = run(clx_at().args(["item", "update", "images/photon-5", "--name", "ubuntu"]));
    assert_eq!(taken.status.code(), Some(3));
    assert!(String::from_utf8_lossy(&taken.stderr).contains("exists"), "{taken:?}");
    let nothing = run(clx_at().args(["item", "update", "images/photon-5"]));
    assert_eq!(nothing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("--name"), "{nothing:?}");
    let blank = run(clx_at().args(["library", "update", "images", "--name", ""]));
    assert_eq!(blank.status.code(), Some(2), "{blank:?}");

    let done = json(&run(clx_at().args([
        "--json",
        "library",
        "update",
        "images",
        "--name",
        "golden",
        "--description",
        "signed",
    ])));
    assert_eq!((&done["name"], &done["kind"]), (&"golden".into(), &"library".into()));
    let info = json(&run(clx_at().args(["--json", "library", "info", "golden"])));
    assert_eq!((&info["description"], &info["items"]), (&"signed".into(), &2.into()));
}
