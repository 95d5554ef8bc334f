//! Sixfab's error answers as typed errors: 404 naming the asset, 401, 422 in both FastAPI shapes,
//! `{"message": ..}`, a 500 HTML page, and retries of 503.

mod common;

use common::{SENTINEL, client, client_with_attempts, fixture};
use httpmock::prelude::*;
use serde_json::json;
use simcore::Error;
use sixfab_client::SettableStatus;

/// Sends a status update of `id` and returns the error.
async fn update_error(server: &MockServer, id: &str) -> Error {
    client(server)
        .update_asset(id)
        .status(SettableStatus::Active)
        .send()
        .await
        .expect_err("an error answer")
}

#[tokio::test]
async fn not_found_names_the_asset_on_update_and_get() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.path("/v1/assets/SN%2F404");
            then.status(404)
                .json_body(json!({"detail": "Asset not found"}));
        })
        .await;
    let err = update_error(&server, "SN/404").await;
    assert!(err.is_not_found());
    assert!(!err.is_retryable());
    let api = err.api().unwrap();
    assert_eq!((api.provider, api.status), ("sixfab", 404));
    assert_eq!(api.message, "asset \"SN/404\" not found: Asset not found");
    assert_eq!(
        err.to_string(),
        "sixfab: HTTP 404: asset \"SN/404\" not found: Asset not found; retrying will not help"
    );

    let err = client(&server).get_asset("SN/404").await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "sixfab: HTTP 404: asset \"SN/404\" not found: Asset not found; retrying will not help"
    );
    assert_eq!(m.calls_async().await, 2);
}

#[tokio::test]
async fn unauthorized_is_typed_and_never_shows_the_key() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::PATCH)
                .path("/v1/assets/SN123")
                .header("x-api-key", SENTINEL);
            then.status(401)
                .json_body(json!({"detail": "Invalid API key"}));
        })
        .await;
    let err = update_error(&server, "SN123").await;
    assert!(err.is_unauthorized());
    assert_eq!(
        err.to_string(),
        "sixfab: HTTP 401: Invalid API key; retrying will not help"
    );
    assert!(!err.to_string().contains(SENTINEL));
    assert!(!format!("{err:?}").contains(SENTINEL));
    assert_eq!(m.calls_async().await, 1);
}

#[tokio::test]
async fn unprocessable_in_both_fastapi_shapes() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/v1/assets/list-shape");
            then.status(422)
                .header("content-type", "application/json")
                .body(fixture("error_422_list.json"));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.path("/v1/assets/string-shape");
            then.status(422)
                .json_body(json!({"detail": "At least one field must be provided"}));
        })
        .await;

    let err = update_error(&server, "list-shape").await;
    let api = err.api().unwrap();
    assert_eq!(api.status, 422);
    assert_eq!(
        api.message,
        "body.name: ensure this value has at least 3 characters; \
         body.supersim.network_group: network group not found"
    );
    assert_eq!(
        api.details.as_ref().unwrap()[1]["loc"],
        json!(["body", "supersim", "network_group"])
    );
    assert!(!err.is_retryable());

    let err = update_error(&server, "string-shape").await;
    assert_eq!(
        err.to_string(),
        "sixfab: HTTP 422: At least one field must be provided; retrying will not help"
    );
    assert_eq!(err.api().unwrap().details, None);
}

#[tokio::test]
async fn a_message_body_is_read() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.path("/v1/assets/SN123");
            then.status(400)
                .json_body(json!({"message": "Invalid network group"}));
        })
        .await;
    let err = update_error(&server, "SN123").await;
    assert_eq!(
        err.to_string(),
        "sixfab: HTTP 400: Invalid network group; retrying will not help"
    );
}

#[tokio::test]
async fn an_html_500_is_an_api_error_and_not_retried() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.path("/v1/assets/SN123");
            then.status(500)
                .header("content-type", "text/html")
                .body(fixture("error_500.html"));
        })
        .await;
    let c = client_with_attempts(&server, 3);
    let err = c
        .update_asset("SN123")
        .status(SettableStatus::Inactive)
        .send()
        .await
        .unwrap_err();
    match &err {
        Error::Api(api) => {
            assert_eq!(api.status, 500);
            assert_eq!(api.message, "HTML page: 500 Internal Server Error");
            assert_eq!(api.attempts, 1);
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retryable());
    assert_eq!(m.calls_async().await, 1);
}

#[tokio::test]
async fn gateway_errors_are_retried_per_the_policy() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.path("/v1/assets/SN123");
            then.status(503).header("retry-after", "0").body("busy");
        })
        .await;
    let err = client_with_attempts(&server, 3)
        .get_asset("SN123")
        .await
        .unwrap_err();
    assert!(err.is_retryable());
    assert_eq!(err.api().unwrap().attempts, 3);
    assert_eq!(err.api().unwrap().message, "busy");
    assert_eq!(m.calls_async().await, 3);
}
