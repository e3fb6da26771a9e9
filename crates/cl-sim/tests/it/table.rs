//! The simulator routes every operation of the spec's operation table in every wire form: a
//! request built from each route (and a JSON-RPC call by each vAPI name) resolves to exactly that
//! operation. Nobody is logged in, so each request is refused, but only after routing, which the
//! simulator records.

use cl_api::operation::{Body, OPERATIONS, Operation, OperationId, Route, Segment};
use cl_sim::{SimConfig, Simulator};
use serde_json::json;

#[tokio::test]
async fn every_operation_is_routed_in_every_wire_form() {
    for form in ["/api", "/rest", "JSON-RPC"] {
        let sim = Simulator::start(SimConfig::default().plain_http()).await.unwrap();
        let http = reqwest::Client::new();
        for op in &OPERATIONS {
            let before = sim.operations_called();
            let request = match form {
                "/api" => rest_request(&http, sim.url(), &op.api),
                "/rest" => rest_request(&http, sim.url(), op.rest.as_ref().expect("every operation has a /rest form")),
                _ => jsonrpc_request(&http, sim.url(), op),
            };
            let response = request.send().await.unwrap();
            let status = response.status();
            let body = response.text().await.unwrap();
            let after = sim.operations_called();
            let new: Vec<OperationId> = after.difference(&before).copied().collect();
            assert_eq!(new, [op.id], "{form} {}: resolved to {new:?} ({status} {body})", op.name);
            assert!(!body.contains("operation_not_found") && !body.contains("OPERATION_NOT_FOUND"), "{body}");
        }
    }
}

/// The route with every parameter filled in.
fn rest_request(http: &reqwest::Client, base: &str, route: &Route) -> reqwest::RequestBuilder {
    let rest = route.segments[0] == Segment::Literal("rest");
    let path: Vec<String> = route
        .segments
        .iter()
        .map(|s| match s {
            Segment::Literal(text) => (*text).to_owned(),
            Segment::Param(_) => "x1".to_owned(),
            Segment::IdParam(_) => "id:x1".to_owned(),
        })
        .collect();
    let mut query = Vec::new();
    if let Some(action) = route.action {
        query.push((if rest { "~action" } else { "action" }, action));
    }
    if let Some(selector) = route.selector {
        query.push((selector, "a"));
    }
    let mut request =
        http.request(route.method.clone(), format!("{}/{}", base.trim_end_matches('/'), path.join("/"))).query(&query);
    if route.body != Body::None {
        request = request.header("content-type", "application/json").body("{}");
    }
    request
}

fn jsonrpc_request(http: &reqwest::Client, base: &str, op: &Operation) -> reqwest::RequestBuilder {
    let envelope = json!({"jsonrpc": "2.0", "method": "invoke", "id": "1", "params": {
        "serviceId": op.vapi.service, "operationId": op.vapi.name,
        "input": {"STRUCTURE": {"operation-input": {}}}, "ctx": {"appCtx": {}}}});
    http.post(format!("{}/api", base.trim_end_matches('/'))).json(&envelope)
}
