//! A Sixfab asset's whole life through the public client against the local sandbox: fetch by
//! every kind of id, activate (the master switch over both SIMs), rename, change the network
//! group, deactivate, each refusal Sixfab documents, wrong credentials, the request log, the
//! `SimProvider` view, charge estimates and the shared server's rate limit and faults.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde_json::{Value, json};
use simcore::charge::{
    AssetPrices, ChargeRange, Currency, Money, PriceBook, Pricing, SimPrices, UnpricedReason,
};
use simcore::http::{Auth, Method, Transport};
use simcore::retry::RetryPolicy;
use simcore::secrecy::SecretString;
use simcore::{Applied, DisplayName, Error, SimChange, SimProvider, SimSnapshot, SimState};
use simfleet::bulk::{BulkItem, BulkUpdater};
use sixfab_client::models::SimKind;
use sixfab_client::sandbox::{
    AssetSeed, ProSimSeed, RateLimit, Sandbox, SandboxOptions, SandboxStatus,
};
use sixfab_client::{AssetId, AssetStatus, Client, NetworkGroup, SettableStatus, Updated};

/// The ids the sandbox makes up for the first asset seeded.
const UUID_1: &str = "5a4d0b1e-0000-4000-8000-000000000001";
const SID_1: &str = "HS00000000000000000000000000000001";
const SUPER_ICCID_1: &str = "89882806660000000001";
const PRO_ICCID_1: &str = "8944500102000000001";

fn fast_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .with_max_attempts(attempts)
        .with_backoff(Duration::from_millis(1), Duration::from_millis(5))
}

/// Every request's method, path and JSON body (when it has one).
fn log(sandbox: &Sandbox) -> Vec<(String, String, Option<Value>)> {
    sandbox
        .requests()
        .iter()
        .map(|r| (r.method.clone(), r.path.clone(), r.body_json()))
        .collect()
}

fn get(path: &str) -> (String, String, Option<Value>) {
    ("GET".into(), format!("/v1/assets/{path}"), None)
}

fn patch(path: &str, body: Value) -> (String, String, Option<Value>) {
    ("PATCH".into(), format!("/v1/assets/{path}"), Some(body))
}

fn api(err: &Error) -> (u16, &str) {
    let api = err
        .api()
        .unwrap_or_else(|| panic!("not an API error: {err:?}"));
    assert_eq!(api.provider, "sixfab");
    (api.status, api.message.as_str())
}

#[tokio::test]
async fn an_asset_from_first_fetch_to_deactivation() {
    let sandbox = Sandbox::start().await.unwrap();
    sandbox.add_network_group("fleet-eu");
    let uuid = sandbox.seed_asset(
        AssetSeed::new()
            .serial_number("SN-ALPON-0042")
            .name("pump station 6"),
    );
    assert_eq!(uuid, UUID_1);
    let client = sandbox.client();

    // Fetch: the asset, its two SIMs and the facts its prices depend on.
    let asset = client.get_asset("SN-ALPON-0042").await.unwrap();
    assert_eq!(asset.uuid.as_deref(), Some(UUID_1));
    assert_eq!(asset.serial_number.as_deref(), Some("SN-ALPON-0042"));
    assert_eq!(asset.name.as_deref(), Some("pump station 6"));
    assert_eq!(asset.status, Some(AssetStatus::Inactive));
    assert_eq!(asset.iccid.as_deref(), Some(SUPER_ICCID_1));
    assert_eq!(asset.network_group(), Some("default_1gb"));
    let sims = asset.sims();
    let kinds: Vec<SimKind> = sims.iter().map(|s| s.kind).collect();
    assert_eq!(kinds, [SimKind::SuperSim, SimKind::ProSim]);
    assert_eq!(sims[0].sid.as_deref(), Some(SID_1));
    assert_eq!(sims[0].iccid.as_deref(), Some(SUPER_ICCID_1));
    assert_eq!(sims[1].iccid.as_deref(), Some(PRO_ICCID_1));
    for sim in &sims {
        assert_eq!(sim.status, Some(AssetStatus::Inactive), "{}", sim.kind);
        assert_eq!(sim.last_charged_on, None);
    }
    let profile = sims[1].service_profile.clone().unwrap();
    assert_eq!(profile.name.as_deref(), Some("Europe + USA"));
    assert_eq!(profile.monthly_price, Some(Money::from_cents(200)));
    assert_eq!(sims[1].first_activated_on, None);
    assert_eq!(sims[1].added_on, Some(Utc::now().date_naive()));
    let device = asset.device().unwrap();
    assert!(device.is_alpon());
    assert_eq!(device.asset_fee, Some(Money::from_cents(600)));

    // Every kind of id names the same asset.
    for id in [
        UUID_1.to_owned(),
        UUID_1.to_uppercase(),
        SID_1.to_owned(),
        SUPER_ICCID_1.to_owned(),
        PRO_ICCID_1.to_owned(),
    ] {
        let a = client.get_asset(id.as_str()).await.unwrap();
        assert_eq!(a.uuid.as_deref(), Some(UUID_1), "{id}");
    }

    // Activate: the master switch turns on both SIMs.
    let answer = client
        .update_asset("SN-ALPON-0042")
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap();
    let Updated::Done(Some(a)) = answer else {
        panic!("{answer:?}")
    };
    assert_eq!(a.status, Some(AssetStatus::Active));
    assert!(
        a.sims()
            .iter()
            .all(|s| s.status == Some(AssetStatus::Active))
    );
    let state = sandbox.asset(UUID_1).unwrap();
    let (sup, pro) = (state.super_sim.unwrap(), state.pro_sim.unwrap());
    assert_eq!(state.status, SandboxStatus::Active);
    assert_eq!(sup.status, SandboxStatus::Active);
    assert_eq!(pro.status, SandboxStatus::Active);
    let activated = pro
        .first_activated_at
        .expect("the first activation is recorded");
    assert_eq!(sup.last_charged_at, Some(activated));
    assert_eq!(
        state.device.unwrap().asset_fee_last_charged_at,
        Some(activated)
    );

    // Rename and change the network group in one update, by the Super SIM's ICCID.
    let answer = client
        .update_asset(AssetId::iccid(SUPER_ICCID_1).unwrap())
        .name("pump station 7")
        .network_group(NetworkGroup::Default10Gb)
        .send()
        .await
        .unwrap();
    let a = answer.resource().unwrap();
    assert_eq!(a.name.as_deref(), Some("pump station 7"));
    assert_eq!(a.network_group(), Some("default_10gb"));
    assert_eq!(a.status, Some(AssetStatus::Active));

    // A custom group of the account, by the Super SIM's SID.
    client
        .update_asset(SID_1)
        .network_group("fleet-eu")
        .send()
        .await
        .unwrap();
    let state = sandbox.asset("SN-ALPON-0042").unwrap();
    assert_eq!(state.name, "pump station 7");
    assert_eq!(state.super_sim.unwrap().network_group, "fleet-eu");

    // Deactivate, by the PRO SIM's ICCID: both SIMs go off; the first activation stays recorded.
    let answer = client
        .update_asset(PRO_ICCID_1)
        .status(SettableStatus::Inactive)
        .send()
        .await
        .unwrap();
    assert_eq!(
        answer.resource().unwrap().status,
        Some(AssetStatus::Inactive)
    );
    let state = sandbox.asset(UUID_1).unwrap();
    assert_eq!(state.status, SandboxStatus::Inactive);
    assert_eq!(
        state.super_sim.as_ref().unwrap().status,
        SandboxStatus::Inactive
    );
    let pro = state.pro_sim.as_ref().unwrap();
    assert_eq!(pro.status, SandboxStatus::Inactive);
    assert_eq!(pro.first_activated_at, Some(activated));

    // Refused by Sixfab: a network group the account does not have.
    let err = client
        .update_asset(UUID_1)
        .network_group("fleet-us")
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        api(&err),
        (422, "body.supersim.network_group: network group not found")
    );
    assert_eq!(
        err.api().unwrap().details,
        Some(json!([{
            "type": "value_error",
            "loc": ["body", "supersim", "network_group"],
            "msg": "network group not found",
            "input": "fleet-us"
        }]))
    );
    assert!(!err.is_retryable());
    assert_eq!(sandbox.asset(UUID_1).unwrap(), state, "nothing changed");

    // Refused by Sixfab: an asset that does not exist, read or updated.
    let err = client.get_asset("SN-NOPE").await.unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(
        err.to_string(),
        "sixfab: HTTP 404: asset \"SN-NOPE\" not found: Asset not found; retrying will not help"
    );
    let err = client
        .update_asset("SN-NOPE")
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        api(&err),
        (404, "asset \"SN-NOPE\" not found: Asset not found")
    );

    // Refused by Sixfab: a network group for an asset without a Super SIM.
    let pro_only = sandbox.seed_asset(AssetSeed::new().super_sim(None).device(None));
    let err = client
        .update_asset(pro_only.as_str())
        .network_group(NetworkGroup::Default1Gb)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        api(&err),
        (
            422,
            "body.supersim: Value error, the asset has no Super SIM"
        )
    );

    // Refused before sending (the sandbox refuses the same on the wire: see below).
    let before = sandbox.requests().len();
    let refusals = [
        (client.update_asset(UUID_1).name("ab"), "name"),
        (client.update_asset(UUID_1), "update"),
        (
            client.update_asset(".").status(SettableStatus::Active),
            "asset_id",
        ),
        (
            client.update_asset(UUID_1).network_group(""),
            "network_group",
        ),
    ];
    for (builder, field) in refusals {
        match builder.send().await.unwrap_err() {
            Error::Invalid(v) => assert_eq!(v.field(), field),
            other => panic!("{field}: {other:?}"),
        }
    }
    assert_eq!(sandbox.requests().len(), before, "nothing was sent");

    // The request log: every call, in order, with the body sent.
    assert_eq!(
        log(&sandbox),
        [
            get("SN-ALPON-0042"),
            get(UUID_1),
            get(&UUID_1.to_uppercase()),
            get(SID_1),
            get(SUPER_ICCID_1),
            get(PRO_ICCID_1),
            patch("SN-ALPON-0042", json!({"status": "active"})),
            patch(
                SUPER_ICCID_1,
                json!({"name": "pump station 7", "supersim": {"network_group": "default_10gb"}})
            ),
            patch(SID_1, json!({"supersim": {"network_group": "fleet-eu"}})),
            patch(PRO_ICCID_1, json!({"status": "inactive"})),
            patch(UUID_1, json!({"supersim": {"network_group": "fleet-us"}})),
            get("SN-NOPE"),
            patch("SN-NOPE", json!({"status": "active"})),
            patch(
                &pro_only,
                json!({"supersim": {"network_group": "default_1gb"}})
            ),
        ]
    );
    for r in sandbox.requests() {
        assert_eq!(r.header("x-api-key"), Some(sandbox.api_key()));
        if r.is_write() {
            assert_eq!(r.header("content-type"), Some("application/json"));
        }
        assert!(!format!("{r:?}").contains(sandbox.api_key()));
    }
}

#[tokio::test]
async fn wrong_credentials_are_sixfabs_401() {
    let sandbox = Sandbox::start().await.unwrap();
    let uuid = sandbox.seed_asset(AssetSeed::new());
    let key = "sbx_not-the-sandbox-key";
    let wrong = Client::builder()
        .api_key(key)
        .base_url(sandbox.base_url())
        .build()
        .unwrap();
    let err = wrong.get_asset(uuid.as_str()).await.unwrap_err();
    assert!(err.is_unauthorized());
    assert!(!err.is_retryable());
    assert_eq!(
        err.to_string(),
        "sixfab: HTTP 401: Invalid API key; retrying will not help"
    );
    assert!(!format!("{err:?}").contains(key));
    let err = wrong
        .update_asset(uuid.as_str())
        .status(SettableStatus::Active)
        .send()
        .await
        .unwrap_err();
    assert_eq!(api(&err), (401, "Invalid API key"));
    assert_eq!(
        sandbox.asset(&uuid).unwrap().status,
        SandboxStatus::Inactive
    );
    assert_eq!(sandbox.requests().len(), 2);
    assert_eq!(sandbox.requests()[1].header("x-api-key"), Some(key));

    // Two sandboxes never share a key.
    let other = Sandbox::start().await.unwrap();
    assert_ne!(other.api_key(), sandbox.api_key());
    assert!(!format!("{sandbox:?}").contains(sandbox.api_key()));
}

/// The rules the client checks before sending are enforced by the sandbox too: sent raw.
#[tokio::test]
async fn the_wire_refuses_what_the_client_never_sends() {
    let sandbox = Sandbox::start().await.unwrap();
    let uuid = sandbox.seed_asset(AssetSeed::new());
    let key = SecretString::from(sandbox.api_key().to_owned());
    let raw = Transport::builder("sixfab", sandbox.base_url())
        .auth(Auth::header("x-api-key", &key).unwrap())
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let cases = [
        (
            json!({"name": "ab"}),
            "body.name: String should have at least 3 characters",
        ),
        (
            json!({"name": "x".repeat(65)}),
            "body.name: String should have at most 64 characters",
        ),
        (
            json!({"status": "suspended"}),
            "body.status: Input should be 'active' or 'inactive'",
        ),
        (
            json!({}),
            "body: Value error, at least one of name, status or supersim.network_group is required",
        ),
        (
            json!({"network_group": "default_1gb"}),
            "body.network_group: Extra inputs are not permitted",
        ),
    ];
    for (body, message) in cases {
        let request = raw
            .request(Method::PATCH, &["assets", &uuid])
            .unwrap()
            .json(&body)
            .unwrap();
        let err = raw.send(&request).await.unwrap_err();
        assert_eq!(
            (err.status(), err.api().unwrap().message.as_str()),
            (Some(422), message),
            "{body}"
        );
    }
    let form = raw
        .request(Method::PATCH, &["assets", &uuid])
        .unwrap()
        .form([("status", "active")]);
    let err = raw.send(&form).await.unwrap_err();
    assert_eq!(
        err.api().unwrap().message,
        "body: Input should be a valid dictionary or object to extract fields from"
    );
    let err = raw
        .send(&raw.request(Method::DELETE, &["assets", &uuid]).unwrap())
        .await
        .unwrap_err();
    assert_eq!(api(&err), (405, "Method Not Allowed"));
    let err = raw
        .send(&raw.request(Method::GET, &["sims", &uuid]).unwrap())
        .await
        .unwrap_err();
    assert_eq!(api(&err), (404, "Not Found"));
    assert_eq!(
        sandbox.asset(&uuid).unwrap().status,
        SandboxStatus::Inactive
    );
}

#[tokio::test]
async fn the_common_interface_drives_the_sandbox() {
    let sandbox = Sandbox::start().await.unwrap();
    let uuid = sandbox.seed_asset(AssetSeed::new().name("pump station 6"));
    let p: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    assert_eq!(p.name(), "sixfab");

    // The aliases: every other id the asset answers to.
    let aliased = |s: SimSnapshot| {
        s.with_alias("SN-SBX-0001")
            .with_alias(SID_1)
            .with_alias(SUPER_ICCID_1)
            .with_alias(PRO_ICCID_1)
    };
    let inactive = aliased(
        SimSnapshot::new("sixfab", uuid.as_str(), SimState::Inactive)
            .with_native_status("inactive")
            .with_display_name("pump station 6")
            .with_iccid(SUPER_ICCID_1),
    );
    assert_eq!(p.fetch(&uuid).await.unwrap(), inactive);

    let on = SimChange::new()
        .state(SimState::Active)
        .known_state(SimState::Inactive);
    assert_eq!(
        p.apply(&uuid, &on).await.unwrap(),
        Applied::Done(Some(aliased(
            SimSnapshot::new("sixfab", uuid.as_str(), SimState::Active)
                .with_native_status("active")
                .with_display_name("pump station 6")
                .with_iccid(SUPER_ICCID_1)
        )))
    );
    let state = sandbox.asset(&uuid).unwrap();
    assert_eq!(state.super_sim.unwrap().status, SandboxStatus::Active);
    assert_eq!(state.pro_sim.unwrap().status, SandboxStatus::Active);

    let rename = SimChange::new().display_name(DisplayName::parse("pump station 7").unwrap());
    let applied = p.apply(SID_1, &rename).await.unwrap();
    assert_eq!(
        applied.snapshot().unwrap().display_name.as_deref(),
        Some("pump station 7")
    );
    let off = SimChange::new().state(SimState::Inactive);
    let applied = p.apply(PRO_ICCID_1, &off).await.unwrap();
    assert_eq!(applied.snapshot().unwrap().state, SimState::Inactive);
    let state = sandbox.asset(&uuid).unwrap();
    assert_eq!(state.name, "pump station 7");
    assert_eq!(state.super_sim.unwrap().status, SandboxStatus::Inactive);
    assert_eq!(state.pro_sim.unwrap().status, SandboxStatus::Inactive);

    // Refused before sending: targets Sixfab cannot set, a move the lifecycle forbids, a bad id.
    let sent = sandbox.requests().len();
    let retire = SimChange::new().state(SimState::Retired);
    for err in [
        p.apply(&uuid, &retire).await.unwrap_err(),
        p.validate(&uuid, &retire).unwrap_err(),
    ] {
        assert!(
            matches!(&err, Error::Invalid(v) if v.field() == "state"),
            "{err:?}"
        );
    }
    let again = SimChange::new()
        .state(SimState::Inactive)
        .known_state(SimState::Inactive);
    // Setting what is already there sends nothing and is not an error.
    assert_eq!(
        p.apply(&uuid, &again).await.unwrap(),
        simcore::Applied::Unchanged
    );
    let err = p.apply("..", &off).await.unwrap_err();
    assert!(matches!(err, Error::Invalid(ref v) if v.field() == "asset_id"));
    assert_eq!(sandbox.requests().len(), sent);

    // Refused by Sixfab.
    assert!(p.fetch("SN-NOPE").await.unwrap_err().is_not_found());
    assert!(p.apply("SN-NOPE", &off).await.unwrap_err().is_not_found());
}

fn r(low: u64, high: u64) -> ChargeRange {
    ChargeRange::between(Money::from_cents(low), Money::from_cents(high))
}

/// What an invoice settles: 12 active SIMs, the ALPON fee on top of the SIM fees, monthly, once a
/// month; the PRO SIM charged for the month it is activated in.
fn settled_book() -> PriceBook {
    let mut book = PriceBook {
        active_sims: Some(12),
        ..PriceBook::default()
    };
    book.sims.insert(
        "pro_sim".into(),
        SimPrices {
            activation_month_billed: Some(true),
            ..SimPrices::default()
        },
    );
    book.assets.insert(
        "alpon".into(),
        AssetPrices {
            replaces_sim_fees: Some(false),
            recurs_monthly: Some(true),
            once_a_month: Some(true),
            ..AssetPrices::default()
        },
    );
    book
}

#[tokio::test]
async fn charges_are_estimated_from_the_asset_and_the_price_book() {
    let sandbox = Sandbox::start().await.unwrap();
    let alpon = sandbox.seed_asset(AssetSeed::new());
    let client = sandbox.client();
    let p: Arc<dyn SimProvider> = Arc::new(client.clone());
    // Sixfab has billing rules of its own: the preview goes through them.
    assert!(p.charges().is_some());
    let on = SimChange::new().state(SimState::Active);
    let off = SimChange::new().state(SimState::Inactive);
    let rename = SimChange::new().display_name(DisplayName::parse("pump station 7").unwrap());
    let published = Pricing::today();
    let settled = Pricing::today().with_book(settled_book());

    // Published prices only: a range over every reading of the ALPON fee and both volume tiers.
    let e = simcore::charge::preview(&*p, &alpon, &on, &published)
        .await
        .unwrap();
    let c = e.charge().unwrap();
    assert_eq!((c.now, c.monthly), (r(600, 1000), r(0, 1000)), "{c}");
    assert_eq!(c.currency, Currency::USD);
    let ids: Vec<&str> = c.assumptions().iter().map(|a| &*a.id).collect();
    assert!(
        ids.contains(&"sixfab.asset-fee.replaces-sim-fees"),
        "{ids:?}"
    );
    assert!(ids.contains(&"book.volume-count"), "{ids:?}");
    // The invoice's answers collapse it: $1.60 (more than 10 active SIMs) + $2 + $6.
    let e = simcore::charge::preview(&*p, &alpon, &on, &settled)
        .await
        .unwrap();
    let c = e.charge().unwrap();
    assert_eq!((c.now, c.monthly), (r(960, 960), r(960, 960)), "{c}");
    assert!(c.is_exact());
    assert!(c.lines[1].rule.text.contains("first activation"), "{c}");
    let preview = client
        .charge_preview(alpon.as_str(), SettableStatus::Active, &settled)
        .await
        .unwrap();
    assert_eq!(&preview, &e);
    assert!(
        sandbox.requests().iter().all(|r| !r.is_write()),
        "estimates only read"
    );

    p.apply(&alpon, &on).await.unwrap();
    // Deactivating adds nothing; the PRO SIM keeps its $0.10 maintenance fee.
    let e = simcore::charge::preview(&*p, &alpon, &off, &settled)
        .await
        .unwrap();
    let c = e.charge().unwrap();
    assert_eq!((c.now, c.monthly), (r(0, 0), r(10, 10)));
    p.apply(&alpon, &off).await.unwrap();

    // Reactivated in the same month: every price was already charged this month.
    let e = simcore::charge::preview(&*p, &alpon, &on, &settled)
        .await
        .unwrap();
    let c = e.charge().unwrap();
    assert_eq!((c.now, c.monthly), (r(0, 0), r(960, 960)), "{c}");
    // A rename: nothing now, the month as the asset stays.
    let e = simcore::charge::preview(&*p, &alpon, &rename, &settled)
        .await
        .unwrap();
    assert_eq!(e.charge().unwrap().monthly, r(10, 10));

    // A PRO SIM alone on another profile, in its grace; another past it.
    let pro = |days: i64| {
        AssetSeed::new()
            .device(None)
            .super_sim(None)
            .pro_sim(Some(ProSimSeed {
                service_profile: "Asia".into(),
                monthly_price_cents: 450,
                added_at: Some(Utc::now() - chrono::Duration::days(days)),
                ..ProSimSeed::default()
            }))
    };
    let fresh = sandbox.seed_asset(pro(30));
    let old = sandbox.seed_asset(pro(400));
    let e = simcore::charge::preview(&*p, &fresh, &rename, &settled)
        .await
        .unwrap();
    assert_eq!(e.charge().unwrap().monthly, r(0, 0));
    assert!(e.to_string().contains("grace until"), "{e}");
    let e = simcore::charge::preview(&*p, &fresh, &on, &settled)
        .await
        .unwrap();
    assert_eq!(e.charge().unwrap().now, r(450, 450));
    let e = simcore::charge::preview(&*p, &old, &rename, &settled)
        .await
        .unwrap();
    assert_eq!(e.charge().unwrap().monthly, r(10, 10));

    // The bulk updater's dry run adds the estimates up and sends no update.
    let writes = |s: &Sandbox| s.requests().iter().filter(|r| r.is_write()).count();
    let sent = writes(&sandbox);
    let report = BulkUpdater::new(p.clone())
        .dry_run(true)
        .pricing(settled.clone())
        .run([
            BulkItem::new(alpon.as_str(), on.clone()),
            BulkItem::new(fresh.as_str(), on.clone()),
            BulkItem::new(old.as_str(), SimChange::new().state(SimState::Deleted)),
        ])
        .await;
    assert_eq!((report.would_apply, report.refused), (2, 1));
    let sum = report.charges.overall()[&Currency::USD];
    assert_eq!(
        (sum.now, sum.monthly),
        (r(450, 450), r(960 + 450, 960 + 450))
    );
    assert_eq!(report.charges.unpriced_count(), 0);
    assert_eq!(writes(&sandbox), sent);

    // Refusals: before sending, and from Sixfab; a price book for another provider.
    let err = simcore::charge::preview(
        &*p,
        &alpon,
        &SimChange::new().state(SimState::Retired),
        &settled,
    )
    .await
    .unwrap_err();
    assert!(err.was_not_sent(), "{err:?}");
    let err = simcore::charge::preview(&*p, "SN-NOPE", &on, &settled)
        .await
        .unwrap_err();
    assert!(err.is_not_found());
    let emnify = Pricing::today().with_book(PriceBook {
        provider: Some("emnify".into()),
        ..PriceBook::default()
    });
    let err = simcore::charge::preview(&*p, &alpon, &on, &emnify)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[tokio::test]
async fn an_asset_the_model_does_not_recognise_cannot_be_priced() {
    // Sixfab does not document the asset object; an answer without the `supersim`/`prosim`
    // objects this SDK reads is what a real answer it does not understand looks like.
    let sandbox = Sandbox::start().await.unwrap();
    let bare = sandbox.seed_asset(AssetSeed::new().device(None).super_sim(None).pro_sim(None));
    let p: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    let e = simcore::charge::preview(
        &*p,
        &bare,
        &SimChange::new().state(SimState::Active),
        &Pricing::today(),
    )
    .await
    .unwrap();
    assert!(
        matches!(e.reason(), Some(UnpricedReason::UnrecognisedShape { .. })),
        "{e}"
    );
    assert!(e.to_string().starts_with("cannot price: "), "{e}");
    assert!(!e.to_string().contains("$0.00"), "{e}");
    let report = BulkUpdater::new(p)
        .dry_run(true)
        .run([BulkItem::new(
            bare.as_str(),
            SimChange::new().state(SimState::Active),
        )])
        .await;
    assert_eq!(report.charges.unpriced_count(), 1);
    assert!(report.charges.overall().is_empty());
    assert!(
        report.charges.to_string().contains("cannot be priced"),
        "{}",
        report.charges
    );
}

#[tokio::test]
async fn rate_limit_and_faults_reach_the_client_typed() {
    let sandbox = Sandbox::start_with(SandboxOptions {
        rate_limit: Some(RateLimit {
            per_second: 0.001,
            burst: 1,
            retry_after: true,
        }),
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let uuid = sandbox.seed_asset(AssetSeed::new());
    let once = sandbox
        .client_builder()
        .retry(RetryPolicy::none())
        .build()
        .unwrap();

    once.get_asset(uuid.as_str()).await.unwrap();
    let err = once.get_asset(uuid.as_str()).await.unwrap_err();
    assert_eq!(api(&err), (429, "Too Many Requests"));
    assert!(err.is_retryable());
    assert_eq!(err.retry_after(), None, "Sixfab documents no Retry-After");
    assert_eq!(sandbox.server().stats().throttled, 1);
    sandbox.server().set_rate_limit(None);

    // Two 503s, then the third attempt reads the asset.
    let retrying = sandbox
        .client_builder()
        .retry(fast_retry(3))
        .build()
        .unwrap();
    sandbox.server().fail_next(2, 503);
    assert!(retrying.get_asset(uuid.as_str()).await.is_ok());
    sandbox.server().drop_next(1);
    let err = once.get_asset(uuid.as_str()).await.unwrap_err();
    assert!(matches!(err, Error::Transport { .. }), "{err:?}");
    assert_eq!(sandbox.requests().len(), 2 + 3 + 1);

    // Without a request log, nothing is kept.
    let quiet = Sandbox::start_with(SandboxOptions {
        record: false,
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let uuid = quiet.seed_asset(AssetSeed::new());
    quiet.client().get_asset(uuid.as_str()).await.unwrap();
    assert!(quiet.requests().is_empty());
    assert_eq!(quiet.server().stats().received, 1);
}

/// Seeds `n` assets, every other one active, every third without a PRO SIM.
fn seed_fleet(sandbox: &Sandbox, n: usize) -> Vec<String> {
    sandbox.seed_assets((0..n).map(|i| {
        let seed = AssetSeed::new().status(if i % 2 == 0 {
            SandboxStatus::Active
        } else {
            SandboxStatus::Inactive
        });
        if i % 3 == 0 { seed.pro_sim(None) } else { seed }
    }))
}

#[tokio::test]
async fn ten_thousand_assets_list_in_a_hundred_requests_each_once() {
    use futures_util::TryStreamExt as _;
    use simcore::ListOptions;

    let sandbox = Sandbox::start().await.unwrap();
    let uuids = seed_fleet(&sandbox, 10_000);
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    let pages: Vec<Vec<SimSnapshot>> = provider
        .list(&ListOptions::new())
        .try_collect()
        .await
        .unwrap();
    assert_eq!(pages.len(), 100);
    assert!(pages.iter().all(|p| p.len() == 100));
    let listed: Vec<&str> = pages.iter().flatten().map(|s| s.id.as_str()).collect();
    assert_eq!(listed, uuids, "every asset once, by UUID");
    let first = &pages[0][0];
    assert_eq!(first.state, SimState::Active);
    assert_eq!(first.aliases.len(), 3, "serial, SID, ICCID: {first:?}");
    let second = &pages[0][1];
    assert_eq!(second.state, SimState::Inactive);
    assert_eq!(
        second.aliases.len(),
        4,
        "serial, SID, two ICCIDs: {second:?}"
    );

    let requests = sandbox.requests();
    assert_eq!(
        requests.len(),
        100,
        "the total says when to stop: no extra request"
    );
    for (n, r) in requests.iter().enumerate() {
        assert_eq!((r.method.as_str(), r.path.as_str()), ("GET", "/v1/assets"));
        let expected = format!("page={}&per_page=100", n + 1);
        assert_eq!(r.query.as_deref(), Some(expected.as_str()));
    }
}

#[tokio::test]
async fn listed_snapshots_match_fetched_ones() {
    use futures_util::TryStreamExt as _;
    use simcore::ListOptions;

    let sandbox = Sandbox::start().await.unwrap();
    seed_fleet(&sandbox, 5);
    sandbox.seed_asset(
        AssetSeed::new()
            .super_sim(None)
            .serial_number("PRO-ONLY")
            .name("pro"),
    );
    sandbox.seed_asset(
        AssetSeed::new()
            .uuid("00000000-aaaa-4bbb-8ccc-000000000000")
            .pro_sim(None)
            .device(None),
    );
    let provider: Arc<dyn SimProvider> = Arc::new(sandbox.client());
    let listed: Vec<SimSnapshot> = provider
        .list(&ListOptions::new().page_size(3))
        .try_concat()
        .await
        .unwrap();
    assert_eq!(listed.len(), 7);
    // UUID order: the one seeded with a low UUID comes first.
    assert_eq!(listed[0].id, "00000000-aaaa-4bbb-8ccc-000000000000");
    for snap in &listed {
        assert_eq!(snap, &provider.fetch(&snap.id).await.unwrap());
        // Every alias names the same asset.
        for alias in &snap.aliases {
            let by_alias = provider.fetch(alias).await.unwrap();
            assert!(by_alias.answers_to(&snap.id), "{alias} -> {by_alias:?}");
            assert_eq!(by_alias.state, snap.state);
        }
    }
}

#[tokio::test]
async fn the_list_answers_in_this_crates_reading_and_refuses_bad_queries() {
    let sandbox = Sandbox::start().await.unwrap();
    let uuids = seed_fleet(&sandbox, 7);
    let raw = Transport::builder("sixfab", sandbox.base_url())
        .auth(
            Auth::header(
                "x-api-key",
                &SecretString::from(sandbox.api_key().to_owned()),
            )
            .unwrap(),
        )
        .retry(RetryPolicy::none())
        .build()
        .unwrap();
    let list = |query: &'static [(&'static str, &'static str)]| {
        let req = raw
            .request(Method::GET, &["assets"])
            .unwrap()
            .query(query.iter().copied());
        let raw = raw.clone();
        async move { raw.send(&req).await }
    };
    let page: Value = list(&[("page", "2"), ("per_page", "3")])
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(
        (
            page["page"].clone(),
            page["per_page"].clone(),
            page["total"].clone()
        ),
        (json!(2), json!(3), json!(7))
    );
    let data = page["data"].as_array().unwrap();
    assert_eq!(data.len(), 3);
    assert_eq!(data[0]["uuid"], uuids[3]);
    // Each listed asset is written as GET /v1/assets/{id} writes it.
    let one: Value = raw
        .send(&raw.request(Method::GET, &["assets", &uuids[3]]).unwrap())
        .await
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(data[0], one);
    // Defaults: page 1 of 50.
    let page: Value = list(&[]).await.unwrap().json().unwrap();
    assert_eq!(
        (page["page"].clone(), page["per_page"].clone()),
        (json!(1), json!(50))
    );
    assert_eq!(page["data"].as_array().unwrap().len(), 7);
    // Past the last page: no assets.
    let page: Value = list(&[("page", "9")]).await.unwrap().json().unwrap();
    assert_eq!(page["data"], json!([]));

    for (query, kind) in [
        (&[("page", "0")][..], "greater_than_equal"),
        (&[("per_page", "101")][..], "less_than_equal"),
        (&[("per_page", "0")][..], "greater_than_equal"),
        (&[("page", "two")][..], "int_parsing"),
        (&[("limit", "10")][..], "extra_forbidden"),
    ] {
        let err = list(query).await.unwrap_err();
        assert_eq!(err.status(), Some(422), "{query:?}");
        let detail = &err.api().unwrap().details;
        assert!(format!("{detail:?}").contains(kind), "{query:?}: {err:?}");
    }
    let delete = raw.request(Method::DELETE, &["assets"]).unwrap();
    assert_eq!(raw.send(&delete).await.unwrap_err().status(), Some(405));
    let anonymous = Transport::builder("sixfab", sandbox.base_url())
        .build()
        .unwrap();
    let req = anonymous.request(Method::GET, &["assets"]).unwrap();
    assert_eq!(anonymous.send(&req).await.unwrap_err().status(), Some(401));
}

#[tokio::test]
async fn a_hundred_thousand_assets_seed_and_page_without_quadratic_cost() {
    use futures_util::TryStreamExt as _;

    let sandbox = Sandbox::start_with(SandboxOptions {
        record: false,
        ..SandboxOptions::default()
    })
    .await
    .unwrap();
    let started = std::time::Instant::now();
    let uuids = seed_fleet(&sandbox, 100_000);
    let seeded = started.elapsed();
    let started = std::time::Instant::now();
    let mut pages = std::pin::pin!(sandbox.client().list_assets().pages());
    let mut seen = 0;
    while let Some(page) = pages.try_next().await.unwrap() {
        assert_eq!(page.items[0].uuid.as_deref(), Some(uuids[seen].as_str()));
        seen += page.items.len();
    }
    let listed = started.elapsed();
    assert_eq!(seen, 100_000);
    assert_eq!(sandbox.server().stats().received, 1000);
    assert!(seeded < Duration::from_secs(30), "seeding took {seeded:?}");
    assert!(listed < Duration::from_secs(90), "listing took {listed:?}");
    eprintln!("100,000 Sixfab assets: seeded in {seeded:?}, listed in {listed:?}");
}
