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
//! use sixfab_client::{AssetStatus, SettableStatus};
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
//! let e = estimate(&alpon, Some(&AssetStatus::Inactive), Some(SettableStatus::Active), &PriceBook::default());
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
//! let e = estimate(&alpon, Some(&AssetStatus::Inactive), Some(SettableStatus::Active), &book);
//! let c = e.charge().unwrap();
//! assert!(c.is_exact());
//! assert_eq!(c.now.low.to_string(), "10.00");
//! # Ok::<(), simcore::Error>(())
//! ```
//!
//! # Sixfab's rules, and how each is applied
//! Every rule below is from Sixfab's documentation; where it leaves a question open, the preview
//! covers every answer and names the question ([`Assumption`](simcore::charge::Assumption)),
//! with the price book entry that settles it.
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
//!
//! Each rule is a row of one table (with its condition, where its amount comes from, the steps
//! that make the amount a range and the questions they name), which
//! [`simcore::charge::rule_lines`] reads; a line's rule id is its row's.

use std::sync::LazyLock;

use chrono::{Months, NaiveDate};
use simcore::charge::{
    AssetPrices, Charge, Currency, Estimate, Money, Month, PriceBook, SimPrices, UnpricedReason,
};

use crate::models::{Asset, AssetStatus};
use crate::requests::SettableStatus;

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

/// Sixfab's published prices, in the price book format a book of yours is written in.
const PUBLISHED: &str = r#"{
    "provider": "sixfab",
    "currency": "USD",
    "sims": {
        "super_sim": {
            "active_monthly": "2.00",
            "inactive_monthly": "0",
            "activation_month_billed": true,
            "volume_tiers": [{"more_than": 10, "active_monthly": "1.60"}]
        },
        "pro_sim": {"inactive_monthly": "0.10", "profiles": {"Europe + USA": "2.00"}}
    },
    "assets": {"alpon": {"fee": "6.00"}}
}"#;

static PUBLISHED_BOOK: LazyLock<PriceBook> =
    LazyLock::new(|| PriceBook::from_json(PUBLISHED).expect("Sixfab's published prices"));

/// Sixfab's published prices, as a price book: the default under every preview. A price book of
/// yours is laid over it ([`PriceBook::over`]); what it leaves out comes from here.
///
/// What Sixfab leaves open is left open here (`None`): whether a PRO SIM's activation month is
/// charged, and everything about the asset fee but its amount.
pub fn published() -> PriceBook {
    PUBLISHED_BOOK.clone()
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
    target: Option<SettableStatus>,
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
    target: Option<SettableStatus>,
    book: &PriceBook,
) -> Estimate {
    if inputs.super_sim.is_none() && inputs.pro_sim.is_none() {
        return Estimate::unpriced(UnpricedReason::UnrecognisedShape {
            detail: "the asset carries neither a Super SIM nor a PRO SIM".to_owned(),
        });
    }
    let book = book.over(&inputs.reported().over(&published()));
    let from = match current {
        Some(AssetStatus::Active) => Some(SettableStatus::Active),
        Some(AssetStatus::Inactive) => Some(SettableStatus::Inactive),
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
    let preview = rules::Preview {
        inputs,
        book: &book,
        from,
        after,
        changing: target.is_some_and(|t| Some(t) != from),
        currency: book.currency(),
    };
    let (lines, inputs_used) = match preview.lines() {
        Ok(l) => l,
        Err(u) => return Estimate::Unpriced(*u),
    };
    let mut charge = Charge::new(preview.currency);
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

mod rules;

// What the tests name through `super::*` besides the items above.
#[cfg(test)]
use simcore::charge::ChargeRange;
#[cfg(test)]
fn usd(cents: u64) -> Money {
    Money::from_cents(cents)
}

#[cfg(test)]
mod tests;
