//! VMDK sparse extents, hosted sparse and stream-optimized: the header, the embedded descriptor,
//! the grain directory and tables, and a stream-optimized disk's markers, walked from marker to
//! marker without reading a grain. Every seek is bounded by the file's size, and the work by the
//! number of sectors the file holds.
//!
//! Layout and field meanings: VMware, *Virtual Disk Format 5.0*, "Hosted Sparse Extent Header"
//! and "Stream-Optimized Compressed Sparse Extents" (cited as VDF below).

use super::{Location, ReadAt, Sink};

const SECTOR: u64 = 512;
/// VDF: the four bytes `KDMV`, read as a little-endian u32.
const MAGIC: &[u8; 4] = b"KDMV";
/// VDF: a header whose grain directory comes after the grains, found through the footer.
const GD_AT_END: u64 = u64::MAX;
/// VDF flags: bit 0 the newline test is valid, bit 1 a redundant grain table is used, bit 16
/// grains are compressed, bit 17 metadata markers are present.
const FLAG_NEWLINE_TEST: u32 = 1;
const FLAG_REDUNDANT: u32 = 1 << 1;
const FLAG_COMPRESSED: u32 = 1 << 16;
const FLAG_MARKERS: u32 = 1 << 17;
/// VDF marker types.
const MARKER_EOS: u32 = 0;
const MARKER_GT: u32 = 1;
const MARKER_GD: u32 = 2;
const MARKER_FOOTER: u32 = 3;
/// VDF: "numGTEsPerGT … is 512"; a grain table is then 2 KiB, four sectors.
const GTES_PER_GT: u64 = 512;
/// The largest disk taken as sane: 256 TiB in sectors (VMFS's limit is 62 TiB).
const MAX_CAPACITY: u64 = 1 << 39;
/// The largest embedded descriptor read: 1 MiB (vmware writes 1 to 20 sectors).
const MAX_DESCRIPTOR_SECTORS: u64 = 2048;

const RECONVERT: &str =
    "re-export the disk, or convert it again (qemu-img convert -O vmdk -o subformat=streamOptimized)";
const RECOPY: &str = "copy the file again from its source (it is cut short or damaged), then check it again";

/// What the rest of the preflight needs to know of a disk.
#[derive(Debug, Clone, Copy)]
pub(super) struct Disk {
    pub capacity_bytes: u64,
    pub stream_optimized: bool,
}

struct Header {
    version: u32,
    flags: u32,
    capacity: u64,
    grain: u64,
    descriptor_offset: u64,
    descriptor_size: u64,
    gtes_per_gt: u32,
    rgd_offset: u64,
    gd_offset: u64,
    overhead: u64,
    newline: [u8; 4],
    compress: u16,
}

impl Header {
    /// VDF's `SparseExtentHeader`, packed, little-endian.
    fn parse(b: &[u8; 512]) -> Self {
        let u32_at = |o: usize| u32::from_le_bytes(b[o..o + 4].try_into().expect("4 bytes"));
        let u64_at = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8 bytes"));
        Self {
            version: u32_at(4),
            flags: u32_at(8),
            capacity: u64_at(12),
            grain: u64_at(20),
            descriptor_offset: u64_at(28),
            descriptor_size: u64_at(36),
            gtes_per_gt: u32_at(44),
            rgd_offset: u64_at(48),
            gd_offset: u64_at(56),
            overhead: u64_at(64),
            newline: [b[73], b[74], b[75], b[76]],
            compress: u16::from_le_bytes([b[77], b[78]]),
        }
    }

    fn stream(&self) -> bool {
        self.flags & FLAG_COMPRESSED != 0 && self.flags & FLAG_MARKERS != 0
    }

    /// Grain directory entries: one per grain table's worth of sectors.
    fn gdes(&self) -> u64 {
        self.capacity.div_ceil(self.grain * GTES_PER_GT)
    }
}

fn at(offset: u64) -> Option<Location> {
    Some(Location::Offset(offset))
}

/// Checks one VMDK; `Some` when it is a sparse extent whose header could be read.
pub(super) fn check(file: &(impl ReadAt + ?Sized), out: &mut Sink) -> Option<Disk> {
    let f = &super::Windowed::new(file);
    let len = f.size();
    let mut head = [0u8; 512];
    let have = len.min(512) as usize;
    if f.read_at(&mut head[..have], 0).is_err() {
        out.error("vmdk.short", None, "the file cannot be read", RECOPY);
        return None;
    }
    if have >= 4 && &head[..4] != MAGIC {
        magic(&head, out);
        return None;
    }
    if have < 512 {
        out.error("vmdk.short", None, format!("{len} bytes: shorter than a VMDK header (512 bytes)"), RECOPY);
        return None;
    }
    let h = Header::parse(&head);
    if !header_sane(&h, out) {
        return None;
    }
    let stream = h.stream();
    if stream && h.version != 3 {
        // ESXi refuses stream-optimized disks below version 3 ("Not a supported disk format
        // (sparse VMDK version too old)"); qemu-img 2.1.0 to 2.5.0 wrote version 1 (COT's notes
        // on VMDK creation, cot.readthedocs.io, COT.disks.vmdk).
        out.error(
            "vmdk.stream_version",
            at(4),
            format!(
                "a stream-optimized disk with header version {}; ESXi refuses those below 3 (\"sparse VMDK version too old\")",
                h.version
            ),
            "convert it again with qemu-img 2.5.1 or later (qemu-img convert -O vmdk -o subformat=streamOptimized)",
        );
    }
    descriptor(f, &h, out);
    if h.overhead.saturating_mul(SECTOR) > len {
        out.error(
            "vmdk.truncated",
            at(len),
            format!("the file ends at {len} bytes, inside its metadata ({} bytes)", h.overhead.saturating_mul(SECTOR)),
            RECOPY,
        );
        return None;
    }
    let mut gd = (h.gd_offset != GD_AT_END).then_some(h.gd_offset);
    if stream {
        let walk = walk(f, &h, out)?;
        gd = gd.or(walk.footer_gd).or(walk.gd_marker.map(|m| m / SECTOR + 1));
    } else if gd.is_none() {
        out.error(
            "vmdk.gd_at_end",
            at(56),
            "the grain directory is marked as at the end, which only stream-optimized disks may do",
            RECONVERT,
        );
    }
    let compressed = h.flags & FLAG_COMPRESSED != 0;
    if let Some(gd) = gd {
        tables(f, &h, gd, compressed, "grain directory", out);
    }
    // qemu-img sets the redundant-table flag and writes both directories; a damaged copy
    // misleads a reader that prefers it.
    if h.flags & FLAG_REDUNDANT != 0 && h.rgd_offset != 0 && h.rgd_offset != GD_AT_END && !out.has_errors() {
        tables(f, &h, h.rgd_offset, compressed, "redundant grain directory", out);
    }
    Some(Disk { capacity_bytes: h.capacity * SECTOR, stream_optimized: stream })
}

/// Names what a file that is not a sparse extent is instead.
fn magic(head: &[u8; 512], out: &mut Sink) {
    let text = String::from_utf8_lossy(&head[..64]);
    if text.starts_with("# Disk Descriptor") {
        out.error(
            "vmdk.descriptor_only",
            at(0),
            "a descriptor-only VMDK: its data is in other files, which an OVF cannot carry",
            "convert the disk to one stream-optimized file (qemu-img convert -O vmdk -o subformat=streamOptimized)",
        );
    } else if &head[..4] == b"COWD" {
        out.error(
            "vmdk.cowd",
            at(0),
            "an ESXi sparse (COWD) extent, not a hosted sparse or stream-optimized disk",
            RECONVERT,
        );
    } else {
        let shown: String = head[..4].iter().map(|b| format!("{b:02x}")).collect();
        out.error(
            "vmdk.magic",
            at(0),
            format!("not a sparse VMDK: it starts with 0x{shown}, not \"KDMV\""),
            "check that this is the disk the descriptor means, and that it was not damaged in transit",
        );
    }
}

/// Header fields every later step relies on; `false` stops the check.
fn header_sane(h: &Header, out: &mut Sink) -> bool {
    if !(1..=3).contains(&h.version) {
        out.error("vmdk.version", at(4), format!("header version {} (1 to 3 exist)", h.version), RECONVERT);
        return false;
    }
    // VDF: the newline characters detect a file that went through a text-mode transfer.
    if h.flags & FLAG_NEWLINE_TEST != 0 && h.newline != *b"\n \r\n" {
        out.error(
            "vmdk.newline",
            at(73),
            "the header's line-ending test bytes are altered: the file went through a text-mode (ASCII) transfer",
            "copy it again in binary mode",
        );
        return false;
    }
    if h.grain < 8 || !h.grain.is_power_of_two() || h.grain > 2048 {
        out.error(
            "vmdk.grain_size",
            at(20),
            format!("grain size of {} sectors; it must be a power of two from 8 (4 KiB)", h.grain),
            RECONVERT,
        );
        return false;
    }
    if u64::from(h.gtes_per_gt) != GTES_PER_GT {
        out.error(
            "vmdk.gtes_per_gt",
            at(44),
            format!("{} entries per grain table; VMDK has 512", h.gtes_per_gt),
            RECONVERT,
        );
        return false;
    }
    if h.capacity == 0 || h.capacity > MAX_CAPACITY {
        out.error(
            "vmdk.capacity",
            at(12),
            format!("a capacity of {} sectors is not a disk size", h.capacity),
            RECONVERT,
        );
        return false;
    }
    if h.flags & FLAG_COMPRESSED != 0 && h.compress != 1 {
        out.error(
            "vmdk.compression",
            at(77),
            format!("compressed grains with algorithm {}; only 1 (deflate) exists", h.compress),
            RECONVERT,
        );
        return false;
    }
    true
}

/// The embedded descriptor: in bounds, and saying what the header says.
fn descriptor(f: &(impl ReadAt + ?Sized), h: &Header, out: &mut Sink) {
    if h.descriptor_offset == 0 {
        out.warning(
            "vmdk.no_descriptor",
            at(28),
            "no embedded descriptor: an extent of a multi-file disk, not a disk on its own",
            RECONVERT,
        );
        return;
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
        return;
    }
    let mut bytes = vec![0u8; size as usize];
    if f.read_at(&mut bytes, offset).is_err() {
        out.error("vmdk.descriptor_bounds", at(offset), "the embedded descriptor cannot be read", RECOPY);
        return;
    }
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    let text = String::from_utf8_lossy(&bytes[..end]);
    descriptor_text(&text, h, offset, out);
}

fn descriptor_text(text: &str, h: &Header, offset: u64, out: &mut Sink) {
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    // libvmdk (vmdkinfo, and the tools built on it) refuses a descriptor whose first line is not
    // exactly this signature; python3-vmdkstream writes "# Disk Descriptor File".
    if lines.first() != Some(&"# Disk DescriptorFile") {
        out.warning(
            "vmdk.descriptor_signature",
            at(offset),
            format!(
                "the embedded descriptor starts with {:?}, not \"# Disk DescriptorFile\"; libvmdk-based readers refuse it",
                lines.first().map(|l| super::ovf::short(l)).unwrap_or_default()
            ),
            "convert the disk again with qemu-img, or correct the descriptor's first line in place",
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
            "convert the disk again with qemu-img, or add the section lines to the descriptor",
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
            format!("the header says stream-optimized, the descriptor says createType {:?}", super::ovf::short(&t)),
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
                        super::ovf::short(kind)
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
}

/// What the marker walk found.
struct Walk {
    footer_gd: Option<u64>,
    gd_marker: Option<u64>,
}

/// Walks a stream-optimized disk from its first grain to its end-of-stream marker. `None` when
/// the walk found the disk cut or damaged (already reported).
fn walk(f: &(impl ReadAt + ?Sized), h: &Header, out: &mut Sink) -> Option<Walk> {
    let len = f.size();
    // zlib's compressBound for one grain, plus slack: no deflate stream of a grain is larger.
    let grain_bytes = h.grain * SECTOR;
    let max_compressed = grain_bytes + (grain_bytes >> 12) + (grain_bytes >> 14) + 64;
    let gd_sectors = (h.gdes() * 4).div_ceil(SECTOR);
    let mut result = Walk { footer_gd: None, gd_marker: None };
    let mut pos = h.overhead * SECTOR;
    let mut footer = false;
    loop {
        if pos == len {
            break;
        }
        let mut m = [0u8; 16];
        if pos + 16 > len || f.read_at(&mut m, pos).is_err() {
            out.error(
                "vmdk.truncated",
                at(pos),
                format!("the file ends {} bytes into a marker at offset {pos}: the disk is cut short", len - pos),
                RECOPY,
            );
            return None;
        }
        let value = u64::from_le_bytes(m[..8].try_into().expect("8 bytes"));
        let size = u32::from_le_bytes(m[8..12].try_into().expect("4 bytes"));
        let kind = u32::from_le_bytes(m[12..16].try_into().expect("4 bytes"));
        if size != 0 {
            // A grain: its LBA, the compressed size, the deflated data, padding to a sector.
            let end = pos + 12 + u64::from(size);
            if end > len {
                out.error(
                    "vmdk.truncated",
                    at(pos),
                    format!(
                        "the grain at offset {pos} (disk sector {value}) needs {size} bytes, but the file ends {} bytes after its marker: the disk is cut short",
                        len - pos - 12
                    ),
                    RECOPY,
                );
                return None;
            }
            if value >= h.capacity {
                out.error(
                    "vmdk.grain_lba",
                    at(pos),
                    format!("a grain for disk sector {value}, past the capacity of {} sectors", h.capacity),
                    RECONVERT,
                );
            } else if value % h.grain != 0 {
                out.error(
                    "vmdk.grain_lba",
                    at(pos),
                    format!("a grain for disk sector {value}, not on a grain boundary ({} sectors)", h.grain),
                    RECONVERT,
                );
            }
            if u64::from(size) > max_compressed {
                out.error(
                    "vmdk.grain_size_field",
                    at(pos + 8),
                    format!("a compressed grain of {size} bytes, more than a {grain_bytes}-byte grain can deflate to"),
                    RECONVERT,
                );
            }
            if footer {
                out.error("vmdk.marker_order", at(pos), "a grain after the footer", RECONVERT);
            }
            pos = end.next_multiple_of(SECTOR);
            continue;
        }
        // Metadata: `value` is the number of sectors that follow the marker's own sector.
        let expected = match kind {
            MARKER_EOS => {
                if value != 0 {
                    out.error("vmdk.marker", at(pos), "an end-of-stream marker with data after it", RECONVERT);
                }
                if h.gd_offset == GD_AT_END && !footer {
                    out.warning(
                        "vmdk.no_footer",
                        at(pos),
                        "no footer before the end-of-stream marker: readers that seek find no grain directory",
                        RECONVERT,
                    );
                }
                return Some(result);
            }
            MARKER_GT => 4,
            MARKER_GD => gd_sectors,
            MARKER_FOOTER => 1,
            other => {
                out.error("vmdk.marker", at(pos + 12), format!("a marker of unknown type {other}"), RECONVERT);
                return None;
            }
        };
        if value != expected {
            out.error(
                "vmdk.marker",
                at(pos),
                format!("a marker of type {kind} announcing {value} sectors; it carries {expected}"),
                RECONVERT,
            );
            return None;
        }
        let next = pos.saturating_add(SECTOR).saturating_add(value.saturating_mul(SECTOR));
        if next > len {
            out.error(
                "vmdk.truncated",
                at(pos),
                format!("the file ends inside the metadata that starts at offset {pos}: the disk is cut short"),
                RECOPY,
            );
            return None;
        }
        match kind {
            MARKER_GD => result.gd_marker = Some(pos),
            MARKER_FOOTER => {
                footer = true;
                let mut copy = [0u8; 512];
                let read = f.read_at(&mut copy, pos + SECTOR);
                let gd = u64::from_le_bytes(copy[56..64].try_into().expect("8 bytes"));
                if read.is_err() || &copy[..4] != MAGIC || gd == GD_AT_END {
                    out.error(
                        "vmdk.footer",
                        at(pos + SECTOR),
                        "the footer is not a header with the grain directory's offset",
                        RECONVERT,
                    );
                } else {
                    result.footer_gd = Some(gd);
                }
            }
            _ if footer => {
                out.error("vmdk.marker_order", at(pos), "a grain table or directory after the footer", RECONVERT)
            }
            _ => {}
        }
        pos = next;
    }
    // The file ended after a grain or table, with no end-of-stream marker.
    if h.gd_offset == GD_AT_END && result.footer_gd.is_none() && result.gd_marker.is_none() {
        out.error(
            "vmdk.truncated",
            at(len),
            "the stream ends after its last grain, with no grain directory, footer or end-of-stream marker: the disk is cut short",
            RECOPY,
        );
        return None;
    }
    out.warning(
        "vmdk.no_eos",
        at(len),
        "no end-of-stream marker at the end: streaming readers may wait for more",
        RECONVERT,
    );
    Some(result)
}

/// The grain directory at sector `gd` and the tables it points to: in the file, and each entry
/// pointing at a grain of the right disk sector. Stops at the first error.
fn tables(f: &(impl ReadAt + ?Sized), h: &Header, gd: u64, compressed: bool, what: &str, out: &mut Sink) {
    let len = f.size();
    let gdes = h.gdes();
    let gd_at = gd.saturating_mul(SECTOR);
    if gd == 0 || gd_at.saturating_add(gdes * 4) > len {
        out.error(
            "vmdk.gd_bounds",
            at(gd_at),
            format!("the {what} ({gdes} entries at sector {gd}) lies past the end of the file ({len} bytes)"),
            RECOPY,
        );
        return;
    }
    // Allocated grains are each in the file, so there can be no more of them than sectors.
    let mut budget = len / SECTOR + 1;
    let mut table = [0u8; (GTES_PER_GT * 4) as usize];
    let mut gde_bytes = [0u8; 4];
    for i in 0..gdes as usize {
        // Through the window: the directory is read 8 KiB at a time, however large it claims to be.
        if f.read_at(&mut gde_bytes, gd_at + i as u64 * 4).is_err() {
            out.error("vmdk.gd_bounds", at(gd_at), format!("the {what} cannot be read"), RECOPY);
            return;
        }
        let gde = u64::from(u32::from_le_bytes(gde_bytes));
        if gde == 0 {
            continue;
        }
        let gt_at = gde * SECTOR;
        if gt_at + GTES_PER_GT * 4 > len || f.read_at(&mut table, gt_at).is_err() {
            out.error(
                "vmdk.gt_bounds",
                at(gd_at + i as u64 * 4),
                format!("{what} entry {i} points at a grain table at sector {gde}, past the end of the file"),
                RECOPY,
            );
            return;
        }
        for (j, gte) in table.chunks_exact(4).enumerate() {
            let gte = u64::from(u32::from_le_bytes(gte.try_into().expect("4 bytes")));
            // 0: never written (reads as zeros); 1: a zeroed grain.
            if gte <= 1 {
                continue;
            }
            let entry_at = at(gt_at + j as u64 * 4);
            let lba = (i as u64 * GTES_PER_GT + j as u64) * h.grain;
            if lba >= h.capacity {
                out.error(
                    "vmdk.gte_range",
                    entry_at,
                    format!("a grain table entry for disk sector {lba}, past the capacity of {} sectors", h.capacity),
                    RECONVERT,
                );
                return;
            }
            if budget == 0 {
                out.error(
                    "vmdk.gte_range",
                    entry_at,
                    "more grains allocated than the file has sectors: the tables are damaged",
                    RECONVERT,
                );
                return;
            }
            budget -= 1;
            let grain_at = gte * SECTOR;
            if !compressed {
                if grain_at + h.grain * SECTOR > len {
                    out.error(
                        "vmdk.gte_range",
                        entry_at,
                        format!("the grain of disk sector {lba} is at sector {gte}, past the end of the file"),
                        RECOPY,
                    );
                    return;
                }
                continue;
            }
            let mut marker = [0u8; 12];
            if grain_at < h.overhead * SECTOR || f.read_at(&mut marker, grain_at).is_err() {
                out.error(
                    "vmdk.gte_range",
                    entry_at,
                    format!("the grain of disk sector {lba} is at sector {gte}, outside the file's grains"),
                    RECOPY,
                );
                return;
            }
            let found = u64::from_le_bytes(marker[..8].try_into().expect("8 bytes"));
            let size = u32::from_le_bytes(marker[8..].try_into().expect("4 bytes"));
            if found != lba || size == 0 {
                out.error(
                    "vmdk.gte_mismatch",
                    entry_at,
                    format!("the entry for disk sector {lba} points at sector {gte}, where there is no grain for it"),
                    RECONVERT,
                );
                return;
            }
        }
    }
}
