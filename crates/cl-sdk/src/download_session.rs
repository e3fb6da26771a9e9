//! Download sessions: the server side of exporting an item's files.

use std::time::Duration;

use cl_api::types::*;

use crate::client::{Client, Dialect, api, void};
use crate::error::{Error, ErrorKind, Result};
use crate::wait;

/// A download session of one library item. Dropping the handle leaves the session on the
/// server; [`delete`](Self::delete) it when done (the transfers in this crate do).
#[derive(Debug, Clone)]
pub struct DownloadSession {
    client: Client,
    id: String,
}

impl Client {
    /// Creates a download session for an item. A client token makes the create idempotent, so a
    /// create repeated after a lost answer returns the same session.
    pub async fn create_download_session(&self, item_id: &str) -> Result<DownloadSession> {
        let token = uuid::Uuid::new_v4().to_string();
        let token = token.as_str();
        let spec = DownloadSessionModel { library_item_id: Some(item_id.to_owned()), ..Default::default() };
        let spec = &spec;
        let id = self
            .run("download_session_create", move || {
                Box::pin(async move {
                    let c = self.raw();
                    match self.dialect() {
                        Dialect::Api => api(c.download_session_create(Some(token), spec)).await,
                        Dialect::Rest => {
                            let body = RestDownloadSessionCreate {
                                client_token: Some(token.to_owned()),
                                create_spec: spec.clone(),
                            };
                            api(c.rest_download_session_create(&body)).await.map(|v| v.value)
                        }
                    }
                })
            })
            .await?;
        Ok(self.download_session(&id))
    }

    /// A handle on an existing download session (no call is made).
    pub fn download_session(&self, id: &str) -> DownloadSession {
        DownloadSession { client: self.clone(), id: id.to_owned() }
    }

    /// The ids of this user's download sessions, all or those of one item.
    pub async fn download_sessions(&self, item_id: Option<&str>) -> Result<Vec<String>> {
        self.run("download_session_list", move || {
            Box::pin(async move {
                let c = self.raw();
                match self.dialect() {
                    Dialect::Api => api(c.download_session_list(item_id)).await,
                    Dialect::Rest => {
                        api(c.rest_download_session_list(item_id)).await.map(|v| v.value.unwrap_or_default())
                    }
                }
            })
        })
        .await
    }
}

impl DownloadSession {
    /// The session's id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The session's current state.
    pub async fn info(&self) -> Result<DownloadSessionModel> {
        let id = &self.id;
        self.client
            .run("download_session_get", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => api(c.download_session_get(id)).await,
                        Dialect::Rest => api(c.rest_download_session_get(id)).await.map(|v| v.value),
                    }
                })
            })
            .await
    }

    /// Keeps the session from expiring, optionally reporting progress (0–100).
    pub async fn keep_alive(&self, progress: Option<i64>) -> Result<()> {
        let (id, body) = (&self.id, &DownloadSessionKeepAliveSpec { progress });
        self.client
            .run("download_session_keep_alive", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => void(c.download_session_keep_alive(id, body)).await,
                        Dialect::Rest => void(c.rest_download_session_keep_alive(id, body)).await,
                    }
                })
            })
            .await
    }

    /// Cancels the session; its transfer URIs stop working.
    pub async fn cancel(&self) -> Result<()> {
        let id = &self.id;
        self.client
            .run("download_session_cancel", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => void(c.download_session_cancel(id)).await,
                        Dialect::Rest => void(c.rest_download_session_cancel(id)).await,
                    }
                })
            })
            .await
    }

    /// Puts the session into ERROR with a message saying why the client gave up.
    pub async fn fail(&self, message: &str) -> Result<()> {
        let (id, body) = (&self.id, &FailSpec { client_error_message: message.to_owned() });
        self.client
            .run("download_session_fail", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => void(c.download_session_fail(id, body)).await,
                        Dialect::Rest => void(c.rest_download_session_fail(id, body)).await,
                    }
                })
            })
            .await
    }

    /// Deletes the session.
    pub async fn delete(&self) -> Result<()> {
        let id = &self.id;
        self.client
            .run("download_session_delete", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => void(c.download_session_delete(id)).await,
                        Dialect::Rest => void(c.rest_download_session_delete(id)).await,
                    }
                })
            })
            .await
    }

    /// Every file of the item, with its preparation state.
    pub async fn files(&self) -> Result<Vec<DownloadFileInfo>> {
        let id = &self.id;
        self.client
            .run("download_session_file_list", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => api(c.download_session_file_list(id)).await,
                        Dialect::Rest => {
                            api(c.rest_download_session_file_list(id)).await.map(|v| v.value.unwrap_or_default())
                        }
                    }
                })
            })
            .await
    }

    /// One file's state (and, once PREPARED, its download endpoint).
    pub async fn file(&self, name: &str) -> Result<DownloadFileInfo> {
        let id = &self.id;
        self.client
            .run("download_session_file_get", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => api(c.download_session_file_get(id, name)).await,
                        Dialect::Rest => {
                            let body = FileNameSpec { file_name: name.to_owned() };
                            api(c.rest_download_session_file_get(id, &body)).await.map(|v| v.value)
                        }
                    }
                })
            })
            .await
    }

    /// Asks the server to make a file downloadable over HTTPS.
    pub async fn prepare(&self, name: &str) -> Result<DownloadFileInfo> {
        let (id, body) = (
            &self.id,
            &DownloadFilePrepareSpec { file_name: name.to_owned(), endpoint_type: Some(EndpointType::Https) },
        );
        self.client
            .run("download_session_file_prepare", move || {
                Box::pin(async move {
                    let c = self.client.raw();
                    match self.client.dialect() {
                        Dialect::Api => api(c.download_session_file_prepare(id, body)).await,
                        Dialect::Rest => api(c.rest_download_session_file_prepare(id, body)).await.map(|v| v.value),
                    }
                })
            })
            .await
    }

    /// Waits until a file is PREPARED (with backoff, up to `deadline`) and returns it with its
    /// download endpoint. A file that ends in ERROR fails with [`ErrorKind::SessionFailed`].
    pub async fn wait_prepared(&self, name: &str, deadline: Duration) -> Result<DownloadFileInfo> {
        let mut backoff = wait::Backoff::new(format!("{name} to be prepared"), deadline);
        loop {
            let file = self.file(name).await?;
            match &file.status {
                PrepareStatus::Prepared if file.download_endpoint.is_some() => return Ok(file),
                PrepareStatus::Error => {
                    let why = file.error_message.map(|m| m.default_message).unwrap_or_else(|| "no reason given".into());
                    return Err(Error::new(ErrorKind::SessionFailed, format!("preparing {name} failed: {why}")));
                }
                _ => backoff.pause().await?,
            }
        }
    }
}
