//! What activating or deactivating a Sixfab asset costs, from Sixfab's published prices (or your
//! price book over them): ranges where Sixfab's text can be read more than one way, with the rule
//! and the assumptions behind every line, and "cannot price" where the asset's answer does not
//! say enough.
//!
//! Everything here is offline and deterministic: the caller gives the asset (or what it carries),
//! the price book and the day ("this month" is its month); nothing reads the clock or the network.
//! Money is whole cents ([`Money`]), never floating point.
//!
//! ```
//! use chrono::NaiveDate;
//! use simcore::charge::{Money, PriceBook};
//! use sixfab_client::{AssetStatus, TargetStatus};
//! use sixfab_client::pricing::{estimate, ChargeInputs, DeviceKind, ProSim, ProSimHistory, SuperSim};
//!
//! let mut alpon = ChargeInputs::new(NaiveDate::from_ymd_opt(2025, 3, 14).unwrap());
//! alpon.super_sim = Some(SuperSim { charged_this_month: Some(false) });
//! alpon.pro_sim = Some(ProSim::default_profile(ProSimHistory::ActivatedBefore));
//! alpon.device = DeviceKind::Alpon { reported_fee: None };
//! alpon.asset_fee_charged_this_month = Some(false);
//!
//! // Sixfab's published prices alone: the $6 ALPON fee may stand instead of the two $2 SIM fees
//! // or on top of them, and may recur or not; the volume count is not given.
//! let e = estimate(&alpon, Some(&AssetStatus::Inactive), Some(TargetStatus::Active), &PriceBook::default());
//! let c = e.charge().unwrap();
//! assert_eq!((c.now.low, c.now.high), (Money::from_cents(600), Money::from_cents(1000)));
//! assert_eq!((c.monthly.low, c.monthly.high), (Money::ZERO, Money::from_cents(1000)));
//! println!("{e}"); // every line's rule, every assumption and how to settle it
//!
//! // Your invoice settles it: 3 active SIMs, the fee on top of the SIM fees, every month, and
//! // the PRO SIM charged for the month it is activated in.
//! let book = PriceBook::from_json(r#"{
//!     "active_sims": 3,
//!     "sims": {"pro_sim": {"activation_month_billed": true}},
//!     "assets": {"alpon": {"replaces_sim_fees": false, "recurs_monthly": true}}
//! }"#)?;
//! let e = estimate(&alpon, Some(&AssetStatus::Inactive), Some(TargetStatus::Active), &book);
//! let c = e.charge().unwrap();
//! assert!(c.is_exact());
//! assert_eq!(c.now.low.to_string(), "10.00");
//! # Ok::<(), simcore::Error>(())
//! ```
//!
//! # Sixfab's rules, and how each is applied
//! Every rule below is from Sixfab's documentation; where it leaves a question open, the preview
//! covers every answer and names the question ([`Assumption`]), with the price book entry that
//! settles it.
//! - **Super SIM active:** $2 a month; $1.60 for customers with more than 10 active SIMs;
//!   charged on activation unless already charged this month. Inactive: no charge. The volume
//!   tier counts **active SIMs** (Sixfab's words; [`VOLUME_COUNTS`]): every active SIM on the
//!   account, the PRO SIMs too. The count is your price book's `active_sims` (the API does not
//!   report it), reported as an input of the preview; not given, the range covers both prices;
//!   given, and the change takes the count across the tier, the range covers both (whether the
//!   SIMs being activated count is not documented).
//! - **PRO SIM active:** its service profile's monthly price (the default profile, Europe + USA:
//!   $2; another profile's price from the asset's answer or your price book, else "cannot
//!   price"). Sixfab does not say whether the month a PRO SIM is activated in is charged: the
//!   range covers both, until `sims.pro_sim.activation_month_billed` is set.
//! - **PRO SIM inactive:** $0.10 a month maintenance, which keeps connection priorities. A PRO SIM
//!   never activated has a 6-month grace without charge ([`PRO_SIM_GRACE_MONTHS`]); after it the
//!   fee starts even while inactive. An answer that does not say whether the SIM was ever
//!   activated gives a range.
//! - **Asset fee:** an asset with both SIMs charges the asset fee on activation, e.g. $6 for an
//!   ALPON device. Not documented, so each is a range until the price book (`assets.<kind>`)
//!   says: whether the fee stands **instead of** the two SIM fees or **on top of** them
//!   (`replaces_sim_fees`); whether it **recurs monthly** (`recurs_monthly`); whether a
//!   re-activation in a month it was already charged in charges it again (`once_a_month`). Only
//!   the ALPON's fee is published: another device's fee comes from the asset's answer or the
//!   price book, else "cannot price", as for an asset with both SIMs whose device the answer does
//!   not name.
//! - **Deactivation** adds nothing to this month's bill. Sixfab documents no refund, and none is
//!   counted; the line says so.
//! - **An answer without a Super SIM or a PRO SIM** (the asset object's shape is not documented
//!   by Sixfab, so this SDK's model of it may not match the real API) is "cannot price"
//!   ([`UnpricedReason::UnrecognisedShape`]), never $0.

use chrono::{Months, NaiveDate};
use simcore::charge::{
    AssetPrices, Assumption, Charge, ChargeLine, ChargeRange, Currency, Estimate, Money, Month,
    PriceBook, Rule, SimPrices, Unpriced, UnpricedReason, VolumeTier,
};

use crate::models::{Asset, AssetStatus};
use crate::requests::TargetStatus;

/// The price book key of the Super SIM's prices (`sims.super_sim`).
pub const SUPER_SIM: &str = "super_sim";
/// The price book key of the PRO SIM's prices (`sims.pro_sim`).
pub const PRO_SIM: &str = "pro_sim";
/// The price book key of the ALPON device's asset fee (`assets.alpon`).
pub const ALPON: &str = "alpon";
/// The name of Sixfab's default PRO SIM service profile.
pub const DEFAULT_SERVICE_PROFILE: &str = "Europe + USA";
/// How long a never-activated PRO SIM is free of the maintenance fee.
pub const PRO_SIM_GRACE_MONTHS: u32 = 6;
/// What Sixfab's volume tier ("customers with more than 10 active SIMs") counts, as this crate
/// reads it: every active SIM on the account, of either kind. The one place that decides it.
pub const VOLUME_COUNTS: &str = "every active SIM on the account, Super SIMs and PRO SIMs";

fn usd(cents: u64) -> Money {
    Money::from_cents(cents)
}

/// Sixfab's published prices, as a price book: the default under every preview. A price book of
/// yours is laid over it ([`PriceBook::over`]); what it leaves out comes from here.
///
/// What Sixfab leaves open is left open here (`None`): whether a PRO SIM's activation month is
/// charged, and everything about the asset fee but its amount.
pub fn published() -> PriceBook {
    let mut book = PriceBook {
        provider: Some(crate::PROVIDER.to_owned()),
        currency: Some(Currency::USD),
        ..PriceBook::default()
    };
    book.sims.insert(
        SUPER_SIM.to_owned(),
        SimPrices {
            active_monthly: Some(usd(200)),
            inactive_monthly: Some(Money::ZERO),
            activation_month_billed: Some(true),
            volume_tiers: vec![VolumeTier {
                more_than: 10,
                active_monthly: usd(160),
            }],
            ..SimPrices::default()
        },
    );
    book.sims.insert(
        PRO_SIM.to_owned(),
        SimPrices {
            inactive_monthly: Some(usd(10)),
            profiles: [(DEFAULT_SERVICE_PROFILE.to_owned(), usd(200))].into(),
            ..SimPrices::default()
        },
    );
    book.assets.insert(
        ALPON.to_owned(),
        AssetPrices {
            fee: Some(usd(600)),
            ..AssetPrices::default()
        },
    );
    book
}

/// What the asset carries and what its answer says about charges so far, as the preview needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChargeInputs {
    /// The asset's Super SIM, if it has one.
    pub super_sim: Option<SuperSim>,
    /// The asset's PRO SIM, if it has one.
    pub pro_sim: Option<ProSim>,
    /// The device, for its asset fee.
    pub device: DeviceKind,
    /// Whether the asset fee was already charged this month (`None`: not reported).
    pub asset_fee_charged_this_month: Option<bool>,
    /// The day to reckon on ("this month", the PRO SIM's grace).
    pub as_of: NaiveDate,
}

/// The asset's Super SIM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SuperSim {
    /// Whether its monthly price was already charged this month (`None`: not reported).
    pub charged_this_month: Option<bool>,
}

/// The asset's PRO SIM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProSim {
    /// Its service profile's name; `None`: not named (the default profile).
    pub profile: Option<String>,
    /// Its service profile's monthly price, as the asset's answer reports it.
    pub reported_price: Option<Money>,
    /// Whether it was ever activated.
    pub history: ProSimHistory,
    /// Whether its active monthly price was already charged this month (`None`: not reported).
    pub charged_this_month: Option<bool>,
}

impl ProSim {
    /// A PRO SIM on the default service profile, not charged this month.
    pub fn default_profile(history: ProSimHistory) -> Self {
        Self {
            profile: None,
            reported_price: None,
            history,
            charged_this_month: Some(false),
        }
    }
}

/// Whether a PRO SIM was ever activated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProSimHistory {
    /// Never activated; the 6-month grace runs from `since` (the day it came to the account).
    NeverActivated {
        /// The start of the grace.
        since: NaiveDate,
    },
    /// Activated at least once: no grace.
    ActivatedBefore,
    /// The answer does not say (no `first_activated_at`, or no `added_at` for a SIM never
    /// activated).
    NotReported,
}

/// The device an asset's SIMs are in, for its asset fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceKind {
    /// An ALPON device (price book key [`ALPON`]; Sixfab publishes its $6 fee).
    Alpon {
        /// The fee the asset's answer reports, if any.
        reported_fee: Option<Money>,
    },
    /// Another device (price book key: its type in lower case).
    Other {
        /// The device's type, as reported (`"gateway"`).
        name: String,
        /// The fee the asset's answer reports, if any.
        reported_fee: Option<Money>,
    },
    /// The answer names no device.
    NotReported,
}

impl DeviceKind {
    /// The price book key of its asset fee (`"alpon"`), when the device is known.
    pub fn key(&self) -> Option<String> {
        match self {
            DeviceKind::Alpon { .. } => Some(ALPON.to_owned()),
            DeviceKind::Other { name, .. } => Some(name.trim().to_lowercase()),
            DeviceKind::NotReported => None,
        }
    }

    fn words(&self) -> String {
        match self {
            DeviceKind::Alpon { .. } => "an ALPON device".to_owned(),
            DeviceKind::Other { name, .. } => format!("a {name} device"),
            DeviceKind::NotReported => "a device the answer does not name".to_owned(),
        }
    }
}

impl ChargeInputs {
    /// An asset with no SIM and no device, on `as_of`; fill in the rest.
    pub fn new(as_of: NaiveDate) -> Self {
        Self {
            super_sim: None,
            pro_sim: None,
            device: DeviceKind::NotReported,
            asset_fee_charged_this_month: None,
            as_of,
        }
    }

    /// What a fetched asset tells the preview, on `as_of`: each SIM present
    /// ([`Asset::super_sim`], [`Asset::pro_sim`]) and whether it was charged this month
    /// (`last_charged_at`), the PRO SIM's service profile and history (`first_activated_at`,
    /// `added_at`), the device ([`Asset::device`]) and its fee. A key the answer does not carry
    /// is "not reported", never "no".
    ///
    /// An answer with neither SIM is [`UnpricedReason::UnrecognisedShape`]: Sixfab does not
    /// document the asset object, so this is what a real answer this SDK does not understand
    /// looks like, and pricing it at nothing would be a guess.
    pub fn from_asset(asset: &Asset, as_of: NaiveDate) -> Result<Self, UnpricedReason> {
        let month = Month::of(as_of);
        let charged = |reported: bool, day: Option<NaiveDate>| {
            reported.then(|| day.is_some_and(|d| month.contains(d)))
        };
        let mut inputs = ChargeInputs::new(as_of);
        inputs.super_sim = asset.super_sim().map(|s| SuperSim {
            charged_this_month: charged(s.charge_reported, s.last_charged_on),
        });
        inputs.pro_sim = asset.pro_sim().map(|s| {
            let profile = s.service_profile.as_ref();
            ProSim {
                profile: profile.and_then(|p| p.name.clone()),
                reported_price: profile.and_then(|p| p.monthly_price),
                history: match (
                    s.first_activation_reported,
                    s.first_activated_on,
                    s.added_on,
                ) {
                    (_, Some(_), _) => ProSimHistory::ActivatedBefore,
                    (true, None, Some(since)) => ProSimHistory::NeverActivated { since },
                    _ => ProSimHistory::NotReported,
                },
                charged_this_month: charged(s.charge_reported, s.last_charged_on),
            }
        });
        if inputs.super_sim.is_none() && inputs.pro_sim.is_none() {
            return Err(UnpricedReason::UnrecognisedShape {
                detail: "the asset answer has no `supersim` or `prosim` object, where this SDK \
                         reads an asset's SIMs (Sixfab does not document the asset object)"
                    .to_owned(),
            });
        }
        if let Some(d) = asset.device() {
            inputs.asset_fee_charged_this_month =
                charged(d.asset_fee_charge_reported, d.asset_fee_last_charged_on);
            inputs.device = if d.is_alpon() {
                DeviceKind::Alpon {
                    reported_fee: d.asset_fee,
                }
            } else {
                DeviceKind::Other {
                    name: d.kind.clone().unwrap_or_else(|| "device".to_owned()),
                    reported_fee: d.asset_fee,
                }
            };
        }
        Ok(inputs)
    }

    /// What the asset's answer reports about its own prices, as a price book layer between
    /// yours and Sixfab's published one.
    pub fn reported(&self) -> PriceBook {
        let mut book = PriceBook {
            currency: Some(Currency::USD),
            ..PriceBook::default()
        };
        if let Some(ProSim {
            reported_price: Some(price),
            profile,
            ..
        }) = &self.pro_sim
        {
            let name = profile
                .clone()
                .unwrap_or_else(|| DEFAULT_SERVICE_PROFILE.to_owned());
            book.sims.insert(
                PRO_SIM.to_owned(),
                SimPrices {
                    profiles: [(name, *price)].into(),
                    ..SimPrices::default()
                },
            );
        }
        let fee = match &self.device {
            DeviceKind::Alpon { reported_fee } | DeviceKind::Other { reported_fee, .. } => {
                *reported_fee
            }
            DeviceKind::NotReported => None,
        };
        if let (Some(key), Some(fee)) = (self.device.key(), fee) {
            book.assets.insert(
                key,
                AssetPrices {
                    fee: Some(fee),
                    ..AssetPrices::default()
                },
            );
        }
        book
    }

    fn sim_count(&self) -> u32 {
        u32::from(self.super_sim.is_some()) + u32::from(self.pro_sim.is_some())
    }
}

/// The end of a never-activated PRO SIM's grace that began on `since`: 6 calendar months later.
pub fn grace_end(since: NaiveDate) -> NaiveDate {
    since
        .checked_add_months(Months::new(PRO_SIM_GRACE_MONTHS))
        .unwrap_or(NaiveDate::MAX)
}

/// Prices a fetched asset: [`ChargeInputs::from_asset`], then [`estimate`] from its status to
/// `target` (`None`: the status is left alone, as in a rename).
pub fn estimate_asset(
    asset: &Asset,
    target: Option<TargetStatus>,
    book: &PriceBook,
    as_of: NaiveDate,
) -> Estimate {
    match ChargeInputs::from_asset(asset, as_of) {
        Ok(inputs) => estimate(&inputs, asset.status.as_ref(), target, book),
        Err(reason) => Estimate::unpriced(reason),
    }
}

/// Prices setting an asset from `current` to `target` (`None`: left alone) with `book` (yours;
/// empty for Sixfab's published prices) over what the asset reports and Sixfab's published
/// prices. See the [module docs](self) for every rule.
pub fn estimate(
    inputs: &ChargeInputs,
    current: Option<&AssetStatus>,
    target: Option<TargetStatus>,
    book: &PriceBook,
) -> Estimate {
    if inputs.super_sim.is_none() && inputs.pro_sim.is_none() {
        return Estimate::unpriced(UnpricedReason::UnrecognisedShape {
            detail: "the asset carries neither a Super SIM nor a PRO SIM".to_owned(),
        });
    }
    let book = book.over(&inputs.reported().over(&published()));
    let from = match current {
        Some(AssetStatus::Active) => Some(TargetStatus::Active),
        Some(AssetStatus::Inactive) => Some(TargetStatus::Inactive),
        _ => None,
    };
    let Some(after) = target.or(from) else {
        return Estimate::unpriced(UnpricedReason::UnknownCurrentState {
            detail: match current {
                Some(s) => format!(
                    "the asset reports the status {:?}, which this SDK does not know, and the change sets none",
                    s.as_str()
                ),
                None => "the asset reports no status, and the change sets none".to_owned(),
            },
        });
    };
    let p = Preview {
        inputs,
        book: &book,
        from,
        changing: target.is_some_and(|t| Some(t) != from),
        currency: book.currency(),
    };
    let lines = match after {
        TargetStatus::Active => p.active_lines(),
        TargetStatus::Inactive => Ok(p.inactive_lines()),
    };
    let (lines, inputs_used) = match lines {
        Ok(l) => l,
        Err(u) => return Estimate::Unpriced(*u),
    };
    let mut charge = Charge::new(p.currency);
    for l in lines {
        charge.push(l);
    }
    charge.inputs.extend(inputs_used);
    Estimate::Priced(charge.input(
        "reckoned on",
        format!(
            "{} (\"this month\" is {})",
            inputs.as_of,
            Month::of(inputs.as_of)
        ),
    ))
}

type Lines = (Vec<ChargeLine>, Vec<simcore::charge::Input>);

struct Preview<'a> {
    inputs: &'a ChargeInputs,
    book: &'a PriceBook,
    from: Option<TargetStatus>,
    changing: bool,
    currency: Currency,
}

fn no_price(item: String, key: String) -> Box<Unpriced> {
    Box::new(Unpriced::new(UnpricedReason::NoPublishedPrice {
        item,
        key,
    }))
}

impl Preview<'_> {
    /// The asset fee's terms, when the asset carries both SIMs: (fee, terms, device words).
    fn asset_fee(&self) -> Result<Option<(Money, AssetPrices, String)>, Box<Unpriced>> {
        if self.inputs.super_sim.is_none() || self.inputs.pro_sim.is_none() {
            return Ok(None);
        }
        let device = &self.inputs.device;
        let Some(key) = device.key() else {
            return Err(no_price(
                "the asset fee of an asset with both SIMs whose device the answer does not name"
                    .to_owned(),
                "assets.<device>.fee".to_owned(),
            ));
        };
        let terms = self.book.asset(&key);
        match terms.fee {
            Some(fee) => Ok(Some((fee, terms, device.words()))),
            None => Err(no_price(
                format!(
                    "the asset fee of {} (Sixfab publishes the ALPON's only)",
                    device.words()
                ),
                format!("assets.{key}.fee"),
            )),
        }
    }

    /// The activation month's charge of a price: billed in full, not at all, or either.
    fn activation_now(
        &self,
        item: &str,
        billed: Option<bool>,
        charged_this_month: Option<bool>,
        monthly: ChargeRange,
        book_key: &str,
    ) -> (ChargeRange, Vec<Assumption>) {
        if !self.changing {
            return (ChargeRange::ZERO, Vec::new());
        }
        let mut assumptions = Vec::new();
        let mut now = match (billed, charged_this_month) {
            (_, Some(true)) | (Some(false), _) => ChargeRange::ZERO,
            (Some(true), Some(false)) => monthly,
            (Some(true), None) => {
                assumptions.push(
                    Assumption::new(
                        "sixfab.charged-this-month",
                        format!(
                            "the asset answer does not say whether the {item} was already \
                             charged this month (no `last_charged_at`)"
                        ),
                    )
                    .covering(["it was: nothing more now", "it was not: charged now"]),
                );
                ChargeRange::up_to(monthly.high)
            }
            (None, _) => {
                assumptions.push(
                    Assumption::new(
                        "sixfab.pro-sim.activation-month",
                        "Sixfab says a Super SIM is charged on activation unless already \
                         charged this month, but does not say when a PRO SIM is charged",
                    )
                    .covering([
                        "charged on activation, like the Super SIM",
                        "not charged for the month it is activated in",
                    ])
                    .settled_by(format!(
                        "set sims.{book_key}.activation_month_billed in your price book"
                    )),
                );
                ChargeRange::up_to(monthly.high)
            }
        };
        if self.from.is_none() {
            assumptions.push(current_status_unknown());
            now = ChargeRange::up_to(now.high);
        }
        (now, assumptions)
    }

    /// A SIM's fee while the asset is active, under the asset fee's "instead of / on top of"
    /// question.
    fn sim_share(
        &self,
        price: ChargeRange,
        fee: &Option<(Money, AssetPrices, String)>,
    ) -> (ChargeRange, Option<Assumption>, &'static str) {
        match fee {
            None => (price, None, ""),
            Some((
                _,
                AssetPrices {
                    replaces_sim_fees: Some(false),
                    ..
                },
                _,
            )) => (
                price,
                None,
                "; the asset fee comes on top, as your price book says",
            ),
            Some((
                _,
                AssetPrices {
                    replaces_sim_fees: Some(true),
                    ..
                },
                _,
            )) => (
                ChargeRange::ZERO,
                None,
                "; replaced by the asset fee, as your price book says",
            ),
            Some((
                fee,
                AssetPrices {
                    replaces_sim_fees: None,
                    ..
                },
                device,
            )) => (
                ChargeRange::up_to(price.high),
                Some(replaces_assumption(
                    *fee,
                    device,
                    &self.inputs.device.key().unwrap_or_default(),
                    self.currency,
                )),
                "",
            ),
        }
    }

    fn active_lines(&self) -> Result<Lines, Box<Unpriced>> {
        let fee = self.asset_fee()?;
        let mut lines = Vec::new();
        let mut inputs = Vec::new();
        let activating = self.changing;
        let adding = if activating {
            self.inputs.sim_count()
        } else {
            0
        };

        if let Some(sim) = &self.inputs.super_sim {
            let prices = self.book.sim_prices(SUPER_SIM);
            let Some((price, volume, input)) =
                prices.active_price(self.book.active_sims, adding, VOLUME_COUNTS, self.currency)
            else {
                return Err(no_price(
                    "an active Super SIM, per month".to_owned(),
                    "sims.super_sim.active_monthly".to_owned(),
                ));
            };
            inputs.extend(input);
            let (monthly, replaced, replaced_words) = self.sim_share(price, &fee);
            let (now, assumptions) = self.activation_now(
                "Super SIM",
                prices.activation_month_billed,
                sim.charged_this_month,
                monthly,
                SUPER_SIM,
            );
            let tiers: Vec<String> = prices
                .volume_tiers
                .iter()
                .map(|t| {
                    format!(
                        "{} above {} active SIMs",
                        self.currency.show(t.active_monthly),
                        t.more_than
                    )
                })
                .collect();
            let list = std::iter::once(format!(
                "{} a month",
                self.currency
                    .show(prices.active_monthly.unwrap_or_default())
            ))
            .chain(tiers)
            .collect::<Vec<_>>()
            .join(", ");
            let billed = match prices.activation_month_billed {
                Some(true) => "; charged on activation unless already charged this month",
                _ => "",
            };
            let mut line = ChargeLine::new(
                "Super SIM",
                Rule::new(
                    "sixfab.super-sim.active",
                    format!("Super SIM active: {list}{billed}{replaced_words}"),
                ),
                now,
                monthly,
            );
            for a in volume.into_iter().chain(replaced).chain(assumptions) {
                line = line.assuming(a);
            }
            lines.push(line);
        }

        if let Some(sim) = &self.inputs.pro_sim {
            let prices = self.book.sim_prices(PRO_SIM);
            let (price, profile_words) = match &sim.profile {
                Some(name) if !name.eq_ignore_ascii_case(DEFAULT_SERVICE_PROFILE) => {
                    match prices.profile(name) {
                        Some(p) => (p, format!("its service profile {name:?}")),
                        None => {
                            return Err(no_price(
                                format!("the PRO SIM service profile {name:?}"),
                                format!("sims.pro_sim.profiles.{name:?}"),
                            ));
                        }
                    }
                }
                _ => match prices
                    .profile(DEFAULT_SERVICE_PROFILE)
                    .or(prices.active_monthly)
                {
                    Some(p) => (
                        p,
                        format!("the default service profile ({DEFAULT_SERVICE_PROFILE})"),
                    ),
                    None => {
                        return Err(no_price(
                            format!("the PRO SIM service profile {DEFAULT_SERVICE_PROFILE:?}"),
                            format!("sims.pro_sim.profiles.{DEFAULT_SERVICE_PROFILE:?}"),
                        ));
                    }
                },
            };
            let (monthly, replaced, replaced_words) =
                self.sim_share(ChargeRange::exact(price), &fee);
            let (now, assumptions) = self.activation_now(
                "PRO SIM",
                prices.activation_month_billed,
                sim.charged_this_month,
                monthly,
                PRO_SIM,
            );
            let billed = match prices.activation_month_billed {
                Some(true) => "; charged for the month it is activated in, as your price book says",
                Some(false) => {
                    "; not charged for the month it is activated in, as your price book says"
                }
                None => "",
            };
            let first = match (activating, sim.history) {
                (true, ProSimHistory::NeverActivated { .. }) => {
                    "; a first activation: the never-activated grace ends with it"
                }
                _ => "",
            };
            let mut line = ChargeLine::new(
                "PRO SIM",
                Rule::new(
                    "sixfab.pro-sim.active",
                    format!(
                        "PRO SIM active: {profile_words}, {} a month{billed}{first}{replaced_words}",
                        self.currency.show(price)
                    ),
                ),
                now,
                monthly,
            );
            for a in replaced.into_iter().chain(assumptions) {
                line = line.assuming(a);
            }
            lines.push(line);
        }

        match fee {
            Some((amount, terms, device)) => {
                lines.push(self.asset_fee_line(amount, &terms, &device))
            }
            None if matches!(self.inputs.device, DeviceKind::Alpon { .. }) => {
                lines.push(ChargeLine::new(
                    "asset fee",
                    Rule::new(
                        "sixfab.asset-fee.both-sims",
                        "an asset fee is charged only for an asset with both a Super SIM and a \
                         PRO SIM; this one has one",
                    ),
                    ChargeRange::ZERO,
                    ChargeRange::ZERO,
                ));
            }
            None => {}
        }
        Ok((lines, inputs))
    }

    fn asset_fee_line(&self, fee: Money, terms: &AssetPrices, device: &str) -> ChargeLine {
        let mut assumptions = Vec::new();
        let now = if !self.changing {
            ChargeRange::ZERO
        } else {
            match (self.inputs.asset_fee_charged_this_month, terms.once_a_month) {
                (Some(false), _) | (_, Some(false)) => ChargeRange::exact(fee),
                (Some(true), Some(true)) => ChargeRange::ZERO,
                (charged, None) => {
                    assumptions.push(
                        Assumption::new(
                            "sixfab.asset-fee.once-a-month",
                            if charged == Some(true) {
                                "the asset fee was already charged this month; Sixfab does not \
                                 say whether activating again in the same month charges it again"
                            } else {
                                "the asset answer does not say whether the asset fee was already \
                                 charged this month, and Sixfab does not say whether it is \
                                 charged again in the same month"
                            },
                        )
                        .covering(["charged again", "not charged again this month"])
                        .settled_by(format!(
                            "set assets.{}.once_a_month in your price book",
                            self.inputs.device.key().unwrap_or_default()
                        )),
                    );
                    ChargeRange::up_to(fee)
                }
                (None, Some(true)) => {
                    assumptions.push(
                        Assumption::new(
                            "sixfab.asset-fee.charged-this-month",
                            "the asset answer does not say whether the asset fee was already \
                             charged this month (no `asset_fee_last_charged_at`)",
                        )
                        .covering(["it was: nothing more now", "it was not: charged now"]),
                    );
                    ChargeRange::up_to(fee)
                }
            }
        };
        let now = if self.changing && self.from.is_none() {
            assumptions.push(current_status_unknown());
            ChargeRange::up_to(now.high)
        } else {
            now
        };
        let key = self.inputs.device.key().unwrap_or_default();
        let monthly =
            match terms.recurs_monthly {
                Some(true) => ChargeRange::exact(fee),
                Some(false) => ChargeRange::ZERO,
                None => {
                    assumptions.push(
                    Assumption::new(
                        "sixfab.asset-fee.recurs-monthly",
                        format!(
                            "Sixfab says the asset fee of {device} is charged on activation, but \
                             not whether it recurs every month while the asset is active"
                        ),
                    )
                    .covering(["it recurs monthly", "it is charged on activation only"])
                    .settled_by(format!("set assets.{key}.recurs_monthly in your price book")),
                );
                    ChargeRange::up_to(fee)
                }
            };
        if terms.replaces_sim_fees.is_none() {
            assumptions.insert(0, replaces_assumption(fee, device, &key, self.currency));
        }
        let settled: Vec<&str> = [
            match terms.replaces_sim_fees {
                Some(true) => Some("instead of the SIM fees"),
                Some(false) => Some("on top of the SIM fees"),
                None => None,
            },
            match terms.recurs_monthly {
                Some(true) => Some("every month while active"),
                Some(false) => Some("on activation only"),
                None => None,
            },
            match terms.once_a_month {
                Some(true) => Some("once a month at most"),
                Some(false) => Some("on every activation"),
                None => None,
            },
        ]
        .into_iter()
        .flatten()
        .collect();
        let settled = if settled.is_empty() {
            String::new()
        } else {
            format!("; {}, as your price book says", settled.join(", "))
        };
        let mut line = ChargeLine::new(
            format!(
                "asset fee ({})",
                device.trim_start_matches("an ").trim_start_matches("a ")
            ),
            Rule::new(
                "sixfab.asset-fee",
                format!(
                    "an asset with both SIMs charges its asset fee on activation: {} for \
                     {device}{settled}",
                    self.currency.show(fee)
                ),
            ),
            now,
            monthly,
        );
        for a in assumptions {
            line = line.assuming(a);
        }
        line
    }

    fn inactive_lines(&self) -> Lines {
        let mut lines = Vec::new();
        let none_refunded = Assumption::new(
            "sixfab.no-refund",
            "Sixfab documents no refund when an asset is deactivated: none is counted",
        );
        let stopping = self.changing;
        if self.inputs.super_sim.is_some() {
            let prices = self.book.sim_prices(SUPER_SIM);
            let mut line = match prices.inactive_monthly {
                Some(p) => ChargeLine::new(
                    "Super SIM",
                    Rule::new(
                        "sixfab.super-sim.inactive",
                        format!("Super SIM inactive: {} a month", self.currency.show(p)),
                    ),
                    ChargeRange::ZERO,
                    p,
                ),
                None => ChargeLine::new(
                    "Super SIM",
                    Rule::new("sixfab.super-sim.inactive", "Super SIM inactive: no charge"),
                    ChargeRange::ZERO,
                    ChargeRange::ZERO,
                ),
            };
            if stopping {
                line = line.assuming(none_refunded.clone());
            }
            lines.push(line);
        }
        if let Some(sim) = &self.inputs.pro_sim {
            let fee = self
                .book
                .sim_prices(PRO_SIM)
                .inactive_monthly
                .unwrap_or_default();
            let fee_words = self.currency.show(fee).to_string();
            let months = PRO_SIM_GRACE_MONTHS;
            let (monthly, rule, open) = match sim.history {
                ProSimHistory::NeverActivated { since } => {
                    let end = grace_end(since);
                    if self.inputs.as_of < end {
                        (
                            ChargeRange::ZERO,
                            format!(
                                "PRO SIM never activated, in its {months}-month grace until \
                                 {end}: no charge; {fee_words} a month maintenance after that"
                            ),
                            None,
                        )
                    } else {
                        (
                            ChargeRange::exact(fee),
                            format!(
                                "PRO SIM never activated, its {months}-month grace ended on \
                                 {end}: {fee_words} a month maintenance even while inactive"
                            ),
                            None,
                        )
                    }
                }
                ProSimHistory::ActivatedBefore => (
                    ChargeRange::exact(fee),
                    format!(
                        "PRO SIM inactive: {fee_words} a month maintenance, which keeps \
                         connection priorities"
                    ),
                    None,
                ),
                ProSimHistory::NotReported => (
                    ChargeRange::up_to(fee),
                    format!(
                        "PRO SIM inactive: {fee_words} a month maintenance, none during the \
                         {months}-month grace of a PRO SIM never activated"
                    ),
                    Some(
                        Assumption::new(
                            "sixfab.pro-sim.history",
                            "the asset answer does not say whether the PRO SIM was ever \
                             activated (`first_activated_at`) or when it came to the account \
                             (`added_at`)",
                        )
                        .covering([
                            "never activated, within its grace: nothing",
                            "activated before, or past its grace: the maintenance fee",
                        ]),
                    ),
                ),
            };
            let mut line = ChargeLine::new(
                "PRO SIM",
                Rule::new("sixfab.pro-sim.inactive", rule),
                ChargeRange::ZERO,
                monthly,
            );
            if let Some(a) = open {
                line = line.assuming(a);
            }
            if stopping {
                line = line.assuming(none_refunded.clone());
            }
            lines.push(line);
        }
        if self.inputs.super_sim.is_some() && self.inputs.pro_sim.is_some() {
            lines.push(ChargeLine::new(
                "asset fee",
                Rule::new(
                    "sixfab.asset-fee.inactive",
                    "no asset fee while the asset is inactive",
                ),
                ChargeRange::ZERO,
                ChargeRange::ZERO,
            ));
        }
        (lines, Vec::new())
    }
}

fn current_status_unknown() -> Assumption {
    Assumption::new(
        "sixfab.current-status",
        "the asset reports no status this SDK knows: it may be active already",
    )
    .covering([
        "it is active already: nothing more now",
        "it is not: charged as an activation",
    ])
}

fn replaces_assumption(fee: Money, device: &str, key: &str, currency: Currency) -> Assumption {
    Assumption::new(
        "sixfab.asset-fee.replaces-sim-fees",
        format!(
            "Sixfab says activating an asset with both SIMs charges the asset fee ({} for \
             {device}), but not whether it stands instead of the two SIM fees or on top of them",
            currency.show(fee)
        ),
    )
    .covering(["on top of the SIM fees", "instead of the SIM fees"])
    .settled_by(format!(
        "set assets.{key}.replaces_sim_fees in your price book (your invoice shows which)"
    ))
}

#[cfg(test)]
mod tests;
