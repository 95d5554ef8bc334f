//! `GET /v1/Sims/{Sid}` and `GET /v1/Sims`: typed reads, filters, paging to the end, and
//! next-page URLs that are not followed to another origin.

use futures_util::{StreamExt as _, TryStreamExt as _};
use httpmock::Method::GET;
use httpmock::MockServer;
use serde_json::{Value, json};
use simcore::Error;
use simcore::paging::PagePosition;
use supersim_client::{Sim, Status};

use crate::*;

#[tokio::test]
async fn fetch_by_sid_reads_the_typed_sim() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path(SIM_PATH)
                .header("authorization", basic())
                .header("user-agent", USER_AGENT);
            then.status(200)
                .header("content-type", "application/json")
                .body(fixture("fetch_200.json"));
        })
        .await;
    let sim = client(&server).get_sim(SIM).await.unwrap();
    assert_eq!(sim.sid.as_deref(), Some(SIM));
    assert_eq!(sim.account_sid.as_deref(), Some(ACCOUNT));
    assert_eq!(sim.unique_name.as_deref(), Some("My SIM"));
    assert_eq!(sim.status, Some(Status::New));
    assert_eq!(sim.fleet_sid, None);
    assert_eq!(sim.iccid.as_deref(), Some("89883070000123456789"));
    assert_eq!(
        sim.date_created.unwrap().to_rfc3339(),
        "2015-07-30T20:00:00+00:00"
    );
    assert_eq!(
        sim.links.unwrap().billing_periods.as_deref(),
        Some(
            "https://supersim.twilio.com/v1/Sims/HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/BillingPeriods"
        )
    );
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn fetch_by_unique_name_and_not_found() {
    let server = MockServer::start_async().await;
    let found = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/Sims/My%20SIM");
            then.status(200).body(fixture("fetch_200.json"));
        })
        .await;
    let missing = server
        .mock_async(|when, then| {
            when.method(GET).path(SIM_PATH);
            then.status(404)
                .header("content-type", "application/json")
                .body(fixture("error_404.json"));
        })
        .await;
    let client = client(&server);
    let sim = client.get_sim("My SIM").await.unwrap();
    assert_eq!(sim.unique_name.as_deref(), Some("My SIM"));
    let err = client.get_sim(SIM).await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(err.api().unwrap().code, Some(20404));
    found.assert_calls_async(1).await;
    missing.assert_calls_async(1).await;
}

#[tokio::test]
async fn invalid_reads_are_refused_before_sending() {
    let server = MockServer::start_async().await;
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).body(fixture("list_by_fleet_sid_200.json"));
        })
        .await;
    let client = client(&server);
    for (name, id) in [
        ("empty", ""),
        ("fleet sid", FLEET),
        ("bad hex", "HSgggggggggggggggggggggggggggggggg"),
    ] {
        match client.get_sim(id).await.unwrap_err() {
            Error::Invalid(e) => assert_eq!(e.field(), "sim", "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
    let cases = [
        ("page size 0", client.list_sims().page_size(0), "page_size"),
        (
            "page size 1001",
            client.list_sims().page_size(1001),
            "page_size",
        ),
        ("short iccid", client.list_sims().iccid("8988307"), "iccid"),
        (
            "iccid with spaces",
            client.list_sims().iccid("8988 3070 0001 2345 6789"),
            "iccid",
        ),
        ("sim sid as fleet", client.list_sims().fleet(SIM), "fleet"),
        (
            "unknown status",
            client.list_sims().status("suspended"),
            "status",
        ),
    ];
    for (name, list, field) in cases {
        match list.clone().first_page().await.unwrap_err() {
            Error::Invalid(e) => assert_eq!(e.field(), field, "{name}"),
            other => panic!("{name}: {other:?}"),
        }
        let mut stream = std::pin::pin!(list.stream());
        assert!(
            matches!(stream.next().await, Some(Err(Error::Invalid(_)))),
            "{name}"
        );
        assert!(stream.next().await.is_none(), "{name}: the stream ends");
    }
    anything.assert_calls_async(0).await;
}

#[tokio::test]
async fn list_filters_are_sent_as_query_pairs() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/Sims")
                .header("authorization", basic())
                .query_param("Status", "active")
                .query_param("Fleet", "My Fleet")
                .query_param("Iccid", "89883070000123456789")
                .query_param("PageSize", "1000")
                .query_param_missing("Page")
                .query_param_missing("PageToken");
            then.status(200).body(fixture("list_by_fleet_sid_200.json"));
        })
        .await;
    let list = client(&server)
        .list_sims()
        .status(Status::Active)
        .fleet("My Fleet")
        .iccid("89883070000123456789")
        .page_size(1000);
    assert_eq!(
        list.query_pairs().unwrap(),
        [
            ("Status", "active".to_owned()),
            ("Fleet", "My Fleet".to_owned()),
            ("Iccid", "89883070000123456789".to_owned()),
            ("PageSize", "1000".to_owned()),
        ]
    );
    let page = list.first_page().await.unwrap();
    let expected: Vec<Sim> =
        serde_json::from_value(fixture_json("list_by_fleet_sid_200.json")["sims"].clone()).unwrap();
    assert_eq!(page.items, expected);
    assert_eq!(page.items.len(), 1);
    assert_eq!(page.items[0].fleet_sid.as_deref(), Some(FLEET));
    assert_eq!((page.next, page.total), (None, None));
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn no_filter_sends_no_query() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/Sims")
                .is_true(|req| req.uri().query().is_none());
            then.status(200).body(fixture("list_by_fleet_sid_200.json"));
        })
        .await;
    let sims = client(&server).list_sims().collect_all().await.unwrap();
    assert_eq!(sims.len(), 1);
    mock.assert_calls_async(1).await;
}

/// A page of `n` SIMs numbered from `first`, pointing at `next`.
fn page(first: usize, n: usize, url: &str, next: Option<String>) -> Value {
    let sims: Vec<Value> = (first..first + n)
        .map(|i| json!({"sid": format!("HS{i:032x}"), "status": "active", "unknown_field": i}))
        .collect();
    json!({
        "sims": sims,
        "meta": {"key": "sims", "page_size": 2, "url": url, "next_page_url": next}
    })
}

/// Three pages (2 + 2 + 1 SIMs) on the mock server, linked by absolute next-page URLs.
async fn three_pages(server: &MockServer) -> Vec<httpmock::Mock<'_>> {
    let p0 = server.url("/v1/Sims?PageSize=2");
    let p1 = server.url("/v1/Sims?PageSize=2&Page=1&PageToken=PT1");
    let p2 = server.url("/v1/Sims?PageSize=2&Page=2&PageToken=PT2");
    let first = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/Sims")
                .header("authorization", basic())
                .query_param("PageSize", "2")
                .query_param_missing("Page");
            then.status(200)
                .json_body(page(0, 2, &p0, Some(p1.clone())));
        })
        .await;
    let second = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/Sims")
                .header("authorization", basic())
                .query_param("Page", "1")
                .query_param("PageToken", "PT1");
            then.status(200)
                .json_body(page(2, 2, &p1, Some(p2.clone())));
        })
        .await;
    let third = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/Sims")
                .query_param("Page", "2")
                .query_param("PageToken", "PT2");
            then.status(200).json_body(page(4, 1, &p2, None));
        })
        .await;
    vec![first, second, third]
}

fn sids(n: usize) -> Vec<String> {
    (0..n).map(|i| format!("HS{i:032x}")).collect()
}

#[tokio::test]
async fn the_stream_follows_every_page_to_the_end() {
    let server = MockServer::start_async().await;
    let mocks = three_pages(&server).await;
    let sims = client(&server)
        .list_sims()
        .page_size(2)
        .collect_all()
        .await
        .unwrap();
    let got: Vec<String> = sims.into_iter().map(|s| s.sid.unwrap()).collect();
    assert_eq!(got, sids(5));
    for m in &mocks {
        m.assert_calls_async(1).await;
    }
}

#[tokio::test]
async fn pages_one_at_a_time() {
    let server = MockServer::start_async().await;
    let mocks = three_pages(&server).await;
    let client = client(&server);
    let list = client.list_sims().page_size(2);
    let mut page = list.clone().first_page().await.unwrap();
    let mut sizes = vec![page.items.len()];
    while let Some(next) = page.next.clone() {
        page = list.clone().resume_from(next).first_page().await.unwrap();
        sizes.push(page.items.len());
    }
    assert_eq!(sizes, [2, 2, 1]);
    let pages: Vec<simcore::paging::Page<Sim>> = client
        .list_sims()
        .page_size(2)
        .pages()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(
        pages.iter().map(|p| p.items.len()).collect::<Vec<_>>(),
        [2, 2, 1]
    );
    for m in &mocks {
        m.assert_calls_async(2).await;
    }
}

#[tokio::test]
async fn a_next_page_on_another_origin_is_not_followed() {
    let server = MockServer::start_async().await;
    let elsewhere = MockServer::start_async().await;
    let trap = elsewhere
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(page(9, 1, "x", None));
        })
        .await;
    let next = elsewhere.url("/v1/Sims?PageSize=2&Page=1&PageToken=PT1");
    let first = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/Sims");
            then.status(200)
                .json_body(page(0, 2, &server.url("/v1/Sims"), Some(next.clone())));
        })
        .await;
    let client = client(&server);
    let items: Vec<_> = client.list_sims().stream().collect().await;
    assert_eq!(items.len(), 3, "two SIMs, then the refusal");
    assert!(items[0].is_ok() && items[1].is_ok());
    match &items[2] {
        Err(Error::Invalid(e)) => {
            assert_eq!(e.field(), "meta.next_page_url");
            assert_eq!(
                e.rule(),
                "must have the same scheme, host and port as the base URL (not followed)"
            );
        }
        other => panic!("{other:?}"),
    }
    let page1 = client.list_sims().first_page().await.unwrap();
    assert_eq!(page1.next, Some(PagePosition::Token(next.clone())));
    assert!(matches!(
        client
            .list_sims()
            .resume_from(page1.next.unwrap())
            .first_page()
            .await,
        Err(Error::Invalid(_))
    ));
    first.assert_calls_async(2).await;
    trap.assert_calls_async(0).await;
}

#[tokio::test]
async fn a_next_page_pointing_at_itself_ends_the_stream() {
    let server = MockServer::start_async().await;
    let own = server.url("/v1/Sims?Page=0");
    let looping = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/Sims");
            then.status(200)
                .json_body(page(0, 1, &own, Some(own.clone())));
        })
        .await;
    let items: Vec<_> = client(&server).list_sims().stream().collect().await;
    // The first page's SIM, then the refusal instead of reading the same page again.
    assert_eq!(items.len(), 2);
    assert!(items[0].is_ok());
    match &items[1] {
        Err(Error::Invalid(e)) => assert_eq!(e.rule(), "must differ from the page just read"),
        other => panic!("{other:?}"),
    }
    looping.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_error_mid_way_ends_the_stream_with_it() {
    let server = MockServer::start_async().await;
    let next = server.url("/v1/Sims?Page=1");
    let first = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/Sims")
                .query_param_missing("Page");
            then.status(200)
                .json_body(page(0, 2, &server.url("/v1/Sims"), Some(next.clone())));
        })
        .await;
    let broken = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/Sims").query_param("Page", "1");
            then.status(500).body(fixture("error_500.html"));
        })
        .await;
    let items: Vec<_> = client(&server).list_sims().stream().collect().await;
    assert_eq!(items.len(), 3);
    assert_eq!(items[2].as_ref().unwrap_err().status(), Some(500));
    first.assert_calls_async(1).await;
    broken.assert_calls_async(1).await;
}
