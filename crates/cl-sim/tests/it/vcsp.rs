//! A published library's feed as a subscriber (or a feed checker) reads it: the documents and
//! their fields, item.json equal to its items.json entry, files at their declared sizes behind
//! encoded hrefs, Basic auth, and versions that move only when something changed.

use cl_sim::{SimConfig, Simulator};
use serde_json::Value;

async fn get(http: &reqwest::Client, url: &str, password: Option<&str>) -> reqwest::Response {
    let mut request = http.get(url);
    if let Some(password) = password {
        request = request.basic_auth("vcsp", Some(password));
    }
    request.send().await.unwrap()
}

async fn json(http: &reqwest::Client, url: &str, password: Option<&str>) -> Value {
    let response = get(http, url, password).await;
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.unwrap()
}

#[tokio::test]
async fn a_published_library_is_a_valid_feed() {
    let sim = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
    let client = cl_testkit::client(&sim).await;
    let library_id = client.create_local_library("feed", &cl_sim::DATASTORE_ID.parse().unwrap()).await.unwrap();
    let library = library_id.as_str();
    let item = sim.seed_item(library, "with space", &[("a b.bin", b"0123456789"), ("c.mf", b"m")]).await.unwrap();
    let http = reqwest::Client::new();
    let base = format!("{}/cls/vcsp/lib/{library}", sim.url());
    assert_eq!(get(&http, &format!("{base}/lib.json"), None).await.status(), 404, "not published yet");

    let url = client.publish_library(&library_id, Some("pw")).await.unwrap();
    assert_eq!(url, format!("{base}/lib.json"));
    assert_eq!(get(&http, &url, None).await.status(), 401);
    assert_eq!(get(&http, &url, Some("wrong")).await.status(), 401);
    let lib = json(&http, &url, Some("pw")).await;
    assert_eq!(lib["vcspVersion"], "2");
    assert_eq!(lib["id"], format!("urn:uuid:{library}"));
    assert_eq!(lib["capabilities"]["transferIn"], serde_json::json!(["httpGet"]));
    let version: u64 = lib["version"].as_str().unwrap().parse().unwrap();

    let items = json(&http, &format!("{base}/{}", lib["itemsHref"].as_str().unwrap()), Some("pw")).await;
    let entries = items["items"].as_array().unwrap();
    assert_eq!(entries.len(), 1);
    let entry = &entries[0];
    assert_eq!((entry["name"].as_str(), entry["type"].as_str()), (Some("with space"), Some("vcsp.other")));
    let self_href = entry["selfHref"].as_str().unwrap();
    assert_eq!(json(&http, &format!("{base}/{self_href}"), Some("pw")).await, *entry, "item.json is its entry");
    for file in entry["files"].as_array().unwrap() {
        let href = file["hrefs"][0].as_str().unwrap();
        assert!(!href.contains(' '), "hrefs are encoded: {href}");
        let etag = file["etag"].as_str().unwrap();
        assert!(etag.parse::<i64>().is_ok(), "an etag vCenter can parse as a number: {etag}");
        assert!(file["generationNum"].is_i64());
        let response = get(&http, &format!("{base}/{href}"), Some("pw")).await;
        assert_eq!(response.status(), 200);
        assert_eq!(response.content_length(), file["size"].as_u64(), "{href}");
    }
    assert_eq!(sim.feed_files_served(), 2);
    // Nothing outside the library's items, and no climbing out.
    for bad in ["../lib.json", "x/item.json", &format!("{item}/../../lib.json"), &format!("{item}/nope")] {
        assert_eq!(get(&http, &format!("{base}/{bad}"), Some("pw")).await.status(), 404, "{bad}");
    }

    // Versions: unchanged when nothing changed, higher after a change.
    let again = json(&http, &url, Some("pw")).await;
    assert_eq!(again["version"], lib["version"]);
    sim.seed_item(library, "second", &[("s.iso", b"iso")]).await.unwrap();
    let later: u64 = json(&http, &url, Some("pw")).await["version"].as_str().unwrap().parse().unwrap();
    assert!(later > version, "{later} after {version}");

    // Unpublished, the feed is gone.
    let unpublish = |current: Option<&str>| cl_api::types::LibraryModel {
        publish_info: Some(cl_api::types::PublishInfo {
            published: Some(false),
            current_password: current.map(str::to_owned),
            ..Default::default()
        }),
        ..Default::default()
    };
    let raw = cl_api::Client::new(sim.url(), cl_api::Hooks::default()).unwrap();
    raw.hooks().set_login(Some((sim.username(), sim.password())));
    let token = raw.session_create().await.unwrap().into_inner();
    raw.hooks().set_login(None);
    raw.hooks().set_session_id(Some(&token)).unwrap();
    assert!(raw.local_library_update(library, &unpublish(None)).await.is_err(), "needs the current password");
    assert!(raw.local_library_update(library, &unpublish(Some("wrong"))).await.is_err());
    assert_eq!(get(&http, &url, Some("pw")).await.status(), 200);
    raw.local_library_update(library, &unpublish(Some("pw"))).await.unwrap();
    assert_eq!(get(&http, &url, Some("pw")).await.status(), 404);
}
