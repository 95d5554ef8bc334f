//! The emnify [`Client`] and its [`ClientBuilder`].

use std::fmt;
use std::sync::Arc;

use simcore::http::{Auth, Method, Transport, TransportBuilder};
use simcore::retry::RetryPolicy;
use simcore::secrecy::SecretString;
use simcore::validate::ValidationError;
use simcore::{Error, Result};

use simcore::http::{TokenCache, TokenStore};

use crate::auth::{Credentials, EmnifyLogin};
use crate::errors::from_emnify;
use crate::models::Sim;
use crate::requests::{UpdateSim, UpdateSimBuilder};

/// emnify's API host; paths start with `/api/v1/`.
pub const DEFAULT_BASE_URL: &str = "https://cdn.emnify.net";

/// The environment variable [`Client::from_env`] reads the application token from.
pub const APPLICATION_TOKEN_ENV: &str = "EMNIFY_APPLICATION_TOKEN";

const USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

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
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.transport.base_url().as_str())
            .field("auth", &self.auth)
            .field("retry", self.transport.retry_policy())
            .finish()
    }
}

impl Client {
    /// Starts building a client.
    pub fn builder() -> ClientBuilder {
        ClientBuilder {
            transport: Transport::builder(crate::PROVIDER, DEFAULT_BASE_URL).user_agent(USER_AGENT),
            credentials: None,
            token_store: None,
        }
    }

    /// A client with the application token from `EMNIFY_APPLICATION_TOKEN` and the defaults. A
    /// missing or empty variable is an [`Error::Config`] naming it.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub(crate) fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self> {
        let token = simcore::env::require(
            &lookup,
            APPLICATION_TOKEN_ENV,
            " (an emnify application token)",
        )?;
        Self::builder().application_token(token).build()
    }

    /// Fetches a SIM: `GET /api/v1/sim/{sim_id}`.
    pub async fn get_sim(&self, sim_id: u64) -> Result<Sim> {
        let id = sim_id.to_string();
        let request = self
            .transport
            .request(Method::GET, &["api", "v1", "sim", &id])?
            .operation("get_sim", "/api/v1/sim/{sim_id}", Some(&id));
        let response = self.transport.send(&request).await.map_err(from_emnify)?;
        response.resource()
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

    /// Sends a validated update. emnify answers `204`: a 2xx with no body (or a JSON one) is
    /// success; any other body (an HTML page from a proxy) is an [`Error::Decode`].
    pub(crate) async fn patch_sim(&self, sim_id: u64, update: &UpdateSim) -> Result<()> {
        let id = sim_id.to_string();
        let request = self
            .transport
            .request(Method::PATCH, &["api", "v1", "sim", &id])?
            .operation("update_sim", "/api/v1/sim/{sim_id}", Some(&id))
            .json(update)?;
        self.transport
            .send(&request)
            .await
            .map_err(from_emnify)?
            .no_content()
    }
}

/// Builds a [`Client`]: credentials (an application token or user credentials), and the
/// transport settings (`base_url`, `timeout`, `connect_timeout`, `deadline`, `retry`,
/// `body_limit`).
#[must_use]
pub struct ClientBuilder {
    transport: TransportBuilder,
    credentials: Option<Credentials>,
    token_store: Option<(Arc<dyn TokenStore>, String)>,
}

impl fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("transport", &self.transport)
            .field("credentials", &self.credentials)
            .field("token_store", &self.token_store.as_ref().map(|(s, _)| s))
            .finish()
    }
}

impl ClientBuilder {
    simcore::transport_builder_methods!();

    /// Authenticates with an application token (created in the emnify portal).
    pub fn application_token(mut self, token: impl Into<SecretString>) -> Self {
        self.credentials = Some(Credentials::ApplicationToken(token.into()));
        self
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
        self
    }

    /// Shares the session token through `store` under `key` with every client and process that
    /// uses the same store and key (on Redis: `simcore::redis::RedisTokenStore`): one
    /// authentication for the whole fleet while the token lasts, and a refused authentication
    /// remembered by all of them for [`REFUSAL_COOLDOWN`](crate::auth::REFUSAL_COOLDOWN), so
    /// replicas restarting with a wrong token never trip emnify's lockout (see
    /// `simcore::http::TokenCache`). `key` names these credentials (say `"prod-app-token"`):
    /// clients with other credentials need another key. When the store cannot be reached the
    /// client authenticates on its own.
    pub fn token_store(mut self, store: Arc<dyn TokenStore>, key: impl Into<String>) -> Self {
        self.token_store = Some((store, key.into()));
        self
    }

    /// Checks the configuration and builds the client. Nothing is sent: the first request
    /// authenticates.
    pub fn build(self) -> Result<Client> {
        let credentials = self.credentials.ok_or_else(|| {
            Error::Config(format!(
                "no emnify credentials: set an application token (e.g. from {APPLICATION_TOKEN_ENV}) or user credentials"
            ))
        })?;
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
        Ok(Client { transport, auth })
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
            assert_eq!(name, APPLICATION_TOKEN_ENV);
            Some("SENTINEL-ENV-TOKEN".to_owned())
        })
        .unwrap();
        let shown = format!("{client:?}");
        assert!(shown.contains("https://cdn.emnify.net/"), "{shown}");
        assert!(!shown.contains("SENTINEL"), "{shown}");
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
    fn user_agent_names_the_crate() {
        assert!(USER_AGENT.starts_with("emnify-client/"));
    }
}
