//! Remembering that something was seen, across every replica of a service: a callback's
//! idempotency token, so that an event delivered twice, to two replicas, is handled once.

use std::collections::HashMap;
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::StoreError;

/// A store of keys seen recently, shared by the processes that use it (on Redis:
/// `simcore_redis::RedisSeenStore`; [`MemorySeenStore`] in one process).
#[async_trait]
pub trait SeenStore: Send + Sync + fmt::Debug {
    /// Records `key` as seen for `ttl`, in one atomic step: `true` when it had not been seen
    /// within its time (this is the first sighting), `false` when it had.
    async fn first_sighting(&self, key: &str, ttl: Duration) -> Result<bool, StoreError>;

    /// Forgets `key` (its event failed to be handled: let the next delivery through). Returns
    /// whether it was remembered.
    async fn forget(&self, key: &str) -> Result<bool, StoreError>;
}

/// A [`SeenStore`] in this process's memory: at most `capacity` keys (the oldest forgotten
/// first), each for its time to live.
#[derive(Debug)]
pub struct MemorySeenStore {
    capacity: usize,
    seen: Mutex<HashMap<String, Instant>>,
}

impl MemorySeenStore {
    /// Remembers at most `capacity` keys (at least one).
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            seen: Mutex::new(HashMap::new()),
        }
    }
}

#[async_trait]
impl SeenStore for MemorySeenStore {
    async fn first_sighting(&self, key: &str, ttl: Duration) -> Result<bool, StoreError> {
        let now = Instant::now();
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        seen.retain(|_, until| now < *until);
        if seen.contains_key(key) {
            return Ok(false);
        }
        while seen.len() >= self.capacity {
            let Some(oldest) = seen.iter().min_by_key(|(_, u)| **u).map(|(k, _)| k.clone()) else {
                break;
            };
            seen.remove(&oldest);
        }
        seen.insert(key.to_owned(), now + ttl);
        Ok(true)
    }

    async fn forget(&self, key: &str) -> Result<bool, StoreError> {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        Ok(seen.remove(key).is_some())
    }
}
