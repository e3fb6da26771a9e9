//! The crate's integration tests, one binary: a module per area.

mod wire;
mod wire_api;
mod wire_both;
mod wire_rest;
