//! Libraries and items: finding them by name, creating and deleting them.

use cl_api::types::*;

use crate::client::{Client, Dialect, api, void};
use crate::error::{Error, ErrorKind, Result};

impl Client {
    /// The id of the library with this name (names compare case-insensitively, as on vCenter).
    /// `NotFound` when there is none, `InvalidArgument` when several share the name.
    pub async fn find_library(&self, name: &str) -> Result<String> {
        let spec = LibraryFindSpec { name: Some(name.to_owned()), type_: None };
        let spec = &spec;
        let ids = self
            .run("library_find", move || {
                Box::pin(async move {
                    let c = self.raw();
                    match self.dialect() {
                        Dialect::Api => api(c.library_find(spec)).await,
                        Dialect::Rest => api(c.rest_library_find(&RestLibraryFind { spec: spec.clone() }))
                            .await
                            .map(|v| v.value.unwrap_or_default()),
                    }
                })
            })
            .await?;
        single(ids, || format!("library {name:?}"))
    }

    /// A library of any type.
    pub async fn library(&self, id: &str) -> Result<LibraryModel> {
        self.run("library_get", move || {
            Box::pin(async move {
                let c = self.raw();
                match self.dialect() {
                    Dialect::Api => api(c.library_get(id)).await,
                    Dialect::Rest => api(c.rest_library_get(id)).await.map(|v| v.value),
                }
            })
        })
        .await
    }

    /// The ids of all libraries.
    pub async fn libraries(&self) -> Result<Vec<String>> {
        self.run("library_list", move || {
            Box::pin(async move {
                let c = self.raw();
                match self.dialect() {
                    Dialect::Api => api(c.library_list()).await,
                    Dialect::Rest => api(c.rest_library_list()).await.map(|v| v.value.unwrap_or_default()),
                }
            })
        })
        .await
    }

    /// Creates a local library on a datastore and returns its id.
    pub async fn create_local_library(&self, name: &str, datastore_id: &str) -> Result<String> {
        let token = uuid::Uuid::new_v4().to_string();
        let token = token.as_str();
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
        let spec = &spec;
        self.run("local_library_create", move || {
            Box::pin(async move {
                let c = self.raw();
                match self.dialect() {
                    Dialect::Api => api(c.local_library_create(Some(token), spec)).await,
                    Dialect::Rest => {
                        let body =
                            RestLibraryCreate { client_token: Some(token.to_owned()), create_spec: spec.clone() };
                        api(c.rest_local_library_create(&body)).await.map(|v| v.value)
                    }
                }
            })
        })
        .await
    }

    /// Deletes a local library with all its items.
    pub async fn delete_local_library(&self, id: &str) -> Result<()> {
        self.run("local_library_delete", move || {
            Box::pin(async move {
                let c = self.raw();
                match self.dialect() {
                    Dialect::Api => void(c.local_library_delete(id)).await,
                    Dialect::Rest => void(c.rest_local_library_delete(id)).await,
                }
            })
        })
        .await
    }

    /// The id of the item with this name in a library.
    pub async fn find_item(&self, library_id: &str, name: &str) -> Result<String> {
        let spec =
            ItemFindSpec { name: Some(name.to_owned()), library_id: Some(library_id.to_owned()), ..Default::default() };
        let spec = &spec;
        let ids = self
            .run("item_find", move || {
                Box::pin(async move {
                    let c = self.raw();
                    match self.dialect() {
                        Dialect::Api => api(c.item_find(spec)).await,
                        Dialect::Rest => api(c.rest_item_find(&RestItemFind { spec: spec.clone() }))
                            .await
                            .map(|v| v.value.unwrap_or_default()),
                    }
                })
            })
            .await?;
        single(ids, || format!("item {name:?} in library {library_id}"))
    }

    /// An item, with its size and content version.
    pub async fn item(&self, id: &str) -> Result<ItemModel> {
        self.run("item_get", move || {
            Box::pin(async move {
                let c = self.raw();
                match self.dialect() {
                    Dialect::Api => api(c.item_get(id)).await,
                    Dialect::Rest => api(c.rest_item_get(id)).await.map(|v| v.value),
                }
            })
        })
        .await
    }

    /// The ids of a library's items.
    pub async fn items(&self, library_id: &str) -> Result<Vec<String>> {
        self.run("item_list", move || {
            Box::pin(async move {
                let c = self.raw();
                match self.dialect() {
                    Dialect::Api => api(c.item_list(library_id)).await,
                    Dialect::Rest => api(c.rest_item_list(library_id)).await.map(|v| v.value.unwrap_or_default()),
                }
            })
        })
        .await
    }

    /// Creates an empty item (`item_type` e.g. `ovf`, `iso` or `file`) and returns its id.
    pub async fn create_item(&self, library_id: &str, name: &str, item_type: &str) -> Result<String> {
        let token = uuid::Uuid::new_v4().to_string();
        let token = token.as_str();
        let spec = ItemModel {
            library_id: Some(library_id.to_owned()),
            name: Some(name.to_owned()),
            type_: Some(item_type.to_owned()),
            ..Default::default()
        };
        let spec = &spec;
        self.run("item_create", move || {
            Box::pin(async move {
                let c = self.raw();
                match self.dialect() {
                    Dialect::Api => api(c.item_create(Some(token), spec)).await,
                    Dialect::Rest => {
                        let body = RestItemCreate { client_token: Some(token.to_owned()), create_spec: spec.clone() };
                        api(c.rest_item_create(&body)).await.map(|v| v.value)
                    }
                }
            })
        })
        .await
    }

    /// Deletes an item and its content.
    pub async fn delete_item(&self, id: &str) -> Result<()> {
        self.run("item_delete", move || {
            Box::pin(async move {
                let c = self.raw();
                match self.dialect() {
                    Dialect::Api => void(c.item_delete(id)).await,
                    Dialect::Rest => void(c.rest_item_delete(id)).await,
                }
            })
        })
        .await
    }

    /// The files an item holds, with sizes and checksums where the server gives them.
    pub async fn item_files(&self, id: &str) -> Result<Vec<ItemFileInfo>> {
        self.run("item_file_list", move || {
            Box::pin(async move {
                let c = self.raw();
                match self.dialect() {
                    Dialect::Api => api(c.item_file_list(id)).await,
                    Dialect::Rest => api(c.rest_item_file_list(id)).await.map(|v| v.value.unwrap_or_default()),
                }
            })
        })
        .await
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
