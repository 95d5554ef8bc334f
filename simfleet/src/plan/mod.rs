//! Fleets in desired state: plan, review, apply, re-run safely.
//!
//! Operators think in desired states ("these 40,000 SIMs active, those suspended"), not in single
//! calls. A [`Planner`] reads the SIMs' current states (listing a provider's fleet when the plan
//! covers many of its SIMs, fetching each when it covers few) and produces a [`Plan`]: for each
//! input row exactly one [`Entry`], saying what would happen and why, with per-provider totals
//! and what each change would cost where the provider can price it. A plan prints as a table,
//! serialises to JSON, and can be saved, reviewed and applied later.
//!
//! A SIM with a change in progress (its state [`Pending`](SimState::Pending): Super SIM's
//! `scheduled`) is planned as [`Action::InProgress`], not as a change: nothing is sent for it, and
//! the entry says what it waits for.
//!
//! [`Applier::apply`] runs a plan's changes through the [bulk updater](crate::bulk): it first
//! reads the SIMs again and sends a change only to a SIM still in the state the plan saw (one
//! changed behind the plan's back is reported [`ApplyOutcome::Stale`] and not touched; one
//! already in the target state is [`ApplyOutcome::AlreadyThere`], nothing sent). Each entry is
//! applied whole or refused whole, rows that ask the same of one SIM are one write, and a plan
//! edited since it was made is refused (see [`Applier`] for what a saved plan protects against
//! and what it does not). An answer that does not say whether a change was applied is settled by
//! reading the SIM back; a refusal is the provider's verdict, never reported as scheduled.
//! [`Applier::wait`] waits, bounded, for changes left in progress to settle before the report.
//! Re-running the same desired state after an interruption converges: what is done reads as
//! unchanged and sends nothing, so only what is left is sent.
//!
//! ```
//! use std::sync::Arc;
//! use simfleet::plan::{ActionKind, Applier, ApplyKind, Desired, Planner};
//! use simcore::SimState;
//! # use simcore::{Applied, CallOptions, Lifecycle, ListOptions, SimChange, SimProvider, SimSnapshot, SnapshotPages};
//! # #[derive(Debug, Default)] struct Fake(std::sync::Mutex<std::collections::HashMap<String, SimState>>);
//! # #[async_trait::async_trait]
//! # impl SimProvider for Fake {
//! #     fn name(&self) -> &'static str { "fake" }
//! #     fn lifecycle(&self) -> Lifecycle<SimState> { Lifecycle::open("fake") }
//! #     async fn fetch_with(&self, id: &str, _: &simcore::CallOptions) -> simcore::Result<SimSnapshot> {
//! #         let s = self.0.lock().unwrap().get(id).cloned().unwrap_or(SimState::Inactive);
//! #         Ok(SimSnapshot::new("fake", id, s))
//! #     }
//! #     async fn apply_with(&self, id: &str, c: &simcore::SimChange, _: &simcore::CallOptions) -> simcore::Result<Applied> {
//! #         self.0.lock().unwrap().insert(id.to_owned(), c.state.clone().unwrap());
//! #         Ok(Applied::Done(None))
//! #     }
//! #     fn list(&self, _: &ListOptions) -> SnapshotPages<'_> { SnapshotPages::new(futures_util::stream::iter([Ok(vec![])])) }
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let provider: Arc<dyn SimProvider> = Arc::new(Fake::default());
//! let planner = Planner::new([provider.clone()]);
//! let rows = ["a", "b"].map(|id| Desired::new("fake", id).state(SimState::Active));
//! let plan = planner.plan(rows).await;
//! assert_eq!(plan.entries.len(), 2);
//! assert_eq!(plan.count(ActionKind::Change), 2);
//! let saved = plan.to_json()?;                      // review it, keep it...
//! let plan = simfleet::plan::Plan::from_json(&saved)?; // ...and apply it later
//! let report = Applier::new([provider]).apply(&plan).await;
//! assert_eq!(report.count(ApplyKind::Done), 2);
//! // The same desired state again: nothing left to do, nothing sent.
//! let again = planner.plan(["a", "b"].map(|id| Desired::new("fake", id).state(SimState::Active))).await;
//! assert_eq!(again.count(ActionKind::Unchanged), 2);
//! # Ok::<(), simcore::Error>(())
//! # }).unwrap();
//! ```
//!
//! # How states are read
//! For each provider, the planner fetches each SIM when the plan names at most
//! [`Planner::fetch_at_most`] of them (50 by default), and otherwise lists the provider's fleet
//! ([`SimProvider::list`], the largest page) until every SIM the plan names has been seen, then
//! fetches the few the listing did not answer for (a SIM named by an id the listing does not
//! carry, or one that does not exist). Listing costs one request per page (Super SIM: 1,000 SIMs
//! a page, emnify 2,500) however many SIMs the plan names; fetching costs one per SIM. A
//! provider that cannot list is read by fetching. A page that fails is read again within the
//! retry policy ([`Planner::retry`]) from that page on, never from the first; past the policy,
//! the SIMs the listing did not reach are fetched. [`Plan::reads`] says what was done.
//!
//! # Rows
//! A row names its provider by an id of [`rows::ProviderId`](crate::rows::ProviderId), in any
//! case and with aliases (`Twilio`, `kore`, `super-sim`, `EMNIFY`), or by the provider's own
//! name; CSV files are read by [`rows::read_csv`](crate::rows::read_csv) (also `simctl`'s): a
//! line that cannot be read is refused with its line number, the others planned.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::bulk::{BulkItem, BulkUpdater, Outcome as BulkOutcome, retry_outcome};
use crate::charge::ChargeTotal;
use simcore::charge::{Estimate, PriceBooks, Pricing};
use simcore::error::Error;
use simcore::provider::{ListOptions, SimChange, SimProvider, SimSnapshot};
use simcore::retry::RetryPolicy;
use simcore::state::SimState;
use simcore::validate::SimName;

use crate::RowError;
use crate::rows::ProviderId;
use simcore::ValidationError;

mod apply;
mod planner;
mod read;

pub use apply::{AppliedEntry, Applier, ApplyKind, ApplyOutcome, ApplyProgress, ApplyReport};
pub use planner::Planner;
use planner::*;
use read::*;

/// The version of the plan format [`Plan::to_json`] writes.
///
/// Format 2 added the [`Action::InProgress`] entries and the [`Plan::digest`]; a plan of format 1
/// is refused (plan again).
pub const PLAN_FORMAT: u32 = 2;

/// One row of a desired state: a SIM of a provider, and the state (and name) it should have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    /// The provider: a [`ProviderId`] (`"supersim"`, `"emnify"`,
    /// `"sixfab"`, `"edgeiq"`, in any case, with its aliases: `"twilio"` and `"kore"` stand for
    /// Super SIM), or a provider's own [`name`](SimProvider::name).
    pub provider: String,
    /// The provider's id for the SIM.
    pub id: String,
    /// The state it should be in; `None` leaves the state alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SimState>,
    /// The name it should have; `None` leaves the name alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<SimName>,
    /// The line of the file the row was read from, when it was read from one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u64>,
    /// Why the row could not be read (`"line 4: it has 2 fields, the header has 3"`): the plan
    /// refuses it with this reason, and plans the other rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refusal: Option<String>,
}

impl Desired {
    /// A row for `id` at `provider` that asks for nothing yet.
    pub fn new(provider: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            id: id.into(),
            state: None,
            name: None,
            line: None,
            refusal: None,
        }
    }

    /// A row read from `line` that could not be read as one, and `why`: the plan refuses it.
    pub fn refused_line(
        provider: impl Into<String>,
        id: impl Into<String>,
        line: u64,
        why: impl std::fmt::Display,
    ) -> Self {
        let mut row = Self::new(provider, id);
        row.line = Some(line);
        row.refusal = Some(format!("line {line}: {why}"));
        row
    }

    /// The state the SIM should be in.
    pub fn state(mut self, state: SimState) -> Self {
        self.state = Some(state);
        self
    }

    /// The name the SIM should have.
    pub fn name(mut self, name: impl Into<SimName>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Reads rows from CSV with a header: `provider,id,target` and an optional `name` column.
    /// The rules are [`rows::read_csv`](crate::rows::read_csv)'s (shared with `simctl`): provider
    /// ids in any case and with aliases, `state` and `status` as aliases of `target`, a column
    /// this reader does not know refused by name, and a line that cannot be read kept as a row
    /// that the plan refuses with its line number, while the others are planned. Feature `csv`.
    #[cfg(feature = "csv")]
    #[cfg_attr(docsrs, doc(cfg(feature = "csv")))]
    pub fn from_csv(reader: impl std::io::Read) -> simcore::Result<Vec<Desired>> {
        crate::rows::read_csv(reader)
    }
}

/// What the plan would do with one row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Action {
    /// The SIM is as the row asks already: nothing to send.
    Unchanged {
        /// Its state.
        state: SimState,
    },
    /// A change to send.
    Change {
        /// The state the plan saw.
        from: SimState,
        /// The state to set (`None`: the state stays).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<SimState>,
        /// The name to set, and the name it had.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rename: Option<Rename>,
        /// What it would cost, where the provider can say (boxed: most entries carry none, and a
        /// plan of 100,000 entries stays small).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        charge: Option<Box<Estimate>>,
    },
    /// A change is in progress on the SIM (its canonical state is
    /// [`Pending`](SimState::Pending): Super SIM's `scheduled`). Nothing is sent for the row: a
    /// change sent now would be refused, and the plan cannot know where the SIM will settle.
    /// Plan again once it has settled, or apply with [`Applier::wait`], which waits for it.
    InProgress {
        /// What the entry waits for, in words.
        waits_for: String,
        /// The state the row asks for (`None`: the state is left alone).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        to: Option<SimState>,
    },
    /// Refused before anything would be sent: the row asks for what the provider's rules forbid.
    Refused {
        /// Why: the field and the rule, or the configuration that is missing.
        error: RowError,
    },
    /// The provider knows no such SIM.
    NotFound {
        /// The provider's answer.
        error: RowError,
    },
    /// The SIM's state could not be read.
    ReadError {
        /// What went wrong.
        error: RowError,
    },
}

impl Action {
    /// Which kind of action it is, for counting ([`Plan::count`]).
    pub fn kind(&self) -> ActionKind {
        match self {
            Action::Unchanged { .. } => ActionKind::Unchanged,
            Action::Change { .. } => ActionKind::Change,
            Action::InProgress { .. } => ActionKind::InProgress,
            Action::Refused { .. } => ActionKind::Refused,
            Action::NotFound { .. } => ActionKind::NotFound,
            Action::ReadError { .. } => ActionKind::ReadError,
        }
    }

    /// The error of a refused, not-found or unread row.
    pub fn error(&self) -> Option<&RowError> {
        match self {
            Action::Refused { error }
            | Action::NotFound { error }
            | Action::ReadError { error } => Some(error),
            _ => None,
        }
    }

    /// A short word for it: `"unchanged"`, `"change"`, `"in progress"`, `"refused"`, `"not found"`,
    /// `"read error"`.
    pub fn label(&self) -> &'static str {
        match self {
            Action::Unchanged { .. } => "unchanged",
            Action::Change { .. } => "change",
            Action::InProgress { .. } => "in progress",
            Action::Refused { .. } => "refused",
            Action::NotFound { .. } => "not found",
            Action::ReadError { .. } => "read error",
        }
    }
}

/// The kinds of [`Action`], to count a plan's entries by: `plan.count(ActionKind::Change)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ActionKind {
    /// [`Action::Unchanged`].
    Unchanged,
    /// [`Action::Change`].
    Change,
    /// [`Action::InProgress`].
    InProgress,
    /// [`Action::Refused`].
    Refused,
    /// [`Action::NotFound`].
    NotFound,
    /// [`Action::ReadError`].
    ReadError,
}

/// A name change: what the SIM is called, and what it is to be called.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rename {
    /// The name it has (`None`: none, or not reported).
    pub from: Option<String>,
    /// The name to set.
    pub to: String,
}

/// One row of the input, and what the plan would do with it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// The row's position in the input (0-based).
    pub row: usize,
    /// The provider.
    pub provider: String,
    /// The SIM's id, as the row gave it.
    pub id: String,
    /// What would happen.
    #[serde(flatten)]
    pub action: Action,
}

/// How a provider's states were read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reads {
    /// List requests (pages) made.
    pub list_pages: u64,
    /// SIMs seen in the listing.
    pub listed: u64,
    /// Single-SIM fetches made.
    pub fetches: u64,
    /// Pages of the listing read again after an error, from the page that failed (within the
    /// retry policy; see [`Planner::retry`]).
    #[serde(default)]
    pub pages_retried: u64,
}

/// A plan: one entry per input row, in input order, and how the states were read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    /// The plan format ([`PLAN_FORMAT`]).
    pub format: u32,
    /// When it was made (RFC 3339, UTC).
    pub created_at: String,
    /// One entry per input row, in input order.
    pub entries: Vec<Entry>,
    /// How each provider's states were read.
    pub reads: BTreeMap<String, Reads>,
    /// A digest of the entries as the planner made them (`sha256:` and 64 hex digits; see
    /// [`Plan::entries_digest`]). [`Applier::apply`] refuses a plan whose entries no longer
    /// match it, unless told to apply an edited plan ([`Applier::allow_edited`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

impl Plan {
    /// The digest of the entries as they are now: SHA-256 over their JSON, as
    /// [`to_json`](Self::to_json) writes them (compact), `sha256:` and 64 hex digits.
    ///
    /// It tells an edited plan from the one the planner made; it is no signature (anyone who
    /// can edit the file can compute it again, with [`seal`](Self::seal)).
    pub fn entries_digest(&self) -> String {
        use sha2::{Digest, Sha256};
        /// The JSON written straight into the hash: no copy of the plan is made.
        struct Hashing(Sha256);
        impl std::io::Write for Hashing {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.update(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut hashing = Hashing(Sha256::new());
        // Entries always serialize (no map with keys that are not text, no failing value).
        let _ = serde_json::to_writer(&mut hashing, &self.entries);
        let sum = hashing.0.finalize();
        let mut out = String::with_capacity(7 + 64);
        out.push_str("sha256:");
        for b in sum {
            out.push_str(&format!("{b:02x}"));
        }
        out
    }

    /// Sets [`digest`](Self::digest) to the digest of the entries as they are now: for a plan
    /// built or changed in code on purpose.
    pub fn seal(&mut self) {
        self.digest = Some(self.entries_digest());
    }

    /// Whether the entries differ from the ones the digest was made over (or the plan carries
    /// no digest): see [`Applier::allow_edited`].
    pub fn is_edited(&self) -> bool {
        self.digest.as_deref() != Some(self.entries_digest().as_str())
    }

    /// How many entries have an action of this kind.
    pub fn count(&self, kind: ActionKind) -> usize {
        self.entries
            .iter()
            .filter(|e| e.action.kind() == kind)
            .count()
    }

    /// The entries of the changes to send.
    pub fn changes(&self) -> impl Iterator<Item = &Entry> {
        self.entries
            .iter()
            .filter(|e| matches!(e.action, Action::Change { .. }))
    }

    /// Per provider: how many entries of each action.
    pub fn totals(&self) -> BTreeMap<&str, BTreeMap<&'static str, usize>> {
        let mut t: BTreeMap<&str, BTreeMap<&'static str, usize>> = BTreeMap::new();
        for e in &self.entries {
            *t.entry(e.provider.as_str())
                .or_default()
                .entry(e.action.label())
                .or_default() += 1;
        }
        t
    }

    /// What the changes would cost, per provider and overall, as ranges; unpriced rows are
    /// counted and named.
    pub fn charges(&self) -> ChargeTotal {
        let mut total = ChargeTotal::new();
        for e in &self.entries {
            if let Action::Change {
                charge: Some(c), ..
            } = &e.action
            {
                total.add(&e.provider, &e.id, c);
            }
        }
        total
    }

    /// The plan as pretty JSON, to save and apply later.
    pub fn to_json(&self) -> simcore::Result<String> {
        serde_json::to_string_pretty(self)
            .map_err(|e| Error::Config(format!("the plan could not be written: {e}")))
    }

    /// Reads a saved plan. A plan of another format is refused.
    pub fn from_json(text: &str) -> simcore::Result<Plan> {
        let plan: Plan =
            serde_json::from_str(text).map_err(|e| Error::Config(format!("not a plan: {e}")))?;
        if plan.format != PLAN_FORMAT {
            return Err(Error::Config(format!(
                "the plan has format {}, this version reads format {PLAN_FORMAT}",
                plan.format
            )));
        }
        Ok(plan)
    }
}

impl fmt::Display for Plan {
    /// A table, one line per row, then the totals per provider and the charges.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let id_width = self
            .entries
            .iter()
            .map(|e| e.id.chars().count())
            .max()
            .unwrap_or(2)
            .clamp(2, 40);
        writeln!(
            f,
            "{:>5}  {:<8}  {:<id_width$}  {:<10}  what",
            "row", "provider", "id", "action"
        )?;
        for e in &self.entries {
            let what = match &e.action {
                Action::Unchanged { state } => format!("stays {state}"),
                Action::Change {
                    from,
                    to,
                    rename,
                    charge,
                } => {
                    let mut w = match to {
                        Some(to) => format!("{from} -> {to}"),
                        None => format!("stays {from}"),
                    };
                    if let Some(r) = rename {
                        w.push_str(&format!(
                            ", name {} -> {:?}",
                            r.from
                                .as_deref()
                                .map_or("(none)".into(), |n| format!("{n:?}")),
                            r.to
                        ));
                    }
                    if let Some(c) = charge {
                        w.push_str(&format!("; {}", charge_summary(c)));
                    }
                    w
                }
                Action::InProgress { waits_for, to } => match to {
                    Some(to) => format!("wants {to}; waits for {waits_for}"),
                    None => format!("waits for {waits_for}"),
                },
                Action::Refused { error }
                | Action::NotFound { error }
                | Action::ReadError { error } => error.message.clone(),
            };
            writeln!(
                f,
                "{:>5}  {:<8}  {:<id_width$}  {:<10}  {what}",
                e.row + 1,
                e.provider,
                e.id,
                e.action.label()
            )?;
        }
        for (provider, counts) in self.totals() {
            let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
            let reads = self.reads.get(provider).copied().unwrap_or_default();
            writeln!(
                f,
                "{provider}: {} (read with {} list page{} and {} fetch{})",
                parts.join(", "),
                reads.list_pages,
                if reads.list_pages == 1 { "" } else { "s" },
                reads.fetches,
                if reads.fetches == 1 { "" } else { "es" }
            )?;
        }
        let charges = self.charges();
        if charges.providers().next().is_some() {
            writeln!(f, "charges:\n{charges}")?;
        }
        Ok(())
    }
}

/// One line of a charge: its range, or why it is unpriced.
fn charge_summary(e: &Estimate) -> String {
    match e {
        Estimate::Priced(c) => format!(
            "now {}, monthly {}",
            c.now.show(c.currency),
            c.monthly.show(c.currency)
        ),
        Estimate::Unpriced(u) => format!("unpriced ({})", u.reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use simcore::error::{ApiError, Sent};
    use simcore::provider::Applied as ProviderApplied;
    use simcore::state::Lifecycle;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    static PAIRS: &[(SimState, SimState)] = &[
        (SimState::Active, SimState::Inactive),
        (SimState::Inactive, SimState::Active),
    ];

    /// A fleet in memory that lists in pages of 10 and counts what it is asked.
    #[derive(Debug, Default)]
    struct Fleet {
        sims: Mutex<BTreeMap<String, SimState>>,
        fetches: AtomicUsize,
        pages: AtomicUsize,
        updates: AtomicUsize,
        /// Pages (numbered from 1) whose next read fails with a 503, once each.
        fail_pages: Mutex<Vec<u32>>,
        /// Every page read, in order.
        pages_read: Mutex<Vec<u32>>,
    }

    impl Fleet {
        fn with(n: usize, active_every: usize) -> Arc<Fleet> {
            let f = Fleet::default();
            for i in 0..n {
                let s = if i % active_every == 0 {
                    SimState::Active
                } else {
                    SimState::Inactive
                };
                f.sims.lock().unwrap().insert(format!("s{i:05}"), s);
            }
            Arc::new(f)
        }
    }

    #[async_trait]
    impl SimProvider for Fleet {
        fn name(&self) -> &'static str {
            "fleet"
        }
        fn lifecycle(&self) -> Lifecycle<SimState> {
            Lifecycle::table("fleet", PAIRS)
        }
        async fn fetch_with(
            &self,
            id: &str,
            _: &simcore::CallOptions,
        ) -> simcore::Result<SimSnapshot> {
            self.fetches.fetch_add(1, Ordering::SeqCst);
            let id = id.strip_prefix("alias-").unwrap_or(id);
            let s = self.sims.lock().unwrap().get(id).cloned();
            match s {
                Some(s) => Ok(SimSnapshot::new("fleet", id, s).with_alias(format!("alias-{id}"))),
                None => Err(ApiError::new("fleet", 404)
                    .with_message("no such SIM")
                    .into()),
            }
        }
        async fn apply_with(
            &self,
            id: &str,
            c: &simcore::SimChange,
            _: &simcore::CallOptions,
        ) -> simcore::Result<ProviderApplied> {
            if c.is_noop() {
                return Ok(ProviderApplied::Unchanged);
            }
            self.updates.fetch_add(1, Ordering::SeqCst);
            self.sims
                .lock()
                .unwrap()
                .insert(id.to_owned(), c.state.clone().unwrap());
            Ok(ProviderApplied::Done(None))
        }
        fn list(&self, o: &ListOptions) -> simcore::provider::SnapshotPages<'_> {
            use simcore::paging::PagePosition;
            let all: Vec<SimSnapshot> = self
                .sims
                .lock()
                .unwrap()
                .iter()
                .map(|(id, s)| {
                    SimSnapshot::new("fleet", id.clone(), s.clone())
                        .with_alias(format!("alias-{id}"))
                })
                .collect();
            let pages: Vec<Vec<SimSnapshot>> = all.chunks(10).map(<[_]>::to_vec).collect();
            let last = pages.len() as u32;
            let first = o.resume.as_ref().map_or(1, |p| p.number("resume").unwrap());
            let read = stream::iter(pages.into_iter().zip(1u32..))
                .skip(first as usize - 1)
                .map(move |(p, number)| {
                    self.pages.fetch_add(1, Ordering::SeqCst);
                    self.pages_read.lock().unwrap().push(number);
                    let mut failing = self.fail_pages.lock().unwrap();
                    if let Some(k) = failing.iter().position(|&f| f == number) {
                        failing.remove(k);
                        return Err(ApiError::new("fleet", 503).into());
                    }
                    Ok((p, (number < last).then(|| PagePosition::Number(number + 1))))
                });
            simcore::provider::SnapshotPages::resumable(Some(PagePosition::Number(first)), read)
        }
    }

    fn want(ids: impl IntoIterator<Item = String>, s: SimState) -> Vec<Desired> {
        ids.into_iter()
            .map(|id| Desired::new("fleet", id).state(s.clone()))
            .collect()
    }

    #[tokio::test]
    async fn one_entry_per_row_and_the_reading_rule() {
        let fleet = Fleet::with(100, 3);
        let p: Arc<dyn SimProvider> = fleet.clone();
        let planner = Planner::new([p]).fetch_at_most(5);
        // Few rows: fetched one by one.
        let plan = planner
            .plan(want((0..4).map(|i| format!("s{i:05}")), SimState::Active))
            .await;
        assert_eq!(
            plan.reads["fleet"],
            Reads {
                list_pages: 0,
                listed: 0,
                fetches: 4,
                pages_retried: 0,
            }
        );
        // Many rows: listed, stopping once all are seen; an alias answers too; an unknown id is
        // fetched (and not found); an unknown provider and a bad target are refused.
        let mut rows = want((0..40).map(|i| format!("s{i:05}")), SimState::Active);
        rows.push(Desired::new("fleet", "alias-s00041").state(SimState::Active));
        rows.push(Desired::new("fleet", "nope").state(SimState::Active));
        rows.push(Desired::new("other", "x").state(SimState::Active));
        rows.push(Desired::new("fleet", "s00050").state(SimState::from_word("frozen")));
        rows.push(Desired::new("fleet", "s00051").state(SimState::New));
        let plan = planner.plan(rows).await;
        assert_eq!(plan.entries.len(), 45);
        assert!(plan.entries.iter().enumerate().all(|(i, e)| e.row == i));
        // "nope" is never seen, so the whole fleet is listed (10 pages), then it is fetched.
        assert_eq!(plan.reads["fleet"].list_pages, 10);
        assert_eq!(plan.reads["fleet"].fetches, 1);
        assert_eq!(plan.count(ActionKind::Unchanged), 14); // every third of s00000..s00039
        assert_eq!(plan.count(ActionKind::Change), 27);
        assert_eq!(plan.count(ActionKind::NotFound), 1);
        assert_eq!(plan.count(ActionKind::Refused), 3);
        assert!(
            matches!(&plan.entries[44].action, Action::Refused { error } if error.message.contains("cannot move to new") && error.kind == "transition")
        );
        // It round-trips through JSON and prints as a table.
        let back = Plan::from_json(&plan.to_json().unwrap()).unwrap();
        assert_eq!(back, plan);
        let table = plan.to_string();
        assert!(table.contains("inactive -> active"), "{table}");
        assert!(table.starts_with("  row  provider"), "{table}");
    }

    #[tokio::test]
    async fn apply_sends_the_changes_only_and_reports_stale_and_already_there() {
        let fleet = Fleet::with(30, 2);
        let p: Arc<dyn SimProvider> = fleet.clone();
        let rows = want((0..30).map(|i| format!("s{i:05}")), SimState::Active);
        let plan = Planner::new([p.clone()]).plan(rows.clone()).await;
        assert_eq!(plan.count(ActionKind::Change), 15);
        // Behind the plan's back: one changed to the target, one... stays as planned.
        fleet
            .sims
            .lock()
            .unwrap()
            .insert("s00001".into(), SimState::Active);
        let report = Applier::new([p.clone()]).apply(&plan).await;
        assert_eq!(report.entries.len(), 30);
        assert_eq!(report.count(ApplyKind::Unchanged), 15);
        assert_eq!(report.count(ApplyKind::AlreadyThere), 1);
        assert_eq!(report.count(ApplyKind::Done), 14);
        assert_eq!(fleet.updates.load(Ordering::SeqCst), 14);
        // A SIM moved elsewhere is stale: re-plan gives the same plan for it, but make one
        // stale against a saved plan.
        let plan2 = Planner::new([p.clone()]).plan(rows).await;
        assert_eq!(plan2.count(ActionKind::Unchanged), 30);
        let report = Applier::new([p]).apply(&plan2).await;
        assert_eq!(report.attempts, 0);
    }

    #[tokio::test]
    async fn a_sim_changed_behind_the_plan_is_stale_and_untouched() {
        /// Three states, so a SIM can be neither where the plan saw it nor its target.
        #[derive(Debug)]
        struct Three(Mutex<SimState>, AtomicUsize);
        #[async_trait]
        impl SimProvider for Three {
            fn name(&self) -> &'static str {
                "three"
            }
            fn lifecycle(&self) -> Lifecycle<SimState> {
                Lifecycle::open("three")
            }
            async fn fetch_with(
                &self,
                id: &str,
                _: &simcore::CallOptions,
            ) -> simcore::Result<SimSnapshot> {
                Ok(SimSnapshot::new(
                    "three",
                    id,
                    self.0.lock().unwrap().clone(),
                ))
            }
            async fn apply_with(
                &self,
                _: &str,
                c: &simcore::SimChange,
                _: &simcore::CallOptions,
            ) -> simcore::Result<ProviderApplied> {
                self.1.fetch_add(1, Ordering::SeqCst);
                *self.0.lock().unwrap() = c.state.clone().unwrap();
                Ok(ProviderApplied::Done(None))
            }
            fn list(&self, _: &simcore::ListOptions) -> simcore::SnapshotPages<'_> {
                simcore::SnapshotPages::new(futures_util::stream::once(async {
                    Err(simcore::Error::Config(
                        "this test provider does not list".into(),
                    ))
                }))
            }
        }
        let three = Arc::new(Three(Mutex::new(SimState::Inactive), AtomicUsize::new(0)));
        let p: Arc<dyn SimProvider> = three.clone();
        let plan = Planner::new([p.clone()])
            .plan([Desired::new("three", "x").state(SimState::Active)])
            .await;
        *three.0.lock().unwrap() = SimState::Retired;
        let report = Applier::new([p]).apply(&plan).await;
        assert_eq!(
            report.entries[0].outcome,
            ApplyOutcome::Stale {
                planned: SimState::Inactive,
                found: SimState::Retired
            }
        );
        assert_eq!(three.1.load(Ordering::SeqCst), 0);
    }

    /// Item 7: an error on a late page of a listing ended it, and the listing started again at
    /// page 1 (or the rest was fetched one by one). A failed page is read again within the retry
    /// policy, from that page on.
    #[tokio::test]
    async fn regression_a_failed_late_page_is_read_again_from_there_not_from_page_one() {
        let fleet = Fleet::with(100, 3);
        fleet.fail_pages.lock().unwrap().extend([7, 7]);
        let p: Arc<dyn SimProvider> = fleet.clone();
        let fast = RetryPolicy::default()
            .with_max_attempts(3)
            .with_backoff(Duration::from_millis(1), Duration::from_millis(2));
        let rows = want((0..100).map(|i| format!("s{i:05}")), SimState::Active);
        let plan = Planner::new([p.clone()])
            .fetch_at_most(0)
            .retry(fast.clone())
            .price(false)
            .plan(rows.clone())
            .await;
        assert_eq!(
            *fleet.pages_read.lock().unwrap(),
            [1, 2, 3, 4, 5, 6, 7, 7, 7, 8, 9, 10]
        );
        assert_eq!(
            plan.reads["fleet"],
            Reads {
                list_pages: 10,
                listed: 100,
                fetches: 0,
                pages_retried: 2,
            }
        );
        assert_eq!(
            plan.count(ActionKind::Change) + plan.count(ActionKind::Unchanged),
            100
        );
        // Past the policy's attempts, the SIMs the listing did not reach are fetched.
        fleet.pages_read.lock().unwrap().clear();
        fleet.fail_pages.lock().unwrap().extend([9, 9, 9]);
        let plan = Planner::new([p])
            .fetch_at_most(0)
            .retry(fast)
            .price(false)
            .plan(rows)
            .await;
        assert_eq!(
            *fleet.pages_read.lock().unwrap(),
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9]
        );
        assert_eq!(plan.reads["fleet"].fetches, 20);
        assert_eq!(
            plan.count(ActionKind::Change) + plan.count(ActionKind::Unchanged),
            100
        );
    }

    #[tokio::test]
    async fn rows_that_disagree_about_one_sim_are_refused() {
        let fleet = Fleet::with(3, 10);
        let p: Arc<dyn SimProvider> = fleet.clone();
        let plan = Planner::new([p])
            .plan([
                Desired::new("fleet", "s00001").state(SimState::Active),
                Desired::new("fleet", "alias-s00001").state(SimState::Inactive),
                Desired::new("fleet", "s00001").state(SimState::Active),
            ])
            .await;
        assert_eq!(plan.entries[0].action.label(), "change");
        assert!(
            matches!(&plan.entries[1].action, Action::Refused { error } if error.message.starts_with("invalid row: row 1 asks something else"))
        );
        assert_eq!(plan.entries[2].action.label(), "change");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

        /// Whatever the rows (SIMs named by id or by alias, twice, in disagreement, or not at
        /// all) and whether they are listed or fetched: one entry per row in input order, the
        /// first row naming a SIM decides it and a later one asking otherwise is refused.
        #[test]
        fn every_row_gets_the_answer_a_plain_model_gives(
            n in 0usize..35,
            picks in proptest::collection::vec((0usize..40, proptest::bool::ANY, proptest::bool::ANY), 0..60),
            fetch_at_most in 0usize..70,
        ) {
            let fleet = Fleet::with(n, 2);
            let rows: Vec<Desired> = picks
                .iter()
                .map(|&(i, by_alias, active)| {
                    let id = match (i < n, by_alias) {
                        (false, _) => format!("nope-{i}"),
                        (true, false) => format!("s{i:05}"),
                        (true, true) => format!("alias-s{i:05}"),
                    };
                    let s = if active { SimState::Active } else { SimState::Inactive };
                    Desired::new("fleet", id).state(s)
                })
                .collect();
            let p: Arc<dyn SimProvider> = fleet.clone();
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            let plan = rt.block_on(Planner::new([p]).fetch_at_most(fetch_at_most).plan(rows.clone()));
            proptest::prop_assert_eq!(plan.entries.len(), rows.len());
            let mut lead: HashMap<usize, usize> = HashMap::new();
            for (row, (&(i, _, active), e)) in picks.iter().zip(&plan.entries).enumerate() {
                proptest::prop_assert_eq!(e.row, row);
                proptest::prop_assert_eq!(&e.id, &rows[row].id);
                let label = e.action.label();
                if i >= n {
                    proptest::prop_assert_eq!(label, "not found");
                    continue;
                }
                let first = *lead.entry(i).or_insert(row);
                let now_active = i % 2 == 0;
                if first != row && picks[first].2 != active {
                    let refused = matches!(&e.action, Action::Refused { error }
                        if error.message.starts_with(&format!("invalid row: row {} asks something else", first + 1)));
                    proptest::prop_assert!(refused, "{:?}", e.action);
                } else if now_active == active {
                    proptest::prop_assert_eq!(label, "unchanged");
                } else {
                    proptest::prop_assert_eq!(label, "change");
                }
            }
        }
    }

    /// A provider whose updates fail by id: `flaky-*` with a 503, `refused-*` with a 422 and a
    /// code; the others are done.
    #[derive(Debug)]
    struct Failing;

    #[async_trait]
    impl SimProvider for Failing {
        fn name(&self) -> &'static str {
            "failing"
        }
        fn lifecycle(&self) -> Lifecycle<SimState> {
            Lifecycle::open("failing")
        }
        async fn fetch_with(
            &self,
            id: &str,
            _: &simcore::CallOptions,
        ) -> simcore::Result<SimSnapshot> {
            Ok(SimSnapshot::new("failing", id, SimState::Inactive))
        }
        async fn apply_with(
            &self,
            id: &str,
            _: &simcore::SimChange,
            _: &simcore::CallOptions,
        ) -> simcore::Result<ProviderApplied> {
            if id.starts_with("flaky") {
                return Err(ApiError::new("failing", 503).into());
            }
            if id.starts_with("refused") {
                return Err(ApiError::new("failing", 422)
                    .with_code(42)
                    .with_message("no")
                    .into());
            }
            Ok(ProviderApplied::Done(None))
        }
        fn list(&self, _: &ListOptions) -> simcore::SnapshotPages<'_> {
            simcore::SnapshotPages::new(stream::once(async {
                Err(Error::Config("this test provider does not list".into()))
            }))
        }
    }

    /// Per-row errors are typed: a 50,000-row apply re-queues just its transient failures, and
    /// a saved report keeps what each error was.
    #[tokio::test]
    async fn per_row_errors_are_typed_and_just_the_transient_ones_are_requeued() {
        let p: Arc<dyn SimProvider> = Arc::new(Failing);
        let rows = ["ok-1", "flaky-1", "refused-1", "flaky-2"]
            .map(|id| Desired::new("failing", id).state(SimState::Active));
        let plan = Planner::new([p.clone()]).price(false).plan(rows).await;
        assert_eq!(plan.count(ActionKind::Change), 4);
        let report = Applier::new([p])
            .retry(RetryPolicy::none())
            .apply(&plan)
            .await;
        assert_eq!(
            (
                report.count(ApplyKind::Done),
                report.count(ApplyKind::Failed)
            ),
            (1, 3)
        );
        let again: Vec<usize> = report.retryable().map(|e| e.row).collect();
        assert_eq!(again, [1, 3], "only the 503s are worth queueing again");
        let refused = report.entries[2].outcome.error().unwrap();
        assert_eq!(
            (
                refused.status,
                refused.code,
                refused.sent,
                refused.retryable
            ),
            (Some(422), Some(42), Sent::Yes, false)
        );
        assert!(matches!(refused.error(), Some(Error::Api(api)) if api.status == 422));
        let flaky = report.entries[1].outcome.error().unwrap();
        assert_eq!((flaky.kind.as_str(), flaky.sent), ("api", Sent::Maybe));
        // A saved report keeps the facts; the typed error stays with this process.
        let saved: ApplyReport =
            serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
        assert_eq!(
            saved.entries.iter().map(|e| &e.outcome).collect::<Vec<_>>(),
            report
                .entries
                .iter()
                .map(|e| &e.outcome)
                .collect::<Vec<_>>()
        );
        assert!(saved.entries[2].outcome.error().unwrap().error().is_none());
        assert_eq!(saved.retryable().count(), 2);
    }

    /// Two providers that name themselves alike (a KORE and a Twilio Super SIM client) are
    /// never merged into whichever came last: every row naming them is refused, nothing sent.
    #[tokio::test]
    async fn two_providers_of_one_name_refuse_their_rows() {
        let one: Arc<dyn SimProvider> = Arc::new(Failing);
        let two: Arc<dyn SimProvider> = Arc::new(Failing);
        let rows = ["ok-1", "ok-2"].map(|id| Desired::new("failing", id).state(SimState::Active));
        let plan = Planner::new([one.clone(), two.clone()])
            .price(false)
            .plan(rows)
            .await;
        assert_eq!(plan.count(ActionKind::Refused), 2);
        let error = plan.entries[0].action.error().unwrap();
        assert_eq!((error.kind.as_str(), error.sent), ("config", Sent::No));
        assert!(
            error.message.contains("two providers named \"failing\""),
            "{error}"
        );
        let report = Applier::new([one, two]).apply(&plan).await;
        assert_eq!(report.count(ApplyKind::Refused), 2);
        assert_eq!(report.attempts, 0);
    }

    /// A provider that accepts every change to apply it later, and whose SIMs cannot be read
    /// once the change is accepted (every read after the first answers 401).
    #[derive(Debug, Default)]
    struct AcceptsThenHides {
        reads: AtomicUsize,
    }

    #[async_trait]
    impl SimProvider for AcceptsThenHides {
        fn name(&self) -> &'static str {
            "hides"
        }
        fn lifecycle(&self) -> Lifecycle<SimState> {
            Lifecycle::open("hides")
        }
        async fn fetch_with(
            &self,
            id: &str,
            _: &simcore::CallOptions,
        ) -> simcore::Result<SimSnapshot> {
            // The plan's read, then the applier's read before sending; then refused.
            if self.reads.fetch_add(1, Ordering::SeqCst) < 2 {
                return Ok(SimSnapshot::new("hides", id, SimState::Inactive));
            }
            Err(ApiError::new("hides", 401).with_message("expired").into())
        }
        async fn apply_with(
            &self,
            id: &str,
            _: &simcore::SimChange,
            _: &simcore::CallOptions,
        ) -> simcore::Result<ProviderApplied> {
            Ok(ProviderApplied::Pending(Some(SimSnapshot::new(
                "hides",
                id,
                SimState::Pending,
            ))))
        }
        fn list(&self, _: &ListOptions) -> simcore::SnapshotPages<'_> {
            simcore::SnapshotPages::new(stream::once(async {
                Err(Error::Config("this test provider does not list".into()))
            }))
        }
    }

    /// A read that fails while waiting for an accepted change is kept, typed, on the pending
    /// entry: never hidden, never turned into text alone.
    #[tokio::test]
    async fn a_read_failing_while_waiting_is_kept_on_the_pending_entry() {
        let p: Arc<dyn SimProvider> = Arc::new(AcceptsThenHides::default());
        let rows = [Desired::new("hides", "a").state(SimState::Active)];
        let plan = Planner::new([p.clone()]).price(false).plan(rows).await;
        let report = Applier::new([p])
            .wait(Duration::from_millis(300))
            .apply(&plan)
            .await;
        match &report.entries[0].outcome {
            ApplyOutcome::Pending {
                wait_error: Some(error),
            } => {
                assert_eq!((error.status, error.sent), (Some(401), Sent::Yes));
                assert!(error.error().is_some_and(Error::is_unauthorized));
            }
            other => panic!("expected pending with the read's error, got {other:?}"),
        }
        assert_eq!(report.count(ApplyKind::Pending), 1);
    }
}
