//! `cargo xtask official-sdk`: VMware's official Python SDK (`vmware-vcenter`, pinned in
//! `tests/python/requirements.txt`) drives the `cl-sim` binary over HTTPS with its CA, in all three
//! protocols it speaks (JSON-RPC, REST on `/api`, REST on `/rest`); see `tests/python/official_sdk.py`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::{run, sim};

pub fn official_sdk(root: &Path) -> Result<()> {
    let work = root.join("target/official-sdk");
    let python = venv_with(root, "tests/python/requirements.txt")?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo).args(["build", "--quiet", "-p", "cl-sim", "--bin", "cl-sim"]))?;
    let ca = work.join("ca.pem");
    let ca = ca.to_str().context("a UTF-8 target path")?;
    let routes = work.join("rest-routes.json");
    std::fs::write(&routes, rest_routes().to_string())?;
    let sim = sim::start(&root.join("target/debug/cl-sim"), &["--ca-out", ca], None)?;
    // The script reads the simulator's CL_SIM_* lines from its environment.
    run(Command::new(&python)
        .arg(root.join("tests/python/official_sdk.py"))
        .envs(&sim.vars)
        .env("CL_REST_ROUTES", &routes))
}

/// The tests' Python virtual environment (`target/official-sdk/venv`, made when missing) with
/// the pinned packages of `requirements` installed; returns its `python`.
pub fn venv_with(root: &Path, requirements: &str) -> Result<std::path::PathBuf> {
    let venv = root.join("target/official-sdk/venv");
    let python = venv.join("bin/python");
    if !python.is_file() {
        std::fs::create_dir_all(root.join("target/official-sdk"))?;
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
            .context("making a Python virtual environment (on Debian or Ubuntu, install python3-venv)")?;
    }
    run(Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(root.join(requirements)))?;
    Ok(python)
}

/// moto's S3 server for the publish-to-S3 tests, in the same environment; returns `moto_server`.
pub fn moto(root: &Path) -> Result<std::path::PathBuf> {
    let python = venv_with(root, "tests/python/requirements-s3.txt")?;
    Ok(python.with_file_name("moto_server"))
}

/// vCenter's `/rest` routes, which the SDK does not ship (it has the `/api` ones only), from the
/// operation table: `[service, operation, method, URL template under /rest, path variables,
/// query parameters]` for each operation. Inputs that fill a nested field (`filter.names`) are
/// left out; the script does not use them.
fn rest_routes() -> serde_json::Value {
    use cl_api::operation::{OPERATIONS, Segment};
    let routes: Vec<serde_json::Value> = OPERATIONS
        .iter()
        .filter_map(|op| op.rest.as_ref().map(|route| (op, route)))
        .map(|(op, route)| {
            let mut template = String::new();
            let mut path = serde_json::Map::new();
            for segment in &route.segments[1..] {
                match segment {
                    Segment::Literal(text) => template += &format!("/{text}"),
                    Segment::Param(name) | Segment::IdParam(name) => {
                        let prefix = if matches!(segment, Segment::IdParam(_)) { "id:" } else { "" };
                        template += &format!("/{prefix}{{{name}}}");
                        path.insert((*name).to_owned(), (*name).into());
                    }
                }
            }
            if let Some(action) = route.action {
                template += &format!("?~action={action}");
            }
            let query: serde_json::Map<String, serde_json::Value> = route
                .query
                .iter()
                .filter(|q| !q.input.contains('.'))
                .map(|q| (q.input.to_owned(), q.name.into()))
                .collect();
            serde_json::json!([op.vapi.service, op.vapi.name, route.method.as_str(), template, path, query])
        })
        .collect();
    serde_json::Value::Array(routes)
}
