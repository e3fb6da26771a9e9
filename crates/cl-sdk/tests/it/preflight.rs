//! The preflight against real disks: stream-optimized VMDKs written by two producers (qemu-img,
//! and Debian's python3-vmdkstream) and a hosted sparse one, cross-checked with an independent
//! reader (libvmdk's vmdkinfo); then each corrupted in the ways broken images are, each giving
//! the expected finding that names the file. OVF sets and OVAs around them.

use std::path::{Path, PathBuf};
use std::process::Command;

use cl_sdk::preflight::{self, Finding, Options, Report, Severity};

/// A tool from Debian's packages; locally its absence skips, in CI it fails.
pub(super) fn tool(program: &str, package: &str) -> Option<PathBuf> {
    let found = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .chain([PathBuf::from("/usr/bin")])
        .map(|dir| dir.join(program))
        .find(|p| p.is_file());
    if found.is_none() {
        assert!(std::env::var_os("CI").is_none(), "CI needs {program} (Debian package {package}; .ci/run installs it)");
        eprintln!("skipped: no {program}; install Debian's {package}");
    }
    found
}

pub(super) fn run(command: &mut Command) -> std::process::Output {
    let output = command.output().unwrap();
    assert!(output.status.success(), "{command:?}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// 8 MiB of raw disk: random data, a zero stretch (no grains), then a pattern.
pub(super) fn raw_image(dir: &Path) -> PathBuf {
    let path = dir.join("raw.img");
    let mut bytes: Vec<u8> = (0..3_000_000u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    bytes.resize(5 << 20, 0);
    bytes.extend((0..3u32 << 20).map(|i| (i % 251) as u8));
    std::fs::write(&path, bytes).unwrap();
    path
}

pub(super) fn qemu_disk(dir: &Path, raw: &Path, subformat: &str, name: &str) -> Option<PathBuf> {
    let qemu = tool("qemu-img", "qemu-utils")?;
    let out = dir.join(name);
    run(Command::new(qemu)
        .args(["convert", "-O", "vmdk", "-o"])
        .arg(format!("subformat={subformat}"))
        .arg(raw)
        .arg(&out));
    Some(out)
}

pub(super) fn vmdkstream_disk(dir: &Path, raw: &Path) -> Option<PathBuf> {
    let module = Path::new("/usr/lib/python3/dist-packages/VMDKstream.py");
    if !module.is_file() {
        assert!(std::env::var_os("CI").is_none(), "CI needs python3-vmdkstream (.ci/run installs it)");
        eprintln!("skipped: no python3-vmdkstream");
        return None;
    }
    let out = dir.join("vmdkstream.vmdk");
    let script = "import sys, VMDKstream; VMDKstream.convert_to_stream(sys.argv[1], sys.argv[2])";
    run(Command::new("/usr/bin/python3").args(["-c", script]).arg(raw).arg(&out));
    Some(out)
}

/// Whether libvmdk reads the disk.
pub(super) fn vmdkinfo_accepts(disk: &Path) -> Option<bool> {
    let vmdkinfo = tool("vmdkinfo", "libvmdk-utils")?;
    Some(Command::new(vmdkinfo).arg(disk).output().unwrap().status.success())
}

pub(super) fn check(paths: &[&Path]) -> Report {
    let paths: Vec<PathBuf> = paths.iter().map(|p| p.to_path_buf()).collect();
    preflight::check(&paths, Options::full()).unwrap()
}

pub(super) fn codes(report: &Report, severity: Severity) -> Vec<&'static str> {
    report.findings.iter().filter(|f| f.severity == severity).map(|f| f.code).collect()
}

pub(super) fn the_error<'a>(report: &'a Report, code: &str) -> &'a Finding {
    report
        .findings
        .iter()
        .find(|f| f.code == code && f.severity == Severity::Error)
        .unwrap_or_else(|| panic!("no {code} error in {:#?}", report.findings))
}

/// A copy of `disk` named `name`, changed by `edit`.
pub(super) fn variant(disk: &Path, name: &str, edit: impl FnOnce(&mut Vec<u8>)) -> PathBuf {
    let mut bytes = std::fs::read(disk).unwrap();
    edit(&mut bytes);
    let path = disk.with_file_name(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

pub(super) fn u32_at(b: &[u8], o: usize) -> u32 {
    u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
}

pub(super) fn u64_at(b: &[u8], o: usize) -> u64 {
    u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
}

/// The byte offset of the first allocated grain table entry, through the grain directory at
/// `gd` (sectors).
pub(super) fn first_gte(b: &[u8], gd: u64) -> usize {
    let gt = u32_at(b, gd as usize * 512) as usize * 512;
    (0..512).map(|j| gt + j * 4).find(|&at| u32_at(b, at) > 1).unwrap()
}

#[test]
fn disks_from_two_producers_pass_and_an_independent_reader_agrees() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_image(dir.path());
    let Some(qemu) = qemu_disk(dir.path(), &raw, "streamOptimized", "qemu.vmdk") else { return };
    let Some(sparse) = qemu_disk(dir.path(), &raw, "monolithicSparse", "sparse.vmdk") else { return };
    let Some(stream) = vmdkstream_disk(dir.path(), &raw) else { return };
    for disk in [&qemu, &sparse] {
        let report = check(&[disk]);
        assert!(report.findings.is_empty(), "{}: {:#?}", disk.display(), report.findings);
        assert_eq!(vmdkinfo_accepts(disk), Some(true));
    }
    // python3-vmdkstream's descriptor signature ("# Disk Descriptor File") is what libvmdk
    // refuses; the preflight passes the disk with that one warning, which says so.
    let report = check(&[&stream]);
    assert_eq!(codes(&report, Severity::Error), Vec::<&str>::new(), "{:#?}", report.findings);
    assert_eq!(codes(&report, Severity::Warning), ["vmdk.descriptor_signature"]);
    assert!(report.findings[0].problem.contains("libvmdk"), "{}", report.findings[0]);
    assert_eq!(vmdkinfo_accepts(&stream), Some(false), "libvmdk still refuses it: the warning is earned");
    let fixed = variant(&stream, "fixed.vmdk", |b| {
        let at = b.windows(22).position(|w| w == b"# Disk Descriptor File").unwrap();
        b[at..at + 22].copy_from_slice(b"# Disk DescriptorFile\n");
    });
    assert!(check(&[&fixed]).findings.is_empty());
    assert_eq!(vmdkinfo_accepts(&fixed), Some(true), "with the signature fixed, libvmdk reads it");
}

#[test]
fn corrupted_disks_give_the_finding_that_names_them() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_image(dir.path());
    let Some(qemu) = qemu_disk(dir.path(), &raw, "streamOptimized", "qemu.vmdk") else { return };
    let Some(stream) = vmdkstream_disk(dir.path(), &raw) else { return };
    let qemu_len = std::fs::metadata(&qemu).unwrap().len() as usize;
    // qemu-img pads the file with zeros after the end-of-stream marker; a cut there loses
    // nothing. The last grain is where a cut must be found.
    let last_grain = {
        let b = std::fs::read(&qemu).unwrap();
        let gt = u32_at(&b, u64_at(&b, 56) as usize * 512) as usize * 512;
        (0..512).map(|j| u32_at(&b, gt + j * 4) as usize * 512).max().unwrap()
    };
    let stream_len = std::fs::metadata(&stream).unwrap().len() as usize;

    // Truncated at several points, in both layouts (tables up front, and after the grains).
    for (disk, len, cuts) in [
        (&qemu, qemu_len, [100, 700, 70_000, qemu_len / 2, last_grain + 40]),
        (&stream, stream_len, [100, 700, 70_000, stream_len / 2, stream_len - 3000]),
    ] {
        for cut in cuts {
            let name = format!("cut-{cut}-{}", disk.file_name().unwrap().to_string_lossy());
            let path = variant(disk, &name, |b| b.truncate(cut));
            let report = check(&[&path]);
            let errors: Vec<_> = report.errors().collect();
            assert!(!errors.is_empty(), "{name} ({len} bytes cut to {cut}) passed: {:#?}", report.findings);
            assert!(errors.iter().all(|f| f.file == name), "{errors:#?}");
        }
    }

    let bad_magic = variant(&qemu, "magic.vmdk", |b| b[..4].copy_from_slice(b"XDMV"));
    assert!(the_error(&check(&[&bad_magic]), "vmdk.magic").problem.contains("0x58444d56"));

    // The first grain's marker says its data runs past the end of the file.
    let past_end = variant(&stream, "grain-past-end.vmdk", |b| {
        let first = u64_at(b, 64) as usize * 512;
        b[first + 8..first + 12].copy_from_slice(&0x7fff_0000u32.to_le_bytes());
    });
    let report = check(&[&past_end]);
    let finding = the_error(&report, "vmdk.truncated");
    assert_eq!(finding.at, Some(preflight::Location::Offset(u64_at(&std::fs::read(&stream).unwrap(), 64) * 512)));

    // A grain table entry points past the end, in each layout.
    let qemu_gte = variant(&qemu, "gte-qemu.vmdk", |b| {
        let at = first_gte(b, u64_at(b, 56));
        b[at..at + 4].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    });
    the_error(&check(&[&qemu_gte]), "vmdk.gte_range");
    let stream_gte = variant(&stream, "gte-stream.vmdk", |b| {
        let footer = b.len() - 1024;
        let at = first_gte(b, u64_at(b, footer + 56));
        b[at..at + 4].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());
    });
    the_error(&check(&[&stream_gte]), "vmdk.gte_range");
    // …or at another grain than its own.
    let swapped = variant(&qemu, "gte-swapped.vmdk", |b| {
        let at = first_gte(b, u64_at(b, 56));
        let next = (at + 4..at + 2048).step_by(4).find(|&n| u32_at(b, n) > 1).unwrap();
        let (x, y) = (u32_at(b, at), u32_at(b, next));
        b[at..at + 4].copy_from_slice(&y.to_le_bytes());
        b[next..next + 4].copy_from_slice(&x.to_le_bytes());
    });
    the_error(&check(&[&swapped]), "vmdk.gte_mismatch");

    // Without footer (the directory still found by its marker): a warning; without
    // end-of-stream marker: a warning; cut before the directory: an error.
    let no_footer = variant(&stream, "no-footer.vmdk", |b| {
        let eos = b[b.len() - 512..].to_vec();
        b.truncate(b.len() - 1536);
        b.extend(eos);
    });
    let report = check(&[&no_footer]);
    assert_eq!(
        (codes(&report, Severity::Error), report.findings.iter().any(|f| f.code == "vmdk.no_footer")),
        (vec![], true)
    );
    let no_eos = variant(&stream, "no-eos.vmdk", |b| b.truncate(b.len() - 512));
    let report = check(&[&no_eos]);
    assert!(!report.has_errors() && report.findings.iter().any(|f| f.code == "vmdk.no_eos"), "{:#?}", report.findings);

    // A text-mode transfer, a descriptor's extent that disagrees with the header, a delta disk.
    let old = variant(&qemu, "version1.vmdk", |b| b[4] = 1);
    the_error(&check(&[&old]), "vmdk.stream_version");
    let ascii = variant(&qemu, "ascii.vmdk", |b| b[75] = b'\n');
    the_error(&check(&[&ascii]), "vmdk.newline");
    let extent = variant(&qemu, "extent.vmdk", |b| {
        let at = b.windows(12).position(|w| w == b"RW 16384 SPA").unwrap();
        b[at..at + 12].copy_from_slice(b"RW 16383 SPA");
    });
    the_error(&check(&[&extent]), "vmdk.extent");
    let delta = variant(&qemu, "delta.vmdk", |b| {
        let at = b.windows(18).position(|w| w == b"parentCID=ffffffff").unwrap();
        b[at..at + 18].copy_from_slice(b"parentCID=1234abcd");
    });
    the_error(&check(&[&delta]), "vmdk.delta");

    // A descriptor without its section comments: libvmdk refuses it, the preflight warns.
    let sections = variant(&qemu, "sections.vmdk", |b| {
        let at = b.windows(20).position(|w| w == b"# Extent description").unwrap();
        b[at..at + 20].copy_from_slice(b"# extents follow....");
    });
    let report = check(&[&sections]);
    assert_eq!(codes(&report, Severity::Warning), ["vmdk.descriptor_sections"], "{:#?}", report.findings);
    assert_eq!(vmdkinfo_accepts(&sections), Some(false), "libvmdk refuses it: the warning is earned");
}

/// A descriptor for `disk` (`size` bytes, `capacity` bytes of disk).
pub(super) fn descriptor(disk: &str, size: u64, capacity: u64, extra: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References>
    <File ovf:href="{disk}" ovf:id="file1" ovf:size="{size}"/>{extra}
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="{}" ovf:capacityAllocationUnits="byte * 2^20" ovf:diskId="vmdisk1" ovf:fileRef="file1"
          ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
  </DiskSection>
</Envelope>
"#,
        capacity >> 20
    )
}

pub(super) fn sha256(path: &Path) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(std::fs::read(path).unwrap()))
}

#[test]
fn ovf_sets_and_ovas() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_image(dir.path());
    let set = dir.path().join("set");
    std::fs::create_dir(&set).unwrap();
    let Some(disk) = qemu_disk(&set, &raw, "streamOptimized", "disk1.vmdk") else { return };
    let size = std::fs::metadata(&disk).unwrap().len();
    let write = |name: &str, text: &str| {
        let path = set.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let ovf = write("app.ovf", &descriptor("disk1.vmdk", size, 8 << 20, ""));
    let mf = write("app.mf", &format!("SHA256(app.ovf)= {}\nSHA256(disk1.vmdk)= {}\n", sha256(&ovf), sha256(&disk)));
    let report = check(&[&ovf, &mf, &disk]);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    assert_eq!(report.files, 3);

    // The same set as an OVA, in the order DSP0243 gives, and in others.
    let ova = |name: &str, members: &[&Path], sparse: bool| {
        let path = dir.path().join(name);
        let mut builder = tar::Builder::new(std::fs::File::create(&path).unwrap());
        builder.sparse(sparse);
        for m in members {
            builder.append_path_with_name(m, m.file_name().unwrap()).unwrap();
        }
        builder.finish().unwrap();
        path
    };
    let good = ova("good.ova", &[&ovf, &mf, &disk], false);
    let report = check(&[&good]);
    assert!(report.findings.is_empty(), "{:#?}", report.findings);
    let disk_first = ova("disk-first.ova", &[&disk, &ovf, &mf], false);
    // qemu-img leaves holes in the file; a sparse-aware tar stores them as a GNU sparse member.
    let sparse = ova("sparse.ova", &[&ovf, &mf, &disk], true);
    the_error(&check(&[&sparse]), "ova.sparse");
    // Members in the order the descriptor references them, and not.
    let two = dir.path().join("two");
    std::fs::create_dir(&two).unwrap();
    let extra = two.join("extra.img");
    std::fs::write(&extra, b"extra").unwrap();
    let two_ovf = two.join("app.ovf");
    let reference = r#"<File ovf:href="extra.img" ovf:id="file2" ovf:size="5"/>"#;
    std::fs::write(&two_ovf, descriptor("disk1.vmdk", size, 8 << 20, reference)).unwrap();
    let in_order = ova("in-order.ova", &[&two_ovf, &disk, &extra], false);
    assert!(check(&[&in_order]).findings.is_empty(), "{:#?}", check(&[&in_order]).findings);
    let swapped = ova("swapped.ova", &[&two_ovf, &extra, &disk], false);
    let report = check(&[&swapped]);
    assert_eq!(codes(&report, Severity::Warning), ["ova.order"], "{:#?}", report.findings);
    assert!(report.findings[0].problem.contains("order the descriptor references"), "{}", report.findings[0]);
    assert_eq!(codes(&check(&[&disk_first]), Severity::Warning), ["ova.order"]);
    let cut = variant(&good, "cut.ova", |b| b.truncate(b.len() / 2));
    let report = check(&[&cut]);
    assert_eq!(the_error(&report, "ova.truncated").file, "cut.ova");
    let evil = variant(&good, "evil.ova", |b| {
        // The second member's name, in its header, made to climb out.
        let second = 512 + std::fs::metadata(&ovf).unwrap().len().next_multiple_of(512) as usize;
        b[second..second + 6].copy_from_slice(b"../../");
        let sum: u32 = b[second..second + 512]
            .iter()
            .enumerate()
            .map(|(i, &c)| if (148..156).contains(&i) { 32 } else { u32::from(c) })
            .sum();
        b[second + 148..second + 156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    });
    the_error(&check(&[&evil]), "ova.member_name");
    // An extension header far larger than a name: refused before a tar reader would hold it.
    let huge = dir.path().join("huge.ova");
    let mut builder = tar::Builder::new(std::fs::File::create(&huge).unwrap());
    let mut header = tar::Header::new_ustar();
    header.set_entry_type(tar::EntryType::XHeader);
    header.set_size(4 << 20);
    header.set_cksum();
    builder.append_data(&mut header, "pax", std::io::Read::take(std::io::repeat(b'x'), 4 << 20)).unwrap();
    builder.finish().unwrap();
    drop(builder);
    assert!(the_error(&check(&[&huge]), "ova.tar").problem.contains("extension header"));
    let not_tar = variant(&ovf, "junk.ova", |b| b.iter_mut().for_each(|c| *c = c.wrapping_add(1)));
    let report = check(&[&not_tar]);
    assert!(report.has_errors(), "{:#?}", report.findings);

    // Descriptor errors, each naming the file and the line.
    let cases = [
        ("wrong-size.ovf", descriptor("disk1.vmdk", size + 1, 8 << 20, ""), "ovf.size"),
        ("missing.ovf", descriptor("disk2.vmdk", size, 8 << 20, ""), "ovf.missing_file"),
        ("small.ovf", descriptor("disk1.vmdk", size, 4 << 20, ""), "ovf.capacity"),
        ("path.ovf", descriptor("../disk1.vmdk", size, 8 << 20, ""), "ovf.href_path"),
        ("broken.ovf", descriptor("disk1.vmdk", size, 8 << 20, "<File>"), "ovf.xml"),
        (
            "twice.ovf",
            descriptor("disk1.vmdk", size, 8 << 20, r#"<File ovf:href="disk1.vmdk" ovf:id="file1"/>"#),
            "ovf.duplicate",
        ),
        (
            "fileref.ovf",
            descriptor("disk1.vmdk", size, 8 << 20, "").replace(r#"fileRef="file1""#, r#"fileRef="nope""#),
            "ovf.disk_file_ref",
        ),
    ];
    for (name, text, code) in cases {
        let path = write(name, &text);
        let report = check(&[&path, &disk]);
        let finding = the_error(&report, code);
        assert_eq!(finding.file, name);
        assert!(matches!(finding.at, Some(preflight::Location::Line(l)) if l > 1), "{finding}");
        std::fs::remove_file(path).unwrap();
    }

    // Manifests: a digest that does not match, a referenced file left out, an unknown file,
    // an algorithm the service does not take; a certificate without a manifest.
    let manifest_cases = [
        (format!("SHA256(app.ovf)= {}\nSHA256(disk1.vmdk)= {}\n", sha256(&ovf), "0".repeat(64)), "ovf.digest"),
        (format!("SHA256(app.ovf)= {}\n", sha256(&ovf)), "ovf.manifest_missing"),
        (
            format!(
                "SHA256(app.ovf)= {}\nSHA256(disk1.vmdk)= {}\nSHA256(other.iso)= {}\n",
                sha256(&ovf),
                sha256(&disk),
                "0".repeat(64)
            ),
            "ovf.manifest_unknown",
        ),
        (format!("SHA256(app.ovf)= {}\nMD5(disk1.vmdk)= {}\n", sha256(&ovf), "0".repeat(32)), "ovf.manifest_line"),
    ];
    for (text, code) in manifest_cases {
        std::fs::write(&mf, text).unwrap();
        let report = check(&[&ovf, &mf, &disk]);
        let finding = the_error(&report, code);
        assert_eq!(finding.file, "app.mf");
    }
    // The upload's own hashing covers digests: without Verify, a wrong digest is not read for.
    std::fs::write(&mf, format!("SHA256(app.ovf)= {}\nSHA256(disk1.vmdk)= {}\n", sha256(&ovf), "0".repeat(64)))
        .unwrap();
    let paths = [ovf.clone(), mf.clone(), disk.clone()];
    assert!(!preflight::check(&paths, Options::structure()).unwrap().has_errors());
    std::fs::remove_file(&mf).unwrap();
    let cert = write("app.cert", "-----BEGIN CERTIFICATE-----");
    the_error(&check(&[&ovf, &cert, &disk]), "ovf.cert_without_manifest");
    std::fs::remove_file(&cert).unwrap();
    let extra = write("notes.txt", "hello");
    assert_eq!(codes(&check(&[&ovf, &disk, &extra]), Severity::Warning), ["ovf.unreferenced"]);
}

/// No input, however mangled, panics the parsers (the fuzz target runs this further).
#[test]
fn mangled_bytes_never_panic() {
    let dir = tempfile::tempdir().unwrap();
    let raw = raw_image(dir.path());
    let Some(qemu) = qemu_disk(dir.path(), &raw, "streamOptimized", "qemu.vmdk") else { return };
    let base = std::fs::read(&qemu).unwrap();
    let mut rng = 0x9e37_79b9_7f4a_7c15u64;
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    for _ in 0..300 {
        let mut bytes = base[..base.len().min(200_000)].to_vec();
        for _ in 0..8 {
            let at = (next() % 2048) as usize;
            bytes[at] = next() as u8;
        }
        let _ = preflight::check_one("x.vmdk", &bytes);
    }
}
