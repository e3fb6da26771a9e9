//! Libraries and items: finding them by name, creating, changing and deleting them.

use cl_api::types::*;
use futures_util::stream::{self, BoxStream, StreamExt};

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::id::{DatastoreId, ItemId, ItemType, LibraryId};
use crate::wire::{api, op, ops};

/// How many models a listing fetches at once: the API lists ids only, and one get per entry at
/// this concurrency keeps a long listing quick without flooding the server.
const LIST_CONCURRENCY: usize = 16;

impl Client {
    /// The id of the library with this name (names compare case-insensitively, as on vCenter).
    /// `NotFound` when there is none, `InvalidArgument` when several share the name.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// let templates = client.find_library("templates").await?;
    /// println!("templates is {templates}");
    /// # Ok(()) }
    /// ```
    pub async fn find_library(&self, name: &str) -> Result<LibraryId> {
        single(self.find_libraries(name).await?, || format!("library {name:?}"))
    }

    /// The ids of every library with this name (case-insensitively).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// for id in client.find_libraries("templates").await? {
    ///     println!("{id}");
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn find_libraries(&self, name: &str) -> Result<Vec<LibraryId>> {
        let spec = LibraryFindSpec { name: Some(name.to_owned()), type_: None };
        LibraryId::all_from_server(self.call(ops::library_find(spec)).await?)
    }

    /// A library of any type.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// let model = client.library(&library).await?;
    /// println!("{:?}, version {:?}", model.type_, model.version);
    /// # Ok(()) }
    /// ```
    pub async fn library(&self, id: &LibraryId) -> Result<LibraryModel> {
        self.call(ops::library_get(id.as_str())).await
    }

    /// Every library, local and subscribed, as models: the API lists ids, and each is read as the
    /// stream is consumed (16 at a time), so a long listing holds only the ids and a few models.
    /// A library deleted between the listing and its read is left out.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use futures_util::TryStreamExt;
    /// let mut libraries = client.libraries().await?;
    /// while let Some(library) = libraries.try_next().await? {
    ///     println!("{:?} {:?}", library.name, library.type_);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn libraries(&self) -> Result<Listing<'_, LibraryModel>> {
        let ids = self.library_ids().await?;
        Ok(self.models(ids, |c, id| Box::pin(async move { c.library(&id).await })))
    }

    /// The ids of all libraries (one call).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// println!("{} libraries", client.library_ids().await?.len());
    /// # Ok(()) }
    /// ```
    pub async fn library_ids(&self) -> Result<Vec<LibraryId>> {
        LibraryId::all_from_server(self.call(ops::library_list()).await?)
    }

    /// The ids of the local libraries (the ones this vCenter's users upload into).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// for id in client.local_library_ids().await? {
    ///     println!("{id}: {:?}", client.local_library(&id).await?.name);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn local_library_ids(&self) -> Result<Vec<LibraryId>> {
        let listed = self
            .call(op!(LocalLibraryList, |c|
                api: api(c.local_library_list()).await,
                rest: api(c.rest_local_library_list()).await.map(|v| v.value.unwrap_or_default())))
            .await?;
        LibraryId::all_from_server(listed)
    }

    /// A local library; `NotFound` when `id` is no library or not a local one.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// let model = client.local_library(&library).await?;
    /// println!("published: {:?}", model.publish_info.and_then(|p| p.published));
    /// # Ok(()) }
    /// ```
    pub async fn local_library(&self, id: &LibraryId) -> Result<LibraryModel> {
        let id = id.as_str();
        self.call(op!(LocalLibraryGet, |c|
            api: api(c.local_library_get(id)).await,
            rest: api(c.rest_local_library_get(id)).await.map(|v| v.value)))
            .await
    }

    /// Reads each id's model as the stream is consumed, a few at a time, in the listing's
    /// order; ids whose thing vanished meanwhile (`NotFound`) are skipped.
    fn models<'a, I: Clone + Send + 'a, M: Send + 'a>(
        &'a self,
        ids: Vec<I>,
        get: impl Fn(&'a Client, I) -> futures_util::future::BoxFuture<'a, Result<M>> + Send + Sync + 'a,
    ) -> Listing<'a, M> {
        let total = ids.len();
        let models = stream::iter(ids)
            .map(move |id| get(self, id))
            .buffered(LIST_CONCURRENCY)
            .filter_map(|read| async move {
                match read {
                    Err(e) if e.kind() == ErrorKind::NotFound => None,
                    other => Some(other),
                }
            })
            .boxed();
        Listing { total, models }
    }

    /// The datastores the user can see, all or those of one name (at most 2500, as vCenter
    /// lists them), with their ids for [`create_local_library`](Self::create_local_library).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// for datastore in client.datastores(None).await? {
    ///     println!("{} ({})", datastore.name, datastore.datastore);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn datastores(&self, name: Option<&str>) -> Result<Vec<DatastoreSummary>> {
        self.call(ops::datastore_list(name.map(|n| vec![n.to_owned()]))).await
    }

    /// Creates a local library on a datastore and returns its id.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// let datastore: cl_sdk::DatastoreId = "datastore-12".parse()?;
    /// let library = client.create_local_library("images", &datastore).await?;
    /// println!("created {library}");
    /// # Ok(()) }
    /// ```
    pub async fn create_local_library(&self, name: &str, datastore: &DatastoreId) -> Result<LibraryId> {
        let spec = LibraryModel {
            name: Some(name.to_owned()),
            type_: Some(LibraryType::Local),
            storage_backings: vec![StorageBacking {
                type_: Some(StorageBackingType::Datastore),
                datastore_id: Some(datastore.to_string()),
                storage_uri: None,
            }],
            ..Default::default()
        };
        self.call(ops::local_library_create(spec, uuid::Uuid::new_v4().to_string()))
            .await
            .and_then(LibraryId::from_server)
    }

    /// Changes a library's name or description, then reads it back: the library as it now is.
    /// A server that answers success but still shows other values is a `Verification` error.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::Changes;
    /// let id = client.find_library("golden").await?;
    /// let library = client.update_library(&id, &Changes::new().description("signed images only")).await?;
    /// println!("now at version {:?}", library.version);
    /// # Ok(()) }
    /// ```
    pub async fn update_library(&self, id: &LibraryId, changes: &Changes) -> Result<LibraryModel> {
        changes.check()?;
        let spec = LibraryModel {
            name: changes.name.clone(),
            description: changes.description.clone(),
            version: changes.if_version.clone(),
            ..Default::default()
        };
        self.call(ops::library_update(id.as_str(), spec)).await?;
        let library = self.library(id).await?;
        changes.shown_by(&format!("library {id}"), library.name.as_deref(), library.description.as_deref())?;
        Ok(library)
    }

    /// Deletes a local library with all its items.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// let scratch = client.find_library("scratch").await?;
    /// client.delete_local_library(&scratch).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_local_library(&self, id: &LibraryId) -> Result<()> {
        self.call(ops::local_library_delete(id.as_str())).await
    }

    /// The id of the item with this name in a library.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// let item = client.find_item(&library, "photon-5").await?;
    /// println!("photon-5 is {item}");
    /// # Ok(()) }
    /// ```
    pub async fn find_item(&self, library: &LibraryId, name: &str) -> Result<ItemId> {
        single(self.find_items(library, name).await?, || format!("item {name:?} in library {library}"))
    }

    /// The ids of every item with this name in a library.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// let same_name = client.find_items(&library, "photon-5").await?;
    /// println!("{} items are named photon-5", same_name.len());
    /// # Ok(()) }
    /// ```
    pub async fn find_items(&self, library: &LibraryId, name: &str) -> Result<Vec<ItemId>> {
        let spec =
            ItemFindSpec { name: Some(name.to_owned()), library_id: Some(library.to_string()), ..Default::default() };
        ItemId::all_from_server(self.call(ops::item_find(spec)).await?)
    }

    /// An item, with its size and content version.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// let model = client.item(&item).await?;
    /// println!("{:?} bytes, content version {:?}", model.size, model.content_version);
    /// # Ok(()) }
    /// ```
    pub async fn item(&self, id: &ItemId) -> Result<ItemModel> {
        self.call(ops::item_get(id.as_str())).await
    }

    /// A library's items as models, read as the stream is consumed (16 at a time; see
    /// [`libraries`](Self::libraries)): a library of 100 000 items holds only their ids and a
    /// few models at once.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use futures_util::TryStreamExt;
    /// let library = client.find_library("templates").await?;
    /// let items: Vec<_> = client.items(&library).await?.try_collect().await?;
    /// for item in items {
    ///     println!("{:?}: {:?} bytes", item.name, item.size);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn items(&self, library: &LibraryId) -> Result<Listing<'_, ItemModel>> {
        let ids = self.item_ids(library).await?;
        Ok(self.models(ids, |c, id| Box::pin(async move { c.item(&id).await })))
    }

    /// The ids of a library's items (one call).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// let ids = client.item_ids(&library).await?;
    /// println!("{} items", ids.len());
    /// # Ok(()) }
    /// ```
    pub async fn item_ids(&self, library: &LibraryId) -> Result<Vec<ItemId>> {
        ItemId::all_from_server(self.call(ops::item_list(library.as_str())).await?)
    }

    /// Creates an empty item and returns its id.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// use cl_sdk::ItemType;
    /// let item = client.create_item(&library, "photon-5", &ItemType::Ovf).await?;
    /// println!("created {item}, empty until files are uploaded into it");
    /// # Ok(()) }
    /// ```
    pub async fn create_item(&self, library: &LibraryId, name: &str, item_type: &ItemType) -> Result<ItemId> {
        let spec = ItemModel {
            library_id: Some(library.to_string()),
            name: Some(name.to_owned()),
            type_: Some(item_type.to_string()),
            ..Default::default()
        };
        self.call(ops::item_create(spec, uuid::Uuid::new_v4().to_string())).await.and_then(ItemId::from_server)
    }

    /// Changes an item's name or description (its files stay as they are), then reads it back:
    /// the item as it now is. A name another item of the library has is `AlreadyExists`; a
    /// server that answers success but still shows other values is a `Verification` error.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::{Changes, ErrorKind};
    /// let library = client.find_library("templates").await?;
    /// let id = client.find_item(&library, "photon-5").await?;
    /// let item = client.item(&id).await?;
    /// // Only if nobody changed it since it was read.
    /// let changes = Changes::new().name("photon-5.0").if_version(item.version.clone().unwrap_or_default());
    /// match client.update_item(&id, &changes).await {
    ///     Ok(item) => println!("renamed to {:?}", item.name),
    ///     Err(e) if e.kind() == ErrorKind::ConcurrentChange => println!("changed meanwhile; read it again"),
    ///     Err(e) => return Err(e),
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn update_item(&self, id: &ItemId, changes: &Changes) -> Result<ItemModel> {
        changes.check()?;
        let spec = ItemModel {
            name: changes.name.clone(),
            description: changes.description.clone(),
            version: changes.if_version.clone(),
            ..Default::default()
        };
        self.call(ops::item_update(id.as_str(), spec)).await?;
        let item = self.item(id).await?;
        changes.shown_by(&format!("item {id}"), item.name.as_deref(), item.description.as_deref())?;
        Ok(item)
    }

    /// Deletes an item and its content.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// client.delete_item(&item).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_item(&self, id: &ItemId) -> Result<()> {
        self.call(ops::item_delete(id.as_str())).await
    }

    /// The files an item holds, with sizes and checksums where the server gives them.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// for file in client.item_files(&item).await? {
    ///     println!("{}: {:?} bytes", file.name, file.size);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn item_files(&self, id: &ItemId) -> Result<Vec<ItemFileInfo>> {
        self.call(ops::item_file_list(id.as_str())).await
    }

    /// One file of an item; `NotFound` when the item has no file of that name.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// let disk = client.item_file(&item, "disk-0.vmdk").await?;
    /// println!("{:?}", disk.checksum_info);
    /// # Ok(()) }
    /// ```
    pub async fn item_file(&self, id: &ItemId, name: &str) -> Result<ItemFileInfo> {
        let id = id.as_str();
        let body = ItemFileNameSpec { name: name.to_owned() };
        self.call(op!(ItemFileGet, [body] |c|
            api: api(c.item_file_get(id, name)).await,
            rest: api(c.rest_item_file_get(id, &body)).await.map(|v| v.value)))
            .await
    }
}

/// Models read one by one as the stream is consumed, a few at a time, in the order the server
/// listed their ids ([`Client::libraries`], [`Client::items`]). Entries deleted between the
/// listing and their read are skipped.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
/// use futures_util::StreamExt;
/// let mut items = client.items(&library).await?;
/// println!("{} listed", items.total());
/// while let Some(item) = items.next().await {
///     println!("{:?}", item?.name);
/// }
/// # Ok(()) }
/// ```
pub struct Listing<'a, M> {
    total: usize,
    models: BoxStream<'a, Result<M>>,
}

impl<M> Listing<'_, M> {
    /// How many ids the server listed: the most entries the stream yields.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// let items = client.items(&library).await?;
    /// println!("{} items listed", items.total());
    /// # Ok(()) }
    /// ```
    pub fn total(&self) -> usize {
        self.total
    }
}

impl<M> futures_util::Stream for Listing<'_, M> {
    type Item = Result<M>;

    fn poll_next(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Self::Item>> {
        self.models.as_mut().poll_next(cx)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (0, Some(self.total))
    }
}

impl<M> std::fmt::Debug for Listing<'_, M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listing").field("total", &self.total).finish_non_exhaustive()
    }
}

/// What [`Client::update_item`] or [`Client::update_library`] changes: what is left unset keeps
/// its value.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::Changes;
/// let changes = Changes::new().name("photon-5.0").description("the golden image");
/// client.update_item(&item, &changes).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Changes {
    /// The new name.
    pub name: Option<String>,
    /// The new description (empty clears it).
    pub description: Option<String>,
    /// Apply only to this version of the object (its `version` when it was read); otherwise
    /// the update fails with [`ErrorKind::ConcurrentChange`].
    pub if_version: Option<String>,
}

impl Changes {
    /// No changes yet.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::Changes;
    /// client.update_item(&item, &Changes::new().description("golden, 2026-12")).await?;
    /// # Ok(()) }
    /// ```
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the new name.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::Changes;
    /// client.update_item(&item, &Changes::new().name("photon-5.0")).await?;
    /// # Ok(()) }
    /// ```
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets the new description.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
    /// use cl_sdk::Changes;
    /// client.update_library(&library, &Changes::new().description("signed images only")).await?;
    /// # Ok(()) }
    /// ```
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = Some(description.into());
        self
    }

    /// Binds the update to the version the object was read at.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::Changes;
    /// let version = client.item(&item).await?.version.unwrap_or_default();
    /// client.update_item(&item, &Changes::new().name("photon-5.0").if_version(version)).await?;
    /// # Ok(()) }
    /// ```
    pub fn if_version(mut self, version: impl Into<String>) -> Self {
        self.if_version = Some(version.into());
        self
    }

    fn check(&self) -> Result<()> {
        if self.name.is_none() && self.description.is_none() {
            return Err(Error::new(ErrorKind::InvalidInput, "nothing to change: give a new name or description"));
        }
        if self.name.as_deref().is_some_and(|n| n.trim().is_empty()) {
            return Err(Error::new(ErrorKind::InvalidInput, "a name cannot be empty"));
        }
        Ok(())
    }

    /// The server said yes; its model must say so too.
    fn shown_by(&self, what: &str, name: Option<&str>, description: Option<&str>) -> Result<()> {
        let differs = |wanted: &Option<String>, shown: Option<&str>| {
            // An empty description may come back unset.
            wanted.as_deref().is_some_and(|w| w != shown.unwrap_or_default())
        };
        if differs(&self.name, name) || differs(&self.description, description) {
            return Err(Error::new(
                ErrorKind::Verification,
                format!("the server accepted the update of {what} but does not show it"),
            ));
        }
        Ok(())
    }
}

fn single<T>(ids: Vec<T>, what: impl Fn() -> String) -> Result<T> {
    match <[T; 1]>::try_from(ids) {
        Ok([id]) => Ok(id),
        Err(ids) if ids.is_empty() => Err(Error::new(ErrorKind::NotFound, format!("there is no {}", what()))),
        Err(ids) => {
            Err(Error::new(ErrorKind::InvalidArgument, format!("{} names {} objects; use an id", what(), ids.len())))
        }
    }
}
