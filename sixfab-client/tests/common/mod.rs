//! What the integration tests share: a client against a local mock server.

#![allow(dead_code)]

use std::time::Duration;

use httpmock::MockServer;
use simcore::retry::RetryPolicy;
use sixfab_client::Client;

/// An API key that must never be printed.
pub const SENTINEL: &str = "SENTINEL-sixfab-key-5d1e";

/// The User-Agent the client sends.
pub const USER_AGENT: &str = concat!("sixfab-client/", env!("CARGO_PKG_VERSION"));

/// A retry policy that does not slow the tests down.
pub fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(attempts)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
}

/// A client for the mock server's `/v1`, like the real base URL.
pub fn client(server: &MockServer) -> Client {
    client_with_attempts(server, 1)
}

/// The same with `attempts` attempts per request.
pub fn client_with_attempts(server: &MockServer, attempts: u32) -> Client {
    Client::builder()
        .api_key(SENTINEL)
        .base_url(server.url("/v1"))
        .retry(fast_retry(attempts))
        .build()
        .expect("client")
}

/// A fixture's text.
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}
