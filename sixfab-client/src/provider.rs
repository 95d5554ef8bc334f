//! The Sixfab asset lifecycle, and its canonical view.

use simcore::{Lifecycle, SimState};

use crate::models::AssetStatus;

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
}
