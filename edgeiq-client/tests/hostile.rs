//! The EdgeIQ client against a hostile server, with generated inputs: SIM ids that try to leave
//! their path segment, answers that quote the API token, the login password or the session token
//! back, a 429 storm and a stalled body, and 2xx answers that are not EdgeIQ's. One regression
//! test per class, and property tests run with a manual `TestRunner` on one runtime and one
//! shared loopback server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes, to_bytes};
use axum::http::Request;
use edgeiq_client::{Client, ClientBuilder, SimId};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use simcore::retry::RetryPolicy;
use simcore::{Error, SimChange, SimProvider, SimState};
use simfleet::bulk::{BulkItem, BulkUpdater};
use simsandbox::{SandboxServer, json_response};
use testkit::hostile::{
    Shape, check_one_segment, echo, echo_router, id_pieces, not_json_bodies, stalled_body_router,
    storm_router,
};

const ID: &str = "65f1c0ffee0123456789abcd";
const BASE_PATH: &str = "/api/v1/platform";

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

fn runner(cases: u32) -> TestRunner {
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        ..Config::default()
    })
}

fn builder(server: &SandboxServer) -> ClientBuilder {
    Client::builder()
        .base_url(format!("{}{BASE_PATH}", server.base_url()))
        .retry(RetryPolicy::none())
}

fn client(server: &SandboxServer, token: &str) -> Client {
    builder(server).api_token(token).build().unwrap()
}

// ----- 1. ids -----

fn sim_ids() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(id_pieces()),
        1 => any::<char>().prop_map(String::from),
        1 => "[0-9a-f]{1,8}",
    ];
    prop_oneof![
        6 => proptest::collection::vec(piece, 0..6).prop_map(|p| p.concat()),
        3 => "[0-9a-fA-F]{24}",
        1 => "[0-9a-f]{23}[^0-9a-f]",
        1 => any::<String>(),
    ]
}

fn answer_404() -> Router {
    Router::new().fallback(|| async { json_response(404, &json!({"message": "Not found"})) })
}

#[derive(Debug, Clone, Copy)]
enum Call {
    Get,
    Update,
    ProviderFetch,
    ProviderApply,
}

async fn id_case(server: &SandboxServer, c: &Client, call: Call, id: &str) -> Result<(), String> {
    server.clear_requests();
    let result = match call {
        Call::Get => c.get_sim(id).await.map(drop),
        Call::Update => c.update_sim(id).status("active").send().await.map(drop),
        Call::ProviderFetch => SimProvider::fetch(c, id).await.map(drop),
        Call::ProviderApply => SimProvider::apply(c, id, &SimChange::new().state(SimState::Active))
            .await
            .map(drop),
    };
    let sent = server.requests();
    match result {
        Err(Error::Invalid(v)) => {
            if !sent.is_empty() {
                return Err(format!("{call:?} {id:?}: refused ({v}) but sent"));
            }
            if SimId::parse(id).is_ok() {
                return Err(format!("{call:?} {id:?}: a valid id was refused: {v}"));
            }
            Ok(())
        }
        other => {
            if sent.len() != 1 {
                return Err(format!(
                    "{call:?} {id:?}: {} requests, {other:?}",
                    sent.len()
                ));
            }
            if sent[0].query.is_some() {
                return Err(format!("{call:?} {id:?}: query {:?}", sent[0].query));
            }
            check_one_segment(&format!("{BASE_PATH}/sims"), &sent[0].path, id)
        }
    }
}

#[test]
fn generated_sim_ids_stay_one_segment_or_are_refused_unsent() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let c = client(&server, "token");
    for call in [
        Call::Get,
        Call::Update,
        Call::ProviderFetch,
        Call::ProviderApply,
    ] {
        runner(64)
            .run(&sim_ids(), |id| {
                rt.block_on(id_case(&server, &c, call, &id))
                    .map_err(TestCaseError::fail)
            })
            .unwrap();
    }
}

#[test]
fn regression_ids_that_are_not_system_ids_are_refused_unsent() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let c = client(&server, "token");
    for id in [
        ID,
        "65F1C0FFEE0123456789ABCD",
        "65f1c0ffee0123456789abc\t",
        "..",
        "",
        "../users",
        "65f1c0ffee0123456789ab/d",
        "%2e%2E",
        " 65f1c0ffee0123456789abcd",
    ] {
        for call in [Call::Get, Call::Update, Call::ProviderApply] {
            rt.block_on(id_case(&server, &c, call, id)).unwrap();
        }
    }
}

// ----- 2. secrets echoed back -----

const SENTINEL: &str = "SENTINEL-edgeiq/+ &\"<~token";
const PASSWORD: &str = "SENTINEL-pässwörd \"\\ &<+%41";
const SESSION: &str = "SENTINEL-session-7f3a/+9c";

fn leaked(shown: &str, secret: &str) -> Option<String> {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .windows(chars.len().min(12))
        .map(|w| w.iter().collect::<String>())
        .find(|w| shown.contains(w.as_str()))
}

/// Answers the login with a session token and everything else with the echo.
fn login_then_echo(status: u16, shape: Shape) -> Router {
    Router::new().fallback(move |req: Request<Body>| async move {
        let (parts, body) = req.into_parts();
        let body = to_bytes(body, usize::MAX).await.unwrap_or_default();
        if parts.uri.path().ends_with("/user/authenticate") {
            return json_response(200, &json!({"session_token": SESSION}));
        }
        echo(status, shape, &parts.headers, &body)
    })
}

#[test]
fn regression_echoed_token_password_and_session_never_show() {
    let rt = runtime();
    rt.block_on(async {
        let mut failures = Vec::new();
        let mut check =
            |what: &str, status: u16, shape: Shape, secret: &str, err: Option<Error>| {
                if let Some(err) = err {
                    let shown = format!("{err}\n{err:?}");
                    if let Some(piece) = leaked(&shown, secret) {
                        failures.push(format!("{what} {status} {shape:?}: {piece:?} in {shown}"));
                    }
                }
            };
        for status in [400u16, 401, 404, 500, 503, 200] {
            for shape in Shape::ALL {
                let server = SandboxServer::start(echo_router(status, shape))
                    .await
                    .unwrap();
                let c = client(&server, SENTINEL);
                check(
                    "token get",
                    status,
                    shape,
                    SENTINEL,
                    c.get_sim(ID).await.err(),
                );
                let err = c.update_sim(ID).status("active").send().await.err();
                check("token update", status, shape, SENTINEL, err);
                let err = builder(&server)
                    .login("ops@example.com", PASSWORD, None)
                    .await
                    .err();
                check("login password", status, shape, PASSWORD, err);

                let server = SandboxServer::start(login_then_echo(status, shape))
                    .await
                    .unwrap();
                let c = builder(&server)
                    .login("ops@example.com", PASSWORD, None)
                    .await
                    .unwrap();
                check(
                    "session get",
                    status,
                    shape,
                    SESSION,
                    c.get_sim(ID).await.err(),
                );
                let err = c.update_sim(ID).status("active").send().await.err();
                check("session update", status, shape, SESSION, err);
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    });
}

// ----- 3. deadline -----

#[tokio::test]
async fn regression_a_429_storm_ends_at_once_with_default_settings() {
    let server = SandboxServer::start(storm_router("999999")).await.unwrap();
    let c = Client::builder()
        .api_token("token")
        .base_url(server.base_url())
        .build()
        .unwrap();
    let started = Instant::now();
    let err = c.get_sim(ID).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.status(), Some(429));
    assert!(
        err.retry_after()
            .is_some_and(|d| d >= Duration::from_secs(60))
    );
    assert_eq!(server.requests().len(), 1);
    // The login too.
    let started = Instant::now();
    let err = Client::builder()
        .base_url(server.base_url())
        .login("ops@example.com", "pw", None)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(err.status(), Some(429));
}

#[tokio::test]
async fn regression_a_stalled_body_ends_within_the_client_deadline() {
    let server = SandboxServer::start(stalled_body_router()).await.unwrap();
    let b = Client::builder()
        .base_url(server.base_url())
        .deadline(Duration::from_secs(1));
    let c = b.api_token("token").build().unwrap();
    let started = Instant::now();
    let err = c.get_sim(ID).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Deadline { .. }), "{err:?}");
    let started = Instant::now();
    let err = Client::builder()
        .base_url(server.base_url())
        .deadline(Duration::from_secs(1))
        .login("ops@example.com", "pw", None)
        .await
        .unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Deadline { .. }), "{err:?}");
}

// ----- 4. answers that are not EdgeIQ's -----

fn json_values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop_oneof![Just(ID.to_owned()), Just("active".to_owned()), ".{0,8}"].prop_map(Value::from),
    ];
    let key = prop_oneof![
        4 => proptest::sample::select(vec![
            "_id", "id", "status", "iccid", "device_id", "sim_metadata", "company_id",
            "message", "resources", "total",
        ])
        .prop_map(str::to_owned),
        1 => "[a-z_]{1,8}",
    ];
    leaf.prop_recursive(3, 24, 6, move |inner| {
        prop_oneof![
            1 => proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
            3 => proptest::collection::btree_map(key.clone(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// What a record answer carries: an object with an id (`_id` or `id`) and a status.
fn carries_a_record(v: &Value) -> bool {
    let present = |k: &str| v.get(k).is_some_and(|x| !x.is_null());
    v.is_object() && (present("_id") || present("id")) && present("status")
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Get,
    Put,
}

async fn answer_case(
    server: &SandboxServer,
    c: &Client,
    op: Op,
    status: u16,
    content_type: &'static str,
    body: &[u8],
) -> Result<bool, Error> {
    server.fail_next_with(1, status, Bytes::copy_from_slice(body), content_type);
    let record = match op {
        Op::Get => c.get_sim(ID).await,
        Op::Put => c
            .update_sim(ID)
            .status("active")
            .send()
            .await
            .map(|u| u.into_resource().expect("a stored record")),
    }?;
    Ok(record.id.is_some() && record.status.is_some())
}

/// A decode error that keeps the answer's status and a snippet of its body.
fn is_decode_of(e: &Error, status: u16, body: &[u8]) -> Result<(), String> {
    match e {
        // A 204 carries no body whatever was served.
        Error::Decode {
            status: s, snippet, ..
        } if *s == status => {
            let text = String::from_utf8_lossy(body);
            let start: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
            let start: String = start.chars().take(20).collect();
            if status != 204 && !snippet.starts_with(&start) {
                return Err(format!("snippet {snippet:?} is not the start of the body"));
            }
            Ok(())
        }
        other => Err(format!(
            "expected a decode error with status {status}, got {other:?}"
        )),
    }
}

#[test]
fn generated_answers_that_are_not_edgeiq_s_are_decode_errors() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let c = client(&server, "token");
    let statuses = proptest::sample::select(vec![200u16, 201, 202, 204]);
    for op in [Op::Get, Op::Put] {
        runner(64)
            .run(&(json_values(), statuses.clone()), |(v, status)| {
                let body = v.to_string();
                let result = rt.block_on(answer_case(
                    &server,
                    &c,
                    op,
                    status,
                    "application/json",
                    body.as_bytes(),
                ));
                match result {
                    Ok(complete) => {
                        prop_assert!(status != 204, "{op:?}: a 204 read as a record");
                        prop_assert!(carries_a_record(&v), "{op:?} {status} {body}: accepted");
                        prop_assert!(complete, "{op:?} {status} {body}: accepted incomplete");
                    }
                    Err(e) => {
                        is_decode_of(&e, status, body.as_bytes()).map_err(TestCaseError::fail)?;
                    }
                }
                Ok(())
            })
            .unwrap();
    }
}

#[test]
fn regression_empty_objects_and_lists_are_not_records() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let c = client(&server, "token");
    let mut bodies = not_json_bodies();
    for json in [
        "{}",
        "[]",
        "null",
        r#"{"message": "ok"}"#,
        r#"{"total": 1, "resources": [{"_id": "65f1c0ffee0123456789abcd", "status": "active"}]}"#,
        r#"[{"_id": "65f1c0ffee0123456789abcd", "status": "active"}]"#,
    ] {
        bodies.push(("application/json", Bytes::from_static(json.as_bytes())));
    }
    rt.block_on(async {
        for op in [Op::Get, Op::Put] {
            for status in [200u16, 201, 202, 204] {
                for (ct, body) in &bodies {
                    let e = answer_case(&server, &c, op, status, ct, body)
                        .await
                        .expect_err(&format!("{op:?} {status} {body:?}"));
                    is_decode_of(&e, status, body).unwrap();
                }
            }
        }
    });
}

#[test]
fn recorded_answers_still_succeed() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let c = client(&server, "token");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    rt.block_on(async {
        for file in ["sim_record.json", "sim_record_id_key.json"] {
            let body = std::fs::read(format!("{dir}/{file}")).unwrap();
            for op in [Op::Get, Op::Put] {
                let complete = answer_case(&server, &c, op, 200, "application/json", &body)
                    .await
                    .unwrap_or_else(|e| panic!("{file} {op:?}: {e}"));
                assert!(complete, "{file}");
            }
        }
    });
}

#[tokio::test]
async fn regression_a_bulk_run_against_empty_objects_reports_failed_never_done() {
    let router = Router::new().fallback(|| async { json_response(200, &json!({})) });
    let server = SandboxServer::start(router).await.unwrap();
    let provider: Arc<dyn SimProvider> = Arc::new(client(&server, "token"));
    let items = (0..8).map(|i| {
        BulkItem::new(
            format!("65f1c0ffee0123456789ab{i:02}"),
            SimChange::new().state(SimState::Active),
        )
    });
    let report = BulkUpdater::new(provider)
        .retry(RetryPolicy::none())
        .run(items)
        .await;
    assert_eq!((report.total, report.done, report.pending), (8, 0, 0));
    assert_eq!(report.failed, 8, "{report:?}");
    for (_, _, e) in &report.failures {
        assert!(matches!(e, Error::Decode { status: 200, .. }), "{e:?}");
    }
}
