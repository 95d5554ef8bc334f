//! A local stand-in for the Super SIM API (feature `sandbox`), as Twilio or as KORE serves it:
//! try the client, or test your own service, with no account and no charges.
//!
//! [`Sandbox::start`] runs a server on `127.0.0.1` with an ephemeral port, fresh credentials and
//! an empty account; [`Sandbox::client`] is a [`Client`] already pointed at it. The server is an
//! independent implementation of Twilio's rules: it parses the raw request (path, query, Basic
//! credentials, form body) by itself and answers with Twilio's JSON shapes and status codes, so a
//! client that sends the wrong thing is told so, as Twilio would tell it.
//!
//! It speaks Twilio's dialect by default. [`SandboxOptions::kore`] makes it act as KORE
//! ([`Dialect::Kore`]): the same resources and answers, but OAuth2 client credentials at
//! [`TOKEN_PATH`] ([`Sandbox::token_url`], [`Sandbox::client_id`], [`Sandbox::client_secret`])
//! and `Authorization: Bearer` on the Super SIM paths, with tokens that expire when the test
//! says ([`SandboxOptions::token_lifetime`], [`Sandbox::expire_tokens`]), and callbacks signed
//! with `kore-signature`.
//!
//! ```
//! use supersim_client::sandbox::{Sandbox, SimSeed, SimStatus};
//! use supersim_client::{SettableStatus, Status};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let sandbox = Sandbox::start().await?;
//! let sid = sandbox.seed_sim(SimSeed::new().unique_name("pump 7"));
//! let client = sandbox.client();
//!
//! let outcome = client.update_sim("pump 7").status(SettableStatus::Active).send().await?;
//! assert!(outcome.is_pending()); // 202 Accepted, the SIM reads `scheduled`
//! sandbox.settled().await; // the change lands a moment later (50 ms by default)
//! assert_eq!(client.get_sim(&sid).await?.status, Some(Status::Active));
//! assert_eq!(sandbox.sim(&sid).unwrap().status, SimStatus::Active);
//!
//! // Twilio's refusals come back as typed errors.
//! let err = client.update_sim(&sid).status(SettableStatus::Ready).send().await.unwrap_err();
//! assert_eq!((err.status(), err.api().and_then(|a| a.code)), (Some(400), Some(83010)));
//! assert_eq!(sandbox.requests().len(), 3);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # The rules it enforces
//! Checked in this order: injected faults and the rate limit (when one is set; see
//! [`SandboxServer`]), then in KORE's dialect the token endpoint's own rules, then
//! credentials, the route, then the request's own rules, in the order of the table. Every
//! error body of the Super SIM paths is Twilio's `{"code", "message", "more_info",
//! "status"}`, with `more_info` `https://www.twilio.com/docs/errors/{code}`; the token
//! endpoint answers with the bodies of KORE's spec.
//!
//! | request | rule | answer when broken |
//! |---|---|---|
//! | any | at most [`SandboxOptions::in_flight_limit`] requests in flight, when one is set (Twilio's account-wide concurrency limit) | `429`, code 20429 `Too Many Requests`, no `Retry-After`, not processed |
//! | any | the rate limit, when one is set ([`SandboxOptions::rate_limit`]) | `429`, code 20429 `Too Many Requests`, with `Retry-After` (seconds) |
//! | KORE: [`TOKEN_PATH`] | method `POST` | `405`, `{"code": 405, "message": "Method not allowed"}`, with `Allow: POST` |
//! | KORE: `POST` [`TOKEN_PATH`] | the body is `application/x-www-form-urlencoded` | `400`, `{"code": 400, "message": …}` (the code repeats the status: the sandbox's choice) |
//! | KORE: `POST` [`TOKEN_PATH`] | only `grant_type`, `client_id`, `client_secret`, each at most once | `400`, `{"code": 400, "message": …}` |
//! | KORE: `POST` [`TOKEN_PATH`] | `grant_type` is `client_credentials` | `400`, `{"code": 400, "message": …}` |
//! | KORE: `POST` [`TOKEN_PATH`] | `client_id` and `client_secret` are given and not empty | `400`, `{"code": 400, "message": "Missing parameter …"}` |
//! | KORE: `POST` [`TOKEN_PATH`] | they are the sandbox's ([`Sandbox::client_id`], [`Sandbox::client_secret`]) | `401`, `{"error": "invalid_client", "error_description": "Invalid client or Invalid client credentials"}` |
//! | KORE: `POST` [`TOKEN_PATH`] | otherwise | `200`, `{"access_token", "expires_in" (whole seconds), "token_type": "Bearer", "scope": "supersim"}` |
//! | Twilio: any | HTTP Basic with the sandbox's Account SID and Auth Token, or its API Key SID and secret | `401`, code 20003 `Authenticate`, with `WWW-Authenticate: Basic realm="Twilio API"` |
//! | KORE: any other path | `Authorization: Bearer` with a token the token endpoint issued and that has not expired (Basic is refused) | `401`, code 20003 `Authenticate`, with `WWW-Authenticate: Bearer` |
//! | any other path | only `/v1/Sims` and `/v1/Sims/{Sid}` exist here | `404`, code 20404 `The requested resource /… was not found` |
//! | another method, or `POST /v1/Sims` (registering a SIM, not modelled: seed instead) | `GET` on both paths, `POST` on `/v1/Sims/{Sid}` | `405`, code 20004 `Method not allowed`, with `Allow` |
//! | `GET`/`POST /v1/Sims/{Sid}` | `{Sid}` is the SID (`HS…`) or the unique name of a SIM of the account or of a subaccount | `404`, code 20404 `The requested resource /Sims/{Sid} was not found` |
//! | `GET /v1/Sims` | only `Status`, `Fleet`, `Iccid`, `PageSize`, `Page`, `PageToken`, each at most once | `400`, code 20001 |
//! | `GET /v1/Sims` | `Status` is `new`, `ready`, `active`, `inactive` or `scheduled` | `400`, code 20001 |
//! | `GET /v1/Sims` | `PageSize` is an integer from 1 to 1000 (default 50) | `400`, code 20001 `Invalid PageSize.` |
//! | `GET /v1/Sims` | `Page` is an integer of 0 or more; `PageToken` is one the sandbox handed out | `400`, code 20001 |
//! | `GET /v1/Sims` | `Fleet` (SID or unique name) and `Iccid` filter exactly; an unknown fleet matches nothing | `200`, an empty page |
//! | `POST /v1/Sims/{Sid}` | a non-empty body is `application/x-www-form-urlencoded` | `415`, code 20415 (the code is this sandbox's choice) |
//! | `POST /v1/Sims/{Sid}` | only `UniqueName`, `Status`, `Fleet`, `CallbackUrl`, `CallbackMethod`, `AccountSid`, each at most once (Twilio ignores unknown parameters; the sandbox refuses them so a misspelt one shows) | `400`, code 20001 |
//! | `POST /v1/Sims/{Sid}` | `Status` is `ready`, `active` or `inactive` | `400`, code 20001 |
//! | `POST /v1/Sims/{Sid}` | `Fleet` is the SID (`HF…`) or unique name of a fleet seeded with [`Sandbox::seed_fleet`] | `400`, code 20001 (an unknown fleet is a bad parameter; `404` stays for the SIM addressed) |
//! | `POST /v1/Sims/{Sid}` | `CallbackUrl` is an absolute `http` or `https` URL with a host | `400`, code 20001 |
//! | `POST /v1/Sims/{Sid}` | `CallbackMethod` is `GET` or `POST` | `400`, code 20001 |
//! | `POST /v1/Sims/{Sid}` | `AccountSid` is `AC` + 32 hex digits, and the sandbox's account or one of its subaccounts | `400`, code 20001 |
//! | `POST /v1/Sims/{Sid}` | `UniqueName` is not another SIM's (an empty one clears the name) | `400`, code 20001 |
//! | `POST /v1/Sims/{Sid}` | `AccountSid` only while the SIM is `new` | `400`, code 20001 |
//! | `POST /v1/Sims/{Sid}` | `Status`: never back to `new`; `ready` only from `new`; `new` → `ready`, `active`, `inactive`; `ready` → `active`, `inactive`; `active` ↔ `inactive`; nothing while `scheduled`, nothing to the status it already has | `400`, code 83010 |
//! | `POST /v1/Sims/{Sid}` | no `Fleet` while the SIM is `scheduled` | `400`, code 83009 |
//! | `POST /v1/Sims/{Sid}` | with `Status` or `Fleet` | `202`, the SIM in `scheduled`; the change lands after the schedule delay, then `CallbackUrl` is called |
//! | `POST /v1/Sims/{Sid}` | otherwise (`UniqueName`, `AccountSid` only) | `200`, the SIM as it is now |
//!
//! A refused request changes nothing. Every URL in an answer (`url`, `links`, the paging `meta`)
//! is absolute and points at the sandbox.
//!
//! # Scheduled changes and callbacks
//! A `Status` or `Fleet` change answers `202` with the SIM in `scheduled`. After the schedule
//! delay ([`SandboxOptions::schedule_delay`], 50 ms by default) the final status and fleet are
//! applied; with [`SandboxOptions::hold_scheduled`] they wait for
//! [`Sandbox::complete_scheduled`]. [`Sandbox::settled`] waits until every timed change and its
//! callback are done.
//!
//! When the update gave a `CallbackUrl`, the sandbox then calls it with `CallbackMethod`
//! (default `POST`), once, without retrying, sending the SIM's fields as form pairs (in the
//! query for `GET`): `AccountSid`, `SimSid`, `SimUniqueName` (when it has one), `Iccid`,
//! `Status`, `FleetSid` (when it has one) and `DateUpdated`. Twilio documents that it calls the
//! URL, not what it sends: these names are this sandbox's choice. The call goes through
//! [`simcore::http::Transport`], so only `https` URLs or `http` to a loopback host are called;
//! [`Sandbox::callbacks`] lists every call, the signature headers sent and its outcome.
//!
//! Every callback is signed as its dialect signs it, so a receiver can be tested with
//! [`crate::callbacks`]:
//! - **Twilio**: `X-Twilio-Signature`, keyed with the sandbox's Auth Token, over the URL as
//!   requested (for `GET`, with the pairs in its query) followed, for `POST`, by the form pairs
//!   sorted by name.
//! - **KORE**: `kore-signature`, the SHA-256 of the webhook secret
//!   ([`SandboxOptions::webhook_secret`], [`Sandbox::set_webhook_secret`]), the method, the
//!   `CallbackUrl` as given without its query, and the raw body; empty when no webhook secret
//!   is set. And `kore-idempotency-token`, fresh for each event.
//!
//! # Time and usage
//! Twilio's rule for a SIM left `ready`: it "becomes `active` by itself after 250 KB of data,
//! five SMS commands, or three months" (Twilio's Super SIM documentation of the Sim resource's
//! statuses).
//!
//! The sandbox keeps time by its [`Clock`] ([`SandboxOptions::clock`]; the real one by
//! default; one clock may be shared by several sandboxes): `date_created`, `date_updated` and
//! KORE's token expiries are read from it. With a virtual clock, moving it forward applies the
//! time rule at that moment: a SIM that became `ready` at `t` is `active` once the clock reaches
//! `t` plus [`READY_MONTHS`] (three) calendar months (14 January 09:00 → 14 April 09:00; 30
//! November → 28 or 29 February), with that moment as its `date_updated`, however far past it
//! the clock was moved. A fleet change keeps a `ready` SIM's time in `ready`; leaving `ready`
//! ends it. The real clock is never moved, so on it the rule never comes due within a run.
//!
//! The two other ways out of `ready` follow [`Sandbox::record_usage`], which stands in for a
//! device using the SIM: [`READY_DATA_KB`] (250 KB) of data or [`READY_SMS_COMMANDS`] (five) SMS
//! commands since it became `ready`. Neither change is an update: no callback is called.
//!
//! A KORE token lasts [`SandboxOptions::token_lifetime`] on the clock from when it was issued
//! (the answer's `expires_in` counts it in seconds): once the clock reaches its end, the token is
//! refused as an unknown one is (`401`, code 20003), and a client fetches a new one.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, to_bytes};
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Response, header};
use base64::Engine as _;
use chrono::{DateTime, Months, TimeDelta, Utc};
use serde::Serialize;
use serde::ser::{SerializeStruct, Serializer};
use serde_json::{Value, json};
use simcore::http::{Method as HttpMethod, Request as HttpRequest, Transport};
use simcore::retry::RetryPolicy;
use simcore::secrecy::SecretString;
use simsandbox::engine::Lifecycle;
use simsandbox::{
    AsText, SandboxOptions as ServerOptions, json_response, json_response_from, lock,
};
use tokio::sync::watch;
use url::Url;

use crate::callbacks::{KORE_IDEMPOTENCY_TOKEN, KORE_SIGNATURE, kore_signature, twilio_signature};
use crate::client::{Client, ClientBuilder};

pub use simsandbox::{
    Clock, ClockError, RateLimit, RecordedRequest, SandboxAdmin, SandboxServer, Stats,
};

/// The page size when a list names none (Twilio's default).
const DEFAULT_PAGE_SIZE: usize = 50;
/// The largest page Twilio serves.
const MAX_PAGE_SIZE: usize = 1000;
/// The largest request body the sandbox reads.
const BODY_LIMIT: usize = 64 * 1024;
/// The time a callback receiver has to answer.
const CALLBACK_TIMEOUT: Duration = Duration::from_secs(5);
/// The schedule delay unless the options say otherwise.
const DEFAULT_SCHEDULE_DELAY: Duration = Duration::from_millis(50);
/// The parameters `POST /v1/Sims/{Sid}` takes.
const UPDATE_PARAMS: [&str; 6] = [
    "UniqueName",
    "Status",
    "Fleet",
    "CallbackUrl",
    "CallbackMethod",
    "AccountSid",
];
/// The parameters `GET /v1/Sims` takes.
const LIST_PARAMS: [&str; 6] = ["Status", "Fleet", "Iccid", "PageSize", "Page", "PageToken"];
/// KORE's token endpoint, on the sandbox's own server (KORE serves it at
/// `https://api.korewireless.com/api-services/v1/auth/token`).
pub const TOKEN_PATH: &str = "/api-services/v1/auth/token";
/// The parameters the token endpoint takes.
const TOKEN_PARAMS: [&str; 3] = ["grant_type", "client_id", "client_secret"];
/// The `scope` of the tokens the sandbox issues (KORE does not document the value: this
/// sandbox's choice).
pub const TOKEN_SCOPE: &str = "supersim";
/// How long an issued token lasts unless the options say otherwise (the shortest lifetime KORE's
/// console offers).
const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);
/// A `ready` SIM becomes `active` by itself after this much data (Twilio: 250 KB).
pub const READY_DATA_KB: u64 = 250;
/// A `ready` SIM becomes `active` by itself after this many SMS commands (Twilio: five).
pub const READY_SMS_COMMANDS: u32 = 5;
/// A `ready` SIM becomes `active` by itself after this many months (Twilio: three).
pub const READY_MONTHS: u32 = 3;

/// Which provider the sandbox acts as: how it authenticates requests and signs callbacks.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Dialect {
    /// Twilio (`supersim.twilio.com`): HTTP Basic with the Account SID and Auth Token (or an API
    /// key); callbacks signed with `X-Twilio-Signature`, keyed with the Auth Token.
    #[default]
    Twilio,
    /// KORE (`supersim.api.korewireless.com`): OAuth2 client credentials at [`TOKEN_PATH`], then
    /// `Authorization: Bearer`; callbacks signed with `kore-signature` (empty when no webhook
    /// secret is set) and named by a fresh `kore-idempotency-token`.
    Kore,
}

/// A Super SIM's status in the sandbox, as Twilio shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SimStatus {
    /// Never used; the only status from which `ready` can be set and the account changed.
    New,
    /// Ready to connect.
    Ready,
    /// Active.
    Active,
    /// Inactive.
    Inactive,
    /// A status or fleet change is being applied.
    Scheduled,
}

impl SimStatus {
    /// Twilio's word for the status.
    pub fn as_str(self) -> &'static str {
        match self {
            SimStatus::New => "new",
            SimStatus::Ready => "ready",
            SimStatus::Active => "active",
            SimStatus::Inactive => "inactive",
            SimStatus::Scheduled => "scheduled",
        }
    }

    /// Reads one of Twilio's five status words (exact, lowercase).
    pub fn parse(s: &str) -> Option<SimStatus> {
        Some(match s {
            "new" => SimStatus::New,
            "ready" => SimStatus::Ready,
            "active" => SimStatus::Active,
            "inactive" => SimStatus::Inactive,
            "scheduled" => SimStatus::Scheduled,
            _ => return None,
        })
    }

    /// Whether Twilio lets an update move a SIM from `self` to `to`.
    pub fn can_become(self, to: SimStatus) -> bool {
        LIFECYCLE.allows(self, to)
    }
}

/// The status changes Twilio lets an update make.
const LIFECYCLE: Lifecycle<SimStatus> = {
    use SimStatus::*;
    Lifecycle::new(
        &[
            (New, Ready),
            (New, Active),
            (New, Inactive),
            (Ready, Active),
            (Ready, Inactive),
            (Active, Inactive),
            (Inactive, Active),
        ],
        &[],
        (),
    )
};

impl fmt::Display for SimStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A SIM as the sandbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SandboxSim {
    /// The Sim SID (`HS` + 32 hex digits).
    pub sid: String,
    /// The unique name, if it has one.
    pub unique_name: Option<String>,
    /// The account it belongs to.
    pub account_sid: String,
    /// The ICCID.
    pub iccid: String,
    /// The status as Twilio shows it ([`SimStatus::Scheduled`] while a change is applied).
    pub status: SimStatus,
    /// The SID of its fleet, if it has one.
    pub fleet_sid: Option<String>,
    /// When it was created.
    pub date_created: DateTime<Utc>,
    /// When it last changed.
    pub date_updated: DateTime<Utc>,
    /// The change being applied, while the status reads `scheduled`.
    pub scheduled: Option<ScheduledChange>,
    /// When it became `ready`, while it is: it becomes `active` by itself [`READY_MONTHS`]
    /// later (on the sandbox's [`Clock`]).
    pub ready_since: Option<DateTime<Utc>>,
    /// The data and SMS commands recorded for it ([`Sandbox::record_usage`]), in all.
    pub usage: SimUsage,
}

/// Data and SMS commands a SIM used, as the sandbox was told ([`Sandbox::record_usage`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimUsage {
    /// Data, in kilobytes.
    pub data_kb: u64,
    /// SMS commands.
    pub sms_commands: u32,
}

impl SimUsage {
    /// Usage of `data_kb` kilobytes and `sms_commands` SMS commands.
    pub fn new(data_kb: u64, sms_commands: u32) -> Self {
        Self {
            data_kb,
            sms_commands,
        }
    }

    /// Whether it is enough for a `ready` SIM to become `active` by itself: [`READY_DATA_KB`]
    /// of data or [`READY_SMS_COMMANDS`] SMS commands.
    pub fn activates(&self) -> bool {
        self.data_kb >= READY_DATA_KB || self.sms_commands >= READY_SMS_COMMANDS
    }

    fn add(&mut self, other: SimUsage) {
        self.data_kb = self.data_kb.saturating_add(other.data_kb);
        self.sms_commands = self.sms_commands.saturating_add(other.sms_commands);
    }
}

/// A change the sandbox accepted (`202`) and applies a moment later.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ScheduledChange {
    /// The status the SIM will have.
    pub status: SimStatus,
    /// The fleet the SIM will be in.
    pub fleet_sid: Option<String>,
    /// The callback to call once applied.
    pub callback: Option<CallbackTarget>,
}

/// Where and how the sandbox reports a finished change.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallbackTarget {
    /// `CallbackUrl`, as given.
    pub url: String,
    /// `CallbackMethod`: `"GET"` or `"POST"` (the default).
    pub method: String,
}

/// One call the sandbox made to a `CallbackUrl`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CallbackCall {
    /// The URL called.
    pub url: String,
    /// `"GET"` or `"POST"`.
    pub method: String,
    /// The pairs sent (form body for `POST`, query for `GET`).
    pub params: Vec<(String, String)>,
    /// The signature headers sent, names lowercase: `x-twilio-signature`, or `kore-signature`
    /// and `kore-idempotency-token`.
    pub headers: Vec<(String, String)>,
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// Why the call failed or was not made, when it has no status.
    pub error: Option<String>,
}

impl CallbackCall {
    /// The value of a pair sent, by name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of a signature header sent, by name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A fleet as the sandbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SandboxFleet {
    /// The Fleet SID (`HF` + 32 hex digits).
    pub sid: String,
    /// The fleet's unique name.
    pub unique_name: String,
}

/// What a seeded SIM looks like; every field has a default.
///
/// ```
/// use supersim_client::sandbox::{SimSeed, SimStatus};
/// let seed = SimSeed::new()
///     .status(SimStatus::Active)
///     .unique_name("pump 7")
///     .iccid("89883070000123456789");
/// # let _ = seed;
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SimSeed {
    sid: Option<String>,
    unique_name: Option<String>,
    iccid: Option<String>,
    status: Option<SimStatus>,
    fleet: Option<String>,
    account_sid: Option<String>,
}

impl SimSeed {
    /// A `new` SIM with a random SID and ICCID, no name, no fleet, in the sandbox's account.
    pub fn new() -> Self {
        Self::default()
    }

    /// A chosen Sim SID (`HS` + 32 hex digits).
    pub fn sid(mut self, sid: impl Into<String>) -> Self {
        self.sid = Some(sid.into());
        self
    }

    /// A unique name.
    pub fn unique_name(mut self, name: impl Into<String>) -> Self {
        self.unique_name = Some(name.into());
        self
    }

    /// A chosen ICCID.
    pub fn iccid(mut self, iccid: impl Into<String>) -> Self {
        self.iccid = Some(iccid.into());
        self
    }

    /// The status (`new` by default; not `scheduled`: send an update for that).
    pub fn status(mut self, status: SimStatus) -> Self {
        self.status = Some(status);
        self
    }

    /// A fleet seeded before, by SID or unique name.
    pub fn fleet(mut self, fleet: impl Into<String>) -> Self {
        self.fleet = Some(fleet.into());
        self
    }

    /// The account it belongs to: the sandbox's own (the default) or a subaccount.
    pub fn account_sid(mut self, sid: impl Into<String>) -> Self {
        self.account_sid = Some(sid.into());
        self
    }
}

/// How a [`Sandbox`] behaves.
///
/// ```
/// use std::time::Duration;
/// use supersim_client::sandbox::SandboxOptions;
/// let options = SandboxOptions::new()
///     .schedule_delay(Duration::from_millis(10))
///     .rate_limit(100.0, 20);
/// let kore = SandboxOptions::kore()
///     .token_lifetime(Duration::from_secs(30))
///     .webhook_secret("a webhook secret");
/// # let _ = (options, kore);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SandboxOptions {
    schedule_delay: Option<Duration>,
    rate_limit: Option<RateLimit>,
    dialect: Dialect,
    token_lifetime: Duration,
    webhook_secret: Option<SecretString>,
    in_flight_limit: Option<usize>,
    clock: Clock,
    port: u16,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            in_flight_limit: None,
            schedule_delay: Some(DEFAULT_SCHEDULE_DELAY),
            rate_limit: None,
            dialect: Dialect::Twilio,
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            webhook_secret: None,
            clock: Clock::real(),
            port: 0,
        }
    }
}

impl SandboxOptions {
    /// The defaults: Twilio's dialect, a 50 ms schedule delay, no rate limit.
    pub fn new() -> Self {
        Self::default()
    }

    /// The defaults in KORE's dialect: tokens from [`TOKEN_PATH`] lasting an hour, no webhook
    /// secret (callbacks carry an empty `kore-signature`).
    pub fn kore() -> Self {
        Self::default().dialect(Dialect::Kore)
    }

    /// Which provider the sandbox acts as ([`Dialect::Twilio`] by default).
    pub fn dialect(mut self, dialect: Dialect) -> Self {
        self.dialect = dialect;
        self
    }

    /// How long a token issued in KORE's dialect lasts (an hour by default); `expires_in` says
    /// it in whole seconds, rounded down.
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// The webhook secret KORE's dialect signs callbacks with (none by default: the
    /// `kore-signature` header is then empty, as KORE sends it).
    pub fn webhook_secret(mut self, secret: impl Into<SecretString>) -> Self {
        self.webhook_secret = Some(secret.into());
        self
    }

    /// How long a scheduled change takes to land.
    pub fn schedule_delay(mut self, delay: Duration) -> Self {
        self.schedule_delay = Some(delay);
        self
    }

    /// Scheduled changes stay `scheduled` until [`Sandbox::complete_scheduled`].
    pub fn hold_scheduled(mut self) -> Self {
        self.schedule_delay = None;
        self
    }

    /// Twilio's account-wide concurrency limit: beyond `limit` requests in flight, a request gets
    /// Twilio's 429 (code 20429, no `Retry-After`) at once and is not processed (see also
    /// [`SandboxServer::set_in_flight_limit`], and [`SandboxServer::set_delay`] for a service
    /// time that keeps requests in flight).
    pub fn in_flight_limit(mut self, limit: usize) -> Self {
        self.in_flight_limit = Some(limit);
        self
    }

    /// A token-bucket rate limit: `per_second` on average, bursts of `burst`; excess requests get
    /// Twilio's 429 with a `Retry-After`, and are not processed.
    pub fn rate_limit(mut self, per_second: f64, burst: u32) -> Self {
        self.rate_limit = Some(RateLimit {
            per_second,
            burst,
            retry_after: true,
        });
        self
    }

    /// The clock the sandbox keeps time by (the real one by default): its timestamps, token
    /// expiries, and the rule that a `ready` SIM becomes `active` after [`READY_MONTHS`], applied
    /// whenever a virtual clock is moved forward.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The port on `127.0.0.1` to listen on (`0`, the default: an ephemeral one).
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }
}

/// A running Super SIM sandbox. Stops when dropped.
pub struct Sandbox {
    server: SandboxServer,
    shared: Arc<Shared>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("dialect", &self.shared.dialect)
            .field("base_url", &self.server.base_url())
            .field("account_sid", &self.shared.account_sid)
            .field("api_key_sid", &self.shared.api_key_sid)
            .field("client_id", &self.shared.client_id)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts a sandbox with the default options.
    pub async fn start() -> std::io::Result<Sandbox> {
        Self::start_with(SandboxOptions::default()).await
    }

    /// Starts a sandbox with `options`.
    pub async fn start_with(options: SandboxOptions) -> std::io::Result<Sandbox> {
        let (busy, _) = watch::channel(0usize);
        let account_sid = random_sid("AC");
        let shared = Arc::new(Shared {
            base_url: OnceLock::new(),
            subaccounts: Mutex::new(vec![random_sid("AC")]),
            account_sid,
            auth_token: simcore::http::sandbox_credential(&random_hex(32)),
            api_key_sid: random_sid("SK"),
            api_key_secret: simcore::http::sandbox_credential(&random_hex(32)),
            dialect: options.dialect,
            client_id: random_hex(26),
            client_secret: simcore::http::sandbox_credential(&random_hex(48)),
            tokens: Mutex::new(HashMap::new()),
            token_lifetime: Mutex::new(options.token_lifetime),
            token_requests: AtomicU64::new(0),
            webhook_secret: Mutex::new(options.webhook_secret),
            registry: Mutex::new(Registry::default()),
            schedule_delay: Mutex::new(options.schedule_delay),
            change_ids: AtomicU64::new(1),
            callbacks: Mutex::new(Vec::new()),
            busy,
            clock: options.clock.clone(),
        });
        options
            .clock
            .on_advance(&shared, |shared, now| shared.apply_time_rules(now));
        let router = Router::new().fallback(route).with_state(shared.clone());
        let server_options = ServerOptions {
            rate_limit: options.rate_limit,
            throttle: Arc::new(too_many_requests),
            ..ServerOptions::default()
        };
        let server = SandboxServer::start_on_port(router, server_options, options.port).await?;
        server.set_in_flight_limit(options.in_flight_limit);
        let _ = shared.base_url.set(server.base_url());
        Ok(Sandbox { server, shared })
    }

    /// `http://127.0.0.1:PORT`, the base URL clients send to.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// A client pointed at the sandbox with the credentials its dialect accepts: the Account
    /// SID and Auth Token (HTTP Basic) as Twilio, or the client id and secret (OAuth2, tokens
    /// from [`token_url`](Self::token_url)) as KORE.
    pub fn client(&self) -> Client {
        self.client_builder()
            .build()
            .expect("the sandbox's own credentials and loopback URL are valid")
    }

    /// A client builder with the sandbox's base URL and the credentials of its dialect set (see
    /// [`client`](Self::client)), for callers who want other timeouts or retries. For other
    /// credentials (as Twilio, [`ClientBuilder::api_key`] with
    /// [`api_key_sid`](Self::api_key_sid) and [`api_key_secret`](Self::api_key_secret)), start
    /// from [`builder_without_credentials`](Self::builder_without_credentials): a builder
    /// refuses two kinds of credentials.
    pub fn client_builder(&self) -> ClientBuilder {
        let builder = Client::builder().base_url(self.server.base_url());
        match self.shared.dialect {
            Dialect::Twilio => builder.account(self.shared.account_sid.clone(), self.auth_token()),
            Dialect::Kore => builder
                .kore(self.shared.client_id.clone(), self.client_secret())
                .kore_token_url(self.token_url()),
        }
    }

    /// A client builder with the sandbox's base URL and no credentials yet.
    pub fn builder_without_credentials(&self) -> ClientBuilder {
        Client::builder().base_url(self.server.base_url())
    }

    /// The sandbox's Account SID (fresh for each sandbox).
    pub fn account_sid(&self) -> &str {
        &self.shared.account_sid
    }

    /// The sandbox's Auth Token.
    pub fn auth_token(&self) -> SecretString {
        SecretString::from(self.shared.auth_token.clone())
    }

    /// The SID of the API key the sandbox also accepts.
    pub fn api_key_sid(&self) -> &str {
        &self.shared.api_key_sid
    }

    /// That API key's secret.
    pub fn api_key_secret(&self) -> SecretString {
        SecretString::from(self.shared.api_key_secret.clone())
    }

    /// Which provider the sandbox acts as.
    pub fn dialect(&self) -> Dialect {
        self.shared.dialect
    }

    /// The URL of the token endpoint (`{base_url}/api-services/v1/auth/token`), served in
    /// KORE's dialect.
    pub fn token_url(&self) -> String {
        format!("{}{TOKEN_PATH}", self.server.base_url())
    }

    /// The client id the token endpoint accepts (fresh for each sandbox).
    pub fn client_id(&self) -> &str {
        &self.shared.client_id
    }

    /// The client secret the token endpoint accepts.
    pub fn client_secret(&self) -> SecretString {
        SecretString::from(self.shared.client_secret.clone())
    }

    /// How many requests the token endpoint has answered, refused ones included.
    pub fn token_requests(&self) -> u64 {
        self.shared.token_requests.load(Ordering::Relaxed)
    }

    /// Expires every token issued so far: each is refused from now on (`401`, code 20003).
    pub fn expire_tokens(&self) {
        let now = self.shared.clock.now();
        for expiry in lock(&self.shared.tokens).values_mut() {
            *expiry = Some(now);
        }
    }

    /// Sets how long tokens issued from now on last. Tokens already issued keep their expiry.
    pub fn set_token_lifetime(&self, lifetime: Duration) {
        *lock(&self.shared.token_lifetime) = lifetime;
    }

    /// The webhook secret KORE's dialect signs callbacks with, if one is set.
    pub fn webhook_secret(&self) -> Option<SecretString> {
        lock(&self.shared.webhook_secret).clone()
    }

    /// Sets or removes the webhook secret for callbacks made from now on (a rotation, or an
    /// account without one).
    pub fn set_webhook_secret(&self, secret: Option<SecretString>) {
        *lock(&self.shared.webhook_secret) = secret;
    }

    /// The SID of the subaccount every sandbox starts with (a SIM may move to it while `new`).
    pub fn subaccount_sid(&self) -> String {
        lock(&self.shared.subaccounts)[0].clone()
    }

    /// Adds a subaccount and returns its SID.
    pub fn add_subaccount(&self) -> String {
        let sid = random_sid("AC");
        lock(&self.shared.subaccounts).push(sid.clone());
        sid
    }

    /// Adds a fleet with this unique name and returns its SID (`HF…`).
    ///
    /// # Panics
    /// If another fleet has that unique name.
    pub fn seed_fleet(&self, unique_name: impl Into<String>) -> String {
        let unique_name = unique_name.into();
        let mut reg = lock(&self.shared.registry);
        assert!(
            !reg.fleets.values().any(|f| f.unique_name == unique_name),
            "a fleet named {unique_name:?} is already seeded"
        );
        let sid = random_sid("HF");
        reg.fleets.insert(
            sid.clone(),
            SandboxFleet {
                sid: sid.clone(),
                unique_name,
            },
        );
        sid
    }

    /// Adds a SIM and returns its SID.
    ///
    /// # Panics
    /// On a seed Twilio could not hold: a malformed or taken SID, a taken unique name, a
    /// `scheduled` status, an unknown fleet or account.
    pub fn seed_sim(&self, seed: SimSeed) -> String {
        let mut reg = lock(&self.shared.registry);
        self.seed_into(&mut reg, seed, self.shared.clock.now())
    }

    /// Adds many SIMs at once, under one lock, and returns their SIDs in order: how a test seeds
    /// a fleet of 100,000 in well under a second. Each seed is checked as
    /// [`seed_sim`](Self::seed_sim) checks it.
    ///
    /// ```
    /// use supersim_client::sandbox::{Sandbox, SimSeed, SimStatus};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let sandbox = Sandbox::start().await?;
    /// let sids = sandbox.seed_sims((0..1000).map(|i| {
    ///     SimSeed::new().unique_name(format!("pump {i}")).status(SimStatus::Active)
    /// }));
    /// assert_eq!(sids.len(), 1000);
    /// assert_eq!(sandbox.sim("pump 999").unwrap().sid, sids[999]);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    ///
    /// # Panics
    /// As [`seed_sim`](Self::seed_sim) does, at the first seed Twilio could not hold (the SIMs
    /// before it stay seeded).
    pub fn seed_sims(&self, seeds: impl IntoIterator<Item = SimSeed>) -> Vec<String> {
        let now = self.shared.clock.now();
        let mut reg = lock(&self.shared.registry);
        seeds
            .into_iter()
            .map(|seed| self.seed_into(&mut reg, seed, now))
            .collect()
    }

    fn seed_into(&self, reg: &mut Registry, seed: SimSeed, now: DateTime<Utc>) -> String {
        let sid = seed.sid.unwrap_or_else(|| random_sid("HS"));
        assert!(is_sid(&sid, "HS"), "{sid:?} is not HS + 32 hex digits");
        let status = seed.status.unwrap_or(SimStatus::New);
        assert!(
            status != SimStatus::Scheduled,
            "seed a settled status; send an update to get a scheduled SIM"
        );
        let account_sid = seed
            .account_sid
            .unwrap_or_else(|| self.shared.account_sid.clone());
        assert!(
            self.shared.knows_account(&account_sid),
            "{account_sid:?} is neither the sandbox's account nor one of its subaccounts"
        );
        assert!(!reg.sims.contains_key(&sid), "{sid} is already seeded");
        if let Some(name) = &seed.unique_name {
            assert!(
                reg.name_owner(name).is_none(),
                "a SIM named {name:?} is already seeded"
            );
        }
        let fleet_sid = seed.fleet.map(|f| match reg.fleet(&f) {
            Some(fleet) => fleet.sid.clone(),
            None => panic!("no fleet {f:?} is seeded"),
        });
        let sim = SandboxSim {
            sid: sid.clone(),
            unique_name: seed.unique_name,
            account_sid,
            iccid: seed.iccid.unwrap_or_else(random_iccid),
            status,
            fleet_sid,
            date_created: now,
            date_updated: now,
            scheduled: None,
            ready_since: (status == SimStatus::Ready).then_some(now),
            usage: SimUsage::default(),
        };
        reg.insert(sim);
        sid
    }

    /// A SIM by SID or unique name, as the sandbox holds it now.
    pub fn sim(&self, id: &str) -> Option<SandboxSim> {
        let reg = lock(&self.shared.registry);
        reg.resolve(id).map(|r| r.sim.clone())
    }

    /// Every SIM, in the order they were seeded.
    pub fn sims(&self) -> Vec<SandboxSim> {
        lock(&self.shared.registry)
            .ordered()
            .map(|r| r.sim.clone())
            .collect()
    }

    /// Every fleet, in no particular order.
    pub fn fleets(&self) -> Vec<SandboxFleet> {
        lock(&self.shared.registry)
            .fleets
            .values()
            .cloned()
            .collect()
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.server.requests()
    }

    /// Every call made to a `CallbackUrl` so far, in order.
    pub fn callbacks(&self) -> Vec<CallbackCall> {
        lock(&self.shared.callbacks).clone()
    }

    /// The server under the sandbox: fault injection, rate limit, request log, counters.
    pub fn server(&self) -> &SandboxServer {
        &self.server
    }

    /// Records data and SMS commands used by a SIM (by SID or unique name), as its device would
    /// use them; returns the SIM as it is then, `None` if there is no such SIM. A `ready` SIM
    /// whose usage since it became `ready` reaches [`READY_DATA_KB`] or [`READY_SMS_COMMANDS`]
    /// becomes `active` by itself, as Twilio says.
    ///
    /// ```
    /// use supersim_client::sandbox::{Sandbox, SimSeed, SimStatus, SimUsage};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let sandbox = Sandbox::start().await?;
    /// let sid = sandbox.seed_sim(SimSeed::new().status(SimStatus::Ready));
    /// assert_eq!(sandbox.record_usage(&sid, SimUsage::new(200, 0)).unwrap().status, SimStatus::Ready);
    /// assert_eq!(sandbox.record_usage(&sid, SimUsage::new(50, 0)).unwrap().status, SimStatus::Active);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn record_usage(&self, id: &str, usage: SimUsage) -> Option<SandboxSim> {
        let now = self.shared.clock.now();
        let mut reg = lock(&self.shared.registry);
        let sid = reg.resolve(id)?.sim.sid.clone();
        let record = reg.sims.get_mut(&sid)?;
        record.sim.usage.add(usage);
        if record.sim.status == SimStatus::Ready {
            record.ready_usage.add(usage);
            if record.ready_usage.activates() {
                activate_by_itself(record, now);
            }
        }
        Some(record.sim.clone())
    }

    /// The clock the sandbox keeps time by.
    pub fn clock(&self) -> &Clock {
        &self.shared.clock
    }

    /// Everything the sandbox holds, as JSON (see [`SandboxAdmin::state_json`]): the dialect,
    /// the clock, the fleets, and each SIM in seeding order as `GET /v1/Sims/{Sid}` answers it,
    /// with what the time and usage rules keep for it:
    /// `"sandbox": {"ready_since", "active_by_itself_at", "usage": {"data_kb", "sms_commands"},
    /// "usage_since_ready": {..}, "scheduled": {"status", "fleet_sid"} | null}`
    /// (`active_by_itself_at`: when a `ready` SIM becomes `active` if nothing else moves it, the
    /// [`READY_MONTHS`] rule). Issued tokens are counted, never shown; no credential is in it.
    pub fn state_json(&self) -> Value {
        let shared = &self.shared;
        let base = shared.base();
        let time = |t: Option<DateTime<Utc>>| t.map(|t| timestamp(&t));
        let sims: Vec<Value> = lock(&shared.registry)
            .ordered()
            .map(|record| {
                let sim = &record.sim;
                let due = sim
                    .ready_since
                    .and_then(|since| since.checked_add_months(Months::new(READY_MONTHS)));
                let mut json = sim_json(base, sim);
                json["sandbox"] = json!({
                    "ready_since": time(sim.ready_since),
                    "active_by_itself_at": time(due),
                    "usage": {"data_kb": sim.usage.data_kb, "sms_commands": sim.usage.sms_commands},
                    "usage_since_ready": {
                        "data_kb": record.ready_usage.data_kb,
                        "sms_commands": record.ready_usage.sms_commands,
                    },
                    "scheduled": sim.scheduled.as_ref().map(|c| json!({
                        "status": c.status.as_str(),
                        "fleet_sid": c.fleet_sid,
                    })),
                });
                json
            })
            .collect();
        let now = shared.clock.now();
        let live_tokens = lock(&shared.tokens)
            .values()
            .filter(|expiry| expiry.is_none_or(|e| now < e))
            .count();
        let fleets: Vec<Value> = self
            .fleets()
            .into_iter()
            .map(|f| json!({"sid": f.sid, "unique_name": f.unique_name}))
            .collect();
        json!({
            "provider": crate::PROVIDER,
            "dialect": format!("{:?}", shared.dialect),
            "clock": shared.clock.state_json(),
            "fleets": fleets,
            "sims": sims,
            "tokens": {
                "requests": shared.token_requests.load(Ordering::Relaxed),
                "live": live_tokens,
            },
            "callbacks_made": lock(&shared.callbacks).len(),
        })
    }

    /// Sets how long later scheduled changes take to land (`None`: they wait for
    /// [`complete_scheduled`](Self::complete_scheduled)). Changes already scheduled keep
    /// their timing.
    pub fn set_schedule_delay(&self, delay: Option<Duration>) {
        *lock(&self.shared.schedule_delay) = delay;
    }

    /// Applies every scheduled change now, calls their callbacks, and returns how many there
    /// were.
    pub async fn complete_scheduled(&self) -> usize {
        let pending: Vec<(String, u64)> = lock(&self.shared.registry)
            .sims
            .values()
            .filter(|r| r.sim.scheduled.is_some())
            .map(|r| (r.sim.sid.clone(), r.change))
            .collect();
        let mut done = 0;
        for (sid, change) in pending {
            if finish(&self.shared, &sid, change).await {
                done += 1;
            }
        }
        done
    }

    /// Waits until every change scheduled with a delay has landed and its callback has been
    /// answered (changes held for [`complete_scheduled`](Self::complete_scheduled) are not
    /// waited for).
    pub async fn settled(&self) {
        let mut busy = self.shared.busy.subscribe();
        let _ = busy.wait_for(|n| *n == 0).await;
    }
}

/// What the handlers and the test-facing methods share.
struct Shared {
    base_url: OnceLock<String>,
    account_sid: String,
    auth_token: String,
    api_key_sid: String,
    api_key_secret: String,
    dialect: Dialect,
    client_id: String,
    client_secret: String,
    /// Every token issued, with when it expires on the sandbox's clock (`None`: never).
    tokens: Mutex<HashMap<String, Option<DateTime<Utc>>>>,
    token_lifetime: Mutex<Duration>,
    token_requests: AtomicU64,
    webhook_secret: Mutex<Option<SecretString>>,
    subaccounts: Mutex<Vec<String>>,
    /// One lock over SIMs and fleets: a unique-name check and the update it guards must be one
    /// step, which a per-record store cannot give.
    registry: Mutex<Registry>,
    schedule_delay: Mutex<Option<Duration>>,
    change_ids: AtomicU64,
    callbacks: Mutex<Vec<CallbackCall>>,
    /// Timed changes and callbacks in flight.
    busy: watch::Sender<usize>,
    clock: Clock,
}

impl Shared {
    /// Twilio's rule for a `ready` SIM left alone: it becomes `active` by itself
    /// [`READY_MONTHS`] after it became `ready` (its `date_updated` is that moment).
    fn apply_time_rules(&self, now: DateTime<Utc>) {
        let mut reg = lock(&self.registry);
        for record in reg.sims.values_mut() {
            let sim = &mut record.sim;
            if sim.status != SimStatus::Ready {
                continue;
            }
            let due = sim
                .ready_since
                .and_then(|since| since.checked_add_months(Months::new(READY_MONTHS)));
            if let Some(due) = due.filter(|due| *due <= now) {
                activate_by_itself(record, due);
            }
        }
    }

    fn base(&self) -> &str {
        self.base_url.get().map(String::as_str).unwrap_or_default()
    }

    fn knows_account(&self, sid: &str) -> bool {
        sid == self.account_sid || lock(&self.subaccounts).iter().any(|s| s == sid)
    }

    fn authenticated(&self, headers: &HeaderMap) -> bool {
        let Some(value) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        else {
            return false;
        };
        let Some((scheme, encoded)) = value.trim().split_once(' ') else {
            return false;
        };
        if self.dialect == Dialect::Kore {
            return scheme.eq_ignore_ascii_case("bearer")
                && lock(&self.tokens)
                    .get(encoded.trim())
                    .is_some_and(|expiry| expiry.is_none_or(|e| self.clock.now() < e));
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return false;
        }
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let Ok(pair) = String::from_utf8(decoded) else {
            return false;
        };
        let Some((user, secret)) = pair.split_once(':') else {
            return false;
        };
        (user == self.account_sid && secret == self.auth_token)
            || (user == self.api_key_sid && secret == self.api_key_secret)
    }

    /// How callbacks are signed now.
    fn signer(&self) -> Signer {
        match self.dialect {
            Dialect::Twilio => Signer::Twilio(SecretString::from(self.auth_token.clone())),
            Dialect::Kore => Signer::Kore(lock(&self.webhook_secret).clone()),
        }
    }

    /// Issues a token that lasts the current lifetime.
    fn issue_token(&self) -> (String, Duration) {
        let lifetime = *lock(&self.token_lifetime);
        let token = simcore::http::sandbox_credential(&random_hex(64));
        let now = self.clock.now();
        let mut tokens = lock(&self.tokens);
        // An expired token and an unknown one get the same answer: forget the expired ones, so
        // a long run does not pile them up.
        tokens.retain(|_, expiry| expiry.is_none_or(|e| now < e));
        // A lifetime past what a time can hold never ends.
        let expiry = TimeDelta::from_std(lifetime)
            .ok()
            .and_then(|l| now.checked_add_signed(l));
        tokens.insert(token.clone(), expiry);
        (token, lifetime)
    }

    fn busy(&self, delta: isize) {
        self.busy
            .send_modify(|n| *n = n.saturating_add_signed(delta));
    }
}

simsandbox::sandbox_admin!(Sandbox, crate::PROVIDER);

/// A `ready` SIM becomes `active` by itself at `at`.
fn activate_by_itself(record: &mut Record, at: DateTime<Utc>) {
    record.sim.status = SimStatus::Active;
    record.sim.ready_since = None;
    record.sim.date_updated = at;
    record.ready_usage = SimUsage::default();
}

/// The SIMs and fleets of the account, indexed so that every lookup and every page costs the same
/// with ten SIMs or 100,000: by SID, by unique name, and in creation order.
#[derive(Default)]
struct Registry {
    sims: HashMap<String, Record>,
    /// SIDs in creation order: the SIM with `seq` n is at `order[n - 1]` (SIMs are never
    /// removed).
    order: Vec<String>,
    /// Unique name -> SID.
    names: HashMap<String, String>,
    fleets: HashMap<String, SandboxFleet>,
}

struct Record {
    sim: SandboxSim,
    /// Creation order (from 1), for lists and page tokens.
    seq: u64,
    /// Which scheduled change is pending, so a timer never applies a later one.
    change: u64,
    /// The usage recorded since it became `ready`, while it is.
    ready_usage: SimUsage,
}

impl Registry {
    fn insert(&mut self, sim: SandboxSim) {
        let seq = self.order.len() as u64 + 1;
        self.order.push(sim.sid.clone());
        if let Some(name) = &sim.unique_name {
            self.names.insert(name.clone(), sim.sid.clone());
        }
        self.sims.insert(
            sim.sid.clone(),
            Record {
                sim,
                seq,
                change: 0,
                ready_usage: SimUsage::default(),
            },
        );
    }

    /// A SIM by SID, else by unique name.
    fn resolve(&self, id: &str) -> Option<&Record> {
        self.sims
            .get(id)
            .or_else(|| self.names.get(id).and_then(|sid| self.sims.get(sid)))
    }

    fn name_owner(&self, name: &str) -> Option<&str> {
        self.names.get(name).map(String::as_str)
    }

    /// Gives SIM `sid` another unique name (`None`: none), keeping the name index.
    fn rename(&mut self, sid: &str, name: Option<String>) {
        let Some(record) = self.sims.get_mut(sid) else {
            return;
        };
        if let Some(old) = record.sim.unique_name.take() {
            self.names.remove(&old);
        }
        if let Some(new) = &name {
            self.names.insert(new.clone(), sid.to_owned());
        }
        record.sim.unique_name = name;
    }

    /// A fleet by SID, else by unique name.
    fn fleet(&self, id: &str) -> Option<&SandboxFleet> {
        self.fleets
            .get(id)
            .or_else(|| self.fleets.values().find(|f| f.unique_name == id))
    }

    /// The SIM at position `i` of the creation order.
    fn at(&self, i: usize) -> Option<&Record> {
        self.order.get(i).and_then(|sid| self.sims.get(sid))
    }

    fn ordered(&self) -> impl Iterator<Item = &Record> {
        self.order.iter().filter_map(|sid| self.sims.get(sid))
    }
}

// ---- answers ----------------------------------------------------------------------------------

/// Twilio's error body.
fn twilio_error(status: u16, code: u32, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({
            "code": code,
            "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
            "status": status,
        }),
    )
}

fn bad_request(message: &str) -> Response<Body> {
    twilio_error(400, 20001, message)
}

fn not_found(resource: &str) -> Response<Body> {
    twilio_error(
        404,
        20404,
        &format!("The requested resource {resource} was not found"),
    )
}

fn unauthorized(dialect: Dialect) -> Response<Body> {
    let mut r = twilio_error(401, 20003, "Authenticate");
    let challenge = match dialect {
        Dialect::Twilio => "Basic realm=\"Twilio API\"",
        Dialect::Kore => "Bearer",
    };
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    r
}

/// The token endpoint's error body (KORE's spec: `{"code", "message"}`; the code is the HTTP
/// status, this sandbox's choice).
fn token_error(status: u16, message: &str) -> Response<Body> {
    json_response(status, &json!({ "code": status, "message": message }))
}

fn method_not_allowed(allow: &'static str) -> Response<Body> {
    let mut r = twilio_error(405, 20004, "Method not allowed");
    r.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    r
}

/// Twilio's 429, with the wait the rate limiter suggests.
fn too_many_requests(wait: Option<Duration>) -> Response<Body> {
    let mut r = twilio_error(429, 20429, "Too Many Requests");
    if let Some(wait) = wait {
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
    }
    r
}

/// How Twilio writes a time: RFC 3339 in UTC, to the second.
const TIMESTAMP: &str = "%Y-%m-%dT%H:%M:%SZ";

fn timestamp(t: &DateTime<Utc>) -> String {
    t.format(TIMESTAMP).to_string()
}

/// The Sim resource as Twilio returns it.
fn sim_json(base: &str, sim: &SandboxSim) -> Value {
    serde_json::to_value(SimView { base, sim }).unwrap_or(Value::Null)
}

/// A SIM written as Twilio's Sim resource, straight to the answer's bytes.
struct SimView<'a> {
    base: &'a str,
    sim: &'a SandboxSim,
}

impl Serialize for SimView<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (base, sim) = (self.base, self.sim);
        let url = format!("{base}/v1/Sims/{}", sim.sid);
        let mut m = s.serialize_struct("Sim", 10)?;
        m.serialize_field("sid", &sim.sid)?;
        m.serialize_field("unique_name", &sim.unique_name)?;
        m.serialize_field("account_sid", &sim.account_sid)?;
        m.serialize_field("iccid", &sim.iccid)?;
        m.serialize_field("status", sim.status.as_str())?;
        m.serialize_field("fleet_sid", &sim.fleet_sid)?;
        m.serialize_field("date_created", &AsText(sim.date_created.format(TIMESTAMP)))?;
        m.serialize_field("date_updated", &AsText(sim.date_updated.format(TIMESTAMP)))?;
        m.serialize_field(
            "links",
            &Links {
                billing_periods: AsText(format_args!("{url}/BillingPeriods")),
                sim_ip_addresses: AsText(format_args!("{url}/IpAddresses")),
            },
        )?;
        m.serialize_field("url", &url)?;
        m.end()
    }
}

#[derive(Serialize)]
struct Links<T: fmt::Display> {
    billing_periods: AsText<T>,
    sim_ip_addresses: AsText<T>,
}

/// A page of `GET /v1/Sims`, as Twilio writes it.
#[derive(Serialize)]
struct PageView<'a> {
    sims: Vec<SimView<'a>>,
    meta: MetaView,
}

/// Twilio's paging envelope.
#[derive(Serialize)]
struct MetaView {
    first_page_url: String,
    key: &'static str,
    next_page_url: Option<String>,
    page: usize,
    page_size: usize,
    previous_page_url: Option<String>,
    url: String,
}

// ---- routing ----------------------------------------------------------------------------------

async fn route(State(shared): State<Arc<Shared>>, req: Request<Body>) -> Response<Body> {
    let (parts, body) = req.into_parts();
    if shared.dialect == Dialect::Kore && parts.uri.path() == TOKEN_PATH {
        shared.token_requests.fetch_add(1, Ordering::Relaxed);
        let Ok(body) = to_bytes(body, BODY_LIMIT).await else {
            return token_error(400, "The request body is too large");
        };
        return token(&shared, &parts.method, &parts.headers, &body);
    }
    if !shared.authenticated(&parts.headers) {
        return unauthorized(shared.dialect);
    }
    let path = parts.uri.path();
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["v1", "Sims"] => match parts.method {
            Method::GET => list(&shared, parts.uri.query().unwrap_or_default()),
            _ => method_not_allowed("GET"),
        },
        ["v1", "Sims", raw] => {
            let Ok(id) = percent_encoding::percent_decode_str(raw).decode_utf8() else {
                return not_found(&format!("/Sims/{raw}"));
            };
            match parts.method {
                Method::GET => fetch(&shared, &id),
                Method::POST => {
                    let Ok(body) = to_bytes(body, BODY_LIMIT).await else {
                        return bad_request("The request body is too large");
                    };
                    update(&shared, &id, &parts.headers, &body)
                }
                _ => method_not_allowed("GET, POST"),
            }
        }
        _ => not_found(path.strip_prefix("/v1").unwrap_or(path)),
    }
}

/// `POST /api-services/v1/auth/token`: OAuth2 client credentials, as KORE's spec describes them.
fn token(shared: &Shared, method: &Method, headers: &HeaderMap, body: &[u8]) -> Response<Body> {
    if method != Method::POST {
        let mut r = token_error(405, "Method not allowed");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    if !is_form(headers) {
        return token_error(
            400,
            "Unsupported Media Type: send application/x-www-form-urlencoded",
        );
    }
    let params = match pairs(body, &TOKEN_PARAMS) {
        Ok(p) => p,
        Err(message) => return token_error(400, &message),
    };
    match params.get("grant_type").map(String::as_str) {
        Some("client_credentials") => {}
        None => return token_error(400, "Missing parameter grant_type"),
        Some(other) => {
            return token_error(
                400,
                &format!("Unsupported grant_type {other:?}: must be client_credentials"),
            );
        }
    }
    for name in ["client_id", "client_secret"] {
        if params.get(name).is_none_or(String::is_empty) {
            return token_error(400, &format!("Missing parameter {name}"));
        }
    }
    if params["client_id"] != shared.client_id || params["client_secret"] != shared.client_secret {
        return json_response(
            401,
            &json!({
                "error": "invalid_client",
                "error_description": "Invalid client or Invalid client credentials",
            }),
        );
    }
    let (token, lifetime) = shared.issue_token();
    json_response(
        200,
        &json!({
            "access_token": token,
            "expires_in": lifetime.as_secs(),
            "token_type": "Bearer",
            "scope": TOKEN_SCOPE,
        }),
    )
}

fn fetch(shared: &Shared, id: &str) -> Response<Body> {
    let reg = lock(&shared.registry);
    match reg.resolve(id) {
        Some(r) => json_response(200, &sim_json(shared.base(), &r.sim)),
        None => not_found(&format!("/Sims/{id}")),
    }
}

/// Name/value pairs, each name known and given at most once; otherwise what is wrong.
fn pairs(raw: &[u8], known: &[&str]) -> Result<HashMap<String, String>, String> {
    let mut out = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if !known.contains(&k.as_ref()) {
            return Err(format!("Unknown parameter {k}"));
        }
        if out.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(format!("Parameter {k} was given more than once"));
        }
    }
    Ok(out)
}

fn list(shared: &Shared, query: &str) -> Response<Body> {
    let params = match pairs(query.as_bytes(), &LIST_PARAMS) {
        Ok(p) => p,
        Err(message) => return bad_request(&message),
    };
    let status = match params.get("Status") {
        Some(s) => match SimStatus::parse(s) {
            Some(s) => Some(s),
            None => {
                return bad_request(&format!(
                    "Invalid Status {s:?}: must be new, ready, active, inactive or scheduled"
                ));
            }
        },
        None => None,
    };
    let page_size = match params.get("PageSize") {
        Some(n) => match n.parse::<usize>() {
            Ok(n) if (1..=MAX_PAGE_SIZE).contains(&n) => n,
            _ => return bad_request("Invalid PageSize."),
        },
        None => DEFAULT_PAGE_SIZE,
    };
    let page = match params.get("Page") {
        Some(n) => match n.parse::<usize>() {
            Ok(n) => n,
            Err(_) => return bad_request("Invalid Page."),
        },
        None => 0,
    };

    let reg = lock(&shared.registry);
    let fleet_sid = params
        .get("Fleet")
        .map(|f| reg.fleet(f).map(|fl| fl.sid.clone()));
    let iccid = params.get("Iccid");
    let filtered = status.is_some() || fleet_sid.is_some() || iccid.is_some();
    let matches = |r: &Record| {
        status.is_none_or(|s| r.sim.status == s)
            && match &fleet_sid {
                None => true,
                Some(wanted) => wanted.is_some() && r.sim.fleet_sid == *wanted,
            }
            && iccid.is_none_or(|i| r.sim.iccid == *i)
    };

    // A token names the SIM a page starts after (`PA`) or ends before (`PB`), so pages stay
    // stable while SIMs are added. SIMs are kept in creation order, so a page is found where it
    // starts: its cost does not grow with the fleet (a filter scans from there on).
    enum Start {
        /// The `n`-th matching SIM (`Page` without a token).
        Nth(usize),
        /// The SIMs from this position of the creation order (after a `PA` anchor).
        From(usize),
        /// The page that ends before the SIM with this sequence number (a `PB` anchor).
        Before(u64),
    }
    let start = match params.get("PageToken") {
        None => Start::Nth(page.saturating_mul(page_size)),
        Some(token) => {
            let anchor = token
                .get(..2)
                .zip(token.get(2..))
                .and_then(|(kind, sid)| reg.sims.get(sid).map(|r| (kind, r.seq)));
            match anchor {
                // The anchor is at position seq - 1: the page starts just after it.
                Some(("PA", seq)) => Start::From(seq as usize),
                Some(("PB", seq)) => Start::Before(seq),
                _ => return bad_request("Invalid PageToken."),
            }
        }
    };
    let n = reg.order.len();
    let (on_page, has_previous, has_next): (Vec<&Record>, bool, bool) = match start {
        Start::Nth(k) if !filtered => {
            let from = k.min(n);
            let to = from.saturating_add(page_size).min(n);
            let on_page = (from..to).filter_map(|i| reg.at(i)).collect();
            (on_page, from > 0, to < n)
        }
        Start::Nth(k) => {
            let mut hits = reg.ordered().filter(|r| matches(r));
            let skipped = hits.by_ref().take(k).count();
            let on_page: Vec<&Record> = hits.by_ref().take(page_size).collect();
            (on_page, skipped > 0, hits.next().is_some())
        }
        Start::From(i) => {
            let i = i.min(n);
            let mut hits = reg.order[i..]
                .iter()
                .filter_map(|sid| reg.sims.get(sid))
                .filter(|r| matches(r));
            let on_page: Vec<&Record> = hits.by_ref().take(page_size).collect();
            let has_next = hits.next().is_some();
            let has_previous = reg.order[..i]
                .iter()
                .rev()
                .filter_map(|sid| reg.sims.get(sid))
                .any(&matches);
            (on_page, has_previous, has_next)
        }
        // Going back is rare (this SDK never does): it may scan every SIM.
        Start::Before(seq) => {
            let all: Vec<&Record> = reg.ordered().filter(|r| matches(r)).collect();
            let from = all
                .partition_point(|r| r.seq < seq)
                .saturating_sub(page_size);
            let to = from.saturating_add(page_size).min(all.len());
            (all[from..to].to_vec(), from > 0, to < all.len())
        }
    };

    let base = shared.base();
    let page_url = |page: usize, token: Option<String>| {
        let mut q = url::form_urlencoded::Serializer::new(String::new());
        for name in ["Status", "Fleet", "Iccid"] {
            if let Some(v) = params.get(name) {
                q.append_pair(name, v);
            }
        }
        q.append_pair("PageSize", &page_size.to_string());
        q.append_pair("Page", &page.to_string());
        if let Some(t) = token {
            q.append_pair("PageToken", &t);
        }
        format!("{base}/v1/Sims?{}", q.finish())
    };
    let next_page_url = match on_page.last() {
        Some(last) if has_next => Some(page_url(page + 1, Some(format!("PA{}", last.sim.sid)))),
        _ => None,
    };
    let previous_page_url = match on_page.first() {
        Some(first) if has_previous => Some(page_url(
            page.saturating_sub(1),
            Some(format!("PB{}", first.sim.sid)),
        )),
        _ => None,
    };
    let body = PageView {
        sims: on_page
            .iter()
            .map(|r| SimView { base, sim: &r.sim })
            .collect(),
        meta: MetaView {
            first_page_url: page_url(0, None),
            key: "sims",
            next_page_url,
            page,
            page_size,
            previous_page_url,
            url: page_url(page, params.get("PageToken").cloned()),
        },
    };
    json_response_from(200, &body)
}

fn is_sid(s: &str, prefix: &str) -> bool {
    s.len() == 34 && s.starts_with(prefix) && s.as_bytes()[2..].iter().all(u8::is_ascii_hexdigit)
}

fn is_form(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            v.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn update(shared: &Arc<Shared>, id: &str, headers: &HeaderMap, body: &[u8]) -> Response<Body> {
    let mut reg = lock(&shared.registry);
    let Some(record) = reg.resolve(id) else {
        return not_found(&format!("/Sims/{id}"));
    };
    if !body.is_empty() && !is_form(headers) {
        return twilio_error(
            415,
            20415,
            "Unsupported Media Type: send application/x-www-form-urlencoded",
        );
    }
    let sid = record.sim.sid.clone();
    let current = record.sim.status;
    let params = match pairs(body, &UPDATE_PARAMS) {
        Ok(p) => p,
        Err(message) => return bad_request(&message),
    };

    // Each value on its own.
    let status = match params.get("Status").map(String::as_str) {
        None => None,
        Some(s @ ("ready" | "active" | "inactive")) => SimStatus::parse(s),
        Some(s) => {
            return bad_request(&format!(
                "Invalid Status {s:?}: must be ready, active or inactive"
            ));
        }
    };
    let fleet_sid = match params.get("Fleet") {
        None => None,
        Some(f) => match reg.fleet(f) {
            Some(fleet) => Some(fleet.sid.clone()),
            None => return bad_request(&format!("Invalid Fleet {f:?}: no such fleet")),
        },
    };
    let callback_url = match params.get("CallbackUrl") {
        None => None,
        Some(u) => match Url::parse(u) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                Some(u.clone())
            }
            _ => {
                return bad_request(&format!(
                    "Invalid CallbackUrl {u:?}: must be an absolute http or https URL"
                ));
            }
        },
    };
    let callback_method = match params.get("CallbackMethod").map(String::as_str) {
        None => "POST",
        Some(m @ ("GET" | "POST")) => m,
        Some(m) => {
            return bad_request(&format!(
                "Invalid CallbackMethod {m:?}: must be GET or POST"
            ));
        }
    };
    let account_sid = match params.get("AccountSid") {
        None => None,
        Some(a) if !is_sid(a, "AC") => {
            return bad_request(&format!(
                "Invalid AccountSid {a:?}: must be AC followed by 32 hex digits"
            ));
        }
        Some(a) if !shared.knows_account(a) => {
            return bad_request(&format!(
                "Invalid AccountSid {a}: must be the requesting account or one of its subaccounts"
            ));
        }
        Some(a) => Some(a.clone()),
    };
    let unique_name = match params.get("UniqueName") {
        None => None,
        Some(n) if n.is_empty() => Some(None),
        Some(n) => match reg.name_owner(n) {
            Some(owner) if owner != sid => {
                return bad_request(&format!("UniqueName {n:?} is already used by another Sim"));
            }
            _ => Some(Some(n.clone())),
        },
    };

    // Against the SIM's state.
    if account_sid.is_some() && current != SimStatus::New {
        return bad_request(&format!(
            "AccountSid can only be changed while the Sim's status is new (it is {current})"
        ));
    }
    if let Some(to) = status {
        if !current.can_become(to) {
            return twilio_error(
                400,
                83010,
                &format!("The Sim's status cannot change from {current} to {to}"),
            );
        }
    }
    if fleet_sid.is_some() && current == SimStatus::Scheduled {
        return twilio_error(
            400,
            83009,
            "The Sim's Fleet cannot be updated while its status is scheduled",
        );
    }

    // Apply: names and accounts at once, status and fleet later.
    if let Some(name) = unique_name {
        reg.rename(&sid, name);
    }
    let Some(record) = reg.sims.get_mut(&sid) else {
        return not_found(&format!("/Sims/{id}"));
    };
    let sim = &mut record.sim;
    let now = shared.clock.now();
    if let Some(account) = account_sid {
        sim.account_sid = account;
    }
    sim.date_updated = now;
    let scheduled = status.is_some() || fleet_sid.is_some();
    if scheduled {
        let change = shared.change_ids.fetch_add(1, Ordering::Relaxed);
        sim.scheduled = Some(ScheduledChange {
            status: status.unwrap_or(current),
            fleet_sid: fleet_sid.or_else(|| sim.fleet_sid.clone()),
            callback: callback_url.map(|url| CallbackTarget {
                url,
                method: callback_method.to_owned(),
            }),
        });
        sim.status = SimStatus::Scheduled;
        record.change = change;
        if let Some(delay) = *lock(&shared.schedule_delay) {
            shared.busy(1);
            let shared = shared.clone();
            let sid = sid.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                finish(&shared, &sid, change).await;
                shared.busy(-1);
            });
        }
    }
    let body = sim_json(shared.base(), &record.sim);
    json_response(if scheduled { 202 } else { 200 }, &body)
}

/// Applies the scheduled change `change` of SIM `sid`, if it is still pending, then calls its
/// callback. Returns whether it applied anything.
async fn finish(shared: &Shared, sid: &str, change: u64) -> bool {
    let (callback, params) = {
        let mut reg = lock(&shared.registry);
        let Some(record) = reg.sims.get_mut(sid) else {
            return false;
        };
        if record.change != change {
            return false;
        }
        let Some(pending) = record.sim.scheduled.take() else {
            return false;
        };
        let now = shared.clock.now();
        let sim = &mut record.sim;
        sim.status = pending.status;
        sim.fleet_sid = pending.fleet_sid;
        sim.date_updated = now;
        // A fleet change keeps a `ready` SIM's time in `ready`; anything else leaves it.
        if sim.status == SimStatus::Ready {
            sim.ready_since = sim.ready_since.or(Some(now));
        } else {
            sim.ready_since = None;
            record.ready_usage = SimUsage::default();
        }
        let mut params = vec![
            ("AccountSid".to_owned(), sim.account_sid.clone()),
            ("SimSid".to_owned(), sim.sid.clone()),
        ];
        if let Some(name) = &sim.unique_name {
            params.push(("SimUniqueName".to_owned(), name.clone()));
        }
        params.push(("Iccid".to_owned(), sim.iccid.clone()));
        params.push(("Status".to_owned(), sim.status.as_str().to_owned()));
        if let Some(fleet) = &sim.fleet_sid {
            params.push(("FleetSid".to_owned(), fleet.clone()));
        }
        params.push(("DateUpdated".to_owned(), timestamp(&sim.date_updated)));
        (pending.callback, params)
    };
    if let Some(target) = callback {
        let call = call_back(target, params, shared.signer()).await;
        lock(&shared.callbacks).push(call);
    }
    true
}

/// How a callback is signed.
enum Signer {
    /// `X-Twilio-Signature`, keyed with the Auth Token.
    Twilio(SecretString),
    /// `kore-signature` with the webhook secret (empty without one), and a fresh
    /// `kore-idempotency-token`.
    Kore(Option<SecretString>),
}

impl Signer {
    /// The headers for `request`, a callback to `given` (the `CallbackUrl` as the update gave
    /// it).
    fn headers(&self, given: &str, request: &HttpRequest) -> Vec<(String, String)> {
        let body: &[u8] = match request.body() {
            simcore::http::Body::Form(b) | simcore::http::Body::Json(b) => b,
            simcore::http::Body::Empty => &[],
        };
        match self {
            // Twilio signs the URL as requested (a GET's pairs are in it) and a form's pairs.
            Signer::Twilio(token) => {
                let form: Vec<(String, String)> = if request.method() == HttpMethod::POST {
                    url::form_urlencoded::parse(body).into_owned().collect()
                } else {
                    Vec::new()
                };
                let signature = twilio_signature(token, request.url().as_str(), form);
                vec![("x-twilio-signature".to_owned(), signature)]
            }
            // KORE signs the callback URL without its query, and the raw body.
            Signer::Kore(secret) => {
                let signature = secret.as_ref().map_or_else(String::new, |s| {
                    kore_signature(s, request.method().as_str(), given, body)
                });
                let event = format!(
                    "{}-{}-{}-{}-{}",
                    random_hex(8),
                    random_hex(4),
                    random_hex(4),
                    random_hex(4),
                    random_hex(12)
                );
                vec![
                    (KORE_SIGNATURE.to_owned(), signature),
                    (KORE_IDEMPOTENCY_TOKEN.to_owned(), event),
                ]
            }
        }
    }
}

/// Calls a callback URL once through the shared transport (https, or http to loopback only).
async fn call_back(
    target: CallbackTarget,
    params: Vec<(String, String)>,
    signer: Signer,
) -> CallbackCall {
    let mut call = CallbackCall {
        url: target.url,
        method: target.method,
        params,
        headers: Vec::new(),
        status: None,
        error: None,
    };
    let url = match Url::parse(&call.url) {
        Ok(u) => u,
        Err(e) => {
            call.error = Some(format!("not a URL: {e}"));
            return call;
        }
    };
    // The transport's base URL takes no path or query: build it on the origin and send to the
    // whole URL.
    let transport = Transport::builder(crate::PROVIDER, url.origin().ascii_serialization())
        .retry(RetryPolicy::none())
        .timeout(CALLBACK_TIMEOUT)
        .user_agent("TwilioProxy/1.1")
        .build();
    let transport = match transport {
        Ok(t) => t,
        Err(e) => {
            call.error = Some(format!("not called: {e}"));
            return call;
        }
    };
    let pairs = call.params.iter().map(|(k, v)| (k.as_str(), v.as_str()));
    let mut request = if call.method == "GET" {
        HttpRequest::new(HttpMethod::GET, url).query(pairs)
    } else {
        HttpRequest::new(HttpMethod::POST, url).form(pairs)
    };
    call.headers = signer.headers(&call.url, &request);
    for (name, value) in &call.headers {
        match (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            (Ok(name), Ok(value)) => request = request.header(name, value),
            _ => {
                call.error = Some(format!("not called: header {name} cannot be sent"));
                return call;
            }
        }
    }
    match transport.send(&request).await {
        Ok(r) => call.status = Some(r.status()),
        Err(e) => match e.status() {
            Some(s) => call.status = Some(s),
            None => call.error = Some(e.to_string()),
        },
    }
    call
}

// ---- identifiers --------------------------------------------------------------------------------

fn random_hex(n: usize) -> String {
    (0..n)
        .map(|_| char::from_digit(fastrand::u32(0..16), 16).unwrap_or('0'))
        .collect()
}

fn random_sid(prefix: &str) -> String {
    format!("{prefix}{}", random_hex(32))
}

/// A Super SIM-like ICCID (`89883070000…`, 20 digits) with a valid Luhn check digit.
fn random_iccid() -> String {
    let mut digits = String::from("89883070000");
    while digits.len() < 19 {
        digits.push(char::from(b'0' + fastrand::u8(0..10)));
    }
    let sum: u32 = digits
        .bytes()
        .rev()
        .enumerate()
        .map(|(i, b)| {
            let d = u32::from(b - b'0');
            if i % 2 == 0 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum();
    digits.push(char::from(b'0' + ((10 - sum % 10) % 10) as u8));
    digits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_table_is_twilio_s() {
        use SimStatus::*;
        let all = [New, Ready, Active, Inactive, Scheduled];
        let allowed = [
            (New, Ready),
            (New, Active),
            (New, Inactive),
            (Ready, Active),
            (Ready, Inactive),
            (Active, Inactive),
            (Inactive, Active),
        ];
        for from in all {
            for to in all {
                assert_eq!(
                    from.can_become(to),
                    allowed.contains(&(from, to)),
                    "{from} -> {to}"
                );
            }
            assert_eq!(SimStatus::parse(from.as_str()), Some(from));
        }
        assert_eq!(SimStatus::parse("Active"), None);
    }

    #[test]
    fn generated_identifiers_are_well_formed() {
        for _ in 0..50 {
            assert!(is_sid(&random_sid("HS"), "HS"));
            let iccid = random_iccid();
            assert_eq!(iccid.len(), 20);
            assert!(simcore::Iccid::parse(&iccid).unwrap().luhn_ok(), "{iccid}");
        }
    }

    #[test]
    fn retry_after_rounds_up() {
        let r = too_many_requests(Some(Duration::from_millis(1500)));
        assert_eq!(r.status(), 429);
        assert_eq!(r.headers()[header::RETRY_AFTER], "2");
        let r = too_many_requests(Some(Duration::from_millis(10)));
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        let r = too_many_requests(None);
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
    }
}
