//! The HTTP transport every provider crate sends through (feature `http`, on by default).
//!
//! What it takes care of, so provider crates do not:
//! - **Base URL**: `https` is required unless the host is loopback (`127.0.0.0/8`, `::1`,
//!   `localhost`), checked when the transport is built, before any request.
//! - **Paths from segments**: each id is exactly one percent-encoded path segment, so an id such as
//!   `../x?y#z%2F` can never change the path or add a query. Empty, `.` and `..` segments are
//!   refused.
//! - **Auth** as a pluggable step ([`Auth`]): Basic, Bearer, a raw `Authorization` value, a custom
//!   header, or an [`Authenticator`] for session tokens. Credentials are held as
//!   [`secrecy::SecretString`] and sent as sensitive headers; nothing here prints them.
//! - **Timeouts**: connect 5 s and total 30 s per attempt by default, both configurable.
//! - **A response body cap**: 1 MiB by default ([`DEFAULT_BODY_LIMIT`]).
//! - **Retries** by the pure [`retry::decide`](crate::retry::decide) with full-jitter backoff,
//!   honouring `Retry-After` (seconds or an HTTP date), clamped, and reported on the final error.
//! - **Errors**: every non-2xx answer becomes [`Error::Api`] with its status and a lenient parse
//!   of the body ([`parse_error_body`]); transport errors never carry the URL.
//! - **Redirects are not followed**: no provider API redirects, and a followed redirect could
//!   carry a custom credential header to another host.
//! - A `User-Agent` naming the calling crate and its version.
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

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use reqwest::header::{CONTENT_TYPE, HeaderMap, HeaderValue, RETRY_AFTER};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::{Host, Url};

pub use auth::{Auth, AuthHeader, Authenticator};
pub use error_body::{parse_error_body, snippet};
pub use reqwest::Method;
pub use reqwest::header;

use crate::error::{Error, Result};
use crate::retry::{Outcome, RetryPolicy, decide, parse_retry_after};
use crate::validate::{ValidationError, quote};

/// The default response body cap: 1 MiB.
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;
/// The default connect timeout: 5 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// The default total timeout of one attempt (connect, send, read the whole body): 30 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Checks a base URL: parseable, `https` (or `http` to a loopback host), no credentials, query or
/// fragment. The error never repeats a user name or password found in the URL.
pub fn check_base_url(base: &str) -> Result<Url> {
    let url = Url::parse(base)
        .map_err(|e| Error::Config(format!("base URL is not a valid absolute URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(
            "base URL must not contain a user name or password; pass credentials to the client builder"
                .to_owned(),
        ));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(Error::Config(format!(
            "base URL must have a host: {}",
            quote(base)
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        // Not quoted: a query can carry a key.
        return Err(Error::Config(
            "base URL must not have a query or fragment".to_owned(),
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(Error::Config(format!(
            "base URL must use https unless the host is loopback (127.0.0.0/8, ::1, localhost); got http://{}",
            url.host_str().unwrap_or_default()
        ))),
        other => Err(Error::Config(format!(
            "base URL scheme must be https (or http for loopback), not {other:?}"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Appends `segments` to `base`, each as exactly one percent-encoded path segment.
///
/// Refuses empty, `.` and `..` segments (servers and URL parsers treat them as path steps).
pub fn join_segments(base: &Url, segments: &[&str]) -> Result<Url> {
    let mut url = base.clone();
    {
        let mut path = url
            .path_segments_mut()
            .map_err(|()| Error::Config("base URL cannot carry a path".to_owned()))?;
        path.pop_if_empty();
        for s in segments {
            if s.is_empty() || *s == "." || *s == ".." {
                return Err(ValidationError::new(
                    "id",
                    "must not be empty, \".\" or \"..\"",
                    quote(s),
                )
                .into());
            }
            path.push(s);
        }
    }
    Ok(url)
}

/// A request body, already serialized. Its `Debug` shows the kind and size only.
#[derive(Clone, Default)]
pub enum Body {
    /// No body.
    #[default]
    Empty,
    /// A JSON document.
    Json(Bytes),
    /// An `application/x-www-form-urlencoded` body.
    Form(Bytes),
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Body::Empty => f.write_str("Empty"),
            Body::Json(b) => write!(f, "Json({} bytes)", b.len()),
            Body::Form(b) => write!(f, "Form({} bytes)", b.len()),
        }
    }
}

/// One request, built once and sent (possibly several times) by [`Transport::send`].
///
/// Its `Debug` shows the method, the URL, the names of any extra headers and the body's kind and
/// size, never a header value or the body itself (a login body carries a password).
#[derive(Clone)]
pub struct Request {
    method: Method,
    url: Url,
    headers: HeaderMap,
    body: Body,
}

impl Request {
    /// A request with no body.
    pub fn new(method: Method, url: Url) -> Self {
        Self {
            method,
            url,
            headers: HeaderMap::new(),
            body: Body::Empty,
        }
    }

    /// Adds a header of the request's own (a signature, an idempotency key), sent on every
    /// attempt. The transport's own headers win: `Authorization` comes from the transport's
    /// [`Auth`] and `Content-Type` from the body, whatever is set here.
    pub fn header(mut self, name: header::HeaderName, value: HeaderValue) -> Self {
        self.headers.append(name, value);
        self
    }

    /// Sets a JSON body.
    pub fn json<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self> {
        let bytes = serde_json::to_vec(value)
            .map_err(|e| Error::Config(format!("request body could not be serialized: {e}")))?;
        self.body = Body::Json(Bytes::from(bytes));
        Ok(self)
    }

    /// Sets a form body from name/value pairs, in order, each percent-encoded.
    pub fn form<'a, I>(mut self, pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in pairs {
            s.append_pair(k, v);
        }
        self.body = Body::Form(Bytes::from(s.finish()));
        self
    }

    /// Appends query pairs, each percent-encoded.
    pub fn query<'a, I>(mut self, pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a str)>,
    {
        let mut pairs = pairs.into_iter().peekable();
        if pairs.peek().is_some() {
            let mut q = self.url.query_pairs_mut();
            for (k, v) in pairs {
                q.append_pair(k, v);
            }
        }
        self
    }

    /// The method.
    pub fn method(&self) -> &Method {
        &self.method
    }

    /// The URL.
    pub fn url(&self) -> &Url {
        &self.url
    }

    /// The headers added with [`header`](Self::header).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body.
    pub fn body(&self) -> &Body {
        &self.body
    }
}

impl fmt::Debug for Request {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field(
                "headers",
                &self.headers.keys().map(|k| k.as_str()).collect::<Vec<_>>(),
            )
            .field("body", &self.body)
            .finish()
    }
}

/// A success answer: status, headers and the whole body (within the cap).
///
/// Its `Debug` shows the status and the body's size, never the body (an authenticate answer
/// carries tokens).
#[derive(Clone)]
pub struct Response {
    provider: &'static str,
    status: u16,
    headers: HeaderMap,
    body: Bytes,
}

impl Response {
    /// The HTTP status (2xx).
    pub fn status(&self) -> u16 {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The raw body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Whether the body is empty (a `204`).
    pub fn is_empty(&self) -> bool {
        self.body.iter().all(u8::is_ascii_whitespace)
    }

    /// Reads the body as JSON; a body that does not fit is an [`Error::Decode`] with a snippet.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::decode(self.provider, self.status, e.to_string(), &self.body))
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Response")
            .field("provider", &self.provider)
            .field("status", &self.status)
            .field("body", &format_args!("{} bytes", self.body.len()))
            .finish()
    }
}

/// Builds a [`Transport`]. Its `Debug` never shows credentials, nor a user name or password
/// written into the base URL.
#[derive(Clone)]
pub struct TransportBuilder {
    provider: &'static str,
    base_url: String,
    auth: Auth,
    user_agent: String,
    connect_timeout: Duration,
    timeout: Duration,
    retry: RetryPolicy,
    body_limit: usize,
}

impl fmt::Debug for TransportBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let base = match Url::parse(&self.base_url) {
            Ok(mut u) => {
                let _ = u.set_username("");
                let _ = u.set_password(None);
                u.set_query(None);
                u.to_string()
            }
            Err(_) => "(not a valid URL)".to_owned(),
        };
        f.debug_struct("TransportBuilder")
            .field("provider", &self.provider)
            .field("base_url", &base)
            .field("auth", &self.auth)
            .field("user_agent", &self.user_agent)
            .field("connect_timeout", &self.connect_timeout)
            .field("timeout", &self.timeout)
            .field("retry", &self.retry)
            .field("body_limit", &self.body_limit)
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

    /// Sets the connect timeout (default 5 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.connect_timeout = d;
        self
    }

    /// Sets the total timeout of one attempt (default 30 s).
    pub fn timeout(mut self, d: Duration) -> Self {
        self.timeout = d;
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
        self
    }

    /// Checks the configuration and builds the transport.
    pub fn build(self) -> Result<Transport> {
        let base = check_base_url(&self.base_url)?;
        if self.timeout.is_zero() || self.connect_timeout.is_zero() {
            return Err(Error::Config(
                "timeouts must be greater than zero".to_owned(),
            ));
        }
        let client = reqwest::Client::builder()
            .user_agent(self.user_agent.clone())
            .connect_timeout(self.connect_timeout)
            .timeout(self.timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| Error::Config(format!("HTTP client could not be built: {}", chain(&e))))?;
        Ok(Transport {
            inner: Arc::new(Inner {
                provider: self.provider,
                client,
                base,
                auth: self.auth,
                timeout: self.timeout,
                connect_timeout: self.connect_timeout,
                retry: self.retry,
                body_limit: self.body_limit,
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
    base: Url,
    auth: Auth,
    timeout: Duration,
    connect_timeout: Duration,
    retry: RetryPolicy,
    body_limit: usize,
}

impl fmt::Debug for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transport")
            .field("provider", &self.inner.provider)
            .field("base_url", &self.inner.base.as_str())
            .field("auth", &self.inner.auth)
            .field("timeout", &self.inner.timeout)
            .field("retry", &self.inner.retry)
            .field("body_limit", &self.inner.body_limit)
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
            auth: Auth::None,
            user_agent: concat!("simcore/", env!("CARGO_PKG_VERSION")).to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            timeout: DEFAULT_TIMEOUT,
            retry: RetryPolicy::default(),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// The provider this transport speaks to.
    pub fn provider(&self) -> &'static str {
        self.inner.provider
    }

    /// The base URL.
    pub fn base_url(&self) -> &Url {
        &self.inner.base
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// The base URL with `segments` appended, each as one encoded segment (see
    /// [`join_segments`]).
    pub fn url(&self, segments: &[&str]) -> Result<Url> {
        join_segments(&self.inner.base, segments)
    }

    /// A request to the base URL plus `segments`.
    pub fn request(&self, method: Method, segments: &[&str]) -> Result<Request> {
        Ok(Request::new(method, self.url(segments)?))
    }

    /// Sends a request, retrying per the policy, and returns the success answer or the error.
    pub async fn send(&self, request: &Request) -> Result<Response> {
        let capped;
        let policy = match crate::retry::attempts_cap() {
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
            let (error, outcome) = match self.attempt(request, attempt).await? {
                Attempt::Done(r) => return Ok(r),
                Attempt::Unauthorized(err, used) => {
                    // One fresh credential per request; a second 401 is final.
                    if let Auth::Dynamic(a) = &self.inner.auth {
                        if !reauthenticated && a.rejected(&used).await {
                            reauthenticated = true;
                            attempt -= 1;
                            continue;
                        }
                    }
                    return Err(err);
                }
                Attempt::Failed(err, outcome) => (err, outcome),
            };
            match decide(policy, attempt, &outcome) {
                Some(wait) => tokio::time::sleep(wait.sample(fastrand::f64())).await,
                None => return Err(error),
            }
        }
    }

    /// One attempt. `Err` only for errors that happen before sending (auth).
    async fn attempt(&self, request: &Request, attempt: u32) -> Result<Attempt> {
        let inner = &*self.inner;
        let auth = inner.auth.current().await?;
        let mut rb = inner
            .client
            .request(request.method.clone(), request.url.clone());
        let mut own = request.headers.clone();
        own.remove(header::AUTHORIZATION);
        own.remove(CONTENT_TYPE);
        if let Some(h) = &auth {
            own.remove(h.name());
        }
        rb = rb.headers(own);
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
        let mut resp = match rb.send().await {
            Ok(r) => r,
            Err(e) => return Ok(self.failed_transport(&e, attempt)),
        };
        let status = resp.status().as_u16();
        let headers = std::mem::take(resp.headers_mut());
        let body = match self.read_body(resp).await {
            Ok(b) => b,
            Err(BodyError::TooLarge) => {
                let err = Error::TooLarge {
                    provider: inner.provider,
                    status,
                    limit: inner.body_limit,
                };
                return Ok(Attempt::Failed(err, Outcome::Fatal));
            }
            Err(BodyError::Http(e)) => return Ok(self.failed_transport(&e, attempt)),
        };
        if (200..300).contains(&status) {
            return Ok(Attempt::Done(Response {
                provider: inner.provider,
                status,
                headers,
                body,
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
        let mut api = parse_error_body(inner.provider, status, content_type.as_deref(), &body);
        api.retry_after = retry_after;
        api.attempts = attempt;
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

    async fn read_body(
        &self,
        mut resp: reqwest::Response,
    ) -> std::result::Result<Bytes, BodyError> {
        let limit = self.inner.body_limit;
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

    fn failed_transport(&self, e: &reqwest::Error, attempt: u32) -> Attempt {
        let provider = self.inner.provider;
        if e.is_timeout() {
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
        Attempt::Failed(
            Error::Transport {
                provider,
                message: chain(e),
                attempts: attempt,
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
    // reqwest puts the URL in its own Display ("... for url (...)"): cut it out.
    parts
        .into_iter()
        .map(|p| match p.find(" for url (") {
            Some(i) => p[..i].to_owned(),
            None => p,
        })
        .collect::<Vec<_>>()
        .join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        for ok in [
            "https://api.example.com",
            "https://api.example.com/v1/",
            "http://127.0.0.1:8080",
            "http://127.5.5.5",
            "http://[::1]:9000/base",
            "http://localhost:1234",
        ] {
            assert!(check_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.example.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "not a url",
            "https://user:pw@api.example.com",
            "https://api.example.com/?q=1",
            "https://api.example.com/#f",
            "mailto:someone@example.com",
        ] {
            let e = check_base_url(bad).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{bad}");
        }
        let e = check_base_url("https://user:hunter2@api.example.com").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }

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
    fn segments_stay_segments() {
        let base = Url::parse("https://api.example.com/v1/").unwrap();
        let u = join_segments(&base, &["sims", "../x?y#z%2F"]).unwrap();
        assert_eq!(
            u.as_str(),
            "https://api.example.com/v1/sims/..%2Fx%3Fy%23z%252F"
        );
        assert_eq!(u.query(), None);
        assert_eq!(u.fragment(), None);
        let u = join_segments(&base, &["a b/c"]).unwrap();
        assert_eq!(u.path(), "/v1/a%20b%2Fc");
        for bad in ["", ".", ".."] {
            let e = join_segments(&base, &[bad]).unwrap_err();
            assert!(matches!(e, Error::Invalid(_)), "{bad:?}");
        }
        let root = Url::parse("https://api.example.com").unwrap();
        assert_eq!(join_segments(&root, &["x"]).unwrap().path(), "/x");
    }

    #[test]
    fn bodies_and_queries_are_encoded() {
        let url = Url::parse("https://a.example/p").unwrap();
        let r = Request::new(Method::POST, url.clone()).form([("Name", "a b&c=d"), ("X", "é")]);
        match r.body() {
            Body::Form(b) => assert_eq!(&b[..], b"Name=a+b%26c%3Dd&X=%C3%A9"),
            other => panic!("{other:?}"),
        }
        let r = Request::new(Method::GET, url).query([("Iccid", "1&2"), ("PageSize", "50")]);
        assert_eq!(r.url().query(), Some("Iccid=1%262&PageSize=50"));
        let r = Request::new(Method::GET, r.url().clone()).query([]);
        assert_eq!(r.url().query(), Some("Iccid=1%262&PageSize=50"));
        let bare = Url::parse("https://a.example/p").unwrap();
        let r = Request::new(Method::GET, bare).query(std::iter::empty());
        assert_eq!(r.url().as_str(), "https://a.example/p");
    }
}
