//! What Twilio's Super SIM API returns.
//!
//! Everything here is tolerant on read: every field is optional (Twilio marks each one nullable),
//! unknown fields are ignored, a status Twilio adds later is kept as [`Status::Unknown`], and a
//! timestamp in a format this crate does not read becomes `None` rather than failing the whole
//! answer. The lifecycle Twilio documents over these statuses ([`LIFECYCLE`]) is here beside them.

use chrono::{DateTime, Utc};
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer};
use simcore::Lifecycle;
use std::fmt;

simcore::open_enum! {
    /// A Super SIM's status as Twilio reports it (`new`, `ready`, `active`, `inactive`,
    /// `scheduled`); a status Twilio adds later is kept as `Unknown`.
    pub enum Status {
        /// Never used; the only status from which `ready` can be set and the account moved.
        New = "new",
        /// Ready: becomes `active` by itself after 250 KB of data, five SMS commands or three months.
        Ready = "ready",
        /// Active: may connect, billed.
        Active = "active",
        /// Inactive: may not connect.
        Inactive = "inactive",
        /// A status or fleet change was accepted and is being applied.
        Scheduled = "scheduled",
    }
}

/// A Super SIM, as `GET /v1/Sims/{Sid}`, `POST /v1/Sims/{Sid}` and the list return it.
///
/// ```
/// use supersim_client::{Sim, Status};
///
/// let sim: Sim = serde_json::from_str(r#"{
///     "sid": "HSaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
///     "status": "scheduled",
///     "unique_name": null,
///     "date_created": "2015-07-30T20:00:00Z",
///     "a_field_added_later": true
/// }"#)?;
/// assert_eq!(sim.status, Some(Status::Scheduled));
/// assert!(sim.is_scheduled());
/// assert_eq!(sim.unique_name, None);
/// assert_eq!(sim.date_created.unwrap().to_rfc3339(), "2015-07-30T20:00:00+00:00");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct Sim {
    /// The Sim SID (`HS` + 32 hex digits).
    pub sid: Option<String>,
    /// The application-defined unique name; it can address the SIM in place of its SID.
    pub unique_name: Option<String>,
    /// The SID of the account the SIM belongs to (`AC` + 32 hex digits).
    pub account_sid: Option<String>,
    /// The ICCID.
    pub iccid: Option<String>,
    /// The status.
    pub status: Option<Status>,
    /// The SID of the SIM's fleet (`HF` + 32 hex digits).
    pub fleet_sid: Option<String>,
    /// When the SIM was created (`None` when absent or in a format this crate does not read).
    #[serde(deserialize_with = "lenient_time")]
    pub date_created: Option<DateTime<Utc>>,
    /// When the SIM was last updated (`None` when absent or unreadable).
    #[serde(deserialize_with = "lenient_time")]
    pub date_updated: Option<DateTime<Utc>>,
    /// The absolute URL of the resource.
    pub url: Option<String>,
    /// URLs of related resources.
    pub links: Option<SimLinks>,
}

/// Every Sim Twilio returns carries its SID and status; an answer without them is not Twilio's.
impl simcore::http::Resource for Sim {
    fn missing(&self) -> Option<&'static str> {
        if self.sid.is_none() {
            Some("sid")
        } else if self.status.is_none() {
            Some("status")
        } else {
            None
        }
    }
}

/// A page carries the `sims` list (checked when it is read), and every SIM on it its SID and
/// status.
impl simcore::http::Resource for SimsPage {
    fn missing(&self) -> Option<&'static str> {
        self.sims
            .iter()
            .find_map(Sim::missing)
            .map(|what| match what {
                "sid" => "sid on a listed SIM",
                _ => "status on a listed SIM",
            })
    }
}

impl Sim {
    /// Whether Twilio reports the SIM as `scheduled` (a change is being applied).
    pub fn is_scheduled(&self) -> bool {
        self.status == Some(Status::Scheduled)
    }
}

/// URLs of a SIM's related resources.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
#[non_exhaustive]
pub struct SimLinks {
    /// The SIM's billing periods.
    pub billing_periods: Option<String>,
    /// The SIM's IP addresses.
    pub sim_ip_addresses: Option<String>,
}

/// One page of `GET /v1/Sims` as Twilio sends it: the SIMs and the paging envelope. The list
/// hands it on as a [`simcore::paging::Page`].
///
/// The `sims` key must be there (`null` reads as no SIMs): a page without it is not Twilio's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub(crate) struct SimsPage {
    /// The SIMs on this page.
    #[serde(deserialize_with = "null_as_empty")]
    pub(crate) sims: Vec<Sim>,
    /// Where this page is and where the next one is.
    #[serde(default)]
    pub(crate) meta: PageMeta,
}

impl SimsPage {
    /// The absolute URL of the next page, or `None` on the last page.
    pub(crate) fn next_page_url(&self) -> Option<&str> {
        self.meta.next_page_url.as_deref().filter(|u| !u.is_empty())
    }
}

/// A page read for [`SimProvider::list`](simcore::SimProvider::list): the paging envelope in
/// full, and of each SIM only what a snapshot holds (SID, unique name, ICCID, status); every
/// other field is skipped unread. A plan lists whole fleets: this is most of what it costs here.
#[derive(Deserialize)]
pub(crate) struct SnapshotPage {
    #[serde(deserialize_with = "null_as_empty_of")]
    sims: Vec<SnapshotSim>,
    #[serde(default)]
    meta: PageMeta,
}

#[derive(Default, Deserialize)]
#[serde(default)]
struct SnapshotSim {
    sid: Option<String>,
    unique_name: Option<String>,
    iccid: Option<String>,
    status: Option<Status>,
}

impl From<SnapshotPage> for SimsPage {
    fn from(page: SnapshotPage) -> Self {
        SimsPage {
            sims: page
                .sims
                .into_iter()
                .map(|s| Sim {
                    sid: s.sid,
                    unique_name: s.unique_name,
                    iccid: s.iccid,
                    status: s.status,
                    ..Sim::default()
                })
                .collect(),
            meta: page.meta,
        }
    }
}

/// Twilio's paging envelope (`meta`): what the list reads of it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub(crate) struct PageMeta {
    /// The URL of the next page; `None` on the last page.
    pub(crate) next_page_url: Option<String>,
    /// The URL of this page.
    pub(crate) url: Option<String>,
}

/// Reads an RFC 3339 timestamp (what Super SIM sends) or an RFC 2822 one (what older Twilio APIs
/// send); anything else, `null` included, is `None`. The text is read where it lies in the
/// answer (no copy, no intermediate JSON value): a page of a thousand SIMs has two thousand.
fn lenient_time<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
    struct Lenient;

    impl<'de> Visitor<'de> for Lenient {
        type Value = Option<DateTime<Utc>>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a timestamp, or anything else (read as none)")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            Ok(DateTime::parse_from_rfc3339(s)
                .or_else(|_| DateTime::parse_from_rfc2822(s))
                .ok()
                .map(|t| t.with_timezone(&Utc)))
        }

        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_some<D2: Deserializer<'de>>(self, d: D2) -> Result<Self::Value, D2::Error> {
            d.deserialize_any(self)
        }

        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok(None)
        }

        fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<de::IgnoredAny>()?.is_some() {}
            Ok(None)
        }

        fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map
                .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
                .is_some()
            {}
            Ok(None)
        }
    }

    d.deserialize_any(Lenient)
}

fn null_as_empty<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Sim>, D::Error> {
    null_as_empty_of(d)
}

fn null_as_empty_of<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// Every status change Twilio documents for a Super SIM: a SIM never returns to `new`; `ready`
/// can be set only from `new`; `active` and `inactive` alternate. Nothing is documented from
/// `scheduled` (a change is in flight): a known `scheduled` SIM is refused any change.
pub static TRANSITIONS: &[(Status, Status)] = &[
    (Status::New, Status::Ready),
    (Status::New, Status::Active),
    (Status::New, Status::Inactive),
    (Status::Ready, Status::Active),
    (Status::Ready, Status::Inactive),
    (Status::Active, Status::Inactive),
    (Status::Inactive, Status::Active),
];

/// The Super SIM lifecycle over Twilio's own statuses. Its refusals name Twilio's dialect; a
/// KORE client's name KORE's (errors say which API would have answered).
pub static LIFECYCLE: Lifecycle<Status> = Lifecycle::table("twilio", TRANSITIONS);

/// The HTTP method Twilio uses to call the callback URL (Twilio's default is `POST`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum CallbackMethod {
    /// `GET`.
    Get,
    /// `POST` (Twilio's default).
    #[default]
    Post,
}

impl CallbackMethod {
    /// The method's name as sent.
    pub fn as_str(self) -> &'static str {
        match self {
            CallbackMethod::Get => "GET",
            CallbackMethod::Post => "POST",
        }
    }
}

impl fmt::Display for CallbackMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_field_may_be_missing_or_null() {
        let sim: Sim = serde_json::from_value(json!({})).unwrap();
        assert_eq!(sim, Sim::default());
        let nulls = json!({
            "sid": null, "unique_name": null, "account_sid": null, "iccid": null, "status": null,
            "fleet_sid": null, "date_created": null, "date_updated": null, "url": null, "links": null
        });
        let sim: Sim = serde_json::from_value(nulls).unwrap();
        assert_eq!(sim, Sim::default());
    }

    #[test]
    fn unknown_status_and_fields_are_kept_or_ignored() {
        let sim: Sim =
            serde_json::from_value(json!({"status": "suspended", "new_field": [1, 2]})).unwrap();
        assert_eq!(sim.status, Some(Status::Unknown("suspended".into())));
        assert!(!sim.is_scheduled());
    }

    #[test]
    fn timestamps_are_read_leniently() {
        let sim: Sim = serde_json::from_value(json!({
            "date_created": "Thu, 30 Jul 2015 20:00:00 +0000",
            "date_updated": "yesterday"
        }))
        .unwrap();
        assert_eq!(
            sim.date_created.unwrap().to_rfc3339(),
            "2015-07-30T20:00:00+00:00"
        );
        assert_eq!(sim.date_updated, None);
        let sim: Sim = serde_json::from_value(json!({"date_created": 12})).unwrap();
        assert_eq!(sim.date_created, None);
        let sim: Sim = serde_json::from_str(
            r#"{"date_created": [1, {"a": 2}], "date_updated": {"at": "2015-07-30T20:00:00Z"}, "sid": "HSx"}"#,
        )
        .unwrap();
        assert_eq!((sim.date_created, sim.date_updated), (None, None));
        assert_eq!(sim.sid.as_deref(), Some("HSx"));
        let sim: Sim = serde_json::from_str(
            r#"{"date_created": "2015-07-30T20:00:00\u005a", "date_updated": true}"#,
        )
        .unwrap();
        assert_eq!(
            sim.date_created.unwrap().to_rfc3339(),
            "2015-07-30T20:00:00+00:00"
        );
    }

    #[test]
    fn a_snapshot_page_reads_what_a_snapshot_holds() {
        let body = json!({
            "sims": [{
                "sid": "HSa", "unique_name": "pump", "iccid": "8988", "status": "active",
                "account_sid": "ACa", "date_created": "2015-07-30T20:00:00Z",
                "links": {"billing_periods": "x"}, "url": "u", "more": [1]
            }],
            "meta": {"next_page_url": "n", "url": "this"}
        });
        let page: SimsPage = serde_json::from_value::<SnapshotPage>(body.clone())
            .unwrap()
            .into();
        let full: SimsPage = serde_json::from_value(body).unwrap();
        assert_eq!(page.meta, full.meta);
        let (lean, full) = (&page.sims[0], &full.sims[0]);
        assert_eq!(
            (&lean.sid, &lean.unique_name, &lean.iccid, &lean.status),
            (&full.sid, &full.unique_name, &full.iccid, &full.status)
        );
        assert_eq!((lean.url.as_deref(), lean.date_created), (None, None));
        assert!(serde_json::from_value::<SnapshotPage>(json!({"meta": {}})).is_err());
        let empty: SimsPage = serde_json::from_value::<SnapshotPage>(json!({"sims": null}))
            .unwrap()
            .into();
        assert!(empty.sims.is_empty());
    }

    #[test]
    fn page_envelope() {
        let page: SimsPage = serde_json::from_value(json!({
            "sims": null,
            "meta": {"next_page_url": "", "page": 0, "page_size": 50, "key": "sims"}
        }))
        .unwrap();
        assert!(page.sims.is_empty());
        assert_eq!(page.next_page_url(), None);
        // Without its `sims` key a page is not Twilio's.
        assert!(serde_json::from_value::<SimsPage>(json!({})).is_err());
        let page: SimsPage = serde_json::from_value(json!({"sims": []})).unwrap();
        assert_eq!(page, SimsPage::default());
    }
}
