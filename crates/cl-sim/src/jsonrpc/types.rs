//! vAPI's tagged JSON data values, and the types of the structures the transfer operations return.
//!
//! On the JSON-RPC wire a structure is `{"STRUCTURE": {"<name>": {fields}}}`, an optional value
//! `{"OPTIONAL": v | null}`, a secret `{"SECRET": "…"}`, a map a list of `map-entry` structures;
//! strings, numbers, booleans and lists are plain JSON. Decoding needs no types ([`untag`]); encoding
//! does ([`tag`]): every optional field is wrapped even when unset, and each structure carries
//! its canonical name. Names, fields and optionality are those of the vAPI metadata shipped in the
//! official SDKs (e.g. `com/vmware/content/library/item_client.py` of `vmware-vcenter`); their
//! fields and kinds are checked against the spec in `against_spec.rs`.

use serde_json::{Map, Value, json};

/// The type of a data value, as far as the wire encoding depends on it. Ids, URIs and enums are
/// strings on the wire.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Ty {
    Void,
    Str,
    Int,
    Double,
    Bool,
    /// RFC 3339 with milliseconds and `Z`, as vCenter sends it.
    DateTime,
    Secret,
    Opt(&'static Ty),
    List(&'static Ty),
    /// String keys; `/api` bodies write it as a JSON object.
    Map(&'static Ty),
    Struct(&'static Struct),
}

#[derive(Debug)]
pub(crate) struct Struct {
    pub name: &'static str,
    pub fields: &'static [(&'static str, Ty)],
}

/// A value that does not fit the type the operation declares: a simulator defect.
#[derive(Debug)]
pub(crate) struct Mismatch(pub String);

const STR: Ty = Ty::Str;
const OPT_STR: Ty = Ty::Opt(&STR);
const OPT_INT: Ty = Ty::Opt(&Ty::Int);
const OPT_BOOL: Ty = Ty::Opt(&Ty::Bool);
const OPT_DATETIME: Ty = Ty::Opt(&Ty::DateTime);
const OPT_SECRET: Ty = Ty::Opt(&Ty::Secret);
const STR_LIST: Ty = Ty::List(&STR);
/// A list of ids, what every list and find returns.
pub(crate) const IDS: Ty = STR_LIST;
const OPT_STR_LIST: Ty = Ty::Opt(&STR_LIST);
// A static, not a const: message parameters nest messages, and only statics may refer in a cycle.
static PARAMS: Ty = Ty::Map(&Ty::Struct(&LOCALIZATION_PARAM));
const OPT_MESSAGE: Ty = Ty::Opt(&Ty::Struct(&LOCALIZABLE_MESSAGE));

pub(crate) static LOCALIZABLE_MESSAGE: Struct = Struct {
    name: "com.vmware.vapi.std.localizable_message",
    fields: &[
        ("id", STR),
        ("default_message", STR),
        ("args", STR_LIST),
        ("params", Ty::Opt(&PARAMS)),
        ("localized", OPT_STR),
    ],
};

static NESTED_LOCALIZABLE_MESSAGE: Struct = Struct {
    name: "com.vmware.vapi.std.nested_localizable_message",
    fields: &[("id", STR), ("params", Ty::Opt(&PARAMS))],
};

static LOCALIZATION_PARAM: Struct = Struct {
    name: "com.vmware.vapi.std.localization_param",
    fields: &[
        ("s", OPT_STR),
        ("dt", OPT_DATETIME),
        ("i", OPT_INT),
        ("d", Ty::Opt(&Ty::Double)),
        ("l", Ty::Opt(&Ty::Struct(&NESTED_LOCALIZABLE_MESSAGE))),
        ("format", OPT_STR),
        ("precision", OPT_INT),
    ],
};

pub(crate) static PROBE_RESULT: Struct = Struct {
    name: "com.vmware.content.subscribed_library.probe_result",
    fields: &[
        ("status", STR),
        ("ssl_thumbprint", OPT_STR),
        ("ssl_certificate", OPT_STR),
        ("error_messages", Ty::List(&Ty::Struct(&LOCALIZABLE_MESSAGE))),
    ],
};

pub(crate) static SESSION_INFO: Struct = Struct {
    name: "com.vmware.cis.session.info",
    fields: &[("user", STR), ("created_time", Ty::DateTime), ("last_accessed_time", Ty::DateTime)],
};

pub(crate) static DATASTORE_SUMMARY: Struct = Struct {
    name: "com.vmware.vcenter.datastore.summary",
    fields: &[("datastore", STR), ("name", STR), ("type", STR), ("free_space", OPT_INT), ("capacity", OPT_INT)],
};

pub(crate) static LIBRARY_MODEL: Struct = Struct {
    name: "com.vmware.content.library_model",
    fields: &[
        ("id", OPT_STR),
        ("creation_time", OPT_DATETIME),
        ("description", OPT_STR),
        ("last_modified_time", OPT_DATETIME),
        ("last_sync_time", OPT_DATETIME),
        ("name", OPT_STR),
        ("storage_backings", Ty::Opt(&Ty::List(&Ty::Struct(&STORAGE_BACKING)))),
        ("type", OPT_STR),
        ("optimization_info", Ty::Opt(&Ty::Struct(&OPTIMIZATION_INFO))),
        ("version", OPT_STR),
        ("publish_info", Ty::Opt(&Ty::Struct(&PUBLISH_INFO))),
        ("subscription_info", Ty::Opt(&Ty::Struct(&SUBSCRIPTION_INFO))),
        ("server_guid", OPT_STR),
        ("security_policy_id", OPT_STR),
        ("unset_security_policy_id", OPT_BOOL),
        ("state_info", Ty::Opt(&Ty::Struct(&STATE_INFO))),
        ("configuration_info", Ty::Opt(&Ty::Struct(&CONFIGURATION_INFO))),
    ],
};

static STORAGE_BACKING: Struct = Struct {
    name: "com.vmware.content.library.storage_backing",
    fields: &[("type", OPT_STR), ("datastore_id", OPT_STR), ("storage_uri", OPT_STR)],
};

static OPTIMIZATION_INFO: Struct = Struct {
    name: "com.vmware.content.library.optimization_info",
    fields: &[("optimize_remote_publishing", OPT_BOOL)],
};

static PUBLISH_INFO: Struct = Struct {
    name: "com.vmware.content.library.publish_info",
    fields: &[
        ("authentication_method", OPT_STR),
        ("published", OPT_BOOL),
        ("publish_url", OPT_STR),
        ("user_name", OPT_STR),
        ("password", OPT_SECRET),
        ("current_password", OPT_SECRET),
        ("persist_json_enabled", OPT_BOOL),
    ],
};

static SUBSCRIPTION_INFO: Struct = Struct {
    name: "com.vmware.content.library.subscription_info",
    fields: &[
        ("authentication_method", OPT_STR),
        ("automatic_sync_enabled", OPT_BOOL),
        ("on_demand", OPT_BOOL),
        ("password", OPT_SECRET),
        ("ssl_thumbprint", OPT_STR),
        ("subscription_url", OPT_STR),
        ("user_name", OPT_STR),
        ("source_info", Ty::Opt(&Ty::Struct(&SOURCE_INFO))),
        ("ssl_certificate", OPT_STR),
    ],
};

static SOURCE_INFO: Struct = Struct {
    name: "com.vmware.content.library.source_info",
    fields: &[("source_library", OPT_STR), ("subscription", OPT_STR)],
};

static STATE_INFO: Struct =
    Struct { name: "com.vmware.content.library.state_info", fields: &[("state", OPT_STR), ("message", OPT_STR)] };

static CONFIGURATION_INFO: Struct = Struct {
    name: "com.vmware.content.library.configuration_info",
    fields: &[("apply_library_usage_to_items", OPT_BOOL)],
};

pub(crate) static ITEM_MODEL: Struct = Struct {
    name: "com.vmware.content.library.item_model",
    fields: &[
        ("id", OPT_STR),
        ("library_id", OPT_STR),
        ("content_version", OPT_STR),
        ("creation_time", OPT_DATETIME),
        ("description", OPT_STR),
        ("last_modified_time", OPT_DATETIME),
        ("last_sync_time", OPT_DATETIME),
        ("metadata_version", OPT_STR),
        ("name", OPT_STR),
        ("cached", OPT_BOOL),
        ("size", OPT_INT),
        ("type", OPT_STR),
        ("version", OPT_STR),
        ("source_id", OPT_STR),
        ("security_compliance", OPT_BOOL),
        ("certificate_verification_info", Ty::Opt(&Ty::Struct(&CERTIFICATE_VERIFICATION_INFO))),
    ],
};

static CERTIFICATE_VERIFICATION_INFO: Struct = Struct {
    name: "com.vmware.content.library.item.certificate_verification_info",
    fields: &[("status", STR), ("cert_chain", OPT_STR_LIST)],
};

pub(crate) static ITEM_FILE_INFO: Struct = Struct {
    name: "com.vmware.content.library.item.file.info",
    fields: &[
        ("checksum_info", OPT_CHECKSUM),
        ("name", STR),
        ("size", Ty::Int),
        ("cached", Ty::Bool),
        ("version", STR),
        ("file_download_endpoint", OPT_STR),
    ],
};

const OPT_CHECKSUM: Ty = Ty::Opt(&Ty::Struct(&CHECKSUM_INFO));
static CHECKSUM_INFO: Struct = Struct {
    name: "com.vmware.content.library.item.file.checksum_info",
    fields: &[("algorithm", OPT_STR), ("checksum", STR)],
};

const OPT_ENDPOINT: Ty = Ty::Opt(&Ty::Struct(&TRANSFER_ENDPOINT));
static TRANSFER_ENDPOINT: Struct = Struct {
    name: "com.vmware.content.library.item.transfer_endpoint",
    fields: &[("uri", STR), ("ssl_certificate_thumbprint", OPT_STR), ("ssl_certificate", OPT_STR)],
};

pub(crate) static DOWNLOAD_SESSION_MODEL: Struct = Struct {
    name: "com.vmware.content.library.item.download_session_model",
    fields: &[
        ("id", OPT_STR),
        ("library_item_id", OPT_STR),
        ("library_item_content_version", OPT_STR),
        ("error_message", OPT_MESSAGE),
        ("client_progress", OPT_INT),
        ("state", OPT_STR),
        ("expiration_time", OPT_DATETIME),
    ],
};

pub(crate) static UPDATE_SESSION_MODEL: Struct = Struct {
    name: "com.vmware.content.library.item.update_session_model",
    fields: &[
        ("id", OPT_STR),
        ("library_item_id", OPT_STR),
        ("library_item_content_version", OPT_STR),
        ("error_message", OPT_MESSAGE),
        ("client_progress", OPT_INT),
        ("state", OPT_STR),
        ("expiration_time", OPT_DATETIME),
        ("preview_info", Ty::Opt(&Ty::Struct(&PREVIEW_INFO))),
        ("warning_behavior", Ty::Opt(&Ty::List(&Ty::Struct(&WARNING_BEHAVIOR)))),
    ],
};

static PREVIEW_INFO: Struct = Struct {
    name: "com.vmware.content.library.item.updatesession.preview_info",
    fields: &[
        ("state", STR),
        ("certificate_info", Ty::Opt(&Ty::Struct(&CERTIFICATE_INFO))),
        ("warnings", Ty::Opt(&Ty::List(&Ty::Struct(&PREVIEW_WARNING_INFO)))),
        ("cert_chain", OPT_STR_LIST),
    ],
};

static CERTIFICATE_INFO: Struct = Struct {
    name: "com.vmware.content.library.item.updatesession.certificate_info",
    fields: &[("issuer", STR), ("subject", STR), ("self_signed", Ty::Bool), ("x509", STR)],
};

static PREVIEW_WARNING_INFO: Struct = Struct {
    name: "com.vmware.content.library.item.updatesession.preview_warning_info",
    fields: &[("type", STR), ("message", Ty::Struct(&LOCALIZABLE_MESSAGE)), ("ignored", Ty::Bool)],
};

static WARNING_BEHAVIOR: Struct = Struct {
    name: "com.vmware.content.library.item.updatesession.warning_behavior",
    fields: &[("type", STR), ("ignored", Ty::Bool)],
};

pub(crate) static DOWNLOAD_FILE_INFO: Struct = Struct {
    name: "com.vmware.content.library.item.downloadsession.file.info",
    fields: &[
        ("name", STR),
        ("size", OPT_INT),
        ("bytes_transferred", Ty::Int),
        ("status", STR),
        ("download_endpoint", OPT_ENDPOINT),
        ("checksum_info", OPT_CHECKSUM),
        ("error_message", OPT_MESSAGE),
    ],
};

pub(crate) static UPDATE_FILE_INFO: Struct = Struct {
    name: "com.vmware.content.library.item.updatesession.file.info",
    fields: &[
        ("name", STR),
        ("source_type", STR),
        ("size", OPT_INT),
        ("checksum_info", OPT_CHECKSUM),
        ("source_endpoint", OPT_ENDPOINT),
        ("upload_endpoint", OPT_ENDPOINT),
        ("bytes_transferred", Ty::Int),
        ("status", STR),
        ("error_message", OPT_MESSAGE),
        ("keep_in_storage", OPT_BOOL),
    ],
};

pub(crate) static VALIDATION_RESULT: Struct = Struct {
    name: "com.vmware.content.library.item.updatesession.file.validation_result",
    fields: &[
        ("has_errors", Ty::Bool),
        // A set on the wire is a list.
        ("missing_files", STR_LIST),
        ("invalid_files", Ty::List(&Ty::Struct(&VALIDATION_ERROR))),
    ],
};

static VALIDATION_ERROR: Struct = Struct {
    name: "com.vmware.content.library.item.updatesession.file.validation_error",
    fields: &[("name", STR), ("error_message", Ty::Struct(&LOCALIZABLE_MESSAGE))],
};

/// The fields every standard error has; its name is the error's own (`com.vmware.vapi.std.errors.*`).
/// `data` is a dynamic structure the simulator never sets. (`unauthenticated` and `unauthorized`
/// add an optional `challenge`.)
pub(crate) static STD_ERROR: Struct = Struct {
    name: "com.vmware.vapi.std.errors.error",
    fields: &[
        ("messages", Ty::List(&Ty::Struct(&LOCALIZABLE_MESSAGE))),
        ("data", Ty::Opt(&Ty::Void)),
        ("error_type", OPT_STR),
    ],
};

/// Encodes a plain (`/api`-shaped) JSON value as a tagged data value of type `ty`.
pub(crate) fn tag(value: &Value, ty: Ty) -> Result<Value, Mismatch> {
    // Names the JSON type only: the value may be a secret.
    let found = match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    };
    let mismatch = |what: &str| Mismatch(format!("expected {what}, found {found}"));
    Ok(match ty {
        Ty::Void => Value::Null,
        Ty::Opt(inner) => json!({ "OPTIONAL": if value.is_null() { Value::Null } else { tag(value, *inner)? } }),
        Ty::Str => value.as_str().map(Value::from).ok_or_else(|| mismatch("a string"))?,
        Ty::Int => value.as_i64().map(Value::from).ok_or_else(|| mismatch("an integer"))?,
        Ty::Double => value.as_f64().map(Value::from).ok_or_else(|| mismatch("a number"))?,
        Ty::Bool => value.as_bool().map(Value::from).ok_or_else(|| mismatch("a boolean"))?,
        Ty::Secret => json!({ "SECRET": value.as_str().ok_or_else(|| mismatch("a string"))? }),
        Ty::DateTime => {
            let text = value.as_str().ok_or_else(|| mismatch("a date-time"))?;
            let time = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| mismatch("an RFC 3339 date-time"))?;
            Value::from(time.to_utc().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        }
        Ty::List(inner) => {
            let items = value.as_array().ok_or_else(|| mismatch("a list"))?;
            Value::Array(items.iter().map(|item| tag(item, *inner)).collect::<Result<_, _>>()?)
        }
        Ty::Map(inner) => {
            let entries = value.as_object().ok_or_else(|| mismatch("a map"))?;
            let mut list = Vec::with_capacity(entries.len());
            for (key, item) in entries {
                list.push(json!({ "STRUCTURE": { "map-entry": { "key": key, "value": tag(item, *inner)? } } }));
            }
            Value::Array(list)
        }
        Ty::Struct(def) => {
            let fields = value.as_object().ok_or_else(|| mismatch(def.name))?;
            json!({ "STRUCTURE": { def.name: tag_fields(def, fields)? } })
        }
    })
}

/// The fields of a structure, every declared one present (an unset optional as `{"OPTIONAL": null}`).
pub(crate) fn tag_fields(def: &Struct, fields: &Map<String, Value>) -> Result<Value, Mismatch> {
    let mut out = Map::with_capacity(def.fields.len());
    for (name, ty) in def.fields {
        let value = fields.get(*name).unwrap_or(&Value::Null);
        if value.is_null() && !matches!(ty, Ty::Opt(_)) {
            return Err(Mismatch(format!("{}.{name} is required but unset", def.name)));
        }
        out.insert((*name).to_owned(), tag(value, *ty)?);
    }
    Ok(Value::Object(out))
}

/// Decodes a tagged data value into plain JSON: structures become objects (unset optional fields
/// left out), optionals and secrets their content, lists of `map-entry` structures objects.
/// `Err` names what is malformed.
pub(crate) fn untag(value: Value) -> Result<Value, String> {
    match value {
        Value::Object(object) => {
            if object.len() != 1 {
                return Err(format!("a tagged value has exactly one key, found {}", object.len()));
            }
            let (tag, inner) = object.into_iter().next().expect("one entry");
            match tag.as_str() {
                "OPTIONAL" => untag(inner),
                "SECRET" | "BINARY" if inner.is_string() => Ok(inner),
                "STRUCTURE" | "ERROR" => {
                    let named = match inner {
                        Value::Object(named) if named.len() == 1 => named,
                        _ => return Err(format!("{tag} holds one named object")),
                    };
                    let Some((_, Value::Object(fields))) = named.into_iter().next() else {
                        return Err(format!("{tag} holds one named object"));
                    };
                    let mut out = Map::with_capacity(fields.len());
                    for (name, field) in fields {
                        let field = untag(field)?;
                        if !field.is_null() {
                            out.insert(name, field);
                        }
                    }
                    Ok(Value::Object(out))
                }
                other => Err(format!("unknown value tag {other:?}")),
            }
        }
        Value::Array(items) => {
            let entries = !items.is_empty() && items.iter().all(is_map_entry);
            let items: Vec<Value> = items.into_iter().map(untag).collect::<Result<_, _>>()?;
            if !entries {
                return Ok(Value::Array(items));
            }
            let mut map = Map::with_capacity(items.len());
            for mut entry in items {
                let key = match entry.get_mut("key").map(Value::take) {
                    Some(Value::String(key)) => key,
                    _ => return Err("a map-entry needs a string key".into()),
                };
                map.insert(key, entry.get_mut("value").map(Value::take).unwrap_or(Value::Null));
            }
            Ok(Value::Object(map))
        }
        plain => Ok(plain),
    }
}

fn is_map_entry(value: &Value) -> bool {
    value.get("STRUCTURE").and_then(|s| s.get("map-entry")).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn optional_fields_are_always_present_and_wrapped() {
        let tagged = tag(&json!({"uri": "https://h/x"}), Ty::Struct(&TRANSFER_ENDPOINT)).unwrap();
        assert_eq!(
            tagged,
            json!({"STRUCTURE": {"com.vmware.content.library.item.transfer_endpoint": {
                "uri": "https://h/x",
                "ssl_certificate_thumbprint": {"OPTIONAL": null},
                "ssl_certificate": {"OPTIONAL": null}
            }}})
        );
    }

    #[test]
    fn a_missing_required_field_is_a_mismatch_not_a_guess() {
        let err = tag(&json!({"name": "a"}), Ty::Struct(&DOWNLOAD_FILE_INFO)).unwrap_err();
        assert!(err.0.contains("bytes_transferred"), "{}", err.0);
        assert!(tag(&json!("x"), Ty::Int).is_err());
    }

    #[test]
    fn datetimes_go_out_in_milliseconds_utc() {
        let v = tag(&json!("2026-11-23T16:00:01.123456789+01:00"), Ty::DateTime).unwrap();
        assert_eq!(v, json!("2026-11-23T15:00:01.123Z"));
    }

    #[test]
    fn maps_round_trip_through_map_entries() {
        let ty = Ty::Map(&Ty::Str);
        let tagged = tag(&json!({"k": "v"}), ty).unwrap();
        assert_eq!(tagged, json!([{"STRUCTURE": {"map-entry": {"key": "k", "value": "v"}}}]));
        assert_eq!(untag(tagged).unwrap(), json!({"k": "v"}));
    }

    #[test]
    fn untag_drops_unset_optionals_and_unwraps_secrets() {
        let input = json!({"STRUCTURE": {"operation-input": {
            "client_token": {"OPTIONAL": null},
            "secret": {"SECRET": "s"},
            "spec": {"STRUCTURE": {"x": {"a": {"OPTIONAL": 1}, "b": [1, 2]}}}
        }}});
        assert_eq!(untag(input).unwrap(), json!({"secret": "s", "spec": {"a": 1, "b": [1, 2]}}));
    }

    #[test]
    fn malformed_tags_are_errors() {
        for bad in [
            json!({"OPTIONAL": 1, "SECRET": "x"}),
            json!({"NOPE": 1}),
            json!({"STRUCTURE": 1}),
            json!({"STRUCTURE": {"a": {}, "b": {}}}),
            json!({"SECRET": 5}),
            json!([{"STRUCTURE": {"map-entry": {"key": 1, "value": 2}}}]),
        ] {
            assert!(untag(bad.clone()).is_err(), "{bad}");
        }
    }
}
