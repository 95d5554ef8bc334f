//! Applying a plan: the report, and the applier.

use super::*;

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
pub(super) struct Write {
    id: String,
    change: SimChange,
    target: Option<SimState>,
    ks: Vec<usize>,
}

/// What one provider's part of a plan came to: outcomes by entry index, and the rows that
/// shared a write.
pub(super) struct ProviderRun {
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
pub(super) fn wait_error(e: &Error) -> Option<RowError> {
    (!matches!(e, Error::NotSettled { .. })).then(|| e.clone().into())
}

/// The first pause of [`Applier::wait`]'s polls (each pause doubles, up to 30 s).
pub(super) const WAIT_FIRST_DELAY: Duration = Duration::from_millis(250);

/// What an entry comes to when the change in progress it waited for has settled at
/// `snap.state`: already there when that is what the row asks, stale otherwise (plan again).
pub(super) fn settled_elsewhere(
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
pub(super) fn whole_change(
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
