//! The EdgeIQ SIM status: an open carrier string, and its canonical view.

use simcore::{CarrierStatus, Lifecycle, SimState};

/// EdgeIQ's status is free carrier text (at most 30 characters, checked by
/// [`CarrierStatus`]): there is no transition table, every value may follow every other.
pub static LIFECYCLE: Lifecycle<CarrierStatus> = Lifecycle::open(crate::PROVIDER);

/// The common carrier values in canonical terms (case-insensitive); others are `Unknown`.
///
/// `inactive` and `suspended` are both [`SimState::Inactive`]; `deactivated` and `retired` are
/// both [`SimState::Retired`]. The snapshot keeps the carrier's own word.
pub fn canonical(status: &str) -> SimState {
    match status.to_ascii_lowercase().as_str() {
        "active" => SimState::Active,
        "inactive" | "suspended" => SimState::Inactive,
        "deactivated" | "retired" => SimState::Retired,
        _ => SimState::Unknown(status.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn open_lifecycle() {
        let a = CarrierStatus::parse("active").unwrap();
        let b = CarrierStatus::parse("TEST READY").unwrap();
        assert!(LIFECYCLE.is_open());
        assert!(LIFECYCLE.allows(&a, &b) && LIFECYCLE.allows(&b, &a));
        assert!(CarrierStatus::parse(&"x".repeat(31)).is_err());
    }

    #[test]
    fn canonical_table() {
        for (word, state) in [
            ("active", SimState::Active),
            ("ACTIVE", SimState::Active),
            ("inactive", SimState::Inactive),
            ("suspended", SimState::Inactive),
            ("deactivated", SimState::Retired),
            ("retired", SimState::Retired),
            ("test ready", SimState::Unknown("test ready".into())),
        ] {
            assert_eq!(canonical(word), state, "{word}");
        }
    }
}
