//! The embedded descriptor of a sparse extent: in bounds, and saying what the header says.

use super::*;

/// What the descriptor says of the tool that wrote the disk.
#[derive(Default)]
pub(super) struct Marks {
    /// python3-vmdkstream's comment, `# Created by VMDKstream`.
    pub vmdkstream: bool,
    /// VirtualBox's `ddb.uuid.image`.
    pub virtualbox: bool,
    /// VMware's `ddb.toolsInstallType` (ovftool, vmdk-convert, ESXi exports).
    pub vmware: bool,
}

/// The embedded descriptor: in bounds, and saying what the header says; what it says of its
/// writer.
pub(super) fn descriptor(f: &(impl ReadAt + ?Sized), h: &Header, out: &mut Sink) -> Marks {
    if h.descriptor_offset == 0 {
        no_descriptor(at(28), out);
        return Marks::default();
    }
    let offset = h.descriptor_offset.saturating_mul(SECTOR);
    let size = h.descriptor_size.saturating_mul(SECTOR);
    if h.descriptor_size == 0
        || h.descriptor_size > MAX_DESCRIPTOR_SECTORS
        || offset.saturating_add(size) > f.size()
        || (h.overhead != 0 && offset.saturating_add(size) > h.overhead.saturating_mul(SECTOR))
    {
        out.error(
            "vmdk.descriptor_bounds",
            at(28),
            format!("the embedded descriptor ({size} bytes at {offset}) lies outside the header's area or the file"),
            RECONVERT,
        );
        return Marks::default();
    }
    let mut bytes = vec![0u8; size as usize];
    if f.read_at(&mut bytes, offset).is_err() {
        out.error("vmdk.descriptor_bounds", at(offset), "the embedded descriptor cannot be read", RECOPY);
        return Marks::default();
    }
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let text = String::from_utf8_lossy(&bytes[..end]);
    if text.trim().is_empty() {
        // qemu-img reserves the space in every extent of a split disk and fills only the first.
        no_descriptor(at(offset), out);
        return Marks::default();
    }
    descriptor_text(&text, h, offset, out)
}

fn no_descriptor(at: Option<Location>, out: &mut Sink) {
    out.warning(
        "vmdk.no_descriptor",
        at,
        "no embedded descriptor: one extent of a disk split over several files, not a disk on its own",
        "upload the whole disk as one file: convert the disk's descriptor file, not this extent \
         (qemu-img convert -O vmdk -o subformat=streamOptimized DISK.vmdk OUT.vmdk), and reference OUT.vmdk",
    );
}

fn descriptor_text(text: &str, h: &Header, offset: u64, out: &mut Sink) -> Marks {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let key =
        |name: &str| lines.iter().any(|l| l.split_once('=').is_some_and(|(k, _)| k.trim().eq_ignore_ascii_case(name)));
    let marks = Marks {
        vmdkstream: lines.iter().any(|l| l.starts_with("# Created by VMDKstream")),
        virtualbox: key("ddb.uuid.image"),
        vmware: key("ddb.toolsInstallType"),
    };
    // libvmdk (vmdkinfo, and the tools built on it) refuses a descriptor whose first line is not
    // exactly this signature; python3-vmdkstream writes "# Disk Descriptor File".
    if lines.first() != Some(&"# Disk DescriptorFile") {
        out.warning(
            "vmdk.descriptor_signature",
            at(offset),
            format!(
                "the embedded descriptor starts with {:?}{}, not \"# Disk DescriptorFile\"; vCenter and ESXi read \
                 it, libvmdk-based readers (vmdkinfo, and tools built on libvmdk) refuse it",
                lines.first().map(|l| super::super::ovf::short(l)).unwrap_or_default(),
                if marks.vmdkstream { " (as python3-vmdkstream writes it)" } else { "" }
            ),
            &format!(
                "nothing for vCenter; for libvmdk's sake, write the first line of the descriptor (plain text at offset \
                 {offset}) as \"# Disk DescriptorFile\", or write the disk with another tool (qemu-img convert -O vmdk \
                 -o subformat=streamOptimized DISK.vmdk OUT.vmdk, or VMware's vmdk-convert)"
            ),
        );
    }
    // libvmdk finds the extents and the disk database by these section comments and refuses a
    // descriptor without them (seen with vmdkinfo 20200926); VMware's own writers put both.
    let missing: Vec<&str> = ["# Extent description", "# The Disk Data Base"]
        .into_iter()
        .filter(|section| !lines.iter().any(|l| l.eq_ignore_ascii_case(section)))
        .collect();
    if !missing.is_empty() {
        out.warning(
            "vmdk.descriptor_sections",
            at(offset),
            format!(
                "the embedded descriptor lacks the line {:?}; libvmdk-based readers refuse it",
                missing.join("\" and \"")
            ),
            "nothing for vCenter; for libvmdk's sake, add the two section lines to the descriptor, or write the disk \
             with qemu-img or VMware's vmdk-convert, which write them",
        );
    }
    let value = |key: &str| {
        lines.iter().find_map(|l| {
            let (k, v) = l.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
        })
    };
    match value("createType") {
        None => out.error("vmdk.create_type", at(offset), "the embedded descriptor has no createType", RECONVERT),
        Some(t) if h.stream() && t != "streamOptimized" => out.warning(
            "vmdk.create_type",
            at(offset),
            format!(
                "the header says stream-optimized, the descriptor says createType {:?}",
                super::super::ovf::short(&t)
            ),
            RECONVERT,
        ),
        Some(t) if !h.stream() && t == "streamOptimized" => out.error(
            "vmdk.create_type",
            at(offset),
            "the descriptor says streamOptimized, but the header has no compressed grains and markers",
            RECONVERT,
        ),
        Some(_) => {}
    }
    if value("parentCID").is_some_and(|p| !p.eq_ignore_ascii_case("ffffffff")) {
        out.error(
            "vmdk.delta",
            at(offset),
            "a delta disk: it has a parent, whose data an OVF does not carry",
            "consolidate the disk with its parent (export the VM, or qemu-img convert the top image), then upload that",
        );
    }
    let extents: Vec<&str> =
        lines.iter().copied().filter(|l| ["RW ", "RDONLY ", "NOACCESS "].iter().any(|a| l.starts_with(a))).collect();
    match extents.as_slice() {
        [one] => {
            let mut words = one.split_whitespace().skip(1);
            let sectors = words.next().and_then(|s| s.parse::<u64>().ok());
            let kind = words.next().unwrap_or_default();
            if kind != "SPARSE" {
                out.error(
                    "vmdk.extent",
                    at(offset),
                    format!(
                        "the extent is of type {:?}; a single-file disk has one SPARSE extent",
                        super::super::ovf::short(kind)
                    ),
                    RECONVERT,
                );
            } else if sectors != Some(h.capacity) {
                out.error(
                    "vmdk.extent",
                    at(offset),
                    format!(
                        "the descriptor's extent has {} sectors, the header's capacity is {}",
                        sectors.map_or_else(|| "an unreadable number of".to_owned(), |s| s.to_string()),
                        h.capacity
                    ),
                    RECONVERT,
                );
            }
        }
        [] => out.error("vmdk.extent", at(offset), "the embedded descriptor lists no extent", RECONVERT),
        many => out.error(
            "vmdk.extent",
            at(offset),
            format!("the embedded descriptor lists {} extents; a disk in an OVF is one file", many.len()),
            RECONVERT,
        ),
    }
    marks
}
