//! The Sixfab asset lifecycle, its canonical view, and [`SimProvider`] for [`Client`].
//!
//! Through the common interface an asset is one "SIM": the snapshot's id is the asset id, its
//! state the asset's status (the master switch of every SIM on the asset), its display name the
//! asset's name. Only [`SimState::Active`] and [`SimState::Inactive`] can be set; any other target
//! is refused before sending.

use simcore::{Applied, Lifecycle, SimChange, SimProvider, SimSnapshot, SimState, ValidationError};

use crate::client::Client;
use crate::models::{Asset, AssetId, AssetStatus, Updated};
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

/// An asset as a canonical snapshot under the id it was asked for.
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
    if let Some(iccid) = &asset.iccid {
        snap = snap.with_iccid(iccid.as_str());
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

    /// Sets the status and name. The answer's asset becomes [`Applied::Done`] when it reports a
    /// status; an answer without one (or without a body) is [`Applied::DoneWithoutBody`].
    async fn apply(&self, id: &str, change: &SimChange) -> simcore::Result<Applied> {
        if change.is_empty() {
            return Err(ValidationError::empty_update().into());
        }
        let asset_id = AssetId::parse(id)?;
        if let (Some(from), Some(to)) = (&change.known_state, &change.state) {
            self.lifecycle().check(from, to)?;
        }
        let mut request = UpdateAsset::new(asset_id);
        request.status = change.state.as_ref().map(target_status).transpose()?;
        request.name = change.display_name.clone();
        Ok(match self.send_update(&request).await? {
            Updated::Asset(asset) if asset.status.is_some() => Applied::Done(snapshot(id, &asset)),
            Updated::Asset(_) | Updated::Other(_) | Updated::NoBody => Applied::DoneWithoutBody,
        })
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
        );
        let s = snapshot("SN1", &Asset::default());
        assert_eq!(s.state, SimState::Unknown("not reported".into()));
        assert_eq!(s.native_status, None);
    }
}
