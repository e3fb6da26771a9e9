//! `clx`: move content in and out of vCenter Content Library items.
//!
//! A thin binary over `cl-sdk`. Every command needs a vCenter (`--url`, `CLX_URL`, `GOVC_URL`)
//! but `clx demo`, which runs the `cl-sim` simulator in-process without one and says so, and
//! `clx sim`, which serves it.

use std::process::ExitCode;

use clap::Parser;
use serde::Serialize;

use args::{Cli, Command, DatastoreCommand, ItemCommand, LibraryCommand, SessionCommand};
use output::{Failure, Report, Row, clean, human, print, usage};

mod args;
mod builtin;
mod connect;
mod demo;
mod output;
mod progress;
mod resolve;
mod signals;
mod transfers;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CLX_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    let json_out = cli.json;
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            // A canceled transfer exits as its signal asks (130 for Ctrl-C, 143 for SIGTERM).
            let code = match signals::exit_code() {
                Some(signal) if f.code == output::EXIT_CANCELED => signal,
                _ => f.code,
            };
            output::print_failure(json_out, &f, code);
            ExitCode::from(code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    match &cli.command {
        Command::Sim(args) => {
            return builtin::serve(args.clone()).await;
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(*shell, &mut Cli::command(), "clx", &mut std::io::stdout());
            return Ok(());
        }
        _ => {}
    }
    signals::install();
    let target = connect::connect(&cli, matches!(cli.command, Command::Demo { .. })).await?;
    let client = &target.client;
    let json_out = cli.json;
    match &cli.command {
        Command::Login => {
            let user = client.session_user().await?;
            let login = Login { user, dialect: client.dialect().to_string(), url: client.url().to_owned() };
            print(json_out, &login);
        }
        Command::Library(LibraryCommand::Ls) => {
            let mut rows = Vec::new();
            for id in client.libraries().await? {
                let library = client.library(&id).await?;
                rows.push(LibraryRow { name: library.name, r#type: library.type_.map(|t| t.to_string()), id });
            }
            print(json_out, &rows);
        }
        Command::Library(LibraryCommand::Create { name, datastore }) => {
            let datastore = resolve::datastore(client, datastore.as_deref()).await?;
            let id = client.create_local_library(name, &datastore).await?;
            print(json_out, &Done { id, name: name.clone(), kind: "library", done: "created" });
        }
        Command::Library(LibraryCommand::Rm { library, force }) => {
            let id = resolve::library(client, library).await?;
            let items = client.items(&id).await?;
            if !items.is_empty() && !force {
                return Err(usage(format!(
                    "library {:?} holds {} items; pass --force to delete them with it",
                    clean(library),
                    items.len()
                )));
            }
            let name = client.library(&id).await?.name.unwrap_or_default();
            client.delete_local_library(&id).await?;
            print(json_out, &Done { id, name, kind: "library", done: "deleted" });
        }
        Command::Item(ItemCommand::Ls { library }) => {
            let library_id = resolve::library(client, library).await?;
            let mut rows = Vec::new();
            for id in client.items(&library_id).await? {
                let item = client.item(&id).await?;
                rows.push(ItemRow { name: item.name, r#type: item.type_, size: item.size, id });
            }
            print(json_out, &rows);
        }
        Command::Item(ItemCommand::Info { target: spec }) => {
            let (id, _) = resolve::item(client, spec).await?;
            let model = client.item(&id).await?;
            let files = client.item_files(&id).await?;
            let info = ItemInfo {
                id,
                name: model.name,
                r#type: model.type_,
                size: model.size,
                content_version: model.content_version,
                files,
            };
            print(json_out, &info);
        }
        Command::Item(ItemCommand::Rm { target: spec }) => {
            let (id, name) = resolve::item(client, spec).await?;
            client.delete_item(&id).await?;
            print(json_out, &Done { id, name, kind: "item", done: "deleted" });
        }
        Command::Upload {
            paths,
            pull,
            source_thumbprint,
            source_cert,
            source_checksum,
            ignore_warning,
            library,
            item,
            create,
            replace,
            checksum,
        } => {
            let warnings = transfers::warnings(ignore_warning)?;
            let options =
                transfers::upload_options(&cli.transfer, *checksum).replace(*replace).ignore_warnings(warnings);
            let sources = match pull {
                Some(url) => transfers::Sources::Pull(transfers::pull_file(
                    url,
                    source_thumbprint.as_deref(),
                    source_cert.as_deref(),
                    source_checksum.as_deref(),
                )?),
                None => transfers::Sources::Paths(paths),
            };
            let report = transfers::upload(client, sources, library, item, *create, options, json_out).await?;
            print(json_out, &report);
        }
        Command::Download { target: spec, to, only, overwrite, no_resume } => {
            let (id, _) = resolve::item(client, spec).await?;
            let request = transfers::DownloadRequest { only, overwrite: *overwrite, resume: !*no_resume };
            if to.as_os_str() == "-" {
                transfers::download_to_stdout(client, &id, &request, &cli.transfer).await?;
            } else {
                let report = transfers::download(client, &id, to, &request, &cli.transfer, json_out).await?;
                print(json_out, &report);
            }
        }
        Command::Session(SessionCommand::Ls) => {
            let mut rows = Vec::new();
            for id in client.download_sessions(None).await? {
                let s = client.download_session(&id).info().await?;
                let (state, expires) = (s.state.map(|x| x.to_string()), s.expiration_time.map(|t| t.to_rfc3339()));
                let (item, progress) = (s.library_item_id, s.client_progress);
                rows.push(SessionRow { kind: "download", state, item, progress, expires, id });
            }
            for id in client.update_sessions(None).await? {
                let s = client.update_session(&id).info().await?;
                let (state, expires) = (s.state.map(|x| x.to_string()), s.expiration_time.map(|t| t.to_rfc3339()));
                let (item, progress) = (s.library_item_id, s.client_progress);
                rows.push(SessionRow { kind: "update", state, item, progress, expires, id });
            }
            print(json_out, &rows);
        }
        Command::Session(SessionCommand::Cancel { id } | SessionCommand::Rm { id }) => {
            let cancel = matches!(cli.command, Command::Session(SessionCommand::Cancel { .. }));
            let kind = if client.download_sessions(None).await?.contains(id) {
                let s = client.download_session(id);
                if cancel {
                    s.cancel().await?
                } else {
                    s.delete().await?
                }
                "download"
            } else if client.update_sessions(None).await?.contains(id) {
                let s = client.update_session(id);
                if cancel {
                    s.cancel().await?
                } else {
                    s.delete().await?
                }
                "update"
            } else {
                return Err(usage(format!("there is no session {:?}; `clx session ls` lists them", clean(id))));
            };
            let done = if cancel { "canceled" } else { "deleted" };
            print(json_out, &Done { id: id.clone(), name: String::new(), kind, done });
        }
        Command::Datastore(DatastoreCommand::Ls) => {
            let rows: Vec<DatastoreRow> = client.datastores(None).await?.into_iter().map(DatastoreRow).collect();
            print(json_out, &rows);
        }
        Command::Demo { disk_mib, keep, datastore } => {
            let datastore = resolve::datastore(client, datastore.as_deref()).await?;
            demo::demo(client, &datastore, *disk_mib, *keep, &cli.transfer, json_out).await?
        }
        Command::Sim(_) | Command::Completions { .. } => unreachable!("handled above"),
    }
    Ok(())
}

#[derive(Serialize)]
struct Login {
    user: String,
    dialect: String,
    url: String,
}

impl Report for Login {
    fn text(&self) -> String {
        format!("logged in to {} as {} over {}", self.url, clean(&self.user), self.dialect)
    }
}

/// Something created, canceled or deleted.
#[derive(Serialize)]
struct Done {
    id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    name: String,
    kind: &'static str,
    done: &'static str,
}

impl Report for Done {
    fn text(&self) -> String {
        let (id, name, kind, done) = (clean(&self.id), clean(&self.name), self.kind, self.done);
        // Only sessions have no name.
        if name.is_empty() { format!("{done} {kind} session {id}") } else { format!("{done} {kind} {name} ({id})") }
    }
}

#[derive(Serialize)]
struct LibraryRow {
    id: String,
    name: Option<String>,
    r#type: Option<String>,
}

impl Row for LibraryRow {
    const HEADER: &'static [&'static str] = &["NAME", "TYPE", "ID"];
    fn cells(&self) -> Vec<String> {
        vec![text(&self.name), text(&self.r#type), clean(&self.id).into_owned()]
    }
}

#[derive(Serialize)]
struct ItemRow {
    id: String,
    name: Option<String>,
    r#type: Option<String>,
    size: Option<i64>,
}

impl Row for ItemRow {
    const HEADER: &'static [&'static str] = &["NAME", "TYPE", "SIZE", "ID"];
    fn cells(&self) -> Vec<String> {
        let size = self.size.and_then(|s| u64::try_from(s).ok()).map_or_else(|| "-".to_owned(), human);
        vec![text(&self.name), text(&self.r#type), size, clean(&self.id).into_owned()]
    }
}

#[derive(Serialize)]
struct ItemInfo {
    id: String,
    name: Option<String>,
    r#type: Option<String>,
    size: Option<i64>,
    content_version: Option<String>,
    files: Vec<cl_sdk::types::ItemFileInfo>,
}

impl Report for ItemInfo {
    fn text(&self) -> String {
        let size = self.size.and_then(|s| u64::try_from(s).ok()).map_or_else(|| "-".to_owned(), human);
        let mut out = format!(
            "{} ({}), {}, {size}, content version {}\n",
            text(&self.name),
            clean(&self.id),
            text(&self.r#type),
            text(&self.content_version)
        );
        let rows: Vec<FileRow> = self.files.iter().map(FileRow).collect();
        out.push_str(&rows.text());
        out
    }
}

/// One file of an item, in `clx item info`.
#[derive(Serialize)]
struct FileRow<'a>(&'a cl_sdk::types::ItemFileInfo);

impl Row for FileRow<'_> {
    const HEADER: &'static [&'static str] = &["FILE", "SIZE", "CHECKSUM"];
    fn cells(&self) -> Vec<String> {
        let size = self.0.size.and_then(|s| u64::try_from(s).ok()).map_or_else(|| "-".to_owned(), human);
        let sum = self
            .0
            .checksum_info
            .as_ref()
            .map(|c| format!("{}:{}", text(&c.algorithm.as_ref().map(|a| a.to_string())), c.checksum));
        vec![clean(&self.0.name).into_owned(), size, clean(&sum.unwrap_or_else(|| "-".into())).into_owned()]
    }
}

#[derive(Serialize)]
struct SessionRow {
    id: String,
    kind: &'static str,
    item: Option<String>,
    state: Option<String>,
    progress: Option<i64>,
    expires: Option<String>,
}

impl Row for SessionRow {
    const HEADER: &'static [&'static str] = &["KIND", "STATE", "ITEM", "PROGRESS", "EXPIRES", "ID"];
    fn cells(&self) -> Vec<String> {
        let progress = self.progress.map_or_else(|| "-".to_owned(), |p| format!("{p}%"));
        vec![
            self.kind.to_owned(),
            text(&self.state),
            text(&self.item),
            progress,
            text(&self.expires),
            clean(&self.id).into_owned(),
        ]
    }
}

#[derive(Serialize)]
#[serde(transparent)]
struct DatastoreRow(cl_sdk::types::DatastoreSummary);

impl Row for DatastoreRow {
    const HEADER: &'static [&'static str] = &["NAME", "TYPE", "FREE", "CAPACITY", "ID"];
    fn cells(&self) -> Vec<String> {
        let bytes = |b: Option<i64>| b.and_then(|b| u64::try_from(b).ok()).map_or_else(|| "-".to_owned(), human);
        let d = &self.0;
        vec![
            clean(&d.name).into_owned(),
            clean(&d.type_.to_string()).into_owned(),
            bytes(d.free_space),
            bytes(d.capacity),
            clean(&d.datastore).into_owned(),
        ]
    }
}

/// Optional server text for a table cell: cleaned, `-` when absent.
fn text(value: &Option<String>) -> String {
    value.as_deref().map_or_else(|| "-".to_owned(), |v| clean(v).into_owned())
}
