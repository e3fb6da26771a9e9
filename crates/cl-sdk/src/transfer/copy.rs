//! Copy an item, or every item of a library, from one server to another (or within one): each
//! file streams from the source's download endpoint into the destination's upload endpoint, with
//! no local staging. The source's checksum is declared to the destination, which verifies it,
//! and checked while the bytes pass; an item that already holds the same files is left alone.

use std::time::{Duration, Instant};

use cl_api::types::{ChecksumAlgorithm, ChecksumInfo, ItemFileInfo, ItemModel, WarningType};
use futures_util::{StreamExt, stream};
use sha2::Digest;
use tokio::sync::OnceCell;

use super::source::ItemFileSource;
use super::upload::{Bytes, Destination, Planned, check_names, in_service_order};
use super::{Common, UploadOptions, UploadedFile};
use crate::client::Client;
use crate::error::{Detail, Error, ErrorKind, Result};
use crate::id::{ItemId, ItemType, LibraryId};
use crate::session::Download;

/// Options of [`Client::copy_item`] and [`Client::copy_library`].
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId, to: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::CopyOptions;
/// let options = CopyOptions::default().create(true).replace(true).concurrency(2);
/// client.copy_item(&item, &to, &library, options).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct CopyOptions {
    name: Option<String>,
    create: bool,
    replace: bool,
    ignore_warnings: Vec<WarningType>,
    prepare_timeout: Duration,
    settle_timeout: Duration,
    items_at_once: usize,
    common: Common,
}

impl Default for CopyOptions {
    fn default() -> Self {
        Self {
            name: None,
            create: false,
            replace: false,
            ignore_warnings: Vec::new(),
            prepare_timeout: Duration::from_secs(3600),
            settle_timeout: Duration::from_secs(3600),
            items_at_once: 2,
            common: Common::default(),
        }
    }
}

super::common_setters!(CopyOptions);

impl CopyOptions {
    /// The destination item's name, when it is not the source's ([`Client::copy_item`] only: a
    /// library copy keeps every item's name, and refuses this option).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId, to: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::CopyOptions;
    /// let options = CopyOptions::default().name("photon-5-prod").create(true);
    /// client.copy_item(&item, &to, &library, options).await?;
    /// # Ok(()) }
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }
    /// Create destination items that do not exist (removed again when their copy fails).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId, to: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::CopyOptions;
    /// client.copy_item(&item, &to, &library, CopyOptions::default().create(true)).await?;
    /// # Ok(()) }
    /// ```
    pub fn create(mut self, create: bool) -> Self {
        self.create = create;
        self
    }
    /// Make each destination item's file set exactly the source's: files it holds that the
    /// source item does not are removed in the same update session (default: kept).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId, to: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::CopyOptions;
    /// client.copy_item(&item, &to, &library, CopyOptions::default().replace(true)).await?;
    /// # Ok(()) }
    /// ```
    pub fn replace(mut self, replace: bool) -> Self {
        self.replace = replace;
        self
    }
    /// Preview warnings of signed content to accept at the destination.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId, to: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::CopyOptions;
    /// use cl_sdk::types::WarningType;
    /// let options = CopyOptions::default().ignore_warnings([WarningType::ExpiredCertificate]);
    /// client.copy_item(&item, &to, &library, options).await?;
    /// # Ok(()) }
    /// ```
    pub fn ignore_warnings(mut self, warnings: impl IntoIterator<Item = WarningType>) -> Self {
        self.ignore_warnings = warnings.into_iter().collect();
        self
    }
    /// How long the source may take to prepare a file (default 1 h).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId, to: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// use cl_sdk::transfer::CopyOptions;
    /// let options = CopyOptions::default().prepare_timeout(Duration::from_secs(7200));
    /// client.copy_item(&item, &to, &library, options).await?;
    /// # Ok(()) }
    /// ```
    pub fn prepare_timeout(mut self, timeout: Duration) -> Self {
        self.prepare_timeout = timeout;
        self
    }
    /// How long the destination may take to verify and commit (default 1 h).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId, to: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// use cl_sdk::transfer::CopyOptions;
    /// let options = CopyOptions::default().settle_timeout(Duration::from_secs(7200));
    /// client.copy_item(&item, &to, &library, options).await?;
    /// # Ok(()) }
    /// ```
    pub fn settle_timeout(mut self, timeout: Duration) -> Self {
        self.settle_timeout = timeout;
        self
    }
    /// How many items of a library copy move at once (default 2; each moves `concurrency`
    /// files at once).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId, to: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::CopyOptions;
    /// let from = client.find_library("templates").await?;
    /// let copies = client.copy_library(&from, &to, &library, CopyOptions::default().items_at_once(4)).await?;
    /// println!("{} items", copies.len());
    /// # Ok(()) }
    /// ```
    pub fn items_at_once(mut self, items: usize) -> Self {
        self.items_at_once = items.max(1);
        self
    }
}

/// What happened to one item.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId, to: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::{CopyOptions, CopyOutcome};
/// let report = client.copy_item(&item, &to, &library, CopyOptions::default()).await?;
/// if report.outcome == CopyOutcome::UpToDate {
///     println!("nothing sent");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CopyOutcome {
    /// Its files were sent.
    Copied,
    /// The destination already held the same file names, sizes and checksums: nothing was sent
    /// and its content version did not change.
    UpToDate,
}

/// What copying one item did.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId, to: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::CopyOptions;
/// let report = client.copy_item(&item, &to, &library, CopyOptions::default()).await?;
/// println!("{} -> {} ({}), {} bytes", report.source_item, report.item_id, report.name, report.bytes());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct CopyReport {
    /// The source item.
    pub source_item: ItemId,
    /// The destination item's name (the source's, unless [`CopyOptions::name`] gave another).
    pub name: String,
    /// The destination item.
    pub item_id: ItemId,
    /// Copied, or already up to date.
    pub outcome: CopyOutcome,
    /// The files sent, with the checksum the destination verified (none when up to date).
    pub files: Vec<UploadedFile>,
    /// Wall time.
    pub elapsed: Duration,
}

impl CopyReport {
    /// Bytes sent.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId, to: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::CopyOptions;
    /// let report = client.copy_item(&item, &to, &library, CopyOptions::default()).await?;
    /// println!("{} bytes", report.bytes());
    /// # Ok(()) }
    /// ```
    pub fn bytes(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// One item of a library copy: its report, or why it failed.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId, to: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::CopyOptions;
/// let from = client.find_library("templates").await?;
/// let failed = client.copy_library(&from, &to, &library, CopyOptions::default()).await?.into_iter().filter(|c| c.result.is_err()).count();
/// println!("{failed} failed");
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub struct ItemCopy {
    /// The source item.
    pub source_item: ItemId,
    /// Its name.
    pub name: String,
    /// What copying it did, or why it failed.
    pub result: Result<CopyReport>,
}

impl Client {
    /// Copies `item` of this server into `library` of `to` (which may be this same client), as
    /// the item of the same name (or [`CopyOptions::name`]): created when missing and
    /// [`CopyOptions::create`] allows, left alone when it already holds the same files.
    ///
    /// ```no_run
    /// # async fn demo(lab: cl_sdk::Client, prod: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{CopyOptions, CopyOutcome};
    /// let item = lab.find_item(&lab.find_library("templates").await?, "photon-5").await?;
    /// let library = prod.find_library("templates").await?;
    /// let report = lab.copy_item(&item, &prod, &library, CopyOptions::default().create(true)).await?;
    /// if report.outcome == CopyOutcome::UpToDate {
    ///     println!("nothing to send");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn copy_item(
        &self,
        item: &ItemId,
        to: &Client,
        library: &LibraryId,
        options: CopyOptions,
    ) -> Result<CopyReport> {
        let model = self.item(item).await?;
        self.copy_one(item, model, to, library, options).await
    }

    /// Copies `item_id`, whose model the caller fetched.
    async fn copy_one(
        &self,
        item_id: &ItemId,
        model: ItemModel,
        to: &Client,
        library_id: &LibraryId,
        options: CopyOptions,
    ) -> Result<CopyReport> {
        let started = Instant::now();
        let mut options = options;
        options.common = options.common.begin();
        options.common.control.check()?;
        let name = options.name.clone().or_else(|| model.name.clone()).filter(|n| !n.is_empty()).ok_or_else(|| {
            Error::new(ErrorKind::Decode, format!("the source item {item_id} has no name to copy it under"))
        })?;
        let files = self.item_files(item_id).await?;
        let existing = match to.find_items(library_id, &name).await?.as_slice() {
            [] => None,
            [one] => Some(one.clone()),
            many => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    format!("the destination library holds {} items named {name:?}; copy into one by id", many.len()),
                ));
            }
        };
        let source_item = item_id.clone();
        let report = |item_id: ItemId, outcome, files| CopyReport {
            source_item: source_item.clone(),
            name: name.clone(),
            item_id,
            outcome,
            files,
            elapsed: started.elapsed(),
        };
        if existing.as_ref() == Some(item_id) && to.url() == self.url() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!("{name:?} is both the source and the destination"),
            ));
        }
        if let Some(dest) = &existing
            && up_to_date(&files, &to.item_files(dest).await?, options.replace)
        {
            return Ok(report(dest.clone(), CopyOutcome::UpToDate, Vec::new()));
        }
        if existing.is_none() && !options.create {
            return Err(Error::new(
                ErrorKind::NotFound,
                format!("the destination library has no item {name:?}, and creating it was not asked for"),
            )
            .with(Detail::MissingItem(name.clone())));
        }
        let session = self.create_session::<Download>(item_id).await?;
        let result = async {
            let _keep_alive = options.common.keep_alive(&session);
            let mut planned = Vec::new();
            for file in files {
                let size = super::required_size(file.size, &file.name, "the destination needs it")?;
                let source = ItemFileSource {
                    session: session.clone(),
                    name: file.name.clone(),
                    size,
                    checksum: file.checksum_info.clone(),
                    prepare_timeout: options.prepare_timeout,
                    prepared: OnceCell::new(),
                };
                planned.push(Planned {
                    name: file.name,
                    bytes: Bytes::Remote(Box::new(source)),
                    size: Some(size),
                    checksum: file.checksum_info,
                    // The source checks its bytes against the source server's checksum.
                    claimed: false,
                    hash_later: None,
                });
            }
            check_names(&planned)?;
            in_service_order(&mut planned);
            let upload = UploadOptions::declared(
                options.replace,
                options.ignore_warnings.clone(),
                options.settle_timeout,
                options.common.clone(),
            );
            let item_type = ItemType::from_api(model.type_.as_deref());
            let destination = match &existing {
                Some(id) => Destination::Item(id),
                None => Destination::New { library: library_id, name: &name, item_type: &item_type },
            };
            let token = session_token(self, item_id, &model.content_version, to, library_id, &name);
            to.upload_planned(destination, planned, &upload, started, Some(&token)).await
        }
        .await;
        if let Err(e) = session.delete().await {
            tracing::warn!(session = %session.id(), error = %e, "could not delete the source's download session");
        }
        let uploaded = result?;
        Ok(report(uploaded.item_id, CopyOutcome::Copied, uploaded.files))
    }

    /// Copies every item of `library` into `to_library` of `to`, a few items at once
    /// ([`CopyOptions::items_at_once`]); items already up to date cost a listing each. One
    /// item's failure does not stop the others: each has its own result.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId, to: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::CopyOptions;
    /// let from = client.find_library("templates").await?;
    /// for copy in client.copy_library(&from, &to, &library, CopyOptions::default().create(true)).await? {
    ///     match copy.result {
    ///         Ok(report) => println!("{}: {:?}", copy.name, report.outcome),
    ///         Err(e) => println!("{}: {}", copy.name, e.report()),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn copy_library(
        &self,
        library: &LibraryId,
        to: &Client,
        to_library: &LibraryId,
        options: CopyOptions,
    ) -> Result<Vec<ItemCopy>> {
        if options.name.is_some() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "a library copy keeps each item's name; CopyOptions::name is for copy_item",
            ));
        }
        // One deadline for the whole library.
        let mut options = options;
        options.common = options.common.begin();
        let items = self.item_ids(library).await?;
        let copies = items.into_iter().map(|item| {
            // Each item has its own progress; cancel and deadline are shared.
            let options = options.clone().control(options.common.control.child());
            async move {
                let (name, result) = match self.item(&item).await {
                    Ok(model) => {
                        let name = model.name.clone().unwrap_or_default();
                        (name, self.copy_one(&item, model, to, to_library, options).await)
                    }
                    Err(e) => (String::new(), Err(e)),
                };
                ItemCopy { source_item: item, name, result }
            }
        });
        Ok(stream::iter(copies).buffered(options.items_at_once).collect().await)
    }
}

/// Whether `dest` already holds `source`'s files: the same names, sizes and checksums (a file
/// without a checksum on either side is never taken as equal), and with `replace` nothing more.
fn up_to_date(source: &[ItemFileInfo], dest: &[ItemFileInfo], replace: bool) -> bool {
    let same = |s: &ItemFileInfo| {
        dest.iter().any(|d| {
            let sums = match (&s.checksum_info, &d.checksum_info) {
                (Some(a), Some(b)) => {
                    // The service's default algorithm is SHA-1.
                    let algorithm = |s: &ChecksumInfo| s.algorithm.clone().unwrap_or(ChecksumAlgorithm::Sha1);
                    algorithm(a) == algorithm(b)
                        && !a.checksum.trim().is_empty()
                        && a.checksum.trim().eq_ignore_ascii_case(b.checksum.trim())
                }
                _ => false,
            };
            d.name == s.name && d.size == s.size && s.size.is_some() && sums
        })
    };
    !source.is_empty() && source.iter().all(same) && (!replace || dest.len() == source.len())
}

/// The client token of a copy's update session: the same copy (source server, item and content
/// version; destination server, library and name) run again gives the same token, so a session an
/// interrupted run left behind can be found and ended (see `Client::update_session_for`).
fn session_token(
    from: &Client,
    item_id: &ItemId,
    version: &Option<String>,
    to: &Client,
    library_id: &LibraryId,
    name: &str,
) -> String {
    let text = format!("{}\n{item_id}\n{version:?}\n{}\n{library_id}\n{name}", from.url(), to.url());
    format!("cl-copy-{}", hex::encode(&sha2::Sha256::digest(text.as_bytes())[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: i64, sum: Option<&str>) -> ItemFileInfo {
        serde_json::from_value(serde_json::json!({
            "name": name,
            "size": size,
            "cached": true,
            "version": "1",
            "checksum_info": sum.map(|s| ChecksumInfo { algorithm: Some(ChecksumAlgorithm::Sha1), checksum: s.into() }),
        }))
        .unwrap()
    }

    #[test]
    fn up_to_date_needs_the_same_names_sizes_and_checksums() {
        let source = [file("a.ovf", 10, Some("aa")), file("b.vmdk", 20, Some("bb"))];
        assert!(up_to_date(&source, &source, true));
        assert!(up_to_date(&source, &[file("a.ovf", 10, Some("AA")), file("b.vmdk", 20, Some("bb"))], false));
        // Another size, another checksum, a missing file, a missing checksum: not up to date.
        assert!(!up_to_date(&source, &[file("a.ovf", 11, Some("aa")), file("b.vmdk", 20, Some("bb"))], false));
        assert!(!up_to_date(&source, &[file("a.ovf", 10, Some("ab")), file("b.vmdk", 20, Some("bb"))], false));
        assert!(!up_to_date(&source, &[file("a.ovf", 10, Some("aa"))], false));
        let unsummed = [file("a.ovf", 10, None), file("b.vmdk", 20, Some("bb"))];
        assert!(!up_to_date(&unsummed, &unsummed, false), "no checksum, no proof");
        // An extra file at the destination is fine unless the copy replaces.
        let more = [file("a.ovf", 10, Some("aa")), file("b.vmdk", 20, Some("bb")), file("c.iso", 1, Some("cc"))];
        assert!(up_to_date(&source, &more, false));
        assert!(!up_to_date(&source, &more, true));
        assert!(!up_to_date(&[], &[], false), "an empty source proves nothing");
    }
}
