//! Reading and deleting SIMs, the `SimProvider` view, and the sentinel-secret checks.

mod common;

use std::sync::Arc;

use chrono::{TimeZone, Utc};
use common::*;
use emnify_client::{Client, Sim, SimStatus};
use httpmock::prelude::*;
use serde_json::json;
use simcore::{Applied, DisplayName, Error, SimChange, SimProvider, SimState};

#[test]
fn fixtures_shaped_like_the_recorded_responses_parse() {
    let sim: Sim = serde_json::from_str(&fixture("sim_suspended.json")).unwrap();
    assert_eq!(sim.id, 312);
    assert_eq!(sim.iccid.as_deref(), Some("8988303000000004411"));
    assert_eq!(sim.iccid_with_luhn, None);
    assert_eq!(sim.status, Some(SimStatus::Suspended));
    assert_eq!(
        sim.production_date,
        Some(Utc.with_ymd_and_hms(2019, 5, 14, 8, 2, 11).unwrap())
    );
    assert_eq!(
        sim.activation_date,
        Some(Utc.with_ymd_and_hms(2023, 1, 9, 16, 45, 3).unwrap())
    );
    let customer = sim.customer_org.as_ref().unwrap();
    assert_eq!(
        (customer.id, customer.name.as_deref()),
        (52001, Some("Pump Works Ltd"))
    );
    assert_eq!(
        customer.country.as_ref().unwrap().name.as_deref(),
        Some("Germany")
    );
    assert_eq!(sim.issuer_org.as_ref().unwrap().id, 3);
    assert_eq!(sim.reseller_org, None);
    assert_eq!(sim.endpoint, None);
    assert_eq!(sim.imsi.as_deref(), Some("295050999911411"));
    assert_eq!(sim.msisdn.as_deref(), Some("423663999911411"));
    let model = sim.model.as_ref().unwrap();
    assert_eq!(model.description.as_deref(), Some("Classic"));
    assert_eq!(model.memory_size, Some(128));
    assert_eq!(
        model.manufacturer.as_ref().unwrap().name.as_deref(),
        Some("Bluefish")
    );

    let sim: Sim = serde_json::from_str(&fixture("sim_activated_with_endpoint.json")).unwrap();
    assert_eq!(sim.status, Some(SimStatus::Activated));
    assert_eq!(sim.best_iccid(), Some("89883030000070012345"));
    assert_eq!(sim.eid.as_deref(), Some("89049032000001000000001234567890"));
    assert_eq!(sim.reseller_org.as_ref().unwrap().id, 9100);
    let country = sim.customer_org.as_ref().unwrap().country.as_ref().unwrap();
    assert_eq!(country.country_code.as_deref(), Some("49"));
    assert_eq!(country.mcc.as_deref(), Some("262"));
    assert_eq!(country.iso_code.as_deref(), Some("de"));
    let endpoint = sim.endpoint.as_ref().unwrap();
    assert_eq!(endpoint.id, 11400555);
    assert_eq!(endpoint.name.as_deref(), Some("pump-station-7"));
    assert_eq!(endpoint.imei, None);
    assert_eq!(
        endpoint.last_updated,
        Some(Utc.with_ymd_and_hms(2023, 3, 15, 12, 30, 0).unwrap())
    );
    assert_eq!(endpoint.ip_address.as_deref(), Some("10.192.0.17"));

    let list: Vec<Sim> = serde_json::from_str(&fixture("sim_list.json")).unwrap();
    let statuses: Vec<_> = list.iter().map(|s| s.status.clone()).collect();
    assert_eq!(
        statuses,
        vec![
            Some(SimStatus::Issued),
            Some(SimStatus::FactoryTest),
            Some(SimStatus::Deleted),
            Some(SimStatus::Unknown(6)),
        ]
    );
    assert_eq!(list[0].activation_date, None);
    assert_eq!(list[3].iccid, None);
}

#[tokio::test]
async fn get_sim_reads_the_typed_model() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    mock_app_auth(&server, &token).await;
    let get = server
        .mock_async(|when, then| {
            when.method(GET)
                .path("/api/v1/sim/4400120")
                .header("authorization", bearer(&token))
                .header("user-agent", USER_AGENT);
            then.status(200)
                .header("content-type", "application/json")
                .body(fixture("sim_activated_with_endpoint.json"));
        })
        .await;
    let sim = client(&server).get_sim(4400120).await.unwrap();
    assert_eq!(sim.id, 4400120);
    assert_eq!(sim.status, Some(SimStatus::Activated));
    assert_eq!(get.calls_async().await, 1);
}

#[tokio::test]
async fn get_sim_errors_are_typed() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    mock_app_auth(&server, &token).await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/sim/999");
            then.status(404)
                .header("content-type", "application/json")
                .body(fixture("error_404_not_found.json"));
        })
        .await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/sim/5");
            then.status(200).body("<html>maintenance</html>");
        })
        .await;
    let client = client(&server);
    let err = client.get_sim(999).await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.to_string(),
        "emnify: HTTP 404 (code 1201 NotFound): SIM with Id '999' not found.; retrying will not help"
    );
    let err = client.get_sim(5).await.unwrap_err();
    match err {
        Error::Decode {
            status, snippet, ..
        } => {
            assert_eq!(status, 200);
            assert_eq!(snippet, "<html>maintenance</html>");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn delete_sim_sends_delete_and_reads_refusals() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    mock_app_auth(&server, &token).await;
    let ok = server
        .mock_async(|when, then| {
            when.method(DELETE)
                .path("/api/v1/sim/250")
                .header("authorization", bearer(&token))
                .body("");
            then.status(204);
        })
        .await;
    let refused = server
        .mock_async(|when, then| {
            when.method(DELETE).path("/api/v1/sim/312");
            then.status(403)
                .header("content-type", "application/json")
                .body(fixture("error_403_forbidden.json"));
        })
        .await;
    let client = client(&server);
    client.delete_sim(250).await.unwrap();
    let err = client.delete_sim(312).await.unwrap_err();
    let api = err.api().unwrap();
    assert_eq!((api.status, api.code), (403, Some(1104)));
    assert_eq!(api.message, "Resellers cannot delete SIMs they have sold.");
    assert_eq!(ok.calls_async().await, 1);
    assert_eq!(refused.calls_async().await, 1);
}

#[tokio::test]
async fn the_sim_provider_view() {
    let server = MockServer::start_async().await;
    let token = fresh_jwt("a");
    mock_app_auth(&server, &token).await;
    server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/sim/4400120");
            then.status(200)
                .body(fixture("sim_activated_with_endpoint.json"));
        })
        .await;
    let provider: Arc<dyn SimProvider> = Arc::new(client(&server));
    assert_eq!(provider.name(), "emnify");
    assert!(
        provider
            .lifecycle()
            .allows(&SimState::New, &SimState::Ready)
    );
    assert!(
        !provider
            .lifecycle()
            .allows(&SimState::Active, &SimState::Deleted)
    );

    let snap = provider.fetch("4400120").await.unwrap();
    assert_eq!(snap.provider, "emnify");
    assert_eq!(snap.id, "4400120");
    assert_eq!(snap.state, SimState::Active);
    assert_eq!(snap.iccid.as_deref(), Some("89883030000070012345"));
    assert_eq!(snap.native_status.as_deref(), Some("Activated"));
    assert_eq!(snap.display_name, None);

    for (state, id) in [
        (SimState::Active, 1),
        (SimState::Inactive, 2),
        (SimState::Ready, 4),
    ] {
        let mock = mock_patch(&server, 4400120, &token, json!({"status": {"id": id}})).await;
        let applied = provider
            .apply("4400120", &SimChange::new().state(state.clone()))
            .await
            .unwrap();
        assert_eq!(applied, Applied::Done(None), "{state}");
        assert_eq!(mock.calls_async().await, 1, "{state}");
    }
}

#[tokio::test]
async fn sim_provider_refusals_send_nothing() {
    let server = MockServer::start_async().await;
    let auth = mock_app_auth(&server, &fresh_jwt("a")).await;
    let patch = mock_any_patch(&server, 250).await;
    let provider: Arc<dyn SimProvider> = Arc::new(client(&server));
    let active = SimChange::new().state(SimState::Active);

    let refusals = [
        ("abc", active.clone(), "sim_id"),
        ("", active.clone(), "sim_id"),
        ("-250", active.clone(), "sim_id"),
        ("250", SimChange::new(), "update"),
        ("250", SimChange::new().state(SimState::Deleted), "state"),
        ("250", SimChange::new().state(SimState::New), "state"),
        ("250", SimChange::new().state(SimState::Pending), "state"),
        (
            "250",
            active
                .clone()
                .display_name(DisplayName::parse("pump 7").unwrap()),
            "display_name",
        ),
    ];
    for (id, change, field) in refusals {
        let err = provider.apply(id, &change).await.unwrap_err();
        match &err {
            Error::Invalid(v) => assert_eq!(v.field(), field, "{id} {change:?}"),
            other => panic!("{id} {change:?}: {other:?}"),
        }
    }
    let err = provider
        .apply("250", &SimChange::new().state(SimState::Deleted))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("delete_sim"), "{err}");

    // A known current state is checked against the canonical lifecycle.
    let err = provider
        .apply(
            "250",
            &SimChange::new()
                .state(SimState::Ready)
                .known_state(SimState::Active),
        )
        .await
        .unwrap_err();
    match &err {
        Error::Transition(t) => {
            assert_eq!((t.from.as_str(), t.to.as_str()), ("active", "ready"));
            assert_eq!(t.allowed, vec!["inactive".to_owned()]);
        }
        other => panic!("{other:?}"),
    }
    let err = provider.fetch("25 0").await.unwrap_err();
    assert!(matches!(err, Error::Invalid(_)));

    assert_eq!(patch.calls_async().await, 0);
    assert_eq!(auth.calls_async().await, 0);
}

#[tokio::test]
async fn secrets_never_print() {
    const PW: &str = PASSWORD;
    let server = MockServer::start_async().await;
    let token = fresh_jwt("session");
    mock_app_auth(&server, &token).await;
    let mut shown = Vec::new();

    let builder = Client::builder()
        .application_token(APP_TOKEN)
        .base_url(server.base_url());
    shown.push(format!("{builder:?}"));
    let user_builder = Client::builder().user_credentials(USERNAME, PW);
    shown.push(format!("{user_builder:?}"));
    shown.push(format!("{:?}", user_builder.build().unwrap()));
    let client = builder.retry(fast_retry(2)).build().unwrap();
    shown.push(format!("{client:?}"));

    // A 401 after re-authentication, a 422, and an authentication failure.
    let unauthorized = server
        .mock_async(|when, then| {
            when.method(GET).path("/api/v1/sim/1");
            then.status(401).body(fixture("error_401_gateway.json"));
        })
        .await;
    let err = client.get_sim(1).await.unwrap_err();
    assert!(err.is_unauthorized());
    assert_eq!(unauthorized.calls_async().await, 2);
    shown.push(format!("{err} {err:?}"));
    server
        .mock_async(|when, then| {
            when.method(PATCH).path("/api/v1/sim/2");
            then.status(422).body(fixture("error_422_nested.json"));
        })
        .await;
    let err = client
        .update_sim(2)
        .customer_org(777)
        .send()
        .await
        .unwrap_err();
    shown.push(format!("{err} {err:?}"));
    // The client after authenticating holds a session token: still nothing shows.
    shown.push(format!("{client:?}"));

    let refusing = MockServer::start_async().await;
    refusing
        .mock_async(|when, then| {
            when.method(POST).path("/api/v1/authenticate");
            then.status(401);
        })
        .await;
    for c in [
        Client::builder()
            .application_token(APP_TOKEN)
            .base_url(refusing.base_url())
            .build()
            .unwrap(),
        Client::builder()
            .user_credentials(USERNAME, PW)
            .base_url(refusing.base_url())
            .build()
            .unwrap(),
    ] {
        let err = c.get_sim(1).await.unwrap_err();
        assert!(err.is_unauthorized());
        shown.push(format!("{err} {err:?} {c:?}"));
    }

    let hash = emnify_client::auth::password_sha1_hex(&PW.into());
    let hash = emnify_client::secrecy::ExposeSecret::expose_secret(&hash).to_owned();
    let signature = token.rsplit('.').next().unwrap().to_owned();
    for text in &shown {
        for secret in [
            "SENTINEL",
            APP_TOKEN,
            PW,
            hash.as_str(),
            token.as_str(),
            signature.as_str(),
        ] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
    }
    assert!(shown.iter().any(|t| t.contains("[redacted]")));
}
