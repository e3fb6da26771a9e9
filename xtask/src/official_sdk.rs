//! `cargo xtask official-sdk`: VMware's official Python SDK (`vmware-vcenter`, pinned in
//! `tests/python/requirements.txt`) drives the `cl-sim` binary over HTTPS with its CA, in all three
//! protocols it speaks (JSON-RPC, REST on `/api`, REST on `/rest`); see `tests/python/official_sdk.py`.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result};

use crate::{run, sim};

pub fn official_sdk(root: &Path) -> Result<()> {
    let work = root.join("target/official-sdk");
    let venv = work.join("venv");
    let python = venv.join("bin/python");
    if !python.is_file() {
        std::fs::create_dir_all(&work)?;
        run(Command::new("python3").arg("-m").arg("venv").arg(&venv))
            .context("making a Python virtual environment (on Debian or Ubuntu, install python3-venv)")?;
    }
    run(Command::new(&python)
        .args(["-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-r"])
        .arg(root.join("tests/python/requirements.txt")))?;
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    run(Command::new(cargo).args(["build", "--quiet", "-p", "cl-sim", "--bin", "cl-sim"]))?;
    let ca = work.join("ca.pem");
    let ca = ca.to_str().context("a UTF-8 target path")?;
    let sim = sim::start(&root.join("target/debug/cl-sim"), &["--ca-out", ca], None)?;
    // The script reads the simulator's CL_SIM_* lines from its environment.
    run(Command::new(&python).arg(root.join("tests/python/official_sdk.py")).envs(&sim.vars))
}
