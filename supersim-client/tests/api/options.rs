//! Per-call options (`.attempts(..)`, `.deadline(..)`) on every request builder, resuming a list
//! at a page's `next`, and a request sent as data.

use std::time::Duration;

use futures_util::StreamExt as _;
use httpmock::Method::{GET, POST};
use httpmock::MockServer;
use serde_json::json;
use simcore::paging::PagePosition;
use simcore::{CallOptions, Error, ListOptions, SimChange, SimProvider, SimState};
use supersim_client::{FleetRef, SettableStatus, Sim, SimRef, Status, UpdateSimRequest, Updated};

use crate::*;

/// A mock answering every request with 503 (which the client retries, up to 3 attempts).
async fn always_503(server: &MockServer) -> httpmock::Mock<'_> {
    server
        .mock_async(|_when, then| {
            then.status(503)
                .json_body(json!({"code": 20503, "message": "busy", "status": 503}));
        })
        .await
}

#[tokio::test]
async fn an_attempts_cap_is_honoured_on_updates() {
    let server = MockServer::start_async().await;
    let busy = always_503(&server).await;
    let err = client(&server)
        .update_sim(SIM)
        .status(SettableStatus::Active)
        .attempts(1)
        .send()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    busy.assert_calls_async(1).await;
    // Without the cap, the client's policy: three attempts.
    client(&server)
        .update_sim(SIM)
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap_err();
    busy.assert_calls_async(4).await;
    // The read of `fetch_current` takes the call's options: one GET, and no update.
    client(&server)
        .update_sim(SIM)
        .status(SettableStatus::Active)
        .fetch_current()
        .options(CallOptions::new().attempts(1))
        .send()
        .await
        .unwrap_err();
    busy.assert_calls_async(5).await;
    // Through SimProvider, apply_with and fetch_with.
    let p = client(&server);
    let once = CallOptions::new().attempts(1);
    let change = SimChange::new().state(SimState::Active);
    assert!(p.apply_with(SIM, &change, &once).await.is_err());
    busy.assert_calls_async(6).await;
    assert!(p.fetch_with(SIM, &once).await.is_err());
    busy.assert_calls_async(7).await;
}

#[tokio::test]
async fn an_attempts_cap_is_honoured_on_lists() {
    let server = MockServer::start_async().await;
    let busy = always_503(&server).await;
    let err = client(&server)
        .list_sims()
        .attempts(1)
        .first_page()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    busy.assert_calls_async(1).await;
    client(&server)
        .list_sims()
        .attempts(1)
        .collect_all()
        .await
        .unwrap_err();
    busy.assert_calls_async(2).await;
    let got: Vec<_> = client(&server)
        .list(&ListOptions::new().call(CallOptions::new().attempts(1)))
        .collect()
        .await;
    assert!(
        matches!(got.as_slice(), [Err(e)] if e.status() == Some(503)),
        "{got:?}"
    );
    busy.assert_calls_async(3).await;
    client(&server).list_sims().first_page().await.unwrap_err();
    busy.assert_calls_async(6).await;
}

#[tokio::test]
async fn options_no_call_can_honour_are_refused_with_nothing_sent() {
    let server = MockServer::start_async().await;
    let any = server
        .mock_async(|_when, then| {
            then.status(200).body(fixture("update_status_202.json"));
        })
        .await;
    let c = client(&server);
    let updates = [
        c.update_sim(SIM).status(SettableStatus::Active).attempts(0),
        c.update_sim(SIM)
            .status(SettableStatus::Active)
            .deadline(Duration::ZERO),
        c.update_sim(SIM)
            .status(SettableStatus::Active)
            .fetch_current()
            .attempts(0),
        // Refused even where the update would send nothing.
        c.update_sim(SIM)
            .status(SettableStatus::Active)
            .known_status(Status::Active)
            .attempts(0),
    ];
    for update in updates {
        let err = update.send().await.unwrap_err();
        assert!(err.was_not_sent(), "{err}");
        assert!(
            matches!(&err, Error::Invalid(v) if ["attempts", "deadline"].contains(&v.field())),
            "{err:?}"
        );
    }
    for err in [
        c.list_sims().attempts(0).first_page().await.unwrap_err(),
        c.list_sims()
            .deadline(Duration::ZERO)
            .collect_all()
            .await
            .unwrap_err(),
        c.apply_with(
            SIM,
            &SimChange::new().state(SimState::Active),
            &CallOptions::new().attempts(0),
        )
        .await
        .unwrap_err(),
    ] {
        assert!(
            matches!(&err, Error::Invalid(v) if ["attempts", "deadline"].contains(&v.field())),
            "{err:?}"
        );
    }
    any.assert_calls_async(0).await;
}

/// A page of `n` SIMs numbered from `first`, at `url`, pointing at `next`.
fn page(first: usize, n: usize, url: &str, next: Option<&str>) -> serde_json::Value {
    let sims: Vec<_> = (first..first + n)
        .map(|i| json!({"sid": format!("HS{i:032x}"), "status": "active"}))
        .collect();
    json!({"sims": sims, "meta": {"key": "sims", "page_size": 2, "url": url, "next_page_url": next}})
}

fn sids(range: std::ops::Range<usize>) -> Vec<String> {
    range.map(|i| format!("HS{i:032x}")).collect()
}

#[tokio::test]
async fn resume_from_reads_from_that_page() {
    let server = MockServer::start_async().await;
    let p1 = server.url("/v1/Sims?PageSize=2&Page=1&PageToken=PT1");
    let p2 = server.url("/v1/Sims?PageSize=2&Page=2&PageToken=PT2");
    let first = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/Sims")
                .query_param_missing("Page");
            then.status(200).json_body(page(0, 2, "first", Some(&p1)));
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/Sims")
                .header("authorization", basic())
                .query_param("PageToken", "PT1");
            then.status(200).json_body(page(2, 2, &p1, Some(&p2)));
        })
        .await;
    let third = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/Sims")
                .query_param("PageToken", "PT2");
            then.status(200).json_body(page(4, 1, &p2, None));
        })
        .await;
    let c = client(&server);
    let at = PagePosition::Token(p1.clone());
    let page = c
        .list_sims()
        .page_size(2)
        .resume_from(at.clone())
        .first_page()
        .await
        .unwrap();
    let got: Vec<String> = page.items.iter().map(|s| s.sid.clone().unwrap()).collect();
    assert_eq!(got, sids(2..4));
    assert_eq!(page.next, Some(PagePosition::Token(p2.clone())));
    let rest: Vec<Sim> = c
        .list_sims()
        .resume_from(at.clone())
        .collect_all()
        .await
        .unwrap();
    let got: Vec<String> = rest.into_iter().map(|s| s.sid.unwrap()).collect();
    assert_eq!(got, sids(2..5));
    first.assert_calls_async(0).await;
    second.assert_calls_async(2).await;
    third.assert_calls_async(1).await;

    // Through SimProvider: a listing resumed there reads on from there.
    let pages: Vec<_> = c
        .list(&ListOptions::new().resume_from(PagePosition::Token(p2.clone())))
        .collect()
        .await;
    let ids: Vec<Vec<String>> = pages
        .into_iter()
        .map(|p| p.unwrap().into_iter().map(|s| s.id).collect())
        .collect();
    assert_eq!(ids, [sids(4..5)]);
    first.assert_calls_async(0).await;
    third.assert_calls_async(2).await;

    // A page number belongs to a list paged by number: refused, nothing sent.
    let err = c
        .list_sims()
        .resume_from(PagePosition::Number(2))
        .first_page()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "page"),
        "{err:?}"
    );
    // And the same-origin rule holds for a position given to resume from.
    let err = c
        .list_sims()
        .resume_from(PagePosition::Token(
            "https://elsewhere.example/v1/Sims?Page=1".into(),
        ))
        .first_page()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "meta.next_page_url"),
        "{err:?}"
    );
    first.assert_calls_async(0).await;
    second.assert_calls_async(2).await;
    third.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_request_is_sent_as_data() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(SIM_PATH)
                .header("authorization", basic())
                .body("Status=active");
            then.status(202).body(fixture("update_status_202.json"));
        })
        .await;
    let c = client(&server);
    let request = c
        .update_sim(SIM)
        .status(SettableStatus::Active)
        .into_request()
        .unwrap();
    assert_eq!(
        c.send(&request).await.unwrap(),
        Updated::Pending(Some(fixture_sim("update_status_202.json")))
    );
    m.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_request_sent_as_data_keeps_its_options() {
    let server = MockServer::start_async().await;
    let busy = always_503(&server).await;
    let c = client(&server);
    let request = c
        .update_sim(SIM)
        .status(SettableStatus::Active)
        .attempts(1)
        .into_request()
        .unwrap();
    assert_eq!(request.options.attempts, Some(1));
    let err = c.send(&request).await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    busy.assert_calls_async(1).await;
    // The request's own setter, too.
    let twice = request.clone().options(CallOptions::new().attempts(2));
    c.send(&twice).await.unwrap_err();
    busy.assert_calls_async(3).await;
    // Options no call can honour are refused by into_request, naming the option.
    for (update, field) in [
        (
            c.update_sim(SIM).status(SettableStatus::Active).attempts(0),
            "attempts",
        ),
        (
            c.update_sim(SIM)
                .status(SettableStatus::Active)
                .deadline(Duration::ZERO),
            "deadline",
        ),
    ] {
        let err = update.into_request().unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(v) if v.field() == field),
            "{err:?}"
        );
    }
    // And by send, for a request given such options directly.
    let err = c
        .send(&request.options(CallOptions::new().attempts(0)))
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
                .delay(Duration::from_millis(400))
                .body(fixture("fetch_200.json"));
        })
        .await;
    let post = server
        .mock_async(|when, then| {
            when.method(POST).path(SIM_PATH);
            then.status(202)
                .delay(Duration::from_millis(400))
                .body(fixture("update_status_202.json"));
        })
        .await;
    let c = client(&server);
    // Each request alone fits in 600 ms; the two together do not.
    let err = c
        .update_sim(SIM)
        .status(SettableStatus::Ready)
        .fetch_current()
        .deadline(Duration::from_millis(600))
        .attempts(1)
        .send()
        .await
        .unwrap_err();
    match err {
        Error::Deadline { deadline, .. } => assert_eq!(deadline, Duration::from_millis(600)),
        other => panic!("expected the call's deadline, got {other:?}"),
    }
    get.assert_calls_async(1).await;
    // With time for both, the same call succeeds.
    let updated = c
        .update_sim(SIM)
        .status(SettableStatus::Ready)
        .fetch_current()
        .deadline(Duration::from_secs(5))
        .send()
        .await
        .unwrap();
    assert!(updated.is_pending(), "{updated:?}");
    get.assert_calls_async(2).await;
    assert!(post.calls_async().await >= 1);
}

#[tokio::test]
async fn apply_with_refuses_bad_options_even_for_a_no_op() {
    let server = MockServer::start_async().await;
    let any = always_503(&server).await;
    let c = client(&server);
    let noop = SimChange::new()
        .state(SimState::Active)
        .known_state(SimState::Active);
    for (options, field) in [
        (CallOptions::new().attempts(0), "attempts"),
        (CallOptions::new().deadline(Duration::ZERO), "deadline"),
    ] {
        let err = c.apply_with(SIM, &noop, &options).await.unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(v) if v.field() == field),
            "{err:?}"
        );
    }
    // With options it can honour, the no-op is still answered without a request.
    assert_eq!(
        c.apply_with(SIM, &noop, &CallOptions::new().attempts(1))
            .await
            .unwrap(),
        simcore::Applied::Unchanged
    );
    any.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_resumed_list_still_checks_its_filters() {
    let server = MockServer::start_async().await;
    let any = always_503(&server).await;
    let c = client(&server);
    let at = PagePosition::Token(server.url("/v1/Sims?PageSize=2&Page=1&PageToken=PT1"));
    for (list, field) in [
        (c.list_sims().page_size(0), "page_size"),
        (c.list_sims().page_size(1001), "page_size"),
        (
            c.list_sims().fleet("HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"),
            "fleet",
        ),
        (c.list_sims().iccid("12"), "iccid"),
        (c.list_sims().status(Status::from("suspended")), "status"),
    ] {
        let err = list.resume_from(at.clone()).first_page().await.unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(v) if v.field() == field),
            "{err:?}"
        );
    }
    any.assert_calls_async(0).await;
}

#[tokio::test]
async fn send_rechecks_a_sim_or_fleet_built_unchecked() {
    let server = MockServer::start_async().await;
    let any = always_503(&server).await;
    let c = client(&server);
    let bad_sims = [
        SimRef::Sid("HSXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXXX".into()),
        SimRef::Sid(String::new()),
        SimRef::UniqueName("..".into()),
        SimRef::UniqueName("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into()),
    ];
    for sim in bad_sims {
        let mut request = UpdateSimRequest::new(sim.clone());
        request.status = Some(SettableStatus::Active);
        let err = c.send(&request).await.unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(v) if v.field() == "sim"),
            "{sim:?}: {err:?}"
        );
    }
    for fleet in [
        FleetRef::Sid("HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".into()),
        FleetRef::UniqueName(String::new()),
        FleetRef::UniqueName("a/b\n".into()),
    ] {
        let mut request = UpdateSimRequest::new(SimRef::parse(SIM).unwrap());
        request.fleet = Some(fleet.clone());
        let err = c.send(&request).await.unwrap_err();
        assert!(
            matches!(&err, Error::Invalid(v) if v.field() == "fleet"),
            "{fleet:?}: {err:?}"
        );
    }
    any.assert_calls_async(0).await;
}

#[tokio::test]
#[allow(deprecated)]
async fn fetch_sim_is_get_sim_under_its_former_name() {
    let server = MockServer::start_async().await;
    let m = server
        .mock_async(|when, then| {
            when.method(GET).path(SIM_PATH);
            then.status(200).body(fixture("fetch_200.json"));
        })
        .await;
    let c = client(&server);
    let by_new = c.get_sim(SIM).await.unwrap();
    let by_old = c.fetch_sim(SIM).await.unwrap();
    assert_eq!(by_new, by_old);
    assert_eq!(by_new, fixture_sim("fetch_200.json"));
    m.assert_calls_async(2).await;
}
