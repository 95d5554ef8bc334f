//! Sixfab's pricing rules as a table ([`RULES`]): one row per rule (and per wording of a rule),
//! each with its condition, where its amount comes from, the steps that make the amount a range
//! and the questions they name, read by [`simcore::charge::rule_lines`]. [`Preview`] answers the
//! facts the rows test and looks up their amounts.

use simcore::charge::Is::{No, Unknown, Yes};
use simcore::charge::Share::{Either, Full, Zero};
use simcore::charge::{
    AssetPrices, Case, ChargeLine, ChargeRange, Currency, Input, Money, PriceBook, Question,
    RowPrice, RuleRow, Share, SimPrices, Step, Unpriced, UnpricedReason, When, Words, rule_lines,
};

use super::{
    ChargeInputs, DEFAULT_SERVICE_PROFILE, DeviceKind, PRO_SIM, PRO_SIM_GRACE_MONTHS,
    ProSimHistory, SUPER_SIM, VOLUME_COUNTS, grace_end,
};
use crate::requests::SettableStatus;

/// What a rule's condition and steps test; each is known (`Some`) or not (`None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Fact {
    /// The asset is active after the change.
    EndsActive,
    /// The asset has a Super SIM.
    SuperSim,
    /// The asset has a PRO SIM.
    ProSim,
    /// The asset has both SIMs, so its asset fee applies.
    BothSims,
    /// The device is an ALPON.
    Alpon,
    /// The change sets the asset's status to another one.
    Changing,
    /// The asset's current status is one this SDK knows.
    StatusKnown,
    /// The row's SIM is charged for the month it is activated in (price book).
    Billed,
    /// The row's SIM was charged this month already (the asset's answer).
    Charged,
    /// The Super SIM's inactive price is known.
    InactivePriced,
    /// The asset fee stands instead of the SIM fees (price book).
    Replaces,
    /// The asset fee recurs every month (price book).
    Recurs,
    /// The asset fee is charged once a month at most (price book).
    OnceAMonth,
    /// The asset fee was charged this month already (the asset's answer).
    FeeCharged,
    /// The PRO SIM was ever activated.
    ActivatedBefore,
    /// The never-activated PRO SIM is within its grace.
    InGrace,
}

use Fact::*;

/// What a row prices.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Subject {
    /// An active Super SIM: its monthly price and volume tiers.
    SuperSimActive,
    /// An active PRO SIM: its service profile's price.
    ProSimActive,
    /// The asset fee.
    AssetFee,
    /// An inactive Super SIM.
    SuperSimInactive,
    /// An inactive PRO SIM: the maintenance fee.
    ProSimInactive,
    /// Nothing: a line that says why there is no charge.
    Nothing,
}

use Subject::*;

const REPLACES: Question = Question {
    id: "sixfab.asset-fee.replaces-sim-fees",
    text: "Sixfab says activating an asset with both SIMs charges the asset fee ({fee} for \
           {device}), but not whether it stands instead of the two SIM fees or on top of them",
    readings: &["on top of the SIM fees", "instead of the SIM fees"],
    settle: Some(
        "set assets.{key}.replaces_sim_fees in your price book (your invoice shows which)",
    ),
};
const CHARGED: Question = Question {
    id: "sixfab.charged-this-month",
    text: "the asset answer does not say whether the {item} was already charged this month \
           (no `last_charged_at`)",
    readings: &["it was: nothing more now", "it was not: charged now"],
    settle: None,
};
const ACTIVATION_MONTH: Question = Question {
    id: "sixfab.pro-sim.activation-month",
    text: "Sixfab says a Super SIM is charged on activation unless already charged this month, \
           but does not say when a PRO SIM is charged",
    readings: &[
        "charged on activation, like the Super SIM",
        "not charged for the month it is activated in",
    ],
    settle: Some("set sims.{sim_key}.activation_month_billed in your price book"),
};
const CURRENT: Question = Question {
    id: "sixfab.current-status",
    text: "the asset reports no status this SDK knows: it may be active already",
    readings: &[
        "it is active already: nothing more now",
        "it is not: charged as an activation",
    ],
    settle: None,
};
const ONCE_AGAIN: Question = Question {
    id: "sixfab.asset-fee.once-a-month",
    text: "the asset fee was already charged this month; Sixfab does not say whether activating \
           again in the same month charges it again",
    readings: &["charged again", "not charged again this month"],
    settle: Some("set assets.{key}.once_a_month in your price book"),
};
const ONCE_UNREPORTED: Question = Question {
    text: "the asset answer does not say whether the asset fee was already charged this month, \
           and Sixfab does not say whether it is charged again in the same month",
    ..ONCE_AGAIN
};
const FEE_CHARGED: Question = Question {
    id: "sixfab.asset-fee.charged-this-month",
    text: "the asset answer does not say whether the asset fee was already charged this month \
           (no `asset_fee_last_charged_at`)",
    ..CHARGED
};
const RECURS: Question = Question {
    id: "sixfab.asset-fee.recurs-monthly",
    text: "Sixfab says the asset fee of {device} is charged on activation, but not whether it \
           recurs every month while the asset is active",
    readings: &["it recurs monthly", "it is charged on activation only"],
    settle: Some("set assets.{key}.recurs_monthly in your price book"),
};
const HISTORY: Question = Question {
    id: "sixfab.pro-sim.history",
    text: "the asset answer does not say whether the PRO SIM was ever activated \
           (`first_activated_at`) or when it came to the account (`added_at`)",
    readings: &[
        "never activated, within its grace: nothing",
        "activated before, or past its grace: the maintenance fee",
    ],
    settle: None,
};
const NO_REFUND: Question = Question {
    id: "sixfab.no-refund",
    text: "Sixfab documents no refund when an asset is deactivated: none is counted",
    readings: &[],
    settle: None,
};

/// A case of a step.
const fn case(when: When<Fact>, share: Share) -> Case<Fact> {
    Case {
        when,
        share,
        names: None,
    }
}

/// A case that names a question.
const fn open(when: When<Fact>, share: Share, q: &'static Question) -> Case<Fact> {
    Case {
        when,
        share,
        names: Some(q),
    }
}

/// A SIM's fee while the asset is active, under the asset fee's "instead of / on top of".
const SHARE: Step<Fact> = &[
    case(&[(BothSims, No)], Full),
    case(&[(Replaces, Yes)], Zero),
    open(&[(Replaces, Unknown)], Either, &REPLACES),
];
/// The activation month of a SIM: billed in full, not at all, or either.
const ACTIVATION: Step<Fact> = &[
    case(&[(Changing, No)], Zero),
    case(&[(Charged, Yes)], Zero),
    case(&[(Billed, No)], Zero),
    open(&[(Billed, Unknown)], Either, &ACTIVATION_MONTH),
    open(&[(Charged, Unknown)], Either, &CHARGED),
];
/// An activation from a status this SDK does not know: it may be active already.
const STATUS: Step<Fact> = &[open(
    &[(Changing, Yes), (StatusKnown, No)],
    Either,
    &CURRENT,
)];
/// The asset fee's own line names its "instead of / on top of" question too.
const FEE_QUESTION: Step<Fact> = &[open(&[(Replaces, Unknown)], Full, &REPLACES)];
/// The asset fee on activation: once a month, or on every activation.
const FEE_NOW: Step<Fact> = &[
    case(&[(Changing, No)], Zero),
    case(&[(FeeCharged, No)], Full),
    case(&[(OnceAMonth, No)], Full),
    case(&[(FeeCharged, Yes), (OnceAMonth, Yes)], Zero),
    open(&[(FeeCharged, Yes)], Either, &ONCE_AGAIN),
    open(&[(OnceAMonth, Unknown)], Either, &ONCE_UNREPORTED),
    open(&[], Either, &FEE_CHARGED),
];
/// Whether the asset fee recurs monthly.
const RECURS_MONTHLY: Step<Fact> = &[
    case(&[(Recurs, No)], Zero),
    open(&[(Recurs, Unknown)], Either, &RECURS),
];
/// Deactivation adds nothing to this month's bill, and no refund is counted.
const STOP: Step<Fact> = &[open(&[(Changing, Yes)], Zero, &NO_REFUND), case(&[], Zero)];
/// Nothing.
const NOTHING: Step<Fact> = &[case(&[], Zero)];
/// A PRO SIM whose history is not reported: in its grace or not.
const GRACE_OR_NOT: Step<Fact> = &[open(&[], Either, &HISTORY)];

#[rustfmt::skip]
const SUPER_BILLED: Words<Fact> = Words { var: "billed", cases: &[
    (&[(Billed, Yes)], "; charged on activation unless already charged this month"),
] };
#[rustfmt::skip]
const PRO_BILLED: Words<Fact> = Words { var: "billed", cases: &[
    (&[(Billed, Yes)], "; charged for the month it is activated in, as your price book says"),
    (&[(Billed, No)], "; not charged for the month it is activated in, as your price book says"),
] };
#[rustfmt::skip]
const FIRST: Words<Fact> = Words { var: "first", cases: &[
    (&[(Changing, Yes), (ActivatedBefore, No)], "; a first activation: the never-activated grace ends with it"),
] };
#[rustfmt::skip]
const SHARED: Words<Fact> = Words { var: "share", cases: &[
    (&[(BothSims, Yes), (Replaces, No)], "; the asset fee comes on top, as your price book says"),
    (&[(BothSims, Yes), (Replaces, Yes)], "; replaced by the asset fee, as your price book says"),
] };

/// Every rule, in the order of the preview's lines; a rule worded apart in some cases has a row
/// for each. See the [module docs](super) for where each comes from.
#[rustfmt::skip]
pub(super) const RULES: &[RuleRow<Fact, Subject>] = &[
    // The asset active after the change.
    RuleRow { id: "sixfab.super-sim.active", item: "Super SIM", subject: SuperSimActive,
        when: &[(EndsActive, Yes), (SuperSim, Yes)],
        now: &[SHARE, ACTIVATION, STATUS], monthly: &[SHARE], words: &[SUPER_BILLED, SHARED],
        text: "Super SIM active: {prices}{billed}{share}" },
    RuleRow { id: "sixfab.pro-sim.active", item: "PRO SIM", subject: ProSimActive,
        when: &[(EndsActive, Yes), (ProSim, Yes)],
        now: &[SHARE, ACTIVATION, STATUS], monthly: &[SHARE], words: &[PRO_BILLED, FIRST, SHARED],
        text: "PRO SIM active: {profile}, {price} a month{billed}{first}{share}" },
    RuleRow { id: "sixfab.asset-fee", item: "asset fee ({device_name})", subject: AssetFee,
        when: &[(EndsActive, Yes), (BothSims, Yes)],
        now: &[FEE_QUESTION, FEE_NOW, STATUS], monthly: &[RECURS_MONTHLY], words: &[],
        text: "an asset with both SIMs charges its asset fee on activation: {fee} for {device}{settled}" },
    RuleRow { id: "sixfab.asset-fee.both-sims", item: "asset fee", subject: Nothing,
        when: &[(EndsActive, Yes), (BothSims, No), (Alpon, Yes)],
        now: &[], monthly: &[], words: &[],
        text: "an asset fee is charged only for an asset with both a Super SIM and a PRO SIM; this one has one" },
    // The asset inactive after the change.
    RuleRow { id: "sixfab.super-sim.inactive", item: "Super SIM", subject: SuperSimInactive,
        when: &[(EndsActive, No), (SuperSim, Yes), (InactivePriced, Yes)],
        now: &[STOP], monthly: &[], words: &[],
        text: "Super SIM inactive: {price} a month" },
    RuleRow { id: "sixfab.super-sim.inactive", item: "Super SIM", subject: SuperSimInactive,
        when: &[(EndsActive, No), (SuperSim, Yes), (InactivePriced, No)],
        now: &[STOP], monthly: &[], words: &[],
        text: "Super SIM inactive: no charge" },
    RuleRow { id: "sixfab.pro-sim.inactive", item: "PRO SIM", subject: ProSimInactive,
        when: &[(EndsActive, No), (ProSim, Yes), (ActivatedBefore, No), (InGrace, Yes)],
        now: &[STOP], monthly: &[NOTHING], words: &[],
        text: "PRO SIM never activated, in its {months}-month grace until {end}: no charge; {price} a month maintenance after that" },
    RuleRow { id: "sixfab.pro-sim.inactive", item: "PRO SIM", subject: ProSimInactive,
        when: &[(EndsActive, No), (ProSim, Yes), (ActivatedBefore, No), (InGrace, No)],
        now: &[STOP], monthly: &[], words: &[],
        text: "PRO SIM never activated, its {months}-month grace ended on {end}: {price} a month maintenance even while inactive" },
    RuleRow { id: "sixfab.pro-sim.inactive", item: "PRO SIM", subject: ProSimInactive,
        when: &[(EndsActive, No), (ProSim, Yes), (ActivatedBefore, Yes)],
        now: &[STOP], monthly: &[], words: &[],
        text: "PRO SIM inactive: {price} a month maintenance, which keeps connection priorities" },
    RuleRow { id: "sixfab.pro-sim.inactive", item: "PRO SIM", subject: ProSimInactive,
        when: &[(EndsActive, No), (ProSim, Yes), (ActivatedBefore, Unknown)],
        now: &[GRACE_OR_NOT, STOP], monthly: &[GRACE_OR_NOT], words: &[],
        text: "PRO SIM inactive: {price} a month maintenance, none during the {months}-month grace of a PRO SIM never activated" },
    RuleRow { id: "sixfab.asset-fee.inactive", item: "asset fee", subject: Nothing,
        when: &[(EndsActive, No), (BothSims, Yes)],
        now: &[], monthly: &[], words: &[],
        text: "no asset fee while the asset is inactive" },
];

/// One preview: what the table's facts and amounts are read from.
pub(super) struct Preview<'a> {
    pub(super) inputs: &'a ChargeInputs,
    pub(super) book: &'a PriceBook,
    /// The status before the change, when this SDK knows it.
    pub(super) from: Option<SettableStatus>,
    /// The status after it.
    pub(super) after: SettableStatus,
    pub(super) changing: bool,
    pub(super) currency: Currency,
}

fn no_price(item: impl Into<String>, key: impl Into<String>) -> Box<Unpriced> {
    Box::new(Unpriced::new(UnpricedReason::NoPublishedPrice {
        item: item.into(),
        key: key.into(),
    }))
}

impl Preview<'_> {
    /// The lines of the preview, and the inputs they used.
    pub(super) fn lines(&self) -> Result<(Vec<ChargeLine>, Vec<Input>), Box<Unpriced>> {
        let (fee, terms) = match self.asset_fee()? {
            Some((fee, terms)) => (Some(fee), terms),
            None => (None, AssetPrices::default()),
        };
        let key = self.inputs.device.key().unwrap_or_default();
        let mut vars = vec![("device", self.inputs.device.words()), ("key", key)];
        vars.extend(fee.map(|fee| ("fee", self.show(fee))));
        let fact = |s: &Subject, f| self.fact(*s, f, &terms);
        rule_lines(RULES, fact, |s| self.price(*s, fee, &terms), &vars)
    }

    fn show(&self, m: Money) -> String {
        self.currency.show(m).to_string()
    }

    fn sim_prices(&self, s: Subject) -> SimPrices {
        self.book
            .sim_prices(if s == SuperSimActive || s == SuperSimInactive {
                SUPER_SIM
            } else {
                PRO_SIM
            })
    }

    /// The asset fee and its terms, when the asset ends active with both SIMs.
    fn asset_fee(&self) -> Result<Option<(Money, AssetPrices)>, Box<Unpriced>> {
        let i = self.inputs;
        if self.after != SettableStatus::Active || i.super_sim.is_none() || i.pro_sim.is_none() {
            return Ok(None);
        }
        let Some(key) = i.device.key() else {
            return Err(no_price(
                "the asset fee of an asset with both SIMs whose device the answer does not name",
                "assets.<device>.fee",
            ));
        };
        let terms = self.book.asset(&key);
        match terms.fee {
            Some(fee) => Ok(Some((fee, terms))),
            None => Err(no_price(
                format!(
                    "the asset fee of {} (Sixfab publishes the ALPON's only)",
                    i.device.words()
                ),
                format!("assets.{key}.fee"),
            )),
        }
    }

    fn fact(&self, s: Subject, fact: Fact, terms: &AssetPrices) -> Option<bool> {
        let i = self.inputs;
        let history = i.pro_sim.as_ref().map(|p| p.history);
        Some(match fact {
            EndsActive => self.after == SettableStatus::Active,
            SuperSim => i.super_sim.is_some(),
            ProSim => i.pro_sim.is_some(),
            BothSims => i.super_sim.is_some() && i.pro_sim.is_some(),
            Alpon => matches!(i.device, DeviceKind::Alpon { .. }),
            Changing => self.changing,
            StatusKnown => self.from.is_some(),
            Billed => return self.sim_prices(s).activation_month_billed,
            Charged if s == SuperSimActive => return i.super_sim?.charged_this_month,
            Charged => return i.pro_sim.as_ref()?.charged_this_month,
            InactivePriced => self.sim_prices(s).inactive_monthly.is_some(),
            Replaces => return terms.replaces_sim_fees,
            Recurs => return terms.recurs_monthly,
            OnceAMonth => return terms.once_a_month,
            FeeCharged => return i.asset_fee_charged_this_month,
            ActivatedBefore => match history? {
                ProSimHistory::NeverActivated { .. } => false,
                ProSimHistory::ActivatedBefore => true,
                ProSimHistory::NotReported => return None,
            },
            InGrace => match history? {
                ProSimHistory::NeverActivated { since } => i.as_of < grace_end(since),
                _ => return None,
            },
        })
    }

    /// A row's amount, and the words it fills in.
    fn price(
        &self,
        s: Subject,
        fee: Option<Money>,
        terms: &AssetPrices,
    ) -> Result<RowPrice, Box<Unpriced>> {
        let prices = self.sim_prices(s);
        let exact = |m: Money| RowPrice::new(ChargeRange::exact(m)).var("price", self.show(m));
        Ok(match s {
            SuperSimActive => {
                let adding = if self.changing {
                    self.inputs.sim_count()
                } else {
                    0
                };
                let active = prices.active_price(
                    self.book.active_sims,
                    adding,
                    VOLUME_COUNTS,
                    self.currency,
                );
                let Some((amount, volume, input)) = active else {
                    return Err(no_price(
                        "an active Super SIM, per month",
                        "sims.super_sim.active_monthly",
                    ));
                };
                let mut priced = RowPrice::new(amount)
                    .var("prices", prices.active_prices(self.currency))
                    .var("sim_key", SUPER_SIM);
                priced.assumptions.extend(volume);
                priced.inputs.extend(input);
                priced
            }
            ProSimActive => {
                let named = self
                    .inputs
                    .pro_sim
                    .as_ref()
                    .and_then(|p| p.profile.as_deref());
                let named = named.filter(|n| !n.eq_ignore_ascii_case(DEFAULT_SERVICE_PROFILE));
                let price = match named {
                    Some(name) => prices.profile(name),
                    None => prices
                        .profile(DEFAULT_SERVICE_PROFILE)
                        .or(prices.active_monthly),
                };
                let profile = named.unwrap_or(DEFAULT_SERVICE_PROFILE);
                let Some(price) = price else {
                    return Err(no_price(
                        format!("the PRO SIM service profile {profile:?}"),
                        format!("sims.pro_sim.profiles.{profile:?}"),
                    ));
                };
                let words = match named {
                    Some(name) => format!("its service profile {name:?}"),
                    None => format!("the default service profile ({DEFAULT_SERVICE_PROFILE})"),
                };
                exact(price).var("profile", words).var("sim_key", PRO_SIM)
            }
            AssetFee => {
                let settled: Vec<&str> = [
                    (
                        terms.replaces_sim_fees,
                        "instead of the SIM fees",
                        "on top of the SIM fees",
                    ),
                    (
                        terms.recurs_monthly,
                        "every month while active",
                        "on activation only",
                    ),
                    (
                        terms.once_a_month,
                        "once a month at most",
                        "on every activation",
                    ),
                ]
                .into_iter()
                .filter_map(|(answer, yes, no)| answer.map(|a| if a { yes } else { no }))
                .collect();
                let settled = match settled.is_empty() {
                    true => String::new(),
                    false => format!("; {}, as your price book says", settled.join(", ")),
                };
                let words = self.inputs.device.words();
                let name = words
                    .trim_start_matches("an ")
                    .trim_start_matches("a ")
                    .to_owned();
                exact(fee.unwrap_or_default())
                    .var("device_name", name)
                    .var("settled", settled)
            }
            SuperSimInactive => exact(prices.inactive_monthly.unwrap_or_default()),
            ProSimInactive => {
                let end = match self.inputs.pro_sim.as_ref().map(|p| p.history) {
                    Some(ProSimHistory::NeverActivated { since }) => grace_end(since).to_string(),
                    _ => String::new(),
                };
                exact(prices.inactive_monthly.unwrap_or_default())
                    .var("end", end)
                    .var("months", PRO_SIM_GRACE_MONTHS.to_string())
            }
            Nothing => RowPrice::new(ChargeRange::ZERO),
        })
    }
}
