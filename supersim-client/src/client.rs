//! The [`Client`] and its [`ClientBuilder`].

use std::fmt;

use simcore::http::{Auth, Method, Request, Transport, TransportBuilder};
use simcore::secrecy::{ExposeSecret as _, SecretString};
use simcore::validate::quote;
use simcore::{Error, Result, ValidationError};
use url::Url;

use crate::PROVIDER;
use crate::models::{Callback, Sim, SimPage, UpdateOutcome};
use crate::requests::{ListSims, SimRef, SimUpdateRequest, UpdateSim, is_sid};

/// Twilio's Super SIM API.
pub const DEFAULT_BASE_URL: &str = "https://supersim.twilio.com";

/// The environment variable holding the Account SID.
pub const ENV_ACCOUNT_SID: &str = "TWILIO_ACCOUNT_SID";
/// The environment variable holding the Auth Token.
pub const ENV_AUTH_TOKEN: &str = "TWILIO_AUTH_TOKEN";
/// The environment variable holding the API Key SID.
pub const ENV_API_KEY: &str = "TWILIO_API_KEY";
/// The environment variable holding the API Key secret.
pub const ENV_API_SECRET: &str = "TWILIO_API_SECRET";

/// A Twilio Super SIM client. Cheap to clone: clones share one connection pool.
///
/// ```
/// use supersim_client::Client;
///
/// let client = Client::builder()
///     .account("ACaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "your auth token")
///     .build()?;
/// assert_eq!(client.base_url().as_str(), "https://supersim.twilio.com/");
/// assert!(!format!("{client:?}").contains("your auth token"));
/// # Ok::<(), simcore::Error>(())
/// ```
#[derive(Clone)]
pub struct Client {
    transport: Transport,
    /// Which credential is used, and its (non-secret) SID, for `Debug`.
    credential: String,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("credential", &self.credential)
            .field("transport", &self.transport)
            .finish()
    }
}

/// The credential pair sent as HTTP Basic auth.
enum Credentials {
    Account { sid: String, token: SecretString },
    ApiKey { sid: String, secret: SecretString },
}

impl Credentials {
    fn describe(&self) -> String {
        match self {
            Credentials::Account { sid, .. } => format!("account {sid}"),
            Credentials::ApiKey { sid, .. } => format!("api key {sid}"),
        }
    }
}

/// Builds a [`Client`]: credentials, then optionally the base URL, timeouts and retry policy.
pub struct ClientBuilder {
    transport: TransportBuilder,
    credentials: Option<Credentials>,
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
            .finish()
    }
}

impl ClientBuilder {
    simcore::transport_builder_methods!();

    /// Authenticates with an Account SID (`AC` + 32 hex digits) and its Auth Token.
    pub fn account(
        mut self,
        account_sid: impl Into<String>,
        auth_token: impl Into<SecretString>,
    ) -> Self {
        self.credentials = Some(Credentials::Account {
            sid: account_sid.into(),
            token: auth_token.into(),
        });
        self
    }

    /// Authenticates with an API Key SID (`SK` + 32 hex digits) and its secret (what Twilio
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
        self
    }

    /// Reads the credentials from the environment: `TWILIO_API_KEY` and `TWILIO_API_SECRET`
    /// when `TWILIO_API_KEY` is set, otherwise `TWILIO_ACCOUNT_SID` and `TWILIO_AUTH_TOKEN`. A
    /// missing (or empty) variable is an [`Error::Config`] naming it.
    pub fn credentials_from_env(self) -> Result<Self> {
        self.credentials_from(|name| std::env::var(name).ok())
    }

    /// [`credentials_from_env`](Self::credentials_from_env) over any lookup.
    fn credentials_from(self, lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        use simcore::env::require;
        if lookup(ENV_API_KEY).is_some_and(|v| !v.trim().is_empty()) {
            let key = require(&lookup, ENV_API_KEY, "")?;
            let secret = require(&lookup, ENV_API_SECRET, " (needed with TWILIO_API_KEY)")?;
            return Ok(self.api_key(key, secret));
        }
        let hint = " (or set TWILIO_API_KEY and TWILIO_API_SECRET)";
        let sid = require(&lookup, ENV_ACCOUNT_SID, hint)?;
        let token = require(&lookup, ENV_AUTH_TOKEN, hint)?;
        Ok(self.account(sid, token))
    }

    /// Checks the configuration and builds the client. Nothing is sent.
    pub fn build(self) -> Result<Client> {
        let credentials = self.credentials.ok_or_else(|| {
            Error::Config(
                "no credentials: call ClientBuilder::account(account_sid, auth_token) or \
                 ClientBuilder::api_key(api_key_sid, api_key_secret), or use Client::from_env()"
                    .to_owned(),
            )
        })?;
        let (user, secret, prefix, what) = match &credentials {
            Credentials::Account { sid, token } => (sid, token, "AC", "Account SID"),
            Credentials::ApiKey { sid, secret } => (sid, secret, "SK", "API Key SID"),
        };
        // The value is not quoted: a secret pasted into the wrong place must not be printed.
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
        let transport = self
            .transport
            .auth(Auth::basic(user, secret)?)
            .user_agent(concat!(
                env!("CARGO_PKG_NAME"),
                "/",
                env!("CARGO_PKG_VERSION")
            ))
            .build()?;
        Ok(Client {
            transport,
            credential: credentials.describe(),
        })
    }
}

impl Client {
    /// Starts building a client for [`DEFAULT_BASE_URL`].
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            transport: Transport::builder(PROVIDER, DEFAULT_BASE_URL),
            credentials: None,
        }
    }

    /// A client with the credentials from the environment (see
    /// [`ClientBuilder::credentials_from_env`]) and default settings.
    pub fn from_env() -> Result<Client> {
        Client::builder().credentials_from_env()?.build()
    }

    /// The base URL requests go to.
    pub fn base_url(&self) -> &Url {
        self.transport.base_url()
    }

    /// Starts an update of a SIM, named by its SID (`HS…`) or its unique name.
    pub fn update_sim(&self, sim: impl Into<String>) -> UpdateSim {
        UpdateSim::new(self.clone(), sim.into())
    }

    /// Sends a validated update request. [`UpdateSim::send`] is the usual way in; this is the
    /// step under it.
    ///
    /// The outcome is [`UpdateOutcome::Scheduled`] when Twilio answers `202 Accepted` or returns
    /// the SIM in status `scheduled`, and [`UpdateOutcome::Done`] otherwise.
    pub async fn send_update(&self, request: &SimUpdateRequest) -> Result<UpdateOutcome> {
        if request.is_empty() {
            return Err(ValidationError::empty_update().into());
        }
        let req = self
            .transport
            .request(Method::POST, &["v1", "Sims", request.sim.as_str()])?
            .form(request.form_pairs());
        let response = self.transport.send(&req).await?;
        let sim: Sim = response.resource()?;
        if response.status() == 202 || sim.is_scheduled() {
            let callback = request.callback_url.as_ref().map(|url| {
                Callback::new(url.as_str(), request.callback_method.unwrap_or_default())
            });
            Ok(UpdateOutcome::Scheduled { sim, callback })
        } else {
            Ok(UpdateOutcome::Done(sim))
        }
    }

    /// Fetches a SIM, named by its SID (`HS…`) or its unique name.
    pub async fn fetch_sim(&self, sim: impl AsRef<str>) -> Result<Sim> {
        let sim = SimRef::parse(sim.as_ref())?;
        let req = self
            .transport
            .request(Method::GET, &["v1", "Sims", sim.as_str()])?;
        self.transport.send(&req).await?.resource()
    }

    /// Starts a list of SIMs (`GET /v1/Sims`), with optional filters.
    pub fn list_sims(&self) -> ListSims {
        ListSims::new(self.clone())
    }

    /// The page after `page`, or `None` after the last one.
    ///
    /// The next page's URL comes from Twilio (`meta.next_page_url`); it is followed only if it
    /// has the base URL's scheme, host and port, so credentials never go to another host.
    /// Otherwise the answer is an [`Error::Invalid`] for `meta.next_page_url`, and nothing is
    /// sent.
    pub async fn next_page(&self, page: &SimPage) -> Result<Option<SimPage>> {
        match page.next_page_url() {
            Some(url) => self.page_at(url).await.map(Some),
            None => Ok(None),
        }
    }

    pub(crate) async fn first_page(&self, query: &[(&'static str, String)]) -> Result<SimPage> {
        let mut req = self.transport.request(Method::GET, &["v1", "Sims"])?;
        // Only with pairs: an empty query would still leave a bare `?` on the URL.
        if !query.is_empty() {
            req = req.query(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        self.transport.send(&req).await?.resource()
    }

    pub(crate) async fn page_at(&self, next: &str) -> Result<SimPage> {
        let url = self.next_page_target(next)?;
        let req = Request::new(Method::GET, url);
        self.transport.send(&req).await?.resource()
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
        assert_eq!(c.credential, format!("account {AC}"));
        let b = Client::builder()
            .credentials_from(env(&[
                (ENV_ACCOUNT_SID, AC),
                (ENV_AUTH_TOKEN, "t"),
                (ENV_API_KEY, SK),
                (ENV_API_SECRET, "SENTINEL-secret"),
            ]))
            .unwrap();
        let c = b.build().unwrap();
        assert_eq!(c.credential, format!("api key {SK}"));
        assert!(!format!("{c:?}").contains("SENTINEL"));
    }

    #[test]
    fn env_missing_variables_are_named() {
        let m = config_message(Client::builder().credentials_from(env(&[])));
        assert_eq!(
            m,
            "environment variable TWILIO_ACCOUNT_SID is not set (or set TWILIO_API_KEY and TWILIO_API_SECRET)"
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
