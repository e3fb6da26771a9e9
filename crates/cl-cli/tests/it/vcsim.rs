//! `clx` against govmomi's vcsim: the same round trip a govc user would do, on a server nobody
//! here wrote.

use std::process::{Command, Stdio};

use cl_testkit::vcsim;

#[test]
fn clx_round_trip_against_vcsim() {
    let Some(binary) = vcsim::binary() else { return };
    let server = vcsim::start(&binary);
    let clx = |args: &[&str]| {
        let output = Command::new(env!("CARGO_BIN_EXE_clx"))
            .args(["--url", &server.url, "--ca-cert"])
            .arg(&server.ca_path)
            .args(args)
            .env("CLX_USERNAME", "user")
            .env("CLX_PASSWORD", "pass")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(output.status.success(), "clx {args:?}: {}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout).unwrap()
    };
    assert!(clx(&["login"]).contains("/rest"), "dialect detection picks /rest");
    clx(&["library", "create", "interop", "--datastore", &server.datastore]);
    let dir = tempfile::tempdir().unwrap();
    let content: Vec<u8> = (0..200_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(dir.path().join("disk.iso"), &content).unwrap();
    clx(&[
        "upload",
        "--library",
        "interop",
        "--item",
        "iso",
        "--create",
        dir.path().join("disk.iso").to_str().unwrap(),
    ]);
    assert!(clx(&["item", "ls", "interop"]).contains("iso"));
    let out = dir.path().join("out");
    clx(&["download", "interop/iso", "--to", out.to_str().unwrap()]);
    assert_eq!(std::fs::read(out.join("disk.iso")).unwrap(), content);
    let sessions: serde_json::Value = serde_json::from_str(&clx(&["--json", "session", "ls"])).unwrap();
    // vcsim keeps finished update sessions listed until they expire; none may be ACTIVE.
    assert!(sessions.as_array().unwrap().iter().all(|s| s["state"] != "ACTIVE"), "{sessions}");
}
