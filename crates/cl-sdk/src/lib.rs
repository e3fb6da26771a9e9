//! The ergonomic layer over [`cl_api`]: login, typed errors, session handles and whole transfers.
//!
//! Only the raw bindings exist so far; see the project's issues for the SDK's plan. Until then the
//! generated client is re-exported as [`api`].

pub use cl_api as api;
