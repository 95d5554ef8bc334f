//! `SimProvider` for EdgeIQ, through `Arc<dyn SimProvider>`.

mod common;

use std::sync::Arc;

use common::*;
use httpmock::prelude::*;
use serde_json::json;
use simcore::{Applied, DisplayName, Error, SimChange, SimProvider, SimSnapshot, SimState};

fn provider(server: &MockServer) -> Arc<dyn SimProvider> {
    Arc::new(client(server))
}

#[tokio::test]
async fn fetch_maps_the_record() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET).path(SIM_PATH).header("authorization", SENTINEL);
            then.status(200).json_body(json!({
                "_id": ID, "iccid": "89882806660004909182", "status": "deactivated", "sim_barred": true
            }));
        })
        .await;
    let p = provider(&server);
    assert_eq!(p.name(), "edgeiq");
    assert!(p.lifecycle().is_open());
    let snap = p.fetch(ID).await.unwrap();
    assert_eq!(
        snap,
        SimSnapshot::new("edgeiq", ID, SimState::Retired)
            .with_iccid("89882806660004909182")
            .with_native_status("deactivated")
    );
    m.assert_calls_async(1).await;
}

#[tokio::test]
async fn apply_sends_the_carrier_word_and_returns_the_record() {
    for (state, word) in [
        (SimState::Active, "active"),
        (SimState::Inactive, "inactive"),
        (SimState::Retired, "retired"),
    ] {
        let server = MockServer::start_async().await;
        let m = server
            .mock_async(|when, then| {
                when.method(PUT)
                    .path(SIM_PATH)
                    .header("authorization", SENTINEL)
                    .is_true(body_is(json!({"status": word})));
                then.status(200).json_body(json!({
                    "_id": ID, "iccid": "89882806660004909182", "status": word
                }));
            })
            .await;
        let change = SimChange::new()
            .state(state.clone())
            .known_state(SimState::Unknown("test ready".into()));
        let applied = provider(&server).apply(ID, &change).await.unwrap();
        assert_eq!(
            applied,
            Applied::Done(Some(
                SimSnapshot::new("edgeiq", ID, state)
                    .with_iccid("89882806660004909182")
                    .with_native_status(word)
            ))
        );
        m.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn refusals_send_nothing() {
    let server = MockServer::start_async().await;
    let any = catch_all(&server).await;
    let p = provider(&server);
    let cases = [
        (
            SimChange::new().state(SimState::New),
            "state",
            "edgeiq can set only active, inactive or retired through SimProvider",
        ),
        (
            SimChange::new().state(SimState::Deleted),
            "state",
            "edgeiq can set only active, inactive or retired through SimProvider",
        ),
        (
            SimChange::new().state(SimState::Unknown("suspended".into())),
            "state",
            "edgeiq can set only active, inactive or retired through SimProvider",
        ),
        (
            SimChange::new()
                .state(SimState::Active)
                .display_name(DisplayName::parse("pump 7").unwrap()),
            "display_name",
            "edgeiq SIM records have no display name",
        ),
        (SimChange::new(), "update", "must set at least one field"),
    ];
    for (change, field, rule) in cases {
        match p.apply(ID, &change).await.unwrap_err() {
            Error::Invalid(v) => assert_eq!((v.field(), v.rule()), (field, rule)),
            other => panic!("{other:?}"),
        }
    }
    match p
        .apply("not-an-id", &SimChange::new().state(SimState::Active))
        .await
        .unwrap_err()
    {
        Error::Invalid(v) => assert_eq!(v.field(), "id"),
        other => panic!("{other:?}"),
    }
    any.assert_calls_async(0).await;
}

#[tokio::test]
async fn errors_come_through_typed() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(SIM_PATH);
            then.status(404)
                .json_body(json!({"error": "sim not found"}));
        })
        .await;
    let err = provider(&server).fetch(ID).await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.to_string(),
        "edgeiq: HTTP 404: sim not found; retrying will not help"
    );
}
