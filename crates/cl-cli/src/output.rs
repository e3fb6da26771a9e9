//! What clx prints: errors with their exit codes, typed rows and reports (a line each as text, an
//! object each under `--json`), and transfer summaries.

use std::time::Duration;

use cl_sdk::ErrorKind;
use serde::Serialize;

/// Exit codes: usage errors are clap's 2.
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_SERVER: u8 = 3;
pub const EXIT_VERIFICATION: u8 = 4;
pub const EXIT_CANCELED: u8 = 130;

/// An error worth a sentence and an exit code.
pub struct Failure {
    pub message: String,
    pub code: u8,
}

impl From<cl_sdk::Error> for Failure {
    fn from(e: cl_sdk::Error) -> Self {
        let hint = match e.kind() {
            ErrorKind::Unauthenticated => " Check the user name and password (CLX_USERNAME, CLX_PASSWORD).",
            ErrorKind::Tls => " Pass --ca-cert or --thumbprint to trust this server (or --insecure for a test server).",
            ErrorKind::Transport => " Check the URL and that the server is reachable.",
            ErrorKind::NotFound => " Check the names with `clx library ls` and `clx item ls`.",
            ErrorKind::ResourceBusy => " Another update of this item is running; try again when it is done.",
            _ => "",
        };
        let code = match e.kind() {
            ErrorKind::Verification | ErrorKind::UnsafePath => EXIT_VERIFICATION,
            ErrorKind::Canceled => EXIT_CANCELED,
            ErrorKind::InvalidInput | ErrorKind::Io => EXIT_FAILURE,
            _ => EXIT_SERVER,
        };
        Failure { message: format!("{e}.{hint}"), code }
    }
}

pub fn fail(message: impl Into<String>) -> Failure {
    Failure { message: message.into(), code: EXIT_FAILURE }
}

/// Something clx reports: serialized under `--json`, as a line (or lines) of text otherwise.
pub trait Report: Serialize {
    fn text(&self) -> String;
}

/// Prints one report.
pub fn print<R: Report>(json_out: bool, report: &R) {
    let text = if json_out { serde_json::to_string(report).unwrap_or_default() } else { report.text() };
    if !text.is_empty() {
        println!("{text}");
    }
}

/// Rows print as a JSON array, or one line each.
impl<R: Report> Report for Vec<R> {
    fn text(&self) -> String {
        self.iter().map(Report::text).collect::<Vec<_>>().join("\n")
    }
}

/// Server text made safe for a terminal: control characters (C0, DEL, C1) and bidirectional
/// overrides are shown escaped (`\u{1b}`), so a name or message can neither drive the terminal
/// nor forge a line. `--json` output keeps the exact strings instead.
pub fn clean(text: &str) -> std::borrow::Cow<'_, str> {
    let unsafe_char = |c: char| c.is_control() || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}');
    if !text.chars().any(unsafe_char) {
        return text.into();
    }
    text.chars()
        .map(|c| if unsafe_char(c) { c.escape_unicode().to_string() } else { c.to_string() })
        .collect::<String>()
        .into()
}

pub fn summary(what: &str, files: usize, bytes: u64, elapsed: Duration) -> String {
    let mib = bytes as f64 / (1024.0 * 1024.0);
    let rate = mib / elapsed.as_secs_f64().max(1e-6);
    format!("{what} {files} files, {mib:.1} MiB in {:.2} s ({rate:.1} MiB/s)", elapsed.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_cannot_drive_the_terminal() {
        assert_eq!(clean("disk-0.vmdk"), "disk-0.vmdk");
        assert_eq!(clean("名前.iso"), "名前.iso");
        assert_eq!(clean("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
        assert_eq!(clean("x\ndone: fake"), "x\\u{a}done: fake");
        assert_eq!(clean("\u{9b}31m"), "\\u{9b}31m");
        assert_eq!(clean("evil\u{202e}txt.exe"), "evil\\u{202e}txt.exe");
        assert!(!clean("\u{7}\u{0}\r\t").chars().any(char::is_control));
    }
}
