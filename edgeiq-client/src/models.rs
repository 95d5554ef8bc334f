//! What EdgeIQ stores and returns: the SIM record, its writable part, and the system id.
//!
//! Reading is tolerant: a known key whose value has an unexpected JSON type, and every key this
//! SDK does not know, is kept in [`SimRecord::extra`] as it came, so nothing the platform said is
//! lost and nothing unexpected fails a read.

use std::fmt;
use std::str::FromStr;

use serde::de::{self, Deserialize, Deserializer};
use serde::ser::{Serialize, Serializer};
use serde_json::{Map, Number, Value};
use simcore::validate::quote;
use simcore::{CarrierStatus, Lifecycle, SimState, ValidationError};

pub mod keys {
    //! The JSON key names of a SIM record, in one place.
    //!
    //! Confirmed by EdgeIQ's documentation: [`ICCID`], [`STATUS`], [`SIM_METADATA`]. The others are
    //! **unconfirmed** (EdgeIQ names the fields but not their keys): the values here are this SDK's
    //! best reading, and changing one of them here changes what is read and sent everywhere.

    /// The record's 24-hex-digit system id, as MongoDB names it (**unconfirmed**; [`ID_ALT`] is
    /// read too).
    pub const ID: &str = "_id";
    /// The other plausible key of the system id (**unconfirmed**), read when [`ID`] is absent.
    pub const ID_ALT: &str = "id";

    /// The linked device's id (**unconfirmed**).
    pub const DEVICE_ID: &str = "device_id";
    /// The id of the MNO integration that syncs the SIM with a carrier (**unconfirmed**).
    pub const MNO_INTEGRATION_ID: &str = "mno_integration_id";
    /// The ICCID.
    pub const ICCID: &str = "iccid";
    /// The MSISDN (**unconfirmed**).
    pub const MSISDN: &str = "msisdn";
    /// The carrier status.
    pub const STATUS: &str = "status";
    /// The carrier communication plan name (**unconfirmed**).
    pub const COMMUNICATION_PLAN: &str = "communication_plan";
    /// The carrier rate plan name (**unconfirmed**).
    pub const RATE_PLAN: &str = "rate_plan";
    /// The SIM's metadata object.
    pub const SIM_METADATA: &str = "sim_metadata";

    /// The owning company (read-only).
    pub const COMPANY_ID: &str = "company_id";
    /// Cycle-to-date data usage (read-only).
    pub const CTD_DATA_USAGE: &str = "ctd_data_usage";
    /// Cycle-to-date SMS usage (read-only).
    pub const CTD_SMS_USAGE: &str = "ctd_sms_usage";
    /// The usage included in the plan (read-only).
    pub const INCLUDED_USAGE: &str = "included_usage";
    /// Whether the overage limit was reached (read-only).
    pub const OVERAGE_LIMIT_REACHED: &str = "overage_limit_reached";
    /// Whether the carrier bars the SIM (read-only).
    pub const SIM_BARRED: &str = "sim_barred";
    /// When the MNO integration last synced the SIM (read-only).
    pub const LAST_SYNC_AT: &str = "last_sync_at";
    /// Audit: when the record was created (read-only).
    pub const CREATED_AT: &str = "created_at";
    /// Audit: when the record was last changed (read-only).
    pub const UPDATED_AT: &str = "updated_at";
    /// Audit: the user who owns or last changed the record (read-only).
    pub const USER_ID: &str = "user_id";

    /// Every key an update may carry, in the order a patch is written.
    pub const WRITABLE: &[&str] = &[
        DEVICE_ID,
        MNO_INTEGRATION_ID,
        ICCID,
        MSISDN,
        STATUS,
        COMMUNICATION_PLAN,
        RATE_PLAN,
        SIM_METADATA,
    ];

    /// The keys the server owns: read into [`SimRecord`](crate::SimRecord), never sent.
    pub const READ_ONLY: &[&str] = &[
        COMPANY_ID,
        CTD_DATA_USAGE,
        CTD_SMS_USAGE,
        INCLUDED_USAGE,
        OVERAGE_LIMIT_REACHED,
        SIM_BARRED,
        LAST_SYNC_AT,
        CREATED_AT,
        UPDATED_AT,
        USER_ID,
    ];
}

/// A SIM record's system id: exactly 24 hex digits (a MongoDB ObjectId, in all likelihood).
///
/// Upper- and lowercase digits are accepted and kept as given.
///
/// ```
/// use edgeiq_client::SimId;
/// let id: SimId = "65f1c0ffee0123456789abcd".parse()?;
/// assert_eq!(id.as_str(), "65f1c0ffee0123456789abcd");
/// let err = SimId::parse("65f1c0ffee").unwrap_err();
/// assert_eq!(err.to_string(), "invalid id: must be exactly 24 hex digits (found 10 characters: \"65f1c0ffee\")");
/// # Ok::<(), simcore::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SimId(String);

impl SimId {
    /// The field name used in errors.
    pub const FIELD: &'static str = "id";
    /// The number of hex digits.
    pub const LEN: usize = 24;

    /// Parses a system id.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.len() != Self::LEN || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            let n = s.chars().count();
            let unit = if n == 1 { "character" } else { "characters" };
            return Err(ValidationError::new(
                Self::FIELD,
                "must be exactly 24 hex digits",
                format!("{n} {unit}: {}", quote(s)),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An id taken as it is, unchecked: for a placeholder that is replaced before use.
    pub(crate) fn unchecked(s: String) -> Self {
        Self(s)
    }
}

impl FromStr for SimId {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl TryFrom<&str> for SimId {
    type Error = ValidationError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl TryFrom<String> for SimId {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::parse(&s)
    }
}

impl From<SimId> for String {
    fn from(id: SimId) -> String {
        id.0
    }
}

impl AsRef<str> for SimId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SimId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for SimId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SimId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(d)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The writable part of a SIM record (EdgeIQ's `SimInput`), as plain values.
///
/// `None` means "not present". Turn it into an update with
/// [`UpdateSimRequest::from_input`](crate::UpdateSimRequest::from_input):
/// present values are set, absent ones kept. It has no room for a read-only field.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimInput {
    /// The linked device's id (required on creation).
    pub device_id: Option<String>,
    /// The id of the MNO integration that syncs the SIM with a carrier platform.
    pub mno_integration_id: Option<String>,
    /// The ICCID: 18 to 22 digits, unique on the platform (required on creation).
    pub iccid: Option<String>,
    /// The MSISDN: at most 20 characters.
    pub msisdn: Option<String>,
    /// The carrier status: open text, at most 30 characters.
    pub status: Option<String>,
    /// The carrier communication plan name: at most 255 characters.
    pub communication_plan: Option<String>,
    /// The carrier rate plan name: at most 255 characters.
    pub rate_plan: Option<String>,
    /// Free metadata: a JSON object with at most 50 top-level keys.
    pub sim_metadata: Option<Map<String, Value>>,
}

/// A SIM record as EdgeIQ returns it: the writable fields, the server's read-only fields, and
/// everything else in [`extra`](SimRecord::extra).
///
/// ```
/// use edgeiq_client::SimRecord;
/// use simcore::SimState;
///
/// let record: SimRecord = serde_json::from_value(serde_json::json!({
///     "_id": "65f1c0ffee0123456789abcd",
///     "iccid": "89882806660004909182",
///     "status": "suspended",
///     "ctd_data_usage": 1048576,
///     "carrier_notes": "kept"
/// }))?;
/// assert_eq!(record.id.as_deref(), Some("65f1c0ffee0123456789abcd"));
/// assert_eq!(record.state(), SimState::Inactive);
/// assert_eq!(record.ctd_data_usage.as_ref().and_then(|n| n.as_u64()), Some(1048576));
/// assert_eq!(record.extra["carrier_notes"], "kept");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct SimRecord {
    /// The system id (read from `_id`, or from `id` when `_id` is absent).
    pub id: Option<String>,
    /// The linked device's id.
    pub device_id: Option<String>,
    /// The id of the MNO integration that syncs the SIM with a carrier.
    pub mno_integration_id: Option<String>,
    /// The ICCID, as stored.
    pub iccid: Option<String>,
    /// The MSISDN, as stored.
    pub msisdn: Option<String>,
    /// The carrier status, as stored (see [`SimRecord::state`]).
    pub status: Option<String>,
    /// The carrier communication plan name.
    pub communication_plan: Option<String>,
    /// The carrier rate plan name.
    pub rate_plan: Option<String>,
    /// The SIM's metadata object.
    pub sim_metadata: Option<Map<String, Value>>,

    /// The owning company (read-only).
    pub company_id: Option<String>,
    /// Cycle-to-date data usage (read-only).
    pub ctd_data_usage: Option<Number>,
    /// Cycle-to-date SMS usage (read-only).
    pub ctd_sms_usage: Option<Number>,
    /// The usage included in the plan, as sent (read-only; its shape is not documented).
    pub included_usage: Option<Value>,
    /// Whether the overage limit was reached (read-only).
    pub overage_limit_reached: Option<bool>,
    /// Whether the carrier bars the SIM (read-only).
    pub sim_barred: Option<bool>,
    /// When the MNO integration last synced the SIM, as sent (read-only).
    pub last_sync_at: Option<String>,
    /// Audit: creation time, as sent (read-only).
    pub created_at: Option<String>,
    /// Audit: last change time, as sent (read-only).
    pub updated_at: Option<String>,
    /// Audit: the user id (read-only).
    pub user_id: Option<String>,

    /// Every other key (other audit fields, fields this SDK does not know) and any known key
    /// whose value had an unexpected JSON type, as sent. Never sent back.
    pub extra: Map<String, Value>,
}

/// Every record EdgeIQ returns carries its system id (`_id`) and its status (`inactive` unless
/// set): an answer without them is not EdgeIQ's.
impl simcore::http::Resource for SimRecord {
    fn missing(&self) -> Option<&'static str> {
        if self.id.is_none() {
            Some("_id")
        } else if self.status.is_none() {
            Some("status")
        } else {
            None
        }
    }
}

impl SimRecord {
    /// The canonical state of [`SimRecord::status`] (see [`canonical`]); a record without a
    /// status is `Unknown("")`.
    pub fn state(&self) -> SimState {
        match &self.status {
            Some(s) => canonical(s),
            None => SimState::Unknown(String::new()),
        }
    }

    /// The writable part of the record; the read-only fields, the id and `extra` are left out.
    pub fn input(&self) -> SimInput {
        SimInput {
            device_id: self.device_id.clone(),
            mno_integration_id: self.mno_integration_id.clone(),
            iccid: self.iccid.clone(),
            msisdn: self.msisdn.clone(),
            status: self.status.clone(),
            communication_plan: self.communication_plan.clone(),
            rate_plan: self.rate_plan.clone(),
            sim_metadata: self.sim_metadata.clone(),
        }
    }

    /// An update of this record that sets every writable field present in it (see
    /// [`UpdateSimRequest::from_record`](crate::UpdateSimRequest::from_record)). Read-only
    /// fields cannot follow: the request type has no place for them. The record must carry its
    /// id.
    pub fn to_request(&self) -> Result<crate::UpdateSimRequest, ValidationError> {
        crate::UpdateSimRequest::from_record(self)
    }

    /// The record as a JSON object, under the keys it is read from (the id under
    /// [`keys::ID`]), `extra` included.
    pub fn to_json(&self) -> Map<String, Value> {
        let mut map = self.extra.clone();
        let mut put = |key: &str, value: Option<Value>| {
            if let Some(v) = value {
                map.insert(key.to_owned(), v);
            }
        };
        let s = |v: &Option<String>| v.clone().map(Value::String);
        put(keys::ID, s(&self.id));
        put(keys::DEVICE_ID, s(&self.device_id));
        put(keys::MNO_INTEGRATION_ID, s(&self.mno_integration_id));
        put(keys::ICCID, s(&self.iccid));
        put(keys::MSISDN, s(&self.msisdn));
        put(keys::STATUS, s(&self.status));
        put(keys::COMMUNICATION_PLAN, s(&self.communication_plan));
        put(keys::RATE_PLAN, s(&self.rate_plan));
        put(
            keys::SIM_METADATA,
            self.sim_metadata.clone().map(Value::Object),
        );
        put(keys::COMPANY_ID, s(&self.company_id));
        put(
            keys::CTD_DATA_USAGE,
            self.ctd_data_usage.clone().map(Value::Number),
        );
        put(
            keys::CTD_SMS_USAGE,
            self.ctd_sms_usage.clone().map(Value::Number),
        );
        put(keys::INCLUDED_USAGE, self.included_usage.clone());
        put(
            keys::OVERAGE_LIMIT_REACHED,
            self.overage_limit_reached.map(Value::Bool),
        );
        put(keys::SIM_BARRED, self.sim_barred.map(Value::Bool));
        put(keys::LAST_SYNC_AT, s(&self.last_sync_at));
        put(keys::CREATED_AT, s(&self.created_at));
        put(keys::UPDATED_AT, s(&self.updated_at));
        put(keys::USER_ID, s(&self.user_id));
        map
    }

    /// Reads a record from a JSON object, keeping whatever does not fit in `extra`.
    pub fn from_json(mut map: Map<String, Value>) -> Self {
        let id = match take_string(&mut map, keys::ID) {
            Some(id) => Some(id),
            None => take_string(&mut map, keys::ID_ALT),
        };
        Self {
            id,
            device_id: take_string(&mut map, keys::DEVICE_ID),
            mno_integration_id: take_string(&mut map, keys::MNO_INTEGRATION_ID),
            iccid: take_string(&mut map, keys::ICCID),
            msisdn: take_string(&mut map, keys::MSISDN),
            status: take_string(&mut map, keys::STATUS),
            communication_plan: take_string(&mut map, keys::COMMUNICATION_PLAN),
            rate_plan: take_string(&mut map, keys::RATE_PLAN),
            sim_metadata: take(&mut map, keys::SIM_METADATA, |v| match v {
                Value::Object(m) => Ok(m),
                other => Err(other),
            }),
            company_id: take_string(&mut map, keys::COMPANY_ID),
            ctd_data_usage: take_number(&mut map, keys::CTD_DATA_USAGE),
            ctd_sms_usage: take_number(&mut map, keys::CTD_SMS_USAGE),
            included_usage: take(&mut map, keys::INCLUDED_USAGE, Ok),
            overage_limit_reached: take_bool(&mut map, keys::OVERAGE_LIMIT_REACHED),
            sim_barred: take_bool(&mut map, keys::SIM_BARRED),
            last_sync_at: take_string(&mut map, keys::LAST_SYNC_AT),
            created_at: take_string(&mut map, keys::CREATED_AT),
            updated_at: take_string(&mut map, keys::UPDATED_AT),
            user_id: take_string(&mut map, keys::USER_ID),
            extra: map,
        }
    }
}

/// Takes `key` out of `map` when `convert` accepts its value; `null` counts as absent. A value
/// `convert` refuses is put back, so it stays in `extra`.
fn take<T>(
    map: &mut Map<String, Value>,
    key: &str,
    convert: impl FnOnce(Value) -> Result<T, Value>,
) -> Option<T> {
    match map.remove(key)? {
        Value::Null => None,
        v => match convert(v) {
            Ok(t) => Some(t),
            Err(back) => {
                map.insert(key.to_owned(), back);
                None
            }
        },
    }
}

fn take_string(map: &mut Map<String, Value>, key: &str) -> Option<String> {
    take(map, key, |v| match v {
        Value::String(s) => Ok(s),
        other => Err(other),
    })
}

fn take_number(map: &mut Map<String, Value>, key: &str) -> Option<Number> {
    take(map, key, |v| match v {
        Value::Number(n) => Ok(n),
        other => Err(other),
    })
}

fn take_bool(map: &mut Map<String, Value>, key: &str) -> Option<bool> {
    take(map, key, |v| match v {
        Value::Bool(b) => Ok(b),
        other => Err(other),
    })
}

impl<'de> Deserialize<'de> for SimRecord {
    /// Reads a record as [`SimRecord::from_json`] does, field by field as the keys come, with no
    /// intermediate map of the whole record (a page of a list holds a thousand).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RecordVisitor {
            snapshot_only: false,
        })
    }
}

/// A record read for [`SimProvider::list`](simcore::SimProvider::list): its id, ICCID and
/// status; every other key is skipped unread. A plan lists whole fleets.
pub(crate) struct SnapshotRecord(SimRecord);

impl<'de> Deserialize<'de> for SnapshotRecord {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RecordVisitor {
            snapshot_only: true,
        })
        .map(SnapshotRecord)
    }
}

impl From<SnapshotRecord> for SimRecord {
    fn from(r: SnapshotRecord) -> Self {
        r.0
    }
}

/// Reads a record: whole, or only what a snapshot holds.
struct RecordVisitor {
    snapshot_only: bool,
}

impl<'de> de::Visitor<'de> for RecordVisitor {
    type Value = SimRecord;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a SIM record (a JSON object)")
    }

    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<SimRecord, A::Error> {
        let mut r = SimRecord::default();
        // The id keys are settled at the end: `_id` wins over `id`, whatever the order.
        let mut id: Option<Value> = None;
        let mut id_alt: Option<Value> = None;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let key = key.as_ref();
            let wanted = !self.snapshot_only
                || [keys::ID, keys::ID_ALT, keys::ICCID, keys::STATUS].contains(&key);
            if !wanted {
                map.next_value::<de::IgnoredAny>()?;
                continue;
            }
            let value: Value = map.next_value()?;
            if key == keys::ID {
                id = Some(value);
            } else if key == keys::ID_ALT {
                id_alt = Some(value);
            } else {
                r.put(key, value);
            }
        }
        let mut put_back = |key: &str, v: Value| {
            r.extra.insert(key.to_owned(), v);
        };
        match id {
            Some(Value::String(s)) => {
                r.id = Some(s);
                // As `from_json` leaves it: `id` stays in `extra` when `_id` is there.
                if let Some(v) = id_alt {
                    put_back(keys::ID_ALT, v);
                }
            }
            other => {
                if let Some(v) = other.filter(|v| !v.is_null()) {
                    put_back(keys::ID, v);
                }
                match id_alt {
                    Some(Value::String(s)) => r.id = Some(s),
                    Some(v) if !v.is_null() => put_back(keys::ID_ALT, v),
                    _ => {}
                }
            }
        }
        Ok(r)
    }
}

impl SimRecord {
    /// Sets the field `key` names from `value`, as [`SimRecord::from_json`] would: `null` is
    /// absent, a value of another type than the field's goes to `extra`, and an unknown key
    /// goes to `extra` as it is.
    fn put(&mut self, key: &str, value: Value) {
        fn string(slot: &mut Option<String>, v: Value) -> Result<(), Value> {
            match v {
                Value::String(s) => *slot = Some(s),
                other => return Err(other),
            }
            Ok(())
        }
        fn number(slot: &mut Option<Number>, v: Value) -> Result<(), Value> {
            match v {
                Value::Number(n) => *slot = Some(n),
                other => return Err(other),
            }
            Ok(())
        }
        fn boolean(slot: &mut Option<bool>, v: Value) -> Result<(), Value> {
            match v {
                Value::Bool(b) => *slot = Some(b),
                other => return Err(other),
            }
            Ok(())
        }
        // A repeated key: the last one counts, as in a JSON object read whole.
        self.extra.remove(key);
        if value.is_null() {
            // A known field set to `null` is absent; an unknown key keeps its `null`.
            if !self.clear(key) {
                self.extra.insert(key.to_owned(), value);
            }
            return;
        }
        let result = match key {
            keys::DEVICE_ID => string(&mut self.device_id, value),
            keys::MNO_INTEGRATION_ID => string(&mut self.mno_integration_id, value),
            keys::ICCID => string(&mut self.iccid, value),
            keys::MSISDN => string(&mut self.msisdn, value),
            keys::STATUS => string(&mut self.status, value),
            keys::COMMUNICATION_PLAN => string(&mut self.communication_plan, value),
            keys::RATE_PLAN => string(&mut self.rate_plan, value),
            keys::SIM_METADATA => match value {
                Value::Object(m) => {
                    self.sim_metadata = Some(m);
                    Ok(())
                }
                other => Err(other),
            },
            keys::COMPANY_ID => string(&mut self.company_id, value),
            keys::CTD_DATA_USAGE => number(&mut self.ctd_data_usage, value),
            keys::CTD_SMS_USAGE => number(&mut self.ctd_sms_usage, value),
            keys::INCLUDED_USAGE => {
                self.included_usage = Some(value);
                Ok(())
            }
            keys::OVERAGE_LIMIT_REACHED => boolean(&mut self.overage_limit_reached, value),
            keys::SIM_BARRED => boolean(&mut self.sim_barred, value),
            keys::LAST_SYNC_AT => string(&mut self.last_sync_at, value),
            keys::CREATED_AT => string(&mut self.created_at, value),
            keys::UPDATED_AT => string(&mut self.updated_at, value),
            keys::USER_ID => string(&mut self.user_id, value),
            _ => Err(value),
        };
        if let Err(kept) = result {
            let _known = self.clear(key);
            self.extra.insert(key.to_owned(), kept);
        }
    }

    /// Empties the field `key` names; `false` if it names none.
    fn clear(&mut self, key: &str) -> bool {
        match key {
            keys::DEVICE_ID => self.device_id = None,
            keys::MNO_INTEGRATION_ID => self.mno_integration_id = None,
            keys::ICCID => self.iccid = None,
            keys::MSISDN => self.msisdn = None,
            keys::STATUS => self.status = None,
            keys::COMMUNICATION_PLAN => self.communication_plan = None,
            keys::RATE_PLAN => self.rate_plan = None,
            keys::SIM_METADATA => self.sim_metadata = None,
            keys::COMPANY_ID => self.company_id = None,
            keys::CTD_DATA_USAGE => self.ctd_data_usage = None,
            keys::CTD_SMS_USAGE => self.ctd_sms_usage = None,
            keys::INCLUDED_USAGE => self.included_usage = None,
            keys::OVERAGE_LIMIT_REACHED => self.overage_limit_reached = None,
            keys::SIM_BARRED => self.sim_barred = None,
            keys::LAST_SYNC_AT => self.last_sync_at = None,
            keys::CREATED_AT => self.created_at = None,
            keys::UPDATED_AT => self.updated_at = None,
            keys::USER_ID => self.user_id = None,
            _ => return false,
        }
        true
    }
}

pub mod list_keys {
    //! How `GET /sims` is asked for and read, in one place.
    //!
    //! EdgeIQ documents that its lists (`GET /devices`, `/reports`, and very likely `/sims`)
    //! answer a bare JSON array, or `{"total": n, "resources": [...]}` when asked with
    //! `page_meta=true`. Both are read. The names of the page and page-size parameters, where
    //! pages start and the largest page are **unconfirmed**: the values here are this SDK's
    //! reading, and changing one here changes what every list sends.
    //!
    //! The list ends at an empty page, at the `total` when the answer gives one, and otherwise
    //! at a page shorter than the page size asked for
    //! (the list's `next` page: see [`ListSims`](crate::ListSims)).

    /// The query parameter of the page number (**unconfirmed**).
    pub const PAGE: &str = "page";
    /// The query parameter of the page size (**unconfirmed**).
    pub const PER_PAGE: &str = "per_page";
    /// The query parameter that asks for the `{"total", "resources"}` envelope (documented for
    /// EdgeIQ's lists).
    pub const PAGE_META: &str = "page_meta";
    /// The number of the first page (**unconfirmed**).
    pub const FIRST_PAGE: u32 = 1;
    /// The largest page asked for, and the default (**unconfirmed**).
    pub const MAX_PAGE_SIZE: u32 = 1000;
    /// The envelope's total number of records.
    pub const TOTAL: &str = "total";
    /// The envelope's records.
    pub const RESOURCES: &str = "resources";
}

/// Reads a page's body: a bare JSON array of records, or `{"total": n, "resources": [...]}`;
/// the records, and the total when the answer gave one. With `snapshot_only`, of each record
/// only what a snapshot holds is read. `Err` says why the body is neither.
pub(crate) fn read_list_body(
    body: &[u8],
    snapshot_only: bool,
) -> Result<(Vec<SimRecord>, Option<u64>), String> {
    if snapshot_only {
        read_list::<SnapshotRecord>(body)
    } else {
        read_list::<SimRecord>(body)
    }
}

fn read_list<'a, T: Deserialize<'a> + Into<SimRecord>>(
    body: &'a [u8],
) -> Result<(Vec<SimRecord>, Option<u64>), String> {
    let raw: RawPage<T> = serde_json::from_slice(body).map_err(|e| e.to_string())?;
    let Some(sims) = raw.sims else {
        return Err(format!(
            "not a list of EdgeIQ SIMs: neither a JSON array nor an object with {:?}",
            list_keys::RESOURCES
        ));
    };
    Ok((sims.into_iter().map(Into::into).collect(), raw.total))
}

/// Whether a page follows page `page` of `per_page`, which held `count` records: not after an
/// empty page; otherwise while the records read so far are fewer than the `total`, or, without
/// one, when this page is full.
pub(crate) fn list_has_next(page: u32, per_page: u32, count: usize, total: Option<u64>) -> bool {
    if count == 0 {
        return false;
    }
    let before = u64::from(page.saturating_sub(list_keys::FIRST_PAGE));
    match total {
        Some(total) => before * u64::from(per_page) + (count as u64) < total,
        None => count as u64 >= u64::from(per_page),
    }
}

/// What a page's body carried, read in one pass.
struct RawPage<T> {
    sims: Option<Vec<T>>,
    total: Option<u64>,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for RawPage<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);

        impl<'de, T: Deserialize<'de>> de::Visitor<'de> for V<T> {
            type Value = RawPage<T>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a list of SIM records, or {\"total\", \"resources\"}")
            }

            fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawPage<T>, A::Error> {
                let mut sims = Vec::with_capacity(seq.size_hint().unwrap_or(0));
                while let Some(record) = seq.next_element::<T>()? {
                    sims.push(record);
                }
                Ok(RawPage {
                    sims: Some(sims),
                    total: None,
                })
            }

            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<RawPage<T>, A::Error> {
                let mut page = RawPage {
                    sims: None,
                    total: None,
                };
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    if key == list_keys::RESOURCES {
                        page.sims = map.next_value::<Option<Vec<T>>>()?;
                    } else if key == list_keys::TOTAL {
                        page.total = match map.next_value::<Value>()? {
                            Value::Number(n) => n.as_u64(),
                            Value::String(s) => s.trim().parse().ok(),
                            _ => None,
                        };
                    } else {
                        map.next_value::<de::IgnoredAny>()?;
                    }
                }
                Ok(page)
            }
        }

        d.deserialize_any(V(std::marker::PhantomData))
    }
}

impl Serialize for SimRecord {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.to_json().serialize(s)
    }
}

/// EdgeIQ's status is free carrier text (at most 30 characters, checked by
/// [`CarrierStatus`]): there is no transition table, every value may follow every other.
pub static LIFECYCLE: Lifecycle<CarrierStatus> = Lifecycle::open(crate::PROVIDER);

/// The common carrier values in canonical terms (case-insensitive); others are `Unknown`.
///
/// `inactive` and `suspended` are both [`SimState::Inactive`]; `deactivated` and `retired` are
/// both [`SimState::Retired`]. The snapshot keeps the carrier's own word.
pub fn canonical(status: &str) -> SimState {
    match status.to_ascii_lowercase().as_str() {
        "active" => SimState::Active,
        "inactive" | "suspended" => SimState::Inactive,
        "deactivated" | "retired" => SimState::Retired,
        _ => SimState::Unknown(status.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sim_id_table() {
        for ok in [
            "65f1c0ffee0123456789abcd",
            "65F1C0FFEE0123456789ABCD",
            "000000000000000000000000",
        ] {
            assert_eq!(SimId::parse(ok).unwrap().as_str(), ok);
        }
        for bad in [
            "",
            "65f1c0ffee0123456789abc",   // 23
            "65f1c0ffee0123456789abcde", // 25
            "65f1c0ffee0123456789abcg",  // not hex
            "65f1c0ffee0123456789abc ",
            "65f1c0ffee/123456789abcd",
            "65f1c0ffee0123456789abcé",
        ] {
            let e = SimId::parse(bad).unwrap_err();
            assert_eq!(e.field(), "id", "{bad:?}");
            assert_eq!(e.rule(), "must be exactly 24 hex digits", "{bad:?}");
        }
        let id: SimId = serde_json::from_value(json!("65f1c0ffee0123456789abcd")).unwrap();
        assert_eq!(
            serde_json::to_value(&id).unwrap(),
            json!("65f1c0ffee0123456789abcd")
        );
        assert!(serde_json::from_value::<SimId>(json!("nope")).is_err());
    }

    #[test]
    fn id_key_is_read_from_either_name() {
        let a = SimRecord::from_json(json!({"_id": "a"}).as_object().unwrap().clone());
        assert_eq!(a.id.as_deref(), Some("a"));
        let b = SimRecord::from_json(json!({"id": "b"}).as_object().unwrap().clone());
        assert_eq!(b.id.as_deref(), Some("b"));
        // Both present: `_id` wins, `id` is kept in extra.
        let c = SimRecord::from_json(json!({"_id": "c", "id": "d"}).as_object().unwrap().clone());
        assert_eq!(c.id.as_deref(), Some("c"));
        assert_eq!(c.extra["id"], "d");
    }

    #[test]
    fn unexpected_types_are_kept_not_fatal() {
        let v = json!({
            "iccid": 8988,
            "status": null,
            "sim_metadata": "not an object",
            "ctd_data_usage": "12",
            "sim_barred": "yes",
            "brand_new": {"x": 1}
        });
        let r: SimRecord = serde_json::from_value(v).unwrap();
        assert_eq!(r.iccid, None);
        assert_eq!(r.status, None);
        assert_eq!(r.state(), SimState::Unknown(String::new()));
        assert_eq!(r.sim_metadata, None);
        assert_eq!(r.extra["iccid"], 8988);
        assert_eq!(r.extra["sim_metadata"], "not an object");
        assert_eq!(r.extra["ctd_data_usage"], "12");
        assert_eq!(r.extra["sim_barred"], "yes");
        assert_eq!(r.extra["brand_new"], json!({"x": 1}));
        assert!(!r.extra.contains_key("status"));
    }

    #[test]
    fn json_round_trip() {
        let v = json!({
            "_id": "65f1c0ffee0123456789abcd",
            "device_id": "dev-1",
            "mno_integration_id": "mno-1",
            "iccid": "89882806660004909182",
            "msisdn": "+4917000000",
            "status": "active",
            "communication_plan": "cp",
            "rate_plan": "rp",
            "sim_metadata": {"a": {"b": 1}},
            "company_id": "acme",
            "ctd_data_usage": 1.5,
            "ctd_sms_usage": 3,
            "included_usage": {"data": 100},
            "overage_limit_reached": false,
            "sim_barred": true,
            "last_sync_at": "2024-03-01T10:00:00Z",
            "created_at": "2024-01-01T00:00:00Z",
            "updated_at": "2024-02-01T00:00:00Z",
            "user_id": "u1",
            "origin": "import"
        });
        let r: SimRecord = serde_json::from_value(v.clone()).unwrap();
        assert_eq!(serde_json::to_value(&r).unwrap(), v);
        assert_eq!(r.extra.len(), 1);
    }

    #[test]
    fn reading_in_place_agrees_with_from_json() {
        let cases = [
            json!({"_id": "a", "id": "b", "status": null, "x": null, "iccid": 8988}),
            json!({"id": "b", "_id": "a"}),
            json!({"id": null, "_id": null, "device_id": "d"}),
            json!({"_id": 5, "id": "b"}),
            json!({"_id": 5, "id": [1]}),
            json!({"_id": null, "id": null}),
            json!({"sim_metadata": {"a": 1}, "sim_barred": "yes", "ctd_data_usage": 1.5, "included_usage": [1]}),
            json!({"overage_limit_reached": false, "user_id": "u", "unknown": {"deep": [null]}}),
            json!({}),
        ];
        for v in cases {
            let Value::Object(map) = v.clone() else {
                unreachable!()
            };
            let expected = SimRecord::from_json(map);
            let streamed: SimRecord = serde_json::from_str(&v.to_string()).unwrap();
            assert_eq!(streamed, expected, "{v}");
            let from_value: SimRecord = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(from_value, expected, "{v}");
        }
        // A repeated key: the last one counts.
        let r: SimRecord =
            serde_json::from_str(r#"{"iccid": 1, "iccid": "8988", "status": "a", "status": null}"#)
                .unwrap();
        assert_eq!(
            (r.iccid.as_deref(), r.status.as_deref()),
            (Some("8988"), None)
        );
        assert!(r.extra.is_empty(), "{:?}", r.extra);
        assert!(serde_json::from_str::<SimRecord>("[1]").is_err());
    }

    #[test]
    fn a_page_read_for_snapshots_keeps_what_they_hold() {
        let body = json!({"total": 3, "resources": [
            {"_id": "a", "id": "b", "iccid": "8988", "status": "active", "sim_metadata": {"k": [1]}, "x": 1},
            {"id": "c", "status": null, "iccid": 8988},
            {"_id": 7, "id": "d", "status": "suspended"},
        ]})
        .to_string();
        let full = read_list_body(body.as_bytes(), false).unwrap();
        let lean = read_list_body(body.as_bytes(), true).unwrap();
        assert_eq!(lean.1, full.1);
        for (l, f) in lean.0.iter().zip(&full.0) {
            assert_eq!((&l.id, &l.iccid, &l.status), (&f.id, &f.iccid, &f.status));
            assert_eq!(l.state(), f.state());
            assert!(l.sim_metadata.is_none() && !l.extra.contains_key("x"));
        }
    }

    #[test]
    fn list_pages_bare_or_with_page_meta() {
        let r = |id: &str| json!({"_id": id, "status": "active"});
        let table = [
            (json!([r("a"), r("b")]), 1, 2, 2, None, true),
            (json!([r("a")]), 1, 2, 1, None, false),
            (json!([]), 1, 2, 0, None, false),
            (
                json!({"total": 4, "resources": [r("a"), r("b")]}),
                2,
                2,
                2,
                Some(4),
                false,
            ),
            (
                json!({"total": "5", "resources": [r("a"), r("b")]}),
                2,
                2,
                2,
                Some(5),
                true,
            ),
            (
                json!({"total": 9, "resources": [r("a")]}),
                1,
                2,
                1,
                Some(9),
                true,
            ),
            (
                json!({"resources": [r("a"), r("b")], "extra": {"x": 1}}),
                1,
                2,
                2,
                None,
                true,
            ),
            (
                json!({"total": 0, "resources": []}),
                1,
                2,
                0,
                Some(0),
                false,
            ),
        ];
        for (i, (body, page, per_page, n, total, more)) in table.into_iter().enumerate() {
            let (sims, t) = read_list_body(body.to_string().as_bytes(), false)
                .unwrap_or_else(|e| panic!("case {i}: {e}"));
            assert_eq!(
                (sims.len(), t, list_has_next(page, per_page, sims.len(), t)),
                (n, total, more),
                "case {i}"
            );
        }
        for bad in [
            json!({"total": 3}),
            json!({"data": []}),
            json!("x"),
            json!([1]),
        ] {
            assert!(
                read_list_body(bad.to_string().as_bytes(), false).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn keys_lists_are_disjoint() {
        for k in keys::READ_ONLY {
            assert!(!keys::WRITABLE.contains(k), "{k}");
        }
    }
}
