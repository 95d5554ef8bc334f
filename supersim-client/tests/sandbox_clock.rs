//! Twilio's rule for a SIM left `ready` and KORE's token expiry, against the sandbox on a frozen
//! virtual clock: a `ready` SIM is `active` exactly three calendar months after it became
//! `ready`, or after 250 KB of data or five SMS commands; a KORE token is refused once its
//! lifetime has passed on the clock. Every state is read over HTTP through the client; time
//! moves only when the test moves it.

use std::time::Duration;

use chrono::{DateTime, Months, TimeDelta, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use simcore::secrecy::ExposeSecret as _;
use supersim_client::sandbox::{
    Clock, READY_DATA_KB, READY_MONTHS, READY_SMS_COMMANDS, Sandbox, SandboxAdmin, SandboxOptions,
    SimSeed, SimStatus, SimUsage,
};
use supersim_client::{SettableStatus, Status};

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

async fn sandbox_on(clock: &Clock) -> Sandbox {
    Sandbox::start_with(SandboxOptions::new().hold_scheduled().clock(clock.clone()))
        .await
        .unwrap()
}

/// The SIM's status and `date_updated`, read through the client.
async fn read(sandbox: &Sandbox, sid: &str) -> (Status, DateTime<Utc>) {
    let sim = sandbox.client().get_sim(sid).await.unwrap();
    (sim.status.unwrap(), sim.date_updated.unwrap())
}

#[tokio::test]
async fn a_ready_sim_is_active_three_calendar_months_after_it_became_ready() {
    assert_eq!(READY_MONTHS, 3);
    let start = at(2025, 1, 14, 9);
    let clock = Clock::frozen_at(start);
    let sandbox = sandbox_on(&clock).await;
    let ready = sandbox.seed_sim(SimSeed::new().status(SimStatus::Ready));
    let new = sandbox.seed_sim(SimSeed::new());
    let left_ready = sandbox.seed_sim(SimSeed::new().status(SimStatus::Ready));

    // A month on, `new` is made ready through an update (applied when the test says).
    clock.advance_months(1).unwrap();
    let client = sandbox.client();
    client
        .update_sim(&new)
        .status(SettableStatus::Ready)
        .send()
        .await
        .unwrap();
    assert_eq!(sandbox.complete_scheduled().await, 1);
    client
        .update_sim(&left_ready)
        .status(SettableStatus::Inactive)
        .send()
        .await
        .unwrap();
    sandbox.complete_scheduled().await;
    assert_eq!(
        read(&sandbox, &new).await,
        (Status::Ready, at(2025, 2, 14, 9))
    );

    // A second short of three months: still ready.
    clock
        .advance_to(at(2025, 4, 14, 9) - TimeDelta::seconds(1))
        .unwrap();
    assert_eq!(read(&sandbox, &ready).await, (Status::Ready, start));
    clock.advance(Duration::from_secs(1)).unwrap();
    assert_eq!(
        read(&sandbox, &ready).await,
        (Status::Active, at(2025, 4, 14, 9))
    );

    // A jump far past the other SIM's three months: `date_updated` is when it became active.
    clock.advance_to(at(2025, 8, 1, 0)).unwrap();
    assert_eq!(
        read(&sandbox, &new).await,
        (Status::Active, at(2025, 5, 14, 9))
    );
    // A SIM that left `ready` is not touched by the rule.
    assert_eq!(read(&sandbox, &left_ready).await.0, Status::Inactive);
    // No callback was called for a change the SIM made by itself.
    assert!(sandbox.callbacks().is_empty());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// For any number of calendar months advanced, from any day of the year, a `ready` SIM is
    /// `active` iff at least three months passed.
    #[test]
    fn ready_is_active_iff_three_months_passed(months in 0u32..10, day in 0u32..365) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let start = at(2025, 1, 1, 12) + TimeDelta::days(i64::from(day));
            let clock = Clock::frozen_at(start);
            let sandbox = sandbox_on(&clock).await;
            let sid = sandbox.seed_sim(SimSeed::new().status(SimStatus::Ready));
            clock.advance_months(months).unwrap();
            let (status, updated) = read(&sandbox, &sid).await;
            if months >= READY_MONTHS {
                prop_assert_eq!(status, Status::Active);
                prop_assert_eq!(updated, start.checked_add_months(Months::new(READY_MONTHS)).unwrap());
            } else {
                prop_assert_eq!(status, Status::Ready);
                prop_assert_eq!(updated, start);
            }
            Ok(())
        })?;
    }

    /// For any time advanced in seconds, in one move or two, a `ready` SIM is `active` iff the
    /// clock reached the day three calendar months later.
    #[test]
    fn ready_is_active_iff_the_clock_reached_three_months(
        first in 0i64..(130 * 86_400),
        second in 0i64..(30 * 86_400),
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let start = at(2025, 11, 30, 18);
            let due = start.checked_add_months(Months::new(3)).unwrap();
            prop_assert_eq!(due, at(2026, 2, 28, 18));
            let clock = Clock::frozen_at(start);
            let sandbox = sandbox_on(&clock).await;
            let sid = sandbox.seed_sim(SimSeed::new().status(SimStatus::Ready));
            clock.advance(Duration::from_secs(first as u64)).unwrap();
            clock.advance(Duration::from_secs(second as u64)).unwrap();
            let now = start + TimeDelta::seconds(first + second);
            let (status, _) = read(&sandbox, &sid).await;
            prop_assert_eq!(status == Status::Active, now >= due, "now {}", now);
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn a_ready_sim_is_active_after_250_kb_or_five_sms_commands() {
    let clock = Clock::frozen_at(at(2025, 6, 1, 0));
    let sandbox = sandbox_on(&clock).await;
    let by_data = sandbox.seed_sim(SimSeed::new().status(SimStatus::Ready));
    let by_sms = sandbox.seed_sim(SimSeed::new().status(SimStatus::Ready));
    clock.advance(Duration::from_secs(3600)).unwrap();

    sandbox.record_usage(&by_data, SimUsage::new(READY_DATA_KB - 1, 0));
    assert_eq!(read(&sandbox, &by_data).await.0, Status::Ready);
    sandbox.record_usage(&by_data, SimUsage::new(1, 0));
    assert_eq!(
        read(&sandbox, &by_data).await,
        (Status::Active, at(2025, 6, 1, 1))
    );

    sandbox.record_usage(&by_sms, SimUsage::new(0, READY_SMS_COMMANDS - 1));
    assert_eq!(read(&sandbox, &by_sms).await.0, Status::Ready);
    sandbox.record_usage(&by_sms, SimUsage::new(0, 1));
    assert_eq!(read(&sandbox, &by_sms).await.0, Status::Active);
    assert_eq!(
        sandbox.sim(&by_sms).unwrap().usage,
        SimUsage::new(0, READY_SMS_COMMANDS)
    );
    assert!(
        sandbox
            .record_usage("HS-none", SimUsage::new(1, 1))
            .is_none()
    );
}

/// A token asked for as KORE's spec says: the token and its `expires_in`.
async fn kore_token(sandbox: &Sandbox) -> (String, u64) {
    let secret = sandbox.client_secret();
    let body = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("grant_type", "client_credentials")
        .append_pair("client_id", sandbox.client_id())
        .append_pair("client_secret", secret.expose_secret())
        .finish();
    let r = reqwest::Client::new()
        .post(sandbox.token_url())
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let answer: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    (
        answer["access_token"].as_str().unwrap().to_owned(),
        answer["expires_in"].as_u64().unwrap(),
    )
}

#[tokio::test]
async fn a_kore_token_is_refused_once_its_lifetime_passed_on_the_clock() {
    let clock = Clock::frozen_at(at(2025, 6, 1, 0));
    let options = SandboxOptions::kore()
        .token_lifetime(Duration::from_secs(3600))
        .clock(clock.clone());
    let sandbox = Sandbox::start_with(options).await.unwrap();
    let sid = sandbox.seed_sim(SimSeed::new());
    let (token, expires_in) = kore_token(&sandbox).await;
    assert_eq!(expires_in, 3600);
    let client = sandbox.client();
    client.get_sim(&sid).await.unwrap();
    assert_eq!(sandbox.token_requests(), 2);

    let get = |token: String| {
        let url = format!("{}/v1/Sims/{sid}", sandbox.base_url());
        async move {
            let r = reqwest::Client::new()
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
            (status, body)
        }
    };
    clock.advance(Duration::from_secs(3599)).unwrap();
    assert_eq!(get(token.clone()).await.0, 200);
    client.get_sim(&sid).await.unwrap();
    assert_eq!(
        sandbox.token_requests(),
        2,
        "the client's token still serves"
    );

    clock.advance(Duration::from_secs(1)).unwrap();
    assert_eq!(
        get(token).await,
        (
            401,
            json!({
                "code": 20003,
                "message": "Authenticate",
                "more_info": "https://www.twilio.com/docs/errors/20003",
                "status": 401,
            })
        )
    );
    // The client's token was refused too: it fetched a new one, once, and the call went through.
    client.get_sim(&sid).await.unwrap();
    assert_eq!(sandbox.token_requests(), 3);
}

#[tokio::test]
async fn the_state_shows_each_sims_time_rule_and_no_credential() {
    let start = at(2025, 1, 14, 9);
    let clock = Clock::frozen_at(start);
    let sandbox = Sandbox::start_with(SandboxOptions::kore().clock(clock.clone()))
        .await
        .unwrap();
    let sid = sandbox.seed_sim(SimSeed::new().status(SimStatus::Ready));
    sandbox.record_usage(&sid, SimUsage::new(100, 1));
    sandbox.client().get_sim(&sid).await.unwrap();

    let state = SandboxAdmin::state_json(&sandbox);
    assert_eq!(SandboxAdmin::provider(&sandbox), "supersim");
    assert_eq!(state["dialect"], "Kore");
    assert_eq!(state["clock"]["now"], "2025-01-14T09:00:00Z");
    let sim = &state["sims"][0];
    assert_eq!(sim["sid"], sid.as_str());
    assert_eq!(sim["status"], "ready");
    assert_eq!(
        sim["sandbox"],
        json!({
            "ready_since": "2025-01-14T09:00:00Z",
            "active_by_itself_at": "2025-04-14T09:00:00Z",
            "usage": {"data_kb": 100, "sms_commands": 1},
            "usage_since_ready": {"data_kb": 100, "sms_commands": 1},
            "scheduled": null,
        })
    );
    assert_eq!(state["tokens"], json!({"requests": 1, "live": 1}));
    let text = state.to_string();
    assert!(!text.contains(sandbox.client_secret().expose_secret()));
    let sent = sandbox.requests()[1]
        .header("authorization")
        .unwrap()
        .to_owned();
    assert!(!text.contains(sent.trim_start_matches("Bearer ")));

    clock.advance_months(3).unwrap();
    let state = sandbox.state_json();
    assert_eq!(state["sims"][0]["status"], "active");
    assert_eq!(state["sims"][0]["sandbox"]["ready_since"], Value::Null);
}
