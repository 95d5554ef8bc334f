//! Verifying the callbacks Super SIM sends when a scheduled update has finished, with no web
//! framework: give the method, the URL as the sender called it, the headers and the raw body.
//!
//! ```
//! use http::HeaderMap;
//! use simcore::secrecy::SecretString;
//! use supersim_client::Status;
//! use supersim_client::callbacks::{Deduplicator, Delivery, KoreVerifier, kore_signature};
//!
//! // The secrets set with KORE's webhook secrets API: the current one, then the previous one
//! // while a rotation is under way.
//! let verifier = KoreVerifier::new(["current secret", "previous secret"])?;
//!
//! // A callback as it reaches your handler (here signed with the previous secret).
//! let url = "https://hooks.example.com/sim-done?site=north";
//! let body = b"SimSid=HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&Status=active";
//! let signature = kore_signature(&SecretString::from("previous secret"), "POST", url, body);
//! let mut headers = HeaderMap::new();
//! headers.insert("content-type", "application/x-www-form-urlencoded".parse()?);
//! headers.insert("kore-signature", signature.parse()?);
//! headers.insert("kore-idempotency-token", "4c8e0d6e-1b47-4d0a-9f43-3c1a1f0e2b7d".parse()?);
//!
//! let callback = verifier.verify("POST", url, &headers, body)?;
//! assert_eq!(callback.sim_sid(), Some("HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
//! assert_eq!(callback.status(), Some(Status::Active));
//!
//! // The same event may come twice: act on it once.
//! let seen = Deduplicator::default();
//! assert_eq!(seen.check(&callback), Delivery::First);
//! assert_eq!(seen.check(&callback), Delivery::Replay);
//!
//! // A changed body, or no signature at all, is refused, and the error says which.
//! let err = verifier.verify("POST", url, &headers, b"SimSid=HSbbbb&Status=active").unwrap_err();
//! assert!(err.to_string().starts_with("the kore-signature header does not match"));
//! headers.insert("kore-signature", "".parse()?);
//! let err = verifier.verify("POST", url, &headers, body).unwrap_err();
//! assert_eq!(
//!     err.to_string(),
//!     "the kore-signature header is empty: no webhook secret is configured for this account"
//! );
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Two signatures
//! - **KORE** ([`KoreVerifier`]; every Super SIM callback comes from KORE since 2024-11-01):
//!   header `kore-signature`, the lowercase hex SHA-256 (a plain hash, not an HMAC) of
//!   `secret ‖ METHOD ‖ URL without query and fragment ‖ raw body`, with no separators. The
//!   header is empty when the account has no webhook secret ([`CallbackError::NoWebhookSecret`]),
//!   which is never taken as a pass. Several secrets are accepted at once, for rotation. The
//!   `kore-idempotency-token` header names the event; it is not covered by the signature.
//! - **Twilio** ([`TwilioVerifier`], for callbacks still sent by Twilio): header
//!   `X-Twilio-Signature`, the base64 HMAC-SHA1, keyed with the Auth Token, of the full URL
//!   (query included) followed, for a form `POST`, by every parameter's name and value, sorted
//!   by name (and by value for a repeated name). The URL is tried as given, with its port
//!   removed, and with the default port (`:443`, `:80`) added. When the query carries
//!   `bodySHA256` (a JSON body), that is checked against the body's SHA-256 and the signature
//!   covers the URL alone.
//!
//!   **What Twilio's scheme signs is the decoded parameters, not the body's bytes.** Two form
//!   bodies that decode to the same parameters verify alike: `a=b+c` and `a=b%20c`, `%41` and
//!   `A`, the pairs in another order, an empty `&&`. So a form body's bytes may change on the way
//!   without failing the check, as long as what it says stays the same; what it says cannot
//!   change. A body that does not decode exactly (a name or value that is not UTF-8 once its
//!   escapes are undone) has no one meaning to verify and is refused
//!   ([`CallbackError::UndecodableForm`]), never read leniently. For byte-level integrity,
//!   Twilio's JSON callbacks carry `bodySHA256`, which covers every byte.
//!
//! Every comparison runs in constant time ([`subtle`]), and the secrets are held as
//! [`SecretString`]: no `Debug` or error here shows them.
//!
//! For a handler that has an [`http::Request`], [`KoreVerifier::verify_request`] and
//! [`TwilioVerifier::verify_request`] take it with the public origin the sender called
//! (`https://hooks.example.com`): behind a proxy the request's own URI is a path only.
//!
//! # What a callback says
//! **The callback's payload is not documented** by Twilio or KORE: nobody publishes the names of
//! the parameters it carries. [`SimCallback`] therefore keeps every pair as received, in order
//! (from the form or JSON body, or from the query for a `GET`), and reads the well-known fields
//! leniently, trying several plausible names ([`SimCallback::sim_sid`], [`SimCallback::status`],
//! …). Take a callback as a nudge: **fetch the SIM** ([`crate::Client::get_sim`]) to learn its
//! final state, and de-duplicate with [`Deduplicator`] (one process) or [`SharedDeduplicator`]
//! (every replica of a service, through a shared store such as Redis), since the same event may
//! be delivered more than once.
//!
//! # Choices this module makes
//! - A URL with no path and the same URL with the path `/` are one address: both are tried.
//! - A Twilio-signed `POST` whose body is neither a form nor covered by `bodySHA256` is refused
//!   ([`CallbackError::UnsignedBody`]): the signature would not cover it.
//! - An empty secret is refused when a verifier is built: it would let anyone sign.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha1::Sha1;
use sha2::{Digest, Sha256};
use simcore::secrecy::{ExposeSecret, SecretString};
use subtle::{Choice, ConstantTimeEq};
use url::form_urlencoded;

use crate::models::Status;

mod dedup;
mod payload;

pub use dedup::{Deduplicator, Delivery, SharedDeduplicator};
pub use payload::SimCallback;
use payload::*;

/// The header carrying KORE's signature.
pub const KORE_SIGNATURE: &str = "kore-signature";
/// The header naming a KORE event, unique per event, for de-duplication.
pub const KORE_IDEMPOTENCY_TOKEN: &str = "kore-idempotency-token";
/// The header carrying Twilio's signature (header names are case-insensitive).
pub const TWILIO_SIGNATURE: &str = "x-twilio-signature";
/// The query parameter in which Twilio sends the SHA-256 of a JSON body.
pub const BODY_SHA256: &str = "bodySHA256";

// ---- signatures ---------------------------------------------------------------------------------

/// KORE's signature of a callback: lowercase hex SHA-256 of `secret ‖ METHOD ‖ URL without query
/// and fragment ‖ body`. The method is upper-cased; the URL is taken as given otherwise.
///
/// ```
/// use simcore::secrecy::SecretString;
/// use supersim_client::callbacks::kore_signature;
///
/// let secret = SecretString::from("12345");
/// assert_eq!(
///     kore_signature(&secret, "POST", "https://testendpoint.com", b"field1=value1&field2=value2"),
///     "f562d3959f68b5a30fc7a63f8bbf40987f633575f4231ffceb4f76dd154ea3ce"
/// );
/// ```
pub fn kore_signature(secret: &SecretString, method: &str, url: &str, body: &[u8]) -> String {
    hex::encode(kore_digest(secret, method, url, body))
}

fn kore_digest(secret: &SecretString, method: &str, url: &str, body: &[u8]) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(secret.expose_secret().as_bytes());
    hash.update(method.to_ascii_uppercase().as_bytes());
    hash.update(without_query(url).as_bytes());
    hash.update(body);
    hash.finalize().into()
}

/// Twilio's signature of a callback: base64 HMAC-SHA1, keyed with the Auth Token, of `url`
/// followed by each parameter's name and value, sorted by name and then by value. Pass no
/// parameters for a `GET` (they are in the URL) or a JSON body (see [`body_sha256`]).
///
/// ```
/// use simcore::secrecy::SecretString;
/// use supersim_client::callbacks::twilio_signature;
///
/// let token = SecretString::from("12345");
/// let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
/// let params = [("Sid", "CA123"), ("SidAccount", "AC123"), ("Digits", "5678"), ("Digits", "1234")];
/// assert_eq!(twilio_signature(&token, url, params), "IK+Dwps556ElfBT0I3Rgjkr1wJU=");
/// ```
pub fn twilio_signature<I, K, V>(auth_token: &SecretString, url: &str, params: I) -> String
where
    I: IntoIterator<Item = (K, V)>,
    K: AsRef<str>,
    V: AsRef<str>,
{
    let params: Vec<(K, V)> = params.into_iter().collect();
    let mut sorted: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_ref(), v.as_ref()))
        .collect();
    BASE64.encode(twilio_digest(auth_token, url, &mut sorted))
}

fn twilio_digest(auth_token: &SecretString, url: &str, params: &mut [(&str, &str)]) -> [u8; 20] {
    params.sort_unstable();
    // HMAC takes a key of any length: this cannot fail.
    let mut mac = <Hmac<Sha1> as Mac>::new_from_slice(auth_token.expose_secret().as_bytes())
        .expect("HMAC accepts any key length");
    mac.update(url.as_bytes());
    for (name, value) in params.iter() {
        mac.update(name.as_bytes());
        mac.update(value.as_bytes());
    }
    mac.finalize().into_bytes().into()
}

/// The lowercase hex SHA-256 of a body, as Twilio puts it in the `bodySHA256` query parameter
/// of a callback with a JSON body.
///
/// ```
/// use supersim_client::callbacks::body_sha256;
/// assert_eq!(
///     body_sha256(br#"{"property": "value", "boolean": true}"#),
///     "0a1ff7634d9ab3b95db5c9a2dfe9416e41502b283a80c7cf19632632f96e6620"
/// );
/// ```
pub fn body_sha256(body: &[u8]) -> String {
    hex::encode(Sha256::digest(body))
}

// ---- errors -------------------------------------------------------------------------------------

/// Why a callback was refused, or a verifier could not be built. The `Display` names what
/// failed; it never shows a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CallbackError {
    /// A verifier was given no secret.
    NoSecret,
    /// A verifier was given an empty secret (which would let anyone sign).
    EmptySecret,
    /// The signature header is absent (for Twilio: absent or empty): the callback is not signed.
    MissingSignature {
        /// The header looked for.
        header: &'static str,
    },
    /// The `kore-signature` header is there but empty: KORE sends it so when the account has
    /// no webhook secret, and then nothing proves where the callback came from.
    NoWebhookSecret,
    /// The signature header is given more than once.
    RepeatedSignature {
        /// The header.
        header: &'static str,
    },
    /// The signature header is not in the signature's format.
    MalformedSignature {
        /// The header.
        header: &'static str,
        /// What it should be.
        expected: &'static str,
    },
    /// The signature does not match the callback as received with any of the secrets given.
    BadSignature {
        /// The header.
        header: &'static str,
    },
    /// The signature matches the URL, but the body's SHA-256 is not the URL's `bodySHA256`.
    BodyHashMismatch,
    /// A Twilio-signed `POST` whose body is neither a form nor covered by `bodySHA256`.
    UnsignedBody {
        /// The body's `Content-Type`, if it has one.
        content_type: Option<String>,
    },
    /// The URL given is not an absolute `http` or `https` URL.
    InvalidUrl,
    /// A Twilio-signed form body that does not decode exactly: a name or value is not UTF-8
    /// once its `%XX` escapes are undone. Twilio signs the decoded parameters, so such a body
    /// has no one reading to verify, and is never taken as signed.
    UndecodableForm,
}

impl fmt::Display for CallbackError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CallbackError::NoSecret => f.write_str("a callback verifier needs at least one secret"),
            CallbackError::EmptySecret => {
                f.write_str("a webhook secret or Auth Token must not be empty")
            }
            CallbackError::MissingSignature { header } => {
                write!(f, "the callback has no {header} header: it is not signed")
            }
            CallbackError::NoWebhookSecret => write!(
                f,
                "the {KORE_SIGNATURE} header is empty: no webhook secret is configured for this account"
            ),
            CallbackError::RepeatedSignature { header } => {
                write!(f, "the callback has more than one {header} header")
            }
            CallbackError::MalformedSignature { header, expected } => {
                write!(f, "the {header} header is not {expected}")
            }
            CallbackError::BadSignature { header } => write!(
                f,
                "the {header} header does not match the callback as received with any of the secrets given (check the method, the URL, the body and the secret)"
            ),
            CallbackError::BodyHashMismatch => write!(
                f,
                "the body's SHA-256 does not match the {BODY_SHA256} in the URL: the body was changed"
            ),
            CallbackError::UnsignedBody { content_type } => write!(
                f,
                "the body (content type {}) is neither a form nor covered by {BODY_SHA256}, so the signature does not cover it",
                content_type.as_deref().unwrap_or("none")
            ),
            CallbackError::InvalidUrl => {
                f.write_str("the callback URL is not an absolute http or https URL")
            }
            CallbackError::UndecodableForm => f.write_str(
                "the form body does not decode to UTF-8 text exactly, so the signature (over the \
                 decoded parameters) cannot cover it",
            ),
        }
    }
}

impl std::error::Error for CallbackError {}

// ---- verifiers ----------------------------------------------------------------------------------

fn secrets<I, S>(given: I) -> Result<Vec<SecretString>, CallbackError>
where
    I: IntoIterator<Item = S>,
    S: Into<SecretString>,
{
    let secrets: Vec<SecretString> = given.into_iter().map(Into::into).collect();
    if secrets.is_empty() {
        return Err(CallbackError::NoSecret);
    }
    if secrets.iter().any(|s| s.expose_secret().is_empty()) {
        return Err(CallbackError::EmptySecret);
    }
    Ok(secrets)
}

/// The one value of a signature header; `Ok(None)` when it is absent.
fn one_header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<Option<&'h [u8]>, CallbackError> {
    let mut values = headers.get_all(name).iter();
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err(CallbackError::RepeatedSignature { header: name });
    }
    Ok(Some(first.as_bytes().trim_ascii()))
}

fn checked_url(url: &str) -> Result<url::Url, CallbackError> {
    match url::Url::parse(url) {
        Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => Ok(u),
        _ => Err(CallbackError::InvalidUrl),
    }
}

/// The URL the sender called, from the public origin and the request's path and query.
fn request_url(origin: &str, request: &http::Request<Bytes>) -> String {
    let path = request
        .uri()
        .path_and_query()
        .map_or("/", http::uri::PathAndQuery::as_str);
    format!("{}{path}", origin.trim_end_matches('/'))
}

/// Verifies KORE-signed callbacks (`kore-signature`) with one or more webhook secrets.
///
/// Its `Debug` shows how many secrets it holds, never one of them.
///
/// ```
/// use supersim_client::callbacks::{CallbackError, KoreVerifier};
/// let verifier = KoreVerifier::new(["current", "previous"])?;
/// assert_eq!(format!("{verifier:?}"), "KoreVerifier { secrets: 2 }");
/// assert_eq!(KoreVerifier::new([""]).unwrap_err(), CallbackError::EmptySecret);
/// # Ok::<(), CallbackError>(())
/// ```
#[derive(Clone)]
pub struct KoreVerifier {
    secrets: Vec<SecretString>,
}

impl fmt::Debug for KoreVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KoreVerifier")
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl KoreVerifier {
    /// A verifier accepting a signature made with any of `secrets` (the current one first, then
    /// the previous one during a rotation). Refuses an empty list and an empty secret.
    pub fn new<I, S>(secrets: I) -> Result<Self, CallbackError>
    where
        I: IntoIterator<Item = S>,
        S: Into<SecretString>,
    {
        Ok(Self {
            secrets: self::secrets(secrets)?,
        })
    }

    /// Signs as KORE would with the first (current) secret: see [`kore_signature`].
    pub fn sign(&self, method: &str, url: &str, body: &[u8]) -> String {
        kore_signature(&self.secrets[0], method, url, body)
    }

    /// Verifies a callback: `method` and `url` as the sender called them, its headers and raw
    /// body. On success, the callback read leniently, with its `kore-idempotency-token`.
    pub fn verify(
        &self,
        method: &str,
        url: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<SimCallback, CallbackError> {
        let header = KORE_SIGNATURE;
        let given = match one_header(headers, header)? {
            None => return Err(CallbackError::MissingSignature { header }),
            Some([]) => return Err(CallbackError::NoWebhookSecret),
            Some(v) => v,
        };
        let mut signature = [0u8; 32];
        hex::decode_to_slice(given, &mut signature).map_err(|_| {
            CallbackError::MalformedSignature {
                header,
                expected: "64 hex digits (a SHA-256)",
            }
        })?;
        checked_url(url)?;
        let mut ok = Choice::from(0);
        for candidate in same_address(url) {
            for secret in &self.secrets {
                ok |= kore_digest(secret, method, &candidate, body).ct_eq(&signature);
            }
        }
        if !bool::from(ok) {
            return Err(CallbackError::BadSignature { header });
        }
        Ok(SimCallback::read_unverified(method, url, headers, body))
    }

    /// [`verify`](Self::verify) for an [`http::Request`]: the URL is `origin` (the scheme and
    /// host the sender called, such as `https://hooks.example.com`) followed by the request's
    /// path and query.
    pub fn verify_request(
        &self,
        origin: &str,
        request: &http::Request<Bytes>,
    ) -> Result<SimCallback, CallbackError> {
        let url = request_url(origin, request);
        self.verify(
            request.method().as_str(),
            &url,
            request.headers(),
            request.body(),
        )
    }
}

/// Verifies Twilio-signed callbacks (`X-Twilio-Signature`) with one or more Auth Tokens.
///
/// Its `Debug` shows how many tokens it holds, never one of them.
///
/// ```
/// use http::HeaderMap;
/// use supersim_client::callbacks::TwilioVerifier;
///
/// let verifier = TwilioVerifier::new(["12345"])?;
/// let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
/// let body = b"CallSid=CA1234567890ABCDE&Caller=%2B14158675309&Digits=1234&From=%2B14158675309&To=%2B18005551212";
/// let mut headers = HeaderMap::new();
/// headers.insert("content-type", "application/x-www-form-urlencoded".parse()?);
/// headers.insert("x-twilio-signature", "RSOYDt4T1cUTdK1PDd93/VVr8B8=".parse()?);
/// let callback = verifier.verify("POST", url, &headers, body)?;
/// assert_eq!(callback.param("Digits"), Some("1234"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct TwilioVerifier {
    tokens: Vec<SecretString>,
}

impl fmt::Debug for TwilioVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TwilioVerifier")
            .field("auth_tokens", &self.tokens.len())
            .finish()
    }
}

impl TwilioVerifier {
    /// A verifier accepting a signature made with any of `auth_tokens` (the primary one first,
    /// then a secondary one during a rotation). Refuses an empty list and an empty token.
    pub fn new<I, S>(auth_tokens: I) -> Result<Self, CallbackError>
    where
        I: IntoIterator<Item = S>,
        S: Into<SecretString>,
    {
        Ok(Self {
            tokens: secrets(auth_tokens)?,
        })
    }

    /// Signs as Twilio would with the first token: see [`twilio_signature`].
    pub fn sign<I, K, V>(&self, url: &str, params: I) -> String
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<str>,
        V: AsRef<str>,
    {
        twilio_signature(&self.tokens[0], url, params)
    }

    /// Verifies a callback: `method` and `url` as the sender called them (query included), its
    /// headers and raw body. On success, the callback read leniently.
    pub fn verify(
        &self,
        method: &str,
        url: &str,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Result<SimCallback, CallbackError> {
        let header = TWILIO_SIGNATURE;
        let given = match one_header(headers, header)? {
            None | Some([]) => return Err(CallbackError::MissingSignature { header }),
            Some(v) => v,
        };
        let malformed = CallbackError::MalformedSignature {
            header,
            expected: "the base64 of 20 bytes (an HMAC-SHA1)",
        };
        let signature: [u8; 20] = BASE64
            .decode(given)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(malformed)?;
        let parsed = checked_url(url)?;

        // What the signature covers besides the URL.
        let body_hash = parsed
            .query_pairs()
            .find(|(k, _)| k == BODY_SHA256)
            .map(|(_, v)| v.into_owned());
        let form: Vec<(String, String)> = if body_hash.is_some() {
            Vec::new()
        } else if content_type_is(headers, FORM) {
            exact_form(body).ok_or(CallbackError::UndecodableForm)?
        } else if body.is_empty() {
            Vec::new()
        } else {
            return Err(CallbackError::UnsignedBody {
                content_type: content_type(headers).map(str::to_owned),
            });
        };
        let mut params: Vec<(&str, &str)> =
            form.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();

        let mut ok = Choice::from(0);
        for candidate in twilio_addresses(url) {
            for token in &self.tokens {
                ok |= twilio_digest(token, &candidate, &mut params).ct_eq(&signature);
            }
        }
        if !bool::from(ok) {
            return Err(CallbackError::BadSignature { header });
        }
        if let Some(expected) = body_hash {
            let mut wanted = [0u8; 32];
            let readable = hex::decode_to_slice(expected.as_bytes(), &mut wanted).is_ok();
            let actual: [u8; 32] = Sha256::digest(body).into();
            if !(readable && bool::from(actual.ct_eq(&wanted))) {
                return Err(CallbackError::BodyHashMismatch);
            }
        }
        Ok(SimCallback::read_unverified(method, url, headers, body))
    }

    /// [`verify`](Self::verify) for an [`http::Request`]: the URL is `origin` (the scheme and
    /// host the sender called, such as `https://hooks.example.com`) followed by the request's
    /// path and query.
    pub fn verify_request(
        &self,
        origin: &str,
        request: &http::Request<Bytes>,
    ) -> Result<SimCallback, CallbackError> {
        let url = request_url(origin, request);
        self.verify(
            request.method().as_str(),
            &url,
            request.headers(),
            request.body(),
        )
    }
}

/// A form body's pairs, decoded exactly: `+` is a space and `%XX` a byte, and every name and
/// value must then be UTF-8 (`None` otherwise). A lenient reading would turn every invalid
/// sequence into U+FFFD, so two different bodies would read, and verify, the same.
fn exact_form(body: &[u8]) -> Option<Vec<(String, String)>> {
    let decode = |part: &[u8]| {
        let spaced: Vec<u8> = part
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        String::from_utf8(percent_encoding::percent_decode(&spaced).collect()).ok()
    };
    body.split(|&b| b == b'&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (name, value) = match pair.iter().position(|&b| b == b'=') {
                Some(i) => (&pair[..i], &pair[i + 1..]),
                None => (pair, &[][..]),
            };
            Some((decode(name)?, decode(value)?))
        })
        .collect()
}

// ---- URLs ---------------------------------------------------------------------------------------

/// The URL up to its query or fragment.
fn without_query(url: &str) -> &str {
    &url[..url.find(['?', '#']).unwrap_or(url.len())]
}

/// Where the authority (`user@host:port`) of an absolute URL ends, and where its host ends
/// (the port, if any, lies between them).
fn authority(url: &str) -> Option<(usize, usize, &str)> {
    let scheme_end = url.find("://")?;
    let start = scheme_end + 3;
    let end = url[start..]
        .find(['/', '?', '#'])
        .map_or(url.len(), |i| start + i);
    let host_start = url[start..end].rfind('@').map_or(start, |i| start + i + 1);
    let host_port = &url[host_start..end];
    // An IPv6 host is bracketed: a port can only follow the `]`.
    let host_len = match host_port.rfind(']') {
        Some(bracket) => host_port[bracket..]
            .find(':')
            .map_or(host_port.len(), |i| bracket + i),
        None => host_port.find(':').unwrap_or(host_port.len()),
    };
    Some((host_start + host_len, end, &url[..scheme_end]))
}

/// The URL as given, and the same address with an empty path written as `/` or the other way
/// round.
fn same_address(url: &str) -> Vec<String> {
    let mut out = vec![url.to_owned()];
    if let Some((_, end, _)) = authority(url) {
        let rest = &url[end..];
        if rest.is_empty() || rest.starts_with(['?', '#']) {
            out.push(format!("{}/{rest}", &url[..end]));
        } else if let Some(after) = rest.strip_prefix('/') {
            if after.is_empty() || after.starts_with(['?', '#']) {
                out.push(format!("{}{after}", &url[..end]));
            }
        }
    }
    out
}

/// Every form of the URL Twilio's signature may have used: as given, with the port removed,
/// with the default port added (each with both ways of writing an empty path).
fn twilio_addresses(url: &str) -> Vec<String> {
    let mut forms = vec![url.to_owned()];
    if let Some((host_end, end, scheme)) = authority(url) {
        if host_end < end {
            forms.push(format!("{}{}", &url[..host_end], &url[end..]));
        } else if scheme.eq_ignore_ascii_case("https") {
            forms.push(format!("{}:443{}", &url[..end], &url[end..]));
        } else if scheme.eq_ignore_ascii_case("http") {
            forms.push(format!("{}:80{}", &url[..end], &url[end..]));
        }
    }
    forms.iter().flat_map(|u| same_address(u)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_url_forms_twilio_may_have_signed() {
        let cases: [(&str, &[&str]); 6] = [
            (
                "https://mycompany.com/myapp.php?foo=1",
                &[
                    "https://mycompany.com/myapp.php?foo=1",
                    "https://mycompany.com:443/myapp.php?foo=1",
                ],
            ),
            (
                "https://mycompany.com:443/myapp.php",
                &[
                    "https://mycompany.com:443/myapp.php",
                    "https://mycompany.com/myapp.php",
                ],
            ),
            (
                "http://user:pw@example.com:8080?x=1",
                &[
                    "http://user:pw@example.com:8080?x=1",
                    "http://user:pw@example.com:8080/?x=1",
                    "http://user:pw@example.com?x=1",
                    "http://user:pw@example.com/?x=1",
                ],
            ),
            (
                "http://[::1]/hook",
                &["http://[::1]/hook", "http://[::1]:80/hook"],
            ),
            (
                "http://[::1]:9000/",
                &[
                    "http://[::1]:9000/",
                    "http://[::1]:9000",
                    "http://[::1]/",
                    "http://[::1]",
                ],
            ),
            ("not a url", &["not a url"]),
        ];
        for (url, forms) in cases {
            assert_eq!(twilio_addresses(url), *forms, "{url}");
        }
    }

    #[test]
    fn the_kore_url_loses_its_query_and_fragment() {
        assert_eq!(
            without_query("https://a.example/x?y=1#z"),
            "https://a.example/x"
        );
        assert_eq!(
            without_query("https://a.example/x#z?y"),
            "https://a.example/x"
        );
        assert_eq!(without_query("https://a.example"), "https://a.example");
        assert_eq!(
            same_address("https://a.example?y=1"),
            ["https://a.example?y=1", "https://a.example/?y=1"]
        );
    }

    #[test]
    fn names_are_read_leniently() {
        let cb = SimCallback::read_unverified(
            "POST",
            "https://h.example/",
            &HeaderMap::new(),
            br#"{"sim_sid":"HS1","status":"ACTIVE","fleet":null,"Fleet_Sid":"HF1","count":3}"#,
        );
        assert_eq!(cb.sim_sid(), Some("HS1"));
        assert_eq!(cb.status(), Some(Status::Active));
        assert_eq!(cb.fleet(), Some("HF1"));
        assert_eq!(cb.param("count"), Some("3"));
        assert_eq!(
            cb.pairs(),
            [
                ("sim_sid".to_owned(), "HS1".to_owned()),
                ("status".to_owned(), "ACTIVE".to_owned()),
                ("Fleet_Sid".to_owned(), "HF1".to_owned()),
                ("count".to_owned(), "3".to_owned()),
            ]
        );
        let odd = SimCallback::read_unverified(
            "POST",
            "https://h.example/",
            &HeaderMap::new(),
            b"Sid=HS2&SimSid=&Status=retired",
        );
        assert_eq!(odd.sim_sid(), Some("HS2"), "an empty SimSid is no SimSid");
        assert_eq!(odd.status(), Some(Status::Unknown("retired".to_owned())));
    }

    #[test]
    fn the_deduplicator_is_bounded() {
        let seen = Deduplicator::new(2, Duration::from_secs(60));
        let t = Instant::now();
        assert!(!seen.is_replay_at("a", t));
        assert!(!seen.is_replay_at("b", t));
        assert!(!seen.is_replay_at("c", t), "a is forgotten to make room");
        assert_eq!(seen.len(), 2);
        assert!(!seen.is_replay_at("a", t));
        assert!(seen.is_replay_at("c", t));
        assert!(seen.forget("c"));
        assert!(!seen.forget("c"));
        assert!(!seen.is_replay_at("c", t));
        assert_eq!(Deduplicator::new(0, Duration::ZERO).capacity, 1);
    }
}
