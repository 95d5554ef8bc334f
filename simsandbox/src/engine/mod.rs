//! The sandbox engine: what a provider sandbox does besides showing its wire format, written
//! once. A provider sandbox is then mostly data (its lifecycle table, its field rules, its
//! defaults) and views (how its JSON looks, its routes, its error bodies).
//!
//! - [`Call`] is a request read once (method, path segments, query, headers, body, caller), and
//!   [`router`] the [`axum::Router`] that hands every request to one routing function;
//! - [`Sessions`] keeps the tokens a login issues, each with its end on the sandbox's
//!   [`Clock`](crate::Clock); [`Call::authorization`], [`Call::auth_scheme`] and [`Call::bearer`]
//!   read the `Authorization` header (a raw token, any scheme, `Bearer`);
//!   [`LoginGuard`] locks a caller out after refused logins and limits its logins in a window;
//! - [`Lifecycle`] is a state machine as a table of the moves allowed;
//! - [`Field`] rules check a JSON record and name every rule it breaks;
//! - [`PageRules`] reads a numbered page from a query, [`OrderedStore::query`](crate::OrderedStore::query)
//!   serves it, and [`Table`] (with its [`Index`]) keeps a field unique across records;
//! - [`ids`] makes the random identifiers a sandbox hands out: hex, ICCIDs with their Luhn
//!   digit, and credentials that carry the SDK's sandbox mark;
//! - [`PathLimit`] is a rate limit of one route, besides the server-wide one.
//!
//! Faults, the server-wide rate limit, the in-flight limit and the request log are the
//! [`SandboxServer`](crate::SandboxServer)'s; the admin view is [`SandboxAdmin`](crate::SandboxAdmin).

mod auth;
mod call;
mod guard;
pub mod ids;
mod lifecycle;
mod paging;
mod rules;

pub use auth::{Sessions, TokenState};
pub use call::{Answer, BodyError, Call, Refusal, router};
pub use guard::{Barred, LoginGuard};
pub use lifecycle::Lifecycle;
pub use paging::{Index, PageError, PageQuery, PageRules, PathLimit, Table};
pub use rules::{Field, Kind, check_fields, json_matches, only_fields, overlay};
