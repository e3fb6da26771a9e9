//! Update sessions: files added by PUSH or PULL, received, checked and validated.

use super::commit::{ovf_references, preview};
use super::*;

impl Service {
    pub fn update_create(
        &self,
        user: &str,
        spec: UpdateSessionModel,
        client_token: Option<String>,
    ) -> SimResult<String> {
        let mut state = self.state();
        if let Some(id) = state.remembered("update", &client_token) {
            return Ok(id);
        }
        let item_id = spec.library_item_id.ok_or_else(|| SimError::invalid_argument("library_item_id is required."))?;
        let item = state.item(&item_id)?;
        let (version, ovf_item) = (item.content_version.to_string(), item.model.type_.as_deref() == Some("ovf"));
        state.writable(item.model.library_id.as_deref().unwrap_or_default())?;
        let busy = state.updates.values().any(|s| s.item_id == item_id && s.state == UpdateSessionState::Active);
        if busy {
            let mut error = SimError::new(
                ErrorType::ResourceBusy,
                format!("Library item {item_id} already has an ACTIVE update session."),
            );
            // Documented for this operation: ResourceBusy is a 500 on /api (a 400 on /rest).
            error.api_status = Some(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
            return Err(error);
        }
        let session = UpdateSession {
            core: SessionCore::new(user, item_id, version, self.config.session_timeout),
            state: UpdateSessionState::Active,
            warning_behavior: spec.warning_behavior,
            files: Vec::new(),
            removals: BTreeSet::new(),
            completing: false,
            ovf_item,
        };
        // Update-session ids contain a colon on vCenter; clients must cope.
        let id = format!("{}:{}", uuid::Uuid::new_v4(), uuid::Uuid::new_v4());
        state.updates.insert(id.clone(), session);
        state.remember("update", client_token, &id);
        Ok(id)
    }

    pub fn update_list(&self, user: &str, item: Option<&str>) -> SimResult<Vec<String>> {
        let state = self.state();
        state.owned_by(&state.updates, user, item)
    }

    pub fn update_get(&self, id: &str) -> SimResult<UpdateSessionModel> {
        let state = self.state();
        let s = state.update(id)?;
        Ok(UpdateSessionModel {
            id: None,
            library_item_id: Some(s.item_id.clone()),
            library_item_content_version: Some(s.content_version.clone()),
            error_message: s.error.as_deref().map(message),
            client_progress: Some(s.progress),
            state: Some(s.state.clone()),
            expiration_time: Some(wall(s.expires)),
            preview_info: (s.state == UpdateSessionState::Active).then(|| preview(s)),
            warning_behavior: s.warning_behavior.clone(),
        })
    }

    pub(super) fn active_update<'a>(state: &'a mut State, id: &str) -> SimResult<&'a mut UpdateSession> {
        let s = state.update_mut(id)?;
        if s.state != UpdateSessionState::Active {
            return Err(SimError::not_allowed(format!("Update session {id} is {}, not ACTIVE.", s.state)));
        }
        Ok(s)
    }

    /// An ACTIVE session that is not completing: what changes its files or settings needs one.
    /// (govmomi's library client found a file added to a completing session landing too.)
    pub(super) fn open_update<'a>(state: &'a mut State, id: &str) -> SimResult<&'a mut UpdateSession> {
        let s = Self::active_update(state, id)?;
        if s.completing {
            return Err(SimError::not_allowed(format!("Update session {id} is completing; its files cannot change.")));
        }
        Ok(s)
    }

    pub fn update_patch(&self, id: &str, spec: UpdateSessionModel) -> SimResult<()> {
        let mut state = self.state();
        Self::open_update(&mut state, id)?.warning_behavior = spec.warning_behavior;
        Ok(())
    }

    pub fn update_keep_alive(&self, id: &str, progress: Option<i64>) -> SimResult<()> {
        let mut state = self.state();
        let s = Self::active_update(&mut state, id)?;
        s.keep_alive(progress, "client_progress", self.config.session_timeout)
    }

    pub fn update_cancel(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        let s = Self::active_update(&mut state, id)?;
        s.state = UpdateSessionState::Canceled;
        s.files.clear(); // received content is discarded
        state.forget_transfers(id);
        Ok(())
    }

    pub fn update_fail(&self, id: &str, reason: String) -> SimResult<()> {
        let mut state = self.state();
        let s = Self::active_update(&mut state, id)?;
        s.state = UpdateSessionState::Error;
        s.error = Some(reason);
        s.files.clear();
        state.forget_transfers(id);
        Ok(())
    }

    pub fn update_delete(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        let s = state.update(id)?;
        if s.state == UpdateSessionState::Active {
            return Err(SimError::not_allowed(format!(
                "Update session {id} is ACTIVE: cancel, fail or complete it before deleting it."
            )));
        }
        state.updates.remove(id);
        state.forget_transfers(id);
        Ok(())
    }

    pub fn update_files(&self, id: &str) -> SimResult<Vec<UpdateFileInfo>> {
        let state = self.state();
        let s = state.update(id)?;
        Ok(s.files.iter().map(|f| self.update_file_info(s, f)).collect())
    }

    pub fn update_file(&self, id: &str, name: &str) -> SimResult<UpdateFileInfo> {
        let state = self.state();
        let s = state.update(id)?;
        let file = s.files.iter().find(|f| f.name == name);
        let file =
            file.ok_or_else(|| SimError::invalid_argument(format!("Update session {id} has no file {name:?}.")))?;
        Ok(self.update_file_info(s, file))
    }

    /// Adds (or replaces) a file; a PULL file starts being fetched at once.
    pub fn update_file_add(self: &Arc<Self>, id: &str, spec: UpdateFileAddSpec) -> SimResult<UpdateFileInfo> {
        let mut state = self.state();
        let s = Self::open_update(&mut state, id)?;
        let name = spec.name.clone();
        if name.is_empty() || name.contains(['/', '\\', '\0']) || name == "." || name == ".." {
            return Err(SimError::invalid_argument(format!("{name:?} is not a valid file name.")));
        }
        if is_metadata(&name) && s.files.iter().any(|f| is_descriptor(&f.name) && f.name != name) {
            return Err(SimError::not_allowed(format!(
                "{name:?} must be added before the OVF descriptor: manifest and certificate files come first."
            )));
        }
        if let Some(size) = spec.size
            && size < 0
        {
            return Err(SimError::invalid_argument(format!("size {size} is negative.")));
        }
        let endpoint = match spec.source_type {
            SourceType::Push => None,
            SourceType::Pull => {
                let endpoint = spec
                    .source_endpoint
                    .clone()
                    .ok_or_else(|| SimError::invalid_argument("A PULL file needs a source_endpoint."))?;
                let scheme = endpoint.uri.split(':').next().unwrap_or_default().to_ascii_lowercase();
                match scheme.as_str() {
                    "http" | "https" => Some(endpoint),
                    "file" | "ds" => {
                        return Err(SimError::new(
                            ErrorType::Unauthorized,
                            "Pulling from file: or ds: URIs needs the ContentLibrary.ReadStorage privilege.",
                        ));
                    }
                    _ => return Err(SimError::invalid_argument(format!("Unsupported source URI {:?}.", endpoint.uri))),
                }
            }
            _ => return Err(SimError::invalid_argument(format!("source_type {} cannot be added.", spec.source_type))),
        };
        let generation = s.files.iter().find(|f| f.name == name).map_or(0, |f| f.generation + 1);
        s.files.retain(|f| f.name != name);
        s.removals.remove(&name);
        let token = (spec.source_type == SourceType::Push).then(|| uuid::Uuid::new_v4().simple().to_string());
        let algorithm = spec.checksum_info.as_ref().map(|c| c.algorithm.clone().unwrap_or(ChecksumAlgorithm::Sha1));
        s.files.push(UpdateFile {
            name: name.clone(),
            source_type: spec.source_type.clone(),
            source_endpoint: endpoint.clone(),
            size: spec.size,
            checksum: spec.checksum_info,
            token: token.clone(),
            status: TransferStatus::WaitingForTransfer,
            bytes: 0,
            blob: None,
            error: None,
            generation,
        });
        s.touch(self.config.session_timeout);
        let info = self.update_file_info(s, s.files.last().expect("just pushed"));
        if let Some(token) = token {
            state
                .transfers
                .retain(|_, t| !matches!(t, Target::Upload { session, name: n } if session == id && *n == name));
            state.transfers.insert(token, Target::Upload { session: id.to_owned(), name: name.clone() });
        }
        if let Some(endpoint) = endpoint {
            let job = PullJob { session: id.to_owned(), name, generation, endpoint, algorithm };
            tokio::spawn(crate::pull::run(self.clone(), job));
        }
        Ok(info)
    }

    pub fn update_file_remove(&self, id: &str, name: &str) -> SimResult<()> {
        let mut state = self.state();
        let item_has = {
            let s = state.update(id)?;
            state.item(&s.item_id)?.files.contains_key(name)
        };
        let s = Self::open_update(&mut state, id)?;
        let in_session = s.files.iter().any(|f| f.name == name);
        if !in_session && !item_has {
            return Err(SimError::invalid_argument(format!("Neither the session nor the item has a file {name:?}.")));
        }
        s.files.retain(|f| f.name != name);
        if item_has {
            s.removals.insert(name.to_owned());
        }
        state.transfers.retain(|_, t| !matches!(t, Target::Upload { session, name: n } if session == id && n == name));
        Ok(())
    }

    pub fn update_validate(&self, id: &str) -> SimResult<ValidationResult> {
        let mut state = self.state();
        let item_files: BTreeSet<String> = {
            let s = state.update(id)?;
            state.item(&s.item_id)?.files.keys().cloned().collect()
        };
        let s = Self::open_update(&mut state, id)?;
        let mut missing: BTreeSet<String> = s
            .files
            .iter()
            .filter(|f| matches!(f.status, TransferStatus::WaitingForTransfer | TransferStatus::Transferring))
            .map(|f| f.name.clone())
            .collect();
        // Files the OVF descriptor references must be in the session or already in the item.
        for f in s.files.iter().filter(|f| is_descriptor(&f.name)) {
            if let Some(blob) = &f.blob {
                let text = std::fs::read_to_string(&blob.path).unwrap_or_default();
                for href in ovf_references(&text) {
                    let present = s.files.iter().any(|g| g.name == href)
                        || (item_files.contains(&href) && !s.removals.contains(&href));
                    if !present {
                        missing.insert(href);
                    }
                }
            }
        }
        let invalid: Vec<ValidationError> = s
            .files
            .iter()
            .filter(|f| f.status == TransferStatus::Error)
            .map(|f| ValidationError {
                name: f.name.clone(),
                error_message: message(f.error.as_deref().unwrap_or("transfer failed")),
            })
            .collect();
        Ok(ValidationResult {
            has_errors: !missing.is_empty() || !invalid.is_empty(),
            missing_files: missing.into_iter().collect(),
            invalid_files: invalid,
        })
    }

    fn update_file_info(&self, s: &UpdateSession, f: &UpdateFile) -> UpdateFileInfo {
        let ready = f.status == TransferStatus::Ready;
        UpdateFileInfo {
            name: f.name.clone(),
            source_type: f.source_type.clone(),
            size: if ready { f.blob.as_ref().map(|b| b.size as i64) } else { f.size },
            checksum_info: f.checksum.clone(),
            source_endpoint: f.source_endpoint.clone(),
            upload_endpoint: f.token.as_ref().map(|t| self.endpoint(t, &f.name)),
            bytes_transferred: f.bytes as i64,
            status: f.status.clone(),
            error_message: f.error.as_deref().map(message),
            keep_in_storage: Some(s.keeps(&f.name)),
        }
    }

    /// Starts an upload through a transfer URI (PUSH files only, session ACTIVE).
    pub fn begin_upload(&self, token: &str) -> SimResult<UploadTicket> {
        let mut state = self.state();
        let Some(Target::Upload { session, name }) = state.transfers.get(token).cloned() else {
            return Err(SimError::not_found("No such transfer."));
        };
        let timeout = self.config.session_timeout;
        let s = Self::active_update(&mut state, &session)?;
        let file = s.files.iter_mut().find(|f| f.name == name).ok_or_else(|| SimError::not_found("No such file."))?;
        if s.completing {
            return Err(SimError::not_allowed("The session is completing."));
        }
        file.status = TransferStatus::Transferring;
        file.bytes = 0;
        file.error = None;
        file.blob = None;
        let ticket = UploadTicket {
            session: session.clone(),
            name,
            generation: file.generation,
            algorithm: file.checksum.as_ref().map(|c| c.algorithm.clone().unwrap_or(ChecksumAlgorithm::Sha1)),
        };
        s.expires = Instant::now() + timeout;
        Ok(ticket)
    }

    /// Records upload (or pull) progress; keeps the session from idling out.
    pub fn transfer_progress(&self, session: &str, name: &str, generation: u64, bytes: u64) {
        let timeout = self.config.session_timeout;
        let mut state = self.state();
        if let Ok(s) = state.update_mut(session) {
            s.expires = Instant::now() + timeout;
            if let Some(f) = s.files.iter_mut().find(|f| f.name == name && f.generation == generation) {
                f.bytes = bytes;
            }
        }
    }

    /// Ends an upload or pull: checks the declared size and checksum and marks the file READY or
    /// ERROR. Content for a file that was replaced or a session that ended is dropped.
    pub fn finish_transfer(
        &self,
        session: &str,
        name: &str,
        generation: u64,
        outcome: Result<Blob, String>,
        checked: bool,
    ) -> SimResult<()> {
        let mut state = self.state();
        let s = state.update_mut(session)?;
        let Some(file) = s.files.iter_mut().find(|f| f.name == name && f.generation == generation) else {
            return Err(SimError::not_allowed(format!("File {name:?} was replaced or removed during the transfer.")));
        };
        let verdict = outcome.and_then(|blob| {
            if !checked {
                return Ok(blob);
            }
            if let Some(size) = file.size
                && size as u64 != blob.size
            {
                return Err(format!("received {} bytes but the declared size is {size}", blob.size));
            }
            if let Some(sum) = &file.checksum {
                let algorithm = sum.algorithm.clone().unwrap_or(ChecksumAlgorithm::Sha1);
                let actual = blob.checksum(&algorithm).unwrap_or_default();
                if !actual.eq_ignore_ascii_case(sum.checksum.trim()) {
                    return Err(format!("{algorithm} checksum mismatch: declared {}, received {actual}", sum.checksum));
                }
            }
            Ok(blob)
        });
        let result = match verdict {
            Ok(blob) => {
                file.bytes = blob.size;
                file.status = TransferStatus::Ready;
                file.blob = Some(Arc::new(blob));
                Ok(())
            }
            Err(reason) => {
                file.status = TransferStatus::Error;
                file.error = Some(format!("{name}: {reason}"));
                Err(SimError::invalid_argument(format!("{name}: {reason}")))
            }
        };
        let pending = s.completing && s.state == UpdateSessionState::Active;
        if pending {
            if s.files.iter().any(|f| f.status == TransferStatus::Error) {
                s.state = UpdateSessionState::Error;
                s.error = s.files.iter().find_map(|f| f.error.clone());
                s.files.clear();
            } else if s.files.iter().all(|f| f.status == TransferStatus::Ready) {
                state.commit(session);
            }
        }
        result
    }
}

/// The update session operations and their files'.
pub(crate) static HANDLERS: &[Handler] = &[
    Handler { op: OperationId::UpdateSessionCreate, run: create },
    Handler { op: OperationId::UpdateSessionList, run: list },
    Handler { op: OperationId::UpdateSessionGet, run: get },
    Handler { op: OperationId::UpdateSessionUpdate, run: update },
    Handler { op: OperationId::UpdateSessionKeepAlive, run: keep_alive },
    Handler { op: OperationId::UpdateSessionComplete, run: complete },
    Handler { op: OperationId::UpdateSessionCancel, run: cancel },
    Handler { op: OperationId::UpdateSessionFail, run: fail },
    Handler { op: OperationId::UpdateSessionDelete, run: delete },
    Handler { op: OperationId::UpdateSessionFileAdd, run: file_add },
    Handler { op: OperationId::UpdateSessionFileList, run: file_list },
    Handler { op: OperationId::UpdateSessionFileGet, run: file_get },
    Handler { op: OperationId::UpdateSessionFileRemove, run: file_remove },
    Handler { op: OperationId::UpdateSessionFileValidate, run: file_validate },
];

const ID: &str = "update_session_id";

fn create(call: &mut Call<'_>) -> SimResult<Reply> {
    let spec = call.input.get("create_spec")?;
    let token = call.input.opt_str("client_token")?;
    Ok(Reply::of(call.service.update_create(&call.user, spec, token)?))
}

fn list(call: &mut Call<'_>) -> SimResult<Reply> {
    let item = call.input.opt_str("library_item_id")?;
    Ok(Reply::of(call.service.update_list(&call.user, item.as_deref())?))
}

fn get(call: &mut Call<'_>) -> SimResult<Reply> {
    Ok(Reply::of(call.service.update_get(&call.input.str(ID)?)?))
}

fn update(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str(ID)?;
    call.service.update_patch(&id, call.input.get("update_spec")?)?;
    Ok(Reply::Void)
}

fn keep_alive(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str(ID)?;
    call.service.update_keep_alive(&id, call.input.opt("client_progress")?)?;
    Ok(Reply::Void)
}

fn complete(call: &mut Call<'_>) -> SimResult<Reply> {
    call.service.update_complete(&call.input.str(ID)?)?;
    Ok(Reply::Void)
}

fn cancel(call: &mut Call<'_>) -> SimResult<Reply> {
    call.service.update_cancel(&call.input.str(ID)?)?;
    Ok(Reply::Void)
}

fn fail(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str(ID)?;
    call.service.update_fail(&id, call.input.str("client_error_message")?)?;
    Ok(Reply::Void)
}

fn delete(call: &mut Call<'_>) -> SimResult<Reply> {
    call.service.update_delete(&call.input.str(ID)?)?;
    Ok(Reply::Void)
}

fn file_add(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str(ID)?;
    Ok(Reply::of(call.service.update_file_add(&id, call.input.get("file_spec")?)?))
}

fn file_list(call: &mut Call<'_>) -> SimResult<Reply> {
    Ok(Reply::of(call.service.update_files(&call.input.str(ID)?)?))
}

fn file_get(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str(ID)?;
    Ok(Reply::of(call.service.update_file(&id, &call.input.str("file_name")?)?))
}

fn file_remove(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str(ID)?;
    call.service.update_file_remove(&id, &call.input.str("file_name")?)?;
    Ok(Reply::Void)
}

fn file_validate(call: &mut Call<'_>) -> SimResult<Reply> {
    Ok(Reply::of(call.service.update_validate(&call.input.str(ID)?)?))
}
