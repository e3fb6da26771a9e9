//! Structural rules the spec must keep, each closing a way progenitor (or a reader) would be misled.
//!
//! A schema validator checks that the document is OpenAPI 3.0; these rules check what a valid
//! document can still get wrong for this project: names that become method names, path keys
//! with literal queries, one error schema per dialect, and enums that stay open.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

/// Every rule the spec breaks, one sentence each; empty when it keeps them all.
pub fn check(tree: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let version = tree["openapi"].as_str().unwrap_or_default();
    if !version.starts_with("3.0.") {
        out.push(format!("`openapi` is {version:?}: progenitor reads only 3.0.x"));
    }
    let Some(paths) = tree["paths"].as_object() else {
        out.push("the spec has no `paths`".into());
        return out;
    };

    let mut ids: BTreeMap<&str, &str> = BTreeMap::new();
    let mut routes: BTreeMap<String, &str> = BTreeMap::new();
    for (key, item) in paths {
        let normal = strip_bare_query(key).unwrap_or_else(|| key.clone());
        if let Some(first) = routes.insert(normal.clone(), key) {
            out.push(format!("path keys {first:?} and {key:?} both become {normal:?}"));
        }
        let shared = params(tree, &item["parameters"]);
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let at = format!("{} {key}", method.to_uppercase());
            let mut declared = shared.clone();
            declared.extend(params(tree, &op["parameters"]));
            check_operation(tree, key, &at, op, &declared, &mut ids, &mut out);
        }
    }
    check_schemas(tree, &mut out);
    out
}

/// For a key like `/a/{id}/file?file_name` (a bare query name, no `=`), the key progenitor should
/// see: `/a/{id}/file?`. `None` for keys without a bare query.
pub fn strip_bare_query(key: &str) -> Option<String> {
    let (path, query) = key.split_once('?')?;
    (!query.is_empty() && !query.contains('=')).then(|| format!("{path}?"))
}

/// (location, name, required) of each parameter, `$ref`s resolved.
fn params<'a>(tree: &'a Value, list: &'a Value) -> Vec<(&'a str, &'a str, bool)> {
    list.as_array()
        .into_iter()
        .flatten()
        .map(|p| resolve(tree, p))
        .map(|p| {
            let at = p["in"].as_str().unwrap_or_default();
            (at, p["name"].as_str().unwrap_or_default(), p["required"].as_bool().unwrap_or(false))
        })
        .collect()
}

fn check_operation<'a>(
    tree: &'a Value,
    key: &'a str,
    at: &str,
    op: &'a Value,
    declared: &[(&str, &str, bool)],
    ids: &mut BTreeMap<&'a str, &'a str>,
    out: &mut Vec<String>,
) {
    let rest = key.starts_with("/rest/");
    match op["operationId"].as_str() {
        None => out.push(format!("{at}: no operationId")),
        Some(id) => {
            if let Some(first) = ids.insert(id, key) {
                out.push(format!("{at}: operationId {id:?} is already used by {first}"));
            }
            if !id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_') {
                out.push(format!("{at}: operationId {id:?} must be snake_case (it becomes a method name)"));
            }
            if rest != id.starts_with("rest_") {
                out.push(format!("{at}: operationId {id:?}: `rest_` prefix exactly on /rest operations"));
            }
        }
    }

    // Path template parameters and declared path parameters must be the same set: progenitor
    // panics on an undeclared one and silently drops a declared one missing from the template.
    let path = key.split('?').next().unwrap_or_default();
    let in_template: BTreeSet<&str> =
        path.split('{').skip(1).filter_map(|s| s.split_once('}')).map(|(name, _)| name).collect();
    let in_path: BTreeSet<&str> = declared.iter().filter(|p| p.0 == "path").map(|p| p.1).collect();
    if in_template != in_path {
        out.push(format!("{at}: template parameters {in_template:?} differ from declared {in_path:?}"));
    }
    if let Some((_, query)) = key.split_once('?')
        && strip_bare_query(key).is_some()
        && !declared.iter().any(|p| p.0 == "query" && p.1 == query && p.2)
    {
        out.push(format!("{at}: the key's bare query {query:?} is not a required query parameter"));
    }

    if let Some(body) = op.get("requestBody") {
        let content = resolve(tree, body)["content"].as_object();
        match content.map(|c| c.len()) {
            Some(1) => {}
            n => out.push(format!("{at}: a request body needs exactly one content type, not {n:?}")),
        }
        if let Some(schema) = content.and_then(|c| c.get("application/octet-stream")) {
            let s = resolve(tree, &schema["schema"]);
            if s["type"] != "string" || s["format"] != "binary" {
                out.push(format!("{at}: an octet-stream body must be `type: string, format: binary`"));
            }
        }
    }

    let Some(responses) = op["responses"].as_object() else {
        out.push(format!("{at}: no responses"));
        return;
    };
    let mut success = BTreeSet::new();
    let mut errors = BTreeSet::new();
    for (code, response) in responses {
        let response = resolve(tree, response);
        let schema = response["content"]["application/json"].get("schema").map(|s| s.to_string());
        match code.chars().next() {
            Some('2') => {
                success.insert(schema);
            }
            Some('4' | '5') => {
                let expected = if rest { "RestError" } else { "StdError" };
                if schema.as_deref() != Some(&format!(r##"{{"$ref":"#/components/schemas/{expected}"}}"##)) {
                    out.push(format!("{at}: error {code} must carry the dialect's {expected} body"));
                }
                errors.insert(schema);
            }
            _ => out.push(format!("{at}: response {code:?}: use explicit codes or 4XX/5XX, not default")),
        }
    }
    if success.len() != 1 {
        out.push(format!("{at}: needs exactly one success body shape, has {}", success.len()));
    }
    if errors.is_empty() {
        out.push(format!("{at}: documents no error response"));
    }
}

/// Enums must be named component schemas (only those get an `Unknown` fallback), and no object may
/// refuse unknown fields.
fn check_schemas(tree: &Value, out: &mut Vec<String>) {
    fn walk(v: &Value, at: &str, top: bool, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if map.get("additionalProperties") == Some(&Value::Bool(false)) {
                    out.push(format!("{at}: `additionalProperties: false` would reject fields newer servers add"));
                }
                if map.contains_key("enum") && !top {
                    out.push(format!("{at}: an inline enum would be closed; make it a named component schema"));
                }
                if map.contains_key("enum") && map.get("type") != Some(&Value::String("string".into())) {
                    out.push(format!("{at}: only string enums are supported"));
                }
                for (k, child) in map {
                    walk(child, &format!("{at}/{k}"), false, out);
                }
            }
            Value::Array(items) => items.iter().for_each(|c| walk(c, at, false, out)),
            _ => {}
        }
    }
    walk(&tree["paths"], "#/paths", false, out);
    if let Some(schemas) = tree["components"]["schemas"].as_object() {
        for (name, schema) in schemas {
            let at = format!("#/components/schemas/{name}");
            walk(schema, &at, true, out);
            keywords(schema, &at, out);
        }
    }
}

/// The keywords of an OpenAPI 3.0 Schema Object.
const SCHEMA_KEYWORDS: [&str; 36] = [
    "title",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "enum",
    "type",
    "allOf",
    "oneOf",
    "anyOf",
    "not",
    "items",
    "properties",
    "additionalProperties",
    "description",
    "format",
    "default",
    "nullable",
    "discriminator",
    "readOnly",
    "writeOnly",
    "xml",
    "externalDocs",
    "example",
    "deprecated",
    "$ref",
];

/// Every key of a schema (and of its nested schemas) must be a schema keyword: a stray key is
/// usually text cut off by an unquoted comma in a YAML flow mapping (`{description: a, b}`).
fn keywords(schema: &Value, at: &str, out: &mut Vec<String>) {
    let Some(map) = schema.as_object() else { return };
    for key in map.keys() {
        if !SCHEMA_KEYWORDS.contains(&key.as_str()) && !key.starts_with("x-") {
            out.push(format!("{at}: {key:?} is not a schema keyword (an unquoted comma in a flow mapping?)"));
        }
    }
    if let Some(properties) = map.get("properties").and_then(Value::as_object) {
        for (name, property) in properties {
            keywords(property, &format!("{at}/properties/{name}"), out);
        }
    }
    for key in ["items", "additionalProperties", "not"] {
        if let Some(child) = map.get(key).filter(|c| c.is_object()) {
            keywords(child, &format!("{at}/{key}"), out);
        }
    }
    for key in ["allOf", "oneOf", "anyOf"] {
        for (i, child) in map.get(key).and_then(Value::as_array).into_iter().flatten().enumerate() {
            keywords(child, &format!("{at}/{key}/{i}"), out);
        }
    }
}

/// Follows a local `$ref` (one level is all this spec uses).
fn resolve<'a>(tree: &'a Value, v: &'a Value) -> &'a Value {
    match v["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
        Some(pointer) => tree.pointer(pointer).unwrap_or(&Value::Null),
        None => v,
    }
}
