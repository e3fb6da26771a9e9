//! One module per command, each `run(…, &ctx)`; `main.rs` only dispatches.

use cl_sdk::Client;
use serde::Serialize;

use crate::args::{Cli, TransferArgs};
use crate::output::{Report, clean};

pub mod copy;
pub mod datastore;
pub mod demo;
pub mod download;
pub mod item;
pub mod library;
pub mod login;
pub mod ova;
pub mod session;
pub mod upload;

/// What every command that talks to a server has.
pub struct Ctx<'a> {
    pub client: &'a Client,
    /// The command line, for what a command connects to beyond the target (`clx copy --to-url`).
    pub cli: &'a Cli,
    /// `--json`: results as JSON on stdout.
    pub json: bool,
    /// The knobs of every transfer.
    pub transfer: &'a TransferArgs,
}

/// Something created, canceled or deleted.
#[derive(Serialize)]
pub struct Done {
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    pub kind: &'static str,
    pub done: &'static str,
}

impl Report for Done {
    fn text(&self) -> String {
        let (id, name, kind, done) = (clean(&self.id), clean(&self.name), self.kind, self.done);
        // Only sessions have no name.
        if name.is_empty() { format!("{done} {kind} session {id}") } else { format!("{done} {kind} {name} ({id})") }
    }
}

/// Optional server text for a table cell: cleaned, `-` when absent.
pub fn text(value: &Option<String>) -> String {
    value.as_deref().map_or_else(|| "-".to_owned(), |v| clean(v).into_owned())
}
