//! The sandbox's ledger against the charge preview, on a frozen virtual clock: for each case
//! Sixfab documents (a Super SIM's monthly price and its volume price, a PRO SIM's profile
//! price, its $0.10 maintenance while inactive and the 6-month grace of one never activated, the
//! ALPON's asset fee on activation), what the preview says through the client is what the
//! ledger then charges, on activation and at every month start after it.

use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use serde_json::json;
use simcore::charge::{Charge, Money, Pricing};
use simcore::{SimChange, SimProvider, SimState};
use sixfab_client::SettableStatus;
use sixfab_client::sandbox::{
    AssetSeed, Clock, LedgerEntry, PRO_SIM_GRACE_MONTHS, Sandbox, SandboxAdmin, SandboxDevice,
    SandboxOptions, SandboxStatus, ledger_readings,
};

fn at(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
}

fn usd(cents: u64) -> Money {
    Money::from_cents(cents)
}

async fn sandbox_on(clock: &Clock) -> Sandbox {
    Sandbox::start_with(SandboxOptions {
        clock: clock.clone(),
        ..SandboxOptions::default()
    })
    .await
    .unwrap()
}

/// The preview of setting `asset` to `target`, as of `day`, through the client, with the
/// ledger's readings as the price book and `active_sims` SIMs active on the account.
async fn preview(
    sandbox: &Sandbox,
    asset: &str,
    target: SettableStatus,
    day: NaiveDate,
    active_sims: u32,
) -> Charge {
    let mut book = ledger_readings();
    book.active_sims = Some(active_sims);
    let estimate = sandbox
        .client()
        .charge_preview(asset, target, &Pricing::new(book, day))
        .await
        .unwrap();
    estimate
        .charge()
        .unwrap_or_else(|| panic!("priced: {estimate}"))
        .clone()
}

fn sum(entries: &[&LedgerEntry]) -> Money {
    entries.iter().fold(Money::ZERO, |s, e| s + e.amount)
}

/// The asset's entries in the ledger with `reason`, and those of the month starting at `start`.
fn entries<'a>(ledger: &'a [LedgerEntry], asset: &str, reason: &str) -> Vec<&'a LedgerEntry> {
    ledger
        .iter()
        .filter(|e| e.asset == asset && e.reason == reason)
        .collect()
}

/// The first instant of each month after `from`'s, up to `to`.
fn month_starts(from: DateTime<Utc>, to: DateTime<Utc>) -> Vec<DateTime<Utc>> {
    let mut out = Vec::new();
    let (mut y, mut m) = (from.year(), from.month());
    loop {
        (y, m) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
        let start = at(y, m, 1, 0);
        if start > to {
            return out;
        }
        out.push(start);
    }
}

#[tokio::test]
async fn activating_an_alpon_charges_what_the_preview_said_then_each_month() {
    let start = at(2025, 3, 14, 9);
    let clock = Clock::frozen_at(start);
    let sandbox = sandbox_on(&clock).await;
    let uuid = sandbox.seed_asset(AssetSeed::new());
    let today = start.date_naive();

    let p = preview(&sandbox, &uuid, SettableStatus::Active, today, 0).await;
    assert!(p.is_exact(), "{p:?}");
    assert_eq!((p.now.low, p.monthly.low), (usd(1000), usd(400)));
    // The provider-neutral preview (what a fleet plan prices) says the same.
    let mut book = ledger_readings();
    book.active_sims = Some(0);
    let neutral = simcore::ChargePreview::estimate_charge(
        &sandbox.client(),
        &uuid,
        &SimChange::new().state(SimState::Active),
        &Pricing::new(book, today),
    )
    .await
    .unwrap();
    let neutral = neutral.charge().unwrap();
    assert_eq!((neutral.now, neutral.monthly), (p.now, p.monthly));

    sandbox
        .client()
        .update_asset(uuid.as_str())
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap();
    let ledger = sandbox.ledger();
    let charged: Vec<(&str, String, &str, DateTime<Utc>)> = ledger
        .iter()
        .map(|e| (e.item, e.amount.to_string(), e.rule, e.at))
        .collect();
    assert_eq!(
        charged,
        vec![
            ("super_sim", "2.00".into(), "sixfab.super-sim.active", start),
            ("pro_sim", "2.00".into(), "sixfab.pro-sim.active", start),
            ("asset_fee", "6.00".into(), "sixfab.asset-fee", start),
        ]
    );
    assert_eq!(sandbox.ledger_total(), p.now.low);

    // Activating again in the same month: the preview says nothing more, and nothing comes.
    let client = sandbox.client();
    client
        .update_asset(uuid.as_str())
        .status(SettableStatus::Inactive)
        .send()
        .await
        .unwrap();
    let again = preview(&sandbox, &uuid, SettableStatus::Active, today, 0).await;
    assert_eq!((again.now.low, again.now.high), (Money::ZERO, Money::ZERO));
    client
        .update_asset(uuid.as_str())
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap();
    assert_eq!(sandbox.ledger().len(), 3);

    // Five months on: each month start charges the two SIMs, as the preview's monthly says.
    clock.advance_months(5).unwrap();
    let ledger = sandbox.ledger();
    let months = entries(&ledger, &uuid, "month");
    let starts: Vec<DateTime<Utc>> = months.iter().map(|e| e.at).collect();
    let expected: Vec<DateTime<Utc>> = month_starts(start, clock.now())
        .into_iter()
        .flat_map(|s| [s, s])
        .collect();
    assert_eq!(starts, expected);
    let monthly = preview(
        &sandbox,
        &uuid,
        SettableStatus::Active,
        clock.now().date_naive(),
        2,
    )
    .await;
    assert_eq!(
        sum(&months),
        Money::from_cents(5 * monthly.monthly.low.cents())
    );
    assert_eq!(sandbox.ledger_total(), usd(1000 + 5 * 400));
}

#[tokio::test]
async fn a_deactivated_pro_sim_pays_its_maintenance_every_month_the_preview_says_so() {
    let start = at(2025, 5, 20, 15);
    let clock = Clock::frozen_at(start);
    let sandbox = sandbox_on(&clock).await;
    let uuid = sandbox.seed_asset(AssetSeed::new().status(SandboxStatus::Active));
    let client = sandbox.client();
    let p = preview(
        &sandbox,
        &uuid,
        SettableStatus::Inactive,
        start.date_naive(),
        2,
    )
    .await;
    assert_eq!(
        (p.now.high, p.monthly.low, p.monthly.high),
        (Money::ZERO, usd(10), usd(10))
    );
    client
        .update_asset(uuid.as_str())
        .status(SettableStatus::Inactive)
        .send()
        .await
        .unwrap();
    assert!(sandbox.ledger().is_empty(), "deactivating charges nothing");
    clock.advance_months(3).unwrap();
    let ledger = sandbox.ledger();
    let items: Vec<(&str, String, DateTime<Utc>)> = ledger
        .iter()
        .map(|e| (e.item, e.amount.to_string(), e.at))
        .collect();
    assert_eq!(
        items,
        vec![
            ("pro_sim_maintenance", "0.10".into(), at(2025, 6, 1, 0)),
            ("pro_sim_maintenance", "0.10".into(), at(2025, 7, 1, 0)),
            ("pro_sim_maintenance", "0.10".into(), at(2025, 8, 1, 0)),
        ]
    );
    assert!(ledger.iter().all(|e| e.rule == "sixfab.pro-sim.inactive"));
}

#[tokio::test]
async fn the_grace_of_a_pro_sim_added_on_the_first_ends_with_that_months_charge() {
    // Added on 1 January at 09:00: the grace ends on 1 July, and the month starting that day
    // is charged, by the ledger and by the preview alike.
    assert_eq!(PRO_SIM_GRACE_MONTHS, 6);
    let start = at(2025, 1, 1, 9);
    let clock = Clock::frozen_at(start);
    let sandbox = sandbox_on(&clock).await;
    let uuid = sandbox.seed_asset(AssetSeed::new());
    clock.advance_months(8).unwrap();
    let ledger = sandbox.ledger();
    let charged: Vec<DateTime<Utc>> = entries(&ledger, &uuid, "month")
        .iter()
        .map(|e| e.at)
        .collect();
    // Eight months on is 1 September, 09:00.
    assert_eq!(
        charged,
        vec![at(2025, 7, 1, 0), at(2025, 8, 1, 0), at(2025, 9, 1, 0)]
    );
    for (day, cents) in [(at(2025, 6, 1, 0), 0), (at(2025, 7, 1, 0), 10)] {
        let p = preview(
            &sandbox,
            &uuid,
            SettableStatus::Inactive,
            day.date_naive(),
            0,
        )
        .await;
        assert_eq!(p.monthly.high, usd(cents), "{day}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// For any asset (both SIMs, a Super SIM only, a PRO SIM only), any day, any number of
    /// other active SIMs on the account and any number of months after activation: the
    /// activation charges a figure within the preview's `now` (that figure when the preview is
    /// exact), and the months after it charge the preview's `monthly` each.
    #[test]
    fn the_ledger_over_any_months_equals_the_preview(
        kind in 0u8..3,
        day in 0i64..365,
        others in 0u32..14,
        months in 0u32..25,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let start = at(2025, 1, 1, 10) + chrono::TimeDelta::days(day);
            let clock = Clock::frozen_at(start);
            let sandbox = sandbox_on(&clock).await;
            for _ in 0..others {
                sandbox.seed_asset(
                    AssetSeed::new().status(SandboxStatus::Active).device(None).pro_sim(None),
                );
            }
            let seed = match kind {
                0 => AssetSeed::new(),
                1 => AssetSeed::new().device(Some(SandboxDevice::alpon())).pro_sim(None),
                _ => AssetSeed::new().super_sim(None),
            };
            let uuid = sandbox.seed_asset(seed);
            let sims = if kind == 0 { 2 } else { 1 };
            let p = preview(&sandbox, &uuid, SettableStatus::Active, start.date_naive(), others).await;
            sandbox
                .client()
                .update_asset(uuid.as_str())
                .status(SettableStatus::Active)
                .send()
                .await
                .unwrap();
            let ledger = sandbox.ledger();
            let now = sum(&entries(&ledger, &uuid, "activation"));
            prop_assert!(p.now.low <= now && now <= p.now.high, "{} not in {:?}", now, p.now);
            if p.is_exact() {
                prop_assert_eq!(now, p.now.low);
            }

            clock.advance_months(months).unwrap();
            let ledger = sandbox.ledger();
            let monthly = preview(
                &sandbox, &uuid, SettableStatus::Active, clock.now().date_naive(), others + sims,
            )
            .await;
            prop_assert!(monthly.is_exact(), "{:?}", monthly);
            let charged = entries(&ledger, &uuid, "month");
            prop_assert_eq!(
                sum(&charged),
                Money::from_cents(u64::from(months) * monthly.monthly.low.cents())
            );
            Ok(())
        })?;
    }

    /// For any day a never-activated PRO SIM came to the account and any months after: each
    /// month start charges what the preview of the inactive asset on that day says, the $0.10
    /// maintenance from the day its grace ends.
    #[test]
    fn the_grace_ends_on_the_same_day_for_ledger_and_preview(
        day in 0i64..365,
        hour in 0u32..24,
        months in 1u32..12,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let start = at(2025, 1, 1, hour) + chrono::TimeDelta::days(day);
            let clock = Clock::frozen_at(start);
            let sandbox = sandbox_on(&clock).await;
            let uuid = sandbox.seed_asset(AssetSeed::new());
            clock.advance_months(months).unwrap();
            let ledger = sandbox.ledger();
            let charged = entries(&ledger, &uuid, "month");
            for month in month_starts(start, clock.now()) {
                let p = preview(&sandbox, &uuid, SettableStatus::Inactive, month.date_naive(), 0).await;
                prop_assert!(p.is_exact());
                let that_month: Vec<&LedgerEntry> =
                    charged.iter().copied().filter(|e| e.at == month).collect();
                prop_assert_eq!(sum(&that_month), p.monthly.low, "month {}", month);
            }
            Ok(())
        })?;
    }
}

#[tokio::test]
async fn the_state_shows_assets_and_the_ledger_without_the_api_key() {
    let start = at(2025, 3, 14, 9);
    let clock = Clock::frozen_at(start);
    let sandbox = sandbox_on(&clock).await;
    let uuid = sandbox.seed_asset(AssetSeed::new().serial_number("SN-ALPON-1"));
    sandbox
        .client()
        .update_asset("SN-ALPON-1")
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap();
    clock.advance_months(1).unwrap();
    let state = SandboxAdmin::state_json(&sandbox);
    assert_eq!(SandboxAdmin::provider(&sandbox), "sixfab");
    assert_eq!(state["clock"]["now"], "2025-04-14T09:00:00Z");
    assert_eq!(state["assets"][0]["uuid"], uuid.as_str());
    assert_eq!(state["active_sims"], 2);
    assert_eq!(state["ledger"]["total"], "14.00");
    assert_eq!(state["ledger"]["accrued_through"], "2025-04-14T09:00:00Z");
    assert_eq!(
        state["ledger"]["entries"][3],
        json!({
            "at": "2025-04-01T00:00:00Z",
            "month": {"year": 2025, "month": 4},
            "asset": uuid,
            "serial_number": "SN-ALPON-1",
            "item": "super_sim",
            "amount": "2.00",
            "rule": "sixfab.super-sim.active",
            "reason": "month",
        })
    );
    assert!(!state.to_string().contains(sandbox.api_key()));
}

#[tokio::test]
async fn a_fleet_plans_charges_are_what_the_ledger_charges_once_it_is_applied() {
    use simcore::charge::{Currency, PriceBooks};
    use simfleet::plan::{Applier, Desired, Planner};
    use std::sync::Arc;

    let start = at(2025, 10, 3, 8);
    let clock = Clock::frozen_at(start);
    let sandbox = sandbox_on(&clock).await;
    let alpon = sandbox.seed_asset(AssetSeed::new());
    let super_only = sandbox.seed_asset(AssetSeed::new().pro_sim(None));
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    let mut book = ledger_readings();
    book.active_sims = Some(0);
    let mut books = PriceBooks::new();
    books.insert("sixfab", book).unwrap();
    let rows = [
        Desired::new("sixfab", alpon.as_str()).state(SimState::Active),
        Desired::new("sixfab", super_only.as_str()).state(SimState::Active),
    ];
    let plan = Planner::new([provider.clone()])
        .price_books(books)
        .as_of(start.date_naive())
        .plan(rows)
        .await;
    let charges = plan.charges();
    assert!(charges.is_exact(), "{plan}");
    let usd = charges.overall()[&Currency::USD];
    assert_eq!(
        (usd.now.low, usd.monthly.low),
        (Money::from_cents(1200), Money::from_cents(600))
    );

    Applier::new([provider]).apply(&plan).await;
    assert_eq!(sandbox.ledger_total(), usd.now.low);
    clock.advance_months(2).unwrap();
    assert_eq!(
        sandbox.ledger_total(),
        Money::from_cents(usd.now.low.cents() + 2 * usd.monthly.low.cents())
    );
}
