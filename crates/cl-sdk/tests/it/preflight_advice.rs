//! Advice that leads somewhere: for each finding whose fix names a local tool, the test makes the
//! defect as real tools make it, runs the command the fix gives (read off the finding, with its
//! placeholders filled in) and checks the finding is gone. And no finding on a disk a tool wrote
//! tells the user to run that same tool again.

use std::path::{Path, PathBuf};
use std::process::Command;

use cl_sdk::preflight::{self, Finding, Options, Producer, Report};

use super::preflight::{qemu_disk, raw_image, sha256, tool, vmdkstream_disk};

fn check(paths: &[PathBuf]) -> Report {
    preflight::check(paths, Options::full()).unwrap()
}

fn finding<'a>(report: &'a Report, code: &str) -> &'a Finding {
    report.findings.iter().find(|f| f.code == code).unwrap_or_else(|| panic!("no {code}: {:#?}", report.findings))
}

/// The command in a fix: from `starts` to a parenthesis that closes or opens an aside, or to
/// the end (a sed expression's parentheses are its own).
fn command_in(fix: &str, starts: &str) -> String {
    let from = fix.find(starts).unwrap_or_else(|| panic!("{fix:?} names no `{starts}` command"));
    let rest = &fix[from..];
    let end = if rest.contains("sed -E") { rest.len() } else { rest.find([')', '(', ',']).unwrap_or(rest.len()) };
    rest[..end].trim_end_matches(['.', ',', ' ']).to_owned()
}

fn run(dir: &Path, line: &str) {
    let output = Command::new("bash").args(["-c", line]).current_dir(dir).output().unwrap();
    assert!(output.status.success(), "{line}: {}", String::from_utf8_lossy(&output.stderr));
}

fn codes(report: &Report) -> Vec<&'static str> {
    report.findings.iter().map(|f| f.code).collect()
}

#[test]
fn converting_as_advised_leaves_no_such_finding() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let raw = raw_image(d);
    let Some(qemu) = tool("qemu-img", "qemu-utils") else { return };
    let qemu = qemu.to_string_lossy().into_owned();
    let convert = |fix: &str, disk: &str| {
        let command = command_in(fix, "qemu-img convert")
            .replace("DISK.vmdk", disk)
            .replace("OUT.vmdk", "out.vmdk")
            .replace("qemu-img", &qemu);
        let out = d.join("out.vmdk");
        let _ = std::fs::remove_file(&out);
        run(d, &command);
        out
    };

    // A descriptor-only disk (its data in a flat extent beside it).
    run(d, &format!("{qemu} create -q -f vmdk -o subformat=monolithicFlat flat.vmdk 8M"));
    let report = check(&[d.join("flat.vmdk")]);
    let out = convert(&finding(&report, "vmdk.descriptor_only").fix, "flat.vmdk");
    assert!(!codes(&check(&[out])).contains(&"vmdk.descriptor_only"));

    // One extent of a split disk.
    run(d, &format!("{qemu} convert -O vmdk -o subformat=twoGbMaxExtentSparse raw.img split.vmdk"));
    let report = check(&[d.join("split-s001.vmdk")]);
    let out = convert(&finding(&report, "vmdk.no_descriptor").fix, "split.vmdk");
    assert!(!codes(&check(&[out])).contains(&"vmdk.no_descriptor"));

    // python3-vmdkstream's descriptor line, which libvmdk refuses.
    let Some(stream) = vmdkstream_disk(d, &raw) else { return };
    let report = check(std::slice::from_ref(&stream));
    let out = convert(&finding(&report, "vmdk.descriptor_signature").fix, "vmdkstream.vmdk");
    assert!(!codes(&check(&[out])).contains(&"vmdk.descriptor_signature"));
}

#[test]
fn no_finding_on_a_tools_disk_says_to_run_that_tool_again() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // Random data to the end: qemu-img's stream then ends on a grain, with no marker.
    let raw = d.join("noise.img");
    let mut state = 0x9e37_79b9u32;
    let noise: Vec<u8> = (0..4u32 << 20)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state as u8
        })
        .collect();
    std::fs::write(&raw, noise).unwrap();
    let Some(qemu) = qemu_disk(d, &raw, "streamOptimized", "qemu.vmdk") else { return };
    let Some(stream) = vmdkstream_disk(d, &raw) else { return };
    let report = check(std::slice::from_ref(&qemu));
    assert_eq!(report.disks[0].producer, Some(Producer::QemuImg));
    let no_eos = finding(&report, "vmdk.no_eos");
    assert!(no_eos.problem.contains("qemu-img") && no_eos.problem.contains("before the grains"), "{no_eos}");
    assert!(no_eos.fix.contains("vmdk-convert"), "{no_eos}");
    for (disk, command) in [(&qemu, "qemu-img convert"), (&stream, "vmdkstream")] {
        for f in &check(std::slice::from_ref(disk)).findings {
            assert!(!f.fix.to_lowercase().contains(command), "{}: {f}", disk.display());
        }
    }
}

#[test]
fn manifests_written_as_advised_are_read() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ovf = d.join("x.ovf");
    std::fs::write(
        &ovf,
        "<?xml version=\"1.0\"?><Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\"><References/></Envelope>\n",
    )
    .unwrap();
    let mf = d.join("x.mf");
    let files = vec![ovf.clone(), mf.clone()];
    let manifest_codes = |report: &Report| -> Vec<&'static str> {
        codes(report).into_iter().filter(|c| c.starts_with("ovf.manifest") || *c == "ovf.digest").collect()
    };
    // OpenSSL 3 names the algorithm SHA2-256; sha256sum --tag spaces the line: both refused.
    let mut fixes = Vec::new();
    for (maker, says) in [("openssl dgst -sha256 x.ovf > x.mf", "OpenSSL 3"), ("sha256sum --tag x.ovf > x.mf", "--tag")]
    {
        if maker.starts_with("openssl") && tool("openssl", "openssl").is_none() {
            continue;
        }
        run(d, maker);
        let report = check(&files);
        let f = finding(&report, "ovf.manifest_line");
        assert!(f.problem.contains(says), "{maker}: {f}");
        fixes.push(f.fix.clone());
    }
    let fix = fixes.pop().unwrap();
    let command = command_in(&fix, "sha256sum").replace(" disk1.vmdk …", "");
    run(d, &command);
    assert_eq!(manifest_codes(&check(&files)), Vec::<&str>::new(), "{}", std::fs::read_to_string(&mf).unwrap());
    assert!(std::fs::read_to_string(&mf).unwrap().starts_with(&format!("SHA256(x.ovf)= {}", sha256(&ovf))));
}

#[test]
fn an_ova_packed_as_advised_is_in_order() {
    let Some(_) = tool("tar", "tar") else { return };
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let ovf = d.join("x.ovf");
    std::fs::write(
        &ovf,
        "<?xml version=\"1.0\"?><Envelope xmlns=\"http://schemas.dmtf.org/ovf/envelope/1\" \
         xmlns:ovf=\"http://schemas.dmtf.org/ovf/envelope/1\"><References><File ovf:href=\"disk1.vmdk\" \
         ovf:id=\"f1\"/></References></Envelope>\n",
    )
    .unwrap();
    std::fs::write(d.join("disk1.vmdk"), vec![0u8; 4096]).unwrap();
    run(d, "sha256sum x.ovf disk1.vmdk | sed -E 's/^([0-9a-f]+) [ *](.*)$/SHA256(\\2)= \\1/' > x.mf");
    run(d, "tar -cf x.ova disk1.vmdk x.mf x.ovf");
    let report = check(&[d.join("x.ova")]);
    let command = command_in(&finding(&report, "ova.order").fix, "tar ").replace(" …", "");
    std::fs::remove_file(d.join("x.ova")).unwrap();
    run(d, &command);
    let report = check(&[d.join("x.ova")]);
    assert!(!codes(&report).iter().any(|c| c.starts_with("ova.")), "{:#?}", report.findings);
}
