//! The deep check: every grain of a disk whose structure is sound read, and inflated where it is
//! compressed. A corrupt grain under a manifest computed after the damage passes every table
//! and digest; only inflating it finds it (VirtualBox says `VERR_ZIP_CORRUPTED`, vCenter an I/O
//! error deep into the import).
//!
//! A stream-optimized disk is read once, in order, in blocks: each block feeds the manifest's
//! digest when one is wanted (one read serves both) and its grain records go to a pool of
//! inflaters, a bounded queue apart, so memory stays a few blocks whatever the disk's size.

use std::collections::HashMap;
use std::sync::mpsc::Receiver;
use std::sync::{Arc, Mutex};

use flate2::{Decompress, FlushDecompress, Status};

use super::*;
use crate::transfer::checksum::Hasher;

const DAMAGED: &str = "get the disk again from where it was built; if that copy is damaged too, build it again from \
     its source image and make the manifest after checking it";

/// Bytes read at a time; a grain record (at most a 1 MiB grain's deflate bound) always fits.
const BLOCK: usize = 2 << 20;
/// Below this many bytes of grains, inflating on the calling thread beats starting a pool.
const POOL_FROM: u64 = 16 << 20;

/// What the deep pass found, when it read the whole file.
pub(super) struct Deep {
    /// Grains inflated (stream-optimized) or located (hosted sparse).
    pub grains: u64,
    /// The whole file's digest, when one was asked for.
    pub digest: Option<String>,
}

/// A block and the grain records in it, for a worker.
type Batch = (Arc<Vec<u8>>, Vec<Grain>);

/// One grain record in a block.
struct Grain {
    offset: u64,
    lba: u64,
    /// The compressed bytes, as a range of the block.
    data: std::ops::Range<usize>,
}

/// The first grain that did not inflate as it should.
#[derive(Clone)]
struct Broken {
    code: &'static str,
    offset: u64,
    lba: u64,
    why: String,
}

/// Every grain of a stream-optimized disk whose markers and tables were found sound: each
/// inflates to exactly one grain (the last may stop at the capacity), no disk sector has two
/// grains, and the stream holds exactly the grains the tables point at (`allocated`). Stops at
/// the first broken grain with a finding naming its offset and sector. `None` when it stopped.
pub(super) fn stream(
    f: &(impl ReadAt + ?Sized),
    h: &Header,
    allocated: u64,
    mut hasher: Option<Hasher>,
    out: &mut Sink,
) -> Option<Deep> {
    let len = f.size();
    let grain_bytes = h.grain * SECTOR;
    let start = h.overhead * SECTOR;
    let workers = if len - start.min(len) < POOL_FROM {
        0
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get()).min(8)
    };
    let expect = Expect { grain_bytes, capacity_bytes: h.capacity * SECTOR };
    let broken: Mutex<Option<Broken>> = Mutex::new(None);
    let mut seen = Seen::new(h.grain);
    let mut grains = 0u64;
    let mut read_error = None;
    let mut complete = false;
    std::thread::scope(|scope| {
        let (send, receive) = std::sync::mpsc::sync_channel::<Batch>(workers.max(1) * 2);
        let receive = Arc::new(Mutex::new(receive));
        for _ in 0..workers {
            let receive = Arc::clone(&receive);
            let broken = &broken;
            scope.spawn(move || inflater(&receive, expect, broken));
        }
        let mut inline = Inflater::new(expect);
        // `carry` holds the file from `base`: the start of a record the last block cut.
        let (mut base, mut pos, mut read_to) = (0u64, start, 0u64);
        let mut carry: Vec<u8> = Vec::new();
        'blocks: while read_to < len {
            if broken.lock().expect("not poisoned").is_some() {
                break;
            }
            let n = (len - read_to).min(BLOCK as u64) as usize;
            let mut block = Vec::with_capacity(carry.len() + n);
            block.extend_from_slice(&carry);
            block.resize(carry.len() + n, 0);
            if let Err(e) = f.read_at(&mut block[carry.len()..], read_to) {
                read_error = Some((read_to, e));
                break;
            }
            if let Some(hasher) = &mut hasher {
                hasher.update(&block[carry.len()..]);
            }
            read_to += n as u64;
            let end = base + block.len() as u64;
            let mut batch = Vec::new();
            let mut twice = None;
            // Records wholly in the block; a record cut by its end waits for the next.
            while pos < len && pos + 16 <= end {
                let at = (pos - base) as usize;
                let value = u64::from_le_bytes(block[at..at + 8].try_into().expect("8 bytes"));
                let size = u32::from_le_bytes(block[at + 8..at + 12].try_into().expect("4 bytes"));
                let kind = u32::from_le_bytes(block[at + 12..at + 16].try_into().expect("4 bytes"));
                if size == 0 {
                    if kind == MARKER_EOS {
                        pos = len;
                        break;
                    }
                    // Metadata, already checked: skipped, read or not.
                    pos = pos.saturating_add(SECTOR.saturating_mul(value.saturating_add(1)));
                    continue;
                }
                let record_end = pos + 12 + u64::from(size);
                if record_end > end {
                    if u64::from(size) > BLOCK as u64 {
                        // The structural walk refuses such sizes; never buffer one.
                        read_error = Some((pos, std::io::ErrorKind::InvalidData.into()));
                        break 'blocks;
                    }
                    break;
                }
                grains += 1;
                if let Some(why) = seen.insert(value) {
                    // The grains before it in this block are still inflated: one of them may be
                    // broken, and then it is the first finding.
                    twice = Some(Broken { code: "vmdk.grain_twice", offset: pos, lba: value, why });
                    break;
                }
                batch.push(Grain { offset: pos, lba: value, data: at + 12..at + 12 + size as usize });
                pos = record_end.next_multiple_of(SECTOR);
            }
            let keep = if pos < end { (pos - base) as usize } else { block.len() };
            carry = block[keep..].to_vec();
            let next_base = base + keep as u64;
            if !batch.is_empty() {
                if workers == 0 {
                    if let Some(b) = inline.batch(&block, &batch) {
                        earliest(&broken, b);
                        break;
                    }
                } else if send.send((Arc::new(block), batch)).is_err() {
                    break;
                }
            }
            if let Some(b) = twice {
                earliest(&broken, b);
                break;
            }
            base = next_base;
        }
        complete = read_to == len;
        drop(send);
    });
    if let Some(b) = broken.into_inner().expect("not poisoned") {
        let problem = format!("the grain at offset {} (disk sector {}) {}", b.offset, b.lba, b.why);
        out.error(b.code, at(b.offset), problem, DAMAGED);
        return None;
    }
    if let Some((offset, e)) = read_error {
        out.error("vmdk.short", at(offset), format!("cannot be read at offset {offset}: {e}"), RECOPY);
        return None;
    }
    if grains != allocated {
        out.error(
            "vmdk.tables_disagree",
            None,
            format!(
                "the stream holds {grains} grains, the grain tables point at {allocated}: a reader that follows the tables and one that reads the stream in order see different disks"
            ),
            RECOPY,
        );
        return None;
    }
    Some(Deep { grains, digest: hasher.filter(|_| complete).map(Hasher::hex) })
}

/// A worker: inflates batches until the queue closes, recording the earliest broken grain. It
/// finishes every batch it takes, so no grain before a broken one goes unchecked.
fn inflater(queue: &Mutex<Receiver<Batch>>, expect: Expect, broken: &Mutex<Option<Broken>>) {
    let mut inflater = Inflater::new(expect);
    loop {
        let Ok((block, batch)) = queue.lock().expect("not poisoned").recv() else { return };
        if let Some(b) = inflater.batch(&block, &batch) {
            earliest(broken, b);
        }
    }
}

/// Keeps `b` as the finding when it comes before the one kept so far (workers finish out of
/// order; the first broken grain of the file is the one reported).
fn earliest(broken: &Mutex<Option<Broken>>, b: Broken) {
    let mut first = broken.lock().expect("not poisoned");
    if first.as_ref().is_none_or(|f| b.offset < f.offset) {
        *first = Some(b);
    }
}

/// What each grain must inflate to.
#[derive(Clone, Copy)]
struct Expect {
    grain_bytes: u64,
    capacity_bytes: u64,
}

/// One thread's inflater and its output buffer (one grain and a byte, to see an overrun).
struct Inflater {
    zlib: Decompress,
    out: Vec<u8>,
    expect: Expect,
}

impl Inflater {
    fn new(expect: Expect) -> Self {
        Self { zlib: Decompress::new(true), out: vec![0; expect.grain_bytes as usize + 1], expect }
    }

    /// The first grain of the batch that does not inflate to its size.
    fn batch(&mut self, block: &[u8], batch: &[Grain]) -> Option<Broken> {
        batch.iter().find_map(|g| {
            let why = self.one(&block[g.data.clone()], g.lba)?;
            Some(Broken { code: "vmdk.grain_data", offset: g.offset, lba: g.lba, why })
        })
    }

    fn one(&mut self, data: &[u8], lba: u64) -> Option<String> {
        self.zlib.reset(true);
        let result = self.zlib.decompress(data, &mut self.out, FlushDecompress::Finish);
        let inflated = self.zlib.total_out();
        let full = self.expect.grain_bytes;
        // The last grain of a disk whose capacity is not whole grains may stop at the capacity.
        let tail = self.expect.capacity_bytes.saturating_sub(lba * SECTOR).min(full);
        match result {
            Err(e) => Some(format!(
                "does not inflate ({e}, after {inflated} bytes): the disk's data is damaged, which a manifest made \
                 after the damage would not show"
            )),
            Ok(Status::StreamEnd) if inflated == full || inflated == tail => None,
            Ok(Status::StreamEnd) => Some(format!("inflates to {inflated} bytes, not one grain ({full})")),
            Ok(_) if inflated > full => Some(format!("inflates to more than one grain ({full} bytes)")),
            Ok(_) => Some(format!(
                "stops inflating after {inflated} bytes: its compressed data ends early ({} bytes)",
                data.len()
            )),
        }
    }
}

/// The disk sectors grains were seen for, a bit per grain, allocated per grain table's span:
/// bounded by the grains the file holds, however large the capacity claims to be.
struct Seen {
    grain: u64,
    spans: HashMap<u64, [u64; (GTES_PER_GT / 64) as usize]>,
}

impl Seen {
    fn new(grain: u64) -> Self {
        Self { grain, spans: HashMap::new() }
    }

    /// Records a grain for `lba`; why not, when a grain for it was seen already.
    fn insert(&mut self, lba: u64) -> Option<String> {
        let index = lba / self.grain;
        let bits = self.spans.entry(index / GTES_PER_GT).or_default();
        let (word, bit) = (((index % GTES_PER_GT) / 64) as usize, index % 64);
        if bits[word] & (1 << bit) != 0 {
            return Some(
                "holds a disk sector an earlier grain holds too: readers disagree on which is the disk's".into(),
            );
        }
        bits[word] |= 1 << bit;
        None
    }
}

/// A hosted sparse disk: every allocated grain lies wholly in the file past the metadata, no two
/// share space, and compressed ones inflate. `allocated` grain sectors come from the tables.
pub(super) fn sparse(
    f: &(impl ReadAt + ?Sized),
    h: &Header,
    gd: u64,
    compressed: bool,
    out: &mut Sink,
) -> Option<Deep> {
    let len = f.size();
    let grain_bytes = h.grain * SECTOR;
    let expect = Expect { grain_bytes, capacity_bytes: h.capacity * SECTOR };
    let mut inflater = compressed.then(|| Inflater::new(expect));
    // One bit per grain-sized slot of the file after the metadata: two grains at one slot overlap.
    let slots = len.saturating_sub(h.overhead * SECTOR) / grain_bytes + 1;
    let mut used = vec![0u64; slots.div_ceil(64) as usize];
    let mut grains = 0u64;
    let mut data = Vec::new();
    let mut table = [0u8; (GTES_PER_GT * 4) as usize];
    let mut gde = [0u8; 4];
    for i in 0..h.gdes() {
        f.read_at(&mut gde, gd * SECTOR + i * 4).ok()?;
        let gt = u64::from(u32::from_le_bytes(gde));
        if gt == 0 {
            continue;
        }
        f.read_at(&mut table, gt * SECTOR).ok()?;
        for (j, entry) in table.chunks_exact(4).enumerate() {
            let sector = u64::from(u32::from_le_bytes(entry.try_into().expect("4 bytes")));
            if sector <= 1 {
                continue;
            }
            let lba = (i * GTES_PER_GT + j as u64) * h.grain;
            let offset = sector * SECTOR;
            let entry_at = at(gt * SECTOR + j as u64 * 4);
            if sector < h.overhead {
                out.error(
                    "vmdk.grain_overlap",
                    entry_at,
                    format!("the grain of disk sector {lba} is at sector {sector}, inside the header's metadata"),
                    RECOPY,
                );
                return None;
            }
            let rel = sector - h.overhead;
            if rel.is_multiple_of(h.grain) {
                let slot = rel / h.grain;
                let (word, bit) = ((slot / 64) as usize, slot % 64);
                if used.get(word).is_some_and(|w| w & (1 << bit) != 0) {
                    out.error(
                        "vmdk.grain_overlap",
                        entry_at,
                        format!("the grain of disk sector {lba} is at sector {sector}, where another grain already is"),
                        RECOPY,
                    );
                    return None;
                }
                if let Some(w) = used.get_mut(word) {
                    *w |= 1 << bit;
                }
            }
            grains += 1;
            let Some(inflater) = &mut inflater else { continue };
            let mut marker = [0u8; 12];
            f.read_at(&mut marker, offset).ok()?;
            let size = u64::from(u32::from_le_bytes(marker[8..].try_into().expect("4 bytes")));
            if size > BLOCK as u64 || offset + 12 + size > len {
                out.error(
                    "vmdk.grain_size_field",
                    at(offset + 8),
                    format!(
                        "the grain of disk sector {lba} claims {size} compressed bytes, past the file or any grain"
                    ),
                    RECOPY,
                );
                return None;
            }
            data.resize(size as usize, 0);
            f.read_at(&mut data, offset + 12).ok()?;
            if let Some(why) = inflater.one(&data, lba) {
                out.error(
                    "vmdk.grain_data",
                    at(offset),
                    format!("the grain at offset {offset} (disk sector {lba}) {why}"),
                    DAMAGED,
                );
                return None;
            }
        }
    }
    Some(Deep { grains, digest: None })
}
