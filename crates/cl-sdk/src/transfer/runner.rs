//! The one runner every route's jobs run on: files at once, each file's copy from its source into
//! its sink with retry and resume under the one [`RetryPolicy`](crate::RetryPolicy), the
//! sessions kept alive, progress, cancel and deadline. What a route adds is its sources and
//! sinks, and what it does with its sessions before and after the bytes move.

use std::future::Future;
use std::time::Duration;

use futures_util::future::BoxFuture;
use futures_util::{StreamExt, TryStreamExt};
use tokio_util::sync::CancellationToken;

use super::sink::Sink;
use super::source::Source;
use super::{Common, FileProgress, FileState, TransferControl};
use crate::client::Client;
use crate::error::{ErrorKind, Result};
use crate::retry::{FileRetries, Repeat};
use crate::session::Session;
use crate::wire::ops::SessionWire;

/// One file's place in the transfer's progress.
#[derive(Clone)]
pub(crate) struct FileHandle {
    control: TransferControl,
    index: usize,
}

impl FileHandle {
    pub fn update(&self, change: impl FnOnce(&mut FileProgress)) {
        self.control.update(self.index, change);
    }

    pub fn state(&self, state: FileState) {
        self.update(|f| f.state = state);
    }

    pub fn done(&self, done: u64) {
        self.update(|f| f.done = done);
    }
}

/// Copies one file from `source` into `sink`: a broken or refused attempt that the file's one
/// retry count allows is resumed from what the sink holds (or repeated whole, where it keeps
/// nothing). Returns how many attempts were resumed or repeated here.
pub(crate) async fn copy(
    source: &dyn Source,
    sink: &mut dyn Sink,
    size: Option<u64>,
    retries: &FileRetries,
) -> Result<u32> {
    let mut repeated = 0u32;
    let mut refetched = false;
    loop {
        let before = sink.offset();
        // All of it was kept from an earlier run: nothing to fetch (verification follows).
        if before > 0 && size == Some(before) {
            return Ok(repeated);
        }
        let attempt = match source.open(before, retries).await {
            Ok(opened) => sink.take(opened).await,
            Err(error) => Err(error),
        };
        let error = match attempt {
            Ok(()) => return Ok(repeated),
            Err(error) => error,
        };
        if !source.reopens() || !sink.repeatable() {
            return Err(error);
        }
        // Bytes that failed their checksum are not worth resuming: fetched once more from byte 0
        // where the sink can drop them, outside the count (nothing transient failed).
        if error.kind() == ErrorKind::Verification && !refetched && sink.restart().await? {
            refetched = true;
            repeated += 1;
            tracing::warn!(%error, "the bytes failed verification; fetching the file again");
            continue;
        }
        // An attempt that moved bytes starts the count afresh.
        if sink.offset() > before {
            retries.progressed();
        } else {
            retries.restart_clock();
        }
        let Some(pause) = retries.next_pause(&error, Repeat::Safe) else { return Err(error) };
        repeated += 1;
        tracing::warn!(held = sink.offset(), repeated, %error, "transfer broke off; trying again");
        tokio::time::sleep(pause).await;
        if sink.arrived().await {
            tracing::info!("the whole file arrived after all");
            return Ok(repeated);
        }
    }
}

/// Runs one job per file, `concurrency` at once, and returns their results in file order. A
/// file whose job fails shows as failed; the first failure ends the run.
pub(crate) async fn each_file<'a, T: Send + 'a>(
    common: &Common,
    jobs: Vec<BoxFuture<'a, Result<T>>>,
) -> Result<Vec<T>> {
    // Boxed in a plain loop: futures built by closures would not stay provably `Send`.
    let mut tracked: Vec<BoxFuture<'a, Result<(usize, T)>>> = Vec::with_capacity(jobs.len());
    for (index, job) in jobs.into_iter().enumerate() {
        let control = common.control.clone();
        tracked.push(Box::pin(async move {
            let result = job.await;
            if result.is_err() {
                control.update(index, |f| f.state = FileState::Failed);
            }
            result.map(|value| (index, value))
        }));
    }
    let mut done: Vec<(usize, T)> =
        futures_util::stream::iter(tracked).buffer_unordered(common.concurrency).try_collect().await?;
    done.sort_by_key(|(index, _)| *index);
    Ok(done.into_iter().map(|(_, value)| value).collect())
}

impl Common {
    /// Runs `work` until it ends, the control is canceled or the deadline passes (then the
    /// caller cleans up as on any failure).
    pub(crate) async fn run<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        tokio::select! {
            result = work => result,
            error = self.stopped() => Err(error),
        }
    }

    /// Shows `files` as waiting and hands out their progress handles.
    pub(crate) fn start(&self, files: Vec<FileProgress>) -> Vec<FileHandle> {
        let handles = (0..files.len()).map(|index| FileHandle { control: self.control.clone(), index }).collect();
        self.control.start(files);
        handles
    }

    /// The one retry count of one file: the client's policy, with the attempts these options
    /// set. Every loop that repeats the file draws from it.
    pub(crate) fn retries(&self, client: &Client) -> FileRetries {
        let policy = client.retry_policy().clone();
        let policy = match self.retries {
            Some(retries) => policy.max_attempts(retries.saturating_add(1)),
            None => policy,
        };
        FileRetries::new(policy.start())
    }

    /// Keeps `session` (and with it the API session) alive while the guard lives.
    pub(crate) fn keep_alive<K: SessionWire>(&self, session: &Session<K>) -> KeepAlive {
        keep_alive(session, &self.control, self.keep_alive_every)
    }
}

/// Keeps a transfer session (and with it the API session) alive every `every`, reporting the
/// transfer's progress, until the returned guard is dropped. One task for both session kinds.
fn keep_alive<K: SessionWire>(session: &Session<K>, control: &TransferControl, every: Duration) -> KeepAlive {
    let stop = CancellationToken::new();
    let (stopped, session, control) = (stop.clone(), session.clone(), control.clone());
    tokio::spawn(async move {
        let mut interval = tokio::time::interval(every);
        interval.tick().await; // the first tick is immediate
        loop {
            tokio::select! {
                _ = stopped.cancelled() => return,
                _ = interval.tick() => {
                    if let Err(error) = session.keep_alive(control.percent()).await {
                        tracing::warn!(session = %session.id(), %error, "keep-alive failed");
                    }
                }
            }
        }
    });
    KeepAlive { stop }
}

/// Stops the keep-alive task when dropped.
pub(crate) struct KeepAlive {
    stop: CancellationToken,
}

impl Drop for KeepAlive {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The engine's contract apart from HTTP: a scripted source and an in-memory sink.
#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    use bytes::Bytes;
    use futures_util::FutureExt;

    use super::*;
    use crate::error::Error;
    use crate::retry::RetryPolicy;
    use crate::transfer::endpoint::Opened;
    use crate::transfer::source::{Reopen, resuming};

    const CHUNK: usize = 100;

    /// What one open of the source does.
    #[derive(Clone, Copy, Debug)]
    enum Script {
        /// Streams to the end.
        Whole,
        /// Breaks off (a transient error) after this many bytes.
        BreakAfter(usize),
        /// Refuses to open with an error of this kind.
        Refuse(ErrorKind),
        /// Streams from byte 0 whatever was asked (a server that ignored Range).
        FromZero,
        /// Streams the file with one byte flipped at this offset.
        Corrupt(usize),
    }

    /// A file's bytes served as `script` says, one entry per open (then whole).
    struct Scripted {
        data: Vec<u8>,
        script: Mutex<VecDeque<Script>>,
        opens: Mutex<Vec<u64>>,
        /// Breaks inside the stream are resumed there (as vCenter and URL sources do), drawing
        /// on the file's one count.
        resumes_inside: bool,
    }

    impl Scripted {
        fn new(data: Vec<u8>, script: impl IntoIterator<Item = Script>) -> Arc<Self> {
            Arc::new(Self {
                data,
                script: Mutex::new(script.into_iter().collect()),
                opens: Mutex::new(Vec::new()),
                resumes_inside: false,
            })
        }

        fn opens(&self) -> Vec<u64> {
            self.opens.lock().unwrap().clone()
        }

        fn serve(&self, offset: u64) -> Result<Opened> {
            self.opens.lock().unwrap().push(offset);
            let step = self.script.lock().unwrap().pop_front().unwrap_or(Script::Whole);
            let (start, mut bytes) = match step {
                Script::Refuse(kind) => return Err(Error::new(kind, "refused")),
                Script::FromZero => (0, self.data.clone()),
                _ => (offset, self.data[offset as usize..].to_vec()),
            };
            if let Script::Corrupt(at) = step {
                bytes[at - offset as usize] ^= 0xff;
            }
            let limit = match step {
                Script::BreakAfter(n) => Some(n),
                _ => None,
            };
            let mut chunks: Vec<Result<Bytes>> = Vec::new();
            let mut sent = 0;
            for chunk in bytes.chunks(CHUNK) {
                match limit {
                    Some(n) if sent + chunk.len() > n => {
                        if n > sent {
                            chunks.push(Ok(Bytes::copy_from_slice(&chunk[..n - sent])));
                        }
                        chunks.push(Err(Error::new(ErrorKind::Transport, "broke off")));
                        break;
                    }
                    _ => chunks.push(Ok(Bytes::copy_from_slice(chunk))),
                }
                sent += chunk.len();
            }
            Ok(Opened { start, bytes: futures_util::stream::iter(chunks).boxed() })
        }
    }

    struct Handle(Arc<Scripted>);

    impl Source for Handle {
        fn open<'a>(&'a self, offset: u64, retries: &FileRetries) -> BoxFuture<'a, Result<Opened>> {
            let first = self.0.serve(offset);
            if !self.0.resumes_inside {
                return Box::pin(std::future::ready(first));
            }
            let (scripted, retries, size) = (self.0.clone(), retries.clone(), self.0.data.len() as u64);
            Box::pin(async move {
                let reopen: Reopen = Arc::new(move |at| {
                    let scripted = scripted.clone();
                    async move { scripted.serve(at) }.boxed()
                });
                let bytes = resuming(reopen, "scripted".into(), first?, (offset, size), retries);
                Ok(Opened { start: offset, bytes })
            })
        }
    }

    /// Keeps what it is given (a resumable sink), or nothing between attempts.
    #[derive(Default)]
    struct Memory {
        bytes: Vec<u8>,
        keeps: bool,
        restartable: bool,
        verify: Option<Vec<u8>>,
    }

    impl Sink for Memory {
        fn offset(&self) -> u64 {
            if self.keeps { self.bytes.len() as u64 } else { 0 }
        }

        fn take(&mut self, opened: Opened) -> BoxFuture<'_, Result<()>> {
            Box::pin(async move {
                self.bytes.truncate(opened.start as usize);
                let mut stream = opened.bytes;
                while let Some(chunk) = stream.next().await {
                    self.bytes.extend_from_slice(&chunk?);
                }
                match &self.verify {
                    Some(expected) if *expected != self.bytes => {
                        Err(Error::new(ErrorKind::Verification, "wrong bytes"))
                    }
                    _ => Ok(()),
                }
            })
        }

        fn restart(&mut self) -> BoxFuture<'_, Result<bool>> {
            self.bytes.clear();
            Box::pin(std::future::ready(Ok(self.restartable)))
        }
    }

    fn data(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
    }

    fn count(attempts: u32) -> FileRetries {
        FileRetries::new(RetryPolicy::default().max_attempts(attempts).start())
    }

    #[tokio::test(start_paused = true)]
    async fn a_break_at_any_offset_resumes_where_the_sink_stands() {
        let len = 1000;
        // The first byte, inside a chunk, at a chunk's end, the last byte.
        for at in [0, 1, 57, CHUNK, CHUNK + 1, 5 * CHUNK, len - 1] {
            let source = Scripted::new(data(len), [Script::BreakAfter(at)]);
            let mut sink = Memory { keeps: true, ..Memory::default() };
            let repeated = copy(&Handle(source.clone()), &mut sink, Some(len as u64), &count(2)).await.unwrap();
            assert_eq!(sink.bytes, data(len), "break at {at}");
            assert_eq!(repeated, 1, "break at {at}");
            assert_eq!(source.opens(), [0, at as u64], "resumed at the sink's offset");
        }
        // A sink that keeps nothing takes the whole file again.
        let source = Scripted::new(data(len), [Script::BreakAfter(300)]);
        let mut sink = Memory::default();
        copy(&Handle(source.clone()), &mut sink, Some(len as u64), &count(2)).await.unwrap();
        assert_eq!((sink.bytes, source.opens()), (data(len), vec![0, 0]));
        // A source that ignores the offset starts over; the sink drops what it held.
        let source = Scripted::new(data(len), [Script::BreakAfter(300), Script::FromZero]);
        let mut sink = Memory { keeps: true, ..Memory::default() };
        copy(&Handle(source), &mut sink, Some(len as u64), &count(2)).await.unwrap();
        assert_eq!(sink.bytes, data(len));
    }

    #[tokio::test(start_paused = true)]
    async fn no_progress_spends_the_count_progress_renews_it() {
        let len = 1000;
        // Breaking at byte 0 every time: `max_attempts(2)` is one repeat, then the error.
        let source = Scripted::new(data(len), [Script::BreakAfter(0); 10]);
        let mut sink = Memory { keeps: true, ..Memory::default() };
        let error = copy(&Handle(source.clone()), &mut sink, Some(len as u64), &count(2)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Transport);
        assert_eq!(source.opens().len(), 2);
        // Breaking after moving bytes each time: the count starts afresh, the file arrives.
        let source = Scripted::new(data(len), [Script::BreakAfter(90); 9]);
        let mut sink = Memory { keeps: true, ..Memory::default() };
        copy(&Handle(source.clone()), &mut sink, Some(len as u64), &count(2)).await.unwrap();
        assert_eq!(sink.bytes, data(len));
        assert!(source.opens().len() > 2);
    }

    /// A source that resumes inside its stream and the runner's repeats share one count: they do
    /// not multiply.
    #[tokio::test(start_paused = true)]
    async fn nested_resumes_draw_from_the_one_count() {
        let len = 1000;
        for attempts in [1, 2, 3] {
            let mut scripted = Scripted::new(data(len), [Script::BreakAfter(0); 50]);
            Arc::get_mut(&mut scripted).unwrap().resumes_inside = true;
            let mut sink = Memory::default();
            let retries = count(attempts);
            let error = copy(&Handle(scripted.clone()), &mut sink, Some(len as u64), &retries).await.unwrap_err();
            assert_eq!(error.kind(), ErrorKind::Transport);
            assert_eq!(scripted.opens().len(), attempts as usize, "{attempts} attempts in all, however nested");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_refusal_is_final_and_wrong_bytes_are_fetched_again_once() {
        let len = 500;
        let source = Scripted::new(data(len), [Script::Refuse(ErrorKind::NotFound)]);
        let error = copy(&Handle(source.clone()), &mut Memory::default(), Some(len as u64), &count(5)).await;
        assert_eq!(error.unwrap_err().kind(), ErrorKind::NotFound);
        assert_eq!(source.opens().len(), 1, "a 4xx is not repeated");
        // A transient refusal is.
        let source = Scripted::new(data(len), [Script::Refuse(ErrorKind::ServiceUnavailable)]);
        let mut sink = Memory::default();
        copy(&Handle(source.clone()), &mut sink, Some(len as u64), &count(5)).await.unwrap();
        assert_eq!((sink.bytes, source.opens().len()), (data(len), 2));
        // Bytes that fail verification: fetched once more from byte 0 where the sink can drop them.
        let source = Scripted::new(data(len), [Script::Corrupt(123), Script::Corrupt(7)]);
        let mut sink = Memory { restartable: true, verify: Some(data(len)), ..Memory::default() };
        let error = copy(&Handle(source.clone()), &mut sink, Some(len as u64), &count(5)).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::Verification);
        assert_eq!(source.opens(), [0, 0], "once, not under the count");
        let source = Scripted::new(data(len), [Script::Corrupt(123)]);
        let mut sink = Memory { restartable: true, verify: Some(data(len)), ..Memory::default() };
        copy(&Handle(source), &mut sink, Some(len as u64), &count(1)).await.unwrap();
        // A sink that cannot drop them fails at once.
        let source = Scripted::new(data(len), [Script::Corrupt(123)]);
        let mut sink = Memory { verify: Some(data(len)), ..Memory::default() };
        let error = copy(&Handle(source.clone()), &mut sink, Some(len as u64), &count(5)).await.unwrap_err();
        assert_eq!((error.kind(), source.opens().len()), (ErrorKind::Verification, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn cancel_and_the_deadline_stop_the_job() {
        let pending = || async { std::future::pending::<Result<()>>().await };
        let common = Common { deadline: Some(Duration::from_secs(30)), ..Common::default() }.begin();
        let started = tokio::time::Instant::now();
        let error = common.run(pending()).await.unwrap_err();
        assert_eq!(error.kind(), ErrorKind::WaitTimedOut);
        assert_eq!(started.elapsed(), Duration::from_secs(30));
        // The instant is fixed once: a later phase gets what is left, not a deadline of its own.
        let common = Common { deadline: Some(Duration::from_secs(30)), ..Common::default() }.begin();
        tokio::time::sleep(Duration::from_secs(20)).await;
        let phase = tokio::time::Instant::now();
        assert_eq!(common.run(pending()).await.unwrap_err().kind(), ErrorKind::WaitTimedOut);
        assert_eq!(phase.elapsed(), Duration::from_secs(10));
        let common = Common::default();
        let control = common.control.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            control.cancel();
        });
        assert_eq!(common.run(pending()).await.unwrap_err().kind(), ErrorKind::Canceled);
    }

    #[tokio::test]
    async fn each_file_returns_results_in_order_and_marks_the_failed_one() {
        let common = Common { concurrency: 3, ..Common::default() };
        let handles = common.start((0..5).map(|i| FileProgress::waiting(&format!("f{i}"), None)).collect());
        assert_eq!(handles.len(), 5);
        let jobs: Vec<BoxFuture<'_, Result<usize>>> = (0..5)
            .map(|i| {
                async move {
                    tokio::time::sleep(Duration::from_millis((5 - i as u64) * 3)).await;
                    Ok(i)
                }
                .boxed()
            })
            .collect();
        assert_eq!(each_file(&common, jobs).await.unwrap(), [0, 1, 2, 3, 4]);
        let jobs: Vec<BoxFuture<'_, Result<usize>>> = (0..5)
            .map(|i| async move { if i == 2 { Err(Error::new(ErrorKind::Io, "disk full")) } else { Ok(i) } }.boxed())
            .collect();
        assert_eq!(each_file(&common, jobs).await.unwrap_err().kind(), ErrorKind::Io);
        assert_eq!(common.control.progress().borrow().files[2].state, FileState::Failed);
    }
}
