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
use crate::error::Result;
use crate::retry::{Repeat, Retries};
use crate::session::{Session, SessionKind};

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

/// Copies one file from `source` into `sink`: a broken or refused attempt that the retry policy
/// allows is resumed from what the sink holds (or repeated whole, where it keeps nothing).
/// Returns how many attempts were resumed or repeated.
pub(crate) async fn copy(
    source: &dyn Source,
    sink: &mut dyn Sink,
    size: Option<u64>,
    mut retries: Retries,
) -> Result<u32> {
    let mut repeated = 0u32;
    loop {
        let before = sink.offset();
        // All of it was kept from an earlier run: nothing to fetch (verification follows).
        if before > 0 && size == Some(before) {
            return Ok(repeated);
        }
        let attempt = match source.open(before).await {
            Ok(opened) => sink.take(opened).await,
            Err(error) => Err(error),
        };
        let error = match attempt {
            Ok(()) => return Ok(repeated),
            Err(error) => error,
        };
        if !source.reopens() {
            return Err(error);
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

    /// The retries of one file's copy: the client's policy, with the attempts these options set.
    pub(crate) fn retries(&self, client: &Client) -> Retries {
        let policy = client.retry_policy().clone();
        match self.retries {
            Some(retries) => policy.max_attempts(retries.saturating_add(1)),
            None => policy,
        }
        .start()
    }

    /// Keeps `session` (and with it the API session) alive while the guard lives.
    pub(crate) fn keep_alive<K: SessionKind>(&self, session: &Session<K>) -> KeepAlive {
        keep_alive(session, &self.control, self.keep_alive_every)
    }
}

/// Keeps a transfer session (and with it the API session) alive every `every`, reporting the
/// transfer's progress, until the returned guard is dropped. One task for both session kinds.
fn keep_alive<K: SessionKind>(session: &Session<K>, control: &TransferControl, every: Duration) -> KeepAlive {
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
                        tracing::warn!(session = session.id(), %error, "keep-alive failed");
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
