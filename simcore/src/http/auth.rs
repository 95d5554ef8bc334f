//! Authentication as a pluggable step of the transport.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use reqwest::header::{AUTHORIZATION, HeaderName, HeaderValue};
use secrecy::{ExposeSecret, SecretString};

use super::Redactor;
use crate::error::{Error, Result};

/// A credential header ready to send, marked sensitive (its `Debug` never shows the value).
#[derive(Clone)]
pub struct AuthHeader {
    name: HeaderName,
    value: HeaderValue,
}

impl AuthHeader {
    /// A header from a name and a secret value. The value must be visible ASCII (a
    /// [`Error::Config`] names the header, never the value, otherwise).
    pub fn new(name: HeaderName, value: &str) -> Result<Self> {
        let mut value = HeaderValue::from_str(value).map_err(|_| {
            Error::Config(format!(
                "the credential for header {name} contains characters a header cannot carry"
            ))
        })?;
        value.set_sensitive(true);
        Ok(Self { name, value })
    }

    /// The header's name.
    pub fn name(&self) -> &HeaderName {
        &self.name
    }

    /// The header's value (sensitive).
    pub fn value(&self) -> &HeaderValue {
        &self.value
    }
}

impl AuthHeader {
    /// Adds this header's secret to `into`: the whole value, and the credential inside it (the
    /// token after `Bearer `, the base64 of `Basic ` and the secret it decodes to).
    pub fn redact(&self, into: &mut Redactor) {
        let Ok(value) = self.value.to_str() else {
            return;
        };
        into.add_str(value);
        if let Some((scheme, rest)) = value.split_once(' ') {
            into.add_str(rest);
            if scheme.eq_ignore_ascii_case("basic") {
                if let Some(secret) = STANDARD
                    .decode(rest)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .and_then(|pair| pair.split_once(':').map(|(_, s)| s.to_owned()))
                {
                    into.add_str(&secret);
                }
            }
        }
    }
}

impl fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuthHeader({}: [redacted])", self.name)
    }
}

/// A credential that changes over time (a session token that expires), supplied to the
/// transport before each attempt.
///
/// Implementations cache their token; the transport calls [`Authenticator::header`] before every
/// attempt and, when the provider answers 401, [`Authenticator::rejected`] once per request: if it
/// returns `true` the request is tried once more with a fresh header.
#[async_trait]
pub trait Authenticator: Send + Sync + fmt::Debug {
    /// The header to send now (authenticating first if needed).
    async fn header(&self) -> Result<AuthHeader>;

    /// The provider refused `used` with a 401. Drop it from the cache; return `true` if trying
    /// again with a fresh credential makes sense.
    async fn rejected(&self, used: &AuthHeader) -> bool;

    /// Adds the secrets this authenticator holds now (its tokens, the credentials it logs in
    /// with, in the forms they are sent) to `into`, so that an answer quoting one of them keeps
    /// `[redacted]` in its place. The default adds nothing.
    fn redact(&self, into: &mut Redactor) {
        let _ = into;
    }
}

/// How requests are authenticated.
#[derive(Clone, Default)]
pub enum Auth {
    /// No credential (used for the authentication call itself).
    #[default]
    None,
    /// The same header on every request (Basic, Bearer, a raw `Authorization`, an API-key header).
    Static(AuthHeader),
    /// A header supplied by an [`Authenticator`] (session tokens).
    Dynamic(Arc<dyn Authenticator>),
}

impl Auth {
    /// HTTP Basic with a user and a secret.
    pub fn basic(user: &str, secret: &SecretString) -> Result<Self> {
        let encoded = STANDARD.encode(format!("{user}:{}", secret.expose_secret()));
        Ok(Auth::Static(AuthHeader::new(
            AUTHORIZATION,
            &format!("Basic {encoded}"),
        )?))
    }

    /// `Authorization: Bearer <token>`.
    pub fn bearer(token: &SecretString) -> Result<Self> {
        Ok(Auth::Static(AuthHeader::new(
            AUTHORIZATION,
            &format!("Bearer {}", token.expose_secret()),
        )?))
    }

    /// `Authorization: <token>`, the raw token with no scheme.
    pub fn raw_authorization(token: &SecretString) -> Result<Self> {
        Ok(Auth::Static(AuthHeader::new(
            AUTHORIZATION,
            token.expose_secret(),
        )?))
    }

    /// A custom header carrying the secret (such as `x-api-key`; any case). An invalid header
    /// name is an [`Error::Config`].
    pub fn header(name: &str, secret: &SecretString) -> Result<Self> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::Config(format!("{name:?} is not a valid header name")))?;
        Ok(Auth::Static(AuthHeader::new(name, secret.expose_secret())?))
    }

    /// A header supplied by an authenticator.
    pub fn dynamic(authenticator: Arc<dyn Authenticator>) -> Self {
        Auth::Dynamic(authenticator)
    }

    /// The secrets of a static credential, in every form they travel in (the header value, and
    /// for Basic the secret and its base64 encoding). An [`Authenticator`]'s are asked for when an
    /// error is scrubbed (see [`Authenticator::redact`]).
    pub(crate) fn redactor(&self) -> Redactor {
        let mut r = Redactor::new();
        if let Auth::Static(h) = self {
            h.redact(&mut r);
        }
        r
    }

    pub(crate) async fn current(&self) -> Result<Option<AuthHeader>> {
        match self {
            Auth::None => Ok(None),
            Auth::Static(h) => Ok(Some(h.clone())),
            Auth::Dynamic(a) => a.header().await.map(Some),
        }
    }
}

impl fmt::Debug for Auth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::None => f.write_str("Auth::None"),
            Auth::Static(h) => write!(f, "Auth::Static({h:?})"),
            Auth::Dynamic(a) => write!(f, "Auth::Dynamic({a:?})"),
        }
    }
}
