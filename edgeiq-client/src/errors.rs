//! EdgeIQ's error answers as [`simcore::Error`].
//!
//! EdgeIQ documents its statuses (400 malformed or invalid, 401 not authorized, 404 not found,
//! 500) but not its error body, so the body is read leniently by the shared transport, which
//! understands `{"message": ..}`, `{"error": ..}` (text or `{"message", "code"}`), lists of
//! messages (`{"messages": [..]}`, `{"errors": [..]}`, joined with `"; "` and kept as
//! `details`), HTML pages, plain text and empty bodies:
//!
//! ```
//! use simcore::http::parse_error_body;
//! let e = parse_error_body("edgeiq", 400, None, br#"{"messages":["iccid is taken","msisdn too long"]}"#);
//! assert_eq!(e.to_string(), "edgeiq: HTTP 400: iccid is taken; msisdn too long; retrying will not help");
//! ```
//!
//! This module adds only what is EdgeIQ's own: a login answer that cannot be read is reported
//! without quoting it.

use simcore::Error;

use crate::PROVIDER;

simcore::error_codes! {
    /// EdgeIQ documents no error codes, only its statuses: `Code::of(&err)` (the same name in
    /// every provider crate) names them.
    ///
    /// ```
    /// use simcore::{ApiError, Error};
    /// use edgeiq_client::errors::Code;
    /// assert_eq!(Code::of(&Error::from(ApiError::new("edgeiq", 401))), Some(Code::Unauthorized));
    /// ```
    from status;
    /// 400: malformed or invalid.
    BadRequest = 400,
    /// 401: not authorized.
    Unauthorized = 401,
    /// 404: not found.
    NotFound = 404,
    /// 500: the server failed.
    ServerError = 500,
}

/// A success answer that could not be read, without quoting its body (used where the body may
/// carry credentials, such as the login answer).
pub(crate) fn withheld_decode(status: u16, message: String) -> Error {
    Error::decode_withheld(PROVIDER, status, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn withheld_decode_says_why() {
        let e = withheld_decode(200, "no token".into());
        assert_eq!(
            e.to_string(),
            "edgeiq: HTTP 200: unreadable response (no token): (body withheld: it may carry credentials); retrying will not help"
        );
    }
}
