//! The one retry policy against the simulator's call faults, in both dialects: bursts of 503 and
//! connection resets while a download waits for preparation, while an upload polls its files'
//! state and at session create are survived; creates are not duplicated; calls that are not safe
//! to repeat are not repeated; 4xx are final; the time budget holds.

use std::time::{Duration, Instant};

use cl_sdk::transfer::{DownloadOptions, UploadFile, UploadOptions};
use cl_sdk::{Client, Dialect, ErrorKind, RetryPolicy};
use cl_sim::{CallFault, SimConfig, Simulator};

const BOTH: [Dialect; 2] = [Dialect::Api, Dialect::Rest];

/// Quick pauses so the tests spend no time waiting, attempts enough for a burst of five.
fn quick() -> RetryPolicy {
    RetryPolicy::default().max_attempts(8).backoff(Duration::from_millis(5), Duration::from_millis(20))
}

async fn setup(dialect: Dialect, policy: RetryPolicy) -> (Simulator, Client, cl_sdk::LibraryId) {
    let mut config = SimConfig::default().plain_http();
    config.service.prepare_delay = Duration::from_millis(150);
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::builder(sim.url())
        .credentials(sim.username(), sim.password())
        .dialect(dialect)
        .retry(policy)
        .connect()
        .await
        .unwrap();
    let library = client.create_local_library("lib", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    (sim, client, library)
}

fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

async fn upload(client: &Client, library: &cl_sdk::LibraryId, name: &str, bytes: &[u8]) -> cl_sdk::ItemId {
    let file = UploadFile::reader("data.bin", bytes.len() as u64, std::io::Cursor::new(bytes.to_vec()));
    client
        .upload_new_item(library, name, &cl_sdk::ItemType::File, vec![file], UploadOptions::default())
        .await
        .unwrap()
        .item_id
}

async fn download(client: &Client, item: &cl_sdk::ItemId) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    client.download_item(item, dir.path(), DownloadOptions::default()).await.unwrap();
    std::fs::read(dir.path().join("data.bin")).unwrap()
}

#[tokio::test]
async fn bursts_while_waiting_for_preparation_are_survived() {
    for dialect in BOTH {
        for fault in [CallFault::Status(503), CallFault::Status(502), CallFault::Status(504), CallFault::Reset] {
            let (sim, client, library) = setup(dialect, quick()).await;
            let bytes = content(300_000, 1);
            let item = upload(&client, &library, "item", &bytes).await;
            sim.faults().fail_calls("download_session_file_get", 5, fault);
            assert_eq!(download(&client, &item).await, bytes, "{dialect} {fault:?}");
            let hits = sim.faults().call_faults_hit();
            assert_eq!(hits.len(), 5, "every armed fault was met and survived: {hits:?}");
            assert!(client.sessions::<cl_sdk::Download>(None).await.unwrap().is_empty());
        }
    }
}

#[tokio::test]
async fn bursts_while_an_upload_polls_its_files_are_survived() {
    for dialect in BOTH {
        for fault in [CallFault::Status(503), CallFault::Reset] {
            let (sim, client, library) = setup(dialect, quick()).await;
            let bytes = content(200_000, 2);
            sim.faults().fail_calls("update_session_file_list", 4, fault);
            sim.faults().fail_calls("update_session_get", 3, fault);
            let item = upload(&client, &library, "item", &bytes).await;
            assert_eq!(sim.faults().call_faults_hit().len(), 7, "{dialect} {fault:?}");
            assert_eq!(download(&client, &item).await, bytes);
            assert!(client.sessions::<cl_sdk::Update>(None).await.unwrap().is_empty());
        }
    }
}

#[tokio::test]
async fn a_create_whose_reply_was_lost_is_repeated_without_duplicating() {
    for dialect in BOTH {
        let (sim, client, library) = setup(dialect, quick()).await;
        let item = client.create_item(&library, "item", &cl_sdk::ItemType::File).await.unwrap();

        sim.faults().fail_calls("update_session_create", 1, CallFault::LoseReply);
        let session = client.create_session::<cl_sdk::Update>(&item).await.unwrap();
        assert_eq!(sim.faults().call_faults_hit(), ["update_session_create"]);
        assert_eq!(
            client.sessions::<cl_sdk::Update>(Some(&item)).await.unwrap(),
            [session.id().clone()],
            "{dialect}: one session"
        );
        session.cancel().await.unwrap();
        session.delete().await.unwrap();

        sim.faults().fail_calls("download_session_create", 2, CallFault::LoseReply);
        let session = client.create_session::<cl_sdk::Download>(&item).await.unwrap();
        assert_eq!(
            client.sessions::<cl_sdk::Download>(Some(&item)).await.unwrap(),
            [session.id().clone()],
            "{dialect}: one session"
        );
        session.delete().await.unwrap();

        // Items and libraries are created with client tokens too.
        sim.faults().fail_calls("item_create", 1, CallFault::LoseReply);
        let second = client.create_item(&library, "second", &cl_sdk::ItemType::File).await.unwrap();
        assert_eq!(client.item_ids(&library).await.unwrap().len(), 2, "{dialect}: {item} and {second} only");

        // A refused create (503: nothing was made) is repeated as well.
        sim.faults().fail_calls("update_session_create", 3, CallFault::Status(503));
        let session = client.create_session::<cl_sdk::Update>(&item).await.unwrap();
        assert_eq!(client.sessions::<cl_sdk::Update>(Some(&item)).await.unwrap(), [session.id().clone()]);
        session.cancel().await.unwrap();
    }
}

#[tokio::test]
async fn calls_not_safe_to_repeat_are_repeated_only_when_the_server_did_not_act() {
    for dialect in BOTH {
        let (sim, client, library) = setup(dialect, quick()).await;
        let item = client.create_item(&library, "item", &cl_sdk::ItemType::File).await.unwrap();

        // A reset leaves the outcome unknown: complete is not repeated.
        let session = client.create_session::<cl_sdk::Update>(&item).await.unwrap();
        sim.faults().fail_calls("update_session_complete", 1, CallFault::Reset);
        let error = session.complete().await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Transport, "{dialect}: {error}");
        assert_eq!(error.operation(), Some("update_session_complete"));
        assert_eq!(sim.faults().call_faults_hit(), ["update_session_complete"]);
        session.cancel().await.unwrap();

        // So is a lost reply: the server completed, and the client was told it does not know.
        let session = client.create_session::<cl_sdk::Update>(&item).await.unwrap();
        sim.faults().fail_calls("update_session_complete", 1, CallFault::LoseReply);
        assert_eq!(session.complete().await.unwrap_err().kind(), ErrorKind::Transport);
        let hits = sim.faults().call_faults_hit();
        assert_eq!(hits.iter().filter(|h| *h == "update_session_complete").count(), 2, "no third try");

        // A 503 proves the server did not act: then even complete is repeated.
        let session = client.create_session::<cl_sdk::Update>(&item).await.unwrap();
        sim.faults().fail_calls("update_session_complete", 2, CallFault::Status(503));
        session.complete().await.unwrap();

        // Deletes after a reset are not repeated either.
        sim.faults().fail_calls("update_session_delete", 1, CallFault::Reset);
        assert_eq!(session.delete().await.unwrap_err().kind(), ErrorKind::Transport);
    }
}

#[tokio::test]
async fn client_errors_are_final_and_429_is_not() {
    for dialect in BOTH {
        let (sim, client, _library) = setup(dialect, quick()).await;
        for status in [400, 403, 404, 409] {
            sim.faults().fail_calls("library_list", 3, CallFault::Status(status));
            let error = client.library_ids().await.unwrap_err();
            assert_eq!(error.status(), Some(status), "{dialect}: {error}");
            assert!(!error.is_retryable());
            // One attempt only: the two armed faults left are consumed by the next calls.
            assert!(client.library_ids().await.is_err());
            assert!(client.library_ids().await.is_err());
            client.library_ids().await.unwrap();
        }
        sim.faults().fail_calls("library_list", 3, CallFault::Status(429));
        client.library_ids().await.unwrap();
    }
}

#[tokio::test]
async fn attempts_and_the_time_budget_bound_every_call() {
    let policy = RetryPolicy::default().max_attempts(3).backoff(Duration::from_millis(5), Duration::from_millis(5));
    let (sim, client, _library) = setup(Dialect::Api, policy).await;
    sim.faults().fail_calls("library_list", 100, CallFault::Status(503));
    let error = client.library_ids().await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::ServiceUnavailable);
    assert_eq!(sim.faults().call_faults_hit().len(), 3, "max_attempts(3)");

    let budget = Duration::from_millis(600);
    let policy = RetryPolicy::default()
        .max_attempts(1000)
        .backoff(Duration::from_millis(50), Duration::from_millis(50))
        .jitter(false)
        .budget(budget);
    let (sim, client, _library) = setup(Dialect::Rest, policy).await;
    sim.faults().fail_calls("library_list", 1000, CallFault::Status(503));
    let started = Instant::now();
    let error = client.library_ids().await.unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(error.kind(), ErrorKind::ServiceUnavailable);
    let attempts = sim.faults().call_faults_hit().len();
    // 50 ms pauses in a 600 ms budget: no more than 12 attempts, however fast the machine.
    assert!((2..=12).contains(&attempts), "{attempts} attempts");
    // No pause starts that would end past the budget (slack only for the last request itself).
    assert!(elapsed < budget + Duration::from_secs(2), "{elapsed:?}");
}

#[tokio::test]
async fn an_expired_api_session_mid_retry_is_renewed_once() {
    let (sim, client, _library) = setup(Dialect::Api, quick()).await;
    sim.faults().fail_calls("library_list", 2, CallFault::Status(503));
    sim.expire_api_sessions();
    client.library_ids().await.unwrap();
    assert_eq!(sim.faults().call_faults_hit(), ["library_list", "library_list"]);
}

#[tokio::test]
async fn a_stalled_download_is_resumed_after_the_stall_timeout() {
    let mut config = SimConfig::default().plain_http();
    config.service.prepare_delay = Duration::from_millis(20);
    let sim = Simulator::start(config).await.unwrap();
    let client = Client::builder(sim.url())
        .credentials(sim.username(), sim.password())
        .retry(quick())
        .stall_timeout(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    let library = client.create_local_library("lib", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await.unwrap();
    let bytes = content(1 << 20, 3);
    let item = upload(&client, &library, "item", &bytes).await;
    // Silence for 5 s after 100 KiB: far past the stall timeout.
    sim.faults().stall_next_transfer(100 << 10, Duration::from_secs(5));
    let dir = tempfile::tempdir().unwrap();
    let started = Instant::now();
    let report = client.download_item(&item, dir.path(), DownloadOptions::default()).await.unwrap();
    assert_eq!(std::fs::read(dir.path().join("data.bin")).unwrap(), bytes);
    assert_eq!(report.files[0].retries, 1, "resumed once");
    assert!(started.elapsed() < Duration::from_secs(5), "did not sit out the stall: {:?}", started.elapsed());
}

/// A server whose API sessions stop working after every call is logged in to a bounded number of
/// times, not once per call: past the budget, calls end with a clear authentication error.
#[tokio::test]
async fn a_server_whose_sessions_never_last_gets_a_bounded_number_of_logins() {
    let (sim, client, _library) = setup(Dialect::Api, quick()).await;
    let before = sim.requests_served();
    let stop = std::sync::atomic::AtomicBool::new(false);
    let expire = async {
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            sim.expire_api_sessions();
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    };
    let calls = async {
        let mut errors = Vec::new();
        for _ in 0..40 {
            if let Err(e) = client.library_ids().await {
                errors.push(e);
            }
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        errors
    };
    let (errors, ()) = tokio::join!(calls, expire);
    let requests = sim.requests_served() - before;
    // 40 calls, at most 5 re-logins each followed by one repeat of the call.
    assert!(requests <= 40 + 2 * 5, "{requests} requests: the logins were not bounded");
    let last = errors.last().expect("calls failed once the budget was spent");
    assert_eq!(last.kind(), ErrorKind::Unauthenticated, "{last}");
    assert!(last.to_string().contains("not logging in again"), "{last}");
}

/// A server whose sessions last one call each: once the re-login budget is spent the run stops,
/// says the server ends its sessions (every login succeeded), and still deletes what it made,
/// logging in once more to do so.
#[tokio::test]
async fn single_use_sessions_end_the_run_cleanly_and_are_not_blamed_on_credentials() {
    let (sim, client, library) = setup(Dialect::Api, quick()).await;
    let item = upload(&client, &library, "item", &[7u8; 3000]).await;
    sim.faults().single_use_sessions(true);
    let dir = tempfile::tempdir().unwrap();
    let error = client.download_item(&item, dir.path(), DownloadOptions::default()).await.unwrap_err();
    assert_eq!(error.kind(), ErrorKind::Unauthenticated, "{error}");
    assert_eq!(error.detail(), Some(&cl_sdk::Detail::SessionsEnd), "{error}");
    assert!(error.to_string().contains("every login succeeded"), "{error}");
    // The upload side, with a budget of its own: a created item is deleted again.
    let builder = Client::builder(sim.url()).credentials(sim.username(), sim.password()).retry(quick());
    let client = builder.connect().await.unwrap();
    let file = UploadFile::reader("x.bin", 10, std::io::Cursor::new(vec![1u8; 10]));
    let error =
        client.upload_new_item(&library, "fresh", &cl_sdk::ItemType::File, vec![file], UploadOptions::default()).await;
    assert_eq!(error.unwrap_err().kind(), ErrorKind::Unauthenticated);
    sim.faults().clear();
    let checker = Client::builder(sim.url()).credentials(sim.username(), sim.password()).connect().await.unwrap();
    assert!(checker.sessions::<cl_sdk::Download>(None).await.unwrap().is_empty(), "the download session was deleted");
    assert!(checker.sessions::<cl_sdk::Update>(None).await.unwrap().is_empty(), "the update session was deleted");
    assert!(checker.find_items(&library, "fresh").await.unwrap().is_empty(), "the created item was deleted");
}
