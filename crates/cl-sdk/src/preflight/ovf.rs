//! An OVF set as a whole: the descriptor (XML) against the files beside it and the disks in
//! them, the manifest against the files it lists, the certificate against the manifest.
//!
//! Rules: DMTF DSP0243 (*Open Virtualization Format Specification* 2.1), cited by section.

use std::collections::HashSet;

use super::vmdk::Disk;
use super::{Digests, Entry, Finding, Location, ReadAt, Sink};
use crate::transfer::checksum::Hasher;
use crate::transfer::upload::manifest::{Line, parse_line};

/// Descriptors are text; vCenter's own limit is far below this.
const MAX_DESCRIPTOR: u64 = 16 << 20;
/// A manifest has a line per file.
const MAX_MANIFEST: u64 = 1 << 20;
/// DSP0243 §8.1: the OVF 1.x and 2.x envelope namespaces.
const NAMESPACES: [&str; 2] = ["http://schemas.dmtf.org/ovf/envelope/1", "http://schemas.dmtf.org/ovf/envelope/2"];

const FIX_DESCRIPTOR: &str = "correct the descriptor, then regenerate the manifest (it hashes the descriptor too)";
const FIX_SET: &str = "put every file the descriptor references beside it, as exported";

/// A value from the input, shortened for a message.
pub(super) fn short(s: &str) -> String {
    let mut out: String = s.chars().take(60).collect();
    if out.len() < s.len() {
        out.push('…');
    }
    out
}

fn is_kind(name: &str, ext: &str) -> bool {
    name.to_ascii_lowercase().ends_with(ext)
}

/// Checks the set's descriptors, manifests and certificates; the file names the descriptors
/// reference, when there are descriptors and every one could be read.
pub(super) fn check_set(
    entries: &[Entry],
    disks: &[(String, Disk)],
    digests: Digests,
    digested: &[Digested],
    findings: &mut Vec<Finding>,
) -> Option<Vec<String>> {
    let files: Vec<(&str, u64)> = entries.iter().map(|e| (e.name.as_str(), e.data.size())).collect();
    let descriptors: Vec<&Entry> = entries.iter().filter(|e| is_kind(&e.name, ".ovf")).collect();
    // `None` once a descriptor cannot be read: then nothing is called unreferenced.
    let mut referenced: Option<Vec<String>> = Some(Vec::new());
    for d in &descriptors {
        let mut sink = Sink::new(&d.label, findings);
        if descriptors.len() > 1 {
            sink.warning(
                "ovf.several",
                None,
                format!("one of {} descriptors in one set; an item holds one OVF template", descriptors.len()),
                "upload each template into an item of its own",
            );
        }
        if let Some(bytes) = read_small(&d.data, MAX_DESCRIPTOR, "descriptor", &mut sink) {
            match (check_descriptor(&bytes, &View { files: &files, disks }, &mut sink), &mut referenced) {
                (Some(names), Some(all)) => all.extend(names),
                _ => referenced = None,
            }
        } else {
            referenced = None;
        }
    }
    let manifests: Vec<&Entry> = entries.iter().filter(|e| is_kind(&e.name, ".mf")).collect();
    for m in &manifests {
        let mut sink = Sink::new(&m.label, findings);
        if let Some(bytes) = read_small(&m.data, MAX_MANIFEST, "manifest", &mut sink) {
            let needed = referenced.as_deref().filter(|_| !descriptors.is_empty());
            check_manifest_in(&bytes, entries, needed, digests, digested, &mut sink);
        }
    }
    for cert in entries.iter().filter(|e| is_kind(&e.name, ".cert")) {
        let mut sink = Sink::new(&cert.label, findings);
        if let Some(bytes) = read_small(&cert.data, MAX_MANIFEST, "certificate", &mut sink) {
            super::signature::check(&bytes, &manifests, &mut sink);
        }
        drop(sink);
        if manifests.is_empty() {
            // DSP0243 §5.2: the certificate signs the manifest's digest.
            Sink::new(&cert.label, findings).error(
                "ovf.cert_without_manifest",
                None,
                "a certificate without a manifest: it signs the manifest, so the package cannot verify",
                "add the manifest the certificate was made for, or leave the certificate out",
            );
        }
    }
    let referenced = referenced.filter(|_| !descriptors.is_empty())?;
    for e in entries {
        let extra = ![".ovf", ".mf", ".cert"].iter().any(|x| is_kind(&e.name, x));
        if extra && !referenced.contains(&e.name) {
            Sink::new(&e.label, findings).warning(
                "ovf.unreferenced",
                None,
                "the descriptor does not reference this file: the item stores it, a deploy ignores it",
                "leave it out of the upload, or add it to the descriptor's References",
            );
        }
    }
    Some(referenced)
}

fn read_small(data: &(impl ReadAt + ?Sized), max: u64, what: &str, out: &mut Sink) -> Option<Vec<u8>> {
    if data.size() > max {
        out.error(
            "ovf.too_large",
            None,
            format!("{} bytes; more than a {what} can be ({max} bytes at most)", data.size()),
            "check that the file is what its name says",
        );
        return None;
    }
    let mut bytes = vec![0u8; data.size() as usize];
    match data.read_at(&mut bytes, 0) {
        Ok(()) => Some(bytes),
        Err(e) => {
            out.error("ovf.unreadable", None, format!("cannot be read: {e}"), "check the file");
            None
        }
    }
}

/// The rest of the set, as the descriptor's checks see it.
pub(super) struct View<'a> {
    files: &'a [(&'a str, u64)],
    disks: &'a [(String, Disk)],
}

impl View<'static> {
    pub(super) const EMPTY: View<'static> = View { files: &[], disks: &[] };
}

/// Checks a descriptor; the file names its `References` name, `None` when it cannot be read.
pub(super) fn check_descriptor(bytes: &[u8], set: &View<'_>, out: &mut Sink) -> Option<Vec<String>> {
    let Ok(text) = std::str::from_utf8(bytes) else {
        out.error("ovf.xml", None, "the descriptor is not UTF-8 text", FIX_DESCRIPTOR);
        return None;
    };
    let doc = match roxmltree::Document::parse(text) {
        Ok(doc) => doc,
        Err(e) => {
            let line = Some(Location::Line(e.pos().row as usize));
            out.error("ovf.xml", line, format!("the descriptor is not well-formed XML: {e}"), FIX_DESCRIPTOR);
            return None;
        }
    };
    let line = |node: roxmltree::Node| Some(Location::Line(doc.text_pos_at(node.range().start).row as usize));
    let root = doc.root_element();
    if root.tag_name().name() != "Envelope" {
        out.error(
            "ovf.envelope",
            line(root),
            format!("the root element is <{}>, not an OVF <Envelope>", short(root.tag_name().name())),
            FIX_DESCRIPTOR,
        );
        return None;
    }
    if !root.tag_name().namespace().is_some_and(|ns| NAMESPACES.contains(&ns)) {
        out.warning(
            "ovf.namespace",
            line(root),
            format!(
                "the Envelope's namespace is {:?}, not OVF 1.x or 2.x",
                short(root.tag_name().namespace().unwrap_or(""))
            ),
            FIX_DESCRIPTOR,
        );
    }
    let attr = |node: roxmltree::Node<'_, '_>, name: &str| {
        node.attributes().find(|a| a.name() == name).map(|a| a.value().to_owned())
    };
    let children = |parent: &str, child: &'static str| {
        let parents: Vec<_> = root.children().filter(|n| n.tag_name().name() == parent).collect();
        parents.into_iter().flat_map(move |p| p.children().filter(move |n| n.tag_name().name() == child))
    };
    let mut ids: Vec<(String, String)> = Vec::new();
    let mut hrefs = Vec::new();
    for file in children("References", "File") {
        let Some(href) = attr(file, "href") else {
            out.error("ovf.file_href", line(file), "a References/File without an href", FIX_DESCRIPTOR);
            continue;
        };
        let id = attr(file, "id").unwrap_or_default();
        if hrefs.contains(&href) || (!id.is_empty() && ids.iter().any(|(i, _)| *i == id)) {
            out.error(
                "ovf.duplicate",
                line(file),
                format!("File {:?} (id {:?}) is referenced twice", short(&href), short(&id)),
                FIX_DESCRIPTOR,
            );
        }
        ids.push((id, href.clone()));
        hrefs.push(href.clone());
        if href.contains("://") {
            out.error(
                "ovf.href_url",
                line(file),
                format!("File {:?} is a URL; an item holds its files itself", short(&href)),
                "download the file, put it beside the descriptor and reference it by name",
            );
            continue;
        }
        if href.contains(['/', '\\']) || href.starts_with('.') || href.is_empty() {
            out.error(
                "ovf.href_path",
                line(file),
                format!("File {:?} is a path; an item's files are one flat folder", short(&href)),
                "move the file beside the descriptor and reference it by its bare name",
            );
            continue;
        }
        if attr(file, "compression").is_some_and(|c| c != "identity") {
            out.warning(
                "ovf.compressed",
                line(file),
                format!("File {:?} is compressed: its size and contents are not checked", short(&href)),
                "nothing, if the consumer takes compressed files; ovftool and vCenter do",
            );
        }
        if attr(file, "chunkSize").is_some() {
            out.warning(
                "ovf.chunked",
                line(file),
                format!("File {:?} is split in chunks ({}.000, …), which are not checked", short(&href), short(&href)),
                "export without chunking for a content library",
            );
            continue;
        }
        let Some(&(_, actual)) = set.files.iter().find(|(n, _)| *n == href) else {
            let near = set.files.iter().find(|(n, _)| n.eq_ignore_ascii_case(&href));
            let problem = match near {
                Some((n, _)) => {
                    format!("references {:?}, which is not in the set ({:?} differs in case)", short(&href), short(n))
                }
                None => format!("references {:?}, which is not in the set", short(&href)),
            };
            out.error("ovf.missing_file", line(file), problem, FIX_SET);
            continue;
        };
        match attr(file, "size").map(|s| s.trim().parse::<u64>()) {
            None => {}
            Some(Err(_)) => out.error(
                "ovf.size_value",
                line(file),
                format!("File {:?} has a size that is not a number", short(&href)),
                FIX_DESCRIPTOR,
            ),
            // DSP0243 §7.1: ovf:size is the file's size in bytes.
            Some(Ok(size)) if size != actual => out.error(
                "ovf.size",
                line(file),
                format!("File {:?} is declared as {size} bytes, and is {actual} bytes", short(&href)),
                "use the file the descriptor was written for, or correct its ovf:size",
            ),
            Some(Ok(_)) => {}
        }
    }
    for disk in children("DiskSection", "Disk") {
        let Some(file_ref) = attr(disk, "fileRef") else { continue };
        let Some((_, href)) = ids.iter().find(|(id, _)| *id == file_ref) else {
            out.error(
                "ovf.disk_file_ref",
                line(disk),
                format!("Disk fileRef {:?} names no References/File id", short(&file_ref)),
                FIX_DESCRIPTOR,
            );
            continue;
        };
        let Some((_, vmdk)) = set.disks.iter().find(|(n, _)| n == href) else { continue };
        disk_capacity(disk, &attr(disk, "capacity"), &attr(disk, "capacityAllocationUnits"), vmdk, line(disk), out);
        let format = attr(disk, "format").unwrap_or_default();
        if format.contains("streamOptimized") && !vmdk.stream_optimized {
            out.error(
                "ovf.disk_format",
                line(disk),
                format!("Disk {:?} is declared stream-optimized and is not", short(href)),
                "convert it (qemu-img convert -O vmdk -o subformat=streamOptimized DISK.vmdk OUT.vmdk), then update the \
                 descriptor's sizes and the manifest",
            );
        } else if vmdk.stream_optimized && !format.contains("streamOptimized") {
            out.warning(
                "ovf.disk_format",
                line(disk),
                format!("Disk {:?} is stream-optimized, its format says {:?}", short(href), short(&format)),
                "set ovf:format to http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized",
            );
        }
    }
    Some(hrefs)
}

fn disk_capacity(
    disk: roxmltree::Node,
    capacity: &Option<String>,
    units: &Option<String>,
    vmdk: &Disk,
    at: Option<Location>,
    out: &mut Sink,
) {
    let name = disk.attributes().find(|a| a.name() == "diskId").map(|a| a.value()).unwrap_or("?");
    // DSP0243 §9.1: capacity in units of capacityAllocationUnits (default bytes), which is
    // "byte", "byte * 2^N" or "byte * N" (DSP0004 programmatic units).
    let Some(capacity) = capacity.as_deref().and_then(|c| c.trim().parse::<u64>().ok()) else {
        out.error(
            "ovf.capacity_value",
            at,
            format!("Disk {:?} has no numeric capacity (a property reference is not checked)", short(name)),
            FIX_DESCRIPTOR,
        );
        return;
    };
    let Some(unit) = allocation_unit(units.as_deref().unwrap_or("byte")) else {
        out.warning(
            "ovf.capacity_units",
            at,
            format!(
                "Disk {:?} has capacity units {:?}, which are not read here",
                short(name),
                short(units.as_deref().unwrap_or(""))
            ),
            "use \"byte * 2^N\"",
        );
        return;
    };
    let Some(bytes) = capacity.checked_mul(unit) else {
        out.error(
            "ovf.capacity_value",
            at,
            format!("Disk {:?} has a capacity past any disk size", short(name)),
            FIX_DESCRIPTOR,
        );
        return;
    };
    if bytes < vmdk.capacity_bytes {
        out.error(
            "ovf.capacity",
            at,
            format!(
                "Disk {:?} is declared as {bytes} bytes, smaller than its VMDK's {} bytes",
                short(name),
                vmdk.capacity_bytes
            ),
            "set ovf:capacity to the disk's size, or use the disk the descriptor was written for",
        );
    } else if bytes > vmdk.capacity_bytes {
        out.warning(
            "ovf.capacity",
            at,
            format!(
                "Disk {:?} is declared as {bytes} bytes, larger than its VMDK's {} bytes",
                short(name),
                vmdk.capacity_bytes
            ),
            "check that this is the disk the descriptor was written for",
        );
    }
}

/// `byte`, `byte * 2^30`, `byte * 1024` (spaces optional); `None` for anything else.
fn allocation_unit(units: &str) -> Option<u64> {
    let compact: String = units.chars().filter(|c| !c.is_whitespace()).collect();
    let rest = compact.strip_prefix("byte")?;
    if rest.is_empty() {
        return Some(1);
    }
    let factor = rest.strip_prefix('*')?;
    match factor.split_once('^') {
        Some((base, exp)) => base.parse::<u64>().ok()?.checked_pow(exp.parse().ok()?),
        None => factor.parse().ok(),
    }
}

/// A file's digest already taken (by the grain pass): its name, the algorithm and the hex.
pub(super) type Digested = (String, cl_api::types::ChecksumAlgorithm, String);

/// The files the set's manifests list, with the algorithm of each: the digests to take while
/// the disks are read anyway.
pub(super) fn listed(entries: &[Entry]) -> Vec<(String, cl_api::types::ChecksumAlgorithm)> {
    let mut listed = Vec::new();
    for m in entries.iter().filter(|e| is_kind(&e.name, ".mf") && e.data.size() <= MAX_MANIFEST) {
        let mut bytes = vec![0u8; m.data.size() as usize];
        if m.data.read_at(&mut bytes, 0).is_ok() {
            let text = String::from_utf8_lossy(&bytes);
            listed.extend(text.lines().filter_map(|l| parse_line(l.trim())).map(|l| (l.name.to_owned(), l.algorithm)));
        }
    }
    listed
}

/// A manifest on its own (fuzzing): its lines only.
pub(super) fn check_manifest(bytes: &[u8], entries: &[Entry], digests: Digests, out: &mut Sink) {
    check_manifest_in(bytes, entries, None, digests, &[], out);
}

/// How to write a manifest in the form DSP0243 gives and vCenter reads, with tools every build
/// machine has. Not `openssl dgst`: OpenSSL 3 names the algorithm `SHA2-256`, which vCenter
/// refuses ("Invalid OVF checksum algorithm"); not `sha256sum --tag`: its `SHA256 (x) = …`
/// spacing is refused by ESXi and Workstation.
pub(super) const FIX_MANIFEST: &str = "write the manifest again from the files: \
     sha256sum x.ovf disk1.vmdk … | sed -E 's/^([0-9a-f]+) [ *](.*)$/SHA256(\\2)= \\1/' > x.mf";

/// A manifest: its lines parse, name files of the set, use an algorithm the service takes, list
/// every file the descriptor references, and (with `Digests::Verify`) match.
fn check_manifest_in(
    bytes: &[u8],
    entries: &[Entry],
    needed: Option<&[String]>,
    digests: Digests,
    digested: &[Digested],
    out: &mut Sink,
) {
    let fix = FIX_MANIFEST;
    let text = String::from_utf8_lossy(bytes);
    let mut listed: HashSet<&str> = HashSet::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        let at = Some(Location::Line(n + 1));
        let Some(Line { algorithm, name, digest }) = parse_line(line) else {
            // The service verifies SHA1, SHA256 and SHA512 digests (MD5 is in its enum, not in
            // OVF manifests); DSP0243 §5.1 names SHA1, SHA256 and SHA512.
            let algorithm = line.split_once('(').map(|(a, _)| a.trim()).filter(|a| a.len() <= 16);
            let problem = match algorithm {
                Some(a) if a.eq_ignore_ascii_case("SHA2-256") || a.eq_ignore_ascii_case("SHA2-512") => format!(
                    "digest algorithm {a:?}, as OpenSSL 3's openssl dgst names it: vCenter refuses it (\"Invalid OVF \
                     checksum algorithm\"); manifests say SHA256 or SHA512"
                ),
                Some(a) if line.contains(") = ") && !a.is_empty() => format!(
                    "{:?} is spaced as sha256sum --tag writes it (\"SHA256 (x) = …\"); DSP0243's form, which vCenter \
                     reads, is \"SHA256(x)= …\"",
                    short(line)
                ),
                Some(a) if line.contains(")=") && !a.is_empty() => {
                    format!("digest algorithm {:?}: manifests use SHA1, SHA256 or SHA512", short(a))
                }
                _ => format!("{:?} is not a manifest line (ALGORITHM(file)= hex)", short(line)),
            };
            out.error("ovf.manifest_line", at, problem, fix);
            continue;
        };
        let hex_len = match algorithm {
            cl_api::types::ChecksumAlgorithm::Sha1 => 40,
            cl_api::types::ChecksumAlgorithm::Sha256 => 64,
            _ => 128,
        };
        if digest.len() != hex_len {
            out.error(
                "ovf.manifest_line",
                at.clone(),
                format!("the {algorithm} digest of {:?} has {} hex digits, not {hex_len}", short(name), digest.len()),
                fix,
            );
        }
        if line.split_once('(').is_some_and(|(a, _)| a.ends_with(char::is_whitespace)) {
            // GNU sha256sum --tag and BSD sha256 write "SHA256 (x) = …"; ESXi and Workstation
            // read "SHA256 " as the algorithm ("Invalid OVF checksum algorithm: SHA256 ").
            out.warning(
                "ovf.manifest_spacing",
                at.clone(),
                "spaces around the file name (\"SHA256 (x) = …\", as sha256sum --tag writes): DSP0243's form is \
                 \"SHA256(x)= …\", and ESXi and Workstation refuse the spaced one",
                fix,
            );
        }
        if !listed.insert(name) {
            out.warning("ovf.manifest_twice", at.clone(), format!("{:?} is listed twice", short(name)), fix);
        }
        let Some(entry) = entries.iter().find(|e| e.name == name) else {
            if needed.is_some() {
                out.error(
                    "ovf.manifest_unknown",
                    at,
                    format!("lists {:?}, which is not in the set", short(name)),
                    "add the file, or regenerate the manifest from the files there are",
                );
            }
            continue;
        };
        if digests == Digests::Verify && digest.len() == hex_len {
            let taken = digested.iter().find(|(n, a, _)| n == name && *a == algorithm).map(|(_, _, hex)| hex.clone());
            match taken.map_or_else(|| digest_of(&entry.data, &algorithm), Ok) {
                Ok(actual) if actual.eq_ignore_ascii_case(digest) => {}
                Ok(actual) => out.error(
                    "ovf.digest",
                    at,
                    format!("{:?} has {algorithm} {actual}, the manifest says {digest}", short(name)),
                    "the file changed since the manifest was made: use the original, or regenerate the manifest",
                ),
                Err(e) => {
                    out.error("ovf.unreadable", at, format!("{:?} cannot be read: {e}", short(name)), "check the file")
                }
            }
        }
    }
    // DSP0243 §5.1: the manifest holds a digest of every file the package references.
    for name in needed.unwrap_or_default() {
        if !listed.contains(name.as_str()) && entries.iter().any(|e| e.name == *name) {
            out.error(
                "ovf.manifest_missing",
                None,
                format!("{:?} is referenced by the descriptor but not listed in the manifest", short(name)),
                fix,
            );
        }
    }
}

fn digest_of(data: &(impl ReadAt + ?Sized), algorithm: &cl_api::types::ChecksumAlgorithm) -> std::io::Result<String> {
    let mut hasher = Hasher::new(algorithm).map_err(std::io::Error::other)?;
    let mut buf = vec![0u8; 1 << 20];
    let mut offset = 0;
    while offset < data.size() {
        let n = (data.size() - offset).min(buf.len() as u64) as usize;
        data.read_at(&mut buf[..n], offset)?;
        hasher.update(&buf[..n]);
        offset += n as u64;
    }
    Ok(hasher.hex())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_units_in_the_forms_exporters_write() {
        assert_eq!(allocation_unit("byte"), Some(1));
        assert_eq!(allocation_unit("byte * 2^30"), Some(1 << 30));
        assert_eq!(allocation_unit("byte*2^20"), Some(1 << 20));
        assert_eq!(allocation_unit("byte * 1024"), Some(1024));
        assert_eq!(allocation_unit("byte * 2^99"), None);
        assert_eq!(allocation_unit("MegaBytes"), None);
    }
}
