//! The vAPI JSON-RPC wire form: the envelope, the tagged values the official SDKs' type converters
//! accept, standard errors, protocol errors, and that no malformed request makes the simulator
//! answer anything but a JSON-RPC reply. (The official Python SDK itself drives it in
//! `cargo xtask official-sdk`.)

use crate::common;

use cl_sim::{CallFault, Simulator};
use serde_json::{Value, json};

const SESSION: &str = "com.vmware.cis.session";
const ITEM: &str = "com.vmware.content.library.item";
const DOWNLOAD: &str = "com.vmware.content.library.item.download_session";
const DOWNLOAD_FILE: &str = "com.vmware.content.library.item.downloadsession.file";
const UPDATE: &str = "com.vmware.content.library.item.update_session";
const UPDATE_FILE: &str = "com.vmware.content.library.item.updatesession.file";

struct Rpc {
    http: reqwest::Client,
    url: String,
    token: Option<String>,
}

impl Rpc {
    fn new(sim: &Simulator) -> Self {
        Self { http: reqwest::Client::new(), url: format!("{}/api", sim.url()), token: None }
    }

    async fn login(sim: &Simulator) -> Self {
        let mut rpc = Self::new(sim);
        let ctx = json!({"schemeId": "com.vmware.vapi.std.security.user_pass",
                         "userName": sim.username(), "password": sim.password()});
        let reply = rpc.raw(envelope(SESSION, "create", input(json!({})), ctx)).await;
        let token = reply["result"]["output"]["SECRET"].as_str().expect("the token is a secret");
        rpc.token = Some(token.to_owned());
        rpc
    }

    async fn raw_bytes(&self, body: impl Into<reqwest::Body>) -> Value {
        let response = self.http.post(&self.url).header("content-type", "application/json").body(body).send().await;
        let response = response.expect("the simulator answers");
        assert_eq!(response.status(), 200, "JSON-RPC replies are HTTP 200");
        response.json().await.expect("a JSON reply")
    }

    async fn raw(&self, request: Value) -> Value {
        self.raw_bytes(request.to_string()).await
    }

    /// `service.operation(fields)` in the caller's session; the whole `result` member.
    async fn result(&self, service: &str, operation: &str, fields: Value) -> Value {
        let ctx = match &self.token {
            Some(token) => json!({"schemeId": "com.vmware.vapi.std.security.session_id", "sessionId": token}),
            None => json!({}),
        };
        let reply = self.raw(envelope(service, operation, input(fields), ctx)).await;
        assert_eq!(reply["jsonrpc"], "2.0");
        assert_eq!(reply["id"], "7", "the id comes back");
        reply["result"].clone()
    }

    async fn output(&self, service: &str, operation: &str, fields: Value) -> Value {
        let result = self.result(service, operation, fields).await;
        assert!(result.get("error").is_none(), "{service}.{operation}: {result}");
        result["output"].clone()
    }

    /// The error's name and its (tagged) fields.
    async fn error(&self, service: &str, operation: &str, fields: Value) -> (String, Value) {
        let result = self.result(service, operation, fields).await;
        let errors = result["error"]["ERROR"].as_object().unwrap_or_else(|| panic!("an error: {result}"));
        let (name, fields) = errors.iter().next().expect("one named error");
        (name.clone(), fields.clone())
    }
}

fn envelope(service: &str, operation: &str, input: Value, ctx: Value) -> Value {
    json!({"jsonrpc": "2.0", "method": "invoke", "id": "7",
           "params": {"serviceId": service, "operationId": operation, "input": input,
                      "ctx": {"appCtx": {"opId": "op-1"}, "securityCtx": ctx}}})
}

fn input(fields: Value) -> Value {
    json!({"STRUCTURE": {"operation-input": fields}})
}

fn opt(v: Value) -> Value {
    json!({ "OPTIONAL": v })
}

fn structure(name: &str, fields: Value) -> Value {
    json!({"STRUCTURE": { name: fields }})
}

/// The fields of a tagged structure, checking its name.
fn fields<'a>(value: &'a Value, name: &str) -> &'a serde_json::Map<String, Value> {
    value["STRUCTURE"][name].as_object().unwrap_or_else(|| panic!("a {name}: {value}"))
}

async fn library_and_item(rpc: &Rpc) -> (String, String) {
    let backing = structure(
        "com.vmware.content.library.storage_backing",
        json!({"type": opt(json!("DATASTORE")), "datastore_id": opt(json!(cl_sim::DATASTORE_ID))}),
    );
    let spec = structure(
        "com.vmware.content.library_model",
        json!({"name": opt(json!("rpc")), "type": opt(json!("LOCAL")), "storage_backings": opt(json!([backing]))}),
    );
    let library = rpc
        .output(
            "com.vmware.content.local_library",
            "create",
            json!({"client_token": opt(json!("t-1")), "create_spec": spec}),
        )
        .await;
    let library = library.as_str().expect("an id").to_owned();
    let spec = structure(
        "com.vmware.content.library.item_model",
        json!({"library_id": opt(json!(library)), "name": opt(json!("item")), "type": opt(json!("file"))}),
    );
    let item = rpc.output(ITEM, "create", json!({"client_token": opt(Value::Null), "create_spec": spec})).await;
    (library, item.as_str().expect("an id").to_owned())
}

#[tokio::test]
async fn login_session_info_and_logout() {
    let sim = common::sim().await;
    let rpc = Rpc::login(&sim).await;
    let info = rpc.output(SESSION, "get", json!({})).await;
    let info = fields(&info, "com.vmware.cis.session.info");
    assert_eq!(info["user"], sim.username());
    let created = info["created_time"].as_str().unwrap();
    assert!(created.ends_with('Z') && created.len() == "2026-01-01T00:00:00.000Z".len(), "{created}");
    assert_eq!(rpc.output(SESSION, "delete", json!({})).await, Value::Null, "void is null");
    let (name, error) = rpc.error("com.vmware.content.library", "list", json!({})).await;
    assert_eq!(name, "com.vmware.vapi.std.errors.unauthenticated");
    assert_eq!(error["error_type"], opt(json!("UNAUTHENTICATED")));
    assert_eq!(error["challenge"], opt(Value::Null), "unauthenticated declares a challenge");
    assert_eq!(error["data"], opt(Value::Null));
}

#[tokio::test]
async fn datastores_are_listed_as_the_samples_look_them_up() {
    let sim = common::sim().await;
    let rpc = Rpc::login(&sim).await;
    const DATASTORE: &str = "com.vmware.vcenter.datastore";
    let by_name = |names: Value| json!({"filter": opt(structure("com.vmware.vcenter.datastore.filter_spec", json!({"names": opt(names)})))});
    let listed = rpc.output(DATASTORE, "list", by_name(json!([cl_sim::DATASTORE_NAME, "other"]))).await;
    let summary = fields(&listed[0], "com.vmware.vcenter.datastore.summary");
    assert_eq!(summary["datastore"], cl_sim::DATASTORE_ID);
    assert_eq!(summary["type"], "VMFS");
    assert!(summary["free_space"]["OPTIONAL"].is_u64());
    assert_eq!(rpc.output(DATASTORE, "list", by_name(json!(["other"]))).await, json!([]));
    assert_eq!(rpc.output(DATASTORE, "list", json!({"filter": opt(Value::Null)})).await.as_array().unwrap().len(), 1);
    let (name, _) = rpc.error(DATASTORE, "list", by_name(json!("not a set"))).await;
    assert_eq!(name, "com.vmware.vapi.std.errors.invalid_argument");
}

#[tokio::test]
async fn a_wrong_password_or_no_context_is_unauthenticated() {
    let sim = common::sim().await;
    let rpc = Rpc::new(&sim);
    let ctx =
        json!({"schemeId": "com.vmware.vapi.std.security.user_pass", "userName": sim.username(), "password": "x"});
    let reply = rpc.raw(envelope(SESSION, "create", input(json!({})), ctx)).await;
    assert!(reply["result"]["error"]["ERROR"]["com.vmware.vapi.std.errors.unauthenticated"].is_object(), "{reply}");
    assert_eq!(rpc.error(SESSION, "get", json!({})).await.0, "com.vmware.vapi.std.errors.unauthenticated");
    // A session id no header can carry authenticates nobody (and panics nothing).
    let odd = Rpc { token: Some("bad\ntoken".into()), ..Rpc::new(&sim) };
    assert_eq!(odd.error(SESSION, "get", json!({})).await.0, "com.vmware.vapi.std.errors.unauthenticated");
}

#[tokio::test]
async fn upload_and_download_through_json_rpc() {
    let sim = common::sim().await;
    let rpc = Rpc::login(&sim).await;
    let (library, item) = library_and_item(&rpc).await;
    let model = rpc.output("com.vmware.content.local_library", "get", json!({"library_id": library})).await;
    let model = fields(&model, "com.vmware.content.library_model");
    assert_eq!(model["name"], opt(json!("rpc")));
    assert_eq!(model["publish_info"], opt(Value::Null), "every optional field is present, unset ones as null");
    let backing = &model["storage_backings"]["OPTIONAL"][0];
    assert_eq!(
        fields(backing, "com.vmware.content.library.storage_backing")["datastore_id"],
        opt(json!("datastore-sim"))
    );

    let create = structure(
        "com.vmware.content.library.item.update_session_model",
        json!({"library_item_id": opt(json!(item)), "state": opt(Value::Null)}),
    );
    let session = rpc.output(UPDATE, "create", json!({"client_token": opt(json!("u-1")), "create_spec": create})).await;
    let session = session.as_str().unwrap().to_owned();
    let data = b"hello over json-rpc".to_vec();
    let spec = structure(
        "com.vmware.content.library.item.updatesession.file.add_spec",
        json!({"name": "a.bin", "source_type": "PUSH", "size": opt(json!(data.len())), "checksum_info": opt(Value::Null)}),
    );
    let added = rpc.output(UPDATE_FILE, "add", json!({"update_session_id": session, "file_spec": spec})).await;
    let added = fields(&added, "com.vmware.content.library.item.updatesession.file.info");
    assert_eq!(added["status"], "WAITING_FOR_TRANSFER");
    assert_eq!(added["bytes_transferred"], 0);
    let endpoint = fields(&added["upload_endpoint"]["OPTIONAL"], "com.vmware.content.library.item.transfer_endpoint");
    let put = rpc.http.put(endpoint["uri"].as_str().unwrap()).body(data.clone()).send().await.unwrap();
    assert!(put.status().is_success());
    let validation = rpc.output(UPDATE_FILE, "validate", json!({"update_session_id": session})).await;
    let validation = fields(&validation, "com.vmware.content.library.item.updatesession.file.validation_result");
    assert_eq!((&validation["has_errors"], &validation["missing_files"]), (&json!(false), &json!([])));
    rpc.output(UPDATE, "complete", json!({"update_session_id": session})).await;
    let mut state = Value::Null;
    for _ in 0..200 {
        let model = rpc.output(UPDATE, "get", json!({"update_session_id": session})).await;
        state = fields(&model, "com.vmware.content.library.item.update_session_model")["state"].clone();
        if state != opt(json!("ACTIVE")) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(state, opt(json!("DONE")));

    let create = structure(
        "com.vmware.content.library.item.download_session_model",
        json!({"library_item_id": opt(json!(item))}),
    );
    let session =
        rpc.output(DOWNLOAD, "create", json!({"client_token": opt(Value::Null), "create_spec": create})).await;
    let session = session.as_str().unwrap().to_owned();
    let prepared = rpc
        .output(
            DOWNLOAD_FILE,
            "prepare",
            json!({"download_session_id": session, "file_name": "a.bin", "endpoint_type": opt(json!("HTTPS"))}),
        )
        .await;
    assert_eq!(fields(&prepared, "com.vmware.content.library.item.downloadsession.file.info")["name"], "a.bin");
    let mut file = serde_json::Map::new();
    for _ in 0..200 {
        let info =
            rpc.output(DOWNLOAD_FILE, "get", json!({"download_session_id": session, "file_name": "a.bin"})).await;
        file = fields(&info, "com.vmware.content.library.item.downloadsession.file.info").clone();
        if file["status"] == "PREPARED" {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(file["status"], "PREPARED");
    assert_eq!(file["size"], opt(json!(data.len())));
    let endpoint = fields(&file["download_endpoint"]["OPTIONAL"], "com.vmware.content.library.item.transfer_endpoint");
    let body = rpc.http.get(endpoint["uri"].as_str().unwrap()).send().await.unwrap().bytes().await.unwrap();
    assert_eq!(body.as_ref(), data.as_slice());
    let list = rpc.output(DOWNLOAD_FILE, "list", json!({"download_session_id": session})).await;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    let sessions = rpc.output(DOWNLOAD, "list", json!({"library_item_id": opt(json!(item))})).await;
    assert_eq!(sessions, json!([session]));
    rpc.output(DOWNLOAD, "delete", json!({"download_session_id": session})).await;
}

#[tokio::test]
async fn items_and_libraries_are_updated_as_the_python_sdk_sends_it() {
    let sim = common::sim().await;
    let rpc = Rpc::login(&sim).await;
    let (library, item) = library_and_item(&rpc).await;
    let spec = structure(
        "com.vmware.content.library.item_model",
        json!({"name": opt(json!("renamed")), "description": opt(json!("golden")), "version": opt(Value::Null)}),
    );
    let done = rpc.output(ITEM, "update", json!({"library_item_id": item, "update_spec": spec})).await;
    assert_eq!(done, Value::Null, "update is void");
    let model = rpc.output(ITEM, "get", json!({"library_item_id": item})).await;
    let model = fields(&model, "com.vmware.content.library.item_model");
    assert_eq!((&model["name"], &model["description"]), (&opt(json!("renamed")), &opt(json!("golden"))));
    let stale = structure("com.vmware.content.library.item_model", json!({"version": opt(json!("1"))}));
    let (name, _) = rpc.error(ITEM, "update", json!({"library_item_id": item, "update_spec": stale})).await;
    assert_eq!(name, "com.vmware.vapi.std.errors.concurrent_change");

    let spec = structure("com.vmware.content.library_model", json!({"description": opt(json!("rpc images"))}));
    rpc.output("com.vmware.content.library", "update", json!({"library_id": library, "update_spec": spec})).await;
    let model = rpc.output("com.vmware.content.library", "get", json!({"library_id": library})).await;
    let model = fields(&model, "com.vmware.content.library_model");
    assert_eq!((&model["name"], &model["description"]), (&opt(json!("rpc")), &opt(json!("rpc images"))));
    let (name, _) = rpc.error("com.vmware.content.library", "update", json!({"library_id": library})).await;
    assert_eq!(name, "com.vmware.vapi.std.errors.invalid_argument", "update_spec is required");
}

#[tokio::test]
async fn standard_errors_carry_their_name_type_and_messages() {
    let sim = common::sim().await;
    let rpc = Rpc::login(&sim).await;
    let (name, error) = rpc.error(DOWNLOAD, "get", json!({"download_session_id": "nope"})).await;
    assert_eq!(name, "com.vmware.vapi.std.errors.not_found");
    assert_eq!(error["error_type"], opt(json!("NOT_FOUND")));
    let message = fields(&error["messages"][0], "com.vmware.vapi.std.localizable_message");
    assert!(message["default_message"].as_str().unwrap().contains("nope"));
    assert_eq!((&message["args"], &message["params"]), (&json!([]), &opt(Value::Null)));
    assert!(error.get("challenge").is_none(), "only unauthenticated and unauthorized have a challenge");

    // vAPI's own input checks: a missing or mistyped parameter, an unknown operation or service.
    let (name, _) = rpc.error(DOWNLOAD, "get", json!({})).await;
    assert_eq!(name, "com.vmware.vapi.std.errors.invalid_argument");
    let (name, _) = rpc.error(DOWNLOAD, "get", json!({"download_session_id": 5})).await;
    assert_eq!(name, "com.vmware.vapi.std.errors.invalid_argument");
    let (name, _) = rpc.error(DOWNLOAD, "explode", json!({})).await;
    assert_eq!(name, "com.vmware.vapi.std.errors.operation_not_found");
    let (name, _) = rpc.error("com.example.nothing", "get", json!({})).await;
    assert_eq!(name, "com.vmware.vapi.std.errors.operation_not_found");

    let (_, item) = library_and_item(&rpc).await;
    let create = structure("m", json!({"library_item_id": opt(json!(item))}));
    rpc.output(UPDATE, "create", json!({"create_spec": create.clone()})).await;
    let (name, _) = rpc.error(UPDATE, "create", json!({"create_spec": create})).await;
    assert_eq!(name, "com.vmware.vapi.std.errors.resource_busy");
}

#[tokio::test]
async fn injected_call_faults_apply_to_json_rpc_too() {
    let sim = common::sim().await;
    let rpc = Rpc::login(&sim).await;
    sim.faults().fail_calls("library_list", 1, CallFault::Status(503));
    let (name, _) = rpc.error("com.vmware.content.library", "list", json!({})).await;
    assert_eq!(name, "com.vmware.vapi.std.errors.service_unavailable");
    sim.faults().fail_calls("library_list", 1, CallFault::Reset);
    let cut = rpc
        .http
        .post(&rpc.url)
        .body(envelope("com.vmware.content.library", "list", input(json!({})), json!({})).to_string());
    assert!(cut.send().await.is_err(), "the connection is cut");
    assert_eq!(rpc.output("com.vmware.content.library", "list", json!({})).await, json!([]));
    assert_eq!(sim.faults().call_faults_hit(), ["library_list", "library_list"]);
}

#[tokio::test]
async fn malformed_requests_get_json_rpc_errors() {
    let sim = common::sim().await;
    let rpc = Rpc::new(&sim);
    let code = |reply: &Value| reply["error"]["code"].as_i64();
    let reply = rpc.raw_bytes("{not json").await;
    assert_eq!((code(&reply), &reply["id"]), (Some(-32700), &Value::Null), "{reply}");
    for (request, expected) in [
        (json!([1, 2]), -32600),
        (json!({"jsonrpc": "2.0", "method": "invoke"}), -32600),
        (json!({"jsonrpc": "1.0", "method": "invoke", "id": "1"}), -32600),
        (json!({"jsonrpc": "2.0", "method": 5, "id": "1"}), -32600),
        (json!({"jsonrpc": "2.0", "method": "launch", "id": "1"}), -32601),
        (json!({"jsonrpc": "2.0", "method": "invoke", "id": "1"}), -32602),
        (json!({"jsonrpc": "2.0", "method": "invoke", "id": "1", "params": {"serviceId": 1}}), -32602),
        (envelope(SESSION, "get", json!({"STRUCTURE": {"a": {}, "b": {}}}), json!({})), -32602),
        (envelope(SESSION, "get", json!({"WHAT": 1}), json!({})), -32602),
        (envelope(SESSION, "get", json!("a string"), json!({})), -32602),
    ] {
        let reply = rpc.raw(request.clone()).await;
        assert_eq!(code(&reply), Some(expected), "{request} → {reply}");
        assert!(reply["error"]["message"].is_string());
        assert!(reply.get("result").is_none());
    }
}

/// Every node of a valid request replaced, one at a time, by odd values: each reply is a JSON-RPC
/// reply (a result or an error), never a failure of the server.
#[tokio::test]
async fn no_mutation_of_a_request_breaks_the_server() {
    let sim = common::sim().await;
    let rpc = Rpc::login(&sim).await;
    let (_, item) = library_and_item(&rpc).await;
    let create = structure(
        "com.vmware.content.library.item.download_session_model",
        json!({"library_item_id": opt(json!(item)), "client_progress": opt(json!(3))}),
    );
    let ctx = json!({"schemeId": "com.vmware.vapi.std.security.session_id", "sessionId": rpc.token.clone()});
    let valid =
        envelope(DOWNLOAD, "create", input(json!({"client_token": opt(json!("m")), "create_spec": create})), ctx);
    let odd = [
        Value::Null,
        json!(-1),
        json!(1.5),
        json!(true),
        json!("x"),
        json!([]),
        json!({}),
        json!({"OPTIONAL": {"SECRET": 1}}),
        json!([{"STRUCTURE": {"map-entry": {"key": "k", "value": {"STRUCTURE": {}}}}}]),
    ];
    let mut paths = Vec::new();
    collect_paths(&valid, &mut Vec::new(), &mut paths);
    let mut cases = 0;
    for path in &paths {
        for value in &odd {
            let mut request = valid.clone();
            *pointer(&mut request, path) = value.clone();
            let reply = rpc.raw(request).await;
            assert!(reply.get("result").is_some() != reply.get("error").is_some(), "{reply}");
            cases += 1;
        }
    }
    assert!(cases > 150, "only {cases} cases");
    // And the server still works.
    assert!(rpc.output("com.vmware.content.library", "list", json!({})).await.is_array());
}

fn collect_paths(value: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(at.clone());
    let children: Vec<(String, &Value)> = match value {
        Value::Object(map) => map.iter().map(|(k, v)| (k.clone(), v)).collect(),
        Value::Array(items) => items.iter().enumerate().map(|(i, v)| (i.to_string(), v)).collect(),
        _ => Vec::new(),
    };
    for (key, child) in children {
        at.push(key);
        collect_paths(child, at, out);
        at.pop();
    }
}

fn pointer<'a>(value: &'a mut Value, path: &[String]) -> &'a mut Value {
    path.iter().fold(value, |v, key| match v {
        Value::Array(items) => &mut items[key.parse::<usize>().unwrap()],
        other => &mut other[key.as_str()],
    })
}
