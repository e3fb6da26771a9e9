//! Upload a file into a new item and download it back, against the simulator.
//!
//! `cargo run -p cl-sdk --example round_trip` (no vCenter needed: the simulator runs in-process;
//! point `Client::builder` at a real vCenter to do the same there).

use cl_sdk::Client;
use cl_sdk::transfer::{DownloadOptions, UploadFile, UploadOptions};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let sim = cl_sim::Simulator::start(cl_sim::SimConfig::default()).await?;
    let client = Client::builder(sim.url())
        .credentials(sim.username(), sim.password())
        .add_ca_pem(sim.ca_pem().expect("the simulator serves HTTPS"))
        .connect()
        .await?;
    println!("logged in as {} over {}", client.session_user().await?, client.dialect());

    let work = tempfile::tempdir()?;
    let source = work.path().join("notes.txt");
    std::fs::write(&source, "content library round trip\n")?;
    let library = client.create_local_library("examples", &cl_sdk::DatastoreId::new(cl_sim::DATASTORE_ID)).await?;
    let upload = client
        .upload_new_item(
            &library,
            "notes",
            &cl_sdk::ItemType::File,
            vec![UploadFile::path(&source)],
            UploadOptions::default(),
        )
        .await?;
    println!("uploaded {} bytes into item {}", upload.bytes(), upload.item_id);

    let dest = work.path().join("out");
    std::fs::create_dir(&dest)?;
    let download = client.download_item(&upload.item_id, &dest, DownloadOptions::default()).await?;
    for file in &download.files {
        println!("downloaded {} ({} bytes, checksum {:?})", file.name, file.size, file.verified_checksum);
    }
    assert_eq!(std::fs::read(dest.join("notes.txt"))?, std::fs::read(&source)?);
    client.logout().await?;
    Ok(())
}
