//! Transfer progress on stderr: bars per file and overall on a terminal, plain lines otherwise.

use std::io::IsTerminal;

use cl_sdk::transfer::{FileState, TransferControl};
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
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

/// Shows `control`'s progress until finished. Quiet with `--json` (stdout stays machine-readable).
pub fn show(control: &TransferControl, json: bool) -> Display {
    if json {
        return Display { stop: None, task: None };
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
