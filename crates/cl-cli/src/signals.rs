//! Ctrl-C and SIGTERM: the first cancels the running transfer, which cleans up its sessions and
//! files and exits 130 (SIGINT) or 143 (SIGTERM); a second exits at once. With no transfer
//! running the first exits at once.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU8, Ordering};

use cl_sdk::transfer::TransferControl;

/// The running transfer, and what its cancel does with what it made (the notice says it).
static CURRENT: Mutex<Option<(TransferControl, Aftermath)>> = Mutex::new(None);

/// What a canceled transfer leaves.
#[derive(Clone, Copy)]
pub enum Aftermath {
    /// Sessions and files it made are removed.
    CleanUp,
    /// A download that resumes: its bytes are kept for the next run.
    KeepForResume,
}
static SIGNALED: AtomicU8 = AtomicU8::new(0);

/// Starts listening; call once, inside the runtime.
pub fn install() {
    tokio::spawn(async {
        loop {
            let code = next().await;
            let first = SIGNALED.compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst).is_ok();
            let current = CURRENT.lock().unwrap_or_else(|e| e.into_inner()).clone();
            match current {
                Some((control, aftermath)) if first && !control.is_canceled() => {
                    crate::progress::notice(match aftermath {
                        Aftermath::CleanUp => {
                            "clx: interrupted; canceling and cleaning up (interrupt again to exit at once)"
                        }
                        Aftermath::KeepForResume => {
                            "clx: interrupted; canceling and keeping what arrived for a resume (interrupt again to exit at once)"
                        }
                    });
                    control.cancel();
                }
                _ => {
                    eprintln!("clx: interrupted");
                    std::process::exit(code.into());
                }
            }
        }
    });
}

/// Makes `control` the transfer a signal cancels (removing what it made).
pub fn watch(control: &TransferControl) {
    watch_keeping(control, Aftermath::CleanUp);
}

/// [`watch`], saying what the cancel leaves.
pub fn watch_keeping(control: &TransferControl, aftermath: Aftermath) {
    *CURRENT.lock().unwrap_or_else(|e| e.into_inner()) = Some((control.clone(), aftermath));
}

/// The exit code the first signal asked for, if one arrived.
pub fn exit_code() -> Option<u8> {
    Some(SIGNALED.load(Ordering::SeqCst)).filter(|&c| c != 0)
}

/// The next SIGINT (130) or SIGTERM (143).
async fn next() -> u8 {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) else {
            return std::future::pending().await;
        };
        tokio::select! {
            _ = int.recv() => 130,
            _ = term.recv() => 143,
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        130
    }
}
