//! Every JSON example of the reference pages deserializes into the matching generated type and
//! serializes back to the same JSON, field for field. The examples live in the repository, as
//! printed on the pages (`openapi/reference/examples.json`, provenance in `openapi/SOURCES.md`);
//! where the pages themselves are beside the checkout (`../shared/docs/`), the copy is checked
//! against them.
//!
//! The pages lost their `:` separators (`"key""value"`); [`repair`] puts them back. Where a page
//! shows a type template instead of an instance, [`instantiate`] substitutes a value of the stated
//! type and the test prints each substitution.

use std::path::PathBuf;

use cl_api::types;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Each example, by its label in the fixture, and the type it is an instance of.
const EXAMPLES: &[Example] = &[
    ("GET /rest download-session: 200", check::<types::RestDownloadSessionValue>),
    ("GET /rest downloadsession/file: 200", check::<types::RestDownloadFileInfoListValue>),
    ("GET /api download-session file: 200", check::<types::DownloadFileInfo>),
    ("GET /api download-session file: 400", check::<types::StdError>),
    ("GET /api download-session file: 404", check::<types::StdError>),
    ("GET /api download-session file: default", check::<types::StdError>),
    ("POST /rest download-session: body", check::<types::RestDownloadSessionCreate>),
    ("POST /rest download-session: 200", check::<types::RestStringValue>),
    ("GET /rest update-session: 200", check::<types::RestUpdateSessionValue>),
];

type Example = (&'static str, fn(&Value) -> Result<(), String>);

/// The examples as the repository keeps them: (page, label, text as printed).
fn fixture() -> Vec<(String, String, String)> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../openapi/reference/examples.json");
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let field = |e: &Value, k: &str| e[k].as_str().unwrap().to_owned();
    doc["examples"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (field(e, "page"), field(e, "example"), field(e, "as_printed")))
        .collect()
}

#[test]
fn every_reference_example_round_trips_through_the_generated_types() {
    let mut failures = Vec::new();
    let mut checked = 0;
    for (page, what, printed) in fixture() {
        let (_, check) = EXAMPLES.iter().find(|(label, _)| *label == what).unwrap_or_else(|| panic!("{what}: no type"));
        let mut value: Value =
            serde_json::from_str(&repair(&printed)).unwrap_or_else(|e| panic!("{page} {what}: repaired JSON: {e}"));
        for note in instantiate(&mut value, "") {
            println!("{page} {what}: {note}");
        }
        if let Err(e) = check(&value) {
            failures.push(format!("{page} {what}: {e}"));
        }
        checked += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(checked, EXAMPLES.len());
}

/// The repository's copy is what the pages print, where the pages are at hand.
#[test]
fn the_fixture_is_what_the_pages_print() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/docs");
    if !dir.is_dir() {
        eprintln!("../shared/docs is not beside this checkout: the fixture stands on its own");
        return;
    }
    let fixture = fixture();
    let mut pages: Vec<&str> = fixture.iter().map(|(page, _, _)| page.as_str()).collect();
    pages.dedup();
    for page in pages {
        let text = std::fs::read_to_string(dir.join(page)).unwrap();
        let kept: Vec<&str> = fixture.iter().filter(|(p, _, _)| p == page).map(|(_, _, t)| t.as_str()).collect();
        assert_eq!(json_blocks(&text), kept, "{page}");
    }
}

/// Deserializes into `T`, serializes back and requires the very same JSON.
fn check<T: DeserializeOwned + Serialize>(example: &Value) -> Result<(), String> {
    let typed: T = serde_json::from_value(example.clone()).map_err(|e| format!("does not deserialize: {e}"))?;
    let back = serde_json::to_value(&typed).map_err(|e| e.to_string())?;
    if &back != example {
        return Err(format!("lost or changed fields:\n  page: {example}\n  back: {back}"));
    }
    Ok(())
}

/// The JSON examples of a page: blocks from a line `{` to the next line `}`, both at column 0.
/// The pages indent with no-break spaces, which JSON does not take as white space.
fn json_blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut current: Option<String> = None;
    for line in text.replace('\u{a0}', " ").lines() {
        match (&mut current, line) {
            (None, "{") => current = Some(String::from("{\n")),
            (Some(block), "}") => {
                block.push('}');
                blocks.push(current.take().unwrap());
            }
            (Some(block), _) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    blocks
}

/// Puts back the `:` the pages lost: a string directly followed by the start of a value is a key.
fn repair(broken: &str) -> String {
    let mut out = String::with_capacity(broken.len() + broken.len() / 8);
    let mut chars = broken.chars().peekable();
    let mut in_string = false;
    while let Some(c) = chars.next() {
        out.push(c);
        if in_string {
            match c {
                '\\' => out.extend(chars.next()),
                '"' => {
                    in_string = false;
                    if chars.peek().is_some_and(|n| matches!(n, '"' | '{' | '[' | '-' | '0'..='9' | 't' | 'f' | 'n')) {
                        out.push(':');
                    }
                }
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
        }
    }
    out
}

/// Replaces type placeholders with values of the stated type; returns what it replaced.
fn instantiate(value: &mut Value, key: &str) -> Vec<String> {
    let mut notes = Vec::new();
    let substitute = match (key, &*value) {
        ("d", Value::String(s)) if s == "number" => Some(json!(1.5)),
        ("dt", Value::String(s)) if s == "string" => Some(json!("2015-01-01T22:13:05.651Z")),
        ("status", Value::String(s)) if s == "string" => Some(json!("PREPARED")),
        ("algorithm", Value::String(s)) if s == "string" => Some(json!("SHA256")),
        ("format", Value::String(s)) if s == "string" => Some(json!("SHORT_DATE")),
        ("error_type", Value::String(s)) if s == "string" => Some(json!("NOT_FOUND")),
        (_, Value::String(s)) if s == "Std_LocalizationParam Object" => Some(json!({"s": "string"})),
        _ => None,
    };
    if let Some(new) = substitute {
        notes.push(format!("`{key}`: template {value} replaced by {new}"));
        *value = new;
        return notes;
    }
    match value {
        Value::Object(map) => {
            // The `/rest` pages stop their recursive example at an entry with a key and no value.
            if map.len() == 1 && map.contains_key("key") {
                map.insert("value".into(), json!({"s": "string"}));
                notes.push("a key/value parameter without its value got {\"s\": \"string\"}".into());
            }
            for (k, v) in map.iter_mut() {
                notes.extend(instantiate(v, k));
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| notes.extend(instantiate(v, key))),
        _ => {}
    }
    notes
}

#[test]
fn repair_restores_separators_only_between_keys_and_values() {
    let broken = "{\n \"a\"\"x\",\n \"b\"[\n  \"s\",\n  \"t\"\n ],\n \"c\"{\"d\"1.5, \"e\"true, \"f\"-1}\n}";
    let fixed: Value = serde_json::from_str(&repair(broken)).unwrap();
    assert_eq!(fixed, json!({"a": "x", "b": ["s", "t"], "c": {"d": 1.5, "e": true, "f": -1}}));
    // Already well-formed JSON is left alone.
    assert_eq!(repair("{\"a\": \"b\"}"), "{\"a\": \"b\"}");
}

#[test]
fn unknown_enum_values_and_fields_do_not_fail_a_response() {
    let file: types::DownloadFileInfo = serde_json::from_value(json!({
        "name": "disk.vmdk",
        "bytes_transferred": 0,
        "status": "PREPARING_ON_A_NEWER_VCENTER",
        "checksum_info": {"checksum": "ab", "algorithm": "SHA3_256"},
        "a_field_from_the_future": {"x": 1}
    }))
    .unwrap();
    assert_eq!(file.status, types::PrepareStatus::Unknown("PREPARING_ON_A_NEWER_VCENTER".into()));
    assert_eq!(file.checksum_info.unwrap().algorithm, Some(types::ChecksumAlgorithm::Unknown("SHA3_256".into())));

    let error: types::StdError =
        serde_json::from_value(json!({"error_type": "SOMETHING_NEW", "messages": []})).unwrap();
    assert_eq!(error.error_type.as_ref().map(|t| t.as_str()), Some("SOMETHING_NEW"));
    // And an unknown value goes back out unchanged.
    assert_eq!(serde_json::to_value(&error).unwrap()["error_type"], "SOMETHING_NEW");
}

#[test]
fn known_enum_values_round_trip_by_their_wire_names() {
    for value in types::ErrorType::KNOWN {
        let parsed: types::ErrorType = value.parse().unwrap();
        assert!(!matches!(parsed, types::ErrorType::Unknown(_)), "{value}");
        assert_eq!(parsed.to_string(), *value);
    }
    assert_eq!(types::ErrorType::KNOWN.len(), 25);
    assert_eq!(types::PrepareStatus::KNOWN, ["UNPREPARED", "PREPARE_REQUESTED", "PREPARING", "PREPARED", "ERROR"]);
}
