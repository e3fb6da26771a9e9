//! Libraries and items as users name them: by name, by id, or by govc-style path
//! (`/library/item` or `library/item`). An ambiguous name lists the candidates with their ids.

use cl_sdk::{Client, DatastoreId, ErrorKind, ItemId, LibraryId};

use crate::output::{Failure, clean, usage};

/// The id of the library `spec` names (an id or a name).
pub async fn library(client: &Client, spec: &str) -> Result<LibraryId, Failure> {
    let spec = spec.trim_matches('/');
    if spec.is_empty() {
        return Err(usage("give a library name or id"));
    }
    if client.library_ids().await?.iter().any(|id| id.as_str() == spec) {
        return Ok(LibraryId::new(spec));
    }
    let ids = client.find_libraries(spec).await?;
    match ids.as_slice() {
        [id] => Ok(id.clone()),
        [] => Err(usage(format!("there is no library {:?} (by name or id); `clx library ls` lists them", clean(spec)))),
        _ => {
            let mut candidates = Vec::new();
            for id in &ids {
                let name = client.library(id).await.ok().and_then(|l| l.name).unwrap_or_default();
                candidates.push(format!("{} ({id})", clean(&name)));
            }
            Err(usage(format!(
                "{} libraries are named {:?}: {}; give the id",
                ids.len(),
                clean(spec),
                candidates.join(", ")
            )))
        }
    }
}

/// The id and name of the item `spec` names: `LIBRARY/ITEM` (either part a name or an id,
/// a leading `/` allowed) or an item id.
pub async fn item(client: &Client, spec: &str) -> Result<(ItemId, String), Failure> {
    let trimmed = spec.trim_start_matches('/');
    let Some((library_spec, item_spec)) = trimmed.split_once('/') else {
        let id: ItemId =
            trimmed.parse().map_err(|e: cl_sdk::Error| usage(format!("{e}; give LIBRARY/ITEM or an item id")))?;
        return match client.item(&id).await {
            Ok(model) => Ok((id, model.name.unwrap_or_default())),
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::InvalidArgument) => Err(usage(format!(
                "{:?} is not an item id; give LIBRARY/ITEM (names or ids) or an item id",
                clean(spec)
            ))),
            Err(e) => Err(e.into()),
        };
    };
    if item_spec.is_empty() || item_spec.contains('/') {
        return Err(usage(format!("{:?}: give LIBRARY/ITEM", clean(spec))));
    }
    let library_id = library(client, library_spec).await?;
    match item_in(client, &library_id, item_spec).await? {
        Some(id) if id.as_str() == item_spec => {
            let name = client.item(&id).await?.name.unwrap_or_default();
            Ok((id, name))
        }
        Some(id) => Ok((id, item_spec.to_owned())),
        None => Err(usage(format!(
            "library {:?} has no item {:?}; `clx item ls {}` lists them",
            clean(library_spec),
            clean(item_spec),
            clean(library_spec)
        ))),
    }
}

/// The id of the item `spec` names (an id or a name) in a library; `None` when there is none.
/// A name several items share lists them with their ids.
pub async fn item_in(client: &Client, library_id: &LibraryId, spec: &str) -> Result<Option<ItemId>, Failure> {
    if client.item_ids(library_id).await?.iter().any(|id| id.as_str() == spec) {
        return Ok(Some(ItemId::new(spec)));
    }
    let ids = client.find_items(library_id, spec).await?;
    if ids.len() > 1 {
        let listed: Vec<String> = ids.iter().map(ToString::to_string).collect();
        return Err(usage(format!(
            "{} items are named {:?}: {}; give the id",
            ids.len(),
            clean(spec),
            listed.join(", ")
        )));
    }
    Ok(ids.into_iter().next())
}

/// The id of the datastore `spec` names (a name or an id), or the only datastore when none is
/// named. A server without the datastore listing (govmomi's vcsim) takes `spec` as an id.
pub async fn datastore(client: &Client, spec: Option<&str>) -> Result<DatastoreId, Failure> {
    datastore_id(client, spec).await.map(DatastoreId::new)
}

async fn datastore_id(client: &Client, spec: Option<&str>) -> Result<String, Failure> {
    let all = match client.datastores(None).await {
        Ok(all) => all,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::OperationNotFound) => {
            return spec
                .map(str::to_owned)
                .ok_or_else(|| usage("this server cannot list datastores: give --datastore with the datastore's id"));
        }
        Err(e) => return Err(e.into()),
    };
    let listing = || {
        let names: Vec<String> = all.iter().map(|d| format!("{} ({})", clean(&d.name), clean(&d.datastore))).collect();
        names.join(", ")
    };
    match spec {
        Some(spec) => {
            if let Some(d) = all.iter().find(|d| d.datastore == spec) {
                return Ok(d.datastore.clone());
            }
            let named: Vec<_> = all.iter().filter(|d| d.name == spec).collect();
            match named.as_slice() {
                [one] => Ok(one.datastore.clone()),
                [] => Err(usage(format!("there is no datastore {:?}; the datastores are: {}", clean(spec), listing()))),
                _ => Err(usage(format!("several datastores are named {:?}: {}; give the id", clean(spec), listing()))),
            }
        }
        None => match all.as_slice() {
            [one] => Ok(one.datastore.clone()),
            [] => Err(usage("the server lists no datastore to keep a library on")),
            _ => Err(usage(format!("give --datastore: one of {}", listing()))),
        },
    }
}
