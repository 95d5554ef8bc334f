//! `PATCH /api/v1/sim/{sim_id}`: the exact JSON of every tri-state and status, the refusals
//! that send nothing, and the typed result of every documented answer.

mod common;

use common::*;
use emnify_client::{OrgChange, SettableStatus, Sim, SimStatus, UpdateSimRequest, Updated};
use httpmock::prelude::*;
use serde_json::{Value, json};
use simcore::Error;

#[tokio::test]
async fn every_tri_state_and_status_is_sent_as_documented() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    let auth = mock_app_auth(&server, &token).await;
    let client = client(&server);

    type Step = fn(emnify_client::UpdateSimBuilder) -> emnify_client::UpdateSimBuilder;
    let cases: Vec<(Step, Value)> = vec![
        (|b| b.issuer_org(5), json!({"issuer_org": {"id": 5}})),
        (|b| b.reseller_org(6), json!({"reseller_org": {"id": 6}})),
        (
            |b| b.reseller_org(OrgChange::Set(6)),
            json!({"reseller_org": {"id": 6}}),
        ),
        (
            |b| b.reseller_org(OrgChange::Clear),
            json!({"reseller_org": {"id": null}}),
        ),
        (
            |b| {
                b.reseller_org(OrgChange::Keep)
                    .status(SettableStatus::Activated)
            },
            json!({"status": {"id": 1}}),
        ),
        (|b| b.customer_org(7), json!({"customer_org": {"id": 7}})),
        (
            |b| b.customer_org(OrgChange::Clear),
            json!({"customer_org": {"id": null}}),
        ),
        (
            |b| {
                b.customer_org(OrgChange::Keep)
                    .status(SettableStatus::Suspended)
            },
            json!({"status": {"id": 2}}),
        ),
        (
            |b| b.status(SettableStatus::FactoryTest),
            json!({"status": {"id": 4}}),
        ),
        (
            |b| {
                b.issuer_org(5)
                    .reseller_org(OrgChange::Clear)
                    .customer_org(7)
                    .status(SettableStatus::Activated)
            },
            json!({
                "issuer_org": {"id": 5},
                "reseller_org": {"id": null},
                "customer_org": {"id": 7},
                "status": {"id": 1}
            }),
        ),
        // The last setter wins: set then clear is a clear.
        (
            |b| b.customer_org(7).customer_org(OrgChange::Clear),
            json!({"customer_org": {"id": null}}),
        ),
    ];
    for (i, (step, body)) in cases.into_iter().enumerate() {
        let id = 1000 + i as u64;
        let mock = mock_patch(&server, id, &token, body.clone()).await;
        let result = step(client.update_sim(id)).send().await;
        assert!(
            matches!(result, Ok(Updated::Done(None))),
            "{body}: {result:?}"
        );
        assert_eq!(mock.calls_async().await, 1, "{body}");
    }
    // One authentication served every request.
    assert_eq!(auth.calls_async().await, 1);
}

#[tokio::test]
async fn plain_request_data_is_sent_as_is() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    mock_app_auth(&server, &token).await;
    let mut data = UpdateSimRequest::new(250);
    data.reseller_org = OrgChange::Clear;
    data.status = Some(SettableStatus::Suspended);
    let mock = mock_patch(
        &server,
        250,
        &token,
        json!({"reseller_org": {"id": null}, "status": {"id": 2}}),
    )
    .await;
    let builder = client(&server).update_sim(250).request_data(data.clone());
    assert_eq!(builder.request(), &data);
    assert_eq!(builder.sim_id(), 250);
    assert_eq!(builder.send().await.unwrap(), Updated::Done(None));
    assert_eq!(mock.calls_async().await, 1);

    // The same data as a validated request, sent by the client: the same PATCH.
    let request = client(&server)
        .update_sim(250)
        .request_data(data.clone())
        .into_request()
        .unwrap();
    assert_eq!(request, data);
    assert_eq!(
        client(&server).send(&request).await.unwrap(),
        Updated::Done(None)
    );
    assert_eq!(mock.calls_async().await, 2);
    // The SIM stays the one the builder was started for.
    let other = client(&server).update_sim(251).request_data(data.clone());
    assert_eq!(other.sim_id(), 251);
    assert_eq!(other.request().status, data.status);
}

#[tokio::test]
async fn refusals_send_nothing() {
    let server = MockServer::start_async().await;
    let auth = mock_app_auth(&server, &fresh_jwt("a")).await;
    let patch = mock_any_patch(&server, 250).await;
    let client = client(&server);

    // An empty update.
    let err = client.update_sim(250).send().await.unwrap_err();
    match &err {
        Error::Invalid(v) => {
            assert_eq!(v.field(), "update");
            assert_eq!(v.rule(), "must set at least one field");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.was_not_sent());
    // Keep on every field is still empty.
    let err = client
        .update_sim(250)
        .reseller_org(OrgChange::Keep)
        .customer_org(OrgChange::Keep)
        .send()
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Invalid(_)));

    // A status change the lifecycle forbids, from a declared status.
    let err = client
        .update_sim(250)
        .known_status(SimStatus::Activated)
        .status(SettableStatus::FactoryTest)
        .send()
        .await
        .unwrap_err();
    match &err {
        Error::Transition(t) => {
            assert_eq!(t.provider, "emnify");
            assert_eq!(t.from, "Activated");
            assert_eq!(t.to, "Factory Test");
            assert_eq!(t.allowed, vec!["Suspended".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.to_string(),
        "emnify: a SIM in state Activated cannot move to Factory Test (allowed: Suspended)"
    );

    // From a fetched SIM that is deleted.
    let deleted: Sim = serde_json::from_value(json!({"id": 250, "status": {"id": 3}})).unwrap();
    let err = client
        .update_sim(250)
        .current(&deleted)
        .status(SettableStatus::Activated)
        .send()
        .await
        .unwrap_err();
    match &err {
        Error::Transition(t) => {
            assert_eq!(t.allowed, Vec::<String>::new());
            assert_eq!(t.hint.as_deref(), Some("a deleted SIM cannot be changed"));
        }
        other => panic!("{other:?}"),
    }

    // Issued can only go to Activated or Factory Test.
    let err = client
        .update_sim(250)
        .known_status(SimStatus::Issued)
        .status(SettableStatus::Suspended)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transition(t) if t.allowed == vec!["Activated".to_owned(), "Factory Test".to_owned()]),
        "{err:?}"
    );

    assert_eq!(patch.calls_async().await, 0);
    // Nothing needed a token either.
    assert_eq!(auth.calls_async().await, 0);
}

#[tokio::test]
async fn allowed_transitions_from_a_known_status_are_sent() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    mock_app_auth(&server, &token).await;
    let client = client(&server);
    let allowed = [
        (SimStatus::Issued, SettableStatus::Activated, 1),
        (SimStatus::Issued, SettableStatus::FactoryTest, 4),
        (SimStatus::FactoryTest, SettableStatus::Activated, 1),
        (SimStatus::Activated, SettableStatus::Suspended, 2),
        (SimStatus::Suspended, SettableStatus::Activated, 1),
        // Unknown to this SDK: left to emnify.
        (SimStatus::Unknown(9), SettableStatus::Suspended, 2),
    ];
    for (i, (from, to, id)) in allowed.into_iter().enumerate() {
        let sim_id = 500 + i as u64;
        let mock = mock_patch(&server, sim_id, &token, json!({"status": {"id": id}})).await;
        client
            .update_sim(sim_id)
            .known_status(from.clone())
            .status(to)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{from} -> {to}: {e}"));
        assert_eq!(mock.calls_async().await, 1, "{from} -> {to}");
    }
}

#[tokio::test]
async fn opt_in_fetch_checks_the_current_status_first() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    mock_app_auth(&server, &token).await;
    let get = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim/312")
                .header("authorization", bearer(&token));
            then.status(200)
                .header("content-type", "application/json")
                .body(fixture("sim_suspended.json"));
        })
        .await;
    let patch = mock_patch(&server, 312, &token, json!({"status": {"id": 1}})).await;
    let client = client(&server);

    // Suspended -> Factory Test is refused after the fetch; nothing is patched.
    let err = client
        .update_sim(312)
        .fetch_current()
        .status(SettableStatus::FactoryTest)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transition(t) if t.from == "Suspended"),
        "{err:?}"
    );
    assert_eq!(get.calls_async().await, 1);
    assert_eq!(patch.calls_async().await, 0);

    // Suspended -> Activated passes and is sent.
    client
        .update_sim(312)
        .fetch_current()
        .status(SettableStatus::Activated)
        .send()
        .await
        .unwrap();
    assert_eq!(get.calls_async().await, 2);
    assert_eq!(patch.calls_async().await, 1);

    // Without a status change there is nothing to check: no fetch.
    let org = mock_patch(&server, 312, &token, json!({"customer_org": {"id": 8}})).await;
    client
        .update_sim(312)
        .fetch_current()
        .customer_org(8)
        .send()
        .await
        .unwrap();
    assert_eq!(get.calls_async().await, 2);
    assert_eq!(org.calls_async().await, 1);
}

/// One documented answer and what it must become.
struct Case {
    status: u16,
    content_type: &'static str,
    body: String,
    code: Option<i64>,
    token: Option<&'static str>,
    message: &'static str,
    retryable: bool,
}

fn case(
    status: u16,
    content_type: &'static str,
    body: String,
    code: Option<i64>,
    token: Option<&'static str>,
    message: &'static str,
    retryable: bool,
) -> Case {
    Case {
        status,
        content_type,
        body,
        code,
        token,
        message,
        retryable,
    }
}

#[tokio::test]
async fn documented_answers_become_typed_errors() {
    const JSON: &str = "application/json";
    let cases = [
        case(
            400,
            JSON,
            fixture("error_400_bad_request.json"),
            Some(1000),
            Some("BadRequest"),
            "Cannot parse parameter id as Long: For input string: \"x\"",
            false,
        ),
        case(
            403,
            JSON,
            fixture("error_403_forbidden.json"),
            Some(1104),
            Some("Forbidden"),
            "Resellers cannot delete SIMs they have sold.",
            false,
        ),
        case(
            404,
            JSON,
            fixture("error_404_not_found.json"),
            Some(1201),
            Some("NotFound"),
            "SIM with Id '999' not found.",
            false,
        ),
        case(
            409,
            JSON,
            fixture("error_409_conflict.json"),
            Some(1405),
            Some("Duplicated"),
            "SIM with Id '312' is already assigned to organisation with Id '52001'.",
            false,
        ),
        case(
            422,
            JSON,
            fixture("error_422_nested.json"),
            Some(1400),
            Some("InputValidationFailed"),
            "Update SIM validation error: Organisation with Id '777' not found.",
            false,
        ),
        case(
            429,
            JSON,
            fixture("error_429_too_many.json"),
            Some(1105),
            Some("TooManyRequests"),
            "Rate limit exceeded",
            true,
        ),
        case(
            500,
            JSON,
            fixture("error_500.json"),
            None,
            None,
            "Internal Server Error",
            false,
        ),
        case(
            500,
            "text/html",
            "<html><body><h1>Internal Server Error</h1></body></html>".into(),
            None,
            None,
            "HTML page: Internal Server Error",
            false,
        ),
        case(500, JSON, String::new(), None, None, "(empty body)", false),
        case(
            502,
            "text/html",
            fixture("error_502.html"),
            None,
            None,
            "HTML page: 502 Bad Gateway",
            true,
        ),
    ];
    for c in cases {
        let server = MockServer::start_async().await;
        let token = fresh_jwt("a");
        mock_app_auth(&server, &token).await;
        let mock = mock_patch_answer(
            &server,
            999,
            &token,
            json!({"customer_org": {"id": 777}}),
            c.status,
            Some((c.content_type, &c.body)),
        )
        .await;
        let err = client(&server)
            .update_sim(999)
            .customer_org(777)
            .send()
            .await
            .unwrap_err();
        let api = err.api().unwrap_or_else(|| panic!("{}: {err:?}", c.status));
        assert_eq!(api.provider, "emnify");
        assert_eq!(api.status, c.status);
        assert_eq!(api.code, c.code, "{}", c.status);
        assert_eq!(api.token.as_deref(), c.token, "{}", c.status);
        assert_eq!(api.message, c.message, "{}", c.status);
        assert_eq!(err.is_retryable(), c.retryable, "{}", c.status);
        // Retryable answers are tried the policy's 3 times; the others once.
        let expected_calls = if c.retryable { 3 } else { 1 };
        assert_eq!(api.attempts, expected_calls as u32, "{}", c.status);
        assert_eq!(mock.calls_async().await, expected_calls, "{}", c.status);
        if c.status == 404 {
            assert!(err.is_not_found());
        }
        if c.status == 422 {
            assert_eq!(
                api.details,
                Some(json!([{
                    "error_code": 1401,
                    "error_token": "InvalidReference",
                    "message": "Organisation with Id '777' not found."
                }]))
            );
        }
    }
}

/// emnify answers an update `204` with no body; a `200` with a body is not its answer, and says
/// nothing of whether the change was applied: a decode error (`Sent::Maybe`), never a success.
/// (This test used to be `any_success_status_is_success`, which encoded the bug.)
#[tokio::test]
async fn only_emnify_s_204_is_success() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    mock_app_auth(&server, &token).await;
    let mock = mock_patch_answer(
        &server,
        77,
        &token,
        json!({"status": {"id": 2}}),
        200,
        Some(("application/json", "{}")),
    )
    .await;
    let err = client(&server)
        .update_sim(77)
        .status(SettableStatus::Suspended)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(err, simcore::Error::Decode { status: 200, .. }),
        "{err:?}"
    );
    assert_eq!(err.sent(), simcore::error::Sent::Maybe);
    assert_eq!(mock.calls_async().await, 1);
    let ok = mock_patch_answer(&server, 78, &token, json!({"status": {"id": 2}}), 204, None).await;
    client(&server)
        .update_sim(78)
        .status(SettableStatus::Suspended)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.calls_async().await, 1);
}

#[tokio::test]
async fn into_request_validates_everything_and_sends_nothing() {
    let server = MockServer::start_async().await;
    let auth = mock_app_auth(&server, &fresh_jwt("a")).await;
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(204);
        })
        .await;
    let client = client(&server);

    // An empty update.
    let err = client.update_sim(250).into_request().unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "update"),
        "{err:?}"
    );
    // A move the lifecycle forbids from a declared status, or from a SIM as last read.
    let err = client
        .update_sim(250)
        .known_status(SimStatus::Activated)
        .status(SettableStatus::FactoryTest)
        .into_request()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transition(t) if t.from == "Activated"),
        "{err:?}"
    );
    let deleted: Sim = serde_json::from_value(json!({"id": 250, "status": {"id": 3}})).unwrap();
    let err = client
        .update_sim(250)
        .current(&deleted)
        .status(SettableStatus::Activated)
        .into_request()
        .unwrap_err();
    assert!(matches!(err, Error::Transition(_)), "{err:?}");
    // An option no call can honour.
    let err = client
        .update_sim(250)
        .status(SettableStatus::Activated)
        .attempts(0)
        .into_request()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "attempts"),
        "{err:?}"
    );
    // A request the client is given by hand is checked too: an empty one is not sent.
    let err = client.send(&UpdateSimRequest::new(250)).await.unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "update"),
        "{err:?}"
    );
    assert!(err.was_not_sent());

    // What passes is the request as set, the status the SIM has included (only `send()` knows
    // to leave it out).
    let request = client
        .update_sim(250)
        .known_status(SimStatus::Suspended)
        .status(SettableStatus::Suspended)
        .customer_org(OrgChange::Clear)
        .into_request()
        .unwrap();
    assert_eq!(request.sim_id, Some(250));
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        json!({"customer_org": {"id": null}, "status": {"id": 2}})
    );

    assert_eq!(anything.calls_async().await, 0);
    assert_eq!(auth.calls_async().await, 0);
}

#[tokio::test]
async fn a_status_the_sim_already_has_is_left_out_and_alone_sends_nothing() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    mock_app_auth(&server, &token).await;
    let any = mock_any_patch(&server, 250).await;
    let client = client(&server);
    let unchanged = client
        .update_sim(250)
        .known_status(SimStatus::Activated)
        .status(SettableStatus::Activated)
        .send()
        .await
        .unwrap();
    assert_eq!(unchanged, Updated::Unchanged);
    assert!(!unchanged.was_sent());
    assert_eq!(any.calls_async().await, 0);
    any.delete_async().await;

    // With another field set, the rest is sent without the status.
    let org = mock_patch(&server, 250, &token, json!({"customer_org": {"id": 8}})).await;
    let done = client
        .update_sim(250)
        .known_status(SimStatus::Activated)
        .status(SettableStatus::Activated)
        .customer_org(8)
        .send()
        .await
        .unwrap();
    assert_eq!(done, Updated::Done(None));
    assert_eq!(org.calls_async().await, 1);
}

#[tokio::test]
async fn a_per_call_attempts_cap_is_honoured_by_the_update_and_its_read() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    mock_app_auth(&server, &token).await;
    let busy = mock_patch_answer(
        &server,
        250,
        &token,
        json!({"status": {"id": 2}}),
        503,
        Some(("application/json", "{}")),
    )
    .await;
    let client = client(&server);
    // The client's policy tries 3 times; this call once.
    let err = client
        .update_sim(250)
        .status(SettableStatus::Suspended)
        .attempts(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    assert_eq!(busy.calls_async().await, 1);
    // Without the cap, the client's 3 attempts.
    client
        .update_sim(250)
        .status(SettableStatus::Suspended)
        .send()
        .await
        .unwrap_err();
    assert_eq!(busy.calls_async().await, 4);

    // The read of `fetch_current()` is held to the same cap.
    let get = server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/sim/251");
            then.status(503);
        })
        .await;
    let patch = mock_any_patch(&server, 251).await;
    let err = client
        .update_sim(251)
        .fetch_current()
        .status(SettableStatus::Suspended)
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
    let auth = mock_app_auth(&server, &fresh_jwt("a")).await;
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(204);
        })
        .await;
    let client = client(&server);
    for update in [
        client
            .update_sim(250)
            .status(SettableStatus::Suspended)
            .attempts(0),
        client
            .update_sim(250)
            .fetch_current()
            .status(SettableStatus::Suspended)
            .attempts(0),
        client
            .update_sim(250)
            .customer_org(8)
            .deadline(std::time::Duration::ZERO),
    ] {
        let err = update.send().await.unwrap_err();
        assert!(matches!(&err, Error::Invalid(_)), "{err:?}");
        assert!(err.was_not_sent());
    }
    assert_eq!(anything.calls_async().await, 0);
    assert_eq!(auth.calls_async().await, 0);
}

#[tokio::test]
async fn a_request_sent_as_data_keeps_its_options() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    mock_app_auth(&server, &token).await;
    let busy = server
        .mock_async(|when, then| {
            when.method(PATCH).path("/api/v1/sim/250");
            then.status(503);
        })
        .await;
    let client = client(&server);
    let request = client
        .update_sim(250)
        .status(SettableStatus::Suspended)
        .attempts(1)
        .into_request()
        .unwrap();
    assert_eq!(request.options.attempts, Some(1));
    // The options are never in the body.
    assert_eq!(
        serde_json::to_value(&request).unwrap(),
        json!({"status": {"id": 2}})
    );
    let err = client.send(&request).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    assert_eq!(busy.calls_async().await, 1);
    // The request's own setter, too.
    let twice = request
        .clone()
        .options(simcore::CallOptions::new().attempts(2));
    client.send(&twice).await.unwrap_err();
    assert_eq!(busy.calls_async().await, 3);
    // Options no call can honour are refused by into_request and by send, naming the option.
    let err = client
        .update_sim(250)
        .status(SettableStatus::Suspended)
        .attempts(0)
        .into_request()
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "attempts"),
        "{err:?}"
    );
    let zero = request.options(simcore::CallOptions::new().attempts(0));
    let err = client.send(&zero).await.unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "attempts"),
        "{err:?}"
    );
    assert_eq!(busy.calls_async().await, 3);
}

#[tokio::test]
async fn the_deadline_spans_the_read_and_the_update() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    mock_app_auth(&server, &token).await;
    let get = server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/sim/312");
            then.status(200)
                .delay(std::time::Duration::from_millis(400))
                .header("content-type", "application/json")
                .body(fixture("sim_suspended.json"));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(PATCH).path("/api/v1/sim/312");
            then.status(204)
                .delay(std::time::Duration::from_millis(400));
        })
        .await;
    let client = client(&server);
    // Each request alone fits in 600 ms; the two together do not.
    let err = client
        .update_sim(312)
        .fetch_current()
        .status(SettableStatus::Activated)
        .deadline(std::time::Duration::from_millis(600))
        .attempts(1)
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
    let done = client
        .update_sim(312)
        .fetch_current()
        .status(SettableStatus::Activated)
        .deadline(std::time::Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert_eq!(done, Updated::Done(None));
}

#[tokio::test]
async fn a_sim_read_without_a_status_leaves_fetch_current_on() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    mock_app_auth(&server, &token).await;
    let get = server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/sim/312");
            then.status(200)
                .header("content-type", "application/json")
                .body(fixture("sim_suspended.json"));
        })
        .await;
    let patch = mock_any_patch(&server, 312).await;
    let no_status: Sim = serde_json::from_value(json!({"id": 312})).unwrap();
    assert_eq!(no_status.status, None);
    let client = client(&server);
    // Suspended -> Factory Test is refused after the read, which `current` did not cancel.
    let err = client
        .update_sim(312)
        .fetch_current()
        .current(&no_status)
        .status(SettableStatus::FactoryTest)
        .send()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Transition(t) if t.from == "Suspended"),
        "{err:?}"
    );
    assert_eq!(get.calls_async().await, 1);
    // Nor a known status.
    let err = client
        .update_sim(312)
        .known_status(SimStatus::Suspended)
        .current(&no_status)
        .status(SettableStatus::FactoryTest)
        .into_request()
        .unwrap_err();
    assert!(matches!(&err, Error::Transition(_)), "{err:?}");
    assert_eq!(get.calls_async().await, 1);
    assert_eq!(patch.calls_async().await, 0);
}

#[tokio::test]
async fn a_request_without_its_sim_is_refused() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    let auth = mock_app_auth(&server, &token).await;
    let patch = mock_any_patch(&server, 0).await;
    let client = client(&server);
    // A request read from a body names no SIM until it is given one. (emnify's documents do not
    // say which numbers are SIM ids, so 0 is not refused: only a request with no SIM at all.)
    let read: UpdateSimRequest = serde_json::from_value(json!({"status": {"id": 2}})).unwrap();
    assert_eq!(read.sim_id, None);
    let err = client.send(&read).await.unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "sim_id"),
        "{err:?}"
    );
    assert!(err.was_not_sent());
    assert_eq!(patch.calls_async().await, 0);
    assert_eq!(auth.calls_async().await, 0);
}

#[tokio::test]
async fn apply_with_refuses_bad_options_even_for_a_no_op() {
    use simcore::{Applied, CallOptions, SimChange, SimProvider, SimState};
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    let auth = mock_app_auth(&server, &token).await;
    let patch = mock_any_patch(&server, 250).await;
    let client = client(&server);
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
        let err = client.apply_with("250", &noop, &options).await.unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(v) if v.field() == field),
            "{err:?}"
        );
    }
    // Refused before the id is looked at, too.
    let err = client
        .apply_with("not-a-number", &noop, &CallOptions::new().attempts(0))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "attempts"),
        "{err:?}"
    );
    assert_eq!(
        client
            .apply_with("250", &noop, &CallOptions::new().attempts(1))
            .await
            .unwrap(),
        Applied::Unchanged
    );
    assert_eq!(patch.calls_async().await, 0);
    assert_eq!(auth.calls_async().await, 0);
}
