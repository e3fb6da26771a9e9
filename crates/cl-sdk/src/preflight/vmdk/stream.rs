//! A stream-optimized disk walked from marker to marker (VDF "Stream-Optimized Compressed Sparse
//! Extents"), without reading a grain.

use super::*;

/// What the marker walk found.
pub(super) struct Walk {
    pub(super) footer_gd: Option<u64>,
    pub(super) gd_marker: Option<u64>,
}

/// Walks a stream-optimized disk from its first grain to its end-of-stream marker. `None` when
/// the walk found the disk cut or damaged (already reported).
pub(super) fn walk(
    f: &(impl ReadAt + ?Sized),
    h: &Header,
    producer: Option<(Producer, &'static str)>,
    out: &mut Sink,
) -> Option<Walk> {
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
    no_eos(len, producer, out);
    Some(result)
}

/// A stream that ends without its end-of-stream marker: what that means depends on who wrote it.
fn no_eos(len: u64, producer: Option<(Producer, &'static str)>, out: &mut Sink) {
    if let Some((Producer::QemuImg, _)) = producer {
        // qemu-img's VMDK driver writes the directory and tables up front and, at the end of a
        // conversion, only rounds the file up to a sector: no footer, no marker (block/vmdk.c).
        out.warning(
            "vmdk.no_eos",
            at(len),
            "written by qemu-img, which puts the grain directory and tables before the grains and ends the file \
             with no end-of-stream marker: readers that seek (qemu, VirtualBox, libvmdk) read it whole, a reader that \
             takes the disk strictly as a stream cannot tell it is complete, and ovftool's validation has refused \
             such disks (siderolabs/talos#11053). The upload stores it as it is; the risk is at deploy",
            "if ovftool or a deploy refuses it, write the disk with VMware's vmdk-convert (open-vmdk) or ovftool, \
             which put the directory after the grains with a footer and the marker; converting again with qemu-img \
             gives this same layout",
        );
        return;
    }
    out.warning(
        "vmdk.no_eos",
        at(len),
        "no end-of-stream marker at the end: a reader that takes the disk as a stream cannot tell it is complete",
        RECONVERT,
    );
}
