//! The crate's integration tests, one binary: a module per area.

mod check;
mod cli;
mod common;
mod copy;
mod govc_like;
mod ova;
mod progress_tty;
mod resume;
mod s3;
mod safety;
mod subscribe;
mod vcsim;
