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
//! or inactive) to the common ones, without I/O; [`ChargePreview::estimate_charge`](simcore::ChargePreview::estimate_charge) prices a change
//! with Sixfab's published prices or your price book over them (see [`crate::pricing`]), which
//! the bulk updater's dry run adds up.

use std::sync::LazyLock;

use futures_util::TryStreamExt as _;
use simcore::charge::{Estimate, Pricing};
use simcore::paging::PagePosition;
use simcore::{
    Applied, CallOptions, DisplayName, Lifecycle, ListOptions, SimChange, SimProvider, SimSnapshot,
    SimState, SnapshotPages, Updated, ValidationError,
};

use crate::client::Client;
use crate::models::{Asset, AssetId, AssetStatus, IntoAssetId, list_keys};
pub use crate::models::{LIFECYCLE, TRANSITIONS};
use crate::pricing;
use crate::requests::{SettableStatus, UpdateAssetRequest};

/// [`LIFECYCLE`] in canonical states, mapped once (every change validated judges by it).
static CANONICAL_LIFECYCLE: LazyLock<Lifecycle<SimState>> =
    LazyLock::new(|| LIFECYCLE.map(canonical));

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
pub fn target_status(state: &SimState) -> Result<SettableStatus, ValidationError> {
    match state {
        SimState::Active => Ok(SettableStatus::Active),
        SimState::Inactive => Ok(SettableStatus::Inactive),
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

/// Checks a change as [`SimProvider::validate`] documents, and builds the update it sends (the
/// status left out when the SIM is known to have it already): one pass for `validate` and
/// `apply`, so a dry run refuses exactly what a real run would.
fn prepare(id: &str, change: &SimChange) -> simcore::Result<UpdateAssetRequest> {
    if change.is_empty() {
        return Err(ValidationError::empty_update().into());
    }
    let mut request = UpdateAssetRequest::new(AssetId::parse(id)?);
    if let Some(to) = &change.state {
        let status = target_status(to)?;
        if let Some(from) = &change.known_state {
            CANONICAL_LIFECYCLE.judge(from, to).into_result()?;
        }
        request.status = change.state_to_send().map(|_| status);
    }
    if let Some(name) = &change.display_name {
        // Sixfab's own rule for asset names: 3 to 64 characters.
        request.name = Some(DisplayName::try_from(name)?);
    }
    Ok(request)
}

#[simcore::async_trait]
impl SimProvider for Client {
    fn name(&self) -> &'static str {
        crate::PROVIDER
    }

    fn lifecycle(&self) -> Lifecycle<SimState> {
        LazyLock::force(&CANONICAL_LIFECYCLE).shared()
    }

    async fn fetch_with(&self, id: &str, options: &CallOptions) -> simcore::Result<SimSnapshot> {
        let asset = self.get_asset_with(id, options.started()).await?;
        Ok(snapshot(id, &asset))
    }

    /// Every asset, a page of `GET /assets` at a time (its shape and paging are **unconfirmed**:
    /// see [`list_keys`]), [`list_keys::MAX_PAGE_SIZE`] assets a page unless the options say
    /// fewer. Each asset's snapshot is named by [`Asset::address`] (its UUID when it has one),
    /// with every other id it answers to as aliases. Each page is read with `options.call`; a
    /// resume position that is not a page number, a bad page size and an option no call can
    /// honour are refused before anything is sent.
    fn list(&self, options: &ListOptions) -> SnapshotPages<'_> {
        let size = options.page_size.unwrap_or(list_keys::MAX_PAGE_SIZE);
        let start = options
            .resume
            .clone()
            .unwrap_or(PagePosition::Number(list_keys::FIRST_PAGE));
        if let Err(e) = start.number("resume") {
            return SnapshotPages::new(futures_util::stream::iter([Err(e)]));
        }
        let pages = self
            .list_assets()
            .page_size(size)
            .snapshot_only()
            .options(options.call)
            .resume_from(start.clone())
            .pages();
        SnapshotPages::resumable(
            Some(start),
            pages.map_ok(|page| {
                let sims = page
                    .items
                    .iter()
                    .filter_map(|asset| asset.address().map(|id| snapshot(&id, asset)))
                    .collect();
                (sims, page.next)
            }),
        )
    }

    /// Checks a change without sending anything, in this order: it sets something, the id is an
    /// asset id ([`AssetId::parse`]), the target is one Sixfab can set ([`target_status`]:
    /// active or inactive), and when the current state is known, the lifecycle allows the move.
    fn validate(&self, id: &str, change: &SimChange) -> simcore::Result<()> {
        prepare(id, change).map(drop)
    }

    /// Sets the status and name. The answer's asset becomes [`Applied::Done`] when it reports a
    /// status. Sixfab does not document its answer, so only one that shows the change (the asset
    /// with its status) counts as done: any other success answer (no body, a confirmation with
    /// a `message`, an asset without a status) is an
    /// [`Error::Decode`](simcore::Error::Decode), which does not say whether the change was
    /// applied ([`Sent::Maybe`](simcore::error::Sent::Maybe)) and which a bulk run settles by
    /// reading the asset back. The native [`Client::send`] still answers them as
    /// [`Updated::Done`].
    async fn apply_with(
        &self,
        id: &str,
        change: &SimChange,
        options: &CallOptions,
    ) -> simcore::Result<Applied> {
        // Options no call can honour are refused before anything else.
        options.check()?;
        let options = options.started();
        let request = prepare(id, change)?;
        if change.is_noop() {
            return Ok(Applied::Unchanged);
        }
        let (updated, response) = self.send_answer(&request, options).await?;
        let what = match updated {
            Updated::Unchanged => return Ok(Applied::Unchanged),
            Updated::Done(answer) | Updated::Pending(answer) => match answer {
                Some(asset) if asset.status.is_some() => {
                    return Ok(Applied::Done(Some(snapshot(id, &asset))));
                }
                Some(_) => "an asset without its status",
                None if response.is_empty() => "no body",
                None => "a confirmation without the asset",
            },
        };
        Err(response.decode_error(format!(
            "an update answered with {what} does not show the change"
        )))
    }

    fn charges(&self) -> Option<&dyn simcore::ChargePreview> {
        Some(self)
    }
}

/// Charge previews by this provider's documented billing rules and published prices.
#[simcore::async_trait]
impl simcore::ChargePreview for Client {
    /// Prices the change ([`crate::pricing`]): checks it ([`validate`](SimProvider::validate)),
    /// fetches the asset (one `GET`, nothing changed) and prices it from its status to the
    /// change's, with the price book in `pricing` over Sixfab's published prices
    /// ([`pricing::published`]), as of `pricing.as_of`. A rename prices the asset as it stays.
    ///
    /// An asset whose answer carries no SIM this SDK recognises is "cannot price"
    /// ([`UnpricedReason::UnrecognisedShape`](simcore::charge::UnpricedReason::UnrecognisedShape)),
    /// never $0.
    async fn estimate_charge(
        &self,
        id: &str,
        change: &SimChange,
        pricing: &Pricing,
    ) -> simcore::Result<Estimate> {
        self.validate(id, change)?;
        let book = pricing.book_for(crate::PROVIDER)?;
        let target = change.state.as_ref().map(target_status).transpose()?;
        let asset = self.get_asset(id).await?;
        Ok(pricing::estimate_asset(&asset, target, book, pricing.as_of))
    }
}

impl Client {
    /// Fetches an asset and previews what setting it to `target` costs, with the price book in
    /// `pricing` over Sixfab's published prices, as of `pricing.as_of`. Nothing is changed.
    ///
    /// ```no_run
    /// use simcore::charge::{PriceBook, Pricing};
    /// use sixfab_client::{Client, SettableStatus};
    /// # async fn run() -> simcore::Result<()> {
    /// let client = Client::from_env()?;
    /// // Published prices only: the ALPON's fee is a range, the volume tier too.
    /// println!("{}", client.charge_preview("SN-1", SettableStatus::Active, &Pricing::today()).await?);
    /// // Your contract settles them.
    /// let pricing = Pricing::today().with_book(PriceBook::load("prices/sixfab.json")?);
    /// println!("{}", client.charge_preview("SN-1", SettableStatus::Active, &pricing).await?);
    /// # Ok(()) }
    /// ```
    pub async fn charge_preview(
        &self,
        asset_id: impl IntoAssetId,
        target: SettableStatus,
        pricing: &Pricing,
    ) -> simcore::Result<Estimate> {
        let book = pricing.book_for(crate::PROVIDER)?;
        let asset = self.get_asset(asset_id).await?;
        Ok(pricing::estimate_asset(
            &asset,
            Some(target),
            book,
            pricing.as_of,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use testkit::assert_lifecycle_exact;

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
                SimState::Active => Some(SettableStatus::Active),
                SimState::Inactive => Some(SettableStatus::Inactive),
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
        use simcore::Error;
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
        // Setting what is already there is not refused (and sends nothing).
        let again = ok.clone().known_state(SimState::Active);
        assert!(c.validate("SN1", &again).is_ok());
        assert!(again.is_noop());
        let short = SimChange::new().display_name(simcore::SimName::parse("P7").unwrap());
        assert_eq!(field(c.validate("SN1", &short)), "display_name");
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
