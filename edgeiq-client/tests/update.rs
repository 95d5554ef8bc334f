//! `PUT /sims/{id}`: the exact merge patch for each field set, each field removed, nested
//! metadata, read-only fields, and refusals that send nothing.

mod common;

use common::*;
use edgeiq_client::models::keys;
use edgeiq_client::{
    Client, PatchField, SimId, SimRecord, UpdateSimBuilder, UpdateSimRequest, Updated,
};
use httpmock::prelude::*;
use serde_json::{Map, Value, json};
use simcore::Error;

type Step = fn(UpdateSimBuilder) -> UpdateSimBuilder;

/// Sends `step` applied to an update of `ID` and asserts the exact request: method, path,
/// `Authorization`, content type and body.
async fn assert_sends(step: Step, expected: Value) {
    let server = MockServer::start_async().await;
    let record = record();
    let m = server
        .mock_async(|when, then| {
            when.method(PUT)
                .path(SIM_PATH)
                .header("authorization", SENTINEL)
                .header("content-type", "application/json")
                .json_body(expected.clone())
                .is_true(body_is(expected.clone()));
            then.status(200).json_body(fixture("sim_record.json"));
        })
        .await;
    let got = step(client(&server).update_sim(ID)).send().await.unwrap();
    assert_eq!(got, Updated::Done(Some(record)), "{expected}");
    m.assert_calls_async(1).await;
}

#[tokio::test]
async fn each_field_set() {
    let cases: Vec<(Step, Value)> = vec![
        (
            |u| u.device_id("65f1c0ffee0123456789d002"),
            json!({"device_id": "65f1c0ffee0123456789d002"}),
        ),
        (
            |u| u.mno_integration_id("65f1c0ffee0123456789e002"),
            json!({"mno_integration_id": "65f1c0ffee0123456789e002"}),
        ),
        (
            |u| u.iccid("8988280666000490918"),
            json!({"iccid": "8988280666000490918"}),
        ),
        (
            |u| u.msisdn("+491700000002"),
            json!({"msisdn": "+491700000002"}),
        ),
        (|u| u.status("suspended"), json!({"status": "suspended"})),
        (
            |u| u.communication_plan("EU IoT Premium"),
            json!({"communication_plan": "EU IoT Premium"}),
        ),
        (
            |u| u.rate_plan("5GB pooled"),
            json!({"rate_plan": "5GB pooled"}),
        ),
        (
            |u| u.metadata("installer", "field team C"),
            json!({"sim_metadata": {"installer": "field team C"}}),
        ),
        (
            |u| u.metadata("counter", 7).metadata("ratio", 0.5),
            json!({"sim_metadata": {"counter": 7, "ratio": 0.5}}),
        ),
    ];
    for (step, expected) in cases {
        assert_sends(step, expected).await;
    }
}

#[tokio::test]
async fn every_field_at_once() {
    assert_sends(
        |u| {
            u.device_id("d")
                .mno_integration_id("m")
                .iccid("89882806660004909182")
                .msisdn("+1")
                .status("active")
                .communication_plan("cp")
                .rate_plan("rp")
                .metadata("k", true)
        },
        json!({
            "device_id": "d", "mno_integration_id": "m", "iccid": "89882806660004909182",
            "msisdn": "+1", "status": "active", "communication_plan": "cp", "rate_plan": "rp",
            "sim_metadata": {"k": true}
        }),
    )
    .await;
}

#[tokio::test]
async fn each_removable_field_nulled() {
    let cases: Vec<(Step, Value)> = vec![
        (
            |u| u.remove_mno_integration_id(),
            json!({"mno_integration_id": null}),
        ),
        (|u| u.remove_msisdn(), json!({"msisdn": null})),
        (
            |u| u.remove_communication_plan(),
            json!({"communication_plan": null}),
        ),
        (|u| u.remove_rate_plan(), json!({"rate_plan": null})),
        (|u| u.remove_metadata(), json!({"sim_metadata": null})),
        (
            |u| u.remove_metadata_key("installer"),
            json!({"sim_metadata": {"installer": null}}),
        ),
        (|u| u.msisdn("+1").remove_msisdn(), json!({"msisdn": null})),
    ];
    for (step, expected) in cases {
        assert_sends(step, expected).await;
    }
}

#[tokio::test]
async fn required_fields_cannot_be_nulled_and_nothing_is_sent() {
    let server = MockServer::start_async().await;
    let any = catch_all(&server).await;
    for (patch, field, rule) in [
        (
            UpdateSimRequest {
                iccid: PatchField::Remove,
                ..request()
            },
            "iccid",
            "cannot be removed: required and unique on the platform",
        ),
        (
            UpdateSimRequest {
                device_id: PatchField::Remove,
                ..request()
            },
            "device_id",
            "cannot be removed: a SIM record belongs to a device (set another device instead)",
        ),
        (
            UpdateSimRequest {
                status: PatchField::Remove,
                ..request()
            },
            "status",
            "cannot be removed: set a status instead (the platform's default is inactive)",
        ),
    ] {
        let err = client(&server)
            .update_sim(ID)
            .msisdn("+1")
            .patch(patch.clone())
            .send()
            .await
            .unwrap_err();
        match &err {
            Error::Invalid(v) => {
                assert_eq!((v.field(), v.rule(), v.found()), (field, rule, "null"));
            }
            other => panic!("{other:?}"),
        }
        assert!(err.was_not_sent());
        // The request as data, sent by the client: refused the same way.
        let err = client(&server).send(&patch).await.unwrap_err();
        match &err {
            Error::Invalid(v) => {
                assert_eq!((v.field(), v.rule(), v.found()), (field, rule, "null"));
            }
            other => panic!("{other:?}"),
        }
    }
    any.assert_calls_async(0).await;
}

#[tokio::test]
async fn nested_metadata_merges_per_rfc_7396() {
    let server = MockServer::start_async().await;
    let current = record();
    let patch = json!({
        "site": {"floor": null, "room": {"number": 4, "wing": "east"}},
        "installer": null,
        "tags": ["water"],
        "new_key": {"deep": {"deeper": 1}}
    });
    let expected_body = json!({"sim_metadata": patch});
    // The platform answers with the merged record; predict it with the same merge.
    let update = client(&server)
        .update_sim(ID)
        .metadata_patch(patch.as_object().unwrap().clone())
        .current(&current);
    let predicted = update.clone().into_request().unwrap().merge_into(&current);
    assert_eq!(
        Value::Object(predicted.sim_metadata.clone().unwrap()),
        json!({
            "site": {"name": "pump station 7", "room": {"number": 4, "wing": "east"}},
            "tags": ["water"],
            "new_key": {"deep": {"deeper": 1}}
        })
    );
    let m = server
        .mock_async(|when, then| {
            when.method(PUT)
                .path(SIM_PATH)
                .header("authorization", SENTINEL)
                .is_true(body_is(expected_body.clone()));
            then.status(200)
                .json_body(serde_json::to_value(&predicted).unwrap());
        })
        .await;
    let got = update.send().await.unwrap();
    assert_eq!(got, Updated::Done(Some(predicted)));
    m.assert_calls_async(1).await;
}

#[test]
fn a_patch_from_a_record_carries_no_read_only_field() {
    let record = record();
    // Every read-only field is filled in the fixture.
    assert!(record.company_id.is_some() && record.ctd_data_usage.is_some());
    assert!(record.ctd_sms_usage.is_some() && record.included_usage.is_some());
    assert!(record.overage_limit_reached.is_some() && record.sim_barred.is_some());
    assert!(record.last_sync_at.is_some() && record.created_at.is_some());
    assert!(record.updated_at.is_some() && record.user_id.is_some());
    assert!(!record.extra.is_empty());

    for patch in [
        record.to_request().unwrap(),
        UpdateSimRequest::from_record(&record).unwrap(),
    ] {
        assert_eq!(patch.id.as_str(), ID);
        let body = serde_json::to_value(&patch).unwrap();
        let map = body.as_object().unwrap();
        for key in keys::READ_ONLY.iter().chain(&[keys::ID, keys::ID_ALT]) {
            assert!(!map.contains_key(*key), "{key} in {body}");
        }
        for key in record.extra.keys() {
            assert!(!map.contains_key(key), "{key} in {body}");
        }
        let mut keys_sent: Vec<&str> = map.keys().map(String::as_str).collect();
        keys_sent.sort_unstable();
        let mut writable = keys::WRITABLE.to_vec();
        writable.sort_unstable();
        assert_eq!(keys_sent, writable);
    }
}

#[tokio::test]
async fn read_only_fields_never_appear_in_a_sent_body() {
    let server = MockServer::start_async().await;
    let record = record();
    let expected = json!({
        "device_id": "65f1c0ffee0123456789d001",
        "mno_integration_id": "65f1c0ffee0123456789e001",
        "iccid": "89882806660004909182",
        "msisdn": "+491700000001",
        "status": "retired",
        "communication_plan": "EU IoT Standard",
        "rate_plan": "1GB pooled",
        "sim_metadata": {
            "site": {"name": "pump station 7", "floor": 2},
            "installer": "field team B",
            "tags": ["water", "north"]
        }
    });
    let m = server
        .mock_async(|when, then| {
            let mut when = when
                .method(PUT)
                .path(SIM_PATH)
                .is_true(body_is(expected.clone()));
            for key in keys::READ_ONLY
                .iter()
                .chain(&["_id", "origin", "carrier_account"])
            {
                when = when.body_excludes(format!("\"{key}\""));
            }
            then.status(200).json_body(fixture("sim_record.json"));
        })
        .await;
    // A caller turns the fetched record into an update and changes one field.
    client(&server)
        .update_sim(ID)
        .patch(record.to_request().unwrap())
        .status("retired")
        .current(&record)
        .send()
        .await
        .unwrap();
    m.assert_calls_async(1).await;
}

fn keys_map(prefix: &str, n: usize, value: Value) -> Map<String, Value> {
    (0..n)
        .map(|i| (format!("{prefix}{i}"), value.clone()))
        .collect()
}

fn with_metadata(n: usize) -> SimRecord {
    serde_json::from_value(json!({"_id": ID, "sim_metadata": keys_map("k", n, json!(1))})).unwrap()
}

#[tokio::test]
async fn invalid_input_is_refused_and_nothing_is_sent() {
    let server = MockServer::start_async().await;
    let any = catch_all(&server).await;
    let c = client(&server);
    let cases: Vec<(UpdateSimBuilder, &str, &str)> = vec![
        (
            c.update_sim("65f1c0ffee").status("active"),
            "id",
            "must be exactly 24 hex digits",
        ),
        (
            c.update_sim("../sims/x").status("active"),
            "id",
            "must be exactly 24 hex digits",
        ),
        (c.update_sim(ID), "update", "must set at least one field"),
        (
            c.update_sim(ID).iccid("8988 2806 6600 0490 918"),
            "iccid",
            "must be 18 to 22 ASCII digits",
        ),
        (
            c.update_sim(ID).msisdn("1".repeat(21)),
            "msisdn",
            "must be 1 to 20 characters (not empty)",
        ),
        (
            c.update_sim(ID).msisdn(""),
            "msisdn",
            "must be 1 to 20 characters (not empty)",
        ),
        (
            c.update_sim(ID).status("s".repeat(31)),
            "status",
            "must be 1 to 30 characters (not empty)",
        ),
        (
            c.update_sim(ID).communication_plan("p".repeat(256)),
            "communication_plan",
            "must be 1 to 255 characters (not empty)",
        ),
        (
            c.update_sim(ID).rate_plan("p".repeat(256)),
            "rate_plan",
            "must be 1 to 255 characters (not empty)",
        ),
        (
            c.update_sim(ID).device_id(""),
            "device_id",
            "must not be empty (remove it instead, where removing is allowed)",
        ),
        (
            c.update_sim(ID)
                .metadata_patch(keys_map("n", 51, json!("v"))),
            "sim_metadata",
            "must have at most 50 top-level keys",
        ),
        (
            c.update_sim(ID)
                .metadata_patch(keys_map("n", 51, Value::Null)),
            "sim_metadata",
            "must have at most 50 top-level keys",
        ),
        (
            c.update_sim(ID)
                .metadata("one_more", 1)
                .current(&with_metadata(50)),
            "sim_metadata",
            "must have at most 50 top-level keys after merging onto the current record",
        ),
        (
            c.update_sim(ID).status("active").current(
                &serde_json::from_value(json!({"_id": "65f1c0ffee0123456789ffff"})).unwrap(),
            ),
            "current",
            "must be the record of the SIM being updated",
        ),
    ];
    for (update, field, rule) in cases {
        let err = update.send().await.unwrap_err();
        match &err {
            Error::Invalid(v) => assert_eq!((v.field(), v.rule()), (field, rule), "{err}"),
            other => panic!("{other:?}"),
        }
    }
    any.assert_calls_async(0).await;
}

#[tokio::test]
async fn metadata_limit_at_the_boundary_is_sent() {
    // 50 keys in the patch; 49 stored + 1 new; 50 stored, one swapped for another.
    let patch_50 = keys_map("n", 50, json!(1));
    let swap = json!({"k0": null, "fresh": 1}).as_object().unwrap().clone();
    let cases = vec![
        (patch_50.clone(), None),
        (keys_map("n", 1, json!(1)), Some(with_metadata(49))),
        (swap.clone(), Some(with_metadata(50))),
    ];
    for (meta, current) in cases {
        let server = MockServer::start_async().await;
        let expected = json!({"sim_metadata": meta});
        let m = server
            .mock_async(|when, then| {
                when.method(PUT)
                    .path(SIM_PATH)
                    .is_true(body_is(expected.clone()));
                then.status(200)
                    .json_body(json!({"_id": ID, "status": "active"}));
            })
            .await;
        let mut update = client(&server).update_sim(ID).metadata_patch(meta);
        if let Some(c) = &current {
            update = update.current(c);
        }
        let got = update.send().await.unwrap().into_resource().unwrap();
        assert_eq!(got.id.as_deref(), Some(ID));
        m.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn the_answer_is_read_into_the_record() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(PUT).path(SIM_PATH);
            then.status(200).json_body(fixture("sim_record.json"));
        })
        .await;
    let r = client(&server)
        .update_sim(ID)
        .status("active")
        .send()
        .await
        .unwrap()
        .into_resource()
        .unwrap();
    assert_eq!(r.id.as_deref(), Some(ID));
    assert_eq!(r.device_id.as_deref(), Some("65f1c0ffee0123456789d001"));
    assert_eq!(
        r.mno_integration_id.as_deref(),
        Some("65f1c0ffee0123456789e001")
    );
    assert_eq!(r.iccid.as_deref(), Some("89882806660004909182"));
    assert_eq!(r.msisdn.as_deref(), Some("+491700000001"));
    assert_eq!(r.status.as_deref(), Some("active"));
    assert_eq!(r.state(), simcore::SimState::Active);
    assert_eq!(r.communication_plan.as_deref(), Some("EU IoT Standard"));
    assert_eq!(r.rate_plan.as_deref(), Some("1GB pooled"));
    assert_eq!(
        r.sim_metadata.as_ref().unwrap()["installer"],
        "field team B"
    );
    assert_eq!(r.company_id.as_deref(), Some("acme_water"));
    assert_eq!(
        r.ctd_data_usage.as_ref().and_then(|n| n.as_u64()),
        Some(734003200)
    );
    assert_eq!(r.ctd_sms_usage.as_ref().and_then(|n| n.as_u64()), Some(12));
    assert_eq!(r.included_usage, Some(json!(1073741824)));
    assert_eq!(r.overage_limit_reached, Some(false));
    assert_eq!(r.sim_barred, Some(false));
    assert_eq!(r.last_sync_at.as_deref(), Some("2024-03-01T10:15:00.000Z"));
    assert_eq!(r.created_at.as_deref(), Some("2024-01-10T08:00:00.000Z"));
    assert_eq!(r.updated_at.as_deref(), Some("2024-02-28T17:30:00.000Z"));
    assert_eq!(r.user_id.as_deref(), Some("65f1c0ffee0123456789f001"));
    assert_eq!(r.extra.len(), 2);
    assert_eq!(r.extra["origin"], "bulk import");
    assert_eq!(
        r.extra["carrier_account"],
        json!({"name": "north", "region": "eu"})
    );
}

#[tokio::test]
async fn an_unreadable_success_is_a_decode_error() {
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(PUT).path(SIM_PATH);
            then.status(200)
                .header("content-type", "text/html")
                .body("<html><title>Maintenance</title></html>");
        })
        .await;
    let err = client(&server)
        .update_sim(ID)
        .status("active")
        .send()
        .await
        .unwrap_err();
    match err {
        Error::Decode {
            provider,
            status,
            snippet,
            ..
        } => {
            assert_eq!((provider, status), ("edgeiq", 200));
            assert_eq!(snippet, "<html><title>Maintenance</title></html>");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_request_is_available_without_sending() {
    let c = Client::builder().api_token(SENTINEL).build().unwrap();
    let u = c.update_sim(ID).msisdn("+1").remove_rate_plan();
    let request = u.into_request().unwrap();
    assert_eq!(request.id.as_str(), ID);
    assert_eq!(
        request.to_json(),
        json!({"msisdn": "+1", "rate_plan": null})
    );
    assert_eq!(request.msisdn, PatchField::Set("+1".to_owned()));
    assert_eq!(request.rate_plan, PatchField::Remove);
}

/// A request for the SIM the tests use, changing nothing yet.
fn request() -> UpdateSimRequest {
    UpdateSimRequest::new(SimId::parse(ID).unwrap())
}

/// A mock answering every request with 503 (which the client retries).
async fn always_503(server: &MockServer) -> httpmock::Mock<'_> {
    server
        .mock_async(|_when, then| {
            then.status(503).json_body(json!({"message": "busy"}));
        })
        .await
}

#[tokio::test]
async fn a_per_call_attempts_cap_is_honoured() {
    // The client retries 503 up to 3 attempts; this call asks for one.
    let server = MockServer::start_async().await;
    let busy = always_503(&server).await;
    let err = client_with(&server, 3)
        .update_sim(ID)
        .status("active")
        .attempts(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    busy.assert_calls_async(1).await;

    // Without the cap, the client's policy applies.
    let server = MockServer::start_async().await;
    let busy = always_503(&server).await;
    client_with(&server, 3)
        .update_sim(ID)
        .status("active")
        .send()
        .await
        .unwrap_err();
    busy.assert_calls_async(3).await;

    // The read of `fetch_current` takes the call's options too: one GET, and no PUT.
    let server = MockServer::start_async().await;
    let busy = always_503(&server).await;
    client_with(&server, 3)
        .update_sim(ID)
        .status("active")
        .fetch_current()
        .options(simcore::CallOptions::new().attempts(1))
        .send()
        .await
        .unwrap_err();
    busy.assert_calls_async(1).await;
}

#[tokio::test]
async fn bad_call_options_are_refused_before_sending() {
    let server = MockServer::start_async().await;
    let any = catch_all(&server).await;
    for update in [
        client(&server).update_sim(ID).status("active").attempts(0),
        client(&server)
            .update_sim(ID)
            .status("active")
            .deadline(std::time::Duration::ZERO),
        client(&server)
            .update_sim(ID)
            .status("active")
            .fetch_current()
            .attempts(0),
        // Refused even where the update would send nothing.
        client(&server)
            .update_sim(ID)
            .status("active")
            .known_status("active")
            .attempts(0),
    ] {
        let err = update.send().await.unwrap_err();
        assert!(err.was_not_sent(), "{err}");
        assert!(
            matches!(&err, Error::Invalid(v) if ["attempts", "deadline"].contains(&v.field())),
            "{err:?}"
        );
    }
    any.assert_calls_async(0).await;
}

#[tokio::test]
async fn fetch_current_reads_the_record_first() {
    let record = record();
    // The record already holds the status: one GET, no PUT.
    let server = MockServer::start_async().await;
    let get = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(SIM_PATH)
                .header("authorization", SENTINEL);
            then.status(200).json_body(fixture("sim_record.json"));
        })
        .await;
    let put = server
        .mock_async(|when, then| {
            when.method(PUT).path(SIM_PATH);
            then.status(200).json_body(fixture("sim_record.json"));
        })
        .await;
    let status = record.status.clone().unwrap();
    let got = client(&server)
        .update_sim(ID)
        .status(status.clone())
        .fetch_current()
        .send()
        .await
        .unwrap();
    assert_eq!(got, Updated::Unchanged);
    get.assert_calls_async(1).await;
    put.assert_calls_async(0).await;

    // Another status: read, then sent.
    let got = client(&server)
        .update_sim(ID)
        .status("suspended")
        .fetch_current()
        .send()
        .await
        .unwrap();
    assert_eq!(got, Updated::Done(Some(record.clone())));
    get.assert_calls_async(2).await;
    put.assert_calls_async(1).await;

    // The read record is checked like a given one: 50 stored keys and one more is refused.
    let server = MockServer::start_async().await;
    let get = server
        .mock_async(|when, then| {
            when.method(GET).path(SIM_PATH);
            then.status(200).json_body(json!({
                "_id": ID, "status": "active", "sim_metadata": keys_map("k", 50, json!(1))
            }));
        })
        .await;
    let put = server
        .mock_async(|when, then| {
            when.method(PUT);
            then.status(200).json_body(json!({}));
        })
        .await;
    let err = client(&server)
        .update_sim(ID)
        .metadata("one_more", 1)
        .fetch_current()
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.rule() == "must have at most 50 top-level keys after merging onto the current record"),
        "{err:?}"
    );
    get.assert_calls_async(1).await;
    put.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_known_status_that_is_all_the_update_sets_sends_nothing() {
    let server = MockServer::start_async().await;
    let put = server
        .mock_async(|when, then| {
            when.method(PUT)
                .path(SIM_PATH)
                .is_true(body_is(json!({"status": "active"})));
            then.status(200).json_body(fixture("sim_record.json"));
        })
        .await;
    let got = client(&server)
        .update_sim(ID)
        .status("active")
        .known_status("active")
        .send()
        .await
        .unwrap();
    assert_eq!(got, Updated::Unchanged);
    put.assert_calls_async(0).await;
    // The comparison is exact: another spelling is another word, and is sent.
    let got = client(&server)
        .update_sim(ID)
        .status("active")
        .known_status("Active")
        .send()
        .await
        .unwrap();
    assert!(got.was_sent());
    put.assert_calls_async(1).await;
    // With more than the status, it is sent as asked (the status included).
    let server = MockServer::start_async().await;
    let both = server
        .mock_async(|when, then| {
            when.method(PUT)
                .path(SIM_PATH)
                .is_true(body_is(json!({"status": "active", "msisdn": "+1"})));
            then.status(200).json_body(fixture("sim_record.json"));
        })
        .await;
    client(&server)
        .update_sim(ID)
        .status("active")
        .msisdn("+1")
        .known_status("active")
        .send()
        .await
        .unwrap();
    both.assert_calls_async(1).await;
}

#[tokio::test]
async fn the_client_sends_a_request_as_data() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(PUT)
                .path(SIM_PATH)
                .header("authorization", SENTINEL)
                .is_true(body_is(json!({"msisdn": "+1", "rate_plan": null})));
            then.status(200).json_body(fixture("sim_record.json"));
        })
        .await;
    let c = client(&server);
    let request = c
        .update_sim(ID)
        .msisdn("+1")
        .remove_rate_plan()
        .into_request()
        .unwrap();
    assert_eq!(
        c.send(&request).await.unwrap(),
        Updated::Done(Some(record()))
    );
    m.assert_calls_async(1).await;
    // A request given whole to a builder for another SIM is refused, nothing sent.
    let other = UpdateSimRequest {
        msisdn: PatchField::Set("+1".into()),
        ..UpdateSimRequest::new(SimId::parse("65f1c0ffee0123456789ffff").unwrap())
    };
    let err = c.update_sim(ID).patch(other).send().await.unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "patch"),
        "{err:?}"
    );
    m.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_request_sent_as_data_keeps_its_options() {
    let server = MockServer::start_async().await;
    let busy = always_503(&server).await;
    let c = client_with(&server, 3);
    let request = c
        .update_sim(ID)
        .status("active")
        .attempts(1)
        .into_request()
        .unwrap();
    assert_eq!(request.options.attempts, Some(1));
    // The options are never in the body.
    assert_eq!(request.to_json(), json!({"status": "active"}));
    let err = c.send(&request).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    busy.assert_calls_async(1).await;
    // The request's own setter, too.
    let twice = request
        .clone()
        .options(simcore::CallOptions::new().attempts(2));
    c.send(&twice).await.unwrap_err();
    busy.assert_calls_async(3).await;
    // Options no call can honour are refused by into_request and by send, naming the option.
    for (update, field) in [
        (c.update_sim(ID).status("active").attempts(0), "attempts"),
        (
            c.update_sim(ID)
                .status("active")
                .deadline(std::time::Duration::ZERO),
            "deadline",
        ),
    ] {
        let err = update.into_request().unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(v) if v.field() == field),
            "{err:?}"
        );
    }
    let err = c
        .send(&request.options(simcore::CallOptions::new().attempts(0)))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "attempts"),
        "{err:?}"
    );
    busy.assert_calls_async(3).await;
}

#[tokio::test]
async fn the_deadline_spans_the_read_and_the_update() {
    let server = MockServer::start_async().await;
    let get = server
        .mock_async(|when, then| {
            when.method(GET).path(SIM_PATH);
            then.status(200)
                .delay(std::time::Duration::from_millis(400))
                .json_body(fixture("sim_record.json"));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(PUT).path(SIM_PATH);
            then.status(200)
                .delay(std::time::Duration::from_millis(400))
                .json_body(fixture("sim_record.json"));
        })
        .await;
    let c = client(&server);
    // Each request alone fits in 600 ms; the two together do not.
    let err = c
        .update_sim(ID)
        .status("not-the-current-status")
        .fetch_current()
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
    get.assert_calls_async(1).await;
    // With time for both, the same call succeeds.
    let updated = c
        .update_sim(ID)
        .status("not-the-current-status")
        .fetch_current()
        .deadline(std::time::Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert!(updated.was_sent(), "{updated:?}");
}

#[tokio::test]
async fn apply_with_refuses_bad_options_even_for_a_no_op() {
    use simcore::{Applied, CallOptions, SimChange, SimProvider, SimState};
    let server = MockServer::start_async().await;
    let any = catch_all(&server).await;
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
        let err = c.apply_with(ID, &noop, &options).await.unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(v) if v.field() == field),
            "{err:?}"
        );
    }
    assert_eq!(
        c.apply_with(ID, &noop, &CallOptions::new().attempts(1))
            .await
            .unwrap(),
        Applied::Unchanged
    );
    any.assert_calls_async(0).await;
}

#[test]
fn the_list_builder_names_its_largest_page() {
    assert_eq!(
        edgeiq_client::ListSims::MAX_PAGE_SIZE,
        edgeiq_client::models::list_keys::MAX_PAGE_SIZE
    );
}
