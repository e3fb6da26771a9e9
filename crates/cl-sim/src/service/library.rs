//! Libraries and items.

use super::*;

impl Service {
    /// The one datastore the simulator has, when `name` (if given) is its name.
    pub fn datastore_list(&self, names: Option<&[String]>) -> Vec<DatastoreSummary> {
        let datastore = DatastoreSummary {
            datastore: crate::DATASTORE_ID.to_owned(),
            name: crate::DATASTORE_NAME.to_owned(),
            type_: DatastoreType::Vmfs,
            free_space: Some(3 << 40),
            capacity: Some(4 << 40),
        };
        names.is_none_or(|n| n.contains(&datastore.name)).then_some(datastore).into_iter().collect()
    }

    pub fn library_create(&self, spec: LibraryModel, client_token: Option<String>) -> SimResult<String> {
        let mut state = self.state();
        if let Some(id) = state.remembered("library", &client_token) {
            return Ok(id);
        }
        let name = spec.name.clone().filter(|n| !n.trim().is_empty());
        let name = name.ok_or_else(|| SimError::invalid_argument("A library needs a name."))?;
        if matches!(spec.type_, Some(ref t) if *t != LibraryType::Local) {
            return Err(SimError::invalid_argument("A local library must have type LOCAL."));
        }
        if spec.storage_backings.len() != 1 {
            return Err(SimError::invalid_argument("A local library needs exactly one storage backing."));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let now = Utc::now();
        let model = LibraryModel {
            id: Some(id.clone()),
            name: Some(name),
            type_: Some(LibraryType::Local),
            creation_time: Some(now),
            last_modified_time: Some(now),
            version: Some("1".into()),
            server_guid: Some("00000000-0000-0000-0000-00000000c15a".into()),
            ..spec
        };
        state.libraries.insert(id.clone(), model);
        state.remember("library", client_token, &id);
        Ok(id)
    }

    pub fn library_get(&self, id: &str, local_only: bool) -> SimResult<LibraryModel> {
        let state = self.state();
        let library = state.libraries.get(id).filter(|l| !local_only || l.type_ == Some(LibraryType::Local));
        library.cloned().ok_or_else(|| SimError::not_found(format!("Library {id} does not exist.")))
    }

    pub fn library_list(&self) -> Vec<String> {
        self.state().libraries.keys().cloned().collect()
    }

    pub fn library_find(&self, spec: &LibraryFindSpec) -> Vec<String> {
        let state = self.state();
        let matches = |l: &LibraryModel| {
            spec.name.as_ref().is_none_or(|n| l.name.as_ref().is_some_and(|m| m.eq_ignore_ascii_case(n)))
                && spec.type_.as_ref().is_none_or(|t| l.type_.as_ref() == Some(t))
        };
        state.libraries.iter().filter(|(_, l)| matches(l)).map(|(id, _)| id.clone()).collect()
    }

    pub fn library_delete(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        state.libraries.remove(id).ok_or_else(|| SimError::not_found(format!("Library {id} does not exist.")))?;
        state.items.retain(|_, item| item.model.library_id.as_deref() != Some(id));
        Ok(())
    }

    pub fn item_create(&self, spec: ItemModel, client_token: Option<String>) -> SimResult<String> {
        let mut state = self.state();
        if let Some(id) = state.remembered("item", &client_token) {
            return Ok(id);
        }
        let library_id =
            spec.library_id.clone().ok_or_else(|| SimError::invalid_argument("An item needs a library_id."))?;
        if !state.libraries.contains_key(&library_id) {
            return Err(SimError::not_found(format!("Library {library_id} does not exist.")));
        }
        let name = spec.name.clone().filter(|n| !n.trim().is_empty());
        let name = name.ok_or_else(|| SimError::invalid_argument("An item needs a name."))?;
        let taken = state
            .items
            .values()
            .any(|i| i.model.library_id.as_deref() == Some(&library_id) && i.model.name.as_deref() == Some(&name));
        if taken {
            return Err(SimError::new(
                ErrorType::AlreadyExists,
                format!("An item named {name:?} already exists in library {library_id}."),
            ));
        }
        let id = uuid::Uuid::new_v4().to_string();
        let now = Utc::now();
        let model = ItemModel {
            id: Some(id.clone()),
            name: Some(name),
            creation_time: Some(now),
            last_modified_time: Some(now),
            cached: Some(true),
            metadata_version: Some("1".into()),
            version: Some("1".into()),
            ..spec
        };
        state.items.insert(id.clone(), Item { model, content_version: 1, files: BTreeMap::new() });
        state.remember("item", client_token, &id);
        Ok(id)
    }

    pub fn item_get(&self, id: &str) -> SimResult<ItemModel> {
        let state = self.state();
        let item = state.item(id)?;
        Ok(ItemModel {
            size: Some(item.files.values().map(|b| b.size as i64).sum()),
            content_version: Some(item.content_version.to_string()),
            ..item.model.clone()
        })
    }

    pub fn item_list(&self, library_id: &str) -> SimResult<Vec<String>> {
        let state = self.state();
        if !state.libraries.contains_key(library_id) {
            return Err(SimError::not_found(format!("Library {library_id} does not exist.")));
        }
        let phantoms = (0..self.faults.phantom_item_count()).map(|n| format!("p{n}"));
        Ok(state
            .items
            .iter()
            .filter(|(_, i)| i.model.library_id.as_deref() == Some(library_id))
            .map(|(id, _)| id.clone())
            .chain(phantoms)
            .collect())
    }

    pub fn item_find(&self, spec: &ItemFindSpec) -> SimResult<Vec<String>> {
        let state = self.state();
        if let Some(library) = &spec.library_id
            && !state.libraries.contains_key(library)
        {
            return Err(SimError::not_found(format!("Library {library} does not exist.")));
        }
        let matches = |i: &ItemModel| {
            spec.name.as_ref().is_none_or(|n| i.name.as_ref().is_some_and(|m| m.eq_ignore_ascii_case(n)))
                && spec.library_id.as_ref().is_none_or(|l| i.library_id.as_ref() == Some(l))
                && spec.type_.as_ref().is_none_or(|t| i.type_.as_ref() == Some(t))
                && spec.source_id.as_ref().is_none_or(|s| i.source_id.as_ref() == Some(s))
                && spec.cached.is_none_or(|c| c)
        };
        Ok(state.items.iter().filter(|(_, i)| matches(&i.model)).map(|(id, _)| id.clone()).collect())
    }

    pub fn item_delete(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        state
            .items
            .remove(id)
            .map(|_| ())
            .ok_or_else(|| SimError::not_found(format!("Library item {id} does not exist.")))
    }

    pub fn item_files(&self, id: &str) -> SimResult<Vec<ItemFileInfo>> {
        let state = self.state();
        let item = state.item(id)?;
        let lie = self.faults.item_size_lie() as i64;
        let files = item.files.iter().map(|(name, blob)| item_file(name, blob, item.content_version));
        Ok(files.map(|f| ItemFileInfo { size: f.size.map(|s| s - lie), ..f }).collect())
    }

    pub fn item_file(&self, id: &str, name: &str) -> SimResult<ItemFileInfo> {
        let state = self.state();
        let item = state.item(id)?;
        let blob =
            item.files.get(name).ok_or_else(|| SimError::not_found(format!("Item {id} has no file {name:?}.")))?;
        Ok(item_file(name, blob, item.content_version))
    }
}

fn item_file(name: &str, blob: &Blob, version: u64) -> ItemFileInfo {
    ItemFileInfo {
        name: name.to_owned(),
        size: Some(blob.size as i64),
        checksum_info: Some(ChecksumInfo { algorithm: Some(ChecksumAlgorithm::Sha1), checksum: blob.sha1.clone() }),
        cached: true,
        version: version.to_string(),
    }
}
