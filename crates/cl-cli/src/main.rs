//! `clx`: move content in and out of vCenter Content Library items.
//!
//! A thin binary over `cl-sdk`. With no vCenter configured it runs the `cl-sim` simulator
//! in-process and says so, so every command (and `clx demo`) works out of the box.

use std::process::ExitCode;

use clap::Parser;
use serde::Serialize;

use args::{Cli, Command, ItemCommand, LibraryCommand, SessionCommand};
use output::{EXIT_SERVER, Failure, Report, clean, fail, print};

mod args;
mod connect;
mod demo;
mod output;
mod progress;
mod signals;
mod transfers;

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CLX_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            eprintln!("clx: {}", clean(&f.message));
            // A canceled transfer exits as its signal asks (130 for Ctrl-C, 143 for SIGTERM).
            let code = match signals::exit_code() {
                Some(signal) if f.code == output::EXIT_CANCELED => signal,
                _ => f.code,
            };
            ExitCode::from(code)
        }
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    if let Command::Sim(args) = &cli.command {
        return cl_sim::serve::serve(args.clone()).await.map_err(|e| fail(format!("the simulator failed: {e}")));
    }
    signals::install();
    let target = connect::connect(&cli).await?;
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
            let datastore = match (datastore, target.simulated) {
                (Some(d), _) => d.clone(),
                (None, true) => cl_sim::DATASTORE_ID.to_owned(),
                (None, false) => return Err(fail("give --datastore: the id of the datastore to back the library")),
            };
            let id = client.create_local_library(name, &datastore).await?;
            print(json_out, &Done { id, name: name.clone(), kind: "library", done: "created" });
        }
        Command::Item(ItemCommand::Ls { library }) => {
            let library_id = client.find_library(library).await?;
            let mut rows = Vec::new();
            for id in client.items(&library_id).await? {
                let item = client.item(&id).await?;
                rows.push(ItemRow { name: item.name, r#type: item.type_, size: item.size, id });
            }
            print(json_out, &rows);
        }
        Command::Item(ItemCommand::Info { target: spec }) => {
            let (library, item) = connect::split_target(spec)?;
            let id = client.find_item(&client.find_library(library).await?, item).await?;
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
        Command::Upload { paths, library, item, create, checksum } => {
            let report = transfers::upload(
                client,
                paths,
                library,
                item,
                *create,
                transfers::upload_options(&cli.transfer, *checksum),
                json_out,
            )
            .await?;
            print(json_out, &report);
        }
        Command::Download { target: spec, to, overwrite, no_resume } => {
            let (library, item) = connect::split_target(spec)?;
            let id = client.find_item(&client.find_library(library).await?, item).await?;
            let report = transfers::download(client, &id, to, *overwrite, !*no_resume, &cli.transfer, json_out).await?;
            print(json_out, &report);
        }
        Command::Session(SessionCommand::Ls) => {
            let mut rows = Vec::new();
            for id in client.download_sessions(None).await? {
                let s = client.download_session(&id).info().await?;
                let state = s.state.map(|x| x.to_string());
                rows.push(SessionRow { kind: "download", state, item: s.library_item_id, id });
            }
            for id in client.update_sessions(None).await? {
                let s = client.update_session(&id).info().await?;
                let state = s.state.map(|x| x.to_string());
                rows.push(SessionRow { kind: "update", state, item: s.library_item_id, id });
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
                return Err(Failure { message: format!("there is no session {id}"), code: EXIT_SERVER });
            };
            let done = if cancel { "canceled" } else { "deleted" };
            print(json_out, &Done { id: id.clone(), name: String::new(), kind, done });
        }
        Command::Demo { disk_mib } => demo::demo(client, *disk_mib, &cli.transfer, json_out).await?,
        Command::Sim(_) => unreachable!("handled above"),
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
        let Done { id, name, kind, done } = self;
        // Only sessions have no name.
        let (id, name) = (clean(id), clean(name));
        if name.is_empty() { format!("{done} {kind} session {id}") } else { format!("{done} {kind} {name} ({id})") }
    }
}

#[derive(Serialize)]
struct LibraryRow {
    id: String,
    name: Option<String>,
    r#type: Option<String>,
}

impl Report for LibraryRow {
    fn text(&self) -> String {
        format!("{}\t{}", clean(self.name.as_deref().unwrap_or("")), clean(&self.id))
    }
}

#[derive(Serialize)]
struct ItemRow {
    id: String,
    name: Option<String>,
    r#type: Option<String>,
    size: Option<i64>,
}

impl Report for ItemRow {
    fn text(&self) -> String {
        let size = self.size.map_or_else(|| "null".to_owned(), |s| s.to_string());
        format!("{}\t{size}\t{}", clean(self.name.as_deref().unwrap_or("")), clean(&self.id))
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
        let name = clean(self.name.as_deref().unwrap_or("?"));
        let version = clean(self.content_version.as_deref().unwrap_or("?"));
        let mut out = format!("{name} ({}), content version {version}\n", clean(&self.id));
        for f in &self.files {
            let sum = clean(f.checksum_info.as_ref().map(|c| c.checksum.as_str()).unwrap_or("-"));
            out.push_str(&format!("  {}\t{}\t{sum}\n", clean(&f.name), f.size.unwrap_or(0)));
        }
        out.trim_end().to_owned()
    }
}

#[derive(Serialize)]
struct SessionRow {
    id: String,
    kind: &'static str,
    item: Option<String>,
    state: Option<String>,
}

impl Report for SessionRow {
    fn text(&self) -> String {
        format!("{}\t{}\t{}", self.kind, clean(self.state.as_deref().unwrap_or("")), clean(&self.id))
    }
}
