//! The crate's integration tests, one binary: a module per area.

mod common;
mod jsonrpc;
mod rules;
mod rules_download;
mod table;
mod vcsp;
