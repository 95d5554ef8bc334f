//! The client through the common `SimProvider` interface.

use std::sync::Arc;

use httpmock::Method::{GET, POST};
use httpmock::MockServer;
use simcore::{Applied, DisplayName, Error, SimChange, SimProvider, SimState};

use crate::*;

fn provider(server: &MockServer) -> Arc<dyn SimProvider> {
    Arc::new(client(server))
}

#[tokio::test]
async fn activation_accepted_is_pending() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(SIM_PATH)
                .header("authorization", basic())
                .header("content-type", FORM)
                .body("Status=active");
            then.status(202).body(fixture("update_status_202.json"));
        })
        .await;
    let p = provider(&server);
    assert_eq!(p.name(), "supersim");
    let applied = p
        .apply(
            SIM,
            &SimChange::new()
                .state(SimState::Active)
                .known_state(SimState::New),
        )
        .await
        .unwrap();
    match applied {
        Applied::Pending(Some(snap)) => {
            assert_eq!(snap.provider, "supersim");
            assert_eq!(snap.id, SIM);
            assert_eq!(snap.state, SimState::Pending);
            assert_eq!(snap.native_status.as_deref(), Some("scheduled"));
            assert_eq!(snap.iccid.as_deref(), Some("89883070000123456789"));
        }
        other => panic!("{other:?}"),
    }
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn a_display_name_is_the_unique_name_and_done() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST)
                .path(SIM_PATH)
                .body("UniqueName=MySIM&Status=inactive");
            then.status(200)
                .body(fixture("update_unique_name_200.json"));
        })
        .await;
    let change = SimChange::new()
        .display_name(DisplayName::parse("MySIM").unwrap())
        .state(SimState::Inactive);
    let applied = provider(&server).apply(SIM, &change).await.unwrap();
    match applied {
        Applied::Done(Some(snap)) => {
            assert_eq!(snap.display_name.as_deref(), Some("MySIM"));
            assert_eq!(snap.state, SimState::New);
        }
        other => panic!("{other:?}"),
    }
    mock.assert_calls_async(1).await;
}

#[tokio::test]
async fn refusals_send_nothing() {
    let server = MockServer::start_async().await;
    let anything = server
        .mock_async(|when, then| {
            when.any_request();
            then.status(200)
                .body(fixture("update_unique_name_200.json"));
        })
        .await;
    let p = provider(&server);
    for target in [
        SimState::New,
        SimState::Retired,
        SimState::Deleted,
        SimState::Pending,
    ] {
        match p.apply(SIM, &SimChange::new().state(target.clone())).await {
            Err(Error::Invalid(e)) => {
                assert_eq!(e.field(), "state", "{target}");
                assert_eq!(
                    e.rule(),
                    "a Super SIM can only be set to ready, active or inactive"
                );
            }
            other => panic!("{target}: {other:?}"),
        }
    }
    let change = SimChange::new()
        .state(SimState::Ready)
        .known_state(SimState::Active);
    match p.apply(SIM, &change).await {
        Err(Error::Transition(t)) => {
            assert_eq!((t.from.as_str(), t.to.as_str()), ("active", "ready"));
            assert_eq!(t.allowed, ["inactive"]);
        }
        other => panic!("{other:?}"),
    }
    // Known to be the target already: nothing sent, not an error.
    let change = SimChange::new()
        .state(SimState::Active)
        .known_state(SimState::Active);
    assert_eq!(p.apply(SIM, &change).await.unwrap(), Applied::Unchanged);
    match p.apply(SIM, &SimChange::new()).await {
        Err(Error::Invalid(e)) => assert_eq!(e.field(), "update"),
        other => panic!("{other:?}"),
    }
    match p
        .apply(ACCOUNT, &SimChange::new().state(SimState::Active))
        .await
    {
        Err(Error::Invalid(e)) => assert_eq!(e.field(), "sim"),
        other => panic!("{other:?}"),
    }
    anything.assert_calls_async(0).await;
}

#[tokio::test]
async fn fetch_gives_a_canonical_snapshot() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(GET).path("/v1/Sims/My%20SIM");
            then.status(200).body(fixture("fetch_200.json"));
        })
        .await;
    let p = provider(&server);
    let snap = p.fetch("My SIM").await.unwrap();
    assert_eq!(snap.id, SIM, "the SID Twilio returned");
    assert_eq!(snap.state, SimState::New);
    assert_eq!(snap.native_status.as_deref(), Some("new"));
    assert_eq!(snap.display_name.as_deref(), Some("My SIM"));
    mock.assert_calls_async(1).await;
    let lifecycle = p.lifecycle();
    assert!(lifecycle.allows(&SimState::New, &SimState::Ready));
    assert!(!lifecycle.allows(&SimState::Active, &SimState::Ready));
}

#[tokio::test]
async fn an_unknown_known_state_is_left_to_twilio() {
    let server = MockServer::start_async().await;
    let mock = server
        .mock_async(|when, then| {
            when.method(POST).path(SIM_PATH).body("Status=inactive");
            then.status(400)
                .header("content-type", "application/json")
                .body(fixture("error_400_83010.json"));
        })
        .await;
    let change = SimChange::new()
        .state(SimState::Inactive)
        .known_state(SimState::Unknown("suspended".into()));
    let err = provider(&server).apply(SIM, &change).await.unwrap_err();
    assert_eq!(err.api().unwrap().code, Some(83010));
    mock.assert_calls_async(1).await;
}
