//! Every operation of the spec's operation table is reachable through the SDK's public API, in
//! both dialects: the simulator records which operation each request resolved to, and a table
//! operation no public method sends fails this test by name.

use std::collections::BTreeSet;
use std::time::Duration;

use cl_api::operation::OperationId;
use cl_sdk::types::*;
use cl_sdk::{Client, Dialect};
use cl_sim::{SimConfig, Simulator};

#[tokio::test]
async fn every_table_operation_is_sent_by_some_public_method() {
    for dialect in [Dialect::Api, Dialect::Rest] {
        let sim = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
        let client = Client::builder(sim.url())
            .credentials(sim.username(), sim.password())
            .dialect(dialect)
            .connect()
            .await
            .unwrap();
        drive(&client, &sim).await;
        let called = sim.operations_called();
        let missing: Vec<&str> =
            OperationId::ALL.iter().filter(|op| !called.contains(op)).map(|op| op.name()).collect();
        assert!(missing.is_empty(), "{dialect}: no public SDK method sends {}", missing.join(", "));
        assert_eq!(called, OperationId::ALL.into_iter().collect::<BTreeSet<_>>());
    }
}

/// Calls every public method that talks to the service once. Results that depend on state
/// (a file the session lacks, a complete with nothing uploaded) are not this test's subject:
/// what counts is that the request went out and the simulator resolved it.
async fn drive(client: &Client, sim: &Simulator) {
    assert!(!client.session_user().await.unwrap().is_empty());
    let datastore = client.datastores(Some(cl_sim::DATASTORE_NAME)).await.unwrap().remove(0).datastore;
    let library = client.create_local_library("reach", &cl_sdk::DatastoreId::new(datastore.as_str())).await.unwrap();
    assert!(client.local_library_ids().await.unwrap().contains(&library));
    assert_eq!(client.local_library(&library).await.unwrap().id.as_deref(), Some(library.as_str()));
    assert!(client.library_ids().await.unwrap().contains(&library));
    assert_eq!(client.library(&library).await.unwrap().name.as_deref(), Some("reach"));
    assert_eq!(client.find_libraries("reach").await.unwrap(), vec![library.clone()]);
    client.update_library(&library, &cl_sdk::Changes::new().description("d")).await.unwrap();

    let item = client.create_item(&library, "one", &cl_sdk::ItemType::File).await.unwrap();
    assert_eq!(client.item_ids(&library).await.unwrap(), vec![item.clone()]);
    assert_eq!(client.find_items(&library, "one").await.unwrap(), vec![item.clone()]);
    assert_eq!(client.item(&item).await.unwrap().name.as_deref(), Some("one"));
    client.update_item(&item, &cl_sdk::Changes::new().description("d")).await.unwrap();

    let update = client.create_session::<cl_sdk::Update>(&item).await.unwrap();
    update.keep_alive(None).await.unwrap();
    update.set_warning_behavior(Vec::new()).await.unwrap();
    let spec = UpdateFileAddSpec {
        name: "a.bin".to_owned(),
        source_type: SourceType::Push,
        size: Some(1),
        checksum_info: None,
        source_endpoint: None,
    };
    update.add_file(&spec).await.unwrap();
    assert_eq!(update.files().await.unwrap().len(), 1);
    assert_eq!(update.file("a.bin").await.unwrap().name, "a.bin");
    let _ = update.validate().await.unwrap();
    update.remove_file("a.bin").await.unwrap();
    assert!(client.sessions::<cl_sdk::Update>(Some(&item)).await.unwrap().contains(&update.id().to_owned()));
    let _ = update.complete().await;
    let _ = update.info().await.unwrap();
    let _ = update.fail("reach").await;
    let _ = update.cancel().await;
    update.delete().await.unwrap();

    let download = client.create_session::<cl_sdk::Download>(&item).await.unwrap();
    download.keep_alive(None).await.unwrap();
    let _ = download.info().await.unwrap();
    assert!(download.files().await.unwrap().is_empty());
    let _ = download.file("a.bin").await.unwrap_err();
    let _ = download.prepare("a.bin").await.unwrap_err();
    assert!(client.sessions::<cl_sdk::Download>(None).await.unwrap().contains(&download.id().to_owned()));
    let _ = download.fail("reach").await;
    let _ = download.cancel().await;
    download.delete().await.unwrap();

    assert!(client.item_files(&item).await.unwrap().is_empty());
    let _ = client.item_file(&item, "a.bin").await.unwrap_err();

    // The simulator subscribes to its own published library (a feed lists items with content).
    sim.seed_item(library.as_str(), "seeded", &[("s.bin", b"seeded")]).await.unwrap();
    let url = client.publish_library(&library, None).await.unwrap();
    let subscription = cl_sdk::Subscription::new(url).on_demand(true);
    let mirror = client
        .create_subscribed_library("mirror", &cl_sdk::DatastoreId::new(datastore.as_str()), &subscription)
        .await
        .unwrap();
    assert_eq!(client.subscribed_library_ids().await.unwrap(), vec![mirror.clone()]);
    assert!(client.subscribed_library(&mirror).await.unwrap().subscription_info.is_some());
    client.sync_library(&mirror).await.unwrap().wait(Duration::from_secs(20), |_| {}).await.unwrap();
    let copy = client.item_ids(&mirror).await.unwrap().remove(0);
    client.sync_item(&copy, true).await.unwrap().wait(Duration::from_secs(20), |_| {}).await.unwrap();
    client.evict_item(&copy).await.unwrap();
    client.evict_library(&mirror).await.unwrap();
    client.delete_subscribed_library(&mirror).await.unwrap();

    client.delete_item(&item).await.unwrap();
    client.delete_local_library(&library).await.unwrap();
    client.logout().await.unwrap();
}
