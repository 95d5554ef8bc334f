//! emnify's error answers as [`simcore::Error`].
//!
//! The transport already reads emnify's body, `{"error_code", "error_token", "message",
//! "errors"}`, into an [`ApiError`] (code, token, message, nested `errors` as details), and the
//! gateway's bare `{"message": ..}` and empty 401 bodies too. What this module adds:
//!
//! - the nested `errors` are named in the message, so the `Display` alone says what failed
//!   (`Update endpoint validation error: Service profile with Id '-1' not found.`);
//! - a failed authenticate call says so (`authentication failed: …`);
//! - [`is_locked_out`] recognises emnify's lockout after three failed authentications.

use serde_json::Value;
use simcore::{ApiError, Error};

/// emnify's error code for too many requests (a 429, or a 401 during a lockout).
pub const TOO_MANY_REQUESTS: i64 = 1105;

simcore::error_codes! {
    /// emnify's `error_code`, with names for the documented ones (`Code::of(&err)`, the same
    /// name in every provider crate).
    ///
    /// ```
    /// use simcore::{ApiError, Error};
    /// use emnify_client::errors::Code;
    /// let err = Error::from(ApiError::new("emnify", 429).with_code(1105));
    /// assert_eq!(Code::of(&err), Some(Code::TooManyRequests));
    /// assert_eq!(Code::of(&Error::from(ApiError::new("emnify", 422).with_code(1401))), Some(Code::Other(1401)));
    /// ```
    from code;
    /// 1104: the caller may not do this (403).
    Forbidden = 1104,
    /// 1105: too many requests (a 429, or a 401 during a lockout).
    TooManyRequests = 1105,
    /// 1201: the resource was not found (404).
    NotFound = 1201,
}

/// Whether emnify refused an authentication because the account is locked out (three failed
/// attempts in a row; the lockout lasts five minutes). Retrying before then prolongs it.
///
/// ```
/// use simcore::{ApiError, Error};
/// let locked = Error::from(ApiError::new("emnify", 401).with_code(1105).with_token("TooManyRequests"));
/// assert!(emnify_client::errors::is_locked_out(&locked));
/// assert!(!emnify_client::errors::is_locked_out(&Error::from(ApiError::new("emnify", 401))));
/// ```
pub fn is_locked_out(err: &Error) -> bool {
    err.api().is_some_and(|a| {
        a.status == 401
            && (a.code == Some(TOO_MANY_REQUESTS) || a.token.as_deref() == Some("TooManyRequests"))
    })
}

/// The messages of emnify's nested `errors` (kept in [`ApiError::details`]), in order.
pub fn nested_messages(api: &ApiError) -> Vec<String> {
    let Some(Value::Array(items)) = &api.details else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::String(s) => Some(s.clone()),
            Value::Object(m) => {
                let message = m.get("message").and_then(Value::as_str)?;
                Some(match m.get("field").and_then(Value::as_str) {
                    Some(field) => format!("{field}: {message}"),
                    None => message.to_owned(),
                })
            }
            _ => None,
        })
        .filter(|s| !s.trim().is_empty())
        .collect()
}

/// Names the nested `errors` in the message of an emnify error answer. Other errors pass as
/// they are.
pub(crate) fn from_emnify(err: Error) -> Error {
    match err {
        Error::Api(mut api) => {
            let nested: Vec<String> = nested_messages(&api)
                .into_iter()
                .filter(|m| *m != api.message)
                .collect();
            if !nested.is_empty() {
                api.message = format!("{}: {}", api.message, nested.join("; "));
            }
            Error::Api(api)
        }
        other => other,
    }
}

/// Marks an error answer of the authenticate call as such.
pub(crate) fn authentication_failed(err: Error) -> Error {
    match from_emnify(err) {
        Error::Api(mut api) => {
            api.message = format!("authentication failed: {}", api.message);
            Error::Api(api)
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simcore::http::parse_error_body;

    #[test]
    fn nested_errors_join_the_message() {
        let body = br#"{"error_code": 1400, "error_token": "InputValidationFailed", "message": "Update endpoint validation error", "errors": [{"error_code": 1401, "error_token": "InvalidReference", "message": "Service profile with Id '-1' not found."}, {"field": "status", "message": "bad"}, 7]}"#;
        let api = parse_error_body("emnify", 422, None, body);
        assert_eq!(
            nested_messages(&api),
            vec![
                "Service profile with Id '-1' not found.".to_owned(),
                "status: bad".to_owned()
            ]
        );
        let e = from_emnify(api.into());
        assert_eq!(
            e.to_string(),
            "emnify: HTTP 422 (code 1400 InputValidationFailed): Update endpoint validation error: Service profile with Id '-1' not found.; status: bad; retrying will not help"
        );
    }

    #[test]
    fn plain_bodies_pass_unchanged() {
        for body in [
            &br#"{"message": "token contains an invalid number of segments"}"#[..],
            b"",
            br#"{"error_code": 1201, "error_token": "NotFound", "message": "x", "errors": []}"#,
        ] {
            let api = parse_error_body("emnify", 401, None, body);
            let before = Error::from(api.clone()).to_string();
            assert_eq!(from_emnify(api.into()).to_string(), before);
        }
        let t = Error::Config("x".into());
        assert_eq!(from_emnify(t).to_string(), "configuration error: x");
    }

    #[test]
    fn authentication_failures_say_so() {
        let e = authentication_failed(parse_error_body("emnify", 401, None, b"").into());
        assert_eq!(
            e.to_string(),
            "emnify: HTTP 401: authentication failed: (empty body); retrying will not help"
        );
        assert!(e.is_unauthorized());
        let locked = parse_error_body(
            "emnify",
            401,
            None,
            br#"{"error_code": 1105, "error_token": "TooManyRequests", "message": "locked"}"#,
        );
        assert!(is_locked_out(&authentication_failed(locked.into())));
    }
}
