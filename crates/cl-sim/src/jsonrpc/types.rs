//! vAPI's tagged JSON data values.
//!
//! On the JSON-RPC wire a structure is `{"STRUCTURE": {"<name>": {fields}}}`, an optional value
//! `{"OPTIONAL": v | null}`, a secret `{"SECRET": "…"}`, a map a list of `map-entry` structures;
//! strings, numbers, booleans and lists are plain JSON. Decoding needs no types ([`untag`]); encoding
//! does ([`tag`]): every optional field is wrapped even when unset, and each structure carries
//! its canonical name. The types are the operation table's ([`Shape`], generated from the spec
//! with the structures' vAPI names and optionality).

use cl_api::operation::{Shape, Structure};
use serde_json::{Map, Value, json};

/// A value that does not fit the type the operation declares: a simulator defect.
#[derive(Debug)]
pub(crate) struct Mismatch(pub String);

/// Encodes a plain (`/api`-shaped) JSON value as a tagged data value of type `ty`.
pub(crate) fn tag(value: &Value, ty: Shape) -> Result<Value, Mismatch> {
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
        Shape::Void => Value::Null,
        Shape::Opt(inner) => json!({ "OPTIONAL": if value.is_null() { Value::Null } else { tag(value, *inner)? } }),
        Shape::Str => value.as_str().map(Value::from).ok_or_else(|| mismatch("a string"))?,
        Shape::Int => value.as_i64().map(Value::from).ok_or_else(|| mismatch("an integer"))?,
        Shape::Double => value.as_f64().map(Value::from).ok_or_else(|| mismatch("a number"))?,
        Shape::Bool => value.as_bool().map(Value::from).ok_or_else(|| mismatch("a boolean"))?,
        Shape::Secret => json!({ "SECRET": value.as_str().ok_or_else(|| mismatch("a string"))? }),
        Shape::DateTime => {
            let text = value.as_str().ok_or_else(|| mismatch("a date-time"))?;
            let time = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| mismatch("an RFC 3339 date-time"))?;
            Value::from(time.to_utc().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        }
        Shape::List(inner) => {
            let items = value.as_array().ok_or_else(|| mismatch("a list"))?;
            Value::Array(items.iter().map(|item| tag(item, *inner)).collect::<Result<_, _>>()?)
        }
        Shape::Map(inner) => {
            let entries = value.as_object().ok_or_else(|| mismatch("a map"))?;
            let mut list = Vec::with_capacity(entries.len());
            for (key, item) in entries {
                list.push(json!({ "STRUCTURE": { "map-entry": { "key": key, "value": tag(item, *inner)? } } }));
            }
            Value::Array(list)
        }
        Shape::Struct(def) => {
            let fields = value.as_object().ok_or_else(|| mismatch(def.name))?;
            json!({ "STRUCTURE": { def.name: tag_fields(def, fields)? } })
        }
    })
}

/// The fields of a structure, every declared one present (an unset optional as `{"OPTIONAL": null}`).
pub(crate) fn tag_fields(def: &Structure, fields: &Map<String, Value>) -> Result<Value, Mismatch> {
    let mut out = Map::with_capacity(def.fields.len());
    for field in def.fields {
        let value = fields.get(field.name).unwrap_or(&Value::Null);
        if value.is_null() && !matches!(field.shape, Shape::Opt(_)) {
            return Err(Mismatch(format!("{}.{} is required but unset", def.name, field.name)));
        }
        out.insert(field.name.to_owned(), tag(value, field.shape)?);
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
    use cl_api::operation::structures::{DOWNLOAD_FILE_INFO, TRANSFER_ENDPOINT};

    #[test]
    fn optional_fields_are_always_present_and_wrapped() {
        let tagged = tag(&json!({"uri": "https://h/x"}), Shape::Struct(&TRANSFER_ENDPOINT)).unwrap();
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
        let err = tag(&json!({"name": "a"}), Shape::Struct(&DOWNLOAD_FILE_INFO)).unwrap_err();
        assert!(err.0.contains("bytes_transferred"), "{}", err.0);
        assert!(tag(&json!("x"), Shape::Int).is_err());
    }

    #[test]
    fn datetimes_go_out_in_milliseconds_utc() {
        let v = tag(&json!("2026-11-23T16:00:01.123456789+01:00"), Shape::DateTime).unwrap();
        assert_eq!(v, json!("2026-11-23T15:00:01.123Z"));
    }

    #[test]
    fn maps_round_trip_through_map_entries() {
        let ty = Shape::Map(&Shape::Str);
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
