//! Update sessions: the server side of changing an item's files.

use std::time::Duration;

use cl_api::types::*;

use crate::client::{Client, Dialect, api, api_or_empty, void};
use crate::error::{Error, ErrorKind, Result};
use crate::wait;

/// An update session of one library item. While it is ACTIVE the item keeps its old content;
/// [`complete`](Self::complete) commits the session's files, [`cancel`](Self::cancel) or
/// [`fail`](Self::fail) discard them. Only finished sessions can be deleted.
#[derive(Debug, Clone)]
pub struct UpdateSession {
    client: Client,
    id: String,
}

impl Client {
    /// Creates an update session for an item (one ACTIVE session per item). A client token
    /// makes the create idempotent.
    pub async fn create_update_session(&self, item_id: &str) -> Result<UpdateSession> {
        let token = uuid::Uuid::new_v4().to_string();
        let token = token.as_str();
        let spec = UpdateSessionModel { library_item_id: Some(item_id.to_owned()), ..Default::default() };
        let spec = &spec;
        let id = self
            .run("update_session_create", move || {
                Box::pin(async move {
                    let c = self.raw();
                    match self.dialect() {
                        Dialect::Api => api(c.update_session_create(Some(token), spec)).await,
                        Dialect::Rest => {
                            let body = RestUpdateSessionCreate {
                                client_token: Some(token.to_owned()),
                                create_spec: spec.clone(),
                            };
                            api(c.rest_update_session_create(&body)).await.map(|v| v.value)
                        }
                    }
                })
            })
            .await?;
        Ok(self.update_session(&id))
    }

    /// A handle on an existing update session (no call is made).
    pub fn update_session(&self, id: &str) -> UpdateSession {
        UpdateSession { client: self.clone(), id: id.to_owned() }
    }

    /// The ids of this user's update sessions, all or those of one item.
    pub async fn update_sessions(&self, item_id: Option<&str>) -> Result<Vec<String>> {
        self.run("update_session_list", move || {
            Box::pin(async move {
                let c = self.raw();
                match self.dialect() {
                    Dialect::Api => api(c.update_session_list(item_id)).await,
                    Dialect::Rest => {
                        api(c.rest_update_session_list(item_id)).await.map(|v| v.value.unwrap_or_default())
                    }
                }
            })
        })
        .await
    }
}

impl UpdateSession {
    /// The session's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session's current state, with its preview while ACTIVE.
    pub async fn info(&self) -> Result<UpdateSessionModel> {
        let id = &self.id;
        self.client
            .run("update_session_get", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => api(c.update_session_get(id)).await,
                        Dialect::Rest => api(c.rest_update_session_get(id)).await.map(|v| v.value),
                    }
                })
            })
            .await
    }

    /// Keeps the session from expiring, optionally reporting progress (0–100).
    pub async fn keep_alive(&self, progress: Option<i64>) -> Result<()> {
        let (id, body) = (&self.id, &UpdateSessionKeepAliveSpec { client_progress: progress });
        self.client
            .run("update_session_keep_alive", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => void(c.update_session_keep_alive(id, body)).await,
                        Dialect::Rest => void(c.rest_update_session_keep_alive(id, body)).await,
                    }
                })
            })
            .await
    }

    /// Sets which preview warnings to ignore (the PATCH of the session); a warning not ignored
    /// fails the session at complete.
    pub async fn set_warning_behavior(&self, behavior: Vec<WarningBehavior>) -> Result<()> {
        let (id, spec) = (&self.id, &UpdateSessionModel { warning_behavior: behavior, ..Default::default() });
        self.client
            .run("update_session_update", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => void(c.update_session_update(id, spec)).await,
                        Dialect::Rest => {
                            void(
                                c.rest_update_session_update(
                                    id,
                                    &RestUpdateSessionUpdate { update_spec: spec.clone() },
                                ),
                            )
                            .await
                        }
                    }
                })
            })
            .await
    }

    /// Commits the session's files to the item.
    pub async fn complete(&self) -> Result<()> {
        let id = &self.id;
        self.client
            .run("update_session_complete", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => void(c.update_session_complete(id)).await,
                        Dialect::Rest => void(c.rest_update_session_complete(id)).await,
                    }
                })
            })
            .await
    }

    /// Cancels the session; the received content is discarded.
    pub async fn cancel(&self) -> Result<()> {
        let id = &self.id;
        self.client
            .run("update_session_cancel", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => void(c.update_session_cancel(id)).await,
                        Dialect::Rest => void(c.rest_update_session_cancel(id)).await,
                    }
                })
            })
            .await
    }

    /// Puts the session into ERROR with a message saying why the client gave up.
    pub async fn fail(&self, message: &str) -> Result<()> {
        let (id, body) = (&self.id, &FailSpec { client_error_message: message.to_owned() });
        self.client
            .run("update_session_fail", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => void(c.update_session_fail(id, body)).await,
                        Dialect::Rest => void(c.rest_update_session_fail(id, body)).await,
                    }
                })
            })
            .await
    }

    /// Deletes a finished session (an ACTIVE one is refused by the server).
    pub async fn delete(&self) -> Result<()> {
        let id = &self.id;
        self.client
            .run("update_session_delete", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => void(c.update_session_delete(id)).await,
                        Dialect::Rest => void(c.rest_update_session_delete(id)).await,
                    }
                })
            })
            .await
    }

    /// Adds (or replaces) a file; a PUSH file comes back with its upload endpoint.
    pub async fn add_file(&self, spec: &UpdateFileAddSpec) -> Result<UpdateFileInfo> {
        let id = &self.id;
        self.client
            .run("update_session_file_add", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => api(c.update_session_file_add(id, spec)).await,
                        Dialect::Rest => {
                            api(c.rest_update_session_file_add(id, &RestFileAddSpec { file_spec: spec.clone() }))
                                .await
                                .map(|v| v.value)
                        }
                    }
                })
            })
            .await
    }

    /// One file of the session with its transfer state.
    pub async fn file(&self, name: &str) -> Result<UpdateFileInfo> {
        let id = &self.id;
        self.client
            .run("update_session_file_get", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => api(c.update_session_file_get(id, name)).await,
                        Dialect::Rest => {
                            let body = FileNameSpec { file_name: name.to_owned() };
                            api(c.rest_update_session_file_get(id, &body)).await.map(|v| v.value)
                        }
                    }
                })
            })
            .await
    }

    /// The files of the session.
    pub async fn files(&self) -> Result<Vec<UpdateFileInfo>> {
        let id = &self.id;
        self.client
            .run("update_session_file_list", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => api(c.update_session_file_list(id)).await,
                        Dialect::Rest => {
                            api(c.rest_update_session_file_list(id)).await.map(|v| v.value.unwrap_or_default())
                        }
                    }
                })
            })
            .await
    }

    /// Marks a file for removal from the item (effective at complete), or takes a file added to
    /// this session out again.
    pub async fn remove_file(&self, name: &str) -> Result<()> {
        let id = &self.id;
        self.client
            .run("update_session_file_remove", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => void(c.update_session_file_remove(id, name)).await,
                        Dialect::Rest => {
                            void(c.rest_update_session_file_remove(id, &FileNameSpec { file_name: name.to_owned() }))
                                .await
                        }
                    }
                })
            })
            .await
    }

    /// Checks the session's files: which are missing, which are invalid. `None` when the server
    /// answers without a result (govmomi's vcsim does), which says nothing either way.
    pub async fn validate(&self) -> Result<Option<ValidationResult>> {
        let id = &self.id;
        self.client
            .run("update_session_file_validate", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => api_or_empty(c.update_session_file_validate(id)).await,
                        Dialect::Rest => {
                            api_or_empty(c.rest_update_session_file_validate(id)).await.map(|v| v.map(|v| v.value))
                        }
                    }
                })
            })
            .await
    }

    /// Waits (with backoff, up to `deadline`) until the session is DONE; ERROR or CANCELED fail
    /// with [`ErrorKind::SessionFailed`] and the server's message.
    pub async fn wait_done(&self, deadline: Duration) -> Result<UpdateSessionModel> {
        let mut backoff = wait::Backoff::new("the update session to finish", deadline);
        loop {
            let info = self.info().await?;
            match &info.state {
                Some(UpdateSessionState::Done) => return Ok(info),
                Some(state @ (UpdateSessionState::Error | UpdateSessionState::Canceled)) => {
                    let why = info.error_message.map(|m| m.default_message).unwrap_or_else(|| "no reason given".into());
                    return Err(Error::new(
                        ErrorKind::SessionFailed,
                        format!("the update session ended {state}: {why}"),
                    ));
                }
                _ => backoff.pause().await?,
            }
        }
    }

    /// Waits until the preview is settled (AVAILABLE, or NOT_APPLICABLE for content without
    /// metadata) and returns it, so signed content's certificate and warnings can be reviewed.
    pub async fn wait_preview(&self, deadline: Duration) -> Result<PreviewInfo> {
        let mut backoff = wait::Backoff::new("the update session's preview", deadline);
        loop {
            let info = self.info().await?;
            if matches!(info.state, Some(UpdateSessionState::Error | UpdateSessionState::Canceled)) {
                let why = info.error_message.map(|m| m.default_message).unwrap_or_else(|| "no reason given".into());
                return Err(Error::new(ErrorKind::SessionFailed, format!("the update session failed: {why}")));
            }
            match info.preview_info {
                Some(p) if matches!(p.state, PreviewState::Available | PreviewState::NotApplicable) => return Ok(p),
                _ => backoff.pause().await?,
            }
        }
    }
}
