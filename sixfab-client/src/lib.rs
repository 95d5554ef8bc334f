//! A typed client for Sixfab Connect assets (`https://api.sixfab.com/v1`): asset updates, asset
//! reads, a charge preview from Sixfab's prices, and [`simcore::SimProvider`].
//!
//! A charge preview runs offline: what setting an asset active adds to this month's bill and
//! costs per month after, as ranges where Sixfab's text can be read more than one way, each line
//! with its rule and its assumptions; your price book (your contract, your invoice) settles them.
//!
//! ```
//! use chrono::NaiveDate;
//! use simcore::charge::{AssetPrices, PriceBook};
//! use sixfab_client::{AssetId, AssetIdKind, AssetStatus, SettableStatus};
//! use sixfab_client::pricing::{estimate, ChargeInputs, DeviceKind, ProSim, ProSimHistory, SuperSim};
//!
//! // Any of Sixfab's four asset identifiers; the kind is recognised.
//! let id = AssetId::parse("89882806660004909182")?;
//! assert_eq!(id.kind(), AssetIdKind::Iccid);
//!
//! // An ALPON with a Super SIM and a PRO SIM.
//! let mut asset = ChargeInputs::new(NaiveDate::from_ymd_opt(2025, 3, 14).unwrap());
//! asset.super_sim = Some(SuperSim { charged_this_month: Some(false) });
//! asset.pro_sim = Some(ProSim::default_profile(ProSimHistory::ActivatedBefore));
//! asset.device = DeviceKind::Alpon { reported_fee: None };
//! asset.asset_fee_charged_this_month = Some(false);
//!
//! // Sixfab's published prices alone leave questions open: the range covers every answer.
//! let e = estimate(&asset, Some(&AssetStatus::Inactive), Some(SettableStatus::Active), &PriceBook::default());
//! let c = e.charge().expect("priced");
//! assert_eq!(c.now.show(c.currency).to_string(), "$6.00 to $10.00");
//! for a in c.assumptions() {
//!     println!("{a}"); // what is not known, and what settles it
//! }
//!
//! // Your price book answers them: 14 active SIMs on the account, the $6 fee on top of the SIM
//! // fees, every month, and the PRO SIM charged for the month it is activated in.
//! let book = PriceBook::from_json(r#"{
//!     "active_sims": 14,
//!     "sims": {"pro_sim": {"activation_month_billed": true}},
//!     "assets": {"alpon": {"replaces_sim_fees": false, "recurs_monthly": true, "once_a_month": true}}
//! }"#)?;
//! let c = estimate(&asset, Some(&AssetStatus::Inactive), Some(SettableStatus::Active), &book);
//! let c = c.charge().expect("priced");
//! assert!(c.is_exact());
//! assert_eq!(c.now.show(c.currency).to_string(), "$9.60"); // $1.60 + $2 + $6
//! # Ok::<(), simcore::Error>(())
//! ```
//!
//! An update, sent (it needs an account):
//!
//! ```no_run
//! use sixfab_client::{Client, NetworkGroup, SettableStatus, Updated};
//!
//! # async fn run() -> simcore::Result<()> {
//! let client = Client::from_env()?; // SIXFAB_API_KEY
//! let answer = client
//!     .update_asset("SN-ALPON-0042")
//!     .name("pump station 7")
//!     .status(SettableStatus::Active) // every SIM on the asset
//!     .network_group(NetworkGroup::Default1Gb)
//!     .attempts(2) // this call: at most two attempts
//!     .send()
//!     .await?;
//! match answer {
//!     Updated::Done(Some(asset)) => println!("{:?} is {:?}", asset.name, asset.status),
//!     Updated::Done(None) => println!("done (Sixfab answered without the asset)"),
//!     Updated::Unchanged => println!("already so: nothing sent"),
//!     Updated::Pending(_) => unreachable!("Sixfab applies updates at once"),
//! }
//! # Ok(()) }
//! ```
//!
//! # Tour
//! - [`Client`] / [`ClientBuilder`]: the API key (never printed), base URL, timeouts, retry
//!   policy; [`Client::from_env`] reads `SIXFAB_API_KEY` ([`client::ENV_API_KEY`]) and
//!   `SIXFAB_BASE_URL` ([`client::ENV_BASE_URL`]).
//! - [`AssetId`]: a serial number, UUID, SIM SID or SIM ICCID, always one encoded path segment.
//! - [`Client::update_asset`] → [`UpdateAssetBuilder`]: `name` (3 to 64 characters), `status`
//!   ([`SettableStatus`], the **master switch**: `active` activates every SIM on the asset, Super SIM
//!   and PRO SIM, `inactive` deactivates them all) and `network_group` ([`NetworkGroup`]: four
//!   presets or a custom group). Everything is checked in `send()` before any request; an update
//!   that sets nothing is refused. What the caller knows: `.current(&asset)`,
//!   `.known_status(..)`, or `.fetch_current()` (one `GET` first): a status the asset has
//!   already is then not sent. The answer is [`Updated`]`<`[`Asset`]`>`. The same update as
//!   plain data is [`UpdateAssetRequest`] (`.into_request()`, sent with [`Client::send`]).
//! - Every request builder takes per-call options: `.deadline(..)`, `.attempts(..)`,
//!   `.options(..)` ([`simcore::CallOptions`]), checked before anything is sent.
//! - [`Client::get_asset`] → [`Asset`]: known fields typed, every other field kept; each SIM
//!   ([`Asset::sims`]) and the device ([`Asset::device`]) read on demand.
//! - [`Client::list_assets`] → [`ListAssets`]: `GET /assets` a page at a time
//!   ([`Page`](simcore::paging::Page)`<`[`Asset`]`>`), as pages, a stream of assets, or all at
//!   once, from the first page or the one `resume_from` names, in this crate's
//!   **unconfirmed** reading of the list ([`models::list_keys`]).
//! - Errors are [`simcore::Error`]; a `404` names the asset (see [`errors`]).
//! - [`pricing`]: the charge preview: Sixfab's published prices as a price book
//!   ([`pricing::published`]) under yours; [`Client::charge_preview`] prices a fetched asset with
//!   a [`simcore::charge::Pricing`] (your price book and the day), and so does
//!   [`ChargePreview::estimate_charge`](simcore::ChargePreview::estimate_charge).
//! - [`SimProvider`](simcore::SimProvider) for [`Client`]: states active and inactive, the
//!   display name as the asset's name, checks without I/O, and charge estimates (see
//!   [`provider`]).
//! - `sandbox` (feature `sandbox`): a local stand-in for Sixfab Connect that enforces its rules
//!   on the wire, for trying the client and testing services with no account.
//!
//! # Feature flags
//! - `tracing`: spans and events through the `tracing` crate (see `simcore::trace`); off by
//!   default, and then compiled out.
//! - `sandbox`: the local sandbox (`sixfab_client::sandbox`): a server on `127.0.0.1`, seeded
//!   assets, the request log, rate limits and fault injection.
//!
//! # Unconfirmed facts, each decided in one place
//! Sixfab's documentation leaves these open; each choice lives in one item, easy to change:
//! - the API key header, `x-api-key`: [`client::API_KEY_HEADER`];
//! - the network group nested as `{"supersim": {"network_group": ..}}`:
//!   [`requests::NETWORK_GROUP_PATH`];
//! - the error body (FastAPI's `{"detail": ..}`, or `{"message": ..}`): read leniently, see
//!   [`errors`];
//! - a possible `{"data": {..}}` envelope around an asset: [`Asset::from_json`];
//! - the shape and paging of `GET /assets` (a bare array or an envelope under `data`, `items`,
//!   `assets` or `results`; `page` from 1 and `per_page` up to 100; the end at an empty or short
//!   page unless the answer's `next`, page count or total says otherwise):
//!   [`models::list_keys`];
//! - the id a listed asset is named by in [`SimProvider::list`](simcore::SimProvider::list)
//!   (its UUID, else its serial number, …): [`Asset::address`]; every other id it answers to is
//!   one of the snapshot's aliases ([`Asset::ids`]);
//! - where an asset carries its SIMs and the facts prices depend on: [`Asset::sim`] and
//!   [`Asset::device`];
//! - what the volume tier ("more than 10 active SIMs") counts: every active SIM, Super SIM and
//!   PRO SIM ([`pricing::VOLUME_COUNTS`]).
//!
//! What Sixfab's prices leave open (whether the asset fee stands instead of the SIM fees or on
//! top of them, whether it recurs monthly, when a PRO SIM is charged) is no choice of this crate:
//! a preview covers every answer as a range and names the question, until your price book
//! answers it (see [`pricing`]).
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod errors;
pub mod models;
pub mod pricing;
pub mod provider;
pub mod requests;
#[cfg(feature = "sandbox")]
#[cfg_attr(docsrs, doc(cfg(feature = "sandbox")))]
pub mod sandbox;

pub use client::{Client, ClientBuilder, DEFAULT_BASE_URL};
pub use models::LIFECYCLE;
pub use models::{Asset, AssetId, AssetIdKind, AssetStatus, IntoAssetId};
#[allow(deprecated)]
pub use requests::TargetStatus;
pub use requests::{
    ListAssets, NetworkGroup, SettableStatus, UpdateAssetBuilder, UpdateAssetRequest,
};
/// Re-exported: what an update did, the same in every client of the family.
pub use simcore::Updated;

/// The provider's short name, as errors and snapshots carry it.
pub const PROVIDER: &str = "sixfab";

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
