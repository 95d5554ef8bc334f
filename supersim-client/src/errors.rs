//! Twilio's error answers, named.
//!
//! Twilio answers errors with `{"code", "message", "more_info", "status", "details"?}`. The
//! shared transport already reads that body into [`simcore::ApiError`] (code, message, link,
//! details, `Retry-After`, attempts); what this module adds is names for the codes a Super SIM
//! integration meets, so callers can match on them.
//!
//! ```
//! use simcore::{ApiError, Error};
//! use supersim_client::errors::Code;
//!
//! let err = Error::from(ApiError::new("kore", 400).with_code(83010));
//! assert_eq!(Code::of(&err), Some(Code::StatusChangeNotAllowed));
//! assert_eq!(Code::from_value(12345), Code::Other(12345));
//! assert_eq!(Code::NotFound.value(), 20404);
//! ```

simcore::error_codes! {
    /// A Twilio error code (KORE serves the same API), with names for the ones a Super SIM
    /// integration meets.
    from code;
    /// 20003: authentication failed (wrong SID or secret).
    Authentication = 20003,
    /// 20404: the resource was not found.
    NotFound = 20404,
    /// 20429: too many requests; the request was not processed and is safe to retry.
    TooManyRequests = 20429,
    /// 83009: a Fleet update while the SIM is `scheduled`.
    FleetUpdateWhileScheduled = 83009,
    /// 83010: the status change is not allowed from the SIM's current status.
    StatusChangeNotAllowed = 83010,
    /// 83705: the SIM is not `ready` or `active`.
    SimNotReadyOrActive = 83705,
}

impl Code {
    /// Twilio's page about this code.
    pub fn docs_url(self) -> String {
        format!("https://www.twilio.com/docs/errors/{}", self.value())
    }
}

/// The 0.1 name of [`Code`].
#[deprecated(
    since = "0.2.0",
    note = "use errors::Code, the same name in every provider crate"
)]
pub type ErrorCode = Code;

#[cfg(test)]
mod tests {
    use super::*;
    use simcore::{ApiError, Error};

    #[test]
    fn codes_round_trip() {
        for code in [20003, 20404, 20429, 83009, 83010, 83705, 1, 99999] {
            assert_eq!(Code::from_value(code).value(), code);
        }
        assert_eq!(
            Code::TooManyRequests.docs_url(),
            "https://www.twilio.com/docs/errors/20429"
        );
        assert_eq!(Code::of(&Error::from(ApiError::new("twilio", 500))), None);
        assert_eq!(Code::of(&Error::Config("x".into())), None);
    }
}
