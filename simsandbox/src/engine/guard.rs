//! Refused logins: a lockout after failures in a row, and a limit of logins per caller.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use crate::{Clock, WindowCounter, WindowLimit};

/// Why a login was not even tried ([`LoginGuard::admit`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Barred {
    /// The caller made as many logins as the window allows.
    OverLimit,
    /// The caller is locked out after failed logins.
    LockedOut,
}

/// What guards a sandbox's login, per caller IP: at most so many logins in a rolling window
/// ([`WindowLimit`]), and a lockout of a set length after so many refused logins in a row. Times
/// are on the sandbox's clock, so moving a virtual clock ends a lockout.
///
/// ```
/// use std::time::Duration;
/// use simsandbox::Clock;
/// use simsandbox::engine::{Barred, LoginGuard};
///
/// let clock = Clock::virtual_now();
/// let mut guard = LoginGuard::new(clock.clone(), 2, Duration::from_secs(60), None);
/// let ip = [10, 0, 0, 1].into();
/// assert_eq!(guard.admit(ip), Ok(()));
/// assert!(!guard.failed(ip));
/// assert!(guard.failed(ip)); // the second failure in a row locks the caller out
/// assert_eq!(guard.admit(ip), Err(Barred::LockedOut));
/// clock.advance(Duration::from_secs(60))?;
/// assert_eq!(guard.admit(ip), Ok(()));
/// # Ok::<(), simsandbox::ClockError>(())
/// ```
#[derive(Debug)]
pub struct LoginGuard {
    clock: Clock,
    lock_after: u32,
    lockout: Duration,
    failures: HashMap<IpAddr, u32>,
    locked_until: HashMap<IpAddr, DateTime<Utc>>,
    window: Option<WindowCounter<IpAddr>>,
}

impl LoginGuard {
    /// A guard that locks a caller out for `lockout` after `lock_after` refusals in a row, and
    /// admits at most `limit` logins per caller.
    pub fn new(
        clock: Clock,
        lock_after: u32,
        lockout: Duration,
        limit: Option<WindowLimit>,
    ) -> Self {
        Self {
            clock,
            lock_after,
            lockout,
            failures: HashMap::new(),
            locked_until: HashMap::new(),
            window: limit.map(WindowCounter::new),
        }
    }

    /// Whether `caller` may try a login now (counted in the window if it may): the window
    /// first, then the lockout. A lockout that has ended is forgotten, and the failures with it.
    pub fn admit(&mut self, caller: IpAddr) -> Result<(), Barred> {
        let now = self.clock.now();
        if let Some(window) = self.window.as_mut() {
            window.admit(caller, now).map_err(|_| Barred::OverLimit)?;
        }
        if let Some(until) = self.locked_until.get(&caller).copied() {
            if now < until {
                return Err(Barred::LockedOut);
            }
            self.locked_until.remove(&caller);
            self.failures.remove(&caller);
        }
        Ok(())
    }

    /// A login of `caller` succeeded: its failures in a row start again from zero.
    pub fn succeeded(&mut self, caller: IpAddr) {
        self.failures.remove(&caller);
    }

    /// A login of `caller` was refused; whether that locks it out now.
    pub fn failed(&mut self, caller: IpAddr) -> bool {
        let failures = self.failures.entry(caller).or_default();
        *failures += 1;
        let locked = *failures >= self.lock_after;
        if locked {
            self.locked_until
                .insert(caller, self.clock.after(self.lockout));
        }
        locked
    }

    /// Ends every lockout and forgets every failure.
    pub fn unlock(&mut self) {
        self.locked_until.clear();
        self.failures.clear();
    }

    /// When `caller`'s lockout ends, if it is locked out now.
    pub fn locked_until(&self, caller: IpAddr) -> Option<DateTime<Utc>> {
        let now = self.clock.now();
        self.locked_until
            .get(&caller)
            .copied()
            .filter(|until| now < *until)
    }

    /// Whether any caller is locked out now.
    pub fn any_locked_out(&self) -> bool {
        let now = self.clock.now();
        self.locked_until.values().any(|until| now < *until)
    }

    /// How many logins `caller` made in the current window (0 with no limit).
    pub fn in_window(&self, caller: IpAddr) -> usize {
        let now = self.clock.now();
        self.window.as_ref().map_or(0, |w| w.count(&caller, now))
    }

    /// Changes the window's limit (the calls counted so far kept), or lifts it.
    pub fn set_limit(&mut self, limit: Option<WindowLimit>) {
        match (limit, self.window.as_mut()) {
            (Some(limit), Some(window)) => window.set_limit(limit),
            (limit, _) => self.window = limit.map(WindowCounter::new),
        }
    }

    /// The guard for an admin view, each time shown by `show`: `refusals_in_a_row`,
    /// `locked_out_until` (by caller), `limit` (`{"calls", "per_seconds"}` or `null`) and
    /// `calls_in_window` (by caller).
    pub fn state_json(&self, show: impl Fn(&DateTime<Utc>) -> String) -> Map<String, Value> {
        let now = self.clock.now();
        let by_ip = |pairs: Vec<(IpAddr, Value)>| -> Map<String, Value> {
            pairs
                .into_iter()
                .map(|(ip, v)| (ip.to_string(), v))
                .collect()
        };
        let failures = self.failures.iter().filter(|(_, n)| **n > 0);
        let locked = self.locked_until.iter().filter(|(_, until)| now < **until);
        let window = self
            .window
            .as_ref()
            .map_or_else(Vec::new, |w| w.counts(now));
        let limit = (self.window.as_ref())
            .map(|w| json!({"calls": w.limit().calls, "per_seconds": w.limit().per.as_secs()}));
        Map::from_iter([
            (
                "refusals_in_a_row".to_owned(),
                Value::Object(by_ip(failures.map(|(ip, n)| (*ip, json!(n))).collect())),
            ),
            (
                "locked_out_until".to_owned(),
                Value::Object(by_ip(locked.map(|(ip, t)| (*ip, json!(show(t)))).collect())),
            ),
            ("limit".to_owned(), limit.unwrap_or(Value::Null)),
            (
                "calls_in_window".to_owned(),
                Value::Object(by_ip(
                    window.into_iter().map(|(ip, n)| (ip, json!(n))).collect(),
                )),
            ),
        ])
    }
}
