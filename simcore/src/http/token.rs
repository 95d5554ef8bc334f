//! Session tokens: fetched once, shared, refreshed early, never fetched twice at once.
//!
//! Several providers hand out a token in exchange for credentials: emnify's `authenticate`
//! (a JWT), KORE's OAuth2 client-credentials endpoint, EdgeIQ's session login. What they share is
//! here, once: a provider crate describes how to fetch its token ([`TokenSource`]) and plugs a
//! [`TokenCache`] over it into its transport as the [`Authenticator`].
//!
//! - **Single flight.** A fresh token is read without waiting. Requests that find none queue on
//!   one lock held across the fetch: any number of them cause one fetch and then share its token
//!   (or its failure), whatever its lifetime. A token with no lifetime at all (zero or
//!   negative: a provider's quirk, or a clock behind the provider's) is kept for
//!   [`MIN_TOKEN_LIFETIME`], with a tracing event that says so, so that serial requests do not
//!   fetch a token each; a 401 still replaces it at once.
//! - **Early refresh.** A token is replaced before it expires: [`TokenCacheOptions::refresh_margin`]
//!   ahead (60 s by default), or a tenth of its lifetime for tokens shorter than ten margins, so a
//!   short-lived token still serves most of its life.
//! - **One re-fetch on a 401.** A rejected token is dropped only if it is still the cached one,
//!   so many requests rejected at once cause one new fetch; the transport retries each request
//!   once with the new token.
//! - **Never retried.** The fetch is one attempt (sources build their transport with
//!   [`RetryPolicy::none`](crate::retry::RetryPolicy::none)), and a refused fetch (the provider
//!   looked at the credentials and said no: [`TokenSource::is_refusal`]) is remembered for
//!   [`TokenCacheOptions::refusal_cooldown`] (5 minutes by default): requests in that time get the
//!   same error without sending the credentials again. A provider that locks accounts out after a
//!   few failed logins (emnify: three) is never pushed there by the SDK.
//! - **Nothing prints.** Tokens live in sensitive headers; the credentials in the source, which
//!   adds them (and the current token) to the transport's [`Redactor`].
//!
//! - **Shared by many processes**, with a [`TokenStore`]: see [`TokenCache::with_store`].

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;

use super::{AuthHeader, Authenticator, Redactor};
use crate::error::{ApiError, Error, Result};
use crate::trace::event;

/// How long a token handed out with no lifetime left (an expiry at or before the time it was
/// issued: `expires_in: 0`, a negative one, a JWT `exp` behind this machine's clock) is kept,
/// from when it was issued, unless a 401 says otherwise first (see [`TokenCache`]). A short
/// positive lifetime is kept as given.
pub const MIN_TOKEN_LIFETIME: Duration = Duration::from_secs(30);

/// How many tokens handed out before the current one a cache still cuts out of answers.
const PREVIOUS_TOKENS: usize = 8;

/// The default refresh margin: 60 s before expiry.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// The default time a refused fetch is remembered: 5 minutes.
pub const DEFAULT_REFUSAL_COOLDOWN: Duration = Duration::from_secs(5 * 60);
/// How long a passing failure of a fetch (a 429, a timeout, a 5xx) is kept in a shared
/// [`TokenStore`]: the requests that waited for that fetch share it, and later ones wait until it
/// is gone, so a fleet tries at most one fetch in this time while the provider is in trouble.
pub const SHARED_FAILURE_HOLD: Duration = Duration::from_secs(3);

/// A token as a provider handed it out: the header to send, and when it expires.
#[derive(Clone)]
pub struct Token {
    header: AuthHeader,
    expires_at: SystemTime,
    issued_at: SystemTime,
}

impl Token {
    /// A token sent as `header`, valid until `expires_at`.
    pub fn new(header: AuthHeader, expires_at: SystemTime) -> Self {
        Self {
            header,
            expires_at,
            issued_at: SystemTime::now(),
        }
    }

    /// A token as it was handed out: sent as `header`, issued at `issued_at`, valid until
    /// `expires_at` (to re-create a token kept elsewhere, such as in a [`TokenStore`]).
    pub fn from_parts(header: AuthHeader, issued_at: SystemTime, expires_at: SystemTime) -> Self {
        Self {
            header,
            expires_at,
            issued_at,
        }
    }

    /// A token valid for `lifetime` from now.
    pub fn valid_for(header: AuthHeader, lifetime: Duration) -> Self {
        let now = SystemTime::now();
        Self {
            header,
            expires_at: now.checked_add(lifetime).unwrap_or(now),
            issued_at: now,
        }
    }

    /// The header to send.
    pub fn header(&self) -> &AuthHeader {
        &self.header
    }

    /// When the provider stops accepting it.
    pub fn expires_at(&self) -> SystemTime {
        self.expires_at
    }

    /// When it was handed out.
    pub fn issued_at(&self) -> SystemTime {
        self.issued_at
    }

    /// The token with [`MIN_TOKEN_LIFETIME`] for a lifetime when the provider gave it none
    /// (an expiry at or before its issue): it is then used for that long, a 401 fetching a fresh
    /// one as usual. Says so with a tracing event.
    pub(crate) fn with_lifetime_floor(mut self) -> Self {
        if self.expires_at > self.issued_at {
            return self;
        }
        event!("token lifetime below the floor: kept for the floor";
            auth.floor_ms = MIN_TOKEN_LIFETIME.as_millis() as u64,
        );
        self.expires_at = self
            .issued_at
            .checked_add(MIN_TOKEN_LIFETIME)
            .unwrap_or(self.issued_at);
        self
    }

    /// When to stop using it: `margin` before expiry, or a tenth of its lifetime before expiry
    /// when that is shorter.
    pub(crate) fn refresh_at(&self, margin: Duration) -> SystemTime {
        let life = self
            .expires_at
            .duration_since(self.issued_at)
            .unwrap_or_default();
        let margin = margin.min(life / 10);
        self.expires_at
            .checked_sub(margin)
            .unwrap_or(SystemTime::UNIX_EPOCH)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Token")
            .field("header", &self.header)
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// How a provider's token is fetched: one call, no retries.
#[async_trait]
pub trait TokenSource: Send + Sync + fmt::Debug {
    /// Fetches a new token (one attempt; the cache never retries it).
    async fn fetch(&self) -> Result<Token>;

    /// Whether `error` is the provider's verdict on the credentials (so they are not sent again
    /// for a while), rather than a passing trouble (a 429, a timeout, a 5xx). By default: an
    /// answer 400, 401, 403 or 422.
    fn is_refusal(&self, error: &Error) -> bool {
        error
            .api()
            .is_some_and(|a| matches!(a.status, 400 | 401 | 403 | 422))
    }

    /// Adds the credentials this source sends (in every form they are sent in) to `into`.
    fn redact(&self, into: &mut Redactor);

    /// The provider's name, as errors carry it: a failure another process remembered in a
    /// shared [`TokenStore`] is re-created with it. By default `"session login"`.
    fn provider(&self) -> &'static str {
        "session login"
    }
}

/// Settings of a [`TokenCache`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TokenCacheOptions {
    /// How long before expiry a token is replaced (default 60 s; at most a tenth of the token's
    /// lifetime).
    pub refresh_margin: Duration,
    /// How long a refused fetch is remembered and not repeated (default 5 minutes).
    pub refusal_cooldown: Duration,
}

impl Default for TokenCacheOptions {
    fn default() -> Self {
        Self {
            refresh_margin: DEFAULT_REFRESH_MARGIN,
            refusal_cooldown: DEFAULT_REFUSAL_COOLDOWN,
        }
    }
}

/// A failed fetch, shared with the requests that waited for it.
struct Failure {
    at: Instant,
    error: Error,
    /// For a refusal: until when it is remembered.
    refused_until: Option<Instant>,
}

struct Cached {
    token: Token,
    refresh_at: SystemTime,
    /// When this process got it: requests that queued for a fetch before then share it, fresh
    /// or not (single flight, whatever the token's lifetime).
    got_at: Instant,
}

/// A store a [`TokenCache`] shares its token through, with other processes (on Redis:
/// `simcore_redis::RedisTokenStore`, crate `simcore-redis`) or other clients of this process
/// ([`MemoryTokenStore`]). See [`TokenCache::with_store`] for the protocol.
///
/// Every method is one step of the protocol; an `Err` means the store could not be reached (or
/// answered nonsense), and the cache then does without it for that request.
#[async_trait]
pub trait TokenStore: Send + Sync + fmt::Debug {
    /// What is under `key`: a fresh token, a remembered failure, or the refresh lock (taken for
    /// the caller if it was free, for the store's lock time to live), in that order.
    async fn lookup(&self, key: &str) -> std::result::Result<Lookup, StoreError>;

    /// Stores `token` under `key` for `fresh_for` (until it is due for refresh), forgets any
    /// failure stored there, and releases the lock if `lock` still holds it.
    async fn store_token(
        &self,
        key: &str,
        lock: &LockOwner,
        token: &Token,
        fresh_for: Duration,
    ) -> std::result::Result<(), StoreError>;

    /// Stores `failure` under `key` until its [`until`](SharedFailure::until), and releases the
    /// lock if `lock` still holds it.
    async fn store_failure(
        &self,
        key: &str,
        lock: &LockOwner,
        failure: &SharedFailure,
    ) -> std::result::Result<(), StoreError>;

    /// Forgets the token under `key` if it is the one sent as `header` (a 401 said it is no
    /// good).
    async fn forget(&self, key: &str, header: &AuthHeader) -> std::result::Result<(), StoreError>;

    /// How long to wait before looking again while another holder fetches (default 50 ms).
    fn poll_interval(&self) -> Duration {
        Duration::from_millis(50)
    }
}

/// What a [`TokenStore`] found under a key.
#[derive(Debug)]
#[non_exhaustive]
pub enum Lookup {
    /// A token stored by another holder, fresh (the store forgets it when it is due for
    /// refresh).
    Token(Token),
    /// A failed fetch another holder stored.
    Failed(SharedFailure),
    /// Another holder has the refresh lock: look again shortly.
    Busy,
    /// The caller holds the refresh lock now: fetch, then store the token or the failure.
    Acquired(LockOwner),
}

/// The value a refresh lock holds: random, so only its holder releases it.
#[derive(Clone, PartialEq, Eq)]
pub struct LockOwner(String);

impl LockOwner {
    /// An owner value (make it unguessable: a holder's release deletes the lock only if it still
    /// holds this value).
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for LockOwner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("LockOwner(..)")
    }
}

/// A failed fetch as a [`TokenStore`] keeps it: what the provider answered, when, and until when
/// it is remembered. The message is the error's, with the credentials already cut out.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SharedFailure {
    /// Whether the provider refused the credentials (then no process sends them again before
    /// [`until`](Self::until)).
    pub refused: bool,
    /// The HTTP status, when the provider answered.
    pub status: Option<u16>,
    /// The provider's error code, if any.
    pub code: Option<i64>,
    /// The provider's symbolic error name, if any.
    pub name: Option<String>,
    /// What happened, as the error said it.
    pub message: String,
    /// When it failed (milliseconds since the Unix epoch).
    pub at_ms: u64,
    /// Until when it is remembered (milliseconds since the Unix epoch).
    pub until_ms: u64,
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn from_unix_ms(ms: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_millis(ms)
}

impl SharedFailure {
    /// The failure of `error`, remembered for `hold` from now.
    pub fn from_error(error: &Error, refused: bool, hold: Duration) -> Self {
        let now = SystemTime::now();
        let (status, code, name, message) = match error {
            Error::Api(a) => (Some(a.status), a.code, a.token.clone(), a.message.clone()),
            other => (other.status(), None, None, other.to_string()),
        };
        Self {
            refused,
            status,
            code,
            name,
            message,
            at_ms: unix_ms(now),
            until_ms: unix_ms(now.checked_add(hold).unwrap_or(now)),
        }
    }

    /// When it failed.
    pub fn at(&self) -> SystemTime {
        from_unix_ms(self.at_ms)
    }

    /// Until when it is remembered.
    pub fn until(&self) -> SystemTime {
        from_unix_ms(self.until_ms)
    }

    /// The error a request gets for it in this process, which sent nothing: the provider's
    /// answer as it was, and a note saying where it comes from.
    pub fn to_error(&self, provider: &'static str) -> Error {
        let left = self
            .until()
            .duration_since(SystemTime::now())
            .unwrap_or_default();
        let note = if self.refused {
            format!(
                "(refused for a process sharing this token store; the credentials are not sent \
                 again for {}s)",
                left.as_secs()
            )
        } else {
            "(the login failed for a process sharing this token store)".to_owned()
        };
        match self.status {
            Some(status) => {
                let mut api = ApiError::new(provider, status)
                    .with_message(format!("{} {note}", self.message).trim_start().to_owned());
                api.code = self.code;
                api.token = self.name.clone();
                api.attempts = 0;
                api.into()
            }
            None => Error::Transport {
                provider,
                message: format!("{} {note}", self.message),
                attempts: 0,
                source: None,
            },
        }
    }
}

/// A shared store ([`TokenStore`], [`SeenStore`](super::SeenStore)) that could not be reached,
/// or answered what it should not have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreError(pub String);

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "shared store: {}", self.0)
    }
}

impl std::error::Error for StoreError {}

/// The shared store of a cache, and its key.
struct Shared {
    store: Arc<dyn TokenStore>,
    key: String,
    /// Whether the store failed last time (so the fallback is said once per outage).
    down: std::sync::atomic::AtomicBool,
}

impl Shared {
    fn failed(&self, e: &StoreError) {
        if !self.down.swap(true, std::sync::atomic::Ordering::Relaxed) {
            event!("shared token store unreachable; fetching tokens in this process";
                store.error = e.to_string().as_str(),
            );
        }
        let _ = e;
    }

    fn worked(&self) {
        if self.down.swap(false, std::sync::atomic::Ordering::Relaxed) {
            event!("shared token store reachable again";);
        }
    }
}

/// The token cache and authenticator: plug it into a transport with
/// [`Auth::dynamic`](super::Auth::dynamic).
pub struct TokenCache {
    source: Arc<dyn TokenSource>,
    options: TokenCacheOptions,
    /// The token in use: read without waiting by every request while it is fresh.
    current: std::sync::RwLock<Option<Cached>>,
    /// Held across a fetch: the single flight. Holds the last failure.
    flight: tokio::sync::Mutex<Option<Failure>>,
    /// The tokens it handed out before the cached one, newest last: still secrets.
    previous: std::sync::Mutex<std::collections::VecDeque<AuthHeader>>,
    fetches: std::sync::atomic::AtomicU64,
    shared: Option<Shared>,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("source", &self.source)
            .field("options", &self.options)
            .field("store", &self.shared.as_ref().map(|s| &s.store))
            .finish_non_exhaustive()
    }
}

impl TokenCache {
    /// A cache over `source` with default options.
    pub fn new(source: Arc<dyn TokenSource>) -> Self {
        Self::with_options(source, TokenCacheOptions::default())
    }

    /// A cache over `source`.
    pub fn with_options(source: Arc<dyn TokenSource>, options: TokenCacheOptions) -> Self {
        Self {
            source,
            options,
            current: std::sync::RwLock::new(None),
            flight: tokio::sync::Mutex::new(None),
            previous: std::sync::Mutex::new(std::collections::VecDeque::new()),
            fetches: std::sync::atomic::AtomicU64::new(0),
            shared: None,
        }
    }

    /// A cache over `source` that shares its token through `store` under `key`. `key` names the
    /// credential: processes that share it must log in with the same one.
    ///
    /// # Shared by many processes
    /// A service usually runs as many replicas, and each would log in on its own: fifty pods that
    /// start together make fifty logins (emnify allows 100 per 5 minutes per IP), and with a wrong
    /// credential they lock the account out for all of them. This cache puts the token in a [`TokenStore`] that every process reaches (`simcore_redis::RedisTokenStore`, crate
    /// `simcore-redis`; [`MemoryTokenStore`] shares one between clients of one process):
    ///
    /// - a request that finds no fresh token in this process asks the store (one round trip): the
    ///   token, if one is stored and fresh; a remembered failure; or the refresh lock, taken if it
    ///   was free (with a time to live, so a holder that dies does not block anyone past it);
    /// - the lock holder fetches (still one fetch per process at a time) and stores the token until
    ///   it is due for refresh, or the failure: a refusal for [`TokenCacheOptions::refusal_cooldown`],
    ///   so no process sends the refused credentials again in that time; a passing failure (a 429, a
    ///   timeout, a 5xx) for [`SHARED_FAILURE_HOLD`], so that the requests that waited for it share
    ///   it and the fleet tries at most once in that time;
    /// - the others look again every [`TokenStore::poll_interval`] until the token or the failure is
    ///   there, or the lock is free to take;
    /// - when the store cannot be reached, the process fetches its own token as it would without a
    ///   store (and says so once, as a tracing event where the feature is on): a request never
    ///   fails for the store.
    ///
    /// The key names one credential: processes with other credentials must use another key, or
    /// they share a token that is not theirs (and a refusal that is not theirs).
    pub fn with_store(
        source: Arc<dyn TokenSource>,
        options: TokenCacheOptions,
        store: Arc<dyn TokenStore>,
        key: impl Into<String>,
    ) -> Self {
        let mut cache = Self::with_options(source, options);
        cache.shared = Some(Shared {
            store,
            key: key.into(),
            down: std::sync::atomic::AtomicBool::new(false),
        });
        cache
    }

    /// The source it fetches from.
    pub fn source(&self) -> &Arc<dyn TokenSource> {
        &self.source
    }

    /// How many fetches it has made (successful or not).
    pub fn fetches(&self) -> u64 {
        self.fetches.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// When the cached token expires, if one is cached.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.read().as_ref().map(|c| c.token.expires_at)
    }

    /// The header to send now, fetching a token first if none is fresh (see [`with_store`](Self::with_store) for a shared one).
    pub async fn token(&self) -> Result<AuthHeader> {
        if let Some(header) = self.fresh() {
            return Ok(header);
        }
        let arrived = Instant::now();
        let arrived_at = SystemTime::now();
        let mut failure = self.flight.lock().await;
        // Another request may have fetched while this one waited: share its token, even one
        // already due for refresh (a lifetime shorter than the wait), or every waiter would
        // fetch its own.
        if let Some(header) = self.fresh().or_else(|| self.got_since(arrived)) {
            return Ok(header);
        }
        if let Some(f) = failure.as_ref() {
            // Failed while this request waited, or refused a short while ago: share the answer.
            if f.at >= arrived || f.refused_until.is_some_and(|u| Instant::now() < u) {
                return Err(f.error.clone());
            }
        }
        let Some(shared) = &self.shared else {
            return self.fetch(&mut failure, None).await;
        };
        // Ask the store until it has the token or a failure to share, or hands the lock over.
        loop {
            let found = match shared.store.lookup(&shared.key).await {
                Ok(found) => found,
                Err(e) => {
                    shared.failed(&e);
                    return self.fetch(&mut failure, None).await;
                }
            };
            shared.worked();
            match found {
                Lookup::Token(token) => {
                    let token = token.with_lifetime_floor();
                    let header = token.header.clone();
                    self.keep(token);
                    *failure = None;
                    return Ok(header);
                }
                Lookup::Failed(f) if f.refused || f.at() >= arrived_at => {
                    let error = f.to_error(self.source.provider());
                    let left = f
                        .until()
                        .duration_since(SystemTime::now())
                        .unwrap_or_default();
                    *failure = Some(Failure {
                        at: Instant::now(),
                        error: error.clone(),
                        refused_until: f.refused.then(|| Instant::now() + left),
                    });
                    return Err(error);
                }
                // An older passing failure: the fleet waits until it is gone, then one tries.
                Lookup::Failed(_) | Lookup::Busy => {
                    let poll = shared.store.poll_interval();
                    tokio::time::sleep(poll.mul_f64(0.75 + fastrand::f64() / 2.0)).await;
                }
                Lookup::Acquired(owner) => {
                    return self.fetch(&mut failure, Some((shared, owner))).await;
                }
            }
        }
    }

    /// Fetches from the source (holding the single flight), keeps the answer, and stores it in
    /// the shared store when this process holds its lock.
    async fn fetch(
        &self,
        failure: &mut Option<Failure>,
        lock: Option<(&Shared, LockOwner)>,
    ) -> Result<AuthHeader> {
        event!("fetching a session token";
            auth.reason = if self.read().is_some() { "expiring" } else { "none cached" },
        );
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.source.fetch().await {
            Ok(token) => {
                let token = token.with_lifetime_floor();
                let header = token.header.clone();
                if let Some((shared, owner)) = &lock {
                    let refresh_at = token.refresh_at(self.options.refresh_margin);
                    let fresh_for = refresh_at
                        .duration_since(SystemTime::now())
                        .unwrap_or_default();
                    if let Err(e) = shared
                        .store
                        .store_token(&shared.key, owner, &token, fresh_for)
                        .await
                    {
                        shared.failed(&e);
                    }
                }
                self.keep(token);
                *failure = None;
                Ok(header)
            }
            Err(error) => {
                let refused = self.source.is_refusal(&error);
                event!("session token fetch failed";
                    auth.refused = refused,
                    error.type = error.kind(),
                );
                if let Some((shared, owner)) = &lock {
                    let hold = if refused {
                        self.options.refusal_cooldown
                    } else {
                        SHARED_FAILURE_HOLD
                    };
                    let stored = SharedFailure::from_error(&error, refused, hold);
                    if let Err(e) = shared
                        .store
                        .store_failure(&shared.key, owner, &stored)
                        .await
                    {
                        shared.failed(&e);
                    }
                }
                let old = self.write().take();
                self.remember(old);
                let now = Instant::now();
                *failure = Some(Failure {
                    at: now,
                    refused_until: refused.then(|| now + self.options.refusal_cooldown),
                    error: error.clone(),
                });
                Err(error)
            }
        }
    }

    fn keep(&self, token: Token) {
        let refresh_at = token.refresh_at(self.options.refresh_margin);
        let old = self.write().replace(Cached {
            token,
            refresh_at,
            got_at: Instant::now(),
        });
        self.remember(old);
    }

    /// Keeps a token that is no longer the cached one among the [`PREVIOUS_TOKENS`] last ones,
    /// still cut out of answers: a request sent with it before a refresh may fail after.
    fn remember(&self, old: Option<Cached>) {
        if let Some(old) = old {
            let mut previous = self.lock_previous();
            if previous.len() == PREVIOUS_TOKENS {
                previous.pop_front();
            }
            previous.push_back(old.token.header);
        }
    }

    fn lock_previous(&self) -> std::sync::MutexGuard<'_, std::collections::VecDeque<AuthHeader>> {
        self.previous.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached token's header if this process got it at or after `arrived`.
    fn got_since(&self, arrived: Instant) -> Option<AuthHeader> {
        self.read()
            .as_ref()
            .filter(|c| c.got_at >= arrived)
            .map(|c| c.token.header.clone())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Option<Cached>> {
        self.current.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Option<Cached>> {
        self.current.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The cached header, if it is still fresh.
    fn fresh(&self) -> Option<AuthHeader> {
        self.read()
            .as_ref()
            .filter(|c| SystemTime::now() < c.refresh_at)
            .map(|c| c.token.header.clone())
    }

    /// Drops the cached token if it is `used` (a 401 said it is no good). In this process only:
    /// the transport's 401 handling ([`Authenticator::rejected`]) also drops it from a shared
    /// store.
    pub fn reject(&self, used: &AuthHeader) {
        let mut current = self.write();
        if current
            .as_ref()
            .is_some_and(|c| c.token.header.value() == used.value())
        {
            let old = current.take();
            drop(current);
            self.remember(old);
        }
    }
}

#[async_trait]
impl Authenticator for TokenCache {
    async fn header(&self) -> Result<AuthHeader> {
        self.token().await
    }

    async fn rejected(&self, used: &AuthHeader) -> bool {
        self.reject(used);
        if let Some(shared) = &self.shared {
            if let Err(e) = shared.store.forget(&shared.key, used).await {
                shared.failed(&e);
            }
        }
        true
    }

    fn redact(&self, into: &mut Redactor) {
        self.source.redact(into);
        if let Some(c) = self.read().as_ref() {
            c.token.header.redact(into);
        }
        for header in self.lock_previous().iter() {
            header.redact(into);
        }
    }
}

/// A [`TokenStore`] in this process: share one token between several clients with the same
/// credentials (each client still fetches through its own cache when it has none), or stand in
/// for a shared store in tests. Its lock lives for [`lock_ttl`](Self::lock_ttl) (10 s by default).
#[derive(Debug)]
pub struct MemoryTokenStore {
    entries: std::sync::Mutex<std::collections::HashMap<String, MemoryEntry>>,
    lock_ttl: Duration,
}

#[derive(Debug, Default)]
struct MemoryEntry {
    token: Option<(Token, Instant)>,
    failure: Option<SharedFailure>,
    lock: Option<(LockOwner, Instant)>,
}

impl Default for MemoryTokenStore {
    fn default() -> Self {
        Self::new()
    }
}

impl MemoryTokenStore {
    /// An empty store.
    pub fn new() -> Self {
        Self {
            entries: std::sync::Mutex::default(),
            lock_ttl: Duration::from_secs(10),
        }
    }

    /// How long a refresh lock is held at most (a holder that never settles is forgotten then).
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl;
        self
    }

    fn entries(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, MemoryEntry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn release(entry: &mut MemoryEntry, lock: &LockOwner) {
        if entry.lock.as_ref().is_some_and(|(o, _)| o == lock) {
            entry.lock = None;
        }
    }
}

#[async_trait]
impl TokenStore for MemoryTokenStore {
    async fn lookup(&self, key: &str) -> std::result::Result<Lookup, StoreError> {
        let now = Instant::now();
        let mut entries = self.entries();
        let e = entries.entry(key.to_owned()).or_default();
        if let Some((token, until)) = &e.token {
            if now < *until {
                return Ok(Lookup::Token(token.clone()));
            }
            e.token = None;
        }
        if let Some(f) = &e.failure {
            if SystemTime::now() < f.until() {
                return Ok(Lookup::Failed(f.clone()));
            }
            e.failure = None;
        }
        if e.lock.as_ref().is_some_and(|(_, until)| now < *until) {
            return Ok(Lookup::Busy);
        }
        let owner = LockOwner::new(format!("{:032x}", fastrand::u128(..)));
        e.lock = Some((owner.clone(), now + self.lock_ttl));
        Ok(Lookup::Acquired(owner))
    }

    async fn store_token(
        &self,
        key: &str,
        lock: &LockOwner,
        token: &Token,
        fresh_for: Duration,
    ) -> std::result::Result<(), StoreError> {
        let mut entries = self.entries();
        let e = entries.entry(key.to_owned()).or_default();
        e.token = Some((token.clone(), Instant::now() + fresh_for));
        e.failure = None;
        Self::release(e, lock);
        Ok(())
    }

    async fn store_failure(
        &self,
        key: &str,
        lock: &LockOwner,
        failure: &SharedFailure,
    ) -> std::result::Result<(), StoreError> {
        let mut entries = self.entries();
        let e = entries.entry(key.to_owned()).or_default();
        e.failure = Some(failure.clone());
        Self::release(e, lock);
        Ok(())
    }

    async fn forget(&self, key: &str, header: &AuthHeader) -> std::result::Result<(), StoreError> {
        if let Some(e) = self.entries().get_mut(key) {
            if e.token
                .as_ref()
                .is_some_and(|(t, _)| t.header.value() == header.value())
            {
                e.token = None;
            }
        }
        Ok(())
    }

    fn poll_interval(&self) -> Duration {
        Duration::from_millis(5)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApiError;
    use reqwest::header::AUTHORIZATION;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// Hands out `Bearer t<n>` valid for `life`, or fails as told.
    #[derive(Debug)]
    struct Counting {
        n: AtomicU32,
        life: Duration,
        fail: Option<u16>,
        delay: Duration,
    }

    impl Counting {
        fn new(life: Duration) -> Self {
            Self {
                n: AtomicU32::new(0),
                life,
                fail: None,
                delay: Duration::from_millis(20),
            }
        }
    }

    #[async_trait]
    impl TokenSource for Counting {
        async fn fetch(&self) -> Result<Token> {
            let n = self.n.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(self.delay).await;
            if let Some(status) = self.fail {
                return Err(ApiError::new("p", status).into());
            }
            let h = AuthHeader::new(AUTHORIZATION, &format!("Bearer t{n}"))?;
            Ok(Token::valid_for(h, self.life))
        }
        fn redact(&self, into: &mut Redactor) {
            into.add_str("the-credential");
        }
    }

    fn cache(source: Counting) -> (Arc<Counting>, TokenCache) {
        let s = Arc::new(source);
        (s.clone(), TokenCache::new(s))
    }

    #[tokio::test]
    async fn many_at_once_cause_one_fetch() {
        let (s, c) = cache(Counting::new(Duration::from_secs(3600)));
        let c = Arc::new(c);
        let tasks: Vec<_> = (0..200)
            .map(|_| {
                let c = c.clone();
                tokio::spawn(async move { c.token().await.map(|h| h.value().clone()) })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), "Bearer t0");
        }
        assert_eq!(s.n.load(Ordering::SeqCst), 1);
        assert_eq!(c.fetches(), 1);
        let mut r = Redactor::new();
        c.redact(&mut r);
        assert_eq!(r.scrub("the-credential t0"), "[redacted] [redacted]");
    }

    #[tokio::test]
    async fn short_tokens_refresh_at_nine_tenths() {
        let (s, c) = cache(Counting::new(Duration::from_millis(1000)));
        c.token().await.unwrap();
        c.token().await.unwrap();
        assert_eq!(s.n.load(Ordering::SeqCst), 1, "fresh for 900 ms");
        tokio::time::sleep(Duration::from_millis(950)).await;
        assert_eq!(c.token().await.unwrap().value(), "Bearer t1");
    }

    #[tokio::test]
    async fn a_rejected_token_is_dropped_once() {
        let (s, c) = cache(Counting::new(Duration::from_secs(3600)));
        let first = c.token().await.unwrap();
        c.reject(&first);
        c.reject(&first);
        let second = c.token().await.unwrap();
        assert_eq!(second.value(), "Bearer t1");
        // A late rejection of the old token leaves the new one alone.
        c.reject(&first);
        assert_eq!(c.token().await.unwrap().value(), "Bearer t1");
        assert_eq!(s.n.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_refusal_is_remembered_and_a_passing_failure_is_not() {
        let mut refused = Counting::new(Duration::from_secs(3600));
        refused.fail = Some(401);
        let (s, c) = cache(refused);
        for _ in 0..5 {
            assert_eq!(c.token().await.unwrap_err().status(), Some(401));
        }
        assert_eq!(s.n.load(Ordering::SeqCst), 1);

        let mut busy = Counting::new(Duration::from_secs(3600));
        busy.fail = Some(503);
        let (s, c) = cache(busy);
        for _ in 0..3 {
            assert_eq!(c.token().await.unwrap_err().status(), Some(503));
        }
        assert_eq!(s.n.load(Ordering::SeqCst), 3);
    }

    /// Hands out tokens whose lifetime is `life_ms` (negative: expired before it was issued).
    #[derive(Debug)]
    struct Odd {
        n: AtomicU32,
        life_ms: i64,
    }

    #[async_trait]
    impl TokenSource for Odd {
        async fn fetch(&self) -> Result<Token> {
            let n = self.n.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(5)).await;
            let h = AuthHeader::new(AUTHORIZATION, &format!("Bearer t{n}"))?;
            let issued = SystemTime::now();
            let shift = Duration::from_millis(self.life_ms.unsigned_abs());
            let expires = if self.life_ms >= 0 {
                issued + shift
            } else {
                issued.checked_sub(shift).unwrap_or(SystemTime::UNIX_EPOCH)
            };
            Ok(Token::from_parts(h, issued, expires))
        }
        fn redact(&self, _into: &mut Redactor) {}
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(48))]

        /// Whatever lifetime a token comes with (zero, negative, a millisecond, an hour), any
        /// number of concurrent calls on a fresh cache cause one fetch and share its token.
        #[test]
        fn any_lifetime_keeps_one_fetch_for_concurrent_calls(
            life_ms in proptest::prop_oneof![
                proptest::prelude::Just(0i64),
                -10_000_000i64..0,
                1i64..2_000,
                2_000i64..10_000_000,
            ],
            callers in 2usize..300,
        ) {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            let (fetched, tokens) = rt.block_on(async {
                let source = Arc::new(Odd { n: AtomicU32::new(0), life_ms });
                let cache = Arc::new(TokenCache::new(source.clone()));
                let tasks: Vec<_> = (0..callers)
                    .map(|_| {
                        let c = cache.clone();
                        tokio::spawn(async move { c.token().await.unwrap().value().clone() })
                    })
                    .collect();
                let mut tokens = Vec::new();
                for t in tasks {
                    tokens.push(t.await.unwrap());
                }
                (source.n.load(Ordering::SeqCst), tokens)
            });
            proptest::prop_assert_eq!(fetched, 1);
            proptest::prop_assert!(tokens.iter().all(|t| t == "Bearer t0"));
        }
    }

    #[test]
    fn an_odd_lifetime_is_raised_to_the_floor() {
        let h = AuthHeader::new(AUTHORIZATION, "Bearer x").unwrap();
        let now = SystemTime::now();
        for expires in [now, now - Duration::from_secs(30), SystemTime::UNIX_EPOCH] {
            let t = Token::from_parts(h.clone(), now, expires).with_lifetime_floor();
            assert_eq!(t.expires_at(), now + MIN_TOKEN_LIFETIME);
        }
        // A lifetime, however short, is kept as given.
        for life in [Duration::from_millis(3), Duration::from_secs(3600)] {
            let t = Token::from_parts(h.clone(), now, now + life);
            assert_eq!(t.with_lifetime_floor().expires_at(), now + life);
        }
    }
}
