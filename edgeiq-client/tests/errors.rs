//! Each documented error answer (400, 401, 404, 500) with JSON, HTML and empty bodies, on both
//! the read and the update, as the exact typed error.

mod common;

use common::*;
use httpmock::prelude::*;
use serde_json::json;
use simcore::{ApiError, Error};

/// What a mocked answer is.
enum Body {
    Json(serde_json::Value),
    Html(&'static str),
    Empty,
}

fn expected(status: u16, message: &str, attempts: u32) -> ApiError {
    let mut e = ApiError::new("edgeiq", status).with_message(message);
    e.attempts = attempts;
    e
}

/// Answers `status` with `body` to both `GET` and `PUT` of the SIM, and checks both calls
/// return `want` after `calls` calls each.
async fn check(status: u16, body: Body, want: ApiError, calls: usize) {
    let server = MockServer::start_async().await;
    let body = &body;
    let mut mocks = Vec::new();
    for method in [GET, PUT] {
        let m = server
            .mock_async(|when, then| {
                when.method(method)
                    .path(SIM_PATH)
                    .header("authorization", SENTINEL);
                let then = then.status(status);
                match body {
                    Body::Json(v) => {
                        then.json_body(v.clone());
                    }
                    Body::Html(page) => {
                        then.header("content-type", "text/html; charset=utf-8")
                            .body(*page);
                    }
                    Body::Empty => {}
                }
            })
            .await;
        mocks.push(m);
    }
    let c = client(&server);
    let read = c.get_sim(ID).await.unwrap_err();
    let write = c.update_sim(ID).status("active").send().await.unwrap_err();
    for err in [read, write] {
        assert_eq!(err.api(), Some(&want), "{err}");
        assert_eq!(err.status(), Some(status));
        assert!(!err.was_not_sent());
    }
    for m in mocks {
        m.assert_calls_async(calls).await;
    }
}

#[tokio::test]
async fn bad_request_json() {
    check(
        400,
        Body::Json(json!({"error": "iccid 89882806660004909182 is already in use"})),
        expected(400, "iccid 89882806660004909182 is already in use", 1),
        1,
    )
    .await;
}

#[tokio::test]
async fn bad_request_with_a_message_list() {
    let mut want = expected(400, "iccid must be unique; msisdn is too long", 1);
    want.details = Some(json!(["iccid must be unique", "msisdn is too long"]));
    check(
        400,
        Body::Json(json!({"messages": ["iccid must be unique", "msisdn is too long"]})),
        want,
        1,
    )
    .await;
}

#[tokio::test]
async fn bad_request_html_and_empty() {
    check(
        400,
        Body::Html("<html><head><title>400 Bad Request</title></head></html>"),
        expected(400, "HTML page: 400 Bad Request", 1),
        1,
    )
    .await;
    check(400, Body::Empty, expected(400, "(empty body)", 1), 1).await;
}

#[tokio::test]
async fn unauthorized_json_and_empty_are_not_retried() {
    check(
        401,
        Body::Json(json!({"message": "Unauthorized"})),
        expected(401, "Unauthorized", 1),
        1,
    )
    .await;
    check(401, Body::Empty, expected(401, "(empty body)", 1), 1).await;
}

#[tokio::test]
async fn unauthorized_is_recognised() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET);
            then.status(401)
                .json_body(json!({"message": "Unauthorized"}));
        })
        .await;
    let err = client(&server).get_sim(ID).await.unwrap_err();
    assert!(err.is_unauthorized());
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "edgeiq: HTTP 401: Unauthorized; retrying will not help"
    );
}

#[tokio::test]
async fn not_found_json_html_and_empty() {
    check(
        404,
        Body::Json(json!({"error": {"message": "sim not found", "code": 404}})),
        expected(404, "sim not found", 1).with_code(404),
        1,
    )
    .await;
    check(
        404,
        Body::Html("<!DOCTYPE html><html><body><h1>Not Found</h1></body></html>"),
        expected(404, "HTML page: Not Found", 1),
        1,
    )
    .await;
    check(404, Body::Empty, expected(404, "(empty body)", 1), 1).await;
}

#[tokio::test]
async fn not_found_is_recognised() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET);
            then.status(404);
        })
        .await;
    let err = client(&server).get_sim(ID).await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.to_string(),
        "edgeiq: HTTP 404: (empty body); retrying will not help"
    );
}

#[tokio::test]
async fn server_error_json_html_and_empty_are_not_retried() {
    check(
        500,
        Body::Json(json!({"message": "internal error"})),
        expected(500, "internal error", 1),
        1,
    )
    .await;
    check(
        500,
        Body::Html(
            "<html><head><title>500 Internal Server Error</title></head><body>oops</body></html>",
        ),
        expected(500, "HTML page: 500 Internal Server Error", 1),
        1,
    )
    .await;
    check(500, Body::Empty, expected(500, "(empty body)", 1), 1).await;
}

#[tokio::test]
async fn gateway_errors_are_retried_up_to_the_limit() {
    // Three attempts each (the test client's policy), then the last answer.
    check(
        503,
        Body::Html("<html><title>503 Service Unavailable</title></html>"),
        expected(503, "HTML page: 503 Service Unavailable", 3),
        3,
    )
    .await;
}

#[tokio::test]
async fn a_read_with_an_invalid_id_sends_nothing() {
    let server = MockServer::start_async().await;
    let any = catch_all(&server).await;
    for bad in [
        "",
        "65f1c0ffee",
        "65f1c0ffee0123456789abcd/x",
        "..",
        "65f1c0ffee0123456789abcz",
    ] {
        let err = client(&server).get_sim(bad).await.unwrap_err();
        match err {
            Error::Invalid(v) => assert_eq!(
                (v.field(), v.rule()),
                ("id", "must be exactly 24 hex digits")
            ),
            other => panic!("{other:?}"),
        }
    }
    any.assert_calls_async(0).await;
}
