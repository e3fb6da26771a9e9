//! Libraries and items: finding them by name, creating and deleting them.

use cl_api::types::*;

use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::wire::ops;

impl Client {
    /// The id of the library with this name (names compare case-insensitively, as on vCenter).
    /// `NotFound` when there is none, `InvalidArgument` when several share the name.
    pub async fn find_library(&self, name: &str) -> Result<String> {
        single(self.find_libraries(name).await?, || format!("library {name:?}"))
    }

    /// The ids of every library with this name (case-insensitively).
    pub async fn find_libraries(&self, name: &str) -> Result<Vec<String>> {
        let spec = LibraryFindSpec { name: Some(name.to_owned()), type_: None };
        self.call(ops::library_find(spec)).await
    }

    /// A library of any type.
    pub async fn library(&self, id: &str) -> Result<LibraryModel> {
        self.call(ops::library_get(id)).await
    }

    /// The ids of all libraries.
    pub async fn libraries(&self) -> Result<Vec<String>> {
        self.call(ops::library_list()).await
    }

    /// The datastores the user can see, all or those of one name (at most 2500, as vCenter
    /// lists them), with their ids for [`create_local_library`](Self::create_local_library).
    pub async fn datastores(&self, name: Option<&str>) -> Result<Vec<DatastoreSummary>> {
        self.call(ops::datastore_list(name)).await
    }

    /// Creates a local library on a datastore and returns its id.
    pub async fn create_local_library(&self, name: &str, datastore_id: &str) -> Result<String> {
        let spec = LibraryModel {
            name: Some(name.to_owned()),
            type_: Some(LibraryType::Local),
            storage_backings: vec![StorageBacking {
                type_: Some(StorageBackingType::Datastore),
                datastore_id: Some(datastore_id.to_owned()),
                storage_uri: None,
            }],
            ..Default::default()
        };
        self.call(ops::local_library_create(spec, uuid::Uuid::new_v4().to_string())).await
    }

    /// Deletes a local library with all its items.
    pub async fn delete_local_library(&self, id: &str) -> Result<()> {
        self.call(ops::local_library_delete(id)).await
    }

    /// The id of the item with this name in a library.
    pub async fn find_item(&self, library_id: &str, name: &str) -> Result<String> {
        single(self.find_items(library_id, name).await?, || format!("item {name:?} in library {library_id}"))
    }

    /// The ids of every item with this name in a library.
    pub async fn find_items(&self, library_id: &str, name: &str) -> Result<Vec<String>> {
        let spec =
            ItemFindSpec { name: Some(name.to_owned()), library_id: Some(library_id.to_owned()), ..Default::default() };
        self.call(ops::item_find(spec)).await
    }

    /// An item, with its size and content version.
    pub async fn item(&self, id: &str) -> Result<ItemModel> {
        self.call(ops::item_get(id)).await
    }

    /// The ids of a library's items.
    pub async fn items(&self, library_id: &str) -> Result<Vec<String>> {
        self.call(ops::item_list(library_id)).await
    }

    /// Creates an empty item (`item_type` e.g. `ovf`, `iso` or `file`) and returns its id.
    pub async fn create_item(&self, library_id: &str, name: &str, item_type: &str) -> Result<String> {
        let spec = ItemModel {
            library_id: Some(library_id.to_owned()),
            name: Some(name.to_owned()),
            type_: Some(item_type.to_owned()),
            ..Default::default()
        };
        self.call(ops::item_create(spec, uuid::Uuid::new_v4().to_string())).await
    }

    /// Deletes an item and its content.
    pub async fn delete_item(&self, id: &str) -> Result<()> {
        self.call(ops::item_delete(id)).await
    }

    /// The files an item holds, with sizes and checksums where the server gives them.
    pub async fn item_files(&self, id: &str) -> Result<Vec<ItemFileInfo>> {
        self.call(ops::item_file_list(id)).await
    }
}

fn single(ids: Vec<String>, what: impl Fn() -> String) -> Result<String> {
    match <[String; 1]>::try_from(ids) {
        Ok([id]) => Ok(id),
        Err(ids) if ids.is_empty() => Err(Error::new(ErrorKind::NotFound, format!("there is no {}", what()))),
        Err(ids) => {
            Err(Error::new(ErrorKind::InvalidArgument, format!("{} names {} objects; use an id", what(), ids.len())))
        }
    }
}
