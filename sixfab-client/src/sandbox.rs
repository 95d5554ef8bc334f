//! A local stand-in for Sixfab Connect (feature `sandbox`): try the client, or test a service,
//! with no account and no charges.
//!
//! [`Sandbox::start`] runs a server on `127.0.0.1` (an ephemeral port) with an in-memory account:
//! seed assets ([`Sandbox::seed_asset`]), point a client at it ([`Sandbox::client`]), read the
//! assets back ([`Sandbox::asset`]) and the requests it received ([`Sandbox::requests`]). Faults,
//! delays and a rate limit come from the shared server ([`Sandbox::server`]).
//!
//! ```
//! use sixfab_client::SettableStatus;
//! use sixfab_client::sandbox::{AssetSeed, Sandbox, SandboxStatus};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let sandbox = Sandbox::start().await?;
//! let uuid = sandbox.seed_asset(AssetSeed::new().name("pump station 7"));
//! let client = sandbox.client();
//!
//! client.update_asset(uuid.as_str()).status(SettableStatus::Active).send().await?;
//!
//! // The master switch: the asset and every SIM on it are active now.
//! let asset = sandbox.asset(&uuid).unwrap();
//! assert_eq!(asset.status, SandboxStatus::Active);
//! assert_eq!(asset.super_sim.unwrap().status, SandboxStatus::Active);
//! assert_eq!(asset.pro_sim.unwrap().status, SandboxStatus::Active);
//! assert_eq!(sandbox.requests().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! The server is written from Sixfab's documented rules, independently of this crate's request
//! and model types: it parses each raw request itself, so a client that sends something Sixfab
//! would refuse is refused here too.
//!
//! # Rules it enforces
//! Checked in this order (FastAPI's: route, method, credentials, body, then the endpoint's own
//! checks); every body error of one request is reported together, in one `422`.
//!
//! | request | rule | answer |
//! |---|---|---|
//! | a path other than `/v1/assets` and `/v1/assets/{asset_id}` | no such route | `404 {"detail": "Not Found"}` |
//! | `/v1/assets/{asset_id}`, a method other than `GET` or `PATCH` | no such method | `405 {"detail": "Method Not Allowed"}`, `Allow: GET, PATCH` |
//! | `/v1/assets`, a method other than `GET` | no such method | `405 {"detail": "Method Not Allowed"}`, `Allow: GET` |
//! | any, without `x-api-key` | credentials required | `401 {"detail": "Not authenticated"}` |
//! | any, `x-api-key` not the sandbox's key ([`Sandbox::api_key`]) | credentials checked | `401 {"detail": "Invalid API key"}` |
//! | `GET /v1/assets`, a query parameter other than `page` and `per_page` | no unknown parameters (a misspelt one is a client bug worth seeing) | `422`, `extra_forbidden`, `["query", key]` |
//! | `GET /v1/assets`, `page` not an integer of 1 or more, `per_page` not one from 1 to 100 | `page` ≥ 1 (default 1), 1 ≤ `per_page` ≤ 100 (default 50) | `422`, `int_parsing`, `greater_than_equal` or `less_than_equal`, `["query", key]` |
//! | `GET /v1/assets`, valid | | `200 {"data": [assets], "page", "per_page", "total"}`: the page's assets in UUID order, each as `GET /v1/assets/{asset_id}` answers it (`data` empty past the last page) |
//! | `PATCH`, empty body | a body is required | `422`, `type` `missing`, `loc` `["body"]` |
//! | `PATCH`, a content type other than `application/json` (or `…+json`) | JSON only (a body without a content type is read as JSON, as FastAPI does) | `422`, `model_attributes_type`, `["body"]` |
//! | `PATCH`, not JSON | JSON only | `422`, `json_invalid`, `["body", position]` |
//! | `PATCH`, JSON but not an object | an object | `422`, `model_attributes_type`, `["body"]` |
//! | `PATCH`, `name` not text, or not 3 to 64 characters | `name` 3–64 characters (Unicode scalar values) | `422`, `string_type`, `string_too_short` or `string_too_long`, `["body", "name"]` |
//! | `PATCH`, `status` not `active` or `inactive` | `active` \| `inactive` | `422`, `literal_error`, `["body", "status"]` |
//! | `PATCH`, `supersim` not an object, or its `network_group` not text | `{"supersim": {"network_group": ".."}}` | `422`, `model_attributes_type` or `string_type` |
//! | `PATCH`, any other key, at the top or in `supersim` | no unknown fields (a key the API would ignore is a client bug worth seeing) | `422`, `extra_forbidden`, `["body", key]` |
//! | `PATCH`, none of `name`, `status`, `supersim.network_group` (`null` sets nothing) | at least one | `422`, `value_error`, `["body"]` |
//! | `GET` / `PATCH`, `asset_id` none of an asset's serial number, UUID (any case), Super SIM SID, or either SIM's ICCID | the asset exists | `404 {"detail": "Asset not found"}` |
//! | `PATCH`, `supersim.network_group` on an asset without a Super SIM | there is a Super SIM | `422`, `value_error`, `["body", "supersim"]` |
//! | `PATCH`, `network_group` neither a preset (`default_100mb`, `default_1gb`, `default_10gb`, `default_unlimited`) nor a custom group of the account ([`Sandbox::add_network_group`]) | a known group | `422`, `value_error`, `["body", "supersim", "network_group"]`, `"network group not found"` |
//! | `PATCH`, valid | applied; `status` is the **master switch**: it sets the asset and every SIM on it (Super SIM and PRO SIM) | `200` with the asset |
//! | `GET`, valid | | `200` with the asset |
//! | any, over the rate limit ([`SandboxServer::set_rate_limit`]) | | `429 {"detail": "Too Many Requests"}`, no `Retry-After` (Sixfab documents none) |
//!
//! A `422` has FastAPI's list shape: `{"detail": [{"type", "loc", "msg", "input", "ctx"?}]}`.
//!
//! # What activation records
//! Setting an inactive asset active records what Sixfab's prices depend on (see
//! [`crate::pricing`]): each SIM that goes from inactive to active is charged this month
//! (`last_charged_at` becomes now) unless it already was; a PRO SIM's first activation is
//! remembered (`first_activated_at`); a device with an asset fee and both SIMs is charged its fee
//! (`device.asset_fee_last_charged_at`) unless it already was this month. Deactivating charges
//! nothing. An asset seeded active counts as activated and charged at seeding. These records are
//! the sandbox's stand-in for Sixfab's books, one reading among those the preview covers: the
//! sandbox charges no money and decides none of the questions Sixfab's prices leave open.
//!
//! # The ledger
//! Sixfab's published prices (its pricing documentation; the rules are listed in
//! [`crate::pricing`]): a Super SIM costs $2 a month while active, $1.60 for customers with more
//! than 10 active SIMs, charged on activation unless already charged this month; a PRO SIM its
//! service profile's monthly price while active (Europe + USA: $2), and $0.10 a month while
//! inactive, except that a PRO SIM never activated has a 6-month grace without charge; an asset
//! with both SIMs charges its asset fee on activation ($6 for an ALPON).
//!
//! The sandbox keeps time by its [`Clock`] ([`SandboxOptions::clock`]; the real one by default;
//! one clock may be shared by several sandboxes) and keeps a ledger of what those prices charge
//! ([`Sandbox::ledger`], [`Sandbox::ledger_total`]), in the reading [`ledger_readings`] states
//! where Sixfab leaves a question open:
//! - **on activation** (a request that sets an inactive asset active): each SIM not yet charged
//!   this month is charged its monthly price (a Super SIM $2, or $1.60 while the account has
//!   more than 10 active SIMs of either kind, counted with the ones being activated; a PRO SIM
//!   its service profile's price), and the asset fee of a device with both SIMs unless charged
//!   this month (entries with `reason` `"activation"`). Activating again in a month already
//!   charged, or deactivating, charges nothing;
//! - **at the first second of every month** (accrued when a virtual clock is moved past it, or
//!   at the next request or ledger read on the real clock): each active SIM not charged that
//!   month is charged its monthly price, and each inactive PRO SIM the $0.10 maintenance fee,
//!   unless it was never activated and its 6-month grace has not ended by that day (the grace
//!   ends on the day [`grace_end`](crate::pricing::grace_end) gives for the day of `added_at`,
//!   [`PRO_SIM_GRACE_MONTHS`] later, as the charge preview reckons it); the asset fee does not
//!   recur (entries with `reason` `"month"`).
//!
//! The ledger starts when the sandbox does: an asset seeded active counts as charged for its
//! seeding month before the ledger began (no entry), and is charged from the next month on.
//!
//! Each entry names the rule by the id the charge preview gives it, so a test can hold the two
//! side by side: with [`ledger_readings`] as the price book (and the account's count of active
//! SIMs as its `active_sims`), the preview of a change through the client
//! ([`Client::charge_preview`](crate::Client::charge_preview)) gives `now` as the figure the
//! activation entries then charge, and `monthly` as what each following month start charges
//! (a range that takes the count across the volume tier holds the ledger's figure).
//!
//! # The asset as the sandbox answers it
//! ```json
//! {
//!   "uuid": "5a4d0b1e-0000-4000-8000-000000000001",
//!   "serial_number": "SN-SBX-0001",
//!   "name": "sandbox asset 1",
//!   "status": "inactive",
//!   "iccid": "89882806660000000001",
//!   "device": {"type": "ALPON X4", "asset_fee": "6.00", "asset_fee_last_charged_at": null},
//!   "supersim": {"sid": "HS000…0001", "iccid": "89882806660000000001", "status": "inactive",
//!                "network_group": "default_1gb", "last_charged_at": null},
//!   "prosim": {"iccid": "8944500102000000001", "status": "inactive",
//!              "service_profile": {"name": "Europe + USA", "monthly_price": "2.00"},
//!              "first_activated_at": null, "added_at": "2025-03-14T09:12:33Z",
//!              "last_charged_at": null},
//!   "created_at": "2025-03-14T09:12:33Z"
//! }
//! ```
//! `iccid` is the Super SIM's (the PRO SIM's without one); an absent SIM or device is `null`;
//! amounts are dollars as text; times are RFC 3339 in UTC. Sixfab does not publish this shape:
//! it is the one this crate reads ([`Asset::sims`](crate::Asset::sims),
//! [`Asset::device`](crate::Asset::device)).
//!
//! # The list as the sandbox answers it
//! Sixfab documents neither the shape nor the paging of `GET /assets`. The sandbox serves the
//! reading this crate makes of it ([`list_keys`](crate::models::list_keys)), in one of the shapes
//! the client accepts: `GET /v1/assets?page=2&per_page=100` answers
//! `{"data": [..], "page": 2, "per_page": 100, "total": 10000}`. Assets are kept in UUID order,
//! so a page costs the same with 10 assets or 100,000.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::http::header::{ALLOW, CONTENT_TYPE};
use axum::http::{HeaderValue, Method, Response};
use axum::response::IntoResponse;
use chrono::{DateTime, Datelike, Months, NaiveDate, SubsecRound, TimeZone, Utc};
use percent_encoding::percent_decode_str;
use serde::Serialize;
use serde_json::{Value, json};
use simcore::charge::{AssetPrices, Money, Month, PriceBook, SimPrices};
use simsandbox::engine::{self, Answer, Call, PageRules, ids};
/// Re-exported from simsandbox: the request log, the rate limit, the server and its counters, the
/// clock and the admin view's shape.
pub use simsandbox::{
    Clock, ClockError, RateLimit, RecordedRequest, SandboxAdmin, SandboxServer, Stats,
};
use simsandbox::{OrderedStore, SandboxOptions as ServerOptions, Store, json_response, lock};

use crate::client::{Client, ClientBuilder};

/// The page size of the list when none is asked for (this sandbox's choice).
pub const DEFAULT_PAGE_SIZE: u64 = 50;
/// The largest page of the list (this crate's reading:
/// [`list_keys::MAX_PAGE_SIZE`](crate::models::list_keys::MAX_PAGE_SIZE)).
pub const MAX_PAGE_SIZE: u64 = crate::models::list_keys::MAX_PAGE_SIZE as u64;

/// How the list reads its page.
const PAGES: PageRules = PageRules {
    page: "page",
    size: "per_page",
    first: 1,
    default_size: DEFAULT_PAGE_SIZE as usize,
    max_size: MAX_PAGE_SIZE as usize,
};

/// The header that carries the API key, as the sandbox reads it.
const KEY_HEADER: &str = "x-api-key";

/// Sixfab's network group presets.
pub const PRESET_NETWORK_GROUPS: [&str; 4] = [
    "default_100mb",
    "default_1gb",
    "default_10gb",
    "default_unlimited",
];

/// The fields an update body may carry at the top level.
const UPDATE_FIELDS: [&str; 3] = ["name", "status", "supersim"];

/// An asset's or a SIM's status in the sandbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SandboxStatus {
    /// Active.
    Active,
    /// Inactive.
    Inactive,
}

impl SandboxStatus {
    /// The wire word (`"active"`, `"inactive"`).
    pub fn as_str(self) -> &'static str {
        match self {
            SandboxStatus::Active => "active",
            SandboxStatus::Inactive => "inactive",
        }
    }
}

impl fmt::Display for SandboxStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An asset as the sandbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SandboxAsset {
    /// The UUID.
    pub uuid: String,
    /// The serial number.
    pub serial_number: String,
    /// The display name.
    pub name: String,
    /// The asset's status: the master switch of its SIMs.
    pub status: SandboxStatus,
    /// The device the SIMs are in, if any.
    pub device: Option<SandboxDevice>,
    /// The Super SIM, if any.
    pub super_sim: Option<SandboxSuperSim>,
    /// The PRO SIM, if any.
    pub pro_sim: Option<SandboxProSim>,
    /// When the asset was seeded.
    pub created_at: DateTime<Utc>,
}

impl SandboxAsset {
    /// Whether `id` names this asset: its serial number, its UUID (any case), its Super SIM's
    /// SID or either SIM's ICCID.
    pub fn is_named_by(&self, id: &str) -> bool {
        self.serial_number == id
            || self.uuid.eq_ignore_ascii_case(id)
            || self
                .super_sim
                .as_ref()
                .is_some_and(|s| s.sid == id || s.iccid == id)
            || self.pro_sim.as_ref().is_some_and(|s| s.iccid == id)
    }

    /// Every id the asset answers to.
    pub fn ids(&self) -> Vec<&str> {
        let mut ids = vec![self.serial_number.as_str(), self.uuid.as_str()];
        if let Some(s) = &self.super_sim {
            ids.extend([s.sid.as_str(), s.iccid.as_str()]);
        }
        if let Some(s) = &self.pro_sim {
            ids.push(s.iccid.as_str());
        }
        ids
    }

    /// The asset as the sandbox answers it (see the [module docs](self)).
    pub fn to_json(&self) -> Value {
        let dollars = |cents: u64| format!("{}.{:02}", cents / 100, cents % 100);
        let (sup, pro) = (self.super_sim.as_ref(), self.pro_sim.as_ref());
        json!({
            "uuid": self.uuid,
            "serial_number": self.serial_number,
            "name": self.name,
            "status": self.status.as_str(),
            "iccid": sup.map(|s| &s.iccid).or(pro.map(|s| &s.iccid)),
            "device": self.device.as_ref().map(|d| json!({
                "type": d.kind,
                "asset_fee": dollars(d.asset_fee_cents),
                "asset_fee_last_charged_at": d.asset_fee_last_charged_at.map(time),
            })),
            "supersim": sup.map(|s| json!({
                "sid": s.sid,
                "iccid": s.iccid,
                "status": s.status.as_str(),
                "network_group": s.network_group,
                "last_charged_at": s.last_charged_at.map(time),
            })),
            "prosim": pro.map(|s| json!({
                "iccid": s.iccid,
                "status": s.status.as_str(),
                "service_profile": {"name": s.service_profile, "monthly_price": dollars(s.monthly_price_cents)},
                "first_activated_at": s.first_activated_at.map(time),
                "added_at": time(s.added_at),
                "last_charged_at": s.last_charged_at.map(time),
            })),
            "created_at": time(self.created_at),
        })
    }

    /// The master switch: sets the asset and every SIM on it to `status`, recording what an
    /// activation charges (see the [module docs](self#what-activation-records)).
    fn switch(&mut self, status: SandboxStatus, now: DateTime<Utc>) -> Vec<&'static str> {
        let activating = status == SandboxStatus::Active;
        let mut charged = Vec::new();
        if let Some(s) = &mut self.super_sim {
            if activating && s.status == SandboxStatus::Inactive {
                charge(&mut charged, "super_sim", &mut s.last_charged_at, now);
            }
            s.status = status;
        }
        if let Some(s) = &mut self.pro_sim {
            if activating && s.status == SandboxStatus::Inactive {
                charge(&mut charged, "pro_sim", &mut s.last_charged_at, now);
                s.first_activated_at.get_or_insert(now);
            }
            s.status = status;
        }
        let both = self.super_sim.is_some() && self.pro_sim.is_some();
        if let Some(d) = &mut self.device {
            if activating && self.status == SandboxStatus::Inactive && both && d.asset_fee_cents > 0
            {
                charge(
                    &mut charged,
                    "asset_fee",
                    &mut d.asset_fee_last_charged_at,
                    now,
                );
            }
        }
        self.status = status;
        charged
    }
}

/// Records a charge of `item` at `now` unless one was recorded this month.
fn charge(
    charged: &mut Vec<&'static str>,
    item: &'static str,
    last: &mut Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) {
    if !last.is_some_and(|t| same_month(t, now)) {
        *last = Some(now);
        charged.push(item);
    }
}

fn same_month(a: DateTime<Utc>, b: DateTime<Utc>) -> bool {
    (a.year(), a.month()) == (b.year(), b.month())
}

/// A time as the sandbox writes it: RFC 3339 in UTC, to the second.
fn time(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The device an asset's SIMs are in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SandboxDevice {
    /// The device type (`"ALPON X4"`).
    pub kind: String,
    /// Its asset fee in cents (0: none).
    pub asset_fee_cents: u64,
    /// When the asset fee was last charged.
    pub asset_fee_last_charged_at: Option<DateTime<Utc>>,
}

impl SandboxDevice {
    /// A device of a type with an asset fee in cents.
    pub fn new(kind: impl Into<String>, asset_fee_cents: u64) -> Self {
        Self {
            kind: kind.into(),
            asset_fee_cents,
            asset_fee_last_charged_at: None,
        }
    }

    /// An ALPON X4 with Sixfab's $6 asset fee.
    pub fn alpon() -> Self {
        Self::new("ALPON X4", 600)
    }
}

/// An asset's Super SIM in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SandboxSuperSim {
    /// The SID (`HS` and 32 hexadecimal digits).
    pub sid: String,
    /// The ICCID.
    pub iccid: String,
    /// The status.
    pub status: SandboxStatus,
    /// The network group.
    pub network_group: String,
    /// When its monthly price was last charged.
    pub last_charged_at: Option<DateTime<Utc>>,
}

/// An asset's PRO SIM in the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SandboxProSim {
    /// The ICCID.
    pub iccid: String,
    /// The status.
    pub status: SandboxStatus,
    /// The service profile's name.
    pub service_profile: String,
    /// The service profile's monthly price in cents.
    pub monthly_price_cents: u64,
    /// When it was first activated; `None` if never.
    pub first_activated_at: Option<DateTime<Utc>>,
    /// When it came to the account (the start of a never-activated SIM's grace).
    pub added_at: DateTime<Utc>,
    /// When its monthly price was last charged.
    pub last_charged_at: Option<DateTime<Utc>>,
}

/// What to seed: an asset with sensible defaults, every interesting field settable.
///
/// The default is an inactive ALPON X4 with a Super SIM (network group `default_1gb`) and a PRO
/// SIM (the default profile, Europe + USA at $2, never activated, added now); ids left `None` are
/// made up, unique in the sandbox.
///
/// ```
/// use sixfab_client::sandbox::{AssetSeed, ProSimSeed, SandboxStatus};
///
/// let seed = AssetSeed::new()
///     .name("pump station 7")
///     .status(SandboxStatus::Active)
///     .serial_number("SN-ALPON-0042")
///     .pro_sim(Some(ProSimSeed { service_profile: "Asia".into(), monthly_price_cents: 450, ..ProSimSeed::default() }));
/// assert!(seed.super_sim.is_some());
/// ```
#[derive(Debug, Clone)]
pub struct AssetSeed {
    /// The display name (`None`: `"sandbox asset N"`).
    pub name: Option<String>,
    /// The asset's status, and so every SIM's.
    pub status: SandboxStatus,
    /// The serial number (`None`: `SN-SBX-NNNN`).
    pub serial_number: Option<String>,
    /// The UUID (`None`: made up).
    pub uuid: Option<String>,
    /// The device (`None`: no device, no asset fee).
    pub device: Option<SandboxDevice>,
    /// The Super SIM (`None`: none).
    pub super_sim: Option<SuperSimSeed>,
    /// The PRO SIM (`None`: none).
    pub pro_sim: Option<ProSimSeed>,
}

impl Default for AssetSeed {
    fn default() -> Self {
        Self {
            name: None,
            status: SandboxStatus::Inactive,
            serial_number: None,
            uuid: None,
            device: Some(SandboxDevice::alpon()),
            super_sim: Some(SuperSimSeed::default()),
            pro_sim: Some(ProSimSeed::default()),
        }
    }
}

impl AssetSeed {
    /// The default seed (see [`AssetSeed`]).
    pub fn new() -> Self {
        Self::default()
    }
}

simsandbox::setters!(AssetSeed {
    /// Sets the display name (seeded as given, unchecked).
    name: impl Into<String> => Some,
    /// Sets the status of the asset and its SIMs.
    status: SandboxStatus,
    /// Sets the serial number.
    serial_number: impl Into<String> => Some,
    /// Sets the UUID.
    uuid: impl Into<String> => Some,
    /// Sets the device (`None`: no device).
    device: Option<SandboxDevice>,
    /// Sets the Super SIM (`None`: none).
    super_sim: Option<SuperSimSeed>,
    /// Sets the PRO SIM (`None`: none).
    pro_sim: Option<ProSimSeed>,
});

/// What to seed for a Super SIM; `None` fields are made up (or `default_1gb`).
#[derive(Debug, Clone, Default)]
pub struct SuperSimSeed {
    /// The SID.
    pub sid: Option<String>,
    /// The ICCID.
    pub iccid: Option<String>,
    /// The network group (`None`: `default_1gb`).
    pub network_group: Option<String>,
}

/// What to seed for a PRO SIM.
#[derive(Debug, Clone)]
pub struct ProSimSeed {
    /// The ICCID (`None`: made up).
    pub iccid: Option<String>,
    /// The service profile's name (default `"Europe + USA"`).
    pub service_profile: String,
    /// The service profile's monthly price in cents (default 200).
    pub monthly_price_cents: u64,
    /// When it was first activated (`None`: never, or at seeding when the asset is seeded
    /// active).
    pub first_activated_at: Option<DateTime<Utc>>,
    /// When it came to the account (`None`: at seeding).
    pub added_at: Option<DateTime<Utc>>,
}

impl Default for ProSimSeed {
    fn default() -> Self {
        Self {
            iccid: None,
            service_profile: "Europe + USA".to_owned(),
            monthly_price_cents: 200,
            first_activated_at: None,
            added_at: None,
        }
    }
}

/// How the sandbox starts ([`Sandbox::start_with`]).
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// A rate limit from the start (none by default); see also
    /// [`SandboxServer::set_rate_limit`]. The 429 never carries `Retry-After`, whatever
    /// `retry_after` says: Sixfab documents none.
    pub rate_limit: Option<RateLimit>,
    /// Whether to keep the request log (on by default; benchmarks turn it off).
    pub record: bool,
    /// The clock the sandbox keeps time by (the real one by default): its timestamps, and the
    /// months its [ledger](Sandbox::ledger) charges, which a virtual clock moved forward accrues.
    pub clock: Clock,
    /// The port on `127.0.0.1` to listen on (`0`, the default: an ephemeral one).
    pub port: u16,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            rate_limit: None,
            record: true,
            clock: Clock::real(),
            port: 0,
        }
    }
}

/// The account the server answers for.
struct Account {
    api_key: String,
    /// Assets by UUID, in UUID order: a page of the list is found by its offset.
    assets: OrderedStore<String, SandboxAsset>,
    /// Every id an asset answers to, to its UUID: a lookup costs the same with 10 assets or
    /// 100,000.
    index: Store<String, String>,
    network_groups: Mutex<Vec<String>>,
    seeded: AtomicU64,
    clock: Clock,
    ledger: Mutex<Ledger>,
    /// Active SIMs on the account, both kinds (what Sixfab's volume price counts).
    active_sims: AtomicU64,
}

/// The charges recorded so far, and up to when the months have been accrued.
struct Ledger {
    entries: Vec<LedgerEntry>,
    accrued_through: DateTime<Utc>,
}

/// A running Sixfab Connect sandbox. Stops when dropped.
pub struct Sandbox {
    server: SandboxServer,
    account: Arc<Account>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("base_url", &self.base_url())
            .field("api_key", &"[redacted]")
            .field("assets", &self.account.assets.len())
            .finish()
    }
}

impl Sandbox {
    /// Starts a sandbox with options (a rate limit from the start, no request log).
    pub async fn start_with(options: SandboxOptions) -> std::io::Result<Sandbox> {
        let account = Arc::new(Account {
            api_key: ids::credential(&ids::hex(32)),
            assets: OrderedStore::new(),
            index: Store::new(),
            network_groups: Mutex::new(Vec::new()),
            seeded: AtomicU64::new(0),
            ledger: Mutex::new(Ledger {
                entries: Vec::new(),
                accrued_through: options.clock.now(),
            }),
            clock: options.clock.clone(),
            active_sims: AtomicU64::new(0),
        });
        options
            .clock
            .on_advance(&account, |account, now| account.accrue(now));
        let server_options = ServerOptions {
            rate_limit: options.rate_limit,
            throttle: Arc::new(|_wait| json_response(429, &json!({"detail": "Too Many Requests"}))),
            record: options.record,
        };
        let router = engine::router(account.clone(), route);
        let server = SandboxServer::start_on_port(router, server_options, options.port).await?;
        Ok(Sandbox { server, account })
    }

    /// The base URL to give a client: `http://127.0.0.1:PORT/v1`, like Sixfab's.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.server.base_url())
    }

    /// The API key the sandbox accepts.
    pub fn api_key(&self) -> &str {
        &self.account.api_key
    }

    /// A client builder already pointed at the sandbox with its API key; set timeouts, retries
    /// or account facts, then `build()`.
    pub fn client_builder(&self) -> ClientBuilder {
        Client::builder()
            .api_key(self.account.api_key.clone())
            .base_url(self.base_url())
    }

    /// A client pointed at the sandbox with its API key and default settings.
    pub fn client(&self) -> Client {
        self.client_builder()
            .build()
            .expect("a loopback base URL and a non-empty key always build")
    }

    /// Seeds an asset and returns its UUID.
    ///
    /// # Panics
    /// If one of the seed's ids (serial number, UUID, SID, ICCIDs) already names an asset in
    /// the sandbox: asset ids are unique.
    pub fn seed_asset(&self, seed: AssetSeed) -> String {
        let n = self.account.seeded.fetch_add(1, Ordering::Relaxed) + 1;
        let now = self.account.now();
        self.account.accrue(now);
        let active = seed.status == SandboxStatus::Active;
        let charged = active.then_some(now);
        let super_sim = seed.super_sim.map(|s| SandboxSuperSim {
            sid: s.sid.unwrap_or_else(|| format!("HS{n:032x}")),
            iccid: s.iccid.unwrap_or_else(|| format!("8988280666{n:010}")),
            status: seed.status,
            network_group: s.network_group.unwrap_or_else(|| "default_1gb".to_owned()),
            last_charged_at: charged,
        });
        let pro_sim = seed.pro_sim.map(|s| SandboxProSim {
            iccid: s.iccid.unwrap_or_else(|| format!("8944500102{n:09}")),
            status: seed.status,
            service_profile: s.service_profile,
            monthly_price_cents: s.monthly_price_cents,
            first_activated_at: s.first_activated_at.or(charged),
            added_at: s.added_at.unwrap_or(now),
            last_charged_at: charged,
        });
        let both = super_sim.is_some() && pro_sim.is_some();
        let device = seed.device.map(|mut d| {
            if active && both && d.asset_fee_cents > 0 && d.asset_fee_last_charged_at.is_none() {
                d.asset_fee_last_charged_at = Some(now);
            }
            d
        });
        let asset = SandboxAsset {
            uuid: seed
                .uuid
                .unwrap_or_else(|| format!("5a4d0b1e-0000-4000-8000-{n:012x}")),
            serial_number: seed
                .serial_number
                .unwrap_or_else(|| format!("SN-SBX-{n:04}")),
            name: seed.name.unwrap_or_else(|| format!("sandbox asset {n}")),
            status: seed.status,
            device,
            super_sim,
            pro_sim,
            created_at: now,
        };
        for id in asset.ids() {
            if let Some(other) = self.account.find(id) {
                panic!(
                    "sandbox: {id:?} already names asset {}; asset ids are unique",
                    other.uuid
                );
            }
        }
        let uuid = asset.uuid.clone();
        self.account
            .active_sims
            .fetch_add(asset.active_sims(), Ordering::Relaxed);
        self.account.insert(asset);
        uuid
    }

    /// Seeds many assets and returns their UUIDs in order (a fleet for a list test).
    ///
    /// # Panics
    /// As [`seed_asset`](Self::seed_asset) does.
    pub fn seed_assets(&self, seeds: impl IntoIterator<Item = AssetSeed>) -> Vec<String> {
        seeds
            .into_iter()
            .map(|seed| self.seed_asset(seed))
            .collect()
    }

    /// The asset `id` names (serial number, UUID, SIM SID or SIM ICCID), as it is now.
    pub fn asset(&self, id: &str) -> Option<SandboxAsset> {
        self.account.find(id)
    }

    /// Every asset, ordered by serial number.
    pub fn assets(&self) -> Vec<SandboxAsset> {
        let mut all = self.account.assets.values();
        all.sort_by(|a, b| a.serial_number.cmp(&b.serial_number));
        all
    }

    /// Adds a custom network group to the account, so updates may name it.
    pub fn add_network_group(&self, name: impl Into<String>) {
        let name = name.into();
        let mut groups = lock(&self.account.network_groups);
        if !groups.contains(&name) {
            groups.push(name);
        }
    }

    /// The account's custom network groups (the presets are always accepted).
    pub fn network_groups(&self) -> Vec<String> {
        lock(&self.account.network_groups).clone()
    }

    /// Every charge the sandbox has recorded so far, in order, with the months up to now accrued
    /// (see the [module docs](self#the-ledger)).
    pub fn ledger(&self) -> Vec<LedgerEntry> {
        self.account.accrue(self.account.clock.now());
        lock(&self.account.ledger).entries.clone()
    }

    /// The sum of every charge in the [ledger](Self::ledger), with the months up to now
    /// accrued.
    pub fn ledger_total(&self) -> Money {
        self.ledger()
            .iter()
            .fold(Money::ZERO, |sum, e| sum + e.amount)
    }

    /// Everything the sandbox holds, as JSON (see [`SandboxAdmin::state_json`]), with the
    /// months up to now accrued: the clock, each asset as `GET /v1/assets/{asset_id}` answers it
    /// (by serial number), the account's custom network groups, its count of active SIMs (what
    /// the volume price counts), and the ledger: `{"accrued_through", "total", "entries"}`,
    /// each entry as [`LedgerEntry`] serializes (`amount` in dollars as text, `month` as
    /// `{"year", "month"}`). The API key is not in it.
    pub fn state_json(&self) -> Value {
        let entries = self.ledger();
        let total = entries.iter().fold(Money::ZERO, |sum, e| sum + e.amount);
        let accrued_through = lock(&self.account.ledger).accrued_through;
        let assets: Vec<Value> = self.assets().iter().map(SandboxAsset::to_json).collect();
        json!({
            "provider": crate::PROVIDER,
            "clock": self.account.clock.state_json(),
            "assets": assets,
            "network_groups": self.network_groups(),
            "active_sims": self.account.active_sims.load(Ordering::Relaxed),
            "ledger": {
                "accrued_through": time(accrued_through),
                "total": total,
                "entries": entries,
            },
        })
    }
}

/// A never-activated PRO SIM is free of the maintenance fee for this many months after it came
/// to the account (Sixfab's grace): the charge preview's figure, so the two cannot differ.
pub use crate::pricing::PRO_SIM_GRACE_MONTHS;
/// A Super SIM's monthly price, in cents (Sixfab: $2).
pub const SUPER_SIM_MONTHLY_CENTS: u64 = 200;
/// A Super SIM's monthly price for customers with more than [`VOLUME_ABOVE`] active SIMs, in
/// cents (Sixfab: $1.60).
pub const SUPER_SIM_VOLUME_CENTS: u64 = 160;
/// The volume price applies above this many active SIMs on the account (both kinds).
pub const VOLUME_ABOVE: u64 = 10;
/// An inactive PRO SIM's monthly maintenance fee, in cents (Sixfab: $0.10).
pub const PRO_SIM_MAINTENANCE_CENTS: u64 = 10;

/// One charge the sandbox recorded in its ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct LedgerEntry {
    /// When it was charged: an activation's moment, or the first second of a month.
    pub at: DateTime<Utc>,
    /// The month it pays for.
    pub month: Month,
    /// The asset's UUID.
    pub asset: String,
    /// The asset's serial number.
    pub serial_number: String,
    /// What is charged: `"super_sim"`, `"pro_sim"`, `"pro_sim_maintenance"` or `"asset_fee"`.
    pub item: &'static str,
    /// The amount, in US dollars.
    pub amount: Money,
    /// The rule behind it, by the id the charge preview gives the same rule
    /// ([`crate::pricing`]): `sixfab.super-sim.active`, `sixfab.pro-sim.active`,
    /// `sixfab.pro-sim.inactive`, `sixfab.asset-fee`.
    pub rule: &'static str,
    /// Why now: `"activation"` or `"month"`.
    pub reason: &'static str,
}

/// The answers the sandbox's ledger gives to the questions Sixfab's prices leave open, as a price
/// book: with it (and the account's active SIM count as `active_sims`), the charge preview of
/// [`crate::pricing`] is one figure, and the ledger charges that figure.
///
/// - a PRO SIM is charged for the month it is activated in, like the Super SIM;
/// - the asset fee comes on top of the SIM fees, on activation only (not every month), once a
///   month at most.
pub fn ledger_readings() -> PriceBook {
    let mut book = PriceBook::default();
    book.sims.insert(
        crate::pricing::PRO_SIM.to_owned(),
        SimPrices {
            activation_month_billed: Some(true),
            ..SimPrices::default()
        },
    );
    book.assets.insert(
        crate::pricing::ALPON.to_owned(),
        AssetPrices {
            replaces_sim_fees: Some(false),
            recurs_monthly: Some(false),
            once_a_month: Some(true),
            ..AssetPrices::default()
        },
    );
    book
}

/// The first second of the month after the one `t` is in.
fn next_month_start(t: DateTime<Utc>) -> Option<DateTime<Utc>> {
    let first =
        NaiveDate::from_ymd_opt(t.year(), t.month(), 1)?.checked_add_months(Months::new(1))?;
    Some(Utc.from_utc_datetime(&first.and_hms_opt(0, 0, 0)?))
}

/// What each item charged is charged by: the rule's id, as the charge preview gives it.
const RULES: [(&str, &str); 4] = [
    ("super_sim", "sixfab.super-sim.active"),
    ("pro_sim", "sixfab.pro-sim.active"),
    ("pro_sim_maintenance", "sixfab.pro-sim.inactive"),
    ("asset_fee", "sixfab.asset-fee"),
];

impl SandboxAsset {
    /// How many of its SIMs are active.
    fn active_sims(&self) -> u64 {
        let sup = self
            .super_sim
            .as_ref()
            .is_some_and(|s| s.status == SandboxStatus::Active);
        let pro = self
            .pro_sim
            .as_ref()
            .is_some_and(|s| s.status == SandboxStatus::Active);
        u64::from(sup) + u64::from(pro)
    }

    /// What the month starting at `start` charges the asset as it is, recording the active
    /// prices as charged.
    fn month_charges(&mut self, start: DateTime<Utc>, super_sim_cents: u64) -> Vec<LedgerEntry> {
        let mut items = Vec::new();
        if let Some(s) = &mut self.super_sim {
            if s.status == SandboxStatus::Active {
                charge(&mut items, "super_sim", &mut s.last_charged_at, start);
            }
        }
        if let Some(s) = &mut self.pro_sim {
            // The grace ends on a day, as the charge preview reckons it: the month starting on
            // that day is charged.
            let grace_over = s.first_activated_at.is_some()
                || crate::pricing::grace_end(s.added_at.date_naive()) <= start.date_naive();
            match s.status {
                SandboxStatus::Active => {
                    charge(&mut items, "pro_sim", &mut s.last_charged_at, start)
                }
                SandboxStatus::Inactive if grace_over => items.push("pro_sim_maintenance"),
                SandboxStatus::Inactive => {}
            }
        }
        (items.into_iter())
            .map(|item| self.entry(start, item, super_sim_cents, "month"))
            .collect()
    }

    /// The ledger entry of `item` charged at `at`.
    fn entry(
        &self,
        at: DateTime<Utc>,
        item: &'static str,
        super_sim_cents: u64,
        reason: &'static str,
    ) -> LedgerEntry {
        let cents = match item {
            "super_sim" => super_sim_cents,
            "pro_sim" => self.pro_sim.as_ref().map_or(0, |s| s.monthly_price_cents),
            "asset_fee" => self.device.as_ref().map_or(0, |d| d.asset_fee_cents),
            _ => PRO_SIM_MAINTENANCE_CENTS,
        };
        LedgerEntry {
            at,
            month: Month::of(at.date_naive()),
            asset: self.uuid.clone(),
            serial_number: self.serial_number.clone(),
            item,
            amount: Money::from_cents(cents),
            rule: RULES.iter().find(|(i, _)| *i == item).map_or("", |r| r.1),
            reason,
        }
    }
}

simsandbox::sandbox_basics!(Sandbox, crate::PROVIDER, server, account.clock);

async fn route(account: Arc<Account>, call: Call) -> Response<Body> {
    account.answer(&call).into_response()
}

/// A `{"detail": "..."}` answer.
fn detail(status: u16, text: &str) -> Response<Body> {
    json_response(status, &json!({ "detail": text }))
}

fn not_found() -> Response<Body> {
    detail(404, "Asset not found")
}

/// A `422` with FastAPI's list of validation errors.
fn unprocessable(items: Vec<Value>) -> Response<Body> {
    json_response(422, &json!({ "detail": items }))
}

/// One FastAPI validation error (`ctx` left out when `null`).
fn item(kind: &str, loc: Value, msg: &str, input: Value, ctx: Value) -> Value {
    let mut item = json!({"type": kind, "loc": loc, "msg": msg, "input": input});
    if !ctx.is_null() {
        item["ctx"] = ctx;
    }
    item
}

fn not_an_object(loc: Value, input: Value) -> Value {
    let msg = "Input should be a valid dictionary or object to extract fields from";
    item("model_attributes_type", loc, msg, input, Value::Null)
}

fn not_a_string(loc: Value, input: &Value) -> Value {
    let msg = "Input should be a valid string";
    item("string_type", loc, msg, input.clone(), Value::Null)
}

fn extra(loc: Value, input: &Value) -> Value {
    let msg = "Extra inputs are not permitted";
    item("extra_forbidden", loc, msg, input.clone(), Value::Null)
}

/// An update body, checked.
#[derive(Debug, Default, PartialEq)]
struct Patch {
    name: Option<String>,
    status: Option<SandboxStatus>,
    network_group: Option<String>,
}

/// Reads an update body as Sixfab's FastAPI would; every error found is reported.
fn parse_patch(call: &Call) -> Result<Patch, Vec<Value>> {
    let body = &call.body[..];
    if body.is_empty() {
        let missing = item(
            "missing",
            json!(["body"]),
            "Field required",
            Value::Null,
            Value::Null,
        );
        return Err(vec![missing]);
    }
    // No content type is read as JSON, as FastAPI does; so is `application/…+json`.
    let is_json = call.headers.get(CONTENT_TYPE).is_none_or(|v| {
        let ct = String::from_utf8_lossy(v.as_bytes()).to_ascii_lowercase();
        let essence = ct.split(';').next().unwrap_or_default().trim();
        essence == "application/json"
            || (essence.starts_with("application/") && essence.ends_with("+json"))
    });
    let value: Value = match is_json {
        true => serde_json::from_slice(body).map_err(|e| {
            let loc = json!(["body", error_position(body, &e)]);
            let ctx = json!({"error": e.to_string()});
            vec![item(
                "json_invalid",
                loc,
                "JSON decode error",
                json!({}),
                ctx,
            )]
        })?,
        false => Value::String(String::from_utf8_lossy(body).into_owned()),
    };
    let Value::Object(obj) = &value else {
        return Err(vec![not_an_object(json!(["body"]), value)]);
    };
    let (mut errors, mut patch) = (Vec::new(), Patch::default());
    let name_loc = || json!(["body", "name"]);
    match obj.get("name") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => match s.chars().count() {
            n if n < 3 => errors.push(item(
                "string_too_short",
                name_loc(),
                "String should have at least 3 characters",
                json!(s),
                json!({"min_length": 3}),
            )),
            n if n > 64 => errors.push(item(
                "string_too_long",
                name_loc(),
                "String should have at most 64 characters",
                json!(s),
                json!({"max_length": 64}),
            )),
            _ => patch.name = Some(s.clone()),
        },
        Some(other) => errors.push(not_a_string(name_loc(), other)),
    }
    match obj.get("status") {
        None | Some(Value::Null) => {}
        Some(v) if *v == "active" => patch.status = Some(SandboxStatus::Active),
        Some(v) if *v == "inactive" => patch.status = Some(SandboxStatus::Inactive),
        Some(other) => errors.push(item(
            "literal_error",
            json!(["body", "status"]),
            "Input should be 'active' or 'inactive'",
            other.clone(),
            json!({"expected": "'active' or 'inactive'"}),
        )),
    }
    match obj.get("supersim") {
        None | Some(Value::Null) => {}
        Some(Value::Object(sim)) => {
            match sim.get("network_group") {
                None | Some(Value::Null) => {}
                Some(Value::String(g)) => patch.network_group = Some(g.clone()),
                Some(v) => errors.push(not_a_string(
                    json!(["body", "supersim", "network_group"]),
                    v,
                )),
            }
            for (k, v) in sim.iter().filter(|(k, _)| *k != "network_group") {
                errors.push(extra(json!(["body", "supersim", k]), v));
            }
        }
        Some(other) => errors.push(not_an_object(json!(["body", "supersim"]), other.clone())),
    }
    for (k, v) in obj {
        if !UPDATE_FIELDS.contains(&k.as_str()) {
            errors.push(extra(json!(["body", k]), v));
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    if patch == Patch::default() {
        let msg = "Value error, at least one of name, status or supersim.network_group is required";
        let ctx = json!({"error": {}});
        return Err(vec![item(
            "value_error",
            json!(["body"]),
            msg,
            value.clone(),
            ctx,
        )]);
    }
    Ok(patch)
}

/// The index key of a UUID: UUIDs match in any case.
fn uuid_key(id: &str) -> String {
    format!("uuid:{}", id.to_ascii_lowercase())
}

/// The character position of a JSON error, from its line and column.
fn error_position(body: &[u8], e: &serde_json::Error) -> usize {
    let text = String::from_utf8_lossy(body);
    let before: usize = text
        .split('\n')
        .take(e.line().saturating_sub(1))
        .map(|l| l.chars().count() + 1)
        .sum();
    before + e.column().saturating_sub(1)
}

impl Account {
    /// Now on the sandbox's clock, to the second.
    fn now(&self) -> DateTime<Utc> {
        self.clock.now().trunc_subsecs(0)
    }

    /// A Super SIM's monthly price with `active` SIMs on the account.
    fn super_sim_cents(active: u64) -> u64 {
        if active > VOLUME_ABOVE {
            SUPER_SIM_VOLUME_CENTS
        } else {
            SUPER_SIM_MONTHLY_CENTS
        }
    }

    /// Charges every month that started since the last accrual, up to `now`, to each asset as
    /// it is (nothing changes an asset between two requests).
    fn accrue(&self, now: DateTime<Utc>) {
        let mut ledger = lock(&self.ledger);
        let mut start = next_month_start(ledger.accrued_through);
        while let Some(month) = start.filter(|m| *m <= now) {
            let price = Self::super_sim_cents(self.active_sims.load(Ordering::Relaxed));
            for asset in self.assets.values() {
                let charged = self
                    .assets
                    .update(&asset.uuid, |a| a.month_charges(month, price));
                ledger.entries.extend(charged.unwrap_or_default());
            }
            start = next_month_start(month);
        }
        if now > ledger.accrued_through {
            ledger.accrued_through = now;
        }
    }

    fn find(&self, id: &str) -> Option<SandboxAsset> {
        let uuid = self
            .index
            .get(&id.to_owned())
            .or_else(|| self.index.get(&uuid_key(id)))?;
        self.assets.get(&uuid)
    }

    /// Stores an asset and indexes every id it answers to (ids never change).
    fn insert(&self, asset: SandboxAsset) {
        for id in asset.ids() {
            let key = if id == asset.uuid {
                uuid_key(id)
            } else {
                id.to_owned()
            };
            self.index.insert(key, asset.uuid.clone());
        }
        self.assets.insert(asset.uuid.clone(), asset);
    }

    /// `GET /v1/assets`: a page of assets in UUID order, in this crate's reading of the list
    /// (`{"data": [..], "page", "per_page", "total"}`; see the module docs).
    fn list(&self, call: &Call) -> Response<Body> {
        let (mut ask, mut errors) = (PAGES.start(), Vec::new());
        for (key, value) in call.query_pairs() {
            let (loc, input) = (json!(["query", key]), json!(value));
            errors.push(
                match (PAGES.read(&mut ask, &key, &value), value.parse::<u64>()) {
                    (Some(Ok(())), _) => continue,
                    (None, _) => extra(loc, &input),
                    (Some(Err(_)), Err(_)) => {
                        let msg =
                            "Input should be a valid integer, unable to parse string as an integer";
                        item("int_parsing", loc, msg, input, Value::Null)
                    }
                    (Some(Err(_)), Ok(0)) => {
                        let msg = "Input should be greater than or equal to 1";
                        item("greater_than_equal", loc, msg, input, json!({"ge": 1}))
                    }
                    (Some(Err(_)), Ok(_)) => {
                        let msg = format!("Input should be less than or equal to {MAX_PAGE_SIZE}");
                        item(
                            "less_than_equal",
                            loc,
                            &msg,
                            input,
                            json!({"le": MAX_PAGE_SIZE}),
                        )
                    }
                },
            );
        }
        if !errors.is_empty() {
            return unprocessable(errors);
        }
        let page = self.assets.page(ask.offset(), ask.size);
        let data: Vec<Value> = page.iter().map(SandboxAsset::to_json).collect();
        let total = self.assets.len();
        json_response(
            200,
            &json!({"data": data, "page": ask.page, "per_page": ask.size, "total": total}),
        )
    }

    /// Answers one request.
    fn answer(&self, call: &Call) -> Answer {
        // Months that began since the last request are charged before anything changes.
        let now = self.now();
        self.accrue(now);
        let (id, allow) = match call.segments("/v1").as_deref() {
            Some(["assets"]) => (None, "GET"),
            Some(["assets", raw]) if !raw.is_empty() => (
                Some(percent_decode_str(raw).decode_utf8_lossy().into_owned()),
                "GET, PATCH",
            ),
            _ => return Err(detail(404, "Not Found").into()),
        };
        if !allow.split(", ").any(|m| call.method == m) {
            let mut refused = detail(405, "Method Not Allowed");
            refused
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static(allow));
            return Err(refused.into());
        }
        match call.headers.get(KEY_HEADER) {
            None => return Err(detail(401, "Not authenticated").into()),
            Some(key) if key.as_bytes() != self.api_key.as_bytes() => {
                return Err(detail(401, "Invalid API key").into());
            }
            Some(_) => {}
        }
        let Some(id) = id else {
            return Ok(self.list(call));
        };
        if call.method == Method::GET {
            let asset = self.find(&id).ok_or_else(not_found)?;
            return Ok(json_response(200, &asset.to_json()));
        }
        let patch = parse_patch(call).map_err(unprocessable)?;
        let asset = self.find(&id).ok_or_else(not_found)?;
        if let Some(group) = &patch.network_group {
            if asset.super_sim.is_none() {
                let msg = "Value error, the asset has no Super SIM";
                let input = json!({"network_group": group});
                let loc = json!(["body", "supersim"]);
                let refused = item("value_error", loc, msg, input, json!({"error": {}}));
                return Err(unprocessable(vec![refused]).into());
            }
            let custom = || lock(&self.network_groups).iter().any(|g| g == group);
            if !PRESET_NETWORK_GROUPS.contains(&group.as_str()) && !custom() {
                let loc = json!(["body", "supersim", "network_group"]);
                let refused = item(
                    "value_error",
                    loc,
                    "network group not found",
                    json!(group),
                    Value::Null,
                );
                return Err(unprocessable(vec![refused]).into());
            }
        }
        // One step under the ledger's lock: the active count and the charges it prices agree.
        let mut ledger = lock(&self.ledger);
        let updated = self.assets.update(&asset.uuid, |a| {
            let was = a.active_sims();
            if let Some(name) = &patch.name {
                a.name = name.clone();
            }
            if let (Some(group), Some(sim)) = (&patch.network_group, &mut a.super_sim) {
                sim.network_group = group.clone();
            }
            let charged = patch.status.map(|s| a.switch(s, now)).unwrap_or_default();
            let active =
                (self.active_sims.load(Ordering::Relaxed) + a.active_sims()).saturating_sub(was);
            self.active_sims.store(active, Ordering::Relaxed);
            let price = Self::super_sim_cents(active);
            let charges: Vec<_> = (charged.into_iter())
                .map(|item| a.entry(now, item, price, "activation"))
                .collect();
            (a.to_json(), charges)
        });
        let (body, charges) = updated.ok_or_else(not_found)?;
        ledger.entries.extend(charges);
        Ok(json_response(200, &body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn account() -> Account {
        Account {
            api_key: "key".into(),
            assets: OrderedStore::new(),
            index: Store::new(),
            network_groups: Mutex::new(vec!["fleet-eu".into()]),
            seeded: AtomicU64::new(0),
            clock: Clock::real(),
            ledger: Mutex::new(Ledger {
                entries: Vec::new(),
                accrued_through: Utc::now(),
            }),
            active_sims: AtomicU64::new(0),
        }
    }

    fn seeded() -> (Account, SandboxAsset) {
        let a = account();
        let t = DateTime::parse_from_rfc3339("2025-01-10T08:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let asset = SandboxAsset {
            uuid: "3f2b8c1e-9d4a-4e6b-8a7c-1d2e3f4a5b6c".into(),
            serial_number: "SN 1/2".into(),
            name: "pump station 7".into(),
            status: SandboxStatus::Inactive,
            device: Some(SandboxDevice::alpon()),
            super_sim: Some(SandboxSuperSim {
                sid: "HS0123456789abcdef0123456789abcdef".into(),
                iccid: "89882806660004909182".into(),
                status: SandboxStatus::Inactive,
                network_group: "default_1gb".into(),
                last_charged_at: None,
            }),
            pro_sim: Some(SandboxProSim {
                iccid: "8944500102198304826".into(),
                status: SandboxStatus::Inactive,
                service_profile: "Europe + USA".into(),
                monthly_price_cents: 200,
                first_activated_at: None,
                added_at: t,
                last_charged_at: None,
            }),
            created_at: t,
        };
        a.insert(asset.clone());
        (a, asset)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> axum::http::HeaderMap {
        let mut h = axum::http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).unwrap());
        }
        h
    }

    fn request(method: Method, path: &str, hs: &[(&'static str, &str)], body: &str) -> Call {
        let uri: axum::http::Uri = path.parse().unwrap();
        Call {
            method,
            path: uri.path().to_owned(),
            query: uri.query().unwrap_or_default().to_owned(),
            headers: headers(hs),
            body: body.to_owned().into(),
            peer: std::net::Ipv4Addr::LOCALHOST.into(),
        }
    }

    const JSON: &[(&str, &str)] = &[("x-api-key", "key"), ("content-type", "application/json")];

    async fn call(
        a: &Account,
        method: Method,
        path: &str,
        hs: &[(&'static str, &str)],
        body: &str,
    ) -> (u16, Value) {
        let r = a.answer(&request(method, path, hs, body)).into_response();
        let status = r.status().as_u16();
        let bytes = axum::body::to_bytes(r.into_body(), usize::MAX)
            .await
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    async fn patch(a: &Account, body: &str) -> (u16, Value) {
        call(a, Method::PATCH, "/v1/assets/SN%201%2F2", JSON, body).await
    }

    #[tokio::test]
    async fn routes_methods_and_credentials() {
        let (a, _) = seeded();
        let nf = json!({"detail": "Not Found"});
        for path in [
            "/v1/asset/x",
            "/assets/x",
            "/v1/assets/",
            "/v1/assets/a/b",
            "/v2/assets/x",
        ] {
            assert_eq!(
                call(&a, Method::GET, path, JSON, "").await,
                (404, nf.clone()),
                "{path}"
            );
        }
        let r = (a.answer(&request(Method::DELETE, "/v1/assets/x", JSON, ""))).into_response();
        assert_eq!(r.status().as_u16(), 405);
        assert_eq!(r.headers()[ALLOW], "GET, PATCH");
        for method in [Method::POST, Method::PUT] {
            let (s, body) = call(&a, method, "/v1/assets/x", JSON, "{}").await;
            assert_eq!((s, body), (405, json!({"detail": "Method Not Allowed"})));
        }
        assert_eq!(
            call(&a, Method::GET, "/v1/assets/x", &[], "").await,
            (401, json!({"detail": "Not authenticated"}))
        );
        for wrong in ["Key", "key ", "other"] {
            assert_eq!(
                call(
                    &a,
                    Method::PATCH,
                    "/v1/assets/x",
                    &[("x-api-key", wrong)],
                    "{}"
                )
                .await,
                (401, json!({"detail": "Invalid API key"}))
            );
        }
        // The key travels in x-api-key only.
        assert_eq!(
            call(
                &a,
                Method::GET,
                "/v1/assets/x",
                &[("authorization", "Bearer key")],
                ""
            )
            .await
            .0,
            401
        );
    }

    #[tokio::test]
    async fn every_id_kind_finds_the_asset() {
        let (a, asset) = seeded();
        for id in [
            "SN%201%2F2",
            "3f2b8c1e-9d4a-4e6b-8a7c-1d2e3f4a5b6c",
            "3F2B8C1E-9D4A-4E6B-8A7C-1D2E3F4A5B6C",
            "HS0123456789abcdef0123456789abcdef",
            "89882806660004909182",
            "8944500102198304826",
        ] {
            let (s, body) = call(&a, Method::GET, &format!("/v1/assets/{id}"), JSON, "").await;
            assert_eq!((s, &body), (200, &asset.to_json()), "{id}");
        }
        for id in [
            "SN%201",
            "sn%201%2F2",
            "HS0123456789ABCDEF0123456789ABCDEF",
            "%FF",
        ] {
            assert_eq!(
                call(&a, Method::GET, &format!("/v1/assets/{id}"), JSON, "").await,
                (404, json!({"detail": "Asset not found"})),
                "{id}"
            );
        }
    }

    #[test]
    fn the_answer_shape() {
        let (_, asset) = seeded();
        assert_eq!(
            asset.to_json(),
            json!({
                "uuid": "3f2b8c1e-9d4a-4e6b-8a7c-1d2e3f4a5b6c",
                "serial_number": "SN 1/2",
                "name": "pump station 7",
                "status": "inactive",
                "iccid": "89882806660004909182",
                "device": {"type": "ALPON X4", "asset_fee": "6.00", "asset_fee_last_charged_at": null},
                "supersim": {
                    "sid": "HS0123456789abcdef0123456789abcdef",
                    "iccid": "89882806660004909182",
                    "status": "inactive",
                    "network_group": "default_1gb",
                    "last_charged_at": null
                },
                "prosim": {
                    "iccid": "8944500102198304826",
                    "status": "inactive",
                    "service_profile": {"name": "Europe + USA", "monthly_price": "2.00"},
                    "first_activated_at": null,
                    "added_at": "2025-01-10T08:30:00Z",
                    "last_charged_at": null
                },
                "created_at": "2025-01-10T08:30:00Z"
            })
        );
        let mut bare = asset;
        bare.super_sim = None;
        bare.device = None;
        let v = bare.to_json();
        assert_eq!(v["iccid"], "8944500102198304826");
        assert_eq!((&v["supersim"], &v["device"]), (&Value::Null, &Value::Null));
    }

    #[tokio::test]
    async fn body_rules_in_fastapi_shape() {
        let (a, asset) = seeded();
        let cases: Vec<(&str, Vec<(&str, Value)>)> = vec![
            (
                r#"{"name": "ab"}"#,
                vec![("string_too_short", json!(["body", "name"]))],
            ),
            (
                &*Box::leak(format!(r#"{{"name": "{}"}}"#, "x".repeat(65)).into_boxed_str()),
                vec![("string_too_long", json!(["body", "name"]))],
            ),
            (
                r#"{"name": 7}"#,
                vec![("string_type", json!(["body", "name"]))],
            ),
            (
                r#"{"status": "suspended"}"#,
                vec![("literal_error", json!(["body", "status"]))],
            ),
            (
                r#"{"status": "Active"}"#,
                vec![("literal_error", json!(["body", "status"]))],
            ),
            (
                r#"{"supersim": "default_1gb"}"#,
                vec![("model_attributes_type", json!(["body", "supersim"]))],
            ),
            (
                r#"{"supersim": {"network_group": 1}}"#,
                vec![("string_type", json!(["body", "supersim", "network_group"]))],
            ),
            (
                r#"{"network_group": "default_1gb"}"#,
                vec![("extra_forbidden", json!(["body", "network_group"]))],
            ),
            (
                r#"{"supersim": {"network_group": "default_1gb", "fleet": "x"}}"#,
                vec![("extra_forbidden", json!(["body", "supersim", "fleet"]))],
            ),
            ("{}", vec![("value_error", json!(["body"]))]),
            (
                r#"{"name": null, "status": null, "supersim": {"network_group": null}}"#,
                vec![("value_error", json!(["body"]))],
            ),
            (
                r#"{"supersim": {}}"#,
                vec![("value_error", json!(["body"]))],
            ),
            ("[]", vec![("model_attributes_type", json!(["body"]))]),
            (
                "\"active\"",
                vec![("model_attributes_type", json!(["body"]))],
            ),
            (
                "{\n  \"name\": }",
                vec![("json_invalid", json!(["body", 12]))],
            ),
            (
                r#"{"name": "x", "status": "on", "extra": 1}"#,
                vec![
                    ("string_too_short", json!(["body", "name"])),
                    ("literal_error", json!(["body", "status"])),
                    ("extra_forbidden", json!(["body", "extra"])),
                ],
            ),
        ];
        for (body, expected) in cases {
            let (s, v) = patch(&a, body).await;
            assert_eq!(s, 422, "{body}");
            let got: Vec<(&str, Value)> = v["detail"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| (i["type"].as_str().unwrap(), i["loc"].clone()))
                .collect();
            assert_eq!(got, expected, "{body}: {v}");
        }
        let (_, v) = patch(&a, r#"{"name": "ab"}"#).await;
        assert_eq!(
            v,
            json!({"detail": [{
                "type": "string_too_short", "loc": ["body", "name"],
                "msg": "String should have at least 3 characters", "input": "ab",
                "ctx": {"min_length": 3}
            }]})
        );
        // Characters, not bytes: 64 emoji are a valid name, 3 umlauts too.
        assert_eq!(
            patch(&a, &format!(r#"{{"name": "{}"}}"#, "🚚".repeat(64)))
                .await
                .0,
            200
        );
        assert_eq!(patch(&a, r#"{"name": "äöü"}"#).await.0, 200);
        // Nothing was changed by a refused body.
        assert_eq!(a.find("SN 1/2").unwrap().status, asset.status);
    }

    #[tokio::test]
    async fn json_only() {
        let (a, _) = seeded();
        let path = "/v1/assets/SN%201%2F2";
        let form = [
            ("x-api-key", "key"),
            ("content-type", "application/x-www-form-urlencoded"),
        ];
        let (s, v) = call(&a, Method::PATCH, path, &form, "status=active").await;
        assert_eq!(s, 422);
        assert_eq!(v["detail"][0]["type"], "model_attributes_type");
        assert_eq!(v["detail"][0]["input"], "status=active");
        let text = [("x-api-key", "key"), ("content-type", "text/plain")];
        assert_eq!(
            call(&a, Method::PATCH, path, &text, r#"{"status": "active"}"#)
                .await
                .0,
            422
        );
        let (s, v) = call(&a, Method::PATCH, path, JSON, "").await;
        assert_eq!((s, &v["detail"][0]["type"]), (422, &json!("missing")));
        // JSON with parameters or a +json type, or no content type at all, is read as JSON.
        for ct in [
            "application/json; charset=utf-8",
            "application/merge-patch+json",
        ] {
            let hs = [("x-api-key", "key"), ("content-type", ct)];
            assert_eq!(
                call(&a, Method::PATCH, path, &hs, r#"{"name": "pump 8"}"#)
                    .await
                    .0,
                200,
                "{ct}"
            );
        }
        let hs = [("x-api-key", "key")];
        assert_eq!(
            call(&a, Method::PATCH, path, &hs, r#"{"name": "pump 9"}"#)
                .await
                .0,
            200
        );
        assert_eq!(a.find("SN 1/2").unwrap().name, "pump 9");
    }

    #[tokio::test]
    async fn the_body_is_checked_before_the_asset_is_looked_up() {
        let (a, _) = seeded();
        let unknown = "/v1/assets/nope";
        assert_eq!(call(&a, Method::PATCH, unknown, JSON, "{}").await.0, 422);
        assert_eq!(
            call(
                &a,
                Method::PATCH,
                unknown,
                JSON,
                r#"{"supersim": {"network_group": "nope"}}"#
            )
            .await,
            (404, json!({"detail": "Asset not found"}))
        );
    }

    #[tokio::test]
    async fn network_groups() {
        let (a, _) = seeded();
        for g in PRESET_NETWORK_GROUPS.into_iter().chain(["fleet-eu"]) {
            let (s, v) = patch(
                &a,
                &format!(r#"{{"supersim": {{"network_group": "{g}"}}}}"#),
            )
            .await;
            assert_eq!((s, v["supersim"]["network_group"].as_str()), (200, Some(g)));
        }
        let (s, v) = patch(&a, r#"{"supersim": {"network_group": "fleet-us"}}"#).await;
        assert_eq!(
            (s, v),
            (
                422,
                json!({"detail": [{
                    "type": "value_error", "loc": ["body", "supersim", "network_group"],
                    "msg": "network group not found", "input": "fleet-us"
                }]})
            )
        );
        assert_eq!(
            a.find("SN 1/2").unwrap().super_sim.unwrap().network_group,
            "fleet-eu"
        );
        a.assets
            .update(&"3f2b8c1e-9d4a-4e6b-8a7c-1d2e3f4a5b6c".to_owned(), |x| {
                x.super_sim = None
            });
        let (s, v) = patch(&a, r#"{"supersim": {"network_group": "default_1gb"}}"#).await;
        assert_eq!(
            (s, &v["detail"][0]["loc"]),
            (422, &json!(["body", "supersim"]))
        );
        assert_eq!(
            v["detail"][0]["msg"],
            "Value error, the asset has no Super SIM"
        );
    }

    #[tokio::test]
    async fn the_master_switch_and_what_activation_records() {
        let (a, _) = seeded();
        let (s, v) = patch(&a, r#"{"status": "active", "name": "pump 10"}"#).await;
        assert_eq!(s, 200);
        assert_eq!(
            (v["status"].as_str(), v["name"].as_str()),
            (Some("active"), Some("pump 10"))
        );
        let x = a.find("SN 1/2").unwrap();
        let (sup, pro, dev) = (x.super_sim.unwrap(), x.pro_sim.unwrap(), x.device.unwrap());
        assert_eq!(
            (sup.status, pro.status),
            (SandboxStatus::Active, SandboxStatus::Active)
        );
        let first = pro.first_activated_at.expect("first activation recorded");
        assert_eq!(sup.last_charged_at, Some(first));
        assert_eq!(pro.last_charged_at, Some(first));
        assert_eq!(dev.asset_fee_last_charged_at, Some(first));
        assert_eq!(v, a.find("SN 1/2").unwrap().to_json());

        let (_, v) = patch(&a, r#"{"status": "inactive"}"#).await;
        assert_eq!(
            (
                v["status"].as_str(),
                v["supersim"]["status"].as_str(),
                v["prosim"]["status"].as_str()
            ),
            (Some("inactive"), Some("inactive"), Some("inactive"))
        );
        let x = a.find("SN 1/2").unwrap();
        assert_eq!(x.pro_sim.as_ref().unwrap().first_activated_at, Some(first));
        assert_eq!(x.super_sim.as_ref().unwrap().last_charged_at, Some(first));
    }

    #[test]
    fn charged_once_a_month_and_the_fee_needs_both_sims() {
        let t = |s: &str| DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc);
        let (_, mut asset) = seeded();
        asset.switch(SandboxStatus::Active, t("2025-03-01T00:00:00Z"));
        asset.switch(SandboxStatus::Inactive, t("2025-03-20T00:00:00Z"));
        asset.switch(SandboxStatus::Active, t("2025-03-31T23:59:59Z"));
        let sup = asset.super_sim.clone().unwrap();
        assert_eq!(sup.last_charged_at, Some(t("2025-03-01T00:00:00Z")));
        asset.switch(SandboxStatus::Inactive, t("2025-04-01T00:00:00Z"));
        asset.switch(SandboxStatus::Active, t("2025-04-02T00:00:00Z"));
        let pro = asset.pro_sim.clone().unwrap();
        assert_eq!(pro.last_charged_at, Some(t("2025-04-02T00:00:00Z")));
        assert_eq!(pro.first_activated_at, Some(t("2025-03-01T00:00:00Z")));
        assert_eq!(
            asset.device.clone().unwrap().asset_fee_last_charged_at,
            Some(t("2025-04-02T00:00:00Z"))
        );
        // Already active: setting active again charges nothing.
        asset.switch(SandboxStatus::Active, t("2025-05-02T00:00:00Z"));
        assert_eq!(
            asset.pro_sim.clone().unwrap().last_charged_at,
            Some(t("2025-04-02T00:00:00Z"))
        );

        let (_, mut single) = seeded();
        single.pro_sim = None;
        single.switch(SandboxStatus::Active, t("2025-03-01T00:00:00Z"));
        assert_eq!(single.device.unwrap().asset_fee_last_charged_at, None);
        assert_eq!(single.super_sim.unwrap().status, SandboxStatus::Active);
    }

    #[test]
    fn json_error_positions() {
        for (body, pos) in [("{\"a\": }", 6), ("{\n  \"name\": }", 12), ("x", 0)] {
            let e = serde_json::from_str::<Value>(body).unwrap_err();
            assert_eq!(error_position(body.as_bytes(), &e), pos, "{body:?}");
        }
    }
}
