//! One module per command, each `run(…, &ctx)`; `main.rs` only dispatches.

use cl_sdk::Client;
use serde::Serialize;

use crate::args::{Cli, TransferArgs};
use crate::output::{Failure, Report, Row, RowPrinter, clean, usage};

pub mod check;
pub mod copy;
pub mod datastore;
pub mod demo;
pub mod download;
pub mod item;
pub mod library;
pub mod login;
pub mod ova;
pub mod publish;
pub mod session;
pub mod upload;

/// The most entries a listing shows without `--limit`: a longer one is refused, saying how to
/// narrow it, before any detail is fetched.
pub const MAX_LISTING: usize = 100_000;
/// Details fetched at once while listing.
const AT_ONCE: usize = 16;

/// Prints the models of a listing as rows as they arrive (the SDK reads them a few at once), in
/// order; at most `limit`. A listing longer than [`MAX_LISTING`] without a limit is refused
/// before any model is read.
pub async fn list_models<M, R: Row>(
    ctx: &Ctx<'_>,
    what: &str,
    listing: cl_sdk::Listing<'_, M>,
    limit: Option<usize>,
    row: impl Fn(M) -> R,
) -> Result<(), Failure> {
    use futures_util::StreamExt;
    if limit.is_none() && listing.total() > MAX_LISTING {
        return Err(too_many(what, listing.total()));
    }
    let mut models = listing.take(limit.unwrap_or(usize::MAX));
    let mut printer = RowPrinter::new(ctx.json);
    while let Some(model) = models.next().await {
        printer.push(row(model?));
    }
    printer.finish();
    Ok(())
}

fn too_many(what: &str, n: usize) -> Failure {
    usage(format!("{what}: {n} of them; clx lists at most {MAX_LISTING} at once: pass --limit N to list the first N"))
}

/// Lists `ids` (`what` names them for messages): each row fetched by `row`, a few at once, and
/// printed as it comes, in order; at most `limit`.
pub async fn list<T, R, F, Fut>(
    ctx: &Ctx<'_>,
    what: &str,
    ids: Vec<T>,
    limit: Option<usize>,
    row: F,
) -> Result<(), Failure>
where
    R: Row,
    F: Fn(T) -> Fut,
    Fut: std::future::Future<Output = Result<R, Failure>>,
{
    use futures_util::StreamExt;
    if limit.is_none() && ids.len() > MAX_LISTING {
        return Err(too_many(what, ids.len()));
    }
    let ids = ids.into_iter().take(limit.unwrap_or(usize::MAX));
    let mut rows = futures_util::stream::iter(ids.map(row)).buffered(AT_ONCE);
    let mut printer = RowPrinter::new(ctx.json);
    while let Some(row) = rows.next().await {
        printer.push(row?);
    }
    printer.finish();
    Ok(())
}

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

/// `--name` / `--description` as the SDK's changes.
pub fn changes(args: &crate::args::ChangeArgs) -> cl_sdk::Changes {
    let mut changes = cl_sdk::Changes::new();
    if let Some(name) = &args.name {
        changes = changes.name(name);
    }
    if let Some(description) = &args.description {
        changes = changes.description(description);
    }
    changes
}

/// Starts waiting for `sync` if `--wait` says so, with progress, and reports the end.
pub async fn sync_and_wait(
    ctx: &Ctx<'_>,
    what: &str,
    sync: cl_sdk::SyncHandle,
    wait: &crate::args::WaitArgs,
) -> Result<(), crate::output::Failure> {
    let library = sync.library().to_string();
    if !wait.wait {
        crate::output::print(
            ctx.json,
            &Synced { library, done: "sync started", items: None, items_cached: None, bytes_cached: None },
        );
        return Ok(());
    }
    let mut display = crate::progress::SyncDisplay::new(what, ctx.json);
    let mut last = None;
    let result = sync
        .wait(wait.wait_timeout, |p| {
            display.update(p);
            last = Some(p.clone());
        })
        .await;
    display.finish(last.as_ref());
    let done = result?;
    crate::output::print(
        ctx.json,
        &Synced {
            library,
            done: "synced",
            items: Some(done.items),
            items_cached: Some(done.items_cached),
            bytes_cached: Some(done.bytes_cached),
        },
    );
    Ok(())
}

/// What `clx library sync` and `clx item sync` report.
#[derive(Serialize)]
struct Synced {
    library: String,
    done: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    items: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    items_cached: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bytes_cached: Option<u64>,
}

impl crate::output::Report for Synced {
    fn text(&self) -> String {
        match (self.items, self.items_cached, self.bytes_cached) {
            (Some(items), Some(cached), Some(bytes)) => format!(
                "synced library {}: {items} items, {cached} cached ({})",
                crate::output::clean(&self.library),
                crate::output::human(bytes)
            ),
            _ => format!("{} for library {}", self.done, crate::output::clean(&self.library)),
        }
    }
}
