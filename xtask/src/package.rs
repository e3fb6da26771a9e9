//! `cargo xtask package`: every crate meant for users packages and builds from its own archive,
//! and `clx` without its default `sim` feature links no server crates.

use std::process::Command;

use anyhow::{Context, Result, bail};

use crate::{root, run};

/// The crates a registry would hold, in dependency order. `xtask`, `cl-tests` and `cl-testkit`
/// are `publish = false`.
pub const PUBLISHED: &[&str] = &["cl-codegen", "cl-tls", "cl-vcsp", "cl-api", "cl-sim", "cl-sdk", "cl-cli"];

/// Crates that serve HTTP (or make certificates for a server); none may be in a client's tree.
/// (tower-http stays: reqwest uses its client-side redirect middleware.)
const SERVER_CRATES: &[&str] = &["axum", "rcgen"];
/// Server halves of the HTTP crates a client does need.
const SERVER_FEATURES: &[&str] = &["hyper feature \"server\"", "hyper-util feature \"server"];

pub fn package() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    // `--allow-dirty` so a developer's uncommitted change is what gets checked. cargo's own
    // verification would build each archive alone, every dependency cold, one after another
    // (most of a cold CI run); the archives are built together instead, below.
    let mut package = Command::new(&cargo);
    package.args(["package", "--allow-dirty", "--no-verify"]);
    for name in PUBLISHED {
        package.args(["-p", name]);
    }
    run(&mut package)?;
    build_archives(&cargo)?;
    lean_client(&cargo)?;
    run(Command::new(&cargo).args(["clippy", "-p", "cl-cli", "--no-default-features", "--", "-D", "warnings"]))?;
    lean_clx_says_how_to_get_the_simulator(&cargo)
}

/// Every packaged crate builds from its own archive: each `.crate` is unpacked into a workspace of
/// its own under `target/package-check`, where the siblings it depends on by version resolve to
/// their unpacked archives (`[patch.crates-io]`), never to the source tree; the workspace's lock
/// file and target folder are shared, so only the archives themselves are compiled. (The same
/// guarantee as `cargo package`'s verification, which builds each archive's whole tree alone.)
fn build_archives(cargo: &str) -> Result<()> {
    let root = root();
    let check = root.join("target/package-check");
    if check.exists() {
        std::fs::remove_dir_all(&check).context("clearing target/package-check")?;
    }
    std::fs::create_dir_all(&check)?;
    let version = env!("CARGO_PKG_VERSION");
    let mut members = Vec::new();
    for name in PUBLISHED {
        let archive = root.join(format!("target/package/{name}-{version}.crate"));
        run(Command::new("tar").arg("-xzf").arg(&archive).arg("-C").arg(&check))?;
        members.push(format!("{name}-{version}"));
    }
    let list = |f: &dyn Fn(&String) -> String| members.iter().map(f).collect::<Vec<_>>().join("\n");
    let manifest = format!(
        "# Written by `cargo xtask package`: the packaged crates, built from their archives.\n\
         [workspace]\nresolver = \"3\"\nmembers = [\n{}\n]\n\n[patch.crates-io]\n{}\n",
        list(&|m| format!("    \"{m}\",")),
        list(&|m| format!("{} = {{ path = \"{m}\" }}", m.trim_end_matches(&format!("-{version}")))),
    );
    std::fs::write(check.join("Cargo.toml"), manifest)?;
    std::fs::copy(root.join("Cargo.lock"), check.join("Cargo.lock"))?;
    // The lock file keeps every registry dependency at the version the tree is tested with.
    run(Command::new(cargo)
        .args(["build", "--workspace", "--all-features", "--manifest-path"])
        .arg(check.join("Cargo.toml"))
        .env("CARGO_TARGET_DIR", root.join("target")))?;
    println!("{}: each builds from its own archive", PUBLISHED.join(", "));
    Ok(())
}

/// `clx sim` and `clx demo` (without --url) of a lean build exit 2 and name the missing feature.
fn lean_clx_says_how_to_get_the_simulator(cargo: &str) -> Result<()> {
    for command in [&["sim", "--http"][..], &["demo"][..]] {
        let output = Command::new(cargo)
            .current_dir(root())
            .args(["run", "--quiet", "-p", "cl-cli", "--no-default-features", "--"])
            .args(command)
            .env_remove("CLX_URL")
            .env_remove("GOVC_URL")
            .output()
            .context("running a lean clx")?;
        let stderr = String::from_utf8_lossy(&output.stderr);
        if output.status.code() != Some(2) || !stderr.contains("the `sim` feature") {
            bail!(
                "lean `clx {}` should exit 2 naming the `sim` feature; got {}: {stderr}",
                command.join(" "),
                output.status
            );
        }
    }
    println!("cl-cli --no-default-features: `clx sim` and `clx demo` say how to get the simulator");
    Ok(())
}

/// `cargo tree` of `clx` without `sim`, and of `cl-sdk`: no server crates, no hyper server.
fn lean_client(cargo: &str) -> Result<()> {
    for (package, flags) in [("cl-cli", &["--no-default-features"][..]), ("cl-sdk", &[][..])] {
        let output = Command::new(cargo)
            .current_dir(root())
            .args(["tree", "-e", "normal,features", "--prefix", "none", "-p", package])
            .args(flags)
            .output()
            .with_context(|| format!("running cargo tree for {package}"))?;
        if !output.status.success() {
            bail!("cargo tree -p {package} failed: {}", String::from_utf8_lossy(&output.stderr));
        }
        let tree = String::from_utf8(output.stdout)?;
        let found = server_crates(&tree);
        if !found.is_empty() {
            bail!("{} links server crates: {}", [&[package][..], flags].concat().join(" "), found.join(", "));
        }
        println!("{}: no server crates in its tree", [&[package][..], flags].concat().join(" "));
    }
    Ok(())
}

/// The server crates (and hyper's server feature) named in `cargo tree --prefix none` output.
fn server_crates(tree: &str) -> Vec<String> {
    let mut found: Vec<String> = tree
        .lines()
        .filter_map(|line| {
            let name = line.split_whitespace().next()?;
            if SERVER_CRATES.contains(&name) || SERVER_FEATURES.iter().any(|f| line.starts_with(f)) {
                Some(line.trim().to_owned())
            } else {
                None
            }
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_crates_are_found_in_tree_output() {
        let tree = "cl-cli v0.1.0 (/w)\nreqwest v0.13.5\nhyper v1.12.0\naxum v0.8.1\nhyper feature \"client\"\n\
                    hyper feature \"server\"\nrcgen v0.14.10\naxum v0.8.1 (*)\nhyper-util feature \"server-auto\"\n";
        assert_eq!(
            server_crates(tree),
            [
                "axum v0.8.1",
                "axum v0.8.1 (*)",
                "hyper feature \"server\"",
                "hyper-util feature \"server-auto\"",
                "rcgen v0.14.10"
            ]
        );
        assert!(server_crates("cl-sdk v0.1.0\nhyper v1.12.0\nhyper feature \"client\"\naxum-like v1\n").is_empty());
    }
}
