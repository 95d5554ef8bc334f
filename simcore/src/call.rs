//! Per-call options: a deadline and an attempts cap for one call, on top of the client's own.
//!
//! Every request builder of every client takes them (`.deadline(..)`, `.attempts(..)`), and
//! [`SimProvider`](crate::SimProvider) takes them through
//! [`fetch_with`](crate::SimProvider::fetch_with) and
//! [`apply_with`](crate::SimProvider::apply_with). An option left unset keeps the client's
//! setting; an attempts cap only ever lowers the client's retry policy.
//!
//! ```
//! use std::time::{Duration, Instant};
//! use simcore::CallOptions;
//! let once = CallOptions::new().attempts(1).deadline(Duration::from_secs(5));
//! assert_eq!(once.attempts, Some(1));
//! assert!(once.check().is_ok());
//! assert!(CallOptions::new().attempts(0).check().is_err());
//! ```

use std::time::{Duration, Instant};

use crate::validate::ValidationError;

/// A deadline and an attempts cap for one call (see the [module](self)).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallOptions {
    /// The call's deadline, across all its attempts and waits; `None` keeps the client's.
    pub deadline: Option<Duration>,
    /// At most this many attempts (1: no retry); `None` keeps the client's retry policy. It
    /// never raises the policy's own cap.
    pub attempts: Option<u32>,
    /// When the call ends, once [`started`](Self::started): every request of the call (a read
    /// before a write, say) shares it.
    ends_at: Option<Instant>,
}

impl CallOptions {
    /// No options: the client's settings apply.
    pub const fn new() -> Self {
        Self {
            deadline: None,
            attempts: None,
            ends_at: None,
        }
    }

    /// Sets the call's deadline.
    pub const fn deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// Caps the call's attempts (1: no retry).
    pub const fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = Some(attempts);
        self
    }

    /// Refuses options no call can honour, naming the field and the rule: a deadline of zero,
    /// an attempts cap of zero.
    pub fn check(&self) -> Result<(), ValidationError> {
        if self.deadline.is_some_and(|d| d.is_zero()) {
            return Err(ValidationError::new(
                "deadline",
                "must be longer than zero",
                "0s",
            ));
        }
        if self.attempts == Some(0) {
            return Err(ValidationError::new(
                "attempts",
                "must be at least 1 (1: no retry)",
                "0",
            ));
        }
        Ok(())
    }

    /// These options, with each unset one taken from `other`.
    pub fn or(self, other: CallOptions) -> CallOptions {
        CallOptions {
            deadline: self.deadline.or(other.deadline),
            attempts: self.attempts.or(other.attempts),
            ends_at: self.ends_at.or(other.ends_at),
        }
    }

    /// Starts the call's clock: the deadline counts from now for every request sent with the
    /// options returned, so a call that reads before it writes ends within one deadline, not
    /// one per request. Starting again keeps the first start. Without a deadline, nothing
    /// changes (each request has the client's).
    ///
    /// ```
    /// use std::time::Duration;
    /// use simcore::CallOptions;
    /// let call = CallOptions::new().deadline(Duration::from_secs(5)).started();
    /// assert!(call.time_left().unwrap() <= Duration::from_secs(5));
    /// assert_eq!(CallOptions::new().started().time_left(), None);
    /// ```
    pub fn started(mut self) -> Self {
        if self.ends_at.is_none() {
            self.ends_at = self.deadline.map(|d| Instant::now() + d);
        }
        self
    }

    /// The time left of a started call (zero once it has passed); `None` when the call was not
    /// started or has no deadline of its own.
    pub fn time_left(&self) -> Option<Duration> {
        self.ends_at
            .map(|end| end.saturating_duration_since(Instant::now()))
    }

    /// When a started call ends.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn ends_at(&self) -> Option<Instant> {
        self.ends_at
    }
}
