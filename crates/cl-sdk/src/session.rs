//! Transfer sessions of both kinds behind one handle: [`Session<Download>`](DownloadSession)
//! exports an item's files, [`Session<Update>`](UpdateSession) changes them. What both kinds share
//! is written once here; what one kind has lives on that kind.

use std::time::Duration;

use cl_api::types::*;

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::id::{ItemId, SessionId};
use crate::retry::Waiter;
use crate::wire::ops::{self, SessionWire};

/// The download kind: the server side of exporting an item's files.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// let session = client.create_session::<cl_sdk::Download>(&item).await?;
/// # let _ = session;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Download;

/// The update kind: the server side of changing an item's files. While an update session is
/// ACTIVE the item keeps its old content; completing it commits the session's files, canceling or
/// failing it discards them.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// let session = client.create_session::<cl_sdk::Update>(&item).await?;
/// # let _ = session;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Update;

/// A kind of transfer session: [`Download`] or [`Update`]. Sealed: the two kinds the API has;
/// the calls of each are the crate's own (`K: SessionWire` in the signatures below is this trait
/// with them).
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::{Download, SessionKind};
/// let session = client.create_session::<Download>(&item).await?;
/// let info: <Download as SessionKind>::Info = session.info().await?;
/// println!("{:?}", info.state);
/// # Ok(()) }
/// ```
pub trait SessionKind: sealed::Sealed + Send + Sync + Sized + 'static {
    /// The session's model ([`DownloadSessionModel`] or [`UpdateSessionModel`]).
    type Info: Send;
    /// One file's state in the session ([`DownloadFileInfo`] or [`UpdateFileInfo`]).
    type File: Send;
}

impl SessionKind for Download {
    type Info = DownloadSessionModel;
    type File = DownloadFileInfo;
}

impl SessionKind for Update {
    type Info = UpdateSessionModel;
    type File = UpdateFileInfo;
}

mod sealed {
    pub trait Sealed {}
    impl Sealed for super::Download {}
    impl Sealed for super::Update {}
}

/// A handle on a transfer session. Dropping it leaves the session on the server;
/// [`delete`](Self::delete) it when done (the transfers in this crate do). Only finished update
/// sessions can be deleted.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// let session = client.create_session::<cl_sdk::Download>(&item).await?;
/// println!("{} files", session.files().await?.len());
/// session.delete().await?;
/// # Ok(()) }
/// ```
pub struct Session<K> {
    client: Client,
    id: SessionId<K>,
}

/// A download session.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// let session: cl_sdk::DownloadSession = client.create_session(&item).await?;
/// # let _ = session;
/// # Ok(()) }
/// ```
pub type DownloadSession = Session<Download>;
/// An update session.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// let session: cl_sdk::UpdateSession = client.create_session(&item).await?;
/// session.cancel().await?;
/// # Ok(()) }
/// ```
pub type UpdateSession = Session<Update>;

impl<K> Clone for Session<K> {
    fn clone(&self) -> Self {
        Self { client: self.client.clone(), id: self.id.clone() }
    }
}

impl<K: SessionWire> std::fmt::Debug for Session<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("kind", &K::NAME).field("id", &self.id.as_str()).finish()
    }
}

/// One way to open, find and list sessions of either kind: the kind is a type parameter.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::{Download, Update};
/// let download = client.create_session::<Download>(&item).await?;
/// let open: Vec<_> = client.sessions::<Update>(Some(&item)).await?;
/// let again = client.session(download.id().clone()); // a handle, no call
/// assert_eq!(again.id(), download.id());
/// println!("{} update sessions open", open.len());
/// # Ok(()) }
/// ```
impl Client {
    /// Creates a session of either kind for an item (one ACTIVE update session per item). A
    /// client token makes the create idempotent, so a create repeated after a lost answer
    /// returns the same session.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::Download;
    /// let session = client.create_session::<Download>(&item).await?;
    /// println!("{} files", session.files().await?.len());
    /// session.delete().await?;
    /// # Ok(()) }
    /// ```
    #[allow(private_bounds)]
    pub async fn create_session<K: SessionWire>(&self, item: &ItemId) -> Result<Session<K>> {
        self.create_session_with_token(item, &uuid::Uuid::new_v4().to_string()).await
    }

    /// Creates a session with a client token of the caller's: the server answers a repeat of
    /// the same token with the first session it made.
    pub(crate) async fn create_session_with_token<K: SessionWire>(
        &self,
        item: &ItemId,
        token: &str,
    ) -> Result<Session<K>> {
        let id = self.call(K::create(item.as_str(), token)).await?;
        Ok(self.session(SessionId::from_server(id)?))
    }

    /// A handle on an existing session (no call is made).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::{Download, SessionId};
    /// let handle = client.session::<Download>(SessionId::new("a4bf6a1c-0000-4000-8000-000000000000"));
    /// handle.delete().await?;
    /// # Ok(()) }
    /// ```
    pub fn session<K: SessionKind>(&self, id: SessionId<K>) -> Session<K> {
        Session { client: self.clone(), id }
    }

    /// This user's sessions of one kind, all or those of one item.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::Update;
    /// for id in client.sessions::<Update>(Some(&item)).await? {
    ///     client.session::<Update>(id).cancel().await?;
    /// }
    /// # Ok(()) }
    /// ```
    #[allow(private_bounds)]
    pub async fn sessions<K: SessionWire>(&self, item: Option<&ItemId>) -> Result<Vec<SessionId<K>>> {
        let ids = self.call(K::list(item.map(ItemId::as_str))).await?;
        SessionId::all_from_server(ids)
    }
}

#[allow(private_bounds)]
impl<K: SessionWire> Session<K> {
    /// The session's id.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::DownloadSession) -> cl_sdk::Result<()> {
    /// println!("session {}", session.id());
    /// # Ok(()) }
    /// ```
    pub fn id(&self) -> &SessionId<K> {
        &self.id
    }

    /// The client the session belongs to.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::DownloadSession) -> cl_sdk::Result<()> {
    /// assert_eq!(session.client().url(), client.url());
    /// # Ok(()) }
    /// ```
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The session's current state.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::DownloadSession) -> cl_sdk::Result<()> {
    /// let model = session.info().await?;
    /// println!("{:?}, expires {:?}", model.state, model.expiration_time);
    /// # Ok(()) }
    /// ```
    pub async fn info(&self) -> Result<K::Info> {
        self.client.call(K::get(self.id.as_str())).await
    }

    /// Keeps the session from expiring, optionally reporting progress (0–100).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::DownloadSession) -> cl_sdk::Result<()> {
    /// session.keep_alive(Some(40)).await?; // 40 % done
    /// # Ok(()) }
    /// ```
    pub async fn keep_alive(&self, progress: Option<i64>) -> Result<()> {
        self.client.call(K::keep_alive(self.id.as_str(), progress)).await
    }

    /// Cancels the session: its transfer URIs stop working and an update's files are discarded.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::DownloadSession) -> cl_sdk::Result<()> {
    /// session.cancel().await?;
    /// session.delete().await?;
    /// # Ok(()) }
    /// ```
    pub async fn cancel(&self) -> Result<()> {
        self.client.call(K::cancel(self.id.as_str())).await
    }

    /// Puts the session into ERROR with a message saying why the client gave up.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::UpdateSession) -> cl_sdk::Result<()> {
    /// session.fail("the source went away").await?;
    /// # Ok(()) }
    /// ```
    pub async fn fail(&self, message: &str) -> Result<()> {
        self.client.call(K::fail(self.id.as_str(), message)).await
    }

    /// Deletes the session.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::DownloadSession) -> cl_sdk::Result<()> {
    /// session.delete().await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete(&self) -> Result<()> {
        self.client.call(K::delete(self.id.as_str())).await
    }

    /// Every file of the session with its state.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::DownloadSession) -> cl_sdk::Result<()> {
    /// for file in session.files().await? {
    ///     println!("{} {:?}", file.name, file.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn files(&self) -> Result<Vec<K::File>> {
        self.client.call(K::files(self.id.as_str())).await
    }

    /// One file's state.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::DownloadSession) -> cl_sdk::Result<()> {
    /// let disk = session.file("disk-0.vmdk").await?;
    /// println!("{:?}", disk.status);
    /// # Ok(()) }
    /// ```
    pub async fn file(&self, name: &str) -> Result<K::File> {
        self.client.call(K::file(self.id.as_str(), name)).await
    }
}

fn reason(message: Option<LocalizableMessage>) -> String {
    message.map(|m| m.default_message).unwrap_or_else(|| "no reason given".into())
}

impl Session<Download> {
    /// Asks the server to make a file downloadable over HTTPS.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::DownloadSession) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// session.prepare("disk-0.vmdk").await?;
    /// let ready = session.wait_prepared("disk-0.vmdk", Duration::from_secs(600)).await?;
    /// println!("{:?}", ready.download_endpoint.map(|e| e.uri));
    /// # Ok(()) }
    /// ```
    pub async fn prepare(&self, name: &str) -> Result<DownloadFileInfo> {
        self.client.call(ops::download_session_file_prepare(self.id.as_str(), name)).await
    }

    /// Waits until a file is PREPARED (with backoff, up to `deadline`) and returns it with its
    /// download endpoint. A file that ends in ERROR fails with [`ErrorKind::SessionFailed`].
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::DownloadSession) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// let ready = session.wait_prepared("disk-0.vmdk", Duration::from_secs(600)).await?;
    /// println!("{:?} bytes", ready.size);
    /// # Ok(()) }
    /// ```
    pub async fn wait_prepared(&self, name: &str, deadline: Duration) -> Result<DownloadFileInfo> {
        self.wait_prepared_observed(name, deadline, &|_| {}).await
    }

    /// [`wait_prepared`](Self::wait_prepared), showing each status the server reports meanwhile.
    pub(crate) async fn wait_prepared_observed(
        &self,
        name: &str,
        deadline: Duration,
        observe: &(dyn Fn(&PrepareStatus) + Send + Sync),
    ) -> Result<DownloadFileInfo> {
        let mut waiter = Waiter::new(format!("{name} to be prepared"), deadline);
        loop {
            let file = self.file(name).await?;
            match &file.status {
                PrepareStatus::Prepared if file.download_endpoint.is_some() => return Ok(file),
                PrepareStatus::Error => {
                    let why = reason(file.error_message);
                    return Err(Error::new(ErrorKind::SessionFailed, format!("preparing {name} failed: {why}")));
                }
                status => {
                    observe(status);
                    waiter.pause(status).await?
                }
            }
        }
    }
}

impl Session<Update> {
    /// Sets which preview warnings to ignore (the PATCH of the session); a warning not ignored
    /// fails the session at complete.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::UpdateSession) -> cl_sdk::Result<()> {
    /// use cl_sdk::types::{WarningBehavior, WarningType};
    /// let accept = WarningBehavior { type_: WarningType::SelfSignedCertificate, ignored: true };
    /// session.set_warning_behavior(vec![accept]).await?;
    /// # Ok(()) }
    /// ```
    pub async fn set_warning_behavior(&self, behavior: Vec<WarningBehavior>) -> Result<()> {
        let spec = UpdateSessionModel { warning_behavior: behavior, ..Default::default() };
        self.client.call(ops::update_session_update(self.id.as_str(), spec)).await
    }

    /// Commits the session's files to the item.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::UpdateSession) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// session.complete().await?;
    /// session.wait_done(Duration::from_secs(3600)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn complete(&self) -> Result<()> {
        self.client.call(ops::update_session_complete(self.id.as_str())).await
    }

    /// Adds (or replaces) a file; a PUSH file comes back with its upload endpoint.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::UpdateSession) -> cl_sdk::Result<()> {
    /// use cl_sdk::types::{SourceType, UpdateFileAddSpec};
    /// let spec = UpdateFileAddSpec {
    ///     name: "notes.txt".into(),
    ///     source_type: SourceType::Push,
    ///     source_endpoint: None,
    ///     size: Some(5),
    ///     checksum_info: None,
    /// };
    /// let added = session.add_file(&spec).await?;
    /// println!("PUT the bytes to {:?}", added.upload_endpoint.map(|e| e.uri));
    /// # Ok(()) }
    /// ```
    pub async fn add_file(&self, spec: &UpdateFileAddSpec) -> Result<UpdateFileInfo> {
        self.client.call(ops::update_session_file_add(self.id.as_str(), spec.clone())).await
    }

    /// Marks a file for removal from the item (effective at complete), or takes a file added to
    /// this session out again.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::UpdateSession) -> cl_sdk::Result<()> {
    /// session.remove_file("old-disk.vmdk").await?;
    /// # Ok(()) }
    /// ```
    pub async fn remove_file(&self, name: &str) -> Result<()> {
        self.client.call(ops::update_session_file_remove(self.id.as_str(), name)).await
    }

    /// Checks the session's files: which are missing, which are invalid. `None` when the server
    /// answers without a result (govmomi's vcsim does), which says nothing either way.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::UpdateSession) -> cl_sdk::Result<()> {
    /// if let Some(result) = session.validate().await? {
    ///     println!("missing: {:?}", result.missing_files);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn validate(&self) -> Result<Option<ValidationResult>> {
        self.client.call(ops::update_session_file_validate(self.id.as_str())).await
    }

    /// Waits (with backoff, up to `deadline`) until the session is DONE; ERROR or CANCELED fail
    /// with [`ErrorKind::SessionFailed`] and the server's message.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::UpdateSession) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// let done = session.wait_done(Duration::from_secs(3600)).await?;
    /// println!("{:?}", done.state);
    /// # Ok(()) }
    /// ```
    pub async fn wait_done(&self, deadline: Duration) -> Result<UpdateSessionModel> {
        let mut waiter = Waiter::new("the update session to finish", deadline);
        loop {
            let info = self.info().await?;
            match &info.state {
                Some(UpdateSessionState::Done) => return Ok(info),
                Some(state @ (UpdateSessionState::Error | UpdateSessionState::Canceled)) => {
                    let why = reason(info.error_message);
                    return Err(Error::new(
                        ErrorKind::SessionFailed,
                        format!("the update session ended {state}: {why}"),
                    ));
                }
                Some(state) => waiter.pause(state).await?,
                None => waiter.pause("no state").await?,
            }
        }
    }

    /// Waits until the preview is settled (AVAILABLE, or NOT_APPLICABLE for content without
    /// metadata) and returns it, so signed content's certificate and warnings can be reviewed.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, session: cl_sdk::UpdateSession) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// let preview = session.wait_preview(Duration::from_secs(300)).await?;
    /// for warning in &preview.warnings {
    ///     println!("{}", warning.type_);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn wait_preview(&self, deadline: Duration) -> Result<PreviewInfo> {
        let mut waiter = Waiter::new("the update session's preview", deadline);
        loop {
            let info = self.info().await?;
            if matches!(info.state, Some(UpdateSessionState::Error | UpdateSessionState::Canceled)) {
                let why = reason(info.error_message);
                return Err(Error::new(ErrorKind::SessionFailed, format!("the update session failed: {why}")));
            }
            match info.preview_info {
                Some(p) if matches!(p.state, PreviewState::Available | PreviewState::NotApplicable) => return Ok(p),
                Some(p) => waiter.pause(p.state).await?,
                None => waiter.pause("no preview").await?,
            }
        }
    }
}
