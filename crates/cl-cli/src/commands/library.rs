//! `clx library`: list, create and delete libraries.

use serde::Serialize;

use super::{Ctx, Done, text};
use crate::args::LibraryCommand;
use crate::output::{Failure, Row, clean, print, usage};

pub async fn run(command: &LibraryCommand, ctx: &Ctx<'_>) -> Result<(), Failure> {
    match command {
        LibraryCommand::Ls { limit } => {
            let ids = ctx.client.libraries().await?;
            super::list(ctx, "the server holds libraries", ids, *limit, |id| async move {
                let library = ctx.client.library(&id).await?;
                Ok(LibraryRow { name: library.name, r#type: library.type_.map(|t| t.to_string()), id })
            })
            .await?;
        }
        LibraryCommand::Create { name, datastore } => {
            let datastore = crate::resolve::datastore(ctx.client, datastore.as_deref()).await?;
            let id = ctx.client.create_local_library(name, &datastore).await?;
            print(ctx.json, &Done { id, name: name.clone(), kind: "library", done: "created" });
        }
        LibraryCommand::Rm { library, force } => {
            let id = crate::resolve::library(ctx.client, library).await?;
            let items = ctx.client.items(&id).await?;
            if !items.is_empty() && !force {
                return Err(usage(format!(
                    "library {:?} holds {} items; pass --force to delete them with it",
                    clean(library),
                    items.len()
                )));
            }
            let name = ctx.client.library(&id).await?.name.unwrap_or_default();
            ctx.client.delete_local_library(&id).await?;
            print(ctx.json, &Done { id, name, kind: "library", done: "deleted" });
        }
    }
    Ok(())
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
