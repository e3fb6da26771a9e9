//! `clx library`: list, show, create, change and delete libraries; publish one, probe a feed,
//! subscribe to one, sync and evict.

use serde::Serialize;

use super::{Ctx, Done, text};
use crate::args::{FeedArgs, LibraryCommand, SubscribeArgs};
use crate::output::{Failure, Report, Row, clean, print, usage};

pub async fn run(command: &LibraryCommand, ctx: &Ctx<'_>) -> Result<(), Failure> {
    match command {
        LibraryCommand::Ls { limit } => {
            let libraries = ctx.client.libraries().await?;
            super::list_models(ctx, "the server holds libraries", libraries, *limit, |library| LibraryRow {
                id: library.id.unwrap_or_default(),
                name: library.name,
                r#type: library.type_.map(|t| t.to_string()),
            })
            .await?;
        }
        LibraryCommand::Info { library } => {
            let id = crate::resolve::library(ctx.client, library).await?;
            print(ctx.json, &LibraryInfo::of(ctx, id).await?);
        }
        LibraryCommand::Create { name, datastore, subscribe } => {
            let datastore = crate::resolve::datastore(ctx.client, datastore.as_deref()).await?;
            let id = match subscription(subscribe)? {
                Some(subscription) => ctx.client.create_subscribed_library(name, &datastore, &subscription).await?,
                None => ctx.client.create_local_library(name, &datastore).await?,
            };
            print(ctx.json, &Done { id: id.to_string(), name: name.clone(), kind: "library", done: "created" });
        }
        LibraryCommand::Publish { library, password } => {
            let id = crate::resolve::library(ctx.client, library).await?;
            let password = match password {
                true => Some(secret("CLX_PUB_PASSWORD", "--password")?),
                false => None,
            };
            let url = ctx.client.publish_library(&id, password.as_deref()).await?;
            print(ctx.json, &Published { id: id.to_string(), url, user: password.is_some().then_some("vcsp") });
        }
        LibraryCommand::Probe { feed_url, feed } => {
            let result = ctx.client.probe_subscription(&feed_of(cl_sdk::Subscription::new(feed_url), feed)?).await?;
            let status = result.status.clone();
            print(ctx.json, &Probe(result));
            if status != cl_sdk::types::ProbeStatus::Success {
                return Err(Failure {
                    kind: "FeedUnusable".into(),
                    message: format!("the feed cannot be used as given: {status}"),
                    code: crate::output::EXIT_SERVER,
                });
            }
        }
        LibraryCommand::Sync { library, wait } => {
            let id = crate::resolve::library(ctx.client, library).await?;
            let sync = ctx.client.sync_library(&id).await?;
            super::sync_and_wait(ctx, library, sync, wait).await?;
        }
        LibraryCommand::Evict { library } => {
            let id = crate::resolve::library(ctx.client, library).await?;
            ctx.client.evict_library(&id).await?;
            let name = ctx.client.library(&id).await?.name.unwrap_or_default();
            print(ctx.json, &Done { id: id.to_string(), name, kind: "library", done: "evicted" });
        }
        LibraryCommand::Update { library, changes } => {
            let id = crate::resolve::library(ctx.client, library).await?;
            let model = ctx.client.update_library(&id, &super::changes(changes)).await?;
            let name = model.name.unwrap_or_default();
            print(ctx.json, &Done { id: id.to_string(), name, kind: "library", done: "updated" });
        }
        LibraryCommand::Rm { library, force } => {
            let id = crate::resolve::library(ctx.client, library).await?;
            let items = ctx.client.item_ids(&id).await?;
            if !items.is_empty() && !force {
                return Err(usage(format!(
                    "library {:?} holds {} items; pass --force to delete them with it",
                    clean(library),
                    items.len()
                )));
            }
            let name = ctx.client.library(&id).await?.name.unwrap_or_default();
            ctx.client.delete_local_library(&id).await?;
            print(ctx.json, &Done { id: id.to_string(), name, kind: "library", done: "deleted" });
        }
    }
    Ok(())
}

/// The subscription `library create --subscribe` asks for, if any.
fn subscription(args: &SubscribeArgs) -> Result<Option<cl_sdk::Subscription>, Failure> {
    let Some(url) = &args.subscribe else { return Ok(None) };
    let subscription = cl_sdk::Subscription::new(url).on_demand(args.on_demand).automatic_sync(!args.no_auto_sync);
    feed_of(subscription, &args.feed).map(Some)
}

/// A subscription with the feed's credentials (password from CLX_SUB_PASSWORD) and thumbprint.
fn feed_of(mut subscription: cl_sdk::Subscription, feed: &FeedArgs) -> Result<cl_sdk::Subscription, Failure> {
    if let Some(user) = &feed.sub_username {
        subscription = subscription.basic_auth(user, secret("CLX_SUB_PASSWORD", "--sub-username")?);
    }
    if let Some(thumbprint) = &feed.sub_thumbprint {
        subscription = subscription.thumbprint(thumbprint);
    }
    Ok(subscription)
}

/// A password from the environment, never from the command line (where `ps` shows it).
fn secret(var: &str, flag: &str) -> Result<String, Failure> {
    match std::env::var(var) {
        Ok(value) if !value.is_empty() => Ok(value),
        _ => Err(usage(format!("{flag} needs the password in {var}"))),
    }
}

/// What `clx library publish` reports.
#[derive(Serialize)]
struct Published {
    id: String,
    url: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    user: Option<&'static str>,
}

impl Report for Published {
    fn text(&self) -> String {
        let auth = if self.user.is_some() { " (user vcsp, the password in CLX_PUB_PASSWORD)" } else { "" };
        format!("published {}: subscribe to {}{auth}", clean(&self.id), clean(&self.url))
    }
}

/// What `clx library probe` reports.
#[derive(Serialize)]
#[serde(transparent)]
struct Probe(cl_sdk::types::ProbeResult);

impl Report for Probe {
    fn text(&self) -> String {
        let mut out = format!("status: {}", self.0.status);
        if let Some(thumbprint) = &self.0.ssl_thumbprint {
            out.push_str(&format!("\nthumbprint: {}", clean(thumbprint)));
            if self.0.status == cl_sdk::types::ProbeStatus::CertificateError {
                out.push_str(&format!(
                    "\nthe certificate is not trusted; if it is the publisher's, pass --sub-thumbprint {}",
                    clean(thumbprint)
                ));
            }
        }
        for message in &self.0.error_messages {
            out.push_str(&format!("\n{}", clean(&message.default_message)));
        }
        out
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
    async fn of(ctx: &Ctx<'_>, id: cl_sdk::LibraryId) -> Result<Self, Failure> {
        use futures_util::StreamExt;
        let model = ctx.client.library(&id).await?;
        let datastore_id = model.storage_backings.iter().find_map(|b| b.datastore_id.clone());
        let datastore = match &datastore_id {
            Some(ds) => ctx.client.datastores(None).await?.into_iter().find(|d| &d.datastore == ds).map(|d| d.name),
            None => None,
        };
        let listing = ctx.client.items(&id).await?;
        if listing.total() > super::MAX_LISTING {
            return Err(usage(format!(
                "library {} holds {} items; clx sums at most {} (`clx item ls --limit N` lists some)",
                clean(model.name.as_deref().unwrap_or(id.as_str())),
                listing.total(),
                super::MAX_LISTING
            )));
        }
        let items = listing.total();
        let size = listing
            .fold(Ok::<u64, Failure>(0), |total, item| async move {
                let size = item?.size.and_then(|s| u64::try_from(s).ok()).unwrap_or(0);
                Ok(total?.saturating_add(size))
            })
            .await?;
        Ok(Self {
            id: id.to_string(),
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
