//! Credentials: the `Authorization` dialects, and the tokens a login issues.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::http::header;
use chrono::{DateTime, Utc};

use super::{Call, ids};
use crate::{Clock, lock};

impl Call {
    /// The `Authorization` header's value as sent (no scheme read), if present, text and not
    /// empty.
    pub fn authorization(&self) -> Option<&str> {
        self.header(header::AUTHORIZATION).filter(|v| !v.is_empty())
    }

    /// The `Authorization` header's scheme (any case) and the rest, trimmed: `("Bearer", token)`.
    pub fn auth_scheme(&self) -> Option<(&str, &str)> {
        let (scheme, rest) = self.authorization()?.trim().split_once(' ')?;
        Some((scheme, rest.trim()))
    }

    /// The token of `Authorization: Bearer <token>` (the scheme in any case).
    pub fn bearer(&self) -> Option<&str> {
        self.auth_scheme()
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token)
    }
}

/// What a token presented is now ([`Sessions::check`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenState {
    /// Issued, and not yet at its end.
    Live,
    /// Issued, and at or past its end.
    Expired,
    /// Never issued, or forgotten.
    Unknown,
}

/// The tokens (sessions) a sandbox's login issued, each with its end on the sandbox's clock:
/// moving a virtual clock past a token's end expires it.
///
/// ```
/// use std::time::Duration;
/// use simsandbox::Clock;
/// use simsandbox::engine::{Sessions, TokenState};
///
/// let clock = Clock::virtual_now();
/// let sessions = Sessions::new(clock.clone());
/// let token = sessions.issue(Duration::from_secs(60));
/// assert!(token.starts_with("simsandbox_"));
/// assert_eq!(sessions.check(&token), TokenState::Live);
/// clock.advance(Duration::from_secs(60))?;
/// assert_eq!(sessions.check(&token), TokenState::Expired);
/// assert_eq!(sessions.check("other"), TokenState::Unknown);
/// # Ok::<(), simsandbox::ClockError>(())
/// ```
#[derive(Debug)]
pub struct Sessions {
    clock: Clock,
    ends: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl Sessions {
    /// No sessions yet, their ends kept on `clock`.
    pub fn new(clock: Clock) -> Self {
        Self {
            clock,
            ends: Mutex::new(HashMap::new()),
        }
    }

    /// Issues a fresh token (32 random hex digits behind the sandbox mark) that lasts `lifetime`.
    pub fn issue(&self, lifetime: Duration) -> String {
        let token = ids::credential(&ids::hex(32));
        self.insert(token.clone(), lifetime);
        token
    }

    /// Keeps a token of the sandbox's own making that lasts `lifetime` (a lifetime past what the
    /// clock can show never ends).
    pub fn insert(&self, token: String, lifetime: Duration) {
        lock(&self.ends).insert(token, self.clock.after(lifetime));
    }

    /// Whether `token` is live, expired, or unknown.
    pub fn check(&self, token: &str) -> TokenState {
        match lock(&self.ends).get(token) {
            Some(end) if self.clock.now() < *end => TokenState::Live,
            Some(_) => TokenState::Expired,
            None => TokenState::Unknown,
        }
    }

    /// Ends every token now: each answers [`TokenState::Expired`] from now on.
    pub fn expire_all(&self) {
        let now = self.clock.now();
        lock(&self.ends).values_mut().for_each(|end| *end = now);
    }

    /// Forgets every token: each answers [`TokenState::Unknown`] from now on.
    pub fn clear(&self) {
        lock(&self.ends).clear();
    }

    /// How many tokens are live now.
    pub fn live(&self) -> usize {
        self.ends().len()
    }

    /// The live tokens for an admin view, each end shown by `show`:
    /// `{"live": n, "ends": [...]}`, soonest first (no token).
    pub fn state_json<T: serde::Serialize>(
        &self,
        show: impl Fn(DateTime<Utc>) -> T,
    ) -> serde_json::Value {
        let ends: Vec<T> = self.ends().into_iter().map(show).collect();
        serde_json::json!({"live": ends.len(), "ends": ends})
    }

    /// The ends of the live tokens, soonest first (no token: an admin view may show these).
    pub fn ends(&self) -> Vec<DateTime<Utc>> {
        let now = self.clock.now();
        let mut ends: Vec<_> = lock(&self.ends)
            .values()
            .copied()
            .filter(|end| now < *end)
            .collect();
        ends.sort();
        ends
    }
}
