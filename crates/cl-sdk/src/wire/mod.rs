//! The wire layer: how each operation is sent in both dialects ([`ops`]), and the one call path
//! every API call takes ([`Client::call`]): dialect choice, error decoding, re-login after an
//! expired API session, and retries under the client's [`RetryPolicy`](crate::RetryPolicy).
//!
//! Which operations exist, their names and whether each is safe to repeat come from the
//! operation table generated from the spec (`cl_api::operation`). Nothing outside this module
//! names a dialect; the rest of the SDK builds an [`Op`] and calls it.

use std::future::Future;

use cl_api::operation::OperationId;
use cl_api::{Dialect, ResponseValue};
use futures_util::future::BoxFuture;
use serde::de::DeserializeOwned;

use crate::client::Client;
use crate::error::{Detail, Error, ErrorKind, Result, from_generated, transport};
use crate::retry::Repeat;

pub(crate) mod ops;

/// The dialects in the order they are tried when the server's is not known: the current one first.
pub(crate) const DIALECTS: [Dialect; 2] = [Dialect::Api, Dialect::Rest];

type Send<'a, T> = Box<dyn Fn(&'a cl_api::Client, Dialect) -> BoxFuture<'a, Result<T>> + std::marker::Send + Sync + 'a>;

/// One API operation, ready to be sent in either dialect (as often as the call path decides).
/// Public only as the sealed [`SessionKind`](crate::SessionKind)'s plumbing; nothing outside
/// the crate can build or send one.
pub struct Op<'a, T> {
    id: OperationId,
    repeat: Repeat,
    send: Send<'a, T>,
}

impl<'a, T> Op<'a, T> {
    /// The operation `id`, sent by `send`, as safe to repeat as the table says. An operation that
    /// is safe unless versioned counts as unsafe until [`versioned`](Self::versioned) says no.
    pub(crate) fn new(
        id: OperationId,
        send: impl Fn(&'a cl_api::Client, Dialect) -> BoxFuture<'a, Result<T>> + std::marker::Send + Sync + 'a,
    ) -> Self {
        let repeat = match id.operation().repeat {
            cl_api::operation::Repeat::Safe => Repeat::Safe,
            cl_api::operation::Repeat::Unsafe | cl_api::operation::Repeat::UnlessVersioned => Repeat::Unsafe,
        };
        Self { id, repeat, send: Box::new(send) }
    }

    /// Whether this request carries a version to check against; an operation the table calls
    /// safe unless versioned is safe to repeat without one.
    pub(crate) fn versioned(mut self, versioned: bool) -> Self {
        if self.id.operation().repeat == cl_api::operation::Repeat::UnlessVersioned && !versioned {
            self.repeat = Repeat::Safe;
        }
        self
    }

    /// What errors and logs call the operation: its `/api` operationId, but `login` for the
    /// login, which is what a user knows it as.
    fn name(&self) -> &'static str {
        match self.id {
            OperationId::SessionCreate => "login",
            id => id.name(),
        }
    }
}

/// Builds an [`Op`] for `OperationId::$id`: `[owned, …]` are cloned into each attempt; `$api`
/// and `$rest` are the two dialects' sends, with the generated client bound to `$c`.
macro_rules! op {
    ($id:ident, [$($own:ident),*] |$c:ident| api: $api:expr, rest: $rest:expr $(,)?) => {
        $crate::wire::Op::new(cl_api::operation::OperationId::$id, move |$c, dialect| {
            $(let $own = $own.clone();)*
            Box::pin(async move {
                match dialect {
                    cl_api::Dialect::Api => $api,
                    cl_api::Dialect::Rest => $rest,
                }
            })
        })
    };
    ($id:ident, |$c:ident| api: $api:expr, rest: $rest:expr $(,)?) => {
        op!($id, [] |$c| api: $api, rest: $rest)
    };
}
pub(crate) use op;

/// The operations that clean up after a failed or interrupted run: each may log in once more
/// when the re-login budget is spent. A policy of this SDK, not a property of the operations.
const CLEANUP: [OperationId; 7] = [
    OperationId::DownloadSessionDelete,
    OperationId::DownloadSessionCancel,
    OperationId::UpdateSessionFail,
    OperationId::UpdateSessionCancel,
    OperationId::UpdateSessionDelete,
    OperationId::ItemDelete,
    OperationId::LocalLibraryDelete,
];

impl Client {
    /// Sends an operation: re-logs in once when the API session expired (a 401 means the server
    /// did not act), and repeats it while the retry policy and the classifier allow.
    ///
    /// Operations send boxed `Send` futures, so every SDK future stays `Send` (spawnable) however
    /// deeply it nests calls; rustc cannot prove that through generic closure futures.
    pub(crate) async fn call<'a, T>(&'a self, op: Op<'a, T>) -> Result<T> {
        let token = self.session_token();
        match self.send(&op).await {
            Err(e) if e.kind() == ErrorKind::Unauthenticated && self.has_credentials() => {
                // Cleaning up what a failed run made may log in once more past the budget: the
                // run is over either way, and nothing should be left behind.
                let cleanup = CLEANUP.contains(&op.id);
                self.relogin(token.as_deref(), cleanup).await.map_err(|e| e.in_operation(op.name()))?;
                self.send(&op).await.map_err(|e| {
                    if e.kind() == ErrorKind::Unauthenticated {
                        e.with_detail("the server refused the session it had just issued".to_owned())
                            .with(Detail::SessionsEnd)
                    } else {
                        e
                    }
                })
            }
            result => result,
        }
    }

    /// Sends an operation, repeating it while the retry policy and the classifier allow.
    async fn send<'a, T>(&'a self, op: &Op<'a, T>) -> Result<T> {
        let mut retries = self.retry_policy().start();
        loop {
            let error = match (op.send)(self.raw(), self.dialect()).await {
                Ok(value) => return Ok(value),
                Err(error) => error,
            };
            match retries.next_pause(&error, op.repeat) {
                Some(pause) => {
                    let attempt = retries.failures();
                    tracing::warn!(operation = op.name(), attempt, ?pause, %error, "API call failed; retrying");
                    tokio::time::sleep(pause).await;
                }
                None => return Err(error.in_operation(op.name())),
            }
        }
    }

    /// Logs in again unless another task already did since `stale` was the token, and while the
    /// client's re-login budget lasts.
    async fn relogin(&self, stale: Option<&str>, cleanup: bool) -> Result<()> {
        let mut relogins = self.relogin_lock().await;
        if self.session_token().as_deref() == stale {
            match relogins.admit() {
                Err(_) if cleanup => tracing::info!("logging in once more to clean up"),
                admitted => admitted?,
            }
            tracing::info!("API session expired; logging in again");
            self.login().await?;
        }
        Ok(())
    }

    /// Logs in with the configured credentials and starts using the new session.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// // Logs in again at once, e.g. after the password was rotated on both sides.
    /// client.login().await?;
    /// # Ok(()) }
    /// ```
    pub async fn login(&self) -> Result<()> {
        let hooks = self.raw().hooks();
        let token = {
            let (user, password) = self.credentials().ok_or_else(|| {
                Error::new(ErrorKind::Unauthenticated, "the session expired and no credentials were given")
            })?;
            hooks.set_login(Some((user, password)));
            let token = self.send(&ops::session_create()).await;
            hooks.set_login(None);
            token?
        };
        hooks.set_session_id(Some(&token)).map_err(|_| {
            Error::new(ErrorKind::Decode, "the server issued a session token that cannot be sent back in a header")
                .in_operation("login")
        })
    }

    /// Tries each dialect in turn (all of them unless one was chosen) until `probe` succeeds; a
    /// dialect the server does not serve answers 404 (or OperationNotFound), anything else is a
    /// real failure.
    pub(crate) async fn settle_dialect<F, Fut>(&self, chosen: Option<Dialect>, probe: F) -> Result<()>
    where
        F: Fn(Client) -> Fut,
        Fut: Future<Output = Result<()>>,
    {
        let candidates = chosen.map_or(DIALECTS.to_vec(), |d| vec![d]);
        let mut last = None;
        for dialect in candidates {
            self.set_dialect(dialect);
            match probe(self.clone()).await {
                Ok(()) => {
                    tracing::debug!(%dialect, "dialect settled");
                    return Ok(());
                }
                Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::OperationNotFound) => last = Some(e),
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| Error::new(ErrorKind::InvalidInput, "no dialect to try")))
    }
}

/// Runs a generated call and returns its value. A 2xx status the spec does not list for the
/// operation (some builds answer 200 where 201 is documented) is still a success.
pub(crate) async fn api<T: DeserializeOwned, E: 'static>(
    call: impl Future<Output = std::result::Result<ResponseValue<T>, progenitor_client::Error<E>>>,
) -> Result<T> {
    api_or_empty(call).await?.ok_or_else(|| Error::new(ErrorKind::Decode, "the response had an empty body"))
}

/// [`api`] for a result some servers leave out: an empty 2xx body is `None`.
pub(crate) async fn api_or_empty<T: DeserializeOwned, E: 'static>(
    call: impl Future<Output = std::result::Result<ResponseValue<T>, progenitor_client::Error<E>>>,
) -> Result<Option<T>> {
    match cl_api::with_status(call).await {
        (Ok(value), _) => Ok(Some(value.into_inner())),
        (Err(progenitor_client::Error::InvalidResponsePayload(body, _)), Some(status))
            if status < 300 && body.iter().all(u8::is_ascii_whitespace) =>
        {
            Ok(None)
        }
        (Err(progenitor_client::Error::UnexpectedResponse(response)), _) if response.status().is_success() => {
            let body = response.bytes().await.map_err(transport)?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(None);
            }
            serde_json::from_slice(&body)
                .map(Some)
                .map_err(|e| Error::new(ErrorKind::Decode, format!("the response was not the documented shape: {e}")))
        }
        (Err(error), status) => Err(from_generated(error, status).await),
    }
}

/// [`api`] for operations without a result: any 2xx with any body is a success.
pub(crate) async fn void<E: 'static>(
    call: impl Future<Output = std::result::Result<ResponseValue<()>, progenitor_client::Error<E>>>,
) -> Result<()> {
    match cl_api::with_status(call).await {
        (Ok(_), _) => Ok(()),
        (Err(progenitor_client::Error::UnexpectedResponse(response)), _) if response.status().is_success() => Ok(()),
        (Err(error), status) => Err(from_generated(error, status).await),
    }
}
