//! The shared vocabulary of the SIM SDK family.
//!
//! `simcore` is what the provider crates (`supersim-client`, `emnify-client`, `sixfab-client`,
//! `edgeiq-client`) have in common: one trait to drive any provider, one set of SIM states, one
//! set of validation types, one error type and one HTTP transport. Nothing provider-specific
//! lives here.
//!
//! ```
//! use simcore::{DisplayName, Iccid, SimChange, SimState};
//!
//! // Parse at the edge: a typed value is a valid value.
//! let iccid: Iccid = "89882806660004909182".parse()?;
//! assert!(iccid.luhn_ok());
//! let name = DisplayName::parse("pump station 7")?;
//!
//! // Refusals name the field and the rule.
//! let err = Iccid::parse("8988 2806").unwrap_err();
//! assert_eq!(err.to_string(), "invalid iccid: must be 18 to 22 ASCII digits (found 9 characters: \"8988 2806\")");
//!
//! // A canonical change any provider understands.
//! let change = SimChange::new().state(SimState::Active).display_name(name);
//! assert!(!change.is_empty());
//! # Ok::<(), simcore::ValidationError>(())
//! ```
//!
//! # Tour
//! - [`validate`]: [`Iccid`], [`DisplayName`], [`Metadata`], [`Msisdn`], [`CarrierStatus`],
//!   [`PlanName`]; every refusal is a [`ValidationError`].
//! - [`state`]: the canonical [`SimState`] and [`Lifecycle`], a provider's transition table as
//!   data; a refused change is a [`TransitionError`].
//! - [`provider`]: the object-safe [`SimProvider`] trait, [`SimChange`] (what to change),
//!   [`Applied`] (what happened) and [`SimSnapshot`].
//! - [`error`]: the one [`Error`] type, sorted by whether anything was sent.
//! - [`env`](mod@env): credentials read from the environment, with errors that name the variable.
//! - [`retry`]: the retry policy and its pure decision function.
//! - [`wait`]: waiting for a change a provider applies later (`Applied::Pending`) to settle.
//! - [`charge`]: what a change costs, as ranges with the rule and the assumptions behind every
//!   figure, or why it cannot be priced ([`Estimate`](charge::Estimate)); price books
//!   ([`PriceBook`](charge::PriceBook)) from code, JSON or TOML.
//! - [`paging`]: lists whose pages are numbered, read as a stream of pages the same way for each
//!   provider (a page that repeats the one before ends it).
//! - [`budget`]: rate budgets shared by clients and runs ([`LocalBudget`](budget::LocalBudget)),
//!   or by every process of a fleet (on Redis: the `simcore-redis` crate).
//! - [`http`] (feature `http`, default): the [`Transport`](http::Transport) every provider crate
//!   sends through.
//!
//! # Beside it
//! What only some users need is in crates of its own, each built on this one: `simfleet`
//! (desired-state plans, the bulk updater, charge totals across providers), `simcore-redis`
//! (session tokens and rate budgets shared by a fleet on Redis) and `simsandbox` (the kit every
//! provider sandbox is built from).
//!
//! # Feature flags
//! - `http` (default): the HTTP transport over reqwest with rustls.
//! - `price-book-toml`: price books read from TOML files (JSON needs no feature).
//! - `tracing`: spans and events (see [`trace`]) that never carry a secret, a header, a body, an
//!   ICCID or an MSISDN. Off by default, and then compiled out entirely.
#![cfg_attr(docsrs, feature(doc_cfg))]

#[macro_use]
mod macros;

pub mod budget;
pub mod call;
pub mod charge;
pub mod env;
pub mod error;
pub mod paging;
pub mod provider;
pub mod retry;
pub mod state;
pub mod trace;
pub mod validate;
pub mod wait;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;

pub use call::CallOptions;
pub use error::{ApiError, Error, Result};
pub use provider::{
    Applied, ChargePreview, ListOptions, PositionedPage, ProviderId, SimChange, SimProvider,
    SimSnapshot, SnapshotPages, Updated,
};
pub use state::{Lifecycle, Move, SimState, TransitionError};
pub use validate::{
    CarrierStatus, DisplayName, Iccid, Metadata, Msisdn, PlanName, SimName, ValidationError,
};

/// Re-exported so provider crates and users name the same `async_trait`.
pub use async_trait::async_trait;
/// Re-exported: credentials are held as [`secrecy::SecretString`].
pub use secrecy;

#[doc(hidden)]
pub mod __private {
    pub use futures_util::Stream;
    pub use serde;
    pub use serde_json;
}

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
