//! Super SIM on KORE: the OAuth2 token request, the bearer header, the cache, refusals.

use std::sync::Arc;
use std::time::Duration;

use httpmock::Method::{GET, POST};
use httpmock::MockServer;
use serde_json::json;
use simcore::Error;
use supersim_client::{Client, SettableStatus};

use crate::{FORM, SIM, SIM_PATH, fast_retry, fixture};

const CLIENT_ID: &str = "kore-client-7";
const SECRET: &str = "SENTINEL-kore-secret-91c";
const TOKEN_PATH: &str = "/api-services/v1/auth/token";

fn kore(server: &MockServer) -> Client {
    Client::builder()
        .kore(CLIENT_ID, SECRET)
        .base_url(server.base_url())
        .kore_token_url(server.url(TOKEN_PATH))
        .retry(fast_retry(3))
        .build()
        .unwrap()
}

/// The exact body KORE's token endpoint receives.
fn token_body() -> String {
    format!("grant_type=client_credentials&client_id={CLIENT_ID}&client_secret={SECRET}")
}

async fn mock_token<'a>(
    server: &'a MockServer,
    token: &str,
    expires_in: u64,
) -> httpmock::Mock<'a> {
    let token = token.to_owned();
    server
        .mock_async(move |when, then| {
            when.method(POST)
                .path(TOKEN_PATH)
                .header("content-type", FORM)
                .body(token_body());
            then.status(200).json_body(json!({
                "access_token": token,
                "expires_in": expires_in,
                "token_type": "Bearer",
                "scope": "supersim",
            }));
        })
        .await
}

async fn mock_fetch<'a>(server: &'a MockServer, token: &str) -> httpmock::Mock<'a> {
    let bearer = format!("Bearer {token}");
    server
        .mock_async(move |when, then| {
            when.method(GET)
                .path(SIM_PATH)
                .header("authorization", bearer);
            then.status(200)
                .header("content-type", "application/json")
                .body(fixture("fetch_200.json"));
        })
        .await
}

#[tokio::test]
async fn the_token_request_and_the_bearer_header_are_exact() {
    let server = MockServer::start_async().await;
    let token = mock_token(&server, "tok-1", 3600).await;
    let fetch = mock_fetch(&server, "tok-1").await;
    let client = kore(&server);
    assert_eq!(client.dialect(), supersim_client::Dialect::Kore);
    let sim = client.get_sim(SIM).await.unwrap();
    assert_eq!(sim.sid.as_deref(), Some(SIM));
    client.get_sim(SIM).await.unwrap();
    token.assert_calls_async(1).await;
    fetch.assert_calls_async(2).await;
    assert_eq!(client.token_fetches(), 1);
}

#[tokio::test]
async fn a_thousand_concurrent_updates_on_a_fresh_client_cause_one_token_request() {
    let server = MockServer::start_async().await;
    let token = server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH).body(token_body());
            then.status(200)
                .delay(Duration::from_millis(100))
                .json_body(
                    json!({"access_token": "tok-1", "expires_in": 3600, "token_type": "Bearer"}),
                );
        })
        .await;
    let update = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(SIM_PATH)
                .header("authorization", "Bearer tok-1")
                .body("Status=active");
            then.status(202)
                .header("content-type", "application/json")
                .body(fixture("update_status_202.json"));
        })
        .await;
    let client = Arc::new(kore(&server));
    let tasks: Vec<_> = (0..1000)
        .map(|_| {
            let c = client.clone();
            tokio::spawn(async move {
                c.update_sim(SIM)
                    .status(SettableStatus::Active)
                    .send()
                    .await
                    .map(|o| o.is_pending())
            })
        })
        .collect();
    for t in tasks {
        assert!(t.await.unwrap().unwrap());
    }
    token.assert_calls_async(1).await;
    update.assert_calls_async(1000).await;
}

#[tokio::test]
async fn a_token_is_refreshed_before_it_expires() {
    let server = MockServer::start_async().await;
    let first = mock_token(&server, "tok-1", 1).await;
    let fetch1 = mock_fetch(&server, "tok-1").await;
    let client = kore(&server);
    client.get_sim(SIM).await.unwrap();
    client.get_sim(SIM).await.unwrap();
    first.assert_calls_async(1).await;
    first.delete_async().await;
    let second = mock_token(&server, "tok-2", 3600).await;
    let fetch2 = mock_fetch(&server, "tok-2").await;
    // Nine tenths of a one-second token: replaced before its end, never sent after it.
    tokio::time::sleep(Duration::from_millis(950)).await;
    client.get_sim(SIM).await.unwrap();
    second.assert_calls_async(1).await;
    fetch1.assert_calls_async(2).await;
    fetch2.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_401_causes_one_new_token_and_one_retry() {
    let server = MockServer::start_async().await;
    let first = mock_token(&server, "tok-old", 3600).await;
    let mut ok_old = mock_fetch(&server, "tok-old").await;
    let client = kore(&server);
    client.get_sim(SIM).await.unwrap();
    // KORE now refuses tok-old (revoked) and hands out tok-new.
    first.delete_async().await;
    ok_old.delete_async().await;
    let refused = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(SIM_PATH)
                .header("authorization", "Bearer tok-old");
            then.status(401)
                .json_body(json!({"code": 20003, "message": "Authenticate", "status": 401}));
        })
        .await;
    let second = mock_token(&server, "tok-new", 3600).await;
    let ok_new = mock_fetch(&server, "tok-new").await;
    client.get_sim(SIM).await.unwrap();
    refused.assert_calls_async(1).await;
    second.assert_calls_async(1).await;
    ok_new.assert_calls_async(1).await;
    assert_eq!(client.token_fetches(), 2);
    ok_old = mock_fetch(&server, "tok-old").await;
    client.get_sim(SIM).await.unwrap();
    ok_old.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_rejected_token_is_replaced_once_per_request() {
    let server = MockServer::start_async().await;
    let token = mock_token(&server, "tok-1", 3600).await;
    let refused = server
        .mock_async(|when, then| {
            when.method(GET).path(SIM_PATH);
            then.status(401)
                .json_body(json!({"code": 20003, "message": "Authenticate", "status": 401}));
        })
        .await;
    let client = kore(&server);
    let err = client.get_sim(SIM).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.api().unwrap().code, Some(20003));
    assert!(err.to_string().starts_with("kore: HTTP 401"), "{err}");
    // One request: the first token, refused; one new token; refused again; final.
    refused.assert_calls_async(2).await;
    token.assert_calls_async(2).await;
}

#[tokio::test]
async fn invalid_client_is_never_retried_and_names_the_client_id_only() {
    let server = MockServer::start_async().await;
    let token = server
        .mock_async(|when, then| {
            when.method(POST).path(TOKEN_PATH);
            // A server that quotes what it was sent.
            then.status(401).json_body(json!({
                "error": "invalid_client",
                "error_description": format!("Invalid client credentials: {}", token_body()),
            }));
        })
        .await;
    let api = server
        .mock_async(|when, then| {
            when.method(GET).path(SIM_PATH);
            then.status(200).body(fixture("fetch_200.json"));
        })
        .await;
    let client = kore(&server);
    for _ in 0..3 {
        let err = client.get_sim(SIM).await.unwrap_err();
        let a = err.api().expect("the token endpoint's answer");
        assert_eq!(
            (a.status, a.token.as_deref()),
            (401, Some("invalid_client"))
        );
        let shown = format!("{err} {err:?} {client:?}");
        assert!(shown.contains(CLIENT_ID), "{shown}");
        assert!(!shown.contains(SECRET), "{shown}");
        assert!(
            err.to_string().starts_with(
                "kore: HTTP 401 (invalid_client): KORE refused the credentials of API client kore-client-7 (invalid_client)"
            ),
            "{err}"
        );
    }
    // Refused once, remembered: never sent again, and the API never reached.
    token.assert_calls_async(1).await;
    api.assert_calls_async(0).await;
}

#[tokio::test]
async fn token_answers_that_are_not_kore_s_are_decode_errors_that_withhold_the_body() {
    for body in [
        json!({}),
        json!({"access_token": ""}),
        json!({"access_token": SECRET, "token_type": "mac"}),
    ] {
        let server = MockServer::start_async().await;
        server
            .mock_async(|when, then| {
                when.method(POST).path(TOKEN_PATH);
                then.status(200).json_body(body.clone());
            })
            .await;
        let err = kore(&server).get_sim(SIM).await.unwrap_err();
        assert!(matches!(err, Error::Decode { status: 200, .. }), "{err:?}");
        assert!(!format!("{err} {err:?}").contains(SECRET));
    }
}

#[tokio::test]
async fn the_sentinel_secret_never_prints_even_when_the_api_echoes_the_token() {
    let server = MockServer::start_async().await;
    mock_token(&server, "SENTINEL-access-token-4d2", 3600).await;
    server
        .mock_async(|when, then| {
            when.method(POST).path(SIM_PATH);
            then.status(400).json_body(json!({
                "code": 20001,
                "message": "bad request from Bearer SENTINEL-access-token-4d2",
                "details": {"echo": format!("{SECRET}")},
            }));
        })
        .await;
    let client = kore(&server);
    let err = client
        .update_sim(SIM)
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap_err();
    let shown = format!("{err} {err:?} {client:?}");
    assert!(!shown.contains("SENTINEL"), "{shown}");
    assert!(shown.contains("[redacted]"), "{shown}");
}
