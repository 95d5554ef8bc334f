//! Bulk updates over any [`SimProvider`]: bounded concurrency, a run that slows down as a whole
//! on 429 and speeds up again gently, per-item retries, exactly one outcome per input item, a
//! progress callback, and a dry run that sends no update.
//!
//! ```
//! use std::sync::Arc;
//! use futures_util::StreamExt;
//! use simfleet::bulk::{BulkItem, BulkUpdater, Outcome};
//! use simcore::{Applied, CallOptions, Lifecycle, ListOptions, SimChange, SimProvider, SimSnapshot, SimState, SnapshotPages};
//!
//! # #[derive(Debug)] struct Fake;
//! # #[async_trait::async_trait]
//! # impl SimProvider for Fake {
//! #     fn name(&self) -> &'static str { "fake" }
//! #     fn lifecycle(&self) -> Lifecycle<SimState> { Lifecycle::open("fake") }
//! #     async fn fetch_with(&self, id: &str, _: &simcore::CallOptions) -> simcore::Result<SimSnapshot> { Ok(SimSnapshot::new("fake", id, SimState::Inactive)) }
//! #     async fn apply_with(&self, id: &str, c: &simcore::SimChange, _: &simcore::CallOptions) -> simcore::Result<Applied> {
//! #         Ok(Applied::Done(Some(SimSnapshot::new("fake", id, c.state.clone().unwrap()))))
//! #     }
//! #     fn list(&self, _: &ListOptions) -> SnapshotPages<'_> { SnapshotPages::new(futures_util::stream::iter([Ok(vec![])])) }
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let provider: Arc<dyn SimProvider> = Arc::new(Fake);
//! let items = (0..100).map(|i| BulkItem::new(format!("sim-{i}"), SimChange::new().state(SimState::Active)));
//! let report = BulkUpdater::new(provider).concurrency(8).run(items).await;
//! assert_eq!(report.total, 100);
//! assert_eq!(report.done, 100);
//! assert!(report.failures.is_empty());
//! # });
//! ```
//!
//! # How the run paces itself
//! Each item passes a shared pacer before each attempt. Until the provider first answers 429, the
//! pacer lets requests through as fast as the concurrency allows. On a 429 it pauses the whole run
//! for the provider's `Retry-After` when it sent one, and sets a send rate 3% under the success
//! rate it measured since the first 429 (up to the last second): while throttled, what gets
//! through is what the provider admits. 429s within 100 ms are one signal. Each success then
//! raises the rate by 0.01 requests per second, so it climbs about 1% per second until the next
//! 429. The throttled item itself is tried again through the pacer, within the retry policy.
//!
//! # How the run holds a concurrency limit
//! Some providers limit requests in flight rather than per second (Twilio's and KORE's Super
//! SIM: one request too many in flight is answered 429 / 20429 and never processed). Beside the
//! pacer, the run keeps a window on its own requests in flight, at most the configured
//! [`concurrency`](BulkUpdater::concurrency): a 429 at an in-flight count not yet shown safe cuts
//! the window to the count the provider admitted; each round of successes with the window full
//! raises it by one, and the step onto the level of the last refusal waits eight rounds. A 429 at
//! a level already shown safe goes to the pacer as above. A concurrency 429 is retried as soon as
//! the window has a place (after its `Retry-After`, when it has one), without pausing the run.
//! [`Report::concurrency`] is where the window ended.
//!
//! # A budget shared with other processes
//! [`BulkUpdater::budget`] takes a [`RateBudget`]: every request of the run (updates, reads,
//! read-backs) takes a place in it before it is sent, after the pacer. With a budget on Redis
//! (`simcore_redis::RedisRateBudget`) every replica of a service draws on one budget, as a
//! provider that limits per account or per IP counts them. Give the budget to the run or to the client's transport,
//! not both: each request would take two places.
//!
//! Requests inside a run are sent with a single attempt at the transport level (per-call
//! [`CallOptions::attempts`](simcore::CallOptions::attempts), through
//! [`SimProvider::apply_with`] and [`SimProvider::fetch_with`]): the updater retries them
//! itself, so it sees every 429.
//!
//! # What a failed attempt means
//! [`Error::sent`] decides:
//! - [`Sent::No`]: refused before sending: [`Outcome::Refused`].
//! - [`Sent::Maybe`] (no answer in time, a broken connection, a 5xx, a success answer that is not
//!   the provider's): the SIM is read back, within the retry policy (a 429 or a 5xx on the read is
//!   tried again): as asked, [`Outcome::Verified`]; in the middle of a change, and the SIM was
//!   known to have none before this one was sent ([`SimChange::known_state`], or
//!   [`fetch_current`](BulkUpdater::fetch_current)), [`Outcome::Pending`]; in the middle of a
//!   change it cannot tell its own, [`Outcome::Failed`] with the unclear answer (sending again
//!   would be refused while that change lasts); otherwise the attempt is retried if the policy
//!   allows, or [`Outcome::Failed`].
//! - [`Sent::Yes`] (a refusal: any 4xx but 429): the provider's verdict, [`Outcome::Failed`] with
//!   its error. A 400, 409 or 422 may mean "already so", so the SIM is read back: as asked, it is
//!   [`Outcome::Verified`]; never scheduled, whatever change is in progress. A 429 was never
//!   processed, and is retried through the pacer.
//!
//! # One write per ask
//! Items that ask the same of one SIM (the same id, target state and name) are one write: the
//! first sends it, the others wait for its outcome and get it, and [`ItemOutcome::same_write`]
//! names them on each side. Which write an item belongs to is settled as items are taken from the
//! input; a run remembers the last [`SAME_ASK_WINDOW`] finished asks, so its memory does not grow
//! with its items.

use std::collections::HashMap;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::stream::{self, Stream, StreamExt};

mod pacer;
mod same;
mod window;

use self::pacer::*;
pub use self::same::SAME_ASK_WINDOW;
use self::same::*;
use self::window::{Permit, Signal, Window};
use crate::charge::ChargeTotal;
use simcore::CallOptions;
use simcore::budget::RateBudget;
use simcore::charge::{Estimate, Pricing};
use simcore::error::{Error, Sent};
use simcore::provider::{Applied, SimChange, SimProvider, SimSnapshot};
use simcore::retry::{Outcome as RetryOutcome, RetryPolicy, decide};
use simcore::state::SimState;

/// Each request of a run: one attempt at the transport, the run retrying by itself.
const ONE_ATTEMPT: CallOptions = CallOptions::new().attempts(1);

/// One SIM to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BulkItem {
    /// The provider's id of the SIM.
    pub id: String,
    /// What to change.
    pub change: SimChange,
}

impl BulkItem {
    /// An item.
    pub fn new(id: impl Into<String>, change: SimChange) -> Self {
        Self {
            id: id.into(),
            change,
        }
    }
}

/// What happened to one item.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Outcome {
    /// Applied; the snapshot when the provider returned one.
    Done(Option<SimSnapshot>),
    /// Accepted and still being applied (Twilio's `scheduled`): the provider answered so, or an
    /// answer that did not say was settled by reading the SIM back in the middle of a change the
    /// SIM was known not to have before this one was sent.
    Pending(Option<SimSnapshot>),
    /// Sent and failed, after the retries the policy allows: a refusal (the provider's error), or
    /// an answer that did not say and that reading the SIM back did not settle.
    Failed(Error),
    /// Refused before sending (validation, lifecycle, configuration).
    Refused(Error),
    /// Nothing sent: the SIM is known to be as the change asks already ([`SimChange::is_noop`]).
    Unchanged,
    /// Reading the SIM back showed it as the change asks: after an answer that did not say
    /// ([`Sent::Maybe`]: a timeout or a reset after sending, a 5xx, an answer that is not the
    /// provider's), or after a refusal that means "already so" (a 400, 409 or 422 to a SIM
    /// already in the target state).
    Verified(SimSnapshot),
    /// Dry run: the change passed every check and would be sent.
    WouldApply {
        /// The current state, when it was fetched.
        current: Option<SimState>,
        /// What it would cost, or why it cannot be priced.
        charge: Estimate,
    },
}

impl Outcome {
    /// A short word for the outcome (`"done"`, `"pending"`, `"failed"`, `"refused"`,
    /// `"unchanged"`, `"verified"`, `"would apply"`).
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Done(_) => "done",
            Outcome::Pending(_) => "pending",
            Outcome::Failed(_) => "failed",
            Outcome::Refused(_) => "refused",
            Outcome::Unchanged => "unchanged",
            Outcome::Verified(_) => "verified",
            Outcome::WouldApply { .. } => "would apply",
        }
    }

    /// The error, for failed and refused items.
    pub fn error(&self) -> Option<&Error> {
        match self {
            Outcome::Failed(e) | Outcome::Refused(e) => Some(e),
            _ => None,
        }
    }
}

/// One item's outcome, with its place in the input.
#[derive(Debug)]
pub struct ItemOutcome {
    /// The item's position in the input (0-based).
    pub index: usize,
    /// The SIM's id.
    pub id: String,
    /// How many update attempts were sent (0 when refused, in a dry run, or when another item
    /// sent the write: see [`same_write`](Self::same_write)).
    pub attempts: u32,
    /// What happened.
    pub outcome: Outcome,
    /// The other items that asked the same of the same SIM (the same id, target state and name):
    /// one write served them all, and each has its outcome. The first of them (the lowest index)
    /// sent it, and its `same_write` names the items taken from the input while it was in
    /// flight; the others' `attempts` are 0 and their `same_write` names it. An item that asks
    /// what an item at most [`SAME_ASK_WINDOW`] items earlier asked gets that item's outcome.
    pub same_write: Vec<usize>,
}

impl ItemOutcome {
    /// Whether an earlier item sent this item's write (see [`same_write`](Self::same_write)).
    pub fn shares_an_earlier_write(&self) -> bool {
        self.same_write.iter().any(|&i| i < self.index)
    }
}

/// Counts during a run, handed to the progress callback after each item.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Items finished so far.
    pub finished: usize,
    /// Applied.
    pub done: usize,
    /// Accepted, still being applied.
    pub pending: usize,
    /// Failed after sending.
    pub failed: usize,
    /// Refused before sending.
    pub refused: usize,
    /// Already as asked: nothing sent.
    pub unchanged: usize,
    /// Done, learnt by reading the SIM back (also counted in `done`).
    pub verified: usize,
    /// Passed every check in a dry run.
    pub would_apply: usize,
    /// 429 answers seen.
    pub throttled: usize,
}

/// The end of a run: counts, every failure, and the charges of a dry run.
#[derive(Debug, Default)]
pub struct Report {
    /// The provider the run went to (empty in a report built by hand).
    pub provider: &'static str,
    /// Items in the input.
    pub total: usize,
    /// Applied.
    pub done: usize,
    /// Accepted, still being applied.
    pub pending: usize,
    /// Failed after sending.
    pub failed: usize,
    /// Refused before sending.
    pub refused: usize,
    /// Already as asked: nothing sent.
    pub unchanged: usize,
    /// Done, learnt by reading the SIM back after an answer that did not say (also counted in
    /// `done`).
    pub verified: usize,
    /// Passed every check in a dry run.
    pub would_apply: usize,
    /// 429 answers seen during the run.
    pub throttled: usize,
    /// Items whose write an earlier item asking the same of the SIM sent (also counted under
    /// their outcome; see [`ItemOutcome::same_write`]).
    pub same_write: usize,
    /// Update attempts sent in all.
    pub attempts: u64,
    /// The concurrency the run ended with: the configured one, or less when the provider
    /// refused requests for being too many in flight (see the module docs).
    pub concurrency: usize,
    /// Every failed or refused item: index, id and error.
    pub failures: Vec<(usize, String, Error)>,
    /// Dry run: every item's estimate added up, as ranges, with the items that could not be
    /// priced counted and named (their cost is in no figure).
    pub charges: ChargeTotal,
    /// How long the run took.
    pub elapsed: Duration,
}

impl Report {
    /// Adds one outcome to the report.
    pub fn record(&mut self, item: ItemOutcome) {
        self.total += 1;
        self.attempts += u64::from(item.attempts);
        let follower = item.shares_an_earlier_write();
        if follower {
            self.same_write += 1;
        }
        match item.outcome {
            Outcome::Done(_) => self.done += 1,
            Outcome::Unchanged => self.unchanged += 1,
            Outcome::Verified(_) => {
                self.done += 1;
                self.verified += 1;
            }
            Outcome::Pending(_) => self.pending += 1,
            Outcome::Failed(e) => {
                self.failed += 1;
                self.failures.push((item.index, item.id, e));
            }
            Outcome::Refused(e) => {
                self.refused += 1;
                self.failures.push((item.index, item.id, e));
            }
            Outcome::WouldApply { charge, .. } => {
                self.would_apply += 1;
                // One change, however many items asked for it: priced once.
                if !follower {
                    self.charges.add(self.provider, &item.id, &charge);
                }
            }
        }
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} items: {} done, {} pending, {} failed, {} refused",
            self.total, self.done, self.pending, self.failed, self.refused
        )?;
        if self.unchanged > 0 {
            write!(f, ", {} unchanged", self.unchanged)?;
        }
        if self.verified > 0 {
            write!(
                f,
                " ({} of the done verified by reading back)",
                self.verified
            )?;
        }
        if self.would_apply > 0 {
            write!(f, ", {} would apply", self.would_apply)?;
        }
        if self.same_write > 0 {
            write!(
                f,
                "; {} asked what an earlier item asked of the same SIM (one write)",
                self.same_write
            )?;
        }
        write!(
            f,
            "; {} attempts, {} throttled, {:.1}s",
            self.attempts,
            self.throttled,
            self.elapsed.as_secs_f64()
        )
    }
}

/// The progress callback's type.
pub type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// Runs many changes against one provider.
#[derive(Clone)]
pub struct BulkUpdater {
    provider: Arc<dyn SimProvider>,
    concurrency: usize,
    retry: RetryPolicy,
    fetch_current: bool,
    dry_run: bool,
    pricing: Pricing,
    progress: Option<ProgressFn>,
    budget: Option<Arc<dyn RateBudget>>,
}

impl fmt::Debug for BulkUpdater {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BulkUpdater")
            .field("provider", &self.provider.name())
            .field("concurrency", &self.concurrency)
            .field("retry", &self.retry)
            .field("fetch_current", &self.fetch_current)
            .field("dry_run", &self.dry_run)
            .field("pricing", &self.pricing)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

impl BulkUpdater {
    /// An updater over `provider`: 16 at a time, the default retry policy, no fetch first.
    pub fn new(provider: Arc<dyn SimProvider>) -> Self {
        Self {
            provider,
            concurrency: 16,
            retry: RetryPolicy::default(),
            fetch_current: false,
            dry_run: false,
            pricing: Pricing::today(),
            progress: None,
            budget: None,
        }
    }

    /// How many items may be in flight at once (at least 1). Against a provider that limits
    /// requests in flight, the run holds fewer when it is refused (see the module docs).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How many times an item is tried, and the backoff between tries when the provider gives no
    /// `Retry-After`.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Fetches each SIM's current state first (for items that do not carry one), so the
    /// lifecycle is checked before sending.
    pub fn fetch_current(mut self, yes: bool) -> Self {
        self.fetch_current = yes;
        self
    }

    /// Validates, checks transitions and prices the changes, and sends no update.
    pub fn dry_run(mut self, yes: bool) -> Self {
        self.dry_run = yes;
        self
    }

    /// What a dry run prices the changes with: the price book for this run's provider and the
    /// day to reckon on. Default: no price book (the provider's published prices only), today.
    pub fn pricing(mut self, pricing: Pricing) -> Self {
        self.pricing = pricing;
        self
    }

    /// Takes a place in `budget` before each request of the run (see the module docs): a budget
    /// shared by every process on one provider account or egress IP, such as
    /// `simcore_redis::RedisRateBudget`, or a [`LocalBudget`](simcore::budget::LocalBudget)
    /// shared by runs in this process.
    pub fn budget(mut self, budget: Arc<dyn RateBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Calls `f` after each item with the counts so far.
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Runs the items and returns the report.
    pub async fn run<I>(&self, items: I) -> Report
    where
        I: IntoIterator<Item = BulkItem>,
        I::IntoIter: Send + 'static,
    {
        self.run_with(stream::iter(items), |_| {}).await
    }

    /// Runs a stream of items, hands each outcome to `each` as it arrives, and returns the
    /// report.
    pub async fn run_with<S>(&self, items: S, mut each: impl FnMut(&ItemOutcome)) -> Report
    where
        S: Stream<Item = BulkItem> + Send + 'static,
    {
        let start = Instant::now();
        let limits = Arc::new(Limits::new(self.concurrency));
        let mut report = Report {
            provider: self.provider.name(),
            ..Report::default()
        };
        let mut progress = Progress::default();
        let mut outcomes = self.stream_with(items, limits.clone());
        while let Some(item) = outcomes.next().await {
            each(&item);
            progress.finished += 1;
            match &item.outcome {
                Outcome::Done(_) => progress.done += 1,
                Outcome::Pending(_) => progress.pending += 1,
                Outcome::Failed(_) => progress.failed += 1,
                Outcome::Refused(_) => progress.refused += 1,
                Outcome::Unchanged => progress.unchanged += 1,
                Outcome::Verified(_) => {
                    progress.done += 1;
                    progress.verified += 1;
                }
                Outcome::WouldApply { .. } => progress.would_apply += 1,
            }
            progress.throttled = limits.pacer.throttled();
            if let Some(p) = &self.progress {
                p(&progress);
            }
            report.record(item);
        }
        report.throttled = limits.pacer.throttled();
        report.concurrency = limits.window.limit();
        report.elapsed = start.elapsed();
        report
    }

    /// The outcomes of a stream of items, in the order they finish (each carries its input
    /// index). Exactly one outcome per item.
    pub fn stream<S>(&self, items: S) -> Pin<Box<dyn Stream<Item = ItemOutcome> + Send>>
    where
        S: Stream<Item = BulkItem> + Send + 'static,
    {
        self.stream_with(items, Arc::new(Limits::new(self.concurrency)))
    }

    fn stream_with<S>(
        &self,
        items: S,
        limits: Arc<Limits>,
    ) -> Pin<Box<dyn Stream<Item = ItemOutcome> + Send>>
    where
        S: Stream<Item = BulkItem> + Send + 'static,
    {
        // One copy of the settings for the run, shared by every item.
        let this = Arc::new(self.clone());
        Box::pin(
            items
                .enumerate()
                .map(move |(index, item)| {
                    let this = this.clone();
                    let limits = limits.clone();
                    // Which write the item belongs to is settled here, as items are taken in
                    // input order: an item asking what an earlier one asks of the same SIM
                    // joins it, however fast that one runs.
                    let role = limits.role(index, &item);
                    async move { this.one(index, item, role, &limits).await }
                })
                .buffer_unordered(self.concurrency),
        )
    }

    /// Waits for the request's turn: the pacer, the budget, then a place in the window. Returns
    /// when it was let through by the pacer, and the place.
    async fn gate<'a>(&self, limits: &'a Limits) -> (Instant, Permit<'a>) {
        let sent = limits.pacer.acquire().await;
        if let Some(budget) = &self.budget {
            let wait = budget.reserve().await;
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        (sent, limits.window.acquire().await)
    }

    /// What a request's answer tells the limits: a success, a 429 (the window's or the pacer's),
    /// or nothing.
    fn answered(
        &self,
        limits: &Limits,
        sent: Instant,
        permit: &Permit<'_>,
        err: Option<&Error>,
    ) -> Option<Signal> {
        match err {
            None => {
                limits.window.succeeded(permit);
                limits.pacer.succeeded();
                None
            }
            Some(e) if e.status() == Some(429) => {
                let signal = limits.window.throttled(permit);
                match signal {
                    Signal::Rate => limits.pacer.throttle(sent, e.retry_after(), &self.retry),
                    Signal::Concurrency => limits.pacer.count_throttle(),
                }
                Some(signal)
            }
            Some(_) => None,
        }
    }

    async fn one(&self, index: usize, item: BulkItem, role: Role, limits: &Limits) -> ItemOutcome {
        let BulkItem { id, change } = item;
        let follower = |leader: usize, outcome: Outcome| ItemOutcome {
            index,
            id: id.clone(),
            attempts: 0,
            outcome,
            same_write: vec![leader],
        };
        match role {
            Role::Replay(leader, outcome) => follower(leader, outcome),
            Role::Follow(leader, waiting) => {
                let outcome = Outcome::clone(&*waiting.outcome().await);
                follower(leader, outcome)
            }
            Role::Lead(key) => {
                let (attempts, outcome) = self.outcome_of(&id, change, limits).await;
                let same_write = limits.finished(key, index, &outcome);
                ItemOutcome {
                    index,
                    id,
                    attempts,
                    outcome,
                    same_write,
                }
            }
        }
    }

    /// What became of one item, and the attempts it took.
    async fn outcome_of(&self, id: &str, mut change: SimChange, limits: &Limits) -> (u32, Outcome) {
        let p = &*self.provider;
        let finish = |attempts, outcome| (attempts, outcome);
        // `apply` validates too (and its refusals count as refused): check first only when
        // something else would be done before it.
        let fetch_first = self.fetch_current && change.known_state.is_none();
        if self.dry_run || fetch_first {
            if let Err(e) = p.validate(id, &change) {
                return finish(0, Outcome::Refused(e));
            }
        }
        if fetch_first {
            match self.read(id, limits).await {
                Ok(snap) => change.known_state = Some(snap.state),
                Err(e) if e.was_not_sent() => return finish(0, Outcome::Refused(e)),
                Err(e) => return finish(0, Outcome::Failed(e)),
            }
            if let Err(e) = p.validate(id, &change) {
                return finish(0, Outcome::Refused(e));
            }
        }
        if change.is_noop() {
            // Setting what is already there is not an error, and needs no request.
            if let Err(e) = p.validate(id, &change) {
                return finish(0, Outcome::Refused(e));
            }
            return finish(0, Outcome::Unchanged);
        }
        if self.dry_run {
            return match simcore::charge::preview(p, id, &change, &self.pricing).await {
                Ok(charge) => finish(
                    0,
                    Outcome::WouldApply {
                        current: change.known_state.clone(),
                        charge,
                    },
                ),
                Err(e) if e.was_not_sent() => finish(0, Outcome::Refused(e)),
                Err(e) => finish(0, Outcome::Failed(e)),
            };
        }
        let mut attempt = 0;
        loop {
            let (sent, permit) = self.gate(limits).await;
            attempt += 1;
            let result = p.apply_with(id, &change, &ONE_ATTEMPT).await;
            let err = match result {
                Ok(Applied::Unchanged) => return finish(0, Outcome::Unchanged),
                Ok(applied) => {
                    self.answered(limits, sent, &permit, None);
                    let outcome = match applied {
                        Applied::Done(s) => Outcome::Done(s),
                        Applied::Pending(s) => Outcome::Pending(s),
                        Applied::Unchanged => Outcome::Unchanged,
                    };
                    return finish(attempt, outcome);
                }
                // Refused before sending only if nothing was sent before it: after an attempt
                // that may have been applied, it is a failure.
                Err(e) if e.was_not_sent() && attempt == 1 => {
                    return finish(0, Outcome::Refused(e));
                }
                Err(e) => e,
            };
            let signal = self.answered(limits, sent, &permit, Some(&err));
            drop(permit);
            let wait = decide(&self.retry, attempt, &retry_outcome(&err));
            match err.sent() {
                // An answer that does not say whether the change was applied is settled by
                // reading the SIM back, before a retry could send it twice and before it is
                // reported failed.
                Sent::Maybe => match self.read_back(id, &change, limits).await {
                    Some(ReadBack::Applied(snap)) => {
                        return finish(attempt, Outcome::Verified(snap));
                    }
                    // A change in progress is this one's only when the SIM was known to have
                    // none before it was sent: otherwise it may be an earlier change, and this
                    // one may never have been accepted.
                    Some(ReadBack::Pending(snap))
                        if change
                            .known_state
                            .as_ref()
                            .is_some_and(|s| *s != SimState::Pending) =>
                    {
                        return finish(attempt, Outcome::Pending(Some(snap)));
                    }
                    // A change in progress that cannot be told to be this one's: sending again
                    // would be refused while it lasts, and reporting it scheduled might report
                    // a change that was never accepted. Failed, with the answer that did not say
                    // (give the item its known state, or fetch_current, to settle it).
                    Some(ReadBack::Pending(_)) => return finish(attempt, Outcome::Failed(err)),
                    None => {}
                },
                // A verdict: the provider refused the change, and said so. Reading back can only
                // show that the SIM is as asked already ("already in that status"): done, never
                // pending. A 429 was never processed, and is retried below.
                Sent::Yes if may_mean_already_so(&err) => {
                    if let Some(ReadBack::Applied(snap)) = self.read_back(id, &change, limits).await
                    {
                        return finish(attempt, Outcome::Verified(snap));
                    }
                    return finish(attempt, Outcome::Failed(err));
                }
                Sent::Yes | Sent::No => {}
            }
            match (wait, signal) {
                (None, _) => return finish(attempt, Outcome::Failed(err)),
                // A rate 429 paces (or pauses) the whole run in the pacer.
                (Some(_), Some(Signal::Rate)) => {}
                // A concurrency 429 cut the window: the item is tried again when the window has
                // a place, after the provider's Retry-After if it sent one.
                (Some(_), Some(Signal::Concurrency)) => {
                    if let Some(ra) = err.retry_after() {
                        tokio::time::sleep(ra.min(self.retry.max_retry_after)).await;
                    }
                }
                // Other retryable errors wait alone.
                (Some(w), None) => tokio::time::sleep(w.sample(fastrand::f64())).await,
            }
        }
    }

    /// Reads the SIM back to settle an answer that did not say, within the run's retry policy
    /// (a 429, a 5xx or a timeout on the read is tried again, through the pacer and the window
    /// as any request of the run), and says whether it is as `change` asks, or in the middle of a
    /// change. `None` when it is neither, or could not be read.
    async fn read_back(&self, id: &str, change: &SimChange, limits: &Limits) -> Option<ReadBack> {
        let snap = self.read(id, limits).await.ok()?;
        let state_ok = change.state.as_ref().is_none_or(|s| *s == snap.state);
        let name_ok = change
            .display_name
            .as_ref()
            .is_none_or(|n| snap.display_name.as_deref() == Some(n.as_str()));
        if state_ok && name_ok && snap.state != SimState::Pending {
            return Some(ReadBack::Applied(snap));
        }
        if snap.state == SimState::Pending && change.state.is_some() {
            return Some(ReadBack::Pending(snap));
        }
        None
    }
}

impl BulkUpdater {
    /// Reads a SIM within the run's retry policy, through the pacer, the budget and the window
    /// as any request of the run: a 429, a gateway error or a timeout is tried again.
    async fn read(&self, id: &str, limits: &Limits) -> Result<SimSnapshot, Error> {
        let p = &*self.provider;
        let mut attempt = 0;
        loop {
            let (sent, permit) = self.gate(limits).await;
            attempt += 1;
            let fetched = p.fetch_with(id, &ONE_ATTEMPT).await;
            let signal = self.answered(limits, sent, &permit, fetched.as_ref().err());
            drop(permit);
            let err = match fetched {
                Ok(snap) => return Ok(snap),
                Err(e) => e,
            };
            match (decide(&self.retry, attempt, &retry_outcome(&err)), signal) {
                (None, _) => return Err(err),
                (Some(_), Some(Signal::Rate)) => {}
                (Some(_), Some(Signal::Concurrency)) => {
                    if let Some(ra) = err.retry_after() {
                        tokio::time::sleep(ra.min(self.retry.max_retry_after)).await;
                    }
                }
                (Some(w), None) => tokio::time::sleep(w.sample(fastrand::f64())).await,
            }
        }
    }
}

/// What the retry policy is told of a failed attempt.
pub(crate) fn retry_outcome(err: &Error) -> RetryOutcome {
    match err {
        Error::Api(api) => RetryOutcome::Status {
            status: api.status,
            retry_after: api.retry_after,
        },
        Error::Timeout { .. } => RetryOutcome::Timeout,
        Error::Transport { .. } => RetryOutcome::Connect,
        _ => RetryOutcome::Fatal,
    }
}

/// Whether a refusal may mean "the SIM is already as asked" (Twilio's 400 / 83010 "cannot change
/// from active to active", a 409 or 422 of the same sense), so that reading the SIM back is worth
/// it: the read can turn it into done, never into pending.
fn may_mean_already_so(err: &Error) -> bool {
    matches!(err.status(), Some(400 | 409 | 422))
}

enum ReadBack {
    /// The SIM is as the change asks.
    Applied(SimSnapshot),
    /// The provider is applying a change (a lost `202`, or an earlier change).
    Pending(SimSnapshot),
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use simcore::error::ApiError;
    use simcore::state::Lifecycle;
    use simcore::validate::ValidationError;
    use std::collections::HashMap;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static PAIRS: &[(SimState, SimState)] = &[
        (SimState::Active, SimState::Inactive),
        (SimState::Inactive, SimState::Active),
    ];

    /// Answers by id: "bad" refuses, "busyN" answers 429 N times, "gone" 404, "slow" is
    /// scheduled, others succeed.
    #[derive(Debug, Default)]
    struct Scripted {
        calls: AtomicUsize,
        fetches: AtomicUsize,
        busy: Mutex<std::collections::HashMap<String, usize>>,
    }

    #[async_trait]
    impl SimProvider for Scripted {
        fn name(&self) -> &'static str {
            "scripted"
        }
        fn lifecycle(&self) -> Lifecycle<SimState> {
            Lifecycle::table("scripted", PAIRS)
        }
        async fn fetch_with(
            &self,
            id: &str,
            _: &simcore::CallOptions,
        ) -> simcore::Result<SimSnapshot> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            Ok(SimSnapshot::new("scripted", id, SimState::Active))
        }
        async fn apply_with(
            &self,
            id: &str,
            c: &simcore::SimChange,
            _: &simcore::CallOptions,
        ) -> simcore::Result<Applied> {
            self.validate(id, c)?;
            if id == "bad" {
                return Err(ValidationError::new("id", "must not be bad", "\"bad\"").into());
            }
            self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(n) = id.strip_prefix("busy") {
                let mut busy = self.busy.lock().unwrap();
                let left = busy
                    .entry(id.to_owned())
                    .or_insert_with(|| n.parse().unwrap());
                if *left > 0 {
                    *left -= 1;
                    let mut e = ApiError::new("scripted", 429).with_code(20429);
                    e.retry_after = Some(Duration::from_millis(1));
                    return Err(e.into());
                }
            }
            match id {
                "gone" => Err(ApiError::new("scripted", 404).into()),
                "slow" => Ok(Applied::Pending(Some(SimSnapshot::new(
                    "scripted",
                    id,
                    SimState::Pending,
                )))),
                _ => Ok(Applied::Done(None)),
            }
        }
        fn charges(&self) -> Option<&dyn simcore::ChargePreview> {
            Some(self)
        }
        fn list(&self, _: &simcore::ListOptions) -> simcore::SnapshotPages<'_> {
            simcore::SnapshotPages::new(futures_util::stream::once(async {
                Err(simcore::Error::Config(
                    "this test provider does not list".into(),
                ))
            }))
        }
    }

    #[async_trait]
    impl simcore::ChargePreview for Scripted {
        async fn estimate_charge(
            &self,
            id: &str,
            _c: &SimChange,
            _p: &Pricing,
        ) -> simcore::Result<Estimate> {
            use simcore::charge::{Charge, ChargeLine, ChargeRange, Currency, Money, Rule};
            if id.starts_with('u') {
                return Ok(Estimate::unpriced(
                    simcore::charge::UnpricedReason::NoPublishedPrice {
                        item: "a scripted SIM".into(),
                        key: "sim.active_monthly".into(),
                    },
                ));
            }
            let two = Money::from_cents(200);
            Ok(Estimate::Priced(Charge::new(Currency::USD).line(
                ChargeLine::new(
                    "SIM",
                    Rule::new("scripted.flat", "flat $2"),
                    ChargeRange::up_to(two),
                    two,
                ),
            )))
        }
    }

    fn fast() -> RetryPolicy {
        RetryPolicy::default()
            .with_max_attempts(4)
            .with_backoff(Duration::from_millis(1), Duration::from_millis(2))
    }

    fn item(id: &str) -> BulkItem {
        BulkItem::new(id, SimChange::new().state(SimState::Inactive))
    }

    #[tokio::test]
    async fn one_outcome_per_item() {
        let p = Arc::new(Scripted::default());
        let ids = ["a", "bad", "busy2", "gone", "slow", "busy9", "b"];
        let mut seen = Vec::new();
        let report = BulkUpdater::new(p.clone())
            .retry(fast())
            .concurrency(3)
            .run_with(stream::iter(ids.map(item)), |o| {
                seen.push((o.index, o.outcome.label(), o.attempts))
            })
            .await;
        seen.sort();
        assert_eq!(
            seen,
            vec![
                (0, "done", 1),
                (1, "refused", 0),
                (2, "done", 3),
                (3, "failed", 1),
                (4, "pending", 1),
                (5, "failed", 4),
                (6, "done", 1),
            ]
        );
        assert_eq!(report.total, 7);
        assert_eq!(
            (report.done, report.pending, report.failed, report.refused),
            (3, 1, 2, 1)
        );
        assert_eq!(report.throttled, 2 + 4);
        let failed: Vec<usize> = report.failures.iter().map(|f| f.0).collect();
        assert_eq!(failed.len(), 3);
        assert!(
            report
                .to_string()
                .starts_with("7 items: 3 done, 1 pending, 2 failed, 1 refused")
        );
    }

    #[tokio::test]
    async fn empty_changes_and_forbidden_moves_are_refused_unsent() {
        let p = Arc::new(Scripted::default());
        let items = vec![
            BulkItem::new("a", SimChange::new()),
            BulkItem::new(
                "b",
                SimChange::new()
                    .state(SimState::New)
                    .known_state(SimState::Active),
            ),
        ];
        let report = BulkUpdater::new(p.clone()).run(items).await;
        assert_eq!(report.refused, 2);
        assert_eq!(p.calls.load(Ordering::SeqCst), 0);
        assert!(matches!(report.failures[1].2, Error::Transition(_)));
    }

    #[tokio::test]
    async fn fetch_current_checks_the_lifecycle_first() {
        let p = Arc::new(Scripted::default());
        // Every SIM is Active: Active -> Active is already there (nothing sent, not an error);
        // Active -> New is not in the table (refused, nothing sent).
        let items = vec![
            BulkItem::new("a", SimChange::new().state(SimState::Active)),
            BulkItem::new("b", SimChange::new().state(SimState::New)),
        ];
        for dry in [false, true] {
            let report = BulkUpdater::new(p.clone())
                .fetch_current(true)
                .dry_run(dry)
                .run(items.clone())
                .await;
            assert_eq!((report.unchanged, report.refused), (1, 1), "dry run {dry}");
        }
        assert_eq!(p.fetches.load(Ordering::SeqCst), 4);
        assert_eq!(p.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn an_answer_that_does_not_say_is_settled_by_reading_back() {
        /// Applies the change, then answers as told; `fetch` shows the SIM as it is.
        #[derive(Debug)]
        struct Lossy {
            state: Mutex<SimState>,
            answer: fn() -> Error,
            sent: AtomicUsize,
        }
        #[async_trait]
        impl SimProvider for Lossy {
            fn name(&self) -> &'static str {
                "lossy"
            }
            fn lifecycle(&self) -> Lifecycle<SimState> {
                Lifecycle::table("lossy", PAIRS)
            }
            async fn fetch_with(
                &self,
                id: &str,
                _: &simcore::CallOptions,
            ) -> simcore::Result<SimSnapshot> {
                Ok(SimSnapshot::new(
                    "lossy",
                    id,
                    self.state.lock().unwrap().clone(),
                ))
            }
            async fn apply_with(
                &self,
                _id: &str,
                c: &simcore::SimChange,
                _: &simcore::CallOptions,
            ) -> simcore::Result<Applied> {
                self.sent.fetch_add(1, Ordering::SeqCst);
                *self.state.lock().unwrap() = c.state.clone().unwrap();
                Err((self.answer)())
            }
            fn list(&self, _: &simcore::ListOptions) -> simcore::SnapshotPages<'_> {
                simcore::SnapshotPages::new(futures_util::stream::once(async {
                    Err(simcore::Error::Config(
                        "this test provider does not list".into(),
                    ))
                }))
            }
        }
        let timeout = || Error::Timeout {
            provider: "lossy",
            after: Duration::from_secs(1),
            attempts: 1,
        };
        let already = || Error::from(ApiError::new("lossy", 400).with_code(83010));
        let gone = || Error::from(ApiError::new("lossy", 404));
        for (answer, label, sent) in [
            (timeout as fn() -> Error, "verified", 1),
            (already, "verified", 1),
            (gone, "failed", 1),
        ] {
            let p = Arc::new(Lossy {
                state: Mutex::new(SimState::Active),
                answer,
                sent: AtomicUsize::new(0),
            });
            let mut seen = Vec::new();
            let report = BulkUpdater::new(p.clone())
                .retry(fast())
                .run_with(stream::iter([item("a")]), |o| seen.push(o.outcome.label()))
                .await;
            assert_eq!(seen, [label]);
            // Verified rather than sent again.
            assert_eq!(p.sent.load(Ordering::SeqCst), sent, "{label}");
            assert_eq!(report.done, usize::from(label == "verified"));
            assert_eq!(report.verified, usize::from(label == "verified"));
        }
    }

    #[tokio::test]
    async fn dry_run_sends_nothing_and_sums_the_charge() {
        let p = Arc::new(Scripted::default());
        let progress = Arc::new(AtomicUsize::new(0));
        let seen = progress.clone();
        let report = BulkUpdater::new(p.clone())
            .dry_run(true)
            .fetch_current(true)
            .on_progress(move |pr| seen.store(pr.finished, Ordering::SeqCst))
            .run(
                (0..10)
                    .map(|i| item(&format!("s{i}")))
                    .chain([item("u1"), item("u2")]),
            )
            .await;
        assert_eq!(report.would_apply, 12);
        assert_eq!(p.calls.load(Ordering::SeqCst), 0);
        assert_eq!(p.fetches.load(Ordering::SeqCst), 12);
        assert_eq!(progress.load(Ordering::SeqCst), 12);
        let charges = &report.charges;
        assert_eq!((charges.priced(), charges.unpriced_count()), (10, 2));
        let sum = charges.overall()[&simcore::charge::Currency::USD];
        use simcore::charge::{ChargeRange, Money};
        assert_eq!(sum.now, ChargeRange::up_to(Money::from_cents(2000)));
        assert_eq!(sum.monthly, ChargeRange::exact(Money::from_cents(2000)));
        let mut unpriced: Vec<&str> = charges
            .unpriced()
            .map(|(p, r)| {
                assert_eq!(p, "scripted");
                r.id.as_str()
            })
            .collect();
        unpriced.sort();
        assert_eq!(unpriced, ["u1", "u2"]);
        assert_eq!(report.provider, "scripted");
    }

    #[test]
    fn pacer_cuts_to_the_measured_rate_and_climbs() {
        let pacer = Pacer::new();
        let now = Instant::now();
        {
            let mut s = pacer.lock();
            // 100 successes in the last second: 5 per 50 ms bucket.
            s.started = now - Duration::from_secs(5);
            s.head_start = now;
            s.buckets = [5; BUCKETS];
        }
        pacer.throttle(now, None, &RetryPolicy::default());
        let rate = pacer.lock().rate.unwrap();
        assert!((90.0..110.0).contains(&rate), "{rate}");
        // A second 429 within the cut interval is the same signal, and so is one for a request
        // let through before the cut.
        pacer.throttle(Instant::now(), None, &RetryPolicy::default());
        assert_eq!(pacer.lock().rate.unwrap(), rate);
        pacer.lock().last_cut = Some(Instant::now() - CUT_INTERVAL * 2);
        pacer.throttle(
            Instant::now() - CUT_INTERVAL * 3,
            None,
            &RetryPolicy::default(),
        );
        assert_eq!(pacer.lock().rate.unwrap(), rate);
        assert_eq!(pacer.throttled(), 3);
        // No Retry-After: no pause of the run.
        assert!(pacer.lock().paused_until <= Instant::now());
        for _ in 0..100 {
            pacer.succeeded();
        }
        assert!((pacer.lock().rate.unwrap() - (rate + 1.0)).abs() < 0.01);
        pacer.throttle(
            Instant::now(),
            Some(Duration::from_secs(2)),
            &RetryPolicy::default(),
        );
        assert!(pacer.lock().paused_until > Instant::now() + Duration::from_secs(1));
    }

    #[test]
    fn a_429_before_any_success_pauses_instead_of_crawling() {
        let pacer = Pacer::new();
        let policy = RetryPolicy::default();
        pacer.throttle(Instant::now(), None, &policy);
        let s = pacer.lock();
        assert_eq!(s.rate, None, "no rate learnt from nothing");
        assert!(s.paused_until > Instant::now());
        assert_eq!(s.blind_cuts, 1);
    }

    #[test]
    fn a_huge_retry_after_is_clamped() {
        let pacer = Pacer::new();
        let policy = RetryPolicy::default();
        pacer.throttle(Instant::now(), Some(Duration::MAX), &policy);
        let until = pacer.lock().paused_until;
        assert!(until <= Instant::now() + policy.max_retry_after);
    }

    #[test]
    fn the_window_forgets_old_successes() {
        let pacer = Pacer::new();
        let mut s = pacer.lock();
        let start = s.head_start;
        s.buckets = [7; BUCKETS];
        let later = start + Duration::from_secs(3);
        assert_eq!(s.measured(later, Duration::from_secs(1)), 0.0);
        assert!(s.buckets.iter().all(|b| *b == 0));
    }

    /// What a [`Model`] does with the next update, or the next read.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Fault {
        /// The connection breaks before the provider sees the request (not processed).
        DropBefore,
        /// The provider processes the request, and the answer is lost (a timeout).
        TimeoutAfter,
        /// A 503 from a gateway before the provider (not processed).
        GatewayBefore,
        /// A 2xx that is not the provider's answer, from something in front of it (not
        /// processed).
        NotTheAnswer,
        /// A 429 (not processed).
        Throttled,
    }

    /// A provider that applies changes later, as Super SIM does: an accepted change makes the
    /// SIM `Pending` until the test lands it; a change to a SIM with a change in progress, or to
    /// the status it has, is refused `400` / 83010. Every accepted change is logged: the judge.
    #[derive(Debug, Default)]
    struct Model {
        sims: Mutex<HashMap<String, (SimState, Option<SimState>)>>,
        accepted: Mutex<Vec<(String, SimState)>>,
        updates: AtomicUsize,
        reads: AtomicUsize,
        apply_faults: Mutex<std::collections::VecDeque<Fault>>,
        read_faults: Mutex<std::collections::VecDeque<Fault>>,
    }

    impl Model {
        fn seed(&self, id: &str, state: SimState, pending: Option<SimState>) {
            self.sims
                .lock()
                .unwrap()
                .insert(id.to_owned(), (state, pending));
        }
        fn snapshot(&self, id: &str) -> SimSnapshot {
            let (state, pending) = self.sims.lock().unwrap()[id].clone();
            let shown = if pending.is_some() {
                SimState::Pending
            } else {
                state
            };
            SimSnapshot::new("model", id, shown)
        }
        fn refused(&self, message: &str) -> Error {
            ApiError::new("model", 400)
                .with_code(83010)
                .with_message(message)
                .into()
        }
    }

    fn fault_error(f: Fault) -> Error {
        match f {
            Fault::DropBefore => Error::Transport {
                provider: "model",
                message: "reset".into(),
                attempts: 1,
                source: None,
            },
            Fault::TimeoutAfter => Error::Timeout {
                provider: "model",
                after: Duration::from_millis(1),
                attempts: 1,
            },
            Fault::GatewayBefore => ApiError::new("model", 503).into(),
            Fault::NotTheAnswer => Error::decode("model", 200, "not an answer", b"{}"),
            Fault::Throttled => ApiError::new("model", 429).with_code(20429).into(),
        }
    }

    #[async_trait]
    impl SimProvider for Model {
        fn name(&self) -> &'static str {
            "model"
        }
        fn lifecycle(&self) -> Lifecycle<SimState> {
            Lifecycle::open("model")
        }
        async fn fetch_with(
            &self,
            id: &str,
            _: &simcore::CallOptions,
        ) -> simcore::Result<SimSnapshot> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            if let Some(f) = self.read_faults.lock().unwrap().pop_front() {
                return Err(fault_error(f));
            }
            Ok(self.snapshot(id))
        }
        async fn apply_with(
            &self,
            id: &str,
            c: &simcore::SimChange,
            _: &simcore::CallOptions,
        ) -> simcore::Result<Applied> {
            if c.is_noop() {
                return Ok(Applied::Unchanged);
            }
            self.updates.fetch_add(1, Ordering::SeqCst);
            let fault = self.apply_faults.lock().unwrap().pop_front();
            if let Some(f) = fault.filter(|f| *f != Fault::TimeoutAfter) {
                return Err(fault_error(f));
            }
            let target = c.state.clone().unwrap();
            let answer = {
                let mut sims = self.sims.lock().unwrap();
                let (state, pending) = sims.get_mut(id).unwrap();
                if pending.is_some() {
                    Err("a change is in progress")
                } else if *state == target {
                    Err("it has that status already")
                } else {
                    *pending = Some(target.clone());
                    Ok(())
                }
            };
            match answer {
                Err(m) => Err(self.refused(m)),
                Ok(()) => {
                    self.accepted
                        .lock()
                        .unwrap()
                        .push((id.to_owned(), target.clone()));
                    match fault {
                        Some(f) => Err(fault_error(f)),
                        None => Ok(Applied::Pending(Some(self.snapshot(id)))),
                    }
                }
            }
        }
        fn list(&self, _: &simcore::ListOptions) -> simcore::SnapshotPages<'_> {
            simcore::SnapshotPages::new(futures_util::stream::once(async {
                Err(simcore::Error::Config(
                    "this test provider does not list".into(),
                ))
            }))
        }
    }

    /// Item 2, the bug as reported: a SIM still `scheduled` from an earlier change answers a new
    /// change with a refusal (400, 83010). It used to be read back, seen pending, and reported
    /// scheduled; it is the provider's refusal, reported failed with its error.
    #[tokio::test]
    async fn regression_a_refusal_of_a_sim_with_a_change_in_progress_is_never_scheduled() {
        let p = Arc::new(Model::default());
        p.seed("a", SimState::Active, Some(SimState::Inactive));
        for fetch_current in [false, true] {
            let mut seen = Vec::new();
            let report = BulkUpdater::new(p.clone())
                .retry(fast())
                .fetch_current(fetch_current)
                .run_with(
                    stream::iter([BulkItem::new("a", SimChange::new().state(SimState::Active))]),
                    |o| seen.push(o.outcome.clone()),
                )
                .await;
            match &seen[..] {
                [Outcome::Failed(e)] => {
                    assert_eq!(
                        (e.status(), e.api().and_then(|a| a.code)),
                        (Some(400), Some(83010))
                    );
                    assert_eq!(e.sent(), Sent::Yes);
                }
                other => panic!("{other:?}"),
            }
            assert_eq!((report.pending, report.done, report.failed), (0, 0, 1));
        }
        assert!(p.accepted.lock().unwrap().is_empty());
        // A refusal that means "already so" is done when the SIM is as asked: read back once.
        p.seed("b", SimState::Active, None);
        let reads = p.reads.load(Ordering::SeqCst);
        let mut seen = Vec::new();
        BulkUpdater::new(p.clone())
            .run_with(
                stream::iter([BulkItem::new(
                    "b",
                    SimChange::new()
                        .state(SimState::Active)
                        .known_state(SimState::Inactive),
                )]),
                |o| seen.push(o.outcome.label()),
            )
            .await;
        assert_eq!(seen, ["verified"]);
        assert_eq!(p.reads.load(Ordering::SeqCst), reads + 1);
    }

    /// Item 4: the read-back that settles an unclear answer follows the retry policy. It used to
    /// be one attempt, so a 429 on it turned an accepted change into "failed".
    #[tokio::test]
    async fn regression_a_429_on_the_read_back_is_retried_within_the_policy() {
        let p = Arc::new(Model::default());
        p.seed("a", SimState::Inactive, None);
        p.apply_faults
            .lock()
            .unwrap()
            .push_back(Fault::TimeoutAfter);
        p.read_faults
            .lock()
            .unwrap()
            .extend([Fault::Throttled, Fault::GatewayBefore]);
        let mut seen = Vec::new();
        let report = BulkUpdater::new(p.clone())
            .retry(fast())
            .run_with(
                stream::iter([BulkItem::new(
                    "a",
                    SimChange::new()
                        .state(SimState::Active)
                        .known_state(SimState::Inactive),
                )]),
                |o| seen.push((o.outcome.label(), o.attempts)),
            )
            .await;
        // One update (accepted, its answer lost), three reads (429, 503, then the SIM): the
        // change in progress is this one's, since the SIM was known to have none.
        assert_eq!(seen, [("pending", 1)]);
        assert_eq!(p.updates.load(Ordering::SeqCst), 1);
        assert_eq!(p.reads.load(Ordering::SeqCst), 3);
        assert_eq!(p.accepted.lock().unwrap().len(), 1);
        assert_eq!(report.throttled, 1);
        // Beyond the policy's attempts, the read gives up, and the item is not reported done.
        p.seed("b", SimState::Inactive, None);
        p.apply_faults
            .lock()
            .unwrap()
            .push_back(Fault::NotTheAnswer);
        p.read_faults.lock().unwrap().extend([Fault::Throttled; 4]);
        let mut seen = Vec::new();
        BulkUpdater::new(p.clone())
            .retry(fast())
            .run_with(
                stream::iter([BulkItem::new("b", SimChange::new().state(SimState::Active))]),
                |o| seen.push(o.outcome.label()),
            )
            .await;
        assert_eq!(seen, ["failed"]);
    }

    /// Item 4: items that ask the same of one SIM while one of them is in flight are one write,
    /// and each outcome names the others.
    #[tokio::test]
    async fn regression_items_asking_the_same_of_one_sim_are_one_write() {
        let p = Arc::new(Model::default());
        p.seed("a", SimState::Inactive, None);
        p.seed("b", SimState::Inactive, None);
        let on = || SimChange::new().state(SimState::Active);
        let items = vec![
            BulkItem::new("a", on()),
            BulkItem::new("b", on()),
            BulkItem::new("a", on().known_state(SimState::Inactive)),
            BulkItem::new("a", on()),
        ];
        let mut seen = Vec::new();
        let report = BulkUpdater::new(p.clone())
            .concurrency(8)
            .run_with(stream::iter(items), |o| {
                seen.push((o.index, o.outcome.label(), o.attempts, o.same_write.clone()))
            })
            .await;
        seen.sort();
        assert_eq!(
            seen,
            [
                (0, "pending", 1, vec![2, 3]),
                (1, "pending", 1, vec![]),
                (2, "pending", 0, vec![0]),
                (3, "pending", 0, vec![0]),
            ]
        );
        assert_eq!(p.updates.load(Ordering::SeqCst), 2);
        assert_eq!((report.pending, report.same_write), (4, 2));
    }

    fn arb_fault() -> impl proptest::strategy::Strategy<Value = Fault> {
        proptest::sample::select(vec![
            Fault::DropBefore,
            Fault::TimeoutAfter,
            Fault::GatewayBefore,
            Fault::NotTheAnswer,
            Fault::Throttled,
        ])
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(96))]

        /// Items 2 and 4: whatever the earlier changes in progress, the refusals, the duplicate
        /// items, the faults on updates and the throttled read-backs, no item is reported done,
        /// verified or scheduled unless the provider accepted its change in this run (its log
        /// is the judge), or, for done and verified only, the SIM already was as asked.
        #[test]
        fn no_item_is_done_or_scheduled_unless_its_change_was_accepted(
            sims in proptest::collection::vec((proptest::bool::ANY, proptest::option::of(proptest::bool::ANY)), 1..6),
            rows in proptest::collection::vec((0usize..6, proptest::bool::ANY, proptest::bool::ANY), 1..14),
            apply_faults in proptest::collection::vec(proptest::option::of(arb_fault()), 0..10),
            read_faults in proptest::collection::vec(proptest::option::of(arb_fault()), 0..10),
            concurrency in 1usize..5,
            fetch_current in proptest::bool::ANY,
        ) {
            let state = |on: bool| if on { SimState::Active } else { SimState::Inactive };
            let p = Arc::new(Model::default());
            for (i, (on, pending)) in sims.iter().enumerate() {
                p.seed(&format!("s{i}"), state(*on), pending.map(state));
            }
            let apply_faults: Vec<Fault> = apply_faults.into_iter().flatten().collect();
            let read_faults: Vec<Fault> = read_faults.into_iter().flatten().collect();
            p.apply_faults.lock().unwrap().extend(apply_faults);
            p.read_faults.lock().unwrap().extend(read_faults);
            let items: Vec<BulkItem> = rows
                .iter()
                .map(|&(i, on, known)| {
                    let i = i % sims.len();
                    let mut change = SimChange::new().state(state(on));
                    if known {
                        let (was, pending) = sims[i];
                        change = change.known_state(match pending {
                            Some(_) => SimState::Pending,
                            None => state(was),
                        });
                    }
                    BulkItem::new(format!("s{i}"), change)
                })
                .collect();
            let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
            let mut seen = Vec::new();
            let report = rt.block_on(
                BulkUpdater::new(p.clone())
                    .retry(fast())
                    .concurrency(concurrency)
                    .fetch_current(fetch_current)
                    .run_with(stream::iter(items.clone()), |o| seen.push((o.index, o.outcome.clone()))),
            );
            proptest::prop_assert_eq!(report.total, items.len());
            proptest::prop_assert_eq!(seen.len(), items.len());
            let accepted = p.accepted.lock().unwrap().clone();
            for (index, outcome) in seen {
                let item = &items[index];
                let target = item.change.state.clone().unwrap();
                let i: usize = item.id[1..].parse().unwrap();
                let (was, pending) = sims[i];
                let was_accepted = accepted.iter().any(|(id, t)| *id == item.id && *t == target);
                let already = pending.is_none() && state(was) == target;
                match &outcome {
                    Outcome::Pending(_) => proptest::prop_assert!(was_accepted, "{index}: {outcome:?} {accepted:?}"),
                    Outcome::Done(_) | Outcome::Verified(_) => proptest::prop_assert!(
                        was_accepted || already,
                        "{index}: {outcome:?} {accepted:?}"
                    ),
                    Outcome::Unchanged => proptest::prop_assert!(already || was_accepted, "{index}: unchanged"),
                    _ => {}
                }
            }
            // Never two accepted changes for one SIM: the model refuses the second, and no
            // outcome claims it.
            let mut ids: Vec<&String> = accepted.iter().map(|(id, _)| id).collect();
            ids.sort();
            let n = ids.len();
            ids.dedup();
            proptest::prop_assert_eq!(ids.len(), n);
        }
    }
}
