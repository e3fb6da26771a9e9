//! API sessions: login with basic credentials, the session token, idle expiry.

use super::*;

impl Service {
    /// Checks basic credentials and opens an API session.
    pub fn login(&self, user: &str, password: &str) -> SimResult<String> {
        if user != self.config.username || password != self.config.password {
            return Err(SimError::new(ErrorType::Unauthenticated, "Invalid user name or password."));
        }
        let token = uuid::Uuid::new_v4().simple().to_string();
        let now = Utc::now();
        let session = ApiSession { user: user.to_owned(), created: now, last: Instant::now(), last_wall: now };
        self.state().api_sessions.insert(token.clone(), session);
        Ok(token)
    }

    /// The user of a live API session, refreshing its idle clock.
    pub fn authenticate(&self, token: Option<&str>) -> SimResult<String> {
        let mut state = self.state();
        let session = token.and_then(|t| state.api_sessions.get_mut(t)).ok_or_else(SimError::unauthenticated)?;
        session.last = Instant::now();
        session.last_wall = Utc::now();
        let user = session.user.clone();
        if self.faults.sessions_single_use()
            && let Some(token) = token
        {
            state.api_sessions.remove(token);
        }
        Ok(user)
    }

    pub fn session_info(&self, token: &str) -> SimResult<SessionInfo> {
        let state = self.state();
        let s = state.api_sessions.get(token).ok_or_else(SimError::unauthenticated)?;
        Ok(SessionInfo { user: s.user.clone(), created_time: s.created, last_accessed_time: s.last_wall })
    }

    pub fn logout(&self, token: &str) -> SimResult<()> {
        self.state().api_sessions.remove(token).map(|_| ()).ok_or_else(SimError::unauthenticated)
    }

    /// Makes every transfer session expire now.
    pub fn expire_transfer_sessions(&self) {
        let ids: Vec<String> = {
            let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
            state.downloads.keys().chain(state.updates.keys()).cloned().collect()
        };
        for id in ids {
            self.expire_transfer_session(&id);
        }
    }

    /// Forgets every session, as a restarted server would.
    pub fn restart(&self) {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.api_sessions.clear();
        state.downloads.clear();
        state.updates.clear();
        state.transfers.clear();
    }

    /// Ends every API session now, as if they had idled out.
    pub fn expire_api_sessions(&self) {
        self.state().api_sessions.clear();
    }

    /// Makes a download or update session expire now; true if it existed.
    pub fn expire_transfer_session(&self, id: &str) -> bool {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let past = Instant::now() - Duration::from_millis(1);
        let found = if let Some(s) = state.downloads.get_mut(id) {
            s.expires = past;
            true
        } else if let Some(s) = state.updates.get_mut(id) {
            s.expires = past;
            true
        } else {
            false
        };
        state.sweep(&self.config);
        found
    }
}

/// The session operations.
pub(crate) static HANDLERS: &[Handler] = &[
    Handler { op: OperationId::SessionCreate, run: session_create },
    Handler { op: OperationId::SessionGet, run: session_get },
    Handler { op: OperationId::SessionDelete, run: session_delete },
];

fn session_create(call: &mut Call<'_>) -> SimResult<Reply> {
    let (user, password) = basic_credentials(call.headers)
        .ok_or_else(|| SimError::new(ErrorType::Unauthenticated, "Log in with HTTP basic credentials."))?;
    Ok(Reply::of(call.service.login(&user, &password)?))
}

fn session_get(call: &mut Call<'_>) -> SimResult<Reply> {
    Ok(Reply::of(call.service.session_info(call.token())?))
}

fn session_delete(call: &mut Call<'_>) -> SimResult<Reply> {
    call.service.logout(call.token())?;
    Ok(Reply::Void)
}

/// The user and password of a Basic `Authorization` header.
pub(crate) fn basic_credentials(headers: &axum::http::HeaderMap) -> Option<(String, String)> {
    use base64::Engine as _;
    let value = headers.get(axum::http::header::AUTHORIZATION)?.to_str().ok()?;
    let encoded = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))?;
    let decoded = base64::engine::general_purpose::STANDARD.decode(encoded.trim()).ok()?;
    let text = String::from_utf8(decoded).ok()?;
    let (user, password) = text.split_once(':')?;
    Some((user.to_owned(), password.to_owned()))
}
