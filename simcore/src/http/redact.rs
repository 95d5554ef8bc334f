//! Removing a client's own secrets from what it keeps of an answer.
//!
//! A provider (or a proxy in front of it) may quote the credential it was sent: an API that echoes
//! the token it rejected, a gateway that reflects a header. Every text the SDK keeps from a
//! response (an error's message, details, token, link, request id, a decode error's snippet and
//! parser message) passes through a [`Redactor`] holding the client's secrets in every form they
//! travel in, and each occurrence becomes [`REDACTED`].
//!
//! ```
//! use simcore::http::Redactor;
//! use simcore::secrecy::SecretString;
//!
//! let mut r = Redactor::new();
//! r.add(&SecretString::from("s3cr3t-token"));
//! assert_eq!(r.scrub("invalid token s3cr3t-token"), "invalid token [redacted]");
//! // The percent-encoded form of a secret (as echoed from a form body) goes too.
//! r.add(&SecretString::from("a+b/c"));
//! assert_eq!(r.scrub("client_secret=a%2Bb%2Fc"), "client_secret=[redacted]");
//! ```

use std::borrow::Cow;
use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use crate::error::{ApiError, Error};

/// What a secret is replaced with.
pub const REDACTED: &str = "[redacted]";

/// A set of secrets to cut out of texts. Its `Debug` shows how many it holds, never them.
#[derive(Clone, Default)]
pub struct Redactor {
    /// Every form of every secret, longest first (so a longer form is cut before a part of it).
    forms: Vec<SecretString>,
}

impl fmt::Debug for Redactor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Redactor({} forms)", self.forms.len())
    }
}

impl Redactor {
    /// An empty redactor.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret in the forms it may come back in: as it is, percent-encoded (a form body or
    /// a query quoted back), and JSON-escaped (a JSON body quoted as text). Empty secrets are
    /// ignored.
    pub fn add(&mut self, secret: &SecretString) {
        self.add_str(secret.expose_secret());
    }

    /// [`add`](Self::add) for a secret held as a plain string (an encoded form computed here).
    pub fn add_str(&mut self, secret: &str) {
        if secret.is_empty() {
            return;
        }
        let mut push = |s: String| {
            if !s.is_empty() && !self.forms.iter().any(|f| f.expose_secret() == s) {
                self.forms.push(SecretString::from(s));
            }
        };
        push(secret.to_owned());
        let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
        push(encoded);
        let escaped = serde_json::to_string(secret).unwrap_or_default();
        if escaped.len() >= 2 {
            push(escaped[1..escaped.len() - 1].to_owned());
        }
        self.forms
            .sort_by_key(|f| std::cmp::Reverse(f.expose_secret().len()));
    }

    /// Adds every secret of another redactor.
    pub fn extend(&mut self, other: &Redactor) {
        for f in &other.forms {
            self.add_str(f.expose_secret());
        }
    }

    /// Whether it holds no secret.
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// `text` with every secret replaced by [`REDACTED`].
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        let mut out = Cow::Borrowed(text);
        for form in &self.forms {
            let f = form.expose_secret();
            if out.contains(f) {
                out = Cow::Owned(out.replace(f, REDACTED));
            }
        }
        out
    }

    fn scrub_string(&self, s: &mut String) {
        if let Cow::Owned(clean) = self.scrub(s) {
            *s = clean;
        }
    }

    /// Scrubs every string (keys included) of a JSON value in place.
    pub fn scrub_value(&self, value: &mut Value) {
        match value {
            Value::String(s) => self.scrub_string(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_value(v)),
            Value::Object(map) => {
                let dirty: Vec<String> = map
                    .keys()
                    .filter(|k| matches!(self.scrub(k), Cow::Owned(_)))
                    .cloned()
                    .collect();
                for k in dirty {
                    if let Some(v) = map.remove(&k) {
                        map.insert(self.scrub(&k).into_owned(), v);
                    }
                }
                map.values_mut().for_each(|v| self.scrub_value(v));
            }
            _ => {}
        }
    }

    /// Scrubs every text an [`ApiError`] keeps from the answer.
    pub fn scrub_api(&self, api: &mut ApiError) {
        if self.is_empty() {
            return;
        }
        self.scrub_string(&mut api.message);
        for s in [&mut api.token, &mut api.more_info, &mut api.request_id]
            .into_iter()
            .flatten()
        {
            self.scrub_string(s);
        }
        if let Some(d) = api.details.as_mut() {
            self.scrub_value(d);
        }
    }

    /// Scrubs every text an error keeps from an answer or a connection failure.
    pub fn scrub_error(&self, mut error: Error) -> Error {
        if self.is_empty() {
            return error;
        }
        match &mut error {
            Error::Api(api) => self.scrub_api(api),
            Error::Decode {
                message,
                snippet,
                request_id,
                ..
            } => {
                self.scrub_string(message);
                self.scrub_string(snippet);
                if let Some(r) = request_id {
                    self.scrub_string(r);
                }
            }
            Error::Transport { message, .. } => self.scrub_string(message),
            _ => {}
        }
        error
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn with(secrets: &[&str]) -> Redactor {
        let mut r = Redactor::new();
        for s in secrets {
            r.add(&SecretString::from(*s));
        }
        r
    }

    #[test]
    fn every_form_goes() {
        let r = with(&["p@ss w\"rd"]);
        assert_eq!(r.scrub("x p@ss w\"rd y"), "x [redacted] y");
        assert_eq!(r.scrub("x p%40ss+w%22rd y"), "x [redacted] y");
        assert_eq!(r.scrub(r#"{"t":"p@ss w\"rd"}"#), r#"{"t":"[redacted]"}"#);
        assert_eq!(r.scrub("nothing here"), "nothing here");
        assert!(matches!(r.scrub("nothing here"), Cow::Borrowed(_)));
        assert!(!format!("{r:?}").contains("p@ss"));
        assert!(with(&[""]).is_empty());
    }

    #[test]
    fn longer_forms_go_first() {
        let r = with(&["abc", "abcdef"]);
        assert_eq!(r.scrub("abcdef abc"), "[redacted] [redacted]");
    }

    #[test]
    fn json_details_keys_and_values() {
        let r = with(&["TOKEN-1"]);
        let mut v = json!({"TOKEN-1": ["x TOKEN-1", {"k": "TOKEN-1"}], "n": 1});
        r.scrub_value(&mut v);
        assert_eq!(
            v,
            json!({"[redacted]": ["x [redacted]", {"k": "[redacted]"}], "n": 1})
        );
    }

    #[test]
    fn api_errors_and_decode_errors() {
        let r = with(&["SENTINEL"]);
        let mut api = ApiError::new("p", 401).with_message("bad SENTINEL");
        api.token = Some("SENTINEL".into());
        api.more_info = Some("https://x/?t=SENTINEL".into());
        api.request_id = Some("rq-SENTINEL".into());
        api.details = Some(json!(["SENTINEL"]));
        let e = r.scrub_error(Error::from(api));
        assert!(!format!("{e} {e:?}").contains("SENTINEL"), "{e:?}");
        let e = r.scrub_error(Error::decode("p", 200, "bad SENTINEL", b"{SENTINEL}"));
        assert!(!format!("{e} {e:?}").contains("SENTINEL"), "{e:?}");
    }

    proptest! {
        // Secrets of nine characters or more without brackets cannot be formed across the
        // marker's edges, nor lie inside it.
        #[test]
        fn a_secret_never_survives(
            before in "\\PC{0,20}",
            after in "\\PC{0,20}",
            secret in "[a-zA-Z0-9+/=@:._~-]{9,24}",
        ) {
            let r = with(&[&secret]);
            let encoded: String = url::form_urlencoded::byte_serialize(secret.as_bytes()).collect();
            for text in [
                format!("{before}{secret}{after}"),
                format!("{before}{encoded}{after}"),
                format!("{secret}{secret}"),
            ] {
                let clean = r.scrub(&text);
                prop_assert!(!clean.contains(&secret), "{clean}");
            }
        }
    }
}
