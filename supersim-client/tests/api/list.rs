//! `SimProvider::list` against a mock of `GET /v1/Sims`: the exact requests (PageSize=1000 unless
//! asked otherwise), the canonical snapshots of each page shape, and errors that end the stream.

use futures_util::StreamExt as _;
use httpmock::Method::GET;
use httpmock::{HttpMockRequest, MockServer};
use serde_json::{Value, json};
use simcore::{Error, ListOptions, SimProvider, SimSnapshot, SimState};

use crate::*;

/// Matches a request whose raw query is exactly `query` (nothing more, nothing less).
fn exact_query(query: &'static str) -> impl Fn(&HttpMockRequest) -> bool + Send + Sync {
    move |req| req.uri().query() == Some(query)
}

fn sim(i: usize, status: &str, name: Option<&str>) -> Value {
    json!({
        "sid": format!("HS{i:032x}"),
        "account_sid": ACCOUNT,
        "unique_name": name,
        "status": status,
        "iccid": format!("898830700001234{i:05}"),
        "date_created": "2015-07-30T20:00:00Z",
        "a_field_added_later": {"nested": [1, 2]},
    })
}

fn meta(url: &str, next: Option<&str>) -> Value {
    json!({"key": "sims", "page_size": 1000, "url": url, "next_page_url": next})
}

/// Every page the stream yields, or the error that ended it.
async fn pages(
    p: &dyn SimProvider,
    options: &ListOptions,
) -> Vec<simcore::Result<Vec<SimSnapshot>>> {
    p.list(options).collect().await
}

#[tokio::test]
async fn two_pages_at_the_largest_page_size_become_snapshots() {
    let server = MockServer::start_async().await;
    let next = server.url("/v1/Sims?PageSize=1000&Page=1&PageToken=PAnext");
    let first = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/Sims")
                .header("authorization", basic())
                .header("user-agent", USER_AGENT)
                .is_true(exact_query("PageSize=1000"));
            then.status(200).json_body(json!({
                "sims": [sim(0, "active", Some("pump 7")), sim(1, "new", None)],
                "meta": meta(&server.url("/v1/Sims?PageSize=1000&Page=0"), Some(&next)),
            }));
        })
        .await;
    let last = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/Sims")
                .header("authorization", basic())
                .is_true(exact_query("PageSize=1000&Page=1&PageToken=PAnext"));
            // The last page is short, and says so with a null next page.
            then.status(200).json_body(json!({
                "sims": [sim(2, "scheduled", Some(""))],
                "meta": meta(&next, None),
            }));
        })
        .await;
    let client = client(&server);
    let got = pages(&client, &ListOptions::new()).await;
    let got: Vec<Vec<SimSnapshot>> = got.into_iter().map(Result::unwrap).collect();
    let expected = vec![
        vec![
            SimSnapshot::new("supersim", format!("HS{:032x}", 0), SimState::Active)
                .with_iccid("89883070000123400000")
                .with_native_status("active")
                .with_display_name("pump 7")
                .with_alias("pump 7"),
            SimSnapshot::new("supersim", format!("HS{:032x}", 1), SimState::New)
                .with_iccid("89883070000123400001")
                .with_native_status("new"),
        ],
        vec![
            SimSnapshot::new("supersim", format!("HS{:032x}", 2), SimState::Pending)
                .with_iccid("89883070000123400002")
                .with_native_status("scheduled"),
        ],
    ];
    assert_eq!(got, expected);
    assert!(got[0][0].answers_to("pump 7"));
    first.assert_calls_async(1).await;
    last.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_empty_fleet_is_one_empty_page() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/Sims")
                .is_true(exact_query("PageSize=1000"));
            then.status(200)
                .json_body(json!({"sims": [], "meta": meta("x", None)}));
        })
        .await;
    let got = pages(&client(&server), &ListOptions::new()).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].as_ref().unwrap(), &Vec::<SimSnapshot>::new());
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_page_without_paging_metadata_is_the_last() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/Sims")
                .is_true(exact_query("PageSize=2"));
            then.status(200)
                .json_body(json!({"sims": [sim(0, "inactive", None), sim(1, "ready", None)]}));
        })
        .await;
    let got = pages(&client(&server), &ListOptions::new().page_size(2)).await;
    let states: Vec<Vec<SimState>> = got
        .into_iter()
        .map(|p| p.unwrap().into_iter().map(|s| s.state).collect())
        .collect();
    assert_eq!(states, [[SimState::Inactive, SimState::Ready]]);
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn an_error_mid_stream_is_yielded_and_ends_it() {
    let server = MockServer::start_async().await;
    let next = server.url("/v1/Sims?PageSize=1000&Page=1&PageToken=PAx");
    let first = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/Sims")
                .is_true(exact_query("PageSize=1000"));
            then.status(200).json_body(json!({
                "sims": [sim(0, "active", None)],
                "meta": meta("x", Some(&next)),
            }));
        })
        .await;
    let broken = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/v1/Sims")
                .query_param("PageToken", "PAx");
            then.status(401).body(fixture("error_401_20003.json"));
        })
        .await;
    let got = pages(&client(&server), &ListOptions::new()).await;
    assert_eq!(got.len(), 2, "a page, then the error, then nothing");
    assert_eq!(got[0].as_ref().unwrap().len(), 1);
    let err = got[1].as_ref().unwrap_err();
    assert_eq!(
        (err.status(), err.api().and_then(|a| a.code)),
        (Some(401), Some(20003))
    );
    first.assert_calls_async(1).await;
    broken.assert_calls_async(1).await;

    // A page that is not Twilio's (a SIM without its SID) is a decode error, and ends it too.
    let server = MockServer::start_async().await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/Sims");
            then.status(200).json_body(
                json!({"sims": [{"status": "active"}], "meta": meta("x", Some("/v1/Sims?Page=1"))}),
            );
        })
        .await;
    let got = pages(&client(&server), &ListOptions::new()).await;
    assert_eq!(got.len(), 1);
    assert!(
        matches!(got[0], Err(Error::Decode { status: 200, .. })),
        "{got:?}"
    );
}

#[tokio::test]
async fn a_page_size_over_twilios_largest_is_refused_before_sending() {
    let server = MockServer::start_async().await;
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200).json_body(json!({"sims": []}));
        })
        .await;
    let got = pages(&client(&server), &ListOptions::new().page_size(1001)).await;
    match got.as_slice() {
        [Err(Error::Invalid(e))] => assert_eq!(e.field(), "page_size"),
        other => panic!("{other:?}"),
    }
    anything.assert_calls_async(0).await;
}
