//! Project automation, run as `cargo xtask <command>`.
//!
//! * `gen [--check]`: regenerate `crates/cl-api/generated/cl_api.rs` from the spec with the same
//!   generator as cl-api's build.rs, copy the spec into `crates/cl-api/spec/` (what the packaged
//!   crate builds from) and print what changed; `--check` changes nothing and fails when either
//!   is stale.
//! * `validate-spec`: validate the spec with a real OpenAPI 3.0 validator (openapi-spec-validator).
//! * `bench [--docs]`: the SDK side by side with curl (release builds; see `bench.rs`); `--docs`
//!   also puts the table and the throughput plot into `docs/`. `bench --route ova|manifest|publish|deep`
//!   measures one route alone.
//! * `official-sdk`: VMware's official Python SDK against the `cl-sim` binary, in JSON-RPC and both
//!   REST dialects (see `official_sdk.rs`).
//! * `package`: every crate meant for users packages and builds from its own archive (`cargo
//!   package` with verification), and `clx` without the `sim` feature links no server crates.
//! * `public-api [--check]`: `cl-sdk`'s public API against its snapshot (see `public_api.rs`).
//! * `vcsim`: builds govmomi's simulator for the interoperability tests from Debian's packages and
//!   `crates/cl-testkit/vcsim/main.go` into `target/vcsim-deb`.
//! * `ci`: everything CI checks, in order, installing what it needs first (the OpenAPI validator
//!   and the official Python SDK from PyPI, govmomi's vcsim from Debian's packages); nothing
//!   outside the checkout is needed.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, Result, bail};

mod bench;
mod official_sdk;
mod package;
mod plot;
mod public_api;
mod sim;

const USAGE: &str = "usage: cargo xtask <gen [--check] | validate-spec | bench [--docs | --route ova|manifest|publish|deep] | official-sdk | package | public-api [--check] | vcsim | ci>";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let result = match args.as_slice() {
        ["gen"] => generate(false),
        ["gen", "--check"] => generate(true),
        ["validate-spec"] => validate_spec(),
        ["ci"] => ci(),
        ["bench"] => bench::bench(&root(), false),
        ["bench", "--docs"] => bench::bench(&root(), true),
        ["bench", "--route", name] => bench::route(&root(), name),
        ["official-sdk"] => official_sdk::official_sdk(&root()),
        ["vcsim"] => build_vcsim().map(|_| ()),
        ["package"] => package::package(),
        ["public-api"] => public_api::public_api(&root(), false),
        ["public-api", "--check"] => public_api::public_api(&root(), true),
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("xtask: {error:#}");
            ExitCode::FAILURE
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("xtask lives in the workspace").to_owned()
}

/// Regenerates what is derived from the spec (or, with `check`, only compares) and prints a
/// unified diff of each: the bindings' snapshot, and the spec's copy inside `cl-api`'s package.
fn generate(check: bool) -> Result<()> {
    let root = root();
    let spec = cl_codegen::load(&root.join(cl_codegen::SPEC_PATH))?;
    let outputs = [
        (cl_codegen::SNAPSHOT_PATH, cl_codegen::generate(&spec)?),
        (cl_codegen::TABLE_SNAPSHOT_PATH, cl_codegen::generate_table(&spec)?),
        (cl_codegen::PACKAGED_SPEC_PATH, spec.text.clone()),
    ];
    let mut stale = Vec::new();
    for (relative, fresh) in outputs {
        let path = root.join(relative);
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current == fresh {
            println!("{relative} is up to date");
            continue;
        }
        let diff = similar::TextDiff::from_lines(&current, &fresh);
        print!(
            "{}",
            diff.unified_diff()
                .context_radius(3)
                .header(&format!("a/{relative}"), &format!("b/{relative} (from {})", cl_codegen::SPEC_PATH))
        );
        if check {
            stale.push(relative);
            continue;
        }
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(&path, fresh).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {relative}");
    }
    if !stale.is_empty() {
        bail!("{} stale relative to {}: run `cargo xtask gen`", stale.join(" and "), cl_codegen::SPEC_PATH);
    }
    Ok(())
}

/// Runs openapi-spec-validator (a JSON-Schema based validator of the OpenAPI 3.0 meta-schema,
/// plus reference and path-parameter checks), installing it from PyPI when it is missing.
fn validate_spec() -> Result<()> {
    let probe = Command::new("python3").args(["-c", "import openapi_spec_validator"]).output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("xtask: installing openapi-spec-validator from PyPI");
        run(Command::new("python3").args(["-m", "pip", "install", "--quiet", "openapi-spec-validator==0.9.0"]))?;
    }
    run(Command::new("python3")
        .args(["-m", "openapi_spec_validator", "--schema", "3.0"])
        .arg(root().join(cl_codegen::SPEC_PATH)))
}

/// What CI runs: formatting, lints, snapshot freshness, spec validation, then every test.
fn ci() -> Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let step = |name: &str| println!("\n==> {name}");
    step("cargo fmt --check");
    run(Command::new(&cargo).args(["fmt", "--all", "--check"]))?;
    step("generated snapshot is fresh");
    generate(true)?;
    step("spec validates as OpenAPI 3.0");
    validate_spec()?;
    step("cargo clippy");
    run(Command::new(&cargo).args(["clippy", "--workspace", "--all-targets", "--", "-D", "warnings"]))?;
    step("cl-sdk's public API is the committed one");
    public_api::public_api(&root(), true)?;
    step("packages build from their own archives; a lean clx");
    package::package()?;
    step("govmomi's vcsim for the interoperability tests");
    let vcsim = build_vcsim()?;
    step("Debian's tools for the preflight tests (qemu-utils, python3-vmdkstream, libvmdk-utils, openssl)");
    disk_tools()?;
    step("moto's S3 server for the publish-to-S3 tests");
    let moto = official_sdk::moto(&root())?;
    step("cargo test");
    let mut test = Command::new(&cargo);
    test.args(["test", "--workspace"]).env("CL_MOTO", moto);
    if let Some(vcsim) = vcsim {
        test.env("CL_VCSIM", vcsim);
    }
    run(&mut test)?;
    step("the official Python SDK against cl-sim (JSON-RPC, /api, /rest)");
    official_sdk::official_sdk(&root())?;
    Ok(())
}

/// Where `cargo xtask vcsim` puts the binary, and where the interop tests look for it.
const VCSIM_BINARY: &str = "target/vcsim-deb";
/// The project's own vcsim program (govmomi's simulator, served with the tests' certificate).
const VCSIM_SOURCE: &str = "crates/cl-testkit/vcsim/main.go";
/// Where Debian's govmomi source package puts the code, in GOPATH layout.
const GOCODE: &str = "/usr/share/gocode";

/// Builds govmomi's vcsim from Debian's packages (golang-go, golang-github-vmware-govmomi-dev,
/// installed with apt-get when missing) and the project's own `main.go`, in GOPATH mode with no
/// network but Debian's, into `target/vcsim-deb`; a binary newer than the source is kept.
/// Returns `None` (the interop tests then skip, or fail under CI) where it cannot be built.
fn build_vcsim() -> Result<Option<PathBuf>> {
    let root = root();
    let (out, source) = (root.join(VCSIM_BINARY), root.join(VCSIM_SOURCE));
    let modified = |path: &Path| std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if modified(&out).is_some_and(|built| modified(&source).is_some_and(|edited| built >= edited)) {
        println!("{VCSIM_BINARY} is up to date");
        return Ok(Some(out));
    }
    let govmomi = Path::new(GOCODE).join("src/github.com/vmware/govmomi/simulator");
    let have_go = Command::new("go").arg("version").output().is_ok_and(|o| o.status.success());
    if !govmomi.is_dir() || !have_go {
        if !Path::new("/usr/bin/apt-get").exists() {
            eprintln!("xtask: no Go or govmomi source and no apt-get; the vcsim interoperability tests will skip");
            return Ok(None);
        }
        run(Command::new("apt-get").arg("update").arg("-qq"))?;
        run(Command::new("apt-get")
            .args(["install", "-y", "-qq", "--no-install-recommends", "golang-go", "golang-github-vmware-govmomi-dev"])
            .env("DEBIAN_FRONTEND", "noninteractive"))?;
    }
    // GOPATH mode: the program in a package folder of its own, govmomi from Debian's tree.
    let gopath = root.join("target/vcsim-gopath");
    let package = gopath.join("src/clvcsim");
    std::fs::create_dir_all(&package).context("creating the GOPATH folder")?;
    std::fs::copy(&source, package.join("main.go")).context("copying main.go")?;
    let gopath_value = std::env::join_paths([gopath.as_path(), Path::new(GOCODE)])?;
    let status = Command::new("go")
        .args(["build", "-o"])
        .arg(&out)
        .arg(".")
        .current_dir(&package)
        .env("GO111MODULE", "off")
        .env("GOPATH", gopath_value)
        .env("GOCACHE", gopath.join("cache"))
        .env("GOFLAGS", "")
        .status()
        .context("starting go build")?;
    if !status.success() {
        bail!("go build of {VCSIM_SOURCE} failed ({status})");
    }
    println!("built {VCSIM_BINARY}");
    Ok(Some(out))
}

/// Installs the Debian packages whose real disks the preflight tests check (qemu-img and
/// python3-vmdkstream write stream-optimized VMDKs, libvmdk's vmdkinfo reads them back; openssl
/// signs packages as the OVF tool chain does), when any is missing and apt-get is there. Without
/// them the tests skip, or fail under CI.
fn disk_tools() -> Result<()> {
    let present = |path: &str| Path::new(path).exists();
    let wanted = [
        ("qemu-utils", "/usr/bin/qemu-img"),
        ("python3-vmdkstream", "/usr/lib/python3/dist-packages/VMDKstream.py"),
        ("libvmdk-utils", "/usr/bin/vmdkinfo"),
        ("openssl", "/usr/bin/openssl"),
    ];
    let missing: Vec<&str> = wanted.iter().filter(|(_, path)| !present(path)).map(|(package, _)| *package).collect();
    if missing.is_empty() {
        return Ok(());
    }
    if !present("/usr/bin/apt-get") {
        eprintln!("xtask: no apt-get; install {} for the preflight tests", missing.join(", "));
        return Ok(());
    }
    run(Command::new("apt-get").arg("update").arg("-qq"))?;
    run(Command::new("apt-get")
        .args(["install", "-y", "-qq", "--no-install-recommends"])
        .args(&missing)
        .env("DEBIAN_FRONTEND", "noninteractive"))
}

fn run(command: &mut Command) -> Result<()> {
    let status = command.current_dir(root()).status().with_context(|| format!("starting {command:?}"))?;
    if !status.success() {
        bail!("{command:?} failed ({status})");
    }
    Ok(())
}
