//! Answers of a hostile or broken server, for tests of what a client keeps from an answer and how
//! long it waits for one.
//!
//! - [`echo`] / [`echo_router`]: an answer that quotes the request back, every header value and
//!   the body, in the forms servers and proxies quote things in: as sent, percent-encoded (RFC 3986
//!   style with `%20`, form style with `+`, lowercase hex), JSON-escaped (as serde writes it, and
//!   ASCII-only with `\/` and `\uXXXX` as Python and PHP do), HTML-escaped, and decoded (a JSON
//!   body's string values, a form body's values, a Basic credential's `user:secret`). A client
//!   whose error or decode error then shows one of its credentials leaks it.
//! - [`stalled_body`] / [`stalled_body_router`]: `200` with the start of a body, then nothing,
//!   forever.
//! - [`too_many_requests`] / [`storm_router`]: `429` with a `Retry-After` of your choice, on every
//!   request.
//!
//! ```
//! use simsandbox::SandboxServer;
//! use testkit::hostile::{Shape, echo_router};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let server = SandboxServer::start(echo_router(401, Shape::Json)).await?;
//! # let _ = server;
//! # Ok::<(), std::io::Error>(())
//! # }).unwrap();
//! ```

use std::convert::Infallible;
use std::fmt::Write as _;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::http::{HeaderMap, Request, Response, StatusCode};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bytes::Bytes;
use serde_json::{Map, Value, json};

/// How an [`echo`] answer is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Shape {
    /// An error body in the keys error parsers read (`message`, `detail`, `error`, `errors`,
    /// `more_info`, `error_token`, `code`), each quoting the request.
    Json,
    /// A JSON object whose usual keys (`id`, `_id`, `sid`, `sims`, `status`, `data`, `message`)
    /// hold the quotes with the wrong types, so a typed reader fails and its parser's message
    /// quotes them.
    Mistyped,
    /// An HTML error page quoting the request in its title and body (HTML-escaped).
    Html,
    /// Plain text, one quote a line.
    Text,
}

impl Shape {
    /// Every shape.
    pub const ALL: [Shape; 4] = [Shape::Json, Shape::Mistyped, Shape::Html, Shape::Text];
}

/// The request's header values and body, quoted in every form this module knows (see the module
/// docs), in order: each header value's forms, then the body's.
pub fn quotes(headers: &HeaderMap, body: &[u8]) -> Vec<String> {
    let mut values: Vec<String> = Vec::new();
    for (name, value) in headers {
        let v = String::from_utf8_lossy(value.as_bytes()).into_owned();
        if name.as_str().eq_ignore_ascii_case("authorization") {
            if let Some((scheme, rest)) = v.split_once(' ') {
                values.push(rest.to_owned());
                if scheme.eq_ignore_ascii_case("basic") {
                    if let Some(pair) = STANDARD
                        .decode(rest.trim())
                        .ok()
                        .and_then(|b| String::from_utf8(b).ok())
                    {
                        values.push(pair);
                    }
                }
            }
        }
        values.push(v);
    }
    let text = String::from_utf8_lossy(body).into_owned();
    if !text.is_empty() {
        match serde_json::from_str::<Value>(&text) {
            Ok(v) => strings_of(&v, &mut values),
            Err(_) => {
                for (_, v) in url::form_urlencoded::parse(body) {
                    values.push(v.into_owned());
                }
            }
        }
        values.push(text);
    }
    let mut out = Vec::new();
    for v in values {
        for form in forms(&v) {
            if !out.contains(&form) {
                out.push(form);
            }
        }
    }
    out
}

/// The forms one value is quoted in.
pub fn forms(v: &str) -> Vec<String> {
    vec![
        v.to_owned(),
        percent(v, false, true),
        percent(v, true, true),
        percent(v, false, false),
        json_escaped(v),
        json_ascii(v),
        html_escaped(v),
    ]
}

fn strings_of(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|i| strings_of(i, out)),
        Value::Object(m) => m.values().for_each(|i| strings_of(i, out)),
        _ => {}
    }
}

/// Percent-encodes every byte outside RFC 3986's unreserved set; `plus`: a space as `+`.
fn percent(v: &str, plus: bool, upper: bool) -> String {
    let mut s = String::with_capacity(v.len() * 3);
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                s.push(char::from(b));
            }
            b' ' if plus => s.push('+'),
            _ if upper => {
                let _ = write!(s, "%{b:02X}");
            }
            _ => {
                let _ = write!(s, "%{b:02x}");
            }
        }
    }
    s
}

/// As serde writes a string, without the quotes.
fn json_escaped(v: &str) -> String {
    let s = serde_json::to_string(v).unwrap_or_default();
    s.get(1..s.len().saturating_sub(1))
        .unwrap_or_default()
        .to_owned()
}

/// ASCII-only JSON, `/` escaped too (Python's `ensure_ascii`, PHP's default).
fn json_ascii(v: &str) -> String {
    let mut s = String::with_capacity(v.len() * 2);
    for c in v.chars() {
        match c {
            '"' => s.push_str("\\\""),
            '\\' => s.push_str("\\\\"),
            '/' => s.push_str("\\/"),
            '\n' => s.push_str("\\n"),
            '\r' => s.push_str("\\r"),
            '\t' => s.push_str("\\t"),
            c if c.is_ascii() && !c.is_ascii_control() => s.push(c),
            c => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(s, "\\u{u:04x}");
                }
            }
        }
    }
    s
}

fn html_escaped(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '&' => s.push_str("&amp;"),
            '<' => s.push_str("&lt;"),
            '>' => s.push_str("&gt;"),
            '"' => s.push_str("&quot;"),
            '\'' => s.push_str("&#39;"),
            c => s.push(c),
        }
    }
    s
}

/// An answer with `status` quoting the request (see [`quotes`]) as `shape` says. It also
/// reflects the request's credential header into `x-request-id`, as some gateways do.
pub fn echo(status: u16, shape: Shape, headers: &HeaderMap, body: &[u8]) -> Response<Body> {
    let quotes = quotes(headers, body);
    let first = quotes.first().cloned().unwrap_or_default();
    let joined = quotes.join(" | ");
    let (content_type, text) = match shape {
        Shape::Json => {
            let mut m = Map::new();
            m.insert("message".into(), json!(joined));
            m.insert("detail".into(), json!(first));
            m.insert("error".into(), json!({"message": first}));
            m.insert("errors".into(), json!(quotes));
            m.insert("more_info".into(), json!(first));
            m.insert("error_token".into(), json!(first));
            if let Some(n) = quotes.iter().find_map(|q| q.parse::<i64>().ok()) {
                m.insert("code".into(), json!(n));
            }
            ("application/json", Value::Object(m).to_string())
        }
        Shape::Mistyped => {
            let mut m = Map::new();
            for key in ["id", "_id", "sid", "sims", "status", "data", "message"] {
                m.insert(key.into(), json!([{ "quoted": quotes }]));
            }
            m.insert("id".into(), json!(joined));
            m.insert("sims".into(), json!(joined));
            ("application/json", Value::Object(m).to_string())
        }
        Shape::Html => {
            let mut page = format!(
                "<!DOCTYPE html><html><head><title>{} Error {}</title></head><body><h1>Error</h1>",
                status,
                html_escaped(&first)
            );
            for q in &quotes {
                let _ = write!(page, "<p>{}</p>", html_escaped(q));
            }
            page.push_str("</body></html>");
            ("text/html; charset=utf-8", page)
        }
        Shape::Text => ("text/plain; charset=utf-8", quotes.join("\n")),
    };
    let mut b = Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header("content-type", content_type);
    let reflected = ["authorization", "x-api-key"]
        .iter()
        .find_map(|h| headers.get(*h))
        .cloned();
    if let Some(v) = reflected {
        b = b.header("x-request-id", v);
    }
    b.body(Body::from(text)).unwrap_or_default()
}

/// A router that answers every request with [`echo`].
pub fn echo_router(status: u16, shape: Shape) -> Router {
    Router::new().fallback(move |req: Request<Body>| async move {
        let (parts, body) = req.into_parts();
        let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
        echo(status, shape, &parts.headers, &body)
    })
}

/// `200` with JSON headers and the first bytes of an object, then nothing: the body never ends.
pub fn stalled_body() -> Response<Body> {
    let start = futures_util::stream::once(async {
        Ok::<Bytes, Infallible>(Bytes::from_static(b"{\"sid\": \"HS"))
    });
    let never = futures_util::stream::pending::<Result<Bytes, Infallible>>();
    Response::builder()
        .status(StatusCode::OK)
        .header("content-type", "application/json")
        .body(Body::from_stream(futures_util::StreamExt::chain(
            start, never,
        )))
        .unwrap_or_default()
}

/// A router that answers every request with [`stalled_body`].
pub fn stalled_body_router() -> Router {
    Router::new().fallback(|| async { stalled_body() })
}

/// `429` with `Retry-After: retry_after` (seconds or an HTTP date, as given) and a short JSON
/// body.
pub fn too_many_requests(retry_after: &str) -> Response<Body> {
    Response::builder()
        .status(StatusCode::TOO_MANY_REQUESTS)
        .header("content-type", "application/json")
        .header("retry-after", retry_after)
        .body(Body::from(r#"{"message":"Too Many Requests"}"#))
        .unwrap_or_default()
}

/// A router that answers every request with [`too_many_requests`].
pub fn storm_router(retry_after: &'static str) -> Router {
    Router::new().fallback(move || async move { too_many_requests(retry_after) })
}

/// Pieces of ids that have broken path building somewhere, to build generated ids from: every
/// control character (C0 with tab, CR and LF, DEL, C1), the characters that end or split a path
/// (`/ ? #`), `%`, `.`, `\`, spaces, dot segments padded with whitespace or control characters,
/// percent-escapes of dots and slashes in either case, and non-ASCII look-alikes (fullwidth and
/// division slashes, a one-dot leader, zero-width and direction marks, a BOM, a line separator).
pub fn id_pieces() -> Vec<String> {
    let mut pieces: Vec<String> = (0u32..0x20)
        .chain([0x7f])
        .chain(0x80..0xa0)
        .filter_map(char::from_u32)
        .map(String::from)
        .collect();
    for p in [
        "/",
        "?",
        "#",
        "%",
        ".",
        "\\",
        " ",
        "&",
        "=",
        "+",
        ";",
        ":",
        "@",
        "..",
        "./",
        "../",
        "..\\",
        " ..",
        ".. ",
        "\t..",
        "..\t",
        "\n..",
        "..\r\n",
        "\u{85}..",
        "..\u{a0}",
        "\u{3000}.",
        "%2e",
        "%2E",
        "%2e%2E",
        "%2e%2E%2f",
        "%2F",
        "%2f",
        "%5C",
        "%00",
        "%25",
        "%",
        "%%",
        "%zz",
        "é",
        "ü",
        "日本",
        "𝄞",
        "\u{ff0f}",
        "\u{2215}",
        "\u{2024}",
        "\u{200b}",
        "\u{200e}",
        "\u{202e}",
        "\u{feff}",
        "\u{2028}",
        "\u{fffd}",
        "HS",
        "pump-7",
        "SN123",
        "250",
    ] {
        pieces.push(p.to_owned());
    }
    pieces
}

/// Checks that `raw_path`, a path as the server received it, is `base_path` and exactly one
/// more segment that percent-decodes to `id`; says what is wrong otherwise.
///
/// ```
/// use testkit::hostile::check_one_segment;
/// assert!(check_one_segment("/v1/sims", "/v1/sims/a%2Fb%20c", "a/b c").is_ok());
/// assert!(check_one_segment("/v1/sims", "/v1/sims/a/b", "a/b").is_err());
/// assert!(check_one_segment("/v1/sims", "/v1/sims/%2e%2e", "..").is_ok());
/// assert!(check_one_segment("/v1/sims", "/v1/x", "x").is_err());
/// ```
pub fn check_one_segment(base_path: &str, raw_path: &str, id: &str) -> Result<(), String> {
    let base = base_path.trim_end_matches('/');
    let Some(rest) = raw_path
        .strip_prefix(base)
        .and_then(|r| r.strip_prefix('/'))
    else {
        return Err(format!("{raw_path:?} is not under {base:?}/"));
    };
    if rest.contains(['/', '?', '#']) {
        return Err(format!("{raw_path:?}: the id is not exactly one segment"));
    }
    let bytes = rest.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            match hex {
                Some(b) => decoded.push(b),
                None => return Err(format!("{raw_path:?}: a bare % in the segment")),
            }
            i += 3;
        } else {
            decoded.push(bytes[i]);
            i += 1;
        }
    }
    if decoded != id.as_bytes() {
        return Err(format!(
            "{raw_path:?}: the segment decodes to {:?}, not {id:?}",
            String::from_utf8_lossy(&decoded)
        ));
    }
    Ok(())
}

/// Success bodies that are no provider's answer where one carries JSON: an HTML page (a captive
/// portal, a proxy's login page), plain text, XML, JSONP, truncated JSON, binary bytes, an empty
/// body and one of whitespace. Each with the content type a server would send it with.
pub fn not_json_bodies() -> Vec<(&'static str, Bytes)> {
    vec![
        (
            "text/html; charset=utf-8",
            Bytes::from_static(
                b"<!DOCTYPE html><html><head><title>Sign in to the network</title></head>\
                  <body><form action=\"/login\"><input name=\"user\"></form></body></html>",
            ),
        ),
        (
            "text/html",
            Bytes::from_static(b"<html><body>OK</body></html>"),
        ),
        ("text/plain", Bytes::from_static(b"OK")),
        (
            "text/plain",
            Bytes::from_static(b"upstream connect error or disconnect/reset"),
        ),
        (
            "application/xml",
            Bytes::from_static(b"<?xml version=\"1.0\"?><ok/>"),
        ),
        (
            "application/javascript",
            Bytes::from_static(b"callback({\"sid\": \"HS1\"})"),
        ),
        (
            "application/json",
            Bytes::from_static(b"{\"sid\": \"HSaaaaaaaaaaaaaaaaaaaa"),
        ),
        ("application/json", Bytes::from_static(b"{\"status\": ")),
        (
            "application/octet-stream",
            Bytes::from_static(&[0xff, 0xfe, 0x00, 0x7b, 0x80]),
        ),
        ("application/json", Bytes::new()),
        ("application/json", Bytes::from_static(b" \r\n\t ")),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form() {
        let f = forms("a b/é\"<");
        assert_eq!(
            f,
            [
                "a b/é\"<",
                "a%20b%2F%C3%A9%22%3C",
                "a+b%2F%C3%A9%22%3C",
                "a%20b%2f%c3%a9%22%3c",
                "a b/é\\\"<",
                "a b\\/\\u00e9\\\"<",
                "a b/é&quot;&lt;",
            ]
        );
        let mut h = HeaderMap::new();
        h.insert("authorization", "Basic dXNlcjpzM2NyM3Q=".parse().unwrap());
        let q = quotes(&h, br#"{"password": "p w"}"#);
        for want in [
            "dXNlcjpzM2NyM3Q=",
            "user:s3cr3t",
            "Basic dXNlcjpzM2NyM3Q=",
            "p w",
            "p%20w",
            "p+w",
            r#"{"password": "p w"}"#,
        ] {
            assert!(q.iter().any(|x| x == want), "{want}: {q:?}");
        }
        let q = quotes(&HeaderMap::new(), b"password=p%26w&x=1");
        assert!(q.iter().any(|x| x == "p&w"), "{q:?}");
    }
}
