//! The callback itself: a verified request read into a [`SimCallback`].

use super::*;

pub(super) const FORM: &str = "application/x-www-form-urlencoded";
pub(super) const JSON: &str = "application/json";

pub(super) fn content_type(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
}

pub(super) fn content_type_is(headers: &HeaderMap, wanted: &str) -> bool {
    content_type(headers)
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(wanted))
}

/// A Super SIM callback, read tolerantly.
///
/// **Its payload is not documented by the provider.** The pairs are kept whole and in order
/// ([`pairs`](Self::pairs)); the well-known fields are read leniently, trying several plausible
/// names and ignoring case and underscores (`SimSid`, `sim_sid` and `simSid` are one name), and
/// may be absent. Fetch the SIM ([`crate::Client::get_sim`]) for its final state.
///
/// ```
/// use http::HeaderMap;
/// use supersim_client::Status;
/// use supersim_client::callbacks::SimCallback;
///
/// let callback = SimCallback::read_unverified(
///     "GET",
///     "https://hooks.example.com/done?site=north&Sid=HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa&SimStatus=Inactive",
///     &HeaderMap::new(),
///     b"",
/// );
/// assert_eq!(callback.param("site"), Some("north"));
/// assert_eq!(callback.sim_sid(), Some("HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
/// assert_eq!(callback.status(), Some(Status::Inactive));
/// assert_eq!(callback.fleet(), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SimCallback {
    method: String,
    url: String,
    pairs: Vec<(String, String)>,
    body: Bytes,
    idempotency_token: Option<String>,
}

impl SimCallback {
    /// Reads a callback without checking any signature (the verifiers call this once the
    /// signature holds). The pairs come from the query for a `GET` or `HEAD`; otherwise from a
    /// form body, or the top-level members of a JSON object body (strings as they are, other
    /// values as JSON text, `null` left out), or a form when there is no `Content-Type`.
    pub fn read_unverified(method: &str, url: &str, headers: &HeaderMap, body: &[u8]) -> Self {
        let method = method.to_ascii_uppercase();
        let pairs = if matches!(method.as_str(), "GET" | "HEAD") {
            let query = url
                .split_once('?')
                .map_or("", |(_, q)| q.split('#').next().unwrap_or_default());
            form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect()
        } else if content_type_is(headers, FORM) {
            form_urlencoded::parse(body).into_owned().collect()
        } else if content_type_is(headers, JSON) || body.trim_ascii_start().starts_with(b"{") {
            json_pairs(body)
        } else if content_type(headers).is_none() {
            form_urlencoded::parse(body).into_owned().collect()
        } else {
            Vec::new()
        };
        let idempotency_token = headers
            .get(KORE_IDEMPOTENCY_TOKEN)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_owned);
        Self {
            method,
            url: url.to_owned(),
            pairs,
            body: Bytes::copy_from_slice(body),
            idempotency_token,
        }
    }

    /// The method it came with (`"POST"` or `"GET"`).
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The URL it was sent to.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every pair, as received and in order (for a `GET`, the query's own pairs too).
    pub fn pairs(&self) -> &[(String, String)] {
        &self.pairs
    }

    /// The raw body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The first value of a pair, by its exact name.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The first non-empty value under any of `names`, tried in order, ignoring case and `_`.
    pub fn lenient(&self, names: &[&str]) -> Option<&str> {
        names.iter().find_map(|wanted| {
            let wanted = normalize(wanted);
            self.pairs
                .iter()
                .find(|(k, v)| !v.trim().is_empty() && normalize(k) == wanted)
                .map(|(_, v)| v.trim())
        })
    }

    /// The Sim SID (`SimSid`, else `Sid`).
    pub fn sim_sid(&self) -> Option<&str> {
        self.lenient(&["SimSid", "Sid"])
    }

    /// The SIM's unique name (`SimUniqueName`, else `UniqueName`).
    pub fn unique_name(&self) -> Option<&str> {
        self.lenient(&["SimUniqueName", "UniqueName"])
    }

    /// The SIM's status (`Status`, else `SimStatus`), in any case; a word this crate does not
    /// know is kept as [`Status::Unknown`].
    pub fn status(&self) -> Option<Status> {
        self.lenient(&["Status", "SimStatus"])
            .map(|s| Status::from(s.to_ascii_lowercase().as_str()))
    }

    /// The SIM's fleet: its SID or unique name (`FleetSid`, else `Fleet`).
    pub fn fleet(&self) -> Option<&str> {
        self.lenient(&["FleetSid", "Fleet"])
    }

    /// The account's SID (`AccountSid`).
    pub fn account_sid(&self) -> Option<&str> {
        self.lenient(&["AccountSid"])
    }

    /// The SIM's ICCID (`Iccid`, else `SimIccid`).
    pub fn iccid(&self) -> Option<&str> {
        self.lenient(&["Iccid", "SimIccid"])
    }

    /// The `kore-idempotency-token` header: unique per event, the same on every delivery of it
    /// (see [`Deduplicator`]). It is not covered by the signature.
    pub fn idempotency_token(&self) -> Option<&str> {
        self.idempotency_token.as_deref()
    }
}

pub(super) fn normalize(name: &str) -> String {
    name.chars()
        .filter(|c| *c != '_' && *c != '-')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The top-level members of a JSON object, in the order they were written.
pub(super) struct Members(Vec<(String, serde_json::Value)>);

impl<'de> serde::Deserialize<'de> for Members {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visit;
        impl<'de> serde::de::Visitor<'de> for Visit {
            type Value = Members;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Members, A::Error> {
                let mut out = Vec::new();
                while let Some(member) = map.next_entry()? {
                    out.push(member);
                }
                Ok(Members(out))
            }
        }
        d.deserialize_map(Visit)
    }
}

pub(super) fn json_pairs(body: &[u8]) -> Vec<(String, String)> {
    let Ok(Members(members)) = serde_json::from_slice(body) else {
        return Vec::new();
    };
    members
        .into_iter()
        .filter_map(|(k, v)| match v {
            serde_json::Value::Null => None,
            serde_json::Value::String(s) => Some((k, s)),
            other => Some((k, other.to_string())),
        })
        .collect()
}
