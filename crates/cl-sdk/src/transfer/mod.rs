//! Whole transfers: download an item to a folder, upload files into an item.
//!
//! What they guarantee, whatever fails:
//! * Streaming through bounded buffers: memory does not grow with file size.
//! * Verification: sizes and the server's checksums are checked while the bytes stream.
//! * Nothing half-made: a download writes to a hidden partial file renamed into place only once
//!   verified; a failed or canceled upload fails (or cancels) its update session, so the item
//!   keeps its previous content, and sessions are deleted at the end.
//! * Sessions kept alive: a background task keeps the Content Library session and the API
//!   session alive during long transfers.
//! * Progress and control: [`TransferControl`] gives a progress watch channel and a cancel switch.
//!
//! ```no_run
//! # async fn demo(lab: cl_sdk::Client, prod: cl_sdk::Client) -> cl_sdk::Result<()> {
//! use cl_sdk::transfer::{CopyOptions, DownloadOptions};
//! let templates = lab.find_library("templates").await?;
//! let photon = lab.find_item(&templates, "photon-5").await?;
//! lab.download_item(&photon, "/var/tmp/photon", DownloadOptions::default()).await?;
//! let target = prod.find_library("templates").await?;
//! lab.copy_item(&photon, &prod, &target, CopyOptions::default().create(true)).await?;
//! # Ok(()) }
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, ErrorKind, Result};

pub(crate) mod checksum;
mod copy;
mod disk_writer;
mod download;
mod endpoint;
pub(crate) mod names;
pub(crate) mod ova;
mod ova_export;
mod read_ahead;
mod runner;
mod sink;
mod source;
mod staging;
pub(crate) mod upload;
mod url_source;

pub use copy::{CopyOptions, CopyOutcome, CopyReport, ItemCopy};
pub use download::{DownloadOptions, DownloadReport, DownloadedFile};
pub use names::safe_file_name;
pub use ova_export::{OvaMember, OvaOptions, OvaReport, OvaTarget};
pub use upload::{UploadFile, UploadOptions, UploadReport, UploadedFile};
pub use url_source::SourceTrust;

/// What to do when a file already exists where a transfer would write one.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::{DownloadOptions, Overwrite};
/// client.download_item(&item, "/var/tmp/photon", DownloadOptions::default().overwrite(Overwrite::Never)).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overwrite {
    /// Refuse before anything is transferred (the default).
    #[default]
    Never,
    /// Replace it (atomically, once the new file is verified).
    Always,
}

/// A checksum a transfer verified a file's bytes against: in every report, one shape.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::DownloadOptions;
/// let report = client.download_item(&item, "/var/tmp/photon", DownloadOptions::default()).await?;
/// for file in &report.files {
///     if let Some(sum) = &file.verified_checksum {
///         println!("{} {} {}", file.name, sum.algorithm, sum.hex);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Checksum {
    /// The algorithm.
    pub algorithm: cl_api::types::ChecksumAlgorithm,
    /// The digest in lowercase hex.
    pub hex: String,
}

impl Checksum {
    pub(crate) fn new(algorithm: cl_api::types::ChecksumAlgorithm, hex: impl Into<String>) -> Self {
        Self { algorithm, hex: hex.into().to_ascii_lowercase() }
    }

    /// The server's form of a checksum.
    pub(crate) fn from_info(info: cl_api::types::ChecksumInfo) -> Self {
        Self::new(info.algorithm.unwrap_or(cl_api::types::ChecksumAlgorithm::Sha1), info.checksum)
    }
}

impl std::fmt::Display for Checksum {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

/// Progress of one file.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::{DownloadOptions, TransferControl};
/// let control = TransferControl::new();
/// let progress = control.progress();
/// for file in &progress.borrow().files {
///     println!("{}: {} of {:?} bytes, {:?}", file.name, file.done, file.size, file.state);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct FileProgress {
    /// The file's name in the item.
    pub name: String,
    /// Its size, when known.
    pub size: Option<u64>,
    /// Bytes moved so far.
    pub done: u64,
    /// Where it stands.
    pub state: FileState,
    /// What the server last reported for the file while the SDK waits on it (e.g. `PREPARING`,
    /// or a state this SDK does not know), so a long wait is never silent.
    pub server_status: Option<String>,
}

impl FileProgress {
    pub(crate) fn waiting(name: &str, size: Option<u64>) -> Self {
        Self { name: name.to_owned(), size, done: 0, state: FileState::Waiting, server_status: None }
    }
}

/// Where one file of a transfer stands.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::{DownloadOptions, TransferControl};
/// let control = TransferControl::new();
/// let progress = control.progress();
/// use cl_sdk::transfer::FileState;
/// let done = progress.borrow().files.iter().filter(|f| f.state == FileState::Done).count();
/// println!("{done} files done");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum FileState {
    /// Not started.
    Waiting,
    /// Its checksum is being computed before the upload (`done` counts the bytes hashed).
    Hashing,
    /// The server is preparing it (downloads).
    Preparing,
    /// Bytes are moving.
    Transferring,
    /// Transferred, checked against size and checksum where known.
    Done,
    /// Failed.
    Failed,
}

/// Progress of a whole transfer, per file and in total.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::{DownloadOptions, TransferControl};
/// let control = TransferControl::new();
/// let progress = control.progress();
/// let now = progress.borrow().clone();
/// println!("{} of {:?} bytes at {:.0} B/s", now.done(), now.total(), now.rate());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Progress {
    /// Every file, in transfer order.
    pub files: Vec<FileProgress>,
    /// When the transfer started.
    pub started: Instant,
}

impl Progress {
    /// Bytes moved so far, all files.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{DownloadOptions, TransferControl};
    /// let control = TransferControl::new();
    /// let progress = control.progress();
    /// let download = client.download_item(&item, "/var/tmp/photon", DownloadOptions::default().control(control));
    /// let watched = progress.borrow().clone();
    /// println!("{} of {:?} bytes", watched.done(), watched.total());
    /// download.await?;
    /// # Ok(()) }
    /// ```
    pub fn done(&self) -> u64 {
        self.files.iter().map(|f| f.done).sum()
    }

    /// Total bytes, when every size is known.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::TransferControl;
    /// let control = TransferControl::new();
    /// println!("{:?}", control.progress().borrow().total()); // None until the sizes are known
    /// # Ok(()) }
    /// ```
    pub fn total(&self) -> Option<u64> {
        self.files.iter().map(|f| f.size).sum()
    }

    /// Average rate since the start, bytes per second.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::TransferControl;
    /// let control = TransferControl::new();
    /// println!("{:.0} B/s", control.progress().borrow().rate());
    /// # Ok(()) }
    /// ```
    pub fn rate(&self) -> f64 {
        let secs = self.started.elapsed().as_secs_f64();
        if secs > 0.0 { self.done() as f64 / secs } else { 0.0 }
    }

    /// Percent done (0–100) when the total is known.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::TransferControl;
    /// let control = TransferControl::new();
    /// println!("{:?} %", control.progress().borrow().percent());
    /// # Ok(()) }
    /// ```
    pub fn percent(&self) -> Option<i64> {
        self.total().map(|t| if t == 0 { 100 } else { (self.done() as u128 * 100 / t as u128) as i64 })
    }
}

/// Watches and controls a running transfer: a progress channel a UI can draw from, and a cancel
/// switch that stops the transfer and cleans up as on any failure. Clones control the same
/// transfer.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::{DownloadOptions, TransferControl};
/// let control = TransferControl::new();
/// let mut progress = control.progress();
/// tokio::spawn(async move {
///     while progress.changed().await.is_ok() {
///         let p = progress.borrow().clone();
///         println!("{} of {:?} bytes, {:.0} B/s", p.done(), p.total(), p.rate());
///     }
/// });
/// let options = DownloadOptions::default().control(control.clone());
/// client.download_item(&item, "/tmp/out", options).await?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TransferControl {
    progress: Arc<watch::Sender<Progress>>,
    cancel: CancellationToken,
}

impl Default for TransferControl {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for TransferControl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TransferControl").field("canceled", &self.cancel.is_cancelled()).finish()
    }
}

impl TransferControl {
    /// A new control with empty progress.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{DownloadOptions, TransferControl};
    /// let control = TransferControl::new();
    /// let options = DownloadOptions::default().control(control.clone());
    /// # let _ = options;
    /// # Ok(()) }
    /// ```
    pub fn new() -> Self {
        let (progress, _) = watch::channel(Progress { files: Vec::new(), started: Instant::now() });
        Self { progress: Arc::new(progress), cancel: CancellationToken::new() }
    }

    /// A receiver of progress updates.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::TransferControl;
    /// let control = TransferControl::new();
    /// let mut progress = control.progress();
    /// tokio::spawn(async move {
    ///     while progress.changed().await.is_ok() {
    ///         println!("{} bytes", progress.borrow().done());
    ///     }
    /// });
    /// # Ok(()) }
    /// ```
    pub fn progress(&self) -> watch::Receiver<Progress> {
        self.progress.subscribe()
    }

    /// Stops the transfer; it ends with [`ErrorKind::Canceled`] after cleaning up.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::TransferControl;
    /// let control = TransferControl::new();
    /// let stop = control.clone();
    /// tokio::spawn(async move {
    ///     let _ = tokio::signal::ctrl_c().await;
    ///     stop.cancel(); // the transfer fails with ErrorKind::Canceled and cleans up
    /// });
    /// # Ok(()) }
    /// ```
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Whether [`cancel`](Self::cancel) was called.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::TransferControl;
    /// let control = TransferControl::new();
    /// control.cancel();
    /// assert!(control.is_canceled());
    /// # Ok(()) }
    /// ```
    pub fn is_canceled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// A control with progress of its own that a cancel of this one also cancels (one item of
    /// a library copy).
    pub(crate) fn child(&self) -> Self {
        let (progress, _) = watch::channel(Progress { files: Vec::new(), started: Instant::now() });
        Self { progress: Arc::new(progress), cancel: self.cancel.child_token() }
    }

    pub(crate) fn start(&self, files: Vec<FileProgress>) {
        self.progress.send_replace(Progress { files, started: Instant::now() });
    }

    pub(crate) fn update(&self, index: usize, change: impl FnOnce(&mut FileProgress)) {
        self.progress.send_modify(|p| {
            if let Some(file) = p.files.get_mut(index) {
                change(file);
            }
        });
    }

    pub(crate) fn percent(&self) -> Option<i64> {
        self.progress.borrow().percent()
    }

    /// Fails with `Canceled` once canceled; use in `select!` against work.
    pub(crate) async fn canceled(&self) -> Error {
        self.cancel.cancelled().await;
        Error::new(ErrorKind::Canceled, "the transfer was canceled")
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.is_canceled() { Err(Error::new(ErrorKind::Canceled, "the transfer was canceled")) } else { Ok(()) }
    }
}

/// What every transfer's options have: files at once, retries, keep-alive cadence, control.
#[derive(Debug, Clone)]
pub(crate) struct Common {
    pub concurrency: usize,
    pub retries: Option<u32>,
    pub keep_alive_every: Duration,
    pub deadline: Option<Duration>,
    /// The deadline as one instant, fixed when the job begins: every phase (planning, hashing,
    /// sending, waiting on the server) ends by it.
    pub until: Option<tokio::time::Instant>,
    pub control: TransferControl,
}

impl Default for Common {
    fn default() -> Self {
        Self {
            concurrency: 4,
            retries: None,
            keep_alive_every: KEEP_ALIVE_EVERY,
            deadline: None,
            until: None,
            control: TransferControl::new(),
        }
    }
}

impl Common {
    /// These settings for a job that begins now: its deadline becomes an instant (kept when an
    /// enclosing job, such as a library copy, fixed it already).
    pub(crate) fn begin(mut self) -> Self {
        if self.until.is_none() {
            self.until = self.deadline.map(|d| tokio::time::Instant::now() + d);
        }
        self
    }

    /// Fails with `Canceled` once the control is canceled, or with `WaitTimedOut` once the
    /// deadline passed; use in `select!` against the transfer, which then cleans up.
    pub(crate) async fn stopped(&self) -> Error {
        let deadline = async {
            match self.deadline {
                Some(deadline) => {
                    let until = self.until.unwrap_or_else(|| tokio::time::Instant::now() + deadline);
                    tokio::time::sleep_until(until).await;
                    Error::new(
                        ErrorKind::WaitTimedOut,
                        format!("the transfer did not finish within its deadline of {deadline:?}"),
                    )
                }
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            error = self.control.canceled() => error,
            error = deadline => error,
        }
    }
}

/// The setters of [`Common`], written once for both options types.
macro_rules! common_setters {
    ($options:ty) => {
        impl $options {
            /// How many files move at once (default 4).
            ///
            /// ```no_run
            /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
            /// use std::time::Duration;
            /// use cl_sdk::transfer::DownloadOptions;
            /// // The same setters on every transfer's options.
            /// let options = DownloadOptions::default()
            ///     .concurrency(8)
            ///     .retries(10)
            ///     .keep_alive_every(Duration::from_secs(30))
            ///     .deadline(Duration::from_secs(4 * 3600));
            /// client.download_item(&item, "/var/tmp/photon", options).await?;
            /// # Ok(()) }
            /// ```
            pub fn concurrency(mut self, files: usize) -> Self {
                self.common.concurrency = files.max(1);
                self
            }
            /// How many times in a row a broken or refused transfer of a file is resumed or sent
            /// again before giving up (default: the client's [`RetryPolicy`](crate::RetryPolicy));
            /// a download that moved bytes since its last failure starts counting afresh.
            ///
            /// ```no_run
            /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
            /// use cl_sdk::transfer::UploadOptions;
            /// let options = UploadOptions::default().retries(20);
            /// # let _ = options;
            /// # Ok(()) }
            /// ```
            pub fn retries(mut self, retries: u32) -> Self {
                self.common.retries = Some(retries);
                self
            }
            /// How often the sessions are kept alive (default 60 s).
            ///
            /// ```no_run
            /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
            /// use std::time::Duration;
            /// use cl_sdk::transfer::CopyOptions;
            /// let options = CopyOptions::default().keep_alive_every(Duration::from_secs(20));
            /// # let _ = options;
            /// # Ok(()) }
            /// ```
            pub fn keep_alive_every(mut self, every: std::time::Duration) -> Self {
                self.common.keep_alive_every = every;
                self
            }
            /// The most the whole transfer may take; past it the transfer stops and cleans up as on
            /// any failure, with [`ErrorKind::WaitTimedOut`](crate::ErrorKind::WaitTimedOut).
            ///
            /// ```no_run
            /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
            /// use std::time::Duration;
            /// use cl_sdk::transfer::OvaOptions;
            /// let options = OvaOptions::default().deadline(Duration::from_secs(3600));
            /// # let _ = options;
            /// # Ok(()) }
            /// ```
            pub fn deadline(mut self, deadline: std::time::Duration) -> Self {
                self.common.deadline = Some(deadline);
                self
            }
            /// Progress and cancel for this transfer.
            ///
            /// ```no_run
            /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
            /// use cl_sdk::transfer::{DownloadOptions, TransferControl};
            /// let control = TransferControl::new();
            /// let options = DownloadOptions::default().control(control.clone());
            /// # let _ = options;
            /// # Ok(()) }
            /// ```
            pub fn control(mut self, control: $crate::transfer::TransferControl) -> Self {
                self.common.control = control;
                self
            }
        }
    };
}
pub(crate) use common_setters;

/// A size the server declared, which must not be negative.
pub(crate) fn declared_size(size: Option<i64>, name: &str) -> Result<Option<u64>> {
    size.map(|s| {
        u64::try_from(s)
            .map_err(|_| Error::new(ErrorKind::Decode, format!("the server declares a size of {s} bytes for {name}")))
    })
    .transpose()
}

/// A size the server must have declared (a route needs it before the first byte, `why`).
pub(crate) fn required_size(size: Option<i64>, name: &str, why: &str) -> Result<u64> {
    declared_size(size, name)?
        .ok_or_else(|| Error::new(ErrorKind::Decode, format!("the server reports no size for {name}: {why}")))
}

/// How often the background task keeps sessions alive by default: well inside vCenter's
/// 5-minute idle timeout for transfer sessions and its API session timeout.
pub(crate) const KEEP_ALIVE_EVERY: Duration = Duration::from_secs(60);
