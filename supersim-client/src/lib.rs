//! A typed client for the Super SIM API, as KORE serves it (`https://supersim.api.korewireless.com`,
//! OAuth2) and as Twilio serves it (`https://supersim.twilio.com`, HTTP Basic): update, fetch and
//! list SIMs, with the Super SIM lifecycle checked before anything is sent, wait for scheduled
//! changes, and verify the callbacks that report them.
//!
//! KORE, which bought Twilio's IoT business, is where Super SIM customers are now; both serve the
//! same resources and answers, and this client speaks to either:
//!
//! ```
//! use supersim_client::{Client, Dialect};
//!
//! // KORE: an API client's id and secret (OAuth2 client credentials).
//! let kore = Client::builder().kore("your client id", "your client secret").build()?;
//! assert_eq!(kore.dialect(), Dialect::Kore);
//!
//! // Twilio: an Account SID and Auth Token (or an API key and secret).
//! let twilio = Client::builder()
//!     .account("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "your auth token")
//!     .build()?;
//! assert_eq!(twilio.dialect().as_str(), "twilio");
//!
//! // Through the common interface both are Super SIM: errors say which API answered.
//! assert_eq!(simcore::SimProvider::name(&kore), "supersim");
//! # Ok::<(), simcore::Error>(())
//! ```
//!
//! An update is built, validated and turned into the exact form the API receives without any
//! network access:
//!
//! ```
//! use supersim_client::{Client, SettableStatus, Status};
//!
//! let client = Client::builder().kore("your client id", "your client secret").build()?;
//!
//! let update = client
//!     .update_sim("HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
//!     .status(SettableStatus::Active)
//!     .callback_url("https://example.com/sim-done");
//! let request = update.into_request()?; // validated, plain data; nothing sent
//! assert_eq!(
//!     request.form_pairs(),
//!     [("Status", "active"), ("CallbackUrl", "https://example.com/sim-done")]
//! );
//!
//! // Refusals name the field and the rule, and nothing is sent.
//! let err = client.update_sim("pump 7").account_sid("AC123").into_request().unwrap_err();
//! assert_eq!(err.to_string(), "invalid account_sid: must be AC followed by 32 hex digits (found \"AC123\")");
//! let err = client
//!     .update_sim("pump 7")
//!     .status(SettableStatus::Ready)
//!     .known_status(Status::Active)
//!     .into_request()
//!     .unwrap_err();
//! assert_eq!(err.to_string(), "kore: a SIM in state active cannot move to ready (allowed: inactive)");
//! # Ok::<(), simcore::Error>(())
//! ```
//!
//! Sending it tells a finished update from a scheduled one:
//!
//! ```no_run
//! use std::time::Duration;
//! use supersim_client::{Client, SettableStatus, Updated};
//!
//! # async fn run() -> simcore::Result<()> {
//! let client = Client::from_env()?; // KORE_CLIENT_ID + KORE_CLIENT_SECRET, or Twilio's
//! let updated = client
//!     .update_sim("HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
//!     .status(SettableStatus::Active)
//!     .fleet("My Fleet")
//!     .callback_url("https://example.com/sim-done")
//!     .fetch_current() // check the change against the SIM's status as the API reports it now
//!     .deadline(Duration::from_secs(20)) // this call's deadline, the fetch included
//!     .send()
//!     .await?;
//! match updated {
//!     Updated::Done(sim) => println!("done: {:?}", sim.and_then(|s| s.status)),
//!     Updated::Pending(sim) => {
//!         println!("{:?} is scheduled; the API will call the callback URL", sim.and_then(|s| s.sid))
//!     }
//!     Updated::Unchanged => println!("already active: nothing sent"),
//! }
//! # Ok(()) }
//! ```
//!
//! # Tour
//! - **Client** ([`Client`], [`ClientBuilder`]): KORE's OAuth2 client credentials
//!   ([`ClientBuilder::kore`]: the access token fetched once, shared, refreshed before it
//!   expires, fetched again once on a 401, and a refused client never retried), or Twilio's HTTP
//!   Basic with an Account SID and Auth Token or an API Key SID and secret. Secrets are held as
//!   [`SecretString`](simcore::secrecy::SecretString) and never printed. [`Client::from_env`]
//!   reads `KORE_CLIENT_ID`/`KORE_CLIENT_SECRET` first, then `TWILIO_ACCOUNT_SID`,
//!   `TWILIO_AUTH_TOKEN`, `TWILIO_API_KEY`, `TWILIO_API_SECRET`, and [`Client::credential`] says
//!   which it used. The builder also sets the base URL, timeouts, deadline, retry policy and body
//!   cap.
//! - **Waiting** ([`Client::wait_until_settled`], and `simcore::wait` for any provider): polls a
//!   scheduled SIM until its change has landed, with backoff, up to a deadline.
//! - **Update** ([`Client::update_sim`] → [`UpdateSimBuilder`]): `.current(&sim)`,
//!   `.known_status(..)` or `.fetch_current()` check the change against the SIM's status first;
//!   `.into_request()` gives the validated [`UpdateSimRequest`] for [`Client::send`]; `.send()`
//!   answers [`Updated`]. Every request builder takes this call's `.deadline(..)` and
//!   `.attempts(..)`.
//! - **Read** ([`Client::get_sim`], [`Client::list_sims`] → [`ListSims`]): filters `Status`,
//!   `Fleet`, `Iccid`, `PageSize` (1–1000); the first page, every page ([`ListSims::pages`],
//!   [`simcore::paging::Page`]s) or every SIM as a stream ([`ListSims::stream`]), from the first
//!   page or a page's `next` ([`ListSims::resume_from`]). Next-page URLs are followed only on
//!   the base URL's scheme, host and port.
//! - **Dialect** ([`Dialect`], [`Client::dialect`]): KORE's or Twilio's API. The provider is
//!   [`PROVIDER`] (`"supersim"`) either way; errors name the dialect that answered.
//! - **Models** ([`Sim`], [`Status`]): every field optional, unknown fields ignored, unknown
//!   statuses kept as [`Status::Unknown`].
//! - **Errors**: everything is a [`simcore::Error`]; the API's answers keep their status, code,
//!   message, `more_info` link and `Twilio-Request-Id`, and [`errors::Code`] names the codes (20003, 20404, 20429,
//!   83009, 83010, 83705). A `429` is retried (honouring `Retry-After`) before it is returned.
//! - **Callbacks** ([`callbacks`]): verify a callback's KORE `kore-signature`
//!   ([`callbacks::KoreVerifier`], several secrets for rotation) or Twilio `X-Twilio-Signature`
//!   ([`callbacks::TwilioVerifier`]) from the method, URL, headers and raw body, with no web
//!   framework; read its undocumented payload tolerantly ([`callbacks::SimCallback`]) and drop
//!   replays by `kore-idempotency-token` ([`callbacks::Deduplicator`]).
//! - **Common interface**: `Client` implements [`simcore::SimProvider`] (see [`provider`]).
//!   Neither Twilio nor KORE publishes a Super SIM price, and their billing rules are not in
//!   the sources this crate follows: a charge preview
//!   ([`simcore::charge::preview`], by [`simcore::charge::flat_preview`]: this crate has no billing rules of its own) is "unpriced"
//!   until your price book gives the prices, and then says what it assumes about the month of
//!   an activation (see [`simcore::charge::flat_estimate`]).
//! - **Sandbox** (feature `sandbox`): `sandbox::Sandbox`, a local stand-in for the Super SIM
//!   API on `127.0.0.1` that enforces Twilio's rules on the wire (credentials, not-found, the
//!   lifecycle with 83010 and 83009, `202 scheduled` then the final status and the callback,
//!   the paging envelope, 429 with `Retry-After`), seeded with SIMs and fleets, with a request
//!   log and fault injection. It speaks Twilio's dialect (HTTP Basic, callbacks signed with
//!   `X-Twilio-Signature`) or KORE's (OAuth2 client credentials and bearer tokens, callbacks
//!   signed with `kore-signature`). No account, no charges.
//!
//! # Feature flags
//! - `tracing`: spans and events through the `tracing` crate (see `simcore::trace`); off by
//!   default, and then compiled out.
//! - `sandbox`: the local Super SIM sandbox (`sandbox` module); adds tokio and the shared
//!   sandbox server of `simsandbox`.
//!
//! # Choices this crate makes
//! These are this crate's reading of Twilio's documentation, each kept in one place:
//! - **SID or unique name** ([`SimRef::parse`], [`FleetRef::parse`]): a value shaped like a SID
//!   (two capital letters and 32 letters or digits) must be a well-formed SID of the expected
//!   kind; any other non-empty string is a unique name.
//! - **Scheduled** ([`Client::send`]): a `202`, or a SIM returned in `scheduled`, is
//!   [`Updated::Pending`].
//! - **Unknown current status** ([`UpdateSimRequest::check_against`]): a status this crate does
//!   not know is not checked against the lifecycle; Twilio judges the change.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod callbacks;
pub mod client;
pub mod errors;
pub mod models;
pub mod provider;
pub mod requests;

#[cfg(feature = "sandbox")]
#[cfg_attr(docsrs, doc(cfg(feature = "sandbox")))]
pub mod sandbox;

pub use client::{Client, ClientBuilder, DEFAULT_BASE_URL, Dialect, KORE_BASE_URL, KORE_TOKEN_URL};
#[allow(deprecated)]
pub use errors::ErrorCode;
pub use models::LIFECYCLE;
pub use models::{Sim, SimLinks, Status};
pub use requests::{
    AccountSid, CallbackMethod, CallbackUrl, FleetRef, ListSims, SettableStatus, SimRef,
    UniqueName, UpdateSimBuilder, UpdateSimRequest,
};
/// What an update did (simcore's, the same in every provider crate): done, pending (scheduled:
/// Super SIM's `202`), or unchanged with nothing sent.
pub use simcore::Updated;

/// The provider's short name, whatever the dialect: what [`SimProvider::name`] returns and
/// snapshots carry. Errors carry the dialect's name instead ([`Dialect::as_str`]: `"twilio"` or
/// `"kore"`): it says which API answered.
///
/// [`SimProvider::name`]: simcore::SimProvider::name
pub const PROVIDER: &str = "supersim";

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
