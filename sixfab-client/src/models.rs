//! What Sixfab Connect names and returns: asset ids, assets, update answers.
//!
//! Reading is tolerant: the asset's response shape is not public, so the fields this crate knows
//! are typed and everything else is kept in [`Asset::extra`]; a status this crate does not know is
//! kept as [`AssetStatus::Unknown`].

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};
use simcore::validate::quote;
use simcore::{Iccid, ValidationError};

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
    /// (`HS` and 32 hex), and anything else non-empty as a serial number. Empty, `.` and `..` are
    /// refused.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if is_uuid(s) {
            Ok(Self::new(AssetIdKind::Uuid, s))
        } else if Iccid::parse(s).is_ok() {
            Ok(Self::new(AssetIdKind::Iccid, s))
        } else if is_sim_sid(s) {
            Ok(Self::new(AssetIdKind::SimSid, s))
        } else {
            Self::serial(s)
        }
    }

    /// A serial number: any text except empty, `.` and `..`.
    pub fn serial(s: impl Into<String>) -> Result<Self, ValidationError> {
        let s = s.into();
        if s.is_empty() || s == "." || s == ".." {
            return Err(ValidationError::new(
                Self::FIELD,
                "must not be empty, \".\" or \"..\"",
                quote(&s),
            ));
        }
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Asset {
    /// The asset's id, if the answer carries one.
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub id: Option<String>,
    /// The asset's UUID.
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub uuid: Option<String>,
    /// The asset's serial number (read from `serial_number` or `serial`).
    #[serde(
        default,
        alias = "serial",
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub serial_number: Option<String>,
    /// The display name.
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub name: Option<String>,
    /// The status: the master switch of every SIM on the asset.
    #[serde(
        default,
        deserialize_with = "lenient_status",
        skip_serializing_if = "Option::is_none"
    )]
    pub status: Option<AssetStatus>,
    /// The ICCID of the asset's SIM, when the answer carries one at the top level.
    #[serde(
        default,
        deserialize_with = "lenient_text",
        skip_serializing_if = "Option::is_none"
    )]
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
        let value = match value {
            Value::Object(mut map) if is_envelope(&map) => map.remove("data").unwrap_or_default(),
            other => other,
        };
        serde_json::from_value(value)
    }

    /// Whether any field this crate knows is present (an answer without one is not an asset).
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
}

/// Keys that mark an object as an asset rather than an envelope.
const ASSET_KEYS: &[&str] = &["id", "uuid", "serial_number", "serial", "name", "iccid"];

fn is_envelope(map: &Map<String, Value>) -> bool {
    map.get("data").is_some_and(Value::is_object)
        && !ASSET_KEYS.iter().any(|k| map.contains_key(*k))
}

/// Text, or a number read as its decimal text; `null` and anything else is absent.
fn lenient_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::String(s) => Some(s),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    })
}

/// A status string (kept even when unknown); `null` is absent; any other JSON value is kept as
/// an unknown status with its JSON text.
fn lenient_status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<AssetStatus>, D::Error> {
    Ok(match Value::deserialize(d)? {
        Value::Null => None,
        Value::String(s) => Some(AssetStatus::from(s.as_str())),
        other => Some(AssetStatus::Unknown(other.to_string())),
    })
}

/// What an update's success answer carried.
#[derive(Debug, Clone, PartialEq)]
pub enum Updated {
    /// The asset as it is now.
    Asset(Asset),
    /// A JSON body that is not an asset (a confirmation message, say), kept as sent.
    Other(Value),
    /// No body.
    NoBody,
}

impl Updated {
    /// Sorts a success answer's JSON: an asset if it has a field an asset has, otherwise kept
    /// as it is.
    pub fn from_json(value: Value) -> Self {
        if value.is_object() {
            if let Ok(asset) = Asset::from_json(value.clone()) {
                if asset.has_known_fields() {
                    return Updated::Asset(asset);
                }
            }
        }
        Updated::Other(value)
    }

    /// The asset, when the answer carried one.
    pub fn asset(&self) -> Option<&Asset> {
        match self {
            Updated::Asset(a) => Some(a),
            _ => None,
        }
    }
}

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

        let a = Asset::from_json(json!({"status": 1})).unwrap();
        assert_eq!(a.status, Some(AssetStatus::Unknown("1".into())));
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
            Updated::from_json(json!({"name": "pump"})),
            Updated::Asset(_)
        ));
        assert_eq!(
            Updated::from_json(json!({"message": "Asset updated"})),
            Updated::Other(json!({"message": "Asset updated"}))
        );
        assert_eq!(Updated::from_json(json!(true)), Updated::Other(json!(true)));
    }

    proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in any::<String>()) {
            if let Ok(id) = AssetId::parse(&s) {
                prop_assert_eq!(id.as_str(), s.as_str());
                prop_assert_eq!(AssetId::parse(id.as_str()).unwrap(), id);
            }
        }
    }
}
