//! The Sixfab client against a hostile server, with generated inputs: asset ids that try to
//! leave their path segment, answers that quote the API key back, a 429 storm and a stalled
//! body, and 2xx answers that are not Sixfab's. One regression test per class, and property
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
use sixfab_client::{Asset, AssetId, Client, SettableStatus, Updated};
use testkit::hostile::{
    Shape, check_one_segment, echo_router, id_pieces, not_json_bodies, stalled_body_router,
    storm_router,
};

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

fn client(server: &SandboxServer, key: &str) -> Client {
    Client::builder()
        .api_key(key)
        .base_url(format!("{}/v1", server.base_url()))
        .retry(RetryPolicy::none())
        .build()
        .unwrap()
}

// ----- 1. ids -----

/// Asset ids built from the hostile pieces and arbitrary text, with serials, UUIDs and ICCIDs.
fn asset_ids() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        3 => proptest::sample::select(id_pieces()),
        1 => any::<char>().prop_map(String::from),
        1 => "[a-zA-Z0-9_~-]{1,6}",
    ];
    prop_oneof![
        8 => proptest::collection::vec(piece, 0..6).prop_map(|p| p.concat()),
        1 => "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
        1 => "89[0-9]{17}",
        1 => any::<String>(),
    ]
}

fn answer_404() -> Router {
    Router::new().fallback(|| async { json_response(404, &json!({"detail": "Asset not found"})) })
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
        Call::Get => c.get_asset(id).await.map(drop),
        Call::Update => c
            .update_asset(id)
            .status(SettableStatus::Active)
            .send()
            .await
            .map(drop),
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
            if AssetId::parse(id).is_ok() {
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
            check_one_segment("/v1/assets", &sent[0].path, id)
        }
    }
}

#[test]
fn generated_asset_ids_stay_one_segment_or_are_refused_unsent() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let c = client(&server, "key");
    for call in [
        Call::Get,
        Call::Update,
        Call::ProviderFetch,
        Call::ProviderApply,
    ] {
        runner(64)
            .run(&asset_ids(), |id| {
                rt.block_on(id_case(&server, &c, call, &id))
                    .map_err(TestCaseError::fail)
            })
            .unwrap();
    }
}

#[test]
fn regression_serials_that_once_left_their_segment() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let c = client(&server, "key");
    for id in [
        "SN\t1",
        ".\t.",
        "..",
        ".",
        "",
        "../users",
        "ALPON-X4 #17",
        "a/b",
        "a?b",
        "%2e%2E%2f",
        " .. ",
        "\u{85}",
        "é/𝄞",
        "\\..\\",
    ] {
        for call in [Call::Get, Call::Update, Call::ProviderApply] {
            rt.block_on(id_case(&server, &c, call, id)).unwrap();
        }
    }
}

// ----- 2. secrets echoed back -----

const SENTINEL: &str = "SENTINEL-sixfab/+ &\"<~key";

fn leaked(shown: &str, secret: &str) -> Option<String> {
    let chars: Vec<char> = secret.chars().collect();
    chars
        .windows(chars.len().min(12))
        .map(|w| w.iter().collect::<String>())
        .find(|w| shown.contains(w.as_str()))
}

#[test]
fn regression_an_echoed_api_key_never_shows() {
    let rt = runtime();
    rt.block_on(async {
        let mut failures = Vec::new();
        for status in [400u16, 401, 403, 404, 422, 500, 503, 200] {
            for shape in Shape::ALL {
                let server = SandboxServer::start(echo_router(status, shape))
                    .await
                    .unwrap();
                let c = client(&server, SENTINEL);
                let errors = [
                    c.get_asset("SN123").await.err(),
                    c.update_asset("SN123")
                        .status(SettableStatus::Inactive)
                        .send()
                        .await
                        .err(),
                ];
                for err in errors.into_iter().flatten() {
                    let shown = format!("{err}\n{err:?}");
                    if let Some(piece) = leaked(&shown, SENTINEL) {
                        failures.push(format!("{status} {shape:?}: {piece:?} in {shown}"));
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
        .api_key("key")
        .base_url(server.base_url())
        .build()
        .unwrap();
    let started = Instant::now();
    let err = c.get_asset("SN123").await.unwrap_err();
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
        .api_key("key")
        .base_url(server.base_url())
        .deadline(Duration::from_secs(1))
        .build()
        .unwrap();
    let started = Instant::now();
    let err = c.get_asset("SN123").await.unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(matches!(err, Error::Deadline { .. }), "{err:?}");
}

// ----- 4. answers that are not Sixfab's -----

fn json_values() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        prop_oneof![
            Just("active".to_owned()),
            Just("SN123".to_owned()),
            ".{0,8}"
        ]
        .prop_map(Value::from),
    ];
    let key = prop_oneof![
        4 => proptest::sample::select(vec![
            "id", "uuid", "serial_number", "serial", "name", "status", "iccid", "data",
            "supersim", "message", "detail", "success",
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

/// Whether an object carries what an asset answer does: an id of any kind, or a status.
fn identity(v: &Value) -> bool {
    let id = |k: &str| matches!(v.get(k), Some(Value::String(_) | Value::Number(_)));
    ["id", "uuid", "serial_number", "serial", "iccid"]
        .into_iter()
        .any(id)
        || matches!(v.get("status"), Some(Value::String(_)))
}

/// Whether any reading of the object (as it is, or its `data`) carries an asset's identity.
fn may_be_an_asset(v: &Value) -> bool {
    v.is_object() && (identity(v) || v.get("data").is_some_and(identity))
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Get,
    Patch,
}

/// Serves one answer; `Ok(true)` when the call succeeded with an asset that has an identity (or,
/// for a PATCH, a confirmation or no body).
async fn answer_case(
    server: &SandboxServer,
    c: &Client,
    op: Op,
    status: u16,
    content_type: &'static str,
    body: &[u8],
) -> Result<Option<Updated<Asset>>, Error> {
    server.fail_next_with(
        1,
        status,
        axum::body::Bytes::copy_from_slice(body),
        content_type,
    );
    match op {
        Op::Get => c
            .get_asset("SN123")
            .await
            .map(|a| Some(Updated::Done(Some(a)))),
        Op::Patch => c
            .update_asset("SN123")
            .status(SettableStatus::Active)
            .send()
            .await
            .map(Some),
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
fn generated_answers_that_are_not_sixfab_s_are_decode_errors() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let c = client(&server, "key");
    let statuses = proptest::sample::select(vec![200u16, 201, 202, 204]);
    for op in [Op::Get, Op::Patch] {
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
                let confirmation = matches!(v.get("message"), Some(Value::String(_)));
                match result {
                    Ok(Some(Updated::Done(Some(a)))) => {
                        prop_assert!(status != 204, "{op:?} 204 read as an asset");
                        prop_assert!(may_be_an_asset(&v), "{op:?} {status} {body}: accepted");
                        prop_assert!(a.is_asset(), "{op:?} {status} {body}: no identity");
                    }
                    Ok(Some(Updated::Done(None))) => {
                        prop_assert!(matches!(op, Op::Patch), "{body}");
                        if status == 204 {
                            // A 204 carries no body, whatever was served: no body.
                        } else {
                            // A body without the asset: only a confirmation.
                            prop_assert!(confirmation, "{status} {body}");
                        }
                    }
                    Ok(Some(Updated::Pending(_))) => {
                        prop_assert!(false, "Sixfab applies updates at once: never pending")
                    }
                    Ok(Some(Updated::Unchanged)) => {
                        prop_assert!(false, "nothing was known: an update cannot be unchanged")
                    }
                    Ok(None) => unreachable!(),
                    Err(e) => {
                        prop_assert!(
                            !(matches!(op, Op::Patch) && status == 204),
                            "a 204 to a PATCH: {e}"
                        );
                        is_decode_of(&e, status, body.as_bytes()).map_err(TestCaseError::fail)?;
                    }
                }
                Ok(())
            })
            .unwrap();
    }
}

#[test]
fn regression_empty_objects_and_pages_are_not_answers() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let c = client(&server, "key");
    let mut bodies = not_json_bodies();
    for json in [
        "{}",
        "[]",
        "null",
        "\"ok\"",
        r#"{"data": {}}"#,
        r#"{"detail": "ok"}"#,
    ] {
        bodies.push((
            "application/json",
            axum::body::Bytes::from_static(json.as_bytes()),
        ));
    }
    rt.block_on(async {
        for op in [Op::Get, Op::Patch] {
            for status in [200u16, 201, 202] {
                for (ct, body) in &bodies {
                    let empty = body.iter().all(u8::is_ascii_whitespace);
                    let r = answer_case(&server, &c, op, status, ct, body).await;
                    if matches!(op, Op::Patch) && empty {
                        // An update answered with no body (as a 204 would be) is success.
                        assert!(matches!(r, Ok(Some(Updated::Done(None)))), "{r:?}");
                        continue;
                    }
                    let e = r.expect_err(&format!("{op:?} {status} {body:?}"));
                    is_decode_of(&e, status, body).unwrap();
                }
            }
            // A GET answered 204 has no asset.
            let e = answer_case(&server, &c, Op::Get, 204, "application/json", b"")
                .await
                .unwrap_err();
            is_decode_of(&e, 204, b"").unwrap();
        }
    });
}

#[test]
fn recorded_answers_still_succeed() {
    let rt = runtime();
    let server = rt.block_on(SandboxServer::start(answer_404())).unwrap();
    let c = client(&server, "key");
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    rt.block_on(async {
        for file in ["asset.json", "asset_enveloped.json"] {
            let body = std::fs::read(format!("{dir}/{file}")).unwrap();
            for op in [Op::Get, Op::Patch] {
                let r = answer_case(&server, &c, op, 200, "application/json", &body)
                    .await
                    .unwrap_or_else(|e| panic!("{file} {op:?}: {e}"));
                assert!(
                    matches!(&r, Some(Updated::Done(Some(a))) if a.is_asset()),
                    "{file}: {r:?}"
                );
            }
        }
    });
}

#[tokio::test]
async fn regression_a_bulk_run_against_empty_objects_reports_failed_never_done() {
    let router = Router::new().fallback(|| async { json_response(200, &json!({})) });
    let server = SandboxServer::start(router).await.unwrap();
    let provider: Arc<dyn SimProvider> = Arc::new(client(&server, "key"));
    let items =
        (0..8).map(|i| BulkItem::new(format!("SN-{i}"), SimChange::new().state(SimState::Active)));
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
