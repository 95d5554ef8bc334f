//! A lifecycle given as a table allows exactly its pairs (checked with the test kit's
//! `assert_lifecycle_exact`, as the provider crates check theirs).

use simcore::{Lifecycle, SimState};
use testkit::assert_lifecycle_exact;

static PAIRS: &[(SimState, SimState)] = &[
    (SimState::New, SimState::Active),
    (SimState::Active, SimState::Inactive),
    (SimState::Inactive, SimState::Active),
];

#[test]
fn table_lifecycle() {
    let l = Lifecycle::table("demo", PAIRS);
    let all = [
        SimState::New,
        SimState::Active,
        SimState::Inactive,
        SimState::Deleted,
    ];
    assert_lifecycle_exact(&l, &all, PAIRS);
    assert_eq!(l.targets(&SimState::New), Some(vec![SimState::Active]));
    assert_eq!(l.targets(&SimState::Deleted), Some(vec![]));
    let e = l.check(&SimState::Deleted, &SimState::Active).unwrap_err();
    assert_eq!(
        e.to_string(),
        "demo: a SIM in state deleted cannot move to active (allowed: none)"
    );
}
