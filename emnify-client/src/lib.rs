//! A typed client for emnify's SIM API (`https://cdn.emnify.net/api/v1`).
//!
//! This release carries the SIM status model and its lifecycle as data; the HTTP client
//! (authentication, SIM update, `SimProvider`) follows.
//!
//! ```
//! use emnify_client::{LIFECYCLE, SimStatus};
//! assert!(LIFECYCLE.allows(&SimStatus::Issued, &SimStatus::FactoryTest));
//! assert!(!LIFECYCLE.allows(&SimStatus::Activated, &SimStatus::Deleted));
//! ```

pub mod models;
pub mod provider;

pub use models::SimStatus;
pub use provider::LIFECYCLE;

/// The provider's short name, as errors and snapshots carry it.
pub const PROVIDER: &str = "emnify";
