//! `cargo xtask public-api [--check]`: the public surface of `cl-sdk` (every item, signature and
//! trait implementation) against the snapshot in `crates/cl-sdk/public-api.txt`, so a change that
//! breaks users is seen in review rather than after a release.
//!
//! How: rustdoc's JSON output, read by the `public-api` library (the engine of `cargo
//! public-api`). rustdoc JSON is unstable, so the machine's stable toolchain is asked for it with
//! `RUSTC_BOOTSTRAP=1`, for this one rustdoc run only; the format is pinned by the toolchain, and
//! `public-api` names the format versions it reads. `cargo semver-checks` was the other choice:
//! it compares against a published baseline, and 0.1 has none yet.

use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};

/// Where the snapshot lives, from the workspace root.
const SNAPSHOT: &str = "crates/cl-sdk/public-api.txt";

pub fn public_api(root: &Path, check: bool) -> Result<()> {
    let target = root.join("target/public-api");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["rustdoc", "-q", "-p", "cl-sdk", "--lib", "--all-features", "--target-dir"])
        .arg(&target)
        .args(["--", "-Z", "unstable-options", "--output-format", "json"])
        .env("RUSTC_BOOTSTRAP", "1")
        .current_dir(root)
        .status()
        .context("running cargo rustdoc")?;
    if !status.success() {
        bail!("cargo rustdoc of cl-sdk failed ({status})");
    }
    let json = target.join("doc/cl_sdk.json");
    let api =
        public_api::Builder::from_rustdoc_json(&json).build().with_context(|| format!("reading {}", json.display()))?;
    undocumented(&json)?;
    let fresh: String = api.items().map(|item| format!("{item}\n")).collect();
    let path = root.join(SNAPSHOT);
    let current = std::fs::read_to_string(&path).unwrap_or_default();
    if current == fresh {
        println!("{SNAPSHOT} is up to date ({} items)", fresh.lines().count());
        return Ok(());
    }
    let diff = similar::TextDiff::from_lines(&current, &fresh);
    print!("{}", diff.unified_diff().context_radius(1).header(&format!("a/{SNAPSHOT}"), "b/(the code now)"));
    if check {
        bail!(
            "cl-sdk's public API differs from {SNAPSHOT}: if the change is meant, run `cargo xtask public-api` \
             and commit the snapshot (and say so in CHANGELOG.md)"
        );
    }
    std::fs::write(&path, fresh).with_context(|| format!("writing {}", path.display()))?;
    println!("wrote {SNAPSHOT}");
    Ok(())
}

/// Every public function, type and trait of cl-sdk has an example in its docs (compiled as a
/// doctest by `cargo test`): the check that this stays so. Fields and enum variants are
/// documented in words; the sealed trait of a private module is not reachable.
fn undocumented(json: &Path) -> Result<()> {
    let text = std::fs::read_to_string(json).with_context(|| format!("reading {}", json.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text)?;
    let index = doc["index"].as_object().context("rustdoc JSON without an index")?;
    let mut missing = Vec::new();
    for item in index.values() {
        let kind = item["inner"].as_object().and_then(|inner| inner.keys().next()).map(String::as_str);
        let public = item["crate_id"] == 0 && item["visibility"] == "public";
        let checked = matches!(kind, Some("function" | "struct" | "enum" | "trait" | "type_alias"));
        let name = item["name"].as_str().unwrap_or_default();
        if !public || !checked || name == "Sealed" {
            continue;
        }
        if !item["docs"].as_str().unwrap_or_default().contains("```") {
            let file = item["span"]["filename"].as_str().unwrap_or("?");
            let line = item["span"]["begin"][0].as_u64().unwrap_or(0);
            missing.push(format!("{file}:{line}: {name}"));
        }
    }
    if !missing.is_empty() {
        missing.sort();
        bail!("public items of cl-sdk without an example in their docs:\n{}", missing.join("\n"));
    }
    Ok(())
}
