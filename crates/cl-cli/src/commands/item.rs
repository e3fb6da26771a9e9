//! `clx item`: list, show, change and delete items.

use serde::Serialize;

use super::{Ctx, Done, text};
use crate::args::ItemCommand;
use crate::output::{Failure, Report, Row, clean, human, print};

pub async fn run(command: &ItemCommand, ctx: &Ctx<'_>) -> Result<(), Failure> {
    match command {
        ItemCommand::Ls { library, limit } => {
            let library_id = crate::resolve::library(ctx.client, library).await?;
            let items = ctx.client.items(&library_id).await?;
            let what = format!("library {:?} holds items", clean(library));
            super::list_models(ctx, &what, items, *limit, |item| ItemRow {
                id: item.id.unwrap_or_default(),
                name: item.name,
                r#type: item.type_,
                size: item.size,
                cached: item.cached,
            })
            .await?;
        }
        ItemCommand::Info { target: spec } => {
            let (id, _) = crate::resolve::item(ctx.client, spec).await?;
            let model = ctx.client.item(&id).await?;
            let files = ctx.client.item_files(&id).await?;
            let info = ItemInfo {
                id: id.to_string(),
                name: model.name,
                description: model.description.filter(|d| !d.is_empty()),
                r#type: model.type_,
                size: model.size,
                cached: model.cached,
                content_version: model.content_version,
                files,
            };
            print(ctx.json, &info);
        }
        ItemCommand::Sync { target: spec, force, wait } => {
            let (id, _) = crate::resolve::item(ctx.client, spec).await?;
            let sync = ctx.client.sync_item(&id, *force).await?;
            super::sync_and_wait(ctx, spec, sync, wait).await?;
        }
        ItemCommand::Evict { target: spec } => {
            let (id, name) = crate::resolve::item(ctx.client, spec).await?;
            ctx.client.evict_item(&id).await?;
            print(ctx.json, &Done { id: id.to_string(), name, kind: "item", done: "evicted" });
        }
        ItemCommand::Update { target: spec, changes } => {
            let (id, _) = crate::resolve::item(ctx.client, spec).await?;
            let model = ctx.client.update_item(&id, &super::changes(changes)).await?;
            let name = model.name.unwrap_or_default();
            print(ctx.json, &Done { id: id.to_string(), name, kind: "item", done: "updated" });
        }
        ItemCommand::Rm { target: spec } => {
            let (id, name) = crate::resolve::item(ctx.client, spec).await?;
            ctx.client.delete_item(&id).await?;
            print(ctx.json, &Done { id: id.to_string(), name, kind: "item", done: "deleted" });
        }
    }
    Ok(())
}

#[derive(Serialize)]
struct ItemRow {
    id: String,
    name: Option<String>,
    r#type: Option<String>,
    size: Option<i64>,
    cached: Option<bool>,
}

impl Row for ItemRow {
    const HEADER: &'static [&'static str] = &["NAME", "TYPE", "SIZE", "CACHED", "ID"];
    fn cells(&self) -> Vec<String> {
        let size = self.size.and_then(|s| u64::try_from(s).ok()).map_or_else(|| "-".to_owned(), human);
        vec![text(&self.name), text(&self.r#type), size, yes_no(self.cached), clean(&self.id).into_owned()]
    }
}

fn yes_no(flag: Option<bool>) -> String {
    match flag {
        Some(true) => "yes".into(),
        Some(false) => "no".into(),
        None => "-".into(),
    }
}

#[derive(Serialize)]
struct ItemInfo {
    id: String,
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<String>,
    r#type: Option<String>,
    size: Option<i64>,
    cached: Option<bool>,
    content_version: Option<String>,
    files: Vec<cl_sdk::types::ItemFileInfo>,
}

impl Report for ItemInfo {
    fn text(&self) -> String {
        let size = self.size.and_then(|s| u64::try_from(s).ok()).map_or_else(|| "-".to_owned(), human);
        let cached = if self.cached == Some(false) { " (content not cached)" } else { "" };
        let mut out = format!(
            "{} ({}), {}, {size}{cached}, content version {}\n",
            text(&self.name),
            clean(&self.id),
            text(&self.r#type),
            text(&self.content_version)
        );
        if let Some(description) = &self.description {
            out.push_str(&format!("{}\n", clean(description)));
        }
        let rows: Vec<FileRow> = self.files.iter().map(FileRow).collect();
        out.push_str(&rows.text());
        out
    }
}

/// One file of an item, in `clx item info`.
#[derive(Serialize)]
struct FileRow<'a>(&'a cl_sdk::types::ItemFileInfo);

impl Row for FileRow<'_> {
    const HEADER: &'static [&'static str] = &["FILE", "SIZE", "CACHED", "CHECKSUM"];
    fn cells(&self) -> Vec<String> {
        let size = self.0.size.and_then(|s| u64::try_from(s).ok()).map_or_else(|| "-".to_owned(), human);
        let sum = self
            .0
            .checksum_info
            .as_ref()
            .map(|c| format!("{}:{}", text(&c.algorithm.as_ref().map(|a| a.to_string())), c.checksum));
        vec![
            clean(&self.0.name).into_owned(),
            size,
            yes_no(Some(self.0.cached)),
            clean(&sum.unwrap_or_else(|| "-".into())).into_owned(),
        ]
    }
}
