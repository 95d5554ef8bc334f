//! Shared helpers of the integration tests: a mock emnify, tokens, a fast client.

#![allow(dead_code)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use emnify_client::Client;
use httpmock::Mock;
use httpmock::prelude::*;
use serde_json::{Value, json};
use simcore::retry::RetryPolicy;

/// The application token every test client uses; it must never show up in any output.
pub const APP_TOKEN: &str = "SENTINEL-APP-TOKEN-9f2c";
/// The user name and password of the user-credential tests.
pub const USERNAME: &str = "ops@example.com";
pub const PASSWORD: &str = "SENTINEL-PASSWORD-71aa";

pub const USER_AGENT: &str = concat!("emnify-client/", env!("CARGO_PKG_VERSION"));

/// A fast retry policy: `n` attempts, millisecond backoff.
pub fn fast_retry(n: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(n)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
}

/// A client with the sentinel application token, talking to `server`.
pub fn client(server: &MockServer) -> Client {
    Client::builder()
        .application_token(APP_TOKEN)
        .base_url(server.base_url())
        .retry(fast_retry(3))
        .build()
        .expect("client builds")
}

/// A JWT (unsigned for the purpose: emnify's signature is never checked by the client) whose
/// `exp` is `secs` from now; `name` makes tokens tell apart.
pub fn jwt(name: &str, secs_from_now: i64) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let payload = json!({"sub": name, "exp": now + secs_from_now});
    format!(
        "{}.{}.signature-{name}",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(payload.to_string())
    )
}

/// A long-lived token (4 hours).
pub fn fresh_jwt(name: &str) -> String {
    jwt(name, 4 * 3600)
}

/// `Bearer <token>`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// Mocks `POST /api/v1/authenticate` for the sentinel application token, answering `token`.
pub async fn mock_app_auth<'a>(server: &'a MockServer, token: &str) -> Mock<'a> {
    mock_auth(
        server,
        json!({"application_token": APP_TOKEN}),
        200,
        json!({"auth_token": token}),
    )
    .await
}

/// Mocks `POST /api/v1/authenticate` for an exact request body.
pub async fn mock_auth<'a>(
    server: &'a MockServer,
    request: Value,
    status: u16,
    answer: Value,
) -> Mock<'a> {
    server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/api/v1/authenticate")
                .header("content-type", "application/json")
                .header("user-agent", USER_AGENT)
                .header_missing("authorization")
                .json_body(request);
            then.status(status)
                .header("content-type", "application/json")
                .json_body(answer);
        })
        .await
}

/// Mocks `PATCH /api/v1/sim/{id}` with an exact body and bearer token, answering 204.
pub async fn mock_patch<'a>(server: &'a MockServer, id: u64, token: &str, body: Value) -> Mock<'a> {
    mock_patch_answer(server, id, token, body, 204, None).await
}

/// Mocks `PATCH /api/v1/sim/{id}` with an exact body and bearer token, answering as given.
pub async fn mock_patch_answer<'a>(
    server: &'a MockServer,
    id: u64,
    token: &str,
    body: Value,
    status: u16,
    answer: Option<(&str, &str)>,
) -> Mock<'a> {
    let auth = bearer(token);
    server
        .mock_async(|when, then| {
            when.method(PATCH)
                .path(format!("/api/v1/sim/{id}"))
                .header("authorization", auth)
                .header("content-type", "application/json")
                .header("user-agent", USER_AGENT)
                .json_body(body);
            let then = then.status(status);
            if let Some((content_type, text)) = answer {
                then.header("content-type", content_type).body(text);
            }
        })
        .await
}

/// Mocks any `PATCH /api/v1/sim/{id}`: for proving that nothing was sent.
pub async fn mock_any_patch(server: &MockServer, id: u64) -> Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(PATCH).path(format!("/api/v1/sim/{id}"));
            then.status(204);
        })
        .await
}

/// A fixture's text.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// A recorded answer of emnify's API (`tests/specs/emnify_sim_fixtures.json`), by the start of
/// its label: its status, headers (names as recorded) and body.
pub fn recorded(label: &str) -> (u16, Vec<(String, String)>, Value) {
    let path = format!(
        "{}/tests/specs/emnify_sim_fixtures.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let all: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let case = all["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["label"].as_str().is_some_and(|l| l.starts_with(label)))
        .unwrap_or_else(|| panic!("no recorded case {label:?}"));
    let response = &case["response"];
    let headers = response["headers"]
        .as_object()
        .map(|h| {
            h.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_owned()))
                .collect()
        })
        .unwrap_or_default();
    (
        response["status"].as_u64().unwrap() as u16,
        headers,
        response["body"].clone(),
    )
}
