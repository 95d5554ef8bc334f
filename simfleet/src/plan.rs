//! Fleets in desired state: plan, review, apply, re-run safely.
//!
//! Operators think in desired states ("these 40,000 SIMs active, those suspended"), not in single
//! calls. A [`Planner`] reads the SIMs' current states (listing a provider's fleet when the plan
//! covers many of its SIMs, fetching each when it covers few) and produces a [`Plan`]: for each
//! input row exactly one [`Entry`], saying what would happen and why, with per-provider totals
//! and what each change would cost where the provider can price it. A plan prints as a table,
//! serialises to JSON, and can be saved, reviewed and applied later.
//!
//! [`Applier::apply`] runs a plan's changes through the [bulk updater](crate::bulk): it first
//! reads the SIMs again and sends a change only to a SIM still in the state the plan saw (one
//! changed behind the plan's back is reported [`ApplyOutcome::Stale`] and not touched; one
//! already in the target state is [`ApplyOutcome::AlreadyThere`], nothing sent). An answer that
//! does not say whether a change was applied is settled by reading the SIM back. Re-running the
//! same desired state after an interruption converges: what is done reads as unchanged and
//! sends nothing, so only what is left is sent.
//!
//! ```
//! use std::sync::Arc;
//! use simfleet::plan::{Desired, Planner, Applier};
//! use simcore::SimState;
//! # use simcore::{Applied, Lifecycle, SimChange, SimProvider, SimSnapshot};
//! # #[derive(Debug, Default)] struct Fake(std::sync::Mutex<std::collections::HashMap<String, SimState>>);
//! # #[async_trait::async_trait]
//! # impl SimProvider for Fake {
//! #     fn name(&self) -> &'static str { "fake" }
//! #     fn lifecycle(&self) -> Lifecycle<SimState> { Lifecycle::open("fake") }
//! #     async fn fetch(&self, id: &str) -> simcore::Result<SimSnapshot> {
//! #         let s = self.0.lock().unwrap().get(id).cloned().unwrap_or(SimState::Inactive);
//! #         Ok(SimSnapshot::new("fake", id, s))
//! #     }
//! #     async fn apply(&self, id: &str, c: &SimChange) -> simcore::Result<Applied> {
//! #         self.0.lock().unwrap().insert(id.to_owned(), c.state.clone().unwrap());
//! #         Ok(Applied::DoneWithoutBody)
//! #     }
//! # }
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let provider: Arc<dyn SimProvider> = Arc::new(Fake::default());
//! let planner = Planner::new([provider.clone()]);
//! let rows = ["a", "b"].map(|id| Desired::new("fake", id).state(SimState::Active));
//! let plan = planner.plan(rows).await;
//! assert_eq!(plan.entries.len(), 2);
//! assert_eq!(plan.count("change"), 2);
//! let saved = plan.to_json()?;                      // review it, keep it...
//! let plan = simfleet::plan::Plan::from_json(&saved)?; // ...and apply it later
//! let report = Applier::new([provider]).apply(&plan).await;
//! assert_eq!(report.count("done"), 2);
//! // The same desired state again: nothing left to do, nothing sent.
//! let again = planner.plan(["a", "b"].map(|id| Desired::new("fake", id).state(SimState::Active))).await;
//! assert_eq!(again.count("unchanged"), 2);
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
//! provider that cannot list is read by fetching. [`Plan::reads`] says what was done.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde::{Deserialize, Serialize};

use crate::bulk::{BulkItem, BulkUpdater, Outcome as BulkOutcome};
use crate::charge::ChargeTotal;
use simcore::charge::{Estimate, PriceBooks, Pricing};
use simcore::error::Error;
use simcore::provider::{ListOptions, SimChange, SimProvider, SimSnapshot};
use simcore::retry::RetryPolicy;
use simcore::state::SimState;
use simcore::validate::SimName;

/// The version of the plan format [`Plan::to_json`] writes.
pub const PLAN_FORMAT: u32 = 1;

/// One row of a desired state: a SIM of a provider, and the state (and name) it should have.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Desired {
    /// The provider's name (`"twilio"`, `"kore"`, `"emnify"`, `"sixfab"`, `"edgeiq"`).
    pub provider: String,
    /// The provider's id for the SIM.
    pub id: String,
    /// The state it should be in; `None` leaves the state alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SimState>,
    /// The name it should have; `None` leaves the name alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<SimName>,
}

impl Desired {
    /// A row for `id` at `provider` that asks for nothing yet.
    pub fn new(provider: impl Into<String>, id: impl Into<String>) -> Self {
        Self {
            provider: provider.into(),
            id: id.into(),
            state: None,
            name: None,
        }
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

    /// Reads rows from CSV with a header: `provider,id,target` and an optional `name` column
    /// (`target` a canonical state word: `active`, `inactive`, `ready`, `retired`; empty leaves
    /// the state alone). Feature `csv`.
    ///
    /// A row that cannot be read is an [`Error::Invalid`] naming its line.
    #[cfg(feature = "csv")]
    #[cfg_attr(docsrs, doc(cfg(feature = "csv")))]
    pub fn from_csv(reader: impl std::io::Read) -> simcore::Result<Vec<Desired>> {
        use simcore::validate::ValidationError;
        let mut rows = Vec::new();
        let mut csv = csv::ReaderBuilder::new()
            .trim(csv::Trim::All)
            .from_reader(reader);
        let headers = csv
            .headers()
            .map_err(|e| Error::Config(format!("the CSV has no header line: {e}")))?
            .clone();
        let col = |name: &str| headers.iter().position(|h| h.eq_ignore_ascii_case(name));
        let (Some(p), Some(i)) = (col("provider"), col("id")) else {
            return Err(Error::Config(
                "the CSV header must name the columns provider, id and target (and optionally name)"
                    .to_owned(),
            ));
        };
        let (t, n) = (col("target").or_else(|| col("state")), col("name"));
        for (k, record) in csv.records().enumerate() {
            let line = k + 2;
            let record = record.map_err(|e| {
                ValidationError::new("csv", format!("line {line} cannot be read"), e.to_string())
            })?;
            let cell = |c: Option<usize>| c.and_then(|c| record.get(c)).unwrap_or("");
            let mut row = Desired::new(cell(Some(p)), cell(Some(i)));
            if !cell(t).is_empty() {
                row.state = Some(SimState::from_word(cell(t)));
            }
            if !cell(n).is_empty() {
                row.name = Some(SimName::parse(cell(n)).map_err(|e| {
                    ValidationError::new("csv", format!("line {line}: {}", e.rule()), e.found())
                })?);
            }
            rows.push(row);
        }
        Ok(rows)
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
    /// Refused before anything would be sent: the row asks for what the provider's rules forbid.
    Refused {
        /// Why, in words (the field and the rule).
        reason: String,
    },
    /// The provider knows no such SIM.
    NotFound {
        /// The provider's answer.
        reason: String,
    },
    /// The SIM's state could not be read.
    ReadError {
        /// What went wrong.
        reason: String,
    },
}

impl Action {
    /// A short word for it: `"unchanged"`, `"change"`, `"refused"`, `"not found"`, `"read
    /// error"`.
    pub fn label(&self) -> &'static str {
        match self {
            Action::Unchanged { .. } => "unchanged",
            Action::Change { .. } => "change",
            Action::Refused { .. } => "refused",
            Action::NotFound { .. } => "not found",
            Action::ReadError { .. } => "read error",
        }
    }
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
}

impl Plan {
    /// How many entries have the action `label` (see [`Action::label`]).
    pub fn count(&self, label: &str) -> usize {
        self.entries
            .iter()
            .filter(|e| e.action.label() == label)
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
                Action::Refused { reason }
                | Action::NotFound { reason }
                | Action::ReadError { reason } => reason.clone(),
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
    NotFound(String),
    /// Refused before sending (an id the provider cannot have).
    Refused(String),
    Failed(String),
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
        while wanted > 0 {
            let next = match ahead.take() {
                Some(next) => next,
                None => pages.next().await,
            };
            let Some(page) = next else {
                break;
            };
            let Ok(page) = page else {
                // A listing that fails (or that the provider does not offer) leaves the rest to
                // single fetches.
                break;
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
                Err(e) if e.is_not_found() => Read::NotFound(e.to_string()),
                Err(e) if e.was_not_sent() => Read::Refused(e.to_string()),
                Err(e) => Read::Failed(e.to_string()),
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
        .map(|r| r.unwrap_or_else(|| Read::Failed("not read".to_owned())))
        .collect();
    (found, reads)
}

/// What [`read_states`] hands each answer to: the positions it answers for, the position an
/// earlier answer about the same SIM went to, and the answer.
type Answer<'a> = dyn FnMut(&[usize], Option<usize>, &Read) + Send + 'a;

/// How [`read_states`] reads.
#[derive(Debug, Clone, Copy)]
struct ReadOptions {
    fetch_at_most: usize,
    concurrency: usize,
    page_size: Option<u32>,
}

/// Makes [`Plan`]s from desired states.
#[derive(Clone)]
pub struct Planner {
    providers: BTreeMap<String, Arc<dyn SimProvider>>,
    fetch_at_most: usize,
    concurrency: usize,
    page_size: Option<u32>,
    books: PriceBooks,
    as_of: Option<chrono::NaiveDate>,
    price: bool,
}

impl fmt::Debug for Planner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Planner")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
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
        }
    }

    /// A planner over these providers (each known by its [`SimProvider::name`]).
    pub fn new(providers: impl IntoIterator<Item = Arc<dyn SimProvider>>) -> Self {
        Self {
            providers: providers
                .into_iter()
                .map(|p| (p.name().to_owned(), p))
                .collect(),
            fetch_at_most: 50,
            concurrency: 16,
            page_size: None,
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
        let rows: Vec<Desired> = rows.into_iter().collect();
        let mut actions: Vec<Option<Action>> = vec![None; rows.len()];
        let mut by_provider: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (row, d) in rows.iter().enumerate() {
            if self.providers.contains_key(&d.provider) {
                by_provider
                    .entry(d.provider.as_str())
                    .or_default()
                    .push(row);
            } else {
                actions[row] = Some(Action::Refused {
                    reason: format!(
                        "no provider named {:?} is configured (known: {})",
                        d.provider,
                        self.providers
                            .keys()
                            .cloned()
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                });
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
                        Read::NotFound(reason) => Action::NotFound {
                            reason: reason.clone(),
                        },
                        Read::Failed(reason) => Action::ReadError {
                            reason: reason.clone(),
                        },
                        Read::Refused(reason) => Action::Refused {
                            reason: reason.clone(),
                        },
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
                                    reason: format!(
                                        "row {} asks something else of the same SIM ({})",
                                        lead + 1,
                                        snap.id
                                    ),
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
                        let charge = provider.estimate_charge(id, &change, pricing).await.ok();
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
        Plan {
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
                        reason: "not planned".to_owned(),
                    }),
                })
                .collect(),
            reads,
        }
    }
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
                reason: "the row asks for no state and no name".to_owned(),
            },
            None,
        );
    }
    if let Some(SimState::Unknown(word)) = &d.state {
        return (
            Action::Refused {
                reason: format!(
                    "invalid target: {word:?} is not a state (active, inactive, ready, retired, …)"
                ),
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
    let mut change = SimChange::new().known_state(snap.state.clone());
    change.state = d.state.clone();
    if !name_ok {
        change.display_name = d.name.clone();
    }
    if let Err(e) = provider.validate(&d.id, &change) {
        return (
            Action::Refused {
                reason: e.to_string(),
            },
            None,
        );
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
    /// Sent and accepted; the provider applies it shortly (Super SIM's `scheduled`).
    Scheduled,
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
        reason: String,
    },
    /// Sent and failed, after the retries the policy allows and a read back.
    Failed {
        /// The error.
        reason: String,
    },
    /// The provider knows no such SIM.
    NotFound {
        /// The provider's answer.
        reason: String,
    },
    /// The SIM's state could not be read.
    ReadError {
        /// What went wrong.
        reason: String,
    },
}

impl ApplyOutcome {
    /// A short word: `"done"`, `"scheduled"`, `"unchanged"`, `"already there"`, `"stale"`,
    /// `"refused"`, `"failed"`, `"not found"`, `"read error"`.
    pub fn label(&self) -> &'static str {
        match self {
            ApplyOutcome::Done { .. } => "done",
            ApplyOutcome::Scheduled => "scheduled",
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

/// One entry of a plan, applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Applied {
    /// The row (0-based).
    pub row: usize,
    /// The provider.
    pub provider: String,
    /// The SIM's id.
    pub id: String,
    /// What happened.
    #[serde(flatten)]
    pub outcome: ApplyOutcome,
}

/// What applying a plan did: one entry per plan entry, in row order.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ApplyReport {
    /// One per plan entry, in row order.
    pub entries: Vec<Applied>,
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
    /// How many entries came to `label` (see [`ApplyOutcome::label`]).
    pub fn count(&self, label: &str) -> usize {
        self.entries
            .iter()
            .filter(|e| e.outcome.label() == label)
            .count()
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
#[derive(Clone)]
pub struct Applier {
    providers: BTreeMap<String, Arc<dyn SimProvider>>,
    concurrency: usize,
    retry: RetryPolicy,
    fetch_at_most: usize,
    page_size: Option<u32>,
    progress: Option<ApplyProgress>,
}

impl fmt::Debug for Applier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Applier")
            .field("providers", &self.providers.keys().collect::<Vec<_>>())
            .field("concurrency", &self.concurrency)
            .field("retry", &self.retry)
            .finish_non_exhaustive()
    }
}

impl Applier {
    fn read_options(&self) -> ReadOptions {
        ReadOptions {
            fetch_at_most: self.fetch_at_most,
            concurrency: self.concurrency,
            page_size: self.page_size,
        }
    }

    /// An applier over these providers.
    pub fn new(providers: impl IntoIterator<Item = Arc<dyn SimProvider>>) -> Self {
        Self {
            providers: providers
                .into_iter()
                .map(|p| (p.name().to_owned(), p))
                .collect(),
            concurrency: 16,
            retry: RetryPolicy::default(),
            fetch_at_most: 50,
            page_size: None,
            progress: None,
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

    /// Calls `f` with (finished, total) as entries finish.
    pub fn on_progress(mut self, f: impl Fn(usize, usize) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Applies the plan's changes; every entry gets exactly one outcome (see the module docs).
    pub async fn apply(&self, plan: &Plan) -> ApplyReport {
        let start = Instant::now();
        let total = plan.entries.len();
        let mut out: Vec<Option<ApplyOutcome>> = vec![None; total];
        let mut finished = 0usize;
        let tick = |finished: usize| {
            if let Some(p) = &self.progress {
                p(finished, total);
            }
        };
        let done = std::sync::atomic::AtomicUsize::new(0);
        let mut report = ApplyReport::default();
        // What the plan already settled.
        let mut changes: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
        for (k, e) in plan.entries.iter().enumerate() {
            let settled = match &e.action {
                Action::Unchanged { .. } => Some(ApplyOutcome::Unchanged),
                Action::Refused { reason } => Some(ApplyOutcome::Refused {
                    reason: reason.clone(),
                }),
                Action::NotFound { reason } => Some(ApplyOutcome::NotFound {
                    reason: reason.clone(),
                }),
                Action::ReadError { reason } => Some(ApplyOutcome::ReadError {
                    reason: reason.clone(),
                }),
                Action::Change { .. } => match self.providers.get(&e.provider) {
                    Some(_) => {
                        changes.entry(e.provider.as_str()).or_default().push(k);
                        None
                    }
                    None => Some(ApplyOutcome::Refused {
                        reason: format!("no provider named {:?} is configured", e.provider),
                    }),
                },
            };
            if let Some(o) = settled {
                out[k] = Some(o);
                finished += 1;
            }
        }
        tick(finished);
        done.store(finished, std::sync::atomic::Ordering::Relaxed);
        let runs = changes.into_iter().map(|(name, ks)| {
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
        for (name, (outcomes, reads, attempts, throttled)) in results {
            report.reads.insert(name.to_owned(), reads);
            report.attempts += attempts;
            report.throttled += throttled;
            for (k, o) in outcomes {
                out[k] = Some(o);
            }
        }
        report.entries = plan
            .entries
            .iter()
            .zip(out)
            .map(|(e, o)| Applied {
                row: e.row,
                provider: e.provider.clone(),
                id: e.id.clone(),
                outcome: o.unwrap_or(ApplyOutcome::ReadError {
                    reason: "not applied".to_owned(),
                }),
            })
            .collect();
        report.elapsed = start.elapsed();
        report
    }

    /// The changes of one provider: read again, send what is still as planned.
    async fn apply_provider(
        &self,
        plan: &Plan,
        provider: Arc<dyn SimProvider>,
        ks: Vec<usize>,
        tick: &(dyn Fn() + Sync),
    ) -> (Vec<(usize, ApplyOutcome)>, Reads, u64, u64) {
        let ids: Vec<&str> = ks.iter().map(|&k| plan.entries[k].id.as_str()).collect();
        let (now, reads) = read_all(&*provider, &ids, self.read_options()).await;
        let mut outcomes = Vec::with_capacity(ks.len());
        let mut items = Vec::new();
        let mut item_rows = Vec::new();
        for (&k, read) in ks.iter().zip(&now) {
            let e = &plan.entries[k];
            let Action::Change {
                from, to, rename, ..
            } = &e.action
            else {
                continue;
            };
            match read {
                Read::Found(snap) => {
                    let target = to.clone().unwrap_or_else(|| from.clone());
                    let name_there = rename
                        .as_ref()
                        .is_none_or(|r| snap.display_name.as_deref() == Some(r.to.as_str()));
                    if snap.state == target && name_there {
                        outcomes.push((k, ApplyOutcome::AlreadyThere));
                    } else if snap.state != *from {
                        outcomes.push((
                            k,
                            ApplyOutcome::Stale {
                                planned: from.clone(),
                                found: snap.state.clone(),
                            },
                        ));
                    } else {
                        let mut change = SimChange::new().known_state(from.clone());
                        change.state = to.clone();
                        if !name_there {
                            change.display_name =
                                rename.as_ref().and_then(|r| SimName::parse(&r.to).ok());
                        }
                        item_rows.push(k);
                        items.push(BulkItem::new(e.id.clone(), change));
                    }
                }
                Read::NotFound(reason) => outcomes.push((
                    k,
                    ApplyOutcome::NotFound {
                        reason: reason.clone(),
                    },
                )),
                Read::Failed(reason) => outcomes.push((
                    k,
                    ApplyOutcome::ReadError {
                        reason: reason.clone(),
                    },
                )),
                Read::Refused(reason) => outcomes.push((
                    k,
                    ApplyOutcome::Refused {
                        reason: reason.clone(),
                    },
                )),
            }
        }
        let updater = BulkUpdater::new(provider)
            .concurrency(self.concurrency)
            .retry(self.retry.clone());
        let mut sent = Vec::with_capacity(items.len());
        let bulk = updater
            .run_with(stream::iter(items), |o| {
                let outcome = match &o.outcome {
                    BulkOutcome::Done(_) => ApplyOutcome::Done { verified: false },
                    BulkOutcome::Verified(_) => ApplyOutcome::Done { verified: true },
                    BulkOutcome::Scheduled(_) => ApplyOutcome::Scheduled,
                    BulkOutcome::Unchanged => ApplyOutcome::AlreadyThere,
                    BulkOutcome::Refused(e) => ApplyOutcome::Refused {
                        reason: e.to_string(),
                    },
                    BulkOutcome::Failed(e) => ApplyOutcome::Failed {
                        reason: e.to_string(),
                    },
                    other => ApplyOutcome::Failed {
                        reason: format!("unexpected outcome: {}", other.label()),
                    },
                };
                sent.push((item_rows[o.index], outcome));
                tick();
            })
            .await;
        for _ in 0..outcomes.len() {
            tick();
        }
        outcomes.extend(sent);
        (outcomes, reads, bulk.attempts, bulk.throttled as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use simcore::error::ApiError;
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
        async fn fetch(&self, id: &str) -> simcore::Result<SimSnapshot> {
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
        async fn apply(&self, id: &str, c: &SimChange) -> simcore::Result<ProviderApplied> {
            if c.is_noop() {
                return Ok(ProviderApplied::Unchanged);
            }
            self.updates.fetch_add(1, Ordering::SeqCst);
            self.sims
                .lock()
                .unwrap()
                .insert(id.to_owned(), c.state.clone().unwrap());
            Ok(ProviderApplied::DoneWithoutBody)
        }
        fn list(&self, _o: &ListOptions) -> simcore::provider::SnapshotPages<'_> {
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
            Box::pin(stream::iter(pages).map(move |p| {
                self.pages.fetch_add(1, Ordering::SeqCst);
                Ok(p)
            }))
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
                fetches: 4
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
        assert_eq!(plan.count("unchanged"), 14); // every third of s00000..s00039
        assert_eq!(plan.count("change"), 27);
        assert_eq!(plan.count("not found"), 1);
        assert_eq!(plan.count("refused"), 3);
        assert!(
            matches!(&plan.entries[44].action, Action::Refused { reason } if reason.contains("cannot move to new"))
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
        assert_eq!(plan.count("change"), 15);
        // Behind the plan's back: one changed to the target, one... stays as planned.
        fleet
            .sims
            .lock()
            .unwrap()
            .insert("s00001".into(), SimState::Active);
        let report = Applier::new([p.clone()]).apply(&plan).await;
        assert_eq!(report.entries.len(), 30);
        assert_eq!(report.count("unchanged"), 15);
        assert_eq!(report.count("already there"), 1);
        assert_eq!(report.count("done"), 14);
        assert_eq!(fleet.updates.load(Ordering::SeqCst), 14);
        // A SIM moved elsewhere is stale: re-plan gives the same plan for it, but make one
        // stale against a saved plan.
        let plan2 = Planner::new([p.clone()]).plan(rows).await;
        assert_eq!(plan2.count("unchanged"), 30);
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
            async fn fetch(&self, id: &str) -> simcore::Result<SimSnapshot> {
                Ok(SimSnapshot::new(
                    "three",
                    id,
                    self.0.lock().unwrap().clone(),
                ))
            }
            async fn apply(&self, _: &str, c: &SimChange) -> simcore::Result<ProviderApplied> {
                self.1.fetch_add(1, Ordering::SeqCst);
                *self.0.lock().unwrap() = c.state.clone().unwrap();
                Ok(ProviderApplied::DoneWithoutBody)
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
            matches!(&plan.entries[1].action, Action::Refused { reason } if reason.starts_with("row 1 asks something else"))
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
                    let refused = matches!(&e.action, Action::Refused { reason }
                        if reason.starts_with(&format!("row {} asks something else", first + 1)));
                    proptest::prop_assert!(refused, "{:?}", e.action);
                } else if now_active == active {
                    proptest::prop_assert_eq!(label, "unchanged");
                } else {
                    proptest::prop_assert_eq!(label, "change");
                }
            }
        }
    }
}
