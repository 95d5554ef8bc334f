//! A typed client for EdgeIQ SIM records (`https://api.edgeiq.io/api/v1/platform`).
//!
//! This release carries the status model (an open carrier string) and its canonical view; the
//! HTTP client (JSON merge updates, `SimProvider`) follows.
//!
//! ```
//! use edgeiq_client::provider::canonical;
//! use simcore::SimState;
//! assert_eq!(canonical("suspended"), SimState::Inactive);
//! ```

pub mod provider;

pub use provider::LIFECYCLE;

/// The provider's short name, as errors and snapshots carry it.
pub const PROVIDER: &str = "edgeiq";
