//! A typed client for EdgeIQ SIM records (`https://api.edgeiq.io/api/v1/platform`).
//!
//! EdgeIQ's platform keeps one record per SIM, which its MNO integrations sync with carriers. An
//! update is a JSON merge patch (RFC 7396): only what changes is sent, a field set to `null` is
//! removed, and `sim_metadata` merges key by key. This crate builds and checks that patch before
//! anything is sent:
//!
//! ```
//! use edgeiq_client::Client;
//! use serde_json::json;
//!
//! let client = Client::builder().api_token("token").build()?;
//! let update = client
//!     .update_sim("65f1c0ffee0123456789abcd")
//!     .status("active")
//!     .remove_rate_plan()
//!     .metadata("site", json!({"name": "pump 7", "floor": 2}))
//!     .remove_metadata_key("legacy");
//!
//! // The request as data, checked: `send()` would PUT its body to /sims/65f1c0ffee0123456789abcd.
//! let request = update.into_request()?;
//! assert_eq!(request.id.as_str(), "65f1c0ffee0123456789abcd");
//! assert_eq!(request.to_json(), json!({
//!     "status": "active",
//!     "rate_plan": null,
//!     "sim_metadata": {"site": {"name": "pump 7", "floor": 2}, "legacy": null}
//! }));
//!
//! // Refused before sending, naming the field and the rule.
//! let err = client.update_sim("65f1c0ffee0123456789abcd").msisdn("+49 170 000 000 000 001").into_request().unwrap_err();
//! assert_eq!(err.to_string(), "invalid msisdn: must be 1 to 20 characters (not empty) (found 23 characters: \"+49 170 000 000 000 001\")");
//! # Ok::<(), simcore::Error>(())
//! ```
//!
//! Against the API (`no_run`: it needs a token and the network):
//!
//! ```no_run
//! use edgeiq_client::{Client, Updated};
//! use std::time::Duration;
//!
//! # async fn run() -> simcore::Result<()> {
//! let client = Client::from_env()?; // EDGEIQ_API_TOKEN
//! let updated = client
//!     .update_sim("65f1c0ffee0123456789abcd")
//!     .msisdn("+491700000001")
//!     .fetch_current() // read the record first: checks the merged result (metadata key count)
//!     .deadline(Duration::from_secs(10)) // this call's deadline, both requests included
//!     .send()
//!     .await?;
//! match updated {
//!     Updated::Done(Some(record)) => println!("{:?} is {}", record.iccid, record.state()),
//!     Updated::Done(None) | Updated::Pending(_) => println!("stored"),
//!     Updated::Unchanged => println!("already so: nothing sent"),
//! }
//! # Ok(()) }
//! ```
//!
//! # Tour
//! - [`client`]: [`Client`] and [`ClientBuilder`]. Every request carries
//!   `Authorization: <token>`, the raw token with no scheme: a permanent API token
//!   ([`ClientBuilder::api_token`], or `EDGEIQ_API_TOKEN` ([`client::ENV_API_TOKEN`]) with
//!   [`Client::from_env`]) or a session
//!   token from [`ClientBuilder::login`] (`POST /user/authenticate` with email, password and an
//!   optional expiry of at most a week). Base URL, timeouts, retries and the body cap come from
//!   `simcore`'s transport.
//! - [`requests`]: [`UpdateSimRequest`], the update as plain data (the record's id, and one
//!   [`PatchField`] (keep, set, remove) per field); [`UpdateSimBuilder`], its builder
//!   (`client.update_sim(id)…send()`, which sends `PUT /sims/{id}`, or `.into_request()` then
//!   [`Client::send`]), which answers [`Updated`]: done with the stored record, or unchanged
//!   with nothing sent when the current record (`.current(..)`, `.fetch_current()`) or the
//!   known status (`.known_status(..)`) already holds what the update asks; every request
//!   builder takes this call's `.deadline(..)` and `.attempts(..)`; [`merge_patch`], the RFC
//!   7396 algorithm used to predict the merged record.
//!   The module docs list the rules and which fields may be removed (`iccid`, `device_id` and
//!   `status` may not).
//! - Lists: [`Client::list_sims`] → [`ListSims`] reads `GET /sims` a page at a time
//!   ([`simcore::paging::Page`]), as pages, a stream of records or all at once, from the first
//!   page or the one `.resume_from(..)` names; it asks for EdgeIQ's `{"total", "resources"}`
//!   envelope (`page_meta=true`) and reads a bare array too.
//! - [`models`]: [`SimRecord`] (tolerant: unknown keys and unexpected values are kept in
//!   `extra`), [`SimInput`] (the writable part), [`SimId`] (24 hex digits) and
//!   [`keys`](models::keys), every JSON key name in one place.
//! - [`errors`]: EdgeIQ's error answers (400, 401, 404, 500, any body) as [`simcore::Error`].
//! - [`provider`]: `impl SimProvider for Client` (the open carrier lifecycle and its canonical
//!   view, [`models::canonical`], are in [`models`] beside the record). No EdgeIQ SIM price is published: a charge
//!   preview ([`simcore::charge::preview`], by [`simcore::charge::flat_preview`]: this crate has no billing rules of its own) is
//!   "unpriced" until your price book gives the prices per state (see
//!   [`simcore::charge::flat_estimate`]).
//! - `sandbox` (feature `sandbox`): a local stand-in for the platform API on `127.0.0.1`, with
//!   the platform's merge, its read-only fields and its validation, session logins, a request
//!   log, rate limits and fault injection; `Sandbox::start().await?.client()` needs no account.
//!
//! # Feature flags
//! - `tracing`: spans and events through the `tracing` crate (see `simcore::trace`); off by
//!   default, and then compiled out.
//! - `sandbox`: the local sandbox (`edgeiq_client::sandbox`). Off by default.
//!
//! # Read-only fields are never sent
//! `company_id`, `ctd_data_usage`, `ctd_sms_usage`, `included_usage`, `overage_limit_reached`,
//! `sim_barred`, `last_sync_at` and the audit fields are read into [`SimRecord`], but
//! [`UpdateSimRequest`] has no place for them: [`SimRecord::to_request`] drops them by
//! construction.
//!
//! # Unconfirmed facts
//! Kept each in one place, so they are easy to change:
//! - JSON key names other than `iccid`, `status` and `sim_metadata` (`device_id`,
//!   `mno_integration_id`, `msisdn`, `communication_plan`, `rate_plan`): [`models::keys`].
//! - The record's id key: `_id` or `id`; both are read ([`models::keys::ID`],
//!   [`models::keys::ID_ALT`]).
//! - The login answer's token key: `session_token`, then `token`
//!   ([`client::login_keys::SESSION_TOKEN`]).
//! - The error body: read leniently ([`errors`]).
//! - How `GET /sims` pages: the `page` and `per_page` parameters, pages from 1, at most 1000
//!   records a page, the end at the `total` or else at a short page
//!   ([`models::list_keys`]).
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod client;
pub mod errors;
pub mod models;
pub mod provider;
pub mod requests;

#[cfg(feature = "sandbox")]
#[cfg_attr(docsrs, doc(cfg(feature = "sandbox")))]
pub mod sandbox;

pub use client::{Client, ClientBuilder, DEFAULT_BASE_URL};
pub use models::LIFECYCLE;
pub use models::{SimId, SimInput, SimRecord};
pub use requests::{ListSims, PatchField, UpdateSimBuilder, UpdateSimRequest, merge_patch};
/// What an update did (simcore's, the same in every provider crate): done with the stored
/// record, or unchanged with nothing sent.
pub use simcore::Updated;

/// The provider's short name, as errors and snapshots carry it.
pub const PROVIDER: &str = "edgeiq";

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
