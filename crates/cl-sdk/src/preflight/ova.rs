//! An OVA as an archive: a readable tar of plain, safely named files that all lie within it, in
//! the order DSP0243 §5.3 gives (descriptor, manifest, certificate, then the files in the order
//! the descriptor references them): streaming deployers read it front to back.

use super::{Location, Sink};
use crate::transfer::ova::Broken;

/// POSIX ustar, as DSP0243 §5.3 asks: no sparse or GNU long-name members a streaming reader
/// would take as data.
pub(super) const FIX_REPACK: &str = "pack it again: tar --format=ustar -cf x.ova x.ovf x.mf disk1.vmdk … (the \
     descriptor, the manifest and certificate, then the files in the order the descriptor lists them)";

/// One regular file in the archive.
pub(super) struct Member {
    pub name: String,
    pub offset: u64,
    pub size: u64,
}

/// The archive's plain files, checked; findings for everything else. Members past a problem
/// that stops the reading are not returned.
pub(super) fn members(file: &std::fs::File, out: &mut Sink) -> Vec<Member> {
    let len = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut members: Vec<Member> = Vec::new();
    let found = match crate::transfer::ova::entries(file) {
        Ok(found) => found,
        Err(why) => {
            out.error("ova.tar", None, format!("not a readable tar archive: {why}"), FIX_REPACK);
            return members;
        }
    };
    let mut end = 0;
    for entry in found.entries {
        let (offset, size) = (entry.data, entry.size);
        let raw = entry.name;
        let header_at = Some(Location::Offset(entry.header));
        let kind = entry.kind;
        end = (offset + size).next_multiple_of(512);
        if kind.is_dir() {
            out.warning(
                "ova.entry_type",
                header_at,
                format!("a folder entry {:?}, ignored", super::ovf::short(&raw)),
                FIX_REPACK,
            );
            continue;
        }
        if kind.is_gnu_sparse() {
            // GNU tar -S and tar-rs write holes this way; OVA readers (vCenter, ovftool) take
            // members as plain byte ranges and would read the sparse map as data.
            out.error(
                "ova.sparse",
                header_at,
                format!(
                    "{:?} is stored as a GNU sparse member, which OVA readers do not expand",
                    super::ovf::short(&raw)
                ),
                "pack it again without sparse detection (GNU tar without -S/--sparse, or --format=ustar)",
            );
            continue;
        }
        if !kind.is_file() {
            if !kind.is_pax_global_extensions() {
                out.error(
                    "ova.entry_type",
                    header_at,
                    format!("{:?} is not a plain file but a {kind:?} entry", super::ovf::short(&raw)),
                    FIX_REPACK,
                );
            }
            continue;
        }
        // The one rule every route names files by; hidden names are refused here too, as
        // deployers skip them.
        let name = match crate::transfer::names::member_name(&raw) {
            Ok(name) if !name.starts_with('.') => name,
            _ => {
                out.error(
                    "ova.member_name",
                    header_at,
                    format!("member name {:?} is not a plain file name", super::ovf::short(&raw)),
                    FIX_REPACK,
                );
                continue;
            }
        };
        if members.iter().any(|m| m.name == name) {
            out.error(
                "ova.member_name",
                header_at,
                format!("member {:?} appears twice", super::ovf::short(&name)),
                FIX_REPACK,
            );
            continue;
        }
        members.push(Member { name, offset, size });
    }
    match found.broken {
        Some(Broken::Truncated { entry, len }) => out.error(
            "ova.truncated",
            Some(Location::Offset(entry.header)),
            format!(
                "member {:?} declares {} bytes from offset {}, but the archive ends at {len}: it is cut short",
                super::ovf::short(&entry.name),
                entry.size,
                entry.data
            ),
            "copy the OVA again from its source",
        ),
        Some(Broken::Other { at, why }) => {
            let location = (at > 0).then_some(Location::Offset(at));
            out.error("ova.tar", location, format!("not a readable tar archive: {why}"), FIX_REPACK);
        }
        None => {}
    }
    let end = found.end_block.unwrap_or(end);
    // POSIX tar ends with two zero blocks; readers that stream stop on them.
    if !out.has_errors() && len.saturating_sub(end) < 1024 {
        out.warning(
            "ova.no_end",
            Some(Location::Offset(end)),
            "the archive has no end-of-archive blocks (two zero blocks)",
            FIX_REPACK,
        );
    }
    if members.is_empty() && !out.has_errors() {
        out.error("ova.empty", None, "the archive holds no files", FIX_REPACK);
    }
    members
}

/// DSP0243 §5.3: the descriptor first, then manifest and certificate, then the files in the
/// order of the descriptor's `References`.
pub(super) fn order(names: &[&str], referenced: Option<&[String]>, out: &mut Sink) {
    let is = |name: &str, ext: &str| name.to_ascii_lowercase().ends_with(ext);
    let Some(first) = names.first() else { return };
    if !is(first, ".ovf") {
        out.warning(
            "ova.order",
            None,
            format!(
                "the first member is {:?}, not the descriptor: streaming deployers need it first",
                super::ovf::short(first)
            ),
            FIX_REPACK,
        );
        return;
    }
    let meta = names[1..].iter().take_while(|n| is(n, ".mf") || is(n, ".cert")).count();
    if names[1 + meta..].iter().any(|n| is(n, ".mf") || is(n, ".cert")) {
        out.warning(
            "ova.order",
            None,
            "the manifest or certificate comes after the disks; it belongs right after the descriptor",
            FIX_REPACK,
        );
        return;
    }
    let Some(refs) = referenced else { return };
    let rest: Vec<&str> = names[1 + meta..].iter().copied().filter(|n| refs.iter().any(|r| r == n)).collect();
    let wanted: Vec<&str> = refs.iter().map(String::as_str).filter(|r| rest.contains(r)).collect();
    if rest != wanted {
        out.warning(
            "ova.order",
            None,
            "the files are not in the order the descriptor references them; streaming deployers need that order",
            FIX_REPACK,
        );
    }
}
