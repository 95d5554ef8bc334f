//! A limit of calls in a rolling window, counted per caller on a sandbox's clock.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

#[cfg(doc)]
use super::Clock;

/// At most `calls` calls in any window of length `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowLimit {
    /// Calls allowed in any window.
    pub calls: u32,
    /// The window's length.
    pub per: Duration,
}

/// The calls each caller made within a rolling window, by a key naming the caller (an IP
/// address): a limit counted per caller on a sandbox's [`Clock`], what a provider states as
/// "100 calls per 5 minutes per IP" (emnify's `authenticate`).
///
/// The window rolls: a call is let through when fewer than [`WindowLimit::calls`] calls were let
/// through in the [`WindowLimit::per`] before it. Refused calls do not count (a caller that keeps
/// knocking is not locked out for longer). Times come from the caller, read from the sandbox's
/// clock, so moving a virtual clock forward by the window frees every caller at once.
///
/// ```
/// use std::net::IpAddr;
/// use std::time::Duration;
/// use chrono::{TimeZone, Utc};
/// use simsandbox::{Clock, WindowCounter, WindowLimit};
///
/// let clock = Clock::frozen_at(Utc.with_ymd_and_hms(2025, 1, 15, 9, 0, 0).unwrap());
/// let limit = WindowLimit { calls: 2, per: Duration::from_secs(300) };
/// let mut counter: WindowCounter<IpAddr> = WindowCounter::new(limit);
/// assert!(counter.admit([10, 0, 0, 1], clock.now()).is_ok());
/// assert!(counter.admit([10, 0, 0, 1], clock.now()).is_ok());
/// // The third call in the window waits for the first to leave it.
/// assert_eq!(counter.admit([10, 0, 0, 1], clock.now()), Err(Duration::from_secs(300)));
/// // Another caller has its own window.
/// assert!(counter.admit([10, 0, 0, 2], clock.now()).is_ok());
/// clock.advance(Duration::from_secs(300))?;
/// assert!(counter.admit([10, 0, 0, 1], clock.now()).is_ok());
/// # Ok::<(), simsandbox::ClockError>(())
/// ```
#[derive(Debug, Clone)]
pub struct WindowCounter<K> {
    limit: WindowLimit,
    /// When the calls let through were made, oldest first, per caller.
    admitted: HashMap<K, VecDeque<DateTime<Utc>>>,
}

impl<K: Eq + Hash + Clone> WindowCounter<K> {
    /// A counter with no calls counted yet.
    pub fn new(limit: WindowLimit) -> Self {
        Self {
            limit,
            admitted: HashMap::new(),
        }
    }

    /// The limit it enforces.
    pub fn limit(&self) -> WindowLimit {
        self.limit
    }

    /// Changes the limit; the calls counted so far stay counted.
    pub fn set_limit(&mut self, limit: WindowLimit) {
        self.limit = limit;
    }

    /// Counts a call of `key` made at `now` if the limit lets it through; otherwise says how long
    /// until it would (when the oldest call in the window leaves it) and counts nothing.
    pub fn admit(&mut self, key: impl Into<K>, now: DateTime<Utc>) -> Result<(), Duration> {
        let key = key.into();
        let window = TimeDelta::from_std(self.limit.per).unwrap_or(TimeDelta::MAX);
        let calls = self.admitted.entry(key).or_default();
        while calls
            .front()
            .is_some_and(|t| now.signed_duration_since(*t) >= window)
        {
            calls.pop_front();
        }
        if calls.len() >= self.limit.calls as usize {
            let wait = calls.front().map_or(TimeDelta::zero(), |oldest| {
                window - now.signed_duration_since(*oldest)
            });
            return Err(wait.to_std().unwrap_or(Duration::ZERO));
        }
        calls.push_back(now);
        Ok(())
    }

    /// How many calls of `key` count at `now` (those within the window before it).
    pub fn count(&self, key: &K, now: DateTime<Utc>) -> usize {
        let window = TimeDelta::from_std(self.limit.per).unwrap_or(TimeDelta::MAX);
        self.admitted.get(key).map_or(0, |calls| {
            calls
                .iter()
                .filter(|t| now.signed_duration_since(**t) < window)
                .count()
        })
    }

    /// Forgets every call counted.
    pub fn clear(&mut self) {
        self.admitted.clear();
    }

    /// Each caller with calls in the window at `now`, and how many (for a state snapshot).
    pub fn counts(&self, now: DateTime<Utc>) -> Vec<(K, usize)> {
        self.admitted
            .keys()
            .map(|k| (k.clone(), self.count(k, now)))
            .filter(|(_, n)| *n > 0)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2025, 1, 1, 0, 0, 0).unwrap() + TimeDelta::seconds(secs)
    }

    #[test]
    fn the_window_rolls_and_refusals_do_not_count() {
        let mut c: WindowCounter<&str> = WindowCounter::new(WindowLimit {
            calls: 3,
            per: Duration::from_secs(300),
        });
        assert!(c.admit("a", at(0)).is_ok());
        assert!(c.admit("a", at(100)).is_ok());
        assert!(c.admit("a", at(200)).is_ok());
        assert_eq!(c.admit("a", at(250)), Err(Duration::from_secs(50)));
        assert_eq!(c.admit("a", at(299)), Err(Duration::from_secs(1)));
        assert_eq!(c.count(&"a", at(299)), 3);
        // At 300 the first call leaves the window: one more gets through, not two.
        assert!(c.admit("a", at(300)).is_ok());
        assert_eq!(c.admit("a", at(300)), Err(Duration::from_secs(100)));
        assert_eq!(c.counts(at(300)), vec![("a", 3)]);
        assert_eq!(c.count(&"a", at(900)), 0);
        assert!(c.counts(at(900)).is_empty());
    }

    #[test]
    fn a_zero_limit_refuses_everything() {
        let mut c: WindowCounter<u8> = WindowCounter::new(WindowLimit {
            calls: 0,
            per: Duration::from_secs(1),
        });
        assert_eq!(c.admit(1, at(0)), Err(Duration::ZERO));
    }
}
