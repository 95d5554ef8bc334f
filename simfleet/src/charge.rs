//! Totals of many estimates: per provider and overall, as ranges, with the rows that could not
//! be priced counted and named.

use std::collections::BTreeMap;
use std::fmt;

use serde::Serialize;

use simcore::charge::{Assumption, ChargeRange, Currency, Estimate, UnpricedReason};

/// What a set of priced rows adds up to, in one currency.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Subtotal {
    /// Added to this month's bills.
    pub now: ChargeRange,
    /// Per month afterwards.
    pub monthly: ChargeRange,
}

/// A row that could not be priced: its id and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UnpricedRow {
    /// The SIM's (or asset's) id.
    pub id: String,
    /// Why it has no figure.
    pub reason: UnpricedReason,
}

/// One provider's part of a [`ChargeTotal`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ProviderTotal {
    /// Rows priced.
    pub priced: usize,
    /// The priced rows' sums, per currency (one, unless price books differ).
    pub sums: BTreeMap<Currency, Subtotal>,
    /// The rows that could not be priced, in the order they were added. Their cost is in no sum.
    pub unpriced: Vec<UnpricedRow>,
    /// Every assumption of the priced rows, each once (by id).
    pub assumptions: Vec<Assumption>,
}

impl ProviderTotal {
    /// Whether every row is priced and every sum is one figure.
    pub fn is_exact(&self) -> bool {
        self.unpriced.is_empty()
            && self
                .sums
                .values()
                .all(|s| s.now.is_exact() && s.monthly.is_exact())
    }
}

/// Estimates added up per provider and overall, as ranges; the rows that could not be priced are
/// counted and named, and never counted as zero. The bulk updater's dry run keeps one
/// ([`Report::charges`](crate::bulk::Report::charges)), and so will a plan.
///
/// ```
/// use simcore::charge::{
///     ChargeLine, ChargeRange, Charge, Currency, Estimate, Money, Rule, UnpricedReason,
/// };
/// use simfleet::charge::ChargeTotal;
/// let two = |low, high| {
///     let range = ChargeRange::between(Money::from_cents(low), Money::from_cents(high));
///     Estimate::Priced(Charge::new(Currency::USD).line(ChargeLine::new(
///         "SIM", Rule::new("x.rule", "a rule"), range, range,
///     )))
/// };
/// let mut total = ChargeTotal::new();
/// total.add("sixfab", "SN-1", &two(600, 1000));
/// total.add("sixfab", "SN-2", &two(200, 200));
/// total.add("emnify", "250", &Estimate::unpriced(UnpricedReason::NoPublishedPrice {
///     item: "an activated emnify SIM".into(), key: "sim.active_monthly".into(),
/// }));
/// let overall = total.overall();
/// assert_eq!(overall[&Currency::USD].now.high, Money::from_cents(1200));
/// assert_eq!(total.unpriced_count(), 1);
/// let text = total.to_string();
/// assert!(text.contains("overall: $8.00 to $12.00 now"), "{text}");
/// assert!(text.contains("1 row cannot be priced (not in these figures): emnify 250"), "{text}");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ChargeTotal {
    providers: BTreeMap<String, ProviderTotal>,
}

impl ChargeTotal {
    /// An empty total.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one row's estimate.
    pub fn add(&mut self, provider: &str, id: &str, estimate: &Estimate) {
        let p = self.providers.entry(provider.to_owned()).or_default();
        match estimate {
            Estimate::Priced(c) => {
                p.priced += 1;
                let s = p.sums.entry(c.currency).or_default();
                s.now += c.now;
                s.monthly += c.monthly;
                for a in c.assumptions() {
                    if !p.assumptions.iter().any(|x| x.id == a.id) {
                        p.assumptions.push(a.clone());
                    }
                }
            }
            Estimate::Unpriced(u) => p.unpriced.push(UnpricedRow {
                id: id.to_owned(),
                reason: u.reason.clone(),
            }),
        }
    }

    /// Adds every row of another total.
    pub fn merge(&mut self, other: &ChargeTotal) {
        for (name, o) in &other.providers {
            let p = self.providers.entry(name.clone()).or_default();
            p.priced += o.priced;
            for (c, s) in &o.sums {
                let mine = p.sums.entry(*c).or_default();
                mine.now += s.now;
                mine.monthly += s.monthly;
            }
            p.unpriced.extend(o.unpriced.iter().cloned());
            for a in &o.assumptions {
                if !p.assumptions.iter().any(|x| x.id == a.id) {
                    p.assumptions.push(a.clone());
                }
            }
        }
    }

    /// One provider's part.
    pub fn provider(&self, name: &str) -> Option<&ProviderTotal> {
        self.providers.get(name)
    }

    /// Every provider's part, by name.
    pub fn providers(&self) -> impl Iterator<Item = (&str, &ProviderTotal)> {
        self.providers.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The sums over every provider, per currency (amounts in two currencies are never added).
    pub fn overall(&self) -> BTreeMap<Currency, Subtotal> {
        let mut out: BTreeMap<Currency, Subtotal> = BTreeMap::new();
        for p in self.providers.values() {
            for (c, s) in &p.sums {
                let o = out.entry(*c).or_default();
                o.now += s.now;
                o.monthly += s.monthly;
            }
        }
        out
    }

    /// Rows priced, over every provider.
    pub fn priced(&self) -> usize {
        self.providers.values().map(|p| p.priced).sum()
    }

    /// Rows that could not be priced, over every provider.
    pub fn unpriced_count(&self) -> usize {
        self.providers.values().map(|p| p.unpriced.len()).sum()
    }

    /// Every row that could not be priced, with its provider.
    pub fn unpriced(&self) -> impl Iterator<Item = (&str, &UnpricedRow)> {
        self.providers
            .iter()
            .flat_map(|(k, p)| p.unpriced.iter().map(move |r| (k.as_str(), r)))
    }

    /// Whether no row was added.
    pub fn is_empty(&self) -> bool {
        self.priced() == 0 && self.unpriced_count() == 0
    }

    /// Whether every row is priced and every sum is one figure.
    pub fn is_exact(&self) -> bool {
        self.providers.values().all(ProviderTotal::is_exact)
    }
}

fn sums(f: &mut fmt::Formatter<'_>, sums: &BTreeMap<Currency, Subtotal>) -> fmt::Result {
    if sums.is_empty() {
        return f.write_str("nothing priced");
    }
    for (i, (c, s)) in sums.iter().enumerate() {
        if i > 0 {
            f.write_str("; and ")?;
        }
        write!(
            f,
            "{} now, {} a month after",
            s.now.show(*c),
            s.monthly.show(*c)
        )?;
    }
    Ok(())
}

/// How many ids a line names before it only counts the rest.
const NAMED: usize = 8;

/// The first [`NAMED`] ids, and how many more there are.
fn some_of(ids: &[&str]) -> String {
    if ids.len() <= NAMED {
        ids.join(", ")
    } else {
        format!("{} and {} more", ids[..NAMED].join(", "), ids.len() - NAMED)
    }
}

fn rows(n: usize) -> String {
    if n == 1 {
        "1 row".to_owned()
    } else {
        format!("{n} rows")
    }
}

impl fmt::Display for ChargeTotal {
    /// One line per provider, then the overall line; each names the rows it could not price.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (name, p) in &self.providers {
            write!(f, "{name}: ")?;
            sums(f, &p.sums)?;
            let mut parts = Vec::new();
            if p.priced > 0 {
                parts.push(format!("{} priced", rows(p.priced)));
            }
            if !p.unpriced.is_empty() {
                let mut by_reason: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
                for r in &p.unpriced {
                    by_reason.entry(r.reason.label()).or_default().push(&r.id);
                }
                let named: Vec<String> = by_reason
                    .iter_mut()
                    .map(|(why, ids)| {
                        ids.sort_unstable();
                        format!("{} ({why})", some_of(ids))
                    })
                    .collect();
                parts.push(format!(
                    "{} cannot be priced: {}",
                    rows(p.unpriced.len()),
                    named.join("; ")
                ));
            }
            write!(f, " ({})", parts.join("; "))?;
            let open = p.assumptions.iter().filter(|a| a.is_open()).count();
            if open > 0 {
                write!(
                    f,
                    "; the range rests on {open} open question{}: {}",
                    if open == 1 { "" } else { "s" },
                    p.assumptions
                        .iter()
                        .filter(|a| a.is_open())
                        .map(|a| format!("[{}]", a.id))
                        .collect::<Vec<_>>()
                        .join(", ")
                )?;
            }
            f.write_str("\n")?;
        }
        f.write_str("overall: ")?;
        sums(f, &self.overall())?;
        let mut parts = Vec::new();
        if self.priced() > 0 {
            parts.push(format!("{} priced", rows(self.priced())));
        }
        let n = self.unpriced_count();
        if n > 0 {
            let named: Vec<String> = if n <= NAMED {
                let mut all: Vec<String> = self
                    .unpriced()
                    .map(|(p, r)| format!("{p} {}", r.id))
                    .collect();
                all.sort_unstable();
                all
            } else {
                self.providers
                    .iter()
                    .filter(|(_, p)| !p.unpriced.is_empty())
                    .map(|(name, p)| format!("{name} {}", p.unpriced.len()))
                    .collect()
            };
            parts.push(format!(
                "{} cannot be priced (not in these figures): {}",
                rows(n),
                named.join(", ")
            ));
        }
        if parts.is_empty() {
            Ok(())
        } else {
            write!(f, " ({})", parts.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simcore::charge::{Charge, ChargeLine, Money, Rule, Unpriced};

    fn priced(currency: Currency, low: u64, high: u64) -> Estimate {
        let r = ChargeRange::between(Money::from_cents(low), Money::from_cents(high));
        Estimate::Priced(Charge::new(currency).line(ChargeLine::new(
            "SIM",
            Rule::new("t.r", "r"),
            r,
            r,
        )))
    }

    fn unpriced(label: &str) -> Estimate {
        Estimate::Unpriced(Unpriced::new(match label {
            "price" => UnpricedReason::NoPublishedPrice {
                item: "x".into(),
                key: "sim.active_monthly".into(),
            },
            _ => UnpricedReason::UnrecognisedShape {
                detail: "no SIM".into(),
            },
        }))
    }

    #[test]
    fn a_plan_over_several_providers_totals_what_it_can_and_names_the_rest() {
        let mut t = ChargeTotal::new();
        t.add("sixfab", "SN-1", &priced(Currency::USD, 600, 1000));
        t.add("sixfab", "SN-2", &unpriced("shape"));
        t.add("emnify", "250", &unpriced("price"));
        t.add("emnify", "251", &unpriced("price"));
        t.add("emnify", "252", &priced(Currency::EUR, 150, 150));
        t.add("twilio", "HS1", &priced(Currency::USD, 0, 200));
        assert_eq!((t.priced(), t.unpriced_count()), (3, 3));
        let overall = t.overall();
        assert_eq!(
            overall[&Currency::USD].now,
            ChargeRange::between(Money::from_cents(600), Money::from_cents(1200))
        );
        assert_eq!(
            overall[&Currency::EUR].monthly,
            ChargeRange::exact(Money::from_cents(150))
        );
        assert!(!t.is_exact());
        let text = t.to_string();
        let expected = "emnify: €1.50 now, €1.50 a month after (1 row priced; 2 rows cannot be \
             priced: 250, 251 (no published price))\n\
             sixfab: $6.00 to $10.00 now, $6.00 to $10.00 a month after (1 row priced; 1 row \
             cannot be priced: SN-2 (unrecognised shape))\n\
             twilio: $0.00 to $2.00 now, $0.00 to $2.00 a month after (1 row priced)\n\
             overall: €1.50 now, €1.50 a month after; and $6.00 to $12.00 now, $6.00 to $12.00 \
             a month after (3 rows priced; 3 rows cannot be priced (not in these figures): \
             emnify 250, emnify 251, sixfab SN-2)";
        assert_eq!(text, expected);

        let mut merged = ChargeTotal::new();
        merged.merge(&t);
        merged.merge(&t);
        assert_eq!((merged.priced(), merged.unpriced_count()), (6, 6));
        assert_eq!(
            merged.overall()[&Currency::USD].now.high,
            Money::from_cents(2400)
        );
    }

    #[test]
    fn nothing_priced_is_not_zero() {
        let mut t = ChargeTotal::new();
        assert!(t.is_empty());
        t.add("edgeiq", "a", &unpriced("price"));
        let text = t.to_string();
        assert!(
            text.starts_with("edgeiq: nothing priced (1 row cannot be priced: a (no published"),
            "{text}"
        );
        assert!(!text.contains("0.00"), "{text}");
        assert!(t.provider("edgeiq").is_some());
        assert_eq!(t.providers().count(), 1);
        // Many rows: each provider's line names the first ones, the overall line counts them.
        for i in 0..20 {
            t.add("emnify", &format!("{:03}", 100 + i), &unpriced("price"));
        }
        let text = t.to_string();
        assert!(
            text.contains("emnify: nothing priced (20 rows cannot be priced: 100, 101, 102, 103, 104, 105, 106, 107 and 12 more (no published price))"),
            "{text}"
        );
        assert!(
            text.ends_with("overall: nothing priced (21 rows cannot be priced (not in these figures): edgeiq 1, emnify 20)"),
            "{text}"
        );
        assert_eq!(t.unpriced_count(), 21);
    }
}
