//! Charges a person can trust: what a change costs, as a range, with the rule behind every line
//! and every assumption it makes; or, when it cannot be priced, why.
//!
//! A preview answers with an [`Estimate`]: either [`Estimate::Priced`] with a [`Charge`], or
//! [`Estimate::Unpriced`] with the [`UnpricedReason`] (an answer whose shape is not recognised, no
//! published price, an unknown current state). An unpriced change is never shown as `$0.00`.
//!
//! A [`Charge`] has two ranges, each the lowest and highest figure the provider's documented rules
//! and the [`PriceBook`] allow:
//! - `now`: what the change adds to the bill of the month it is made in;
//! - `monthly`: what the SIM (or asset) costs per month afterwards, while it stays as the change
//!   leaves it.
//!
//! Each [`ChargeLine`] names its [`Rule`] and its [`Assumption`]s. Where a provider's text can be
//! read two ways, the range covers both readings and the assumption says so, with what to set in
//! the price book to settle it; set it, and the range collapses to one figure.
//!
//! ```
//! use simcore::charge::{
//!     Assumption, Charge, ChargeLine, ChargeRange, Currency, Estimate, Money, Rule,
//! };
//!
//! let fee = Assumption::new("example.fee-recurs", "the fee may be charged once or every month")
//!     .covering(["charged every month", "charged once"])
//!     .settled_by("set assets.box.recurs_monthly in your price book");
//! let charge = Charge::new(Currency::USD).line(
//!     ChargeLine::new(
//!         "box fee",
//!         Rule::new("example.box-fee", "$6.00 on activation"),
//!         ChargeRange::exact(Money::from_cents(600)),
//!         ChargeRange::up_to(Money::from_cents(600)),
//!     )
//!     .assuming(fee),
//! );
//! assert_eq!(charge.monthly.show(Currency::USD).to_string(), "$0.00 to $6.00");
//! let text = Estimate::Priced(charge).to_string();
//! assert!(text.starts_with("$6.00 now, $0.00 to $6.00 a month after"), "{text}");
//! assert!(text.contains("to make it exact: set assets.box.recurs_monthly"), "{text}");
//! ```
//!
//! Prices come from a [`PriceBook`] (the user's contract prices, from code or a JSON or TOML
//! file) layered over the provider's published prices, where it has any; [`Pricing`] carries the
//! book and the day a preview is reckoned on. Totals of many estimates, per provider and overall,
//! are `simfleet::charge::ChargeTotal`.
//!
//! A provider whose documents state billing rules writes them as a table of [`RuleRow`]s (a
//! rule's condition, where its amount comes from, the steps that make it a range and the
//! questions they name, its words), which [`rule_lines`] reads.

mod book;
mod flat;
mod money;
mod rules;

use std::borrow::Cow;
use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

pub use book::{AssetPrices, PriceBook, PriceBooks, SimPrices, VolumeTier};
pub use flat::{flat_estimate, flat_preview, preview};
pub use money::{ChargeRange, Currency, Money, MoneyError};
pub use rules::{
    Case, Is, Question, RowPrice, RuleRow, Share, Step, When, Words, fill, rule_lines,
};

/// The rule a charge line applies, with a stable id (`"sixfab.super-sim.active"`) and its words.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Rule {
    /// A stable id, `provider.topic`.
    pub id: Cow<'static, str>,
    /// The rule in words, with the figures it uses.
    pub text: String,
}

impl Rule {
    /// A rule.
    pub fn new(id: &'static str, text: impl Into<String>) -> Self {
        Self {
            id: Cow::Borrowed(id),
            text: text.into(),
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} [{}]", self.text, self.id)
    }
}

/// Something a figure rests on that the provider's documents do not settle: a reading of an
/// ambiguous text, or a fact the preview was not given.
///
/// An open assumption (with [`readings`](Self::readings)) is one the range covers in every
/// reading; [`settle`](Self::settle) says what to set to make the figure exact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Assumption {
    /// A stable id, `provider.topic` (`"sixfab.asset-fee.replaces-sim-fees"`).
    pub id: Cow<'static, str>,
    /// What is not known, or what is assumed, in words.
    pub text: String,
    /// The readings the range covers; empty when one reading is assumed.
    pub readings: Vec<String>,
    /// How to make the figure exact (what to set in the price book, or what to look up).
    pub settle: Option<String>,
}

impl Assumption {
    /// An assumption, in words.
    pub fn new(id: &'static str, text: impl Into<String>) -> Self {
        Self {
            id: Cow::Borrowed(id),
            text: text.into(),
            readings: Vec::new(),
            settle: None,
        }
    }

    /// The readings the range covers.
    pub fn covering<S: Into<String>>(mut self, readings: impl IntoIterator<Item = S>) -> Self {
        self.readings = readings.into_iter().map(Into::into).collect();
        self
    }

    /// How to make the figure exact.
    pub fn settled_by(mut self, how: impl Into<String>) -> Self {
        self.settle = Some(how.into());
        self
    }

    /// Whether the range covers more than one reading.
    pub fn is_open(&self) -> bool {
        !self.readings.is_empty()
    }
}

impl fmt::Display for Assumption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.id, self.text)?;
        if !self.readings.is_empty() {
            write!(f, "; the range covers: {}", self.readings.join("; or "))?;
        }
        if let Some(how) = &self.settle {
            write!(f, "; to make it exact: {how}")?;
        }
        Ok(())
    }
}

/// A calendar month, the unit providers bill in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Month {
    year: i32,
    month: u32,
}

impl Month {
    /// The month a day is in.
    pub fn of(day: NaiveDate) -> Month {
        Month {
            year: day.year(),
            month: day.month(),
        }
    }

    /// A month; `None` unless `month` is 1 to 12.
    pub fn new(year: i32, month: u32) -> Option<Month> {
        (1..=12).contains(&month).then_some(Month { year, month })
    }

    /// The year.
    pub fn year(self) -> i32 {
        self.year
    }

    /// The month, 1 to 12.
    pub fn month(self) -> u32 {
        self.month
    }

    /// The month after.
    pub fn next(self) -> Month {
        if self.month == 12 {
            Month {
                year: self.year.saturating_add(1),
                month: 1,
            }
        } else {
            Month {
                year: self.year,
                month: self.month + 1,
            }
        }
    }

    /// Whether a day falls in this month.
    pub fn contains(self, day: NaiveDate) -> bool {
        Month::of(day) == self
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.year, self.month)
    }
}

/// When a change starts or stops a charge, where the provider documents it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum Timing {
    /// The change starts a charge, billed from `from` on.
    Starts {
        /// The first month billed.
        from: Month,
    },
    /// The change stops a charge from `from` on; the months before stay billed.
    Stops {
        /// The first month no longer billed.
        from: Month,
    },
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Timing::Starts { from } => write!(f, "starts a charge, billed from {from}"),
            Timing::Stops { from } => write!(f, "stops the charge from {from}"),
        }
    }
}

/// One line of a charge: what for, how much (as ranges), by which rule, when, and on what
/// assumptions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChargeLine {
    /// What the line is for (`"Super SIM"`, `"asset fee (ALPON)"`, `"activated SIM"`).
    pub item: String,
    /// The rule applied.
    pub rule: Rule,
    /// What the change adds to this month's bill.
    pub now: ChargeRange,
    /// What it costs per month afterwards.
    pub monthly: ChargeRange,
    /// When the change starts or stops the charge, where the provider documents it.
    pub timing: Option<Timing>,
    /// What the figures rest on beyond the rule.
    pub assumptions: Vec<Assumption>,
}

impl ChargeLine {
    /// A line with its rule and figures.
    pub fn new(
        item: impl Into<String>,
        rule: Rule,
        now: impl Into<ChargeRange>,
        monthly: impl Into<ChargeRange>,
    ) -> Self {
        Self {
            item: item.into(),
            rule,
            now: now.into(),
            monthly: monthly.into(),
            timing: None,
            assumptions: Vec::new(),
        }
    }

    /// Says when the charge starts or stops.
    pub fn timed(mut self, timing: Timing) -> Self {
        self.timing = Some(timing);
        self
    }

    /// Adds an assumption.
    pub fn assuming(mut self, a: Assumption) -> Self {
        if !self.assumptions.iter().any(|x| x.id == a.id) {
            self.assumptions.push(a);
        }
        self
    }

    /// The line in a currency, one line of text.
    pub fn show(&self, currency: Currency) -> impl fmt::Display + '_ {
        ShownLine(currency, self)
    }
}

struct ShownLine<'a>(Currency, &'a ChargeLine);

impl fmt::Display for ShownLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ShownLine(c, l) = self;
        write!(
            f,
            "{}: {} now, {}/month after; rule: {}",
            l.item,
            l.now.show(*c),
            l.monthly.show(*c),
            l.rule
        )?;
        if let Some(t) = &l.timing {
            write!(f, "; {t}")?;
        }
        if !l.assumptions.is_empty() {
            let ids: Vec<&str> = l.assumptions.iter().map(|a| &*a.id).collect();
            write!(f, "; assumes [{}]", ids.join("], ["))?;
        }
        Ok(())
    }
}

/// A fact a preview used that it was given (or not), reported with the figures:
/// `active SIMs on the account: 14 (your price book's active_sims)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Input {
    /// What it is.
    pub name: Cow<'static, str>,
    /// Its value and where it came from, or that it was not given.
    pub value: String,
}

/// What a change costs: totals as ranges, the lines they add up from, and the inputs used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Charge {
    /// The currency of every figure.
    pub currency: Currency,
    /// What the change adds to this month's bill: the sum of the lines'.
    pub now: ChargeRange,
    /// What it costs per month afterwards: the sum of the lines'.
    pub monthly: ChargeRange,
    /// One line per item.
    pub lines: Vec<ChargeLine>,
    /// The facts the preview was given (or not) beyond the price book's prices.
    pub inputs: Vec<Input>,
}

impl Charge {
    /// A charge with no line yet: nothing now, nothing monthly.
    pub fn new(currency: Currency) -> Self {
        Self {
            currency,
            now: ChargeRange::ZERO,
            monthly: ChargeRange::ZERO,
            lines: Vec::new(),
            inputs: Vec::new(),
        }
    }

    /// Adds a line and its figures to the totals.
    pub fn line(mut self, line: ChargeLine) -> Self {
        self.push(line);
        self
    }

    /// Adds a line and its figures to the totals.
    pub fn push(&mut self, line: ChargeLine) {
        self.now += line.now;
        self.monthly += line.monthly;
        self.lines.push(line);
    }

    /// Reports an input.
    pub fn input(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.inputs.push(Input {
            name: Cow::Borrowed(name),
            value: value.into(),
        });
        self
    }

    /// Every assumption of every line, each once (by id), in the order they first appear.
    pub fn assumptions(&self) -> Vec<&Assumption> {
        let mut seen: Vec<&Assumption> = Vec::new();
        for a in self.lines.iter().flat_map(|l| &l.assumptions) {
            if !seen.iter().any(|s| s.id == a.id) {
                seen.push(a);
            }
        }
        seen
    }

    /// Whether both totals are one figure.
    pub fn is_exact(&self) -> bool {
        self.now.is_exact() && self.monthly.is_exact()
    }
}

impl fmt::Display for Charge {
    /// The totals, then one line per item with its rule, the inputs, and every assumption with
    /// how to settle it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = self.currency;
        write!(
            f,
            "{} now, {} a month after",
            self.now.show(c),
            self.monthly.show(c)
        )?;
        let assumptions = self.assumptions();
        let open = assumptions.iter().filter(|a| a.is_open()).count();
        match (self.is_exact(), open) {
            (true, _) => f.write_str(" (exact by the rules below)")?,
            (false, 1) => f.write_str(" (a range: one open question below)")?,
            (false, n) => write!(f, " (a range: {n} open questions below)")?,
        }
        for l in &self.lines {
            write!(f, "\n- {}", l.show(c))?;
        }
        for i in &self.inputs {
            write!(f, "\ninput: {}: {}", i.name, i.value)?;
        }
        for a in assumptions {
            write!(f, "\nassumption {a}")?;
        }
        Ok(())
    }
}

/// Why a change cannot be priced.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum UnpricedReason {
    /// The provider's answer has a shape this SDK does not recognise (the provider does not
    /// document it), so what it carries cannot be priced.
    UnrecognisedShape {
        /// What was missing or unexpected.
        detail: String,
    },
    /// Something the change pays for has no published price and the price book gives none.
    NoPublishedPrice {
        /// What has no price.
        item: String,
        /// The price book entry that would give it (`"sim.active_monthly"`).
        key: String,
    },
    /// The current state is not known, and the figure depends on it.
    UnknownCurrentState {
        /// What is unknown.
        detail: String,
    },
}

impl UnpricedReason {
    /// A few words for the kind of reason (`"unrecognised shape"`, `"no published price"`,
    /// `"unknown current state"`).
    pub fn label(&self) -> &'static str {
        match self {
            UnpricedReason::UnrecognisedShape { .. } => "unrecognised shape",
            UnpricedReason::NoPublishedPrice { .. } => "no published price",
            UnpricedReason::UnknownCurrentState { .. } => "unknown current state",
        }
    }
}

impl fmt::Display for UnpricedReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            UnpricedReason::UnrecognisedShape { detail } => write!(
                f,
                "the answer's shape is not one this SDK recognises ({detail}), so it cannot be priced"
            ),
            UnpricedReason::NoPublishedPrice { item, key } => write!(
                f,
                "no published price for {item}: give one in a price book (`{key}`)"
            ),
            UnpricedReason::UnknownCurrentState { detail } => {
                write!(f, "the current state is not known ({detail})")
            }
        }
    }
}

/// A change that cannot be priced: the reason, and what is known anyway (the rule, when a charge
/// would start or stop, the assumptions).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct Unpriced {
    /// Why there is no figure.
    pub reason: UnpricedReason,
    /// The billing rule that applies, where the provider documents one.
    pub rule: Option<Rule>,
    /// When the change starts or stops a charge, where the provider documents it.
    pub timing: Option<Timing>,
    /// What the rule's application rests on.
    pub assumptions: Vec<Assumption>,
}

impl Unpriced {
    /// An unpriced change with its reason.
    pub fn new(reason: UnpricedReason) -> Self {
        Self {
            reason,
            rule: None,
            timing: None,
            assumptions: Vec::new(),
        }
    }

    /// The rule that applies.
    pub fn rule(mut self, rule: Rule) -> Self {
        self.rule = Some(rule);
        self
    }

    /// When a charge starts or stops.
    pub fn timed(mut self, timing: Timing) -> Self {
        self.timing = Some(timing);
        self
    }

    /// Adds an assumption.
    pub fn assuming(mut self, a: Assumption) -> Self {
        if !self.assumptions.iter().any(|x| x.id == a.id) {
            self.assumptions.push(a);
        }
        self
    }
}

impl fmt::Display for Unpriced {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "cannot price: {}", self.reason)?;
        if let Some(t) = &self.timing {
            write!(f, "\nthe change {t}")?;
        }
        if let Some(r) = &self.rule {
            write!(f, "\nrule: {r}")?;
        }
        for a in &self.assumptions {
            write!(f, "\nassumption {a}")?;
        }
        Ok(())
    }
}

/// What a preview answers: a charge, or why there is none. Never a `$0.00` that means "unknown".
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Estimate {
    /// Priced by the documented rules and the price book.
    Priced(Charge),
    /// Cannot be priced.
    Unpriced(Unpriced),
}

impl Estimate {
    /// A change that cannot be priced, for a reason.
    pub fn unpriced(reason: UnpricedReason) -> Self {
        Estimate::Unpriced(Unpriced::new(reason))
    }

    /// The charge, when priced.
    pub fn charge(&self) -> Option<&Charge> {
        match self {
            Estimate::Priced(c) => Some(c),
            Estimate::Unpriced(_) => None,
        }
    }

    /// Why it cannot be priced, when it cannot.
    pub fn reason(&self) -> Option<&UnpricedReason> {
        match self {
            Estimate::Priced(_) => None,
            Estimate::Unpriced(u) => Some(&u.reason),
        }
    }

    /// Whether it is priced.
    pub fn is_priced(&self) -> bool {
        matches!(self, Estimate::Priced(_))
    }
}

impl From<Charge> for Estimate {
    fn from(c: Charge) -> Self {
        Estimate::Priced(c)
    }
}

impl From<Unpriced> for Estimate {
    fn from(u: Unpriced) -> Self {
        Estimate::Unpriced(u)
    }
}

impl fmt::Display for Estimate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Estimate::Priced(c) => c.fmt(f),
            Estimate::Unpriced(u) => u.fmt(f),
        }
    }
}

/// What a preview is priced with: the user's price book (layered over the provider's published
/// prices, where it has any) and the day it is reckoned on.
///
/// ```
/// use simcore::charge::{PriceBook, Pricing};
/// let pricing = Pricing::today(); // no price book: published prices only
/// assert!(pricing.book.is_empty());
/// let day = chrono::NaiveDate::from_ymd_opt(2025, 3, 14).unwrap();
/// let pricing = Pricing::new(PriceBook::default(), day);
/// assert_eq!(pricing.month().to_string(), "2025-03");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pricing {
    /// The user's prices and account facts; empty for published prices only.
    pub book: PriceBook,
    /// The day to reckon on ("this month" is its month).
    pub as_of: NaiveDate,
}

impl Pricing {
    /// A book and a day.
    pub fn new(book: PriceBook, as_of: NaiveDate) -> Self {
        Self { book, as_of }
    }

    /// No price book (the providers' published prices only), as of today (UTC).
    pub fn today() -> Self {
        Self::new(PriceBook::default(), chrono::Utc::now().date_naive())
    }

    /// Sets the price book.
    pub fn with_book(mut self, book: PriceBook) -> Self {
        self.book = book;
        self
    }

    /// Sets the day to reckon on.
    pub fn on(mut self, day: NaiveDate) -> Self {
        self.as_of = day;
        self
    }

    /// The month of [`as_of`](Self::as_of).
    pub fn month(&self) -> Month {
        Month::of(self.as_of)
    }

    /// The book, checked to be for `provider`: a book naming another provider is an
    /// [`Error::Config`](crate::Error::Config), so one provider's prices are never used for
    /// another's SIMs.
    pub fn book_for(&self, provider: &str) -> crate::Result<&PriceBook> {
        match &self.book.provider {
            Some(p) if !p.eq_ignore_ascii_case(provider) => Err(crate::Error::Config(format!(
                "the price book is for {p:?}, not for {provider:?}"
            ))),
            _ => Ok(&self.book),
        }
    }
}

impl Default for Pricing {
    fn default() -> Self {
        Self::today()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usd(c: u64) -> Money {
        Money::from_cents(c)
    }

    #[test]
    fn months() {
        let m = Month::new(2025, 12).unwrap();
        assert_eq!(m.next().to_string(), "2026-01");
        assert_eq!(Month::new(2025, 3).unwrap().next().to_string(), "2025-04");
        assert_eq!(Month::new(2025, 13), None);
        assert_eq!(Month::new(2025, 0), None);
        let day = NaiveDate::from_ymd_opt(2025, 3, 31).unwrap();
        assert!(Month::of(day).contains(day));
        assert!(!Month::of(day).next().contains(day));
        assert_eq!((m.year(), m.month()), (2025, 12));
    }

    #[test]
    fn a_charge_sums_its_lines_and_states_its_basis() {
        let open = Assumption::new("t.open", "two readings")
            .covering(["one", "other"])
            .settled_by("set x");
        let closed = Assumption::new("t.closed", "one reading assumed");
        let c = Charge::new(Currency::USD)
            .line(
                ChargeLine::new(
                    "a",
                    Rule::new("t.a", "rule a"),
                    usd(200),
                    ChargeRange::up_to(usd(200)),
                )
                .assuming(open.clone())
                .assuming(open.clone()),
            )
            .line(
                ChargeLine::new("b", Rule::new("t.b", "rule b"), usd(600), usd(600))
                    .assuming(open.clone())
                    .assuming(closed)
                    .timed(Timing::Starts {
                        from: Month::new(2025, 3).unwrap(),
                    }),
            )
            .input("count", "not given");
        assert_eq!(c.now, ChargeRange::exact(usd(800)));
        assert_eq!(c.monthly, ChargeRange::between(usd(600), usd(800)));
        assert_eq!(c.assumptions().len(), 2);
        assert_eq!(c.lines[0].assumptions.len(), 1);
        assert!(!c.is_exact());
        let text = c.to_string();
        let expected = "$8.00 now, $6.00 to $8.00 a month after (a range: one open question below)\n\
             - a: $2.00 now, $0.00 to $2.00/month after; rule: rule a [t.a]; assumes [t.open]\n\
             - b: $6.00 now, $6.00/month after; rule: rule b [t.b]; starts a charge, billed from 2025-03; assumes [t.open], [t.closed]\n\
             input: count: not given\n\
             assumption [t.open] two readings; the range covers: one; or other; to make it exact: set x\n\
             assumption [t.closed] one reading assumed";
        assert_eq!(text, expected);
        let exact = Charge::new(Currency::EUR).line(ChargeLine::new(
            "a",
            Rule::new("t.a", "r"),
            usd(0),
            usd(150),
        ));
        assert!(
            exact
                .to_string()
                .starts_with("€0.00 now, €1.50 a month after (exact by the rules below)")
        );
    }

    #[test]
    fn unpriced_is_never_zero() {
        let u = Estimate::Unpriced(
            Unpriced::new(UnpricedReason::NoPublishedPrice {
                item: "an activated emnify SIM".into(),
                key: "sim.active_monthly".into(),
            })
            .rule(Rule::new("e.billed", "billed for the month"))
            .timed(Timing::Stops {
                from: Month::new(2025, 4).unwrap(),
            }),
        );
        let text = u.to_string();
        assert_eq!(
            text,
            "cannot price: no published price for an activated emnify SIM: give one in a price \
             book (`sim.active_monthly`)\nthe change stops the charge from 2025-04\nrule: billed \
             for the month [e.billed]"
        );
        assert!(!text.contains("0.00"));
        assert!(!u.is_priced());
        assert_eq!(u.reason().unwrap().label(), "no published price");
        for (r, label) in [
            (
                UnpricedReason::UnrecognisedShape { detail: "x".into() },
                "unrecognised shape",
            ),
            (
                UnpricedReason::UnknownCurrentState { detail: "x".into() },
                "unknown current state",
            ),
        ] {
            assert_eq!(r.label(), label);
            assert!(!Estimate::unpriced(r).to_string().contains('$'));
        }
    }

    #[test]
    fn a_book_for_another_provider_is_refused() {
        let day = NaiveDate::from_ymd_opt(2025, 3, 14).unwrap();
        let book = PriceBook {
            provider: Some("emnify".into()),
            ..PriceBook::default()
        };
        let p = Pricing::new(book, day);
        assert!(p.book_for("emnify").is_ok());
        assert!(p.book_for("EMNIFY").is_ok());
        let e = p.book_for("sixfab").unwrap_err();
        assert!(matches!(e, crate::Error::Config(_)), "{e}");
        assert!(
            Pricing::new(PriceBook::default(), day)
                .book_for("sixfab")
                .is_ok()
        );
    }
}
