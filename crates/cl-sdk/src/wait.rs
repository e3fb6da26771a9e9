//! Polling with adaptive backoff and a deadline, for the states the service reaches on its own
//! (a file PREPARED, a session DONE, a preview AVAILABLE).

use std::time::Duration;

use tokio::time::Instant;

use crate::error::{Error, ErrorKind, Result};

/// First pause between polls: short, because small files are often ready at once.
const FIRST: Duration = Duration::from_millis(25);
/// Longest pause between polls.
const CAP: Duration = Duration::from_secs(2);

/// Calls `poll` until it returns `Some`, pausing 25 ms, then 1.5 times longer each round up to
/// 2 s, and gives up with [`ErrorKind::WaitTimedOut`] once `deadline` has passed.
pub(crate) async fn until<T>(
    what: &str,
    deadline: Duration,
    mut poll: impl AsyncFnMut() -> Result<Option<T>>,
) -> Result<T> {
    let started = Instant::now();
    let mut pause = FIRST;
    loop {
        if let Some(value) = poll().await? {
            return Ok(value);
        }
        let waited = started.elapsed();
        if waited >= deadline {
            return Err(Error::new(ErrorKind::WaitTimedOut, format!("gave up waiting for {what} after {waited:.1?}")));
        }
        tokio::time::sleep(pause.min(deadline - waited)).await;
        pause = (pause.mul_f32(1.5)).min(CAP);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn backs_off_and_times_out() {
        let mut polls = 0;
        let result: Result<()> = until("nothing", Duration::from_secs(10), async || {
            polls += 1;
            Ok(None)
        })
        .await;
        assert_eq!(result.unwrap_err().kind(), &ErrorKind::WaitTimedOut);
        // 25 ms growing by 1.5 to a 2 s cap covers 10 s in about a dozen polls, not hundreds.
        assert!((8..=16).contains(&polls), "{polls} polls");
    }

    #[tokio::test(start_paused = true)]
    async fn returns_as_soon_as_ready() {
        let mut polls = 0;
        let value = until("three polls", Duration::from_secs(10), async || {
            polls += 1;
            Ok((polls == 3).then_some(polls))
        })
        .await
        .unwrap();
        assert_eq!(value, 3);
    }
}
