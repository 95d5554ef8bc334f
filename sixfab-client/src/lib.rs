//! A typed client for Sixfab Connect assets (`https://api.sixfab.com/v1`): asset updates, asset
//! reads, a charge preview from Sixfab's prices, and [`simcore::SimProvider`].
//!
//! A charge preview runs offline: what setting an asset active costs now and per month after.
//!
//! ```
//! use chrono::NaiveDate;
//! use sixfab_client::{AssetId, AssetIdKind, TargetStatus};
//! use sixfab_client::pricing::{preview, Cents, ChargeInputs, DeviceKind, ProSim, ProSimHistory, SuperSim};
//!
//! // Any of Sixfab's four asset identifiers; the kind is recognised.
//! let id = AssetId::parse("89882806660004909182")?;
//! assert_eq!(id.kind(), AssetIdKind::Iccid);
//!
//! // An ALPON with a Super SIM and a PRO SIM, on an account with 12 other active Super SIMs.
//! let mut asset = ChargeInputs::new(NaiveDate::from_ymd_opt(2025, 3, 14).unwrap());
//! asset.super_sim = Some(SuperSim { charged_this_month: false });
//! asset.pro_sim = Some(ProSim::default_profile(ProSimHistory::ActivatedBefore));
//! asset.device = DeviceKind::Alpon;
//! asset.other_active_super_sims = 12;
//!
//! let charge = preview(&asset, TargetStatus::Active);
//! assert_eq!(charge.now, Cents(160 + 200 + 600));
//! assert_eq!(charge.now.to_string(), "$9.60");
//! for line in &charge.lines {
//!     println!("{}: {} now, {}/month ({})", line.item, line.now, line.monthly_after, line.rule);
//! }
//! # Ok::<(), simcore::Error>(())
//! ```
//!
//! An update, sent (it needs an account):
//!
//! ```no_run
//! use sixfab_client::{Client, NetworkGroup, TargetStatus, Updated};
//!
//! # async fn run() -> simcore::Result<()> {
//! let client = Client::from_env()?; // SIXFAB_API_KEY
//! let answer = client
//!     .update_asset("SN-ALPON-0042")
//!     .name("pump station 7")
//!     .status(TargetStatus::Active) // every SIM on the asset
//!     .network_group(NetworkGroup::Default1Gb)
//!     .send()
//!     .await?;
//! if let Updated::Asset(asset) = answer {
//!     println!("{:?} is {:?}", asset.name, asset.status);
//! }
//! # Ok(()) }
//! ```
//!
//! # Tour
//! - [`Client`] / [`ClientBuilder`]: the API key (never printed), base URL, timeouts, retry
//!   policy; [`Client::from_env`] reads `SIXFAB_API_KEY`.
//! - [`AssetId`]: a serial number, UUID, SIM SID or SIM ICCID, always one encoded path segment.
//! - [`Client::update_asset`] → [`UpdateAssetBuilder`]: `name` (3 to 64 characters), `status`
//!   ([`TargetStatus`], the **master switch**: `active` activates every SIM on the asset, Super SIM
//!   and PRO SIM, `inactive` deactivates them all) and `network_group` ([`NetworkGroup`]: four
//!   presets or a custom group). Everything is checked in `send()` before any request; an update
//!   that sets nothing is refused. The same update as plain data is [`UpdateAsset`].
//! - [`Client::get_asset`] → [`Asset`]: known fields typed, every other field kept; each SIM
//!   ([`Asset::sims`]) and the device ([`Asset::device`]) read on demand.
//! - [`Client::list_assets`] → [`ListAssets`]: `GET /assets` a page at a time ([`AssetPage`]),
//!   as pages, a stream of assets, or all at once, in this crate's **unconfirmed** reading of
//!   the list ([`models::list_keys`]).
//! - Errors are [`simcore::Error`]; a `404` names the asset (see [`errors`]).
//! - [`pricing`]: the charge preview, every price in one table ([`pricing::PRICES`]);
//!   [`Client::charge_preview`] prices a fetched asset, with the account's active Super SIMs set
//!   on the builder ([`ClientBuilder::active_super_sims`]).
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
//! - whether the asset fee recurs monthly: [`pricing::PriceTable::asset_fee_monthly`]; and the
//!   choice that the "more than 10 active SIMs" count includes the SIM being activated:
//!   [`pricing::counted_active_super_sims`].
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
pub use models::{Asset, AssetId, AssetIdKind, AssetPage, AssetStatus, IntoAssetId, Updated};
pub use provider::LIFECYCLE;
pub use requests::{ListAssets, NetworkGroup, TargetStatus, UpdateAsset, UpdateAssetBuilder};

/// The provider's short name, as errors and snapshots carry it.
pub const PROVIDER: &str = "sixfab";
