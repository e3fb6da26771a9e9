//! Download sessions: prepare files, hand out download endpoints, report checksums once sent.

use super::*;

impl Service {
    pub fn download_create(
        &self,
        user: &str,
        spec: DownloadSessionModel,
        client_token: Option<String>,
    ) -> SimResult<String> {
        let mut state = self.state();
        if let Some(id) = state.remembered("download", &client_token) {
            return Ok(id);
        }
        let item_id = spec.library_item_id.ok_or_else(|| SimError::invalid_argument("library_item_id is required."))?;
        let item = state.item(&item_id)?;
        if !item.cached() {
            return Err(SimError::not_allowed(format!(
                "Library item {item_id} is not cached: sync it with force_sync_content first."
            )));
        }
        let files = item
            .files
            .iter()
            .map(|(name, blob)| DownloadFile {
                name: name.clone(),
                blob: blob.clone(),
                prepare: Prepare::Unprepared,
                downloaded: false,
                token: None,
            })
            .collect();
        let core = SessionCore::new(user, item_id, item.content_version.to_string(), self.config.session_timeout);
        let session = DownloadSession { core, state: DownloadSessionState::Active, files };
        let id = uuid::Uuid::new_v4().to_string();
        state.downloads.insert(id.clone(), session);
        state.remember("download", client_token, &id);
        Ok(id)
    }

    pub fn download_list(&self, user: &str, item: Option<&str>) -> SimResult<Vec<String>> {
        let state = self.state();
        state.owned_by(&state.downloads, user, item)
    }

    pub fn download_get(&self, id: &str) -> SimResult<DownloadSessionModel> {
        let state = self.state();
        let s = state.download(id)?;
        Ok(DownloadSessionModel {
            id: None,
            library_item_id: Some(s.item_id.clone()),
            library_item_content_version: Some(s.content_version.clone()),
            error_message: s.error.as_deref().map(message),
            client_progress: Some(s.progress),
            state: Some(s.state.clone()),
            expiration_time: Some(wall(s.expires)),
        })
    }

    pub fn download_keep_alive(&self, id: &str, progress: Option<i64>) -> SimResult<()> {
        let mut state = self.state();
        let s = state.download_mut(id)?;
        if s.state != DownloadSessionState::Active {
            return Err(SimError::not_allowed(format!("Download session {id} is {}, not ACTIVE.", s.state)));
        }
        s.keep_alive(progress, "progress", self.config.session_timeout)
    }

    pub fn download_cancel(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        let s = state.download_mut(id)?;
        if s.state != DownloadSessionState::Active {
            return Err(SimError::not_allowed(format!("Download session {id} is {}, not ACTIVE.", s.state)));
        }
        s.state = DownloadSessionState::Canceled;
        state.forget_transfers(id);
        Ok(())
    }

    pub fn download_fail(&self, id: &str, reason: String) -> SimResult<()> {
        let mut state = self.state();
        let s = state.download_mut(id)?;
        if s.state != DownloadSessionState::Active {
            return Err(SimError::not_allowed(format!("Download session {id} is {}, not ACTIVE.", s.state)));
        }
        s.state = DownloadSessionState::Error;
        s.error = Some(reason);
        state.forget_transfers(id);
        Ok(())
    }

    pub fn download_delete(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        state
            .downloads
            .remove(id)
            .ok_or_else(|| SimError::not_found(format!("Download session {id} does not exist.")))?;
        state.forget_transfers(id);
        Ok(())
    }

    pub fn download_files(&self, id: &str) -> SimResult<Vec<DownloadFileInfo>> {
        let state = self.state();
        let s = state.download(id)?;
        Ok(s.files.iter().map(|f| self.download_file_info(f)).collect())
    }

    pub fn download_file(&self, id: &str, name: &str) -> SimResult<DownloadFileInfo> {
        let state = self.state();
        let s = state.download(id)?;
        let file = s.files.iter().find(|f| f.name == name);
        let file =
            file.ok_or_else(|| SimError::invalid_argument(format!("Download session {id} has no file {name:?}.")))?;
        Ok(self.download_file_info(file))
    }

    pub fn download_prepare(&self, id: &str, spec: DownloadFilePrepareSpec) -> SimResult<DownloadFileInfo> {
        if spec.endpoint_type == Some(EndpointType::Direct) {
            return Err(SimError::new(
                ErrorType::Unauthorized,
                "A DIRECT endpoint needs the ContentLibrary.ReadStorage privilege, which this user lacks.",
            ));
        }
        let mut state = self.state();
        let s = state.download_mut(id)?;
        if s.state != DownloadSessionState::Active {
            return Err(SimError::not_allowed(format!("Download session {id} is {}, not ACTIVE.", s.state)));
        }
        let name = &spec.file_name;
        let file = s.files.iter_mut().find(|f| &f.name == name);
        let file =
            file.ok_or_else(|| SimError::invalid_argument(format!("Download session {id} has no file {name:?}.")))?;
        if matches!(file.prepare, Prepare::Unprepared | Prepare::Failed(_)) {
            file.prepare = if file.blob.path.exists() {
                Prepare::Requested(Instant::now())
            } else {
                Prepare::Failed(format!("The content of {name:?} is no longer on the storage backing."))
            };
        }
        if file.token.is_none() {
            let token = uuid::Uuid::new_v4().simple().to_string();
            file.token = Some(token.clone());
            state.transfers.insert(token, Target::Download { session: id.to_owned(), name: name.clone() });
        }
        let file = state.download(id)?.files.iter().find(|f| &f.name == name).expect("just found");
        Ok(self.download_file_info(file))
    }

    fn prepare_status(&self, prepare: &Prepare) -> PrepareStatus {
        match prepare {
            Prepare::Unprepared => PrepareStatus::Unprepared,
            Prepare::Failed(_) => PrepareStatus::Error,
            Prepare::Requested(at) => prepare_progress(at.elapsed(), self.config.prepare_delay),
        }
    }

    fn download_file_info(&self, f: &DownloadFile) -> DownloadFileInfo {
        let status = self.prepare_status(&f.prepare);
        let prepared = status == PrepareStatus::Prepared;
        DownloadFileInfo {
            name: f.name.clone(),
            // Size is guaranteed once the client has the file; the simulator knows it from the start.
            size: Some(f.blob.size as i64),
            bytes_transferred: if prepared { f.blob.size as i64 } else { 0 },
            download_endpoint: prepared.then(|| self.endpoint(f.token.as_deref().unwrap_or_default(), &f.name)),
            checksum_info: f
                .downloaded
                .then(|| ChecksumInfo { algorithm: Some(ChecksumAlgorithm::Sha1), checksum: f.blob.sha1.clone() }),
            error_message: match &f.prepare {
                Prepare::Failed(reason) => Some(message(reason)),
                _ => None,
            },
            status,
        }
    }

    /// Starts a download through a transfer URI: the session must be ACTIVE and the file PREPARED.
    pub fn begin_download(&self, token: &str) -> SimResult<(String, String, Arc<Blob>)> {
        let state = self.state();
        let Some(Target::Download { session, name }) = state.transfers.get(token).cloned() else {
            return Err(SimError::not_found("No such transfer."));
        };
        let s = state.download(&session)?;
        if s.state != DownloadSessionState::Active {
            return Err(SimError::not_allowed(format!("Download session {session} is {}.", s.state)));
        }
        let file = s.files.iter().find(|f| f.name == name).ok_or_else(|| SimError::not_found("No such file."))?;
        if self.prepare_status(&file.prepare) != PrepareStatus::Prepared {
            return Err(SimError::not_allowed(format!("File {name:?} is not PREPARED.")));
        }
        Ok((session, name, file.blob.clone()))
    }

    /// A download sent its last byte: the file's checksum is now reported, the session lives on.
    pub fn finish_download(&self, session: &str, name: &str) {
        let mut state = self.state();
        if let Ok(s) = state.download_mut(session) {
            s.touch(self.config.session_timeout);
            if let Some(f) = s.files.iter_mut().find(|f| f.name == name) {
                f.downloaded = true;
            }
        }
    }

    /// Bytes are flowing for a download session: it is not idle.
    pub fn touch_download(&self, session: &str) {
        if let Ok(s) = self.state().download_mut(session) {
            s.touch(self.config.session_timeout);
        }
    }
}

/// Where a requested prepare stands after `elapsed`: PREPARE_REQUESTED for the first half of the
/// delay, PREPARING for the second, then PREPARED.
fn prepare_progress(elapsed: Duration, delay: Duration) -> PrepareStatus {
    if elapsed >= delay {
        PrepareStatus::Prepared
    } else if elapsed >= delay / 2 {
        PrepareStatus::Preparing
    } else {
        PrepareStatus::PrepareRequested
    }
}

/// The download session operations and their files'.
pub(crate) static HANDLERS: &[Handler] = &[
    Handler { op: OperationId::DownloadSessionCreate, run: create },
    Handler { op: OperationId::DownloadSessionList, run: list },
    Handler { op: OperationId::DownloadSessionGet, run: get },
    Handler { op: OperationId::DownloadSessionKeepAlive, run: keep_alive },
    Handler { op: OperationId::DownloadSessionCancel, run: cancel },
    Handler { op: OperationId::DownloadSessionFail, run: fail },
    Handler { op: OperationId::DownloadSessionDelete, run: delete },
    Handler { op: OperationId::DownloadSessionFileList, run: file_list },
    Handler { op: OperationId::DownloadSessionFileGet, run: file_get },
    Handler { op: OperationId::DownloadSessionFilePrepare, run: file_prepare },
];

const ID: &str = "download_session_id";

fn create(call: &mut Call<'_>) -> SimResult<Reply> {
    let spec = call.input.get("create_spec")?;
    let token = call.input.opt_str("client_token")?;
    Ok(Reply::of(call.service.download_create(&call.user, spec, token)?))
}

fn list(call: &mut Call<'_>) -> SimResult<Reply> {
    let item = call.input.opt_str("library_item_id")?;
    Ok(Reply::of(call.service.download_list(&call.user, item.as_deref())?))
}

fn get(call: &mut Call<'_>) -> SimResult<Reply> {
    Ok(Reply::of(call.service.download_get(&call.input.str(ID)?)?))
}

fn keep_alive(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str(ID)?;
    call.service.download_keep_alive(&id, call.input.opt("progress")?)?;
    Ok(Reply::Void)
}

fn cancel(call: &mut Call<'_>) -> SimResult<Reply> {
    call.service.download_cancel(&call.input.str(ID)?)?;
    Ok(Reply::Void)
}

fn fail(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str(ID)?;
    call.service.download_fail(&id, call.input.str("client_error_message")?)?;
    Ok(Reply::Void)
}

fn delete(call: &mut Call<'_>) -> SimResult<Reply> {
    call.service.download_delete(&call.input.str(ID)?)?;
    Ok(Reply::Void)
}

fn file_list(call: &mut Call<'_>) -> SimResult<Reply> {
    Ok(Reply::of(call.service.download_files(&call.input.str(ID)?)?))
}

fn file_get(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str(ID)?;
    Ok(Reply::of(call.service.download_file(&id, &call.input.str("file_name")?)?))
}

fn file_prepare(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str(ID)?;
    let spec = DownloadFilePrepareSpec {
        file_name: call.input.str("file_name")?,
        endpoint_type: call.input.opt("endpoint_type")?,
    };
    Ok(Reply::of(call.service.download_prepare(&id, spec)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prepare_moves_through_its_states_over_the_delay() {
        let delay = Duration::from_millis(1000);
        let at = |ms| prepare_progress(Duration::from_millis(ms), delay);
        assert_eq!(at(0), PrepareStatus::PrepareRequested);
        assert_eq!(at(499), PrepareStatus::PrepareRequested);
        assert_eq!(at(500), PrepareStatus::Preparing);
        assert_eq!(at(999), PrepareStatus::Preparing);
        assert_eq!(at(1000), PrepareStatus::Prepared);
        assert_eq!(prepare_progress(Duration::ZERO, Duration::ZERO), PrepareStatus::Prepared);
    }
}
