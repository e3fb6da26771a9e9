//! VCSP, the protocol a vCenter subscribed library reads: a `lib.json` descriptor, an
//! `items.json` index, an `item.json` per item (the same object as its index entry) and the
//! files, all over plain HTTP(S) GETs. Field names and rules follow the project's VCSP digest
//! (§4–§8: documents, file entries, versions).
//!
//! ```
//! let lib: cl_vcsp::Lib = serde_json::from_str(r#"{"vcspVersion":"2","version":"3","id":"urn:uuid:aa465152-4ed2-44f5-8fb0-4fac5e03016a",
//!     "name":"lab","itemsHref":"items.json"}"#).unwrap();
//! assert_eq!(lib.version_number(), Some(3));
//! assert_eq!(cl_vcsp::href(&["photon 5", "disk.vmdk"]), "photon%205/disk.vmdk");
//! ```

use serde::{Deserialize, Serialize};

/// The protocol version every feed written here declares.
pub const VCSP_VERSION: &str = "2";

/// `lib.json`: the library descriptor a subscription URL points at.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Lib {
    /// `"2"` (vCenter feeds) or `"1"` (Cloud Director).
    pub vcsp_version: String,
    /// The library's change counter, a decimal integer.
    pub version: String,
    /// Written as `"1"` and never changed by any known publisher.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_version: Option<String>,
    /// `urn:uuid:<uuid>`, kept for the library's life.
    pub id: String,
    /// The display name.
    pub name: String,
    /// When the library was first published (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// `{"transferIn": ["httpGet"], "transferOut": ["httpGet"]}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capabilities: Option<serde_json::Value>,
    /// The index, relative to `lib.json`.
    pub items_href: String,
}

impl Lib {
    /// The library version as a number, when it is a decimal integer.
    pub fn version_number(&self) -> Option<u64> {
        number(&self.version)
    }

    /// The capabilities every v2 writer declares.
    pub fn http_get_capabilities() -> serde_json::Value {
        serde_json::json!({"transferIn": ["httpGet"], "transferOut": ["httpGet"]})
    }
}

/// `items.json`: every item of the library.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Items {
    /// The items, each identical to its `item.json`.
    pub items: Vec<Item>,
}

/// One item, as in `items.json` and its `item.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    /// `urn:uuid:<uuid>`, kept for the item's life (a new id is a delete and an add).
    pub id: String,
    /// The display name, unique in the library.
    pub name: String,
    /// `vcsp.ovf`, `vcsp.iso` or `vcsp.other`.
    #[serde(rename = "type")]
    pub type_: String,
    /// The item's change counter, a decimal integer.
    pub version: String,
    /// Raised with every change of the item's files.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_version: Option<String>,
    /// When the item was first published (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The description (`""` when none).
    #[serde(default)]
    pub description: String,
    /// The files.
    pub files: Vec<File>,
    /// Always `{}` in v2 feeds.
    #[serde(default)]
    pub properties: serde_json::Value,
    /// Where this item's `item.json` is, relative to `lib.json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub self_href: Option<String>,
    /// Metadata entries (`type-metadata` for OVF items), kept as they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
}

/// One file of an item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct File {
    /// The name, as the OVF descriptor references it.
    pub name: String,
    /// Bytes; must equal what is served.
    pub size: u64,
    /// A decimal integer (vCenter parses it as a number), the same for every file of an item
    /// and raised when any of them changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    /// Raised whenever the file's bytes change.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_num: Option<i64>,
    /// Exactly one reference, relative to `lib.json`, each segment percent-encoded.
    pub hrefs: Vec<String>,
}

/// The library item type vCenter shows for a `vcsp.*` type.
pub fn item_type(vcsp: &str) -> &'static str {
    match vcsp {
        "vcsp.ovf" => "ovf",
        "vcsp.iso" => "iso",
        _ => "file",
    }
}

/// The `vcsp.*` type of a library item type.
pub fn vcsp_type(item_type: Option<&str>) -> &'static str {
    match item_type {
        Some("ovf") => "vcsp.ovf",
        Some("iso") => "vcsp.iso",
        _ => "vcsp.other",
    }
}

/// A reference from path segments, each percent-encoded (spaces and reserved characters break
/// subscribers).
pub fn href(segments: &[&str]) -> String {
    const SEGMENT: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');
    let encoded: Vec<String> =
        segments.iter().map(|s| percent_encoding::utf8_percent_encode(s, SEGMENT).to_string()).collect();
    encoded.join("/")
}

/// A version, etag or counter as a number, when it is a decimal integer (no sign, no spaces).
pub fn number(text: &str) -> Option<u64> {
    (!text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())).then(|| text.parse().ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_round_trip_as_feeds_write_them() {
        let entry = r#"{"created":"2024-08-01T14:31Z","description":"","version":"3","contentVersion":"3",
            "files":[{"name":"photon.ovf","size":38532,"etag":"3","generationNum":1733953423,"hrefs":["photon-5.0/photon.ovf"]}],
            "id":"urn:uuid:3bd50385-c323-429b-b96e-f2333db7d1fe","name":"photon-5.0","properties":{},
            "selfHref":"photon-5.0/item.json","type":"vcsp.ovf"}"#;
        let item: Item = serde_json::from_str(entry).unwrap();
        assert_eq!((item.type_.as_str(), item.files[0].size), ("vcsp.ovf", 38532));
        let again: Item = serde_json::from_str(&serde_json::to_string(&item).unwrap()).unwrap();
        assert_eq!(again, item);
        assert_eq!(item_type(&item.type_), "ovf");
    }

    #[test]
    fn numbers_are_plain_decimals() {
        assert_eq!(number("42"), Some(42));
        for bad in ["", "-1", "+1", " 1", "9d38a60e", "1.0", "99999999999999999999999"] {
            assert_eq!(number(bad), None, "{bad:?}");
        }
        assert_eq!(href(&["a b", "c/d?#"]), "a%20b/c%2Fd%3F%23");
    }
}
