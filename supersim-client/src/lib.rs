//! A typed client for Twilio's Super SIM API (`https://supersim.twilio.com/v1`).
//!
//! This release carries the Super SIM status model and its lifecycle as data; the HTTP client
//! (update, fetch, list, `SimProvider`) follows.
//!
//! ```
//! use supersim_client::{LIFECYCLE, Status};
//!
//! assert!(LIFECYCLE.allows(&Status::New, &Status::Ready));
//! assert!(!LIFECYCLE.allows(&Status::Active, &Status::Ready));
//! assert_eq!(Status::from("scheduled"), Status::Scheduled);
//! ```

pub mod models;
pub mod provider;

pub use models::Status;
pub use provider::LIFECYCLE;

/// The provider's short name, as errors and snapshots carry it.
pub const PROVIDER: &str = "twilio";
