//! The deep preflight against real disks: every grain inflated. Disks from qemu-img and
//! python3-vmdkstream damaged inside their compressed data, with the manifest made after the
//! damage (what a broken build or copy step ships), are found, naming the file, the offset and
//! the disk sector; undamaged ones pass. Then what only the grains can show: grains the tables
//! do not account for, one sector held twice, hosted sparse grains that overlap.

use std::path::{Path, PathBuf};

use cl_sdk::preflight::{self, Location, Options, Producer, Severity};

use super::preflight::{
    check, codes, descriptor, first_gte, qemu_disk, raw_image, sha256, the_error, u32_at, u64_at, variant,
    vmdkstream_disk,
};

/// A stream's grain records in order: (offset, disk sector, compressed size).
fn grains(b: &[u8]) -> Vec<(usize, u64, usize)> {
    let mut out = Vec::new();
    let mut pos = u64_at(b, 64) as usize * 512;
    while pos + 16 <= b.len() {
        let (value, size, kind) = (u64_at(b, pos), u32_at(b, pos + 8) as usize, u32_at(b, pos + 12));
        if size != 0 {
            out.push((pos, value, size));
            pos = (pos + 12 + size).next_multiple_of(512);
        } else if kind == 0 {
            break;
        } else {
            pos += 512 * (value as usize + 1);
        }
    }
    out
}

/// An OVF set around `disk` with a manifest made from the files as they are now.
fn set_around(dir: &Path, disk: &Path, capacity: u64) -> Vec<PathBuf> {
    let name = disk.file_name().unwrap().to_str().unwrap();
    let ovf = dir.join("app.ovf");
    let size = std::fs::metadata(disk).unwrap().len();
    std::fs::write(&ovf, descriptor(name, size, capacity, "")).unwrap();
    let mf = dir.join("app.mf");
    std::fs::write(&mf, format!("SHA256(app.ovf)= {}\nSHA256({name})= {}\n", sha256(&ovf), sha256(disk))).unwrap();
    vec![ovf, mf, disk.to_path_buf()]
}

#[test]
fn a_damaged_grain_under_a_manifest_made_after_the_damage_is_found() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_image(dir.path());
    let Some(qemu) = qemu_disk(dir.path(), &raw, "streamOptimized", "qemu.vmdk") else { return };
    let Some(stream) = vmdkstream_disk(dir.path(), &raw) else { return };
    for (disk, producer) in [(&qemu, Producer::QemuImg), (&stream, Producer::Vmdkstream)] {
        let bytes = std::fs::read(disk).unwrap();
        let all = grains(&bytes);
        // Undamaged: no error, every grain read, the writer named.
        let set = dir.path().join(format!("good-{producer:?}"));
        std::fs::create_dir(&set).unwrap();
        let copy = set.join("disk1.vmdk");
        std::fs::copy(disk, &copy).unwrap();
        let paths = set_around(&set, &copy, 8 << 20);
        let report = preflight::check(&paths, Options::full()).unwrap();
        assert_eq!(codes(&report, Severity::Error), Vec::<&str>::new(), "{:#?}", report.findings);
        let facts = &report.disks[0];
        assert_eq!((facts.grains_checked, facts.producer), (Some(all.len() as u64), Some(producer)));

        // Damaged in three places of the compressed data: the first grain's, a middle one's, the
        // last one's (its final byte, inside the checksum that ends its zlib stream).
        let picks = [all[0], all[all.len() / 2], all[all.len() - 1]];
        for (n, (offset, lba, size)) in picks.into_iter().enumerate() {
            let set = dir.path().join(format!("bad-{producer:?}-{n}"));
            std::fs::create_dir(&set).unwrap();
            let target = if n == 2 { offset + 12 + size - 1 } else { offset + 12 + size / 2 };
            let damaged = variant(disk, "x.vmdk", |b| b[target] ^= 0x5a);
            let copy = set.join("disk1.vmdk");
            std::fs::rename(&damaged, &copy).unwrap();
            let paths = set_around(&set, &copy, 8 << 20);
            let report = preflight::check(&paths, Options::full()).unwrap();
            let finding = the_error(&report, "vmdk.grain_data");
            assert_eq!(finding.file, "disk1.vmdk");
            assert_eq!(finding.at, Some(Location::Offset(offset as u64)), "{finding}");
            assert!(finding.problem.contains(&format!("disk sector {lba}")), "{finding}");
            assert!(!report.findings.iter().any(|f| f.code == "ovf.digest"), "the manifest matches the damage");
            // The structure alone cannot see it: that is what the deep check is for.
            let shallow = preflight::check(&paths, Options::structure()).unwrap();
            assert!(!shallow.has_errors(), "{:#?}", shallow.findings);
        }
    }
}

#[test]
fn a_damaged_grain_inside_an_ova_names_the_member() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_image(dir.path());
    let Some(qemu) = qemu_disk(dir.path(), &raw, "streamOptimized", "qemu.vmdk") else { return };
    let (offset, lba, size) = grains(&std::fs::read(&qemu).unwrap())[3];
    let set = dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    let disk = set.join("disk1.vmdk");
    std::fs::rename(variant(&qemu, "y.vmdk", |b| b[offset + 12 + size / 3] ^= 0xff), &disk).unwrap();
    let paths = set_around(&set, &disk, 8 << 20);
    let ova = dir.path().join("app.ova");
    let mut builder = tar::Builder::new(std::fs::File::create(&ova).unwrap());
    for p in &paths {
        builder.append_path_with_name(p, p.file_name().unwrap()).unwrap();
    }
    builder.finish().unwrap();
    drop(builder);
    let report = check(&[&ova]);
    let finding = the_error(&report, "vmdk.grain_data");
    assert_eq!(finding.file, "app.ova:disk1.vmdk");
    assert_eq!(finding.at, Some(Location::Offset(offset as u64)));
    assert!(finding.problem.contains(&format!("disk sector {lba}")));
}

#[test]
fn disks_whose_size_is_not_whole_grains_pass() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("odd.img");
    let mut bytes: Vec<u8> = (0..(8u32 << 20) + 3 * 512).map(|i| (i % 253) as u8).collect();
    bytes[1000] = 7;
    std::fs::write(&raw, bytes).unwrap();
    let Some(qemu) = qemu_disk(dir.path(), &raw, "streamOptimized", "qemu.vmdk") else { return };
    let Some(stream) = vmdkstream_disk(dir.path(), &raw) else { return };
    let Some(sparse) = qemu_disk(dir.path(), &raw, "monolithicSparse", "sparse.vmdk") else { return };
    for disk in [&qemu, &stream, &sparse] {
        let report = check(&[disk]);
        assert_eq!(codes(&report, Severity::Error), Vec::<&str>::new(), "{}: {:#?}", disk.display(), report.findings);
        assert!(report.disks[0].grains_checked.is_some_and(|n| n > 0), "{:?}", report.disks);
    }
}

#[test]
fn grains_the_tables_do_not_account_for() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_image(dir.path());
    let Some(qemu) = qemu_disk(dir.path(), &raw, "streamOptimized", "qemu.vmdk") else { return };
    // qemu-img keeps two copies of the tables; a change goes into both.
    let entry_of = |b: &[u8], gd: u64, lba: u64| {
        let gt = u32_at(b, gd as usize * 512 + (lba / 128 / 512) as usize * 4) as usize * 512;
        gt + ((lba / 128) % 512) as usize * 4
    };
    let unmap = |b: &mut Vec<u8>, lba: u64| {
        for gd in [u64_at(b, 56), u64_at(b, 48)] {
            let at = entry_of(b, gd, lba);
            b[at..at + 4].copy_from_slice(&0u32.to_le_bytes());
        }
    };
    let all = grains(&std::fs::read(&qemu).unwrap());
    let (_, orphan_lba, _) = all[5];
    // A grain in the stream that no table points at: a streaming reader writes it, a seeking
    // reader reads zeros there.
    let orphan = variant(&qemu, "orphan.vmdk", |b| unmap(b, orphan_lba));
    let report = check(&[&orphan]);
    let finding = the_error(&report, "vmdk.tables_disagree");
    assert!(finding.problem.contains(&format!("{} grains", all.len())), "{finding}");
    // The same grain claiming an earlier grain's sector: one sector, two contents.
    let (offset, _, _) = all[5];
    let (_, first_lba, _) = all[0];
    let twice = variant(&qemu, "twice.vmdk", |b| {
        unmap(b, orphan_lba);
        b[offset..offset + 8].copy_from_slice(&first_lba.to_le_bytes());
    });
    let report = check(&[&twice]);
    let finding = the_error(&report, "vmdk.grain_twice");
    assert_eq!(finding.at, Some(Location::Offset(offset as u64)));
    assert!(finding.problem.contains(&format!("disk sector {first_lba}")), "{finding}");
    // A damaged grain before the repeated one is the first problem, and the one named.
    let (damaged_at, _, size) = all[2];
    let both = variant(&twice, "both.vmdk", |b| b[damaged_at + 12 + size / 2] ^= 0x77);
    let report = check(&[&both]);
    assert_eq!(the_error(&report, "vmdk.grain_data").at, Some(Location::Offset(damaged_at as u64)));
    assert!(!report.findings.iter().any(|f| f.code == "vmdk.grain_twice"), "{:#?}", report.findings);
}

#[test]
fn hosted_sparse_grains_that_overlap() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_image(dir.path());
    let Some(sparse) = qemu_disk(dir.path(), &raw, "monolithicSparse", "sparse.vmdk") else { return };
    assert!(check(&[&sparse]).findings.is_empty());
    let overlap = variant(&sparse, "overlap.vmdk", |b| {
        for gd in [u64_at(b, 56), u64_at(b, 48)] {
            let at = first_gte(b, gd);
            let next = (at + 4..at + 2048).step_by(4).find(|&n| u32_at(b, n) > 1).unwrap();
            let first = b[at..at + 4].to_vec();
            b[next..next + 4].copy_from_slice(&first);
        }
    });
    let report = check(&[&overlap]);
    assert!(the_error(&report, "vmdk.grain_overlap").problem.contains("another grain"));
    assert!(!preflight::check(&[overlap], Options::structure()).unwrap().has_errors(), "only the deep check sees it");
}

/// A disk large enough for the pool of inflaters (past 16 MiB of grains): the first of two
/// damaged grains is the one named, however the work was shared, and the manifest's digest,
/// taken in the same read, is still checked.
#[test]
fn a_large_disk_is_inflated_in_parallel_and_the_first_damage_named() {
    let dir = tempfile::tempdir().unwrap();
    let raw = dir.path().join("big.img");
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let bytes: Vec<u8> = (0..48u32 << 20)
        .map(|i| {
            // Half noise, half text-like runs: grains of every compressed size.
            if (i >> 16) % 2 == 0 {
                state ^= state << 13;
                state ^= state >> 7;
                state ^= state << 17;
                state as u8
            } else {
                b"the quick brown fox "[(i % 20) as usize]
            }
        })
        .collect();
    std::fs::write(&raw, bytes).unwrap();
    let Some(qemu) = qemu_disk(dir.path(), &raw, "streamOptimized", "big.vmdk") else { return };
    let all = grains(&std::fs::read(&qemu).unwrap());
    assert!(all.len() >= 700, "{} grains", all.len());
    let set = dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    let disk = set.join("disk1.vmdk");
    std::fs::copy(&qemu, &disk).unwrap();
    let paths = set_around(&set, &disk, 48 << 20);
    let report = preflight::check(&paths, Options::full()).unwrap();
    assert_eq!(codes(&report, Severity::Error), Vec::<&str>::new(), "{:#?}", report.findings);
    assert_eq!(report.disks[0].grains_checked, Some(all.len() as u64));

    // The digest taken in the grain pass is compared: a manifest that lies is still caught.
    let mf = &paths[1];
    let ovf_sum = sha256(&paths[0]);
    std::fs::write(mf, format!("SHA256(app.ovf)= {ovf_sum}\nSHA256(disk1.vmdk)= {}\n", "ab".repeat(32))).unwrap();
    the_error(&preflight::check(&paths, Options::full()).unwrap(), "ovf.digest");

    let (early, late) = (all[all.len() / 3], all[all.len() * 2 / 3]);
    let mut bytes = std::fs::read(&qemu).unwrap();
    bytes[late.0 + 12 + late.2 / 2] ^= 0x10;
    bytes[early.0 + 12 + early.2 / 2] ^= 0x10;
    std::fs::write(&disk, bytes).unwrap();
    for _ in 0..3 {
        let report = check(&[&disk]);
        let finding = the_error(&report, "vmdk.grain_data");
        assert_eq!(finding.at, Some(Location::Offset(early.0 as u64)), "{finding}");
    }
}
