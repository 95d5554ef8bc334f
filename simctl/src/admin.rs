//! The admin API: plain JSON over HTTP on 127.0.0.1, beside the four sandboxes, to read their
//! state and request logs, inject faults and rate limits, and move the shared clock.
//!
//! | request | what it does |
//! |---|---|
//! | `GET /v1/providers` | each provider's base URL, throwaway credentials and environment |
//! | `GET /v1/state` | every provider's SIMs (Sixfab: assets) and the clock |
//! | `GET /v1/{provider}/state` | one provider's SIMs |
//! | `GET /v1/{provider}/requests` | the request log (secret headers and credential bodies redacted) and counters |
//! | `DELETE /v1/{provider}/requests` | forgets the request log |
//! | `POST /v1/{provider}/faults` | `{"fault": "status", "status": 503, "count": 2}`, `{"fault": "drop", "count": 1}`, `{"fault": "delay", "ms": 200, "count": 1}` (no `count`: every request), `{"fault": "clear"}` |
//! | `POST /v1/{provider}/limits` | `{"rate_limit": {"per_second": 5, "burst": 5}}` or `{"rate_limit": null}`; emnify also `list_rate_limit` and `authenticate_limit` (`{"calls": 100, "per_seconds": 300}`) |
//! | `POST /v1/{provider}/sims/{id}/usage` | Super SIM and emnify: a device used the SIM, `{"data_kb": 250, "sms": 0}` |
//! | `GET /v1/clock` | the shared clock |
//! | `POST /v1/clock/advance` | `{"seconds": N}`, `{"months": N}` or `{"to": "RFC 3339"}` |
//! | `GET /v1/sixfab/ledger` | what the Sixfab sandbox has charged |
//!
//! `{provider}` is `supersim`, `emnify`, `sixfab` or `edgeiq` (`kore` and `twilio` name the
//! Super SIM sandbox too). Errors are `{"error": {"message": "..."}}` with a 4xx status.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};
use simsandbox::{ClockError, RateLimit};

use crate::sandbox::{PROVIDERS, Sandboxes, request_json};

/// What the handlers share.
pub struct Admin {
    /// The sandboxes.
    pub sandboxes: Sandboxes,
    /// The admin API's own base URL.
    pub url: String,
}

type Shared = State<Arc<Admin>>;

/// The admin API's routes.
pub fn router(admin: Arc<Admin>) -> Router {
    Router::new()
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
        .with_state(admin)
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
        other => Err(error(
            StatusCode::NOT_FOUND,
            format!("no provider {other:?}: one of supersim, emnify, sixfab, edgeiq"),
        )),
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
    }))
}

async fn clear_requests(State(a): Shared, Path(name): Path<String>) -> Answer {
    let p = provider(&name)?;
    if let Some(server) = a.sandboxes.server(p) {
        server.clear_requests();
    }
    ok(json!({"provider": p, "cleared": true}))
}

fn count(body: &Value) -> Result<Option<usize>, Refusal> {
    match body.get("count") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .filter(|n| *n >= 1)
            .map(|n| Some(n as usize))
            .ok_or_else(|| bad("count must be a whole number of 1 or more")),
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
            let Some(status) = body
                .get("status")
                .and_then(Value::as_u64)
                .filter(|s| (100..=599).contains(s))
            else {
                return Err(bad("status must be an HTTP status from 100 to 599"));
            };
            let n = n.unwrap_or(1);
            match body.get("body").and_then(Value::as_str) {
                None => server.fail_next(n, status as u16),
                Some(text) => {
                    let ct = match body.get("content_type").and_then(Value::as_str) {
                        None | Some("application/json") => "application/json",
                        Some("text/html") => "text/html",
                        Some("text/plain") => "text/plain",
                        Some(other) => {
                            return Err(error(
                                StatusCode::BAD_REQUEST,
                                format!(
                                    "content_type must be application/json, text/html or text/plain (found {other:?})"
                                ),
                            ));
                        }
                    };
                    server.fail_next_with(n, status as u16, Bytes::from(text.to_owned()), ct);
                }
            }
            ok(json!({"provider": p, "fault": "status", "status": status, "count": n}))
        }
        Some("drop") => {
            let n = n.unwrap_or(1);
            server.drop_next(n);
            ok(json!({"provider": p, "fault": "drop", "count": n}))
        }
        Some("delay") => {
            let Some(ms) = body
                .get("ms")
                .and_then(Value::as_u64)
                .filter(|ms| *ms <= 600_000)
            else {
                return Err(bad(
                    "ms must be a whole number of milliseconds up to 600000",
                ));
            };
            let d = Duration::from_millis(ms);
            match n {
                Some(n) => server.delay_next(n, d),
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
fn rate_limit(v: &Value, default_retry_after: bool) -> Result<Option<RateLimit>, Refusal> {
    if v.is_null() {
        return Ok(None);
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
    let (per_second, burst) = crate::config::check_rate_limit(per_second, burst).map_err(bad)?;
    let retry_after = v
        .get("retry_after")
        .and_then(Value::as_bool)
        .unwrap_or(default_retry_after);
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
        return Err(bad(format!(
            "{p} has no limit {k:?}: it takes {}",
            known.join(", ")
        )));
    }
    let mut set = Vec::new();
    if let Some(v) = body.get("rate_limit") {
        // Twilio sends Retry-After; the others document none.
        match rate_limit(v, p == "supersim") {
            Ok(limit) => {
                if let Some(s) = a.sandboxes.server(p) {
                    s.set_rate_limit(limit);
                }
                set.push("rate_limit");
            }
            Err(r) => return Err(r),
        }
    }
    if let Some(v) = body.get("list_rate_limit") {
        match rate_limit(v, false) {
            Ok(limit) => {
                a.sandboxes.emnify.set_list_rate_limit(limit);
                set.push("list_rate_limit");
            }
            Err(r) => return Err(r),
        }
    }
    if let Some(v) = body.get("authenticate_limit") {
        let limit = if v.is_null() {
            None
        } else {
            let calls = v
                .get("calls")
                .and_then(Value::as_u64)
                .filter(|c| (1..=u32::MAX as u64).contains(c));
            let per = v
                .get("per_seconds")
                .and_then(Value::as_u64)
                .filter(|s| *s >= 1);
            let (Some(calls), Some(per)) = (calls, per) else {
                return Err(bad(
                    "authenticate_limit must be {\"calls\": N, \"per_seconds\": S}, both 1 or more, or null",
                ));
            };
            Some(emnify_client::sandbox::AuthenticateLimit {
                calls: calls as u32,
                per: Duration::from_secs(per),
            })
        };
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
            Some(s) => clock.advance(Duration::from_secs_f64(s.min(1e12))),
            None => {
                return Err(bad("seconds must be a number of 0 or more"));
            }
        },
        "months" => match body["months"].as_u64().and_then(|m| u32::try_from(m).ok()) {
            Some(m) => clock.advance_months(m),
            None => {
                return Err(bad("months must be a whole number of 0 or more"));
            }
        },
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
            Err(error(StatusCode::BAD_REQUEST, e.to_string()))
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
    let data_kb = body.get("data_kb").and_then(Value::as_u64).unwrap_or(0);
    let sms = body
        .get("sms")
        .and_then(Value::as_u64)
        .and_then(|s| u32::try_from(s).ok())
        .unwrap_or(0);
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
        None => Err(error(
            StatusCode::NOT_FOUND,
            format!("{p} has no SIM {id:?}"),
        )),
    }
}
