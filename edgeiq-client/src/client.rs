//! The EdgeIQ client and its builder: the API token, an optional session login, transport
//! settings.

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value};
use simcore::http::{
    Auth, AuthHeader, Method, Redactor, Token, TokenCache, TokenCacheOptions, TokenSource,
    TokenStore, Transport, TransportBuilder, header::AUTHORIZATION,
};
use simcore::secrecy::{ExposeSecret, SecretString};
use simcore::validate::quote;
use simcore::{CallOptions, Error, Result, Updated, ValidationError};

use crate::PROVIDER;
use crate::errors;
use crate::models::{SimId, SimRecord, read_list_body};
use crate::requests::{ListSims, UpdateSimBuilder, UpdateSimRequest};

/// EdgeIQ's platform API.
pub const DEFAULT_BASE_URL: &str = "https://api.edgeiq.io/api/v1/platform";

/// The environment variable [`Client::from_env`] reads the API token from.
pub const ENV_API_TOKEN: &str = "EDGEIQ_API_TOKEN";

/// The environment variable [`Client::from_env`] reads the base URL from (unset:
/// [`DEFAULT_BASE_URL`]); `simctl sandbox` exports it beside the sandbox's credentials.
pub const ENV_BASE_URL: &str = "EDGEIQ_BASE_URL";

/// The room a listed record may take in a page's answer (its metadata may hold 50 keys), unless
/// the client's own cap is larger.
const LIST_BYTES_PER_SIM: usize = 16 * 1024;

/// The longest session EdgeIQ grants: one week.
pub const MAX_SESSION: Duration = Duration::from_secs(7 * 24 * 60 * 60);
/// How long a session lasts when the login asks for no expiry (EdgeIQ's default: 4 hours).
pub const DEFAULT_SESSION: Duration = Duration::from_secs(4 * 60 * 60);

pub mod login_keys {
    //! The JSON keys of the session login, in one place.
    //!
    //! EdgeIQ's authentication guide names `email`, `password` and `token_expiry` (an RFC 3339 UTC
    //! time at most a week ahead; absent, the session lasts 4 hours) for the request, and
    //! `session_token` and `session_expires_at` in the answer (the user's record). The answer's token
    //! key is **unconfirmed** against a live answer: the keys of [`SESSION_TOKEN`] are tried in order.

    /// The user's email (or user name).
    pub const EMAIL: &str = "email";
    /// The user's password.
    pub const PASSWORD: &str = "password";
    /// When the session token should expire (RFC 3339, UTC).
    pub const TOKEN_EXPIRY: &str = "token_expiry";
    /// The keys that may carry the session token in the answer, tried in order (**unconfirmed**).
    /// The user's permanent `api_token`, which the same answer may carry, is deliberately not
    /// among them.
    pub const SESSION_TOKEN: &[&str] = &["session_token", "token"];
    /// When the session token expires.
    pub const SESSION_EXPIRES_AT: &str = "session_expires_at";
}

/// A client for EdgeIQ SIM records. Cheap to clone (one connection pool behind an `Arc`).
///
/// Every request carries `Authorization: <token>` (the raw token, no scheme): a permanent API
/// token ([`ClientBuilder::api_token`], [`Client::from_env`]) or a session token
/// ([`ClientBuilder::login`]).
#[derive(Clone)]
pub struct Client {
    transport: Transport,
    session: Option<Arc<SessionLogin>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("transport", &self.transport)
            .field("session", &self.session)
            .finish()
    }
}

impl Client {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder::new()
    }

    /// A client with the token from `EDGEIQ_API_TOKEN`, sending to `EDGEIQ_BASE_URL` when it is
    /// set (else [`DEFAULT_BASE_URL`]). [`base_url`](Self::base_url) says where it connects.
    ///
    /// A missing or empty token is an [`Error::Config`] naming the variable. A credential a
    /// sandbox issued (`simctl sandbox` exports them) is refused unless the base URL is loopback:
    /// a shell set up for a sandbox never sends its throwaway credentials to EdgeIQ.
    pub fn from_env() -> Result<Client> {
        Self::from_lookup(simcore::env::process)
    }

    /// [`from_env`](Self::from_env) over any lookup of variables (a configuration map, a test).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Client> {
        ClientBuilder::new().token_from(lookup)?.build()
    }

    /// Logs in to the default base URL with an email and password and returns a client using
    /// the session token (see [`ClientBuilder::login`]).
    pub async fn login(
        email: impl Into<String>,
        password: impl Into<SecretString>,
        expiry: Option<Duration>,
    ) -> Result<Client> {
        ClientBuilder::new().login(email, password, expiry).await
    }

    /// Starts an update of the SIM record `id` (24 hex digits, checked before sending); see
    /// [`UpdateSimBuilder`].
    pub fn update_sim(&self, id: impl Into<String>) -> UpdateSimBuilder {
        UpdateSimBuilder::new(self.clone(), id.into())
    }

    /// Sends an update as it is: validates it ([`UpdateSimRequest::validate`]), then
    /// `PUT /sims/{id}` with its merge patch, and returns the record as the platform stored it
    /// ([`Updated::Done`]). Unlike [`UpdateSimBuilder::send`], it always sends: build the
    /// request with [`UpdateSimBuilder::into_request`], or as data.
    ///
    /// ```no_run
    /// # async fn run(client: edgeiq_client::Client) -> simcore::Result<()> {
    /// let request = client.update_sim("65f1c0ffee0123456789abcd").status("active").into_request()?;
    /// let updated = client.send(&request).await?;
    /// assert!(updated.was_sent());
    /// # Ok(()) }
    /// ```
    ///
    /// The request's [`options`](UpdateSimRequest::options) (those of the builder it came from)
    /// are this call's.
    pub async fn send(&self, request: &UpdateSimRequest) -> Result<Updated<SimRecord>> {
        request.options.check()?;
        self.send_with(request, request.options.started()).await
    }

    /// [`send`](Self::send) with this call's options.
    pub(crate) async fn send_with(
        &self,
        request: &UpdateSimRequest,
        options: CallOptions,
    ) -> Result<Updated<SimRecord>> {
        request.validate()?;
        let id = request.id.as_str();
        let http = self
            .transport
            .request(Method::PUT, &["sims", id])?
            .operation("update_sim", "/sims/{id}", Some(id))
            .options(options)
            .json(&request.to_json())?;
        let response = self.transport.send(&http).await?;
        response.resource().map(|r| Updated::Done(Some(r)))
    }

    /// Fetches a SIM record: `GET /sims/{id}`.
    pub async fn get_sim(&self, id: impl AsRef<str>) -> Result<SimRecord> {
        self.get_sim_with(id.as_ref(), CallOptions::new()).await
    }

    /// [`get_sim`](Self::get_sim) with this call's options.
    pub(crate) async fn get_sim_with(&self, id: &str, options: CallOptions) -> Result<SimRecord> {
        let id = SimId::parse(id)?;
        let request = self
            .transport
            .request(Method::GET, &["sims", id.as_str()])?
            .operation("get_sim", "/sims/{id}", Some(id.as_str()))
            .options(options);
        let response = self.transport.send(&request).await?;
        response.resource()
    }

    /// Starts a list of SIM records (`GET /sims`); see [`ListSims`].
    ///
    /// ```no_run
    /// # async fn run(client: edgeiq_client::Client) -> simcore::Result<()> {
    /// for record in client.list_sims().collect_all().await? {
    ///     println!("{:?}: {:?}", record.id, record.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_sims(&self) -> ListSims {
        ListSims::new(self.clone())
    }

    /// Fetches one page of the list: its records, and the total when the answer gave one.
    /// [`ListSims`] is the way in.
    pub(crate) async fn sim_page(
        &self,
        query: &[(&'static str, String)],
        per_page: u32,
        snapshot_only: bool,
        options: CallOptions,
    ) -> Result<(Vec<SimRecord>, Option<u64>)> {
        let cap = (per_page as usize).saturating_mul(LIST_BYTES_PER_SIM);
        let request = self
            .transport
            .request(Method::GET, &["sims"])?
            .operation("list_sims", "/sims", None)
            .query(query.iter().map(|(k, v)| (*k, v.as_str())))
            .body_limit(self.transport.body_limit().max(cap))
            .options(options);
        let response = self.transport.send(&request).await?;
        let (sims, total) =
            read_list_body(response.body(), snapshot_only).map_err(|e| response.decode_error(e))?;
        if let Some(what) = sims.iter().find_map(simcore::http::Resource::missing) {
            return Err(
                response.decode_error(format!("not an EdgeIQ answer: a listed SIM has no {what}"))
            );
        }
        Ok((sims, total))
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &str {
        self.transport.base_url().as_str()
    }

    /// When the current session token expires, as EdgeIQ's last login answer said, for a client
    /// made by a login. The client logs in again by itself before then (and once when EdgeIQ
    /// answers 401).
    pub fn session_expires_at(&self) -> Option<DateTime<Utc>> {
        self.session.as_ref().and_then(|s| s.reported())
    }
}

/// Builds a [`Client`]: a token (or a login), and the transport settings.
pub struct ClientBuilder {
    transport: TransportBuilder,
    api_token: Option<SecretString>,
    token_store: Option<(Arc<dyn TokenStore>, String)>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("transport", &self.transport)
            .field("api_token", &self.api_token.as_ref().map(|_| "[redacted]"))
            .field("token_store", &self.token_store.as_ref().map(|(s, _)| s))
            .finish()
    }
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self::new()
    }
}

impl ClientBuilder {
    simcore::transport_builder_methods!();

    /// A builder for the default base URL, with no token yet.
    pub fn new() -> Self {
        Self {
            transport: Transport::builder(PROVIDER, DEFAULT_BASE_URL).user_agent(concat!(
                env!("CARGO_PKG_NAME"),
                "/",
                env!("CARGO_PKG_VERSION")
            )),
            api_token: None,
            token_store: None,
        }
    }

    /// The API token (a permanent token, or a session token obtained elsewhere), sent as
    /// `Authorization: <token>`. Refused beside [`token_store`](Self::token_store) (a permanent
    /// token has no session to share) and by [`login`](Self::login) (which brings its own).
    pub fn api_token(mut self, token: impl Into<SecretString>) -> Self {
        self.api_token = Some(token.into());
        self
    }

    /// Shares the session of [`login`](Self::login) through `store` under `key` with every
    /// client and process that uses the same store and key (on Redis:
    /// `simcore_redis::RedisTokenStore`): one login for the fleet while the session lasts, a
    /// refused login remembered by all of them for five minutes (see
    /// `simcore::http::TokenCache`). `key` names the account (say the email): clients with
    /// other credentials need another key. A permanent API token needs no store.
    ///
    /// With the `simcore-redis` crate, a fleet shares the session and a budget on Redis:
    ///
    /// ```no_run
    /// # async fn run() -> simcore::Result<()> {
    /// use std::sync::Arc;
    /// use simcore_redis::{Redis, RedisRateBudget, RedisTokenStore, TokenKey};
    ///
    /// let redis = Redis::new("redis://10.0.0.5:6379/", "fleet-a:")?;
    /// let key = TokenKey::from_base64(&std::env::var("TOKEN_KEY").unwrap_or_default())?;
    /// let client = edgeiq_client::Client::builder()
    ///     .token_store(
    ///         Arc::new(RedisTokenStore::new(&redis).encryption_key(key)),
    ///         "ops@example.com",
    ///     )
    ///     // A pace you choose for the whole fleet (EdgeIQ documents no figure).
    ///     .rate_budget(Arc::new(RedisRateBudget::new(&redis, "edgeiq-account", 20.0, 10)))
    ///     .login("ops@example.com", std::env::var("EDGEIQ_PASSWORD").unwrap_or_default(), None)
    ///     .await?;
    /// # let _ = client; Ok(()) }
    /// ```
    pub fn token_store(mut self, store: Arc<dyn TokenStore>, key: impl Into<String>) -> Self {
        self.token_store = Some((store, key.into()));
        self
    }

    /// Takes the token from `EDGEIQ_API_TOKEN` and the base URL from `EDGEIQ_BASE_URL` (when
    /// set) as `lookup` finds them.
    fn token_from(mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        if let Some(url) = simcore::env::optional(&lookup, ENV_BASE_URL) {
            self = self.base_url(url);
        }
        Ok(self.api_token(simcore::env::require(&lookup, ENV_API_TOKEN, "")?))
    }

    /// Checks the configuration and builds the client. A missing or empty token is an
    /// [`Error::Config`].
    pub fn build(self) -> Result<Client> {
        if self.token_store.is_some() {
            return Err(Error::conflict(
                "token_store",
                "api_token",
                "an API token has no session to share: the store is for login()",
            ));
        }
        let token = self.api_token.ok_or_else(|| {
            Error::Config(format!(
                "no EdgeIQ API token: set one with ClientBuilder::api_token or {ENV_API_TOKEN}, or log in"
            ))
        })?;
        if token.expose_secret().is_empty() {
            return Err(Error::Config("the EdgeIQ API token is empty".to_owned()));
        }
        let transport = self
            .transport
            .auth(Auth::raw_authorization(&token)?)
            .build()?;
        Ok(Client {
            transport,
            session: None,
        })
    }

    /// Logs in with `POST /user/authenticate` and returns a client that sends the session token.
    ///
    /// `expiry` is how long each session should last: at most one week ([`MAX_SESSION`]);
    /// `None` leaves EdgeIQ's default ([`DEFAULT_SESSION`], 4 hours). It is sent as the UTC time
    /// it ends. The password travels in the request body (the API takes it there) and is never
    /// printed, nor any answer that quotes it; a token set with [`ClientBuilder::api_token`] is not
    /// used for the login nor kept.
    ///
    /// The session lives in simcore's shared token cache: the client logs in again by itself
    /// before the session ends (as `session_expires_at` says; a time already past, from a clock
    /// apart from ours, is not trusted: the session is then kept for the length asked for), once
    /// when EdgeIQ answers 401, and never twice at once. This first login happens here, so
    /// wrong credentials show at once.
    ///
    /// A refused login is an [`Error::Api`] with status 401 (not retried, and not sent again for
    /// five minutes). Rate limits, gateway errors and timeouts are retried per the builder's
    /// policy: a repeated login at most opens a second session, which expires on its own. An
    /// answer without a session token is an [`Error::Decode`] whose snippet is withheld: the
    /// answer is the user's record and may carry credentials.
    pub async fn login(
        self,
        email: impl Into<String>,
        password: impl Into<SecretString>,
        expiry: Option<Duration>,
    ) -> Result<Client> {
        if self.api_token.is_some() {
            return Err(Error::conflict(
                "api_token",
                "login",
                "a client authenticates one way (an API token, or a session from a login)",
            ));
        }
        let email = email.into();
        let password = password.into();
        // Checked now, so a bad value is refused before anything is sent.
        login_body(&email, &password, expiry, Utc::now())?;
        let login = self
            .transport
            .clone()
            .auth(Auth::None)
            .redact(&password)
            .build()?;
        let session = Arc::new(SessionLogin {
            transport: login,
            email,
            password,
            expiry,
            reported: Mutex::new(None),
        });
        let tokens = Arc::new(match self.token_store {
            Some((store, key)) => TokenCache::with_store(
                session.clone(),
                TokenCacheOptions::default(),
                store,
                format!("{PROVIDER}:{key}"),
            ),
            None => TokenCache::new(session.clone()),
        });
        let transport = self.transport.auth(Auth::dynamic(tokens.clone())).build()?;
        tokens.token().await?;
        Ok(Client {
            transport,
            session: Some(session),
        })
    }
}

/// EdgeIQ's session login: the [`TokenSource`] of a logged-in client's token cache.
struct SessionLogin {
    transport: Transport,
    email: String,
    password: SecretString,
    expiry: Option<Duration>,
    /// `session_expires_at` of the last login answer.
    reported: Mutex<Option<DateTime<Utc>>>,
}

impl SessionLogin {
    fn reported(&self) -> Option<DateTime<Utc>> {
        *self.reported.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl fmt::Debug for SessionLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLogin")
            .field("email", &self.email)
            .field("expiry", &self.expiry)
            .field("session_expires_at", &self.reported())
            .finish_non_exhaustive()
    }
}

#[simcore::async_trait]
impl TokenSource for SessionLogin {
    async fn fetch(&self) -> Result<Token> {
        let now = Utc::now();
        let body = login_body(&self.email, &self.password, self.expiry, now)?;
        let request = self
            .transport
            .request(Method::POST, &["user", "authenticate"])?
            .operation("login", "/user/authenticate", None)
            .json(&body)?;
        drop(body);
        let response = self.transport.send(&request).await?;
        let (token, expires_at) = read_session(response.status(), response.body())?;
        *self.reported.lock().unwrap_or_else(|e| e.into_inner()) = expires_at;
        let asked = self.expiry.unwrap_or(DEFAULT_SESSION);
        let lifetime = expires_at
            .and_then(|t| (t - now).to_std().ok())
            .filter(|d| !d.is_zero())
            .unwrap_or(asked);
        let header = AuthHeader::new(AUTHORIZATION, token.expose_secret())?;
        Ok(Token::valid_for(header, lifetime))
    }

    fn is_refusal(&self, error: &Error) -> bool {
        error.status() == Some(401)
    }

    fn provider(&self) -> &'static str {
        PROVIDER
    }

    fn redact(&self, into: &mut Redactor) {
        into.add(&self.password);
    }
}

/// The login body, checked: a non-empty email and password, an expiry within a week.
fn login_body(
    email: &str,
    password: &SecretString,
    expiry: Option<Duration>,
    now: DateTime<Utc>,
) -> Result<Value> {
    if email.is_empty() {
        return Err(
            ValidationError::new(login_keys::EMAIL, "must not be empty", quote(email)).into(),
        );
    }
    if password.expose_secret().is_empty() {
        return Err(ValidationError::new(
            login_keys::PASSWORD,
            "must not be empty",
            "an empty password",
        )
        .into());
    }
    let mut map = Map::new();
    map.insert(login_keys::EMAIL.to_owned(), Value::from(email));
    map.insert(
        login_keys::PASSWORD.to_owned(),
        Value::from(password.expose_secret()),
    );
    if let Some(d) = expiry {
        if d.is_zero() || d > MAX_SESSION {
            return Err(ValidationError::new(
                login_keys::TOKEN_EXPIRY,
                "must be more than zero and at most one week",
                format!("{d:?}"),
            )
            .into());
        }
        let delta = chrono::Duration::from_std(d).map_err(|_| {
            ValidationError::new(
                login_keys::TOKEN_EXPIRY,
                "must be at most one week",
                format!("{d:?}"),
            )
        })?;
        let until = (now + delta).to_rfc3339_opts(SecondsFormat::Millis, true);
        map.insert(login_keys::TOKEN_EXPIRY.to_owned(), Value::from(until));
    }
    Ok(Value::Object(map))
}

/// Reads the session token (and its expiry) from the login answer, never quoting the body.
fn read_session(status: u16, body: &[u8]) -> Result<(SecretString, Option<DateTime<Utc>>)> {
    let map: Map<String, Value> = serde_json::from_slice(body).map_err(|e| {
        errors::withheld_decode(status, format!("login answer is not a JSON object: {e}"))
    })?;
    let token = login_keys::SESSION_TOKEN
        .iter()
        .find_map(|k| {
            map.get(*k)
                .and_then(Value::as_str)
                .filter(|t| !t.is_empty())
        })
        .ok_or_else(|| {
            errors::withheld_decode(
                status,
                format!(
                    "login answer has no session token (looked for {})",
                    login_keys::SESSION_TOKEN.join(", ")
                ),
            )
        })?;
    let expires_at = map
        .get(login_keys::SESSION_EXPIRES_AT)
        .and_then(Value::as_str)
        .and_then(|s| DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.with_timezone(&Utc));
    Ok((SecretString::from(token), expires_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_json::json;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 6, 10, 15, 49, 51).unwrap()
    }

    #[test]
    fn login_body_with_and_without_expiry() {
        let pw = SecretString::from("pw");
        let b = login_body(
            "ops@example.com",
            &pw,
            Some(Duration::from_secs(4 * 3600)),
            now(),
        )
        .unwrap();
        assert_eq!(
            b,
            json!({"email": "ops@example.com", "password": "pw", "token_expiry": "2024-06-10T19:49:51.000Z"})
        );
        let b = login_body("ops@example.com", &pw, None, now()).unwrap();
        assert_eq!(b, json!({"email": "ops@example.com", "password": "pw"}));
        let b = login_body("ops@example.com", &pw, Some(MAX_SESSION), now()).unwrap();
        assert_eq!(b["token_expiry"], "2024-06-17T15:49:51.000Z");
    }

    #[test]
    fn login_body_refusals() {
        for (email, password, expiry, field) in [
            ("", "pw", None, "email"),
            ("a@b", "", None, "password"),
            ("a@b", "pw", Some(Duration::ZERO), "token_expiry"),
            (
                "a@b",
                "pw",
                Some(MAX_SESSION + Duration::from_secs(1)),
                "token_expiry",
            ),
        ] {
            let e = login_body(email, &SecretString::from(password), expiry, now()).unwrap_err();
            match e {
                Error::Invalid(v) => assert_eq!(v.field(), field),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn session_is_read_from_either_key() {
        let (t, exp) = read_session(
            200,
            br#"{"email": "a", "session_token": "s1", "session_expires_at": "2024-06-10T19:49:51.217Z", "api_token": "perm"}"#,
        )
        .unwrap();
        assert_eq!(t.expose_secret(), "s1");
        assert_eq!(
            exp.unwrap().to_rfc3339_opts(SecondsFormat::Millis, true),
            "2024-06-10T19:49:51.217Z"
        );
        let (t, exp) = read_session(200, br#"{"token": "s2"}"#).unwrap();
        assert_eq!((t.expose_secret(), exp), ("s2", None));
    }

    #[test]
    fn a_missing_token_never_quotes_the_body() {
        for body in [
            &br#"{"api_token": "PERMANENT-SECRET"}"#[..],
            b"PERMANENT-SECRET not json",
        ] {
            let e = read_session(200, body).unwrap_err();
            assert!(matches!(e, Error::Decode { status: 200, .. }), "{e:?}");
            assert!(!e.to_string().contains("PERMANENT-SECRET"), "{e}");
            assert!(!format!("{e:?}").contains("PERMANENT-SECRET"), "{e:?}");
        }
    }

    #[test]
    fn token_from_lookup() {
        let b = ClientBuilder::new()
            .token_from(|_| Some("t".into()))
            .unwrap();
        assert!(b.api_token.is_some());
        for (value, says) in [(None, "is not set"), (Some(String::new()), "is empty")] {
            let e = ClientBuilder::new()
                .token_from(|_| value.clone())
                .unwrap_err();
            assert_eq!(
                e.to_string(),
                format!("configuration error: environment variable EDGEIQ_API_TOKEN {says}")
            );
        }
    }
}
