//! `clx` publishing on one simulator and subscribing on another over https: probe, create with a
//! thumbprint and a password, sync and wait with `--progress json`, item sync, evict.

use std::path::Path;
use std::process::{Command, Output, Stdio};

use cl_sim::{SimConfig, Simulator};
use serde_json::Value;

fn clx(sim: &Simulator, ca: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_clx"));
    for var in ["CLX_URL", "GOVC_URL", "GOVC_USERNAME", "GOVC_PASSWORD", "GOVC_INSECURE", "CLX_SUB_PASSWORD"] {
        command.env_remove(var);
    }
    command
        .args(["--url", sim.url(), "--ca-cert"])
        .arg(ca)
        .env("CLX_USERNAME", sim.username())
        .env("CLX_PASSWORD", sim.password())
        .stdin(Stdio::null());
    command
}

fn ok(output: Output) -> Output {
    assert!(output.status.success(), "clx failed: {}", String::from_utf8_lossy(&output.stderr));
    output
}

fn json(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        let (out, err) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        panic!("not JSON ({e}): {out}\nstderr: {err}")
    })
}

/// Every stderr line is a JSON progress object; returns them.
fn progress_lines(output: &Output) -> Vec<Value> {
    let text = String::from_utf8_lossy(&output.stderr);
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON progress line ({e}): {l}")))
        .collect();
    assert!(!lines.is_empty(), "no progress lines");
    lines
}

#[tokio::test(flavor = "multi_thread")]
async fn publish_here_subscribe_there_sync_and_wait() {
    let publisher = Simulator::start(SimConfig::default()).await.unwrap();
    let subscriber = Simulator::start(SimConfig::default()).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (pub_ca, sub_ca) = (dir.path().join("pub.pem"), dir.path().join("sub.pem"));
    std::fs::write(&pub_ca, publisher.ca_pem().unwrap()).unwrap();
    std::fs::write(&sub_ca, subscriber.ca_pem().unwrap()).unwrap();
    let client = cl_testkit::client(&publisher).await;
    let library = client.create_local_library("golden", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let alpha: Vec<u8> = (0..(2u32 << 20)).map(|i| (i % 251) as u8).collect();
    publisher.seed_item(library.as_str(), "alpha", &[("alpha.bin", &alpha)]).await.unwrap();
    publisher.seed_item(library.as_str(), "beta", &[("beta.iso", b"iso bytes")]).await.unwrap();

    let (pub_ca2, sub_ca2) = (pub_ca.clone(), sub_ca.clone());
    let (p, s) = (publisher.url().to_owned(), subscriber.url().to_owned());
    let _ = (&p, &s);
    let publisher = &publisher;
    let subscriber = &subscriber;
    tokio::task::block_in_place(|| {
        // Publish with a password: the URL comes back.
        let published = json(&ok(clx(publisher, &pub_ca2)
            .env("CLX_PUB_PASSWORD", "s3cret")
            .args(["--json", "library", "publish", "golden", "--password"])
            .output()
            .unwrap()));
        let url = published["url"].as_str().unwrap().to_owned();
        assert!(url.ends_with("/lib.json"), "{url}");
        let missing = clx(publisher, &pub_ca2).args(["library", "publish", "golden", "--password"]).output().unwrap();
        assert_eq!(missing.status.code(), Some(2), "no CLX_PUB_PASSWORD is a usage error");

        // Probe: untrusted, with the thumbprint to pin.
        let probe = clx(subscriber, &sub_ca2)
            .env("CLX_SUB_PASSWORD", "s3cret")
            .args(["--json", "library", "probe", &url, "--sub-username", "vcsp"])
            .output()
            .unwrap();
        assert_eq!(probe.status.code(), Some(3));
        let result = json(&probe);
        assert_eq!(result["status"], "CERTIFICATE_ERROR");
        let thumbprint = result["ssl_thumbprint"].as_str().unwrap().to_owned();
        assert_eq!(Some(thumbprint.clone()), publisher.thumbprint_sha1());
        let refused = clx(subscriber, &sub_ca2)
            .env("CLX_SUB_PASSWORD", "s3cret")
            .args(["library", "create", "mirror", "--subscribe", &url, "--sub-username", "vcsp"])
            .output()
            .unwrap();
        assert_eq!(refused.status.code(), Some(3));
        let said = String::from_utf8_lossy(&refused.stderr);
        assert!(said.contains(&format!("--sub-thumbprint {thumbprint}")), "{said}");

        // Subscribe, sync and wait with JSON progress; the content arrives intact.
        let feed = ["--subscribe", &url, "--sub-username", "vcsp", "--sub-thumbprint", &thumbprint];
        ok(clx(subscriber, &sub_ca2)
            .env("CLX_SUB_PASSWORD", "s3cret")
            .args(["library", "create", "mirror"])
            .args(feed)
            .output()
            .unwrap());
        let synced = ok(clx(subscriber, &sub_ca2)
            .args(["--json", "--progress", "json", "library", "sync", "mirror", "--wait"])
            .output()
            .unwrap());
        let done = json(&synced);
        assert_eq!((done["items"].as_u64(), done["items_cached"].as_u64()), (Some(2), Some(2)));
        let lines = progress_lines(&synced);
        let last = lines.last().unwrap();
        assert_eq!(last["what"], "sync");
        assert_eq!(last["items_done"], last["items_total"]);
        assert_eq!(last["bytes_done"].as_u64(), Some((2 << 20) + 9));

        let items = json(&ok(clx(subscriber, &sub_ca2).args(["--json", "item", "ls", "mirror"]).output().unwrap()));
        assert!(items.as_array().unwrap().iter().all(|i| i["cached"] == true), "{items}");
        let dest = tempfile::tempdir().unwrap();
        let download = ok(clx(subscriber, &sub_ca2)
            .args(["--progress", "json", "download", "mirror/alpha", "--to"])
            .arg(dest.path())
            .output()
            .unwrap());
        assert_eq!(std::fs::read(dest.path().join("alpha.bin")).unwrap(), alpha);
        let lines = progress_lines(&download);
        let last = lines.last().unwrap();
        assert_eq!(last["what"], "transfer");
        assert_eq!(last["bytes_done"], last["bytes_total"]);
        assert_eq!(last["files_done"], last["files_total"]);
        let quiet = ok(clx(subscriber, &sub_ca2)
            .args(["--progress", "none", "library", "sync", "mirror", "--wait"])
            .output()
            .unwrap());
        assert!(quiet.stderr.is_empty(), "{}", String::from_utf8_lossy(&quiet.stderr));

        // On demand: metadata first, one item's content when asked, then evicted.
        ok(clx(subscriber, &sub_ca2)
            .env("CLX_SUB_PASSWORD", "s3cret")
            .args(["library", "create", "lazy", "--on-demand"])
            .args(feed)
            .output()
            .unwrap());
        ok(clx(subscriber, &sub_ca2).args(["library", "sync", "lazy", "--wait"]).output().unwrap());
        let items = json(&ok(clx(subscriber, &sub_ca2).args(["--json", "item", "ls", "lazy"]).output().unwrap()));
        assert!(items.as_array().unwrap().iter().all(|i| i["cached"] == false), "{items}");
        let one = json(&ok(clx(subscriber, &sub_ca2)
            .args(["--json", "item", "sync", "lazy/beta", "--force", "--wait"])
            .output()
            .unwrap()));
        assert_eq!(one["items_cached"], 1);
        let info = json(&ok(clx(subscriber, &sub_ca2).args(["--json", "item", "info", "lazy/beta"]).output().unwrap()));
        assert_eq!(info["cached"], true);
        ok(clx(subscriber, &sub_ca2).args(["item", "evict", "lazy/beta"]).output().unwrap());
        let info = json(&ok(clx(subscriber, &sub_ca2).args(["--json", "item", "info", "lazy/beta"]).output().unwrap()));
        assert_eq!(info["cached"], false);
        ok(clx(subscriber, &sub_ca2).args(["library", "evict", "lazy"]).output().unwrap());
        let refused = clx(subscriber, &sub_ca2).args(["--json", "library", "evict", "mirror"]).output().unwrap();
        assert_eq!(refused.status.code(), Some(3));
        let error: Value = serde_json::from_slice(&refused.stderr).unwrap();
        assert_eq!(error["error"]["kind"], "NotAllowedInCurrentState");
    });
}

#[test]
fn publish_a_folder_twice_and_nothing_changes_the_second_time() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("tools")).unwrap();
    std::fs::write(dir.path().join("tools/a.txt"), b"a").unwrap();
    std::fs::write(dir.path().join("disc.iso"), b"iso").unwrap();
    let publish = || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_clx"));
        command.env_remove("CLX_URL").args(["--json", "publish", "--name", "lab"]).arg(dir.path()).stdin(Stdio::null());
        json(&ok(command.output().unwrap()))
    };
    let first = publish();
    assert_eq!((first["changed"].as_bool(), first["version"].as_str()), (Some(true), Some("1")));
    assert_eq!(first["items"].as_array().unwrap().len(), 2);
    let second = publish();
    assert_eq!(second["changed"], false);
    assert!(second["items"].as_array().unwrap().iter().all(|i| i["state"] == "unchanged"), "{second}");
    let check = |json: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_clx"));
        command.env_remove("CLX_URL");
        if json {
            command.arg("--json");
        }
        command.args(["publish", "--check"]).arg(dir.path()).stdin(Stdio::null()).output().unwrap()
    };
    let clean = check(false);
    assert!(clean.status.success(), "{}", String::from_utf8_lossy(&clean.stderr));
    assert!(String::from_utf8_lossy(&clean.stderr).contains("no problems found"));
    std::fs::write(dir.path().join("tools/a.txt"), b"a longer file than the feed says").unwrap();
    let broken = check(true);
    assert_eq!(broken.status.code(), Some(2));
    let findings = json(&broken);
    assert!(findings.as_array().unwrap().iter().any(|f| f["code"] == "feed.size"), "{findings}");
    std::fs::write(dir.path().join("tools/a.txt"), b"a").unwrap();
    std::fs::create_dir(dir.path().join("TOOLS")).unwrap();
    std::fs::write(dir.path().join("TOOLS/b.txt"), b"b").unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_clx"));
    let refused = command.env_remove("CLX_URL").args(["publish"]).arg(dir.path()).output().unwrap();
    assert_eq!(refused.status.code(), Some(2), "{}", String::from_utf8_lossy(&refused.stderr));
}
