//! `clx session`: list, cancel and delete transfer sessions.

use serde::Serialize;

use cl_sdk::{Download, SessionId, Update};

use super::{Ctx, Done, text};
use crate::args::SessionCommand;
use crate::output::{Failure, Row, clean, print, usage};

pub async fn run(command: &SessionCommand, ctx: &Ctx<'_>) -> Result<(), Failure> {
    match command {
        SessionCommand::Ls { limit } => {
            // Download sessions first, then update sessions.
            let mut ids: Vec<(bool, String)> =
                ctx.client.sessions::<Download>(None).await?.into_iter().map(|id| (true, id.to_string())).collect();
            ids.extend(ctx.client.sessions::<Update>(None).await?.into_iter().map(|id| (false, id.to_string())));
            super::list(ctx, "the server holds sessions", ids, *limit, |(download, id)| async move {
                let (kind, state, expires, item, progress) = if download {
                    let s = ctx.client.session::<Download>(SessionId::new(id.as_str())).info().await?;
                    (
                        "download",
                        s.state.map(|x| x.to_string()),
                        s.expiration_time,
                        s.library_item_id,
                        s.client_progress,
                    )
                } else {
                    let s = ctx.client.session::<Update>(SessionId::new(id.as_str())).info().await?;
                    ("update", s.state.map(|x| x.to_string()), s.expiration_time, s.library_item_id, s.client_progress)
                };
                let expires = expires.map(|t| t.to_rfc3339());
                Ok(SessionRow { kind, state, item, progress, expires, id })
            })
            .await?;
        }
        SessionCommand::Cancel { id } | SessionCommand::Rm { id } => {
            let cancel = matches!(command, SessionCommand::Cancel { .. });
            let kind = if ctx.client.sessions::<Download>(None).await?.iter().any(|s| s.as_str() == id) {
                let s = ctx.client.session::<Download>(SessionId::new(id.as_str()));
                if cancel {
                    s.cancel().await?
                } else {
                    s.delete().await?
                }
                "download"
            } else if ctx.client.sessions::<Update>(None).await?.iter().any(|s| s.as_str() == id) {
                let s = ctx.client.session::<Update>(SessionId::new(id.as_str()));
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
