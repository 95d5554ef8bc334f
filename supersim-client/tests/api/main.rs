//! The client against a local mock of Twilio's Super SIM API: exact requests, typed answers.

mod kore;
mod list;
mod options;
mod provider;
mod read;
mod update;

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use httpmock::MockServer;
use serde_json::Value;
use simcore::retry::RetryPolicy;
use supersim_client::{Client, Sim};

/// The account the client authenticates as.
pub const ACCOUNT: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// A subaccount a SIM can move to.
pub const OTHER_ACCOUNT: &str = "ACbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
/// The auth token: a sentinel that must never appear in any output.
pub const TOKEN: &str = "SENTINEL-auth-token-5f0c2d";
/// A Sim SID.
pub const SIM: &str = "HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// The path of that SIM.
pub const SIM_PATH: &str = "/v1/Sims/HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// A Fleet SID.
pub const FLEET: &str = "HFaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
/// The content type of update bodies.
pub const FORM: &str = "application/x-www-form-urlencoded";
/// The User-Agent the client sends.
pub const USER_AGENT: &str = concat!("supersim-client/", env!("CARGO_PKG_VERSION"));

/// A retry policy that keeps tests fast.
pub fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(attempts)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
}

/// A client for the mock server, with the sentinel token and fast retries.
pub fn client(server: &MockServer) -> Client {
    Client::builder()
        .account(ACCOUNT, TOKEN)
        .base_url(server.base_url())
        .retry(fast_retry(3))
        .build()
        .expect("client")
}

/// The `Authorization` header the client must send.
pub fn basic() -> String {
    let raw = format!("{ACCOUNT}:{TOKEN}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(raw)
    )
}

fn fixture_path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// A fixture's text.
pub fn fixture(name: &str) -> String {
    std::fs::read_to_string(fixture_path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A fixture as JSON.
pub fn fixture_json(name: &str) -> Value {
    serde_json::from_str(&fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// A fixture read as a typed Sim.
pub fn fixture_sim(name: &str) -> Sim {
    serde_json::from_value(fixture_json(name)).unwrap()
}

/// The fixtures copied from the spec are still the spec's own examples (the spec is vendored in
/// `tests/specs`).
#[test]
fn fixtures_are_the_spec_examples() {
    let spec_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/specs/twilio_supersim_v1.json");
    let text = std::fs::read_to_string(&spec_path).expect("the vendored Twilio spec");
    let spec: Value = serde_json::from_str(&text).unwrap();
    let example = |path: &str, method: &str, status: &str, name: &str| -> Value {
        spec["paths"][path][method]["responses"][status]["content"]["application/json"]["examples"]
            [name]["value"]
            .clone()
    };
    let cases = [
        (
            "update_unique_name_200.json",
            example("/v1/Sims/{Sid}", "post", "200", "updateUniqueName"),
        ),
        (
            "update_transfer_200.json",
            example(
                "/v1/Sims/{Sid}",
                "post",
                "200",
                "transferSimToAnotherAccount",
            ),
        ),
        (
            "update_status_202.json",
            example("/v1/Sims/{Sid}", "post", "202", "updateStatus"),
        ),
        (
            "fetch_200.json",
            example("/v1/Sims/{Sid}", "get", "200", "fetch"),
        ),
        (
            "list_by_fleet_sid_200.json",
            example("/v1/Sims", "get", "200", "readFullByFleetSid"),
        ),
    ];
    for (file, expected) in cases {
        assert!(
            expected.is_object(),
            "{file}: example missing from the spec"
        );
        assert_eq!(fixture_json(file), expected, "{file}");
    }
}
