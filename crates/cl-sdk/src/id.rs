//! Typed identifiers: a library's id, an item's and a session's are all strings on the wire, and
//! nothing else tells them apart. Here each has its own type: a library's items are listed by a
//! [`LibraryId`],
//!
//! ```no_run
//! # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
//! let items = client.items(&library).await?;
//! # Ok(()) }
//! ```
//!
//! and passing an item's id there does not compile (E0308, mismatched types):
//!
//! ```compile_fail,E0308
//! # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
//! let items = client.items(&item).await?;
//! # Ok(()) }
//! ```
//!
//! Ids are cheap to clone (one shared string), print and parse as the bare id, and serialize as
//! a JSON string.
//!
//! ```
//! use cl_sdk::{ItemId, LibraryId};
//!
//! let library: LibraryId = "5b2ff4f5-3c2e-4b38-8e8c-4b2a1d0e9f10".parse()?;
//! let item = ItemId::new("a3b7c1d2-0000-4000-8000-000000000001");
//! assert_eq!(library.to_string(), "5b2ff4f5-3c2e-4b38-8e8c-4b2a1d0e9f10");
//! assert_eq!(serde_json::to_string(&item).unwrap(), "\"a3b7c1d2-0000-4000-8000-000000000001\"");
//! # Ok::<(), cl_sdk::Error>(())
//! ```

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

use crate::error::{Error, ErrorKind};

/// The id of a thing of kind `T` (a [`LibraryId`], an [`ItemId`], a [`SessionId`]…).
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::{ItemId, LibraryId};
/// let library: LibraryId = "lib-1".parse()?;
/// let again = library.clone(); // cheap: one shared string
/// assert_eq!(library, again);
/// let _: ItemId = serde_json::from_str("\"item-1\"").unwrap();
/// # Ok(()) }
/// ```
pub struct Id<T> {
    value: Arc<str>,
    kind: PhantomData<fn() -> T>,
}

/// What a [`LibraryId`] names.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// let library: cl_sdk::Id<cl_sdk::id::Library> = cl_sdk::LibraryId::new("lib-1");
/// # let _ = library;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub enum Library {}
/// What an [`ItemId`] names.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// let item: cl_sdk::Id<cl_sdk::id::Item> = cl_sdk::ItemId::new("item-1");
/// # let _ = item;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub enum Item {}
/// What a [`DatastoreId`] names.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// let datastore: cl_sdk::Id<cl_sdk::id::Datastore> = cl_sdk::DatastoreId::new("datastore-12");
/// # let _ = datastore;
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub enum Datastore {}

/// A library's id (local or subscribed).
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// let templates: cl_sdk::LibraryId = client.find_library("templates").await?;
/// # let _ = templates;
/// # Ok(()) }
/// ```
pub type LibraryId = Id<Library>;
/// A library item's id.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, library: cl_sdk::LibraryId) -> cl_sdk::Result<()> {
/// let photon: cl_sdk::ItemId = client.find_item(&library, "photon-5").await?;
/// # let _ = photon;
/// # Ok(()) }
/// ```
pub type ItemId = Id<Item>;
/// A datastore's id (`datastore-12`).
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// let datastore: cl_sdk::DatastoreId = "datastore-12".parse()?;
/// client.create_local_library("images", &datastore).await?;
/// # Ok(()) }
/// ```
pub type DatastoreId = Id<Datastore>;
/// A transfer session's id, of either kind ([`Download`](crate::Download) or
/// [`Update`](crate::Update)).
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// let session = client.create_session::<cl_sdk::Update>(&item).await?;
/// let id: cl_sdk::SessionId<cl_sdk::Update> = session.id().clone();
/// # let _ = id;
/// # Ok(()) }
/// ```
pub type SessionId<K> = Id<K>;
/// A download session's id.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// let session = client.create_session::<cl_sdk::Download>(&item).await?;
/// let id: cl_sdk::DownloadSessionId = session.id().clone();
/// # let _ = id;
/// # Ok(()) }
/// ```
pub type DownloadSessionId = Id<crate::Download>;
/// An update session's id.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// let session = client.create_session::<cl_sdk::Update>(&item).await?;
/// let id: cl_sdk::UpdateSessionId = session.id().clone();
/// # let _ = id;
/// # Ok(()) }
/// ```
pub type UpdateSessionId = Id<crate::Update>;

impl<T> Id<T> {
    /// An id as the server gave it, unchecked; [`str::parse`] refuses an empty or unprintable one.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::ItemId;
    /// let item = ItemId::new("a3b7c1d2-0000-4000-8000-000000000001");
    /// println!("{item}");
    /// # Ok(()) }
    /// ```
    pub fn new(id: impl Into<String>) -> Self {
        Self { value: Arc::from(id.into()), kind: PhantomData }
    }

    /// The id as the server knows it.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::LibraryId;
    /// let library = LibraryId::new("lib-1");
    /// assert_eq!(library.as_str(), "lib-1");
    /// # Ok(()) }
    /// ```
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl<T> Id<T> {
    /// An id the server answered with, checked as a user's would be: it goes into request
    /// paths, where `..` would name another resource.
    pub(crate) fn from_server(id: String) -> crate::Result<Self> {
        match fault(&id) {
            Some(why) => {
                Err(Error::new(ErrorKind::Decode, format!("the server answered with {:?} as an id: {why}", clip(&id))))
            }
            None => Ok(Self::new(id)),
        }
    }

    /// Several, as a listing gives them.
    pub(crate) fn all_from_server(ids: Vec<String>) -> crate::Result<Vec<Self>> {
        ids.into_iter().map(Self::from_server).collect()
    }
}

/// Why `s` cannot be an id. `.` and `..` are refused because a URL parser resolves them as a
/// path segment (percent-encoded too), so `item/..` would address the item collection.
fn fault(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        Some("it is empty")
    } else if s.len() > 1024 {
        Some("it is longer than 1024 bytes")
    } else if s.chars().any(char::is_control) {
        Some("it holds control characters")
    } else if matches!(s, "." | "..") {
        Some("a path segment of its own")
    } else {
        None
    }
}

/// The start of a text for an error message.
fn clip(s: &str) -> String {
    s.chars().take(64).collect()
}

impl<T> Clone for Id<T> {
    fn clone(&self) -> Self {
        Self { value: Arc::clone(&self.value), kind: PhantomData }
    }
}

impl<T> PartialEq for Id<T> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<T> Eq for Id<T> {}

impl<T> std::hash::Hash for Id<T> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl<T> PartialOrd for Id<T> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<T> Ord for Id<T> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

impl<T> fmt::Display for Id<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl<T> fmt::Debug for Id<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = std::any::type_name::<T>().rsplit("::").next().unwrap_or("Id");
        write!(f, "{kind}Id({:?})", &*self.value)
    }
}

impl<T> std::str::FromStr for Id<T> {
    type Err = Error;

    /// Any printable, non-empty text that is not `.` or `..`: the server decides what exists.
    fn from_str(s: &str) -> Result<Self, Error> {
        match fault(s) {
            Some(why) => Err(Error::new(ErrorKind::InvalidInput, format!("{:?} is not an id: {why}", clip(s)))),
            None => Ok(Self::new(s)),
        }
    }
}

impl<T> AsRef<str> for Id<T> {
    fn as_ref(&self) -> &str {
        &self.value
    }
}

impl<T> serde::Serialize for Id<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.value)
    }
}

impl<'de, T> serde::Deserialize<'de> for Id<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer)?.parse().map_err(serde::de::Error::custom)
    }
}

/// What kind of content an item holds. Open: a type this crate does not name is kept as
/// [`Other`](Self::Other), as the server spells it.
///
/// ```
/// use cl_sdk::ItemType;
/// assert_eq!("ovf".parse::<ItemType>().unwrap(), ItemType::Ovf);
/// assert_eq!(ItemType::Other("vm-template".into()).to_string(), "vm-template");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ItemType {
    /// An OVF template (`ovf`): a descriptor and the files it references.
    Ovf,
    /// An ISO image (`iso`).
    Iso,
    /// Any files (`file`, and what vCenter shows for an item without a type).
    File,
    /// A VM template of a vSphere library (`vm-template`), not transferable as files.
    VmTemplate,
    /// Any other type, as the server gives it.
    Other(String),
}

impl ItemType {
    /// The type as the API spells it.
    ///
    /// ```
    /// use cl_sdk::ItemType;
    /// assert_eq!(ItemType::Iso.as_str(), "iso");
    /// ```
    pub fn as_str(&self) -> &str {
        match self {
            Self::Ovf => "ovf",
            Self::Iso => "iso",
            Self::File => "file",
            Self::VmTemplate => "vm-template",
            Self::Other(other) => other,
        }
    }

    /// The type the API gives (`None` or empty: [`File`](Self::File)).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::ItemType;
    /// assert_eq!(ItemType::from_api(None), ItemType::File);
    /// assert_eq!(ItemType::from_api(Some("OVF")), ItemType::Ovf);
    /// # Ok(()) }
    /// ```
    pub fn from_api(value: Option<&str>) -> Self {
        match value.unwrap_or_default().to_ascii_lowercase().as_str() {
            "ovf" => Self::Ovf,
            "iso" => Self::Iso,
            "" | "file" => Self::File,
            "vm-template" => Self::VmTemplate,
            _ => Self::Other(value.unwrap_or_default().to_owned()),
        }
    }
}

impl fmt::Display for ItemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for ItemType {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self::from_api(Some(s)))
    }
}

impl serde::Serialize for ItemType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_parse_print_and_serialize_as_the_bare_id() {
        let item: ItemId = "a-1".parse().unwrap();
        assert_eq!((item.to_string(), item.as_str()), ("a-1".to_owned(), "a-1"));
        assert_eq!(format!("{item:?}"), "ItemId(\"a-1\")");
        assert_eq!(format!("{:?}", LibraryId::new("l")), "LibraryId(\"l\")");
        assert_eq!(serde_json::to_string(&item).unwrap(), "\"a-1\"");
        assert_eq!(serde_json::from_str::<ItemId>("\"a-1\"").unwrap(), item);
        for bad in ["", "a\nb", "\u{1b}[2J", ".", ".."] {
            let error = bad.parse::<LibraryId>().unwrap_err();
            assert_eq!(error.kind(), ErrorKind::InvalidInput, "{bad:?}");
        }
        assert!("x".repeat(1025).parse::<ItemId>().is_err());
        for fine in ["...", ".a", "a..", "%2e%2e", "urn:vapi:com.vmware.content.Library:1"] {
            assert_eq!(fine.parse::<ItemId>().unwrap().as_str(), fine);
        }
        let error = ItemId::from_server("..".into()).unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Decode);
        assert!(error.to_string().contains("\"..\""), "{error}");
    }

    #[test]
    fn item_types_keep_what_they_do_not_know() {
        assert_eq!(ItemType::from_api(Some("ISO")), ItemType::Iso);
        assert_eq!(ItemType::from_api(Some("")), ItemType::File);
        let other = ItemType::from_api(Some("Vm-Template-X"));
        assert_eq!(other, ItemType::Other("Vm-Template-X".into()));
        assert_eq!(other.to_string(), "Vm-Template-X");
        assert_eq!(serde_json::to_string(&ItemType::Ovf).unwrap(), "\"ovf\"");
    }
}
