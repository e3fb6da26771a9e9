//! Fault injection, driven by tests through [`Faults`] or by the binary's flags.
//!
//! Each fault is armed once and applies to the next matching request(s); none needs a restart.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

/// The faults the simulator can inject. Shared by all requests; cheap to check.
#[derive(Debug, Default)]
pub struct Faults {
    latency_ms: AtomicU64,
    unavailable: AtomicU32,
    drop_after: Mutex<Option<u64>>,
    corrupt_at: Mutex<Option<u64>>,
    stall: Mutex<Option<(u64, Duration)>>,
    range: Mutex<Option<RangeFault>>,
    /// How, after how many bytes, and for how many more uploads.
    short_upload: Mutex<Option<(ShortUpload, u64, u32)>>,
    /// Added to every size the item file list reports.
    item_size_lie: AtomicU64,
    /// Ids of items that do not exist, added to every item listing.
    phantom_items: AtomicU64,
    /// A file name item file lists leave out (a file lost after DONE).
    hidden_file: Mutex<Option<String>>,
    /// API sessions end after the one call that uses them.
    single_use_sessions: std::sync::atomic::AtomicBool,
    /// Transfer faults wait for a transfer of the file whose name ends its URI path.
    transfer_target: Mutex<Option<String>>,
    calls: Mutex<Vec<ArmedCall>>,
    hits: Mutex<Vec<String>>,
}

/// What an armed fault does to the next download that asks for a `Range`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RangeFault {
    /// Ignore the Range: answer 200 with the whole file.
    Ignore,
    /// Answer 206 but name a start one byte before the one asked for in `Content-Range`.
    WrongStart,
}

/// A server that does not check what it received: an upload cut short keeps the bytes that
/// arrived and reports the file READY with their size (see [`Faults::accept_short_uploads`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ShortUpload {
    /// The connection is cut, as the drop says.
    Cut,
    /// The rest of the body is read and thrown away, and the PUT answered 200.
    Answered,
}

/// What an armed fault does to an API call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallFault {
    /// Answer with this status without acting: 503 carries the standard ServiceUnavailable body,
    /// any other status (502, 504, 429 …) a proxy's plain-text page.
    Status(u16),
    /// Cut the connection without acting.
    Reset,
    /// Act, then cut the connection instead of answering: the client never learns the outcome.
    LoseReply,
}

#[derive(Debug)]
struct ArmedCall {
    operation: String,
    times: u32,
    fault: CallFault,
}

/// What a single transfer should suffer, taken from the armed faults when it starts.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct TransferFaults {
    /// Cut the connection once this many bytes of the body went through.
    pub drop_after: Option<u64>,
    /// Flip the bits of the byte at this offset of the file (downloads).
    pub corrupt_at: Option<u64>,
    /// Pause for this long once this many bytes went through.
    pub stall: Option<(u64, Duration)>,
    /// Keep a cut upload's bytes and report the file READY (uploads).
    pub short_upload: Option<ShortUpload>,
}

impl Faults {
    /// Adds `latency` before every API call and transfer from now on (zero turns it off).
    pub fn set_latency(&self, latency: Duration) {
        self.latency_ms.store(latency.as_millis() as u64, Ordering::Relaxed);
    }

    /// Answers the next `calls` requests (API calls and transfers) with 503 ServiceUnavailable.
    pub fn fail_next(&self, calls: u32) {
        self.unavailable.store(calls, Ordering::Relaxed);
    }

    /// Cuts the next transfer's connection after `bytes` bytes of its body.
    pub fn drop_next_transfer_after(&self, bytes: u64) {
        *lock(&self.drop_after) = Some(bytes);
    }

    /// Flips the byte at `offset` of the next download's content.
    pub fn corrupt_next_download_at(&self, offset: u64) {
        *lock(&self.corrupt_at) = Some(offset);
    }

    /// Pauses the next transfer for `pause` after `bytes` bytes.
    pub fn stall_next_transfer(&self, bytes: u64, pause: Duration) {
        *lock(&self.stall) = Some((bytes, pause));
    }

    /// The next `uploads` uploads are cut after `bytes` bytes, and the server lies about it: it
    /// keeps those bytes and reports the file READY (see [`ShortUpload`]).
    pub fn accept_short_uploads(&self, how: ShortUpload, bytes: u64, uploads: u32) {
        *lock(&self.short_upload) = (uploads > 0).then_some((how, bytes, uploads));
    }

    /// Makes the item file lists report every file `bytes` shorter than it is (a server whose
    /// word contradicts what it stored), until cleared.
    pub fn understate_item_sizes(&self, bytes: u64) {
        self.item_size_lie.store(bytes, Ordering::Relaxed);
    }

    /// Makes the item file lists leave out every file named `name` (a server that drops a file
    /// from the item after reporting the update DONE), until cleared.
    pub fn hide_item_files(&self, name: Option<&str>) {
        *lock(&self.hidden_file) = name.map(str::to_owned);
    }

    /// Makes every API session end after the one call that uses it (logins still succeed): a
    /// server whose sessions never last, until cleared.
    pub fn single_use_sessions(&self, on: bool) {
        self.single_use_sessions.store(on, Ordering::Relaxed);
    }

    pub(crate) fn sessions_single_use(&self) -> bool {
        self.single_use_sessions.load(Ordering::Relaxed)
    }

    pub(crate) fn hidden_file(&self) -> Option<String> {
        lock(&self.hidden_file).clone()
    }

    /// Makes every item listing end with `count` ids of items that do not exist (`p0`, `p1`, …):
    /// a listing far larger than any library, without the memory of real items.
    pub fn phantom_items(&self, count: u64) {
        self.phantom_items.store(count, Ordering::Relaxed);
    }

    pub(crate) fn phantom_item_count(&self) -> u64 {
        self.phantom_items.load(Ordering::Relaxed)
    }

    pub(crate) fn item_size_lie(&self) -> u64 {
        self.item_size_lie.load(Ordering::Relaxed)
    }

    /// Keeps the armed transfer faults (drop, corrupt, stall) for the next transfer of the file
    /// `name` (as percent-encoded in its URI), letting other files' transfers pass untouched;
    /// `None` applies them to the next transfer of any file again.
    pub fn target_transfers(&self, name: Option<&str>) {
        *lock(&self.transfer_target) = name.map(str::to_owned);
    }

    /// Disarms every fault (latency included).
    pub fn clear(&self) {
        self.set_latency(Duration::ZERO);
        self.unavailable.store(0, Ordering::Relaxed);
        *lock(&self.drop_after) = None;
        *lock(&self.corrupt_at) = None;
        *lock(&self.stall) = None;
        *lock(&self.range) = None;
        *lock(&self.transfer_target) = None;
        *lock(&self.short_upload) = None;
        self.item_size_lie.store(0, Ordering::Relaxed);
        self.phantom_items.store(0, Ordering::Relaxed);
        *lock(&self.hidden_file) = None;
        self.single_use_sessions.store(false, Ordering::Relaxed);
        lock(&self.calls).clear();
    }

    /// Applies `fault` to the next download that asks for a Range.
    pub fn fail_next_range(&self, fault: RangeFault) {
        *lock(&self.range) = Some(fault);
    }

    pub(crate) fn take_range(&self) -> Option<RangeFault> {
        lock(&self.range).take()
    }

    /// Applies `fault` to the next `times` calls of an API operation, named by its `/api`
    /// operationId (`download_session_file_get`, …; the `/rest` twin counts too) or `*` for any.
    ///
    /// # Panics
    /// When the operation table has no such operation: the fault would never fire.
    pub fn fail_calls(&self, operation: &str, times: u32, fault: CallFault) {
        assert!(
            operation == "*" || cl_api::operation::OperationId::from_name(operation).is_some(),
            "no operation {operation:?} in the table: the fault would never fire"
        );
        lock(&self.calls).push(ArmedCall { operation: operation.to_owned(), times, fault });
    }

    /// The operations that met an armed call fault so far, in order (for tests to check what
    /// was repeated).
    pub fn call_faults_hit(&self) -> Vec<String> {
        lock(&self.hits).clone()
    }

    /// The fault armed for this call of `operation`, if any (consumes one).
    pub(crate) fn take_call(&self, operation: &str) -> Option<CallFault> {
        let mut calls = lock(&self.calls);
        let index = calls.iter().position(|c| c.times > 0 && (c.operation == operation || c.operation == "*"))?;
        let armed = &mut calls[index];
        armed.times -= 1;
        let fault = armed.fault;
        calls.retain(|c| c.times > 0);
        lock(&self.hits).push(operation.to_owned());
        Some(fault)
    }

    pub(crate) fn latency(&self) -> Duration {
        Duration::from_millis(self.latency_ms.load(Ordering::Relaxed))
    }

    /// Whether this request should be refused as unavailable (consumes one armed refusal).
    pub(crate) fn take_unavailable(&self) -> bool {
        self.unavailable.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1)).is_ok()
    }

    pub(crate) fn take_transfer(&self, download: bool, path: &str) -> TransferFaults {
        let target = lock(&self.transfer_target);
        if target.as_ref().is_some_and(|name| !path.ends_with(&format!("/{name}"))) {
            return TransferFaults::default();
        }
        let short = if download { None } else { Self::take_one(&mut lock(&self.short_upload)) };
        if let Some((how, bytes)) = short {
            return TransferFaults { drop_after: Some(bytes), short_upload: Some(how), ..Default::default() };
        }
        TransferFaults {
            drop_after: lock(&self.drop_after).take(),
            corrupt_at: if download { lock(&self.corrupt_at).take() } else { None },
            stall: lock(&self.stall).take(),
            short_upload: None,
        }
    }

    /// One use of an armed short-upload fault.
    fn take_one(armed: &mut Option<(ShortUpload, u64, u32)>) -> Option<(ShortUpload, u64)> {
        let (how, bytes, left) = armed.take()?;
        if left > 1 {
            *armed = Some((how, bytes, left - 1));
        }
        Some((how, bytes))
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
