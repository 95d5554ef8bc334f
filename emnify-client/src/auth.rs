//! emnify's session tokens: authenticate, cache, refresh early, re-authenticate once on a 401.
//!
//! `POST /api/v1/authenticate` exchanges credentials for a JWT `auth_token`, sent afterwards as
//! `Authorization: Bearer <auth_token>`. The client keeps it in simcore's shared
//! [`TokenCache`](simcore::http::TokenCache) over an [`EmnifyLogin`] source, which gives it:
//!
//! - **Single flight.** Any number of concurrent requests on a fresh client cause one
//!   authentication and share its token (or its failure).
//! - **Early refresh.** The JWT's `exp` claim is read (payload decoded, signature not checked: the
//!   token is only ever handed back to emnify) and the token is replaced [`REFRESH_MARGIN`] before
//!   it expires (a tenth of its lifetime before, for short tokens). A token without a readable `exp` is kept for emnify's documented lifetime,
//!   [`DEFAULT_TOKEN_LIFETIME`].
//! - **One re-authentication on a 401.**
//! - **Never retried.** emnify locks an account for five minutes after three failed
//!   authentications, so the authenticate call has a retry policy of one attempt, and a refused
//!   authentication (a 400, 401, 403 or 422) is remembered for [`REFUSAL_COOLDOWN`]: requests in
//!   that time get the same error without sending the credentials again.
//! - **User credentials.** The password is hashed (SHA-1, hex, as emnify wants it) when the client
//!   is built and only the hash is kept. The `refresh_token` returned with the first `auth_token`
//!   is used for later authentications; if emnify refuses it, the source falls back to the user
//!   name and password hash.
//! - **Nothing prints.** Credentials and tokens are held as [`SecretString`]s or sensitive
//!   headers, and cut out of any answer that quotes them; `Debug` shows the kind of credential
//!   only.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde::Deserialize;
use serde_json::json;
use sha1::{Digest, Sha1};
use simcore::http::header::AUTHORIZATION;
use simcore::http::{
    AuthHeader, Method, Redactor, Token, TokenCacheOptions, TokenSource, Transport,
};
use simcore::secrecy::{ExposeSecret, SecretString};
use simcore::{Error, Result};

/// How long before a token's expiry it is replaced: 60 s, or a tenth of the token's lifetime for
/// tokens shorter than ten minutes.
pub const REFRESH_MARGIN: Duration = Duration::from_secs(60);

/// How long a token without a readable `exp` claim is kept: emnify's documented 240 minutes.
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(240 * 60);

/// How long a refused authentication is remembered (and not repeated): 5 minutes, the length of
/// emnify's lockout after three consecutive failures.
pub const REFUSAL_COOLDOWN: Duration = Duration::from_secs(5 * 60);

/// The SHA-1 of a password as lowercase hex, the form emnify's authenticate call expects.
///
/// ```
/// use emnify_client::auth::password_sha1_hex;
/// use emnify_client::secrecy::ExposeSecret;
/// let hash = password_sha1_hex(&"password".into());
/// assert_eq!(hash.expose_secret(), "5baa61e4c9b93f3f0682250b6cf8331b7ee68fd8");
/// ```
pub fn password_sha1_hex(password: &SecretString) -> SecretString {
    let digest = Sha1::digest(password.expose_secret().as_bytes());
    SecretString::from(hex::encode(digest))
}

/// The `exp` claim of a JWT, read from its payload only (no signature check). `None` when the
/// token is not a JWT or has no numeric `exp`.
///
/// ```
/// use emnify_client::auth::jwt_expiry;
/// use std::time::{Duration, UNIX_EPOCH};
/// // header {"alg":"none"}, payload {"exp":1700000000}
/// let jwt = "eyJhbGciOiJub25lIn0.eyJleHAiOjE3MDAwMDAwMDB9.";
/// assert_eq!(jwt_expiry(jwt), Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)));
/// assert_eq!(jwt_expiry("not-a-jwt"), None);
/// ```
pub fn jwt_expiry(token: &str) -> Option<SystemTime> {
    let mut parts = token.split('.');
    let (_header, payload) = (parts.next()?, parts.next()?);
    let payload = payload.trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD
        .decode(payload)
        .or_else(|_| STANDARD_NO_PAD.decode(payload))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    let exp = claims.get("exp")?.as_f64()?;
    if !(0.0..=1e12).contains(&exp) {
        return None;
    }
    Some(UNIX_EPOCH + Duration::from_secs_f64(exp))
}

/// What the client authenticates with.
#[derive(Clone)]
pub(crate) enum Credentials {
    /// An application token (`EMNIFY_APPLICATION_TOKEN`).
    ApplicationToken(SecretString),
    /// A user name and the SHA-1 hex of the password.
    User {
        username: String,
        password_sha1: SecretString,
    },
}

impl Credentials {
    pub(crate) fn user(username: String, password: &SecretString) -> Self {
        Credentials::User {
            username,
            password_sha1: password_sha1_hex(password),
        }
    }

    /// What is sent and must never be shown: the application token, or the password's hash.
    pub(crate) fn secret(&self) -> &SecretString {
        match self {
            Credentials::ApplicationToken(t) => t,
            Credentials::User { password_sha1, .. } => password_sha1,
        }
    }
}

/// How many tokens (session and refresh) a cache remembers to cut out of answers after it has
/// replaced them: an answer may quote the one a request used while another request refreshed it.
const REMEMBERED_TOKENS: usize = 4;

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::ApplicationToken(_) => f.write_str("ApplicationToken([redacted])"),
            Credentials::User { username, .. } => f
                .debug_struct("User")
                .field("username", username)
                .field("password_sha1", &"[redacted]")
                .finish(),
        }
    }
}

/// The answer of `POST /api/v1/authenticate`. No `Debug`: it holds tokens.
#[derive(Deserialize)]
struct Answer {
    #[serde(default)]
    auth_token: Option<String>,
    #[serde(default)]
    refresh_token: Option<String>,
    #[serde(default)]
    mfa_token: Option<String>,
}

/// How the client logs in to emnify: the [`TokenSource`] its token cache fetches from.
pub struct EmnifyLogin {
    /// Sends the authenticate call: no credentials, one attempt.
    transport: Transport,
    credentials: Credentials,
    /// The refresh token of a user login (the cache's single flight keeps fetches apart).
    refresh_token: std::sync::Mutex<Option<SecretString>>,
    /// The last tokens emnify handed out, cut out of answers that quote them.
    received: std::sync::Mutex<Vec<SecretString>>,
}

impl fmt::Debug for EmnifyLogin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EmnifyLogin")
            .field("credentials", &self.credentials)
            .finish_non_exhaustive()
    }
}

impl EmnifyLogin {
    /// A login through `transport` (built with no auth and no retries).
    pub(crate) fn new(transport: Transport, credentials: Credentials) -> Self {
        Self {
            transport,
            credentials,
            refresh_token: std::sync::Mutex::new(None),
            received: std::sync::Mutex::new(Vec::new()),
        }
    }

    /// Remembers tokens just received (the last few), to cut them out of answers.
    fn remember(&self, tokens: impl IntoIterator<Item = String>) {
        let mut received = self.received.lock().unwrap_or_else(|e| e.into_inner());
        received.extend(tokens.into_iter().map(SecretString::from));
        let extra = received.len().saturating_sub(REMEMBERED_TOKENS);
        received.drain(..extra);
    }

    fn take_refresh(&self) -> Option<SecretString> {
        self.refresh_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
    }

    fn keep_refresh(&self, token: Option<SecretString>) {
        *self.refresh_token.lock().unwrap_or_else(|e| e.into_inner()) = token;
    }

    async fn call(&self, body: serde_json::Value) -> Result<Answer> {
        let request = self
            .transport
            .request(Method::POST, &["api", "v1", "authenticate"])?
            .operation("authenticate", "/api/v1/authenticate", None)
            .json(&body)?;
        drop(body);
        let response = self.transport.send(&request).await.map_err(|e| {
            // The refresh token and the tokens received so far travel in bodies too.
            let mut r = Redactor::new();
            self.redact(&mut r);
            crate::errors::authentication_failed(r.scrub_error(e))
        })?;
        // Read by hand: a decode error must not quote the body, which holds tokens.
        let answer: Answer = serde_json::from_slice(response.body()).map_err(|e| {
            Error::decode_withheld(
                crate::PROVIDER,
                response.status(),
                format!(
                    "the authenticate answer is not the documented object (line {}, column {})",
                    e.line(),
                    e.column()
                ),
            )
        })?;
        self.remember(
            [&answer.auth_token, &answer.refresh_token]
                .into_iter()
                .flatten()
                .filter(|t| !t.is_empty())
                .cloned(),
        );
        Ok(answer)
    }
}

#[simcore::async_trait]
impl TokenSource for EmnifyLogin {
    /// One authentication, by refresh token first when there is one.
    async fn fetch(&self) -> Result<Token> {
        match &self.credentials {
            Credentials::ApplicationToken(token) => {
                let answer = self
                    .call(json!({"application_token": token.expose_secret()}))
                    .await?;
                token_from(answer)
            }
            Credentials::User {
                username,
                password_sha1,
            } => {
                if let Some(refresh) = self.take_refresh() {
                    match self
                        .call(json!({"refresh_token": refresh.expose_secret()}))
                        .await
                    {
                        Ok(answer) => {
                            let next = answer.refresh_token.clone().map(SecretString::from);
                            self.keep_refresh(Some(next.unwrap_or(refresh)));
                            return token_from(answer);
                        }
                        // Refused: fall back to the user name and password below.
                        Err(e) if is_refusal(&e) => {}
                        Err(e) => {
                            self.keep_refresh(Some(refresh));
                            return Err(e);
                        }
                    }
                }
                let answer = self
                    .call(json!({
                        "username": username,
                        "password": password_sha1.expose_secret(),
                    }))
                    .await?;
                self.keep_refresh(answer.refresh_token.clone().map(SecretString::from));
                token_from(answer)
            }
        }
    }

    fn is_refusal(&self, error: &Error) -> bool {
        is_refusal(error)
    }

    fn provider(&self) -> &'static str {
        crate::PROVIDER
    }

    fn redact(&self, into: &mut Redactor) {
        match &self.credentials {
            Credentials::ApplicationToken(t) => into.add(t),
            Credentials::User { password_sha1, .. } => into.add(password_sha1),
        }
        if let Some(r) = self
            .refresh_token
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
        {
            into.add(r);
        }
        for t in self
            .received
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
        {
            into.add(t);
        }
    }
}

/// The options of the client's token cache: emnify's margin and lockout.
pub(crate) fn cache_options() -> TokenCacheOptions {
    TokenCacheOptions {
        refresh_margin: REFRESH_MARGIN,
        refusal_cooldown: REFUSAL_COOLDOWN,
    }
}

/// emnify looked at the credentials and said no (400, 401, 403 or 422). A 429 or a timeout is
/// not a verdict on the credentials: it is not remembered as a refusal.
fn is_refusal(e: &Error) -> bool {
    e.api()
        .is_some_and(|a| matches!(a.status, 400 | 401 | 403 | 422))
}

fn token_from(answer: Answer) -> Result<Token> {
    let Some(jwt) = answer.auth_token.filter(|t| !t.trim().is_empty()) else {
        return Err(if answer.mfa_token.is_some() {
            Error::Config(
                "emnify asks for multi-factor authentication for this user, which this client does \
                 not support; use an application token"
                    .to_owned(),
            )
        } else {
            Error::decode_withheld(
                crate::PROVIDER,
                200,
                "the authenticate answer has no auth_token",
            )
        });
    };
    let header = AuthHeader::new(AUTHORIZATION, &format!("Bearer {jwt}"))?;
    Ok(match jwt_expiry(&jwt) {
        Some(exp) => Token::new(header, exp),
        None => Token::valid_for(header, DEFAULT_TOKEN_LIFETIME),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use simcore::ApiError;

    fn jwt(payload: &str) -> String {
        format!(
            "{}.{}.sig",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#),
            URL_SAFE_NO_PAD.encode(payload)
        )
    }

    #[test]
    fn expiry_forms() {
        let at = |s: u64| Some(UNIX_EPOCH + Duration::from_secs(s));
        assert_eq!(jwt_expiry(&jwt(r#"{"exp":1700000000}"#)), at(1_700_000_000));
        assert_eq!(
            jwt_expiry(&jwt(r#"{"exp":1700000000.0,"sub":"x"}"#)),
            at(1_700_000_000)
        );
        // Padded payloads are tolerated.
        let padded = format!(
            "h.{}.s",
            base64::engine::general_purpose::URL_SAFE.encode(r#"{"exp":12}"#)
        );
        assert!(padded.contains('='));
        assert_eq!(jwt_expiry(&padded), at(12));
        for none in [
            jwt(r#"{"sub":"x"}"#),
            jwt(r#"{"exp":"soon"}"#),
            jwt(r#"{"exp":-5}"#),
            jwt("not json"),
            "nodots".to_owned(),
            "a.%%%.c".to_owned(),
            String::new(),
        ] {
            assert_eq!(jwt_expiry(&none), None, "{none}");
        }
    }

    #[test]
    fn password_hash_is_sha1_hex() {
        let h = password_sha1_hex(&SecretString::from("8Y8knYSkeyYV23kd"));
        assert_eq!(h.expose_secret().len(), 40);
        assert!(h.expose_secret().bytes().all(|b| b.is_ascii_hexdigit()));
        let c = Credentials::user("ops@example.com".into(), &"SENTINEL-PW".into());
        let shown = format!("{c:?}");
        assert!(shown.contains("ops@example.com"));
        assert!(!shown.contains("SENTINEL"));
        let Credentials::User { password_sha1, .. } = &c else {
            unreachable!()
        };
        assert!(!shown.contains(password_sha1.expose_secret()));
    }

    #[test]
    fn tokens_refresh_before_exp() {
        let exp = SystemTime::now() + Duration::from_secs(3600);
        let secs = exp.duration_since(UNIX_EPOCH).unwrap().as_secs();
        let answer = Answer {
            auth_token: Some(jwt(&format!(r#"{{"exp":{secs}}}"#))),
            refresh_token: None,
            mfa_token: None,
        };
        let t = token_from(answer).unwrap();
        assert_eq!(t.expires_at(), UNIX_EPOCH + Duration::from_secs(secs));
        let opaque = Answer {
            auth_token: Some("opaque".into()),
            refresh_token: None,
            mfa_token: None,
        };
        let t = token_from(opaque).unwrap();
        let left = t.expires_at().duration_since(SystemTime::now()).unwrap();
        assert!(left <= DEFAULT_TOKEN_LIFETIME);
        assert!(left > DEFAULT_TOKEN_LIFETIME - Duration::from_secs(60));
        let mfa = Answer {
            auth_token: None,
            refresh_token: None,
            mfa_token: Some("m".into()),
        };
        assert!(matches!(token_from(mfa), Err(Error::Config(m)) if m.contains("multi-factor")));
        let empty = Answer {
            auth_token: Some(" ".into()),
            refresh_token: None,
            mfa_token: None,
        };
        assert!(matches!(token_from(empty), Err(Error::Decode { .. })));
    }

    #[test]
    fn refusals_are_4xx_answers() {
        assert!(is_refusal(&Error::from(
            ApiError::new("emnify", 401).with_message("(empty body)")
        )));
        let t = Error::Timeout {
            provider: "emnify",
            after: Duration::from_secs(1),
            attempts: 1,
        };
        assert!(!is_refusal(&t));
        assert!(!is_refusal(&Error::from(ApiError::new("emnify", 503))));
    }

    proptest! {
        #[test]
        fn no_token_panics(s in ".{0,80}") {
            let _ = jwt_expiry(&s);
        }
    }
}
