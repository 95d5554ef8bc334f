//! The Super SIM lifecycle, and its canonical view.

use simcore::{Lifecycle, SimState};

use crate::models::Status;

/// Every status change Twilio documents for a Super SIM: a SIM never returns to `new`; `ready`
/// can be set only from `new`; `active` and `inactive` alternate. Nothing is documented from
/// `scheduled` (a change is in flight): a known `scheduled` SIM is refused any change.
pub static TRANSITIONS: &[(Status, Status)] = &[
    (Status::New, Status::Ready),
    (Status::New, Status::Active),
    (Status::New, Status::Inactive),
    (Status::Ready, Status::Active),
    (Status::Ready, Status::Inactive),
    (Status::Active, Status::Inactive),
    (Status::Inactive, Status::Active),
];

/// The Super SIM lifecycle over Twilio's own statuses.
pub static LIFECYCLE: Lifecycle<Status> = Lifecycle::table(crate::PROVIDER, TRANSITIONS);

/// Twilio's status in canonical terms.
pub fn canonical(status: &Status) -> SimState {
    match status {
        Status::New => SimState::New,
        Status::Ready => SimState::Ready,
        Status::Active => SimState::Active,
        Status::Inactive => SimState::Inactive,
        Status::Scheduled => SimState::Pending,
        Status::Unknown(s) => SimState::Unknown(s.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use simcore::state::assert_lifecycle_exact;

    #[test]
    fn every_documented_pair_and_nothing_else() {
        use Status::*;
        let documented = [
            (New, Ready),
            (New, Active),
            (New, Inactive),
            (Ready, Active),
            (Ready, Inactive),
            (Active, Inactive),
            (Inactive, Active),
        ];
        let mut all = Status::KNOWN.to_vec();
        all.push(Status::Unknown("suspended".into()));
        assert_lifecycle_exact(&LIFECYCLE, &all, &documented);
    }

    #[test]
    fn never_back_to_new() {
        for s in Status::KNOWN {
            assert!(!LIFECYCLE.allows(s, &Status::New), "{s} -> new");
        }
        let e = LIFECYCLE
            .check(&Status::Active, &Status::Ready)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "twilio: a SIM in state active cannot move to ready (allowed: inactive)"
        );
    }

    #[test]
    fn canonical_view_keeps_the_table() {
        let c = LIFECYCLE.map(canonical);
        assert!(c.allows(&SimState::New, &SimState::Ready));
        assert!(c.allows(&SimState::Inactive, &SimState::Active));
        assert!(!c.allows(&SimState::Active, &SimState::New));
        assert_eq!(canonical(&Status::Scheduled), SimState::Pending);
    }
}
