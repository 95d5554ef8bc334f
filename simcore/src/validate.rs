//! Validation types: parse once at the edge, carry the type afterwards.
//!
//! Every constructor returns a [`ValidationError`] naming the field, the rule and what was found,
//! so a caller can show it to a person as it is. Values that a provider would reject are also
//! rejected when they are deserialized, so a typed value is valid wherever it came from.
//!
//! | type | rule |
//! |---|---|
//! | [`Iccid`] | 18 to 22 ASCII digits, nothing else |
//! | [`DisplayName`] | 3 to 64 characters (Unicode scalar values), no surrounding whitespace, no control characters |
//! | [`SimName`] | not empty, no surrounding whitespace, no control characters (each provider adds its own rule) |
//! | [`Metadata`] | a JSON object with at most 50 top-level keys; nested values allowed |
//! | [`Msisdn`] | 1 to 20 characters |
//! | [`CarrierStatus`] | 1 to 30 characters |
//! | [`PlanName`] | 1 to 255 characters |
//!
//! ```
//! use simcore::{DisplayName, Iccid};
//!
//! let iccid: Iccid = "89882806660004909182".parse()?;
//! assert!(iccid.luhn_ok());
//!
//! let err = "x".parse::<DisplayName>().unwrap_err();
//! assert_eq!(err.field(), "display_name");
//! assert_eq!(err.to_string(), "invalid display_name: must be 3 to 64 characters (found 1 character: \"x\")");
//! # Ok::<(), simcore::ValidationError>(())
//! ```

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// How many characters of an offending value an error quotes.
const QUOTE_LIMIT: usize = 40;

/// A value was refused before anything was sent: which field, which rule, and what was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidationError {
    field: Cow<'static, str>,
    rule: Cow<'static, str>,
    found: String,
}

impl ValidationError {
    /// A refusal of `field` for breaking `rule`; `found` says what the value was (short).
    pub fn new(
        field: impl Into<Cow<'static, str>>,
        rule: impl Into<Cow<'static, str>>,
        found: impl Into<String>,
    ) -> Self {
        Self {
            field: field.into(),
            rule: rule.into(),
            found: found.into(),
        }
    }

    /// The refusal of an update that sets no field (`field` is `"update"`).
    pub fn empty_update() -> Self {
        Self::new("update", "must set at least one field", "no field set")
    }

    /// The field that was refused, as the provider's API or this SDK names it.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The rule that was broken, in words (`"must be 18 to 22 ASCII digits"`).
    pub fn rule(&self) -> &str {
        &self.rule
    }

    /// What was found instead, quoted and shortened.
    pub fn found(&self) -> &str {
        &self.found
    }

    /// The same error for another field name (used when a value is checked under a more
    /// specific name, such as `fleet` for a SID).
    pub fn for_field(mut self, field: impl Into<Cow<'static, str>>) -> Self {
        self.field = field.into();
        self
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {}: {} (found {})",
            self.field, self.rule, self.found
        )
    }
}

impl std::error::Error for ValidationError {}

/// Quotes a value for an error message, shortened to a few dozen characters.
pub fn quote(value: &str) -> String {
    let mut chars = value.chars();
    let head: String = chars.by_ref().take(QUOTE_LIMIT).collect();
    if chars.next().is_some() {
        format!("{:?}…", head)
    } else {
        format!("{head:?}")
    }
}

/// Checks that `id` can address a resource as one URL path segment: not empty, not `.` or `..`
/// (servers and URL parsers take those as path steps), and free of control characters (the URL
/// standard drops tab, CR and LF silently, which would send the request to another id; no
/// provider's id contains any). `field` names the id in the error.
///
/// The transport applies it to every id it puts in a path; provider types apply it under their
/// own field names.
///
/// ```
/// use simcore::validate::check_id;
/// assert!(check_id("sim_id", "pump 7").is_ok());
/// let e = check_id("sim_id", "a\tb").unwrap_err();
/// assert_eq!(e.to_string(), "invalid sim_id: must not contain control characters (tab, CR, LF, …) (found \"a\\tb\")");
/// assert_eq!(check_id("sim_id", "..").unwrap_err().rule(), "must not be empty, \".\" or \"..\"");
/// ```
pub fn check_id(field: &'static str, id: &str) -> Result<(), ValidationError> {
    if id.is_empty() || id == "." || id == ".." {
        return Err(ValidationError::new(
            field,
            "must not be empty, \".\" or \"..\"",
            quote(id),
        ));
    }
    if id.chars().any(char::is_control) {
        return Err(ValidationError::new(
            field,
            "must not contain control characters (tab, CR, LF, …)",
            quote(id),
        ));
    }
    Ok(())
}

/// Describes a value by its length in characters and a quote of it.
fn describe_len(value: &str) -> String {
    let n = value.chars().count();
    let unit = if n == 1 { "character" } else { "characters" };
    format!("{n} {unit}: {}", quote(value))
}

/// Checks that `value` has between `min` and `max` characters (Unicode scalar values).
pub fn check_char_len(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), ValidationError> {
    let n = value.chars().count();
    if n < min || n > max {
        let rule = if min == 1 {
            format!("must be 1 to {max} characters (not empty)")
        } else {
            format!("must be {min} to {max} characters")
        };
        return Err(ValidationError::new(field, rule, describe_len(value)));
    }
    Ok(())
}

/// Implements the conversions every string-backed validation type shares.
macro_rules! string_type {
    ($ty:ident) => {
        impl $ty {
            /// The validated value.
            pub fn as_str(&self) -> &str {
                &self.0
            }

            /// The validated value, owned.
            pub fn into_string(self) -> String {
                self.0
            }
        }

        impl FromStr for $ty {
            type Err = ValidationError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse(s)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = ValidationError;
            fn try_from(s: &str) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl TryFrom<String> for $ty {
            type Error = ValidationError;
            fn try_from(s: String) -> Result<Self, Self::Error> {
                Self::parse(&s)
            }
        }

        impl TryFrom<&String> for $ty {
            type Error = ValidationError;
            fn try_from(s: &String) -> Result<Self, Self::Error> {
                Self::parse(s)
            }
        }

        impl From<$ty> for String {
            fn from(v: $ty) -> String {
                v.0
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = Cow::<'de, str>::deserialize(d)?;
                Self::parse(&s).map_err(serde::de::Error::custom)
            }
        }

        impl PartialEq<str> for $ty {
            fn eq(&self, other: &str) -> bool {
                self.0 == other
            }
        }

        impl PartialEq<&str> for $ty {
            fn eq(&self, other: &&str) -> bool {
                self.0 == *other
            }
        }
    };
}

/// An ICCID: 18 to 22 ASCII digits (ITU-T E.118), nothing else.
///
/// Spaces, dashes and other characters are refused, not stripped: an ICCID that needs cleaning
/// is the caller's to clean, visibly. The Luhn check digit is not a rule (some providers, emnify
/// among them, report ICCIDs without it); [`Iccid::luhn_ok`] tells whether it holds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Iccid(String);

impl Iccid {
    /// The field name used in errors.
    pub const FIELD: &'static str = "iccid";

    /// Whether `s` is a valid ICCID, without building an error (for telling id kinds apart).
    pub fn is_valid(s: &str) -> bool {
        (18..=22).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
    }

    /// Parses an ICCID.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if !Self::is_valid(s) {
            return Err(ValidationError::new(
                Self::FIELD,
                "must be 18 to 22 ASCII digits",
                describe_len(s),
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// Whether the last digit is a valid Luhn check digit over the others. Information only:
    /// an ICCID whose check digit fails (or is absent) is still accepted.
    pub fn luhn_ok(&self) -> bool {
        let mut sum = 0u32;
        for (i, b) in self.0.bytes().rev().enumerate() {
            let mut d = u32::from(b - b'0');
            if i % 2 == 1 {
                d *= 2;
                if d > 9 {
                    d -= 9;
                }
            }
            sum += d;
        }
        sum % 10 == 0
    }
}
string_type!(Iccid);

/// A display name for a SIM or asset: 3 to 64 characters.
///
/// Characters are Unicode scalar values (`"Zürich 🚚"` is 8), not bytes. Surrounding whitespace
/// is **refused, not trimmed**: `" pump 7"` is an error, so what is sent is exactly what was
/// given. Control characters (newlines, tabs, …) are refused anywhere in the name.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DisplayName(String);

impl DisplayName {
    /// The field name used in errors.
    pub const FIELD: &'static str = "display_name";

    /// Parses a display name.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        check_char_len(Self::FIELD, s, 3, 64)?;
        if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
            return Err(ValidationError::new(
                Self::FIELD,
                "must not start or end with whitespace",
                quote(s),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(ValidationError::new(
                Self::FIELD,
                "must not contain control characters",
                quote(s),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}
string_type!(DisplayName);

/// A SIM's name as [`SimChange`](crate::SimChange) carries it, before any provider's own rule:
/// not empty, no surrounding whitespace (refused, not trimmed), no control characters.
///
/// Providers hold it to their own rules when a change is checked: Sixfab's asset names to 3–64
/// characters ([`DisplayName`]), Super SIM unique names to Twilio's (not shaped like a SID, able
/// to address the SIM); providers without names refuse it.
///
/// ```
/// use simcore::validate::{DisplayName, SimName};
/// assert_eq!(SimName::parse("P7")?.as_str(), "P7"); // shorter than a DisplayName may be
/// assert!(SimName::parse(" P7").is_err());
/// let from_display: SimName = DisplayName::parse("pump 7")?.into();
/// assert_eq!(from_display, "pump 7");
/// # Ok::<(), simcore::ValidationError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SimName(String);

impl SimName {
    /// The field name used in errors.
    pub const FIELD: &'static str = "display_name";

    /// Parses a name.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        if s.is_empty() {
            return Err(ValidationError::new(
                Self::FIELD,
                "must not be empty",
                "an empty string",
            ));
        }
        if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
            return Err(ValidationError::new(
                Self::FIELD,
                "must not start or end with whitespace",
                quote(s),
            ));
        }
        if s.chars().any(char::is_control) {
            return Err(ValidationError::new(
                Self::FIELD,
                "must not contain control characters",
                quote(s),
            ));
        }
        Ok(Self(s.to_owned()))
    }
}
string_type!(SimName);

impl From<DisplayName> for SimName {
    fn from(name: DisplayName) -> Self {
        SimName(name.0)
    }
}

impl TryFrom<&SimName> for DisplayName {
    type Error = ValidationError;
    fn try_from(name: &SimName) -> Result<Self, ValidationError> {
        DisplayName::parse(name.as_str())
    }
}

/// Declares a string type bounded to `1..=max` characters.
macro_rules! bounded_string {
    ($(#[$doc:meta])* $ty:ident, $field:literal, $max:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $ty(String);

        impl $ty {
            /// The field name used in errors.
            pub const FIELD: &'static str = $field;
            /// The most characters (Unicode scalar values) allowed.
            pub const MAX_CHARS: usize = $max;

            /// Parses the value: 1 to `MAX_CHARS` characters.
            pub fn parse(s: &str) -> Result<Self, ValidationError> {
                check_char_len(Self::FIELD, s, 1, $max)?;
                Ok(Self(s.to_owned()))
            }
        }
        string_type!($ty);
    };
}

bounded_string!(
    /// An MSISDN (the SIM's phone number) as the provider stores it: 1 to 20 characters.
    Msisdn,
    "msisdn",
    20
);
bounded_string!(
    /// A carrier status string (providers whose status is open text): 1 to 30 characters.
    CarrierStatus,
    "status",
    30
);
bounded_string!(
    /// A communication or rate plan name: 1 to 255 characters.
    PlanName,
    "plan",
    255
);

/// SIM metadata: a JSON object with at most [`Metadata::MAX_KEYS`] top-level keys.
///
/// Values may be anything JSON allows, nested objects included; only the top level is counted.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(transparent)]
pub struct Metadata(Map<String, Value>);

impl Metadata {
    /// The field name used in errors.
    pub const FIELD: &'static str = "sim_metadata";
    /// The most top-level keys allowed.
    pub const MAX_KEYS: usize = 50;

    /// Checks a map: at most 50 top-level keys.
    pub fn from_map(map: Map<String, Value>) -> Result<Self, ValidationError> {
        Self::check_keys(map.len())?;
        Ok(Self(map))
    }

    /// Checks a key count against the limit (also used on merged results).
    pub fn check_keys(count: usize) -> Result<(), ValidationError> {
        if count > Self::MAX_KEYS {
            return Err(ValidationError::new(
                Self::FIELD,
                format!("must have at most {} top-level keys", Self::MAX_KEYS),
                format!("{count} keys"),
            ));
        }
        Ok(())
    }

    /// The object.
    pub fn as_map(&self) -> &Map<String, Value> {
        &self.0
    }

    /// The object, owned.
    pub fn into_map(self) -> Map<String, Value> {
        self.0
    }

    /// The number of top-level keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl TryFrom<Value> for Metadata {
    type Error = ValidationError;
    fn try_from(v: Value) -> Result<Self, Self::Error> {
        match v {
            Value::Object(map) => Self::from_map(map),
            other => Err(ValidationError::new(
                Self::FIELD,
                "must be a JSON object",
                json_kind(&other),
            )),
        }
    }
}

impl TryFrom<Map<String, Value>> for Metadata {
    type Error = ValidationError;
    fn try_from(map: Map<String, Value>) -> Result<Self, Self::Error> {
        Self::from_map(map)
    }
}

impl From<Metadata> for Value {
    fn from(m: Metadata) -> Value {
        Value::Object(m.0)
    }
}

impl<'de> Deserialize<'de> for Metadata {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Value::deserialize(d)?;
        Self::try_from(v).map_err(serde::de::Error::custom)
    }
}

/// Names the kind of a JSON value, for error messages.
fn json_kind(v: &Value) -> String {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    #[test]
    fn iccid_table() {
        let ok = [
            "898828066600049091",     // 18
            "8988280666000490918",    // 19
            "89882806660004909182",   // 20
            "898828066600049091821",  // 21
            "8988280666000490918212", // 22
        ];
        for s in ok {
            assert_eq!(Iccid::parse(s).unwrap().as_str(), s);
        }
        let bad = [
            "",
            "89882806660004909",       // 17
            "89882806660004909182123", // 23
            "8988 2806 6600 0490 918", // spaces are not stripped
            "8988-2806-6600-0490-918",
            "89882806660004909A",
            "８９８８２８０６６６０００４９０９１８", // full-width digits
            " 898828066600049091",
        ];
        for s in bad {
            let e = Iccid::parse(s).unwrap_err();
            assert_eq!(e.field(), "iccid", "{s}");
            assert_eq!(e.rule(), "must be 18 to 22 ASCII digits", "{s}");
        }
    }

    #[test]
    fn luhn_is_information() {
        assert!(Iccid::parse("89882806660004909182").unwrap().luhn_ok());
        let bad = Iccid::parse("89882806660004909183").unwrap();
        assert!(!bad.luhn_ok());
        // emnify reports ICCIDs without the check digit: still valid.
        assert!(Iccid::parse("8988303000000123456").is_ok());
    }

    #[test]
    fn display_name_counts_scalar_values() {
        assert!(DisplayName::parse("abc").is_ok());
        assert!(DisplayName::parse("ab").is_err());
        // 3 scalar values, 9 bytes.
        assert_eq!(DisplayName::parse("日本語").unwrap().as_str(), "日本語");
        let sixty_four = "é".repeat(64);
        assert!(DisplayName::parse(&sixty_four).is_ok());
        let e = DisplayName::parse(&"é".repeat(65)).unwrap_err();
        assert_eq!(e.rule(), "must be 3 to 64 characters");
        assert!(e.found().starts_with("65 characters"));
    }

    #[test]
    fn display_name_whitespace_and_controls() {
        let e = DisplayName::parse(" pump 7").unwrap_err();
        assert_eq!(e.rule(), "must not start or end with whitespace");
        assert!(DisplayName::parse("pump 7 ").is_err());
        assert!(DisplayName::parse("pump 7").is_ok());
        let e = DisplayName::parse("pump\n7").unwrap_err();
        assert_eq!(e.rule(), "must not contain control characters");
    }

    #[test]
    fn bounded_strings() {
        assert!(Msisdn::parse(&"1".repeat(20)).is_ok());
        let e = Msisdn::parse(&"1".repeat(21)).unwrap_err();
        assert_eq!(
            (e.field(), e.rule()),
            ("msisdn", "must be 1 to 20 characters (not empty)")
        );
        assert!(Msisdn::parse("").is_err());
        assert!(CarrierStatus::parse(&"a".repeat(30)).is_ok());
        assert!(CarrierStatus::parse(&"a".repeat(31)).is_err());
        assert!(PlanName::parse(&"p".repeat(255)).is_ok());
        assert!(PlanName::parse(&"p".repeat(256)).is_err());
    }

    #[test]
    fn metadata_limits() {
        let mut m = Map::new();
        for i in 0..50 {
            m.insert(format!("k{i}"), json!({"nested": {"deep": i}}));
        }
        assert!(Metadata::from_map(m.clone()).is_ok());
        m.insert("k50".into(), json!(1));
        let e = Metadata::from_map(m).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid sim_metadata: must have at most 50 top-level keys (found 51 keys)"
        );
        let e = Metadata::try_from(json!([1, 2])).unwrap_err();
        assert_eq!(e.rule(), "must be a JSON object");
    }

    #[test]
    fn serde_validates() {
        let ok: Iccid = serde_json::from_str("\"89882806660004909182\"").unwrap();
        assert_eq!(
            serde_json::to_string(&ok).unwrap(),
            "\"89882806660004909182\""
        );
        let err = serde_json::from_str::<Iccid>("\"123\"").unwrap_err();
        assert!(err.to_string().contains("invalid iccid"));
        assert!(serde_json::from_str::<DisplayName>("\"ab\"").is_err());
        let big: Value = Value::Object((0..51).map(|i| (i.to_string(), json!(i))).collect());
        assert!(serde_json::from_value::<Metadata>(big).is_err());
    }

    #[test]
    fn long_values_are_quoted_short() {
        let e = PlanName::parse(&"x".repeat(1000)).unwrap_err();
        assert!(e.found().len() < 80, "{}", e.found());
    }

    proptest! {
        #[test]
        fn validators_never_panic_and_round_trip(s in any::<String>()) {
            if let Ok(v) = Iccid::parse(&s) { prop_assert_eq!(Iccid::parse(v.as_str()).unwrap(), v); }
            if let Ok(v) = DisplayName::parse(&s) { prop_assert_eq!(DisplayName::parse(v.as_str()).unwrap(), v); }
            if let Ok(v) = Msisdn::parse(&s) { prop_assert_eq!(Msisdn::parse(v.as_str()).unwrap(), v); }
            if let Ok(v) = CarrierStatus::parse(&s) { prop_assert_eq!(CarrierStatus::parse(v.as_str()).unwrap(), v); }
            if let Ok(v) = PlanName::parse(&s) { prop_assert_eq!(PlanName::parse(v.as_str()).unwrap(), v); }
            let json = Value::String(s.clone());
            let _ = Metadata::try_from(json);
        }

        #[test]
        fn digit_strings_of_valid_length_are_iccids(s in "[0-9]{18,22}") {
            prop_assert!(Iccid::parse(&s).is_ok());
        }

        #[test]
        fn display_names_round_trip_through_serde(s in "\\PC{3,64}") {
            if let Ok(v) = DisplayName::parse(&s) {
                let back: DisplayName = serde_json::from_str(&serde_json::to_string(&v).unwrap()).unwrap();
                prop_assert_eq!(back, v);
            }
        }
    }
}
