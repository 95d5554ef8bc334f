//! The token and password never show: not in `Debug` of the builder, client or update, not in
//! any error's `Display` or `Debug`, a 401 included.

mod common;

use std::time::Duration;

use common::*;
use edgeiq_client::Client;
use httpmock::prelude::*;
use serde_json::json;

fn assert_hidden(text: &str) {
    assert!(!text.contains("SENTINEL"), "a secret leaked: {text}");
}

#[tokio::test]
async fn nothing_prints_the_token() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET);
            then.status(401)
                .json_body(json!({"message": "Unauthorized"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(PUT);
            then.status(401);
        })
        .await;

    let builder = Client::builder()
        .api_token(SENTINEL)
        .base_url(server.base_url())
        .timeout(Duration::from_secs(5));
    let builder_debug = format!("{builder:?}");
    assert_hidden(&builder_debug);
    assert!(builder_debug.contains("[redacted]"), "{builder_debug}");

    let c = client(&server);
    let client_debug = format!("{c:?}");
    assert_hidden(&client_debug);
    assert!(client_debug.contains("redacted"), "{client_debug}");
    assert_hidden(&format!("{:?}", c.update_sim(ID).status("active")));

    let read = c.get_sim(ID).await.unwrap_err();
    let write = c.update_sim(ID).status("active").send().await.unwrap_err();
    let invalid = c.update_sim("nope").send().await.unwrap_err();
    for err in [read, write, invalid] {
        assert_hidden(&err.to_string());
        assert_hidden(&format!("{err:?}"));
    }
}

#[tokio::test]
async fn a_bad_token_is_a_config_error_that_does_not_quote_it() {
    let err = Client::builder()
        .api_token("SENTINEL-with\nnewline")
        .build()
        .unwrap_err();
    assert!(matches!(err, simcore::Error::Config(_)), "{err:?}");
    assert_hidden(&err.to_string());
    assert_hidden(&format!("{err:?}"));
}

#[tokio::test]
async fn the_login_client_hides_the_password_and_session() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/user/authenticate");
            then.status(200).json_body(fixture("login_response.json"));
        })
        .await;
    let c = Client::builder()
        .base_url(server.base_url())
        .login("ops@example.com", "SENTINEL-password-77e0", None)
        .await
        .unwrap();
    assert_hidden(&format!("{c:?}"));
}

#[test]
fn missing_token_is_a_config_error() {
    let err = Client::builder().build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "configuration error: no EdgeIQ API token: set one with ClientBuilder::api_token or EDGEIQ_API_TOKEN, or log in"
    );
    let err = Client::builder().api_token("").build().unwrap_err();
    assert_eq!(
        err.to_string(),
        "configuration error: the EdgeIQ API token is empty"
    );
}

#[test]
fn from_env_names_the_variable() {
    // Tests do not set variables (that is unsafe with threads); when it is not set, the error
    // names it, and when it is, a client is built.
    match std::env::var("EDGEIQ_API_TOKEN") {
        Err(_) => {
            let err = Client::from_env().unwrap_err();
            assert_eq!(
                err.to_string(),
                "configuration error: environment variable EDGEIQ_API_TOKEN is not set"
            );
        }
        Ok(v) if v.is_empty() => assert!(Client::from_env().is_err()),
        Ok(_) => assert_eq!(
            Client::from_env().unwrap().base_url(),
            edgeiq_client::DEFAULT_BASE_URL
        ),
    }
}
