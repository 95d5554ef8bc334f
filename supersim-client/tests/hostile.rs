//! The Super SIM client against a hostile server, with generated inputs: SIM names that try to
//! leave their path segment, answers that quote the credential back, a 429 storm and a stalled
//! body, and 2xx answers that are not Twilio's. One regression test per class, and property
//! tests run with a manual `TestRunner` on one runtime and one shared loopback server.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};
use simcore::retry::RetryPolicy;
use simcore::{Error, SimChange, SimProvider, SimState};
use simfleet::bulk::{BulkItem, BulkUpdater};
use simsandbox::{SandboxServer, json_response};
use supersim_client::{Client, SettableStatus, SimRef};
use testkit::hostile::{
    Shape, check_one_segment, echo_router, id_pieces, not_json_bodies, stalled_body_router,
    storm_router,
};

const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const SK: &str = "SKbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const SID: &str = "HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

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

fn client(server: &SandboxServer, token: &str) -> Client {
    Client::builder()
        .account(AC, token)
        .base_url(server.base_url())
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

// ----- 1. ids -----

/// SIM names built from the hostile pieces, arbitrary text, and SID-shaped values.
fn sim_names() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(id_pieces()),
        1 => any::<char>().prop_map(String::from),
        1 => "[a-zA-Z0-9_~-]{1,6}",
    ];
    prop_oneof![
        8 => proptest::collection::vec(piece, 0..6).prop_map(|p| p.concat()),
        1 => "HS[0-9a-f]{32}",
        1 => "[A-Z]{2}[0-9a-zA-Z]{32}",
        1 => any::<String>(),
    ]
}

fn answer_404() -> Router {
    Router::new().fallback(|| async {
        json_response(
            404,
            &json!({"code": 20404, "message": "not found", "status": 404}),
        )
    })
}

#[derive(Debug, Clone, Copy)]
enum Call {
    Fetch,
    Update,
    ProviderFetch,
    ProviderApply,
}

/// One call naming the SIM `name`: refused with `Invalid` and nothing sent, or one request to
/// `/v1/Sims/<one segment that decodes to name>` with no query.
async fn id_case(server: &SandboxServer, c: &Client, call: Call, name: &str) -> Result<(), String> {
    server.clear_requests();
    let result = match call {
        Call::Fetch => c.get_sim(name).await.map(drop),
        Call::Update => c
            .update_sim(name)
            .status(SettableStatus::Active)
            .send()
            .await
            .map(drop),
        Call::ProviderFetch => SimProvider::fetch(c, name).await.map(drop),
        Call::ProviderApply => {
            SimProvider::apply(c, name, &SimChange::new().state(SimState::Active))
                .await
                .map(drop)
        }
    };
    let sent = server.requests();
    match result {
        Err(Error::Invalid(v)) => {
            if !sent.is_empty() {
                return Err(format!("{call:?} {name:?}: refused ({v}) but sent"));
            }
            if SimRef::parse(name).is_ok() {
                return Err(format!("{call:?} {name:?}: a valid name was refused: {v}"));
            }
            Ok(())
        }
        other => {
            if sent.len() != 1 {
                return Err(format!(
                    "{call:?} {name:?}: {} requests, {other:?}",
                    sent.len()
                ));
            }
            if sent[0].query.is_some() {
                return Err(format!("{call:?} {name:?}: query {:?}", sent[0].query));
            }
            check_one_segment("/v1/Sims", &sent[0].path, name)
        }
    }
}

#[test]
fn generated_sim_names_stay_one_segment_or_are_refused_unsent() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let c = client(&server, "token");
    for call in [
        Call::Fetch,
        Call::Update,
        Call::ProviderFetch,
        Call::ProviderApply,
    ] {
        runner(64)
            .run(&sim_names(), |name| {
                rt.block_on(id_case(&server, &c, call, &name))
                    .map_err(TestCaseError::fail)
            })
            .unwrap();
    }
}

#[test]
fn regression_sim_names_that_once_left_their_segment() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let c = client(&server, "token");
    for name in [
        "pump\t7",
        ".\t.",
        "..",
        ".",
        "",
        "../Fleets",
        "a/b",
        "a?b",
        "a#b",
        "%2e%2E",
        "%2e%2E%2f",
        " .. ",
        "\u{85}x",
        "x\u{7f}",
        "é 𝄞",
        SID,
    ] {
        for call in [Call::Fetch, Call::Update, Call::ProviderApply] {
            rt.block_on(id_case(&server, &c, call, name)).unwrap();
        }
    }
}

// ----- 2. secrets echoed back -----

const SENTINEL: &str = "SENTINEL-twilio/+ &\"<~token";

fn leaked(shown: &str, secret: &str) -> Option<String> {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .windows(chars.len().min(12))
        .map(|w| w.iter().collect::<String>())
        .find(|w| shown.contains(w.as_str()))
}

#[test]
fn regression_echoed_account_and_api_key_secrets_never_show() {
    let rt = runtime();
    rt.block_on(async {
        let mut failures = Vec::new();
        for status in [400u16, 401, 404, 429, 500, 503, 200] {
            for shape in Shape::ALL {
                let server = SandboxServer::start(echo_router(status, shape))
                    .await
                    .unwrap();
                for (label, builder) in [
                    ("account", Client::builder().account(AC, SENTINEL)),
                    ("api key", Client::builder().api_key(SK, SENTINEL)),
                ] {
                    let c = builder
                        .base_url(server.base_url())
                        .retry(RetryPolicy::none())
                        .build()
                        .unwrap();
                    let errors = [
                        c.get_sim(SID).await.err(),
                        c.update_sim(SID)
                            .status(SettableStatus::Inactive)
                            .send()
                            .await
                            .err(),
                        c.list_sims().first_page().await.err(),
                    ];
                    for err in errors.into_iter().flatten() {
                        let shown = format!("{err}\n{err:?}");
                        if let Some(piece) = leaked(&shown, SENTINEL) {
                            failures
                                .push(format!("{label} {status} {shape:?}: {piece:?} in {shown}"));
                        }
                    }
                }
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
        .account(AC, "token")
        .base_url(server.base_url())
        .build()
        .unwrap();
    let started = Instant::now();
    let err = c.get_sim(SID).await.unwrap_err();
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
}

#[tokio::test]
async fn regression_a_stalled_body_ends_within_the_client_deadline() {
    let server = SandboxServer::start(stalled_body_router()).await.unwrap();
    let c = Client::builder()
        .account(AC, "token")
        .base_url(server.base_url())
        .deadline(Duration::from_secs(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = c.get_sim(SID).await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Deadline { .. }), "{err:?}");
    assert!(err.to_string().contains("deadline of 1s"), "{err}");
}

// ----- 4. answers that are not Twilio's -----

/// JSON values whose keys are mostly the Sim's and the page's, with values of any type.
fn json_values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just(SID.to_owned()),
            Just("active".to_owned()),
            Just("scheduled".to_owned()),
            ".{0,8}"
        ]
        .prop_map(Value::from),
    ];
    let key = prop_oneof![
        4 => proptest::sample::select(vec![
            "sid", "status", "unique_name", "account_sid", "iccid", "fleet_sid", "date_created",
            "url", "links", "sims", "meta", "next_page_url", "message", "code",
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

fn is_text(v: Option<&Value>) -> bool {
    matches!(v, Some(Value::String(_)))
}

/// What a Sim answer carries: an object with a text `sid` and `status`.
fn carries_a_sim(v: &Value) -> bool {
    v.is_object() && is_text(v.get("sid")) && is_text(v.get("status"))
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Fetch,
    Update,
    List,
}

async fn answer_case(
    server: &SandboxServer,
    c: &Client,
    op: Op,
    status: u16,
    content_type: &'static str,
    body: &[u8],
) -> Result<bool, Error> {
    server.fail_next_with(1, status, bytes::Bytes::copy_from_slice(body), content_type);
    match op {
        Op::Fetch => c
            .get_sim(SID)
            .await
            .map(|s| s.sid.is_some() && s.status.is_some()),
        Op::Update => c
            .update_sim(SID)
            .status(SettableStatus::Active)
            .send()
            .await
            .map(|o| {
                o.resource()
                    .is_some_and(|s| s.sid.is_some() && s.status.is_some())
            }),
        Op::List => c.list_sims().first_page().await.map(|p| {
            p.items
                .iter()
                .all(|s| s.sid.is_some() && s.status.is_some())
        }),
    }
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
fn generated_answers_that_are_not_twilio_s_are_decode_errors() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let c = client(&server, "token");
    let statuses = proptest::sample::select(vec![200u16, 201, 202, 204]);
    for op in [Op::Fetch, Op::Update, Op::List] {
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
                let real = status != 204
                    && match op {
                        Op::Fetch | Op::Update => carries_a_sim(&v),
                        Op::List => {
                            v.is_object()
                                && match v.get("sims") {
                                    Some(Value::Null) => true,
                                    Some(Value::Array(items)) => items.iter().all(carries_a_sim),
                                    _ => false,
                                }
                        }
                    };
                match result {
                    Ok(complete) => {
                        prop_assert!(real, "{op:?} {status} {body}: accepted");
                        prop_assert!(complete, "{op:?} {status} {body}: accepted incomplete");
                    }
                    Err(e) if real => {
                        // A real-looking answer may still fail on a field of the wrong type; it
                        // must do so as a decode error.
                        is_decode_of(&e, status, body.as_bytes()).map_err(TestCaseError::fail)?;
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
fn regression_empty_objects_pages_and_arrays_are_not_answers() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let c = client(&server, "token");
    let mut bodies: Vec<(&'static str, bytes::Bytes)> = not_json_bodies();
    for json in [
        "{}",
        "[]",
        "null",
        "\"ok\"",
        r#"{"sid": null, "status": null}"#,
        r#"{"message": "ok"}"#,
        // serde reads a struct from an array of its fields in order: no answer is an array.
        r#"["HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", null, null, null, "active"]"#,
    ] {
        bodies.push((
            "application/json",
            bytes::Bytes::from_static(json.as_bytes()),
        ));
    }
    rt.block_on(async {
        for op in [Op::Fetch, Op::Update, Op::List] {
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

/// Every Sim and every page in the recorded and documented answers.
fn recorded_answers() -> (Vec<Value>, Vec<Value>) {
    fn walk(v: &Value, sims: &mut Vec<Value>, pages: &mut Vec<Value>) {
        match v {
            Value::Object(m) => {
                if carries_a_sim(v) {
                    sims.push(v.clone());
                }
                if m.get("sims").is_some_and(Value::is_array) {
                    pages.push(v.clone());
                }
                m.values().for_each(|x| walk(x, sims, pages));
            }
            Value::Array(items) => items.iter().for_each(|x| walk(x, sims, pages)),
            Value::String(s) if s.trim_start().starts_with('{') => {
                if let Ok(inner) = serde_json::from_str::<Value>(s) {
                    walk(&inner, sims, pages);
                }
            }
            _ => {}
        }
    }
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests");
    let mut sims = Vec::new();
    let mut pages = Vec::new();
    for file in [
        "specs/twilio_supersim_sim_fixtures.json",
        "fixtures/fetch_200.json",
        "fixtures/update_status_202.json",
        "fixtures/update_transfer_200.json",
        "fixtures/update_unique_name_200.json",
        "fixtures/list_by_fleet_sid_200.json",
    ] {
        let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
        walk(&serde_json::from_str(&text).unwrap(), &mut sims, &mut pages);
    }
    assert!(
        sims.len() >= 8 && !pages.is_empty(),
        "{} {}",
        sims.len(),
        pages.len()
    );
    (sims, pages)
}

#[test]
fn recorded_answers_still_succeed() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let c = client(&server, "token");
    let (sims, pages) = recorded_answers();
    rt.block_on(async {
        for sim in &sims {
            let body = sim.to_string();
            for (op, status) in [(Op::Fetch, 200), (Op::Update, 200), (Op::Update, 202)] {
                let ok = answer_case(&server, &c, op, status, "application/json", body.as_bytes())
                    .await
                    .unwrap_or_else(|e| panic!("{op:?} {status} {body}: {e}"));
                assert!(ok);
            }
        }
        for page in &pages {
            let body = page.to_string();
            let ok = answer_case(
                &server,
                &c,
                Op::List,
                200,
                "application/json",
                body.as_bytes(),
            )
            .await
            .unwrap_or_else(|e| panic!("list {body}: {e}"));
            assert!(ok);
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
            format!("pump-{i}"),
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
