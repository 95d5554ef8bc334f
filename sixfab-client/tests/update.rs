//! `PATCH /assets/{asset_id}` against a local mock server: the exact method, path, headers and
//! JSON for each field alone and all together, for each kind of asset id, and what the answer
//! becomes.

mod common;

use common::{SENTINEL, USER_AGENT, client};
use httpmock::prelude::*;
use serde_json::{Value, json};
use simcore::Error;
use sixfab_client::{
    Asset, AssetId, AssetIdKind, AssetStatus, NetworkGroup, SettableStatus, UpdateAssetRequest,
    Updated,
};

/// Mocks one PATCH with the exact path and body, answering 204.
async fn expect_patch<'a>(server: &'a MockServer, path: &str, body: Value) -> httpmock::Mock<'a> {
    let path = path.to_owned();
    server
        .mock_async(move |when, then| {
            when.method(httpmock::Method::PATCH)
                .path(path)
                .header("x-api-key", SENTINEL)
                .header("content-type", "application/json")
                .header("user-agent", USER_AGENT)
                .json_body(body);
            then.status(204);
        })
        .await
}

/// A mock that matches anything: used to prove nothing was sent.
async fn anything(server: &MockServer) -> httpmock::Mock<'_> {
    server
        .mock_async(|_when, then| {
            then.status(500);
        })
        .await
}

#[tokio::test]
async fn each_field_alone_and_all_together() {
    type Set = fn(sixfab_client::UpdateAssetBuilder) -> sixfab_client::UpdateAssetBuilder;
    let cases: Vec<(&str, Set, Value)> = vec![
        (
            "name",
            |b| b.name("pump station 7"),
            json!({"name": "pump station 7"}),
        ),
        (
            "active",
            |b| b.status(SettableStatus::Active),
            json!({"status": "active"}),
        ),
        (
            "inactive",
            |b| b.status(SettableStatus::Inactive),
            json!({"status": "inactive"}),
        ),
        (
            "preset group",
            |b| b.network_group(NetworkGroup::Default100Mb),
            json!({"supersim": {"network_group": "default_100mb"}}),
        ),
        (
            "custom group",
            |b| b.network_group("fleet-eu"),
            json!({"supersim": {"network_group": "fleet-eu"}}),
        ),
        (
            "all",
            |b| {
                b.name("Zürich 🚚 7")
                    .status(SettableStatus::Inactive)
                    .network_group("default_unlimited")
            },
            json!({
                "name": "Zürich 🚚 7",
                "status": "inactive",
                "supersim": {"network_group": "default_unlimited"}
            }),
        ),
    ];
    for (what, set, body) in cases {
        let server = MockServer::start_async().await;
        let m = expect_patch(&server, "/v1/assets/SN123", body).await;
        let answer = set(client(&server).update_asset("SN123")).send().await;
        assert_eq!(answer.unwrap(), Updated::Done(None), "{what}");
        assert_eq!(m.calls_async().await, 1, "{what}");
    }
}

#[tokio::test]
async fn every_preset_network_group_on_the_wire() {
    for (group, wire) in [
        (NetworkGroup::Default100Mb, "default_100mb"),
        (NetworkGroup::Default1Gb, "default_1gb"),
        (NetworkGroup::Default10Gb, "default_10gb"),
        (NetworkGroup::DefaultUnlimited, "default_unlimited"),
    ] {
        let server = MockServer::start_async().await;
        let m = expect_patch(
            &server,
            "/v1/assets/SN123",
            json!({"supersim": {"network_group": wire}}),
        )
        .await;
        client(&server)
            .update_asset("SN123")
            .network_group(group)
            .send()
            .await
            .unwrap();
        assert_eq!(m.calls_async().await, 1, "{wire}");
    }
}

#[tokio::test]
async fn every_kind_of_asset_id_is_one_segment() {
    let cases = [
        ("SN123", AssetIdKind::Serial, "/v1/assets/SN123"),
        (
            "ALPON/X4 #17",
            AssetIdKind::Serial,
            "/v1/assets/ALPON%2FX4%20%2317",
        ),
        ("a?b=c%d", AssetIdKind::Serial, "/v1/assets/a%3Fb%3Dc%25d"),
        ("..x", AssetIdKind::Serial, "/v1/assets/..x"),
        (
            "3f2b8c1e-9d4a-4e6b-8a7c-1d2e3f4a5b6c",
            AssetIdKind::Uuid,
            "/v1/assets/3f2b8c1e-9d4a-4e6b-8a7c-1d2e3f4a5b6c",
        ),
        (
            "HS0123456789abcdef0123456789abcdef",
            AssetIdKind::SimSid,
            "/v1/assets/HS0123456789abcdef0123456789abcdef",
        ),
        (
            "89882806660004909182",
            AssetIdKind::Iccid,
            "/v1/assets/89882806660004909182",
        ),
    ];
    for (raw, kind, path) in cases {
        let id = AssetId::parse(raw).unwrap();
        assert_eq!(id.kind(), kind, "{raw}");
        let server = MockServer::start_async().await;
        let m = expect_patch(&server, path, json!({"status": "active"})).await;
        // Typed id and text give the same request.
        client(&server)
            .update_asset(&id)
            .status(SettableStatus::Active)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{raw}: {e}"));
        client(&server)
            .update_asset(raw)
            .status(SettableStatus::Active)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{raw}: {e}"));
        assert_eq!(m.calls_async().await, 2, "{raw}");
    }
}

#[tokio::test]
async fn explicit_constructors_send_the_id_as_given() {
    let server = MockServer::start_async().await;
    let m = expect_patch(
        &server,
        "/v1/assets/123456789012345678",
        json!({"name": "digits only"}),
    )
    .await;
    let id = AssetId::serial("123456789012345678").unwrap();
    assert_eq!(id.kind(), AssetIdKind::Serial);
    client(&server)
        .update_asset(id)
        .name("digits only")
        .send()
        .await
        .unwrap();
    assert_eq!(m.calls_async().await, 1);
}

#[tokio::test]
async fn refusals_send_nothing() {
    let server = MockServer::start_async().await;
    let m = anything(&server).await;
    let c = client(&server);

    let cases: Vec<(&str, simcore::Result<Updated<Asset>>, &str, &str)> = vec![
        (
            "empty update",
            c.update_asset("SN123").send().await,
            "update",
            "must set at least one field",
        ),
        (
            "name too short",
            c.update_asset("SN123").name("ab").send().await,
            "name",
            "must be 3 to 64 characters",
        ),
        (
            "name too long",
            c.update_asset("SN123").name("x".repeat(65)).send().await,
            "name",
            "must be 3 to 64 characters",
        ),
        (
            "name with surrounding space",
            c.update_asset("SN123").name(" pump").send().await,
            "name",
            "must not start or end with whitespace",
        ),
        (
            "empty custom group",
            c.update_asset("SN123").network_group("").send().await,
            "network_group",
            "a custom network group name must not be empty",
        ),
        (
            "empty id",
            c.update_asset("")
                .status(SettableStatus::Active)
                .send()
                .await,
            "asset_id",
            "must not be empty, \".\" or \"..\"",
        ),
        (
            "dot-dot id",
            c.update_asset("..")
                .status(SettableStatus::Active)
                .send()
                .await,
            "asset_id",
            "must not be empty, \".\" or \"..\"",
        ),
    ];
    for (what, result, field, rule) in cases {
        match result {
            Err(Error::Invalid(v)) => {
                assert_eq!((v.field(), v.rule()), (field, rule), "{what}");
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    // Exactly 64 characters is fine locally (and would be sent); nothing above was.
    assert!(
        c.update_asset("SN123")
            .name("x".repeat(64))
            .into_request()
            .is_ok()
    );
    assert_eq!(m.calls_async().await, 0);
}

#[tokio::test]
async fn plain_data_is_checked_too() {
    let server = MockServer::start_async().await;
    let m = anything(&server).await;
    let empty = UpdateAssetRequest::new(AssetId::parse("SN123").unwrap());
    let err = client(&server).send(&empty).await.unwrap_err();
    assert!(
        matches!(err, Error::Invalid(ref v) if v.field() == "update"),
        "{err:?}"
    );
    assert_eq!(m.calls_async().await, 0);

    // The builder hands out the same plain data it sends.
    let request = client(&server)
        .update_asset("SN123")
        .name("pump station 7")
        .status(SettableStatus::Active)
        .into_request()
        .unwrap();
    assert_eq!(request.asset_id.as_str(), "SN123");
    assert_eq!(
        request.body(),
        json!({"name": "pump station 7", "status": "active"})
    );
}

#[tokio::test]
async fn answers_become_typed_outcomes() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(httpmock::Method::PATCH).path("/v1/assets/with-asset");
            then.status(200)
                .json_body(json!({"serial_number": "with-asset", "name": "pump station 7", "status": "inactive", "firmware": "1.2"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(httpmock::Method::PATCH)
                .path("/v1/assets/with-message");
            then.status(200)
                .json_body(json!({"message": "Asset updated successfully"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(httpmock::Method::PATCH)
                .path("/v1/assets/empty-200");
            then.status(200);
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(httpmock::Method::PATCH)
                .path("/v1/assets/not-json");
            then.status(200).body("OK then");
        })
        .await;
    let c = client(&server);
    let send = |id: &'static str| c.update_asset(id).status(SettableStatus::Inactive).send();

    let mut extra = serde_json::Map::new();
    extra.insert("firmware".into(), json!("1.2"));
    assert_eq!(
        send("with-asset").await.unwrap(),
        Updated::Done(Some(Asset {
            serial_number: Some("with-asset".into()),
            name: Some("pump station 7".into()),
            status: Some(AssetStatus::Inactive),
            extra,
            ..Asset::default()
        }))
    );
    assert_eq!(send("with-message").await.unwrap(), Updated::Done(None));
    assert_eq!(send("empty-200").await.unwrap(), Updated::Done(None));
    match send("not-json").await.unwrap_err() {
        Error::Decode {
            provider,
            status,
            snippet,
            ..
        } => assert_eq!(
            (provider, status, snippet.as_str()),
            ("sixfab", 200, "OK then")
        ),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn a_status_the_asset_has_is_left_out_and_alone_sends_nothing() {
    let server = MockServer::start_async().await;
    let c = client(&server);
    let m = anything(&server).await;
    // Declared, or from the asset as last read.
    let active: Asset =
        Asset::from_json(json!({"serial_number": "SN123", "status": "active"})).unwrap();
    for builder in [
        c.update_asset("SN123").known_status(AssetStatus::Active),
        c.update_asset("SN123").current(&active),
    ] {
        let answer = builder.status(SettableStatus::Active).send().await.unwrap();
        assert_eq!(answer, Updated::Unchanged);
        assert!(!answer.was_sent());
    }
    assert_eq!(m.calls_async().await, 0);
    // The request as data still says what was asked: only `send()` leaves the status out.
    let request = c
        .update_asset("SN123")
        .known_status(AssetStatus::Active)
        .status(SettableStatus::Active)
        .into_request()
        .unwrap();
    assert_eq!(request.body(), json!({"status": "active"}));
}

#[tokio::test]
async fn fetch_current_reads_the_asset_first() {
    let server = MockServer::start_async().await;
    let get = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/assets/SN123")
                .header("x-api-key", SENTINEL);
            then.status(200)
                .json_body(json!({"serial_number": "SN123", "status": "inactive"}));
        })
        .await;
    let name_only = expect_patch(&server, "/v1/assets/SN123", json!({"name": "pump 9"})).await;
    let c = client(&server);
    // Inactive already: only the name is sent.
    let answer = c
        .update_asset("SN123")
        .fetch_current()
        .status(SettableStatus::Inactive)
        .name("pump 9")
        .send()
        .await
        .unwrap();
    assert_eq!(answer, Updated::Done(None));
    assert_eq!(get.calls_async().await, 1);
    assert_eq!(name_only.calls_async().await, 1);
    // Inactive already and nothing else: the read, then nothing sent.
    let answer = c
        .update_asset("SN123")
        .fetch_current()
        .status(SettableStatus::Inactive)
        .send()
        .await
        .unwrap();
    assert_eq!(answer, Updated::Unchanged);
    assert_eq!(get.calls_async().await, 2);
    // A change of status is sent after the read.
    let on = expect_patch(&server, "/v1/assets/SN123", json!({"status": "active"})).await;
    c.update_asset("SN123")
        .fetch_current()
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap();
    assert_eq!(get.calls_async().await, 3);
    assert_eq!(on.calls_async().await, 1);
    // No status set: no status needed, no read.
    c.update_asset("SN123")
        .fetch_current()
        .name("pump 9")
        .send()
        .await
        .unwrap();
    assert_eq!(get.calls_async().await, 3);
    assert_eq!(name_only.calls_async().await, 2);
}

#[tokio::test]
async fn a_per_call_attempts_cap_is_honoured_by_the_update_and_its_read() {
    let server = MockServer::start_async().await;
    let busy = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::PATCH).path("/v1/assets/SN1");
            then.status(503);
        })
        .await;
    // The client's policy tries 3 times; this call once.
    let c = common::client_with_attempts(&server, 3);
    let err = c
        .update_asset("SN1")
        .status(SettableStatus::Active)
        .attempts(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    assert_eq!(busy.calls_async().await, 1);
    c.update_asset("SN1")
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap_err();
    assert_eq!(busy.calls_async().await, 4);

    // The read of `fetch_current()` is held to the same cap.
    let get = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/assets/SN2");
            then.status(503);
        })
        .await;
    let patch = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::PATCH).path("/v1/assets/SN2");
            then.status(204);
        })
        .await;
    let err = c
        .update_asset("SN2")
        .fetch_current()
        .status(SettableStatus::Active)
        .attempts(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    assert_eq!(get.calls_async().await, 1);
    assert_eq!(patch.calls_async().await, 0);
}

#[tokio::test]
async fn a_bad_option_is_refused_with_nothing_sent() {
    let server = MockServer::start_async().await;
    let m = anything(&server).await;
    let c = client(&server);
    for update in [
        c.update_asset("SN1")
            .status(SettableStatus::Active)
            .attempts(0),
        c.update_asset("SN1")
            .fetch_current()
            .status(SettableStatus::Active)
            .attempts(0),
        c.update_asset("SN1")
            .name("pump 9")
            .deadline(std::time::Duration::ZERO),
    ] {
        let err = update.clone().send().await.unwrap_err();
        assert!(matches!(&err, Error::Invalid(_)), "{err:?}");
        assert!(err.was_not_sent());
        let err = update.into_request().unwrap_err();
        assert!(matches!(&err, Error::Invalid(_)), "{err:?}");
    }
    assert_eq!(m.calls_async().await, 0);
}

#[tokio::test]
async fn a_request_sent_as_data_keeps_its_options() {
    let server = MockServer::start_async().await;
    let busy = server
        .mock_async(|when, then| {
            when.method(httpmock::Method::PATCH).path("/v1/assets/SN1");
            then.status(503);
        })
        .await;
    let c = common::client_with_attempts(&server, 3);
    let request = c
        .update_asset("SN1")
        .status(SettableStatus::Active)
        .attempts(1)
        .into_request()
        .unwrap();
    assert_eq!(request.options.attempts, Some(1));
    // The options are never in the body.
    assert_eq!(request.body(), json!({"status": "active"}));
    let err = c.send(&request).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    assert_eq!(busy.calls_async().await, 1);
    // The request's own setter, too.
    let twice = request
        .clone()
        .options(simcore::CallOptions::new().attempts(2));
    c.send(&twice).await.unwrap_err();
    assert_eq!(busy.calls_async().await, 3);
    // Options no call can honour are refused by into_request and by send, naming the option.
    let err = c
        .update_asset("SN1")
        .status(SettableStatus::Active)
        .attempts(0)
        .into_request()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "attempts"),
        "{err:?}"
    );
    let err = c
        .send(&request.options(simcore::CallOptions::new().attempts(0)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "attempts"),
        "{err:?}"
    );
    assert_eq!(busy.calls_async().await, 3);
}

#[tokio::test]
async fn the_deadline_spans_the_read_and_the_update() {
    let server = MockServer::start_async().await;
    let get = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/assets/SN123");
            then.status(200)
                .delay(std::time::Duration::from_millis(400))
                .json_body(json!({"serial_number": "SN123", "status": "inactive"}));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(httpmock::Method::PATCH)
                .path("/v1/assets/SN123");
            then.status(204)
                .delay(std::time::Duration::from_millis(400));
        })
        .await;
    let c = client(&server);
    // Each request alone fits in 600 ms; the two together do not.
    let err = c
        .update_asset("SN123")
        .fetch_current()
        .status(SettableStatus::Active)
        .deadline(std::time::Duration::from_millis(600))
        .send()
        .await
        .unwrap_err();
    match err {
        Error::Deadline { deadline, .. } => {
            assert_eq!(deadline, std::time::Duration::from_millis(600))
        }
        other => panic!("expected the call's deadline, got {other:?}"),
    }
    assert_eq!(get.calls_async().await, 1);
    // With time for both, the same call succeeds.
    let done = c
        .update_asset("SN123")
        .fetch_current()
        .status(SettableStatus::Active)
        .deadline(std::time::Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(done, Updated::Done(None));
}

#[tokio::test]
async fn apply_with_refuses_bad_options_before_anything_else() {
    use simcore::{Applied, CallOptions, SimChange, SimProvider, SimState};
    let server = MockServer::start_async().await;
    let m = anything(&server).await;
    let c = client(&server);
    let noop = SimChange::new()
        .state(SimState::Active)
        .known_state(SimState::Active);
    for (options, field) in [
        (CallOptions::new().attempts(0), "attempts"),
        (
            CallOptions::new().deadline(std::time::Duration::ZERO),
            "deadline",
        ),
    ] {
        let err = c.apply_with("SN1", &noop, &options).await.unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(v) if v.field() == field),
            "{err:?}"
        );
        // Before the id is looked at, too.
        let err = c.apply_with("", &noop, &options).await.unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(v) if v.field() == field),
            "{err:?}"
        );
    }
    assert_eq!(
        c.apply_with("SN1", &noop, &CallOptions::new().attempts(1))
            .await
            .unwrap(),
        Applied::Unchanged
    );
    assert_eq!(m.calls_async().await, 0);
}

#[test]
#[allow(deprecated)]
fn former_names_still_name_the_same_things() {
    let former: sixfab_client::TargetStatus = SettableStatus::Inactive;
    assert_eq!(former.as_str(), "inactive");
    assert_eq!(
        sixfab_client::ListAssets::MAX_PAGE_SIZE,
        sixfab_client::models::list_keys::MAX_PAGE_SIZE
    );
}
