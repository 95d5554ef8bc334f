//! The price book's flat per-state prices, for providers that publish no prices and document no
//! billing rules (Super SIM, EdgeIQ): what [`preview`] answers for a provider with no
//! [`ChargePreview`](crate::ChargePreview) of its own ([`flat_preview`]).

use super::book::PriceBook;
use super::money::{ChargeRange, Money};
use super::{Assumption, Charge, ChargeLine, Estimate, Rule, Unpriced, UnpricedReason};
use crate::state::SimState;

/// Prices a change of a SIM from `current` to `target` (`None`: the state is left alone) with
/// the book's flat prices (its [`sim`](PriceBook::sim) entry), for a provider that documents no
/// billing rules of its own.
///
/// - The month after: the book's price for the state the SIM ends in (`active_monthly` with its
///   volume tiers, `inactive_monthly`, or `states.<word>`); none is "unpriced", naming the entry.
/// - Now: an activation adds the activation month: a full month when the book says
///   `activation_month_billed = true`, nothing when `false`, and from nothing to a full month
///   when it does not say. Any other change is taken to add nothing to this month's bill (no
///   refund is counted), and the charge says so.
/// - A current state that is not known (pending, or a word this SDK does not know): a change
///   that leaves the state alone cannot be priced; an activation's "now" runs from nothing (if
///   it was active already) to the activation price.
///
/// ```
/// use simcore::charge::{flat_estimate, Money, PriceBook, SimPrices};
/// use simcore::SimState;
///
/// let book = PriceBook {
///     sim: SimPrices { active_monthly: Some(Money::parse("1.00")?), ..SimPrices::default() },
///     ..PriceBook::default()
/// };
/// let e = flat_estimate("edgeiq", &book, &SimState::Inactive, Some(&SimState::Active));
/// let c = e.charge().unwrap();
/// assert_eq!(c.monthly.high, Money::from_cents(100));
/// assert_eq!((c.now.low, c.now.high), (Money::ZERO, Money::from_cents(100))); // not documented
///
/// // Without a price book: unpriced, never $0.
/// let e = flat_estimate("edgeiq", &PriceBook::default(), &SimState::Inactive, Some(&SimState::Active));
/// assert!(!e.is_priced());
/// # Ok::<(), simcore::charge::MoneyError>(())
/// ```
pub fn flat_estimate(
    provider: &str,
    book: &PriceBook,
    current: &SimState,
    target: Option<&SimState>,
) -> Estimate {
    let prices = &book.sim;
    let unknown = matches!(current, SimState::Unknown(_) | SimState::Pending);
    let after = target.unwrap_or(current);
    if unknown && target.is_none_or(|t| t == current) {
        return Estimate::unpriced(UnpricedReason::UnknownCurrentState {
            detail: format!(
                "{provider} reports the SIM as {:?}, and the change leaves its state alone",
                current.as_str()
            ),
        });
    }
    let activating = *after == SimState::Active && *current != SimState::Active;
    let no_price = |item: String, key: String| {
        Estimate::Unpriced(
            Unpriced::new(UnpricedReason::NoPublishedPrice { item, key }).rule(Rule::new(
                "book.flat",
                format!("{provider} publishes no prices: a preview needs your price book"),
            )),
        )
    };
    let mut assumptions = Vec::new();
    let mut input = None;
    let monthly = match after {
        SimState::Active => {
            match prices.active_price(
                book.active_sims,
                u32::from(activating),
                "active SIMs, as your price book's tiers count them",
                book.currency(),
            ) {
                Some((range, a, i)) => {
                    assumptions.extend(a);
                    input = i;
                    range
                }
                None => {
                    return no_price(
                        format!("an active {provider} SIM, per month"),
                        "sim.active_monthly".into(),
                    );
                }
            }
        }
        SimState::Inactive => match prices.inactive_monthly {
            Some(p) => ChargeRange::exact(p),
            None => {
                return no_price(
                    format!("an inactive {provider} SIM, per month"),
                    "sim.inactive_monthly".into(),
                );
            }
        },
        other => match prices.state(other.as_str()) {
            Some(p) => ChargeRange::exact(p),
            None => {
                return no_price(
                    format!("a {provider} SIM that is {}, per month", other.as_str()),
                    format!("sim.states.{}", other.as_str()),
                );
            }
        },
    };
    let now = if activating {
        let billed = match prices.activation_month_billed {
            Some(true) => monthly,
            Some(false) => ChargeRange::ZERO,
            None => {
                assumptions.push(
                    Assumption::new(
                        "book.activation-month",
                        format!(
                            "{provider} does not document whether the month a SIM is activated \
                             in is billed"
                        ),
                    )
                    .covering(["it is billed in full", "it is not billed, or only in part"])
                    .settled_by("set sim.activation_month_billed in your price book"),
                );
                ChargeRange::up_to(monthly.high)
            }
        };
        if unknown {
            assumptions.push(
                Assumption::new(
                    "book.current-state",
                    format!(
                        "{provider} reports the SIM as {:?}: it may be active already",
                        current.as_str()
                    ),
                )
                .covering([
                    "it is active already: nothing now",
                    "it is not: activated now",
                ])
                .settled_by("fetch the SIM again once its state is settled"),
            );
            ChargeRange::up_to(billed.high)
        } else {
            billed
        }
    } else {
        if target.is_some_and(|t| t != current) {
            assumptions.push(Assumption::new(
                "book.no-charge-this-month",
                format!(
                    "{provider} documents no billing rule: a change that does not activate the \
                     SIM is taken to add nothing to this month's bill, and no refund is counted"
                ),
            ));
        }
        ChargeRange::exact(Money::ZERO)
    };
    let c = book.currency();
    let mut line = ChargeLine::new(
        "SIM",
        Rule::new(
            "book.flat",
            format!(
                "your price book: {} a month while {}",
                monthly.show(c),
                after.as_str()
            ),
        ),
        now,
        monthly,
    );
    for a in assumptions {
        line = line.assuming(a);
    }
    let mut charge = Charge::new(c).line(line);
    if let Some(i) = input {
        charge.inputs.push(i);
    }
    Estimate::Priced(charge)
}

/// The charge preview of a provider that has no billing rules of its own
/// ([`SimProvider::charges`](crate::SimProvider::charges) is `None`): its validation, then the
/// SIM's state after the change priced from the book's flat prices ([`flat_estimate`]). With no
/// price in the book it answers "unpriced" without any I/O; otherwise it reads the current state
/// (from [`SimChange::known_state`](crate::SimChange::known_state), or one fetch). A price book
/// that names another provider is an [`Error::Config`](crate::Error::Config).
pub async fn flat_preview(
    provider: &dyn crate::SimProvider,
    id: &str,
    change: &crate::SimChange,
    pricing: &super::Pricing,
) -> crate::Result<Estimate> {
    provider.validate(id, change)?;
    let book = pricing.book_for(provider.name())?;
    if !book.sim.has_prices() {
        return Ok(Estimate::unpriced(UnpricedReason::NoPublishedPrice {
            item: format!("{} SIMs", provider.name()),
            key: "sim.active_monthly".to_owned(),
        }));
    }
    let current = match &change.known_state {
        Some(s) => s.clone(),
        None => provider.fetch(id).await?.state,
    };
    Ok(flat_estimate(
        provider.name(),
        book,
        &current,
        change.state.as_ref(),
    ))
}

/// A change's charge preview through any provider: its own ([`ChargePreview`](crate::ChargePreview))
/// when it has billing rules, otherwise [`flat_preview`].
pub async fn preview(
    provider: &dyn crate::SimProvider,
    id: &str,
    change: &crate::SimChange,
    pricing: &super::Pricing,
) -> crate::Result<Estimate> {
    match provider.charges() {
        Some(rules) => rules.estimate_charge(id, change, pricing).await,
        None => flat_preview(provider, id, change, pricing).await,
    }
}

#[cfg(test)]
mod tests {
    use super::super::{SimPrices, VolumeTier};
    use super::*;

    fn m(c: u64) -> Money {
        Money::from_cents(c)
    }

    fn book(billed: Option<bool>) -> PriceBook {
        PriceBook {
            sim: SimPrices {
                active_monthly: Some(m(100)),
                inactive_monthly: Some(m(10)),
                states: [("ready".to_owned(), m(0))].into(),
                activation_month_billed: billed,
                ..SimPrices::default()
            },
            ..PriceBook::default()
        }
    }

    #[test]
    fn every_flat_rule() {
        use SimState::*;
        let unknown = Unknown("scheduled".into());
        // (book's activation rule, current, target) -> (now low, now high, monthly low, high, assumption ids)
        type Row<'a> = (
            Option<bool>,
            SimState,
            Option<SimState>,
            [u64; 4],
            &'a [&'a str],
        );
        let table: Vec<Row> = vec![
            (
                None,
                Inactive,
                Some(Active),
                [0, 100, 100, 100],
                &["book.activation-month"],
            ),
            (
                Some(true),
                Inactive,
                Some(Active),
                [100, 100, 100, 100],
                &[],
            ),
            (Some(false), New, Some(Active), [0, 0, 100, 100], &[]),
            (Some(true), Active, Some(Active), [0, 0, 100, 100], &[]),
            (Some(true), Active, None, [0, 0, 100, 100], &[]),
            (
                None,
                Active,
                Some(Inactive),
                [0, 0, 10, 10],
                &["book.no-charge-this-month"],
            ),
            (
                None,
                New,
                Some(Ready),
                [0, 0, 0, 0],
                &["book.no-charge-this-month"],
            ),
            (
                Some(true),
                unknown.clone(),
                Some(Active),
                [0, 100, 100, 100],
                &["book.current-state"],
            ),
            (
                Some(true),
                Pending,
                Some(Inactive),
                [0, 0, 10, 10],
                &["book.no-charge-this-month"],
            ),
        ];
        for (billed, current, target, [nl, nh, ml, mh], ids) in table {
            let e = flat_estimate("p", &book(billed), &current, target.as_ref());
            let c = e
                .charge()
                .unwrap_or_else(|| panic!("{current} -> {target:?}: {e}"));
            let what = format!("{billed:?} {current} -> {target:?}");
            assert_eq!(c.now, ChargeRange::between(m(nl), m(nh)), "{what}");
            assert_eq!(c.monthly, ChargeRange::between(m(ml), m(mh)), "{what}");
            let got: Vec<&str> = c.assumptions().iter().map(|a| &*a.id).collect();
            assert_eq!(got, ids, "{what}");
            assert_eq!(c.lines[0].rule.id, "book.flat");
        }
    }

    #[test]
    fn what_cannot_be_priced_says_why() {
        let none = PriceBook::default();
        let e = flat_estimate(
            "edgeiq",
            &none,
            &SimState::Inactive,
            Some(&SimState::Active),
        );
        assert_eq!(
            e.reason(),
            Some(&UnpricedReason::NoPublishedPrice {
                item: "an active edgeiq SIM, per month".into(),
                key: "sim.active_monthly".into()
            })
        );
        let e = flat_estimate(
            "p",
            &book(None),
            &SimState::Active,
            Some(&SimState::Retired),
        );
        assert!(e.to_string().contains("`sim.states.retired`"), "{e}");
        let e = flat_estimate("p", &book(None), &SimState::Pending, None);
        assert_eq!(e.reason().unwrap().label(), "unknown current state");
        let e = flat_estimate(
            "p",
            &book(None),
            &SimState::Unknown("x".into()),
            Some(&SimState::Unknown("x".into())),
        );
        assert!(!e.is_priced());
    }

    #[test]
    fn tiers_apply_to_the_flat_price() {
        let mut b = book(Some(true));
        b.sim.volume_tiers = vec![VolumeTier {
            more_than: 10,
            active_monthly: m(80),
        }];
        let e = flat_estimate("p", &b, &SimState::Inactive, Some(&SimState::Active));
        let c = e.charge().unwrap();
        assert_eq!(c.monthly, ChargeRange::between(m(80), m(100)));
        assert_eq!(c.inputs.len(), 1);
        b.active_sims = Some(20);
        let c = flat_estimate("p", &b, &SimState::Inactive, Some(&SimState::Active));
        assert_eq!(c.charge().unwrap().monthly, ChargeRange::exact(m(80)));
    }
}
