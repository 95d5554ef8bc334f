//! Lifecycle tables checked pair by pair.

use std::fmt;

use simcore::Lifecycle;

/// Checks a lifecycle against the complete list of documented allowed pairs: every
/// listed pair is allowed, every other pair over `all` is refused with an error naming it.
///
/// Provider crates call this from their table tests.
pub fn assert_lifecycle_exact<S>(lifecycle: &Lifecycle<S>, all: &[S], allowed: &[(S, S)])
where
    S: Clone + PartialEq + fmt::Display + fmt::Debug + 'static,
{
    for from in all {
        for to in all {
            let documented = allowed.iter().any(|(f, t)| f == from && t == to);
            assert_eq!(
                lifecycle.allows(from, to),
                documented,
                "{}: {from} -> {to} should be {}",
                lifecycle.provider(),
                if documented { "allowed" } else { "refused" }
            );
            match lifecycle.check(from, to) {
                Ok(()) => assert!(documented),
                Err(e) => {
                    assert!(!documented);
                    assert_eq!(e.from, from.to_string());
                    assert_eq!(e.to, to.to_string());
                    let expected: Vec<String> = allowed
                        .iter()
                        .filter(|(f, _)| f == from)
                        .map(|(_, t)| t.to_string())
                        .collect();
                    assert_eq!(e.allowed, expected, "targets of {from}");
                }
            }
        }
    }
}
