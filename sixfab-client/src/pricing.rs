//! A charge preview from Sixfab's published prices: what activating or deactivating an asset
//! costs now, and per month after, with the rule behind each line.
//!
//! Everything here is offline and deterministic: the caller says what the asset carries and which
//! day it is ([`ChargeInputs::as_of`]); nothing reads the clock or the network. Money is whole
//! cents ([`Cents`]), never floating point. Every price is in one table, [`PRICES`].
//!
//! ```
//! use chrono::NaiveDate;
//! use sixfab_client::TargetStatus;
//! use sixfab_client::pricing::{preview, ChargeInputs, Cents, DeviceKind, ProSim, ProSimHistory, SuperSim};
//!
//! let mut asset = ChargeInputs::new(NaiveDate::from_ymd_opt(2025, 3, 14).unwrap());
//! asset.super_sim = Some(SuperSim::default());
//! asset.pro_sim = Some(ProSim::default_profile(ProSimHistory::ActivatedBefore));
//! asset.device = DeviceKind::Alpon;
//! asset.other_active_super_sims = 3;
//!
//! let on = preview(&asset, TargetStatus::Active);
//! assert_eq!(on.now, Cents(200 + 200 + 600));
//! assert_eq!(on.monthly_after.to_string(), "$10.00");
//!
//! let off = preview(&asset, TargetStatus::Inactive);
//! assert_eq!(off.now, Cents(0));
//! assert_eq!(off.monthly_after.to_string(), "$0.10"); // the PRO SIM's maintenance fee
//! println!("{off}");
//! ```
//!
//! # Rules, and the choices made where Sixfab's text leaves room
//! - **Super SIM active:** $2 a month, or $1.60 for customers with more than 10 active SIMs;
//!   charged on activation unless already charged this month. Inactive: no charge. The count
//!   **includes the SIM being activated** (see [`counted_active_super_sims`]).
//! - **PRO SIM active:** its service profile's monthly price (default profile Europe + USA: $2),
//!   charged on activation unless already charged this month (Sixfab states the "not yet charged
//!   this month" rule for the PRO SIM as well). Inactive: $0.10 a month maintenance; none during
//!   the 6-month grace of a PRO SIM never activated, counted from [`ProSimHistory::NeverActivated`]'s
//!   `since`.
//! - **Asset fee:** charged on activation when the asset has both a Super SIM and a PRO SIM (e.g.
//!   $6 for an ALPON device), unless already charged this month. **Unconfirmed:** whether it recurs
//!   every month while the asset is active; [`PriceTable::asset_fee_monthly`] decides (assumed
//!   yes).
//! - **Deactivation charges nothing now**, and what was already charged this month is **not
//!   refunded**; `monthly_after` is what the asset costs per month while inactive.
//! - `monthly_after` is reckoned as the rules stand on `as_of`; a grace that ends later is named,
//!   with its end date, in the line's rule.

use std::fmt;
use std::iter::Sum;
use std::ops::{Add, AddAssign};

use chrono::{Datelike, Months, NaiveDate};

use crate::models::{Asset, AssetStatus, ServiceProfile};
use crate::requests::TargetStatus;

/// An amount of US money in whole cents. `Display` shows dollars: `Cents(160)` is `$1.60`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Cents(pub u64);

impl Cents {
    /// No money.
    pub const ZERO: Cents = Cents(0);

    /// The amount in cents.
    pub const fn get(self) -> u64 {
        self.0
    }

    /// Whether the amount is zero.
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "${}.{:02}", self.0 / 100, self.0 % 100)
    }
}

impl Add for Cents {
    type Output = Cents;
    /// Adds, saturating at the largest amount rather than overflowing.
    fn add(self, rhs: Cents) -> Cents {
        Cents(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign for Cents {
    fn add_assign(&mut self, rhs: Cents) {
        *self = *self + rhs;
    }
}

impl Sum for Cents {
    fn sum<I: Iterator<Item = Cents>>(iter: I) -> Cents {
        iter.fold(Cents::ZERO, Add::add)
    }
}

/// Sixfab's prices, as the preview uses them. [`PRICES`] is the published table; build another
/// to preview other prices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceTable {
    /// Super SIM, active, per month: $2.
    pub super_sim_active: Cents,
    /// Super SIM, active, per month, for customers with more than
    /// [`super_sim_volume_threshold`](Self::super_sim_volume_threshold) active SIMs: $1.60.
    pub super_sim_active_volume: Cents,
    /// The number of active SIMs a customer must exceed for the volume price: 10.
    pub super_sim_volume_threshold: u32,
    /// Super SIM, inactive, per month: nothing.
    pub super_sim_inactive: Cents,
    /// PRO SIM, active, per month on the default service profile (Europe + USA): $2.
    pub pro_sim_default_profile: Cents,
    /// PRO SIM, inactive, per month: the maintenance fee that keeps connection priorities: $0.10.
    pub pro_sim_inactive_maintenance: Cents,
    /// How long a never-activated PRO SIM is free of the maintenance fee: 6 months.
    pub pro_sim_grace_months: u32,
    /// The asset fee of an ALPON device, charged on activation with both SIMs: $6.
    pub alpon_asset_fee: Cents,
    /// Whether the asset fee recurs every month while the asset is active (**unconfirmed**;
    /// Sixfab says it is charged on activation; assumed to recur, like the SIM fees).
    pub asset_fee_monthly: bool,
}

/// Sixfab's published prices.
pub const PRICES: PriceTable = PriceTable {
    super_sim_active: Cents(200),
    super_sim_active_volume: Cents(160),
    super_sim_volume_threshold: 10,
    super_sim_inactive: Cents(0),
    pro_sim_default_profile: Cents(200),
    pro_sim_inactive_maintenance: Cents(10),
    pro_sim_grace_months: 6,
    alpon_asset_fee: Cents(600),
    asset_fee_monthly: true,
};

/// How many active Super SIMs the volume rule ("more than 10 active SIMs") counts when this
/// asset's Super SIM is activated: the account's other active Super SIMs **plus this one**. So an
/// account with 10 active Super SIMs activating an eleventh pays the volume price for it.
///
/// This is the one place that decides it.
pub fn counted_active_super_sims(other_active: u32) -> u32 {
    other_active.saturating_add(1)
}

/// What the asset carries and where the account stands, as the preview needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeInputs {
    /// The asset's Super SIM, if it has one.
    pub super_sim: Option<SuperSim>,
    /// The asset's PRO SIM, if it has one.
    pub pro_sim: Option<ProSim>,
    /// The device, for its asset fee.
    pub device: DeviceKind,
    /// The account's active Super SIMs, **not** counting this asset's.
    pub other_active_super_sims: u32,
    /// Whether the asset fee was already charged this month.
    pub asset_fee_charged_this_month: bool,
    /// The day to reckon on (for the PRO SIM's grace).
    pub as_of: NaiveDate,
}

impl ChargeInputs {
    /// An asset with no SIM and no asset fee, on `as_of`; fill in the rest.
    pub fn new(as_of: NaiveDate) -> Self {
        Self {
            super_sim: None,
            pro_sim: None,
            device: DeviceKind::NoAssetFee,
            other_active_super_sims: 0,
            asset_fee_charged_this_month: false,
            as_of,
        }
    }
}

/// The name of Sixfab's default PRO SIM service profile, priced at
/// [`PriceTable::pro_sim_default_profile`].
pub const DEFAULT_SERVICE_PROFILE: &str = "Europe + USA";

impl ChargeInputs {
    /// What a fetched asset tells the preview, on `as_of`, for an account with
    /// `active_super_sims` active Super SIMs in all (this asset's included when it is active).
    ///
    /// Read from the asset ([`Asset::sims`], [`Asset::device`]):
    /// - each SIM present, and whether it was charged this month (`last_charged_at` in the month
    ///   of `as_of`);
    /// - the PRO SIM's service profile price; a profile reported without a price is the default
    ///   one when it is named [`DEFAULT_SERVICE_PROFILE`] or not named;
    /// - whether the PRO SIM was ever activated (`first_activated_at`), and otherwise since when
    ///   its grace runs (`added_at`); a PRO SIM that reports neither is taken as activated before,
    ///   which is the case that charges the maintenance fee;
    /// - the device: an ALPON has the published asset fee, another device the `asset_fee` it
    ///   reports, and none without one.
    ///
    /// `None` when the asset cannot be priced: a PRO SIM on a profile other than the default whose
    /// price the answer does not carry.
    pub fn from_asset(asset: &Asset, as_of: NaiveDate, active_super_sims: u32) -> Option<Self> {
        let this_month = |day: Option<NaiveDate>| {
            day.is_some_and(|d| d.year() == as_of.year() && d.month() == as_of.month())
        };
        let mut inputs = ChargeInputs::new(as_of);
        if let Some(sim) = asset.super_sim() {
            let counts_itself = sim
                .status
                .as_ref()
                .or(asset.status.as_ref())
                .is_some_and(|s| *s == AssetStatus::Active);
            inputs.other_active_super_sims = if counts_itself {
                active_super_sims.saturating_sub(1)
            } else {
                active_super_sims
            };
            inputs.super_sim = Some(SuperSim {
                charged_this_month: this_month(sim.last_charged_on),
            });
        }
        if let Some(sim) = asset.pro_sim() {
            let profile_price = match &sim.service_profile {
                Some(ServiceProfile {
                    monthly_price: Some(price),
                    ..
                }) => Some(*price),
                Some(ServiceProfile {
                    name: Some(name), ..
                }) if !name.eq_ignore_ascii_case(DEFAULT_SERVICE_PROFILE) => return None,
                _ => None,
            };
            let history = match (sim.first_activated_on, sim.added_on) {
                (None, Some(since)) => ProSimHistory::NeverActivated { since },
                _ => ProSimHistory::ActivatedBefore,
            };
            inputs.pro_sim = Some(ProSim {
                profile_price,
                history,
                charged_this_month: this_month(sim.last_charged_on),
            });
        }
        if let Some(device) = asset.device() {
            inputs.asset_fee_charged_this_month = this_month(device.asset_fee_last_charged_on);
            inputs.device = match (device.is_alpon(), device.asset_fee, device.kind) {
                (true, _, _) => DeviceKind::Alpon,
                (false, Some(asset_fee), name) => DeviceKind::Other {
                    name: name.unwrap_or_else(|| "device".to_owned()),
                    asset_fee,
                },
                (false, None, _) => DeviceKind::NoAssetFee,
            };
        }
        Some(inputs)
    }
}

/// The asset's Super SIM.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SuperSim {
    /// Whether its monthly fee was already charged this month.
    pub charged_this_month: bool,
}

/// The asset's PRO SIM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProSim {
    /// Its service profile's monthly price; `None` is the default profile (Europe + USA).
    pub profile_price: Option<Cents>,
    /// Whether it was ever activated.
    pub history: ProSimHistory,
    /// Whether its active monthly price was already charged this month (a maintenance fee does
    /// not count).
    pub charged_this_month: bool,
}

impl ProSim {
    /// A PRO SIM on the default service profile, not charged this month.
    pub fn default_profile(history: ProSimHistory) -> Self {
        Self {
            profile_price: None,
            history,
            charged_this_month: false,
        }
    }
}

/// Whether a PRO SIM was ever activated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProSimHistory {
    /// Never activated; the 6-month grace runs from `since` (the day the SIM came to the account).
    NeverActivated {
        /// The start of the grace.
        since: NaiveDate,
    },
    /// Activated at least once: no grace.
    ActivatedBefore,
}

/// The kind of device, for its asset fee.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceKind {
    /// An ALPON device ([`PriceTable::alpon_asset_fee`]).
    Alpon,
    /// Another device with an asset fee from the account's price list.
    Other {
        /// The device's name, for the line's rule.
        name: String,
        /// Its asset fee.
        asset_fee: Cents,
    },
    /// No asset fee (a device without one, or a SIM on its own).
    NoAssetFee,
}

/// What a charge line is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ChargeItem {
    /// The Super SIM's monthly fee.
    SuperSim,
    /// The PRO SIM's service profile price or maintenance fee.
    ProSim,
    /// The device's asset fee.
    AssetFee,
}

impl fmt::Display for ChargeItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChargeItem::SuperSim => "Super SIM",
            ChargeItem::ProSim => "PRO SIM",
            ChargeItem::AssetFee => "asset fee",
        })
    }
}

/// One line of a preview: what, how much now, how much per month after, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeLine {
    /// What the line is for.
    pub item: ChargeItem,
    /// Charged by the change, now.
    pub now: Cents,
    /// Charged per month after the change.
    pub monthly_after: Cents,
    /// The rule behind the amounts, in words.
    pub rule: String,
}

/// What a status change costs: its lines and their totals.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargePreview {
    /// The status the asset is set to.
    pub target: TargetStatus,
    /// One line per charge item.
    pub lines: Vec<ChargeLine>,
    /// The sum charged now.
    pub now: Cents,
    /// The sum charged per month after.
    pub monthly_after: Cents,
}

impl fmt::Display for ChargePreview {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "set {}: {} now, {}/month after",
            self.target, self.now, self.monthly_after
        )?;
        for l in &self.lines {
            write!(
                f,
                "\n- {}: {} now, {}/month after ({})",
                l.item, l.now, l.monthly_after, l.rule
            )?;
        }
        Ok(())
    }
}

/// Previews setting the asset to `target` with Sixfab's published [`PRICES`].
pub fn preview(inputs: &ChargeInputs, target: TargetStatus) -> ChargePreview {
    PRICES.preview(inputs, target)
}

impl PriceTable {
    /// Previews setting the asset to `target` with this table's prices.
    pub fn preview(&self, inputs: &ChargeInputs, target: TargetStatus) -> ChargePreview {
        let mut lines = Vec::new();
        if let Some(sim) = &inputs.super_sim {
            lines.push(match target {
                TargetStatus::Active => self.super_sim_on(sim, inputs.other_active_super_sims),
                TargetStatus::Inactive => self.super_sim_off(),
            });
        }
        if let Some(sim) = &inputs.pro_sim {
            lines.push(match target {
                TargetStatus::Active => self.pro_sim_on(sim),
                TargetStatus::Inactive => self.pro_sim_off(sim, inputs.as_of),
            });
        }
        if let Some(line) = self.asset_fee(inputs, target) {
            lines.push(line);
        }
        ChargePreview {
            target,
            now: lines.iter().map(|l| l.now).sum(),
            monthly_after: lines.iter().map(|l| l.monthly_after).sum(),
            lines,
        }
    }

    /// The Super SIM's monthly price with `other_active` other active Super SIMs on the account.
    pub fn super_sim_price(&self, other_active: u32) -> Cents {
        if counted_active_super_sims(other_active) > self.super_sim_volume_threshold {
            self.super_sim_active_volume
        } else {
            self.super_sim_active
        }
    }

    /// The end of a never-activated PRO SIM's grace that began on `since`.
    pub fn grace_end(&self, since: NaiveDate) -> NaiveDate {
        since
            .checked_add_months(Months::new(self.pro_sim_grace_months))
            .unwrap_or(NaiveDate::MAX)
    }

    fn super_sim_on(&self, sim: &SuperSim, other_active: u32) -> ChargeLine {
        let price = self.super_sim_price(other_active);
        let counted = counted_active_super_sims(other_active);
        let threshold = self.super_sim_volume_threshold;
        let basis = if counted > threshold {
            format!(
                "Super SIM active: {price}/month, the price for more than {threshold} active \
                 Super SIMs (with this one: {counted})"
            )
        } else {
            format!(
                "Super SIM active: {price}/month (active Super SIMs with this one: {counted}, \
                 not more than {threshold})"
            )
        };
        let (now, when) = charged_on_activation(price, sim.charged_this_month);
        ChargeLine {
            item: ChargeItem::SuperSim,
            now,
            monthly_after: price,
            rule: format!("{basis}; {when}"),
        }
    }

    fn super_sim_off(&self) -> ChargeLine {
        ChargeLine {
            item: ChargeItem::SuperSim,
            now: Cents::ZERO,
            monthly_after: self.super_sim_inactive,
            rule: format!(
                "Super SIM inactive: {}/month; {NOT_REFUNDED}",
                self.super_sim_inactive
            ),
        }
    }

    fn pro_sim_on(&self, sim: &ProSim) -> ChargeLine {
        let (price, basis) = match sim.profile_price {
            Some(p) => (
                p,
                format!("PRO SIM active: its service profile's {p}/month"),
            ),
            None => (
                self.pro_sim_default_profile,
                format!(
                    "PRO SIM active: the default service profile (Europe + USA) {}/month",
                    self.pro_sim_default_profile
                ),
            ),
        };
        let (now, when) = charged_on_activation(price, sim.charged_this_month);
        let first = match sim.history {
            ProSimHistory::NeverActivated { .. } => {
                "; a first activation: the never-activated grace no longer applies after it"
            }
            ProSimHistory::ActivatedBefore => "",
        };
        ChargeLine {
            item: ChargeItem::ProSim,
            now,
            monthly_after: price,
            rule: format!("{basis}; {when}{first}"),
        }
    }

    fn pro_sim_off(&self, sim: &ProSim, as_of: NaiveDate) -> ChargeLine {
        let fee = self.pro_sim_inactive_maintenance;
        let months = self.pro_sim_grace_months;
        let (monthly_after, rule) = match sim.history {
            ProSimHistory::NeverActivated { since } => {
                let end = self.grace_end(since);
                if as_of < end {
                    (
                        Cents::ZERO,
                        format!(
                            "PRO SIM never activated, in its {months}-month grace until {end}: \
                             no charge; {fee}/month maintenance after that"
                        ),
                    )
                } else {
                    (
                        fee,
                        format!(
                            "PRO SIM never activated, its {months}-month grace ended on {end}: \
                             {fee}/month maintenance even while inactive"
                        ),
                    )
                }
            }
            ProSimHistory::ActivatedBefore => (
                fee,
                format!(
                    "PRO SIM inactive: {fee}/month maintenance, keeps connection priorities; \
                     {NOT_REFUNDED}"
                ),
            ),
        };
        ChargeLine {
            item: ChargeItem::ProSim,
            now: Cents::ZERO,
            monthly_after,
            rule,
        }
    }

    fn asset_fee(&self, inputs: &ChargeInputs, target: TargetStatus) -> Option<ChargeLine> {
        let (device, fee) = match &inputs.device {
            DeviceKind::Alpon => ("an ALPON device".to_owned(), self.alpon_asset_fee),
            DeviceKind::Other { name, asset_fee } => (format!("a {name}"), *asset_fee),
            DeviceKind::NoAssetFee => return None,
        };
        let both = inputs.super_sim.is_some() && inputs.pro_sim.is_some();
        let line = |now, monthly_after, rule| ChargeLine {
            item: ChargeItem::AssetFee,
            now,
            monthly_after,
            rule,
        };
        Some(match target {
            TargetStatus::Inactive => line(
                Cents::ZERO,
                Cents::ZERO,
                format!("no asset fee while the asset is inactive; {NOT_REFUNDED}"),
            ),
            TargetStatus::Active if !both => line(
                Cents::ZERO,
                Cents::ZERO,
                format!(
                    "no asset fee for {device}: it is charged only when both a Super SIM and a \
                     PRO SIM are activated"
                ),
            ),
            TargetStatus::Active => {
                let (now, when) = charged_on_activation(fee, inputs.asset_fee_charged_this_month);
                let (monthly, recurs) = if self.asset_fee_monthly {
                    (fee, "assumed to recur monthly while active")
                } else {
                    (Cents::ZERO, "assumed not to recur")
                };
                line(
                    now,
                    monthly,
                    format!(
                        "asset fee of {device}: {fee}, charged on activation with both SIMs; \
                         {when}; {recurs}"
                    ),
                )
            }
        })
    }
}

/// The words for "what was charged stays charged".
const NOT_REFUNDED: &str = "what was already charged this month is not refunded";

/// What an activation charges now: the price, unless it was already charged this month.
fn charged_on_activation(price: Cents, charged_this_month: bool) -> (Cents, &'static str) {
    if charged_this_month {
        (
            Cents::ZERO,
            "already charged this month, so nothing more now",
        )
    } else {
        (price, "charged now, as it was not yet charged this month")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const TODAY: (i32, u32, u32) = (2025, 3, 14);

    fn today() -> NaiveDate {
        day(TODAY.0, TODAY.1, TODAY.2)
    }

    fn super_sim(charged: bool) -> Option<SuperSim> {
        Some(SuperSim {
            charged_this_month: charged,
        })
    }

    fn pro_sim(price: Option<u64>, history: ProSimHistory, charged: bool) -> Option<ProSim> {
        Some(ProSim {
            profile_price: price.map(Cents),
            history,
            charged_this_month: charged,
        })
    }

    fn never_since(d: NaiveDate) -> ProSimHistory {
        ProSimHistory::NeverActivated { since: d }
    }

    /// One case: inputs, target, then each line as (item, now, monthly, words the rule must
    /// contain).
    struct Case {
        name: &'static str,
        inputs: ChargeInputs,
        target: TargetStatus,
        lines: Vec<(ChargeItem, u64, u64, &'static str)>,
    }

    fn inputs(f: impl FnOnce(&mut ChargeInputs)) -> ChargeInputs {
        let mut i = ChargeInputs::new(today());
        f(&mut i);
        i
    }

    #[test]
    fn every_price_rule() {
        use ChargeItem::*;
        use TargetStatus::*;
        let cases = vec![
            Case {
                name: "Super SIM: $2 with few active SIMs",
                inputs: inputs(|i| i.super_sim = super_sim(false)),
                target: Active,
                lines: vec![(SuperSim, 200, 200, "with this one: 1, not more than 10")],
            },
            Case {
                name: "Super SIM: 10 others + this one is more than 10: $1.60",
                inputs: inputs(|i| {
                    i.super_sim = super_sim(false);
                    i.other_active_super_sims = 10;
                }),
                target: Active,
                lines: vec![(
                    SuperSim,
                    160,
                    160,
                    "more than 10 active Super SIMs (with this one: 11)",
                )],
            },
            Case {
                name: "Super SIM: 9 others + this one is exactly 10: $2",
                inputs: inputs(|i| {
                    i.super_sim = super_sim(false);
                    i.other_active_super_sims = 9;
                }),
                target: Active,
                lines: vec![(SuperSim, 200, 200, "not more than 10")],
            },
            Case {
                name: "Super SIM already charged this month: nothing now",
                inputs: inputs(|i| i.super_sim = super_sim(true)),
                target: Active,
                lines: vec![(SuperSim, 0, 200, "already charged this month")],
            },
            Case {
                name: "Super SIM inactive: no charge, no refund",
                inputs: inputs(|i| i.super_sim = super_sim(true)),
                target: Inactive,
                lines: vec![(SuperSim, 0, 0, "not refunded")],
            },
            Case {
                name: "PRO SIM default profile: $2",
                inputs: inputs(|i| {
                    i.pro_sim = pro_sim(None, ProSimHistory::ActivatedBefore, false)
                }),
                target: Active,
                lines: vec![(ProSim, 200, 200, "default service profile (Europe + USA)")],
            },
            Case {
                name: "PRO SIM with its profile's price",
                inputs: inputs(|i| {
                    i.pro_sim = pro_sim(Some(450), ProSimHistory::ActivatedBefore, false)
                }),
                target: Active,
                lines: vec![(ProSim, 450, 450, "service profile's $4.50/month")],
            },
            Case {
                name: "PRO SIM already charged this month",
                inputs: inputs(|i| {
                    i.pro_sim = pro_sim(Some(450), ProSimHistory::ActivatedBefore, true)
                }),
                target: Active,
                lines: vec![(ProSim, 0, 450, "already charged")],
            },
            Case {
                name: "PRO SIM first activation within its grace is charged",
                inputs: inputs(|i| i.pro_sim = pro_sim(None, never_since(day(2025, 1, 1)), false)),
                target: Active,
                lines: vec![(ProSim, 200, 200, "first activation")],
            },
            Case {
                name: "PRO SIM inactive: $0.10 maintenance",
                inputs: inputs(|i| i.pro_sim = pro_sim(None, ProSimHistory::ActivatedBefore, true)),
                target: Inactive,
                lines: vec![(ProSim, 0, 10, "$0.10/month maintenance")],
            },
            Case {
                name: "PRO SIM never activated, in grace: nothing",
                inputs: inputs(|i| i.pro_sim = pro_sim(None, never_since(day(2024, 9, 15)), false)),
                target: Inactive,
                lines: vec![(ProSim, 0, 0, "grace until 2025-03-15")],
            },
            Case {
                name: "PRO SIM never activated, grace ends today: maintenance",
                inputs: inputs(|i| i.pro_sim = pro_sim(None, never_since(day(2024, 9, 14)), false)),
                target: Inactive,
                lines: vec![(ProSim, 0, 10, "grace ended on 2025-03-14")],
            },
            Case {
                name: "ALPON with both SIMs: $6 asset fee on activation",
                inputs: inputs(|i| {
                    i.super_sim = super_sim(false);
                    i.pro_sim = pro_sim(None, ProSimHistory::ActivatedBefore, false);
                    i.device = DeviceKind::Alpon;
                }),
                target: Active,
                lines: vec![
                    (SuperSim, 200, 200, "charged now"),
                    (ProSim, 200, 200, "charged now"),
                    (AssetFee, 600, 600, "ALPON device: $6.00"),
                ],
            },
            Case {
                name: "asset fee already charged this month",
                inputs: inputs(|i| {
                    i.super_sim = super_sim(true);
                    i.pro_sim = pro_sim(None, ProSimHistory::ActivatedBefore, true);
                    i.device = DeviceKind::Alpon;
                    i.asset_fee_charged_this_month = true;
                }),
                target: Active,
                lines: vec![
                    (SuperSim, 0, 200, "already charged"),
                    (ProSim, 0, 200, "already charged"),
                    (AssetFee, 0, 600, "already charged"),
                ],
            },
            Case {
                name: "ALPON with one SIM: no asset fee",
                inputs: inputs(|i| {
                    i.super_sim = super_sim(false);
                    i.device = DeviceKind::Alpon;
                }),
                target: Active,
                lines: vec![
                    (SuperSim, 200, 200, "charged now"),
                    (AssetFee, 0, 0, "only when both"),
                ],
            },
            Case {
                name: "another device's asset fee",
                inputs: inputs(|i| {
                    i.super_sim = super_sim(false);
                    i.pro_sim = pro_sim(None, ProSimHistory::ActivatedBefore, false);
                    i.device = DeviceKind::Other {
                        name: "gateway".into(),
                        asset_fee: Cents(350),
                    };
                }),
                target: Active,
                lines: vec![
                    (SuperSim, 200, 200, ""),
                    (ProSim, 200, 200, ""),
                    (AssetFee, 350, 350, "a gateway: $3.50"),
                ],
            },
            Case {
                name: "ALPON deactivated: maintenance only, nothing refunded",
                inputs: inputs(|i| {
                    i.super_sim = super_sim(true);
                    i.pro_sim = pro_sim(None, ProSimHistory::ActivatedBefore, true);
                    i.device = DeviceKind::Alpon;
                }),
                target: Inactive,
                lines: vec![
                    (SuperSim, 0, 0, "not refunded"),
                    (ProSim, 0, 10, "keeps connection priorities"),
                    (AssetFee, 0, 0, "not refunded"),
                ],
            },
            Case {
                name: "no SIM: nothing",
                inputs: inputs(|_| {}),
                target: Active,
                lines: vec![],
            },
        ];
        for case in cases {
            let p = preview(&case.inputs, case.target);
            assert_eq!(p.target, case.target, "{}", case.name);
            assert_eq!(p.lines.len(), case.lines.len(), "{}: {p}", case.name);
            for (line, (item, now, monthly, words)) in p.lines.iter().zip(&case.lines) {
                assert_eq!(line.item, *item, "{}", case.name);
                assert_eq!(line.now, Cents(*now), "{}: {}", case.name, line.rule);
                assert_eq!(
                    line.monthly_after,
                    Cents(*monthly),
                    "{}: {}",
                    case.name,
                    line.rule
                );
                assert!(line.rule.contains(words), "{}: {:?}", case.name, line.rule);
            }
            let now: u64 = case.lines.iter().map(|l| l.1).sum();
            let monthly: u64 = case.lines.iter().map(|l| l.2).sum();
            assert_eq!(
                (p.now, p.monthly_after),
                (Cents(now), Cents(monthly)),
                "{}",
                case.name
            );
        }
    }

    #[test]
    fn the_volume_count_includes_the_activated_sim() {
        assert_eq!(counted_active_super_sims(0), 1);
        assert_eq!(counted_active_super_sims(u32::MAX), u32::MAX);
        assert_eq!(PRICES.super_sim_price(9), Cents(200));
        assert_eq!(PRICES.super_sim_price(10), Cents(160));
    }

    #[test]
    fn the_published_table() {
        assert_eq!(PRICES.super_sim_active.to_string(), "$2.00");
        assert_eq!(PRICES.super_sim_active_volume.to_string(), "$1.60");
        assert_eq!(PRICES.super_sim_volume_threshold, 10);
        assert_eq!(PRICES.super_sim_inactive, Cents::ZERO);
        assert_eq!(PRICES.pro_sim_default_profile.to_string(), "$2.00");
        assert_eq!(PRICES.pro_sim_inactive_maintenance.to_string(), "$0.10");
        assert_eq!(PRICES.pro_sim_grace_months, 6);
        assert_eq!(PRICES.alpon_asset_fee.to_string(), "$6.00");
        const { assert!(PRICES.asset_fee_monthly) };
        let once = PriceTable {
            asset_fee_monthly: false,
            ..PRICES
        };
        let mut i = ChargeInputs::new(today());
        i.super_sim = super_sim(false);
        i.pro_sim = pro_sim(None, ProSimHistory::ActivatedBefore, false);
        i.device = DeviceKind::Alpon;
        let p = once.preview(&i, TargetStatus::Active);
        assert_eq!((p.now, p.monthly_after), (Cents(1000), Cents(400)));
    }

    #[test]
    fn grace_ends_six_calendar_months_later() {
        assert_eq!(PRICES.grace_end(day(2024, 8, 31)), day(2025, 2, 28));
        assert_eq!(PRICES.grace_end(day(2024, 1, 10)), day(2024, 7, 10));
        assert_eq!(PRICES.grace_end(NaiveDate::MAX), NaiveDate::MAX);
    }

    #[test]
    fn money_display_and_sums() {
        let table = [
            (0, "$0.00"),
            (10, "$0.10"),
            (160, "$1.60"),
            (600, "$6.00"),
            (123456, "$1234.56"),
        ];
        for (c, s) in table {
            assert_eq!(Cents(c).to_string(), s);
        }
        assert_eq!(
            [Cents(160), Cents(40)].into_iter().sum::<Cents>(),
            Cents(200)
        );
        assert_eq!(Cents(u64::MAX) + Cents(1), Cents(u64::MAX));
        let mut c = Cents(1);
        c += Cents(2);
        assert_eq!(c, Cents(3));
    }

    #[test]
    fn display_lists_every_line() {
        let mut i = ChargeInputs::new(today());
        i.super_sim = super_sim(false);
        let text = preview(&i, TargetStatus::Active).to_string();
        assert!(
            text.starts_with("set active: $2.00 now, $2.00/month after\n- Super SIM: $2.00 now"),
            "{text}"
        );
    }

    #[test]
    fn inputs_from_an_asset() {
        use serde_json::json;
        let asset = |v| Asset::from_json(v).unwrap();
        let alpon = asset(json!({
            "status": "inactive",
            "supersim": {"status": "inactive", "last_charged_at": "2025-03-01T10:00:00Z"},
            "prosim": {"status": "inactive", "first_activated_at": null, "added_at": "2025-01-10",
                       "service_profile": {"name": "Europe + USA", "monthly_price": "2.00"}},
            "device": {"type": "ALPON X4", "asset_fee_last_charged_at": "2025-02-27"}
        }));
        let i = ChargeInputs::from_asset(&alpon, today(), 12).unwrap();
        assert_eq!(i.super_sim, super_sim(true));
        assert_eq!(i.other_active_super_sims, 12);
        assert_eq!(
            i.pro_sim,
            pro_sim(Some(200), never_since(day(2025, 1, 10)), false)
        );
        assert_eq!(i.device, DeviceKind::Alpon);
        assert!(!i.asset_fee_charged_this_month);
        assert_eq!(i.as_of, today());

        // An active Super SIM is one of the account's active ones already.
        let active = asset(json!({"status": "active", "supersim": {}}));
        let i = ChargeInputs::from_asset(&active, today(), 12).unwrap();
        assert_eq!(i.other_active_super_sims, 11);
        assert_eq!(
            ChargeInputs::from_asset(&active, today(), 0)
                .unwrap()
                .other_active_super_sims,
            0
        );

        // A profile named but not priced is the default only when it is the default.
        let named = |name: &str| {
            asset(json!({"prosim": {"service_profile": name, "first_activated_at": "2024-05-01"}}))
        };
        let i = ChargeInputs::from_asset(&named("europe + usa"), today(), 0).unwrap();
        assert_eq!(
            i.pro_sim,
            pro_sim(None, ProSimHistory::ActivatedBefore, false)
        );
        assert_eq!(ChargeInputs::from_asset(&named("Asia"), today(), 0), None);

        // Another device with its fee; a device without one; nothing reported.
        let other = asset(json!({"device": {"type": "gateway", "asset_fee": "3.50"}}));
        assert_eq!(
            ChargeInputs::from_asset(&other, today(), 0).unwrap().device,
            DeviceKind::Other {
                name: "gateway".into(),
                asset_fee: Cents(350)
            }
        );
        let plain = asset(json!({"device": {"type": "gateway"}, "prosim": {}}));
        let i = ChargeInputs::from_asset(&plain, today(), 0).unwrap();
        assert_eq!(i.device, DeviceKind::NoAssetFee);
        assert_eq!(
            i.pro_sim,
            pro_sim(None, ProSimHistory::ActivatedBefore, false)
        );
        assert_eq!(
            ChargeInputs::from_asset(&asset(json!({})), today(), 3),
            Some(ChargeInputs::new(today()))
        );
    }

    proptest! {
        #[test]
        fn no_input_panics_and_totals_add_up(
            others in any::<u32>(),
            price in proptest::option::of(0u64..1_000_000),
            since_days in -100_000i64..100_000,
            flags in any::<(bool, bool, bool, bool, bool, bool)>(),
        ) {
            let since = today() + chrono::Duration::days(since_days);
            let mut i = ChargeInputs::new(today());
            i.other_active_super_sims = others;
            i.super_sim = flags.0.then_some(SuperSim { charged_this_month: flags.1 });
            i.pro_sim = flags.2.then_some(ProSim {
                profile_price: price.map(Cents),
                history: if flags.3 { ProSimHistory::ActivatedBefore } else { never_since(since) },
                charged_this_month: flags.4,
            });
            i.device = if flags.5 { DeviceKind::Alpon } else { DeviceKind::NoAssetFee };
            for target in [TargetStatus::Active, TargetStatus::Inactive] {
                let p = preview(&i, target);
                prop_assert_eq!(p.now, p.lines.iter().map(|l| l.now).sum::<Cents>());
                prop_assert_eq!(p.monthly_after, p.lines.iter().map(|l| l.monthly_after).sum::<Cents>());
                if target == TargetStatus::Inactive {
                    prop_assert_eq!(p.now, Cents::ZERO);
                }
            }
        }
    }
}
