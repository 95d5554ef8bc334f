//! Listing SIMs against a mock emnify: the exact `GET /api/v1/sim` requests, the paging headers
//! emnify sends (as recorded), every page shape, errors that end the stream, and the pace.

mod common;

use std::time::{Duration, Instant};

use common::*;
use emnify_client::{Client, ListPace, SimStatus};
use futures_util::StreamExt as _;
use httpmock::prelude::*;
use httpmock::{HttpMockRequest, Then};
use serde_json::{Value, json};
use simcore::paging::PagePosition;
use simcore::{Error, ListOptions, SimProvider, SimSnapshot, SimState};

/// Matches a request whose raw query is exactly `query`.
fn exact_query(query: &'static str) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync {
    move |req| req.uri().query() == Some(query)
}

fn sim(id: u64, status: i64) -> Value {
    let description = [
        "Issued",
        "Activated",
        "Suspended",
        "Deleted",
        "Factory Test",
    ][status as usize];
    json!({
        "id": id,
        "iccid": format!("8988303{id:012}"),
        "production_date": "2015-03-06T11:15:57.000+0000",
        "status": {"id": status, "description": description},
        "issuer_org": {"id": 2, "name": "org2", "country": {"id": 219, "name": "NonTerrestrial 883"}},
        "imsi": "295050999900095",
    })
}

/// The paging headers emnify sends.
fn paged(then: Then, per_page: u32, page: u32, total: u64) -> Then {
    then.header("X-Count-Per-Page", per_page.to_string())
        .header("X-Current-Page", page.to_string())
        .header("X-Sort", "id")
        .header("X-Total-Count", total.to_string())
        .header(
            "X-Total-Pages",
            total.div_ceil(u64::from(per_page)).to_string(),
        )
}

async fn listed(
    p: &dyn SimProvider,
    options: &ListOptions,
) -> Vec<simcore::Result<Vec<SimSnapshot>>> {
    p.list(options).collect().await
}

fn snap(id: u64, state: SimState, word: &str) -> SimSnapshot {
    SimSnapshot::new("emnify", id.to_string(), state)
        .with_iccid(format!("8988303{id:012}"))
        .with_native_status(word)
}

#[tokio::test]
async fn the_recorded_list_answer_reads_as_one_page_of_typed_sims() {
    let (status, headers, body) = recorded("GET SIM list");
    assert_eq!(status, 200);
    // As recorded: pages count from 1, every value a plain number (the sort a field name).
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(header("X-Current-Page"), Some("1"));
    assert_eq!(header("X-Count-Per-Page"), Some("2000"));
    assert_eq!(header("X-Sort"), Some("id"));
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    mock_app_auth(&server, &token).await;
    let list = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim")
                .header("authorization", bearer(&token))
                .header("user-agent", USER_AGENT)
                .is_true(exact_query("page=1"));
            let mut then = then.status(200).header("content-type", "application/json");
            for (k, v) in &headers {
                then = then.header(k, v);
            }
            then.json_body(body.clone());
        })
        .await;
    let client = client(&server);
    let page = client.list_sims().first_page().await.unwrap();
    assert_eq!(page.items.len(), 12);
    // `X-Total-Count` is the total; `X-Total-Pages: 1` makes it the last page.
    assert_eq!(page.total, Some(12));
    assert_eq!(page.next, None);
    assert!(!page.has_next());
    assert_eq!(page.items[0].id, 250);
    assert_eq!(page.items[0].status, Some(SimStatus::Activated));
    let all = client.list_sims().collect_all().await.unwrap();
    assert_eq!(all, page.items);
    list.assert_calls_async(2).await;
}

#[tokio::test]
async fn two_pages_at_the_largest_page_size_become_snapshots() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    let auth = mock_app_auth(&server, &token).await;
    let first = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim")
                .header("authorization", bearer(&token))
                .is_true(exact_query("page=1&per_page=2500"));
            paged(then.status(200), 2500, 1, 2501).json_body(json!([sim(250, 1), sim(251, 0)]));
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim")
                .is_true(exact_query("page=2&per_page=2500"));
            paged(then.status(200), 2500, 2, 2501).json_body(json!([sim(252, 4)]));
        })
        .await;
    let got = listed(&client(&server), &ListOptions::new()).await;
    let got: Vec<Vec<SimSnapshot>> = got.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        got,
        [
            vec![
                snap(250, SimState::Active, "Activated"),
                snap(251, SimState::New, "Issued"),
            ],
            vec![snap(252, SimState::Ready, "Factory Test")],
        ]
    );
    auth.assert_calls_async(1).await;
    first.assert_calls_async(1).await;
    second.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_empty_fleet_is_one_empty_page() {
    let server = MockServer::start_async().await;
    mock_app_auth(&server, &fresh_jwt("a")).await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim")
                .is_true(exact_query("page=1&per_page=2500"));
            paged(then.status(200), 2500, 1, 0).json_body(json!([]));
        })
        .await;
    let got = listed(&client(&server), &ListOptions::new()).await;
    assert_eq!(got.len(), 1);
    assert!(got[0].as_ref().unwrap().is_empty());
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn without_paging_headers_a_short_page_is_the_last() {
    let server = MockServer::start_async().await;
    mock_app_auth(&server, &fresh_jwt("a")).await;
    let full = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim")
                .is_true(exact_query("page=1&per_page=2"));
            then.status(200).json_body(json!([sim(1, 1), sim(2, 2)]));
        })
        .await;
    let short = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim")
                .is_true(exact_query("page=2&per_page=2"));
            then.status(200).json_body(json!([sim(3, 1)]));
        })
        .await;
    let got = listed(&client(&server), &ListOptions::new().page_size(2)).await;
    let ids: Vec<Vec<String>> = got
        .into_iter()
        .map(|p| p.unwrap().into_iter().map(|s| s.id).collect())
        .collect();
    assert_eq!(ids, [vec!["1", "2"], vec!["3"]]);
    full.assert_calls_async(1).await;
    short.assert_calls_async(1).await;

    // A full last page without headers: one more request finds the end.
    let server = MockServer::start_async().await;
    mock_app_auth(&server, &fresh_jwt("a")).await;
    let full = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim")
                .is_true(exact_query("page=1&per_page=2"));
            then.status(200).json_body(json!([sim(1, 1), sim(2, 2)]));
        })
        .await;
    let empty = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim")
                .is_true(exact_query("page=2&per_page=2"));
            then.status(200).json_body(json!([]));
        })
        .await;
    let sims = client(&server)
        .list_sims()
        .page_size(2)
        .collect_all()
        .await
        .unwrap();
    assert_eq!(sims.len(), 2);
    full.assert_calls_async(1).await;
    empty.assert_calls_async(1).await;
}

#[tokio::test]
async fn the_status_filter_is_emnifys_q() {
    let server = MockServer::start_async().await;
    mock_app_auth(&server, &fresh_jwt("a")).await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim")
                .is_true(exact_query("page=1&per_page=100&q=status%3A2"));
            paged(then.status(200), 100, 1, 1).json_body(json!([sim(9, 2)]));
        })
        .await;
    let sims = client(&server)
        .list_sims()
        .page_size(100)
        .status(SimStatus::Suspended)
        .collect_all()
        .await
        .unwrap();
    assert_eq!(sims[0].status, Some(SimStatus::Suspended));
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn errors_mid_stream_are_yielded_and_end_it() {
    let server = MockServer::start_async().await;
    mock_app_auth(&server, &fresh_jwt("a")).await;
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim")
                .is_true(exact_query("page=1&per_page=2"));
            paged(then.status(200), 2, 1, 6).json_body(json!([sim(1, 1), sim(2, 1)]));
        })
        .await;
    let broken = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim")
                .is_true(exact_query("page=2&per_page=2"));
            then.status(429)
                .header("content-type", "application/json")
                .body(fixture("error_429_too_many.json"));
        })
        .await;
    let got = listed(&client(&server), &ListOptions::new().page_size(2)).await;
    assert_eq!(got.len(), 2, "a page, then the error, then nothing");
    let err = got[1].as_ref().unwrap_err();
    assert_eq!(
        (err.status(), err.api().and_then(|a| a.code)),
        (Some(429), Some(1105))
    );
    // The 429 was retried with backoff (the client's policy: 3 attempts) before giving up.
    broken.assert_calls_async(3).await;

    // An answer that is not a list of SIMs is a decode error; so is a SIM without a status.
    for body in [json!({"sims": []}), json!([{"id": 5}])] {
        let server = MockServer::start_async().await;
        mock_app_auth(&server, &fresh_jwt("a")).await;
        server
            .mock_async(|when, then| {
                when.method(GET).path("/api/v1/sim");
                then.status(200).json_body(body.clone());
            })
            .await;
        let got = listed(&client(&server), &ListOptions::new()).await;
        assert_eq!(got.len(), 1);
        assert!(
            matches!(got[0], Err(Error::Decode { status: 200, .. })),
            "{body}: {got:?}"
        );
    }

    // A server that ignores `page` would never end: the repeated page ends the stream.
    let server = MockServer::start_async().await;
    mock_app_auth(&server, &fresh_jwt("a")).await;
    let same = server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/sim");
            then.status(200).json_body(json!([sim(1, 1), sim(2, 1)]));
        })
        .await;
    let got = listed(&client(&server), &ListOptions::new().page_size(2)).await;
    assert_eq!(got.len(), 2);
    assert!(
        matches!(&got[1], Err(Error::Invalid(e)) if e.field() == "page"),
        "{got:?}"
    );
    same.assert_calls_async(2).await;
}

#[tokio::test]
async fn a_page_size_over_2500_is_refused_before_sending() {
    let server = MockServer::start_async().await;
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(json!([]));
        })
        .await;
    let got = listed(&client(&server), &ListOptions::new().page_size(2501)).await;
    assert!(matches!(got.as_slice(), [Err(Error::Invalid(e))] if e.field() == "page_size"));
    let e = client(&server)
        .list_sims()
        .resume_from(PagePosition::Number(0))
        .first_page()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(v) if v.field() == "page"));
    anything.assert_calls_async(0).await;
}

#[tokio::test]
async fn pages_are_paced_and_the_pace_is_shared_by_clones() {
    let server = MockServer::start_async().await;
    mock_app_auth(&server, &fresh_jwt("a")).await;
    let pages = server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/sim");
            then.status(200).json_body(json!([]));
        })
        .await;
    let paced = Client::builder()
        .application_token(APP_TOKEN)
        .base_url(server.base_url())
        .list_pace(Some(ListPace::new(20.0, 2)))
        .build()
        .unwrap();
    let other = paced.clone();
    let started = Instant::now();
    // Two at once (the burst), then one every 50 ms: the fifth goes 150 ms after the first.
    for client in [&paced, &other, &paced, &other, &paced] {
        client.list_sims().first_page().await.unwrap();
    }
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(145), "{took:?}");
    pages.assert_calls_async(5).await;

    // Unpaced, as for a mock server.
    let unpaced = Client::builder()
        .application_token(APP_TOKEN)
        .base_url(server.base_url())
        .list_pace(None)
        .build()
        .unwrap();
    let started = Instant::now();
    for _ in 0..10 {
        unpaced.list_sims().first_page().await.unwrap();
    }
    assert!(started.elapsed() < Duration::from_secs(2));
}

#[tokio::test]
async fn resume_from_reads_from_that_page_on() {
    let server = MockServer::start_async().await;
    mock_app_auth(&server, &fresh_jwt("a")).await;
    let first = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim")
                .is_true(exact_query("page=1&per_page=2"));
            paged(then.status(200), 2, 1, 5).json_body(json!([sim(1, 1), sim(2, 1)]));
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim")
                .is_true(exact_query("page=2&per_page=2"));
            paged(then.status(200), 2, 2, 5).json_body(json!([sim(3, 1), sim(4, 2)]));
        })
        .await;
    let third = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim")
                .is_true(exact_query("page=3&per_page=2"));
            paged(then.status(200), 2, 3, 5).json_body(json!([sim(5, 2)]));
        })
        .await;
    let client = client(&server);
    let page = client
        .list_sims()
        .page_size(2)
        .resume_from(PagePosition::Number(2))
        .first_page()
        .await
        .unwrap();
    let ids: Vec<u64> = page.items.iter().map(|s| s.id).collect();
    assert_eq!(ids, [3, 4]);
    assert_eq!(
        (page.next, page.total),
        (Some(PagePosition::Number(3)), Some(5))
    );
    // Every SIM from page 2 on; page 1 is never read.
    let sims = client
        .list_sims()
        .page_size(2)
        .resume_from(PagePosition::Number(2))
        .collect_all()
        .await
        .unwrap();
    let ids: Vec<u64> = sims.iter().map(|s| s.id).collect();
    assert_eq!(ids, [3, 4, 5]);
    first.assert_calls_async(0).await;
    second.assert_calls_async(2).await;
    third.assert_calls_async(1).await;

    // Through the trait: resuming at page 3 reads page 3 alone.
    let got = listed(
        &client,
        &ListOptions::new()
            .page_size(2)
            .resume_from(PagePosition::Number(3)),
    )
    .await;
    let ids: Vec<Vec<String>> = got
        .into_iter()
        .map(|p| p.unwrap().into_iter().map(|s| s.id).collect())
        .collect();
    assert_eq!(ids, [vec!["5"]]);
    first.assert_calls_async(0).await;
    third.assert_calls_async(2).await;
    // A token is not an emnify position: refused before sending.
    let got = listed(
        &client,
        &ListOptions::new().resume_from(PagePosition::Token("abc".into())),
    )
    .await;
    assert!(
        matches!(got.as_slice(), [Err(Error::Invalid(e))] if e.field() == "resume"),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_per_call_attempts_cap_is_honoured_by_the_list() {
    let server = MockServer::start_async().await;
    mock_app_auth(&server, &fresh_jwt("a")).await;
    let busy = server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/sim");
            then.status(503);
        })
        .await;
    let client = client(&server);
    // The client's policy tries 3 times; this list once per page.
    let err = client
        .list_sims()
        .attempts(1)
        .collect_all()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    busy.assert_calls_async(1).await;
    let err = client.list_sims().first_page().await.unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    busy.assert_calls_async(4).await;
    // Through the trait, with `ListOptions::call`.
    let got = listed(
        &client,
        &ListOptions::new().call(simcore::CallOptions::new().attempts(1)),
    )
    .await;
    assert!(
        matches!(got.as_slice(), [Err(e)] if e.status() == Some(503)),
        "{got:?}"
    );
    busy.assert_calls_async(5).await;
}

#[tokio::test]
async fn a_bad_list_option_is_refused_with_nothing_sent() {
    let server = MockServer::start_async().await;
    let auth = mock_app_auth(&server, &fresh_jwt("a")).await;
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(json!([]));
        })
        .await;
    let client = client(&server);
    let err = client
        .list_sims()
        .attempts(0)
        .first_page()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "attempts"),
        "{err:?}"
    );
    assert!(err.was_not_sent());
    let err = client
        .list_sims()
        .deadline(Duration::ZERO)
        .collect_all()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "deadline"),
        "{err:?}"
    );
    let got = listed(
        &client,
        &ListOptions::new().call(simcore::CallOptions::new().attempts(0)),
    )
    .await;
    assert!(
        matches!(got.as_slice(), [Err(Error::Invalid(v))] if v.field() == "attempts"),
        "{got:?}"
    );
    anything.assert_calls_async(0).await;
    auth.assert_calls_async(0).await;
}
