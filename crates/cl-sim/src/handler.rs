//! One handler per operation of the table (`cl_api::operation`), whichever wire form asked.
//!
//! Every wire form (`/api`, `/rest`, JSON-RPC) is decoded into an [`OperationId`] and its vAPI
//! inputs by name (`library_item_id`, `create_spec`, …) and run through [`perform`]. Each handler
//! sits in the service module whose state it works on, listed in that module's `HANDLERS` beside
//! its code; [`handler`] finds it. A table operation without one is a test failure naming it.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use axum::http::HeaderMap;
use cl_api::operation::{Auth, OperationId};
use cl_api::types::ErrorType;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::error::{SimError, SimResult};
use crate::faults::CallFault;
use crate::service::Service;

/// An operation's handler: what it runs. (The vAPI type of its result, for JSON-RPC, is the
/// table's.)
pub(crate) struct Handler {
    pub op: OperationId,
    pub run: fn(&mut Call<'_>) -> SimResult<Reply>,
}

/// What a handler returns, before the wire form encodes it.
pub(crate) enum Reply {
    Value(Value),
    Void,
    /// The reply once work that waits on the network is done (a subscription reaching its
    /// publisher); handlers that only touch the service's state answer at once.
    Later(futures_util::future::BoxFuture<'static, SimResult<Reply>>),
}

impl Reply {
    pub fn of<T: serde::Serialize>(value: T) -> Self {
        Self::Value(serde_json::to_value(value).expect("generated types serialize"))
    }
}

/// One call as a handler sees it.
pub(crate) struct Call<'a> {
    pub service: &'a Arc<Service>,
    pub input: Input,
    pub headers: &'a HeaderMap,
    /// The caller, once its session is checked (empty for the login).
    pub user: String,
}

impl Call<'_> {
    /// The API session token the call came with.
    pub fn token(&self) -> &str {
        session_token(self.headers).unwrap_or_default()
    }
}

/// An operation's inputs by their vAPI names.
#[derive(Debug, Default)]
pub(crate) struct Input(pub Map<String, Value>);

impl Input {
    fn take(&mut self, name: &str) -> Value {
        self.0.remove(name).unwrap_or(Value::Null)
    }

    pub fn opt_str(&mut self, name: &str) -> SimResult<Option<String>> {
        match self.take(name) {
            Value::Null => Ok(None),
            Value::String(s) => Ok(Some(s)),
            other => Err(SimError::invalid_argument(format!("{name} must be a string, not {other}."))),
        }
    }

    pub fn str(&mut self, name: &str) -> SimResult<String> {
        self.opt_str(name)?.ok_or_else(|| required(name))
    }

    /// A required input decoded as `T`.
    pub fn get<T: DeserializeOwned>(&mut self, name: &str) -> SimResult<T> {
        self.opt(name)?.ok_or_else(|| required(name))
    }

    /// An optional input decoded as `T`.
    pub fn opt<T: DeserializeOwned>(&mut self, name: &str) -> SimResult<Option<T>> {
        match self.take(name) {
            Value::Null => Ok(None),
            value => serde_json::from_value(value)
                .map(Some)
                .map_err(|e| SimError::invalid_argument(format!("The {name} parameter is not valid: {e}."))),
        }
    }
}

fn required(name: &str) -> SimError {
    SimError::invalid_argument(format!("The {name} parameter is required."))
}

/// The handler of `op`, if the simulator has one.
pub(crate) fn handler(op: OperationId) -> Option<&'static Handler> {
    static BY_ID: OnceLock<HashMap<OperationId, &'static Handler>> = OnceLock::new();
    BY_ID
        .get_or_init(|| crate::service::HANDLERS.iter().flat_map(|list| list.iter()).map(|h| (h.op, h)).collect())
        .get(&op)
        .copied()
}

/// What became of an operation once the injected faults had their say.
pub(crate) enum Outcome {
    Done(SimResult<Reply>),
    /// An injected answer from a proxy in front of the service: a bare status and a text body.
    Proxy(u16),
    /// An injected connection drop, before the service acted or after (a lost reply).
    Cut,
}

/// Runs one operation, applying the call faults injected for it. Every wire form goes through here.
pub(crate) async fn perform(service: &Arc<Service>, op: OperationId, input: Input, headers: &HeaderMap) -> Outcome {
    service.record_call(op);
    match service.faults.take_call(op.name()) {
        Some(CallFault::Status(503)) => {
            Outcome::Done(Err(SimError::new(ErrorType::ServiceUnavailable, "Injected: service unavailable.")))
        }
        Some(CallFault::Status(code)) => Outcome::Proxy(code),
        Some(CallFault::Reset) => Outcome::Cut,
        Some(CallFault::LoseReply) => {
            let _ = run(service, op, input, headers).await;
            Outcome::Cut
        }
        None => Outcome::Done(run(service, op, input, headers).await),
    }
}

async fn run(service: &Arc<Service>, op: OperationId, input: Input, headers: &HeaderMap) -> SimResult<Reply> {
    let handler = handler(op).ok_or_else(|| {
        SimError::new(ErrorType::OperationNotFound, format!("The simulator does not implement {op}."))
    })?;
    let user = match op.operation().auth {
        Auth::Basic => String::new(),
        Auth::Session => service.authenticate(session_token(headers))?,
    };
    match (handler.run)(&mut Call { service, input, headers, user })? {
        Reply::Later(work) => work.await,
        reply => Ok(reply),
    }
}

fn session_token(headers: &HeaderMap) -> Option<&str> {
    headers.get(cl_api::SESSION_HEADER).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_of_the_table_has_exactly_one_handler() {
        let mut seen = HashMap::new();
        for h in crate::service::HANDLERS.iter().flat_map(|list| list.iter()) {
            *seen.entry(h.op).or_insert(0) += 1;
        }
        let missing: Vec<_> = OperationId::ALL.iter().filter(|op| !seen.contains_key(op)).map(|op| op.name()).collect();
        assert!(missing.is_empty(), "the simulator has no handler for {}", missing.join(", "));
        let twice: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).map(|(op, _)| op.name()).collect();
        assert!(twice.is_empty(), "more than one handler for {}", twice.join(", "));
    }
}
