//! The preflight's parsers on arbitrary bytes: a VMDK (header, descriptor, tables, markers, and
//! every grain inflated), an OVF descriptor and a manifest. No input may panic, and every
//! finding must display. The fourth kind wraps the input's bytes as the grains of an otherwise
//! well-formed stream-optimized disk, so the inflating path sees them rather than an early
//! structural refusal.
#![no_main]

use std::io::Write;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (u8, &[u8])| {
    let (kind, bytes) = input;
    let findings = match kind % 4 {
        3 => cl_sdk::preflight::check_one("disk.vmdk", &stream_around(bytes)),
        k => cl_sdk::preflight::check_one(["disk.vmdk", "app.ovf", "app.mf"][usize::from(k)], bytes),
    };
    for finding in findings {
        let _ = finding.to_string();
    }
});

const SECTOR: usize = 512;
/// 4 KiB grains: eight of them make the disk.
const GRAIN_SECTORS: u64 = 8;
const GRAINS: u64 = 8;

/// A stream-optimized disk of eight 4 KiB grains (VMware's layout: grains, then the grain table,
/// directory, footer and end-of-stream marker) whose grain payloads come from `bytes`: each
/// piece is led by a length byte and a mode byte; mode 0 takes the piece as the compressed data,
/// any other deflates it and then flips the byte the mode points at, so near-valid zlib streams
/// are as common as noise.
fn stream_around(bytes: &[u8]) -> Vec<u8> {
    let mut payloads = Vec::new();
    let mut rest = bytes;
    while let [len, mode, tail @ ..] = rest {
        let len = usize::from(*len).min(tail.len());
        let (piece, after) = tail.split_at(len);
        rest = after;
        let data = if *mode == 0 {
            piece.to_vec()
        } else {
            let mut deflate = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
            // Pieces repeat to a grain's size, so some inflate to exactly one grain.
            for _ in 0..(4096 / piece.len().max(1)).min(4096) {
                deflate.write_all(piece).unwrap();
            }
            let mut data = deflate.finish().unwrap();
            if *mode != 255 && !data.is_empty() {
                let at = usize::from(*mode) % data.len();
                data[at] ^= mode.rotate_left(3) | 1;
            }
            data
        };
        payloads.push(data);
        if payloads.len() as u64 == GRAINS {
            break;
        }
    }
    let capacity = GRAINS * GRAIN_SECTORS;
    let overhead = 2u64;
    let header = |gd: u64| {
        let mut h = vec![0u8; SECTOR];
        h[..4].copy_from_slice(b"KDMV");
        h[4..8].copy_from_slice(&3u32.to_le_bytes());
        h[8..12].copy_from_slice(&0x3_0001u32.to_le_bytes());
        h[12..20].copy_from_slice(&capacity.to_le_bytes());
        h[20..28].copy_from_slice(&GRAIN_SECTORS.to_le_bytes());
        h[28..36].copy_from_slice(&1u64.to_le_bytes());
        h[36..44].copy_from_slice(&1u64.to_le_bytes());
        h[44..48].copy_from_slice(&512u32.to_le_bytes());
        h[56..64].copy_from_slice(&gd.to_le_bytes());
        h[64..72].copy_from_slice(&overhead.to_le_bytes());
        h[73..77].copy_from_slice(b"\n \r\n");
        h[77..79].copy_from_slice(&1u16.to_le_bytes());
        h
    };
    let marker = |value: u64, kind: u32| {
        let mut m = vec![0u8; SECTOR];
        m[..8].copy_from_slice(&value.to_le_bytes());
        m[12..16].copy_from_slice(&kind.to_le_bytes());
        m
    };
    let mut disk = header(u64::MAX);
    let mut descriptor = format!(
        "# Disk DescriptorFile\nversion=1\nCID=1\nparentCID=ffffffff\ncreateType=\"streamOptimized\"\n\
         # Extent description\nRW {capacity} SPARSE \"disk.vmdk\"\n# The Disk Data Base\n#DDB\n"
    )
    .into_bytes();
    descriptor.resize(SECTOR, 0);
    disk.extend(descriptor);
    let mut table = vec![0u8; 4 * SECTOR];
    for (i, data) in payloads.iter().enumerate() {
        let sector = (disk.len() / SECTOR) as u32;
        table[i * 4..i * 4 + 4].copy_from_slice(&sector.to_le_bytes());
        disk.extend((i as u64 * GRAIN_SECTORS).to_le_bytes());
        disk.extend((data.len() as u32).to_le_bytes());
        disk.extend(data);
        disk.resize(disk.len().next_multiple_of(SECTOR), 0);
    }
    disk.extend(marker(4, 1));
    let table_at = (disk.len() / SECTOR) as u32;
    disk.extend(table);
    disk.extend(marker(1, 2));
    let gd = (disk.len() / SECTOR) as u64;
    let mut directory = vec![0u8; SECTOR];
    directory[..4].copy_from_slice(&table_at.to_le_bytes());
    disk.extend(directory);
    disk.extend(marker(1, 3));
    disk.extend(header(gd));
    disk.extend(marker(0, 0));
    disk
}
