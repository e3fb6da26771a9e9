//! The crate's integration tests, one binary: a module per area.

mod copy;
mod core;
mod decoders;
mod fault_matrix;
mod hostile;
mod hostile_server;
mod load;
mod ova_export;
mod preflight;
mod preflight_advice;
mod preflight_deep;
mod preflight_signature;
mod publish;
mod reach;
mod retries;
mod subscription;
mod transfers;
mod url_import;
mod vcsim;
