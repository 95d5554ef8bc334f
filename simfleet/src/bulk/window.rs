//! The run's concurrency window: how many requests may be in flight, found from the provider's
//! refusals and held just under its concurrency limit.
//!
//! Twilio's and KORE's Super SIM limit is a number of requests in flight per account: one
//! request too many is answered 429 / 20429 at once and not processed. A rate pacer cannot meet
//! that limit (the rate it allows depends on how long each request takes), so the run also keeps
//! a window on its own requests in flight:
//!
//! - **Which 429 is whose.** Each request remembers how many were in flight with it (`n`) when
//!   it was sent. A 429 that met more in flight (`n`, or the number in flight when it came
//!   back, whichever is larger) than the run has seen succeed for a whole round
//!   ([`State::proven`]) is a concurrency signal: the window takes it. A 429 at a level already
//!   shown safe is a rate signal: the pacer takes it. The first 429 against a rate limit usually
//!   comes after a round at full concurrency succeeded, so a rate-limited run keeps its window.
//! - **Cut to what was admitted, at most by half per burst.** A refusal comes back at once,
//!   while admitted requests take their service time: so the requests sent before a refused one
//!   and still in flight when its 429 arrives are, nearly all, the ones the provider admitted.
//!   The refusals of one burst (the requests sent before the cut) set the window to the lowest
//!   such count among them, but to no less than half the window the burst was sent in
//!   (requests sent together reach the provider in any order, so one refusal says little). The
//!   level just above is the ceiling. Requests sent since the cut start the next burst. A
//!   refusal on the step onto the ceiling goes back to the step below, known good. Halving on every 429, the classic cut, measured well under 0.9 of the limit's
//!   goodput (the sawtooth spends half its time far under the limit; see P5 in BENCHMARKS.md).
//! - **Grow by one per round, slowly at the ceiling.** Each round of `window` successes in a row
//!   during which the window was full raises it by one. The step onto the ceiling waits
//!   [`PROBE_ROUNDS`] rounds: that is where the last refusal came from. A full round at the
//!   ceiling without a refusal means the limit grew (another client of the account finished):
//!   the ceiling is forgotten and growth is one per round again.
//! - **Never below 1, never above the configured concurrency.** A 429 once the window is 1 is
//!   left to the pacer, whose pause stops a storm.

use std::collections::BTreeSet;
use std::sync::Mutex;

use tokio::sync::Notify;

/// Rounds at the step below the ceiling before stepping onto it.
pub(crate) const PROBE_ROUNDS: usize = 8;

/// Whose 429 it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Too many in flight: the window took it.
    Concurrency,
    /// Too fast: for the pacer.
    Rate,
}

#[derive(Debug)]
pub(crate) struct State {
    /// Requests allowed in flight.
    pub(crate) limit: usize,
    /// Requests in flight now.
    pub(crate) in_flight: usize,
    /// Successes in a row towards the next step, and the most in flight since the last one.
    acked: usize,
    peak: usize,
    /// The in-flight count of the last refusal that cut the window.
    pub(crate) ceiling: Option<usize>,
    /// The largest window a whole round of successes has shown safe.
    pub(crate) proven: usize,
    probe_rounds: usize,
    /// Concurrency signals that cut the window.
    pub(crate) cuts: u64,
    /// Cuts so far: a request sent before the last one does not cut again.
    epoch: u64,
    /// The lowest the refusals of the last cut's burst may take the window.
    floor: usize,
    /// The send order of the requests in flight.
    flying: BTreeSet<u64>,
    next_seq: u64,
}

#[derive(Debug)]
pub(crate) struct Window {
    cap: usize,
    state: Mutex<State>,
    notify: Notify,
}

/// A place in the window, held while the request is in flight.
#[derive(Debug)]
pub(crate) struct Permit<'a> {
    window: &'a Window,
    /// How many were in flight with this one, itself included, when it was let through.
    pub(crate) n: usize,
    /// The window's epoch then.
    epoch: u64,
    /// Its place in the send order.
    seq: u64,
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        let mut s = self.window.lock();
        s.in_flight -= 1;
        s.flying.remove(&self.seq);
        drop(s);
        self.window.notify.notify_one();
    }
}

impl Window {
    /// A window of `cap` (the configured concurrency) that starts open.
    pub(crate) fn new(cap: usize) -> Self {
        let cap = cap.max(1);
        Self {
            cap,
            state: Mutex::new(State {
                limit: cap,
                in_flight: 0,
                acked: 0,
                peak: 0,
                ceiling: None,
                proven: 0,
                probe_rounds: 0,
                cuts: 0,
                epoch: 0,
                floor: 1,
                flying: BTreeSet::new(),
                next_seq: 0,
            }),
            notify: Notify::new(),
        }
    }

    pub(crate) fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The current limit.
    pub(crate) fn limit(&self) -> usize {
        self.lock().limit
    }

    /// Waits for a place.
    pub(crate) async fn acquire(&self) -> Permit<'_> {
        loop {
            let notified = self.notify.notified();
            tokio::pin!(notified);
            // Registered before the check, so a release between the check and the wait is seen.
            notified.as_mut().enable();
            if let Some(permit) = self.try_acquire() {
                return permit;
            }
            notified.await;
        }
    }

    fn try_acquire(&self) -> Option<Permit<'_>> {
        let mut s = self.lock();
        if s.in_flight >= s.limit {
            return None;
        }
        s.in_flight += 1;
        s.peak = s.peak.max(s.in_flight);
        let (n, epoch, seq) = (s.in_flight, s.epoch, s.next_seq);
        s.next_seq += 1;
        s.flying.insert(seq);
        drop(s);
        Some(Permit {
            window: self,
            n,
            epoch,
            seq,
        })
    }

    /// A request let through with `permit` succeeded.
    pub(crate) fn succeeded(&self, _permit: &Permit<'_>) {
        let mut s = self.lock();
        s.acked += 1;
        if s.acked < s.limit {
            return;
        }
        // A whole round of successes in a row.
        let full = s.peak >= s.limit;
        s.acked = 0;
        s.peak = s.in_flight;
        if !full {
            // Fewer in flight than allowed: no evidence about more.
            return;
        }
        s.proven = s.proven.max(s.limit);
        if s.ceiling.is_some_and(|c| s.limit >= c) {
            // A whole round at the last refusal's level: the limit moved up.
            s.ceiling = None;
        }
        let step = match s.ceiling {
            Some(c) if s.limit + 1 >= c => {
                s.probe_rounds += 1;
                s.probe_rounds >= PROBE_ROUNDS
            }
            _ => true,
        };
        if step && s.limit < self.cap {
            s.limit += 1;
            s.probe_rounds = 0;
            drop(s);
            self.notify.notify_one();
        }
    }

    /// A request let through with `permit` was answered 429: whose signal it is (see the module
    /// docs), after cutting the window if it is the window's.
    pub(crate) fn throttled(&self, permit: &Permit<'_>) -> Signal {
        let mut s = self.lock();
        s.acked = 0;
        s.peak = s.in_flight;
        let n = permit.n;
        if n.max(s.in_flight) <= s.proven || s.limit <= 1 {
            return Signal::Rate;
        }
        // Sent before this one and still in flight: what the provider admitted, nearly.
        let admitted = s.flying.range(..permit.seq).count();
        let limit = if permit.epoch == s.epoch && s.ceiling.is_some_and(|c| s.limit >= c) {
            // Refused on the step onto the last refusal's level: back to the level below, known
            // good (counting is least reliable here: the step releases a wave of requests).
            s.epoch += 1;
            s.cuts += 1;
            s.floor = s.limit - 1;
            s.limit - 1
        } else if permit.epoch == s.epoch {
            // A new burst: cut, and open the next epoch.
            s.floor = s.limit.div_ceil(2).max(1);
            s.epoch += 1;
            s.cuts += 1;
            admitted.min(s.limit - 1).max(s.floor)
        } else if permit.epoch + 1 == s.epoch {
            // The rest of the burst the last cut came from.
            admitted.min(s.limit).max(s.floor)
        } else {
            // Older: already taken.
            s.limit
        };
        if limit < s.limit {
            s.limit = limit;
            s.ceiling = Some(limit + 1);
            s.probe_rounds = 0;
            crate::trace::event!("bulk concurrency changed";
                bulk.reason = "429 with too many in flight",
                bulk.concurrency = limit as u64,
            );
        }
        Signal::Concurrency
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills the window to `k` permits.
    fn hold(w: &Window, k: usize) -> Vec<Permit<'_>> {
        (0..k).map(|_| w.try_acquire().expect("a place")).collect()
    }

    /// Runs `rounds` full rounds of successes at the current limit.
    fn rounds(w: &Window, rounds: usize) {
        for _ in 0..rounds {
            for p in &hold(w, w.limit()) {
                w.succeeded(p);
            }
        }
    }

    #[test]
    fn a_refusal_cuts_to_what_was_admitted_and_growth_slows_at_the_ceiling() {
        let w = Window::new(20);
        let held = hold(&w, 20);
        // The 18th in flight was refused first, then the 17th: 16 were admitted.
        assert_eq!(w.throttled(&held[17]), Signal::Concurrency);
        assert_eq!(w.limit(), 17);
        assert_eq!(w.throttled(&held[16]), Signal::Concurrency);
        assert_eq!(w.limit(), 16);
        // No burst takes the window below half of what it was sent in.
        assert_eq!(w.throttled(&held[3]), Signal::Concurrency);
        assert_eq!(w.limit(), 10);
        drop(held);
        let w = Window::new(20);
        let held = hold(&w, 20);
        w.throttled(&held[16]);
        drop(held);
        assert_eq!(w.limit(), 16);
        // Full rounds at 16: the step onto the ceiling (17) waits PROBE_ROUNDS rounds.
        for round in 1..=PROBE_ROUNDS {
            rounds(&w, 1);
            let expect = if round < PROBE_ROUNDS { 16 } else { 17 };
            assert_eq!(w.limit(), expect, "round {round}");
        }
        assert_eq!(w.lock().proven, 16);
        // A refusal at 17 cuts back to 16.
        let held = hold(&w, 17);
        assert_eq!(w.throttled(&held[16]), Signal::Concurrency);
        assert_eq!(w.limit(), 16);
        drop(held);
        // A 429 at a level shown safe is the pacer's.
        let held = hold(&w, 4);
        assert_eq!(w.throttled(&held[3]), Signal::Rate);
        assert_eq!(w.limit(), 16);
        assert_eq!(w.lock().cuts, 2);
    }

    #[test]
    fn a_first_burst_in_any_order_halves_at_most_per_burst() {
        let w = Window::new(64);
        let held = hold(&w, 64);
        // The first refusal back was sent 5th: the provider got the burst out of order.
        w.throttled(&held[4]);
        assert_eq!(w.limit(), 32);
        for p in &held[5..] {
            w.throttled(p);
        }
        assert_eq!(w.limit(), 32, "no lower than half in one burst");
        drop(held);
        // The next burst: 32 in flight, 16 admitted.
        let held = hold(&w, 32);
        for p in held.iter().rev().take(16) {
            w.throttled(p);
        }
        assert_eq!(w.limit(), 16);
        assert_eq!(w.lock().cuts, 2);
        // A refusal of a burst before the last cut's changes nothing.
        let first = w.lock().epoch;
        w.lock().epoch += 1;
        assert_eq!(w.throttled(&held[0]), Signal::Concurrency);
        assert_eq!((w.limit(), w.lock().epoch), (16, first + 1));
    }

    #[test]
    fn a_round_at_the_ceiling_forgets_it() {
        let w = Window::new(64);
        let held = hold(&w, 64);
        w.throttled(&held[59]);
        drop(held);
        assert_eq!(w.limit(), 59);
        assert_eq!(w.lock().ceiling, Some(60));
        rounds(&w, PROBE_ROUNDS);
        assert_eq!(w.limit(), 60);
        rounds(&w, 1);
        // Beyond the old ceiling: one step per round again.
        assert_eq!(w.lock().ceiling, None);
        assert_eq!(w.limit(), 61);
        rounds(&w, 1);
        assert_eq!(w.limit(), 62);
    }

    #[test]
    fn never_below_one_never_above_the_cap_and_no_growth_without_a_full_window() {
        let w = Window::new(2);
        let held = hold(&w, 2);
        assert_eq!(w.throttled(&held[1]), Signal::Concurrency);
        assert_eq!(w.limit(), 1);
        drop(held);
        // At 1 the window can do no more: the pacer's.
        let held = hold(&w, 1);
        assert_eq!(w.throttled(&held[0]), Signal::Rate);
        assert_eq!(w.limit(), 1);
        drop(held);
        let w = Window::new(4);
        // Rounds with fewer in flight than allowed do not count.
        for _ in 0..50 {
            let p = w.try_acquire().unwrap();
            w.succeeded(&p);
        }
        assert_eq!(w.lock().proven, 0);
        rounds(&w, 20);
        assert_eq!(w.limit(), 4, "capped by the configured concurrency");
        assert_eq!(w.lock().proven, 4);
    }

    #[tokio::test]
    async fn waiters_are_let_through_as_places_free() {
        let w = std::sync::Arc::new(Window::new(2));
        let a = w.try_acquire().unwrap();
        let _b = w.try_acquire().unwrap();
        assert!(w.try_acquire().is_none());
        let w2 = w.clone();
        let waiter = tokio::spawn(async move {
            let p = w2.acquire().await;
            p.n
        });
        tokio::task::yield_now().await;
        drop(a);
        assert_eq!(waiter.await.unwrap(), 2);
    }
}
