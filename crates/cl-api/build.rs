//! Generates the bindings from the spec into OUT_DIR with the shared generator (`cl-codegen`),
//! the same one `cargo xtask gen` uses for the checked-in snapshot.

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let spec_path = cl_codegen::workspace_root(&manifest)?.join(cl_codegen::SPEC_PATH);
    println!("cargo::rerun-if-changed={}", spec_path.display());
    let code = cl_codegen::generate(&cl_codegen::load(&spec_path)?)?;
    std::fs::write(PathBuf::from(std::env::var("OUT_DIR")?).join("cl_api.rs"), code)?;
    Ok(())
}
