//! Polling with adaptive backoff and a deadline, for the states the service reaches on its own
//! (a file PREPARED, a session DONE, a preview AVAILABLE).

use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};

/// First pause between polls: short, because small files are often ready at once.
const FIRST: Duration = Duration::from_millis(25);
/// Longest pause between polls.
const CAP: Duration = Duration::from_secs(2);

/// The pauses of one wait: 25 ms, then 1.5 times longer each round up to 2 s, until the deadline.
///
/// A loop polls, then calls [`pause`](Self::pause), which fails with
/// [`ErrorKind::WaitTimedOut`] once the deadline has passed. (A loop rather than a closure-taking
/// helper keeps every SDK future `Send`.)
pub(crate) struct Backoff {
    what: String,
    started: Instant,
    deadline: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(what: impl Into<String>, deadline: Duration) -> Self {
        Self { what: what.into(), started: Instant::now(), deadline, next: FIRST }
    }

    pub async fn pause(&mut self) -> Result<()> {
        let waited = self.started.elapsed();
        if waited >= self.deadline {
            let what = &self.what;
            return Err(Error::new(ErrorKind::WaitTimedOut, format!("gave up waiting for {what} after {waited:.1?}")));
        }
        tokio::time::sleep(self.next.min(self.deadline - waited)).await;
        self.next = self.next.mul_f32(1.5).min(CAP);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn backs_off_and_times_out() {
        let mut backoff = Backoff::new("nothing", Duration::from_secs(10));
        let mut polls = 1;
        let error = loop {
            match backoff.pause().await {
                Ok(()) => polls += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(error.kind(), &ErrorKind::WaitTimedOut);
        // 25 ms growing by 1.5 to a 2 s cap covers 10 s in about a dozen polls, not hundreds.
        assert!((8..=16).contains(&polls), "{polls} polls");
    }

    #[tokio::test(start_paused = true)]
    async fn first_pauses_are_short() {
        let mut backoff = Backoff::new("x", Duration::from_secs(60));
        let started = Instant::now();
        for _ in 0..3 {
            backoff.pause().await.unwrap();
        }
        // 25 + 37.5 + 56.25 ms
        assert!(started.elapsed() < Duration::from_millis(130), "{:?}", started.elapsed());
    }
}
