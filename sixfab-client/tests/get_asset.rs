//! `GET /assets/{asset_id}` and the `SimProvider` view of an asset, against a local mock server.

mod common;

use std::sync::Arc;

use common::{SENTINEL, USER_AGENT, client, fixture};
use httpmock::prelude::*;
use serde_json::json;
use simcore::{Applied, DisplayName, Error, SimChange, SimProvider, SimSnapshot, SimState};
use sixfab_client::{AssetStatus, Client};

#[tokio::test]
async fn reads_known_fields_and_keeps_the_rest() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/assets/SN-ALPON-0042")
                .header("x-api-key", SENTINEL)
                .header("user-agent", USER_AGENT);
            then.status(200)
                .header("content-type", "application/json")
                .body(fixture("asset.json"));
        })
        .await;
    let asset = client(&server).get_asset("SN-ALPON-0042").await.unwrap();
    assert_eq!(asset.id.as_deref(), Some("1042"));
    assert_eq!(
        asset.uuid.as_deref(),
        Some("3f2b8c1e-9d4a-4e6b-8a7c-1d2e3f4a5b6c")
    );
    assert_eq!(asset.serial_number.as_deref(), Some("SN-ALPON-0042"));
    assert_eq!(asset.name.as_deref(), Some("pump station 7"));
    assert_eq!(asset.status, Some(AssetStatus::Active));
    assert_eq!(asset.iccid.as_deref(), Some("89882806660004909182"));
    assert_eq!(asset.network_group(), Some("default_1gb"));
    let mut kept: Vec<&str> = asset.extra.keys().map(String::as_str).collect();
    kept.sort_unstable();
    assert_eq!(kept, ["created_at", "device", "prosim", "supersim"]);
    assert_eq!(asset.extra["device"], json!({"type": "ALPON X4"}));
    assert_eq!(m.calls_async().await, 1);
}

#[tokio::test]
async fn an_envelope_and_an_unknown_status_are_read() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/assets/SN-ALPON-0042");
            then.status(200).body(fixture("asset_enveloped.json"));
        })
        .await;
    let asset = client(&server).get_asset("SN-ALPON-0042").await.unwrap();
    assert_eq!(asset.name.as_deref(), Some("pump station 7"));
    assert_eq!(
        asset.status,
        Some(AssetStatus::Unknown("hibernating".into()))
    );
}

#[tokio::test]
async fn a_bad_id_sends_nothing() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|_when, then| {
            then.status(200);
        })
        .await;
    let err = client(&server).get_asset(".").await.unwrap_err();
    assert!(
        matches!(err, Error::Invalid(ref v) if v.field() == "asset_id"),
        "{err:?}"
    );
    assert_eq!(m.calls_async().await, 0);
}

fn provider(server: &MockServer) -> Arc<dyn SimProvider> {
    Arc::new(client(server))
}

#[tokio::test]
async fn fetch_maps_status_name_and_iccid() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/assets/SN-ALPON-0042");
            then.status(200).body(fixture("asset.json"));
        })
        .await;
    let p = provider(&server);
    assert_eq!(p.name(), "sixfab");
    assert_eq!(
        p.fetch("SN-ALPON-0042").await.unwrap(),
        SimSnapshot::new("sixfab", "SN-ALPON-0042", SimState::Active)
            .with_native_status("active")
            .with_display_name("pump station 7")
            .with_iccid("89882806660004909182")
            // Every other id the asset answers to: its UUID, id, and each SIM's SID and ICCID.
            .with_alias("3f2b8c1e-9d4a-4e6b-8a7c-1d2e3f4a5b6c")
            .with_alias("1042")
            .with_alias("HS0123456789abcdef0123456789abcdef")
            .with_alias("89882806660004909182")
            .with_alias("8944500102198304826")
    );
}

#[tokio::test]
async fn apply_sends_status_and_name() {
    let server = MockServer::start_async().await;
    let with_body = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::PATCH)
                .path("/v1/assets/SN1")
                .header("x-api-key", SENTINEL)
                .json_body(json!({"status": "inactive", "name": "pump station 7"}));
            then.status(200).json_body(
                json!({"serial_number": "SN1", "name": "pump station 7", "status": "inactive"}),
            );
        })
        .await;
    let no_body = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::PATCH)
                .path("/v1/assets/SN2")
                .json_body(json!({"status": "active"}));
            then.status(204);
        })
        .await;
    let message = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::PATCH)
                .path("/v1/assets/SN3")
                .json_body(json!({"name": "pump station 8"}));
            then.status(200).json_body(json!({"message": "updated"}));
        })
        .await;
    let p = provider(&server);

    let change = SimChange::new()
        .state(SimState::Inactive)
        .display_name(DisplayName::parse("pump station 7").unwrap())
        .known_state(SimState::Active);
    assert_eq!(
        p.apply("SN1", &change).await.unwrap(),
        Applied::Done(Some(
            SimSnapshot::new("sixfab", "SN1", SimState::Inactive)
                .with_native_status("inactive")
                .with_display_name("pump station 7")
        ))
    );
    // An answer that does not show the change (no body, a confirmation) is not counted done
    // on its own: a decode error that says nothing of whether it was applied, which a bulk run
    // settles by reading the asset back. (This test used to expect `DoneWithoutBody` for both:
    // the very answers a bulk run then counted done although nothing changed.)
    let change = SimChange::new().state(SimState::Active);
    let err = p.apply("SN2", &change).await.unwrap_err();
    assert!(
        matches!(err, simcore::Error::Decode { status: 204, .. }),
        "{err:?}"
    );
    assert_eq!(err.sent(), simcore::error::Sent::Maybe);
    let change = SimChange::new().display_name(DisplayName::parse("pump station 8").unwrap());
    let err = p.apply("SN3", &change).await.unwrap_err();
    assert!(
        matches!(err, simcore::Error::Decode { status: 200, .. }),
        "{err:?}"
    );
    assert_eq!(err.sent(), simcore::error::Sent::Maybe);
    assert_eq!(with_body.calls_async().await, 1);
    assert_eq!(no_body.calls_async().await, 1);
    assert_eq!(message.calls_async().await, 1);
}

#[tokio::test]
async fn apply_refuses_before_sending() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|_when, then| {
            then.status(200);
        })
        .await;
    let p = provider(&server);

    for target in [
        SimState::New,
        SimState::Ready,
        SimState::Retired,
        SimState::Deleted,
        SimState::Pending,
    ] {
        let err = p
            .apply("SN1", &SimChange::new().state(target.clone()))
            .await
            .unwrap_err();
        match err {
            Error::Invalid(v) => {
                assert_eq!(v.field(), "state");
                assert_eq!(
                    v.rule(),
                    "a Sixfab asset can only be set to active or inactive"
                );
            }
            other => panic!("{target}: {other:?}"),
        }
    }
    // Already there: not an error, and nothing sent.
    let unchanged = p
        .apply(
            "SN1",
            &SimChange::new()
                .state(SimState::Active)
                .known_state(SimState::Active),
        )
        .await
        .unwrap();
    assert_eq!(unchanged, simcore::Applied::Unchanged);
    let err = p.apply("SN1", &SimChange::new()).await.unwrap_err();
    assert!(
        matches!(err, Error::Invalid(ref v) if v.field() == "update"),
        "{err:?}"
    );
    let err = p
        .apply("", &SimChange::new().state(SimState::Active))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::Invalid(ref v) if v.field() == "asset_id"),
        "{err:?}"
    );
    assert_eq!(m.calls_async().await, 0);
}

#[test]
fn lifecycle_is_active_and_inactive() {
    let c = Client::new("k").unwrap();
    let l = c.lifecycle();
    assert_eq!(
        l.pairs().unwrap(),
        &[
            (SimState::Active, SimState::Inactive),
            (SimState::Inactive, SimState::Active)
        ]
    );
}
