//! EdgeIQ's session lifetimes against the sandbox on a frozen virtual clock: a session lasts
//! 4 hours by default, or until the login's `token_expiry`, counted on the sandbox's clock; a
//! permanent API token never expires. Every answer is read over HTTP, through the client or
//! plain reqwest; time moves only when the test moves it.

use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use edgeiq_client::sandbox::{
    Clock, DEFAULT_SESSION, Sandbox, SandboxAdmin, SandboxOptions, SimSeed,
};
use proptest::prelude::*;
use serde_json::{Value, json};

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2025, 3, 14, 9, 30, 0).unwrap()
}

async fn sandbox_with(clock: &Clock, session_lifetime: Duration) -> Sandbox {
    Sandbox::start_with(SandboxOptions {
        clock: clock.clone(),
        session_lifetime,
        ..SandboxOptions::default()
    })
    .await
    .unwrap()
}

/// A login as EdgeIQ's guide shows it: the answer's status and body.
async fn login(sandbox: &Sandbox, token_expiry: Option<String>) -> (u16, Value) {
    let user = sandbox.user();
    let mut body = json!({"email": user.email, "password": user.password});
    if let Some(t) = token_expiry {
        body["token_expiry"] = json!(t);
    }
    let r = reqwest::Client::new()
        .post(format!("{}/user/authenticate", sandbox.base_url()))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_str(&r.text().await.unwrap()).unwrap(),
    )
}

/// `GET /sims/{id}` with `authorization`: the status and body.
async fn get(sandbox: &Sandbox, id: &str, authorization: &str) -> (u16, Value) {
    let r = reqwest::Client::new()
        .get(format!("{}/sims/{id}", sandbox.base_url()))
        .header("authorization", authorization)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (
        status,
        serde_json::from_str(&r.text().await.unwrap()).unwrap(),
    )
}

fn unauthorized() -> (u16, Value) {
    (401, json!({"message": "Unauthorized"}))
}

#[tokio::test]
async fn a_session_ends_four_hours_on_the_clock_and_the_client_logs_in_again() {
    assert_eq!(DEFAULT_SESSION, Duration::from_secs(4 * 3600));
    let clock = Clock::frozen_at(start_time());
    let sandbox = sandbox_with(&clock, DEFAULT_SESSION).await;
    let id = sandbox.seed_sim(SimSeed::new());
    let (status, answer) = login(&sandbox, None).await;
    assert_eq!(status, 200);
    let token = answer["session_token"].as_str().unwrap().to_owned();
    let user = sandbox.user().clone();
    let client = sandbox
        .builder_without_credentials()
        .login(&user.email, user.password.clone(), None)
        .await
        .unwrap();
    client.get_sim(&id).await.unwrap();
    assert_eq!(sandbox.live_sessions(), 2);

    clock
        .advance(DEFAULT_SESSION - Duration::from_secs(1))
        .unwrap();
    assert_eq!(get(&sandbox, &id, &token).await.0, 200);
    clock.advance(Duration::from_secs(1)).unwrap();
    assert_eq!(get(&sandbox, &id, &token).await, unauthorized());
    assert_eq!(sandbox.live_sessions(), 0);

    // The client's session ended with it: refused once, it logs in again and the call succeeds.
    let logins = |s: &Sandbox| {
        s.requests()
            .iter()
            .filter(|r| r.path.ends_with("/user/authenticate"))
            .count()
    };
    assert_eq!(logins(&sandbox), 2);
    client.get_sim(&id).await.unwrap();
    assert_eq!(logins(&sandbox), 3);

    // The permanent API token never expires.
    clock.advance_months(12).unwrap();
    assert_eq!(get(&sandbox, &id, sandbox.api_token()).await.0, 200);
}

#[tokio::test]
async fn a_login_s_token_expiry_sets_the_length_counted_on_the_clock() {
    let clock = Clock::frozen_at(start_time());
    let sandbox = sandbox_with(&clock, DEFAULT_SESSION).await;
    let id = sandbox.seed_sim(SimSeed::new());
    // Two hours from the caller's (real) time, as the client computes it.
    let asked =
        (Utc::now() + chrono::TimeDelta::hours(2)).to_rfc3339_opts(SecondsFormat::Millis, true);
    let (status, answer) = login(&sandbox, Some(asked.clone())).await;
    assert_eq!(status, 200);
    assert_eq!(answer["session_expires_at"], asked.as_str());
    let token = answer["session_token"].as_str().unwrap().to_owned();

    clock.advance(Duration::from_secs(2 * 3600 - 60)).unwrap();
    assert_eq!(get(&sandbox, &id, &token).await.0, 200);
    clock.advance(Duration::from_secs(60)).unwrap();
    assert_eq!(get(&sandbox, &id, &token).await, unauthorized());

    // More than a week ahead is refused, whatever the sandbox's clock says.
    let too_far =
        (Utc::now() + chrono::TimeDelta::days(8)).to_rfc3339_opts(SecondsFormat::Millis, true);
    assert_eq!(login(&sandbox, Some(too_far)).await.0, 400);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// For any session lifetime up to a week and any time moved in one or two steps, the
    /// session's token is taken iff less than its lifetime has passed on the clock.
    #[test]
    fn a_session_is_live_iff_less_than_its_lifetime_passed(
        lifetime in 1u64..(7 * 86_400),
        first in 0u64..(4 * 86_400),
        second in 0u64..(4 * 86_400),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let clock = Clock::frozen_at(start_time());
            let sandbox = sandbox_with(&clock, Duration::from_secs(lifetime)).await;
            let id = sandbox.seed_sim(SimSeed::new());
            let (_, answer) = login(&sandbox, None).await;
            let token = answer["session_token"].as_str().unwrap().to_owned();
            clock.advance(Duration::from_secs(first)).unwrap();
            clock.advance(Duration::from_secs(second)).unwrap();
            let live = first + second < lifetime;
            prop_assert_eq!(get(&sandbox, &id, &token).await.0, if live { 200 } else { 401 });
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn the_state_shows_records_and_session_ends_without_credentials() {
    let clock = Clock::frozen_at(start_time());
    let sandbox = sandbox_with(&clock, Duration::from_secs(3600)).await;
    let id = sandbox.seed_sim(SimSeed::new().status("active"));
    let (_, answer) = login(&sandbox, None).await;
    let token = answer["session_token"].as_str().unwrap().to_owned();

    let state = SandboxAdmin::state_json(&sandbox);
    assert_eq!(SandboxAdmin::provider(&sandbox), "edgeiq");
    assert_eq!(state["clock"]["now"], "2025-03-14T09:30:00Z");
    assert_eq!(state["sims"][0]["_id"], id.as_str());
    assert_eq!(state["sims"][0]["created_at"], "2025-03-14T09:30:00.000Z");
    assert_eq!(state["users"], json!(["sandbox@example.com"]));
    assert_eq!(
        state["sessions"],
        json!({"live": 1, "ends": ["2025-03-14T10:30:00.000Z"]})
    );
    let text = state.to_string();
    assert!(!text.contains(&token));
    assert!(!text.contains(&sandbox.user().password));
    assert!(!text.contains(sandbox.api_token()));

    clock.advance(Duration::from_secs(3600)).unwrap();
    assert_eq!(
        sandbox.state_json()["sessions"],
        json!({"live": 0, "ends": []})
    );
}
