//! Waiting for a change a provider applies later (Twilio's and KORE's `202 scheduled`).
//!
//! A provider that accepts a change to apply it asynchronously says so ([`Applied::Pending`](crate::Applied::Pending));
//! the SIM reads [`SimState::Pending`] until it is done. [`until_settled`] polls
//! [`SimProvider::fetch`] until the SIM leaves that state or a deadline passes, with a capped,
//! jittered backoff (so many waiters do not poll in step). On the deadline it ends with
//! [`Error::NotSettled`], which names the last state seen.
//!
//! Waiting is one way to learn the outcome; a provider's callback is the other (see
//! `supersim_client::callbacks`). They can be combined: wait with a long deadline, and let a
//! callback that arrives first end the wait by dropping its future.
//!
//! ```
//! use std::time::Duration;
//! use simcore::wait::{until_settled, WaitOptions};
//! # use simcore::{Applied, CallOptions, Lifecycle, ListOptions, SimChange, SimProvider, SimSnapshot, SimState, SnapshotPages};
//! # #[derive(Debug)] struct Fake(std::sync::atomic::AtomicU32);
//! # #[async_trait::async_trait]
//! # impl SimProvider for Fake {
//! #     fn name(&self) -> &'static str { "fake" }
//! #     fn lifecycle(&self) -> Lifecycle<SimState> { Lifecycle::open("fake") }
//! #     async fn fetch_with(&self, id: &str, _: &CallOptions) -> simcore::Result<SimSnapshot> {
//! #         let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
//! #         Ok(SimSnapshot::new("fake", id, if n < 2 { SimState::Pending } else { SimState::Active }))
//! #     }
//! #     async fn apply_with(&self, _: &str, _: &SimChange, _: &CallOptions) -> simcore::Result<Applied> { unimplemented!() }
//! #     fn list(&self, _: &ListOptions) -> SnapshotPages<'_> { unimplemented!() }
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! # let provider = Fake(Default::default());
//! let options = WaitOptions::default().first_delay(Duration::from_millis(5));
//! let sim = until_settled(&provider, "sim-1", &options).await?;
//! assert_eq!(sim.state, SimState::Active);
//! # Ok::<(), simcore::Error>(())
//! # }).unwrap();
//! ```

use std::future::Future;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::provider::{SimProvider, SimSnapshot};
use crate::state::SimState;

/// How long and how often to poll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WaitOptions {
    /// How long to wait in all (default 5 minutes).
    pub deadline: Duration,
    /// The first pause between polls (default 1 s); each pause doubles, up to `max_delay`.
    pub first_delay: Duration,
    /// The longest pause between polls (default 30 s).
    pub max_delay: Duration,
}

impl Default for WaitOptions {
    fn default() -> Self {
        Self {
            deadline: Duration::from_secs(5 * 60),
            first_delay: Duration::from_secs(1),
            max_delay: Duration::from_secs(30),
        }
    }
}

impl WaitOptions {
    /// The same options with another deadline.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    /// The same options with another first pause.
    pub fn first_delay(mut self, d: Duration) -> Self {
        self.first_delay = d;
        self.max_delay = self.max_delay.max(d);
        self
    }

    /// The same options with another longest pause.
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d.max(self.first_delay);
        self
    }

    /// The pause after poll number `n` (1-based): half the backoff ceiling plus a random part of
    /// the other half (jitter that never polls at once).
    fn pause(&self, n: u32, unit: f64) -> Duration {
        let ceiling = self
            .first_delay
            .saturating_mul(1u32 << n.saturating_sub(1).min(20))
            .min(self.max_delay);
        ceiling / 2 + (ceiling / 2).mul_f64(unit.clamp(0.0, 1.0))
    }
}

/// Polls `fetch` until `settled` says the value is final, or the deadline passes.
///
/// An error from `fetch` that a retry may fix ([`Error::is_retryable`]) is polled through; any
/// other ends the wait. `describe` names the last value seen for [`Error::NotSettled`].
pub async fn poll<T, F, Fut>(
    provider: &'static str,
    options: &WaitOptions,
    mut fetch: F,
    settled: impl Fn(&T) -> bool,
    describe: impl Fn(&T) -> String,
) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let start = Instant::now();
    let end = start + options.deadline;
    let mut n = 0;
    loop {
        n += 1;
        let last = match fetch().await {
            Ok(v) if settled(&v) => return Ok(v),
            Ok(v) => describe(&v),
            Err(e) if e.is_retryable() => format!("not read ({e})"),
            Err(e) => return Err(e),
        };
        let pause = options.pause(n, fastrand::f64());
        if Instant::now() + pause >= end {
            return Err(Error::NotSettled {
                provider,
                waited: start.elapsed(),
                last,
            });
        }
        tokio::time::sleep(pause).await;
    }
}

/// Waits until the SIM `id` is no longer [`SimState::Pending`] and returns it as it is then.
pub async fn until_settled(
    provider: &dyn SimProvider,
    id: &str,
    options: &WaitOptions,
) -> Result<SimSnapshot> {
    poll(
        provider.name(),
        options,
        || provider.fetch(id),
        |s: &SimSnapshot| s.state != SimState::Pending,
        |s: &SimSnapshot| match &s.native_status {
            Some(word) => format!("{} (the provider says {word:?})", s.state),
            None => s.state.to_string(),
        },
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiError;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn pauses_double_up_to_the_cap_with_jitter() {
        let o = WaitOptions::default();
        assert_eq!(o.pause(1, 0.0), Duration::from_millis(500));
        assert_eq!(o.pause(1, 1.0), Duration::from_secs(1));
        assert_eq!(o.pause(3, 0.0), Duration::from_secs(2));
        assert_eq!(o.pause(30, 1.0), Duration::from_secs(30));
        assert_eq!(o.pause(30, 0.0), Duration::from_secs(15));
    }

    #[tokio::test]
    async fn a_deadline_names_the_last_state_seen() {
        let o = WaitOptions::default()
            .deadline(Duration::from_millis(60))
            .first_delay(Duration::from_millis(10));
        let polls = AtomicU32::new(0);
        let err = poll(
            "p",
            &o,
            || async {
                polls.fetch_add(1, Ordering::SeqCst);
                Ok::<_, Error>("scheduled")
            },
            |s| *s != "scheduled",
            |s| s.to_string(),
        )
        .await
        .unwrap_err();
        assert!(polls.load(Ordering::SeqCst) >= 2);
        match &err {
            Error::NotSettled { last, .. } => assert_eq!(last, "scheduled"),
            other => panic!("{other:?}"),
        }
        assert!(
            err.to_string()
                .starts_with("p: the change had not settled after"),
            "{err}"
        );
        assert!(
            err.to_string()
                .ends_with("(last seen: scheduled); waiting longer may help"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn retryable_errors_are_polled_through_and_others_end_the_wait() {
        let o = WaitOptions::default().first_delay(Duration::from_millis(1));
        let n = AtomicU32::new(0);
        let v = poll(
            "p",
            &o,
            || async {
                match n.fetch_add(1, Ordering::SeqCst) {
                    0 => Err(Error::from(ApiError::new("p", 503))),
                    1 => Ok("scheduled"),
                    _ => Ok("active"),
                }
            },
            |s| *s != "scheduled",
            |s| s.to_string(),
        )
        .await
        .unwrap();
        assert_eq!(v, "active");
        let err = poll(
            "p",
            &o,
            || async { Err::<&str, _>(Error::from(ApiError::new("p", 404))) },
            |_| true,
            |s| s.to_string(),
        )
        .await
        .unwrap_err();
        assert!(err.is_not_found());
    }
}
