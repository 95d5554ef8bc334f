//! Settings that contradict each other, or that one of them would make ignored, are refused by
//! `build()` with a configuration error that names both, instead of the last call silently
//! winning. One test per such pair, on every client where it can arise.

use std::sync::Arc;
use std::time::Duration;

use simcore::Error;
use simcore::http::{MemoryTokenStore, Proxy};

const AC: &str = "AC0123456789abcdef0123456789abcdef";
const SK: &str = "SK0123456789abcdef0123456789abcdef";

/// The configuration error's text, which must name both settings.
fn refused<T: std::fmt::Debug>(result: Result<T, Error>, first: &str, second: &str) {
    match result {
        Err(Error::Config(m)) => {
            assert!(m.contains(first) && m.contains(second), "{m}");
            assert!(m.contains("cannot be used together"), "{m}");
        }
        other => panic!("expected a configuration error naming {first} and {second}: {other:?}"),
    }
}

fn store() -> Arc<MemoryTokenStore> {
    Arc::new(MemoryTokenStore::new())
}

#[test]
fn supersim_refuses_two_kinds_of_credentials() {
    let b = || supersim_client::Client::builder();
    refused(
        b().kore("client-1", "s").account(AC, "t").build(),
        "kore",
        "account",
    );
    refused(
        b().account(AC, "t").kore("client-1", "s").build(),
        "account",
        "kore",
    );
    refused(
        b().account(AC, "t").api_key(SK, "s").build(),
        "account",
        "api_key",
    );
    refused(
        b().api_key(SK, "s").kore("c", "s").build(),
        "api_key",
        "kore",
    );
    // The same kind twice is a correction, not a conflict: the last one is used.
    let c = b().account(AC, "old").account(AC, "new").build().unwrap();
    assert_eq!(c.dialect().as_str(), "twilio");
}

#[test]
fn supersim_refuses_kore_settings_with_twilio_credentials() {
    let b = || supersim_client::Client::builder();
    refused(
        b().account(AC, "t")
            .kore_token_url("http://127.0.0.1:9/token")
            .build(),
        "kore_token_url",
        "account",
    );
    refused(
        b().api_key(SK, "s").token_store(store(), "k").build(),
        "token_store",
        "api_key",
    );
    // With KORE's credentials both are what they are for.
    let c = b()
        .kore("client-1", "s")
        .kore_token_url("http://127.0.0.1:9/token")
        .token_store(store(), "client-1")
        .build()
        .unwrap();
    assert_eq!(c.dialect().as_str(), "kore");
}

#[test]
fn supersim_keeps_a_base_url_that_was_set_even_twilio_s() {
    let c = supersim_client::Client::builder()
        .kore("client-1", "s")
        .base_url(supersim_client::client::DEFAULT_BASE_URL)
        .build()
        .unwrap();
    assert_eq!(c.base_url().as_str(), "https://supersim.twilio.com/");
    let c = supersim_client::Client::builder()
        .kore("client-1", "s")
        .build()
        .unwrap();
    assert_eq!(
        c.base_url().as_str(),
        "https://supersim.api.korewireless.com/"
    );
}

#[test]
fn emnify_refuses_two_kinds_of_credentials() {
    let b = || emnify_client::Client::builder();
    refused(
        b().application_token("t")
            .user_credentials("ops", "pw")
            .build(),
        "application_token",
        "user_credentials",
    );
    refused(
        b().user_credentials("ops", "pw")
            .application_token("t")
            .build(),
        "user_credentials",
        "application_token",
    );
}

#[tokio::test]
async fn edgeiq_refuses_a_token_store_or_a_login_beside_an_api_token() {
    refused(
        edgeiq_client::Client::builder()
            .api_token("t")
            .token_store(store(), "k")
            .build(),
        "token_store",
        "api_token",
    );
    // A login beside an API token: refused before anything is sent (nothing listens on the
    // base URL's port, and the error is not a connection error).
    refused(
        edgeiq_client::Client::builder()
            .base_url("http://127.0.0.1:9")
            .api_token("t")
            .login("ops@example.com", "pw", None)
            .await,
        "api_token",
        "login",
    );
}

#[test]
fn every_client_refuses_settings_its_own_http_client_would_ignore() {
    let own = reqwest::Client::new;
    // Through each client's builder: the transport settings are shared.
    refused(
        sixfab_client::Client::builder()
            .api_key("k")
            .http_client(own())
            .connect_timeout(Duration::from_secs(1))
            .build(),
        "connect_timeout",
        "http_client",
    );
    refused(
        emnify_client::Client::builder()
            .application_token("t")
            .http_client(own())
            .no_proxy()
            .build(),
        "no_proxy",
        "http_client",
    );
    refused(
        edgeiq_client::Client::builder()
            .api_token("t")
            .http_client(own())
            .proxy(Proxy::new("http://127.0.0.1:3128").unwrap())
            .build(),
        "proxy",
        "http_client",
    );
    refused(
        supersim_client::Client::builder()
            .account(AC, "t")
            .connect_timeout(Duration::from_secs(1))
            .http_client(own())
            .build(),
        "connect_timeout",
        "http_client",
    );
    // The timeout and the deadline still apply with your own client: not refused.
    assert!(
        sixfab_client::Client::builder()
            .api_key("k")
            .http_client(own())
            .timeout(Duration::from_secs(1))
            .deadline(Duration::from_secs(2))
            .build()
            .is_ok()
    );
}
