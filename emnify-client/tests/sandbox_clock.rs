//! emnify's rules in time and usage, against the sandbox on a frozen virtual clock: a Factory
//! Test SIM's test volume, the `authenticate` limit of 100 calls per 5 minutes per client IP,
//! the lockout after 3 refusals, and token expiry. Every answer is read over HTTP, through the
//! client or plain reqwest; time moves only when the test moves it.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use emnify_client::SimStatus;
use emnify_client::sandbox::{
    AUTHENTICATE_LIMIT, AuthenticateLimit, Clock, DEFAULT_LOCKOUT, DEFAULT_TOKEN_LIFETIME,
    FACTORY_TEST_DATA_KB, FACTORY_TEST_SMS, LOCKOUT_AFTER, Sandbox, SandboxAdmin, SandboxOptions,
    SimSeed, SimUsage,
};
use proptest::prelude::*;
use serde_json::{Value, json};

const HOME: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const NEIGHBOUR: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 9, 30, 0).unwrap()
}

async fn sandbox_on(clock: &Clock) -> Sandbox {
    Sandbox::start_with(SandboxOptions {
        clock: clock.clone(),
        ..SandboxOptions::default()
    })
    .await
    .unwrap()
}

/// A plain HTTP client whose connections come from `ip` (any `127.0.0.0/8` address is loopback).
fn http_from(ip: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(ip)
        .build()
        .unwrap()
}

/// `POST /api/v1/authenticate` with `body`: the status and the body as JSON (`Null` if empty).
async fn authenticate(sandbox: &Sandbox, http: &reqwest::Client, body: Value) -> (u16, Value) {
    let r = http
        .post(format!("{}/api/v1/authenticate", sandbox.base_url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    assert!(
        r.headers().get("retry-after").is_none(),
        "emnify sends none"
    );
    let text = r.text().await.unwrap();
    let json = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap()
    };
    (status, json)
}

fn right(sandbox: &Sandbox) -> Value {
    json!({"application_token": sandbox.application_token()})
}

fn wrong() -> Value {
    json!({"application_token": "not-the-token"})
}

fn rate_limited() -> Value {
    json!({"error_code": 1105, "error_token": "TooManyRequests", "message": "Rate limit exceeded"})
}

fn locked_out() -> Value {
    json!({
        "error_code": 1105,
        "error_token": "TooManyRequests",
        "message": "Too many failed login attempts, try again later",
    })
}

#[tokio::test]
async fn a_factory_test_sim_is_activated_by_its_test_volume_and_never_by_time() {
    let clock = Clock::frozen_at(start_time());
    let sandbox = sandbox_on(&clock).await;
    let client = sandbox.client();
    let by_data = sandbox.seed_sim(SimSeed::new().status(4));
    let by_sms = sandbox.seed_sim(SimSeed::new().status(4));
    let issued = sandbox.seed_sim(SimSeed::new());

    // A year on the clock ends no Factory Test: emnify names a volume, no period.
    clock.advance_months(12).unwrap();
    let sim = client.get_sim(by_data).await.unwrap();
    assert_eq!(sim.status, Some(SimStatus::FactoryTest));
    assert_eq!(sim.activation_date, None);

    // One kilobyte short: still in Factory Test.
    sandbox.record_usage(by_data, SimUsage::new(FACTORY_TEST_DATA_KB - 1, 0));
    assert_eq!(
        client.get_sim(by_data).await.unwrap().status,
        Some(SimStatus::FactoryTest)
    );
    clock.advance(Duration::from_secs(3600)).unwrap();
    let sim = sandbox.record_usage(by_data, SimUsage::new(1, 0)).unwrap();
    assert_eq!(sim.status, 1);
    let sim = client.get_sim(by_data).await.unwrap();
    assert_eq!(sim.status, Some(SimStatus::Activated));
    let activated = Utc.with_ymd_and_hms(2026, 3, 14, 10, 30, 0).unwrap();
    assert_eq!(sim.activation_date, Some(activated));

    // Ten SMS do it too; nine do not.
    sandbox.record_usage(by_sms, SimUsage::new(0, FACTORY_TEST_SMS - 1));
    assert_eq!(sandbox.sim(by_sms).unwrap().status, 4);
    sandbox.record_usage(by_sms, SimUsage::new(0, 1));
    assert_eq!(
        client.get_sim(by_sms).await.unwrap().status,
        Some(SimStatus::Activated)
    );

    // An Issued SIM is not in Factory Test: usage changes nothing.
    sandbox.record_usage(issued, SimUsage::new(10_000, 100));
    assert_eq!(
        client.get_sim(issued).await.unwrap().status,
        Some(SimStatus::Issued)
    );
    assert_eq!(sandbox.usage(issued), SimUsage::new(10_000, 100));
    // An unknown SIM is `None`.
    assert_eq!(sandbox.record_usage(1, SimUsage::new(1, 1)), None);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// For any usage recorded in any steps, a Factory Test SIM is Activated exactly from the
    /// step at which its total reaches 100 KB or 10 SMS.
    #[test]
    fn factory_test_ends_exactly_at_the_documented_volume(
        steps in proptest::collection::vec((0u64..60, 0u32..5), 1..12),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let sandbox = Sandbox::start().await.unwrap();
            let id = sandbox.seed_sim(SimSeed::new().status(4));
            let (mut kb, mut sms) = (0u64, 0u32);
            for (step_kb, step_sms) in steps {
                kb += step_kb;
                sms += step_sms;
                let sim = sandbox.record_usage(id, SimUsage::new(step_kb, step_sms)).unwrap();
                let reached = kb >= FACTORY_TEST_DATA_KB || sms >= FACTORY_TEST_SMS;
                prop_assert_eq!(sim.status, if reached { 1 } else { 4 }, "{} KB, {} SMS", kb, sms);
                prop_assert_eq!(sim.activation_date.is_some(), reached);
            }
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn authenticate_takes_100_calls_per_5_minutes_per_client_ip_on_the_clock() {
    assert_eq!(
        AUTHENTICATE_LIMIT,
        AuthenticateLimit {
            calls: 100,
            per: Duration::from_secs(300),
        }
    );
    let clock = Clock::frozen_at(start_time());
    let sandbox = sandbox_on(&clock).await;
    let home = http_from(HOME);
    for _ in 0..100 {
        let (status, body) = authenticate(&sandbox, &home, right(&sandbox)).await;
        assert_eq!(status, 200);
        assert!(body["auth_token"].is_string());
    }
    assert_eq!(sandbox.authenticate_window(HOME), 100);
    // The 101st call in the window: emnify's 429, and it is not counted.
    assert_eq!(
        authenticate(&sandbox, &home, right(&sandbox)).await,
        (429, rate_limited())
    );
    assert_eq!(sandbox.authenticate_window(HOME), 100);
    // Another client IP has its own window.
    let neighbour = http_from(NEIGHBOUR);
    assert_eq!(
        authenticate(&sandbox, &neighbour, right(&sandbox)).await.0,
        200
    );
    assert_eq!(sandbox.authenticate_window(NEIGHBOUR), 1);
    // A second short of 5 minutes: still refused; at 5 minutes the window is empty.
    clock.advance(Duration::from_secs(299)).unwrap();
    assert_eq!(
        authenticate(&sandbox, &home, right(&sandbox)).await,
        (429, rate_limited())
    );
    clock.advance(Duration::from_secs(1)).unwrap();
    assert_eq!(sandbox.authenticate_window(HOME), 0);
    assert_eq!(authenticate(&sandbox, &home, right(&sandbox)).await.0, 200);
    // Every call reached the path, the two refused ones too.
    assert_eq!(sandbox.authenticate_calls(), 104);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// For any limit, any number of calls made at one moment and any time then passed, the next
    /// call is let through iff fewer calls than the limit were made, or the window has passed.
    #[test]
    fn the_window_frees_exactly_when_it_has_passed(
        calls in 1u32..8,
        per_secs in 1u64..900,
        made in 0u32..12,
        waited_secs in 0u64..1200,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let clock = Clock::frozen_at(start_time());
            let sandbox = Sandbox::start_with(SandboxOptions {
                clock: clock.clone(),
                authenticate_limit: Some(AuthenticateLimit { calls, per: Duration::from_secs(per_secs) }),
                ..SandboxOptions::default()
            })
            .await
            .unwrap();
            let http = http_from(HOME);
            for i in 0..made {
                let (status, _) = authenticate(&sandbox, &http, right(&sandbox)).await;
                prop_assert_eq!(status, if i < calls { 200 } else { 429 });
            }
            clock.advance(Duration::from_secs(waited_secs)).unwrap();
            let let_through = made < calls || waited_secs >= per_secs;
            let (status, _) = authenticate(&sandbox, &http, right(&sandbox)).await;
            prop_assert_eq!(status, if let_through { 200 } else { 429 });
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn three_refusals_lock_the_client_ip_out_for_five_minutes_on_the_clock() {
    assert_eq!(LOCKOUT_AFTER, 3);
    assert_eq!(DEFAULT_LOCKOUT, Duration::from_secs(300));
    let clock = Clock::frozen_at(start_time());
    let sandbox = sandbox_on(&clock).await;
    let home = http_from(HOME);
    assert_eq!(
        authenticate(&sandbox, &home, wrong()).await,
        (401, Value::Null)
    );
    assert_eq!(
        authenticate(&sandbox, &home, wrong()).await,
        (401, Value::Null)
    );
    assert_eq!(
        authenticate(&sandbox, &home, wrong()).await,
        (401, locked_out())
    );
    let until = start_time() + chrono::TimeDelta::minutes(5);
    assert_eq!(sandbox.locked_out_until(HOME), Some(until));
    assert_eq!(sandbox.locked_out_until(NEIGHBOUR), None);
    // Locked: the right token is refused too, from that IP only.
    assert_eq!(
        authenticate(&sandbox, &home, right(&sandbox)).await,
        (401, locked_out())
    );
    assert_eq!(
        authenticate(&sandbox, &http_from(NEIGHBOUR), right(&sandbox))
            .await
            .0,
        200
    );
    // Through the client, the lockout is emnify's typed error.
    let id = sandbox.seed_sim(SimSeed::new());
    let e = sandbox.client().get_sim(id).await.unwrap_err();
    assert!(emnify_client::errors::is_locked_out(&e), "{e}");

    let state = sandbox.state_json();
    assert_eq!(
        state["authentication"]["locked_out_until"],
        json!({"127.0.0.1": "2025-03-14T09:35:00.000+0000"})
    );

    clock.advance(Duration::from_secs(299)).unwrap();
    assert_eq!(
        authenticate(&sandbox, &home, right(&sandbox)).await,
        (401, locked_out())
    );
    clock.advance(Duration::from_secs(1)).unwrap();
    assert!(!sandbox.is_locked_out());
    assert_eq!(authenticate(&sandbox, &home, right(&sandbox)).await.0, 200);
    // The count starts again: two refusals do not lock.
    authenticate(&sandbox, &home, wrong()).await;
    authenticate(&sandbox, &home, wrong()).await;
    assert!(!sandbox.is_locked_out());
}

#[tokio::test]
async fn a_token_expires_on_the_clock_and_the_client_authenticates_once_more() {
    let clock = Clock::frozen_at(start_time());
    let sandbox = sandbox_on(&clock).await;
    let id = sandbox.seed_sim(SimSeed::new());
    let client = sandbox.client();
    client.get_sim(id).await.unwrap();
    assert_eq!(sandbox.authenticate_calls(), 1);
    let token = sandbox.requests()[1]
        .header("authorization")
        .unwrap()
        .to_owned();

    // A minute short of emnify's 240 minutes the token is still taken.
    clock
        .advance(DEFAULT_TOKEN_LIFETIME - Duration::from_secs(60))
        .unwrap();
    client.get_sim(id).await.unwrap();
    assert_eq!(sandbox.authenticate_calls(), 1);

    clock.advance(Duration::from_secs(60)).unwrap();
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/sim/{id}", sandbox.base_url()))
        .header("authorization", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(
        serde_json::from_str::<Value>(&r.text().await.unwrap()).unwrap(),
        json!({"message": "token is expired"})
    );
    // The client's copy says it is fresh (its `exp` is on the real clock); the 401 makes it
    // authenticate once more, and the call goes through.
    client.get_sim(id).await.unwrap();
    assert_eq!(sandbox.authenticate_calls(), 2);
}

#[tokio::test]
async fn the_state_shows_sims_usage_and_authentication_without_credentials() {
    let clock = Clock::frozen_at(start_time());
    let sandbox = sandbox_on(&clock).await;
    let id = sandbox.seed_sim(SimSeed::new().status(4).iccid("8988303000000000129"));
    assert_eq!(sandbox.find_sim("89883030000000001294"), Some(id));
    sandbox.record_usage(id, SimUsage::new(30, 2));
    sandbox.client().get_sim(id).await.unwrap();
    authenticate(&sandbox, &http_from(HOME), wrong()).await;

    let state = SandboxAdmin::state_json(&sandbox);
    assert_eq!(SandboxAdmin::provider(&sandbox), "emnify");
    assert_eq!(state["clock"]["now"], "2025-03-14T09:30:00Z");
    let sim = &state["sims"][0];
    assert_eq!(sim["id"], id);
    assert_eq!(
        sim["status"],
        json!({"id": 4, "description": "Factory Test"})
    );
    assert_eq!(
        sim["usage"],
        json!({"data_kb": 30, "sms": 2, "in_factory_test": {"data_kb": 30, "sms": 2}})
    );
    let auth = &state["authentication"];
    assert_eq!(auth["calls"], 2);
    assert_eq!(auth["live_sessions"], 1);
    assert_eq!(auth["refusals_in_a_row"], json!({"127.0.0.1": 1}));
    assert_eq!(auth["calls_in_window"], json!({"127.0.0.1": 2}));
    assert_eq!(auth["limit"], json!({"calls": 100, "per_seconds": 300}));
    let text = state.to_string();
    assert!(!text.contains(&sandbox.application_token()));
    let token = sandbox.requests()[1].header("authorization").unwrap()[7..].to_owned();
    assert!(!text.contains(&token));
}
