//! The sandbox kit of the SIM SDK family: what every provider sandbox shares. A local HTTP server
//! on `127.0.0.1` with an ephemeral port, a request log, a rate limiter that answers 429, and
//! fault injection.
//!
//! ```
//! use axum::{Router, routing::get};
//! use simsandbox::SandboxServer;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let server = SandboxServer::start(Router::new().route("/ping", get(|| async { "pong" }))).await?;
//! assert!(server.base_url().starts_with("http://127.0.0.1:"));
//! server.fail_next(1, 503); // the next request is answered 503
//! let answer = reqwest::get(format!("{}/ping", server.base_url())).await.unwrap();
//! assert_eq!(answer.status(), 503);
//! let answer = reqwest::get(format!("{}/ping", server.base_url())).await.unwrap();
//! assert_eq!(answer.text().await.unwrap(), "pong");
//! assert_eq!(server.requests().len(), 2);
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```
//!
//! Each provider crate (`supersim-client`, `emnify-client`, `sixfab-client`, `edgeiq-client`,
//! feature `sandbox`) builds its sandbox as an [`axum::Router`] that parses the raw request and
//! enforces the provider's documented rules; [`SandboxServer`] runs it and stands in front of it:
//!
//! 1. every request is recorded ([`SandboxServer::requests`]);
//! 2. injected faults apply: drop the connection, or answer with a status (each queue covers at
//!    most [`MAX_QUEUED_FAULTS`] requests, and the bodies waiting hold at most
//!    [`MAX_QUEUED_FAULT_BODY_BYTES`], so no request to inject can exhaust memory);
//! 3. the in-flight limit ([`SandboxServer::set_in_flight_limit`]) answers with the provider's own
//!    429 (without `Retry-After`) a request that would be one too many in flight, at once and
//!    unprocessed, as Twilio's account-wide concurrency limit does; a request admitted counts as
//!    in flight until its answer is ready, injected delay included;
//! 4. an injected delay;
//! 5. the rate limiter answers with the provider's own 429 when the bucket is empty: one bucket
//!    for the server, or one per client IP ([`SandboxServer::set_rate_limit_scope`], as emnify
//!    counts);
//! 6. the router answers.
//!
//! [`Clock`] is a sandbox's time: the real one by default, or a virtual one that a test moves
//! forward, so the providers' rules stated in months can be tried in a second.
//! [`WindowCounter`] counts calls per caller in a rolling window on that clock (a limit such as
//! "100 calls per 5 minutes per IP"). The router sees each caller's address as the request
//! extension [`axum::extract::ConnectInfo`]`<SocketAddr>`.
//!
//! [`SandboxAdmin`] is what every provider sandbox shows an admin view in one shape: its clock,
//! its server and a JSON snapshot of its state; [`sandbox_admin!`] implements it for a sandbox
//! type.
//!
//! The router is the `axum` crate's: a provider crate depends on `axum` itself (the same major
//! version as this crate), which is why this crate does not re-export it.
//!
//! # Feature flags
//! None: everything here is always compiled. The provider crates compile this crate only with
//! their own `sandbox` feature, so a client without it carries no HTTP server.
#![cfg_attr(docsrs, feature(doc_cfg))]

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::fmt;
use std::hash::Hash;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Request, Response, StatusCode};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower::ServiceExt;

mod macros;

mod clock;
pub use clock::{Clock, ClockError};

mod window;
pub use window::{WindowCounter, WindowLimit};

mod admin;
pub use admin::SandboxAdmin;

pub mod engine;

/// Locks a mutex, recovering the data if a panicking thread poisoned it (the sandbox keeps
/// serving other tests).
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Headers whose values the request log never shows in `Debug` (nor bodies: see
/// [`RecordedRequest`]).
const SECRET_HEADERS: &[&str] = &["authorization", "x-api-key", "cookie"];

/// One request as the sandbox received it.
#[derive(Clone)]
pub struct RecordedRequest {
    /// The method (`"POST"`).
    pub method: String,
    /// The raw path, percent-encoding kept (`"/v1/Sims/HS..."`).
    pub path: String,
    /// The raw query, if any.
    pub query: Option<String>,
    /// The headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl RecordedRequest {
    /// The first value of a header (name case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (lossy).
    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body as JSON, if it is JSON.
    pub fn body_json(&self) -> Option<serde_json::Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Whether this request would change state (anything but GET and HEAD).
    pub fn is_write(&self) -> bool {
        !matches!(self.method.as_str(), "GET" | "HEAD")
    }

    /// The request as JSON for an admin view, as safe to show as its `Debug`: the values of
    /// credential headers (`authorization`, `x-api-key`, `cookie`) are `"[redacted]"`, and the
    /// body is its size only (a body can carry credentials: an authenticate call).
    ///
    /// ```
    /// use simsandbox::RecordedRequest;
    /// let r = RecordedRequest {
    ///     method: "POST".into(),
    ///     path: "/api/v1/authenticate".into(),
    ///     query: None,
    ///     headers: vec![("authorization".into(), "Bearer secret".into())],
    ///     body: r#"{"application_token":"secret"}"#.into(),
    /// };
    /// let json = r.redacted_json();
    /// assert_eq!(json["headers"][0], serde_json::json!(["authorization", "[redacted]"]));
    /// assert_eq!(json["body_bytes"], 30);
    /// assert!(!json.to_string().contains("secret"));
    /// ```
    pub fn redacted_json(&self) -> serde_json::Value {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                if SECRET_HEADERS.contains(&k.as_str()) {
                    (k.as_str(), "[redacted]")
                } else {
                    (k.as_str(), v.as_str())
                }
            })
            .collect();
        serde_json::json!({
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": headers,
            "body_bytes": self.body.len(),
        })
    }
}

impl fmt::Debug for RecordedRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                if SECRET_HEADERS.contains(&k.as_str()) {
                    (k.as_str(), "[redacted]")
                } else {
                    (k.as_str(), v.as_str())
                }
            })
            .collect();
        f.debug_struct("RecordedRequest")
            .field("method", &self.method)
            .field("path", &self.path)
            .field("query", &self.query)
            .field("headers", &headers)
            // A body can carry credentials (an authenticate call): its size only.
            .field("body", &format_args!("{} bytes", self.body.len()))
            .finish()
    }
}

/// A token-bucket rate limit: `per_second` requests on average, bursts of up to `burst`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second.
    pub per_second: f64,
    /// The bucket size.
    pub burst: u32,
    /// Whether the 429 carries a `Retry-After` (Twilio may send one; emnify documents none).
    pub retry_after: bool,
}

/// A token bucket over a [`RateLimit`], for a sandbox that limits one path on its own (emnify's
/// list, say) besides the server-wide limit.
///
/// ```
/// use simsandbox::{RateLimit, TokenBucket};
/// let mut bucket = TokenBucket::new(RateLimit { per_second: 10.0, burst: 2, retry_after: false });
/// assert!(bucket.take().is_ok());
/// assert!(bucket.take().is_ok());
/// assert!(bucket.take().is_err()); // the burst is spent: wait about 100 ms
/// ```
#[derive(Debug, Clone)]
pub struct TokenBucket {
    limit: RateLimit,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            tokens: f64::from(limit.burst),
            last: Instant::now(),
        }
    }

    /// The limit it enforces.
    pub fn limit(&self) -> RateLimit {
        self.limit
    }

    /// Takes a token, or says how long until one is there.
    pub fn take(&mut self) -> Result<(), Duration> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens =
            (self.tokens + elapsed * self.limit.per_second).min(f64::from(self.limit.burst));
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            let wait = (1.0 - self.tokens) / self.limit.per_second.max(f64::MIN_POSITIVE);
            Err(Duration::from_secs_f64(wait.min(3600.0)))
        }
    }
}

/// What a rate limit counts by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RateLimitScope {
    /// One bucket for every request the server receives (an account-wide limit).
    #[default]
    Server,
    /// One bucket per client IP address (emnify's limits are per IP). On loopback every client
    /// is `127.0.0.1` unless it binds another address of `127.0.0.0/8`.
    ClientIp,
}

/// The rate limit and its buckets.
#[derive(Default)]
struct Limiter {
    limit: Option<RateLimit>,
    scope: RateLimitScope,
    server: Option<TokenBucket>,
    per_ip: HashMap<IpAddr, TokenBucket>,
}

impl Limiter {
    fn set(&mut self, limit: Option<RateLimit>) {
        self.limit = limit;
        self.server = limit.map(TokenBucket::new);
        self.per_ip.clear();
    }

    /// Takes a token for a request from `peer`, or says how long until there is one and whether
    /// to say so.
    fn take(&mut self, peer: IpAddr) -> Option<(Duration, bool)> {
        let limit = self.limit?;
        let bucket = match self.scope {
            RateLimitScope::Server => self.server.get_or_insert_with(|| TokenBucket::new(limit)),
            RateLimitScope::ClientIp => self
                .per_ip
                .entry(peer)
                .or_insert_with(|| TokenBucket::new(limit)),
        };
        bucket.take().err().map(|wait| (wait, limit.retry_after))
    }
}

/// Builds a provider's 429 answer; gets the wait the limiter suggests (when it sends one).
pub type ThrottleResponse = Arc<dyn Fn(Option<Duration>) -> Response<Body> + Send + Sync>;

/// The most requests each fault queue covers at once: [`SandboxServer::drop_next`],
/// [`SandboxServer::fail_next`] (with [`SandboxServer::fail_next_with`]) and
/// [`SandboxServer::delay_next`] each queue at most this many waiting requests. A queue is a
/// count (or a few runs of one answer), so it never allocates per request; the cap keeps its
/// counts from overflowing and what a test sets up readable.
pub const MAX_QUEUED_FAULTS: usize = 10_000;

/// The longest body an injected status answers with ([`SandboxServer::fail_next_with`]): a longer
/// one is cut to this many bytes ([`SandboxServer::try_fail_next_with`] refuses it).
pub const MAX_FAULT_BODY_BYTES: usize = 64 * 1024;

/// The most bytes the bodies of the injected statuses waiting hold in all, each call's body
/// counted once however many requests it answers: with [`MAX_QUEUED_FAULTS`], what bounds the
/// memory fault injection can hold.
pub const MAX_QUEUED_FAULT_BODY_BYTES: usize = 1024 * 1024;

/// Why a fault was not queued ([`SandboxServer::try_drop_next`],
/// [`SandboxServer::try_fail_next_with`], [`SandboxServer::try_delay_next`]): nothing of it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FaultQueueFull {
    /// The queue would cover more than [`MAX_QUEUED_FAULTS`] requests.
    #[error(
        "the {queue} queue covers at most {limit} requests: {waiting} wait, so at most {} more",
        limit.saturating_sub(*waiting)
    )]
    Count {
        /// `drop`, `status` or `delay`.
        queue: &'static str,
        /// Requests the queue covers now.
        waiting: usize,
        /// [`MAX_QUEUED_FAULTS`].
        limit: usize,
    },
    /// The body is longer than [`MAX_FAULT_BODY_BYTES`].
    #[error("an injected body is at most {limit} bytes (this one is {len})")]
    BodyTooLong {
        /// The body's length.
        len: usize,
        /// [`MAX_FAULT_BODY_BYTES`].
        limit: usize,
    },
    /// The bodies waiting would hold more than [`MAX_QUEUED_FAULT_BODY_BYTES`].
    #[error(
        "the injected bodies waiting hold at most {limit} bytes: {waiting} are held, this body is {len}"
    )]
    BodyBytes {
        /// Bytes held now.
        waiting: usize,
        /// The body's length.
        len: usize,
        /// [`MAX_QUEUED_FAULT_BODY_BYTES`].
        limit: usize,
    },
    /// A count of zero queues nothing.
    #[error("a fault count is 1 or more")]
    Zero,
}

/// One call's injected status: the answer and how many requests still get it.
struct FailRun {
    status: StatusCode,
    body: Bytes,
    content_type: &'static str,
    count: usize,
}

#[derive(Default)]
struct Faults {
    drop_next: usize,
    /// Oldest first; the counts add up to `fail_waiting`.
    fail_next: VecDeque<FailRun>,
    fail_waiting: usize,
    /// The runs' bodies, each counted once.
    fail_body_bytes: usize,
    delay_next: usize,
    delay: Duration,
    delay_all: Option<Duration>,
}

impl Faults {
    /// How many of `n` more requests a queue holding `waiting` takes: all of them or none
    /// (`exact`), or as many as fit.
    fn room(
        queue: &'static str,
        waiting: usize,
        n: usize,
        exact: bool,
    ) -> Result<usize, FaultQueueFull> {
        let room = MAX_QUEUED_FAULTS.saturating_sub(waiting);
        if n == 0 {
            return Err(FaultQueueFull::Zero);
        }
        if n > room && (exact || room == 0) {
            return Err(FaultQueueFull::Count {
                queue,
                waiting,
                limit: MAX_QUEUED_FAULTS,
            });
        }
        Ok(n.min(room))
    }

    fn drop_next(&mut self, n: usize, exact: bool) -> Result<usize, FaultQueueFull> {
        let n = Self::room("drop", self.drop_next, n, exact)?;
        self.drop_next += n;
        Ok(n)
    }

    fn delay_next(
        &mut self,
        n: usize,
        delay: Duration,
        exact: bool,
    ) -> Result<usize, FaultQueueFull> {
        let n = Self::room("delay", self.delay_next, n, exact)?;
        self.delay_next += n;
        self.delay = delay;
        Ok(n)
    }

    fn fail_next(
        &mut self,
        n: usize,
        status: StatusCode,
        body: Bytes,
        content_type: &'static str,
        exact: bool,
    ) -> Result<usize, FaultQueueFull> {
        if body.len() > MAX_FAULT_BODY_BYTES && exact {
            return Err(FaultQueueFull::BodyTooLong {
                len: body.len(),
                limit: MAX_FAULT_BODY_BYTES,
            });
        }
        let n = Self::room("status", self.fail_waiting, n, exact)?;
        let body = if body.len() > MAX_FAULT_BODY_BYTES {
            // A copy, not a slice: a slice would keep the whole buffer alive.
            Bytes::copy_from_slice(&body[..MAX_FAULT_BODY_BYTES])
        } else {
            body
        };
        match self.fail_next.back_mut() {
            Some(last)
                if last.status == status
                    && last.content_type == content_type
                    && last.body == body =>
            {
                last.count += n;
            }
            _ => {
                if self.fail_body_bytes.saturating_add(body.len()) > MAX_QUEUED_FAULT_BODY_BYTES {
                    return Err(FaultQueueFull::BodyBytes {
                        waiting: self.fail_body_bytes,
                        len: body.len(),
                        limit: MAX_QUEUED_FAULT_BODY_BYTES,
                    });
                }
                self.fail_body_bytes += body.len();
                self.fail_next.push_back(FailRun {
                    status,
                    body,
                    content_type,
                    count: n,
                });
            }
        }
        self.fail_waiting += n;
        Ok(n)
    }

    /// Takes the next injected status, if one waits.
    fn take_fail(&mut self) -> Option<(StatusCode, Bytes, &'static str)> {
        let run = self.fail_next.front_mut()?;
        run.count -= 1;
        let taken = (run.status, run.body.clone(), run.content_type);
        if run.count == 0 {
            if let Some(run) = self.fail_next.pop_front() {
                self.fail_body_bytes -= run.body.len();
            }
        }
        self.fail_waiting -= 1;
        Some(taken)
    }
}

/// Counters of what the sandbox did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// Requests received.
    pub received: u64,
    /// Requests answered 429 by the rate limiter or the in-flight limit.
    pub throttled: u64,
    /// Of those, the requests answered 429 by the in-flight limit.
    pub over_in_flight: u64,
    /// The most requests admitted in flight at once.
    pub peak_in_flight: u64,
    /// Connections dropped by fault injection.
    pub dropped: u64,
    /// Requests answered with an injected status.
    pub failed: u64,
}

struct Shared {
    log: Mutex<Vec<RecordedRequest>>,
    record: std::sync::atomic::AtomicBool,
    faults: Mutex<Faults>,
    bucket: Mutex<Limiter>,
    throttle: ThrottleResponse,
    stats: Mutex<Stats>,
    /// Requests admitted and not yet answered, and the limit (`None`: no limit).
    in_flight: Mutex<(usize, Option<usize>)>,
}

/// How long a stopping server ([`SandboxServer::shutdown`], or dropped) lets the requests in
/// flight finish before it closes every connection still open.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// A running sandbox server. Stops when dropped (see [`SandboxServer::shutdown`]).
pub struct SandboxServer {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: watch::Sender<bool>,
    /// True once the server has stopped and closed every connection.
    done: watch::Receiver<bool>,
}

impl fmt::Debug for SandboxServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxServer")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

/// Options for [`SandboxServer::start_with`].
#[derive(Clone)]
pub struct SandboxOptions {
    /// The rate limit at start (none by default).
    pub rate_limit: Option<RateLimit>,
    /// The provider's 429 answer.
    pub throttle: ThrottleResponse,
    /// Whether to keep a log of requests (on by default; benchmarks turn it off).
    pub record: bool,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            rate_limit: None,
            throttle: Arc::new(|wait| {
                let mut b = Response::builder()
                    .status(StatusCode::TOO_MANY_REQUESTS)
                    .header("content-type", "application/json");
                if let Some(w) = wait {
                    // Whole seconds, rounded up: a client that waits as told is not early.
                    let secs = w.as_secs_f64().ceil().max(1.0) as u64;
                    b = b.header("retry-after", secs.to_string());
                }
                b.body(Body::from(r#"{"message":"Too Many Requests"}"#))
                    .unwrap_or_default()
            }),
            record: true,
        }
    }
}

impl SandboxServer {
    /// Starts `router` on `127.0.0.1` with an ephemeral port and default options.
    pub async fn start(router: Router) -> std::io::Result<Self> {
        Self::start_with(router, SandboxOptions::default()).await
    }

    /// Starts `router` with options.
    pub async fn start_with(router: Router, options: SandboxOptions) -> std::io::Result<Self> {
        Self::start_on_port(router, options, 0).await
    }

    /// Starts `router` with options on `127.0.0.1:port` (`0`: an ephemeral port), for a
    /// sandbox that other programs reach at a fixed address (`simctl sandbox --port-base`).
    pub async fn start_on_port(
        router: Router,
        options: SandboxOptions,
        port: u16,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            log: Mutex::new(Vec::new()),
            record: std::sync::atomic::AtomicBool::new(options.record),
            faults: Mutex::new(Faults::default()),
            bucket: Mutex::new({
                let mut l = Limiter::default();
                l.set(options.rate_limit);
                l
            }),
            throttle: options.throttle,
            stats: Mutex::new(Stats::default()),
            in_flight: Mutex::new((0, None)),
        });
        let (stop, mut stopped) = watch::channel(false);
        let (done_tx, done) = watch::channel(false);
        let accept_shared = shared.clone();
        tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let (stream, peer) = tokio::select! {
                    r = listener.accept() => match r {
                        Ok(s) => s,
                        // Out of file descriptors, say: wait a moment instead of spinning.
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                            continue;
                        }
                    },
                    _ = stopped.changed() => break,
                };
                // Forget the connections that have ended.
                while connections.try_join_next().is_some() {}
                let _ = stream.set_nodelay(true);
                let shared = accept_shared.clone();
                let router = router.clone();
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    handle(shared.clone(), router.clone(), peer, req)
                });
                let mut stop = stopped.clone();
                connections.spawn(async move {
                    let conn = hyper::server::conn::http1::Builder::new()
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service);
                    tokio::pin!(conn);
                    // A stopped sandbox also closes its kept-alive connections, once the
                    // request in flight on each is answered.
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = stop.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                });
            }
            // Stopped: no new connection. Those open get SHUTDOWN_GRACE to end (an idle or
            // kept-alive one ends at once, a request in flight is answered); then the rest (a
            // client that sent half a request and waits, a long injected delay) are dropped.
            drop(listener);
            let _ = tokio::time::timeout(SHUTDOWN_GRACE, async {
                while connections.join_next().await.is_some() {}
            })
            .await;
            connections.shutdown().await;
            let _ = done_tx.send(true);
        });
        Ok(Self {
            addr,
            shared,
            stop,
            done,
        })
    }

    /// Stops the server and waits until it has: it takes no new connection, the requests in
    /// flight get [`SHUTDOWN_GRACE`] to be answered, then every connection still open is closed
    /// (whatever its client is doing: sending half a request, holding it idle). Dropping the
    /// server stops it the same way, without waiting.
    pub async fn shutdown(&self) {
        let _ = self.stop.send(true);
        let mut done = self.done.clone();
        let _ = done.wait_for(|done| *done).await;
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`, to pass to a client builder's `base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        lock(&self.shared.log).clone()
    }

    /// Forgets the requests received so far.
    pub fn clear_requests(&self) {
        lock(&self.shared.log).clear();
    }

    /// Turns the request log on or off (benchmarks turn it off).
    pub fn set_recording(&self, on: bool) {
        self.shared
            .record
            .store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Counters of what the sandbox did.
    pub fn stats(&self) -> Stats {
        *lock(&self.shared.stats)
    }

    /// Closes the connection of each of the next `n` requests without answering. The queue covers
    /// at most [`MAX_QUEUED_FAULTS`] requests: returns how many of the `n` it took (as many as
    /// fit).
    pub fn drop_next(&self, n: usize) -> usize {
        lock(&self.shared.faults).drop_next(n, false).unwrap_or(0)
    }

    /// As [`drop_next`](Self::drop_next), all `n` or none: refused when they do not fit (or `n`
    /// is 0).
    pub fn try_drop_next(&self, n: usize) -> Result<(), FaultQueueFull> {
        lock(&self.shared.faults).drop_next(n, true).map(drop)
    }

    /// Answers the next `n` requests with `status` and a short JSON body. Returns how many of
    /// the `n` it queued (see [`fail_next_with`](Self::fail_next_with)).
    pub fn fail_next(&self, n: usize, status: u16) -> usize {
        let body = Bytes::from(format!(r#"{{"message":"injected fault: HTTP {status}"}}"#));
        self.fail_next_with(n, status, body, "application/json")
    }

    /// Answers the next `n` requests with `status`, `body` and `content_type`, after those
    /// already queued. The queue covers at most [`MAX_QUEUED_FAULTS`] requests and its bodies
    /// hold at most [`MAX_QUEUED_FAULT_BODY_BYTES`]; a body is cut to
    /// [`MAX_FAULT_BODY_BYTES`]. Returns how many of the `n` it queued: as many as fit, none when
    /// the body does not.
    pub fn fail_next_with(
        &self,
        n: usize,
        status: u16,
        body: Bytes,
        content_type: &'static str,
    ) -> usize {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        lock(&self.shared.faults)
            .fail_next(n, status, body, content_type, false)
            .unwrap_or(0)
    }

    /// As [`fail_next_with`](Self::fail_next_with), all `n` or none: refused when they do not
    /// fit, the body is longer than [`MAX_FAULT_BODY_BYTES`], or `n` is 0.
    pub fn try_fail_next_with(
        &self,
        n: usize,
        status: u16,
        body: Bytes,
        content_type: &'static str,
    ) -> Result<(), FaultQueueFull> {
        let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        lock(&self.shared.faults)
            .fail_next(n, status, body, content_type, true)
            .map(drop)
    }

    /// Delays the next `n` requests by `delay` before answering (those already waiting too: one
    /// delay applies to the whole queue). The queue covers at most [`MAX_QUEUED_FAULTS`]
    /// requests: returns how many of the `n` it took.
    pub fn delay_next(&self, n: usize, delay: Duration) -> usize {
        lock(&self.shared.faults)
            .delay_next(n, delay, false)
            .unwrap_or(0)
    }

    /// As [`delay_next`](Self::delay_next), all `n` or none: refused when they do not fit (or
    /// `n` is 0).
    pub fn try_delay_next(&self, n: usize, delay: Duration) -> Result<(), FaultQueueFull> {
        lock(&self.shared.faults)
            .delay_next(n, delay, true)
            .map(drop)
    }

    /// Delays every request by `delay` (`None` to stop).
    pub fn set_delay(&self, delay: Option<Duration>) {
        lock(&self.shared.faults).delay_all = delay;
    }

    /// Sets or removes the rate limit (its buckets start full).
    pub fn set_rate_limit(&self, limit: Option<RateLimit>) {
        lock(&self.shared.bucket).set(limit);
    }

    /// Sets what the rate limit counts by: the whole server (the default) or each client IP
    /// address. The buckets start full again.
    pub fn set_rate_limit_scope(&self, scope: RateLimitScope) {
        let mut l = lock(&self.shared.bucket);
        l.scope = scope;
        let limit = l.limit;
        l.set(limit);
    }

    /// What the rate limit counts by.
    pub fn rate_limit_scope(&self) -> RateLimitScope {
        lock(&self.shared.bucket).scope
    }

    /// Sets or removes a limit on requests in flight: beyond `limit` admitted and not yet
    /// answered, a request is answered at once with the provider's 429 (without `Retry-After`)
    /// and never reaches the router, as Twilio's account-wide concurrency limit does. Combine
    /// with [`set_delay`](Self::set_delay) to give requests a service time.
    pub fn set_in_flight_limit(&self, limit: Option<usize>) {
        lock(&self.shared.in_flight).1 = limit;
    }

    /// Requests admitted and not yet answered, now.
    pub fn in_flight(&self) -> usize {
        lock(&self.shared.in_flight).0
    }

    /// Sets every counter of [`stats`](Self::stats) back to zero.
    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = Stats::default();
    }

    /// Clears every injected fault.
    pub fn clear_faults(&self) {
        *lock(&self.shared.faults) = Faults::default();
    }

    /// What the server holds, as JSON for an admin view: its address, the counters
    /// ([`Stats`]), how many requests the log holds, the faults still waiting (`"faults"`:
    /// `drop_next`, `fail_next` the status of each request a status answers, `fail_body_bytes`
    /// what their bodies hold, `delay_next`, `delay_ms`, `delay_all_ms`), and the rate limit.
    /// The log itself is [`requests`](Self::requests) (each with
    /// [`RecordedRequest::redacted_json`]).
    pub fn state_json(&self) -> serde_json::Value {
        let faults = lock(&self.shared.faults);
        let fail_next: Vec<u16> = faults
            .fail_next
            .iter()
            .flat_map(|run| std::iter::repeat_n(run.status.as_u16(), run.count))
            .collect();
        let (limit, scope) = {
            let l = lock(&self.shared.bucket);
            (l.limit, l.scope)
        };
        let (in_flight, in_flight_limit) = *lock(&self.shared.in_flight);
        serde_json::json!({
            "base_url": self.base_url(),
            "stats": self.stats(),
            "recording": self.shared.record.load(std::sync::atomic::Ordering::Relaxed),
            "requests_logged": lock(&self.shared.log).len(),
            "faults": {
                "drop_next": faults.drop_next,
                "fail_next": fail_next,
                "fail_body_bytes": faults.fail_body_bytes,
                "delay_next": faults.delay_next,
                "delay_ms": u64::try_from(faults.delay.as_millis()).unwrap_or(u64::MAX),
                "delay_all_ms": faults.delay_all.map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX)),
            },
            "rate_limit": limit.map(|l| serde_json::json!({
                "per_second": l.per_second,
                "burst": l.burst,
                "retry_after": l.retry_after,
                "per_client_ip": scope == RateLimitScope::ClientIp,
            })),
            "in_flight": in_flight,
            "in_flight_limit": in_flight_limit,
        })
    }
}

impl Drop for SandboxServer {
    fn drop(&mut self) {
        let _ = self.stop.send(true);
    }
}

/// A connection dropped on purpose.
#[derive(Debug)]
struct Dropped;

impl fmt::Display for Dropped {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("connection dropped by fault injection")
    }
}

impl std::error::Error for Dropped {}

enum Fault {
    Drop,
    Fail(StatusCode, Bytes, &'static str),
    Delay(Duration),
    None,
}

/// A request admitted in flight; counted out when dropped (answered, or the client went away).
struct InFlight(Arc<Shared>);

impl Drop for InFlight {
    fn drop(&mut self) {
        lock(&self.0.in_flight).0 -= 1;
    }
}

async fn handle(
    shared: Arc<Shared>,
    router: Router,
    peer: SocketAddr,
    req: Request<Incoming>,
) -> Result<Response<Body>, Dropped> {
    let (parts, body) = req.into_parts();
    let bytes = http_body_util_collect(body).await;
    lock(&shared.stats).received += 1;
    if shared.record.load(std::sync::atomic::Ordering::Relaxed) {
        lock(&shared.log).push(RecordedRequest {
            method: parts.method.to_string(),
            path: parts.uri.path().to_owned(),
            query: parts.uri.query().map(str::to_owned),
            headers: header_pairs(&parts.headers),
            body: bytes.clone(),
        });
    }

    let fault = {
        let mut f = lock(&shared.faults);
        if f.drop_next > 0 {
            f.drop_next -= 1;
            Fault::Drop
        } else if let Some((s, b, ct)) = f.take_fail() {
            Fault::Fail(s, b, ct)
        } else if f.delay_next > 0 {
            f.delay_next -= 1;
            Fault::Delay(f.delay)
        } else if let Some(d) = f.delay_all {
            Fault::Delay(d)
        } else {
            Fault::None
        }
    };
    match fault {
        Fault::Drop => {
            lock(&shared.stats).dropped += 1;
            return Err(Dropped);
        }
        Fault::Fail(status, body, ct) => {
            lock(&shared.stats).failed += 1;
            return Ok(Response::builder()
                .status(status)
                .header("content-type", ct)
                .body(Body::from(body))
                .unwrap_or_default());
        }
        Fault::Delay(_) | Fault::None => {}
    }

    let _admitted = {
        let mut f = lock(&shared.in_flight);
        if f.1.is_some_and(|limit| f.0 >= limit) {
            drop(f);
            let mut stats = lock(&shared.stats);
            stats.throttled += 1;
            stats.over_in_flight += 1;
            drop(stats);
            return Ok((shared.throttle)(None));
        }
        f.0 += 1;
        let now = f.0 as u64;
        drop(f);
        let mut stats = lock(&shared.stats);
        stats.peak_in_flight = stats.peak_in_flight.max(now);
        InFlight(shared.clone())
    };
    if let Fault::Delay(d) = fault {
        tokio::time::sleep(d).await;
    }

    let throttled = lock(&shared.bucket).take(peer.ip());
    if let Some((wait, send_wait)) = throttled {
        lock(&shared.stats).throttled += 1;
        return Ok((shared.throttle)(send_wait.then_some(wait)));
    }

    let mut req = Request::from_parts(parts, Body::from(bytes));
    // The caller's address, where axum's extractor looks for it: a rule counted per client IP
    // reads it.
    req.extensions_mut()
        .insert(axum::extract::ConnectInfo(peer));
    let resp: Result<Response<Body>, Infallible> = router.oneshot(req).await;
    match resp {
        Ok(r) => Ok(r),
        Err(never) => match never {},
    }
}

async fn http_body_util_collect(body: Incoming) -> Bytes {
    axum::body::to_bytes(Body::new(body), usize::MAX)
        .await
        .unwrap_or_default()
}

fn header_pairs(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_owned(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect()
}

/// An in-memory store shared between a sandbox's handlers and its test-facing methods.
#[derive(Debug)]
pub struct Store<K, V> {
    inner: Arc<Mutex<HashMap<K, V>>>,
}

impl<K, V> Clone for Store<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V> Default for Store<K, V> {
    fn default() -> Self {
        Self {
            inner: Arc::new(Mutex::new(HashMap::new())),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Store<K, V> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the value under `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        lock(&self.inner).get(key).cloned()
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        lock(&self.inner).insert(key, value)
    }

    /// Removes; returns the value.
    pub fn remove(&self, key: &K) -> Option<V> {
        lock(&self.inner).remove(key)
    }

    /// Changes the value under `key` in place and returns what `f` returns; `None` if absent.
    pub fn update<R>(&self, key: &K, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        lock(&self.inner).get_mut(key).map(f)
    }

    /// A copy of every value.
    pub fn values(&self) -> Vec<V> {
        lock(&self.inner).values().cloned().collect()
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        lock(&self.inner).len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        lock(&self.inner).is_empty()
    }
}

/// An in-memory store that also keeps its keys in order, so a sandbox can serve a list a page at
/// a time without scanning or sorting everything for each page: finding a page by its offset or
/// by the key it starts after costs the same with ten values or 100,000.
///
/// Keys are kept sorted (by `Ord`): inserting in ascending order, as seeding with growing ids
/// does, appends; any other insert or a removal shifts the keys after it.
///
/// ```
/// use simsandbox::OrderedStore;
/// let store = OrderedStore::new();
/// for id in [3u64, 1, 2, 5, 4] {
///     store.insert(id, format!("sim {id}"));
/// }
/// assert_eq!(store.page(1, 2), vec!["sim 2".to_owned(), "sim 3".to_owned()]);
/// assert_eq!(store.after(Some(&4), 10), vec!["sim 5".to_owned()]);
/// assert_eq!(store.rank(&3), 2);
/// ```
#[derive(Debug)]
pub struct OrderedStore<K, V> {
    inner: Arc<Mutex<Ordered<K, V>>>,
}

#[derive(Debug)]
struct Ordered<K, V> {
    map: HashMap<K, V>,
    /// Every key of `map`, sorted.
    keys: Vec<K>,
}

impl<K, V> Clone for OrderedStore<K, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
        }
    }
}

impl<K, V> Default for OrderedStore<K, V> {
    fn default() -> Self {
        Self {
            inner: Arc::new(Mutex::new(Ordered {
                map: HashMap::new(),
                keys: Vec::new(),
            })),
        }
    }
}

impl<K: Ord + Hash + Clone, V: Clone> OrderedStore<K, V> {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// A copy of the value under `key`.
    pub fn get(&self, key: &K) -> Option<V> {
        lock(&self.inner).map.get(key).cloned()
    }

    /// Whether a value is stored under `key`.
    pub fn contains(&self, key: &K) -> bool {
        lock(&self.inner).map.contains_key(key)
    }

    /// Inserts or replaces; returns the previous value.
    pub fn insert(&self, key: K, value: V) -> Option<V> {
        let mut inner = lock(&self.inner);
        let previous = inner.map.insert(key.clone(), value);
        if previous.is_none() {
            Self::index(&mut inner.keys, key);
        }
        previous
    }

    /// Inserts many values under one lock (seeding a large fleet); a value under a key already
    /// stored replaces it.
    pub fn extend(&self, values: impl IntoIterator<Item = (K, V)>) {
        let mut inner = lock(&self.inner);
        for (key, value) in values {
            if inner.map.insert(key.clone(), value).is_none() {
                Self::index(&mut inner.keys, key);
            }
        }
    }

    fn index(keys: &mut Vec<K>, key: K) {
        if keys.last().is_none_or(|last| *last < key) {
            keys.push(key);
        } else {
            let at = keys.partition_point(|k| *k < key);
            keys.insert(at, key);
        }
    }

    /// Removes; returns the value.
    pub fn remove(&self, key: &K) -> Option<V> {
        let mut inner = lock(&self.inner);
        let value = inner.map.remove(key)?;
        if let Ok(at) = inner.keys.binary_search(key) {
            inner.keys.remove(at);
        }
        Some(value)
    }

    /// Changes the value under `key` in place and returns what `f` returns; `None` if absent.
    pub fn update<R>(&self, key: &K, f: impl FnOnce(&mut V) -> R) -> Option<R> {
        lock(&self.inner).map.get_mut(key).map(f)
    }

    /// Up to `limit` values in key order, starting at position `offset` (0-based).
    pub fn page(&self, offset: usize, limit: usize) -> Vec<V> {
        let inner = lock(&self.inner);
        let start = offset.min(inner.keys.len());
        let end = start.saturating_add(limit).min(inner.keys.len());
        inner.keys[start..end]
            .iter()
            .filter_map(|k| inner.map.get(k).cloned())
            .collect()
    }

    /// Up to `limit` values in key order, those after `key` (from the first with `None`).
    pub fn after(&self, key: Option<&K>, limit: usize) -> Vec<V> {
        let inner = lock(&self.inner);
        let start = key.map_or(0, |key| inner.keys.partition_point(|k| k <= key));
        let end = start.saturating_add(limit).min(inner.keys.len());
        inner.keys[start..end]
            .iter()
            .filter_map(|k| inner.map.get(k).cloned())
            .collect()
    }

    /// How many keys come before `key` (its position, if it is stored).
    pub fn rank(&self, key: &K) -> usize {
        lock(&self.inner).keys.partition_point(|k| k < key)
    }

    /// Up to `limit` of the values `keep` accepts, in key order, from the `offset`-th accepted
    /// one (0-based), and how many it accepts in all: a filtered list's page and its total in one
    /// pass, copying only the page.
    pub fn filtered_page(
        &self,
        offset: usize,
        limit: usize,
        mut keep: impl FnMut(&V) -> bool,
    ) -> (Vec<V>, usize) {
        let inner = lock(&self.inner);
        let mut page = Vec::new();
        let mut total = 0;
        for v in inner.keys.iter().filter_map(|k| inner.map.get(k)) {
            if keep(v) {
                if total >= offset && page.len() < limit {
                    page.push(v.clone());
                }
                total += 1;
            }
        }
        (page, total)
    }

    /// A list's page and its total: up to `limit` values in key order from position `offset`,
    /// of those `keep` accepts (all of them with `None`), and how many it accepts in all.
    pub fn query(
        &self,
        offset: usize,
        limit: usize,
        keep: Option<&dyn Fn(&V) -> bool>,
    ) -> (Vec<V>, usize) {
        match keep {
            None => (self.page(offset, limit), self.len()),
            Some(keep) => self.filtered_page(offset, limit, keep),
        }
    }

    /// A copy of every value, in key order.
    pub fn values(&self) -> Vec<V> {
        let inner = lock(&self.inner);
        inner
            .keys
            .iter()
            .filter_map(|k| inner.map.get(k).cloned())
            .collect()
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        lock(&self.inner).map.len()
    }

    /// Whether the store is empty.
    pub fn is_empty(&self) -> bool {
        lock(&self.inner).map.is_empty()
    }
}

/// A JSON answer with a status.
pub fn json_response(status: u16, body: &serde_json::Value) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap_or_default()
}

/// A JSON answer serialized straight from `body`, with no `serde_json::Value` built in between:
/// what a page of a thousand resources wants. A body that cannot be serialized is a `500`.
pub fn json_response_from<T: serde::Serialize + ?Sized>(status: u16, body: &T) -> Response<Body> {
    match serde_json::to_vec(body) {
        Ok(bytes) => Response::builder()
            .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
            .header("content-type", "application/json")
            .body(Body::from(bytes))
            .unwrap_or_default(),
        Err(e) => json_response(500, &serde_json::json!({"message": e.to_string()})),
    }
}

/// Serializes a `Display` value as JSON text without building a `String` first (a timestamp or
/// a URL in a large answer).
#[derive(Debug, Clone, Copy)]
pub struct AsText<T>(pub T);

impl<T: fmt::Display> serde::Serialize for AsText<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

/// An empty answer with a status (a `204`).
pub fn empty_response(status: u16) -> Response<Body> {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .body(Body::empty())
        .unwrap_or_default()
}

#[doc(hidden)]
pub mod __private {
    pub use serde_json;
}

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
