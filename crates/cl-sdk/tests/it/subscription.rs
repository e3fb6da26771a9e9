//! Publish on one simulator, subscribe on another over https with a pinned thumbprint and a
//! password, sync and wait, evict; and feeds that fail in the middle of a sync.

use std::time::Duration;

use futures_util::TryStreamExt;

use cl_sdk::transfer::DownloadOptions;
use cl_sdk::types::ProbeStatus;
use cl_sdk::{Client, Detail, Dialect, ErrorKind, Subscription};
use cl_sim::{SimConfig, Simulator};

const WAIT: Duration = Duration::from_secs(30);

fn bytes(seed: u8, len: usize) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

struct Sites {
    publisher: Simulator,
    subscriber: Simulator,
    pub_client: Client,
    sub_client: Client,
    library: cl_sdk::LibraryId,
    url: String,
}

async fn sites(dialect: Dialect) -> Sites {
    let publisher = Simulator::start(SimConfig::default()).await.unwrap();
    let subscriber = Simulator::start(SimConfig::default()).await.unwrap();
    let pub_client = cl_testkit::client(&publisher).await;
    let sub_client = Client::builder(subscriber.url())
        .credentials(subscriber.username(), subscriber.password())
        .add_ca_pem(subscriber.ca_pem().unwrap())
        .dialect(dialect)
        .connect()
        .await
        .unwrap();
    let library =
        pub_client.create_local_library("golden", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    publisher.seed_item(library.as_str(), "alpha", &[("alpha.bin", &bytes(1, 3 << 20))]).await.unwrap();
    publisher
        .seed_item(library.as_str(), "beta", &[("beta.iso", &bytes(2, 1 << 20)), ("beta.txt", b"notes")])
        .await
        .unwrap();
    let url = pub_client.publish_library(&library, Some("s3cret")).await.unwrap();
    assert_eq!(pub_client.publish_library(&library, Some("s3cret")).await.unwrap(), url, "a rerun is a no-op");
    let e = pub_client.publish_library(&library, Some("other")).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unauthorized, "changing the password needs the current one: {e}");
    Sites { publisher, subscriber, pub_client, sub_client, library, url }
}

fn subscription(s: &Sites) -> Subscription {
    Subscription::new(&s.url).basic_auth("vcsp", "s3cret").thumbprint(s.publisher.thumbprint_sha1().unwrap())
}

async fn item_named(client: &Client, library: &cl_sdk::LibraryId, name: &str) -> cl_sdk::ItemId {
    client.find_item(library, name).await.unwrap()
}

#[tokio::test]
async fn publish_subscribe_sync_and_download_in_both_dialects() {
    for dialect in [Dialect::Api, Dialect::Rest] {
        let s = sites(dialect).await;
        assert!(s.url.ends_with(&format!("/cls/vcsp/lib/{}/lib.json", s.library)), "{}", s.url);
        let c = &s.sub_client;

        // Untrusted: the probe says so and gives the thumbprint; the create refuses, typed.
        let plain = Subscription::new(&s.url).basic_auth("vcsp", "s3cret");
        let probe = c.probe_subscription(&plain).await.unwrap();
        assert_eq!(probe.status, ProbeStatus::CertificateError, "{probe:?}");
        assert_eq!(probe.ssl_thumbprint, s.publisher.thumbprint_sha1());
        let e = c
            .create_subscribed_library("mirror", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID), &plain)
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FeedUnusable, "{e}");
        assert!(matches!(e.detail(), Some(Detail::Probe { status: ProbeStatus::CertificateError, .. })), "{e:?}");
        assert!(e.to_string().contains(&s.publisher.thumbprint_sha1().unwrap()), "{e}");
        // Trusted, but the wrong password.
        let wrong =
            Subscription::new(&s.url).basic_auth("vcsp", "nope").thumbprint(s.publisher.thumbprint_sha1().unwrap());
        let e = c
            .create_subscribed_library("mirror", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID), &wrong)
            .await
            .unwrap_err();
        assert!(matches!(e.detail(), Some(Detail::Probe { status: ProbeStatus::InvalidCredentials, .. })), "{e:?}");
        assert!(c.subscribed_library_ids().await.unwrap().is_empty(), "nothing was created");

        // Immediate: a sync brings every item's content.
        let mirror = c
            .create_subscribed_library("mirror", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID), &subscription(&s))
            .await
            .unwrap();
        let model = c.subscribed_library(&mirror).await.unwrap();
        let info = model.subscription_info.unwrap();
        assert_eq!((info.password, info.ssl_thumbprint), (None, None), "secrets are never shown");
        let mut seen = Vec::new();
        // The create started a sync; this one joins it, so every file is fetched once.
        let done = c.sync_library(&mirror).await.unwrap().wait(WAIT, |p| seen.push(p.clone())).await.unwrap();
        assert_eq!((done.items, done.items_cached, done.bytes_cached), (2, 2, (3 << 20) + (1 << 20) + 5));
        assert_eq!(s.publisher.feed_files_served(), 3);
        assert!(seen.windows(2).all(|w| w[0].items_cached <= w[1].items_cached));

        let alpha = item_named(c, &mirror, "alpha").await;
        let dest = tempfile::tempdir().unwrap();
        c.download_item(&alpha, dest.path(), DownloadOptions::default()).await.unwrap();
        assert_eq!(std::fs::read(dest.path().join("alpha.bin")).unwrap(), bytes(1, 3 << 20));

        // A change on the publisher: only what changed is fetched.
        let fetched = s.publisher.feed_files_served();
        s.publisher.seed_item(s.library.as_str(), "gamma", &[("gamma.bin", b"new content")]).await.unwrap();
        let beta = item_named(&s.pub_client, &s.library, "beta").await;
        s.pub_client.delete_item(&beta).await.unwrap();
        let done = c.sync_library(&mirror).await.unwrap().wait(WAIT, |_| {}).await.unwrap();
        assert_eq!((done.items, done.items_cached), (2, 2));
        assert_eq!(s.publisher.feed_files_served() - fetched, 1, "only gamma's one file was fetched");
        let mut names: Vec<String> = Vec::new();
        for id in c.item_ids(&mirror).await.unwrap() {
            names.push(c.item(&id).await.unwrap().name.unwrap());
        }
        names.sort();
        assert_eq!(names, ["alpha", "gamma"]);
        // An unchanged feed fetches nothing.
        let fetched = s.publisher.feed_files_served();
        c.sync_library(&mirror).await.unwrap().wait(WAIT, |_| {}).await.unwrap();
        assert_eq!(s.publisher.feed_files_served(), fetched);

        // Writes into a subscribed library are refused as vCenter refuses them.
        let e = c.create_item(&mirror, "mine", &cl_sdk::ItemType::File).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidElementType, "{e}");
        // Eviction is for on-demand libraries only.
        let e = c.evict_library(&mirror).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::NotAllowedInCurrentState, "{e}");
        c.delete_subscribed_library(&mirror).await.unwrap();
        let _ = &s.subscriber;
    }
}

#[tokio::test]
async fn on_demand_brings_metadata_then_content_per_item_and_evicts() {
    let s = sites(Dialect::Api).await;
    let c = &s.sub_client;
    let mirror = c
        .create_subscribed_library(
            "lazy",
            &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID),
            &subscription(&s).on_demand(true),
        )
        .await
        .unwrap();
    let done = c.sync_library(&mirror).await.unwrap().wait(WAIT, |_| {}).await.unwrap();
    assert_eq!((done.items, done.items_cached, done.bytes_cached), (2, 0, 0));
    assert_eq!(s.publisher.feed_files_served(), 0, "on-demand: no content yet");

    let beta = item_named(c, &mirror, "beta").await;
    let files = c.item_files(&beta).await.unwrap();
    assert_eq!(files.len(), 2);
    assert!(files.iter().all(|f| !f.cached && f.size == Some(0)), "{files:?}");
    let e = c.download_item(&beta, tempfile::tempdir().unwrap().path(), DownloadOptions::default()).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotAllowedInCurrentState, "an uncached item cannot be downloaded: {e}");

    let done = c.sync_item(&beta, true).await.unwrap().wait(WAIT, |_| {}).await.unwrap();
    assert_eq!((done.items, done.items_cached, done.bytes_cached), (1, 1, (1 << 20) + 5));
    assert_eq!(s.publisher.feed_files_served(), 2);
    let item = c.item(&beta).await.unwrap();
    assert_eq!((item.cached, item.size), (Some(true), Some((1 << 20) + 5)));

    c.evict_item(&beta).await.unwrap();
    assert_eq!(c.item(&beta).await.unwrap().cached, Some(false));
    c.sync_item(&beta, true).await.unwrap().wait(WAIT, |_| {}).await.unwrap();
    c.evict_library(&mirror).await.unwrap();
    for id in c.item_ids(&mirror).await.unwrap() {
        assert_eq!(c.item(&id).await.unwrap().cached, Some(false));
    }
}

/// A feed served by a test server that can misbehave: lib.json and items.json from a mutable
/// document, files with faults.
mod hostile_feed {
    use std::collections::BTreeMap;
    use std::sync::{Arc, Mutex};

    use axum::Router;
    use axum::extract::{Path, State};
    use axum::http::StatusCode;
    use axum::response::{IntoResponse, Response};
    use axum::routing::get;
    use serde_json::json;

    /// One file: its name, the bytes served, the size the feed declares, where to cut.
    pub type File = (String, Vec<u8>, u64, Option<usize>);

    #[derive(Clone, Default)]
    pub struct Feed {
        pub version: Arc<Mutex<u64>>,
        pub files: Arc<Mutex<Vec<File>>>,
        pub gone: Arc<Mutex<bool>>,
        /// lib.json still answers, the index does not: a feed vanishing mid-sync.
        pub index_gone: Arc<Mutex<bool>>,
        /// Display names that differ from the file's name.
        pub names: Arc<Mutex<BTreeMap<String, String>>>,
    }

    pub async fn start(feed: Feed) -> String {
        let router = Router::new()
            .route("/feed/lib.json", get(lib))
            .route("/feed/items.json", get(items))
            .route("/feed/files/{name}", get(file))
            .with_state(feed);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/feed/lib.json", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router).await });
        url
    }

    async fn lib(State(feed): State<Feed>) -> Response {
        if *feed.gone.lock().unwrap() {
            return StatusCode::NOT_FOUND.into_response();
        }
        let version = *feed.version.lock().unwrap();
        axum::Json(json!({"vcspVersion": "2", "version": version.to_string(), "id": "urn:uuid:8a1e5c62-0d7e-4e0a-9d3c-1f7f7b0c0001",
            "name": "hostile", "capabilities": {"transferIn": ["httpGet"], "transferOut": ["httpGet"]}, "itemsHref": "items.json"}))
        .into_response()
    }

    async fn items(State(feed): State<Feed>) -> Response {
        if *feed.index_gone.lock().unwrap() {
            return StatusCode::NOT_FOUND.into_response();
        }
        let files = feed.files.lock().unwrap();
        let names = feed.names.lock().unwrap();
        // Every publish raises every item's version: a rename reaches the subscriber.
        let version = feed.version.lock().unwrap().to_string();
        let items: Vec<_> = files
            .iter()
            .map(|(name, _, size, _)| {
                let shown = names.get(name).unwrap_or(name);
                json!({"id": format!("urn:uuid:{name}"), "name": shown, "type": "vcsp.other", "version": version,
                       "files": [{"name": name, "size": size, "etag": "2", "generationNum": 2, "hrefs": [format!("files/{name}")]}]})
            })
            .collect();
        axum::Json(json!({ "items": items })).into_response()
    }

    async fn file(State(feed): State<Feed>, Path(name): Path<String>) -> Response {
        let files = feed.files.lock().unwrap();
        let Some((_, bytes, _, cut)) = files.iter().find(|(n, ..)| *n == name) else {
            return StatusCode::NOT_FOUND.into_response();
        };
        match cut {
            // Declares the whole length, sends part, and ends the body: a cut connection.
            Some(after) => {
                let part = bytes[..*after].to_vec();
                let stream = futures_util::stream::iter(vec![
                    Ok::<_, std::io::Error>(axum::body::Bytes::from(part)),
                    Err(std::io::Error::other("cut")),
                ]);
                Response::builder()
                    .header("content-length", bytes.len())
                    .body(axum::body::Body::from_stream(stream))
                    .unwrap()
            }
            None => bytes.clone().into_response(),
        }
    }
}

#[tokio::test]
async fn a_feed_that_breaks_mid_sync_loses_nothing_cached() {
    let subscriber = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
    let c = cl_testkit::client(&subscriber).await;
    let feed = hostile_feed::Feed::default();
    *feed.version.lock().unwrap() = 1;
    feed.files.lock().unwrap().push(("good.bin".into(), b"good bytes".to_vec(), 10, None));
    let url = hostile_feed::start(feed.clone()).await;
    let mirror = c
        .create_subscribed_library("m", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID), &Subscription::new(&url))
        .await
        .unwrap();
    let done = c.sync_library(&mirror).await.unwrap().wait(WAIT, |_| {}).await.unwrap();
    assert_eq!((done.items, done.items_cached), (1, 1));

    // A file cut mid-transfer, and one whose declared size is larger than what is served.
    {
        let mut files = feed.files.lock().unwrap();
        files.push(("cut.bin".into(), vec![7; 100_000], 100_000, Some(40_000)));
        files.push(("short.bin".into(), vec![8; 50], 100, None));
        *feed.version.lock().unwrap() = 2;
    }
    let e = c.sync_library(&mirror).await.unwrap().wait(Duration::from_secs(2), |_| {}).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WaitTimedOut, "{e}");
    let text = e.to_string();
    assert!(text.contains("cut.bin") && text.contains("short.bin") && !text.contains("good.bin"), "{text}");
    let good = c.find_item(&mirror, "good.bin").await.unwrap();
    assert_eq!(c.item(&good).await.unwrap().cached, Some(true), "what was cached stays cached");

    // The feed vanishes mid-sync (lib.json answers, its index no longer): the API shows no task,
    // so the sync looks like one that brought nothing new, and nothing cached is lost.
    *feed.index_gone.lock().unwrap() = true;
    *feed.version.lock().unwrap() = 3;
    let _ = c.sync_library(&mirror).await.unwrap().wait(Duration::from_secs(2), |_| {}).await;
    assert_eq!(c.item(&good).await.unwrap().cached, Some(true));
    assert_eq!(c.item_ids(&mirror).await.unwrap().len(), 3, "no item dropped for a vanished index");

    // The feed vanishes: the sync itself fails, typed, and the cache is kept.
    *feed.gone.lock().unwrap() = true;
    let e = c.sync_library(&mirror).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ResourceInaccessible, "{e}");
    assert_eq!(c.item(&good).await.unwrap().cached, Some(true));
    // A URL that is not a feed at all is refused before anything is created.
    let e = c
        .create_subscribed_library(
            "x",
            &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID),
            &Subscription::new(url.replace("lib.json", "nope.json")),
        )
        .await
        .unwrap_err();
    assert!(matches!(e.detail(), Some(Detail::Probe { status: ProbeStatus::ResourceNotFound, .. })), "{e:?}");
    let e = c
        .create_subscribed_library(
            "x",
            &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID),
            &Subscription::new("ftp://example.com/lib.json"),
        )
        .await
        .unwrap_err();
    assert!(matches!(e.detail(), Some(Detail::Probe { status: ProbeStatus::InvalidUrl, .. })), "{e:?}");
}

#[tokio::test]
async fn a_feed_repeating_an_item_name_brings_the_first_only_and_a_rename_onto_a_deleted_name_lands() {
    let subscriber = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
    let c = cl_testkit::client(&subscriber).await;
    let feed = hostile_feed::Feed::default();
    *feed.version.lock().unwrap() = 1;
    for name in ["a.bin", "b.bin"] {
        feed.files.lock().unwrap().push((name.into(), name.as_bytes().to_vec(), 5, None));
    }
    let url = hostile_feed::start(feed.clone()).await;
    let datastore = cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID);
    let mirror = c.create_subscribed_library("m", &datastore, &Subscription::new(&url)).await.unwrap();
    let done = c.sync_library(&mirror).await.unwrap().wait(WAIT, |_| {}).await.unwrap();
    assert_eq!((done.items, done.items_cached), (2, 2));
    let source_of = |name: &'static str| {
        let c = c.clone();
        let mirror = mirror.clone();
        async move {
            let item = c.find_item(&mirror, name).await.unwrap();
            c.item(&item).await.unwrap().source_id.unwrap()
        }
    };

    // A new item under a name the library already has: vCenter refuses it, the rest stands.
    feed.files.lock().unwrap().push(("c.bin".into(), b"c.bin".to_vec(), 5, None));
    feed.names.lock().unwrap().insert("c.bin".into(), "a.bin".into());
    *feed.version.lock().unwrap() = 2;
    let done = c.sync_library(&mirror).await.unwrap().wait(WAIT, |_| {}).await.unwrap();
    assert_eq!((done.items, done.items_cached), (2, 2), "{done:?}");
    assert_eq!(source_of("a.bin").await, "urn:uuid:a.bin");

    // One publish renames b onto a's name and deletes a: the deletion lands first, so no clash.
    {
        let mut files = feed.files.lock().unwrap();
        files.retain(|(name, ..)| name == "b.bin");
        let mut names = feed.names.lock().unwrap();
        names.clear();
        names.insert("b.bin".into(), "a.bin".into());
        *feed.version.lock().unwrap() = 3;
    }
    c.sync_library(&mirror).await.unwrap().wait(WAIT, |_| {}).await.unwrap();
    let items: Vec<_> = c.items(&mirror).await.unwrap().try_collect().await.unwrap();
    let names: Vec<_> = items.iter().map(|i| i.name.clone().unwrap()).collect();
    assert_eq!(names, ["a.bin"]);
    assert_eq!(items[0].source_id.as_deref(), Some("urn:uuid:b.bin"));
}

#[tokio::test]
async fn waiting_on_a_large_sync_asks_again_only_about_what_is_not_cached() {
    let subscriber = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
    let c = cl_testkit::client(&subscriber).await;
    let feed = hostile_feed::Feed::default();
    *feed.version.lock().unwrap() = 1;
    {
        let mut files = feed.files.lock().unwrap();
        for i in 0..60 {
            files.push((format!("f{i:02}.bin"), vec![i as u8; 10], 10, None));
        }
        // One file that never arrives: the sync never ends, the wait runs to its deadline.
        files.push(("stuck.bin".into(), vec![1; 1000], 1000, Some(10)));
    }
    let url = hostile_feed::start(feed.clone()).await;
    let datastore = cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID);
    let mirror = c.create_subscribed_library("big", &datastore, &Subscription::new(&url)).await.unwrap();
    let sync = c.sync_library(&mirror).await.unwrap();
    let before = subscriber.requests_served();
    let mut looks = 0;
    let e = sync.wait(Duration::from_secs(3), |_| looks += 1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::WaitTimedOut, "{e}");
    assert!(e.to_string().contains("stuck.bin"), "{e}");
    let asked = subscriber.requests_served() - before;
    // Whole looks would cost 62 requests each (the listing and 61 items); after the first that
    // saw the 60 cached, each costs the listing and the stuck item.
    assert!(looks >= 3, "{looks} looks");
    assert!(asked <= 62 * 2 + 2 * looks, "{asked} requests for {looks} looks");
}
