//! The emnify [`Client`] and its [`ClientBuilder`].

use std::fmt;
use std::sync::Arc;

use simcore::budget::LocalBudget;
use simcore::http::{Auth, Method, Transport, TransportBuilder};
use simcore::paging::{Page, PagePosition};
use simcore::retry::RetryPolicy;
use simcore::secrecy::SecretString;
use simcore::validate::ValidationError;
use simcore::{CallOptions, Error, Result, Updated};

use simcore::http::{TokenCache, TokenStore};

use crate::auth::{Credentials, EmnifyLogin};
use crate::errors::from_emnify;
use crate::models::{PageHeaders, Sim, SnapshotSim};
use crate::requests::{ListSims, UpdateSimBuilder, UpdateSimRequest};

/// emnify's API host; paths start with `/api/v1/`.
pub const DEFAULT_BASE_URL: &str = "https://cdn.emnify.net";

/// The environment variable [`Client::from_env`] reads the application token from.
pub const ENV_APPLICATION_TOKEN: &str = "EMNIFY_APPLICATION_TOKEN";

/// The environment variable [`Client::from_env`] reads the base URL from (unset:
/// [`DEFAULT_BASE_URL`]); `simctl sandbox` exports it beside the sandbox's credentials.
pub const ENV_BASE_URL: &str = "EMNIFY_BASE_URL";

const USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// The room a listed SIM may take in a page's answer: a page of 2,500 may be 20 MiB (a SIM with
/// its organisations, endpoint and model is about 1 KiB), unless the client's cap is larger.
const LIST_BYTES_PER_SIM: usize = 8 * 1024;

/// How fast the client sends `GET /api/v1/sim` (the list), on every clone of the client
/// together: a token bucket of `per_second` requests a second, bursts of `burst`.
///
/// emnify limits the list path to 10 requests a second with bursts of 5, per account, and answers
/// what is over with `429` (code 1105). [`ListPace::EMNIFY`], the default, keeps just under it, so
/// that a request the network holds back and then delivers together with the next one does not
/// arrive over the limit; a `429` that comes anyway (another process listing on the same account)
/// is retried with backoff by the client's retry policy.
///
/// ```
/// use emnify_client::{Client, ListPace};
/// let client = Client::builder()
///     .application_token("t")
///     .list_pace(Some(ListPace::new(2.0, 1))) // an account that shares the limit with others
///     .build()?;
/// # Ok::<(), simcore::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ListPace {
    /// Requests a second, on average.
    pub per_second: f64,
    /// Requests that may go at once after a quiet moment.
    pub burst: u32,
}

impl ListPace {
    /// The default: 9.5 requests a second in bursts of 4, just under emnify's 10 in bursts of 5.
    pub const EMNIFY: ListPace = ListPace {
        per_second: 9.5,
        burst: 4,
    };

    /// A pace of `per_second` requests a second, bursts of `burst` (at least 1).
    pub fn new(per_second: f64, burst: u32) -> Self {
        Self { per_second, burst }
    }
}

impl Default for ListPace {
    fn default() -> Self {
        Self::EMNIFY
    }
}

/// The budget a pace gives lists: simcore's GCRA budget, shared by every clone of a client.
/// `None` (no pacing) for a rate that is not a positive number.
fn list_budget(pace: ListPace) -> Option<LocalBudget> {
    (pace.per_second.is_finite() && pace.per_second > 0.0)
        .then(|| LocalBudget::new(pace.per_second.max(1.0 / 3600.0), pace.burst))
}

/// A client for emnify's SIM API. Cheap to clone: clones share the connection pool and the
/// session token.
///
/// ```
/// let client = emnify_client::Client::builder()
///     .application_token("my-application-token")
///     .build()?;
/// assert!(!format!("{client:?}").contains("my-application-token"));
/// # Ok::<(), simcore::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    transport: Transport,
    auth: Arc<TokenCache>,
    /// The pace of list requests (none: unpaced).
    list_pace: Option<Arc<LocalBudget>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.transport.base_url().as_str())
            .field("auth", &self.auth)
            .field("retry", self.transport.retry_policy())
            .field("list_pace", &self.list_pace)
            .finish()
    }
}

impl Client {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            transport: Transport::builder(crate::PROVIDER, DEFAULT_BASE_URL).user_agent(USER_AGENT),
            credentials: None,
            credential_kinds: Vec::new(),
            token_store: None,
            list_pace: Some(ListPace::EMNIFY),
        }
    }

    /// A client with the application token from `EMNIFY_APPLICATION_TOKEN`, sending to
    /// `EMNIFY_BASE_URL` when it is set (else [`DEFAULT_BASE_URL`]), with every other setting
    /// at its default. [`base_url`](Self::base_url) says where it connects.
    ///
    /// A missing or empty token is an [`Error::Config`] naming the variable. A credential a
    /// sandbox issued (`simctl sandbox` exports them) is refused unless the base URL is loopback:
    /// a shell set up for a sandbox never sends its throwaway credentials to emnify.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(simcore::env::process)
    }

    /// [`from_env`](Self::from_env) over any lookup of variables (a configuration map, a test).
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let token = simcore::env::require(
            &lookup,
            ENV_APPLICATION_TOKEN,
            " (an emnify application token)",
        )?;
        let mut builder = Self::builder().application_token(token);
        if let Some(url) = simcore::env::optional(&lookup, ENV_BASE_URL) {
            builder = builder.base_url(url);
        }
        builder.build()
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &url::Url {
        self.transport.base_url()
    }

    /// Fetches a SIM: `GET /api/v1/sim/{sim_id}`.
    pub async fn get_sim(&self, sim_id: u64) -> Result<Sim> {
        self.get_sim_with(sim_id, CallOptions::new()).await
    }

    /// [`get_sim`](Self::get_sim) with this call's options.
    pub(crate) async fn get_sim_with(&self, sim_id: u64, options: CallOptions) -> Result<Sim> {
        let id = sim_id.to_string();
        let request = self
            .transport
            .request(Method::GET, &["api", "v1", "sim", &id])?
            .operation("get_sim", "/api/v1/sim/{sim_id}", Some(&id))
            .options(options);
        let response = self.transport.send(&request).await.map_err(from_emnify)?;
        response.resource()
    }

    /// Starts a list of SIMs (`GET /api/v1/sim`); see [`ListSims`].
    ///
    /// ```no_run
    /// use futures_util::TryStreamExt as _;
    /// # async fn run(client: emnify_client::Client) -> simcore::Result<()> {
    /// let mut pages = std::pin::pin!(client.list_sims().page_size(2500).pages());
    /// while let Some(page) = pages.try_next().await? {
    ///     println!("{} SIMs of {:?}; next: {:?}", page.items.len(), page.total, page.next);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn list_sims(&self) -> ListSims {
        ListSims::new(self.clone())
    }

    /// Fetches one page of the list, page `page` asked with `per_page`, at the list's pace:
    /// the SIMs, the page after it as the paging headers decide ([`PageHeaders`]), and the
    /// total. [`ListSims`] is the usual way in.
    pub(crate) async fn sim_page(
        &self,
        query: &[(&'static str, String)],
        page: u32,
        per_page: u32,
        snapshot_only: bool,
        options: CallOptions,
    ) -> Result<Page<Sim>> {
        if let Some(budget) = &self.list_pace {
            tokio::time::sleep(budget.take()).await;
        }
        let cap = (per_page as usize).saturating_mul(LIST_BYTES_PER_SIM);
        let request = self
            .transport
            .request(Method::GET, &["api", "v1", "sim"])?
            .operation("list_sims", "/api/v1/sim", None)
            .query(query.iter().map(|(k, v)| (*k, v.as_str())))
            .body_limit(self.transport.body_limit().max(cap))
            .options(options);
        let response = self.transport.send(&request).await.map_err(from_emnify)?;
        let sims: Vec<Sim> = if snapshot_only {
            let sims: Vec<SnapshotSim> = response.json()?;
            sims.into_iter().map(Sim::from).collect()
        } else {
            response.json()?
        };
        if let Some(what) = sims.iter().find_map(simcore::http::Resource::missing) {
            return Err(
                response.decode_error(format!("not an emnify answer: a listed SIM has no {what}"))
            );
        }
        let headers = response.headers();
        let paging = PageHeaders::read(|name| headers.get(name).and_then(|v| v.to_str().ok()));
        let next = paging
            .next_page(page, per_page, sims.len())
            .map(PagePosition::Number);
        Ok(Page::new(sims, next).with_total(paging.total_count))
    }

    /// Starts an update of a SIM (`PATCH /api/v1/sim/{sim_id}`); see [`UpdateSimBuilder`].
    ///
    /// ```no_run
    /// use emnify_client::{OrgChange, SettableStatus};
    /// # async fn run(client: emnify_client::Client) -> simcore::Result<()> {
    /// client
    ///     .update_sim(250)
    ///     .status(SettableStatus::Suspended)
    ///     .reseller_org(OrgChange::Clear)
    ///     .customer_org(13886)
    ///     .send()
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn update_sim(&self, sim_id: u64) -> UpdateSimBuilder {
        UpdateSimBuilder::new(self.clone(), sim_id)
    }

    /// Deletes a SIM: `DELETE /api/v1/sim/{sim_id}`. This cannot be undone; emnify refuses SIMs
    /// with an assigned endpoint, and resellers cannot delete SIMs they sold.
    pub async fn delete_sim(&self, sim_id: u64) -> Result<()> {
        let id = sim_id.to_string();
        let request = self
            .transport
            .request(Method::DELETE, &["api", "v1", "sim", &id])?
            .operation("delete_sim", "/api/v1/sim/{sim_id}", Some(&id));
        self.transport
            .send(&request)
            .await
            .map_err(from_emnify)?
            .no_content()
    }

    /// Sends an update given as plain data ([`UpdateSimBuilder::into_request`] makes one,
    /// validated): `PATCH /api/v1/sim/{sim_id}`. [`UpdateSimBuilder::send`] is the usual way
    /// in; this is the step under it. An empty update is refused with nothing sent.
    ///
    /// emnify answers `204 No Content`, and only that is success: [`Updated::Done`]`(None)`
    /// (read the SIM to see it). Any other success answer (a `200` with a body, a `202`, a
    /// `204` that carries a body) is not emnify's answer to an update and is an
    /// [`Error::Decode`], which says nothing of whether the change was applied
    /// ([`Sent::Maybe`](simcore::error::Sent::Maybe)): read the SIM to know.
    ///
    /// ```no_run
    /// use emnify_client::SettableStatus;
    /// # async fn run(client: emnify_client::Client) -> simcore::Result<()> {
    /// let request = client
    ///     .update_sim(250)
    ///     .status(SettableStatus::Suspended)
    ///     .into_request()?;
    /// client.send(&request).await?;
    /// # Ok(()) }
    /// ```
    ///
    /// The request's [`options`](UpdateSimRequest::options) (those of the builder it came from)
    /// are this call's. A request without its SIM (one read from a body and never given one) is refused too.
    pub async fn send(&self, request: &UpdateSimRequest) -> Result<Updated<Sim>> {
        request.validate()?;
        request.options.check()?;
        self.patch_sim(request, request.options.started()).await?;
        Ok(Updated::Done(None))
    }

    /// Sends an update, with this call's options (see [`send`](Self::send) for what counts as
    /// emnify's answer).
    pub(crate) async fn patch_sim(
        &self,
        update: &UpdateSimRequest,
        options: CallOptions,
    ) -> Result<()> {
        let id = update.sim()?.to_string();
        let request = self
            .transport
            .request(Method::PATCH, &["api", "v1", "sim", &id])?
            .operation("update_sim", "/api/v1/sim/{sim_id}", Some(&id))
            .options(options)
            .json(update)?;
        let response = self.transport.send(&request).await.map_err(from_emnify)?;
        if response.status() != 204 || !response.is_empty() {
            return Err(response.decode_error(format!(
                "not emnify's answer to an update: emnify answers 204 with no body, this is HTTP {}{}",
                response.status(),
                if response.is_empty() { "" } else { " with a body" }
            )));
        }
        Ok(())
    }
}

/// Builds a [`Client`]: credentials (an application token or user credentials), and the
/// transport settings (`base_url`, `timeout`, `connect_timeout`, `deadline`, `retry`,
/// `body_limit`).
#[must_use]
pub struct ClientBuilder {
    transport: TransportBuilder,
    credentials: Option<Credentials>,
    /// Each kind of credentials set, by the method that set it: two are refused at build.
    credential_kinds: Vec<&'static str>,
    token_store: Option<(Arc<dyn TokenStore>, String)>,
    list_pace: Option<ListPace>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("transport", &self.transport)
            .field("credentials", &self.credentials)
            .field("token_store", &self.token_store.as_ref().map(|(s, _)| s))
            .field("list_pace", &self.list_pace)
            .finish()
    }
}

impl ClientBuilder {
    simcore::transport_builder_methods!();

    /// Authenticates with an application token (created in the emnify portal).
    /// Refused at build beside [`user_credentials`](Self::user_credentials).
    pub fn application_token(mut self, token: impl Into<SecretString>) -> Self {
        self.credentials = Some(Credentials::ApplicationToken(token.into()));
        self.kind("application_token");
        self
    }

    /// Notes a kind of credentials set (once per kind).
    fn kind(&mut self, method: &'static str) {
        if !self.credential_kinds.contains(&method) {
            self.credential_kinds.push(method);
        }
    }

    /// Authenticates with a user name and password. The password is hashed (SHA-1, as emnify
    /// wants it) here and only the hash is kept. Accounts with multi-factor authentication are
    /// not supported: use an application token.
    pub fn user_credentials(
        mut self,
        username: impl Into<String>,
        password: impl Into<SecretString>,
    ) -> Self {
        let password = password.into();
        self.credentials = Some(Credentials::user(username.into(), &password));
        self.kind("user_credentials");
        self
    }

    /// Shares the session token through `store` under `key` with every client and process that
    /// uses the same store and key (on Redis: `simcore_redis::RedisTokenStore`): one
    /// authentication for the whole fleet while the token lasts, and a refused authentication
    /// remembered by all of them for [`REFUSAL_COOLDOWN`](crate::auth::REFUSAL_COOLDOWN), so
    /// replicas restarting with a wrong token never trip emnify's lockout (see
    /// `simcore::http::TokenCache`). `key` names these credentials (say `"prod-app-token"`):
    /// clients with other credentials need another key. When the store cannot be reached the
    /// client authenticates on its own.
    ///
    /// With the `simcore-redis` crate, a fleet shares the token and emnify's per-IP budget on
    /// Redis:
    ///
    /// ```no_run
    /// # fn main() -> simcore::Result<()> {
    /// use std::sync::Arc;
    /// use simcore_redis::{Redis, RedisRateBudget, RedisTokenStore, TokenKey};
    ///
    /// let redis = Redis::new("redis://10.0.0.5:6379/", "fleet-a:")?;
    /// let key = TokenKey::from_base64(&std::env::var("TOKEN_KEY").unwrap_or_default())?;
    /// let client = emnify_client::Client::builder()
    ///     .application_token(std::env::var("EMNIFY_APPLICATION_TOKEN").unwrap_or_default())
    ///     .token_store(
    ///         Arc::new(RedisTokenStore::new(&redis).encryption_key(key)),
    ///         "prod-app-token",
    ///     )
    ///     // emnify counts 2,000 requests per 5 minutes per IP: every replica behind it.
    ///     .rate_budget(Arc::new(RedisRateBudget::new(&redis, "egress-1", 2000.0 / 300.0, 20)))
    ///     .build()?;
    /// # let _ = client; Ok(()) }
    /// ```
    pub fn token_store(mut self, store: Arc<dyn TokenStore>, key: impl Into<String>) -> Self {
        self.token_store = Some((store, key.into()));
        self
    }

    /// How fast lists are read ([`ListPace::EMNIFY`] by default: just under emnify's 10 requests
    /// a second, bursts of 5, on the list path); `None` sends every page at once (a sandbox
    /// without the limit, a mock server).
    pub fn list_pace(mut self, pace: Option<ListPace>) -> Self {
        self.list_pace = pace;
        self
    }

    /// Checks the configuration and builds the client. Nothing is sent: the first request
    /// authenticates.
    pub fn build(self) -> Result<Client> {
        let credentials = self.credentials.ok_or_else(|| {
            Error::Config(format!(
                "no emnify credentials: set an application token (e.g. from {ENV_APPLICATION_TOKEN}) or user credentials"
            ))
        })?;
        if let [first, second, ..] = self.credential_kinds[..] {
            return Err(Error::conflict(
                first,
                second,
                "a client authenticates one way (an application token, or a user's login)",
            ));
        }
        check_credentials(&credentials)?;
        // The authenticate call never retries: emnify locks an account out after three failed
        // authentications, and a repeated call cannot fix refused credentials.
        // The credentials travel in its body: they are named to it so that an answer quoting
        // them keeps `[redacted]` in their place (the tokens it receives are cut out by the
        // cache, see `TokenCache`'s `Authenticator::redact`).
        let auth_transport = self
            .transport
            .clone()
            .auth(Auth::None)
            .retry(RetryPolicy::none())
            .redact(credentials.secret())
            .build()?;
        let login = Arc::new(EmnifyLogin::new(auth_transport, credentials));
        let auth = Arc::new(match self.token_store {
            Some((store, key)) => TokenCache::with_store(
                login,
                crate::auth::cache_options(),
                store,
                format!("{}:{key}", crate::PROVIDER),
            ),
            None => TokenCache::with_options(login, crate::auth::cache_options()),
        });
        let transport = self.transport.auth(Auth::dynamic(auth.clone())).build()?;
        let list_pace = self.list_pace.and_then(list_budget).map(Arc::new);
        Ok(Client {
            transport,
            auth,
            list_pace,
        })
    }
}

fn check_credentials(credentials: &Credentials) -> Result<()> {
    use simcore::secrecy::ExposeSecret;
    match credentials {
        Credentials::ApplicationToken(t) if t.expose_secret().trim().is_empty() => {
            Err(ValidationError::new("application_token", "must not be empty", "empty").into())
        }
        Credentials::User { username, .. } if username.trim().is_empty() => {
            Err(ValidationError::new("username", "must not be empty", "empty").into())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn from_env_names_the_missing_variable() {
        for lookup in [None, Some(String::new()), Some("  ".to_owned())] {
            let err = Client::from_lookup(|_| lookup.clone()).unwrap_err();
            match err {
                Error::Config(m) => assert!(m.contains("EMNIFY_APPLICATION_TOKEN"), "{m}"),
                other => panic!("{other:?}"),
            }
        }
        let client = Client::from_lookup(|name| {
            assert!(
                [ENV_APPLICATION_TOKEN, ENV_BASE_URL].contains(&name),
                "{name}"
            );
            (name == ENV_APPLICATION_TOKEN).then(|| "SENTINEL-ENV-TOKEN".to_owned())
        })
        .unwrap();
        let shown = format!("{client:?}");
        assert!(shown.contains("https://cdn.emnify.net/"), "{shown}");
        assert!(!shown.contains("SENTINEL"), "{shown}");
        assert_eq!(client.base_url().as_str(), "https://cdn.emnify.net/");
        // EMNIFY_BASE_URL, when set, is where it connects.
        let client = Client::from_lookup(|name| {
            Some(match name {
                ENV_APPLICATION_TOKEN => "t".to_owned(),
                _ => " http://127.0.0.1:4010 ".to_owned(),
            })
        })
        .unwrap();
        assert_eq!(client.base_url().as_str(), "http://127.0.0.1:4010/");
    }

    #[test]
    fn build_refuses_missing_or_empty_credentials() {
        let e = Client::builder().build().unwrap_err();
        assert!(matches!(e, Error::Config(m) if m.contains("no emnify credentials")));
        let e = Client::builder().application_token("").build().unwrap_err();
        assert!(matches!(e, Error::Invalid(v) if v.field() == "application_token"));
        let e = Client::builder()
            .user_credentials(" ", "pw")
            .build()
            .unwrap_err();
        assert!(matches!(e, Error::Invalid(v) if v.field() == "username"));
        let e = Client::builder()
            .application_token("t")
            .base_url("http://emnify.example")
            .build()
            .unwrap_err();
        assert!(matches!(e, Error::Config(_)));
    }

    #[test]
    fn the_list_pace_lets_a_burst_go_then_spaces_the_rest() {
        // Places taken back to back: the waits of a burst of 3 at 10 a second.
        let budget = list_budget(ListPace::new(10.0, 3)).unwrap();
        let waits: Vec<u128> = (0..6).map(|_| budget.take().as_millis()).collect();
        for (wait, expected) in waits.iter().zip([0, 0, 0, 100, 200, 300]) {
            // Each wait is its place less the time since the first: a loaded machine may take a
            // while between two calls, never less.
            assert!(
                expected - 50 <= *wait as i64 && *wait as i64 <= expected,
                "{waits:?}"
            );
        }
        // The default keeps under emnify's 10 a second in bursts of 5: of 40 places taken at
        // once, 4 + 9 fall within the first second.
        let budget = list_budget(ListPace::EMNIFY).unwrap();
        let in_first_second = (0..40)
            .filter(|_| budget.take() < Duration::from_secs(1))
            .count();
        assert_eq!(in_first_second, 4 + 9);
        assert!(list_budget(ListPace::new(0.0, 5)).is_none());
        assert!(list_budget(ListPace::new(f64::NAN, 5)).is_none());
        assert!(list_budget(ListPace::new(5.0, 0)).is_some());
    }

    #[test]
    fn user_agent_names_the_crate() {
        assert!(USER_AGENT.starts_with("emnify-client/"));
    }
}
