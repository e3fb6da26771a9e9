//! Progress of long commands on stderr: bars per file and overall on a terminal, plain lines
//! otherwise; with `--progress json` one JSON object per line (the shape is in README); with
//! `--progress none` nothing.

use std::io::IsTerminal;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use cl_sdk::transfer::{FileState, TransferControl};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::args::ProgressArg;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// The running display; [`finish`](Self::finish) it when the transfer ends.
pub struct Display {
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl Display {
    pub async fn finish(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

/// The bars being drawn, so notices print above them instead of being erased by a redraw.
static ACTIVE: std::sync::Mutex<Option<MultiProgress>> = std::sync::Mutex::new(None);

/// Prints a line on stderr without disturbing (or being erased by) the progress bars.
pub fn notice(text: &str) {
    let active = ACTIVE.lock().unwrap_or_else(|e| e.into_inner()).clone();
    match active {
        Some(multi) if multi.println(text).is_ok() => {}
        _ => eprintln!("{text}"),
    }
}

/// What a file's bar says beside its bytes.
fn status(f: &cl_sdk::transfer::FileProgress) -> String {
    match f.state {
        FileState::Hashing => "hashing".into(),
        FileState::Preparing => {
            f.server_status.as_deref().map_or("preparing".into(), |s| crate::output::clean(s).to_lowercase())
        }
        FileState::Done => "done".into(),
        FileState::Failed => "failed".into(),
        _ => String::new(),
    }
}

/// `--progress`, set once at start.
static MODE: OnceLock<ProgressArg> = OnceLock::new();

pub fn set_mode(mode: ProgressArg) {
    let _ = MODE.set(mode);
}

fn mode() -> ProgressArg {
    MODE.get().copied().unwrap_or(ProgressArg::Auto)
}

/// JSON progress lines at most this often (and always the last).
const JSON_EVERY: Duration = Duration::from_millis(250);

/// Shows `control`'s progress until finished. `--progress auto` is quiet with `--json` (stdout
/// stays machine-readable); `--progress json` writes its lines on stderr either way.
pub fn show(control: &TransferControl, json: bool) -> Display {
    match mode() {
        ProgressArg::None => return Display { stop: None, task: None },
        ProgressArg::Json => return json_lines(control),
        ProgressArg::Auto if json => return Display { stop: None, task: None },
        ProgressArg::Auto => {}
    }
    let (stop, mut stopped) = oneshot::channel();
    let mut progress = control.progress();
    let control = control.clone();
    let terminal = std::io::stderr().is_terminal();
    let task = tokio::spawn(async move {
        let multi = MultiProgress::new();
        if terminal {
            *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = Some(multi.clone());
        }
        let style = ProgressStyle::with_template(
            "{prefix:>24} {bar:30} {bytes:>10}/{total_bytes:<10} {bytes_per_sec:>12} {eta:>4} {msg}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        let mut bars: Vec<ProgressBar> = Vec::new();
        let mut total: Option<ProgressBar> = None;
        let mut reported: Vec<bool> = Vec::new();
        loop {
            let stopping = tokio::select! {
                changed = progress.changed() => changed.is_err(),
                _ = &mut stopped => true,
            };
            let p = progress.borrow_and_update().clone();
            if terminal {
                while bars.len() < p.files.len() {
                    let f = &p.files[bars.len()];
                    let bar = multi.add(
                        ProgressBar::new(f.size.unwrap_or(0))
                            .with_style(style.clone())
                            .with_prefix(crate::output::clean(&f.name).into_owned()),
                    );
                    bars.push(bar);
                }
                let overall = total.get_or_insert_with(|| {
                    multi.add(ProgressBar::new(0).with_style(style.clone()).with_prefix("total"))
                });
                for (bar, f) in bars.iter().zip(&p.files) {
                    // A finished file keeps its final figures (its rate does not decay).
                    if bar.is_finished() {
                        continue;
                    }
                    bar.set_length(f.size.unwrap_or(f.done));
                    bar.set_position(f.done);
                    bar.set_message(status(f));
                    if f.state == FileState::Done {
                        bar.finish();
                    }
                }
                overall.set_length(p.total().unwrap_or(p.done()));
                overall.set_position(p.done());
            } else {
                reported.resize(p.files.len(), false);
                for (done, f) in reported.iter_mut().zip(&p.files) {
                    if !*done && matches!(f.state, FileState::Done | FileState::Failed) {
                        *done = true;
                        let state = if f.state == FileState::Done { "done" } else { "failed" };
                        eprintln!("{state}: {} ({} bytes)", crate::output::clean(&f.name), f.done);
                    }
                }
            }
            if stopping {
                // A canceled or failed transfer's bars say so, where they stopped.
                let outcome = if control.is_canceled() { "canceled" } else { "failed" };
                for bar in bars.iter().chain(total.iter()) {
                    if !bar.is_finished() {
                        if p.files.iter().all(|f| f.state == FileState::Done) {
                            bar.finish();
                        } else {
                            bar.abandon_with_message(outcome);
                        }
                    }
                }
                *ACTIVE.lock().unwrap_or_else(|e| e.into_inner()) = None;
                return;
            }
        }
    });
    Display { stop: Some(stop), task: Some(task) }
}

/// One JSON progress line of a transfer: what, bytes and files done and in total, time and rate.
fn transfer_line(p: &cl_sdk::transfer::Progress) -> serde_json::Value {
    let files_done = p.files.iter().filter(|f| f.state == FileState::Done).count();
    serde_json::json!({
        "what": "transfer",
        "bytes_done": p.done(),
        "bytes_total": p.total(),
        "files_done": files_done,
        "files_total": p.files.len(),
        "elapsed_s": round(p.started.elapsed().as_secs_f64()),
        "rate_bps": round(p.rate()),
    })
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Writes a transfer's progress as JSON lines until it finishes; the last line is its end.
fn json_lines(control: &TransferControl) -> Display {
    let (stop, mut stopped) = oneshot::channel();
    let mut progress = control.progress();
    let task = tokio::spawn(async move {
        let mut last: Option<Instant> = None;
        loop {
            let stopping = tokio::select! {
                changed = progress.changed() => changed.is_err(),
                _ = &mut stopped => true,
            };
            let p = progress.borrow_and_update().clone();
            if stopping || last.is_none_or(|l| l.elapsed() >= JSON_EVERY) {
                last = Some(Instant::now());
                eprintln!("{}", transfer_line(&p));
            }
            if stopping {
                return;
            }
        }
    });
    Display { stop: Some(stop), task: Some(task) }
}

/// Reports a sync's progress as `--progress` says; call [`update`](Self::update) after each
/// look and [`finish`](Self::finish) at the end.
pub struct SyncDisplay {
    what: String,
    bar: Option<ProgressBar>,
    json: bool,
    last_line: Option<Instant>,
    /// Bytes already cached at the first look: the rate counts what arrived while waiting.
    first_bytes: Option<u64>,
}

impl SyncDisplay {
    /// `quiet` is `--json`: `--progress auto` then shows nothing.
    pub fn new(what: &str, quiet: bool) -> Self {
        let mode = mode();
        let bar = (mode == ProgressArg::Auto && !quiet && std::io::stderr().is_terminal()).then(|| {
            let style = ProgressStyle::with_template("{prefix:>24} {bar:30} {pos}/{len} items cached, {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar());
            ProgressBar::new(0).with_style(style).with_prefix(crate::output::clean(what).into_owned())
        });
        Self { what: what.to_owned(), bar, json: mode == ProgressArg::Json, last_line: None, first_bytes: None }
    }

    pub fn update(&mut self, p: &cl_sdk::SyncProgress) {
        self.first_bytes.get_or_insert(p.bytes_cached);
        if let Some(bar) = &self.bar {
            bar.set_length(p.items as u64);
            bar.set_position(p.items_cached as u64);
            bar.set_message(crate::output::human(p.bytes_cached));
        }
        if self.json && self.last_line.is_none_or(|l| l.elapsed() >= JSON_EVERY) {
            self.last_line = Some(Instant::now());
            eprintln!("{}", self.line(p));
        }
    }

    /// Ends the display; `last` (the final progress) is always written as a JSON line.
    pub fn finish(self, last: Option<&cl_sdk::SyncProgress>) {
        if let Some(bar) = &self.bar {
            if last.is_some_and(|p| p.pending.is_empty()) { bar.finish() } else { bar.abandon() }
        }
        if let (true, Some(p)) = (self.json, last) {
            eprintln!("{}", self.line(p));
        }
    }

    fn line(&self, p: &cl_sdk::SyncProgress) -> serde_json::Value {
        let secs = p.elapsed.as_secs_f64();
        let arrived = p.bytes_cached.saturating_sub(self.first_bytes.unwrap_or(p.bytes_cached));
        serde_json::json!({
            "what": "sync",
            "target": crate::output::clean(&self.what),
            "items_done": p.items_cached,
            "items_total": p.items,
            "bytes_done": p.bytes_cached,
            "elapsed_s": round(secs),
            "rate_bps": round(if secs > 0.0 { arrived as f64 / secs } else { 0.0 }),
        })
    }
}
