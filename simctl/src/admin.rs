//! The admin API: plain JSON over HTTP on 127.0.0.1, beside the four sandboxes, to read their
//! state and request logs, inject faults and rate limits, and move the shared clock.
//!
//! | request | what it does |
//! |---|---|
//! | `GET /v1/providers` | each provider's base URL, throwaway credentials and environment |
//! | `GET /v1/state` | every provider's SIMs (Sixfab: assets) and the clock |
//! | `GET /v1/{provider}/state` | one provider's SIMs |
//! | `GET /v1/{provider}/requests` | the request log (secret headers and credential bodies redacted), counters, and the faults still waiting |
//! | `DELETE /v1/{provider}/requests` | forgets the request log |
//! | `POST /v1/{provider}/faults` | `{"fault": "status", "status": 503, "count": 2}`, `{"fault": "drop", "count": 1}`, `{"fault": "delay", "ms": 200, "count": 1}` (no `count`: every request), `{"fault": "clear"}` |
//! | `POST /v1/{provider}/limits` | `{"rate_limit": {"per_second": 5, "burst": 5}}` or `{"rate_limit": null}`; emnify also `list_rate_limit` and `authenticate_limit` (`{"calls": 100, "per_seconds": 300}`) |
//! | `POST /v1/{provider}/sims/{id}/usage` | Super SIM and emnify: a device used the SIM, `{"data_kb": 250, "sms": 0}` |
//! | `GET /v1/clock` | the shared clock |
//! | `POST /v1/clock/advance` | `{"seconds": N}`, `{"months": N}` or `{"to": "RFC 3339"}` |
//! | `GET /v1/sixfab/ledger` | what the Sixfab sandbox has charged |
//!
//! `{provider}` is `supersim`, `emnify`, `sixfab` or `edgeiq` (`kore` and `twilio` name the
//! Super SIM sandbox too).
//!
//! # Errors
//!
//! Every answer that is not a `2xx` is `application/json` `{"error": {"message": "..."}}` with a
//! 4xx status, whatever refused the request: a handler, an extractor, the router or the HTTP
//! parser ([`json_errors`] maps the router's and the extractors' answers, [`crate::serve::serve`]
//! the parser's).
//!
//! | status | when |
//! |---|---|
//! | `400` | a body that is not a JSON object, a number or value outside its bound (the message names the field and the bound), a path that is not UTF-8 once percent-decoded, a request the HTTP parser cannot read |
//! | `404` | an unknown path, provider or SIM |
//! | `405` | a method the path does not take, with an `Allow` header |
//! | `409` | a clock move the clock's state refuses (the real clock, backwards) |
//! | `413` | a body over [`MAX_REQUEST_BYTES`] |
//! | `414`, `431` | a URI or headers too long for the HTTP parser |
//!
//! # Bounds
//!
//! Every number has a bound (all of them in [`crate::bounds`]); past it the request is refused
//! `400` and nothing changes:
//!
//! | number | bound |
//! |---|---|
//! | fault `count` | 1 to 10,000 ([`MAX_FAULT_COUNT`]); each fault queue (drop, status, delay) covers at most 10,000 requests in all, and an injection that would pass that is refused |
//! | fault `status` | 100 to 599 |
//! | fault `body` | at most 65,536 bytes ([`MAX_FAULT_BODY_BYTES`]); the bodies waiting at most 1 MiB in all |
//! | fault `ms` | 0 to 600,000 ([`MAX_DELAY_MS`]) |
//! | `per_second` | above 0, at most 1,000,000 ([`MAX_BURST`]) |
//! | `burst` | 1 to 1,000,000 |
//! | `authenticate_limit` `calls` | 1 to 1,000,000 ([`MAX_WINDOW_CALLS`]) |
//! | `authenticate_limit` `per_seconds` | 1 to 31,536,000, 365 days ([`MAX_WINDOW_SECONDS`]) |
//! | usage `data_kb` | 0 to 1,000,000,000 per call ([`MAX_USAGE_DATA_KB`]) |
//! | usage `sms` | 0 to 1,000,000 per call ([`MAX_USAGE_SMS`]) |
//! | clock `seconds` | 0 or more, fractions allowed, at most a century ahead (1,200 months from the clock's time, [`MAX_ADVANCE_MONTHS`]) |
//! | clock `months` | 0 to 1,200 ([`MAX_ADVANCE_MONTHS`]) |
//! | clock `to` | at most a century ahead, as `seconds` |
//! | a request body | at most 1 MiB ([`MAX_REQUEST_BYTES`]): `413` |

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use simsandbox::{ClockError, RateLimit};

use crate::bounds::{
    MAX_ADVANCE_MONTHS, MAX_BURST, MAX_DELAY_MS, MAX_FAULT_BODY_BYTES, MAX_FAULT_COUNT,
    MAX_REQUEST_BYTES, MAX_STATUS, MAX_USAGE_DATA_KB, MAX_USAGE_SMS, MAX_WINDOW_CALLS,
    MAX_WINDOW_SECONDS, MIN_STATUS, whole, whole_or,
};
use crate::sandbox::{PROVIDERS, Sandboxes, request_json};

/// What the handlers share.
pub struct Admin {
    /// The sandboxes.
    pub sandboxes: Sandboxes,
    /// The admin API's own base URL.
    pub url: String,
}

type Shared = State<Arc<Admin>>;

/// The admin API's routes, with every refusal answered in JSON ([`json_errors`]) and bodies
/// read up to [`MAX_REQUEST_BYTES`].
pub fn router(admin: Arc<Admin>) -> Router {
    let routes = Router::new()
        .route("/v1/providers", get(providers))
        .route("/v1/state", get(all_state))
        .route("/v1/clock", get(clock))
        .route("/v1/clock/advance", post(advance))
        .route("/v1/{provider}/state", get(state))
        .route(
            "/v1/{provider}/requests",
            get(requests).delete(clear_requests),
        )
        .route("/v1/{provider}/faults", post(faults))
        .route("/v1/{provider}/limits", post(limits))
        .route("/v1/{provider}/ledger", get(ledger))
        .route("/v1/{provider}/sims/{id}/usage", post(usage))
        .fallback(|| async {
            error(
                StatusCode::NOT_FOUND,
                "no such admin path: see GET /v1/providers, /v1/state, /v1/clock",
            )
        })
        .layer(DefaultBodyLimit::max(MAX_REQUEST_BYTES))
        .with_state(admin);
    // Around the whole router, not each route: a route's `405` gets its `Allow` header from the
    // route's method router, outside any layer on the route itself.
    Router::new()
        .fallback_service(routes)
        .layer(middleware::from_fn(json_errors))
}

/// An admin request refused: a status and a message, answered as
/// `{"error": {"message": ...}}`.
struct Refusal {
    status: StatusCode,
    message: String,
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        let body = json!({"error": {"message": self.message}});
        (self.status, axum::Json(body)).into_response()
    }
}

fn error(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal {
        status,
        message: message.into(),
    }
}

fn bad(message: impl Into<String>) -> Refusal {
    error(StatusCode::BAD_REQUEST, message)
}

/// At most this much of a path is quoted back in a message.
const QUOTED_PATH: usize = 200;

/// The root of the admin API's error shape: every answer that is not a `2xx` leaves as
/// `{"error": {"message": ...}}` with a 4xx status, whatever made it. Handlers answer so
/// already; what axum answers by itself (a method the route does not take: an empty `405`; an
/// extractor's rejection: a `text/plain` `400` or `413`) is rewritten here, keeping its status
/// (and `405`'s `Allow` header). A path that is not UTF-8 once percent-decoded is refused
/// before routing, so that every route and the fallback treat it alike.
pub async fn json_errors(req: Request, next: Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let mut quoted: String = path.chars().take(QUOTED_PATH).collect();
    if quoted.len() < path.len() {
        quoted.push('…');
    }
    if percent_encoding::percent_decode_str(&path)
        .decode_utf8()
        .is_err()
    {
        return bad(format!(
            "the path {quoted} is not valid UTF-8 once percent-decoded"
        ))
        .into_response();
    }
    let response = next.run(req).await;
    let status = response.status();
    let is_json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/json"));
    if status.is_success() || is_json {
        return response;
    }
    let (parts, body) = response.into_parts();
    // What axum said (a rejection's text), to keep its reason.
    let said = axum::body::to_bytes(body, 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_owned())
        .unwrap_or_default();
    let allow = parts.headers.get(header::ALLOW).cloned();
    let (status, message) = match status {
        StatusCode::METHOD_NOT_ALLOWED => {
            let takes = allow
                .as_ref()
                .and_then(|a| a.to_str().ok())
                .unwrap_or("no method");
            (
                status,
                format!("{method} is not allowed on {quoted}: it takes {takes}"),
            )
        }
        StatusCode::PAYLOAD_TOO_LARGE => (
            status,
            format!(
                "the body is larger than {MAX_REQUEST_BYTES} bytes, the most the admin API reads"
            ),
        ),
        s if s.is_client_error() => (
            s,
            if said.is_empty() {
                s.canonical_reason().unwrap_or("refused").to_owned()
            } else {
                said
            },
        ),
        // No handler answers otherwise; should one, it is still the documented shape, and a
        // request it cannot serve is the request's fault as far as a client can act on it.
        _ => (
            StatusCode::BAD_REQUEST,
            format!(
                "the admin API could not serve {method} {quoted} ({status}){}",
                if said.is_empty() {
                    String::new()
                } else {
                    format!(": {said}")
                }
            ),
        ),
    };
    let mut answer = error(status, message).into_response();
    if let (StatusCode::METHOD_NOT_ALLOWED, Some(allow)) = (status, allow) {
        answer.headers_mut().insert(header::ALLOW, allow);
    }
    answer
}

/// What a handler answers: JSON, or a refusal.
type Answer = Result<Response, Refusal>;

fn ok(body: Value) -> Answer {
    Ok(axum::Json(body).into_response())
}

/// The sandbox a path's `{provider}` names.
fn provider(name: &str) -> Result<&'static str, Refusal> {
    match name {
        "supersim" | "kore" | "twilio" => Ok("supersim"),
        "emnify" => Ok("emnify"),
        "sixfab" => Ok("sixfab"),
        "edgeiq" => Ok("edgeiq"),
        other => {
            let mut shown: String = other.chars().take(QUOTED_PATH).collect();
            if shown.len() < other.len() {
                shown.push('…');
            }
            Err(error(
                StatusCode::NOT_FOUND,
                format!("no provider {shown:?}: one of supersim, emnify, sixfab, edgeiq"),
            ))
        }
    }
}

fn body_json(body: &Bytes) -> Result<Value, Refusal> {
    serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .ok_or_else(|| bad("the body must be a JSON object"))
}

/// The clock as the admin API shows it.
pub fn clock_json(sandboxes: &Sandboxes) -> Value {
    sandboxes.clock.state_json()
}

async fn providers(State(a): Shared) -> Answer {
    ok(json!({"admin": a.url, "providers": a.sandboxes.describe()}))
}

async fn all_state(State(a): Shared) -> Answer {
    let mut out = serde_json::Map::new();
    out.insert("clock".into(), clock_json(&a.sandboxes));
    for p in PROVIDERS {
        out.insert(p.into(), a.sandboxes.state(p).unwrap_or(Value::Null));
    }
    ok(Value::Object(out))
}

async fn state(State(a): Shared, Path(name): Path<String>) -> Answer {
    let p = provider(&name)?;
    ok(a.sandboxes.state(p).unwrap_or(Value::Null))
}

async fn requests(State(a): Shared, Path(name): Path<String>) -> Answer {
    let p = provider(&name)?;
    let Some(server) = a.sandboxes.server(p) else {
        return Err(error(StatusCode::NOT_FOUND, "no such provider"));
    };
    let log: Vec<Value> = server.requests().iter().map(request_json).collect();
    let stats = server.stats();
    ok(json!({
        "provider": p,
        "count": log.len(),
        "requests": log,
        "stats": {
            "received": stats.received,
            "throttled": stats.throttled,
            "dropped": stats.dropped,
            "failed": stats.failed,
        },
        // The faults still waiting, each queue within its bound.
        "faults": server.state_json()["faults"],
    }))
}

async fn clear_requests(State(a): Shared, Path(name): Path<String>) -> Answer {
    let p = provider(&name)?;
    if let Some(server) = a.sandboxes.server(p) {
        server.clear_requests();
    }
    ok(json!({"provider": p, "cleared": true}))
}

/// A fault's `count`: `None` when absent or `null`.
fn count(body: &Value) -> Result<Option<usize>, Refusal> {
    match body.get("count") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => whole(v, "count", 1, MAX_FAULT_COUNT as u64)
            // At most MAX_FAULT_COUNT: it fits.
            .map(|n| Some(n as usize))
            .map_err(bad),
    }
}

/// A fault the queue cannot take, as the refusal that names `count` and the bound.
fn full(e: simsandbox::FaultQueueFull) -> Refusal {
    match e {
        simsandbox::FaultQueueFull::BodyTooLong { .. }
        | simsandbox::FaultQueueFull::BodyBytes { .. } => bad(format!("body: {e}")),
        _ => bad(format!("count: {e}")),
    }
}

async fn faults(State(a): Shared, Path(name): Path<String>, body: Bytes) -> Answer {
    let p = provider(&name)?;
    let body = body_json(&body)?;
    let Some(server) = a.sandboxes.server(p) else {
        return Err(error(StatusCode::NOT_FOUND, "no such provider"));
    };
    let n = count(&body)?;
    match body.get("fault").and_then(Value::as_str) {
        Some("status") => {
            let status = body
                .get("status")
                .map_or_else(
                    || {
                        Err(format!(
                            "status must be a whole number from {MIN_STATUS} to {MAX_STATUS}"
                        ))
                    },
                    |v| whole(v, "status", MIN_STATUS, MAX_STATUS),
                )
                .map_err(bad)? as u16;
            let n = n.unwrap_or(1);
            let ct = match body.get("content_type") {
                None | Some(Value::Null) => "application/json",
                Some(v) => match v.as_str() {
                    Some("application/json") => "application/json",
                    Some("text/html") => "text/html",
                    Some("text/plain") => "text/plain",
                    _ => {
                        return Err(bad(
                            "content_type must be application/json, text/html or text/plain",
                        ));
                    }
                },
            };
            let text = match body.get("body") {
                None | Some(Value::Null) => {
                    format!(r#"{{"message":"injected fault: HTTP {status}"}}"#)
                }
                Some(Value::String(text)) if text.len() <= MAX_FAULT_BODY_BYTES => text.clone(),
                Some(Value::String(text)) => {
                    return Err(bad(format!(
                        "body must be at most {MAX_FAULT_BODY_BYTES} bytes (found {})",
                        text.len()
                    )));
                }
                Some(_) => return Err(bad("body must be a string")),
            };
            server
                .try_fail_next_with(n, status, Bytes::from(text), ct)
                .map_err(full)?;
            ok(json!({"provider": p, "fault": "status", "status": status, "count": n}))
        }
        Some("drop") => {
            let n = n.unwrap_or(1);
            server.try_drop_next(n).map_err(full)?;
            ok(json!({"provider": p, "fault": "drop", "count": n}))
        }
        Some("delay") => {
            let ms = body
                .get("ms")
                .map_or_else(
                    || {
                        Err(format!(
                            "ms must be a whole number from 0 to {MAX_DELAY_MS}"
                        ))
                    },
                    |v| whole(v, "ms", 0, MAX_DELAY_MS),
                )
                .map_err(bad)?;
            let d = Duration::from_millis(ms);
            match n {
                Some(n) => server.try_delay_next(n, d).map_err(full)?,
                None => server.set_delay(Some(d)),
            }
            ok(json!({"provider": p, "fault": "delay", "ms": ms, "count": n}))
        }
        Some("clear") => {
            server.clear_faults();
            ok(json!({"provider": p, "fault": "clear"}))
        }
        _ => Err(bad(
            "fault must be \"status\", \"drop\", \"delay\" or \"clear\"",
        )),
    }
}

/// Reads a rate limit: `null` removes it.
fn rate_limit(
    name: &str,
    v: &Value,
    default_retry_after: bool,
) -> Result<Option<RateLimit>, Refusal> {
    if v.is_null() {
        return Ok(None);
    }
    if !v.is_object() {
        return Err(bad(format!(
            "{name} must be {{\"per_second\": N, \"burst\": B, \"retry_after\": false}} or null, \
             per_second above 0 and at most {MAX_BURST}, burst from 1 to {MAX_BURST}"
        )));
    }
    let per_second = v
        .get("per_second")
        .and_then(Value::as_f64)
        .unwrap_or(f64::NAN);
    let burst = match v.get("burst") {
        None | Some(Value::Null) => None,
        // Not a whole number of 0 or more: refused by the rule as a burst of 0 would be.
        Some(b) => Some(b.as_u64().unwrap_or(0)),
    };
    let (per_second, burst) = crate::bounds::check_rate_limit(per_second, burst)
        .map_err(|e| bad(format!("{name}: {e}")))?;
    let retry_after = match v.get("retry_after") {
        None | Some(Value::Null) => default_retry_after,
        Some(Value::Bool(b)) => *b,
        Some(_) => return Err(bad(format!("{name}: retry_after must be true or false"))),
    };
    Ok(Some(RateLimit {
        per_second,
        burst,
        retry_after,
    }))
}

async fn limits(State(a): Shared, Path(name): Path<String>, body: Bytes) -> Answer {
    let p = provider(&name)?;
    let body = body_json(&body)?;
    let known: &[&str] = if p == "emnify" {
        &["rate_limit", "list_rate_limit", "authenticate_limit"]
    } else {
        &["rate_limit"]
    };
    if let Some(k) = body
        .as_object()
        .and_then(|o| o.keys().find(|k| !known.contains(&k.as_str())))
    {
        let shown: String = k.chars().take(QUOTED_PATH).collect();
        return Err(bad(format!(
            "{p} has no limit {shown:?}: it takes {}",
            known.join(", ")
        )));
    }
    // Everything is read before anything is set: a refusal changes nothing.
    // Twilio sends Retry-After; the others document none.
    let server_limit = body
        .get("rate_limit")
        .map(|v| rate_limit("rate_limit", v, p == "supersim"))
        .transpose()?;
    let list_limit = body
        .get("list_rate_limit")
        .map(|v| rate_limit("list_rate_limit", v, false))
        .transpose()?;
    let authenticate_limit = body
        .get("authenticate_limit")
        .map(|v| {
            if v.is_null() {
                return Ok(None);
            }
            if !v.is_object() {
                return Err(bad(format!(
                    "authenticate_limit must be {{\"calls\": N, \"per_seconds\": S}} or null, \
                     calls from 1 to {MAX_WINDOW_CALLS}, per_seconds from 1 to {MAX_WINDOW_SECONDS}"
                )));
            }
            let field = |key: &str, max: u64| {
                whole(v.get(key).unwrap_or(&Value::Null), key, 1, max)
                    .map_err(|e| bad(format!("authenticate_limit: {e}")))
            };
            let calls = field("calls", MAX_WINDOW_CALLS)?;
            let per = field("per_seconds", MAX_WINDOW_SECONDS)?;
            Ok(Some(emnify_client::sandbox::AuthenticateLimit {
                // At most MAX_WINDOW_CALLS: it fits.
                calls: calls as u32,
                per: Duration::from_secs(per),
            }))
        })
        .transpose()?;
    let mut set = Vec::new();
    if let Some(limit) = server_limit {
        if let Some(s) = a.sandboxes.server(p) {
            s.set_rate_limit(limit);
        }
        set.push("rate_limit");
    }
    if let Some(limit) = list_limit {
        a.sandboxes.emnify.set_list_rate_limit(limit);
        set.push("list_rate_limit");
    }
    if let Some(limit) = authenticate_limit {
        a.sandboxes.emnify.set_authenticate_limit(limit);
        set.push("authenticate_limit");
    }
    if set.is_empty() {
        return Err(bad(format!("name a limit to set: {}", known.join(", "))));
    }
    ok(json!({"provider": p, "set": set}))
}

async fn clock(State(a): Shared) -> Answer {
    ok(clock_json(&a.sandboxes))
}

async fn advance(State(a): Shared, body: Bytes) -> Answer {
    let body = body_json(&body)?;
    let clock = &a.sandboxes.clock;
    let given: Vec<&str> = ["seconds", "months", "to"]
        .into_iter()
        .filter(|k| body.get(*k).is_some())
        .collect();
    if given.len() != 1 {
        return Err(bad("give exactly one of seconds, months or to"));
    }
    let moved = match given[0] {
        "seconds" => match body["seconds"]
            .as_f64()
            .filter(|s| s.is_finite() && *s >= 0.0)
        {
            // Past a century the clock refuses it (TooFar): 1e12 s is far past one already,
            // and a Duration holds it.
            Some(s) => clock.advance(Duration::from_secs_f64(s.min(1e12))),
            None => {
                return Err(bad(format!(
                    "seconds must be a number of 0 or more, at most {MAX_ADVANCE_MONTHS} months ahead"
                )));
            }
        },
        "months" => {
            let months = whole(&body["months"], "months", 0, MAX_ADVANCE_MONTHS).map_err(bad)?;
            // At most MAX_ADVANCE_MONTHS: it fits.
            clock.advance_months(months as u32)
        }
        _ => match body["to"]
            .as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        {
            Some(t) => clock.advance_to(t.with_timezone(&chrono::Utc)),
            None => return Err(bad("to must be an RFC 3339 time")),
        },
    };
    match moved {
        Ok(_) => ok(clock_json(&a.sandboxes)),
        // Too far is wrong whatever the clock shows; backwards or real time is about its state.
        Err(e @ (ClockError::TooFar { .. } | ClockError::OutOfRange)) => {
            Err(error(StatusCode::BAD_REQUEST, format!("{}: {e}", given[0])))
        }
        Err(e) => Err(error(StatusCode::CONFLICT, e.to_string())),
    }
}

async fn ledger(State(a): Shared, Path(name): Path<String>) -> Answer {
    if name != "sixfab" {
        return Err(error(StatusCode::NOT_FOUND, "only sixfab keeps a ledger"));
    }
    let entries = a.sandboxes.sixfab.ledger();
    let total = entries
        .iter()
        .fold(simcore::charge::Money::ZERO, |sum, e| sum + e.amount);
    ok(json!({"provider": "sixfab", "total": total, "entries": entries}))
}

async fn usage(State(a): Shared, Path((name, id)): Path<(String, String)>, body: Bytes) -> Answer {
    let p = provider(&name)?;
    let body = body_json(&body)?;
    let data_kb = whole_or(&body, "data_kb", 0, 0, MAX_USAGE_DATA_KB).map_err(bad)?;
    // At most MAX_USAGE_SMS: it fits.
    let sms = whole_or(&body, "sms", 0, 0, MAX_USAGE_SMS).map_err(bad)? as u32;
    let status = match p {
        "supersim" => a
            .sandboxes
            .supersim
            .record_usage(&id, supersim_client::sandbox::SimUsage::new(data_kb, sms))
            .map(|s| Value::from(s.status.as_str())),
        "emnify" => id.parse::<u64>().ok().and_then(|n| {
            a.sandboxes
                .emnify
                .record_usage(n, emnify_client::sandbox::SimUsage::new(data_kb, sms))
                .map(|s| json!({"id": s.status}))
        }),
        _ => {
            return Err(error(
                StatusCode::NOT_FOUND,
                format!("{p} has no usage rule: only supersim and emnify"),
            ));
        }
    };
    match status {
        Some(status) => ok(json!({"provider": p, "id": id, "status": status})),
        None => {
            let shown: String = id.chars().take(QUOTED_PATH).collect();
            Err(error(
                StatusCode::NOT_FOUND,
                format!("{p} has no SIM {shown:?}"),
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    //! The admin API driven over TCP, as any client would, through the same stack `simctl
    //! sandbox` serves: [`crate::serve::serve`] and [`router`].

    use std::time::Duration;

    use proptest::prelude::*;
    use proptest::test_runner::{Config as RunnerConfig, TestCaseError, TestRunner};
    use serde_json::{Value, json};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::config::Config;

    /// The sandboxes and the admin API on an ephemeral port; stopped when dropped.
    struct Running {
        admin: Arc<Admin>,
        addr: std::net::SocketAddr,
        _stop: tokio::sync::watch::Sender<bool>,
    }

    async fn start() -> Running {
        let sandboxes = Sandboxes::start(&Config::default(), None).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let admin = Arc::new(Admin {
            sandboxes,
            url: format!("http://{addr}"),
        });
        let (stop, stopped) = tokio::sync::watch::channel(false);
        tokio::spawn(crate::serve::serve(
            listener,
            router(admin.clone()),
            stopped,
        ));
        Running {
            admin,
            addr,
            _stop: stop,
        }
    }

    /// An answer as it came off the wire.
    #[derive(Debug)]
    struct Answer {
        status: u16,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
    }

    impl Answer {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// Sends `head` (request line and headers, without the blank line) and `body` on a fresh
    /// connection, `connection: close` and the body's length added, and reads the answer to
    /// the end. `None`: no answer (the server dropped the connection: a panic, say).
    async fn send(addr: std::net::SocketAddr, head: &[u8], body: &[u8]) -> Option<Answer> {
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut request = head.to_vec();
        request.extend_from_slice(
            format!(
                "\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
                body.len()
            )
            .as_bytes(),
        );
        request.extend_from_slice(body);
        // The server may answer and close before it has read everything (413): not an error.
        let _ = stream.write_all(&request).await;
        let mut got = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut got));
        match read.await {
            Ok(Ok(_)) => {}
            // A reset after a complete answer still counts: what was read is parsed below.
            Ok(Err(_)) => {}
            Err(_) => panic!("no answer within 10 s"),
        }
        let end = got.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&got[..end]).into_owned();
        let mut lines = head.split("\r\n");
        let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
        let headers = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
            .collect();
        Some(Answer {
            status,
            headers,
            body: got[end + 4..].to_vec(),
        })
    }

    /// What every answer keeps: a 2xx, or the documented JSON error with a 4xx (`405` with an
    /// `Allow` header). A HEAD answer has no body to check.
    fn check_shape(method: &[u8], answer: &Answer) -> Result<(), TestCaseError> {
        let s = answer.status;
        prop_assert!(
            (200..300).contains(&s) || (400..500).contains(&s),
            "status {s}: {answer:?}"
        );
        if (200..300).contains(&s) {
            return Ok(());
        }
        prop_assert_eq!(answer.header("content-type"), Some("application/json"));
        if s == 405 {
            prop_assert!(answer.header("allow").is_some(), "{answer:?}");
        }
        if method == b"HEAD" {
            return Ok(());
        }
        let body: Value = serde_json::from_slice(&answer.body)
            .map_err(|e| TestCaseError::fail(format!("{e}: {answer:?}")))?;
        let error = body.as_object().and_then(|o| o.get("error"));
        prop_assert_eq!(body.as_object().map(|o| o.len()), Some(1), "{}", body);
        prop_assert!(
            error.and_then(|e| e["message"].as_str()).is_some()
                && error.and_then(Value::as_object).map(|o| o.len()) == Some(1),
            "{}",
            body
        );
        Ok(())
    }

    /// Numbers and values of every kind a client might send where a number is wanted.
    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            any::<u64>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::from)),
            (0u64..20_002).prop_map(Value::from),
            prop_oneof![
                Just(json!(0)),
                Just(json!(1)),
                Just(json!(-1)),
                Just(json!(0.5)),
                Just(json!(-0.0)),
                Just(json!(1e300)),
                Just(json!(-1e300)),
                Just(json!(1e-300)),
                Just(json!(u64::MAX)),
                Just(json!(i64::MIN)),
                Just(json!(10_000)),
                Just(json!(10_001)),
                Just(json!(9_007_199_254_740_993u64)),
                Just(json!(599)),
                Just(json!(600_000)),
                Just(json!(600_001)),
                Just(json!(1_200)),
                Just(json!(3_153_600_000u64)),
                Just(json!(3_153_600_001u64)),
            ],
            prop_oneof![
                Just(json!("NaN")),
                Just(json!("Infinity")),
                Just(json!("-1")),
                Just(json!("5")),
                Just(json!("")),
                Just(json!(null)),
                Just(json!(true)),
                Just(json!(false)),
                Just(json!("2026-06-01T00:00:00Z")),
                Just(json!("9999-12-31T23:59:59Z")),
                Just(json!("status")),
                Just(json!("drop")),
                Just(json!("delay")),
                Just(json!("clear")),
                Just(json!("text/html")),
            ],
            "[ -~]{0,40}".prop_map(Value::from),
        ];
        leaf.prop_recursive(2, 8, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..3).prop_map(Value::from),
                proptest::collection::btree_map(key(), inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    fn key() -> impl Strategy<Value = String> {
        prop_oneof![
            prop_oneof![
                Just("fault"),
                Just("count"),
                Just("status"),
                Just("ms"),
                Just("body"),
                Just("content_type"),
                Just("rate_limit"),
                Just("list_rate_limit"),
                Just("authenticate_limit"),
                Just("per_second"),
                Just("burst"),
                Just("retry_after"),
                Just("calls"),
                Just("per_seconds"),
                Just("data_kb"),
                Just("sms"),
                Just("seconds"),
                Just("months"),
                Just("to"),
            ]
            .prop_map(str::to_owned),
            "[a-z_]{1,8}",
        ]
    }

    /// A JSON object with some of `keys`, each with any value, and maybe other keys.
    fn object_of(keys: &'static [&'static str]) -> impl Strategy<Value = Value> {
        (
            proptest::sample::subsequence(keys, 0..=keys.len()),
            proptest::collection::vec(value(), keys.len()),
            proptest::collection::btree_map(key(), value(), 0..2),
        )
            .prop_map(|(chosen, values, extra)| {
                let mut o: serde_json::Map<String, Value> = extra.into_iter().collect();
                for (k, v) in chosen.into_iter().zip(values) {
                    o.insert(k.to_owned(), v);
                }
                Value::Object(o)
            })
    }

    fn body() -> impl Strategy<Value = Vec<u8>> {
        let fault = prop_oneof![Just("status"), Just("drop"), Just("delay"), Just("clear")];
        // Within every bound, so that the queues fill: counts near the bound are common.
        let plausible = (
            prop_oneof![Just("status"), Just("drop"), Just("delay")],
            prop_oneof![1u64..=10, 9_990u64..=10_000, Just(5_000u64)],
            100u64..=599,
            0u64..=600_000,
        )
            .prop_map(|(f, count, status, ms)| {
                json!({"fault": f, "count": count, "status": status, "ms": ms})
            });
        let json = prop_oneof![
            3 => plausible,
            // What each route reads, with any values.
            4 => (fault, object_of(&["count", "status", "ms", "body", "content_type"]))
                .prop_map(|(f, mut o)| { o["fault"] = Value::from(f); o }),
            2 => (object_of(&["per_second", "burst", "retry_after"]), object_of(&["calls", "per_seconds"]), 0..4u8)
                .prop_map(|(rate, window, which)| match which {
                    0 => json!({"rate_limit": rate}),
                    1 => json!({"list_rate_limit": rate}),
                    2 => json!({"authenticate_limit": window}),
                    _ => json!({"rate_limit": rate, "authenticate_limit": window}),
                }),
            2 => object_of(&["data_kb", "sms"]),
            2 => object_of(&["seconds", "months", "to"]),
            2 => proptest::collection::btree_map(key(), value(), 0..5)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
            // A fault whose body is as long as allowed, or longer.
            1 => (prop_oneof![Just(MAX_FAULT_BODY_BYTES), Just(MAX_FAULT_BODY_BYTES + 1)], 1u64..3)
                .prop_map(|(len, count)| json!({"fault": "status", "status": 503, "count": count, "body": "x".repeat(len)})),
        ];
        let raw = prop_oneof![
            Just(b"".to_vec()),
            Just(b"not json".to_vec()),
            Just(b"NaN".to_vec()),
            Just(b"{\"count\": NaN}".to_vec()),
            Just(b"{\"seconds\": 1e400}".to_vec()),
            Just(b"[1, 2]".to_vec()),
            Just(b"\xff\xfe".to_vec()),
            Just("[".repeat(10_000).into_bytes()),
            Just(vec![b' '; MAX_REQUEST_BYTES + 1]),
            proptest::collection::vec(any::<u8>(), 0..64),
        ];
        prop_oneof![
            8 => json.prop_map(|v| v.to_string().into_bytes()),
            2 => raw,
        ]
    }

    fn method() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            8 => Just(b"POST".to_vec()),
            3 => Just(b"GET".to_vec()),
            1 => prop_oneof![
                Just(b"PUT".to_vec()),
                Just(b"DELETE".to_vec()),
                Just(b"PATCH".to_vec()),
                Just(b"HEAD".to_vec()),
                Just(b"OPTIONS".to_vec()),
                Just(b"TRACE".to_vec()),
                Just(b"CONNECT".to_vec()),
                Just(b"get".to_vec()),
                Just(b"FOO".to_vec()),
            ],
        ]
    }

    fn segment() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            6 => prop_oneof![
                Just("supersim"),
                Just("kore"),
                Just("twilio"),
                Just("emnify"),
                Just("sixfab"),
                Just("edgeiq"),
                Just("clock"),
                Just("state"),
                Just("providers"),
                Just("pump-01"),
                Just("1004"),
            ]
            .prop_map(|s| s.as_bytes().to_vec()),
            1 => prop_oneof![
                Just(b"%FF".to_vec()),
                Just(b"%C3%28".to_vec()),
                Just(b"%00".to_vec()),
                Just(b"\xff".to_vec()),
                Just("é".as_bytes().to_vec()),
                Just(b"".to_vec()),
                Just(b"..".to_vec()),
                Just(b"a b".to_vec()),
            ],
            1 => proptest::collection::vec(any::<u8>(), 0..6),
        ]
    }

    fn path() -> impl Strategy<Value = Vec<u8>> {
        let provider = prop_oneof![
            Just("supersim"),
            Just("kore"),
            Just("twilio"),
            Just("emnify"),
            Just("sixfab"),
            Just("edgeiq"),
        ];
        let tail = prop_oneof![
            Just("/state"),
            Just("/requests"),
            Just("/faults"),
            Just("/limits"),
            Just("/ledger"),
            Just("/advance"),
            Just(""),
            Just("/"),
        ];
        let id = prop_oneof![
            Just("pump-01"),
            Just("pump-04"),
            Just("1004"),
            Just("1001"),
            Just("HS0")
        ];
        prop_oneof![
            8 => (provider.clone(), prop_oneof![3 => Just("/faults"), 1 => Just("/limits")])
                .prop_map(|(p, t)| format!("/v1/{p}{t}").into_bytes()),
            2 => (provider.clone(), tail.clone()).prop_map(|(p, t)| format!("/v1/{p}{t}").into_bytes()),
            2 => prop_oneof![
                Just("/v1/clock/advance"),
                Just("/v1/clock"),
                Just("/v1/state"),
                Just("/v1/providers"),
            ]
            .prop_map(|p| p.as_bytes().to_vec()),
            2 => (provider, id).prop_map(|(p, id)| format!("/v1/{p}/sims/{id}/usage").into_bytes()),
            2 => (segment(), tail).prop_map(|(seg, tail)| [b"/v1/".as_slice(), &seg, tail.as_bytes()].concat()),
            1 => (segment(), segment()).prop_map(|(p, id)| [b"/v1/".as_slice(), &p, b"/sims/", &id, b"/usage"].concat()),
            1 => proptest::collection::vec(any::<u8>(), 0..24).prop_map(|p| [b"/".as_slice(), &p].concat()),
        ]
    }

    fn content_type() -> impl Strategy<Value = Option<&'static str>> {
        prop_oneof![
            3 => Just(Some("application/json")),
            1 => Just(None),
            1 => Just(Some("text/plain")),
        ]
    }

    type Request = (Vec<u8>, Vec<u8>, Option<&'static str>, Vec<u8>);

    fn request() -> impl Strategy<Value = Request> {
        (method(), path(), content_type(), body())
    }

    /// Every fault queue of every provider, against its documented bound.
    fn check_bounds(admin: &Admin) -> Result<(), TestCaseError> {
        for p in PROVIDERS {
            let faults = admin.sandboxes.server(p).unwrap().state_json()["faults"].clone();
            let n = |k: &str| faults[k].as_u64().unwrap() as usize;
            prop_assert!(n("drop_next") <= MAX_FAULT_COUNT, "{p}: {faults}");
            prop_assert!(n("delay_next") <= MAX_FAULT_COUNT, "{p}: {faults}");
            prop_assert!(
                faults["fail_next"].as_array().unwrap().len() <= MAX_FAULT_COUNT,
                "{p}"
            );
            prop_assert!(
                n("fail_body_bytes") <= simsandbox::MAX_QUEUED_FAULT_BODY_BYTES,
                "{p}"
            );
            prop_assert!(n("delay_ms") as u64 <= MAX_DELAY_MS, "{p}: {faults}");
        }
        Ok(())
    }

    /// The admin API over any sequence of generated requests (methods, paths with invalid
    /// UTF-8 and raw bytes, JSON bodies with huge, negative, fractional and NaN-like numbers
    /// and values of the wrong type, bodies that are not JSON or too large): nothing panics
    /// (every request is answered), every answer is a 2xx or the JSON error with a 4xx, and
    /// every fault queue stays under its documented bound.
    #[test]
    fn generated_admin_requests_never_panic_and_answer_2xx_or_the_json_4xx() {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let cases = if std::env::var_os("CI").is_some() {
            256
        } else {
            64
        };
        let mut runner = TestRunner::new(RunnerConfig {
            cases,
            failure_persistence: None,
            ..RunnerConfig::default()
        });
        let sequences = proptest::collection::vec(request(), 1..16);
        runner
            .run(&sequences, |requests| {
                rt.block_on(async {
                    let running = start().await;
                    for (method, path, ct, body) in &requests {
                        let mut head =
                            [method.as_slice(), b" ", path, b" HTTP/1.1\r\nhost: admin"].concat();
                        if let Some(ct) = ct {
                            head.extend_from_slice(format!("\r\ncontent-type: {ct}").as_bytes());
                        }
                        let answer = send(running.addr, &head, body).await.ok_or_else(|| {
                            TestCaseError::fail(format!(
                                "no answer to {:?}",
                                String::from_utf8_lossy(&head)
                            ))
                        })?;
                        check_shape(method, &answer).map_err(|e| {
                            TestCaseError::fail(format!(
                                "{e}\nrequest: {:?}",
                                String::from_utf8_lossy(&head)
                            ))
                        })?;
                        check_bounds(&running.admin)?;
                    }
                    // Still serving after all that.
                    let answer = send(running.addr, b"GET /v1/clock HTTP/1.1\r\nhost: admin", b"")
                        .await
                        .unwrap();
                    prop_assert_eq!(answer.status, 200);
                    Ok(())
                })
            })
            .unwrap();
    }

    /// The fault queues' bound, met head-on: a count past it is refused naming `count` and the
    /// bound, the queue fills to exactly the bound, and one more is refused without a change.
    #[tokio::test]
    async fn a_fault_queue_fills_to_its_bound_and_no_further() {
        let running = start().await;
        let post = |body: Value| {
            let addr = running.addr;
            async move {
                let body = body.to_string();
                send(
                    addr,
                    b"POST /v1/emnify/faults HTTP/1.1\r\nhost: a\r\ncontent-type: application/json",
                    body.as_bytes(),
                )
                .await
                .unwrap()
            }
        };
        let refused = post(json!({"fault": "drop", "count": 10_001})).await;
        assert_eq!(refused.status, 400);
        let message: Value = serde_json::from_slice(&refused.body).unwrap();
        assert_eq!(
            message["error"]["message"],
            "count must be a whole number from 1 to 10000 (found 10001)"
        );
        for count in [9_999, 1] {
            let a = post(json!({"fault": "drop", "count": count})).await;
            assert_eq!(a.status, 200, "{:?}", String::from_utf8_lossy(&a.body));
        }
        let full = post(json!({"fault": "drop", "count": 1})).await;
        assert_eq!(full.status, 400);
        let message: Value = serde_json::from_slice(&full.body).unwrap();
        assert_eq!(
            message["error"]["message"],
            "count: the drop queue covers at most 10000 requests: 10000 wait, so at most 0 more"
        );
        let server = running.admin.sandboxes.server("emnify").unwrap();
        assert_eq!(server.state_json()["faults"]["drop_next"], 10_000);
        // Status faults: one body for all of them, so 10,000 cost what one does.
        let a = post(json!({"fault": "status", "status": 503, "count": 10_000})).await;
        assert_eq!(a.status, 200);
        let faults = server.state_json()["faults"].clone();
        assert_eq!(faults["fail_next"].as_array().unwrap().len(), 10_000);
        assert_eq!(faults["fail_body_bytes"], 38);
    }
}
