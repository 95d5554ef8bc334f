//! The one error type of the SDK family, sorted by "was anything sent?".
//!
//! | variant | sent? | what it carries |
//! |---|---|---|
//! | [`Error::Invalid`] | no | the field and the rule it broke |
//! | [`Error::Transition`] | no | from, to and the allowed targets |
//! | [`Error::Config`] | no | what is wrong with the client's configuration |
//! | [`Error::Api`] | yes, answered | HTTP status, provider code and message, link, `Retry-After` |
//! | [`Error::Timeout`] | yes (or tried), no answer in time | the provider and the limit |
//! | [`Error::Deadline`] | maybe: the call's deadline passed | the provider, the deadline, the attempts |
//! | [`Error::NotSettled`] | yes: a scheduled change had not settled when a wait ended | the provider, how long, the last state seen |
//! | [`Error::Transport`] | maybe: the connection failed | the provider and the cause (no URL) |
//! | [`Error::Decode`] | yes, answered with a 2xx that is not the provider's answer | status, request id and a snippet of the body |
//! | [`Error::TooLarge`] | yes, answered with a body over the cap | status and the cap |
//!
//! The `Display` of every variant alone tells a person what happened. A refusal before sending
//! ([`Error::Invalid`], [`Error::Transition`], [`Error::Config`]) names what to fix; every other
//! variant ends by saying whether retrying may help (as [`Error::is_retryable`] decides):
//!
//! ```
//! use simcore::{ApiError, Error};
//!
//! let err = Error::from(ApiError::new("twilio", 404).with_code(20404).with_message("The requested resource was not found"));
//! assert_eq!(
//!     err.to_string(),
//!     "twilio: HTTP 404 (code 20404): The requested resource was not found; retrying will not help"
//! );
//! assert_eq!(err.status(), Some(404));
//! assert!(!err.is_retryable());
//! ```

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::state::TransitionError;
use crate::validate::ValidationError;

/// The result type of this SDK family.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong, sorted by whether a request was sent.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A value was refused before sending: field, rule, what was found.
    #[error(transparent)]
    Invalid(#[from] ValidationError),

    /// A status change the provider's lifecycle forbids; nothing was sent.
    #[error(transparent)]
    Transition(#[from] TransitionError),

    /// The client is misconfigured (a base URL, a missing credential); nothing was sent.
    #[error("configuration error: {0}")]
    Config(String),

    /// The provider answered with a non-success status.
    #[error(transparent)]
    Api(Box<ApiError>),

    /// No answer within the configured time.
    #[error("{provider}: no answer within {after:?} (after {attempts} attempt{s}); retrying may help", s = plural(*attempts))]
    Timeout {
        /// The provider.
        provider: &'static str,
        /// The per-attempt time limit that ran out.
        after: Duration,
        /// How many attempts were made.
        attempts: u32,
    },

    /// The call's deadline passed (across all its attempts and waits) before it had an answer.
    #[error("{provider}: no answer within the call's deadline of {deadline:?} (after {attempts} attempt{s}); retrying may help", s = plural(*attempts))]
    Deadline {
        /// The provider.
        provider: &'static str,
        /// The deadline that passed.
        deadline: Duration,
        /// How many attempts were started.
        attempts: u32,
    },

    /// A change the provider applies later had not settled when the wait's deadline passed
    /// (see [`wait`](crate::wait)).
    #[error(
        "{provider}: the change had not settled after {waited:?} (last seen: {last}); waiting longer may help"
    )]
    NotSettled {
        /// The provider.
        provider: &'static str,
        /// How long it was waited for.
        waited: std::time::Duration,
        /// The last state seen, in words.
        last: String,
    },

    /// The connection failed (DNS, TLS, refused, reset). The message never contains the URL.
    #[error("{provider}: connection failed: {message} (after {attempts} attempt{s}); retrying may help", s = plural(*attempts))]
    Transport {
        /// The provider.
        provider: &'static str,
        /// The cause's chain, in words, without the URL (secrets cut out).
        message: String,
        /// How many attempts were made.
        attempts: u32,
        /// The cause itself (the HTTP client's error, its URL removed), for
        /// [`source()`](std::error::Error::source) and for code that inspects it.
        #[source]
        source: Option<Cause>,
    },

    /// A success answer that is not the provider's answer: a body that could not be read as
    /// the documented model, or one missing what every real answer carries.
    #[error("{provider}: HTTP {status}: unreadable response ({message}): {snippet}{rid}; retrying will not help", rid = request_id_suffix(request_id.as_deref()))]
    Decode {
        /// The provider.
        provider: &'static str,
        /// The HTTP status of the answer.
        status: u16,
        /// What the parser said.
        message: String,
        /// The start of the body.
        snippet: String,
        /// The provider's request id, when the answer carried one.
        request_id: Option<String>,
    },

    /// The answer's body was larger than the configured cap and was not read.
    #[error(
        "{provider}: HTTP {status}: response body larger than the {limit}-byte limit; retrying will not help"
    )]
    TooLarge {
        /// The provider.
        provider: &'static str,
        /// The HTTP status of the answer.
        status: u16,
        /// The cap in bytes.
        limit: usize,
    },
}

/// The cause of an [`Error::Transport`]: the HTTP client's error, shared (an [`Error`] is
/// `Clone`). Its `Display` is the cause's own.
#[derive(Clone)]
pub struct Cause(std::sync::Arc<dyn std::error::Error + Send + Sync + 'static>);

impl Cause {
    /// Wraps an error.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        Cause(std::sync::Arc::new(error))
    }

    /// The error, to inspect or downcast (`reqwest::Error` from the HTTP transport).
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        &*self.0
    }
}

impl fmt::Debug for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for Cause {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

/// Whether a failed call's request reached the provider, and what that means for a write.
///
/// | | meaning | a write may have taken effect? |
/// |---|---|---|
/// | [`Sent::No`] | refused before sending: nothing left the client | no |
/// | [`Sent::Maybe`] | sent, and the answer does not say what happened: no answer in time, a broken connection, a deadline, a gateway or server error (500, 502, 503, 504), or a success answer that is not the provider's | maybe: read the resource back to know |
/// | [`Sent::Yes`] | sent and answered with a verdict: a refusal (4xx) | no: the provider said so |
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Sent {
    /// Nothing was sent.
    No,
    /// Sent; whether it took effect is unknown.
    Maybe,
    /// Sent and refused: the provider's answer says it did not take effect.
    Yes,
}

fn plural(n: u32) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn request_id_suffix(id: Option<&str>) -> String {
    id.map(|r| format!(" [request id {r}]")).unwrap_or_default()
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Error::Api(Box::new(e))
    }
}

impl Error {
    /// A success answer that could not be read: keeps the status, what the parser said and the
    /// start of the body (whitespace folded, at most 200 characters).
    pub fn decode(
        provider: &'static str,
        status: u16,
        message: impl Into<String>,
        body: &[u8],
    ) -> Self {
        let text = String::from_utf8_lossy(body);
        let folded = text.split_whitespace().collect::<Vec<_>>().join(" ");
        let mut chars = folded.chars();
        let mut snippet: String = chars.by_ref().take(200).collect();
        if chars.next().is_some() {
            snippet.push('…');
        }
        Error::Decode {
            provider,
            status,
            message: message.into(),
            snippet,
            request_id: None,
        }
    }

    /// A success answer that could not be read, reported without quoting its body (for answers
    /// that carry credentials, such as a login's): the snippet says it was withheld.
    pub fn decode_withheld(
        provider: &'static str,
        status: u16,
        message: impl Into<String>,
    ) -> Self {
        Error::Decode {
            provider,
            status,
            message: message.into(),
            snippet: "(body withheld: it may carry credentials)".to_owned(),
            request_id: None,
        }
    }

    /// An [`Error::Config`] for two settings that contradict each other, or one that would be
    /// ignored beside the other: it names both, and why (nothing is sent).
    ///
    /// ```
    /// let e = simcore::Error::conflict("connect_timeout", "http_client", "your client's own connect timeout applies");
    /// assert_eq!(
    ///     e.to_string(),
    ///     "configuration error: connect_timeout and http_client cannot be used together: your client's own connect timeout applies"
    /// );
    /// ```
    pub fn conflict(first: &str, second: &str, why: &str) -> Self {
        Error::Config(format!(
            "{first} and {second} cannot be used together: {why}"
        ))
    }

    /// A short, stable name of the variant (`"api"`, `"timeout"`, …), as telemetry's
    /// `error.type` carries it.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Invalid(_) => "invalid",
            Error::Transition(_) => "transition",
            Error::Config(_) => "config",
            Error::Api(_) => "api",
            Error::Timeout { .. } => "timeout",
            Error::Deadline { .. } => "deadline",
            Error::NotSettled { .. } => "not_settled",
            Error::Transport { .. } => "transport",
            Error::Decode { .. } => "decode",
            Error::TooLarge { .. } => "too_large",
        }
    }

    /// The provider's request id, when an answer carried one.
    pub fn request_id(&self) -> Option<&str> {
        match self {
            Error::Api(e) => e.request_id.as_deref(),
            Error::Decode { request_id, .. } => request_id.as_deref(),
            _ => None,
        }
    }

    /// Whether trying the same request again may succeed: rate limits (429), gateway errors
    /// (502, 503, 504), timeouts and failed connections. The updates in this SDK family are
    /// idempotent "set" operations, so a retry cannot apply a change twice.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Api(e) => status_is_retryable(e.status),
            Error::Timeout { .. } | Error::Deadline { .. } | Error::Transport { .. } => true,
            _ => false,
        }
    }

    /// How long the provider asked to wait (`Retry-After`), if it did.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Api(e) => e.retry_after,
            _ => None,
        }
    }

    /// The HTTP status, when the provider answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            Error::Api(e) => Some(e.status),
            Error::Decode { status, .. } | Error::TooLarge { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The provider's answer, when it answered with an error.
    pub fn api(&self) -> Option<&ApiError> {
        match self {
            Error::Api(e) => Some(e),
            _ => None,
        }
    }

    /// Whether the request reached the provider, and so whether a failed write may have taken
    /// effect: see [`Sent`].
    ///
    /// ```
    /// use simcore::{ApiError, Error, error::Sent};
    /// assert_eq!(Error::Config("no key".into()).sent(), Sent::No);
    /// assert_eq!(Error::from(ApiError::new("emnify", 422)).sent(), Sent::Yes);
    /// assert_eq!(Error::from(ApiError::new("emnify", 503)).sent(), Sent::Maybe);
    /// ```
    pub fn sent(&self) -> Sent {
        match self {
            Error::Invalid(_) | Error::Transition(_) | Error::Config(_) => Sent::No,
            Error::Api(api) if matches!(api.status, 500 | 502 | 503 | 504) => Sent::Maybe,
            Error::Api(_) => Sent::Yes,
            Error::TooLarge { status, .. } if !(200..300).contains(status) => Sent::Yes,
            Error::Timeout { .. }
            | Error::Deadline { .. }
            | Error::NotSettled { .. }
            | Error::Transport { .. }
            | Error::Decode { .. }
            | Error::TooLarge { .. } => Sent::Maybe,
        }
    }

    /// Whether nothing was sent (validation, transition or configuration errors).
    pub fn was_not_sent(&self) -> bool {
        matches!(
            self,
            Error::Invalid(_) | Error::Transition(_) | Error::Config(_)
        )
    }

    /// Whether the provider answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// Whether the provider answered 401 (credentials refused).
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }
}

/// Whether an HTTP status is worth retrying: 429 and the gateway errors 502, 503, 504.
///
/// A 500 is not retried: providers use it for bugs that a retry repeats.
pub fn status_is_retryable(status: u16) -> bool {
    matches!(status, 429 | 502 | 503 | 504)
}

/// A provider's error answer: status, code, message and whatever else it said.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ApiError {
    /// The provider (`"twilio"`, `"emnify"`, …).
    pub provider: &'static str,
    /// The HTTP status.
    pub status: u16,
    /// The provider's numeric error code (Twilio `code`, emnify `error_code`), if any.
    pub code: Option<i64>,
    /// The provider's symbolic error name (emnify `error_token`, a FastAPI `type`), if any.
    pub token: Option<String>,
    /// The provider's message; for bodies without one, a short text of the body or of the
    /// status (`"(empty body)"`).
    pub message: String,
    /// A link to more information (Twilio `more_info`).
    pub more_info: Option<String>,
    /// Structured details (Twilio `details`, emnify `errors`, FastAPI's `detail` list).
    pub details: Option<Value>,
    /// How long the provider asked to wait before trying again.
    pub retry_after: Option<Duration>,
    /// How many attempts were made before this answer was final.
    pub attempts: u32,
    /// The provider's id of the request, from its request-id header (quote it in a support
    /// ticket).
    pub request_id: Option<String>,
}

impl ApiError {
    /// An error answer with the given status and no details yet.
    pub fn new(provider: &'static str, status: u16) -> Self {
        Self {
            provider,
            status,
            code: None,
            token: None,
            message: String::new(),
            more_info: None,
            details: None,
            retry_after: None,
            attempts: 1,
            request_id: None,
        }
    }

    /// Sets the provider code.
    pub fn with_code(mut self, code: i64) -> Self {
        self.code = Some(code);
        self
    }

    /// Sets the message.
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// Sets the symbolic error name.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: HTTP {}", self.provider, self.status)?;
        match (&self.code, &self.token) {
            (Some(c), Some(t)) => write!(f, " (code {c} {t})")?,
            (Some(c), None) => write!(f, " (code {c})")?,
            (None, Some(t)) => write!(f, " ({t})")?,
            (None, None) => {}
        }
        if !self.message.is_empty() {
            write!(f, ": {}", self.message)?;
        }
        if let Some(ra) = self.retry_after {
            write!(f, "; retry after {}s", ra.as_secs_f64())?;
        }
        if self.attempts > 1 {
            write!(f, "; after {} attempts", self.attempts)?;
        }
        if let Some(id) = &self.request_id {
            write!(f, "; request id {id}")?;
        }
        if let Some(link) = &self.more_info {
            write!(f, " (see {link})")?;
        }
        if status_is_retryable(self.status) {
            f.write_str("; retrying may help")
        } else {
            f.write_str("; retrying will not help")
        }
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_tells_the_whole_story() {
        let mut e = ApiError::new("twilio", 429)
            .with_code(20429)
            .with_message("Too Many Requests");
        e.retry_after = Some(Duration::from_secs(2));
        e.attempts = 4;
        e.more_info = Some("https://www.twilio.com/docs/errors/20429".into());
        assert_eq!(
            Error::from(e).to_string(),
            "twilio: HTTP 429 (code 20429): Too Many Requests; retry after 2s; after 4 attempts (see https://www.twilio.com/docs/errors/20429); retrying may help"
        );
        let e = ApiError::new("emnify", 422)
            .with_code(1400)
            .with_token("ValidationError")
            .with_message("bad");
        assert_eq!(
            e.to_string(),
            "emnify: HTTP 422 (code 1400 ValidationError): bad; retrying will not help"
        );
    }

    /// Every variant, and every kind of answer, sorted by whether it was sent.
    #[test]
    fn sent_table() {
        let api = |status| Error::from(ApiError::new("p", status));
        let cases: Vec<(Error, Sent)> = vec![
            (ValidationError::new("iccid", "rule", "x").into(), Sent::No),
            (
                TransitionError {
                    provider: "p".into(),
                    from: "a".into(),
                    to: "b".into(),
                    allowed: vec![],
                    hint: None,
                }
                .into(),
                Sent::No,
            ),
            (Error::Config("c".into()), Sent::No),
            (api(400), Sent::Yes),
            (api(401), Sent::Yes),
            (api(403), Sent::Yes),
            (api(404), Sent::Yes),
            (api(409), Sent::Yes),
            (api(422), Sent::Yes),
            (api(429), Sent::Yes),
            (api(500), Sent::Maybe),
            (api(502), Sent::Maybe),
            (api(503), Sent::Maybe),
            (api(504), Sent::Maybe),
            (
                Error::Timeout {
                    provider: "p",
                    after: Duration::from_secs(1),
                    attempts: 1,
                },
                Sent::Maybe,
            ),
            (
                Error::Deadline {
                    provider: "p",
                    deadline: Duration::from_secs(1),
                    attempts: 1,
                },
                Sent::Maybe,
            ),
            (
                Error::NotSettled {
                    provider: "p",
                    waited: Duration::from_secs(1),
                    last: "pending".into(),
                },
                Sent::Maybe,
            ),
            (
                Error::Transport {
                    provider: "p",
                    message: "reset".into(),
                    attempts: 1,
                    source: None,
                },
                Sent::Maybe,
            ),
            (Error::decode("p", 200, "not an object", b"[]"), Sent::Maybe),
            (
                Error::TooLarge {
                    provider: "p",
                    status: 200,
                    limit: 1,
                },
                Sent::Maybe,
            ),
            (
                Error::TooLarge {
                    provider: "p",
                    status: 422,
                    limit: 1,
                },
                Sent::Yes,
            ),
        ];
        for (err, sent) in cases {
            assert_eq!(err.sent(), sent, "{err:?}");
            assert_eq!(err.was_not_sent(), sent == Sent::No, "{err:?}");
        }
    }

    #[test]
    fn retryable_table() {
        for (status, retry) in [
            (400, false),
            (401, false),
            (403, false),
            (404, false),
            (409, false),
            (422, false),
            (429, true),
            (500, false),
            (502, true),
            (503, true),
            (504, true),
        ] {
            let e = Error::from(ApiError::new("p", status));
            assert_eq!(e.is_retryable(), retry, "{status}");
            // The Display says the same as `is_retryable`.
            let hint = if retry {
                "; retrying may help"
            } else {
                "; retrying will not help"
            };
            assert!(e.to_string().ends_with(hint), "{e}");
        }
        let t = Error::Timeout {
            provider: "p",
            after: Duration::from_secs(1),
            attempts: 3,
        };
        assert!(t.is_retryable());
        assert_eq!(
            t.to_string(),
            "p: no answer within 1s (after 3 attempts); retrying may help"
        );
        let v: Error = ValidationError::new("iccid", "rule", "x").into();
        assert!(!v.is_retryable());
        assert!(v.was_not_sent());
    }
}
