//! The bookkeeping that makes items asking the same of one SIM one write, and the limits a
//! run keeps (the pacer and the window).

use super::*;

/// What one item asks of one SIM, for telling items that ask the same apart from the rest (the
/// state it knows of is no part of the ask).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) struct SameAsk {
    pub(super) id: String,
    pub(super) state: Option<SimState>,
    pub(super) name: Option<String>,
}

impl SameAsk {
    pub(super) fn of(id: &str, change: &SimChange) -> Self {
        Self {
            id: id.to_owned(),
            state: change.state.clone(),
            name: change.display_name.as_ref().map(|n| n.as_str().to_owned()),
        }
    }
}

/// An item in flight that sends the write for its ask, and the items that joined it.
#[derive(Debug)]
pub(super) struct Lead {
    pub(super) index: usize,
    pub(super) followers: Vec<usize>,
    /// Where the followers wait: made when the first one joins (most items have none).
    pub(super) waiting: Option<Arc<Waiting>>,
}

/// The outcome the followers of a [`Lead`] wait for.
#[derive(Debug, Default)]
pub(super) struct Waiting {
    pub(super) outcome: std::sync::OnceLock<Arc<Outcome>>,
    pub(super) set: tokio::sync::Notify,
}

impl Waiting {
    pub(super) async fn outcome(&self) -> Arc<Outcome> {
        loop {
            let notified = self.set.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if let Some(o) = self.outcome.get() {
                return o.clone();
            }
            notified.await;
        }
    }
}

/// What paces one run: the rate pacer and the concurrency window.
#[derive(Debug)]
pub(super) struct Limits {
    pub(super) pacer: Pacer,
    pub(super) window: Window,
    /// The items by what they ask: those in flight, and the last [`SAME_ASK_WINDOW`] finished.
    pub(super) asks: Mutex<Asks>,
}

/// How many finished items a run remembers, to give a later item that asks the same of a SIM
/// their outcome rather than send the write again (a constant, so a run's memory does not grow
/// with its items).
pub const SAME_ASK_WINDOW: usize = 256;

/// The asks of a run: in flight, and recently finished.
#[derive(Debug, Default)]
pub(super) struct Asks {
    pub(super) in_flight: HashMap<SameAsk, Lead>,
    /// Allocated whole when the first item finishes, twice the window, so that the churn of a
    /// long run never grows it.
    pub(super) finished: HashMap<SameAsk, (usize, Arc<Outcome>)>,
    pub(super) order: std::collections::VecDeque<SameAsk>,
}

/// What an item does: send its write, wait for an earlier item's, or take a finished one's.
pub(super) enum Role {
    Lead(SameAsk),
    Follow(usize, Arc<Waiting>),
    Replay(usize, Outcome),
}

impl Limits {
    pub(super) fn new(concurrency: usize) -> Self {
        Self {
            pacer: Pacer::new(),
            window: Window::new(concurrency),
            asks: Mutex::new(Asks::default()),
        }
    }

    pub(super) fn asks(&self) -> std::sync::MutexGuard<'_, Asks> {
        self.asks.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The role of item `index`, taken in input order.
    pub(super) fn role(&self, index: usize, item: &BulkItem) -> Role {
        let key = SameAsk::of(&item.id, &item.change);
        let mut asks = self.asks();
        if let Some(lead) = asks.in_flight.get_mut(&key) {
            lead.followers.push(index);
            let waiting = lead.waiting.get_or_insert_with(Arc::default).clone();
            return Role::Follow(lead.index, waiting);
        }
        if let Some((leader, outcome)) = asks.finished.get(&key) {
            return Role::Replay(*leader, Outcome::clone(outcome));
        }
        asks.in_flight.insert(
            key.clone(),
            Lead {
                index,
                followers: Vec::new(),
                waiting: None,
            },
        );
        Role::Lead(key)
    }

    /// Item `index` that sent the write for `key` finished with `outcome`: it is remembered for
    /// later items that ask the same, handed to the items waiting for it, and those are named.
    pub(super) fn finished(&self, key: SameAsk, index: usize, outcome: &Outcome) -> Vec<usize> {
        let shared = Arc::new(outcome.clone());
        let mut asks = self.asks();
        // Under the lock that followers join under: after it, none joins this one.
        let mut followers = Vec::new();
        if let Some(lead) = asks.in_flight.remove(&key) {
            followers = lead.followers;
            if let Some(waiting) = lead.waiting {
                let _ = waiting.outcome.set(shared.clone());
                waiting.set.notify_waiters();
            }
        }
        if asks.finished.capacity() == 0 {
            asks.finished.reserve(2 * SAME_ASK_WINDOW);
            asks.order.reserve(SAME_ASK_WINDOW);
        }
        if asks.order.len() >= SAME_ASK_WINDOW {
            if let Some(old) = asks.order.pop_front() {
                asks.finished.remove(&old);
            }
        }
        asks.order.push_back(key.clone());
        asks.finished.insert(key, (index, shared));
        followers
    }
}
