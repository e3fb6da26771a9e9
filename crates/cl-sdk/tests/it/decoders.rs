//! Property tests of every decoder a server's answer meets: each response type of both dialects
//! and the error decoder get random bytes, random JSON, truncated and wrong-typed documents, huge
//! numbers and deep nesting. None may panic; unknown enum values must decode (forward
//! compatibility: a newer vCenter's value is `Unknown`, not a failed response).

use cl_sdk::types::*;
use proptest::prelude::*;
use serde_json::{Value, json};

/// Decodes `bytes` as every response type; a panic fails the property, errors are fine.
fn decode_all(bytes: &[u8]) {
    macro_rules! each {
        ($($t:ty),* $(,)?) => {$(
            let _ = serde_json::from_slice::<$t>(bytes);
        )*};
    }
    each!(
        String,
        Vec<String>,
        SessionInfo,
        LibraryModel,
        ItemModel,
        ItemFileInfo,
        Vec<ItemFileInfo>,
        DownloadSessionModel,
        DownloadFileInfo,
        Vec<DownloadFileInfo>,
        UpdateSessionModel,
        UpdateFileInfo,
        Vec<UpdateFileInfo>,
        ValidationResult,
        StdError,
        RestError,
        RestStringValue,
        RestStringListValue,
        RestSessionInfoValue,
        RestLibraryValue,
        RestItemValue,
        RestItemFileInfoValue,
        RestItemFileInfoListValue,
        RestDownloadSessionValue,
        RestDownloadFileInfoValue,
        RestDownloadFileInfoListValue,
        RestUpdateSessionValue,
        RestUpdateFileInfoValue,
        RestUpdateFileInfoListValue,
        RestValidationResultValue,
    );
    for status in [200, 400, 401, 404, 500, 503] {
        let _ = cl_sdk::Error::from_response(status, bytes).to_string();
    }
}

/// Any JSON value, nested a few levels.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        // The enum values and field names the types know, so objects get close to real ones.
        prop::sample::select(vec!["PREPARED", "ERROR", "ACTIVE", "SHA1", "READY", "NOT_FOUND", "name", "x"])
            .prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::btree_map(field(), inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "name",
            "size",
            "status",
            "state",
            "value",
            "type",
            "error_type",
            "messages",
            "checksum_info",
            "download_endpoint",
            "uri",
            "bytes_transferred",
            "library_item_id",
            "expiration_time",
            "preview_info",
            "warnings",
            "files",
            "id",
            "user",
            "created_time",
            "last_accessed_time",
            "has_errors",
            "missing_files",
        ])
        .prop_map(str::to_owned),
        "[a-z_]{1,10}",
    ]
}

/// Realistic answers of both dialects, to truncate and to mutate.
fn samples() -> Vec<Value> {
    let file = json!({"name": "disk-0.vmdk", "size": 1024, "bytes_transferred": 0, "status": "PREPARED",
        "download_endpoint": {"uri": "https://esx/cls/data/x", "ssl_certificate_thumbprint": "AA:BB"},
        "checksum_info": {"algorithm": "SHA1", "checksum": "00ff"}});
    let session = json!({"library_item_id": "item-1", "state": "ACTIVE", "client_progress": 5,
        "expiration_time": "2026-11-23T10:00:00.000Z", "library_item_content_version": "3"});
    let error = json!({"error_type": "NOT_FOUND", "messages": [{"id": "a", "default_message": "gone", "args": []}]});
    vec![
        file.clone(),
        json!([file.clone(), file.clone()]),
        json!({ "value": file }),
        session.clone(),
        json!({ "value": session }),
        error.clone(),
        json!({"type": "com.vmware.vapi.std.errors.not_found", "value": error}),
        json!({"user": "u", "created_time": "2026-11-23T10:00:00Z", "last_accessed_time": "2026-11-23T10:00:00Z"}),
        json!({"has_errors": false, "missing_files": [], "invalid_files": []}),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        decode_all(&bytes);
    }

    #[test]
    fn random_json_never_panics(value in any_json()) {
        decode_all(value.to_string().as_bytes());
    }

    #[test]
    fn truncated_answers_never_panic(index in 0usize..9, cut in 0usize..400) {
        let text = samples()[index].to_string();
        decode_all(&text.as_bytes()[..cut.min(text.len())]);
    }

    #[test]
    fn wrong_types_and_huge_numbers_never_panic(index in 0usize..9, key in field(), value in prop_oneof![
        any_json(),
        Just(json!(u64::MAX)),
        Just(json!(i64::MIN)),
        Just(json!(1e300)),
        Just(Value::String("9".repeat(400))),
    ]) {
        let mut sample = samples()[index].clone();
        if let Some(object) = sample.as_object_mut() {
            object.insert(key, value.clone());
        }
        decode_all(sample.to_string().as_bytes());
        // A number past every integer type, as text.
        let huge = sample.to_string().replacen("1024", &"9".repeat(60), 1);
        decode_all(huge.as_bytes());
    }

    #[test]
    fn unknown_enum_values_decode(value in "[A-Z][A-Z_]{0,20}") {
        let known = ["UNPREPARED", "PREPARE_REQUESTED", "PREPARING", "PREPARED", "ERROR"];
        let file = json!({"name": "f", "status": value.clone(), "bytes_transferred": 0});
        let decoded: DownloadFileInfo = serde_json::from_value(file).expect("any status string decodes");
        if !known.contains(&value.as_str()) {
            prop_assert_eq!(decoded.status, PrepareStatus::Unknown(value.clone()));
        }
        let error = json!({"error_type": value.clone(), "messages": []});
        let e = cl_sdk::Error::from_response(400, error.to_string().as_bytes());
        prop_assert_eq!(e.error_type(), Some(value.as_str()));
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    for depth in [200, 10_000, 100_000] {
        let nested = format!("{}{}", "[".repeat(depth), "]".repeat(depth));
        decode_all(nested.as_bytes());
        let objects = format!("{}1{}", "{\"value\":".repeat(depth), "}".repeat(depth));
        decode_all(objects.as_bytes());
    }
}
