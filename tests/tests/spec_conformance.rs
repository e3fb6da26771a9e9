//! The spec against the reference: every documented operation is there in both dialects, the
//! structural rules hold, and each rule can actually fail.

use std::collections::BTreeMap;
use std::path::PathBuf;

use cl_api::operation::{Method, OPERATIONS, OperationId, Repeat, Segment};
use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_owned()
}

fn spec() -> cl_codegen::Spec {
    cl_codegen::load(&root().join(cl_codegen::SPEC_PATH)).unwrap()
}

/// (operationId) -> (METHOD, path key) for every operation of the spec.
fn operations(tree: &Value) -> BTreeMap<String, (String, String)> {
    let mut ops = BTreeMap::new();
    for (key, item) in tree["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if let Some(id) = op.get("operationId").and_then(Value::as_str) {
                ops.insert(id.to_owned(), (method.to_uppercase(), key.clone()));
            }
        }
    }
    ops
}

/// The reference's own list of the `/api` transfer operations, kept in the repository (provenance in
/// `openapi/SOURCES.md`); where the reference is beside the checkout, the copy must equal it.
fn api_ops() -> Vec<Value> {
    let kept = std::fs::read_to_string(root().join("openapi/reference/api_ops.json")).unwrap();
    if let Ok(original) = std::fs::read_to_string(root().join("../shared/reference/api_ops.json")) {
        let (a, b): (Value, Value) = (serde_json::from_str(&kept).unwrap(), serde_json::from_str(&original).unwrap());
        assert_eq!(a, b, "openapi/reference/api_ops.json differs from ../shared/reference/api_ops.json");
    }
    serde_json::from_str(&kept).unwrap()
}

#[test]
fn the_spec_keeps_every_structural_rule() {
    let findings = cl_codegen::lint::check(&spec().tree);
    assert!(findings.is_empty(), "{}", findings.join("\n"));
}

/// The reference's service names and the operation table's vAPI services they are.
const REFERENCE_SERVICES: [(&str, &str); 4] = [
    ("DownloadSession", "com.vmware.content.library.item.download_session"),
    ("UpdateSession", "com.vmware.content.library.item.update_session"),
    ("downloadsession.File", "com.vmware.content.library.item.downloadsession.file"),
    ("updatesession.File", "com.vmware.content.library.item.updatesession.file"),
];

#[test]
fn every_reference_operation_is_in_the_table_with_its_rest_twin() {
    for entry in &api_ops() {
        let service = entry["service"].as_str().unwrap();
        let (_, vapi) = REFERENCE_SERVICES
            .iter()
            .find(|(name, _)| *name == service)
            .unwrap_or_else(|| panic!("unexpected reference service {service}"));
        let name = entry["op"].as_str().unwrap();
        let id = OperationId::from_vapi(vapi, name).unwrap_or_else(|| panic!("{service}.{name} is not in the table"));
        let op = id.operation();
        let expected = format!("{} {}", entry["method"].as_str().unwrap(), snake_path(entry["path"].as_str().unwrap()));
        assert_eq!(op.api.to_string(), expected, "{id}");
        let rest = op.rest.as_ref().unwrap_or_else(|| panic!("{id} has no /rest form"));
        assert_eq!(rest.segments[0], Segment::Literal("rest"), "{id}");
    }
}

/// The table is the spec's operations, no more and no less: every operationId is one row's
/// `/api` form or its `rest_` twin, and every route is the spec's path key.
#[test]
fn the_table_is_the_specs_operations() {
    let mut from_table = BTreeMap::new();
    for op in &OPERATIONS {
        from_table.insert(op.name.to_owned(), op.api.to_string());
        // The service takes every id the `/rest` dialect takes, so every operation has both.
        let rest = op.rest.as_ref().unwrap_or_else(|| panic!("{} has no /rest twin", op.name));
        from_table.insert(format!("rest_{}", op.name), rest.to_string());
    }
    let from_spec: BTreeMap<String, String> = operations(&spec().tree)
        .into_iter()
        .map(|(id, (method, key))| (id, format!("{method} {}", snake_path(&key))))
        .collect();
    assert_eq!(from_table, from_spec);
}

/// A path key with its parameters named as the table names them (`{downloadSessionId}` is
/// `{download_session_id}`).
fn snake_path(key: &str) -> String {
    let mut out = String::new();
    let mut in_name = false;
    for c in key.chars() {
        match c {
            '{' => in_name = true,
            '}' => in_name = false,
            c if in_name && c.is_ascii_uppercase() => {
                out.push('_');
                out.push(c.to_ascii_lowercase());
                continue;
            }
            _ => {}
        }
        out.push(c);
    }
    out
}

#[test]
fn every_operation_has_one_vapi_name_and_reads_are_safe_to_repeat() {
    let mut seen = std::collections::BTreeSet::new();
    for op in &OPERATIONS {
        assert!(op.vapi.service.starts_with("com.vmware."), "{}", op.name);
        assert!(seen.insert((op.vapi.service, op.vapi.name)), "{} shares its vAPI name", op.name);
        if op.api.method == Method::GET {
            assert_eq!(op.repeat, Repeat::Safe, "{}: a read is safe to repeat", op.name);
        }
    }
}

#[test]
fn rest_operations_use_the_legacy_path_conventions() {
    for (id, (method, key)) in operations(&spec().tree) {
        if !id.starts_with("rest_") {
            continue;
        }
        assert!(!key.contains("?action="), "{id}: /rest verbs are `?~action=`");
        assert!(!key.contains("/{"), "{id}: /rest ids are `id:{{…}}` segments: {key}");
        if key.contains("?~action=") {
            assert_eq!(method, "POST", "{id}");
        }
    }
}

/// The spec's error and success wrappers, per dialect, as the reference describes them.
#[test]
fn dialect_envelopes_match_the_reference() {
    let tree = spec().tree;
    let schemas = &tree["components"]["schemas"];
    let required = |name: &str| -> Vec<&str> {
        schemas[name]["required"]
            .as_array()
            .map(|a| a.iter().map(|v| v.as_str().unwrap()).collect())
            .unwrap_or_default()
    };
    assert_eq!(required("RestError"), ["type", "value"]);
    assert_eq!(required("StdError"), ["messages"]);
    assert_eq!(schemas["RestError"]["properties"]["value"]["$ref"], "#/components/schemas/StdError");
    assert_eq!(schemas["ErrorType"]["enum"].as_array().unwrap().len(), 25);
    for wrapper in ["RestDownloadSessionCreate", "RestUpdateSessionCreate", "RestLibraryCreate", "RestItemCreate"] {
        assert_eq!(required(wrapper), ["create_spec"], "{wrapper}");
        assert!(schemas[wrapper]["properties"]["client_token"].is_object(), "{wrapper}");
    }
    assert_eq!(required("RestFileAddSpec"), ["file_spec"]);
    assert_eq!(required("RestUpdateSessionUpdate"), ["update_spec"]);
    // The 9.x additions.
    assert!(schemas["TransferEndpoint"]["properties"]["ssl_certificate"].is_object());
    assert!(schemas["PreviewInfo"]["properties"]["cert_chain"].is_object());
    assert!(schemas["UpdateFileInfo"]["properties"]["keep_in_storage"].is_object());
    // `params` in both shapes.
    let shapes: Vec<&str> = schemas["LocalizationParams"]["oneOf"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["$ref"].as_str().unwrap().rsplit('/').next().unwrap())
        .collect();
    assert_eq!(shapes, ["LocalizationParamMap", "LocalizationParamList"]);
    assert_eq!(schemas["LocalizationParamMap"]["type"], "object");
    assert_eq!(schemas["LocalizationParamList"]["type"], "array");
}

#[test]
fn sources_table_names_every_operation_and_schema() {
    let table = std::fs::read_to_string(root().join("openapi/SOURCES.md")).unwrap();
    let tree = spec().tree;
    for id in operations(&tree).keys() {
        assert!(table.contains(&format!("`{id}`")), "SOURCES.md does not trace operation {id}");
    }
    for name in tree["components"]["schemas"].as_object().unwrap().keys() {
        assert!(table.contains(&format!("`{name}`")), "SOURCES.md does not trace schema {name}");
    }
}

// ---------------------------------------------------------------------------------------------
// Each rule can fail: small specs that break one rule each.

const BASE: &str = r##"
openapi: 3.0.3
info: {title: t, version: "1"}
paths:
  PATHS
components:
  schemas:
    StdError: {type: object, required: [messages], properties: {messages: {type: array, items: {type: string}}}}
    RestError: {type: object, properties: {type: {type: string}}}
    State: {type: string, enum: [A, B]}
"##;

const ERR: &str =
    r##"{description: e, content: {application/json: {schema: {$ref: "#/components/schemas/StdError"}}}}"##;

fn findings(paths: &str) -> Vec<String> {
    let text = BASE.replace("PATHS", &paths.replace("ERR", ERR));
    let spec = cl_codegen::parse(&text).unwrap_or_else(|e| panic!("{paths}: {e:#}"));
    cl_codegen::lint::check(&spec.tree)
}

fn assert_finds(paths: &str, needle: &str) {
    let found = findings(paths);
    assert!(found.iter().any(|f| f.contains(needle)), "expected a finding with {needle:?}, got {found:?}");
}

#[test]
fn a_well_formed_small_spec_passes() {
    let found = findings(
        r##"/api/x/{id}?action=go: {parameters: [{name: id, in: path, required: true, schema: {type: string}}], post: {operationId: x_go, responses: {"204": {description: ok}, "404": {description: e, content: {application/json: {schema: {$ref: "#/components/schemas/StdError"}}}}}}}"##,
    );
    assert!(found.is_empty(), "{found:?}");
}

#[test]
fn duplicate_path_keys_are_refused_at_load() {
    let text = BASE
        .replace("PATHS", "/a: {get: {operationId: a, responses: {}}}\n  /a: {get: {operationId: b, responses: {}}}");
    let error = cl_codegen::parse(&text).err().expect("a duplicate key must not load");
    assert!(format!("{error:#}").contains("duplicate"), "{error:#}");
}

#[test]
fn each_rule_catches_its_mistake() {
    assert_finds(r##"/api/a: {get: {responses: {"204": {description: ok}, "404": ERR}}}"##, "no operationId");
    assert_finds(
        r##"/api/a: {get: {operationId: a, responses: {"204": {description: ok}, "404": ERR}}, post: {operationId: a, responses: {"204": {description: ok}, "404": ERR}}}"##,
        "already used",
    );
    assert_finds(
        r##"/api/a: {get: {operationId: GetA, responses: {"204": {description: ok}, "404": ERR}}}"##,
        "snake_case",
    );
    assert_finds(
        r##"/api/a: {get: {operationId: rest_a, responses: {"204": {description: ok}, "404": ERR}}}"##,
        "rest_",
    );
    assert_finds(
        r##"/api/a/{id}: {get: {operationId: a, responses: {"204": {description: ok}, "404": ERR}}}"##,
        "template parameters",
    );
    assert_finds(
        r##"/api/a: {get: {operationId: a, parameters: [{name: id, in: path, required: true, schema: {type: string}}], responses: {"204": {description: ok}, "404": ERR}}}"##,
        "template parameters",
    );
    assert_finds(
        r##"/api/a?name: {get: {operationId: a, responses: {"204": {description: ok}, "404": ERR}}}"##,
        "bare query",
    );
    assert_finds(
        r##"/api/a?: {get: {operationId: a, responses: {"204": {description: ok}, "404": ERR}}}
  /api/a?name: {get: {operationId: b, parameters: [{name: name, in: query, required: true, schema: {type: string}}], responses: {"204": {description: ok}, "404": ERR}}}"##,
        "both become",
    );
    assert_finds(
        r##"/api/a: {get: {operationId: a, responses: {"200": {description: ok, content: {application/json: {schema: {type: string}}}}, "204": {description: ok}, "404": ERR}}}"##,
        "exactly one success",
    );
    assert_finds(
        r##"/api/a: {get: {operationId: a, responses: {"204": {description: ok}, default: ERR}}}"##,
        "not default",
    );
    assert_finds(
        r##"/api/a: {get: {operationId: a, responses: {"204": {description: ok}, "400": {description: e}}}}"##,
        "StdError",
    );
    assert_finds(
        r##"/rest/a: {get: {operationId: rest_a, responses: {"200": {description: ok}, "404": ERR}}}"##,
        "RestError",
    );
    assert_finds(r##"/api/a: {get: {operationId: a, responses: {"204": {description: ok}}}}"##, "no error response");
    assert_finds(
        r##"/api/a: {post: {operationId: a, requestBody: {content: {application/json: {schema: {type: string}}, text/plain: {schema: {type: string}}}}, responses: {"204": {description: ok}, "404": ERR}}}"##,
        "exactly one content type",
    );
    assert_finds(
        r##"/api/a: {put: {operationId: a, requestBody: {content: {application/octet-stream: {schema: {type: string}}}}, responses: {"204": {description: ok}, "404": ERR}}}"##,
        "octet-stream",
    );
    assert_finds(
        r##"/api/a: {get: {operationId: a, parameters: [{name: s, in: query, schema: {type: string, enum: [x]}}], responses: {"204": {description: ok}, "404": ERR}}}"##,
        "inline enum",
    );
    assert_finds(
        r##"/api/a: {get: {operationId: a, responses: {"200": {description: ok, content: {application/json: {schema: {type: object, additionalProperties: false}}}}, "404": ERR}}}"##,
        "additionalProperties",
    );
    // A comma in an unquoted flow-mapping description splits it into a stray key.
    let stray = BASE.replace("PATHS", "{}").replace(
        "  schemas:\n",
        "  schemas:\n    S: {type: object, properties: {n: {type: integer, description: Bytes, when known.}}}\n",
    );
    let found = cl_codegen::lint::check(&cl_codegen::parse(&stray).unwrap().tree);
    assert!(found.iter().any(|f| f.contains("\"when known.\" is not a schema keyword")), "{found:?}");
    let version = BASE.replace("3.0.3", "3.1.0").replace("PATHS", "{}");
    let found = cl_codegen::lint::check(&cl_codegen::parse(&version).unwrap().tree);
    assert!(found.iter().any(|f| f.contains("3.0.x")), "{found:?}");
}

/// Editing the spec without regenerating must show as drift: the snapshot test and
/// `cargo xtask gen --check` compare against exactly this output.
#[test]
fn an_edited_enum_value_changes_the_generated_code() {
    let spec = spec();
    let snapshot = std::fs::read_to_string(root().join(cl_codegen::SNAPSHOT_PATH)).unwrap();
    let fresh = cl_codegen::generate(&spec).unwrap();
    assert_eq!(fresh, snapshot, "snapshot is stale: run `cargo xtask gen`");

    let edited = spec.text.replace("PREPARE_REQUESTED", "PREPARE_QUEUED");
    assert_ne!(edited, spec.text);
    let regenerated = cl_codegen::generate(&cl_codegen::parse(&edited).unwrap()).unwrap();
    assert!(regenerated.contains("\"PREPARE_QUEUED\" => Self::PrepareQueued"));
    assert!(!snapshot.contains("PREPARE_QUEUED"));
}

#[test]
fn generation_is_deterministic() {
    let spec = spec();
    assert_eq!(cl_codegen::generate(&spec).unwrap(), cl_codegen::generate(&spec).unwrap());
}

/// `cl-api` builds from the copy of the spec in its package; it must be the hand-curated spec.
#[test]
fn the_spec_packaged_in_cl_api_is_the_curated_spec() {
    let curated = std::fs::read_to_string(root().join(cl_codegen::SPEC_PATH)).unwrap();
    let packaged = std::fs::read_to_string(root().join(cl_codegen::PACKAGED_SPEC_PATH)).unwrap();
    assert!(
        curated == packaged,
        "{} differs from {}: run `cargo xtask gen`",
        cl_codegen::PACKAGED_SPEC_PATH,
        cl_codegen::SPEC_PATH
    );
}
