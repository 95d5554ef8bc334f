//! An explicit proxy, with its credentials kept secret.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::{ExposeSecret, SecretString};
use url::Url;

use super::Redactor;
use crate::error::{Error, Result};

/// A proxy every request goes through: an `http://` or `https://` proxy URL, optional Basic
/// credentials, and hosts to reach directly.
///
/// Credentials written in the URL (`http://user:pass@proxy:3128`) are taken out of it and held
/// like the ones given with [`Proxy::basic_auth`]: `Debug` shows the proxy's scheme, host and port
/// only, and an error that quotes the password shows `[redacted]`.
///
/// ```
/// use simcore::http::Proxy;
/// let p = Proxy::new("http://ops:SENTINEL@proxy.internal:3128")?.no_proxy("localhost,.internal");
/// assert_eq!(format!("{p:?}"), "Proxy(http://proxy.internal:3128/, credentials: [redacted], no_proxy: \"localhost,.internal\")");
/// # Ok::<(), simcore::Error>(())
/// ```
#[derive(Clone)]
pub struct Proxy {
    url: Url,
    user: Option<String>,
    password: Option<SecretString>,
    no_proxy: Option<String>,
}

impl Proxy {
    /// A proxy at `url` (`http://host:port` or `https://host:port`). A URL that does not parse, or
    /// has another scheme, is an [`Error::Config`] that never quotes it (it may hold a password).
    pub fn new(url: &str) -> Result<Self> {
        let mut url = Url::parse(url).map_err(|e| {
            Error::Config(format!("the proxy URL is not a valid absolute URL: {e}"))
        })?;
        if !matches!(url.scheme(), "http" | "https") || url.host().is_none() {
            return Err(Error::Config(
                "the proxy URL must be http:// or https:// with a host".to_owned(),
            ));
        }
        let user = (!url.username().is_empty()).then(|| decode(url.username()));
        let password = url.password().map(|p| SecretString::from(decode(p)));
        let _ = url.set_username("");
        let _ = url.set_password(None);
        Ok(Self {
            url,
            user,
            password,
            no_proxy: None,
        })
    }

    /// Authenticates to the proxy with Basic credentials.
    pub fn basic_auth(
        mut self,
        user: impl Into<String>,
        password: impl Into<SecretString>,
    ) -> Self {
        self.user = Some(user.into());
        self.password = Some(password.into());
        self
    }

    /// Hosts reached directly, not through the proxy, in `NO_PROXY` syntax (`"localhost,
    /// .example.com, 10.0.0.0/8"`).
    pub fn no_proxy(mut self, hosts: impl Into<String>) -> Self {
        self.no_proxy = Some(hosts.into());
        self
    }

    pub(super) fn to_reqwest(&self) -> Result<reqwest::Proxy> {
        let mut p = reqwest::Proxy::all(self.url.as_str()).map_err(|_| {
            Error::Config("the proxy URL was refused by the HTTP client".to_owned())
        })?;
        if let Some(user) = &self.user {
            let pw = self
                .password
                .as_ref()
                .map(|s| s.expose_secret())
                .unwrap_or("");
            p = p.basic_auth(user, pw);
        }
        if let Some(list) = &self.no_proxy {
            p = p.no_proxy(reqwest::NoProxy::from_string(list));
        }
        Ok(p)
    }

    pub(super) fn add_secrets(&self, r: &mut Redactor) {
        if let Some(pw) = &self.password {
            r.add(pw);
            let user = self.user.as_deref().unwrap_or("");
            r.add_str(&STANDARD.encode(format!("{user}:{}", pw.expose_secret())));
        }
    }
}

fn decode(s: &str) -> String {
    percent_encoding::percent_decode_str(s)
        .decode_utf8_lossy()
        .into_owned()
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Proxy({}", self.url)?;
        if self.user.is_some() || self.password.is_some() {
            f.write_str(", credentials: [redacted]")?;
        }
        if let Some(n) = &self.no_proxy {
            write!(f, ", no_proxy: {n:?}")?;
        }
        f.write_str(")")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_leave_the_url() {
        let p = Proxy::new("http://ops:p%40ss@proxy.internal:3128").unwrap();
        assert_eq!(p.url.as_str(), "http://proxy.internal:3128/");
        assert_eq!(p.user.as_deref(), Some("ops"));
        assert_eq!(p.password.as_ref().unwrap().expose_secret(), "p@ss");
        let mut r = Redactor::new();
        p.add_secrets(&mut r);
        assert_eq!(r.scrub("echo p@ss"), "echo [redacted]");
        assert!(!format!("{p:?}").contains("p@ss"));
        for bad in ["socks5://h:1", "not a url", "http://"] {
            let e = Proxy::new(bad).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{bad}");
        }
        assert!(p.to_reqwest().is_ok());
    }
}
