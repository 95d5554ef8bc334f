//! The authentication flow against a mock emnify: first request authenticates, the token is
//! reused, refreshed before expiry, re-authenticated once on a 401; failures are never retried;
//! any number of concurrent requests share one authentication.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use emnify_client::auth::password_sha1_hex;
use emnify_client::secrecy::ExposeSecret;
use emnify_client::{Client, SettableStatus};
use futures_util::future::join_all;
use httpmock::prelude::*;
use serde_json::json;
use simcore::Error;

fn suspend() -> serde_json::Value {
    json!({"status": {"id": 2}})
}

#[tokio::test]
async fn first_request_authenticates_and_the_token_is_reused() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    let auth = mock_app_auth(&server, &token).await;
    let patch = mock_patch(&server, 250, &token, suspend()).await;
    let client = client(&server);
    assert_eq!(
        auth.calls_async().await,
        0,
        "building the client sends nothing"
    );
    for _ in 0..3 {
        client
            .update_sim(250)
            .status(SettableStatus::Suspended)
            .send()
            .await
            .unwrap();
    }
    // Clones share the token.
    client
        .clone()
        .update_sim(250)
        .status(SettableStatus::Suspended)
        .send()
        .await
        .unwrap();
    assert_eq!(auth.calls_async().await, 1);
    assert_eq!(patch.calls_async().await, 4);
}

#[tokio::test]
async fn a_token_near_expiry_is_refreshed_before_use() {
    let server = MockServer::start_async().await;
    // Two to three seconds to live when it arrives (`exp` counts whole seconds): it serves the
    // request that fetched it, and is due for refresh by the time of the next one. (One second
    // was too short: on a busy machine the token could arrive expired, and a token that arrives
    // expired is kept for the minimum lifetime instead.)
    let short = jwt("short", 3);
    let long = fresh_jwt("long");
    let first = mock_app_auth(&server, &short).await;
    let patch_short = mock_patch(&server, 250, &short, suspend()).await;
    let patch_long = mock_patch(&server, 250, &long, suspend()).await;
    let client = client(&server);

    client
        .update_sim(250)
        .status(SettableStatus::Suspended)
        .send()
        .await
        .unwrap();
    assert_eq!(first.calls_async().await, 1);
    assert_eq!(patch_short.calls_async().await, 1);
    first.delete_async().await;

    let second = mock_app_auth(&server, &long).await;
    tokio::time::sleep(std::time::Duration::from_millis(3100)).await;
    for _ in 0..2 {
        client
            .update_sim(250)
            .status(SettableStatus::Suspended)
            .send()
            .await
            .unwrap();
    }
    // The short token was replaced before it was sent again, and the new one is reused.
    assert_eq!(second.calls_async().await, 1);
    assert_eq!(patch_short.calls_async().await, 1);
    assert_eq!(patch_long.calls_async().await, 2);
}

#[tokio::test]
async fn a_token_without_exp_is_kept() {
    let server = MockServer::start_async().await;
    let opaque = "opaque-session-token";
    let auth = mock_app_auth(&server, opaque).await;
    let patch = mock_patch(&server, 250, opaque, suspend()).await;
    let client = client(&server);
    for _ in 0..3 {
        client
            .update_sim(250)
            .status(SettableStatus::Suspended)
            .send()
            .await
            .unwrap();
    }
    assert_eq!(auth.calls_async().await, 1);
    assert_eq!(patch.calls_async().await, 3);
}

#[tokio::test]
async fn a_401_leads_to_one_reauthentication_and_success() {
    let server = MockServer::start_async().await;
    let old = fresh_jwt("old");
    let new = fresh_jwt("new");
    // A first request caches the old token.
    let first = mock_app_auth(&server, &old).await;
    let get_old = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim/250")
                .header("authorization", bearer(&old));
            then.status(200)
                .header("content-type", "application/json")
                .body(r#"{"id": 250, "status": {"id": 1}}"#);
        })
        .await;
    let client = client(&server);
    client.get_sim(250).await.unwrap();
    first.delete_async().await;

    // emnify now refuses the old token (the gateway's bare message) and accepts the new one.
    let second = mock_app_auth(&server, &new).await;
    let refused = mock_patch_answer(
        &server,
        250,
        &old,
        suspend(),
        401,
        Some(("application/json", &fixture("error_401_gateway.json"))),
    )
    .await;
    let accepted = mock_patch(&server, 250, &new, suspend()).await;
    client
        .update_sim(250)
        .status(SettableStatus::Suspended)
        .send()
        .await
        .unwrap();
    assert_eq!(get_old.calls_async().await, 1);
    assert_eq!(refused.calls_async().await, 1);
    assert_eq!(second.calls_async().await, 1);
    assert_eq!(accepted.calls_async().await, 1);
}

#[tokio::test]
async fn a_second_401_is_an_unauthorized_error() {
    for body in [Some(fixture("error_401_gateway.json")), None] {
        let server = MockServer::start_async().await;
        let token = fresh_jwt("a");
        let auth = mock_app_auth(&server, &token).await;
        let patch = mock_patch_answer(
            &server,
            250,
            &token,
            suspend(),
            401,
            body.as_deref().map(|b| ("application/json", b)),
        )
        .await;
        let err = client(&server)
            .update_sim(250)
            .status(SettableStatus::Suspended)
            .send()
            .await
            .unwrap_err();
        assert!(err.is_unauthorized(), "{err:?}");
        assert!(!err.is_retryable());
        let api = err.api().unwrap();
        let expected = if body.is_some() {
            "token is expired"
        } else {
            "(empty body)"
        };
        assert_eq!(api.message, expected);
        assert_eq!(api.code, None);
        // One authentication, one re-authentication; the request was tried twice.
        assert_eq!(auth.calls_async().await, 2);
        assert_eq!(patch.calls_async().await, 2);
    }
}

#[tokio::test]
async fn a_failed_authentication_is_never_retried() {
    for (status, body, retryable_status) in [
        (401, None, false),
        (401, Some(fixture("error_401_lockout.json")), false),
        (503, None, true),
        (429, Some(fixture("error_429_too_many.json")), true),
    ] {
        let server = MockServer::start_async().await;
        let auth = server
            .mock_async(|when, then| {
                when.method(POST).path("/api/v1/authenticate");
                let then = then.status(status);
                if let Some(b) = &body {
                    then.header("content-type", "application/json").body(b);
                }
            })
            .await;
        let patch = mock_any_patch(&server, 250).await;
        // The client itself would retry five times; the authenticate call never is.
        let client = Client::builder()
            .application_token(APP_TOKEN)
            .base_url(server.base_url())
            .retry(fast_retry(5))
            .build()
            .unwrap();
        let err = client
            .update_sim(250)
            .status(SettableStatus::Suspended)
            .send()
            .await
            .unwrap_err();
        let api = err.api().unwrap_or_else(|| panic!("{err:?}"));
        assert_eq!(api.status, status);
        assert_eq!(api.attempts, 1);
        assert!(
            api.message.starts_with("authentication failed: "),
            "{}",
            api.message
        );
        assert_eq!(err.is_retryable(), retryable_status);
        assert_eq!(auth.calls_async().await, 1, "{status}");
        assert_eq!(patch.calls_async().await, 0);
        if body.as_deref().is_some_and(|b| b.contains("failed login")) {
            assert!(emnify_client::errors::is_locked_out(&err));
        }
    }
}

#[tokio::test]
async fn refused_credentials_are_not_sent_again_soon() {
    let server = MockServer::start_async().await;
    let auth = server
        .mock_async(|when, then| {
            when.method(POST).path("/api/v1/authenticate");
            then.status(401);
        })
        .await;
    let client = client(&server);
    let first = client.get_sim(1).await.unwrap_err();
    let second = client.get_sim(2).await.unwrap_err();
    assert_eq!(second.to_string(), first.to_string());
    assert_eq!(
        second.to_string(),
        "emnify: HTTP 401: authentication failed: (empty body); retrying will not help"
    );
    // emnify locks out after three failures: the second request did not try again.
    assert_eq!(auth.calls_async().await, 1);
}

#[tokio::test]
async fn a_transient_authentication_failure_is_tried_again_by_the_next_request() {
    let server = MockServer::start_async().await;
    let down = server
        .mock_async(|when, then| {
            when.method(POST).path("/api/v1/authenticate");
            then.status(503);
        })
        .await;
    let client = client(&server);
    let err = client.get_sim(1).await.unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(down.calls_async().await, 1);
    down.delete_async().await;

    let token = fresh_jwt("a");
    let up = mock_app_auth(&server, &token).await;
    let get = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim/1")
                .header("authorization", bearer(&token));
            then.status(200).body(r#"{"id": 1, "status": {"id": 1}}"#);
        })
        .await;
    assert_eq!(client.get_sim(1).await.unwrap().id, 1);
    assert_eq!(up.calls_async().await, 1);
    assert_eq!(get.calls_async().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_updates_cause_one_authentication() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    // A slow authentication, so that every request arrives while it is in flight.
    let auth = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/api/v1/authenticate")
                .json_body(json!({"application_token": APP_TOKEN}));
            then.status(200)
                .delay(Duration::from_millis(300))
                .json_body(json!({"auth_token": token}));
        })
        .await;
    let patch = mock_patch(&server, 250, &token, suspend()).await;
    let client = client(&server);
    let tasks = (0..1000).map(|_| {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .update_sim(250)
                .status(SettableStatus::Suspended)
                .send()
                .await
        })
    });
    let results = join_all(tasks).await;
    let ok = results
        .into_iter()
        .filter(|r| matches!(r, Ok(Ok(_))))
        .count();
    assert_eq!(ok, 1000);
    assert_eq!(auth.calls_async().await, 1);
    assert_eq!(patch.calls_async().await, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_concurrent_401s_cause_one_reauthentication() {
    let server = MockServer::start_async().await;
    let old = fresh_jwt("old");
    let new = fresh_jwt("new");
    let first = mock_app_auth(&server, &old).await;
    let warm = server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/sim/1");
            then.status(200).body(r#"{"id": 1, "status": {"id": 1}}"#);
        })
        .await;
    let client = client(&server);
    client.get_sim(1).await.unwrap();
    assert_eq!(warm.calls_async().await, 1);
    first.delete_async().await;

    let second = server
        .mock_async(|when, then| {
            when.method(POST).path("/api/v1/authenticate");
            then.status(200)
                .delay(Duration::from_millis(200))
                .json_body(json!({"auth_token": new}));
        })
        .await;
    let refused = mock_patch_answer(&server, 250, &old, suspend(), 401, None).await;
    let accepted = mock_patch(&server, 250, &new, suspend()).await;
    let tasks = (0..1000).map(|_| {
        let client = client.clone();
        tokio::spawn(async move {
            client
                .update_sim(250)
                .status(SettableStatus::Suspended)
                .send()
                .await
        })
    });
    let results = join_all(tasks).await;
    let failed: Vec<String> = results
        .into_iter()
        .filter_map(|r| r.unwrap().err().map(|e| e.to_string()))
        .collect();
    assert_eq!(failed, Vec::<String>::new());
    assert_eq!(second.calls_async().await, 1);
    // Requests that started after the re-authentication went straight out with the new token.
    let refused = refused.calls_async().await;
    assert!((1..=1000).contains(&refused), "{refused}");
    assert_eq!(accepted.calls_async().await, 1000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_share_one_failed_authentication() {
    let server = MockServer::start_async().await;
    let auth = server
        .mock_async(|when, then| {
            when.method(POST).path("/api/v1/authenticate");
            then.status(503).delay(Duration::from_millis(200));
        })
        .await;
    let client = Arc::new(client(&server));
    let tasks = (0..50).map(|i| {
        let client = client.clone();
        tokio::spawn(async move { client.get_sim(i).await })
    });
    for r in join_all(tasks).await {
        assert_eq!(r.unwrap().unwrap_err().status(), Some(503));
    }
    assert_eq!(auth.calls_async().await, 1);
}

#[tokio::test]
async fn user_credentials_use_the_refresh_token_then_fall_back_to_the_password() {
    let server = MockServer::start_async().await;
    let hash = password_sha1_hex(&PASSWORD.into());
    let hash = hash.expose_secret().to_owned();
    assert_eq!(hash.len(), 40);
    let login_body = json!({"username": USERNAME, "password": hash});
    // Short-lived: `a` is due for refresh a second after it arrives, `b` (fetched a second
    // later) two seconds after it arrives.
    let a = jwt("a", 1);
    let b = jwt("b", 3);
    let c = fresh_jwt("c");

    let login = mock_auth(
        &server,
        login_body.clone(),
        200,
        json!({"auth_token": a, "refresh_token": "refresh-1"}),
    )
    .await;
    let refresh = mock_auth(
        &server,
        json!({"refresh_token": "refresh-1"}),
        200,
        json!({"auth_token": b}),
    )
    .await;
    let patches = [
        mock_patch(&server, 250, &a, suspend()).await,
        mock_patch(&server, 250, &b, suspend()).await,
        mock_patch(&server, 250, &c, suspend()).await,
    ];
    let client = Client::builder()
        .user_credentials(USERNAME, PASSWORD)
        .base_url(server.base_url())
        .retry(fast_retry(3))
        .build()
        .unwrap();
    let send = || {
        client
            .update_sim(250)
            .status(SettableStatus::Suspended)
            .send()
    };

    send().await.unwrap(); // login with the password hash -> a
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    send().await.unwrap(); // a is near expiry: refresh_token -> b
    assert_eq!(login.calls_async().await, 1);
    assert_eq!(refresh.calls_async().await, 1);

    // The refresh token is now refused: the client logs in with the password again.
    login.delete_async().await;
    refresh.delete_async().await;
    let refused = mock_auth(
        &server,
        json!({"refresh_token": "refresh-1"}),
        401,
        json!({}),
    )
    .await;
    let relogin = mock_auth(
        &server,
        login_body,
        200,
        json!({"auth_token": c, "refresh_token": "refresh-2"}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(2200)).await;
    send().await.unwrap(); // b is near expiry: refresh refused -> password -> c
    send().await.unwrap(); // c is fresh: reused
    assert_eq!(refused.calls_async().await, 1);
    assert_eq!(relogin.calls_async().await, 1);
    let counts: Vec<usize> = join_all(patches.iter().map(|m| m.calls_async())).await;
    assert_eq!(counts, vec![1, 1, 2]);
}

#[tokio::test]
async fn multi_factor_accounts_get_a_clear_refusal() {
    let server = MockServer::start_async().await;
    let hash = password_sha1_hex(&PASSWORD.into())
        .expose_secret()
        .to_owned();
    let auth = mock_auth(
        &server,
        json!({"username": USERNAME, "password": hash}),
        200,
        json!({"mfa_token": "mfa-123"}),
    )
    .await;
    let client = Client::builder()
        .user_credentials(USERNAME, PASSWORD)
        .base_url(server.base_url())
        .build()
        .unwrap();
    let err = client.get_sim(1).await.unwrap_err();
    assert!(
        matches!(&err, Error::Config(m) if m.contains("multi-factor")),
        "{err:?}"
    );
    assert_eq!(auth.calls_async().await, 1);
}

#[tokio::test]
async fn an_unreadable_authenticate_answer_does_not_quote_it() {
    let server = MockServer::start_async().await;
    let auth = server
        .mock_async(|when, then| {
            when.method(POST).path("/api/v1/authenticate");
            then.status(200)
                .body(r#"{"auth_token": 12345, "refresh_token": "SENTINEL-REFRESH"}"#);
        })
        .await;
    let err = client(&server).get_sim(1).await.unwrap_err();
    assert!(matches!(err, Error::Decode { status: 200, .. }), "{err:?}");
    assert!(!format!("{err} {err:?}").contains("SENTINEL"));
    assert_eq!(auth.calls_async().await, 1);
}
