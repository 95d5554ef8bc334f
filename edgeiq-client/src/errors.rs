//! EdgeIQ's error answers as [`simcore::Error`].
//!
//! EdgeIQ documents its statuses (400 malformed or invalid, 401 not authorized, 404 not found,
//! 500) but not its error body, so the body is read leniently. The transport's generic parse
//! already understands `{"message": ..}`, `{"error": ..}` (text or `{"message", "code"}`),
//! HTML pages, plain text and empty bodies. This module adds what it leaves as raw JSON text:
//! lists of messages, `{"messages": [..]}` or `{"errors": [..]}` whose items are strings or
//! objects with a `message` (or `msg`), joined with `"; "` and kept as `details`.
//!
//! ```
//! use simcore::{ApiError, Error};
//! let raw = Error::from(ApiError::new("edgeiq", 400).with_message(r#"{"messages":["iccid is taken","msisdn too long"]}"#));
//! let err = edgeiq_client::errors::from_transport(raw);
//! assert_eq!(err.to_string(), "edgeiq: HTTP 400: iccid is taken; msisdn too long");
//! ```

use serde_json::Value;
use simcore::{ApiError, Error};

use crate::PROVIDER;

/// The list keys read from an otherwise unrecognised JSON error body.
const MESSAGE_LISTS: &[&str] = &["messages", "errors"];

/// Refines an error from the transport: an [`Error::Api`] whose message is the raw JSON of an
/// EdgeIQ-style message list gets the messages themselves. Other errors pass through.
pub fn from_transport(err: Error) -> Error {
    match err {
        Error::Api(mut api) => {
            refine(&mut api);
            Error::Api(api)
        }
        other => other,
    }
}

fn refine(api: &mut ApiError) {
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(&api.message) else {
        return;
    };
    for key in MESSAGE_LISTS {
        let Some(Value::Array(items)) = map.get(*key) else {
            continue;
        };
        let texts: Vec<&str> = items
            .iter()
            .filter_map(|item| match item {
                Value::String(s) => Some(s.as_str()),
                Value::Object(o) => o
                    .get("message")
                    .or_else(|| o.get("msg"))
                    .and_then(Value::as_str),
                _ => None,
            })
            .collect();
        if !texts.is_empty() {
            api.message = texts.join("; ");
            api.details
                .get_or_insert_with(|| Value::Array(items.clone()));
            return;
        }
    }
}

/// A success answer that could not be read, without quoting its body (used where the body may
/// carry credentials, such as the login answer).
pub(crate) fn withheld_decode(status: u16, message: String) -> Error {
    Error::Decode {
        provider: PROVIDER,
        status,
        message,
        snippet: "(body withheld: it may carry credentials)".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn api(message: &str) -> Error {
        Error::from(ApiError::new(PROVIDER, 400).with_message(message))
    }

    #[test]
    fn message_lists_table() {
        for (raw, message) in [
            (r#"{"messages":["a","b"]}"#, "a; b"),
            (r#"{"errors":["bad iccid"]}"#, "bad iccid"),
            (
                r#"{"errors":[{"message":"x"},{"msg":"y"},{"field":"z"}]}"#,
                "x; y",
            ),
            // Left alone: not a list of messages, not JSON, a list without text.
            (r#"{"unexpected":true}"#, r#"{"unexpected":true}"#),
            ("Bad Request", "Bad Request"),
            (r#"{"messages":[1,2]}"#, r#"{"messages":[1,2]}"#),
        ] {
            let e = from_transport(api(raw));
            assert_eq!(e.api().unwrap().message, message, "{raw}");
        }
        let e = from_transport(api(r#"{"messages":["a"]}"#));
        assert_eq!(e.api().unwrap().details, Some(json!(["a"])));
    }

    #[test]
    fn other_errors_pass_through() {
        let e = from_transport(Error::Config("x".into()));
        assert!(matches!(e, Error::Config(ref m) if m == "x"));
    }

    #[test]
    fn withheld_decode_says_why() {
        let e = withheld_decode(200, "no token".into());
        assert_eq!(
            e.to_string(),
            "edgeiq: HTTP 200: unreadable response (no token): (body withheld: it may carry credentials)"
        );
    }
}
