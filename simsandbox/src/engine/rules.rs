//! Field rules for a JSON record, and exact filters on its fields.

use serde_json::{Map, Value};

/// What a field's value must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A string of `min` to `max` characters (`max` `None`: no bound).
    Text {
        /// The fewest characters (1: not empty).
        min: usize,
        /// The most characters.
        max: Option<usize>,
    },
    /// A string of `min` to `max` ASCII digits.
    Digits {
        /// The fewest digits.
        min: usize,
        /// The most digits.
        max: usize,
    },
    /// A JSON object of at most `max_keys` top-level keys.
    Object {
        /// The most top-level keys.
        max_keys: usize,
    },
}

/// A rule for one field of a JSON record: whether it must be there, and what it must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// The field's key.
    pub key: &'static str,
    /// Whether the record must have it.
    pub required: bool,
    /// What its value must be.
    pub kind: Kind,
}

impl Field {
    /// An optional string of `min` to `max` characters.
    pub const fn text(key: &'static str, min: usize, max: Option<usize>) -> Self {
        Self {
            key,
            required: false,
            kind: Kind::Text { min, max },
        }
    }

    /// An optional string of `min` to `max` ASCII digits.
    pub const fn digits(key: &'static str, min: usize, max: usize) -> Self {
        Self {
            key,
            required: false,
            kind: Kind::Digits { min, max },
        }
    }

    /// An optional JSON object of at most `max_keys` top-level keys.
    pub const fn object(key: &'static str, max_keys: usize) -> Self {
        Self {
            key,
            required: false,
            kind: Kind::Object { max_keys },
        }
    }

    /// The same rule, the field required.
    pub const fn required(self) -> Self {
        Self {
            required: true,
            ..self
        }
    }

    /// The rule this value breaks, in words that name it, if any.
    pub fn check(&self, value: Option<&Value>) -> Option<String> {
        let key = self.key;
        let Some(value) = value else {
            return self.required.then(|| format!("{key} is required"));
        };
        match (self.kind, value) {
            (Kind::Text { min, max }, Value::String(s)) => {
                let n = s.chars().count();
                if n < min {
                    Some(format!("{key} must be a non-empty string"))
                } else {
                    max.filter(|max| n > *max)
                        .map(|max| format!("{key} must be at most {max} characters (found {n})"))
                }
            }
            (Kind::Text { min: 0, .. }, _) => Some(format!("{key} must be a string")),
            (Kind::Text { .. }, _) => Some(format!("{key} must be a non-empty string")),
            (Kind::Digits { min, max }, Value::String(s))
                if (min..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit()) =>
            {
                None
            }
            (Kind::Digits { min, max }, other) => Some(format!(
                "{key} must be {min} to {max} digits (found {other})"
            )),
            (Kind::Object { max_keys }, Value::Object(m)) if m.len() > max_keys => Some(format!(
                "{key} must have at most {max_keys} top-level keys (found {})",
                m.len()
            )),
            (Kind::Object { .. }, Value::Object(_)) => None,
            (Kind::Object { .. }, _) => Some(format!("{key} must be a JSON object")),
        }
    }
}

/// Every rule of `fields` the record breaks, in the fields' order.
///
/// ```
/// use simsandbox::engine::{Field, check_fields};
/// const FIELDS: &[Field] = &[Field::text("name", 1, Some(4)).required(), Field::digits("iccid", 18, 22)];
/// let record = serde_json::json!({"name": "pump 7", "iccid": "12"});
/// assert_eq!(check_fields(FIELDS, record.as_object().unwrap()), vec![
///     "name must be at most 4 characters (found 6)".to_owned(),
///     "iccid must be 18 to 22 digits (found \"12\")".to_owned(),
/// ]);
/// ```
pub fn check_fields(fields: &[Field], record: &Map<String, Value>) -> Vec<String> {
    fields
        .iter()
        .filter_map(|f| f.check(record.get(f.key)))
        .collect()
}

/// Whether a record's field `key` is exactly `wanted`, a query's text: a string equal to it, or a
/// number or boolean that it spells.
pub fn json_matches(record: &Value, key: &str, wanted: &str) -> bool {
    match record.get(key) {
        Some(Value::String(s)) => s == wanted,
        Some(v @ (Value::Number(_) | Value::Bool(_))) => {
            serde_json::from_str::<Value>(wanted).is_ok_and(|w| w == *v)
        }
        _ => false,
    }
}

/// Lays `fields` over a JSON object (a seed over the defaults): `null` removes a key, any other
/// value replaces it.
pub fn overlay(record: &mut Value, fields: impl IntoIterator<Item = (String, Value)>) {
    if let Value::Object(map) = record {
        for (key, value) in fields {
            match value {
                Value::Null => map.remove(&key),
                value => map.insert(key, value),
            };
        }
    }
}

/// The keys of `map` that `fields` name (an update's writable keys), the others dropped.
pub fn only_fields(fields: &[Field], map: Map<String, Value>) -> Map<String, Value> {
    map.into_iter()
        .filter(|(k, _)| fields.iter().any(|f| f.key == k))
        .collect()
}
