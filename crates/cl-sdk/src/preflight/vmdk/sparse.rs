//! The grain directory and the grain tables it points to, as both layouts have them.

use super::*;

/// The grain directory at sector `gd` and the tables it points to: in the file, and each entry
/// pointing at a grain of the right disk sector. Stops at the first error; else how many grains
/// the tables allocate.
pub(super) fn tables(
    f: &(impl ReadAt + ?Sized),
    h: &Header,
    gd: u64,
    compressed: bool,
    what: &str,
    out: &mut Sink,
) -> Option<u64> {
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
        return None;
    }
    // Allocated grains are each in the file, so there can be no more of them than sectors.
    let mut budget = len / SECTOR + 1;
    let mut allocated = 0u64;
    let mut table = [0u8; (GTES_PER_GT * 4) as usize];
    let mut gde_bytes = [0u8; 4];
    for i in 0..gdes as usize {
        // Through the window: the directory is read 8 KiB at a time, however large it claims to be.
        if f.read_at(&mut gde_bytes, gd_at + i as u64 * 4).is_err() {
            out.error("vmdk.gd_bounds", at(gd_at), format!("the {what} cannot be read"), RECOPY);
            return None;
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
            return None;
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
                return None;
            }
            if budget == 0 {
                out.error(
                    "vmdk.gte_range",
                    entry_at,
                    "more grains allocated than the file has sectors: the tables are damaged",
                    RECONVERT,
                );
                return None;
            }
            budget -= 1;
            allocated += 1;
            let grain_at = gte * SECTOR;
            if !compressed {
                if grain_at + h.grain * SECTOR > len {
                    out.error(
                        "vmdk.gte_range",
                        entry_at,
                        format!("the grain of disk sector {lba} is at sector {gte}, past the end of the file"),
                        RECOPY,
                    );
                    return None;
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
                return None;
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
                return None;
            }
        }
    }
    Some(allocated)
}
