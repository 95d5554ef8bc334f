//! The emnify SIM lifecycle, and its canonical view.

use simcore::{Lifecycle, SimState};

use crate::models::SimStatus;

/// Every status change emnify documents for an update: Issued to Activated or Factory Test,
/// Factory Test to Activated, Activated and Suspended both ways. Deleted is reached with
/// `DELETE`, never with an update.
pub static TRANSITIONS: &[(SimStatus, SimStatus)] = &[
    (SimStatus::Issued, SimStatus::Activated),
    (SimStatus::Issued, SimStatus::FactoryTest),
    (SimStatus::FactoryTest, SimStatus::Activated),
    (SimStatus::Activated, SimStatus::Suspended),
    (SimStatus::Suspended, SimStatus::Activated),
];

/// The emnify lifecycle over emnify's own statuses.
pub static LIFECYCLE: Lifecycle<SimStatus> = Lifecycle::table(crate::PROVIDER, TRANSITIONS);

/// emnify's status in canonical terms.
pub fn canonical(status: &SimStatus) -> SimState {
    match status {
        SimStatus::Issued => SimState::New,
        SimStatus::FactoryTest => SimState::Ready,
        SimStatus::Activated => SimState::Active,
        SimStatus::Suspended => SimState::Inactive,
        SimStatus::Deleted => SimState::Deleted,
        SimStatus::Unknown(id) => SimState::Unknown(format!("status {id}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simcore::state::assert_lifecycle_exact;

    #[test]
    fn every_documented_pair_and_nothing_else() {
        use SimStatus::*;
        let documented = [
            (Issued, Activated),
            (Issued, FactoryTest),
            (FactoryTest, Activated),
            (Activated, Suspended),
            (Suspended, Activated),
        ];
        let mut all = SimStatus::KNOWN.to_vec();
        all.push(Unknown(9));
        assert_lifecycle_exact(&LIFECYCLE, &all, &documented);
        for s in SimStatus::KNOWN {
            assert!(!LIFECYCLE.allows(s, &Deleted), "{s} -> Deleted");
        }
    }

    #[test]
    fn ids_round_trip() {
        for s in SimStatus::KNOWN {
            assert_eq!(&SimStatus::from_id(s.id()), s);
        }
        assert_eq!(SimStatus::from_id(7), SimStatus::Unknown(7));
        assert_eq!(canonical(&SimStatus::Suspended), SimState::Inactive);
    }
}
