//! Shared helpers of the integration tests: a client against a local mock server, fixtures, and
//! an exact-body matcher.
#![allow(dead_code)]

use std::time::Duration;

use edgeiq_client::{Client, SimRecord};
use httpmock::prelude::*;
use serde_json::Value;
use simcore::retry::RetryPolicy;

/// The API token every test client uses; no output may ever contain it.
pub const SENTINEL: &str = "SENTINEL-edgeiq-token-4b1d";
/// A valid system id.
pub const ID: &str = "65f1c0ffee0123456789abcd";
/// The base path of the platform API, as in the real base URL.
pub const BASE: &str = "/api/v1/platform";
/// The path of the SIM record `ID`.
pub const SIM_PATH: &str = "/api/v1/platform/sims/65f1c0ffee0123456789abcd";

/// A fast retry policy: `n` attempts, backoff of a few milliseconds.
pub fn fast_retry(n: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(n)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
}

/// A client with the sentinel token against `server`, under the platform base path.
pub fn client(server: &MockServer) -> Client {
    client_with(server, 3)
}

/// The same with `attempts` attempts per request.
pub fn client_with(server: &MockServer, attempts: u32) -> Client {
    Client::builder()
        .api_token(SENTINEL)
        .base_url(format!("{}{BASE}", server.base_url()))
        .retry(fast_retry(attempts))
        .build()
        .unwrap()
}

/// A fixture from `tests/fixtures/`.
pub fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// The full record fixture: every writable, read-only and some unknown fields.
pub fn record() -> SimRecord {
    serde_json::from_value(fixture("sim_record.json")).unwrap()
}

/// A matcher: the request body is exactly this JSON (a key set to `null` and an absent key
/// differ).
pub fn body_is(expected: Value) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync + 'static {
    move |req: &HttpMockRequest| {
        serde_json::from_slice::<Value>(req.body_ref()).ok() == Some(expected.clone())
    }
}

/// A mock that answers anything; tests assert it was called 0 times.
pub async fn catch_all(server: &MockServer) -> httpmock::Mock<'_> {
    server
        .mock_async(|_when, then| {
            then.status(200).json_body(serde_json::json!({}));
        })
        .await
}
