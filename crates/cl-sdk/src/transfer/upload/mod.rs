//! Upload files into an item through an update session: checksummed, streamed, all or nothing.
//!
//! `plan` checks and orders the files before the server is touched, `manifest` checks OVF
//! manifests against them, `send` adds and streams them on the one runner, `commit` validates and
//! completes the session (or fails it).

use std::path::Path;
use std::time::{Duration, Instant};

use cl_api::types::*;
use tokio::io::AsyncRead;

use super::source::LocalSource;
use super::url_source::SourceTrust;
use super::{Checksum, Common};
use crate::client::Client;
use crate::error::Result;
use crate::id::{ItemId, ItemType, LibraryId};
use crate::session::UpdateSession;

mod commit;
pub(crate) mod manifest;
mod plan;
mod send;

use commit::abandon;
pub(crate) use plan::{Bytes, Planned, check_names, in_service_order};
use plan::{Given, plan};
use send::UploadJob;

/// One file to upload: from a path, a reader, or a URL the server pulls from.
///
/// ```
/// use cl_sdk::transfer::UploadFile;
/// use cl_sdk::types::ChecksumAlgorithm;
/// let iso = UploadFile::path("/images/photon.iso");
/// let ovf = UploadFile::named("app.ovf", "/build/out/appliance.ovf");
/// let declared = UploadFile::path("/images/disk.vmdk").with_checksum(ChecksumAlgorithm::Sha256, "ab12…");
/// let from_memory = UploadFile::reader("notes.txt", 5, std::io::Cursor::new(b"hello".to_vec()));
/// ```
pub struct UploadFile {
    name: String,
    given: Given,
    checksum: Option<ChecksumInfo>,
}

impl std::fmt::Debug for UploadFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.given {
            Given::Path(path) => path.display().to_string(),
            Given::Reader(local) => format!("reader of {} bytes", local.len()),
            Given::Pull(endpoint) => crate::origin::redact(&endpoint.uri),
            Given::Url(url, _) => crate::origin::redact(url),
        };
        f.debug_struct("UploadFile").field("name", &self.name).field("source", &source).finish()
    }
}

impl UploadFile {
    /// The file at `path`, under its own file name. An `.ova` is uploaded member by member.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{UploadFile, UploadOptions};
    /// // A folder is its files; an .ova is its members.
    /// client.upload_item(&item, vec![UploadFile::path("build/photon.ova")], UploadOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub fn path(path: impl AsRef<Path>) -> Self {
        let path = path.as_ref().to_owned();
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Self { name, given: Given::Path(path), checksum: None }
    }

    /// The file at `path`, under another name in the item.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{UploadFile, UploadOptions};
    /// let file = UploadFile::named("photon.iso", "/srv/images/photon-5.0-x86_64.iso");
    /// client.upload_item(&item, vec![file], UploadOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub fn named(name: impl Into<String>, path: impl AsRef<Path>) -> Self {
        Self { name: name.into(), ..Self::path(path) }
    }

    /// `size` bytes read from `reader`. Without a declared checksum, only the size is checked.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{UploadFile, UploadOptions};
    /// let notes = b"built from commit 1a2b3c".to_vec();
    /// let file = UploadFile::reader("notes.txt", notes.len() as u64, std::io::Cursor::new(notes));
    /// client.upload_item(&item, vec![file], UploadOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub fn reader(name: impl Into<String>, size: u64, reader: impl AsyncRead + Send + Unpin + 'static) -> Self {
        Self { name: name.into(), given: Given::Reader(LocalSource::reader(size, reader)), checksum: None }
    }

    /// A file the server fetches itself from `uri` (http or https). Pin the source's certificate
    /// with a thumbprint (vCenter 7/8: SHA-1) or its PEM (vSphere 9+).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{UploadFile, UploadOptions};
    /// let file = UploadFile::pull("photon.iso", "https://images.example.com/photon.iso", None, None);
    /// client.upload_item(&item, vec![file], UploadOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub fn pull(name: impl Into<String>, uri: &str, thumbprint: Option<&str>, certificate_pem: Option<&str>) -> Self {
        let endpoint = TransferEndpoint {
            uri: uri.to_owned(),
            ssl_certificate_thumbprint: thumbprint.map(str::to_owned),
            ssl_certificate: certificate_pem.map(str::to_owned),
        };
        Self { name: name.into(), given: Given::Pull(endpoint), checksum: None }
    }

    /// A file this client fetches from an http(s) `url` and streams into the item (PUSH, nothing
    /// written to local disk), named after the URL's last segment. An `.ova` is split into its
    /// members (their checksums taken from its manifest); an `.ovf` brings the files its
    /// `References` name, beside it. Credentials for the source go in the URL (`user:password@`);
    /// no vCenter credential goes to it.
    ///
    /// ```
    /// use cl_sdk::transfer::{SourceTrust, UploadFile};
    /// let ova = UploadFile::url("https://images.example.com/photon-5.ova", SourceTrust::default());
    /// assert_eq!(ova.name(), "photon-5.ova");
    /// ```
    pub fn url(url: &str, trust: SourceTrust) -> Self {
        let name = reqwest::Url::parse(url).map(|u| super::url_source::file_name(&u)).unwrap_or_default();
        Self { name, given: Given::Url(url.to_owned(), trust), checksum: None }
    }

    /// Declares the file's checksum instead of having it computed; the server checks it.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{UploadFile, UploadOptions};
    /// use cl_sdk::types::ChecksumAlgorithm;
    /// let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    /// let file = UploadFile::path("photon.iso").with_checksum(ChecksumAlgorithm::Sha256, sha);
    /// client.upload_item(&item, vec![file], UploadOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub fn with_checksum(mut self, algorithm: ChecksumAlgorithm, hex: &str) -> Self {
        self.checksum = Some(ChecksumInfo { algorithm: Some(algorithm), checksum: hex.to_owned() });
        self
    }

    /// The name the file gets in the item.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::UploadFile;
    /// assert_eq!(UploadFile::path("build/photon.iso").name(), "photon.iso");
    /// # Ok(()) }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }
}

/// Options of [`Client::upload_item`].
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::{UploadFile, UploadOptions};
/// use cl_sdk::types::ChecksumAlgorithm;
/// let options = UploadOptions::default().checksum(Some(ChecksumAlgorithm::Sha256)).replace(true);
/// client.upload_item(&item, vec![UploadFile::path("photon.iso")], options).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct UploadOptions {
    checksum: Option<ChecksumAlgorithm>,
    ignore_warnings: Vec<WarningType>,
    replace: bool,
    settle_timeout: Duration,
    common: Common,
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            checksum: Some(ChecksumAlgorithm::Sha256),
            ignore_warnings: Vec::new(),
            replace: false,
            settle_timeout: Duration::from_secs(3600),
            common: Common::default(),
        }
    }
}

super::common_setters!(UploadOptions);

impl UploadOptions {
    /// The algorithm of the checksums computed before upload (default SHA-256); `None` sends
    /// sizes only.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{UploadFile, UploadOptions};
    /// use cl_sdk::types::ChecksumAlgorithm;
    /// let options = UploadOptions::default().checksum(Some(ChecksumAlgorithm::Sha512));
    /// client.upload_item(&item, vec![UploadFile::path("photon.iso")], options).await?;
    /// # Ok(()) }
    /// ```
    pub fn checksum(mut self, algorithm: Option<ChecksumAlgorithm>) -> Self {
        self.checksum = algorithm;
        self
    }
    /// Preview warnings of signed content to accept (all others fail the upload before complete).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{UploadFile, UploadOptions};
    /// use cl_sdk::types::WarningType;
    /// let options = UploadOptions::default().ignore_warnings([WarningType::SelfSignedCertificate]);
    /// client.upload_item(&item, vec![UploadFile::path("signed.ova")], options).await?;
    /// # Ok(()) }
    /// ```
    pub fn ignore_warnings(mut self, warnings: impl IntoIterator<Item = WarningType>) -> Self {
        self.ignore_warnings = warnings.into_iter().collect();
        self
    }
    /// Make the item's file set exactly the uploaded files: files the item holds that are not
    /// among them are removed in the same update session (default: kept).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{UploadFile, UploadOptions};
    /// // The item ends up holding exactly these files.
    /// client.upload_item(&item, vec![UploadFile::path("photon.iso")], UploadOptions::default().replace(true)).await?;
    /// # Ok(()) }
    /// ```
    pub fn replace(mut self, replace: bool) -> Self {
        self.replace = replace;
        self
    }
    /// How long the server may take to verify, preview and commit (default 1 h).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// use cl_sdk::transfer::{UploadFile, UploadOptions};
    /// let options = UploadOptions::default().settle_timeout(Duration::from_secs(7200));
    /// client.upload_item(&item, vec![UploadFile::path("big.ova")], options).await?;
    /// # Ok(()) }
    /// ```
    pub fn settle_timeout(mut self, timeout: Duration) -> Self {
        self.settle_timeout = timeout;
        self
    }
}

/// One uploaded file.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::{UploadFile, UploadOptions};
/// let report = client.upload_item(&item, vec![UploadFile::path("photon.iso")], UploadOptions::default()).await?;
/// for file in &report.files {
///     println!("{} {} bytes {:?}", file.name, file.size, file.checksum);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct UploadedFile {
    /// The file's name in the item.
    pub name: String,
    /// Its size as the server received it.
    pub size: u64,
    /// The checksum sent with it, which the server verified, if any.
    pub checksum: Option<Checksum>,
}

/// What an upload did.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::{UploadFile, UploadOptions};
/// let report = client.upload_item(&item, vec![UploadFile::path("photon.iso")], UploadOptions::default()).await?;
/// println!("{}: {} bytes in {:?}", report.item_id, report.bytes(), report.elapsed);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UploadReport {
    /// The item uploaded into.
    pub item_id: ItemId,
    /// Each file as added, in the order they were added.
    pub files: Vec<UploadedFile>,
    /// The preview of signed content, when the server gave one.
    pub preview: Option<PreviewInfo>,
    /// Wall time.
    pub elapsed: Duration,
}

impl UploadReport {
    /// Bytes sent (PULL files count their size as the server reports it).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{UploadFile, UploadOptions};
    /// let report = client.upload_item(&item, vec![UploadFile::path("photon.iso")], UploadOptions::default()).await?;
    /// println!("{} bytes in {:?}", report.bytes(), report.elapsed);
    /// # Ok(()) }
    /// ```
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

impl Client {
    /// Uploads `files` into an existing item in one update session.
    ///
    /// Checksums are computed before the session opens (or taken as declared), files are added
    /// with their size and checksum (OVF manifests and certificates before the descriptor, as
    /// the service requires), streamed concurrently, validated, and the session is completed
    /// and waited on. Signed content's preview warnings fail the upload unless ignored in the
    /// options. On any failure or cancel the session is failed (or canceled) and deleted, so the
    /// item keeps its previous content.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{UploadFile, UploadOptions};
    /// let files = vec![UploadFile::path("build/photon.ovf"), UploadFile::path("build/photon-disk1.vmdk")];
    /// let report = client.upload_item(&item, files, UploadOptions::default().replace(true)).await?;
    /// println!("{} bytes", report.bytes());
    /// # Ok(()) }
    /// ```
    pub async fn upload_item(
        &self,
        item: &ItemId,
        files: Vec<UploadFile>,
        options: UploadOptions,
    ) -> Result<UploadReport> {
        self.upload_files(Destination::Item(item), files, options).await
    }

    /// Creates an item and uploads `files` into it; when the upload fails the new item is
    /// deleted again, so nothing half-made is left in the library.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// use cl_sdk::ItemType;
    /// use cl_sdk::transfer::{UploadFile, UploadOptions};
    /// let files = vec![UploadFile::path("photon.iso")];
    /// let report = client.upload_new_item(&library, "photon-iso", &ItemType::Iso, files, UploadOptions::default()).await?;
    /// println!("new item {}", report.item_id);
    /// # Ok(()) }
    /// ```
    pub async fn upload_new_item(
        &self,
        library: &LibraryId,
        name: &str,
        item_type: &ItemType,
        files: Vec<UploadFile>,
        options: UploadOptions,
    ) -> Result<UploadReport> {
        self.upload_files(Destination::New { library, name, item_type }, files, options).await
    }

    async fn upload_files(
        &self,
        destination: Destination<'_>,
        files: Vec<UploadFile>,
        options: UploadOptions,
    ) -> Result<UploadReport> {
        // Files are checked (and hashed, or looked at) before anything exists on the server.
        let started = Instant::now();
        let mut options = options;
        options.common = options.common.begin();
        options.common.control.check()?;
        let planned = options.common.run(plan(self, files, &options)).await?;
        self.upload_planned(destination, planned, &options, started, None).await
    }

    /// Uploads files already checked and ordered into `destination` through one update session,
    /// which is created with `token` when given (see [`Self::update_session_for`]).
    pub(crate) async fn upload_planned(
        &self,
        destination: Destination<'_>,
        planned: Vec<Planned>,
        options: &UploadOptions,
        started: Instant,
        token: Option<&str>,
    ) -> Result<UploadReport> {
        let item_id = match destination {
            Destination::Item(id) => return self.upload_into(id, planned, options, started, token).await,
            Destination::New { library, name, item_type } => self.create_item(library, name, item_type).await?,
        };
        let result = self.upload_into(&item_id, planned, options, started, token).await;
        if result.is_err()
            && let Err(e) = self.delete_item(&item_id).await
        {
            tracing::warn!(item = %item_id, error = %e, "could not delete the item created for a failed upload");
        }
        result
    }

    async fn upload_into(
        &self,
        item_id: &ItemId,
        planned: Vec<Planned>,
        options: &UploadOptions,
        started: Instant,
        token: Option<&str>,
    ) -> Result<UploadReport> {
        let removals: Vec<String> = if options.replace {
            let kept: Vec<&str> = planned.iter().map(|p| p.name.as_str()).collect();
            let files = self.item_files(item_id).await?;
            files.into_iter().map(|f| f.name).filter(|name| !kept.contains(&name.as_str())).collect()
        } else {
            Vec::new()
        };
        let session = self.update_session_for(item_id, token).await?;
        let job = UploadJob { client: self, session, options };
        let result = options.common.run(job.run(planned, &removals)).await;
        let session = job.session;
        match result {
            Ok((files, preview)) => {
                if let Err(e) = session.delete().await {
                    tracing::warn!(session = %session.id(), error = %e, "could not delete the finished update session");
                }
                self.check_committed(item_id, &files).await?;
                Ok(UploadReport { item_id: item_id.clone(), files, preview, elapsed: started.elapsed() })
            }
            Err(error) => {
                abandon(&session, &error).await;
                Err(error)
            }
        }
    }

    /// After complete, the item must list each file sent, at the size it was sent: a server's
    /// DONE is not proof either. Only OVF manifests and certificates, which the service consumes,
    /// may be missing from the list.
    async fn check_committed(&self, item_id: &ItemId, sent: &[UploadedFile]) -> Result<()> {
        let listed = self.item_files(item_id).await?;
        for file in sent {
            let lower = file.name.to_ascii_lowercase();
            let consumed = lower.ends_with(".mf") || lower.ends_with(".cert");
            let problem = match listed.iter().find(|f| f.name == file.name) {
                None if consumed => continue,
                None => "does not list it".to_owned(),
                Some(f) => match f.size {
                    Some(size) if size != file.size as i64 => format!("reports it with {size} bytes"),
                    _ => continue,
                },
            };
            return Err(crate::error::Error::verification(
                &file.name,
                format!(
                    "after the upload the item {problem}; {} bytes of {} were sent: its content is not what was \
                     uploaded",
                    file.size, file.name
                ),
            ));
        }
        Ok(())
    }

    /// An update session for `item_id`. With a `token` that names the transfer (the same
    /// transfer run again gives the same token), a session an interrupted run of it left
    /// ACTIVE, which would keep the item busy until it expires, is found through the token,
    /// ended and replaced; a fresh session is used as it is.
    async fn update_session_for(&self, item_id: &ItemId, token: Option<&str>) -> Result<UpdateSession> {
        let Some(token) = token else { return self.create_session(item_id).await };
        let session: UpdateSession = self.create_session_with_token(item_id, token).await?;
        let active = matches!(session.info().await, Ok(info) if info.state == Some(UpdateSessionState::Active));
        if active && session.files().await.is_ok_and(|files| files.is_empty()) {
            return Ok(session);
        }
        tracing::info!(session = %session.id(), "ending the update session an interrupted run of this transfer left");
        let _ = session.cancel().await;
        let _ = session.delete().await;
        self.create_session(item_id).await
    }
}

/// Where an upload's files go.
pub(crate) enum Destination<'a> {
    /// An existing item.
    Item(&'a ItemId),
    /// An item created for them, deleted again when the upload fails.
    New { library: &'a LibraryId, name: &'a str, item_type: &'a ItemType },
}

impl UploadOptions {
    /// The options of a copy's upload: checksums come declared with the files.
    pub(crate) fn declared(
        replace: bool,
        ignore_warnings: Vec<WarningType>,
        settle_timeout: Duration,
        common: Common,
    ) -> Self {
        Self { checksum: None, ignore_warnings, replace, settle_timeout, common }
    }
}
