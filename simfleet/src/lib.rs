//! Fleet work for the SIM SDK family, over any [`SimProvider`](simcore::SimProvider): desired
//! states planned, reviewed and applied ([`plan`]), the bulk updater ([`bulk`]) and charge
//! totals across providers ([`charge`]).
//!
//! ```
//! use std::sync::Arc;
//! use simcore::{Applied, CallOptions, Lifecycle, ListOptions, SimChange, SimProvider, SimSnapshot, SimState, SnapshotPages};
//! use simfleet::bulk::{BulkItem, BulkUpdater};
//! use simfleet::plan::{ActionKind, Desired, Planner};
//!
//! /// A provider whose SIMs are all inactive and take any change.
//! #[derive(Debug)]
//! struct Fake;
//!
//! #[simcore::async_trait]
//! impl SimProvider for Fake {
//!     fn name(&self) -> &'static str { "fake" }
//!     fn lifecycle(&self) -> Lifecycle<SimState> { Lifecycle::open("fake") }
//!     async fn fetch_with(&self, id: &str, _: &CallOptions) -> simcore::Result<SimSnapshot> {
//!         Ok(SimSnapshot::new("fake", id, SimState::Inactive))
//!     }
//!     async fn apply_with(&self, _: &str, _: &SimChange, _: &CallOptions) -> simcore::Result<Applied> {
//!         Ok(Applied::Done(None))
//!     }
//!     fn list(&self, _: &ListOptions) -> SnapshotPages<'_> { SnapshotPages::new(futures_util::stream::iter([Ok(vec![])])) }
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let provider: Arc<dyn SimProvider> = Arc::new(Fake);
//!
//! // What should be, planned against what is: one entry per row.
//! let rows = ["a", "b"].map(|id| Desired::new("fake", id).state(SimState::Active));
//! let plan = Planner::new([provider.clone()]).plan(rows).await;
//! assert_eq!(plan.count(ActionKind::Change), 2);
//!
//! // Or many changes at once: bounded concurrency, one outcome per item.
//! let items = (0..10).map(|i| BulkItem::new(format!("sim-{i}"), SimChange::new().state(SimState::Active)));
//! let report = BulkUpdater::new(provider).concurrency(4).run(items).await;
//! assert_eq!(report.done, 10);
//! # });
//! ```
//!
//! - [`plan`]: fleets in desired state: a [`Plan`](plan::Plan) per desired state (unchanged,
//!   change, refused, not found, per row, with charges), reviewed, saved and applied later,
//!   re-runs that converge.
//! - [`bulk`]: the bulk updater over any `Arc<dyn SimProvider>`: bounded concurrency, a pace that
//!   follows the provider's rate limit, a window held under its concurrency limit, one outcome
//!   per item, a dry run, a rate budget shared with other processes.
//! - [`rows`]: the provider ids a row may name (case-insensitive, with aliases) and the CSV
//!   reader `simctl` shares.
//! - [`charge`]: estimates added up per provider and overall
//!   ([`ChargeTotal`](charge::ChargeTotal)), as ranges, the rows that cannot be priced counted
//!   and named.
//!
//! # Feature flags
//! - `csv`: desired states read from CSV ([`rows::read_csv`], [`Desired::from_csv`](plan::Desired::from_csv)).
//! - `tracing`: events for every change of a bulk run's pace and window (target `simcore`, with
//!   simcore's own spans and events: simcore's `tracing` feature). Off by default, and then
//!   compiled out entirely.
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod bulk;
pub mod charge;
pub mod plan;
mod row_error;
pub mod rows;

pub use row_error::RowError;

mod trace;

/// The README's example, compiled and run as a doctest.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
