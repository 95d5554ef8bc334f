//! A typed client for emnify's SIM API (`https://cdn.emnify.net/api/v1`).
//!
//! Everything that can be checked before sending is checked offline, so this runs as it is:
//!
//! ```
//! use emnify_client::rules::{refused_fields, OrgRole, SimField};
//! use emnify_client::{Client, OrgChange, SettableStatus, SimStatus, LIFECYCLE};
//!
//! let client = Client::builder().application_token("my-application-token").build()?;
//!
//! // An update is plain data with three states per organisation field, validated offline.
//! let update = client
//!     .update_sim(250)
//!     .status(SettableStatus::Suspended)
//!     .reseller_org(OrgChange::Clear) // {"id": null}
//!     .customer_org(13886)            // {"id": 13886}
//!     .into_request()?;               // issuer_org left alone: key absent
//! assert_eq!(
//!     serde_json::to_value(&update).unwrap(),
//!     serde_json::json!({
//!         "reseller_org": {"id": null},
//!         "customer_org": {"id": 13886},
//!         "status": {"id": 2},
//!     })
//! );
//!
//! // The emnify lifecycle and the organisation-role rules are data and pure functions.
//! assert!(LIFECYCLE.allows(&SimStatus::Issued, &SimStatus::FactoryTest));
//! assert!(update.check_transition(&SimStatus::Issued).is_err()); // Issued -> Suspended
//! assert_eq!(
//!     refused_fields(OrgRole::Customer, &update),
//!     vec![SimField::ResellerOrg, SimField::CustomerOrg]
//! );
//! # Ok::<(), simcore::Error>(())
//! ```
//!
//! Talking to emnify (the first request authenticates; the token is cached and refreshed):
//!
//! ```no_run
//! use emnify_client::{Client, SettableStatus, Updated};
//!
//! # async fn run() -> simcore::Result<()> {
//! let client = Client::from_env()?; // EMNIFY_APPLICATION_TOKEN
//! let sim = client.get_sim(250).await?;
//! let updated = client
//!     .update_sim(sim.id)
//!     .current(&sim) // checks the status change against the lifecycle before sending
//!     .status(SettableStatus::Activated)
//!     .attempts(2) // this call: at most two attempts
//!     .send()
//!     .await?;
//! match updated {
//!     Updated::Done(_) => println!("done (emnify answers 204: read the SIM to see it)"),
//!     Updated::Unchanged => println!("already activated: nothing sent"),
//!     Updated::Pending(_) => unreachable!("emnify applies updates at once"),
//! }
//! # Ok(()) }
//! ```
//!
//! # Tour
//! - [`Client`] and [`ClientBuilder`]: credentials (an application token, or user name and
//!   password), base URL, timeouts, retries; [`Client::from_env`] reads
//!   [`ENV_APPLICATION_TOKEN`](client::ENV_APPLICATION_TOKEN) and
//!   [`ENV_BASE_URL`](client::ENV_BASE_URL). [`Client::get_sim`], [`Client::update_sim`],
//!   [`Client::send`], [`Client::delete_sim`], [`Client::list_sims`].
//! - Lists: [`ListSims`] reads `GET /api/v1/sim` a page at a time
//!   ([`Page`](simcore::paging::Page)`<`[`Sim`]`>`: the SIMs, the page after it and the total,
//!   from the paging emnify sends in headers), up to 2500 SIMs a page, optionally by status, as
//!   pages, a stream of SIMs, or all at once, from the first page or from the one
//!   `resume_from` names. It keeps under emnify's limit for the list path (10 requests a
//!   second, bursts of 5) by itself ([`ListPace`]), and a `429` that comes anyway is retried
//!   with backoff.
//! - Every request builder takes per-call options: `.deadline(..)`, `.attempts(..)`,
//!   `.options(..)` ([`simcore::CallOptions`]), checked before anything is sent.
//! - [`auth`]: the session token cache. One authentication serves any number of concurrent
//!   requests; the token is replaced a minute before its JWT `exp`; a 401 causes one
//!   re-authentication and one retry; a failed authentication is never retried, because emnify
//!   locks an account out after three failures.
//! - [`requests`]: [`UpdateSimRequest`] (plain data), [`UpdateSimBuilder`], [`OrgChange`]
//!   (keep, set, clear) and [`SettableStatus`] (Activated, Suspended, Factory Test: what an
//!   update may set). `send()` refuses an empty update and, when the current status is known
//!   (`.current(&sim)`, `.known_status(..)`, or an opt-in `.fetch_current()`), a change the
//!   lifecycle forbids, before sending; it answers [`Updated`]: `Done(None)` (emnify's `204`
//!   has no body) or `Unchanged` (nothing needed sending). Deleting is
//!   [`Client::delete_sim`], never a status update.
//! - [`rules`]: which fields an issuer, reseller or customer organisation may change, and which
//!   organisations may be assigned, as pure functions.
//! - [`models`]: [`Sim`] as emnify returns it, tolerant of omitted keys, unknown keys, unknown
//!   status ids and emnify's `2015-03-06T11:15:57.000+0000` timestamps.
//! - [`errors`]: emnify's error body (`error_code`, `error_token`, `message`, nested `errors`)
//!   in [`simcore::Error`], including the gateway's bare `{"message": ..}` and empty 401s.
//! - [`provider`]: the canonical view of the lifecycle (its table, [`LIFECYCLE`], is in
//!   [`models`] beside the statuses it describes), and [`simcore::SimProvider`] for [`Client`].
//! - [`billing`]: emnify's billing rules (a month is billed once for any SIM activated in it; a
//!   suspended SIM costs nothing from the next month; Issued and Factory Test cost nothing), so
//!   a charge preview says which changes start or stop a charge and from when. emnify publishes
//!   no prices: an activation is "unpriced" until your price book gives `sim.active_monthly`.
//! - `sandbox` (feature `sandbox`): a local stand-in for emnify on `127.0.0.1` that enforces
//!   emnify's rules on the wire (tokens with `exp` and the lockout, the lifecycle, the
//!   organisation rules, emnify's error bodies), to try the client or test a service with no
//!   account and no charges.
//!
//! # Feature flags
//! - `tracing`: spans and events through the `tracing` crate (see `simcore::trace`); off by
//!   default, and then compiled out.
//! - `sandbox`: the local sandbox described above.
//!
//! # Choices to know about
//! - Clearing an organisation sends `{"id": null}`; emnify documents `{}` as well. The choice is
//!   kept in one place, [`requests::CLEAR_ORG_JSON`] and [`OrgChange`]'s serializer.
//! - A refused authentication is not repeated for [`auth::REFUSAL_COOLDOWN`]: requests in that
//!   time get the same error, so a wrong credential cannot lock the account out.
//! - A status change from a status this SDK does not know is not checked locally; emnify decides.
//! - Lists are paced at 9.5 requests a second in bursts of 4, just under emnify's documented 10
//!   in bursts of 5, so that network jitter cannot push a page over the limit:
//!   [`ListPace::EMNIFY`], changed with [`ClientBuilder::list_pace`].
//! - A list goes on while `X-Total-Pages` (else `X-Total-Count`) says more follows; without
//!   either header, while pages come back full. The page counted is the one asked for, whatever
//!   `X-Current-Page` says; a page that repeats the page before ends the listing with an error.

#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod auth;
pub mod billing;
pub mod client;
pub mod errors;
pub mod models;
pub mod provider;
pub mod requests;
pub mod rules;
#[cfg(feature = "sandbox")]
#[cfg_attr(docsrs, doc(cfg(feature = "sandbox")))]
pub mod sandbox;

pub use client::{Client, ClientBuilder, DEFAULT_BASE_URL, ListPace};
pub use models::LIFECYCLE;
pub use models::{OrgType, Sim, SimStatus};
pub use requests::{ListSims, OrgChange, SettableStatus, UpdateSimBuilder, UpdateSimRequest};
/// Re-exported: what an update did, the same in every client of the family.
pub use simcore::Updated;
/// Re-exported: credentials are passed as [`secrecy::SecretString`] (or anything that converts
/// into one, such as a `String`).
pub use simcore::secrecy;

/// The provider's short name, as errors and snapshots carry it.
pub const PROVIDER: &str = "emnify";

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
