//! The SDK's one error type.
//!
//! Server errors are decoded from the body, not the status (the two dialects give the same error
//! different codes): `/api` sends `{error_type, messages, data}`, `/rest` sends
//! `{"type": "com.vmware.vapi.std.errors.<name>", "value": {…}}`. A body that is neither (a
//! proxy's HTML page, an old server's empty 404) falls back to the status. Which errors are worth
//! retrying is decided once, by the retry module's classifier ([`Error::is_retryable`] asks it).

use std::fmt;

use cl_api::types::ErrorType;

/// What went wrong, as something to `match` on.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::ErrorKind;
/// match client.item(&item).await {
///     Ok(model) => println!("{:?}", model.name),
///     Err(e) if e.kind() == ErrorKind::NotFound => println!("no such item"),
///     Err(e) if e.kind() == ErrorKind::Unauthenticated => println!("log in again"),
///     Err(e) => return Err(e),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    // --- standard errors the server reported
    /// The object (session, item, library, file) does not exist.
    NotFound,
    /// The operation is not allowed in the object's current state (e.g. completing a session
    /// that is not ACTIVE, deleting an ACTIVE update session).
    NotAllowedInCurrentState,
    /// The resource is busy (e.g. the item already has an ACTIVE update session).
    ResourceBusy,
    /// Not logged in, or the API session expired.
    Unauthenticated,
    /// Logged in, but not allowed to do this.
    Unauthorized,
    /// An argument was invalid (a missing file name, a bad spec).
    InvalidArgument,
    /// The object already exists (e.g. an item name taken in its library).
    AlreadyExists,
    /// The object is of the wrong type (e.g. an item of a subscribed library).
    InvalidElementType,
    /// The object changed since the version an update was made for; read it again and retry.
    ConcurrentChange,
    /// The service is (temporarily) unavailable.
    ServiceUnavailable,
    /// The server timed out.
    TimedOut,
    /// The server failed internally.
    InternalServerError,
    /// The server does not know this operation (an older vCenter, or the other dialect).
    OperationNotFound,
    /// The server could not reach something it needs (a subscribed library's feed).
    ResourceInaccessible,
    /// Another standard error type this SDK knows by name (see [`Error::error_type`]).
    OtherStd,
    /// A standard error type this SDK does not know (a newer server's); [`Error::error_type`]
    /// has it as sent.
    UnknownStd,
    /// An error response without a standard error body (a proxy, an old server).
    Http,

    // --- problems found on this side
    /// The server could not be reached, or the connection broke.
    Transport,
    /// The server's certificate was not trusted (or did not match the pinned thumbprint).
    Tls,
    /// A response did not have the documented shape.
    Decode,
    /// A value given to the SDK was unusable.
    InvalidInput,
    /// A waiter's deadline passed before the awaited state was reached.
    WaitTimedOut,
    /// A session or file ended in ERROR (or CANCELED) while being waited on.
    SessionFailed,
    /// Transferred content did not match its declared size or checksum.
    Verification,
    /// A local file could not be read or written.
    Io,
    /// A server-supplied file name would write outside the destination folder.
    UnsafePath,
    /// The transfer was canceled by the caller.
    Canceled,
    /// The server redirected to another origin (another host or port, or from https to http);
    /// the redirect was not followed, so no token or credentials left the API's origin.
    RedirectRefused,
    /// A subscription's feed cannot be used (unreachable, untrusted, refusing the credentials):
    /// [`Detail::Probe`] says which, as the server's probe found it.
    FeedUnusable,
}

impl ErrorKind {
    /// The kind's name, stable across releases (what `clx --json` prints as an error's `kind`).
    ///
    /// ```
    /// assert_eq!(cl_sdk::ErrorKind::NotFound.as_str(), "NotFound");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "NotFound",
            Self::NotAllowedInCurrentState => "NotAllowedInCurrentState",
            Self::ResourceBusy => "ResourceBusy",
            Self::Unauthenticated => "Unauthenticated",
            Self::Unauthorized => "Unauthorized",
            Self::InvalidArgument => "InvalidArgument",
            Self::AlreadyExists => "AlreadyExists",
            Self::InvalidElementType => "InvalidElementType",
            Self::ConcurrentChange => "ConcurrentChange",
            Self::ServiceUnavailable => "ServiceUnavailable",
            Self::TimedOut => "TimedOut",
            Self::InternalServerError => "InternalServerError",
            Self::OperationNotFound => "OperationNotFound",
            Self::ResourceInaccessible => "ResourceInaccessible",
            Self::OtherStd => "OtherStd",
            Self::UnknownStd => "UnknownStd",
            Self::Http => "Http",
            Self::Transport => "Transport",
            Self::Tls => "Tls",
            Self::Decode => "Decode",
            Self::InvalidInput => "InvalidInput",
            Self::WaitTimedOut => "WaitTimedOut",
            Self::SessionFailed => "SessionFailed",
            Self::Verification => "Verification",
            Self::Io => "Io",
            Self::UnsafePath => "UnsafePath",
            Self::Canceled => "Canceled",
            Self::RedirectRefused => "RedirectRefused",
            Self::FeedUnusable => "FeedUnusable",
        }
    }

    fn from_error_type(t: &ErrorType) -> Self {
        match t {
            ErrorType::NotFound => Self::NotFound,
            ErrorType::NotAllowedInCurrentState => Self::NotAllowedInCurrentState,
            ErrorType::ResourceBusy => Self::ResourceBusy,
            ErrorType::Unauthenticated => Self::Unauthenticated,
            ErrorType::Unauthorized => Self::Unauthorized,
            ErrorType::InvalidArgument => Self::InvalidArgument,
            ErrorType::AlreadyExists => Self::AlreadyExists,
            ErrorType::InvalidElementType => Self::InvalidElementType,
            ErrorType::ConcurrentChange => Self::ConcurrentChange,
            ErrorType::ServiceUnavailable => Self::ServiceUnavailable,
            ErrorType::TimedOut => Self::TimedOut,
            ErrorType::InternalServerError => Self::InternalServerError,
            ErrorType::OperationNotFound => Self::OperationNotFound,
            ErrorType::ResourceInaccessible => Self::ResourceInaccessible,
            ErrorType::Unknown(_) => Self::UnknownStd,
            _ => Self::OtherStd,
        }
    }

    /// The kind an error response without a standard body most likely is.
    fn from_status(status: u16) -> Self {
        match status {
            401 => Self::Unauthenticated,
            403 => Self::Unauthorized,
            404 => Self::NotFound,
            503 => Self::ServiceUnavailable,
            504 => Self::TimedOut,
            _ => Self::Http,
        }
    }
}

/// An error from the SDK: what kind, the operation, the HTTP status and the server's messages.
///
/// ```
/// # fn handle(error: cl_sdk::Error) {
/// use cl_sdk::ErrorKind;
/// match error.kind() {
///     ErrorKind::NotFound => println!("gone: {}", error.message()),
///     ErrorKind::NotAllowedInCurrentState => println!("wrong state"),
///     _ if error.is_retryable() => println!("try again later"),
///     _ => println!("{error}"),
/// }
/// # }
/// ```
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    operation: Option<String>,
    status: Option<u16>,
    error_type: Option<String>,
    messages: Vec<String>,
    /// Boxed: most errors have none, and `Result`s stay small.
    detail: Option<Box<Detail>>,
    /// How long the answer asked to wait before trying again (`Retry-After`).
    retry_after: Option<std::time::Duration>,
    /// Said by a source outside vCenter (an http(s) URL this client fetches), not by vCenter.
    from_source: bool,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

/// What a caller may need to react to an error, beyond its kind: typed, so nobody parses
/// messages.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
/// use cl_sdk::Detail;
/// use cl_sdk::transfer::DownloadOptions;
/// match client.download_item(&item, "/var/tmp/photon", DownloadOptions::default()).await {
///     Err(e) => match e.detail() {
///         Some(Detail::TargetExists(path)) => println!("{} is in the way", path.display()),
///         _ => println!("{}", e.report()),
///     },
///     Ok(report) => println!("{} files", report.files.len()),
/// }
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Detail {
    /// Signed content raised preview warnings that were not chosen to be ignored (see
    /// `UploadOptions::ignore_warnings`).
    PreviewWarnings(Vec<cl_api::types::WarningType>),
    /// A download's target exists and may not be replaced (see `Overwrite`).
    TargetExists(std::path::PathBuf),
    /// The file (its name in the item) whose bytes or size failed verification.
    File(String),
    /// The server ended every API session it issued although each login succeeded: the
    /// credentials are good, its sessions do not last (re-logins stopped at their budget).
    SessionsEnd,
    /// An interrupted download kept `bytes` in `folder`: the same download into the same
    /// destination resumes them (unless the item changed); `resume(false)` starts over.
    Resumable {
        /// The hidden staging folder in the destination.
        folder: std::path::PathBuf,
        /// The bytes it keeps.
        bytes: u64,
    },
    /// A copy's destination library has no item of this name, and creating one was not asked
    /// for (`CopyOptions::create`).
    MissingItem(String),
    /// What probing a subscription's feed found (with [`ErrorKind::FeedUnusable`]).
    Probe {
        /// Why the feed cannot be used.
        status: cl_api::types::ProbeStatus,
        /// The feed's certificate thumbprint (https), to pin when it is the publisher's.
        ssl_thumbprint: Option<String>,
    },
}

/// Up to `most` names, quoted and comma-separated, with how many more there are.
pub(crate) fn list(names: &[String], most: usize) -> String {
    let shown: Vec<String> = names.iter().take(most).map(|n| format!("{n:?}")).collect();
    match names.len().saturating_sub(most) {
        0 => shown.join(", "),
        more => format!("{} and {more} more", shown.join(", ")),
    }
}

/// The result of every fallible SDK call.
///
/// ```no_run
/// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
/// fn parse(id: &str) -> cl_sdk::Result<cl_sdk::ItemId> {
///     id.parse()
/// }
/// assert!(parse("").is_err());
/// # Ok(()) }
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error of `kind` with a message.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::{Error, ErrorKind};
    /// let e = Error::new(ErrorKind::InvalidInput, "no such folder");
    /// assert_eq!(e.to_string(), "no such folder");
    /// # Ok(()) }
    /// ```
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            operation: None,
            status: None,
            error_type: None,
            messages: vec![message.into()],
            detail: None,
            retry_after: None,
            from_source: false,
            source: None,
        }
    }

    /// The same error without its source chain (whose text the copy keeps as a cause): for an
    /// error that must be reported where it was not caught (a request body's failure).
    pub(crate) fn relay(&self) -> Self {
        let mut copy = Self {
            kind: self.kind,
            operation: self.operation.clone(),
            status: self.status,
            error_type: self.error_type.clone(),
            messages: self.messages.clone(),
            detail: self.detail.clone(),
            retry_after: self.retry_after,
            from_source: self.from_source,
            source: None,
        };
        if let Some(source) = &self.source {
            copy.source = Some(Box::new(std::io::Error::other(source.to_string())));
        }
        copy
    }

    /// The HTTP status this error answers with (a source's, kept for the retry classifier).
    pub(crate) fn with_status(mut self, status: u16) -> Self {
        self.status = Some(status);
        self
    }

    /// How long the answer asked to wait before a repeat (`Retry-After`), if it said.
    pub(crate) fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
    }

    pub(crate) fn set_retry_after(&mut self, after: Option<std::time::Duration>) {
        self.retry_after = after;
    }

    /// Marks the error as the word of a source outside vCenter.
    pub(crate) fn by_source(mut self) -> Self {
        self.from_source = true;
        self
    }

    /// Whether a source outside vCenter (not vCenter) failed.
    pub(crate) fn is_from_source(&self) -> bool {
        self.from_source
    }

    pub(crate) fn with(mut self, detail: Detail) -> Self {
        self.detail = Some(Box::new(detail));
        self
    }

    /// A verification failure of the file `name`.
    pub(crate) fn verification(name: &str, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Verification, message).with(Detail::File(name.to_owned()))
    }

    pub(crate) fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Adds a sentence to the message (what the user can do about it, what was seen).
    pub(crate) fn with_detail(mut self, detail: String) -> Self {
        if let Some(first) = self.messages.first_mut() {
            first.push_str("; ");
            first.push_str(&detail);
        }
        self
    }

    pub(crate) fn in_operation(mut self, operation: &str) -> Self {
        if self.operation.is_none() {
            self.operation = Some(operation.to_owned());
        }
        self
    }

    /// What went wrong.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::ErrorKind;
    /// match client.item(&item).await {
    ///     Err(e) if e.kind() == ErrorKind::NotFound => println!("gone"),
    ///     other => println!("{:?}", other.map(|i| i.name)),
    /// }
    /// # Ok(()) }
    /// ```
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// What a caller may react to, when there is something (see [`Detail`]).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// use cl_sdk::Detail;
    /// use cl_sdk::transfer::DownloadOptions;
    /// if let Err(e) = client.download_item(&item, "/var/tmp/photon", DownloadOptions::default()).await {
    ///     if let Some(Detail::Resumable { folder, bytes }) = e.detail() {
    ///         println!("{bytes} bytes kept in {}: run it again to resume", folder.display());
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn detail(&self) -> Option<&Detail> {
        self.detail.as_deref()
    }

    /// Everything known, on one line, for logs and for people: the operation that failed, the
    /// message, the server's error type and HTTP status, the server's causes and every cause in
    /// the source chain, each once. `Display` gives the message alone.
    ///
    /// ```
    /// use cl_sdk::{Error, ErrorKind};
    /// let io = std::io::Error::new(std::io::ErrorKind::Other, "disk full");
    /// let e = Error::from(io);
    /// assert_eq!(e.to_string(), "disk full");
    /// assert_eq!(e.kind(), ErrorKind::Io);
    /// assert!(e.report().contains("disk full"));
    /// ```
    pub fn report(&self) -> String {
        let mut text = match &self.operation {
            Some(operation) => format!("{operation}: {}", self.message()),
            None => self.message().to_owned(),
        };
        if let Some(t) = &self.error_type {
            text.push_str(&format!(" ({t}"));
            if let Some(status) = self.status {
                text.push_str(&format!(", HTTP {status}"));
            }
            text.push(')');
        }
        for cause in self.messages.iter().skip(1) {
            text.push_str(&format!("; caused by: {cause}"));
        }
        let first = self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static));
        for cause in chain(first) {
            // Our own error as a source: its message is what ours was built from.
            let cause = cause.downcast_ref::<Error>().map_or_else(|| cause.to_string(), |e| e.message().to_owned());
            if !text.contains(&cause) {
                text.push_str(": ");
                text.push_str(&cause);
            }
        }
        text
    }

    /// The operation that failed (the spec's operationId, e.g. `update_session_complete`).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// if let Err(e) = client.item(&item).await {
    ///     println!("{:?} failed: {e}", e.operation());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn operation(&self) -> Option<&str> {
        self.operation.as_deref()
    }

    /// The HTTP status of the server's answer, if there was one.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// if let Err(e) = client.item(&item).await {
    ///     println!("HTTP {:?}", e.status());
    /// }
    /// # Ok(()) }
    /// ```
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The standard error type as the server named it (e.g. `NOT_FOUND`), if it sent one.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// if let Err(e) = client.item(&item).await {
    ///     println!("{:?}", e.error_type()); // e.g. Some("NOT_FOUND")
    /// }
    /// # Ok(()) }
    /// ```
    pub fn error_type(&self) -> Option<&str> {
        self.error_type.as_deref()
    }

    /// The server's messages, the error first and each cause after it; or this side's message.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client, item: cl_sdk::ItemId) -> cl_sdk::Result<()> {
    /// if let Err(e) = client.item(&item).await {
    ///     for message in e.messages() {
    ///         println!("{message}");
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn messages(&self) -> &[String] {
        &self.messages
    }

    /// The first message.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::{Error, ErrorKind};
    /// let e = Error::new(ErrorKind::InvalidInput, "no such folder");
    /// assert_eq!(e.message(), "no such folder");
    /// # Ok(()) }
    /// ```
    pub fn message(&self) -> &str {
        self.messages.first().map(String::as_str).unwrap_or("")
    }

    /// Whether repeating the same request later may succeed: the service was unavailable, timed
    /// out, or the connection failed (503, 502, 504, 429, 408, resets, refusals, timeouts).
    /// Everything else, every other 4xx included, needs a change first.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use cl_sdk::{Error, ErrorKind};
    /// let e = Error::new(ErrorKind::InvalidInput, "no such folder");
    /// assert!(!e.is_retryable(), "a mistake in the input is not worth repeating");
    /// # Ok(()) }
    /// ```
    pub fn is_retryable(&self) -> bool {
        crate::retry::classify(self) != crate::retry::Class::Final
    }

    /// Whether the connection was refused: nothing reached the server.
    pub(crate) fn connection_refused(&self) -> bool {
        self.io_kinds().any(|k| k == std::io::ErrorKind::ConnectionRefused)
    }

    /// The kinds of the I/O errors in the source chain.
    fn io_kinds(&self) -> impl Iterator<Item = std::io::ErrorKind> + '_ {
        chain(self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static)))
            .filter_map(|e| e.downcast_ref::<std::io::Error>().map(std::io::Error::kind))
    }
}

/// The one-line message; the operation, the server's error type and status, its causes and the
/// source chain are in [`Error::report`] (and the chain in `source()`, for error reporters that
/// walk it).
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source.as_deref().map(|s| s as &(dyn std::error::Error + 'static))
    }
}

/// An I/O error with what was being done and to which path, e.g. `cannot write /dl/x: No space
/// left on device (os error 28)`.
pub(crate) fn io_at<'a>(what: &'static str, path: &'a std::path::Path) -> impl FnOnce(std::io::Error) -> Error + 'a {
    move |e| Error::new(ErrorKind::Io, format!("cannot {what} {}: {e}", path.display())).with_source(e)
}

impl From<std::io::Error> for Error {
    fn from(error: std::io::Error) -> Self {
        Error::new(ErrorKind::Io, error.to_string()).with_source(error)
    }
}

/// An error and its sources, looking inside I/O errors too (whose `source` skips the error they
/// wrap, where TLS stacks put theirs).
fn chain<'a>(
    first: Option<&'a (dyn std::error::Error + 'static)>,
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(first, |e| match e.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref()) {
        Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
        None => e.source(),
    })
}

mod decode;
pub(crate) use decode::{excerpt, from_generated, from_transfer_response, tls_refusals, transport};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_name_the_path_once() {
        let e = Error::from(std::io::Error::new(std::io::ErrorKind::NotFound, "gone"));
        assert_eq!(e.to_string(), "gone");
        let e = io_at("write", std::path::Path::new("/dl/x.bin"))(std::io::Error::other("No space left on device"));
        assert_eq!(e.to_string(), "cannot write /dl/x.bin: No space left on device");
        assert_eq!(e.kind(), ErrorKind::Io);
    }

    #[test]
    fn kind_names_are_the_variant_names() {
        let kinds = [
            ErrorKind::NotFound,
            ErrorKind::NotAllowedInCurrentState,
            ErrorKind::ResourceBusy,
            ErrorKind::Unauthenticated,
            ErrorKind::Unauthorized,
            ErrorKind::InvalidArgument,
            ErrorKind::AlreadyExists,
            ErrorKind::InvalidElementType,
            ErrorKind::ConcurrentChange,
            ErrorKind::ServiceUnavailable,
            ErrorKind::TimedOut,
            ErrorKind::InternalServerError,
            ErrorKind::OperationNotFound,
            ErrorKind::OtherStd,
            ErrorKind::UnknownStd,
            ErrorKind::Http,
            ErrorKind::Transport,
            ErrorKind::Tls,
            ErrorKind::Decode,
            ErrorKind::InvalidInput,
            ErrorKind::WaitTimedOut,
            ErrorKind::SessionFailed,
            ErrorKind::Verification,
            ErrorKind::Io,
            ErrorKind::UnsafePath,
            ErrorKind::Canceled,
            ErrorKind::RedirectRefused,
        ];
        for kind in kinds {
            assert_eq!(kind.as_str(), format!("{kind:?}"));
        }
    }

    #[test]
    fn display_is_the_message_and_report_the_whole_chain() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionReset, std::io::Error::other("peer went away"));
        let e = Error::new(ErrorKind::Transport, "the download broke off").with_source(io).in_operation("download");
        let shown = e.to_string();
        assert!(!shown.starts_with("download:"), "{shown}");
        assert!(shown.starts_with("the download broke off"), "{shown}");
        let report = e.report();
        assert!(report.starts_with("download: the download broke off"), "{report}");
        assert!(report.contains("peer went away"), "the chain's depth is in the report: {report}");
    }

    #[test]
    fn details_are_typed() {
        let e = Error::verification("disk-0.vmdk", "disk-0.vmdk: received 3 bytes, the server said 4");
        assert_eq!(e.detail(), Some(&Detail::File("disk-0.vmdk".into())));
        assert_eq!(e.kind(), ErrorKind::Verification);
        assert_eq!(Error::new(ErrorKind::Io, "x").detail(), None);
    }
}
