//! A sandbox's clock: real, or virtual and moved on demand.

use std::fmt;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use chrono::{DateTime, Months, TimeDelta, Utc};

use super::lock;

/// What runs when the clock is moved; `false` once its sandbox is gone (then it is forgotten).
type Hook = Arc<dyn Fn(DateTime<Utc>) -> bool + Send + Sync>;

/// A sandbox's clock: real time (the default), or a virtual time moved forward on demand.
///
/// A virtual clock starts at a chosen time (or now) and then either runs at real speed
/// ([`Clock::virtual_at`], [`Clock::virtual_now`]) or stands still between moves
/// ([`Clock::frozen_at`]), which makes a test's timestamps exact. It only ever moves forward.
///
/// A test (or an admin API over the sandboxes) moves a virtual clock forward, so the rules the
/// providers state in months (a Super SIM left `ready` for three months, a PRO SIM's six-month
/// grace, monthly charges) can be tried in a second.
///
/// A [`Clock`] is cheap to clone (one `Arc`) and every clone shows the same time: give one to
/// several sandboxes and they share it. Each sandbox reads [`Clock::now`] wherever it stamps or
/// compares a time, and registers what to do when the clock is moved ([`Clock::on_advance`]):
/// the time rules are applied at that moment, not polled.
///
/// ```
/// use std::time::Duration;
/// use chrono::{TimeZone, Utc};
/// use simsandbox::Clock;
///
/// let start = Utc.with_ymd_and_hms(2025, 1, 15, 9, 0, 0).unwrap();
/// let clock = Clock::frozen_at(start);
/// assert_eq!(clock.now(), start);
/// clock.advance_months(3)?;
/// assert_eq!(clock.now(), Utc.with_ymd_and_hms(2025, 4, 15, 9, 0, 0).unwrap());
/// clock.advance(Duration::from_secs(3600))?;
/// assert_eq!(clock.now(), Utc.with_ymd_and_hms(2025, 4, 15, 10, 0, 0).unwrap());
///
/// // The real clock cannot be moved.
/// assert!(Clock::real().advance(Duration::from_secs(1)).is_err());
/// # Ok::<(), simsandbox::ClockError>(())
/// ```
#[derive(Clone, Default)]
pub struct Clock {
    inner: Option<Arc<Virtual>>,
}

struct Virtual {
    /// The virtual time when the clock was made.
    start: DateTime<Utc>,
    /// The real moment it was made (`None`: frozen, real time does not move it).
    running_since: Option<Instant>,
    /// How far it has been moved, in microseconds.
    offset_us: AtomicI64,
    hooks: Mutex<Vec<Hook>>,
    /// Held while the clock is moved and its hooks run: moves happen one at a time, in order.
    moving: Mutex<()>,
}

/// Why a clock could not be moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClockError {
    /// The real clock cannot be moved: start the sandbox with a virtual one.
    #[error(
        "the sandbox runs on the real clock, which cannot be moved: start it with a virtual clock"
    )]
    RealTime,
    /// A clock only moves forward.
    #[error("a sandbox clock only moves forward: it is {now}, {to} is earlier")]
    Backwards {
        /// The time now.
        now: DateTime<Utc>,
        /// The time asked for.
        to: DateTime<Utc>,
    },
    /// The time asked for is past what the clock can show.
    #[error("a sandbox clock cannot move that far")]
    OutOfRange,
    /// One move is limited to [`Clock::MAX_MOVE_MONTHS`] months, so that what the sandboxes do
    /// for each month passed (a ledger's monthly charges) stays bounded; move again for more.
    #[error(
        "one move of a sandbox clock goes at most {limit_months} months ahead (to {latest}); move again for more"
    )]
    TooFar {
        /// The limit, in months.
        limit_months: u32,
        /// The latest time this move could reach.
        latest: DateTime<Utc>,
    },
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.inner {
            None => f.write_str("Clock(real)"),
            Some(v) => f
                .debug_struct("Clock")
                .field("now", &self.now())
                .field("frozen", &v.running_since.is_none())
                .finish(),
        }
    }
}

impl Clock {
    /// The real time ([`Utc::now`]); it cannot be moved. The default.
    pub fn real() -> Self {
        Self { inner: None }
    }

    /// A virtual clock that starts at the real time and runs at real speed until moved.
    pub fn virtual_now() -> Self {
        Self::virtual_at(Utc::now())
    }

    /// A virtual clock that starts at `start` and runs at real speed until moved.
    pub fn virtual_at(start: DateTime<Utc>) -> Self {
        Self::make(start, Some(Instant::now()))
    }

    /// A virtual clock that shows `start` and stands still until moved.
    pub fn frozen_at(start: DateTime<Utc>) -> Self {
        Self::make(start, None)
    }

    fn make(start: DateTime<Utc>, running_since: Option<Instant>) -> Self {
        Self {
            inner: Some(Arc::new(Virtual {
                start,
                running_since,
                offset_us: AtomicI64::new(0),
                hooks: Mutex::new(Vec::new()),
                moving: Mutex::new(()),
            })),
        }
    }

    /// How far one move may go, in calendar months: a century. The sandboxes' time rules act
    /// on each month passed (a ledger charges every asset for each), so one request can only
    /// ask for a bounded amount of that work.
    pub const MAX_MOVE_MONTHS: u32 = 1200;

    /// Whether this clock can be moved.
    pub fn is_virtual(&self) -> bool {
        self.inner.is_some()
    }

    /// Whether this is a virtual clock that stands still between moves.
    pub fn is_frozen(&self) -> bool {
        self.inner
            .as_ref()
            .is_some_and(|v| v.running_since.is_none())
    }

    /// The time now, as the sandboxes on this clock see it.
    pub fn now(&self) -> DateTime<Utc> {
        let Some(v) = &self.inner else {
            return Utc::now();
        };
        let ran = v.running_since.map_or(TimeDelta::zero(), |since| {
            TimeDelta::from_std(since.elapsed()).unwrap_or(TimeDelta::zero())
        });
        let moved = TimeDelta::microseconds(v.offset_us.load(Ordering::SeqCst));
        v.start
            .checked_add_signed(ran + moved)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The time `by` from now, as the sandboxes on this clock see it: when something that lasts
    /// `by` ends (a token, a lockout). A time past what the clock can show is the latest it can.
    pub fn after(&self, by: Duration) -> DateTime<Utc> {
        let now = self.now();
        TimeDelta::from_std(by)
            .ok()
            .and_then(|by| now.checked_add_signed(by))
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// The clock as JSON, for an admin view: `{"now": RFC 3339, "virtual": bool, "frozen": bool,
    /// "moved_seconds": n}`.
    ///
    /// ```
    /// use chrono::{TimeZone, Utc};
    /// use simsandbox::Clock;
    /// let clock = Clock::frozen_at(Utc.with_ymd_and_hms(2025, 1, 15, 9, 0, 0).unwrap());
    /// clock.advance_months(1)?;
    /// assert_eq!(clock.state_json(), serde_json::json!({
    ///     "now": "2025-02-15T09:00:00Z", "virtual": true, "frozen": true, "moved_seconds": 2_678_400,
    /// }));
    /// # Ok::<(), simsandbox::ClockError>(())
    /// ```
    pub fn state_json(&self) -> serde_json::Value {
        serde_json::json!({
            "now": self.now().to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true),
            "virtual": self.is_virtual(),
            "frozen": self.is_frozen(),
            "moved_seconds": self.moved().as_secs(),
        })
    }

    /// How far the clock has been moved in all (zero for the real clock).
    pub fn moved(&self) -> Duration {
        self.inner.as_ref().map_or(Duration::ZERO, |v| {
            Duration::from_micros(v.offset_us.load(Ordering::SeqCst).max(0).unsigned_abs())
        })
    }

    /// Moves the clock forward by `by`, then runs what the sandboxes registered; returns the
    /// new time.
    pub fn advance(&self, by: Duration) -> Result<DateTime<Utc>, ClockError> {
        self.move_to(|now| {
            TimeDelta::from_std(by)
                .ok()
                .and_then(|by| now.checked_add_signed(by))
        })
    }

    /// Moves the clock forward by whole calendar months (15 January plus one month is
    /// 15 February; 31 January plus one month is 28 or 29 February).
    pub fn advance_months(&self, months: u32) -> Result<DateTime<Utc>, ClockError> {
        self.move_to(|now| now.checked_add_months(Months::new(months)))
    }

    /// Moves the clock forward to `to` (not back), then runs what the sandboxes registered;
    /// returns the new time.
    ///
    /// Moves are made one at a time, each from the time the one before it left: two callers
    /// that each move the clock an hour move it two hours, and a second caller waits until the
    /// first move's hooks have run. A hook must therefore not move the clock itself.
    pub fn advance_to(&self, to: DateTime<Utc>) -> Result<DateTime<Utc>, ClockError> {
        self.move_to(|_| Some(to))
    }

    /// Moves the clock to the time `target` picks from the time now (`None`: past what a clock
    /// can show), under the lock that keeps moves in order, then runs the hooks.
    fn move_to(
        &self,
        target: impl FnOnce(DateTime<Utc>) -> Option<DateTime<Utc>>,
    ) -> Result<DateTime<Utc>, ClockError> {
        let Some(v) = &self.inner else {
            return Err(ClockError::RealTime);
        };
        let _moving = lock(&v.moving);
        let now = self.now();
        // The latest one move may reach; `None` within a century of the end of what a clock can
        // show, where every time it can show is near enough.
        let latest = now.checked_add_months(Months::new(Self::MAX_MOVE_MONTHS));
        let too_far = |latest| ClockError::TooFar {
            limit_months: Self::MAX_MOVE_MONTHS,
            latest,
        };
        let to = match (target(now), latest) {
            // Past the end of time, and so past a century ahead as well.
            (None, Some(latest)) => return Err(too_far(latest)),
            (None, None) => return Err(ClockError::OutOfRange),
            (Some(to), Some(latest)) if to > latest => return Err(too_far(latest)),
            (Some(to), _) => to,
        };
        if to < now {
            return Err(ClockError::Backwards { now, to });
        }
        let step = (to - now)
            .num_microseconds()
            .ok_or(ClockError::OutOfRange)?;
        v.offset_us.fetch_add(step, Ordering::SeqCst);
        let now = self.now();
        // Run the hooks outside the hooks' lock: a hook may read the clock or register another.
        let hooks: Vec<Hook> = lock(&v.hooks).clone();
        let gone: Vec<Hook> = hooks.into_iter().filter(|hook| !hook(now)).collect();
        if !gone.is_empty() {
            lock(&v.hooks).retain(|h| !gone.iter().any(|g| Arc::ptr_eq(g, h)));
        }
        Ok(now)
    }

    /// Registers what `target` does when the clock is moved: `f(target, now)` runs after each
    /// move, for as long as `target` is alive (the clock keeps only a weak reference, so a
    /// sandbox that is dropped is forgotten). Does nothing on the real clock, which never moves.
    pub fn on_advance<T, F>(&self, target: &Arc<T>, f: F)
    where
        T: Send + Sync + 'static,
        F: Fn(&T, DateTime<Utc>) + Send + Sync + 'static,
    {
        let Some(v) = &self.inner else {
            return;
        };
        let weak: Weak<T> = Arc::downgrade(target);
        lock(&v.hooks).push(Arc::new(move |now| match weak.upgrade() {
            Some(t) => {
                f(&t, now);
                true
            }
            None => false,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(y: i32, m: u32, d: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, 0, 0, 0).unwrap()
    }

    #[test]
    fn frozen_clocks_move_only_when_told() {
        let clock = Clock::frozen_at(t(2025, 1, 31));
        assert!(clock.is_virtual() && clock.is_frozen());
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(clock.now(), t(2025, 1, 31));
        assert_eq!(clock.advance_months(1).unwrap(), t(2025, 2, 28));
        assert_eq!(clock.moved(), Duration::from_secs(28 * 86_400));
        let copy = clock.clone();
        copy.advance(Duration::from_secs(86_400)).unwrap();
        assert_eq!(clock.now(), t(2025, 3, 1));
        assert_eq!(
            clock.advance_to(t(2025, 2, 1)),
            Err(ClockError::Backwards {
                now: t(2025, 3, 1),
                to: t(2025, 2, 1)
            })
        );
        assert_eq!(clock.advance_to(t(2025, 3, 1)), Ok(t(2025, 3, 1)));
    }

    #[test]
    fn running_clocks_keep_running_after_a_move() {
        let clock = Clock::virtual_at(t(2030, 6, 1));
        clock.advance(Duration::from_secs(3600)).unwrap();
        let a = clock.now();
        std::thread::sleep(Duration::from_millis(5));
        assert!(clock.now() > a);
        assert!(a >= t(2030, 6, 1) + TimeDelta::hours(1));
    }

    #[test]
    fn the_real_clock_cannot_move() {
        let real = Clock::real();
        assert!(!real.is_virtual());
        assert_eq!(real.advance_months(1), Err(ClockError::RealTime));
        assert_eq!(real.moved(), Duration::ZERO);
        let before = Utc::now();
        assert!(real.now() >= before);
    }

    #[test]
    fn hooks_run_after_each_move_while_their_target_lives() {
        let clock = Clock::frozen_at(t(2025, 1, 1));
        let seen = Arc::new(Mutex::new(Vec::new()));
        clock.on_advance(&seen, |seen, now| lock(seen).push(now));
        clock.advance_months(1).unwrap();
        clock.advance_months(1).unwrap();
        assert_eq!(*lock(&seen), vec![t(2025, 2, 1), t(2025, 3, 1)]);

        let other = Arc::new(Mutex::new(0));
        clock.on_advance(&other, |n, _| *lock(n) += 1);
        drop(other);
        clock.advance_months(1).unwrap();
        assert_eq!(lock(&seen).len(), 3);
        assert_eq!(lock(&clock.inner.as_ref().unwrap().hooks).len(), 1);
    }

    #[test]
    fn moves_from_many_threads_add_up_and_run_their_hooks_in_order() {
        let clock = Clock::frozen_at(t(2025, 1, 1));
        let seen = Arc::new(Mutex::new(Vec::new()));
        clock.on_advance(&seen, |seen, now| lock(seen).push(now));
        std::thread::scope(|s| {
            for _ in 0..8 {
                let clock = clock.clone();
                s.spawn(move || {
                    for _ in 0..25 {
                        clock.advance(Duration::from_secs(60)).unwrap();
                    }
                });
            }
        });
        assert_eq!(clock.now(), t(2025, 1, 1) + TimeDelta::minutes(200));
        let seen = lock(&seen);
        assert_eq!(seen.len(), 200);
        assert!(
            seen.windows(2).all(|w| w[0] < w[1]),
            "hooks saw the moves in order"
        );
    }

    #[test]
    fn one_move_goes_at_most_a_century_and_a_refused_move_changes_nothing() {
        let clock = Clock::frozen_at(t(2025, 1, 15));
        let seen = Arc::new(Mutex::new(0u32));
        clock.on_advance(&seen, |n, _| *lock(n) += 1);
        let too_far = Err(ClockError::TooFar {
            limit_months: 1200,
            latest: t(2125, 1, 15),
        });
        assert_eq!(clock.advance_months(1201), too_far);
        assert_eq!(clock.advance_months(u32::MAX), too_far);
        assert_eq!(clock.advance_to(t(2125, 1, 16)), too_far);
        assert_eq!(
            clock.advance(Duration::from_secs(101 * 366 * 86_400)),
            too_far
        );
        assert_eq!(clock.now(), t(2025, 1, 15));
        assert_eq!(*lock(&seen), 0, "no hook ran for a refused move");
        assert_eq!(clock.advance_months(1200), Ok(t(2125, 1, 15)));
        assert_eq!(clock.advance_to(t(2225, 1, 15)), Ok(t(2225, 1, 15)));
        assert_eq!(*lock(&seen), 2);
    }

    #[test]
    fn a_move_past_what_a_clock_can_show_is_refused_not_shortened() {
        let near_the_end = DateTime::<Utc>::MAX_UTC - TimeDelta::days(10);
        let clock = Clock::frozen_at(near_the_end);
        assert_eq!(clock.advance_months(1), Err(ClockError::OutOfRange));
        assert_eq!(clock.advance(Duration::MAX), Err(ClockError::OutOfRange));
        assert_eq!(
            clock.advance(Duration::from_secs(11 * 86_400)),
            Err(ClockError::OutOfRange)
        );
        assert_eq!(clock.now(), near_the_end);
        assert_eq!(
            clock.advance(Duration::from_secs(86_400)),
            Ok(near_the_end + TimeDelta::days(1))
        );
    }

    proptest::proptest! {
        /// Whatever a move asks for, the clock ends where it was or where it was asked to go,
        /// never more than the limit ahead, and never behind.
        #[test]
        fn every_move_is_exact_or_refused_within_the_limit(
            start_days in 0i64..50_000,
            months in proptest::prop_oneof![0u32..2_000, proptest::prelude::any::<u32>()],
            secs in proptest::prop_oneof![0u64..4_000_000_000, proptest::prelude::any::<u64>()],
        ) {
            let start = t(1990, 1, 1) + TimeDelta::days(start_days);
            let latest = start.checked_add_months(Months::new(Clock::MAX_MOVE_MONTHS)).unwrap();
            let clock = Clock::frozen_at(start);
            match clock.advance_months(months) {
                Ok(now) => {
                    proptest::prop_assert_eq!(Some(now), start.checked_add_months(Months::new(months)));
                    proptest::prop_assert!(now <= latest);
                }
                Err(_) => {
                    proptest::prop_assert!(months > Clock::MAX_MOVE_MONTHS);
                    proptest::prop_assert_eq!(clock.now(), start);
                }
            }
            let before = clock.now();
            let limit = before.checked_add_months(Months::new(Clock::MAX_MOVE_MONTHS)).unwrap();
            let wanted = i64::try_from(secs)
                .ok()
                .and_then(TimeDelta::try_seconds)
                .and_then(|d| before.checked_add_signed(d));
            match clock.advance(Duration::from_secs(secs)) {
                Ok(now) => {
                    proptest::prop_assert_eq!(Some(now), wanted);
                    proptest::prop_assert!(now <= limit);
                }
                Err(_) => {
                    proptest::prop_assert!(wanted.is_none_or(|w| w > limit));
                    proptest::prop_assert_eq!(clock.now(), before);
                }
            }
        }
    }

    #[test]
    fn after_saturates_and_state_shows_the_clock() {
        let clock = Clock::frozen_at(t(2025, 1, 1));
        assert_eq!(clock.after(Duration::from_secs(86_400)), t(2025, 1, 2));
        assert_eq!(clock.after(Duration::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(Clock::real().state_json()["virtual"], false);
        assert_eq!(clock.state_json()["now"], "2025-01-01T00:00:00Z");
    }
}
