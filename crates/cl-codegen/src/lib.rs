//! The one code generator behind `cl-api`.
//!
//! `crates/cl-api/build.rs` and `cargo xtask gen` both call [`generate`], so the bindings compiled
//! into `cl-api` and the checked-in snapshot reviewers read can never disagree. Everything that
//! shapes the generated code lives here: how the spec is loaded and checked, the progenitor
//! settings, the open enums that replace typify's closed ones, and the final formatting.

use std::path::Path;

use anyhow::{Context, Result, bail};
use progenitor_impl::{GenerationSettings, Generator, HooksMode, InterfaceStyle, TagStyle, TypeImpl};
use quote::quote;
use sha2::{Digest, Sha256};

pub mod lint;
mod open_enum;
mod shapes;
mod table;

/// Where the spec lives, relative to the workspace root: the one hand-curated source of truth.
pub const SPEC_PATH: &str = "openapi/cl-transfer.yaml";
/// The copy of the spec that ships inside `cl-api`'s package, relative to the workspace root, so a
/// packaged `cl-api` generates its bindings without the workspace. `cargo xtask gen` keeps it
/// identical to [`SPEC_PATH`]; `gen --check` fails when they differ.
pub const PACKAGED_SPEC_PATH: &str = "crates/cl-api/spec/cl-transfer.yaml";
/// The same copy, relative to `cl-api`'s own folder (what its `build.rs` reads).
pub const PACKAGED_SPEC_IN_CRATE: &str = "spec/cl-transfer.yaml";
/// Where the reviewed snapshot of the generated code lives, relative to the workspace root.
pub const SNAPSHOT_PATH: &str = "crates/cl-api/generated/cl_api.rs";
/// Where the reviewed snapshot of the operation table lives, relative to the workspace root.
pub const TABLE_SNAPSHOT_PATH: &str = "crates/cl-api/generated/operations.rs";

/// A loaded spec: its text, the YAML tree (for checks progenitor does not make) and the parsed document.
pub struct Spec {
    /// The file's text, hashed into the generated header.
    pub text: String,
    /// The document as plain JSON, for structural checks.
    pub tree: serde_json::Value,
    /// The document as progenitor reads it.
    pub openapi: openapiv3::OpenAPI,
}

/// Reads and parses the spec. Duplicate mapping keys are an error here: parsed straight into
/// `openapiv3` the last duplicate path key would silently win and an operation would vanish.
pub fn load(path: &Path) -> Result<Spec> {
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse(&text).with_context(|| format!("parsing {}", path.display()))
}

/// Parses spec text; see [`load`].
pub fn parse(text: &str) -> Result<Spec> {
    let yaml: serde_norway::Value = serde_norway::from_str(text)?;
    let tree = serde_json::to_value(&yaml).context("the spec must be plain JSON-compatible YAML")?;
    let openapi = serde_json::from_value(tree.clone()).context("not an OpenAPI 3.0 document")?;
    Ok(Spec { text: text.to_owned(), tree, openapi })
}

/// Checks the spec, then generates the bindings as formatted Rust source with an `@generated` header.
pub fn generate(spec: &Spec) -> Result<String> {
    let findings = lint::check(&spec.tree);
    if !findings.is_empty() {
        bail!("the spec breaks {} rule(s):\n  {}", findings.len(), findings.join("\n  "));
    }

    let enums = open_enum::collect(&spec.openapi);
    let mut settings = GenerationSettings::default();
    settings
        .with_interface(InterfaceStyle::Positional)
        .with_tag(TagStyle::Merged)
        .with_derive("PartialEq")
        // The session header, the tracing span and the removal of progenitor's `api-version`
        // header are implemented once, in cl-api's hand-written `ClientHooks`.
        .with_inner_type(quote!(crate::Hooks))
        .with_hooks(HooksMode::Expected);
    for e in &enums {
        settings.with_replacement(
            &e.name,
            format!("crate::types::{}", e.name),
            [TypeImpl::Display, TypeImpl::FromStr].into_iter(),
        );
    }

    let tokens = Generator::new(&settings)
        .generate_tokens(&normalized(&spec.openapi))
        .map_err(|e| anyhow::anyhow!("progenitor: {e}"))?;
    let mut file: syn::File = syn::parse2(tokens).context("progenitor produced invalid Rust")?;
    drop_timeout_constructor(&mut file)?;
    let types = types_module(&mut file)?;
    for e in &enums {
        types.extend(syn::parse2::<syn::File>(open_enum::render(e))?.items);
    }

    Ok(format!("{}{}", header(spec), prettyplease::unparse(&file)))
}

/// Checks the spec, then generates the operation table's data (`OperationId`, `OPERATIONS`) as
/// formatted Rust source for `cl_api::operation`; see the `table` module for what it reads.
pub fn generate_table(spec: &Spec) -> Result<String> {
    let findings = lint::check(&spec.tree);
    if !findings.is_empty() {
        bail!("the spec breaks {} rule(s):\n  {}", findings.len(), findings.join("\n  "));
    }
    Ok(format!("{}{}", header(spec), table::generate(&spec.tree)?))
}

fn header(spec: &Spec) -> String {
    let digest = Sha256::digest(spec.text.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "// @generated by cl-codegen from {SPEC_PATH} (sha256 {hex}).\n\
         // Do not edit by hand: change the spec and run `cargo xtask gen`.\n\n"
    )
}

/// Turns the spec's `…/file?file_name` style keys (VMware's own notation for "same path, told apart
/// by a query parameter") into `…/file?`, which progenitor turns into a clean URL: with the bare
/// name left in, it would send `?file_name&file_name=…`.
fn normalized(api: &openapiv3::OpenAPI) -> openapiv3::OpenAPI {
    let mut api = api.clone();
    api.paths.paths = std::mem::take(&mut api.paths.paths)
        .into_iter()
        .map(|(key, item)| (lint::strip_bare_query(&key).unwrap_or(key), item))
        .collect();
    api
}

/// progenitor's `Client::new` sets a 15 s total timeout, which would kill every long transfer.
/// It is removed; cl-api's hand-written `Client::new` builds a client without a total timeout.
fn drop_timeout_constructor(file: &mut syn::File) -> Result<()> {
    for item in &mut file.items {
        if let syn::Item::Impl(imp) = item
            && imp.trait_.is_none()
            && matches!(&*imp.self_ty, syn::Type::Path(p) if p.path.is_ident("Client"))
        {
            let before = imp.items.len();
            imp.items.retain(|i| !matches!(i, syn::ImplItem::Fn(f) if f.sig.ident == "new"));
            if imp.items.len() < before {
                return Ok(());
            }
        }
    }
    bail!("progenitor's Client::new was not found; the generator needs updating")
}

fn types_module(file: &mut syn::File) -> Result<&mut Vec<syn::Item>> {
    file.items
        .iter_mut()
        .find_map(|item| match item {
            syn::Item::Mod(m) if m.ident == "types" => m.content.as_mut().map(|(_, items)| items),
            _ => None,
        })
        .context("progenitor's `types` module was not found")
}
