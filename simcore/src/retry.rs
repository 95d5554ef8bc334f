//! When to try a request again, and how long to wait: a pure decision, table-tested.
//!
//! Why retrying is safe here: every write this SDK family sends is an idempotent "set" (set the
//! status to X, set the name to Y). Sending it twice leaves the SIM as sending it once would. What
//! is retried is what a second try can fix: 429 (Twilio documents that a 429 request was never
//! processed), the gateway errors 502/503/504, timeouts and failed connections. A 4xx other than
//! 429 and a 500 are final.
//!
//! The wait is exponential backoff with full jitter: a uniform random duration in
//! `[0, min(max_delay, base_delay * 2^(attempt-1))]`. A provider's `Retry-After` replaces it,
//! clamped to [`RetryPolicy::max_retry_after`].
//!
//! ```
//! use std::time::Duration;
//! use simcore::retry::{decide, Outcome, RetryPolicy, Wait};
//!
//! let policy = RetryPolicy::default();
//! assert_eq!(
//!     decide(&policy, 1, &Outcome::Status { status: 429, retry_after: Some(Duration::from_secs(2)) }),
//!     Some(Wait::Exactly(Duration::from_secs(2)))
//! );
//! assert_eq!(decide(&policy, 1, &Outcome::Status { status: 404, retry_after: None }), None);
//! ```

use std::time::Duration;
#[cfg(feature = "http")]
use std::time::SystemTime;

use crate::error::status_is_retryable;

/// How many times to try, and how long to wait between tries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The most attempts in all, the first included (1 means no retry). Default 4.
    pub max_attempts: u32,
    /// The backoff's first ceiling. Default 200 ms.
    pub base_delay: Duration,
    /// The highest backoff ceiling. Default 10 s.
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured; a longer one is clamped to this. Default 60 s.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        Self {
            max_attempts: 1,
            ..Self::default()
        }
    }

    /// The same policy with another number of attempts (at least 1).
    pub fn with_max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// The same policy with other backoff bounds.
    pub fn with_backoff(mut self, base: Duration, max: Duration) -> Self {
        self.base_delay = base;
        self.max_delay = max.max(base);
        self
    }

    /// The ceiling of the jittered wait after `attempt` (1-based) failed.
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let exp = attempt.saturating_sub(1).min(31);
        self.base_delay
            .saturating_mul(1u32 << exp)
            .min(self.max_delay)
    }
}

/// What one attempt ended with, as far as retrying is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The provider answered with this status (and maybe a `Retry-After`).
    Status {
        /// The HTTP status.
        status: u16,
        /// The provider's `Retry-After`, parsed.
        retry_after: Option<Duration>,
    },
    /// No answer in time.
    Timeout,
    /// The connection failed.
    Connect,
    /// Something that a retry will not fix (a body too large, a bad request built locally).
    Fatal,
}

impl Outcome {
    /// A short word for why an attempt failed (`"429"`, `"timeout"`), for telemetry.
    pub fn reason(&self) -> &'static str {
        match self {
            Outcome::Status { status, .. } => match status {
                429 => "429",
                502 => "502",
                503 => "503",
                504 => "504",
                _ => "status",
            },
            Outcome::Timeout => "timeout",
            Outcome::Connect => "connect",
            Outcome::Fatal => "fatal",
        }
    }
}

/// How long to wait before the next attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Exactly this long (the provider said so).
    Exactly(Duration),
    /// A uniformly random time up to this ceiling (full jitter).
    UpTo(Duration),
}

impl Wait {
    /// The duration to sleep, drawing the jitter from `unit` (a number in `[0, 1)`).
    pub fn sample(self, unit: f64) -> Duration {
        match self {
            Wait::Exactly(d) => d,
            Wait::UpTo(max) => max.mul_f64(unit.clamp(0.0, 1.0)),
        }
    }
}

/// Decides whether to try again after attempt number `attempt` (1-based) ended with `outcome`:
/// `Some(wait)` to retry after the wait, `None` to stop.
pub fn decide(policy: &RetryPolicy, attempt: u32, outcome: &Outcome) -> Option<Wait> {
    if attempt >= policy.max_attempts {
        return None;
    }
    match outcome {
        Outcome::Status {
            status,
            retry_after,
        } if status_is_retryable(*status) => Some(match retry_after {
            Some(ra) => Wait::Exactly((*ra).min(policy.max_retry_after)),
            None => Wait::UpTo(policy.backoff_ceiling(attempt)),
        }),
        Outcome::Timeout | Outcome::Connect => Some(Wait::UpTo(policy.backoff_ceiling(attempt))),
        _ => None,
    }
}

/// Parses a `Retry-After` value: whole seconds (`"120"`) or an HTTP date (`"Wed, 21 Oct 2015
/// 07:28:00 GMT"`, counted from `now`; a date in the past means zero). Anything else is `None`.
#[cfg(feature = "http")]
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let when = httpdate::parse_http_date(v).ok()?;
    Some(when.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(s: u16) -> Outcome {
        Outcome::Status {
            status: s,
            retry_after: None,
        }
    }

    #[test]
    fn decision_table() {
        let p = RetryPolicy::default();
        let ms = Duration::from_millis;
        let cases: Vec<(u32, Outcome, Option<Wait>)> = vec![
            (1, status(429), Some(Wait::UpTo(ms(200)))),
            (2, status(429), Some(Wait::UpTo(ms(400)))),
            (3, status(503), Some(Wait::UpTo(ms(800)))),
            (4, status(503), None), // the fourth attempt was the last
            (1, status(502), Some(Wait::UpTo(ms(200)))),
            (1, status(504), Some(Wait::UpTo(ms(200)))),
            (1, status(500), None),
            (1, status(400), None),
            (1, status(401), None),
            (1, status(403), None),
            (1, status(404), None),
            (1, status(409), None),
            (1, status(422), None),
            (1, status(200), None),
            (1, Outcome::Timeout, Some(Wait::UpTo(ms(200)))),
            (1, Outcome::Connect, Some(Wait::UpTo(ms(200)))),
            (1, Outcome::Fatal, None),
            (
                1,
                Outcome::Status {
                    status: 429,
                    retry_after: Some(Duration::from_secs(3)),
                },
                Some(Wait::Exactly(Duration::from_secs(3))),
            ),
            (
                1,
                Outcome::Status {
                    status: 503,
                    retry_after: Some(Duration::from_secs(3600)),
                },
                Some(Wait::Exactly(Duration::from_secs(60))), // clamped
            ),
            (
                1,
                Outcome::Status {
                    status: 400,
                    retry_after: Some(Duration::from_secs(1)),
                },
                None, // Retry-After does not make a 400 retryable
            ),
        ];
        for (attempt, outcome, expected) in cases {
            assert_eq!(
                decide(&p, attempt, &outcome),
                expected,
                "{attempt} {outcome:?}"
            );
        }
    }

    #[test]
    fn backoff_is_capped() {
        let p = RetryPolicy::default().with_max_attempts(100);
        assert_eq!(p.backoff_ceiling(40), Duration::from_secs(10));
        assert_eq!(RetryPolicy::none().max_attempts, 1);
        assert_eq!(decide(&RetryPolicy::none(), 1, &status(429)), None);
    }

    #[test]
    fn jitter_stays_within_the_ceiling() {
        let w = Wait::UpTo(Duration::from_millis(100));
        assert_eq!(w.sample(0.0), Duration::ZERO);
        assert_eq!(w.sample(0.5), Duration::from_millis(50));
        assert!(w.sample(1.5) <= Duration::from_millis(100));
        assert_eq!(
            Wait::Exactly(Duration::from_secs(2)).sample(0.1),
            Duration::from_secs(2)
        );
    }

    #[cfg(feature = "http")]
    #[test]
    fn retry_after_forms() {
        let now = httpdate::parse_http_date("Wed, 21 Oct 2015 07:28:00 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:30 GMT", now),
            Some(Duration::from_secs(30))
        );
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-1", now), None);
    }
}
