//! A typed client for Sixfab Connect assets (`https://api.sixfab.com/v1`).
//!
//! This release carries the asset status model and its lifecycle as data; the HTTP client
//! (asset update, charge preview, `SimProvider`) follows.
//!
//! ```
//! use sixfab_client::{AssetStatus, LIFECYCLE};
//! assert!(LIFECYCLE.allows(&AssetStatus::Active, &AssetStatus::Inactive));
//! ```

pub mod models;
pub mod provider;

pub use models::AssetStatus;
pub use provider::LIFECYCLE;

/// The provider's short name, as errors and snapshots carry it.
pub const PROVIDER: &str = "sixfab";
