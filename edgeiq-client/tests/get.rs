//! `GET /sims/{id}`: the exact request, and a tolerant read of the record.

mod common;

use common::*;
use httpmock::prelude::*;
use serde_json::json;
use simcore::SimState;

#[tokio::test]
async fn reads_the_full_record() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(SIM_PATH)
                .header("authorization", SENTINEL)
                .header(
                    "user-agent",
                    concat!("edgeiq-client/", env!("CARGO_PKG_VERSION")),
                )
                .header_missing("content-type")
                .is_true(|req| req.body_ref().is_empty());
            then.status(200).json_body(fixture("sim_record.json"));
        })
        .await;
    let got = client(&server).get_sim(ID).await.unwrap();
    assert_eq!(got, record());
    // Written back, the record is the fixture again: nothing was lost.
    assert_eq!(
        serde_json::to_value(&got).unwrap(),
        fixture("sim_record.json")
    );
    m.assert_calls_async(1).await;
}

#[tokio::test]
async fn reads_the_id_under_either_key_and_keeps_unknown_values() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path(SIM_PATH);
            then.status(200)
                .json_body(fixture("sim_record_id_key.json"));
        })
        .await;
    let got = client(&server).get_sim(ID).await.unwrap();
    assert_eq!(got.id.as_deref(), Some(ID));
    assert_eq!(got.status.as_deref(), Some("TEST READY"));
    assert_eq!(got.state(), SimState::Unknown("TEST READY".into()));
    assert_eq!(got.sim_metadata, Some(serde_json::Map::new()));
    assert_eq!(got.iccid.as_deref(), Some("89882806660004909182"));
    assert_eq!(got.extra.len(), 1);
    assert_eq!(got.extra["carrier_flags"], json!([1, 2]));
    assert_eq!(got.company_id, None);
}

#[tokio::test]
async fn uppercase_hex_ids_are_sent_as_given() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/platform/sims/65F1C0FFEE0123456789ABCD");
            then.status(200)
                .json_body(json!({"_id": "65F1C0FFEE0123456789ABCD", "status": "active"}));
        })
        .await;
    let got = client(&server)
        .get_sim("65F1C0FFEE0123456789ABCD")
        .await
        .unwrap();
    assert_eq!(got.id.as_deref(), Some("65F1C0FFEE0123456789ABCD"));
    m.assert_calls_async(1).await;
}
