//! `clx download --ova`: an OVF template item as one OVA file and on stdout, which `clx upload`
//! takes back as the same files; anything else is refused with exit 2.

use crate::common;

use std::time::Duration;

use cl_sim::{SimConfig, Simulator};
use common::clx;

const OVF: &str = r#"<?xml version="1.0"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References><File ovf:href="b.vmdk" ovf:id="f2"/><File ovf:href="a.vmdk" ovf:id="f1"/></References>
</Envelope>
"#;

fn names(ova: &[u8]) -> Vec<String> {
    let mut archive = tar::Archive::new(ova);
    archive.entries().unwrap().map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_downloads_as_one_ova_to_a_file_and_to_stdout_and_uploads_back() {
    let mut config = SimConfig::default().plain_http();
    config.service.prepare_delay = Duration::from_millis(10);
    let sim = Simulator::start(config).await.unwrap();
    let src = tempfile::tempdir().unwrap();
    std::fs::write(src.path().join("app.ovf"), OVF).unwrap();
    let a: Vec<u8> = (0..200_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(src.path().join("a.vmdk"), &a).unwrap();
    std::fs::write(src.path().join("b.vmdk"), b"bbbb").unwrap();
    let out = clx(&sim).args(["library", "create", "lib"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // The disks are stand-in bytes, not VMDKs: the preflight would refuse them.
    let upload = |path: &std::path::Path, item: &str| {
        let mut command = clx(&sim);
        command.arg("upload").arg(path).args(["--library", "lib", "--item", item, "--create", "--no-preflight"]);
        command.output()
    };
    let out = upload(src.path(), "app");
    assert!(out.unwrap().status.success());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.ova");
    let out = clx(&sim).args(["download", "lib/app", "--ova"]).arg(&path).args(["--json"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["members"][1]["name"], "app.mf");
    let ova = std::fs::read(&path).unwrap();
    assert_eq!(names(&ova), ["app.ovf", "app.mf", "b.vmdk", "a.vmdk"]);
    assert_eq!(report["bytes"], ova.len());

    let out = clx(&sim).args(["download", "lib/app", "--ova", "-"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(names(&out.stdout), names(&ova), "the same archive on stdout");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("exported 4 files"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // An existing file is refused (exit 2) without --overwrite.
    let out = clx(&sim).args(["download", "lib/app", "--ova"]).arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--overwrite"));

    // Back in: the same files.
    let out = upload(&path, "again");
    assert!(out.unwrap().status.success());
    let back = tempfile::tempdir().unwrap();
    let out = clx(&sim).args(["download", "lib/again", "--to"]).arg(back.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(back.path().join("a.vmdk")).unwrap(), a);
    assert_eq!(std::fs::read(back.path().join("app.ovf")).unwrap(), OVF.as_bytes());

    // Not an OVF template: exit 2, nothing written.
    std::fs::write(src.path().join("x.iso"), b"iso").unwrap();
    let mut upload = clx(&sim);
    upload.arg("upload").arg(src.path().join("x.iso")).args(["--library", "lib", "--item", "iso", "--create"]);
    assert!(upload.output().unwrap().status.success());
    let out = clx(&sim).args(["download", "lib/iso", "--ova"]).arg(dir.path().join("x.ova")).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an OVF template"));
    assert!(!dir.path().join("x.ova").exists());
}

/// `clx upload URL`: clx fetches the file itself and streams it into the item (no local copy);
/// a missing source is a clear error naming it, without the URL's password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_url_uploads_through_clx() {
    use axum::http::{StatusCode, header};
    let iso: Vec<u8> = (0..300_000u32).map(|i| (i % 199) as u8).collect();
    let served = iso.clone();
    let app = axum::Router::new().route(
        "/images/{name}",
        axum::routing::get(move |axum::extract::Path(name): axum::extract::Path<String>| {
            let served = served.clone();
            async move {
                if name != "tiny.iso" {
                    return (StatusCode::NOT_FOUND, "no").into_response();
                }
                ([(header::ETAG, "\"v1\"")], served).into_response()
            }
        }),
    );
    use axum::response::IntoResponse;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let sim = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
    assert!(clx(&sim).args(["library", "create", "lib"]).output().unwrap().status.success());

    let out = clx(&sim)
        .args(["upload", &format!("{base}/images/tiny.iso"), "--library", "lib", "--item", "tiny", "--create"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let back = tempfile::tempdir().unwrap();
    let out = clx(&sim).args(["download", "lib/tiny", "--to"]).arg(back.path()).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(back.path().join("tiny.iso")).unwrap(), iso);

    let missing = base.replacen("http://", "http://bob:hunter2@", 1) + "/images/gone.iso";
    let out = clx(&sim).args(["upload", &missing, "--library", "lib", "--item", "gone", "--create"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("/images/gone.iso") && !stderr.contains("hunter2"), "{stderr}");
}
