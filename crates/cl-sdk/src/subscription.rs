//! Subscribed libraries: publish a local library, probe and subscribe to a feed, sync and wait,
//! evict.
//!
//! vCenter runs a sync in the background and gives no task to follow: what the API shows (the
//! items, whether each is `cached`, their sizes) is the progress. [`SyncHandle::wait`] polls it: a
//! sync is done when everything it brings is there (every item cached when content comes with
//! it) and nothing changed between two polls.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use cl_api::types::*;
use futures_util::StreamExt;

use crate::client::Client;
use crate::error::{Detail, Error, ErrorKind, Result};
use crate::id::{DatastoreId, ItemId, LibraryId};
use crate::retry::Backoff;
use crate::wire::{api, op, void};

/// What to subscribe to, and how to trust and authenticate to it.
///
/// ```
/// let subscription = cl_sdk::Subscription::new("https://vc1.example.com/cls/vcsp/lib/6c9a/lib.json")
///     .on_demand(true)
///     .basic_auth("vcsp", "feed-password")
///     .thumbprint("B2:52:9E:13:2F:76:10:C5:0B:3A:C0:61:55:12:7D:B8:8A:99:64:BB");
/// assert!(!format!("{subscription:?}").contains("feed-password"));
/// ```
#[derive(Clone)]
pub struct Subscription {
    url: String,
    on_demand: bool,
    automatic_sync: bool,
    credentials: Option<(String, String)>,
    thumbprint: Option<String>,
}

impl Subscription {
    /// A subscription to the feed whose `lib.json` is at `url`: content fetched with every sync,
    /// no automatic sync, no credentials, the platform's trust.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::Subscription;
    /// let feed = Subscription::new("https://publisher.example.com/cls/vcsp/lib/1/lib.json");
    /// let probe = client.probe_subscription(&feed).await?;
    /// # let _ = probe;
    /// # Ok(()) }
    /// ```
    pub fn new(url: impl Into<String>) -> Self {
        Self { url: url.into(), on_demand: false, automatic_sync: false, credentials: None, thumbprint: None }
    }

    /// Fetch content only for items synced with `force` (true), or with every sync (false).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::Subscription;
    /// // Metadata at once, content only when an item is synced with its content.
    /// let feed = Subscription::new("https://publisher.example.com/lib.json").on_demand(true);
    /// # let _ = feed;
    /// # Ok(()) }
    /// ```
    pub fn on_demand(mut self, on_demand: bool) -> Self {
        self.on_demand = on_demand;
        self
    }

    /// Let vCenter sync the library on its own schedule too.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::Subscription;
    /// let feed = Subscription::new("https://publisher.example.com/lib.json").automatic_sync(false);
    /// # let _ = feed;
    /// # Ok(()) }
    /// ```
    pub fn automatic_sync(mut self, automatic: bool) -> Self {
        self.automatic_sync = automatic;
        self
    }

    /// Send these credentials (a vCenter publisher takes the user `vcsp`).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::Subscription;
    /// let password = std::env::var("FEED_PASSWORD").unwrap_or_default();
    /// let feed = Subscription::new("https://vc.example.com/cls/vcsp/lib/1/lib.json").basic_auth("vcsp", password);
    /// println!("{feed:?}"); // the password is not shown
    /// # Ok(()) }
    /// ```
    pub fn basic_auth(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// Trust the publisher if and only if its certificate has this thumbprint (colon hex, as a
    /// probe returns it).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::Subscription;
    /// let url = "https://publisher.example.com/lib.json";
    /// let probe = client.probe_subscription(&Subscription::new(url)).await?;
    /// if let Some(thumbprint) = probe.ssl_thumbprint {
    ///     let pinned = Subscription::new(url).thumbprint(thumbprint);
    ///     # let _ = pinned;
    /// }
    /// # Ok(()) }
    /// ```
    pub fn thumbprint(mut self, thumbprint: impl Into<String>) -> Self {
        self.thumbprint = Some(thumbprint.into());
        self
    }

    fn info(&self) -> SubscriptionInfo {
        let (user_name, password) = match &self.credentials {
            Some((user, password)) => (Some(user.clone()), Some(password.clone())),
            None => (None, None),
        };
        SubscriptionInfo {
            authentication_method: Some(if self.credentials.is_some() {
                AuthenticationMethod::Basic
            } else {
                AuthenticationMethod::None
            }),
            automatic_sync_enabled: Some(self.automatic_sync),
            on_demand: Some(self.on_demand),
            subscription_url: Some(self.url.clone()),
            user_name,
            password,
            ssl_thumbprint: self.thumbprint.clone(),
            ssl_certificate: None,
            source_info: None,
        }
    }
}

impl fmt::Debug for Subscription {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Subscription")
            .field("url", &crate::redact_url(&self.url))
            .field("on_demand", &self.on_demand)
            .field("automatic_sync", &self.automatic_sync)
            .field("user", &self.credentials.as_ref().map(|(user, _)| user))
            .field("thumbprint", &self.thumbprint)
            .finish()
    }
}

/// How far a sync has come, from what the API shows.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
/// use std::time::Duration;
/// let sync = client.sync_library(&library).await?;
/// sync.wait(Duration::from_secs(3600), |p| {
///     println!("{}/{} items, {} bytes, {:?}; waiting on {:?}", p.items_cached, p.items, p.bytes_cached, p.elapsed, p.pending);
/// })
/// .await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SyncProgress {
    /// Items the sync covers (the library's, or the one item).
    pub items: usize,
    /// Of those, the items whose content is on the server.
    pub items_cached: usize,
    /// Bytes of content cached so far.
    pub bytes_cached: u64,
    /// Names of the items whose content this sync brings and that are not cached yet.
    pub pending: Vec<String>,
    /// How long the wait has run.
    pub elapsed: Duration,
}

/// A sync the server runs in the background; [`wait`](Self::wait) follows it to the end.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
/// use std::time::Duration;
/// let sync = client.sync_library(&library).await?;
/// sync.wait(Duration::from_secs(3600), |_| {}).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use = "a sync runs on the server whether or not it is waited for; wait() reports its end"]
pub struct SyncHandle {
    client: Client,
    library: LibraryId,
    /// The one item, for an item sync.
    item: Option<ItemId>,
    /// Whether the sync brings content (else only metadata).
    content: bool,
}

/// One poll's view of the items a sync covers: id → (name, version, cached, size).
type View = BTreeMap<ItemId, (String, Option<String>, bool, u64)>;

impl SyncHandle {
    /// The library this sync is for.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// let sync = client.sync_library(&library).await?;
    /// assert_eq!(sync.library(), &library);
    /// # Ok(()) }
    /// ```
    pub fn library(&self) -> &LibraryId {
        &self.library
    }

    /// How far the sync has come now (one look at the items).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// let sync = client.sync_library(&library).await?;
    /// let now = sync.progress().await?;
    /// println!("{} of {} items cached", now.items_cached, now.items);
    /// # Ok(()) }
    /// ```
    pub async fn progress(&self) -> Result<SyncProgress> {
        let view = self.view(None).await?;
        Ok(self.summary(&view, Duration::ZERO))
    }

    /// Waits until the sync is done, calling `on_progress` after each look, and returns the last
    /// progress. Polls start at 100 ms and grow to 5 s while nothing changes, and pause at least
    /// three times as long as the last look took. While a content sync runs, a look fetches only
    /// the items not cached yet (and new ones); the sync is done when a look at every item finds
    /// all cached and nothing changed since the look before. Past `deadline` the wait fails with
    /// [`ErrorKind::WaitTimedOut`], naming the items still pending.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// use cl_sdk::ErrorKind;
    /// let sync = client.sync_library(&library).await?;
    /// match sync.wait(Duration::from_secs(600), |_| {}).await {
    ///     Ok(done) => println!("{} items", done.items),
    ///     Err(e) if e.kind() == ErrorKind::WaitTimedOut => println!("still syncing: {e}"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn wait(&self, deadline: Duration, mut on_progress: impl FnMut(&SyncProgress)) -> Result<SyncProgress> {
        let started = Instant::now();
        let fresh = || Backoff::new(Duration::from_millis(100), 1.5, Duration::from_secs(5), false);
        let mut backoff = fresh();
        let mut last: Option<View> = None;
        loop {
            let look = Instant::now();
            // Every item is looked at first, for a metadata sync, and to confirm a content sync
            // that looked done; between, cached items keep what the last look saw.
            let whole = match &last {
                Some(last) => !self.content || last.values().all(|(_, _, cached, _)| *cached),
                None => true,
            };
            let view = self.view(if whole { None } else { last.as_ref() }).await?;
            let looked = look.elapsed();
            let progress = self.summary(&view, started.elapsed());
            on_progress(&progress);
            let settled = last.as_ref() == Some(&view);
            if whole && settled && progress.pending.is_empty() {
                return Ok(progress);
            }
            if !settled {
                backoff = fresh();
            }
            let waited = started.elapsed();
            if waited >= deadline {
                let pending = match progress.pending.len() {
                    0 if last.is_none() => "it was looked at only once".to_owned(),
                    0 => "its items were still changing between looks".to_owned(),
                    n => format!("{n} item(s) not cached yet: {}", crate::error::list(&progress.pending, 5)),
                };
                return Err(Error::new(
                    ErrorKind::WaitTimedOut,
                    format!("gave up waiting for the sync of library {} after {waited:.1?}; {pending}", self.library),
                ));
            }
            last = Some(view);
            // A large library makes a long look: the pause grows with it, so the server is
            // asked about its items a bounded share of the time.
            let pause = backoff.next_pause().max(looked * 3);
            tokio::time::sleep(pause.min(deadline - waited)).await;
        }
    }

    /// The items the sync covers now. With `since`, an item that look saw cached is taken from
    /// it instead of being fetched again.
    async fn view(&self, since: Option<&View>) -> Result<View> {
        let ids = match &self.item {
            Some(item) => vec![item.clone()],
            None => self.client.item_ids(&self.library).await?,
        };
        let mut view = View::new();
        let mut fetch = Vec::new();
        for id in ids {
            match since.and_then(|since| since.get(&id)).filter(|(_, _, cached, _)| *cached) {
                Some(seen) => {
                    view.insert(id, seen.clone());
                }
                None => fetch.push(id),
            }
        }
        // Sixteen looks at a time: a poll of a large library stays short and bounded.
        let looks: Vec<(ItemId, Result<ItemModel>)> =
            futures_util::stream::iter(fetch.into_iter().map(|id| async move {
                let item = self.client.item(&id).await;
                (id, item)
            }))
            .buffered(16)
            .collect()
            .await;
        for (id, item) in looks {
            match item {
                Ok(item) => {
                    let size = item.size.unwrap_or(0).max(0) as u64;
                    let name = item.name.unwrap_or_else(|| id.to_string());
                    view.insert(id, (name, item.version, item.cached == Some(true), size));
                }
                // Removed by the sync (its source is gone) between the listing and the look.
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(view)
    }

    fn summary(&self, view: &View, elapsed: Duration) -> SyncProgress {
        let cached = view.values().filter(|(_, _, cached, _)| *cached).count();
        let pending = if self.content {
            view.values().filter(|(_, _, cached, _)| !cached).map(|(name, ..)| name.clone()).collect()
        } else {
            Vec::new()
        };
        SyncProgress {
            items: view.len(),
            items_cached: cached,
            // Sizes are the server's word: a hostile one cannot overflow the total.
            bytes_cached: view.values().fold(0u64, |total, (.., size)| total.saturating_add(*size)),
            pending,
            elapsed,
        }
    }
}

impl Client {
    /// Checks a subscription before subscribing: whether its feed answers, trusts and accepts
    /// the credentials. Failures are the result's `status`; an https feed's certificate
    /// thumbprint comes back either way, to pin it.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::Subscription;
    /// let feed = Subscription::new("https://publisher.example.com/cls/vcsp/lib/1/lib.json");
    /// let probe = client.probe_subscription(&feed).await?;
    /// println!("{} (thumbprint {:?})", probe.status, probe.ssl_thumbprint);
    /// # Ok(()) }
    /// ```
    pub async fn probe_subscription(&self, subscription: &Subscription) -> Result<ProbeResult> {
        let body = SubscribedLibraryProbeSpec { subscription_info: subscription.info() };
        self.call(op!(SubscribedLibraryProbe, [body] |c|
            api: api(c.subscribed_library_probe(&body)).await,
            rest: api(c.rest_subscribed_library_probe(&body)).await.map(|v| v.value)))
            .await
    }

    /// Subscribes a new library on a datastore to a feed and returns its id; the server starts
    /// syncing it at once (see [`sync_library`](Self::sync_library) to follow a sync).
    ///
    /// The feed is probed first, so a feed that cannot be used fails with
    /// [`ErrorKind::FeedUnusable`] and [`Detail::Probe`] saying why (unreachable, certificate,
    /// credentials), not only vCenter's "resource inaccessible".
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::Subscription;
    /// let datastore: cl_sdk::DatastoreId = "datastore-12".parse()?;
    /// let feed = Subscription::new("https://publisher.example.com/cls/vcsp/lib/1/lib.json").on_demand(true);
    /// let library = client.create_subscribed_library("golden", &datastore, &feed).await?;
    /// println!("subscribed as {library}");
    /// # Ok(()) }
    /// ```
    pub async fn create_subscribed_library(
        &self,
        name: &str,
        datastore: &DatastoreId,
        subscription: &Subscription,
    ) -> Result<LibraryId> {
        match self.probe_subscription(subscription).await {
            Ok(probe) if probe.status != ProbeStatus::Success => return Err(unusable(&probe)),
            Ok(_) => {}
            // A server without the probe (govmomi's vcsim answers it with an empty body): the
            // create still checks the feed itself.
            Err(e) if matches!(e.kind(), ErrorKind::Decode | ErrorKind::OperationNotFound) => {
                tracing::warn!(error = %e, "the server cannot probe subscriptions; subscribing without a probe");
            }
            Err(e) => return Err(e),
        }
        let spec = LibraryModel {
            name: Some(name.to_owned()),
            type_: Some(LibraryType::Subscribed),
            storage_backings: vec![StorageBacking {
                type_: Some(StorageBackingType::Datastore),
                datastore_id: Some(datastore.to_string()),
                storage_uri: None,
            }],
            subscription_info: Some(subscription.info()),
            ..Default::default()
        };
        let token = uuid::Uuid::new_v4().to_string();
        self.call(op!(SubscribedLibraryCreate, [spec, token] |c|
            api: api(c.subscribed_library_create(Some(&token), &spec)).await,
            rest: api(c.rest_subscribed_library_create(&RestLibraryCreate { client_token: Some(token), create_spec: spec }))
                .await
                .map(|v| v.value)))
        .await
        .and_then(LibraryId::from_server)
    }

    /// The ids of the subscribed libraries.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// println!("{} subscribed libraries", client.subscribed_library_ids().await?.len());
    /// # Ok(()) }
    /// ```
    pub async fn subscribed_library_ids(&self) -> Result<Vec<LibraryId>> {
        let ids = self
            .call(op!(SubscribedLibraryList, |c|
                api: api(c.subscribed_library_list()).await,
                rest: api(c.rest_subscribed_library_list()).await.map(|v| v.value.unwrap_or_default())))
            .await?;
        LibraryId::all_from_server(ids)
    }

    /// A subscribed library; `InvalidElementType` when `id` is a local one.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// let model = client.subscribed_library(&library).await?;
    /// println!("{:?}", model.subscription_info.and_then(|s| s.subscription_url));
    /// # Ok(()) }
    /// ```
    pub async fn subscribed_library(&self, id: &LibraryId) -> Result<LibraryModel> {
        let id = id.as_str();
        self.call(op!(SubscribedLibraryGet, |c|
            api: api(c.subscribed_library_get(id)).await,
            rest: api(c.rest_subscribed_library_get(id)).await.map(|v| v.value)))
            .await
    }

    /// Deletes a subscribed library and its cached content.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// client.delete_subscribed_library(&library).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_subscribed_library(&self, id: &LibraryId) -> Result<()> {
        let id = id.as_str();
        self.call(op!(SubscribedLibraryDelete, |c|
            api: void(c.subscribed_library_delete(id)).await,
            rest: void(c.rest_subscribed_library_delete(id)).await))
            .await
    }

    /// Publishes a local library (with a password, subscribers must send user `vcsp` and it)
    /// and returns the subscription URL the server gives it. Publishing again with the same
    /// password is a no-op; another password, or none, on a protected library is refused
    /// (`Unauthorized`): changing it needs the current one.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// let url = client.publish_library(&library, None).await?;
    /// println!("subscribe to {url}");
    /// # Ok(()) }
    /// ```
    pub async fn publish_library(&self, library: &LibraryId, password: Option<&str>) -> Result<String> {
        let id = library.as_str();
        let publish = PublishInfo {
            published: Some(true),
            authentication_method: Some(match password {
                Some(_) => AuthenticationMethod::Basic,
                None => AuthenticationMethod::None,
            }),
            password: password.map(str::to_owned),
            // Publishing again with the same password (a rerun) proves it: vCenter asks for the
            // current password to change a protected publication.
            current_password: password.map(str::to_owned),
            ..Default::default()
        };
        let spec = LibraryModel { publish_info: Some(publish), ..Default::default() };
        self.call(
            op!(LocalLibraryUpdate, [spec] |c|
            api: void(c.local_library_update(id, &spec)).await,
            rest: void(c.rest_local_library_update(id, &RestLibraryUpdate { update_spec: spec })).await)
            .versioned(false),
        )
        .await?;
        let library = self.local_library(library).await?;
        library.publish_info.filter(|p| p.published == Some(true)).and_then(|p| p.publish_url).ok_or_else(|| {
            Error::new(ErrorKind::Verification, "the server accepted the publication but shows no publish URL")
        })
    }

    /// Starts a sync of a subscribed library (joining one that runs) and returns the handle to
    /// follow it. A feed the server cannot reach fails here.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// let sync = client.sync_library(&library).await?;
    /// let done = sync.wait(Duration::from_secs(3600), |p| println!("{}/{} cached", p.items_cached, p.items)).await?;
    /// println!("{} bytes cached", done.bytes_cached);
    /// # Ok(()) }
    /// ```
    pub async fn sync_library(&self, library: &LibraryId) -> Result<SyncHandle> {
        let id = library.as_str();
        let model = self.subscribed_library(library).await?;
        self.call(op!(SubscribedLibrarySync, |c|
            api: void(c.subscribed_library_sync(id)).await,
            rest: void(c.rest_subscribed_library_sync(id)).await))
            .await?;
        let on_demand = model.subscription_info.and_then(|s| s.on_demand).unwrap_or(false);
        Ok(SyncHandle { client: self.clone(), library: library.clone(), item: None, content: !on_demand })
    }

    /// Starts a sync of one item of a subscribed library: its metadata, and its content when the
    /// library is not on-demand or `force_content` says so.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// let sync = client.sync_item(&item, true).await?; // metadata and content
    /// sync.wait(Duration::from_secs(600), |_| {}).await?;
    /// # Ok(()) }
    /// ```
    pub async fn sync_item(&self, item: &ItemId, force_content: bool) -> Result<SyncHandle> {
        let item_id = item.as_str();
        let model = self.item(item).await?;
        let library_id = LibraryId::from_server(model.library_id.unwrap_or_default())?;
        let library = self.subscribed_library(&library_id).await?;
        let body = SubscribedItemSyncSpec { force_sync_content: force_content, sync_optional_files: None };
        self.call(op!(SubscribedItemSync, [body] |c|
            api: void(c.subscribed_item_sync(item_id, &body)).await,
            rest: void(c.rest_subscribed_item_sync(item_id, &body)).await))
            .await?;
        let on_demand = library.subscription_info.and_then(|s| s.on_demand).unwrap_or(false);
        Ok(SyncHandle {
            client: self.clone(),
            library: library_id,
            item: Some(item.clone()),
            content: force_content || !on_demand,
        })
    }

    /// Drops the cached content of an on-demand subscribed library (its items stay listed).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// client.evict_library(&library).await?;
    /// # Ok(()) }
    /// ```
    pub async fn evict_library(&self, library: &LibraryId) -> Result<()> {
        let id = library.as_str();
        self.call(op!(SubscribedLibraryEvict, |c|
            api: void(c.subscribed_library_evict(id)).await,
            rest: void(c.rest_subscribed_library_evict(id)).await))
            .await
    }

    /// Drops the cached content of one item of an on-demand subscribed library.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// client.evict_item(&item).await?;
    /// # Ok(()) }
    /// ```
    pub async fn evict_item(&self, item: &ItemId) -> Result<()> {
        let item_id = item.as_str();
        self.call(op!(SubscribedItemEvict, |c|
            api: void(c.subscribed_item_evict(item_id)).await,
            rest: void(c.rest_subscribed_item_evict(item_id)).await))
            .await
    }
}

/// The error for a feed a probe found unusable.
fn unusable(probe: &ProbeResult) -> Error {
    let why = match probe.status {
        ProbeStatus::InvalidUrl => "the subscription URL is not a usable http(s) URL".to_owned(),
        ProbeStatus::TimedOut => "the feed did not answer in time".to_owned(),
        ProbeStatus::HostNotFound => "the feed's host name does not resolve".to_owned(),
        ProbeStatus::ResourceNotFound => "there is no feed at that URL (it should end in /lib.json)".to_owned(),
        ProbeStatus::InvalidCredentials => "the feed refused the credentials".to_owned(),
        ProbeStatus::CertificateError => match &probe.ssl_thumbprint {
            Some(t) => format!("the feed's certificate is not trusted (its SHA-1 thumbprint is {t})"),
            None => "the feed's certificate is not trusted or does not match the thumbprint".to_owned(),
        },
        _ => "the feed could not be read".to_owned(),
    };
    let mut error = Error::new(ErrorKind::FeedUnusable, format!("cannot subscribe: {why}"))
        .with(Detail::Probe { status: probe.status.clone(), ssl_thumbprint: probe.ssl_thumbprint.clone() });
    for message in &probe.error_messages {
        error = error.with_detail(message.default_message.clone());
    }
    error
}
