//! The Sixfab asset lifecycle, its canonical view, and [`SimProvider`] for [`Client`].
//!
//! Through the common interface an asset is one "SIM": the snapshot's id is the asset id, its
//! state the asset's status (the master switch of every SIM on the asset), its display name the
//! asset's name. Only [`SimState::Active`] and [`SimState::Inactive`] can be set; any other target
//! is refused before sending.
//!
//! A snapshot's aliases are the other ids the asset answers to (serial number, UUID, `id`, each
//! SIM's SID and ICCID), so a plan can find a listed asset by any of them. [`SimProvider::list`]
//! reads `GET /assets` a page at a time, in the **unconfirmed** reading of
//! [`list_keys`].
//!
//! [`SimProvider::validate`] adds Sixfab's own checks (the id is an asset id, the target is active
//! or inactive) to the common ones, without I/O; [`SimProvider::estimate_charge`] prices a change
//! with Sixfab's published prices (see [`charge`]), which the bulk updater's dry run sums.

use futures_util::TryStreamExt as _;
use simcore::{
    Applied, Charge, Lifecycle, ListOptions, SimChange, SimProvider, SimSnapshot, SimState,
    SnapshotPages, ValidationError,
};

use crate::client::Client;
use crate::models::{Asset, AssetId, AssetStatus, Updated, list_keys};
use crate::pricing::{self, Cents, ChargeInputs};
use crate::requests::{TargetStatus, UpdateAsset};

/// An asset goes from active to inactive and back; nothing else is documented.
pub static TRANSITIONS: &[(AssetStatus, AssetStatus)] = &[
    (AssetStatus::Active, AssetStatus::Inactive),
    (AssetStatus::Inactive, AssetStatus::Active),
];

/// The asset lifecycle over Sixfab's own statuses.
pub static LIFECYCLE: Lifecycle<AssetStatus> = Lifecycle::table(crate::PROVIDER, TRANSITIONS);

/// Sixfab's status in canonical terms.
pub fn canonical(status: &AssetStatus) -> SimState {
    match status {
        AssetStatus::Active => SimState::Active,
        AssetStatus::Inactive => SimState::Inactive,
        AssetStatus::Unknown(s) => SimState::Unknown(s.clone()),
    }
}

/// The status to send for a canonical target: `Active` and `Inactive` only; anything else is an
/// [`Error::Invalid`](simcore::Error::Invalid) naming the `state` field.
pub fn target_status(state: &SimState) -> Result<TargetStatus, ValidationError> {
    match state {
        SimState::Active => Ok(TargetStatus::Active),
        SimState::Inactive => Ok(TargetStatus::Inactive),
        other => Err(ValidationError::new(
            "state",
            "a Sixfab asset can only be set to active or inactive",
            other.as_str().to_owned(),
        )),
    }
}

/// The word a snapshot's state carries when the answer has no status.
const STATUS_NOT_REPORTED: &str = "not reported";

/// An asset as a canonical snapshot under the id it was asked for. The ICCID is the asset's own
/// `iccid`, or else the first SIM's ([`Asset::sims`]). The aliases are the other ids the asset
/// answers to ([`Asset::ids`]: its serial number, UUID, `id`, each SIM's SID and ICCID).
pub fn snapshot(id: &str, asset: &Asset) -> SimSnapshot {
    let state = asset
        .status
        .as_ref()
        .map(canonical)
        .unwrap_or_else(|| SimState::Unknown(STATUS_NOT_REPORTED.to_owned()));
    let mut snap = SimSnapshot::new(crate::PROVIDER, id, state);
    if let Some(status) = &asset.status {
        snap = snap.with_native_status(status.as_str());
    }
    if let Some(name) = &asset.name {
        snap = snap.with_display_name(name.as_str());
    }
    let iccid = asset
        .iccid
        .clone()
        .or_else(|| asset.sims().into_iter().find_map(|sim| sim.iccid));
    if let Some(iccid) = iccid {
        snap = snap.with_iccid(iccid);
    }
    for alias in asset.ids() {
        snap = snap.with_alias(alias);
    }
    snap
}

#[simcore::async_trait]
impl SimProvider for Client {
    fn name(&self) -> &'static str {
        crate::PROVIDER
    }

    fn lifecycle(&self) -> Lifecycle<SimState> {
        LIFECYCLE.map(canonical)
    }

    async fn fetch(&self, id: &str) -> simcore::Result<SimSnapshot> {
        let asset = self.get_asset(id).await?;
        Ok(snapshot(id, &asset))
    }

    /// Every asset, a page of `GET /assets` at a time (its shape and paging are **unconfirmed**:
    /// see [`list_keys`]), [`list_keys::MAX_PAGE_SIZE`] assets a page unless the options say
    /// fewer. Each asset's snapshot is named by [`Asset::address`] (its UUID when it has one),
    /// with every other id it answers to as aliases.
    fn list(&self, options: &ListOptions) -> SnapshotPages<'_> {
        let size = options.page_size.unwrap_or(list_keys::MAX_PAGE_SIZE);
        let pages = self.list_assets().page_size(size).snapshot_only().pages();
        Box::pin(pages.map_ok(|page| {
            page.assets
                .iter()
                .filter_map(|asset| asset.address().map(|id| snapshot(&id, asset)))
                .collect()
        }))
    }

    /// Checks a change without sending anything, in this order: it sets something, the id is an
    /// asset id ([`AssetId::parse`]), the target is one Sixfab can set ([`target_status`]:
    /// active or inactive), and when the current state is known, the lifecycle allows the move.
    fn validate(&self, id: &str, change: &SimChange) -> simcore::Result<()> {
        if change.is_empty() {
            return Err(ValidationError::empty_update().into());
        }
        AssetId::parse(id)?;
        if let Some(to) = &change.state {
            target_status(to)?;
            if let Some(from) = &change.known_state {
                self.lifecycle().check(from, to)?;
            }
        }
        Ok(())
    }

    /// Sets the status and name. The answer's asset becomes [`Applied::Done`] when it reports a
    /// status; an answer without one (or without a body) is [`Applied::DoneWithoutBody`].
    async fn apply(&self, id: &str, change: &SimChange) -> simcore::Result<Applied> {
        self.validate(id, change)?;
        let mut request = UpdateAsset::new(AssetId::parse(id)?);
        request.status = change.state.as_ref().map(target_status).transpose()?;
        request.name = change.display_name.clone();
        Ok(match self.send_update(&request).await? {
            Updated::Asset(asset) if asset.status.is_some() => Applied::Done(snapshot(id, &asset)),
            Updated::Asset(_) | Updated::Other(_) | Updated::NoBody => Applied::DoneWithoutBody,
        })
    }

    /// Prices the change with Sixfab's published prices ([`crate::pricing`]): checks it
    /// ([`validate`](SimProvider::validate)), fetches the asset (one `GET`, nothing changed) and
    /// previews it on today's date with the account's active Super SIMs
    /// ([`ClientBuilder::active_super_sims`](crate::ClientBuilder::active_super_sims)).
    ///
    /// See [`charge`] for the amounts and lines; each line starts with the asset id as given
    /// (`"SN-ALPON-0042: Super SIM: …"`), so the lines of many assets summed by a dry run stay
    /// apart. `None` when the asset cannot be priced (see
    /// [`ChargeInputs::from_asset`](crate::pricing::ChargeInputs::from_asset)) or reports no
    /// status while the change sets none.
    async fn estimate_charge(
        &self,
        id: &str,
        change: &SimChange,
    ) -> simcore::Result<Option<Charge>> {
        self.validate(id, change)?;
        let asset = self.get_asset(id).await?;
        let Some(inputs) = self.charge_inputs(&asset) else {
            return Ok(None);
        };
        let target = change.state.as_ref().map(target_status).transpose()?;
        Ok(charge(&inputs, asset.status.as_ref(), target).map(|mut c| {
            for line in &mut c.lines {
                *line = format!("{id}: {line}");
            }
            c
        }))
    }
}

/// What a change costs as a [`Charge`], given the asset's inputs, its current status and the
/// status to set (`None`: the change leaves the status alone).
///
/// - A status change: the preview's totals, one line per item:
///   `"Super SIM: $2.00 now, $2.00/month after (rule)"`.
/// - No status change (a rename, or the status the asset already has): nothing now, the monthly
///   cost at the current status, a first line `"status stays active: nothing is charged now"`
///   and one line per item: `"Super SIM: $2.00/month"`. `None` when the current status is
///   unknown.
pub fn charge(
    inputs: &ChargeInputs,
    current: Option<&AssetStatus>,
    target: Option<TargetStatus>,
) -> Option<Charge> {
    let current = match current {
        Some(AssetStatus::Active) => Some(TargetStatus::Active),
        Some(AssetStatus::Inactive) => Some(TargetStatus::Inactive),
        _ => None,
    };
    let cents = |c: Cents| i64::try_from(c.get()).unwrap_or(i64::MAX);
    match target {
        Some(target) if Some(target) != current => {
            let p = pricing::preview(inputs, target);
            let lines = p
                .lines
                .iter()
                .map(|l| {
                    format!(
                        "{}: {} now, {}/month after ({})",
                        l.item, l.now, l.monthly_after, l.rule
                    )
                })
                .collect();
            Some(Charge::new(cents(p.now), cents(p.monthly_after), lines))
        }
        _ => {
            let stays = current?;
            let p = pricing::preview(inputs, stays);
            let mut lines = vec![format!("status stays {stays}: nothing is charged now")];
            lines.extend(
                p.lines
                    .iter()
                    .map(|l| format!("{}: {}/month", l.item, l.monthly_after)),
            );
            Some(Charge::new(0, cents(p.monthly_after), lines))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simcore::state::assert_lifecycle_exact;

    #[test]
    fn every_documented_pair_and_nothing_else() {
        use AssetStatus::*;
        let all = [Active, Inactive, Unknown("suspended".into())];
        assert_lifecycle_exact(&LIFECYCLE, &all, &[(Active, Inactive), (Inactive, Active)]);
        assert_eq!(canonical(&Inactive), SimState::Inactive);
    }

    #[test]
    fn canonical_lifecycle_and_targets() {
        let all = [
            SimState::New,
            SimState::Ready,
            SimState::Active,
            SimState::Inactive,
            SimState::Retired,
            SimState::Deleted,
            SimState::Pending,
        ];
        let canon = LIFECYCLE.map(canonical);
        assert_lifecycle_exact(
            &canon,
            &all,
            &[
                (SimState::Active, SimState::Inactive),
                (SimState::Inactive, SimState::Active),
            ],
        );
        for s in &all {
            let expected = match s {
                SimState::Active => Some(TargetStatus::Active),
                SimState::Inactive => Some(TargetStatus::Inactive),
                _ => None,
            };
            assert_eq!(target_status(s).ok(), expected, "{s}");
        }
        let e = target_status(&SimState::Deleted).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid state: a Sixfab asset can only be set to active or inactive (found deleted)"
        );
    }

    #[test]
    fn validate_refuses_without_io() {
        use simcore::{DisplayName, Error};
        let c = Client::new("k").unwrap();
        let ok = SimChange::new().state(SimState::Active);
        assert!(c.validate("SN1", &ok).is_ok());
        assert!(
            c.validate("SN1", &ok.clone().known_state(SimState::Inactive))
                .is_ok()
        );
        let rename = SimChange::new().display_name(DisplayName::parse("pump 7").unwrap());
        assert!(c.validate("SN1", &rename).is_ok());
        let field = |r: simcore::Result<()>| match r.unwrap_err() {
            Error::Invalid(v) => v.field().to_owned(),
            Error::Transition(t) => format!("{} -> {}", t.from, t.to),
            other => panic!("{other:?}"),
        };
        assert_eq!(field(c.validate("SN1", &SimChange::new())), "update");
        assert_eq!(field(c.validate("..", &ok)), "asset_id");
        assert_eq!(field(c.validate("", &ok)), "asset_id");
        let retire = SimChange::new()
            .state(SimState::Retired)
            .known_state(SimState::Active);
        assert_eq!(field(c.validate("SN1", &retire)), "state");
        let again = ok.clone().known_state(SimState::Active);
        assert_eq!(field(c.validate("SN1", &again)), "active -> active");
    }

    #[test]
    fn charges_of_a_change() {
        use crate::pricing::{DeviceKind, ProSim, ProSimHistory, SuperSim};
        let today = chrono::NaiveDate::from_ymd_opt(2025, 3, 14).unwrap();
        let mut inputs = ChargeInputs::new(today);
        inputs.super_sim = Some(SuperSim::default());
        inputs.pro_sim = Some(ProSim::default_profile(ProSimHistory::ActivatedBefore));
        inputs.device = DeviceKind::Alpon;
        let on = charge(
            &inputs,
            Some(&AssetStatus::Inactive),
            Some(TargetStatus::Active),
        )
        .unwrap();
        assert_eq!((on.now_cents, on.monthly_cents), (1000, 1000));
        assert_eq!(on.lines.len(), 3);
        assert!(
            on.lines[0].starts_with("Super SIM: $2.00 now, $2.00/month after (Super SIM active"),
            "{:?}",
            on.lines
        );
        assert!(on.lines[2].starts_with("asset fee: $6.00 now, $6.00/month after"));

        let off = charge(
            &inputs,
            Some(&AssetStatus::Active),
            Some(TargetStatus::Inactive),
        )
        .unwrap();
        assert_eq!((off.now_cents, off.monthly_cents), (0, 10));

        for target in [None, Some(TargetStatus::Active)] {
            let stays = charge(&inputs, Some(&AssetStatus::Active), target).unwrap();
            assert_eq!((stays.now_cents, stays.monthly_cents), (0, 1000));
            assert_eq!(
                stays.lines,
                [
                    "status stays active: nothing is charged now",
                    "Super SIM: $2.00/month",
                    "PRO SIM: $2.00/month",
                    "asset fee: $6.00/month"
                ]
            );
        }
        let stays = charge(&inputs, Some(&AssetStatus::Inactive), None).unwrap();
        assert_eq!((stays.now_cents, stays.monthly_cents), (0, 10));
        assert_eq!(charge(&inputs, None, None), None);
        let unknown = AssetStatus::Unknown("hibernating".into());
        assert_eq!(charge(&inputs, Some(&unknown), None), None);
        let from_unknown = charge(&inputs, Some(&unknown), Some(TargetStatus::Active)).unwrap();
        assert_eq!(from_unknown.now_cents, 1000);
    }

    #[test]
    fn snapshots_map_what_is_known() {
        let asset = Asset {
            name: Some("pump 7".into()),
            status: Some(AssetStatus::Inactive),
            iccid: Some("89882806660004909182".into()),
            ..Asset::default()
        };
        let s = snapshot("SN1", &asset);
        assert_eq!(
            s,
            SimSnapshot::new("sixfab", "SN1", SimState::Inactive)
                .with_native_status("inactive")
                .with_display_name("pump 7")
                .with_iccid("89882806660004909182")
                .with_alias("89882806660004909182")
        );
        let s = snapshot("SN1", &Asset::default());
        assert_eq!(s.state, SimState::Unknown("not reported".into()));
        assert_eq!(s.native_status, None);
    }
}
