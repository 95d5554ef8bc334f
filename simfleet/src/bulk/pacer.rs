//! The pacer every attempt of a run passes: as fast as the concurrency allows until the first
//! 429, then a send rate just under what the provider admits (see the module docs of `bulk`).

use super::*;

/// The shared pace of a run.
#[derive(Debug)]
pub(super) struct Pacer {
    pub(super) state: Mutex<PacerState>,
}

/// Successes are counted in buckets of this length...
pub(super) const BUCKET: Duration = Duration::from_millis(50);
/// ...over a window of this many buckets (one second).
pub(super) const BUCKETS: usize = 20;
/// The rate after a 429, as a share of the success rate measured just before.
pub(super) const CUT: f64 = 0.97;
/// At most one cut per this interval: the 429s of one burst are one signal.
pub(super) const CUT_INTERVAL: Duration = Duration::from_millis(100);
/// Each success raises the rate by this many requests per second (about 1% per second at any
/// rate, since successes arrive at the rate itself).
pub(super) const RAISE: f64 = 0.01;
/// The rate never drops below this many requests per second.
pub(super) const MIN_RATE: f64 = 0.5;

#[derive(Debug)]
pub(super) struct PacerState {
    /// Requests per second, once the provider has throttled the run; `None` before.
    pub(super) rate: Option<f64>,
    pub(super) next_slot: Instant,
    pub(super) paused_until: Instant,
    pub(super) last_cut: Option<Instant>,
    /// When the provider first throttled the run.
    /// When the provider first throttled the run, and the successes counted until then.
    pub(super) first_throttle: Option<(Instant, u64)>,
    /// Successes since the start.
    pub(super) total: u64,
    /// Cuts in a row at which nothing had got through.
    pub(super) blind_cuts: u32,
    /// Successes per bucket, a ring over the last second; memory stays constant.
    pub(super) buckets: [u32; BUCKETS],
    /// The start of the bucket at `head`.
    pub(super) head_start: Instant,
    pub(super) head: usize,
    pub(super) started: Instant,
    pub(super) throttled: usize,
}

impl PacerState {
    /// Moves the ring forward to `now`, clearing the buckets that fell out of the window.
    pub(super) fn advance(&mut self, now: Instant) {
        let mut steps =
            (now.duration_since(self.head_start).as_nanos() / BUCKET.as_nanos()) as usize;
        if steps == 0 {
            return;
        }
        self.head_start += BUCKET * u32::try_from(steps).unwrap_or(u32::MAX);
        steps = steps.min(BUCKETS);
        for _ in 0..steps {
            self.head = (self.head + 1) % BUCKETS;
            self.buckets[self.head] = 0;
        }
    }

    /// Successes per second over the last `span` (at most a second).
    pub(super) fn measured(&mut self, now: Instant, span: Duration) -> f64 {
        self.advance(now);
        let span = span.clamp(BUCKET, BUCKET * BUCKETS as u32);
        let n = (span.as_nanos() / BUCKET.as_nanos()) as usize;
        let sum: u64 = (0..n)
            .map(|k| u64::from(self.buckets[(self.head + BUCKETS - k) % BUCKETS]))
            .sum();
        // The head bucket is only partly over; and a run younger than a bucket is measured over
        // a whole one, so a first burst does not read as thousands a second.
        let covered = (BUCKET * (n as u32 - 1) + now.duration_since(self.head_start)).max(span);
        sum as f64 / covered.as_secs_f64().max(0.001)
    }
}

impl Pacer {
    pub(super) fn new() -> Self {
        let now = Instant::now();
        Self {
            state: Mutex::new(PacerState {
                rate: None,
                next_slot: now,
                paused_until: now,
                last_cut: None,
                first_throttle: None,
                total: 0,
                blind_cuts: 0,
                buckets: [0; BUCKETS],
                head_start: now,
                head: 0,
                started: now,
                throttled: 0,
            }),
        }
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, PacerState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn throttled(&self) -> usize {
        self.lock().throttled
    }

    /// Counts a 429 the concurrency window took (the pace is left alone).
    pub(super) fn count_throttle(&self) {
        self.lock().throttled += 1;
    }

    /// Waits for this request's turn; returns when it was let through.
    pub(super) async fn acquire(&self) -> Instant {
        let slot = {
            let mut s = self.lock();
            let now = Instant::now();
            let mut slot = now.max(s.paused_until);
            if let Some(rate) = s.rate {
                slot = slot.max(s.next_slot);
                s.next_slot = slot + Duration::from_secs_f64(1.0 / rate);
            }
            slot
        };
        if slot > Instant::now() {
            tokio::time::sleep_until(slot.into()).await;
        }
        slot
    }

    pub(super) fn succeeded(&self) {
        let mut s = self.lock();
        let now = Instant::now();
        s.advance(now);
        let head = s.head;
        s.buckets[head] = s.buckets[head].saturating_add(1);
        s.total += 1;
        if let Some(rate) = s.rate.as_mut() {
            *rate += RAISE;
        }
    }

    /// The provider answered 429 to a request let through at `sent`: pause for its
    /// `Retry-After`, if it sent one, and pace the run just under the rate it let through.
    pub(super) fn throttle(
        &self,
        sent: Instant,
        retry_after: Option<Duration>,
        policy: &RetryPolicy,
    ) {
        let mut s = self.lock();
        let now = Instant::now();
        s.throttled += 1;
        if let Some(wait) = retry_after {
            let until = now.checked_add(wait.min(policy.max_retry_after));
            s.paused_until = s.paused_until.max(until.unwrap_or(now));
            crate::trace::event!("bulk run paused";
                bulk.reason = "retry-after",
                bulk.pause_ms = wait.min(policy.max_retry_after).as_millis() as u64,
            );
        }
        // A request let through before the last cut says nothing about the new pace; and the
        // 429s of one burst are one signal.
        if s.last_cut
            .is_some_and(|t| sent < t || now.duration_since(t) < CUT_INTERVAL)
        {
            return;
        }
        s.last_cut = Some(now);
        let total = s.total;
        let (first, before) = *s.first_throttle.get_or_insert((now, total));
        // While throttled, what gets through is what the provider admits. Within the first
        // second, count exactly what got through since the first 429 (the burst before it would
        // overstate the limit); after that, the last second.
        let since = now.duration_since(first);
        let measured = if since < CUT_INTERVAL {
            let span = now.duration_since(s.started);
            s.measured(now, span)
        } else if since < BUCKET * BUCKETS as u32 {
            (total - before) as f64 / since.as_secs_f64()
        } else {
            s.measured(now, BUCKET * BUCKETS as u32)
        };
        if measured <= 0.0 {
            // Nothing got through: there is no rate to learn. Pause, longer each time in a row,
            // rather than pace the run at a crawl it would take minutes to climb out of.
            let pause = policy.backoff_ceiling(s.blind_cuts + 1);
            s.blind_cuts += 1;
            s.paused_until = s.paused_until.max(now + pause);
            crate::trace::event!("bulk run paused";
                bulk.reason = "429 before anything got through",
                bulk.pause_ms = pause.as_millis() as u64,
            );
            return;
        }
        s.blind_cuts = 0;
        let base = match s.rate {
            Some(r) => r.min(measured),
            None => measured,
        };
        s.rate = Some((base * CUT).max(MIN_RATE));
        crate::trace::event!("bulk pace changed";
            bulk.reason = "429",
            bulk.rate = s.rate.unwrap_or_default(),
            bulk.measured = measured,
        );
    }
}
