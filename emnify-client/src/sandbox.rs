//! A local stand-in for emnify (feature `sandbox`): try the client, or test a service, with no
//! account and no charges.
//!
//! [`Sandbox::start`] runs a server on `127.0.0.1` with an ephemeral port, fresh credentials and
//! an empty SIM store; [`Sandbox::client`] is a [`Client`] already pointed at it. The server is
//! written independently of this crate's client: it parses each raw request by hand and answers
//! with emnify's documented JSON shapes and status codes, so a client bug shows against it.
//!
//! ```
//! use emnify_client::sandbox::{Sandbox, SimSeed};
//! use emnify_client::{SettableStatus, SimStatus};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let sandbox = Sandbox::start().await?;
//! let id = sandbox.seed_sim(SimSeed::new()); // an Issued SIM
//! let client = sandbox.client();
//!
//! let sim = client.get_sim(id).await?;
//! assert_eq!(sim.status, Some(SimStatus::Issued));
//! client.update_sim(id).current(&sim).status(SettableStatus::Activated).send().await?;
//! assert_eq!(sandbox.sim(id).unwrap().status, 1);
//! assert_eq!(sandbox.authenticate_calls(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```
//!
//! # The rules it enforces
//!
//! Checks run in the order of the table; the first that fails answers. emnify's error body is
//! `{"error_code", "error_token", "message"}`, with the details in a nested `errors` list for 422s.
//!
//! | request | rule | answer |
//! |---|---|---|
//! | any | path is `/api/v1/authenticate`, `/api/v1/sim` or `/api/v1/sim/{sim_id}` | `404 {"message": "Not Found"}` |
//! | any | method is one the path has | `405`, empty body |
//! | `POST /api/v1/authenticate` | at most 100 calls from the client IP in any 5 minutes on the sandbox's clock, emnify's limit ([`SandboxOptions::authenticate_limit`], [`Sandbox::set_authenticate_limit`]; a call it refuses does not count) | `429` `1105 TooManyRequests` (`"Rate limit exceeded"`), no `Retry-After` |
//! | `POST /api/v1/authenticate` | the client IP is not locked out (below) | `401` `1105 TooManyRequests` (`"Too many failed login attempts, try again later"`) |
//! | `POST /api/v1/authenticate` | body is a JSON object with `application_token`, `refresh_token`, or `username` and `password` | `400` `1000 BadRequest` |
//! | `POST /api/v1/authenticate` | `application_token` is the sandbox's ([`Sandbox::application_token`]) | `200 {"auth_token"}`, else `401` with an empty body |
//! | `POST /api/v1/authenticate` | `username` is a seeded user and `password` the SHA-1 hex of its password ([`Sandbox::seed_user`]) | `200 {"auth_token", "refresh_token"}`, else `401`, empty body |
//! | `POST /api/v1/authenticate` | `refresh_token` is one the sandbox issued | `200 {"auth_token"}`, else `401`, empty body |
//! | `POST /api/v1/authenticate` | the third refusal in a row from the client IP | `401` `1105 TooManyRequests`, and every authentication from that IP (right or wrong) gets it until [`SandboxOptions::lockout`] has passed on the sandbox's clock or [`Sandbox::unlock`] is called; a success resets the count |
//! | `GET /api/v1/sim` | the list path's own limit, emnify's 10 requests a second in bursts of 5 ([`SandboxOptions::list_rate_limit`], [`Sandbox::set_list_rate_limit`]) | `429` `1105 TooManyRequests`, no `Retry-After` |
//! | `/api/v1/sim…` | an `Authorization` header | `401`, empty body |
//! | `/api/v1/sim…` | of the form `Bearer <three dot-separated segments>` | `401 {"message": "Unauthorized"}` (no `Bearer`), `401 {"message": "token contains an invalid number of segments"}` |
//! | `/api/v1/sim/…` | a token the sandbox issued and did not revoke ([`Sandbox::expire_tokens`]) | `401 {"message": "Unauthorized"}` |
//! | `/api/v1/sim/…` | the token's `exp` has not passed | `401 {"message": "token is expired"}` |
//! | `GET /api/v1/sim` | only `page`, `per_page`, `q` and `sort`, each at most once (stricter than emnify is known to be, to catch a misspelt one) | `400` `1000 BadRequest` |
//! | `GET /api/v1/sim` | `page` is an integer from 1 (default 1); `per_page` from 1 to 2500 (default 2000) | `400` `1000 BadRequest` |
//! | `GET /api/v1/sim` | `q` is `status:<id>` (several joined with `,`; other filters are not modelled); `sort` is `id` | `400` `1000 BadRequest` |
//! | `GET /api/v1/sim` | | `200`: the page's SIMs in id order, an un-enveloped JSON array of SIMs as `GET /api/v1/sim/{sim_id}` writes them (`[]` past the last page), with the headers emnify sends: `X-Count-Per-Page`, `X-Current-Page`, `X-Sort: id`, `X-Total-Count`, `X-Total-Pages` (`0` for an empty list) |
//! | `/api/v1/sim/{sim_id}` | `sim_id` is an integer | `400` `1000 BadRequest` (`Cannot parse parameter id as Long: …`) |
//! | `/api/v1/sim/{sim_id}` | the SIM exists (deleted SIMs are gone) | `404` `1201 NotFound` (`SIM with Id '…' not found.`) |
//! | `GET /api/v1/sim` | `page` ≥ 1 and `per_page` 1–2500 when given | `400` `1000 BadRequest`; else `200` with the SIMs by id as a bare array (each as below) and `X-Count-Per-Page`, `X-Current-Page`, `X-Sort`, `X-Total-Count`, `X-Total-Pages` (filters such as `q=` are not modelled) |
//! | `GET /api/v1/sim/{sim_id}` | | `200` with the SIM with every key a recorded emnify answer has: keys omitted when empty (`activation_date`, `reseller_org`, `customer_org`, `endpoint`, `eid`), `status {id, description}`, organisations as `{id, name, country {id, name}}`, the `model` with its `formfactor` and `manufacturer`, the endpoint with `imei` and `tags` (`null` when unset), timestamps like `2015-03-06T11:15:57.000+0000` |
//! | `PATCH /api/v1/sim/{sim_id}` | `Content-Type: application/json` | `415` `1000 BadRequest` |
//! | `PATCH /api/v1/sim/{sim_id}` | the body is a JSON object; each organisation is an object with an integer or null `id` (or none); `status` is an object with an integer `id` | `400` `1000 BadRequest` |
//! | `PATCH /api/v1/sim/{sim_id}` | the caller's organisation may change every key sent ([`CallerRole`]: issuer: all; reseller: `reseller_org`, `customer_org`; customer: `status`) | `403` `1104 Forbidden` |
//! | `PATCH /api/v1/sim/{sim_id}` | only `issuer_org`, `reseller_org`, `customer_org`, `status` (stricter than emnify is known to be, to catch stray keys) | `422` `1400 InputValidationFailed` |
//! | `PATCH /api/v1/sim/{sim_id}` | `issuer_org` is never cleared; `reseller_org` and `customer_org` clear with `{}` or `{"id": null}`; an absent key keeps | `422` `1400` |
//! | `PATCH /api/v1/sim/{sim_id}` | an organisation set is known ([`Sandbox::seed_org`]) | `422` `1400`, nested `1401 InvalidReference` (`Organisation with Id '…' not found.`) |
//! | `PATCH /api/v1/sim/{sim_id}` | `issuer_org` is a direct child of type Mobile Network Operator or Service Provider; `reseller_org` a direct child of type Mobile Network Operator, Service Provider or Reseller; `customer_org` the own organisation or a direct child of type Enterprise | `422` `1400` |
//! | `PATCH /api/v1/sim/{sim_id}` | `status.id` is 0–4 | `422` `1400`, nested `1401 InvalidReference` |
//! | `PATCH /api/v1/sim/{sim_id}` | the status change is one of 0 → 1, 0 → 4, 4 → 1, 1 → 2, 2 → 1 (never to 3: that is `DELETE`; setting the current status again is refused too) | `422` `1400`, nested `1400` naming both statuses |
//! | `PATCH /api/v1/sim/{sim_id}` | | `204`, no body; the first activation sets `activation_date`; `{}` changes nothing |
//! | `DELETE /api/v1/sim/{sim_id}` | the SIM has no endpoint; a reseller does not delete a SIM with a reseller organisation | `403` `1104 Forbidden` |
//! | `DELETE /api/v1/sim/{sim_id}` | | `204`; the SIM is removed: it then answers `404` |
//!
//! In front of the rules, [`SandboxServer`] records every request, applies injected faults, and
//! answers the rate limit with emnify's `429` `1105 TooManyRequests` body, without `Retry-After`
//! (emnify documents none). The rate limit counts per client IP, as emnify's does: every client
//! on `127.0.0.1` shares one budget. A request answered there never reaches the rules (and is not counted
//! by [`Sandbox::authenticate_calls`]).
//!
//! # Time and usage
//! The sandbox keeps time by its [`Clock`] ([`SandboxOptions::clock`]; the real one by default;
//! one clock may be shared by several sandboxes). Read from it: `production_date` and
//! `activation_date`; when a token stops being taken ([`SandboxOptions::token_lifetime`] after
//! it was issued: then `401 {"message": "token is expired"}`); the lockout's end; the
//! authenticate limit's window. So moving a virtual clock forward past a token's lifetime
//! expires it, and by five minutes ends a lockout and empties the window. A token's `iat` and
//! `exp` claims stay on the caller's real clock, the one a client compares them with to refresh
//! early: a client that read a virtual `exp` far in the past would authenticate before every
//! request and run into the limit.
//!
//! emnify's rules, as its documentation states them:
//! - `authenticate` is limited to 100 calls per IP per 5 minutes ([`AUTHENTICATE_LIMIT`]) and
//!   locks out after 3 consecutive failures ([`LOCKOUT_AFTER`]);
//! - a Factory Test SIM becomes Activated by itself after 100 KB of data or 10 SMS
//!   ([`FACTORY_TEST_DATA_KB`], [`FACTORY_TEST_SMS`]). No time period is stated for it, so the
//!   clock never ends a Factory Test: [`Sandbox::record_usage`] stands in for a device using the
//!   SIM, and the SIM becomes Activated (with its `activation_date`) at the call whose usage in
//!   Factory Test reaches either figure.
//!
//! # Simplifications
//! - The authenticate limit and the lockout are counted per client IP as the sandbox sees it,
//!   the connection's address: on loopback every caller is `127.0.0.1` unless it binds another
//!   `127.0.0.0/8` address. emnify states the lockout's count, not what it is counted per nor how
//!   long it lasts: the sandbox counts it per client IP, like the limit, for [`DEFAULT_LOCKOUT`].
//! - The sandbox is one account: the caller's organisation is [`OWN_ORG`], every other seeded
//!   organisation is its direct child, and the caller's role ([`CallerRole`]) is one setting for
//!   every SIM.
//! - Tokens are JWTs (`header.payload.signature`, payload `{"sub", "iat", "exp", "jti"}`) with a
//!   signature nobody can check: the sandbox knows its tokens by value. `exp` is in whole seconds.
//! - Multi-factor authentication is not modelled.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::http::{Response, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SubsecRound, Utc};
use serde_json::{Map, Value, json};
use sha1::{Digest, Sha1};
use simsandbox::engine::ids::{self, luhn_digit};
use simsandbox::engine::{
    self, Barred, Call, Lifecycle, LoginGuard, PageRules, PathLimit, Sessions, TokenState,
};
/// Re-exported from simsandbox: the request log, the rate limit, the server and its counters, the
/// clock and the admin view's shape.
pub use simsandbox::{
    Clock, ClockError, RateLimit, RecordedRequest, SandboxAdmin, SandboxServer, Stats,
};
use simsandbox::{OrderedStore, Store, WindowLimit, empty_response, json_response, lock};

use crate::client::{Client, ClientBuilder};

/// The organisation the sandbox's credentials belong to (type Mobile Network Operator), and the
/// issuer of seeded SIMs unless told otherwise.
pub const OWN_ORG: u64 = 2;
/// A seeded direct child organisation of type Service Provider.
pub const SERVICE_PROVIDER_ORG: u64 = 101;
/// A seeded direct child organisation of type Reseller.
pub const RESELLER_ORG: u64 = 102;
/// A seeded direct child organisation of type Enterprise.
pub const ENTERPRISE_ORG: u64 = 103;

/// emnify's documented token lifetime: 240 minutes.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(240 * 60);
/// How long the sandbox locks a client IP out of authentication after three refusals in a row:
/// 5 minutes, the length of emnify's authenticate window (emnify does not state the lockout's
/// length).
pub const DEFAULT_LOCKOUT: Duration = Duration::from_secs(5 * 60);
/// How many refusals in a row lock authentication out.
pub const LOCKOUT_AFTER: u32 = 3;

/// emnify's limit of `POST /api/v1/authenticate`: 100 calls per 5 minutes. Over it, the sandbox
/// answers `429` with emnify's `1105 TooManyRequests` body, without `Retry-After`.
pub const AUTHENTICATE_LIMIT: AuthenticateLimit = AuthenticateLimit {
    calls: 100,
    per: Duration::from_secs(5 * 60),
};

/// A Factory Test SIM becomes Activated by itself after this much data (emnify: 100 KB).
pub const FACTORY_TEST_DATA_KB: u64 = 100;
/// A Factory Test SIM becomes Activated by itself after this many SMS (emnify: 10).
pub const FACTORY_TEST_SMS: u32 = 10;

/// A limit of calls in a rolling window, as emnify states the one of `authenticate`: counted
/// per client IP on the sandbox's clock (simsandbox's [`WindowLimit`]).
pub type AuthenticateLimit = WindowLimit;

/// Data and SMS a SIM used, as the sandbox was told ([`Sandbox::record_usage`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SimUsage {
    /// Data, in kilobytes.
    pub data_kb: u64,
    /// SMS.
    pub sms: u32,
}

impl SimUsage {
    /// Usage of `data_kb` kilobytes and `sms` SMS.
    pub fn new(data_kb: u64, sms: u32) -> Self {
        Self { data_kb, sms }
    }

    /// Whether it is a Factory Test SIM's test volume: [`FACTORY_TEST_DATA_KB`] of data or
    /// [`FACTORY_TEST_SMS`] SMS.
    pub fn ends_factory_test(&self) -> bool {
        self.data_kb >= FACTORY_TEST_DATA_KB || self.sms >= FACTORY_TEST_SMS
    }

    fn add(&mut self, other: SimUsage) {
        self.data_kb = self.data_kb.saturating_add(other.data_kb);
        self.sms = self.sms.saturating_add(other.sms);
    }
}

const MNO: &str = "Mobile Network Operator";
const SERVICE_PROVIDER: &str = "Service Provider";
const RESELLER: &str = "Reseller";
const ENTERPRISE: &str = "Enterprise";

/// emnify's limit for the list path, `GET /api/v1/sim`: 10 requests a second, bursts of 5. Over
/// it, the sandbox answers `429` with emnify's `1105 TooManyRequests` body, without
/// `Retry-After` (emnify documents none).
pub const LIST_RATE_LIMIT: RateLimit = RateLimit {
    per_second: 10.0,
    burst: 5,
    retry_after: false,
};
/// The largest page of the list (`per_page`).
pub const MAX_PAGE_SIZE: u32 = 2500;
/// The page size of the list when none is asked for.
pub const DEFAULT_PAGE_SIZE: u32 = 2000;
/// The query parameters `GET /api/v1/sim` takes here.
const LIST_PARAMS: [&str; 4] = ["page", "per_page", "q", "sort"];

/// Why a status change is refused.
#[derive(Debug, Clone, Copy)]
enum Refused {
    /// To Deleted (3): a `DELETE`, not an update, does that.
    UseDelete,
    /// Not a change emnify documents.
    NotAllowed,
}

/// The status changes emnify documents for `PATCH` (by status id), and what the others get.
const LIFECYCLE: Lifecycle<i64, Refused> = Lifecycle::new(
    &[(0, 1), (0, 4), (4, 1), (1, 2), (2, 1)],
    &[(None, 3, Refused::UseDelete)],
    Refused::NotAllowed,
);

/// How the list reads its page.
const PAGES: PageRules = PageRules {
    page: "page",
    size: "per_page",
    first: 1,
    default_size: DEFAULT_PAGE_SIZE as usize,
    max_size: MAX_PAGE_SIZE as usize,
};

/// How the sandbox starts.
#[derive(Debug, Clone)]
pub struct SandboxOptions {
    /// How long an `auth_token` lives: its `exp` is the real issue time plus this, and the
    /// sandbox stops taking it this long after issuing it on [`clock`](Self::clock). Default
    /// [`DEFAULT_TOKEN_LIFETIME`]; make it short to test refreshing.
    pub token_lifetime: Duration,
    /// How long a lockout lasts, on [`clock`](Self::clock). Default [`DEFAULT_LOCKOUT`].
    pub lockout: Duration,
    /// A rate limit from the start (none by default); see also
    /// [`SandboxServer::set_rate_limit`].
    pub rate_limit: Option<RateLimit>,
    /// Whether to keep the request log (on by default; benchmarks turn it off).
    pub record: bool,
    /// The limit of the list path, `GET /api/v1/sim`, on its own ([`LIST_RATE_LIMIT`] by
    /// default, emnify's; `None` for none); see also [`Sandbox::set_list_rate_limit`].
    pub list_rate_limit: Option<RateLimit>,
    /// The limit of `POST /api/v1/authenticate` ([`AUTHENTICATE_LIMIT`] by default, emnify's;
    /// `None` for none), counted per client IP on [`clock`](Self::clock); see also
    /// [`Sandbox::set_authenticate_limit`].
    pub authenticate_limit: Option<AuthenticateLimit>,
    /// The clock the sandbox keeps time by (the real one by default): timestamps, token
    /// expiries, the lockout and the authenticate limit's window.
    pub clock: Clock,
    /// The port on `127.0.0.1` to listen on (`0`, the default: an ephemeral one).
    pub port: u16,
}

impl Default for SandboxOptions {
    fn default() -> Self {
        Self {
            token_lifetime: DEFAULT_TOKEN_LIFETIME,
            lockout: DEFAULT_LOCKOUT,
            rate_limit: None,
            record: true,
            list_rate_limit: Some(LIST_RATE_LIMIT),
            authenticate_limit: Some(AUTHENTICATE_LIMIT),
            clock: Clock::real(),
            port: 0,
        }
    }
}

/// The role of the caller's organisation for the SIMs it changes, which decides the keys a
/// `PATCH` may send and whether a reseller may delete.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum CallerRole {
    /// The issuer organisation: may change every key (the default).
    #[default]
    Issuer,
    /// The reseller organisation: may change `reseller_org` and `customer_org`.
    Reseller,
    /// The customer organisation: may change `status` only.
    Customer,
}

impl CallerRole {
    fn may_send(self, key: &str) -> bool {
        match self {
            CallerRole::Issuer => true,
            CallerRole::Reseller => matches!(key, "reseller_org" | "customer_org"),
            CallerRole::Customer => key == "status",
        }
    }

    fn word(self) -> &'static str {
        match self {
            CallerRole::Issuer => "an issuer",
            CallerRole::Reseller => "a reseller",
            CallerRole::Customer => "a customer",
        }
    }
}

/// An organisation the sandbox knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxOrg {
    /// The id.
    pub id: u64,
    /// The name.
    pub name: String,
    /// The type, in emnify's words: `Mobile Network Operator`, `Service Provider`, `Reseller`,
    /// `Enterprise`.
    pub org_type: String,
    /// The country, as emnify names it with every organisation a SIM refers to.
    pub country: SandboxRef,
}

/// An id and a name, as emnify writes a country, a form factor or a manufacturer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxRef {
    /// The id.
    pub id: u64,
    /// The name.
    pub name: String,
}

impl SandboxRef {
    /// A reference.
    pub fn new(id: u64, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
        }
    }
}

/// The country of every organisation the sandbox seeds: Germany (emnify's id 74).
pub fn default_country() -> SandboxRef {
    SandboxRef::new(74, "Germany")
}

/// A SIM's model, as emnify describes it: the card type, its memory, its form factor and its
/// maker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSimModel {
    /// The model's id.
    pub id: u64,
    /// The model's description (`"Classic"`).
    pub description: String,
    /// The memory size in kilobytes.
    pub memory_size: u64,
    /// The form factor (`"1/2/3FF (3in1)"`).
    pub formfactor: SandboxRef,
    /// The manufacturer.
    pub manufacturer: SandboxRef,
}

impl Default for SandboxSimModel {
    /// A classic 128 kB triple-cut card.
    fn default() -> Self {
        Self {
            id: 4,
            description: "Classic".to_owned(),
            memory_size: 128,
            formfactor: SandboxRef::new(6, "1/2/3FF (3in1)"),
            manufacturer: SandboxRef::new(2, "Sandbox Cards"),
        }
    }
}

/// An endpoint (device) a SIM is assigned to, with the keys emnify returns for it (`imei` and
/// `tags` are `null` when unset, not left out).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxEndpoint {
    /// The endpoint id.
    pub id: u64,
    /// The endpoint name.
    pub name: String,
    /// The device's IMEI.
    pub imei: Option<String>,
    /// Its tags, comma-separated.
    pub tags: Option<String>,
    /// The id of the organisation it belongs to (default: the SIM's customer or [`OWN_ORG`]).
    pub organisation_id: Option<u64>,
    /// Its service profile.
    pub service_profile_id: u64,
    /// Its tariff profile.
    pub tariff_profile_id: u64,
    /// Its IP address (default: generated from its id).
    pub ip_address: Option<String>,
    /// The IP address space it draws from.
    pub ip_address_space_id: u64,
    /// When it was created and last changed (default: the seeding time).
    pub created: Option<DateTime<Utc>>,
}

impl SandboxEndpoint {
    /// An endpoint with the defaults: no IMEI, no tags, service and tariff profile 1, address
    /// space 1, an address and times set when it is seeded.
    pub fn new(id: u64, name: impl Into<String>) -> Self {
        Self {
            id,
            name: name.into(),
            imei: None,
            tags: None,
            organisation_id: None,
            service_profile_id: 1,
            tariff_profile_id: 1,
            ip_address: None,
            ip_address_space_id: 1,
            created: None,
        }
    }

    /// Sets the tags.
    pub fn tags(mut self, tags: impl Into<String>) -> Self {
        self.tags = Some(tags.into());
        self
    }

    /// Sets the IMEI.
    pub fn imei(mut self, imei: impl Into<String>) -> Self {
        self.imei = Some(imei.into());
        self
    }
}

/// A SIM as the sandbox holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SandboxSim {
    /// emnify's numeric id.
    pub id: u64,
    /// The ICCID without the Luhn digit (19 digits when generated).
    pub iccid: String,
    /// The eUICC id, for eSIMs.
    pub eid: Option<String>,
    /// The status id: 0 Issued, 1 Activated, 2 Suspended, 4 Factory Test.
    pub status: i64,
    /// The issuer organisation.
    pub issuer_org: u64,
    /// The reseller organisation, if any.
    pub reseller_org: Option<u64>,
    /// The customer organisation, if any.
    pub customer_org: Option<u64>,
    /// The endpoint, if any (a SIM with one cannot be deleted).
    pub endpoint: Option<SandboxEndpoint>,
    /// The IMSI.
    pub imsi: Option<String>,
    /// The MSISDN.
    pub msisdn: Option<String>,
    /// When the SIM was produced (the seeding time unless given).
    pub production_date: DateTime<Utc>,
    /// When the SIM was first activated.
    pub activation_date: Option<DateTime<Utc>>,
    /// The SIM's model.
    pub model: SandboxSimModel,
}

/// What to seed: every field has a default (an Issued SIM of [`OWN_ORG`] with generated ICCID,
/// IMSI and MSISDN, no reseller, customer or endpoint).
///
/// ```
/// use emnify_client::sandbox::{SimSeed, ENTERPRISE_ORG};
/// let seed = SimSeed::new().status(1).customer_org(ENTERPRISE_ORG).iccid("8988303000000000129");
/// # let _ = seed;
/// ```
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct SimSeed {
    id: Option<u64>,
    iccid: Option<String>,
    eid: Option<String>,
    status: i64,
    issuer_org: Option<u64>,
    reseller_org: Option<u64>,
    customer_org: Option<u64>,
    endpoint: Option<SandboxEndpoint>,
    imsi: Option<String>,
    msisdn: Option<String>,
    production_date: Option<DateTime<Utc>>,
    model: Option<SandboxSimModel>,
}

impl SimSeed {
    /// An Issued SIM with the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// Assigns an endpoint with the defaults of [`SandboxEndpoint::new`] (default: none).
    pub fn endpoint(mut self, id: u64, name: impl Into<String>) -> Self {
        self.endpoint = Some(SandboxEndpoint::new(id, name));
        self
    }

    /// Assigns an endpoint described in full.
    pub fn with_endpoint(mut self, endpoint: SandboxEndpoint) -> Self {
        self.endpoint = Some(endpoint);
        self
    }
}

simsandbox::setters!(SimSeed {
    /// The SIM id (default: the next free one). Seeding an existing id replaces that SIM.
    id: u64 => Some,
    /// The status id: 0 Issued (default), 1 Activated, 2 Suspended, 4 Factory Test (any id is
    /// stored; the `PATCH` rules apply from there).
    status: i64,
    /// The ICCID without the Luhn digit (default: generated from the id).
    iccid: impl Into<String> => Some,
    /// The eUICC id (default: none).
    eid: impl Into<String> => Some,
    /// The issuer organisation (default [`OWN_ORG`]).
    issuer_org: u64 => Some,
    /// The reseller organisation (default: none).
    reseller_org: u64 => Some,
    /// The customer organisation (default: none).
    customer_org: u64 => Some,
    /// The SIM's model (default: [`SandboxSimModel::default`]).
    model: SandboxSimModel => Some,
    /// The IMSI (default: generated).
    imsi: impl Into<String> => Some,
    /// The MSISDN (default: generated).
    msisdn: impl Into<String> => Some,
    /// The production date (default: the seeding time).
    production_date: DateTime<Utc> => Some,
});

struct Auth {
    application_token: String,
    /// User name -> SHA-1 hex of the password.
    users: HashMap<String, String>,
    refresh_tokens: HashSet<String>,
    /// Refusals in a row, lockouts and the authenticate limit, per client IP.
    guard: LoginGuard,
}

struct Shared {
    auth: Mutex<Auth>,
    /// The issued `auth_token`s.
    sessions: Sessions,
    /// SIMs in id order: a page of the list is found by its offset.
    sims: OrderedStore<u64, SandboxSim>,
    orgs: Store<u64, SandboxOrg>,
    /// The list path's own rate limit.
    list_limit: PathLimit,
    role: Mutex<CallerRole>,
    next_id: AtomicU64,
    authenticate_calls: AtomicU64,
    token_lifetime: Duration,
    clock: Clock,
    /// What each SIM used ([`Sandbox::record_usage`]), and what it used in Factory Test.
    usage: Store<u64, (SimUsage, SimUsage)>,
}

/// A running emnify sandbox. Stops when dropped.
pub struct Sandbox {
    server: SandboxServer,
    shared: Arc<Shared>,
}

impl fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Sandbox")
            .field("base_url", &self.server.base_url())
            .field("sims", &self.shared.sims.len())
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts a sandbox with `options`.
    pub async fn start_with(options: SandboxOptions) -> std::io::Result<Self> {
        let orgs = Store::new();
        for (id, name, org_type) in [
            (OWN_ORG, "Sandbox Operator", MNO),
            (
                SERVICE_PROVIDER_ORG,
                "Sandbox Service Provider",
                SERVICE_PROVIDER,
            ),
            (RESELLER_ORG, "Sandbox Reseller", RESELLER),
            (ENTERPRISE_ORG, "Sandbox Enterprise", ENTERPRISE),
        ] {
            orgs.insert(
                id,
                SandboxOrg {
                    id,
                    name: name.to_owned(),
                    org_type: org_type.to_owned(),
                    country: default_country(),
                },
            );
        }
        let shared = Arc::new(Shared {
            auth: Mutex::new(Auth {
                application_token: ids::credential(&ids::alphanumeric(48)),
                users: HashMap::new(),
                refresh_tokens: HashSet::new(),
                guard: LoginGuard::new(
                    options.clock.clone(),
                    LOCKOUT_AFTER,
                    options.lockout,
                    options.authenticate_limit,
                ),
            }),
            sessions: Sessions::new(options.clock.clone()),
            sims: OrderedStore::new(),
            orgs,
            list_limit: PathLimit::new(options.list_rate_limit),
            role: Mutex::new(CallerRole::default()),
            next_id: AtomicU64::new(1000 + fastrand::u64(0..9000)),
            authenticate_calls: AtomicU64::new(0),
            token_lifetime: options.token_lifetime,
            clock: options.clock,
            usage: Store::new(),
        });
        let router = engine::router(shared.clone(), route);
        let server_options = simsandbox::SandboxOptions {
            rate_limit: options.rate_limit,
            throttle: Arc::new(|_wait| rate_limited()),
            record: options.record,
        };
        let server = SandboxServer::start_on_port(router, server_options, options.port).await?;
        // emnify counts its limits per client IP: every process behind one address shares them.
        server.set_rate_limit_scope(simsandbox::RateLimitScope::ClientIp);
        Ok(Self { server, shared })
    }

    /// `http://127.0.0.1:PORT`, the base URL of the sandbox.
    pub fn base_url(&self) -> String {
        self.server.base_url()
    }

    /// A client pointed at the sandbox with its application token.
    pub fn client(&self) -> Client {
        self.client_builder()
            .build()
            .expect("a loopback base URL and a non-empty token make a valid client")
    }

    /// A client builder pointed at the sandbox with its application token, for callers who want
    /// other timeouts or retries. For a user's login instead, start from
    /// [`builder_without_credentials`](Self::builder_without_credentials): a builder refuses
    /// two kinds of credentials.
    pub fn client_builder(&self) -> ClientBuilder {
        self.builder_without_credentials()
            .application_token(self.application_token())
    }

    /// A client builder pointed at the sandbox, with no credentials yet.
    pub fn builder_without_credentials(&self) -> ClientBuilder {
        Client::builder().base_url(self.base_url())
    }

    /// The application token the sandbox accepts (fresh for each sandbox).
    pub fn application_token(&self) -> String {
        lock(&self.shared.auth).application_token.clone()
    }

    /// Adds a user who may authenticate with `username` and the SHA-1 hex of `password`.
    pub fn seed_user(&self, username: impl Into<String>, password: &str) {
        let hash = hex::encode(Sha1::digest(password.as_bytes()));
        lock(&self.shared.auth).users.insert(username.into(), hash);
    }

    /// Adds (or replaces) an organisation, a direct child of [`OWN_ORG`]. `org_type` in emnify's
    /// words (`Enterprise`, `Reseller`, `Service Provider`, `Mobile Network Operator`).
    pub fn seed_org(&self, id: u64, name: impl Into<String>, org_type: impl Into<String>) {
        self.shared.orgs.insert(
            id,
            SandboxOrg {
                id,
                name: name.into(),
                org_type: org_type.into(),
                country: default_country(),
            },
        );
    }

    /// An organisation the sandbox knows.
    pub fn org(&self, id: u64) -> Option<SandboxOrg> {
        self.shared.orgs.get(&id)
    }

    /// Adds a SIM and returns its id.
    pub fn seed_sim(&self, seed: SimSeed) -> u64 {
        let sim = self.sim_of(seed, self.shared.clock.now().trunc_subsecs(3));
        let id = sim.id;
        self.shared.sims.insert(id, sim);
        id
    }

    /// Adds many SIMs under one lock and returns their ids in order: a fleet of 100,000 in well
    /// under a second.
    ///
    /// ```
    /// use emnify_client::sandbox::{Sandbox, SimSeed};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let sandbox = Sandbox::start().await?;
    /// let ids = sandbox.seed_sims((0..1000).map(|i| SimSeed::new().status(i % 2)));
    /// assert_eq!(ids.len(), 1000);
    /// assert_eq!(sandbox.sim(ids[1]).unwrap().status, 1);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn seed_sims(&self, seeds: impl IntoIterator<Item = SimSeed>) -> Vec<u64> {
        let now = self.shared.clock.now().trunc_subsecs(3);
        let sims: Vec<SandboxSim> = seeds.into_iter().map(|s| self.sim_of(s, now)).collect();
        let ids = sims.iter().map(|s| s.id).collect();
        self.shared.sims.extend(sims.into_iter().map(|s| (s.id, s)));
        ids
    }

    /// The SIM a seed describes, with its defaults filled in.
    fn sim_of(&self, seed: SimSeed, now: DateTime<Utc>) -> SandboxSim {
        let id = seed
            .id
            .unwrap_or_else(|| self.shared.next_id.fetch_add(1, Ordering::Relaxed));
        let activated = matches!(seed.status, 1 | 2);
        SandboxSim {
            id,
            iccid: seed
                .iccid
                .unwrap_or_else(|| format!("8988303{:012}", id % 1_000_000_000_000)),
            eid: seed.eid,
            status: seed.status,
            issuer_org: seed.issuer_org.unwrap_or(OWN_ORG),
            reseller_org: seed.reseller_org,
            customer_org: seed.customer_org,
            endpoint: seed.endpoint.map(|mut e| {
                e.organisation_id = e.organisation_id.or(seed.customer_org).or(Some(OWN_ORG));
                e.ip_address = e
                    .ip_address
                    .or_else(|| Some(format!("10.192.{}.{}", (e.id / 254) % 256, e.id % 254 + 1)));
                e.created = e.created.or(Some(now));
                e
            }),
            imsi: Some(
                seed.imsi
                    .unwrap_or_else(|| format!("295050{:09}", id % 1_000_000_000)),
            ),
            msisdn: Some(
                seed.msisdn
                    .unwrap_or_else(|| format!("423663{:09}", id % 1_000_000_000)),
            ),
            production_date: seed.production_date.unwrap_or(now),
            activation_date: activated.then_some(now),
            model: seed.model.unwrap_or_default(),
        }
    }

    /// The SIM's state, `None` if unknown or deleted.
    pub fn sim(&self, id: u64) -> Option<SandboxSim> {
        self.shared.sims.get(&id)
    }

    /// Every SIM, by id.
    pub fn sims(&self) -> Vec<SandboxSim> {
        self.shared.sims.values()
    }

    /// Sets or removes the list path's own rate limit (see [`SandboxOptions::list_rate_limit`]).
    pub fn set_list_rate_limit(&self, limit: Option<RateLimit>) {
        self.shared.list_limit.set(limit);
    }

    /// How many list requests the list path's own rate limit answered with `429`.
    pub fn list_throttled(&self) -> u64 {
        self.shared.list_limit.refused()
    }

    /// Sets the role of the caller's organisation (default [`CallerRole::Issuer`]).
    pub fn set_caller_role(&self, role: CallerRole) {
        *lock(&self.shared.role) = role;
    }

    /// The role of the caller's organisation.
    pub fn caller_role(&self) -> CallerRole {
        *lock(&self.shared.role)
    }

    /// How many requests reached `POST /api/v1/authenticate` (answered or refused).
    pub fn authenticate_calls(&self) -> u64 {
        self.shared.authenticate_calls.load(Ordering::Relaxed)
    }

    /// Revokes every `auth_token` issued so far: the next request with one gets a `401`.
    /// Refresh tokens stay valid.
    pub fn expire_tokens(&self) {
        self.shared.sessions.clear();
    }

    /// Whether authentication is locked out for some client IP (three refusals in a row from
    /// it) at the sandbox's time; every caller of a sandbox on loopback is usually `127.0.0.1`.
    pub fn is_locked_out(&self) -> bool {
        lock(&self.shared.auth).guard.any_locked_out()
    }

    /// Until when `ip` is locked out of authentication, on the sandbox's clock; `None` if it is
    /// not (any more).
    pub fn locked_out_until(&self, ip: IpAddr) -> Option<DateTime<Utc>> {
        lock(&self.shared.auth).guard.locked_until(ip)
    }

    /// How many calls of `ip` the authenticate limit counts now (those of the last
    /// [`AuthenticateLimit::per`] it let through); 0 without a limit.
    pub fn authenticate_window(&self, ip: IpAddr) -> usize {
        lock(&self.shared.auth).guard.in_window(ip)
    }

    /// Sets or removes the limit of `POST /api/v1/authenticate` (see
    /// [`SandboxOptions::authenticate_limit`]); the calls counted so far stay counted (removing
    /// the limit forgets them).
    pub fn set_authenticate_limit(&self, limit: Option<AuthenticateLimit>) {
        lock(&self.shared.auth).guard.set_limit(limit);
    }

    /// The id of the SIM `id_or_iccid` names: its numeric id, or its ICCID with or without
    /// the Luhn digit. For an admin view that is handed whichever the operator has.
    ///
    /// ```
    /// use emnify_client::sandbox::{Sandbox, SimSeed};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let sandbox = Sandbox::start().await?;
    /// let id = sandbox.seed_sim(SimSeed::new().iccid("8988303000000000129"));
    /// assert_eq!(sandbox.find_sim(&id.to_string()), Some(id));
    /// assert_eq!(sandbox.find_sim("8988303000000000129"), Some(id));
    /// assert_eq!(sandbox.find_sim("89883030000000001294"), Some(id));
    /// assert_eq!(sandbox.find_sim("8988303000000000999"), None);
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn find_sim(&self, id_or_iccid: &str) -> Option<u64> {
        let wanted = id_or_iccid.trim();
        if let Ok(id) = wanted.parse::<u64>() {
            if self.shared.sims.contains(&id) {
                return Some(id);
            }
        }
        self.shared
            .sims
            .values()
            .into_iter()
            .find(|sim| {
                sim.iccid == wanted
                    || luhn_digit(&sim.iccid).is_some_and(|d| format!("{}{d}", sim.iccid) == wanted)
            })
            .map(|sim| sim.id)
    }

    /// Records data and SMS used by a SIM, as its device would use them; returns the SIM as it
    /// is then, `None` if there is no such SIM. A Factory Test SIM (4) whose usage in Factory
    /// Test reaches [`FACTORY_TEST_DATA_KB`] or [`FACTORY_TEST_SMS`] becomes Activated (1) by
    /// itself, as emnify says, and gets its `activation_date`.
    ///
    /// ```
    /// use emnify_client::sandbox::{Sandbox, SimSeed, SimUsage};
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// let sandbox = Sandbox::start().await?;
    /// let id = sandbox.seed_sim(SimSeed::new().status(4));
    /// assert_eq!(sandbox.record_usage(id, SimUsage::new(60, 0)).unwrap().status, 4);
    /// assert_eq!(sandbox.record_usage(id, SimUsage::new(40, 0)).unwrap().status, 1);
    /// assert_eq!(sandbox.usage(id), SimUsage::new(100, 0));
    /// # Ok::<(), std::io::Error>(())
    /// # }).unwrap();
    /// ```
    pub fn record_usage(&self, id: u64, usage: SimUsage) -> Option<SandboxSim> {
        let now = self.shared.clock.now().trunc_subsecs(3);
        let status = self.shared.sims.get(&id)?.status;
        let mut in_test = self.shared.usage.get(&id).unwrap_or_default();
        in_test.0.add(usage);
        if status == 4 {
            in_test.1.add(usage);
        }
        let ends_test = status == 4 && in_test.1.ends_factory_test();
        self.shared.usage.insert(id, in_test);
        self.shared.sims.update(&id, |sim| {
            if ends_test && sim.status == 4 {
                sim.status = 1;
                sim.activation_date.get_or_insert(now);
            }
            sim.clone()
        })
    }

    /// The data and SMS recorded for a SIM so far ([`record_usage`](Self::record_usage)).
    pub fn usage(&self, id: u64) -> SimUsage {
        self.shared.usage.get(&id).unwrap_or_default().0
    }

    /// Ends every lockout and forgets earlier refusals.
    pub fn unlock(&self) {
        lock(&self.shared.auth).guard.unlock();
    }

    /// Everything the sandbox holds, as JSON (see [`SandboxAdmin::state_json`]): the clock,
    /// each SIM as `GET /api/v1/sim/{sim_id}` answers it with the usage recorded for it
    /// (`"usage": {"data_kb", "sms", "in_factory_test": {"data_kb", "sms"}}`), the caller's
    /// role, and the state of authentication: how many sessions are live, each client IP's
    /// refusals in a row, lockouts (with their end) and calls in the authenticate window. No
    /// token or password is in it.
    pub fn state_json(&self) -> Value {
        let shared = &self.shared;
        let sims: Vec<Value> = shared
            .sims
            .values()
            .iter()
            .map(|sim| {
                let (all, in_test) = shared.usage.get(&sim.id).unwrap_or_default();
                let mut json = shared.sim_json(sim);
                json["usage"] = json!({
                    "data_kb": all.data_kb,
                    "sms": all.sms,
                    "in_factory_test": {"data_kb": in_test.data_kb, "sms": in_test.sms},
                });
                json
            })
            .collect();
        let auth = lock(&shared.auth);
        let mut authentication = auth.guard.state_json(timestamp);
        authentication.extend([
            (
                "calls".to_owned(),
                json!(shared.authenticate_calls.load(Ordering::Relaxed)),
            ),
            ("live_sessions".to_owned(), json!(shared.sessions.live())),
            ("users".to_owned(), json!(auth.users.len())),
        ]);
        json!({
            "provider": crate::PROVIDER,
            "clock": shared.clock.state_json(),
            "caller_role": format!("{:?}", *lock(&shared.role)),
            "sims": sims,
            "authentication": authentication,
        })
    }
}

simsandbox::sandbox_basics!(Sandbox, crate::PROVIDER, server, shared.clock);

// ----- answers -----

fn emnify_error(status: u16, code: i64, token: &str, message: &str) -> Response<Body> {
    json_response(
        status,
        &json!({"error_code": code, "error_token": token, "message": message}),
    )
}

fn bad_request(message: &str) -> Response<Body> {
    emnify_error(400, 1000, "BadRequest", message)
}

fn forbidden(message: &str) -> Response<Body> {
    emnify_error(403, 1104, "Forbidden", message)
}

fn not_found(sim_id: i64) -> Response<Body> {
    emnify_error(
        404,
        1201,
        "NotFound",
        &format!("SIM with Id '{sim_id}' not found."),
    )
}

fn locked_out() -> Response<Body> {
    emnify_error(
        401,
        1105,
        "TooManyRequests",
        "Too many failed login attempts, try again later",
    )
}

fn gateway_401(message: Option<&str>) -> Response<Body> {
    match message {
        Some(m) => json_response(401, &json!({"message": m})),
        None => empty_response(401),
    }
}

/// One entry of a 422's nested `errors`.
fn problem(code: i64, token: &str, message: String) -> Value {
    json!({"error_code": code, "error_token": token, "message": message})
}

fn invalid(message: String) -> Value {
    problem(1400, "InputValidationFailed", message)
}

fn validation_failed(errors: Vec<Value>) -> Response<Body> {
    json_response(
        422,
        &json!({
            "error_code": 1400,
            "error_token": "InputValidationFailed",
            "message": "Update SIM validation error",
            "errors": errors,
        }),
    )
}

fn status_description(id: i64) -> Option<&'static str> {
    Some(match id {
        0 => "Issued",
        1 => "Activated",
        2 => "Suspended",
        3 => "Deleted",
        4 => "Factory Test",
        _ => return None,
    })
}

fn status_words(id: i64) -> String {
    match status_description(id) {
        Some(d) => format!("{d} ({id})"),
        None => format!("status {id}"),
    }
}

/// How emnify writes a time: milliseconds, and an offset without a colon.
const TIMESTAMP: &str = "%Y-%m-%dT%H:%M:%S%.3f+0000";

fn timestamp(t: &DateTime<Utc>) -> String {
    t.format(TIMESTAMP).to_string()
}

fn ref_json(r: &SandboxRef) -> Value {
    json!({"id": r.id, "name": r.name})
}

impl Shared {
    fn org_json(&self, id: u64) -> Value {
        match self.orgs.get(&id) {
            Some(org) => json!({"id": id, "name": org.name, "country": ref_json(&org.country)}),
            None => json!({"id": id}),
        }
    }

    /// The SIM as emnify's `GET` returns it: empty keys left out.
    fn sim_json(&self, sim: &SandboxSim) -> Value {
        let mut m = Map::new();
        m.insert("id".into(), json!(sim.id));
        m.insert("iccid".into(), json!(sim.iccid));
        if let Some(luhn) = luhn_digit(&sim.iccid) {
            m.insert(
                "iccid_with_luhn".into(),
                json!(format!("{}{luhn}", sim.iccid)),
            );
        }
        if let Some(eid) = &sim.eid {
            m.insert("eid".into(), json!(eid));
        }
        m.insert(
            "production_date".into(),
            json!(timestamp(&sim.production_date)),
        );
        if let Some(t) = &sim.activation_date {
            m.insert("activation_date".into(), json!(timestamp(t)));
        }
        let mut status = json!({"id": sim.status});
        if let Some(d) = status_description(sim.status) {
            status["description"] = json!(d);
        }
        m.insert("status".into(), status);
        m.insert("issuer_org".into(), self.org_json(sim.issuer_org));
        if let Some(id) = sim.reseller_org {
            m.insert("reseller_org".into(), self.org_json(id));
        }
        if let Some(id) = sim.customer_org {
            m.insert("customer_org".into(), self.org_json(id));
        }
        if let Some(e) = &sim.endpoint {
            let created = e.created.as_ref().map(timestamp);
            m.insert(
                "endpoint".into(),
                json!({
                    "id": e.id,
                    "name": e.name,
                    "imei": e.imei,
                    "created": created,
                    "last_updated": created,
                    "organisation_id": e.organisation_id.unwrap_or(OWN_ORG),
                    "service_profile_id": e.service_profile_id,
                    "tariff_profile_id": e.tariff_profile_id,
                    "tags": e.tags,
                    "ip_address": e.ip_address,
                    "ip_address_space_id": e.ip_address_space_id,
                }),
            );
        }
        if let Some(imsi) = &sim.imsi {
            m.insert("imsi".into(), json!(imsi));
        }
        if let Some(msisdn) = &sim.msisdn {
            m.insert("msisdn".into(), json!(msisdn));
        }
        let model = &sim.model;
        m.insert(
            "model".into(),
            json!({
                "id": model.id,
                "description": model.description,
                "memory_size": model.memory_size,
                "formfactor": ref_json(&model.formfactor),
                "manufacturer": ref_json(&model.manufacturer),
            }),
        );
        Value::Object(m)
    }

    /// A fresh `auth_token`. Its `iat` and `exp` claims are on the caller's (real) clock, the
    /// one a client compares them with to refresh early; whether the sandbox still takes it is
    /// judged on the sandbox's clock: it expires [`SandboxOptions::token_lifetime`] later there.
    fn issue_jwt(&self, subject: &str) -> String {
        let now = u64::try_from(Utc::now().timestamp()).unwrap_or_default();
        let exp = now.saturating_add(self.token_lifetime.as_secs());
        let header = URL_SAFE_NO_PAD.encode(r#"{"alg":"HS512","typ":"JWT"}"#);
        let payload = URL_SAFE_NO_PAD.encode(
            json!({"sub": subject, "iat": now, "exp": exp, "jti": ids::alphanumeric(16)})
                .to_string(),
        );
        // Not a signature: the mark that makes the token recognisable as a sandbox's.
        let signature = ids::credential(&ids::alphanumeric(16));
        let jwt = format!("{header}.{payload}.{signature}");
        // Whole seconds, as `exp` counts them.
        let lifetime = Duration::from_secs(self.token_lifetime.as_secs());
        self.sessions.insert(jwt.clone(), lifetime);
        jwt
    }
}

// ----- routing -----

async fn route(shared: Arc<Shared>, call: Call) -> Response<Body> {
    let segments = call.segments("").unwrap_or_default();
    let method = call.method.as_str();
    match segments.as_slice() {
        ["api", "v1", "authenticate"] if method != "POST" => empty_response(405),
        ["api", "v1", "authenticate"] => {
            shared.authenticate_calls.fetch_add(1, Ordering::Relaxed);
            authenticate(&shared, &call)
        }
        ["api", "v1", "sim"] if method != "GET" => empty_response(405),
        ["api", "v1", "sim"] if shared.list_limit.over() => rate_limited(),
        ["api", "v1", "sim"] => {
            check_bearer(&shared, &call).unwrap_or_else(|| list_sims(&shared, &call))
        }
        ["api", "v1", "sim", _] if !["GET", "PATCH", "DELETE"].contains(&method) => {
            empty_response(405)
        }
        ["api", "v1", "sim", raw_id] => {
            if let Some(refusal) = check_bearer(&shared, &call) {
                return refusal;
            }
            let Ok(sim_id) = raw_id.parse::<i64>() else {
                return bad_request(&format!(
                    "Cannot parse parameter id as Long: For input string: \"{raw_id}\""
                ));
            };
            let Some(sim) = u64::try_from(sim_id)
                .ok()
                .and_then(|id| shared.sims.get(&id))
            else {
                return not_found(sim_id);
            };
            match method {
                "GET" => json_response(200, &shared.sim_json(&sim)),
                "PATCH" => patch_sim(&shared, sim, &call),
                _ => delete_sim(&shared, &sim),
            }
        }
        _ => json_response(404, &json!({"message": "Not Found"})),
    }
}

// ----- the list -----

/// `429 1105 TooManyRequests`, without `Retry-After` (emnify documents none).
fn rate_limited() -> Response<Body> {
    emnify_error(429, 1105, "TooManyRequests", "Rate limit exceeded")
}

/// `GET /api/v1/sim`: a page of SIMs by id, as an un-enveloped array, with the paging in headers.
fn list_sims(shared: &Shared, call: &Call) -> Response<Body> {
    let (mut ask, mut status, mut seen) = (PAGES.start(), None, HashSet::new());
    for (key, value) in call.query_pairs() {
        if !LIST_PARAMS.contains(&key.as_str()) {
            return bad_request(&format!(
                "Unknown query parameter '{key}': the SIM list takes page, per_page, q and sort"
            ));
        }
        if !seen.insert(key.clone()) {
            return bad_request(&format!("Query parameter '{key}' was given more than once"));
        }
        // Page numbers are 32-bit, as emnify's are.
        match PAGES.read(&mut ask, &key, &value) {
            Some(Ok(())) if u32::try_from(ask.page).is_ok() => {}
            Some(_) if key == "page" => {
                return bad_request(&format!(
                    "Cannot parse parameter page as a page number from 1: \"{value}\""
                ));
            }
            Some(_) => {
                return bad_request(&format!(
                    "per_page must be an integer from 1 to {MAX_PAGE_SIZE}: \"{value}\""
                ));
            }
            None if key == "q" => {
                for filter in value.split(',') {
                    match filter.trim().split_once(':') {
                        Some(("status", id)) => match id.trim().parse::<i64>() {
                            Ok(id) => status = Some(id),
                            Err(_) => {
                                return bad_request(&format!(
                                    "Cannot parse filter status as an id: \"{id}\""
                                ));
                            }
                        },
                        _ => {
                            return bad_request(&format!(
                                "Unsupported filter \"{filter}\": the sandbox filters by status:<id> only"
                            ));
                        }
                    }
                }
            }
            None if value != "id" => {
                return bad_request(&format!(
                    "Unsupported sort \"{value}\": the sandbox sorts by id only"
                ));
            }
            None => {}
        }
    }
    let (page, per_page, offset) = (ask.page, ask.size, ask.offset());
    let (sims, total) = match status {
        None => (shared.sims.page(offset, per_page), shared.sims.len()),
        Some(id) => shared
            .sims
            .filtered_page(offset, per_page, |s| s.status == id),
    };
    let pages = total.div_ceil(per_page);
    let body: Vec<Value> = sims.iter().map(|s| shared.sim_json(s)).collect();
    let mut response = json_response(200, &Value::Array(body));
    let headers = response.headers_mut();
    for (name, value) in [
        ("X-Count-Per-Page", per_page.to_string()),
        ("X-Current-Page", page.to_string()),
        ("X-Sort", "id".to_owned()),
        ("X-Total-Count", total.to_string()),
        ("X-Total-Pages", pages.to_string()),
    ] {
        if let Ok(value) = header::HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
    response
}

// ----- authentication -----

fn authenticate(shared: &Shared, call: &Call) -> Response<Body> {
    let caller = call.peer;
    let mut auth = lock(&shared.auth);
    match auth.guard.admit(caller) {
        Err(Barred::OverLimit) => return rate_limited(),
        Err(Barred::LockedOut) => return locked_out(),
        Ok(()) => {}
    }
    let Ok(body) = call.json_body() else {
        return bad_request("Request body must be a JSON object");
    };
    let text = |key: &str| body.get(key).and_then(Value::as_str);
    let answer = if let Some(token) = text("application_token") {
        (token == auth.application_token).then(|| {
            let jwt = shared.issue_jwt("application-token");
            json!({"auth_token": jwt})
        })
    } else if let Some(refresh) = text("refresh_token") {
        auth.refresh_tokens.contains(refresh).then(|| {
            let jwt = shared.issue_jwt("refresh-token");
            json!({"auth_token": jwt})
        })
    } else if let (Some(user), Some(password)) = (text("username"), text("password")) {
        let known = auth.users.get(user).is_some_and(|hash| {
            // emnify compares hex digests; accept either case.
            hash.eq_ignore_ascii_case(password)
        });
        known.then(|| {
            let jwt = shared.issue_jwt(user);
            let refresh = ids::credential(&ids::alphanumeric(40));
            auth.refresh_tokens.insert(refresh.clone());
            json!({"auth_token": jwt, "refresh_token": refresh})
        })
    } else {
        return bad_request(
            "Provide application_token, refresh_token, or username and password (SHA-1 hex)",
        );
    };
    match answer {
        Some(answer) => {
            auth.guard.succeeded(caller);
            json_response(200, &answer)
        }
        None if auth.guard.failed(caller) => locked_out(),
        // emnify answers most refused authentications with an empty body.
        None => empty_response(401),
    }
}

/// The refusal of a request without a valid token, if it has none.
fn check_bearer(shared: &Shared, call: &Call) -> Option<Response<Body>> {
    if !call.headers.contains_key(header::AUTHORIZATION) {
        return Some(gateway_401(None));
    }
    let Some(token) = call.bearer() else {
        return Some(gateway_401(Some("Unauthorized")));
    };
    if token.split('.').count() != 3 {
        return Some(gateway_401(Some(
            "token contains an invalid number of segments",
        )));
    }
    match shared.sessions.check(token) {
        TokenState::Unknown => Some(gateway_401(Some("Unauthorized"))),
        TokenState::Expired => Some(gateway_401(Some("token is expired"))),
        TokenState::Live => None,
    }
}

// ----- SIM updates -----

/// What a present organisation key asks for.
enum OrgAsk {
    Set(u64),
    Clear,
}

const ORG_KEYS: [&str; 3] = ["issuer_org", "reseller_org", "customer_org"];

fn read_org(key: &str, value: &Value) -> Result<OrgAsk, String> {
    let Value::Object(m) = value else {
        return Err(format!("{key} must be an object such as {{\"id\": 123}}"));
    };
    match m.get("id") {
        None | Some(Value::Null) => Ok(OrgAsk::Clear),
        Some(id) => id
            .as_u64()
            .map(OrgAsk::Set)
            .ok_or_else(|| format!("Cannot parse {key}.id as Long: {id}")),
    }
}

fn read_status(value: &Value) -> Result<Option<i64>, String> {
    let Value::Object(m) = value else {
        return Err("status must be an object such as {\"id\": 1}".to_owned());
    };
    match m.get("id") {
        None | Some(Value::Null) => Ok(None),
        Some(id) => id
            .as_i64()
            .map(Some)
            .ok_or_else(|| format!("Cannot parse status.id as Integer: {id}")),
    }
}

fn patch_sim(shared: &Shared, sim: SandboxSim, call: &Call) -> Response<Body> {
    if !call.declares("application/json") {
        return emnify_error(
            415,
            1000,
            "BadRequest",
            "Content-Type must be application/json",
        );
    }
    let Ok(body) = call.json_body() else {
        return bad_request("Request body must be a JSON object");
    };

    // Parse every known key first: a malformed value is a 400.
    let mut orgs: Vec<(&str, OrgAsk)> = Vec::new();
    for key in ORG_KEYS {
        if let Some(v) = body.get(key) {
            match read_org(key, v) {
                Ok(ask) => orgs.push((key, ask)),
                Err(m) => return bad_request(&m),
            }
        }
    }
    let status = match body.get("status").map(read_status) {
        None => None,
        Some(Ok(id)) => id,
        Some(Err(m)) => return bad_request(&m),
    };

    // Who may change what.
    let role = *lock(&shared.role);
    let refused: Vec<&str> = body
        .keys()
        .map(String::as_str)
        .filter(|k| ORG_KEYS.contains(k) || *k == "status")
        .filter(|k| !role.may_send(k))
        .collect();
    if !refused.is_empty() {
        return forbidden(&format!(
            "Users of {} organisation of this SIM may not change: {}",
            role.word(),
            refused.join(", ")
        ));
    }

    // Values.
    let mut errors = Vec::new();
    for key in body.keys() {
        if !ORG_KEYS.contains(&key.as_str()) && key != "status" {
            errors.push(invalid(format!(
                "Unknown field '{key}': a SIM update takes issuer_org, reseller_org, customer_org and status"
            )));
        }
    }
    for (key, ask) in &orgs {
        match ask {
            OrgAsk::Clear if *key == "issuer_org" => errors.push(invalid(
                "issuer_org cannot be removed, only changed to another organisation".to_owned(),
            )),
            OrgAsk::Clear => {}
            OrgAsk::Set(id) => {
                if let Some(e) = check_org(shared, key, *id) {
                    errors.push(e);
                }
            }
        }
    }
    match status {
        None if body.contains_key("status") => {
            errors.push(invalid("status requires an id".to_owned()));
        }
        None => {}
        Some(to) if status_description(to).is_none() => errors.push(problem(
            1401,
            "InvalidReference",
            format!("SIM status with Id '{to}' not found."),
        )),
        Some(to) => match LIFECYCLE.check(sim.status, to) {
            Ok(()) => {}
            Err(Refused::UseDelete) => errors.push(invalid(format!(
                "SIM status cannot change from {} to Deleted (3) by an update: delete the SIM instead",
                status_words(sim.status)
            ))),
            Err(Refused::NotAllowed) => errors.push(invalid(format!(
                "SIM status cannot change from {} to {}",
                status_words(sim.status),
                status_words(to)
            ))),
        },
    }
    if !errors.is_empty() {
        return validation_failed(errors);
    }

    // Apply.
    let applied = shared.sims.update(&sim.id, |stored| {
        for (key, ask) in &orgs {
            let id = match ask {
                OrgAsk::Set(id) => Some(*id),
                OrgAsk::Clear => None,
            };
            match *key {
                "issuer_org" => stored.issuer_org = id.unwrap_or(stored.issuer_org),
                "reseller_org" => stored.reseller_org = id,
                _ => stored.customer_org = id,
            }
        }
        if let Some(to) = status {
            // Checked against the status read above; a concurrent change wins the race only
            // if it keeps the transition valid.
            if LIFECYCLE.allows(stored.status, to) {
                stored.status = to;
                if to == 1 && stored.activation_date.is_none() {
                    stored.activation_date = Some(shared.clock.now().trunc_subsecs(3));
                }
            }
        }
    });
    match applied {
        Some(()) => empty_response(204),
        None => not_found(sim.id as i64),
    }
}

/// Whether organisation `id` may be assigned as `key`; the nested error if not.
fn check_org(shared: &Shared, key: &str, id: u64) -> Option<Value> {
    let Some(org) = shared.orgs.get(&id) else {
        return Some(problem(
            1401,
            "InvalidReference",
            format!("Organisation with Id '{id}' not found."),
        ));
    };
    let (allowed, rule): (&[&str], &str) = match key {
        "issuer_org" => (
            &[MNO, SERVICE_PROVIDER],
            "a direct child organisation of type Mobile Network Operator or Service Provider",
        ),
        "reseller_org" => (
            &[MNO, SERVICE_PROVIDER, RESELLER],
            "a direct child organisation of type Mobile Network Operator, Service Provider or Reseller",
        ),
        _ => {
            if id == OWN_ORG {
                return None;
            }
            (
                &[ENTERPRISE],
                "the own organisation or a direct child organisation of type Enterprise",
            )
        }
    };
    let child = id != OWN_ORG;
    if child && allowed.contains(&org.org_type.as_str()) {
        return None;
    }
    Some(invalid(format!(
        "Organisation with Id '{id}' ({}) cannot be the {key}: it must be {rule}",
        org.org_type
    )))
}

fn delete_sim(shared: &Shared, sim: &SandboxSim) -> Response<Body> {
    if sim.endpoint.is_some() {
        return forbidden(&format!(
            "SIM with Id '{}' is assigned to an endpoint and cannot be deleted.",
            sim.id
        ));
    }
    if *lock(&shared.role) == CallerRole::Reseller && sim.reseller_org.is_some() {
        return forbidden("Resellers cannot delete SIMs they have sold.");
    }
    match shared.sims.remove(&sim.id) {
        Some(_) => empty_response(204),
        None => not_found(sim.id as i64),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_digits() {
        // Known ICCIDs with their check digits.
        assert_eq!(luhn_digit("8988303000000000129"), Some('4'));
        assert_eq!(luhn_digit("7992739871"), Some('3'));
        assert_eq!(luhn_digit(""), None);
        assert_eq!(luhn_digit("12a"), None);
    }

    #[test]
    fn timestamps_have_no_colon_in_the_offset() {
        let t = DateTime::parse_from_rfc3339("2015-03-06T11:15:57Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(timestamp(&t), "2015-03-06T11:15:57.000+0000");
    }

    #[test]
    fn transitions_are_the_documented_five() {
        for from in 0..=4 {
            for to in 0..=4 {
                let documented = matches!((from, to), (0, 1) | (0, 4) | (4, 1) | (1, 2) | (2, 1));
                assert_eq!(LIFECYCLE.allows(from, to), documented, "{from} -> {to}");
            }
        }
    }

    #[test]
    fn roles() {
        assert!(CallerRole::Issuer.may_send("issuer_org"));
        assert!(!CallerRole::Reseller.may_send("status"));
        assert!(CallerRole::Reseller.may_send("customer_org"));
        assert!(CallerRole::Customer.may_send("status"));
        assert!(!CallerRole::Customer.may_send("reseller_org"));
    }
}
