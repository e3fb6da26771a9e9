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
            publish_info: None,
            subscription_info: None,
            ..spec
        };
        state.libraries.insert(id.clone(), model);
        if let Some(publish) = spec.publish_info
            && let Err(error) = self.publish(&mut state, &id, publish)
        {
            state.libraries.remove(&id);
            return Err(error);
        }
        state.remember("library", client_token, &id);
        Ok(id)
    }

    /// A local library's update: name and description as any library's, and `publish_info`
    /// publishes it, changes how, or stops publishing it.
    pub fn local_library_update(&self, id: &str, mut spec: LibraryModel) -> SimResult<()> {
        self.library_get(id, true)?;
        let publish = spec.publish_info.take();
        self.library_update(id, spec)?;
        if let Some(publish) = publish {
            let mut state = self.state();
            self.publish(&mut state, id, publish)?;
            state.changed(id);
        }
        Ok(())
    }

    pub fn library_get(&self, id: &str, local_only: bool) -> SimResult<LibraryModel> {
        let state = self.state();
        let library = state.libraries.get(id).filter(|l| !local_only || l.type_ == Some(LibraryType::Local));
        library.cloned().ok_or_else(|| SimError::not_found(format!("Library {id} does not exist.")))
    }

    /// An incremental update of a library's common properties: name and description. A `version`
    /// in the spec is a precondition (vCenter's optimistic concurrency).
    pub fn library_update(&self, id: &str, spec: LibraryModel) -> SimResult<()> {
        let mut state = self.state();
        let library =
            state.libraries.get_mut(id).ok_or_else(|| SimError::not_found(format!("Library {id} does not exist.")))?;
        check_version("Library", id, spec.version.as_deref(), library.version.as_deref())?;
        if spec.id.as_deref().is_some_and(|other| other != id) {
            return Err(SimError::invalid_argument("The update spec names another library id."));
        }
        if spec.type_.is_some_and(|t| Some(t) != library.type_) || !spec.storage_backings.is_empty() {
            return Err(SimError::invalid_argument("A library's type and storage backings cannot be updated."));
        }
        let name = checked_name(spec.name, "library")?;
        if name.is_none() && spec.description.is_none() {
            return Ok(());
        }
        library.name = name.or(library.name.take());
        library.description = spec.description.or(library.description.take());
        library.version = Some(next_version(library.version.as_deref()));
        library.last_modified_time = Some(Utc::now());
        Ok(())
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
        state.publish_passwords.remove(id);
        state.feed_versions.remove(id);
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
        state.writable(&library_id)?;
        let name = spec.name.clone().filter(|n| !n.trim().is_empty());
        let name = name.ok_or_else(|| SimError::invalid_argument("An item needs a name."))?;
        state.item_name_free(&library_id, &name, None)?;
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
        state.items.insert(id.clone(), Item { model, content_version: 1, files: BTreeMap::new(), source: None });
        state.remember("item", client_token, &id);
        state.changed(&library_id);
        Ok(id)
    }

    pub fn item_get(&self, id: &str) -> SimResult<ItemModel> {
        let state = self.state();
        let item = state.item(id)?;
        Ok(ItemModel {
            size: Some(item.files.values().map(|b| b.size as i64).sum()),
            cached: Some(item.cached()),
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
        };
        let found =
            state.items.iter().filter(|(_, i)| matches(&i.model) && spec.cached.is_none_or(|c| c == i.cached()));
        Ok(found.map(|(id, _)| id.clone()).collect())
    }

    /// An incremental update of an item's name and description; a name must stay unique in its
    /// library, and a `version` in the spec is a precondition.
    pub fn item_update(&self, id: &str, spec: ItemModel) -> SimResult<()> {
        let mut state = self.state();
        let item = state.item(id)?;
        let library_id = item.model.library_id.clone();
        state.writable(library_id.as_deref().unwrap_or_default())?;
        check_version("Library item", id, spec.version.as_deref(), item.model.version.as_deref())?;
        if spec.id.as_deref().is_some_and(|other| other != id) {
            return Err(SimError::invalid_argument("The update spec names another item id."));
        }
        if spec.library_id.is_some_and(|l| Some(l) != library_id) {
            return Err(SimError::invalid_argument("An item cannot be moved to another library by an update."));
        }
        let name = checked_name(spec.name, "item")?;
        if let Some(name) = &name {
            state.item_name_free(library_id.as_deref().unwrap_or_default(), name, Some(id))?;
        }
        if name.is_none() && spec.description.is_none() {
            return Ok(());
        }
        let model = &mut state.items.get_mut(id).expect("looked up above").model;
        model.name = name.or(model.name.take());
        model.description = spec.description.or(model.description.take());
        model.metadata_version = Some(next_version(model.metadata_version.as_deref()));
        model.version = Some(next_version(model.version.as_deref()));
        model.last_modified_time = Some(Utc::now());
        state.changed(library_id.as_deref().unwrap_or_default());
        Ok(())
    }

    pub fn item_delete(&self, id: &str) -> SimResult<()> {
        let mut state = self.state();
        let library_id = state.item(id)?.model.library_id.clone().unwrap_or_default();
        state.writable(&library_id)?;
        state.items.remove(id);
        state.changed(&library_id);
        Ok(())
    }

    /// Makes `files` item `id`'s content, one new content version, without a session: a fixture
    /// (the names are not checked, so tests can seed what no upload would create).
    pub fn item_seed(&self, id: &str, files: Vec<(String, Arc<Blob>)>) -> SimResult<()> {
        let mut state = self.state();
        let item = state.item_mut(id)?;
        item.files.extend(files);
        item.content_version += 1;
        item.model.last_modified_time = Some(Utc::now());
        let library_id = item.model.library_id.clone().unwrap_or_default();
        state.changed(&library_id);
        Ok(())
    }

    pub fn item_files(&self, id: &str) -> SimResult<Vec<ItemFileInfo>> {
        let state = self.state();
        let item = state.item(id)?;
        let lie = self.faults.item_size_lie() as i64;
        let hidden = self.faults.hidden_file();
        let files = item_files(item).into_iter().filter(|f| hidden.as_deref() != Some(f.name.as_str()));
        Ok(files.map(|f| ItemFileInfo { size: f.size.map(|s| s - lie), ..f }).collect())
    }

    pub fn item_file(&self, id: &str, name: &str) -> SimResult<ItemFileInfo> {
        let state = self.state();
        let item = state.item(id)?;
        item_files(item)
            .into_iter()
            .find(|f| f.name == name)
            .ok_or_else(|| SimError::not_found(format!("Item {id} has no file {name:?}.")))
    }
}

/// An item's files: what is on disk, and of a subscribed item also what is not cached yet
/// (size 0, as vCenter shows it).
fn item_files(item: &Item) -> Vec<ItemFileInfo> {
    let on_disk = item.files.iter().map(|(name, blob)| item_file(name, blob, item.content_version));
    let uncached =
        item.source.iter().flat_map(|s| &s.files).filter(|f| !item.files.contains_key(&f.name)).map(|f| ItemFileInfo {
            name: f.name.clone(),
            size: Some(0),
            checksum_info: None,
            cached: false,
            version: item.content_version.to_string(),
            file_download_endpoint: None,
        });
    let mut files: Vec<ItemFileInfo> = on_disk.chain(uncached).collect();
    files.sort_by(|a, b| a.name.cmp(&b.name));
    files
}

impl State {
    pub(super) fn item_name_free(&self, library_id: &str, name: &str, except: Option<&str>) -> SimResult<()> {
        let taken = self.items.iter().any(|(id, i)| {
            Some(id.as_str()) != except
                && i.model.library_id.as_deref() == Some(library_id)
                && i.model.name.as_deref() == Some(name)
        });
        if taken {
            return Err(SimError::new(
                ErrorType::AlreadyExists,
                format!("An item named {name:?} already exists in library {library_id}."),
            ));
        }
        Ok(())
    }
}

/// A name an update sets must not be blank.
fn checked_name(name: Option<String>, what: &str) -> SimResult<Option<String>> {
    match name {
        Some(n) if n.trim().is_empty() => Err(SimError::invalid_argument(format!("A {what} name cannot be empty."))),
        other => Ok(other),
    }
}

/// An update that carries a version is applied only to that version.
fn check_version(what: &str, id: &str, wanted: Option<&str>, current: Option<&str>) -> SimResult<()> {
    match wanted {
        Some(w) if Some(w) != current => Err(SimError::new(
            ErrorType::ConcurrentChange,
            format!("{what} {id} changed since version {w}: it is at version {}.", current.unwrap_or("?")),
        )),
        _ => Ok(()),
    }
}

pub(super) fn next_version(current: Option<&str>) -> String {
    (current.and_then(|v| v.parse::<u64>().ok()).unwrap_or(0) + 1).to_string()
}

fn item_file(name: &str, blob: &Blob, version: u64) -> ItemFileInfo {
    ItemFileInfo {
        name: name.to_owned(),
        size: Some(blob.size as i64),
        checksum_info: Some(ChecksumInfo { algorithm: Some(ChecksumAlgorithm::Sha1), checksum: blob.sha1.clone() }),
        cached: true,
        version: version.to_string(),
        // vCenter 9's direct link to a cached file; the simulator's files go through sessions.
        file_download_endpoint: None,
    }
}

/// The library, item, item file and datastore operations.
pub(crate) static HANDLERS: &[Handler] = &[
    Handler { op: OperationId::DatastoreList, run: datastore_list },
    Handler { op: OperationId::LocalLibraryCreate, run: local_library_create },
    Handler { op: OperationId::LocalLibraryList, run: local_library_list },
    Handler { op: OperationId::LocalLibraryGet, run: local_library_get },
    Handler { op: OperationId::LocalLibraryDelete, run: local_library_delete },
    Handler { op: OperationId::LocalLibraryUpdate, run: local_library_update },
    Handler { op: OperationId::LibraryList, run: library_list },
    Handler { op: OperationId::LibraryGet, run: library_get },
    Handler { op: OperationId::LibraryFind, run: library_find },
    Handler { op: OperationId::LibraryUpdate, run: library_update },
    Handler { op: OperationId::ItemCreate, run: item_create },
    Handler { op: OperationId::ItemList, run: item_list },
    Handler { op: OperationId::ItemFind, run: item_find },
    Handler { op: OperationId::ItemGet, run: item_get },
    Handler { op: OperationId::ItemUpdate, run: item_update },
    Handler { op: OperationId::ItemDelete, run: item_delete },
    Handler { op: OperationId::ItemFileList, run: item_file_list },
    Handler { op: OperationId::ItemFileGet, run: item_file_get },
];

fn datastore_list(call: &mut Call<'_>) -> SimResult<Reply> {
    #[derive(serde::Deserialize)]
    struct Filter {
        #[serde(default)]
        names: Option<Vec<String>>,
    }
    let names = call.input.opt::<Filter>("filter")?.and_then(|f| f.names);
    Ok(Reply::of(call.service.datastore_list(names.as_deref())))
}

fn local_library_create(call: &mut Call<'_>) -> SimResult<Reply> {
    let spec = call.input.get("create_spec")?;
    let token = call.input.opt_str("client_token")?;
    Ok(Reply::of(call.service.library_create(spec, token)?))
}

fn local_library_list(call: &mut Call<'_>) -> SimResult<Reply> {
    let svc = call.service;
    let ids: Vec<String> = svc.library_list().into_iter().filter(|id| svc.library_get(id, true).is_ok()).collect();
    Ok(Reply::of(ids))
}

fn local_library_get(call: &mut Call<'_>) -> SimResult<Reply> {
    Ok(Reply::of(call.service.library_get(&call.input.str("library_id")?, true)?))
}

fn local_library_delete(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str("library_id")?;
    call.service.library_get(&id, true)?;
    call.service.library_delete(&id)?;
    Ok(Reply::Void)
}

fn local_library_update(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str("library_id")?;
    call.service.local_library_update(&id, call.input.get("update_spec")?)?;
    Ok(Reply::Void)
}

fn library_list(call: &mut Call<'_>) -> SimResult<Reply> {
    Ok(Reply::of(call.service.library_list()))
}

fn library_get(call: &mut Call<'_>) -> SimResult<Reply> {
    Ok(Reply::of(call.service.library_get(&call.input.str("library_id")?, false)?))
}

fn library_find(call: &mut Call<'_>) -> SimResult<Reply> {
    let spec: LibraryFindSpec = call.input.get("spec")?;
    Ok(Reply::of(call.service.library_find(&spec)))
}

fn library_update(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str("library_id")?;
    call.service.library_update(&id, call.input.get("update_spec")?)?;
    Ok(Reply::Void)
}

fn item_create(call: &mut Call<'_>) -> SimResult<Reply> {
    let spec = call.input.get("create_spec")?;
    let token = call.input.opt_str("client_token")?;
    Ok(Reply::of(call.service.item_create(spec, token)?))
}

fn item_list(call: &mut Call<'_>) -> SimResult<Reply> {
    Ok(Reply::of(call.service.item_list(&call.input.str("library_id")?)?))
}

fn item_find(call: &mut Call<'_>) -> SimResult<Reply> {
    let spec: ItemFindSpec = call.input.get("spec")?;
    Ok(Reply::of(call.service.item_find(&spec)?))
}

fn item_get(call: &mut Call<'_>) -> SimResult<Reply> {
    Ok(Reply::of(call.service.item_get(&call.input.str("library_item_id")?)?))
}

fn item_update(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str("library_item_id")?;
    call.service.item_update(&id, call.input.get("update_spec")?)?;
    Ok(Reply::Void)
}

fn item_delete(call: &mut Call<'_>) -> SimResult<Reply> {
    call.service.item_delete(&call.input.str("library_item_id")?)?;
    Ok(Reply::Void)
}

fn item_file_list(call: &mut Call<'_>) -> SimResult<Reply> {
    Ok(Reply::of(call.service.item_files(&call.input.str("library_item_id")?)?))
}

fn item_file_get(call: &mut Call<'_>) -> SimResult<Reply> {
    let id = call.input.str("library_item_id")?;
    Ok(Reply::of(call.service.item_file(&id, &call.input.str("name")?)?))
}
