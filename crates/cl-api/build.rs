//! Generates the bindings from the spec into OUT_DIR with the shared generator (`cl-codegen`),
//! the same one `cargo xtask gen` uses for the checked-in snapshot. The spec is read from this
//! crate's own `spec/` copy (kept identical to `openapi/` by `cargo xtask gen`), so the crate
//! builds from its package as well as from the workspace.

use std::path::PathBuf;

fn main() -> anyhow::Result<()> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let spec_path = manifest.join(cl_codegen::PACKAGED_SPEC_IN_CRATE);
    println!("cargo::rerun-if-changed={}", spec_path.display());
    let spec = cl_codegen::load(&spec_path)?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("cl_api.rs"), cl_codegen::generate(&spec)?)?;
    std::fs::write(out.join("operations.rs"), cl_codegen::generate_table(&spec)?)?;
    Ok(())
}
