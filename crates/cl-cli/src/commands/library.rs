//! `clx library`: list, show, create, change and delete libraries.

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
        LibraryCommand::Info { library } => {
            let id = crate::resolve::library(ctx.client, library).await?;
            print(ctx.json, &LibraryInfo::of(ctx, id).await?);
        }
        LibraryCommand::Create { name, datastore } => {
            let datastore = crate::resolve::datastore(ctx.client, datastore.as_deref()).await?;
            let id = ctx.client.create_local_library(name, &datastore).await?;
            print(ctx.json, &Done { id, name: name.clone(), kind: "library", done: "created" });
        }
        LibraryCommand::Update { library, changes } => {
            let id = crate::resolve::library(ctx.client, library).await?;
            let model = ctx.client.update_library(&id, &super::changes(changes)).await?;
            let name = model.name.unwrap_or_default();
            print(ctx.json, &Done { id, name, kind: "library", done: "updated" });
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

/// A library as `clx library info` shows it.
#[derive(Serialize)]
struct LibraryInfo {
    id: String,
    name: Option<String>,
    r#type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    datastore_id: Option<String>,
    datastore: Option<String>,
    items: usize,
    size: u64,
    created: Option<String>,
    modified: Option<String>,
    version: Option<String>,
}

impl LibraryInfo {
    async fn of(ctx: &Ctx<'_>, id: String) -> Result<Self, Failure> {
        use futures_util::StreamExt;
        let model = ctx.client.library(&id).await?;
        let datastore_id = model.storage_backings.iter().find_map(|b| b.datastore_id.clone());
        let datastore = match &datastore_id {
            Some(ds) => ctx.client.datastores(None).await?.into_iter().find(|d| &d.datastore == ds).map(|d| d.name),
            None => None,
        };
        let ids = ctx.client.items(&id).await?;
        if ids.len() > super::MAX_LISTING {
            return Err(usage(format!(
                "library {} holds {} items; clx sums at most {} (`clx item ls --limit N` lists some)",
                clean(model.name.as_deref().unwrap_or(&id)),
                ids.len(),
                super::MAX_LISTING
            )));
        }
        let items = ids.len();
        let sizes = futures_util::stream::iter(ids.iter().map(|item| ctx.client.item(item))).buffered(16);
        let size = sizes
            .fold(Ok::<u64, Failure>(0), |total, item| async move {
                let size = item?.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
                Ok(total? + size)
            })
            .await?;
        Ok(Self {
            id,
            name: model.name,
            r#type: model.type_.map(|t| t.to_string()),
            description: model.description.filter(|d| !d.is_empty()),
            datastore_id,
            datastore,
            items,
            size,
            created: model.creation_time.map(|t| t.to_rfc3339()),
            modified: model.last_modified_time.map(|t| t.to_rfc3339()),
            version: model.version,
        })
    }
}

impl crate::output::Report for LibraryInfo {
    fn text(&self) -> String {
        let mut out = format!("{} ({}), {}\n", text(&self.name), clean(&self.id), text(&self.r#type));
        if let Some(description) = &self.description {
            out.push_str(&format!("{}\n", clean(description)));
        }
        out.push_str(&format!("stores on {} ({})\n", text(&self.datastore), text(&self.datastore_id)));
        out.push_str(&format!("{} items, {}\n", self.items, crate::output::human(self.size)));
        out.push_str(&format!(
            "created {}, modified {}, version {}",
            text(&self.created),
            text(&self.modified),
            text(&self.version)
        ));
        out
    }
}
