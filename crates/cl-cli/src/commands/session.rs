//! `clx session`: list, cancel and delete transfer sessions.

use serde::Serialize;

use super::{Ctx, Done, text};
use crate::args::SessionCommand;
use crate::output::{Failure, Row, clean, print, usage};

pub async fn run(command: &SessionCommand, ctx: &Ctx<'_>) -> Result<(), Failure> {
    match command {
        SessionCommand::Ls => {
            let mut rows = Vec::new();
            for id in ctx.client.download_sessions(None).await? {
                let s = ctx.client.download_session(&id).info().await?;
                let (state, expires) = (s.state.map(|x| x.to_string()), s.expiration_time.map(|t| t.to_rfc3339()));
                let (item, progress) = (s.library_item_id, s.client_progress);
                rows.push(SessionRow { kind: "download", state, item, progress, expires, id });
            }
            for id in ctx.client.update_sessions(None).await? {
                let s = ctx.client.update_session(&id).info().await?;
                let (state, expires) = (s.state.map(|x| x.to_string()), s.expiration_time.map(|t| t.to_rfc3339()));
                let (item, progress) = (s.library_item_id, s.client_progress);
                rows.push(SessionRow { kind: "update", state, item, progress, expires, id });
            }
            print(ctx.json, &rows);
        }
        SessionCommand::Cancel { id } | SessionCommand::Rm { id } => {
            let cancel = matches!(command, SessionCommand::Cancel { .. });
            let kind = if ctx.client.download_sessions(None).await?.contains(id) {
                let s = ctx.client.download_session(id);
                if cancel {
                    s.cancel().await?
                } else {
                    s.delete().await?
                }
                "download"
            } else if ctx.client.update_sessions(None).await?.contains(id) {
                let s = ctx.client.update_session(id);
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
            print(ctx.json, &Done { id: id.clone(), name: String::new(), kind, done });
        }
    }
    Ok(())
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
