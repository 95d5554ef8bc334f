//! emnify's billing rules: which status changes start or stop a charge, and from when, priced
//! with your price book (emnify publishes no list prices).
//!
//! The rules, from emnify's documentation and support articles:
//! - A SIM activated at any time in a month is billed for that month, once, however often it is
//!   activated and suspended in it (emnify counts the peak number of concurrently activated
//!   SIMs, to 12 hours).
//! - A suspended SIM stops costing from the first day of the next month: suspending mid-month
//!   saves nothing this month.
//! - Re-activating a SIM already billed this month costs nothing extra this month.
//! - Issued and Factory Test SIMs cost nothing; a Factory Test SIM becomes Activated by itself
//!   after 100 KB or 10 SMS.
//!
//! So a preview of an emnify change says, even with no price book, whether it starts a charge
//! ([`Timing::Starts`]) or stops one ([`Timing::Stops`]) and from which month; what costs nothing
//! by these rules is priced at nothing; what an activated SIM costs needs your price book
//! (`sim.active_monthly`), and is "unpriced" until it has one.
//!
//! One `GET` does not tell a SIM's history this month: `activation_date` is its first
//! activation. A first activation this month means this month is billed already; otherwise a
//! suspended SIM being re-activated may or may not have been active earlier this month, and the
//! preview covers both (the SIM's events, `GET /api/v1/sim/{id}/event`, would tell).
//!
//! ```
//! use chrono::NaiveDate;
//! use emnify_client::billing::estimate;
//! use emnify_client::{SettableStatus, SimStatus};
//! use simcore::charge::{Money, PriceBook, SimPrices};
//!
//! let day = NaiveDate::from_ymd_opt(2025, 3, 14).unwrap();
//! // No price book: suspending is priced (it costs nothing, from next month); activating is not.
//! let off = estimate(Some(&SimStatus::Activated), None, SettableStatus::Suspended, &PriceBook::default(), day);
//! assert!(off.to_string().contains("stops the charge from 2025-04"), "{off}");
//! let on = estimate(Some(&SimStatus::Issued), None, SettableStatus::Activated, &PriceBook::default(), day);
//! assert!(on.to_string().starts_with("cannot price: no published price"), "{on}");
//! assert!(on.to_string().contains("starts a charge, billed from 2025-03"), "{on}");
//!
//! // With your contract's price: the first activation bills this month.
//! let book = PriceBook {
//!     sim: SimPrices { active_monthly: Some(Money::parse("1.50")?), ..SimPrices::default() },
//!     ..PriceBook::default()
//! };
//! let on = estimate(Some(&SimStatus::Issued), None, SettableStatus::Activated, &book, day);
//! assert_eq!(on.charge().unwrap().now.low, Money::from_cents(150));
//! # Ok::<(), simcore::charge::MoneyError>(())
//! ```

use chrono::NaiveDate;
use simcore::charge::{
    Assumption, Charge, ChargeLine, ChargeRange, Estimate, Month, PriceBook, Rule, SimPrices,
    Timing, Unpriced, UnpricedReason,
};

use crate::models::SimStatus;
use crate::requests::SettableStatus;

/// What emnify documents about prices: Issued, Factory Test and Suspended SIMs cost nothing, and
/// an activated SIM's month is billed in full. No amount for an activated SIM is published, and
/// no currency: a price book gives both.
pub fn documented() -> PriceBook {
    PriceBook {
        provider: Some(crate::PROVIDER.to_owned()),
        sim: SimPrices {
            inactive_monthly: Some(simcore::charge::Money::ZERO),
            states: [
                ("new".to_owned(), simcore::charge::Money::ZERO),
                ("ready".to_owned(), simcore::charge::Money::ZERO),
            ]
            .into(),
            activation_month_billed: Some(true),
            ..SimPrices::default()
        },
        ..PriceBook::default()
    }
}

/// What emnify's volume tiers (if your contract has any) count, as this crate reads emnify's
/// billing: the peak number of concurrently activated SIMs in the month.
pub const VOLUME_COUNTS: &str = "the peak number of concurrently activated SIMs in the month";

fn billed_monthly() -> Rule {
    Rule::new(
        "emnify.activated-month",
        "a SIM activated at any time in a month is billed for that month, once, however often \
         it is activated and suspended",
    )
}

/// Prices setting a SIM from `current` (`None`: not reported) to `target`, with `book` (yours)
/// over emnify's documented rules ([`documented`]), as of `as_of`. `activated_on` is the SIM's
/// `activation_date` (its first activation), when the answer has one.
///
/// Checks no transition: the caller does (see
/// [`ChargePreview::estimate_charge`](simcore::ChargePreview::estimate_charge) for the client).
pub fn estimate(
    current: Option<&SimStatus>,
    activated_on: Option<NaiveDate>,
    target: SettableStatus,
    book: &PriceBook,
    as_of: NaiveDate,
) -> Estimate {
    let book = book.over(&documented());
    let month = Month::of(as_of);
    let billed_this_month = activated_on.is_some_and(|d| month.contains(d));
    let activating = target == SettableStatus::Activated && current != Some(&SimStatus::Activated);
    let c = book.currency();
    let price = book
        .sim
        .active_price(book.active_sims, u32::from(activating), VOLUME_COUNTS, c);

    // What the change does to the bill: (now, monthly, timing, rule, assumptions), with the
    // activated price as `p` where it is needed.
    let mut assumptions = Vec::new();
    let mut input = None;
    let (p, volume) = match &price {
        Some((range, a, i)) => {
            input.clone_from(i);
            (Some(*range), a.clone())
        }
        None => (None, None),
    };
    let needs_price = |timing: Option<Timing>, rule: Rule, assumptions: Vec<Assumption>| {
        let mut u = Unpriced::new(UnpricedReason::NoPublishedPrice {
            item: "an activated emnify SIM, per month".to_owned(),
            key: "sim.active_monthly".to_owned(),
        })
        .rule(rule);
        if let Some(t) = timing {
            u = u.timed(t);
        }
        for a in assumptions {
            u = u.assuming(a);
        }
        Estimate::Unpriced(u)
    };

    let (item, rule, now, monthly, timing) = match target {
        SettableStatus::Suspended => {
            let (rule, timing) = if current == Some(&SimStatus::Activated) {
                (
                    Rule::new(
                        "emnify.suspended",
                        format!(
                            "a suspended SIM stops costing from the first day of the next month: \
                             {month} stays billed, so suspending saves nothing this month"
                        ),
                    ),
                    Some(Timing::Stops { from: month.next() }),
                )
            } else {
                (
                    Rule::new("emnify.suspended", "a suspended SIM costs nothing"),
                    None,
                )
            };
            let free = book.sim.inactive_monthly.unwrap_or_default();
            (
                "suspended SIM",
                rule,
                ChargeRange::ZERO,
                ChargeRange::exact(free),
                timing,
            )
        }
        SettableStatus::FactoryTest => {
            let rule = Rule::new(
                "emnify.factory-test",
                "a Factory Test SIM costs nothing; emnify activates it by itself after 100 KB or \
                 10 SMS, and it is then billed as activated",
            );
            let a = Assumption::new(
                "emnify.factory-test-use",
                "whether the SIM is used past 100 KB or 10 SMS while in Factory Test",
            )
            .covering([
                "it is not: nothing",
                "it is: activated by emnify, and billed for the month",
            ]);
            let Some(p) = p else {
                return needs_price(None, rule, vec![a]);
            };
            assumptions.push(a);
            (
                "Factory Test SIM",
                rule,
                ChargeRange::up_to(p.high),
                ChargeRange::up_to(p.high),
                None,
            )
        }
        SettableStatus::Activated => match current {
            Some(SimStatus::Activated) => {
                let Some(p) = p else {
                    return needs_price(None, billed_monthly(), Vec::new());
                };
                (
                    "activated SIM",
                    billed_monthly(),
                    ChargeRange::ZERO,
                    p,
                    None,
                )
            }
            Some(SimStatus::Suspended) if billed_this_month => {
                let timing = Timing::Starts { from: month.next() };
                let rule = Rule::new(
                    "emnify.activated-month",
                    format!(
                        "a SIM activated at any time in a month is billed for that month, once: \
                         this SIM was activated this month ({}), so {month} is billed already \
                         and re-activating costs nothing more this month",
                        activated_on.map(|d| d.to_string()).unwrap_or_default()
                    ),
                );
                let Some(p) = p else {
                    return needs_price(Some(timing), rule, Vec::new());
                };
                ("activated SIM", rule, ChargeRange::ZERO, p, Some(timing))
            }
            Some(SimStatus::Suspended) => {
                let timing = Timing::Starts { from: month };
                let first = match activated_on {
                    Some(d) => format!("its first activation was on {d}"),
                    None => "the answer has no activation_date".to_owned(),
                };
                let a = Assumption::new(
                    "emnify.active-earlier-this-month",
                    format!(
                        "whether this suspended SIM was activated earlier in {month} is not \
                         known from one read ({first})"
                    ),
                )
                .covering([
                    "it was: this month is billed already, nothing more now",
                    "it was not: this month is billed now",
                ])
                .settled_by(
                    "look at the SIM's events this month (GET /api/v1/sim/{id}/event: 8 \
                     activation, 9 suspension)",
                );
                let Some(p) = p else {
                    return needs_price(Some(timing), billed_monthly(), vec![a]);
                };
                assumptions.push(a);
                (
                    "activated SIM",
                    billed_monthly(),
                    ChargeRange::up_to(p.high),
                    p,
                    Some(timing),
                )
            }
            Some(SimStatus::Issued | SimStatus::FactoryTest) => {
                let (timing, now_billed) = if billed_this_month {
                    (Timing::Starts { from: month.next() }, false)
                } else {
                    (Timing::Starts { from: month }, true)
                };
                let Some(p) = p else {
                    return needs_price(Some(timing), billed_monthly(), Vec::new());
                };
                let now = if now_billed { p } else { ChargeRange::ZERO };
                ("activated SIM", billed_monthly(), now, p, Some(timing))
            }
            other => {
                let timing = Timing::Starts { from: month };
                let a = current_unknown(other);
                let Some(p) = p else {
                    return needs_price(Some(timing), billed_monthly(), vec![a]);
                };
                assumptions.push(a);
                (
                    "activated SIM",
                    billed_monthly(),
                    ChargeRange::up_to(p.high),
                    p,
                    Some(timing),
                )
            }
        },
    };
    let mut line = ChargeLine::new(item, rule, now, monthly);
    if let Some(t) = timing {
        line = line.timed(t);
    }
    // The volume question matters only where the activated price is part of the figure.
    let uses_price = target != SettableStatus::Suspended;
    for a in volume.into_iter().filter(|_| uses_price).chain(assumptions) {
        line = line.assuming(a);
    }
    let mut charge = Charge::new(c).line(line);
    if let Some(i) = input.filter(|_| uses_price) {
        charge.inputs.push(i);
    }
    Estimate::Priced(charge.input(
        "reckoned on",
        format!("{as_of} (\"this month\" is {month})"),
    ))
}

fn current_unknown(current: Option<&SimStatus>) -> Assumption {
    Assumption::new(
        "emnify.current-status",
        match current {
            Some(s) => format!("the SIM reports {s}, a status this SDK does not know"),
            None => "the SIM's answer has no status".to_owned(),
        },
    )
    .covering([
        "it is activated already: nothing more now",
        "it is not: this month is billed now",
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use simcore::charge::{Currency, Money};

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    fn today() -> NaiveDate {
        day(2025, 3, 14)
    }

    fn r(low: u64, high: u64) -> ChargeRange {
        ChargeRange::between(Money::from_cents(low), Money::from_cents(high))
    }

    fn book() -> PriceBook {
        PriceBook {
            currency: Some(Currency::EUR),
            sim: SimPrices {
                active_monthly: Some(Money::from_cents(150)),
                ..SimPrices::default()
            },
            ..PriceBook::default()
        }
    }

    enum Expect {
        /// now, monthly, timing, assumption ids
        Priced(
            ChargeRange,
            ChargeRange,
            Option<Timing>,
            &'static [&'static str],
        ),
        /// timing, assumption ids
        Unpriced(Option<Timing>, &'static [&'static str]),
    }

    #[test]
    fn every_billing_rule() {
        use Expect::*;
        use SettableStatus as T;
        use SimStatus as S;
        let march = Month::new(2025, 3).unwrap();
        let april = march.next();
        let this_month = Some(day(2025, 3, 2));
        let long_ago = Some(day(2024, 6, 1));
        let starts = |from| Some(Timing::Starts { from });
        let stops = Some(Timing::Stops { from: april });
        // (name, current, activation_date, target, book?, expected)
        type Row = (&'static str, Option<S>, Option<NaiveDate>, T, bool, Expect);
        let table: Vec<Row> = vec![
            (
                "first activation: this month billed",
                Some(S::Issued),
                None,
                T::Activated,
                true,
                Priced(r(150, 150), r(150, 150), starts(march), &[]),
            ),
            (
                "from Factory Test: this month billed",
                Some(S::FactoryTest),
                None,
                T::Activated,
                true,
                Priced(r(150, 150), r(150, 150), starts(march), &[]),
            ),
            (
                "re-activated in the month of its first activation: nothing more",
                Some(S::Suspended),
                this_month,
                T::Activated,
                true,
                Priced(r(0, 0), r(150, 150), starts(april), &[]),
            ),
            (
                "re-activated, history this month unknown: both",
                Some(S::Suspended),
                long_ago,
                T::Activated,
                true,
                Priced(
                    r(0, 150),
                    r(150, 150),
                    starts(march),
                    &["emnify.active-earlier-this-month"],
                ),
            ),
            (
                "re-activated, no activation_date: both",
                Some(S::Suspended),
                None,
                T::Activated,
                true,
                Priced(
                    r(0, 150),
                    r(150, 150),
                    starts(march),
                    &["emnify.active-earlier-this-month"],
                ),
            ),
            (
                "already activated: nothing now, the month goes on",
                Some(S::Activated),
                long_ago,
                T::Activated,
                true,
                Priced(r(0, 0), r(150, 150), None, &[]),
            ),
            (
                "suspended mid-month: saves nothing this month, free from next",
                Some(S::Activated),
                long_ago,
                T::Suspended,
                false,
                Priced(r(0, 0), r(0, 0), stops, &[]),
            ),
            (
                "suspended again: nothing",
                Some(S::Suspended),
                None,
                T::Suspended,
                false,
                Priced(r(0, 0), r(0, 0), None, &[]),
            ),
            (
                "to Factory Test: nothing unless used",
                Some(S::Issued),
                None,
                T::FactoryTest,
                true,
                Priced(r(0, 150), r(0, 150), None, &["emnify.factory-test-use"]),
            ),
            (
                "activating from an unknown status: both",
                Some(S::Unknown(9)),
                None,
                T::Activated,
                true,
                Priced(
                    r(0, 150),
                    r(150, 150),
                    starts(march),
                    &["emnify.current-status"],
                ),
            ),
            (
                "activating without a price book: unpriced, but the timing is said",
                Some(S::Issued),
                None,
                T::Activated,
                false,
                Unpriced(starts(march), &[]),
            ),
            (
                "re-activating without a price book",
                Some(S::Suspended),
                long_ago,
                T::Activated,
                false,
                Unpriced(starts(march), &["emnify.active-earlier-this-month"]),
            ),
            (
                "Factory Test without a price book",
                Some(S::Issued),
                None,
                T::FactoryTest,
                false,
                Unpriced(None, &["emnify.factory-test-use"]),
            ),
        ];
        for (name, current, activated, target, with_book, expect) in table {
            let b = if with_book {
                book()
            } else {
                PriceBook::default()
            };
            let e = estimate(current.as_ref(), activated, target, &b, today());
            match expect {
                Priced(now, monthly, timing, ids) => {
                    let c = e.charge().unwrap_or_else(|| panic!("{name}: {e}"));
                    assert_eq!((c.now, c.monthly), (now, monthly), "{name}:\n{c}");
                    assert_eq!(c.lines[0].timing, timing, "{name}");
                    let got: Vec<&str> = c.assumptions().iter().map(|a| &*a.id).collect();
                    assert_eq!(got, ids, "{name}");
                    assert_eq!(c.is_exact(), ids.is_empty(), "{name}");
                    if with_book {
                        assert_eq!(c.currency, Currency::EUR, "{name}");
                    }
                }
                Unpriced(timing, ids) => {
                    let Estimate::Unpriced(u) = &e else {
                        panic!("{name}: priced: {e}");
                    };
                    assert_eq!(u.timing, timing, "{name}");
                    assert_eq!(u.reason.label(), "no published price", "{name}");
                    let got: Vec<&str> = u.assumptions.iter().map(|a| &*a.id).collect();
                    assert_eq!(got, ids, "{name}");
                    assert!(u.rule.is_some(), "{name}");
                    assert!(!e.to_string().contains("0.00"), "{name}: {e}");
                }
            }
        }
    }

    #[test]
    fn the_documented_book_and_a_price_book_in_euros() {
        let d = documented();
        assert_eq!(
            d.currency, None,
            "emnify publishes no prices, so no currency"
        );
        assert_eq!(d.sim.active_monthly, None);
        assert_eq!(d.sim.inactive_monthly, Some(Money::ZERO));
        let e = estimate(
            Some(&SimStatus::Activated),
            None,
            SettableStatus::Suspended,
            &book(),
            today(),
        );
        let text = e.to_string();
        assert!(text.starts_with("€0.00 now, €0.00 a month after"), "{text}");
        assert!(text.contains("2025-03 stays billed"), "{text}");
        assert!(text.contains("stops the charge from 2025-04"), "{text}");
        // Volume tiers of a contract count the month's peak.
        let mut tiered = book();
        tiered.sim.volume_tiers = vec![simcore::charge::VolumeTier {
            more_than: 100,
            active_monthly: Money::from_cents(120),
        }];
        let e = estimate(
            Some(&SimStatus::Issued),
            None,
            SettableStatus::Activated,
            &tiered,
            today(),
        );
        let c = e.charge().unwrap();
        assert_eq!(c.monthly, r(120, 150));
        assert!(c.to_string().contains(VOLUME_COUNTS), "{c}");
        tiered.active_sims = Some(500);
        let e = estimate(
            Some(&SimStatus::Issued),
            None,
            SettableStatus::Activated,
            &tiered,
            today(),
        );
        assert_eq!(e.charge().unwrap().monthly, r(120, 120));
    }
}
