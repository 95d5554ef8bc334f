//! Session tokens: fetched once, shared, refreshed early, never fetched twice at once.
//!
//! Several providers hand out a token in exchange for credentials: emnify's `authenticate`
//! (a JWT), KORE's OAuth2 client-credentials endpoint, EdgeIQ's session login. What they share is
//! here, once: a provider crate describes how to fetch its token ([`TokenSource`]) and plugs a
//! [`TokenCache`] over it into its transport as the [`Authenticator`].
//!
//! - **Single flight.** A fresh token is read without waiting. Requests that find none queue on
//!   one lock held across the fetch: any number of them cause one fetch and then share its token
//!   (or its failure).
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

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use async_trait::async_trait;

use super::{AuthHeader, Authenticator, Redactor};
use crate::error::{Error, Result};
use crate::trace::event;

/// The default refresh margin: 60 s before expiry.
pub const DEFAULT_REFRESH_MARGIN: Duration = Duration::from_secs(60);
/// The default time a refused fetch is remembered: 5 minutes.
pub const DEFAULT_REFUSAL_COOLDOWN: Duration = Duration::from_secs(5 * 60);

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

    /// When to stop using it: `margin` before expiry, or a tenth of its lifetime before expiry
    /// when that is shorter.
    fn refresh_at(&self, margin: Duration) -> SystemTime {
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
    refused: bool,
}

struct Cached {
    token: Token,
    refresh_at: SystemTime,
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
    fetches: std::sync::atomic::AtomicU64,
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("source", &self.source)
            .field("options", &self.options)
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
            fetches: std::sync::atomic::AtomicU64::new(0),
        }
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

    /// The header to send now, fetching a token first if none is fresh (see the module docs).
    pub async fn token(&self) -> Result<AuthHeader> {
        if let Some(header) = self.fresh() {
            return Ok(header);
        }
        let arrived = Instant::now();
        let mut failure = self.flight.lock().await;
        // Another request may have fetched while this one waited.
        if let Some(header) = self.fresh() {
            return Ok(header);
        }
        if let Some(f) = failure.as_ref() {
            // Failed while this request waited, or refused a short while ago: share the answer.
            if f.at >= arrived || (f.refused && f.at.elapsed() < self.options.refusal_cooldown) {
                return Err(f.error.clone());
            }
        }
        event!("fetching a session token";
            auth.reason = if self.read().is_some() { "expiring" } else { "none cached" },
        );
        self.fetches
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match self.source.fetch().await {
            Ok(token) => {
                let header = token.header.clone();
                let refresh_at = token.refresh_at(self.options.refresh_margin);
                *self.write() = Some(Cached { token, refresh_at });
                *failure = None;
                Ok(header)
            }
            Err(error) => {
                let refused = self.source.is_refusal(&error);
                event!("session token fetch failed";
                    auth.refused = refused,
                    error.type = error.kind(),
                );
                *self.write() = None;
                *failure = Some(Failure {
                    at: Instant::now(),
                    refused,
                    error: error.clone(),
                });
                Err(error)
            }
        }
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

    /// Drops the cached token if it is `used` (a 401 said it is no good).
    pub fn reject(&self, used: &AuthHeader) {
        let mut current = self.write();
        if current
            .as_ref()
            .is_some_and(|c| c.token.header.value() == used.value())
        {
            *current = None;
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
        true
    }

    fn redact(&self, into: &mut Redactor) {
        self.source.redact(into);
        if let Some(c) = self.read().as_ref() {
            c.token.header.redact(into);
        }
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
}
