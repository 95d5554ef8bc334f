//! Shared state on Redis for the SIM SDK family: what every replica of a service shares with the
//! others, so that a fleet meets a provider's limits as one client.
//!
//! ```
//! use std::time::Duration;
//! use simcore::budget::RateBudget;
//! use simcore_redis::{Redis, RedisRateBudget};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! // Nothing listens on port 1: the budget paces in this process instead, and nothing fails.
//! let redis = Redis::with_timeout("redis://127.0.0.1:1/", "fleet-a:", Duration::from_millis(200))?;
//! let budget = RedisRateBudget::new(&redis, "emnify-egress", 2000.0 / 300.0, 10);
//! assert_eq!(budget.reserve().await, Duration::ZERO); // a place at once: the burst is there
//! assert!(!redis.is_reachable());
//! assert_eq!(budget.local_places(), 1);
//! # Ok::<(), simcore::Error>(())
//! # }).unwrap();
//! ```
//!
//! - [`RedisTokenStore`]: session tokens (emnify, KORE, EdgeIQ) cached for every process. One
//!   process logs in while the others wait; a refused login is remembered for all of them for the
//!   cooldown; a holder that dies mid-login blocks no one past the lock's time to live. See
//!   [`TokenCache::with_store`](simcore::http::TokenCache::with_store) for the protocol, and plug
//!   the store in with the client builders' `token_store` (it takes simcore's [`TokenStore`]),
//!   or with [`TokenCache::with_store`](simcore::http::TokenCache::with_store).
//! - [`RedisRateBudget`]: a rate budget for a provider account or an egress IP, one Lua script
//!   (GCRA) and one round trip per request, for bulk runs (`simfleet::bulk::BulkUpdater::budget`)
//!   and single calls (the client builders' `rate_budget`).
//! - [`RedisSeenStore`]: keys seen recently, for every replica: a callback's idempotency token
//!   recorded with one `SET NX PX`, so that an event delivered twice, to two replicas, is
//!   handled once (`supersim_client::callbacks::SharedDeduplicator`).
//!
//! They go through one [`Redis`] handle: one multiplexed connection, opened on first use, and
//! every key under the prefix you give. When Redis cannot be reached (refused, timed out, gone
//! mid-run) nothing fails for it: the token cache logs in on its own, the budget paces with a
//! [`LocalBudget`], and the handle says so once per outage (a tracing event where the `tracing`
//! feature is on) and tries to connect again at most once a second.
//!
//! A fleet of replicas, each with the same key and the same Redis:
//!
//! ```no_run
//! use std::sync::Arc;
//! use simcore_redis::{Redis, RedisRateBudget, RedisTokenStore, TokenKey};
//!
//! # fn run() -> simcore::Result<()> {
//! let redis = Redis::new("redis://10.0.0.5:6379/", "fleet-a:")?;
//! // Tokens encrypted at rest with a key every replica is given (32 bytes, base64).
//! let key = TokenKey::from_base64(&std::env::var("TOKEN_KEY").unwrap_or_default())?;
//! let tokens = Arc::new(RedisTokenStore::new(&redis).encryption_key(key));
//! // emnify's per-IP budget, for every replica behind the egress IP: 2,000 per 5 minutes.
//! let budget = Arc::new(RedisRateBudget::new(&redis, "emnify-egress", 2000.0 / 300.0, 10));
//! // Then, on a client builder: `.token_store(tokens, "prod-app-token").rate_budget(budget)`.
//! # let _ = (tokens, budget); Ok(()) }
//! ```
//!
//! # Feature flags
//! - `tracing`: an event (target `simcore`, with simcore's telemetry: simcore's `tracing`
//!   feature) when Redis is lost and when it is back. Off by default, and then compiled out
//!   entirely.
//!
//! # Tokens at rest
//! With an [`encryption_key`](RedisTokenStore::encryption_key), every value the token store writes
//! (tokens and remembered failures) is sealed with XChaCha20-Poly1305: a fresh random 192-bit
//! nonce per write, and the value's Redis key as associated data, so a value copied to another
//! key does not open. A dump of Redis (`SAVE`, a replica, a backup) then shows no token. Why
//! this cipher: its nonce is long enough to be drawn at random for every write without ever
//! counting (AES-GCM's 96-bit nonce is not, with many writers and no shared counter), and it is
//! constant-time in software on every CPU. The key is yours to keep (a secret store, an
//! environment variable): give every replica the same one.
//!
//! **Without a key, tokens are stored in the clear**: anyone who can read the Redis database
//! (or its dumps) can act with them until they expire. Then keep Redis private to the service
//! (network, `requirepass`/ACLs, TLS to Redis where it crosses a network) and treat its dumps as
//! secrets. Processes with a key ignore values stored without one, and the other way round: a
//! fleet uses one setting.
//!
//! # Keys
//! Under the prefix `P` (yours): `P token:{KEY}` with `:lock`, `:refused` and `:failed` beside it
//! for the token store, `P budget:{NAME}` for a budget. The braces keep a token's keys in one
//! Redis Cluster hash slot. Every key has a time to live: nothing is left behind.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, AeadCore, KeyInit, OsRng, Payload, rand_core::RngCore};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};

use simcore::budget::{LocalBudget, RateBudget, gcra_params};
use simcore::error::{Error, Result};
use simcore::http::{AuthHeader, LockOwner, Lookup, SharedFailure, StoreError, Token, TokenStore};

use crate::trace::event;

mod trace;

/// The default time one Redis command (or connecting) may take before the state is used
/// locally: 500 ms.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(500);
/// How often a lost connection is tried again: at most once a second.
pub const RECONNECT_INTERVAL: Duration = Duration::from_secs(1);
/// The default time to live of a token store's refresh lock: 10 s. A holder that dies is
/// replaced after it; a login slower than it may be repeated by another process.
pub const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(10);

/// A connection to the Redis every replica shares, and the prefix of every key. Cheap to clone.
/// Nothing is sent before first use.
#[derive(Clone)]
pub struct Redis {
    inner: Arc<Inner>,
}

struct Inner {
    client: ::redis::Client,
    shown: String,
    prefix: String,
    timeout: Duration,
    conn: Mutex<Conn>,
    /// Held while connecting, so one task connects and the others wait for it.
    connecting: tokio::sync::Mutex<()>,
    down: AtomicBool,
    errors: AtomicU64,
}

#[derive(Default)]
struct Conn {
    current: Option<::redis::aio::MultiplexedConnection>,
    retry_at: Option<Instant>,
}

impl fmt::Debug for Redis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Redis")
            .field("server", &self.inner.shown)
            .field("prefix", &self.inner.prefix)
            .field("timeout", &self.inner.timeout)
            .field("reachable", &self.is_reachable())
            .finish()
    }
}

impl Redis {
    /// A handle on the Redis at `url` (`redis://[user:password@]host[:port][/db]`), every key
    /// starting with `prefix`. The URL is checked here; nothing is sent until first use. A URL
    /// that does not parse is an [`Error::Config`] that does not quote it (it may hold a
    /// password).
    pub fn new(url: &str, prefix: impl Into<String>) -> Result<Self> {
        Self::with_timeout(url, prefix, DEFAULT_TIMEOUT)
    }

    /// [`new`](Self::new) with another time limit per command and per connection attempt
    /// (default [`DEFAULT_TIMEOUT`]); past it, the state is used locally.
    pub fn with_timeout(url: &str, prefix: impl Into<String>, timeout: Duration) -> Result<Self> {
        let client = ::redis::Client::open(url).map_err(|_| {
            Error::Config(
                "the Redis URL is not valid (expected redis://[user:password@]host[:port][/db])"
                    .to_owned(),
            )
        })?;
        let shown = match url::Url::parse(url) {
            Ok(u) => format!(
                "{}://{}:{}{}",
                u.scheme(),
                u.host_str().unwrap_or_default(),
                u.port().unwrap_or(6379),
                u.path()
            ),
            Err(_) => "(unparsed)".to_owned(),
        };
        if timeout.is_zero() {
            return Err(Error::Config(
                "the Redis timeout must be greater than zero".to_owned(),
            ));
        }
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                shown,
                prefix: prefix.into(),
                timeout,
                conn: Mutex::default(),
                connecting: tokio::sync::Mutex::new(()),
                down: AtomicBool::new(false),
                errors: AtomicU64::new(0),
            }),
        })
    }

    /// The prefix of every key.
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// Whether the last command reached Redis (`true` before the first).
    pub fn is_reachable(&self) -> bool {
        !self.inner.down.load(Ordering::Relaxed)
    }

    /// How many commands or connection attempts have failed so far.
    pub fn errors(&self) -> u64 {
        self.inner.errors.load(Ordering::Relaxed)
    }

    fn key(&self, rest: &str) -> String {
        format!("{}{rest}", self.inner.prefix)
    }

    fn lock_conn(&self) -> std::sync::MutexGuard<'_, Conn> {
        self.inner.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The connection, connecting first if there is none (one task connects, the others wait
    /// for it). `None` while Redis cannot be reached: at most one attempt per
    /// [`RECONNECT_INTERVAL`].
    async fn conn(&self) -> Option<::redis::aio::MultiplexedConnection> {
        let current = |this: &Self| -> Result<Option<_>, ()> {
            let c = this.lock_conn();
            if let Some(conn) = &c.current {
                return Ok(Some(conn.clone()));
            }
            if c.retry_at.is_some_and(|t| Instant::now() < t) {
                return Err(());
            }
            Ok(None)
        };
        match current(self) {
            Ok(Some(c)) => return Some(c),
            Err(()) => return None,
            Ok(None) => {}
        }
        let _connecting = self.inner.connecting.lock().await;
        match current(self) {
            Ok(Some(c)) => return Some(c),
            Err(()) => return None,
            Ok(None) => {}
        }
        let config = ::redis::AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.inner.timeout))
            .set_response_timeout(Some(self.inner.timeout));
        let attempt = tokio::time::timeout(
            self.inner.timeout,
            self.inner
                .client
                .get_multiplexed_async_connection_with_config(&config),
        )
        .await;
        match attempt {
            Ok(Ok(conn)) => {
                let mut c = self.lock_conn();
                c.current = Some(conn.clone());
                c.retry_at = None;
                Some(conn)
            }
            Ok(Err(e)) => {
                self.failed("connect", &e.to_string());
                None
            }
            Err(_) => {
                self.failed("connect", "timed out");
                None
            }
        }
    }

    /// A command failed: drop the connection, try again in a while, and say so once.
    fn failed(&self, role: &str, error: &str) {
        self.inner.errors.fetch_add(1, Ordering::Relaxed);
        {
            let mut c = self.lock_conn();
            c.current = None;
            c.retry_at = Some(Instant::now() + RECONNECT_INTERVAL);
        }
        if !self.inner.down.swap(true, Ordering::Relaxed) {
            event!("Redis unreachable: shared state used locally until it is back";
                redis.role = role,
                redis.error = error,
            );
        }
        let _ = (role, error);
    }

    /// A command worked.
    fn worked(&self) {
        if self.inner.down.swap(false, Ordering::Relaxed) {
            event!("Redis reachable again: shared state back in use";);
        }
    }

    /// Runs `script` on the connection; `None` (after saying why) when Redis cannot be reached
    /// or the script fails.
    async fn run<T: ::redis::FromRedisValue>(
        &self,
        role: &str,
        invocation: &::redis::ScriptInvocation<'_>,
    ) -> Option<T> {
        let mut conn = self.conn().await?;
        match invocation.invoke_async::<T>(&mut conn).await {
            Ok(v) => {
                self.worked();
                Some(v)
            }
            Err(e) => {
                self.failed(role, &e.to_string());
                None
            }
        }
    }
}

// ----- keys seen -----

/// Keys seen recently, shared by every process on the same Redis and prefix (simcore's
/// [`SeenStore`](simcore::http::SeenStore)): each sighting is one `SET key 1 NX PX ttl`, atomic,
/// so of two replicas given the same key at once exactly one sees it first.
///
/// Unlike the token store and the budget, it has no local fallback: when Redis cannot be
/// reached, it says so ([`StoreError`]) and the caller decides (a callback handler answers 503,
/// so that the sender delivers again later), since guessing would either handle an event twice
/// or drop it.
#[derive(Debug, Clone)]
pub struct RedisSeenStore {
    redis: Redis,
}

impl RedisSeenStore {
    /// A store of seen keys under the handle's prefix (`seen:` then the key).
    pub fn new(redis: &Redis) -> Self {
        Self {
            redis: redis.clone(),
        }
    }

    async fn command<T: ::redis::FromRedisValue>(
        &self,
        cmd: &::redis::Cmd,
    ) -> std::result::Result<T, StoreError> {
        let unreachable = || StoreError("Redis unreachable".to_owned());
        let mut conn = self.redis.conn().await.ok_or_else(unreachable)?;
        match cmd.query_async(&mut conn).await {
            Ok(v) => {
                self.redis.worked();
                Ok(v)
            }
            Err(e) => {
                self.redis.failed("seen store", &e.to_string());
                Err(unreachable())
            }
        }
    }
}

#[async_trait::async_trait]
impl simcore::http::SeenStore for RedisSeenStore {
    async fn first_sighting(
        &self,
        key: &str,
        ttl: Duration,
    ) -> std::result::Result<bool, StoreError> {
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1);
        let mut cmd = ::redis::cmd("SET");
        cmd.arg(self.redis.key(&format!("seen:{key}")))
            .arg(1)
            .arg("NX")
            .arg("PX")
            .arg(millis);
        let set: Option<String> = self.command(&cmd).await?;
        Ok(set.is_some())
    }

    async fn forget(&self, key: &str) -> std::result::Result<bool, StoreError> {
        let mut cmd = ::redis::cmd("DEL");
        cmd.arg(self.redis.key(&format!("seen:{key}")));
        let removed: i64 = self.command(&cmd).await?;
        Ok(removed > 0)
    }
}

// ----- encryption at rest -----

/// A 32-byte key that seals tokens at rest (XChaCha20-Poly1305; see the module docs). Its
/// `Debug` never shows it.
#[derive(Clone)]
pub struct TokenKey(chacha20poly1305::Key);

impl fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenKey([redacted])")
    }
}

impl TokenKey {
    /// A key from its 32 bytes.
    pub fn new(bytes: [u8; 32]) -> Self {
        Self(bytes.into())
    }

    /// A key from its 32 bytes in standard base64 (as `openssl rand -base64 32` prints them). A
    /// value that is not 32 bytes of base64 is an [`Error::Config`] that does not quote it.
    pub fn from_base64(text: &str) -> Result<Self> {
        let bytes = STANDARD
            .decode(text.trim())
            .map_err(|_| Error::Config("the token encryption key is not base64".to_owned()))?;
        let bytes: [u8; 32] = bytes.try_into().map_err(|b: Vec<u8>| {
            Error::Config(format!(
                "the token encryption key must be 32 bytes (found {})",
                b.len()
            ))
        })?;
        Ok(Self::new(bytes))
    }

    /// A new random key (from the operating system's generator).
    pub fn generate() -> Self {
        Self(XChaCha20Poly1305::generate_key(&mut OsRng))
    }
}

const SEALED: &str = "x1:";
const PLAIN: &str = "p1:";

/// `value` as stored under `key`: sealed with `cipher` (associated data: the key), or plain.
fn seal(cipher: Option<&XChaCha20Poly1305>, key: &str, value: &[u8]) -> Vec<u8> {
    match cipher {
        Some(c) => {
            let nonce = XChaCha20Poly1305::generate_nonce(&mut OsRng);
            // Sealing cannot fail for values this small.
            let sealed = c
                .encrypt(
                    &nonce,
                    Payload {
                        msg: value,
                        aad: key.as_bytes(),
                    },
                )
                .unwrap_or_default();
            let mut raw = nonce.to_vec();
            raw.extend_from_slice(&sealed);
            format!("{SEALED}{}", STANDARD.encode(raw)).into_bytes()
        }
        None => {
            let mut out = PLAIN.as_bytes().to_vec();
            out.extend_from_slice(value);
            out
        }
    }
}

/// The value stored under `key`, opened; `None` when it is not what this store writes (sealed
/// without a key, plain with one, another key, tampered with).
fn open(cipher: Option<&XChaCha20Poly1305>, key: &str, stored: &[u8]) -> Option<Vec<u8>> {
    match cipher {
        Some(c) => {
            let raw = STANDARD
                .decode(stored.strip_prefix(SEALED.as_bytes())?)
                .ok()?;
            if raw.len() < 24 {
                return None;
            }
            let (nonce, sealed) = raw.split_at(24);
            c.decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: key.as_bytes(),
                },
            )
            .ok()
        }
        None => stored.strip_prefix(PLAIN.as_bytes()).map(<[u8]>::to_vec),
    }
}

/// A token as stored: the header's name and value, when it was issued and when it expires.
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredToken {
    n: String,
    v: String,
    i: u64,
    e: u64,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn encode_token(token: &Token) -> Option<Vec<u8>> {
    let h = token.header();
    let stored = StoredToken {
        n: h.name().as_str().to_owned(),
        v: h.value().to_str().ok()?.to_owned(),
        i: unix_ms(token.issued_at()),
        e: unix_ms(token.expires_at()),
    };
    serde_json::to_vec(&stored).ok()
}

fn decode_token(bytes: &[u8]) -> Option<Token> {
    let s: StoredToken = serde_json::from_slice(bytes).ok()?;
    let name = simcore::http::header::HeaderName::from_bytes(s.n.as_bytes()).ok()?;
    let header = AuthHeader::new(name, &s.v).ok()?;
    let at = |ms: u64| SystemTime::UNIX_EPOCH + Duration::from_millis(ms);
    Some(Token::from_parts(header, at(s.i), at(s.e)))
}

// ----- the token store -----

/// Looks up a token: the token, else a remembered refusal, else a passing failure, else the lock
/// (taken if free). KEYS: token, refused, failed, lock. ARGV: owner, lock ttl (ms).
static LOOKUP: LazyLock<::redis::Script> = LazyLock::new(|| {
    ::redis::Script::new(
        r"
local v = redis.call('GET', KEYS[1])
if v then return {'token', v} end
v = redis.call('GET', KEYS[2])
if v then return {'failed', v} end
v = redis.call('GET', KEYS[3])
if v then return {'failed', v} end
if redis.call('SET', KEYS[4], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'acquired', ''} end
return {'busy', ''}
",
    )
});

/// Stores a token (or a failure) and releases the lock if the caller still holds it.
/// KEYS: where to store, lock, then the keys to delete. ARGV: owner, value, ttl (ms).
static SETTLE: LazyLock<::redis::Script> = LazyLock::new(|| {
    ::redis::Script::new(
        r"
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
for i = 3, #KEYS do redis.call('DEL', KEYS[i]) end
if redis.call('GET', KEYS[2]) == ARGV[1] then redis.call('DEL', KEYS[2]) end
return 1
",
    )
});

/// Deletes a key if it holds exactly this value. KEYS: the key. ARGV: the value.
static DELETE_IF: LazyLock<::redis::Script> = LazyLock::new(|| {
    ::redis::Script::new(
        r"
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
",
    )
});

/// Session tokens on Redis, shared by every process that uses the same [`Redis`] prefix and
/// key (see the module docs; and [`TokenCache`](simcore::http::TokenCache) for the protocol).
#[derive(Clone)]
pub struct RedisTokenStore {
    redis: Redis,
    cipher: Option<XChaCha20Poly1305>,
    lock_ttl: Duration,
    poll: Duration,
}

impl fmt::Debug for RedisTokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisTokenStore")
            .field("redis", &self.redis)
            .field("encrypted", &self.cipher.is_some())
            .field("lock_ttl", &self.lock_ttl)
            .finish()
    }
}

impl RedisTokenStore {
    /// A store on `redis`: tokens **in the clear** until an
    /// [`encryption_key`](Self::encryption_key) is given (see the module docs), a lock time to
    /// live of [`DEFAULT_LOCK_TTL`], a look every 50 ms while another process logs in.
    pub fn new(redis: &Redis) -> Self {
        Self {
            redis: redis.clone(),
            cipher: None,
            lock_ttl: DEFAULT_LOCK_TTL,
            poll: Duration::from_millis(50),
        }
    }

    /// Seals every value with `key` (XChaCha20-Poly1305, a random nonce per write).
    pub fn encryption_key(mut self, key: TokenKey) -> Self {
        self.cipher = Some(XChaCha20Poly1305::new(&key.0));
        self
    }

    /// How long a refresh lock lives at most (default [`DEFAULT_LOCK_TTL`]): a holder killed
    /// mid-login blocks the others no longer than this. Make it longer than a login takes.
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// How often a process waiting for another's login looks again (default 50 ms).
    pub fn poll_interval(mut self, every: Duration) -> Self {
        self.poll = every;
        self
    }

    /// The Redis keys of a token: the token, the refusal, the passing failure, the lock.
    fn keys(&self, key: &str) -> [String; 4] {
        let base = self.redis.key(&format!("token:{{{key}}}"));
        [
            base.clone(),
            format!("{base}:refused"),
            format!("{base}:failed"),
            format!("{base}:lock"),
        ]
    }

    /// Writes `value` at `store_at` for `ttl`, deletes `delete`, and releases the lock if
    /// `owner` still holds it: one script.
    async fn settle(
        &self,
        store_at: &str,
        lock: &str,
        delete: &[&str],
        owner: &LockOwner,
        value: &[u8],
        ttl: Duration,
    ) -> std::result::Result<(), StoreError> {
        let mut call = SETTLE.key(store_at);
        call.key(lock);
        for k in delete {
            call.key(*k);
        }
        call.arg(owner.as_str())
            .arg(value)
            .arg(ttl.as_millis().max(1) as u64);
        self.redis
            .run::<i64>("token store", &call)
            .await
            .map(drop)
            .ok_or_else(|| StoreError("Redis unreachable".to_owned()))
    }
}

fn random_owner() -> LockOwner {
    let mut bytes = [0u8; 16];
    OsRng.fill_bytes(&mut bytes);
    LockOwner::new(hex_string(&bytes))
}

fn hex_string(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[async_trait]
impl TokenStore for RedisTokenStore {
    async fn lookup(&self, key: &str) -> std::result::Result<Lookup, StoreError> {
        let keys = self.keys(key);
        let owner = random_owner();
        let mut call = LOOKUP.key(&keys[0]);
        call.key(&keys[1])
            .key(&keys[2])
            .key(&keys[3])
            .arg(owner.as_str())
            .arg(self.lock_ttl.as_millis().max(1) as u64);
        let (kind, value): (String, Vec<u8>) = self
            .redis
            .run("token store", &call)
            .await
            .ok_or_else(|| StoreError("Redis unreachable".to_owned()))?;
        let unreadable = || {
            StoreError(
                "a stored value cannot be read (another encryption key, or none, wrote it?)"
                    .to_owned(),
            )
        };
        match kind.as_str() {
            "token" => open(self.cipher.as_ref(), &keys[0], &value)
                .and_then(|v| decode_token(&v))
                .map(Lookup::Token)
                .ok_or_else(unreadable),
            "failed" => {
                // Opened with the key it was stored under (the refusal's or the failure's).
                [&keys[1], &keys[2]]
                    .iter()
                    .find_map(|k| open(self.cipher.as_ref(), k, &value))
                    .and_then(|v| serde_json::from_slice::<SharedFailure>(&v).ok())
                    .map(Lookup::Failed)
                    .ok_or_else(unreadable)
            }
            "acquired" => Ok(Lookup::Acquired(owner)),
            "busy" => Ok(Lookup::Busy),
            other => Err(StoreError(format!("unexpected answer {other:?}"))),
        }
    }

    async fn store_token(
        &self,
        key: &str,
        lock: &LockOwner,
        token: &Token,
        fresh_for: Duration,
    ) -> std::result::Result<(), StoreError> {
        let [t, refused, failed, l] = self.keys(key);
        let plain = encode_token(token)
            .ok_or_else(|| StoreError("the token cannot be stored".to_owned()))?;
        let value = seal(self.cipher.as_ref(), &t, &plain);
        if fresh_for.is_zero() {
            // Already due for refresh: only release the lock.
            let mut call = DELETE_IF.key(&l);
            call.arg(lock.as_str());
            return self
                .redis
                .run::<i64>("token store", &call)
                .await
                .map(drop)
                .ok_or_else(|| StoreError("Redis unreachable".to_owned()));
        }
        self.settle(&t, &l, &[&refused, &failed], lock, &value, fresh_for)
            .await
    }

    async fn store_failure(
        &self,
        key: &str,
        lock: &LockOwner,
        failure: &SharedFailure,
    ) -> std::result::Result<(), StoreError> {
        let [_, refused, failed, l] = self.keys(key);
        let at = if failure.refused { &refused } else { &failed };
        let plain = serde_json::to_vec(failure)
            .map_err(|_| StoreError("the failure cannot be stored".to_owned()))?;
        let value = seal(self.cipher.as_ref(), at, &plain);
        let ttl = failure
            .until()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        self.settle(at, &l, &[], lock, &value, ttl).await
    }

    async fn forget(&self, key: &str, header: &AuthHeader) -> std::result::Result<(), StoreError> {
        let [t, ..] = self.keys(key);
        let mut conn = self
            .redis
            .conn()
            .await
            .ok_or_else(|| StoreError("Redis unreachable".to_owned()))?;
        let stored: Option<Vec<u8>> = match ::redis::cmd("GET").arg(&t).query_async(&mut conn).await
        {
            Ok(v) => v,
            Err(e) => {
                self.redis.failed("token store", &e.to_string());
                return Err(StoreError("Redis unreachable".to_owned()));
            }
        };
        let Some(stored) = stored else { return Ok(()) };
        let same = open(self.cipher.as_ref(), &t, &stored)
            .and_then(|v| decode_token(&v))
            .is_some_and(|tok| tok.header().value() == header.value());
        if same {
            let mut call = DELETE_IF.key(&t);
            call.arg(stored);
            self.redis
                .run::<i64>("token store", &call)
                .await
                .ok_or_else(|| StoreError("Redis unreachable".to_owned()))?;
        }
        Ok(())
    }

    fn poll_interval(&self) -> Duration {
        self.poll
    }
}

// ----- the rate budget -----

/// The reserving GCRA of [`simcore::budget`], on Redis's clock. KEYS: the budget. ARGV: interval
/// and tolerance (µs). Returns the wait in µs.
static GCRA: LazyLock<::redis::Script> = LazyLock::new(|| {
    ::redis::Script::new(
        r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local wait = tat - tolerance - now
if wait < 0 then wait = 0 end
local next = tat + interval
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.floor((next - now) / 1000) + 1000)
return wait
",
    )
});

/// A rate budget on Redis: `per_second` requests on average, up to `burst` at once, for every
/// process that uses the same [`Redis`] prefix and name. One script call per request, on
/// Redis's clock (so the processes' clocks do not matter); while Redis cannot be reached, places
/// come from a local budget instead (by default the same rate in this process alone; see
/// [`fallback`](Self::fallback)). Every process must give the same rate and burst for a name.
pub struct RedisRateBudget {
    redis: Redis,
    key: String,
    per_second: f64,
    burst: u32,
    interval: u64,
    tolerance: u64,
    local: LocalBudget,
    local_places: AtomicU64,
}

impl fmt::Debug for RedisRateBudget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisRateBudget")
            .field("redis", &self.redis)
            .field("key", &self.key)
            .field("per_second", &self.per_second)
            .field("burst", &self.burst)
            .field("fallback", &self.local)
            .finish()
    }
}

impl RedisRateBudget {
    /// The budget `name` (a provider account, an egress IP) on `redis`.
    pub fn new(redis: &Redis, name: &str, per_second: f64, burst: u32) -> Self {
        let (interval, tolerance) = gcra_params(per_second, burst);
        Self {
            redis: redis.clone(),
            key: redis.key(&format!("budget:{{{name}}}")),
            per_second,
            burst,
            interval,
            tolerance,
            local: LocalBudget::new(per_second, burst),
            local_places: AtomicU64::new(0),
        }
    }

    /// The local budget used while Redis cannot be reached (default: the same rate and burst,
    /// for this process alone, so one process never goes past the fleet's budget; with `n`
    /// replicas down on Redis together the fleet may send `n` times it, and each bulk run's own
    /// pacer then follows the provider's 429s).
    pub fn fallback(mut self, local: LocalBudget) -> Self {
        self.local = local;
        self
    }

    /// How many places came from the local budget because Redis could not be reached.
    pub fn local_places(&self) -> u64 {
        self.local_places.load(Ordering::Relaxed)
    }

    /// The Redis handle.
    pub fn redis(&self) -> &Redis {
        &self.redis
    }
}

#[async_trait]
impl RateBudget for RedisRateBudget {
    async fn reserve(&self) -> Duration {
        let mut call = GCRA.key(&self.key);
        call.arg(self.interval).arg(self.tolerance);
        if let Some(wait) = self.redis.run::<u64>("rate budget", &call).await {
            return Duration::from_micros(wait);
        }
        self.local_places.fetch_add(1, Ordering::Relaxed);
        self.local.take()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_under_their_key_and_with_the_key() {
        let key = TokenKey::new([7; 32]);
        let c = XChaCha20Poly1305::new(&key.0);
        let a = seal(Some(&c), "p:token:{a}", b"SENTINEL-TOKEN");
        let b = seal(Some(&c), "p:token:{a}", b"SENTINEL-TOKEN");
        assert_ne!(a, b, "a fresh nonce per write");
        assert!(!String::from_utf8_lossy(&a).contains("SENTINEL"));
        assert_eq!(
            open(Some(&c), "p:token:{a}", &a).unwrap(),
            b"SENTINEL-TOKEN"
        );
        assert_eq!(
            open(Some(&c), "p:token:{b}", &a),
            None,
            "moved to another key"
        );
        let other = XChaCha20Poly1305::new(&TokenKey::new([8; 32]).0);
        assert_eq!(open(Some(&other), "p:token:{a}", &a), None, "another key");
        assert_eq!(
            open(None, "p:token:{a}", &a),
            None,
            "sealed, read without a key"
        );
        let plain = seal(None, "k", b"t");
        assert_eq!(plain, b"p1:t");
        assert_eq!(open(Some(&c), "k", &plain), None, "plain, read with a key");
        let mut tampered = a.clone();
        let last = tampered.len() - 2;
        tampered[last] ^= 1;
        assert_eq!(open(Some(&c), "p:token:{a}", &tampered), None);
        assert_eq!(open(Some(&c), "k", b"x1:AAAA"), None);
    }

    #[test]
    fn keys_parse_and_never_print() {
        let k = TokenKey::from_base64("BwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwcHBwc=").unwrap();
        assert_eq!(k.0.as_slice(), &[7; 32]);
        assert_eq!(format!("{k:?}"), "TokenKey([redacted])");
        assert!(
            matches!(TokenKey::from_base64("AAAA"), Err(Error::Config(m)) if m.contains("32 bytes"))
        );
        assert!(matches!(
            TokenKey::from_base64("not base64!"),
            Err(Error::Config(_))
        ));
        let r = Redis::new("redis://:SENTINEL-PW@127.0.0.1:1/2", "p:").unwrap();
        let shown = format!("{r:?}");
        assert!(!shown.contains("SENTINEL"), "{shown}");
        assert!(shown.contains("127.0.0.1:1/2"), "{shown}");
        let e = Redis::new("nonsense://SENTINEL", "p").unwrap_err();
        assert!(!e.to_string().contains("SENTINEL"));
    }

    #[test]
    fn tokens_round_trip_through_their_stored_form() {
        let h = AuthHeader::new(simcore::http::header::AUTHORIZATION, "Bearer abc").unwrap();
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let t = Token::from_parts(h, at(1_700_000_000), at(1_700_003_600));
        let back = decode_token(&encode_token(&t).unwrap()).unwrap();
        assert_eq!(back.header().value(), "Bearer abc");
        assert!(back.header().value().is_sensitive());
        assert_eq!(back.issued_at(), t.issued_at());
        assert_eq!(back.expires_at(), t.expires_at());
        assert!(decode_token(b"{}").is_none());
    }
}

/// The README's example, compiled as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
