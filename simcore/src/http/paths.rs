//! Base URLs and paths: where a request may go, and how an id becomes exactly one path segment.

use std::net::IpAddr;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use url::{Host, Url};

use crate::error::{Error, Result};
use crate::validate::{check_id, quote};

/// What an id is encoded with: everything but RFC 3986's unreserved characters (`A-Z a-z 0-9 - .
/// _ ~`). A segment made of unreserved characters and `%XX` escapes is never reinterpreted by a
/// URL parser, a proxy or a server: it decodes back to exactly the id.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Checks a base URL: parseable, `https` (or `http` to a loopback host), no credentials, query or
/// fragment. The error never repeats a user name or password found in the URL.
pub fn check_base_url(base: &str) -> Result<Url> {
    let url = Url::parse(base)
        .map_err(|e| Error::Config(format!("base URL is not a valid absolute URL: {e}")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::Config(
            "base URL must not contain a user name or password; pass credentials to the client builder"
                .to_owned(),
        ));
    }
    if url.cannot_be_a_base() || url.host().is_none() {
        return Err(Error::Config(format!(
            "base URL must have a host: {}",
            quote(base)
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        // Not quoted: a query can carry a key.
        return Err(Error::Config(
            "base URL must not have a query or fragment".to_owned(),
        ));
    }
    match url.scheme() {
        "https" => Ok(url),
        "http" if is_loopback(&url) => Ok(url),
        "http" => Err(Error::Config(format!(
            "base URL must use https unless the host is loopback (127.0.0.0/8, ::1, localhost); got http://{}",
            url.host_str().unwrap_or_default()
        ))),
        other => Err(Error::Config(format!(
            "base URL scheme must be https (or http for loopback), not {other:?}"
        ))),
    }
}

/// Whether the URL's host is loopback (`127.0.0.0/8`, `::1`, `localhost`).
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(Host::Ipv6(ip)) => ip.is_loopback(),
        Some(Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The mark every credential and token a sandbox of this SDK issues carries (`simsandbox_`), so
/// that it can be recognised wherever it turns up: a throwaway credential from `simctl sandbox`
/// left in a shell, or a sandbox's token in a shared token store.
///
/// The transport never sends a credential with this mark to a host that is not loopback
/// ([`check_sandbox_credential`]): a shell set up for a sandbox cannot reach a real provider with
/// the sandbox's credentials.
pub const SANDBOX_CREDENTIAL_MARK: &str = "simsandbox_";

/// A credential as a sandbox issues it: `body` behind [`SANDBOX_CREDENTIAL_MARK`].
///
/// ```
/// use simcore::http::{is_sandbox_credential, sandbox_credential};
/// let key = sandbox_credential("3f9a0c");
/// assert_eq!(key, "simsandbox_3f9a0c");
/// assert!(is_sandbox_credential(&key));
/// assert!(!is_sandbox_credential("3f9a0c"));
/// ```
pub fn sandbox_credential(body: &str) -> String {
    format!("{SANDBOX_CREDENTIAL_MARK}{body}")
}

/// Whether a credential (or a header or body that carries one) was issued by a sandbox of this
/// SDK: it contains [`SANDBOX_CREDENTIAL_MARK`] anywhere.
pub fn is_sandbox_credential(secret: &str) -> bool {
    secret.contains(SANDBOX_CREDENTIAL_MARK)
}

/// Refuses to send a sandbox's credential to `url` unless its host is loopback: an
/// [`Error::Config`] that names the provider, the host and what to do, never the credential.
///
/// ```
/// use simcore::http::check_sandbox_credential;
/// let prod = url::Url::parse("https://cdn.emnify.net").unwrap();
/// let err = check_sandbox_credential("emnify", &prod).unwrap_err();
/// assert!(err.to_string().contains("issued by a local sandbox"));
/// let local = url::Url::parse("http://127.0.0.1:4010").unwrap();
/// assert!(check_sandbox_credential("emnify", &local).is_ok());
/// ```
pub fn check_sandbox_credential(provider: &str, url: &Url) -> Result<()> {
    if is_loopback(url) {
        return Ok(());
    }
    Err(Error::Config(format!(
        "{provider}: a credential issued by a local sandbox is never sent to {}, which is not a \
         loopback host: point the base URL at the sandbox (the `*_BASE_URL` variable \
         `simctl sandbox` exports beside its credentials) or use the provider's real credentials",
        url.host_str().unwrap_or_default(),
    )))
}

/// One id as a path segment: every character but `A-Z a-z 0-9 - . _ ~` percent-encoded (UTF-8).
///
/// ```
/// use simcore::http::encode_segment;
/// assert_eq!(encode_segment("../x?y#z%2F"), "..%2Fx%3Fy%23z%252F");
/// assert_eq!(encode_segment("pump 7+é"), "pump%207%2B%C3%A9");
/// ```
pub fn encode_segment(id: &str) -> String {
    utf8_percent_encode(id, SEGMENT).to_string()
}

/// Appends `segments` to `base`, each as exactly one percent-encoded path segment that decodes
/// back to itself ([`encode_segment`]). Refuses what [`check_id`] refuses, as an
/// [`Error::Invalid`] for the field `id`.
pub fn join_segments(base: &Url, segments: &[&str]) -> Result<Url> {
    if base.cannot_be_a_base() {
        return Err(Error::Config("base URL cannot carry a path".to_owned()));
    }
    let base_path = base.path().trim_end_matches('/');
    let mut path = String::with_capacity(
        base_path.len() + segments.iter().map(|s| s.len() + 1).sum::<usize>(),
    );
    path.push_str(base_path);
    for s in segments {
        check_id("id", s)?;
        path.push('/');
        // Encoded straight into the path: what encode_segment returns, without its own String.
        path.extend(utf8_percent_encode(s, SEGMENT));
    }
    let mut url = base.clone();
    if path.is_empty() {
        path.push('/');
    }
    url.set_path(&path);
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_rules() {
        for ok in [
            "https://api.example.com",
            "https://api.example.com/v1/",
            "http://127.0.0.1:8080",
            "http://127.5.5.5",
            "http://[::1]:9000/base",
            "http://localhost:1234",
        ] {
            assert!(check_base_url(ok).is_ok(), "{ok}");
        }
        for bad in [
            "http://api.example.com",
            "http://10.0.0.1",
            "ftp://127.0.0.1",
            "not a url",
            "https://user:pw@api.example.com",
            "https://api.example.com/?q=1",
            "https://api.example.com/#f",
            "mailto:someone@example.com",
        ] {
            let e = check_base_url(bad).unwrap_err();
            assert!(matches!(e, Error::Config(_)), "{bad}");
        }
        let e = check_base_url("https://user:hunter2@api.example.com").unwrap_err();
        assert!(!e.to_string().contains("hunter2"));
    }

    #[test]
    fn segments_stay_segments() {
        let base = Url::parse("https://api.example.com/v1/").unwrap();
        let u = join_segments(&base, &["sims", "../x?y#z%2F"]).unwrap();
        assert_eq!(
            u.as_str(),
            "https://api.example.com/v1/sims/..%2Fx%3Fy%23z%252F"
        );
        assert_eq!(u.query(), None);
        assert_eq!(u.fragment(), None);
        let u = join_segments(&base, &["a b/c"]).unwrap();
        assert_eq!(u.path(), "/v1/a%20b%2Fc");
        for bad in [
            "", ".", "..", "a\tb", "\n", " \r", "..\t", "\u{7f}", "\u{85}",
        ] {
            let e = join_segments(&base, &[bad]).unwrap_err();
            assert!(matches!(e, Error::Invalid(_)), "{bad:?}");
        }
        let root = Url::parse("https://api.example.com").unwrap();
        assert_eq!(join_segments(&root, &["x"]).unwrap().path(), "/x");
        assert_eq!(join_segments(&root, &[]).unwrap().path(), "/");
        // Whitespace and dots padded with other characters are ids like any other.
        assert_eq!(join_segments(&root, &["   "]).unwrap().path(), "/%20%20%20");
        assert_eq!(join_segments(&root, &[". ."]).unwrap().path(), "/.%20.");
        assert_eq!(join_segments(&root, &["..."]).unwrap().path(), "/...");
        assert_eq!(join_segments(&root, &["\\x"]).unwrap().path(), "/%5Cx");
    }
}
