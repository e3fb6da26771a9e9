//! What clx prints: errors with their exit codes, typed rows and reports (a line each as text, an
//! object each under `--json`), and transfer summaries.

use std::time::Duration;

use cl_sdk::{Detail, ErrorKind};
use serde::Serialize;

/// Exit codes (usage errors, clap's and ours, are 2).
pub const EXIT_FAILURE: u8 = 1;
pub const EXIT_USAGE: u8 = 2;
pub const EXIT_SERVER: u8 = 3;
pub const EXIT_VERIFICATION: u8 = 4;
pub const EXIT_CANCELED: u8 = 130;

/// An error worth a sentence and an exit code.
#[derive(Debug)]
pub struct Failure {
    /// What kind of failure, for `--json` (`usage`, or the SDK's error kind, e.g. `NotFound`).
    pub kind: String,
    pub message: String,
    pub code: u8,
}

impl From<cl_sdk::Error> for Failure {
    fn from(e: cl_sdk::Error) -> Self {
        let code = match e.kind() {
            ErrorKind::Verification | ErrorKind::UnsafePath => EXIT_VERIFICATION,
            ErrorKind::Canceled => EXIT_CANCELED,
            ErrorKind::InvalidInput => EXIT_USAGE,
            ErrorKind::Io => EXIT_FAILURE,
            _ => EXIT_SERVER,
        };
        let kind = e.kind().as_str().to_owned();
        // The server's last sentence may end the text already; the advice below adds its own.
        let text = e.report();
        let said = text.trim_end_matches('.');
        // What the CLI says is decided by the error's kind and typed detail, never by its text.
        let message = match e.detail() {
            Some(Detail::MissingItem(_)) => format!("{said}; pass --create to create it."),
            Some(Detail::TargetExists(path)) => format!("{} exists; pass --overwrite to replace it.", path.display()),
            Some(Detail::PreviewWarnings(_)) => {
                format!("{said}. Review them; pass --ignore-warning TYPE for each to accept it.")
            }
            Some(Detail::Resumable { folder, bytes }) => format!(
                "{said}.{} Kept {} of the download in {}: run the same command again to resume, or add \
                 --no-resume to start over.",
                hint(e.kind()),
                human(*bytes),
                folder.display()
            ),
            // Every login succeeded: the credentials are not what is wrong.
            Some(Detail::SessionsEnd) => format!(
                "{said}. The user name and password were accepted every time; the server ends its sessions \
                 at once (check its session settings or a proxy in between)."
            ),
            Some(Detail::Probe { status: cl_sdk::types::ProbeStatus::CertificateError, ssl_thumbprint: Some(t) }) => {
                format!("{said}. If it is the publisher's certificate, pass --sub-thumbprint {}.", clean(t))
            }
            Some(Detail::Probe { status: cl_sdk::types::ProbeStatus::InvalidCredentials, .. }) => {
                format!("{said}. Check --sub-username and CLX_SUB_PASSWORD (a vCenter publisher takes the user vcsp).")
            }
            _ => format!("{said}.{}", hint(e.kind())),
        };
        Failure { kind, message, code }
    }
}

/// What the user can do about an error of this kind, when there is something to say.
fn hint(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Unauthenticated => " Check the user name and password (CLX_USERNAME, CLX_PASSWORD).",
        ErrorKind::Tls => " Pass --ca-cert or --thumbprint to trust this server (or --insecure for a test server).",
        ErrorKind::Transport => " Check the URL, and that the server is reachable and speaks that scheme.",
        ErrorKind::ResourceBusy => " Another update of this item is running; try again when it is done.",
        ErrorKind::RedirectRefused => " The server sent the request elsewhere; no credentials went with it.",
        ErrorKind::ResourceInaccessible => {
            " The server could not reach what it needs; for a subscription, `clx library probe URL` says why."
        }
        _ => "",
    }
}

pub fn fail(message: impl Into<String>) -> Failure {
    Failure { kind: "failure".into(), message: message.into(), code: EXIT_FAILURE }
}

/// A mistake in what the user asked for: exit 2.
pub fn usage(message: impl Into<String>) -> Failure {
    Failure { kind: "usage".into(), message: message.into(), code: EXIT_USAGE }
}

/// Prints a failure on stderr: a sentence, or under `--json` one object
/// `{"error": {"kind", "message", "exit_code"}}`.
pub fn print_failure(json_out: bool, failure: &Failure, code: u8) {
    if json_out {
        let error = serde_json::json!({"error": {"kind": failure.kind, "message": failure.message, "exit_code": code}});
        eprintln!("{error}");
    } else {
        eprintln!("clx: {}", clean(&failure.message));
    }
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

/// A row of a listing: its columns' headers and its cells (server text already cleaned).
pub trait Row: Serialize {
    const HEADER: &'static [&'static str];
    fn cells(&self) -> Vec<String>;
}

/// Rows print as a JSON array, or as a table with a header.
impl<R: Row> Report for Vec<R> {
    fn text(&self) -> String {
        if self.is_empty() {
            return String::new();
        }
        let rows: Vec<Vec<String>> = self.iter().map(Row::cells).collect();
        let widths: Vec<usize> = (0..R::HEADER.len())
            .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([R::HEADER[i].len()]).max().unwrap_or(0))
            .collect();
        let line = |cells: Vec<String>| {
            let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
            padded.join("  ").trim_end().to_owned()
        };
        let header = line(R::HEADER.iter().map(|h| (*h).to_owned()).collect());
        std::iter::once(header).chain(rows.into_iter().map(line)).collect::<Vec<_>>().join("\n")
    }
}

/// Rows printed as they come: a JSON array written element by element, or a table whose column
/// widths are taken from its first rows (later, wider cells just run over), so a listing of any
/// length holds at most that many rows in memory.
pub struct RowPrinter<R: Row> {
    json: bool,
    rows: usize,
    first: Vec<R>,
    widths: Option<Vec<usize>>,
}

impl<R: Row> RowPrinter<R> {
    /// Rows the table's widths are taken from.
    const FIRST: usize = 100;

    pub fn new(json: bool) -> Self {
        Self { json, rows: 0, first: Vec::new(), widths: None }
    }

    pub fn push(&mut self, row: R) {
        self.rows += 1;
        if self.json {
            let text = serde_json::to_string(&row).unwrap_or_default();
            println!("{}{text}", if self.rows == 1 { "[" } else { "," });
            return;
        }
        match &self.widths {
            Some(widths) => println!("{}", line(row.cells(), widths)),
            None => {
                self.first.push(row);
                if self.first.len() == Self::FIRST {
                    self.flush();
                }
            }
        }
    }

    /// Prints what is held and fixes the widths.
    fn flush(&mut self) {
        let rows: Vec<Vec<String>> = self.first.drain(..).map(|r| r.cells()).collect();
        let widths: Vec<usize> = (0..R::HEADER.len())
            .map(|i| rows.iter().map(|r| r[i].chars().count()).chain([R::HEADER[i].len()]).max().unwrap_or(0))
            .collect();
        println!("{}", line(R::HEADER.iter().map(|h| (*h).to_owned()).collect(), &widths));
        for row in rows {
            println!("{}", line(row, &widths));
        }
        self.widths = Some(widths);
    }

    /// Ends the listing (an empty table prints nothing; an empty JSON listing is `[]`).
    pub fn finish(mut self) {
        if self.json {
            println!("{}", if self.rows == 0 { "[]" } else { "]" });
        } else if self.widths.is_none() && !self.first.is_empty() {
            self.flush();
        }
    }
}

fn line(cells: Vec<String>, widths: &[usize]) -> String {
    let padded: Vec<String> = cells.iter().zip(widths).map(|(c, w)| format!("{c:<w$}")).collect();
    padded.join("  ").trim_end().to_owned()
}

/// A byte count for people: `512 B`, `1.5 KiB`, `4.0 GiB`.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
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

/// One line for a finished transfer: `uploaded 1 file, 5 B in 0.01 s (500 B/s)`.
pub fn summary(what: &str, files: usize, bytes: u64, elapsed: Duration) -> String {
    let seconds = elapsed.as_secs_f64();
    let rate = (bytes as f64 / seconds.max(1e-3)) as u64;
    let noun = if files == 1 { "file" } else { "files" };
    format!("{what} {files} {noun}, {} in {seconds:.2} s ({}/s)", human(bytes), human(rate))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summaries_read_as_sentences() {
        let one = summary("uploaded", 1, 5, Duration::from_millis(10));
        assert_eq!(one, "uploaded 1 file, 5 B in 0.01 s (500 B/s)");
        let many = summary("downloaded", 3, 3 << 30, Duration::from_secs(2));
        assert_eq!(many, "downloaded 3 files, 3.0 GiB in 2.00 s (1.5 GiB/s)");
        // A transfer timed at zero does not divide by zero.
        assert!(summary("x", 0, 0, Duration::ZERO).ends_with("(0 B/s)"));
    }

    #[test]
    fn sizes_for_people() {
        assert_eq!(human(0), "0 B");
        assert_eq!(human(1023), "1023 B");
        assert_eq!(human(1536), "1.5 KiB");
        assert_eq!(human(4 << 30), "4.0 GiB");
        assert_eq!(human(u64::MAX), "16384.0 PiB");
    }

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
