//! Move content in and out of vCenter Content Library items.
//!
//! `cl-sdk` is the layer to hold: a [`Client`] that logs in (either wire dialect, detected on
//! its own), typed ids ([`LibraryId`], [`ItemId`], [`SessionId`]) the compiler keeps apart, typed
//! [`Error`]s you can `match`, handles on download and update sessions with waiters, and helpers
//! to find libraries and items by name. Every API call takes one path: the
//! dialect's request, error decoding, re-login when the API session expired, and retries under
//! one [`RetryPolicy`]. It builds on the generated bindings in [`api`] (`cl-api`), which stay
//! reachable through [`Client::raw`].
//!
//! # Log in
//!
//! ```no_run
//! # async fn demo() -> cl_sdk::Result<()> {
//! let client = cl_sdk::Client::builder("https://vcenter.example.com")
//!     .credentials("administrator@vsphere.local", "secret")
//!     .pin_thumbprint("AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD")
//!     .connect()
//!     .await?;
//! println!("{} over {}", client.session_user().await?, client.dialect());
//! # Ok(()) }
//! ```
//!
//! # Look at an item's files through a download session
//!
//! ```no_run
//! # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
//! use std::time::Duration;
//! let library = client.find_library("templates").await?;
//! let item = client.find_item(&library, "photon-5").await?;
//! let session = client.create_session::<cl_sdk::Download>(&item).await?;
//! for file in session.files().await? {
//!     session.prepare(&file.name).await?;
//!     let ready = session.wait_prepared(&file.name, Duration::from_secs(600)).await?;
//!     println!("{} at {}", file.name, ready.download_endpoint.unwrap().uri);
//! }
//! session.delete().await?;
//! # Ok(()) }
//! ```
//!
//! # Download an item to a folder
//!
//! ```no_run
//! # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
//! use cl_sdk::transfer::DownloadOptions;
//! let library = client.find_library("templates").await?;
//! let item = client.find_item(&library, "photon-5").await?;
//! let report = client.download_item(&item, "/var/tmp/photon", DownloadOptions::default()).await?;
//! println!("{} files, {} bytes, all verified", report.files.len(), report.bytes());
//! # Ok(()) }
//! ```
//!
//! # Upload files into a new item
//!
//! ```no_run
//! # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
//! use cl_sdk::ItemType;
//! use cl_sdk::transfer::{UploadFile, UploadOptions};
//! let library = client.find_library("templates").await?;
//! let files = vec![UploadFile::path("build/appliance.ovf"), UploadFile::path("build/disk-0.vmdk")];
//! let options = UploadOptions::default();
//! let report = client.upload_new_item(&library, "appliance", &ItemType::Ovf, files, options).await?;
//! println!("item {} now holds {} bytes", report.item_id, report.bytes());
//! # Ok(()) }
//! ```
//!
//! # Handle errors by kind
//!
//! ```no_run
//! # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
//! use cl_sdk::{ErrorKind, Update};
//! match client.create_session::<Update>(&item).await {
//!     Ok(session) => println!("session {}", session.id()),
//!     Err(e) if e.kind() == ErrorKind::ResourceBusy => println!("someone else is updating it"),
//!     Err(e) => eprintln!("{}", e.report()), // the message, the operation and every cause
//! }
//! # Ok(()) }
//! ```

#![deny(missing_docs)]

mod client;
mod error;
mod feed;
pub mod id;
mod library;
mod origin;
pub mod preflight;
pub mod publish;
mod retry;
mod session;
mod subscription;
pub mod transfer;
mod wire;

pub use cl_api as api;
pub use cl_api::Dialect;
pub use cl_api::types;
pub use client::{Client, ClientBuilder};
pub use error::{Detail, Error, ErrorKind, Result};
pub use id::{DatastoreId, DownloadSessionId, Id, ItemId, ItemType, LibraryId, SessionId, UpdateSessionId};
pub use library::{Changes, Listing};
pub use origin::redact as redact_url;
pub use retry::RetryPolicy;
pub use session::{Download, DownloadSession, Session, SessionKind, Update, UpdateSession};
pub use subscription::{Subscription, SyncHandle, SyncProgress};
