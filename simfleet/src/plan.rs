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

/// What reading a SIM gave.
#[derive(Debug, Clone)]
enum Read {
    Found(SimSnapshot),
    NotFound(RowError),
    /// Refused before sending (an id the provider cannot have).
    Refused(RowError),
    Failed(RowError),
}

/// Reads the current state of the SIMs named by `ids` at one provider, by the rule in the module
/// docs, and hands each answer to `answer` as soon as it is known, with every position of `ids`
/// it answers for (a SIM named twice, or by its SID and by its unique name, answers several) and
/// the position an earlier answer about the same SIM was given to, if any. Each position is
/// answered exactly once, the first of a group first. A listed SIM is dropped once answered, so a
/// plan never holds the whole listing.
async fn read_states(
    provider: &dyn SimProvider,
    ids: &[&str],
    options: ReadOptions,
    answer: &mut Answer<'_>,
) -> Reads {
    let mut reads = Reads::default();
    // Each distinct id with the first position naming it; later positions naming the same id
    // are answered with it.
    let mut first: HashMap<&str, usize> = HashMap::with_capacity(ids.len());
    let mut repeats: HashMap<usize, Vec<usize>> = HashMap::new();
    for (k, id) in ids.iter().enumerate() {
        match first.entry(id) {
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(k);
            }
            std::collections::hash_map::Entry::Occupied(o) => {
                repeats.entry(*o.get()).or_default().push(k);
            }
        }
    }
    let mut answered = vec![false; ids.len()];
    let mut group: Vec<usize> = Vec::new();
    // Puts `k` and the positions repeating its id into `group`, marked answered.
    let gather = |group: &mut Vec<usize>, answered: &mut [bool], k: usize| {
        group.push(k);
        answered[k] = true;
        if let Some(more) = repeats.get(&k) {
            for &r in more {
                group.push(r);
                answered[r] = true;
            }
        }
    };
    if ids.len() > options.fetch_at_most {
        // How many distinct ids are still to be answered.
        let mut wanted = first.len();
        // ListOptions is non-exhaustive outside simcore: set the field on the default.
        let mut list = ListOptions::new();
        list.page_size = options.page_size;
        let mut pages = provider.list(&list);
        // A page already asked for while the one before it was matched.
        let mut ahead: Option<Option<simcore::Result<Vec<SimSnapshot>>>> = None;
        // Attempts at the page being read.
        let mut attempt = 0;
        while wanted > 0 {
            let next = match ahead.take() {
                Some(next) => next,
                None => pages.next().await,
            };
            let Some(page) = next else {
                break;
            };
            let page = match page {
                Ok(page) => {
                    attempt = 0;
                    page
                }
                Err(e) => {
                    // A page that failed is read again within the retry policy, from that page
                    // on (from the start when the listing cannot say where it stood).
                    attempt += 1;
                    let Some(wait) =
                        simcore::retry::decide(&options.retry, attempt, &retry_outcome(&e))
                    else {
                        // A listing that fails for good (or that the provider does not offer)
                        // leaves the rest to single fetches.
                        break;
                    };
                    tokio::time::sleep(wait.sample(fastrand::f64())).await;
                    let mut again = list.clone();
                    again.resume = pages.position().cloned();
                    pages = provider.list(&again);
                    reads.pages_retried += 1;
                    continue;
                }
            };
            // Each SIM can answer for its id and its aliases at most: when the ids still wanted
            // outnumber those, another page is needed for certain, so it is asked for now and
            // travels while this one is matched (and never asked for when it is not needed).
            let can_answer: usize = page.iter().map(|s| 1 + s.aliases.len()).sum();
            if wanted > can_answer {
                ahead = std::future::poll_fn(|cx| {
                    std::task::Poll::Ready(match pages.poll_next_unpin(cx) {
                        std::task::Poll::Ready(next) => Some(next),
                        std::task::Poll::Pending => None,
                    })
                })
                .await;
            }
            reads.list_pages += 1;
            reads.listed += page.len() as u64;
            for snap in page {
                // Which wanted positions this SIM answers for: by its id, or by an alias.
                group.clear();
                for name in std::iter::once(&snap.id).chain(&snap.aliases) {
                    match first.get(name.as_str()) {
                        Some(&k) if !answered[k] => {
                            gather(&mut group, &mut answered, k);
                            wanted -= 1;
                        }
                        _ => {}
                    }
                }
                if !group.is_empty() {
                    group.sort_unstable();
                    answer(&group, None, &Read::Found(snap));
                }
            }
        }
    }
    // The rest, one fetch each.
    let mut missing: Vec<usize> = first.values().copied().filter(|&k| !answered[k]).collect();
    missing.sort_unstable();
    reads.fetches = missing.len() as u64;
    let mut fetched: Vec<(usize, Read)> = stream::iter(missing)
        .map(|k| async move {
            let read = match provider.fetch(ids[k]).await {
                Ok(s) => Read::Found(s),
                Err(e) if e.is_not_found() => Read::NotFound(e.into()),
                Err(e) if e.was_not_sent() => Read::Refused(e.into()),
                Err(e) => Read::Failed(e.into()),
            };
            (k, read)
        })
        .buffer_unordered(options.concurrency.max(1))
        .collect()
        .await;
    // Answered in the order of `ids`, whatever order the fetches ended in: the first row to
    // name a SIM is the first answered.
    fetched.sort_unstable_by_key(|(k, _)| *k);
    for (k, read) in fetched {
        group.clear();
        gather(&mut group, &mut answered, k);
        // A SIM fetched by one name may have been answered already under another (its SID
        // listed, say): the position that was answered first.
        let earlier = match &read {
            Read::Found(snap) => std::iter::once(&snap.id)
                .chain(&snap.aliases)
                .filter_map(|name| first.get(name.as_str()).copied())
                .filter(|&p| p != k && answered[p])
                .min(),
            _ => None,
        };
        answer(&group, earlier, &read);
    }
    reads
}

/// [`read_states`], each answer kept at every position it answers for.
async fn read_all(
    provider: &dyn SimProvider,
    ids: &[&str],
    options: ReadOptions,
) -> (Vec<Read>, Reads) {
    let mut found: Vec<Option<Read>> = vec![None; ids.len()];
    let reads = read_states(provider, ids, options, &mut |group, _, read| {
        for &k in group {
            found[k] = Some(read.clone());
        }
    })
    .await;
    let found = found
        .into_iter()
        .map(|r| {
            r.unwrap_or_else(|| {
                Read::Failed(Error::Config("the SIM was not read".to_owned()).into())
            })
        })
        .collect();
    (found, reads)
}

/// What [`read_states`] hands each answer to: the positions it answers for, the position an
/// earlier answer about the same SIM went to, and the answer.
type Answer<'a> = dyn FnMut(&[usize], Option<usize>, &Read) + Send + 'a;

/// How [`read_states`] reads.
#[derive(Debug, Clone)]
struct ReadOptions {
    fetch_at_most: usize,
    concurrency: usize,
    page_size: Option<u32>,
    /// How a failed page of a listing is tried again.
    retry: RetryPolicy,
}

/// Makes [`Plan`]s from desired states.
#[derive(Clone)]
pub struct Planner {
    providers: Providers,
    fetch_at_most: usize,
    concurrency: usize,
    page_size: Option<u32>,
    retry: RetryPolicy,
    books: PriceBooks,
    as_of: Option<chrono::NaiveDate>,
    price: bool,
}

impl fmt::Debug for Planner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Planner")
            .field(
                "providers",
                &self.providers.by_name.keys().collect::<Vec<_>>(),
            )
            .field("fetch_at_most", &self.fetch_at_most)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Planner {
    fn read_options(&self) -> ReadOptions {
        ReadOptions {
            fetch_at_most: self.fetch_at_most,
            concurrency: self.concurrency,
            page_size: self.page_size,
            retry: self.retry.clone(),
        }
    }

    /// A planner over these providers (each known by its [`SimProvider::name`]).
    pub fn new(providers: impl IntoIterator<Item = Arc<dyn SimProvider>>) -> Self {
        Self {
            providers: Providers::new(providers),
            fetch_at_most: 50,
            concurrency: 16,
            page_size: None,
            retry: RetryPolicy::default(),
            books: PriceBooks::new(),
            as_of: None,
            price: true,
        }
    }

    /// Fetches each SIM of a provider when the plan names at most `n` of them; lists the fleet
    /// otherwise (default 50; 0 always lists, `usize::MAX` never does).
    pub fn fetch_at_most(mut self, n: usize) -> Self {
        self.fetch_at_most = n;
        self
    }

    /// How many single fetches (and charge previews) run at once (default 16).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// The page size for listings (default: each provider's largest).
    pub fn page_size(mut self, n: u32) -> Self {
        self.page_size = Some(n);
        self
    }

    /// How a page of a listing that failed is tried again (default [`RetryPolicy::default`]):
    /// a page that fails with an error a retry may fix (a 429, a gateway error, a timeout) is
    /// read again after the policy's backoff, from that page on
    /// ([`SnapshotPages::position`](simcore::SnapshotPages::position)), never from the first;
    /// past the policy's attempts, the SIMs the listing did not reach are fetched one by one.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Prices the changes with these price books (per provider), on `as_of` (default: today).
    pub fn price_books(mut self, books: PriceBooks) -> Self {
        self.books = books;
        self
    }

    /// The day charges are reckoned on (default: today, UTC).
    pub fn as_of(mut self, day: chrono::NaiveDate) -> Self {
        self.as_of = Some(day);
        self
    }

    /// Whether to preview what each change costs (default on; a provider may read the SIM once
    /// more to price it).
    pub fn price(mut self, yes: bool) -> Self {
        self.price = yes;
        self
    }

    /// Reads the current states and plans every row: exactly one entry per row, in input order.
    pub async fn plan<I>(&self, rows: I) -> Plan
    where
        I: IntoIterator<Item = Desired>,
    {
        let mut rows: Vec<Desired> = rows.into_iter().collect();
        let mut actions: Vec<Option<Action>> = vec![None; rows.len()];
        let mut by_provider: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (row, d) in rows.iter_mut().enumerate() {
            if let Some(reason) = &d.refusal {
                // A line that could not be read: refused with its line, the others planned.
                actions[row] = Some(Action::Refused {
                    error: ValidationError::new(
                        "row",
                        reason.clone(),
                        "a line that could not be read",
                    )
                    .into(),
                });
                continue;
            }
            match resolve_provider(&self.providers, &d.provider) {
                Ok(name) => {
                    // The entry names the provider as it names itself (what apply looks up).
                    if d.provider != name {
                        d.provider = name.to_owned();
                    }
                    by_provider.entry(name).or_default().push(row);
                }
                Err(e) => actions[row] = Some(Action::Refused { error: e.into() }),
            }
        }
        let mut reads = BTreeMap::new();
        for (name, provider_rows) in by_provider {
            let provider = &self.providers[name];
            let ids: Vec<&str> = provider_rows.iter().map(|&r| rows[r].id.as_str()).collect();
            let mut to_price: Vec<(usize, SimChange)> = Vec::new();
            let price = self.price;
            // Each answer is decided as it comes, so the SIMs read are not held.
            let mut decide_each = |group: &[usize], earlier: Option<usize>, read: &Read| {
                for (n, &k) in group.iter().enumerate() {
                    let row = provider_rows[k];
                    let d = &rows[row];
                    let action = match read {
                        Read::NotFound(e) => Action::NotFound { error: e.clone() },
                        Read::Failed(e) => Action::ReadError { error: e.clone() },
                        Read::Refused(e) => Action::Refused { error: e.clone() },
                        Read::Found(snap) => {
                            // The row that first set this SIM, to catch rows that disagree.
                            let lead = earlier
                                .or((n > 0).then(|| group[0]))
                                .map(|p| provider_rows[p]);
                            let conflict = lead.filter(|&e| {
                                let e = &rows[e];
                                e.state != d.state || e.name != d.name
                            });
                            match conflict {
                                Some(lead) => Action::Refused {
                                    error: asks_something_else(lead + 1, &snap.id),
                                },
                                None => {
                                    let (action, change) = decide(&**provider, d, snap);
                                    if let (Some(change), true) = (change, price) {
                                        to_price.push((row, change));
                                    }
                                    action
                                }
                            }
                        }
                    };
                    actions[row] = Some(action);
                }
            };
            let r = read_states(&**provider, &ids, self.read_options(), &mut decide_each).await;
            reads.insert(name.to_owned(), r);
            if to_price.is_empty() {
                continue;
            }
            // Price the changes, a few at a time.
            let pricing = Pricing::new(
                self.books.for_provider(name),
                self.as_of
                    .unwrap_or_else(|| chrono::Utc::now().date_naive()),
            );
            let priced: Vec<(usize, Option<Estimate>)> = stream::iter(to_price)
                .map(|(row, change)| {
                    let (pricing, provider, id) = (&pricing, provider.clone(), &rows[row].id);
                    async move {
                        let charge = simcore::charge::preview(&*provider, id, &change, pricing)
                            .await
                            .ok();
                        (row, charge)
                    }
                })
                .buffer_unordered(self.concurrency)
                .collect()
                .await;
            for (row, estimate) in priced {
                if let Some(Action::Change { charge, .. }) = &mut actions[row] {
                    *charge = estimate.map(Box::new);
                }
            }
        }
        let mut plan = Plan {
            format: PLAN_FORMAT,
            created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            entries: rows
                .into_iter()
                .zip(actions)
                .enumerate()
                .map(|(row, (d, action))| Entry {
                    row,
                    provider: d.provider,
                    id: d.id,
                    action: action.unwrap_or_else(|| Action::ReadError {
                        error: Error::Config("the row was not planned".to_owned()).into(),
                    }),
                })
                .collect(),
            reads,
            digest: None,
        };
        plan.seal();
        plan
    }
}

/// The configured provider a row's provider names: the one whose [`SimProvider::name`] it is,
/// or the one its [`ProviderId`] stands for (any case, any alias; `supersim` for the one Super
/// SIM provider configured). `Err` says why none is.
fn resolve_provider<'a>(providers: &'a Providers, name: &str) -> Result<&'a str, Error> {
    let key = resolve_name(&providers.by_name, name)?;
    if providers.twice.contains(key) {
        return Err(Error::Config(format!(
            "two providers named {key:?} are configured (a KORE and a Twilio Super SIM client, \
             say): rows cannot tell them apart; plan each account with its own planner"
        )));
    }
    Ok(key)
}

/// The providers of a planner or an applier, by name; a name two of them give themselves is
/// refused for every row that names it, never served by whichever came last.
#[derive(Clone)]
struct Providers {
    by_name: BTreeMap<String, Arc<dyn SimProvider>>,
    twice: std::collections::BTreeSet<String>,
}

impl Providers {
    fn new(providers: impl IntoIterator<Item = Arc<dyn SimProvider>>) -> Self {
        let mut by_name = BTreeMap::new();
        let mut twice = std::collections::BTreeSet::new();
        for p in providers {
            let name = p.name().to_owned();
            if by_name.insert(name.clone(), p).is_some() {
                twice.insert(name);
            }
        }
        Self { by_name, twice }
    }
}

impl std::ops::Index<&str> for Providers {
    type Output = Arc<dyn SimProvider>;
    fn index(&self, name: &str) -> &Arc<dyn SimProvider> {
        &self.by_name[name]
    }
}

fn resolve_name<'a>(
    providers: &'a BTreeMap<String, Arc<dyn SimProvider>>,
    name: &str,
) -> Result<&'a str, Error> {
    if let Some((key, _)) = providers.get_key_value(name) {
        return Ok(key.as_str());
    }
    let known = || providers.keys().cloned().collect::<Vec<_>>().join(", ");
    let Some(id) = ProviderId::parse(name) else {
        return Err(Error::Config(format!(
            "no provider named {name:?} is configured (known: {})",
            known()
        )));
    };
    let mut matching = providers.keys().filter(|k| id.stands_for(k));
    match (matching.next(), matching.next()) {
        (Some(one), None) => Ok(one.as_str()),
        (Some(a), Some(b)) => Err(Error::Config(format!(
            "{name:?} stands for both {a} and {b}, which are configured: name one of them"
        ))),
        (None, _) => Err(Error::Config(format!(
            "no provider named {name:?} is configured (known: {})",
            known()
        ))),
    }
}

/// The refusal of a row that asks something else of a SIM than the row `lead` (1-based) did.
fn asks_something_else(lead: usize, sim: &str) -> RowError {
    ValidationError::new(
        "row",
        format!("row {lead} asks something else of the same SIM"),
        sim.to_owned(),
    )
    .into()
}

/// What a row asks of a SIM in `snap`: unchanged, a change (with the change to send), or refused.
fn decide(
    provider: &dyn SimProvider,
    d: &Desired,
    snap: &SimSnapshot,
) -> (Action, Option<SimChange>) {
    let state_ok = d.state.as_ref().is_none_or(|s| *s == snap.state);
    let name_ok = d
        .name
        .as_ref()
        .is_none_or(|n| snap.display_name.as_deref() == Some(n.as_str()));
    if d.state.is_none() && d.name.is_none() {
        return (
            Action::Refused {
                error: ValidationError::new("row", "must ask for a state or a name", "neither")
                    .into(),
            },
            None,
        );
    }
    if let Some(SimState::Unknown(word)) = &d.state {
        return (
            Action::Refused {
                error: ValidationError::new(
                    "state",
                    "must be a state (active, inactive, ready, retired, …)",
                    format!("{word:?}"),
                )
                .into(),
            },
            None,
        );
    }
    if state_ok && name_ok {
        return (
            Action::Unchanged {
                state: snap.state.clone(),
            },
            None,
        );
    }
    if snap.state == SimState::Pending {
        // A change in progress: a new one would be refused, and where the SIM settles is not
        // known yet.
        return (
            Action::InProgress {
                waits_for: waits_for(provider.name(), snap),
                to: d.state.clone(),
            },
            None,
        );
    }
    let mut change = SimChange::new().known_state(snap.state.clone());
    change.state = d.state.clone();
    if !name_ok {
        change.display_name = d.name.clone();
    }
    if let Err(e) = provider.validate(&d.id, &change) {
        return (Action::Refused { error: e.into() }, None);
    }
    let to = if state_ok { None } else { d.state.clone() };
    let rename = (!name_ok).then(|| Rename {
        from: snap.display_name.clone(),
        to: d
            .name
            .as_ref()
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default(),
    });
    (
        Action::Change {
            from: snap.state.clone(),
            to,
            rename,
            charge: None,
        },
        Some(change),
    )
}

/// What a [`Action::InProgress`] entry waits for, in words.
fn waits_for(provider: &str, snap: &SimSnapshot) -> String {
    match &snap.native_status {
        Some(word) => format!("the change in progress to settle ({provider} says {word:?})"),
        None => "the change in progress to settle".to_owned(),
    }
}

/// What applying one entry came to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum ApplyOutcome {
    /// Sent and applied.
    Done {
        /// Whether it was learnt by reading the SIM back (the answer did not say).
        verified: bool,
    },
    /// Sent and accepted; the provider applies it shortly (Super SIM's `scheduled`), and it had
    /// not settled when the report was made (see [`Applier::wait`]).
    Pending {
        /// Why waiting could not tell where it settled, when a read of the SIM failed while
        /// waiting (the change was accepted all the same).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_error: Option<RowError>,
    },
    /// A change that is not this row's was in progress on the SIM (the plan saw it, or apply
    /// found it): nothing sent. Plan again once it has settled, or apply with
    /// [`Applier::wait`].
    InProgress {
        /// What it waits for, in words.
        waits_for: String,
        /// Why waiting could not tell where it settled, when a read of the SIM failed while
        /// waiting.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        wait_error: Option<RowError>,
    },
    /// The plan said nothing needed doing: nothing sent.
    Unchanged,
    /// The SIM was found in the target state already when the plan was applied: nothing sent.
    AlreadyThere,
    /// The SIM is no longer in the state the plan saw: not touched.
    Stale {
        /// The state the plan saw.
        planned: SimState,
        /// The state it is in now.
        found: SimState,
    },
    /// Refused before sending (by the plan, or when applying).
    Refused {
        /// Why.
        error: RowError,
    },
    /// Sent and failed, after the retries the policy allows and a read back.
    Failed {
        /// The error ([`RowError::is_retryable`] says whether to queue it again).
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

impl ApplyOutcome {
    /// Which kind of outcome it is, for counting ([`ApplyReport::count`]).
    pub fn kind(&self) -> ApplyKind {
        match self {
            ApplyOutcome::Done { .. } => ApplyKind::Done,
            ApplyOutcome::Pending { .. } => ApplyKind::Pending,
            ApplyOutcome::InProgress { .. } => ApplyKind::InProgress,
            ApplyOutcome::Unchanged => ApplyKind::Unchanged,
            ApplyOutcome::AlreadyThere => ApplyKind::AlreadyThere,
            ApplyOutcome::Stale { .. } => ApplyKind::Stale,
            ApplyOutcome::Refused { .. } => ApplyKind::Refused,
            ApplyOutcome::Failed { .. } => ApplyKind::Failed,
            ApplyOutcome::NotFound { .. } => ApplyKind::NotFound,
            ApplyOutcome::ReadError { .. } => ApplyKind::ReadError,
        }
    }

    /// The error of a refused, failed, not-found or unread entry.
    pub fn error(&self) -> Option<&RowError> {
        match self {
            ApplyOutcome::Refused { error }
            | ApplyOutcome::Failed { error }
            | ApplyOutcome::NotFound { error }
            | ApplyOutcome::ReadError { error } => Some(error),
            _ => None,
        }
    }

    /// A short word: `"done"`, `"pending"`, `"in progress"`, `"unchanged"`, `"already there"`,
    /// `"stale"`, `"refused"`, `"failed"`, `"not found"`, `"read error"`.
    pub fn label(&self) -> &'static str {
        match self {
            ApplyOutcome::Done { .. } => "done",
            ApplyOutcome::Pending { .. } => "pending",
            ApplyOutcome::InProgress { .. } => "in progress",
            ApplyOutcome::Unchanged => "unchanged",
            ApplyOutcome::AlreadyThere => "already there",
            ApplyOutcome::Stale { .. } => "stale",
            ApplyOutcome::Refused { .. } => "refused",
            ApplyOutcome::Failed { .. } => "failed",
            ApplyOutcome::NotFound { .. } => "not found",
            ApplyOutcome::ReadError { .. } => "read error",
        }
    }
}

/// The kinds of [`ApplyOutcome`], to count a report's entries by:
/// `report.count(ApplyKind::Failed)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ApplyKind {
    /// [`ApplyOutcome::Done`].
    Done,
    /// [`ApplyOutcome::Pending`].
    Pending,
    /// [`ApplyOutcome::InProgress`].
    InProgress,
    /// [`ApplyOutcome::Unchanged`].
    Unchanged,
    /// [`ApplyOutcome::AlreadyThere`].
    AlreadyThere,
    /// [`ApplyOutcome::Stale`].
    Stale,
    /// [`ApplyOutcome::Refused`].
    Refused,
    /// [`ApplyOutcome::Failed`].
    Failed,
    /// [`ApplyOutcome::NotFound`].
    NotFound,
    /// [`ApplyOutcome::ReadError`].
    ReadError,
}

/// One entry of a plan, applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedEntry {
    /// The row (0-based).
    pub row: usize,
    /// The provider.
    pub provider: String,
    /// The SIM's id.
    pub id: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: ApplyOutcome,
    /// The other rows (0-based) that asked the same of the same SIM: one write served them all,
    /// and each has this outcome.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub same_write: Vec<usize>,
}

/// What applying a plan did: one entry per plan entry, in row order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApplyReport {
    /// One per plan entry, in row order.
    pub entries: Vec<AppliedEntry>,
    /// Update requests sent in all (retries included).
    pub attempts: u64,
    /// 429 answers seen.
    pub throttled: u64,
    /// How the states were read again before sending.
    pub reads: BTreeMap<String, Reads>,
    /// How long it took.
    #[serde(with = "secs")]
    pub elapsed: Duration,
}

mod secs {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Ok(Duration::from_secs_f64(v.max(0.0)))
    }
}

impl ApplyReport {
    /// How many entries came to an outcome of this kind.
    pub fn count(&self, kind: ApplyKind) -> usize {
        self.entries
            .iter()
            .filter(|e| e.outcome.kind() == kind)
            .count()
    }

    /// The entries that failed in a way retrying may help (a timeout, a 429, a 5xx): the rows
    /// to queue again.
    pub fn retryable(&self) -> impl Iterator<Item = &AppliedEntry> {
        self.entries
            .iter()
            .filter(|e| e.outcome.error().is_some_and(RowError::is_retryable))
    }
}

impl fmt::Display for ApplyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for e in &self.entries {
            *counts.entry(e.outcome.label()).or_default() += 1;
        }
        let verified = self
            .entries
            .iter()
            .filter(|e| matches!(e.outcome, ApplyOutcome::Done { verified: true }))
            .count();
        let parts: Vec<String> = counts.iter().map(|(k, v)| format!("{v} {k}")).collect();
        write!(f, "{} rows: {}", self.entries.len(), parts.join(", "))?;
        if verified > 0 {
            write!(f, " ({verified} of the done verified by reading back)")?;
        }
        let shared = self
            .entries
            .iter()
            .filter(|e| !e.same_write.is_empty())
            .count();
        if shared > 0 {
            write!(
                f,
                "; {shared} rows asked the same of a SIM as another row and shared its write"
            )?;
        }
        write!(
            f,
            "; {} update requests, {} throttled, {:.1}s",
            self.attempts,
            self.throttled,
            self.elapsed.as_secs_f64()
        )
    }
}

/// The progress callback of [`Applier`]: entries finished so far, and the total.
pub type ApplyProgress = Arc<dyn Fn(usize, usize) + Send + Sync>;

/// Applies [`Plan`]s.
///
/// # What a saved plan protects against, and what it does not
/// A plan saved with [`Plan::to_json`] and applied later is applied with these guarantees:
/// - **Only what is still as the plan saw it is sent.** Every SIM is read again first; a SIM
///   that moved since is [`Stale`](ApplyOutcome::Stale) and untouched, one already as asked is
///   [`AlreadyThere`](ApplyOutcome::AlreadyThere), one with a change in progress is
///   [`InProgress`](ApplyOutcome::InProgress).
/// - **An entry is applied whole or refused whole.** Each change entry is rebuilt as a whole
///   change (its state and its name) and checked by the provider's rules before anything is
///   sent: an entry any part of which the rules refuse (an edited name, a target the lifecycle
///   forbids) is [`Refused`](ApplyOutcome::Refused) with the rule, and nothing of it is sent.
/// - **An edited plan is refused.** The planner seals its entries with a digest
///   ([`Plan::digest`]); a plan whose entries no longer match it (or that has none) is refused
///   whole, every entry [`Refused`](ApplyOutcome::Refused) and nothing sent, unless
///   [`allow_edited`](Applier::allow_edited) says to apply it anyway (each entry then still
///   passes the provider's rules, as above).
/// - **Rows that ask the same of one SIM are one write**, whatever id each names it by; rows
///   that ask different things of one SIM are refused but the first.
///
/// It does not protect against:
/// - a deliberate edit: the digest is no signature, and whoever can edit the file can compute it
///   again ([`Plan::seal`]); keep plans where only those who may apply them can write;
/// - a change made by someone else between the read and the write of one SIM (the plan holds no
///   lock at the provider);
/// - charges: they are as of planning, and are not priced again;
/// - rows the plan does not have: an edit that removes an entry removes its change (the digest
///   refuses such a plan, unless allowed).
#[derive(Clone)]
pub struct Applier {
    providers: Providers,
    concurrency: usize,
    retry: RetryPolicy,
    fetch_at_most: usize,
    page_size: Option<u32>,
    progress: Option<ApplyProgress>,
    wait: Option<Duration>,
    allow_edited: bool,
}

impl fmt::Debug for Applier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Applier")
            .field(
                "providers",
                &self.providers.by_name.keys().collect::<Vec<_>>(),
            )
            .field("concurrency", &self.concurrency)
            .field("retry", &self.retry)
            .field("wait", &self.wait)
            .field("allow_edited", &self.allow_edited)
            .finish_non_exhaustive()
    }
}

/// The rows of one write: the SIM, the change, and every row (plan entry index) asking it.
struct Write {
    id: String,
    change: SimChange,
    target: Option<SimState>,
    ks: Vec<usize>,
}

/// What one provider's part of a plan came to: outcomes by entry index, and the rows that
/// shared a write.
struct ProviderRun {
    outcomes: Vec<(usize, ApplyOutcome)>,
    same_write: Vec<(usize, Vec<usize>)>,
    reads: Reads,
    attempts: u64,
    throttled: u64,
}

impl Applier {
    fn read_options(&self) -> ReadOptions {
        ReadOptions {
            fetch_at_most: self.fetch_at_most,
            concurrency: self.concurrency,
            page_size: self.page_size,
            retry: self.retry.clone(),
        }
    }

    /// An applier over these providers.
    pub fn new(providers: impl IntoIterator<Item = Arc<dyn SimProvider>>) -> Self {
        Self {
            providers: Providers::new(providers),
            concurrency: 16,
            retry: RetryPolicy::default(),
            fetch_at_most: 50,
            page_size: None,
            progress: None,
            wait: None,
            allow_edited: false,
        }
    }

    /// Updates in flight at once, per provider (default 16).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.concurrency = n.max(1);
        self
    }

    /// How each update is retried (see [`BulkUpdater::retry`]).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// The rule for reading the states again (see [`Planner::fetch_at_most`]).
    pub fn fetch_at_most(mut self, n: usize) -> Self {
        self.fetch_at_most = n;
        self
    }

    /// Waits up to `deadline` for the changes the run leaves in progress to settle before it
    /// reports: its own changes the provider accepted to apply later (Super SIM's `202
    /// scheduled`), and changes it found in progress (the plan's [`Action::InProgress`] entries, or
    /// a SIM found pending when read again). Each is polled with a capped, jittered backoff
    /// ([`simcore::wait`]). A change of the run that settles as asked is
    /// [`Done`](ApplyOutcome::Done) (`verified`: read back), one that settles elsewhere is
    /// [`Failed`](ApplyOutcome::Failed), one still in progress at the deadline stays
    /// [`Pending`](ApplyOutcome::Pending); a change found in progress that settles as the row
    /// asks is [`AlreadyThere`](ApplyOutcome::AlreadyThere), elsewhere
    /// [`Stale`](ApplyOutcome::Stale) (plan again). Default: no wait.
    pub fn wait(mut self, deadline: Duration) -> Self {
        self.wait = Some(deadline);
        self
    }

    /// Applies a plan whose entries no longer match its digest (an edited plan, or one without a
    /// digest) rather than refuse it whole (default: refuse). Each entry is still applied whole
    /// or refused whole by the provider's rules.
    pub fn allow_edited(mut self, yes: bool) -> Self {
        self.allow_edited = yes;
        self
    }

    /// Calls `f` with (finished, total) as entries finish.
    pub fn on_progress(mut self, f: impl Fn(usize, usize) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Applies the plan's changes; every entry gets exactly one outcome (see the module docs and
    /// [what a saved plan protects against](Applier#what-a-saved-plan-protects-against-and-what-it-does-not)).
    pub async fn apply(&self, plan: &Plan) -> ApplyReport {
        let start = Instant::now();
        let total = plan.entries.len();
        let mut out: Vec<Option<ApplyOutcome>> = vec![None; total];
        let mut same: Vec<Vec<usize>> = vec![Vec::new(); total];
        let mut finished = 0usize;
        let tick = |finished: usize| {
            if let Some(p) = &self.progress {
                p(finished, total);
            }
        };
        let mut report = ApplyReport::default();
        if plan.is_edited() && !self.allow_edited {
            let error: RowError = Error::Config(match &plan.digest {
                Some(_) => "the plan was edited after it was made (its entries do not match its digest): nothing was sent; plan again, or apply it anyway with allow_edited".to_owned(),
                None => "the plan carries no digest of its entries, so an edit cannot be told: nothing was sent; plan again, or apply it anyway with allow_edited".to_owned(),
            })
            .into();
            report.entries = plan
                .entries
                .iter()
                .map(|e| AppliedEntry {
                    row: e.row,
                    provider: e.provider.clone(),
                    id: e.id.clone(),
                    outcome: ApplyOutcome::Refused {
                        error: error.clone(),
                    },
                    same_write: Vec::new(),
                })
                .collect();
            tick(total);
            report.elapsed = start.elapsed();
            return report;
        }
        let done = std::sync::atomic::AtomicUsize::new(0);
        // What the plan already settled; the rest by provider.
        let mut work: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (k, e) in plan.entries.iter().enumerate() {
            let settled = match &e.action {
                Action::Unchanged { .. } => Some(ApplyOutcome::Unchanged),
                Action::Refused { error } => Some(ApplyOutcome::Refused {
                    error: error.clone(),
                }),
                Action::NotFound { error } => Some(ApplyOutcome::NotFound {
                    error: error.clone(),
                }),
                Action::ReadError { error } => Some(ApplyOutcome::ReadError {
                    error: error.clone(),
                }),
                Action::InProgress { waits_for, .. } if self.wait.is_none() => {
                    Some(ApplyOutcome::InProgress {
                        waits_for: waits_for.clone(),
                        wait_error: None,
                    })
                }
                Action::Change { .. } | Action::InProgress { .. } => {
                    match resolve_provider(&self.providers, &e.provider) {
                        Ok(name) => {
                            work.entry(name).or_default().push(k);
                            None
                        }
                        Err(e) => Some(ApplyOutcome::Refused { error: e.into() }),
                    }
                }
            };
            if let Some(o) = settled {
                out[k] = Some(o);
                finished += 1;
            }
        }
        tick(finished);
        done.store(finished, std::sync::atomic::Ordering::Relaxed);
        let runs = work.into_iter().map(|(name, ks)| {
            let provider = self.providers[name].clone();
            let done = &done;
            async move {
                let result = self
                    .apply_provider(plan, provider, ks, &|| {
                        let n = done.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                        if let Some(p) = &self.progress {
                            p(n, total);
                        }
                    })
                    .await;
                (name, result)
            }
        });
        let results = futures_util::future::join_all(runs).await;
        for (name, run) in results {
            report.reads.insert(name.to_owned(), run.reads);
            report.attempts += run.attempts;
            report.throttled += run.throttled;
            for (k, o) in run.outcomes {
                out[k] = Some(o);
            }
            for (k, others) in run.same_write {
                same[k] = others;
            }
        }
        report.entries = plan
            .entries
            .iter()
            .zip(out)
            .zip(same)
            .map(|((e, o), same_write)| AppliedEntry {
                row: e.row,
                provider: e.provider.clone(),
                id: e.id.clone(),
                outcome: o.unwrap_or_else(|| ApplyOutcome::ReadError {
                    error: Error::Config("the entry was not applied".to_owned()).into(),
                }),
                same_write: same_write
                    .into_iter()
                    .map(|k| plan.entries[k].row)
                    .collect(),
            })
            .collect();
        report.elapsed = start.elapsed();
        report
    }

    /// The entries `ks` of one provider (changes, and pending entries when waiting): read
    /// again, send what is still as planned, once per SIM, then wait if asked.
    async fn apply_provider(
        &self,
        plan: &Plan,
        provider: Arc<dyn SimProvider>,
        ks: Vec<usize>,
        tick: &(dyn Fn() + Sync),
    ) -> ProviderRun {
        let mut outcomes: Vec<(usize, ApplyOutcome)> = Vec::with_capacity(ks.len());
        // Each change entry whole, checked by the provider's rules before anything is read or
        // sent: refused whole, or kept whole.
        let mut to_read: Vec<(usize, Option<SimChange>)> = Vec::with_capacity(ks.len());
        for &k in &ks {
            let e = &plan.entries[k];
            match &e.action {
                Action::Change {
                    from, to, rename, ..
                } => match whole_change(&*provider, &e.id, from, to.as_ref(), rename.as_ref()) {
                    Ok(change) => to_read.push((k, Some(change))),
                    Err(e) => outcomes.push((k, ApplyOutcome::Refused { error: e.into() })),
                },
                _ => to_read.push((k, None)),
            }
        }
        let ids: Vec<&str> = to_read
            .iter()
            .map(|(k, _)| plan.entries[*k].id.as_str())
            .collect();
        let (now, reads) = read_all(&*provider, &ids, self.read_options()).await;
        // One write per SIM and ask; the first row asking something of a SIM decides it.
        let mut writes: Vec<Write> = Vec::new();
        let mut by_sim: HashMap<String, usize> = HashMap::new();
        // Entries to wait for: (entry, SIM id, the state asked, whether the run sent it).
        let mut to_wait: Vec<(usize, String, Option<SimState>, Option<SimState>)> = Vec::new();
        for ((k, change), read) in to_read.into_iter().zip(now) {
            let e = &plan.entries[k];
            let snap = match read {
                Read::Found(snap) => snap,
                Read::NotFound(error) => {
                    outcomes.push((k, ApplyOutcome::NotFound { error }));
                    continue;
                }
                Read::Failed(error) => {
                    outcomes.push((k, ApplyOutcome::ReadError { error }));
                    continue;
                }
                Read::Refused(error) => {
                    outcomes.push((k, ApplyOutcome::Refused { error }));
                    continue;
                }
            };
            let Some(mut change) = change else {
                // A pending entry of the plan, read again while waiting is asked for.
                let to = match &e.action {
                    Action::InProgress { to, .. } => to.clone(),
                    _ => None,
                };
                if snap.state == SimState::Pending {
                    to_wait.push((k, snap.id.clone(), to, Some(SimState::Pending)));
                } else {
                    outcomes.push((k, settled_elsewhere(to.as_ref(), &SimState::Pending, &snap)));
                }
                continue;
            };
            let Action::Change { from, to, .. } = &e.action else {
                continue;
            };
            let state_there = to.as_ref().is_none_or(|t| *t == snap.state);
            let name_there = change
                .display_name
                .as_ref()
                .is_none_or(|n| snap.display_name.as_deref() == Some(n.as_str()));
            if state_there && name_there {
                outcomes.push((k, ApplyOutcome::AlreadyThere));
                continue;
            }
            if snap.state == SimState::Pending {
                if self.wait.is_some() {
                    to_wait.push((k, snap.id.clone(), to.clone(), Some(from.clone())));
                } else {
                    outcomes.push((
                        k,
                        ApplyOutcome::InProgress {
                            waits_for: waits_for(provider.name(), &snap),
                            wait_error: None,
                        },
                    ));
                }
                continue;
            }
            if snap.state != *from {
                outcomes.push((
                    k,
                    ApplyOutcome::Stale {
                        planned: from.clone(),
                        found: snap.state.clone(),
                    },
                ));
                continue;
            }
            if name_there {
                change.display_name = None;
            }
            match by_sim.get(&snap.id) {
                Some(&w)
                    if writes[w].change.state == change.state
                        && writes[w].change.display_name == change.display_name =>
                {
                    writes[w].ks.push(k);
                }
                Some(&w) => outcomes.push((
                    k,
                    ApplyOutcome::Refused {
                        error: asks_something_else(plan.entries[writes[w].ks[0]].row + 1, &snap.id),
                    },
                )),
                None => {
                    by_sim.insert(snap.id.clone(), writes.len());
                    writes.push(Write {
                        id: e.id.clone(),
                        target: to.clone(),
                        change,
                        ks: vec![k],
                    });
                }
            }
        }
        for _ in 0..outcomes.len() {
            tick();
        }
        let updater = BulkUpdater::new(provider.clone())
            .concurrency(self.concurrency)
            .retry(self.retry.clone());
        let items: Vec<BulkItem> = writes
            .iter()
            .map(|w| BulkItem::new(w.id.clone(), w.change.clone()))
            .collect();
        let mut sent: Vec<(usize, ApplyOutcome)> = Vec::with_capacity(items.len());
        let waiting = self.wait.is_some();
        let bulk = updater
            .run_with(stream::iter(items), |o| {
                let outcome = match &o.outcome {
                    BulkOutcome::Done(_) => ApplyOutcome::Done { verified: false },
                    BulkOutcome::Verified(_) => ApplyOutcome::Done { verified: true },
                    BulkOutcome::Pending(_) => ApplyOutcome::Pending { wait_error: None },
                    BulkOutcome::Unchanged => ApplyOutcome::AlreadyThere,
                    BulkOutcome::Refused(e) => ApplyOutcome::Refused {
                        error: e.clone().into(),
                    },
                    BulkOutcome::Failed(e) => ApplyOutcome::Failed {
                        error: e.clone().into(),
                    },
                    BulkOutcome::WouldApply { .. } => ApplyOutcome::Failed {
                        error: Error::Config("a dry run's outcome in a run that sends".to_owned())
                            .into(),
                    },
                };
                if !(waiting && outcome.kind() == ApplyKind::Pending) {
                    for _ in &writes[o.index].ks {
                        tick();
                    }
                }
                sent.push((o.index, outcome));
            })
            .await;
        let mut same_write = Vec::new();
        for (w, outcome) in sent {
            let write = &writes[w];
            if write.ks.len() > 1 {
                for &k in &write.ks {
                    let others = write.ks.iter().copied().filter(|&o| o != k).collect();
                    same_write.push((k, others));
                }
            }
            if waiting && outcome.kind() == ApplyKind::Pending {
                for &k in &write.ks {
                    to_wait.push((k, write.id.clone(), write.target.clone(), None));
                }
                continue;
            }
            for &k in &write.ks {
                outcomes.push((k, outcome.clone()));
            }
        }
        if let Some(deadline) = self.wait {
            let waited = self.wait_for(&*provider, to_wait, deadline).await;
            for o in waited {
                outcomes.push(o);
                tick();
            }
        }
        ProviderRun {
            outcomes,
            same_write,
            reads,
            attempts: bulk.attempts,
            throttled: bulk.throttled as u64,
        }
    }

    /// Waits, up to `deadline` in all, for each SIM of `entries` to leave
    /// [`SimState::Pending`], and says what each entry came to: `(entry, SIM id, the state
    /// asked, None for a change of the run or Some(the state the plan saw) for one found in
    /// progress)`.
    async fn wait_for(
        &self,
        provider: &dyn SimProvider,
        entries: Vec<(usize, String, Option<SimState>, Option<SimState>)>,
        deadline: Duration,
    ) -> Vec<(usize, ApplyOutcome)> {
        let end = Instant::now() + deadline;
        // One poll per SIM, however many entries wait for it.
        let mut sims: Vec<String> = entries.iter().map(|e| e.1.clone()).collect();
        sims.sort();
        sims.dedup();
        let settled: HashMap<String, simcore::Result<SimSnapshot>> = stream::iter(sims)
            .map(|id| async move {
                let left = end.saturating_duration_since(Instant::now());
                let options = simcore::wait::WaitOptions::default()
                    .first_delay(WAIT_FIRST_DELAY.min(left / 4).max(Duration::from_millis(1)))
                    .deadline(left);
                let r = simcore::wait::until_settled(provider, &id, &options).await;
                (id, r)
            })
            .buffer_unordered(self.concurrency)
            .collect()
            .await;
        entries
            .into_iter()
            .map(|(k, id, asked, found_in_progress)| {
                let outcome = match (settled.get(&id), found_in_progress) {
                    // A change of the run.
                    (Some(Ok(snap)), None) => match &asked {
                        Some(t) if *t != snap.state => ApplyOutcome::Failed {
                            error: RowError::settled_elsewhere(&snap.state, t),
                        },
                        _ => ApplyOutcome::Done { verified: true },
                    },
                    // Not settled in time: still pending. A read that failed while waiting
                    // is kept, typed: the change was accepted all the same.
                    (Some(Err(e)), None) => ApplyOutcome::Pending {
                        wait_error: wait_error(e),
                    },
                    (None, None) => ApplyOutcome::Pending { wait_error: None },
                    // A change found in progress.
                    (Some(Ok(snap)), Some(planned)) => {
                        settled_elsewhere(asked.as_ref(), &planned, snap)
                    }
                    (Some(Err(e)), Some(_)) => ApplyOutcome::InProgress {
                        waits_for: format!("the change in progress to settle ({e})"),
                        wait_error: wait_error(e),
                    },
                    (None, Some(_)) => ApplyOutcome::InProgress {
                        waits_for: "the change in progress to settle".to_owned(),
                        wait_error: None,
                    },
                };
                (k, outcome)
            })
            .collect()
    }
}

/// What a wait that ended in `e` keeps of it: nothing when the change simply had not settled in
/// time ([`Error::NotSettled`]: still pending), the typed error when a read failed.
fn wait_error(e: &Error) -> Option<RowError> {
    (!matches!(e, Error::NotSettled { .. })).then(|| e.clone().into())
}

/// The first pause of [`Applier::wait`]'s polls (each pause doubles, up to 30 s).
const WAIT_FIRST_DELAY: Duration = Duration::from_millis(250);

/// What an entry comes to when the change in progress it waited for has settled at
/// `snap.state`: already there when that is what the row asks, stale otherwise (plan again).
fn settled_elsewhere(
    asked: Option<&SimState>,
    planned: &SimState,
    snap: &SimSnapshot,
) -> ApplyOutcome {
    match asked {
        Some(t) if *t == snap.state => ApplyOutcome::AlreadyThere,
        _ => ApplyOutcome::Stale {
            planned: planned.clone(),
            found: snap.state.clone(),
        },
    }
}

/// A change entry as one whole change, checked by the provider's rules (nothing is sent): `Err`
/// with the rule when any part of it is refused.
fn whole_change(
    provider: &dyn SimProvider,
    id: &str,
    from: &SimState,
    to: Option<&SimState>,
    rename: Option<&Rename>,
) -> Result<SimChange, Error> {
    let mut change = SimChange::new().known_state(from.clone());
    change.state = to.cloned();
    if let Some(r) = rename {
        change.display_name = Some(SimName::parse(&r.to)?);
    }
    if change.is_empty() {
        return Err(
            ValidationError::new("entry", "must ask for a state or a name", "neither").into(),
        );
    }
    if let Some(SimState::Unknown(word)) = &change.state {
        return Err(ValidationError::new(
            "state",
            "must be a state (active, inactive, ready, retired, …)",
            format!("{word:?}"),
        )
        .into());
    }
    provider.validate(id, &change)?;
    Ok(change)
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
