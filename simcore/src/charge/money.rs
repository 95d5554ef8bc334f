//! Money as whole hundredths of a currency unit, currencies, and ranges of money.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An amount in hundredths of its currency's unit (cents), never floating point. `Display` shows
/// the amount alone (`"1.60"`); a [`Currency`] shows it with its symbol ([`Currency::show`]).
///
/// ```
/// use simcore::charge::Money;
/// assert_eq!(Money::parse("1.60")?, Money::from_cents(160));
/// assert_eq!(Money::parse("$2")?.to_string(), "2.00");
/// assert!(Money::parse("1.605").is_err()); // a third decimal would be rounded: refused
/// # Ok::<(), simcore::charge::MoneyError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(u64);

impl Money {
    /// No money.
    pub const ZERO: Money = Money(0);

    /// An amount in cents (hundredths of the unit).
    pub const fn from_cents(cents: u64) -> Money {
        Money(cents)
    }

    /// The amount in cents.
    pub const fn cents(self) -> u64 {
        self.0
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    /// Reads an amount written in units with at most two decimals that are not zero: `"2"`,
    /// `"1.6"`, `"1.60"`, `"$1.60"`, `"€1.60"`, `" 0.10 "`. Negative amounts, a third non-zero
    /// decimal, thousands separators and anything else are refused: a price is never rounded.
    pub fn parse(text: &str) -> Result<Money, MoneyError> {
        let refuse = |why| MoneyError {
            found: text.to_owned(),
            why,
        };
        let t = text.trim();
        let t = t
            .strip_prefix('$')
            .or_else(|| t.strip_prefix('€'))
            .or_else(|| t.strip_prefix('£'))
            .unwrap_or(t);
        let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
        if whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse(
                "write digits, optionally a point and up to two decimals",
            ));
        }
        if !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(refuse(
                "write digits, optionally a point and up to two decimals",
            ));
        }
        if frac.bytes().skip(2).any(|b| b != b'0') {
            return Err(refuse("more than two decimals would be rounded"));
        }
        let mut cents: String = frac.chars().take(2).collect();
        while cents.len() < 2 {
            cents.push('0');
        }
        let too_large = || refuse("too large");
        let whole: u64 = whole.parse().map_err(|_| too_large())?;
        let cents: u64 = cents.parse().map_err(|_| too_large())?;
        whole
            .checked_mul(100)
            .and_then(|w| w.checked_add(cents))
            .map(Money)
            .ok_or_else(too_large)
    }

    /// The amount `n` times, saturating at the largest amount.
    pub const fn times(self, n: u64) -> Money {
        Money(self.0.saturating_mul(n))
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl Add for Money {
    type Output = Money;
    /// Adds, saturating at the largest amount rather than overflowing.
    fn add(self, rhs: Money) -> Money {
        Money(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Money {
    fn add_assign(&mut self, rhs: Money) {
        *self = *self + rhs;
    }
}

impl Sum for Money {
    fn sum<I: Iterator<Item = Money>>(iter: I) -> Money {
        iter.fold(Money::ZERO, Add::add)
    }
}

/// Written as text (`"1.60"`), so no file can hand over a rounded float.
impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Money {
    /// Reads text as [`Money::parse`] does; a number is refused with a message saying to write it
    /// as text (`1.6` in a file may already be a rounded float).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Money;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an amount written as text, e.g. \"1.60\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Money, E> {
                Money::parse(v).map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<Money, E> {
                Err(E::custom(format_args!(
                    "write the amount {v} as text, e.g. \"{v}.00\": a bare number is ambiguous"
                )))
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<Money, E> {
                Err(E::custom(format_args!(
                    "write the amount {v} as text: amounts are never negative"
                )))
            }
            fn visit_f64<E: serde::de::Error>(self, v: f64) -> Result<Money, E> {
                Err(E::custom(format_args!(
                    "write the amount {v} as text, e.g. \"{v}\": a number may already be rounded"
                )))
            }
        }
        d.deserialize_any(Visitor)
    }
}

/// Why a text is not an amount.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an amount: {found:?} ({why})")]
pub struct MoneyError {
    /// The text as given.
    pub found: String,
    /// The rule it broke.
    pub why: &'static str,
}

/// A currency, by its three-letter ISO 4217 code. Every amount in a [`Charge`](super::Charge) and
/// a [`PriceBook`](super::PriceBook) is in one currency; totals never add two currencies.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// US dollars: Sixfab's published prices are in them, and a price book without a currency is.
    pub const USD: Currency = Currency(*b"USD");
    /// Euros.
    pub const EUR: Currency = Currency(*b"EUR");
    /// Pounds sterling.
    pub const GBP: Currency = Currency(*b"GBP");

    /// Reads a code of three ASCII letters, in any case (`"usd"` is `USD`).
    pub fn parse(code: &str) -> Result<Currency, MoneyError> {
        let b = code.trim().as_bytes();
        match b {
            [a, b, c] if [a, b, c].iter().all(|x| x.is_ascii_alphabetic()) => Ok(Currency([
                a.to_ascii_uppercase(),
                b.to_ascii_uppercase(),
                c.to_ascii_uppercase(),
            ])),
            _ => Err(MoneyError {
                found: code.to_owned(),
                why: "a currency is three letters, e.g. \"USD\"",
            }),
        }
    }

    /// The code (`"USD"`).
    pub fn code(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// An amount in this currency, for display: `$1.60`, `€1.60`, `£1.60`, `1.60 CHF`.
    pub fn show(self, money: Money) -> impl fmt::Display {
        Shown(self, money)
    }
}

impl Default for Currency {
    fn default() -> Self {
        Currency::USD
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl fmt::Debug for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Currency({})", self.code())
    }
}

impl Serialize for Currency {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.code())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Currency::parse(&code).map_err(serde::de::Error::custom)
    }
}

struct Shown(Currency, Money);

impl fmt::Display for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Shown(c, m) = self;
        match c.code() {
            "USD" => write!(f, "${m}"),
            "EUR" => write!(f, "€{m}"),
            "GBP" => write!(f, "£{m}"),
            code => write!(f, "{m} {code}"),
        }
    }
}

/// The lowest and the highest figure the documented rules (and the price book) allow. A range
/// whose ends are equal is exact.
///
/// ```
/// use simcore::charge::{ChargeRange, Currency, Money};
/// let r = ChargeRange::between(Money::from_cents(1000), Money::from_cents(600));
/// assert_eq!(r.low, Money::from_cents(600));
/// assert_eq!(r.show(Currency::USD).to_string(), "$6.00 to $10.00");
/// assert_eq!(ChargeRange::exact(Money::from_cents(200)).show(Currency::USD).to_string(), "$2.00");
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChargeRange {
    /// The lowest figure.
    pub low: Money,
    /// The highest figure.
    pub high: Money,
}

impl ChargeRange {
    /// Nothing, exactly.
    pub const ZERO: ChargeRange = ChargeRange {
        low: Money::ZERO,
        high: Money::ZERO,
    };

    /// One figure.
    pub const fn exact(m: Money) -> ChargeRange {
        ChargeRange { low: m, high: m }
    }

    /// The figures between two ends, in either order.
    pub fn between(a: Money, b: Money) -> ChargeRange {
        ChargeRange {
            low: a.min(b),
            high: a.max(b),
        }
    }

    /// From nothing up to `high`.
    pub fn up_to(high: Money) -> ChargeRange {
        ChargeRange::between(Money::ZERO, high)
    }

    /// Whether the range is one figure.
    pub fn is_exact(&self) -> bool {
        self.low == self.high
    }

    /// The smallest range holding both.
    pub fn hull(self, other: ChargeRange) -> ChargeRange {
        ChargeRange {
            low: self.low.min(other.low),
            high: self.high.max(other.high),
        }
    }

    /// The range in a currency, for display: `$2.00`, or `$6.00 to $10.00`.
    pub fn show(self, currency: Currency) -> impl fmt::Display {
        ShownRange(currency, self)
    }
}

impl Add for ChargeRange {
    type Output = ChargeRange;
    fn add(self, rhs: ChargeRange) -> ChargeRange {
        ChargeRange {
            low: self.low + rhs.low,
            high: self.high + rhs.high,
        }
    }
}

impl AddAssign for ChargeRange {
    fn add_assign(&mut self, rhs: ChargeRange) {
        *self = *self + rhs;
    }
}

impl Sum for ChargeRange {
    fn sum<I: Iterator<Item = ChargeRange>>(iter: I) -> ChargeRange {
        iter.fold(ChargeRange::ZERO, Add::add)
    }
}

impl From<Money> for ChargeRange {
    fn from(m: Money) -> Self {
        ChargeRange::exact(m)
    }
}

struct ShownRange(Currency, ChargeRange);

impl fmt::Display for ShownRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ShownRange(c, r) = *self;
        if r.is_exact() {
            write!(f, "{}", c.show(r.low))
        } else {
            write!(f, "{} to {}", c.show(r.low), c.show(r.high))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_read_exactly() {
        let table: &[(&str, Option<u64>)] = &[
            ("2", Some(200)),
            ("2.0", Some(200)),
            ("1.6", Some(160)),
            ("1.60", Some(160)),
            ("$1.60", Some(160)),
            ("€0.10", Some(10)),
            ("£6", Some(600)),
            (" 0.10 ", Some(10)),
            ("1.230", Some(123)),
            ("0", Some(0)),
            ("1.605", None),
            ("-1", None),
            (".5", None),
            ("1.2.3", None),
            ("1,000", None),
            ("", None),
            ("abc", None),
            ("99999999999999999999", None),
            ("184467440737095516.15", Some(u64::MAX)),
            ("184467440737095516.16", None),
        ];
        for (text, cents) in table {
            assert_eq!(
                Money::parse(text).ok(),
                cents.map(Money::from_cents),
                "{text:?}"
            );
        }
        let e = Money::parse("1.605").unwrap_err();
        assert_eq!(
            e.to_string(),
            "not an amount: \"1.605\" (more than two decimals would be rounded)"
        );
    }

    #[test]
    fn display_sums_and_currencies() {
        for (c, s) in [
            (0, "0.00"),
            (10, "0.10"),
            (160, "1.60"),
            (123456, "1234.56"),
        ] {
            assert_eq!(Money::from_cents(c).to_string(), s);
        }
        assert_eq!(
            Money::from_cents(u64::MAX) + Money::from_cents(1),
            Money::from_cents(u64::MAX)
        );
        assert_eq!(Money::from_cents(160).times(3), Money::from_cents(480));
        let m = Money::from_cents(160);
        assert_eq!(Currency::USD.show(m).to_string(), "$1.60");
        assert_eq!(Currency::EUR.show(m).to_string(), "€1.60");
        assert_eq!(Currency::GBP.show(m).to_string(), "£1.60");
        assert_eq!(
            Currency::parse("chf").unwrap().show(m).to_string(),
            "1.60 CHF"
        );
        for bad in ["US", "USDX", "U$D", ""] {
            assert!(Currency::parse(bad).is_err(), "{bad}");
        }
        let r: ChargeRange = [
            ChargeRange::exact(Money::from_cents(200)),
            ChargeRange::up_to(Money::from_cents(600)),
        ]
        .into_iter()
        .sum();
        assert_eq!(
            r,
            ChargeRange::between(Money::from_cents(200), Money::from_cents(800))
        );
        assert_eq!(r.show(Currency::USD).to_string(), "$2.00 to $8.00");
        assert!(!r.is_exact());
    }

    #[test]
    fn files_write_amounts_as_text() {
        let m: Money = serde_json::from_str("\"1.60\"").unwrap();
        assert_eq!(m, Money::from_cents(160));
        assert_eq!(serde_json::to_string(&m).unwrap(), "\"1.60\"");
        for (json, words) in [
            ("1.6", "may already be rounded"),
            ("2", "a bare number is ambiguous"),
            ("-2", "never negative"),
            ("\"x\"", "not an amount"),
        ] {
            let e = serde_json::from_str::<Money>(json).unwrap_err().to_string();
            assert!(e.contains(words), "{json}: {e}");
        }
        let c: Currency = serde_json::from_str("\"eur\"").unwrap();
        assert_eq!(c, Currency::EUR);
        assert_eq!(serde_json::to_string(&c).unwrap(), "\"EUR\"");
    }

    proptest::proptest! {
        #[test]
        fn parse_never_panics_and_round_trips(s in ".*", cents in proptest::prelude::any::<u64>()) {
            let _ = Money::parse(&s);
            let m = Money::from_cents(cents);
            proptest::prop_assert_eq!(Money::parse(&m.to_string()).unwrap(), m);
        }
    }
}
