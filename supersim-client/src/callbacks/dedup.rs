//! De-duplication of deliveries by their idempotency token, in memory or across replicas.

use super::*;

/// Whether a callback's event was seen before ([`Deduplicator::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// The first delivery of this event (now remembered).
    First,
    /// An event seen before, within the de-duplicator's memory: act on it once only.
    Replay,
    /// The callback has no `kore-idempotency-token` (a Twilio callback): nothing to compare.
    NoToken,
}

/// Remembers recent `kore-idempotency-token`s in memory, to tell a replayed event from a new
/// one: at most `capacity` tokens (the oldest forgotten first), each for at most `ttl`.
///
/// It is one process's memory: several instances behind a load balancer need a shared store:
/// [`SharedDeduplicator`].
/// When handling an event fails, [`forget`](Self::forget) its token so the next delivery is
/// taken as new.
///
/// ```
/// use std::time::{Duration, Instant};
/// use supersim_client::callbacks::Deduplicator;
///
/// let seen = Deduplicator::new(2, Duration::from_secs(60));
/// let t0 = Instant::now();
/// assert!(!seen.is_replay_at("a", t0));
/// assert!(seen.is_replay_at("a", t0 + Duration::from_secs(59)));
/// assert!(!seen.is_replay_at("a", t0 + Duration::from_secs(61)), "forgotten after the ttl");
/// ```
#[derive(Debug)]
pub struct Deduplicator {
    pub(super) capacity: usize,
    ttl: Duration,
    seen: Mutex<Seen>,
}

#[derive(Debug, Default)]
pub(super) struct Seen {
    /// When each remembered token was first seen.
    at: HashMap<String, Instant>,
    /// The same tokens, oldest first.
    order: VecDeque<(Instant, String)>,
}

impl Seen {
    pub(super) fn pop_oldest(&mut self) {
        if let Some((_, token)) = self.order.pop_front() {
            self.at.remove(&token);
        }
    }
}

impl Default for Deduplicator {
    /// Remembers up to 10 000 tokens for 24 hours each.
    fn default() -> Self {
        Self::new(10_000, Duration::from_secs(24 * 60 * 60))
    }
}

impl Deduplicator {
    /// Remembers up to `capacity` tokens (at least one) for `ttl` each.
    pub fn new(capacity: usize, ttl: Duration) -> Self {
        Self {
            capacity: capacity.max(1),
            ttl,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Whether `token` was seen within the memory; if not, remembers it now.
    pub fn is_replay(&self, token: &str) -> bool {
        self.is_replay_at(token, Instant::now())
    }

    /// [`is_replay`](Self::is_replay) at a given time (times should not go backwards).
    pub fn is_replay_at(&self, token: &str, now: Instant) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        while seen
            .order
            .front()
            .is_some_and(|(at, _)| now.saturating_duration_since(*at) > self.ttl)
        {
            seen.pop_oldest();
        }
        if seen.at.contains_key(token) {
            return true;
        }
        while seen.at.len() >= self.capacity {
            seen.pop_oldest();
        }
        seen.at.insert(token.to_owned(), now);
        seen.order.push_back((now, token.to_owned()));
        false
    }

    /// Whether a callback's event was seen before, by its `kore-idempotency-token`.
    pub fn check(&self, callback: &SimCallback) -> Delivery {
        match callback.idempotency_token() {
            None => Delivery::NoToken,
            Some(t) if self.is_replay(t) => Delivery::Replay,
            Some(_) => Delivery::First,
        }
    }

    /// Forgets a token (its event failed to be handled: let the next delivery through).
    /// Returns whether it was remembered.
    pub fn forget(&self, token: &str) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        if seen.at.remove(token).is_none() {
            return false;
        }
        seen.order.retain(|(_, t)| t != token);
        true
    }

    /// How many tokens are remembered.
    pub fn len(&self) -> usize {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).at.len()
    }

    /// Whether no token is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// [`Deduplicator`] for a service that runs as several replicas: the tokens are remembered in a
/// [`SeenStore`](simcore::http::SeenStore) every replica reaches (on Redis:
/// `simcore_redis::RedisSeenStore`), so an event delivered twice, to two replicas, is taken as
/// [`Delivery::First`] by exactly one of them.
///
/// When the store cannot be reached, [`check`](Self::check) says so (a
/// [`StoreError`](simcore::http::StoreError)) rather than guess: answer the callback with a 503 and
/// the sender delivers it again later.
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use simcore::http::MemorySeenStore;
/// use supersim_client::callbacks::{SharedDeduplicator, Delivery};
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// // One store shared by two replicas (on Redis in a real fleet).
/// let store = Arc::new(MemorySeenStore::new(10_000));
/// let a = SharedDeduplicator::new(store.clone(), Duration::from_secs(24 * 3600));
/// let b = SharedDeduplicator::new(store, Duration::from_secs(24 * 3600));
/// assert_eq!(a.check_token(Some("evt-1")).await.unwrap(), Delivery::First);
/// assert_eq!(b.check_token(Some("evt-1")).await.unwrap(), Delivery::Replay);
/// # });
/// ```
#[derive(Debug, Clone)]
pub struct SharedDeduplicator {
    store: std::sync::Arc<dyn simcore::http::SeenStore>,
    ttl: Duration,
}

impl SharedDeduplicator {
    /// Remembers each token in `store` for `ttl` (KORE may deliver an event again for up to a
    /// day: 24 hours is a sound choice).
    pub fn new(store: std::sync::Arc<dyn simcore::http::SeenStore>, ttl: Duration) -> Self {
        Self { store, ttl }
    }

    /// Whether a callback's event was seen before by any replica, by its
    /// `kore-idempotency-token`; a first sighting is remembered for every replica at once.
    pub async fn check(
        &self,
        callback: &SimCallback,
    ) -> Result<Delivery, simcore::http::StoreError> {
        self.check_token(callback.idempotency_token()).await
    }

    /// [`check`](Self::check) for a token as given (`None`: the callback had none).
    pub async fn check_token(
        &self,
        token: Option<&str>,
    ) -> Result<Delivery, simcore::http::StoreError> {
        let Some(token) = token else {
            return Ok(Delivery::NoToken);
        };
        Ok(if self.store.first_sighting(token, self.ttl).await? {
            Delivery::First
        } else {
            Delivery::Replay
        })
    }

    /// Forgets a token for every replica (its event failed to be handled: let the next
    /// delivery through). Returns whether it was remembered.
    pub async fn forget(&self, token: &str) -> Result<bool, simcore::http::StoreError> {
        self.store.forget(token).await
    }
}
