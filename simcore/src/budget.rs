//! Rate budgets: how many requests per second may go to a provider account or from an egress IP,
//! shared by everything that draws on it.
//!
//! A provider's rate limit belongs to whatever it counts by: emnify counts per IP (2,000 requests
//! per 5 minutes), so every replica behind one egress IP draws on one budget. A [`RateBudget`]
//! hands out places in that budget, one per request, and says how long to wait before sending:
//!
//! - [`LocalBudget`]: in this process (share one `Arc` between clients and bulk runs);
//! - `RedisRateBudget` (in the `simcore-redis` crate): one budget for every process
//!   that reaches the same Redis, one round trip per request, falling back to a `LocalBudget`
//!   while Redis cannot be reached.
//!
//! Plug one into a client ([`TransportBuilder::rate_budget`](crate::http::TransportBuilder::rate_budget),
//! on every client builder too: every request the client sends, logins included, takes a place)
//! or into a bulk run (`BulkUpdater::budget` in `simfleet::bulk`: the run's requests only). Give a budget to one of the two, not both, or each request takes two places.
//!
//! Both implementations are the generic cell rate algorithm (GCRA) in its *reserving* form: the
//! state is one instant, the theoretical arrival time (TAT) of the next request. A request
//! arriving at `now` is given the place `max(TAT, now)`, may go `burst − 1` intervals before it,
//! and moves the TAT one interval (`1 / rate`) on. Whoever asks gets a place at once, however
//! busy the budget is: no request is refused and asked to come back, so a request costs exactly
//! one round trip to the shared state, and waiting requests are served in the order they asked.
//!
//! ```
//! use std::time::Duration;
//! use simcore::budget::{LocalBudget, RateBudget};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let budget = LocalBudget::new(10.0, 2); // 10 per second, 2 at once
//! assert_eq!(budget.reserve().await, Duration::ZERO);
//! assert_eq!(budget.reserve().await, Duration::ZERO);
//! // The third waits about one interval.
//! let wait = budget.reserve().await;
//! assert!(wait > Duration::from_millis(90) && wait <= Duration::from_millis(100), "{wait:?}");
//! # });
//! ```

use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

/// A budget of requests per second that requests take places in.
#[async_trait]
pub trait RateBudget: Send + Sync + fmt::Debug {
    /// Takes the next place for one request, and says how long to wait before sending it (zero:
    /// now). The place is taken: the caller sends after the wait. It never fails: a budget whose
    /// shared state cannot be reached paces locally instead, and says so.
    async fn reserve(&self) -> Duration;
}

/// One step of the reserving GCRA, in microseconds on any clock: given the theoretical arrival
/// time `tat` (0 when none), `now`, the `interval` between requests and the `tolerance`
/// (`(burst - 1) * interval`), returns the wait before this request and the new TAT. The same
/// arithmetic runs in the Redis script.
pub(crate) fn gcra(tat: u64, now: u64, interval: u64, tolerance: u64) -> (u64, u64) {
    let tat = tat.max(now);
    let wait = tat.saturating_sub(tolerance).saturating_sub(now);
    (wait, tat.saturating_add(interval))
}

/// The interval and tolerance of a rate and a burst, in microseconds. A rate that is not a
/// positive number is read as one request per hour; a burst of 0 as 1.
///
/// Public for budgets kept elsewhere (simcore-redis's `RedisRateBudget` runs the same GCRA in a
/// Redis script), so that they read a rate and a burst exactly as [`LocalBudget`] does.
///
/// ```
/// // 10 requests a second, 3 at once: one every 100 ms, two ahead of time.
/// assert_eq!(simcore::budget::gcra_params(10.0, 3), (100_000, 200_000));
/// ```
pub fn gcra_params(per_second: f64, burst: u32) -> (u64, u64) {
    let per_second = if per_second.is_finite() && per_second > 0.0 {
        per_second
    } else {
        1.0 / 3600.0
    };
    let interval = (1e6 / per_second).clamp(1.0, 3.6e9) as u64;
    (interval, interval * u64::from(burst.max(1) - 1))
}

/// A rate budget in this process: `per_second` requests on average, up to `burst` at once.
pub struct LocalBudget {
    per_second: f64,
    burst: u32,
    interval: u64,
    tolerance: u64,
    origin: Instant,
    /// The theoretical arrival time, in microseconds since `origin`.
    tat: Mutex<u64>,
}

impl fmt::Debug for LocalBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalBudget")
            .field("per_second", &self.per_second)
            .field("burst", &self.burst)
            .finish()
    }
}

impl LocalBudget {
    /// `per_second` requests on average (a rate that is not positive is read as one an hour),
    /// up to `burst` at once (at least 1).
    pub fn new(per_second: f64, burst: u32) -> Self {
        let (interval, tolerance) = gcra_params(per_second, burst);
        Self {
            per_second,
            burst: burst.max(1),
            interval,
            tolerance,
            origin: Instant::now(),
            tat: Mutex::new(0),
        }
    }

    /// Requests per second.
    pub fn per_second(&self) -> f64 {
        self.per_second
    }

    /// Requests at once.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// Takes a place now, without waiting (see [`RateBudget::reserve`]).
    pub fn take(&self) -> Duration {
        let now = self.origin.elapsed().as_micros() as u64;
        let mut tat = self.tat.lock().unwrap_or_else(|e| e.into_inner());
        let (wait, next) = gcra(*tat, now, self.interval, self.tolerance);
        *tat = next;
        Duration::from_micros(wait)
    }
}

#[async_trait]
impl RateBudget for LocalBudget {
    async fn reserve(&self) -> Duration {
        self.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gcra_table() {
        // interval 100, burst 3 (tolerance 200).
        let (i, t) = (100, 200);
        let mut tat = 0;
        let mut waits = Vec::new();
        for _ in 0..5 {
            let (w, next) = gcra(tat, 1000, i, t);
            waits.push(w);
            tat = next;
        }
        assert_eq!(waits, [0, 0, 0, 100, 200]);
        // After a quiet spell the burst is back, never more.
        let (w, next) = gcra(tat, 10_000, i, t);
        assert_eq!((w, next), (0, 10_100));
        assert_eq!(gcra_params(10.0, 1), (100_000, 0));
        assert_eq!(gcra_params(10.0, 0), (100_000, 0));
        assert_eq!(gcra_params(0.0, 2).0, 3_600_000_000);
        assert_eq!(gcra_params(f64::NAN, 2).0, 3_600_000_000);
        assert_eq!(gcra_params(1e12, 2), (1, 1));
    }

    #[test]
    fn places_are_spread_at_the_rate() {
        let b = LocalBudget::new(1000.0, 1);
        let waits: Vec<Duration> = (0..100).map(|_| b.take()).collect();
        // The 100th waits about 99 intervals of 1 ms (minus the little time the loop took).
        let last = waits[99];
        assert!(
            last > Duration::from_millis(95) && last <= Duration::from_millis(99),
            "{last:?}"
        );
        assert!(waits.windows(2).all(|w| w[0] <= w[1]));
    }
}
