//! Test helpers shared by the workspace's crates; a dev-dependency only.

pub mod vcsim;

/// The workspace's root folder.
pub fn workspace() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}
