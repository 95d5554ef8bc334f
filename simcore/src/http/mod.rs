//! The HTTP transport every provider crate sends through (feature `http`, on by default).
//!
//! What it takes care of, so provider crates do not:
//! - **Base URL**: `https` is required unless the host is loopback (`127.0.0.0/8`, `::1`,
//!   `localhost`), checked when the transport is built, before any request.
//! - **Paths from segments**: each id is exactly one path segment that decodes back to the id
//!   ([`join_segments`]): every character but `A-Z a-z 0-9 - . _ ~` is percent-encoded, so an id
//!   such as `../x?y#z%2F` can never change the path or add a query. Empty, `.` and `..` ids and
//!   ids with control characters (which the URL standard would silently drop) are refused
//!   before sending.
//! - **Auth** as a pluggable step ([`Auth`]): Basic, Bearer, a raw `Authorization` value, a custom
//!   header, or an [`Authenticator`] for session tokens, such as the [`TokenCache`] every
//!   provider with session tokens uses (single flight, early refresh, one re-fetch on a 401,
//!   refusals remembered). Credentials are held as
//!   [`secrecy::SecretString`] and sent as sensitive headers; nothing here prints them.
//! - **Secrets cut out of answers** ([`Redactor`]): an error body that quotes the credential (as
//!   sent, Basic-encoded, percent-encoded or JSON-escaped) keeps `[redacted]` in its place.
//! - **Time limits**: connect 5 s and 30 s per attempt by default, and a **deadline** of 60 s per
//!   call across all its attempts and waits ([`DEFAULT_DEADLINE`]), all configurable.
//! - **A response body cap**: 1 MiB by default ([`DEFAULT_BODY_LIMIT`]); a request may carry
//!   its own ([`Request::body_limit`]), as a page of a list does.
//! - **Retries** by the pure [`retry::decide`](crate::retry::decide) with full-jitter backoff,
//!   honouring `Retry-After` (seconds or an HTTP date), clamped, and reported on the final error.
//! - **Errors**: every non-2xx answer becomes [`Error::Api`] with its status, the provider's
//!   request id and a lenient parse of the body ([`parse_error_body`]); transport errors never
//!   carry the URL.
//! - **Redirects are not followed**: no provider API redirects, and a followed redirect could
//!   carry a custom credential header to another host.
//! - **Proxies**: `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` (and their lowercase
//!   forms) are honoured by default, as curl does; [`TransportBuilder::proxy`] sets one
//!   explicitly (its credentials kept secret), [`TransportBuilder::no_proxy`] turns them off.
//! - **Your own client**: [`TransportBuilder::http_client`] takes a `reqwest::Client` you built
//!   (a shared pool, custom roots, mTLS); see there which guarantees then rest on its settings.
//! - **A rate budget**, when given ([`TransportBuilder::rate_budget`]): every attempt takes a place
//!   in it first, so clients and processes that share a provider's limit share one pace.
//! - A `User-Agent` naming the calling crate and its version.
//!
//! # How long a call can take
//! [`Transport::send`] returns within its deadline ([`DEFAULT_DEADLINE`], 60 s, unless set with
//! [`TransportBuilder::deadline`]), whatever the server does: each attempt is limited to the
//! per-attempt timeout or the time left, whichever is shorter; no backoff or `Retry-After` wait
//! runs past the deadline (a `Retry-After` longer than the time left ends the call at once with
//! the provider's answer, `Retry-After` included); and a call still running at the deadline ends
//! with [`Error::Deadline`]. A session token fetched for the call counts against the same
//! deadline.
//!
//! ```no_run
//! use secrecy::SecretString;
//! use simcore::http::{Auth, Method, Request, Transport};
//!
//! # async fn run() -> simcore::Result<()> {
//! let transport = Transport::builder("example", "https://api.example.com/v1")
//!     .auth(Auth::bearer(&SecretString::from("token"))?)
//!     .user_agent("my-client/1.0")
//!     .build()?;
//! let url = transport.url(&["sims", "../not-a-path"])?;
//! assert_eq!(url.path(), "/v1/sims/..%2Fnot-a-path");
//! let response = transport.send(&Request::new(Method::GET, url)).await?;
//! let body: serde_json::Value = response.json()?;
//! # Ok(()) }
//! ```

mod auth;
mod error_body;
mod message;
mod paths;
mod proxy;
mod redact;
mod seen;
mod token;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

// The runtime's clock: a paused test clock governs deadlines as it governs the waits.
use tokio::time::Instant;

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};

pub use auth::{Auth, AuthHeader, Authenticator};
use error_body::parse_error_body_redacted;
pub use error_body::{parse_error_body, snippet};
pub use message::{Body, Request, Resource, Response};
pub use paths::{
    SANDBOX_CREDENTIAL_MARK, check_base_url, check_sandbox_credential, encode_segment, is_loopback,
    is_sandbox_credential, join_segments, sandbox_credential,
};
pub use proxy::Proxy;
pub use redact::{REDACTED, Redactor};
/// Re-exported: [`TransportBuilder::http_client`] takes a `reqwest::Client`.
pub use reqwest;
pub use reqwest::Method;
pub use reqwest::header;
pub use seen::{MemorySeenStore, SeenStore};
pub use token::{
    DEFAULT_REFRESH_MARGIN, DEFAULT_REFUSAL_COOLDOWN, LockOwner, Lookup, MIN_TOKEN_LIFETIME,
    MemoryTokenStore, SHARED_FAILURE_HOLD, SharedFailure, StoreError, Token, TokenCache,
    TokenCacheOptions, TokenSource, TokenStore,
};

use crate::budget::RateBudget;
use crate::error::{Error, Result};
use crate::retry::{Outcome, RetryPolicy, decide, parse_retry_after};
use crate::trace::event;

/// The default response body cap: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// The default connect timeout: 5 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default total timeout of one attempt (connect, send, read the whole body): 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// The default deadline of one call, across all its attempts and the waits between them: 60 s.
pub const DEFAULT_DEADLINE: Duration = Duration::from_secs(60);
/// Headers that carry a request id in many APIs, tried after a provider's own
/// ([`TransportBuilder::request_id_header`]), in this order.
pub const COMMON_REQUEST_ID_HEADERS: &[&str] = &[
    "x-request-id",
    "request-id",
    "x-correlation-id",
    "x-amzn-requestid",
    "x-amz-request-id",
];

/// Builds a [`Transport`].
#[derive(Clone)]
pub struct TransportBuilder {
    provider: &'static str,
    base_url: String,
    /// Whether the base URL was set (not the builder's default), so that a client choosing a
    /// default by its credentials keeps one the user set, even one equal to another default.
    base_url_set: bool,
    /// Whether the connect timeout was set, which a user's own HTTP client would ignore.
    connect_timeout_set: bool,
    auth: Auth,
    user_agent: String,
    connect_timeout: Duration,
    timeout: Duration,
    deadline: Duration,
    retry: RetryPolicy,
    body_limit: usize,
    proxy: Option<Proxy>,
    env_proxies: bool,
    client: Option<reqwest::Client>,
    redact: Redactor,
    request_id_headers: Vec<&'static str>,
    budget: Option<Arc<dyn RateBudget>>,
}

impl fmt::Debug for TransportBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The base URL is shown only once it parses, and then without user info, query or
        // fragment: a URL pasted with a key in it must not print.
        let base = match url::Url::parse(&self.base_url) {
            Ok(u) => format!(
                "{}://{}{}",
                u.scheme(),
                u.host_str().unwrap_or_default(),
                u.path()
            ),
            Err(_) => "(unparsed)".to_owned(),
        };
        f.debug_struct("TransportBuilder")
            .field("provider", &self.provider)
            .field("base_url", &base)
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .field("deadline", &self.deadline)
            .field("retry", &self.retry)
            .field("body_limit", &self.body_limit)
            .field("proxy", &self.proxy)
            .field("own_client", &self.client.is_some())
            .field("budget", &self.budget)
            .finish()
    }
}

impl TransportBuilder {
    /// Sets how requests are authenticated.
    pub fn auth(mut self, auth: Auth) -> Self {
        self.auth = auth;
        self
    }

    /// Sets the `User-Agent` (`"crate-name/version"`).
    pub fn user_agent(mut self, ua: impl Into<String>) -> Self {
        self.user_agent = ua.into();
        self
    }

    /// Sets the connect timeout (default 5 s). Refused at build with your own HTTP client
    /// ([`http_client`](Self::http_client)), whose own connect timeout applies.
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self.connect_timeout_set = true;
        self
    }

    /// Sets the total timeout of one attempt (default 30 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
        self
    }

    /// Sets the deadline of one call across all its attempts and waits (default 60 s; see the
    /// module docs for what it bounds).
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    /// Sets the retry policy.
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    /// Sets the response body cap in bytes (default 1 MiB).
    pub fn body_limit(mut self, bytes: usize) -> Self {
        self.body_limit = bytes;
        self
    }

    /// Sets the base URL.
    pub fn base_url(mut self, url: impl Into<String>) -> Self {
        self.base_url = url.into();
        self.base_url_set = true;
        self
    }

    /// Whether a base URL was set with [`base_url`](Self::base_url) (rather than left at the
    /// default the builder started with).
    pub fn base_url_is_set(&self) -> bool {
        self.base_url_set
    }

    /// The base URL as set so far (not yet checked).
    pub fn base_url_str(&self) -> &str {
        &self.base_url
    }

    /// Sets the provider's name, as errors carry it (for a client that can speak to more than
    /// one provider, such as Super SIM on Twilio or KORE).
    pub fn provider(mut self, provider: &'static str) -> Self {
        self.provider = provider;
        self
    }

    /// Sends every request through this proxy (instead of the environment's).
    pub fn proxy(mut self, proxy: Proxy) -> Self {
        self.proxy = Some(proxy);
        self
    }

    /// Ignores the proxy environment variables (`HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY`,
    /// `NO_PROXY`); a proxy set with [`proxy`](Self::proxy) still applies. Refused at build with
    /// your own HTTP client, whose own proxy settings apply.
    pub fn no_proxy(mut self) -> Self {
        self.env_proxies = false;
        self
    }

    /// Sends with a `reqwest::Client` you built: to share its connection pool, trust your own
    /// root certificates, present a client certificate (mTLS) or route through your own proxy.
    ///
    /// What the SDK still guarantees with your client: the per-attempt timeout and the call's
    /// deadline (set on each request), the body cap, retries, the typed errors, and credentials
    /// sent only as sensitive headers. What rests on your client's settings: the connect timeout,
    /// proxies (the builder's proxy settings are refused with it), TLS, and redirects. The SDK
    /// never uses an answer that came from a followed redirect (it is an error), but a client
    /// that follows redirects may already have sent a request, credential header included, to
    /// the redirect's target: build yours with `redirect(reqwest::redirect::Policy::none())`.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Also cuts `secret` out of every text kept from an answer (for credentials that travel in a
    /// body, such as a login's password, rather than in the auth header).
    pub fn redact(mut self, secret: &secrecy::SecretString) -> Self {
        self.redact.add(secret);
        self
    }

    /// Takes a place in `budget` before every attempt (waiting as long as it says): a rate
    /// budget shared by every client and process that draws on the same provider account or
    /// egress IP ([`crate::budget`]). Every request of the transport takes one, logins included
    /// when the login's transport is built from this builder (as every client builder does).
    pub fn rate_budget(mut self, budget: Arc<dyn RateBudget>) -> Self {
        self.budget = Some(budget);
        self
    }

    /// Reads the provider's request id from this header first (then
    /// [`COMMON_REQUEST_ID_HEADERS`]).
    pub fn request_id_header(mut self, name: &'static str) -> Self {
        self.request_id_headers.insert(0, name);
        self
    }

    /// Checks the configuration and builds the transport.
    pub fn build(self) -> Result<Transport> {
        let base = check_base_url(&self.base_url)?;
        if self.timeout.is_zero() || self.connect_timeout.is_zero() || self.deadline.is_zero() {
            return Err(Error::Config(
                "timeouts and the deadline must be greater than zero".to_owned(),
            ));
        }
        let mut redactor = self.auth.redactor();
        redactor.extend(&self.redact);
        // A sandbox's credential (in the auth header, or one that travels in a body, such as a
        // login's) goes to loopback hosts only: refused here, before anything can be sent.
        let sandbox_credential = redactor.holds_sandbox_credential();
        if sandbox_credential {
            check_sandbox_credential(self.provider, &base)?;
        }
        if let Some(p) = &self.proxy {
            p.add_secrets(&mut redactor);
        }
        let user_agent = HeaderValue::from_str(&self.user_agent)
            .map_err(|_| Error::Config("the User-Agent is not a valid header value".to_owned()))?;
        let own_client = self.client.is_some();
        let client = match self.client {
            Some(c) => {
                // Settings your own client would silently ignore.
                let own = "http_client";
                if self.proxy.is_some() {
                    return Err(Error::conflict(
                        "proxy",
                        own,
                        "set the proxy on your reqwest::Client",
                    ));
                }
                if !self.env_proxies {
                    return Err(Error::conflict(
                        "no_proxy",
                        own,
                        "your reqwest::Client's own proxy settings apply (build it with no_proxy())",
                    ));
                }
                if self.connect_timeout_set {
                    return Err(Error::conflict(
                        "connect_timeout",
                        own,
                        "your reqwest::Client's own connect timeout applies (set it there)",
                    ));
                }
                c
            }
            None => {
                // The attempt timeout and the User-Agent are the client's own defaults here, so
                // that a request sets them only when it needs something else (a timeout cut by
                // the deadline): a per-request timeout costs reqwest a map of extensions.
                let mut b = reqwest::Client::builder()
                    .connect_timeout(self.connect_timeout)
                    .timeout(self.timeout)
                    .user_agent(user_agent.clone())
                    .redirect(reqwest::redirect::Policy::none());
                if !self.env_proxies {
                    b = b.no_proxy();
                }
                if let Some(p) = &self.proxy {
                    b = b.proxy(p.to_reqwest()?);
                }
                b.build().map_err(|e| {
                    Error::Config(format!("HTTP client could not be built: {}", chain(&e)))
                })?
            }
        };
        // Parsed once here rather than at every answer.
        let request_id_headers = self
            .request_id_headers
            .iter()
            .chain(COMMON_REQUEST_ID_HEADERS)
            .map(|name| {
                HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                    Error::Config(format!("{name:?} is not a valid request-id header name"))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Transport {
            inner: Arc::new(Inner {
                provider: self.provider,
                client,
                own_client,
                base,
                auth: self.auth,
                user_agent,
                timeout: self.timeout,
                connect_timeout: self.connect_timeout,
                deadline: self.deadline,
                retry: self.retry,
                body_limit: self.body_limit,
                redactor,
                sandbox_credential,
                request_id_headers,
                budget: self.budget,
            }),
        })
    }
}

/// The shared HTTP transport: cheap to clone (one connection pool behind an `Arc`).
#[derive(Clone)]
pub struct Transport {
    inner: Arc<Inner>,
}

struct Inner {
    provider: &'static str,
    client: reqwest::Client,
    own_client: bool,
    base: url::Url,
    auth: Auth,
    user_agent: HeaderValue,
    timeout: Duration,
    connect_timeout: Duration,
    deadline: Duration,
    retry: RetryPolicy,
    body_limit: usize,
    /// The static secrets (auth header, proxy, extra ones); an authenticator's are added when an
    /// error is scrubbed.
    redactor: Redactor,
    /// Whether a static secret was issued by a sandbox: its requests then go to loopback hosts
    /// only.
    sandbox_credential: bool,
    request_id_headers: Vec<HeaderName>,
    budget: Option<Arc<dyn RateBudget>>,
}

impl Inner {
    /// Whether an attempt may wait before its request is sent: for a credential it has to
    /// fetch first (a token, a session), or for a rate budget.
    fn waits_before_sending(&self) -> bool {
        matches!(self.auth, Auth::Dynamic(_)) || self.budget.is_some()
    }
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("provider", &self.inner.provider)
            .field("base_url", &self.inner.base.as_str())
            .field("auth", &self.inner.auth)
            .field("timeout", &self.inner.timeout)
            .field("deadline", &self.inner.deadline)
            .field("retry", &self.inner.retry)
            .field("body_limit", &self.inner.body_limit)
            .field("own_client", &self.inner.own_client)
            .finish()
    }
}

enum Attempt {
    Done(Response),
    Failed(Error, Outcome),
    Unauthorized(Error, AuthHeader),
}

impl Transport {
    /// Starts building a transport for `provider` with a base URL.
    pub fn builder(provider: &'static str, base_url: impl Into<String>) -> TransportBuilder {
        TransportBuilder {
            provider,
            base_url: base_url.into(),
            base_url_set: false,
            connect_timeout_set: false,
            auth: Auth::None,
            user_agent: concat!("simcore/", env!("CARGO_PKG_VERSION")).to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            deadline: DEFAULT_DEADLINE,
            retry: RetryPolicy::default(),
            body_limit: DEFAULT_BODY_LIMIT,
            proxy: None,
            env_proxies: true,
            client: None,
            redact: Redactor::new(),
            request_id_headers: Vec::new(),
            budget: None,
        }
    }

    /// The provider this transport speaks to.
    pub fn provider(&self) -> &'static str {
        self.inner.provider
    }

    /// The base URL.
    pub fn base_url(&self) -> &url::Url {
        &self.inner.base
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// The deadline of one call.
    pub fn deadline(&self) -> Duration {
        self.inner.deadline
    }

    /// The response body cap, in bytes (a request may set its own: [`Request::body_limit`]).
    pub fn body_limit(&self) -> usize {
        self.inner.body_limit
    }

    /// The base URL with `segments` appended, each as one encoded segment (see
    /// [`join_segments`]).
    pub fn url(&self, segments: &[&str]) -> Result<url::Url> {
        join_segments(&self.inner.base, segments)
    }

    /// A request to the base URL plus `segments`.
    pub fn request(&self, method: Method, segments: &[&str]) -> Result<Request> {
        Ok(Request::new(method, self.url(segments)?))
    }

    /// Every secret this transport knows now: its auth header's, the proxy's, the extra ones, and
    /// its authenticator's current tokens and credentials.
    pub fn redactor(&self) -> Redactor {
        let mut r = self.inner.redactor.clone();
        if let Auth::Dynamic(a) = &self.inner.auth {
            a.redact(&mut r);
        }
        r
    }

    /// Sends a request, retrying per the policy within the call's deadline, and returns the
    /// success answer or the error (with the client's secrets cut out of it).
    pub async fn send(&self, request: &Request) -> Result<Response> {
        #[cfg(feature = "tracing")]
        let result = {
            use tracing::Instrument as _;
            let span = tracing::info_span!(
                "sim.operation",
                sim.provider = self.inner.provider,
                sim.operation.name = request.operation,
                sim.id = request.subject.as_deref().map(crate::trace::pseudonym),
                error.type = tracing::field::Empty,
            );
            let result = self.send_within(request).instrument(span.clone()).await;
            if let Err(e) = &result {
                span.record("error.type", e.kind());
            }
            result
        };
        #[cfg(not(feature = "tracing"))]
        let result = self.send_within(request).await;
        result.map_err(|e| self.redactor().scrub_error(e))
    }

    async fn send_within(&self, request: &Request) -> Result<Response> {
        request.options.check()?;
        let allowed = request.options.deadline.unwrap_or(self.inner.deadline);
        // A started call's requests share its end (a read before a write, say).
        let deadline = match request.options.ends_at() {
            Some(end) => Instant::from_std(end).min(Instant::now() + allowed),
            None => Instant::now() + allowed,
        };
        let capped;
        let policy = match request.options.attempts {
            Some(cap) if cap < self.inner.retry.max_attempts => {
                capped = self.inner.retry.clone().with_max_attempts(cap);
                &capped
            }
            _ => &self.inner.retry,
        };
        let mut attempt: u32 = 0;
        let mut reauthenticated = false;
        loop {
            attempt += 1;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(self.deadline_passed(allowed, attempt - 1));
            }
            // The attempt's own timeout is at most what is left (`attempt_inner`), and it covers
            // the whole exchange, body included. Only a wait before sending (a token to fetch,
            // a rate budget) can outlast it: a timer of its own is set only then.
            let outcome = if self.inner.waits_before_sending() {
                tokio::time::timeout(left, self.attempt(request, attempt, left)).await
            } else {
                Ok(self.attempt(request, attempt, left).await)
            };
            let (error, outcome) = match outcome {
                Err(_) => return Err(self.deadline_passed(allowed, attempt)),
                Ok(result) => match result? {
                    Attempt::Done(r) => return Ok(r),
                    Attempt::Unauthorized(err, used) => {
                        // One fresh credential per request; a second 401 is final.
                        if let Auth::Dynamic(a) = &self.inner.auth {
                            if !reauthenticated && a.rejected(&used).await {
                                reauthenticated = true;
                                attempt -= 1;
                                event!("credential refused; trying once with a fresh one";
                                    sim.provider = self.inner.provider,
                                    auth.reason = "401",
                                );
                                continue;
                            }
                        }
                        return Err(err);
                    }
                    Attempt::Failed(err, outcome) => (err, outcome),
                },
            };
            let Some(wait) = decide(policy, attempt, &outcome) else {
                return Err(error);
            };
            let wait = wait.sample(fastrand::f64());
            // Never sleep past the deadline: what the provider said is the answer.
            if Instant::now() + wait >= deadline {
                event!("not retrying: the wait would pass the call's deadline";
                    sim.provider = self.inner.provider,
                    retry.reason = outcome.reason(),
                    retry.wait_ms = wait.as_millis() as u64,
                );
                return Err(error);
            }
            event!("retrying";
                sim.provider = self.inner.provider,
                retry.reason = outcome.reason(),
                retry.wait_ms = wait.as_millis() as u64,
                retry.attempt = attempt,
            );
            tokio::time::sleep(wait).await;
        }
    }

    fn deadline_passed(&self, deadline: Duration, attempts: u32) -> Error {
        Error::Deadline {
            provider: self.inner.provider,
            deadline,
            attempts,
        }
    }

    /// One attempt, within `left` of the call's deadline. `Err` only for errors that happen
    /// before sending (auth).
    async fn attempt(&self, request: &Request, attempt: u32, left: Duration) -> Result<Attempt> {
        #[cfg(feature = "tracing")]
        {
            use tracing::Instrument as _;
            let url = &request.url;
            let span = tracing::info_span!(
                "http.client.attempt",
                http.request.method = request.method.as_str(),
                server.address = url.host_str().unwrap_or_default(),
                server.port = url.port_or_known_default(),
                url.template = request.template,
                http.request.resend_count = attempt - 1,
                http.response.status_code = tracing::field::Empty,
                error.type = tracing::field::Empty,
            );
            let result = self
                .attempt_inner(request, attempt, left)
                .instrument(span.clone())
                .await;
            match &result {
                Ok(Attempt::Done(r)) => {
                    span.record("http.response.status_code", r.status);
                }
                Ok(Attempt::Failed(e, _) | Attempt::Unauthorized(e, _)) => {
                    if let Some(s) = e.status() {
                        span.record("http.response.status_code", s);
                    }
                    span.record("error.type", e.kind());
                }
                Err(e) => {
                    span.record("error.type", e.kind());
                }
            }
            result
        }
        #[cfg(not(feature = "tracing"))]
        self.attempt_inner(request, attempt, left).await
    }

    async fn attempt_inner(
        &self,
        request: &Request,
        attempt: u32,
        left: Duration,
    ) -> Result<Attempt> {
        let inner = &*self.inner;
        let auth = inner.auth.current().await?;
        // A sandbox's credential never leaves loopback: neither a static one (refused at build
        // for the base URL; checked here for a request to another URL) nor a token fetched or
        // shared later (a sandbox's token in a shared store).
        if inner.sandbox_credential
            || auth
                .as_ref()
                .is_some_and(|h| is_sandbox_credential_bytes(h.value().as_bytes()))
        {
            check_sandbox_credential(inner.provider, &request.url)?;
        }
        let limit = inner.timeout.min(left);
        let mut rb = inner
            .client
            .request(request.method.clone(), request.url.clone());
        if inner.own_client {
            // A client of the user's: its defaults are not the SDK's.
            rb = rb
                .timeout(limit)
                .header(USER_AGENT, inner.user_agent.clone());
        } else if limit < inner.timeout {
            rb = rb.timeout(limit);
        }
        if !request.headers.is_empty() {
            let mut own = request.headers.clone();
            own.remove(header::AUTHORIZATION);
            own.remove(CONTENT_TYPE);
            if let Some(h) = &auth {
                own.remove(h.name());
            }
            rb = rb.headers(own);
        }
        if let Some(h) = &auth {
            rb = rb.header(h.name().clone(), h.value().clone());
        }
        rb = match &request.body {
            Body::Empty => rb,
            Body::Json(b) => rb
                .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
                .body(b.clone()),
            Body::Form(b) => rb
                .header(
                    CONTENT_TYPE,
                    HeaderValue::from_static("application/x-www-form-urlencoded"),
                )
                .body(b.clone()),
        };
        if let Some(budget) = &inner.budget {
            let wait = budget.reserve().await;
            if !wait.is_zero() {
                tokio::time::sleep(wait).await;
            }
        }
        let mut resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => {
                return Ok(self.failed_transport(
                    e,
                    attempt,
                    (limit < inner.timeout)
                        .then_some(request.options.deadline.unwrap_or(inner.deadline)),
                ));
            }
        };
        if resp.url() != &request.url {
            // Only a client given by the user follows redirects; its answer is not the
            // provider's answer to this request.
            let err = Error::Transport {
                provider: inner.provider,
                message: "the HTTP client followed a redirect; the SDK does not use answers from \
                          another URL (build the client with reqwest::redirect::Policy::none())"
                    .to_owned(),
                attempts: attempt,
                source: None,
            };
            return Ok(Attempt::Failed(err, Outcome::Fatal));
        }
        let status = resp.status().as_u16();
        let headers = std::mem::take(resp.headers_mut());
        let request_id = self.request_id(&headers);
        let body_limit = request.body_limit.unwrap_or(inner.body_limit);
        let body = match self.read_body(resp, body_limit).await {
            Ok(b) => b,
            Err(BodyError::TooLarge) => {
                let err = Error::TooLarge {
                    provider: inner.provider,
                    status,
                    limit: body_limit,
                };
                return Ok(Attempt::Failed(err, Outcome::Fatal));
            }
            Err(BodyError::Http(e)) => {
                return Ok(self.failed_transport(
                    e,
                    attempt,
                    (limit < inner.timeout)
                        .then_some(request.options.deadline.unwrap_or(inner.deadline)),
                ));
            }
        };
        if (200..300).contains(&status) {
            return Ok(Attempt::Done(Response {
                transport: self.clone(),
                status,
                headers,
                body,
                request_id,
                sent_auth: auth,
            }));
        }
        let content_type = headers
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let retry_after = headers
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| parse_retry_after(v, SystemTime::now()))
            .map(|d| d.min(inner.retry.max_retry_after));
        // The secrets go before the body is shortened into a message or snippet: the client's,
        // and the credential sent on this attempt (a token replaced since is still one).
        let mut redactor = self.redactor();
        if let Some(h) = &auth {
            h.redact(&mut redactor);
        }
        let mut api = parse_error_body_redacted(
            inner.provider,
            status,
            content_type.as_deref(),
            &body,
            &redactor,
        );
        api.retry_after = retry_after;
        api.attempts = attempt;
        api.request_id = request_id;
        if status == 401 {
            if let Some(used) = auth {
                return Ok(Attempt::Unauthorized(api.into(), used));
            }
        }
        Ok(Attempt::Failed(
            api.into(),
            Outcome::Status {
                status,
                retry_after,
            },
        ))
    }

    /// The first request-id header the answer carries, of those this transport knows.
    fn request_id(&self, headers: &HeaderMap) -> Option<String> {
        self.inner.request_id_headers.iter().find_map(|name| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(|v| {
                    // A long id is cut: the secrets go first, so none is cut in half and kept.
                    if v.chars().count() > 200 {
                        self.redactor().scrub(v).chars().take(200).collect()
                    } else {
                        v.to_owned()
                    }
                })
        })
    }

    async fn read_body(
        &self,
        mut resp: reqwest::Response,
        limit: usize,
    ) -> std::result::Result<Bytes, BodyError> {
        if resp.content_length().is_some_and(|n| n > limit as u64) {
            return Err(BodyError::TooLarge);
        }
        // Most answers arrive in one chunk: keep it as it is, without a copy.
        let Some(first) = resp.chunk().await.map_err(BodyError::Http)? else {
            return Ok(Bytes::new());
        };
        if first.len() > limit {
            return Err(BodyError::TooLarge);
        }
        let Some(second) = resp.chunk().await.map_err(BodyError::Http)? else {
            return Ok(first);
        };
        let mut buf = Vec::with_capacity(first.len() + second.len());
        buf.extend_from_slice(&first);
        let mut next = Some(second);
        while let Some(chunk) = next {
            if buf.len() + chunk.len() > limit {
                return Err(BodyError::TooLarge);
            }
            buf.extend_from_slice(&chunk);
            next = resp.chunk().await.map_err(BodyError::Http)?;
        }
        Ok(Bytes::from(buf))
    }

    /// A failed send or read. `cut_by_deadline`: the attempt's limit was the time left of the
    /// call (whose deadline it holds), so a timeout is the deadline passing.
    fn failed_transport(
        &self,
        e: reqwest::Error,
        attempt: u32,
        cut_by_deadline: Option<Duration>,
    ) -> Attempt {
        let provider = self.inner.provider;
        if e.is_timeout() {
            if let Some(deadline) = cut_by_deadline.filter(|_| !e.is_connect()) {
                return Attempt::Failed(self.deadline_passed(deadline, attempt), Outcome::Fatal);
            }
            // A connection that timed out ran out of the connect limit, not the total one.
            let after = if e.is_connect() {
                self.inner.connect_timeout
            } else {
                self.inner.timeout
            };
            return Attempt::Failed(
                Error::Timeout {
                    provider,
                    after,
                    attempts: attempt,
                },
                Outcome::Timeout,
            );
        }
        let outcome = if e.is_builder() {
            Outcome::Fatal
        } else {
            Outcome::Connect
        };
        // The cause is kept whole, its URL removed (a URL may carry ids).
        let e = e.without_url();
        Attempt::Failed(
            Error::Transport {
                provider,
                message: chain(&e),
                attempts: attempt,
                source: Some(crate::error::Cause::new(e)),
            },
            outcome,
        )
    }
}

enum BodyError {
    TooLarge,
    Http(reqwest::Error),
}

/// An error and its causes as one line, without any URL.
/// [`is_sandbox_credential`] over a header value's bytes.
fn is_sandbox_credential_bytes(value: &[u8]) -> bool {
    value
        .windows(SANDBOX_CREDENTIAL_MARK.len())
        .any(|w| w == SANDBOX_CREDENTIAL_MARK.as_bytes())
}

/// An error's chain of causes in words, each said once (callers remove the URL first:
/// [`reqwest::Error::without_url`]).
fn chain(e: &reqwest::Error) -> String {
    let mut parts = vec![e.to_string()];
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_debug_hides_url_credentials() {
        let b = Transport::builder(
            "t",
            "https://user:SENTINEL-PW@api.example.com/v1?key=SENTINEL-Q",
        );
        let shown = format!("{b:?}");
        assert!(!shown.contains("SENTINEL"), "{shown}");
        assert!(shown.contains("api.example.com/v1"), "{shown}");
        let e = check_base_url("https://api.example.com/?key=SENTINEL-Q").unwrap_err();
        assert!(!e.to_string().contains("SENTINEL"));
    }

    #[test]
    fn a_proxy_and_an_own_client_do_not_mix() {
        let e = Transport::builder("t", "https://api.example.com")
            .http_client(reqwest::Client::new())
            .proxy(Proxy::new("http://127.0.0.1:3128").unwrap())
            .build()
            .unwrap_err();
        assert!(matches!(e, Error::Config(m) if m.contains("proxy and http_client")));
        let e = Transport::builder("t", "https://api.example.com")
            .deadline(Duration::ZERO)
            .build()
            .unwrap_err();
        assert!(matches!(e, Error::Config(_)));
    }
}
