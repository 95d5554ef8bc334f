//! One virtual clock under all four sandboxes: moving it once applies every provider's time
//! rules at once, and an admin view sees the four through one shape (`SandboxAdmin`).

use chrono::{TimeZone, Utc};
use serde_json::{Value, json};
use simsandbox::{Clock, SandboxAdmin};

#[tokio::test]
async fn one_clock_moves_every_sandbox_and_each_applies_its_rules() {
    let start = Utc.with_ymd_and_hms(2025, 1, 14, 9, 0, 0).unwrap();
    let clock = Clock::frozen_at(start);

    let supersim = supersim_client::sandbox::Sandbox::start_with(
        supersim_client::sandbox::SandboxOptions::new().clock(clock.clone()),
    )
    .await
    .unwrap();
    let emnify =
        emnify_client::sandbox::Sandbox::start_with(emnify_client::sandbox::SandboxOptions {
            clock: clock.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let sixfab =
        sixfab_client::sandbox::Sandbox::start_with(sixfab_client::sandbox::SandboxOptions {
            clock: clock.clone(),
            ..Default::default()
        })
        .await
        .unwrap();
    let edgeiq =
        edgeiq_client::sandbox::Sandbox::start_with(edgeiq_client::sandbox::SandboxOptions {
            clock: clock.clone(),
            ..Default::default()
        })
        .await
        .unwrap();

    // Something for each rule to act on.
    let ready = supersim.seed_sim(
        supersim_client::sandbox::SimSeed::new().status(supersim_client::sandbox::SimStatus::Ready),
    );
    let emnify_sim = emnify.seed_sim(emnify_client::sandbox::SimSeed::new());
    emnify.client().get_sim(emnify_sim).await.unwrap();
    let emnify_token = emnify.requests()[1]
        .header("authorization")
        .unwrap()
        .to_owned();
    let asset = sixfab.seed_asset(sixfab_client::sandbox::AssetSeed::new());
    sixfab
        .client()
        .update_asset(asset.as_str())
        .status(sixfab_client::SettableStatus::Active)
        .send()
        .await
        .unwrap();
    let edgeiq_sim = edgeiq.seed_sim(edgeiq_client::sandbox::SimSeed::new());
    let user = edgeiq.user().clone();
    let edgeiq_client = edgeiq
        .builder_without_credentials()
        .login(&user.email, user.password.clone(), None)
        .await
        .unwrap();
    edgeiq_client.get_sim(&edgeiq_sim).await.unwrap();
    assert_eq!(edgeiq.live_sessions(), 1);

    let all: Vec<&dyn SandboxAdmin> = vec![&supersim, &emnify, &sixfab, &edgeiq];
    let names: Vec<&str> = all.iter().map(|s| s.provider()).collect();
    assert_eq!(names, ["supersim", "emnify", "sixfab", "edgeiq"]);

    // One move, by the clock itself.
    clock.advance_months(3).unwrap();
    let now = json!("2025-04-14T09:00:00Z");
    for sandbox in &all {
        assert_eq!(sandbox.clock().now(), clock.now());
        assert_eq!(
            sandbox.state_json()["clock"]["now"],
            now,
            "{}",
            sandbox.provider()
        );
        assert!(sandbox.base_url().starts_with("http://127.0.0.1:"));
        assert_eq!(
            sandbox.server().state_json()["base_url"],
            sandbox.server().base_url()
        );
    }

    // Super SIM: the ready SIM is active, three months after it became ready.
    let sim = supersim.client().get_sim(&ready).await.unwrap();
    assert_eq!(sim.status, Some(supersim_client::Status::Active));
    assert_eq!(sim.date_updated, Some(clock.now()));

    // emnify: the 240-minute token is long expired.
    let r = reqwest::Client::new()
        .get(format!("{}/api/v1/sim/{emnify_sim}", emnify.base_url()))
        .header("authorization", &emnify_token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: Value = serde_json::from_str(&r.text().await.unwrap()).unwrap();
    assert_eq!(body, json!({"message": "token is expired"}));

    // Sixfab: the activation, then February, March and April charged for both SIMs.
    let ledger = sixfab.ledger();
    let months: Vec<(String, &str)> = ledger
        .iter()
        .filter(|e| e.reason == "month")
        .map(|e| (e.at.to_rfc3339(), e.item))
        .collect();
    assert_eq!(ledger.len(), 3 + 6);
    assert_eq!(
        months,
        [
            ("2025-02-01T00:00:00+00:00".to_owned(), "super_sim"),
            ("2025-02-01T00:00:00+00:00".to_owned(), "pro_sim"),
            ("2025-03-01T00:00:00+00:00".to_owned(), "super_sim"),
            ("2025-03-01T00:00:00+00:00".to_owned(), "pro_sim"),
            ("2025-04-01T00:00:00+00:00".to_owned(), "super_sim"),
            ("2025-04-01T00:00:00+00:00".to_owned(), "pro_sim"),
        ]
    );
    assert_eq!(sixfab.state_json()["ledger"]["total"], "22.00");

    // EdgeIQ: the 4-hour session ended; the client logs in again by itself.
    assert_eq!(edgeiq.live_sessions(), 0);
    edgeiq_client.get_sim(&edgeiq_sim).await.unwrap();
    assert_eq!(edgeiq.live_sessions(), 1);
}
