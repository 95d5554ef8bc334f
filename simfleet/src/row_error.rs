//! The error of one row of a plan, an apply or a bulk run: the typed [`Error`], and what a saved
//! plan or report keeps of it.

use std::fmt;

use serde::{Deserialize, Serialize};
use simcore::Error;
use simcore::error::Sent;

/// What went wrong with one row: the typed [`Error`] when this process made it, and the facts a
/// saved plan or report keeps (its kind, message, HTTP status, provider code, request id,
/// whether it was sent, and whether retrying may help).
///
/// A run of 50,000 rows re-queues just its transient failures with
/// [`is_retryable`](Self::is_retryable), and code that needs the whole error matches on
/// [`error`](Self::error).
///
/// ```
/// use simcore::{ApiError, Error, error::Sent};
/// use simfleet::RowError;
/// let e = RowError::from(Error::from(ApiError::new("emnify", 503)));
/// assert!(e.is_retryable());
/// assert_eq!((e.kind.as_str(), e.status, e.sent), ("api", Some(503), Sent::Maybe));
/// assert_eq!(e.error().and_then(Error::status), Some(503));
/// // A saved report keeps the facts; the typed error stays with the process that made it.
/// let back: RowError = serde_json::from_str(&serde_json::to_string(&e)?)?;
/// assert_eq!(back, e);
/// assert!(back.error().is_none() && back.is_retryable());
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RowError {
    /// The error itself (`None` when read back from a saved plan or report).
    #[serde(skip)]
    error: Option<Error>,
    /// Its kind ([`Error::kind`]: `"invalid"`, `"api"`, `"timeout"`, …).
    pub kind: String,
    /// Its message, as its `Display` writes it (secrets already cut out).
    pub message: String,
    /// The HTTP status, when the provider answered.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// The provider's error code, when it gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<i64>,
    /// The provider's request id, when the answer carried one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Whether the request was sent, and so whether it may have taken effect.
    pub sent: Sent,
    /// Whether trying again may succeed ([`Error::is_retryable`]).
    pub retryable: bool,
}

impl RowError {
    /// The typed error (`None` when this was read back from a saved plan or report).
    pub fn error(&self) -> Option<&Error> {
        self.error.as_ref()
    }

    /// Whether trying again may succeed.
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }

    /// A change the provider accepted to apply later, that settled at another state than the
    /// one asked (no error of the provider's: a fact learnt by reading the SIM back).
    pub(crate) fn settled_elsewhere(found: &simcore::SimState, asked: &simcore::SimState) -> Self {
        RowError {
            error: None,
            kind: "settled_elsewhere".to_owned(),
            message: format!("the change was accepted, then settled at {found}, not {asked}"),
            status: None,
            code: None,
            request_id: None,
            sent: Sent::Yes,
            retryable: false,
        }
    }

    /// Whether the provider answered 404.
    pub fn is_not_found(&self) -> bool {
        self.status == Some(404)
    }
}

impl From<Error> for RowError {
    fn from(error: Error) -> Self {
        RowError {
            kind: error.kind().to_owned(),
            message: error.to_string(),
            status: error.status(),
            code: error.api().and_then(|a| a.code),
            request_id: error.request_id().map(str::to_owned),
            sent: error.sent(),
            retryable: error.is_retryable(),
            error: Some(error),
        }
    }
}

impl From<simcore::ValidationError> for RowError {
    fn from(error: simcore::ValidationError) -> Self {
        Error::from(error).into()
    }
}

/// Two row errors are equal when what a saved report keeps of them is.
impl PartialEq for RowError {
    fn eq(&self, other: &Self) -> bool {
        (
            &self.kind,
            &self.message,
            self.status,
            self.code,
            &self.request_id,
            self.sent,
            self.retryable,
        ) == (
            &other.kind,
            &other.message,
            other.status,
            other.code,
            &other.request_id,
            other.sent,
            other.retryable,
        )
    }
}

impl Eq for RowError {}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}
