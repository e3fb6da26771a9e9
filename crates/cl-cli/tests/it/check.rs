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
    // A block per finding: level, file, place and code; the problem; the fix.
    assert!(out.starts_with("error  ") && out.contains("app.ovf") && out.contains("[ovf.size]"), "{out}");
    assert_eq!(out.matches("\n  fix: ").count(), 3, "{out}");
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
    let library = client.create_local_library("lib", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
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

/// A qemu-img disk damaged inside one grain's compressed data, its manifest made afterwards:
/// `clx check` exits 2 naming the file, the offset and the disk sector, and says who wrote the
/// disk; `--structure-only` cannot see it; `clx upload --deep-check` refuses it before connecting.
#[test]
fn check_inflates_every_grain_and_upload_can_too() {
    let Ok(qemu) = which("qemu-img") else {
        assert!(std::env::var_os("CI").is_none(), "CI needs qemu-img (.ci/run installs qemu-utils)");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let set = dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    let raw = dir.path().join("raw.img");
    std::fs::write(&raw, (0..4u32 << 20).map(|i| (i / 7 % 251) as u8 ^ (i >> 12) as u8).collect::<Vec<u8>>()).unwrap();
    let disk = set.join("disk1.vmdk");
    let status = Command::new(qemu)
        .args(["convert", "-O", "vmdk", "-o", "subformat=streamOptimized"])
        .arg(&raw)
        .arg(&disk)
        .status()
        .unwrap();
    assert!(status.success());
    // The tenth grain, in the middle of its deflated bytes.
    let mut bytes = std::fs::read(&disk).unwrap();
    let mut pos = u64::from_le_bytes(bytes[64..72].try_into().unwrap()) as usize * 512;
    for _ in 0..9 {
        let size = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
        pos = (pos + 12 + size).next_multiple_of(512);
    }
    let lba = u64::from_le_bytes(bytes[pos..pos + 8].try_into().unwrap());
    let size = u32::from_le_bytes(bytes[pos + 8..pos + 12].try_into().unwrap()) as usize;
    bytes[pos + 12 + size / 2] ^= 0x21;
    std::fs::write(&disk, &bytes).unwrap();
    let sum = |p: &Path| {
        let out = Command::new("sha256sum").arg(p).output().unwrap();
        String::from_utf8_lossy(&out.stdout).split_whitespace().next().unwrap().to_owned()
    };
    ovf_set(&set, 8192);
    std::fs::remove_file(set.join("disk.img")).unwrap();
    let ovf = std::fs::read_to_string(set.join("app.ovf")).unwrap().replace(
        r#"<File ovf:href="disk.img" ovf:id="f1" ovf:size="8192"/>"#,
        &format!(r#"<File ovf:href="disk1.vmdk" ovf:id="f1" ovf:size="{}"/>"#, bytes.len()),
    );
    std::fs::write(set.join("app.ovf"), ovf).unwrap();
    let manifest = format!("SHA256(app.ovf)= {}\nSHA256(disk1.vmdk)= {}\n", sum(&set.join("app.ovf")), sum(&disk));
    std::fs::write(set.join("app.mf"), manifest).unwrap();

    let output = clx().arg("check").arg(&set).output().unwrap();
    let (out, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}{err}");
    let block = out.split("\n\n").find(|b| b.contains("[vmdk.grain_data]")).unwrap_or_else(|| panic!("{out}"));
    assert!(block.contains("disk1.vmdk") && block.contains(&format!("offset {pos}")), "{block}");
    assert!(block.contains(&format!("disk sector {lba}")), "{block}");
    assert!(!out.contains("[ovf.digest]"), "the manifest was made after the damage: {out}");
    assert!(err.contains("disk1.vmdk: stream-optimized") && err.contains("written by qemu-img"), "{err}");

    let output = clx().args(["check", "--structure-only"]).arg(&set).output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{:?}", text(&output));

    // The upload's preflight: structural by default (the damage passes it, and the upload goes on
    // to fail at the server, here one that is not there), every grain with --deep-check, refused
    // before any connection.
    let upload = |extra: &[&str]| {
        clx()
            .args(["--url", "https://127.0.0.1:9", "upload", "--library", "lib", "--item", "app", "--create"])
            .args(extra)
            .arg(&set)
            .env("CLX_USERNAME", "u")
            .env("CLX_PASSWORD", "p")
            .output()
            .unwrap()
    };
    let (_, err) = text(&upload(&[]));
    assert!(!err.contains("vmdk.grain_data") && !err.contains("nothing was sent"), "{err}");
    let output = upload(&["--deep-check"]);
    let (out, err) = text(&output);
    assert_eq!(output.status.code(), Some(2), "{out}{err}");
    assert!(err.contains("vmdk.grain_data") && err.contains("nothing was sent"), "{err}");
}

fn which(program: &str) -> Result<std::path::PathBuf, ()> {
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|d| d.join(program))
        .find(|p| p.is_file())
        .ok_or(())
}
