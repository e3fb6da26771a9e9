//! Preflight: what is wrong with an upload's files, found before the server is touched.
//!
//! vCenter notices a malformed disk, a descriptor naming a missing file or a manifest that does
//! not match only when the upload completes, often hours in, and then says little more than
//! "IO error during transfer". The preflight reads the structure of an OVF set, an OVA or loose
//! VMDKs — headers, tables and markers — and, unless asked for the structure only, every grain of
//! every disk, the manifest's digests and the certificate's signature. It reports each problem
//! with the file, where in it, what is wrong and what to do. Every check and its source is listed
//! in `docs/preflight.md`.
//!
//! ```no_run
//! use cl_sdk::preflight::{self, Options};
//!
//! let report = preflight::check(&["photon.ova".into()], Options::full())?;
//! for disk in &report.disks {
//!     println!("{disk}"); // layout, size, grains read, the tool that wrote it
//! }
//! for finding in &report.findings {
//!     println!("{finding}");
//! }
//! if report.has_errors() {
//!     std::process::exit(2);
//! }
//! # Ok::<(), cl_sdk::Error>(())
//! ```

mod ova;
mod ovf;
mod signature;
mod vmdk;

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};

/// How bad a finding is.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::preflight::{self, Options};
/// let report = preflight::check(&["photon.ova".into()], Options::full())?;
/// use cl_sdk::preflight::Severity;
/// let warnings = report.findings.iter().filter(|f| f.severity == Severity::Warning).count();
/// println!("{warnings} warnings");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The upload would fail, or the item would not deploy.
    Error,
    /// Some consumers reject it, or it is likely a mistake.
    Warning,
}

/// Where in a file a finding is.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::preflight::{self, Options};
/// let report = preflight::check(&["photon.ova".into()], Options::full())?;
/// use cl_sdk::preflight::Location;
/// for finding in &report.findings {
///     if let Some(Location::Offset(at)) = &finding.at {
///         println!("{} at byte {at}", finding.file);
///     }
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Location {
    /// A byte offset.
    Offset(u64),
    /// A line (from 1).
    Line(usize),
    /// An element or attribute of a descriptor, as a path.
    Field(String),
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Offset(o) => write!(f, "offset {o}"),
            Self::Line(l) => write!(f, "line {l}"),
            Self::Field(p) => f.write_str(p),
        }
    }
}

/// One problem found.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::preflight::{self, Options};
/// let report = preflight::check(&["photon.ova".into()], Options::full())?;
/// for finding in &report.findings {
///     println!("[{}] {}: {}; {}", finding.code, finding.file, finding.problem, finding.fix);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// The file, as the upload names it (`x.ova:disk1.vmdk` for an OVA member).
    pub file: String,
    /// Where in the file, when it is one place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at: Option<Location>,
    /// A stable name for the check (`vmdk.truncated`), listed in `docs/preflight.md`.
    pub code: &'static str,
    /// What is wrong.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        write!(f, "{level}: {}", self.file)?;
        if let Some(at) = &self.at {
            write!(f, " ({at})")?;
        }
        write!(f, ": {} [{}]; {}", self.problem, self.code, self.fix)
    }
}

/// What a preflight found.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::preflight::{self, Options};
/// let report = preflight::check(&["photon.ova".into()], Options::full())?;
/// println!("{} files, {} findings", report.files, report.findings.len());
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default, Serialize)]
#[non_exhaustive]
pub struct Report {
    /// Errors first, then warnings, each in the order found.
    pub findings: Vec<Finding>,
    /// How many files were looked at (an OVA's members each count).
    pub files: usize,
    /// What was learned of each disk whose header could be read, in the order checked.
    pub disks: Vec<DiskFacts>,
}

/// What the preflight learned of one disk.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::preflight::{self, Options};
/// let report = preflight::check(&["photon.ova".into()], Options::full())?;
/// for disk in &report.disks {
///     println!("{}: {} bytes, written by {:?}", disk.file, disk.capacity_bytes, disk.producer);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct DiskFacts {
    /// The file, named as in findings.
    pub file: String,
    /// Stream-optimized (compressed grains and markers), or hosted sparse.
    pub stream_optimized: bool,
    /// The disk's size as its header gives it.
    pub capacity_bytes: u64,
    /// The tool that wrote it, where the file says so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub producer: Option<Producer>,
    /// What in the file names the producer.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub producer_evidence: Option<&'static str>,
    /// How many grains the deep check read (inflated, when compressed); `None` when it did not
    /// run or stopped at a problem.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub grains_checked: Option<u64>,
}

impl fmt::Display for DiskFacts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let layout = if self.stream_optimized { "stream-optimized" } else { "hosted sparse" };
        write!(f, "{}: {layout}, {} bytes", self.file, self.capacity_bytes)?;
        if let Some(n) = self.grains_checked {
            write!(f, ", {n} grains read")?;
        }
        match (self.producer, self.producer_evidence) {
            (Some(p), Some(why)) => write!(f, "; written by {p} ({why})"),
            _ => f.write_str("; writer unknown"),
        }
    }
}

/// A tool that writes VMDKs, as the preflight recognises it.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::preflight::{self, Options};
/// let report = preflight::check(&["photon.ova".into()], Options::full())?;
/// use cl_sdk::preflight::Producer;
/// if report.disks.iter().any(|d| d.producer == Some(Producer::QemuImg)) {
///     println!("a qemu-img stream: see the vmdk.no_eos finding");
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Producer {
    /// qemu-img (and the builders that run it: packer's qemu builder, kiwi, image factories).
    QemuImg,
    /// Debian's python3-vmdkstream.
    Vmdkstream,
    /// VirtualBox (`VBoxManage clonemedium`, appliance export).
    VirtualBox,
    /// A VMware writer: ovftool, vmdk-convert (open-vmdk), an ESXi or Workstation export.
    #[serde(rename = "vmware")]
    VMware,
}

impl fmt::Display for Producer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::QemuImg => "qemu-img",
            Self::Vmdkstream => "python3-vmdkstream",
            Self::VirtualBox => "VirtualBox",
            Self::VMware => "a VMware tool (ovftool, vmdk-convert, ESXi)",
        })
    }
}

impl Report {
    /// Whether any finding is an error.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::preflight::{self, Options};
    /// let report = preflight::check(&["photon.ova".into()], Options::structure())?;
    /// if report.has_errors() {
    ///     eprintln!("fix the files first");
    /// }
    /// # Ok(()) }
    /// ```
    pub fn has_errors(&self) -> bool {
        self.findings.iter().any(|f| f.severity == Severity::Error)
    }

    /// The errors.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::preflight::{self, Options};
    /// let report = preflight::check(&["photon.ova".into()], Options::full())?;
    /// for error in report.errors() {
    ///     eprintln!("{}: {} ({})", error.file, error.problem, error.fix);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn errors(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.severity == Severity::Error)
    }
}

/// Whether manifest digests are verified (every listed file read in full) or left to the
/// upload, which hashes each file as it sends it anyway.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::preflight::{Digests, Options};
/// let options = Options::full().digests(Digests::Skip);
/// # let _ = options;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Digests {
    /// Read every file a manifest lists and compare its digest.
    Verify,
    /// Check the manifest's form and names only.
    Skip,
}

/// How deep a preflight reads.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::preflight::{self, Options};
/// let quick = preflight::check(&["photon.ova".into()], Options::structure())?;
/// let thorough = preflight::check(&["photon.ova".into()], Options::full())?;
/// # let _ = (quick, thorough);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    digests: Digests,
    grains: bool,
}

impl Options {
    /// Everything: manifest digests verified, every grain of every disk read and inflated, the
    /// signature checked. Reads every byte once (a disk's digest is taken in the same pass as
    /// its grains); what `clx check` does.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::preflight::{self, Options};
    /// let report = preflight::check(&["build/photon".into()], Options::full())?;
    /// # let _ = report;
    /// # Ok(()) }
    /// ```
    pub fn full() -> Self {
        Self { digests: Digests::Verify, grains: true }
    }

    /// Headers, tables, markers, descriptors, the manifest's form and the signature: a few reads
    /// per file, milliseconds for any size; what `clx upload` does before it connects.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::preflight::{self, Options};
    /// let report = preflight::check(&["build/photon".into()], Options::structure())?;
    /// # let _ = report;
    /// # Ok(()) }
    /// ```
    pub fn structure() -> Self {
        Self { digests: Digests::Skip, grains: false }
    }

    /// Whether manifest digests are verified.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::preflight::{self, Digests, Options};
    /// // Every grain, but leave the digests to the upload, which hashes while it sends.
    /// let options = Options::full().digests(Digests::Skip);
    /// let report = preflight::check(&["photon.ova".into()], options)?;
    /// # let _ = report;
    /// # Ok(()) }
    /// ```
    pub fn digests(mut self, digests: Digests) -> Self {
        self.digests = digests;
        self
    }

    /// Whether every grain is read and inflated (CPU-bound: the cost of decompressing the disk).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::preflight::{self, Options};
    /// let options = Options::structure().grains(true);
    /// let report = preflight::check(&["photon.ova".into()], options)?;
    /// # let _ = report;
    /// # Ok(()) }
    /// ```
    pub fn grains(mut self, grains: bool) -> Self {
        self.grains = grains;
        self
    }
}

impl Default for Options {
    fn default() -> Self {
        Self::full()
    }
}

/// Checks local files as an upload would take them: an `.ova` is its own set of members, the
/// other files (an OVF folder's, or loose files) one set. Files of other kinds (ISOs, scripts)
/// are counted and otherwise left alone.
///
/// Blocking: it reads files (all of them with [`Options::full`]); from async code run it on a
/// blocking thread (`tokio::task::spawn_blocking`). The grain check uses every core.
///
/// `Err` only for a path that cannot be read at all; everything wrong inside files is a finding.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// use cl_sdk::preflight::{self, Options};
/// let report = preflight::check(&["build/photon.ovf".into(), "build/disk-0.vmdk".into()], Options::full())?;
/// println!("{} files, {} findings", report.files, report.findings.len());
/// # Ok(()) }
/// ```
pub fn check(paths: &[PathBuf], options: Options) -> Result<Report> {
    let mut findings = Vec::new();
    let mut disks = Vec::new();
    let mut files = 0;
    let mut loose = Vec::new();
    for path in paths {
        let file = open(path)?;
        let name = display_name(path);
        if name.to_ascii_lowercase().ends_with(".ova") {
            let members = ova::members(&file, &mut Sink::new(&name, &mut findings));
            files += members.len();
            let mut entries = Vec::with_capacity(members.len());
            for m in members {
                let data = Region::new(file.try_clone().map_err(|e| io(path, e))?, m.offset, m.size);
                entries.push(Entry { label: format!("{name}:{}", m.name), name: m.name, data });
            }
            let referenced = check_set(&entries, options, &mut findings, &mut disks);
            let names: Vec<&str> = entries.iter().map(|e| e.name.as_str()).collect();
            ova::order(&names, referenced.as_deref(), &mut Sink::new(&name, &mut findings));
        } else {
            let len = file.metadata().map_err(|e| io(path, e))?.len();
            loose.push(Entry { label: name.clone(), name, data: Region::new(file, 0, len) });
        }
    }
    files += loose.len();
    check_set(&loose, options, &mut findings, &mut disks);
    findings.sort_by_key(|f| f.severity);
    Ok(Report { findings, files, disks })
}

/// [`check`] on a blocking thread, for async callers: a full check reads whole disks.
///
/// ```no_run
/// # async fn demo() -> cl_sdk::Result<()> {
/// use cl_sdk::preflight::{self, Options};
/// let report = preflight::check_async(vec!["photon.ova".into()], Options::structure()).await?;
/// assert!(!report.has_errors(), "{:?}", report.findings);
/// # Ok(()) }
/// ```
pub async fn check_async(paths: Vec<PathBuf>, options: Options) -> Result<Report> {
    tokio::task::spawn_blocking(move || check(&paths, options))
        .await
        .map_err(|e| Error::new(ErrorKind::Io, format!("the preflight stopped before its end: {e}")))?
}

/// One file's bytes alone, by the kind its name says (`.vmdk`, `.ovf`, `.mf`): what the fuzz
/// targets drive. Not a stable API.
#[doc(hidden)]
pub fn check_one(name: &str, bytes: &[u8]) -> Vec<Finding> {
    let mut findings = Vec::new();
    let mut sink = Sink::new(name, &mut findings);
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".vmdk") {
        vmdk::check(bytes, Some(vmdk::Deep { digest: None }), &mut sink);
    } else if lower.ends_with(".ovf") {
        ovf::check_descriptor(bytes, &ovf::View::EMPTY, &mut sink);
    } else if lower.ends_with(".mf") {
        ovf::check_manifest(bytes, &[], Digests::Skip, &mut sink);
    }
    drop(sink);
    findings
}

/// A file of a set: its name in the item, how findings name it, and its bytes.
struct Entry {
    name: String,
    label: String,
    data: Region,
}

/// Checks a set's disks, then the set; the names its descriptors reference (see
/// [`ovf::check_set`]).
fn check_set(
    entries: &[Entry],
    options: Options,
    findings: &mut Vec<Finding>,
    facts: &mut Vec<DiskFacts>,
) -> Option<Vec<String>> {
    // A disk the manifest lists has its digest taken in the grain pass's one read.
    let listed = if options.grains && options.digests == Digests::Verify { ovf::listed(entries) } else { Vec::new() };
    let mut disks = Vec::new();
    let mut digested = Vec::new();
    for entry in entries.iter().filter(|e| e.name.to_ascii_lowercase().ends_with(".vmdk")) {
        let mut sink = Sink::new(&entry.label, findings);
        let algorithm = listed.iter().find(|(name, _)| *name == entry.name).map(|(_, a)| a.clone());
        let deep = options.grains.then(|| vmdk::Deep {
            digest: algorithm.as_ref().and_then(|a| crate::transfer::checksum::Hasher::new(a).ok()),
        });
        if let Some(disk) = vmdk::check(&entry.data, deep, &mut sink) {
            facts.push(DiskFacts {
                file: entry.label.clone(),
                stream_optimized: disk.stream_optimized,
                capacity_bytes: disk.capacity_bytes,
                producer: disk.producer.map(|(p, _)| p),
                producer_evidence: disk.producer.map(|(_, why)| why),
                grains_checked: disk.grains,
            });
            if let (Some(a), Some(hex)) = (algorithm, &disk.digest) {
                digested.push((entry.name.clone(), a, hex.clone()));
            }
            disks.push((entry.name.clone(), disk));
        }
    }
    ovf::check_set(entries, &disks, options.digests, &digested, findings)
}

/// Where findings of one file go: repeats of a check are counted, not listed, so a disk with a
/// million bad entries gives one finding that says how many.
pub(crate) struct Sink<'a> {
    file: String,
    out: &'a mut Vec<Finding>,
    first: usize,
    repeats: Vec<(&'static str, usize)>,
}

impl<'a> Sink<'a> {
    fn new(file: &str, out: &'a mut Vec<Finding>) -> Self {
        let first = out.len();
        Self { file: file.to_owned(), out, first, repeats: Vec::new() }
    }

    pub fn error(&mut self, code: &'static str, at: Option<Location>, problem: impl Into<String>, fix: &str) {
        self.push(Severity::Error, code, at, problem.into(), fix);
    }

    pub fn warning(&mut self, code: &'static str, at: Option<Location>, problem: impl Into<String>, fix: &str) {
        self.push(Severity::Warning, code, at, problem.into(), fix);
    }

    pub fn has_errors(&self) -> bool {
        self.out[self.first..].iter().any(|f| f.severity == Severity::Error)
    }

    fn push(&mut self, severity: Severity, code: &'static str, at: Option<Location>, problem: String, fix: &str) {
        if self.out[self.first..].iter().any(|f| f.code == code) {
            match self.repeats.iter_mut().find(|(c, _)| *c == code) {
                Some((_, n)) => *n += 1,
                None => self.repeats.push((code, 1)),
            }
            return;
        }
        let file = self.file.clone();
        self.out.push(Finding { severity, file, at, code, problem, fix: fix.to_owned() });
    }
}

impl Drop for Sink<'_> {
    fn drop(&mut self) {
        for (code, n) in &self.repeats {
            if let Some(f) = self.out[self.first..].iter_mut().find(|f| f.code == *code) {
                f.problem.push_str(&format!(" (and {n} more like it)"));
            }
        }
    }
}

/// Random access to a file's bytes; a slice in tests and fuzzing, a region of a file otherwise.
pub(crate) trait ReadAt {
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`; an error when that runs past the end.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()>;
}

impl ReadAt for [u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let start = usize::try_from(offset).ok().filter(|&s| s <= self.len());
        let slice = start.and_then(|s| self.get(s..s.checked_add(buf.len())?));
        let slice = slice.ok_or_else(|| std::io::Error::from(std::io::ErrorKind::UnexpectedEof))?;
        buf.copy_from_slice(slice);
        Ok(())
    }
}

/// A small read-through window over a reader: markers and table entries are a few bytes each and
/// often close together (a compressible grain deflates to a sector), so one read of a window
/// serves many of them; far apart, a window costs little more than the few bytes.
pub(crate) struct Windowed<'a, R: ReadAt + ?Sized> {
    inner: &'a R,
    window: std::cell::RefCell<(u64, Vec<u8>)>,
}

impl<'a, R: ReadAt + ?Sized> Windowed<'a, R> {
    const SIZE: u64 = 8192;

    pub fn new(inner: &'a R) -> Self {
        Self { inner, window: std::cell::RefCell::new((0, Vec::new())) }
    }
}

impl<R: ReadAt + ?Sized> ReadAt for Windowed<'_, R> {
    fn size(&self) -> u64 {
        self.inner.size()
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        let want = buf.len() as u64;
        if want > Self::SIZE {
            return self.inner.read_at(buf, offset);
        }
        let mut window = self.window.borrow_mut();
        let (start, bytes) = &mut *window;
        let inside = offset >= *start && offset + want <= *start + bytes.len() as u64;
        if !inside {
            let len = Self::SIZE.min(self.inner.size().saturating_sub(offset));
            if len < want {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            bytes.resize(len as usize, 0);
            if let Err(e) = self.inner.read_at(bytes, offset) {
                bytes.clear();
                return Err(e);
            }
            *start = offset;
        }
        let from = (offset - *start) as usize;
        buf.copy_from_slice(&bytes[from..from + buf.len()]);
        Ok(())
    }
}

/// `len` bytes of a file from `start` (a whole file, or an OVA member in place).
pub(crate) struct Region {
    file: std::fs::File,
    start: u64,
    len: u64,
}

impl Region {
    fn new(file: std::fs::File, start: u64, len: u64) -> Self {
        Self { file, start, len }
    }
}

impl ReadAt for Region {
    fn size(&self) -> u64 {
        self.len
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
        if offset.checked_add(buf.len() as u64).is_none_or(|end| end > self.len) {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        crate::transfer::ova::read_at(&self.file, buf, self.start + offset)
    }
}

fn open(path: &Path) -> Result<std::fs::File> {
    let file = std::fs::File::open(path).map_err(|e| io(path, e))?;
    if !file.metadata().map_err(|e| io(path, e))?.is_file() {
        return Err(Error::new(ErrorKind::InvalidInput, format!("{} is not a file", path.display())));
    }
    Ok(file)
}

fn io(path: &Path, e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("cannot read {}: {e}", path.display())).with_source(e)
}

fn display_name(path: &Path) -> String {
    path.file_name().unwrap_or(path.as_os_str()).to_string_lossy().into_owned()
}
