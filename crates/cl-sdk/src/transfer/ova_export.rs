//! Export an OVF template item as one OVA stream: a tar archive with the descriptor first, a
//! manifest made from the server's checksums (known before the first byte, so no extra pass)
//! second, then the files in the order of the descriptor's `References`, then any others.
//!
//! Every file is prepared ahead (all at once, `concurrency` at a time) and streamed in order
//! from its download endpoint, the next one fetched ahead into a bounded buffer: a break resumes
//! with `Range` inside the member, and its bytes are checked against the server's checksum as
//! they pass, the last chunk held back until they match. Into a file, the archive is written to
//! a hidden partial beside it and renamed only when every member verified; a member whose bytes
//! fail is fetched again from its start (the file is cut back) under the retry policy. Into any
//! other writer, a failure leaves the output incomplete and the error says so.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use cl_api::types::{ChecksumAlgorithm, ChecksumInfo, ItemFileInfo};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::OnceCell;

use super::disk_writer::DiskWriter;
use super::endpoint::{ByteStream, Opened};
use super::runner::{FileHandle, copy};
use super::sink::Sink;
use super::source::{ItemFileSource, Source};
use super::{Checksum, Common, FileProgress, FileState, Overwrite};
use crate::client::Client;
use crate::error::{Error, ErrorKind, Result};
use crate::id::ItemId;
use crate::retry::FileRetries;

/// Options of [`Client::export_ova`].
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::{OvaOptions, OvaTarget, Overwrite};
/// let options = OvaOptions::default().overwrite(Overwrite::Always).concurrency(2);
/// client.export_ova(&item, OvaTarget::path("photon.ova"), options).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OvaOptions {
    prepare_timeout: Duration,
    overwrite: Overwrite,
    common: Common,
}

impl Default for OvaOptions {
    fn default() -> Self {
        Self { prepare_timeout: Duration::from_secs(3600), overwrite: Overwrite::Never, common: Common::default() }
    }
}

/// Where [`Client::export_ova`] writes the archive.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::{OvaOptions, OvaTarget};
/// client.export_ova(&item, OvaTarget::path("photon.ova"), OvaOptions::default()).await?;
/// # Ok(()) }
/// ```
pub enum OvaTarget<'a> {
    /// A file: written into a hidden partial beside it and renamed into place only when every
    /// member verified, so no partial archive is ever left under its name.
    Path(PathBuf),
    /// Any writer (a pipe, a socket, an upload): on failure the output is incomplete, and the
    /// error says so.
    Writer(Box<dyn AsyncWrite + Unpin + Send + 'a>),
}

impl<'a> OvaTarget<'a> {
    /// A file at `path`.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{OvaOptions, OvaTarget};
    /// client.export_ova(&item, OvaTarget::path("/var/tmp/photon.ova"), OvaOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub fn path(path: impl Into<PathBuf>) -> Self {
        Self::Path(path.into())
    }

    /// A writer.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{OvaOptions, OvaTarget};
    /// let file = tokio::fs::File::create("/var/tmp/photon.ova").await?;
    /// client.export_ova(&item, OvaTarget::writer(file), OvaOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub fn writer(out: impl AsyncWrite + Unpin + Send + 'a) -> Self {
        Self::Writer(Box::new(out))
    }
}

impl std::fmt::Debug for OvaTarget<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Path(path) => f.debug_tuple("Path").field(path).finish(),
            Self::Writer(_) => f.write_str("Writer(..)"),
        }
    }
}

super::common_setters!(OvaOptions);

impl OvaOptions {
    /// How long the server may take to prepare a file (default 1 h).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// use cl_sdk::transfer::{OvaOptions, OvaTarget};
    /// let options = OvaOptions::default().prepare_timeout(Duration::from_secs(7200));
    /// client.export_ova(&item, OvaTarget::path("photon.ova"), options).await?;
    /// # Ok(()) }
    /// ```
    pub fn prepare_timeout(mut self, timeout: Duration) -> Self {
        self.prepare_timeout = timeout;
        self
    }
    /// What to do with an existing file at the target path (default: refuse).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{OvaOptions, OvaTarget, Overwrite};
    /// let options = OvaOptions::default().overwrite(Overwrite::Always);
    /// client.export_ova(&item, OvaTarget::path("photon.ova"), options).await?;
    /// # Ok(()) }
    /// ```
    pub fn overwrite(mut self, overwrite: Overwrite) -> Self {
        self.overwrite = overwrite;
        self
    }
}

/// One member of an exported OVA.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::{OvaOptions, OvaTarget};
/// let report = client.export_ova(&item, OvaTarget::path("photon.ova"), OvaOptions::default()).await?;
/// for member in &report.members {
///     println!("{} {} bytes {:?}", member.name, member.size, member.checksum);
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct OvaMember {
    /// Its name in the archive (the file's name in the item).
    pub name: String,
    /// Its size.
    pub size: u64,
    /// The checksum it was verified against; none for the generated manifest.
    pub checksum: Option<Checksum>,
}

/// What an OVA export did.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::transfer::{OvaOptions, OvaTarget};
/// let report = client.export_ova(&item, OvaTarget::path("photon.ova"), OvaOptions::default()).await?;
/// println!("{} bytes at {:?}", report.bytes, report.path);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct OvaReport {
    /// The members in archive order.
    pub members: Vec<OvaMember>,
    /// The archive's size.
    pub bytes: u64,
    /// Where it was written (exports to a path).
    pub path: Option<PathBuf>,
    /// Wall time.
    pub elapsed: Duration,
}

/// Chunks of the next member held ahead of the writer (each at most the HTTP client's read).
const AHEAD_CHUNKS: usize = 16;

/// A member's source whose first bytes are fetched ahead into a bounded buffer while the member
/// before it is written; a later open (a repeat) goes to the source itself.
struct Ahead {
    source: Arc<ItemFileSource>,
    first: std::sync::Mutex<Option<ByteStream>>,
}

impl Ahead {
    /// Starts fetching `source` now; dropping the result stops the fetch.
    fn start(source: Arc<ItemFileSource>, retries: &FileRetries) -> Self {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<bytes::Bytes>>(AHEAD_CHUNKS);
        let (fetched, retries) = (source.clone(), retries.clone());
        tokio::spawn(async move {
            let mut bytes = match fetched.open(0, &retries).await {
                Ok(opened) => opened.bytes,
                Err(error) => {
                    let _ = tx.send(Err(error)).await;
                    return;
                }
            };
            while let Some(chunk) = bytes.next().await {
                if tx.send(chunk).await.is_err() {
                    return;
                }
            }
        });
        let first =
            futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|chunk| (chunk, rx)) }).boxed();
        Self { source, first: std::sync::Mutex::new(Some(first)) }
    }
}

impl Source for Ahead {
    fn open<'a>(&'a self, offset: u64, retries: &FileRetries) -> BoxFuture<'a, Result<Opened>> {
        let first = self.first.lock().unwrap_or_else(|e| e.into_inner()).take();
        match first {
            Some(bytes) if offset == 0 => Box::pin(std::future::ready(Ok(Opened { start: 0, bytes }))),
            _ => self.source.open(offset, retries),
        }
    }
}

/// One member of the archive as the runner's sink: header, bytes, padding, written at the
/// member's place in the output. It keeps nothing between attempts (the source checks a whole
/// member's checksum only from its first byte), so every attempt writes the member again from
/// its start: a file is cut back there; a stream can be only while nothing of the member was
/// written (its first bytes are awaited before its header).
struct TarMember<'o, 'w> {
    out: &'o mut Output<'w>,
    start: u64,
    name: String,
    size: u64,
    handle: FileHandle,
    /// The member's checksum, checked by a file's writer thread as it writes (a stream's source
    /// checks its own bytes instead, holding the last chunk back).
    check: Option<ChecksumInfo>,
}

impl Sink for TarMember<'_, '_> {
    fn offset(&self) -> u64 {
        0
    }

    fn take(&mut self, opened: Opened) -> BoxFuture<'_, Result<()>> {
        Box::pin(async move {
            if !self.out.rewind(self.start).await? {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("{}: the output cannot go back to write it again", self.name),
                ));
            }
            self.out.stream_member(&self.name, opened.bytes, self.size, &self.handle, self.check.as_ref()).await
        })
    }

    fn repeatable(&self) -> bool {
        self.out.can_rewind(self.start)
    }

    fn restart(&mut self) -> BoxFuture<'_, Result<bool>> {
        Box::pin(async move { self.out.rewind(self.start).await })
    }
}

/// The tar block size.
const BLOCK: u64 = 512;
/// The largest descriptor read to order the members.
const MAX_DESCRIPTOR: u64 = 16 << 20;

impl Client {
    /// Writes the OVF template `item` as one OVA: the descriptor first, a manifest made from the
    /// server's checksums, then the files in the descriptor's order, each verified as it passes.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::transfer::{OvaOptions, OvaTarget};
    /// let report = client.export_ova(&item, OvaTarget::path("photon.ova"), OvaOptions::default()).await?;
    /// println!("{} bytes in {} members", report.bytes, report.members.len());
    /// // Or into any writer: a pipe, a socket, memory.
    /// let mut archive = Vec::new();
    /// client.export_ova(&item, OvaTarget::writer(&mut archive), OvaOptions::default()).await?;
    /// # Ok(()) }
    /// ```
    pub async fn export_ova(&self, item: &ItemId, target: OvaTarget<'_>, options: OvaOptions) -> Result<OvaReport> {
        match target {
            OvaTarget::Path(path) => self.export_ova_file(item.as_str(), &path, options).await,
            OvaTarget::Writer(out) => {
                let out = tokio::io::BufWriter::with_capacity(WRITE_BUFFER, out);
                let mut out = Output { to: Target::Stream(Box::new(out)), at: 0 };
                self.export(item.as_str(), &mut out, &options)
                    .await
                    .map_err(|e| e.with_detail("the output is incomplete: it is not a usable OVA".to_owned()))
            }
        }
    }

    /// The archive into a hidden partial beside `path`, renamed into place when whole.
    async fn export_ova_file(&self, item_id: &str, path: &Path, options: OvaOptions) -> Result<OvaReport> {
        let overwrite = options.overwrite == Overwrite::Always;
        if !overwrite && tokio::fs::symlink_metadata(path).await.is_ok() {
            return Err(super::staging::exists(path));
        }
        // The download's staging: a new hidden file (no link followed), renamed only once whole.
        let (file, partial) = super::staging::exclusive_partial(path).await?;
        let writer = DiskWriter::start(file.into_std().await, None, &partial);
        let mut out = Output { to: Target::File(Some(writer), partial.clone()), at: 0 };
        let result = match self.export(item_id, &mut out, &options).await {
            Ok(report) => super::staging::finalize(&partial, path, overwrite).await.map(|()| report),
            Err(e) => Err(e),
        };
        if result.is_err() {
            let _ = tokio::fs::remove_file(&partial).await;
        }
        result.map(|report| OvaReport { path: Some(path.to_owned()), ..report })
    }

    async fn export(&self, item_id: &str, out: &mut Output<'_>, options: &OvaOptions) -> Result<OvaReport> {
        let started = Instant::now();
        let options = &OvaOptions { common: options.common.clone().begin(), ..options.clone() };
        options.common.control.check()?;
        let item = ItemId::new(item_id);
        let files = self.item_files(&item).await?;
        let plan = Plan::of(files)?;
        let session = self.create_session::<crate::Download>(&item).await?;
        let result = options.common.run(self.write_members(&session, plan, out, options)).await;
        if let Err(e) = session.delete().await {
            tracing::warn!(session = %session.id(), error = %e, "could not delete the download session");
        }
        let (members, bytes) = result?;
        Ok(OvaReport { members, bytes, path: None, elapsed: started.elapsed() })
    }

    async fn write_members(
        &self,
        session: &crate::session::DownloadSession,
        mut plan: Plan,
        out: &mut Output<'_>,
        options: &OvaOptions,
    ) -> Result<(Vec<OvaMember>, u64)> {
        let common = &options.common;
        let _keep_alive = common.keep_alive(session);
        // Into a file, a member's bytes are hashed by the writer's thread as they are written
        // (one copy, one thread, as a download's); into a stream, by the source, which holds the
        // last chunk back. The descriptor is read whole and checked by its source either way.
        let writer_checks = out.writes_a_file();
        let sources: Vec<Arc<ItemFileSource>> = plan
            .files
            .iter()
            .enumerate()
            .map(|(i, f)| ItemFileSource {
                session: session.clone(),
                name: f.name.clone(),
                size: f.size,
                checksum: (i == 0 || !writer_checks).then(|| f.checksum.clone()),
                prepare_timeout: options.prepare_timeout,
                prepared: OnceCell::new(),
            })
            .map(Arc::new)
            .collect();
        // Every file is prepared ahead, so the server readies the next while one streams; the
        // descriptor is read meanwhile: it says in what order the rest goes.
        let preparing = futures_util::stream::iter(sources.iter().map(|s| s.prepare()))
            .buffer_unordered(common.concurrency)
            .collect::<Vec<Result<()>>>();
        let descriptor_retries = common.retries(self);
        let read_descriptor = read_all(&sources[0], plan.files[0].size, &descriptor_retries);
        let (prepared, descriptor) = tokio::join!(preparing, read_descriptor);
        let descriptor = descriptor?;
        prepared.into_iter().collect::<Result<()>>()?;
        plan.order_by_references(&descriptor);
        let mut progress = vec![FileProgress::waiting(&plan.files[0].name, Some(plan.files[0].size))];
        progress.push(FileProgress::waiting(&plan.manifest_name, Some(plan.manifest().len() as u64)));
        progress
            .extend(plan.order.iter().map(|&i| FileProgress::waiting(&plan.files[i].name, Some(plan.files[i].size))));
        let handles = common.start(progress);

        let mut members = Vec::new();
        out.member(&plan.files[0].name, &descriptor).await?;
        handles[0].update(|p| {
            p.done = descriptor.len() as u64;
            p.state = FileState::Done;
        });
        members.push(plan.member(0));
        let manifest = plan.manifest();
        out.member(&plan.manifest_name, manifest.as_bytes()).await?;
        handles[1].update(|p| {
            p.done = manifest.len() as u64;
            p.state = FileState::Done;
        });
        members.push(OvaMember { name: plan.manifest_name.clone(), size: manifest.len() as u64, checksum: None });
        // Each member runs on the runner (retry, resume inside the source, a refetch of bytes
        // that failed their checksum, progress); the next is fetched ahead meanwhile.
        let counts: Vec<FileRetries> = plan.order.iter().map(|_| common.retries(self)).collect();
        let mut ahead = plan.order.first().map(|&i| Ahead::start(sources[i].clone(), &counts[0]));
        for (slot, &i) in plan.order.iter().enumerate() {
            let handle = handles[slot + 2].clone();
            handle.state(FileState::Transferring);
            let source = ahead.take().expect("every member is started ahead");
            ahead = plan.order.get(slot + 1).map(|&next| Ahead::start(sources[next].clone(), &counts[slot + 1]));
            let file = &plan.files[i];
            let start = out.at;
            let check = writer_checks.then(|| file.checksum.clone());
            let mut sink = TarMember { out: &mut *out, start, name: file.name.clone(), size: file.size, handle, check };
            copy(&source, &mut sink, Some(file.size), &counts[slot]).await?;
            sink.handle.state(FileState::Done);
            members.push(plan.member(i));
        }
        out.end().await?;
        Ok((members, out.at))
    }
}

/// A file of the item, as the archive needs it: size and checksum known up front.
struct Planned {
    name: String,
    size: u64,
    checksum: cl_api::types::ChecksumInfo,
}

/// The archive's layout: the descriptor (`files[0]`), the manifest, then `order`.
struct Plan {
    files: Vec<Planned>,
    manifest_name: String,
    /// Indexes into `files` after the descriptor, in archive order.
    order: Vec<usize>,
}

impl Plan {
    /// Checks the item's files: one `.ovf`, every size and checksum there and usable; an item
    /// manifest is left out (a fresh one is made from the checksums).
    fn of(files: Vec<ItemFileInfo>) -> Result<Self> {
        let is = |name: &str, ext: &str| name.to_ascii_lowercase().ends_with(ext);
        let descriptors = files.iter().filter(|f| is(&f.name, ".ovf")).count();
        if descriptors != 1 {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "the item is not an OVF template (it holds {descriptors} .ovf descriptors, an OVA needs one); \
                     download its files instead"
                ),
            ));
        }
        super::names::check_distinct(files.iter().map(|f| f.name.as_str()))?;
        let mut planned = Vec::new();
        for file in files.into_iter().filter(|f| !is(&f.name, ".mf")) {
            super::names::safe_file_name(Path::new("."), &file.name)?;
            let size = super::required_size(file.size, &file.name, "an OVA's tar header needs it")?;
            let checksum = file.checksum_info.filter(|c| !c.checksum.trim().is_empty()).ok_or_else(|| {
                Error::new(
                    ErrorKind::Decode,
                    format!(
                        "the server reports no checksum for {}: an OVA's manifest needs one for every file",
                        file.name
                    ),
                )
            })?;
            if !checksum.checksum.trim().bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(Error::new(
                    ErrorKind::Decode,
                    format!("the server's checksum for {} is not hexadecimal: {:?}", file.name, checksum.checksum),
                ));
            }
            planned.push(Planned { name: file.name, size, checksum });
        }
        let at = planned.iter().position(|f| is(&f.name, ".ovf")).unwrap_or(0);
        planned.swap(0, at);
        let stem = planned[0].name[..planned[0].name.len() - 4].to_owned();
        let order = (1..planned.len()).collect();
        Ok(Self { files: planned, manifest_name: format!("{stem}.mf"), order })
    }

    /// Orders the members as the descriptor's `References/File@href` list them; files it does not
    /// name follow in the item's order. A descriptor that does not parse keeps the item's order.
    fn order_by_references(&mut self, descriptor: &[u8]) {
        let hrefs = references(descriptor).unwrap_or_else(|why| {
            tracing::warn!(%why, "the descriptor does not parse; the item's order is kept");
            Vec::new()
        });
        let rank = |i: &usize| hrefs.iter().position(|h| *h == self.files[*i].name).unwrap_or(usize::MAX);
        self.order.sort_by_key(rank);
    }

    /// `SHA1(name)= hex` for every member but the manifest itself, in archive order.
    fn manifest(&self) -> String {
        std::iter::once(0)
            .chain(self.order.iter().copied())
            .map(|i| {
                let f = &self.files[i];
                let algorithm = match f.checksum.algorithm.clone().unwrap_or(ChecksumAlgorithm::Sha1) {
                    ChecksumAlgorithm::Sha256 => "SHA256",
                    ChecksumAlgorithm::Sha512 => "SHA512",
                    ChecksumAlgorithm::Md5 => "MD5",
                    _ => "SHA1",
                };
                format!("{algorithm}({})= {}\n", f.name, f.checksum.checksum.trim().to_ascii_lowercase())
            })
            .collect()
    }

    fn member(&self, i: usize) -> OvaMember {
        let f = &self.files[i];
        let algorithm = f.checksum.algorithm.clone().unwrap_or(ChecksumAlgorithm::Sha1);
        OvaMember { name: f.name.clone(), size: f.size, checksum: Some(Checksum::new(algorithm, &f.checksum.checksum)) }
    }
}

/// The `href`s of a descriptor's `References/File` elements, in order (any namespace prefix).
pub(crate) fn references(descriptor: &[u8]) -> std::result::Result<Vec<String>, String> {
    let text = std::str::from_utf8(descriptor).map_err(|e| e.to_string())?;
    let doc = roxmltree::Document::parse(text).map_err(|e| e.to_string())?;
    let hrefs = doc
        .descendants()
        .filter(|n| n.tag_name().name() == "References")
        .flat_map(|r| r.children().filter(|n| n.tag_name().name() == "File"))
        .filter_map(|f| f.attributes().find(|a| a.name() == "href").map(|a| a.value().to_owned()))
        .collect();
    Ok(hrefs)
}

/// The whole (small) file, verified against its checksum as it is read.
async fn read_all(source: &ItemFileSource, size: u64, retries: &FileRetries) -> Result<Vec<u8>> {
    if size > MAX_DESCRIPTOR {
        return Err(Error::new(
            ErrorKind::Decode,
            format!("the descriptor {} is {size} bytes; more than a descriptor can be", source.name),
        ));
    }
    let mut bytes = Vec::with_capacity(size as usize);
    let mut stream = source.open(0, retries).await?.bytes;
    while let Some(chunk) = stream.next().await {
        bytes.extend_from_slice(&chunk?);
    }
    Ok(bytes)
}

/// Where the archive goes: a file it can cut back, or a stream it cannot; and how far it got.
struct Output<'w> {
    to: Target<'w>,
    at: u64,
}

/// A stream's writes are gathered this much at a time (the HTTP client hands over a few KiB).
const WRITE_BUFFER: usize = 1 << 20;

enum Target<'w> {
    /// The download's writer thread (no hash: the members are checked as they arrive), until
    /// the archive ends.
    File(Option<DiskWriter>, PathBuf),
    Stream(Box<dyn AsyncWrite + Unpin + Send + 'w>),
}

impl Output<'_> {
    async fn write(&mut self, bytes: &[u8]) -> Result<()> {
        match &mut self.to {
            Target::File(writer, path) => writer.as_mut().ok_or_else(|| ended(path))?.write(bytes).await?,
            Target::Stream(out) => out.write_all(bytes).await.map_err(written)?,
        }
        self.at += bytes.len() as u64;
        Ok(())
    }

    /// A whole member held in memory (the descriptor, the manifest).
    async fn member(&mut self, name: &str, bytes: &[u8]) -> Result<()> {
        self.write(&header(name, bytes.len() as u64)?).await?;
        self.write(bytes).await?;
        self.pad(bytes.len() as u64).await
    }

    /// A member streamed from its bytes: header, bytes, padding.
    async fn stream_member(
        &mut self,
        name: &str,
        mut stream: ByteStream,
        size: u64,
        handle: &FileHandle,
        check: Option<&ChecksumInfo>,
    ) -> Result<()> {
        // The first bytes (or the refusal) come before the header: a source that cannot be
        // opened leaves nothing of the member behind, so even a stream can try it again.
        let first = stream.next().await.transpose()?;
        self.write(&header(name, size)?).await?;
        let algorithm = check.map(|sum| sum.algorithm.clone().unwrap_or(ChecksumAlgorithm::Sha1));
        if let (Some(algorithm), Target::File(writer, path)) = (&algorithm, &mut self.to) {
            let hasher = super::checksum::Hasher::new(algorithm)?;
            writer.as_mut().ok_or_else(|| ended(path))?.hash_from_here(hasher).await?;
        }
        let mut done = 0u64;
        handle.done(0);
        let mut next = first;
        while let Some(chunk) = next {
            done += chunk.len() as u64;
            self.write(&chunk).await?;
            handle.done(done);
            next = stream.next().await.transpose()?;
        }
        if done != size {
            return Err(Error::verification(name, format!("{name}: received {done} bytes, the server said {size}")));
        }
        if let (Some(sum), Some(algorithm), Target::File(writer, path)) = (check, algorithm, &mut self.to) {
            let actual = writer.as_mut().ok_or_else(|| ended(path))?.digest().await?.unwrap_or_default();
            let expected = sum.checksum.trim();
            if !actual.eq_ignore_ascii_case(expected) {
                let message = format!(
                    "{name}: {algorithm} checksum mismatch: the source says {expected}, its bytes give {actual}"
                );
                return Err(Error::verification(name, message));
            }
        }
        self.pad(size).await
    }

    /// Whether the archive goes into a file (its writer can hash and cut back).
    fn writes_a_file(&self) -> bool {
        matches!(self.to, Target::File(..))
    }

    async fn pad(&mut self, size: u64) -> Result<()> {
        let rest = (BLOCK - size % BLOCK) % BLOCK;
        self.write(&vec![0u8; rest as usize]).await
    }

    /// Whether the output can go back to `at`: a file always, a stream only where it is.
    fn can_rewind(&self, at: u64) -> bool {
        matches!(self.to, Target::File(..)) || self.at == at
    }

    /// Goes back to `at` (a member's start) to write the member again: a file is cut back; a
    /// stream can only when nothing was written since.
    async fn rewind(&mut self, at: u64) -> Result<bool> {
        if self.at == at {
            return Ok(true);
        }
        match &mut self.to {
            Target::File(writer, path) => {
                writer.as_mut().ok_or_else(|| ended(path))?.truncate(at).await?;
                self.at = at;
                Ok(true)
            }
            Target::Stream(_) => Ok(self.at == at),
        }
    }

    /// The end-of-archive marker (two zero blocks), flushed; a file is synced to disk.
    async fn end(&mut self) -> Result<()> {
        self.write(&[0u8; 2 * BLOCK as usize]).await?;
        match &mut self.to {
            // Every byte written and synced.
            Target::File(writer, path) => writer.take().ok_or_else(|| ended(path))?.finish().await.map(|_| ()),
            Target::Stream(out) => out.flush().await.map_err(written),
        }
    }
}

fn ended(path: &Path) -> Error {
    Error::new(ErrorKind::Io, format!("{}: the archive was already ended", path.display()))
}

fn written(e: std::io::Error) -> Error {
    Error::new(ErrorKind::Io, format!("cannot write the OVA: {e}")).with_source(e)
}

/// A ustar header for a regular file; a name longer than ustar holds gets a pax record first.
fn header(name: &str, size: u64) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_mtime(std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs()));
    if header.set_path(name).is_err() {
        let mut builder = tar::Builder::new(Vec::new());
        builder
            .append_pax_extensions([("path", name.as_bytes())])
            .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("{name:?} cannot be an OVA member name: {e}")))?;
        // Not `into_inner`: that would also write the end-of-archive blocks.
        out = builder.get_ref().clone();
        // ustar's own name field holds 100 bytes: the start of the name, cut at a character.
        let short = super::names::cut_at_char(name, 100);
        header
            .set_path(short)
            .map_err(|e| Error::new(ErrorKind::InvalidInput, format!("{name:?} cannot be an OVA member name: {e}")))?;
    }
    header.set_cksum();
    out.extend_from_slice(header.as_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_are_read_in_order_whatever_the_prefix() {
        let ovf = br#"<?xml version="1.0"?>
<Envelope xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1">
  <References><File ovf:href="b.vmdk" ovf:id="f1"/><File ovf:href="a.vmdk" ovf:id="f2"/></References>
  <DiskSection><Disk ovf:fileRef="f1"/></DiskSection>
</Envelope>"#;
        assert_eq!(references(ovf).unwrap(), ["b.vmdk", "a.vmdk"]);
        assert!(references(b"<Envelope><References><File ovf:href=\"x\"/>").is_err(), "unbound prefix, unclosed");
    }

    #[test]
    fn long_names_get_a_pax_record_and_short_ones_do_not() {
        assert_eq!(header("disk.vmdk", 5).unwrap().len(), 512);
        let long = "d".repeat(150) + ".vmdk";
        let bytes = header(&long, 5).unwrap();
        assert!(bytes.len() > 512 && bytes.len().is_multiple_of(512));
        let mut archive = tar::Archive::new(std::io::Cursor::new([bytes, vec![0; 512], vec![0; 1024]].concat()));
        let entry = archive.entries().unwrap().next().unwrap().unwrap();
        assert_eq!(entry.path().unwrap().to_string_lossy(), long);
        // A name of many-byte characters: 125 bytes, 100 of which fit the ustar field.
        for long in ["é".repeat(62) + "x", "名".repeat(41) + "xy", "😀".repeat(40)] {
            let bytes = header(&long, 5).unwrap();
            let mut archive = tar::Archive::new(std::io::Cursor::new([bytes, vec![0; 512], vec![0; 1024]].concat()));
            let entry = archive.entries().unwrap().next().unwrap().unwrap();
            assert_eq!(entry.path().unwrap().to_string_lossy(), long);
        }
    }
}
