//! VMDK sparse extents, hosted sparse and stream-optimized: the header, the embedded descriptor,
//! the grain directory and tables, and a stream-optimized disk's markers, walked from marker to
//! marker without reading a grain. Every seek is bounded by the file's size, and the work by the
//! number of sectors the file holds.
//!
//! Layout and field meanings: VMware, *Virtual Disk Format 5.0*, "Hosted Sparse Extent Header"
//! and "Stream-Optimized Compressed Sparse Extents" (cited as VDF below). Here: the header and
//! what every layout shares; `descriptor` the embedded descriptor, `stream` the marker walk of a
//! stream-optimized disk, `sparse` the grain directory and tables both layouts have.

mod descriptor;
mod grains;
mod sparse;
mod stream;

use descriptor::descriptor;
use sparse::tables;
use stream::walk;

use super::{Location, Producer, ReadAt, Sink};
use crate::transfer::checksum::Hasher;

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

/// For a disk whose structure is wrong in a way no writer means: build it again from its source.
/// Which tool wrote it is unknown this early, so both kinds of writer are named.
const RECONVERT: &str = "build the disk again from its source image (VMware's vmdk-convert or ovftool, or qemu-img \
     convert -O vmdk -o subformat=streamOptimized), or export it again";
const RECOPY: &str = "copy the file again from its source (it is cut short or damaged), then check it again";

/// What the rest of the preflight needs to know of a disk.
#[derive(Debug, Clone)]
pub(super) struct Disk {
    pub capacity_bytes: u64,
    pub stream_optimized: bool,
    pub producer: Option<(Producer, &'static str)>,
    /// Grains read by the deep pass, when it ran to the end.
    pub grains: Option<u64>,
    /// The whole file's digest, when one was asked of the deep pass and it ran to the end.
    pub digest: Option<String>,
}

/// What the deep pass is asked for: nothing (`None`), or every grain, and a digest of the file.
pub(super) struct Deep {
    pub digest: Option<Hasher>,
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

/// Checks one VMDK, every grain too when `deep` asks; `Some` when it is a sparse extent whose
/// header could be read.
pub(super) fn check(file: &(impl ReadAt + ?Sized), deep: Option<Deep>, out: &mut Sink) -> Option<Disk> {
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
            "convert it again with qemu-img 2.5.1 or later, or with VMware's vmdk-convert (the version 1 header is \
             what qemu-img 2.1.0 to 2.5.0 wrote)",
        );
    }
    let marks = descriptor(f, &h, out);
    let producer = identify(&h, &marks);
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
        let walk = walk(f, &h, producer, out)?;
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
    let allocated = gd.and_then(|gd| tables(f, &h, gd, compressed, "grain directory", out));
    // qemu-img sets the redundant-table flag and writes both directories; a damaged copy
    // misleads a reader that prefers it.
    if h.flags & FLAG_REDUNDANT != 0 && h.rgd_offset != 0 && h.rgd_offset != GD_AT_END && !out.has_errors() {
        tables(f, &h, h.rgd_offset, compressed, "redundant grain directory", out);
    }
    let mut disk =
        Disk { capacity_bytes: h.capacity * SECTOR, stream_optimized: stream, producer, grains: None, digest: None };
    // The deep pass trusts the structure: only a disk without errors so far gets one.
    if let (Some(deep), Some(allocated), Some(gd), false) = (deep, allocated, gd, out.has_errors()) {
        let found = if stream {
            grains::stream(file, &h, allocated, deep.digest, out)
        } else {
            grains::sparse(f, &h, gd, compressed, out)
        };
        if let Some(found) = found {
            disk.grains = Some(found.grains);
            disk.digest = found.digest;
        }
    }
    Some(disk)
}

/// The tool that wrote the disk, where the file says so, and what says it. Layout first: qemu-img
/// is the one writer that puts a stream's grain directory before its grains; then the marks
/// writers leave in the descriptor. Tools that wrap these (packer, kiwi) show as what they ran.
fn identify(h: &Header, marks: &descriptor::Marks) -> Option<(Producer, &'static str)> {
    if marks.vmdkstream {
        Some((Producer::Vmdkstream, "its descriptor's \"# Created by VMDKstream\""))
    } else if marks.virtualbox {
        Some((Producer::VirtualBox, "its descriptor's ddb.uuid.image"))
    } else if h.stream() && h.gd_offset != GD_AT_END {
        Some((Producer::QemuImg, "its layout: a stream with the grain directory before the grains"))
    } else if marks.vmware {
        Some((Producer::VMware, "its descriptor's ddb.toolsInstallType"))
    } else {
        None
    }
}

/// Names what a file that is not a sparse extent is instead.
fn magic(head: &[u8; 512], out: &mut Sink) {
    let text = String::from_utf8_lossy(&head[..64]);
    if text.starts_with("# Disk Descriptor") {
        out.error(
            "vmdk.descriptor_only",
            at(0),
            "a descriptor-only VMDK: its data is in other files, which an OVF cannot carry",
            "convert the disk to one stream-optimized file (qemu-img convert -O vmdk -o subformat=streamOptimized \
             DISK.vmdk OUT.vmdk)",
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
