//! The planner: what each row would do, from the states read.

use super::*;

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
pub(super) fn resolve_provider<'a>(providers: &'a Providers, name: &str) -> Result<&'a str, Error> {
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
pub(super) struct Providers {
    pub(super) by_name: BTreeMap<String, Arc<dyn SimProvider>>,
    twice: std::collections::BTreeSet<String>,
}

impl Providers {
    pub(super) fn new(providers: impl IntoIterator<Item = Arc<dyn SimProvider>>) -> Self {
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

pub(super) fn resolve_name<'a>(
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
pub(super) fn asks_something_else(lead: usize, sim: &str) -> RowError {
    ValidationError::new(
        "row",
        format!("row {lead} asks something else of the same SIM"),
        sim.to_owned(),
    )
    .into()
}

/// What a row asks of a SIM in `snap`: unchanged, a change (with the change to send), or refused.
pub(super) fn decide(
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
pub(super) fn waits_for(provider: &str, snap: &SimSnapshot) -> String {
    match &snap.native_status {
        Some(word) => format!("the change in progress to settle ({provider} says {word:?})"),
        None => "the change in progress to settle".to_owned(),
    }
}
