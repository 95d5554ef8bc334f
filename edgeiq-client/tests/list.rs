//! Listing SIM records against a mock EdgeIQ: the exact `GET /sims` requests, both documented
//! answer shapes (a bare array, and `{"total", "resources"}` with `page_meta=true`), the
//! snapshots, and errors that end the stream.

mod common;

use common::*;
use futures_util::StreamExt as _;
use httpmock::prelude::*;
use httpmock::{HttpMockRequest, Mock};
use serde_json::{Value, json};
use simcore::paging::PagePosition;
use simcore::{Error, ListOptions, SimProvider, SimSnapshot, SimState};

/// Matches a request whose raw query is exactly `query`.
fn exact_query(query: String) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync {
    move |req| req.uri().query() == Some(query.as_str())
}

fn id(n: u32) -> String {
    format!("65f1c0ff{n:016x}")
}

fn record(n: u32, status: &str) -> Value {
    json!({
        "_id": id(n),
        "device_id": format!("dev-{n}"),
        "iccid": format!("8988280666{n:010}"),
        "status": status,
        "sim_metadata": {"site": {"n": n}},
        "ctd_data_usage": 1024,
        "carrier_notes": "kept in extra",
    })
}

fn records(range: std::ops::Range<u32>) -> Vec<Value> {
    range.map(|n| record(n, "active")).collect()
}

async fn mock_page(server: &MockServer, page: u32, per_page: u32, body: Value) -> Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{BASE}/sims"))
                .header("authorization", SENTINEL)
                .is_true(exact_query(format!(
                    "page={page}&per_page={per_page}&page_meta=true"
                )));
            then.status(200)
                .header("content-type", "application/json")
                .json_body(body);
        })
        .await
}

async fn listed(
    p: &dyn SimProvider,
    options: &ListOptions,
) -> Vec<simcore::Result<Vec<SimSnapshot>>> {
    p.list(options).collect().await
}

fn ids(pages: Vec<simcore::Result<Vec<SimSnapshot>>>) -> Vec<Vec<String>> {
    pages
        .into_iter()
        .map(|p| p.unwrap().into_iter().map(|s| s.id).collect())
        .collect()
}

#[tokio::test]
async fn page_meta_envelopes_end_at_the_total() {
    let server = MockServer::start_async().await;
    let first = mock_page(
        &server,
        1,
        2,
        json!({"total": 3, "resources": records(0..2)}),
    )
    .await;
    let last = mock_page(
        &server,
        2,
        2,
        json!({"total": 3, "resources": [record(2, "Suspended")]}),
    )
    .await;
    let got = listed(&client(&server), &ListOptions::new().page_size(2)).await;
    let pages: Vec<Vec<SimSnapshot>> = got.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        pages[1],
        [SimSnapshot::new("edgeiq", id(2), SimState::Inactive)
            .with_iccid("89882806660000000002")
            .with_native_status("Suspended")]
    );
    assert_eq!(pages[0].len(), 2);
    first.assert_calls_async(1).await;
    last.assert_calls_async(1).await;

    // A total a full page reaches: no request past it; the largest page by default.
    let server = MockServer::start_async().await;
    let only = mock_page(
        &server,
        1,
        1000,
        json!({"total": 2, "resources": records(0..2)}),
    )
    .await;
    assert_eq!(
        ids(listed(&client(&server), &ListOptions::new()).await).len(),
        1
    );
    only.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_bare_array_pages_until_a_short_page() {
    let server = MockServer::start_async().await;
    let full = mock_page(&server, 1, 2, json!(records(0..2))).await;
    let short = mock_page(&server, 2, 2, json!(records(2..3))).await;
    let got = ids(listed(&client(&server), &ListOptions::new().page_size(2)).await);
    assert_eq!(got, [vec![id(0), id(1)], vec![id(2)]]);
    full.assert_calls_async(1).await;
    short.assert_calls_async(1).await;

    // A full last page without a total: one more request finds the end.
    let server = MockServer::start_async().await;
    let full = mock_page(&server, 1, 2, json!(records(0..2))).await;
    let empty = mock_page(&server, 2, 2, json!([])).await;
    let all = client(&server)
        .list_sims()
        .page_size(2)
        .collect_all()
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    // Typed records, with what the SDK does not know kept.
    assert_eq!(all[1].device_id.as_deref(), Some("dev-1"));
    assert_eq!(all[1].extra["carrier_notes"], "kept in extra");
    assert_eq!(
        all[1].sim_metadata.as_ref().unwrap()["site"],
        json!({"n": 1})
    );
    full.assert_calls_async(1).await;
    empty.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_empty_fleet_is_one_empty_page() {
    for body in [json!([]), json!({"total": 0, "resources": []})] {
        let server = MockServer::start_async().await;
        let mock = mock_page(&server, 1, 1000, body.clone()).await;
        let got = listed(&client(&server), &ListOptions::new()).await;
        assert_eq!(got.len(), 1, "{body}");
        assert!(got[0].as_ref().unwrap().is_empty());
        mock.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn errors_mid_stream_are_yielded_and_end_it() {
    let server = MockServer::start_async().await;
    mock_page(
        &server,
        1,
        2,
        json!({"total": 9, "resources": records(0..2)}),
    )
    .await;
    let broken = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(format!("{BASE}/sims"))
                .query_param("page", "2");
            then.status(401)
                .json_body(json!({"message": "Not authorized"}));
        })
        .await;
    let got = listed(&client(&server), &ListOptions::new().page_size(2)).await;
    assert_eq!(got.len(), 2, "a page, then the error, then nothing");
    assert!(got[1].as_ref().unwrap_err().is_unauthorized());
    broken.assert_calls_async(1).await;

    // Answers that are not a list of records, or records without their id or status.
    for body in [
        json!({"total": 3}),
        json!({"message": "ok"}),
        json!([{"status": "active"}]),
        json!({"resources": [{"_id": id(1)}]}),
        json!([7]),
    ] {
        let server = MockServer::start_async().await;
        mock_page(&server, 1, 1000, body.clone()).await;
        let got = listed(&client(&server), &ListOptions::new()).await;
        assert_eq!(got.len(), 1, "{body}");
        assert!(
            matches!(got[0], Err(Error::Decode { status: 200, .. })),
            "{body}: {got:?}"
        );
    }

    // An API that ignores `page` answers the same page again: the listing stops with an error.
    let server = MockServer::start_async().await;
    let same = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{BASE}/sims"));
            then.status(200).json_body(json!(records(0..2)));
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
async fn a_page_size_over_1000_is_refused_before_sending() {
    let server = MockServer::start_async().await;
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(json!([]));
        })
        .await;
    let got = listed(&client(&server), &ListOptions::new().page_size(1001)).await;
    assert!(
        matches!(got.as_slice(), [Err(Error::Invalid(e))] if e.field() == "page_size"),
        "{got:?}"
    );
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
async fn resume_from_reads_from_that_page() {
    let server = MockServer::start_async().await;
    let first = mock_page(
        &server,
        1,
        2,
        json!({"total": 5, "resources": records(0..2)}),
    )
    .await;
    let second = mock_page(
        &server,
        2,
        2,
        json!({"total": 5, "resources": records(2..4)}),
    )
    .await;
    let third = mock_page(
        &server,
        3,
        2,
        json!({"total": 5, "resources": records(4..5)}),
    )
    .await;
    let list = client(&server).list_sims().page_size(2);
    let page = list
        .clone()
        .resume_from(PagePosition::Number(2))
        .first_page()
        .await
        .unwrap();
    let got: Vec<_> = page.items.iter().map(|r| r.id.clone().unwrap()).collect();
    assert_eq!(got, [id(2), id(3)]);
    assert_eq!(
        (page.next, page.total),
        (Some(PagePosition::Number(3)), Some(5))
    );
    let rest = list
        .clone()
        .resume_from(PagePosition::Number(2))
        .collect_all()
        .await
        .unwrap();
    let got: Vec<_> = rest.into_iter().map(|r| r.id.unwrap()).collect();
    assert_eq!(got, [id(2), id(3), id(4)]);
    first.assert_calls_async(0).await;
    second.assert_calls_async(2).await;
    third.assert_calls_async(1).await;

    // The last page says there is none after it.
    let last = list
        .resume_from(PagePosition::Number(3))
        .first_page()
        .await
        .unwrap();
    assert_eq!((last.items.len(), last.next), (1, None));

    // Through SimProvider: resumed at page 3, the listing reads page 3 alone.
    let got = ids(listed(
        &client(&server),
        &ListOptions::new()
            .page_size(2)
            .resume_from(PagePosition::Number(3)),
    )
    .await);
    assert_eq!(got, [vec![id(4)]]);
    first.assert_calls_async(0).await;

    // A token belongs to a list paged by link: refused, nothing sent.
    let err = client(&server)
        .list_sims()
        .resume_from(PagePosition::Token("https://example.com/next".into()))
        .first_page()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "page"),
        "{err:?}"
    );
    third.assert_calls_async(3).await;
}

#[tokio::test]
async fn a_per_call_attempts_cap_is_honoured_on_lists() {
    let server = MockServer::start_async().await;
    let busy = server
        .mock_async(|when, then| {
            when.method(GET).path(format!("{BASE}/sims"));
            then.status(503).json_body(json!({"message": "busy"}));
        })
        .await;
    let err = client_with(&server, 3)
        .list_sims()
        .attempts(1)
        .first_page()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    busy.assert_calls_async(1).await;
    // Every page of a listing, and SimProvider's list through its options.
    let err = client_with(&server, 3)
        .list_sims()
        .attempts(1)
        .collect_all()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err}");
    busy.assert_calls_async(2).await;
    let got = listed(
        &client_with(&server, 3),
        &ListOptions::new().call(simcore::CallOptions::new().attempts(1)),
    )
    .await;
    assert!(matches!(got.as_slice(), [Err(e)] if e.status() == Some(503)));
    busy.assert_calls_async(3).await;
    // Without a cap, the client's policy: three attempts.
    client_with(&server, 3)
        .list_sims()
        .first_page()
        .await
        .unwrap_err();
    busy.assert_calls_async(6).await;
}

#[tokio::test]
async fn bad_call_options_on_a_list_are_refused_before_sending() {
    let server = MockServer::start_async().await;
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(json!([]));
        })
        .await;
    let err = client(&server)
        .list_sims()
        .attempts(0)
        .first_page()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "attempts"),
        "{err:?}"
    );
    let err = client(&server)
        .list_sims()
        .deadline(std::time::Duration::ZERO)
        .collect_all()
        .await
        .unwrap_err();
    assert!(
        matches!(&err, Error::Invalid(v) if v.field() == "deadline"),
        "{err:?}"
    );
    anything.assert_calls_async(0).await;
}
