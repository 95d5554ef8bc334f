//! A local stand-in for EdgeIQ's platform API (feature `sandbox`): try the client, and test your
//! own service, with no account and no charges.
//!
//! [`Sandbox::start`] runs a server on `127.0.0.1` with an ephemeral port, fresh random
//! credentials and an empty store; [`Sandbox::client`] is a [`Client`] already pointed at it.
//! Seed SIM records with [`Sandbox::seed_sim`], read them back with [`Sandbox::sim`], and see
//! every request received with [`Sandbox::requests`]. The shared machinery (request log, rate
//! limiter, fault injection) is [`Sandbox::server`].
//!
//! ```
//! use edgeiq_client::sandbox::{Sandbox, SimSeed};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let sandbox = Sandbox::start().await?;
//! let id = sandbox.seed_sim(SimSeed::new().status("inactive"));
//! let client = sandbox.client();
//!
//! let record = client.update_sim(&id).status("active").metadata("site", "pump 7").send().await?
//!     .into_resource().expect("the stored record");
//! assert_eq!(record.status.as_deref(), Some("active"));
//! assert_eq!(sandbox.sim(&id).unwrap()["sim_metadata"]["site"], "pump 7");
//! assert_eq!(sandbox.requests().len(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! The server is written independently of this crate's request and model types: it parses the
//! raw request and answers with JSON it builds itself, so a client that sends the wrong thing
//! gets the platform's refusal, not an echo of its own mistake.
//!
//! # What it enforces
//! Paths are under [`BASE_PATH`] (as on the real host); [`Sandbox::base_url`] includes it.
//!
//! | request | rule | answer when broken |
//! |---|---|---|
//! | `GET /sims`, `GET`, `PUT /sims/{id}` | `Authorization` is exactly a user's permanent API token or a live session token: the raw token, no scheme (`Bearer x` is refused) | 401 `{"message": "Unauthorized"}` |
//! | | `id` is 24 hex digits, either case (a malformed id is a malformed request) | 400 |
//! | | a record with this id exists | 404 `{"message": "Sim not found"}` |
//! | `GET /sims/{id}` | | 200: the whole record, read-only server fields included |
//! | `PUT /sims/{id}` | `Content-Type: application/json` and a JSON object body | 400 |
//! | | keys outside `SimInput` are ignored, not applied: the read-only `company_id`, `ctd_data_usage`, `ctd_sms_usage`, `included_usage`, `overage_limit_reached`, `sim_barred`, `last_sync_at`, `created_at`, `updated_at`, `user_id`, the id (`_id`, `id`), and unknown keys | (accepted) |
//! | | the rest is merged onto the stored record (RFC 7396: nested objects merge, `null` removes); the merged record is then checked: | 400 naming every broken rule; the record is unchanged |
//! | | `device_id` present, a non-empty string (required by `SimInput`) | |
//! | | `iccid` present, 18 to 22 ASCII digits, and no other record has it | |
//! | | `mno_integration_id` a string | |
//! | | `msisdn` a string of at most 20 characters | |
//! | | `status` a string of at most 30 characters, any value (an open carrier string: no transition table); removed, it falls back to the default `inactive` | |
//! | | `communication_plan`, `rate_plan` strings of at most 255 characters | |
//! | | `sim_metadata` a JSON object with at most 50 top-level keys **after the merge** | |
//! | | | 200: the merged record, `updated_at` set by the server |
//! | `GET /sims` | `page` an integer from 1 (default 1), `per_page` from 1 to 1000 (default 100), `page_meta` `true` or `false` | 400 |
//! | | every other parameter filters exactly: `status=active` keeps the records whose `status` is `active` (operator suffixes such as `_inc` are not modelled) | |
//! | | | 200: the page's records in id order, each as `GET /sims/{id}` answers it: a bare array, or with `page_meta=true` `{"total": n, "resources": [...]}` (`n` counts every record the filters keep) |
//! | `POST /user/authenticate` | a JSON object body with string `email` and `password` | 400 |
//! | | `token_expiry`, when present, an RFC 3339 time in the future and at most one week ahead | 400 |
//! | | `email` (any case) and `password` are a user's ([`Sandbox::user`], [`Sandbox::seed_user`]) | 401 `{"message": "Unauthorized"}` |
//! | | | 200: the user's record with `session_token` and `session_expires_at`; the session lasts until `token_expiry`, else 4 hours ([`SandboxOptions::session_lifetime`]); an expired session answers 401 |
//! | another method on these paths | | 405 `{"message": "Method Not Allowed"}` |
//! | any other path | | 404 `{"message": "Not Found"}` |
//! | any, over the rate limit ([`SandboxOptions::rate_limit`], [`SandboxServer::set_rate_limit`]) | | 429 `{"message": "Too Many Requests"}`, without `Retry-After` (EdgeIQ documents none) |
//!
//! Checks apply in this order: the method (405), credentials, id, body, existence, then the merged
//! record. A refused update lists every broken rule at once.
//!
//! # Time
//! EdgeIQ's rule, from its authentication guide: a session from `POST /user/authenticate`
//! lasts 4 hours by default ([`DEFAULT_SESSION`]), or until the login's `token_expiry`, at most
//! one week ahead ([`MAX_SESSION`]); a permanent API token never expires.
//!
//! The sandbox keeps time by its [`Clock`] ([`SandboxOptions::clock`]; the real one by default;
//! one clock may be shared by several sandboxes): the records' `created_at`, `updated_at` and
//! `last_sync_at`, and when a session ends. A login's `token_expiry` and the answer's
//! `session_expires_at` are times on the caller's clock, the real one a client computes them
//! from and compares them with; the session's length (that time less the real time of the
//! login, or the default) is counted on the sandbox's clock. So moving a virtual clock forward
//! by a session's length ends it: its token answers `401 {"message": "Unauthorized"}`, and a
//! logged-in client logs in again once. On the real clock the two are the same.
//!
//! # Choices where EdgeIQ's documentation is silent
//! - Error bodies: a 400 is `{"messages": ["rule", ...]}`, every other error
//!   `{"message": "text"}`, the two shapes the client reads ([`crate::errors`]).
//! - The record's id key is `_id`, the login answer's token key `session_token`, the other
//!   `SimInput` keys those of [`crate::models::keys`] (each written out here on its own).
//! - A malformed id answers 400 rather than 404; a body that is not declared as JSON answers 400.
//! - ICCID uniqueness is checked on updates; seeded records are stored as given.
//!
//! - The page parameters of `GET /sims` are this crate's reading, `page` (from 1) and
//!   `per_page` (at most 1000), as [`crate::models::list_keys`] has them; records are kept in
//!   id order, so a page costs the same with ten records or 100,000.
//!
//! Not modelled: creating and deleting records, and the platform's other resources.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::Response;
use axum::response::IntoResponse;
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde_json::{Map, Value, json};
use simsandbox::engine::{
    self, Answer, Call, Field, PageRules, Sessions, Table, TokenState, check_fields, ids,
};
/// Re-exported from simsandbox: the request log, the rate limit, the server, the clock and the
/// admin view's shape.
pub use simsandbox::{Clock, ClockError, RateLimit, RecordedRequest, SandboxAdmin, SandboxServer};
use simsandbox::{SandboxOptions as ServerOptions, Store, json_response};

use crate::client::{Client, ClientBuilder};

/// The path the platform API lives under, as on `https://api.edgeiq.io`.
pub const BASE_PATH: &str = "/api/v1/platform";

/// How long a session lasts when the login names no expiry: 4 hours.
pub const DEFAULT_SESSION: Duration = Duration::from_secs(4 * 60 * 60);

/// The longest session a login may ask for: one week.
pub const MAX_SESSION: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The page size of `GET /sims` when none is asked for (this sandbox's choice).
pub const DEFAULT_PAGE_SIZE: usize = 100;
/// The largest page of `GET /sims` (this crate's reading:
/// [`list_keys::MAX_PAGE_SIZE`](crate::models::list_keys::MAX_PAGE_SIZE)).
pub const MAX_PAGE_SIZE: usize = crate::models::list_keys::MAX_PAGE_SIZE as usize;

/// The most top-level keys `sim_metadata` may have.
pub const MAX_METADATA_KEYS: usize = 50;

/// The keys of `SimInput`, the only keys an update applies, and the rules the merged record
/// must keep, in the order they are checked.
const FIELDS: &[Field] = &[
    Field::text("device_id", 1, None).required(),
    Field::digits("iccid", 18, 22).required(),
    Field::text("mno_integration_id", 0, None),
    Field::text("msisdn", 0, Some(20)),
    Field::text("status", 0, Some(30)),
    Field::text("communication_plan", 0, Some(255)),
    Field::text("rate_plan", 0, Some(255)),
    Field::object("sim_metadata", MAX_METADATA_KEYS),
];

/// How `GET /sims` reads its page.
const PAGES: PageRules = PageRules {
    page: "page",
    size: "per_page",
    first: 1,
    default_size: DEFAULT_PAGE_SIZE,
    max_size: MAX_PAGE_SIZE,
};

/// How the sandbox starts ([`Sandbox::start_with`]).
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// How long a session lasts when the login names no `token_expiry`. Default
    /// [`DEFAULT_SESSION`]; make it short to test logging in again.
    pub session_lifetime: Duration,
    /// A rate limit from the start (none by default); see also
    /// [`SandboxServer::set_rate_limit`]. The 429 never carries `Retry-After`, whatever
    /// `retry_after` says.
    pub rate_limit: Option<RateLimit>,
    /// Whether to keep the request log (on by default; benchmarks turn it off).
    pub record: bool,
    /// The clock the sandbox keeps time by (the real one by default; one clock may be shared
    /// by several sandboxes): the records' `created_at` and `updated_at`, and when a session
    /// ends (see [the module docs](self#time)).
    pub clock: Clock,
    /// The port on `127.0.0.1` to listen on (`0`, the default: an ephemeral one).
    pub port: u16,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            session_lifetime: DEFAULT_SESSION,
            rate_limit: None,
            record: true,
            clock: Clock::real(),
            port: 0,
        }
    }
}

/// A user of the sandbox: what a login needs, and the permanent API token.
#[derive(Clone, PartialEq, Eq)]
pub struct SandboxUser {
    /// The user's id (24 hex digits).
    pub id: String,
    /// The email to log in with.
    pub email: String,
    /// The password to log in with.
    pub password: String,
    /// The permanent API token, sent as `Authorization: <token>`.
    pub api_token: String,
}

impl fmt::Debug for SandboxUser {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SandboxUser")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("password", &"[redacted]")
            .field("api_token", &"[redacted]")
            .finish()
    }
}

/// A SIM record to seed: defaults for every field, and setters for the interesting ones.
///
/// The defaults: a fresh id, a linked `device_id`, a random 20-digit ICCID (Luhn-valid),
/// `status` `inactive`, empty `sim_metadata`, and the server's own fields (`company_id`, zero
/// usage counters, `overage_limit_reached` and `sim_barred` false, `last_sync_at`, `created_at`,
/// `updated_at` now, `user_id` the sandbox's user). A seed is stored as given, unchecked, so a
/// test can start from a record the platform would no longer accept.
#[derive(Debug, Clone, Default)]
pub struct SimSeed {
    id: Option<String>,
    fields: Map<String, Value>,
}

impl SimSeed {
    /// A seed with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The record's id (24 hex digits; [`Sandbox::seed_sim`] panics on anything else).
    pub fn id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The communication plan and rate plan names (none by default).
    pub fn plans(self, comm: impl Into<String>, rate: impl Into<String>) -> Self {
        self.field("communication_plan", comm.into())
            .field("rate_plan", rate.into())
    }

    /// The metadata object (empty by default).
    pub fn metadata(self, metadata: Map<String, Value>) -> Self {
        self.field("sim_metadata", Value::Object(metadata))
    }

    /// Any key of the record, read-only ones included (`ctd_data_usage`, `sim_barred`, …);
    /// `null` removes a default. `_id` is always the seed's [`id`](SimSeed::id).
    pub fn field(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.fields.insert(key.into(), value.into());
        self
    }
}

simsandbox::seed_setters!(SimSeed {
    /// The ICCID.
    iccid,
    /// The carrier status (`inactive` by default).
    status,
    /// The MSISDN (none by default).
    msisdn,
    /// The linked device's id.
    device_id,
});

struct State {
    /// Records by lowercase id, in id order (a page of the list is found by its offset), their
    /// ICCIDs indexed: an update's uniqueness check costs the same at 100,000 records.
    sims: Table<String, Value>,
    /// Users by lowercase email.
    users: Store<String, SandboxUser>,
    sessions: Sessions,
    clock: Clock,
    session_lifetime: Duration,
    company_id: String,
}

/// A running sandbox of EdgeIQ's platform API. Stops when dropped. Start it inside a Tokio
/// runtime.
pub struct Sandbox {
    server: SandboxServer,
    state: Arc<State>,
    user: SandboxUser,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("base_url", &self.base_url())
            .field("user", &self.user)
            .field("sims", &self.state.sims.len())
            .finish()
    }
}

impl Sandbox {
    /// Starts a sandbox with options.
    pub async fn start_with(options: SandboxOptions) -> std::io::Result<Sandbox> {
        let user = new_user("sandbox@example.com", &ids::credential(&ids::hex(20)));
        let state = Arc::new(State {
            sims: Table::new(|r| r.get("iccid").and_then(Value::as_str).map(str::to_owned)),
            users: Store::new(),
            sessions: Sessions::new(options.clock.clone()),
            clock: options.clock,
            session_lifetime: options.session_lifetime,
            company_id: format!("sandbox_company_{}", ids::hex(6)),
        });
        state.users.insert(user.email.to_lowercase(), user.clone());
        let server_options = ServerOptions {
            rate_limit: options.rate_limit,
            throttle: Arc::new(|_wait| message(429, "Too Many Requests")),
            record: options.record,
        };
        let router = engine::router(state.clone(), route);
        let server = SandboxServer::start_on_port(router, server_options, options.port).await?;
        Ok(Sandbox {
            server,
            state,
            user,
        })
    }

    /// The base URL to give a client: `http://127.0.0.1:PORT/api/v1/platform`.
    pub fn base_url(&self) -> String {
        format!("{}{BASE_PATH}", self.server.base_url())
    }

    /// A client pointed at the sandbox with its API token.
    pub fn client(&self) -> Client {
        self.client_builder()
            .build()
            .expect("a loopback base URL and a non-empty token always build")
    }

    /// A client builder pointed at the sandbox with its API token, to change timeouts or
    /// retries. To [`login`](ClientBuilder::login) with [`Sandbox::user`]'s email and password
    /// instead, start from [`builder_without_credentials`](Self::builder_without_credentials):
    /// a builder refuses an API token beside a login.
    pub fn client_builder(&self) -> ClientBuilder {
        self.builder_without_credentials()
            .api_token(self.user.api_token.clone())
    }

    /// A client builder pointed at the sandbox, with no credentials yet.
    pub fn builder_without_credentials(&self) -> ClientBuilder {
        Client::builder().base_url(self.base_url())
    }

    /// The sandbox's permanent API token (that of [`Sandbox::user`]).
    pub fn api_token(&self) -> &str {
        &self.user.api_token
    }

    /// The user created with the sandbox: `sandbox@example.com`, a random password and API
    /// token.
    pub fn user(&self) -> &SandboxUser {
        &self.user
    }

    /// Adds a user who can log in with `email` (any case) and `password`; it gets its own API
    /// token. A user with the same email is replaced.
    pub fn seed_user(&self, email: impl Into<String>, password: impl Into<String>) -> SandboxUser {
        let user = new_user(&email.into(), &password.into());
        let key = user.email.to_lowercase();
        self.state.users.insert(key, user.clone());
        user
    }

    /// Ends every session issued so far: their tokens answer 401 from now on, as they will once
    /// they reach their expiry.
    pub fn expire_sessions(&self) {
        self.state.sessions.expire_all();
    }

    /// Stores a SIM record built from `seed` over the defaults (see [`SimSeed`]) and returns its
    /// id. A record with the same id is replaced.
    ///
    /// # Panics
    /// If the seed's id is not 24 hex digits: the platform serves no other ids.
    pub fn seed_sim(&self, seed: SimSeed) -> String {
        let id = seed.id.unwrap_or_else(object_id);
        assert!(
            is_object_id(&id),
            "a sandbox SIM id must be 24 hex digits, not {id:?}"
        );
        let id = id.to_lowercase();
        let now = timestamp(self.state.clock.now());
        let mut record = json!({
            "_id": id,
            "device_id": object_id(),
            "iccid": ids::iccid("8988", 20),
            "status": "inactive",
            "sim_metadata": {},
            "company_id": self.state.company_id,
            "ctd_data_usage": 0,
            "ctd_sms_usage": 0,
            "included_usage": 0,
            "overage_limit_reached": false,
            "sim_barred": false,
            "last_sync_at": now,
            "created_at": now,
            "updated_at": now,
            "user_id": self.user.id,
        });
        // A seed's `null` removes a default; the id is the store's key, which no field overrides.
        engine::overlay(
            &mut record,
            seed.fields.into_iter().chain([("_id".into(), json!(id))]),
        );
        let _write = self.state.sims.write();
        self.state.sims.store(id.clone(), record);
        id
    }

    /// Seeds many records and returns their ids in order (a fleet for a list test).
    ///
    /// # Panics
    /// As [`seed_sim`](Self::seed_sim) does.
    pub fn seed_sims(&self, seeds: impl IntoIterator<Item = SimSeed>) -> Vec<String> {
        seeds.into_iter().map(|seed| self.seed_sim(seed)).collect()
    }

    /// The stored record `id` (any case), exactly as `GET /sims/{id}` would answer it.
    pub fn sim(&self, id: &str) -> Option<Value> {
        self.state.sims.get(&id.to_lowercase())
    }

    /// Every stored record, in id order (the list's order).
    pub fn sims(&self) -> Vec<Value> {
        self.state.sims.values()
    }

    /// How many sessions are live now, on the sandbox's clock.
    pub fn live_sessions(&self) -> usize {
        self.state.sessions.live()
    }

    /// Everything the sandbox holds, as JSON (see [`SandboxAdmin::state_json`]): the clock,
    /// every SIM record as `GET /sims/{id}` answers it (in id order), the users by email (no
    /// password, no API token), and the live sessions' ends on the sandbox's clock (no session
    /// token).
    pub fn state_json(&self) -> Value {
        let users = self.state.users.values();
        let mut users: Vec<String> = users.into_iter().map(|u| u.email).collect();
        users.sort();
        json!({
            "provider": crate::PROVIDER,
            "clock": self.state.clock.state_json(),
            "company_id": self.state.company_id,
            "sims": self.sims(),
            "users": users,
            "sessions": self.state.sessions.state_json(timestamp),
        })
    }
}

simsandbox::sandbox_basics!(Sandbox, crate::PROVIDER, server, state.clock);

// ---------------------------------------------------------------------------------------------
// Routing

async fn route(state: Arc<State>, call: Call) -> Response<Body> {
    let Some(segments) = call.segments(BASE_PATH) else {
        return message(404, "Not Found");
    };
    let (get, put) = (call.method == "GET", call.method == "PUT");
    match segments.as_slice() {
        ["user", "authenticate"] if call.method == "POST" => login(&state, &call).into_response(),
        ["sims"] if !get => message(405, "Method Not Allowed"),
        ["sims", _] if !get && !put => message(405, "Method Not Allowed"),
        ["user", "authenticate"] => message(405, "Method Not Allowed"),
        ["sims"] | ["sims", _] if !authorized(&state, &call) => message(401, "Unauthorized"),
        ["sims"] => list(&state, &call),
        ["sims", id] if !is_object_id(id) => {
            invalid([format!("id must be 24 hex digits (found {id:?})")])
        }
        ["sims", id] if get => match state.sims.get(&id.to_lowercase()) {
            Some(record) => json_response(200, &record),
            None => sim_not_found(),
        },
        ["sims", id] => update(&state, &id.to_lowercase(), &call).into_response(),
        _ => message(404, "Not Found"),
    }
}

/// `{"message": text}` with a status.
fn message(status: u16, text: &str) -> Response<Body> {
    json_response(status, &json!({ "message": text }))
}

fn sim_not_found() -> Response<Body> {
    message(404, "Sim not found")
}

/// 400 `{"messages": [..]}`.
fn invalid(messages: impl IntoIterator<Item = impl ToString>) -> Response<Body> {
    let messages: Vec<String> = messages.into_iter().map(|m| m.to_string()).collect();
    json_response(400, &json!({ "messages": messages }))
}

/// The raw `Authorization` value is a user's API token or a live session token.
fn authorized(state: &State, call: &Call) -> bool {
    call.authorization().is_some_and(|token| {
        state.users.values().iter().any(|u| u.api_token == token)
            || state.sessions.check(token) == TokenState::Live
    })
}

// ---------------------------------------------------------------------------------------------
// PUT /sims/{id}

fn update(state: &State, id: &str, call: &Call) -> Answer {
    // Only SimInput's keys are applied: read-only fields, the id and unknown keys are ignored.
    let patch = engine::only_fields(FIELDS, call.json_object().map_err(|e| invalid([e]))?);
    let _write = state.sims.write();
    let mut merged = state.sims.get(&id.to_owned()).ok_or_else(sim_not_found)?;
    json_patch::merge(&mut merged, &Value::Object(patch));
    let Value::Object(record) = &mut merged else {
        return Err(message(500, "stored record is not an object").into());
    };
    record.entry("status").or_insert_with(|| json!("inactive"));
    let mut problems = check_fields(FIELDS, record);
    if let Some(iccid) = record.get("iccid").and_then(Value::as_str) {
        if state.sims.taken(iccid, &id.to_owned()) {
            problems.push(format!(
                "iccid must be unique on the platform: {iccid} belongs to another SIM"
            ));
        }
    }
    if !problems.is_empty() {
        return Err(invalid(problems).into());
    }
    record.insert("updated_at".into(), json!(timestamp(state.clock.now())));
    state.sims.store(id.to_owned(), merged.clone());
    Ok(json_response(200, &merged))
}

// ---------------------------------------------------------------------------------------------
// GET /sims

/// `GET /sims`: a page of records in id order, as a bare array, or with `page_meta=true` as
/// `{"total": n, "resources": [...]}`. Parameters other than the paging ones filter exactly.
fn list(state: &State, call: &Call) -> Response<Body> {
    let (ask, errors, rest) = PAGES.read_query(call.query_pairs());
    let mut problems: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let (mut page_meta, mut filters) = (false, Vec::new());
    for (key, value) in rest {
        match (key.as_str(), value.as_str()) {
            ("page_meta", "true" | "false") => page_meta = value == "true",
            ("page_meta", v) => {
                problems.push(format!("page_meta must be true or false (found {v:?})"))
            }
            _ => filters.push((key, value)),
        }
    }
    if !problems.is_empty() {
        return invalid(problems);
    }
    let keep = |r: &Value| filters.iter().all(|(k, v)| engine::json_matches(r, k, v));
    let keep: Option<&dyn Fn(&Value) -> bool> = (!filters.is_empty()).then_some(&keep);
    let (resources, total) = state.sims.query(ask.offset(), ask.size, keep);
    #[derive(Serialize)]
    struct Meta {
        total: usize,
        resources: Vec<Value>,
    }
    match page_meta {
        true => simsandbox::json_response_from(200, &Meta { total, resources }),
        false => simsandbox::json_response_from(200, &resources),
    }
}

// ---------------------------------------------------------------------------------------------
// POST /user/authenticate

fn login(state: &State, call: &Call) -> Answer {
    let form = call.json_object().map_err(|e| invalid([e]))?;
    let text = |key: &str| form.get(key).and_then(Value::as_str);
    let (email, password) = (text("email"), text("password"));
    let mut problems = Vec::new();
    for (key, value) in [("email", email), ("password", password)] {
        if value.is_none() {
            problems.push(format!("{key} is required (a string)"));
        }
    }
    // `token_expiry` is a time on the caller's clock, the real one: the session lasts from now
    // until then, and that length is counted on the sandbox's clock.
    let mut lifetime = state.session_lifetime;
    match form.get("token_expiry") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) => match DateTime::parse_from_rfc3339(s) {
            Ok(t) => match (t.with_timezone(&Utc) - Utc::now()).to_std() {
                Ok(ahead) if !ahead.is_zero() && ahead <= MAX_SESSION => lifetime = ahead,
                _ => problems.push(format!(
                    "token_expiry must be in the future and at most one week ahead (found {s})"
                )),
            },
            Err(_) => problems.push(format!(
                "token_expiry must be an RFC 3339 time (found {s:?})"
            )),
        },
        Some(_) => problems.push("token_expiry must be an RFC 3339 time string".to_owned()),
    }
    let (Some(email), Some(password), true) = (email, password, problems.is_empty()) else {
        return Err(invalid(problems).into());
    };
    let user = (state.users.get(&email.to_lowercase()))
        .filter(|u| u.password == password)
        .ok_or_else(|| message(401, "Unauthorized"))?;
    let token = state.sessions.issue(lifetime);
    // Reported on the caller's clock, which a client compares it with.
    let expires_at = Clock::real().after(lifetime);
    Ok(json_response(
        200,
        &json!({
            "_id": user.id,
            "email": user.email,
            "company_id": state.company_id,
            "user_type": "admin",
            "api_token": user.api_token,
            "session_token": token,
            "session_expires_at": timestamp(expires_at),
        }),
    ))
}

// ---------------------------------------------------------------------------------------------
// Ids, tokens, times

fn timestamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// A new id shaped like a MongoDB ObjectId: the time in seconds, then random digits.
fn object_id() -> String {
    let secs = u32::try_from(Utc::now().timestamp()).unwrap_or(u32::MAX);
    format!("{secs:08x}{}", ids::hex(16))
}

fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn new_user(email: &str, password: &str) -> SandboxUser {
    SandboxUser {
        id: object_id(),
        email: email.to_owned(),
        password: password.to_owned(),
        api_token: ids::credential(&ids::hex(32)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_and_iccids_have_their_shape() {
        for _ in 0..100 {
            let id = object_id();
            assert!(is_object_id(&id), "{id}");
            let iccid = ids::iccid("8988", 20);
            assert_eq!(iccid.len(), 20);
            let parsed = simcore::Iccid::parse(&iccid).unwrap();
            assert!(parsed.luhn_ok(), "{iccid}");
        }
        assert_ne!(ids::hex(32), ids::hex(32));
    }

    #[test]
    fn check_table() {
        let base = json!({"device_id": "d", "iccid": "89882806660004909182", "status": "active"});
        let with = |k: &str, v: Value| {
            let mut m = base.as_object().unwrap().clone();
            if v.is_null() {
                m.remove(k);
            } else {
                m.insert(k.to_owned(), v);
            }
            m
        };
        let many: Map<String, Value> = (0..51).map(|i| (format!("k{i}"), json!(i))).collect();
        for (record, expected) in [
            (with("status", json!("x".repeat(30))), vec![]),
            (
                with("status", json!("x".repeat(31))),
                vec!["status must be at most 30 characters (found 31)"],
            ),
            (with("msisdn", json!("1".repeat(20))), vec![]),
            (
                with("msisdn", json!("1".repeat(21))),
                vec!["msisdn must be at most 20 characters (found 21)"],
            ),
            (with("msisdn", json!(49)), vec!["msisdn must be a string"]),
            (
                with("rate_plan", json!("p".repeat(256))),
                vec!["rate_plan must be at most 255 characters (found 256)"],
            ),
            (with("iccid", Value::Null), vec!["iccid is required"]),
            (
                with("iccid", json!("8988")),
                vec!["iccid must be 18 to 22 digits (found \"8988\")"],
            ),
            (
                with("device_id", Value::Null),
                vec!["device_id is required"],
            ),
            (
                with("device_id", json!("")),
                vec!["device_id must be a non-empty string"],
            ),
            (
                with("mno_integration_id", json!(7)),
                vec!["mno_integration_id must be a string"],
            ),
            (
                with("sim_metadata", json!([1])),
                vec!["sim_metadata must be a JSON object"],
            ),
            (
                with("sim_metadata", Value::Object(many)),
                vec!["sim_metadata must have at most 50 top-level keys (found 51)"],
            ),
        ] {
            assert_eq!(check_fields(FIELDS, &record), expected, "{record:?}");
        }
    }
}
