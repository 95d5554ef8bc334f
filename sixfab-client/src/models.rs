//! What Sixfab Connect names and returns: asset ids, assets, update answers.
//!
//! Reading is tolerant: the asset's response shape is not public, so the fields this crate knows
//! are typed and everything else is kept in [`Asset::extra`]; a status this crate does not know is
//! kept as [`AssetStatus::Unknown`].

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::de;
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use simcore::validate::quote;
use simcore::{Iccid, Lifecycle, ValidationError};

use simcore::charge::Money;

mod page;

pub(crate) use page::ListAnswer;
pub use page::list_keys;

simcore::open_enum! {
    /// An asset's status: the master switch of every SIM on the asset.
    pub enum AssetStatus {
        /// Every SIM on the asset is active.
        Active = "active",
        /// Every SIM on the asset is inactive.
        Inactive = "inactive",
    }
}

/// Which of Sixfab's four identifiers an [`AssetId`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AssetIdKind {
    /// The asset's serial number (any other non-empty text).
    Serial,
    /// The asset's UUID (`8-4-4-4-12` hexadecimal digits).
    Uuid,
    /// The SID of a SIM on the asset (`HS` and 32 hexadecimal digits).
    SimSid,
    /// The ICCID of a SIM on the asset (18 to 22 ASCII digits).
    Iccid,
}

impl AssetIdKind {
    /// The kind in words (`"serial number"`, `"UUID"`, `"SIM SID"`, `"SIM ICCID"`).
    pub fn as_str(self) -> &'static str {
        match self {
            AssetIdKind::Serial => "serial number",
            AssetIdKind::Uuid => "UUID",
            AssetIdKind::SimSid => "SIM SID",
            AssetIdKind::Iccid => "SIM ICCID",
        }
    }
}

impl fmt::Display for AssetIdKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How Sixfab addresses an asset: its serial number, its UUID, or the SID or ICCID of one of its
/// SIMs. Always sent as exactly one percent-encoded path segment, so `/`, spaces or `#` in a
/// serial number cannot change the path.
///
/// [`AssetId::parse`] recognises the kind; the explicit constructors say it and check it.
///
/// ```
/// use sixfab_client::{AssetId, AssetIdKind};
///
/// assert_eq!(AssetId::parse("89882806660004909182")?.kind(), AssetIdKind::Iccid);
/// assert_eq!(AssetId::parse("3f2b8c1e-9d4a-4e6b-8a7c-1d2e3f4a5b6c")?.kind(), AssetIdKind::Uuid);
/// assert_eq!(AssetId::parse("HS0123456789abcdef0123456789abcdef")?.kind(), AssetIdKind::SimSid);
/// assert_eq!(AssetId::parse("ALPON-X4 #17")?.kind(), AssetIdKind::Serial);
/// // A serial number made of digits only: say so explicitly.
/// assert_eq!(AssetId::serial("123456789012345678")?.kind(), AssetIdKind::Serial);
/// assert!(AssetId::parse("..").is_err());
/// # Ok::<(), simcore::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssetId {
    kind: AssetIdKind,
    value: String,
}

impl AssetId {
    /// The field name used in errors.
    pub const FIELD: &'static str = "asset_id";

    /// Recognises the kind: a UUID (`8-4-4-4-12` hex), an ICCID (18 to 22 ASCII digits), a SIM SID
    /// (`HS` and 32 hex), and anything else as a serial number. Empty, `.`, `..` and text with
    /// control characters are refused.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if is_uuid(s) {
            Ok(Self::new(AssetIdKind::Uuid, s))
        } else if Iccid::is_valid(s) {
            Ok(Self::new(AssetIdKind::Iccid, s))
        } else if is_sim_sid(s) {
            Ok(Self::new(AssetIdKind::SimSid, s))
        } else {
            Self::serial(s)
        }
    }

    /// A serial number: any text except empty, `.`, `..` and text with control characters
    /// (see [`check_id`](simcore::validate::check_id)).
    pub fn serial(s: impl Into<String>) -> Result<Self, ValidationError> {
        let s = s.into();
        simcore::validate::check_id(Self::FIELD, &s)?;
        Ok(Self {
            kind: AssetIdKind::Serial,
            value: s,
        })
    }

    /// A UUID: `8-4-4-4-12` hexadecimal digits, kept as given.
    pub fn uuid(s: impl Into<String>) -> Result<Self, ValidationError> {
        let s = s.into();
        if !is_uuid(&s) {
            return Err(ValidationError::new(
                Self::FIELD,
                "a UUID must be 8-4-4-4-12 hexadecimal digits",
                quote(&s),
            ));
        }
        Ok(Self::new(AssetIdKind::Uuid, s))
    }

    /// A SIM SID: `HS` and 32 hexadecimal digits.
    pub fn sim_sid(s: impl Into<String>) -> Result<Self, ValidationError> {
        let s = s.into();
        if !is_sim_sid(&s) {
            return Err(ValidationError::new(
                Self::FIELD,
                "a SIM SID must be \"HS\" and 32 hexadecimal digits",
                quote(&s),
            ));
        }
        Ok(Self::new(AssetIdKind::SimSid, s))
    }

    /// A SIM ICCID: 18 to 22 ASCII digits (see [`Iccid`]).
    pub fn iccid(s: impl AsRef<str>) -> Result<Self, ValidationError> {
        let iccid = Iccid::parse(s.as_ref()).map_err(|e| e.for_field(Self::FIELD))?;
        Ok(Self::new(AssetIdKind::Iccid, iccid.into_string()))
    }

    fn new(kind: AssetIdKind, value: impl Into<String>) -> Self {
        Self {
            kind,
            value: value.into(),
        }
    }

    /// Which identifier this is.
    pub fn kind(&self) -> AssetIdKind {
        self.kind
    }

    /// The id as sent (one path segment, encoded when sent).
    pub fn as_str(&self) -> &str {
        &self.value
    }
}

impl From<Iccid> for AssetId {
    fn from(iccid: Iccid) -> Self {
        Self::new(AssetIdKind::Iccid, iccid.into_string())
    }
}

impl fmt::Display for AssetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

impl FromStr for AssetId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for AssetId {
    type Error = ValidationError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl TryFrom<String> for AssetId {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

/// What the client's asset calls accept: an [`AssetId`] (already checked) or text, parsed with
/// [`AssetId::parse`] when the call is sent, so a bad id is an
/// [`Error::Invalid`](simcore::Error::Invalid) with nothing sent.
pub trait IntoAssetId {
    /// The asset id, or why the text is not one.
    fn into_asset_id(self) -> Result<AssetId, ValidationError>;
}

impl IntoAssetId for AssetId {
    fn into_asset_id(self) -> Result<AssetId, ValidationError> {
        Ok(self)
    }
}

impl IntoAssetId for &AssetId {
    fn into_asset_id(self) -> Result<AssetId, ValidationError> {
        Ok(self.clone())
    }
}

impl IntoAssetId for Iccid {
    fn into_asset_id(self) -> Result<AssetId, ValidationError> {
        Ok(self.into())
    }
}

impl IntoAssetId for &str {
    fn into_asset_id(self) -> Result<AssetId, ValidationError> {
        AssetId::parse(self)
    }
}

impl IntoAssetId for String {
    fn into_asset_id(self) -> Result<AssetId, ValidationError> {
        AssetId::parse(&self)
    }
}

impl IntoAssetId for &String {
    fn into_asset_id(self) -> Result<AssetId, ValidationError> {
        AssetId::parse(self)
    }
}

fn is_hex(s: &str) -> bool {
    s.bytes().all(|b| b.is_ascii_hexdigit())
}

fn is_uuid(s: &str) -> bool {
    let groups: Vec<&str> = s.split('-').collect();
    groups.len() == 5
        && groups
            .iter()
            .zip([8, 4, 4, 4, 12])
            .all(|(g, n)| g.len() == n && is_hex(g))
}

fn is_sim_sid(s: &str) -> bool {
    s.len() == 34 && s.starts_with("HS") && is_hex(&s[2..])
}

/// An asset as Sixfab returns it.
///
/// Sixfab does not publish the asset's response shape: the fields below are the ones this crate
/// knows (each optional), and every other field is kept as sent in [`Asset::extra`]. Ids sent as
/// numbers are read as their decimal text.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Asset {
    /// The asset's id, if the answer carries one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The asset's UUID.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    /// The asset's serial number (read from `serial_number` or `serial`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// The display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The status: the master switch of every SIM on the asset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<AssetStatus>,
    /// The ICCID of the asset's SIM, when the answer carries one at the top level.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub iccid: Option<String>,
    /// Every other field, as sent.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl Asset {
    /// Reads an asset from a JSON answer, unwrapping a `{"data": {...}}` envelope.
    ///
    /// **Unconfirmed:** whether Sixfab wraps answers in `data` is not documented. An object whose
    /// only asset-like content is a `data` object is read from that object; anything else is read
    /// as the asset itself. This is the one place that decides it.
    pub fn from_json(value: Value) -> Result<Self, serde_json::Error> {
        Self::from_json_ref(&value)
    }

    /// [`Asset::from_json`] without taking the value (it is kept when it is not an asset).
    pub fn from_json_ref(value: &Value) -> Result<Self, serde_json::Error> {
        let value = match value {
            Value::Object(map) if is_envelope(map) => map.get("data").unwrap_or(&Value::Null),
            other => other,
        };
        Asset::deserialize(value)
    }

    /// Whether the value carries what a real asset answer does: an identity (`id`, `uuid`,
    /// `serial_number` or `iccid`) or a status. A JSON object without any of them (`{}`, an
    /// error-like object) is not an asset.
    pub fn is_asset(&self) -> bool {
        self.id.is_some()
            || self.uuid.is_some()
            || self.serial_number.is_some()
            || self.iccid.is_some()
            || self.status.is_some()
    }

    /// The id this crate addresses a listed asset by, of those the asset answers to: its UUID,
    /// else its serial number, else its `id`, else its Super SIM's SID or ICCID, else its PRO
    /// SIM's, else the top-level ICCID. `None` when the answer carries none of them.
    ///
    /// **Unconfirmed:** Sixfab documents the serial number, UUID, SIM SID and SIM ICCID as ids an
    /// asset answers to, not which one a list should name it by; the UUID is the one that never
    /// changes hands. This is the one place that decides it.
    pub fn address(&self) -> Option<String> {
        let given = |id: &Option<String>| id.clone().filter(|id| !id.is_empty());
        given(&self.uuid)
            .or_else(|| given(&self.serial_number))
            .or_else(|| given(&self.id))
            .or_else(|| {
                self.sim_ids()
                    .find_map(|(sid, iccid)| given(&sid).or_else(|| given(&iccid)))
            })
            .or_else(|| given(&self.iccid))
    }

    /// Each SIM's SID and ICCID, Super SIM first, read straight from the answer (the cheap part
    /// of [`Asset::sim`], for a list of thousands).
    fn sim_ids(&self) -> impl Iterator<Item = (Option<String>, Option<String>)> + '_ {
        [SimKind::SuperSim, SimKind::ProSim]
            .into_iter()
            .filter_map(|kind| self.extra.get(kind.key())?.as_object())
            .map(|obj| {
                let text = |k: &str| obj.get(k).and_then(value_text);
                (text("sid"), text("iccid"))
            })
    }

    /// Every id the answer shows the asset answering to, in this order: the serial number, the
    /// UUID, `id`, then each SIM's SID and ICCID (Super SIM first), then the top-level ICCID.
    /// Empty ones and repeats are left out.
    pub fn ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = Vec::new();
        let mut add = |id: Option<String>| {
            if let Some(id) = id.filter(|id| !id.is_empty()) {
                if !ids.contains(&id) {
                    ids.push(id);
                }
            }
        };
        add(self.serial_number.clone());
        add(self.uuid.clone());
        add(self.id.clone());
        for (sid, iccid) in self.sim_ids() {
            add(sid);
            add(iccid);
        }
        add(self.iccid.clone());
        ids
    }

    /// Whether any field this crate knows is present.
    pub fn has_known_fields(&self) -> bool {
        self.id.is_some()
            || self.uuid.is_some()
            || self.serial_number.is_some()
            || self.name.is_some()
            || self.status.is_some()
            || self.iccid.is_some()
    }

    /// The Super SIM's network group, read from `supersim.network_group` where the update sends it.
    pub fn network_group(&self) -> Option<&str> {
        self.extra
            .get("supersim")
            .and_then(|s| s.get("network_group"))
            .and_then(Value::as_str)
    }

    /// The asset's Super SIM, read from the `supersim` object (see [`AssetSim`] for its keys).
    pub fn super_sim(&self) -> Option<AssetSim> {
        self.sim(SimKind::SuperSim)
    }

    /// The asset's PRO SIM, read from the `prosim` object (see [`AssetSim`] for its keys).
    pub fn pro_sim(&self) -> Option<AssetSim> {
        self.sim(SimKind::ProSim)
    }

    /// Every SIM the answer describes: the Super SIM first, then the PRO SIM.
    pub fn sims(&self) -> Vec<AssetSim> {
        [SimKind::SuperSim, SimKind::ProSim]
            .into_iter()
            .filter_map(|kind| self.sim(kind))
            .collect()
    }

    /// The SIM of one kind, when the answer has an object under its key.
    pub fn sim(&self, kind: SimKind) -> Option<AssetSim> {
        let obj = self.extra.get(kind.key())?.as_object()?;
        let text = |k: &str| obj.get(k).and_then(value_text);
        let date = |k: &str| obj.get(k).and_then(value_date);
        let service_profile = match obj.get("service_profile") {
            Some(Value::String(name)) => Some(ServiceProfile {
                name: Some(name.clone()),
                monthly_price: None,
            }),
            Some(Value::Object(p)) => Some(ServiceProfile {
                name: p.get("name").and_then(value_text),
                monthly_price: p.get("monthly_price").and_then(value_dollars),
            }),
            _ => None,
        };
        Some(AssetSim {
            kind,
            sid: text("sid"),
            iccid: text("iccid"),
            status: match obj.get("status") {
                Some(Value::String(s)) => Some(AssetStatus::from(s.as_str())),
                _ => None,
            },
            network_group: text("network_group"),
            service_profile,
            first_activated_on: date("first_activated_at"),
            first_activation_reported: obj.contains_key("first_activated_at"),
            added_on: date("added_at"),
            last_charged_on: date("last_charged_at"),
            charge_reported: obj.contains_key("last_charged_at"),
        })
    }

    /// The device the SIMs are in, read from the `device` object: its `type` (`"ALPON X4"`), its
    /// `asset_fee` in dollars and `asset_fee_last_charged_at`.
    pub fn device(&self) -> Option<Device> {
        let obj = self.extra.get("device")?.as_object()?;
        Some(Device {
            kind: obj.get("type").and_then(value_text),
            asset_fee: obj.get("asset_fee").and_then(value_dollars),
            asset_fee_last_charged_on: obj.get("asset_fee_last_charged_at").and_then(value_date),
            asset_fee_charge_reported: obj.contains_key("asset_fee_last_charged_at"),
        })
    }
}

/// Which of an asset's SIMs. Sixfab may add kinds of SIM: match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SimKind {
    /// The Super SIM (Twilio's network), under `supersim`.
    SuperSim,
    /// The PRO SIM (Sixfab's own profile SIM), under `prosim`.
    ProSim,
}

impl SimKind {
    /// The key of the SIM's object in an asset answer (`"supersim"`, `"prosim"`).
    pub fn key(self) -> &'static str {
        match self {
            SimKind::SuperSim => "supersim",
            SimKind::ProSim => "prosim",
        }
    }
}

impl fmt::Display for SimKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SimKind::SuperSim => "Super SIM",
            SimKind::ProSim => "PRO SIM",
        })
    }
}

/// One SIM of an asset, as the asset answer describes it.
///
/// **Unconfirmed:** Sixfab does not publish the asset's shape. This crate reads each SIM from an
/// object under its kind's key ([`SimKind::key`]) with the keys `sid`, `iccid`, `status`,
/// `network_group` (Super SIM), `service_profile` (PRO SIM: a name, or `{"name", "monthly_price"}`
/// with the price in dollars), `first_activated_at` and `added_at` (PRO SIM) and
/// `last_charged_at`. Dates are read from RFC 3339 timestamps (their UTC day) or `YYYY-MM-DD`.
/// Anything missing or unreadable is `None`; [`Asset::sim`] is the one place that decides it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AssetSim {
    /// Which SIM.
    pub kind: SimKind,
    /// The SIM's SID (a Super SIM's `HS…`).
    pub sid: Option<String>,
    /// The SIM's ICCID.
    pub iccid: Option<String>,
    /// The SIM's own status (the asset's status switches every SIM).
    pub status: Option<AssetStatus>,
    /// The Super SIM's network group.
    pub network_group: Option<String>,
    /// The PRO SIM's service profile.
    pub service_profile: Option<ServiceProfile>,
    /// The day the PRO SIM was first activated; `None` if never (or not reported).
    pub first_activated_on: Option<NaiveDate>,
    /// Whether the answer has a `first_activated_at` key at all (`null` says "never"; no key
    /// says nothing).
    pub first_activation_reported: bool,
    /// The day the PRO SIM came to the account: the start of a never-activated SIM's grace.
    pub added_on: Option<NaiveDate>,
    /// The day the SIM's monthly price was last charged.
    pub last_charged_on: Option<NaiveDate>,
    /// Whether the answer has a `last_charged_at` key at all (`null` says "never"; no key says
    /// nothing).
    pub charge_reported: bool,
}

/// A PRO SIM's service profile.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceProfile {
    /// Its name (`"Europe + USA"` is the default profile).
    pub name: Option<String>,
    /// Its monthly price, when the answer carries one.
    pub monthly_price: Option<Money>,
}

/// The device an asset's SIMs are in.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Device {
    /// The device type (`"ALPON X4"`).
    pub kind: Option<String>,
    /// The device's asset fee, when the answer carries one.
    pub asset_fee: Option<Money>,
    /// The day the asset fee was last charged.
    pub asset_fee_last_charged_on: Option<NaiveDate>,
    /// Whether the answer has an `asset_fee_last_charged_at` key at all.
    pub asset_fee_charge_reported: bool,
}

impl Device {
    /// Whether the device is an ALPON (its type names one, in any case).
    pub fn is_alpon(&self) -> bool {
        self.kind
            .as_deref()
            .is_some_and(|k| k.to_ascii_lowercase().contains("alpon"))
    }
}

/// Text, or a number as its decimal text.
fn value_text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A day from `YYYY-MM-DD` or an RFC 3339 timestamp (its UTC day).
fn value_date(v: &Value) -> Option<NaiveDate> {
    let s = v.as_str()?.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc).date_naive());
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()
}

/// An amount of dollars (`"4.50"`, `"$4.50"`, `4.5`, `6`) as cents, read exactly by
/// [`Money::parse`]; negative amounts, more than two non-zero decimals and anything else are
/// `None`.
fn value_dollars(v: &Value) -> Option<Money> {
    match v {
        Value::String(s) => Money::parse(s).ok(),
        Value::Number(n) => Money::parse(&n.to_string()).ok(),
        _ => None,
    }
}

/// Keys that mark an object as an asset rather than an envelope.
const ASSET_KEYS: &[&str] = &["id", "uuid", "serial_number", "serial", "name", "iccid"];

fn is_envelope(map: &Map<String, Value>) -> bool {
    map.get("data").is_some_and(Value::is_object)
        && !ASSET_KEYS.iter().any(|k| map.contains_key(*k))
}

impl<'de> Deserialize<'de> for Asset {
    /// Reads the known fields in place (`serial` when `serial_number` is absent) and keeps every
    /// other field in [`Asset::extra`]. A JSON object is required.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(AssetVisitor {
            snapshot_only: false,
        })
    }
}

/// An asset read for [`SimProvider::list`](simcore::SimProvider::list): the ids, name and
/// status, and of each SIM only its SID and ICCID; every other field is skipped unread. A plan
/// lists whole fleets.
pub(crate) struct SnapshotAsset(Asset);

impl<'de> Deserialize<'de> for SnapshotAsset {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(AssetVisitor {
            snapshot_only: true,
        })
        .map(SnapshotAsset)
    }
}

impl From<SnapshotAsset> for Asset {
    fn from(a: SnapshotAsset) -> Self {
        a.0
    }
}

/// Reads an asset: whole, or only what a snapshot holds.
struct AssetVisitor {
    snapshot_only: bool,
}

impl<'de> de::Visitor<'de> for AssetVisitor {
    type Value = Asset;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an asset (a JSON object)")
    }

    /// Known fields leniently (text, or a number as its text; a status word; anything else is
    /// absent), every other key into `extra`. A snapshot keeps of each SIM its `sid` and `iccid`
    /// and skips every other key unread. A repeated key counts as its last value.
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Asset, A::Error> {
        let mut asset = Asset::default();
        let mut serial = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let sim = [SimKind::SuperSim, SimKind::ProSim]
                .iter()
                .any(|s| s.key() == key);
            let known = key == "status" || ASSET_KEYS.contains(&key.as_ref());
            if self.snapshot_only && !sim && !known {
                map.next_value::<de::IgnoredAny>()?;
                continue;
            }
            let value: Value = map.next_value()?;
            match key.as_ref() {
                "id" => asset.id = value_text(&value),
                "uuid" => asset.uuid = value_text(&value),
                "serial_number" => asset.serial_number = value_text(&value),
                "serial" => serial = value_text(&value),
                "name" => asset.name = value_text(&value),
                "iccid" => asset.iccid = value_text(&value),
                // A status word; anything else (`null`, `false`, a number, an object) is no
                // status: an answer such as `{"status": false}` is an error-like envelope.
                "status" => asset.status = value.as_str().map(AssetStatus::from),
                _ if !self.snapshot_only => {
                    asset.extra.insert(key.into_owned(), value);
                }
                _ => match value {
                    Value::Object(sim) => {
                        let ids = sim.into_iter().filter(|(k, _)| k == "sid" || k == "iccid");
                        let ids =
                            ids.filter_map(|(k, v)| Some((k, Value::String(value_text(&v)?))));
                        asset
                            .extra
                            .insert(key.into_owned(), Value::Object(ids.collect()));
                    }
                    // As the whole asset reads it: no SIM.
                    _ => {
                        asset.extra.remove(key.as_ref());
                    }
                },
            }
        }
        if asset.serial_number.is_none() {
            asset.serial_number = serial;
        }
        Ok(asset)
    }
}

/// What a success answer to an update carried: the asset (`Some`), or no asset (`None`), as
/// [`simcore::Updated::Done`] holds it; `Err` says why the answer is not Sixfab's.
///
/// Sixfab does not document the answer, so this crate accepts what a real answer can be and
/// nothing else, and this is the one place that decides it: no body (`None`); the asset (an
/// object with the asset's identity or status, see [`Asset::is_asset`]: `Some`); or a
/// confirmation (an object with a `message` text: `None`). Anything else (`{}`, an array, an
/// HTML page, plain text) is not Sixfab's answer and becomes an
/// [`Error::Decode`](simcore::Error::Decode), never a success.
///
/// ```
/// use sixfab_client::models::update_answer;
/// assert_eq!(update_answer(b"").unwrap(), None);
/// assert_eq!(update_answer(b" \n").unwrap(), None);
/// assert_eq!(update_answer(br#"{"message": "Asset updated"}"#).unwrap(), None);
/// let asset = update_answer(br#"{"serial_number": "SN1", "status": "active"}"#).unwrap();
/// assert_eq!(asset.unwrap().serial_number.as_deref(), Some("SN1"));
/// assert!(update_answer(b"{}").is_err());
/// assert!(update_answer(b"OK then").is_err());
/// ```
pub fn update_answer(body: &[u8]) -> Result<Option<Asset>, String> {
    // No body (a `204`), whitespace aside.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    // The asset, the common case, read straight from the bytes once.
    if let Ok(asset) = serde_json::from_slice::<Asset>(body) {
        if asset.is_asset() {
            return Ok(Some(asset));
        }
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    update_answer_json(value)
}

/// [`update_answer`] for a body already read as JSON (never empty).
fn update_answer_json(value: Value) -> Result<Option<Asset>, String> {
    if let Ok(asset) = Asset::from_json_ref(&value) {
        if asset.is_asset() {
            return Ok(Some(asset));
        }
    }
    if value.get("message").is_some_and(Value::is_string) {
        return Ok(None);
    }
    Err(
        "not a sixfab answer: neither an asset (no id, uuid, serial_number, iccid or \
         status) nor a confirmation message"
            .to_owned(),
    )
}

/// An asset goes from active to inactive and back; nothing else is documented.
pub static TRANSITIONS: &[(AssetStatus, AssetStatus)] = &[
    (AssetStatus::Active, AssetStatus::Inactive),
    (AssetStatus::Inactive, AssetStatus::Active),
];

/// The asset lifecycle over Sixfab's own statuses.
pub static LIFECYCLE: Lifecycle<AssetStatus> = Lifecycle::table(crate::PROVIDER, TRANSITIONS);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn asset_id_kinds() {
        let table = [
            ("3f2b8c1e-9d4a-4e6b-8a7c-1d2e3f4a5b6c", AssetIdKind::Uuid),
            ("3F2B8C1E-9D4A-4E6B-8A7C-1D2E3F4A5B6C", AssetIdKind::Uuid),
            ("898828066600049091", AssetIdKind::Iccid),
            ("8988280666000490918212", AssetIdKind::Iccid),
            ("HS0123456789abcdef0123456789ABCDEF", AssetIdKind::SimSid),
            ("SN123", AssetIdKind::Serial),
            ("a/b c#d", AssetIdKind::Serial),
            ("89882806660004909", AssetIdKind::Serial), // 17 digits
            ("HS0123", AssetIdKind::Serial),
            ("hs0123456789abcdef0123456789abcdef", AssetIdKind::Serial),
            ("3f2b8c1e-9d4a-4e6b-8a7c-1d2e3f4a5b6", AssetIdKind::Serial),
            ("3f2b8c1e-9d4a-4e6b-8a7c-1d2e3f4a5b6g", AssetIdKind::Serial),
            ("...", AssetIdKind::Serial),
        ];
        for (s, kind) in table {
            let id = AssetId::parse(s).unwrap();
            assert_eq!(id.kind(), kind, "{s}");
            assert_eq!(id.as_str(), s);
            assert_eq!(id.to_string(), s);
        }
        for bad in ["", ".", ".."] {
            let e = AssetId::parse(bad).unwrap_err();
            assert_eq!(e.field(), "asset_id");
            assert_eq!(e.rule(), "must not be empty, \".\" or \"..\"");
        }
    }

    #[test]
    fn explicit_constructors_check_their_kind() {
        assert_eq!(
            AssetId::serial("123456789012345678").unwrap().kind(),
            AssetIdKind::Serial
        );
        assert_eq!(
            AssetId::uuid("3f2b8c1e-9d4a-4e6b-8a7c-1d2e3f4a5b6c")
                .unwrap()
                .kind(),
            AssetIdKind::Uuid
        );
        assert_eq!(
            AssetId::sim_sid("HS0123456789abcdef0123456789abcdef")
                .unwrap()
                .kind(),
            AssetIdKind::SimSid
        );
        assert_eq!(
            AssetId::iccid("89882806660004909182").unwrap().kind(),
            AssetIdKind::Iccid
        );
        let e = AssetId::uuid("SN123").unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid asset_id: a UUID must be 8-4-4-4-12 hexadecimal digits (found \"SN123\")"
        );
        let e = AssetId::sim_sid("HS12").unwrap_err();
        assert_eq!(
            e.rule(),
            "a SIM SID must be \"HS\" and 32 hexadecimal digits"
        );
        let e = AssetId::iccid("8988 2806").unwrap_err();
        assert_eq!(
            (e.field(), e.rule()),
            ("asset_id", "must be 18 to 22 ASCII digits")
        );
        for bad in ["", ".", ".."] {
            assert!(AssetId::serial(bad).is_err());
        }
        let iccid = Iccid::parse("89882806660004909182").unwrap();
        assert_eq!(iccid.into_asset_id().unwrap().kind(), AssetIdKind::Iccid);
    }

    #[test]
    fn asset_is_tolerant() {
        let v = json!({
            "id": 42,
            "uuid": "3f2b8c1e-9d4a-4e6b-8a7c-1d2e3f4a5b6c",
            "serial": "SN123",
            "name": null,
            "status": "suspended",
            "supersim": {"network_group": "default_1gb", "iccid": "89882806660004909182"},
            "tags": ["a"]
        });
        let a = Asset::from_json(v).unwrap();
        assert_eq!(a.id.as_deref(), Some("42"));
        assert_eq!(a.serial_number.as_deref(), Some("SN123"));
        assert_eq!(a.name, None);
        assert_eq!(a.status, Some(AssetStatus::Unknown("suspended".into())));
        assert_eq!(a.network_group(), Some("default_1gb"));
        assert_eq!(a.extra["tags"], json!(["a"]));
        assert!(a.has_known_fields());

        // A status that is not a word is no status: `{"status": false}` is an error-like
        // envelope, and must not pass as an asset.
        for not_a_word in [json!(1), json!(false), json!({"code": 3})] {
            let a = Asset::from_json(json!({ "status": not_a_word })).unwrap();
            assert_eq!(a.status, None);
            assert!(!a.is_asset());
        }
    }

    #[test]
    fn envelope_is_unwrapped_only_when_it_is_one() {
        let a = Asset::from_json(
            json!({"status": "success", "data": {"name": "pump", "status": "active"}}),
        )
        .unwrap();
        assert_eq!(a.name.as_deref(), Some("pump"));
        assert_eq!(a.status, Some(AssetStatus::Active));
        // An asset that happens to have a `data` field stays the asset.
        let a = Asset::from_json(json!({"name": "pump", "data": {"x": 1}})).unwrap();
        assert_eq!(a.name.as_deref(), Some("pump"));
        assert_eq!(a.extra["data"], json!({"x": 1}));
    }

    #[test]
    fn updated_sorts_answers() {
        assert!(matches!(
            update_answer_json(json!({"serial_number": "SN1", "name": "pump"})),
            Ok(Some(_))
        ));
        assert!(matches!(
            update_answer_json(json!({"status": "active"})),
            Ok(Some(_))
        ));
        assert_eq!(
            update_answer_json(json!({"message": "Asset updated"})),
            Ok(None)
        );
        // The same from the bytes, where no body is an answer too.
        assert!(matches!(
            update_answer(br#"{"serial_number": "SN1", "name": "pump"}"#),
            Ok(Some(_))
        ));
        assert_eq!(update_answer(br#"{"message": "Asset updated"}"#), Ok(None));
        assert_eq!(update_answer(b""), Ok(None));
        assert_eq!(update_answer(b"\r\n "), Ok(None));
        // What Sixfab never answers is not a success.
        for not_an_answer in [
            json!(true),
            json!({}),
            json!([]),
            json!({"name": "pump"}),
            json!({"unexpected": 1}),
            json!({"message": 7}),
        ] {
            assert!(
                update_answer_json(not_an_answer.clone()).is_err(),
                "{not_an_answer}"
            );
            assert!(
                update_answer(not_an_answer.to_string().as_bytes()).is_err(),
                "{not_an_answer}"
            );
        }
    }

    #[test]
    fn sims_and_device_are_typed() {
        let a = Asset::from_json(json!({
            "status": "active",
            "supersim": {
                "sid": "HS0123456789abcdef0123456789abcdef",
                "iccid": "89882806660004909182",
                "status": "active",
                "network_group": "default_1gb",
                "last_charged_at": "2025-03-02T23:30:00-02:00"
            },
            "prosim": {
                "iccid": 8944500102198304826u64,
                "status": "inactive",
                "service_profile": {"name": "Asia", "monthly_price": "4.50"},
                "first_activated_at": null,
                "added_at": "2025-01-10"
            },
            "device": {"type": "ALPON X4", "asset_fee": 6, "asset_fee_last_charged_at": "garbage"}
        }))
        .unwrap();
        let sims = a.sims();
        assert_eq!(sims.len(), 2);
        let s = &sims[0];
        assert_eq!((s.kind, s.kind.key()), (SimKind::SuperSim, "supersim"));
        assert_eq!(s.sid.as_deref(), Some("HS0123456789abcdef0123456789abcdef"));
        assert_eq!(s.status, Some(AssetStatus::Active));
        assert_eq!(s.network_group.as_deref(), Some("default_1gb"));
        assert_eq!(s.last_charged_on, NaiveDate::from_ymd_opt(2025, 3, 3));
        let p = a.pro_sim().unwrap();
        assert_eq!(p.kind.to_string(), "PRO SIM");
        assert_eq!(p.iccid.as_deref(), Some("8944500102198304826"));
        assert_eq!(p.status, Some(AssetStatus::Inactive));
        assert_eq!(
            p.service_profile,
            Some(ServiceProfile {
                name: Some("Asia".into()),
                monthly_price: Some(Money::from_cents(450))
            })
        );
        assert_eq!(p.first_activated_on, None);
        assert_eq!(p.added_on, NaiveDate::from_ymd_opt(2025, 1, 10));
        let d = a.device().unwrap();
        assert!(d.is_alpon());
        assert_eq!(d.asset_fee, Some(Money::from_cents(600)));
        assert_eq!(d.asset_fee_last_charged_on, None);

        let bare =
            Asset::from_json(json!({"prosim": {"service_profile": "Europe + USA"}})).unwrap();
        assert_eq!(bare.super_sim(), None);
        assert_eq!(
            bare.pro_sim()
                .unwrap()
                .service_profile
                .unwrap()
                .name
                .as_deref(),
            Some("Europe + USA")
        );
        assert_eq!(bare.device(), None);
        assert!(
            Asset::from_json(json!({"supersim": null}))
                .unwrap()
                .sims()
                .is_empty()
        );
    }

    #[test]
    fn list_pages_in_every_shape() {
        let a = |n: u32| json!({"uuid": format!("u{n}"), "status": "active"});
        // (body, page asked, per_page asked) -> (assets, another page?)
        let table = [
            (json!([a(1), a(2)]), 1, 2, 2, true),
            (json!([a(1)]), 1, 2, 1, false),
            (json!([]), 1, 2, 0, false),
            (json!({"data": [a(1), a(2)], "total": "4"}), 2, 2, 2, false),
            (json!({"data": [a(1), a(2)], "total": 5}), 2, 2, 2, true),
            (json!({"data": [a(3)], "total": 3}), 2, 2, 1, false),
            (json!({"items": [a(1)], "next": 3}), 1, 2, 1, true),
            (json!({"items": [a(1), a(2)], "next": ""}), 1, 2, 2, false),
            (
                json!({"items": [a(1), a(2)], "next": false}),
                1,
                2,
                2,
                false,
            ),
            (json!({"results": [a(1)], "total_pages": 3}), 2, 1, 1, true),
            (json!({"assets": [a(1)], "page_count": 3}), 3, 1, 1, false),
            (
                json!({"data": {"results": [a(1), a(2)], "count": 9}}),
                1,
                2,
                2,
                true,
            ),
            (json!({"data": [a(1), a(2)], "size": 5}), 1, 2, 2, false),
            // The first list key wins; keys it does not know are skipped, whatever they hold.
            (
                json!({"meta": {"x": [1]}, "data": [a(1)], "items": [a(2), a(3)]}),
                1,
                1,
                1,
                true,
            ),
        ];
        for (i, (body, page, per_page, n, more)) in table.into_iter().enumerate() {
            let p = ListAnswer::from_slice(body.to_string().as_bytes(), page, per_page)
                .unwrap_or_else(|e| panic!("case {i}: {e}"));
            assert_eq!(
                (p.assets.len(), p.has_next()),
                (n, more),
                "case {i}: {body}"
            );
            assert_eq!(p.next_page(), more.then_some(page + 1), "case {i}");
        }
        for not_a_list in [
            json!({}),
            json!({"detail": "Not Found"}),
            json!({"data": {"uuid": "u1"}}),
            json!({"data": "text"}),
            json!(7),
        ] {
            assert!(
                ListAnswer::from_slice(not_a_list.to_string().as_bytes(), 1, 2).is_err(),
                "{not_a_list}"
            );
        }
        assert!(ListAnswer::from_slice(b"[1, 2]", 1, 2).is_err());
        assert!(ListAnswer::from_slice(b"<html>", 1, 2).is_err());
    }

    #[test]
    fn a_page_read_for_snapshots_keeps_what_they_hold() {
        let body = json!({"data": [
            {"uuid": "u1", "serial": "SN1", "id": 3, "name": "pump", "status": "active", "iccid": "8988",
             "supersim": {"sid": "HS1", "iccid": 8988, "network_group": "g", "last_charged_at": "x"},
             "prosim": {"iccid": "8944", "service_profile": {"name": "Asia"}},
             "device": {"type": "ALPON X4"}, "created_at": "2025-01-10T08:30:00Z"},
            {"serial_number": "SN2", "status": 4, "supersim": null, "prosim": [1]},
        ], "total": 2})
        .to_string();
        let full = ListAnswer::from_slice(body.as_bytes(), 1, 100).unwrap();
        let lean = ListAnswer::from_slice_for_snapshots(body.as_bytes(), 1, 100).unwrap();
        assert_eq!((lean.total, lean.has_next()), (full.total, full.has_next()));
        for (l, f) in lean.assets.iter().zip(&full.assets) {
            assert_eq!(l.address(), f.address());
            assert_eq!(l.ids(), f.ids());
            assert_eq!(
                (&l.name, &l.status, &l.iccid),
                (&f.name, &f.status, &f.iccid)
            );
            assert!(!l.extra.contains_key("device") && !l.extra.contains_key("created_at"));
        }
        assert_eq!(
            lean.assets[0].extra["supersim"],
            json!({"sid": "HS1", "iccid": "8988"})
        );
        assert!(lean.assets[1].extra.is_empty());
    }

    #[test]
    fn ids_and_the_address_of_an_asset() {
        let a = Asset::from_json(json!({
            "id": 7, "serial": "SN-7", "uuid": "u-7", "iccid": "8988",
            "supersim": {"sid": "HS7", "iccid": "8988"}, "prosim": {"iccid": 8944}
        }))
        .unwrap();
        assert_eq!(a.address().as_deref(), Some("u-7"));
        assert_eq!(a.ids(), ["SN-7", "u-7", "7", "HS7", "8988", "8944"]);
        let bare = Asset::from_json(json!({"status": "active", "uuid": ""})).unwrap();
        assert_eq!((bare.address(), bare.ids()), (None, Vec::<String>::new()));
        let blank = Asset::from_json(
            json!({"uuid": "", "serial_number": "", "supersim": {"sid": "", "iccid": "8988"}}),
        )
        .unwrap();
        assert_eq!(blank.address().as_deref(), Some("8988"));
        // Not an object: not an asset.
        assert!(Asset::from_json(json!(["u-7"])).is_err());
    }

    #[test]
    fn dollars_are_read_exactly() {
        let table = [
            (json!("4.50"), Some(450)),
            (json!("$2"), Some(200)),
            (json!(" 0.1 "), Some(10)),
            (json!("1.230"), Some(123)),
            (json!(4.5), Some(450)),
            (json!(6), Some(600)),
            (json!(2.0), Some(200)),
            (json!("1.234"), None),
            (json!("-1"), None),
            (json!(-1.5), None),
            (json!(".5"), None),
            (json!("1.2.3"), None),
            (json!("abc"), None),
            (json!(null), None),
            (json!("99999999999999999999"), None),
        ];
        for (v, cents) in table {
            assert_eq!(value_dollars(&v), cents.map(Money::from_cents), "{v}");
        }
    }

    proptest! {
        #[test]
        fn dollars_never_panic(s in any::<String>()) {
            let _ = value_dollars(&Value::String(s));
        }

        #[test]
        fn parse_never_panics_and_round_trips(s in any::<String>()) {
            if let Ok(id) = AssetId::parse(&s) {
                prop_assert_eq!(id.as_str(), s.as_str());
                prop_assert_eq!(AssetId::parse(id.as_str()).unwrap(), id);
            }
        }
    }
}
