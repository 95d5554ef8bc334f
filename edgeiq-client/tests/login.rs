//! The session login: `POST /user/authenticate`, then requests with the session token.

mod common;

use std::time::Duration;

use common::*;
use edgeiq_client::Client;
use httpmock::prelude::*;
use serde_json::{Value, json};
use simcore::Error;

const PASSWORD: &str = "SENTINEL-password-77e0";
const SESSION: &str = "SENTINEL-session-token-91c2";

fn builder(server: &MockServer) -> edgeiq_client::ClientBuilder {
    Client::builder()
        .base_url(format!("{}{BASE}", server.base_url()))
        .retry(fast_retry(3))
}

/// The login body without its expiry, and whether the expiry is an RFC 3339 UTC time.
fn login_matches(req: &HttpMockRequest, with_expiry: bool) -> bool {
    let Ok(Value::Object(mut body)) = serde_json::from_slice::<Value>(req.body_ref()) else {
        return false;
    };
    let expiry = body.remove("token_expiry");
    let expiry_ok = match (&expiry, with_expiry) {
        (Some(Value::String(s)), true) => {
            s.ends_with('Z') && chrono::DateTime::parse_from_rfc3339(s).is_ok()
        }
        (None, false) => true,
        _ => false,
    };
    expiry_ok && Value::Object(body) == json!({"email": "ops@example.com", "password": PASSWORD})
}

#[tokio::test]
async fn login_then_requests_carry_the_session_token() {
    let server = MockServer::start_async().await;
    let login = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/api/v1/platform/user/authenticate")
                .header("content-type", "application/json")
                .header_missing("authorization")
                .is_true(|req| login_matches(req, true));
            then.status(200).json_body(fixture("login_response.json"));
        })
        .await;
    let read = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(SIM_PATH)
                .header("authorization", SESSION);
            then.status(200)
                .json_body(json!({"_id": ID, "status": "active"}));
        })
        .await;
    // (A token set on the builder beside a login is refused: see examples/tests/settings.rs.)
    let client = builder(&server)
        .login(
            "ops@example.com",
            PASSWORD,
            Some(Duration::from_secs(24 * 3600)),
        )
        .await
        .unwrap();
    assert_eq!(
        client.session_expires_at().map(|t| t.to_rfc3339()),
        Some("2024-06-10T19:49:51.217+00:00".to_owned())
    );
    let got = client.get_sim(ID).await.unwrap();
    assert_eq!(got.id.as_deref(), Some(ID));
    login.assert_calls_async(1).await;
    read.assert_calls_async(1).await;
}

#[tokio::test]
async fn login_without_expiry_leaves_the_default() {
    let server = MockServer::start_async().await;
    let login = server
        .mock_async(|when, then| {
            when.method(POST)
                .path("/api/v1/platform/user/authenticate")
                .is_true(|req| login_matches(req, false));
            then.status(200).json_body(json!({"token": SESSION}));
        })
        .await;
    let client = builder(&server)
        .login("ops@example.com", PASSWORD, None)
        .await
        .unwrap();
    assert_eq!(client.session_expires_at(), None);
    login.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_refused_login_is_a_401_tried_once_without_the_password() {
    let server = MockServer::start_async().await;
    let login = server
        .mock_async(|when, then| {
            when.method(POST).path("/api/v1/platform/user/authenticate");
            then.status(401)
                .json_body(json!({"message": "invalid email or password"}));
        })
        .await;
    let err = builder(&server)
        .login("ops@example.com", PASSWORD, None)
        .await
        .unwrap_err();
    assert!(err.is_unauthorized());
    assert_eq!(
        err.to_string(),
        "edgeiq: HTTP 401: invalid email or password; retrying will not help"
    );
    assert!(!format!("{err:?}").contains(PASSWORD));
    login.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_answer_without_a_session_token_is_withheld() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(POST).path("/api/v1/platform/user/authenticate");
            then.status(200)
                .json_body(json!({"email": "ops@example.com", "api_token": "SENTINEL-permanent"}));
        })
        .await;
    let err = builder(&server)
        .login("ops@example.com", PASSWORD, None)
        .await
        .unwrap_err();
    match &err {
        Error::Decode {
            status,
            message,
            snippet,
            ..
        } => {
            assert_eq!(*status, 200);
            assert_eq!(
                message,
                "login answer has no session token (looked for session_token, token)"
            );
            assert_eq!(snippet, "(body withheld: it may carry credentials)");
        }
        other => panic!("{other:?}"),
    }
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(!text.contains("SENTINEL"), "{text}");
    }
}

#[tokio::test]
async fn invalid_login_input_sends_nothing() {
    let server = MockServer::start_async().await;
    let any = catch_all(&server).await;
    for (email, password, expiry, field) in [
        ("", PASSWORD, None, "email"),
        ("ops@example.com", "", None, "password"),
        (
            "ops@example.com",
            PASSWORD,
            Some(Duration::ZERO),
            "token_expiry",
        ),
        (
            "ops@example.com",
            PASSWORD,
            Some(Duration::from_secs(8 * 24 * 3600)),
            "token_expiry",
        ),
    ] {
        let err = builder(&server)
            .login(email, password, expiry)
            .await
            .unwrap_err();
        match &err {
            Error::Invalid(v) => assert_eq!(v.field(), field),
            other => panic!("{other:?}"),
        }
        assert!(!err.to_string().contains(PASSWORD));
    }
    any.assert_calls_async(0).await;
}

/// A login answer with `token` that ends `secs` from now.
fn session_answer(token: &str, secs: i64) -> Value {
    let ends = chrono::Utc::now() + chrono::Duration::seconds(secs);
    json!({
        "email": "ops@example.com",
        "session_token": token,
        "session_expires_at": ends.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
    })
}

#[tokio::test]
async fn the_session_is_renewed_before_it_ends_and_once_on_a_401() {
    let server = MockServer::start_async().await;
    let first = server
        .mock_async(|when, then| {
            when.method(POST).path("/api/v1/platform/user/authenticate");
            then.status(200).json_body(session_answer("sess-1", 1));
        })
        .await;
    let read = |token: &'static str| {
        server.mock_async(move |when, then| {
            when.method(GET)
                .path(SIM_PATH)
                .header("authorization", token);
            then.status(200)
                .json_body(json!({"_id": ID, "status": "active"}));
        })
    };
    let read1 = read("sess-1").await;
    let client = builder(&server)
        .login("ops@example.com", PASSWORD, None)
        .await
        .unwrap();
    client.get_sim(ID).await.unwrap();
    first.assert_calls_async(1).await;
    first.delete_async().await;

    // Nine tenths into a one-second session the client logs in again by itself.
    let second = server
        .mock_async(|when, then| {
            when.method(POST).path("/api/v1/platform/user/authenticate");
            then.status(200).json_body(session_answer("sess-2", 3600));
        })
        .await;
    let read2 = read("sess-2").await;
    tokio::time::sleep(Duration::from_millis(950)).await;
    client.get_sim(ID).await.unwrap();
    second.assert_calls_async(1).await;
    read1.assert_calls_async(1).await;
    read2.assert_calls_async(1).await;
    second.delete_async().await;

    // EdgeIQ ends the session early: one 401, one new login, the request succeeds.
    read2.delete_async().await;
    let ended = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(SIM_PATH)
                .header("authorization", "sess-2");
            then.status(401)
                .json_body(json!({"message": "Not authorized"}));
        })
        .await;
    let third = server
        .mock_async(|when, then| {
            when.method(POST).path("/api/v1/platform/user/authenticate");
            then.status(200).json_body(session_answer("sess-3", 3600));
        })
        .await;
    let read3 = read("sess-3").await;
    client.get_sim(ID).await.unwrap();
    ended.assert_calls_async(1).await;
    third.assert_calls_async(1).await;
    read3.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_refused_login_is_not_sent_again() {
    let server = MockServer::start_async().await;
    let login = server
        .mock_async(|when, then| {
            when.method(POST).path("/api/v1/platform/user/authenticate");
            then.status(401)
                .json_body(json!({"message": format!("Not authorized: {PASSWORD}")}));
        })
        .await;
    let err = builder(&server)
        .login("ops@example.com", PASSWORD, None)
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert!(!format!("{err} {err:?}").contains(PASSWORD), "{err}");
    login.assert_calls_async(1).await;
}
