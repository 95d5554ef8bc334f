//! The [`Client`] and its [`ClientBuilder`]: Super SIM on KORE (OAuth2 client credentials) or on
//! Twilio (HTTP Basic).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use simcore::http::{
    Auth, AuthHeader, Method, Redactor, Request, Token, TokenCache, TokenCacheOptions, TokenSource,
    TokenStore, Transport, TransportBuilder, header::AUTHORIZATION,
};
use simcore::retry::RetryPolicy;
use simcore::secrecy::{ExposeSecret as _, SecretString};
use simcore::validate::quote;
use simcore::{CallOptions, Error, Result, Updated, ValidationError};
use url::Url;

use crate::models::{Sim, SimsPage, SnapshotPage};
use crate::requests::{ListSims, SimRef, UpdateSimBuilder, UpdateSimRequest, is_sid};

/// The name KORE's dialect goes by in errors.
const KORE: &str = Dialect::Kore.as_str();
/// The name Twilio's dialect goes by in errors.
const TWILIO: &str = Dialect::Twilio.as_str();

/// Which API a client speaks to: Super SIM as Twilio serves it, or as KORE serves it. The
/// resources and answers are the same; the credentials, base URL and callback signatures differ.
///
/// Errors name the dialect that answered ([`as_str`](Self::as_str): `"twilio"` or `"kore"`);
/// through [`SimProvider`](simcore::SimProvider), the provider is `"supersim"` whatever the
/// dialect ([`PROVIDER`](crate::PROVIDER)).
///
/// ```
/// use supersim_client::{Client, Dialect};
/// let kore = Client::builder().kore("client id", "client secret").build()?;
/// assert_eq!(kore.dialect(), Dialect::Kore);
/// assert_eq!(kore.dialect().as_str(), "kore");
/// # Ok::<(), simcore::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dialect {
    /// Twilio's API (`https://supersim.twilio.com`, HTTP Basic).
    Twilio,
    /// KORE's API (`https://supersim.api.korewireless.com`, OAuth2 client credentials).
    Kore,
}

impl Dialect {
    /// The dialect's name, as errors carry it: `"twilio"` or `"kore"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Dialect::Twilio => "twilio",
            Dialect::Kore => "kore",
        }
    }
}

impl fmt::Display for Dialect {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Twilio's Super SIM API.
pub const DEFAULT_BASE_URL: &str = "https://supersim.twilio.com";
/// KORE's Super SIM API (the same resources, with OAuth2).
pub const KORE_BASE_URL: &str = "https://supersim.api.korewireless.com";
/// KORE's OAuth2 token endpoint (client credentials).
pub const KORE_TOKEN_URL: &str = "https://api.korewireless.com/api-services/v1/auth/token";

/// The environment variable holding the Account SID.
pub const ENV_ACCOUNT_SID: &str = "TWILIO_ACCOUNT_SID";
/// The environment variable holding the Auth Token.
pub const ENV_AUTH_TOKEN: &str = "TWILIO_AUTH_TOKEN";
/// The environment variable holding the API Key SID.
pub const ENV_API_KEY: &str = "TWILIO_API_KEY";
/// The environment variable holding the API Key secret.
pub const ENV_API_SECRET: &str = "TWILIO_API_SECRET";
/// The environment variable holding a KORE API client's id (KORE documents no name for it: this
/// crate's choice).
pub const ENV_KORE_CLIENT_ID: &str = "KORE_CLIENT_ID";
/// The environment variable holding a KORE API client's secret (this crate's choice, as above).
pub const ENV_KORE_CLIENT_SECRET: &str = "KORE_CLIENT_SECRET";
/// The environment variable [`Client::from_env`] reads the base URL from (unset: KORE's or
/// Twilio's, by the credentials); `simctl sandbox` exports it beside the sandbox's credentials.
pub const ENV_BASE_URL: &str = "SUPERSIM_BASE_URL";
/// The environment variable [`Client::from_env`] reads KORE's token endpoint from (unset:
/// [`KORE_TOKEN_URL`]); read with KORE's credentials only.
pub const ENV_KORE_TOKEN_URL: &str = "KORE_TOKEN_URL";

/// The body cap of a list page: room for a full page (1000 SIMs) at 8 KiB each, over ten times
/// what a SIM takes, unless the client's own cap is larger. A single SIM keeps the client's cap.
const LIST_PAGE_BODY_LIMIT: usize = 1000 * 8 * 1024;
/// The header in which Twilio (and KORE, serving the same API) sends its request id.
const REQUEST_ID_HEADER: &str = "twilio-request-id";
/// How long a KORE token is kept when the answer says nothing of its lifetime (the shortest
/// lifetime KORE's console offers).
const KORE_DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(60 * 60);

/// A Super SIM client, on KORE or on Twilio. Cheap to clone: clones share one connection pool
/// (and, on KORE, one access token).
///
/// ```
/// use supersim_client::Client;
///
/// // KORE: OAuth2 client credentials; the token is fetched on the first request.
/// let kore = Client::builder()
///     .kore("my-client-id", "my client secret")
///     .build()?;
/// assert_eq!(kore.base_url().as_str(), "https://supersim.api.korewireless.com/");
/// assert_eq!(kore.dialect().as_str(), "kore");
///
/// // Twilio: HTTP Basic with an Account SID and Auth Token (or an API key).
/// let twilio = Client::builder()
///     .account("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "your auth token")
///     .build()?;
/// assert_eq!(twilio.base_url().as_str(), "https://supersim.twilio.com/");
/// assert!(!format!("{kore:?} {twilio:?}").contains("secret") );
/// # Ok::<(), simcore::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    transport: Transport,
    dialect: Dialect,
    /// Which credential is used, and its (non-secret) id, for `Debug` and [`Client::credential`].
    credential: String,
    /// KORE's access-token cache.
    tokens: Option<Arc<TokenCache>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("dialect", &self.dialect)
            .field("credential", &self.credential)
            .field("transport", &self.transport)
            .finish()
    }
}

/// The credentials: HTTP Basic for Twilio, OAuth2 client credentials for KORE.
enum Credentials {
    Account {
        sid: String,
        token: SecretString,
    },
    ApiKey {
        sid: String,
        secret: SecretString,
    },
    Kore {
        client_id: String,
        secret: SecretString,
    },
}

impl Credentials {
    fn describe(&self) -> String {
        match self {
            Credentials::Account { sid, .. } => format!("twilio account {sid}"),
            Credentials::ApiKey { sid, .. } => format!("twilio api key {sid}"),
            Credentials::Kore { client_id, .. } => format!("kore api client {client_id}"),
        }
    }
}

/// Builds a [`Client`]: credentials (KORE's or Twilio's), then optionally the base URL, timeouts
/// and retry policy.
pub struct ClientBuilder {
    transport: TransportBuilder,
    credentials: Option<Credentials>,
    /// Each kind of credentials set, by the method that set it, in order: two kinds are refused
    /// at build, not settled by the last call.
    credential_kinds: Vec<&'static str>,
    kore_token_url: String,
    /// Whether `kore_token_url` was called (refused with Twilio's credentials, which fetch no
    /// token).
    kore_token_url_set: bool,
    /// What `credentials_from_env` noticed (another kind of credentials also set).
    env_note: Option<String>,
    /// Where KORE's token is shared with other clients and processes, and its key.
    token_store: Option<(Arc<dyn TokenStore>, String)>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let credential = match &self.credentials {
            Some(c) => format!("{} (secret redacted)", c.describe()),
            None => "none".to_owned(),
        };
        f.debug_struct("ClientBuilder")
            .field("credential", &credential)
            .field("transport", &self.transport)
            .field("token_store", &self.token_store.as_ref().map(|(s, _)| s))
            .finish()
    }
}

impl ClientBuilder {
    simcore::transport_builder_methods!();

    /// Authenticates with a KORE API client's id and secret (OAuth2 client credentials), and
    /// sends to [`KORE_BASE_URL`] unless a base URL is set. This is where Super SIM customers
    /// are now.
    ///
    /// The access token is fetched from [`KORE_TOKEN_URL`] on the first request, cached and
    /// shared by every clone, refreshed before its `expires_in` runs out, fetched once for any
    /// number of concurrent requests, and fetched again once if KORE answers 401. A refused
    /// client (`401 invalid_client`) is never retried: the error names the client id, never the
    /// secret, and is returned again for five minutes without asking KORE.
    pub fn kore(
        mut self,
        client_id: impl Into<String>,
        client_secret: impl Into<SecretString>,
    ) -> Self {
        self.credentials = Some(Credentials::Kore {
            client_id: client_id.into(),
            secret: client_secret.into(),
        });
        self.kind("kore");
        self
    }

    /// Notes a kind of credentials set (once per kind).
    fn kind(&mut self, method: &'static str) {
        if !self.credential_kinds.contains(&method) {
            self.credential_kinds.push(method);
        }
    }

    /// Fetches KORE tokens from another URL than [`KORE_TOKEN_URL`] (a sandbox, a mock server).
    /// `https` is required unless the host is loopback.
    pub fn kore_token_url(mut self, url: impl Into<String>) -> Self {
        self.kore_token_url = url.into();
        self.kore_token_url_set = true;
        self
    }

    /// Authenticates with a Twilio Account SID (`AC` + 32 hex digits) and its Auth Token.
    pub fn account(
        mut self,
        account_sid: impl Into<String>,
        auth_token: impl Into<SecretString>,
    ) -> Self {
        self.credentials = Some(Credentials::Account {
            sid: account_sid.into(),
            token: auth_token.into(),
        });
        self.kind("account");
        self
    }

    /// Authenticates with a Twilio API Key SID (`SK` + 32 hex digits) and its secret (what Twilio
    /// recommends in production).
    pub fn api_key(
        mut self,
        api_key_sid: impl Into<String>,
        api_key_secret: impl Into<SecretString>,
    ) -> Self {
        self.credentials = Some(Credentials::ApiKey {
            sid: api_key_sid.into(),
            secret: api_key_secret.into(),
        });
        self.kind("api_key");
        self
    }

    /// Reads the credentials from the environment:
    /// - KORE: `KORE_CLIENT_ID` and `KORE_CLIENT_SECRET` when either is set;
    /// - otherwise Twilio: `TWILIO_API_KEY` and `TWILIO_API_SECRET` when `TWILIO_API_KEY` is set,
    ///   else `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN`.
    ///
    /// When KORE's and Twilio's are both set, KORE's are used, and [`Client::credential`] says
    /// so. A missing (or empty) variable is an [`Error::Config`] naming it.
    pub fn credentials_from_env(self) -> Result<Self> {
        self.credentials_from(simcore::env::process)
    }

    /// [`credentials_from_env`](Self::credentials_from_env) over any lookup.
    fn credentials_from(mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        use simcore::env::require;
        let set = |name: &str| lookup(name).is_some_and(|v| !v.trim().is_empty());
        if set(ENV_KORE_CLIENT_ID) || set(ENV_KORE_CLIENT_SECRET) {
            let id = require(
                &lookup,
                ENV_KORE_CLIENT_ID,
                " (needed with KORE_CLIENT_SECRET)",
            )?;
            let secret = require(
                &lookup,
                ENV_KORE_CLIENT_SECRET,
                " (needed with KORE_CLIENT_ID)",
            )?;
            let twilio: Vec<&str> = [ENV_ACCOUNT_SID, ENV_AUTH_TOKEN, ENV_API_KEY, ENV_API_SECRET]
                .into_iter()
                .filter(|n| set(n))
                .collect();
            if !twilio.is_empty() {
                self.env_note = Some(format!(
                    "from KORE_CLIENT_ID; {} also set and not used",
                    twilio.join(", ")
                ));
            }
            return Ok(self.kore(id, secret));
        }
        if set(ENV_API_KEY) {
            let key = require(&lookup, ENV_API_KEY, "")?;
            let secret = require(&lookup, ENV_API_SECRET, " (needed with TWILIO_API_KEY)")?;
            return Ok(self.api_key(key, secret));
        }
        let hint = " (or set TWILIO_API_KEY and TWILIO_API_SECRET, or KORE_CLIENT_ID and KORE_CLIENT_SECRET)";
        let sid = require(&lookup, ENV_ACCOUNT_SID, hint)?;
        let token = require(&lookup, ENV_AUTH_TOKEN, hint)?;
        Ok(self.account(sid, token))
    }

    /// KORE only: shares the access token through `store` under `key` with every client and
    /// process that uses the same store and key (on Redis: `simcore_redis::RedisTokenStore`):
    /// one token request for the fleet while the token lasts, a refused client remembered by all
    /// of them for five minutes (see `simcore::http::TokenCache`). `key` names the API client
    /// (say its client id): clients with other credentials need another key. With Twilio's Basic
    /// credentials, which have no token to share, [`build`](Self::build) refuses it.
    ///
    /// With the `simcore-redis` crate, a fleet shares the token and the account's budget on
    /// Redis:
    ///
    /// ```no_run
    /// # fn main() -> simcore::Result<()> {
    /// use std::sync::Arc;
    /// use simcore_redis::{Redis, RedisRateBudget, RedisTokenStore, TokenKey};
    ///
    /// let redis = Redis::new("redis://10.0.0.5:6379/", "fleet-a:")?;
    /// let key = TokenKey::from_base64(&std::env::var("TOKEN_KEY").unwrap_or_default())?;
    /// let client = supersim_client::Client::builder()
    ///     .kore("my-client-id", std::env::var("KORE_CLIENT_SECRET").unwrap_or_default())
    ///     .token_store(
    ///         Arc::new(RedisTokenStore::new(&redis).encryption_key(key)),
    ///         "my-client-id",
    ///     )
    ///     // A pace you choose for the whole fleet: Super SIM's limit counts requests in flight,
    ///     // and a bulk run's window finds it (see `simfleet::bulk`).
    ///     .rate_budget(Arc::new(RedisRateBudget::new(&redis, "kore-account", 50.0, 25)))
    ///     .build()?;
    /// # let _ = client; Ok(()) }
    /// ```
    pub fn token_store(mut self, store: Arc<dyn TokenStore>, key: impl Into<String>) -> Self {
        self.token_store = Some((store, key.into()));
        self
    }

    /// Checks the configuration and builds the client. Nothing is sent.
    pub fn build(self) -> Result<Client> {
        let credentials = self.credentials.ok_or_else(|| {
            Error::Config(
                "no credentials: call ClientBuilder::kore(client_id, client_secret), \
                 ClientBuilder::account(account_sid, auth_token) or \
                 ClientBuilder::api_key(api_key_sid, api_key_secret), or use Client::from_env()"
                    .to_owned(),
            )
        })?;
        // Settings that contradict each other, or would be ignored: refused, not settled.
        if let [first, second, ..] = self.credential_kinds[..] {
            return Err(Error::conflict(
                first,
                second,
                "a client has one kind of credentials (KORE's OAuth2 client, or Twilio's Basic auth)",
            ));
        }
        if !matches!(credentials, Credentials::Kore { .. }) {
            let twilio = self.credential_kinds.first().copied().unwrap_or("account");
            if self.kore_token_url_set {
                return Err(Error::conflict(
                    "kore_token_url",
                    twilio,
                    "Twilio's Basic auth fetches no token",
                ));
            }
            if self.token_store.is_some() {
                return Err(Error::conflict(
                    "token_store",
                    twilio,
                    "Twilio's Basic auth has no token to share",
                ));
            }
        }
        let mut description = credentials.describe();
        if let Some(note) = &self.env_note {
            description = format!("{description} ({note})");
        }
        let transport = self.transport.user_agent(USER_AGENT);
        match &credentials {
            Credentials::Kore { client_id, secret } => {
                if client_id.trim().is_empty() {
                    return Err(Error::Config("the KORE client id is empty".to_owned()));
                }
                if secret.expose_secret().is_empty() {
                    return Err(Error::Config(format!(
                        "the client secret of KORE API client {client_id} is empty"
                    )));
                }
                // The token call: no auth, one attempt, the secret cut out of whatever it says.
                let token_transport = transport
                    .clone()
                    .provider(KORE)
                    .base_url(self.kore_token_url.clone())
                    .auth(Auth::None)
                    .retry(RetryPolicy::none())
                    .redact(secret)
                    .build()?;
                let login = Arc::new(KoreLogin {
                    transport: token_transport,
                    client_id: client_id.clone(),
                    secret: secret.clone(),
                });
                let tokens = Arc::new(match self.token_store {
                    Some((store, key)) => TokenCache::with_store(
                        login,
                        TokenCacheOptions::default(),
                        store,
                        format!("{KORE}:{key}"),
                    ),
                    None => TokenCache::new(login),
                });
                // KORE's API unless a base URL was set: one set to Twilio's stays Twilio's.
                let transport = if transport.base_url_is_set() {
                    transport
                } else {
                    transport.base_url(KORE_BASE_URL)
                };
                let transport = transport
                    .provider(KORE)
                    .request_id_header(REQUEST_ID_HEADER)
                    .auth(Auth::dynamic(tokens.clone()))
                    .build()?;
                Ok(Client {
                    transport,
                    dialect: Dialect::Kore,
                    credential: description,
                    tokens: Some(tokens),
                })
            }
            Credentials::Account {
                sid: user,
                token: secret,
            }
            | Credentials::ApiKey { sid: user, secret } => {
                let (prefix, what) = match &credentials {
                    Credentials::Account { .. } => ("AC", "Account SID"),
                    _ => ("SK", "API Key SID"),
                };
                // The value is not quoted: a secret pasted into the wrong place must not print.
                if !is_sid(user, prefix) {
                    return Err(Error::Config(format!(
                        "the {what} must be {prefix} followed by 32 hex digits (found {} characters)",
                        user.chars().count()
                    )));
                }
                if secret.expose_secret().is_empty() {
                    return Err(Error::Config(format!(
                        "the secret for {what} {user} is empty"
                    )));
                }
                let transport = transport
                    .provider(TWILIO)
                    .request_id_header(REQUEST_ID_HEADER)
                    .auth(Auth::basic(user, secret)?)
                    .build()?;
                Ok(Client {
                    transport,
                    dialect: Dialect::Twilio,
                    credential: description,
                    tokens: None,
                })
            }
        }
    }
}

const USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// KORE's OAuth2 client-credentials login: the [`TokenSource`] of a KORE client's token cache.
struct KoreLogin {
    transport: Transport,
    client_id: String,
    secret: SecretString,
}

impl fmt::Debug for KoreLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KoreLogin")
            .field("client_id", &self.client_id)
            .field("token_url", &self.transport.base_url().as_str())
            .finish_non_exhaustive()
    }
}

/// KORE's token answer. No `Debug`: it holds the token.
#[derive(Deserialize)]
struct TokenAnswer {
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<f64>,
    #[serde(default)]
    token_type: Option<String>,
}

#[simcore::async_trait]
impl TokenSource for KoreLogin {
    async fn fetch(&self) -> Result<Token> {
        let request = self
            .transport
            .request(Method::POST, &[])?
            .operation("kore_token", "/v1/auth/token", None)
            .form([
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.secret.expose_secret()),
            ]);
        let response = match self.transport.send(&request).await {
            Ok(r) => r,
            Err(Error::Api(mut api)) if api.status == 401 => {
                api.message = format!(
                    "KORE refused the credentials of API client {} ({}): {}; check the client id \
                     and secret ({ENV_KORE_CLIENT_ID}, {ENV_KORE_CLIENT_SECRET})",
                    self.client_id,
                    api.token.as_deref().unwrap_or("unauthorized"),
                    api.message
                );
                return Err(Error::Api(api));
            }
            Err(e) => return Err(e),
        };
        let status = response.status();
        let answer: TokenAnswer = serde_json::from_slice(response.body()).map_err(|e| {
            Error::decode_withheld(
                KORE,
                status,
                format!("the token answer is not the documented object: {e}"),
            )
        })?;
        let token = answer
            .access_token
            .filter(|t| !t.trim().is_empty())
            .ok_or_else(|| {
                Error::decode_withheld(KORE, status, "the token answer has no access_token")
            })?;
        if let Some(kind) = &answer.token_type {
            if !kind.eq_ignore_ascii_case("bearer") {
                return Err(Error::decode_withheld(
                    KORE,
                    status,
                    format!("the token answer's token_type is {kind:?}, not Bearer"),
                ));
            }
        }
        let lifetime = answer
            .expires_in
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| Duration::from_secs_f64(s.min(1e10)))
            .unwrap_or(KORE_DEFAULT_TOKEN_LIFETIME);
        let header = AuthHeader::new(AUTHORIZATION, &format!("Bearer {token}"))?;
        Ok(Token::valid_for(header, lifetime))
    }

    fn provider(&self) -> &'static str {
        KORE
    }

    fn redact(&self, into: &mut Redactor) {
        into.add(&self.secret);
    }
}

impl Client {
    /// Starts building a client. The base URL follows the credentials: [`KORE_BASE_URL`] with
    /// [`ClientBuilder::kore`], [`DEFAULT_BASE_URL`] (Twilio) otherwise, unless one is set.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            transport: Transport::builder(TWILIO, DEFAULT_BASE_URL),
            credentials: None,
            credential_kinds: Vec::new(),
            kore_token_url: KORE_TOKEN_URL.to_owned(),
            kore_token_url_set: false,
            env_note: None,
            token_store: None,
        }
    }

    /// Which API this client speaks to: KORE's or Twilio's. Errors carry its name
    /// ([`Dialect::as_str`]); snapshots carry the provider's, `"supersim"`, whatever the dialect.
    pub fn dialect(&self) -> Dialect {
        self.dialect
    }

    /// Which credential the client uses, without its secret: `"kore api client …"`,
    /// `"twilio account AC…"` or `"twilio api key SK…"`, with a note when
    /// [`ClientBuilder::credentials_from_env`] found more than one kind.
    pub fn credential(&self) -> &str {
        &self.credential
    }

    /// The error under this client's provider name (a lifecycle refusal names `twilio` by
    /// default; a KORE client's says `kore`).
    pub(crate) fn own(&self, error: Error) -> Error {
        match error {
            Error::Transition(mut t) => {
                t.provider = self.dialect.as_str().into();
                Error::Transition(t)
            }
            other => other,
        }
    }

    /// How many times a KORE client has fetched an access token (0 for Twilio clients).
    pub fn token_fetches(&self) -> u64 {
        self.tokens.as_ref().map_or(0, |t| t.fetches())
    }

    /// A client with the credentials from the environment (KORE's first, then Twilio's: see
    /// [`ClientBuilder::credentials_from_env`]), sending to `SUPERSIM_BASE_URL` when it is set
    /// (else KORE's or Twilio's API, by the credentials) and, with KORE's credentials, fetching
    /// tokens from `KORE_TOKEN_URL` when it is set. [`base_url`](Self::base_url) says where it
    /// connects, [`credential`](Self::credential) which credentials it found.
    ///
    /// A credential a sandbox issued (`simctl sandbox` exports them) is refused unless the base
    /// URL (and, for KORE, the token URL) is loopback: a shell set up for a sandbox never sends
    /// its throwaway credentials to KORE or Twilio.
    pub fn from_env() -> Result<Client> {
        Client::from_lookup(simcore::env::process)
    }

    /// [`from_env`](Self::from_env) over any lookup of variables (a configuration map, a test).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Client> {
        let mut builder = Client::builder().credentials_from(&lookup)?;
        if let Some(url) = simcore::env::optional(&lookup, ENV_BASE_URL) {
            builder = builder.base_url(url);
        }
        if matches!(builder.credentials, Some(Credentials::Kore { .. })) {
            if let Some(url) = simcore::env::optional(&lookup, ENV_KORE_TOKEN_URL) {
                builder = builder.kore_token_url(url);
            }
        }
        builder.build()
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &Url {
        self.transport.base_url()
    }

    /// Starts an update of a SIM, named by its SID (`HS…`) or its unique name; see
    /// [`UpdateSimBuilder`].
    pub fn update_sim(&self, sim: impl Into<String>) -> UpdateSimBuilder {
        UpdateSimBuilder::new(self.clone(), sim.into())
    }

    /// Sends an update request as it is. [`UpdateSimBuilder::send`] is the usual way in (it
    /// also checks the request against the SIM's known or fetched status, and sends nothing when
    /// there is nothing to change); this is the step under it, and it always sends.
    ///
    /// The answer is [`Updated::Pending`] when the API answers `202 Accepted` or returns the SIM
    /// in status `scheduled` (it calls the request's callback URL, if it has one, when it has
    /// finished), and [`Updated::Done`] otherwise; either way with the SIM as returned. A success
    /// status other than `200` and `202` is not the API's answer: an [`Error::Decode`].
    ///
    /// ```no_run
    /// # async fn run(client: supersim_client::Client) -> simcore::Result<()> {
    /// use supersim_client::SettableStatus;
    /// let request = client
    ///     .update_sim("HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
    ///     .status(SettableStatus::Active)
    ///     .into_request()?;
    /// let updated = client.send(&request).await?;
    /// println!("pending: {}", updated.is_pending());
    /// # Ok(()) }
    /// ```
    ///
    /// The request's [`options`](UpdateSimRequest::options) (those of the builder it came from)
    /// are this call's. The request is checked first ([`UpdateSimRequest::validate`]: a SIM or
    /// a fleet built unchecked is refused naming the field), with nothing sent.
    pub async fn send(&self, request: &UpdateSimRequest) -> Result<Updated<Sim>> {
        request.options.check()?;
        self.send_with(request, request.options.started()).await
    }

    /// [`send`](Self::send) with this call's options.
    pub(crate) async fn send_with(
        &self,
        request: &UpdateSimRequest,
        options: CallOptions,
    ) -> Result<Updated<Sim>> {
        request.validate()?;
        let req = self
            .transport
            .request(Method::POST, &["v1", "Sims", request.sim.as_str()])?
            .operation("update_sim", "/v1/Sims/{Sid}", Some(request.sim.as_str()))
            .options(options)
            .form(request.form_pairs());
        let response = self.transport.send(&req).await?;
        // Twilio answers an update 200 (applied) or 202 (scheduled): any other success status is
        // not its answer, and says nothing of whether the update was applied.
        if !matches!(response.status(), 200 | 202) {
            return Err(response.decode_error(format!(
                "not Twilio's answer to an update: HTTP {} (Twilio answers 200 or 202)",
                response.status()
            )));
        }
        let sim: Sim = response.resource()?;
        if response.status() == 202 || sim.is_scheduled() {
            Ok(Updated::Pending(Some(sim)))
        } else {
            Ok(Updated::Done(Some(sim)))
        }
    }

    /// Fetches a SIM, named by its SID (`HS…`) or its unique name.
    pub async fn get_sim(&self, sim: impl AsRef<str>) -> Result<Sim> {
        self.get_sim_with(sim.as_ref(), CallOptions::new()).await
    }

    /// Fetches a SIM: the former name of [`get_sim`](Self::get_sim).
    #[deprecated(note = "renamed get_sim")]
    pub async fn fetch_sim(&self, sim: impl AsRef<str>) -> Result<Sim> {
        self.get_sim(sim).await
    }

    /// [`get_sim`](Self::get_sim) with this call's options.
    pub(crate) async fn get_sim_with(&self, sim: &str, options: CallOptions) -> Result<Sim> {
        let sim = SimRef::parse(sim)?;
        let req = self
            .transport
            .request(Method::GET, &["v1", "Sims", sim.as_str()])?
            .operation("get_sim", "/v1/Sims/{Sid}", Some(sim.as_str()))
            .options(options);
        self.transport.send(&req).await?.resource()
    }

    /// Waits until a scheduled change of the SIM has landed: polls [`get_sim`](Self::get_sim)
    /// with a capped, jittered backoff until the SIM is no longer `scheduled`, and returns it as
    /// it is then. After `options.deadline` the answer is [`Error::NotSettled`] with the last
    /// status seen. (Callbacks are the other way to learn it: see [`crate::callbacks`].)
    ///
    /// ```no_run
    /// # async fn run(client: supersim_client::Client) -> simcore::Result<()> {
    /// use simcore::wait::WaitOptions;
    /// let sim = client.wait_until_settled("HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", &WaitOptions::default()).await?;
    /// println!("now {:?}", sim.status);
    /// # Ok(()) }
    /// ```
    pub async fn wait_until_settled(
        &self,
        sim: impl AsRef<str>,
        options: &simcore::wait::WaitOptions,
    ) -> Result<Sim> {
        let sim = sim.as_ref();
        simcore::wait::poll(
            self.dialect.as_str(),
            options,
            || self.get_sim(sim),
            |s: &Sim| !s.is_scheduled(),
            |s: &Sim| {
                s.status
                    .as_ref()
                    .map_or("no status".to_owned(), |st| st.to_string())
            },
        )
        .await
    }

    /// Starts a list of SIMs (`GET /v1/Sims`), with optional filters.
    pub fn list_sims(&self) -> ListSims {
        ListSims::new(self.clone())
    }

    /// The first page of the list, with the filters' query pairs.
    pub(crate) async fn first_page(
        &self,
        query: &[(&'static str, String)],
        snapshot_only: bool,
        options: CallOptions,
    ) -> Result<SimsPage> {
        let mut req = self
            .transport
            .request(Method::GET, &["v1", "Sims"])?
            .operation("list_sims", "/v1/Sims", None)
            .body_limit(self.list_body_limit())
            .options(options);
        // Only with pairs: an empty query would still leave a bare `?` on the URL.
        if !query.is_empty() {
            req = req.query(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        self.read_page(&req, snapshot_only).await
    }

    /// The page at a next-page URL the API handed out. It is followed only if it has the base
    /// URL's scheme, host and port, so credentials never go to another host: otherwise the
    /// answer is an [`Error::Invalid`] for `meta.next_page_url`, and nothing is sent.
    pub(crate) async fn page_at(
        &self,
        next: &str,
        snapshot_only: bool,
        options: CallOptions,
    ) -> Result<SimsPage> {
        let url = self.next_page_target(next)?;
        let req = Request::new(Method::GET, url)
            .operation("list_sims", "/v1/Sims", None)
            .body_limit(self.list_body_limit())
            .options(options);
        self.read_page(&req, snapshot_only).await
    }

    /// Sends a list request and reads the page: whole, or only what snapshots hold.
    async fn read_page(&self, req: &Request, snapshot_only: bool) -> Result<SimsPage> {
        let response = self.transport.send(req).await?;
        if !snapshot_only {
            return response.resource();
        }
        let page: SimsPage = response.json::<SnapshotPage>()?.into();
        match simcore::http::Resource::missing(&page) {
            None => Ok(page),
            Some(what) => {
                Err(response
                    .decode_error(format!("not a {} answer: it has no {what}", self.dialect)))
            }
        }
    }

    /// The body cap of a list page (see [`LIST_PAGE_BODY_LIMIT`]).
    fn list_body_limit(&self) -> usize {
        self.transport.body_limit().max(LIST_PAGE_BODY_LIMIT)
    }

    /// Resolves a next-page URL against the base URL and refuses one on another origin.
    fn next_page_target(&self, next: &str) -> Result<Url> {
        let base = self.transport.base_url();
        let refuse = |rule: &'static str| {
            Error::Invalid(ValidationError::new(
                "meta.next_page_url",
                rule,
                quote(next),
            ))
        };
        let url = base.join(next).map_err(|_| refuse("must be a valid URL"))?;
        let same_origin = url.scheme() == base.scheme()
            && url.host() == base.host()
            && url.port_or_known_default() == base.port_or_known_default();
        if !same_origin {
            return Err(refuse(
                "must have the same scheme, host and port as the base URL (not followed)",
            ));
        }
        if !url.username().is_empty() || url.password().is_some() || url.fragment().is_some() {
            return Err(refuse("must not carry credentials or a fragment"));
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    const AC: &str = "ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
    const SK: &str = "SKaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    fn config_message(r: Result<ClientBuilder>) -> String {
        match r {
            Err(Error::Config(m)) => m,
            Err(other) => panic!("{other:?}"),
            Ok(b) => panic!("unexpectedly ok: {b:?}"),
        }
    }

    #[test]
    fn env_account_and_api_key() {
        let b = Client::builder()
            .credentials_from(env(&[
                (ENV_ACCOUNT_SID, AC),
                (ENV_AUTH_TOKEN, "SENTINEL-tok"),
            ]))
            .unwrap();
        let c = b.build().unwrap();
        assert_eq!(c.credential, format!("twilio account {AC}"));
        let b = Client::builder()
            .credentials_from(env(&[
                (ENV_ACCOUNT_SID, AC),
                (ENV_AUTH_TOKEN, "t"),
                (ENV_API_KEY, SK),
                (ENV_API_SECRET, "SENTINEL-secret"),
            ]))
            .unwrap();
        let c = b.build().unwrap();
        assert_eq!(c.credential, format!("twilio api key {SK}"));
        assert!(!format!("{c:?}").contains("SENTINEL"));
    }

    #[test]
    fn env_kore_first_and_said_so() {
        let c = Client::builder()
            .credentials_from(env(&[
                (ENV_KORE_CLIENT_ID, "client-1"),
                (ENV_KORE_CLIENT_SECRET, "SENTINEL-kore"),
            ]))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(c.credential(), "kore api client client-1");
        assert_eq!(c.dialect(), Dialect::Kore);
        assert_eq!(
            c.base_url().as_str(),
            "https://supersim.api.korewireless.com/"
        );
        let c = Client::builder()
            .credentials_from(env(&[
                (ENV_KORE_CLIENT_ID, "client-1"),
                (ENV_KORE_CLIENT_SECRET, "SENTINEL-kore"),
                (ENV_ACCOUNT_SID, AC),
                (ENV_AUTH_TOKEN, "SENTINEL-tok"),
            ]))
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(
            c.credential(),
            "kore api client client-1 (from KORE_CLIENT_ID; TWILIO_ACCOUNT_SID, TWILIO_AUTH_TOKEN also set and not used)"
        );
        assert!(!format!("{c:?}").contains("SENTINEL"));
        let m = config_message(
            Client::builder().credentials_from(env(&[(ENV_KORE_CLIENT_ID, "client-1")])),
        );
        assert_eq!(
            m,
            "environment variable KORE_CLIENT_SECRET is not set (needed with KORE_CLIENT_ID)"
        );
        // A base URL set by hand wins over KORE's.
        let c = Client::builder()
            .kore("client-1", "s")
            .base_url("http://127.0.0.1:9")
            .build()
            .unwrap();
        assert_eq!(c.base_url().as_str(), "http://127.0.0.1:9/");
        assert!(matches!(
            Client::builder().kore("", "s").build(),
            Err(Error::Config(_))
        ));
        assert!(matches!(
            Client::builder().kore("c", "").build(),
            Err(Error::Config(_))
        ));
    }

    #[test]
    fn env_missing_variables_are_named() {
        let m = config_message(Client::builder().credentials_from(env(&[])));
        assert_eq!(
            m,
            "environment variable TWILIO_ACCOUNT_SID is not set (or set TWILIO_API_KEY and TWILIO_API_SECRET, or KORE_CLIENT_ID and KORE_CLIENT_SECRET)"
        );
        let m = config_message(Client::builder().credentials_from(env(&[(ENV_ACCOUNT_SID, AC)])));
        assert!(
            m.starts_with("environment variable TWILIO_AUTH_TOKEN is not set"),
            "{m}"
        );
        let m = config_message(
            Client::builder().credentials_from(env(&[(ENV_ACCOUNT_SID, AC), (ENV_AUTH_TOKEN, "")])),
        );
        assert!(
            m.starts_with("environment variable TWILIO_AUTH_TOKEN is empty"),
            "{m}"
        );
        let m = config_message(Client::builder().credentials_from(env(&[(ENV_API_KEY, SK)])));
        assert_eq!(
            m,
            "environment variable TWILIO_API_SECRET is not set (needed with TWILIO_API_KEY)"
        );
    }

    #[test]
    fn build_checks_credentials_without_printing_them() {
        let e = Client::builder().build().unwrap_err();
        assert!(matches!(e, Error::Config(_)));
        // A token pasted where the SID goes is not echoed.
        let e = Client::builder()
            .account("SENTINEL-pasted-token", "x")
            .build()
            .unwrap_err();
        assert!(!e.to_string().contains("SENTINEL"), "{e}");
        assert!(e.to_string().contains("Account SID must be AC"), "{e}");
        let e = Client::builder().api_key(AC, "x").build().unwrap_err();
        assert!(e.to_string().contains("API Key SID must be SK"), "{e}");
        let e = Client::builder().account(AC, "").build().unwrap_err();
        assert!(matches!(e, Error::Config(_)));
        let e = Client::builder()
            .account(AC, "t")
            .base_url("http://example.com")
            .build()
            .unwrap_err();
        assert!(matches!(e, Error::Config(_)));
    }

    #[test]
    fn next_page_urls_stay_on_the_base_origin() {
        let c = Client::builder()
            .account(AC, "t")
            .base_url("http://127.0.0.1:4010")
            .build()
            .unwrap();
        let ok = c
            .next_page_target("http://127.0.0.1:4010/v1/Sims?PageSize=50&Page=1&PageToken=PAx")
            .unwrap();
        assert_eq!(ok.query(), Some("PageSize=50&Page=1&PageToken=PAx"));
        let rel = c.next_page_target("/v1/Sims?Page=2").unwrap();
        assert_eq!(rel.as_str(), "http://127.0.0.1:4010/v1/Sims?Page=2");
        for bad in [
            "https://127.0.0.1:4010/v1/Sims?Page=1",
            "http://127.0.0.1:4011/v1/Sims?Page=1",
            "http://localhost:4010/v1/Sims?Page=1",
            "https://supersim.twilio.com/v1/Sims?Page=1",
            "http://evil.example@127.0.0.1:4010/v1/Sims",
            "//evil.example/v1/Sims",
        ] {
            match c.next_page_target(bad).unwrap_err() {
                Error::Invalid(e) => assert_eq!(e.field(), "meta.next_page_url", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let d = Client::builder().account(AC, "t").build().unwrap();
        assert!(
            d.next_page_target("https://supersim.twilio.com:443/v1/Sims?Page=1")
                .is_ok()
        );
    }
}
