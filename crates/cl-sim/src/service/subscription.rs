//! Both sides of a subscription. A published local library shows its items as a VCSP feed
//! (`crate::vcsp` serves it); a subscribed library reads any feed and mirrors it: items'
//! metadata first, content with every sync unless the library is on-demand, then only for items
//! synced with `force_sync_content`. Syncs run in the background as vCenter's do (no task: what
//! the API shows, items' `cached` and sizes, is the progress). Facts: subscription digest §4, §7.

use std::sync::Arc;

use crate::vcsp::{self, Feed, FeedError, FeedFile};

use super::library::next_version;
use super::*;

/// What the service keeps of a subscribed library beyond its model.
pub(super) struct Subscription {
    /// As created, secrets included (the model shows it without them).
    info: SubscriptionInfo,
    /// The feed's `version` at the last library sync that finished without an error.
    synced_version: Option<String>,
    /// Whether a library sync is running (a second one joins it).
    running: bool,
}

/// Where a subscribed item comes from.
#[derive(Clone)]
pub(super) struct ItemSource {
    pub source_id: String,
    pub version: String,
    pub files: Vec<FeedFile>,
}

impl Item {
    /// Whether all the item's content is on disk (always, for an item that is not subscribed).
    pub(super) fn cached(&self) -> bool {
        self.source.as_ref().is_none_or(|s| s.files.iter().all(|f| self.files.contains_key(&f.name)))
    }
}

fn inaccessible(error: &FeedError) -> SimError {
    let mut e = SimError::new(ErrorType::ResourceInaccessible, error.message.clone());
    // Documented for create and sync: a 500 on /api (a 400 on /rest).
    e.api_status = Some(axum::http::StatusCode::INTERNAL_SERVER_ERROR);
    e
}

fn wrong_type(id: &str, what: &str) -> SimError {
    SimError::new(ErrorType::InvalidElementType, format!("Library {id} is not {what}."))
}

/// The model's view of a subscription: never its password, thumbprint or certificate.
fn shown(info: &SubscriptionInfo) -> SubscriptionInfo {
    SubscriptionInfo { password: None, ssl_thumbprint: None, ssl_certificate: None, ..info.clone() }
}

impl State {
    fn subscribed(&self, id: &str) -> SimResult<&Subscription> {
        let library =
            self.libraries.get(id).ok_or_else(|| SimError::not_found(format!("Library {id} does not exist.")))?;
        match (&library.type_, self.subscriptions.get(id)) {
            (Some(LibraryType::Subscribed), Some(s)) => Ok(s),
            _ => Err(wrong_type(id, "a subscribed library")),
        }
    }

    /// Refuses a write into a subscribed library, as vCenter does.
    pub(super) fn writable(&self, library_id: &str) -> SimResult<()> {
        if self.subscriptions.contains_key(library_id) {
            return Err(SimError::new(
                ErrorType::InvalidElementType,
                format!("Library {library_id} is a subscribed library; its items change only by syncing."),
            ));
        }
        Ok(())
    }

    /// Notes a change a published library's subscribers must see.
    pub(super) fn changed(&mut self, library_id: &str) {
        *self.feed_versions.entry(library_id.to_owned()).or_insert(1) += 1;
    }
}

impl Service {
    /// Creates a subscribed library once its feed answers, then syncs it in the background.
    pub async fn subscribed_create(self: Arc<Self>, spec: LibraryModel, token: Option<String>) -> SimResult<String> {
        if let Some(id) = self.state().remembered("library", &token) {
            return Ok(id);
        }
        let name = spec.name.clone().filter(|n| !n.trim().is_empty());
        let name = name.ok_or_else(|| SimError::invalid_argument("A library needs a name."))?;
        if spec.storage_backings.len() != 1 {
            return Err(SimError::new(
                ErrorType::Unsupported,
                "A subscribed library needs exactly one storage backing.",
            ));
        }
        let info = spec.subscription_info.clone().ok_or_else(|| {
            SimError::invalid_argument("A subscribed library needs subscription_info with a subscription_url.")
        })?;
        if info.subscription_url.is_none() {
            return Err(SimError::invalid_argument("subscription_info.subscription_url is required."));
        }
        if info.authentication_method == Some(AuthenticationMethod::Basic)
            && info.password.as_deref().unwrap_or("").is_empty()
        {
            return Err(SimError::invalid_argument("BASIC authentication needs a password."));
        }
        let feed = Feed::new(&info).map_err(|e| inaccessible(&e))?;
        let lib = feed.lib().await.map_err(|e| inaccessible(&e))?;
        let id = {
            let mut state = self.state();
            if let Some(id) = state.remembered("library", &token) {
                return Ok(id);
            }
            let id = uuid::Uuid::new_v4().to_string();
            let now = Utc::now();
            let model = LibraryModel {
                id: Some(id.clone()),
                name: Some(name),
                type_: Some(LibraryType::Subscribed),
                creation_time: Some(now),
                last_modified_time: Some(now),
                last_sync_time: Some(now),
                version: Some("1".into()),
                server_guid: Some("00000000-0000-0000-0000-00000000c15a".into()),
                subscription_info: Some(shown(&info)),
                publish_info: None,
                ..spec
            };
            state.libraries.insert(id.clone(), model);
            state.subscriptions.insert(id.clone(), Subscription { info, synced_version: None, running: true });
            state.remember("library", token, &id);
            id
        };
        tokio::spawn(self.clone().sync_job(id.clone(), feed, lib, None));
        Ok(id)
    }

    pub fn subscribed_get(&self, id: &str) -> SimResult<LibraryModel> {
        let state = self.state();
        state.subscribed(id)?;
        Ok(state.libraries[id].clone())
    }

    pub fn subscribed_list(&self) -> Vec<String> {
        self.state().subscriptions.keys().cloned().collect()
    }

    pub fn subscribed_delete(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        state.subscribed(id)?;
        state.subscriptions.remove(id);
        state.libraries.remove(id);
        state.items.retain(|_, item| item.model.library_id.as_deref() != Some(id));
        Ok(())
    }

    /// Starts a library sync once the feed answers; a sync already running is joined.
    pub async fn subscribed_sync(self: Arc<Self>, id: String) -> SimResult<()> {
        let info = {
            let mut state = self.state();
            let subscription = state.subscribed(&id)?;
            let (running, info) = (subscription.running, subscription.info.clone());
            if let Some(library) = state.libraries.get_mut(&id) {
                library.last_sync_time = Some(Utc::now());
            }
            if running {
                return Ok(());
            }
            info
        };
        let feed = Feed::new(&info).map_err(|e| inaccessible(&e))?;
        let lib = feed.lib().await.map_err(|e| inaccessible(&e))?;
        {
            let mut state = self.state();
            let Some(subscription) = state.subscriptions.get_mut(&id) else { return Ok(()) };
            if subscription.running {
                return Ok(());
            }
            subscription.running = true;
        }
        tokio::spawn(self.sync_job(id, feed, lib, None));
        Ok(())
    }

    /// Starts the sync of one item: its metadata, and its content when the library is not
    /// on-demand or `force` says so. An item whose source is gone is deleted.
    pub async fn subscribed_item_sync(self: Arc<Self>, item_id: String, force: bool) -> SimResult<()> {
        let (library_id, info) = {
            let mut state = self.state();
            let item = state.item(&item_id)?;
            let library_id = item.model.library_id.clone().unwrap_or_default();
            let subscription = state.subscriptions.get(&library_id).ok_or_else(|| {
                SimError::new(ErrorType::InvalidElementType, format!("Item {item_id} is not in a subscribed library."))
            })?;
            let info = subscription.info.clone();
            state.item_mut(&item_id)?.model.last_sync_time = Some(Utc::now());
            (library_id, info)
        };
        let feed = Feed::new(&info).map_err(|e| inaccessible(&e))?;
        let lib = feed.lib().await.map_err(|e| inaccessible(&e))?;
        let content = force || info.on_demand != Some(true);
        tokio::spawn(self.sync_job(library_id, feed, lib, Some((item_id, content))));
        Ok(())
    }

    /// Drops the cached content of an on-demand library's items.
    pub fn subscribed_evict(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        if state.subscribed(id)?.info.on_demand != Some(true) {
            return Err(SimError::not_allowed(format!("Library {id} is not on-demand: its content stays cached.")));
        }
        for item in state.items.values_mut().filter(|i| i.model.library_id.as_deref() == Some(id)) {
            item.files.clear();
        }
        Ok(())
    }

    pub fn subscribed_item_evict(&self, item_id: &str) -> SimResult<()> {
        let mut state = self.state();
        let library_id = state.item(item_id)?.model.library_id.clone().unwrap_or_default();
        let subscription = state.subscriptions.get(&library_id).ok_or_else(|| {
            SimError::new(ErrorType::InvalidElementType, format!("Item {item_id} is not in a subscribed library."))
        })?;
        if subscription.info.on_demand != Some(true) {
            return Err(SimError::new(
                ErrorType::InvalidElementConfiguration,
                format!("Library {library_id} is not on-demand: its content stays cached."),
            ));
        }
        state.item_mut(item_id)?.files.clear();
        Ok(())
    }

    /// One sync: the whole library (`only` unset) or one item and whether to fetch its content.
    async fn sync_job(self: Arc<Self>, library_id: String, feed: Feed, lib: vcsp::Lib, only: Option<(String, bool)>) {
        let result = self.sync(&library_id, &feed, &lib, only.as_ref()).await;
        let mut state = self.state();
        if let Some(subscription) = state.subscriptions.get_mut(&library_id)
            && only.is_none()
        {
            subscription.running = false;
            match result {
                Ok(()) => subscription.synced_version = Some(lib.version.clone()),
                Err(error) => tracing::info!(library = library_id, "sync failed: {error}"),
            }
        }
    }

    async fn sync(
        &self,
        library_id: &str,
        feed: &Feed,
        lib: &vcsp::Lib,
        only: Option<&(String, bool)>,
    ) -> Result<(), String> {
        let (unchanged, on_demand) = {
            let state = self.state();
            let Some(subscription) = state.subscriptions.get(library_id) else { return Ok(()) };
            (subscription.synced_version.as_deref() == Some(&lib.version), subscription.info.on_demand == Some(true))
        };
        let everything_cached = || {
            let state = self.state();
            state.items.values().filter(|i| i.model.library_id.as_deref() == Some(library_id)).all(Item::cached)
        };
        // An unchanged feed needs nothing more, unless content is still missing that this sync fetches.
        if only.is_none() && unchanged && (on_demand || everything_cached()) {
            return Ok(());
        }
        let items = feed.items(lib).await.map_err(|e| e.message)?;
        let (fetch, mut failed) = self.reconcile(library_id, items, only, on_demand);
        for (item_id, file) in fetch {
            match feed.fetch(&file, &self.store).await {
                Ok(blob) => {
                    let mut state = self.state();
                    if let Some(item) = state.items.get_mut(&item_id)
                        && item.source.as_ref().is_some_and(|s| s.files.contains(&file))
                    {
                        item.files.insert(file.name.clone(), Arc::new(blob));
                    }
                }
                Err(error) => {
                    tracing::info!(item = item_id, file = file.name, "content sync failed: {}", error.message);
                    failed.get_or_insert(error.message);
                }
            }
        }
        failed.map_or(Ok(()), Err)
    }

    /// Mirrors the feed's items into the library (or one item) and returns the files whose
    /// content to fetch.
    fn reconcile(
        &self,
        library_id: &str,
        feed_items: vcsp::Items,
        only: Option<&(String, bool)>,
        on_demand: bool,
    ) -> (Vec<(String, FeedFile)>, Option<String>) {
        let mut state = self.state();
        let ours: BTreeMap<String, String> = state
            .items
            .iter()
            .filter(|(_, i)| i.model.library_id.as_deref() == Some(library_id))
            .filter_map(|(id, i)| i.source.as_ref().map(|s| (s.source_id.clone(), id.clone())))
            .collect();
        let wanted = |item_id: &str| only.is_none_or(|(one, _)| one == item_id);
        // Items whose source is gone go first (all of them after a library sync, the one after
        // an item sync), so that a rename onto a deleted item's name is not taken for a clash.
        let gone: Vec<String> = {
            let in_feed: BTreeSet<&str> = feed_items.items.iter().map(|e| e.id.as_str()).collect();
            let gone = ours.iter().filter(|(source, id)| wanted(id) && !in_feed.contains(source.as_str()));
            gone.map(|(_, id)| id.clone()).collect()
        };
        for id in &gone {
            state.items.remove(id);
        }
        let mut seen = BTreeSet::new();
        let mut fetch = Vec::new();
        let mut clash = None;
        for entry in feed_items.items {
            if !seen.insert(entry.id.clone()) {
                continue;
            }
            // Item names are unique in a library: vCenter fails the sync on a feed that repeats
            // one (ALREADY_EXISTS, duplicate_item_name_unsupported_in_library) and skips the item.
            let mine = ours.get(&entry.id).map(String::as_str);
            let skipped = match mine {
                Some(id) => !wanted(id),
                None => only.is_some(),
            };
            if skipped {
                continue;
            }
            if let Err(e) = state.item_name_free(library_id, &entry.name, mine) {
                clash.get_or_insert(e.message);
                continue;
            }
            let now = Utc::now();
            let item_id = match mine {
                Some(id) => {
                    let item = state.items.get_mut(id).expect("listed above");
                    let source = item.source.as_mut().expect("listed above");
                    if source.version != entry.version {
                        // Content whose file changed is stale; the rest stays cached.
                        let files = entry.files.clone();
                        item.files.retain(|name, _| files.iter().any(|f| &f.name == name && source.files.contains(f)));
                        *source = ItemSource { source_id: entry.id.clone(), version: entry.version.clone(), files };
                        item.model.name = Some(entry.name.clone());
                        item.model.description = Some(entry.description.clone());
                        item.model.metadata_version = Some(next_version(item.model.metadata_version.as_deref()));
                        item.model.version = Some(next_version(item.model.version.as_deref()));
                        item.content_version += 1;
                        item.model.last_modified_time = Some(now);
                    }
                    item.model.last_sync_time = Some(now);
                    id.to_owned()
                }
                None => {
                    let id = uuid::Uuid::new_v4().to_string();
                    let model = ItemModel {
                        id: Some(id.clone()),
                        library_id: Some(library_id.to_owned()),
                        name: Some(entry.name.clone()),
                        description: Some(entry.description.clone()),
                        type_: Some(vcsp::item_type(&entry.type_).to_owned()),
                        source_id: Some(entry.id.clone()),
                        creation_time: Some(now),
                        last_modified_time: Some(now),
                        last_sync_time: Some(now),
                        metadata_version: Some("1".into()),
                        version: Some("1".into()),
                        ..Default::default()
                    };
                    let source = ItemSource {
                        source_id: entry.id.clone(),
                        version: entry.version.clone(),
                        files: entry.files.clone(),
                    };
                    state.items.insert(
                        id.clone(),
                        Item { model, content_version: 1, files: BTreeMap::new(), source: Some(source) },
                    );
                    id
                }
            };
            let content = match only {
                Some((_, content)) => *content,
                None => !on_demand,
            };
            if content {
                let item = &state.items[&item_id];
                let missing = entry.files.iter().filter(|f| !item.files.contains_key(&f.name)).cloned();
                fetch.extend(missing.map(|f| (item_id.clone(), f)));
            }
        }
        (fetch, clash)
    }

    // ------------------------------------------------------------------ publishing

    /// A library's feed as its subscribers see it now, when it is published.
    pub fn published(&self, library_id: &str) -> Option<vcsp::Published> {
        let state = self.state();
        let library = state.libraries.get(library_id)?;
        let info = library.publish_info.as_ref().filter(|p| p.published == Some(true))?;
        let password = (info.authentication_method == Some(AuthenticationMethod::Basic))
            .then(|| state.publish_passwords.get(library_id).cloned().unwrap_or_default());
        let created = library.creation_time.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        let lib = vcsp::Lib {
            vcsp_version: "2".into(),
            version: state.feed_versions.get(library_id).copied().unwrap_or(1).to_string(),
            content_version: Some("1".into()),
            id: format!("urn:uuid:{library_id}"),
            name: library.name.clone().unwrap_or_default(),
            created,
            capabilities: Some(vcsp::Lib::http_get_capabilities()),
            items_href: "items.json".into(),
        };
        let items = state
            .items
            .iter()
            .filter(|(_, i)| i.model.library_id.as_deref() == Some(library_id) && !i.files.is_empty())
            .map(|(id, item)| {
                let metadata: u64 = item.model.metadata_version.as_deref().and_then(|v| v.parse().ok()).unwrap_or(1);
                let version = (item.content_version + metadata).to_string();
                let files = item
                    .files
                    .iter()
                    .map(|(name, blob)| FeedFile {
                        name: name.clone(),
                        size: blob.size,
                        etag: Some(item.content_version.to_string()),
                        generation_num: Some(item.content_version as i64),
                        hrefs: vec![cl_vcsp::href(&[id, name])],
                    })
                    .collect();
                vcsp::FeedItem {
                    id: format!("urn:uuid:{id}"),
                    name: item.model.name.clone().unwrap_or_default(),
                    type_: cl_vcsp::vcsp_type(item.model.type_.as_deref()).into(),
                    version: version.clone(),
                    content_version: Some(item.content_version.to_string()),
                    created: item.model.creation_time.map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)),
                    description: item.model.description.clone().unwrap_or_default(),
                    files,
                    properties: serde_json::json!({}),
                    self_href: Some(format!("{id}/item.json")),
                    metadata: None,
                }
            })
            .collect();
        Some(vcsp::Published { lib, items: vcsp::Items { items }, password })
    }

    /// A file of a published library's item.
    pub fn published_file(&self, library_id: &str, item_id: &str, name: &str) -> Option<Arc<Blob>> {
        let state = self.state();
        let published =
            state.libraries.get(library_id)?.publish_info.as_ref().is_some_and(|p| p.published == Some(true));
        let item =
            state.items.get(item_id).filter(|i| published && i.model.library_id.as_deref() == Some(library_id))?;
        item.files.get(name).cloned()
    }

    /// Applies a create's or an update's `publish_info` to a local library: the model keeps the
    /// publish URL and the user `vcsp`, never a password.
    pub(super) fn publish(&self, state: &mut State, library_id: &str, wanted: PublishInfo) -> SimResult<()> {
        let current = state.libraries.get(library_id).and_then(|l| l.publish_info.clone());
        let was_protected = current
            .as_ref()
            .is_some_and(|p| p.published == Some(true) && p.authentication_method == Some(AuthenticationMethod::Basic));
        if was_protected {
            let stored = state.publish_passwords.get(library_id).cloned().unwrap_or_default();
            let unprotects = wanted.published == Some(false)
                || wanted.authentication_method == Some(AuthenticationMethod::None)
                || wanted.password.is_some();
            if unprotects && wanted.current_password.as_deref() != Some(stored.as_str()) {
                return Err(SimError::new(
                    ErrorType::Unauthorized,
                    "Changing a protected publication needs its current_password.",
                ));
            }
        }
        let published = wanted.published.or(current.as_ref().and_then(|p| p.published)).unwrap_or(false);
        let method = wanted
            .authentication_method
            .or(current.as_ref().and_then(|p| p.authentication_method.clone()))
            .unwrap_or(AuthenticationMethod::None);
        if let Some(password) = wanted.password {
            state.publish_passwords.insert(library_id.to_owned(), password);
        }
        if method == AuthenticationMethod::Basic
            && published
            && state.publish_passwords.get(library_id).is_none_or(String::is_empty)
        {
            return Err(SimError::invalid_argument("Publishing with BASIC authentication needs a password."));
        }
        let model = PublishInfo {
            authentication_method: Some(method),
            published: Some(published),
            publish_url: published.then(|| format!("{}/cls/vcsp/lib/{library_id}/lib.json", self.base_url)),
            user_name: Some("vcsp".into()),
            password: None,
            current_password: None,
            persist_json_enabled: wanted.persist_json_enabled.or(current.and_then(|p| p.persist_json_enabled)),
        };
        if let Some(library) = state.libraries.get_mut(library_id) {
            library.publish_info = Some(model);
        }
        Ok(())
    }
}

/// The subscription operations.
pub(crate) static HANDLERS: &[Handler] = &[
    Handler { op: OperationId::SubscribedLibraryCreate, run: create },
    Handler { op: OperationId::SubscribedLibraryList, run: list },
    Handler { op: OperationId::SubscribedLibraryGet, run: get },
    Handler { op: OperationId::SubscribedLibraryDelete, run: delete },
    Handler { op: OperationId::SubscribedLibrarySync, run: sync },
    Handler { op: OperationId::SubscribedLibraryEvict, run: evict },
    Handler { op: OperationId::SubscribedLibraryProbe, run: probe },
    Handler { op: OperationId::SubscribedItemSync, run: item_sync },
    Handler { op: OperationId::SubscribedItemEvict, run: item_evict },
];

fn create(call: &mut Call<'_>) -> SimResult<Reply> {
    let spec = call.input.get("create_spec")?;
    let token = call.input.opt_str("client_token")?;
    let service = call.service.clone();
    Ok(Reply::Later(Box::pin(async move { Ok(Reply::of(service.subscribed_create(spec, token).await?)) })))
}

fn list(call: &mut Call<'_>) -> SimResult<Reply> {
    Ok(Reply::of(call.service.subscribed_list()))
}

fn get(call: &mut Call<'_>) -> SimResult<Reply> {
    Ok(Reply::of(call.service.subscribed_get(&call.input.str("library_id")?)?))
}

fn delete(call: &mut Call<'_>) -> SimResult<Reply> {
    call.service.subscribed_delete(&call.input.str("library_id")?)?;
    Ok(Reply::Void)
}

fn sync(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str("library_id")?;
    let service = call.service.clone();
    Ok(Reply::Later(Box::pin(async move {
        service.subscribed_sync(id).await?;
        Ok(Reply::Void)
    })))
}

fn evict(call: &mut Call<'_>) -> SimResult<Reply> {
    call.service.subscribed_evict(&call.input.str("library_id")?)?;
    Ok(Reply::Void)
}

fn probe(call: &mut Call<'_>) -> SimResult<Reply> {
    let info: SubscriptionInfo = call.input.get("subscription_info")?;
    Ok(Reply::Later(Box::pin(async move { Ok(Reply::of(vcsp::probe(&info).await)) })))
}

fn item_sync(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str("library_item_id")?;
    let force: bool = call.input.get("force_sync_content")?;
    let _optional: Option<bool> = call.input.opt("sync_optional_files")?;
    let service = call.service.clone();
    Ok(Reply::Later(Box::pin(async move {
        service.subscribed_item_sync(id, force).await?;
        Ok(Reply::Void)
    })))
}

fn item_evict(call: &mut Call<'_>) -> SimResult<Reply> {
    call.service.subscribed_item_evict(&call.input.str("library_item_id")?)?;
    Ok(Reply::Void)
}
