//! Twilio's error answers, named.
//!
//! Twilio answers errors with `{"code", "message", "more_info", "status", "details"?}`. The
//! shared transport already reads that body into [`simcore::ApiError`] (code, message, link,
//! details, `Retry-After`, attempts); what this module adds is names for the codes a Super SIM
//! integration meets, so callers can match on them.
//!
//! ```
//! use simcore::{ApiError, Error};
//! use supersim_client::ErrorCode;
//!
//! let err = Error::from(ApiError::new("twilio", 400).with_code(83010));
//! assert_eq!(ErrorCode::of(&err), Some(ErrorCode::StatusChangeNotAllowed));
//! assert_eq!(ErrorCode::from_code(12345), ErrorCode::Other(12345));
//! assert_eq!(ErrorCode::NotFound.code(), 20404);
//! ```

use std::fmt;

use simcore::Error;

/// A Twilio error code, with names for the ones a Super SIM integration meets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// 20003: authentication failed (wrong SID or secret).
    Authentication,
    /// 20404: the resource was not found.
    NotFound,
    /// 20429: too many requests; the request was not processed and is safe to retry.
    TooManyRequests,
    /// 83009: a Fleet update while the SIM is `scheduled`.
    FleetUpdateWhileScheduled,
    /// 83010: the status change is not allowed from the SIM's current status.
    StatusChangeNotAllowed,
    /// 83705: the SIM is not `ready` or `active`.
    SimNotReadyOrActive,
    /// Any other code.
    Other(i64),
}

impl ErrorCode {
    /// Names a numeric code.
    pub fn from_code(code: i64) -> Self {
        match code {
            20003 => ErrorCode::Authentication,
            20404 => ErrorCode::NotFound,
            20429 => ErrorCode::TooManyRequests,
            83009 => ErrorCode::FleetUpdateWhileScheduled,
            83010 => ErrorCode::StatusChangeNotAllowed,
            83705 => ErrorCode::SimNotReadyOrActive,
            other => ErrorCode::Other(other),
        }
    }

    /// The numeric code.
    pub fn code(self) -> i64 {
        match self {
            ErrorCode::Authentication => 20003,
            ErrorCode::NotFound => 20404,
            ErrorCode::TooManyRequests => 20429,
            ErrorCode::FleetUpdateWhileScheduled => 83009,
            ErrorCode::StatusChangeNotAllowed => 83010,
            ErrorCode::SimNotReadyOrActive => 83705,
            ErrorCode::Other(c) => c,
        }
    }

    /// The code of a Twilio answer, if the error is one and it carried a code.
    pub fn of(err: &Error) -> Option<Self> {
        err.api().and_then(|a| a.code).map(Self::from_code)
    }

    /// Twilio's page about this code.
    pub fn docs_url(self) -> String {
        format!("https://www.twilio.com/docs/errors/{}", self.code())
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simcore::ApiError;

    #[test]
    fn codes_round_trip() {
        for code in [20003, 20404, 20429, 83009, 83010, 83705, 1, 99999] {
            assert_eq!(ErrorCode::from_code(code).code(), code);
        }
        assert_eq!(
            ErrorCode::TooManyRequests.docs_url(),
            "https://www.twilio.com/docs/errors/20429"
        );
        assert_eq!(
            ErrorCode::of(&Error::from(ApiError::new("twilio", 500))),
            None
        );
        assert_eq!(ErrorCode::of(&Error::Config("x".into())), None);
    }
}
