//! The API key never shows: not in the `Debug` of the client, its builder or an update builder,
//! not in the `Display` or `Debug` of any error, a 401 included.

mod common;

use common::{SENTINEL, client};
use httpmock::prelude::*;
use serde_json::json;
use sixfab_client::{Client, SettableStatus};

fn assert_hidden(what: &str, text: &str) {
    assert!(!text.contains(SENTINEL), "{what} shows the key: {text}");
    assert!(
        !text.contains("5d1e"),
        "{what} shows part of the key: {text}"
    );
}

#[tokio::test]
async fn the_key_is_never_printed() {
    let builder = Client::builder()
        .api_key(SENTINEL)
        .base_url("http://127.0.0.1:9/v1");
    let shown = format!("{builder:?}");
    assert_hidden("builder Debug", &shown);
    assert!(shown.contains("[redacted]"), "{shown}");

    let c = builder.build().unwrap();
    let shown = format!("{c:?} {c:#?}");
    assert_hidden("client Debug", &shown);
    assert!(shown.contains("[redacted]"), "{shown}");

    let update = c.update_asset("SN123").name("pump station 7");
    assert_hidden("update builder Debug", &format!("{update:?}"));

    // A refusal, a configuration error, a connection failure.
    let err = c.update_asset("SN123").send().await.unwrap_err();
    assert_hidden("refusal", &format!("{err} {err:?}"));
    let err = Client::builder()
        .api_key(SENTINEL)
        .base_url("http://example.com")
        .build()
        .unwrap_err();
    assert_hidden("config error", &format!("{err} {err:?}"));
    let err = Client::builder()
        .api_key(format!("{SENTINEL}\n"))
        .build()
        .unwrap_err();
    assert_hidden("bad key error", &format!("{err} {err:?}"));
    let unreachable = Client::builder()
        .api_key(SENTINEL)
        .base_url("http://127.0.0.1:9/v1")
        .retry(common::fast_retry(1))
        .build()
        .unwrap();
    let err = unreachable.get_asset("SN123").await.unwrap_err();
    assert_hidden("transport error", &format!("{err} {err:?}"));
}

#[tokio::test]
async fn a_401_does_not_echo_the_key() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.header("x-api-key", SENTINEL);
            then.status(401)
                .json_body(json!({"detail": "Could not validate credentials"}));
        })
        .await;
    let c = client(&server);
    for err in [
        c.get_asset("SN123").await.unwrap_err(),
        c.update_asset("SN123")
            .status(SettableStatus::Active)
            .send()
            .await
            .unwrap_err(),
    ] {
        assert!(err.is_unauthorized());
        assert_eq!(
            err.to_string(),
            "sixfab: HTTP 401: Could not validate credentials; retrying will not help"
        );
        assert_hidden("401", &format!("{err} {err:?}"));
    }
}
