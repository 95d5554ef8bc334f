//! What emnify's API returns, read tolerantly: keys emnify omits when empty are `None`, unknown
//! keys are ignored, an unknown status id is kept in [`SimStatus::Unknown`].

use std::fmt;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::de::{self, Deserializer};
use serde::ser::{SerializeStruct, Serializer};
use serde::{Deserialize, Serialize};
use simcore::Lifecycle;

/// A SIM's status, identified by emnify's numeric id (compare by id: descriptions changed
/// over time, older docs say "Active" for 1).
///
/// On the wire it is an object, `{"id": 1, "description": "Activated"}`; only the id is read.
/// `#[non_exhaustive]`: emnify may add statuses.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SimStatus {
    /// 0: issued, never activated.
    Issued,
    /// 1: activated; emnify charges for it.
    Activated,
    /// 2: suspended.
    Suspended,
    /// 3: deleted (reached with `DELETE`, never with a status update).
    Deleted,
    /// 4: factory test; becomes activated by itself after 100 KB or 10 SMS.
    FactoryTest,
    /// An id this SDK does not know.
    Unknown(i64),
}

impl SimStatus {
    /// Every known status, by id.
    pub const KNOWN: &'static [SimStatus] = &[
        SimStatus::Issued,
        SimStatus::Activated,
        SimStatus::Suspended,
        SimStatus::Deleted,
        SimStatus::FactoryTest,
    ];

    /// emnify's numeric id.
    pub fn id(&self) -> i64 {
        match self {
            SimStatus::Issued => 0,
            SimStatus::Activated => 1,
            SimStatus::Suspended => 2,
            SimStatus::Deleted => 3,
            SimStatus::FactoryTest => 4,
            SimStatus::Unknown(id) => *id,
        }
    }

    /// The status for an id.
    pub fn from_id(id: i64) -> Self {
        match id {
            0 => SimStatus::Issued,
            1 => SimStatus::Activated,
            2 => SimStatus::Suspended,
            3 => SimStatus::Deleted,
            4 => SimStatus::FactoryTest,
            other => SimStatus::Unknown(other),
        }
    }

    /// emnify's description of the status.
    pub fn description(&self) -> String {
        match self {
            SimStatus::Issued => "Issued".into(),
            SimStatus::Activated => "Activated".into(),
            SimStatus::Suspended => "Suspended".into(),
            SimStatus::Deleted => "Deleted".into(),
            SimStatus::FactoryTest => "Factory Test".into(),
            SimStatus::Unknown(id) => format!("status {id}"),
        }
    }

    /// Whether this is an id this SDK does not know.
    pub fn is_unknown(&self) -> bool {
        matches!(self, SimStatus::Unknown(_))
    }
}

impl fmt::Display for SimStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.description())
    }
}

impl Serialize for SimStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("SimStatus", 2)?;
        st.serialize_field("id", &self.id())?;
        st.serialize_field("description", &self.description())?;
        st.end()
    }
}

impl<'de> Deserialize<'de> for SimStatus {
    /// Reads `{"id": n, ...}` (the documented form) or a bare id `n`, in place: a page of 2,500
    /// SIMs has 2,500 of them.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct StatusVisitor;

        const EXPECTED: &str = "a SIM status as {\"id\": <integer>} or an integer";

        impl<'de> de::Visitor<'de> for StatusVisitor {
            type Value = SimStatus;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(EXPECTED)
            }

            fn visit_i64<E: de::Error>(self, id: i64) -> Result<SimStatus, E> {
                Ok(SimStatus::from_id(id))
            }

            fn visit_u64<E: de::Error>(self, id: u64) -> Result<SimStatus, E> {
                i64::try_from(id)
                    .map(SimStatus::from_id)
                    .map_err(|_| E::custom(EXPECTED))
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<SimStatus, A::Error> {
                let mut id = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == "id" {
                        id = Some(
                            map.next_value::<i64>()
                                .map_err(|_| de::Error::custom(EXPECTED))?,
                        );
                    } else {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
                id.map(SimStatus::from_id)
                    .ok_or_else(|| de::Error::custom(EXPECTED))
            }
        }

        d.deserialize_any(StatusVisitor)
    }
}

simcore::open_enum! {
    /// An organisation's type, as emnify describes it. The update rules depend on it (see
    /// [`rules`](crate::rules)).
    ///
    /// The words are those of emnify's SIM update documentation. emnify's numeric ids for
    /// organisation types are not in the sources this SDK follows, so callers map their own
    /// organisation data onto this enum.
    pub enum OrgType {
        /// A mobile network operator.
        MobileNetworkOperator = "Mobile Network Operator",
        /// A service provider.
        ServiceProvider = "Service Provider",
        /// A reseller.
        Reseller = "Reseller",
        /// An enterprise (an end customer).
        Enterprise = "Enterprise",
    }
}

/// A SIM, as `GET /api/v1/sim/{sim_id}` returns it.
///
/// emnify omits keys that are empty (a SIM without an endpoint has no `endpoint` key), so every
/// field but the id is optional.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Sim {
    /// emnify's numeric SIM id (the one [`Client::get_sim`](crate::Client::get_sim) takes).
    pub id: u64,
    /// The ICCID without its Luhn check digit (19 digits).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iccid: Option<String>,
    /// The ICCID with its Luhn check digit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iccid_with_luhn: Option<String>,
    /// The eUICC id, for eSIMs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eid: Option<String>,
    /// The status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SimStatus>,
    /// The organisation that issued the SIM.
    #[serde(
        default,
        deserialize_with = "org_ref",
        skip_serializing_if = "Option::is_none"
    )]
    pub issuer_org: Option<Organisation>,
    /// The reseller organisation, if any.
    #[serde(
        default,
        deserialize_with = "org_ref",
        skip_serializing_if = "Option::is_none"
    )]
    pub reseller_org: Option<Organisation>,
    /// The customer organisation, if any.
    #[serde(
        default,
        deserialize_with = "org_ref",
        skip_serializing_if = "Option::is_none"
    )]
    pub customer_org: Option<Organisation>,
    /// The endpoint (device) the SIM is assigned to, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<Endpoint>,
    /// The IMSI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imsi: Option<String>,
    /// The MSISDN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub msisdn: Option<String>,
    /// The SIM model (form factor, manufacturer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<SimModel>,
    /// When the SIM was produced.
    #[serde(default, with = "timestamp", skip_serializing_if = "Option::is_none")]
    pub production_date: Option<DateTime<Utc>>,
    /// When the SIM was first activated.
    #[serde(default, with = "timestamp", skip_serializing_if = "Option::is_none")]
    pub activation_date: Option<DateTime<Utc>>,
}

/// Every SIM emnify returns carries its id (required to read it at all) and its status.
impl simcore::http::Resource for Sim {
    fn missing(&self) -> Option<&'static str> {
        self.status.is_none().then_some("status")
    }
}

impl Sim {
    /// The ICCID as complete as emnify reported it: with the Luhn digit when known.
    pub fn best_iccid(&self) -> Option<&str> {
        self.iccid_with_luhn.as_deref().or(self.iccid.as_deref())
    }
}

/// A SIM read for [`SimProvider::list`](simcore::SimProvider::list): only what a snapshot
/// holds (id, ICCIDs, status); every other key is skipped unread. A plan lists whole fleets.
#[derive(Deserialize)]
pub(crate) struct SnapshotSim {
    id: u64,
    #[serde(default)]
    iccid: Option<String>,
    #[serde(default)]
    iccid_with_luhn: Option<String>,
    #[serde(default)]
    status: Option<SimStatus>,
}

impl From<SnapshotSim> for Sim {
    fn from(s: SnapshotSim) -> Self {
        Sim {
            id: s.id,
            iccid: s.iccid,
            iccid_with_luhn: s.iccid_with_luhn,
            eid: None,
            status: s.status,
            issuer_org: None,
            reseller_org: None,
            customer_org: None,
            endpoint: None,
            imsi: None,
            msisdn: None,
            model: None,
            production_date: None,
            activation_date: None,
        }
    }
}

pub mod paging_headers {
    //! The headers emnify pages `GET /api/v1/sim` with, named as emnify sends them (HTTP
    //! compares header names without regard to case). Recorded from emnify's API: a list of 12
    //! SIMs asked with no query answers `X-Count-Per-Page: 2000`, `X-Current-Page: 1`,
    //! `X-Sort: id`, `X-Total-Count: 12`, `X-Total-Pages: 1`: pages count from 1, and every
    //! value is a plain decimal number (the sort a field name).

    /// The page size emnify applied.
    pub const COUNT_PER_PAGE: &str = "X-Count-Per-Page";
    /// The page this is, counting from 1.
    pub const CURRENT_PAGE: &str = "X-Current-Page";
    /// The field the list is sorted by.
    pub const SORT: &str = "X-Sort";
    /// How many SIMs the whole list holds.
    pub const TOTAL_COUNT: &str = "X-Total-Count";
    /// How many pages the whole list takes at this page size.
    pub const TOTAL_PAGES: &str = "X-Total-Pages";
}

/// The paging emnify sends with a page of `GET /api/v1/sim` ([`paging_headers`]), read as
/// numbers: what decides whether another page follows, and the list's total. Each header may be
/// missing, and a value that is not a plain decimal number counts as missing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct PageHeaders {
    /// `X-Count-Per-Page`: the page size emnify applied.
    pub(crate) count_per_page: Option<u32>,
    /// `X-Total-Count`: the SIMs in the whole list.
    pub(crate) total_count: Option<u64>,
    /// `X-Total-Pages`: the pages of the whole list.
    pub(crate) total_pages: Option<u32>,
}

impl PageHeaders {
    /// The paging read from an answer's headers by `header` (a lookup by name).
    pub(crate) fn read<'h>(header: impl Fn(&str) -> Option<&'h str>) -> Self {
        let number = |name: &str| header(name).and_then(|v| v.trim().parse::<u64>().ok());
        let small = |name: &str| number(name).and_then(|n| u32::try_from(n).ok());
        PageHeaders {
            count_per_page: small(paging_headers::COUNT_PER_PAGE),
            total_count: number(paging_headers::TOTAL_COUNT),
            total_pages: small(paging_headers::TOTAL_PAGES),
        }
    }

    /// Whether a page follows page `page` (asked with `per_page`, or emnify's default), which
    /// holds `count` SIMs. An empty page is the last; otherwise `X-Total-Pages` decides, else
    /// `X-Total-Count`, else (no paging headers at all) whether this page is full. The page
    /// counted is the one asked for, never `X-Current-Page`, so a server that names another
    /// page cannot make a listing go back.
    pub(crate) fn has_next(&self, page: u32, per_page: u32, count: usize) -> bool {
        if count == 0 {
            return false;
        }
        if let Some(pages) = self.total_pages {
            return page < pages;
        }
        let size = self.count_per_page.unwrap_or(per_page);
        if let Some(total) = self.total_count {
            let seen = u64::from(page.saturating_sub(1)) * u64::from(size) + count as u64;
            return seen < total;
        }
        count >= size as usize
    }

    /// The number of the page after page `page`, or `None` after the last (see
    /// [`has_next`](Self::has_next)).
    pub(crate) fn next_page(&self, page: u32, per_page: u32, count: usize) -> Option<u32> {
        if self.has_next(page, per_page, count) {
            page.checked_add(1)
        } else {
            None
        }
    }
}

/// An organisation a SIM refers to (issuer, reseller or customer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Organisation {
    /// The organisation's id.
    pub id: u64,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Its country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<Country>,
}

/// A country, as emnify attaches it to organisations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Country {
    /// emnify's country id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The country's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The international dialling code (read from a number or a string).
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub country_code: Option<String>,
    /// The mobile country code (read from a number or a string).
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub mcc: Option<String>,
    /// The ISO 3166 code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iso_code: Option<String>,
    /// Latitude.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// Longitude.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
}

/// The endpoint (emnify's word for a device) a SIM is assigned to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Endpoint {
    /// The endpoint's id.
    pub id: u64,
    /// Its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The IMEI of the device, if known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imei: Option<String>,
    /// When the endpoint was created.
    #[serde(default, with = "timestamp", skip_serializing_if = "Option::is_none")]
    pub created: Option<DateTime<Utc>>,
    /// When the endpoint was last changed.
    #[serde(default, with = "timestamp", skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<DateTime<Utc>>,
    /// The owning organisation's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation_id: Option<u64>,
    /// The service profile's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_profile_id: Option<u64>,
    /// The tariff profile's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tariff_profile_id: Option<u64>,
    /// Free-text tags.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<String>,
    /// The device's IP address in emnify's network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// The IP address space's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address_space_id: Option<u64>,
}

/// A SIM model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct SimModel {
    /// The model's id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The model's description (`"Classic"`, `"DIM Industrial - 3FF"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Memory size in KB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_size: Option<u64>,
    /// The form factor.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub formfactor: Option<NamedRef>,
    /// The manufacturer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manufacturer: Option<NamedRef>,
}

/// A reference with an id and a name (a form factor, a manufacturer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct NamedRef {
    /// The id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// The name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// Reads an organisation reference; `null`, `{}` and `{"id": null}` (the forms a cleared
/// reference can take) read as `None`.
fn org_ref<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Organisation>, D::Error> {
    #[derive(Deserialize)]
    struct Raw {
        #[serde(default)]
        id: Option<u64>,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        country: Option<Country>,
    }
    let raw = Option::<Raw>::deserialize(d)?;
    Ok(raw.and_then(|r| {
        r.id.map(|id| Organisation {
            id,
            name: r.name,
            country: r.country,
        })
    }))
}

/// Reads a string or a number as text; `null` reads as `None`.
fn lenient_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    struct Text;

    impl<'de> de::Visitor<'de> for Text {
        type Value = Option<String>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a string or a number")
        }

        fn visit_str<E: de::Error>(self, s: &str) -> Result<Self::Value, E> {
            Ok(Some(s.to_owned()))
        }

        fn visit_string<E: de::Error>(self, s: String) -> Result<Self::Value, E> {
            Ok(Some(s))
        }

        fn visit_i64<E: de::Error>(self, n: i64) -> Result<Self::Value, E> {
            Ok(Some(n.to_string()))
        }

        fn visit_u64<E: de::Error>(self, n: u64) -> Result<Self::Value, E> {
            Ok(Some(n.to_string()))
        }

        fn visit_f64<E: de::Error>(self, n: f64) -> Result<Self::Value, E> {
            Ok(Some(
                serde_json::Number::from_f64(n).map_or_else(|| n.to_string(), |n| n.to_string()),
            ))
        }

        fn visit_bool<E: de::Error>(self, b: bool) -> Result<Self::Value, E> {
            Ok(Some(b.to_string()))
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

        fn visit_seq<A: de::SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
            let v = serde_json::Value::deserialize(de::value::SeqAccessDeserializer::new(seq))?;
            Ok(Some(v.to_string()))
        }

        fn visit_map<A: de::MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
            let v = serde_json::Value::deserialize(de::value::MapAccessDeserializer::new(map))?;
            Ok(Some(v.to_string()))
        }
    }

    d.deserialize_any(Text)
}

/// Parses a timestamp in any form emnify is seen to send: `2015-03-06T11:15:57.000+0000` (the
/// usual one, with no colon in the offset, which strict RFC 3339 parsers reject), RFC 3339
/// (`…+00:00`, `…Z`), with a space instead of the `T`, with or without fractional seconds, and
/// without any offset (read as UTC).
///
/// ```
/// use emnify_client::models::parse_timestamp;
/// let t = parse_timestamp("2015-03-06T11:15:57.000+0000").unwrap();
/// assert_eq!(t.to_rfc3339(), "2015-03-06T11:15:57+00:00");
/// assert_eq!(parse_timestamp("2015-03-06T12:15:57+01:00"), Some(t));
/// assert_eq!(parse_timestamp("yesterday"), None);
/// ```
pub fn parse_timestamp(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f%z", "%Y-%m-%d %H:%M:%S%.f%z"] {
        if let Ok(t) = DateTime::parse_from_str(s, fmt) {
            return Some(t.with_timezone(&Utc));
        }
    }
    for fmt in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc());
        }
    }
    None
}

/// Formats a timestamp the way emnify writes them: `2015-03-06T11:15:57.000+0000`.
pub fn format_timestamp(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%S%.3f%z").to_string()
}

/// Serde for optional emnify timestamps.
mod timestamp {
    use super::*;

    pub(super) fn serialize<S: Serializer>(
        t: &Option<DateTime<Utc>>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match t {
            Some(t) => s.serialize_str(&format_timestamp(t)),
            None => s.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<DateTime<Utc>>, D::Error> {
        // Borrowed where it lies in the answer: no copy of each timestamp's text.
        match Option::<std::borrow::Cow<'de, str>>::deserialize(d)? {
            None => Ok(None),
            Some(s) if s.trim().is_empty() => Ok(None),
            Some(s) => parse_timestamp(&s).map(Some).ok_or_else(|| {
                de::Error::custom(format!(
                    "unreadable timestamp {} (expected e.g. 2015-03-06T11:15:57.000+0000)",
                    simcore::validate::quote(&s)
                ))
            }),
        }
    }
}

/// Every status change emnify documents for an update: Issued to Activated or Factory Test,
/// Factory Test to Activated, Activated and Suspended both ways. Deleted is reached with
/// `DELETE`, never with an update.
pub static TRANSITIONS: &[(SimStatus, SimStatus)] = &[
    (SimStatus::Issued, SimStatus::Activated),
    (SimStatus::Issued, SimStatus::FactoryTest),
    (SimStatus::FactoryTest, SimStatus::Activated),
    (SimStatus::Activated, SimStatus::Suspended),
    (SimStatus::Suspended, SimStatus::Activated),
];

/// The emnify lifecycle over emnify's own statuses.
pub static LIFECYCLE: Lifecycle<SimStatus> = Lifecycle::table(crate::PROVIDER, TRANSITIONS);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn timestamp_forms() {
        let expected = "2015-03-06T11:15:57Z";
        for form in [
            "2015-03-06T11:15:57.000+0000",
            "2015-03-06T11:15:57+0000",
            "2015-03-06T11:15:57.000+00:00",
            "2015-03-06T11:15:57Z",
            "2015-03-06T12:15:57.000+0100",
            "2015-03-06 11:15:57.000+0000",
            "2015-03-06 11:15:57",
            "2015-03-06T11:15:57.000",
            " 2015-03-06T11:15:57.000+0000 ",
        ] {
            let t = parse_timestamp(form).unwrap_or_else(|| panic!("{form}"));
            assert_eq!(
                t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                expected,
                "{form}"
            );
        }
        for bad in ["", "2015-03-06", "11:15:57", "2015-13-06T11:15:57Z", "soon"] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
        let t = parse_timestamp("2015-03-06T11:15:57.000+0000").unwrap();
        assert_eq!(format_timestamp(&t), "2015-03-06T11:15:57.000+0000");
    }

    #[test]
    fn status_reads_by_id() {
        let s: SimStatus =
            serde_json::from_value(json!({"id": 1, "description": "Active"})).unwrap();
        assert_eq!(s, SimStatus::Activated);
        let s: SimStatus =
            serde_json::from_value(json!({"id": 9, "description": "Frozen"})).unwrap();
        assert_eq!(s, SimStatus::Unknown(9));
        let s: SimStatus = serde_json::from_value(json!(4)).unwrap();
        assert_eq!(s, SimStatus::FactoryTest);
        assert!(serde_json::from_value::<SimStatus>(json!({"description": "x"})).is_err());
        assert_eq!(
            serde_json::to_value(SimStatus::Suspended).unwrap(),
            json!({"id": 2, "description": "Suspended"})
        );
    }

    #[test]
    fn status_objects_read_in_place() {
        // Keys in any order, unknown keys skipped, the id read as an integer.
        let s: SimStatus =
            serde_json::from_str(r#"{"description": "Suspended", "x": [1, {}], "id": 2}"#).unwrap();
        assert_eq!(s, SimStatus::Suspended);
        assert!(serde_json::from_str::<SimStatus>(r#"{"id": "1"}"#).is_err());
        assert!(serde_json::from_str::<SimStatus>(r#""Activated""#).is_err());
        assert!(serde_json::from_str::<SimStatus>("18446744073709551615").is_err());
        let c: Country =
            serde_json::from_str(r#"{"country_code": 4.5, "mcc": true, "iso_code": "de"}"#)
                .unwrap();
        assert_eq!(
            (c.country_code.as_deref(), c.mcc.as_deref()),
            (Some("4.5"), Some("true"))
        );
        let c: Country = serde_json::from_str(r#"{"country_code": [49], "mcc": null}"#).unwrap();
        assert_eq!((c.country_code.as_deref(), c.mcc), (Some("[49]"), None));
    }

    #[test]
    fn a_page_knows_whether_another_follows() {
        /// SIMs on the page, page asked, per_page, headers.
        type Case<'a> = (usize, u32, u32, &'a [(&'a str, &'a str)]);
        // A case -> another page?
        let table: Vec<(Case, bool)> = vec![
            ((0, 1, 2, &[]), false),
            ((2, 1, 2, &[]), true),
            ((1, 1, 2, &[]), false),
            ((2, 1, 2, &[("X-Total-Pages", "1")]), false),
            ((2, 1, 2, &[("X-Total-Pages", "2")]), true),
            ((1, 1, 2, &[("X-Total-Pages", "2")]), true),
            ((0, 1, 2, &[("X-Total-Pages", "2")]), false),
            ((2, 2, 2, &[("X-Total-Count", "5")]), true),
            ((1, 3, 2, &[("X-Total-Count", "5")]), false),
            ((2, 1, 2, &[("X-Total-Count", "2")]), false),
            ((2, 1, 9, &[("X-Count-Per-Page", "2")]), true),
            (
                (
                    2,
                    1,
                    2,
                    &[("X-Total-Pages", " 3 "), ("X-Current-Page", "7")],
                ),
                true,
            ),
            ((2, 1, 2, &[("X-Total-Pages", "lots")]), true),
            ((2, 3, 2, &[("X-Total-Pages", "3")]), false),
        ];
        for (i, ((n, asked, per_page, headers), more)) in table.iter().enumerate() {
            let p =
                PageHeaders::read(|name| headers.iter().find(|(k, _)| *k == name).map(|(_, v)| *v));
            assert_eq!(p.has_next(*asked, *per_page, *n), *more, "case {i}: {p:?}");
            assert_eq!(
                p.next_page(*asked, *per_page, *n),
                more.then_some(asked + 1),
                "case {i}"
            );
        }
        let p = PageHeaders::read(|name| match name {
            "X-Sort" => Some(" id "),
            "X-Current-Page" => Some("1"),
            "X-Total-Count" => Some("99999999999"),
            "X-Count-Per-Page" => Some("2500"),
            _ => None,
        });
        assert_eq!(
            (p.count_per_page, p.total_count, p.total_pages),
            (Some(2500), Some(99_999_999_999), None)
        );
    }

    #[test]
    fn a_sim_read_for_snapshots_keeps_what_they_hold() {
        let body = json!({
            "id": 250, "iccid": "8988303000000000129", "iccid_with_luhn": "89883030000000001294",
            "status": {"id": 1, "description": "Activated"}, "production_date": "not a time",
            "customer_org": {"id": 13886, "country": {"id": 206}}, "imsi": "2950"
        });
        let sim: Sim = serde_json::from_value::<SnapshotSim>(body).unwrap().into();
        assert_eq!(
            (sim.id, sim.best_iccid(), sim.status.clone()),
            (
                250,
                Some("89883030000000001294"),
                Some(SimStatus::Activated)
            )
        );
        assert_eq!(
            (sim.customer_org, sim.imsi, sim.production_date),
            (None, None, None)
        );
        assert!(serde_json::from_value::<SnapshotSim>(json!({"status": {"id": 1}})).is_err());
    }

    #[test]
    fn minimal_and_cleared_references() {
        let sim: Sim = serde_json::from_value(json!({
            "id": 7,
            "reseller_org": {},
            "customer_org": {"id": null},
            "issuer_org": null,
            "production_date": null,
            "unexpected": {"nested": true}
        }))
        .unwrap();
        assert_eq!(sim.id, 7);
        assert_eq!(sim.reseller_org, None);
        assert_eq!(sim.customer_org, None);
        assert_eq!(sim.issuer_org, None);
        assert_eq!(sim.status, None);
        assert_eq!(sim.production_date, None);
        assert_eq!(sim.best_iccid(), None);
    }

    #[test]
    fn country_codes_as_numbers_or_text() {
        let c: Country =
            serde_json::from_value(json!({"id": 74, "country_code": 49, "mcc": "262"})).unwrap();
        assert_eq!(c.country_code.as_deref(), Some("49"));
        assert_eq!(c.mcc.as_deref(), Some("262"));
    }

    #[test]
    fn org_types_are_open() {
        assert_eq!(OrgType::from("Enterprise"), OrgType::Enterprise);
        assert_eq!(
            OrgType::from("Mobile Network Operator"),
            OrgType::MobileNetworkOperator
        );
        assert!(OrgType::from("Master").is_unknown());
    }

    proptest! {
        #[test]
        fn no_timestamp_panics(s in ".{0,40}") {
            let _ = parse_timestamp(&s);
        }

        #[test]
        fn timestamps_round_trip(secs in 0i64..4_102_444_800, millis in 0u32..1000) {
            let t = DateTime::from_timestamp(secs, millis * 1_000_000).unwrap();
            prop_assert_eq!(parse_timestamp(&format_timestamp(&t)), Some(t));
        }
    }
}
