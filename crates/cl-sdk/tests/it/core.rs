//! The SDK core against the simulator, in both dialects: login and re-login, every handle
//! method, error kinds from both envelopes, waiters, and TLS trust.

use std::time::Duration;

use cl_sdk::types::*;
use cl_sdk::{Client, Dialect, ErrorKind, RetryPolicy};
use cl_sim::{SimConfig, Simulator};

const BOTH: [Dialect; 2] = [Dialect::Api, Dialect::Rest];

async fn sim() -> Simulator {
    let mut config = SimConfig::default().plain_http();
    config.service.prepare_delay = Duration::from_millis(60);
    Simulator::start(config).await.unwrap()
}

async fn connect(sim: &Simulator, dialect: Dialect) -> Client {
    Client::builder(sim.url()).credentials(sim.username(), sim.password()).dialect(dialect).connect().await.unwrap()
}

#[tokio::test]
async fn login_detects_the_dialect_and_logs_out() {
    let sim = sim().await;
    // The simulator serves both; detection prefers /api.
    let client = Client::builder(sim.url()).credentials(sim.username(), sim.password()).connect().await.unwrap();
    assert_eq!(client.dialect(), Dialect::Api);
    for dialect in BOTH {
        let client = connect(&sim, dialect).await;
        assert_eq!(client.dialect(), dialect);
        assert_eq!(client.session_user().await.unwrap(), sim.username());
        client.logout().await.unwrap();
        // With credentials, a later call simply logs in again.
        assert_eq!(client.session_user().await.unwrap(), sim.username());
    }
}

#[tokio::test]
async fn bad_password_and_missing_credentials() {
    let sim = sim().await;
    for dialect in BOTH {
        let error = Client::builder(sim.url())
            .credentials(sim.username(), "nope")
            .dialect(dialect)
            .connect()
            .await
            .unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unauthenticated, "{error}");
        assert_eq!(error.status(), Some(401));
        assert_eq!(error.operation(), Some("login"));
        assert!(!format!("{error} {error:?}").contains("nope"), "the password never shows");
    }
    let error = Client::builder(sim.url()).connect().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    let error = Client::builder("ftp://x").credentials("a", "b").connect().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn secrets_never_show_in_debug() {
    let builder = Client::builder("https://vc").credentials("user", "hunter2").session_id("tok-secret");
    let shown = format!("{builder:?}");
    assert!(!shown.contains("hunter2") && !shown.contains("tok-secret"), "{shown}");
}

#[tokio::test]
async fn relogin_after_the_api_session_expires() {
    for dialect in BOTH {
        let sim = sim().await;
        let client = connect(&sim, dialect).await;
        client.library_ids().await.unwrap();
        sim.expire_api_sessions();
        // Transparent: the next call logs in again and succeeds.
        client.library_ids().await.unwrap();
        // Many calls hitting the expiry at once log in once and all succeed.
        sim.expire_api_sessions();
        let calls: Vec<_> = (0..8).map(|_| client.library_ids()).collect();
        for result in futures_util::future::join_all(calls).await {
            result.unwrap();
        }
    }
}

#[tokio::test]
async fn an_existing_session_id_without_credentials() {
    for dialect in BOTH {
        let sim = sim().await;
        let first = connect(&sim, dialect).await;
        let token = first.raw().hooks().session_id().unwrap();
        let client = Client::builder(sim.url()).session_id(&token).connect().await.unwrap();
        assert_eq!(client.session_user().await.unwrap(), sim.username());
        sim.expire_api_sessions();
        let error = client.library_ids().await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Unauthenticated, "no credentials: no re-login");
    }
}

#[tokio::test]
async fn library_and_item_helpers() {
    for dialect in BOTH {
        let sim = sim().await;
        let client = connect(&sim, dialect).await;
        let library =
            client.create_local_library("Templates", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
        assert_eq!(client.find_library("templates").await.unwrap(), library);
        assert_eq!(client.find_library("nothing").await.unwrap_err().kind(), ErrorKind::NotFound);
        client.create_local_library("Templates", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
        assert_eq!(client.find_library("Templates").await.unwrap_err().kind(), ErrorKind::InvalidArgument);
        assert_eq!(client.library(&library).await.unwrap().name.as_deref(), Some("Templates"));
        assert_eq!(client.library_ids().await.unwrap().len(), 2);

        let item = client.create_item(&library, "photon", &cl_sdk::ItemType::Ovf).await.unwrap();
        assert_eq!(client.find_item(&library, "photon").await.unwrap(), item);
        assert_eq!(client.item_ids(&library).await.unwrap(), std::slice::from_ref(&item));
        assert_eq!(client.item(&item).await.unwrap().type_.as_deref(), Some("ovf"));
        let error = client.create_item(&library, "photon", &cl_sdk::ItemType::Ovf).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::AlreadyExists);
        assert_eq!(error.operation(), Some("item_create"));
        assert!(client.item_files(&item).await.unwrap().is_empty());
        client.delete_item(&item).await.unwrap();
        assert_eq!(client.item(&item).await.unwrap_err().kind(), ErrorKind::NotFound);
        client.delete_local_library(&library).await.unwrap();
    }
}

/// Listings are models, read as the stream is consumed, in the order of the ids, with the listed
/// total; an entry deleted between the listing and its read is skipped, not an error.
#[tokio::test]
async fn listings_stream_models_and_skip_what_vanished() {
    use futures_util::TryStreamExt;
    for dialect in BOTH {
        let sim = sim().await;
        let client = connect(&sim, dialect).await;
        let datastore = cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID);
        let library = client.create_local_library("many", &datastore).await.unwrap();
        client.create_local_library("other", &datastore).await.unwrap();
        sim.add_items(library.as_str(), "item-", 40).unwrap();
        let ids = client.item_ids(&library).await.unwrap();

        let models: Vec<_> = client.items(&library).await.unwrap().try_collect().await.unwrap();
        let listed: Vec<String> = models.iter().map(|m| m.id.clone().unwrap()).collect();
        assert_eq!(listed, ids.iter().map(ToString::to_string).collect::<Vec<_>>(), "{dialect}: in order");
        assert!(models.iter().all(|m| m.name.as_deref().is_some_and(|n| n.starts_with("item-"))));

        let listing = client.items(&library).await.unwrap();
        assert_eq!(listing.total(), 40);
        client.delete_item(&ids[7]).await.unwrap();
        let after: Vec<_> = listing.try_collect().await.unwrap();
        assert_eq!(after.len(), 39, "{dialect}: the deleted item is skipped");
        assert!(!after.iter().any(|m| m.id.as_deref() == Some(ids[7].as_str())));

        let libraries: Vec<_> = client.libraries().await.unwrap().try_collect().await.unwrap();
        let listed: Vec<_> = libraries.iter().map(|l| cl_sdk::LibraryId::new(l.id.clone().unwrap())).collect();
        assert_eq!(listed, client.library_ids().await.unwrap(), "{dialect}: the listing's order");
        let mut names: Vec<_> = libraries.iter().filter_map(|l| l.name.as_deref()).collect();
        names.sort();
        assert_eq!(names, ["many", "other"], "{dialect}");
    }
}

#[tokio::test]
async fn items_and_libraries_are_renamed_and_described() {
    use cl_sdk::Changes;
    for dialect in BOTH {
        let sim = sim().await;
        let client = connect(&sim, dialect).await;
        let library =
            client.create_local_library("Templates", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
        let item = client.create_item(&library, "photon", &cl_sdk::ItemType::Ovf).await.unwrap();
        client.create_item(&library, "ubuntu", &cl_sdk::ItemType::Ovf).await.unwrap();
        let read = client.item(&item).await.unwrap();

        let updated = client.update_item(&item, &Changes::new().description("golden")).await.unwrap();
        assert_eq!((updated.name.as_deref(), updated.description.as_deref()), (Some("photon"), Some("golden")));
        // Bound to the version read before that change: refused, and nothing changes.
        let stale = Changes::new().name("photon-5").if_version(read.version.clone().unwrap());
        let error = client.update_item(&item, &stale).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ConcurrentChange, "{dialect}: {error}");
        assert_eq!(error.operation(), Some("item_update"));
        let fresh = Changes::new().name("photon-5").if_version(updated.version.clone().unwrap());
        assert_eq!(client.update_item(&item, &fresh).await.unwrap().name.as_deref(), Some("photon-5"));
        assert_eq!(client.find_item(&library, "photon-5").await.unwrap(), item);

        let taken = client.update_item(&item, &Changes::new().name("ubuntu")).await.unwrap_err();
        assert_eq!(taken.kind(), ErrorKind::AlreadyExists);
        // Refused before the server is asked.
        for nothing in [Changes::new(), Changes::new().name("  ")] {
            let error = client.update_item(&item, &nothing).await.unwrap_err();
            assert_eq!((error.kind(), error.operation()), (ErrorKind::InvalidInput, None));
        }
        // A lost reply is retried: the same name twice is the same result.
        sim.faults().fail_calls("item_update", 1, cl_sim::CallFault::LoseReply);
        let again = client.update_item(&item, &Changes::new().name("photon-6")).await.unwrap();
        assert_eq!(again.name.as_deref(), Some("photon-6"));

        let changes = Changes::new().name("Images").description("");
        let updated = client.update_library(&library, &changes).await.unwrap();
        assert_eq!((updated.name.as_deref(), updated.description.as_deref()), (Some("Images"), Some("")));
        assert_eq!(client.find_library("images").await.unwrap(), library);
        let error = client.update_library(&cl_sdk::LibraryId::new("no-such-library"), &changes).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::NotFound);
    }
}

#[tokio::test]
async fn update_session_handle() {
    for dialect in BOTH {
        let sim = sim().await;
        let client = connect(&sim, dialect).await;
        let library =
            client.create_local_library("lib", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
        let item = client.create_item(&library, "item", &cl_sdk::ItemType::Ovf).await.unwrap();
        let session = client.create_session::<cl_sdk::Update>(&item).await.unwrap();
        assert_eq!(client.sessions::<cl_sdk::Update>(Some(&item)).await.unwrap(), [session.id().clone()]);
        let busy = client.create_session::<cl_sdk::Update>(&item).await.unwrap_err();
        assert_eq!(busy.kind(), ErrorKind::ResourceBusy, "{busy}");
        assert!(!busy.is_retryable());

        session.keep_alive(Some(10)).await.unwrap();
        assert_eq!(session.info().await.unwrap().client_progress, Some(10));
        let cert = UpdateFileAddSpec {
            name: "a.cert".into(),
            source_type: SourceType::Push,
            source_endpoint: None,
            size: None,
            checksum_info: None,
        };
        let ovf = UpdateFileAddSpec { name: "a.ovf".into(), ..cert.clone() };
        for spec in [&cert, &ovf] {
            let uri = session.add_file(spec).await.unwrap().upload_endpoint.unwrap().uri;
            reqwest::Client::new().put(uri).body("x").send().await.unwrap();
        }
        assert_eq!(session.files().await.unwrap().len(), 2);
        assert_eq!(session.file("a.ovf").await.unwrap().status, TransferStatus::Ready);
        let preview = session.wait_preview(Duration::from_secs(10)).await.unwrap();
        assert_eq!(preview.warnings.len(), 1);
        session
            .set_warning_behavior(vec![WarningBehavior { type_: WarningType::SelfSignedCertificate, ignored: true }])
            .await
            .unwrap();
        assert!(session.validate().await.unwrap().expect("the simulator validates").missing_files.is_empty());
        let missing = session.file("nope").await.unwrap_err();
        assert_eq!(missing.kind(), ErrorKind::InvalidArgument);
        session.remove_file("a.cert").await.unwrap();
        // Deleting an ACTIVE session is refused by state.
        assert_eq!(session.delete().await.unwrap_err().kind(), ErrorKind::NotAllowedInCurrentState);
        session.complete().await.unwrap();
        assert_eq!(session.wait_done(Duration::from_secs(10)).await.unwrap().state, Some(UpdateSessionState::Done));
        assert_eq!(session.cancel().await.unwrap_err().kind(), ErrorKind::NotAllowedInCurrentState);
        session.delete().await.unwrap();
        assert_eq!(session.info().await.unwrap_err().kind(), ErrorKind::NotFound);

        // fail and wait_done report the failure with the message.
        let failed = client.create_session::<cl_sdk::Update>(&item).await.unwrap();
        failed.fail("the client gave up").await.unwrap();
        let error = failed.wait_done(Duration::from_secs(5)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::SessionFailed);
        assert!(error.message().contains("the client gave up"), "{error}");
        failed.delete().await.unwrap();

        let canceled = client.create_session::<cl_sdk::Update>(&item).await.unwrap();
        canceled.cancel().await.unwrap();
        assert_eq!(canceled.info().await.unwrap().state, Some(UpdateSessionState::Canceled));
    }
}

#[tokio::test]
async fn download_session_handle_and_waiter() {
    for dialect in BOTH {
        let sim = sim().await;
        let client = connect(&sim, dialect).await;
        let library =
            client.create_local_library("lib", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
        let item = cl_sdk::ItemId::new(
            sim.seed_item(library.as_str(), "item", &[("a.txt", b"alpha"), ("b.txt", b"beta")]).await.unwrap(),
        );
        let session = client.create_session::<cl_sdk::Download>(&item).await.unwrap();
        assert_eq!(client.sessions::<cl_sdk::Download>(Some(&item)).await.unwrap(), [session.id().clone()]);
        assert_eq!(session.files().await.unwrap().len(), 2);
        session.prepare("a.txt").await.unwrap();
        let ready = session.wait_prepared("a.txt", Duration::from_secs(10)).await.unwrap();
        let uri = ready.download_endpoint.unwrap().uri;
        assert_eq!(reqwest::get(&uri).await.unwrap().bytes().await.unwrap(), &b"alpha"[..]);
        // Never prepared: the waiter gives up at its deadline.
        let error = session.wait_prepared("b.txt", Duration::from_millis(200)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::WaitTimedOut);
        assert_eq!(session.prepare("zzz").await.unwrap_err().kind(), ErrorKind::InvalidArgument);
        session.keep_alive(Some(50)).await.unwrap();
        assert_eq!(session.info().await.unwrap().client_progress, Some(50));
        session.cancel().await.unwrap();
        assert_eq!(session.info().await.unwrap().state, Some(DownloadSessionState::Canceled));
        assert_eq!(session.keep_alive(None).await.unwrap_err().kind(), ErrorKind::NotAllowedInCurrentState);
        session.delete().await.unwrap();

        let failing = client.create_session::<cl_sdk::Download>(&item).await.unwrap();
        failing.fail("disk full").await.unwrap();
        assert_eq!(failing.info().await.unwrap().state, Some(DownloadSessionState::Error));
        failing.delete().await.unwrap();
        assert_eq!(
            client.create_session::<cl_sdk::Download>(&cl_sdk::ItemId::new("nope")).await.unwrap_err().kind(),
            ErrorKind::NotFound
        );
    }
}

#[tokio::test]
async fn unavailable_is_retryable_and_undocumented_statuses_still_decode() {
    for dialect in BOTH {
        let sim = sim().await;
        // Without retries the 503 reaches the caller (the retry tests show it is survived).
        let client = Client::builder(sim.url())
            .credentials(sim.username(), sim.password())
            .dialect(dialect)
            .retry(RetryPolicy::none())
            .connect()
            .await
            .unwrap();
        sim.faults().fail_next(1);
        let error = client.library_ids().await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::ServiceUnavailable);
        assert_eq!(error.status(), Some(503));
        assert!(error.is_retryable());
        assert_eq!(error.operation(), Some("library_list"));
        client.library_ids().await.unwrap();
    }
}

// ---------------------------------------------------------------------------------------------
// TLS

#[tokio::test]
async fn tls_trust_by_ca_by_thumbprint_or_not_at_all() {
    let sim = Simulator::start(SimConfig::default()).await.unwrap();
    let builder = || Client::builder(sim.url()).credentials(sim.username(), sim.password());

    // A certificate from an unknown CA is refused by default, before any request is sent; the
    // error names the certificate's thumbprint, for a user who decides to pin it.
    let error = builder().connect().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    assert!(error.to_string().contains(&sim.thumbprint_sha1().unwrap()), "{error}");
    assert_eq!(sim.requests_served(), 0);

    // A wrong thumbprint is refused before any request (and any credentials) are sent.
    let wrong = "00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33";
    let error = builder().pin_thumbprint(wrong).connect().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    assert_eq!(sim.requests_served(), 0);

    // Its CA, its SHA-1 thumbprint in any notation, its SHA-256 thumbprint, or the insecure mode.
    builder().add_ca_pem(sim.ca_pem().unwrap()).connect().await.unwrap();
    // The server's own certificate given as a CA: refused, with the way out named.
    let error = builder().add_ca_pem(sim.certificate_pem().unwrap()).connect().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Tls, "{error}");
    assert!(error.to_string().contains("pin its thumbprint"), "{error}");
    let sha1 = sim.thumbprint_sha1().unwrap();
    builder().pin_thumbprint(&sha1).connect().await.unwrap();
    builder().pin_thumbprint(&sha1.replace(':', "").to_lowercase()).connect().await.unwrap();
    builder().pin_thumbprint(&sim.thumbprint_sha256().unwrap()).connect().await.unwrap();
    builder().danger_accept_invalid_certificates(true).connect().await.unwrap();

    let error = builder().pin_thumbprint("xyz").connect().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
    let error = builder().add_ca_pem("not a pem").connect().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn unreachable_servers_say_why() {
    let connect = |url: String| async move {
        Client::builder(&url).credentials("u", "p").retry(RetryPolicy::none()).connect().await.unwrap_err()
    };
    // Nothing listens: refused, with the address.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let error = connect(format!("http://127.0.0.1:{port}")).await;
    assert_eq!(error.kind(), ErrorKind::Transport);
    let text = error.to_string().to_lowercase();
    assert!(text.contains("refused") && text.contains(&format!("127.0.0.1:{port}")), "{error}");

    // The wrong scheme either way round.
    let tls = Simulator::start(SimConfig::default()).await.unwrap();
    let error = connect(tls.url().replace("https://", "http://")).await;
    assert!(error.to_string().contains("try https://"), "{error}");
    let plain = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
    let error = connect(plain.url().replace("http://", "https://")).await;
    assert!(error.to_string().contains("try http://"), "{error}");
}

/// Every SDK future can be spawned onto a multi-threaded runtime.
#[allow(dead_code, clippy::let_underscore_future)]
fn futures_are_send(client: Client, session: cl_sdk::DownloadSession, update: cl_sdk::UpdateSession) {
    fn send<T: Send>(_: T) {}
    send(client.library_ids());
    send(client.create_session::<cl_sdk::Update>(&cl_sdk::ItemId::new("x")));
    send(session.wait_prepared("f", Duration::from_secs(1)));
    send(update.wait_done(Duration::from_secs(1)));
    send(client.download_item(&cl_sdk::ItemId::new("x"), std::path::Path::new("/tmp"), Default::default()));
    send(client.upload_item(&cl_sdk::ItemId::new("x"), Vec::new(), Default::default()));
}
