//! `clx check`, and the preflight `clx upload` runs: findings as a table or a JSON list, exit 2 on
//! errors, and an upload of broken files refused before any server is contacted.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use cl_sim::{SimConfig, Simulator};
use serde_json::Value;

fn clx() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clx"));
    for var in ["CLX_URL", "CLX_USERNAME", "CLX_PASSWORD", "GOVC_URL", "GOVC_USERNAME", "GOVC_PASSWORD"] {
        command.env_remove(var);
    }
    command.stdin(Stdio::null());
    command
}

fn text(output: &Output) -> (String, String) {
    (String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// An OVF folder: a descriptor referencing `disk.img` of `declared` bytes (8 KiB are there).
fn ovf_set(dir: &Path, declared: u64) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("disk.img"), vec![7u8; 8192]).unwrap();
    let ovf = format!(
        r#"<?xml version="1.0"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References><File ovf:href="disk.img" ovf:id="f1" ovf:size="{declared}"/></References>
</Envelope>
"#
    );
    std::fs::write(dir.join("app.ovf"), ovf).unwrap();
}

#[test]
fn check_prints_findings_and_exits_by_them() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good");
    ovf_set(&good, 8192);
    let output = clx().arg("check").arg(&good).output().unwrap();
    let (out, err) = text(&output);
    assert_eq!(output.status.code(), Some(0), "{out}{err}");
    assert!(err.contains("2 files checked: no problems found"), "{err}");

    let bad = dir.path().join("bad");
    ovf_set(&bad, 9000);
    std::fs::write(bad.join("disk2.vmdk"), b"not a disk at all, only text").unwrap();
    let output = clx().arg("check").arg(&bad).output().unwrap();
    let (out, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}{err}");
    assert!(out.starts_with("LEVEL") && out.contains("app.ovf") && out.contains("[ovf.size]"), "{out}");
    assert!(out.contains("disk2.vmdk") && out.contains("[vmdk.magic]"), "{out}");
    assert!(err.contains("2 errors, 1 warning in 3 files"), "{err}");

    let output = clx().args(["--json", "check"]).arg(&bad).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    let list: Value = serde_json::from_slice(&output.stdout).unwrap();
    let codes: Vec<&str> = list.as_array().unwrap().iter().map(|f| f["code"].as_str().unwrap()).collect();
    assert_eq!(codes, ["vmdk.magic", "ovf.size", "ovf.unreferenced"], "errors first: {list}");
    assert_eq!((&list[1]["at"]["line"], &list[1]["severity"]), (&3.into(), &"error".into()));

    // An OVA cut short names the archive, then the member.
    let ova = dir.path().join("app.ova");
    let mut builder = tar::Builder::new(std::fs::File::create(&ova).unwrap());
    builder.append_path_with_name(good.join("app.ovf"), "app.ovf").unwrap();
    builder.append_path_with_name(good.join("disk.img"), "disk.img").unwrap();
    builder.finish().unwrap();
    drop(builder);
    let bytes = std::fs::read(&ova).unwrap();
    std::fs::write(&ova, &bytes[..bytes.len() - 4096]).unwrap();
    let output = clx().args(["--json", "check"]).arg(&ova).output().unwrap();
    let list: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(
        (list[0]["file"].as_str(), list[0]["code"].as_str()),
        (Some("app.ova"), Some("ova.truncated")),
        "{list}"
    );
    let missing = clx().args(["check", "no-such-file.ova"]).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
}

#[tokio::test(flavor = "multi_thread")]
async fn upload_refuses_broken_files_before_the_server_is_touched() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("bad");
    ovf_set(&bad, 9000);
    // Nothing listens here: a preflight failure must come before any connection attempt.
    let output = clx()
        .args(["--url", "https://127.0.0.1:9", "upload", "--library", "lib", "--item", "app", "--create"])
        .arg(&bad)
        .env("CLX_USERNAME", "u")
        .env("CLX_PASSWORD", "p")
        .output()
        .unwrap();
    let (_, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{err}");
    assert!(err.contains("[ovf.size]") && err.contains("nothing was sent") && err.contains("--no-preflight"), "{err}");

    // Against a server: nothing is created; --no-preflight uploads anyway; warnings do not stop.
    let sim = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
    let client =
        cl_sdk::Client::builder(sim.url()).credentials(sim.username(), sim.password()).connect().await.unwrap();
    let library = client.create_local_library("lib", cl_sim::DATASTORE_ID).await.unwrap();
    let upload = |extra: &[&str], path: &Path| {
        clx()
            .args(["--url", sim.url(), "upload", "--library", "lib", "--item", "app", "--create"])
            .args(extra)
            .arg(path)
            .env("CLX_USERNAME", sim.username())
            .env("CLX_PASSWORD", sim.password())
            .output()
            .unwrap()
    };
    assert_eq!(upload(&[], &bad).status.code(), Some(2));
    assert!(client.find_items(&library, "app").await.unwrap().is_empty());
    let forced = upload(&["--no-preflight"], &bad);
    assert!(forced.status.success(), "{:?}", text(&forced));
    client.delete_item(&client.find_item(&library, "app").await.unwrap()).await.unwrap();
    std::fs::write(bad.join("notes.txt"), b"extra").unwrap();
    ovf_set(&bad, 8192);
    let warned = upload(&[], &bad);
    let (_, err) = text(&warned);
    assert!(warned.status.success(), "{err}");
    assert!(err.contains("warning: notes.txt") && err.contains("[ovf.unreferenced]"), "{err}");
}
