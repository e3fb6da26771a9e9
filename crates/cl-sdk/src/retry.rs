//! The one retry policy and the one backoff of the SDK.
//!
//! Every API call (through the wire layer's call path), every transfer loop (download resume,
//! upload re-send) and every waiter (polling a state the service reaches on its own) paces itself
//! with [`Backoff`]; what may be repeated is decided by [`classify`] alone.

use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, ErrorKind};

/// When and how often failed calls are repeated. Set it with
/// [`ClientBuilder::retry`](crate::ClientBuilder::retry); it applies to API calls that are safe to
/// repeat and to the transfer loops.
///
/// ```
/// use std::time::Duration;
/// let policy = cl_sdk::RetryPolicy::default()
///     .max_attempts(6)
///     .backoff(Duration::from_millis(100), Duration::from_secs(5))
///     .budget(Duration::from_secs(120));
/// assert_eq!(policy.attempts(), 6);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    attempts: u32,
    base: Duration,
    cap: Duration,
    jitter: bool,
    budget: Duration,
}

impl Default for RetryPolicy {
    /// 5 attempts, 250 ms doubling to 8 s with jitter, at most 60 s spent waiting per call.
    fn default() -> Self {
        Self {
            attempts: 5,
            base: Duration::from_millis(250),
            cap: Duration::from_secs(8),
            jitter: true,
            budget: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// Never repeat anything.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// use cl_sdk::RetryPolicy;
    /// // Fail fast: every error as it comes.
    /// let client = cl_sdk::Client::builder("https://vcenter.example.com").retry(RetryPolicy::none()).connect().await?;
    /// # Ok(()) }
    /// ```
    pub fn none() -> Self {
        Self { attempts: 1, ..Self::default() }
    }

    /// How many times one call is tried in all, the first included (at least 1).
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// use cl_sdk::RetryPolicy;
    /// let policy = RetryPolicy::default().max_attempts(10);
    /// assert_eq!(policy.attempts(), 10);
    /// # Ok(()) }
    /// ```
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The first pause and the longest one; pauses double in between.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// use cl_sdk::RetryPolicy;
    /// let policy = RetryPolicy::default().backoff(Duration::from_millis(200), Duration::from_secs(20));
    /// # let _ = policy;
    /// # Ok(()) }
    /// ```
    pub fn backoff(mut self, base: Duration, cap: Duration) -> Self {
        self.base = base;
        self.cap = cap.max(base);
        self
    }

    /// Whether pauses are randomized (between half and all of their nominal length), so that many
    /// clients failing together do not come back together. On by default.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// use cl_sdk::RetryPolicy;
    /// let policy = RetryPolicy::default().jitter(false); // predictable pauses, e.g. in tests
    /// # let _ = policy;
    /// # Ok(()) }
    /// ```
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// The most time one call may spend in retries, measured from its first attempt: no attempt
    /// starts after it, and no pause runs past it.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// use cl_sdk::RetryPolicy;
    /// let policy = RetryPolicy::default().budget(Duration::from_secs(300));
    /// # let _ = policy;
    /// # Ok(()) }
    /// ```
    pub fn budget(mut self, budget: Duration) -> Self {
        self.budget = budget;
        self
    }

    /// The attempts allowed per call.
    ///
    /// ```no_run
    /// # async fn demo(client: cl_sdk::Client) -> cl_sdk::Result<()> {
    /// use std::time::Duration;
    /// use cl_sdk::RetryPolicy;
    /// println!("{}", RetryPolicy::default().attempts());
    /// # Ok(()) }
    /// ```
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    pub(crate) fn start(&self) -> Retries {
        Retries {
            policy: self.clone(),
            backoff: Backoff::new(self.base, 2.0, self.cap, self.jitter),
            started: Instant::now(),
            failures: 0,
        }
    }
}

/// Whether a call may be repeated when it fails in a way that leaves its effect unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Repeat {
    /// Reads, keep-alives, prepares, and creates that carry a client token: repeating them
    /// changes nothing the first attempt did not.
    Safe,
    /// Everything else (complete, cancel, fail, delete, logout): repeated only when the failure
    /// proves the server did not act on the first attempt.
    Unsafe,
}

/// What a failure says about trying again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// The server did not act (503, 429, connection refused): any call may be repeated.
    NotActed,
    /// The outcome is unknown (reset mid-way, timed out, 502, 504): only safe calls are repeated.
    Unknown,
    /// Repeating the same request will fail the same way (4xx, verification, decoding, TLS).
    Final,
}

/// The one classifier: decides from the error alone whether a repeat may succeed.
pub(crate) fn classify(error: &Error) -> Class {
    match error.kind() {
        ErrorKind::ServiceUnavailable => Class::NotActed,
        ErrorKind::Http if matches!(error.status(), Some(429 | 503)) => Class::NotActed,
        ErrorKind::Transport if error.connection_refused() => Class::NotActed,
        ErrorKind::Transport | ErrorKind::TimedOut => Class::Unknown,
        ErrorKind::Http if matches!(error.status(), Some(408 | 502 | 504)) => Class::Unknown,
        _ => Class::Final,
    }
}

impl Class {
    pub(crate) fn allows(self, repeat: Repeat) -> bool {
        match self {
            Class::NotActed => true,
            Class::Unknown => repeat == Repeat::Safe,
            Class::Final => false,
        }
    }
}

/// The longest `Retry-After` honoured; a longer one is waited this long (within the budget).
const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// The retries of one call under a policy.
#[derive(Debug)]
pub(crate) struct Retries {
    policy: RetryPolicy,
    backoff: Backoff,
    started: Instant,
    failures: u32,
}

impl Retries {
    /// After a failure: the pause before the next attempt, or `None` when the error is final for
    /// this call, the attempts are used up or the budget would be exceeded.
    pub fn next_pause(&mut self, error: &Error, repeat: Repeat) -> Option<Duration> {
        if !classify(error).allows(repeat) {
            self.failures += 1;
            return None;
        }
        let pause = self.next_pause_unclassified()?;
        // A server that says how long to wait is believed, up to a cap (and within the budget).
        let pause = match error.retry_after() {
            Some(after) => pause.max(after.min(MAX_RETRY_AFTER)),
            None => pause,
        };
        let left = self.policy.budget.checked_sub(self.started.elapsed())?;
        (pause < left).then_some(pause)
    }

    /// Counts a failure and gives the pause before the next attempt, or `None` when the
    /// attempts or the budget are spent.
    pub fn next_pause_unclassified(&mut self) -> Option<Duration> {
        self.failures += 1;
        if self.failures >= self.policy.attempts {
            return None;
        }
        let pause = self.backoff.next_pause();
        let left = self.policy.budget.checked_sub(self.started.elapsed())?;
        (pause < left).then_some(pause)
    }

    /// Starts counting afresh after progress (a download that moved bytes since its last failure).
    pub fn progressed(&mut self) {
        *self = self.policy.start();
    }

    /// Starts the time budget afresh but keeps the attempts: the budget bounds time spent
    /// retrying, not an upload attempt that ran for an hour before it broke.
    pub fn restart_clock(&mut self) {
        self.started = Instant::now();
    }

    /// Failures so far.
    pub fn failures(&self) -> u32 {
        self.failures
    }
}

/// The one retry count of one file's transfer, shared by every loop that repeats it: the
/// runner's repeats, a source's resumes inside its stream, an upload's re-sends. Nested loops
/// draw from it rather than each from a count of its own, so they never multiply: with
/// `max_attempts(2)` a file that makes no progress is repeated once, however it breaks. An
/// attempt that moved bytes starts the count afresh.
#[derive(Clone, Debug)]
pub(crate) struct FileRetries(std::sync::Arc<std::sync::Mutex<Retries>>);

impl FileRetries {
    pub fn new(retries: Retries) -> Self {
        Self(std::sync::Arc::new(std::sync::Mutex::new(retries)))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Retries> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// See [`Retries::next_pause`].
    pub fn next_pause(&self, error: &Error, repeat: Repeat) -> Option<Duration> {
        self.lock().next_pause(error, repeat)
    }

    /// A repeat the caller decided on (a server that reported a file at another size than was
    /// sent): counted and paced as any other, whatever the error's class.
    pub fn again(&self) -> Option<Duration> {
        self.lock().next_pause_unclassified()
    }

    /// See [`Retries::progressed`].
    pub fn progressed(&self) {
        self.lock().progressed();
    }

    /// See [`Retries::restart_clock`].
    pub fn restart_clock(&self) {
        self.lock().restart_clock();
    }
}

/// Exponential pauses with an optional jitter: `first`, then `factor` times longer each round up
/// to `cap`.
#[derive(Debug, Clone)]
pub(crate) struct Backoff {
    next: Duration,
    factor: f64,
    cap: Duration,
    jitter: bool,
}

impl Backoff {
    pub fn new(first: Duration, factor: f64, cap: Duration, jitter: bool) -> Self {
        Self { next: first, factor, cap, jitter }
    }

    /// The pauses of a waiter polling a state the service reaches on its own: 25 ms (small files
    /// are often ready at once), growing by half each round to 2 s.
    pub fn polling() -> Self {
        Self::new(Duration::from_millis(25), 1.5, Duration::from_secs(2), false)
    }

    pub fn next_pause(&mut self) -> Duration {
        let nominal = self.next;
        self.next = self.next.mul_f64(self.factor).min(self.cap);
        if self.jitter { nominal.mul_f64(0.5 + fastrand::f64() / 2.0) } else { nominal }
    }
}

/// A waiter's deadline: polls, then [`pause`](Self::pause)s, which fails with
/// [`ErrorKind::WaitTimedOut`] once the deadline has passed. (A loop rather than a closure-taking
/// helper keeps every SDK future `Send`.)
pub(crate) struct Waiter {
    what: String,
    started: Instant,
    deadline: Duration,
    backoff: Backoff,
}

impl Waiter {
    pub fn new(what: impl Into<String>, deadline: Duration) -> Self {
        Self { what: what.into(), started: Instant::now(), deadline, backoff: Backoff::polling() }
    }

    /// Sleeps before the next poll. `status` says what the server reports now, for the error.
    pub async fn pause(&mut self, status: impl std::fmt::Display) -> Result<(), Error> {
        let waited = self.started.elapsed();
        if waited >= self.deadline {
            let what = &self.what;
            return Err(Error::new(
                ErrorKind::WaitTimedOut,
                format!("gave up waiting for {what} after {waited:.1?}; the server still reports {status}"),
            ));
        }
        tokio::time::sleep(self.backoff.next_pause().min(self.deadline - waited)).await;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(status: u16) -> Error {
        Error::from_response(status, b"")
    }

    #[test]
    fn classifier() {
        assert_eq!(classify(&error(503)), Class::NotActed);
        assert_eq!(classify(&error(429)), Class::NotActed);
        assert_eq!(classify(&error(502)), Class::Unknown);
        assert_eq!(classify(&error(504)), Class::Unknown);
        for status in [400, 401, 403, 404, 409, 500] {
            assert_eq!(classify(&error(status)), Class::Final, "{status}");
        }
        let busy = Error::from_response(500, br#"{"error_type":"RESOURCE_BUSY","messages":[]}"#);
        assert_eq!(classify(&busy), Class::Final);
        assert!(!Class::Unknown.allows(Repeat::Unsafe));
        assert!(Class::Unknown.allows(Repeat::Safe));
        assert!(Class::NotActed.allows(Repeat::Unsafe));
    }

    #[tokio::test(start_paused = true)]
    async fn attempts_and_budget_bound_the_retries() {
        let policy = RetryPolicy::default().max_attempts(4).jitter(false);
        let mut retries = policy.start();
        let pauses: Vec<_> = std::iter::from_fn(|| retries.next_pause(&error(503), Repeat::Safe)).collect();
        assert_eq!(pauses, [250, 500, 1000].map(Duration::from_millis));

        let policy = RetryPolicy::default().max_attempts(100).jitter(false).budget(Duration::from_secs(3));
        let mut retries = policy.start();
        let mut waited = Duration::ZERO;
        while let Some(pause) = retries.next_pause(&error(503), Repeat::Safe) {
            tokio::time::sleep(pause).await;
            waited += pause;
        }
        assert!(waited <= Duration::from_secs(3), "{waited:?}");
        assert_eq!(retries.failures(), 4, "250 + 500 + 1000 ms fit in 3 s, 2 s more would not");
    }

    #[test]
    fn jitter_stays_within_half_and_whole() {
        let mut backoff = Backoff::new(Duration::from_millis(1000), 1.0, Duration::from_secs(1), true);
        for _ in 0..200 {
            let pause = backoff.next_pause();
            assert!((500..=1000).contains(&pause.as_millis()), "{pause:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn waiter_backs_off_and_times_out() {
        let mut waiter = Waiter::new("nothing", Duration::from_secs(10));
        let mut polls = 1;
        let error = loop {
            match waiter.pause("PREPARING").await {
                Ok(()) => polls += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(error.kind(), ErrorKind::WaitTimedOut);
        assert!(error.message().contains("still reports PREPARING"), "{error}");
        // 25 ms growing by 1.5 to a 2 s cap covers 10 s in about a dozen polls, not hundreds.
        assert!((8..=16).contains(&polls), "{polls} polls");
    }

    #[tokio::test(start_paused = true)]
    async fn first_polls_are_quick() {
        let mut waiter = Waiter::new("x", Duration::from_secs(60));
        let started = Instant::now();
        for _ in 0..3 {
            waiter.pause("x").await.unwrap();
        }
        // 25 + 37.5 + 56.25 ms
        assert!(started.elapsed() < Duration::from_millis(130), "{:?}", started.elapsed());
    }
}
