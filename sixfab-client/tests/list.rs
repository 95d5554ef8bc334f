//! Listing assets against a mock Sixfab: the exact `GET /assets` requests of this crate's
//! (unconfirmed) reading, every page shape it accepts, the snapshots and their aliases, and
//! errors that end the stream.

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

/// An asset numbered `n`, with both SIMs.
fn asset(n: u32, status: &str) -> Value {
    json!({
        "uuid": format!("5a4d0b1e-0000-4000-8000-{n:012x}"),
        "serial_number": format!("SN-{n:04}"),
        "name": format!("pump {n}"),
        "status": status,
        "iccid": format!("8988280666{n:010}"),
        "supersim": {"sid": format!("HS{n:032x}"), "iccid": format!("8988280666{n:010}"), "status": status},
        "prosim": {"iccid": format!("8944500102{n:09}"), "status": status},
        "device": {"type": "ALPON X4", "asset_fee": "6.00"},
    })
}

fn assets(range: std::ops::Range<u32>) -> Vec<Value> {
    range.map(|n| asset(n, "active")).collect()
}

/// Mocks `GET /v1/assets?page=P&per_page=N` with the key, answering `body`.
async fn mock_page(server: &MockServer, page: u32, per_page: u32, body: Value) -> Mock<'_> {
    server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/assets")
                .header("x-api-key", SENTINEL)
                .header("user-agent", USER_AGENT)
                .is_true(exact_query(format!("page={page}&per_page={per_page}")));
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

fn uuid(n: u32) -> String {
    format!("5a4d0b1e-0000-4000-8000-{n:012x}")
}

#[tokio::test]
async fn a_bare_array_pages_until_a_short_page() {
    let server = MockServer::start_async().await;
    let first = mock_page(&server, 1, 2, json!(assets(0..2))).await;
    let last = mock_page(&server, 2, 2, json!([asset(2, "inactive")])).await;
    let got = listed(&client(&server), &ListOptions::new().page_size(2)).await;
    let pages: Vec<Vec<SimSnapshot>> = got.into_iter().map(Result::unwrap).collect();
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [2, 1]);
    // Named by its UUID, with every other id it answers to as an alias.
    assert_eq!(
        pages[1][0],
        SimSnapshot::new("sixfab", uuid(2), SimState::Inactive)
            .with_native_status("inactive")
            .with_display_name("pump 2")
            .with_iccid("89882806660000000002")
            .with_alias("SN-0002")
            .with_alias(format!("HS{:032x}", 2))
            .with_alias("89882806660000000002")
            .with_alias("8944500102000000002")
    );
    assert!(pages[1][0].answers_to("SN-0002") && pages[1][0].answers_to("8944500102000000002"));
    first.assert_calls_async(1).await;
    last.assert_calls_async(1).await;
}

#[tokio::test]
async fn the_largest_page_by_default_and_an_envelope_with_a_total() {
    let server = MockServer::start_async().await;
    let body = |r: std::ops::Range<u32>| json!({"data": assets(r), "page": 1, "per_page": 100, "total": 150});
    let first = mock_page(&server, 1, 100, body(0..100)).await;
    let second = mock_page(&server, 2, 100, body(100..150)).await;
    let got = ids(listed(&client(&server), &ListOptions::new()).await);
    assert_eq!(got.iter().map(Vec::len).collect::<Vec<_>>(), [100, 50]);
    assert_eq!(got[1][49], uuid(149));
    first.assert_calls_async(1).await;
    second.assert_calls_async(1).await;

    // A total that a full page reaches: no request past it.
    let server = MockServer::start_async().await;
    let only = mock_page(&server, 1, 2, json!({"items": assets(0..2), "total": 2})).await;
    assert_eq!(
        ids(listed(&client(&server), &ListOptions::new().page_size(2)).await).len(),
        1
    );
    only.assert_calls_async(1).await;
}

#[tokio::test]
async fn every_envelope_this_crate_reads() {
    let cases = [
        // `next` decides: a URL (never followed: the next page is asked for by number), then null.
        (
            json!({"items": assets(0..2), "next": "https://api.sixfab.com/v1/assets?page=2"}),
            json!({"items": assets(2..3), "next": null}),
        ),
        // Django-style: results and count.
        (
            json!({"results": assets(0..2), "count": 3}),
            json!({"results": assets(2..3), "count": 3}),
        ),
        // A page count.
        (
            json!({"assets": assets(0..2), "pages": 2}),
            json!({"assets": assets(2..3), "pages": 2}),
        ),
        // One level down, with its paging.
        (
            json!({"data": {"items": assets(0..2), "total_pages": 2}}),
            json!({"data": {"items": assets(2..3), "total_pages": 2}}),
        ),
    ];
    for (page1, page2) in cases {
        let server = MockServer::start_async().await;
        let a = mock_page(&server, 1, 2, page1.clone()).await;
        let b = mock_page(&server, 2, 2, page2).await;
        let got = ids(listed(&client(&server), &ListOptions::new().page_size(2)).await);
        assert_eq!(got, [vec![uuid(0), uuid(1)], vec![uuid(2)]], "{page1}");
        a.assert_calls_async(1).await;
        b.assert_calls_async(1).await;
    }
    // A server that applies a smaller page than asked, and says so: its page size counts.
    let server = MockServer::start_async().await;
    let a = mock_page(&server, 1, 3, json!({"data": assets(0..2), "limit": 2})).await;
    let b = mock_page(&server, 2, 3, json!({"data": assets(2..3), "limit": 2})).await;
    let got = ids(listed(&client(&server), &ListOptions::new().page_size(3)).await);
    assert_eq!(got, [vec![uuid(0), uuid(1)], vec![uuid(2)]]);
    a.assert_calls_async(1).await;
    b.assert_calls_async(1).await;

    // `next: null` on a full page ends the list there.
    let server = MockServer::start_async().await;
    let only = mock_page(&server, 1, 2, json!({"data": assets(0..2), "next": null})).await;
    assert_eq!(
        ids(listed(&client(&server), &ListOptions::new().page_size(2)).await).len(),
        1
    );
    only.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_empty_fleet_is_one_empty_page() {
    for body in [
        json!([]),
        json!({"data": [], "total": 0}),
        json!({"items": [], "next": "x"}),
    ] {
        let server = MockServer::start_async().await;
        let mock = mock_page(&server, 1, 100, body.clone()).await;
        let got = listed(&client(&server), &ListOptions::new()).await;
        assert_eq!(got.len(), 1, "{body}");
        assert!(got[0].as_ref().unwrap().is_empty());
        mock.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn without_paging_a_full_last_page_costs_one_more_request() {
    let server = MockServer::start_async().await;
    let full = mock_page(&server, 1, 2, json!(assets(0..2))).await;
    let empty = mock_page(&server, 2, 2, json!({"data": []})).await;
    let all = client(&server)
        .list_assets()
        .page_size(2)
        .collect_all()
        .await
        .unwrap();
    assert_eq!(all.len(), 2);
    assert_eq!(all[0].name.as_deref(), Some("pump 0"));
    full.assert_calls_async(1).await;
    empty.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_listed_asset_is_named_by_the_first_id_it_has() {
    let server = MockServer::start_async().await;
    let body = json!([
        {"serial_number": "SN-1", "id": 7, "status": "active"},
        {"id": 8, "status": "inactive"},
        {"supersim": {"sid": "HS00000000000000000000000000000009", "iccid": "89882806660000000009"}, "status": "active"},
        {"prosim": {"iccid": "8944500102000000010"}, "status": "active"},
        {"iccid": "89882806660000000011", "status": 3},
    ]);
    mock_page(&server, 1, 100, body).await;
    let got = listed(&client(&server), &ListOptions::new()).await;
    let snaps = got.into_iter().next().unwrap().unwrap();
    let named: Vec<(&str, Vec<&str>)> = snaps
        .iter()
        .map(|s| {
            (
                s.id.as_str(),
                s.aliases.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            ("SN-1", vec!["7"]),
            ("8", vec![]),
            (
                "HS00000000000000000000000000000009",
                vec!["89882806660000000009"]
            ),
            ("8944500102000000010", vec![]),
            ("89882806660000000011", vec![]),
        ]
    );
    // A status that is not a word is no status.
    assert_eq!(snaps[4].state, SimState::Unknown("not reported".into()));
}

#[tokio::test]
async fn errors_mid_stream_are_yielded_and_end_it() {
    let server = MockServer::start_async().await;
    mock_page(&server, 1, 2, json!(assets(0..2))).await;
    let broken = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/assets").query_param("page", "2");
            then.status(500)
                .header("content-type", "text/html")
                .body("<html>oops</html>");
        })
        .await;
    let got = listed(&client(&server), &ListOptions::new().page_size(2)).await;
    assert_eq!(got.len(), 2, "a page, then the error, then nothing");
    assert_eq!(got[1].as_ref().unwrap_err().status(), Some(500));
    broken.assert_calls_async(1).await;

    // Answers that are not a list of assets.
    for body in [
        json!({"detail": "Not Found"}),
        json!({"data": {"uuid": "a-single-asset"}}),
        json!([{"name": "no id at all", "status": "active"}]),
        json!("assets"),
    ] {
        let server = MockServer::start_async().await;
        mock_page(&server, 1, 100, body.clone()).await;
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
            when.method(GET).path("/v1/assets");
            then.status(200).json_body(json!(assets(0..2)));
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
async fn a_page_size_over_100_is_refused_before_sending() {
    let server = MockServer::start_async().await;
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(json!([]));
        })
        .await;
    let got = listed(&client(&server), &ListOptions::new().page_size(101)).await;
    assert!(
        matches!(got.as_slice(), [Err(Error::Invalid(e))] if e.field() == "page_size"),
        "{got:?}"
    );
    let got = listed(&client(&server), &ListOptions::new().page_size(0)).await;
    assert!(matches!(got.as_slice(), [Err(Error::Invalid(_))]));
    let e = client(&server)
        .list_assets()
        .resume_from(PagePosition::Number(0))
        .first_page()
        .await
        .unwrap_err();
    assert!(matches!(e, Error::Invalid(v) if v.field() == "page"));
    anything.assert_calls_async(0).await;
}

#[tokio::test]
async fn resume_from_reads_from_that_page_on() {
    let server = MockServer::start_async().await;
    let envelope = |r: std::ops::Range<u32>| json!({"data": assets(r), "total": 5});
    let first = mock_page(&server, 1, 2, envelope(0..2)).await;
    let second = mock_page(&server, 2, 2, envelope(2..4)).await;
    let third = mock_page(&server, 3, 2, envelope(4..5)).await;
    let client = client(&server);
    let page = client
        .list_assets()
        .page_size(2)
        .resume_from(PagePosition::Number(2))
        .first_page()
        .await
        .unwrap();
    let names: Vec<_> = page.items.iter().map(|a| a.uuid.clone().unwrap()).collect();
    assert_eq!(names, [uuid(2), uuid(3)]);
    assert_eq!(
        (page.next, page.total),
        (Some(PagePosition::Number(3)), Some(5))
    );
    // Every asset from page 2 on; page 1 is never read.
    let all = client
        .list_assets()
        .page_size(2)
        .resume_from(PagePosition::Number(2))
        .collect_all()
        .await
        .unwrap();
    let names: Vec<_> = all.iter().map(|a| a.uuid.clone().unwrap()).collect();
    assert_eq!(names, [uuid(2), uuid(3), uuid(4)]);
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
    assert_eq!(ids(got), [vec![uuid(4)]]);
    first.assert_calls_async(0).await;
    third.assert_calls_async(2).await;
    // A token is not a Sixfab position: refused before sending.
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
    let busy = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/assets");
            then.status(503);
        })
        .await;
    // The client's policy tries 3 times; this list once per page.
    let client = client_with_attempts(&server, 3);
    let err = client
        .list_assets()
        .attempts(1)
        .collect_all()
        .await
        .unwrap_err();
    assert_eq!(err.status(), Some(503), "{err:?}");
    busy.assert_calls_async(1).await;
    let err = client.list_assets().first_page().await.unwrap_err();
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
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(json!([]));
        })
        .await;
    let client = client(&server);
    let err = client
        .list_assets()
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
        .list_assets()
        .deadline(std::time::Duration::ZERO)
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
}
