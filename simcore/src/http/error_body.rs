//! Lenient parsing of error bodies: every provider's JSON shape, HTML pages, plain text, nothing.

use serde_json::{Map, Value};

use super::Redactor;
use crate::error::ApiError;

/// How many characters of a non-JSON body an error keeps.
const SNIPPET_CHARS: usize = 200;
/// How many characters of a provider's own message an error keeps.
const MESSAGE_CHARS: usize = 1000;

/// Turns an error answer into an [`ApiError`], whatever its body looks like. Never fails.
///
/// Understood JSON shapes (keys may be missing; extra keys are ignored):
/// - Twilio: `{"code", "message", "more_info", "status", "details"}`
/// - emnify: `{"error_code", "error_token", "message", "errors"}`, and the gateway's `{"message"}`
/// - FastAPI (Sixfab): `{"detail": "text"}` or `{"detail": [{"loc", "msg", "type"}]}`
/// - OAuth2 (KORE's token endpoint): `{"error": "invalid_client", "error_description"}`, the
///   `error` code kept as the token
/// - generic: `{"error": "text" | {"message", "code"}}`, `{"error_description"}`, `{"msg"}`
///
/// An HTML page gives its `<title>` (or its text) as the message; plain text gives its start; an
/// empty body gives `"(empty body)"`. The status is always kept.
///
/// ```
/// use simcore::http::parse_error_body;
/// let e = parse_error_body("sixfab", 404, None, br#"{"detail": "Asset not found"}"#);
/// assert_eq!(e.message, "Asset not found");
/// let e = parse_error_body("twilio", 502, Some("text/html"), b"<html><title>502 Bad Gateway</title></html>");
/// assert_eq!(e.message, "HTML page: 502 Bad Gateway");
/// ```
pub fn parse_error_body(
    provider: &'static str,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
) -> ApiError {
    parse_error_body_redacted(provider, status, content_type, body, &Redactor::new())
}

/// [`parse_error_body`] with `redactor`'s secrets cut out before anything is shortened or folded:
/// from the whole body before it is read, and from every text taken from it before it is cut
/// (a secret cut in half by a length limit, or with its spaces folded, would no longer be
/// recognised afterwards).
pub(crate) fn parse_error_body_redacted(
    provider: &'static str,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    redactor: &Redactor,
) -> ApiError {
    let mut err = ApiError::new(provider, status);
    let lossy = String::from_utf8_lossy(body);
    let text = redactor.scrub(&lossy);
    let trimmed = text.trim();
    let snip = |s: &str| snippet(&redactor.scrub(s));
    if trimmed.is_empty() {
        err.message = "(empty body)".to_owned();
        return err;
    }
    if let Ok(v) = serde_json::from_str::<Value>(trimmed) {
        match v {
            Value::Object(map) => fill_from_object(&mut err, &map, redactor),
            Value::String(s) => err.message = cut(&redactor.scrub(&s)),
            mut other => {
                redactor.scrub_value(&mut other);
                err.message = snip(&other.to_string());
            }
        }
        if err.message.is_empty() {
            err.message = snip(trimmed);
        }
        return err;
    }
    let is_html = content_type.is_some_and(|c| c.contains("html"))
        || trimmed.starts_with('<') && trimmed.to_ascii_lowercase().contains("<html");
    err.message = if is_html {
        format!("HTML page: {}", html_summary(trimmed))
    } else {
        snip(trimmed)
    };
    err
}

fn fill_from_object(err: &mut ApiError, map: &Map<String, Value>, redactor: &Redactor) {
    err.code = map
        .get("code")
        .or_else(|| map.get("error_code"))
        .and_then(as_int);
    // emnify's `error_token`, or OAuth2's `error` code beside its `error_description` (RFC 6749).
    err.token = map
        .get("error_token")
        .and_then(Value::as_str)
        .or_else(|| {
            map.get("error_description")
                .and(map.get("error"))
                .and_then(Value::as_str)
        })
        .map(str::to_owned);
    err.more_info = map
        .get("more_info")
        .and_then(Value::as_str)
        .map(str::to_owned);
    err.details = map
        .get("details")
        .or_else(|| map.get("errors"))
        .or_else(|| map.get("validation"))
        .filter(|v| !v.is_null())
        .cloned();

    let mut message = ["message", "error_description", "msg", "title"]
        .iter()
        .find_map(|k| map.get(*k).and_then(Value::as_str))
        .map(str::to_owned);

    match map.get("detail") {
        Some(Value::String(s)) => match &mut message {
            None => message = Some(s.clone()),
            // Twilio: `"message": "Authenticate"` with the reason in `detail`.
            Some(m) if !m.contains(s.as_str()) => *m = format!("{m}: {s}"),
            Some(_) => {}
        },
        Some(Value::Array(items)) => {
            if message.is_none() {
                message = Some(fastapi_messages(items));
            }
            err.details
                .get_or_insert_with(|| Value::Array(items.clone()));
        }
        // FastAPI's HTTPException allows any JSON as its detail.
        Some(Value::Object(inner)) => {
            if message.is_none() {
                message = ["message", "msg", "detail", "error"]
                    .iter()
                    .find_map(|k| inner.get(*k).and_then(Value::as_str))
                    .map(str::to_owned);
            }
            err.details
                .get_or_insert_with(|| Value::Object(inner.clone()));
        }
        _ => {}
    }

    // Lists of messages: `{"messages": [..]}` or `{"errors": ["..", {"message": ..}]}`.
    if message.is_none() {
        if let Some(items) = ["messages", "errors"]
            .iter()
            .find_map(|k| map.get(*k).and_then(Value::as_array))
        {
            let joined = list_messages(items);
            if !joined.is_empty() {
                message = Some(joined);
                err.details
                    .get_or_insert_with(|| Value::Array(items.clone()));
            }
        }
    }

    match map.get("error") {
        Some(Value::String(s)) if message.is_none() => message = Some(s.clone()),
        Some(Value::Object(inner)) => {
            if message.is_none() {
                message = inner
                    .get("message")
                    .and_then(Value::as_str)
                    .map(str::to_owned);
            }
            if err.code.is_none() {
                err.code = inner.get("code").and_then(as_int);
            }
        }
        _ => {}
    }

    // A provider's message is kept whole up to a generous length; a longer one is cut (after
    // the secrets are out of it).
    err.message = match message {
        Some(m) => cut(&redactor.scrub(&m)),
        None => {
            // The values decoded first: a secret escaped twice over is plain once read.
            let mut all = Value::Object(map.clone());
            redactor.scrub_value(&mut all);
            snippet(&redactor.scrub(&all.to_string()))
        }
    };
}

/// A provider's message, cut after [`MESSAGE_CHARS`] characters.
fn cut(m: &str) -> String {
    if m.chars().count() > MESSAGE_CHARS {
        let mut cut: String = m.chars().take(MESSAGE_CHARS).collect();
        cut.push('…');
        cut
    } else {
        m.to_owned()
    }
}

/// Joins FastAPI validation items as `loc.path: msg; …`.
fn fastapi_messages(items: &[Value]) -> String {
    let parts: Vec<String> = items
        .iter()
        .map(|item| {
            let msg = item
                .get("msg")
                .and_then(Value::as_str)
                .map(str::to_owned)
                .unwrap_or_else(|| item.to_string());
            let loc = item.get("loc").and_then(Value::as_array).map(|l| {
                l.iter()
                    .map(|p| match p {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    })
                    .collect::<Vec<_>>()
                    .join(".")
            });
            match loc {
                Some(loc) if !loc.is_empty() => format!("{loc}: {msg}"),
                _ => msg,
            }
        })
        .collect();
    parts.join("; ")
}

/// Joins the texts of a list of messages (strings, or objects with a `message`/`msg`).
fn list_messages(items: &[Value]) -> String {
    items
        .iter()
        .filter_map(|item| match item {
            Value::String(s) => Some(s.clone()),
            Value::Object(o) => ["message", "msg", "detail"]
                .iter()
                .find_map(|k| o.get(*k).and_then(Value::as_str))
                .map(str::to_owned),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("; ")
}

fn as_int(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The `<title>` of a page, or its visible text, shortened.
fn html_summary(html: &str) -> String {
    let lower = html.to_ascii_lowercase();
    if let (Some(start), Some(end)) = (lower.find("<title>"), lower.find("</title>")) {
        let from = start + "<title>".len();
        if from <= end {
            let title = collapse(&html[from..end]);
            if !title.is_empty() {
                return snippet(&title);
            }
        }
    }
    let mut text = String::with_capacity(html.len().min(4096));
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => {
                in_tag = false;
                text.push(' ');
            }
            _ if !in_tag => text.push(c),
            _ => {}
        }
    }
    snippet(&collapse(&text))
}

fn collapse(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The start of a text, whitespace folded, at most 200 characters (an ellipsis marks a cut).
pub fn snippet(s: &str) -> String {
    let folded = collapse(s);
    let mut chars = folded.chars();
    let head: String = chars.by_ref().take(SNIPPET_CHARS).collect();
    if chars.next().is_some() {
        format!("{head}…")
    } else {
        head
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn twilio_shape() {
        let body = br#"{"code": 20404, "message": "The requested resource /Sims/HSx was not found", "more_info": "https://www.twilio.com/docs/errors/20404", "status": 404}"#;
        let e = parse_error_body("twilio", 404, Some("application/json"), body);
        assert_eq!(e.code, Some(20404));
        assert_eq!(e.message, "The requested resource /Sims/HSx was not found");
        assert_eq!(
            e.more_info.as_deref(),
            Some("https://www.twilio.com/docs/errors/20404")
        );
        assert_eq!(e.status, 404);
    }

    #[test]
    fn twilio_detail_is_kept() {
        let body = br#"{"code": 20003, "detail": "Your AccountSid or AuthToken was incorrect.", "message": "Authenticate", "more_info": "https://www.twilio.com/docs/errors/20003", "status": 401}"#;
        let e = parse_error_body("twilio", 401, None, body);
        assert_eq!(
            e.message,
            "Authenticate: Your AccountSid or AuthToken was incorrect."
        );
        let body = br#"{"type": "https://stoplight.io/prism/errors#UNPROCESSABLE_ENTITY", "title": "Invalid request", "detail": "Your request is not valid", "validation": [{"location": ["body"], "message": "bad"}]}"#;
        let e = parse_error_body("twilio", 422, None, body);
        assert_eq!(e.message, "Invalid request: Your request is not valid");
        assert!(e.details.unwrap().is_array());
    }

    #[test]
    fn emnify_shapes() {
        let body = br#"{"error_code": 1201, "error_token": "NotFound", "message": "SIM not found", "errors": [{"field": "id"}]}"#;
        let e = parse_error_body("emnify", 404, None, body);
        assert_eq!(e.code, Some(1201));
        assert_eq!(e.token.as_deref(), Some("NotFound"));
        assert_eq!(e.message, "SIM not found");
        assert_eq!(e.details, Some(json!([{"field": "id"}])));
        let e = parse_error_body("emnify", 401, None, br#"{"message": "Unauthorized"}"#);
        assert_eq!((e.code, e.message.as_str()), (None, "Unauthorized"));
        let e = parse_error_body("emnify", 401, None, b"");
        assert_eq!(e.message, "(empty body)");
        assert_eq!(e.status, 401);
    }

    #[test]
    fn fastapi_shapes() {
        let e = parse_error_body("sixfab", 404, None, br#"{"detail": "Asset not found"}"#);
        assert_eq!(e.message, "Asset not found");
        let body = br#"{"detail": [{"loc": ["body", "name"], "msg": "ensure this value has at least 3 characters", "type": "value_error.any_str.min_length"}]}"#;
        let e = parse_error_body("sixfab", 422, None, body);
        assert_eq!(
            e.message,
            "body.name: ensure this value has at least 3 characters"
        );
        assert!(e.details.unwrap().is_array());
    }

    #[test]
    fn fastapi_detail_object_and_message_lists() {
        let e = parse_error_body(
            "sixfab",
            403,
            None,
            br#"{"detail": {"message": "forbidden", "code": "x"}}"#,
        );
        assert_eq!(e.message, "forbidden");
        assert_eq!(
            e.details,
            Some(json!({"message": "forbidden", "code": "x"}))
        );
        let e = parse_error_body(
            "edgeiq",
            400,
            None,
            br#"{"messages": ["iccid is invalid", "msisdn too long"]}"#,
        );
        assert_eq!(e.message, "iccid is invalid; msisdn too long");
        assert_eq!(
            e.details,
            Some(json!(["iccid is invalid", "msisdn too long"]))
        );
        let e = parse_error_body(
            "edgeiq",
            400,
            None,
            br#"{"errors": [{"message": "bad"}, "worse"]}"#,
        );
        assert_eq!(e.message, "bad; worse");
        assert!(e.details.is_some());
    }

    #[test]
    fn huge_messages_are_cut() {
        let body = serde_json::to_vec(&json!({"message": "m".repeat(100_000)})).unwrap();
        let e = parse_error_body("x", 400, None, &body);
        assert_eq!(e.message.chars().count(), MESSAGE_CHARS + 1);
    }

    #[test]
    fn oauth2_shape() {
        let body = br#"{"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"}"#;
        let e = parse_error_body("kore", 401, None, body);
        assert_eq!(e.token.as_deref(), Some("invalid_client"));
        assert_eq!(e.message, "Invalid client or Invalid client credentials");
    }

    #[test]
    fn generic_shapes() {
        let e = parse_error_body("edgeiq", 400, None, br#"{"error": "bad iccid"}"#);
        assert_eq!(e.message, "bad iccid");
        let e = parse_error_body(
            "edgeiq",
            400,
            None,
            br#"{"error": {"message": "nope", "code": 7}}"#,
        );
        assert_eq!((e.message.as_str(), e.code), ("nope", Some(7)));
        let e = parse_error_body("edgeiq", 500, None, br#"{"unexpected": true}"#);
        assert_eq!(e.message, r#"{"unexpected":true}"#);
        let e = parse_error_body("edgeiq", 500, None, br#""just a string""#);
        assert_eq!(e.message, "just a string");
    }

    #[test]
    fn html_and_text() {
        let page = b"<!DOCTYPE html>\n<html><head><title>\n 503 Service Unavailable </title></head><body><h1>oops</h1></body></html>";
        let e = parse_error_body("twilio", 503, Some("text/html; charset=utf-8"), page);
        assert_eq!(e.message, "HTML page: 503 Service Unavailable");
        let e = parse_error_body(
            "twilio",
            500,
            None,
            b"<html><body><h1>Internal</h1> <p>Server Error</p></body></html>",
        );
        assert_eq!(e.message, "HTML page: Internal Server Error");
        let e = parse_error_body("x", 502, Some("text/plain"), b"  upstream   timed out\n");
        assert_eq!(e.message, "upstream timed out");
        let long = "y".repeat(5000);
        let e = parse_error_body("x", 500, None, long.as_bytes());
        assert_eq!(e.message.chars().count(), SNIPPET_CHARS + 1);
        let e = parse_error_body("x", 500, None, &[0xff, 0xfe, b'a']);
        assert!(e.message.ends_with('a'));
    }
}
