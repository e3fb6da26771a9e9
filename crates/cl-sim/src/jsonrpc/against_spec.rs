//! The vAPI types the simulator encodes JSON-RPC results with, checked against the spec's
//! response schemas: a field the spec adds, drops or retypes fails here, naming the path, instead
//! of reaching the official SDKs as a result they cannot read.

use std::collections::BTreeSet;

use cl_api::operation::OperationId;
use serde_json::Value;

use super::types::{STD_ERROR, Struct, Ty};
use crate::handler::handler;

fn spec() -> Value {
    let yaml: serde_norway::Value = serde_norway::from_str(cl_api::SPEC).expect("the spec parses");
    serde_json::to_value(yaml).expect("the spec is JSON-compatible")
}

/// Follows local `$ref`s, and takes the first form of a `oneOf` (the `/api` one, as the spec
/// orders them).
fn resolve<'a>(spec: &'a Value, mut schema: &'a Value) -> &'a Value {
    loop {
        if let Some(pointer) = schema["$ref"].as_str().and_then(|r| r.strip_prefix('#')) {
            schema = spec.pointer(pointer).unwrap_or_else(|| panic!("dangling $ref {pointer}"));
        } else if let Some(first) = schema["oneOf"].get(0) {
            schema = first;
        } else {
            return schema;
        }
    }
}

/// The `/api` success body of an operation, `None` for an empty one.
fn output(spec: &Value, op: OperationId) -> Option<&Value> {
    let operation = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .find(|o| o["operationId"] == op.name())
        .unwrap_or_else(|| panic!("{op} is not in the spec"));
    let responses = operation["responses"].as_object().unwrap();
    let (_, response) = responses.iter().find(|(code, _)| code.starts_with('2')).expect("a success response");
    resolve(spec, response)["content"]["application/json"].get("schema")
}

/// Every way `ty` departs from `schema`, each named by where it is.
fn compare(spec: &Value, ty: Ty, schema: &Value, at: &str, seen: &mut BTreeSet<&'static str>, out: &mut Vec<String>) {
    let schema = resolve(spec, schema);
    let ty = match ty {
        Ty::Opt(inner) => *inner,
        ty => ty,
    };
    let kind = schema["type"].as_str();
    let format = schema["format"].as_str();
    let mut wrong = |expected: &str| out.push(format!("{at}: the spec has {expected}, the simulator {}", shown(ty)));
    match (kind, ty) {
        // No type: any value (a standard error's `data`).
        (None, _) => {}
        (Some("string"), Ty::DateTime) if format == Some("date-time") => {}
        (Some("string"), Ty::Str | Ty::Secret) if format != Some("date-time") => {}
        (Some("string"), _) => wrong(&format!("a string ({})", format.unwrap_or("plain"))),
        (Some("integer"), Ty::Int) | (Some("number"), Ty::Double) | (Some("boolean"), Ty::Bool) => {}
        (Some("integer" | "number" | "boolean"), _) => wrong(kind.unwrap()),
        (Some("array"), Ty::List(inner)) => compare(spec, *inner, &schema["items"], &format!("{at}[]"), seen, out),
        (Some("array"), _) => wrong("a list"),
        (Some("object"), Ty::Map(inner)) if schema["additionalProperties"].is_object() => {
            compare(spec, *inner, &schema["additionalProperties"], &format!("{at}{{}}"), seen, out)
        }
        (Some("object"), Ty::Struct(def)) => {
            // A free-form object in the spec: the simulator may give it any structure.
            if let Some(properties) = schema["properties"].as_object() {
                fields(spec, def, properties, schema, at, seen, out);
            }
        }
        (Some("object"), _) => wrong("an object"),
        (Some(other), _) => wrong(other),
    }
}

/// A type in a message; not `Debug`, which would follow structures round their cycles.
fn shown(ty: Ty) -> String {
    match ty {
        Ty::Struct(def) => format!("structure {}", def.name),
        Ty::Opt(inner) => format!("optional {}", shown(*inner)),
        Ty::List(inner) => format!("list of {}", shown(*inner)),
        Ty::Map(inner) => format!("map of {}", shown(*inner)),
        other => format!("{other:?}"),
    }
}

fn fields(
    spec: &Value,
    def: &'static Struct,
    properties: &serde_json::Map<String, Value>,
    schema: &Value,
    at: &str,
    seen: &mut BTreeSet<&'static str>,
    out: &mut Vec<String>,
) {
    // Structures nest in cycles (messages and their parameters): each is checked once.
    if !seen.insert(def.name) {
        return;
    }
    let declared: BTreeSet<&str> = def.fields.iter().map(|(name, _)| *name).collect();
    let specified: BTreeSet<&str> = properties.keys().map(String::as_str).collect();
    for missing in specified.difference(&declared) {
        out.push(format!("{at}: {} lacks the spec's field {missing}", def.name));
    }
    for extra in declared.difference(&specified) {
        out.push(format!("{at}: {} has {extra}, which the spec does not", def.name));
    }
    let required: BTreeSet<&str> =
        schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    for (name, ty) in def.fields {
        let Some(property) = properties.get(*name) else { continue };
        if required.contains(name) && matches!(ty, Ty::Opt(_)) {
            out.push(format!("{at}.{name}: required by the spec, optional in {}", def.name));
        }
        compare(spec, *ty, property, &format!("{at}.{name}"), seen, out);
    }
}

#[test]
fn every_result_and_error_the_simulator_encodes_matches_the_spec() {
    let spec = spec();
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for op in OperationId::ALL {
        let ty = handler(op).unwrap_or_else(|| panic!("{op} has no handler")).output;
        match output(&spec, op) {
            None if matches!(ty, Ty::Void) => {}
            None => out.push(format!("{op}: the spec returns nothing, the simulator {}", shown(ty))),
            Some(schema) => compare(&spec, ty, schema, op.name(), &mut seen, &mut out),
        }
    }
    let error = &spec["components"]["schemas"]["StdError"];
    compare(&spec, Ty::Struct(&STD_ERROR), error, "StdError", &mut seen, &mut out);
    assert!(out.is_empty(), "the simulator's vAPI types depart from the spec:\n{}", out.join("\n"));
    // The walk reached the structures it is meant to check, not only lists of ids.
    for name in ["com.vmware.content.library_model", "com.vmware.content.library.item.updatesession.preview_info"] {
        assert!(seen.contains(name), "{name} was not reached");
    }
}

#[test]
fn the_check_catches_a_field_out_of_step() {
    static SHORT: Struct = Struct {
        name: "short_transfer_endpoint",
        fields: &[("uri", Ty::Opt(&Ty::Str)), ("ssl_certificate", Ty::Int), ("not_in_spec", Ty::Str)],
    };
    let spec = spec();
    let mut out = Vec::new();
    let schema = &spec["components"]["schemas"]["TransferEndpoint"];
    compare(&spec, Ty::Struct(&SHORT), schema, "x", &mut BTreeSet::new(), &mut out);
    let text = out.join("\n");
    for expected in
        ["lacks the spec's field ssl_certificate_thumbprint", "has not_in_spec", "x.uri: required", "x.ssl_certificate"]
    {
        assert!(text.contains(expected), "{expected:?} not in:\n{text}");
    }
}
